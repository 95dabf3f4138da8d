//! What sits in shared_buffers (`pg_buffercache`) and the materialized views, for `report`.
//! The extension is only read where it already exists: creating it is the user's decision, so
//! its absence becomes a note with the exact command. Its SQL names the extension's schema as
//! the server quoted it (identifiers cannot be bind parameters); everything else is bound.
//!
//! The cheap summary (extension 1.4, PostgreSQL 16, on) always runs; anything that reads one
//! row per buffer (the relation scan, and the usage counts before 1.4) runs only within the
//! size guard of [`crate::diag::buffers::scan_allowed`] or when forced, under the session's
//! statement timeout, and a failure there costs only that part, with a note.

use tokio_postgres::Client;
use tokio_postgres::types::Type;

use super::{name, read, sql};
use crate::diag::buffers::{SCAN_GUARD_BYTES, scan_allowed};
use crate::facts::{BufferCacheStats, BufferRelations, BufferedRelation, MatviewStats, UsageCount};
use crate::units::format_bytes_human;

/// Extension version from which `pg_buffercache_summary()` and
/// `pg_buffercache_usage_counts()` exist.
const SUMMARY_VERSION: (u32, u32) = (1, 4);

/// `"1.4"` → `(1, 4)`; anything unparsable counts as the oldest.
fn version(text: &str) -> (u32, u32) {
    let mut parts = text
        .split('.')
        .map(|p| p.trim().parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

struct Extension {
    schema: String,
    version: String,
    may_read: bool,
    block_size: i64,
    buffers_total: i64,
}

/// The pg_buffercache contents of the connected database's server, or `None` with a note
/// in `notes` saying why not and how to change that. `force_scan` lifts the size guard;
/// `limit` relations are kept (0: all).
pub async fn buffer_cache(
    client: &Client,
    database: &str,
    user: &str,
    force_scan: bool,
    limit: usize,
    notes: &mut Vec<String>,
) -> anyhow::Result<Option<BufferCacheStats>> {
    let ext = read(
        client,
        "pg_buffercache",
        sql::BUFFERCACHE_EXTENSION,
        &[],
        |r| {
            Ok(Extension {
                schema: r.try_get("schema")?,
                version: r.try_get("version")?,
                may_read: r.try_get("may_read")?,
                block_size: r.try_get("block_size")?,
                buffers_total: r.try_get("buffers_total")?,
            })
        },
    )
    .await?;
    let Some(ext) = ext.into_iter().next() else {
        notes.push(format!(
            "pg_buffercache is not installed in database {database:?}: no Buffers section; to \
             see what sits in shared_buffers run CREATE EXTENSION pg_buffercache; there (as a \
             superuser or the database owner; pgcache-tune never creates it) and let this role \
             read it with GRANT pg_monitor TO {user};"
        ));
        return Ok(None);
    };
    if !ext.may_read {
        notes.push(format!(
            "pg_buffercache is installed in database {database:?} but role {user:?} may not \
             read it: GRANT pg_monitor TO {user}; (the extension grants its view and functions \
             to pg_monitor)"
        ));
        return Ok(None);
    }
    let with_schema = |q: &str| q.replace("@extschema@", &ext.schema);
    let total_bytes = u64::try_from(ext.buffers_total.saturating_mul(ext.block_size)).unwrap_or(0);
    let scan = scan_allowed(total_bytes, force_scan);
    let skipped = || {
        format!(
            "shared_buffers is {}, above the {} guard for reading pg_buffercache one row per \
             buffer; pass --buffers-scan to run it under the statement timeout",
            format_bytes_human(total_bytes),
            format_bytes_human(SCAN_GUARD_BYTES)
        )
    };
    let summary_fn = version(&ext.version) >= SUMMARY_VERSION;
    if !summary_fn && !scan {
        notes.push(format!(
            "no Buffers section: pg_buffercache {} has no summary function (1.4, PostgreSQL \
             16, added it) and {}",
            ext.version,
            skipped()
        ));
        return Ok(None);
    }
    let usage_sql = if summary_fn {
        sql::BUFFERCACHE_USAGE_14
    } else {
        sql::BUFFERCACHE_USAGE_VIEW
    };
    let rows = read(
        client,
        "pg_buffercache usage counts",
        &with_schema(usage_sql),
        &[],
        |r| {
            Ok((
                UsageCount {
                    usage_count: r.try_get("usage_count")?,
                    buffers: r.try_get("buffers")?,
                    dirty: r.try_get("dirty")?,
                    pinned: r.try_get("pinned")?,
                },
                r.try_get::<_, Option<i64>>("used")?,
            ))
        },
    )
    .await?;
    let (used, dirty, pinned) = if summary_fn {
        let s = read(
            client,
            "pg_buffercache_summary()",
            &with_schema(sql::BUFFERCACHE_SUMMARY_14),
            &[],
            |r| {
                Ok((
                    r.try_get::<_, i64>("used")?,
                    r.try_get::<_, i64>("dirty")?,
                    r.try_get::<_, i64>("pinned")?,
                ))
            },
        )
        .await?;
        s.into_iter().next().unwrap_or((0, 0, 0))
    } else {
        let sum = |f: fn(&(UsageCount, Option<i64>)) -> i64| rows.iter().map(f).sum::<i64>();
        (
            sum(|r| r.1.unwrap_or(0)),
            sum(|r| r.0.dirty),
            sum(|r| r.0.pinned),
        )
    };
    let relations = if scan {
        match relations(client, &with_schema(sql::BUFFERCACHE_RELATIONS), limit).await {
            Ok(r) => Some(r),
            Err(e) => {
                notes.push(format!(
                    "the per-relation pg_buffercache scan failed, so the Buffers section has no \
                     relations: {e:#}"
                ));
                None
            }
        }
    } else {
        notes.push(format!(
            "the Buffers section has no relations: {}",
            skipped()
        ));
        None
    };
    Ok(Some(BufferCacheStats {
        extension_version: ext.version,
        block_size: ext.block_size,
        buffers_total: ext.buffers_total,
        used,
        dirty,
        pinned,
        usage_counts: rows.into_iter().map(|r| r.0).collect(),
        relations,
    }))
}

/// The per-buffer scan, grouped by relation on the server.
async fn relations(client: &Client, query: &str, limit: usize) -> anyhow::Result<BufferRelations> {
    let keep = i64::try_from(if limit == 0 { usize::MAX } else { limit }).unwrap_or(i64::MAX);
    let mut out = BufferRelations {
        top: Vec::new(),
        relations_total: 0,
        other_databases: 0,
        unresolved: 0,
    };
    let rows = read(
        client,
        "pg_buffercache relations",
        query,
        &[(&keep, Type::INT8)],
        |r| {
            let relid: Option<u32> = r.try_get("relid")?;
            let other: bool = r.try_get("other")?;
            let buffers: i64 = r.try_get("buffers")?;
            let total: i64 = r.try_get("relations_total")?;
            let rel = match (relid, r.try_get::<_, Option<String>>("name")?) {
                (Some(relid), Some(_)) => Some(BufferedRelation {
                    relid,
                    schema: name(r, "schema")?,
                    name: name(r, "name")?,
                    kind: r.try_get("kind")?,
                    buffers,
                    dirty: r.try_get("dirty")?,
                    size_bytes: r.try_get("size_bytes")?,
                }),
                _ => None,
            };
            Ok((relid, other, buffers, total, rel))
        },
    )
    .await?;
    for (relid, other, buffers, total, rel) in rows {
        match (relid, rel) {
            (Some(_), Some(rel)) => {
                out.relations_total = total;
                out.top.push(rel);
            }
            // Dropped between the scan and the catalog join.
            (Some(_), None) => out.unresolved += buffers,
            (None, _) if other => out.other_databases += buffers,
            (None, _) => out.unresolved += buffers,
        }
    }
    Ok(out)
}

/// The materialized views of the connected database, labelled `database`.
pub async fn materialized_views(
    client: &Client,
    database: &str,
) -> anyhow::Result<Vec<MatviewStats>> {
    read(client, "materialized views", sql::MATVIEWS, &[], |r| {
        Ok(MatviewStats {
            database: database.to_owned(),
            relid: r.try_get("relid")?,
            schema: name(r, "schema")?,
            name: name(r, "name")?,
            size_bytes: r.try_get("size_bytes")?,
            populated: r.try_get("populated")?,
            heap_blks_hit: r.try_get("heap_blks_hit")?,
            heap_blks_read: r.try_get("heap_blks_read")?,
            idx_blks_hit: r.try_get("idx_blks_hit")?,
            idx_blks_read: r.try_get("idx_blks_read")?,
            seq_scan: r.try_get("seq_scan")?,
            idx_scan: r.try_get("idx_scan")?,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_versions_compare_as_numbers() {
        assert!(version("1.4") >= SUMMARY_VERSION);
        assert!(version("1.10") >= SUMMARY_VERSION);
        assert!(version("2.0") >= SUMMARY_VERSION);
        assert!(version("1.3") < SUMMARY_VERSION);
        assert!(version("junk") < SUMMARY_VERSION);
    }
}
