//! Tests of the settings diff: every unit `pg_settings` uses, `-1`, the ±5% boundary, words,
//! and which settings are compared when RAM or CPUs are unknown.

use super::*;
use crate::diag::testdata::{self, setting};
use crate::tune::{Profile, Storage};
use crate::units::MB_KB;

fn cmp_with(rec: Value, name: &str, live: LiveSetting, snap: &StatsSnapshot) -> Compared {
    compare(&rec, name, &live, snap)
}

fn cmp(rec: Value, live: LiveSetting) -> Compared {
    let name = live.name.clone();
    cmp_with(rec, &name, live, &testdata::snapshot())
}

fn status(rec: Value, live: LiveSetting) -> SettingStatus {
    cmp(rec, live).status
}

fn int(name: &str, value: &str) -> LiveSetting {
    setting(name, value, None, "integer")
}

#[test]
fn eight_kb_blocks_read_as_the_server_prints_them() {
    let c = cmp(
        Value::SizeKb(128 * MB_KB),
        setting("shared_buffers", "16384", Some("8kB"), "integer"),
    );
    assert_eq!(c.live, "128MB");
    assert_eq!(c.status, SettingStatus::Equal);
    let c = cmp(
        Value::SizeKb(4 * GB_KB),
        setting("shared_buffers", "16384", Some("8kB"), "integer"),
    );
    assert_eq!(c.status, SettingStatus::Differs);
}

#[test]
fn every_memory_unit() {
    for (value, unit, shown, kb) in [
        ("65536", "kB", "64MB", 64 * MB_KB),
        ("1024", "MB", "1GB", GB_KB),
        ("5", "16MB", "80MB", 80 * MB_KB),
        ("16777216", "B", "16MB", 16 * MB_KB),
        ("1000", "kB", "1000kB", 1000),
    ] {
        let c = cmp(
            Value::SizeKb(kb),
            setting("x", value, Some(unit), "integer"),
        );
        assert_eq!(c.live, shown, "{value} {unit}");
        assert_eq!(c.status, SettingStatus::Equal, "{value} {unit}");
    }
    let c = cmp(Value::SizeKb(1), setting("x", "1000", Some("B"), "integer"));
    assert_eq!(c.live, "1000B");
}

#[test]
fn every_time_unit() {
    for (value, unit, shown, ms) in [
        ("200", "ms", "200ms", 200),
        ("300", "s", "5min", 300_000),
        ("1440", "min", "1d", 86_400_000),
        ("90", "s", "90s", 90_000),
    ] {
        let c = cmp(
            Value::TimeMs(ms),
            setting("x", value, Some(unit), "integer"),
        );
        assert_eq!(c.live, shown, "{value} {unit}");
        assert_eq!(c.status, SettingStatus::Equal, "{value} {unit}");
    }
    assert_eq!(
        status(
            Value::TimeMs(300_000),
            setting("checkpoint_timeout", "900", Some("s"), "integer")
        ),
        SettingStatus::Differs
    );
    let c = cmp(
        Value::TimeMs(200),
        setting("x", "-1", Some("ms"), "integer"),
    );
    assert_eq!((c.live.as_str(), c.status), ("-1", SettingStatus::Auto));
}

