//! Fleet output: `check` and `report` over many targets, from the per-target results the
//! shell's pool returns ([`TargetRun`]). Pure, like every renderer: each target's part is the
//! single-server renderer's, so a target reads the same alone or in a fleet; what is added
//! here is the roll-up (one line per target, the worst state) and how a target that could
//! not be reached is shown. Target names are checked by the inventory (ASCII letters,
//! digits, `_-.`); labels and server-provided text are escaped per format.

use std::fmt::Write as _;

use serde::Serialize;

use super::sanitize::{self, sanitize};
use super::verdict;
use crate::diag::Report;
use crate::diag::text::format_ratio;
use crate::fleet::TargetRun;
use crate::gate::{Status, Verdict};

/// The fleet's state: CRITICAL if any target is, else UNKNOWN if any target could not be
/// judged (down, or its own verdict UNKNOWN), else WARNING, else OK. UNKNOWN ranks above
/// WARNING — a fleet with a target nobody can vouch for is worse than one with a known
/// warning — and below CRITICAL, a confirmed problem (Icinga's severity order). A target
/// that cannot be reached is UNKNOWN, as a single-server `check` that cannot connect is.
pub fn worst(runs: &[TargetRun<Verdict>]) -> Status {
    let rank = |s: Status| match s {
        Status::Ok => 0,
        Status::Warning => 1,
        Status::Unknown => 2,
        Status::Critical => 3,
    };
    runs.iter()
        .map(status_of)
        .max_by_key(|s| rank(*s))
        .unwrap_or(Status::Unknown)
}

/// A target's state: its verdict's, or UNKNOWN when it is down.
pub fn status_of(run: &TargetRun<Verdict>) -> Status {
    match &run.result {
        Ok(v) => v.status,
        Err(_) => Status::Unknown,
    }
}

fn count_text(runs: &[TargetRun<Verdict>]) -> String {
    let mut parts = Vec::new();
    for s in [
        Status::Critical,
        Status::Unknown,
        Status::Warning,
        Status::Ok,
    ] {
        let n = runs.iter().filter(|r| status_of(r) == s).count();
        if n > 0 {
            parts.push(format!("{n} {}", s.as_str()));
        }
    }
    let down = runs.iter().filter(|r| !r.up()).count();
    let down_text = if down > 0 {
        format!(", {down} down")
    } else {
        String::new()
    };
    format!("{} targets: {}{down_text}", runs.len(), parts.join(", "))
}

/// One line per target (`NAME STATUS: summary`, or `NAME UNKNOWN: down: reason`), then the
/// fleet's line.
pub fn check_human(runs: &[TargetRun<Verdict>]) -> String {
    let width = runs.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in runs {
        let line = match &r.result {
            Ok(v) => verdict::summary(v),
            Err(reason) => format!("UNKNOWN: down: {}", sanitize::one_line(reason)),
        };
        let _ = writeln!(out, "{:<width$}  {line}", r.name);
    }
    let _ = writeln!(out, "FLEET {}: {}", worst(runs).as_str(), count_text(runs));
    out
}

#[derive(Serialize)]
struct JsonTarget<'a, T: Serialize> {
    name: &'a str,
    labels: &'a std::collections::BTreeMap<String, String>,
    up: bool,
    elapsed_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(flatten)]
    value: T,
}

/// The fields every target has in fleet JSON, with the command's own `value` beside them.
fn json_target<'a, T: Serialize, X>(r: &'a TargetRun<X>, value: T) -> JsonTarget<'a, T> {
    JsonTarget {
        name: &r.name,
        labels: &r.labels,
        up: r.up(),
        elapsed_seconds: r.elapsed.as_secs_f64(),
        error: r.result.as_ref().err().map(String::as_str),
        value,
    }
}

fn pretty<T: Serialize>(doc: &T) -> String {
    let mut text = serde_json::to_string_pretty(doc).expect("plain data always serialises");
    text.push('\n');
    text
}

/// JSON: the fleet's status and exit code, then every target with its labels, `up`,
/// `elapsed_seconds`, `error` when down, and `verdict` — the single-server `check --format
/// json` document — when up.
pub fn check_json(runs: &[TargetRun<Verdict>]) -> String {
    #[derive(Serialize)]
    struct V {
        status: Status,
        #[serde(skip_serializing_if = "Option::is_none")]
        verdict: Option<serde_json::Value>,
    }
    #[derive(Serialize)]
    struct Doc<'a> {
        status: Status,
        exit_code: u8,
        targets: Vec<JsonTarget<'a, V>>,
    }
    let status = worst(runs);
    let doc = Doc {
        status,
        exit_code: status.exit().code(),
        targets: runs
            .iter()
            .map(|r| {
                json_target(
                    r,
                    V {
                        status: status_of(r),
                        verdict: r.result.as_ref().ok().map(|v| {
                            serde_json::from_str(&verdict::json(v))
                                .expect("verdict JSON reads back")
                        }),
                    },
                )
            })
            .collect(),
    };
    pretty(&doc)
}

