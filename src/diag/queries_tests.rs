use super::*;
use crate::diag::testdata::{self, NOW};
use crate::facts::StatementsFacts;

const APP_OID: u32 = 16_384;

fn entry(queryid: i64, calls: i64, exec_ms: f64, rows: i64, hit: i64, read: i64) -> StatementEntry {
    StatementEntry {
        key: StatementKey {
            userid: 10,
            dbid: APP_OID,
            queryid,
            toplevel: Some(true),
        },
        counters: StatementCounters {
            calls,
            exec_ms,
            rows,
            shared_blks_hit: hit,
            shared_blks_read: read,
            ..StatementCounters::default()
        },
        stats_since_epoch: None,
    }
}

/// The test snapshot with `entries` in pg_stat_statements 1.10 and app's OID set.
fn snap(entries: Vec<StatementEntry>) -> StatsSnapshot {
    let mut s = testdata::snapshot();
    for d in &mut s.databases {
        if d.name == "app" {
            d.datid = Some(APP_OID);
        }
    }
    s.statements = Some(StatementsFacts {
        installed_version: Some("1.10".into()),
        default_version: Some("1.10".into()),
        schema: Some("public".into()),
        track_io_timing: true,
        dealloc: Some(0),
        stats_reset_epoch: Some(NOW - 86_400.0),
        entries,
        ..StatementsFacts::default()
    });
    s
}

/// A hostile scan (few calls, most reads) and a hot lookup (many calls, all hits).
fn workload() -> Vec<StatementEntry> {
    vec![
        entry(1, 3, 900.0, 3, 100, 90_000),
        entry(2, 5_000, 150.0, 5_000, 15_000, 10),
        entry(3, 200, 40.0, 200_000, 2_000, 9_000),
    ]
}

fn texts() -> HashMap<StatementKey, String> {
    let m = lifetime(&snap(workload())).unwrap();
    let t = |id: i64, q: &str| {
        let key = m.entries.iter().find(|e| e.key.queryid == id).unwrap().key;
        (key, q.to_string())
    };
    HashMap::from([
        t(1, "select count(*) from big"),
        t(2, "select v from hot where id = $1"),
        t(3, "select * from wide"),
    ])
}

#[test]
fn the_hostile_scan_tops_by_reads_and_the_hot_lookup_by_calls() {
    let m = lifetime(&snap(workload())).unwrap();
    let r = analyse(&m, Sort::Read, 20, &texts(), &Churn::new());
    let ids: Vec<i64> = r.queries.iter().map(|q| q.queryid).collect();
    assert_eq!(ids, vec![1, 3, 2]);
    let top = &r.queries[0];
    assert_eq!(top.shared_blks_read, 90_000);
    let share = top.read_share.unwrap();
    assert!((share - 90_000.0 / 99_010.0).abs() < 1e-9, "{share}");
    assert!((top.hit_ratio.unwrap() - 100.0 / 90_100.0).abs() < 1e-9);
    assert!((top.mean_ms - 300.0).abs() < 1e-9);
    assert_eq!(top.read_ms, Some(0.0), "track_io_timing on: a read time");
    let by_calls = analyse(&m, Sort::Calls, 1, &texts(), &Churn::new());
    assert_eq!(by_calls.queries.len(), 1);
    assert_eq!(by_calls.queries[0].queryid, 2);
    let by_time = analyse(&m, Sort::Time, 0, &texts(), &Churn::new());
    assert_eq!(by_time.queries[0].queryid, 1);
    assert_eq!(by_time.queries.len(), 3, "limit 0 lists all");
}

