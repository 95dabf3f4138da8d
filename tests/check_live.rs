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
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Cluster, ClusterOptions, Run};

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
const INTERVAL_SECS: u64 = 8;

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

/// `h / (h + r)` of each pair computed by the server (float8 division, correctly rounded
/// like Rust's), `None` without I/O: an oracle independent of the tool's arithmetic.
fn sql_ratios(cluster: &Cluster, pairs: &[(i64, i64)]) -> Vec<Option<f64>> {
    if pairs.is_empty() {
        return Vec::new();
    }
    let values: Vec<String> = pairs
        .iter()
        .enumerate()
        .map(|(i, (h, r))| format!("({i}, {h}::int8, {r}::int8)"))
        .collect();
    let out = cluster.psql(
        "postgres",
        &format!(
            "select coalesce((h::float8 / nullif(h + r, 0))::text, '-') from (values {}) v(i, h, r) order by i",
            values.join(", ")
        ),
    );
    let ratios: Vec<Option<f64>> = out
        .lines()
        .map(|l| (l != "-").then(|| l.parse().unwrap()))
        .collect();
    assert_eq!(ratios.len(), pairs.len(), "{out}");
    ratios
}

/// Asserts that the JSON text has one `hit_ratio` per item, each equal to the server's
/// `hits / (hits + reads)` of the item's counts.
fn assert_ratios_match_sql(cluster: &Cluster, doc: &Value, text: &str) {
    let ratios = raw_ratios(text);
    assert_eq!(
        ratios.len(),
        items(doc).len(),
        "one hit_ratio per item; has the JSON layout changed? {text}"
    );
    assert!(!ratios.is_empty(), "no item to compare: {text}");
    let pairs: Vec<(i64, i64)> = items(doc).iter().map(hits_reads).collect();
    assert_eq!(ratios, sql_ratios(cluster, &pairs), "{doc:#}");
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
        // Every statement is logged, for the read-only proof.
        cluster.conf_append(
            "shared_buffers = 16MB\nautovacuum = off\nmax_parallel_workers_per_gather = 0\n\
             log_statement = 'all'\nlog_line_prefix = '%m [%p] app=%a db=%d '",
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
    // Each reported ratio is hits / (hits + reads) as the server computes it.
    assert_ratios_match_sql(&lab.cluster, &doc, &text);
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

    // `pg_stat_reset_single_table_counters('hot')` between a snapshot and a check, with
    // `before` scans of hot before the snapshot, `between` before the reset and `after`
    // after it; the check's arguments.
    let table_reset = |file: &str, before: u32, between: u32, after: u32| -> Vec<String> {
        lab.scan_hot(before);
        let snap = lab.snapshot(file);
        lab.scan_hot(between);
        lab.cluster.psql(
            DB,
            "select pg_stat_reset_single_table_counters('hot'::regclass)",
        );
        if lab.cluster.major() < 15 {
            // The collector applies the reset asynchronously.
            lab.settle();
        }
        lab.scan_hot(after);
        [
            "--since",
            &snap,
            "--min-hit-ratio",
            "90",
            "--scope",
            "tables",
        ]
        .map(String::from)
        .to_vec()
    };
    // Back to zero, below the snapshot's counts: the table is named.
    let args = table_reset("before-table-reset.json", 30, 50, 0);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = lab.check(&args);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(
        r.stdout,
        "UNKNOWN: counters of table app.public.hot went backwards (statistics reset between the two samples)\n"
    );
    let (doc, _, code) = lab.check_json(&args);
    assert_eq!((doc["status"].as_str(), code), (Some("UNKNOWN"), 3));
    assert_eq!(doc["reason_detail"]["kind"], "backwards");
    assert_eq!(doc["reason_detail"]["label"], "app.public.hot");
    // Followed by more traffic than the table had at the snapshot: no counter goes
    // backwards, but PostgreSQL stamps the database's stats_reset, so the window is still
    // refused rather than judged from a difference of unrelated counts.
    let args = table_reset("before-table-reset-2.json", 30, 10, 400);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = lab.check(&args);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.stdout, format!("UNKNOWN: {reset}\n"), "{r:?}");
    let (doc, _, _) = lab.check_json(&args);
    assert_eq!(doc["reason_detail"]["kind"], "reset");
    assert_eq!(doc["reason_detail"]["database"], DB);
    assert!(items(&doc).is_empty());

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
    let lifetime = |table: &str| -> i64 {
        lab.cluster
            .psql(
                DB,
                &format!("select heap_blks_hit + heap_blks_read from pg_statio_user_tables where relname = '{table}'"),
            )
            .parse()
            .unwrap()
    };
    assert!(lifetime("big") >= 3 * lab.big_blocks);
    assert!(lifetime("hot") >= 101 * lab.hot_blocks);
    // A lifetime check of this fresh cluster follows diag's young-statistics rule: the
    // counters' age comes from stats_reset alone. PostgreSQL 13 and 14 stamp a new database's
    // stats_reset at its creation (moments ago: young); 15+ leave it NULL (age unknown, and
    // the workload above is well over the block floor: judged).
    let stamped = lab.cluster.psql(
        DB,
        "select stats_reset is not null from pg_stat_database where datname = current_database()",
    ) == "t";
    let (lifetime_doc, _, code) = lab.check_json(&["--min-hit-ratio", "0", "--scope", "tables"]);
    assert_eq!(
        lifetime_doc["window"]["kind"], "lifetime",
        "{lifetime_doc:#}"
    );
    if stamped {
        assert_eq!(code, 3, "{lifetime_doc:#}");
        assert_eq!(lifetime_doc["reason_detail"]["kind"], "young_statistics");
    } else {
        assert_eq!(code, 0, "{lifetime_doc:#}");
        assert!(lifetime_doc["reason_detail"].is_null(), "{lifetime_doc:#}");
    }

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
    // something other than its session setup: it is sleeping through the interval. Before
    // PostgreSQL 15 the check also sits idle for 700 ms between two first samples (waiting
    // out the statistics collector), so only an idle spell longer than that is the interval.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let idle = lab.cluster.psql(
            DB,
            "select count(*) from pg_stat_activity
             where application_name = 'pgcache-tune' and state like 'idle%'
               and query not like 'SET %' and query not like 'begin%'
               and now() - state_change > interval '1500 ms'",
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
    // Generous: a loaded machine may start the second sample late, never early.
    assert!(secs >= wanted - 0.5 && secs < wanted + 120.0, "{w}");
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
        "--include-templates",
    ];
    let (doc, text, _) =
        lab.check_json(&[&["--since", a.as_str(), "--stats-from", &b][..], &scopes].concat());
    let judged: BTreeMap<String, (i64, i64)> = items(&doc)
        .iter()
        .map(|i| (label(i), hits_reads(i)))
        .collect();
    let expected: BTreeMap<String, (i64, i64)> = cb.keys().map(|k| (k.clone(), diff(k))).collect();
    assert_eq!(judged, expected);
    assert_ratios_match_sql(&lab.cluster, &doc, &text);

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

