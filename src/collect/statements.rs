//! `pg_stat_statements`: whether it can be read here, its counters in the form of the
//! *installed* extension version (columns were renamed in 1.11 and added in 1.9; a server
//! of one major can run an older extension after an upgrade), query texts for the few
//! entries a report shows, and the write counters of the tables cache candidates read.
//!
//! One call of the extension's function reads every entry, and each call costs about the
//! same with or without texts (it materializes every entry before any `where`), so the
//! counters pass of a command that shows texts asks for them too, cut on the server with
//! `left(query, N)`: one call instead of two. Memory stays bounded whatever the server
//! holds: at most `pg_stat_statements.max` entries of at most N characters; where that
//! bound is over [`INLINE_TEXTS_MAX_ENTRIES`], the pass reads no text (`showtext =>
//! false`) and texts come in a second call only for the chosen queryids. Nothing here
//! creates the extension or resets anything.

use std::collections::HashMap;

use tokio_postgres::Client;
use tokio_postgres::types::{ToSql, Type};

use super::{Columns, names, read, read_one};
use crate::facts::{
    StatementCounters, StatementEntry, StatementKey, StatementsFacts, StatementsStatus,
};

/// Detection: installed and default version, schema, preload, `track_io_timing`.
const DETECT: &str = include_str!("../sql/statements_detect.sql");
/// The version contrib would install, where [`shipped_version`] cannot say.
const AVAILABLE: &str = include_str!("../sql/statements_available.sql");
/// `pg_stat_statements_info` (1.9 on).
const INFO: &str = include_str!("../sql/statements_info.sql");
/// Write counters of tables by name.
const TABLE_CHURN: &str = include_str!("../sql/table_churn.sql");

/// The pg_stat_statements version a major's contrib ships (its control file's
/// `default_version`), which is what `pg_available_extensions` says on that server: known
/// without asking, because that view reads every extension's control file from disk (about
/// 1.5 ms of server CPU in a fresh session, a few percent of a `queries` run). Majors not
/// listed are asked. `tests/queries_live.rs` checks each against the view on every major.
pub fn shipped_version(version_num: u32) -> Option<&'static str> {
    match version_num / 10_000 {
        13 => Some("1.8"),
        14 => Some("1.9"),
        15 | 16 => Some("1.10"),
        17 => Some("1.11"),
        18 => Some("1.12"),
        _ => None,
    }
}

/// The oldest extension version whose columns are read (PostgreSQL 13's).
pub const MIN_VERSION: (u32, u32) = (1, 8);

/// The largest `pg_stat_statements.max` whose texts the counters pass reads: 10,000 entries
/// of at most [`crate::diag::queries::TEXT_CHARS`] characters are at most a few MiB (the
/// default max is 5,000).
pub const INLINE_TEXTS_MAX_ENTRIES: i32 = 10_000;

/// Counter SQL per installed extension version, newest first: `(first version, sql)`.
const COUNTERS: &[((u32, u32), &str)] = &[
    ((1, 11), include_str!("../sql/statements_111.sql")),
    ((1, 9), include_str!("../sql/statements_19.sql")),
    ((1, 8), include_str!("../sql/statements_18.sql")),
];

/// Text SQL per installed extension version, newest first.
const TEXTS: &[((u32, u32), &str)] = &[
    ((1, 9), include_str!("../sql/statement_texts_19.sql")),
    ((1, 8), include_str!("../sql/statement_texts_18.sql")),
];

pub use crate::facts::extension_version as parse_version;

/// The columns of the counter SQL (every version's file names the same ones), read by
/// position through [`Columns`]; `C` holds each one's index in this list.
const COUNTER_COLUMNS: [&str; 18] = [
    "userid",
    "dbid",
    "queryid",
    "toplevel",
    "calls",
    "total_exec_time",
    "total_plan_time",
    "rows",
    "shared_blks_hit",
    "shared_blks_read",
    "shared_blks_dirtied",
    "shared_blks_written",
    "temp_blks_read",
    "temp_blks_written",
    "read_time",
    "wal_records",
    "stats_since_epoch",
    "query",
];

/// Indexes into [`COUNTER_COLUMNS`].
struct C;
impl C {
    const USERID: usize = 0;
    const DBID: usize = 1;
    const QUERYID: usize = 2;
    const TOPLEVEL: usize = 3;
    const CALLS: usize = 4;
    const TOTAL_EXEC_TIME: usize = 5;
    const TOTAL_PLAN_TIME: usize = 6;
    const ROWS: usize = 7;
    const SHARED_BLKS_HIT: usize = 8;
    const SHARED_BLKS_READ: usize = 9;
    const SHARED_BLKS_DIRTIED: usize = 10;
    const SHARED_BLKS_WRITTEN: usize = 11;
    const TEMP_BLKS_READ: usize = 12;
    const TEMP_BLKS_WRITTEN: usize = 13;
    const READ_TIME: usize = 14;
    const WAL_RECORDS: usize = 15;
    const STATS_SINCE_EPOCH: usize = 16;
    const QUERY: usize = 17;
}

