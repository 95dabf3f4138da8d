//! The command-line interface, declared with clap's derive API. No logic lives here beyond
//! parsing single values; [`crate::app`] turns the parsed flags into work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod redis;
pub use redis::{
    RedisArgs, RedisCheckArgs, RedisCommand, RedisConnArgs, RedisPolicyArg, RedisRecommendArgs,
    RedisReportArgs, RedisSnapshotArgs,
};

use crate::tune::{MAX_CONNECTIONS, MAX_CPUS, MAX_PG_VERSION, MIN_CONNECTIONS, MIN_PG_VERSION};
use crate::tune::{Os, Profile, Storage};

/// PostgreSQL cache tuning: recommend settings for a host, diagnose hit ratios, gate CI on them.
#[derive(Debug, Parser)]
#[command(
    name = "pgcache-tune",
    version,
    about,
    propagate_version = true,
    after_help = "Examples:\n  pgcache-tune recommend --ram 64GB --cpus 16 > postgresql.conf\n  pgcache-tune probe --format json"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a postgresql.conf snippet tuned for this host (or for the RAM and CPUs given).
    #[command(after_help = RECOMMEND_EXAMPLES)]
    Recommend(RecommendArgs),
    /// Show what this host offers PostgreSQL: RAM, container limit, CPUs, OS, storage.
    #[command(
        after_help = "Examples:\n  pgcache-tune probe\n  pgcache-tune probe --data-dir /var/lib/postgresql/18/main --format json"
    )]
    Probe(ProbeArgs),
    /// Connect to a server and report cache hit ratios, a settings diff and findings.
    #[command(after_help = REPORT_EXAMPLES)]
    Report(ReportArgs),
    /// Fail (Nagios exit codes) when the cache hit ratio is below a threshold over a window.
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Save the server's hit and read counters to a file, for a later `check --since FILE`.
    #[command(after_help = SNAPSHOT_EXAMPLES)]
    Snapshot(SnapshotArgs),
    /// Show which statements cause the reads (pg_stat_statements), and which could be
    /// answered by a cache instead.
    #[command(after_help = QUERIES_EXAMPLES)]
    Queries(QueriesArgs),
    /// Run EXPLAIN (ANALYZE, BUFFERS) on one read-only query and show which plan node reads
    /// most, sequential scans over large tables and the statement's hit ratio.
    #[command(after_help = EXPLAIN_EXAMPLES)]
    Explain(ExplainArgs),
    /// A live view of blocks read and hit per second and hit ratios, per database and for
    /// the busiest tables, refreshed every --interval (q quit, s sort, p pause).
    #[command(after_help = WATCH_EXAMPLES)]
    Watch(WatchArgs),
    /// Serve the report's metrics over HTTP for Prometheus: /metrics (every target),
    /// /probe?target=NAME (one inventory target), /healthz.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Audit the Redis or Valkey cache in front of PostgreSQL (`redis report URL`), gate on
    /// its hit ratio (`redis check`, `redis snapshot`), or configure one (`redis recommend`).
    Redis(RedisArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  pgcache-tune completions bash > /etc/bash_completion.d/pgcache-tune\n  pgcache-tune completions zsh > \"${fpath[1]}/_pgcache-tune\"\n  pgcache-tune completions fish > ~/.config/fish/completions/pgcache-tune.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print a man page (roff) on stdout: the overview, or one subcommand's page with every
    /// option; or write them all to a directory.
    #[command(after_help = MAN_EXAMPLES)]
    Man(ManArgs),
}

const MAN_EXAMPLES: &str = "Examples:
  pgcache-tune man > pgcache-tune.1 && man ./pgcache-tune.1
  pgcache-tune man report > pgcache-tune-report.1
  pgcache-tune man --dir /usr/local/share/man/man1        # pgcache-tune.1, pgcache-tune-report.1, ...";

/// Flags of `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (recommend, probe, report, check, snapshot,
    /// queries, explain, watch, serve, redis, redis-report, redis-check, redis-snapshot,
    /// redis-recommend, completions, man) [default: the overview page, pgcache-tune(1)].
    #[arg(value_name = "SUBCOMMAND", conflicts_with = "dir")]
    pub page: Option<String>,
    /// Write every page (pgcache-tune.1 and one pgcache-tune-SUBCOMMAND.1 per subcommand)
    /// into this existing directory instead of printing one.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

