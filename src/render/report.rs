//! Renders a diagnosis [`Report`] as terminal tables, as GitHub-flavoured Markdown for
//! pull-request comments, or as JSON (the public schema documented on `diag::report`).
//!
//! Table and Markdown show the same content because both are built from one neutral list of
//! sections; only the last step differs. Every cell passes through the format's escaping
//! ([`sanitize()`] for terminals, [`sanitize::markdown`] for Markdown) since many of them hold
//! server-provided names. Colour and width are decided by the caller (colour: stdout a
//! terminal, NO_COLOR unset, TERM not `dumb`; width: COLUMNS or the terminal's); colour only
//! marks low ratios and severities, so nothing is lost without it.

use comfy_table::{Cell, CellAlignment, Color};

use super::layout;
use super::sanitize::{self, sanitize};
use crate::diag::text::{approx_duration, format_count, format_ratio};
use crate::diag::{
    CRITICAL_HIT_RATIO, DatabaseRow, Report, SettingRow, SettingStatus, Severity, StatsSince,
    WARNING_HIT_RATIO,
};
use crate::units::format_bytes_human;

/// What a cell's colour says, when colour is on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tone {
    Plain,
    Critical,
    Warning,
    Info,
}

#[derive(Debug, Clone)]
struct Text {
    text: String,
    tone: Tone,
    right: bool,
}

fn plain(text: impl Into<String>) -> Text {
    Text {
        text: text.into(),
        tone: Tone::Plain,
        right: false,
    }
}

fn number(text: impl Into<String>) -> Text {
    Text {
        right: true,
        ..plain(text)
    }
}

fn ratio(r: Option<f64>) -> Text {
    let tone = match r {
        Some(r) if r < CRITICAL_HIT_RATIO => Tone::Critical,
        Some(r) if r < WARNING_HIT_RATIO => Tone::Warning,
        _ => Tone::Plain,
    };
    Text {
        tone,
        ..number(format_ratio(r))
    }
}

fn size(bytes: Option<u64>) -> Text {
    number(bytes.map_or_else(|| "—".to_owned(), format_bytes_human))
}

/// One section of the report, independent of the output format.
struct Section {
    title: &'static str,
    /// One line under the title (what is shown, of how many).
    caption: Option<String>,
    header: Vec<&'static str>,
    rows: Vec<Vec<Text>>,
    /// Shown instead of an empty table.
    empty: &'static str,
    /// One line after the table.
    footer: Option<String>,
    /// The column of sentences (findings, reasons), which wraps first, even when the width
    /// is unknown.
    prose: Option<usize>,
    /// Lines after the table, one item each (the query texts of the queries section).
    lines: Vec<String>,
}

impl Section {
    fn new(title: &'static str, header: Vec<&'static str>, rows: Vec<Vec<Text>>) -> Section {
        Section {
            title,
            caption: None,
            header,
            rows,
            empty: "none",
            footer: None,
            prose: None,
            lines: Vec::new(),
        }
    }
}

fn server(report: &Report) -> Section {
    let s = &report.server;
    let age = approx_duration(s.stats_age_seconds);
    let mut window = plain(match s.stats_since {
        StatsSince::StatsReset => format!("{age} since database {}'s statistics reset", s.database),
        StatsSince::ServerStart => format!(
            "{age} since server start; database {} never reset (counters may be older)",
            s.database
        ),
    });
    if s.young {
        window
            .text
            .push_str("; young: ratios are not yet meaningful");
        window.tone = Tone::Warning;
    }
    let rows = vec![
        vec![plain("PostgreSQL"), plain(&s.version)],
        vec![plain("Database"), plain(&s.database)],
        vec![plain("User"), plain(&s.user)],
        vec![plain("Uptime"), plain(approx_duration(s.uptime_seconds))],
        vec![plain("Statistics"), window],
        vec![plain("Blocks touched"), plain(format_count(s.blocks_total))],
        vec![
            plain("Data size"),
            plain(
                s.total_data_bytes
                    .map_or_else(|| "unknown".to_owned(), format_bytes_human),
            ),
        ],
    ];
    Section::new("Server", vec!["Fact", "Value"], rows)
}

