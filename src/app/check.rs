//! `check` and `snapshot`: sample the counters (once, twice `--interval` apart, or now
//! against a saved snapshot), judge the window with the pure gate, render the verdict and
//! exit with the Nagios code. Anything that stops the measurement — cannot connect, a bad
//! snapshot file, a reset between samples — is UNKNOWN (3); only bad flags are usage errors.

use std::path::PathBuf;

use super::inputs::patterns;
use super::terminal::countdown;
use super::{Outcome, live};
use crate::cli::{CheckArgs, CheckFormat, SnapshotArgs};
use crate::collect;
use crate::conninfo;
use crate::diag::Pattern;
use crate::exit::{self, Exit, classify};
use crate::facts::StatsSnapshot;
use crate::gate::config::{self, Config};
use crate::gate::{
    self, GateOptions, OnInsufficient, Override, Reason, Scope, Thresholds, Verdict, WindowKind,
    window,
};
use crate::render::metrics::{self, MetricsFormat, MetricsTarget};

/// Everything resolved from flags and the config file.
pub(super) struct Plan {
    opts: GateOptions,
    scopes: Vec<Scope>,
    connected_only: bool,
    include_templates: bool,
}

impl Plan {
    /// The counters this plan judges in one sample: its scopes, without the template
    /// databases unless asked (they only ever see initdb's and connection-time catalog
    /// reads, so their ratios are noise that would fail a gate on a fresh cluster).
    fn counters(&self, snap: &StatsSnapshot) -> Vec<gate::Counter> {
        let mut out = window::counters(snap, &self.scopes, self.connected_only);
        if !self.include_templates {
            out.retain(|c| {
                c.scope != Scope::Database || !gate::TEMPLATE_DATABASES.contains(&c.name.as_str())
            });
        }
        out
    }
}

