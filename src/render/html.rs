//! `report --format html` and `queries --format html`: one self-contained page to attach to
//! a ticket or open from disk. Inline CSS and inline SVG only — no fonts, no CDN, no
//! script: a Content-Security-Policy in the page forbids every script and every external
//! load, so even a name that slipped through escaping could not run. Light and dark follow
//! `prefers-color-scheme`; `@media print` prints black on white without cutting rows.
//!
//! The tables are the same neutral sections the terminal and Markdown formats show (one
//! source of content); the charts (`super::super::svg`) are drawn from the same `Report`
//! fields the JSON holds, never recomputed, and each bar carries that value in `data-value`.
//! Every server-provided string goes through [`sanitize::html`], which also makes terminal
//! controls visible as in the other formats.

use std::fmt::Write as _;

use super::super::sanitize;
use super::super::svg::{Attrs, Bar, BarChart, Threshold, bar_chart};
use super::{Section, Tone, change_takes, host, server};
use crate::diag::buffers::BuffersSection;
use crate::diag::queries::QueriesReport;
use crate::diag::text::{format_count, format_ratio, whole_percent};
use crate::diag::{CRITICAL_HIT_RATIO, Report, SettingStatus, Severity, WARNING_HIT_RATIO};

/// Sections drawn by this module rather than as a plain table.
const OWN_SECTIONS: &[&str] = &["Server", "Host", "Settings that differ", "Findings"];

fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    sanitize::html(s)
}

/// The CSS class of a tone.
fn tone_class(t: Tone) -> &'static str {
    match t {
        Tone::Plain => "",
        Tone::Critical => "critical",
        Tone::Warning => "warning",
        Tone::Info => "info",
    }
}

/// The tone of a hit ratio, by the report's thresholds.
fn ratio_tone(r: Option<f64>) -> &'static str {
    match r {
        None => "none",
        Some(r) if r < CRITICAL_HIT_RATIO => "critical",
        Some(r) if r < WARNING_HIT_RATIO => "warning",
        Some(_) => "ok",
    }
}

/// A ratio as `data-value` text, written by the JSON writer so the text is the JSON's own
/// (`0.0`, `0.9931`, `null`).
fn value(v: Option<f64>) -> String {
    serde_json::to_string(&v).unwrap_or_else(|_| "null".to_owned())
}

/// The left end of the hit-ratio axis: ratios crowd near 100%, so the axis starts at the
/// lowest ratio shown (and at most 80%, so both threshold lines are visible), in steps of
/// ten points.
fn ratio_axis_start(ratios: impl Iterator<Item = f64>) -> f64 {
    let lowest = ratios.fold(0.8_f64, f64::min).max(0.0);
    (lowest * 10.0).floor() / 10.0
}

/// A hit-ratio bar chart with the warning and critical lines.
fn hit_chart(id: &'static str, title: String, rows: Vec<(String, Option<f64>, Attrs)>) -> BarChart {
    let lo = ratio_axis_start(rows.iter().filter_map(|r| r.1));
    let at = |r: f64| (r - lo) / (1.0 - lo);
    let bars = rows
        .into_iter()
        .map(|(name, r, attrs)| Bar {
            name,
            value: value(r),
            label: r.map_or_else(|| "no I/O".to_owned(), |r| format_ratio(Some(r))),
            length: r.map_or(0.0, at),
            tone: ratio_tone(r),
            attrs,
        })
        .collect();
    let thresholds = [
        (CRITICAL_HIT_RATIO, "critical"),
        (WARNING_HIT_RATIO, "warning"),
    ]
    .into_iter()
    .map(|(t, tone)| Threshold {
        at: at(t),
        value: t,
        label: format!("{} {tone}", whole_percent(t)),
        tone,
    })
    .collect();
    BarChart {
        id,
        title,
        bars,
        thresholds,
        axis: (whole_percent(lo), "100%".to_owned()),
    }
}

fn databases_chart(report: &Report) -> BarChart {
    let rows = report
        .databases
        .iter()
        .map(|d| (d.name.clone(), d.hit_ratio, Vec::new()))
        .collect();
    hit_chart(
        "chart-database-hit",
        "Hit ratio per database".to_owned(),
        rows,
    )
}

