//! The settings diff: what `tune` would recommend for this server on this host, against what
//! `pg_settings` says is live.
//!
//! The engine is fed from the server (live max_connections, major version, build
//! capabilities from `enumvals`, data size against RAM) and from the host context. An input
//! that is unknown (RAM of a remote server, CPUs) is not guessed: the engine runs at
//! placeholder values spanning its whole supported range, and only settings that come out the
//! same at every one of them are compared. So without RAM, checkpoint_completion_target, jit
//! or wal_compression are still compared, while shared_buffers, work_mem and huge_pages are
//! not; no list of "RAM-derived settings" has to be kept in step with the rules.
//!
//! Live values are normalised through `units::setting_unit` and compared as numbers within
//! ±[`EQUAL_TOLERANCE_FRACTION`], or as words (booleans and synonyms normalised).

use super::HostContext;
use super::report::{SettingRow, SettingStatus};
use crate::facts::{LiveSetting, StatsSnapshot};
use crate::tune::{self, BuildCaps, DataSize, Recommendation, TuneInput, Value};
use crate::units::{
    GB_KB, KB_BYTES, SettingUnit, format_bytes_human, format_kb, format_ms, parse_pg_size_kb,
    parse_pg_time_ms, setting_unit,
};

/// Numbers within this fraction of the recommendation count as equal: the server rounds
/// sizes to its units, and nobody should restart a server for a 3% difference.
pub const EQUAL_TOLERANCE_FRACTION: f64 = 0.05;
/// RAM placeholders when RAM is unknown: the engine's bounds and two typical sizes.
const RAM_PROBES_KB: [u64; 4] = [tune::MIN_RAM_KB, 4 * GB_KB, 256 * GB_KB, tune::MAX_RAM_KB];
/// CPU placeholders when CPUs are unknown: below and above every CPU threshold of the rules.
const CPU_PROBES: [u32; 5] = [1, 4, 16, 32, 256];
/// Recommended settings that are inputs rather than advice: max_connections is the live
/// value fed back, so comparing it would only compare it with itself.
const NOT_COMPARED: [&str; 1] = ["max_connections"];
/// WAL block size (`XLOG_BLCKSZ`) in bytes, the unit of wal_buffers.
const WAL_BLOCK_BYTES: u64 = 8_192;
/// Smallest automatic wal_buffers, in WAL blocks (PostgreSQL's `XLOGChooseNumBuffers`).
const MIN_AUTO_WAL_BUFFERS_BLOCKS: u64 = 8;
/// Automatic wal_buffers is shared_buffers divided by this (about 3%).
const AUTO_WAL_BUFFERS_DIVISOR: u64 = 32;
/// wal_segment_size when the server does not report it, bytes.
const DEFAULT_WAL_SEGMENT_BYTES: u64 = 16 << 20;

/// The engine's input for this server on this host: what `recommend --from` uses, and what
/// `report` compares against. `None` when RAM or CPUs are unknown (or RAM is below what the
/// engine tunes for), because a recommendation for a guessed machine is worse than none.
///
/// The major version is clamped to the supported range; callers that must refuse other
/// majors check `snap.major()` first. Connections are the live max_connections.
pub fn tune_input_from_server(snap: &StatsSnapshot, host: &HostContext) -> Option<TuneInput> {
    let ram_kb = known_ram_kb(host)?;
    let cpus = host.cpus?.clamp(1, tune::MAX_CPUS);
    Some(base_input(snap, host, ram_kb, cpus, data_size(snap, host)))
}

/// RAM in kB when known and tunable, clamped to the engine's maximum.
fn known_ram_kb(host: &HostContext) -> Option<u64> {
    let kb = host.ram_bytes? / KB_BYTES;
    (kb >= tune::MIN_RAM_KB).then(|| kb.min(tune::MAX_RAM_KB))
}

/// All databases against RAM; `Mid` when either is unknown or they are equal.
fn data_size(snap: &StatsSnapshot, host: &HostContext) -> DataSize {
    let data = snap
        .server
        .total_data_bytes
        .and_then(|b| u64::try_from(b).ok());
    match (data, host.ram_bytes) {
        (Some(d), Some(ram)) if d < ram => DataSize::Less,
        (Some(d), Some(ram)) if d > ram => DataSize::Greater,
        _ => DataSize::Mid,
    }
}

