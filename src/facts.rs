//! What we learn from a live server, as plain serialisable data: the seam between `collect`
//! (the only code that talks to PostgreSQL) and the pure analysis (`diag`, `gate`). The same
//! structure is the JSON fixture format read by the hidden `--stats-from FILE` flag and the
//! file written by `snapshot`, so it is versioned ([`SNAPSHOT_FORMAT`]) and only grows.
//!
//! Counters keep PostgreSQL's `bigint` as `i64`; sizes are bytes. Times are seconds since the
//! Unix epoch as the *server* sees them, so windows are measured on one clock.

use serde::{Deserialize, Serialize};

pub mod redis;

/// Version of the snapshot/fixture format; bump on incompatible change.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// Everything one collection pass saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// [`SNAPSHOT_FORMAT`] of the writer.
    pub format: u32,
    /// The server.
    pub server: ServerInfo,
    /// One row per database of `pg_stat_database` (the shared-objects row excluded).
    pub databases: Vec<DatabaseStats>,
    /// User tables of the databases that were visited.
    #[serde(default)]
    pub tables: Vec<TableStats>,
    /// User indexes of the databases that were visited.
    #[serde(default)]
    pub indexes: Vec<IndexStats>,
    /// `pg_settings` rows (all of them, or those the tool compares).
    #[serde(default)]
    pub settings: Vec<LiveSetting>,
    /// What the role may see.
    pub privileges: Privileges,
    /// Databases whose tables were collected (the connected one, or all with --all-databases).
    #[serde(default)]
    pub visited_databases: Vec<String>,
    /// One-line notes about what this server version or role cannot show.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Checkpoint counters, when they were read (not by the fast `check` path).
    #[serde(default)]
    pub checkpoints: Option<CheckpointStats>,
    /// Shared-buffer traffic from `pg_stat_io` (PostgreSQL 16 on; `None` before, with a note).
    #[serde(default)]
    pub buffer_io: Option<BufferIoStats>,
    /// Whether the postmaster's shared memory sits on huge pages, read on this host when the
    /// server runs here (`None`: not read, e.g. a remote server or a capture).
    #[serde(default)]
    pub huge_pages_probe: Option<HugePagesProbe>,
    /// What sits in shared_buffers (`pg_buffercache`), when the extension exists in the
    /// connected database and the role may read it; `None` otherwise (with a note).
    #[serde(default)]
    pub buffer_cache: Option<BufferCacheStats>,
    /// Materialized views of the visited databases (`pg_stat_user_tables` covers them).
    #[serde(default)]
    pub materialized_views: Vec<MatviewStats>,
    /// `pg_stat_statements` as the connected database sees it, when it was read (`queries`,
    /// `report`, `snapshot`); `None` in older files and when it was not asked for.
    #[serde(default)]
    pub statements: Option<StatementsFacts>,
}

/// Whether `pg_stat_statements` could be read, and if not, why (each state has one fix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StatementsStatus {
    /// Read: `entries` hold the counters.
    #[default]
    Ok,
    /// The server has no `pg_stat_statements` (contrib not installed).
    NotInstalled,
    /// The extension is not created in the connected database.
    NotCreated,
    /// Created, but the library is not in `shared_preload_libraries`.
    NotPreloaded,
    /// The installed version predates 1.8 (PostgreSQL 13's), whose columns are not read.
    Outdated,
}

