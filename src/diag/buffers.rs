//! The Buffers section: what sits in shared_buffers, from `pg_buffercache` facts. How full
//! and how dirty the cache is, the usage-count distribution (shown as it is: the sources give
//! no verdict on its shape, and neither do we), and the relations holding the most buffers
//! with the share of each relation that is resident. Pure; the size guard for the per-buffer
//! scan lives here so the shell and the tests agree on it.

use serde::{Deserialize, Serialize};

use super::hit_ratio;
use crate::facts::{BufferCacheStats, BufferRelations};

/// Above this much shared_buffers the per-buffer scan of `pg_buffercache` (one row per
/// buffer: a million rows at 8 GiB) runs only with `--buffers-scan`. pganalyze measured
/// about 12 s at 200 GB; 8 GiB keeps an unasked scan to a fraction of a second.
pub const SCAN_GUARD_BYTES: u64 = 8 << 30;

/// Whether the per-buffer scan may run: within the guard, or forced.
pub fn scan_allowed(shared_buffers_bytes: u64, forced: bool) -> bool {
    forced || shared_buffers_bytes <= SCAN_GUARD_BYTES
}

/// `buffers` in the report JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuffersSection {
    /// pg_buffercache's installed version.
    pub extension_version: String,
    /// shared_buffers, bytes.
    pub shared_buffers_bytes: u64,
    /// shared_buffers in buffers.
    pub buffers_total: i64,
    /// Buffers holding a block.
    pub used: i64,
    /// Buffers holding nothing yet.
    pub unused: i64,
    /// Dirty buffers.
    pub dirty: i64,
    /// Pinned buffers.
    pub pinned: i64,
    /// `used / buffers_total`, or `null` for an empty cache.
    pub used_ratio: Option<f64>,
    /// `dirty / used`, or `null` with nothing used.
    pub dirty_ratio: Option<f64>,
    /// Buffers per usage count, ascending: a distribution, without a verdict.
    pub usage_counts: Vec<UsageCountRow>,
    /// Relations with the most buffers; `null` when the per-buffer scan did not run (see
    /// notes).
    pub relations: Option<Vec<BufferRelationRow>>,
    /// Relations of the connected database with buffers, before the limit.
    pub relations_total: Option<i64>,
    /// Buffers of other databases, summed.
    pub other_databases_buffers: Option<i64>,
    /// Buffers whose file maps to no relation any more.
    pub unresolved_buffers: Option<i64>,
}

/// One `buffers.usage_counts[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageCountRow {
    /// Usage count, 0 to 5.
    pub usage_count: i32,
    /// Buffers with it.
    pub buffers: i64,
    /// Share of all buffers.
    pub share: Option<f64>,
    /// Of which dirty.
    pub dirty: i64,
    /// Of which pinned.
    pub pinned: i64,
}

/// One `buffers.relations[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BufferRelationRow {
    /// Schema name.
    pub schema: String,
    /// Relation name.
    pub name: String,
    /// `table`, `index`, `toast`, `materialized_view`, `sequence`, or the relkind letter.
    pub kind: String,
    /// Buffers holding its blocks.
    pub buffers: i64,
    /// Those buffers in bytes.
    pub bytes: u64,
    /// Share of shared_buffers.
    pub share_of_cache: Option<f64>,
    /// Share of the relation that is resident (its cached bytes over its size, at most 1),
    /// or `null` when its size is unknown or zero.
    pub resident_ratio: Option<f64>,
    /// Of its buffers, dirty.
    pub dirty: i64,
    /// Its size over all forks, bytes.
    pub size_bytes: Option<u64>,
}

/// `relkind` in words.
fn kind(relkind: &str) -> String {
    match relkind {
        "r" | "p" => "table",
        "i" | "I" => "index",
        "t" => "toast",
        "m" => "materialized_view",
        "S" => "sequence",
        other => other,
    }
    .to_owned()
}

/// `part / whole` as a fraction, `None` without a whole.
fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0 && part >= 0).then(|| part as f64 / whole as f64)
}

/// The section for the report.
pub fn section(b: &BufferCacheStats) -> BuffersSection {
    let block = u64::try_from(b.block_size).unwrap_or(0);
    let bytes = |buffers: i64| u64::try_from(buffers).unwrap_or(0).saturating_mul(block);
    let relations = b
        .relations
        .as_ref()
        .map(|r| rows(r, b.buffers_total, &bytes));
    BuffersSection {
        extension_version: b.extension_version.clone(),
        shared_buffers_bytes: bytes(b.buffers_total),
        buffers_total: b.buffers_total,
        used: b.used,
        unused: (b.buffers_total - b.used).max(0),
        dirty: b.dirty,
        pinned: b.pinned,
        used_ratio: share(b.used, b.buffers_total),
        // dirty / used is "hit ratio"-shaped: a part of a whole, in 0..=1.
        dirty_ratio: hit_ratio(b.dirty, (b.used - b.dirty).max(0)),
        usage_counts: b
            .usage_counts
            .iter()
            .map(|u| UsageCountRow {
                usage_count: u.usage_count,
                buffers: u.buffers,
                share: share(u.buffers, b.buffers_total),
                dirty: u.dirty,
                pinned: u.pinned,
            })
            .collect(),
        relations,
        relations_total: b.relations.as_ref().map(|r| r.relations_total),
        other_databases_buffers: b.relations.as_ref().map(|r| r.other_databases),
        unresolved_buffers: b.relations.as_ref().map(|r| r.unresolved),
    }
}

