//! Parsing a target the way redis-cli and redis-rs do (`redis://`, `rediss://`, `valkey://`,
//! `valkeys://`, `unix://`, `redis+unix://`, `valkey+unix://`), finding its password, and
//! opening a connection with TLS verification on and connect/read timeouts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::conninfo::redact;
use crate::exit;

/// Environment variable redis-cli reads a password from.
pub const PASSWORD_ENV: &str = "REDISCLI_AUTH";

/// The URL schemes accepted, for messages.
const SCHEMES: &str =
    "redis://, rediss://, valkey://, valkeys://, unix://, redis+unix:// or valkey+unix://";

/// How to connect, beyond the URL.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// A file whose first line is the password (used when the URL has none).
    pub password_file: Option<PathBuf>,
    /// The value of `REDISCLI_AUTH` (used when neither URL nor file gives a password).
    pub password_env: Option<String>,
    /// PEM file of the CA that signed the server's certificate (`rediss://` only); without
    /// it the system's trust store is used. Verification is never turned off.
    pub cacert: Option<PathBuf>,
    /// Limit on establishing the connection (and the TLS handshake).
    pub connect_timeout: Duration,
    /// Limit on waiting for each reply.
    pub read_timeout: Duration,
}

/// A parsed target: where to connect and as whom, without the password in any printable form.
#[derive(Clone)]
pub struct Target {
    info: ConnectionInfo,
    display: String,
    tls: bool,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // ConnectionInfo's Debug would print the password.
        f.debug_struct("Target")
            .field("display", &self.display)
            .finish()
    }
}

impl Target {
    /// Parses a URL and resolves its password (URL, then `--password-file`, then
    /// `REDISCLI_AUTH`). A malformed URL or an unusable flag is a usage error that names
    /// what is accepted; an unreadable file an I/O error.
    pub fn parse(url: &str, opts: &ConnectOptions) -> anyhow::Result<Target> {
        let shown = redact(url);
        let parsed = redis::parse_redis_url(url).ok_or_else(|| {
            exit::usage(format!(
                "cannot parse Redis URL {shown}: expected {SCHEMES} followed by a host or socket path"
            ))
        })?;
        if parsed.fragment().is_some() {
            return Err(exit::usage(format!(
                "Redis URL {shown}: a #fragment is not accepted (certificate checks cannot be \
                 turned off; give the server's CA with --cacert)"
            )));
        }
        let scheme = parsed.scheme().to_string();
        let mut info = parsed
            .into_connection_info()
            .map_err(|e| exit::usage(format!("Redis URL {shown}: {}", redact(&e.to_string()))))?;
        let tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
        if opts.cacert.is_some() && !tls {
            return Err(exit::usage(format!(
                "--cacert applies to rediss:// and valkeys:// URLs only, not {shown}"
            )));
        }
        if info.redis_settings().password().is_none()
            && let Some(password) = file_or_env_password(opts)?
        {
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let settings = info
            .redis_settings()
            .clone()
            .set_lib_name("pgcache-tune", env!("CARGO_PKG_VERSION"));
        info = info.set_redis_settings(settings);
        let display = display(&scheme, &info);
        Ok(Target { info, display, tls })
    }

    /// The target as it may be printed: scheme, user, address and database, no password.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// Whether a password will be sent.
    pub fn has_password(&self) -> bool {
        self.info.redis_settings().password().is_some()
    }

    /// True when the server is on this machine (loopback address or a unix socket), so the
    /// host's RAM is the server's.
    pub fn is_local(&self) -> bool {
        match self.info.addr() {
            ConnectionAddr::Unix(_) => true,
            ConnectionAddr::Tcp(host, _) | ConnectionAddr::TcpTls { host, .. } => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            _ => false,
        }
    }
}

/// `scheme://user@host:port/db` or `unix:///path?db=N`, never with a password.
fn display(scheme: &str, info: &ConnectionInfo) -> String {
    let settings = info.redis_settings();
    let user = settings
        .username()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let db = settings.db();
    match info.addr() {
        ConnectionAddr::Unix(path) => {
            let db = if db == 0 {
                String::new()
            } else {
                format!("?db={db}")
            };
            format!("{scheme}://{user}{}{db}", path.display())
        }
        addr => {
            let db = if db == 0 {
                String::new()
            } else {
                format!("/{db}")
            };
            format!("{scheme}://{user}{addr}{db}")
        }
    }
}

/// The password from `--password-file` (first line, without its line ending), else from
/// `REDISCLI_AUTH`; an empty one is ignored like redis-cli does.
fn file_or_env_password(opts: &ConnectOptions) -> anyhow::Result<Option<String>> {
    if let Some(path) = &opts.password_file {
        let text = read_file(path, "--password-file")?;
        let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
        if line.is_empty() {
            return Err(exit::usage(format!(
                "--password-file {}: the file is empty; its first line must be the password",
                path.display()
            )));
        }
        return Ok(Some(line.to_string()));
    }
    Ok(opts.password_env.clone().filter(|p| !p.is_empty()))
}

fn read_file(path: &Path, flag: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        exit::io(format!(
            "{flag} {}: cannot read: {}",
            path.display(),
            exit::io_reason(&e)
        ))
    })
}

