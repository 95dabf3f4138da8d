//! Fleet runs: one command over many named targets. This module is the pure half — the
//! inventory file ([`inventory`]) and the per-target result ([`TargetRun`]) that renderers
//! take; the fan-out itself (bounded pool, deadlines, secrets) is shell, in `app::fleet`.
//! Each target runs the same pipeline as a single-server command; nothing here knows how.

pub mod inventory;

use std::collections::BTreeMap;
use std::time::Duration;

pub use inventory::{Inventory, Kind, PasswordRef, TargetSpec};

/// What one target's job produced: its name and labels, how long it took, and its value or
/// the one-line reason it has none (cannot connect, timed out, too many rows, …). A
/// failure never carries a password (connection errors are redacted where they are made).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRun<T> {
    /// The inventory name.
    pub name: String,
    /// The inventory labels.
    pub labels: BTreeMap<String, String>,
    /// Wall time of this target's job, connection included.
    pub elapsed: Duration,
    /// The job's value, or why there is none.
    pub result: Result<T, String>,
}

impl<T> TargetRun<T> {
    /// Whether the job produced a value (Prometheus' `up`).
    pub fn up(&self) -> bool {
        self.result.is_ok()
    }

    /// The same run with its value turned into another.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> TargetRun<U> {
        TargetRun {
            name: self.name,
            labels: self.labels,
            elapsed: self.elapsed,
            result: self.result.map(f),
        }
    }
}
