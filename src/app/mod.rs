//! The I/O shell around the pure core: turns parsed flags into inputs (probing the host or
//! asking the server only when needed), runs the pure analysis and renders. Every command
//! returns its whole stdout text so that `main` prints once: a failure never leaves half a
//! snippet on stdout.

mod check;
mod explain;
pub mod fleet;
mod fleet_runs;
mod inputs;
mod live;
mod man;
mod metrics;
mod queries;
mod recommend;
mod redis;
mod report;
mod serve;
mod terminal;
mod watch;

use clap::CommandFactory;

use crate::cli::{Cli, Command, CompletionShell};
use crate::exit::Exit;

/// What a command produced: the text for stdout and the exit code.
#[derive(Debug)]
pub struct Outcome {
    /// Everything to print on stdout.
    pub stdout: Vec<u8>,
    /// The exit code.
    pub exit: Exit,
}

impl Outcome {
    pub(crate) fn ok(text: String) -> Outcome {
        Outcome {
            stdout: text.into_bytes(),
            exit: Exit::Ok,
        }
    }
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Recommend(args) => recommend::recommend(&args),
        Command::Probe(args) => recommend::probe(&args),
        // `--targets FILE`: the same commands over a fleet.
        Command::Report(args) => match &args.fleet.targets {
            Some(path) => fleet_runs::report(&args, path),
            None => report::report(&args),
        },
        Command::Check(args) => match &args.fleet.targets {
            Some(path) => fleet_runs::check(&args, path),
            None => check::check(&args),
        },
        Command::Snapshot(args) => match &args.fleet.targets {
            Some(path) => fleet_runs::snapshot(&args, path),
            None => check::snapshot(&args),
        },
        Command::Explain(args) => explain::explain(&args),
        Command::Redis(args) => redis::run(&args),
        Command::Queries(args) => queries::queries(&args),
        Command::Watch(args) => watch::watch(&args),
        Command::Serve(args) => serve::serve(&args),
        Command::Completions { shell } => Ok(completions(shell)),
        Command::Man(args) => man::man(&args),
    }
}

fn completions(shell: CompletionShell) -> Outcome {
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "pgcache-tune", &mut buf);
    Outcome {
        stdout: buf,
        exit: Exit::Ok,
    }
}
