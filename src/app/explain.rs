//! `explain`: take the statement (argument, file or stdin), refuse anything but one read-only
//! query before connecting, run EXPLAIN (ANALYZE, BUFFERS) in a rolled-back read-only
//! transaction, analyse and render.

use std::io::Read as _;

use super::{Outcome, live};
use crate::cli::{ExplainArgs, ReportFormat};
use crate::conninfo::ConnectionArgs;
use crate::{collect, conninfo, diag, exit, render, statement};

pub(super) fn explain(args: &ExplainArgs) -> anyhow::Result<Outcome> {
    let (conn, text) = statement_and_connection(args)?;
    statement::check(&text).map_err(|r| exit::usage(r.0))?;
    let params = live::resolve(&conn)?;
    let rt = live::runtime()?;
    let facts = rt.block_on(async {
        let client = conninfo::connect(&params).await?;
        collect::explain::explain(&client, &text, params.statement_timeout).await
    })?;
    let explained = diag::explain::analyse(&facts)
        .map_err(|e| exit::server(format!("unexpected EXPLAIN output: {e}")))?;
    let out = match args.format {
        ReportFormat::Table => {
            let term = super::terminal::Terminal::detect();
            render::explain::table(&explained, term.width)
        }
        ReportFormat::Json => render::explain::json(&explained),
        ReportFormat::Markdown => render::explain::markdown(&explained),
    };
    Ok(Outcome::ok(out))
}

/// The connection flags and the statement. clap gives the first positional argument to
/// CONNECTION, so when it is the only one and there is no --file, it is the statement.
fn statement_and_connection(args: &ExplainArgs) -> anyhow::Result<(ConnectionArgs, String)> {
    let mut conn = args.conn.clone();
    if let Some(path) = &args.file {
        // `explain 'SELECT …' --file q.sql`: clap took the statement for the connection; say
        // that there are two statements rather than fail to connect to "SELECT …".
        if let Some(given) = conn.connection.as_deref()
            && statement::check(given).is_ok()
        {
            return Err(exit::usage(
                "a statement given both as an argument and with --file: give one of them",
            ));
        }
        return Ok((conn, read_file(path)?));
    }
    if let Some(text) = &args.statement {
        return Ok((conn, text.clone()));
    }
    let Some(only) = conn.connection.take() else {
        return Err(exit::usage(
            "no statement: give it as an argument, or --file FILE (- for standard input)",
        ));
    };
    // `explain app` with the statement forgotten: say so rather than refuse "APP".
    let word = !only.trim().contains(char::is_whitespace);
    if statement::check(&only).is_err() && (word || conninfo::is_connection_string(&only)) {
        return Err(exit::usage(format!(
            "no statement after the connection \"{only}\": give it as a second argument, or --file FILE"
        )));
    }
    Ok((conn, only))
}

/// The statement from a file, or from standard input for `-`.
fn read_file(path: &std::path::Path) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    let (shown, result) = if path.as_os_str() == "-" {
        (
            "standard input".to_owned(),
            std::io::stdin().lock().read_to_end(&mut bytes).map(|_| ()),
        )
    } else {
        (
            format!("\"{}\"", path.display()),
            std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes).map(|_| ())),
        )
    };
    result.map_err(|e| exit::io(format!("cannot read {shown}: {}", exit::io_reason(&e))))?;
    String::from_utf8(bytes).map_err(|_| {
        exit::data(format!(
            "{shown} is not UTF-8 text; explain reads SQL as UTF-8"
        ))
    })
}
