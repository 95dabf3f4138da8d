//! Tests of the findings: each one triggered, and not triggered just across its threshold.

use crate::diag::testdata::{self, NOW};
use crate::diag::{DiagOptions, Finding, HostContext, Severity, diagnose};
use crate::facts::{ScanCounts, StatsSnapshot};

fn findings_for(snap: &StatsSnapshot, host: &HostContext) -> Vec<Finding> {
    diagnose(snap, host, &DiagOptions::default()).findings
}

fn codes(snap: &StatsSnapshot, host: &HostContext) -> Vec<String> {
    findings_for(snap, host)
        .into_iter()
        .map(|f| f.code)
        .collect()
}

fn find<'a>(fs: &'a [Finding], code: &str) -> Vec<&'a Finding> {
    fs.iter().filter(|f| f.code == code).collect()
}

fn set(snap: &mut StatsSnapshot, name: &str, value: &str) {
    snap.settings
        .iter_mut()
        .find(|s| s.name == name)
        .unwrap()
        .setting = value.to_owned();
}

/// Gives every database the same ratio over plenty of blocks.
fn all_ratios(snap: &mut StatsSnapshot, hit: i64, read: i64) {
    for d in &mut snap.databases {
        d.blks_hit = hit;
        d.blks_read = read;
    }
}

#[test]
fn realistic_snapshot_raises_the_expected_findings_critical_first() {
    let snap = testdata::snapshot();
    let fs = findings_for(&snap, &testdata::host_16g());
    let codes: Vec<&str> = fs.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "low_db_hit_ratio",
            "raise_shared_buffers",
            "low_db_hit_ratio",
            "table_dominates_reads",
            "reads_from_storage",
            "pending_restart",
            "alter_system_overrides",
        ]
    );
    for w in fs.windows(2) {
        assert!(w[0].severity <= w[1].severity);
    }
    let low = find(&fs, "low_db_hit_ratio");
    assert_eq!(low[0].severity, Severity::Critical);
    assert!(
        low[0].message.contains("\"analytics\""),
        "{}",
        low[0].message
    );
    assert!(low[0].message.contains("84.75%"), "{}", low[0].message);
    assert!(
        low[0].message.contains("5,900,000 blocks"),
        "{}",
        low[0].message
    );
    assert_eq!(low[1].severity, Severity::Warning);
    assert!(low[1].message.contains("98.77%"), "{}", low[1].message);
    let raise = find(&fs, "raise_shared_buffers")[0];
    assert!(
        raise
            .message
            .starts_with("raise shared_buffers from 128MB (0.78% of 16 GiB RAM) to 4GB (25% of"),
        "{}",
        raise.message
    );
    let events = find(&fs, "table_dominates_reads")[0];
    assert!(
        events.message.contains("public.events"),
        "{}",
        events.message
    );
    assert!(events.message.contains("73.70%"), "{}", events.message);
    assert!(
        find(&fs, "pending_restart")[0]
            .message
            .contains("shared_buffers")
    );
    assert!(
        find(&fs, "alter_system_overrides")[0]
            .message
            .contains("for work_mem")
    );
}

#[test]
fn ratio_thresholds_are_exclusive() {
    let mut snap = testdata::snapshot();
    all_ratios(&mut snap, 990_000, 10_000);
    let c = codes(&snap, &testdata::host_16g());
    assert!(
        !c.contains(&"low_db_hit_ratio".to_owned()),
        "99.00% is fine"
    );
    assert!(!c.contains(&"raise_shared_buffers".to_owned()));
    all_ratios(&mut snap, 900_000, 100_000);
    let fs = findings_for(&snap, &testdata::host_16g());
    assert!(
        find(&fs, "low_db_hit_ratio")
            .iter()
            .all(|f| f.severity == Severity::Warning)
    );
    assert_eq!(
        find(&fs, "raise_shared_buffers")[0].severity,
        Severity::Warning
    );
    all_ratios(&mut snap, 899_999, 100_001);
    let fs = findings_for(&snap, &testdata::host_16g());
    assert!(
        find(&fs, "low_db_hit_ratio")
            .iter()
            .all(|f| f.severity == Severity::Critical)
    );
}

