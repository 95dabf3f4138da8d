//! Merging flags, a connection string, the `PG*` variables and libpq's defaults into one
//! [`ConnParams`]: connection string > flags > environment > defaults (psql's order), with empty values
//! counting as "not given". One step per source (environment, then flags and the connection
//! string, whose URL and `key=value` forms `parse` reads) and one per decision (server, user
//! and database, TLS, timeout, password). The only I/O is reading the password and root
//! certificate files, once, before any async code, and the check for which default socket
//! directory exists.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::args::{self, ConnectionArgs, DEFAULT_CONNECT_TIMEOUT_SECS, DEFAULT_STATEMENT_TIMEOUT};
use super::{
    ConnParams, DEFAULT_APPLICATION_NAME, DEFAULT_PORT, DEFAULT_SOCKET_DIRS, Host, PasswordPrompt,
    PasswordSource, RootCert, SslMode, is_connection_string, parse, pgpass, redact, tls,
};
use crate::exit;

/// Each supported key and the variable libpq reads for it.
const ENV_VARS: &[(&str, &str)] = &[
    ("host", "PGHOST"),
    ("hostaddr", "PGHOSTADDR"),
    ("port", "PGPORT"),
    ("dbname", "PGDATABASE"),
    ("user", "PGUSER"),
    ("password", "PGPASSWORD"),
    ("passfile", "PGPASSFILE"),
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("application_name", "PGAPPNAME"),
    ("options", "PGOPTIONS"),
    ("gssencmode", "PGGSSENCMODE"),
];

/// Variables that change how libpq connects but that we do not act on: worth a warning,
/// since silently ignoring e.g. a client certificate makes for a baffling failure.
const UNSUPPORTED_ENV_VARS: &[&str] = &[
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGSSLCRL",
    "PGREQUIREAUTH",
    "PGCHANNELBINDING",
    "PGTARGETSESSIONATTRS",
    "PGSSLNEGOTIATION",
];

/// Merges flags, connection string, `PG*` variables (read through `env`, so tests pass a
/// fake) and libpq's defaults into [`ConnParams`]. `home` locates `~/.pgpass` and
/// `~/.postgresql/root.crt`. Bad input is a usage error ([`exit::Exit::Usage`]) whose
/// message quotes no password. Reads the password file, which is why warnings come back
/// with the result.
pub fn resolve(
    args: &ConnectionArgs,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> anyhow::Result<ConnParams> {
    resolve_with(args, env, home, &|p| p.is_dir())
}

/// [`resolve`] with the socket-directory probe injected, for tests. One step per source,
/// lowest layer first, each overwriting the one before (psql's order); then one step per
/// thing the merged values decide.
pub(super) fn resolve_with(
    args: &ConnectionArgs,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
    dir_exists: &dyn Fn(&Path) -> bool,
) -> anyhow::Result<ConnParams> {
    let mut values = Values::default();
    let mut warnings = from_environment(&mut values, env);
    from_flags_and_connection_string(&mut values, args)?;
    let server = server(&values, dir_exists)?;
    let (user, dbname) = user_and_dbname(&values, env)?;
    let (sslmode, sslrootcert) = tls_settings(&values, home)?;
    let connect_timeout = connect_timeout(&values)?;
    let application_name = values
        .get("application_name")
        .or(values.get("fallback_application_name"))
        .unwrap_or(DEFAULT_APPLICATION_NAME)
        .to_string();
    let passfile = values
        .get("passfile")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".pgpass")));
    let secret = password(
        &values,
        passfile.as_deref(),
        &pgpass_host(&server.host, &server.default_dir),
        server.port,
        &dbname,
        &user,
    );
    warnings.extend(secret.warning);
    // Read here, before any async code runs, for `connect`.
    let root_file = match &sslrootcert {
        Some(RootCert::File(path)) => Some(tls::read_root_file(path)),
        _ => None,
    };

    Ok(ConnParams {
        host: server.host,
        hostaddr: server.hostaddr,
        port: server.port,
        user,
        dbname,
        password: secret.password,
        password_source: secret.source,
        passfile,
        passfile_contents: secret.contents,
        sslmode,
        sslrootcert,
        root_file,
        connect_timeout,
        statement_timeout: args.statement_timeout.unwrap_or(DEFAULT_STATEMENT_TIMEOUT),
        application_name,
        options: values.get("options").map(str::to_string),
        // Whether a terminal is there to ask on is the shell's to say (`allow_prompt`).
        prompt: if args.password {
            PasswordPrompt::First
        } else {
            PasswordPrompt::Never
        },
        typed: Default::default(),
        warnings,
    })
}

/// A usage error whose message quotes no password.
fn usage(message: String) -> anyhow::Error {
    exit::usage(redact(&message))
}

/// libpq's connection keywords as merged so far. An empty value counts as "not given".
#[derive(Default)]
struct Values(HashMap<String, String>);

