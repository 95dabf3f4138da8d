//! Live tests of `collect` against throwaway clusters: what it reads must equal what the
//! same views say through psql, for superusers, pg_monitor members and roles with nothing
//! but CONNECT. Plus the offline seam: snapshot files that load, round-trip, or fail with the
//! right exit code and one line.
//!
//! Counters move while we look, so each comparison is built to stay honest: user-table and
//! index counters, and the rows of databases nobody touches any more, are stable once the
//! workload's statistics are flushed, and must equal psql's reading taken both right before
//! and right after `collect` (which itself must agree before with after, or the premise is
//! broken and the test says so). The connected database's own row moves with every query,
//! ours included, so it must lie between the two readings; counters only grow. Workload
//! statistics are flushed with `pg_stat_force_next_flush()` (PostgreSQL 15 on) or, before
//! 15, by closing the workload sessions and waiting until psql reads the same twice.
//!
//! Other majors: `PGCACHE_TUNE_PG_BIN=$(scripts/pg-bin.sh 17)`, or `scripts/test-matrix.sh`
//! for all of them.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use pgcache_tune::collect::{
    CollectOptions, collect, collect_all_databases, collect_counters, collect_relations,
    index_sizes, load_snapshot, save_snapshot, table_sizes,
};
use pgcache_tune::exit::{Exit, classify};
use pgcache_tune::facts::{IndexStats, LiveSetting, StatsSnapshot, TableStats};
use serde::Deserialize;
use support::{Cluster, ClusterOptions};
use tokio_postgres::{Client, Config, NoTls};

/// psql reads that must agree before the stable rows are trusted, taken this far apart
/// (the pre-15 statistics collector publishes every 500 ms).
const SETTLE_GAP: Duration = Duration::from_millis(700);
/// Give up waiting for the statistics to settle after this long.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// Connects to `db` as `user` over the cluster's socket; the connection runs on the test's
/// runtime until the client is dropped.
async fn connect(c: &Cluster, db: &str, user: &str) -> Client {
    let (client, conn) = Config::new()
        .host_path(c.socket_dir())
        .port(c.port())
        .user(user)
        .dbname(db)
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {db} as {user}: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A started cluster with autovacuum off (it would read tables behind our back) and I/O
/// timing on (so blk_read_time is not trivially 0).
fn started() -> Option<Cluster> {
    let bin = support::require_pg()?;
    let mut c = Cluster::init(ClusterOptions::new(bin));
    c.conf_append("autovacuum = off\ntrack_io_timing = on");
    c.start();
    Some(c)
}

/// psql's answer to `sql` as JSON (the query must return one json value).
fn psql_json<T: for<'de> Deserialize<'de>>(c: &Cluster, db: &str, sql: &str) -> T {
    let text = c.psql(db, sql);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// psql's reading of `sql` once two readings [`SETTLE_GAP`] apart agree.
fn settled(c: &Cluster, db: &str, sql: &str) -> String {
    let deadline = Instant::now() + SETTLE_LIMIT;
    let mut last = c.psql(db, sql);
    loop {
        std::thread::sleep(SETTLE_GAP);
        let now = c.psql(db, sql);
        if now == last {
            return now;
        }
        assert!(Instant::now() < deadline, "statistics never settled: {sql}");
        last = now;
    }
}

/// Flushes a workload session's statistics: on 15+ the flush happens before the statement
/// returns and the session stays open (closing it could add stats later); before 15 only
/// ending the session sends everything, and [`settled`] waits for the collector.
async fn flush(major: u32, session: Client) -> Option<Client> {
    if major >= 15 {
        session
            .batch_execute("select pg_stat_force_next_flush()")
            .await
            .expect("pg_stat_force_next_flush");
        Some(session)
    } else {
        drop(session);
        None
    }
}

/// `pg_statio_user_tables` with `pg_stat_user_tables`' scan counters of `db` as psql reads
/// them, shaped like [`TableStats`].
const TABLES_JSON: &str = "select coalesce(json_agg(json_build_object(
      'database', current_database(), 'relid', relid::int8, 'schema', schemaname, 'name', relname,
      'heap_blks_hit', heap_blks_hit, 'heap_blks_read', heap_blks_read,
      'idx_blks_hit', idx_blks_hit, 'idx_blks_read', idx_blks_read,
      'toast_blks_hit', toast_blks_hit, 'toast_blks_read', toast_blks_read,
      'tidx_blks_hit', tidx_blks_hit, 'tidx_blks_read', tidx_blks_read,
      'size_bytes', null,
      'scans', json_build_object('seq_scan', seq_scan, 'seq_tup_read', seq_tup_read,
                                 'idx_scan', idx_scan)) order by relid), '[]')
    from pg_statio_user_tables join pg_stat_user_tables using (relid, schemaname, relname)";