#[test]
fn databases_below_the_floor_raise_nothing() {
    let mut snap = testdata::snapshot();
    all_ratios(&mut snap, 500, 499);
    assert!(!codes(&snap, &testdata::host_16g()).contains(&"low_db_hit_ratio".to_owned()));
    // Over --min-blocks but under the database floor: still nothing.
    all_ratios(&mut snap, 5_000, 4_999);
    assert!(!codes(&snap, &testdata::host_16g()).contains(&"low_db_hit_ratio".to_owned()));
    all_ratios(&mut snap, 5_000, 5_000);
    assert!(codes(&snap, &testdata::host_16g()).contains(&"low_db_hit_ratio".to_owned()));
}

#[test]
fn no_shared_buffers_advice_without_ram() {
    let snap = testdata::snapshot();
    let c = codes(&snap, &testdata::host_unknown());
    assert!(c.contains(&"low_db_hit_ratio".to_owned()));
    assert!(!c.contains(&"raise_shared_buffers".to_owned()));
}

#[test]
fn no_raise_when_shared_buffers_is_already_a_quarter() {
    let mut snap = testdata::snapshot();
    set(&mut snap, "shared_buffers", "524288"); // 4GB of 16GB
    assert!(!codes(&snap, &testdata::host_16g()).contains(&"raise_shared_buffers".to_owned()));
}

#[test]
fn large_shared_buffers_is_flagged_above_forty_percent() {
    let mut snap = testdata::snapshot();
    set(&mut snap, "shared_buffers", "1048576"); // 8GB of 16GB
    let fs = findings_for(&snap, &testdata::host_16g());
    let large = find(&fs, "shared_buffers_large");
    assert_eq!(large.len(), 1);
    assert!(large[0].message.contains("8GB"), "{}", large[0].message);
    assert!(large[0].message.contains("50.00%"), "{}", large[0].message);
    assert!(
        large[0].message.contains("4GB is recommended"),
        "{}",
        large[0].message
    );
    set(&mut snap, "shared_buffers", "786432"); // 6GB: 37.5%
    assert!(!codes(&snap, &testdata::host_16g()).contains(&"shared_buffers_large".to_owned()));
    set(&mut snap, "shared_buffers", "1048576");
    assert!(!codes(&snap, &testdata::host_unknown()).contains(&"shared_buffers_large".to_owned()));
}

#[test]
fn effective_cache_size_below_shared_buffers() {
    let mut snap = testdata::snapshot();
    set(&mut snap, "shared_buffers", "262144"); // 2GB
    set(&mut snap, "effective_cache_size", "131072"); // 1GB
    let fs = findings_for(&snap, &testdata::host_16g());
    let ecs = find(&fs, "effective_cache_size_below_shared_buffers");
    assert_eq!(ecs.len(), 1);
    assert!(
        ecs[0]
            .message
            .contains("(1GB) is below shared_buffers (2GB)")
    );
    assert!(
        ecs[0].message.contains("set it to 12GB"),
        "{}",
        ecs[0].message
    );
    // Without RAM the finding stays, without a number.
    let fs = findings_for(&snap, &testdata::host_unknown());
    assert!(
        find(&fs, "effective_cache_size_below_shared_buffers")[0]
            .message
            .contains("plus the OS page cache")
    );
    set(&mut snap, "effective_cache_size", "262144");
    let c = codes(&snap, &testdata::host_16g());
    assert!(!c.contains(&"effective_cache_size_below_shared_buffers".to_owned()));
}

#[test]
fn data_fitting_in_shared_buffers_replaces_the_raise_advice() {
    let mut snap = testdata::snapshot();
    snap.server.total_data_bytes = Some(100 << 20);
    let fs = findings_for(&snap, &testdata::host_16g());
    let fits = find(&fs, "data_fits_in_shared_buffers");
    assert_eq!(fits.len(), 1);
    assert!(
        fits[0]
            .message
            .starts_with("the whole data set (100 MiB) fits in shared_buffers (128MB)"),
        "{}",
        fits[0].message
    );
    assert!(find(&fs, "raise_shared_buffers").is_empty());
    snap.server.total_data_bytes = Some(200 << 20);
    assert!(
        !codes(&snap, &testdata::host_16g()).contains(&"data_fits_in_shared_buffers".to_owned())
    );
}

