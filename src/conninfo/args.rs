//! The connection flags every server-facing subcommand shares, spelled like psql's: a
//! positional CONNECTION (a database name, a `postgresql://` URL or a `key=value` string),
//! `-h/--host`, `-p/--port`, `-U/--username`, `-d/--dbname`, plus our two timeouts.
//!
//! psql uses `-h` for the host, so clap's automatic `-h/--help` must go. Flattening
//! [`ConnectionArgs`] into a subcommand does that by itself: the struct carries
//! `#[command(disable_help_flag = true)]`, which clap applies to the command it is flattened
//! into, and declares its own `--help` (with psql's `-?` as an alias). A subcommand that
//! flattens it must therefore not declare `-h`, `-p`, `-U`, `-d` or `--help` itself.

use std::time::Duration;

use clap::ArgAction;

/// `--statement-timeout` when not given.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// `--connect-timeout` (seconds) when neither the flag, `connect_timeout` nor
/// `PGCONNECT_TIMEOUT` says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;
/// PostgreSQL stores timeouts as an `int` of milliseconds.
const MAX_TIMEOUT_MS: f64 = i32::MAX as f64;

/// Where and how to connect, as typed on the command line. Turn it into [`super::ConnParams`]
/// with [`super::resolve`]. Flatten it into a subcommand with `#[command(flatten)]`; it
/// disables that subcommand's `-h` help flag (see the module docs).
#[derive(clap::Args, Debug, Clone, Default)]
#[command(disable_help_flag = true)]
pub struct ConnectionArgs {
    /// A database name, a postgresql:// URL or a "key=value ..." connection string, as psql
    /// takes it. What it says wins over -h/-p/-U, as with psql; flags and PG* variables fill
    /// in what it leaves out.
    #[arg(value_name = "CONNECTION")]
    pub connection: Option<String>,

    /// Server host name, IP address or Unix-socket directory [env: PGHOST] [default: the
    /// local socket in /var/run/postgresql or /tmp].
    #[arg(
        short = 'h',
        long = "host",
        value_name = "HOST",
        help_heading = "Connection"
    )]
    pub host: Option<String>,

    /// Server port [env: PGPORT] [default: 5432].
    #[arg(
        short = 'p',
        long = "port",
        value_name = "PORT",
        value_parser = parse_port,
        help_heading = "Connection"
    )]
    pub port: Option<u16>,

    /// Database user [env: PGUSER] [default: the OS user name].
    #[arg(
        short = 'U',
        long = "username",
        value_name = "USER",
        help_heading = "Connection"
    )]
    pub username: Option<String>,

    /// Database to connect to; may also be a URL or a key=value string, as with psql
    /// [env: PGDATABASE] [default: the user name].
    #[arg(
        short = 'd',
        long = "dbname",
        value_name = "DBNAME",
        help_heading = "Connection"
    )]
    pub dbname: Option<String>,

    /// Give up connecting after this long, in whole seconds with a unit (10s, 1min); 0 waits
    /// forever. PGCONNECT_TIMEOUT and connect_timeout= stay bare seconds, as in libpq
    /// [default: 10s].
    #[arg(
        long = "connect-timeout",
        value_name = "DURATION",
        value_parser = parse_connect_timeout,
        help_heading = "Connection"
    )]
    pub connect_timeout: Option<u64>,

    /// Cancel any query running longer than this: a number with a unit (500ms, 30s, 2min,
    /// 1h); a bare number is refused, since PostgreSQL would read it as milliseconds
    /// [default: 30s].
    #[arg(
        long = "statement-timeout",
        value_name = "DURATION",
        value_parser = parse_statement_timeout,
        help_heading = "Connection"
    )]
    pub statement_timeout: Option<Duration>,

    /// Ask for the password on the terminal before connecting, as psql -W does. Without it
    /// the password is asked for only when the server wants one and none is configured;
    /// never when stdin is not a terminal (then -W is an error).
    #[arg(short = 'W', long = "password", help_heading = "Connection")]
    pub password: bool,

    /// Print help (psql's -? works too). `-h` is the host, as in psql.
    #[arg(long = "help", short_alias = '?', action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// A TCP port: 1 to 65535.
pub fn parse_port(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(0) | Err(_) => Err(format!(
            "invalid port number: \"{text}\" (expected 1 to 65535)"
        )),
        Ok(port) => Ok(port),
    }
}

