//! Statistics from a live server, and the JSON fixture seam beside it: the only code that
//! talks to PostgreSQL. It takes a connected [`Client`] (the connector in `conninfo` owns
//! connection parameters, TLS and the read-only session setup) and fills the plain
//! [`crate::facts`] structs, so everything downstream is pure.
//!
//! Speed matters on databases with tens of thousands of tables, so each view is read in one
//! query, the independent queries are pipelined on the one connection (tokio-postgres sends
//! every request of futures polled together before the first answer arrives), no statement
//! is prepared separately (`query_typed` sends parse, bind and execute in one message), and
//! rows are turned into facts as they stream in. Per-relation sizes are the slow part of the
//! straightforward query set (one `stat()` per file), so counters come without them and
//! [`table_sizes`] / [`index_sizes`] fetch sizes for the few rows a report keeps.
//!
//! Every query error maps to exit code 69 ([`crate::exit::Exit::Server`]) with a one-line message that
//! names the view and quotes the server.

pub mod budget;
mod cache;
pub mod explain;
pub mod names;
mod snapshot;
pub mod sql;
pub mod statements;
pub mod watch;

use std::collections::HashMap;
use std::future::Future;

use anyhow::Context as _;
use futures_util::{StreamExt as _, TryStreamExt as _};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

use crate::facts::{
    BgwriterWrites, BufferIoStats, CheckpointStats, DatabaseStats, IndexStats, LiveSetting,
    Privileges, SNAPSHOT_FORMAT, ScanCounts, ServerInfo, StatsSnapshot, TableStats,
};

pub use cache::{buffer_cache, materialized_views};
pub use snapshot::{load_json, load_snapshot, replace_atomically, save_snapshot};

/// How many other databases `--all-databases` reads at once: enough to overlap connection
/// setup and TLS handshakes, few enough not to crowd a busy server.
pub const MAX_PARALLEL_DATABASES: usize = 4;

/// What one collection pass reads besides the server and `pg_stat_database` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectOptions {
    /// Read `pg_statio_user_tables` counters.
    pub tables: bool,
    /// Read `pg_statio_user_indexes` counters.
    pub indexes: bool,
    /// Read every `pg_settings` row.
    pub settings: bool,
}

impl CollectOptions {
    /// Everything: tables, indexes and settings.
    pub fn everything() -> Self {
        CollectOptions {
            tables: true,
            indexes: true,
            settings: true,
        }
    }
}

impl Default for CollectOptions {
    fn default() -> Self {
        Self::everything()
    }
}

/// An error from reading `what`, mapped to [`crate::exit::Exit::Server`], worded by the connector's
/// describer so a dropped connection or a statement timeout reads the same everywhere.
fn query_error(what: &str, err: &tokio_postgres::Error) -> anyhow::Error {
    crate::conninfo::server_failure(err, &format!("reading {what}"))
}

/// An identifier column, cut to PostgreSQL's own limit ([`names::capped`]).
fn name(r: &Row, column: &str) -> Result<String, tokio_postgres::Error> {
    r.try_get::<_, String>(column).map(names::capped)
}

/// Runs `sql` with typed parameters (no separate prepare round trip) and converts each row
/// with `convert` as it arrives, so only the facts are kept, never the raw rows.
async fn read<T>(
    client: &Client,
    what: &str,
    sql: &str,
    params: &[(&(dyn ToSql + Sync), Type)],
    mut convert: impl FnMut(&Row) -> Result<T, tokio_postgres::Error>,
) -> anyhow::Result<Vec<T>> {
    let stream = client
        .query_typed_raw(sql, params.iter().map(|(v, t)| (*v, t.clone())))
        .await
        .map_err(|e| query_error(what, &e))?;
    let mut stream = std::pin::pin!(stream);
    let mut out = Vec::new();
    while let Some(row) = stream.try_next().await.map_err(|e| query_error(what, &e))? {
        budget::take_row(what)?;
        out.push(convert(&row).map_err(|e| query_error(what, &e))?);
    }
    Ok(out)
}