#[test]
fn the_hot_lookup_is_the_candidate_and_the_wide_and_rare_ones_are_not() {
    let m = lifetime(&snap(workload())).unwrap();
    let mut churn = Churn::new();
    churn.insert(("public".into(), "hot".into()), (10, 1_000));
    assert_eq!(tables_needed(&m), vec!["hot".to_string()]);
    let r = analyse(&m, Sort::Read, 20, &texts(), &churn);
    assert_eq!(r.candidates.len(), 1, "{:#?}", r.candidates);
    let c = &r.candidates[0];
    assert_eq!(c.queryid, 2);
    assert_eq!(c.tables[0].name, "public.hot");
    assert!((c.changes_per_call.unwrap() - 10.0 / 5_000.0).abs() < 1e-12);
    assert!(c.why.contains("5,000 calls"), "{}", c.why);
    // A table that changes on every call makes the same statement rank lower.
    churn.insert(("public".into(), "hot".into()), (50_000, 1_000));
    let busy = analyse(&m, Sort::Read, 20, &texts(), &churn);
    assert!(busy.candidates[0].score < c.score / 5.0);
}

fn tables_needed(m: &Measured) -> Vec<String> {
    candidates::tables_to_resolve(m, &texts(), 20)
}

#[test]
fn a_writing_statement_is_never_a_candidate() {
    let mut w = workload();
    w[1].counters.shared_blks_dirtied = 1;
    let m = lifetime(&snap(w)).unwrap();
    assert!(
        analyse(&m, Sort::Read, 20, &texts(), &Churn::new())
            .candidates
            .is_empty()
    );
}

#[test]
fn an_interval_subtracts_by_key_and_says_evictions_and_returns() {
    let start = snap(workload());
    let mut end_entries = workload();
    end_entries[0].counters.calls += 1;
    end_entries[0].counters.shared_blks_read += 30_000;
    end_entries[0].counters.exec_ms += 300.0;
    // Entry 3 went backwards: it was evicted and came back.
    end_entries[2].counters.calls = 2;
    end_entries[2].counters.shared_blks_read = 50;
    end_entries[2].counters.rows = 2_000;
    // A new statement.
    end_entries.push(entry(4, 7, 7.0, 7, 0, 5));
    let mut end = snap(end_entries);
    end.server.now_epoch = NOW + 60.0;
    end.statements.as_mut().unwrap().dealloc = Some(4);
    let m = between(&start, &end, WindowKind::Interval).unwrap();
    let by_id = |id: i64| {
        m.entries
            .iter()
            .find(|e| e.key.queryid == id)
            .map(|e| e.counters)
    };
    assert_eq!(by_id(1).unwrap().shared_blks_read, 30_000);
    assert_eq!(by_id(1).unwrap().calls, 1);
    assert!(by_id(2).is_none(), "no calls in the window: left out");
    assert_eq!(by_id(3).unwrap().shared_blks_read, 50);
    assert_eq!(by_id(4).unwrap().calls, 7);
    assert_eq!(m.window.start_epoch, Some(NOW));
    assert!(
        m.notes
            .iter()
            .any(|n| n.contains("4 pg_stat_statements entries were evicted"))
    );
    assert!(
        m.notes
            .iter()
            .any(|n| n.starts_with("1 statements were evicted or reset"))
    );
}

#[test]
fn a_reset_in_the_window_is_said_and_counters_restart() {
    let start = snap(workload());
    let mut end = snap(vec![entry(1, 1, 10.0, 1, 0, 7)]);
    end.statements.as_mut().unwrap().stats_reset_epoch = Some(NOW + 10.0);
    let m = between(&start, &end, WindowKind::Since).unwrap();
    assert_eq!(m.entries[0].counters.shared_blks_read, 7);
    assert!(
        m.notes
            .iter()
            .any(|n| n.contains("was reset during the window"))
    );
}

#[test]
fn another_server_or_a_snapshot_without_statements_is_refused() {
    let mut start = snap(workload());
    start.server.system_identifier = Some("1".into());
    let mut end = snap(workload());
    end.server.system_identifier = Some("2".into());
    assert!(
        between(&start, &end, WindowKind::Since)
            .unwrap_err()
            .contains("another server")
    );
    let mut old = snap(workload());
    old.statements = None;
    let err = between(&old, &snap(workload()), WindowKind::Since).unwrap_err();
    assert!(err.contains("no pg_stat_statements counters"), "{err}");
}

