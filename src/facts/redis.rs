//! What we learn from a Redis (or Valkey) server, as plain data: the seam between
//! `crate::redis` (the only code that talks to Redis) and the pure analysis in `diag::redis`.
//!
//! INFO is kept as the server sent it, section by section, with every field optional: fields
//! come and go between versions (the reference lists per version are in the README), and a
//! missing field must read as "not reported", never as zero. Everything that needs CONFIG or
//! ACL is an [`Answer`], because managed services rename or block those commands, and a check
//! that could not be made must surface as unknown rather than pass.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// INFO's `# Section` headers and `field:value` lines, sections lowercased.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Info {
    sections: BTreeMap<String, BTreeMap<String, String>>,
}

impl Info {
    /// Parses INFO text. Lines before any header land in section `""`; blank lines and lines
    /// without `:` are skipped (INFO has none, but a proxy may add a banner).
    pub fn parse(text: &str) -> Info {
        let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut current = String::new();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if let Some(header) = line.strip_prefix('#') {
                current = header.trim().to_ascii_lowercase();
                sections.entry(current.clone()).or_default();
            } else if let Some((key, value)) = line.split_once(':') {
                sections
                    .entry(current.clone())
                    .or_default()
                    .insert(key.to_string(), value.to_string());
            }
        }
        Info { sections }
    }

    /// A field from any section (field names are unique across INFO's sections).
    pub fn get(&self, field: &str) -> Option<&str> {
        self.sections
            .values()
            .find_map(|s| s.get(field))
            .map(String::as_str)
    }

    /// A field as an unsigned integer; `None` when absent or not a number.
    pub fn u64(&self, field: &str) -> Option<u64> {
        self.get(field)?.trim().parse().ok()
    }

    /// A field as a float; `None` when absent or not a number.
    pub fn f64(&self, field: &str) -> Option<f64> {
        self.get(field)?.trim().parse().ok()
    }

    /// One section's fields, if the server sent it.
    pub fn section(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.sections.get(name)
    }

    /// The `dbN:keys=…,expires=…,avg_ttl=…` lines of the keyspace section, by database.
    pub fn keyspace(&self) -> Vec<DbKeyspace> {
        let Some(section) = self.section("keyspace") else {
            return Vec::new();
        };
        let mut dbs: Vec<DbKeyspace> = section
            .iter()
            .filter_map(|(name, value)| {
                let db = name.strip_prefix("db")?.parse().ok()?;
                let mut row = DbKeyspace {
                    db,
                    keys: 0,
                    expires: 0,
                    avg_ttl_ms: None,
                };
                for pair in value.split(',') {
                    let (k, v) = pair.split_once('=')?;
                    match k {
                        "keys" => row.keys = v.parse().ok()?,
                        "expires" => row.expires = v.parse().ok()?,
                        "avg_ttl" => row.avg_ttl_ms = v.parse().ok(),
                        _ => {}
                    }
                }
                Some(row)
            })
            .collect();
        dbs.sort_by_key(|d| d.db);
        dbs
    }

    /// `errorstat_<CODE>:count=N` lines (6.2+), by error code: how often the server answered
    /// with that error, e.g. `OOM` when a write was refused under maxmemory.
    pub fn error_count(&self, code: &str) -> Option<u64> {
        let value = self
            .section("errorstats")?
            .get(&format!("errorstat_{code}"))?;
        value
            .split(',')
            .find_map(|p| p.strip_prefix("count="))
            .and_then(|n| n.parse().ok())
    }
}

/// One database's line of INFO keyspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbKeyspace {
    /// Database number.
    pub db: u32,
    /// Keys.
    pub keys: u64,
    /// Keys with a TTL.
    pub expires: u64,
    /// Average TTL of the keys with one, milliseconds (0 when none; sampled by the server).
    pub avg_ttl_ms: Option<u64>,
}

/// The answer to a question that needs a command a server may refuse (CONFIG, ACL): managed
/// services rename or block them, and older versions lack some.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Answer<T> {
    /// The server answered.
    Known {
        /// What it said.
        value: T,
    },
    /// The command failed or does not exist here; the reason names the command.
    Unavailable {
        /// Why, e.g. "CONFIG: ERR unknown command 'CONFIG'".
        reason: String,
    },
}

impl<T> Answer<T> {
    /// The value when known.
    pub fn known(&self) -> Option<&T> {
        match self {
            Answer::Known { value } => Some(value),
            Answer::Unavailable { .. } => None,
        }
    }