#[test]
fn young_statistics_by_reset_and_by_blocks_never_by_uptime() {
    // A clean restart ten minutes ago keeps the counters: no "cover only 10min".
    let mut snap = testdata::snapshot();
    snap.server.start_epoch = NOW - 600.0;
    for d in &mut snap.databases {
        d.stats_reset_epoch = None;
    }
    assert!(!codes(&snap, &testdata::host_16g()).contains(&"young_statistics".to_owned()));
    // Every database with I/O reset ten minutes ago: the server is young.
    for d in &mut snap.databases {
        d.stats_reset_epoch = Some(NOW - 600.0);
    }
    let fs = findings_for(&snap, &testdata::host_16g());
    let young = find(&fs, "young_statistics");
    assert_eq!(young.len(), 1);
    assert!(
        young[0]
            .message
            .contains("of every database were reset under 1h ago"),
        "{}",
        young[0].message
    );
    let mut snap = testdata::snapshot();
    all_ratios(&mut snap, 10_000, 10);
    let fs = findings_for(&snap, &testdata::host_16g());
    assert!(
        find(&fs, "young_statistics")[0]
            .message
            .contains("count only 40,040 blocks")
    );
    assert!(
        !codes(&testdata::snapshot(), &testdata::host_16g())
            .contains(&"young_statistics".to_owned())
    );
}

#[test]
fn one_reset_database_is_young_alone() {
    // pg_stat_reset() in app ten minutes ago; analytics and postgres keep lifetime counters.
    let mut snap = testdata::snapshot();
    for d in &mut snap.databases {
        d.stats_reset_epoch = (d.name == "app").then_some(NOW - 600.0);
    }
    let fs = findings_for(&snap, &testdata::host_16g());
    let young = find(&fs, "young_statistics");
    assert_eq!(young.len(), 1, "{fs:?}");
    assert!(
        young[0].message.starts_with(
            "statistics of database \"app\" cover only 10min since its statistics reset"
        ),
        "{}",
        young[0].message
    );
    // app's ratio is not judged; analytics' lifetime ratio still is.
    let low = find(&fs, "low_db_hit_ratio");
    assert_eq!(low.len(), 1, "{low:?}");
    assert!(low[0].message.contains("\"analytics\""));
}

#[test]
fn io_timing_off_and_where_reads_come_from() {
    let mut snap = testdata::snapshot();
    set(&mut snap, "track_io_timing", "off");
    let c = codes(&snap, &testdata::host_16g());
    assert!(c.contains(&"track_io_timing_off".to_owned()));
    assert!(!c.iter().any(|c| c.starts_with("reads_from")));

    let mut snap = testdata::snapshot();
    for d in &mut snap.databases {
        d.blk_read_time_ms = d.blks_read as f64 * 0.02;
    }
    let fs = findings_for(&snap, &testdata::host_16g());
    let os = find(&fs, "reads_from_os_cache");
    assert!(
        os[0]
            .message
            .starts_with("reads average 0.020 ms per block"),
        "{}",
        os[0].message
    );
    assert!(find(&fs, "reads_from_storage").is_empty());

    let fs = findings_for(&testdata::snapshot(), &testdata::host_16g());
    let storage = find(&fs, "reads_from_storage");
    assert!(
        storage[0].message.starts_with("reads average 0.216 ms"),
        "{}",
        storage[0].message
    );

    for d in &mut snap.databases {
        d.blk_read_time_ms = 0.0;
    }
    let c = codes(&snap, &testdata::host_16g());
    assert!(
        !c.iter()
            .any(|c| c.starts_with("reads_from") || c == "track_io_timing_off")
    );
}

