//! The report `diagnose` returns: plain serialisable data, and the public JSON schema of
//! `report --format json`. The schema is stable: fields are added, never renamed or removed,
//! and [`REPORT_FORMAT`] changes only on an incompatible change.
//!
//! JSON conventions: ratios are fractions in `0..=1` (not percentages) or `null` when there
//! was no I/O to divide; sizes are bytes; durations are whole seconds; times are Unix epoch
//! seconds of the server's clock; names are raw as the server returned them (JSON escapes
//! them; consumers that print them must sanitise control characters themselves).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// Version of the report's JSON schema (`format` in the output).
pub const REPORT_FORMAT: u32 = 1;

/// A whole diagnosis. Top-level JSON object:
/// `{ format, server, host, scope, databases[], tables[], indexes[], settings[], findings[],
/// notes[], queries? }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`REPORT_FORMAT`].
    pub format: u32,
    /// The server and the statistics window.
    pub server: ServerSection,
    /// The host the RAM/CPU-based advice is for.
    pub host: HostSection,
    /// What the tables and indexes sections cover (filters, floor, limit).
    pub scope: Coverage,
    /// Every database, worst hit ratio first (no ratio last), then by name.
    pub databases: Vec<DatabaseRow>,
    /// Tables over the floor, worst heap hit ratio first, at most `scope.limit`.
    pub tables: Vec<TableRow>,
    /// Indexes over the floor, worst hit ratio first, at most `scope.limit`.
    pub indexes: Vec<IndexRow>,
    /// Every compared setting, in the recommendation's order.
    pub settings: Vec<SettingRow>,
    /// Findings, critical first, then warning, then info.
    pub findings: Vec<Finding>,
    /// One-line notes on what could not be seen or compared.
    pub notes: Vec<String>,
    /// What sits in shared_buffers (pg_buffercache); absent when not collected (the notes
    /// say why: extension missing, privilege, size guard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffers: Option<super::buffers::BuffersSection>,
    /// Materialized views of the visited databases, largest first; absent when there are
    /// none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub materialized_views: Vec<super::matviews::MatviewRow>,
    /// Top statements by blocks read and cache candidates from `pg_stat_statements`, when
    /// it was read (see `diag::queries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries: Option<super::queries::QueriesReport>,
}

/// `server`: facts about the server and how far its statistics can be trusted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerSection {
    /// `server_version_num`, e.g. 150020.
    pub version_num: u32,
    /// `server_version` text.
    pub version: String,
    /// The database the session is connected to.
    pub database: String,
    /// The role the session runs as.
    pub user: String,
    /// Seconds since the postmaster started.
    pub uptime_seconds: u64,
    /// When the connected database's statistics were last reset (epoch seconds), or `null`.
    pub stats_reset: Option<f64>,
    /// Where the connected database's window is counted from: `"stats_reset"` when it was
    /// ever reset (counters survive clean restarts, so a reset before the last start still
    /// counts), else `"server_start"`, a lower bound: the counters may be older, but only
    /// this much can be vouched for.
    pub stats_since: StatsSince,
    /// Seconds of statistics of the connected database: now − stats reset, or the uptime
    /// when never reset.
    pub stats_age_seconds: u64,
    /// Blocks hit plus read over all databases.
    pub blocks_total: i64,
    /// The server's statistics as a whole are too young for ratios to mean much: fewer than
    /// `MIN_TRUSTED_BLOCKS` blocks, or every database with I/O reset less than
    /// `MIN_TRUSTED_WINDOW_SECONDS` ago. The uptime plays no part (see `diag::age`); each
    /// database says its own in `databases[].young`.
    pub young: bool,
    /// All databases together, in bytes, when their sizes could be read.
    pub total_data_bytes: Option<u64>,
}

/// Where the statistics window starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatsSince {
    /// The postmaster's start time.
    ServerStart,
    /// The connected database's `stats_reset`.
    StatsReset,
}

/// `host`: what the RAM/CPU-based advice assumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostSection {
    /// RAM available to PostgreSQL, bytes; `null` when unknown (remote server, no `--ram`).
    pub ram_bytes: Option<u64>,
    /// CPUs available to PostgreSQL; `null` when unknown.
    pub cpus: Option<u32>,
    /// Where those numbers came from, in words.
    pub source: String,
    /// `linux`, `windows` or `macos`.
    pub os: String,
    /// `ssd`, `nvme`, `san` or `hdd`.
    pub storage: String,
    /// `web`, `oltp`, `dw`, `mixed` or `desktop`.
    pub profile: String,
    /// Why some advice is missing (e.g. RAM unknown), or `null`.
    pub note: Option<String>,
}

