//! Property tests of the engine and the units: monotonic in RAM, inside the server's bounds
//! (from a `pg_settings` capture of a real server), and sizes that round-trip through text.

use pgcache_tune::tune::{self, BuildCaps, DataSize, Os, Profile, Storage, TuneInput, Value};
use pgcache_tune::units::{self, SettingUnit};
use proptest::prelude::*;
use serde::Deserialize;

const MEMORY_SETTINGS: [&str; 6] = [
    "shared_buffers",
    "effective_cache_size",
    "maintenance_work_mem",
    "work_mem",
    "wal_buffers",
    "autovacuum_work_mem",
];

fn any_input() -> impl Strategy<Value = TuneInput> {
    (
        tune::MIN_RAM_KB..=tune::MAX_RAM_KB,
        1u32..=tune::MAX_CPUS,
        prop_oneof![
            Just(None),
            (tune::MIN_CONNECTIONS..=tune::MAX_CONNECTIONS).prop_map(Some)
        ],
        prop::sample::select(Profile::ALL.to_vec()),
        prop::sample::select(Storage::ALL.to_vec()),
        tune::MIN_PG_VERSION..=tune::MAX_PG_VERSION,
        prop::sample::select(Os::ALL.to_vec()),
        prop::sample::select(vec![DataSize::Less, DataSize::Mid, DataSize::Greater]),
        any::<(Option<bool>, Option<bool>)>(),
    )
        .prop_map(
            |(
                ram_kb,
                cpus,
                connections,
                profile,
                storage,
                pg_version,
                os,
                data_size,
                (lz4, io_uring),
            )| {
                TuneInput {
                    ram_kb,
                    cpus,
                    connections,
                    profile,
                    storage,
                    pg_version,
                    os,
                    data_size,
                    build: BuildCaps { lz4, io_uring },
                }
            },
        )
}

fn kb_of(recs: &tune::Recommendations, name: &str) -> u64 {
    match recs.get(name).map(|s| &s.value) {
        Some(Value::SizeKb(kb)) => *kb,
        Some(other) => panic!("{name} is not a size: {other:?}"),
        None => 0,
    }
}

#[derive(Deserialize)]
struct Capture {
    server_version_num: u32,
    settings: Vec<Setting>,
}

#[derive(Deserialize)]
struct Setting {
    name: String,
    setting: Option<String>,
    unit: Option<String>,
    vartype: String,
    min_val: Option<String>,
    max_val: Option<String>,
    enumvals: Option<Vec<String>>,
}

impl Capture {
    /// Whether `setting` exists and accepts the enum value `value` on this build.
    fn lists(&self, setting: &str, value: &str) -> bool {
        self.settings
            .iter()
            .find(|s| s.name == setting)
            .and_then(|s| s.enumvals.as_ref())
            .is_some_and(|v| v.iter().any(|e| e == value))
    }
}

/// Every `fixtures/pg-settings/*.json` capture, oldest major first, read once per test binary
/// (the property runs thousands of cases over all of them).
fn captures() -> &'static [Capture] {
    static CAPTURES: std::sync::OnceLock<Vec<Capture>> = std::sync::OnceLock::new();
    CAPTURES.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/pg-settings");
        let mut out: Vec<Capture> = Vec::new();
        for entry in std::fs::read_dir(dir).expect("fixtures/pg-settings exists") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}")));
            }
        }
        assert!(!out.is_empty(), "no pg_settings capture in {dir}");
        out.sort_by_key(|c| c.server_version_num);
        out
    })
}

