//! Unit tests of the rules: the reference points of `recommendation-rules.md` and the gates.

use super::*;
use crate::units::{GB_KB, MB_KB};

/// The inputs of a Linux host for PostgreSQL 17 (other tests of `tune` start from it too).
pub(super) fn input(ram_kb: u64, cpus: u32, profile: Profile) -> TuneInput {
    TuneInput {
        ram_kb,
        cpus,
        connections: None,
        profile,
        storage: Storage::Ssd,
        pg_version: 17,
        os: Os::Linux,
        data_size: DataSize::Mid,
        build: BuildCaps::default(),
    }
}

fn conf(recs: &Recommendations, name: &str) -> Option<String> {
    recs.get(name).map(|s| s.value.to_conf())
}

#[test]
fn reference_web_16gb_4cpus() {
    let recs = recommend(&input(16 * GB_KB, 4, Profile::Web));
    let expect = [
        ("max_connections", "200"),
        ("shared_buffers", "4GB"),
        ("effective_cache_size", "12GB"),
        ("maintenance_work_mem", "1GB"),
        ("wal_buffers", "16MB"),
        ("work_mem", "20560kB"),
        ("huge_pages", "try"),
        ("min_wal_size", "1GB"),
        ("max_wal_size", "4GB"),
        ("checkpoint_completion_target", "0.9"),
        ("default_statistics_target", "100"),
        ("random_page_cost", "1.1"),
        ("effective_io_concurrency", "200"),
        ("maintenance_io_concurrency", "200"),
        ("max_worker_processes", "4"),
        ("max_parallel_workers_per_gather", "2"),
        ("max_parallel_workers", "4"),
        ("max_parallel_maintenance_workers", "2"),
        ("jit", "off"),
    ];
    for (name, value) in expect {
        assert_eq!(conf(&recs, name).as_deref(), Some(value), "{name}");
    }
    for absent in [
        "autovacuum_work_mem",
        "autovacuum_max_workers",
        "io_method",
        "io_workers",
        "wal_level",
        // The build is unknown: lz4 might not start, and pglz (`on`) costs TPS.
        "wal_compression",
    ] {
        assert_eq!(conf(&recs, absent), None, "{absent}");
    }
}

#[test]
fn work_mem_floor_with_many_connections() {
    let mut i = input(4 * GB_KB, 4, Profile::Web);
    i.connections = Some(9999);
    assert_eq!(conf(&recommend(&i), "work_mem").as_deref(), Some("4MB"));
}

#[test]
fn windows_caps_maintenance_work_mem_before_18() {
    let mut i = input(256 * GB_KB, 8, Profile::Web);
    i.os = Os::Windows;
    let recs = recommend(&i);
    assert_eq!(
        conf(&recs, "maintenance_work_mem").as_deref(),
        Some("2047MB")
    );
    assert_eq!(
        conf(&recs, "autovacuum_work_mem").as_deref(),
        Some("2047MB")
    );
    assert_eq!(conf(&recs, "effective_io_concurrency"), None);
    assert_eq!(conf(&recs, "maintenance_io_concurrency"), None);
    i.pg_version = 18;
    let recs = recommend(&i);
    assert_eq!(conf(&recs, "maintenance_work_mem").as_deref(), Some("8GB"));
    assert_eq!(conf(&recs, "autovacuum_work_mem").as_deref(), Some("2GB"));
}

#[test]
fn done_when_example_64gb_16cpus() {
    let mut i = input(64 * GB_KB, 16, Profile::Web);
    i.pg_version = 18;
    let recs = recommend(&i);
    assert_eq!(conf(&recs, "shared_buffers").as_deref(), Some("16GB"));
    assert_eq!(conf(&recs, "effective_cache_size").as_deref(), Some("48GB"));
    assert_eq!(conf(&recs, "maintenance_work_mem").as_deref(), Some("4GB"));
    assert_eq!(conf(&recs, "autovacuum_work_mem").as_deref(), Some("2GB"));
    assert_eq!(conf(&recs, "autovacuum_max_workers").as_deref(), Some("4"));
    assert_eq!(conf(&recs, "io_workers").as_deref(), Some("4"));
    assert_eq!(
        conf(&recs, "max_parallel_workers_per_gather").as_deref(),
        Some("4")
    );
    // (64GB − 16GB) / ((200 + 16) × 3) = 77672 kB
    assert_eq!(conf(&recs, "work_mem").as_deref(), Some("77672kB"));
}