#[test]
fn every_unreadable_state_names_its_exact_fix() {
    let with = |status, installed: Option<&str>| StatementsFacts {
        status,
        installed_version: installed.map(Into::into),
        default_version: Some("1.10".into()),
        ..StatementsFacts::default()
    };
    let note = |f: &StatementsFacts| status_note(f).unwrap();
    assert!(
        note(&with(StatementsStatus::NotCreated, None))
            .contains("CREATE EXTENSION pg_stat_statements;")
    );
    let preload = note(&with(StatementsStatus::NotPreloaded, None));
    assert!(
        preload.contains("shared_preload_libraries = 'pg_stat_statements'"),
        "{preload}"
    );
    assert!(
        preload.contains("restart") && preload.contains("CREATE EXTENSION"),
        "{preload}"
    );
    assert!(
        !note(&with(StatementsStatus::NotPreloaded, Some("1.10"))).contains("CREATE EXTENSION")
    );
    assert!(
        note(&with(StatementsStatus::Outdated, Some("1.7")))
            .contains("ALTER EXTENSION pg_stat_statements UPDATE;")
    );
    assert!(note(&with(StatementsStatus::NotInstalled, None)).contains("contrib"));
    assert_eq!(status_note(&with(StatementsStatus::Ok, Some("1.10"))), None);

    let mut s = snap(workload());
    s.server.user = "Mon Role".into();
    let f = s.statements.as_mut().unwrap();
    f.hidden_entries = 12;
    f.track_io_timing = false;
    f.installed_version = Some("1.9".into());
    let m = lifetime(&s).unwrap();
    assert!(
        m.notes
            .iter()
            .any(|n| n.contains("GRANT pg_read_all_stats TO \"Mon Role\";")),
        "{:?}",
        m.notes
    );
    assert!(
        m.notes
            .iter()
            .any(|n| n.contains("ALTER EXTENSION pg_stat_statements UPDATE"))
    );
    assert!(m.notes.iter().any(|n| n.contains("track_io_timing")));
    let r = analyse(&m, Sort::Read, 5, &texts(), &Churn::new());
    assert_eq!(
        r.queries[0].read_ms, None,
        "no read time without track_io_timing"
    );
}

#[test]
fn spilling_statements_are_named_for_the_temp_finding() {
    let mut w = workload();
    w[2].counters.temp_blks_written = 8_000;
    w[0].counters.temp_blks_written = 2_000;
    let m = lifetime(&snap(w)).unwrap();
    let r = analyse(&m, Sort::Read, 5, &texts(), &Churn::new());
    let text = spilling_text(&r).unwrap();
    assert!(
        text.starts_with("top spilling statements (pg_stat_statements): queryid 3 (8,000 temp blocks written, 80.00% of all): select * from wide; queryid 1"),
        "{text}"
    );
    let quiet = analyse(
        &lifetime(&snap(workload())).unwrap(),
        Sort::Read,
        5,
        &texts(),
        &Churn::new(),
    );
    assert_eq!(spilling_text(&quiet), None);
}

#[test]
fn texts_are_asked_for_the_shown_rows_the_pool_and_the_spillers_only() {
    let mut w: Vec<StatementEntry> = (100..200).map(|id| entry(id, 1, 1.0, 1, 1, id)).collect();
    w.push(entry(7, 500, 5.0, 500, 10, 0));
    w[0].counters.temp_blks_written = 1;
    let m = lifetime(&snap(w)).unwrap();
    let keys = text_keys(&m, Sort::Read, 5);
    let ids: Vec<i64> = keys.iter().map(|k| k.queryid).collect();
    assert_eq!(ids, vec![199, 198, 197, 196, 195, 7, 100]);
}

#[test]
fn long_texts_become_one_short_line() {
    assert_eq!(one_line_text("select  *\n  from t", 80), "select * from t");
    assert_eq!(one_line_text("abcdef", 4), "abc…");
}
