//! Tests of the counter findings: each fires at its threshold and stays silent just below,
//! for each major's column set, over windows from a reset and from the server start.

use super::*;
use crate::diag::testdata::{self, NOW};
use crate::diag::{DiagOptions, diagnose};
use crate::facts::{BgwriterWrites, BufferIoStats, CheckpointStats};

const HOUR: f64 = 3_600.0;

fn run(snap: &StatsSnapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    findings(snap, &mut out);
    out
}

fn with_code<'a>(fs: &'a [Finding], code: &str) -> Vec<&'a Finding> {
    fs.iter().filter(|f| f.code == code).collect()
}

fn fires(snap: &StatsSnapshot, code: &str) -> bool {
    !with_code(&run(snap), code).is_empty()
}

fn at_major(major: u32) -> StatsSnapshot {
    let mut snap = testdata::snapshot();
    snap.server.version_num = major * 10_000 + 2;
    snap
}

fn ckpt(timed: i64, requested: i64, done: Option<i64>) -> CheckpointStats {
    CheckpointStats {
        timed,
        requested,
        stats_reset_epoch: Some(NOW - 2.0 * HOUR),
        done,
        bgwriter_writes: None,
    }
}

fn io(evictions: i64, backend_writes: i64, writes: i64, backend_fsyncs: i64) -> BufferIoStats {
    BufferIoStats {
        reads: 1_000,
        hits: 9_000,
        evictions,
        backend_writes,
        stats_reset_epoch: Some(NOW - 2.0 * HOUR),
        writes: Some(writes),
        backend_fsyncs: Some(backend_fsyncs),
    }
}

#[test]
fn requested_checkpoints_bgwriter_columns_before_17() {
    let mut snap = at_major(15);
    snap.checkpoints = Some(ckpt(9, 11, None));
    let fs = run(&snap);
    let f = with_code(&fs, "requested_checkpoints");
    assert_eq!(f.len(), 1, "{fs:?}");
    assert_eq!(f[0].severity, Severity::Warning);
    for needle in [
        "11 checkpoints requested rather than timed against 20 in all",
        "55.00%",
        "checkpoints_req",
        "over the 2h since their reset",
        "above 50% over at least 20",
        "kestra.io",
        "max_wal_size (1GB) before checkpoint_timeout (5min)",
    ] {
        assert!(f[0].message.contains(needle), "{needle}: {}", f[0].message);
    }
    // Exactly half is not "above".
    snap.checkpoints = Some(ckpt(10, 10, None));
    assert!(!fires(&snap, "requested_checkpoints"));
    // All requested, but too few to judge.
    snap.checkpoints = Some(ckpt(0, MIN_CHECKPOINTS - 1, None));
    assert!(!fires(&snap, "requested_checkpoints"));
    snap.checkpoints = Some(ckpt(0, MIN_CHECKPOINTS, None));
    assert!(fires(&snap, "requested_checkpoints"));
}

#[test]
fn requested_checkpoints_use_num_done_on_18_and_name_the_checkpointer_on_17() {
    // 17: num_timed counts skipped idle checkpoints, so 11 requested of 511 is a low share.
    let mut snap = at_major(17);
    snap.checkpoints = Some(ckpt(500, 11, None));
    assert!(!fires(&snap, "requested_checkpoints"));
    snap.checkpoints = Some(ckpt(9, 11, None));
    let fs = run(&snap);
    let f = with_code(&fs, "requested_checkpoints");
    assert!(f[0].message.contains("num_timed + num_requested"), "{fs:?}");
    // 18: the same counters with num_done = 20 performed: 11 of 20 requested.
    let mut snap = at_major(18);
    snap.checkpoints = Some(ckpt(500, 11, Some(20)));
    let fs = run(&snap);
    let f = with_code(&fs, "requested_checkpoints");
    assert_eq!(f.len(), 1, "{fs:?}");
    assert!(
        f[0].message
            .contains("11 checkpoints requested rather than timed against 20 performed"),
        "{}",
        f[0].message
    );
    assert!(f[0].message.contains("num_done"), "{}", f[0].message);
    snap.checkpoints = Some(ckpt(500, 10, Some(20)));
    assert!(!fires(&snap, "requested_checkpoints"));
    snap.checkpoints = Some(ckpt(500, 19, Some(19)));
    assert!(!fires(&snap, "requested_checkpoints"), "fewer than 20 done");
    // Merged requests outnumber those performed: the share is capped at 100%.
    snap.checkpoints = Some(ckpt(0, 41, Some(37)));
    let fs = run(&snap);
    assert!(
        with_code(&fs, "requested_checkpoints")[0]
            .message
            .contains("(100.00% requested)")
    );
}