#[test]
fn profiles_change_what_they_should() {
    let desktop = recommend(&input(8 * GB_KB, 2, Profile::Desktop));
    assert_eq!(conf(&desktop, "shared_buffers").as_deref(), Some("512MB"));
    assert_eq!(
        conf(&desktop, "effective_cache_size").as_deref(),
        Some("2GB")
    );
    assert_eq!(conf(&desktop, "wal_level").as_deref(), Some("minimal"));
    assert_eq!(conf(&desktop, "max_wal_senders").as_deref(), Some("0"));
    assert_eq!(conf(&desktop, "jit"), None);
    assert_eq!(conf(&desktop, "max_connections").as_deref(), Some("20"));
    assert_eq!(conf(&desktop, "huge_pages").as_deref(), Some("off"));

    let dw = recommend(&input(64 * GB_KB, 32, Profile::Dw));
    assert_eq!(conf(&dw, "maintenance_work_mem").as_deref(), Some("8GB"));
    assert_eq!(
        conf(&dw, "default_statistics_target").as_deref(),
        Some("500")
    );
    assert_eq!(
        conf(&dw, "max_parallel_workers_per_gather").as_deref(),
        Some("16")
    );
    assert_eq!(conf(&dw, "random_page_cost").as_deref(), Some("4"));
    assert_eq!(conf(&dw, "autovacuum_max_workers").as_deref(), Some("5"));
    assert!(
        dw.warnings
            .iter()
            .any(|w| w.contains("random_page_cost stays at 4"))
    );
    assert_eq!(conf(&dw, "jit"), None);
    // (64GB − 16GB) / ((40 + 32) × 3) / 2
    assert_eq!(
        conf(&dw, "work_mem").as_deref(),
        Some(format!("{}kB", 48 * GB_KB / 216 / 2).as_str())
    );
}

#[test]
fn storage_and_os_gates() {
    let mut i = input(16 * GB_KB, 4, Profile::Web);
    for (storage, eic) in [
        (Storage::Hdd, "2"),
        (Storage::Ssd, "200"),
        (Storage::San, "300"),
        (Storage::Nvme, "1000"),
    ] {
        i.storage = storage;
        assert_eq!(
            conf(&recommend(&i), "effective_io_concurrency").as_deref(),
            Some(eic)
        );
    }
    i.storage = Storage::Hdd;
    assert_eq!(
        conf(&recommend(&i), "random_page_cost").as_deref(),
        Some("4")
    );
    i.data_size = DataSize::Less;
    assert_eq!(
        conf(&recommend(&i), "random_page_cost").as_deref(),
        Some("1.1")
    );
    i.os = Os::Macos;
    let mac = recommend(&i);
    assert_eq!(conf(&mac, "huge_pages").as_deref(), Some("off"));
    assert_eq!(conf(&mac, "effective_io_concurrency"), None);
    assert_eq!(conf(&mac, "maintenance_io_concurrency"), None);
}

#[test]
fn maintenance_io_concurrency_mirrors_effective_io_concurrency_except_on_hdd() {
    let mut i = input(16 * GB_KB, 4, Profile::Web);
    for pg_version in tune_versions() {
        i.pg_version = pg_version;
        for (storage, want) in [
            (Storage::Ssd, Some("200")),
            (Storage::San, Some("300")),
            (Storage::Nvme, Some("1000")),
            (Storage::Hdd, None),
        ] {
            i.storage = storage;
            let recs = recommend(&i);
            assert_eq!(
                conf(&recs, "maintenance_io_concurrency").as_deref(),
                want,
                "{pg_version} {storage:?}"
            );
            if want.is_some() {
                assert_eq!(
                    conf(&recs, "maintenance_io_concurrency"),
                    conf(&recs, "effective_io_concurrency")
                );
                let rec = recs.get("maintenance_io_concurrency").unwrap();
                assert_eq!(rec.section, Section::Other);
                assert!(!rec.is_default && !rec.restart_required);
            }
        }
        for os in [Os::Windows, Os::Macos] {
            i.os = os;
            i.storage = Storage::Nvme;
            assert_eq!(conf(&recommend(&i), "maintenance_io_concurrency"), None);
        }
        i.os = Os::Linux;
    }
}