/// `pg_statio_user_indexes` of `db` as psql reads it, shaped like [`IndexStats`].
const INDEXES_JSON: &str = "select coalesce(json_agg(json_build_object(
      'database', current_database(), 'indexrelid', indexrelid::int8, 'schema', schemaname,
      'table', relname, 'name', indexrelname, 'idx_blks_hit', idx_blks_hit,
      'idx_blks_read', idx_blks_read, 'size_bytes', null) order by indexrelid), '[]')
    from pg_statio_user_indexes";

/// The counters of one `pg_stat_database` row.
#[derive(Debug, Deserialize, PartialEq)]
struct DbRow {
    blks_hit: i64,
    blks_read: i64,
    blk_read_time: f64,
    stats_reset: Option<f64>,
}

fn db_row(c: &Cluster, name: &str) -> DbRow {
    psql_json(
        c,
        "postgres",
        &format!(
            "select json_build_object('blks_hit', blks_hit, 'blks_read', blks_read,
               'blk_read_time', blk_read_time,
               'stats_reset', extract(epoch from stats_reset)::float8)
             from pg_stat_database where datname = '{name}'"
        ),
    )
}

/// `pg_stat_io` reads, hits, evictions and client-backend writes of relation blocks in the
/// normal context (PostgreSQL 16 on), as psql reads them.
fn buffer_io(c: &Cluster) -> Option<[i64; 4]> {
    (c.major() >= 16).then(|| {
        psql_json(
            c,
            "postgres",
            "select json_build_array(sum(reads), sum(hits), sum(evictions),
               coalesce(sum(writes) filter (where backend_type = 'client backend'), 0))
             from pg_stat_io where object = 'relation' and context = 'normal'",
        )
    })
}

fn sorted_tables(mut t: Vec<TableStats>) -> Vec<TableStats> {
    t.sort_by_key(|t| (t.database.clone(), t.relid));
    t
}

fn sorted_indexes(mut i: Vec<IndexStats>) -> Vec<IndexStats> {
    i.sort_by_key(|i| (i.database.clone(), i.indexrelid));
    i
}

fn table<'a>(snap: &'a StatsSnapshot, name: &str) -> &'a TableStats {
    snap.tables
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no table {name} in {:?}", snap.tables))
}

/// The schema of database `work`: tables with and without indexes and TOAST, a table with
/// an awkward name in another schema, a materialized view.
const WORK_SCHEMA: &str = "
    create table with_idx (id int primary key, payload text not null);
    insert into with_idx select g, md5(g::text) from generate_series(1, 5000) g;
    create table no_idx (a int, b bigint);
    insert into no_idx select g, g * 2 from generate_series(1, 3000) g;
    create table idx_no_toast (id int primary key, n int);
    insert into idx_no_toast select g, g from generate_series(1, 2000) g;
    create table toasted (id int primary key, doc text);
    alter table toasted alter column doc set storage external;
    insert into toasted
      select g, (select string_agg(md5(g::text || s::text), '') from generate_series(1, 200) s)
      from generate_series(1, 50) g;
    create schema other;
    create table other.\"odd|name\" (id int primary key);
    create materialized view mv as select id from with_idx where id % 10 = 0;
";

/// Reads that give the tables both hits and (after a restart emptied shared_buffers) reads.
const WORK_READS: &str = "
    select count(*) from with_idx where id between 10 and 2000;
    select sum(length(payload)) from with_idx;
    select sum(length(doc)) from toasted where id < 40;
    select count(*) from no_idx;
    select count(*) from idx_no_toast where id = 7;
    select count(*) from mv;
";

/// A cluster after the shared workload: databases `work` (see [`WORK_SCHEMA`]), `quiet`
/// (some I/O, then nobody connected), `idle` (never connected to). The returned sessions
/// must stay open on 15+ (see [`flush`]).
async fn workload() -> Option<(Cluster, Vec<Client>)> {
    let mut c = started()?;
    c.psql("postgres", "create database work");
    c.psql("postgres", "create database quiet");
    c.psql("postgres", "create database idle");
    c.psql("work", WORK_SCHEMA);
    c.psql("quiet", "create table q (id int primary key, t text)");
    // Empty shared_buffers so the reads below really read.
    c.restart();
    let major = c.major();
    let w = connect(&c, "work", "postgres").await;
    w.batch_execute(WORK_READS).await.expect("work reads");
    w.batch_execute("checkpoint").await.expect("checkpoint");
    let q = connect(&c, "quiet", "postgres").await;
    q.batch_execute("insert into q select g, repeat('x', g % 50) from generate_series(1, 500) g; select count(*) from q")
        .await
        .expect("quiet workload");
    let mut open = Vec::new();
    open.extend(flush(major, w).await);
    open.extend(flush(major, q).await);
    Some((c, open))
}