    /// Converts a known value; a conversion that fails makes the answer unavailable.
    pub fn and_then<U>(self, f: impl FnOnce(T) -> Result<U, String>) -> Answer<U> {
        match self {
            Answer::Known { value } => match f(value) {
                Ok(value) => Answer::Known { value },
                Err(reason) => Answer::Unavailable { reason },
            },
            Answer::Unavailable { reason } => Answer::Unavailable { reason },
        }
    }

    /// The reason when unavailable.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Answer::Known { .. } => None,
            Answer::Unavailable { reason } => Some(reason),
        }
    }
}

/// Whether the connecting user may run one dangerous command (`ACL DRYRUN`, 7.0+).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandAccess {
    /// The command line tried, e.g. `FLUSHALL` or `CONFIG SET`.
    pub command: String,
    /// True when the server said OK.
    pub allowed: bool,
}

/// Everything one pass over a Redis server saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedisFacts {
    /// The target, password removed (safe to print).
    pub target: String,
    /// `INFO everything`, or `INFO` where that is refused.
    pub info: Info,
    /// The CONFIG command name used (`--config-command`).
    pub config_command: String,
    /// `CONFIG GET` of the parameters the analysis reads; a parameter this version lacks is
    /// absent from the map.
    pub config: Answer<BTreeMap<String, String>>,
    /// Whether a password was sent when connecting: a connection that works without one
    /// proves the default user needs none.
    pub authenticated: bool,
    /// `ACL WHOAMI`.
    pub acl_user: Answer<String>,
    /// The flags of `ACL GETUSER default` (`on`, `nopass`, …).
    pub default_user_flags: Answer<Vec<String>>,
    /// `ACL DRYRUN` of the connecting user over the dangerous commands (7.0+).
    pub dangerous: Answer<Vec<CommandAccess>>,
    /// `DBSIZE` of the selected database.
    pub dbsize: Answer<u64>,
}

/// INFO fields that only ever grow while a server runs: `CONFIG RESETSTAT` zeroes them and
/// keeps `run_id` and `uptime_in_seconds`, so one of these going down between two samples is
/// how a reset in a window shows. The keyspace pair comes first, so it is the one named
/// when it went down too.
pub const MONOTONIC_COUNTERS: &[&str] = &[
    "keyspace_hits",
    "keyspace_misses",
    "total_commands_processed",
    "total_connections_received",
    "total_net_input_bytes",
    "total_net_output_bytes",
    "total_reads_processed",
    "total_writes_processed",
    "total_error_replies",
    "rejected_connections",
    "expired_keys",
    "evicted_keys",
    "sync_full",
    "sync_partial_ok",
    "sync_partial_err",
    "total_forks",
];

/// One moment of a server's counters: the two ends of a `redis check` window, and what
/// `redis snapshot` saves for `redis check --since`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedisSample {
    /// The target, password removed (safe to print).
    pub target: String,
    /// INFO `run_id`: a new one means another process (restart) or another server.
    pub run_id: Option<String>,
    /// INFO `uptime_in_seconds`.
    pub uptime_seconds: Option<u64>,
    /// When the sample was taken, epoch seconds: the server's `server_time_usec` (6.2+), or
    /// the local clock for older servers.
    pub epoch: f64,
    /// The [`MONOTONIC_COUNTERS`] this server reports.
    pub counters: BTreeMap<String, u64>,
}

impl RedisSample {
    /// The sample in `info`; `local_epoch` is the local clock, used when the server does not
    /// report its own.
    pub fn from_info(info: &Info, target: &str, local_epoch: f64) -> RedisSample {
        #[allow(clippy::cast_precision_loss)] // microseconds since 1970 fit f64's 53 bits
        let epoch = info
            .u64("server_time_usec")
            .map_or(local_epoch, |us| us as f64 / 1e6);
        RedisSample {
            target: target.to_string(),
            run_id: info.get("run_id").map(str::to_string),
            uptime_seconds: info.u64("uptime_in_seconds"),
            epoch,
            counters: MONOTONIC_COUNTERS
                .iter()
                .filter_map(|name| Some(((*name).to_string(), info.u64(name)?)))
                .collect(),
        }
    }

    /// A counter's value, when the server reports it.
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.counters.get(name).copied()
    }
}

/// The file `redis snapshot` writes: the [`SNAPSHOT_FORMAT`](crate::facts::SNAPSHOT_FORMAT)
/// number (read first, as for PostgreSQL's snapshots) and the sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedisSnapshot {
    /// The writer's snapshot format.
    pub format: u32,
    /// The counters.
    pub redis: RedisSample,
}