/// Whole seconds, 0 meaning no limit (libpq's `connect_timeout`), written with a unit like
/// every duration flag (`10s`, `1min`; [`crate::units::parse_duration_ms`]).
pub fn parse_connect_timeout(text: &str) -> Result<u64, String> {
    let ms = crate::units::parse_duration_ms(text)?;
    let secs = ms / 1_000.0;
    if !secs.is_finite() || secs.fract() != 0.0 || secs > MAX_TIMEOUT_MS / 1_000.0 {
        return Err(format!(
            "connect timeout '{text}' must be whole seconds such as 10s (0 for no limit)"
        ));
    }
    // Integral, non-negative and below i32::MAX after the checks above: the cast is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(secs as u64)
}

/// A positive duration (`30s`, `500ms`, `2min`; a unit is required, see
/// [`crate::units::parse_duration_ms`]), rounded to whole milliseconds as the server would.
pub fn parse_statement_timeout(text: &str) -> Result<Duration, String> {
    let ms = crate::units::parse_duration_ms(text)?;
    if !ms.is_finite() || ms <= 0.0 {
        return Err(format!(
            "statement timeout '{text}' must be positive (0 would mean no limit, which this \
             tool does not allow)"
        ));
    }
    let rounded = ms.round();
    if rounded < 1.0 {
        return Err(format!("statement timeout '{text}' is below 1ms"));
    }
    if rounded > MAX_TIMEOUT_MS {
        return Err(format!(
            "statement timeout '{text}' is too large (PostgreSQL's limit is {}ms)",
            i32::MAX
        ));
    }
    // Integral and within 1..=i32::MAX after the checks above, so the cast is exact.
    #[allow(clippy::cast_possible_truncation)]
    let ms = rounded as u64;
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser, Subcommand};

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        command: Cmd,
    }

    #[derive(Subcommand, Debug)]
    enum Cmd {
        Report {
            #[command(flatten)]
            conn: ConnectionArgs,
            #[arg(long)]
            all_databases: bool,
        },
    }

    fn parse(args: &[&str]) -> Result<ConnectionArgs, clap::Error> {
        let argv = std::iter::once("prog")
            .chain(std::iter::once("report"))
            .chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Cmd::Report { conn, .. } => conn,
        })
    }

    #[test]
    fn flattening_passes_clap_debug_asserts() {
        Cli::command().debug_assert();
    }

    #[test]
    fn psql_spellings_parse() {
        let a = parse(&[
            "-h",
            "db.example",
            "-p",
            "6432",
            "-U",
            "alice",
            "-d",
            "app",
            "--connect-timeout",
            "3s",
            "--statement-timeout",
            "2min",
        ])
        .unwrap();
        assert_eq!(a.host.as_deref(), Some("db.example"));
        assert_eq!(a.port, Some(6432));
        assert_eq!(a.username.as_deref(), Some("alice"));
        assert_eq!(a.dbname.as_deref(), Some("app"));
        assert_eq!(a.connect_timeout, Some(3));
        assert_eq!(a.statement_timeout, Some(Duration::from_secs(120)));
        assert_eq!(a.connection, None);

        let a = parse(&["postgresql://u@h/db"]).unwrap();
        assert_eq!(a.connection.as_deref(), Some("postgresql://u@h/db"));
    }

    #[test]
    fn help_is_long_or_question_mark_and_h_is_host() {
        for flag in ["--help", "-?"] {
            let err = parse(&[flag]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{flag}");
            let text = err.to_string();
            assert!(text.contains("--host <HOST>"), "{text}");
            assert!(text.contains("-h, --host"), "{text}");
        }
        // `-h` alone wants a value: it is the host, never help.
        let err = parse(&["-h"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse(&["-p", "0"]).is_err());
        assert!(parse(&["-p", "70000"]).is_err());
        assert!(parse(&["--connect-timeout", "-1"]).is_err());
        assert!(parse(&["--connect-timeout", "1.5s"]).is_err());
        assert!(
            parse(&["--connect-timeout", "3"]).is_err(),
            "a unit is required"
        );
        assert_eq!(
            parse(&["--connect-timeout", "0"]).unwrap().connect_timeout,
            Some(0)
        );
        assert_eq!(
            parse(&["--connect-timeout", "2min"])
                .unwrap()
                .connect_timeout,
            Some(120)
        );
        assert!(parse(&["--statement-timeout", "0"]).is_err());
        assert!(parse(&["--statement-timeout=-5s"]).is_err());
        assert!(parse(&["--statement-timeout", "5 parsecs"]).is_err());
    }

    #[test]
    fn statement_timeout_follows_postgresql_units() {
        let p = parse_statement_timeout;
        assert!(
            p("100").unwrap_err().contains("100ms"),
            "a unit is required"
        );
        assert_eq!(p("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(p("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(p("1h"), Ok(Duration::from_secs(3600)));
        assert!(p("30S").is_err(), "units are case-sensitive");
        assert!(p("0.1ms").is_err(), "rounds to 0ms");
        assert!(p("30d").is_err(), "above i32::MAX ms");
    }
}
