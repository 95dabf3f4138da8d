//! Running `EXPLAIN (ANALYZE, BUFFERS)` on a statement the gate ([`crate::statement`])
//! accepted. `ANALYZE` really executes the statement, so it runs inside `BEGIN READ ONLY`
//! with its own `SET LOCAL statement_timeout`, and the transaction is always rolled back,
//! whatever happened. The statement goes through the extended protocol, whose Parse message
//! the server refuses when it holds more than one statement: a second fence behind the gate.
//!
//! The session pins `search_path` to `pg_catalog, pg_temp` for our own catalog queries; the
//! user's statement names its tables the way the user would in psql, so for the EXPLAIN the
//! path goes back to the session default (`SET LOCAL … TO DEFAULT`, which also honours
//! `ALTER ROLE/DATABASE … SET search_path`), and is pinned again before our size query.
//! `VERBOSE` is what makes EXPLAIN print the schema of each scanned relation.
//!
//! `standard_conforming_strings` is forced on for the transaction because the gate lexes
//! `'…'` that way (a backslash is an ordinary character): a server or database set to `off`
//! would read `'a\' , '` as one literal where the gate saw two, and the text between them
//! differently.

use std::time::Duration;

use serde_json::Value;
use tokio_postgres::Client;
use tokio_postgres::types::{FromSql, Type};

use super::{name, read, read_one, sql};
use crate::diag::explain::{ExplainFacts, RelationSize};

/// The options EXPLAIN runs with.
pub const EXPLAIN_OPTIONS: &str = "ANALYZE, BUFFERS, VERBOSE, FORMAT JSON";

/// A `json` column, parsed (the driver without its serde feature knows no json type; the
/// binary form of `json` is its text).
struct Json(Value);

impl<'a> FromSql<'a> for Json {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Json(serde_json::from_slice(raw)?))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON
    }
}

/// Explains `statement` (already through the gate) and reads the sizes of the relations
/// its plan scans and `shared_buffers`, all in one read-only transaction that is rolled back.
pub async fn explain(
    client: &Client,
    statement: &str,
    statement_timeout: Duration,
) -> anyhow::Result<ExplainFacts> {
    let ms = statement_timeout.as_millis().max(1);
    client
        .batch_execute(&format!(
            "BEGIN READ ONLY; SET LOCAL statement_timeout = {ms}; \
             SET LOCAL standard_conforming_strings = on; SET LOCAL search_path TO DEFAULT"
        ))
        .await
        .map_err(|e| crate::conninfo::server_failure(&e, "starting the read-only transaction"))?;
    let result = inside(client, statement).await;
    // Nothing to keep, and nothing may stay half-done: roll back whatever happened. A failure
    // here (the connection is gone) leaves the server to abort the transaction.
    let _ = client.batch_execute("ROLLBACK").await;
    result
}

async fn inside(client: &Client, statement: &str) -> anyhow::Result<ExplainFacts> {
    // A newline before the statement keeps a trailing `--` comment from reaching past it.
    let text = format!("EXPLAIN ({EXPLAIN_OPTIONS})\n{statement}");
    let rows = client
        .query_typed(&text, &[])
        .await
        .map_err(|e| crate::conninfo::server_failure(&e, "running EXPLAIN"))?;
    let plan = match rows.first().map(|r| r.try_get::<_, Json>(0)) {
        Some(Ok(Json(v))) => v,
        Some(Err(e)) => return Err(crate::conninfo::server_failure(&e, "reading the plan")),
        None => return Err(crate::exit::server("EXPLAIN returned no plan")),
    };
    client
        .batch_execute("SET LOCAL search_path = pg_catalog, pg_temp")
        .await
        .map_err(|e| crate::conninfo::server_failure(&e, "resetting search_path"))?;
    let (schemas, names): (Vec<String>, Vec<String>) =
        crate::diag::explain::scanned_relations(&plan)
            .into_iter()
            .unzip();
    let relations = read(
        client,
        "relation sizes",
        sql::EXPLAIN_RELATIONS,
        &[(&schemas, Type::TEXT_ARRAY), (&names, Type::TEXT_ARRAY)],
        |r| {
            Ok(RelationSize {
                schema: name(r, "nspname")?,
                name: name(r, "relname")?,
                bytes: r.try_get("size_bytes")?,
            })
        },
    )
    .await?;
    let (shared_buffers_bytes, version_num) =
        read_one(client, "shared_buffers", sql::EXPLAIN_SERVER, |r| {
            Ok((
                r.try_get::<_, Option<i64>>("shared_buffers_bytes")?,
                r.try_get::<_, i32>("version_num")?,
            ))
        })
        .await?;
    Ok(ExplainFacts {
        plan,
        relations,
        shared_buffers_bytes: shared_buffers_bytes.unwrap_or(0),
        server_version: sql::version_text(u32::try_from(version_num).unwrap_or(0)),
    })
}
