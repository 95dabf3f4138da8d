//! Diagnosis: a pure function from one statistics snapshot (and what is known about the host)
//! to a [`Report`]: cache hit ratios per database, table and index, the live settings against
//! the recommendation for this host, and findings that say what to do, with numbers.
//!
//! Nothing here does I/O or reads the clock: "now" is the server's clock in the snapshot, and
//! RAM and CPUs come in through [`HostContext`], because the client's RAM says nothing about a
//! remote server's. When RAM is unknown the report skips RAM-based advice and says so.
//!
//! The shell calls [`diagnose`], then fetches sizes for the kept rows
//! ([`Report::table_relids`], [`Report::index_relids`], [`Report::fill_sizes`]), then renders
//! with `render::report`.

pub mod age;
pub mod buffers;
pub mod candidates;
mod counters;
pub mod explain;
mod findings;
pub mod matviews;
pub mod measured;
mod memory;
pub mod pattern;
pub mod queries;
pub mod redis;
mod relations;
pub mod report;
mod settings;
#[cfg(test)]
pub(crate) mod testdata;
pub mod text;

pub use age::{counters_age_seconds, recently_reset, young_statistics};
pub use counters::{
    BACKEND_WRITE_SHARE, EVICTION_TURNOVERS_PER_HOUR, MIN_BUFFER_WRITES, MIN_CHECKPOINTS,
    REQUESTED_CHECKPOINT_SHARE, TEMP_BYTES_CRITICAL_PER_HOUR, TEMP_BYTES_WARNING_PER_HOUR,
    TEMP_FILES_CRITICAL_PER_HOUR, TEMP_FILES_WARNING_PER_HOUR,
};
pub use findings::{
    DOMINANT_READ_SHARE, MIN_DATABASE_FINDING_BLOCKS, OS_CACHE_MAX_READ_MS_PER_BLOCK,
    SHARED_BUFFERS_HIGH_RAM_SHARE, SHARED_BUFFERS_LOW_RAM_SHARE,
};
pub use memory::HUGE_PAGES_STATUS_MAJOR;
pub use pattern::Pattern;
pub use report::{
    Coverage, DatabaseRow, Finding, HostSection, IndexRow, REPORT_FORMAT, Report, ServerSection,
    SettingRow, SettingStatus, Severity, StatsSince, TableRow,
};
pub use settings::{EQUAL_TOLERANCE_FRACTION, tune_input_from_server};

use crate::facts::StatsSnapshot;
use crate::tune::{Os, Profile, Storage};

/// Below this hit ratio a database gets a warning.
pub const WARNING_HIT_RATIO: f64 = 0.99;
/// Below this hit ratio a database gets a critical finding.
pub const CRITICAL_HIT_RATIO: f64 = 0.90;
/// A statistics window shorter than this is too young to judge ratios by.
pub const MIN_TRUSTED_WINDOW_SECONDS: u64 = 3_600;
/// Fewer blocks (hit + read, all databases) than this are too few to judge ratios by: about
/// 780 MiB of 8kB page accesses, less than one pass over a modest working set.
pub const MIN_TRUSTED_BLOCKS: i64 = 100_000;
/// Default relation floor (`--min-blocks`).
pub const DEFAULT_MIN_BLOCKS: i64 = 1_000;
/// Default rows per relation section (`--limit`).
pub const DEFAULT_LIMIT: usize = 20;

/// What is known about the machine the server runs on. Built by the shell: probed when the
/// server is on this host, given by flags, or unknown.
#[derive(Debug, Clone)]
pub struct HostContext {
    /// RAM available to PostgreSQL, bytes; `None` for a remote server without `--ram`.
    pub ram_bytes: Option<u64>,
    /// CPUs available to PostgreSQL; `None` when unknown.
    pub cpus: Option<u32>,
    /// Where the numbers came from, in words: "this host (probed, cgroup limit none)",
    /// "given (--ram)", or why they are unknown: "remote server: RAM unknown, pass --ram".
    pub source: String,
    /// OS of the server.
    pub os: Os,
    /// Storage class of the data directory.
    pub storage: Storage,
    /// Workload profile.
    pub profile: Profile,
}

