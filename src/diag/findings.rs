//! Findings: what the numbers mean and what to do, one sentence each, with the numbers in it.
//!
//! Codes are stable snake_case identifiers that scripts match on: `young_statistics`,
//! `low_db_hit_ratio`, `raise_shared_buffers`, `shared_buffers_large`,
//! `effective_cache_size_below_shared_buffers`, `data_fits_in_shared_buffers`,
//! `table_dominates_reads`, `track_io_timing_off`, `reads_from_os_cache`,
//! `reads_from_storage`, `pending_restart`, `alter_system_overrides`, `unprivileged_role`,
//! and from activity counters ([`super::counters`]) `requested_checkpoints`,
//! `backend_writes`, `backend_fsyncs`, `buffer_evictions`, `temp_files`, and from the
//! host's memory ([`super::memory`]) `memory_overcommit`, `huge_pages_fallback`.
//! Advice that needs the host's RAM is only given when RAM is known.

use super::relations::kept;
use super::report::{DatabaseRow, Finding, ServerSection, Severity, push};
use super::settings::{EQUAL_TOLERANCE_FRACTION, live_size_kb, normalize_word};
use super::text::{approx_duration, format_count, format_ratio, whole_percent};
use super::{
    CRITICAL_HIT_RATIO, DiagOptions, HostContext, MIN_TRUSTED_BLOCKS, MIN_TRUSTED_WINDOW_SECONDS,
    WARNING_HIT_RATIO,
};
use crate::facts::{ScanCounts, StatsSnapshot};
use crate::tune::Recommendation;
use crate::units::{KB_BYTES, format_bytes_human, format_kb};

/// shared_buffers below this share of RAM may be raised when databases miss the cache
/// (the engine's 25%).
pub const SHARED_BUFFERS_LOW_RAM_SHARE: f64 = 0.25;
/// shared_buffers above this share of RAM starves the OS page cache and work_mem.
pub const SHARED_BUFFERS_HIGH_RAM_SHARE: f64 = 0.40;
/// Reads averaging less than this per block come from the OS page cache: a storage read,
/// even on NVMe, takes longer.
pub const OS_CACHE_MAX_READ_MS_PER_BLOCK: f64 = 0.1;
/// A table causing more than this share of its database's heap reads is named.
pub const DOMINANT_READ_SHARE: f64 = 0.5;
/// Fewest blocks (hit + read) for a database's ratio to raise a finding, whatever
/// `--min-blocks` says: a rarely used database (`postgres` after a few psql sessions reading
/// the catalog) has a low ratio over a few thousand blocks, and that is not a problem.
pub const MIN_DATABASE_FINDING_BLOCKS: i64 = 10_000;

/// Everything the findings look at.
pub(super) struct Inputs<'a> {
    pub snap: &'a StatsSnapshot,
    pub host: &'a HostContext,
    pub opts: &'a DiagOptions,
    pub server: &'a ServerSection,
    pub databases: &'a [DatabaseRow],
    /// Recommendations that do not depend on unknown inputs.
    pub recommended: &'a [Recommendation],
}

impl Inputs<'_> {
    fn recommended_kb(&self, name: &str) -> Option<(u64, &str)> {
        let rec = self.recommended.iter().find(|r| r.name == name)?;
        Some((rec.value.bytes()? / KB_BYTES, rec.reason.as_str()))
    }
}

/// A size in kB as `SHOW` prints it.
fn kb_text(kb: f64) -> String {
    // Live sizes are whole kB; the cast only drops a fraction that cannot occur.
    #[allow(clippy::cast_possible_truncation)]
    format_kb(kb.max(0.0) as u64)
}

/// All findings, critical first (stable within a severity).
pub(super) fn findings(i: &Inputs<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    young(i, &mut out);
    let low = low_ratios(i, &mut out);
    memory(i, low, &mut out);
    dominant_tables(i, &mut out);
    read_latency(i, &mut out);
    settings_state(i, &mut out);
    super::counters::findings(i.snap, &mut out);
    super::memory::findings(i.snap, i.host, &mut out);
    privileges(i, &mut out);
    out.sort_by_key(|f| f.severity);
    out
}