const EXPLAIN_EXAMPLES: &str = "Examples:
  pgcache-tune explain \"SELECT count(*) FROM orders WHERE created_at > now() - interval '1 day'\"
  pgcache-tune explain app 'SELECT * FROM users WHERE id = 42' --format markdown
  pgcache-tune explain postgres://app@db/app --file slow.sql --statement-timeout 2min
  pgcache-tune explain app --file - < slow.sql

Only one SELECT, WITH ... SELECT, VALUES or TABLE statement is accepted; anything else is
refused before it reaches the server. EXPLAIN ANALYZE runs the statement, inside a
read-only transaction that is rolled back.";

/// Flags of `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Where to connect. With a single positional argument and no --file, that argument is
    /// the statement (see `app::explain`).
    #[command(flatten)]
    pub conn: crate::conninfo::ConnectionArgs,
    /// The statement to explain: one SELECT, WITH ... SELECT, VALUES or TABLE statement. When
    /// it is the only argument (and there is no --file), the connection comes from the flags
    /// and PG* variables.
    #[arg(value_name = "STATEMENT", conflicts_with = "file")]
    pub statement: Option<String>,
    /// Read the statement from this file instead ("-" reads standard input).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Output format (json: the analysed plan, described in the README).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

const REPORT_EXAMPLES: &str = "Examples:
  pgcache-tune report                                      # local server, like psql
  pgcache-tune report postgres://app@db.internal:5432/app --ram 64GB --cpus 16
  pgcache-tune report -h /var/run/postgresql -U postgres --all-databases
  pgcache-tune report \"dbname=app sslmode=verify-full\" --format markdown > report.md
  pgcache-tune report app --format html > report.html       # one page with charts, no script";

const CHECK_EXAMPLES: &str = "Examples:
  pgcache-tune check --min-hit-ratio 99                    # lifetime ratio of every database
  pgcache-tune check app --warning 99.5 --critical 99 --interval 30s
  pgcache-tune check app --scope tables --exclude '~^public\\.audit_' --format nagios
  pgcache-tune snapshot app -o before.json && ./run-tests && pgcache-tune check app --since before.json --min-hit-ratio 95

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, 64 usage error.";

const SNAPSHOT_EXAMPLES: &str = "Examples:
  pgcache-tune snapshot app --output before.json
  pgcache-tune check app --since before.json --min-hit-ratio 95";

const RECOMMEND_EXAMPLES: &str = "Examples:
  pgcache-tune recommend > postgresql.conf                 # this host, probed
  pgcache-tune recommend --ram 64GB --cpus 16 > postgresql.conf
  pgcache-tune recommend --ram 1.5TB --profile dw --storage nvme --format sql | psql
  pgcache-tune recommend --ram 16GB --format json | jq '.settings[] | {name, value}'
  pgcache-tune recommend --from postgres://postgres@localhost/app   # tailored to that server";

/// Flags of `recommend`.
#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// RAM for PostgreSQL, e.g. 64GB, 512MB, 1.5TB. Units are 1024-based as in PostgreSQL
    /// (1GB = 1024³ bytes); GiB and G spellings are accepted too, in any case. Default: probed
    /// (physical RAM or the container's memory limit, whichever is smaller).
    #[arg(long, value_name = "SIZE", value_parser = parse_ram, allow_hyphen_values = true)]
    pub ram: Option<u64>,
    /// CPUs for PostgreSQL. Default: probed (CPU affinity and container quota aware).
    #[arg(long, value_name = "N", value_parser = parse_cpus, allow_hyphen_values = true)]
    pub cpus: Option<u32>,
    /// Expected client connections (max_connections). Default: by profile (web 200, oltp 300,
    /// dw 40, mixed 100, desktop 20).
    #[arg(long, value_name = "N", value_parser = parse_connections, allow_hyphen_values = true)]
    pub connections: Option<u32>,
    /// Workload profile.
    #[arg(long, value_enum, default_value_t = ProfileArg::Web)]
    pub profile: ProfileArg,
    /// Storage holding the data directory [default: ssd].
    #[arg(long, value_enum)]
    pub storage: Option<StorageArg>,
    /// Target PostgreSQL major version, 13 to 18. Default: the major of this machine's
    /// server (--data-dir's PG_VERSION, else the postgres or pg_config on PATH, else
    /// /usr/lib/postgresql/*/bin); when none is found, a version-neutral snippet that every
    /// major 13 to 18 accepts.
    #[arg(long, value_name = "MAJOR", value_parser = parse_pg_version, allow_hyphen_values = true)]
    pub pg_version: Option<u32>,
    /// Target the cluster in this data directory: its major from PG_VERSION, and the build
    /// of the local installation of that major (for wal_compression = lz4). On PostgreSQL 15+
    /// with the cluster stopped, the server computes the vm.nr_hugepages advised for the
    /// recommended settings (postgres -C shared_memory_size_in_huge_pages).
    #[arg(long, value_name = "DIR", conflicts_with = "pg_version")]
    pub data_dir: Option<PathBuf>,
    /// Target operating system. Default: this host's.
    #[arg(long, value_enum)]
    pub os: Option<OsArg>,
    /// Output format: conf (postgresql.conf snippet), sql (ALTER SYSTEM statements), json,
    /// sysctl (a sysctl.d file with huge pages, overcommit and swappiness for this Linux host).
    #[arg(long, value_enum, default_value_t = RecommendFormat::Conf)]
    pub format: RecommendFormat,
    /// Render the conf snippet through this minijinja template instead of the built-in one
    /// (variables: inputs, warnings, sections, settings; see the README).
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Tailor the recommendation to this server (a URL, key=value string or database name):
    /// its major version, build options, max_connections and data size. PG* variables and
    /// ~/.pgpass apply as with psql.
    #[arg(long, value_name = "CONNECTION")]
    pub from: Option<String>,
    /// Statement timeout for the --from session: a number with a unit (500ms, 30s, 2min);
    /// a bare number is refused [default: 30s].
    #[arg(long, value_name = "DURATION", requires = "from", value_parser = crate::conninfo::parse_statement_timeout)]
    pub statement_timeout: Option<std::time::Duration>,
}