/// Checks one emitted value against the server's pg_settings row; returns why it fails.
fn check_bounds(setting: &Setting, value: &Value) -> Result<(), String> {
    let text = value.to_conf();
    let number = match (units::setting_unit(setting.unit.as_deref()), value) {
        (Some(SettingUnit::Memory(unit_bytes)), Value::SizeKb(kb)) => {
            let bytes = kb * units::KB_BYTES;
            if !bytes.is_multiple_of(unit_bytes) {
                return Err(format!(
                    "{text} is not a whole number of {:?}",
                    setting.unit
                ));
            }
            (bytes / unit_bytes) as f64
        }
        (Some(SettingUnit::Time(unit_ms)), Value::TimeMs(ms)) => *ms as f64 / unit_ms,
        (Some(SettingUnit::None), Value::Int(n)) => *n as f64,
        (Some(SettingUnit::None), Value::Real(r)) => r.parse().unwrap(),
        (_, Value::Word(w)) => {
            let ok = match setting.vartype.as_str() {
                "bool" => matches!(*w, "on" | "off"),
                "enum" => setting
                    .enumvals
                    .as_ref()
                    .is_some_and(|v| v.iter().any(|e| e == w)),
                _ => false,
            };
            return if ok {
                Ok(())
            } else {
                Err(format!("{w} is not accepted by {}", setting.name))
            };
        }
        (unit, v) => return Err(format!("unexpected unit {unit:?} for value {v:?}")),
    };
    let min: f64 = setting
        .min_val
        .as_deref()
        .unwrap_or("-inf")
        .parse()
        .unwrap();
    let max: f64 = setting.max_val.as_deref().unwrap_or("inf").parse().unwrap();
    if number < min || number > max {
        return Err(format!("{text} = {number} outside [{min}, {max}]"));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn more_ram_never_lowers_a_memory_setting(input in any_input(), extra_kb in 0u64..=tune::MAX_RAM_KB) {
        let bigger = TuneInput { ram_kb: (input.ram_kb + extra_kb).min(tune::MAX_RAM_KB), ..input.clone() };
        let (small, large) = (tune::recommend(&input), tune::recommend(&bigger));
        for name in MEMORY_SETTINGS {
            prop_assert!(kb_of(&large, name) >= kb_of(&small, name),
                "{name}: {} kB at {} kB RAM but {} kB at {} kB RAM",
                kb_of(&small, name), input.ram_kb, kb_of(&large, name), bigger.ram_kb);
        }
    }

    #[test]
    fn every_value_is_inside_the_servers_bounds(input in any_input()) {
        for capture in captures() {
            let major = capture.server_version_num / 10000;
            // A known capability is what this server's build lists; an unknown one stays
            // unknown (offline). Claiming lz4 for a build without it is no valid input.
            let build = BuildCaps {
                lz4: input.build.lz4.map(|_| capture.lists("wal_compression", "lz4")),
                io_uring: input.build.io_uring.map(|_| capture.lists("io_method", "io_uring")),
            };
            let input = TuneInput { pg_version: major, build, ..input.clone() };
            let recs = tune::recommend(&input);
            for rec in &recs.settings {
                let setting = capture.settings.iter().find(|s| s.name == rec.name);
                prop_assert!(setting.is_some(), "{} does not exist on {major}", rec.name);
                if let Err(why) = check_bounds(setting.unwrap(), &rec.value) {
                    prop_assert!(false, "PostgreSQL {major}: {} = {}: {why}", rec.name, rec.value.to_conf());
                }
            }
        }
    }

    #[test]
    fn sizes_round_trip_through_text(kb in 0u64..=u64::MAX / 1024) {
        let text = units::format_kb(kb);
        prop_assert_eq!(units::parse_pg_size_kb(&text, 1).unwrap(), kb as f64);
        prop_assert_eq!(units::parse_size_flag(&text).unwrap(), kb * 1024);
    }

    #[test]
    fn times_round_trip_through_text(ms in 0u64..=1u64 << 50) {
        let text = units::format_ms(ms);
        prop_assert_eq!(units::parse_pg_time_ms(&text, 1.0).unwrap(), ms as f64);
    }
}

#[test]
fn bounds_check_can_fail() {
    // The checker itself must reject what the server rejects, or the property proves nothing.
    let captures = captures();
    let settings = &captures[0].settings;
    let find = |n: &str| settings.iter().find(|s| s.name == n).unwrap();
    assert!(
        check_bounds(find("shared_buffers"), &Value::SizeKb(64)).is_err(),
        "below 128kB"
    );
    assert!(
        check_bounds(find("shared_buffers"), &Value::SizeKb(12)).is_err(),
        "not whole blocks"
    );
    assert!(check_bounds(find("effective_io_concurrency"), &Value::Int(1001)).is_err());
    assert!(check_bounds(find("huge_pages"), &Value::Word("maybe")).is_err());
    assert!(check_bounds(find("shared_buffers"), &Value::SizeKb(128 * 1024)).is_ok());
}

#[test]
fn every_supported_major_has_a_capture() {
    // The bounds property is only as wide as the captures it reads.
    let majors: Vec<u32> = captures()
        .iter()
        .map(|c| c.server_version_num / 10000)
        .collect();
    let supported: Vec<u32> = (tune::MIN_PG_VERSION..=tune::MAX_PG_VERSION).collect();
    assert_eq!(
        majors, supported,
        "fixtures/pg-settings needs one pgNN.json per supported major \
         (scripts/capture-pg-settings.sh \"$(scripts/pg-bin.sh NN)\")"
    );
}

#[test]
fn tracked_defaults_match_every_capture() {
    // is_default is only as true as these values: check them against what a fresh cluster
    // of each major reports (the captures run on Linux; initdb writes only values that
    // equal the built-in defaults for the settings tracked here).
    let mut failures = Vec::new();
    let mut compared = 0;
    for capture in captures() {
        let major = capture.server_version_num / 10000;
        for setting in &capture.settings {
            let Some(want) = tune::default_value(&setting.name, major, Os::Linux) else {
                continue;
            };
            let got = setting.setting.as_deref().unwrap_or("");
            let same = match (units::setting_unit(setting.unit.as_deref()), &want) {
                (Some(SettingUnit::Memory(unit_bytes)), Value::SizeKb(kb)) => {
                    got.parse::<u64>().ok() == Some(kb * units::KB_BYTES / unit_bytes)
                }
                (Some(SettingUnit::Time(unit_ms)), Value::TimeMs(ms)) => {
                    got.parse::<f64>().ok() == Some(*ms as f64 / unit_ms)
                }
                (_, Value::Int(n)) => got.parse::<u64>().ok() == Some(*n),
                (_, Value::Real(r)) => got.parse::<f64>().ok() == r.parse::<f64>().ok(),
                (_, Value::Word(w)) => got == *w,
                _ => false,
            };
            compared += 1;
            if !same {
                failures.push(format!(
                    "PostgreSQL {major}: {} defaults to {got:?} {:?}, the tool says {}",
                    setting.name,
                    setting.unit,
                    want.to_conf()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(compared > 6 * 25, "only {compared} defaults compared");
}