/// Young statistics: the server's as a whole (too few blocks, or every database reset
/// moments ago), else each database reset moments ago while others keep older counters.
fn young(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let later = format!(
        "hit ratios are not meaningful before {} and {} blocks; run again later",
        approx_duration(MIN_TRUSTED_WINDOW_SECONDS),
        format_count(MIN_TRUSTED_BLOCKS)
    );
    let s = i.server;
    if s.young {
        let why = if s.blocks_total < MIN_TRUSTED_BLOCKS {
            format!("count only {} blocks", format_count(s.blocks_total))
        } else {
            format!(
                "of every database were reset under {} ago",
                approx_duration(MIN_TRUSTED_WINDOW_SECONDS)
            )
        };
        push(
            out,
            Severity::Warning,
            "young_statistics",
            format!("statistics {why}: {later}"),
        );
        return;
    }
    for d in i.databases.iter().filter(|d| d.young) {
        push(
            out,
            Severity::Warning,
            "young_statistics",
            format!(
                "statistics of database \"{}\" cover only {} since its statistics reset \
                 (the other databases keep older counters): its {later}",
                d.name,
                approx_duration(d.stats_age_seconds.unwrap_or(0)),
            ),
        );
    }
}

/// Low database ratios; returns the worst severity raised, for the shared_buffers advice.
fn low_ratios(i: &Inputs<'_>, out: &mut Vec<Finding>) -> Option<Severity> {
    let mut worst = None;
    // A database reset moments ago has its own young_statistics finding instead.
    for d in i.databases.iter().filter(|d| !d.young) {
        let Some(ratio) = d.hit_ratio else { continue };
        let touched = d.blks_hit.max(0).saturating_add(d.blks_read.max(0));
        let floor = i.opts.min_blocks.max(MIN_DATABASE_FINDING_BLOCKS);
        if touched < floor || ratio >= WARNING_HIT_RATIO {
            continue;
        }
        let (severity, threshold) = if ratio < CRITICAL_HIT_RATIO {
            (Severity::Critical, CRITICAL_HIT_RATIO)
        } else {
            (Severity::Warning, WARNING_HIT_RATIO)
        };
        worst = Some(worst.map_or(severity, |w: Severity| w.min(severity)));
        push(
            out,
            severity,
            "low_db_hit_ratio",
            format!(
                "database \"{}\": hit ratio {} over {} blocks (below {})",
                d.name,
                format_ratio(Some(ratio)),
                format_count(touched),
                whole_percent(threshold)
            ),
        );
    }
    worst
}

