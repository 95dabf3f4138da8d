//! Unit tests of the watch rates: intervals, breaks, the sliding window, sorting and changes.

use super::*;
use crate::diag::testdata;

/// A sample at `now` with one database `app` (OID 1) and the given tables (OID, name,
/// hits, reads).
pub(crate) fn sample(now: f64, db: (i64, i64), tables: &[(u32, &str, i64, i64)]) -> StatsSnapshot {
    let mut snap = testdata::snapshot();
    snap.server.now_epoch = now;
    snap.server.start_epoch = 10.0;
    snap.server.database = "app".to_string();
    let mut app = testdata::database("app", db.0, db.1, 0.0, None);
    app.datid = Some(1);
    app.stats_reset_epoch = Some(5.0);
    let mut template = testdata::database("template1", 7, 7, 0.0, None);
    template.datid = Some(2);
    snap.databases = vec![app, template];
    snap.tables = tables
        .iter()
        .map(|&(oid, name, hit, read)| testdata::table("app", oid, "public", name, hit, read))
        .collect();
    snap.indexes = Vec::new();
    snap
}

fn row<'a>(rows: &'a [Row], name: &str) -> &'a Row {
    rows.iter().find(|r| r.name == name).expect(name)
}

#[test]
fn rates_are_the_deltas_over_the_interval() {
    let a = sample(100.0, (1_000, 100), &[(10, "t", 500, 50)]);
    let b = sample(102.0, (1_600, 140), &[(10, "t", 900, 70)]);
    let mut h = History::new(60.0);
    h.push(step(&a, &b).unwrap());
    let rows = rows(&h);
    let t = row(&rows, "t");
    assert_eq!((t.hit_blocks, t.read_blocks), (400, 20));
    assert_eq!((t.hits_per_second, t.reads_per_second), (200.0, 10.0));
    assert_eq!(t.ratio, Some(400.0 / 420.0));
    let app = row(&rows, "app");
    assert_eq!((app.hit_blocks, app.read_blocks), (600, 40));
    assert_eq!(app.reads_per_second, 20.0);
    // Templates hold only connection-time catalog reads: not shown.
    assert!(rows.iter().all(|r| r.name != "template1"));
}

#[test]
fn a_reset_is_a_break_never_a_negative_rate() {
    let a = sample(100.0, (1_000, 100), &[(10, "t", 500, 50)]);
    let mut b = sample(102.0, (10, 1), &[(10, "t", 5, 0)]);
    b.databases[0].stats_reset_epoch = Some(101.0);
    assert_eq!(
        step(&a, &b),
        Err(Unusable::Reset {
            database: "app".to_string()
        })
    );
    // A single table's counters going backwards without a database stamp is still caught.
    let c = sample(102.0, (1_100, 110), &[(10, "t", 5, 0)]);
    assert!(matches!(step(&a, &c), Err(Unusable::Backwards { .. })));
}

#[test]
fn a_restart_is_a_break() {
    let a = sample(100.0, (1_000, 100), &[]);
    let mut b = sample(102.0, (1_100, 100), &[]);
    b.server.start_epoch = 101.0;
    assert_eq!(step(&a, &b), Err(Unusable::Restart));
}

#[test]
fn the_window_sums_the_kept_intervals_and_forgets_old_ones() {
    let mut h = History::new(4.0);
    let samples: Vec<StatsSnapshot> = (0..5)
        .map(|i| {
            let i = i64::from(i);
            sample(
                100.0 + 2.0 * i as f64,
                (0, 0),
                &[(10, "t", 100 * i, 10 * i * i)],
            )
        })
        .collect();
    for pair in samples.windows(2) {
        h.push(step(&pair[0], &pair[1]).unwrap());
    }
    // 4 intervals of 2 s pushed, a 4 s window keeps the last 2 (reads 5·10 and 7·10).
    assert_eq!(h.covered_seconds(), 4.0);
    let rows = rows(&h);
    let t = row(&rows, "t");
    assert_eq!((t.window_hit_blocks, t.window_read_blocks), (200, 120));
    assert_eq!(t.reads_history, vec![25.0, 35.0]);
    assert_eq!(t.read_blocks, 70);
    h.clear();
    assert!(super::rows(&h).is_empty());
}