/// JUnit XML: a `<testsuite>` per target, named after it, with its labels as properties; a
/// target that is down is a suite with one errored test case carrying the reason.
pub fn check_junit(runs: &[TargetRun<Verdict>]) -> String {
    let mut suites = String::new();
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    for r in runs {
        let mut props: Vec<(&str, &str)> = r
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let elapsed = format!("{:.3}", r.elapsed.as_secs_f64());
        props.push(("elapsed_seconds", &elapsed));
        match &r.result {
            Ok(v) => {
                let (t, f, e) = verdict::junit_counts(v);
                tests += t;
                failures += f;
                errors += e;
                suites.push_str(&verdict::junit_testsuite(v, &r.name, &props));
            }
            Err(reason) => {
                tests += 1;
                errors += 1;
                let down = Verdict::unknown(
                    crate::gate::Reason::Failed {
                        message: format!("down: {reason}"),
                    },
                    None,
                );
                suites.push_str(&verdict::junit_testsuite(&down, &r.name, &props));
            }
        }
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"pgcache-tune check\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">"
    );
    out.push_str(&suites);
    out.push_str("</testsuites>\n");
    out
}

/// Nagios: one status line for the fleet's worst state with every target's perfdata
/// (`'TARGET:ITEM'=ratio%;warn;crit;0;100`, and `'TARGET:up'=0|1`), then one line per
/// target as the plugin's long output.
pub fn check_nagios(runs: &[TargetRun<Verdict>]) -> String {
    let mut perf = Vec::new();
    let mut long = String::new();
    for r in runs {
        perf.push(format!("'{}:up'={}", r.name, u8::from(r.up())));
        match &r.result {
            Ok(v) => {
                for p in verdict::nagios_perfdata(v) {
                    // 'label'=… → 'TARGET:label'=…
                    perf.push(format!("'{}:{}", r.name, &p[1..]));
                }
                let _ = writeln!(
                    long,
                    "{}: {}",
                    r.name,
                    verdict::summary(v).replace('|', "/")
                );
            }
            Err(reason) => {
                let _ = writeln!(
                    long,
                    "{}: UNKNOWN: down: {}",
                    r.name,
                    sanitize::one_line(reason).replace('|', "/")
                );
            }
        }
    }
    format!(
        "PGCACHE_TUNE {} - {} | {}\n{long}",
        worst(runs).as_str(),
        count_text(runs),
        perf.join(" ")
    )
}

/// What the fleet summary shows of one report: version, the hit ratio over every database,
/// the worst table and the critical findings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportSummary {
    /// `server_version`.
    pub version: String,
    /// Blocks hit over hit + read, all databases together.
    pub hit_ratio: Option<f64>,
    /// `database.schema.table` of the table with the worst heap hit ratio over the floor.
    pub worst_table: Option<String>,
    /// Its heap hit ratio.
    pub worst_table_hit_ratio: Option<f64>,
    /// Codes of the critical findings.
    pub critical_findings: Vec<String>,
}

/// The summary of one report.
pub fn report_summary(r: &Report) -> ReportSummary {
    let (hit, read) = r.databases.iter().fold((0i64, 0i64), |(h, rd), d| {
        (
            h.saturating_add(d.blks_hit.max(0)),
            rd.saturating_add(d.blks_read.max(0)),
        )
    });
    let worst = r.tables.first();
    ReportSummary {
        version: r.server.version.clone(),
        hit_ratio: crate::diag::hit_ratio(hit, read),
        worst_table: worst.map(|t| format!("{}.{}.{}", t.database, t.schema, t.name)),
        worst_table_hit_ratio: worst.and_then(|t| t.heap_hit_ratio),
        critical_findings: r
            .findings
            .iter()
            .filter(|f| f.severity == crate::diag::Severity::Critical)
            .map(|f| f.code.clone())
            .collect(),
    }
}

/// The summary rows as cells: target, up, version, hit ratio, worst table, critical
/// findings (or the reason a target is down).
fn summary_rows(runs: &[TargetRun<Report>]) -> Vec<[String; 6]> {
    runs.iter()
        .map(|r| match &r.result {
            Ok(rep) => {
                let s = report_summary(rep);
                let worst = match &s.worst_table {
                    Some(t) => format!("{t} {}", format_ratio(s.worst_table_hit_ratio)),
                    None => "-".to_string(),
                };
                let findings = if s.critical_findings.is_empty() {
                    "none".to_string()
                } else {
                    s.critical_findings.join(", ")
                };
                [
                    r.name.clone(),
                    "up".into(),
                    s.version,
                    format_ratio(s.hit_ratio),
                    worst,
                    findings,
                ]
            }
            Err(reason) => [
                r.name.clone(),
                "DOWN".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                reason.clone(),
            ],
        })
        .collect()
}

const SUMMARY_HEADER: [&str; 6] = [
    "target",
    "state",
    "version",
    "hit ratio",
    "worst table",
    "critical findings",
];

