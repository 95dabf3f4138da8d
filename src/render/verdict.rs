//! Renders a `check` verdict: human lines, JSON, JUnit XML (so CI systems show items as test
//! results) and the Nagios plugin format (status line with perfdata). Pure.

use std::fmt::Write as _;

use serde::Serialize;

use crate::diag::text::{approx_duration, format_count, format_ratio};
use crate::diag::{MIN_TRUSTED_BLOCKS, MIN_TRUSTED_WINDOW_SECONDS};
use crate::gate::{Item, PatternSource, Reason, Status, Unusable, Verdict, WindowKind};
use crate::render::sanitize::sanitize;
use crate::units::format_epoch_utc;

fn threshold_text(item: &Item) -> String {
    let t = item.thresholds;
    match (t.warning, t.critical) {
        (Some(w), Some(c)) => format!("warning {w}%, critical {c}%"),
        (Some(w), None) => format!("warning {w}%"),
        (None, Some(c)) => format!("critical {c}%"),
        (None, None) => "no threshold".to_string(),
    }
}

fn scope_word(item: &Item) -> &'static str {
    item.counter.scope.item_word()
}

fn window_text(v: &Verdict) -> String {
    let Some(w) = &v.window else {
        return "no window".to_string();
    };
    // Saturating float-to-integer cast: a window is never near u64::MAX seconds.
    #[allow(clippy::cast_possible_truncation)]
    let span = approx_duration(w.seconds().round() as u64);
    match w.kind {
        WindowKind::Lifetime => format!(
            "lifetime window of {span} (since {}, the last statistics reset or server start)",
            format_epoch_utc(w.start_epoch)
        ),
        WindowKind::Interval => format!("interval window of {span}"),
        WindowKind::Since => format!(
            "window of {span} since the snapshot of {}",
            format_epoch_utc(w.start_epoch)
        ),
    }
}

/// What the verdict's items count: blocks, or a Redis keyspace's lookups.
fn unit(v: &Verdict) -> &'static str {
    v.items
        .first()
        .map_or("blocks", |i| i.counter.scope.unit_word())
}

/// The reason in words (`unit`: what the items count, see [`unit`]); `name` turns a
/// server-provided name into what the format can hold (sanitised for a terminal, raw for
/// JSON and XML, which escape it themselves).
fn reason_text(reason: &Reason, unit: &str, name: &dyn Fn(&str) -> String) -> String {
    match reason {
        Reason::Unusable(u) => match u {
            Unusable::OtherServer { before, after } => format!(
                "the two samples come from different servers (system identifier {} vs {})",
                name(before),
                name(after)
            ),
            Unusable::Restart => "the server restarted between the two samples".to_string(),
            Unusable::SnapshotNewer => "the snapshot is newer than the current sample".to_string(),
            Unusable::Reset { database } => format!(
                "statistics of database {} were reset between the two samples",
                name(database)
            ),
            Unusable::Backwards { scope, label } => format!(
                "counters of {} {} went backwards (statistics reset between the two samples)",
                scope.item_word(),
                name(label)
            ),
            Unusable::RunIdChanged { before, after } => format!(
                "the server's run_id changed from {} to {} between the two samples (it \
                 restarted, or this is another server)",
                name(before),
                name(after)
            ),
            Unusable::UptimeDecreased { before, after } => format!(
                "the server's uptime went down from {before}s to {after}s between the two \
                 samples (it restarted)"
            ),
            Unusable::CounterDecreased {
                counter,
                before,
                after,
                others,
            } => format!(
                "counter {} went down from {before} to {after}{} between the two samples: \
                 statistics were reset (CONFIG RESETSTAT)",
                name(counter),
                match others {
                    0 => String::new(),
                    n => format!(" (and {n} more counters)"),
                }
            ),
            Unusable::Overflow { label } => format!(
                "counters of {} do not fit in 64 bits; is the snapshot file damaged?",
                name(label)
            ),
        },
        Reason::NoMatch => "no item matched the scopes and patterns".to_string(),
        Reason::Insufficient { min_blocks, most } => format!(
            "insufficient data: no item touched at least {min_blocks} {unit} in the window (most: {most})"
        ),
        Reason::YoungStatistics {
            age_seconds,
            blocks,
        } => format!(
            "young statistics: the lifetime counters cover {} and {} blocks, and hit ratios are \
             not meaningful before {} and {} blocks (initdb's and the first sessions' catalog \
             reads dominate them); judge a window with --interval or --since, or run again later",
            approx_duration(*age_seconds),
            format_count(*blocks),
            approx_duration(MIN_TRUSTED_WINDOW_SECONDS),
            format_count(MIN_TRUSTED_BLOCKS)
        ),
        Reason::OtherDatabase {
            snapshot,
            connected,
        } => format!(
            "the snapshot holds the tables of database {}, but this check is connected to {}",
            name(snapshot),
            name(connected)
        ),
        Reason::Failed { message } => name(message),
    }
}