/// The config file's contents and its path (`None` when there is no file): `--config`, or
/// `pgcache-tune.toml` in the current directory when present. `redis check` reads it too.
pub(super) fn read_config(config: Option<&PathBuf>) -> anyhow::Result<(Config, Option<PathBuf>)> {
    let path: Option<PathBuf> = match config {
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

pub(super) fn plan(args: &CheckArgs) -> anyhow::Result<Plan> {
    let (cfg, cfg_path) = read_config(args.config.as_ref())?;
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
        args.scope.iter().map(|&s| s.into()).collect()
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
    // Precedence, as in psql and libpq: a command-line flag wins over the file for the same
    // key, including the same key inside an `[[override]]`; the file's overrides win over
    // the file's global keys.
    let flag_warning = args.warning;
    let flag_critical = args.min_hit_ratio.or(args.critical);
    let mut overrides = Vec::new();
    for o in &cfg.overrides {
        let thresholds = Thresholds {
            warning: if flag_warning.is_some() {
                None
            } else {
                o.warning.map(|p| p.0)
            },
            critical: if flag_critical.is_some() {
                None
            } else {
                o.critical.map(|p| p.0)
            },
        };
        // The same rule as for the flags, on what this entry's items will really get.
        if let (Some(w), Some(c)) = (
            thresholds.warning.or(warning),
            thresholds.critical.or(critical),
        ) && w < c
        {
            let path = cfg_path
                .as_deref()
                .map_or_else(|| config::FILE_NAME.into(), |p| p.display().to_string());
            let (key, line) = if thresholds.warning.is_some() {
                ("warning", o.line_of("warning"))
            } else {
                ("critical", o.line_of("critical"))
            };
            let w_from = if thresholds.warning.is_some() {
                format!("override.warning = {w}")
            } else {
                source(w, "--warning", flag_warning.is_some(), "warning")
            };
            let c_from = if thresholds.critical.is_some() {
                format!("override.critical = {c}")
            } else if args.min_hit_ratio.is_some() {
                format!("--min-hit-ratio {c}")
            } else {
                source(c, "--critical", flag_critical.is_some(), "critical")
            };
            return Err(exit::usage(format!(
                "{path}:{line}: override.{key} (match = {:?}): {w_from} is below {c_from}: a ratio must pass the warning threshold before the critical one (warning ≥ critical)",
                o.pattern
            )));
        }
        overrides.push(Override {
            pattern: Pattern::parse(&o.pattern)
                .map_err(|e| exit::usage(format!("config override {}: {e}", o.pattern)))?,
            thresholds,
            min_blocks: if args.min_blocks.is_some() {
                None
            } else {
                o.min_blocks
            },
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
                .map(Into::into)
                .or(cfg.on_insufficient)
                .unwrap_or(OnInsufficient::Ok),
            include: patterns(&include, "--include", Pattern::parse)?,
            exclude: patterns(&exclude, "--exclude", Pattern::parse)?,
            overrides,
        },
        scopes,
        connected_only: args.only_connected,
        include_templates: args.include_templates,
    })
}

pub(super) fn check(args: &CheckArgs) -> anyhow::Result<Outcome> {
    let plan = plan(args)?;
    let textfile = args
        .textfile_dir
        .as_deref()
        .map(super::metrics::textfile_path)
        .transpose()?;
    let started = std::time::Instant::now();
    conclude(
        measure(args, &plan),
        args.format,
        textfile.as_deref(),
        started,
    )
}

/// The end of a check (`check`, `redis check`): a measurement that failed for any reason but
/// bad flags becomes UNKNOWN with the error on stderr (and `up 0` in the metrics formats);
/// the verdict is rendered in `format`, written to the textfile collector's file when one is
/// given, and its state is the exit code.
pub(super) fn conclude(
    measured: anyhow::Result<Verdict>,
    format: CheckFormat,
    textfile: Option<&std::path::Path>,
    started: std::time::Instant,
) -> anyhow::Result<Outcome> {
    let mut up = true;
    let verdict = match measured {
        Ok(v) => v,
        // Bad flags stay usage errors; everything else is "cannot judge".
        Err(e) if classify(&e) == Exit::Usage => return Err(e),
        Err(e) => {
            // The server's own words can be in here: one line on stderr with escapes made
            // visible; the verdict keeps the raw text and render sanitises it.
            let message = format!("{e:#}")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            eprintln!("error: {}", crate::render::sanitize::one_line(&message));
            up = false;
            Verdict::unknown(Reason::Failed { message }, None)
        }
    };
    let target = MetricsTarget {
        target: None,
        labels: &[],
        up,
        duration: started.elapsed(),
        report: None,
        verdict: Some(&verdict),
    };
    if let Some(path) = &textfile {
        let text = metrics::render(std::slice::from_ref(&target), MetricsFormat::Prometheus);
        super::metrics::write_textfile(path, &text)?;
    }
    for warning in crate::render::verdict::warnings(&verdict) {
        eprintln!("warning: {warning}");
    }
    let text = match format {
        // Already said on stderr; the human format has nothing to add on stdout.
        CheckFormat::Human if verdict.window.is_none() => String::new(),
        CheckFormat::Human => crate::render::verdict::human(&verdict),
        CheckFormat::Json => crate::render::verdict::json(&verdict),
        CheckFormat::Junit => crate::render::verdict::junit(&verdict),
        CheckFormat::Nagios => crate::render::verdict::nagios(&verdict),
        CheckFormat::Prometheus => metrics::render(&[target], MetricsFormat::Prometheus),
        CheckFormat::OpenMetrics => metrics::render(&[target], MetricsFormat::OpenMetrics),
    };
    Ok(Outcome {
        stdout: text.into_bytes(),
        exit: verdict.status.exit(),
    })
}

/// Takes the samples and judges them.
fn measure(args: &CheckArgs, plan: &Plan) -> anyhow::Result<Verdict> {
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
            let interval = args
                .interval
                .map(|d| (d, countdown(d, "check: second sample in")));
            samples(&client, plan, interval, before.is_some()).await
        })?
    };
    Ok(judge(plan, before, first, second))
}

/// One sample of the counters `plan` judges, or two when given an interval and the future
/// that waits it out (a countdown on a terminal, a plain sleep in a fleet run). `identify`
/// reads the system identifier too, which only a window since a snapshot compares (it
/// costs a fresh session two more statements; `--interval` excludes `--since`).
pub(super) async fn samples(
    client: &tokio_postgres::Client,
    plan: &Plan,
    interval: Option<(std::time::Duration, impl std::future::Future<Output = ()>)>,
    identify: bool,
) -> anyhow::Result<(StatsSnapshot, Option<StatsSnapshot>)> {
    let tables = plan.scopes.contains(&Scope::Tables);
    let indexes = plan.scopes.contains(&Scope::Indexes);
    match interval {
        Some((d, wait)) => {
            let (first, second) =
                collect::collect_counters_around(client, tables, indexes, d, wait).await?;
            Ok((first, Some(second)))
        }
        None => Ok((
            collect::collect_counters(client, tables, indexes, identify).await?,
            None,
        )),
    }
}

