//! `report`: connect, collect, diagnose, fetch the sizes of the rows kept, render. The host
//! facts for the settings diff come from the local probe only when the server runs on this
//! machine; a remote server's RAM is never guessed from the client's.

use std::collections::BTreeSet;

use indicatif::{ProgressBar, ProgressStyle};

use super::inputs::{host_context, patterns};
use super::{Outcome, live};
use crate::cli::{ReportArgs, ReportOutputFormat as ReportFormat};
use crate::collect::{self, CollectOptions};
use crate::conninfo::{self, ConnParams};
use crate::diag::{self, DiagOptions, HostContext, Pattern, Report};
use crate::render::metrics::{self, MetricsFormat, MetricsTarget};

/// The diagnosis options `report`'s flags ask for (one server or a fleet).
pub(super) fn diag_options(args: &ReportArgs) -> anyhow::Result<DiagOptions> {
    Ok(DiagOptions {
        min_blocks: args.min_blocks,
        limit: args.limit,
        schema: patterns(&args.schema, "--schema", Pattern::parse_schema)?,
        exclude: patterns(&args.exclude, "--exclude", Pattern::parse)?,
    })
}

/// `report` of one server (`app::fleet_runs` has the `--targets` form).
pub(super) fn report(args: &ReportArgs) -> anyhow::Result<Outcome> {
    let opts = diag_options(args)?;
    let textfile = args
        .textfile_dir
        .as_deref()
        .map(super::metrics::textfile_path)
        .transpose()?;
    let metrics_wanted = textfile.is_some()
        || matches!(
            args.format,
            ReportFormat::Prometheus | ReportFormat::OpenMetrics
        );
    if metrics_wanted && !args.redis.is_empty() {
        return Err(crate::exit::usage(
            "--redis is not part of the metrics formats or --textfile-dir: give --format table, json or markdown, or leave out --redis",
        ));
    }
    if args.format == ReportFormat::Html && !args.redis.is_empty() {
        return Err(crate::exit::usage(
            "--format html does not cover --redis yet: use table, markdown or json with --redis",
        ));
    }
    let started = std::time::Instant::now();
    // The Redis layers first: a wrong URL or an unreachable cache fails before the
    // PostgreSQL work, and nothing is printed unless both layers were read.
    let redis = args
        .redis
        .iter()
        .map(|url| super::redis::live_report(&redis_conn(url, args), "CONFIG"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let report = if let Some(path) = &args.stats_from {
        let snap = collect::load_snapshot(path)?;
        let host = host_context(&args.host, None)?;
        let mut report = diag::diagnose(&snap, &host, &opts);
        super::queries::report_section_offline(&snap, &mut report);
        report
    } else {
        let params = live::resolve(&args.conn)?;
        let host = host_context(&args.host, Some(&params))?;
        let rt = live::runtime()?;
        rt.block_on(live_report(
            &params,
            &host,
            &opts,
            args.all_databases,
            args.buffers_scan,
            true,
        ))?
    };
    let target = MetricsTarget {
        target: None,
        labels: &[],
        up: true,
        duration: started.elapsed(),
        report: Some(&report),
        verdict: None,
    };
    if let Some(path) = &textfile {
        let text = metrics::render(std::slice::from_ref(&target), MetricsFormat::Prometheus);
        super::metrics::write_textfile(path, &text)?;
    }
    let text = match args.format {
        ReportFormat::Table => {
            let term = super::terminal::Terminal::detect();
            let mut text = crate::render::report::table(&report, term.color, term.width);
            for r in &redis {
                text.push('\n');
                text.push_str(&crate::render::redis::table(r, term.width));
            }
            text
        }
        ReportFormat::Json => crate::render::report::json_with_redis(&report, &redis),
        ReportFormat::Html => crate::render::report::html::report(&report),
        ReportFormat::Markdown => {
            let mut text = crate::render::report::markdown(&report);
            for r in &redis {
                text.push('\n');
                text.push_str(&crate::render::redis::markdown(r));
            }
            text
        }
        ReportFormat::Prometheus => metrics::render(&[target], MetricsFormat::Prometheus),
        ReportFormat::OpenMetrics => metrics::render(&[target], MetricsFormat::OpenMetrics),
    };
    Ok(Outcome::ok(text))
}

/// `--redis URL` as `redis report URL` with its default timeouts and CONFIG name.
fn redis_conn(url: &str, args: &ReportArgs) -> crate::cli::RedisConnArgs {
    crate::cli::RedisConnArgs {
        url: url.to_owned(),
        password_file: None,
        cacert: args.redis_cacert.clone(),
        connect_timeout: std::time::Duration::from_secs(5),
        timeout: std::time::Duration::from_secs(5),
    }
}

/// The whole `report` pipeline against one server (also `serve`'s collection per target).
pub(super) async fn live_report(
    params: &ConnParams,
    host: &HostContext,
    opts: &DiagOptions,
    all_databases: bool,
    buffers_scan: bool,
    progress_bar: bool,
) -> anyhow::Result<Report> {
    let client = conninfo::connect(params).await?;
    let collect_opts = CollectOptions::everything();
    let mut snap = if all_databases {
        // One spinner per target would fight over the terminal in a fleet run.
        let bar = if progress_bar {
            progress()
        } else {
            ProgressBar::hidden()
        };
        let visit = |db: String| {
            bar.set_message(format!(
                "reading database {}",
                crate::render::sanitize::sanitize(&db)
            ));
            bar.inc(1);
            let p = params.with_dbname(&db);
            async move { conninfo::connect(&p).await }
        };
        let snap = collect::collect_all_databases(&client, &collect_opts, visit).await?;
        bar.finish_and_clear();
        snap
    } else {
        collect::collect(&client, &collect_opts).await?
    };
    huge_pages_probe(&mut snap, params);
    cache_facts(&client, &mut snap, buffers_scan, opts.limit).await?;
    let mut report = diag::diagnose(&snap, host, opts);
    // Sizes only for the rows the report keeps: stat()ing every relation is the slow part.
    let tables = report.table_relids();
    let indexes = report.index_relids();
    let databases: BTreeSet<&String> = tables.keys().chain(indexes.keys()).collect();
    let mut filled = Vec::new();
    for db in databases {
        let none = Vec::new();
        let (t, i) = (
            tables.get(db).unwrap_or(&none),
            indexes.get(db).unwrap_or(&none),
        );
        let other;
        let c = if *db == snap.server.database {
            &client
        } else {
            other = conninfo::connect(&params.with_dbname(db)).await?;
            &other
        };
        let (mut sizes, index_sizes) =
            tokio::try_join!(collect::table_sizes(c, t), collect::index_sizes(c, i))?;
        sizes.extend(index_sizes);
        filled.push((db.clone(), sizes));
    }
    for (db, sizes) in filled {
        report.fill_sizes(&db, &sizes);
    }
    super::queries::report_section(&client, &mut snap, &mut report).await;
    Ok(report)
}

/// Before PostgreSQL 17 only the host can tell whether `huge_pages = try` got huge pages:
/// read the postmaster's mappings when the server runs on this machine.
fn huge_pages_probe(snap: &mut crate::facts::StatsSnapshot, params: &ConnParams) {
    if params.is_local() && snap.major() < diag::HUGE_PAGES_STATUS_MAJOR {
        let dir = snap.setting("data_directory").map(|s| s.setting.as_str());
        snap.huge_pages_probe = Some(crate::host::hugepages::probe(dir));
    }
}

/// The connected database's pg_buffercache contents and materialized views.
async fn cache_facts(
    client: &tokio_postgres::Client,
    snap: &mut crate::facts::StatsSnapshot,
    force_scan: bool,
    limit: usize,
) -> anyhow::Result<()> {
    let (db, user) = (snap.server.database.clone(), snap.server.user.clone());
    let mut notes = Vec::new();
    let (buffers, views) = tokio::try_join!(
        collect::buffer_cache(client, &db, &user, force_scan, limit, &mut notes),
        collect::materialized_views(client, &db),
    )?;
    snap.buffer_cache = buffers;
    // Other databases' views, if visited, came with their tables.
    snap.materialized_views.extend(views);
    snap.notes.extend(notes);
    Ok(())
}

/// A spinner on stderr while other databases are read; indicatif draws nothing when stderr
/// is not a terminal.
fn progress() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {pos} databases: {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
