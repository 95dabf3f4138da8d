//! Tests of the HTML page: one bar per row with the report's value, the threshold lines,
//! escaping of every server-provided name, and self-containment (no external load, no
//! script). The browser-level checks are in tests/html_live.rs.

use super::*;
use crate::diag::testdata::{self, EVIL_NAME};
use crate::diag::{DiagOptions, diagnose};

fn report() -> Report {
    diagnose(
        &testdata::snapshot(),
        &testdata::host_16g(),
        &DiagOptions::default(),
    )
}

/// The `<svg id="{id}">…</svg>` element of the page.
fn chart<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!(r#"<svg class="chart" id="{id}""#))
        .unwrap_or_else(|| panic!("no chart {id}"));
    let end = start + page[start..].find("</svg>").expect("closed svg");
    &page[start..end]
}

/// The `data-value`s of the chart's bars, in order.
fn values(svg: &str) -> Vec<String> {
    svg.split(r#"<g class="bar "#)
        .skip(1)
        .map(|g| {
            let v = g.split(r#"data-value=""#).nth(1).expect("data-value");
            v[..v.find('"').expect("closed")].to_owned()
        })
        .collect()
}

fn as_f64(v: &str) -> Option<f64> {
    (v != "null").then(|| v.parse().expect("a number"))
}

#[test]
fn one_bar_per_database_and_table_with_the_json_values() {
    let r = report();
    assert!(!r.databases.is_empty() && !r.tables.is_empty());
    let page = super::report(&r);
    let db = values(chart(&page, "chart-database-hit"));
    assert_eq!(db.len(), r.databases.len());
    for (v, d) in db.iter().zip(&r.databases) {
        assert_eq!(as_f64(v), d.hit_ratio, "{}", d.name);
    }
    let tables = values(chart(&page, "chart-table-hit"));
    assert_eq!(tables.len(), r.tables.len());
    for (v, t) in tables.iter().zip(&r.tables) {
        assert_eq!(as_f64(v), t.heap_hit_ratio, "{}", t.name);
    }
    let reads = values(chart(&page, "chart-table-reads"));
    let expected: Vec<String> = r
        .tables
        .iter()
        .map(|t| t.heap_blks_read.to_string())
        .collect();
    assert_eq!(reads, expected);
}

#[test]
fn hit_charts_draw_the_warning_and_critical_lines() {
    let page = super::report(&report());
    for id in ["chart-database-hit", "chart-table-hit"] {
        let svg = chart(&page, id);
        assert!(
            svg.contains(&format!(
                r#"<g class="threshold critical" data-threshold="{CRITICAL_HIT_RATIO}">"#
            )),
            "{id}"
        );
        assert!(
            svg.contains(&format!(
                r#"<g class="threshold warning" data-threshold="{WARNING_HIT_RATIO}">"#
            )),
            "{id}"
        );
    }
    // The share-of-reads chart has no thresholds: a share is not a verdict.
    assert!(!chart(&page, "chart-table-reads").contains("threshold"));
}

#[test]
fn the_axis_starts_low_enough_to_show_both_lines_and_every_ratio() {
    assert_eq!(ratio_axis_start([0.999, 0.995].into_iter()), 0.8);
    assert_eq!(ratio_axis_start([0.999, 0.42].into_iter()), 0.4);
    assert_eq!(ratio_axis_start(std::iter::empty()), 0.8);
    assert_eq!(ratio_axis_start([0.0].into_iter()), 0.0);
}

#[test]
fn bars_are_coloured_by_the_report_thresholds() {
    assert_eq!(ratio_tone(Some(0.5)), "critical");
    assert_eq!(ratio_tone(Some(CRITICAL_HIT_RATIO)), "warning");
    assert_eq!(ratio_tone(Some(WARNING_HIT_RATIO)), "ok");
    assert_eq!(ratio_tone(None), "none");
}

#[test]
fn settings_and_findings_carry_their_attributes() {
    let r = report();
    let page = super::report(&r);
    assert_eq!(
        page.matches(r#"<tr class="setting "#).count(),
        r.settings.len()
    );
    let differs = r
        .settings
        .iter()
        .find(|s| s.status == SettingStatus::Differs)
        .expect("the test snapshot has a setting to change");
    assert!(page.contains(&format!(
        r#"data-name="{}" data-status="differs" data-live="{}" data-recommended="{}" data-change="{}""#,
        differs.name,
        differs.live.as_deref().unwrap_or("null"),
        esc(&differs.recommended),
        change_takes(differs),
    )));
    assert_eq!(
        page.matches(r#"<li class="finding "#).count(),
        r.findings.len()
    );
    for f in &r.findings {
        assert!(page.contains(&format!(
            r#"data-severity="{}" data-code="{}""#,
            f.severity.as_str(),
            f.code
        )));
    }
}

#[test]
fn server_names_cannot_inject_markup_or_terminal_controls() {
    let mut r = report();
    let script = "<script>alert(1)</script>";
    r.tables[0].name = script.to_owned();
    r.tables[1].name = "q\"'&".to_owned();
    r.databases[0].name = "\"><img src=x onerror=alert(1)>".to_owned();
    r.server.version = "<b>15</b>".to_owned();
    r.notes.push(format!("note {EVIL_NAME}"));
    let page = super::report(&r);
    assert!(!page.contains("<script"), "a script element");
    assert!(!page.contains("<img"), "an img element");
    assert!(!page.contains("<b>15"), "markup from the version");
    assert!(!page.contains('\u{1b}') && !page.contains('\u{202e}'));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains(r#"data-name="public.q&quot;&#39;&amp;""#));
    assert!(page.contains("evil\\x1b[31m|`x`\\u{202e}"));
}

#[test]
fn the_page_is_self_contained_and_script_free() {
    let page = super::report(&report());
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        page.contains("default-src 'none'"),
        "a CSP forbidding loads"
    );
    for bad in ["<script", "http://", "https://", "@import", "url(", "<link"] {
        assert!(!page.contains(bad), "{bad}");
    }
    assert!(page.contains("@media print") && page.contains("prefers-color-scheme:dark"));
    // Every element opened is closed, in the simplest sense: as many <svg as </svg>.
    assert_eq!(page.matches("<svg").count(), page.matches("</svg>").count());
    assert_eq!(
        page.matches("<section").count(),
        page.matches("</section>").count()
    );
}

#[test]
fn a_report_without_rows_has_no_empty_charts() {
    let mut r = report();
    r.databases.clear();
    r.tables.clear();
    let page = super::report(&r);
    assert!(!page.contains("<svg"));
    assert!(page.contains(r#"<section id="tables"><h2>Tables</h2>"#));
}

#[test]
fn slugs_are_ids() {
    assert_eq!(slug("Buffers by relation"), "buffers-by-relation");
    assert_eq!(slug("Settings that differ"), "settings-that-differ");
}

#[test]
fn data_values_are_written_as_the_json_writes_them() {
    assert_eq!(value(Some(0.0)), "0.0");
    assert_eq!(value(Some(1.0)), "1.0");
    assert_eq!(value(Some(0.9627630868861305)), "0.9627630868861305");
    assert_eq!(value(None), "null");
}

#[test]
fn sections_drawn_here_are_not_also_plain_tables() {
    let page = super::report(&report());
    // Server and Host are the header's lists; settings and findings have their own blocks.
    for own in ["Server", "Host", "Settings that differ"] {
        assert!(OWN_SECTIONS.contains(&own));
        assert!(
            !page.contains(&format!("<h2>{own}</h2>")),
            "{own} as a table"
        );
    }
    assert_eq!(page.matches("<h2>Findings</h2>").count(), 1);
    assert_eq!(page.matches(r#"<section id="findings">"#).count(), 1);
    assert_eq!(page.matches(r#"<section id="settings">"#).count(), 1);
    assert_eq!(page.matches(r#"<dl id="server">"#).count(), 1);
    assert_eq!(page.matches(r#"<dl id="host">"#).count(), 1);
}