#[test]
fn five_percent_boundary_is_equal_and_beyond_differs() {
    let rec = || Value::Int(100);
    assert_eq!(status(rec(), int("n", "105")), SettingStatus::Equal);
    assert_eq!(status(rec(), int("n", "95")), SettingStatus::Equal);
    assert_eq!(status(rec(), int("n", "106")), SettingStatus::Differs);
    assert_eq!(status(rec(), int("n", "94")), SettingStatus::Differs);
    // 1GB × 1.05 = 1101004.8 kB.
    let kb = |v: &str| setting("m", v, Some("kB"), "integer");
    assert_eq!(
        status(Value::SizeKb(GB_KB), kb("1101004")),
        SettingStatus::Equal
    );
    assert_eq!(
        status(Value::SizeKb(GB_KB), kb("1101005")),
        SettingStatus::Differs
    );
    assert_eq!(status(Value::Int(0), int("n", "0")), SettingStatus::Equal);
    assert_eq!(status(Value::Int(0), int("n", "1")), SettingStatus::Differs);
    let real = |v: &str| setting("checkpoint_completion_target", v, None, "real");
    assert_eq!(
        status(Value::Real("0.9"), real("0.945")),
        SettingStatus::Equal
    );
    assert_eq!(
        status(Value::Real("0.9"), real("0.5")),
        SettingStatus::Differs
    );
    assert_eq!(
        status(
            Value::Real("1.0"),
            setting("seq_page_cost", "1", None, "real")
        ),
        SettingStatus::Equal
    );
    assert_eq!(
        status(
            Value::Real("1.1"),
            setting("random_page_cost", "4", None, "real")
        ),
        SettingStatus::Differs
    );
}

#[test]
fn minus_one_wal_buffers_is_a_thirty_second_of_shared_buffers() {
    let mut snap = testdata::snapshot();
    let live = setting("wal_buffers", "-1", Some("8kB"), "integer");
    // 128MB of shared_buffers → 4MB.
    let c = cmp_with(Value::SizeKb(4 * MB_KB), "wal_buffers", live.clone(), &snap);
    assert_eq!(c.live, "-1");
    assert_eq!(c.status, SettingStatus::Equal);
    assert!(c.note.as_deref().unwrap().contains("4MB"), "{c:?}");
    // 1MB of shared_buffers → below the 64kB floor.
    let sb = snap
        .settings
        .iter_mut()
        .find(|s| s.name == "shared_buffers")
        .unwrap();
    sb.setting = "128".into();
    let c = cmp_with(Value::SizeKb(64), "wal_buffers", live.clone(), &snap);
    assert_eq!(c.status, SettingStatus::Equal, "{c:?}");
    // 8GB of shared_buffers → capped at one 16MB segment.
    let sb = snap
        .settings
        .iter_mut()
        .find(|s| s.name == "shared_buffers")
        .unwrap();
    sb.setting = "1048576".into();
    let c = cmp_with(
        Value::SizeKb(16 * MB_KB),
        "wal_buffers",
        live.clone(),
        &snap,
    );
    assert_eq!(c.status, SettingStatus::Equal, "{c:?}");
    let c = cmp_with(Value::SizeKb(4 * MB_KB), "wal_buffers", live, &snap);
    assert_eq!(c.status, SettingStatus::Differs, "{c:?}");
}

#[test]
fn minus_one_autovacuum_work_mem_follows_maintenance_work_mem() {
    let c = cmp(
        Value::SizeKb(64 * MB_KB),
        setting("autovacuum_work_mem", "-1", Some("kB"), "integer"),
    );
    assert_eq!(c.status, SettingStatus::Equal);
    assert!(c.note.unwrap().contains("maintenance_work_mem"));
    let c = cmp(
        Value::SizeKb(2 * GB_KB),
        setting("autovacuum_work_mem", "-1", Some("kB"), "integer"),
    );
    assert_eq!(c.status, SettingStatus::Differs);
}

#[test]
fn minus_one_without_a_known_meaning_is_auto() {
    let c = cmp(
        Value::SizeKb(GB_KB),
        setting("mystery_mem", "-1", Some("kB"), "integer"),
    );
    assert_eq!(c.status, SettingStatus::Auto);
    assert_eq!(c.live, "-1");
}

#[test]
fn units_that_do_not_fit_are_unknown() {
    let c = cmp(
        Value::SizeKb(GB_KB),
        setting("x", "5", Some("parsecs"), "integer"),
    );
    assert_eq!(c.status, SettingStatus::Unknown);
    assert_eq!(c.live, "5 × parsecs");
    assert!(c.note.unwrap().contains("parsecs"));
    assert_eq!(
        status(Value::SizeKb(GB_KB), int("x", "5")),
        SettingStatus::Unknown
    );
    assert_eq!(
        status(Value::Int(5), setting("x", "5", Some("kB"), "integer")),
        SettingStatus::Unknown
    );
    assert_eq!(
        status(Value::Int(5), int("x", "five")),
        SettingStatus::Unknown
    );
    assert_eq!(
        status(Value::TimeMs(5), setting("x", "5", Some("kB"), "integer")),
        SettingStatus::Unknown
    );
}