/// The fleet summary table for a terminal `width` columns wide (names sanitised).
pub fn report_table(runs: &[TargetRun<Report>], width: Option<u16>) -> String {
    let mut t = super::layout::table(width);
    t.set_header(SUMMARY_HEADER);
    for row in summary_rows(runs) {
        t.add_row(row.iter().map(|c| sanitize(c).into_owned()));
    }
    super::layout::prose_column(&mut t, 5, width);
    let up = runs.iter().filter(|r| r.up()).count();
    format!(
        "pgcache-tune fleet report: {up} of {} targets up (--format json or markdown has every target's full report)\n{t}\n",
        runs.len()
    )
}

/// Markdown: the summary table, then each reachable target's full report under its own
/// heading.
pub fn report_markdown(runs: &[TargetRun<Report>]) -> String {
    let md = |s: &str| sanitize::markdown(s).into_owned();
    let mut out = String::from("## pgcache-tune fleet report\n\n");
    let _ = writeln!(out, "| {} |", SUMMARY_HEADER.join(" | "));
    out.push_str("|---|---|---|---:|---|---|\n");
    for row in summary_rows(runs) {
        let cells: Vec<String> = row.iter().map(|c| md(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    for r in runs {
        if let Ok(rep) = &r.result {
            let body = super::report::markdown(rep);
            // Each target's report one heading level down, under the target's name.
            let body = body.replace("\n### ", "\n#### ");
            let body = body
                .strip_prefix("## pgcache-tune report\n")
                .unwrap_or(&body);
            let _ = write!(out, "\n### Target `{}`\n{body}", r.name);
        }
    }
    out
}

/// JSON: every target with its labels, `up`, `elapsed_seconds`, `error` when down, and when
/// up its `summary` and the full single-server `report` document.
pub fn report_json(runs: &[TargetRun<Report>]) -> String {
    #[derive(Serialize)]
    struct R<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        summary: Option<ReportSummary>,
        #[serde(skip_serializing_if = "Option::is_none")]
        report: Option<&'a Report>,
    }
    #[derive(Serialize)]
    struct Doc<'a> {
        targets: Vec<JsonTarget<'a, R<'a>>>,
    }
    let doc = Doc {
        targets: runs
            .iter()
            .map(|r| {
                json_target(
                    r,
                    R {
                        summary: r.result.as_ref().ok().map(report_summary),
                        report: r.result.as_ref().ok(),
                    },
                )
            })
            .collect(),
    };
    pretty(&doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(name: &str, result: Result<Verdict, String>) -> TargetRun<Verdict> {
        TargetRun {
            name: name.into(),
            labels: [("env".to_string(), "a&b".to_string())].into(),
            elapsed: Duration::from_millis(12),
            result,
        }
    }

    fn verdict(status: Status) -> Verdict {
        let mut v = Verdict::unknown(
            crate::gate::Reason::Failed {
                message: "x".into(),
            },
            None,
        );
        v.status = status;
        v
    }

    #[test]
    fn worst_ranks_critical_over_unknown_over_warning() {
        let ok = run("a", Ok(verdict(Status::Ok)));
        let warn = run("b", Ok(verdict(Status::Warning)));
        let down = run("c", Err("connection refused".into()));
        let crit = run("d", Ok(verdict(Status::Critical)));
        assert_eq!(worst(std::slice::from_ref(&ok)), Status::Ok);
        assert_eq!(worst(&[ok.clone(), warn.clone()]), Status::Warning);
        assert_eq!(worst(&[warn.clone(), down.clone()]), Status::Unknown);
        assert_eq!(worst(&[down.clone(), crit.clone(), warn]), Status::Critical);
        assert_eq!(worst(&[]), Status::Unknown);
        let runs = [ok, down, crit];
        let human = check_human(&runs);
        assert_eq!(human.lines().count(), 4, "{human}");
        assert!(
            human.contains("c  UNKNOWN: down: connection refused"),
            "{human}"
        );
        assert!(
            human.ends_with("FLEET CRITICAL: 3 targets: 1 CRITICAL, 1 UNKNOWN, 1 OK, 1 down\n"),
            "{human}"
        );
        let nagios = check_nagios(&runs);
        let first = nagios.lines().next().unwrap();
        assert!(
            first.starts_with("PGCACHE_TUNE CRITICAL - 3 targets"),
            "{first}"
        );
        assert!(first.contains("'a:up'=1 'c:up'=0 'd:up'=1"), "{first}");
        assert_eq!(nagios.lines().count(), 4, "{nagios}");
        let json: serde_json::Value = serde_json::from_str(&check_json(&runs)).unwrap();
        assert_eq!(json["exit_code"], 2);
        assert_eq!(json["targets"][1]["up"], false);
        assert_eq!(json["targets"][1]["status"], "UNKNOWN");
        assert_eq!(json["targets"][1]["error"], "connection refused");
        assert_eq!(json["targets"][2]["verdict"]["status"], "CRITICAL");
        let junit = check_junit(&runs);
        assert_eq!(junit.matches("<testsuite ").count(), 3, "{junit}");
        assert!(junit.contains("<testsuite name=\"c\""), "{junit}");
        assert!(junit.contains("down: connection refused"), "{junit}");
        assert!(junit.contains("value=\"a&amp;b\""), "{junit}");
    }
}
