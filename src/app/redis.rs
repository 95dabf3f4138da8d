//! `redis …`: the shell around the Redis source. Resolves the connection flags (the only
//! place that reads `REDISCLI_AUTH`), connects, collects facts through `crate::redis`, runs
//! the pure diagnosis and renders. `redis recommend` sizes the host as `recommend` does
//! (`super::inputs::ram_and_cpus`) and renders `tune::redis`'s snippet. `redis check` and
//! `redis snapshot` take INFO samples and hand them to `gate::redis`, ending like `check`
//! (`super::check::conclude`).

use std::path::Path;

use super::Outcome;
use crate::cli::{
    RedisArgs, RedisCheckArgs, RedisCommand, RedisConnArgs, RedisPolicyArg, RedisRecommendArgs,
    RedisReportArgs, RedisSnapshotArgs, ReportFormat,
};
use crate::diag::redis::{RedisReport, diagnose};
use crate::exit;
use crate::facts::SNAPSHOT_FORMAT;
use crate::facts::redis::{RedisSample, RedisSnapshot};
use crate::gate::{GateOptions, OnInsufficient, Thresholds, Verdict, WindowKind};
use crate::redis::{ConnectOptions, PASSWORD_ENV, Target};
use crate::render::redis_conf::RedisSources;
use crate::tune::redis::{Policy, RedisInput};