/// Column positions of a result by name, found on its first row and reused for the rest.
///
/// tokio-postgres' by-name `try_get` compares every column name on each call: over the
/// 5,000 rows of `pg_stat_statements` that was an eighth of `queries`' client CPU. A name
/// the result lacks keeps no position, so `try_get` by that name reports it as usual.
pub(crate) struct Columns<const N: usize> {
    names: [&'static str; N],
    at: Option<[Option<usize>; N]>,
}

impl<const N: usize> Columns<N> {
    pub(crate) fn new(names: [&'static str; N]) -> Self {
        Columns { names, at: None }
    }

    /// Column `i` of `names` in `row`.
    pub(crate) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        &mut self,
        row: &'a Row,
        i: usize,
    ) -> Result<T, tokio_postgres::Error> {
        let names = &self.names;
        let at = self
            .at
            .get_or_insert_with(|| names.map(|n| row.columns().iter().position(|c| c.name() == n)));
        match at[i] {
            Some(p) => row.try_get(p),
            None => row.try_get(names[i]),
        }
    }
}

/// [`read`] for a query that answers exactly one row.
async fn read_one<T>(
    client: &Client,
    what: &str,
    sql: &str,
    convert: impl FnMut(&Row) -> Result<T, tokio_postgres::Error>,
) -> anyhow::Result<T> {
    let rows = read(client, what, sql, &[], convert).await?;
    let n = rows.len();
    rows.into_iter().next().filter(|_| n == 1).ok_or_else(|| {
        crate::exit::server(format!("expected one row, got {n}")).context(format!("reading {what}"))
    })
}

/// Server facts, privileges and the extras that depend on the version.
struct Head {
    server: ServerInfo,
    privileges: Privileges,
    checkpoints: Option<CheckpointStats>,
    buffer_io: Option<BufferIoStats>,
    notes: Vec<String>,
}

/// Reads the server row, then (concurrently) the system identifier when `identify` and the
/// role may call `pg_control_system()`, and, when `extras`, the checkpoint and shared-buffer
/// counters in the version's form.
async fn read_head(client: &Client, extras: bool, identify: bool) -> anyhow::Result<Head> {
    struct Info {
        server: ServerInfo,
        privileges: Privileges,
    }
    let info = read_one(client, "server information", sql::SERVER_INFO, |r| {
        let version_num: i32 = r.try_get("version_num")?;
        Ok(Info {
            server: ServerInfo {
                // server_version_num is positive by definition; 0 would only mean "unknown".
                version_num: u32::try_from(version_num).unwrap_or(0),
                version: r.try_get("version")?,
                system_identifier: None,
                now_epoch: r.try_get("now_epoch")?,
                start_epoch: r.try_get("start_epoch")?,
                database: name(r, "database")?,
                user: name(r, "user")?,
                total_data_bytes: None,
            },
            privileges: Privileges {
                superuser: r.try_get("superuser")?,
                pg_monitor: r.try_get("pg_monitor")?,
            },
        })
    });
    let may_read_control = async {
        if !identify {
            return Ok(false);
        }
        read_one(
            client,
            "the pg_control_system() privilege",
            sql::CONTROL_PRIVILEGE,
            |r| r.try_get::<_, bool>("may_read_control"),
        )
        .await
    };
    let (info, may_read_control) = tokio::try_join!(info, may_read_control)?;

    let version_num = info.server.version_num;
    // The fast path does not read the versioned views, so it does not note their absence.
    let mut notes = if extras {
        sql::version_notes(version_num)
    } else {
        sql::support_note(version_num).into_iter().collect()
    };
    let sysid = async {
        if !may_read_control {
            return Ok(None);
        }
        read_one(
            client,
            "the system identifier",
            sql::SYSTEM_IDENTIFIER,
            |r| r.try_get::<_, String>("system_identifier"),
        )
        .await
        .map(Some)
    };
    let ckpt = async {
        let Some(q) = sql::CHECKPOINTS.sql_for(version_num).filter(|_| extras) else {
            return Ok(None);
        };
        read_one(client, sql::CHECKPOINTS.what, q, |r| {
            Ok(CheckpointStats {
                timed: r.try_get("timed")?,
                requested: r.try_get("requested")?,
                stats_reset_epoch: r.try_get("stats_reset_epoch")?,
                done: r.try_get("done")?,
                bgwriter_writes: bgwriter_writes(r)?,
            })
        })
        .await
        .map(Some)
    };
    let io = async {
        let Some(q) = sql::BUFFER_IO.sql_for(version_num).filter(|_| extras) else {
            return Ok(None);
        };
        read_one(client, "pg_stat_io", q, |r| {
            Ok(BufferIoStats {
                reads: r.try_get("reads")?,
                hits: r.try_get("hits")?,
                evictions: r.try_get("evictions")?,
                backend_writes: r.try_get("backend_writes")?,
                stats_reset_epoch: r.try_get("stats_reset_epoch")?,
                writes: Some(r.try_get("writes")?),
                backend_fsyncs: Some(r.try_get("backend_fsyncs")?),
            })
        })
        .await
        .map(Some)
    };
    let (system_identifier, checkpoints, buffer_io) = tokio::try_join!(sysid, ckpt, io)?;
    if identify && !may_read_control {
        notes.push(
            "the role may not call pg_control_system(), so the snapshot has no system \
             identifier to tell clusters apart"
                .to_string(),
        );
    }
    let mut server = info.server;
    server.system_identifier = system_identifier;
    Ok(Head {
        server,
        privileges: info.privileges,
        checkpoints,
        buffer_io,
        notes,
    })
}

/// Buffer writes by kind from a checkpoints row: all four columns before 17, all NULL after.
fn bgwriter_writes(r: &Row) -> Result<Option<BgwriterWrites>, tokio_postgres::Error> {
    let checkpoint: Option<i64> = r.try_get("buffers_checkpoint")?;
    let clean: Option<i64> = r.try_get("buffers_clean")?;
    let backend: Option<i64> = r.try_get("buffers_backend")?;
    let backend_fsync: Option<i64> = r.try_get("buffers_backend_fsync")?;
    Ok(match (checkpoint, clean, backend, backend_fsync) {
        (Some(checkpoint), Some(clean), Some(backend), Some(backend_fsync)) => {
            Some(BgwriterWrites {
                checkpoint,
                clean,
                backend,
                backend_fsync,
            })
        }
        _ => None,
    })
}

/// `pg_stat_database` rows, with `pg_database_size` when `sizes`.
async fn read_databases(client: &Client, sizes: bool) -> anyhow::Result<Vec<DatabaseStats>> {
    read(
        client,
        "pg_stat_database",
        sql::DATABASES,
        &[(&sizes, Type::BOOL)],
        |r| {
            Ok(DatabaseStats {
                datid: Some(r.try_get("datid")?),
                name: name(r, "name")?,
                blks_hit: r.try_get("blks_hit")?,
                blks_read: r.try_get("blks_read")?,
                blk_read_time_ms: r.try_get("blk_read_time")?,
                size_bytes: r.try_get("size_bytes")?,
                stats_reset_epoch: r.try_get("stats_reset_epoch")?,
                can_connect: r.try_get("can_connect")?,
                accepts_connections: r.try_get("accepts_connections")?,
                temp_files: r.try_get("temp_files")?,
                temp_bytes: r.try_get("temp_bytes")?,
            })
        },
    )
    .await
}

/// `pg_statio_user_tables` counters of the connected database, labelled `database`.
async fn read_tables(client: &Client, database: &str) -> anyhow::Result<Vec<TableStats>> {
    read(client, "pg_statio_user_tables", sql::TABLES, &[], |r| {
        Ok(TableStats {
            database: database.to_string(),
            relid: r.try_get("relid")?,
            schema: name(r, "schema")?,
            name: name(r, "name")?,
            heap_blks_hit: r.try_get("heap_blks_hit")?,
            heap_blks_read: r.try_get("heap_blks_read")?,
            idx_blks_hit: r.try_get("idx_blks_hit")?,
            idx_blks_read: r.try_get("idx_blks_read")?,
            toast_blks_hit: r.try_get("toast_blks_hit")?,
            toast_blks_read: r.try_get("toast_blks_read")?,
            tidx_blks_hit: r.try_get("tidx_blks_hit")?,
            tidx_blks_read: r.try_get("tidx_blks_read")?,
            size_bytes: None,
            scans: r
                .try_get::<_, Option<i64>>("seq_scan")?
                .zip(r.try_get::<_, Option<i64>>("seq_tup_read")?)
                .map(
                    |(seq_scan, seq_tup_read)| -> Result<_, tokio_postgres::Error> {
                        Ok(ScanCounts {
                            seq_scan,
                            seq_tup_read,
                            idx_scan: r.try_get("idx_scan")?,
                        })
                    },
                )
                .transpose()?,
        })
    })
    .await
}

/// `pg_statio_user_indexes` counters of the connected database, labelled `database`.
async fn read_indexes(client: &Client, database: &str) -> anyhow::Result<Vec<IndexStats>> {
    read(client, "pg_statio_user_indexes", sql::INDEXES, &[], |r| {
        Ok(IndexStats {
            database: database.to_string(),
            indexrelid: r.try_get("indexrelid")?,
            schema: name(r, "schema")?,
            table: name(r, "table")?,
            name: name(r, "name")?,
            idx_blks_hit: r.try_get("idx_blks_hit")?,
            idx_blks_read: r.try_get("idx_blks_read")?,
            size_bytes: None,
        })
    })
    .await
}

/// Every `pg_settings` row.
async fn read_settings(client: &Client) -> anyhow::Result<Vec<LiveSetting>> {
    read(client, "pg_settings", sql::SETTINGS, &[], |r| {
        Ok(LiveSetting {
            name: r.try_get("name")?,
            setting: r.try_get("setting")?,
            unit: r.try_get("unit")?,
            vartype: r.try_get("vartype")?,
            context: r.try_get("context")?,
            source: r.try_get("source")?,
            sourcefile: r.try_get("sourcefile")?,
            sourceline: r.try_get("sourceline")?,
            pending_restart: r.try_get("pending_restart")?,
            enumvals: r.try_get("enumvals")?,
        })
    })
    .await
}

/// Runs `fut` when `wanted`, else yields an empty list without touching the server.
async fn when<T, F>(wanted: bool, fut: F) -> anyhow::Result<Vec<T>>
where
    F: Future<Output = anyhow::Result<Vec<T>>>,
{
    if wanted { fut.await } else { Ok(Vec::new()) }
}

/// The pieces of one pass, read concurrently on one connection.
struct Pass {
    head: Head,
    databases: Vec<DatabaseStats>,
    tables: Vec<TableStats>,
    indexes: Vec<IndexStats>,
    settings: Vec<LiveSetting>,
    /// Table or index counters were read (the connected database was visited, even when
    /// it has no relations).
    relations: bool,
}

/// One concurrent pass. Relations are labelled with the connected database once the server
/// row has named it, so their queries need not wait for it.
async fn pass(
    client: &Client,
    full: bool,
    tables: bool,
    indexes: bool,
    settings: bool,
    identify: bool,
) -> anyhow::Result<Pass> {
    let (tables_wanted, indexes_wanted) = (tables, indexes);
    let (head, databases, mut tables, mut indexes, settings) = tokio::try_join!(
        read_head(client, full, identify),
        read_databases(client, full),
        when(tables, read_tables(client, "")),
        when(indexes, read_indexes(client, "")),
        when(settings, read_settings(client)),
    )?;
    let db = &head.server.database;
    for t in &mut tables {
        t.database.clone_from(db);
    }
    for i in &mut indexes {
        i.database.clone_from(db);
    }
    Ok(Pass {
        head,
        databases,
        tables,
        indexes,
        settings,
        relations: tables_wanted || indexes_wanted,
    })
}

/// Assembles a snapshot; `total_data_bytes` sums the database sizes that could be read.
fn snapshot(p: Pass) -> StatsSnapshot {
    let mut server = p.head.server;
    server.total_data_bytes = p
        .databases
        .iter()
        .filter_map(|d| d.size_bytes)
        .reduce(i64::saturating_add);
    let visited = if p.relations {
        vec![server.database.clone()]
    } else {
        Vec::new()
    };
    StatsSnapshot {
        format: SNAPSHOT_FORMAT,
        server,
        databases: p.databases,
        tables: p.tables,
        indexes: p.indexes,
        settings: p.settings,
        privileges: p.head.privileges,
        visited_databases: visited,
        notes: p.head.notes,
        checkpoints: p.head.checkpoints,
        buffer_io: p.head.buffer_io,
        huge_pages_probe: None,
        buffer_cache: None,
        materialized_views: Vec::new(),
        statements: None,
    }
}

/// One pass over the connected database: server info, every database row of
/// `pg_stat_database` (without the shared-objects row) with sizes where the role may read
/// them, the connected database's table and index counters (`size_bytes` left `None`, see
/// [`table_sizes`]), all `pg_settings` rows, privileges, checkpoint and (16+) `pg_stat_io`
/// counters, and notes on what this server version or role cannot show.
pub async fn collect(client: &Client, opts: &CollectOptions) -> anyhow::Result<StatsSnapshot> {
    let p = pass(client, true, opts.tables, opts.indexes, opts.settings, true).await?;
    Ok(snapshot(p))
}

/// [`collect`], then the table and index counters of every other database the role may
/// connect to, each through its own connection from `connect(database_name)`, a few at a
/// time ([`MAX_PARALLEL_DATABASES`]), with their materialized views when tables are read
/// (the connected database's come from [`materialized_views`]). A database that cannot be
/// connected to or read is skipped with a note rather than failing the whole report, and so
/// is one the role lacks CONNECT on.
pub async fn collect_all_databases<F, Fut>(
    client: &Client,
    opts: &CollectOptions,
    connect: F,
) -> anyhow::Result<StatsSnapshot>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = anyhow::Result<Client>>,
{
    let mut snap = collect(client, opts).await?;
    if !opts.tables && !opts.indexes {
        return Ok(snap);
    }
    // Databases that refuse everyone (template0) are not worth a line; a missing CONNECT
    // privilege is, since the report would otherwise look complete.
    for d in snap
        .databases
        .iter()
        .filter(|d| !d.can_connect && d.accepts_connections)
    {
        snap.notes.push(format!(
            "database {:?} was not visited: role {:?} may not connect to it (GRANT CONNECT \
             ON DATABASE to include it)",
            d.name, snap.server.user
        ));
    }
    let others: Vec<String> = snap
        .databases
        .iter()
        .filter(|d| d.can_connect && d.name != snap.server.database)
        .map(|d| d.name.clone())
        .collect();
    let connect = &connect;
    let mut visits = futures_util::stream::iter(others)
        .map(|name| async move {
            let result = async {
                let other = connect(name.clone())
                    .await
                    .with_context(|| format!("connecting to database {name:?}"))?;
                let (tables, indexes, views) = tokio::try_join!(
                    when(opts.tables, read_tables(&other, &name)),
                    when(opts.indexes, read_indexes(&other, &name)),
                    when(opts.tables, cache::materialized_views(&other, &name)),
                )?;
                anyhow::Ok((tables, indexes, views))
            }
            .await;
            (name, result)
        })
        .buffered(MAX_PARALLEL_DATABASES);
    while let Some((name, result)) = visits.next().await {
        match result {
            Ok((tables, indexes, views)) => {
                snap.tables.extend(tables);
                snap.indexes.extend(indexes);
                snap.materialized_views.extend(views);
                snap.visited_databases.push(name);
            }
            Err(e) => snap
                .notes
                .push(format!("database {name:?} was skipped: {e:#}")),
        }
    }
    Ok(snap)
}

/// Table and index counters of the database `client` is connected to (for
/// `--all-databases`, through that database's own connection), labelled `database`.
pub async fn collect_relations(
    client: &Client,
    database: &str,
) -> anyhow::Result<(Vec<TableStats>, Vec<IndexStats>)> {
    tokio::try_join!(
        read_tables(client, database),
        read_indexes(client, database)
    )
}

/// Sizes in one query for a list of OIDs (`= any($1::oid[])` style): OID → bytes, leaving
/// out relations dropped since their counters were read.
async fn sizes(
    client: &Client,
    what: &str,
    sql: &str,
    relids: &[u32],
) -> anyhow::Result<HashMap<u32, i64>> {
    if relids.is_empty() {
        return Ok(HashMap::new());
    }
    let pairs = read(client, what, sql, &[(&relids, Type::OID_ARRAY)], |r| {
        Ok((
            r.try_get::<_, u32>("relid")?,
            r.try_get::<_, Option<i64>>("size_bytes")?,
        ))
    })
    .await?;
    Ok(pairs
        .into_iter()
        .filter_map(|(oid, size)| Some((oid, size?)))
        .collect())
}

/// `pg_table_size` (heap, TOAST and maps) of these tables of the connected database, in one
/// query. Tables that no longer exist are absent from the map.
pub async fn table_sizes(client: &Client, relids: &[u32]) -> anyhow::Result<HashMap<u32, i64>> {
    sizes(client, "table sizes", sql::TABLE_SIZES, relids).await
}

/// `pg_relation_size` of these indexes of the connected database, in one query. Indexes that
/// no longer exist are absent from the map.
pub async fn index_sizes(client: &Client, relids: &[u32]) -> anyhow::Result<HashMap<u32, i64>> {
    sizes(client, "index sizes", sql::INDEX_SIZES, relids).await
}

/// Only what `check` needs, fast: server info, privileges and `pg_stat_database` counters
/// without database sizes (+ table / index counters when asked), and the system identifier
/// when `identify` (a snapshot, or a sample compared with one). No settings, checkpoint or
/// `pg_stat_io` counters.
pub async fn collect_counters(
    client: &Client,
    tables: bool,
    indexes: bool,
    identify: bool,
) -> anyhow::Result<StatsSnapshot> {
    let p = pass(client, false, tables, indexes, false, identify).await?;
    Ok(snapshot(p))
}

/// One sample of `queries`: the server row, the databases' names, and every
/// `pg_stat_statements` entry with its text cut to `text_chars` (see
/// [`statements::statements`]). Nothing else: a fresh session pays for each catalog it
/// touches, and `pg_stat_database`'s counters or the system identifier would add a tenth to
/// the run's server CPU without being used. The system identifier is read when `identify`
/// (a window `--since` a snapshot, which must come from the same cluster).
pub async fn collect_statements(
    client: &Client,
    text_chars: i32,
    identify: bool,
) -> anyhow::Result<StatsSnapshot> {
    let (head, names, mut facts) = tokio::try_join!(
        read_head(client, false, identify),
        read(client, "pg_database", sql::DATABASE_NAMES, &[], |r| {
            Ok((r.try_get::<_, u32>("datid")?, name(r, "name")?))
        }),
        statements::statements(client, text_chars)
    )?;
    facts.database_names = names;
    let mut snap = snapshot(Pass {
        head,
        databases: Vec::new(),
        tables: Vec::new(),
        indexes: Vec::new(),
        settings: Vec::new(),
        relations: false,
    });
    snap.statements = Some(facts);
    Ok(snap)
}

/// PostgreSQL 15 keeps statistics in shared memory; older servers pass them through the
/// statistics collector, which publishes them with a delay.
const STATS_IN_SHARED_MEMORY_VERSION_NUM: u32 = 150_000;

/// How long the collector (before 15) may take to publish what a backend sent: its
/// statistics file may be up to `PGSTAT_STAT_INTERVAL` (500 ms) old, plus a margin.
const COLLECTOR_LAG: std::time::Duration = std::time::Duration::from_millis(700);

/// Two [`collect_counters`] samples around `wait` (an `--interval`), inside one read-only
/// transaction, so the window between them holds none of this session's own catalog reads:
/// a backend publishes its counters only when it goes idle outside a transaction (or exits),
/// never inside one. The statistics the first sample cached are dropped before the second
/// (`pg_stat_clear_snapshot()`), and the transaction's idle timeout is stretched by
/// `wait_for` so the session setup's safety net does not end it during the wait. A
/// read-committed transaction without writes holds no snapshot while it waits, so vacuum is
/// not held back.
pub async fn collect_counters_around(
    client: &Client,
    tables: bool,
    indexes: bool,
    wait_for: std::time::Duration,
    wait: impl Future<Output = ()>,
) -> anyhow::Result<(StatsSnapshot, StatsSnapshot)> {
    samples_around(client, wait_for, wait, async || {
        collect_counters(client, tables, indexes, false).await
    })
    .await
}

/// Two `sample`s around `wait`, under the rules of [`collect_counters_around`] (one
/// read-only transaction, statistics snapshot cleared before the second, the collector's lag
/// waited out before 15); `sample` reads whatever a command compares.
pub async fn samples_around(
    client: &Client,
    wait_for: std::time::Duration,
    wait: impl Future<Output = ()>,
    sample: impl AsyncFn() -> anyhow::Result<StatsSnapshot>,
) -> anyhow::Result<(StatsSnapshot, StatsSnapshot)> {
    // Session setup's idle_in_transaction_session_timeout (60 s) plus the wait.
    let idle_ms = wait_for
        .as_millis()
        .saturating_add(60_000)
        .min(i32::MAX as u128);
    let control = |sql: String| async move {
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| query_error("the sampling transaction", &e))
    };
    control(format!(
        "begin read only; set local idle_in_transaction_session_timeout = {idle_ms}"
    ))
    .await?;
    let mut first = sample().await?;
    if first.server.version_num < STATS_IN_SHARED_MEMORY_VERSION_NUM {
        // Before 15 the counters go through the statistics collector: this session's
        // connection-time reads were sent when it first went idle, but the collector's file
        // may be up to 500 ms older than that. Sample again once they must have landed, so
        // they fall before the window instead of inside it.
        tokio::time::sleep(COLLECTOR_LAG).await;
        control("select pg_stat_clear_snapshot()".to_string()).await?;
        first = sample().await?;
    }
    wait.await;
    control("select pg_stat_clear_snapshot()".to_string()).await?;
    let second = sample().await?;
    control("commit".to_string()).await?;
    Ok((first, second))
}
