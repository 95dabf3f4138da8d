//! Flags of `redis` and its subcommands (kept apart from the PostgreSQL commands' flags).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::{CheckFormat, ReportFormat};

/// `redis`: the application cache in front of PostgreSQL.
#[derive(Debug, Args)]
pub struct RedisArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RedisCommand,
}

/// Subcommands of `redis`.
#[derive(Debug, Subcommand)]
pub enum RedisCommand {
    /// Connect to a Redis or Valkey cache and report its hit ratio, evictions, memory against
    /// maxmemory, keys with and without TTL, and findings (cannot evict, persistence on a
    /// cache, security); checks that CONFIG or ACL could not answer are listed as unknown.
    #[command(after_help = REDIS_REPORT_EXAMPLES)]
    Report(RedisReportArgs),
    /// Print a redis.conf snippet for a pure cache on this host (or for the RAM and CPUs
    /// given): maxmemory, eviction policy, persistence off, loopback bind, protected mode and
    /// a requirepass placeholder that redis-server refuses until replaced. With
    /// --with-postgres, Redis gets a quarter of RAM and the header gives the `recommend --ram`
    /// of the rest for PostgreSQL.
    #[command(after_help = REDIS_RECOMMEND_EXAMPLES)]
    Recommend(RedisRecommendArgs),
    /// Gate on the cache's keyspace hit ratio, as `check` does for PostgreSQL: the lifetime
    /// counters, two samples --interval apart, or now against a `redis snapshot` (--since).
    /// Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (cannot connect, too few lookups, or a
    /// restart or CONFIG RESETSTAT in the window). Needs INFO only.
    #[command(after_help = REDIS_CHECK_EXAMPLES)]
    Check(RedisCheckArgs),
    /// Save the cache's counters (INFO) to a file, for a later `redis check --since FILE`.
    Snapshot(RedisSnapshotArgs),
}

const REDIS_CHECK_EXAMPLES: &str = "Examples:
  pgcache-tune redis check redis://127.0.0.1:6379 --warning 90 --critical 80 --interval 1m
  pgcache-tune redis snapshot redis://cache:6379 --output before.json
  pgcache-tune redis check redis://cache:6379 --since before.json --critical 80 --format junit
  pgcache-tune redis check unix:///run/redis/redis.sock --critical 80 --format nagios";

/// Flags of `redis check`.
#[derive(Debug, Args)]
pub struct RedisCheckArgs {
    /// Where to connect.
    #[command(flatten)]
    pub conn: RedisConnArgs,
    /// WARNING below this keyspace hit ratio, in percent: 90, 90.5 or 90.5%. Values between
    /// 0 and 1 (0.9) are refused as fractions typed for percentages.
    #[arg(long, value_name = "PCT", value_parser = crate::gate::parse_percent, allow_hyphen_values = true)]
    pub warning: Option<f64>,
    /// CRITICAL below this keyspace hit ratio, in percent.
    #[arg(long, value_name = "PCT", value_parser = crate::gate::parse_percent, allow_hyphen_values = true)]
    pub critical: Option<f64>,
    /// Fewer lookups (keyspace hits + misses) than this in the window are "insufficient data"
    /// [default: 100].
    #[arg(long, value_name = "N", value_parser = parse_lookups, allow_hyphen_values = true)]
    pub min_lookups: Option<i64>,
    /// The state of a window with fewer lookups than --min-lookups [default: unknown].
    #[arg(long, value_enum, value_name = "STATE")]
    pub on_insufficient: Option<RedisFloorArg>,
    /// Judge the difference between two INFO samples taken this far apart instead of the
    /// lifetime counters: a number with a unit (30s, 5m, 500ms). A countdown shows on stderr
    /// when it is a terminal.
    #[arg(long, value_name = "DURATION", value_parser = crate::units::parse_duration_flag, allow_hyphen_values = true, conflicts_with = "since")]
    pub interval: Option<Duration>,
    /// Judge what happened since this snapshot (written by `pgcache-tune redis snapshot`).
    #[arg(long, value_name = "FILE")]
    pub since: Option<PathBuf>,
    /// Config file [default: ./pgcache-tune.toml when present]; its `[redis]` table holds
    /// warning, critical, min_lookups and on_insufficient (flags win).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,
}

/// `redis check --on-insufficient` values. A cache is one item, so a quiet window is the
/// verdict itself rather than an item to leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RedisFloorArg {
    /// UNKNOWN (the default): too little traffic to judge.
    Unknown,
    /// CRITICAL: a gate that insists on traffic.
    Critical,
    /// OK: a quiet cache passes.
    Ok,
}

