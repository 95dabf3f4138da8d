//! `queries`, and the queries section of `report`: sample pg_stat_statements (once, twice
//! `--interval` apart, or now against a saved snapshot), measure the window with the pure
//! `diag::queries`, then take the texts of the statements shown (read with the counters, or
//! fetched for them alone where the extension holds too many entries; cut on the server)
//! and the write counters of the tables the cache candidates read, and render.

use std::collections::HashMap;

use tokio_postgres::Client;

use super::{Outcome, live};
use crate::cli::{PageFormat, QueriesArgs};
use crate::collect::{self, statements};
use crate::conninfo::{self, ConnParams};
use crate::diag::candidates::{self, Churn};
use crate::diag::queries::{self, Measured, QueriesReport, Sort, WindowKind};
use crate::exit;
use crate::facts::StatsSnapshot;

pub(super) fn queries(args: &QueriesArgs) -> anyhow::Result<Outcome> {
    let sort: Sort = args.sort.into();
    // A bad snapshot file fails before any connection.
    let before = match &args.since {
        Some(path) => Some(collect::load_snapshot(path)?),
        None => None,
    };
    let report = if let Some(path) = &args.stats_from {
        let end = collect::load_snapshot(path)?;
        let m = measure(before.as_ref(), &end, exit::data)?;
        queries::analyse(&m, sort, args.limit, &HashMap::new(), &Churn::new())
    } else {
        let params = live::resolve(&args.conn)?;
        let rt = live::runtime()?;
        rt.block_on(live_queries(&params, args, sort, before.as_ref()))?
    };
    let text = match args.format {
        PageFormat::Table => {
            let term = super::terminal::Terminal::detect();
            crate::render::report::queries::table(&report, term.color, term.width)
        }
        PageFormat::Json => crate::render::report::queries::json(&report),
        PageFormat::Markdown => crate::render::report::queries::markdown(&report),
        PageFormat::Html => crate::render::report::html::queries(&report),
    };
    Ok(Outcome::ok(text))
}

/// The window ending at `end`: since `before` when given, else lifetime. A server that
/// cannot show its statements fails with `unreadable` (server error for a live server,
/// data error for a file); a start that cannot be compared is a data error.
fn measure(
    before: Option<&StatsSnapshot>,
    end: &StatsSnapshot,
    unreadable: fn(String) -> anyhow::Error,
) -> anyhow::Result<Measured> {
    let now = queries::lifetime(end).map_err(unreadable)?;
    match before {
        None => Ok(now),
        Some(start) => queries::between(start, end, WindowKind::Since)
            .map_err(|e| exit::data(format!("--since: {e}"))),
    }
}

async fn live_queries(
    params: &ConnParams,
    args: &QueriesArgs,
    sort: Sort,
    before: Option<&StatsSnapshot>,
) -> anyhow::Result<QueriesReport> {
    let client = conninfo::connect(params).await?;
    let (m, end) = match args.interval {
        Some(d) => {
            let (first, second) = collect::samples_around(
                &client,
                d,
                super::terminal::countdown(d, "queries: second sample in"),
                async || collect::collect_statements(&client, queries::TEXT_CHARS, false).await,
            )
            .await?;
            queries::lifetime(&second).map_err(exit::server)?;
            let m =
                queries::between(&first, &second, WindowKind::Interval).map_err(exit::server)?;
            (m, second)
        }
        None => {
            // Only a window since a snapshot compares clusters.
            let end =
                collect::collect_statements(&client, queries::TEXT_CHARS, before.is_some()).await?;
            (measure(before, &end, exit::server)?, end)
        }
    };
    let facts = end.statements.unwrap_or_default();
    details(&client, &m, &facts, sort, args.limit).await
}

/// Texts for the statements shown and the pool of candidates, the churn of the tables the
/// candidates read, then the analysis.
async fn details(
    client: &Client,
    m: &Measured,
    facts: &crate::facts::StatementsFacts,
    sort: Sort,
    limit: usize,
) -> anyhow::Result<QueriesReport> {
    let keys = queries::text_keys(m, sort, limit);
    let texts = statements::texts(client, facts, &keys, queries::TEXT_CHARS).await?;
    let names = candidates::tables_to_resolve(m, &texts, limit);
    let churn = statements::table_churn(client, &names).await?;
    Ok(queries::analyse(m, sort, limit, &texts, &churn))
}

/// The queries section of `report` from its snapshot (lifetime window, top
/// [`queries::REPORT_LIMIT`] by reads), attached to `report`; a server without the
/// extension, or a failure reading it, becomes a note instead of failing the report.
pub(super) async fn report_section(
    client: &Client,
    snap: &mut StatsSnapshot,
    report: &mut crate::diag::Report,
) {
    let result = async {
        snap.statements = Some(statements::statements(client, queries::TEXT_CHARS).await?);
        let m = match queries::lifetime(snap) {
            Ok(m) => m,
            Err(note) => return Ok(Err(note)),
        };
        let facts = snap.statements.as_ref().expect("set above");
        let q = details(client, &m, facts, Sort::Read, queries::REPORT_LIMIT).await?;
        anyhow::Ok(Ok(q))
    }
    .await;
    match result {
        Ok(Ok(q)) => queries::attach(report, q),
        Ok(Err(note)) => report.notes.push(note),
        Err(e) => report
            .notes
            .push(format!("pg_stat_statements could not be read: {e:#}")),
    }
}

/// [`report_section`] for statistics read from a file: counters only, no texts.
pub(super) fn report_section_offline(snap: &StatsSnapshot, report: &mut crate::diag::Report) {
    if snap.statements.is_none() {
        return;
    }
    match queries::lifetime(snap) {
        Ok(m) => {
            let q = queries::analyse(
                &m,
                Sort::Read,
                queries::REPORT_LIMIT,
                &HashMap::new(),
                &Churn::new(),
            );
            queries::attach(report, q);
        }
        Err(note) => report.notes.push(note),
    }
}
