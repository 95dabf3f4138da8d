//! `watch`'s samples. Each sample ends the previous sample's read-only transaction and
//! opens the next in the same round trip, so the session never goes idle outside a
//! transaction: a backend publishes its own counters only then (or when it exits), so the
//! watch's own catalog reads stay out of every interval it shows. Committing each time
//! releases the catalog locks a sample takes, so an hours-long watch holds nothing between
//! samples, and the transaction's idle timeout is stretched to the interval plus the
//! session's usual minute.

use std::time::Duration;

use tokio_postgres::Client;

use super::{collect_counters, query_error};
use crate::facts::StatsSnapshot;

/// One sample of every database's counters and the connected database's tables; `first`
/// when no transaction is open yet.
pub async fn sample(
    client: &Client,
    first: bool,
    interval: Duration,
) -> anyhow::Result<StatsSnapshot> {
    let idle_ms = interval
        .as_millis()
        .saturating_add(60_000)
        .min(i32::MAX as u128);
    let end = if first { "" } else { "commit; " };
    client
        .batch_execute(&format!(
            "{end}begin read only; set local idle_in_transaction_session_timeout = {idle_ms}"
        ))
        .await
        .map_err(|e| query_error("the sampling transaction", &e))?;
    collect_counters(client, true, false, false).await
}
