//! Findings from activity counters the report already collects: requested checkpoints
//! (`requested_checkpoints`), client backends writing or fsyncing shared buffers themselves
//! (`backend_writes`, `backend_fsyncs`), shared_buffers turning over (`buffer_evictions`)
//! and queries spilling to temporary files (`temp_files`).
//!
//! Each finding names its counters (they moved between views across majors), the window
//! they cover, the threshold and where that threshold comes from. Rates are per hour over
//! the counters' age ([`super::age`]): from `stats_reset` when known; counters never reset
//! are at least as old as the server's uptime (they survive clean restarts), so a rate over
//! the uptime is an upper bound and is said to be one, and is never judged critical. A
//! window under an hour counts as a whole hour: what happened within it is a floor on that
//! hour's count, so a minute-old window cannot turn one spill into "60 per hour".

use super::age::{counters_age_seconds, seconds_between};
use super::report::{Finding, Severity, push};
use super::settings::live_size_kb;
use super::text::{approx_duration, format_count, format_ratio, whole_percent};
use crate::facts::StatsSnapshot;
use crate::units::{KB_BYTES, format_bytes_human, format_kb, format_ms, parse_pg_time_ms};

/// Requested checkpoints above this share of all checkpoints mean WAL volume, not
/// checkpoint_timeout, drives them (kestra.io blueprint "postgres forced checkpoint
/// max_wal_size tuning guard"; PostgreSQL's own `checkpoint_warning` says the same in words).
pub const REQUESTED_CHECKPOINT_SHARE: f64 = 0.5;
/// Fewest checkpoints for the requested share to mean anything (same source).
pub const MIN_CHECKPOINTS: i64 = 20;
/// Client backends writing more than this share of all shared-buffer writes: the background
/// writer and checkpointer do not keep up. pgcache-tune's own line (more writes by queries
/// than by both helpers together); the PostgreSQL docs (pg_stat_io) give no number.
pub const BACKEND_WRITE_SHARE: f64 = 0.5;
/// Fewest shared-buffer writes (8 MiB of 8kB blocks) for the backend share to be judged.
pub const MIN_BUFFER_WRITES: i64 = 1_000;
/// Evictions per hour, in multiples of shared_buffers, from which the cache is said to turn
/// over: every buffer replaced at least once an hour. pgcache-tune's own line; the
/// PostgreSQL docs (pg_stat_io) say only that "a high evictions count can indicate that
/// shared buffers should be increased".
pub const EVICTION_TURNOVERS_PER_HOUR: f64 = 1.0;
/// Temporary files per hour from which a database gets a warning (pgdoctor `tempusage`).
pub const TEMP_FILES_WARNING_PER_HOUR: f64 = 5.0;
/// Temporary files per hour from which a database gets a critical finding (pgdoctor).
pub const TEMP_FILES_CRITICAL_PER_HOUR: f64 = 20.0;
/// Temporary bytes per hour from which a database gets a warning (pgdoctor: 1 GB).
pub const TEMP_BYTES_WARNING_PER_HOUR: f64 = (1u64 << 30) as f64;
/// Temporary bytes per hour from which a database gets a critical finding (pgdoctor: 5 GB).
pub const TEMP_BYTES_CRITICAL_PER_HOUR: f64 = (5u64 << 30) as f64;

const HOUR_SECONDS: u64 = 3_600;
/// PostgreSQL's default block size, when the snapshot lacks `block_size`.
const DEFAULT_BLOCK_BYTES: f64 = 8_192.0;

/// The span some counters cover.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Window {
    /// Seconds from the reset (or from the server start when never reset) to the snapshot.
    pub seconds: u64,
    /// Whether the span starts at a known reset; otherwise it is a lower bound.
    pub from_reset: bool,
}

