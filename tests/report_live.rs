//! `report` through the real binary against throwaway clusters: the numbers it prints must
//! equal what psql computes from the same views, its settings diff must match `pg_settings`,
//! its sessions must only read, and it must keep passwords and hostile names off the screen.
//!
//! Three clusters, each shared by the checks that cannot disturb one another:
//! - a workload cluster (pgbench plus tables with and without indexes and TOAST, a database
//!   nobody connects to, a second database, a table named with an escape sequence), with
//!   `log_statement = all` so the server log shows every statement the reports sent;
//! - a settings cluster (ALTER SYSTEM, an included file, a change waiting for a restart);
//! - a roles cluster (an unprivileged role, a SCRAM password over TCP, failures).
//!
//! Counters move while we look. User-table counters are stable once the workload's
//! statistics are flushed (autovacuum is off and nothing else reads those tables), so they
//! must equal psql's reading before and after the report, which must agree with each other.
//! The connected database's own row moves with every query, the report's included, so its
//! counters must lie between the two readings and its ratio must be that of its own
//! counters; the rows of databases nobody touches any more must be equal throughout.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;
use support::{Cluster, ClusterOptions};

/// psql reads that must agree before counters are trusted, taken this far apart.
const SETTLE_GAP: Duration = Duration::from_millis(700);
/// Give up waiting for something on the server after this long.
const WAIT_LIMIT: Duration = Duration::from_secs(30);
/// A 300ms statement timeout on a lock held forever must end the run well within this: a
/// hang guard, not a speed measurement (generous so a loaded 2-core machine never flakes).
const STATEMENT_TIMEOUT_GIVE_UP: Duration = Duration::from_secs(180);

/// A hostile table name: an SGR escape (would turn the terminal red) and a right-to-left
/// override (would make the rest of the line read backwards).
const EVIL_NAME: &str = "evil\x1b[31mred\u{202e}";

/// The binary with nothing from the caller's environment that could change where or how it
/// connects: no PG* variables, no colour preference, and a HOME without a password file.
fn bin(home: &Path) -> Command {
    let mut cmd = support::tool(home);
    cmd.env_remove("NO_COLOR");
    cmd
}

/// `-h SOCKET -p PORT -U user -d db`.
fn socket_args(c: &Cluster, db: &str, user: &str) -> Vec<String> {
    c.conn_args(db, user)
}

/// Runs `pgcache-tune report CONN ARGS`.
fn run_report(home: &Path, conn: &[String], args: &[&str]) -> Output {
    bin(home)
        .arg("report")
        .args(conn)
        .args(args)
        .output()
        .unwrap()
}

/// Asserts a silent success and returns stdout.
fn success(out: &Output, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{what} wrote to stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout")
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Asserts a failure: exit `code`, one `error:` line containing `needle`, empty stdout,
/// no panic. Returns stderr.
fn failure(out: &Output, code: i32, needle: &str, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{what}: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{what} wrote to stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
    assert!(stderr.starts_with("error: "), "{what}: {stderr}");
    assert!(stderr.contains(needle), "{what}: {stderr} lacks {needle:?}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    stderr
}

/// psql's answer to `sql` (one JSON value) on `db`.
fn psql_json(c: &Cluster, db: &str, sql: &str) -> Value {
    parse_json(&c.psql(db, sql))
}

/// Two ratios are the same number, or both absent. psql prints a float8 of 1 as `1`, which
/// JSON reads as an integer, so numbers are compared as f64; and serde_json's default float
/// parser may land one ULP off the printed value, so "the same" allows 1e-12, far below
/// any difference a wrong formula would make.
fn same_ratio(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-12,
            _ => false,
        },
    }
}