/// Opens a connection: TCP or unix socket, TLS with the given CA (or the system's), AUTH,
/// then the read and write timeouts for every later command.
pub fn connect(target: &Target, opts: &ConnectOptions) -> anyhow::Result<redis::Connection> {
    let client = if target.tls {
        let root_cert = match &opts.cacert {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                exit::io(format!(
                    "--cacert {}: cannot read: {}",
                    path.display(),
                    exit::io_reason(&e)
                ))
            })?),
            None => None,
        };
        redis::Client::build_with_tls(
            target.info.clone(),
            redis::TlsCertificates {
                client_tls: None,
                root_cert,
            },
        )
    } else {
        redis::Client::open(target.info.clone())
    }
    .map_err(|e| failure(target, "cannot set up a connection to", &e))?;
    let conn = client
        .get_connection_with_timeout(opts.connect_timeout)
        .map_err(|e| failure(target, "cannot connect to", &e))?;
    conn.set_read_timeout(Some(opts.read_timeout))
        .and_then(|()| conn.set_write_timeout(Some(opts.read_timeout)))
        .map_err(|e| failure(target, "cannot set timeouts on", &e))?;
    Ok(conn)
}

/// A server error naming the target, with a hint for the usual authentication mistakes.
pub(super) fn failure(target: &Target, what: &str, err: &redis::RedisError) -> anyhow::Error {
    let text = redact(&err.to_string());
    let hint = match err.code() {
        Some("NOAUTH") => {
            " (the server wants a password: put it in the URL, --password-file or REDISCLI_AUTH)"
        }
        Some("WRONGPASS") => " (wrong user name or password)",
        _ if err.is_timeout() => " (timed out: see --connect-timeout and --timeout)",
        _ => "",
    };
    exit::server(format!("{what} Redis {}: {text}{hint}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{Exit, classify};

    fn opts() -> ConnectOptions {
        ConnectOptions {
            password_file: None,
            password_env: None,
            cacert: None,
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn display_never_holds_the_password() {
        let t = Target::parse("redis://alice:s3cret@cache.example:6380/2", &opts()).unwrap();
        assert_eq!(t.display(), "redis://alice@cache.example:6380/2");
        assert!(t.has_password());
        assert!(!format!("{t:?}").contains("s3cret"));
        assert!(!t.is_local());
        let t = Target::parse("rediss://:pw@127.0.0.1", &opts()).unwrap();
        assert_eq!(t.display(), "rediss://127.0.0.1:6379");
        assert!(t.is_local());
        let t = Target::parse("unix:///tmp/r.sock?db=3&pass=pw", &opts()).unwrap();
        assert_eq!(t.display(), "unix:///tmp/r.sock?db=3");
        assert!(t.has_password() && t.is_local());
        let t = Target::parse("valkey://[::1]:7000", &opts()).unwrap();
        assert!(t.is_local() && !t.has_password());
    }

    #[test]
    fn password_sources_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\nsecond line\n").unwrap();
        let mut o = opts();
        o.password_env = Some("from-env".into());
        let t = Target::parse("redis://localhost", &o).unwrap();
        assert_eq!(t.info.redis_settings().password(), Some("from-env"));
        o.password_file = Some(file.clone());
        let t = Target::parse("redis://localhost", &o).unwrap();
        assert_eq!(t.info.redis_settings().password(), Some("from-file"));
        let t = Target::parse("redis://:in-url@localhost", &o).unwrap();
        assert_eq!(t.info.redis_settings().password(), Some("in-url"));
        std::fs::write(&file, "\n").unwrap();
        let err = Target::parse("redis://localhost", &o).unwrap_err();
        assert_eq!(classify(&err), Exit::Usage);
        o.password_file = Some(dir.path().join("missing"));
        let err = Target::parse("redis://localhost", &o).unwrap_err();
        assert_eq!(classify(&err), Exit::Io);
    }

    #[test]
    fn bad_urls_are_usage_errors_without_the_password() {
        for url in [
            "postgres://u:s3cret@db",
            "redis//nohost",
            "rediss://u:s3cret@host#insecure",
        ] {
            let err = Target::parse(url, &opts()).unwrap_err();
            assert_eq!(classify(&err), Exit::Usage, "{url}");
            let text = format!("{err:#}");
            assert!(!text.contains("s3cret"), "{text}");
            assert!(
                text.contains("redis://") || text.contains("certificate"),
                "{text}"
            );
        }
        let mut o = opts();
        o.cacert = Some("/tmp/ca.pem".into());
        let err = Target::parse("redis://host", &o).unwrap_err();
        assert!(format!("{err:#}").contains("--cacert applies to rediss://"));
    }
}
