//! The SQL catalog: every query the tool sends, one per file under `src/sql/`, compiled in
//! with `include_str!`. A query whose view or columns differ between server versions is a
//! [`Versioned`] with one file per variant, chosen from `server_version_num`, so adding a
//! PostgreSQL release means adding a file and a line here, never editing a string at run
//! time. Values always travel as bind parameters.

/// The oldest `server_version_num` the queries are written for (PostgreSQL 13).
pub const MIN_SUPPORTED_VERSION_NUM: u32 = 130_000;
/// The first `server_version_num` past the newest major the queries are tested on (19).
pub const PAST_SUPPORTED_VERSION_NUM: u32 = 190_000;

/// Server identity, clocks and the role's privileges (one row).
pub const SERVER_INFO: &str = include_str!("../sql/server_info.sql");
/// Whether the role may call `pg_control_system()`.
pub const CONTROL_PRIVILEGE: &str = include_str!("../sql/control_privilege.sql");
/// `pg_control_system().system_identifier`, for roles allowed to call it.
pub const SYSTEM_IDENTIFIER: &str = include_str!("../sql/system_identifier.sql");
/// `pg_stat_database` rows; `$1::bool` asks for `pg_database_size`.
pub const DATABASES: &str = include_str!("../sql/databases.sql");
/// Database OIDs and names only (`queries`).
pub const DATABASE_NAMES: &str = include_str!("../sql/database_names.sql");
/// `pg_statio_user_tables` counters with `pg_stat_user_tables` scan counts, computed from
/// pg_class (not through the views), no sizes.
pub const TABLES: &str = include_str!("../sql/tables.sql");
/// `pg_statio_user_indexes` counters, no sizes.
pub const INDEXES: &str = include_str!("../sql/indexes.sql");
/// `pg_table_size` of `$1::oid[]`.
pub const TABLE_SIZES: &str = include_str!("../sql/table_sizes.sql");
/// `pg_relation_size` of `$1::oid[]`.
pub const INDEX_SIZES: &str = include_str!("../sql/index_sizes.sql");
/// Every `pg_settings` row.
pub const SETTINGS: &str = include_str!("../sql/settings.sql");
/// `pg_relation_size` of the relations an EXPLAIN plan names: `$1::text[]` schemas,
/// `$2::text[]` names.
pub const EXPLAIN_RELATIONS: &str = include_str!("../sql/explain_relations.sql");
/// `shared_buffers` in bytes and `server_version_num`, for `explain`.
pub const EXPLAIN_SERVER: &str = include_str!("../sql/explain_server.sql");
/// Whether pg_buffercache exists in the connected database, where, and if the role may read
/// it (no row when absent).
pub const BUFFERCACHE_EXTENSION: &str = include_str!("../sql/buffercache_extension.sql");
/// `pg_buffercache_summary()` (extension 1.4 on); `@extschema@` is the extension's schema.
pub const BUFFERCACHE_SUMMARY_14: &str = include_str!("../sql/buffercache_summary_14.sql");
/// `pg_buffercache_usage_counts()` (extension 1.4 on).
pub const BUFFERCACHE_USAGE_14: &str = include_str!("../sql/buffercache_usage_14.sql");
/// Usage counts aggregated over the per-buffer view (before 1.4).
pub const BUFFERCACHE_USAGE_VIEW: &str = include_str!("../sql/buffercache_usage_view.sql");
/// Buffers per relation (per-buffer scan); `$1::int8` relations kept.
pub const BUFFERCACHE_RELATIONS: &str = include_str!("../sql/buffercache_relations.sql");
/// Materialized views with their scan and I/O counters.
pub const MATVIEWS: &str = include_str!("../sql/matviews.sql");

/// A query that exists in several versions. `variants` lists `(since, sql)` pairs, newest
/// first: the first whose `since` is at most the server's `server_version_num` applies.
#[derive(Debug, Clone, Copy)]
pub struct Versioned {
    /// What the query reads, for error contexts and notes ("checkpoint statistics").
    pub what: &'static str,
    /// `(first server_version_num, sql)`, newest first.
    pub variants: &'static [(u32, &'static str)],
}

impl Versioned {
    /// The SQL for a server of `version_num`, or `None` when the server predates every
    /// variant (the caller then adds a note saying what this version cannot show).
    pub fn sql_for(&self, version_num: u32) -> Option<&'static str> {
        self.variants
            .iter()
            .find(|(since, _)| *since <= version_num)
            .map(|(_, sql)| *sql)
    }
}

/// Timed and requested checkpoints: `pg_stat_bgwriter` up to 16 (with who wrote buffers
/// out), `pg_stat_checkpointer` from 17 (which dropped the columns from `pg_stat_bgwriter`),
/// with `num_done` where it exists (18).
pub const CHECKPOINTS: Versioned = Versioned {
    what: "checkpoint statistics",
    variants: &[
        (170_000, include_str!("../sql/checkpoints_17.sql")),
        (130_000, include_str!("../sql/checkpoints_13.sql")),
    ],
};

