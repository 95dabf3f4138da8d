//! The queries and cache-candidate sections, for `report` (after its own sections) and for
//! the `queries` subcommand (alone), in the report's table and Markdown forms; JSON is the
//! [`QueriesReport`] itself. Query texts are server-provided: the section machinery escapes
//! every cell for its format, and texts are put on one line and cut for the table.

use super::{Section, plain, ratio, sections_markdown, sections_table};
use crate::diag::candidates::CONFIRM;
use crate::diag::queries::{QueriesReport, QueryWindow, Sort, WindowKind, one_line_text};
use crate::diag::text::{approx_duration, format_count, format_ratio};
use crate::units::format_epoch_utc;

/// Characters of query text in a table cell.
const CELL_TEXT_CHARS: usize = 80;

fn number(text: impl Into<String>) -> super::Text {
    super::number(text)
}

/// `12.345 ms` / `1.2 s`: statement times need more precision than settings' units.
fn ms(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1} s", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.3} ms")
    }
}

/// The window in words: "lifetime, since 2026-11-30 10:00 UTC (2h)".
pub fn window_text(w: &QueryWindow) -> String {
    // Saturating float-to-integer cast of a span clamped at 0: never near u64::MAX seconds.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let span = w
        .start_epoch
        .map(|s| approx_duration((w.end_epoch - s).max(0.0) as u64));
    match (w.kind, w.start_epoch, span) {
        (WindowKind::Lifetime, Some(s), Some(span)) => format!(
            "lifetime: {span} since pg_stat_statements was reset ({})",
            format_epoch_utc(s)
        ),
        (WindowKind::Lifetime, _, _) => {
            "lifetime: since pg_stat_statements was last reset (not recorded before 1.9)"
                .to_string()
        }
        (WindowKind::Interval, _, Some(span)) => format!("interval: {span} between two samples"),
        (WindowKind::Since, Some(s), Some(span)) => {
            format!("since the snapshot of {} ({span})", format_epoch_utc(s))
        }
        _ => "window unknown".to_string(),
    }
}

fn order(sort: Sort) -> &'static str {
    match sort {
        Sort::Read => "shared blocks read",
        Sort::Time => "execution time",
        Sort::Calls => "calls",
        Sort::Temp => "temp blocks written",
    }
}

/// A column of the statements table: its header, whether it is shown, and its cell.
type Column = (
    &'static str,
    bool,
    fn(&crate::diag::queries::QueryRow) -> super::Text,
);

/// The statements and the candidates, as report sections. Columns that would be empty
/// (one database, no read times, no spills) are left out; JSON has every field.
pub(super) fn sections(q: &QueriesReport) -> Vec<Section> {
    let rows = &q.queries;
    let databases: std::collections::BTreeSet<u32> = rows.iter().map(|r| r.dbid).collect();
    let columns: [Column; 10] = [
        ("Database", databases.len() > 1, |r| {
            plain(
                r.database
                    .clone()
                    .unwrap_or_else(|| format!("oid {}", r.dbid)),
            )
        }),
        ("Calls", true, |r| number(format_count(r.calls))),
        ("Total", true, |r| number(ms(r.total_ms))),
        ("Mean", true, |r| number(ms(r.mean_ms))),
        ("Rows/call", true, |r| {
            number(format!("{:.1}", r.rows_per_call))
        }),
        ("Read", true, |r| number(format_count(r.shared_blks_read))),
        ("Hit ratio", true, |r| ratio(r.hit_ratio)),
        ("Read share", true, |r| number(format_ratio(r.read_share))),
        (
            "Temp written",
            rows.iter().any(|r| r.temp_blks_written > 0),
            |r| number(format_count(r.temp_blks_written)),
        ),
        ("Read time", rows.iter().any(|r| r.read_ms.is_some()), |r| {
            number(r.read_ms.map_or_else(|| "—".to_string(), ms))
        }),
    ];
    let shown: Vec<&Column> = columns.iter().filter(|c| c.1).collect();
    // Texts are long and numbers narrow: the table numbers the statements, and the texts
    // follow it, one per line, with their queryids.
    let table_rows = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            std::iter::once(number(format!("#{}", i + 1)))
                .chain(shown.iter().map(|c| (c.2)(r)))
                .collect()
        })
        .collect();
    let texts: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            format!(
                "#{} queryid {}: {}",
                i + 1,
                r.queryid,
                r.query.as_deref().map_or_else(
                    || "(text not fetched)".to_string(),
                    |t| { one_line_text(t, CELL_TEXT_CHARS) }
                )
            )
        })
        .collect();
    let one_database = match (databases.len(), rows.first()) {
        (1, Some(r)) => format!(
            "; database {}",
            r.database
                .clone()
                .unwrap_or_else(|| format!("oid {}", r.dbid))
        ),
        _ => String::new(),
    };
    let statements = Section {
        caption: Some(format!(
            "{} of {} statements by {}{one_database}; {}; {} blocks read in all",
            q.queries.len(),
            format_count(i64::try_from(q.totals.statements).unwrap_or(i64::MAX)),
            order(q.sort),
            window_text(&q.window),
            format_count(q.totals.shared_blks_read),
        )),
        lines: texts,
        ..Section::new(
            "Queries",
            std::iter::once("#")
                .chain(shown.iter().map(|c| c.0))
                .collect(),
            table_rows,
        )
    };
    let rows = q
        .candidates
        .iter()
        .map(|c| {
            vec![
                number(c.queryid.to_string()),
                plain(one_line_text(&c.query, CELL_TEXT_CHARS)),
                plain(&c.why),
            ]
        })
        .collect();
    let candidates = Section {
        caption: Some(
            "read-only statements an application cache or materialized view could answer, \
             best first"
                .to_string(),
        ),
        empty: "none: no read-only SELECT with many calls and few rows per call",
        footer: Some(format!("Cache candidates are {CONFIRM}.")),
        prose: Some(2),
        ..Section::new(
            "Cache candidates",
            vec!["Queryid", "Query", "Numbers"],
            rows,
        )
    };
    vec![statements, candidates]
}