#[test]
fn maintenance_io_concurrency_defaults_follow_the_major_and_os() {
    let d = |version, os| default_value("maintenance_io_concurrency", version, os);
    for version in 13..=17 {
        assert_eq!(d(version, Os::Linux), Some(Value::Int(10)), "{version}");
    }
    assert_eq!(d(18, Os::Linux), Some(Value::Int(16)));
    for version in tune_versions() {
        assert_eq!(d(version, Os::Windows), Some(Value::Int(0)));
        assert_eq!(d(version, Os::Macos), Some(Value::Int(0)));
    }
    assert!(!requires_restart("maintenance_io_concurrency", 18));
}

fn tune_versions() -> std::ops::RangeInclusive<u32> {
    MIN_PG_VERSION..=MAX_PG_VERSION
}

#[test]
fn data_size_scales_work_mem() {
    let mut i = input(16 * GB_KB, 4, Profile::Web);
    i.data_size = DataSize::Less;
    assert_eq!(conf(&recommend(&i), "work_mem").as_deref(), Some("26728kB"));
    i.data_size = DataSize::Greater;
    assert_eq!(conf(&recommend(&i), "work_mem").as_deref(), Some("18504kB"));
}

#[test]
fn build_dependent_values_only_when_the_server_has_them() {
    let mut i = input(16 * GB_KB, 64, Profile::Web);
    i.pg_version = 18;
    let offline = recommend(&i);
    assert_eq!(
        conf(&offline, "wal_compression"),
        None,
        "pglz is never emitted"
    );
    assert_eq!(conf(&offline, "io_method"), None);
    assert_eq!(conf(&offline, "io_workers").as_deref(), Some("16"));
    i.build = BuildCaps {
        lz4: Some(true),
        io_uring: Some(true),
    };
    let connected = recommend(&i);
    assert_eq!(conf(&connected, "wal_compression").as_deref(), Some("lz4"));
    assert_eq!(conf(&connected, "io_method").as_deref(), Some("io_uring"));
    assert_eq!(conf(&connected, "io_workers"), None);
    // Known build facts are not warnings: the reason comment says the build has them.
    assert!(
        connected.warnings.iter().all(|w| !w.contains("build")),
        "{:?}",
        connected.warnings
    );
    i.build.lz4 = Some(false);
    assert_eq!(conf(&recommend(&i), "wal_compression"), None);
    // lz4 arrived in 15; before it the setting is a boolean.
    i.build.lz4 = Some(true);
    i.pg_version = 14;
    assert_eq!(conf(&recommend(&i), "wal_compression"), None);
}

#[test]
fn connections_from_the_input_are_not_called_given() {
    let mut i = input(16 * GB_KB, 4, Profile::Web);
    i.connections = Some(100);
    let recs = recommend(&i);
    let reason = &recs.get("max_connections").unwrap().reason;
    // The input may be the server's own max_connections (recommend --from); the header says
    // where it came from, the reason must not claim it was given.
    assert!(!reason.contains("given"), "{reason}");
    i.connections = None;
    let reason = recommend(&i).get("max_connections").unwrap().reason.clone();
    assert!(reason.contains("web profile default"), "{reason}");
}

