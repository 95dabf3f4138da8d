//! Connecting the way psql does. [`ConnectionArgs`] are the flags (`CONNECTION`, `-h -p -U
//! -d`, two timeouts); [`resolve`] merges them with a connection string (URL or `key=value`),
//! the `PG*` variables and libpq's defaults into one [`ConnParams`], reading `.pgpass` like
//! libpq; [`connect`] opens a read-only, time-limited session with libpq's `sslmode`
//! semantics on top of rustls. Passwords never reach a message: [`ConnParams::redacted`]
//! names the target, [`redact`] scrubs any text that might quote a connection string, and
//! [`describe_error`] turns any driver error into one line.
//!
//! Precedence is psql's: connection string > `-h/-p/-U` flags > `PG*` variables > defaults
//! (psql hands the flags to libpq before the expanded string, so the string wins). Empty
//! values count as "not given", so `postgresql:///db` still takes the host from the flag or
//! `PGHOST`.

mod args;
mod connect;
mod parse;
mod pgpass;
mod redact;
mod resolve;
mod tls;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::render::sanitize::is_unsafe;
use std::time::Duration;

pub use args::{
    ConnectionArgs, DEFAULT_CONNECT_TIMEOUT_SECS, DEFAULT_STATEMENT_TIMEOUT,
    parse_statement_timeout,
};
pub use connect::{connect, describe_error, server_failure};
pub use parse::{is_connection_string, parse_connection_string};
pub use redact::redact;
pub use resolve::resolve;
pub use tls::RootFile;

/// The port when nothing names one.
pub const DEFAULT_PORT: u16 = 5432;
/// `application_name` when nothing names one.
pub const DEFAULT_APPLICATION_NAME: &str = "pgcache-tune";
/// Unix-socket directories tried, in order, when no host is given: Debian's libpq default,
/// then upstream's. The first that exists wins.
pub const DEFAULT_SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A Unix-socket directory (the socket is `DIR/.s.PGSQL.PORT`).
    Socket(PathBuf),
    /// A host name or IP address for TCP.
    Tcp(String),
}

/// libpq's `sslmode`, in increasing order of strictness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// Plain first; TLS only if the server insists.
    Allow,
    /// TLS if the server offers it, else plain (the default).
    Prefer,
    /// TLS, certificate unchecked (unless a root certificate file exists: then as verify-ca).
    Require,
    /// TLS, certificate chain checked against the root certificates, host name not.
    VerifyCa,
    /// TLS, chain and host name checked.
    VerifyFull,
}

impl SslMode {
    /// Parses libpq's spelling.
    pub fn parse(text: &str) -> Option<SslMode> {
        Some(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// libpq's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where trusted root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file (`sslrootcert`, `PGSSLROOTCERT`, or `~/.postgresql/root.crt`). Whether it
    /// exists is decided at connect time, as libpq does.
    File(PathBuf),
    /// `sslrootcert=system`: the bundled web PKI roots (webpki-roots).
    System,
}

/// Where the password came from: decides whether [`ConnParams::with_dbname`] looks it up
/// again, and lets an authentication error say which file supplied a wrong password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// No password (trust, peer, or the server will ask and we will fail).
    None,
    /// Given in the connection string or `PGPASSWORD`.
    Given,
    /// Found in this password file.
    File(PathBuf),
}

/// When [`connect`] may ask for a password on the terminal, as psql does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordPrompt {
    /// Never (stdin is not a terminal, or nobody said it is).
    Never,
    /// When the server asks for a password and none is configured.
    WhenAsked,
    /// Before connecting, whatever else supplies one (`-W/--password`).
    First,
}

/// Everything needed to open a session, resolved. Its `Debug` hides the password.
#[derive(Clone, PartialEq)]
pub struct ConnParams {
    /// Where to connect (and, for TCP, the name TLS verifies).
    pub host: Host,
    /// The address to connect to instead of resolving `host` (libpq's `hostaddr`).
    pub hostaddr: Option<IpAddr>,
    /// TCP port, or the number in the socket's file name.
    pub port: u16,
    /// Role name.
    pub user: String,
    /// Database name.
    pub dbname: String,
    /// Password, if any; see [`PasswordSource`].
    pub password: Option<String>,
    /// Where [`password`](Self::password) came from.
    pub password_source: PasswordSource,
    /// The password file consulted when no password is given.
    pub passfile: Option<PathBuf>,
    /// That file's text, read by [`resolve`] (before any async code runs) when no password
    /// is given, for [`with_dbname`](Self::with_dbname).
    pub(crate) passfile_contents: Option<pgpass::Contents>,
    /// TLS policy; ignored for Unix sockets, where TLS is never attempted.
    pub sslmode: SslMode,
    /// Trusted roots for certificate checks.
    pub sslrootcert: Option<RootCert>,
    /// The root certificate file as [`resolve`] read it, so that [`connect`] does no
    /// blocking file I/O; `None` unless `sslrootcert` names a file.
    pub root_file: Option<RootFile>,
    /// Limit for connecting and setting up the session; `None` waits forever.
    pub connect_timeout: Option<Duration>,
    /// The session's `statement_timeout`.
    pub statement_timeout: Duration,
    /// Sent in the startup packet.
    pub application_name: String,
    /// Server options for the startup packet (libpq's `options`, e.g. `-c work_mem=64MB`).
    pub options: Option<String>,
    /// When [`connect`] may prompt for a password; see [`ConnParams::allow_prompt`].
    pub prompt: PasswordPrompt,
    /// A password typed at the prompt, shared by every clone (and [`with_dbname`](
    /// Self::with_dbname)) so the user is asked once per run.
    pub(crate) typed: Arc<OnceLock<String>>,
    /// One-line warnings for stderr (an ignored password file, unsupported `PG*` variables).
    pub warnings: Vec<String>,
}