#[tokio::test]
async fn collected_counters_equal_the_views() {
    let Some((c, _open)) = workload().await else {
        return;
    };
    let major = c.major();
    let client = connect(&c, "work", "postgres").await;

    let tables_before = settled(&c, "work", TABLES_JSON);
    let indexes_before = c.psql("work", INDEXES_JSON);
    let quiet_before = db_row(&c, "quiet");
    let work_before = db_row(&c, "work");
    let ckpt_sql = if major >= 17 {
        "select json_build_array(num_timed, num_requested) from pg_stat_checkpointer"
    } else {
        "select json_build_array(checkpoints_timed, checkpoints_req) from pg_stat_bgwriter"
    };
    let ckpt_before: (i64, i64) = psql_json(&c, "postgres", ckpt_sql);
    let io_before = buffer_io(&c);
    let clock_before: f64 = c
        .psql("postgres", "select extract(epoch from now())")
        .parse()
        .unwrap();

    let snap = collect(&client, &CollectOptions::everything())
        .await
        .expect("collect");

    let clock_after: f64 = c
        .psql("postgres", "select extract(epoch from now())")
        .parse()
        .unwrap();
    let tables_after = c.psql("work", TABLES_JSON);
    let indexes_after = c.psql("work", INDEXES_JSON);
    let quiet_after = db_row(&c, "quiet");
    let work_after = db_row(&c, "work");
    let ckpt_after: (i64, i64) = psql_json(&c, "postgres", ckpt_sql);
    let io_after = buffer_io(&c);

    // The premise: nothing touched these while we read.
    assert_eq!(
        tables_before, tables_after,
        "table counters moved during collect"
    );
    assert_eq!(
        indexes_before, indexes_after,
        "index counters moved during collect"
    );
    assert_eq!(
        quiet_before, quiet_after,
        "database quiet moved during collect"
    );
    assert_eq!(
        ckpt_before, ckpt_after,
        "checkpoint counters moved during collect"
    );

    // Tables and indexes: exactly what psql read, every field.
    let want_tables: Vec<TableStats> = serde_json::from_str(&tables_before).unwrap();
    let want_indexes: Vec<IndexStats> = serde_json::from_str(&indexes_before).unwrap();
    assert_eq!(sorted_tables(snap.tables.clone()), want_tables);
    assert_eq!(sorted_indexes(snap.indexes.clone()), want_indexes);
    assert_eq!(snap.visited_databases, vec!["work".to_string()]);

    // The shapes the workload was built to produce.
    let with_idx = table(&snap, "with_idx");
    assert!(
        with_idx.heap_blks_read > 0 && with_idx.heap_blks_hit > 0,
        "{with_idx:?}"
    );
    assert!(with_idx.idx_blks_hit.is_some_and(|n| n > 0), "{with_idx:?}");
    assert!(with_idx.toast_blks_hit.is_some() && with_idx.tidx_blks_hit.is_some());
    let no_idx = table(&snap, "no_idx");
    assert_eq!(
        (no_idx.idx_blks_hit, no_idx.idx_blks_read),
        (None, None),
        "a table without indexes"
    );
    assert_eq!(
        (
            no_idx.toast_blks_hit,
            no_idx.toast_blks_read,
            no_idx.tidx_blks_hit,
            no_idx.tidx_blks_read
        ),
        (None, None, None, None),
        "a table without TOAST"
    );
    assert!(no_idx.heap_blks_read > 0, "{no_idx:?}");
    // Scan counters: a table without indexes is only ever scanned sequentially.
    let scans = no_idx.scans.expect("scan counters collected");
    assert!(scans.seq_scan > 0 && scans.seq_tup_read > 0, "{scans:?}");
    assert_eq!(scans.idx_scan, None, "no index, no index scan count");
    assert!(
        with_idx.scans.and_then(|s| s.idx_scan).is_some(),
        "{with_idx:?}"
    );
    let idx_no_toast = table(&snap, "idx_no_toast");
    assert!(idx_no_toast.idx_blks_hit.is_some() && idx_no_toast.toast_blks_hit.is_none());
    let toasted = table(&snap, "toasted");
    assert!(
        toasted.toast_blks_read.unwrap() + toasted.toast_blks_hit.unwrap() > 0,
        "{toasted:?}"
    );
    let odd = table(&snap, "odd|name");
    assert_eq!(odd.schema, "other");
    assert!(
        table(&snap, "mv").idx_blks_hit.is_none(),
        "materialized views count"
    );
    assert!(snap.tables.iter().all(|t| t.size_bytes.is_none()));
    assert!(snap.indexes.iter().all(|i| i.size_bytes.is_none()));

    // Databases: every one but the shared-objects row.
    let names: BTreeSet<String> = snap.databases.iter().map(|d| d.name.clone()).collect();
    let want_names: BTreeSet<String> =
        psql_json(&c, "postgres", "select json_agg(datname) from pg_database");
    assert_eq!(names, want_names);
    let db = |n: &str| snap.databases.iter().find(|d| d.name == n).unwrap();
    let quiet = db("quiet");
    assert_eq!(
        (
            quiet.blks_hit,
            quiet.blks_read,
            quiet.blk_read_time_ms,
            quiet.stats_reset_epoch
        ),
        (
            quiet_before.blks_hit,
            quiet_before.blks_read,
            quiet_before.blk_read_time,
            quiet_before.stats_reset
        )
    );
    assert!(quiet.blks_hit > 0 && quiet.blks_read > 0, "{quiet:?}");
    let work = db("work");
    assert!(
        work_before.blks_hit <= work.blks_hit && work.blks_hit <= work_after.blks_hit,
        "work hits {} outside [{}, {}]",
        work.blks_hit,
        work_before.blks_hit,
        work_after.blks_hit
    );
    assert!(
        work_before.blks_read <= work.blks_read && work.blks_read <= work_after.blks_read,
        "work reads {} outside [{}, {}]",
        work.blks_read,
        work_before.blks_read,
        work_after.blks_read
    );
    assert!(work.blks_read > quiet.blks_read, "the rows are not swapped");
    let idle = db("idle");
    assert_eq!((idle.blks_hit, idle.blks_read), (0, 0), "{idle:?}");
    assert_eq!(idle.blk_read_time_ms, 0.0);
    assert_eq!(idle.stats_reset_epoch, None);
    let idle_size: i64 = c
        .psql("postgres", "select pg_database_size('idle')")
        .parse()
        .unwrap();
    assert_eq!(idle.size_bytes, Some(idle_size));
    assert!(idle.can_connect && work.can_connect);
    assert!(
        !db("template0").can_connect,
        "template0 refuses connections"
    );
    assert!(snap.databases.iter().all(|d| d.size_bytes.is_some()));
    assert_eq!(
        snap.server.total_data_bytes,
        Some(snap.databases.iter().map(|d| d.size_bytes.unwrap()).sum())
    );

    // Server facts.
    let s = &snap.server;
    assert_eq!(
        s.version_num.to_string(),
        c.psql("postgres", "show server_version_num")
    );
    assert_eq!(s.version, c.psql("postgres", "show server_version"));
    assert_eq!(s.version_num / 10_000, major);
    assert_eq!(
        s.system_identifier.as_deref(),
        Some(
            c.psql(
                "postgres",
                "select system_identifier from pg_control_system()"
            )
            .as_str()
        )
    );
    let start: f64 = psql_json(
        &c,
        "postgres",
        "select to_json(extract(epoch from pg_postmaster_start_time())::float8)",
    );
    assert_eq!(s.start_epoch, start);
    assert!(
        clock_before <= s.now_epoch && s.now_epoch <= clock_after,
        "{clock_before} {} {clock_after}",
        s.now_epoch
    );
    assert_eq!((s.database.as_str(), s.user.as_str()), ("work", "postgres"));
    assert!(snap.privileges.superuser && snap.privileges.pg_monitor);
    // pg_stat_io (16+): cluster-wide, moving with every query, so between the readings.
    match (snap.buffer_io, io_before, io_after) {
        (Some(io), Some(before), Some(after)) => {
            let got = [io.reads, io.hits, io.evictions, io.backend_writes];
            for (k, name) in ["reads", "hits", "evictions", "backend_writes"]
                .iter()
                .enumerate()
            {
                assert!(
                    before[k] <= got[k] && got[k] <= after[k],
                    "pg_stat_io {name} {} outside [{}, {}]",
                    got[k],
                    before[k],
                    after[k]
                );
            }
            assert!(io.hits > 0 && io.reads > 0, "{io:?}");
            assert!(snap.notes.is_empty(), "{:?}", snap.notes);
        }
        (None, None, None) => assert_eq!(
            snap.notes,
            [format!(
                "PostgreSQL {} cannot show shared-buffer evictions (pg_stat_io, added in 16)",
                c.psql(
                    "postgres",
                    "select split_part(current_setting('server_version'), ' ', 1)"
                )
            )]
        ),
        other => panic!("pg_stat_io on {major}: {other:?}"),
    }
    let ckpt = snap.checkpoints.expect("checkpoints");
    assert_eq!((ckpt.timed, ckpt.requested), ckpt_before);
    assert!(ckpt.requested >= 1, "the workload ran CHECKPOINT");

    // Settings: every row; the server-wide ones exactly (session ones differ per session).
    let want_settings: Vec<LiveSetting> = psql_json(
        &c,
        "work",
        "select json_agg(json_build_object('name', name, 'setting', setting, 'unit', unit,
           'vartype', vartype, 'context', context, 'source', source, 'sourcefile', sourcefile,
           'sourceline', sourceline, 'pending_restart', pending_restart, 'enumvals', enumvals)
           order by name) from pg_settings",
    );
    let names = |v: &[LiveSetting]| v.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&snap.settings), names(&want_settings));
    let server_wide = |v: &[LiveSetting]| -> Vec<LiveSetting> {
        v.iter()
            .filter(|s| matches!(s.context.as_str(), "postmaster" | "sighup" | "internal"))
            .cloned()
            .collect()
    };
    assert_eq!(server_wide(&snap.settings), server_wide(&want_settings));
    let autovacuum = snap.setting("autovacuum").unwrap();
    assert_eq!(autovacuum.setting, "off");
    assert!(
        autovacuum
            .sourcefile
            .as_deref()
            .is_some_and(|f| f.ends_with("postgresql.conf")),
        "{autovacuum:?}"
    );
    assert!(autovacuum.sourceline.is_some());
    assert!(snap.setting("wal_level").unwrap().enumvals.is_some());
}