/// Inputs of the settings diff that a client cannot see on a remote server.
#[derive(Debug, Args, Clone)]
pub struct HostOverrides {
    /// RAM of the server host, for a remote server (same syntax as recommend --ram). A local
    /// server (Unix socket or loopback) is probed instead unless this is given.
    #[arg(long, value_name = "SIZE", value_parser = parse_ram, allow_hyphen_values = true)]
    pub ram: Option<u64>,
    /// CPUs of the server host, for a remote server.
    #[arg(long, value_name = "N", value_parser = parse_cpus, allow_hyphen_values = true)]
    pub cpus: Option<u32>,
    /// Workload profile for the settings diff.
    #[arg(long, value_enum, default_value_t = ProfileArg::Web)]
    pub profile: ProfileArg,
    /// Storage of the server's data directory, for the settings diff.
    #[arg(long, value_enum, default_value_t = StorageArg::Ssd)]
    pub storage: StorageArg,
}

/// Flags of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Where to connect.
    #[command(flatten)]
    pub conn: crate::conninfo::ConnectionArgs,
    /// Host facts for the settings diff.
    #[command(flatten)]
    pub host: HostOverrides,
    /// Visit every database the role may connect to (one connection each, concurrently).
    #[arg(long)]
    pub all_databases: bool,
    /// Ignore tables and indexes with fewer blocks hit + read than this.
    #[arg(long, value_name = "BLOCKS", default_value_t = 1000, value_parser = parse_blocks, allow_hyphen_values = true)]
    pub min_blocks: i64,
    /// Show at most this many tables and indexes; 0 shows them all.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 20,
        allow_hyphen_values = true
    )]
    pub limit: usize,
    /// Only tables and indexes in schemas matching this (name, or ~regex); repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub schema: Vec<String>,
    /// Leave out tables and indexes matching this (name, schema.name, schema., or ~regex);
    /// repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Output format (html: one self-contained page with charts, to save and open in a
    /// browser; prometheus: text format 0.0.4; openmetrics: OpenMetrics 1.0, names in the
    /// README's Prometheus section; html and the metrics formats are not combined with
    /// --redis).
    #[arg(long, value_enum, default_value_t = ReportOutputFormat::Table)]
    pub format: ReportOutputFormat,
    /// Also write the metrics (Prometheus text format 0.0.4) to DIR/pgcache_tune.prom for
    /// node_exporter's textfile collector, atomically; stdout still gets --format.
    #[arg(long, value_name = "DIR")]
    pub textfile_dir: Option<PathBuf>,
    /// Read the statistics from a JSON capture instead of a server (for tests and demos).
    #[arg(long, value_name = "FILE", hide = true)]
    pub stats_from: Option<PathBuf>,
    /// Read pg_buffercache one row per buffer (top relations in shared_buffers) even when
    /// shared_buffers is above 8GB; it runs under the statement timeout.
    #[arg(long)]
    pub buffers_scan: bool,
    /// Also audit this Redis or Valkey cache in front of the server, as `redis report URL`
    /// does (redis://, rediss://, valkey://, unix://; the password from the URL or
    /// REDISCLI_AUTH); repeatable. Its sections follow PostgreSQL's; in JSON, `redis[]`.
    #[arg(long = "redis", value_name = "URL")]
    pub redis: Vec<String>,
    /// PEM file of the CA that signed the --redis servers' certificates (rediss://).
    #[arg(long, value_name = "FILE", requires = "redis")]
    pub redis_cacert: Option<PathBuf>,
    /// A fleet run instead of one server.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// The fleet flags of `report`, `check` and `snapshot`: run over the targets of an
