//! Opening a session, and saying in one line why it did not open. [`connect`] applies libpq's
//! `sslmode` fallbacks (tokio-postgres knows only disable/prefer/require), bounds the whole
//! attempt — TCP, TLS, authentication, session setup — by the connect timeout (the driver's
//! own timeout covers only the TCP connect), and makes the session read-only and
//! time-limited in one round trip. [`describe_error`] is the one place that turns a driver
//! error into a message, so collection code reports query failures the same way.

use std::borrow::Cow;
use std::error::Error as _;
use std::io;
use std::time::Duration;

use tokio_postgres::Client;
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::error::SqlState;

use super::tls::{self, MakeTls};
use super::{ConnParams, Host, PasswordPrompt, PasswordSource, RootCert, SslMode, redact};
use crate::exit;
use crate::render::sanitize::one_line;
use crate::units::format_ms;

/// `lock_timeout` for our sessions: waiting on a lock means someone is doing DDL, and a
/// diagnostic tool should step aside quickly. Never above the statement timeout.
const LOCK_TIMEOUT_MS: u128 = 5_000;
/// `idle_in_transaction_session_timeout`: if we die mid-transaction, the backend goes away.
const IDLE_IN_TRANSACTION_TIMEOUT_MS: u128 = 60_000;

/// Opens a read-only session (`default_transaction_read_only`, a pinned `search_path`,
/// `statement_timeout`, `lock_timeout`, `idle_in_transaction_session_timeout`,
/// `application_name`) within the connect timeout. The connection task is spawned on the
/// current tokio runtime, so this must run inside one; a connection lost later surfaces as a
/// query error. Failures are one line
/// naming the redacted target, with [`Exit::Server`] (or [`Exit::Io`] for an unreadable root
/// certificate file).
pub async fn connect(params: &ConnParams) -> anyhow::Result<Client> {
    let target = params.redacted();
    let context = format!("connection to {target} failed");
    let tls_possible = tls::tls_possible(params);
    let check = if tls_possible {
        tls::cert_check(params).map_err(|m| exit::io(redact(&m)))?
    } else {
        tls::CertCheck::Signatures
    };
    let tls = MakeTls::new(tls::client_config(&check).map_err(anyhow::Error::msg)?);

    // A password typed earlier in this run (another database), or asked for now with -W.
    let mut params = Cow::Borrowed(params);
    if params.prompt == PasswordPrompt::First || params.typed.get().is_some() {
        let typed = ask_password(&params).await?;
        params.to_mut().password = Some(typed);
    }
    loop {
        let attempt = establish(&params, tls.clone(), tls_possible);
        let result = match params.connect_timeout {
            Some(limit) => match tokio::time::timeout(limit, attempt).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(server(format!(
                        "{context}: timed out after {}",
                        secs(limit)
                    )));
                }
            },
            None => attempt.await,
        };
        match result {
            Ok(client) => return Ok(client),
            // psql: the server wants a password and none is configured, so ask (on a
            // terminal only) and try once more. The prompt is outside the connect timeout.
            Err((e, Phase::Connect))
                if params.prompt == PasswordPrompt::WhenAsked
                    && params.password.is_none()
                    && is_password_missing(&e) =>
            {
                let typed = ask_password(&params).await?;
                params.to_mut().password = Some(typed);
            }
            Err((e, phase)) => return Err(explain(&params, &e, phase, &context, &target)),
        }
    }
}