/// Whether the setting `name` lists `word` among its `enumvals`; `None` when the server has
/// no such setting (older major), so the engine stays with values every build accepts.
fn accepts(snap: &StatsSnapshot, name: &str, word: &str) -> Option<bool> {
    snap.setting(name).map(|s| {
        s.enumvals
            .as_ref()
            .is_some_and(|v| v.iter().any(|x| x == word))
    })
}

fn base_input(
    snap: &StatsSnapshot,
    host: &HostContext,
    ram_kb: u64,
    cpus: u32,
    data_size: DataSize,
) -> TuneInput {
    TuneInput {
        ram_kb,
        cpus,
        connections: snap
            .setting("max_connections")
            .and_then(|s| s.setting.trim().parse::<u32>().ok())
            .map(|c| c.min(tune::MAX_CONNECTIONS)),
        profile: host.profile,
        storage: host.storage,
        pg_version: snap
            .major()
            .clamp(tune::MIN_PG_VERSION, tune::MAX_PG_VERSION),
        os: host.os,
        data_size,
        build: BuildCaps {
            lz4: accepts(snap, "wal_compression", "lz4"),
            io_uring: accepts(snap, "io_method", "io_uring"),
        },
    }
}

/// The diff, the recommendations it compared against (for findings), and notes on what was
/// not compared.
pub(super) struct Diff {
    pub rows: Vec<SettingRow>,
    pub recommended: Vec<Recommendation>,
    pub notes: Vec<String>,
}

/// Recommendations that do not depend on an unknown input, and the names of those that do.
fn stable_recommendations(
    snap: &StatsSnapshot,
    host: &HostContext,
) -> (Vec<Recommendation>, Vec<&'static str>) {
    let ram: Vec<(u64, DataSize)> = match known_ram_kb(host) {
        Some(kb) => vec![(kb, data_size(snap, host))],
        None => RAM_PROBES_KB
            .iter()
            .flat_map(|&kb| [(kb, DataSize::Less), (kb, DataSize::Greater)])
            .collect(),
    };
    let cpus: Vec<u32> = match host.cpus {
        Some(c) => vec![c.clamp(1, tune::MAX_CPUS)],
        None => CPU_PROBES.to_vec(),
    };
    let runs: Vec<tune::Recommendations> = ram
        .iter()
        .flat_map(|&(kb, size)| cpus.iter().map(move |&c| (kb, size, c)))
        .map(|(kb, size, c)| tune::recommend(&base_input(snap, host, kb, c, size)))
        .collect();
    let mut stable = Vec::new();
    let mut skipped: Vec<&'static str> = Vec::new();
    for run in &runs {
        for rec in &run.settings {
            if NOT_COMPARED.contains(&rec.name)
                || skipped.contains(&rec.name)
                || stable.iter().any(|s: &Recommendation| s.name == rec.name)
            {
                continue;
            }
            if runs
                .iter()
                .all(|r| r.get(rec.name).is_some_and(|o| o.value == rec.value))
            {
                stable.push(rec.clone());
            } else {
                skipped.push(rec.name);
            }
        }
    }
    (stable, skipped)
}

/// Compares every recommendation that can be made for this host with the live settings.
pub(super) fn diff(snap: &StatsSnapshot, host: &HostContext) -> Diff {
    let mut notes = Vec::new();
    let major = snap.major();
    if !(tune::MIN_PG_VERSION..=tune::MAX_PG_VERSION).contains(&major) {
        notes.push(format!(
            "PostgreSQL {major} is outside the supported {}–{}: settings are compared with \
             the rules for the nearest supported major",
            tune::MIN_PG_VERSION,
            tune::MAX_PG_VERSION
        ));
    }
    if snap.settings.is_empty() {
        notes.push("pg_settings was not collected: settings are not compared".to_owned());
        return Diff {
            rows: Vec::new(),
            recommended: Vec::new(),
            notes,
        };
    }
    if let Some(bytes) = host.ram_bytes
        && known_ram_kb(host).is_none()
    {
        notes.push(format!(
            "RAM of {} is below the {} the engine tunes for: RAM-based settings are not compared",
            format_bytes_human(bytes),
            format_kb(tune::MIN_RAM_KB)
        ));
    }
    let (recommended, skipped) = stable_recommendations(snap, host);
    if !skipped.is_empty() {
        let unknown = match (known_ram_kb(host).is_some(), host.cpus.is_some()) {
            (false, false) => "RAM and CPUs",
            (false, true) => "RAM",
            _ => "CPUs",
        };
        notes.push(format!(
            "{unknown} unknown, so these settings are not compared: {}",
            skipped.join(", ")
        ));
    }
    let rows = recommended.iter().map(|rec| row(rec, snap)).collect();
    Diff {
        rows,
        recommended,
        notes,
    }
}