#[test]
fn version_neutral_keeps_what_every_major_accepts() {
    for cpus in [1, 4, 16, 96] {
        for os in Os::ALL {
            for profile in Profile::ALL {
                let mut i = input(256 * GB_KB, cpus, profile);
                i.os = os;
                i.pg_version = 18;
                i.build = BuildCaps {
                    lz4: Some(true),
                    io_uring: Some(true),
                };
                let neutral = recommend_any_version(&i);
                assert!(neutral.version_neutral);
                for v in tune_versions() {
                    let per_major = recommend(&TuneInput {
                        pg_version: v,
                        build: BuildCaps::default(),
                        ..i.clone()
                    });
                    for s in &neutral.settings {
                        // Every major's own answer has the setting, so every major has it.
                        assert!(per_major.get(s.name).is_some(), "{} on {v}", s.name);
                        if s.is_default {
                            let d = default_value(s.name, v, os).unwrap();
                            assert!(defaults::same_value(&d, &s.value), "{} on {v}", s.name);
                        }
                        assert!(s.restart_required || !requires_restart(s.name, v));
                    }
                    // What a major gets beyond the neutral answer is listed as left out.
                    for s in &per_major.settings {
                        if neutral.get(s.name).is_none() {
                            let l = neutral.left_out.iter().find(|l| l.name == s.name);
                            assert!(l.is_some_and(|l| l.majors.contains(&v)), "{}", s.name);
                        }
                    }
                }
                assert_eq!(neutral.get("wal_compression"), None);
                assert_eq!(neutral.get("io_method"), None);
                assert_eq!(neutral.get("io_workers"), None, "18 only");
            }
        }
    }
    let neutral = recommend_any_version(&input(16 * GB_KB, 16, Profile::Web));
    assert_eq!(
        neutral
            .left_out
            .iter()
            .map(LeftOut::describe)
            .collect::<Vec<_>>(),
        ["io_workers (PostgreSQL 18)"]
    );
    // checkpoint_completion_target 0.9 is the default only from 14.
    let ct = neutral.get("checkpoint_completion_target").unwrap();
    assert!(!ct.is_default);
    // autovacuum_max_workers needs a restart before 18.
    assert!(
        neutral
            .get("autovacuum_max_workers")
            .unwrap()
            .restart_required
    );
}

#[test]
fn wal_buffers_rules() {
    // 3% of 128MB = 3932kB, rounded down to 8kB blocks.
    assert_eq!(
        conf(
            &recommend(&input(512 * MB_KB, 1, Profile::Web)),
            "wal_buffers"
        )
        .as_deref(),
        Some("3928kB")
    );
    // 3% of 480MB shared_buffers = 14745kB: within (14MB, 16MB), rounds up.
    assert_eq!(
        conf(
            &recommend(&input(1920 * MB_KB, 1, Profile::Web)),
            "wal_buffers"
        )
        .as_deref(),
        Some("16MB")
    );
    // Minimum 32kB.
    assert_eq!(
        conf(
            &recommend(&input(64 * MB_KB, 1, Profile::Desktop)),
            "wal_buffers"
        )
        .as_deref(),
        Some("120kB")
    );
}

#[test]
fn defaults_are_flagged() {
    let recs = recommend(&input(16 * GB_KB, 4, Profile::Web));
    let d = |n: &str| recs.get(n).unwrap().is_default;
    assert!(d("checkpoint_timeout"));
    assert!(d("seq_page_cost"));
    assert!(d("checkpoint_completion_target"));
    assert!(!d("shared_buffers"));
    let mut i = input(16 * GB_KB, 4, Profile::Web);
    i.pg_version = 13;
    assert!(
        !recommend(&i)
            .get("checkpoint_completion_target")
            .unwrap()
            .is_default
    );
}

#[test]
fn warnings_for_extreme_ram() {
    assert!(
        recommend(&input(128 * MB_KB, 1, Profile::Web))
            .warnings
            .iter()
            .any(|w| w.contains("low memory"))
    );
    assert!(
        recommend(&input(128 * GB_KB, 1, Profile::Web))
            .warnings
            .iter()
            .any(|w| w.contains("very high memory"))
    );
    assert!(
        recommend(&input(16 * GB_KB, 4, Profile::Web))
            .warnings
            .is_empty()
    );
}
