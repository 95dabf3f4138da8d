//! Which statements cause the reads: a pure analysis of `pg_stat_statements` counters over a
//! window, the query-level companion of the relation tables. Per statement it gives calls,
//! total and mean time, rows per call, shared blocks hit/read/dirtied/written, the hit
//! ratio, the share of all blocks read in the window, temp blocks (work_mem spills) and read
//! time (only when `track_io_timing` is on), sorted by what the user asks.
//!
//! Windows follow `check`: lifetime (since the extension's reset), two samples of this run,
//! or a saved snapshot and now. Entries are matched by their key (userid, dbid, queryid,
//! toplevel); an entry that went backwards or started counting inside the window
//! (`stats_since`, 1.11) was reset or evicted and re-entered, so its window counters are its
//! current ones. Evictions (`dealloc`) and resets in the window are said, never hidden.
//!
//! Query texts are not part of the counters: [`text_keys`] names the few entries shown,
//! the shell fetches their texts (shortened on the server), and [`analyse`] takes them.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::candidates::{self, Candidate, Churn};
use super::measured::top_by;
pub use super::measured::{Measured, QueryWindow, Totals, WindowKind};
use super::text::{format_count, format_ratio};
use crate::facts::{
    StatementCounters, StatementEntry, StatementKey, StatementsFacts, StatementsStatus,
    StatsSnapshot,
};

/// Characters of query text fetched per shown statement (cut on the server).
pub const TEXT_CHARS: i32 = 500;
/// Default number of statements listed (`queries --limit`).
pub const DEFAULT_LIMIT: usize = 20;
/// Statements listed in `report`'s queries section.
pub const REPORT_LIMIT: usize = 5;
/// Statements named in the temp-file finding.
pub const SPILLING_NAMED: usize = 3;

/// The order of the list (`--sort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Shared blocks read (the default: what misses the cache).
    Read,
    /// Total execution time.
    Time,
    /// Calls.
    Calls,
    /// Temp blocks written (work_mem spills).
    Temp,
}

impl Sort {
    /// The lowercase name used by the flag and the output.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Read => "read",
            Sort::Time => "time",
            Sort::Calls => "calls",
            Sort::Temp => "temp",
        }
    }

    /// The value an entry is ranked by (larger first).
    fn key(self, c: &StatementCounters) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        match self {
            Sort::Read => c.shared_blks_read as f64,
            Sort::Time => c.exec_ms,
            Sort::Calls => c.calls as f64,
            Sort::Temp => c.temp_blks_written as f64,
        }
    }
}

/// The one-line note with the exact fix when `facts` could not be read; `None` when it was
/// read.
pub fn status_note(facts: &StatementsFacts) -> Option<String> {
    const PRELOAD: &str = "shared_preload_libraries = 'pg_stat_statements' in postgresql.conf \
                           and a restart";
    const CREATE: &str = "CREATE EXTENSION pg_stat_statements; (as a superuser, in this database)";
    let text = match facts.status {
        StatementsStatus::Ok => return None,
        StatementsStatus::NotInstalled => format!(
            "pg_stat_statements is not installed on this server: install PostgreSQL's contrib \
             package, then {PRELOAD}, then {CREATE}"
        ),
        StatementsStatus::NotPreloaded => format!(
            "pg_stat_statements is not loaded: add {PRELOAD}{}",
            if facts.installed_version.is_none() {
                format!(", then {CREATE}")
            } else {
                String::new()
            }
        ),
        StatementsStatus::NotCreated => format!(
            "pg_stat_statements is loaded but not created in this database: {CREATE} \
             (pgcache-tune never creates it)"
        ),
        StatementsStatus::Outdated => format!(
            "pg_stat_statements {} is older than 1.8, whose columns pgcache-tune reads: \
             ALTER EXTENSION pg_stat_statements UPDATE;{}",
            facts.installed_version.as_deref().unwrap_or("?"),
            facts
                .default_version
                .as_deref()
                .map(|v| format!(" (to {v})"))
                .unwrap_or_default()
        ),
    };
    Some(text)
}