#[test]
fn window_from_reset_or_at_least_the_uptime() {
    let snap = testdata::snapshot();
    let reset = Window::of(&snap, Some(NOW - 7_200.0));
    assert_eq!(
        reset,
        Window {
            seconds: 7_200,
            from_reset: true
        }
    );
    assert!((reset.hours() - 2.0).abs() < 1e-9);
    let never = Window::of(&snap, None);
    assert!(!never.from_reset);
    assert_eq!(
        never.seconds as f64,
        snap.server.now_epoch - snap.server.start_epoch
    );
    assert!(
        never.describe().contains("at least"),
        "{}",
        never.describe()
    );
    assert!(never.describe().contains("upper bounds"));
    // Under an hour counts as an hour.
    assert!((Window::of(&snap, Some(NOW - 60.0)).hours() - 1.0).abs() < 1e-9);
}

#[test]
fn backend_writes_from_pg_stat_io_at_the_share_edge() {
    let mut snap = at_major(16);
    snap.buffer_io = Some(io(0, 501, 1_000, 0));
    let fs = run(&snap);
    let f = with_code(&fs, "backend_writes");
    assert_eq!(f.len(), 1, "{fs:?}");
    assert!(f[0].message.contains("501 of 1,000"), "{}", f[0].message);
    assert!(f[0].message.contains("pg_stat_io"), "{}", f[0].message);
    assert!(f[0].message.contains("pgcache-tune's"), "{}", f[0].message);
    assert!(
        f[0].message.contains("(shared_buffers = 128MB"),
        "{}",
        f[0].message
    );
    snap.buffer_io = Some(io(0, 500, 1_000, 0));
    assert!(!fires(&snap, "backend_writes"), "exactly half");
    snap.buffer_io = Some(io(0, 999, MIN_BUFFER_WRITES - 1, 0));
    assert!(!fires(&snap, "backend_writes"), "too few writes");
    assert!(!fires(&snap, "backend_fsyncs"));
}

#[test]
fn backend_writes_from_pg_stat_bgwriter_before_16_and_pg_stat_io_wins_on_16() {
    let mut snap = at_major(15);
    let mut c = ckpt(100, 1, None);
    c.bgwriter_writes = Some(BgwriterWrites {
        checkpoint: 400,
        clean: 99,
        backend: 501,
        backend_fsync: 0,
    });
    snap.checkpoints = Some(c);
    let fs = run(&snap);
    let f = with_code(&fs, "backend_writes");
    assert_eq!(f.len(), 1, "{fs:?}");
    assert!(f[0].message.contains("buffers_backend"), "{}", f[0].message);
    assert!(f[0].message.contains("relation extensions"));
    c.bgwriter_writes.as_mut().unwrap().backend = 500;
    c.bgwriter_writes.as_mut().unwrap().clean = 100;
    snap.checkpoints = Some(c);
    assert!(!fires(&snap, "backend_writes"));
    c.bgwriter_writes.as_mut().unwrap().backend_fsync = 1;
    snap.checkpoints = Some(c);
    let fs = run(&snap);
    let f = with_code(&fs, "backend_fsyncs");
    assert_eq!(f.len(), 1, "{fs:?}");
    assert!(
        f[0].message
            .contains("counters: pg_stat_bgwriter.buffers_backend_fsync;")
    );
    assert!(
        !f[0].message.contains("relation extensions"),
        "{}",
        f[0].message
    );

    // 16 has both; pg_stat_io (which does not count extensions) decides.
    let mut snap = at_major(16);
    c.bgwriter_writes.as_mut().unwrap().backend = 900;
    c.bgwriter_writes.as_mut().unwrap().backend_fsync = 0;
    snap.checkpoints = Some(c);
    snap.buffer_io = Some(io(0, 10, 1_000, 0));
    assert!(!fires(&snap, "backend_writes"));
}

#[test]
fn backend_fsyncs_fire_on_any() {
    let mut snap = at_major(17);
    snap.buffer_io = Some(io(0, 0, 0, 1));
    let fs = run(&snap);
    let f = with_code(&fs, "backend_fsyncs");
    assert_eq!(f.len(), 1, "{fs:?}");
    assert!(
        f[0].message.contains("did 1 fsyncs themselves"),
        "{}",
        f[0].message
    );
    snap.buffer_io = Some(io(0, 0, 0, 0));
    assert!(!fires(&snap, "backend_fsyncs"));
}

