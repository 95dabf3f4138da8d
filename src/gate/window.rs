//! The measured window: hit and read counters of each judged item, either lifetime (one
//! snapshot, since the last statistics reset) or the difference between two snapshots.
//!
//! A difference is only meaningful when both samples count the same thing: the same server
//! (system identifier), no restart (postmaster start time), no statistics reset (each
//! database's `stats_reset`), and no counter going backwards (a single-table reset). Any of
//! those makes the window unusable, and the caller reports UNKNOWN with the reason, never a
//! negative or above-100% ratio.
//!
//! Items are followed by identity (OID), not name: a name can be dropped and recreated, or
//! renamed onto, between two samples, and a difference of two unrelated objects' counters
//! means nothing. Reasons are structured, with raw names; `render` decides how to show them.

use std::collections::HashMap;

use serde::Serialize;

use crate::facts::StatsSnapshot;

/// What kind of object an item is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// A database (pg_stat_database).
    Database,
    /// A table's heap (pg_statio_user_tables).
    Tables,
    /// An index (pg_statio_user_indexes).
    Indexes,
    /// A Redis cache's keyspace lookups (`redis check`): hits are `keyspace_hits`, reads
    /// are `keyspace_misses`. Not a `check --scope` nor a config-file scope.
    #[serde(skip_deserializing)]
    Keyspace,
}

