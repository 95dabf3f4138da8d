//! The measured sections: the statistics window, and hit ratios per database, table and
//! index, filtered, floored, ordered worst first and limited.
//!
//! The floor exists because a table touched ten times has a ratio that means nothing, and
//! listing it above a busy table with 98% would send people after the wrong problem.

use std::cmp::Ordering;

use super::report::{DatabaseRow, IndexRow, ServerSection, StatsSince, TableRow};
use super::{DiagOptions, hit_ratio};
use crate::facts::StatsSnapshot;

/// Whole seconds between two server timestamps, 0 when negative or not finite.
fn seconds_between(from: f64, to: f64) -> u64 {
    let d = (to - from).floor();
    if d.is_finite() && d > 0.0 {
        // Floored, positive and finite: the saturating float-to-int cast is the intent.
        #[allow(clippy::cast_possible_truncation)]
        let s = d as u64;
        s
    } else {
        0
    }
}

/// A counter as a block count for sums: negative counters (never reported by PostgreSQL)
/// count as nothing rather than cancelling real I/O.
fn blocks(n: i64) -> i64 {
    n.max(0)
}

/// `server`: the statistics window and whether it can be trusted.
pub(super) fn server_section(snap: &StatsSnapshot) -> ServerSection {
    let s = &snap.server;
    let stats_reset = snap
        .databases
        .iter()
        .find(|d| d.name == s.database)
        .and_then(|d| d.stats_reset_epoch);
    let (stats_since, from) = match stats_reset {
        Some(reset) if reset > s.start_epoch => (StatsSince::StatsReset, reset),
        _ => (StatsSince::ServerStart, s.start_epoch),
    };
    let stats_age_seconds = seconds_between(from, s.now_epoch);
    let blocks_total = snap.databases.iter().fold(0i64, |acc, d| {
        acc.saturating_add(blocks(d.blks_hit))
            .saturating_add(blocks(d.blks_read))
    });
    ServerSection {
        version_num: s.version_num,
        version: s.version.clone(),
        database: s.database.clone(),
        user: s.user.clone(),
        uptime_seconds: seconds_between(s.start_epoch, s.now_epoch),
        stats_reset,
        stats_since,
        stats_age_seconds,
        blocks_total,
        young: super::young_statistics(stats_age_seconds, blocks_total),
        total_data_bytes: s.total_data_bytes.and_then(|b| u64::try_from(b).ok()),
    }
}

/// Worst first; no ratio (no I/O) last, as there is nothing to fix there.
fn worst_first(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// `databases`: every database, worst ratio first, then by name.
pub(super) fn databases(snap: &StatsSnapshot) -> Vec<DatabaseRow> {
    let mut rows: Vec<DatabaseRow> = snap
        .databases
        .iter()
        .map(|d| DatabaseRow {
            name: d.name.clone(),
            blks_hit: d.blks_hit,
            blks_read: d.blks_read,
            hit_ratio: hit_ratio(d.blks_hit, d.blks_read),
            size_bytes: d.size_bytes.and_then(|b| u64::try_from(b).ok()),
        })
        .collect();
    rows.sort_by(|a, b| worst_first(a.hit_ratio, b.hit_ratio).then_with(|| a.name.cmp(&b.name)));
    rows
}

/// Whether a relation survives `--schema` and `--exclude`; `names` are the relation's own
/// name and, for an index, its table's.
pub(super) fn kept(opts: &DiagOptions, schema: &str, names: &[&str]) -> bool {
    (opts.schema.is_empty() || opts.schema.iter().any(|p| p.matches_schema(schema)))
        && !opts
            .exclude
            .iter()
            .any(|p| names.iter().any(|n| p.matches(schema, n)))
}

/// Hit ratio of an optional pair (an index or TOAST table that may not exist).
fn optional_ratio(hit: Option<i64>, read: Option<i64>) -> Option<f64> {
    hit_ratio(hit?, read?)
}

/// Sum of optional counters; absent ones count as nothing.
fn sum(counters: &[Option<i64>]) -> i64 {
    counters
        .iter()
        .fold(0i64, |acc, c| acc.saturating_add(blocks(c.unwrap_or(0))))
}

/// Adds two optional counters: `None` only when both are absent.
fn add(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (None, None) => None,
        _ => Some(blocks(a.unwrap_or(0)).saturating_add(blocks(b.unwrap_or(0)))),
    }
}

