//! `watch`'s screen and its plain-text and JSON forms, from the rows `gate::rates` computed.
//! Drawing goes through ratatui's `Frame`, which writes into a buffer and does no I/O, so
//! the screen is tested at 80×24 with ratatui's `TestBackend`; the shell owns the real
//! terminal. Server-provided names are sanitised here, as every terminal renderer does.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row as TableRow, Table};
use serde::Serialize;

use super::sanitize::sanitize;
use crate::diag::{CRITICAL_HIT_RATIO, WARNING_HIT_RATIO};
use crate::gate::Unusable;
use crate::gate::rates::{Change, Level, Row, SortKey};
use crate::gate::window::Scope;

/// Database rows shown at most, so the tables keep room in 24 lines.
const MAX_DATABASE_ROWS: usize = 4;
/// Findings lines kept on screen (newest last).
pub const FINDING_LINES: u16 = 4;
/// Width of the sparkline column.
const SPARK_WIDTH: u16 = 16;

/// Everything one screen shows.
#[derive(Debug, Clone)]
pub struct View<'a> {
    /// Database rows, sorted.
    pub databases: &'a [Row],
    /// Table rows of the connected database, sorted.
    pub tables: &'a [Row],
    /// The connected database.
    pub database: &'a str,
    /// Refresh interval in seconds.
    pub interval_seconds: f64,
    /// The sliding window asked for, in seconds.
    pub window_seconds: f64,
    /// How much of it is collected so far.
    pub covered_seconds: f64,
    /// Current order.
    pub sort: SortKey,
    /// Paused (the screen keeps its numbers).
    pub paused: bool,
    /// Server for the footer, without a password.
    pub server: &'a str,
    /// Findings lines (already rendered by [`change_line`] / [`break_line`]), oldest first.
    pub findings: &'a [String],
    /// A state to show instead of rows (first interval not done, a reset just seen).
    pub note: Option<&'a str>,
}