/// Notes about a readable `facts` that hold whatever the window: an outdated extension,
/// entries hidden from `role`, read times without `track_io_timing`.
fn reading_notes(facts: &StatementsFacts, role: &str) -> Vec<String> {
    let mut notes = Vec::new();
    if let (Some(installed), Some(default)) = (&facts.installed_version, &facts.default_version)
        && let (Some(i), Some(d)) = (
            crate::facts::extension_version(installed),
            crate::facts::extension_version(default),
        )
        && i < d
    {
        notes.push(format!(
            "pg_stat_statements {installed} is installed, {default} is available: ALTER \
             EXTENSION pg_stat_statements UPDATE; adds the newer counters"
        ));
    }
    if facts.hidden_entries > 0 {
        notes.push(format!(
            "{} pg_stat_statements entries of other roles are hidden from role {role:?} and \
             left out (shares are of the visible entries): GRANT pg_read_all_stats TO {};",
            format_count(facts.hidden_entries),
            quote_role(role)
        ));
    }
    if !facts.track_io_timing {
        notes.push(
            "track_io_timing is off, so statements have no read times: track_io_timing = on \
             (a reload) adds them"
                .to_string(),
        );
    }
    notes
}

/// A role name as SQL would need it in a GRANT.
fn quote_role(role: &str) -> String {
    let plain = !role.is_empty()
        && role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !role.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        role.to_string()
    } else {
        format!("\"{}\"", role.replace('"', "\"\""))
    }
}

/// The readable statements of `snap`, or the note saying why there are none.
fn readable(snap: &StatsSnapshot) -> Result<&StatementsFacts, String> {
    let facts = snap.statements.as_ref().ok_or_else(|| {
        "these statistics hold no pg_stat_statements counters (a snapshot written without \
         them, or by an older pgcache-tune)"
            .to_string()
    })?;
    match status_note(facts) {
        Some(note) => Err(note),
        None => Ok(facts),
    }
}

/// The databases' names by OID (from the statements sample where it read them, else from
/// the snapshot's databases) and the connected database's OID.
fn databases(snap: &StatsSnapshot) -> (HashMap<u32, String>, Option<u32>) {
    let names: HashMap<u32, String> = match snap.statements.as_ref() {
        Some(f) if !f.database_names.is_empty() => f.database_names.iter().cloned().collect(),
        _ => snap
            .databases
            .iter()
            .filter_map(|d| Some((d.datid?, d.name.clone())))
            .collect(),
    };
    let connected = names
        .iter()
        .find(|(_, name)| **name == snap.server.database)
        .map(|(id, _)| *id);
    (names, connected)
}

/// The lifetime window of one sample: every entry as it stands.
pub fn lifetime(snap: &StatsSnapshot) -> Result<Measured, String> {
    let facts = readable(snap)?;
    let (databases, connected_dbid) = databases(snap);
    let mut notes = reading_notes(facts, &snap.server.user);
    if let Some(dealloc) = facts.dealloc.filter(|d| *d > 0) {
        notes.push(format!(
            "{} pg_stat_statements entries were evicted since its reset \
             (pg_stat_statements.max reached): statements run rarely may be missing, and a \
             returning one counts only from its return; raise pg_stat_statements.max",
            format_count(dealloc)
        ));
    }
    Ok(Measured {
        window: QueryWindow {
            kind: WindowKind::Lifetime,
            start_epoch: facts.stats_reset_epoch,
            end_epoch: snap.server.now_epoch,
        },
        entries: facts
            .entries
            .iter()
            .filter(|e| e.counters.calls > 0)
            .cloned()
            .collect(),
        notes,
        track_io_timing: facts.track_io_timing,
        databases,
        connected_dbid,
    })
}

