//! PostgreSQL's built-in defaults for the settings we emit, per major version, so that every
//! line of the snippet can say when it merely restates the default. Taken from the GUC tables
//! (`guc_tables.c`) of each major; only the values that changed between 13 and 18 branch.

use super::{Os, Value};
use crate::units::{GB_KB, MB_KB};

/// The default of `name` on major `version` for `os`, or `None` when we do not track it.
pub fn default_value(name: &str, version: u32, os: Os) -> Option<Value> {
    let v = match name {
        "max_connections" => Value::Int(100),
        "shared_buffers" => Value::SizeKb(128 * MB_KB),
        "effective_cache_size" => Value::SizeKb(4 * GB_KB),
        "maintenance_work_mem" => Value::SizeKb(64 * MB_KB),
        "work_mem" => Value::SizeKb(4 * MB_KB),
        "huge_pages" => Value::Word("try"),
        "autovacuum_work_mem" => return None, // -1: "use maintenance_work_mem"
        "wal_buffers" => return None,         // -1: "3% of shared_buffers"
        "min_wal_size" => Value::SizeKb(80 * MB_KB),
        "max_wal_size" => Value::SizeKb(GB_KB),
        // 0.5 until PostgreSQL 14 made 0.9 the default.
        "checkpoint_completion_target" if version < 14 => Value::Real("0.5"),
        "checkpoint_completion_target" => Value::Real("0.9"),
        "checkpoint_timeout" => Value::TimeMs(300_000),
        "wal_writer_delay" => Value::TimeMs(200),
        "wal_compression" => Value::Word("off"),
        "wal_level" => Value::Word("replica"),
        "max_wal_senders" => Value::Int(10),
        "default_statistics_target" => Value::Int(100),
        "random_page_cost" => Value::Real("4"),
        "seq_page_cost" => Value::Real("1"),
        "cpu_tuple_cost" => Value::Real("0.01"),
        "cpu_index_tuple_cost" => Value::Real("0.005"),
        "cpu_operator_cost" => Value::Real("0.0025"),
        "jit" => Value::Word("on"),
        // Without posix_fadvise (macOS, Windows) the default is 0; PostgreSQL 18 raised it to 16.
        "effective_io_concurrency" if os != Os::Linux => Value::Int(0),
        "effective_io_concurrency" if version >= 18 => Value::Int(16),
        "effective_io_concurrency" => Value::Int(1),
        // Likewise without posix_fadvise; 10 until PostgreSQL 18 raised it to 16.
        "maintenance_io_concurrency" if os != Os::Linux => Value::Int(0),
        "maintenance_io_concurrency" if version >= 18 => Value::Int(16),
        "maintenance_io_concurrency" => Value::Int(10),
        "max_worker_processes" => Value::Int(8),
        "max_parallel_workers_per_gather" => Value::Int(2),
        "max_parallel_workers" => Value::Int(8),
        "max_parallel_maintenance_workers" => Value::Int(2),
        "autovacuum_max_workers" => Value::Int(3),
        "io_method" => Value::Word("worker"),
        "io_workers" => Value::Int(3),
        _ => return None,
    };
    Some(v)
}

/// Whether two values are the same setting value (`4` and `4.0` are; `1GB` and `1024MB` are).
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Real(x), Value::Real(y)) => x.parse::<f64>().ok() == y.parse::<f64>().ok(),
        _ => a == b,
    }
}

/// Whether changing `name` on major `version` needs a server restart (`context = postmaster`).
pub fn requires_restart(name: &str, version: u32) -> bool {
    match name {
        "max_connections"
        | "shared_buffers"
        | "huge_pages"
        | "wal_buffers"
        | "wal_level"
        | "max_wal_senders"
        | "max_worker_processes"
        | "io_method" => true,
        // PostgreSQL 18 made it reloadable (bounded by autovacuum_worker_slots).
        "autovacuum_max_workers" => version < 18,
        _ => false,
    }
}
