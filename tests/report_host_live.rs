//! `report`'s host-memory findings, buffers section and materialized views, through the real
//! binary against throwaway clusters: the memory safety check on live settings, the
//! `huge_pages = try` fallback, pg_buffercache residency (the test creates the extension as
//! superuser; the tool never does) and materialized view statistics.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{Cluster, ClusterOptions};

/// `-h SOCKET -p PORT -U postgres -d db`.
fn conn(c: &Cluster, db: &str) -> Vec<String> {
    c.conn_args(db, "postgres")
}

/// `report CONN ARGS`, which must succeed silently on stderr; returns stdout.
fn report(home: &Path, c: &Cluster, db: &str, args: &[&str]) -> String {
    let out = support::tool_std(home)
        .arg("report")
        .args(conn(c, db))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "report {args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// `report --format json` as JSON.
fn report_json(home: &Path, c: &Cluster, db: &str, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&report(home, c, db, &all)).unwrap()
}

/// The findings with `code`.
fn findings<'a>(json: &'a Value, code: &str) -> Vec<&'a Value> {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .collect()
}

/// A started cluster with `conf` appended, or `None` when there is no server (skip).
fn cluster(conf: &str) -> Option<Cluster> {
    let bin = support::require_pg()?;
    let mut c = Cluster::init(ClusterOptions::new(bin));
    c.conf_append(conf);
    c.start();
    Some(c)
}

#[test]
fn memory_safety_check_fires_only_for_settings_that_can_exhaust_ram() {
    let Some(c) = cluster("autovacuum = on") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    // The defaults (128MB + 100 × 4MB + 3 × 64MB = 720MB) fit this host.
    let json = report_json(home.path(), &c, "postgres", &[]);
    assert!(json["host"]["ram_bytes"].as_u64().unwrap() > 720 << 20);
    assert!(findings(&json, "memory_overcommit").is_empty(), "{json}");
    // ... but not 512MB given with --ram, and the numbers say why.
    let json = report_json(home.path(), &c, "postgres", &["--ram", "512MB"]);
    let f = findings(&json, "memory_overcommit");
    assert_eq!(f.len(), 1, "{json}");
    let m = f[0]["message"].as_str().unwrap();
    assert!(
        m.contains("shared_buffers 128MB + 100 connections × work_mem 4MB × 1 + 3 autovacuum workers × 64MB")
            && m.contains("more than the 512 MiB of RAM")
            && m.contains("given (--ram)"),
        "{m}"
    );
    // 100 connections × 100GB of work_mem overflow any host, probed as local.
    c.psql("postgres", "alter system set work_mem = '100GB'");
    c.psql("postgres", "select pg_reload_conf()");
    let json = report_json(home.path(), &c, "postgres", &[]);
    let f = findings(&json, "memory_overcommit");
    assert_eq!(f.len(), 1, "{json}");
    let m = f[0]["message"].as_str().unwrap();
    assert!(
        m.contains("100 connections × work_mem 100GB") && m.contains("this host"),
        "{m}"
    );
    let table = report(home.path(), &c, "postgres", &[]);
    assert!(table.contains("memory can run out"), "{table}");
}

/// Huge pages free on this machine, in kB (`HugePages_Free × Hugepagesize`).
fn free_huge_pages_kb() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let field = |key: &str| {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(key)?.split_whitespace().next()?.parse().ok())
            .unwrap_or(0u64)
    };
    field("HugePages_Free:") * field("Hugepagesize:")
}

#[test]
fn huge_pages_try_that_fell_back_is_reported() {
    // 2GB of shared_buffers (where the recommendation asks for huge pages), try: the
    // server starts on normal pages when the kernel has too few huge pages reserved.
    if free_huge_pages_kb() >= 3 << 20 {
        support::skip_unless_ci("this host has huge pages reserved, so try would get them");
        return;
    }
    let Some(c) = cluster("shared_buffers = 2GB\nhuge_pages = try") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let json = report_json(home.path(), &c, "postgres", &[]);
    let f = findings(&json, "huge_pages_fallback");
    assert_eq!(f.len(), 1, "{json}");
    let m = f[0]["message"].as_str().unwrap();
    if c.major() >= 17 {
        assert!(m.contains("huge_pages_status = off"), "{m}");
    } else {
        // Before 17: the postmaster's own mappings, read on this host.
        let pid = c.postmaster_pid().unwrap();
        assert!(
            m.contains(&format!("/proc/{pid}/smaps")) && m.contains("HugePages_Total"),
            "{m}"
        );
    }
    assert!(m.contains("shared_buffers 2GB"), "{m}");

    // The default 128MB is too small for huge pages to matter: no word about them.
    let Some(small) = cluster("huge_pages = try") else {
        return;
    };
    let json = report_json(home.path(), &small, "postgres", &[]);
    assert!(findings(&json, "huge_pages_fallback").is_empty(), "{json}");
}