fn host(report: &Report) -> Section {
    let h = &report.host;
    let mut rows = vec![
        vec![
            plain("RAM"),
            plain(
                h.ram_bytes
                    .map_or_else(|| "unknown".to_owned(), format_bytes_human),
            ),
        ],
        vec![
            plain("CPUs"),
            plain(
                h.cpus
                    .map_or_else(|| "unknown".to_owned(), |c| c.to_string()),
            ),
        ],
        vec![plain("Source"), plain(&h.source)],
        vec![
            plain("Profile"),
            plain(format!("{} on {}, {}", h.profile, h.storage, h.os)),
        ],
    ];
    if let Some(note) = &h.note {
        rows.push(vec![
            plain("Note"),
            Text {
                tone: Tone::Warning,
                ..plain(note)
            },
        ]);
    }
    Section::new("Host", vec!["Fact", "Value"], rows)
}

fn databases(report: &Report) -> Section {
    let rows = report
        .databases
        .iter()
        .map(|d| {
            vec![
                plain(&d.name),
                ratio(d.hit_ratio),
                number(format_count(d.blks_hit)),
                number(format_count(d.blks_read)),
                size(d.size_bytes),
                counters_since(d),
            ]
        })
        .collect();
    Section {
        caption: Some("worst hit ratio first; each over its own statistics window".to_owned()),
        ..Section::new(
            "Databases",
            vec![
                "Database",
                "Hit ratio",
                "Blocks hit",
                "Blocks read",
                "Size",
                "Counters since",
            ],
            rows,
        )
    }
}

/// A database row's own window: "reset 3d ago", "reset 10min ago (young)", "never reset".
fn counters_since(d: &DatabaseRow) -> Text {
    match d.stats_age_seconds {
        Some(age) if d.young => Text {
            tone: Tone::Warning,
            ..plain(format!("reset {} ago (young)", approx_duration(age)))
        },
        Some(age) => plain(format!("reset {} ago", approx_duration(age))),
        None => plain("never reset"),
    }
}

/// "6 of 9 with ≥ 1,000 blocks touched, worst … first; schema billing.; excluding ~tmp".
fn relation_caption(report: &Report, shown: usize, matched: usize, order: &str) -> String {
    let sc = &report.scope;
    let mut caption = format!(
        "{shown} of {matched} with ≥ {} blocks touched, worst {order} first",
        format_count(sc.min_blocks)
    );
    if !sc.schema.is_empty() {
        caption.push_str(&format!("; schema {}", sc.schema.join(", ")));
    }
    if !sc.exclude.is_empty() {
        caption.push_str(&format!("; excluding {}", sc.exclude.join(", ")));
    }
    if !sc.visited_databases.is_empty() {
        caption.push_str(&format!("; databases {}", sc.visited_databases.join(", ")));
    }
    caption
}

fn tables(report: &Report) -> Section {
    let rows = report
        .tables
        .iter()
        .map(|t| {
            vec![
                plain(&t.database),
                plain(format!("{}.{}", t.schema, t.name)),
                ratio(t.heap_hit_ratio),
                ratio(t.idx_hit_ratio),
                ratio(t.toast_hit_ratio),
                ratio(t.toast_idx_hit_ratio),
                number(format_count(t.heap_blks_read)),
                size(t.size_bytes),
            ]
        })
        .collect();
    Section {
        caption: Some(relation_caption(
            report,
            report.tables.len(),
            report.scope.tables_matched,
            "heap hit ratio",
        )),
        ..Section::new(
            "Tables",
            vec![
                "Database",
                "Table",
                "Heap hit",
                "Index hit",
                "TOAST hit",
                "TOAST idx hit",
                "Heap blocks read",
                "Size",
            ],
            rows,
        )
    }
}

fn indexes(report: &Report) -> Section {
    let rows = report
        .indexes
        .iter()
        .map(|i| {
            vec![
                plain(&i.database),
                plain(format!("{}.{}", i.schema, i.name)),
                plain(&i.table),
                ratio(i.hit_ratio),
                number(format_count(i.idx_blks_read)),
                size(i.size_bytes),
            ]
        })
        .collect();
    Section {
        caption: Some(relation_caption(
            report,
            report.indexes.len(),
            report.scope.indexes_matched,
            "hit ratio",
        )),
        ..Section::new(
            "Indexes",
            vec![
                "Database",
                "Index",
                "Table",
                "Hit ratio",
                "Blocks read",
                "Size",
            ],
            rows,
        )
    }
}