/// `queries` as terminal tables.
pub fn table(q: &QueriesReport, color: bool, width: Option<u16>) -> String {
    sections_table(sections(q), &q.notes, color, width)
}

/// `queries` as Markdown.
pub fn markdown(q: &QueriesReport) -> String {
    sections_markdown("pgcache-tune queries", sections(q), &q.notes)
}

/// `queries` as pretty JSON with a trailing newline: `{ window, sort, totals, queries[],
/// candidates[], spilling[], notes[] }`.
pub fn json(q: &QueriesReport) -> String {
    let mut text = serde_json::to_string_pretty(q).expect("a QueriesReport always serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::queries::{QueryRow, Totals};

    fn report(query: &str) -> QueriesReport {
        let row = QueryRow {
            queryid: 42,
            userid: 10,
            dbid: 5,
            database: Some("app".into()),
            toplevel: Some(true),
            calls: 3,
            total_ms: 900.0,
            mean_ms: 300.0,
            rows_per_call: 1.0,
            shared_blks_hit: 10,
            shared_blks_read: 90,
            shared_blks_dirtied: 0,
            shared_blks_written: 0,
            hit_ratio: Some(0.1),
            read_share: Some(1.0),
            time_share: Some(1.0),
            temp_blks_read: 0,
            temp_blks_written: 0,
            read_ms: None,
            query: Some(query.into()),
        };
        QueriesReport {
            window: QueryWindow {
                kind: WindowKind::Interval,
                start_epoch: Some(1_000.0),
                end_epoch: 1_060.0,
            },
            sort: Sort::Read,
            totals: Totals {
                statements: 1,
                calls: 3,
                exec_ms: 900.0,
                shared_blks_read: 90,
                temp_blks_written: 0,
            },
            queries: vec![row],
            candidates: Vec::new(),
            spilling: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn query_texts_cannot_drive_the_terminal_or_break_markdown() {
        let q = report("select 1 from \"evil\u{1b}[31m|x`\u{202e}\" where a = $1");
        let t = table(&q, false, Some(120));
        assert!(!t.contains('\u{1b}') && !t.contains('\u{202e}'), "{t}");
        assert!(t.contains("#1 queryid 42: select 1 from"), "{t}");
        assert!(t.contains("interval: 1min between two samples"), "{t}");
        assert!(!t.contains("Read time"), "no read times: no column\n{t}");
        let md = markdown(&q);
        assert!(md.contains("evil") && !md.contains("|x`"), "{md}");
        assert!(md.contains("none: no read-only SELECT"), "{md}");
    }
}
