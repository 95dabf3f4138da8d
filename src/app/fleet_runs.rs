//! `check`, `report` and `snapshot` with `--targets FILE`: the single-server job of each
//! command run for every target through the pool of [`super::fleet`], then one rendering
//! of all the results. A target that cannot be reached is a result too (down, with its
//! reason), never the run's failure; only bad flags and a bad inventory stop the run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::check;
use super::fleet::{self, Target};
use super::metrics;
use super::{Outcome, live};
use crate::cli::{
    CheckArgs, CheckFormat, ReportArgs, ReportOutputFormat as ReportFormat, SnapshotArgs,
};
use crate::collect;
use crate::conninfo;
use crate::exit::{self, Exit};
use crate::facts::StatsSnapshot;
use crate::fleet::TargetRun;
use crate::gate::{Reason, Verdict};
use crate::render::fleet as render;
use crate::render::metrics::MetricsFormat;

/// The targets and how many run at once.
fn targets(path: &Path, fleet: &crate::cli::FleetArgs) -> anyhow::Result<(Vec<Target>, usize)> {
    let targets = fleet::load(path, &fleet.only)?;
    let jobs = fleet
        .jobs
        .unwrap_or_else(|| fleet::default_jobs(targets.len()));
    Ok((targets, jobs))
}

fn refuse(flag: &str, what: &str) -> anyhow::Error {
    exit::usage(format!("{flag} does not combine with --targets: {what}"))
}

/// `check --targets`: every target judged with the same thresholds; exit code is the
/// fleet's worst state ([`render::worst`]).
pub(super) fn check(args: &CheckArgs, path: &Path) -> anyhow::Result<Outcome> {
    let plan = &check::plan(args)?;
    if args.stats_from.is_some() {
        return Err(refuse("--stats-from", "a capture is one server's sample"));
    }
    let textfile = metrics::fleet_textfile(args.textfile_dir.as_deref())?;
    let (targets, jobs) = targets(path, &args.fleet)?;
    // Each target's earlier snapshot, read before any connection: a missing file is that
    // target's UNKNOWN, a --since that is not a directory is a usage error.
    let before: Vec<Option<Result<StatsSnapshot, String>>> = match &args.since {
        None => targets.iter().map(|_| None).collect(),
        Some(dir) => {
            if !dir.is_dir() {
                return Err(exit::usage(format!(
                    "--since {}: with --targets, give the directory `snapshot --targets` wrote (one TARGET.json per target)",
                    dir.display()
                )));
            }
            targets
                .iter()
                .map(|t| {
                    Some(
                        collect::load_snapshot(&snapshot_path(dir, &t.spec.name))
                            .map_err(|e| format!("{e:#}")),
                    )
                })
                .collect()
        }
    };
    let extra = args.interval.unwrap_or(Duration::ZERO);
    let rt = live::runtime()?;
    let runs = rt.block_on(fleet::run(&targets, jobs, extra, |t, params| {
        let index = targets
            .iter()
            .position(|x| x.spec.name == t.spec.name)
            .unwrap_or(0);
        let before = before[index].clone();
        async move {
            // The server first: a target that is down says so, rather than that its
            // snapshot is missing (it could not be taken while it was down).
            let client = conninfo::connect(&params).await?;
            // A missing or bad snapshot: the server is up, its window cannot be judged.
            let before = match before.transpose() {
                Ok(before) => before,
                Err(message) => return Ok(Verdict::unknown(Reason::Failed { message }, None)),
            };
            let interval = args.interval.map(|d| (d, tokio::time::sleep(d)));
            let identify = before.is_some();
            let (first, second) = check::samples(&client, plan, interval, identify).await?;
            anyhow::Ok(check::judge(plan, before, first, second))
        }
    }));
    for r in &runs {
        if let Ok(v) = &r.result {
            for w in crate::render::verdict::warnings(v) {
                eprintln!("warning: {}: {w}", r.name);
            }
        }
    }
    let text = match args.format {
        CheckFormat::Human => render::check_human(&runs),
        CheckFormat::Json => render::check_json(&runs),
        CheckFormat::Junit => render::check_junit(&runs),
        CheckFormat::Nagios => render::check_nagios(&runs),
        CheckFormat::Prometheus => metrics::check_runs(&runs, MetricsFormat::Prometheus),
        CheckFormat::OpenMetrics => metrics::check_runs(&runs, MetricsFormat::OpenMetrics),
    };
    if let Some(file) = &textfile {
        metrics::write_textfile(file, &metrics::check_runs(&runs, MetricsFormat::Prometheus))?;
    }
    Ok(Outcome {
        stdout: text.into_bytes(),
        exit: render::worst(&runs).exit(),
    })
}

/// Where `snapshot --targets` keeps a target's file inside its directory.
fn snapshot_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