/// `tables`: rows kept by the filters and the floor, worst heap ratio first, then most heap
/// reads, then by name; at most `limit`. Also returns how many passed before the limit.
pub(super) fn tables(snap: &StatsSnapshot, opts: &DiagOptions) -> (Vec<TableRow>, usize) {
    let mut rows: Vec<TableRow> = snap
        .tables
        .iter()
        .filter(|t| kept(opts, &t.schema, &[&t.name]))
        .filter(|t| {
            let touched = sum(&[
                Some(t.heap_blks_hit),
                Some(t.heap_blks_read),
                t.idx_blks_hit,
                t.idx_blks_read,
                t.toast_blks_hit,
                t.toast_blks_read,
                t.tidx_blks_hit,
                t.tidx_blks_read,
            ]);
            touched >= opts.min_blocks
        })
        .map(|t| TableRow {
            database: t.database.clone(),
            relid: t.relid,
            schema: t.schema.clone(),
            name: t.name.clone(),
            heap_blks_hit: t.heap_blks_hit,
            heap_blks_read: t.heap_blks_read,
            heap_hit_ratio: hit_ratio(t.heap_blks_hit, t.heap_blks_read),
            idx_hit_ratio: optional_ratio(t.idx_blks_hit, t.idx_blks_read),
            // TOAST heap and TOAST index together: one out-of-line storage for the reader.
            toast_hit_ratio: optional_ratio(
                add(t.toast_blks_hit, t.tidx_blks_hit),
                add(t.toast_blks_read, t.tidx_blks_read),
            ),
            size_bytes: t.size_bytes.and_then(|b| u64::try_from(b).ok()),
        })
        .collect();
    rows.sort_by(|a, b| {
        worst_first(a.heap_hit_ratio, b.heap_hit_ratio)
            .then_with(|| b.heap_blks_read.cmp(&a.heap_blks_read))
            .then_with(|| (&a.database, &a.schema, &a.name).cmp(&(&b.database, &b.schema, &b.name)))
    });
    let matched = rows.len();
    rows.truncate(opts.limit);
    (rows, matched)
}