impl Window {
    /// The counters' window: from `stats_reset` when set, else since the server start at
    /// least.
    pub fn of(snap: &StatsSnapshot, stats_reset_epoch: Option<f64>) -> Window {
        let now = snap.server.now_epoch;
        match counters_age_seconds(stats_reset_epoch, now) {
            Some(seconds) => Window {
                seconds,
                from_reset: true,
            },
            None => Window {
                seconds: seconds_between(snap.server.start_epoch, now),
                from_reset: false,
            },
        }
    }

    /// Hours to divide by: the window, but at least one hour (module docs).
    pub fn hours(self) -> f64 {
        self.seconds.max(HOUR_SECONDS) as f64 / HOUR_SECONDS as f64
    }

    /// "over the 3h since the statistics reset" or the uptime caveat.
    pub fn describe(self) -> String {
        let span = approx_duration(self.seconds);
        if self.from_reset {
            format!("over the {span} since their reset")
        } else {
            format!(
                "since the server start {span} ago at least (never reset, so they may be \
                 older and per-hour rates are upper bounds)"
            )
        }
    }
}

/// A setting's live value as `SHOW` prints it (`2MB`, `5min`), for the advice.
fn show_value(snap: &StatsSnapshot, name: &str) -> Option<String> {
    let s = snap.setting(name)?;
    if let Some(kb) = live_size_kb(snap, name) {
        return Some(format_kb(rounded(kb).unsigned_abs()));
    }
    let unit_ms = match s.unit.as_deref() {
        Some("ms") => Some(1.0),
        Some("s") => Some(1_000.0),
        Some("min") => Some(60_000.0),
        _ => None,
    };
    if let Some(ms) = unit_ms.and_then(|u| parse_pg_time_ms(&s.setting, u).ok()) {
        return Some(format_ms(rounded(ms).unsigned_abs()));
    }
    Some(format!("{}{}", s.setting, s.unit.as_deref().unwrap_or("")))
}

/// " (a = x, b = y)" for the advice, naming the known settings of `names`; empty when none
/// is known.
fn show(snap: &StatsSnapshot, names: &[&str]) -> String {
    let known: Vec<String> = names
        .iter()
        .filter_map(|n| show_value(snap, n).map(|v| format!("{n} = {v}")))
        .collect();
    if known.is_empty() {
        String::new()
    } else {
        format!(" ({})", known.join(", "))
    }
}

/// A non-negative count computed in floating point, rounded for printing.
fn rounded(x: f64) -> i64 {
    // Saturating float-to-int cast of a finite, non-negative count: the intent.
    #[allow(clippy::cast_possible_truncation)]
    let n = x.max(0.0).round() as i64;
    n
}

/// Every counter finding, in a fixed order.
pub(super) fn findings(snap: &StatsSnapshot, out: &mut Vec<Finding>) {
    checkpoints(snap, out);
    buffer_writes(snap, out);
    evictions(snap, out);
    temp_files(snap, out);
}

/// Requested against timed checkpoints.
fn checkpoints(snap: &StatsSnapshot, out: &mut Vec<Finding>) {
    let Some(c) = snap.checkpoints else { return };
    // On 18 the denominator is what was performed; requests arriving while a checkpoint
    // runs are merged into it, so they can outnumber it (the share is then capped).
    let (total, noun, counters) = match c.done {
        Some(done) => (
            done,
            "performed",
            "pg_stat_checkpointer.num_requested against num_done",
        ),
        None if snap.major() >= 17 => (
            c.timed.saturating_add(c.requested),
            "in all",
            "pg_stat_checkpointer.num_requested against num_timed + num_requested (num_timed \
             includes skipped idle checkpoints on 17, which lowers the share)",
        ),
        None => (
            c.timed.saturating_add(c.requested),
            "in all",
            "pg_stat_bgwriter.checkpoints_req against checkpoints_timed + checkpoints_req",
        ),
    };
    if total < MIN_CHECKPOINTS {
        return;
    }
    let requested = c.requested.max(0);
    let share = (requested as f64 / total as f64).min(1.0);
    if share <= REQUESTED_CHECKPOINT_SHARE {
        return;
    }
    let window = Window::of(snap, c.stats_reset_epoch);
    push(
        out,
        Severity::Warning,
        "requested_checkpoints",
        format!(
            "{} checkpoints requested rather than timed against {} {noun} ({} requested) {}; \
             counters: {counters}; threshold: above {} over at least {MIN_CHECKPOINTS} \
             checkpoints (kestra.io forced-checkpoint max_wal_size guard): WAL fills \
             max_wal_size{} before checkpoint_timeout{} passes, so raise max_wal_size (a \
             reload, no restart); CHECKPOINT commands and base backups count as requested too",
            format_count(requested),
            format_count(total),
            format_ratio(Some(share)),
            window.describe(),
            whole_percent(REQUESTED_CHECKPOINT_SHARE),
            show_value(snap, "max_wal_size").map_or_else(String::new, |v| format!(" ({v})")),
            show_value(snap, "checkpoint_timeout").map_or_else(String::new, |v| format!(" ({v})")),
        ),
    );
}

