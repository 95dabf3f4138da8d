//! Entry point: parse, run, print once, map errors to exit codes. Everything else lives in the
//! library so that it can be tested without spawning processes.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
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
            eprintln!("error: {}", one_line(&format!("{err:#}")));
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
            eprintln!(
                "error: a subcommand is required: recommend, probe, completions or man (see --help)"
            );
            Exit::Usage.into()
        }
        _ => {
            let rendered = err.render().to_string();
            let useful: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("Usage:")
                        && !l.starts_with("For more information")
                        && !l.starts_with("tip:")
                })
                .collect();
            let text = useful.join("; ");
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            eprintln!("error: {} (see --help)", one_line(text));
            Exit::Usage.into()
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
