//! A hand-built, realistic PostgreSQL 15 snapshot for unit and snapshot tests: a busy `app`
//! database slightly below 99%, an `analytics` database the role cannot connect to well
//! below 90%, one table causing most reads, ALTER SYSTEM and pending-restart settings, and a
//! table whose name carries terminal escapes. Numbers are chosen so every finding the rules
//! know has something to say, and so tests can mutate one thing at a time.

use crate::facts::{
    DatabaseStats, IndexStats, LiveSetting, Privileges, SNAPSHOT_FORMAT, ScanCounts, ServerInfo,
    StatsSnapshot, TableStats,
};
use crate::tune::{Os, Profile, Storage};

use super::HostContext;

const GIB: i64 = 1 << 30;
/// The server's clock in the snapshot.
pub const NOW: f64 = 1_790_000_000.0;
const DAY: f64 = 86_400.0;
/// A table name with an escape sequence, a pipe, backticks and a bidi override.
pub const EVIL_NAME: &str = "evil\u{1b}[31m|`x`\u{202e}";

/// 16 GiB, 4 CPUs, SSD, Linux, web profile, probed on this host.
pub fn host_16g() -> HostContext {
    HostContext {
        ram_bytes: Some(16 * (1 << 30)),
        cpus: Some(4),
        source: "this host (probed, cgroup limit none)".to_owned(),
        os: Os::Linux,
        storage: Storage::Ssd,
        profile: Profile::Web,
    }
}

/// A remote server: RAM and CPUs unknown.
pub fn host_unknown() -> HostContext {
    HostContext {
        ram_bytes: None,
        cpus: None,
        source: "remote server: RAM unknown, pass --ram".to_owned(),
        ..host_16g()
    }
}

/// A `pg_settings` row from the defaults file, with the given value.
pub fn setting(name: &str, value: &str, unit: Option<&str>, vartype: &str) -> LiveSetting {
    let context = match name {
        "shared_buffers"
        | "max_connections"
        | "huge_pages"
        | "wal_buffers"
        | "wal_level"
        | "max_wal_senders"
        | "max_worker_processes"
        | "autovacuum_max_workers" => "postmaster",
        "track_io_timing" | "wal_compression" => "superuser",
        "checkpoint_completion_target"
        | "checkpoint_timeout"
        | "wal_writer_delay"
        | "min_wal_size"
        | "max_wal_size"
        | "autovacuum_work_mem" => "sighup",
        "wal_segment_size" => "internal",
        _ => "user",
    };
    LiveSetting {
        name: name.to_owned(),
        setting: value.to_owned(),
        unit: unit.map(str::to_owned),
        vartype: vartype.to_owned(),
        context: context.to_owned(),
        source: "default".to_owned(),
        sourcefile: None,
        sourceline: None,
        pending_restart: false,
        enumvals: None,
    }
}

/// A table with heap counters only (no index, no TOAST, size not fetched).
pub fn table(db: &str, relid: u32, schema: &str, name: &str, hit: i64, read: i64) -> TableStats {
    TableStats {
        database: db.to_owned(),
        relid,
        schema: schema.to_owned(),
        name: name.to_owned(),
        heap_blks_hit: hit,
        heap_blks_read: read,
        idx_blks_hit: None,
        idx_blks_read: None,
        toast_blks_hit: None,
        toast_blks_read: None,
        tidx_blks_hit: None,
        tidx_blks_read: None,
        size_bytes: None,
        scans: None,
    }
}

fn with_idx(mut t: TableStats, hit: i64, read: i64) -> TableStats {
    t.idx_blks_hit = Some(hit);
    t.idx_blks_read = Some(read);
    t
}

fn index(oid: u32, schema: &str, table: &str, name: &str, hit: i64, read: i64) -> IndexStats {
    IndexStats {
        database: "app".to_owned(),
        indexrelid: oid,
        schema: schema.to_owned(),
        table: table.to_owned(),
        name: name.to_owned(),
        idx_blks_hit: hit,
        idx_blks_read: read,
        size_bytes: None,
    }
}

/// A `pg_stat_database` row.
pub fn database(name: &str, hit: i64, read: i64, read_ms: f64, size: Option<i64>) -> DatabaseStats {
    DatabaseStats {
        datid: None,
        name: name.to_owned(),
        blks_hit: hit,
        blks_read: read,
        blk_read_time_ms: read_ms,
        size_bytes: size,
        stats_reset_epoch: None,
        can_connect: size.is_some(),
        accepts_connections: true,
        temp_files: None,
        temp_bytes: None,
    }
}