impl Values {
    fn set(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.0.insert(key.to_string(), value.to_string());
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// The lowest layer: the `PG*` variables libpq reads. Returns warnings for the variables
/// that would change how libpq connects but that we do not act on.
fn from_environment(values: &mut Values, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    for (key, var) in ENV_VARS {
        if let Some(v) = env(var) {
            values.set(key, &v);
        }
    }
    UNSUPPORTED_ENV_VARS
        .iter()
        .filter(|var| env(var).is_some_and(|v| !v.is_empty()))
        .map(|var| format!("{var} is set but not supported by pgcache-tune; ignored"))
        .collect()
}

/// The command line, over the environment: `-h -p -U -d`, then the connection string (a
/// URL or `key=value` words, from CONNECTION or `-d`), then `--connect-timeout`.
fn from_flags_and_connection_string(
    values: &mut Values,
    args: &ConnectionArgs,
) -> anyhow::Result<()> {
    let (conn_string, plain_db) = match (&args.connection, &args.dbname) {
        (Some(_), Some(_)) => {
            return Err(usage(
                "give the database once: either as CONNECTION or with -d/--dbname".to_string(),
            ));
        }
        (Some(c), None) | (None, Some(c)) if is_connection_string(c) => (Some(c), None),
        (Some(c), None) | (None, Some(c)) => (None, Some(c)),
        (None, None) => (None, None),
    };
    // psql passes -h/-p/-U to libpq *before* the expanded connection string, so what the
    // string says wins over them; we keep that order so a psql command line means the same
    // here. Our own --connect-timeout flag comes last: it has no psql counterpart to match.
    let port_flag = args.port.map(|p| p.to_string());
    for (key, flag) in [
        ("host", args.host.as_ref()),
        ("port", port_flag.as_ref()),
        ("user", args.username.as_ref()),
        ("dbname", plain_db),
    ] {
        if let Some(v) = flag {
            values.set(key, v);
        }
    }
    if let Some(text) = conn_string {
        for (key, value) in parse::parse_connection_string(text).map_err(usage)? {
            values.set(&key, &value);
        }
    }
    if let Some(seconds) = args.connect_timeout {
        values.set("connect_timeout", &seconds.to_string());
    }
    Ok(())
}

/// Where the server is.
struct Server {
    host: Host,
    hostaddr: Option<IpAddr>,
    port: u16,
    /// The default socket directory, which `.pgpass` calls `localhost`.
    default_dir: PathBuf,
}

/// Host, address and port: one server (no lists), no abstract sockets, the default socket
/// directory when nothing names a host.
fn server(values: &Values, dir_exists: &dyn Fn(&Path) -> bool) -> anyhow::Result<Server> {
    for key in ["host", "hostaddr", "port"] {
        if let Some(v) = values.get(key).filter(|v| v.contains(',')) {
            return Err(usage(format!(
                "several values in {key}=\"{v}\": pgcache-tune connects to one server at a time"
            )));
        }
    }
    let hostaddr = match values.get("hostaddr") {
        Some(text) => Some(
            text.parse::<IpAddr>()
                .map_err(|_| usage(format!("could not parse network address \"{text}\"")))?,
        ),
        None => None,
    };
    let default_dir = default_socket_dir(dir_exists);
    let host = match (values.get("host"), hostaddr) {
        (Some(h), _) if h.starts_with('/') => Host::Socket(PathBuf::from(h)),
        (Some(h), _) if h.starts_with('@') => {
            return Err(usage(format!(
                "host \"{h}\": abstract Unix sockets are not supported"
            )));
        }
        (Some(h), _) => Host::Tcp(h.to_string()),
        // Only an address: it doubles as the name TLS checks and .pgpass matches, as in libpq.
        (None, Some(addr)) => Host::Tcp(addr.to_string()),
        (None, None) => Host::Socket(default_dir.clone()),
    };
    let port = match values.get("port") {
        Some(text) => args::parse_port(text).map_err(usage)?,
        None => DEFAULT_PORT,
    };
    Ok(Server {
        host,
        hostaddr,
        port,
        default_dir,
    })
}

/// The role (given, else `USER`, `LOGNAME`, the OS account) and the database (given, else
/// the role's name).
fn user_and_dbname(
    values: &Values,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<(String, String)> {
    let user = values
        .get("user")
        .map(str::to_string)
        .or_else(|| env("USER").filter(|u| !u.is_empty()))
        .or_else(|| env("LOGNAME").filter(|u| !u.is_empty()))
        .or_else(os_user_name)
        .ok_or_else(|| {
            usage("cannot tell which database user to connect as: pass -U or set PGUSER".into())
        })?;
    let dbname = values.get("dbname").unwrap_or(&user).to_string();
    Ok((user, dbname))
}

/// `sslmode` and where trusted roots come from (`~/.postgresql/root.crt` by default), with
/// libpq's rules: `sslrootcert=system` means verify-full; no GSSAPI encryption.
fn tls_settings(
    values: &Values,
    home: Option<&Path>,
) -> anyhow::Result<(SslMode, Option<RootCert>)> {
    let sslrootcert = match values.get("sslrootcert") {
        Some("system") => Some(RootCert::System),
        Some(path) => Some(RootCert::File(PathBuf::from(path))),
        None => home.map(|h| RootCert::File(h.join(".postgresql").join("root.crt"))),
    };
    let sslmode = match values.get("sslmode") {
        Some(text) => SslMode::parse(text)
            .ok_or_else(|| usage(format!("invalid sslmode value: \"{text}\"")))?,
        // libpq 16: trusting the system's roots only makes sense with full verification.
        None if sslrootcert == Some(RootCert::System) => SslMode::VerifyFull,
        None => SslMode::Prefer,
    };
    if sslrootcert == Some(RootCert::System) && sslmode != SslMode::VerifyFull {
        return Err(usage(format!(
            "weak sslmode \"{}\" may not be used with sslrootcert=system (use \"verify-full\")",
            sslmode.as_str()
        )));
    }
    match values.get("gssencmode") {
        None | Some("disable" | "prefer") => {}
        Some("require") => {
            return Err(usage(
                "gssencmode=require is not supported: pgcache-tune has no GSSAPI encryption".into(),
            ));
        }
        Some(other) => return Err(usage(format!("invalid gssencmode value: \"{other}\""))),
    }
    Ok((sslmode, sslrootcert))
}

/// libpq's `connect_timeout`: whole seconds, zero or negative waiting forever.
fn connect_timeout(values: &Values) -> anyhow::Result<Option<Duration>> {
    Ok(match values.get("connect_timeout") {
        None => Some(Duration::from_secs(DEFAULT_CONNECT_TIMEOUT_SECS)),
        Some(text) => {
            let secs: i64 = text.trim().parse().map_err(|_| {
                usage(format!(
                    "invalid integer value \"{text}\" for connection option \"connect_timeout\""
                ))
            })?;
            u64::try_from(secs)
                .ok()
                .filter(|&s| s > 0)
                .map(Duration::from_secs)
        }
    })
}

/// The password and where it came from.
struct Secret {
    password: Option<String>,
    source: PasswordSource,
    /// The password file's text, kept for other databases (`with_dbname`).
    contents: Option<pgpass::Contents>,
    /// Why the password file was not used.
    warning: Option<String>,
}

/// The password: given (connection string, `PGPASSWORD`), else the password file's first
/// matching line. The file is read here, before any async code runs, and kept.
fn password(
    values: &Values,
    passfile: Option<&Path>,
    pgpass_host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> Secret {
    if let Some(pw) = values.get("password") {
        return Secret {
            password: Some(pw.to_string()),
            source: PasswordSource::Given,
            contents: None,
            warning: None,
        };
    }
    let Some(file) = passfile else {
        return Secret {
            password: None,
            source: PasswordSource::None,
            contents: None,
            warning: None,
        };
    };
    let (text, warning) = pgpass::read(file);
    let contents = text.map(|t| pgpass::Contents::new(pgpass_host.to_string(), t));
    let password = contents
        .as_ref()
        .and_then(|c| c.password(port, dbname, user));
    let source = match password {
        Some(_) => PasswordSource::File(file.to_path_buf()),
        None => PasswordSource::None,
    };
    Secret {
        password,
        source,
        contents,
        warning,
    }
}

/// The first of [`DEFAULT_SOCKET_DIRS`] that exists, else the first (so the eventual error
/// names the directory a Debian user expects).
pub(super) fn default_socket_dir(dir_exists: &dyn Fn(&Path) -> bool) -> PathBuf {
    DEFAULT_SOCKET_DIRS
        .iter()
        .map(Path::new)
        .find(|d| dir_exists(d))
        .unwrap_or(Path::new(DEFAULT_SOCKET_DIRS[0]))
        .to_path_buf()
}

/// The host as `.pgpass` names it: `localhost` stands for the default socket directory.
pub(super) fn pgpass_host(host: &Host, default_dir: &Path) -> String {
    match host {
        Host::Socket(dir) if dir == default_dir => "localhost".to_string(),
        Host::Socket(dir) => dir.to_string_lossy().into_owned(),
        Host::Tcp(name) => name.clone(),
    }
}

/// The name of the account this process runs as, from `/etc/passwd`, as libpq's
/// `getpwuid()` gives it: CI runners and cron often start processes with neither `USER` nor
/// `LOGNAME` set. `/proc/self` is owned by the effective uid.
fn os_user_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    crate::host::os::passwd_name(&passwd, uid)
}