/// Waits until `sql` (one value) prints `want` on `db`: statistics reach the views a little
/// after the statement that moved them (at session end, or through the collector before 15).
fn wait_for(c: &Cluster, db: &str, sql: &str, want: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while c.psql(db, sql) != want {
        assert!(
            std::time::Instant::now() < deadline,
            "{sql} never gave {want}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The string values of a JSON array.
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn buffers_section_comes_from_pg_buffercache_only_where_it_exists() {
    let Some(c) = cluster("autovacuum = off") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    c.psql(
        "postgres",
        "create table hot as select g, repeat('x', 200) as pad from generate_series(1, 20000) g;
         select count(*) from hot;",
    );
    // No extension: no section, and the note says how to get one. The tool creates nothing.
    let json = report_json(home.path(), &c, "postgres", &[]);
    assert!(json.get("buffers").is_none(), "{json}");
    let notes = strings(&json["notes"]);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("CREATE EXTENSION pg_buffercache;") && n.contains("pg_monitor")),
        "{notes:?}"
    );
    assert_eq!(
        c.psql(
            "postgres",
            "select count(*) from pg_extension where extname = 'pg_buffercache'"
        ),
        "0"
    );

    // The test (as superuser) creates it.
    c.psql("postgres", "create extension pg_buffercache");
    let json = report_json(home.path(), &c, "postgres", &[]);
    let b = &json["buffers"];
    let total = b["buffers_total"].as_i64().unwrap();
    assert_eq!(total, 16_384, "128MB of 8kB buffers: {b}");
    assert_eq!(
        b["used"].as_i64().unwrap() + b["unused"].as_i64().unwrap(),
        total
    );
    let by_count: i64 = b["usage_counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["buffers"].as_i64().unwrap())
        .sum();
    assert_eq!(by_count, total, "the distribution covers every buffer: {b}");
    let rels = b["relations"]
        .as_array()
        .expect("the scan ran within the guard");
    let hot = rels
        .iter()
        .find(|r| r["name"] == "hot")
        .unwrap_or_else(|| panic!("hot is cached: {b}"));
    assert_eq!(hot["schema"], "public");
    assert_eq!(hot["kind"], "table");
    // Nothing touches hot any more, so psql counts the same buffers.
    let psql_buffers = c.psql(
        "postgres",
        "select count(*) from pg_buffercache b
         where b.relfilenode = pg_relation_filenode('hot')
           and b.reldatabase = (select oid from pg_database where datname = current_database())",
    );
    assert_eq!(hot["buffers"].as_i64().unwrap().to_string(), psql_buffers);
    // Read end to end moments ago, and small next to shared_buffers: all of it resident.
    let resident = hot["resident_ratio"].as_f64().unwrap();
    assert!(resident > 0.95, "{hot}");
    let size: i64 = c
        .psql(
            "postgres",
            "select pg_relation_size('hot', 'main') + pg_relation_size('hot', 'fsm')
                    + pg_relation_size('hot', 'vm')",
        )
        .parse()
        .unwrap();
    assert_eq!(hot["size_bytes"].as_i64().unwrap(), size);

    for format in ["table", "markdown"] {
        let text = report(home.path(), &c, "postgres", &["--format", format]);
        for needle in ["Buffers by relation", "public.hot", "Buffer usage counts"] {
            assert!(text.contains(needle), "{format}: {needle}\n{text}");
        }
    }

    // A role without pg_monitor is told the grant; with it, it sees the section.
    c.psql("postgres", "create role peon login");
    let json = report_json_as(home.path(), &c, "peon");
    assert!(json.get("buffers").is_none());
    assert!(
        strings(&json["notes"])
            .iter()
            .any(|n| n.contains("GRANT pg_monitor TO peon;")),
        "{json}"
    );
    c.psql("postgres", "grant pg_monitor to peon");
    let json = report_json_as(home.path(), &c, "peon");
    assert!(json["buffers"]["relations"].is_array(), "{json}");
}

/// `report --format json` on database postgres as role `user`, which must succeed.
fn report_json_as(home: &Path, c: &Cluster, user: &str) -> Value {
    let mut args = conn(c, "postgres");
    args[5] = user.to_owned();
    let out = support::tool_std(home)
        .arg("report")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "report as {user}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn large_shared_buffers_need_buffers_scan_for_the_per_buffer_scan() {
    // 9GB is above the 8GB guard. The kernel backs shared memory lazily, so the cluster
    // costs little real memory.
    let Some(c) = cluster("shared_buffers = 9GB\nhuge_pages = off") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    c.psql("postgres", "create extension pg_buffercache");
    let json = report_json(home.path(), &c, "postgres", &[]);
    let notes = strings(&json["notes"]);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("--buffers-scan") && n.contains("9 GiB")),
        "{notes:?}"
    );
    if c.major() >= 16 {
        // The summary functions are cheap and still run.
        assert_eq!(json["buffers"]["buffers_total"], 9 * 131_072, "{json}");
        assert!(json["buffers"]["relations"].is_null(), "{json}");
    } else {
        // Before 16 every figure needs the per-buffer view.
        assert!(json.get("buffers").is_none(), "{json}");
    }
    let json = report_json(home.path(), &c, "postgres", &["--buffers-scan"]);
    assert!(json["buffers"]["relations"].is_array(), "{json}");
    assert_eq!(json["buffers"]["buffers_total"], 9 * 131_072);
}

