//! `snapshot` and `check` through the binary against throwaway clusters with a small
//! `shared_buffers` (16MB), a table several times larger (`big`, scanned through the
//! sequential-scan ring buffer, so it cannot stay cached), a small table that stays cached
//! (`hot`) and an indexed one (`lookup`).
//!
//! Counters move with every query, ours included, so the assertions are built to hold
//! whatever the background noise: user-table and user-index counters move only with the
//! test's own workload (autovacuum is off, parallel workers too), so a sequential scan of a
//! table of N blocks adds exactly N to its heap hits + reads, and those counts are compared
//! exactly; database rows also move with catalog reads of every session, so they are
//! compared with bounds (a later reading is never smaller). Workload statistics are flushed
//! before psql returns with `pg_stat_force_next_flush()` (PostgreSQL 15 on), or, before 15,
//! by waiting until the collector's numbers stop moving.
//!
//! Each test gets its own cluster: windows count everything a database does, so tests that
//! shared one would see each other's work.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Cluster, ClusterOptions};

/// The database the tests work in.
const DB: &str = "app";
/// Rows of `big`: about 8,000 blocks, four times the 16MB of shared_buffers.
const BIG_ROWS: u32 = 120_000;
/// Rows of `hot`: about 85 blocks, cached for good.
const HOT_ROWS: u32 = 5_000;
/// Rows of `lookup` (with a primary key).
const LOOKUP_ROWS: u32 = 20_000;
/// How long `--interval` waits in the interval test: long enough for the workload to run
/// inside it on a loaded machine.
const INTERVAL_SECS: u64 = 6;

/// What one run of the binary produced.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        };
        assert!(!run.stderr.contains("panicked"), "{run:?}");
        run
    }
}

/// The binary, run in `cwd`, without PG* variables and with an empty HOME (no ~/.pgpass).
fn pgcache_tune(cwd: &Path) -> Command {
    support::tool_std(cwd)
}

/// The `hit_ratio` of every item, parsed from the JSON text with std's correctly rounded
/// parser (serde_json's default may be one ulp off, which would spoil exact comparisons).
fn raw_ratios(text: &str) -> Vec<Option<f64>> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("\"hit_ratio\": "))
        .map(|v| {
            let v = v.trim_end_matches(',');
            (v != "null").then(|| v.parse().unwrap())
        })
        .collect()
}

/// `db` or `db.schema.name`, as the tool labels items.
fn label(item: &Value) -> String {
    match item["schema"].as_str() {
        Some(schema) => format!(
            "{}.{schema}.{}",
            item["database"].as_str().unwrap(),
            item["name"].as_str().unwrap()
        ),
        None => item["name"].as_str().unwrap().to_string(),
    }
}

fn items(doc: &Value) -> &Vec<Value> {
    doc["items"].as_array().unwrap()
}

fn item<'a>(doc: &'a Value, wanted: &str) -> &'a Value {
    items(doc)
        .iter()
        .find(|i| label(i) == wanted)
        .unwrap_or_else(|| panic!("no item {wanted} in {doc:#}"))
}

fn hits_reads(item: &Value) -> (i64, i64) {
    (
        item["hits"].as_i64().unwrap(),
        item["reads"].as_i64().unwrap(),
    )
}

/// Hits and reads of every database, table and index of a snapshot file, by label.
fn counters(snap: &Value) -> BTreeMap<String, (i64, i64)> {
    let mut out = BTreeMap::new();
    let int = |r: &Value, f: &str| r[f].as_i64().unwrap();
    for d in snap["databases"].as_array().unwrap() {
        out.insert(
            d["name"].as_str().unwrap().to_string(),
            (int(d, "blks_hit"), int(d, "blks_read")),
        );
    }
    for (list, hit, read) in [
        ("tables", "heap_blks_hit", "heap_blks_read"),
        ("indexes", "idx_blks_hit", "idx_blks_read"),
    ] {
        for r in snap[list].as_array().unwrap() {
            out.insert(label(r), (int(r, hit), int(r, read)));
        }
    }
    out
}

