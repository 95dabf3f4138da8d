//! The CI and monitoring gate: a pure function from window counters and thresholds to a
//! verdict with Nagios semantics (OK, WARNING, CRITICAL, UNKNOWN). No I/O: the shell collects
//! the samples ([`window`]) and renders the verdict (`render::verdict`).

pub mod config;
pub mod window;

use serde::Serialize;

pub use window::{Counter, Scope, Window, WindowKind};

use crate::diag::hit_ratio;
use crate::diag::pattern::Pattern;

/// Default floor: an item with fewer blocks touched in the window is "insufficient data".
pub const DEFAULT_MIN_BLOCKS: i64 = 1000;

/// Nagios states, in the order of their exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Every judged item meets its thresholds.
    Ok,
    /// Some item is below its warning threshold.
    Warning,
    /// Some item is below its critical threshold.
    Critical,
    /// Nothing could be judged.
    Unknown,
}

impl Status {
    /// The word Nagios prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// The process exit code for this state.
    pub fn exit(self) -> crate::exit::Exit {
        match self {
            Status::Ok => crate::exit::Exit::Ok,
            Status::Warning => crate::exit::Exit::Warning,
            Status::Critical => crate::exit::Exit::Critical,
            Status::Unknown => crate::exit::Exit::Unknown,
        }
    }

    /// Severity rank for "worst first": CRITICAL, WARNING, UNKNOWN, OK.
    fn rank(self) -> u8 {
        match self {
            Status::Critical => 3,
            Status::Warning => 2,
            Status::Unknown => 1,
            Status::Ok => 0,
        }
    }
}

/// What an item below the volume floor counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OnInsufficient {
    /// Ignore it (the default): too little traffic to judge.
    Ok,
    /// Count it as UNKNOWN.
    Unknown,
    /// Count it as CRITICAL (a gate that insists on traffic).
    Critical,
}

/// Warning and critical thresholds in percent (0–100); an item whose ratio is below a
/// threshold gets that state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// Below this percentage: WARNING.
    pub warning: Option<f64>,
    /// Below this percentage: CRITICAL.
    pub critical: Option<f64>,
}

/// A per-item override from the config file.
#[derive(Debug, Clone)]
pub struct Override {
    /// Which items it applies to.
    pub pattern: Pattern,
    /// Thresholds replacing the global ones (each side independently).
    pub thresholds: Thresholds,
    /// Floor replacing the global one.
    pub min_blocks: Option<i64>,
}

/// Everything `judge` needs besides the counters.
#[derive(Debug, Clone)]
pub struct GateOptions {
    /// Global thresholds.
    pub thresholds: Thresholds,
    /// Floor of blocks touched in the window.
    pub min_blocks: i64,
    /// What an item under the floor counts as.
    pub on_insufficient: OnInsufficient,
    /// Only items matching one of these (empty: all).
    pub include: Vec<Pattern>,
    /// Items matching any of these are skipped.
    pub exclude: Vec<Pattern>,
    /// Per-item overrides; the first match wins.
    pub overrides: Vec<Override>,
}

/// One judged item.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// The counters.
    #[serde(flatten)]
    pub counter: Counter,
    /// hits / (hits + reads) as a fraction, `None` without I/O.
    pub hit_ratio: Option<f64>,
    /// The thresholds applied to it.
    pub thresholds: Thresholds,
    /// Floor applied to it.
    pub min_blocks: i64,
    /// Whether it had fewer blocks than the floor.
    pub insufficient: bool,
    /// Its state.
    pub status: Status,
}

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Overall state.
    pub status: Status,
    /// The window judged (absent when nothing could be measured).
    pub window: Option<Window>,
    /// Every judged item, worst first.
    pub items: Vec<Item>,
    /// Why the result is UNKNOWN, when it is.
    pub reason: Option<String>,
}

impl Verdict {
    /// An UNKNOWN verdict with a one-line reason (reset detected, cannot connect, …).
    pub fn unknown(reason: impl Into<String>, window: Option<Window>) -> Verdict {
        Verdict {
            status: Status::Unknown,
            window,
            items: Vec::new(),
            reason: Some(reason.into()),
        }
    }
}