#[test]
fn jitter_does_not_drop_an_interval_too_many() {
    let mut h = History::new(4.0);
    let s = [100.0, 102.01, 104.02, 106.03];
    for pair in s.windows(2) {
        let a = sample(pair[0], (0, 0), &[]);
        let b = sample(pair[1], (0, 0), &[]);
        h.push(step(&a, &b).unwrap());
    }
    assert!(
        (h.covered_seconds() - 4.02).abs() < 1e-9,
        "{}",
        h.covered_seconds()
    );
}

#[test]
fn a_new_table_has_zeros_before_it_existed() {
    let a = sample(100.0, (0, 0), &[]);
    let b = sample(101.0, (0, 0), &[]);
    let c = sample(102.0, (0, 0), &[(11, "new", 10, 4)]);
    let mut h = History::new(60.0);
    h.push(step(&a, &b).unwrap());
    h.push(step(&b, &c).unwrap());
    assert_eq!(row(&rows(&h), "new").reads_history, vec![0.0, 4.0]);
}

fn ranked(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|r| r.name.as_str()).collect()
}

#[test]
fn sort_cycles_and_orders() {
    let a = sample(
        100.0,
        (0, 0),
        &[(1, "a", 0, 0), (2, "b", 0, 0), (3, "c", 0, 0)],
    );
    let b = sample(
        101.0,
        (0, 0),
        &[
            (1, "a", 9_000, 1_000),
            (2, "b", 100, 5_000),
            (3, "c", 50_000, 10),
        ],
    );
    let mut h = History::new(60.0);
    h.push(step(&a, &b).unwrap());
    let mut rows: Vec<Row> = rows(&h)
        .into_iter()
        .filter(|r| r.scope == Scope::Tables)
        .collect();
    sort(&mut rows, SortKey::Reads);
    assert_eq!(ranked(&rows), ["b", "a", "c"]);
    sort(&mut rows, SortKey::Hits);
    assert_eq!(ranked(&rows), ["c", "a", "b"]);
    sort(&mut rows, SortKey::Ratio);
    assert_eq!(ranked(&rows), ["b", "a", "c"]);
    sort(&mut rows, SortKey::Name);
    assert_eq!(ranked(&rows), ["a", "b", "c"]);
    let mut k = SortKey::default();
    for _ in 0..4 {
        k = k.next();
    }
    assert_eq!(k, SortKey::Reads);
}

#[test]
fn changes_report_threshold_crossings_only() {
    let a = sample(100.0, (0, 0), &[(1, "t", 0, 0), (2, "u", 0, 0)]);
    let b = sample(101.0, (0, 0), &[(1, "t", 10_000, 0), (2, "u", 10, 0)]);
    let c = sample(102.0, (0, 0), &[(1, "t", 10_000, 5_000), (2, "u", 20, 0)]);
    let mut h = History::new(60.0);
    h.push(step(&a, &b).unwrap());
    let first = rows(&h);
    // Quiet to ok is not news.
    assert!(changes(&[], &first).is_empty());
    h.push(step(&b, &c).unwrap());
    let second = rows(&h);
    let found = changes(&first, &second);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].label, "public.t");
    assert_eq!((found[0].from, found[0].to), (Level::Ok, Level::Critical));
    assert_eq!(found[0].window_ratio, Some(10_000.0 / 15_000.0));
}

#[test]
fn idle_tables_are_not_kept_in_older_intervals_but_still_listed() {
    let a = sample(100.0, (0, 0), &[(1, "busy", 0, 0), (2, "idle", 0, 0)]);
    let b = sample(101.0, (5, 5), &[(1, "busy", 10, 1), (2, "idle", 0, 0)]);
    let c = sample(102.0, (9, 9), &[(1, "busy", 20, 2), (2, "idle", 0, 0)]);
    let mut h = History::new(60.0);
    h.push(step(&a, &b).unwrap());
    h.push(step(&b, &c).unwrap());
    assert_eq!(h.steps[0].counters.len(), 2, "the database and busy");
    let rows = rows(&h);
    assert_eq!(row(&rows, "idle").reads_history, vec![0.0, 0.0]);
    assert_eq!(row(&rows, "busy").window_hit_blocks, 20);
    assert_eq!(row(&rows, "app").window_read_blocks, 9);
}