fn rows(r: &BufferRelations, total: i64, bytes: &dyn Fn(i64) -> u64) -> Vec<BufferRelationRow> {
    let mut rows: Vec<BufferRelationRow> = r
        .top
        .iter()
        .map(|rel| {
            let size = rel.size_bytes.and_then(|s| u64::try_from(s).ok());
            let cached = bytes(rel.buffers);
            BufferRelationRow {
                schema: rel.schema.clone(),
                name: rel.name.clone(),
                kind: kind(&rel.kind),
                buffers: rel.buffers,
                bytes: cached,
                share_of_cache: share(rel.buffers, total),
                // A relation truncated since its blocks were cached can hold more buffers
                // than its size: cap at all of it.
                resident_ratio: size
                    .filter(|&s| s > 0)
                    .map(|s| (cached as f64 / s as f64).min(1.0)),
                dirty: rel.dirty,
                size_bytes: size,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.buffers.cmp(&a.buffers).then_with(|| a.name.cmp(&b.name)));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{BufferedRelation, UsageCount};

    fn stats(relations: Option<BufferRelations>) -> BufferCacheStats {
        BufferCacheStats {
            extension_version: "1.4".to_owned(),
            block_size: 8192,
            buffers_total: 16_384,
            used: 8_192,
            dirty: 2_048,
            pinned: 1,
            usage_counts: vec![
                UsageCount {
                    usage_count: 0,
                    buffers: 8_192,
                    dirty: 0,
                    pinned: 0,
                },
                UsageCount {
                    usage_count: 5,
                    buffers: 8_192,
                    dirty: 2_048,
                    pinned: 1,
                },
            ],
            relations,
        }
    }

    fn rel(name: &str, kind: &str, buffers: i64, size: Option<i64>) -> BufferedRelation {
        BufferedRelation {
            relid: 1,
            schema: "public".to_owned(),
            name: name.to_owned(),
            kind: kind.to_owned(),
            buffers,
            dirty: 0,
            size_bytes: size,
        }
    }

    #[test]
    fn totals_and_distribution() {
        let s = section(&stats(None));
        assert_eq!(s.shared_buffers_bytes, 128 << 20);
        assert_eq!(s.unused, 8_192);
        assert_eq!(s.used_ratio, Some(0.5));
        assert_eq!(s.dirty_ratio, Some(0.25));
        assert_eq!(s.usage_counts.len(), 2);
        assert_eq!(s.usage_counts[1].share, Some(0.5));
        assert_eq!(s.relations, None);
        assert_eq!(s.other_databases_buffers, None);
    }

    #[test]
    fn relations_with_their_resident_share() {
        let r = BufferRelations {
            top: vec![
                rel("small", "i", 100, Some(100 * 8192 * 4)),
                rel("big", "r", 4_000, Some(4_000 * 8192)),
                rel("shrunk", "m", 50, Some(8192)),
                rel("gone", "r", 10, None),
            ],
            relations_total: 9,
            other_databases: 300,
            unresolved: 7,
        };
        let s = section(&stats(Some(r)));
        let rows = s.relations.unwrap();
        assert_eq!(rows[0].name, "big", "most buffers first");
        assert_eq!(rows[0].kind, "table");
        assert_eq!(rows[0].resident_ratio, Some(1.0));
        assert_eq!(rows[0].bytes, 4_000 * 8192);
        assert_eq!(rows[1].kind, "index");
        assert_eq!(rows[1].resident_ratio, Some(0.25));
        assert_eq!(rows[1].share_of_cache, Some(100.0 / 16_384.0));
        assert_eq!(rows[2].kind, "materialized_view");
        assert_eq!(rows[2].resident_ratio, Some(1.0), "capped");
        assert_eq!(rows[3].resident_ratio, None);
        assert_eq!(s.relations_total, Some(9));
        assert_eq!(s.other_databases_buffers, Some(300));
        assert_eq!(s.unresolved_buffers, Some(7));
    }

    #[test]
    fn the_guard() {
        assert!(scan_allowed(SCAN_GUARD_BYTES, false));
        assert!(!scan_allowed(SCAN_GUARD_BYTES + 8192, false));
        assert!(scan_allowed(SCAN_GUARD_BYTES + 8192, true));
    }
}