/// Client backends writing (and fsyncing) dirty buffers themselves: from `pg_stat_io` on 16
/// and later, else from `pg_stat_bgwriter`.
fn buffer_writes(snap: &StatsSnapshot, out: &mut Vec<Finding>) {
    let io = snap.buffer_io.filter(|io| io.writes.is_some());
    let bg = snap.checkpoints.and_then(|c| c.bgwriter_writes);
    let (backend, total, fsyncs, reset, counters, fsync_counter) = match (io, bg) {
        (Some(io), _) => (
            io.backend_writes,
            io.writes.unwrap_or(0),
            io.backend_fsyncs.unwrap_or(0),
            io.stats_reset_epoch,
            "pg_stat_io writes of client backends against writes of all processes, relation \
             objects in context normal",
            "pg_stat_io fsyncs of client backends, relation objects in context normal",
        ),
        (None, Some(w)) => (
            w.backend,
            w.checkpoint
                .saturating_add(w.clean)
                .saturating_add(w.backend),
            w.backend_fsync,
            snap.checkpoints.and_then(|c| c.stats_reset_epoch),
            "pg_stat_bgwriter.buffers_backend against buffers_checkpoint + buffers_clean + \
             buffers_backend (before 16 buffers_backend also counts relation extensions, so \
             bulk loads inflate it)",
            "pg_stat_bgwriter.buffers_backend_fsync",
        ),
        (None, None) => return,
    };
    let window = Window::of(snap, reset);
    if total >= MIN_BUFFER_WRITES {
        let share = backend.max(0) as f64 / total as f64;
        if share > BACKEND_WRITE_SHARE {
            push(
                out,
                Severity::Warning,
                "backend_writes",
                format!(
                    "client backends wrote {} of {} shared-buffer writes ({}) {}; counters: \
                     {counters}; threshold: above {} of at least {} writes (pgcache-tune's; \
                     PostgreSQL docs: many writes by client backends point at shared_buffers \
                     or the checkpointer): queries wait on writes the background writer and \
                     checkpointer should have done, so shared_buffers is too small for the \
                     dirty working set or the background writer cannot keep up{}",
                    format_count(backend.max(0)),
                    format_count(total),
                    format_ratio(Some(share)),
                    window.describe(),
                    whole_percent(BACKEND_WRITE_SHARE),
                    format_count(MIN_BUFFER_WRITES),
                    show(snap, &["shared_buffers", "bgwriter_lru_maxpages"]),
                ),
            );
        }
    }
    if fsyncs > 0 {
        push(
            out,
            Severity::Warning,
            "backend_fsyncs",
            format!(
                "client backends did {} fsyncs themselves {}; counters: {fsync_counter}; \
                 threshold: any (PostgreSQL docs: fsyncs by client backends point at a \
                 misconfigured checkpointer): the checkpointer's request queue was full, \
                 which stalls queries; spread checkpoints (checkpoint_completion_target) \
                 and look at storage latency",
                format_count(fsyncs),
                window.describe(),
            ),
        );
    }
}

