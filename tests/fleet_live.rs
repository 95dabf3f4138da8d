//! Fleet runs through the binary against a real fleet: two throwaway clusters of different
//! majors (15 from `PGCACHE_TUNE_PG_BIN` or the default, and 13 from `scripts/pg-bin.sh 13`,
//! or `PGCACHE_TUNE_FLEET_OTHER_BIN`), a TCP listener that accepts connections and never
//! answers, and a closed port. This file runs once, not per major (scripts/test-matrix.sh
//! lists it with the Redis live tests), since it picks its majors itself.
//!
//! What it proves: the run ends within the hanging target's deadline plus a margin; the two
//! bad targets are down with their reasons; the live targets' numbers equal those of
//! single-target runs (user-table counters move only with the test's own workload, so they
//! compare exactly); the exit code is the fleet's worst state. The clusters are shared by
//! the steps of one test.

mod support;

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Cluster, ClusterOptions, Run};

const DB: &str = "app";
/// The hanging target's overall deadline: the run must end soon after it.
const HANG_TIMEOUT_SECS: u64 = 2;
/// Slack for process start, two real clusters and a loaded machine.
const MARGIN_SECS: u64 = 6;

/// The second major's bin directory: `PGCACHE_TUNE_FLEET_OTHER_BIN`, else what
/// `scripts/pg-bin.sh 13` prints (it downloads once and caches).
fn other_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PGCACHE_TUNE_FLEET_OTHER_BIN") {
        return Some(PathBuf::from(dir));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-bin.sh");
    let out = Command::new(script).arg("13").output().ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out.status.success() && dir.join("postgres").is_file()).then_some(dir)
}

fn cluster(bin: PathBuf, table_sql: &str) -> Cluster {
    let mut c = Cluster::init(ClusterOptions::new(bin));
    c.conf_append("shared_buffers = 16MB\nautovacuum = off\nmax_parallel_workers_per_gather = 0");
    c.start();
    c.psql("postgres", &format!("create database {DB}"));
    c.psql(DB, table_sql);
    c
}

/// Runs `sql` on `app` and waits until its statistics are visible.
fn workload(c: &Cluster, sql: &str) {
    if c.major() >= 15 {
        c.psql(DB, &format!("{sql}; select pg_stat_force_next_flush()"));
        return;
    }
    c.psql(DB, sql);
    // Before 15 the collector publishes every 500 ms: wait until the counters hold still.
    let probe =
        "select coalesce(sum(heap_blks_hit + heap_blks_read), 0) from pg_statio_user_tables";
    let mut last = c.psql(DB, probe);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        std::thread::sleep(Duration::from_millis(700));
        let now = c.psql(DB, probe);
        if now == last {
            return;
        }
        assert!(Instant::now() < deadline, "statistics never settled");
        last = now;
    }
}

fn conn(c: &Cluster) -> String {
    format!(
        "host={} port={} user=postgres dbname={DB}",
        c.socket_dir().display(),
        c.port()
    )
}

fn tool(home: &Path, args: &[&str]) -> (Run, Duration) {
    let start = Instant::now();
    let out = support::tool_std(home).args(args).output().unwrap();
    (Run::from(out), start.elapsed())
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"))
}