/// `indexes`: as [`tables`], by the index's own ratio.
pub(super) fn indexes(snap: &StatsSnapshot, opts: &DiagOptions) -> (Vec<IndexRow>, usize) {
    let mut rows: Vec<IndexRow> = snap
        .indexes
        .iter()
        .filter(|i| kept(opts, &i.schema, &[&i.name, &i.table]))
        .filter(|i| sum(&[Some(i.idx_blks_hit), Some(i.idx_blks_read)]) >= opts.min_blocks)
        .map(|i| IndexRow {
            database: i.database.clone(),
            indexrelid: i.indexrelid,
            schema: i.schema.clone(),
            table: i.table.clone(),
            name: i.name.clone(),
            idx_blks_hit: i.idx_blks_hit,
            idx_blks_read: i.idx_blks_read,
            hit_ratio: hit_ratio(i.idx_blks_hit, i.idx_blks_read),
            size_bytes: i.size_bytes.and_then(|b| u64::try_from(b).ok()),
        })
        .collect();
    rows.sort_by(|a, b| {
        worst_first(a.hit_ratio, b.hit_ratio)
            .then_with(|| b.idx_blks_read.cmp(&a.idx_blks_read))
            .then_with(|| (&a.database, &a.schema, &a.name).cmp(&(&b.database, &b.schema, &b.name)))
    });
    let matched = rows.len();
    rows.truncate(opts.limit);
    (rows, matched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{MIN_TRUSTED_WINDOW_SECONDS, Pattern, testdata};
    use crate::facts::TableStats;

    fn table(name: &str, hit: i64, read: i64) -> TableStats {
        testdata::table("app", 1, "public", name, hit, read)
    }

    fn opts(min_blocks: i64, limit: usize) -> DiagOptions {
        DiagOptions {
            min_blocks,
            limit,
            ..DiagOptions::default()
        }
    }

    fn names(rows: &[TableRow]) -> Vec<&str> {
        rows.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn tables_order_worst_first_with_no_ratio_last() {
        let mut snap = testdata::snapshot();
        snap.tables = vec![
            table("good", 990, 10),
            table("bad", 500, 500),
            table("none", 0, 0),
            table("mid", 950, 50),
        ];
        // "none" touched index blocks only: over the floor, no heap ratio.
        snap.tables[2].idx_blks_hit = Some(5_000);
        snap.tables[2].idx_blks_read = Some(0);
        let (rows, matched) = tables(&snap, &opts(1_000, 20));
        assert_eq!(names(&rows), ["bad", "mid", "good", "none"]);
        assert_eq!(matched, 4);
        assert_eq!(rows[3].heap_hit_ratio, None);
        assert_eq!(rows[3].idx_hit_ratio, Some(1.0));
    }

    #[test]
    fn floor_counts_heap_index_and_toast_blocks() {
        let mut snap = testdata::snapshot();
        let mut t = table("t", 400, 100);
        snap.tables = vec![t.clone()];
        assert_eq!(tables(&snap, &opts(1_000, 20)).0.len(), 0, "500 < 1000");
        t.idx_blks_hit = Some(300);
        t.idx_blks_read = Some(100);
        t.toast_blks_hit = Some(50);
        t.toast_blks_read = Some(0);
        t.tidx_blks_hit = Some(49);
        t.tidx_blks_read = Some(0);
        snap.tables = vec![t.clone()];
        assert_eq!(tables(&snap, &opts(1_000, 20)).0.len(), 0, "999 < 1000");
        t.tidx_blks_read = Some(1);
        snap.tables = vec![t];
        let (rows, _) = tables(&snap, &opts(1_000, 20));
        assert_eq!(rows.len(), 1, "exactly the floor is kept");
        assert_eq!(rows[0].toast_hit_ratio, Some(99.0 / 100.0));
    }

    #[test]
    fn no_index_and_no_toast_give_null_ratios() {
        let mut snap = testdata::snapshot();
        snap.tables = vec![table("plain", 5_000, 5)];
        let (rows, _) = tables(&snap, &opts(0, 20));
        assert_eq!(rows[0].idx_hit_ratio, None);
        assert_eq!(rows[0].toast_hit_ratio, None);
        assert!(rows[0].heap_hit_ratio.is_some());
    }

    #[test]
    fn limit_keeps_the_worst_and_counts_the_rest() {
        let mut snap = testdata::snapshot();
        snap.tables = (0..30)
            .map(|i| table(&format!("t{i:02}"), 10_000 - i * 100, i * 100))
            .collect();
        let (rows, matched) = tables(&snap, &opts(1_000, 5));
        assert_eq!(matched, 30);
        assert_eq!(names(&rows), ["t29", "t28", "t27", "t26", "t25"]);
        let (rows, _) = tables(&snap, &opts(1_000, 0));
        assert!(rows.is_empty());
    }

    #[test]
    fn filters_apply_schema_and_exclude() {
        let mut snap = testdata::snapshot();
        snap.tables = vec![
            testdata::table("app", 1, "public", "orders", 9_000, 1_000),
            testdata::table("app", 2, "billing", "orders", 9_000, 1_000),
            testdata::table("app", 3, "billing", "invoices", 9_000, 1_000),
        ];
        let mut o = opts(0, 20);
        o.schema = vec![Pattern::parse_schema("billing").unwrap()];
        assert_eq!(names(&tables(&snap, &o).0), ["invoices", "orders"]);
        o.exclude = vec![Pattern::parse("orders").unwrap()];
        assert_eq!(names(&tables(&snap, &o).0), ["invoices"]);
        let o = DiagOptions {
            exclude: vec![Pattern::parse("~^billing\\.").unwrap()],
            ..opts(0, 20)
        };
        assert_eq!(names(&tables(&snap, &o).0), ["orders"]);
    }

    #[test]
    fn excluding_a_table_hides_its_indexes() {
        let snap = testdata::snapshot();
        let all = indexes(&snap, &opts(0, 100)).0;
        assert!(all.iter().any(|i| i.table == "orders"));
        let o = DiagOptions {
            exclude: vec![Pattern::parse("public.orders").unwrap()],
            ..opts(0, 100)
        };
        let kept = indexes(&snap, &o).0;
        assert!(kept.iter().all(|i| i.table != "orders"));
        assert!(kept.len() < all.len());
    }

    #[test]
    fn indexes_order_and_floor() {
        let snap = testdata::snapshot();
        let (rows, matched) = indexes(&snap, &opts(1_000, 20));
        assert!(matched <= snap.indexes.len());
        for w in rows.windows(2) {
            assert_ne!(
                worst_first(w[0].hit_ratio, w[1].hit_ratio),
                Ordering::Greater
            );
        }
        assert!(
            rows.iter()
                .all(|r| r.idx_blks_hit + r.idx_blks_read >= 1_000)
        );
    }

    #[test]
    fn databases_worst_first_nulls_last_then_name() {
        let snap = testdata::snapshot();
        let rows = databases(&snap);
        let ratios: Vec<Option<f64>> = rows.iter().map(|d| d.hit_ratio).collect();
        let first_none = ratios.iter().position(Option::is_none).unwrap();
        assert!(ratios[first_none..].iter().all(Option::is_none));
        for w in rows[..first_none].windows(2) {
            assert!(w[0].hit_ratio <= w[1].hit_ratio);
        }
        let nulls: Vec<&str> = rows[first_none..].iter().map(|d| d.name.as_str()).collect();
        let mut sorted = nulls.clone();
        sorted.sort_unstable();
        assert_eq!(nulls, sorted);
    }

    #[test]
    fn window_counts_from_the_later_of_start_and_reset() {
        let mut snap = testdata::snapshot();
        snap.server.start_epoch = 1_000.0;
        snap.server.now_epoch = 1_000.0 + 7_200.0;
        let db = snap.server.database.clone();
        let connected = snap.databases.iter_mut().find(|d| d.name == db).unwrap();
        connected.stats_reset_epoch = Some(500.0);
        let s = server_section(&snap);
        assert_eq!(s.stats_since, StatsSince::ServerStart);
        assert_eq!(s.stats_age_seconds, 7_200);
        assert!(!s.young);
        let connected = snap.databases.iter_mut().find(|d| d.name == db).unwrap();
        connected.stats_reset_epoch = Some(1_000.0 + 7_200.0 - 600.0);
        let s = server_section(&snap);
        assert_eq!(s.stats_since, StatsSince::StatsReset);
        assert_eq!(s.stats_age_seconds, 600);
        assert!(s.young, "10 minutes is young");
        assert_eq!(s.uptime_seconds, 7_200);
    }

    #[test]
    fn few_blocks_make_a_young_window() {
        let mut snap = testdata::snapshot();
        for d in &mut snap.databases {
            d.blks_hit = 10;
            d.blks_read = 1;
        }
        let s = server_section(&snap);
        assert!(s.stats_age_seconds >= MIN_TRUSTED_WINDOW_SECONDS);
        assert!(s.young);
    }
}