/// shared_buffers turning over: evictions per hour against its size in buffers (16 on).
fn evictions(snap: &StatsSnapshot, out: &mut Vec<Finding>) {
    let Some(io) = snap.buffer_io else { return };
    let Some(sb_kb) = live_size_kb(snap, "shared_buffers").filter(|&kb| kb > 0.0) else {
        return;
    };
    let block = live_size_kb(snap, "block_size")
        .map(|kb| kb * KB_BYTES as f64)
        .filter(|&b| b > 0.0)
        .unwrap_or(DEFAULT_BLOCK_BYTES);
    let buffers = (sb_kb * KB_BYTES as f64 / block).max(1.0);
    let window = Window::of(snap, io.stats_reset_epoch);
    let per_hour = io.evictions.max(0) as f64 / window.hours();
    let turnovers = per_hour / buffers;
    if io.evictions <= 0 || turnovers < EVICTION_TURNOVERS_PER_HOUR {
        return;
    }
    let touched = io.hits.max(0).saturating_add(io.reads.max(0));
    let ratio = (touched > 0).then(|| io.hits.max(0) as f64 / touched as f64);
    push(
        out,
        Severity::Warning,
        "buffer_evictions",
        format!(
            "{} buffers were evicted {} ({} per hour, {turnovers:.1} times shared_buffers \
             of {} buffers; hit ratio in context normal {}); counters: pg_stat_io evictions \
             of all processes, relation objects in context normal; threshold: \
             {EVICTION_TURNOVERS_PER_HOUR} turnover per hour (pgcache-tune's; PostgreSQL \
             docs: a high evictions count can indicate that shared buffers should be \
             increased): the working set does not stay in shared_buffers{}",
            format_count(io.evictions),
            window.describe(),
            format_count(rounded(per_hour)),
            format_count(rounded(buffers)),
            format_ratio(ratio),
            show(snap, &["shared_buffers"]),
        ),
    );
}

/// Temporary files per hour, per database.
fn temp_files(snap: &StatsSnapshot, out: &mut Vec<Finding>) {
    for d in &snap.databases {
        let files = d.temp_files.unwrap_or(0).max(0);
        let bytes = d.temp_bytes.unwrap_or(0).max(0);
        if files == 0 {
            continue;
        }
        let window = Window::of(snap, d.stats_reset_epoch);
        let files_h = files as f64 / window.hours();
        let bytes_h = bytes as f64 / window.hours();
        let critical =
            files_h >= TEMP_FILES_CRITICAL_PER_HOUR || bytes_h >= TEMP_BYTES_CRITICAL_PER_HOUR;
        let warning =
            files_h >= TEMP_FILES_WARNING_PER_HOUR || bytes_h >= TEMP_BYTES_WARNING_PER_HOUR;
        if !warning {
            continue;
        }
        // An upper-bound rate is never critical (pgdoctor caps it the same way).
        let severity = if critical && window.from_reset {
            Severity::Critical
        } else {
            Severity::Warning
        };
        push(
            out,
            severity,
            "temp_files",
            format!(
                "database \"{}\": {} temporary files ({}) {}, {files_h:.1} files and {} per \
                 hour; counters: pg_stat_database.temp_files and temp_bytes; threshold: \
                 warning from {TEMP_FILES_WARNING_PER_HOUR} files or 1 GiB per hour, critical \
                 from {TEMP_FILES_CRITICAL_PER_HOUR} files or 5 GiB per hour (pgdoctor \
                 tempusage): sorts and hashes spill past work_mem{}; raise it for the queries \
                 that spill (per role or session) rather than globally",
                d.name,
                format_count(files),
                format_bytes_human(bytes.unsigned_abs()),
                window.describe(),
                format_bytes_human(rounded(bytes_h).unsigned_abs()),
                show(snap, &["work_mem"]),
            ),
        );
    }
}

#[cfg(test)]
#[path = "counters_tests.rs"]
mod tests;