pub(super) fn run(args: &RedisArgs) -> anyhow::Result<Outcome> {
    match &args.command {
        RedisCommand::Report(args) => report(args),
        RedisCommand::Recommend(args) => recommend(args),
        RedisCommand::Check(args) => check(args),
        RedisCommand::Snapshot(args) => snapshot(args),
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

/// `--config-command` must be a command name, or `-`.
fn check_config_command(name: &str) -> anyhow::Result<()> {
    if name.is_empty() || (name != "-" && !name.chars().all(|c| c.is_ascii_graphic())) {
        return Err(exit::usage(format!(
            "--config-command '{}': give the command's name (printable ASCII without spaces), \
             or - to skip CONFIG",
            crate::render::sanitize::sanitize(name)
        )));
    }
    Ok(())
}

/// Flags and environment → where and how to connect.
fn resolve(args: &RedisConnArgs) -> anyhow::Result<(Target, ConnectOptions)> {
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
pub(super) fn live_report(
    args: &RedisConnArgs,
    config_command: &str,
) -> anyhow::Result<RedisReport> {
    check_config_command(config_command)?;
    let (target, opts) = resolve(args)?;
    let mut conn = crate::redis::connect(&target, &opts)?;
    let facts = crate::redis::collect(&mut conn, &target, config_command)?;
    Ok(diagnose(&facts))
}

fn report(args: &RedisReportArgs) -> anyhow::Result<Outcome> {
    let report = live_report(&args.conn, &args.config_command)?;
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

/// `redis check`'s gate options: flags, then the config file's `[redis]` table, then the
/// defaults. Without any threshold, or with warning below critical, it is a usage error.
fn gate_options(args: &RedisCheckArgs) -> anyhow::Result<GateOptions> {
    let (cfg, cfg_path) = super::check::read_config(args.config.as_ref())?;
    let file = cfg.redis.unwrap_or_default();
    let warning = args.warning.or(file.warning.map(|p| p.0));
    let critical = args.critical.or(file.critical.map(|p| p.0));
    if warning.is_none() && critical.is_none() {
        return Err(exit::usage(
            "no threshold: give --warning PCT and/or --critical PCT (or set them in the [redis] \
             table of pgcache-tune.toml)",
        ));
    }
    if let (Some(w), Some(c)) = (warning, critical)
        && w < c
    {
        // Names where each came from, so the clash is fixable.
        let from = |value: f64, flag: &str, from_flag: bool| match (&cfg_path, from_flag) {
            (Some(path), false) => format!("redis.{flag} = {value} in {}", path.display()),
            _ => format!("--{flag} {value}"),
        };
        return Err(exit::usage(format!(
            "{} is below {}: a ratio must pass the warning threshold before the critical one \
             (warning ≥ critical)",
            from(w, "warning", args.warning.is_some()),
            from(c, "critical", args.critical.is_some())
        )));
    }
    Ok(GateOptions {
        thresholds: Thresholds { warning, critical },
        min_blocks: args
            .min_lookups
            .or(file.min_lookups)
            .unwrap_or(crate::gate::redis::DEFAULT_MIN_LOOKUPS),
        on_insufficient: args
            .on_insufficient
            .map(Into::into)
            .or(file.on_insufficient)
            .unwrap_or(OnInsufficient::Unknown),
        include: Vec::new(),
        exclude: Vec::new(),
        overrides: Vec::new(),
    })
}

/// `redis check`: samples, the pure gate, the verdict.
fn check(args: &RedisCheckArgs) -> anyhow::Result<Outcome> {
    let opts = gate_options(args)?;
    let (target, connect) = resolve(&args.conn)?;
    let started = std::time::Instant::now();
    let measured = measure(args, &target, &connect, &opts);
    super::check::conclude(measured, args.format, None, started)
}

/// One sample on a connection of its own: an interval can outlast the server's idle
/// `timeout`, so the second sample does not reuse the first one's connection.
fn take_sample(target: &Target, opts: &ConnectOptions) -> anyhow::Result<RedisSample> {
    let mut conn = crate::redis::connect(target, opts)?;
    crate::redis::sample(&mut conn, target)
}

fn measure(
    args: &RedisCheckArgs,
    target: &Target,
    connect: &ConnectOptions,
    opts: &GateOptions,
) -> anyhow::Result<Verdict> {
    let before = match &args.since {
        Some(path) => Some(load_sample(path)?),
        None => None,
    };
    let first = take_sample(target, connect)?;
    let name = target.display();
    let verdict = match (before, args.interval) {
        (Some(before), _) => {
            crate::gate::redis::check(Some((&before, WindowKind::Since)), &first, name, opts)
        }
        (None, Some(d)) => {
            super::live::runtime()?.block_on(super::terminal::countdown(
                d,
                "redis check: second sample in",
            ));
            let second = take_sample(target, connect)?;
            crate::gate::redis::check(Some((&first, WindowKind::Interval)), &second, name, opts)
        }
        (None, None) => crate::gate::redis::check(None, &first, name, opts),
    };
    Ok(verdict)
}

/// Reads a `redis snapshot` file; a PostgreSQL snapshot given by mistake is named as such.
fn load_sample(path: &Path) -> anyhow::Result<RedisSample> {
    #[derive(serde::Deserialize)]
    struct File {
        redis: Option<RedisSample>,
        server: Option<serde::de::IgnoredAny>,
    }
    let file: File = crate::collect::load_json(path)?;
    let shown = path.display();
    let sample = match file {
        File {
            redis: Some(sample),
            ..
        } => sample,
        File {
            server: Some(_), ..
        } => {
            return Err(exit::data(format!(
                "snapshot {shown} holds PostgreSQL counters (`pgcache-tune snapshot`); \
                 redis check --since needs a file from `pgcache-tune redis snapshot`"
            )));
        }
        File { .. } => {
            return Err(exit::data(format!(
                "snapshot {shown} has no \"redis\" counters; is it a `pgcache-tune redis \
                 snapshot` file?"
            )));
        }
    };
    if !(sample.epoch.is_finite() && sample.epoch >= 0.0) {
        return Err(exit::data(format!(
            "snapshot {shown}: redis.epoch is {}; a time is seconds since 1970, 0 or more",
            sample.epoch
        )));
    }
    Ok(sample)
}

/// `redis snapshot`: one sample, saved for `redis check --since`.
fn snapshot(args: &RedisSnapshotArgs) -> anyhow::Result<Outcome> {
    let (target, connect) = resolve(&args.conn)?;
    let sample = take_sample(&target, &connect)?;
    let summary = format!(
        "saved {} counters of {}",
        sample.counters.len(),
        target.display()
    );
    let file = RedisSnapshot {
        format: SNAPSHOT_FORMAT,
        redis: sample,
    };
    if args.output.as_os_str() == "-" {
        let mut text = serde_json::to_string_pretty(&file)?;
        text.push('\n');
        eprintln!("{summary}");
        return Ok(Outcome::ok(text));
    }
    crate::collect::save_snapshot(&args.output, &file)?;
    eprintln!("{summary} to {}", args.output.display());
    Ok(Outcome::ok(String::new()))
}