/// `after − before`, or `None` when a counter went backwards (the entry was reset).
fn minus(after: &StatementCounters, before: &StatementCounters) -> Option<StatementCounters> {
    let d = StatementCounters {
        calls: after.calls - before.calls,
        exec_ms: after.exec_ms - before.exec_ms,
        plan_ms: after.plan_ms - before.plan_ms,
        rows: after.rows - before.rows,
        shared_blks_hit: after.shared_blks_hit - before.shared_blks_hit,
        shared_blks_read: after.shared_blks_read - before.shared_blks_read,
        shared_blks_dirtied: after.shared_blks_dirtied - before.shared_blks_dirtied,
        shared_blks_written: after.shared_blks_written - before.shared_blks_written,
        temp_blks_read: after.temp_blks_read - before.temp_blks_read,
        temp_blks_written: after.temp_blks_written - before.temp_blks_written,
        read_ms: after.read_ms - before.read_ms,
        wal_records: after.wal_records - before.wal_records,
    };
    let ints = [
        d.calls,
        d.rows,
        d.shared_blks_hit,
        d.shared_blks_read,
        d.shared_blks_dirtied,
        d.shared_blks_written,
        d.temp_blks_read,
        d.temp_blks_written,
        d.wal_records,
    ];
    // Float sums can wobble by rounding; only a clear step back is a reset.
    let floats = [d.exec_ms, d.plan_ms, d.read_ms];
    (ints.iter().all(|v| *v >= 0) && floats.iter().all(|v| *v > -1e-6)).then_some(d)
}

/// `now` started counting after `then` was sampled (`stats_since` moved, 1.11 on): it was
/// evicted or reset and came back, so `then`'s counters belong to an earlier life.
fn entered_since(now: &StatementEntry, then: &StatementEntry) -> bool {
    matches!((now.stats_since_epoch, then.stats_since_epoch), (Some(a), Some(b)) if a > b)
}

/// The window between two samples of one server (`kind` says which kind of pair).
pub fn between(
    start: &StatsSnapshot,
    end: &StatsSnapshot,
    kind: WindowKind,
) -> Result<Measured, String> {
    if let (Some(a), Some(b)) = (
        &start.server.system_identifier,
        &end.server.system_identifier,
    ) && a != b
    {
        return Err(format!(
            "the snapshot comes from another server (system identifier {a}, now {b})"
        ));
    }
    let before = readable(start).map_err(|e| format!("at the window's start: {e}"))?;
    let after = readable(end)?;
    let (databases, connected_dbid) = databases(end);
    let mut notes = reading_notes(after, &end.server.user);
    let reset = match (before.stats_reset_epoch, after.stats_reset_epoch) {
        (Some(a), Some(b)) => b > a,
        _ => false,
    };
    if reset {
        notes.push(
            "pg_stat_statements was reset during the window: statements count only from the \
             reset"
                .to_string(),
        );
    }
    if let (Some(a), Some(b)) = (before.dealloc, after.dealloc)
        && b > a
    {
        notes.push(format!(
            "{} pg_stat_statements entries were evicted during the window \
             (pg_stat_statements.max reached): evicted statements are missing and a returning \
             one counts only from its return; raise pg_stat_statements.max",
            format_count(b - a)
        ));
    }
    let old: HashMap<StatementKey, &StatementEntry> =
        before.entries.iter().map(|e| (e.key, e)).collect();
    let mut restarted = 0usize;
    let mut entries = Vec::new();
    for e in &after.entries {
        let counters = match old.get(&e.key) {
            Some(o) if !reset && !entered_since(e, o) => match minus(&e.counters, &o.counters) {
                Some(d) => d,
                None => {
                    restarted += 1;
                    e.counters
                }
            },
            Some(_) => {
                restarted += 1;
                e.counters
            }
            None => e.counters,
        };
        if counters.calls > 0 {
            entries.push(StatementEntry {
                key: e.key,
                counters,
                stats_since_epoch: e.stats_since_epoch,
            });
        }
    }
    if restarted > 0 && !reset {
        notes.push(format!(
            "{restarted} statements were evicted or reset and came back during the window: \
             they count only from their return"
        ));
    }
    Ok(Measured {
        window: QueryWindow {
            kind,
            start_epoch: Some(start.server.now_epoch),
            end_epoch: end.server.now_epoch,
        },
        entries,
        notes,
        track_io_timing: after.track_io_timing,
        databases,
        connected_dbid,
    })
}