#[test]
fn words_compare_after_normalising() {
    let e = |name: &str, v: &str| setting(name, v, None, "enum");
    let b = |name: &str, v: &str| setting(name, v, None, "bool");
    assert_eq!(
        status(Value::Word("try"), e("huge_pages", "try")),
        SettingStatus::Equal
    );
    assert_eq!(
        status(Value::Word("off"), e("huge_pages", "try")),
        SettingStatus::Differs
    );
    assert_eq!(
        status(Value::Word("off"), b("jit", "on")),
        SettingStatus::Differs
    );
    assert_eq!(
        status(Value::Word("off"), b("jit", "off")),
        SettingStatus::Equal
    );
    assert_eq!(
        status(Value::Word("on"), b("jit", "true")),
        SettingStatus::Equal
    );
    assert_eq!(
        status(Value::Word("on"), b("jit", "YES")),
        SettingStatus::Equal
    );
    assert_eq!(
        status(Value::Word("off"), b("jit", "0")),
        SettingStatus::Equal
    );
    // SHOW prints wal_compression = on as pglz.
    let wc = |v: &str| e("wal_compression", v);
    assert_eq!(status(Value::Word("on"), wc("pglz")), SettingStatus::Equal);
    assert_eq!(
        status(Value::Word("lz4"), wc("pglz")),
        SettingStatus::Differs
    );
    assert_eq!(status(Value::Word("lz4"), wc("lz4")), SettingStatus::Equal);
    assert_eq!(
        status(Value::Word("pglz"), e("other", "on")),
        SettingStatus::Differs
    );
}

#[test]
fn server_input_uses_live_facts() {
    let snap = testdata::snapshot();
    let input = tune_input_from_server(&snap, &testdata::host_16g()).unwrap();
    assert_eq!(input.ram_kb, 16 * GB_KB);
    assert_eq!(input.cpus, 4);
    assert_eq!(input.connections, Some(200));
    assert_eq!(input.pg_version, 15);
    assert_eq!(
        input.data_size,
        DataSize::Greater,
        "45 GiB of data, 16 GiB RAM"
    );
    assert_eq!(input.build.lz4, Some(true));
    assert_eq!(input.build.io_uring, None, "no io_method before 18");
    assert_eq!(input.profile, Profile::Web);

    let mut small = snap.clone();
    small.server.total_data_bytes = Some(1 << 30);
    let s = small
        .settings
        .iter_mut()
        .find(|s| s.name == "wal_compression")
        .unwrap();
    s.enumvals = Some(vec!["pglz".into(), "on".into(), "off".into()]);
    let input = tune_input_from_server(&small, &testdata::host_16g()).unwrap();
    assert_eq!(input.data_size, DataSize::Less);
    assert_eq!(input.build.lz4, Some(false));

    assert!(tune_input_from_server(&snap, &testdata::host_unknown()).is_none());
    let no_cpus = HostContext {
        cpus: None,
        ..testdata::host_16g()
    };
    assert!(tune_input_from_server(&snap, &no_cpus).is_none());
    let tiny = HostContext {
        ram_bytes: Some(32 << 20),
        ..testdata::host_16g()
    };
    assert!(tune_input_from_server(&snap, &tiny).is_none());
}

fn names(d: &Diff) -> Vec<&str> {
    d.rows.iter().map(|r| r.name.as_str()).collect()
}