/// shared_buffers against RAM and data, effective_cache_size against shared_buffers.
fn memory(i: &Inputs<'_>, low: Option<Severity>, out: &mut Vec<Finding>) {
    let Some(sb_kb) = live_size_kb(i.snap, "shared_buffers") else {
        return;
    };
    let sb_bytes = sb_kb * KB_BYTES as f64;
    let data_bytes = i.server.total_data_bytes;
    let data_fits = data_bytes.is_some_and(|d| (d as f64) < sb_bytes);

    if let Some(ram) = i.host.ram_bytes.filter(|&r| r > 0) {
        let share = sb_bytes / ram as f64;
        let ram_text = format_bytes_human(ram);
        let rec = i.recommended_kb("shared_buffers");
        if let (Some(severity), Some((rec_kb, reason))) = (low, rec)
            && share < SHARED_BUFFERS_LOW_RAM_SHARE
            && !data_fits
            && rec_kb as f64 > sb_kb * (1.0 + EQUAL_TOLERANCE_FRACTION)
        {
            push(
                out,
                severity,
                "raise_shared_buffers",
                format!(
                    "raise shared_buffers from {} ({} of {ram_text} RAM) to {} ({reason}): \
                     databases miss the cache; takes a restart",
                    kb_text(sb_kb),
                    format_ratio(Some(share)),
                    format_kb(rec_kb),
                ),
            );
        }
        if share > SHARED_BUFFERS_HIGH_RAM_SHARE {
            let advice = match rec {
                Some((rec_kb, _)) => format!("; {} is recommended", format_kb(rec_kb)),
                None => String::new(),
            };
            push(
                out,
                Severity::Warning,
                "shared_buffers_large",
                format!(
                    "shared_buffers ({}) is {} of RAM ({ram_text}): above {} it crowds out \
                     the OS page cache and work_mem, and pages are cached twice{advice}",
                    kb_text(sb_kb),
                    format_ratio(Some(share)),
                    whole_percent(SHARED_BUFFERS_HIGH_RAM_SHARE)
                ),
            );
        }
    }

    if let Some(ecs_kb) = live_size_kb(i.snap, "effective_cache_size")
        && ecs_kb < sb_kb
    {
        let advice = match i.recommended_kb("effective_cache_size") {
            Some((kb, reason)) => format!("set it to {} ({reason})", format_kb(kb)),
            None => "set it to shared_buffers plus the OS page cache".to_owned(),
        };
        push(
            out,
            Severity::Warning,
            "effective_cache_size_below_shared_buffers",
            format!(
                "effective_cache_size ({}) is below shared_buffers ({}): the planner assumes \
                 less cache than PostgreSQL alone holds and shies away from index scans; {advice}",
                kb_text(ecs_kb),
                kb_text(sb_kb)
            ),
        );
    }

    if let Some(data) = data_bytes
        && data_fits
    {
        push(
            out,
            Severity::Info,
            "data_fits_in_shared_buffers",
            format!(
                "the whole data set ({}) fits in shared_buffers ({}): ratios should approach \
                 100%; lower ones mean a young window",
                format_bytes_human(data),
                kb_text(sb_kb)
            ),
        );
    }
}

/// Tables causing most of their database's heap reads. A database where one table alone
/// reads has nothing to compare: "100% of the reads" would only restate that.
fn dominant_tables(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let mut databases: Vec<&str> = i.snap.tables.iter().map(|t| t.database.as_str()).collect();
    databases.sort_unstable();
    databases.dedup();
    for db in databases {
        let tables: Vec<_> = i
            .snap
            .tables
            .iter()
            .filter(|t| t.database == db && t.heap_blks_read > 0)
            .collect();
        let total = tables
            .iter()
            .fold(0i64, |acc, t| acc.saturating_add(t.heap_blks_read));
        if tables.len() < 2 || total < i.opts.min_blocks || total == 0 {
            continue;
        }
        for t in tables {
            let share = t.heap_blks_read as f64 / total as f64;
            if share > DOMINANT_READ_SHARE && kept(i.opts, &t.schema, &[&t.name]) {
                push(
                    out,
                    Severity::Warning,
                    "table_dominates_reads",
                    format!(
                        "table {}.{} causes {} of the heap blocks read in database \"{db}\" \
                         ({} of {}): {}",
                        t.schema,
                        t.name,
                        format_ratio(Some(share)),
                        format_count(t.heap_blks_read),
                        format_count(total),
                        scan_advice(t.scans)
                    ),
                );
            }
        }
    }
}

/// What to look at for a table that dominates reads, from how it is scanned.
fn scan_advice(scans: Option<ScanCounts>) -> String {
    let Some(s) = scans else {
        return "look at its queries before adding memory".to_owned();
    };
    let idx = s.idx_scan.unwrap_or(0).max(0);
    if s.seq_scan > 0 {
        format!(
            "{} sequential scans read {} rows (against {} index scans): look at its queries \
             (sequential scans, missing indexes) before adding memory",
            format_count(s.seq_scan),
            format_count(s.seq_tup_read),
            format_count(idx)
        )
    } else {
        format!(
            "it is read only through index scans ({}), so no index is missing: its queries \
             fetch more rows than stay cached; look at how many rows they fetch, or give the \
             cache more memory",
            format_count(idx)
        )
    }
}