/// The entry of `table` for extension version `v`: the first whose version is at most `v`.
fn pick(table: &'static [((u32, u32), &'static str)], v: (u32, u32)) -> Option<&'static str> {
    table.iter().find(|(since, _)| *since <= v).map(|(_, s)| *s)
}

/// The counter SQL for installed version `v`, `None` before 1.8.
pub fn counters_sql(v: (u32, u32)) -> Option<&'static str> {
    pick(COUNTERS, v)
}

/// `ident` as a double-quoted SQL identifier (the schema comes from the catalog, so it can
/// hold anything a name can).
fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Puts the extension's quoted schema into `sql`'s `{schema}` slot: identifiers cannot be
/// bind parameters, and the extension may live in any schema.
fn in_schema(sql: &str, schema: &str) -> String {
    sql.replace("{schema}", &quote_ident(schema))
}

/// Reads the extension's state and, when it can be read, the counters of every entry, with
/// their texts cut to `text_chars` characters (0: none) where the extension keeps at most
/// [`INLINE_TEXTS_MAX_ENTRIES`] entries.
pub async fn statements(client: &Client, text_chars: i32) -> anyhow::Result<StatementsFacts> {
    struct Detect {
        installed: Option<String>,
        schema: Option<String>,
        preloaded: bool,
        max_entries: Option<i32>,
        track_io_timing: bool,
        version_num: i32,
    }
    let d = read_one(client, "pg_stat_statements' state", DETECT, |r| {
        Ok(Detect {
            installed: r.try_get("installed_version")?,
            schema: r.try_get("schema")?,
            preloaded: r.try_get("preloaded")?,
            max_entries: r.try_get("max_entries")?,
            track_io_timing: r.try_get("track_io_timing")?,
            version_num: r.try_get("version_num")?,
        })
    })
    .await?;
    let shipped = u32::try_from(d.version_num).ok().and_then(shipped_version);
    let default_version = match (&d.installed, shipped) {
        (Some(_), Some(v)) => Some(v.to_string()),
        _ => read(client, "pg_available_extensions", AVAILABLE, &[], |r| {
            r.try_get::<_, Option<String>>("default_version")
        })
        .await?
        .into_iter()
        .flatten()
        .next(),
    };
    let mut facts = StatementsFacts {
        status: StatementsStatus::Ok,
        installed_version: d.installed.clone(),
        schema: d.schema.clone(),
        default_version: default_version.clone(),
        track_io_timing: d.track_io_timing,
        ..StatementsFacts::default()
    };
    let version = d.installed.as_deref().and_then(parse_version);
    facts.status = match (&d.installed, &default_version, d.preloaded, version) {
        (None, None, false, _) => StatementsStatus::NotInstalled,
        (_, _, false, _) => StatementsStatus::NotPreloaded,
        (None, _, true, _) => StatementsStatus::NotCreated,
        (Some(_), _, true, Some(v)) if v >= MIN_VERSION => StatementsStatus::Ok,
        (Some(_), _, true, _) => StatementsStatus::Outdated,
    };
    let (Some(schema), Some(version), StatementsStatus::Ok) = (d.schema, version, facts.status)
    else {
        return Ok(facts);
    };
    let Some(sql) = counters_sql(version) else {
        return Ok(facts);
    };
    let counters = in_schema(sql, &schema);
    let info = in_schema(INFO, &schema);
    let chars = inline_text_chars(text_chars, d.max_entries);
    // A list, not a map: hashing every entry's key (SipHash) cost more than finding the
    // few dozen texts a run shows in it afterwards (`texts`).
    let mut texts = Vec::new();
    let params: [(&(dyn ToSql + Sync), Type); 1] = [(&chars, Type::INT4)];
    let mut col = Columns::new(COUNTER_COLUMNS);
    let rows = read(client, "pg_stat_statements", &counters, &params, |r| {
        let queryid: Option<i64> = col.get(r, C::QUERYID)?;
        let Some(queryid) = queryid else {
            return Ok(None);
        };
        let key = StatementKey {
            userid: col.get(r, C::USERID)?,
            dbid: col.get(r, C::DBID)?,
            queryid,
            toplevel: col.get(r, C::TOPLEVEL)?,
        };
        if let Some(text) = col.get::<Option<String>>(r, C::QUERY)? {
            texts.push((key, text));
        }
        Ok(Some(StatementEntry {
            key,
            counters: StatementCounters {
                calls: col.get(r, C::CALLS)?,
                exec_ms: col.get(r, C::TOTAL_EXEC_TIME)?,
                plan_ms: col.get(r, C::TOTAL_PLAN_TIME)?,
                rows: col.get(r, C::ROWS)?,
                shared_blks_hit: col.get(r, C::SHARED_BLKS_HIT)?,
                shared_blks_read: col.get(r, C::SHARED_BLKS_READ)?,
                shared_blks_dirtied: col.get(r, C::SHARED_BLKS_DIRTIED)?,
                shared_blks_written: col.get(r, C::SHARED_BLKS_WRITTEN)?,
                temp_blks_read: col.get(r, C::TEMP_BLKS_READ)?,
                temp_blks_written: col.get(r, C::TEMP_BLKS_WRITTEN)?,
                read_ms: col.get(r, C::READ_TIME)?,
                wal_records: col.get(r, C::WAL_RECORDS)?,
            },
            stats_since_epoch: col.get(r, C::STATS_SINCE_EPOCH)?,
        }))
    });
    let info_rows = async {
        if version < (1, 9) {
            return Ok(Vec::new());
        }
        read(client, "pg_stat_statements_info", &info, &[], |r| {
            Ok((
                r.try_get::<_, i64>("dealloc")?,
                r.try_get::<_, Option<f64>>("stats_reset_epoch")?,
            ))
        })
        .await
    };
    let (rows, info_rows) = tokio::try_join!(rows, info_rows)?;
    for row in rows {
        match row {
            Some(e) => facts.entries.push(e),
            None => facts.hidden_entries += 1,
        }
    }
    if let Some((dealloc, reset)) = info_rows.into_iter().next() {
        facts.dealloc = Some(dealloc);
        facts.stats_reset_epoch = reset;
    }
    facts.texts = texts;
    Ok(facts)
}