/// `pg_stat_statements` of the whole cluster, read through the connected database: counters,
/// and query texts (shortened on the server) only while a live command uses them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StatementsFacts {
    /// Whether the entries could be read.
    #[serde(default)]
    pub status: StatementsStatus,
    /// `pg_extension.extversion` in the connected database, when created.
    #[serde(default)]
    pub installed_version: Option<String>,
    /// The schema the extension lives in (any schema is allowed), when created.
    #[serde(default)]
    pub schema: Option<String>,
    /// `pg_available_extensions.default_version`: what `ALTER EXTENSION … UPDATE` would reach.
    #[serde(default)]
    pub default_version: Option<String>,
    /// `pg_stat_statements_info.dealloc` (1.9 on): entries evicted since its reset.
    #[serde(default)]
    pub dealloc: Option<i64>,
    /// `pg_stat_statements_info.stats_reset` (1.9 on), epoch seconds.
    #[serde(default)]
    pub stats_reset_epoch: Option<f64>,
    /// `track_io_timing` was on, so read times mean something.
    #[serde(default)]
    pub track_io_timing: bool,
    /// Entries of other roles whose identity this role may not see (no
    /// `pg_read_all_stats`): counted, not listed.
    #[serde(default)]
    pub hidden_entries: i64,
    /// One entry per (userid, dbid, queryid, toplevel), top-level statements only where
    /// the extension tells them apart (1.9 on).
    #[serde(default)]
    pub entries: Vec<StatementEntry>,
    /// Query texts read in the same pass as the counters, cut on the server, when the pass
    /// asked for them (`queries` and `report`; see `collect::statements`). Never saved: a
    /// snapshot file keeps counters only, and texts are fetched again where it is used.
    #[serde(skip)]
    pub texts: Vec<(StatementKey, String)>,
    /// Database OIDs and names, where the sample read them with the entries instead of
    /// `pg_stat_database` (`queries`); empty otherwise, and the snapshot's databases name
    /// them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub database_names: Vec<(u32, String)>,
}

/// Which entry: the key `pg_stat_statements` itself uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StatementKey {
    /// Role OID.
    pub userid: u32,
    /// Database OID.
    pub dbid: u32,
    /// The extension's hash of the normalised statement.
    pub queryid: i64,
    /// Top-level statement (1.9 on); `None` before, when nested ones cannot be told apart.
    #[serde(default)]
    pub toplevel: Option<bool>,
}

/// Counters of one `pg_stat_statements` entry (times in milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct StatementCounters {
    /// Executions.
    pub calls: i64,
    /// Execution time (`total_exec_time`), ms.
    pub exec_ms: f64,
    /// Planning time (`total_plan_time`, 0 unless `track_planning`), ms.
    #[serde(default)]
    pub plan_ms: f64,
    /// Rows returned or affected.
    pub rows: i64,
    /// Shared blocks found in shared_buffers.
    pub shared_blks_hit: i64,
    /// Shared blocks read from the OS.
    pub shared_blks_read: i64,
    /// Shared blocks dirtied (a writing statement).
    #[serde(default)]
    pub shared_blks_dirtied: i64,
    /// Shared blocks written out by this statement's backend.
    #[serde(default)]
    pub shared_blks_written: i64,
    /// Temp blocks read (work_mem spills).
    #[serde(default)]
    pub temp_blks_read: i64,
    /// Temp blocks written.
    #[serde(default)]
    pub temp_blks_written: i64,
    /// Time reading shared blocks (`blk_read_time`, `shared_blk_read_time` from 1.11), ms;
    /// 0 unless `track_io_timing`.
    #[serde(default)]
    pub read_ms: f64,
    /// WAL records generated: nonzero for a statement that wrote. Records, not
    /// `wal_bytes`: the same answer as a bigint, where `wal_bytes` is a numeric whose
    /// conversion cost a millisecond or two of server CPU per 5,000 entries.
    #[serde(default)]
    pub wal_records: i64,
}

/// One `pg_stat_statements` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatementEntry {
    /// Its identity.
    pub key: StatementKey,
    /// Its counters.
    pub counters: StatementCounters,
    /// `stats_since` (1.11 on), epoch seconds: when this entry started counting.
    #[serde(default)]
    pub stats_since_epoch: Option<f64>,
}

/// Facts about the server itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// `server_version_num`, e.g. 150020.
    pub version_num: u32,
    /// `server_version`, e.g. "15.20 (Debian 15.20-0+deb12u1)".
    pub version: String,
    /// `pg_control_system().system_identifier` as text, when the role may call it.
    pub system_identifier: Option<String>,
    /// The server's clock at collection time (epoch seconds).
    pub now_epoch: f64,
    /// `pg_postmaster_start_time()` (epoch seconds).
    pub start_epoch: f64,
    /// The database the session is connected to.
    pub database: String,
    /// The role the session runs as.
    pub user: String,
    /// Sum of `pg_database_size` over databases whose size could be read, in bytes.
    pub total_data_bytes: Option<i64>,
}

