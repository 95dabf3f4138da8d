//! `queries` (and `report`'s queries section) through the real binary against throwaway
//! clusters with pg_stat_statements preloaded by the harness: a cache-hostile sequential
//! scan of a table several times shared_buffers must top the list by blocks read, a hot
//! lookup called many times must top the cache candidates, the sessions must only read,
//! a `pg_monitor` role must see it all, and every missing-extension path must print its
//! exact fix. The test creates the extension as superuser; the tool never does.

mod support;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::{Cluster, ClusterOptions};

/// shared_buffers of the workload cluster; `big` is several times larger.
const SHARED_BUFFERS: &str = "16MB";
/// Calls of the hot lookup: well above the candidates' floor of 100.
const HOT_CALLS: usize = 500;

fn conn(c: &Cluster, db: &str, user: &str) -> Vec<String> {
    c.conn_args(db, user)
}

fn run(home: &Path, args: &[&str], conn: &[String]) -> Output {
    support::tool(home).args(args).args(conn).output().unwrap()
}

fn json_ok(out: &Output, what: &str) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_lowercase()
}

/// The workload: `big` (about 60 MB, scanned sequentially three times: the hostile
/// query), `hot` (100 rows, looked up [`HOT_CALLS`] times), and a sort that spills past a
/// tiny work_mem, six times.
fn workload(c: &Cluster) {
    c.psql("postgres", "create extension pg_stat_statements");
    c.psql(
        "postgres",
        "create table big as select g as id, repeat('x', 200) as pad \
         from generate_series(1, 250000) g;
         create table hot (id int primary key, v text);
         insert into hot select g, md5(g::text) from generate_series(1, 100) g;",
    );
    for _ in 0..3 {
        c.psql("postgres", "select count(*) from big");
    }
    let lookups: String = (0..HOT_CALLS)
        .map(|i| format!("select v from hot where id = {};", i % 100 + 1))
        .collect();
    c.psql("postgres", &lookups);
    // Six spills: the temp-file finding needs 5 files per hour (it divides by an hour at
    // least).
    let spills =
        "select count(distinct pad || id) from (select * from big limit 20000) s;".repeat(6);
    c.psql("postgres", &format!("set work_mem = '64kB'; {spills}"));
}

fn workload_cluster() -> Option<Cluster> {
    let bin = support::require_pg()?;
    let mut c = Cluster::init(ClusterOptions::new(bin));
    c.conf_append(&format!(
        "shared_buffers = {SHARED_BUFFERS}\n\
         autovacuum = off\n\
         track_io_timing = on\n\
         log_statement = 'all'\n\
         log_line_prefix = '%m [%p] app=%a db=%d '"
    ));
    c.start();
    workload(&c);
    Some(c)
}