/// `hit / (hit + read)` as the report must compute it; null without I/O.
fn ratio_of(hit: i64, read: i64) -> Value {
    if hit + read == 0 {
        Value::Null
    } else {
        Value::from(hit as f64 / (hit + read) as f64)
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

/// Polls `sql` on `db` until it answers `want`.
fn wait_for(c: &Cluster, db: &str, sql: &str, want: &str) {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        if c.psql(db, sql) == want {
            return;
        }
        assert!(Instant::now() < deadline, "never got {want:?} from {sql}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// psql's reading of `sql` on `db` once two readings [`SETTLE_GAP`] apart agree (sessions
/// that ended flush their statistics as they exit, a moment after the client returns).
fn settled(c: &Cluster, db: &str, sql: &str) -> String {
    let deadline = Instant::now() + WAIT_LIMIT;
    let mut last = c.psql(db, sql);
    loop {
        std::thread::sleep(SETTLE_GAP);
        let now = c.psql(db, sql);
        if now == last {
            return now;
        }
        assert!(Instant::now() < deadline, "statistics never settled: {sql}");
        last = now;
    }
}

/// A client program from the server's bin dir (or PATH), aimed at the cluster's socket.
fn client(c: &Cluster, program: &str) -> StdCommand {
    let path = c.bin_dir().join(program);
    let mut cmd = StdCommand::new(if path.is_file() {
        path
    } else {
        PathBuf::from(program)
    });
    support::without_pg_env(&mut cmd);
    cmd.arg("-h")
        .arg(c.socket_dir())
        .args(["-p", &c.port().to_string(), "-U", support::SUPERUSER]);
    cmd
}

fn run_ok(mut cmd: StdCommand) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Per-table counters of the connected database with the ratios computed in SQL: heap,
/// index (NULL without an index), TOAST heap and TOAST index apart (NULL without TOAST),
/// each NULL when nothing was hit or read. Plus `pg_table_size`.
const TABLES_SQL: &str = "
    select coalesce(json_agg(json_build_object(
        'schema', schemaname, 'name', relname,
        'heap_blks_hit', heap_blks_hit, 'heap_blks_read', heap_blks_read,
        'heap_hit_ratio', heap_blks_hit::float8 / nullif(heap_blks_hit + heap_blks_read, 0),
        'idx_hit_ratio', idx_blks_hit::float8 / nullif(idx_blks_hit + idx_blks_read, 0),
        'toast_hit_ratio',
            toast_blks_hit::float8 / nullif(toast_blks_hit + toast_blks_read, 0),
        'toast_idx_hit_ratio',
            tidx_blks_hit::float8 / nullif(tidx_blks_hit + tidx_blks_read, 0),
        'has_index', idx_blks_hit is not null,
        'has_toast', toast_blks_hit is not null,
        'size_bytes', pg_table_size(relid))
      order by schemaname, relname), '[]')
    from pg_statio_user_tables";

/// Per-index counters and ratio, plus `pg_relation_size`.
const INDEXES_SQL: &str = "
    select coalesce(json_agg(json_build_object(
        'schema', schemaname, 'table', relname, 'name', indexrelname,
        'idx_blks_hit', idx_blks_hit, 'idx_blks_read', idx_blks_read,
        'hit_ratio', idx_blks_hit::float8 / nullif(idx_blks_hit + idx_blks_read, 0),
        'size_bytes', pg_relation_size(indexrelid))
      order by schemaname, indexrelname), '[]')
    from pg_statio_user_indexes";

/// Every database's `[blks_hit, blks_read, size]`.
const DATABASES_SQL: &str = "
    select json_object_agg(datname, json_build_array(blks_hit, blks_read,
                                                     pg_database_size(datid)))
    from pg_stat_database where datname is not null";

/// Counters of the user tables of a database and of every database but `app`: what must not
/// move between the reads around a report.
const STABLE_SQL: &str = "
    select json_build_object(
      'tables', (select json_agg(json_build_array(relid, heap_blks_hit, heap_blks_read,
                    idx_blks_hit, idx_blks_read, toast_blks_hit, toast_blks_read,
                    tidx_blks_hit, tidx_blks_read) order by relid)
                 from pg_statio_user_tables),
      'databases', (select json_agg(json_build_array(datname, blks_hit, blks_read)
                      order by datname)
                    from pg_stat_database where datname is not null and datname <> 'app'))";

/// The report's row for `schema.name` in section `section`.
fn row<'a>(report: &'a Value, section: &str, db: &str, schema: &str, name: &str) -> &'a Value {
    report[section]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["database"] == db && r["schema"] == schema && r["name"] == name)
        .unwrap_or_else(|| panic!("no {section} row {db}.{schema}.{name} in {report}"))
}

/// The workload cluster: `app` (pgbench at scale 1; `plain` without index or TOAST;
/// `toasted` with out-of-line values; the [`EVIL_NAME`] table), `second` (table
/// `elsewhere`) and `quiet` (created, never connected to). Every table was read after a
/// restart emptied shared_buffers, so ratios are strictly between 0 and 1.
fn workload_cluster(bin: PathBuf) -> Cluster {
    let mut c = Cluster::init(ClusterOptions::new(bin));
    c.conf_append(
        "autovacuum = off\n\
         track_io_timing = on\n\
         log_statement = 'all'\n\
         log_line_prefix = '%m [%p] app=%a db=%d '",
    );
    c.start();
    for db in ["app", "second", "quiet"] {
        c.psql("postgres", &format!("create database {db}"));
    }
    let mut init = client(&c, "pgbench");
    init.args(["-i", "-q", "-s", "1", "app"]);
    run_ok(init);
    c.psql(
        "app",
        "create table plain (a int, b bigint);
         insert into plain select g, g * 2 from generate_series(1, 20000) g;
         create table toasted (id int primary key, doc text);
         alter table toasted alter column doc set storage external;
         insert into toasted
           select g, (select string_agg(md5(g::text || s::text), '') from generate_series(1, 100) s)
           from generate_series(1, 200) g;",
    );
    c.psql(
        "app",
        "do $$ begin
           execute format('create table %I (id int)', E'evil\\x1b[31mred' || chr(8238));
           execute format('insert into %I select generate_series(1, 5000)',
                          E'evil\\x1b[31mred' || chr(8238));
         end $$",
    );
    c.psql(
        "second",
        "create table elsewhere (id int primary key, v text);
         insert into elsewhere select g, md5(g::text) from generate_series(1, 5000) g;",
    );
    c.restart();
    let mut bench = client(&c, "pgbench");
    bench.args(["-n", "-c", "2", "-t", "150", "app"]);
    run_ok(bench);
    c.psql(
        "app",
        "select count(*) from plain;
         select sum(length(doc)) from toasted where id < 150;
         select count(*) from pgbench_accounts where aid between 1 and 30000;",
    );
    c.psql(
        "app",
        "do $$ begin
           execute format('select count(*) from %I', E'evil\\x1b[31mred' || chr(8238));
         end $$",
    );
    c.psql("second", "select count(*) from elsewhere where id < 4000");
    c
}

#[test]
fn workload_ratios_all_databases_names_and_read_only_sessions() {
    let Some(bin) = support::require_pg() else {
        return;
    };
    let c = workload_cluster(bin);
    let home = tempfile::tempdir().unwrap();
    let conn = socket_args(&c, "app", "postgres");

    // Wait for the exited workload sessions to flush their statistics.
    settled(
        &c,
        "second",
        "select json_agg(s order by relid) from pg_statio_user_tables s",
    );
    let stable_before = settled(&c, "app", STABLE_SQL);

    let tables_before = psql_json(&c, "app", TABLES_SQL);
    let indexes_before = psql_json(&c, "app", INDEXES_SQL);
    let dbs_before = psql_json(&c, "app", DATABASES_SQL);
    let out = run_report(
        home.path(),
        &conn,
        &["--format", "json", "--min-blocks", "0", "--limit", "1000"],
    );
    let report = parse_json(&success(&out, "report --format json"));
    let dbs_after = psql_json(&c, "app", DATABASES_SQL);
    let tables_after = psql_json(&c, "app", TABLES_SQL);
    let indexes_after = psql_json(&c, "app", INDEXES_SQL);
    let stable_after = c.psql("app", STABLE_SQL);
    assert_eq!(
        stable_before, stable_after,
        "premise: nothing but the report touched the user tables or the other databases"
    );
    assert_eq!(tables_before, tables_after);
    assert_eq!(indexes_before, indexes_after);

    check_tables(&report, &tables_before);
    check_indexes(&report, &indexes_before);
    check_databases(&report, &dbs_before, &dbs_after);

    // Names reach the JSON raw, and the terminal and Markdown escaped.
    let evil = row(&report, "tables", "app", "public", EVIL_NAME);
    assert!(int(&evil["heap_blks_hit"]) + int(&evil["heap_blks_read"]) > 0);
    for format in ["table", "markdown"] {
        let out = run_report(
            home.path(),
            &conn,
            &["--format", format, "--min-blocks", "0", "--limit", "1000"],
        );
        let text = success(&out, format);
        assert!(!text.contains('\x1b'), "raw ESC in {format} output");
        assert!(!text.contains('\u{202e}'), "raw U+202E in {format} output");
        let visible = match format {
            "table" => "public.evil\\x1b[31mred\\u{202e}",
            _ => "public.evil\\\\x1b\\[31mred\\\\u{202e}",
        };
        assert!(text.contains(visible), "{format} lacks {visible}:\n{text}");
    }

    check_all_databases(&c, home.path(), &conn);
    check_read_only_log(&c);
    check_database_windows(&c, home.path(), &conn);
}

/// `pg_stat_reset()` in `second`: each database row carries its own `stats_reset` as the
/// server reports it and the window counted from it; `second` alone becomes young, and the
/// text says so on its row.
fn check_database_windows(c: &Cluster, home: &Path, conn: &[String]) {
    let before: f64 = c
        .psql("second", "select extract(epoch from now())")
        .parse()
        .unwrap();
    c.psql("second", "select pg_stat_reset()");
    // Before 15 the reset reaches the statistics collector asynchronously.
    wait_for(
        c,
        "second",
        &format!(
            "select coalesce(extract(epoch from stats_reset) >= {before}, false) \
             from pg_stat_database where datname = 'second'"
        ),
        "t",
    );
    let resets = psql_json(
        c,
        "postgres",
        "select json_object_agg(datname, extract(epoch from stats_reset)::float8)
         from pg_stat_database where datname is not null",
    );
    let report = parse_json(&success(
        &run_report(home, conn, &["--format", "json"]),
        "report after pg_stat_reset() in second",
    ));
    for d in report["databases"].as_array().unwrap() {
        let name = d["name"].as_str().unwrap();
        let want = &resets[name];
        match want.as_f64() {
            Some(reset) => {
                let got = d["stats_reset"].as_f64().unwrap_or_else(|| panic!("{d}"));
                assert!((got - reset).abs() < 1e-3, "{name}: {got} vs psql {reset}");
                let age = d["stats_age_seconds"].as_u64().unwrap();
                assert_eq!(d["young"], age < 3_600, "{name}: {d}");
            }
            None => {
                assert!(d["stats_reset"].is_null(), "{name}: {d}");
                assert!(d["stats_age_seconds"].is_null(), "{name}: {d}");
                assert_eq!(d["young"], false, "{name}: never reset is not young");
            }
        }
    }
    let second = report["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "second")
        .unwrap();
    assert_eq!(second["young"], true, "{second}");
    if report["server"]["young"] == false {
        assert!(
            report["findings"].as_array().unwrap().iter().any(|f| {
                f["code"] == "young_statistics"
                    && f["message"]
                        .as_str()
                        .unwrap()
                        .starts_with("statistics of database \"second\"")
            }),
            "{}",
            report["findings"]
        );
    }
    let text = success(&run_report(home, conn, &[]), "table after the reset");
    let line = text
        .lines()
        .find(|l| l.contains("│ second "))
        .unwrap_or_else(|| panic!("no row for second:\n{text}"));
    assert!(line.contains("(young)"), "{line}");
}

/// Every table psql lists is in the report with the same counters, psql's ratios and sizes.
fn check_tables(report: &Value, psql: &Value) {
    let psql = psql.as_array().unwrap();
    let listed: BTreeSet<(String, String)> = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["database"], "app");
            (t["schema"].to_string(), t["name"].to_string())
        })
        .collect();
    let want: BTreeSet<(String, String)> = psql
        .iter()
        .map(|t| (t["schema"].to_string(), t["name"].to_string()))
        .collect();
    assert_eq!(listed, want, "--min-blocks 0 lists every table");
    let mut partial = 0;
    for p in psql {
        let name = p["name"].as_str().unwrap();
        let r = row(report, "tables", "app", p["schema"].as_str().unwrap(), name);
        assert_eq!(r["heap_blks_hit"], p["heap_blks_hit"], "{name}");
        assert_eq!(r["heap_blks_read"], p["heap_blks_read"], "{name}");
        assert_eq!(r["size_bytes"], p["size_bytes"], "{name}");
        for k in [
            "heap_hit_ratio",
            "idx_hit_ratio",
            "toast_hit_ratio",
            "toast_idx_hit_ratio",
        ] {
            assert!(
                same_ratio(&r[k], &p[k]),
                "{name}.{k}: {} vs psql {}",
                r[k],
                p[k]
            );
        }
        if r["heap_hit_ratio"]
            .as_f64()
            .is_some_and(|x| x > 0.0 && x < 1.0)
        {
            partial += 1;
        }
    }
    assert!(
        partial >= 3,
        "the workload should leave tables with 0 < ratio < 1"
    );
    let t = |n: &str| row(report, "tables", "app", "public", n);
    let p = |n: &str| psql.iter().find(|t| t["name"] == n).unwrap();
    // A table without indexes or TOAST: no ratio for either, not 0% and not 100%.
    assert_eq!(p("plain")["has_index"], false);
    assert_eq!(p("plain")["has_toast"], false);
    assert_eq!(t("plain")["idx_hit_ratio"], Value::Null);
    assert_eq!(t("plain")["toast_hit_ratio"], Value::Null);
    assert!(t("plain")["heap_hit_ratio"].is_f64());
    // pgbench_history has no index but a TOAST table nobody reads.
    assert_eq!(t("pgbench_history")["idx_hit_ratio"], Value::Null);
    assert!(t("pgbench_accounts")["idx_hit_ratio"].is_f64());
    assert!(t("toasted")["toast_hit_ratio"].is_f64());
    assert!(t("toasted")["toast_idx_hit_ratio"].is_f64());
}

