//! The measured window: hit and read counters of each judged item, either lifetime (one
//! snapshot, since the last statistics reset) or the difference between two snapshots.
//!
//! A difference is only meaningful when both samples count the same thing: the same server
//! (system identifier), no restart (postmaster start time), no statistics reset (each
//! database's `stats_reset`), and no counter going backwards (a single-table reset). Any of
//! those makes the window unusable, and the caller reports UNKNOWN with the reason, never a
//! negative or above-100% ratio.

use std::collections::HashMap;

use serde::Serialize;

use crate::facts::StatsSnapshot;

/// What kind of object an item is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// A database (pg_stat_database).
    Database,
    /// A table's heap (pg_statio_user_tables).
    Tables,
    /// An index (pg_statio_user_indexes).
    Indexes,
}

impl Scope {
    /// The lowercase name used by flags and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Database => "database",
            Scope::Tables => "tables",
            Scope::Indexes => "indexes",
        }
    }

    /// The word for one item of this scope, for messages: database, table, index.
    pub fn item_word(self) -> &'static str {
        match self {
            Scope::Database => "database",
            Scope::Tables => "table",
            Scope::Indexes => "index",
        }
    }
}

/// Counters of one item over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Counter {
    /// Scope of the item.
    pub scope: Scope,
    /// Database the item lives in (the database itself for the database scope).
    pub database: String,
    /// Schema, for tables and indexes.
    pub schema: Option<String>,
    /// Object name (database, table or index name).
    pub name: String,
    /// Blocks hit in the window.
    pub hits: i64,
    /// Blocks read in the window.
    pub reads: i64,
}

impl Counter {
    /// The display name: `db`, `db.schema.table` or `db.schema.index`.
    pub fn label(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}.{}", self.database, schema, self.name),
            None => self.name.clone(),
        }
    }
}

/// Which time span the counters cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    /// Since the last statistics reset or server start.
    Lifetime,
    /// Between two samples taken by this run (`--interval`).
    Interval,
    /// Since a saved snapshot (`--since FILE`).
    Since,
}

/// The window the verdict judges.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    /// Kind of window.
    pub kind: WindowKind,
    /// Start, epoch seconds on the server's clock.
    pub start_epoch: f64,
    /// End, epoch seconds on the server's clock.
    pub end_epoch: f64,
}

impl Window {
    /// Length in seconds (never negative).
    pub fn seconds(&self) -> f64 {
        (self.end_epoch - self.start_epoch).max(0.0)
    }
}

/// Counters of every item of the requested scopes in one snapshot. `connected_only` limits
/// the database scope to the database the snapshot was taken from.
pub fn counters(snap: &StatsSnapshot, scopes: &[Scope], connected_only: bool) -> Vec<Counter> {
    let mut out = Vec::new();
    if scopes.contains(&Scope::Database) {
        for db in &snap.databases {
            if connected_only && db.name != snap.server.database {
                continue;
            }
            out.push(Counter {
                scope: Scope::Database,
                database: db.name.clone(),
                schema: None,
                name: db.name.clone(),
                hits: db.blks_hit,
                reads: db.blks_read,
            });
        }
    }
    if scopes.contains(&Scope::Tables) {
        for t in &snap.tables {
            out.push(Counter {
                scope: Scope::Tables,
                database: t.database.clone(),
                schema: Some(t.schema.clone()),
                name: t.name.clone(),
                hits: t.heap_blks_hit,
                reads: t.heap_blks_read,
            });
        }
    }
    if scopes.contains(&Scope::Indexes) {
        for i in &snap.indexes {
            out.push(Counter {
                scope: Scope::Indexes,
                database: i.database.clone(),
                schema: Some(i.schema.clone()),
                name: i.name.clone(),
                hits: i.idx_blks_hit,
                reads: i.idx_blks_read,
            });
        }
    }
    out
}

/// The lifetime window of one snapshot: from the latest of server start and the statistics
/// resets of the judged databases, to the snapshot's time.
pub fn lifetime_window(snap: &StatsSnapshot, databases: &[&str]) -> Window {
    let reset = snap
        .databases
        .iter()
        .filter(|d| databases.contains(&d.name.as_str()))
        .filter_map(|d| d.stats_reset_epoch)
        .fold(f64::NEG_INFINITY, f64::max);
    Window {
        kind: WindowKind::Lifetime,
        start_epoch: snap.server.start_epoch.max(reset),
        end_epoch: snap.server.now_epoch,
    }
}

/// Checks that `before` and `after` sample the same statistics; the error is the one-line
/// reason for UNKNOWN.
pub fn comparable(before: &StatsSnapshot, after: &StatsSnapshot) -> Result<(), String> {
    if let (Some(a), Some(b)) = (
        &before.server.system_identifier,
        &after.server.system_identifier,
    ) && a != b
    {
        return Err(format!(
            "the two samples come from different servers (system identifier {a} vs {b})"
        ));
    }
    if (after.server.start_epoch - before.server.start_epoch).abs() > 0.001 {
        return Err("the server restarted between the two samples".to_string());
    }
    if after.server.now_epoch < before.server.now_epoch {
        return Err("the snapshot is newer than the current sample".to_string());
    }
    let earlier: HashMap<&str, Option<f64>> = before
        .databases
        .iter()
        .map(|d| (d.name.as_str(), d.stats_reset_epoch))
        .collect();
    for db in &after.databases {
        if let Some(reset_before) = earlier.get(db.name.as_str())
            && !same_reset(*reset_before, db.stats_reset_epoch)
        {
            return Err(format!(
                "statistics of database {} were reset between the two samples",
                crate::render::sanitize::sanitize(&db.name)
            ));
        }
    }
    Ok(())
}

fn same_reset(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => (x - y).abs() < 0.001,
        _ => false,
    }
}

/// `after − before` for every item of `after`. An item absent from `before` (a table created
/// in the window) counts from zero; an item absent from `after` (dropped) is not judged. A
/// negative difference means a reset the database-level check could not see.
pub fn difference(before: &[Counter], after: &[Counter]) -> Result<Vec<Counter>, String> {
    let earlier: HashMap<(Scope, &str, Option<&str>, &str), &Counter> = before
        .iter()
        .map(|c| {
            (
                (
                    c.scope,
                    c.database.as_str(),
                    c.schema.as_deref(),
                    c.name.as_str(),
                ),
                c,
            )
        })
        .collect();
    let mut out = Vec::with_capacity(after.len());
    for c in after {
        let key = (
            c.scope,
            c.database.as_str(),
            c.schema.as_deref(),
            c.name.as_str(),
        );
        let (hits, reads) = match earlier.get(&key) {
            Some(b) => (c.hits - b.hits, c.reads - b.reads),
            None => (c.hits, c.reads),
        };
        if hits < 0 || reads < 0 {
            return Err(format!(
                "counters of {} {} went backwards (statistics reset between the two samples)",
                c.scope.item_word(),
                crate::render::sanitize::sanitize(&c.label())
            ));
        }
        out.push(Counter {
            hits,
            reads,
            ..c.clone()
        });
    }
    Ok(out)
}