impl Scope {
    /// The lowercase name used by flags and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Database => "database",
            Scope::Tables => "tables",
            Scope::Indexes => "indexes",
            Scope::Keyspace => "keyspace",
        }
    }

    /// The word for one item of this scope, for messages: database, table, index.
    pub fn item_word(self) -> &'static str {
        match self {
            Scope::Database => "database",
            Scope::Tables => "table",
            Scope::Indexes => "index",
            Scope::Keyspace => "cache",
        }
    }

    /// What one unit of traffic is, plural, for messages: blocks (PostgreSQL) or lookups
    /// (a Redis keyspace).
    pub fn unit_word(self) -> &'static str {
        match self {
            Scope::Keyspace => "lookups",
            _ => "blocks",
        }
    }

    /// What a miss is called: reads (blocks read from disk or the OS cache) or misses
    /// (keyspace lookups of a key that was not there).
    pub fn miss_word(self) -> &'static str {
        match self {
            Scope::Keyspace => "misses",
            _ => "reads",
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
    /// The object's OID (`datid`, `relid`, `indexrelid`): its identity across samples, since
    /// a name can be dropped and recreated, or renamed onto. `None` in snapshots written
    /// before OIDs were collected, which are matched by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oid: Option<u32>,
    /// OID of the database holding the object (the database's own for the database scope).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_oid: Option<u32>,
    /// An object of the same name existed at the window's start under another OID (dropped
    /// and recreated, or another renamed onto the name): these counters start at the new
    /// object's creation, not at the window's start.
    pub recreated: bool,
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
    let datid = |name: &str| {
        snap.databases
            .iter()
            .find(|d| d.name == name)
            .and_then(|d| d.datid)
    };
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
                oid: db.datid,
                database_oid: db.datid,
                recreated: false,
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
                oid: Some(t.relid),
                database_oid: datid(&t.database),
                recreated: false,
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
                oid: Some(i.indexrelid),
                database_oid: datid(&i.database),
                recreated: false,
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

/// Checks that `before` and `after` sample the same server without a restart in between;
/// the error is the one-line reason for UNKNOWN.
pub fn same_server(before: &StatsSnapshot, after: &StatsSnapshot) -> Result<(), Unusable> {
    if let (Some(a), Some(b)) = (
        &before.server.system_identifier,
        &after.server.system_identifier,
    ) && a != b
    {
        return Err(Unusable::OtherServer {
            before: a.clone(),
            after: b.clone(),
        });
    }
    if (after.server.start_epoch - before.server.start_epoch).abs() > 0.001 {
        return Err(Unusable::Restart);
    }
    if after.server.now_epoch < before.server.now_epoch {
        return Err(Unusable::SnapshotNewer);
    }
    Ok(())
}

/// Checks that no database's statistics were reset between the samples. A database is
/// followed by OID when both samples have them: a database dropped and recreated under the
/// same name is a new object (its counters start at zero), not a reset, and never passes
/// for the old one. PostgreSQL also stamps the database's `stats_reset` when one table's
/// counters are reset (`pg_stat_reset_single_table_counters`), which is how a single-table
/// reset followed by more traffic than before is still caught.
pub fn no_reset(before: &StatsSnapshot, after: &StatsSnapshot) -> Result<(), Unusable> {
    let by_oid = before
        .databases
        .iter()
        .chain(&after.databases)
        .all(|d| d.datid.is_some());
    for db in &after.databases {
        let earlier = before.databases.iter().find(|b| {
            if by_oid {
                b.datid == db.datid
            } else {
                b.name == db.name
            }
        });
        if let Some(b) = earlier
            && !same_reset(b.stats_reset_epoch, db.stats_reset_epoch)
        {
            return Err(Unusable::Reset {
                database: db.name.clone(),
            });
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

/// Why two samples cannot be compared: structured, with raw names, so `render` decides how
/// to show them (sanitised for a terminal, escaped for XML, raw in JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Unusable {
    /// Different system identifiers.
    OtherServer {
        /// Identifier in the first sample.
        before: String,
        /// Identifier in the second sample.
        after: String,
    },
    /// `pg_postmaster_start_time()` changed.
    Restart,
    /// The first sample is later than the second.
    SnapshotNewer,
    /// A database's `stats_reset` changed.
    Reset {
        /// The database, raw.
        database: String,
    },
    /// One item's counters went backwards.
    Backwards {
        /// Its scope.
        scope: Scope,
        /// Its label, raw.
        label: String,
    },
    /// A Redis server's `run_id` changed: it restarted, or it is another server.
    RunIdChanged {
        /// `run_id` of the first sample.
        before: String,
        /// `run_id` of the second sample.
        after: String,
    },
    /// A Redis server's `uptime_in_seconds` went down: it restarted.
    UptimeDecreased {
        /// Uptime at the first sample, seconds.
        before: u64,
        /// Uptime at the second sample, seconds.
        after: u64,
    },
    /// A Redis statistics counter went down with the same `run_id` and a growing uptime:
    /// `CONFIG RESETSTAT` ran in the window (it keeps both).
    CounterDecreased {
        /// The INFO field, e.g. `keyspace_hits`.
        counter: String,
        /// Its value at the first sample.
        before: u64,
        /// Its value at the second sample.
        after: u64,
        /// How many other counters went down too.
        others: usize,
    },
    /// A counter difference does not fit (only from a crafted file).
    Overflow {
        /// Its label, raw.
        label: String,
    },
}

/// Which identity the samples share: OIDs when every counter of both has them, else names
/// (snapshots written before OIDs were collected).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Identity<'a> {
    Oid(Scope, u32, u32),
    Name(Scope, &'a str, Option<&'a str>, &'a str),
}

fn name_key(c: &Counter) -> Identity<'_> {
    Identity::Name(
        c.scope,
        c.database.as_str(),
        c.schema.as_deref(),
        c.name.as_str(),
    )
}

/// `after − before` for every item of `after`, matched by identity (OID). An item absent
/// from `before` (created in the window) counts from zero; when an object of the same name
/// was there under another OID (dropped and recreated, renamed onto) it is marked
/// `recreated`; an item absent from `after` (dropped) is not judged; a renamed item keeps
/// its counters and shows its new name. A negative difference means a reset the
/// database-level check could not see.
pub fn difference(before: &[Counter], after: &[Counter]) -> Result<Vec<Counter>, Unusable> {
    let by_oid = before
        .iter()
        .chain(after)
        .all(|c| c.oid.is_some() && c.database_oid.is_some());
    fn identity(c: &Counter, by_oid: bool) -> Identity<'_> {
        match (by_oid, c.database_oid, c.oid) {
            (true, Some(db), Some(oid)) => Identity::Oid(c.scope, db, oid),
            _ => name_key(c),
        }
    }
    let earlier: HashMap<Identity<'_>, &Counter> =
        before.iter().map(|c| (identity(c, by_oid), c)).collect();
    let names: HashMap<Identity<'_>, &Counter> = before.iter().map(|c| (name_key(c), c)).collect();
    let mut out = Vec::with_capacity(after.len());
    for c in after {
        let (hits, reads, recreated) = match earlier.get(&identity(c, by_oid)) {
            Some(b) => {
                let (Some(hits), Some(reads)) =
                    (c.hits.checked_sub(b.hits), c.reads.checked_sub(b.reads))
                else {
                    return Err(Unusable::Overflow { label: c.label() });
                };
                (hits, reads, false)
            }
            None => (c.hits, c.reads, by_oid && names.contains_key(&name_key(c))),
        };
        if hits < 0 || reads < 0 {
            return Err(Unusable::Backwards {
                scope: c.scope,
                label: c.label(),
            });
        }
        out.push(Counter {
            hits,
            reads,
            recreated,
            ..c.clone()
        });
    }
    Ok(out)
}

/// The window's counters from two comparable samples (after [`same_server`]): `after −
/// before` of the given counters, refused when statistics were reset in between. The
/// reason names what it can: a whole-database reset (`pg_stat_reset()`) zeroes the
/// database's own counters and is reported as that database's reset; a single-table reset
/// also stamps the database's `stats_reset` but leaves its counters growing, so the table
/// whose counters went backwards is named instead, when one did.
pub fn measured(
    start: &StatsSnapshot,
    end: &StatsSnapshot,
    before: &[Counter],
    after: &[Counter],
) -> Result<Vec<Counter>, Unusable> {
    let diff = difference(before, after);
    let Err(reset) = no_reset(start, end) else {
        return diff;
    };
    let databases = [Scope::Database];
    let whole = difference(
        &counters(start, &databases, false),
        &counters(end, &databases, false),
    )
    .is_err();
    match diff {
        Err(item @ Unusable::Backwards { scope, .. }) if !whole && scope != Scope::Database => {
            Err(item)
        }
        _ => Err(reset),
    }
}
