//! Tests of the report renderers: insta snapshots of each format for the realistic test
//! snapshot, plus the properties that matter for safety (no raw control characters, no
//! broken Markdown tables) and for scripts (JSON round-trips).

use std::collections::HashMap;

use super::*;
use crate::diag::testdata::{self, EVIL_NAME};
use crate::diag::{DiagOptions, HostContext, Pattern, diagnose};

fn report_for(host: &HostContext) -> Report {
    let snap = testdata::snapshot();
    let opts = DiagOptions {
        exclude: vec![Pattern::parse("~^audit\\.").unwrap()],
        ..DiagOptions::default()
    };
    let mut report = diagnose(&snap, host, &opts);
    // What the shell does after diagnosing: fetch sizes of the kept rows.
    let mut sizes = HashMap::new();
    for (n, oid) in report.table_relids()["app"].iter().enumerate() {
        sizes.insert(*oid, (3 + n as i64) * 1_234_567_890);
    }
    for oid in &report.index_relids()["app"] {
        sizes.insert(*oid, 45 << 20);
    }
    report.fill_sizes("app", &sizes);
    report
}

fn report() -> Report {
    report_for(&testdata::host_16g())
}

#[test]
fn table_snapshot() {
    insta::assert_snapshot!(table(&report(), false, None));
}

#[test]
fn table_snapshot_without_ram() {
    insta::assert_snapshot!(table(&report_for(&testdata::host_unknown()), false, None));
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(markdown(&report()));
}

#[test]
fn json_snapshot() {
    insta::assert_snapshot!(json(&report()));
}

#[test]
fn no_raw_control_characters_reach_the_terminal() {
    let text = table(&report(), false, None);
    assert!(!text.contains('\u{1b}'), "raw ESC without colour");
    assert!(!text.contains('\u{202e}'), "raw bidi override");
    assert!(
        text.contains("evil\\x1b[31m|`x`\\u{202e}"),
        "escaped name shown"
    );
    let coloured = table(&report(), true, None);
    assert!(coloured.contains("\u{1b}["), "colour when asked");
    assert!(
        coloured.contains("evil\\x1b[31m"),
        "names stay escaped in colour"
    );
    assert!(!coloured.contains(EVIL_NAME));
}

/// Unescaped `|` in a Markdown line: the cell separators.
fn separators(line: &str) -> usize {
    let mut count = 0;
    let mut escaped = false;
    for c in line.chars() {
        match (c, escaped) {
            ('\\', false) => escaped = true,
            ('|', false) => count += 1,
            _ => escaped = false,
        }
    }
    count
}

#[test]
fn markdown_tables_stay_well_formed() {
    let text = markdown(&report());
    assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'));
    assert!(
        text.contains("evil\\\\x1b\\[31m\\|\\`x\\`\\\\u{202e}"),
        "{text}"
    );
    let mut expected = None;
    for line in text.lines() {
        if !line.starts_with('|') {
            expected = None;
            continue;
        }
        let n = separators(line);
        assert_eq!(*expected.get_or_insert(n), n, "{line}");
    }
}

fn assert_close(a: &serde_json::Value, b: &serde_json::Value, path: &str) {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-12 * x.abs().max(1.0),
                "{path}: {x} vs {y}"
            );
        }
        (V::Array(x), V::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                assert_close(x, y, &format!("{path}[{i}]"));
            }
        }
        (V::Object(x), V::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{path}"
            );
            for (k, v) in x {
                assert_close(v, &y[k], &format!("{path}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}

#[test]
fn json_is_raw_and_round_trips() {
    let report = report();
    let text = json(&report);
    assert!(text.ends_with("}\n"));
    assert!(
        text.contains("evil\\u001b[31m|`x`\u{202e}"),
        "raw name, JSON-escaped"
    );
    // serde_json parses floats to within an ulp (exact parsing is an optional feature), so
    // the round trip is compared through JSON values with a float tolerance.
    let back: Report = serde_json::from_str(&text).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_close(&serde_json::to_value(&back).unwrap(), &value, "$");
    assert_close(&serde_json::to_value(&report).unwrap(), &value, "$");
    let template1 = value["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "template1")
        .unwrap();
    assert!(template1["hit_ratio"].is_null(), "no I/O, no ratio");
}

#[test]
fn ratios_counts_and_empty_sections() {
    let mut report = report();
    let text = table(&report, false, None);
    assert!(text.contains("98.77%"));
    assert!(text.contains("98,765,432"));
    let template1 = text.lines().find(|l| l.contains("template1")).unwrap();
    assert!(
        template1.contains(" — ┆"),
        "null ratios print as a dash: {template1}"
    );
    report.tables.clear();
    report.indexes.clear();
    report.findings.clear();
    let text = table(&report, false, None);
    assert!(
        text.contains("Tables (0 of 5 with ≥ 1,000 blocks touched"),
        "{text}"
    );
    assert!(text.contains("Findings\n  none"), "{text}");
    let text = markdown(&report);
    assert!(text.contains("### Findings\n\nnone\n"), "{text}");
}

#[test]
fn tables_fit_the_width_given() {
    let report = report();
    for width in [60u16, 80, 100] {
        let text = table(&report, false, Some(width));
        for line in text.lines() {
            assert!(
                line.chars().count() <= usize::from(width),
                "{width} columns: {line:?}"
            );
        }
    }
    // A wide terminal is used, not a fixed 110 columns for the findings.
    let wide = table(&report, false, Some(200));
    let findings = wide.split("Findings").last().unwrap();
    assert!(
        findings.lines().any(|l| l.chars().count() > 110),
        "{findings}"
    );
    // Colour does not count towards the width.
    let coloured = table(&report, true, Some(80));
    assert!(coloured.contains("\u{1b}["));
}

#[test]
fn settings_table_says_why() {
    let report = report();
    let text = table(&report, false, None);
    let section = text.split("Settings that differ").nth(1).unwrap();
    let section = section.split("Findings").next().unwrap();
    assert!(section.lines().nth(2).unwrap().contains("Why"), "{section}");
    let md = markdown(&report);
    let shared_buffers = report
        .settings
        .iter()
        .find(|s| s.name == "shared_buffers")
        .unwrap();
    assert!(!shared_buffers.reason.is_empty());
    let row = md
        .lines()
        .find(|l| l.starts_with("| shared\\_buffers |"))
        .unwrap();
    assert!(
        row.contains(&*crate::render::sanitize::markdown(&shared_buffers.reason)),
        "{row}"
    );
}

#[test]
fn settings_section_lists_only_differences() {
    let report = report();
    let text = table(&report, false, None);
    let section = text.split("Settings that differ").nth(1).unwrap();
    let section = section.split("Findings").next().unwrap();
    assert!(section.contains("shared_buffers"));
    assert!(section.contains("pending restart"));
    assert!(section.contains("postgresql.auto.conf:3"));
    assert!(
        !section.contains("checkpoint_completion_target"),
        "equal ones hidden"
    );
}