fn check_indexes(report: &Value, psql: &Value) {
    let psql = psql.as_array().unwrap();
    assert_eq!(report["indexes"].as_array().unwrap().len(), psql.len());
    for p in psql {
        let name = p["name"].as_str().unwrap();
        let r = row(
            report,
            "indexes",
            "app",
            p["schema"].as_str().unwrap(),
            name,
        );
        assert_eq!(r["table"], p["table"], "{name}");
        assert_eq!(r["idx_blks_hit"], p["idx_blks_hit"], "{name}");
        assert_eq!(r["idx_blks_read"], p["idx_blks_read"], "{name}");
        assert_eq!(r["size_bytes"], p["size_bytes"], "{name}");
        assert!(same_ratio(&r["hit_ratio"], &p["hit_ratio"]), "{name}");
    }
}

/// The connected database's counters lie between psql's readings before and after; every
/// other database's equal both. Each ratio is that of the row's own counters.
fn check_databases(report: &Value, before: &Value, after: &Value) {
    let rows = report["databases"].as_array().unwrap();
    let names: BTreeSet<&str> = rows.iter().map(|d| d["name"].as_str().unwrap()).collect();
    let want: BTreeSet<&str> = before
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(names, want);
    for d in rows {
        let name = d["name"].as_str().unwrap();
        let (hit, read) = (int(&d["blks_hit"]), int(&d["blks_read"]));
        let (b, a) = (&before[name], &after[name]);
        if name == "app" {
            assert!(
                int(&b[0]) <= hit && hit <= int(&a[0]),
                "app blks_hit {hit} outside {b} .. {a}"
            );
            assert!(
                int(&b[1]) <= read && read <= int(&a[1]),
                "app blks_read {read} outside {b} .. {a}"
            );
            assert!(hit > 0 && read > 0);
        } else {
            assert_eq!(
                (b[0].clone(), b[1].clone()),
                (a[0].clone(), a[1].clone()),
                "{name}"
            );
            assert_eq!((hit, read), (int(&b[0]), int(&b[1])), "{name}");
            assert_eq!(d["size_bytes"], b[2], "{name} size");
        }
        assert!(
            same_ratio(&d["hit_ratio"], &ratio_of(hit, read)),
            "{name}: {} for {hit}/{read}",
            d["hit_ratio"]
        );
    }
    let quiet = rows.iter().find(|d| d["name"] == "quiet").unwrap();
    assert_eq!((int(&quiet["blks_hit"]), int(&quiet["blks_read"])), (0, 0));
    assert_eq!(quiet["hit_ratio"], Value::Null, "no I/O, no ratio");
}