/// Seconds as `2s`, `500ms`, `1m`, `1m30s`, `1h`, `24h`.
pub fn seconds_text(s: f64) -> String {
    if s < 1.0 {
        return format!("{:.0}ms", s * 1_000.0);
    }
    // Whole seconds are what a person reads here; the cast saturates.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let whole = s.round() as u64;
    let (h, min, sec) = (whole / 3_600, whole % 3_600 / 60, whole % 60);
    [(h, "h"), (min, "m"), (sec, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect::<String>()
}

/// A rate in blocks per second, short: `0`, `3.5`, `812`, `12.4k`, `3.1M`.
pub fn rate_text(r: f64) -> String {
    if r == 0.0 {
        "0".to_string()
    } else if r < 100.0 {
        format!("{r:.1}")
    } else if r < 10_000.0 {
        format!("{r:.0}")
    } else if r < 10_000_000.0 {
        format!("{:.1}k", r / 1_000.0)
    } else {
        format!("{:.1}M", r / 1_000_000.0)
    }
}

/// A ratio as a percentage with two decimals, `-` when nothing was touched.
pub fn ratio_text(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_string(), |r| format!("{:.2}%", r * 100.0))
}

/// The last `width` values as a sparkline of eighth blocks, scaled to their maximum (a
/// row with no reads is a flat line of the lowest block, so "no misses" reads as such).
pub fn spark(values: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &values[values.len().saturating_sub(width)..];
    let max = tail.iter().copied().fold(0.0_f64, f64::max);
    tail.iter()
        .map(|&v| {
            if max <= 0.0 || v <= 0.0 {
                return BARS[0];
            }
            // 0..=7 by construction.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let i = ((v / max) * 7.0).round() as usize;
            BARS[i.clamp(1, 7)]
        })
        .collect()
}

/// Seconds of the server's day, `HH:MM:SS` (UTC).
pub fn clock(epoch: f64) -> String {
    crate::units::format_epoch_utc(epoch)[11..19].to_string()
}

/// A findings line for a threshold crossing (report's thresholds), short enough for 80
/// columns with a table name of typical length.
pub fn change_line(at_epoch: f64, c: &Change) -> String {
    let warning = WARNING_HIT_RATIO * 100.0;
    let critical = CRITICAL_HIT_RATIO * 100.0;
    let what = match c.to {
        Level::Critical => format!("critical (below {critical}%)"),
        Level::Warning if c.from == Level::Critical => {
            format!("warning (back above {critical}%)")
        }
        Level::Warning => format!("warning (below {warning}%)"),
        Level::Ok => format!("ok again (at least {warning}%)"),
        Level::Quiet => "quiet".to_string(),
    };
    format!(
        "{} {} {}: {} hit ratio, {what}",
        clock(at_epoch),
        c.scope.item_word(),
        sanitize(&c.label),
        ratio_text(c.window_ratio)
    )
}

/// A findings line for an interval that could not be measured (reset, restart): shown as
/// such, and the window starts again.
pub fn break_line(at_epoch: f64, u: &Unusable) -> String {
    let what = match u {
        Unusable::Reset { database } => {
            format!("statistics reset in database {}", sanitize(database))
        }
        // Its counters went backwards: a single-table reset, or the first sign of a whole
        // reset that the database row shows a sample later.
        Unusable::Backwards { scope, label } => {
            format!("{} {} reset", scope.item_word(), sanitize(label))
        }
        // The Redis reasons cannot come from watch's PostgreSQL samples; worded for
        // completeness.
        Unusable::Restart | Unusable::RunIdChanged { .. } | Unusable::UptimeDecreased { .. } => {
            "server restarted".to_string()
        }
        Unusable::CounterDecreased { counter, .. } => {
            format!("counter {} reset", sanitize(counter))
        }
        Unusable::OtherServer { .. } => "connected to another server".to_string(),
        Unusable::SnapshotNewer => "server clock went backwards".to_string(),
        Unusable::Overflow { label } => format!("counters of {} overflowed", sanitize(label)),
    };
    format!("{} RESET {what}: window restarted", clock(at_epoch))
}

fn name_cell(r: &Row) -> String {
    match r.scope {
        Scope::Database => sanitize(&r.name).into_owned(),
        _ => sanitize(&r.label()).into_owned(),
    }
}

fn cells(r: &Row) -> [String; 6] {
    [
        name_cell(r),
        rate_text(r.reads_per_second),
        rate_text(r.hits_per_second),
        ratio_text(r.ratio),
        ratio_text(r.window_ratio),
        spark(&r.reads_history, usize::from(SPARK_WIDTH)),
    ]
}

fn header(first: &str, window: &str) -> [String; 6] {
    [
        first.to_string(),
        "reads/s".to_string(),
        "hits/s".to_string(),
        "ratio".to_string(),
        window.to_string(),
        "reads".to_string(),
    ]
}

fn header_line(v: &View<'_>) -> String {
    format!(
        "pgcache-tune watch · every {} · sort {}{}",
        seconds_text(v.interval_seconds),
        v.sort.as_str(),
        if v.paused { " · PAUSED" } else { "" }
    )
}

fn footer_line(v: &View<'_>) -> String {
    // Keys first: a long server name (a socket path) is what gets cut at 80 columns.
    format!(
        "q quit · s sort · p {} · window {} ({} seen) · {}",
        if v.paused { "resume" } else { "pause" },
        seconds_text(v.window_seconds),
        seconds_text(v.covered_seconds),
        sanitize(v.server)
    )
}

fn table<'a>(head: [String; 6], rows: impl Iterator<Item = &'a Row>) -> Table<'a> {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let body: Vec<TableRow<'_>> = rows
        .map(|r| {
            let style = match r.level {
                Level::Critical => Style::default().add_modifier(Modifier::REVERSED),
                Level::Warning => bold,
                _ => Style::default(),
            };
            TableRow::new(cells(r)).style(style)
        })
        .collect();
    Table::new(
        body,
        [
            Constraint::Min(16),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(SPARK_WIDTH),
        ],
    )
    .header(TableRow::new(head).style(bold))
    .column_spacing(1)
}