#[test]
fn dropped_recreated_and_renamed_objects_are_followed_by_oid() {
    let Some(lab) = Lab::new() else { return };
    lab.cluster.psql("postgres", "create database other");
    let snap = lab.snapshot("before.json");
    // hot is dropped and recreated smaller, under the same name; lookup is renamed; the
    // database `other` is dropped and recreated.
    lab.cluster.psql(
        DB,
        "drop table hot;
         create table hot as select g, repeat('n', 100) as pad from generate_series(1, 1000) g;
         alter table lookup rename to lookup_renamed",
    );
    lab.cluster.psql("postgres", "drop database other");
    lab.cluster.psql("postgres", "create database other");
    lab.cluster.psql("other", "select count(*) from pg_class");
    let new_hot: i64 = lab
        .cluster
        .psql(DB, "select pg_relation_size('hot') / 8192")
        .parse()
        .unwrap();
    lab.workload(
        "do $$ begin for i in 1..30 loop perform count(*) from hot; perform count(*) from lookup_renamed; end loop; end $$",
    );
    let lookup_blocks: i64 = lab
        .cluster
        .psql(DB, "select pg_relation_size('lookup_renamed') / 8192")
        .parse()
        .unwrap();

    let args = [
        "--since",
        snap.as_str(),
        "--min-hit-ratio",
        "1",
        "--scope",
        "tables",
        "--scope",
        "database",
        "--min-blocks",
        "0",
    ];
    let (doc, _, code) = lab.check_json(&args);
    assert_eq!(code, 0, "{doc:#}");
    // The new hot counts from its creation: exactly its own scans, and says so.
    // The new hot counts from its creation: its whole life as the server counts it (the
    // CREATE TABLE AS and the scans), nothing of the old table's, and it says so.
    let hot = item(&doc, "app.public.hot");
    assert_eq!(hot["recreated"], true, "{hot}");
    let (h, r) = hits_reads(hot);
    let by_sql: Vec<i64> = lab
        .cluster
        .psql(
            DB,
            "select heap_blks_hit || ' ' || heap_blks_read from pg_statio_user_tables where relname = 'hot'",
        )
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(vec![h, r], by_sql, "{hot}");
    assert!(h + r >= 30 * new_hot, "{hot}");
    // The renamed table is the same object: its window is its scans, under its new name.
    let renamed = item(&doc, "app.public.lookup_renamed");
    assert_eq!(renamed["recreated"], false);
    let (h, r) = hits_reads(renamed);
    assert_eq!(h + r, 30 * lookup_blocks, "{renamed}");
    assert!(items(&doc).iter().all(|i| label(i) != "app.public.lookup"));
    // The recreated database is a new object, not a database whose reset went unseen.
    let other = item(&doc, "other");
    assert_eq!(other["recreated"], true, "{other}");
    let r = lab.check(&args);
    assert!(
        r.stdout
            .contains("note: table app.public.hot was dropped and recreated"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("note: database other was dropped and recreated"),
        "{r:?}"
    );
}

#[test]
fn the_tools_own_session_does_not_inflate_an_interval() {
    let Some(lab) = Lab::new() else { return };
    // A database nobody else connects to: the only session in it is the check's own.
    lab.cluster.psql("postgres", "create database quiet");
    let conn = |db: &str| -> Vec<String> {
        let mut c = lab.conn();
        c.pop();
        c.push(db.to_string());
        c
    };
    // Long enough that a backend idle outside a transaction would have flushed its
    // counters (PostgreSQL flushes idle sessions after at most 10 s).
    let run = || -> Value {
        let out = pgcache_tune(lab.dir.path())
            .arg("check")
            .args(conn("quiet"))
            .args(["--interval", "12s", "--only-connected", "--min-blocks", "0"])
            .args(["--min-hit-ratio", "0", "--format", "json"])
            .output()
            .unwrap();
        let run = Run::from(out);
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"))
    };
    // The previous session in `quiet` has ended (its last counters are sent at exit).
    let gone = || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while lab.cluster.psql(
            "postgres",
            "select count(*) from pg_stat_activity where datname = 'quiet'",
        ) != "0"
        {
            assert!(Instant::now() < deadline, "a session in quiet never ended");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // Two checks back to back on the idle database: both windows hold nothing, so neither
    // check's own connection and catalog reads reached its window.
    for attempt in ["first", "second"] {
        gone();
        let doc = run();
        assert_eq!(doc["window"]["kind"], "interval", "{doc:#}");
        assert_eq!(
            hits_reads(item(&doc, "quiet")),
            (0, 0),
            "{attempt}: {doc:#}"
        );
    }
}

#[test]
fn check_and_snapshot_sessions_only_read() {
    let Some(lab) = Lab::new() else { return };
    let snap = lab.snapshot("before.json");
    lab.scan_hot(10);
    let all = [
        "--scope", "database", "--scope", "tables", "--scope", "indexes",
    ];
    for args in [
        vec!["--min-hit-ratio", "90"],
        vec!["--since", snap.as_str(), "--min-hit-ratio", "90"],
        vec!["--interval", "1s", "--min-hit-ratio", "90"],
    ] {
        let r = lab.check(&[&args[..], &all[..]].concat());
        assert!(r.code <= 3, "{r:?}");
    }
    // A snapshot and three checks.
    let ours = support::assert_read_only_sessions(&lab.cluster.server_log(), 4);
    // The interval's transaction is read-only and ends with commit.
    assert!(ours.iter().any(|s| s.sql.starts_with("begin read only;")));
    assert!(ours.iter().any(|s| s.sql == "commit"));
}

#[test]
fn interval_shows_a_countdown_on_a_terminal_and_only_on_stderr() {
    let Some(script) = ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
    else {
        assert!(
            !support::in_ci(),
            "util-linux script is needed for the terminal test"
        );
        return;
    };
    let Some(lab) = Lab::new() else { return };
    let out = lab.path("verdict.json");
    let quoted: Vec<String> = lab.conn().iter().map(|a| format!("'{a}'")).collect();
    // stderr on the pseudo-terminal, stdout into a file.
    let line = format!(
        "'{}' check {} --interval 3s --min-hit-ratio 0 --format json > '{out}'",
        env!("CARGO_BIN_EXE_pgcache-tune"),
        quoted.join(" ")
    );
    let tty = Command::new(script)
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .current_dir(lab.dir.path())
        .env("HOME", lab.dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(
        tty.status.success() || tty.status.code() == Some(3),
        "{shown}"
    );
    assert!(shown.contains("check: second sample in"), "{shown:?}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["window"]["kind"], "interval");
    // Piped, the same run draws nothing on stderr.
    let r = lab.check(&["--interval", "1s", "--min-hit-ratio", "0"]);
    assert!(r.stderr.is_empty(), "{r:?}");
}

#[test]
fn snapshot_writes_into_devices_and_fifos_without_replacing_them() {
    use std::os::unix::fs::FileTypeExt as _;
    let Some(lab) = Lab::new() else { return };
    // `-`: the snapshot on stdout, the summary on stderr.
    let run = Run::from(lab.command("snapshot", &["-o", "-"]).output().unwrap());
    assert_eq!(run.code, 0, "{run:?}");
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["server"]["database"], DB);
    // A character device like /dev/null (1,3), made here rather than risking the real one.
    let dev = lab.path("null");
    let made = Command::new("mknod")
        .args([dev.as_str(), "c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    if made {
        let run = Run::from(lab.command("snapshot", &["-o", &dev]).output().unwrap());
        assert_eq!(run.code, 0, "{run:?}");
        let meta = std::fs::symlink_metadata(&dev).unwrap();
        assert!(meta.file_type().is_char_device(), "{meta:?}");
    } else {
        assert!(!support::running_as_root(), "root could not mknod");
    }
    // A FIFO with a reader: the reader gets the snapshot, the FIFO stays a FIFO.
    let fifo = lab.path("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let run = Run::from(lab.command("snapshot", &["-o", &fifo]).output().unwrap());
    assert_eq!(run.code, 0, "{run:?}");
    let got: Value = serde_json::from_str(&reader.join().unwrap()).unwrap();
    assert_eq!(got["format"], 1);
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    // Nothing else was left in the directory (no temporary file).
    let mut names: Vec<String> = std::fs::read_dir(lab.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected = vec!["pipe".to_string()];
    if made {
        expected.insert(0, "null".to_string());
    }
    assert_eq!(names, expected);
}