/// A `pg_stat_database` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseStats {
    /// The database's OID (`datid`): its identity across samples, since a database can be
    /// dropped and recreated under the same name. `None` in files written before it was
    /// collected.
    #[serde(default)]
    pub datid: Option<u32>,
    /// Database name (raw from the server; sanitise before printing).
    pub name: String,
    /// Blocks found in shared_buffers.
    pub blks_hit: i64,
    /// Blocks read from the OS (page cache or storage).
    pub blks_read: i64,
    /// Time spent reading blocks, in ms (0 unless track_io_timing is on).
    pub blk_read_time_ms: f64,
    /// `pg_database_size`, when the role may connect to the database.
    pub size_bytes: Option<i64>,
    /// When this database's statistics were last reset (epoch seconds), if ever.
    pub stats_reset_epoch: Option<f64>,
    /// Whether the role may connect (decides what `--all-databases` visits).
    pub can_connect: bool,
    /// Whether the database takes connections at all (`datallowconn`, not half-dropped),
    /// whoever asks: false for template0. Tells a missing CONNECT privilege apart.
    #[serde(default = "yes")]
    pub accepts_connections: bool,
    /// Temporary files created by queries (`temp_files`): sorts and hashes that did not fit
    /// in work_mem. `None` in files written before it was collected.
    #[serde(default)]
    pub temp_files: Option<i64>,
    /// Bytes written to those temporary files (`temp_bytes`).
    #[serde(default)]
    pub temp_bytes: Option<i64>,
}

/// A `pg_statio_user_tables` row with the table's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableStats {
    /// Database the table lives in.
    pub database: String,
    /// The table's OID in that database (to fetch sizes of the rows a report keeps).
    pub relid: u32,
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// Heap blocks hit.
    pub heap_blks_hit: i64,
    /// Heap blocks read.
    pub heap_blks_read: i64,
    /// Index blocks hit, over all the table's indexes; `None` without indexes.
    pub idx_blks_hit: Option<i64>,
    /// Index blocks read; `None` without indexes.
    pub idx_blks_read: Option<i64>,
    /// TOAST blocks hit; `None` without a TOAST table.
    pub toast_blks_hit: Option<i64>,
    /// TOAST blocks read; `None` without a TOAST table.
    pub toast_blks_read: Option<i64>,
    /// TOAST index blocks hit; `None` without a TOAST table.
    pub tidx_blks_hit: Option<i64>,
    /// TOAST index blocks read; `None` without a TOAST table.
    pub tidx_blks_read: Option<i64>,
    /// `pg_table_size` (heap + TOAST + maps), bytes; `None` when not fetched (sizes are read
    /// only for the rows a report shows, since stat()ing 20,000 relations is the slow part).
    pub size_bytes: Option<i64>,
    /// How the table is scanned (`pg_stat_user_tables`); `None` in captures made before it
    /// was collected.
    #[serde(default)]
    pub scans: Option<ScanCounts>,
}

/// A table's scan counters from `pg_stat_user_tables`: what says whether its reads come
/// from sequential scans (a missing index, a report query) or from index scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanCounts {
    /// Sequential scans started on the table.
    pub seq_scan: i64,
    /// Live rows fetched by sequential scans.
    pub seq_tup_read: i64,
    /// Index scans started on the table's indexes; `None` without indexes.
    pub idx_scan: Option<i64>,
}

/// A `pg_statio_user_indexes` row with the index's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexStats {
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
    /// `pg_relation_size` of the index, bytes; `None` when not fetched.
    pub size_bytes: Option<i64>,
}

/// A `pg_settings` row, as the server reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveSetting {
    /// GUC name.
    pub name: String,
    /// Current value in the unit below (`setting`).
    pub setting: String,
    /// `unit` (`8kB`, `kB`, `MB`, `ms`, `s`, …).
    pub unit: Option<String>,
    /// `vartype` (bool, integer, real, string, enum).
    pub vartype: String,
    /// `context` (postmaster, sighup, user, …).
    pub context: String,
    /// `source` (default, configuration file, override, …).
    pub source: String,
    /// `sourcefile`, visible to superusers and pg_read_all_settings.
    pub sourcefile: Option<String>,
    /// `sourceline`.
    pub sourceline: Option<i32>,
    /// `pending_restart`.
    pub pending_restart: bool,
    /// `enumvals`, for enums.
    pub enumvals: Option<Vec<String>>,
}