/// Draws the screen into `area` of the frame: header, databases, the top tables (as many
/// as fit), findings and a footer with the server and keys.
pub fn draw(frame: &mut Frame<'_>, v: &View<'_>) {
    let area = frame.area();
    let db_rows = v.databases.len().clamp(1, MAX_DATABASE_ROWS);
    // Small: at most MAX_DATABASE_ROWS + 1.
    #[allow(clippy::cast_possible_truncation)]
    let db_height = (db_rows + 1) as u16;
    // The footer (keys) first, so a terminal too small for everything still says how to quit.
    let [body, foot] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
    let [head, dbs, _, tables, findings] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(db_height),
        Constraint::Length(1),
        Constraint::Min(2),
        Constraint::Length(1 + FINDING_LINES),
    ])
    .areas(body);
    let bold = Style::default().add_modifier(Modifier::BOLD);
    frame.render_widget(Paragraph::new(header_line(v)).style(bold), head);
    let window = format!("{} ratio", seconds_text(v.window_seconds));
    if let Some(note) = v.note {
        frame.render_widget(Paragraph::new(note.to_string()), dbs);
    } else {
        frame.render_widget(table(header("database", &window), v.databases.iter()), dbs);
        let title = format!("table ({})", sanitize(v.database));
        let fit = usize::from(tables.height.saturating_sub(1));
        frame.render_widget(
            table(header(&title, &window), v.tables.iter().take(fit)),
            tables,
        );
    }
    let mut lines = vec![Line::styled("findings", bold)];
    let shown = &v.findings[v.findings.len().saturating_sub(usize::from(FINDING_LINES))..];
    if shown.is_empty() {
        lines.push(Line::from("no change yet"));
    }
    lines.extend(shown.iter().map(|l| Line::from(l.clone())));
    frame.render_widget(Paragraph::new(lines), findings);
    frame.render_widget(
        Paragraph::new(footer_line(v)).style(Style::default().add_modifier(Modifier::REVERSED)),
        foot,
    );
}

/// Fixed-width columns for the plain-text form: the interval's rates, its raw block counts
/// and its ratio (the window is the interval, so there is one ratio).
fn text_table(out: &mut String, first: &str, rows: &[Row]) {
    let mut push = |c: [&str; 6]| {
        out.push_str(&format!(
            "{:<32} {:>8} {:>8} {:>10} {:>10} {:>8}\n",
            c[0], c[1], c[2], c[3], c[4], c[5]
        ));
    };
    push([first, "reads/s", "hits/s", "read", "hit", "ratio"]);
    for r in rows {
        let [name, reads, hits, ratio, _, _] = cells(r);
        push([
            &name,
            &reads,
            &hits,
            &r.read_blocks.to_string(),
            &r.hit_blocks.to_string(),
            &ratio,
        ]);
    }
}

/// One interval as plain text (`--once`, or stdout not a terminal): what the screen shows,
/// without the sparkline and keys, so it can be piped.
pub fn text(v: &View<'_>) -> String {
    let mut out = format!(
        "pgcache-tune watch · interval {} · {}\n\n",
        seconds_text(v.interval_seconds),
        sanitize(v.server)
    );
    if let Some(note) = v.note {
        out.push_str(note);
        out.push('\n');
    } else {
        text_table(&mut out, "database", v.databases);
        out.push('\n');
        let title = format!("table ({})", sanitize(v.database));
        text_table(&mut out, &title, v.tables);
    }
    for line in v.findings {
        out.push_str(&format!("\n{line}"));
    }
    if !v.findings.is_empty() {
        out.push('\n');
    }
    out
}

/// The JSON form of one interval: the window and every row with its raw block counts, so a
/// script can check rate × seconds = blocks.
#[derive(Debug, Serialize)]
pub struct Json<'a> {
    /// Start of the interval, epoch seconds on the server's clock.
    pub start_epoch: f64,
    /// End of the interval.
    pub end_epoch: f64,
    /// Its length in seconds.
    pub seconds: f64,
    /// The connected database.
    pub database: &'a str,
    /// Database rows.
    pub databases: &'a [Row],
    /// Table rows of the connected database.
    pub tables: &'a [Row],
    /// Why the interval could not be measured (a reset or restart during it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unusable: Option<&'a Unusable>,
}

/// Pretty JSON with a final newline.
pub fn json(j: &Json<'_>) -> String {
    let mut s =
        serde_json::to_string_pretty(j).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