#[test]
fn diff_with_known_host_compares_everything_but_max_connections() {
    let snap = testdata::snapshot();
    let d = diff(&snap, &testdata::host_16g());
    let n = names(&d);
    for name in [
        "shared_buffers",
        "work_mem",
        "huge_pages",
        "wal_buffers",
        "jit",
    ] {
        assert!(n.contains(&name), "{name} in {n:?}");
    }
    assert!(!n.contains(&"max_connections"));
    assert!(d.notes.is_empty(), "{:?}", d.notes);
    let sb = d.rows.iter().find(|r| r.name == "shared_buffers").unwrap();
    assert_eq!(sb.live.as_deref(), Some("128MB"));
    assert_eq!(sb.recommended, "4GB");
    assert_eq!(sb.status, SettingStatus::Differs);
    assert!(sb.restart_required && sb.pending_restart);
    assert_eq!(sb.sourceline, Some(127));
    let wb = d.rows.iter().find(|r| r.name == "wal_buffers").unwrap();
    assert_eq!(
        wb.status,
        SettingStatus::Differs,
        "4MB live, 16MB recommended"
    );
    let cct = d
        .rows
        .iter()
        .find(|r| r.name == "checkpoint_completion_target")
        .unwrap();
    assert_eq!(cct.status, SettingStatus::Equal);
}

#[test]
fn unknown_ram_compares_only_ram_independent_settings() {
    let snap = testdata::snapshot();
    let d = diff(&snap, &testdata::host_unknown());
    let n = names(&d);
    for name in [
        "shared_buffers",
        "effective_cache_size",
        "maintenance_work_mem",
        "work_mem",
        "huge_pages",
        "wal_buffers",
        "max_parallel_workers",
    ] {
        assert!(!n.contains(&name), "{name} compared without RAM/CPUs");
    }
    for name in [
        "checkpoint_completion_target",
        "jit",
        "wal_compression",
        "random_page_cost",
        "min_wal_size",
    ] {
        assert!(n.contains(&name), "{name} missing from {n:?}");
    }
    assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
    assert!(
        d.notes[0].starts_with("RAM and CPUs unknown"),
        "{:?}",
        d.notes
    );
    assert!(d.notes[0].contains("shared_buffers"));
}

#[test]
fn unknown_cpus_keep_ram_settings() {
    let snap = testdata::snapshot();
    let host = HostContext {
        cpus: None,
        ..testdata::host_16g()
    };
    let d = diff(&snap, &host);
    let n = names(&d);
    assert!(n.contains(&"shared_buffers"));
    assert!(n.contains(&"effective_cache_size"));
    assert!(!n.contains(&"work_mem"), "work_mem counts workers");
    assert!(!n.contains(&"max_worker_processes"));
    assert!(d.notes[0].starts_with("CPUs unknown"), "{:?}", d.notes);
}

#[test]
fn data_size_dependent_costs_are_skipped_without_ram() {
    let snap = testdata::snapshot();
    let host = HostContext {
        profile: Profile::Dw,
        storage: Storage::Ssd,
        ..testdata::host_unknown()
    };
    assert!(!names(&diff(&snap, &host)).contains(&"random_page_cost"));
}

#[test]
fn settings_absent_from_the_server_are_missing() {
    let mut snap = testdata::snapshot();
    snap.settings.retain(|s| s.name != "jit");
    let d = diff(&snap, &testdata::host_16g());
    let jit = d.rows.iter().find(|r| r.name == "jit").unwrap();
    assert_eq!(jit.status, SettingStatus::Missing);
    assert_eq!(jit.live, None);
    assert_eq!(jit.source, None);
}

#[test]
fn no_settings_collected_means_no_diff() {
    let mut snap = testdata::snapshot();
    snap.settings.clear();
    let d = diff(&snap, &testdata::host_16g());
    assert!(d.rows.is_empty());
    assert!(d.notes[0].contains("not collected"));
}

#[test]
fn unsupported_majors_are_noted() {
    let mut snap = testdata::snapshot();
    snap.server.version_num = 120_005;
    let d = diff(&snap, &testdata::host_16g());
    assert!(d.notes[0].contains("PostgreSQL 12"), "{:?}", d.notes);
    assert!(!d.rows.is_empty());
}