/// A started cluster with the three tables, and a scratch directory that is the binary's
/// current directory and holds the snapshot files.
struct Lab {
    cluster: Cluster,
    dir: tempfile::TempDir,
    /// Heap blocks of `big`.
    big_blocks: i64,
    /// Heap blocks of `hot`.
    hot_blocks: i64,
    /// shared_buffers in blocks.
    buffer_blocks: i64,
}

impl Lab {
    fn new() -> Option<Lab> {
        let bin = support::require_pg()?;
        let mut cluster = Cluster::init(ClusterOptions::new(bin));
        // No autovacuum and no parallel workers: nothing but the test's own queries reads
        // the user tables, and each scan reads each block exactly once.
        cluster.conf_append(
            "shared_buffers = 16MB\nautovacuum = off\nmax_parallel_workers_per_gather = 0",
        );
        cluster.start();
        cluster.psql("postgres", &format!("create database {DB}"));
        cluster.psql(
            DB,
            &format!(
                "create table big as select g, repeat('x', 500) as pad from generate_series(1, {BIG_ROWS}) g;
                 create table hot as select g, repeat('h', 100) as pad from generate_series(1, {HOT_ROWS}) g;
                 create table lookup (id int primary key, v text);
                 insert into lookup select g, md5(g::text) from generate_series(1, {LOOKUP_ROWS}) g;"
            ),
        );
        let int = |sql: &str| -> i64 { cluster.psql(DB, sql).trim().parse().unwrap() };
        let big_blocks = int("select pg_relation_size('big') / 8192");
        let hot_blocks = int("select pg_relation_size('hot') / 8192");
        let buffer_blocks =
            int("select setting::int8 from pg_settings where name = 'shared_buffers'");
        assert_eq!(buffer_blocks, 2_048, "16MB of 8kB blocks");
        assert!(
            big_blocks >= 3 * buffer_blocks,
            "big ({big_blocks} blocks) must dwarf shared_buffers ({buffer_blocks})"
        );
        assert!(hot_blocks * 10 < buffer_blocks);
        let lab = Lab {
            cluster,
            dir: tempfile::tempdir().unwrap(),
            big_blocks,
            hot_blocks,
            buffer_blocks,
        };
        // Hint bits and the first visit of each table are behind us before any window.
        lab.workload(
            "select count(*) from big; select count(*) from hot; select count(*) from lookup",
        );
        Some(lab)
    }

    /// Connection flags for the cluster's socket as the superuser, database `app`.
    fn conn(&self) -> Vec<String> {
        vec![
            "-h".into(),
            self.cluster.socket_dir().to_str().unwrap().into(),
            "-p".into(),
            self.cluster.port().to_string(),
            "-U".into(),
            support::SUPERUSER.into(),
            DB.into(),
        ]
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    /// `pgcache-tune SUBCOMMAND CONNECTION ARGS`.
    fn command(&self, subcommand: &str, args: &[&str]) -> Command {
        let mut cmd = pgcache_tune(self.dir.path());
        cmd.arg(subcommand).args(self.conn()).args(args);
        cmd
    }

    /// `snapshot -o NAME` in the scratch directory; returns the file's path.
    fn snapshot(&self, name: &str) -> String {
        let path = self.path(name);
        let run = Run::from(self.command("snapshot", &["-o", &path]).output().unwrap());
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.is_empty(), "{run:?}");
        assert!(run.stderr.starts_with("saved counters of "), "{run:?}");
        path
    }

    fn check(&self, args: &[&str]) -> Run {
        Run::from(self.command("check", args).output().unwrap())
    }

    /// `check ARGS --format json`: the document and its text.
    fn check_json(&self, args: &[&str]) -> (Value, String, i32) {
        let run = self.check(&[args, &["--format", "json"]].concat());
        let doc: Value =
            serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"));
        assert_eq!(doc["exit_code"], run.code, "{run:?}");
        (doc, run.stdout, run.code)
    }