/// Shared-buffer reads, hits, evictions and backend writes from `pg_stat_io`, which
/// PostgreSQL 16 introduced: older servers cannot show evictions at all.
pub const BUFFER_IO: Versioned = Versioned {
    what: "shared-buffer evictions (pg_stat_io, added in 16)",
    variants: &[(160_000, include_str!("../sql/buffer_io_16.sql"))],
};

/// Every versioned query, so tests can check them all.
pub const VERSIONED: &[Versioned] = &[CHECKPOINTS, BUFFER_IO];

/// `150020` → `"15.20"`, `90624` → `"9.6.24"`: how people write versions in notes.
pub fn version_text(version_num: u32) -> String {
    let major = version_num / 10_000;
    if major >= 10 {
        format!("{major}.{}", version_num % 10_000)
    } else {
        format!(
            "{}.{}.{}",
            major,
            version_num / 100 % 100,
            version_num % 100
        )
    }
}

/// A note when `version_num` lies outside the majors the queries were written and tested
/// for (13 to 18).
pub fn support_note(version_num: u32) -> Option<String> {
    let version = version_text(version_num);
    if version_num < MIN_SUPPORTED_VERSION_NUM {
        Some(format!(
            "PostgreSQL {version} is older than 13, the oldest version pgcache-tune supports; \
             its numbers were read with the queries written for 13"
        ))
    } else if version_num >= PAST_SUPPORTED_VERSION_NUM {
        Some(format!(
            "PostgreSQL {version} is newer than 18, the newest version pgcache-tune was tested \
             with; its numbers were read with the queries written for 18"
        ))
    } else {
        None
    }
}