fn row(rec: &Recommendation, snap: &StatsSnapshot) -> SettingRow {
    let recommended = rec.value.to_conf();
    let Some(live) = snap.setting(rec.name) else {
        return SettingRow {
            name: rec.name.to_owned(),
            live: None,
            recommended,
            status: SettingStatus::Missing,
            reason: rec.reason.clone(),
            restart_required: rec.restart_required,
            pending_restart: false,
            source: None,
            sourcefile: None,
            sourceline: None,
            note: None,
        };
    };
    let c = compare(&rec.value, rec.name, live, snap);
    SettingRow {
        name: rec.name.to_owned(),
        live: Some(c.live),
        recommended,
        status: c.status,
        reason: rec.reason.clone(),
        restart_required: live.context == "postmaster",
        pending_restart: live.pending_restart,
        source: Some(live.source.clone()),
        sourcefile: live.sourcefile.clone(),
        sourceline: live.sourceline,
        note: c.note,
    }
}

/// One comparison: the live value as `SHOW` prints it, the verdict, and any explanation.
#[derive(Debug, PartialEq)]
struct Compared {
    live: String,
    status: SettingStatus,
    note: Option<String>,
}

fn compare(rec: &Value, name: &str, live: &LiveSetting, snap: &StatsSnapshot) -> Compared {
    match rec {
        Value::SizeKb(kb) => compare_size(*kb as f64, name, live, snap),
        Value::TimeMs(ms) => compare_time(*ms as f64, live),
        Value::Int(n) => compare_number(*n as f64, live),
        Value::Real(text) => compare_number(text.parse().unwrap_or(f64::NAN), live),
        Value::Word(word) => compare_word(word, name, live),
    }
}

/// Equal within ±[`EQUAL_TOLERANCE_FRACTION`] of the recommendation, boundary included.
fn within(live: f64, rec: f64) -> SettingStatus {
    if !(live.is_finite() && rec.is_finite()) {
        return SettingStatus::Unknown;
    }
    // The tiny relative slack keeps an exact 5% from failing on binary rounding.
    if (live - rec).abs() <= rec.abs() * EQUAL_TOLERANCE_FRACTION * (1.0 + 1e-9) {
        SettingStatus::Equal
    } else {
        SettingStatus::Differs
    }
}

/// A whole non-negative number as an integer, for formatting with the largest exact unit.
fn whole(n: f64) -> Option<u64> {
    // Checked whole, non-negative and below 2⁶³ first, so the cast is exact.
    #[allow(clippy::cast_possible_truncation)]
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n < 9.2e18 {
        Some(n as u64)
    } else {
        None
    }
}

/// The raw row, when it cannot be interpreted: value and unit side by side.
fn unknown(live: &LiveSetting, why: String) -> Compared {
    let text = match &live.unit {
        Some(unit) if !unit.is_empty() => format!("{} × {unit}", live.setting),
        _ => live.setting.clone(),
    };
    Compared {
        live: text,
        status: SettingStatus::Unknown,
        note: Some(why),
    }
}

fn unit_text(live: &LiveSetting) -> &str {
    live.unit
        .as_deref()
        .filter(|u| !u.is_empty())
        .unwrap_or("none")
}

/// The live value of a memory setting in kB; `None` when missing, not a size, or `-1`.
pub(super) fn live_size_kb(snap: &StatsSnapshot, name: &str) -> Option<f64> {
    let live = snap.setting(name)?;
    let Some(SettingUnit::Memory(unit_bytes)) = setting_unit(live.unit.as_deref()) else {
        return None;
    };
    // The bare number, read with PostgreSQL's number syntax, then scaled by the unit.
    let n = parse_pg_size_kb(&live.setting, 1).ok()?;
    (n >= 0.0).then(|| n * unit_bytes as f64 / KB_BYTES as f64)
}