/// The report's `scope` field: what the tables and indexes sections cover (the filters and
/// what passed them). Not to be confused with `gate::Scope`, what `check` judges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Floor: a relation is listed only if it touched at least this many blocks (hit + read,
    /// heap + index + TOAST).
    pub min_blocks: i64,
    /// Most rows listed in each of tables and indexes; 0 means no limit.
    pub limit: usize,
    /// `--schema` patterns, as typed.
    pub schema: Vec<String>,
    /// `--exclude` patterns, as typed.
    pub exclude: Vec<String>,
    /// Databases whose tables and indexes were collected.
    pub visited_databases: Vec<String>,
    /// Tables passing the filters and the floor, before the limit.
    pub tables_matched: usize,
    /// Indexes passing the filters and the floor, before the limit.
    pub indexes_matched: usize,
}

/// One `databases[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseRow {
    /// Database name.
    pub name: String,
    /// Blocks found in shared_buffers.
    pub blks_hit: i64,
    /// Blocks read from the OS (page cache or storage).
    pub blks_read: i64,
    /// `blks_hit / (blks_hit + blks_read)`, or `null` without I/O.
    pub hit_ratio: Option<f64>,
    /// `pg_database_size`, bytes, or `null` when the role may not read it.
    pub size_bytes: Option<u64>,
    /// When this database's statistics were last reset (epoch seconds), or `null` if never.
    #[serde(default)]
    pub stats_reset: Option<f64>,
    /// Seconds since that reset: this row's own window, or `null` when never reset (its
    /// counters may then be as old as the database).
    #[serde(default)]
    pub stats_age_seconds: Option<u64>,
    /// Reset less than `MIN_TRUSTED_WINDOW_SECONDS` ago: this row's ratio is not meaningful
    /// yet, whatever the other databases' windows.
    #[serde(default)]
    pub young: bool,
}

/// One `tables[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    /// Database the table lives in.
    pub database: String,
    /// The table's OID in that database.
    pub relid: u32,
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// Heap blocks hit.
    pub heap_blks_hit: i64,
    /// Heap blocks read.
    pub heap_blks_read: i64,
    /// Heap hit ratio, or `null` without heap I/O.
    pub heap_hit_ratio: Option<f64>,
    /// Hit ratio over all the table's indexes, or `null` without indexes or index I/O.
    pub idx_hit_ratio: Option<f64>,
    /// Hit ratio of the TOAST table alone, `toast_blks_hit / (toast_blks_hit +
    /// toast_blks_read)` as `pg_statio_user_tables` defines it, or `null` without TOAST or
    /// TOAST I/O.
    pub toast_hit_ratio: Option<f64>,
    /// Hit ratio of the TOAST table's index, `tidx_blks_hit / (tidx_blks_hit +
    /// tidx_blks_read)`, or `null` without TOAST or TOAST index I/O.
    #[serde(default)]
    pub toast_idx_hit_ratio: Option<f64>,
    /// `pg_table_size` (heap + TOAST + maps), bytes, or `null` when not fetched.
    pub size_bytes: Option<u64>,
    /// Sequential scans started (`pg_stat_user_tables`), or `null` when not collected.
    #[serde(default)]
    pub seq_scan: Option<i64>,
    /// Rows fetched by sequential scans, or `null` when not collected.
    #[serde(default)]
    pub seq_tup_read: Option<i64>,
    /// Index scans started, or `null` without indexes or when not collected.
    #[serde(default)]
    pub idx_scan: Option<i64>,
}

/// One `indexes[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexRow {
    /// Database the index lives in.
    pub database: String,
    /// The index's OID in that database.
    pub indexrelid: u32,
    /// Schema name.
    pub schema: String,
    /// Table the index belongs to.
    pub table: String,
    /// Index name.
    pub name: String,
    /// Index blocks hit.
    pub idx_blks_hit: i64,
    /// Index blocks read.
    pub idx_blks_read: i64,
    /// Hit ratio, or `null` without I/O.
    pub hit_ratio: Option<f64>,
    /// `pg_relation_size`, bytes, or `null` when not fetched.
    pub size_bytes: Option<u64>,
}