/// Checkpoint counters: `pg_stat_bgwriter` up to PostgreSQL 16, `pg_stat_checkpointer` from
/// 17. Many requested checkpoints against timed ones mean `max_wal_size` is too small, which
/// also churns shared_buffers with forced writes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CheckpointStats {
    /// Checkpoints started because `checkpoint_timeout` passed.
    pub timed: i64,
    /// Checkpoints requested (WAL volume, `CHECKPOINT`, shutdown, …).
    pub requested: i64,
    /// When these counters were last reset (epoch seconds), if ever.
    pub stats_reset_epoch: Option<f64>,
    /// Checkpoints actually performed (`num_done`, PostgreSQL 18 on): `timed` also counts
    /// the timed checkpoints skipped on an idle server (17 on), so this is the denominator
    /// of the requested share where it exists.
    #[serde(default)]
    pub done: Option<i64>,
    /// Buffer writes by kind from `pg_stat_bgwriter`, before PostgreSQL 17 (where they moved
    /// to `pg_stat_io`); `None` from 17 on and in older files.
    #[serde(default)]
    pub bgwriter_writes: Option<BgwriterWrites>,
}

/// Who wrote shared buffers out, from `pg_stat_bgwriter` (PostgreSQL 13 to 16). Same reset
/// as the checkpoint counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgwriterWrites {
    /// Buffers written by the checkpointer (`buffers_checkpoint`).
    pub checkpoint: i64,
    /// Buffers written by the background writer (`buffers_clean`).
    pub clean: i64,
    /// Buffers written by backends themselves (`buffers_backend`; also counts relation
    /// extensions before 16).
    pub backend: i64,
    /// fsyncs backends had to do themselves (`buffers_backend_fsync`): the checkpointer's
    /// request queue was full.
    pub backend_fsync: i64,
}

/// Shared-buffer traffic of all processes from `pg_stat_io` (relation blocks, normal
/// context), PostgreSQL 16 on. Evictions say what hit ratios cannot: whether the working
/// set still fits in shared_buffers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BufferIoStats {
    /// Blocks read into shared_buffers.
    pub reads: i64,
    /// Blocks found in shared_buffers.
    pub hits: i64,
    /// Buffers evicted to make room for another block.
    pub evictions: i64,
    /// Blocks written by client backends themselves (bgwriter and checkpointer not keeping
    /// up).
    pub backend_writes: i64,
    /// The most recent reset of these counters (epoch seconds), if any.
    pub stats_reset_epoch: Option<f64>,
    /// Blocks written by every process (client backends, checkpointer, background writer,
    /// autovacuum, …): the denominator of the client backends' share. `None` in older files.
    #[serde(default)]
    pub writes: Option<i64>,
    /// fsyncs client backends did themselves (the checkpointer's request queue was full).
    /// `None` in older files.
    #[serde(default)]
    pub backend_fsyncs: Option<i64>,
}

/// The postmaster's huge page use as this host sees it (`/proc/PID/smaps`, `/proc/meminfo`):
/// how `report` tells, before PostgreSQL 17 added `huge_pages_status`, whether
/// `huge_pages = try` got its huge pages or silently fell back to normal pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HugePagesProbe {
    /// The postmaster's PID (from `postmaster.pid` in the data directory), when found.
    pub postmaster_pid: Option<u32>,
    /// kB of the postmaster's mappings backed by huge pages (hugetlb); `None` when its
    /// `smaps` could not be read (see `problem`).
    pub huge_mapped_kb: Option<u64>,
    /// `HugePages_Total` from `/proc/meminfo`.
    pub hugepages_total: Option<u64>,
    /// `HugePages_Rsvd`: reserved by mappings but not yet touched.
    pub hugepages_rsvd: Option<u64>,
    /// `Hugepagesize`, kB.
    pub hugepage_size_kb: Option<u64>,
    /// Why the postmaster's mappings could not be read, in words.
    pub problem: Option<String>,
}