/// The one-line failure for a driver error, naming where a wrong password or an untrusted
/// certificate came from.
fn explain(
    params: &ConnParams,
    e: &tokio_postgres::Error,
    phase: Phase,
    context: &str,
    target: &str,
) -> anyhow::Error {
    let mut text = match phase {
        Phase::Connect => describe_error(e, context),
        Phase::Setup => describe_error(e, &format!("setting up the session on {target}")),
    };
    if let (Some(&SqlState::INVALID_PASSWORD), PasswordSource::File(file)) =
        (e.code(), &params.password_source)
    {
        text.push_str(&format!(" (password from \"{}\")", file.display()));
    }
    if text.ends_with(UNTRUSTED) {
        match &params.sslrootcert {
            Some(RootCert::File(file)) => {
                text.push_str(&format!(" in \"{}\"", file.display()));
            }
            Some(RootCert::System) => text.push_str(" (system roots)"),
            None => {}
        }
    }
    server(text)
}

/// The driver's "the server asked for a password and the configuration has none".
fn is_password_missing(e: &tokio_postgres::Error) -> bool {
    driver_kind(e) == DriverKind::Config
        && e.source()
            .is_some_and(|c| c.to_string() == "password missing")
}

/// The password typed at psql's prompt, on the terminal (`/dev/tty`, not stdin or stdout,
/// which carry data), asked once per run: clones of the parameters share the answer. The
/// blocking read runs on tokio's blocking pool, never on the runtime's thread.
async fn ask_password(params: &ConnParams) -> anyhow::Result<String> {
    if let Some(typed) = params.typed.get() {
        return Ok(typed.clone());
    }
    let prompt = format!("Password for user {}: ", one_line(&params.user));
    let typed = tokio::task::spawn_blocking(move || rpassword::prompt_password(prompt))
        .await
        .map_err(|e| anyhow::anyhow!("the password prompt failed: {e}"))?
        .map_err(|e| {
            exit::usage(format!(
                "cannot read a password from the terminal: {}",
                exit::io_reason(&e)
            ))
        })?;
    Ok(params.typed.get_or_init(|| typed).clone())
}

/// Where an attempt failed.
enum Phase {
    Connect,
    Setup,
}

/// The TLS attempts libpq makes for this sslmode, then the session setup.
async fn establish(
    params: &ConnParams,
    tls: MakeTls,
    tls_possible: bool,
) -> Result<Client, (tokio_postgres::Error, Phase)> {
    let attempts: &[PgSslMode] = match (tls_possible, params.sslmode) {
        (false, _) => &[PgSslMode::Disable],
        // libpq's allow: plain first, TLS if the server turns plain away.
        (true, SslMode::Allow) => &[PgSslMode::Disable, PgSslMode::Require],
        // libpq's prefer: TLS if offered, and plain again if the TLS handshake fails.
        (true, SslMode::Prefer) => &[PgSslMode::Prefer, PgSslMode::Disable],
        (true, _) => &[PgSslMode::Require],
    };
    let mut config = base_config(params);
    let mut attempts = attempts.iter().peekable();
    let client = loop {
        let Some(&mode) = attempts.next() else {
            unreachable!("at least one attempt");
        };
        config.ssl_mode(mode);
        match config.connect(tls.clone()).await {
            Ok((client, connection)) => {
                // Errors after this point reach the caller through its next query.
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                break client;
            }
            Err(e) => {
                let retry = attempts.peek().is_some()
                    && match params.sslmode {
                        SslMode::Allow => e.as_db_error().is_some(),
                        SslMode::Prefer => driver_kind(&e) == DriverKind::Tls,
                        _ => false,
                    };
                if !retry {
                    return Err((e, Phase::Connect));
                }
            }
        }
    };
    client
        .batch_execute(&setup_sql(params.statement_timeout))
        .await
        .map_err(|e| (e, Phase::Setup))?;
    Ok(client)
}

/// The driver configuration, TLS mode aside.
fn base_config(params: &ConnParams) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config
        .user(&params.user)
        .dbname(&params.dbname)
        .port(params.port)
        .application_name(&params.application_name);
    match &params.host {
        Host::Socket(dir) => config.host_path(dir),
        // The name is what TLS verifies; hostaddr, when set, is where we connect.
        Host::Tcp(name) => config.host(name),
    };
    if let Some(addr) = params.hostaddr {
        config.hostaddr(addr);
    }
    if let Some(pw) = &params.password {
        config.password(pw);
    }
    if let Some(options) = &params.options {
        config.options(options);
    }
    if let Some(limit) = params.connect_timeout {
        config.connect_timeout(limit);
    }
    config
}