#[tokio::test]
async fn counters_only_and_relations_of_one_database() {
    let Some((c, _open)) = workload().await else {
        return;
    };
    let client = connect(&c, "work", "postgres").await;
    settled(&c, "work", TABLES_JSON);
    let full = collect(&client, &CollectOptions::everything())
        .await
        .unwrap();

    let fast = collect_counters(&client, true, true, true).await.unwrap();
    assert_eq!(
        sorted_tables(fast.tables.clone()),
        sorted_tables(full.tables.clone())
    );
    assert_eq!(
        sorted_indexes(fast.indexes),
        sorted_indexes(full.indexes.clone())
    );
    assert!(fast.settings.is_empty() && fast.checkpoints.is_none() && fast.buffer_io.is_none());
    assert!(
        fast.notes.is_empty(),
        "the fast path notes nothing: {:?}",
        fast.notes
    );
    assert!(fast.databases.iter().all(|d| d.size_bytes.is_none()));
    assert_eq!(fast.server.total_data_bytes, None);
    assert_eq!(fast.server.system_identifier, full.server.system_identifier);
    assert_eq!(
        fast.databases.iter().map(|d| &d.name).collect::<Vec<_>>(),
        full.databases.iter().map(|d| &d.name).collect::<Vec<_>>()
    );

    let bare = collect_counters(&client, false, false, false)
        .await
        .unwrap();
    assert!(bare.tables.is_empty() && bare.indexes.is_empty());
    // Without `identify`, no system identifier (check without --since needs none).
    assert_eq!(bare.server.system_identifier, None);
    assert!(bare.notes.is_empty(), "{:?}", bare.notes);
    assert!(bare.visited_databases.is_empty());
    let no_settings = collect(
        &client,
        &CollectOptions {
            tables: true,
            indexes: false,
            settings: false,
        },
    )
    .await
    .unwrap();
    assert!(no_settings.settings.is_empty() && no_settings.indexes.is_empty());
    assert!(!no_settings.tables.is_empty());

    // The connected database is visited even when it holds no tables or indexes.
    let empty = connect(&c, "idle", "postgres").await;
    let snap = collect(&empty, &CollectOptions::everything())
        .await
        .unwrap();
    assert!(snap.tables.is_empty() && snap.indexes.is_empty());
    assert_eq!(snap.visited_databases, ["idle"]);

    let (tables, indexes) = collect_relations(&client, "work").await.unwrap();
    assert_eq!(sorted_tables(tables), sorted_tables(full.tables));
    assert_eq!(sorted_indexes(indexes), sorted_indexes(full.indexes));
}

