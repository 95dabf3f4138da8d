//! `check` and `snapshot`: sample the counters (once, twice `--interval` apart, or now
//! against a saved snapshot), judge the window with the pure gate, render the verdict and
//! exit with the Nagios code. Anything that stops the measurement — cannot connect, a bad
//! snapshot file, a reset between samples — is UNKNOWN (3); only bad flags are usage errors.

use std::path::PathBuf;

use super::report::patterns;
use super::{Outcome, live};
use crate::cli::{CheckArgs, CheckFormat, SnapshotArgs};
use crate::collect;
use crate::conninfo;
use crate::diag::Pattern;
use crate::exit::{self, Exit, classify};
use crate::gate::config::{self, Config};
use crate::gate::{
    self, GateOptions, OnInsufficient, Override, Scope, Thresholds, Verdict, WindowKind, window,
};

/// Everything resolved from flags and the config file.
struct Plan {
    opts: GateOptions,
    scopes: Vec<Scope>,
    connected_only: bool,
}

/// The config file's contents and its path (`None` when there is no file).
fn read_config(args: &CheckArgs) -> anyhow::Result<(Config, Option<PathBuf>)> {
    let path: Option<PathBuf> = match &args.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(config::FILE_NAME)).filter(|p| p.is_file()),
    };
    let Some(path) = path else {
        return Ok((Config::default(), None));
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        exit::usage(format!(
            "--config {}: cannot read it: {}",
            path.display(),
            exit::io_reason(&e)
        ))
    })?;
    let cfg = config::parse(&text, &path).map_err(exit::usage)?;
    Ok((cfg, Some(path)))
}

fn plan(args: &CheckArgs) -> anyhow::Result<Plan> {
    let (cfg, cfg_path) = read_config(args)?;
    let warning = args.warning.or(cfg.warning.map(|p| p.0));
    let critical = args
        .min_hit_ratio
        .or(args.critical)
        .or(cfg.critical.map(|p| p.0))
        .or(cfg.min_hit_ratio.map(|p| p.0));
    // Names where a threshold came from, so a clash between the file and a flag is fixable.
    let source = |value: f64, flag: &str, from_flag: bool, key: &str| match (&cfg_path, from_flag) {
        (Some(path), false) => format!("{key} = {value} in {}", path.display()),
        _ => format!("{flag} {value}"),
    };
    if warning.is_none() && critical.is_none() {
        return Err(exit::usage(
            "no threshold: give --min-hit-ratio PCT, or --warning PCT and/or --critical PCT (or set them in pgcache-tune.toml)",
        ));
    }
    if let (Some(w), Some(c)) = (warning, critical)
        && w < c
    {
        let w_from = source(w, "--warning", args.warning.is_some(), "warning");
        let c_from = if args.min_hit_ratio.is_some() {
            format!("--min-hit-ratio {c}")
        } else if cfg.min_hit_ratio.is_some() && args.critical.is_none() {
            source(c, "--critical", false, "min_hit_ratio")
        } else {
            source(c, "--critical", args.critical.is_some(), "critical")
        };
        return Err(exit::usage(format!(
            "{w_from} is below {c_from}: a ratio must pass the warning threshold before the critical one (warning ≥ critical)"
        )));
    }
    let scopes = if args.scope.is_empty() {
        cfg.scopes.clone().unwrap_or_else(|| vec![Scope::Database])
    } else {
        args.scope.clone()
    };
    let include = if args.include.is_empty() {
        cfg.include.clone().unwrap_or_default()
    } else {
        args.include.clone()
    };
    let exclude = if args.exclude.is_empty() {
        cfg.exclude.clone().unwrap_or_default()
    } else {
        args.exclude.clone()
    };
    let mut overrides = Vec::new();
    for o in &cfg.overrides {
        overrides.push(Override {
            pattern: Pattern::parse(&o.pattern)
                .map_err(|e| exit::usage(format!("config override {}: {e}", o.pattern)))?,
            thresholds: Thresholds {
                warning: o.warning.map(|p| p.0),
                critical: o.critical.map(|p| p.0),
            },
            min_blocks: o.min_blocks,
        });
    }
    Ok(Plan {
        opts: GateOptions {
            thresholds: Thresholds { warning, critical },
            min_blocks: args
                .min_blocks
                .or(cfg.min_blocks)
                .unwrap_or(gate::DEFAULT_MIN_BLOCKS),
            on_insufficient: args
                .on_insufficient
                .or(cfg.on_insufficient)
                .unwrap_or(OnInsufficient::Ok),
            include: patterns(&include, "--include", Pattern::parse)?,
            exclude: patterns(&exclude, "--exclude", Pattern::parse)?,
            overrides,
        },
        scopes,
        connected_only: args.only_connected,
    })
}