/// inventory file instead of one server (see the README's fleet section).
#[derive(Debug, Args, Clone, Default)]
pub struct FleetArgs {
    /// Run over every enabled target of this inventory (TOML: [[target]] entries with name,
    /// connection, password_env or password_file, labels, timeouts, enabled) instead of one
    /// server, concurrently; connection flags go in the file instead.
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Fleet",
        conflicts_with_all = ["connection", "host", "port", "username", "dbname", "connect_timeout", "statement_timeout", "password"]
    )]
    pub targets: Option<PathBuf>,
    /// With --targets: run at most this many targets at once [default: one per target, at
    /// most 8].
    #[arg(long, value_name = "N", requires = "targets", value_parser = parse_jobs, help_heading = "Fleet")]
    pub jobs: Option<usize>,
    /// With --targets: run only this target (its inventory name); repeatable.
    #[arg(
        long = "target",
        value_name = "NAME",
        requires = "targets",
        help_heading = "Fleet"
    )]
    pub only: Vec<String>,
}

fn parse_jobs(text: &str) -> Result<usize, String> {
    parse_bounded(text, 1, 256, "a number of targets at once").map(|n| n as usize)
}

/// Output formats of `queries`: those of [`ReportFormat`] and an HTML page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PageFormat {
    /// Tables for a terminal.
    Table,
    /// JSON (schema in the README).
    Json,
    /// Markdown, for pull-request comments.
    Markdown,
    /// One self-contained HTML page (inline CSS and SVG charts, no script).
    Html,
}

/// Output formats of `explain` and `redis report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Tables for a terminal.
    Table,
    /// JSON (schema in the README).
    Json,
    /// Markdown, for pull-request comments.
    Markdown,
}

/// Output formats of `report`: the text formats, an HTML page and the two metrics formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportOutputFormat {
    /// Tables for a terminal.
    Table,
    /// JSON (schema in the README).
    Json,
    /// Markdown, for pull-request comments.
    Markdown,
    /// One self-contained HTML page (inline CSS and SVG charts, no script).
    Html,
    /// Prometheus text format 0.0.4 (postgres_exporter names plus pgcache_tune_*).
    Prometheus,
    /// OpenMetrics 1.0 text (counters with `_total`, ends in `# EOF`).
    #[value(name = "openmetrics")]
    OpenMetrics,
}