#[test]
fn materialized_views_with_size_reads_and_scans() {
    let Some(c) = cluster("autovacuum = off") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let json = report_json(home.path(), &c, "postgres", &[]);
    assert!(json.get("materialized_views").is_none(), "none yet: {json}");
    c.psql(
        "postgres",
        "create table base as select g, g % 10 as k from generate_series(1, 50000) g;
         create materialized view mv_used as select k, count(*) as n from base group by k;
         create materialized view mv_idle as select g from base where g < 1000;
         create materialized view mv_empty as select 1 as one with no data;",
    );
    c.psql("postgres", "select sum(n) from mv_used");
    c.psql("postgres", "select sum(n) from mv_used");
    c.psql(
        "postgres",
        "create materialized view mv_indexed as select g from base;
         create index mv_indexed_g on mv_indexed (g);",
    );
    c.psql(
        "postgres",
        "set enable_seqscan = off; select g from mv_indexed where g = 5;",
    );
    wait_for(
        &c,
        "postgres",
        "select idx_scan from pg_stat_user_tables where relname = 'mv_indexed'",
        "1",
    );
    wait_for(
        &c,
        "postgres",
        "select seq_scan from pg_stat_user_tables where relname = 'mv_used'",
        "2",
    );
    let json = report_json(home.path(), &c, "postgres", &[]);
    let views = json["materialized_views"].as_array().unwrap();
    let find = |name: &str| {
        views
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{name} listed: {json}"))
    };
    let used = find("mv_used");
    assert_eq!(used["seq_scan"], 2);
    assert_eq!(used["ever_scanned"], true);
    assert_eq!(used["database"], "postgres");
    let idle = find("mv_idle");
    assert_eq!(idle["ever_scanned"], false);
    assert_eq!(idle["seq_scan"], 0);
    assert!(idle["idx_scan"].is_null(), "no indexes: {idle}");
    let size: u64 = c
        .psql("postgres", "select pg_total_relation_size('mv_idle')")
        .parse()
        .unwrap();
    assert_eq!(idle["size_bytes"].as_u64().unwrap(), size);
    // Every counter as pg_stat_user_tables and pg_statio_user_tables show it (the tool
    // computes them for materialized views only; nothing reads them any more).
    for name in ["mv_used", "mv_idle", "mv_indexed"] {
        let row = c.psql(
            "postgres",
            &format!(
                "select s.seq_scan, coalesce(s.idx_scan::text, 'null'), io.heap_blks_hit,
                        io.heap_blks_read, coalesce(io.idx_blks_hit::text, 'null'),
                        coalesce(io.idx_blks_read::text, 'null')
                 from pg_stat_user_tables s join pg_statio_user_tables io using (relid)
                 where s.relname = '{name}'"
            ),
        );
        let v = find(name);
        let tool = [
            "seq_scan",
            "idx_scan",
            "heap_blks_hit",
            "heap_blks_read",
            "idx_blks_hit",
            "idx_blks_read",
        ]
        .map(|k| v[k].to_string())
        .join("|");
        assert_eq!(tool, row, "{name}");
    }
    assert_eq!(find("mv_indexed")["ever_scanned"], true);
    let empty = find("mv_empty");
    assert_eq!(empty["populated"], false);
    // Largest first.
    let sizes: Vec<u64> = views
        .iter()
        .map(|v| v["size_bytes"].as_u64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");

    // --all-databases lists the other databases' views too, each under its database.
    c.psql("postgres", "create database second");
    c.psql(
        "second",
        "create materialized view mv_second as select g from generate_series(1, 10) g",
    );
    let json = report_json(home.path(), &c, "postgres", &["--all-databases"]);
    let views = json["materialized_views"].as_array().unwrap();
    let second: Vec<&Value> = views.iter().filter(|v| v["name"] == "mv_second").collect();
    assert_eq!(second.len(), 1, "{json}");
    assert_eq!(second[0]["database"], "second");
    assert_eq!(
        views.iter().filter(|v| v["name"] == "mv_used").count(),
        1,
        "the connected database's views once: {json}"
    );
    let json = report_json(home.path(), &c, "postgres", &[]);
    assert!(
        !json["materialized_views"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "mv_second"),
        "only the connected database without --all-databases"
    );

    for format in ["table", "markdown"] {
        let text = report(home.path(), &c, "postgres", &["--format", format]);
        assert!(text.contains("Materialized views"), "{text}");
        // Markdown escapes the underscore.
        let name = if format == "markdown" {
            "public.mv\\_idle"
        } else {
            "public.mv_idle"
        };
        assert!(text.contains(name), "{text}");
        assert!(text.contains("never (not populated)"), "{text}");
    }
}