    /// Runs `sql` on `app` and makes sure its statistics are visible before returning.
    fn workload(&self, sql: &str) {
        if self.cluster.major() >= 15 {
            // The flush happens before the server says it is ready for the next query, so
            // before psql returns.
            self.cluster
                .psql(DB, &format!("{sql}; select pg_stat_force_next_flush()"));
        } else {
            self.cluster.psql(DB, sql);
            self.settle();
        }
    }

    /// Before 15 the backend reports at exit and the collector publishes every 500 ms: wait
    /// until the user-table counters read the same twice.
    fn settle(&self) {
        let sql = "select coalesce(sum(heap_blks_hit + heap_blks_read), 0) \
                   + (select coalesce(sum(idx_blks_hit + idx_blks_read), 0) from pg_statio_user_indexes) \
                   from pg_statio_user_tables";
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = self.cluster.psql(DB, sql);
        loop {
            std::thread::sleep(Duration::from_millis(700));
            let now = self.cluster.psql(DB, sql);
            if now == last {
                return;
            }
            assert!(Instant::now() < deadline, "statistics never settled");
            last = now;
        }
    }

    /// `pg_stat_reset()` on `app`, returning once the reset is visible: before 15 the
    /// collector applies it asynchronously, so poll until `stats_reset` moves.
    fn reset_stats(&self) {
        let sql = format!(
            "select coalesce(extract(epoch from stats_reset)::text, '') from pg_stat_database where datname = '{DB}'"
        );
        let before = self.cluster.psql(DB, &sql);
        self.cluster.psql(DB, "select pg_stat_reset()");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.cluster.psql(DB, &sql) == before {
            assert!(
                Instant::now() < deadline,
                "pg_stat_reset() never became visible"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        if self.cluster.major() < 15 {
            self.settle();
        }
    }

    /// `n` sequential scans of `hot` in one statement.
    fn scan_hot(&self, n: u32) {
        self.workload(&format!(
            "do $$ begin for i in 1..{n} loop perform count(*) from hot; end loop; end $$"
        ));
    }
}

#[test]
fn seq_scans_of_a_big_table_since_a_snapshot_are_critical_and_name_it() {
    let Some(lab) = Lab::new() else { return };
    let snap = lab.snapshot("before.json");
    lab.workload("select count(*) from big; select count(*) from big; select count(*) from big");

    let r = lab.check(&[
        "--since",
        &snap,
        "--min-hit-ratio",
        "90",
        "--scope",
        "tables",
        "--scope",
        "database",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.is_empty(), "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("CRITICAL table app.public.big: hit ratio "),
        "the worst item first: {r:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("CRITICAL database app: hit ratio ")),
        "{r:?}"
    );
    assert_eq!(lines.len(), 3, "two failing items and the summary: {r:?}");
    assert!(lines[2].starts_with("CRITICAL: 2 of "), "{r:?}");
    assert!(lines[2].contains("since the snapshot of"), "{r:?}");
    assert!(
        !r.stdout.contains("public.hot") && !r.stdout.contains("public.lookup"),
        "{r:?}"
    );

    let (doc, _, code) = lab.check_json(&[
        "--since",
        &snap,
        "--min-hit-ratio",
        "90",
        "--scope",
        "tables",
        "--scope",
        "database",
    ]);
    assert_eq!(code, 2);
    assert_eq!(doc["window"]["kind"], "since");
    let big = item(&doc, "app.public.big");
    let (hits, reads) = hits_reads(big);
    // Three scans, each block read or hit exactly once ...
    assert_eq!(hits + reads, 3 * lab.big_blocks, "{big}");
    // ... and at most shared_buffers of them can have been cached in each.
    assert!(reads >= 3 * (lab.big_blocks - lab.buffer_blocks), "{big}");
    assert_eq!(big["status"], "CRITICAL");
    let app = item(&doc, "app");
    assert_eq!(app["status"], "CRITICAL");
    assert!(
        hits_reads(app).1 >= reads,
        "the database read at least big's blocks: {app}"
    );
    for quiet in ["app.public.hot", "app.public.lookup"] {
        assert_eq!(hits_reads(item(&doc, quiet)), (0, 0), "{quiet}");
        assert_eq!(item(&doc, quiet)["insufficient"], true);
    }

    // The team's pgcache-tune.toml, found in the current directory, lets big off the hook.
    std::fs::write(
        lab.dir.path().join("pgcache-tune.toml"),
        "critical = 90\nscopes = [\"tables\"]\n\n[[override]]\nmatch = \"public.big\"\ncritical = 1\n",
    )
    .unwrap();
    let (doc, _, code) = lab.check_json(&["--since", &snap]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        items(&doc).iter().all(|i| i["scope"] == "tables"),
        "{doc:#}"
    );
    let big = item(&doc, "app.public.big");
    assert_eq!(big["thresholds"]["critical"], 1.0);
    assert_eq!(big["status"], "OK");
    // Flags still win over the file.
    let r = lab.check(&[
        "--since",
        &snap,
        "--scope",
        "database",
        "--min-hit-ratio",
        "95",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.starts_with("CRITICAL database app: "), "{r:?}");
}

#[test]
fn repeated_reads_of_a_small_hot_table_since_a_snapshot_are_ok() {
    let Some(lab) = Lab::new() else { return };
    let snap = lab.snapshot("before.json");
    let scans = 300;
    lab.scan_hot(scans);

    let args = [
        "--since",
        snap.as_str(),
        "--min-hit-ratio",
        "99",
        "--scope",
        "tables",
        "--scope",
        "database",
    ];
    let r = lab.check(&args);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 1, "only the summary: {r:?}");
    assert!(
        r.stdout
            .starts_with("OK: 0 of 2 judged items below threshold"),
        "hot and app are judged, the rest had too little traffic: {r:?}"
    );
    let (doc, text, code) = lab.check_json(&args);
    assert_eq!(code, 0);
    let hot = item(&doc, "app.public.hot");
    let (hits, reads) = hits_reads(hot);
    assert_eq!(hits + reads, i64::from(scans) * lab.hot_blocks, "{hot}");
    assert!(hot["hit_ratio"].as_f64().unwrap() >= 0.99, "{hot}");
    assert_eq!(item(&doc, "app")["status"], "OK");
    // Each reported ratio is hits / (hits + reads) of its own counts.
    for (i, ratio) in items(&doc).iter().zip(raw_ratios(&text)) {
        let (h, r) = hits_reads(i);
        #[allow(clippy::cast_precision_loss)]
        let by_hand = (h + r > 0).then(|| h as f64 / (h as f64 + r as f64));
        assert_eq!(ratio, by_hand, "{i}");
    }
}

#[test]
fn a_reset_or_a_restart_between_snapshot_and_check_is_unknown() {
    let Some(mut lab) = Lab::new() else { return };
    let snap = lab.snapshot("before-reset.json");
    lab.scan_hot(200);
    lab.reset_stats();
    let reset = "statistics of database app were reset between the two samples";
    for scope in ["database", "tables"] {
        let args = [
            "--since",
            snap.as_str(),
            "--min-hit-ratio",
            "90",
            "--scope",
            scope,
        ];
        let r = lab.check(&args);
        assert_eq!(r.code, 3, "{scope}: {r:?}");
        assert_eq!(r.stdout, format!("UNKNOWN: {reset}\n"), "{scope}");
        assert!(r.stderr.is_empty(), "{scope}: {r:?}");
        let r = lab.check(&[&args[..], &["--format", "nagios"]].concat());
        assert_eq!(r.code, 3);
        assert_eq!(r.stdout, format!("PGCACHE_TUNE UNKNOWN - {reset}\n"));
        let (doc, _, _) = lab.check_json(&args);
        assert_eq!(doc["status"], "UNKNOWN");
        assert!(
            items(&doc).is_empty(),
            "no ratio at all, let alone a negative one"
        );
    }

    // One table's counters reset: the tables it holds went back to zero.
    let snap = lab.snapshot("before-table-reset.json");
    lab.scan_hot(50);
    lab.cluster.psql(
        DB,
        "select pg_stat_reset_single_table_counters('hot'::regclass)",
    );
    if lab.cluster.major() < 15 {
        // The collector applies the reset asynchronously.
        lab.settle();
    }
    let r = lab.check(&[
        "--since",
        &snap,
        "--min-hit-ratio",
        "90",
        "--scope",
        "tables",
    ]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 1, "{r:?}");
    assert!(
        r.stdout.starts_with("UNKNOWN: ") && r.stdout.contains("reset"),
        "{r:?}"
    );

    let snap = lab.snapshot("before-restart.json");
    lab.cluster.restart();
    lab.scan_hot(200);
    let r = lab.check(&["--since", &snap, "--min-hit-ratio", "90"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(
        r.stdout,
        "UNKNOWN: the server restarted between the two samples\n"
    );
}

#[test]
fn a_snapshot_of_another_cluster_is_unknown() {
    let Some(lab) = Lab::new() else { return };
    let mut other = Cluster::init(ClusterOptions::new(lab.cluster.bin_dir()));
    other.start();
    let other_snap = lab.path("other.json");
    let run = Run::from(
        pgcache_tune(lab.dir.path())
            .args(["snapshot", "-h"])
            .arg(other.socket_dir())
            .args(["-p", &other.port().to_string(), "-U", support::SUPERUSER])
            .args(["postgres", "-o", &other_snap])
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let own_snap = lab.snapshot("own.json");
    let sysid = |path: &str| -> String {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        doc["server"]["system_identifier"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (own, theirs) = (sysid(&own_snap), sysid(&other_snap));
    assert_ne!(own, theirs, "two initdb runs, two identifiers");
    assert_eq!(
        own,
        lab.cluster.psql(
            DB,
            "select system_identifier::text from pg_control_system()"
        )
    );

    lab.scan_hot(200);
    let r = lab.check(&["--since", &other_snap, "--min-hit-ratio", "90"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(
        r.stdout,
        format!(
            "UNKNOWN: the two samples come from different servers (system identifier {theirs} vs {own})\n"
        )
    );
    // The cluster's own snapshot of the same moment judges fine.
    let r = lab.check(&[
        "--since",
        &own_snap,
        "--min-hit-ratio",
        "90",
        "--scope",
        "tables",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn interval_judges_only_what_happened_during_it() {
    let Some(lab) = Lab::new() else { return };
    // A lifetime full of big scans and earlier hot scans.
    lab.workload("select count(*) from big; select count(*) from big");
    lab.scan_hot(100);
    let (lifetime, _, _) = lab.check_json(&["--min-hit-ratio", "0", "--scope", "tables"]);
    assert_eq!(lifetime["window"]["kind"], "lifetime");
    let (bh, br) = hits_reads(item(&lifetime, "app.public.big"));
    assert!(bh + br >= 3 * lab.big_blocks, "{lifetime:#}");
    let (hh, hr) = hits_reads(item(&lifetime, "app.public.hot"));
    assert!(hh + hr >= 101 * lab.hot_blocks, "{lifetime:#}");

    let interval = format!("{INTERVAL_SECS}s");
    let mut child = lab
        .command(
            "check",
            &[
                "--interval",
                &interval,
                "--min-hit-ratio",
                "99",
                "--scope",
                "tables",
                "--format",
                "json",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first sample is taken once the check's session has sat idle for a while after
    // something other than its session setup: it is sleeping through the interval.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let idle = lab.cluster.psql(
            DB,
            "select count(*) from pg_stat_activity
             where application_name = 'pgcache-tune' and state = 'idle'
               and query not like 'SET %'
               and now() - state_change > interval '300 ms'",
        );
        if idle == "1" {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "check ended ({status}) before the workload: {:?}",
                Run::from(out)
            );
        }
        assert!(
            Instant::now() < deadline,
            "the check never got to its interval"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let scans = 150;
    lab.scan_hot(scans);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the interval ended before the workload did; the test's premise is broken (raise INTERVAL_SECS)"
    );
    let run = Run::from(child.wait_with_output().unwrap());
    assert_eq!(run.code, 0, "{run:?}");
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let w = &doc["window"];
    assert_eq!(w["kind"], "interval");
    #[allow(clippy::cast_precision_loss)]
    let wanted = INTERVAL_SECS as f64;
    let secs = w["seconds"].as_f64().unwrap();
    assert!(secs >= wanted - 0.05 && secs < wanted + 5.0, "{w}");
    // Exactly the workload's scans of hot, and nothing of the lifetime.
    let (h, r) = hits_reads(item(&doc, "app.public.hot"));
    assert_eq!(h + r, i64::from(scans) * lab.hot_blocks, "{doc:#}");
    assert_eq!(hits_reads(item(&doc, "app.public.big")), (0, 0), "{doc:#}");
    assert_eq!(
        hits_reads(item(&doc, "app.public.lookup")),
        (0, 0),
        "{doc:#}"
    );
    assert_eq!(doc["status"], "OK");
}

#[test]
fn the_window_equals_the_difference_of_the_samples_around_it() {
    let Some(lab) = Lab::new() else { return };
    lab.reset_stats();
    let before_now: f64 = lab
        .cluster
        .psql(DB, "select extract(epoch from now())::float8")
        .parse()
        .unwrap();
    let a = lab.snapshot("a.json");
    let after_now: f64 = lab
        .cluster
        .psql(DB, "select extract(epoch from now())::float8")
        .parse()
        .unwrap();
    lab.workload(
        "select count(*) from big;
         do $$ begin for i in 1..50 loop perform count(*) from hot; end loop;
                     for i in 1..500 loop perform v from lookup where id = (i * 37) % 20000 + 1; end loop;
         end $$",
    );
    let b = lab.snapshot("b.json");

    // What the snapshot file holds: the identity, the time and each database's reset.
    let read = |path: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let (snap_a, snap_b) = (read(&a), read(&b));
    assert_eq!(
        snap_a["server"]["system_identifier"].as_str().unwrap(),
        lab.cluster.psql(
            DB,
            "select system_identifier::text from pg_control_system()"
        )
    );
    let now = snap_a["server"]["now_epoch"].as_f64().unwrap();
    assert!(
        before_now <= now && now <= after_now,
        "{now} not in [{before_now}, {after_now}]"
    );
    let reset: f64 = lab
        .cluster
        .psql(
            DB,
            &format!("select extract(epoch from stats_reset)::float8 from pg_stat_database where datname = '{DB}'"),
        )
        .parse()
        .unwrap();
    let app = snap_a["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == DB)
        .unwrap();
    assert!(
        (app["stats_reset_epoch"].as_f64().unwrap() - reset).abs() < 1e-3,
        "{app}"
    );
    assert!(
        snap_a["databases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d.get("stats_reset_epoch").is_some())
    );

    let (ca, cb) = (counters(&snap_a), counters(&snap_b));
    let diff = |label: &str| -> (i64, i64) {
        let (x, y) = (cb[label], ca[label]);
        (x.0 - y.0, x.1 - y.1)
    };
    // The workload as the two files see it.
    let (bh, br) = diff("app.public.big");
    assert_eq!(bh + br, lab.big_blocks, "one scan of big");
    let (hh, hr) = diff("app.public.hot");
    assert_eq!(hh + hr, 50 * lab.hot_blocks);
    let (lh, lr) = diff("app.public.lookup_pkey");
    assert!(
        lh + lr >= 1_000,
        "500 lookups through a two-level index: {lh} + {lr}"
    );

    // Server-free: check --since A --stats-from B judges exactly B − A.
    let scopes = [
        "--scope",
        "database",
        "--scope",
        "tables",
        "--scope",
        "indexes",
        "--min-blocks",
        "0",
        "--min-hit-ratio",
        "0",
    ];
    let (doc, text, _) =
        lab.check_json(&[&["--since", a.as_str(), "--stats-from", &b][..], &scopes].concat());
    let judged: BTreeMap<String, (i64, i64)> = items(&doc)
        .iter()
        .map(|i| (label(i), hits_reads(i)))
        .collect();
    let expected: BTreeMap<String, (i64, i64)> = cb.keys().map(|k| (k.clone(), diff(k))).collect();
    assert_eq!(judged, expected);
    for (i, ratio) in items(&doc).iter().zip(raw_ratios(&text)) {
        let (h, r) = hits_reads(i);
        #[allow(clippy::cast_precision_loss)]
        let by_hand = (h + r > 0).then(|| h as f64 / (h as f64 + r as f64));
        assert_eq!(ratio, by_hand, "{i}");
    }

    // Live: check --since A reads the server between B and a snapshot C taken right after,
    // so each of its counts lies between B − A and C − A; user tables and indexes did not
    // move after B, so theirs are exact.
    let (live, _, _) = lab.check_json(&[&["--since", a.as_str()][..], &scopes].concat());
    let c = lab.snapshot("c.json");
    let cc = counters(&read(&c));
    for i in items(&live) {
        let key = label(i);
        let (h, r) = hits_reads(i);
        let (lo, hi) = (
            diff(&key),
            (cc[&key].0 - ca[&key].0, cc[&key].1 - ca[&key].1),
        );
        if i["scope"] == "database" {
            assert!(
                lo.0 <= h && h <= hi.0,
                "{key} hits {h} not in [{}, {}]",
                lo.0,
                hi.0
            );
            assert!(
                lo.1 <= r && r <= hi.1,
                "{key} reads {r} not in [{}, {}]",
                lo.1,
                hi.1
            );
        } else {
            assert_eq!((h, r), lo, "{key}");
            assert_eq!((h, r), hi, "{key}");
        }
    }
    assert_eq!(items(&live).len(), expected.len());
}

#[test]
fn cannot_connect_is_unknown() {
    // No server is needed to fail to reach one: an empty socket directory, and a loopback
    // port nobody listens on.
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port().to_string();
    let sock = dir.path().to_str().unwrap().to_string();
    for host in [sock.as_str(), "127.0.0.1"] {
        let check = |format: &str| -> Run {
            Run::from(
                pgcache_tune(dir.path())
                    .args(["check", "-h", host, "-p", &port, "-U", "postgres", "app"])
                    .args(["--min-hit-ratio", "99", "--format", format])
                    .output()
                    .unwrap(),
            )
        };
        let r = check("human");
        assert_eq!(r.code, 3, "{host}: {r:?}");
        assert!(r.stdout.is_empty(), "{host}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{host}: {r:?}");
        assert!(
            r.stderr.starts_with("error: connection to host="),
            "{host}: {r:?}"
        );
        assert!(r.stderr.contains(&format!("port={port}")), "{r:?}");

        let r = check("nagios");
        assert_eq!(r.code, 3, "{host}: {r:?}");
        assert_eq!(r.stdout.lines().count(), 1, "{host}: {r:?}");
        assert!(
            r.stdout
                .starts_with("PGCACHE_TUNE UNKNOWN - connection to host="),
            "{host}: {r:?}"
        );
        assert_eq!(r.stderr.lines().count(), 1);

        let r = check("json");
        assert_eq!(r.code, 3);
        let doc: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(doc["status"], "UNKNOWN");
        assert!(doc["window"].is_null());
        assert!(
            doc["reason"]
                .as_str()
                .unwrap()
                .starts_with("connection to host=")
        );

        let r = check("junit");
        assert_eq!(r.code, 3);
        assert!(
            r.stdout
                .contains("<error message=\"UNKNOWN: connection to host="),
            "{r:?}"
        );

        // snapshot is not a check: it fails with the server exit code.
        let out = Run::from(
            pgcache_tune(dir.path())
                .args(["snapshot", "-h", host, "-p", &port, "-U", "postgres", "app"])
                .args(["-o", "s.json"])
                .output()
                .unwrap(),
        );
        assert_eq!(out.code, 69, "{out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
        assert!(!dir.path().join("s.json").exists());
    }
}