/// The contents of shared_buffers from `pg_buffercache`: totals, the usage-count
/// distribution, and (when the per-buffer scan ran) the relations holding most buffers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BufferCacheStats {
    /// The installed extension version (`pg_extension.extversion`).
    pub extension_version: String,
    /// `block_size`, bytes.
    pub block_size: i64,
    /// shared_buffers, in buffers.
    pub buffers_total: i64,
    /// Buffers holding a block.
    pub used: i64,
    /// Buffers modified since they were read (not yet written out).
    pub dirty: i64,
    /// Buffers pinned by a backend at the time of reading.
    pub pinned: i64,
    /// Buffers per usage count (0 to 5, the clock sweep's counter), ascending.
    pub usage_counts: Vec<UsageCount>,
    /// Buffers per relation; `None` when the per-buffer scan did not run (size guard,
    /// timeout), with a note saying why.
    pub relations: Option<BufferRelations>,
}

/// One usage count's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageCount {
    /// The usage count (unused buffers count as 0).
    pub usage_count: i32,
    /// Buffers with this count.
    pub buffers: i64,
    /// Of which dirty.
    pub dirty: i64,
    /// Of which pinned.
    pub pinned: i64,
}

/// What the per-buffer scan found, by relation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BufferRelations {
    /// The relations of the connected database (and shared catalogs) with the most buffers.
    pub top: Vec<BufferedRelation>,
    /// How many relations of the connected database have buffers (before the limit).
    pub relations_total: i64,
    /// Buffers of other databases, summed.
    pub other_databases: i64,
    /// Buffers of the connected database whose file maps to no relation any more.
    pub unresolved: i64,
}

/// A relation's share of shared_buffers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BufferedRelation {
    /// The relation's OID in the connected database.
    pub relid: u32,
    /// Schema name.
    pub schema: String,
    /// Relation name.
    pub name: String,
    /// `pg_class.relkind` (`r` table, `i` index, `t` TOAST, `m` materialized view, …).
    pub kind: String,
    /// Buffers holding its blocks (all forks).
    pub buffers: i64,
    /// Of which dirty.
    pub dirty: i64,
    /// Its size over all forks, bytes; `None` when it could not be read.
    pub size_bytes: Option<i64>,
}

/// A materialized view's size and how it is read (`pg_stat_user_tables`,
/// `pg_statio_user_tables`, which list materialized views with the tables).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatviewStats {
    /// Database it lives in.
    pub database: String,
    /// Its OID there.
    pub relid: u32,
    /// Schema name.
    pub schema: String,
    /// Name.
    pub name: String,
    /// `pg_total_relation_size`, bytes.
    pub size_bytes: Option<i64>,
    /// Whether it holds data (`relispopulated`: false until the first REFRESH after `WITH
    /// NO DATA`).
    pub populated: bool,
    /// Heap blocks hit.
    pub heap_blks_hit: i64,
    /// Heap blocks read.
    pub heap_blks_read: i64,
    /// Index blocks hit over its indexes; `None` without indexes.
    pub idx_blks_hit: Option<i64>,
    /// Index blocks read; `None` without indexes.
    pub idx_blks_read: Option<i64>,
    /// Sequential scans.
    pub seq_scan: i64,
    /// Index scans; `None` without indexes.
    pub idx_scan: Option<i64>,
}

/// What the role may see; decides the one-line "GRANT pg_monitor would add …" note.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Privileges {
    /// The role is a superuser.
    pub superuser: bool,
    /// The role has pg_monitor (or pg_read_all_stats and pg_read_all_settings).
    pub pg_monitor: bool,
}

/// Serde default for flags that older captures lack and that are usually true.
fn yes() -> bool {
    true
}

/// An extension version such as `"1.10"` as numbers, `(1, 10)`, so that 1.10 sorts after
/// 1.9; `None` for anything else.
pub fn extension_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

impl StatsSnapshot {
    /// The `pg_settings` row named `name`.
    pub fn setting(&self, name: &str) -> Option<&LiveSetting> {
        self.settings.iter().find(|s| s.name == name)
    }

    /// The major version (15 for 150020).
    pub fn major(&self) -> u32 {
        self.server.version_num / 10_000
    }
}