/// The first `limit` entries (0: all) by `sort`.
fn ranked(entries: &[StatementEntry], sort: Sort, limit: usize) -> Vec<&StatementEntry> {
    top_by(entries.iter(), limit, |c| sort.key(c))
}

/// The [`SPILLING_NAMED`] entries that wrote the most temp blocks.
fn spillers(entries: &[StatementEntry]) -> Vec<&StatementEntry> {
    top_by(
        entries.iter().filter(|e| e.counters.temp_blks_written > 0),
        SPILLING_NAMED,
        |c| Sort::Temp.key(c),
    )
}

/// The entries whose text the shell should fetch: the first `limit` by `sort` (0: all),
/// the candidate pool, and the top temp spillers (for the temp-file finding).
pub fn text_keys(m: &Measured, sort: Sort, limit: usize) -> Vec<StatementKey> {
    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    for e in ranked(&m.entries, sort, limit)
        .into_iter()
        .chain(candidates::pool(&m.entries, limit))
        .chain(spillers(&m.entries))
    {
        if seen.insert(e.key) {
            keys.push(e.key);
        }
    }
    keys
}

/// One statement of the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRow {
    /// The extension's queryid (as text in JSON would lose nothing; kept a number).
    pub queryid: i64,
    /// Role OID.
    pub userid: u32,
    /// Database OID.
    pub dbid: u32,
    /// Database name, when it is still there.
    pub database: Option<String>,
    /// Top-level statement (1.9 on).
    pub toplevel: Option<bool>,
    /// Calls in the window.
    pub calls: i64,
    /// Execution time, ms.
    pub total_ms: f64,
    /// Mean execution time per call, ms.
    pub mean_ms: f64,
    /// Rows per call.
    pub rows_per_call: f64,
    /// Shared blocks hit.
    pub shared_blks_hit: i64,
    /// Shared blocks read.
    pub shared_blks_read: i64,
    /// Shared blocks dirtied.
    pub shared_blks_dirtied: i64,
    /// Shared blocks written.
    pub shared_blks_written: i64,
    /// hit / (hit + read); `None` without block accesses.
    pub hit_ratio: Option<f64>,
    /// This statement's share of the blocks read by all visible statements in the window.
    pub read_share: Option<f64>,
    /// Its share of all statements' execution time.
    pub time_share: Option<f64>,
    /// Temp blocks read.
    pub temp_blks_read: i64,
    /// Temp blocks written.
    pub temp_blks_written: i64,
    /// Time reading shared blocks, ms; `None` when `track_io_timing` was off.
    pub read_ms: Option<f64>,
    /// The normalised text (shortened on the server), when it could be fetched.
    pub query: Option<String>,
}

/// The queries section: the list, the cache candidates, and what the numbers cannot show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueriesReport {
    /// The window.
    pub window: QueryWindow,
    /// The order of `queries`.
    pub sort: Sort,
    /// Sums over all visible statements.
    pub totals: Totals,
    /// The first statements by `sort`.
    pub queries: Vec<QueryRow>,
    /// Result-cache candidates, best first (a heuristic; see `diag::candidates`).
    pub candidates: Vec<Candidate>,
    /// The top temp-block writers (work_mem spills), for the temp-file finding.
    pub spilling: Vec<QueryRow>,
    /// Notes.
    pub notes: Vec<String>,
}

fn ratio(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| part / whole)
}

impl Totals {
    fn of(entries: &[StatementEntry]) -> Totals {
        entries.iter().fold(Totals::default(), |t, e| Totals {
            statements: t.statements + 1,
            calls: t.calls.saturating_add(e.counters.calls),
            exec_ms: t.exec_ms + e.counters.exec_ms,
            shared_blks_read: t
                .shared_blks_read
                .saturating_add(e.counters.shared_blks_read),
            temp_blks_written: t
                .temp_blks_written
                .saturating_add(e.counters.temp_blks_written),
        })
    }
}