/// What to list and how much.
#[derive(Debug, Clone)]
pub struct DiagOptions {
    /// Relations that touched fewer blocks (hit + read, heap + index + TOAST) are not listed:
    /// their ratios are noise. Also the floor for table-level findings, and for database
    /// findings together with [`MIN_DATABASE_FINDING_BLOCKS`] (the larger wins).
    pub min_blocks: i64,
    /// Most rows in each of the tables and indexes sections; 0 means no limit.
    pub limit: usize,
    /// Keep only relations in schemas matching one of these (all when empty); see
    /// [`Pattern::parse_schema`].
    pub schema: Vec<Pattern>,
    /// Drop relations matching one of these. An index is dropped when its own name or its
    /// table matches, so excluding a table also hides its indexes.
    pub exclude: Vec<Pattern>,
}

impl Default for DiagOptions {
    fn default() -> DiagOptions {
        DiagOptions {
            min_blocks: DEFAULT_MIN_BLOCKS,
            limit: DEFAULT_LIMIT,
            schema: Vec::new(),
            exclude: Vec::new(),
        }
    }
}

impl DiagOptions {
    /// How many rows to keep: [`DiagOptions::limit`], with 0 meaning all of them.
    pub fn row_limit(&self) -> usize {
        if self.limit == 0 {
            usize::MAX
        } else {
            self.limit
        }
    }
}

/// The cache hit ratio `hit / (hit + read)`, in `0..=1`. `None` when nothing was read or hit
/// (no I/O has no ratio: neither 0% nor 100%) and when a counter is negative, which
/// PostgreSQL never reports but a hand-edited fixture might.
pub fn hit_ratio(hit: i64, read: i64) -> Option<f64> {
    if hit < 0 || read < 0 || (hit == 0 && read == 0) {
        return None;
    }
    // In f64 the sum cannot overflow, and rounding is monotonic, so hit ≤ hit + read holds
    // after rounding too and the quotient stays within 0..=1.
    let (h, r) = (hit as f64, read as f64);
    Some(h / (h + r))
}

