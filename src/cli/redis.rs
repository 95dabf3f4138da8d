//! Flags of `redis` and its subcommands (kept apart from the PostgreSQL commands' flags).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::ReportFormat;

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
    /// The name CONFIG was renamed to on this server (rename-command), or - to skip CONFIG;
    /// the checks that need it are then reported as unknown.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "CONFIG",
        allow_hyphen_values = true
    )]
    pub config_command: String,
}

/// Flags of `redis report`.
#[derive(Debug, Args)]
pub struct RedisReportArgs {
    /// Where to connect.
    #[command(flatten)]
    pub conn: RedisConnArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}