/// What `-1` stands for in the size settings we recommend, resolved from other live
/// settings, in kB, with how it was derived.
fn auto_size_kb(name: &str, snap: &StatsSnapshot) -> Option<(f64, &'static str)> {
    match name {
        "wal_buffers" => {
            let sb_bytes = whole(live_size_kb(snap, "shared_buffers")?.floor())? * KB_BYTES;
            let segment = live_size_kb(snap, "wal_segment_size")
                .and_then(|kb| whole(kb.floor()))
                .map_or(DEFAULT_WAL_SEGMENT_BYTES, |kb| kb * KB_BYTES);
            // PostgreSQL's XLOGChooseNumBuffers, in WAL blocks.
            let blocks = (sb_bytes / WAL_BLOCK_BYTES / AUTO_WAL_BUFFERS_DIVISOR)
                .clamp(MIN_AUTO_WAL_BUFFERS_BLOCKS, segment / WAL_BLOCK_BYTES);
            Some((
                (blocks * WAL_BLOCK_BYTES / KB_BYTES) as f64,
                "1/32 of shared_buffers, between 64kB and one WAL segment",
            ))
        }
        "autovacuum_work_mem" => Some((
            live_size_kb(snap, "maintenance_work_mem")?,
            "use maintenance_work_mem",
        )),
        _ => None,
    }
}

fn compare_size(rec_kb: f64, name: &str, live: &LiveSetting, snap: &StatsSnapshot) -> Compared {
    let Some(SettingUnit::Memory(unit_bytes)) = setting_unit(live.unit.as_deref()) else {
        return unknown(
            live,
            format!("expected a size, but the unit is {}", unit_text(live)),
        );
    };
    let Ok(n) = parse_pg_size_kb(&live.setting, 1) else {
        return unknown(live, format!("'{}' is not a number", live.setting));
    };
    if n < 0.0 {
        return match auto_size_kb(name, snap) {
            Some((kb, how)) => Compared {
                live: live.setting.clone(),
                status: within(kb, rec_kb),
                note: Some(format!(
                    "{} means {how}: {} here",
                    live.setting,
                    whole(kb).map_or_else(|| format!("{kb}kB"), format_kb)
                )),
            },
            None => Compared {
                live: live.setting.clone(),
                status: SettingStatus::Auto,
                note: Some(format!(
                    "{}: chosen by the server; its effective value is not visible",
                    live.setting
                )),
            },
        };
    }
    let bytes = n * unit_bytes as f64;
    let text = match whole(bytes) {
        Some(b) if b % KB_BYTES == 0 => format_kb(b / KB_BYTES),
        Some(b) => format!("{b}B"),
        None => format!("{bytes}B"),
    };
    Compared {
        live: text,
        status: within(bytes / KB_BYTES as f64, rec_kb),
        note: None,
    }
}

fn compare_time(rec_ms: f64, live: &LiveSetting) -> Compared {
    let Some(SettingUnit::Time(base_ms)) = setting_unit(live.unit.as_deref()) else {
        return unknown(
            live,
            format!("expected a duration, but the unit is {}", unit_text(live)),
        );
    };
    let Ok(ms) = parse_pg_time_ms(&live.setting, base_ms) else {
        return unknown(live, format!("'{}' is not a number", live.setting));
    };
    if ms < 0.0 {
        return Compared {
            live: live.setting.clone(),
            status: SettingStatus::Auto,
            note: Some(format!(
                "{}: disabled or chosen by the server",
                live.setting
            )),
        };
    }
    Compared {
        live: whole(ms).map_or_else(|| format!("{ms}ms"), format_ms),
        status: within(ms, rec_ms),
        note: None,
    }
}

fn compare_number(rec: f64, live: &LiveSetting) -> Compared {
    if setting_unit(live.unit.as_deref()) != Some(SettingUnit::None) {
        return unknown(
            live,
            format!(
                "expected a plain number, but the unit is {}",
                unit_text(live)
            ),
        );
    }
    let Ok(n) = live.setting.trim().parse::<f64>() else {
        return unknown(live, format!("'{}' is not a number", live.setting));
    };
    Compared {
        live: live.setting.clone(),
        status: within(n, rec),
        note: None,
    }
}

/// Words that mean the same to the server: PostgreSQL's boolean spellings, and enum values
/// that `SHOW` prints under another name (`wal_compression = on` shows as `pglz`).
pub(super) fn normalize_word(name: &str, word: &str) -> String {
    let w = word.trim().to_ascii_lowercase();
    match (name, w.as_str()) {
        (_, "on" | "true" | "yes" | "1") | ("wal_compression", "pglz") => "on".to_owned(),
        (_, "off" | "false" | "no" | "0") => "off".to_owned(),
        _ => w,
    }
}

fn compare_word(rec: &str, name: &str, live: &LiveSetting) -> Compared {
    let status = if normalize_word(name, &live.setting) == normalize_word(name, rec) {
        SettingStatus::Equal
    } else {
        SettingStatus::Differs
    };
    Compared {
        live: live.setting.clone(),
        status,
        note: None,
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