#[test]
fn dominant_table_respects_share_and_filters() {
    let mut snap = testdata::snapshot();
    snap.visited_databases.clear(); // an old fixture: databases come from the rows
    assert!(codes(&snap, &testdata::host_16g()).contains(&"table_dominates_reads".to_owned()));
    let events = snap.tables.iter_mut().find(|t| t.name == "events").unwrap();
    events.heap_blks_read = 300_000; // 300k of 621k: 48%
    assert!(!codes(&snap, &testdata::host_16g()).contains(&"table_dominates_reads".to_owned()));
    let snap = testdata::snapshot();
    let opts = DiagOptions {
        exclude: vec![crate::diag::Pattern::parse("events").unwrap()],
        ..DiagOptions::default()
    };
    let report = diagnose(&snap, &testdata::host_16g(), &opts);
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.code != "table_dominates_reads")
    );
}

#[test]
fn dominant_table_advice_follows_how_the_table_is_scanned() {
    let dominant = |snap: &StatsSnapshot| {
        find(
            &findings_for(snap, &testdata::host_16g()),
            "table_dominates_reads",
        )
        .first()
        .map(|f| f.message.clone())
    };
    let mut snap = testdata::snapshot();
    let msg = dominant(&snap).unwrap();
    assert!(
        msg.contains("1,200 sequential scans read 360,000,000 rows (against 45,000 index scans)")
            && msg.contains("missing indexes"),
        "{msg}"
    );
    // Read only through index scans: no "missing indexes" advice.
    let events = snap.tables.iter_mut().find(|t| t.name == "events").unwrap();
    events.scans = Some(ScanCounts {
        seq_scan: 0,
        seq_tup_read: 0,
        idx_scan: Some(45_000),
    });
    let msg = dominant(&snap).unwrap();
    assert!(!msg.contains("sequential scans"), "{msg}");
    assert!(!msg.contains("missing indexes"), "{msg}");
    assert!(msg.contains("only through index scans (45,000)"), "{msg}");
    // A capture without scan counters claims neither.
    let events = snap.tables.iter_mut().find(|t| t.name == "events").unwrap();
    events.scans = None;
    let msg = dominant(&snap).unwrap();
    assert!(
        !msg.contains("sequential") && !msg.contains("index scans"),
        "{msg}"
    );
}

#[test]
fn a_single_reading_table_dominates_nothing() {
    let mut snap = testdata::snapshot();
    // Only events reads in app; the others only hit.
    for t in snap.tables.iter_mut().filter(|t| t.name != "events") {
        t.heap_blks_read = 0;
    }
    assert!(!codes(&snap, &testdata::host_16g()).contains(&"table_dominates_reads".to_owned()));
    // A second table that reads a little brings the comparison back.
    let orders = snap.tables.iter_mut().find(|t| t.name == "orders").unwrap();
    orders.heap_blks_read = 1_000;
    assert!(codes(&snap, &testdata::host_16g()).contains(&"table_dominates_reads".to_owned()));
}

#[test]
fn unprivileged_role_gets_one_grant_line() {
    let mut snap = testdata::snapshot();
    snap.privileges.pg_monitor = false;
    for s in &mut snap.settings {
        s.sourcefile = None;
        s.sourceline = None;
    }
    snap.server.user = "App User".to_owned();
    let fs = findings_for(&snap, &testdata::host_16g());
    let grant = find(&fs, "unprivileged_role");
    assert_eq!(grant.len(), 1);
    assert_eq!(grant[0].severity, Severity::Info);
    assert_eq!(
        grant[0].message,
        "GRANT pg_monitor TO \"App User\" would add: the file and line each setting comes \
         from; the sizes of 1 more database(s)"
    );
    // Without sourcefile, ALTER SYSTEM overrides cannot be seen.
    assert!(find(&fs, "alter_system_overrides").is_empty());
    snap.privileges.superuser = true;
    assert!(!codes(&snap, &testdata::host_16g()).contains(&"unprivileged_role".to_owned()));
}

#[test]
fn no_pending_restart_no_finding() {
    let mut snap = testdata::snapshot();
    for s in &mut snap.settings {
        s.pending_restart = false;
    }
    assert!(!codes(&snap, &testdata::host_16g()).contains(&"pending_restart".to_owned()));
}
