//! Shared plumbing of the commands that talk to a server: the tokio runtime, resolving the
//! connection flags against the real environment and ~/.pgpass, and connecting with the
//! warnings printed once on stderr.

use anyhow::Context;

use crate::conninfo::{self, ConnParams, ConnectionArgs};

/// A single-threaded runtime: every wait is on the network, and one thread keeps memory and
/// start-up small. Concurrency comes from pipelining queries and joining futures.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Resolves the flags against PG* variables and ~/.pgpass, printing libpq-style warnings
/// (an ignored .pgpass, unsupported variables) on stderr; a password prompt is allowed when
/// stdin is a terminal, as with psql.
pub fn resolve(args: &ConnectionArgs) -> anyhow::Result<ConnParams> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let mut params = conninfo::resolve(args, &|k| std::env::var(k).ok(), home.as_deref())?;
    params.allow_prompt(std::io::IsTerminal::is_terminal(&std::io::stdin()))?;
    for w in &params.warnings {
        eprintln!("warning: {w}");
    }
    Ok(params)
}
