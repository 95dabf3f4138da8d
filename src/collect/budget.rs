//! A per-job cap on the rows one server may send, for fleet runs: a target with millions of
//! relations (or a hostile one) stops with an error instead of exhausting the memory of a
//! run that is watching other servers too. The cap rides on the job's future as a tokio
//! task-local, so the collection functions keep their signatures; outside
//! [`with_row_limit`] nothing is counted (single-server commands are unchanged).

use std::cell::Cell;
use std::future::Future;

tokio::task_local! {
    static BUDGET: Budget;
}

struct Budget {
    limit: usize,
    used: Cell<usize>,
}

/// Runs `job` with at most `limit` rows read across all of its queries; the read that
/// would pass it fails with a data error that names the limit.
pub async fn with_row_limit<F: Future>(limit: usize, job: F) -> F::Output {
    BUDGET
        .scope(
            Budget {
                limit,
                used: Cell::new(0),
            },
            job,
        )
        .await
}

/// Counts one row of `what`; an error once the job's limit is passed.
pub(super) fn take_row(what: &str) -> anyhow::Result<()> {
    BUDGET
        .try_with(|b| {
            let used = b.used.get().saturating_add(1);
            b.used.set(used);
            if used > b.limit {
                Err(crate::exit::data(format!(
                    "stopped reading {what}: the server sent more than {} rows, this target's \
                     limit (max_rows in the inventory)",
                    b.limit
                )))
            } else {
                Ok(())
            }
        })
        .unwrap_or(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_past_the_limit_fail_inside_the_scope_only() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let counted = rt.block_on(with_row_limit(2, async {
            (0..3)
                .map(|_| take_row("tables").is_ok())
                .collect::<Vec<_>>()
        }));
        assert_eq!(counted, [true, true, false]);
        let e = rt
            .block_on(with_row_limit(1, async {
                take_row("x")?;
                take_row("pg_statio_user_tables")
            }))
            .unwrap_err();
        assert!(format!("{e}").contains("more than 1 rows"), "{e}");
        // Outside a fleet job nothing is counted.
        assert!((0..10).all(|_| take_row("x").is_ok()));
    }
}