/// Flags of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Where to connect.
    #[command(flatten)]
    pub conn: crate::conninfo::ConnectionArgs,
    /// Fail (CRITICAL) below this hit ratio, in percent: 99, 99.5 or 99.5%. Same as --critical.
    /// Values between 0 and 1 (0.99) are refused as fractions typed for percentages.
    #[arg(long, value_name = "PCT", value_parser = crate::gate::parse_percent, allow_hyphen_values = true, conflicts_with = "critical")]
    pub min_hit_ratio: Option<f64>,
    /// WARNING below this hit ratio, in percent.
    #[arg(long, value_name = "PCT", value_parser = crate::gate::parse_percent, allow_hyphen_values = true)]
    pub warning: Option<f64>,
    /// CRITICAL below this hit ratio, in percent.
    #[arg(long, value_name = "PCT", value_parser = crate::gate::parse_percent, allow_hyphen_values = true)]
    pub critical: Option<f64>,
    /// What to judge: database (each database), tables (heap ratios), indexes; repeatable
    /// [default: database].
    #[arg(long, value_enum, value_name = "SCOPE")]
    pub scope: Vec<ScopeArg>,
    /// With the database scope, judge only the connected database.
    #[arg(long)]
    pub only_connected: bool,
    /// Also judge template0 and template1, which hold only initdb's and connection-time
    /// catalog reads and are left out by default.
    #[arg(long)]
    pub include_templates: bool,
    /// Judge only items matching this (name, schema.name, schema., or ~regex); repeatable.
    /// A regex sees `schema.name` for tables and indexes (`~^public\.audit_`), the name for
    /// databases; a pattern that matches nothing gets a warning.
    #[arg(long, value_name = "PATTERN")]
    pub include: Vec<String>,
    /// Skip items matching this (same patterns as --include); repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Items with fewer blocks touched in the window are "insufficient data" [default: 1000].
    #[arg(long, value_name = "BLOCKS", value_parser = parse_blocks, allow_hyphen_values = true)]
    pub min_blocks: Option<i64>,
    /// What an item with insufficient data counts as [default: ok].
    #[arg(long, value_enum, value_name = "STATE")]
    pub on_insufficient: Option<OnInsufficientArg>,
    /// Judge the difference between two samples taken this far apart instead of the
    /// lifetime counters: a number with a unit (30s, 5m, 500ms); a bare number is refused.
    /// Both samples are read in one read-only transaction, so the check's own reads stay out
    /// of the window. A countdown shows on stderr when it is a terminal.
    #[arg(long, value_name = "DURATION", value_parser = crate::units::parse_duration_flag, allow_hyphen_values = true, conflicts_with = "since")]
    pub interval: Option<std::time::Duration>,
    /// Judge what happened since this snapshot (written by `pgcache-tune snapshot`).
    #[arg(long, value_name = "FILE")]
    pub since: Option<PathBuf>,
    /// Config file [default: ./pgcache-tune.toml when present].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,
    /// Also write the verdict as metrics (Prometheus text format 0.0.4) to
    /// DIR/pgcache_tune.prom for node_exporter's textfile collector, atomically; stdout
    /// and the exit code still follow --format and the verdict.
    #[arg(long, value_name = "DIR")]
    pub textfile_dir: Option<PathBuf>,
    /// Read the current sample from a JSON capture instead of a server (tests and demos).
    /// One capture is one sample, so it cannot wait for an `--interval`.
    #[arg(long, value_name = "FILE", hide = true, conflicts_with = "interval")]
    pub stats_from: Option<PathBuf>,
    /// A fleet run instead of one server; --since then takes the directory written by
    /// `snapshot --targets`.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// `check --scope` values; the gate's own type stays free of clap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    /// A database (pg_stat_database).
    Database,
    /// A table's heap (pg_statio_user_tables).
    Tables,
    /// An index (pg_statio_user_indexes).
    Indexes,
}

impl From<ScopeArg> for crate::gate::Scope {
    fn from(s: ScopeArg) -> Self {
        match s {
            ScopeArg::Database => crate::gate::Scope::Database,
            ScopeArg::Tables => crate::gate::Scope::Tables,
            ScopeArg::Indexes => crate::gate::Scope::Indexes,
        }
    }
}

/// `check --on-insufficient` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnInsufficientArg {
    /// Ignore it (the default): too little traffic to judge.
    Ok,
    /// Count it as UNKNOWN.
    Unknown,
    /// Count it as CRITICAL (a gate that insists on traffic).
    Critical,
}

impl From<OnInsufficientArg> for crate::gate::OnInsufficient {
    fn from(s: OnInsufficientArg) -> Self {
        match s {
            OnInsufficientArg::Ok => crate::gate::OnInsufficient::Ok,
            OnInsufficientArg::Unknown => crate::gate::OnInsufficient::Unknown,
            OnInsufficientArg::Critical => crate::gate::OnInsufficient::Critical,
        }
    }
}

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// One line per failing item and a summary line.
    Human,
    /// JSON: status, window and every judged item.
    Json,
    /// JUnit XML, one test case per item.
    Junit,
    /// Nagios plugin output with perfdata.
    Nagios,
    /// Prometheus text format 0.0.4: the state and each item's ratio.
    Prometheus,
    /// OpenMetrics 1.0 text.
    #[value(name = "openmetrics")]
    OpenMetrics,
}

const SERVE_EXAMPLES: &str = "Examples:
  pgcache-tune serve postgres://monitor@db.internal/app          # http://127.0.0.1:9188/metrics
  pgcache-tune serve --targets fleet.toml --listen 127.0.0.1:9188
  pgcache-tune serve --targets fleet.toml --listen 0.0.0.0:9188 --listen-any
  curl -s 'http://127.0.0.1:9188/probe?target=orders-primary'