fn raw(text: &str) -> String {
    text.to_string()
}

fn terminal(text: &str) -> String {
    sanitize(text).into_owned()
}

/// Warnings for stderr (sanitised): patterns that matched nothing.
pub fn warnings(v: &Verdict) -> Vec<String> {
    v.unmatched
        .iter()
        .map(|u| {
            let option = match u.source {
                PatternSource::Include => "--include",
                PatternSource::Exclude => "--exclude",
                PatternSource::Override => "[[override]] match",
            };
            format!(
                "{option} pattern '{}' matches no item (table and index patterns see schema.name, \
                 e.g. ~^public\\.audit_; database patterns see the database name)",
                sanitize(&u.pattern)
            )
        })
        .collect()
}

/// One line per failing item, then a summary line.
pub fn human(v: &Verdict) -> String {
    let mut out = String::new();
    for item in v.items.iter().filter(|i| i.counter.recreated) {
        let _ = writeln!(
            out,
            "note: {} {} was dropped and recreated (or another renamed onto its name) in the \
             window; its counters start at its creation",
            scope_word(item),
            sanitize(&item.counter.label())
        );
    }
    for item in v.items.iter().filter(|i| i.status != Status::Ok) {
        let label = item.counter.label();
        let name = sanitize(&label);
        if item.insufficient {
            let _ = writeln!(
                out,
                "{} {} {name}: insufficient data ({} {} touched, floor {})",
                item.status.as_str(),
                scope_word(item),
                item.counter.hits.saturating_add(item.counter.reads),
                item.counter.scope.unit_word(),
                item.min_blocks
            );
        } else {
            let _ = writeln!(
                out,
                "{} {} {name}: hit ratio {} (hits {}, {} {}), {}",
                item.status.as_str(),
                scope_word(item),
                format_ratio(item.hit_ratio),
                format_count(item.counter.hits),
                item.counter.scope.miss_word(),
                format_count(item.counter.reads),
                threshold_text(item)
            );
        }
    }
    let _ = writeln!(out, "{}", summary(v));
    out
}

/// The summary line shared by the human and Nagios formats.
pub fn summary(v: &Verdict) -> String {
    if let Some(reason) = &v.reason {
        return format!(
            "{}: {}",
            v.status.as_str(),
            reason_text(reason, unit(v), &terminal)
        );
    }
    let judged: Vec<&Item> = v.items.iter().filter(|i| !i.insufficient).collect();
    let failing = judged.iter().filter(|i| i.status != Status::Ok).count();
    let skipped = v.items.len() - judged.len();
    let worst = judged
        .first()
        .map(|i| {
            format!(
                "; worst {} {} ({})",
                sanitize(&i.counter.label()),
                format_ratio(i.hit_ratio),
                threshold_text(i)
            )
        })
        .unwrap_or_default();
    let skipped_text = if skipped > 0 {
        format!(", {skipped} with too little traffic")
    } else {
        String::new()
    };
    format!(
        "{}: {failing} of {} judged items below threshold{skipped_text}{worst}; {}",
        v.status.as_str(),
        judged.len(),
        window_text(v)
    )
}

