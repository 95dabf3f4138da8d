//! Rates for `watch`: each refresh is one more interval between two samples, measured with
//! the same window arithmetic as `check --interval` ([`window::same_server`],
//! [`window::measured`]), so a statistics reset or a restart between two samples is a
//! [`Unusable`] break (shown as such, and the sliding window starts again), never a negative
//! rate. The sliding window is the last `--window` seconds of intervals; items are followed
//! by OID, as the window module does, so a renamed table keeps its history.
//!
//! Pure: the shell passes snapshots in and draws the rows that come out.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use super::window::{self, Counter, Scope, Unusable};
use crate::diag::{CRITICAL_HIT_RATIO, DEFAULT_MIN_BLOCKS, WARNING_HIT_RATIO, hit_ratio};
use crate::facts::StatsSnapshot;

/// What `watch` follows: every database, and the connected database's tables.
pub const SCOPES: [Scope; 2] = [Scope::Database, Scope::Tables];

/// Databases that hold only initdb's and connection-time catalog reads; left out, as `check`
/// leaves them out by default.
const TEMPLATES: [&str; 2] = ["template0", "template1"];

/// One interval between two consecutive samples: what every item did in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// First sample's time, epoch seconds on the server's clock.
    pub start_epoch: f64,
    /// Second sample's time.
    pub end_epoch: f64,
    /// `after − before` per item (never negative: see [`step`]).
    pub counters: Vec<Counter>,
}

impl Step {
    /// Length in seconds (never negative).
    pub fn seconds(&self) -> f64 {
        (self.end_epoch - self.start_epoch).max(0.0)
    }
}

/// The interval between two samples, or why it cannot be measured (a reset, a restart,
/// another server): the gate's own checks, so `watch` and `check` agree on what a break is.
pub fn step(before: &StatsSnapshot, after: &StatsSnapshot) -> Result<Step, Unusable> {
    window::same_server(before, after)?;
    let counters = window::measured(
        before,
        after,
        &window::counters(before, &SCOPES, false),
        &window::counters(after, &SCOPES, false),
    )?;
    Ok(Step {
        start_epoch: before.server.now_epoch,
        end_epoch: after.server.now_epoch,
        counters: counters
            .into_iter()
            .filter(|c| !(c.scope == Scope::Database && TEMPLATES.contains(&c.name.as_str())))
            .collect(),
    })
}

/// An item's identity across steps: its OIDs when known, else its label.
type Key = (Scope, Option<u32>, Option<u32>, Option<String>);

fn key(c: &Counter) -> Key {
    match (c.database_oid, c.oid) {
        (Some(db), Some(oid)) => (c.scope, Some(db), Some(oid), None),
        _ => (c.scope, None, None, Some(c.label())),
    }
}

/// The last `window_seconds` of intervals.
#[derive(Debug, Clone)]
pub struct History {
    window_seconds: f64,
    steps: VecDeque<Step>,
}

impl History {
    /// An empty history keeping `window_seconds` of intervals.
    pub fn new(window_seconds: f64) -> History {
        History {
            window_seconds,
            steps: VecDeque::new(),
        }
    }

    /// Adds the newest interval and forgets those that fell out of the window. An interval
    /// is kept while it starts no earlier than `window` before the newest one's end, with
    /// half an interval of slack so timer jitter does not drop one interval too many.
    pub fn push(&mut self, step: Step) {
        let slack = step.seconds() / 2.0;
        let end = step.end_epoch;
        // An idle table adds nothing to the sums or the sparkline (absent counts as zero), so
        // only the newest interval keeps its idle tables (the rows list every item of it):
        // a long window over a schema of thousands of tables stays small.
        if let Some(previous) = self.steps.back_mut() {
            previous
                .counters
                .retain(|c| c.scope == Scope::Database || c.hits != 0 || c.reads != 0);
        }
        self.steps.push_back(step);
        while let Some(first) = self.steps.front() {
            if self.steps.len() > 1 && end - first.start_epoch > self.window_seconds + slack {
                self.steps.pop_front();
            } else {
                break;
            }
        }
    }