/// The first `chars` characters of `text`, as the server's `left(text, chars)` cuts it.
fn cut(text: &str, chars: i32) -> String {
    match text.char_indices().nth(usize::try_from(chars).unwrap_or(0)) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

/// The characters of text the counters pass asks for: `wanted`, unless the extension may
/// hold more than [`INLINE_TEXTS_MAX_ENTRIES`] entries (or says not how many), then none.
fn inline_text_chars(wanted: i32, max_entries: Option<i32>) -> i32 {
    match max_entries {
        Some(n) if n <= INLINE_TEXTS_MAX_ENTRIES => wanted.max(0),
        _ => 0,
    }
}

/// Query texts of `keys`, at most `chars` characters each (cut on the server), in one
/// query. Keys whose entry is gone (evicted, reset) are absent from the map.
pub async fn texts(
    client: &Client,
    facts: &StatementsFacts,
    keys: &[StatementKey],
    chars: i32,
) -> anyhow::Result<HashMap<StatementKey, String>> {
    let version = facts.installed_version.as_deref().and_then(parse_version);
    let (Some(version), Some(schema), StatementsStatus::Ok, false) = (
        version,
        facts.schema.as_deref(),
        facts.status,
        keys.is_empty(),
    ) else {
        return Ok(HashMap::new());
    };
    if !facts.texts.is_empty() {
        // The counters pass brought every entry's text: no second call. A key without a
        // text there has none to fetch (another role's entry without pg_read_all_stats).
        let mut wanted = keys.to_vec();
        wanted.sort_unstable();
        return Ok(facts
            .texts
            .iter()
            .filter(|(k, _)| wanted.binary_search(k).is_ok())
            .map(|(k, t)| (*k, cut(t, chars)))
            .collect());
    }
    let Some(sql) = pick(TEXTS, version) else {
        return Ok(HashMap::new());
    };
    let sql = in_schema(sql, schema);
    let mut ids: Vec<i64> = keys.iter().map(|k| k.queryid).collect();
    ids.sort_unstable();
    ids.dedup();
    let wanted: HashMap<(u32, u32, i64), StatementKey> = keys
        .iter()
        .map(|k| ((k.userid, k.dbid, k.queryid), *k))
        .collect();
    let rows = read(
        client,
        "pg_stat_statements query texts",
        &sql,
        &[(&chars, Type::INT4), (&ids, Type::INT8_ARRAY)],
        |r| {
            let id = (
                r.try_get::<_, u32>("userid")?,
                r.try_get::<_, u32>("dbid")?,
                r.try_get::<_, i64>("queryid")?,
            );
            // Only rows asked for keep their text: another role's entry with the same
            // queryid is dropped here, before its text is copied.
            match wanted.get(&id) {
                Some(key) => Ok(r.try_get::<_, Option<String>>("query")?.map(|q| (*key, q))),
                None => Ok(None),
            }
        },
    )
    .await?;
    Ok(rows.into_iter().flatten().collect())
}

/// Rows changed (`n_tup_ins + n_tup_upd + n_tup_del`) and live rows of the connected
/// database's tables named `names`, as `(schema, name) → (changes, live_rows)`.
pub async fn table_churn(
    client: &Client,
    names: &[String],
) -> anyhow::Result<HashMap<(String, String), (i64, i64)>> {
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = read(
        client,
        "pg_stat_user_tables",
        TABLE_CHURN,
        &[(&names, Type::TEXT_ARRAY)],
        |r| {
            Ok((
                (
                    names::capped(r.try_get("schema")?),
                    names::capped(r.try_get("name")?),
                ),
                (r.try_get("changes")?, r.try_get("live_rows")?),
            ))
        },
    )
    .await?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_as_numbers_not_strings() {
        assert_eq!(parse_version("1.10"), Some((1, 10)));
        assert_eq!(parse_version("1.9"), Some((1, 9)));
        assert!(parse_version("1.10") > parse_version("1.9"));
        assert_eq!(parse_version("1"), None);
        assert_eq!(parse_version("x.y"), None);
    }

    /// The column set of every installed version the majors 13 to 18 ship, and the
    /// renames between them (the breakage other tools hit on 13 and 17).
    #[test]
    fn each_extension_version_gets_the_columns_it_has() {
        let sql = |v: &str| counters_sql(parse_version(v).unwrap());
        assert!(sql("1.7").is_none(), "before 1.8 total_time was not split");
        for (v, read_col, toplevel, since) in [
            ("1.8", "blk_read_time", false, false),
            ("1.9", "blk_read_time", true, false),
            ("1.10", "blk_read_time", true, false),
            ("1.11", "shared_blk_read_time", true, true),
            ("1.12", "shared_blk_read_time", true, true),
            ("1.13", "shared_blk_read_time", true, true),
        ] {
            let q = sql(v).unwrap_or_else(|| panic!("no SQL for {v}"));
            let body: String = q
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n");
            assert!(body.contains(&format!("{read_col} as read_time")), "{v}");
            if read_col == "blk_read_time" {
                assert!(!body.contains("shared_blk_read_time"), "{v}");
            }
            assert_eq!(body.contains("where toplevel"), toplevel, "{v}");
            assert_eq!(
                body.contains("extract(epoch from stats_since)"),
                since,
                "{v}"
            );
            // Texts only when asked ($1 > 0), cut on the server, in the same single call.
            assert!(body.contains("pg_stat_statements($1::int4 > 0)"), "{v}");
            // Cut only when longer: `left()` walks every character.
            assert!(
                body.contains("case when octet_length(query) <= $1::int4 then query"),
                "{v}"
            );
            assert!(
                body.contains("else left(query, $1::int4) end as query"),
                "{v}"
            );
            assert_eq!(body.matches("pg_stat_statements(").count(), 1, "{v}");
        }
        assert!(pick(TEXTS, (1, 8)).unwrap().contains("left(query, $1"));
        assert!(!pick(TEXTS, (1, 8)).unwrap().contains("and toplevel"));
        assert!(pick(TEXTS, (1, 12)).unwrap().contains("and toplevel"));
    }

    /// The counters pass reads texts only where `pg_stat_statements.max` bounds their memory.
    #[test]
    fn texts_come_with_the_counters_only_under_the_entry_bound() {
        assert_eq!(inline_text_chars(500, Some(5_000)), 500);
        assert_eq!(inline_text_chars(500, Some(INLINE_TEXTS_MAX_ENTRIES)), 500);
        assert_eq!(
            inline_text_chars(500, Some(INLINE_TEXTS_MAX_ENTRIES + 1)),
            0
        );
        assert_eq!(inline_text_chars(500, None), 0);
        assert_eq!(inline_text_chars(0, Some(100)), 0, "check asks for none");
    }

    /// Texts of the counters pass are cut like the server's `left()`: by characters.
    #[test]
    fn texts_are_cut_by_characters_not_bytes() {
        assert_eq!(cut("select 'é€'", 9), "select 'é");
        assert_eq!(cut("select 1", 500), "select 1");
        assert_eq!(cut("select 1", 0), "");
    }

    #[test]
    fn the_schema_is_quoted_into_the_query() {
        let q = in_schema(INFO, "we\"ird schema");
        assert!(
            q.contains("from \"we\"\"ird schema\".pg_stat_statements_info"),
            "{q}"
        );
    }
}