#[tokio::test]
async fn all_databases_through_the_connector() {
    let Some((c, _open)) = workload().await else {
        return;
    };
    c.psql("postgres", "create database refused");
    c.psql("quiet", "create table q2 (id int)");
    let client = connect(&c, "work", "postgres").await;
    let c = &c;
    let asked = std::sync::Mutex::new(Vec::new());
    let snap = collect_all_databases(&client, &CollectOptions::everything(), |db: String| {
        asked.lock().unwrap().push(db.clone());
        async move {
            if db == "refused" {
                anyhow::bail!("no pg_hba.conf entry for this test");
            }
            Ok(connect(c, &db, "postgres").await)
        }
    })
    .await
    .unwrap();

    let mut asked = asked.into_inner().unwrap();
    asked.sort();
    // Every database that accepts connections except the connected one; never template0.
    assert_eq!(asked, ["idle", "postgres", "quiet", "refused", "template1"]);
    let mut visited = snap.visited_databases.clone();
    visited.sort();
    assert_eq!(visited, ["idle", "postgres", "quiet", "template1", "work"]);
    assert_eq!(snap.visited_databases[0], "work", "the connected one first");
    let skipped: Vec<_> = snap
        .notes
        .iter()
        .filter(|n| n.contains("skipped"))
        .collect();
    assert_eq!(
        skipped,
        [
            r#"database "refused" was skipped: connecting to database "refused": no pg_hba.conf entry for this test"#
        ]
    );
    let quiet: Vec<_> = snap
        .tables
        .iter()
        .filter(|t| t.database == "quiet")
        .collect();
    assert_eq!(
        quiet
            .iter()
            .map(|t| t.name.as_str())
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(["q", "q2"])
    );
    assert!(
        snap.indexes
            .iter()
            .any(|i| i.database == "quiet" && i.name == "q_pkey")
    );
    assert!(
        snap.tables
            .iter()
            .any(|t| t.database == "work" && t.name == "with_idx")
    );
    // The same OID in two databases is two rows, told apart by the database.
    let keys: BTreeSet<(&str, u32)> = snap
        .tables
        .iter()
        .map(|t| (t.database.as_str(), t.relid))
        .collect();
    assert_eq!(keys.len(), snap.tables.len());
}