/// `--all-databases`: relations of `app` and `second`, each labelled with its database,
/// with `second`'s counters and sizes equal to psql's reading there.
fn check_all_databases(c: &Cluster, home: &Path, conn: &[String]) {
    let second = psql_json(c, "second", TABLES_SQL);
    let args = [
        "--all-databases",
        "--min-blocks",
        "0",
        "--limit",
        "1000",
        "--format",
        "json",
    ];
    let report = parse_json(&success(
        &run_report(home, conn, &args),
        "report --all-databases",
    ));
    let visited: BTreeSet<&str> = report["scope"]["visited_databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for db in ["app", "second", "quiet", "postgres", "template1"] {
        assert!(visited.contains(db), "{db} not visited: {visited:?}");
    }
    assert!(
        !visited.contains("template0"),
        "template0 refuses connections"
    );
    let tables = report["tables"].as_array().unwrap();
    for t in tables {
        assert!(visited.contains(t["database"].as_str().unwrap()), "{t}");
    }
    let labelled = |name: &str| -> BTreeSet<&str> {
        tables
            .iter()
            .filter(|t| t["name"] == name)
            .map(|t| t["database"].as_str().unwrap())
            .collect()
    };
    assert_eq!(labelled("elsewhere"), BTreeSet::from(["second"]));
    assert_eq!(labelled("pgbench_accounts"), BTreeSet::from(["app"]));
    let p = &second[0];
    assert_eq!(p["name"], "elsewhere");
    let r = row(&report, "tables", "second", "public", "elsewhere");
    for k in ["heap_blks_hit", "heap_blks_read", "size_bytes"] {
        assert_eq!(r[k], p[k], "elsewhere.{k}");
    }
    for k in ["heap_hit_ratio", "idx_hit_ratio"] {
        assert!(same_ratio(&r[k], &p[k]), "elsewhere.{k}");
    }
    assert!(r["heap_hit_ratio"].is_f64());
    let idx = row(&report, "indexes", "second", "public", "elsewhere_pkey");
    assert!(idx["size_bytes"].as_u64().is_some_and(|n| n > 0));

    // The table view names each row's database.
    let text = success(
        &run_report(home, conn, &args[..5]),
        "report --all-databases (table)",
    );
    let line = text
        .lines()
        .find(|l| l.contains("public.elsewhere"))
        .unwrap_or_else(|| panic!("no elsewhere row:\n{text}"));
    assert!(line.contains("second"), "{line}");
}