/// The row of one entry.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn row(
    e: &StatementEntry,
    m: &Measured,
    totals: &Totals,
    texts: &HashMap<StatementKey, String>,
) -> QueryRow {
    let c = &e.counters;
    let calls = c.calls.max(1) as f64;
    QueryRow {
        queryid: e.key.queryid,
        userid: e.key.userid,
        dbid: e.key.dbid,
        database: m.databases.get(&e.key.dbid).cloned(),
        toplevel: e.key.toplevel,
        calls: c.calls,
        total_ms: c.exec_ms,
        mean_ms: c.exec_ms / calls,
        rows_per_call: c.rows as f64 / calls,
        shared_blks_hit: c.shared_blks_hit,
        shared_blks_read: c.shared_blks_read,
        shared_blks_dirtied: c.shared_blks_dirtied,
        shared_blks_written: c.shared_blks_written,
        hit_ratio: super::hit_ratio(c.shared_blks_hit, c.shared_blks_read),
        read_share: ratio(c.shared_blks_read as f64, totals.shared_blks_read as f64),
        time_share: ratio(c.exec_ms, totals.exec_ms),
        temp_blks_read: c.temp_blks_read,
        temp_blks_written: c.temp_blks_written,
        read_ms: m.track_io_timing.then_some(c.read_ms),
        query: texts.get(&e.key).cloned(),
    }
}

/// The section: the first `limit` statements by `sort` (0: all), the candidates (with the
/// fetched `texts` and the `churn` of the tables they read), and the top spillers.
pub fn analyse(
    m: &Measured,
    sort: Sort,
    limit: usize,
    texts: &HashMap<StatementKey, String>,
    churn: &Churn,
) -> QueriesReport {
    let totals = Totals::of(&m.entries);
    let queries = ranked(&m.entries, sort, limit)
        .into_iter()
        .map(|e| row(e, m, &totals, texts))
        .collect();
    let spilling = spillers(&m.entries)
        .into_iter()
        .map(|e| row(e, m, &totals, texts))
        .collect();
    let candidates = candidates::rank(m, &totals, texts, churn, limit);
    let mut notes = m.notes.clone();
    if !m.entries.is_empty() && texts.is_empty() {
        notes.push("query texts were not fetched (a statistics file holds none)".to_string());
    }
    QueriesReport {
        window: m.window,
        sort,
        totals,
        queries,
        candidates,
        spilling,
        notes,
    }
}

/// A query text on one line, whitespace runs collapsed, cut to `max` characters with `…`.
pub fn one_line_text(text: &str, max: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() <= max {
        return joined;
    }
    let mut cut: String = joined.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The words the temp-file finding adds when statements spill: "top spilling statements:
/// queryid 42 (12,345 temp blocks written, 80% of all): select …".
pub fn spilling_text(report: &QueriesReport) -> Option<String> {
    if report.spilling.is_empty() {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let total = report.totals.temp_blks_written as f64;
    let parts: Vec<String> = report
        .spilling
        .iter()
        .map(|r| {
            #[allow(clippy::cast_precision_loss)]
            let share = ratio(r.temp_blks_written as f64, total);
            format!(
                "queryid {} ({} temp blocks written, {} of all){}",
                r.queryid,
                format_count(r.temp_blks_written),
                format_ratio(share),
                r.query
                    .as_deref()
                    .map(|q| format!(": {}", one_line_text(q, 60)))
                    .unwrap_or_default()
            )
        })
        .collect();
    Some(format!(
        "top spilling statements (pg_stat_statements): {}",
        parts.join("; ")
    ))
}

#[cfg(test)]
#[path = "queries_tests.rs"]
mod tests;

/// Puts `q` into `report` as its queries section, and names the top spilling statements in
/// every temp-file finding (they are what to raise work_mem for).
pub fn attach(report: &mut super::Report, q: QueriesReport) {
    if let Some(text) = spilling_text(&q) {
        for f in report
            .findings
            .iter_mut()
            .filter(|f| f.code == "temp_files")
        {
            f.message.push_str("; ");
            f.message.push_str(&text);
        }
    }
    report.queries = Some(q);
}