fn tables_chart(report: &Report) -> BarChart {
    let rows = report
        .tables
        .iter()
        .map(|t| {
            (
                format!("{}.{}", t.schema, t.name),
                t.heap_hit_ratio,
                vec![("database", t.database.clone())],
            )
        })
        .collect();
    hit_chart(
        "chart-table-hit",
        "Heap hit ratio per table".to_owned(),
        rows,
    )
}

/// Who causes the misses: each table's heap blocks read, as a share of those of all the
/// tables listed (the bar's `data-value` is the JSON's `heap_blks_read`).
fn reads_chart(report: &Report) -> BarChart {
    let total: i64 = report
        .tables
        .iter()
        .map(|t| t.heap_blks_read.max(0))
        .fold(0, i64::saturating_add);
    #[allow(clippy::cast_precision_loss)]
    let share = |n: i64| (total > 0).then(|| n.max(0) as f64 / total as f64);
    let bars = report
        .tables
        .iter()
        .map(|t| Bar {
            name: format!("{}.{}", t.schema, t.name),
            value: t.heap_blks_read.to_string(),
            label: format!(
                "{} ({} {})",
                format_ratio(share(t.heap_blks_read)),
                format_count(t.heap_blks_read),
                if t.heap_blks_read == 1 {
                    "block"
                } else {
                    "blocks"
                }
            ),
            length: share(t.heap_blks_read).unwrap_or(0.0),
            tone: "neutral",
            attrs: vec![("database", t.database.clone())],
        })
        .collect();
    BarChart {
        id: "chart-table-reads",
        title: "Share of heap blocks read per table".to_owned(),
        bars,
        thresholds: Vec::new(),
        axis: (
            "0%".to_owned(),
            "100% of the listed tables' reads".to_owned(),
        ),
    }
}

fn usage_chart(b: &BuffersSection) -> BarChart {
    let bars = b
        .usage_counts
        .iter()
        .map(|u| Bar {
            name: format!("usage count {}", u.usage_count),
            value: u.buffers.to_string(),
            label: format!("{} ({})", format_count(u.buffers), format_ratio(u.share)),
            length: u.share.unwrap_or(0.0),
            tone: "neutral",
            attrs: Vec::new(),
        })
        .collect();
    BarChart {
        id: "chart-buffer-usage",
        title: "Buffers per usage count".to_owned(),
        bars,
        thresholds: Vec::new(),
        axis: ("0%".to_owned(), "100% of shared_buffers".to_owned()),
    }
}

fn buffer_relations_chart(b: &BuffersSection) -> Option<BarChart> {
    let bars = b
        .relations
        .as_ref()?
        .iter()
        .map(|r| Bar {
            name: format!("{}.{}", r.schema, r.name),
            value: value(r.share_of_cache),
            label: format_ratio(r.share_of_cache),
            length: r.share_of_cache.unwrap_or(0.0),
            tone: "neutral",
            attrs: vec![("kind", r.kind.clone())],
        })
        .collect();
    Some(BarChart {
        id: "chart-buffer-relations",
        title: "Share of shared_buffers per relation".to_owned(),
        bars,
        thresholds: Vec::new(),
        axis: ("0%".to_owned(), "100% of shared_buffers".to_owned()),
    })
}

fn queries_chart(q: &QueriesReport) -> BarChart {
    let bars = q
        .queries
        .iter()
        .enumerate()
        .map(|(i, r)| Bar {
            name: format!("#{} queryid {}", i + 1, r.queryid),
            value: value(r.read_share),
            label: format_ratio(r.read_share),
            length: r.read_share.unwrap_or(0.0),
            tone: "neutral",
            attrs: vec![("queryid", r.queryid.to_string())],
        })
        .collect();
    BarChart {
        id: "chart-query-reads",
        title: "Share of shared blocks read per statement".to_owned(),
        bars,
        thresholds: Vec::new(),
        axis: ("0%".to_owned(), "100% of all statements' reads".to_owned()),
    }
}

