//! The statement counters of one window, measured and summed: the input that both the
//! statement list (`diag::queries`) and the cache candidates (`diag::candidates`) rank. Kept
//! apart from both so that each depends on these plain types and neither on the other.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::facts::StatementEntry;

/// What span the counters cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    /// Since the extension's last reset.
    Lifetime,
    /// Between two samples of this run (`--interval`).
    Interval,
    /// Since a saved snapshot (`--since FILE`).
    Since,
}

/// The window of the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QueryWindow {
    /// Kind of window.
    pub kind: WindowKind,
    /// Start (server clock, epoch seconds); `None` for a lifetime window whose start the
    /// extension does not record (before 1.9).
    pub start_epoch: Option<f64>,
    /// End (server clock, epoch seconds).
    pub end_epoch: f64,
}

/// Counters over a window, ready to rank.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The window.
    pub window: QueryWindow,
    /// Entries with at least one call in the window, counters over the window.
    pub entries: Vec<StatementEntry>,
    /// What the numbers cannot show (evictions, resets, hidden entries, read times off).
    pub notes: Vec<String>,
    /// `track_io_timing` was on at the end.
    pub track_io_timing: bool,
    /// Database names by OID, from the end sample.
    pub databases: HashMap<u32, String>,
    /// OID of the database the end sample was taken from: the one whose tables can be
    /// resolved for candidates.
    pub connected_dbid: Option<u32>,
}

/// Sums over every visible statement of the window: the denominators of the shares.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Totals {
    /// Statements with calls in the window.
    pub statements: usize,
    /// Calls.
    pub calls: i64,
    /// Execution time, ms.
    pub exec_ms: f64,
    /// Shared blocks read.
    pub shared_blks_read: i64,
    /// Temp blocks written.
    pub temp_blks_written: i64,
}

/// The first `n` of `entries` (0: all) by `key`, largest first, ties by the entry's key.
///
/// Only the `n` shown are sorted: `select_nth_unstable_by` partitions the rest away in
/// linear time. Sorting every entry (5,000 by default, several times per run) was a tenth
/// of `queries`' client CPU. The order is total (keys are unique), so an unstable sort
/// gives the same list every time.
pub fn top_by<'a>(
    entries: impl Iterator<Item = &'a StatementEntry>,
    n: usize,
    key: impl Fn(&crate::facts::StatementCounters) -> f64,
) -> Vec<&'a StatementEntry> {
    let mut v: Vec<&StatementEntry> = entries.collect();
    let order = |a: &&StatementEntry, b: &&StatementEntry| {
        key(&b.counters)
            .total_cmp(&key(&a.counters))
            .then(a.key.cmp(&b.key))
    };
    if n > 0 && n < v.len() {
        v.select_nth_unstable_by(n - 1, order);
        v.truncate(n);
    }
    v.sort_unstable_by(order);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{StatementCounters, StatementKey};

    fn entry(queryid: i64, read: i64) -> StatementEntry {
        StatementEntry {
            key: StatementKey {
                userid: 10,
                dbid: 5,
                queryid,
                toplevel: Some(true),
            },
            counters: StatementCounters {
                calls: 1,
                shared_blks_read: read,
                ..StatementCounters::default()
            },
            stats_since_epoch: None,
        }
    }

    /// The first n are those of a full sort, in its order, for every n (ties included).
    #[test]
    fn top_n_is_the_prefix_of_the_full_order() {
        // Reads with many ties, in a scrambled order.
        let entries: Vec<StatementEntry> = (0..200)
            .map(|i: i64| entry((i * 7919) % 211, (i * 31) % 17))
            .collect();
        let read = |c: &StatementCounters| c.shared_blks_read as f64;
        let mut full: Vec<&StatementEntry> = entries.iter().collect();
        full.sort_by(|a, b| {
            b.counters
                .shared_blks_read
                .cmp(&a.counters.shared_blks_read)
                .then(a.key.cmp(&b.key))
        });
        assert_eq!(top_by(entries.iter(), 0, read), full, "0 is all");
        for n in [1, 2, 5, 17, 199, 200, 500] {
            let want: Vec<_> = full.iter().copied().take(n).collect();
            assert_eq!(top_by(entries.iter(), n, read), want, "n = {n}");
        }
    }
}