/// `report --targets`: every target's full report; the summary table, or every report in
/// JSON and Markdown.
pub(super) fn report(args: &ReportArgs, path: &Path) -> anyhow::Result<Outcome> {
    let opts = &super::report::diag_options(args)?;
    if args.stats_from.is_some() {
        return Err(refuse(
            "--stats-from",
            "a capture is one server's statistics",
        ));
    }
    if !args.redis.is_empty() {
        return Err(refuse(
            "--redis",
            "give each Redis cache its own `pgcache-tune redis report URL`",
        ));
    }
    if args.format == ReportFormat::Html {
        return Err(refuse(
            "--format html",
            "the page shows one server; use table, markdown, json or the metrics formats",
        ));
    }
    let textfile = metrics::fleet_textfile(args.textfile_dir.as_deref())?;
    let (targets, jobs) = targets(path, &args.fleet)?;
    // The host facts come from flags or, for a server on this machine, the local probe:
    // decided per target before the pool starts, since probing reads files.
    let hosts: Vec<anyhow::Result<crate::diag::HostContext>> = targets
        .iter()
        .map(|t| match &t.params {
            Ok(p) => super::inputs::host_context(&args.host, Some(p)),
            Err(_) => super::inputs::host_context(&args.host, None),
        })
        .collect();
    let rt = live::runtime()?;
    let runs = rt.block_on(fleet::run(&targets, jobs, Duration::ZERO, |t, params| {
        let index = targets
            .iter()
            .position(|x| x.spec.name == t.spec.name)
            .unwrap_or(0);
        let host = hosts[index]
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e:#}"))
            .cloned();
        async move {
            let host = host?;
            super::report::live_report(
                &params,
                &host,
                opts,
                args.all_databases,
                args.buffers_scan,
                false,
            )
            .await
        }
    }));
    let text = match args.format {
        ReportFormat::Table => {
            let term = super::terminal::Terminal::detect();
            render::report_table(&runs, term.width)
        }
        ReportFormat::Json => render::report_json(&runs),
        ReportFormat::Markdown => render::report_markdown(&runs),
        ReportFormat::Html => unreachable!("refused before the fleet runs"),
        ReportFormat::Prometheus => metrics::report_runs(&runs, true, MetricsFormat::Prometheus),
        ReportFormat::OpenMetrics => metrics::report_runs(&runs, true, MetricsFormat::OpenMetrics),
    };
    if let Some(file) = &textfile {
        metrics::write_textfile(
            file,
            &metrics::report_runs(&runs, true, MetricsFormat::Prometheus),
        )?;
    }
    for r in runs.iter().filter(|r| !r.up()) {
        if let Err(reason) = &r.result {
            eprintln!(
                "warning: target {} is down: {}",
                r.name,
                crate::render::sanitize::one_line(reason)
            );
        }
    }
    Ok(Outcome {
        stdout: text.into_bytes(),
        exit: exit_for(&runs),
    })
}

/// A fleet report or snapshot succeeds when every target answered; otherwise it exits as a
/// single-server run that cannot reach its server does (69), with what the others gave
/// already written.
fn exit_for<T>(runs: &[TargetRun<T>]) -> Exit {
    if runs.iter().all(TargetRun::up) {
        Exit::Ok
    } else {
        Exit::Server
    }
}

/// `snapshot --targets -o DIR`: one `TARGET.json` per target that answered, each replaced
/// atomically; a target that is down keeps its earlier file, if any, and is named on stderr.
pub(super) fn snapshot(args: &SnapshotArgs, path: &Path) -> anyhow::Result<Outcome> {
    let dir = &args.output;
    if dir.as_os_str() == "-" {
        return Err(refuse("-o -", "give a directory for the per-target files"));
    }
    let (targets, jobs) = targets(path, &args.fleet)?;
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(|e| {
            exit::io(format!(
                "-o {}: cannot create the directory: {}",
                dir.display(),
                exit::io_reason(&e)
            ))
        })?;
    }
    let rt = live::runtime()?;
    let runs = rt.block_on(fleet::run(
        &targets,
        jobs,
        Duration::ZERO,
        |_, params| async move { check::take_snapshot(&params).await },
    ));
    let mut runs_saved = Vec::with_capacity(runs.len());
    for r in runs {
        let file = snapshot_path(dir, &r.name);
        let saved = match r.result {
            Ok(snap) => collect::save_snapshot(&file, &snap)
                .map(|()| {
                    eprintln!(
                        "{}: saved counters of {} databases, {} tables and {} indexes to {}",
                        r.name,
                        snap.databases.len(),
                        snap.tables.len(),
                        snap.indexes.len(),
                        file.display()
                    );
                })
                .map_err(|e| format!("{e:#}")),
            Err(reason) => Err(reason),
        };
        if let Err(reason) = &saved {
            eprintln!(
                "{}: not saved: {}",
                r.name,
                crate::render::sanitize::one_line(reason)
            );
        }
        runs_saved.push(TargetRun {
            name: r.name,
            labels: r.labels,
            elapsed: r.elapsed,
            result: saved,
        });
    }
    Ok(Outcome {
        stdout: Vec::new(),
        exit: exit_for(&runs_saved),
    })
}
