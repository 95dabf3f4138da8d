//! `redis …`: the shell around the Redis source. Resolves the connection flags (the only
//! place that reads `REDISCLI_AUTH`), connects, collects facts through `crate::redis`, runs
//! the pure diagnosis and renders. `redis recommend` sizes the host as `recommend` does
//! (`super::inputs::ram_and_cpus`) and renders `tune::redis`'s snippet.

use super::Outcome;
use crate::cli::{
    RedisArgs, RedisCommand, RedisConnArgs, RedisPolicyArg, RedisRecommendArgs, RedisReportArgs,
    ReportFormat,
};
use crate::diag::redis::{RedisReport, diagnose};
use crate::exit;
use crate::redis::{ConnectOptions, PASSWORD_ENV, Target};
use crate::render::redis_conf::RedisSources;
use crate::tune::redis::{Policy, RedisInput};

pub(super) fn run(args: &RedisArgs) -> anyhow::Result<Outcome> {
    match &args.command {
        RedisCommand::Report(args) => report(args),
        RedisCommand::Recommend(args) => recommend(args),
    }
}

/// `redis recommend`: the host's RAM and CPUs as `recommend` sees them, the pure
/// recommendation, the snippet.
fn recommend(args: &RedisRecommendArgs) -> anyhow::Result<Outcome> {
    let host = super::inputs::ram_and_cpus(args.ram, args.cpus)?;
    let input = RedisInput {
        ram_bytes: host.ram_bytes,
        cpus: host.cpus,
        with_postgres: args.with_postgres,
        policy: match args.policy {
            RedisPolicyArg::Lru => Policy::Lru,
            RedisPolicyArg::Lfu => Policy::Lfu,
        },
    };
    let rec = crate::tune::redis::recommend(&input).map_err(exit::usage)?;
    let sources = RedisSources {
        ram: host.ram_source,
        cpus: host.cpus_source,
    };
    Ok(Outcome::ok(crate::render::redis_conf::conf(&rec, &sources)))
}

/// Flags and environment → where and how to connect.
fn resolve(args: &RedisConnArgs) -> anyhow::Result<(Target, ConnectOptions)> {
    if args.config_command.is_empty()
        || (args.config_command != "-"
            && !args.config_command.chars().all(|c| c.is_ascii_graphic()))
    {
        return Err(exit::usage(format!(
            "--config-command '{}': give the command's name (printable ASCII without spaces), \
             or - to skip CONFIG",
            crate::render::sanitize::sanitize(&args.config_command)
        )));
    }
    let opts = ConnectOptions {
        password_file: args.password_file.clone(),
        password_env: std::env::var(PASSWORD_ENV).ok(),
        cacert: args.cacert.clone(),
        connect_timeout: args.connect_timeout,
        read_timeout: args.timeout,
    };
    let target = Target::parse(&args.url, &opts)?;
    Ok((target, opts))
}

/// Connects and diagnoses one server.
pub(super) fn live_report(args: &RedisConnArgs) -> anyhow::Result<RedisReport> {
    let (target, opts) = resolve(args)?;
    let mut conn = crate::redis::connect(&target, &opts)?;
    let facts = crate::redis::collect(&mut conn, &target, &args.config_command)?;
    Ok(diagnose(&facts))
}

fn report(args: &RedisReportArgs) -> anyhow::Result<Outcome> {
    let report = live_report(&args.conn)?;
    let text = match args.format {
        ReportFormat::Table => {
            let term = super::terminal::Terminal::detect();
            crate::render::redis::table(&report, term.width)
        }
        ReportFormat::Json => crate::render::redis::json(&report),
        ReportFormat::Markdown => crate::render::redis::markdown(&report),
    };
    Ok(Outcome::ok(text))
}
