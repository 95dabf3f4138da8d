//! `explain` through the real binary against a throwaway cluster with a small
//! `shared_buffers` (16MB) and a table several times its size:
//! - a sequential scan of that table names the Seq Scan node, its reads and the large scan;
//! - an index lookup names the index and no large scan;
//! - refused statements never reach the server (the server log shows no session of theirs);
//! - what slips past the gate (a writing function, `nextval`) is stopped by the read-only
//!   transaction, and the session sends only the statements the read-only design allows.

mod support;

use std::process::Stdio;

use serde_json::Value;
use support::{Cluster, ClusterOptions, Run};

const DB: &str = "app";
/// About 14 rows of 500 bytes per 8kB block: ~8,600 blocks, 4× a 16MB shared_buffers.
const BIG_ROWS: u32 = 120_000;
const LOOKUP_ROWS: u32 = 20_000;
/// A hostile table name: an SGR escape and a right-to-left override.
const EVIL_NAME: &str = "evil\x1b[31mred\u{202e}";

struct Lab {
    cluster: Cluster,
    dir: tempfile::TempDir,
    big_blocks: i64,
    big_bytes: i64,
}

impl Lab {
    fn new() -> Option<Lab> {
        let bin = support::require_pg()?;
        let mut cluster = Cluster::init(ClusterOptions::new(bin));
        // No parallel workers: each scan reads each block exactly once, in one process.
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
                 create table lookup (id int primary key, v text);
                 insert into lookup select g, md5(g::text) from generate_series(1, {LOOKUP_ROWS}) g;
                 create sequence s;
                 create table \"{EVIL_NAME}\" as select g from generate_series(1, 10) g;
                 create function sneaky() returns bigint language sql as 'delete from big where g = 1 returning 1::bigint';
                 select count(*) from big;"
            ),
        );
        // Hint bits set and statistics fresh, so the explained scans only read.
        cluster.psql(DB, "vacuum analyze big, lookup");
        // The gate lexes '…' with standard_conforming_strings on; the database says off.
        cluster.psql(
            "postgres",
            &format!("alter database {DB} set standard_conforming_strings = off"),
        );
        let int = |sql: &str| -> i64 { cluster.psql(DB, sql).trim().parse().unwrap() };
        let big_bytes = int("select pg_relation_size('big')");
        let big_blocks = big_bytes / 8192;
        let buffers = int("select setting::int8 from pg_settings where name = 'shared_buffers'");
        assert!(
            big_blocks >= 3 * buffers,
            "big ({big_blocks} blocks) must dwarf shared_buffers ({buffers})"
        );
        Some(Lab {
            cluster,
            dir: tempfile::tempdir().unwrap(),
            big_blocks,
            big_bytes,
        })
    }

    /// `pgcache-tune explain -h SOCKET -p PORT -U postgres app ARGS…`.
    fn explain(&self, args: &[&str]) -> Run {
        let mut cmd = support::tool_std(self.dir.path());
        cmd.arg("explain")
            .args(["-h", self.cluster.socket_dir().to_str().unwrap()])
            .args(["-p", &self.cluster.port().to_string()])
            .args(["-U", support::SUPERUSER, DB])
            .args(args)
            .stdin(Stdio::null());
        Run::from(cmd.output().unwrap())
    }

    fn json(&self, statement: &str) -> Value {
        let run = self.explain(&[statement, "--format", "json"]);
        assert_eq!(run.code, 0, "{run:?}");
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"))
    }

    fn big_rows(&self) -> i64 {
        self.cluster
            .psql(DB, "select count(*) from big")
            .trim()
            .parse()
            .unwrap()
    }

    /// Backend PIDs of our sessions so far.
    fn our_sessions(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = support::logged_statements(&self.cluster.server_log())
            .into_iter()
            .filter(|s| s.app == "pgcache-tune")
            .map(|s| s.pid)
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }
}

fn node<'a>(doc: &'a Value, node_type: &str) -> &'a Value {
    doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_type"] == node_type)
        .unwrap_or_else(|| panic!("no {node_type} node in {doc:#}"))
}

/// One of our SQL files: comment lines, then a select.
fn our_query(sql: &str) -> bool {
    // The server log indents continuation lines with a tab.
    let body: Vec<&str> = sql
        .lines()
        .map(str::trim_start)
        .skip_while(|l| l.starts_with("-- "))
        .collect();
    body.first().is_some_and(|l| l.starts_with("select "))
}