/// Everything the reports' sessions sent was SELECT, SET or SHOW, and each session began
/// by making itself read-only.
fn check_read_only_log(c: &Cluster) {
    let log = c.server_log();
    assert!(
        support::logged_statements(&log)
            .iter()
            .any(|s| s.app == "pgbench"),
        "the log should show the workload too; is log_statement on?"
    );
    // Three reports on app, two with --all-databases (app, second, quiet, postgres,
    // template1 each): at least 3 + 2 × 4 other sessions.
    let ours = support::assert_read_only_sessions(&log, 11);
    assert!(ours.iter().any(|s| s.db == "second"));
}

#[test]
fn settings_diff_matches_pg_settings() {
    let Some(bin) = support::require_pg() else {
        return;
    };
    let mut c = Cluster::init(ClusterOptions::new(bin));
    c.conf_append("include 'extra.conf'");
    c.write_data_file(
        "extra.conf",
        "work_mem = '64kB'\nrandom_page_cost = 1.1\nwal_buffers = '1MB'\n",
    );
    c.start();
    c.psql("postgres", "alter system set shared_buffers = '64MB'");
    c.restart();
    c.psql("postgres", "alter system set jit = off");
    // A restart-only change, reloaded: pending until the next restart.
    c.write_data_file(
        "extra.conf",
        "work_mem = '64kB'\nrandom_page_cost = 1.1\nwal_buffers = '2MB'\n",
    );
    c.psql("postgres", "select pg_reload_conf()");
    wait_for(
        &c,
        "postgres",
        "select pending_restart::text || current_setting('jit') from pg_settings \
         where name = 'wal_buffers'",
        "trueoff",
    );

    let home = tempfile::tempdir().unwrap();
    let conn = socket_args(&c, "postgres", "postgres");
    let host = ["--ram", "16GB", "--cpus", "4"];
    let mut args = vec!["--format", "json"];
    args.extend(host);
    let report = parse_json(&success(&run_report(home.path(), &conn, &args), "report"));
    let live = psql_json(
        &c,
        "postgres",
        "select json_object_agg(name, json_build_object('setting', setting,
           'source', source, 'sourcefile', sourcefile, 'sourceline', sourceline,
           'pending_restart', pending_restart, 'context', context))
         from pg_settings",
    );

    let rows = report["settings"].as_array().unwrap();
    let by_name: BTreeMap<&str, &Value> = rows
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s))
        .collect();
    for s in rows {
        let name = s["name"].as_str().unwrap();
        if s["status"] == "missing" {
            assert!(live.get(name).is_none(), "{name} exists");
            continue;
        }
        let p = &live[name];
        assert_eq!(s["source"], p["source"], "{name}.source");
        assert_eq!(s["sourcefile"], p["sourcefile"], "{name}.sourcefile");
        assert_eq!(s["sourceline"], p["sourceline"], "{name}.sourceline");
        assert_eq!(s["pending_restart"], p["pending_restart"], "{name}");
        assert_eq!(
            s["restart_required"],
            p["context"] == "postmaster",
            "{name}.restart_required"
        );
    }

    let s = |name: &str| {
        *by_name
            .get(name)
            .unwrap_or_else(|| panic!("{name} not compared: {rows:#?}"))
    };
    let file = |v: &Value| v["sourcefile"].as_str().unwrap_or("").to_string();

    let sb = s("shared_buffers");
    assert_eq!(sb["live"], "64MB");
    assert_eq!(
        sb["status"], "differs",
        "64MB is far from a quarter of 16GB"
    );
    assert_eq!(sb["restart_required"], true);
    assert_eq!(sb["pending_restart"], false);
    assert_eq!(sb["source"], "configuration file");
    assert!(file(sb).ends_with("/postgresql.auto.conf"), "{sb}");
    assert!(sb["sourceline"].as_i64().is_some_and(|n| n > 0));

    let jit = s("jit");
    assert_eq!(
        (&jit["live"], &jit["status"]),
        (&"off".into(), &"equal".into())
    );
    assert_eq!(jit["restart_required"], false);
    assert!(file(jit).ends_with("/postgresql.auto.conf"), "{jit}");

    let wm = s("work_mem");
    assert_eq!(
        (&wm["live"], &wm["status"]),
        (&"64kB".into(), &"differs".into())
    );
    assert_eq!(wm["restart_required"], false);
    assert!(file(wm).ends_with("/extra.conf"), "{wm}");
    assert_eq!(wm["sourceline"], 1);

    let rpc = s("random_page_cost");
    assert_eq!(
        (&rpc["live"], &rpc["status"]),
        (&"1.1".into(), &"equal".into())
    );
    assert!(file(rpc).ends_with("/extra.conf"), "{rpc}");
    assert_eq!(rpc["sourceline"], 2);

    let wb = s("wal_buffers");
    assert_eq!(wb["live"], "1MB", "the live value until the restart");
    assert_eq!(wb["restart_required"], true);
    assert_eq!(wb["pending_restart"], true);
    assert!(file(wb).ends_with("/extra.conf"), "{wb}");
    assert_eq!(wb["sourceline"], 3);

    let eic = s("effective_io_concurrency");
    assert_eq!(eic["source"], "default");
    assert_eq!(eic["sourcefile"], Value::Null);
    assert_eq!(eic["sourceline"], Value::Null);

    let finding = |code: &str| -> String {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == code)
            .unwrap_or_else(|| panic!("no {code} finding: {}", report["findings"]))["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let alter = finding("alter_system_overrides");
    assert!(
        alter.contains("shared_buffers") && alter.contains("jit"),
        "{alter}"
    );
    assert!(!alter.contains("work_mem"), "{alter}");
    let pending = finding("pending_restart");
    assert!(pending.contains("wal_buffers"), "{pending}");

    // The table shows where each differing value comes from and what changing it takes.
    let mut args = vec!["--format", "table"];
    args.extend(host);
    let text = success(&run_report(home.path(), &conn, &args), "report (table)");
    let line = |name: &str| -> &str {
        text.lines()
            .find(|l| l.contains(&format!(" {name} ")))
            .unwrap_or_else(|| panic!("no {name} row:\n{text}"))
    };
    let sb_line = line("shared_buffers");
    assert!(sb_line.contains("postgresql.auto.conf:"), "{sb_line}");
    assert!(sb_line.contains("restart"), "{sb_line}");
    assert!(line("wal_buffers").contains("pending restart"));
    assert!(line("work_mem").contains("extra.conf:1"));
}