Collects on scrape, at most once per --cache-ttl however many scrapes arrive; answers
OpenMetrics when the Accept header asks for it, else text format 0.0.4. Stops cleanly on
SIGTERM or SIGINT.";

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to connect (one server); leave it out with --targets.
    #[command(flatten)]
    pub conn: crate::conninfo::ConnectionArgs,
    /// Host facts for the settings diff (one server; inventory targets are treated as
    /// remote unless local).
    #[command(flatten)]
    pub host: HostOverrides,
    /// Serve every enabled target of this inventory (TOML, see the README's fleet section);
    /// each series then carries a `target` label.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["connection", "host", "port", "username", "dbname", "connect_timeout", "statement_timeout", "password"]
    )]
    pub targets: Option<PathBuf>,
    /// Address and port to listen on. Only loopback addresses unless --listen-any
    /// (port 0 picks a free one, printed on stderr).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9188")]
    pub listen: std::net::SocketAddr,
    /// Allow a --listen address other than loopback: the metrics name databases, schemas
    /// and tables, so exposing them is a decision.
    #[arg(long)]
    pub listen_any: bool,
    /// Serve a target's last collection for this long before collecting again; concurrent
    /// scrapes within it cause one collection (a number with a unit: 5s, 1m, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::units::parse_duration_flag)]
    pub cache_ttl: std::time::Duration,
    /// Most targets collected at once for /metrics [default: one per target, at most 8].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
    /// Deadline of one collection of the single server (inventory targets have their own
    /// `timeout`), a number with a unit (20s, 1m): a server that stops answering shows as
    /// `pgcache_tune_up 0`.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = crate::units::parse_duration_flag)]
    pub timeout: std::time::Duration,
}

/// Flags of `snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Where to connect.
    #[command(flatten)]
    pub conn: crate::conninfo::ConnectionArgs,
    /// File to write: a regular file is replaced atomically; a device or FIFO is written
    /// into, never replaced; `-` writes to stdout. With --targets, a directory (created when
    /// missing) that gets one TARGET.json per target.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
    /// A fleet run instead of one server.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

const QUERIES_EXAMPLES: &str = "Examples:
  pgcache-tune queries app                                 # lifetime, top 20 by blocks read
  pgcache-tune queries app --sort time --limit 10
  pgcache-tune queries app --interval 1m --format json
  pgcache-tune snapshot app -o before.json && ./load-test && pgcache-tune queries app --since before.json

Needs pg_stat_statements (shared_preload_libraries and CREATE EXTENSION in this database;
pgcache-tune never creates it). A pg_monitor role sees every statement.";

/// Flags of `queries`.
#[derive(Debug, Args)]
pub struct QueriesArgs {
    /// Where to connect (same as report).
    #[command(flatten)]
    pub conn: crate::conninfo::ConnectionArgs,
    /// Order of the list.
    #[arg(long, value_enum, default_value_t = QuerySort::Read)]
    pub sort: QuerySort,
    /// Show at most this many statements (and candidates); 0 shows every statement.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Count what happens between two samples taken this far apart instead of the lifetime
    /// counters: a number with a unit (30s, 5m); a bare number is refused. Both samples are
    /// read in one read-only transaction, as `check --interval` does.
    #[arg(long, value_name = "DURATION", value_parser = crate::units::parse_duration_flag, allow_hyphen_values = true, conflicts_with = "since")]
    pub interval: Option<std::time::Duration>,
    /// Count what happened since this snapshot (written by `pgcache-tune snapshot`, which
    /// saves the pg_stat_statements counters too).
    #[arg(long, value_name = "FILE")]
    pub since: Option<PathBuf>,
    /// Output format (html: one self-contained page with a chart of each statement's share
    /// of the blocks read).
    #[arg(long, value_enum, default_value_t = PageFormat::Table)]
    pub format: PageFormat,
    /// Read the counters from a JSON capture instead of a server (tests and demos; no
    /// query texts).
    #[arg(long, value_name = "FILE", hide = true, conflicts_with = "interval")]
    pub stats_from: Option<PathBuf>,
}

const WATCH_EXAMPLES: &str = "Examples:
  pgcache-tune watch app                                  # live view, refresh every 2s
  pgcache-tune watch app --interval 5s --window 5m
  pgcache-tune watch app --once --interval 10s            # one interval as text, e.g. for a ticket
  pgcache-tune watch app --once --format json | jq '.tables[0]'

Keys: q (or Esc, Ctrl-C) quit, s cycle the sort (reads/s, hits/s, window ratio, name),
p pause. A statistics reset or server restart is shown as RESET and never counted into a
rate. Tables are those of the connected database.";