/// One simple-query round trip. Bare numbers are milliseconds for these settings.
///
/// `search_path` is pinned to `pg_catalog, pg_temp` because our queries name views,
/// functions and operators unqualified: a database owner who runs `ALTER DATABASE … SET
/// search_path = evil, pg_catalog` could otherwise put their own `pg_stat_database` view
/// (or `<>` operator) in front of the catalog's and have it run with our role's privileges,
/// often a superuser's (the attack pg_dump guards against since CVE-2018-1058). Listing
/// `pg_temp` last keeps even our own session's temporary objects behind the catalog.
///
/// Nothing that the settings diff compares may be SET here: a session-level value replaces
/// the server's in `pg_settings` (source `session`), so the report would judge our own
/// session instead of the server. That is why JIT stays as the server has it, although
/// compiling a catalog query over 20,000 tables costs ~20ms more than running it.
fn setup_sql(statement_timeout: Duration) -> String {
    let statement_ms = statement_timeout.as_millis().max(1);
    format!(
        "SET default_transaction_read_only = on; \
         SET search_path = pg_catalog, pg_temp; \
         SET statement_timeout = {statement_ms}; \
         SET lock_timeout = {}; \
         SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_TIMEOUT_MS}",
        LOCK_TIMEOUT_MS.min(statement_ms)
    )
}

/// A one-line message for any driver error: `"{target}: {reason}"`. `target` says what was
/// being done, e.g. `connection to host=… failed` or `query pg_stat_database on host=…`. The
/// reason is the server's own message when there is one (without severity, detail or hint),
/// otherwise a plain account of what broke. The result holds no newline and no password.
pub fn describe_error(err: &tokio_postgres::Error, target: &str) -> String {
    one_line(&redact(&format!("{target}: {}", reason(err))))
}

/// [`describe_error`] as an error with [`Exit::Server`], ready to return.
pub fn server_failure(err: &tokio_postgres::Error, target: &str) -> anyhow::Error {
    server(describe_error(err, target))
}

fn server(message: String) -> anyhow::Error {
    exit::server(one_line(&redact(&message)))
}

/// What kind of driver error this is. tokio-postgres keeps its error kinds private but
/// prints each as a fixed phrase, so the phrase is the kind.
#[derive(Debug, PartialEq, Eq)]
enum DriverKind {
    Db,
    Closed,
    Tls,
    Connect,
    Io,
    Protocol,
    Config,
    Authentication,
    Timeout,
    Other,
}

fn driver_kind(err: &tokio_postgres::Error) -> DriverKind {
    if err.as_db_error().is_some() {
        return DriverKind::Db;
    }
    match err.to_string().as_str() {
        "connection closed" => DriverKind::Closed,
        "error performing TLS handshake" => DriverKind::Tls,
        "error connecting to server" => DriverKind::Connect,
        "error communicating with the server" => DriverKind::Io,
        "unexpected message from server" | "error parsing response from server" => {
            DriverKind::Protocol
        }
        "invalid configuration" | "invalid connection string" => DriverKind::Config,
        "authentication error" => DriverKind::Authentication,
        "timeout waiting for server" => DriverKind::Timeout,
        _ => DriverKind::Other,
    }
}

/// Completed by [`connect`] with where the roots came from.
const UNTRUSTED: &str = "the server certificate is not signed by a trusted root certificate";
const CLOSED: &str = "server closed the connection unexpectedly";
const NOT_POSTGRES: &str =
    "the answer was not PostgreSQL's protocol (is another service listening on that port?)";

