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
    vec![
        "-h".into(),
        c.socket_dir().display().to_string(),
        "-p".into(),
        c.port().to_string(),
        "-U".into(),
        "postgres".into(),
        "-d".into(),
        db.into(),
    ]
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