/// `file:line` when the role may see it, else `pg_settings.source`.
fn setting_source(s: &SettingRow) -> String {
    match (&s.sourcefile, s.sourceline) {
        (Some(file), Some(line)) => format!("{file}:{line}"),
        (Some(file), None) => file.clone(),
        _ => s.source.clone().unwrap_or_else(|| "—".to_owned()),
    }
}

/// What applying a setting's change takes: "restart", "reload", or "pending restart" when
/// the server already waits for one.
fn change_takes(s: &SettingRow) -> &'static str {
    match (s.restart_required, s.pending_restart) {
        (_, true) => "pending restart",
        (true, false) => "restart",
        (false, false) => "reload",
    }
}

fn settings(report: &Report) -> Section {
    let differ: Vec<&SettingRow> = report
        .settings
        .iter()
        .filter(|s| s.status == SettingStatus::Differs)
        .collect();
    let rows = differ
        .iter()
        .map(|s| {
            let restart = change_takes(s);
            vec![
                plain(&s.name),
                plain(s.live.clone().unwrap_or_else(|| "—".to_owned())),
                plain(&s.recommended),
                plain(restart),
                plain(setting_source(s)),
                plain(&s.reason),
            ]
        })
        .collect();
    let not_compared: Vec<String> = report
        .settings
        .iter()
        .filter_map(|s| {
            let why = match s.status {
                SettingStatus::Missing => "not on this server",
                SettingStatus::Auto => "automatic",
                SettingStatus::Unknown => "not understood",
                SettingStatus::Equal | SettingStatus::Differs => return None,
            };
            Some(format!("{} ({why})", s.name))
        })
        .collect();
    Section {
        caption: Some(format!(
            "{} of {} compared settings differ from the recommendation for this host",
            differ.len(),
            report.settings.len()
        )),
        empty: "none differ",
        footer: (!not_compared.is_empty())
            .then(|| format!("Not compared: {}", not_compared.join(", "))),
        prose: Some(5),
        ..Section::new(
            "Settings that differ",
            vec![
                "Setting",
                "Live",
                "Recommended",
                "Change takes",
                "Source",
                "Why",
            ],
            rows,
        )
    }
}

fn findings(report: &Report) -> Section {
    let rows = report
        .findings
        .iter()
        .map(|f| {
            let tone = match f.severity {
                Severity::Critical => Tone::Critical,
                Severity::Warning => Tone::Warning,
                Severity::Info => Tone::Info,
            };
            vec![
                Text {
                    tone,
                    ..plain(f.severity.as_str().to_uppercase())
                },
                plain(&f.message),
            ]
        })
        .collect();
    Section {
        prose: Some(1),
        ..Section::new("Findings", vec!["Severity", "Finding"], rows)
    }
}

fn sections(report: &Report) -> Vec<Section> {
    vec![
        server(report),
        host(report),
        databases(report),
        tables(report),
        indexes(report),
    ]
    .into_iter()
    .chain(cache::sections(report))
    .chain(
        report
            .queries
            .as_ref()
            .map_or_else(Vec::new, queries::sections),
    )
    .chain([settings(report), findings(report)])
    .collect()
}

fn styled(t: &Text, color: bool) -> Cell {
    let mut cell = Cell::new(sanitize(&t.text));
    if t.right {
        cell = cell.set_alignment(CellAlignment::Right);
    }
    if color {
        cell = match t.tone {
            Tone::Plain => cell,
            Tone::Critical => cell.fg(Color::Red),
            Tone::Warning => cell.fg(Color::Yellow),
            Tone::Info => cell.fg(Color::Cyan),
        };
    }
    cell
}

/// The report as terminal tables, one per section, with colour only when `color` is true,
/// fitted to a terminal `width` columns wide (`None`: unknown, see [`super::layout`]).
pub fn table(report: &Report, color: bool, width: Option<u16>) -> String {
    sections_table(sections(report), &report.notes, color, width)
}