pub(super) fn check(args: &CheckArgs) -> anyhow::Result<Outcome> {
    let plan = plan(args)?;
    let verdict = match measure(args, &plan) {
        Ok(v) => v,
        // Bad flags stay usage errors; everything else is "cannot judge".
        Err(e) if classify(&e) == Exit::Usage => return Err(e),
        Err(e) => {
            // The server's own words can be in here: one line, escapes made visible.
            let reason = crate::render::sanitize::one_line(&format!("{e:#}"));
            eprintln!("error: {reason}");
            Verdict::unknown(reason, None)
        }
    };
    let text = match args.format {
        // Already said on stderr; the human format has nothing to add on stdout.
        CheckFormat::Human if verdict.window.is_none() => String::new(),
        CheckFormat::Human => crate::render::verdict::human(&verdict),
        CheckFormat::Json => crate::render::verdict::json(&verdict),
        CheckFormat::Junit => crate::render::verdict::junit(&verdict),
        CheckFormat::Nagios => crate::render::verdict::nagios(&verdict),
    };
    Ok(Outcome {
        stdout: text.into_bytes(),
        exit: verdict.status.exit(),
    })
}

/// Takes the samples and judges them.
fn measure(args: &CheckArgs, plan: &Plan) -> anyhow::Result<Verdict> {
    let tables = plan.scopes.contains(&Scope::Tables);
    let indexes = plan.scopes.contains(&Scope::Indexes);
    let before = match &args.since {
        Some(path) => Some(collect::load_snapshot(path)?),
        None => None,
    };
    let (first, second) = if let Some(path) = &args.stats_from {
        (collect::load_snapshot(path)?, None)
    } else {
        let params = live::resolve(&args.conn)?;
        let rt = live::runtime()?;
        rt.block_on(async {
            let client = conninfo::connect(&params).await?;
            let first = collect::collect_counters(&client, tables, indexes).await?;
            let second = match args.interval {
                Some(d) => {
                    tokio::time::sleep(d).await;
                    Some(collect::collect_counters(&client, tables, indexes).await?)
                }
                None => None,
            };
            anyhow::Ok((first, second))
        })?
    };
    let (kind, start, end) = match (before, second) {
        (Some(before), _) => (WindowKind::Since, before, first),
        (None, Some(second)) => (WindowKind::Interval, first, second),
        (None, None) => {
            let counters = window::counters(&first, &plan.scopes, plan.connected_only);
            let all: Vec<String> = counters.iter().map(|c| c.database.clone()).collect();
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            let mut verdict =
                gate::judge(counters, window::lifetime_window(&first, &all), &plan.opts);
            // The window starts at the latest reset of the databases actually judged: a
            // reset of a database that --include/--exclude left out says nothing about them.
            if !verdict.items.is_empty() {
                let judged: Vec<&str> = verdict
                    .items
                    .iter()
                    .map(|i| i.counter.database.as_str())
                    .collect();
                verdict.window = Some(window::lifetime_window(&first, &judged));
            }
            return Ok(verdict);
        }
    };
    let w = gate::Window {
        kind,
        start_epoch: start.server.now_epoch,
        end_epoch: end.server.now_epoch,
    };
    if let Err(reason) = window::comparable(&start, &end) {
        return Ok(Verdict::unknown(reason, Some(w)));
    }
    if (tables || indexes) && start.server.database != end.server.database {
        return Ok(Verdict::unknown(
            format!(
                "the snapshot holds the tables of database {}, but this check is connected to {}",
                crate::render::sanitize::sanitize(&start.server.database),
                crate::render::sanitize::sanitize(&end.server.database)
            ),
            Some(w),
        ));
    }
    let diff = window::difference(
        &window::counters(&start, &plan.scopes, plan.connected_only),
        &window::counters(&end, &plan.scopes, plan.connected_only),
    );
    Ok(match diff {
        Ok(counters) => gate::judge(counters, w, &plan.opts),
        Err(reason) => Verdict::unknown(reason, Some(w)),
    })
}

pub(super) fn snapshot(args: &SnapshotArgs) -> anyhow::Result<Outcome> {
    let params = live::resolve(&args.conn)?;
    let rt = live::runtime()?;
    let snap = rt.block_on(async {
        let client = conninfo::connect(&params).await?;
        collect::collect_counters(&client, true, true).await
    })?;
    let summary = format!(
        "saved counters of {} databases, {} tables and {} indexes (database {})",
        snap.databases.len(),
        snap.tables.len(),
        snap.indexes.len(),
        crate::render::sanitize::sanitize(&snap.server.database)
    );
    if args.output.as_os_str() == "-" {
        let mut text = serde_json::to_string_pretty(&snap)?;
        text.push('\n');
        eprintln!("{summary}");
        return Ok(Outcome::ok(text));
    }
    collect::save_snapshot(&args.output, &snap)?;
    eprintln!("{summary} to {}", args.output.display());
    Ok(Outcome::ok(String::new()))
}
