//! Entry point: parse, run, print once, map errors to exit codes. Everything else lives in the
//! library so that it can be tested without spawning processes.

use std::io::Write;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use pgcache_tune::cli::Cli;
use pgcache_tune::exit::{Exit, classify};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return clap_failure(&err),
    };
    match pgcache_tune::app::run(cli) {
        Ok(outcome) => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(&outcome.stdout)
                .and_then(|()| stdout.flush())
            {
                Ok(()) => outcome.exit.into(),
                // `pgcache-tune recommend | head` is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Ok.into(),
                Err(e) => {
                    eprintln!(
                        "error: writing to stdout: {}",
                        pgcache_tune::exit::io_reason(&e)
                    );
                    Exit::Io.into()
                }
            }
        }
        Err(err) => {
            eprintln!(
                "error: {}",
                pgcache_tune::render::sanitize::one_line(&format!("{err:#}"))
            );
            classify(&err).into()
        }
    }
}

/// Help and version go to stdout with status 0; every other clap error becomes one line on
/// stderr with the usage exit code (clap's own multi-line text would be noise in scripts).
fn clap_failure(err: &clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            Exit::Ok.into()
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            // From clap's own list, so a new subcommand can never be left out; for a
            // command with subcommands of its own (`redis`), that command's list.
            let mut cmd = Cli::command();
            let mut path = String::from("pgcache-tune");
            for arg in std::env::args().skip(1) {
                match cmd.find_subcommand(&arg).filter(|c| c.has_subcommands()) {
                    Some(sub) => {
                        path = format!("{path} {}", sub.get_name());
                        cmd = sub.clone();
                    }
                    None => break,
                }
            }
            let names: Vec<String> = cmd
                .get_subcommands()
                .filter(|c| !c.is_hide_set() && c.get_name() != "help")
                .map(|c| c.get_name().to_string())
                .collect();
            eprintln!(
                "error: a subcommand is required: {} (see {path} --help)",
                names.join(", ")
            );
            Exit::Usage.into()
        }
        _ => {
            eprintln!("error: {}", usage_line(err));
            Exit::Usage.into()
        }
    }
}

/// Clap's multi-line error as one line: the message, "did you mean …?" for a near miss, and
/// which help page to read. Clap puts a list under a header line ("…were not provided:"),
/// so such a header runs straight into its items instead of being joined with `;`.
fn usage_line(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    let mut parts: Vec<String> = Vec::new();
    let mut open_header = false;
    for line in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            continue;
        }
        let line = line.strip_prefix("error: ").unwrap_or(line);
        let text = match line.strip_prefix("tip: ") {
            // clap: "tip: a similar subcommand exists: 'report'"
            Some(tip) if tip.starts_with("a similar") || tip.starts_with("some similar") => {
                match tip
                    .split_once("exists: ")
                    .or_else(|| tip.split_once("exist: "))
                {
                    Some((_, names)) => {
                        format!("did you mean {}?", names.replace("', '", "' or '"))
                    }
                    None => tip.to_string(),
                }
            }
            Some(tip) => tip.to_string(),
            None => line.to_string(),
        };
        match parts.last_mut() {
            Some(last) if open_header => {
                last.push(' ');
                last.push_str(&text);
            }
            _ => parts.push(text),
        }
        open_header = line.ends_with(':');
    }
    format!(
        "{} (see {})",
        pgcache_tune::render::sanitize::one_line(&parts.join("; ")),
        help_page()
    )
}

/// The help page that fits the command line: the first argument naming a subcommand (clap's
/// own list) picks `pgcache-tune SUBCOMMAND --help`, else the top-level page.
fn help_page() -> String {
    let cli = Cli::command();
    let sub = std::env::args().skip(1).find(|a| {
        cli.get_subcommands()
            .any(|c| c.get_name() == a.as_str() && !c.is_hide_set())
    });
    match sub {
        Some(name) => format!("pgcache-tune {name} --help"),
        None => "pgcache-tune --help".to_string(),
    }
}