/// One `settings[]` entry: a recommended setting against the live one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingRow {
    /// GUC name.
    pub name: String,
    /// The live value as `SHOW` prints it (`128MB`, `5min`, `on`), or `null` when missing.
    pub live: Option<String>,
    /// The recommended value, as postgresql.conf takes it.
    pub recommended: String,
    /// How they compare.
    pub status: SettingStatus,
    /// Why the recommendation is what it is.
    pub reason: String,
    /// Changing it takes a restart (`context = postmaster`).
    pub restart_required: bool,
    /// The server has a changed value waiting for a restart.
    pub pending_restart: bool,
    /// `pg_settings.source` (`default`, `configuration file`, …), or `null` when missing.
    pub source: Option<String>,
    /// `pg_settings.sourcefile`, or `null` when not visible to the role.
    pub sourcefile: Option<String>,
    /// `pg_settings.sourceline`, or `null` when not visible.
    pub sourceline: Option<i32>,
    /// How the comparison was made when it needed explaining (`-1` resolved, unknown unit).
    pub note: Option<String>,
}

/// `settings[].status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingStatus {
    /// Equal (numbers within ±5%, words after normalising booleans and synonyms).
    Equal,
    /// Different.
    Differs,
    /// The setting does not exist on this server.
    Missing,
    /// The live value is `-1` ("automatic") and its effective value cannot be derived.
    Auto,
    /// The live value could not be interpreted (unknown unit, unparsable text).
    Unknown,
}

/// One `findings[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// `critical`, `warning` or `info`.
    pub severity: Severity,
    /// Stable snake_case identifier (`low_db_hit_ratio`, `raise_shared_buffers`, …), for
    /// scripts to match on.
    pub code: String,
    /// One sentence, with the numbers, for people.
    pub message: String,
}

/// How much a finding matters; the order is the report's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Costs performance now.
    Critical,
    /// Likely costs performance.
    Warning,
    /// Worth knowing.
    Info,
}

impl Severity {
    /// The lowercase word used in JSON and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl Report {
    /// OIDs of the listed tables whose size is not known yet, by database: what the shell
    /// passes to `pg_table_size` (one query per database) before calling [`Report::fill_sizes`].
    pub fn table_relids(&self) -> BTreeMap<String, Vec<u32>> {
        group_missing(
            self.tables
                .iter()
                .map(|t| (&t.database, t.relid, t.size_bytes)),
        )
    }

    /// OIDs of the listed indexes whose size is not known yet, by database (for
    /// `pg_relation_size`).
    pub fn index_relids(&self) -> BTreeMap<String, Vec<u32>> {
        group_missing(
            self.indexes
                .iter()
                .map(|i| (&i.database, i.indexrelid, i.size_bytes)),
        )
    }

    /// Fills in sizes (bytes by OID) for the tables and indexes of `database`. OIDs are
    /// unique across relations of one database, so one map may hold both kinds. Negative
    /// sizes are ignored; OIDs not listed are ignored too.
    pub fn fill_sizes(&mut self, database: &str, sizes: &HashMap<u32, i64>) {
        let size = |oid: u32| sizes.get(&oid).and_then(|&s| u64::try_from(s).ok());
        for t in self.tables.iter_mut().filter(|t| t.database == database) {
            if let Some(s) = size(t.relid) {
                t.size_bytes = Some(s);
            }
        }
        for i in self.indexes.iter_mut().filter(|i| i.database == database) {
            if let Some(s) = size(i.indexrelid) {
                i.size_bytes = Some(s);
            }
        }
    }
}

fn group_missing<'a>(
    rows: impl Iterator<Item = (&'a String, u32, Option<u64>)>,
) -> BTreeMap<String, Vec<u32>> {
    let mut by_db: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (db, oid, size) in rows {
        if size.is_none() {
            by_db.entry(db.clone()).or_default().push(oid);
        }
    }
    by_db
}

/// Adds a finding: the one constructor the findings modules (relations, settings, counters)
/// share.
pub(super) fn push(out: &mut Vec<Finding>, severity: Severity, code: &str, message: String) {
    out.push(Finding {
        severity,
        code: code.to_owned(),
        message,
    });
}