#[test]
fn explain_names_the_reading_node_refuses_writes_and_only_reads() {
    let Some(lab) = Lab::new() else { return };

    // A sequential scan of a table 4× shared_buffers: every block is touched once, and
    // most come from outside shared_buffers (a scan this large uses a small ring buffer).
    let doc = lab.json("SELECT count(*) FROM big");
    let scan = node(&doc, "Seq Scan");
    assert_eq!(scan["relation"], "public.big", "{doc:#}");
    assert_eq!(scan["relation_bytes"], lab.big_bytes, "{doc:#}");
    let own = &scan["exclusive"];
    let (hit, read) = (
        own["shared_hit"].as_i64().unwrap(),
        own["shared_read"].as_i64().unwrap(),
    );
    assert_eq!(hit + read, lab.big_blocks, "each block once: {doc:#}");
    assert!(read > lab.big_blocks / 2, "mostly read: {doc:#}");
    assert_eq!(doc["top_reader"], scan["id"], "{doc:#}");
    assert_eq!(doc["large_scans"][0]["relation"], "public.big", "{doc:#}");
    assert_eq!(doc["large_scans"][0]["shared_read"], read, "{doc:#}");
    assert_eq!(doc["shared_buffers_bytes"], 16 << 20, "{doc:#}");
    // The aggregate above it read nothing itself: own = its inclusive minus the scan's.
    let agg = node(&doc, "Aggregate");
    assert_eq!(agg["inclusive"]["shared_read"], read, "{doc:#}");
    assert_eq!(agg["exclusive"]["shared_read"], 0, "{doc:#}");
    assert_eq!(doc["execution_buffers"]["shared_read"], read);
    assert!(
        doc["planning_buffers"].is_object(),
        "13+ show planning: {doc:#}"
    );
    assert!(doc["execution_ms"].as_f64().unwrap() > 0.0);

    // The same as a table: the node, the relation and the verdicts in words.
    let run = lab.explain(&["SELECT count(*) FROM big"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("-> Seq Scan"), "{}", run.stdout);
    // (Another run: its reads differ from the JSON run's by what the ring buffer left.)
    let reads_most = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Reads most:"))
        .unwrap_or_else(|| panic!("{}", run.stdout))
        .replace(',', "");
    assert!(
        reads_most.contains("Reads most: #1 Seq Scan on public.big: "),
        "{reads_most}"
    );
    assert!(
        run.stdout
            .contains("Large sequential scan: #1 Seq Scan on public.big"),
        "{}",
        run.stdout
    );
    let md = lab.explain(&["TABLE big", "--format", "markdown"]);
    assert_eq!(md.code, 0, "{md:?}");
    assert!(md.stdout.starts_with("## pgcache-tune explain"), "{md:?}");
    assert!(md.stdout.contains("| Seq Scan | public.big"), "{md:?}");

    // An index lookup: the index is named, nothing is a large scan.
    let doc = lab.json("SELECT v FROM lookup WHERE id = 42");
    let index = node(&doc, "Index Scan");
    assert_eq!(index["relation"], "public.lookup", "{doc:#}");
    assert_eq!(index["index"], "lookup_pkey", "{doc:#}");
    assert_eq!(index["rows_per_loop"], 1.0, "{doc:#}");
    assert_eq!(doc["large_scans"], Value::Array(vec![]), "{doc:#}");
    let own = &index["exclusive"];
    assert!(
        own["shared_hit"].as_i64().unwrap() + own["shared_read"].as_i64().unwrap() >= 2,
        "an index page and a heap page: {doc:#}"
    );

    // The statement from a file and from standard input.
    let file = lab.dir.path().join("q.sql");
    std::fs::write(&file, "-- the hot lookup\nVALUES (1), (2);\n").unwrap();
    let run = lab.explain(&["--file", file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("\"Values Scan\""), "{run:?}");

    // Refused before connecting: exit 64, one line on stderr, nothing on stdout, and the
    // server never sees a session for them.
    let sessions = lab.our_sessions();
    for bad in [
        "SELECT 1; DELETE FROM big",
        "WITH d AS (DELETE FROM big RETURNING *) SELECT count(*) FROM d",
        "DELETE FROM big",
        "SELECT * FROM big FOR UPDATE",
        "SELECT * INTO copy_of_big FROM big",
        "SELECT 1 -- harmless\n; DELETE FROM big",
    ] {
        let run = lab.explain(&[bad]);
        assert_eq!(run.code, 64, "{bad}: {run:?}");
        assert!(run.stdout.is_empty(), "{bad}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{bad}: {run:?}");
        assert!(run.stderr.contains("explain accepts one SELECT"), "{run:?}");
    }
    assert_eq!(
        lab.our_sessions(),
        sessions,
        "a refused statement connected"
    );
    let log = lab.cluster.server_log();
    assert!(
        !log.contains("DELETE FROM big"),
        "reached the server: {log}"
    );

    // What the gate lets through (functions may write) the read-only transaction stops.
    for (sneaky, why) in [
        ("SELECT sneaky()", "read-only transaction"),
        ("SELECT nextval('s')", "read-only transaction"),
    ] {
        let run = lab.explain(&[sneaky]);
        assert_eq!(run.code, 69, "{sneaky}: {run:?}");
        assert!(run.stderr.contains(why), "{sneaky}: {run:?}");
        assert!(run.stdout.is_empty(), "{run:?}");
    }
    assert_eq!(lab.big_rows(), i64::from(BIG_ROWS), "nothing was deleted");

    // A hostile relation name is raw in JSON, visible but harmless in the table and Markdown.
    let evil = format!("SELECT * FROM \"{EVIL_NAME}\"");
    let doc = lab.json(&evil);
    assert_eq!(
        node(&doc, "Seq Scan")["relation"],
        format!("public.{EVIL_NAME}")
    );
    for format in ["table", "markdown"] {
        let run = lab.explain(&[&evil, "--format", format]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            !run.stdout.contains('\x1b') && !run.stdout.contains('\u{202e}'),
            "{run:?}"
        );
        // Markdown escapes the escape's backslash once more.
        assert!(
            run.stdout.contains("\\x1b[31mred") || run.stdout.contains("\\x1b\\[31mred"),
            "{run:?}"
        );
    }

    // The server reads literals as the gate did, whatever the database's setting: with
    // standard_conforming_strings off this would be a literal, a DELETE and a comment.
    let doc = lab.json("SELECT 'a\\' , ' ; DELETE FROM big; --'");
    assert_eq!(doc["nodes"][0]["node_type"], "Result", "{doc:#}");
    assert_eq!(lab.big_rows(), i64::from(BIG_ROWS));

    // The statement timeout applies to the explained statement.
    let run = lab.explain(&["SELECT pg_sleep(10)", "--statement-timeout", "300ms"]);
    assert_eq!(run.code, 69, "{run:?}");
    assert!(run.stderr.contains("statement timeout"), "{run:?}");

    // Every session began read-only, every transaction was read-only and rolled back, and
    // nothing but the explained statements, SET and SELECT was sent.
    let ours: Vec<support::Logged> = support::logged_statements(&lab.cluster.server_log())
        .into_iter()
        .filter(|s| s.app == "pgcache-tune")
        .collect();
    let mut firsts = std::collections::BTreeMap::new();
    for s in &ours {
        firsts.entry(s.pid).or_insert(s.sql.as_str());
    }
    assert!(firsts.len() >= 8, "{ours:#?}");
    for (pid, first) in &firsts {
        assert!(
            first.starts_with("SET default_transaction_read_only = on;"),
            "session {pid} began with {first:?}"
        );
    }
    let explain_prefix = "EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON)\n";
    for s in &ours {
        let sql = s.sql.as_str();
        let allowed = sql.starts_with("SET default_transaction_read_only = on;")
            || sql.starts_with("BEGIN READ ONLY; SET LOCAL statement_timeout = ")
            || sql == "SET LOCAL search_path = pg_catalog, pg_temp"
            || sql == "ROLLBACK"
            || our_query(sql)
            // The server log indents continuation lines with a tab.
            || sql.strip_prefix(explain_prefix).is_some_and(|q| {
                let q = q.trim_start();
                ["SELECT ", "TABLE ", "-- the hot lookup"]
                    .iter()
                    .any(|p| q.starts_with(p))
            });
        assert!(allowed, "session {} sent {sql:?}", s.pid);
        assert!(!sql.to_lowercase().contains("commit"), "{sql:?}");
    }
    let begins = ours
        .iter()
        .filter(|s| s.sql.starts_with("BEGIN READ ONLY"))
        .count();
    let rollbacks = ours.iter().filter(|s| s.sql == "ROLLBACK").count();
    assert_eq!(
        begins, rollbacks,
        "every transaction rolled back: {ours:#?}"
    );
    assert!(begins >= 8, "{ours:#?}");
}