/// One-line notes on what a server of `version_num` cannot show, or why its numbers deserve
/// care: [`support_note`], then one note per [`Versioned`] query without a variant for it.
pub fn version_notes(version_num: u32) -> Vec<String> {
    let version = version_text(version_num);
    let missing = VERSIONED
        .iter()
        .filter(|q| q.sql_for(version_num).is_none())
        .map(|q| format!("PostgreSQL {version} cannot show {}", q.what));
    support_note(version_num)
        .into_iter()
        .chain(missing)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG16_LAST: u32 = 160_014;
    const PG17_FIRST: u32 = 170_000;

    #[test]
    fn checkpoints_come_from_bgwriter_up_to_16_and_checkpointer_from_17() {
        for v in [130_000, 130_023, 140_012, 150_020, PG16_LAST] {
            let sql = CHECKPOINTS.sql_for(v).expect("a variant");
            assert!(sql.contains("from pg_stat_bgwriter"), "{v}: {sql}");
            assert!(sql.contains("checkpoints_timed"), "{v}");
        }
        for v in [PG17_FIRST, 170_010, 180_004, 190_000] {
            let sql = CHECKPOINTS.sql_for(v).expect("a variant");
            assert!(sql.contains("from pg_stat_checkpointer"), "{v}: {sql}");
            assert!(sql.contains("num_timed"), "{v}");
            // num_done exists from 18 only: read so that 17 gets NULL rather than an error.
            assert!(sql.contains("to_jsonb(c) ->> 'num_done'"), "{v}: {sql}");
        }
    }

    #[test]
    fn buffer_io_needs_16() {
        for v in [130_000, 140_012, 150_020, 159_999] {
            assert_eq!(BUFFER_IO.sql_for(v), None, "{v}");
        }
        for v in [160_000, 170_010, 180_004] {
            assert!(
                BUFFER_IO.sql_for(v).unwrap().contains("from pg_stat_io"),
                "{v}"
            );
        }
    }

    #[test]
    fn servers_older_than_every_variant_get_none_and_a_note() {
        assert_eq!(CHECKPOINTS.sql_for(120_022), None);
        assert_eq!(
            version_notes(120_022),
            [
                "PostgreSQL 12.22 is older than 13, the oldest version pgcache-tune supports; \
                 its numbers were read with the queries written for 13",
                "PostgreSQL 12.22 cannot show checkpoint statistics",
                "PostgreSQL 12.22 cannot show shared-buffer evictions (pg_stat_io, added in 16)",
            ]
        );
        assert!(version_notes(90_624)[0].starts_with("PostgreSQL 9.6.24 is older"));
    }

    #[test]
    fn supported_majors_note_only_missing_views() {
        assert_eq!(
            version_notes(150_020),
            ["PostgreSQL 15.20 cannot show shared-buffer evictions (pg_stat_io, added in 16)"]
        );
        for major in 13..=15 {
            let v = major * 10_000 + 3;
            assert_eq!(version_notes(v).len(), 1, "{major}");
            assert_eq!(support_note(v), None, "{major}");
        }
        for major in 16..=18 {
            assert_eq!(
                version_notes(major * 10_000 + 3),
                Vec::<String>::new(),
                "{major}"
            );
        }
    }

    #[test]
    fn newer_majors_get_one_note() {
        let notes = version_notes(190_000);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("newer than 18"), "{notes:?}");
        assert_eq!(support_note(190_000), Some(notes[0].clone()));
    }

    #[test]
    fn variants_are_newest_first_and_checkpoints_reach_13() {
        for q in VERSIONED {
            assert!(
                q.variants.windows(2).all(|w| w[0].0 > w[1].0),
                "{}: variants not newest first",
                q.what
            );
        }
        assert!(CHECKPOINTS.sql_for(MIN_SUPPORTED_VERSION_NUM).is_some());
    }

    #[test]
    fn queries_only_read() {
        let all = [
            SERVER_INFO,
            SYSTEM_IDENTIFIER,
            DATABASES,
            TABLES,
            INDEXES,
            TABLE_SIZES,
            INDEX_SIZES,
            SETTINGS,
            BUFFERCACHE_EXTENSION,
            BUFFERCACHE_SUMMARY_14,
            BUFFERCACHE_USAGE_14,
            BUFFERCACHE_USAGE_VIEW,
            BUFFERCACHE_RELATIONS,
            MATVIEWS,
        ]
        .into_iter()
        .chain(
            VERSIONED
                .iter()
                .flat_map(|q| q.variants.iter().map(|(_, s)| *s)),
        );
        for sql in all {
            let code: String = sql
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n");
            let code_start = code.trim_start();
            assert!(
                code_start.starts_with("select") || code_start.starts_with("with"),
                "{sql}"
            );
            assert!(!code.contains(';'), "one statement per file: {sql}");
            for word in [
                "insert",
                "update ",
                "delete",
                "create",
                " set ",
                "pg_size_pretty",
            ] {
                assert!(!code.to_lowercase().contains(word), "{word} in {sql}");
            }
        }
    }

    /// `sql` without its comment lines, on one line with single spaces, for shape checks.
    fn one_line_code(sql: &str) -> String {
        sql.lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .flat_map(str::split_whitespace)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Kept from the 20,000-table benchmark: `pg_filenode_relation` costs one catalog index
    /// scan per file in a new session, so the buffer scan resolves files by joining pg_class
    /// and calls it only for the files that join leaves unmatched (mapped catalogs, stale
    /// buffers), never once per file.
    #[test]
    fn buffer_scan_resolves_files_by_join_not_per_file_calls() {
        let code = one_line_code(BUFFERCACHE_RELATIONS);
        assert_eq!(code.matches("pg_filenode_relation(").count(), 1, "{code}");
        assert!(
            code.contains("coalesce(f.relid, pg_filenode_relation("),
            "only as the fallback of the join: {code}"
        );
        assert!(
            code.contains("left join files f on f.relfilenode = b.relfilenode"),
            "{code}"
        );
    }

    /// Kept from the 20,000-table benchmark: the table counters are computed from pg_class,
    /// each counter function once per relation, with the index counters summed in one pass
    /// over pg_index. Going through pg_statio_user_tables joined to pg_stat_user_tables ran
    /// some twenty counter functions per table and two index scans of pg_index per table,
    /// and its plan cost past jit_above_cost at 20,000 tables.
    #[test]
    fn table_counters_skip_the_views_and_call_each_counter_once_per_relation() {
        let code = one_line_code(TABLES);
        for view in ["pg_statio_", "pg_stat_user_tables", "pg_stat_all_tables"] {
            assert!(!code.contains(view), "{view} in {code}");
        }
        // Heap and TOAST once each, index counters once inside the aggregate.
        assert_eq!(code.matches("pg_stat_get_blocks_hit(").count(), 3, "{code}");
        assert_eq!(
            code.matches("pg_stat_get_blocks_fetched(").count(),
            3,
            "{code}"
        );
        assert_eq!(code.matches("pg_stat_get_numscans(").count(), 2, "{code}");
        assert_eq!(code.matches("pg_stat_get_tuples_returned(").count(), 1);
        // One pass over pg_index, grouped, not a lookup per table.
        assert_eq!(code.matches("from pg_index").count(), 1, "{code}");
        assert!(code.contains("group by x.indrelid"), "{code}");
        assert!(!code.contains("lateral ( select sum("), "{code}");
    }

    #[test]
    fn version_text_follows_the_numbering_scheme() {
        assert_eq!(version_text(150_020), "15.20");
        assert_eq!(version_text(180_000), "18.0");
        assert_eq!(version_text(90_624), "9.6.24");
    }
}