fn settings() -> Vec<LiveSetting> {
    let conf = "/etc/postgresql/15/main/postgresql.conf";
    let auto = "/var/lib/postgresql/15/main/postgresql.auto.conf";
    let mut shared_buffers = setting("shared_buffers", "16384", Some("8kB"), "integer");
    shared_buffers.source = "configuration file".to_owned();
    shared_buffers.sourcefile = Some(conf.to_owned());
    shared_buffers.sourceline = Some(127);
    shared_buffers.pending_restart = true;
    let mut work_mem = setting("work_mem", "16384", Some("kB"), "integer");
    work_mem.source = "configuration file".to_owned();
    work_mem.sourcefile = Some(auto.to_owned());
    work_mem.sourceline = Some(3);
    let mut max_connections = setting("max_connections", "200", None, "integer");
    max_connections.source = "configuration file".to_owned();
    max_connections.sourcefile = Some(conf.to_owned());
    max_connections.sourceline = Some(65);
    let mut huge_pages = setting("huge_pages", "try", None, "enum");
    huge_pages.enumvals = Some(vec!["off".into(), "on".into(), "try".into()]);
    let mut wal_compression = setting("wal_compression", "pglz", None, "enum");
    wal_compression.enumvals = Some(
        ["pglz", "lz4", "zstd", "on", "off"]
            .map(String::from)
            .to_vec(),
    );
    let mut track_io_timing = setting("track_io_timing", "on", None, "bool");
    track_io_timing.source = "configuration file".to_owned();
    track_io_timing.sourcefile = Some(conf.to_owned());
    track_io_timing.sourceline = Some(610);
    vec![
        max_connections,
        shared_buffers,
        setting("effective_cache_size", "524288", Some("8kB"), "integer"),
        setting("maintenance_work_mem", "65536", Some("kB"), "integer"),
        work_mem,
        huge_pages,
        setting("wal_buffers", "512", Some("8kB"), "integer"),
        setting("min_wal_size", "80", Some("MB"), "integer"),
        setting("max_wal_size", "1024", Some("MB"), "integer"),
        setting("checkpoint_completion_target", "0.9", None, "real"),
        setting("checkpoint_timeout", "300", Some("s"), "integer"),
        setting("wal_writer_delay", "200", Some("ms"), "integer"),
        wal_compression,
        setting("wal_level", "replica", None, "enum"),
        setting("max_wal_senders", "10", None, "integer"),
        setting("default_statistics_target", "100", None, "integer"),
        setting("random_page_cost", "4", None, "real"),
        setting("seq_page_cost", "1", None, "real"),
        setting("cpu_tuple_cost", "0.01", None, "real"),
        setting("cpu_index_tuple_cost", "0.005", None, "real"),
        setting("cpu_operator_cost", "0.0025", None, "real"),
        setting("jit", "on", None, "bool"),
        setting("effective_io_concurrency", "1", None, "integer"),
        setting("maintenance_io_concurrency", "10", None, "integer"),
        setting("max_worker_processes", "8", None, "integer"),
        setting("max_parallel_workers_per_gather", "2", None, "integer"),
        setting("max_parallel_workers", "8", None, "integer"),
        setting("max_parallel_maintenance_workers", "2", None, "integer"),
        setting("autovacuum_max_workers", "3", None, "integer"),
        setting("autovacuum_work_mem", "-1", Some("kB"), "integer"),
        track_io_timing,
        setting("wal_segment_size", "16777216", Some("B"), "integer"),
    ]
}

/// The realistic snapshot described in the module docs.
pub fn snapshot() -> StatsSnapshot {
    let mut app = database("app", 98_765_432, 1_234_567, 370_370.1, Some(42 * GIB));
    app.stats_reset_epoch = Some(NOW - 3.0 * DAY);
    let tables = vec![
        with_idx(
            table("app", 16_401, "public", "orders", 40_000_000, 200_000),
            80_000_000,
            50_000,
        ),
        with_idx(
            table("app", 16_410, "public", "order_items", 30_000_000, 100_000),
            50_000_000,
            30_000,
        ),
        {
            let mut t = with_idx(
                table("app", 16_420, "public", "events", 5_000_000, 900_000),
                1_000_000,
                10_000,
            );
            t.toast_blks_hit = Some(200_000);
            t.toast_blks_read = Some(5_000);
            t.tidx_blks_hit = Some(50_000);
            t.tidx_blks_read = Some(100);
            t.scans = Some(ScanCounts {
                seq_scan: 1_200,
                seq_tup_read: 360_000_000,
                idx_scan: Some(45_000),
            });
            t
        },
        with_idx(
            table("app", 16_430, "billing", "invoices", 2_000_000, 20_000),
            3_000_000,
            1_000,
        ),
        table("app", 16_440, "audit", "log_2024", 300, 200),
        table("app", 16_450, "public", "sessions", 0, 0),
        table("app", 16_460, "public", EVIL_NAME, 10_000, 1_000),
    ];
    let indexes = vec![
        index(
            16_402,
            "public",
            "orders",
            "orders_pkey",
            60_000_000,
            30_000,
        ),
        index(
            16_403,
            "public",
            "orders",
            "orders_customer_idx",
            20_000_000,
            20_000,
        ),
        index(
            16_411,
            "public",
            "order_items",
            "order_items_pkey",
            50_000_000,
            30_000,
        ),
        index(16_421, "public", "events", "events_pkey", 1_000_000, 10_000),
        index(
            16_431,
            "billing",
            "invoices",
            "invoices_pkey",
            3_000_000,
            1_000,
        ),
        index(16_441, "audit", "log_2024", "log_2024_pkey", 40, 2),
    ];
    StatsSnapshot {
        format: SNAPSHOT_FORMAT,
        server: ServerInfo {
            version_num: 150_020,
            version: "15.20 (Debian 15.20-0+deb12u1)".to_owned(),
            system_identifier: Some("7301234567890123456".to_owned()),
            now_epoch: NOW,
            start_epoch: NOW - 10.0 * DAY,
            database: "app".to_owned(),
            user: "monitor".to_owned(),
            total_data_bytes: Some(45 * GIB),
        },
        databases: vec![
            app,
            database("analytics", 5_000_000, 900_000, 90_000.0, None),
            database("postgres", 120_000, 300, 15.0, Some(7_500_000)),
            database("template1", 0, 0, 0.0, Some(7_400_000)),
        ],
        tables,
        indexes,
        settings: settings(),
        privileges: Privileges {
            superuser: false,
            pg_monitor: true,
        },
        visited_databases: vec!["app".to_owned()],
        notes: vec!["pg_stat_statements is not installed: no per-query I/O".to_owned()],
        checkpoints: None,
        buffer_io: None,
        huge_pages_probe: None,
        buffer_cache: None,
        materialized_views: Vec::new(),
        statements: None,
    }
}
