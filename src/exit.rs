//! Process exit codes. They are few, named here once, and documented in the README; `check`
//! follows the Nagios plugin convention (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), so every
//! other failure uses a code above that range.

use std::process::ExitCode;

/// Every way the process can end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success (and `check`: OK).
    Ok = 0,
    /// `check`: at least one item below the warning threshold.
    Warning = 1,
    /// `check`: at least one item below the critical threshold.
    Critical = 2,
    /// `check`: the result cannot be judged (no data, reset detected, cannot connect).
    Unknown = 3,
    /// Bad command-line input: unknown flag, invalid value, out-of-range number.
    Usage = 64,
    /// An input file is malformed: a template with a syntax error or one that fails to
    /// render, a malformed statistics or snapshot file. (A bad `check` config file is a
    /// usage error; `check` itself reports a bad snapshot as UNKNOWN.)
    Data = 65,
    /// A file could not be read or written.
    Io = 66,
    /// A PostgreSQL server could not be reached or answered with an error.
    Server = 69,
    /// Anything else (a bug): the message says what.
    Internal = 70,
}

impl Exit {
    /// Every code, in numeric order: the man pages' EXIT STATUS table is built from this,
    /// and a test holds the README's table to it.
    pub const ALL: [Exit; 9] = [
        Exit::Ok,
        Exit::Warning,
        Exit::Critical,
        Exit::Unknown,
        Exit::Usage,
        Exit::Data,
        Exit::Io,
        Exit::Server,
        Exit::Internal,
    ];

    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// What the code means, for the man pages.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "Success; check, redis check: OK.",
            Exit::Warning => "check, redis check: WARNING, an item is below the warning threshold.",
            Exit::Critical => {
                "check, redis check: CRITICAL, an item is below the critical threshold."
            }
            Exit::Unknown => {
                "check, redis check: UNKNOWN, the result cannot be judged (cannot connect, bad snapshot file, \
                 reset or restart detected, no data)."
            }
            Exit::Usage => {
                "Usage error: unknown flag, invalid value, bad pattern or bad config file."
            }
            Exit::Data => {
                "Malformed input file: template syntax or render error, bad statistics file."
            }
            Exit::Io => "A file could not be read or written.",
            Exit::Server => {
                "Server error: cannot connect, authentication failed, query failed or timed out."
            }
            Exit::Internal => "Internal error (a bug: please report it).",
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// An error that carries the exit code it maps to. An error chain without one maps to
/// [`Exit::Internal`] ([`classify`]).
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// The one-line message (without the `error: ` prefix).
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// A usage error: bad flag value or combination.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Failure {
        exit: Exit::Usage,
        message: message.into(),
    }
    .into()
}

/// A server error: cannot connect, or a query failed.
pub fn server(message: impl Into<String>) -> anyhow::Error {
    Failure {
        exit: Exit::Server,
        message: message.into(),
    }
    .into()
}

/// A malformed input file (template syntax or rendering, statistics or snapshot file).
pub fn data(message: impl Into<String>) -> anyhow::Error {
    Failure {
        exit: Exit::Data,
        message: message.into(),
    }
    .into()
}

/// A file that cannot be read or written.
pub fn io(message: impl Into<String>) -> anyhow::Error {
    Failure {
        exit: Exit::Io,
        message: message.into(),
    }
    .into()
}

/// The exit code an error maps to. anyhow's chain runs outermost first (the last
/// `.context()` added, down to the root cause), and the first [`Failure`] found decides: a
/// caller that wraps a failure in a [`Failure`] of its own has re-judged it.
pub fn classify(err: &anyhow::Error) -> Exit {
    // `chain()` shows a context as anyhow's wrapper type, never as the Failure it holds;
    // `downcast_ref` on the error itself sees through the outermost one.
    err.downcast_ref::<Failure>()
        .or_else(|| err.chain().find_map(|e| e.downcast_ref::<Failure>()))
        .map_or(Exit::Internal, |f| f.exit)
}

/// An I/O error's reason without Rust's "(os error 2)" suffix, lowercased like libc's.
pub fn io_reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outermost_failure_decides_and_plain_context_is_transparent() {
        let root = io("cannot read x");
        assert_eq!(classify(&root), Exit::Io);
        let wrapped = root.context("while loading the template");
        assert_eq!(classify(&wrapped), Exit::Io, "plain context keeps the code");
        let rejudged = wrapped.context(Failure {
            exit: Exit::Data,
            message: "template unusable".into(),
        });
        assert_eq!(classify(&rejudged), Exit::Data);
        assert_eq!(classify(&anyhow::anyhow!("no failure")), Exit::Internal);
    }

    /// The README's exit-code table lists exactly the codes the program can return.
    #[test]
    fn readme_table_matches_the_codes() {
        let readme = include_str!("../README.md");
        let section = readme
            .split("## Exit codes")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("README has an Exit codes section");
        let listed: Vec<u8> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| "))
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .collect();
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(listed, codes);
    }
}