    /// Forgets everything: after a reset or restart, the old counters say nothing about the
    /// new ones.
    pub fn clear(&mut self) {
        self.steps.clear();
    }

    /// The newest interval.
    pub fn last(&self) -> Option<&Step> {
        self.steps.back()
    }

    /// The seconds the kept intervals cover (at most about the window).
    pub fn covered_seconds(&self) -> f64 {
        match (self.steps.front(), self.steps.back()) {
            (Some(a), Some(b)) => (b.end_epoch - a.start_epoch).max(0.0),
            _ => 0.0,
        }
    }

    /// The window's length as asked for.
    pub fn window_seconds(&self) -> f64 {
        self.window_seconds
    }
}

/// How an item's hit ratio over the window stands against report's thresholds
/// ([`WARNING_HIT_RATIO`], [`CRITICAL_HIT_RATIO`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Fewer than [`DEFAULT_MIN_BLOCKS`] blocks touched in the window: not judged.
    Quiet,
    /// At or above the warning ratio.
    Ok,
    /// Below the warning ratio.
    Warning,
    /// Below the critical ratio.
    Critical,
}

impl Level {
    /// The word shown on screen.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Quiet => "quiet",
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }

    fn of(hits: i64, reads: i64) -> Level {
        if hits.saturating_add(reads) < DEFAULT_MIN_BLOCKS {
            return Level::Quiet;
        }
        match hit_ratio(hits, reads) {
            Some(r) if r < CRITICAL_HIT_RATIO => Level::Critical,
            Some(r) if r < WARNING_HIT_RATIO => Level::Warning,
            _ => Level::Ok,
        }
    }
}

/// One item's line: the last interval and the sliding window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// database or tables.
    pub scope: Scope,
    /// The database (the item itself for the database scope).
    pub database: String,
    /// Schema, for tables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Object name.
    pub name: String,
    /// Blocks read (missed shared buffers) in the last interval.
    pub read_blocks: i64,
    /// Blocks hit in the last interval.
    pub hit_blocks: i64,
    /// `read_blocks` per second of the last interval.
    pub reads_per_second: f64,
    /// `hit_blocks` per second of the last interval.
    pub hits_per_second: f64,
    /// Hit ratio (0–1) over the last interval; none when nothing was touched.
    pub ratio: Option<f64>,
    /// Blocks read over the window.
    pub window_read_blocks: i64,
    /// Blocks hit over the window.
    pub window_hit_blocks: i64,
    /// Hit ratio over the window.
    pub window_ratio: Option<f64>,
    /// The window's ratio against the thresholds.
    pub level: Level,
    /// Blocks read per second in each interval of the window, oldest first (0 where the
    /// item did not exist yet): the sparkline.
    pub reads_history: Vec<f64>,
    #[serde(skip)]
    key: Key,
}