/// Judges the window the samples span: since `before` (a snapshot), between two samples,
/// or the lifetime of one.
pub(super) fn judge(
    plan: &Plan,
    before: Option<StatsSnapshot>,
    first: StatsSnapshot,
    second: Option<StatsSnapshot>,
) -> Verdict {
    let tables = plan.scopes.contains(&Scope::Tables);
    let indexes = plan.scopes.contains(&Scope::Indexes);
    let (kind, start, end) = match (before, second) {
        (Some(before), _) => (WindowKind::Since, before, first),
        (None, Some(second)) => (WindowKind::Interval, first, second),
        (None, None) => return lifetime(&first, plan),
    };
    let w = gate::Window {
        kind,
        start_epoch: start.server.now_epoch,
        end_epoch: end.server.now_epoch,
    };
    if let Err(reason) = window::same_server(&start, &end) {
        return Verdict::unknown(Reason::Unusable(reason), Some(w));
    }
    if (tables || indexes) && start.server.database != end.server.database {
        return Verdict::unknown(
            Reason::OtherDatabase {
                snapshot: start.server.database.clone(),
                connected: end.server.database.clone(),
            },
            Some(w),
        );
    }
    let diff = window::measured(&start, &end, &plan.counters(&start), &plan.counters(&end));
    match diff {
        Ok(counters) => gate::judge(counters, w, &plan.opts),
        Err(reason) => Verdict::unknown(Reason::Unusable(reason), Some(w)),
    }
}

/// The lifetime window of one sample. It starts at the latest reset of the databases
/// actually judged (a reset of a database that --include/--exclude left out says nothing
/// about them), and statistics too young by diag's rule (the one `report` applies) are not
/// judged: UNKNOWN, or CRITICAL with `--on-insufficient critical`.
fn lifetime(snap: &StatsSnapshot, plan: &Plan) -> Verdict {
    let counters = plan.counters(snap);
    let all: Vec<String> = counters.iter().map(|c| c.database.clone()).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let mut verdict = gate::judge(counters, window::lifetime_window(snap, &all), &plan.opts);
    if verdict.items.is_empty() {
        return verdict;
    }
    let judged: Vec<&str> = verdict
        .items
        .iter()
        .map(|i| i.counter.database.as_str())
        .collect();
    let w = window::lifetime_window(snap, &judged);
    verdict.window = Some(w.clone());
    let blocks = snap
        .databases
        .iter()
        .filter(|d| judged.contains(&d.name.as_str()))
        .fold(0i64, |acc, d| {
            acc.saturating_add(d.blks_hit.max(0))
                .saturating_add(d.blks_read.max(0))
        });
    // The counters' age comes from their stats_reset alone (diag::age): a clean restart keeps
    // them, so the server's start time says nothing. The youngest reset among the judged
    // databases bounds the window; never reset means the age is unknown, not young.
    let newest_reset = snap
        .databases
        .iter()
        .filter(|d| judged.contains(&d.name.as_str()))
        .filter_map(|d| d.stats_reset_epoch)
        .reduce(f64::max);
    let age = crate::diag::counters_age_seconds(newest_reset, snap.server.now_epoch);
    if crate::diag::young_statistics(age, blocks) {
        // Saturating float-to-integer cast: a window is never near u64::MAX seconds.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let age_seconds = age.unwrap_or(w.seconds() as u64);
        let mut v = Verdict::unknown(
            Reason::YoungStatistics {
                age_seconds,
                blocks,
            },
            Some(w),
        );
        if plan.opts.on_insufficient == OnInsufficient::Critical {
            v.status = gate::Status::Critical;
        }
        v.unmatched = verdict.unmatched;
        return v;
    }
    verdict
}

pub(super) fn snapshot(args: &SnapshotArgs) -> anyhow::Result<Outcome> {
    let params = live::resolve(&args.conn)?;
    let rt = live::runtime()?;
    let snap = rt.block_on(take_snapshot(&params))?;
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

/// What `snapshot` saves: every counter `check --since` and `queries --since` can compare.
pub(super) async fn take_snapshot(params: &conninfo::ConnParams) -> anyhow::Result<StatsSnapshot> {
    let client = conninfo::connect(params).await?;
    let mut snap = collect::collect_counters(&client, true, true, true).await?;
    // The statement counters too, for `queries --since` (counters only, no texts).
    snap.statements = Some(collect::statements::statements(&client, 0).await?);
    Ok(snap)
}