impl fmt::Debug for ConnParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnParams")
            .field("host", &self.host)
            .field("hostaddr", &self.hostaddr)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("password", &self.password.as_ref().map(|_| redact::MASK))
            .field("password_source", &self.password_source)
            .field("passfile", &self.passfile)
            .field("passfile_contents", &self.passfile_contents)
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .field("root_file", &self.root_file)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("application_name", &self.application_name)
            .field("options", &self.options)
            .field("prompt", &self.prompt)
            .field("typed", &self.typed.get().map(|_| redact::MASK))
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl ConnParams {
    /// The target for messages, without the password:
    /// `host=/tmp port=5432 user=alice dbname=app sslmode=prefer`.
    pub fn redacted(&self) -> String {
        let host = match &self.host {
            Host::Socket(dir) => dir.to_string_lossy().into_owned(),
            Host::Tcp(name) => name.clone(),
        };
        let mut out = format!("host={}", quote(&host));
        if let Some(addr) = self.hostaddr.filter(|a| a.to_string() != host) {
            out.push_str(&format!(" hostaddr={addr}"));
        }
        out.push_str(&format!(
            " port={} user={} dbname={} sslmode={}",
            self.port,
            quote(&self.user),
            quote(&self.dbname),
            self.sslmode.as_str()
        ));
        out
    }

    /// Whether the server is on this machine: a Unix socket, or a loopback address
    /// (127.0.0.0/8, ::1) or `localhost`. A `hostaddr` decides when there is one, since that
    /// is where the connection goes.
    pub fn is_local(&self) -> bool {
        if let Some(addr) = self.hostaddr {
            return addr.to_canonical().is_loopback();
        }
        match &self.host {
            Host::Socket(_) => true,
            Host::Tcp(name) => {
                name.trim_end_matches('.').eq_ignore_ascii_case("localhost")
                    || name
                        .parse::<IpAddr>()
                        .is_ok_and(|a| a.to_canonical().is_loopback())
            }
        }
    }

    /// Lets [`connect`] prompt on the terminal as psql does, when stdin is one: first with
    /// `-W`, else only when the server asks for a password and none is configured. `-W`
    /// without a terminal is a usage error; without `-W` and a terminal, nothing is asked.
    pub fn allow_prompt(&mut self, stdin_is_terminal: bool) -> anyhow::Result<()> {
        self.prompt = match (self.prompt, stdin_is_terminal) {
            (PasswordPrompt::First, true) => PasswordPrompt::First,
            (PasswordPrompt::First, false) => {
                return Err(crate::exit::usage(
                    "-W/--password needs a terminal to ask on, and stdin is not one \
                     (set PGPASSWORD or use a password file)",
                ));
            }
            (_, true) => PasswordPrompt::WhenAsked,
            (_, false) => PasswordPrompt::Never,
        };
        Ok(())
    }

    /// The same server and role, another database (for visiting every database). A
    /// password from a password file is looked up again, since its lines may name
    /// databases, in the text [`resolve`] read: no file I/O, since this runs inside async
    /// code. Warnings are dropped, having been reported for the first connection.
    pub fn with_dbname(&self, db: &str) -> ConnParams {
        let mut next = self.clone();
        next.dbname = db.to_string();
        next.warnings.clear();
        if self.password_source != PasswordSource::Given {
            next.password = None;
            next.password_source = PasswordSource::None;
            let found = self
                .passfile_contents
                .as_ref()
                .and_then(|c| c.password(self.port, db, &self.user));
            if let (Some(pw), Some(file)) = (found, &self.passfile) {
                next.password = Some(pw);
                next.password_source = PasswordSource::File(file.clone());
            }
        }
        next
    }
}

/// A value for a `key=value` display: quoted when it would not read back as one word, with
/// control, bidirectional and invisible characters escaped (the terminal rule of
/// [`crate::render::sanitize`]) so a hostile name cannot break or disguise the line.
fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || is_unsafe(c) || c == '\'' || c == '\\');
    if plain {
        return value.to_string();
    }
    let mut out = String::from("'");
    for c in value.chars() {
        match c {
            '\'' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if is_unsafe(c) => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}