/// Diagnoses one snapshot. See the module docs for the order of calls around it.
pub fn diagnose(snap: &StatsSnapshot, host: &HostContext, opts: &DiagOptions) -> Report {
    let server = relations::server_section(snap);
    let databases = relations::databases(snap);
    let (tables, tables_matched) = relations::tables(snap, opts);
    let (indexes, indexes_matched) = relations::indexes(snap, opts);
    let diff = settings::diff(snap, host);
    let findings = findings::findings(&findings::Inputs {
        snap,
        host,
        opts,
        server: &server,
        databases: &databases,
        recommended: &diff.recommended,
    });

    let mut notes = snap.notes.clone();
    notes.extend(diff.notes);
    notes.extend(memory::notes(snap));
    let host_note = host.ram_bytes.is_none().then(|| {
        "RAM unknown: RAM-based advice, settings and the memory safety check are skipped; \
         pass --ram with the server's RAM"
            .to_owned()
    });

    Report {
        format: REPORT_FORMAT,
        server,
        host: HostSection {
            ram_bytes: host.ram_bytes,
            cpus: host.cpus,
            source: host.source.clone(),
            os: host.os.as_str().to_owned(),
            storage: host.storage.as_str().to_owned(),
            profile: host.profile.as_str().to_owned(),
            note: host_note,
        },
        scope: Coverage {
            min_blocks: opts.min_blocks,
            limit: opts.limit,
            schema: opts.schema.iter().map(ToString::to_string).collect(),
            exclude: opts.exclude.iter().map(ToString::to_string).collect(),
            visited_databases: snap.visited_databases.clone(),
            tables_matched,
            indexes_matched,
        },
        databases,
        tables,
        indexes,
        settings: diff.rows,
        findings,
        notes,
        buffers: snap.buffer_cache.as_ref().map(buffers::section),
        materialized_views: matviews::rows(&snap.materialized_views),
        queries: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ratio_edge_cases() {
        assert_eq!(hit_ratio(0, 0), None, "no I/O has no ratio");
        assert_eq!(hit_ratio(10, 0), Some(1.0));
        assert_eq!(hit_ratio(0, 10), Some(0.0));
        assert_eq!(hit_ratio(3, 1), Some(0.75));
        assert_eq!(hit_ratio(-1, 5), None);
        assert_eq!(hit_ratio(5, -1), None);
        assert_eq!(hit_ratio(i64::MAX, i64::MAX), Some(0.5));
    }

    proptest! {
        #[test]
        fn ratio_is_a_fraction_or_none(hit in 0i64.., read in 0i64..) {
            match hit_ratio(hit, read) {
                Some(r) => prop_assert!((0.0..=1.0).contains(&r), "{r}"),
                None => prop_assert!(hit == 0 && read == 0),
            }
        }

        #[test]
        fn ratio_of_any_counters_is_bounded(hit in any::<i64>(), read in any::<i64>()) {
            if let Some(r) = hit_ratio(hit, read) {
                prop_assert!((0.0..=1.0).contains(&r), "{r}");
            }
        }
    }

    #[test]
    fn report_lists_every_section() {
        let snap = testdata::snapshot();
        let report = diagnose(&snap, &testdata::host_16g(), &DiagOptions::default());
        assert_eq!(report.format, REPORT_FORMAT);
        assert_eq!(report.databases.len(), snap.databases.len());
        assert!(!report.tables.is_empty());
        assert!(!report.indexes.is_empty());
        assert!(!report.settings.is_empty());
        assert!(!report.findings.is_empty());
        assert!(
            report.notes.starts_with(&snap.notes),
            "server notes come first"
        );
        assert_eq!(report.host.note, None);
    }

    #[test]
    fn unknown_ram_is_noted_and_skips_ram_advice() {
        let snap = testdata::snapshot();
        let report = diagnose(&snap, &testdata::host_unknown(), &DiagOptions::default());
        assert!(report.host.note.as_deref().unwrap().contains("--ram"));
        let names: Vec<&str> = report.settings.iter().map(|s| s.name.as_str()).collect();
        assert!(!names.contains(&"shared_buffers"));
        assert!(!names.contains(&"work_mem"));
        assert!(names.contains(&"checkpoint_completion_target"));
        assert!(names.contains(&"jit"));
        assert!(
            report
                .findings
                .iter()
                .all(|f| f.code != "raise_shared_buffers" && f.code != "shared_buffers_large")
        );
        assert!(report.notes.iter().any(|n| n.contains("shared_buffers")));
    }

    #[test]
    fn sizes_are_filled_after_diagnosis() {
        let snap = testdata::snapshot();
        let mut report = diagnose(&snap, &testdata::host_16g(), &DiagOptions::default());
        let tables = report.table_relids();
        let indexes = report.index_relids();
        let app_tables = tables.get("app").expect("app tables listed");
        assert!(!app_tables.is_empty());
        let mut sizes: std::collections::HashMap<u32, i64> = app_tables
            .iter()
            .map(|&oid| (oid, 8192 * i64::from(oid)))
            .collect();
        for &oid in indexes.get("app").into_iter().flatten() {
            sizes.insert(oid, 16_384);
        }
        sizes.insert(app_tables[0], -5); // ignored
        report.fill_sizes("app", &sizes);
        let filled = report
            .tables
            .iter()
            .filter(|t| t.database == "app" && t.size_bytes.is_some())
            .count();
        assert_eq!(filled, app_tables.len() - 1);
        assert_eq!(report.table_relids().get("app").map(Vec::len), Some(1));
        assert!(!report.index_relids().contains_key("app"));
        // Other databases are untouched.
        assert!(
            report
                .tables
                .iter()
                .filter(|t| t.database != "app")
                .all(|t| t.size_bytes.is_none())
        );
    }
}