/// Flags of `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Where to connect (same as report).
    #[command(flatten)]
    pub conn: crate::conninfo::ConnectionArgs,
    /// Time between samples: a number with a unit, from 200ms to 1h (2s, 500ms, 1m).
    #[arg(long, value_name = "DURATION", value_parser = parse_watch_interval, default_value = "2s", allow_hyphen_values = true)]
    pub interval: std::time::Duration,
    /// The sliding window the second ratio column covers: a number with a unit, from one
    /// --interval to 1d (1m, 30s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_watch_window, default_value = "1m", allow_hyphen_values = true)]
    pub window: std::time::Duration,
    /// Print one interval (two samples --interval apart) as plain text and exit; also what
    /// happens when stdout is not a terminal.
    #[arg(long)]
    pub once: bool,
    /// Output format of the one-interval form (json implies --once).
    #[arg(long, value_enum, default_value_t = WatchFormat::Text)]
    pub format: WatchFormat,
    /// Tables in the one-interval form, busiest readers first; 0 shows every table.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub limit: usize,
}

/// Output formats of `watch --once`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WatchFormat {
    /// Plain text columns.
    Text,
    /// JSON with the raw block counts of every row.
    Json,
}

fn parse_watch_duration(
    text: &str,
    min_ms: f64,
    max_ms: f64,
    range: &str,
) -> Result<std::time::Duration, String> {
    let ms = crate::units::parse_duration_ms(text)?;
    if !(min_ms..=max_ms).contains(&ms) {
        return Err(format!("'{text}' is out of range: from {range}"));
    }
    Ok(std::time::Duration::from_secs_f64(ms / 1_000.0))
}

/// `watch --interval`: 200ms (faster is noise, and load on the server) to 1h.
fn parse_watch_interval(text: &str) -> Result<std::time::Duration, String> {
    parse_watch_duration(text, 200.0, 3_600_000.0, "200ms to 1h")
}

/// `watch --window`: 200ms to 1d (checked against --interval when both are known).
fn parse_watch_window(text: &str) -> Result<std::time::Duration, String> {
    parse_watch_duration(text, 200.0, 86_400_000.0, "200ms to 1d")
}

/// `queries --sort` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QuerySort {
    /// Shared blocks read: what misses shared_buffers.
    Read,
    /// Total execution time.
    Time,
    /// Calls.
    Calls,
    /// Temp blocks written: work_mem spills.
    Temp,
}

impl From<QuerySort> for crate::diag::queries::Sort {
    fn from(s: QuerySort) -> Self {
        match s {
            QuerySort::Read => Self::Read,
            QuerySort::Time => Self::Time,
            QuerySort::Calls => Self::Calls,
            QuerySort::Temp => Self::Temp,
        }
    }
}

/// Output formats of `recommend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecommendFormat {
    /// A postgresql.conf snippet.
    Conf,
    /// ALTER SYSTEM SET statements.
    Sql,
    /// JSON: inputs, warnings and every setting.
    Json,
    /// A sysctl.d file for this Linux host: vm.nr_hugepages for the recommended
    /// shared_buffers (computed by the server with --data-dir on PostgreSQL 15+, else a
    /// labelled estimate), vm.overcommit_memory, vm.overcommit_ratio, vm.swappiness.
    Sysctl,
}

/// `--profile`: the workload profile, mapped into [`Profile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// Web application: many short queries, mostly reads.
    Web,
    /// Online transaction processing: many short writes.
    Oltp,
    /// Data warehouse: few large analytical queries.
    Dw,
    /// A mix of web and analytics.
    Mixed,
    /// A developer machine: PostgreSQL shares the host with everything else.
    Desktop,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Profile {
        match p {
            ProfileArg::Web => Profile::Web,
            ProfileArg::Oltp => Profile::Oltp,
            ProfileArg::Dw => Profile::Dw,
            ProfileArg::Mixed => Profile::Mixed,
            ProfileArg::Desktop => Profile::Desktop,
        }
    }
}

/// `--storage`: the storage class, mapped into [`Storage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageArg {
    /// SATA/SAS solid-state drive.
    Ssd,
    /// NVMe solid-state drive.
    Nvme,
    /// Storage area network.
    San,
    /// Rotational hard disk.
    Hdd,
}

impl From<StorageArg> for Storage {
    fn from(s: StorageArg) -> Storage {
        match s {
            StorageArg::Ssd => Storage::Ssd,
            StorageArg::Nvme => Storage::Nvme,
            StorageArg::San => Storage::San,
            StorageArg::Hdd => Storage::Hdd,
        }
    }
}