#[derive(Serialize)]
struct JsonVerdict<'a> {
    status: Status,
    exit_code: u8,
    /// The reason in words, names raw.
    reason: Option<String>,
    /// The same, structured (`kind` and its fields).
    reason_detail: Option<&'a Reason>,
    window: Option<JsonWindow>,
    items: &'a [Item],
}

#[derive(Serialize)]
struct JsonWindow {
    kind: WindowKind,
    start: String,
    end: String,
    start_epoch: f64,
    end_epoch: f64,
    seconds: f64,
}

/// The verdict as JSON: status, exit code, window and every judged item with its counts.
pub fn json(v: &Verdict) -> String {
    let doc = JsonVerdict {
        status: v.status,
        exit_code: v.status.exit().code(),
        reason: v.reason.as_ref().map(|r| reason_text(r, unit(v), &raw)),
        reason_detail: v.reason.as_ref(),
        window: v.window.as_ref().map(|w| JsonWindow {
            kind: w.kind,
            start: format_epoch_utc(w.start_epoch),
            end: format_epoch_utc(w.end_epoch),
            start_epoch: w.start_epoch,
            end_epoch: w.end_epoch,
            seconds: w.seconds(),
        }),
        items: &v.items,
    };
    let mut text = serde_json::to_string_pretty(&doc).expect("plain data always serialises");
    text.push('\n');
    text
}

/// XML-escapes text for attributes and content. Characters XML 1.0 forbids (controls other
/// than tab, newline and carriage return; U+FFFE and U+FFFF) and the other Unicode
/// non-characters (U+FDD0..U+FDEF, U+nFFFE, U+nFFFF, which XML discourages and some parsers
/// refuse) are written as visible escapes (`\x01`, `\u{fffe}`) so the document stays valid.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_noncharacter(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Unicode non-characters: U+FDD0..=U+FDEF and the last two code points of every plane.
fn is_noncharacter(c: char) -> bool {
    let n = c as u32;
    (0xFDD0..=0xFDEF).contains(&n) || (n & 0xFFFE) == 0xFFFE
}

/// JUnit XML: one test case per judged item (failures for WARNING/CRITICAL, skipped for too
/// little traffic), or one errored case carrying the reason of an UNKNOWN without items.
/// Valid against the JUnit schema Jenkins (xUnit) and Maven Surefire use, which allows
/// `skipped` on `testsuite` only (tests/schemas/junit-jenkins.xsd).
pub fn junit(v: &Verdict) -> String {
    let (tests, failures, errors) = junit_counts(v);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"pgcache-tune check\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">"
    );
    out.push_str(&junit_testsuite(v, "cache hit ratio", &[]));
    out.push_str("</testsuites>\n");
    out
}

/// Test cases, failures and errors of a verdict's JUnit suite, for `<testsuites>` totals.
pub fn junit_counts(v: &Verdict) -> (usize, usize, usize) {
    let failures = v
        .items
        .iter()
        .filter(|i| matches!(i.status, Status::Warning | Status::Critical))
        .count();
    let errors = usize::from(v.reason.is_some())
        + v.items
            .iter()
            .filter(|i| i.status == Status::Unknown)
            .count();
    let tests = v.items.len() + usize::from(v.reason.is_some());
    (tests, failures, errors)
}