/// track_io_timing, and where misses are served from when it is on.
fn read_latency(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let Some(timing) = i.snap.setting("track_io_timing") else {
        return;
    };
    if normalize_word("track_io_timing", &timing.setting) != "on" {
        push(
            out,
            Severity::Info,
            "track_io_timing_off",
            "track_io_timing is off: reads cannot be split into OS page-cache hits and disk \
             reads; turn it on (ALTER SYSTEM SET track_io_timing = on; SELECT pg_reload_conf();) \
             after checking the clock's overhead with pg_test_timing"
                .to_owned(),
        );
        return;
    }
    let (reads, ms) = i.snap.databases.iter().fold((0i64, 0.0f64), |(r, t), d| {
        (
            r.saturating_add(d.blks_read.max(0)),
            t + d.blk_read_time_ms.max(0.0),
        )
    });
    // No time at all with reads means timing was switched on moments ago: nothing to say.
    if reads < i.opts.min_blocks.max(1) || ms <= 0.0 {
        return;
    }
    let per_block = ms / reads as f64;
    if per_block < OS_CACHE_MAX_READ_MS_PER_BLOCK {
        push(
            out,
            Severity::Info,
            "reads_from_os_cache",
            format!(
                "reads average {per_block:.3} ms per block over {} blocks: misses are served by \
                 the OS page cache (under {OS_CACHE_MAX_READ_MS_PER_BLOCK} ms), so they cost \
                 little (assuming track_io_timing was on for the whole window)",
                format_count(reads)
            ),
        );
    } else {
        push(
            out,
            Severity::Warning,
            "reads_from_storage",
            format!(
                "reads average {per_block:.3} ms per block over {} blocks: misses reach storage \
                 ({OS_CACHE_MAX_READ_MS_PER_BLOCK} ms or more per block), so every point of hit \
                 ratio saves disk reads",
                format_count(reads)
            ),
        );
    }
}

/// Settings waiting for a restart, and settings ALTER SYSTEM overrides.
fn settings_state(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let pending: Vec<&str> = i
        .snap
        .settings
        .iter()
        .filter(|s| s.pending_restart)
        .map(|s| s.name.as_str())
        .collect();
    if !pending.is_empty() {
        push(
            out,
            Severity::Warning,
            "pending_restart",
            format!(
                "changed in the configuration but waiting for a restart: {}; the live values \
                 are still the old ones",
                pending.join(", ")
            ),
        );
    }
    let overridden: Vec<&str> = i
        .snap
        .settings
        .iter()
        .filter(|s| {
            s.sourcefile
                .as_deref()
                .is_some_and(|f| f.ends_with("postgresql.auto.conf"))
        })
        .map(|s| s.name.as_str())
        .collect();
    if !overridden.is_empty() {
        push(
            out,
            Severity::Info,
            "alter_system_overrides",
            format!(
                "ALTER SYSTEM overrides your postgresql.conf for {} (postgresql.auto.conf wins; \
                 change them with ALTER SYSTEM or remove them with ALTER SYSTEM RESET)",
                overridden.join(", ")
            ),
        );
    }
}

/// `name` as an SQL identifier: bare when PostgreSQL would read it back unchanged, quoted
/// otherwise (keywords are not detected; a role named `user` would need quotes).
fn quote_ident(name: &str) -> String {
    let bare = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if bare {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// One line on what pg_monitor would show, built from what this snapshot is missing.
fn privileges(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let p = i.snap.privileges;
    if p.superuser || p.pg_monitor {
        return;
    }
    let mut gains = Vec::new();
    if i.snap
        .settings
        .iter()
        .any(|s| s.sourcefile.is_none() && s.source == "configuration file")
        || i.snap.settings.is_empty()
    {
        gains.push("the file and line each setting comes from".to_owned());
    }
    let without_size = i
        .snap
        .databases
        .iter()
        .filter(|d| d.size_bytes.is_none())
        .count();
    if without_size > 0 {
        gains.push(format!("the sizes of {without_size} more database(s)"));
    }
    if gains.is_empty() {
        gains.push("setting source files and the sizes of every database".to_owned());
    }
    push(
        out,
        Severity::Info,
        "unprivileged_role",
        format!(
            "GRANT pg_monitor TO {} would add: {}",
            quote_ident(&i.snap.server.user),
            gains.join("; ")
        ),
    );
}

#[cfg(test)]
#[path = "findings_tests.rs"]
mod tests;