#[test]
fn evictions_at_one_turnover_per_hour() {
    // shared_buffers is 16384 buffers of 8kB in the test snapshot; the window is 2h.
    let mut snap = at_major(16);
    let buffers = 16_384;
    snap.buffer_io = Some(io(2 * buffers, 0, 0, 0));
    let fs = run(&snap);
    let f = with_code(&fs, "buffer_evictions");
    assert_eq!(f.len(), 1, "{fs:?}");
    assert!(f[0].message.contains("32,768 buffers"), "{}", f[0].message);
    assert!(f[0].message.contains("1.0 times"), "{}", f[0].message);
    assert!(f[0].message.contains("16,384 per hour"), "{}", f[0].message);
    assert!(f[0].message.contains("16,384 buffers"), "{}", f[0].message);
    assert!(f[0].message.contains("90.00%"), "{}", f[0].message);
    snap.buffer_io = Some(io(2 * buffers - 1, 0, 0, 0));
    assert!(!fires(&snap, "buffer_evictions"));
    // A 10-minute window counts as an hour: one turnover within it fires, less does not.
    let mut young = io(buffers, 0, 0, 0);
    young.stats_reset_epoch = Some(NOW - 600.0);
    snap.buffer_io = Some(young);
    assert!(fires(&snap, "buffer_evictions"));
    young.evictions = buffers - 1;
    snap.buffer_io = Some(young);
    assert!(!fires(&snap, "buffer_evictions"));
    // Twice the shared_buffers halves the turnover.
    young.evictions = buffers;
    snap.buffer_io = Some(young);
    let sb = snap
        .settings
        .iter_mut()
        .find(|s| s.name == "shared_buffers")
        .unwrap();
    sb.setting = "32768".to_owned();
    assert!(!fires(&snap, "buffer_evictions"));
}

fn temp(snap: &mut StatsSnapshot, files: i64, bytes: i64, reset: Option<f64>) {
    let d = &mut snap.databases[0];
    d.temp_files = Some(files);
    d.temp_bytes = Some(bytes);
    d.stats_reset_epoch = reset;
}

fn temp_severity(snap: &StatsSnapshot) -> Option<Severity> {
    let fs = run(snap);
    let f = with_code(&fs, "temp_files");
    assert!(f.len() <= 1, "{fs:?}");
    f.first().map(|f| f.severity)
}

#[test]
fn temp_files_at_the_pgdoctor_edges() {
    let mut snap = testdata::snapshot();
    let two_hours = Some(NOW - 2.0 * HOUR);
    let gib = 1i64 << 30;
    temp(&mut snap, 10, 1_000, two_hours);
    assert_eq!(temp_severity(&snap), Some(Severity::Warning), "5 files/h");
    let fs = run(&snap);
    let m = &with_code(&fs, "temp_files")[0].message;
    for needle in [
        "\"app\"",
        "10 temporary files",
        "5.0 files",
        "pgdoctor",
        "work_mem",
    ] {
        assert!(m.contains(needle), "{needle}: {m}");
    }
    temp(&mut snap, 9, 1_000, two_hours);
    assert_eq!(temp_severity(&snap), None, "4.5 files/h");
    temp(&mut snap, 40, 1_000, two_hours);
    assert_eq!(temp_severity(&snap), Some(Severity::Critical), "20 files/h");
    temp(&mut snap, 39, 1_000, two_hours);
    assert_eq!(temp_severity(&snap), Some(Severity::Warning));
    // By volume: 1 GiB/h warns, 5 GiB/h is critical, whatever the count.
    temp(&mut snap, 1, 2 * gib, two_hours);
    assert_eq!(temp_severity(&snap), Some(Severity::Warning));
    temp(&mut snap, 1, 2 * gib - 2, two_hours);
    assert_eq!(temp_severity(&snap), None);
    temp(&mut snap, 1, 10 * gib, two_hours);
    assert_eq!(temp_severity(&snap), Some(Severity::Critical));
    // Nothing spilled: silent.
    temp(&mut snap, 0, 0, two_hours);
    assert_eq!(temp_severity(&snap), None);
}

#[test]
fn temp_files_never_reset_are_at_most_a_warning_and_young_windows_count_an_hour() {
    let mut snap = testdata::snapshot();
    // Server up 10 days, never reset: 20 files/h over the uptime is an upper bound.
    let uptime_hours = Window::of(&snap, None).seconds / 3_600;
    temp(
        &mut snap,
        i64::try_from(40 * uptime_hours).unwrap(),
        0,
        None,
    );
    assert_eq!(temp_severity(&snap), Some(Severity::Warning));
    let fs = run(&snap);
    assert!(with_code(&fs, "temp_files")[0].message.contains("at least"));
    // Reset 10 minutes ago: 5 files count as 5 per hour, not 30.
    temp(&mut snap, 5, 0, Some(NOW - 600.0));
    assert_eq!(temp_severity(&snap), Some(Severity::Warning));
    temp(&mut snap, 4, 0, Some(NOW - 600.0));
    assert_eq!(temp_severity(&snap), None);
}

#[test]
fn quiet_counters_raise_nothing_and_diagnose_carries_the_findings() {
    let mut snap = at_major(16);
    snap.checkpoints = Some(ckpt(30, 3, None));
    snap.buffer_io = Some(io(0, 20, 5_000, 0));
    temp(&mut snap, 1, 8_192, Some(NOW - 2.0 * HOUR));
    assert_eq!(run(&snap), Vec::new());

    snap.checkpoints = Some(ckpt(3, 30, None));
    let report = diagnose(&snap, &testdata::host_16g(), &DiagOptions::default());
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.code == "requested_checkpoints"),
        "{:?}",
        report.findings
    );
}
