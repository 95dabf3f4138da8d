//! `queries` without a server: statement counters from a statistics file (`--stats-from`,
//! the fixture seam), windows against a snapshot, and bad input (one line on stderr, the
//! documented exit code, nothing on stdout).

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stats/pg15.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn entry(queryid: i64, calls: i64, exec_ms: f64, read: i64, temp: i64) -> Value {
    json!({
        "key": {"userid": 10, "dbid": 5, "queryid": queryid, "toplevel": true},
        "counters": {
            "calls": calls, "exec_ms": exec_ms, "rows": calls, "shared_blks_hit": 10,
            "shared_blks_read": read, "temp_blks_written": temp
        }
    })
}

/// The pg15 fixture with pg_stat_statements 1.10 holding `entries`.
fn with_statements(entries: Vec<Value>) -> Value {
    let mut v = fixture();
    v["statements"] = json!({
        "installed_version": "1.10",
        "default_version": "1.10",
        "schema": "public",
        "track_io_timing": false,
        "dealloc": 0,
        "stats_reset_epoch": v["server"]["now_epoch"].as_f64().unwrap() - 3600.0,
        "entries": entries
    });
    v
}

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
    p
}

fn run(dir: &Path, args: &[&str]) -> Output {
    support::tool(dir).args(args).output().unwrap()
}

fn one_line_failure(out: &Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(out.stdout.is_empty(), "nothing half-written on stdout");
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

fn workload() -> Vec<Value> {
    vec![
        entry(1, 3, 900.0, 90_000, 0),
        entry(2, 5_000, 150.0, 10, 0),
        entry(3, 20, 40.0, 9_000, 700),
    ]
}

#[test]
fn counters_from_a_file_are_ranked_by_each_sort() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "s.json", &with_statements(workload()));
    let f = f.to_str().unwrap();
    let ids = |args: &[&str]| -> Vec<i64> {
        let out = run(
            dir.path(),
            &[&["queries", "--stats-from", f, "--format", "json"], args].concat(),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["queries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["queryid"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(&[]), vec![1, 3, 2]);
    assert_eq!(ids(&["--sort", "calls"]), vec![2, 3, 1]);
    assert_eq!(ids(&["--sort", "time"]), vec![1, 2, 3]);
    assert_eq!(ids(&["--sort", "temp", "--limit", "1"]), vec![3]);

    let out = run(
        dir.path(),
        &["queries", "--stats-from", f, "--format", "markdown"],
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("### Queries") && md.contains("### Cache candidates"),
        "{md}"
    );
    assert!(md.contains("track\\_io\\_timing is off"), "{md}");
}

#[test]
fn report_from_a_file_shows_the_queries_section_and_names_spills() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = with_statements(workload());
    // Enough temp files on the connected database for the finding.
    for d in v["databases"].as_array_mut().unwrap() {
        if d["name"] == "work" {
            d["temp_files"] = json!(500);
            d["temp_bytes"] = json!(1_i64 << 32);
        }
    }
    let f = write(dir.path(), "s.json", &v);
    let out = run(
        dir.path(),
        &[
            "report",
            "--stats-from",
            f.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["queries"]["queries"][0]["queryid"], 1);
    let temp = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "temp_files")
        .unwrap_or_else(|| panic!("{:#}", r["findings"]));
    assert!(
        temp["message"]
            .as_str()
            .unwrap()
            .contains("queryid 3 (700 temp blocks written"),
        "{temp:#}"
    );
    // Without statements in the file, the report is as before.
    let plain = write(dir.path(), "p.json", &fixture());
    let out = run(
        dir.path(),
        &[
            "report",
            "--stats-from",
            plain.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r.get("queries").is_none());
}

#[test]
fn since_subtracts_and_refuses_another_server_or_an_old_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let before = with_statements(workload());
    let mut after = with_statements(vec![
        entry(1, 4, 1_200.0, 120_000, 0),
        entry(2, 5_000, 150.0, 10, 0),
        entry(3, 20, 40.0, 9_000, 700),
    ]);
    after["server"]["now_epoch"] = json!(before["server"]["now_epoch"].as_f64().unwrap() + 60.0);
    let b = write(dir.path(), "b.json", &before);
    let a = write(dir.path(), "a.json", &after);
    let out = run(
        dir.path(),
        &[
            "queries",
            "--stats-from",
            a.to_str().unwrap(),
            "--since",
            b.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["window"]["kind"], "since");
    let rows = v["queries"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "only statement 1 ran in the window: {v:#}");
    assert_eq!(rows[0]["shared_blks_read"], 30_000);

    let mut other = before.clone();
    other["server"]["system_identifier"] = json!("1");
    let o = write(dir.path(), "o.json", &other);
    let out = run(
        dir.path(),
        &[
            "queries",
            "--stats-from",
            a.to_str().unwrap(),
            "--since",
            o.to_str().unwrap(),
        ],
    );
    assert!(one_line_failure(&out, 65).contains("another server"));

    let old = write(dir.path(), "old.json", &fixture());
    let out = run(
        dir.path(),
        &[
            "queries",
            "--stats-from",
            a.to_str().unwrap(),
            "--since",
            old.to_str().unwrap(),
        ],
    );
    assert!(one_line_failure(&out, 65).contains("no pg_stat_statements counters"));
}

#[test]
fn bad_input_is_one_line_with_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["queries", "--sort", "rows"]);
    assert!(one_line_failure(&out, 64).contains("--sort"));
    let out = run(dir.path(), &["queries", "--interval", "30"]);
    one_line_failure(&out, 64);
    let out = run(dir.path(), &["queries", "--since", "/nonexistent/x.json"]);
    assert!(one_line_failure(&out, 66).contains("/nonexistent/x.json"));
    let plain = write(dir.path(), "p.json", &fixture());
    let out = run(
        dir.path(),
        &["queries", "--stats-from", plain.to_str().unwrap()],
    );
    assert!(one_line_failure(&out, 65).contains("no pg_stat_statements counters"));
}