impl From<RedisFloorArg> for crate::gate::OnInsufficient {
    fn from(a: RedisFloorArg) -> Self {
        match a {
            RedisFloorArg::Unknown => crate::gate::OnInsufficient::Unknown,
            RedisFloorArg::Critical => crate::gate::OnInsufficient::Critical,
            RedisFloorArg::Ok => crate::gate::OnInsufficient::Ok,
        }
    }
}

fn parse_lookups(text: &str) -> Result<i64, String> {
    super::parse_count(text, "lookup")
}

/// Flags of `redis snapshot`.
#[derive(Debug, Args)]
pub struct RedisSnapshotArgs {
    /// Where to connect.
    #[command(flatten)]
    pub conn: RedisConnArgs,
    /// Write the snapshot here (JSON); - for stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
}

const REDIS_RECOMMEND_EXAMPLES: &str = "Examples:
  pgcache-tune redis recommend > /etc/redis/conf.d/cache.conf     # this host, probed
  pgcache-tune redis recommend --ram 8GB --policy lfu
  pgcache-tune redis recommend --ram 64GB --cpus 16 --with-postgres   # header: recommend --ram 49152MB";

/// `--policy` of `redis recommend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RedisPolicyArg {
    /// allkeys-lru: evict the least recently used key (any key, TTL or not).
    Lru,
    /// allkeys-lfu: evict the least frequently used key, so that scans and batch jobs do
    /// not flush the keys read all the time.
    Lfu,
}

/// Flags of `redis recommend`.
#[derive(Debug, Args)]
pub struct RedisRecommendArgs {
    /// RAM of the host, e.g. 16GB, 512MB (1024-based, as `recommend --ram`). Default: probed
    /// (physical RAM or the container's memory limit, whichever is smaller).
    #[arg(long, value_name = "SIZE", value_parser = super::parse_ram, allow_hyphen_values = true)]
    pub ram: Option<u64>,
    /// CPUs of the host (io-threads from 4 up). Default: probed (CPU affinity and container
    /// quota aware).
    #[arg(long, value_name = "N", value_parser = super::parse_cpus, allow_hyphen_values = true)]
    pub cpus: Option<u32>,
    /// Eviction policy.
    #[arg(long, value_enum, default_value_t = RedisPolicyArg::Lru)]
    pub policy: RedisPolicyArg,
    /// PostgreSQL runs on this host too: Redis gets a quarter of RAM (and no io-threads), and
    /// the header gives `pgcache-tune recommend --ram` for the remaining three quarters, so
    /// the two never add up to more than RAM.
    #[arg(long)]
    pub with_postgres: bool,
}

const REDIS_REPORT_EXAMPLES: &str = "Examples:
  pgcache-tune redis report redis://127.0.0.1:6379
  REDISCLI_AUTH=... pgcache-tune redis report rediss://cache.internal:6380 --cacert ca.pem
  pgcache-tune redis report unix:///run/redis/redis.sock --format json
  pgcache-tune redis report redis://app@cache:6379 --password-file /etc/app/redis.pass --config-command -";

/// How to reach a Redis server (shared by the `redis` subcommands).
#[derive(Debug, Args)]
pub struct RedisConnArgs {
    /// The server: redis://[USER[:PASSWORD]@]HOST[:PORT][/DB], rediss:// (TLS), valkey://,
    /// valkeys://, or unix:///PATH[?db=N&user=U&pass=P]. Without a password in the URL, it
    /// comes from --password-file, else the REDISCLI_AUTH environment variable.
    #[arg(value_name = "URL")]
    pub url: String,
    /// Read the password from the first line of this file (when the URL has none).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// PEM file of the CA that signed the server's certificate (rediss:// and valkeys://);
    /// without it the system's trust store is used. Certificates are always verified.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Give up connecting after this long: a number with a unit (5s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::units::parse_duration_flag)]
    pub connect_timeout: Duration,
    /// Give up waiting for any one reply after this long: a number with a unit (5s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::units::parse_duration_flag)]
    pub timeout: Duration,
}

/// Flags of `redis report`.
#[derive(Debug, Args)]
pub struct RedisReportArgs {
    /// Where to connect.
    #[command(flatten)]
    pub conn: RedisConnArgs,
    /// The name CONFIG was renamed to on this server (rename-command), or - to skip CONFIG;
    /// the checks that need it are then reported as unknown.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "CONFIG",
        allow_hyphen_values = true
    )]
    pub config_command: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}