#[test]
fn the_hostile_scan_tops_reads_the_hot_lookup_tops_candidates_and_sessions_only_read() {
    let Some(c) = workload_cluster() else { return };
    let home = tempfile::tempdir().unwrap();
    let su = conn(&c, "postgres", "postgres");

    let out = run(home.path(), &["queries", "--format", "json"], &su);
    let q = json_ok(&out, "queries");
    let top = &q["queries"][0];
    assert!(text(&top["query"]).contains("from big"), "{q:#}");
    assert_eq!(top["calls"], 3, "{top:#}");
    // The scan read more blocks than shared_buffers holds: 16MB is 2,048 blocks.
    assert!(
        top["shared_blks_read"].as_i64().unwrap() > 2_048 * 3,
        "{top:#}"
    );
    assert!(top["read_share"].as_f64().unwrap() > 0.5, "{top:#}");
    assert!(top["read_ms"].is_number(), "track_io_timing is on: {top:#}");
    let cand = &q["candidates"][0];
    assert!(text(&cand["query"]).contains("from hot"), "{q:#}");
    assert_eq!(cand["calls"], HOT_CALLS, "{cand:#}");
    assert_eq!(cand["tables"][0]["name"], "public.hot", "{cand:#}");
    // 100 rows inserted into hot over 500 calls.
    let churn = cand["changes_per_call"].as_f64().unwrap();
    assert!((churn - 100.0 / HOT_CALLS as f64).abs() < 1e-9, "{cand:#}");
    assert!(
        q["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| !text(&c["query"]).contains("pg_")),
        "the tool's own catalog reads are never candidates: {q:#}"
    );

    // --sort calls puts the lookup first; --limit cuts.
    let out = run(
        home.path(),
        &[
            "queries", "--sort", "calls", "--limit", "1", "--format", "json",
        ],
        &su,
    );
    let by_calls = json_ok(&out, "queries --sort calls");
    assert_eq!(by_calls["queries"].as_array().unwrap().len(), 1);
    assert!(text(&by_calls["queries"][0]["query"]).contains("from hot"));

    // The table form names both, and says the candidates are a heuristic.
    let out = run(home.path(), &["queries"], &su);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("Cache candidates") && table.contains("heuristic"),
        "{table}"
    );
    assert!(table.contains("EXPLAIN (ANALYZE, BUFFERS)"), "{table}");

    // report: a queries section, and the temp finding names the spilling sort.
    let out = run(home.path(), &["report", "--format", "json"], &su);
    let r = json_ok(&out, "report");
    assert!(
        text(&r["queries"]["queries"][0]["query"]).contains("from big"),
        "{r:#}"
    );
    let spill = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "temp_files")
        .unwrap_or_else(|| panic!("no temp_files finding: {:#}", r["findings"]));
    let msg = text(&spill["message"]);
    assert!(
        msg.contains("top spilling statements") && msg.contains("count(distinct"),
        "{msg}"
    );

    // Everything above only read.
    let ours = support::assert_read_only_sessions(&c.server_log(), 4);
    // Each session called the extension's function once: the counters pass brings the
    // texts too (a second call, for the texts of the rows shown, costs as much again).
    let mut pids: Vec<u32> = ours.iter().map(|s| s.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    for pid in pids {
        let calls: Vec<&str> = ours
            .iter()
            .filter(|s| s.pid == pid && s.sql.contains("pg_stat_statements("))
            .map(|s| s.sql.as_str())
            .collect();
        assert_eq!(calls.len(), 1, "session {pid}: {calls:#?}");
    }

    // Texts are cut on the server by characters: one longer than the cut (600 two-byte
    // characters in a comment, which the extension keeps) arrives as exactly the first
    // TEXT_CHARS characters; a short one arrives whole.
    let long = "é".repeat(600);
    let short = "é".repeat(200); // 200 characters, 400 bytes: under the cut either way
    c.psql("postgres", &format!("select 1 as long_probe /* {long} */"));
    // Another shape: the extension ignores aliases when it tells statements apart.
    c.psql(
        "postgres",
        &format!("select 1, 2 as short_probe /* {short} */"),
    );
    let out = run(
        home.path(),
        &[
            "queries", "--sort", "calls", "--limit", "0", "--format", "json",
        ],
        &su,
    );
    let all = json_ok(&out, "queries --limit 0");
    let text_of = |probe: &str| -> String {
        all["queries"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|q| q["query"].as_str())
            .find(|t| t.contains(probe))
            .unwrap_or_else(|| panic!("no {probe}: {all:#}"))
            .to_string()
    };
    let cut = text_of("long_probe");
    let limit = usize::try_from(pgcache_tune::diag::queries::TEXT_CHARS).unwrap();
    assert_eq!(cut.chars().count(), limit, "{cut}");
    assert!(cut.ends_with('é'), "cut by characters, not bytes: {cut}");
    assert_eq!(
        text_of("short_probe"),
        format!("select $1, $2 as short_probe /* {short} */")
    );

    // The version contrib ships, which the tool knows without asking
    // pg_available_extensions, is what that view says on this major.
    let num: u32 = c
        .psql("postgres", "show server_version_num")
        .parse()
        .unwrap();
    let available = c.psql(
        "postgres",
        "select default_version from pg_available_extensions where name = 'pg_stat_statements'",
    );
    assert_eq!(
        pgcache_tune::collect::statements::shipped_version(num),
        Some(available.as_str()),
        "server_version_num {num}"
    );
}

