//! The CI and monitoring gate: a pure function from window counters and thresholds to a
//! verdict with Nagios semantics (OK, WARNING, CRITICAL, UNKNOWN). No I/O: the shell collects
//! the samples ([`window`]) and renders the verdict (`render::verdict`).

pub mod config;
pub mod rates;
pub mod redis;
pub mod window;

use serde::Serialize;

pub use window::{Counter, Scope, Unusable, Window, WindowKind};

/// Default floor: an item with fewer blocks touched in the window is "insufficient data".
/// The same floor as `report --min-blocks`, so both commands call the same items noise.
pub use crate::diag::DEFAULT_MIN_BLOCKS;
use crate::diag::hit_ratio;
use crate::diag::pattern::Pattern;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// Why the result is UNKNOWN (or, for young statistics, whatever `on_insufficient`
    /// says), when it is.
    pub reason: Option<Reason>,
    /// `--include`/`--exclude`/`[[override]]` patterns that matched no item: almost always
    /// a mistake (a regex written for the bare name, which sees `schema.name`).
    #[serde(skip)]
    pub unmatched: Vec<Unmatched>,
}

/// Where an unmatched pattern came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternSource {
    /// `--include` or `include = [...]`.
    Include,
    /// `--exclude` or `exclude = [...]`.
    Exclude,
    /// An `[[override]]`'s `match`.
    Override,
}

/// A pattern that matched no item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    /// Which option held it.
    pub source: PatternSource,
    /// The pattern as typed.
    pub pattern: String,
}

/// Databases created by initdb as copy sources, judged only when asked
/// (`--include-templates`): nobody queries them, so their counters are initdb's and
/// connection-time catalog reads.
pub const TEMPLATE_DATABASES: [&str; 2] = ["template0", "template1"];

/// The patterns of `opts` that match none of `counters`.
fn unmatched_patterns(counters: &[Counter], opts: &GateOptions) -> Vec<Unmatched> {
    let none = |p: &Pattern| !counters.iter().any(|c| matches(p, c));
    let mut out = Vec::new();
    let lists = [
        (
            PatternSource::Include,
            opts.include.iter().collect::<Vec<_>>(),
        ),
        (PatternSource::Exclude, opts.exclude.iter().collect()),
        (
            PatternSource::Override,
            opts.overrides.iter().map(|o| &o.pattern).collect(),
        ),
    ];
    for (source, patterns) in lists {
        for p in patterns.into_iter().filter(|p| none(p)) {
            out.push(Unmatched {
                source,
                pattern: p.to_string(),
            });
        }
    }
    out
}

/// Why nothing (or not everything) could be judged. Names are raw, as the server gave
/// them: `render` sanitises them for a terminal and escapes them for XML, JSON keeps them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The two samples cannot be compared.
    Unusable(Unusable),
    /// Nothing matched the scopes and patterns.
    NoMatch,
    /// Every item is under the floor.
    Insufficient {
        /// The floor.
        min_blocks: i64,
        /// The most blocks any item touched.
        most: i64,
    },
    /// The lifetime statistics are too young to judge (diag's rule, the one `report` uses).
    YoungStatistics {
        /// Age of the lifetime window, seconds.
        age_seconds: u64,
        /// Blocks touched by the judged databases.
        blocks: i64,
    },
    /// The snapshot holds another database's tables.
    OtherDatabase {
        /// Database of the snapshot.
        snapshot: String,
        /// Database of this check.
        connected: String,
    },
    /// The measurement failed (cannot connect, bad snapshot file); already one line.
    Failed {
        /// The error message.
        message: String,
    },
}

impl Verdict {
    /// An UNKNOWN verdict with its reason (reset detected, cannot connect, …).
    pub fn unknown(reason: Reason, window: Option<Window>) -> Verdict {
        Verdict {
            status: Status::Unknown,
            window,
            items: Vec::new(),
            reason: Some(reason),
            unmatched: Vec::new(),
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
    let unmatched = unmatched_patterns(&counters, opts);
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
        let mut v = Verdict::unknown(Reason::NoMatch, Some(window));
        v.unmatched = unmatched;
        return v;
    }
    if items.iter().all(|i| i.insufficient) {
        let most = items
            .iter()
            .map(|i| i.counter.hits.saturating_add(i.counter.reads))
            .max()
            .unwrap_or(0);
        let mut v = Verdict::unknown(
            Reason::Insufficient {
                min_blocks: opts.min_blocks,
                most,
            },
            Some(window),
        );
        v.items = items;
        v.unmatched = unmatched;
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
        unmatched,
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