/// The charts drawn above the section titled `title`; empty charts are left out.
fn charts_for(title: &str, report: &Report) -> Vec<BarChart> {
    let buffers = report.buffers.as_ref();
    match title {
        "Databases" if !report.databases.is_empty() => vec![databases_chart(report)],
        "Tables" if !report.tables.is_empty() => {
            vec![tables_chart(report), reads_chart(report)]
        }
        "Buffer usage counts" => buffers
            .filter(|b| !b.usage_counts.is_empty())
            .map(usage_chart)
            .into_iter()
            .collect(),
        "Buffers by relation" => buffers
            .and_then(buffer_relations_chart)
            .into_iter()
            .collect(),
        "Queries" => queries_charts(report.queries.as_ref()),
        _ => Vec::new(),
    }
}

fn queries_charts(q: Option<&QueriesReport>) -> Vec<BarChart> {
    q.filter(|q| !q.queries.is_empty())
        .map(queries_chart)
        .into_iter()
        .collect()
}

/// `title` as an `id`: lowercase letters and digits, dashes between.
fn slug(title: &str) -> String {
    let mut s = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').to_owned()
}

/// One neutral section as a `<section>` with its charts first, then its table.
fn section_html(out: &mut String, s: &Section, charts: &[BarChart]) {
    let _ = write!(
        out,
        r#"<section id="{}"><h2>{}</h2>"#,
        slug(s.title),
        esc(s.title)
    );
    if let Some(c) = &s.caption {
        let _ = write!(out, r#"<p class="caption">{}</p>"#, esc(c));
    }
    for chart in charts {
        let _ = write!(
            out,
            r#"<figure><figcaption>{}</figcaption>{}</figure>"#,
            esc(&chart.title),
            bar_chart(chart)
        );
    }
    if s.rows.is_empty() {
        let _ = write!(out, r#"<p class="empty">{}</p>"#, esc(s.empty));
    } else {
        out.push_str("<div class=\"scroll\"><table><thead><tr>");
        for h in &s.header {
            let _ = write!(out, "<th>{}</th>", esc(h));
        }
        out.push_str("</tr></thead><tbody>");
        for row in &s.rows {
            out.push_str("<tr>");
            for (i, c) in row.iter().enumerate() {
                let mut class = vec![tone_class(c.tone)];
                if c.right {
                    class.push("num");
                }
                if s.prose == Some(i) {
                    class.push("prose");
                }
                class.retain(|c| !c.is_empty());
                if class.is_empty() {
                    let _ = write!(out, "<td>{}</td>", esc(&c.text));
                } else {
                    let _ = write!(
                        out,
                        r#"<td class="{}">{}</td>"#,
                        class.join(" "),
                        esc(&c.text)
                    );
                }
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table></div>");
    }
    if !s.lines.is_empty() {
        out.push_str("<ol class=\"lines\">");
        for line in &s.lines {
            let _ = write!(out, "<li><code>{}</code></li>", esc(line));
        }
        out.push_str("</ol>");
    }
    if let Some(f) = &s.footer {
        let _ = write!(out, r#"<p class="footer">{}</p>"#, esc(f));
    }
    out.push_str("</section>");
}

/// A two-column section (Server, Host) as a definition list.
fn facts_html(out: &mut String, s: &Section) {
    let _ = write!(out, r#"<dl id="{}">"#, slug(s.title));
    for row in &s.rows {
        if let [k, v, ..] = row.as_slice() {
            let class = tone_class(v.tone);
            let _ = write!(
                out,
                r#"<div><dt>{}</dt><dd class="{class}">{}</dd></div>"#,
                esc(&k.text),
                esc(&v.text)
            );
        }
    }
    out.push_str("</dl>");
}

/// Every compared setting: live → recommended, with what the change takes.
fn settings_html(out: &mut String, report: &Report) {
    let differ = report
        .settings
        .iter()
        .filter(|s| s.status == SettingStatus::Differs)
        .count();
    let _ = write!(
        out,
        r#"<section id="settings"><h2>Settings</h2><p class="caption">{differ} of {} compared settings differ from the recommendation for this host</p>"#,
        report.settings.len()
    );
    if report.settings.is_empty() {
        out.push_str(r#"<p class="empty">none compared</p></section>"#);
        return;
    }
    out.push_str(r#"<div class="scroll"><table id="settings-diff"><thead><tr><th>Setting</th><th>Live</th><th></th><th>Recommended</th><th>Change takes</th><th>Why</th></tr></thead><tbody>"#);
    for s in &report.settings {
        let status = match s.status {
            SettingStatus::Equal => "equal",
            SettingStatus::Differs => "differs",
            SettingStatus::Missing => "missing",
            SettingStatus::Auto => "auto",
            SettingStatus::Unknown => "unknown",
        };
        let takes = change_takes(s);
        let live = s.live.as_deref().unwrap_or("—");
        let arrow = if s.status == SettingStatus::Differs {
            "→"
        } else {
            "="
        };
        let badge = if s.status == SettingStatus::Differs {
            format!(
                r#"<span class="badge {}">{takes}</span>"#,
                takes.replace(' ', "-")
            )
        } else {
            format!(r#"<span class="muted">{status}</span>"#)
        };
        let mut why = esc(&s.reason).into_owned();
        if let Some(note) = &s.note {
            let _ = write!(why, r#" <span class="muted">({})</span>"#, esc(note));
        }
        let _ = write!(
            out,
            r#"<tr class="setting {status}" data-name="{name}" data-status="{status}" data-live="{live_attr}" data-recommended="{rec}" data-change="{takes}"><td><code>{name}</code></td><td class="live">{live_text}</td><td class="arrow">{arrow}</td><td class="recommended">{rec}</td><td>{badge}</td><td class="prose">{why}</td></tr>"#,
            name = esc(&s.name),
            live_attr = esc(s.live.as_deref().unwrap_or("null")),
            live_text = esc(live),
            rec = esc(&s.recommended),
        );
    }
    out.push_str("</tbody></table></div></section>");
}

/// The findings, most severe first, each with its severity's colour.
fn findings_html(out: &mut String, report: &Report) {
    out.push_str(r#"<section id="findings"><h2>Findings</h2>"#);
    if report.findings.is_empty() {
        out.push_str(r#"<p class="empty">none</p></section>"#);
        return;
    }
    out.push_str(r#"<ul class="findings">"#);
    for f in &report.findings {
        let sev = f.severity.as_str();
        let _ = write!(
            out,
            r#"<li class="finding {sev}" data-severity="{sev}" data-code="{code}"><span class="badge {sev}">{sev}</span> {msg}</li>"#,
            code = esc(&f.code),
            msg = esc(&f.message),
        );
    }
    out.push_str("</ul></section>");
}

/// Counts of findings by severity, as badges under the title.
fn summary_html(out: &mut String, report: &Report) {
    out.push_str(r#"<p class="summary">"#);
    for sev in [Severity::Critical, Severity::Warning, Severity::Info] {
        let n = report.findings.iter().filter(|f| f.severity == sev).count();
        let _ = write!(
            out,
            r##"<a class="badge {s}" href="#findings" data-severity="{s}" data-count="{n}">{n} {s}</a> "##,
            s = sev.as_str()
        );
    }
    out.push_str("</p>");
}

fn notes_html(out: &mut String, notes: &[String]) {
    if notes.is_empty() {
        return;
    }
    out.push_str(r#"<section id="notes"><h2>Notes</h2><ul>"#);
    for n in notes {
        let _ = write!(out, "<li>{}</li>", esc(n));
    }
    out.push_str("</ul></section>");
}

/// The page around a `body`.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"pgcache-tune {version}\">\n\
         <title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n",
        version = env!("CARGO_PKG_VERSION"),
        title = esc(title),
    )
}

/// The report as one self-contained HTML page.
pub fn report(report: &Report) -> String {
    let s = &report.server;
    let mut body = String::from("<header>");
    let _ = write!(
        body,
        r#"<h1>pgcache-tune report</h1><p class="identity">PostgreSQL {} · database <b>{}</b> · user {}</p>"#,
        esc(&s.version),
        esc(&s.database),
        esc(&s.user)
    );
    summary_html(&mut body, report);
    facts_html(&mut body, &server(report));
    facts_html(&mut body, &host(report));
    body.push_str("</header><main>");
    for section in super::sections(report) {
        if OWN_SECTIONS.contains(&section.title) {
            continue;
        }
        section_html(&mut body, &section, &charts_for(section.title, report));
    }
    settings_html(&mut body, report);
    findings_html(&mut body, report);
    notes_html(&mut body, &report.notes);
    body.push_str("</main>");
    page(
        &format!("pgcache-tune report: {} ({})", s.database, s.version),
        &body,
    )
}

/// `queries` as one self-contained HTML page.
pub fn queries(q: &QueriesReport) -> String {
    let mut body = String::from("<header>");
    let _ = write!(
        body,
        r#"<h1>pgcache-tune queries</h1><p class="identity">{}</p></header><main>"#,
        esc(&super::queries::window_text(&q.window))
    );
    for section in super::queries::sections(q) {
        let charts = if section.title == "Queries" {
            queries_charts(Some(q))
        } else {
            Vec::new()
        };
        section_html(&mut body, &section, &charts);
    }
    notes_html(&mut body, &q.notes);
    body.push_str("</main>");
    page("pgcache-tune queries", &body)
}

/// The stylesheet: light by default, dark when the reader's system asks, black on white in
/// print whatever the screen's scheme (the print block comes last and sets every colour). Colours are custom properties so the SVG classes follow the scheme too.
const CSS: &str = r#"
:root{--bg:#fff;--fg:#1b1f24;--muted:#59636e;--line:#d1d9e0;--track:#eef1f4;--ok:#1a7f37;--warning:#b35900;--critical:#cf222e;--info:#0969da;--neutral:#57606a;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--track:#212830;--ok:#3fb950;--warning:#d29922;--critical:#f85149;--info:#4493f8;--neutral:#8b949e}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1180px;padding:1.5rem;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
h1{font-size:1.6rem;margin:0 0 .3rem}h2{font-size:1.2rem;margin:2rem 0 .4rem;border-bottom:1px solid var(--line);padding-bottom:.2rem}
.identity{margin:0 0 .6rem;color:var(--muted)}
dl{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:.2rem 1.5rem;margin:.6rem 0}
dl div{display:flex;gap:.6rem}dt{color:var(--muted);min-width:7.5rem}dd{margin:0}
.caption,.footer,.muted,.empty{color:var(--muted)}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{border-bottom:1px solid var(--line);padding:.25rem .5rem;text-align:left;vertical-align:top}
th{font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.critical,dd.critical,.finding.critical{color:var(--critical)}td.warning,dd.warning,.finding.warning{color:var(--warning)}td.info{color:var(--info)}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em;overflow-wrap:anywhere}
ol.lines li{margin:.15rem 0}
.badge{display:inline-block;border-radius:1em;padding:0 .6em;font-size:.85em;font-weight:600;color:#fff;background:var(--neutral);text-decoration:none;text-transform:lowercase}
.badge.critical{background:var(--critical)}.badge.warning{background:var(--warning)}.badge.info{background:var(--info)}
.badge.restart,.badge.pending-restart{background:var(--warning)}.badge.reload{background:var(--ok)}
ul.findings{list-style:none;padding:0}.finding{margin:.3rem 0}.finding .badge{min-width:5.5em;text-align:center}.finding.info{color:var(--fg)}
tr.setting.differs td.recommended{font-weight:600}tr.setting.differs td.live{text-decoration:line-through;color:var(--muted)}td.arrow{color:var(--muted)}
figure{margin:.8rem 0}figcaption{font-weight:600;margin-bottom:.2rem}
svg.chart{max-width:100%;height:auto;font:12px system-ui,sans-serif}
svg.chart text{fill:var(--fg)}svg.chart .value,svg.chart .axis text{fill:var(--muted)}
svg.chart .track{fill:var(--track)}
.bar.ok .fill{fill:var(--ok)}.bar.warning .fill{fill:var(--warning)}.bar.critical .fill{fill:var(--critical)}.bar.neutral .fill{fill:var(--info)}.bar.none .fill{fill:none}
.threshold line{stroke-width:1.5;stroke-dasharray:4 3}.threshold.warning line{stroke:var(--warning)}.threshold.critical line{stroke:var(--critical)}
.threshold text{font-size:11px}.threshold.warning text{fill:var(--warning)}.threshold.critical text{fill:var(--critical)}
@media print{:root{--bg:#fff;--fg:#000;--muted:#444;--line:#bbb;--track:#eee;--ok:#1a7f37;--warning:#b35900;--critical:#cf222e;--info:#0969da;--neutral:#57606a;color-scheme:light}body{max-width:none;padding:0;font-size:11px}section,figure,tr{break-inside:avoid}h2{break-after:avoid}.scroll{overflow:visible}a{color:inherit}}
"#;

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