#[tokio::test]
async fn sizes_of_chosen_relations_match_the_size_functions() {
    let Some((c, _open)) = workload().await else {
        return;
    };
    let client = connect(&c, "work", "postgres").await;
    let snap = collect_counters(&client, true, true, false).await.unwrap();
    let chosen: Vec<u32> = ["with_idx", "toasted", "no_idx"]
        .iter()
        .map(|n| table(&snap, n).relid)
        .collect();
    // A relation dropped after its counters were read has no size, and no error.
    let gone: u32 = c
        .psql(
            "work",
            "create table gone (id int); select 'gone'::regclass::oid",
        )
        .parse()
        .unwrap();
    c.psql("work", "drop table gone");
    let mut ask = chosen.clone();
    ask.push(gone);

    let got = table_sizes(&client, &ask).await.unwrap();
    let want: BTreeMap<u32, i64> = chosen
        .iter()
        .map(|oid| {
            let n = c.psql("work", &format!("select pg_table_size({oid})"));
            (*oid, n.parse().unwrap())
        })
        .collect();
    assert_eq!(got.into_iter().collect::<BTreeMap<_, _>>(), want);
    assert!(want.values().all(|n| *n > 0));
    // pg_table_size counts TOAST: the toasted table's is more than its heap.
    let toasted = table(&snap, "toasted").relid;
    let heap: i64 = c
        .psql("work", &format!("select pg_relation_size({toasted})"))
        .parse()
        .unwrap();
    assert!(want[&toasted] > heap);

    let idx: Vec<u32> = snap.indexes.iter().map(|i| i.indexrelid).collect();
    let got = index_sizes(&client, &idx).await.unwrap();
    assert_eq!(got.len(), idx.len());
    for oid in idx {
        let n: i64 = c
            .psql("work", &format!("select pg_relation_size({oid})"))
            .parse()
            .unwrap();
        assert_eq!(got[&oid], n, "index {oid}");
    }
    assert!(table_sizes(&client, &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn unprivileged_and_monitoring_roles() {
    let Some((c, _open)) = workload().await else {
        return;
    };
    c.psql(
        "postgres",
        "create role plain login; create role mon login; grant pg_monitor to mon",
    );
    c.psql("postgres", "create database secret");
    c.psql("postgres", "revoke connect on database secret from public");
    let plain = connect(&c, "work", "plain").await;
    let snap = collect(&plain, &CollectOptions::everything())
        .await
        .expect("collect as plain");
    assert_eq!(snap.server.user, "plain");
    assert_eq!(
        (snap.privileges.superuser, snap.privileges.pg_monitor),
        (false, false)
    );
    // PostgreSQL lets everyone call pg_control_system() by default...
    assert!(snap.server.system_identifier.is_some());
    assert!(
        !snap.notes.iter().any(|n| n.contains("pg_control_system")),
        "{:?}",
        snap.notes
    );
    // ...but an administrator may revoke it (per database: pg_proc is not shared): then
    // there is no identifier, a note says why, and nothing fails.
    c.psql(
        "work",
        "revoke execute on function pg_control_system() from public",
    );
    let revoked = collect_counters(&plain, false, false, true)
        .await
        .expect("collect without pg_control_system()");
    assert_eq!(revoked.server.system_identifier, None);
    assert_eq!(
        revoked.notes,
        [
            "the role may not call pg_control_system(), so the snapshot has no system identifier \
          to tell clusters apart"
        ]
    );
    assert!(!snap.settings.is_empty());
    assert!(
        snap.settings
            .iter()
            .all(|s| s.sourcefile.is_none() && s.sourceline.is_none())
    );
    let secret = snap.databases.iter().find(|d| d.name == "secret").unwrap();
    assert!(
        !secret.can_connect && secret.size_bytes.is_none(),
        "{secret:?}"
    );
    let work = snap.databases.iter().find(|d| d.name == "work").unwrap();
    assert!(work.can_connect && work.size_bytes.is_some());
    assert!(snap.server.total_data_bytes.is_some());
    // --all-databases names the database the role may not connect to; template0, which
    // nobody may connect to, is not worth a note.
    let all = collect_all_databases(&plain, &CollectOptions::everything(), |db: String| {
        let c = &c;
        async move { Ok(connect(c, &db, "plain").await) }
    })
    .await
    .expect("all databases as plain");
    assert!(!all.visited_databases.iter().any(|d| d == "secret"));
    let not_visited: Vec<&String> = all
        .notes
        .iter()
        .filter(|n| n.contains("not visited"))
        .collect();
    assert_eq!(
        not_visited,
        [
            r#"database "secret" was not visited: role "plain" may not connect to it (GRANT CONNECT ON DATABASE to include it)"#
        ],
        "{:?}",
        all.notes
    );
    assert!(snap.tables.iter().any(|t| t.name == "with_idx"));
    assert!(snap.checkpoints.is_some());
    let sizes = table_sizes(&plain, &[table(&snap, "with_idx").relid])
        .await
        .expect("sizes as plain");
    assert_eq!(sizes.len(), 1);

    let mon = connect(&c, "work", "mon").await;
    let snap = collect(&mon, &CollectOptions::everything())
        .await
        .expect("collect as mon");
    assert_eq!(
        (snap.privileges.superuser, snap.privileges.pg_monitor),
        (false, true)
    );
    let secret = snap.databases.iter().find(|d| d.name == "secret").unwrap();
    assert!(!secret.can_connect, "pg_monitor does not grant CONNECT");
    assert!(
        secret.size_bytes.is_some(),
        "pg_read_all_stats may read any size"
    );
    assert!(snap.settings.iter().any(|s| s.sourcefile.is_some()));
}

#[tokio::test]
async fn query_errors_map_to_the_server_exit_code_in_one_line() {
    let Some(c) = started() else { return };
    c.psql("postgres", "create role plain login");
    c.psql("postgres", "create database locked");
    // Catalog privileges are per database: this only locks `locked`. The table counters are
    // computed from pg_class with the counter functions (not through the views), so it is a
    // function only they call that is taken away.
    c.psql(
        "locked",
        "revoke execute on function pg_stat_get_tuples_returned(oid) from public",
    );
    let plain = connect(&c, "locked", "plain").await;
    let err = collect(&plain, &CollectOptions::everything())
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert_eq!(classify(&err), Exit::Server, "{text}");
    assert_eq!(
        text,
        "reading pg_statio_user_tables: permission denied for function pg_stat_get_tuples_returned"
    );
    // The counters-only path without tables does not call that function.
    collect_counters(&plain, false, true, false)
        .await
        .expect("indexes are still readable");

    // A connection that is gone.
    let gone = connect(&c, "locked", "postgres").await;
    c.psql(
        "postgres",
        "select pg_terminate_backend(pid) from pg_stat_activity
         where datname = 'locked' and usename = 'postgres'",
    );
    // pg_terminate_backend only signals; wait until the client has seen the end.
    let deadline = Instant::now() + SETTLE_LIMIT;
    while !gone.is_closed() {
        assert!(
            Instant::now() < deadline,
            "the terminated session stays open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = collect_counters(&gone, false, false, false)
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert_eq!(classify(&err), Exit::Server, "{text}");
    assert_eq!(
        text,
        "reading server information: server closed the connection unexpectedly"
    );
}

#[tokio::test]
async fn snapshots_round_trip_through_files() {
    let Some((c, _open)) = workload().await else {
        return;
    };
    let client = connect(&c, "work", "postgres").await;
    let snap = collect(&client, &CollectOptions::everything())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.json");
    save_snapshot(&path, &snap).unwrap();
    assert_eq!(load_snapshot(&path).unwrap(), snap);
    // Overwrites in place and leaves no temp file behind.
    let mut other = snap.clone();
    other.notes.push("second".into());
    save_snapshot(&path, &other).unwrap();
    assert_eq!(load_snapshot(&path).unwrap(), other);
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "{files:?}");
}

// ---- Offline: fixture files and bad snapshot files (no server needed). ----

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/stats")
        .join(name)
}

#[test]
fn the_committed_fixture_loads_and_has_every_shape() {
    let snap = load_snapshot(&fixture("pg15.json")).expect("fixtures/stats/pg15.json");
    assert_eq!(snap.major(), 15);
    assert!(snap.setting("shared_buffers").is_some());
    assert!(snap.tables.iter().any(|t| t.idx_blks_hit.is_none()));
    assert!(
        snap.tables
            .iter()
            .any(|t| t.toast_blks_hit.is_none() && t.idx_blks_hit.is_some())
    );
    assert!(
        snap.tables
            .iter()
            .any(|t| t.toast_blks_hit.is_some_and(|n| n > 0))
    );
    assert!(snap.tables.iter().any(|t| t.heap_blks_read > 0));
    assert!(
        snap.databases
            .iter()
            .any(|d| d.blks_hit == 0 && d.blks_read == 0)
    );
    assert!(snap.checkpoints.is_some());
    assert!(snap.buffer_io.is_none(), "15 has no pg_stat_io");
    assert_eq!(snap.notes.len(), 1, "{:?}", snap.notes);
}

/// Loads `text` from a file and returns the error's exit code and message.
fn load_error(text: &str) -> (Exit, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, text).unwrap();
    let err = load_snapshot(&path).unwrap_err();
    let msg = format!("{err:#}");
    assert!(!msg.contains('\n'), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    (classify(&err), msg)
}

#[test]
fn bad_snapshot_files_fail_with_one_line_and_the_right_code() {
    let good = std::fs::read_to_string(fixture("pg15.json")).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let err = load_snapshot(&missing).unwrap_err();
    assert_eq!(classify(&err), Exit::Io);
    assert_eq!(
        format!("{err:#}"),
        format!(
            "cannot read snapshot {}: no such file or directory",
            missing.display()
        )
    );
    let err = load_snapshot(dir.path()).unwrap_err();
    assert_eq!(classify(&err), Exit::Io);
    assert_eq!(
        format!("{err:#}"),
        format!(
            "cannot read snapshot {}: is a directory",
            dir.path().display()
        )
    );

    let (code, msg) = load_error(&good[..good.len() / 2]);
    assert_eq!(code, Exit::Data);
    assert!(
        msg.contains("is not valid JSON: EOF while parsing"),
        "{msg}"
    );
    let (code, msg) = load_error("shared_buffers = 1GB\n");
    assert_eq!(code, Exit::Data);
    assert!(
        msg.contains("is not valid JSON: expected value at line 1 column 1"),
        "{msg}"
    );
    let (code, msg) = load_error(&good.replacen("\"format\": 1", "\"format\": 2", 1));
    assert_eq!(code, Exit::Data);
    assert!(
        msg.ends_with(
            "has format 2, but this pgcache-tune reads format 1 (it was written by a newer version)"
        ),
        "{msg}"
    );
    let (code, msg) = load_error(&good.replacen("\"format\": 1", "\"format\": \"1\"", 1));
    assert_eq!(code, Exit::Data);
    assert!(
        msg.ends_with("has format \"1\", expected the number 1"),
        "{msg}"
    );
    let (code, msg) = load_error("{\"tables\": []}");
    assert_eq!(code, Exit::Data);
    assert!(msg.contains("has no \"format\" field"), "{msg}");
    let (code, msg) = load_error("[1, 2]");
    assert_eq!(code, Exit::Data);
    assert!(msg.contains("is not valid JSON"), "{msg}");
    let (code, msg) = load_error(&good.replacen("\"blks_hit\"", "\"blks_hits\"", 1));
    assert_eq!(code, Exit::Data);
    assert!(
        msg.contains("is not a valid snapshot: missing field `blks_hit` at line"),
        "{msg}"
    );

    // Writing into a missing directory is an I/O error naming the file.
    let target = dir.path().join("no/such/dir/snap.json");
    let snap = load_snapshot(&fixture("pg15.json")).unwrap();
    let err = save_snapshot(&target, &snap).unwrap_err();
    assert_eq!(classify(&err), Exit::Io);
    assert_eq!(
        format!("{err:#}"),
        format!(
            "cannot write snapshot {}: no such file or directory",
            target.display()
        )
    );
}

// ---- The --stats-from fixture: regenerated by the capture, kept honest by this test. ----

/// `fixtures/stats/pgNN.json` must be what `collect()` produces after the shared workload on
/// this major: same format, same databases, same tables and indexes (counters differ run to
/// run, names must not). With `PGCACHE_TUNE_WRITE_FIXTURE=1` the test writes the capture
/// instead (`scripts/capture-stats-fixture.sh`). Rows are sorted so captures diff well.
#[tokio::test]
async fn stats_fixture_matches_a_fresh_capture() {
    let Some((c, _open)) = workload().await else {
        return;
    };
    let client = connect(&c, "work", "postgres").await;
    let mut snap = collect(&client, &CollectOptions::everything())
        .await
        .unwrap();
    let tables = std::mem::take(&mut snap.tables);
    snap.tables = sorted_tables(tables);
    let indexes = std::mem::take(&mut snap.indexes);
    snap.indexes = sorted_indexes(indexes);
    let path = fixture(&format!("pg{}.json", c.major()));
    if std::env::var_os("PGCACHE_TUNE_WRITE_FIXTURE").is_some() {
        // Writing is not testing: the test command (CI=true) must never pass this way.
        assert!(
            !support::in_ci(),
            "PGCACHE_TUNE_WRITE_FIXTURE is set under CI=true"
        );
        save_snapshot(&path, &snap).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = load_snapshot(&path)
        .unwrap_or_else(|e| panic!("{e:#}: capture it with scripts/capture-stats-fixture.sh"));
    let names = |s: &StatsSnapshot| {
        let mut dbs: Vec<String> = s.databases.iter().map(|d| d.name.clone()).collect();
        dbs.sort();
        let rels: Vec<String> = s
            .tables
            .iter()
            .map(|t| format!("{}.{}.{}", t.database, t.schema, t.name))
            .chain(
                s.indexes
                    .iter()
                    .map(|i| format!("{}.{}.{}", i.database, i.schema, i.name)),
            )
            .collect();
        (s.format, s.major(), dbs, rels)
    };
    assert_eq!(
        names(&committed),
        names(&snap),
        "{} no longer matches a fresh capture; regenerate it with scripts/capture-stats-fixture.sh",
        path.display()
    );
}