impl Row {
    /// `db`, or `schema.table` (the database is the connected one).
    pub fn label(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

fn per_second(blocks: i64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        blocks as f64 / seconds
    } else {
        0.0
    }
}

/// A row for every item of the newest interval, with its window sums and history.
pub fn rows(history: &History) -> Vec<Row> {
    let Some(last) = history.last() else {
        return Vec::new();
    };
    let mut sums: HashMap<Key, (i64, i64)> = HashMap::new();
    let mut series: HashMap<Key, Vec<f64>> = HashMap::new();
    for (i, s) in history.steps.iter().enumerate() {
        for c in &s.counters {
            let k = key(c);
            let e = sums.entry(k.clone()).or_default();
            e.0 = e.0.saturating_add(c.hits);
            e.1 = e.1.saturating_add(c.reads);
            let line = series.entry(k).or_insert_with(|| vec![0.0; i]);
            line.resize(i, 0.0);
            line.push(per_second(c.reads, s.seconds()));
        }
    }
    let seconds = last.seconds();
    last.counters
        .iter()
        .map(|c| {
            let k = key(c);
            let (window_hit_blocks, window_read_blocks) = sums.get(&k).copied().unwrap_or_default();
            let mut reads_history = series.remove(&k).unwrap_or_default();
            reads_history.resize(history.steps.len(), 0.0);
            Row {
                scope: c.scope,
                database: c.database.clone(),
                schema: c.schema.clone(),
                name: c.name.clone(),
                read_blocks: c.reads,
                hit_blocks: c.hits,
                reads_per_second: per_second(c.reads, seconds),
                hits_per_second: per_second(c.hits, seconds),
                ratio: hit_ratio(c.hits, c.reads),
                window_read_blocks,
                window_hit_blocks,
                window_ratio: hit_ratio(window_hit_blocks, window_read_blocks),
                level: Level::of(window_hit_blocks, window_read_blocks),
                reads_history,
                key: k,
            }
        })
        .collect()
}

/// Most intervals a window may hold: the window is summed at every refresh, so its cost
/// grows with this (one hour of 1 s intervals, or a day of 24 s ones).
pub const MAX_WINDOW_INTERVALS: f64 = 3_600.0;

/// The orders the `s` key cycles through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SortKey {
    /// Most blocks read per second first (who causes the misses).
    #[default]
    Reads,
    /// Most blocks hit per second first (who is busiest).
    Hits,
    /// Worst hit ratio over the window first; untouched items last.
    Ratio,
    /// By name.
    Name,
}

impl SortKey {
    /// The next order for the `s` key.
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Reads => SortKey::Hits,
            SortKey::Hits => SortKey::Ratio,
            SortKey::Ratio => SortKey::Name,
            SortKey::Name => SortKey::Reads,
        }
    }

    /// The words shown in the header.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Reads => "reads/s",
            SortKey::Hits => "hits/s",
            SortKey::Ratio => "window ratio",
            SortKey::Name => "name",
        }
    }
}

/// Sorts rows in place; ties (and equal rates) fall back to the label, so the order is
/// stable from one refresh to the next.
pub fn sort(rows: &mut [Row], by: SortKey) {
    rows.sort_by(|a, b| {
        let primary = match by {
            SortKey::Reads => b.read_blocks.cmp(&a.read_blocks),
            SortKey::Hits => b.hit_blocks.cmp(&a.hit_blocks),
            SortKey::Ratio => match (a.window_ratio, b.window_ratio) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            },
            SortKey::Name => std::cmp::Ordering::Equal,
        };
        primary.then_with(|| a.label().cmp(&b.label()))
    });
}

/// A change worth a line in the findings: an item's window ratio crossed a threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The item's scope.
    pub scope: Scope,
    /// Its label, raw (render sanitises it).
    pub label: String,
    /// Level before (quiet when the item was not judged or not seen).
    pub from: Level,
    /// Level now.
    pub to: Level,
    /// The window's ratio now.
    pub window_ratio: Option<f64>,
}

/// The items whose level changed between two refreshes. Going quiet (traffic stopped) or
/// coming out of quiet into ok is not news; anything else is.
pub fn changes(before: &[Row], now: &[Row]) -> Vec<Change> {
    let earlier: HashMap<&Key, Level> = before.iter().map(|r| (&r.key, r.level)).collect();
    now.iter()
        .filter_map(|r| {
            let from = earlier.get(&r.key).copied().unwrap_or(Level::Quiet);
            let news = from != r.level
                && r.level != Level::Quiet
                && !(from == Level::Quiet && r.level == Level::Ok);
            news.then(|| Change {
                scope: r.scope,
                label: r.label(),
                from,
                to: r.level,
                window_ratio: r.window_ratio,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "rates_tests.rs"]
pub(crate) mod tests;