/// Relations match as `schema.name` (a regex sees that text). Databases have no schema: a
/// plain name or a regex matches the database name itself, while a `schema.` pattern never
/// does.
fn matches(pattern: &Pattern, c: &Counter) -> bool {
    match (&c.schema, pattern) {
        (Some(schema), p) => p.matches(schema, &c.name),
        (None, Pattern::Regex(re)) => re.is_match(&c.name),
        (None, p) => p.matches("", &c.name),
    }
}

/// Judges every counter against its thresholds. See [`Status`] for the precedence: any
/// CRITICAL item makes the verdict CRITICAL, then WARNING, then UNKNOWN; when every item is
/// under the floor the verdict is UNKNOWN ("no data"), whatever `on_insufficient` says.
pub fn judge(counters: Vec<Counter>, window: Window, opts: &GateOptions) -> Verdict {
    let mut items: Vec<Item> = counters
        .into_iter()
        .filter(|c| opts.include.is_empty() || opts.include.iter().any(|p| matches(p, c)))
        .filter(|c| !opts.exclude.iter().any(|p| matches(p, c)))
        .map(|c| {
            let ov = opts.overrides.iter().find(|o| matches(&o.pattern, &c));
            let thresholds = Thresholds {
                warning: ov
                    .and_then(|o| o.thresholds.warning)
                    .or(opts.thresholds.warning),
                critical: ov
                    .and_then(|o| o.thresholds.critical)
                    .or(opts.thresholds.critical),
            };
            let min_blocks = ov.and_then(|o| o.min_blocks).unwrap_or(opts.min_blocks);
            let ratio = hit_ratio(c.hits, c.reads);
            let insufficient = c.hits.saturating_add(c.reads) < min_blocks || ratio.is_none();
            let status = if insufficient {
                match opts.on_insufficient {
                    OnInsufficient::Ok => Status::Ok,
                    OnInsufficient::Unknown => Status::Unknown,
                    OnInsufficient::Critical => Status::Critical,
                }
            } else {
                let pct = ratio.unwrap_or(0.0) * 100.0;
                if thresholds.critical.is_some_and(|t| pct < t) {
                    Status::Critical
                } else if thresholds.warning.is_some_and(|t| pct < t) {
                    Status::Warning
                } else {
                    Status::Ok
                }
            };
            Item {
                counter: c,
                hit_ratio: ratio,
                thresholds,
                min_blocks,
                insufficient,
                status,
            }
        })
        .collect();
    items.sort_by(|a, b| {
        b.status
            .rank()
            .cmp(&a.status.rank())
            .then(a.insufficient.cmp(&b.insufficient))
            .then(
                a.hit_ratio
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&b.hit_ratio.unwrap_or(f64::INFINITY)),
            )
            .then_with(|| a.counter.label().cmp(&b.counter.label()))
    });
    if items.is_empty() {
        return Verdict::unknown("no item matched the scopes and patterns", Some(window));
    }
    if items.iter().all(|i| i.insufficient) {
        let most = items
            .iter()
            .map(|i| i.counter.hits.saturating_add(i.counter.reads))
            .max()
            .unwrap_or(0);
        let mut v = Verdict::unknown(
            format!(
                "insufficient data: no item touched at least {} blocks in the window (most: {most})",
                opts.min_blocks
            ),
            Some(window),
        );
        v.items = items;
        return v;
    }
    let status = items
        .iter()
        .map(|i| i.status)
        .max_by_key(|s| s.rank())
        .unwrap_or(Status::Ok);
    Verdict {
        status,
        window: Some(window),
        items,
        reason: None,
    }
}

/// Parses a percentage flag: `99`, `99.5`, `99.5%`, from 0 to 100.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let accepted = "expected a percentage from 0 to 100 (e.g. 99, 99.5 or 99.5%)";
    let t = text.trim();
    let number = t.strip_suffix('%').unwrap_or(t).trim();
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("'{text}' is not a number; {accepted}"))?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!("{text} is out of range; {accepted}"));
    }
    // A value strictly between 0 and 1 is a fraction typed for a percentage (0.99 meaning
    // 99%); taken as 0.99% it would pass almost any database, silently disarming the gate.
    if value > 0.0 && value < 1.0 {
        let suggested = (value * 100.0 * 1e6).round() / 1e6;
        return Err(format!(
            "'{text}' looks like a fraction, but thresholds are percentages: write {suggested}              for {suggested}%; {accepted} (0 is accepted, values between 0 and 1 are not)"
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests;