#[test]
fn since_a_snapshot_and_an_interval_count_only_what_ran_inside() {
    let Some(c) = workload_cluster() else { return };
    let home = tempfile::tempdir().unwrap();
    let su = conn(&c, "postgres", "postgres");
    let snap = home.path().join("before.json");
    let out = run(
        home.path(),
        &["snapshot", "-o", snap.to_str().unwrap()],
        &su,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.psql("postgres", "select count(*) from big");
    let out = run(
        home.path(),
        &[
            "queries",
            "--since",
            snap.to_str().unwrap(),
            "--format",
            "json",
        ],
        &su,
    );
    let q = json_ok(&out, "queries --since");
    assert_eq!(q["window"]["kind"], "since");
    let big = q["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| text(&r["query"]).contains("count(*) from big"))
        .unwrap_or_else(|| panic!("{q:#}"));
    assert_eq!(big["calls"], 1, "one scan since the snapshot: {big:#}");
    assert!(
        q["queries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !text(&r["query"]).contains("from hot")),
        "the lookups ran before the snapshot: {q:#}"
    );

    // --interval: a scan between the two samples is counted, once.
    let child = support::tool_std(home.path())
        .args(["queries", "--interval", "8s", "--format", "json"])
        .args(&su)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    c.psql("postgres", "select count(*) from big");
    let out = child.wait_with_output().unwrap();
    let q = json_ok(&out, "queries --interval");
    assert_eq!(q["window"]["kind"], "interval");
    let big = q["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| text(&r["query"]).contains("count(*) from big"))
        .unwrap_or_else(|| panic!("{q:#}"));
    assert_eq!(big["calls"], 1, "{big:#}");
    support::assert_read_only_sessions(&c.server_log(), 3);
}

#[test]
fn a_pg_monitor_role_sees_everything_and_a_plain_role_is_told_what_to_grant() {
    let Some(c) = workload_cluster() else { return };
    c.psql(
        "postgres",
        "create role mon login; grant pg_monitor to mon; create role plain login;",
    );
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        &["queries", "--format", "json"],
        &conn(&c, "postgres", "mon"),
    );
    let q = json_ok(&out, "queries as pg_monitor");
    assert!(
        text(&q["queries"][0]["query"]).contains("from big"),
        "{q:#}"
    );
    assert!(
        text(&q["candidates"][0]["query"]).contains("from hot"),
        "{q:#}"
    );

    let out = run(
        home.path(),
        &["queries", "--format", "json"],
        &conn(&c, "postgres", "plain"),
    );
    let q = json_ok(&out, "queries as a plain role");
    let notes = q["notes"].to_string();
    assert!(
        notes.contains("GRANT pg_read_all_stats TO plain;"),
        "{notes}"
    );
    assert!(
        q["queries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !text(&r["query"]).contains("from big")),
        "another role's statements stay hidden: {q:#}"
    );
}

/// Where `pg_stat_statements.max` allows more entries than the counters pass may hold texts
/// for (10,000), the pass reads no text and a second call fetches only the rows shown; the
/// output still names the statements.
#[test]
fn above_the_entry_bound_texts_come_in_a_second_call_for_the_rows_shown() {
    let Some(bin) = support::require_pg() else {
        return;
    };
    let mut c = Cluster::init(ClusterOptions::new(bin));
    c.conf_append(
        "pg_stat_statements.max = 20000\n\
         log_statement = 'all'\n\
         log_line_prefix = '%m [%p] app=%a db=%d '",
    );
    c.start();
    c.psql(
        "postgres",
        "create extension pg_stat_statements;
         create table wide_scan as select g as id from generate_series(1, 50000) g;",
    );
    for _ in 0..3 {
        c.psql("postgres", "select count(*) from wide_scan");
    }
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        &["queries", "--sort", "calls", "--format", "json"],
        &conn(&c, "postgres", "postgres"),
    );
    let q = json_ok(&out, "queries above the entry bound");
    assert!(
        q["queries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| text(&r["query"]).contains("count(*) from wide_scan")),
        "{q:#}"
    );
    let ours = support::assert_read_only_sessions(&c.server_log(), 1);
    let calls: Vec<&str> = ours
        .iter()
        .filter(|s| s.sql.contains("pg_stat_statements("))
        .map(|s| s.sql.as_str())
        .collect();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert!(calls[0].contains("left(query, $1::int4)"), "{}", calls[0]);
    assert!(calls[1].contains("queryid = any($2"), "{}", calls[1]);
}

#[test]
fn a_missing_extension_gives_the_exact_fix() {
    let Some(bin) = support::require_pg() else {
        return;
    };
    let mut c = Cluster::init(ClusterOptions::new(bin));
    c.start();
    let home = tempfile::tempdir().unwrap();
    let su = conn(&c, "postgres", "postgres");

    // Preloaded (the harness does) but not created in this database.
    let out = run(home.path(), &["queries"], &su);
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CREATE EXTENSION pg_stat_statements;"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty());
    // report degrades to a note instead of failing.
    let out = run(home.path(), &["report", "--format", "json"], &su);
    let r = json_ok(&out, "report without the extension");
    assert!(
        r["notes"]
            .to_string()
            .contains("CREATE EXTENSION pg_stat_statements;")
    );
    assert!(r.get("queries").is_none());

    // Created but not loaded: the preload line and the restart.
    c.psql("postgres", "create extension pg_stat_statements");
    c.conf_append("shared_preload_libraries = ''");
    c.restart();
    let out = run(home.path(), &["queries"], &su);
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shared_preload_libraries = 'pg_stat_statements'") && err.contains("restart"),
        "{err}"
    );
    assert!(!err.contains("CREATE EXTENSION"), "already created: {err}");
}
