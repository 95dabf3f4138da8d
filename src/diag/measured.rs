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
