//! The command-line interface, declared with clap's derive API. No logic lives here beyond
//! parsing single values; [`crate::app`] turns the parsed flags into work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  pgcache-tune completions bash > /etc/bash_completion.d/pgcache-tune\n  pgcache-tune completions zsh > \"${fpath[1]}/_pgcache-tune\"\n  pgcache-tune completions fish > ~/.config/fish/completions/pgcache-tune.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print the man page (roff) on stdout.
    #[command(
        after_help = "Examples:\n  pgcache-tune man > pgcache-tune.1 && man ./pgcache-tune.1"
    )]
    Man,
}

const RECOMMEND_EXAMPLES: &str = "Examples:
  pgcache-tune recommend > postgresql.conf                 # this host, probed
  pgcache-tune recommend --ram 64GB --cpus 16 > postgresql.conf
  pgcache-tune recommend --ram 1.5TB --profile dw --storage nvme --format sql | psql
  pgcache-tune recommend --ram 16GB --format json | jq '.settings[] | {name, value}'";

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
    #[arg(long, value_enum, default_value_t = Profile::Web)]
    pub profile: Profile,
    /// Storage holding the data directory [default: ssd].
    #[arg(long, value_enum)]
    pub storage: Option<Storage>,
    /// Target PostgreSQL major version, 13 to 18 [default: 18].
    #[arg(long, value_name = "MAJOR", value_parser = parse_pg_version, allow_hyphen_values = true)]
    pub pg_version: Option<u32>,
    /// Target operating system. Default: this host's.
    #[arg(long, value_enum)]
    pub os: Option<Os>,
    /// Output format: conf (postgresql.conf snippet), sql (ALTER SYSTEM statements), json.
    #[arg(long, value_enum, default_value_t = RecommendFormat::Conf)]
    pub format: RecommendFormat,
    /// Render the conf snippet through this minijinja template instead of the built-in one
    /// (variables: inputs, warnings, sections, settings; see the README).
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
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