fn reason(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        let mut text = db.message().to_string();
        if db.code() == &SqlState::QUERY_CANCELED && text.contains("statement timeout") {
            text.push_str(" (raise --statement-timeout to allow longer queries)");
        }
        return text;
    }
    let cause = err.source();
    let cause_text = cause.map(ToString::to_string).unwrap_or_default();
    let io = cause.and_then(|c| c.downcast_ref::<io::Error>());
    match driver_kind(err) {
        DriverKind::Closed => CLOSED.to_string(),
        DriverKind::Tls => tls_reason(cause, &cause_text),
        DriverKind::Connect | DriverKind::Io => match io {
            Some(e) if is_hangup(e) => CLOSED.to_string(),
            // The codec reads a huge "length" from a non-PostgreSQL answer, then hits EOF.
            Some(e) if e.to_string().contains("bytes remaining on stream") => {
                NOT_POSTGRES.to_string()
            }
            Some(e) => {
                let mut text = exit::io_reason(e);
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
                ) {
                    text.push_str(" (is the server running and accepting connections there?)");
                }
                text
            }
            None => format!("{err}: {cause_text}"),
        },
        DriverKind::Protocol => NOT_POSTGRES.to_string(),
        DriverKind::Config if cause_text == "password missing" => {
            "no password supplied (set PGPASSWORD, use a password file, or run on a terminal \
             to be asked)"
                .to_string()
        }
        DriverKind::Authentication => format!("authentication failed: {cause_text}"),
        DriverKind::Timeout => "timed out waiting for the server".to_string(),
        _ if cause_text.is_empty() => err.to_string(),
        _ => format!("{err}: {cause_text}"),
    }
}

/// The peer went away: EOF mid-message, reset, or a write into a closed socket.
fn is_hangup(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

fn tls_reason(cause: Option<&(dyn std::error::Error + 'static)>, cause_text: &str) -> String {
    if cause_text == "server does not support TLS" {
        return "the server refused TLS (or is not PostgreSQL at all), but the sslmode requires TLS"
            .into();
    }
    let io = cause.and_then(|c| c.downcast_ref::<io::Error>());
    if let Some(e) = io.filter(|e| is_hangup(e)) {
        return format!("TLS handshake failed: {CLOSED} ({})", exit::io_reason(e));
    }
    let rustls_error = io
        .and_then(|e| e.get_ref())
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => {
            return format!("TLS handshake failed: {UNTRUSTED}");
        }
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. },
        )) => {
            return "TLS handshake failed: the server certificate has expired".into();
        }
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidYet
            | rustls::CertificateError::NotValidYetContext { .. },
        )) => {
            return "TLS handshake failed: the server certificate is not valid yet".into();
        }
        _ => {}
    }
    format!("TLS handshake failed: {cause_text}")
}

/// Seconds for a timeout message (`10s`, `1s`; sub-second limits keep their milliseconds).
fn secs(limit: Duration) -> String {
    format_ms(u64::try_from(limit.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_is_one_batch_and_lock_timeout_stays_below_statement_timeout() {
        let sql = setup_sql(Duration::from_secs(30));
        assert!(sql.contains("SET default_transaction_read_only = on"));
        assert!(!sql.contains("jit"), "jit is compared by the settings diff");
        assert!(sql.contains("SET search_path = pg_catalog, pg_temp;"));
        assert!(sql.contains("SET statement_timeout = 30000;"));
        assert!(sql.contains("SET lock_timeout = 5000;"));
        assert!(sql.contains("SET idle_in_transaction_session_timeout = 60000"));
        let sql = setup_sql(Duration::from_millis(100));
        assert!(sql.contains("SET statement_timeout = 100;"));
        assert!(sql.contains("SET lock_timeout = 100;"));
    }

    #[test]
    fn timeouts_print_in_seconds() {
        assert_eq!(secs(Duration::from_secs(10)), "10s");
        assert_eq!(secs(Duration::from_millis(1500)), "1500ms");
    }
}