/// Sections as terminal tables, then the notes.
fn sections_table(
    sections: Vec<Section>,
    notes: &[String],
    color: bool,
    width: Option<u16>,
) -> String {
    let mut out = String::new();
    for section in sections {
        let heading = match &section.caption {
            Some(caption) => format!("{} ({})", section.title, sanitize(caption)),
            None => section.title.to_owned(),
        };
        out.push_str(&layout::wrap(&heading, width, "  "));
        out.push('\n');
        if section.rows.is_empty() {
            out.push_str(&format!("  {}\n", section.empty));
        } else {
            let mut t = layout::table(width);
            if color {
                t.enforce_styling();
            }
            t.set_header(section.header.iter().map(|h| Cell::new(*h)));
            for row in &section.rows {
                t.add_row(row.iter().map(|c| styled(c, color)));
            }
            if let Some(column) = section.prose {
                layout::prose_column(&mut t, column, width);
            }
            out.push_str(&t.to_string());
            out.push('\n');
        }
        for line in &section.lines {
            out.push_str(&layout::wrap(
                &format!("  {}", sanitize(line)),
                width,
                "    ",
            ));
            out.push('\n');
        }
        if let Some(footer) = &section.footer {
            out.push_str(&layout::wrap(&sanitize(footer), width, "  "));
            out.push('\n');
        }
        out.push('\n');
    }
    if !notes.is_empty() {
        out.push_str("Notes\n");
        for note in notes {
            let note = format!("  - {}", sanitize(note));
            out.push_str(&layout::wrap(&note, width, "    "));
            out.push('\n');
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// The report as GitHub-flavoured Markdown (headings, tables, lists), for pull-request
/// comments. Every cell is escaped, so names cannot break the table or inject markup.
pub fn markdown(report: &Report) -> String {
    sections_markdown("pgcache-tune report", sections(report), &report.notes)
}

/// Sections as Markdown under a `title` heading, then the notes.
fn sections_markdown(title: &str, sections: Vec<Section>, notes: &[String]) -> String {
    let md = |s: &str| sanitize::markdown(s).into_owned();
    let mut out = format!("## {title}\n");
    for section in sections {
        out.push_str(&format!("\n### {}\n\n", section.title));
        if let Some(caption) = &section.caption {
            out.push_str(&format!("_{}_\n\n", md(caption)));
        }
        if section.rows.is_empty() {
            out.push_str(&format!("{}\n", section.empty));
        } else {
            out.push_str(&format!("| {} |\n", section.header.join(" | ")));
            let align: Vec<&str> = section.rows[0]
                .iter()
                .map(|c| if c.right { "---:" } else { "---" })
                .collect();
            out.push_str(&format!("|{}|\n", align.join("|")));
            for row in &section.rows {
                let cells: Vec<String> = row.iter().map(|c| md(&c.text)).collect();
                out.push_str(&format!("| {} |\n", cells.join(" | ")));
            }
        }
        if !section.lines.is_empty() {
            out.push('\n');
            for line in &section.lines {
                out.push_str(&format!("- {}\n", md(line)));
            }
        }
        if let Some(footer) = &section.footer {
            out.push_str(&format!("\n{}\n", md(footer)));
        }
    }
    if !notes.is_empty() {
        out.push_str("\n### Notes\n\n");
        for note in notes {
            out.push_str(&format!("- {}\n", md(note)));
        }
    }
    out
}

/// The report as pretty JSON with a trailing newline. Names are raw (serde escapes control
/// characters); the schema is documented on `diag::report::Report`.
pub fn json(report: &Report) -> String {
    // Every map key is a string and no type has a fallible Serialize, so this cannot fail.
    let mut text = serde_json::to_string_pretty(report).expect("a Report always serialises");
    text.push('\n');
    text
}

/// The report and the Redis caches in front of the server (`report --redis URL`): the
/// PostgreSQL document as `json` gives it, with `redis[]` (each as `redis report` gives it)
/// when there are any, so one document holds both layers.
pub fn json_with_redis(report: &Report, redis: &[crate::diag::redis::RedisReport]) -> String {
    if redis.is_empty() {
        return json(report);
    }
    #[derive(serde::Serialize)]
    struct Both<'a> {
        #[serde(flatten)]
        postgres: &'a Report,
        redis: &'a [crate::diag::redis::RedisReport],
    }
    let both = Both {
        postgres: report,
        redis,
    };
    // As in `json`: nothing here has a fallible Serialize.
    let mut text = serde_json::to_string_pretty(&both).expect("a Report always serialises");
    text.push('\n');
    text
}

#[path = "report_cache.rs"]
mod cache;
#[path = "html.rs"]
pub mod html;
#[path = "report_queries.rs"]
pub mod queries;

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