/// `heap` hits and reads of each table item of a verdict document, by label.
fn table_counts(verdict: &Value) -> Vec<(String, i64, i64)> {
    verdict["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                format!("{}.{}", i["schema"].as_str().unwrap_or(""), i["name"]),
                i["hits"].as_i64().unwrap(),
                i["reads"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_fleet_with_good_dead_and_hanging_targets() {
    let Some(bin15) = support::require_pg() else {
        return;
    };
    let Some(bin13) = other_bin() else {
        support::skip_unless_ci("no PostgreSQL 13 binaries (scripts/pg-bin.sh 13 failed)");
        return;
    };
    // 15: a small table that stays cached (ratio 100%). 13: a table four times
    // shared_buffers, scanned through the ring buffer, so most blocks are reads.
    let c15 = cluster(
        bin15,
        "create table hot as select g, repeat('h', 100) as pad from generate_series(1, 5000) g",
    );
    let c13 = cluster(
        bin13,
        "create table big as select g, repeat('x', 500) as pad from generate_series(1, 120000) g",
    );
    assert_ne!(c15.major(), c13.major());

    // Accepts every connection and never says a word.
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_port = hang.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in hang.incoming().flatten() {
            held.push(s);
            // Read (and drop) whatever arrives so the client's writes never block.
            if let Some(s) = held.last_mut() {
                let _ = s.set_nonblocking(true);
                let _ = s.read(&mut [0u8; 1024]);
            }
        }
    });
    let closed_port = support::free_port();

    let home = tempfile::tempdir().unwrap();
    let inv = home.path().join("fleet.toml");
    std::fs::write(
        &inv,
        format!(
            r#"
[defaults]
connect_timeout = "5s"
labels = {{ env = "test" }}

[[target]]
name = "pg15"
connection = "{}"
labels = {{ major = "15" }}

[[target]]
name = "pg13"
connection = "{}"

# The connect timeout alone would wait 30s: the overall deadline must cut it short.
[[target]]
name = "hang"
connection = "host=127.0.0.1 port={hang_port} user=postgres dbname={DB} sslmode=disable"
connect_timeout = "30s"
timeout = "{HANG_TIMEOUT_SECS}s"

[[target]]
name = "closed"
connection = "host=127.0.0.1 port={closed_port} user=postgres dbname={DB} sslmode=disable"

[[target]]
name = "off"
connection = "host=127.0.0.1 port=1"
enabled = false
"#,
            conn(&c15),
            conn(&c13)
        ),
    )
    .unwrap();
    let inv = inv.to_str().unwrap();
    let snaps = home.path().join("snaps");
    let snaps = snaps.to_str().unwrap();
    let budget = Duration::from_secs(HANG_TIMEOUT_SECS + MARGIN_SECS);

    // snapshot: one file per live target; the dead ones are named and the exit is 69.
    let (run, took) = tool(home.path(), &["snapshot", "--targets", inv, "-o", snaps]);
    assert_eq!(run.code, 69, "{run:?}");
    assert!(took < budget, "snapshot took {took:?}");
    assert!(Path::new(snaps).join("pg15.json").is_file());
    assert!(Path::new(snaps).join("pg13.json").is_file());
    assert!(!Path::new(snaps).join("hang.json").exists());
    assert!(!Path::new(snaps).join("off.json").exists());
    assert!(run.stderr.contains("hang: not saved: "), "{run:?}");
    assert!(run.stderr.contains("closed: not saved: "), "{run:?}");

    workload(&c15, "select count(*) from hot; select count(*) from hot");
    workload(&c13, "select count(*) from big; select count(*) from big");

    // check over the fleet since the snapshots, tables judged.
    let args = [
        "check",
        "--targets",
        inv,
        "--since",
        snaps,
        "--scope",
        "tables",
        "--critical",
        "99",
        "--min-blocks",
        "1",
    ];
    let (run, took) = tool(home.path(), &[&args[..], &["--format", "json"]].concat());
    assert!(took < budget, "check took {took:?}: {run:?}");
    let doc = json(&run);
    let targets = doc["targets"].as_array().unwrap();
    let names: Vec<&str> = targets
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pg15", "pg13", "hang", "closed"]);
    let by = |n: &str| targets.iter().find(|t| t["name"] == n).unwrap();
    assert_eq!(by("pg15")["status"], "OK", "{}", run.stdout);
    assert_eq!(by("pg13")["status"], "CRITICAL", "{}", run.stdout);
    assert_eq!(by("pg15")["labels"]["env"], "test");
    assert_eq!(by("pg15")["labels"]["major"], "15");
    for dead in ["hang", "closed"] {
        assert_eq!(by(dead)["up"], false);
        assert_eq!(by(dead)["status"], "UNKNOWN");
    }
    let hang_reason = by("hang")["error"].as_str().unwrap();
    assert!(hang_reason.contains("no answer within 2s"), "{hang_reason}");
    let elapsed = by("hang")["elapsed_seconds"].as_f64().unwrap();
    assert!((2.0..4.0).contains(&elapsed), "{elapsed}");
    let closed_reason = by("closed")["error"].as_str().unwrap();
    assert!(
        closed_reason.to_lowercase().contains("refused"),
        "{closed_reason}"
    );
    // CRITICAL outranks the dead targets' UNKNOWN.
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(doc["exit_code"], 2);

    // The live targets' numbers are those of single-target runs.
    for (name, c) in [("pg15", &c15), ("pg13", &c13)] {
        let snap = format!("{snaps}/{name}.json");
        let mut single = vec!["check"];
        let conn_args = c.conn_args(DB, "postgres");
        single.extend(conn_args.iter().map(String::as_str));
        single.extend(&args[5..]);
        single.extend(["--since", &snap, "--format", "json"]);
        let (one, _) = tool(home.path(), &single);
        let one = json(&one);
        let fleet_counts = table_counts(&by(name)["verdict"]);
        assert!(!fleet_counts.is_empty(), "{name}: no table items");
        assert_eq!(fleet_counts, table_counts(&one), "{name}");
        assert_eq!(by(name)["verdict"]["status"], one["status"], "{name}");
    }
    let big_reads = table_counts(&by("pg13")["verdict"])[0].2;
    assert!(big_reads > 0, "big was read from outside shared_buffers");

    // Only the live targets: the worst of OK and CRITICAL.
    let (run, _) = tool(
        home.path(),
        &[&args[..], &["--target", "pg15", "--target", "pg13"]].concat(),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout.lines().count(), 3, "{run:?}");
    assert!(
        run.stdout
            .ends_with("FLEET CRITICAL: 2 targets: 1 CRITICAL, 1 OK\n"),
        "{run:?}"
    );
    let (run, _) = tool(home.path(), &[&args[..], &["--target", "pg15"]].concat());
    assert_eq!(run.code, 0, "{run:?}");

    // --interval: both samples per target, the wait added to each target's deadline (the
    // hanging target still ends at its own timeout plus the interval).
    let (run, took) = tool(
        home.path(),
        &[
            "check",
            "--targets",
            inv,
            "--target",
            "pg13",
            "--target",
            "hang",
            "--interval",
            "3s",
            "--min-hit-ratio",
            "0",
            "--format",
            "json",
        ],
    );
    let doc = json(&run);
    assert_eq!(
        doc["targets"][0]["verdict"]["window"]["kind"], "interval",
        "{run:?}"
    );
    // Before 15 the window's ends are the collector's timestamps, up to 500 ms off each.
    let seconds = doc["targets"][0]["verdict"]["window"]["seconds"]
        .as_f64()
        .unwrap();
    assert!((2.0..6.0).contains(&seconds), "{seconds}: {run:?}");
    assert!(
        doc["targets"][1]["error"]
            .as_str()
            .unwrap()
            .contains("no answer within 5s"),
        "{run:?}"
    );
    assert!(took < budget + Duration::from_secs(3), "{took:?}");

    // Nagios: one status line, perfdata of every target, one line per target after it.
    let (run, _) = tool(home.path(), &[&args[..], &["--format", "nagios"]].concat());
    assert_eq!(run.code, 2);
    let first = run.stdout.lines().next().unwrap();
    assert!(
        first.starts_with(
            "PGCACHE_TUNE CRITICAL - 4 targets: 1 CRITICAL, 2 UNKNOWN, 1 OK, 2 down |"
        ),
        "{first}"
    );
    assert!(
        first.contains("'hang:up'=0") && first.contains("'pg13:up'=1"),
        "{first}"
    );
    assert!(
        first.contains("'pg13:") && first.contains("big'="),
        "{first}"
    );
    assert_eq!(run.stdout.lines().count(), 5, "{run:?}");

    // JUnit: a testsuite per target, valid for the schema CI servers use.
    let (run, _) = tool(home.path(), &[&args[..], &["--format", "junit"]].concat());
    assert_eq!(run.stdout.matches("<testsuite ").count(), 4, "{run:?}");
    validate_junit(home.path(), &run.stdout);

    // report: versions from each server, the dead targets down with a reason, exit 69.
    let (run, took) = tool(
        home.path(),
        &["report", "--targets", inv, "--format", "json"],
    );
    assert!(took < budget, "report took {took:?}");
    assert_eq!(run.code, 69, "{run:?}");
    let doc = json(&run);
    let t = doc["targets"].as_array().unwrap();
    assert_eq!(t.len(), 4);
    let version = |i: usize| t[i]["summary"]["version"].as_str().unwrap().to_string();
    assert!(
        version(0).starts_with(&c15.major().to_string()),
        "{}",
        version(0)
    );
    assert!(
        version(1).starts_with(&c13.major().to_string()),
        "{}",
        version(1)
    );
    assert_eq!(
        t[1]["report"]["server"]["version_num"].as_u64().unwrap() / 10_000,
        u64::from(c13.major())
    );
    assert_eq!(t[2]["up"], false);
    assert!(
        t[2]["error"]
            .as_str()
            .unwrap()
            .contains("no answer within 2s")
    );
    assert_eq!(t[1]["summary"]["worst_table"], "app.public.big");
    let (run, _) = tool(
        home.path(),
        &["report", "--targets", inv, "--target", "pg13"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("app.public.big"), "{run:?}");
    assert!(run.stdout.contains("1 of 1 targets up"), "{run:?}");

    // The per-target row cap: a report reads every pg_settings row, far more than 50.
    let capped = home.path().join("capped.toml");
    std::fs::write(
        &capped,
        format!(
            "[[target]]\nname = \"pg15\"\nconnection = \"{}\"\nmax_rows = 50\n\n[[target]]\nname = \"pg13\"\nconnection = \"{}\"\n",
            conn(&c15),
            conn(&c13)
        ),
    )
    .unwrap();
    let (run, _) = tool(
        home.path(),
        &[
            "report",
            "--targets",
            capped.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 69, "{run:?}");
    let doc = json(&run);
    let reason = doc["targets"][0]["error"].as_str().unwrap();
    assert!(reason.contains("more than 50 rows"), "{reason}");
    assert!(reason.contains("max_rows"), "{reason}");
    assert_eq!(
        doc["targets"][1]["up"], true,
        "the other target is not limited"
    );
}

fn validate_junit(dir: &Path, xml: &str) {
    let file = dir.join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/junit-jenkins.xsd");
    match Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&schema)
        .arg(&file)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "xmllint: {}\n{xml}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => support::skip_unless_ci("xmllint is not installed (Debian: libxml2-utils)"),
    }
}