/// `--os`: the server's operating system, mapped into [`Os`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OsArg {
    /// Linux.
    Linux,
    /// Microsoft Windows.
    Windows,
    /// Apple macOS.
    Macos,
}

impl From<OsArg> for Os {
    fn from(o: OsArg) -> Os {
        match o {
            OsArg::Linux => Os::Linux,
            OsArg::Windows => Os::Windows,
            OsArg::Macos => Os::Macos,
        }
    }
}

/// Flags of `probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Also report whether the block device holding this directory is rotational.
    #[arg(long, value_name = "PATH")]
    pub data_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

/// Table or JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    /// A human-readable table.
    Table,
    /// JSON.
    Json,
}

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
}

/// `--ram`: a size, bounded so that every derived value stays inside the server's limits.
fn parse_ram(text: &str) -> Result<u64, String> {
    let bytes = crate::units::parse_size_flag(text)?;
    let kb = bytes / crate::units::KB_BYTES;
    if kb < crate::tune::MIN_RAM_KB {
        return Err(format!(
            "'{text}' is too small to tune: at least 64MB (below that PostgreSQL's defaults serve better)"
        ));
    }
    if kb > crate::tune::MAX_RAM_KB {
        return Err(format!("'{text}' is too large: at most 16TB"));
    }
    Ok(bytes)
}

fn parse_blocks(text: &str) -> Result<i64, String> {
    parse_count(text, "block")
}

/// A count of `what`s (`--min-blocks`, `redis check --min-lookups`): a whole number, 0 or more.
fn parse_count(text: &str, what: &str) -> Result<i64, String> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            format!("'{text}' is not a {what} count; expected a whole number, 0 or more")
        })
}

fn parse_bounded(text: &str, min: u32, max: u32, what: &str) -> Result<u32, String> {
    let n: i128 = text.trim().parse().map_err(|_| {
        format!("'{text}' is not a whole number; expected {what} from {min} to {max}")
    })?;
    if n < i128::from(min) || n > i128::from(max) {
        return Err(format!(
            "{text} is out of range; expected {what} from {min} to {max}"
        ));
    }
    u32::try_from(n).map_err(|_| format!("{text} is out of range"))
}

fn parse_cpus(text: &str) -> Result<u32, String> {
    parse_bounded(text, 1, MAX_CPUS, "a CPU count")
}

fn parse_connections(text: &str) -> Result<u32, String> {
    parse_bounded(
        text,
        MIN_CONNECTIONS,
        MAX_CONNECTIONS,
        "a connection count (the rules size memory for at least 20)",
    )
}

fn parse_pg_version(text: &str) -> Result<u32, String> {
    parse_bounded(
        text,
        MIN_PG_VERSION,
        MAX_PG_VERSION,
        "a PostgreSQL major version",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn value_enums_map_onto_tune_types_with_the_same_names() {
        for p in ProfileArg::value_variants() {
            let name = p.to_possible_value().unwrap().get_name().to_owned();
            assert_eq!(Profile::from(*p).as_str(), name);
        }
        for s in StorageArg::value_variants() {
            let name = s.to_possible_value().unwrap().get_name().to_owned();
            assert_eq!(Storage::from(*s).as_str(), name);
        }
        for o in OsArg::value_variants() {
            let name = o.to_possible_value().unwrap().get_name().to_owned();
            assert_eq!(Os::from(*o).as_str(), name);
        }
        assert_eq!(ProfileArg::value_variants().len(), Profile::ALL.len());
        assert_eq!(StorageArg::value_variants().len(), Storage::ALL.len());
        assert_eq!(OsArg::value_variants().len(), Os::ALL.len());
    }

    #[test]
    fn bounded_numbers() {
        assert_eq!(parse_cpus("4"), Ok(4));
        assert!(parse_cpus("0").unwrap_err().contains("from 1 to"));
        assert!(parse_cpus("-1").unwrap_err().contains("out of range"));
        assert!(parse_cpus("x").unwrap_err().contains("not a whole number"));
        assert!(parse_connections("5").unwrap_err().contains("at least 20"));
        assert!(parse_pg_version("9").unwrap_err().contains("from 13 to 18"));
        assert!(parse_ram("100kB").unwrap_err().contains("too small"));
        assert!(parse_ram("0GB").unwrap_err().contains("too small"));
        assert_eq!(parse_ram("64GB"), Ok(64 << 30));
    }
}
