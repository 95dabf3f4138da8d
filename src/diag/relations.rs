//! The measured sections: the statistics window, and hit ratios per database, table and
//! index, filtered, floored, ordered worst first and limited.
//!
//! The floor exists because a table touched ten times has a ratio that means nothing, and
//! listing it above a busy table with 98% would send people after the wrong problem.

use std::cmp::Ordering;

use super::age::{counters_age_seconds, recently_reset, seconds_between, young_statistics};
use super::report::{DatabaseRow, IndexRow, ServerSection, StatsSince, TableRow};
use super::{DiagOptions, hit_ratio};
use crate::facts::StatsSnapshot;

/// A counter as a block count for sums: negative counters (never reported by PostgreSQL)
/// count as nothing rather than cancelling real I/O.
fn blocks(n: i64) -> i64 {
    n.max(0)
}

/// `server`: the connected database's statistics window, and whether the server's
/// statistics as a whole can be trusted: not when they count too few blocks, nor when every
/// database that saw I/O was reset moments ago. One database's `pg_stat_reset()` makes only
/// that database young (its row says so), not the server.
pub(super) fn server_section(snap: &StatsSnapshot) -> ServerSection {
    let s = &snap.server;
    let stats_reset = snap
        .databases
        .iter()
        .find(|d| d.name == s.database)
        .and_then(|d| d.stats_reset_epoch);
    let uptime_seconds = seconds_between(s.start_epoch, s.now_epoch);
    let (stats_since, stats_age_seconds) = match counters_age_seconds(stats_reset, s.now_epoch) {
        Some(age) => (StatsSince::StatsReset, age),
        // Never reset: counted at least since the start (a clean restart keeps counters).
        None => (StatsSince::ServerStart, uptime_seconds),
    };
    let blocks_total = snap.databases.iter().fold(0i64, |acc, d| {
        acc.saturating_add(blocks(d.blks_hit))
            .saturating_add(blocks(d.blks_read))
    });
    let mut busy = snap
        .databases
        .iter()
        .filter(|d| blocks(d.blks_hit).saturating_add(blocks(d.blks_read)) > 0)
        .peekable();
    let all_reset_recently = busy.peek().is_some()
        && busy.all(|d| recently_reset(counters_age_seconds(d.stats_reset_epoch, s.now_epoch)));
    ServerSection {
        version_num: s.version_num,
        version: s.version.clone(),
        database: s.database.clone(),
        user: s.user.clone(),
        uptime_seconds,
        stats_reset,
        stats_since,
        stats_age_seconds,
        blocks_total,
        young: all_reset_recently || young_statistics(None, blocks_total),
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
        .map(|d| {
            let age = counters_age_seconds(d.stats_reset_epoch, snap.server.now_epoch);
            DatabaseRow {
                name: d.name.clone(),
                blks_hit: d.blks_hit,
                blks_read: d.blks_read,
                hit_ratio: hit_ratio(d.blks_hit, d.blks_read),
                size_bytes: d.size_bytes.and_then(|b| u64::try_from(b).ok()),
                stats_reset: d.stats_reset_epoch,
                stats_age_seconds: age,
                young: recently_reset(age),
            }
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

/// What ordering a listed row needs: the tables and indexes sections are ranked alike.
trait Ranked {
    /// The ratio ranked by (worst first, none last).
    fn ratio(&self) -> Option<f64>;
    /// Blocks read, the tie-break: more first.
    fn reads(&self) -> i64;
    /// Database, schema and name: the last tie-break, for a stable order.
    fn key(&self) -> (&str, &str, &str);
}

impl Ranked for TableRow {
    fn ratio(&self) -> Option<f64> {
        self.heap_hit_ratio
    }
    fn reads(&self) -> i64 {
        self.heap_blks_read
    }
    fn key(&self) -> (&str, &str, &str) {
        (&self.database, &self.schema, &self.name)
    }
}

impl Ranked for IndexRow {
    fn ratio(&self) -> Option<f64> {
        self.hit_ratio
    }
    fn reads(&self) -> i64 {
        self.idx_blks_read
    }
    fn key(&self) -> (&str, &str, &str) {
        (&self.database, &self.schema, &self.name)
    }
}

/// One relation section: the `sources` that pass `--schema`/`--exclude` (`kept_by`) and the
/// floor (`touched` blocks), turned into rows, worst ratio first, then most reads, then by
/// name; at most `limit` of them. Also returns how many passed before the limit.
fn section<S, R: Ranked>(
    sources: &[S],
    opts: &DiagOptions,
    kept_by: impl Fn(&S) -> bool,
    touched: impl Fn(&S) -> i64,
    row: impl Fn(&S) -> R,
) -> (Vec<R>, usize) {
    let mut rows: Vec<R> = sources
        .iter()
        .filter(|s| kept_by(s) && touched(s) >= opts.min_blocks)
        .map(row)
        .collect();
    rows.sort_by(|a, b| {
        worst_first(a.ratio(), b.ratio())
            .then_with(|| b.reads().cmp(&a.reads()))
            .then_with(|| a.key().cmp(&b.key()))
    });
    let matched = rows.len();
    rows.truncate(opts.row_limit());
    (rows, matched)
}

/// `tables`, ranked by the heap hit ratio; the floor counts heap, index and TOAST blocks.
pub(super) fn tables(snap: &StatsSnapshot, opts: &DiagOptions) -> (Vec<TableRow>, usize) {
    section(
        &snap.tables,
        opts,
        |t| kept(opts, &t.schema, &[&t.name]),
        |t| {
            sum(&[
                Some(t.heap_blks_hit),
                Some(t.heap_blks_read),
                t.idx_blks_hit,
                t.idx_blks_read,
                t.toast_blks_hit,
                t.toast_blks_read,
                t.tidx_blks_hit,
                t.tidx_blks_read,
            ])
        },
        |t| TableRow {
            database: t.database.clone(),
            relid: t.relid,
            schema: t.schema.clone(),
            name: t.name.clone(),
            heap_blks_hit: t.heap_blks_hit,
            heap_blks_read: t.heap_blks_read,
            heap_hit_ratio: hit_ratio(t.heap_blks_hit, t.heap_blks_read),
            idx_hit_ratio: optional_ratio(t.idx_blks_hit, t.idx_blks_read),
            // As pg_statio_* defines them: the TOAST heap alone, and its index apart.
            toast_hit_ratio: optional_ratio(t.toast_blks_hit, t.toast_blks_read),
            toast_idx_hit_ratio: optional_ratio(t.tidx_blks_hit, t.tidx_blks_read),
            size_bytes: t.size_bytes.and_then(|b| u64::try_from(b).ok()),
            seq_scan: t.scans.map(|s| s.seq_scan),
            seq_tup_read: t.scans.map(|s| s.seq_tup_read),
            idx_scan: t.scans.and_then(|s| s.idx_scan),
        },
    )
}

/// `indexes`, ranked by the index's own ratio; an index is dropped when its own name or its
/// table is excluded.
pub(super) fn indexes(snap: &StatsSnapshot, opts: &DiagOptions) -> (Vec<IndexRow>, usize) {
    section(
        &snap.indexes,
        opts,
        |i| kept(opts, &i.schema, &[&i.name, &i.table]),
        |i| sum(&[Some(i.idx_blks_hit), Some(i.idx_blks_read)]),
        |i| IndexRow {
            database: i.database.clone(),
            indexrelid: i.indexrelid,
            schema: i.schema.clone(),
            table: i.table.clone(),
            name: i.name.clone(),
            idx_blks_hit: i.idx_blks_hit,
            idx_blks_read: i.idx_blks_read,
            hit_ratio: hit_ratio(i.idx_blks_hit, i.idx_blks_read),
            size_bytes: i.size_bytes.and_then(|b| u64::try_from(b).ok()),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::text::format_ratio;
    use crate::diag::{Pattern, testdata};
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
        assert_eq!(rows[0].toast_hit_ratio, Some(1.0), "50 hit, 0 read");
        assert_eq!(rows[0].toast_idx_hit_ratio, Some(49.0 / 50.0));
    }

    #[test]
    fn toast_ratio_is_the_toast_heap_alone_and_its_index_apart() {
        // The numbers: toast_blks_hit / (hit + read) is 67.11%; adding the TOAST
        // index's blocks would have shown 86.94%.
        let mut t = table("docs", 10_000, 0);
        t.toast_blks_hit = Some(6_711);
        t.toast_blks_read = Some(3_289);
        t.tidx_blks_hit = Some(10_677);
        t.tidx_blks_read = Some(1);
        let mut snap = testdata::snapshot();
        snap.tables = vec![t];
        let (rows, _) = tables(&snap, &opts(0, 20));
        assert_eq!(rows[0].toast_hit_ratio, Some(6_711.0 / 10_000.0));
        assert_eq!(rows[0].toast_idx_hit_ratio, Some(10_677.0 / 10_678.0));
        assert_eq!(format_ratio(rows[0].toast_hit_ratio), "67.11%");
    }

    #[test]
    fn no_index_and_no_toast_give_null_ratios() {
        let mut snap = testdata::snapshot();
        snap.tables = vec![table("plain", 5_000, 5)];
        let (rows, _) = tables(&snap, &opts(0, 20));
        assert_eq!(rows[0].idx_hit_ratio, None);
        assert_eq!(rows[0].toast_hit_ratio, None);
        assert_eq!(rows[0].toast_idx_hit_ratio, None);
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
        assert_eq!(rows.len(), 30, "0 is no limit, not no rows");
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
    fn tables_and_indexes_rank_alike() {
        // Equal ratios: more reads first, then by name; the same rule for both sections.
        let mut snap = testdata::snapshot();
        snap.tables = vec![
            table("b", 900, 100),
            table("a", 900, 100),
            table("c", 9_000, 1_000),
        ];
        let mut idx = snap.indexes[0].clone();
        snap.indexes = [("b", 900, 100), ("a", 900, 100), ("c", 9_000, 1_000)]
            .into_iter()
            .map(|(name, hit, read)| {
                idx.name = name.to_owned();
                idx.idx_blks_hit = hit;
                idx.idx_blks_read = read;
                idx.clone()
            })
            .collect();
        let (t, _) = tables(&snap, &opts(0, 20));
        let (i, _) = indexes(&snap, &opts(0, 20));
        assert_eq!(names(&t), ["c", "a", "b"]);
        assert_eq!(
            i.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["c", "a", "b"]
        );
        let (i, matched) = indexes(&snap, &opts(0, 0));
        assert_eq!((i.len(), matched), (3, 3), "0 is no limit for indexes too");
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
    fn window_counts_from_the_reset_else_from_the_start_as_a_lower_bound() {
        let mut snap = testdata::snapshot();
        snap.server.start_epoch = 1_000.0;
        snap.server.now_epoch = 1_000.0 + 7_200.0;
        let db = snap.server.database.clone();
        let connected = snap.databases.iter_mut().find(|d| d.name == db).unwrap();
        // Reset before a clean restart: the counters are older than the server.
        connected.stats_reset_epoch = Some(500.0);
        let s = server_section(&snap);
        assert_eq!(s.stats_since, StatsSince::StatsReset);
        assert_eq!(s.stats_age_seconds, 7_700);
        assert!(!s.young);
        let connected = snap.databases.iter_mut().find(|d| d.name == db).unwrap();
        connected.stats_reset_epoch = None;
        let s = server_section(&snap);
        assert_eq!(s.stats_since, StatsSince::ServerStart);
        assert_eq!(s.stats_age_seconds, 7_200);
        assert_eq!(s.uptime_seconds, 7_200);
    }

    #[test]
    fn a_clean_restart_a_moment_ago_is_not_young() {
        // PostgreSQL keeps its counters over a clean restart: 0s of uptime, millions of
        // blocks, never reset.
        let mut snap = testdata::snapshot();
        snap.server.start_epoch = snap.server.now_epoch;
        for d in &mut snap.databases {
            d.stats_reset_epoch = None;
        }
        let s = server_section(&snap);
        assert_eq!(s.uptime_seconds, 0);
        assert!(!s.young, "{s:?}");
    }

    #[test]
    fn one_database_reset_makes_that_row_young_not_the_server() {
        let mut snap = testdata::snapshot();
        let now = snap.server.now_epoch;
        for d in &mut snap.databases {
            d.stats_reset_epoch = (d.name == "app").then_some(now - 600.0);
        }
        let s = server_section(&snap);
        assert_eq!(s.stats_since, StatsSince::StatsReset);
        assert_eq!(s.stats_age_seconds, 600);
        assert!(!s.young, "other databases hold lifetime counters");
        let rows = databases(&snap);
        let app = rows.iter().find(|d| d.name == "app").unwrap();
        assert!(app.young);
        assert_eq!(app.stats_age_seconds, Some(600));
        assert_eq!(app.stats_reset, Some(now - 600.0));
        let others: Vec<&DatabaseRow> = rows.iter().filter(|d| d.name != "app").collect();
        assert!(
            others
                .iter()
                .all(|d| !d.young && d.stats_age_seconds.is_none())
        );
        // Every database with I/O reset moments ago: now the server is young.
        for d in &mut snap.databases {
            d.stats_reset_epoch = Some(now - 600.0);
        }
        assert!(server_section(&snap).young);
    }

    #[test]
    fn few_blocks_make_a_young_window() {
        let mut snap = testdata::snapshot();
        for d in &mut snap.databases {
            d.blks_hit = 10;
            d.blks_read = 1;
        }
        let s = server_section(&snap);
        assert!(s.stats_age_seconds >= crate::diag::MIN_TRUSTED_WINDOW_SECONDS);
        assert!(s.young);
    }
}
