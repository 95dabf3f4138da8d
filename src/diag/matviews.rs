//! Materialized views in the report: size, reads, hit ratio and whether anything ever scans
//! them. A materialized view is a cache the application refreshes; one never scanned costs
//! its refreshes and its space in shared_buffers for nothing. Pure: rows from the facts.

use serde::{Deserialize, Serialize};

use super::hit_ratio;
use crate::facts::MatviewStats;

/// One `materialized_views[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatviewRow {
    /// Database it lives in.
    pub database: String,
    /// Schema name.
    pub schema: String,
    /// Name.
    pub name: String,
    /// `pg_total_relation_size`, bytes.
    pub size_bytes: Option<u64>,
    /// Holds data (false until the first REFRESH after `WITH NO DATA`).
    pub populated: bool,
    /// Heap blocks hit.
    pub heap_blks_hit: i64,
    /// Heap blocks read.
    pub heap_blks_read: i64,
    /// Heap hit ratio, `null` without heap I/O.
    pub heap_hit_ratio: Option<f64>,
    /// Index blocks hit over its indexes, `null` without indexes.
    pub idx_blks_hit: Option<i64>,
    /// Index blocks read, `null` without indexes.
    pub idx_blks_read: Option<i64>,
    /// Hit ratio over its indexes, `null` without indexes or index I/O.
    pub idx_hit_ratio: Option<f64>,
    /// Sequential scans.
    pub seq_scan: i64,
    /// Index scans, `null` without indexes.
    pub idx_scan: Option<i64>,
    /// `seq_scan + idx_scan > 0` over the statistics window.
    pub ever_scanned: bool,
}

/// Rows, largest first (then by database, schema, name).
pub fn rows(views: &[MatviewStats]) -> Vec<MatviewRow> {
    let mut rows: Vec<MatviewRow> = views
        .iter()
        .map(|m| MatviewRow {
            database: m.database.clone(),
            schema: m.schema.clone(),
            name: m.name.clone(),
            size_bytes: m.size_bytes.and_then(|s| u64::try_from(s).ok()),
            populated: m.populated,
            heap_blks_hit: m.heap_blks_hit,
            heap_blks_read: m.heap_blks_read,
            heap_hit_ratio: hit_ratio(m.heap_blks_hit, m.heap_blks_read),
            idx_blks_hit: m.idx_blks_hit,
            idx_blks_read: m.idx_blks_read,
            idx_hit_ratio: match (m.idx_blks_hit, m.idx_blks_read) {
                (Some(h), Some(r)) => hit_ratio(h, r),
                _ => None,
            },
            seq_scan: m.seq_scan,
            idx_scan: m.idx_scan,
            ever_scanned: m
                .seq_scan
                .max(0)
                .saturating_add(m.idx_scan.unwrap_or(0).max(0))
                > 0,
        })
        .collect();
    rows.sort_by(|a, b| {
        b.size_bytes
            .cmp(&a.size_bytes)
            .then_with(|| (&a.database, &a.schema, &a.name).cmp(&(&b.database, &b.schema, &b.name)))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(name: &str, size: i64, seq: i64, idx: Option<i64>) -> MatviewStats {
        MatviewStats {
            database: "app".to_owned(),
            relid: 1,
            schema: "public".to_owned(),
            name: name.to_owned(),
            size_bytes: Some(size),
            populated: true,
            heap_blks_hit: 90,
            heap_blks_read: 10,
            idx_blks_hit: idx.map(|_| 3),
            idx_blks_read: idx.map(|_| 1),
            seq_scan: seq,
            idx_scan: idx,
        }
    }

    #[test]
    fn largest_first_with_ratios_and_scans() {
        let r = rows(&[
            mv("small", 8192, 0, None),
            mv("big", 1 << 20, 0, Some(4)),
            mv("idle", 1 << 16, 0, Some(0)),
        ]);
        let names: Vec<&str> = r.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["big", "idle", "small"]);
        assert_eq!(r[0].heap_hit_ratio, Some(0.9));
        assert_eq!(r[0].idx_hit_ratio, Some(0.75));
        assert!(r[0].ever_scanned, "index scans count");
        assert!(!r[1].ever_scanned);
        assert_eq!(r[2].idx_hit_ratio, None, "no indexes");
        assert!(!r[2].ever_scanned);
        assert!(rows(&[mv("s", 1, 2, None)])[0].ever_scanned);
    }
}
