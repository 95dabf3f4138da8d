//! `report --format html` and `queries --format html` without a server (the `--stats-from`
//! fixture seam): the page's chart values equal the JSON of the same input, and refusals are
//! one line on stderr with nothing on stdout. The browser checks are in tests/html_live.rs.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use support::html::bars;

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stats/pg15.json")
}

fn run(dir: &Path, args: &[&str]) -> Output {
    support::tool(dir).args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A JSON number or null as the JSON output has it.
fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

#[test]
fn report_html_charts_hold_the_json_values() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture_path();
    let f = f.to_str().unwrap();
    let common = ["report", "--stats-from", f, "--ram", "16GB", "--cpus", "4"];
    let page = stdout(&run(
        dir.path(),
        &[&common[..], &["--format", "html"]].concat(),
    ));
    let json: Value = serde_json::from_str(&stdout(&run(
        dir.path(),
        &[&common[..], &["--format", "json"]].concat(),
    )))
    .unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    let dbs = json["databases"].as_array().unwrap();
    let drawn = bars(&page, "chart-database-hit");
    assert_eq!(drawn.len(), dbs.len());
    for (b, d) in drawn.iter().zip(dbs) {
        assert_eq!(b.name, d["name"].as_str().unwrap());
        assert_eq!(b.json(), d["hit_ratio"], "{}", b.name);
    }
    let tables = json["tables"].as_array().unwrap();
    assert!(!tables.is_empty());
    let drawn = bars(&page, "chart-table-hit");
    assert_eq!(drawn.len(), tables.len());
    for (b, t) in drawn.iter().zip(tables) {
        let want = format!(
            "{}.{}",
            t["schema"].as_str().unwrap(),
            t["name"].as_str().unwrap()
        );
        assert_eq!(b.name, want);
        assert_eq!(b.json(), t["heap_hit_ratio"], "{}", b.name);
    }
    let reads: Vec<String> = bars(&page, "chart-table-reads")
        .into_iter()
        .map(|b| b.value)
        .collect();
    let want: Vec<String> = tables
        .iter()
        .map(|t| t["heap_blks_read"].as_i64().unwrap().to_string())
        .collect();
    assert_eq!(reads, want);
    assert_eq!(
        page.matches(r#"<tr class="setting "#).count(),
        json["settings"].as_array().unwrap().len()
    );
    assert_eq!(
        page.matches(r#"<li class="finding "#).count(),
        json["findings"].as_array().unwrap().len()
    );
}

#[test]
fn queries_html_charts_each_statements_share_of_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_path()).unwrap()).unwrap();
    let entry = |queryid: i64, read: i64| {
        json!({
            "key": {"userid": 10, "dbid": 5, "queryid": queryid, "toplevel": true},
            "counters": {"calls": 10, "exec_ms": 5.0, "rows": 10, "shared_blks_hit": 10,
                         "shared_blks_read": read, "temp_blks_written": 0}
        })
    };
    v["statements"] = json!({
        "installed_version": "1.10", "default_version": "1.10", "schema": "public",
        "track_io_timing": false, "dealloc": 0,
        "stats_reset_epoch": v["server"]["now_epoch"].as_f64().unwrap() - 3600.0,
        "entries": [entry(1, 300), entry(2, 100), entry(3, 0)]
    });
    let f = dir.path().join("s.json");
    std::fs::write(&f, serde_json::to_vec(&v).unwrap()).unwrap();
    let f = f.to_str().unwrap();
    let page = stdout(&run(
        dir.path(),
        &["queries", "--stats-from", f, "--format", "html"],
    ));
    let json: Value = serde_json::from_str(&stdout(&run(
        dir.path(),
        &["queries", "--stats-from", f, "--format", "json"],
    )))
    .unwrap();
    let rows = json["queries"].as_array().unwrap();
    let drawn = bars(&page, "chart-query-reads");
    assert_eq!(drawn.len(), rows.len());
    assert_eq!(drawn.len(), 3);
    for (b, r) in drawn.iter().zip(rows) {
        assert_eq!(b.json(), r["read_share"]);
    }
    assert_eq!(num(&drawn[0].json()), Some(0.75));
}

#[test]
fn html_with_redis_is_refused_in_one_line_with_nothing_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture_path();
    let out = run(
        dir.path(),
        &[
            "report",
            "--stats-from",
            f.to_str().unwrap(),
            "--format",
            "html",
            "--redis",
            "redis://127.0.0.1:1",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--format html") && err.contains("--redis"),
        "{err}"
    );
}