/// A session holding an ACCESS EXCLUSIVE lock on `table` in `db` until it is terminated.
struct Locker {
    child: std::process::Child,
}

impl Locker {
    fn hold(c: &Cluster, db: &str, table: &str) -> Locker {
        let mut cmd = client(c, "psql");
        cmd.env("PGAPPNAME", "locker")
            .args(["-X", "-q", "-d", db, "-c"])
            .arg(format!(
                "begin; lock table {table} in access exclusive mode; select pg_sleep(300)"
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().unwrap();
        wait_for(
            c,
            db,
            &format!(
                "select count(*) from pg_locks l join pg_class r on r.oid = l.relation \
                 where r.relname = '{table}' and l.mode = 'AccessExclusiveLock' and l.granted"
            ),
            "1",
        );
        Locker { child }
    }

    fn release(mut self, c: &Cluster, db: &str) {
        c.psql(
            db,
            "select pg_terminate_backend(pid) from pg_stat_activity \
             where application_name = 'locker'",
        );
        let _ = self.child.wait();
    }
}

#[test]
fn roles_passwords_and_failures() {
    const PASSWORD: &str = "pgct-S3cret-9f2a";
    let Some(bin) = support::require_pg() else {
        return;
    };
    let mut c = Cluster::init(ClusterOptions::new(bin));
    c.conf_append("password_encryption = 'scram-sha-256'");
    c.write_data_file(
        "pg_hba.conf",
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
    );
    c.start();
    c.psql("postgres", "create database app");
    c.psql("postgres", "create database hijack");
    c.psql(
        "postgres",
        &format!("create role peon login; create role alice login password '{PASSWORD}'"),
    );
    c.psql(
        "app",
        "create table locked_t (id int primary key);
         insert into locked_t select generate_series(1, 1000);
         select count(*) from locked_t;",
    );
    let home = tempfile::tempdir().unwrap();
    let home = home.path();

    // A role with nothing but LOGIN and CONNECT gets a report and the one-line GRANT note.
    let peon = socket_args(&c, "app", "peon");
    let report = parse_json(&success(
        &run_report(home, &peon, &["--format", "json"]),
        "report as peon",
    ));
    assert_eq!(report["server"]["user"], "peon");
    let note = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "unprivileged_role")
        .unwrap_or_else(|| panic!("no unprivileged_role finding: {}", report["findings"]));
    let message = note["message"].as_str().unwrap();
    assert!(
        message.starts_with("GRANT pg_monitor TO peon "),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
    assert!(
        report["settings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["sourcefile"].is_null()),
        "peon cannot see source files"
    );
    let table = success(&run_report(home, &peon, &[]), "report as peon");
    assert!(table.contains("GRANT pg_monitor TO peon"), "{table}");

    // --all-databases as peon: the database peon may not connect to is named in notes[],
    // not silently left out; the connected database counts as visited even without tables.
    c.psql("postgres", "create database secret");
    c.psql("postgres", "revoke connect on database secret from public");
    let all = parse_json(&success(
        &run_report(
            home,
            &socket_args(&c, "postgres", "peon"),
            &["--all-databases", "--format", "json"],
        ),
        "report --all-databases as peon",
    ));
    let strings = |v: &'_ Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let visited = strings(&all["scope"]["visited_databases"]);
    assert_eq!(visited[0], "postgres", "the connected one, tables or not");
    assert!(
        visited.iter().any(|d| d == "app") && !visited.iter().any(|d| d == "secret"),
        "{visited:?}"
    );
    let notes = strings(&all["notes"]);
    assert!(
        notes
            .iter()
            .any(|n| n
                .starts_with(r#"database "secret" was not visited: role "peon" may not connect"#)),
        "{notes:?}"
    );
    assert!(!notes.iter().any(|n| n.contains("template0")), "{notes:?}");
    let lone = parse_json(&success(
        &run_report(
            home,
            &socket_args(&c, "postgres", "peon"),
            &["--format", "json"],
        ),
        "report on a database without tables",
    ));
    assert_eq!(
        lone["scope"]["visited_databases"],
        serde_json::json!(["postgres"])
    );
    // Markdown escapes the underscore; the note stays one line.
    let markdown = success(
        &run_report(home, &peon, &["--format", "markdown"]),
        "markdown as peon",
    );
    assert_eq!(
        markdown
            .lines()
            .filter(|l| l.contains("GRANT pg\\_monitor TO peon would add: "))
            .count(),
        1,
        "{markdown}"
    );

    // A password in a URL, over TCP with SCRAM: never printed, whatever happens.
    let url = |user_pw: &str, db: &str| {
        format!("postgresql://alice:{user_pw}@127.0.0.1:{}/{db}", c.port())
    };
    let check_quiet = |out: &Output, what: &str| {
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(
                !text.contains(PASSWORD),
                "{what} printed the password: {text}"
            );
            assert!(
                !text.contains("wrong-pw-7c1e"),
                "{what} printed a password: {text}"
            );
        }
    };
    for format in ["json", "table", "markdown"] {
        let out = run_report(home, &[url(PASSWORD, "app")], &["--format", format]);
        let text = success(&out, "report with a URL password");
        check_quiet(&out, format);
        if format == "json" {
            assert_eq!(parse_json(&text)["server"]["user"], "alice");
        }
    }
    let out = run_report(home, &[url(PASSWORD, "nope")], &[]);
    failure(
        &out,
        69,
        "database \"nope\" does not exist",
        "wrong database",
    );
    check_quiet(&out, "wrong database");
    let out = run_report(home, &[url("wrong-pw-7c1e", "app")], &[]);
    failure(&out, 69, "password authentication failed", "wrong password");
    check_quiet(&out, "wrong password");

    // A missing database through the socket.
    let out = run_report(home, &socket_args(&c, "nope", "postgres"), &[]);
    failure(
        &out,
        69,
        "database \"nope\" does not exist",
        "missing database",
    );

    // A statement timeout: the sizes query waits on a table someone has locked.
    let locker = Locker::hold(&c, "app", "locked_t");
    let started = Instant::now();
    let out = run_report(
        home,
        &socket_args(&c, "app", "postgres"),
        &["--min-blocks", "0", "--statement-timeout", "300ms"],
    );
    let elapsed = started.elapsed();
    locker.release(&c, "app");
    let stderr = failure(&out, 69, "statement timeout", "statement timeout");
    assert!(stderr.contains("--statement-timeout"), "{stderr}");
    // Only "it gave up instead of waiting on the lock forever": the failure above already
    // proves the timeout fired, so the bound is far above any scheduling delay on a shared,
    // loaded machine and cannot flake; speed belongs in bench/.
    assert!(elapsed < STATEMENT_TIMEOUT_GIVE_UP, "took {elapsed:?}");

    // A database owner cannot put their own views in front of the catalog's.
    c.psql(
        "hijack",
        "create schema evil;
         create view evil.pg_stat_database as
           select datid, 'HIJACKED'::name as datname, blks_hit, blks_read, blk_read_time,
                  stats_reset
           from pg_catalog.pg_stat_database;",
    );
    c.psql(
        "hijack",
        "alter database hijack set search_path = evil, pg_catalog",
    );
    assert_ne!(
        c.psql(
            "hijack",
            "select count(*) from pg_stat_database where datname = 'HIJACKED'"
        ),
        "0",
        "premise: the shadowing view wins for an ordinary session"
    );
    let out = run_report(
        home,
        &socket_args(&c, "hijack", "postgres"),
        &["--format", "json"],
    );
    let text = success(&out, "report on hijack");
    assert!(!text.contains("HIJACKED"), "{text}");
    let names: BTreeSet<String> = parse_json(&text)["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = c
        .psql(
            "postgres",
            "select datname from pg_database order by datname",
        )
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(names, want);
}

/// The codes of the counter findings (requested checkpoints, backend writes and fsyncs,
/// evictions, temp files).
const COUNTER_CODES: [&str; 5] = [
    "requested_checkpoints",
    "backend_writes",
    "backend_fsyncs",
    "buffer_evictions",
    "temp_files",
];

/// The report's findings with code `code`.
fn findings_with<'a>(report: &'a Value, code: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .collect()
}

/// A fresh cluster with some ordinary reading and writing: none of the counter findings.
#[test]
fn counter_findings_stay_silent_on_a_quiet_cluster() {
    let Some(bin) = support::require_pg() else {
        return;
    };
    let mut c = Cluster::init(ClusterOptions::new(bin));
    c.start();
    c.psql(
        "postgres",
        "create table t (id int primary key, v text);
         insert into t select g, md5(g::text) from generate_series(1, 5000) g;
         select count(*) from t where id < 2000;
         select v from t order by v limit 5;",
    );
    let home = tempfile::tempdir().unwrap();
    let out = run_report(
        home.path(),
        &socket_args(&c, "postgres", support::SUPERUSER),
        &["--format", "json"],
    );
    let report = parse_json(&success(&out, "report on a quiet cluster"));
    for code in COUNTER_CODES {
        assert!(
            findings_with(&report, code).is_empty(),
            "{code} on a quiet cluster: {}",
            report["findings"]
        );
    }
}

/// Workloads built to trip each counter finding, on one cluster: WAL written under the
/// smallest max_wal_size (1MB WAL segments, so it is 2MB) requests checkpoints; sorts under
/// a 64kB work_mem spill to temporary files; 16 shared buffers (the minimum) make the
/// inserting backend evict and write dirty buffers itself. The findings must fire, with
/// the server's own counts in their text.
#[test]
fn counter_findings_fire_on_workloads_built_for_them() {
    let Some(bin) = support::require_pg() else {
        return;
    };
    let started = Instant::now();
    let mut opts = ClusterOptions::new(bin);
    opts.initdb_args = vec!["--wal-segsize=1".into()];
    let mut c = Cluster::init(opts);
    c.conf_append(
        "max_wal_size = 2MB\n\
         min_wal_size = 2MB\n\
         checkpoint_timeout = 1d\n\
         work_mem = 64kB\n\
         shared_buffers = 128kB\n\
         autovacuum = off",
    );
    c.start();
    let major = c.major();
    // The counters each finding quotes, read the way the tool should read them on this
    // major: [requested, checkpoints in all or performed, backend writes, all writes,
    // evictions (0 before 16)].
    let checkpoints = match major {
        18.. => "(select array[num_requested, num_done] from pg_stat_checkpointer)",
        17 => "(select array[num_requested, num_timed + num_requested] from pg_stat_checkpointer)",
        _ => {
            "(select array[checkpoints_req, checkpoints_timed + checkpoints_req] \
               from pg_stat_bgwriter)"
        }
    };
    let writes = if major >= 16 {
        "(select array[sum(writes) filter (where backend_type = 'client backend'),
                       sum(writes), sum(evictions)]::int8[]
          from pg_stat_io where object = 'relation' and context = 'normal')"
    } else {
        "(select array[buffers_backend, buffers_checkpoint + buffers_clean + buffers_backend, 0]
          from pg_stat_bgwriter)"
    };
    let counters_sql = format!("select array_to_json({checkpoints} || {writes})");
    let counters = |c: &Cluster| -> Vec<i64> {
        psql_json(c, "postgres", &counters_sql)
            .as_array()
            .unwrap()
            .iter()
            .map(int)
            .collect()
    };
    c.psql("postgres", "create table w (id int, pad text)");
    // Checkpoints requested by WAL volume merge while one runs, so write until enough
    // happened rather than guessing a volume.
    let want = 2 * pgcache_tune::diag::MIN_CHECKPOINTS;
    while counters(&c)[0] < want {
        assert!(
            started.elapsed() < WAIT_LIMIT,
            "fewer than {want} requested checkpoints after {WAIT_LIMIT:?}"
        );
        c.psql(
            "postgres",
            "insert into w select g, repeat('x', 500) from generate_series(1, 4000) g",
        );
    }
    // 25 sorts of 100,000 rows, each well past 64kB.
    c.psql(
        "postgres",
        &"select count(*) from (select g from generate_series(1, 100000) g order by g desc) s;\n"
            .repeat(25),
    );
    let temp_sql = "select temp_files from pg_stat_database where datname = 'postgres'";
    wait_for_at_least(&c, temp_sql, 25);
    let temp_files = c.psql("postgres", temp_sql);
    let before = counters(&c);

    let home = tempfile::tempdir().unwrap();
    let out = run_report(
        home.path(),
        &socket_args(&c, "postgres", support::SUPERUSER),
        &["--format", "json"],
    );
    let report = parse_json(&success(&out, "report on the workload cluster"));
    let after = counters(&c);
    let all = &report["findings"];
    // What the report quotes was read between the two psql readings.
    let between = |i: usize, got: i64, text: &str| {
        assert!(
            (before[i]..=after[i]).contains(&got),
            "counter {i}: {got} not within {before:?}..{after:?}: {text}"
        );
    };

    let ckpt = findings_with(&report, "requested_checkpoints");
    assert_eq!(ckpt.len(), 1, "{all}");
    let text = ckpt[0]["message"].as_str().unwrap();
    between(0, number_before(text, " checkpoints requested"), text);
    between(1, number_after(text, "against "), text);
    assert!(text.contains("max_wal_size (2MB)"), "{text}");
    let counter = if major >= 18 {
        "against num_done"
    } else if major >= 17 {
        "num_timed + num_requested"
    } else {
        "checkpoints_req"
    };
    assert!(text.contains(counter), "{text}");

    let temp = findings_with(&report, "temp_files");
    assert_eq!(temp.len(), 1, "{all}");
    let text = temp[0]["message"].as_str().unwrap();
    assert!(
        text.contains(&format!("\"postgres\": {temp_files} temporary files")),
        "{text} vs {temp_files}"
    );
    assert!(text.contains("work_mem = 64kB"), "{text}");

    // The backends' own writes: pg_stat_io from 16, pg_stat_bgwriter.buffers_backend before.
    let writes = findings_with(&report, "backend_writes");
    assert_eq!(writes.len(), 1, "{all}");
    let text = writes[0]["message"].as_str().unwrap();
    let source = if major >= 16 {
        "pg_stat_io"
    } else {
        "buffers_backend"
    };
    assert!(text.contains(source), "{text}");
    between(2, number_after(text, "client backends wrote "), text);
    between(3, number_after(text, " of "), text);
    if major >= 16 {
        let ev = findings_with(&report, "buffer_evictions");
        assert_eq!(ev.len(), 1, "{all}");
        let text = ev[0]["message"].as_str().unwrap();
        assert!(text.contains("shared_buffers of 16 buffers"), "{text}");
        between(4, number_before(text, " buffers were evicted"), text);
    } else {
        assert!(
            findings_with(&report, "buffer_evictions").is_empty(),
            "{all}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the workloads took {:?}",
        started.elapsed()
    );
}

/// Waits until `sql` (one integer) reaches `least`: exited sessions flush their counters
/// a moment later.
fn wait_for_at_least(c: &Cluster, sql: &str, least: i64) {
    let start = Instant::now();
    while c.psql("postgres", sql).parse::<i64>().unwrap() < least {
        assert!(start.elapsed() < WAIT_LIMIT, "{sql} stayed below {least}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A count printed with thousands separators at the start of `s`.
fn count_at(s: &str, text: &str) -> i64 {
    let digits: String = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|e| panic!("{e}: no count at {s:?} in {text}"))
}

/// The count right after the first `marker` in `text`.
fn number_after(text: &str, marker: &str) -> i64 {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in {text}"));
    count_at(&text[at + marker.len()..], text)
}

/// The count right before the first `marker` in `text`.
fn number_before(text: &str, marker: &str) -> i64 {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in {text}"));
    count_at(text[..at].rsplit(' ').next().unwrap(), text)
}