/// One `<testsuite>` element (indented for a `<testsuites>` parent) named `name`, with the
/// window and `properties` (name, value; escaped here) as properties: the body of
/// [`junit`], and one suite per target of a fleet run.
pub fn junit_testsuite(v: &Verdict, name: &str, properties: &[(&str, &str)]) -> String {
    let (tests, failures, errors) = junit_counts(v);
    let skipped = v
        .items
        .iter()
        .filter(|i| i.insufficient && i.status == Status::Ok)
        .count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{:.3}\">",
        xml(name),
        v.window.as_ref().map_or(0.0, |w| w.seconds())
    );
    let _ = write!(
        out,
        "    <properties><property name=\"window\" value=\"{}\"/>",
        xml(&window_text(v))
    );
    for (k, val) in properties {
        let _ = write!(
            out,
            "<property name=\"{}\" value=\"{}\"/>",
            xml(k),
            xml(val)
        );
    }
    out.push_str("</properties>\n");
    if let Some(reason) = &v.reason {
        let _ = writeln!(
            out,
            "    <testcase classname=\"pgcache-tune\" name=\"check\">\n      <error message=\"{}\"/>\n    </testcase>",
            xml(&format!(
                "{}: {}",
                v.status.as_str(),
                reason_text(reason, unit(v), &raw)
            ))
        );
    }
    for item in &v.items {
        let _ = write!(
            out,
            "    <testcase classname=\"pgcache-tune.{}\" name=\"{}\">",
            item.counter.scope.as_str(),
            xml(&item.counter.label())
        );
        let detail = format!(
            "hit ratio {} (hits {}, {} {}), {}",
            format_ratio(item.hit_ratio),
            item.counter.hits,
            item.counter.scope.miss_word(),
            item.counter.reads,
            threshold_text(item)
        );
        match (item.status, item.insufficient) {
            (Status::Ok, false) => {}
            (Status::Ok, true) => {
                let _ = write!(
                    out,
                    "\n      <skipped message=\"insufficient data: {} {}, floor {}\"/>\n    ",
                    item.counter.hits.saturating_add(item.counter.reads),
                    item.counter.scope.unit_word(),
                    item.min_blocks
                );
            }
            (Status::Unknown, _) => {
                let _ = write!(
                    out,
                    "\n      <error message=\"UNKNOWN: insufficient data\"/>\n    "
                );
            }
            (status, _) => {
                let _ = write!(
                    out,
                    "\n      <failure type=\"{}\" message=\"{}\"/>\n    ",
                    status.as_str(),
                    xml(&detail)
                );
            }
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("  </testsuite>\n");
    out
}

/// A perfdata label: quoted, with `'` doubled and `=` replaced as the plugin guidelines ask,
/// and `|` replaced because Nagios splits the output at the first `|` (and the long output
/// at the next), so a table named `a|b` would cut the perfdata short.
fn perf_label(text: &str) -> String {
    format!(
        "'{}'",
        sanitize(text).replace('\'', "''").replace(['=', '|'], "_")
    )
}

/// One perfdata item per judged item: `'label'=ratio%;warn;crit;0;100` (`U` without a
/// ratio).
pub fn nagios_perfdata(v: &Verdict) -> Vec<String> {
    let mut perf = Vec::new();
    for item in &v.items {
        let value = item.hit_ratio.map_or_else(
            || "U".to_string(),
            |r| format!("{}%", crate::diag::text::format_percent(r * 100.0, 4)),
        );
        let t = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
        perf.push(format!(
            "{}={value};{};{};0;100",
            perf_label(&item.counter.label()),
            t(item.thresholds.warning),
            t(item.thresholds.critical)
        ));
    }
    perf
}

/// The Nagios plugin format: `PGCACHE_TUNE STATUS - summary | 'label'=ratio%;warn;crit ...`.
pub fn nagios(v: &Verdict) -> String {
    let text = summary(v);
    let text = text
        .split_once(": ")
        .map_or(text.as_str(), |(_, rest)| rest)
        .replace('|', "/");
    let perf = nagios_perfdata(v);
    if perf.is_empty() {
        format!("PGCACHE_TUNE {} - {text}\n", v.status.as_str())
    } else {
        format!(
            "PGCACHE_TUNE {} - {text} | {}\n",
            v.status.as_str(),
            perf.join(" ")
        )
    }
}
