//! Live tests of `conninfo`: every way of naming a server (URL, key=value, PG* variables,
//! Unix socket, .pgpass, each sslmode) against a throwaway cluster, and every way of failing
//! (bad input, nothing listening, a silent listener, something that is not PostgreSQL, wrong
//! password, missing database, a backend killed mid-session, a statement timeout), each
//! checked for one line, the right exit code and no password in the text.
//!
//! The environment is always a fake closure, never the real one, so a developer's PG*
//! variables cannot leak in. Network traffic stays on loopback.

mod support;

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pgcache_tune::conninfo::{ConnParams, ConnectionArgs, connect, describe_error, resolve};
use pgcache_tune::exit::{Exit, classify};
use support::pki::make_pki;
use support::{Cluster, ClusterOptions};
use tokio_postgres::error::SqlState;

const PASSWORD: &str = "S3cret-Pa55word";
const WRONG_PASSWORD: &str = "Wr0ng-Pa55word";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn fake_env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

fn conn(text: &str) -> ConnectionArgs {
    ConnectionArgs {
        connection: Some(text.to_string()),
        ..ConnectionArgs::default()
    }
}

/// Resolves with a fake environment (just `USER=postgres` plus `vars`) and no home dir.
fn params(args: &ConnectionArgs, vars: &[(&str, &str)]) -> ConnParams {
    let mut all = vec![("USER", "postgres")];
    all.extend_from_slice(vars);
    resolve(args, &fake_env(&all), None).unwrap_or_else(|e| panic!("resolve: {e:#}"))
}

fn started(configure: impl FnOnce(&Cluster)) -> Option<Cluster> {
    let bin = support::require_pg()?;
    let mut c = Cluster::init(ClusterOptions::new(bin));
    configure(&c);
    c.start();
    Some(c)
}

/// What a session reports about itself, and whether TLS carries it.
struct Session {
    read_only: String,
    application_name: String,
    statement_timeout: String,
    user: String,
    ssl: bool,
}

/// Connects, reads the session settings, and checks that a write is refused.
fn session(p: &ConnParams) -> Session {
    runtime().block_on(async {
        let client = connect(p)
            .await
            .unwrap_or_else(|e| panic!("connect {}: {e:#}", p.redacted()));
        let row = client
            .query_one(
                "select current_setting('default_transaction_read_only'), \
                        current_setting('application_name'), \
                        current_setting('statement_timeout'), \
                        current_user::text, \
                        coalesce((select ssl from pg_stat_ssl where pid = pg_backend_pid()), false)",
                &[],
            )
            .await
            .expect("session query");
        let err = client
            .batch_execute("create table t()")
            .await
            .expect_err("a write must fail in a read-only session");
        assert_eq!(err.code(), Some(&SqlState::READ_ONLY_SQL_TRANSACTION), "{err:?}");
        Session {
            read_only: row.get(0),
            application_name: row.get(1),
            statement_timeout: row.get(2),
            user: row.get(3),
            ssl: row.get(4),
        }
    })
}

fn assert_default_session(p: &ConnParams) -> Session {
    let s = session(p);
    assert_eq!(s.read_only, "on");
    assert_eq!(s.application_name, "pgcache-tune");
    assert_eq!(s.statement_timeout, "30s");
    s
}

/// A connect failure: its one-line text and exit code. Asserts no password leaks.
fn connect_error(p: &ConnParams) -> (String, Exit) {
    let err = runtime()
        .block_on(connect(p))
        .map(drop)
        .expect_err("connect should fail");
    let text = format!("{err:#}");
    assert!(!text.contains('\n'), "not one line: {text:?}");
    assert!(
        !text.contains(PASSWORD) && !text.contains(WRONG_PASSWORD),
        "{text}"
    );
    (text, classify(&err))
}

fn usage_error(args: &ConnectionArgs) -> String {
    let err = resolve(args, &fake_env(&[("USER", "postgres")]), None).expect_err("should fail");
    let text = format!("{err:#}");
    assert_eq!(classify(&err), Exit::Usage, "{text}");
    assert!(!text.contains('\n') && !text.contains(PASSWORD), "{text}");
    text
}

#[test]
fn url_key_value_env_and_socket_all_give_read_only_sessions() {
    let Some(c) = started(|_| {}) else { return };
    let port = c.port();

    let url = format!("postgresql://postgres@127.0.0.1:{port}/postgres?application_name=via-url");
    let s = session(&params(&conn(&url), &[]));
    assert_eq!(
        (s.read_only.as_str(), s.application_name.as_str()),
        ("on", "via-url")
    );
    assert_eq!(s.statement_timeout, "30s");

    let kv = format!("host=127.0.0.1 port = {port} user='postgres' dbname=postgres");
    assert_default_session(&params(&conn(&kv), &[]));

    let port_text = port.to_string();
    let vars = [
        ("PGHOST", "127.0.0.1"),
        ("PGPORT", port_text.as_str()),
        ("PGUSER", "postgres"),
        ("PGDATABASE", "postgres"),
        ("PGAPPNAME", "via-env"),
    ];
    let args = ConnectionArgs {
        statement_timeout: Some(Duration::from_secs(45)),
        ..ConnectionArgs::default()
    };
    let s = session(&params(&args, &vars));
    assert_eq!(s.application_name, "via-env");
    assert_eq!(s.statement_timeout, "45s");

    let args = ConnectionArgs {
        host: Some(c.socket_dir().display().to_string()),
        port: Some(port),
        dbname: Some("postgres".into()),
        ..ConnectionArgs::default()
    };
    let p = params(&args, &[]);
    assert!(p.is_local());
    let s = assert_default_session(&p);
    assert!(!s.ssl, "TLS is never attempted on a Unix socket");
    assert_eq!(s.user, "postgres");

    // prefer (the default) against a server without TLS falls back to plain.
    let p = params(
        &conn(&format!("host=127.0.0.1 port={port} dbname=postgres")),
        &[],
    );
    assert!(!assert_default_session(&p).ssl);
    // require against it fails clearly.
    let p = params(
        &conn(&format!(
            "host=127.0.0.1 port={port} dbname=postgres sslmode=require"
        )),
        &[],
    );
    let (text, exit) = connect_error(&p);
    assert_eq!(exit, Exit::Server);
    assert!(text.contains("the server refused TLS"), "{text}");
}

#[test]
fn server_side_failures_are_one_line() {
    let Some(c) = started(|_| {}) else { return };
    let port = c.port();
    let target = |db: &str| format!("host=127.0.0.1 port={port} dbname={db}");

    let (text, exit) = connect_error(&params(&conn(&target("nope")), &[]));
    assert_eq!(exit, Exit::Server);
    assert!(
        text.starts_with(&format!(
            "connection to host=127.0.0.1 port={port} user=postgres dbname=nope"
        )),
        "{text}"
    );
    assert!(text.ends_with("database \"nope\" does not exist"), "{text}");

    // A statement timeout.
    let args = ConnectionArgs {
        statement_timeout: Some(Duration::from_millis(100)),
        ..conn(&target("postgres"))
    };
    let p = params(&args, &[]);
    runtime().block_on(async {
        let client = connect(&p).await.expect("connect");
        let t: String = client
            .query_one("select current_setting('statement_timeout')", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(t, "100ms");
        let lock: String = client
            .query_one("select current_setting('lock_timeout')", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            lock, "100ms",
            "lock_timeout never exceeds statement_timeout"
        );
        let err = client.query("select pg_sleep(1)", &[]).await.unwrap_err();
        let text = describe_error(&err, &format!("query on {}", p.redacted()));
        assert!(!text.contains('\n'), "{text}");
        assert!(
            text.contains("canceling statement due to statement timeout"),
            "{text}"
        );
        assert!(text.contains("--statement-timeout"), "{text}");
    });

    // The backend is terminated mid-session.
    let p = params(&conn(&target("postgres")), &[]);
    runtime().block_on(async {
        let client = connect(&p).await.expect("connect");
        let pid: i32 = client
            .query_one("select pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        // pg_terminate_backend(pid, timeout) waits for the exit, but only from 14 on: signal,
        // then wait here, which every major can do.
        assert_eq!(
            c.psql("postgres", &format!("select pg_terminate_backend({pid})")),
            "t"
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while c.psql(
            "postgres",
            &format!("select count(*) from pg_stat_activity where pid = {pid}"),
        ) != "0"
        {
            assert!(
                Instant::now() < deadline,
                "backend {pid} outlived its termination"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let err = client.query("select 1", &[]).await.unwrap_err();
        let text = describe_error(&err, &format!("query on {}", p.redacted()));
        assert!(!text.contains('\n'), "{text}");
        assert!(
            text.contains("server closed the connection unexpectedly")
                || text.contains("terminating connection due to administrator command"),
            "{text}"
        );
    });
}

/// A cluster where TCP needs a scram password and role `app_user` has [`PASSWORD`] (the
/// harness's psql keeps trust over the socket).
fn with_password_auth() -> Option<Cluster> {
    let c = started(|c| {
        c.conf_append("password_encryption = 'scram-sha-256'");
        c.write_data_file(
            "pg_hba.conf",
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
        );
    })?;
    c.psql(
        "postgres",
        &format!("create role app_user login password '{PASSWORD}'"),
    );
    Some(c)
}

#[test]
fn passwords_from_pgpass_url_and_their_failures() {
    let Some(c) = with_password_auth() else {
        return;
    };
    let port = c.port();
    let base = format!("host=127.0.0.1 port={port} user=app_user dbname=postgres");
    let dir = tempfile::tempdir().unwrap();
    let pgpass = dir.path().join("pgpass");
    let passfile = pgpass.to_str().unwrap();
    let write_pgpass = |password: &str, mode: u32| {
        fs::write(
            &pgpass,
            format!(
                "# test\nelsewhere:*:*:*:nope\n127.0.0.1:{port}:postgres:app_user:{password}\n"
            ),
        )
        .unwrap();
        fs::set_permissions(&pgpass, fs::Permissions::from_mode(mode)).unwrap();
    };

    write_pgpass(PASSWORD, 0o600);
    let p = params(&conn(&base), &[("PGPASSFILE", passfile)]);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let s = assert_default_session(&p);
    assert_eq!(s.user, "app_user");

    // Group/world readable: ignored with a warning, and the server's demand then fails.
    write_pgpass(PASSWORD, 0o644);
    let p = params(&conn(&base), &[("PGPASSFILE", passfile)]);
    assert_eq!(p.password, None);
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].contains("group or world access"));
    let (text, exit) = connect_error(&p);
    assert_eq!(exit, Exit::Server);
    assert!(text.contains("no password supplied"), "{text}");

    // A wrong password from the file says where it came from.
    write_pgpass(WRONG_PASSWORD, 0o600);
    let p = params(&conn(&base), &[("PGPASSFILE", passfile)]);
    let (text, _) = connect_error(&p);
    assert!(
        text.contains("password authentication failed for user \"app_user\""),
        "{text}"
    );
    assert!(text.contains(passfile), "{text}");

    // From a URL: right and wrong.
    let url = |pw: &str| format!("postgresql://app_user:{pw}@127.0.0.1:{port}/postgres");
    assert_default_session(&params(&conn(&url(PASSWORD)), &[]));
    let (text, exit) = connect_error(&params(&conn(&url(WRONG_PASSWORD)), &[]));
    assert_eq!(exit, Exit::Server);
    assert!(text.contains("password authentication failed"), "{text}");

    // PGPASSWORD in the (fake) environment.
    assert_default_session(&params(&conn(&base), &[("PGPASSWORD", PASSWORD)]));
}

fn write_client_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn tls_modes_follow_libpq() {
    let pki = make_pki();
    let Some(c) = started(|c| {
        c.write_data_file("server.crt", &pki.server_cert_pem);
        let key = c.write_data_file("server.key", &pki.server_key_pem);
        // The server refuses a key others can read.
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        c.conf_append("ssl = on");
        // `tls_only` may not connect in plain text: what sslmode=allow must recover from.
        c.write_data_file(
            "pg_hba.conf",
            "local all all trust\n\
             hostnossl all tls_only 127.0.0.1/32 reject\n\
             host all all 127.0.0.1/32 trust\n",
        );
    }) else {
        return;
    };
    c.psql("postgres", "create role tls_only login");
    let port = c.port();
    let dir = tempfile::tempdir().unwrap();
    let ca = write_client_file(dir.path(), "ca.crt", &pki.ca_pem);
    let other = write_client_file(dir.path(), "other.crt", &pki.other_ca_pem);
    let (ca, other) = (ca.display(), other.display());
    let p = |opts: &str| {
        params(
            &conn(&format!("port={port} user=postgres dbname=postgres {opts}")),
            &[],
        )
    };

    let ok = |opts: &str| {
        let s = assert_default_session(&p(opts));
        assert!(s.ssl, "{opts}: session is not encrypted");
    };
    let plain = |opts: &str| {
        let s = assert_default_session(&p(opts));
        assert!(!s.ssl, "{opts}: session is encrypted");
    };
    let fails = |opts: &str, expected: &str| {
        let (text, exit) = connect_error(&p(opts));
        assert_eq!(exit, Exit::Server, "{opts}: {text}");
        assert!(text.contains(expected), "{opts}: {text}");
    };

    ok(&format!(
        "host=localhost sslmode=verify-full sslrootcert={ca}"
    ));
    fails(
        &format!("host=localhost sslmode=verify-full sslrootcert={other}"),
        &format!("not signed by a trusted root certificate in \"{other}\""),
    );
    fails(
        &format!("host=127.0.0.1 sslmode=verify-full sslrootcert={ca}"),
        "certificate not valid for name \"127.0.0.1\"",
    );
    ok("host=127.0.0.1 sslmode=require");
    ok(&format!(
        "host=127.0.0.1 sslmode=verify-ca sslrootcert={ca}"
    ));
    fails(
        &format!("host=127.0.0.1 sslmode=verify-ca sslrootcert={other}"),
        &format!("not signed by a trusted root certificate in \"{other}\""),
    );
    // libpq: require with a root certificate file present checks the chain like verify-ca.
    fails(
        &format!("host=127.0.0.1 sslmode=require sslrootcert={other}"),
        "not signed by a trusted root certificate",
    );
    // prefer uses TLS when offered; allow and disable do not.
    ok("host=127.0.0.1");
    plain("host=127.0.0.1 sslmode=allow");
    plain("host=127.0.0.1 sslmode=disable");
    // allow turns to TLS when the server rejects plain text; disable then fails.
    ok("host=127.0.0.1 sslmode=allow user=tls_only");
    // The server's wording: "SSL off" until 13, "no encryption" from 14 (GSS encryption).
    fails(
        "host=127.0.0.1 sslmode=disable user=tls_only",
        if c.major() >= 14 {
            "user \"tls_only\", database \"postgres\", no encryption"
        } else {
            "user \"tls_only\", database \"postgres\", SSL off"
        },
    );
    // hostaddr connects; the name is what verify-full checks.
    ok(&format!(
        "host=localhost hostaddr=127.0.0.1 sslmode=verify-full sslrootcert={ca}"
    ));

    // A missing root certificate file for verify-* names the file.
    let missing = dir.path().join("missing.crt");
    let err = runtime()
        .block_on(connect(&p(&format!(
            "host=localhost sslmode=verify-full sslrootcert={}",
            missing.display()
        ))))
        .map(drop)
        .unwrap_err();
    let text = format!("{err:#}");
    assert_eq!(classify(&err), Exit::Io, "{text}");
    assert!(
        text.starts_with(&format!(
            "root certificate file \"{}\" does not exist",
            missing.display()
        )),
        "{text}"
    );
}

#[test]
fn bad_input_is_a_usage_error() {
    let text = usage_error(&conn(&format!("postgresql://u:{PASSWORD}@[::1/db")));
    assert!(text.contains("IPv6"), "{text}");
    let text = usage_error(&conn(&format!("host=h password={PASSWORD} foo=bar")));
    assert_eq!(text, "invalid connection option \"foo\"");
    let text = usage_error(&conn(&format!(
        "postgresql://u:{PASSWORD}@h/db?sslmode=sometimes"
    )));
    assert_eq!(text, "invalid sslmode value: \"sometimes\"");
}

#[test]
fn nothing_listening_is_refused() {
    let port = support::free_port();
    let p = params(
        &conn(&format!("host=127.0.0.1 port={port} password={PASSWORD}")),
        &[],
    );
    let (text, exit) = connect_error(&p);
    assert_eq!(exit, Exit::Server);
    assert!(
        text.starts_with(&format!(
            "connection to host=127.0.0.1 port={port} user=postgres"
        )),
        "{text}"
    );
    assert!(text.contains("connection refused"), "{text}");
}

/// An upper bound for "it gave up instead of hanging" that a loaded, shared 2-core machine
/// cannot break: the point is that the 1 s connect timeout fires at all, not how fast.
const GENEROUS_BOUND: Duration = Duration::from_secs(60);

#[test]
fn a_silent_server_times_out_within_the_connect_timeout() {
    // The kernel completes the TCP handshake for a listening socket nobody reads from.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let args = ConnectionArgs {
        connect_timeout: Some(1),
        ..conn(&format!("host=127.0.0.1 port={port}"))
    };
    let p = params(&args, &[]);
    let start = Instant::now();
    let (text, exit) = connect_error(&p);
    let took = start.elapsed();
    assert_eq!(exit, Exit::Server);
    assert!(text.ends_with("timed out after 1s"), "{text}");
    assert!(
        took >= Duration::from_millis(900) && took < GENEROUS_BOUND,
        "{took:?}"
    );
    drop(listener);
}

#[test]
fn something_that_is_not_postgresql_is_named_as_such() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        // Answer every attempt (sslmode fallbacks may reconnect) like an HTTP server.
        for _ in 0..3 {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    for mode in ["prefer", "disable", "require"] {
        let p = params(
            &conn(&format!("host=127.0.0.1 port={port} sslmode={mode}")),
            &[],
        );
        let (text, exit) = connect_error(&p);
        assert_eq!(exit, Exit::Server, "{mode}: {text}");
        assert!(text.contains("not PostgreSQL"), "{mode}: {text}");
    }
    drop(server);
}

/// A role and a database name built to attack a terminal: an SGR escape, an OSC title
/// change ending in BEL, a right-to-left override and a zero-width space. The server quotes
/// them back in its "does not exist" errors.
const HOSTILE: &str = "x\x1b[31mred\x1b]0;pwned\x07\u{202e}rev\u{200b}";

/// Server error text reaches stderr (every command) and stdout (`check --format nagios`)
/// with every control and invisible format character shown as an escape, never raw.
#[test]
fn hostile_server_text_is_sanitised_on_stderr_and_in_nagios_output() {
    let Some(c) = started(|_| {}) else { return };
    let home = tempfile::tempdir().unwrap();
    let sock = c.socket_dir().to_str().unwrap().to_string();
    let port = c.port().to_string();
    let raw_free = |what: &str, text: &str| {
        for bad in ['\x1b', '\x07', '\u{202e}', '\u{200b}'] {
            assert!(!text.contains(bad), "{what}: raw {bad:?} in {text:?}");
        }
    };
    for (user, db, needle) in [
        (HOSTILE, "postgres", "role"),
        (support::SUPERUSER, HOSTILE, "database"),
    ] {
        let conn = ["-h", &sock, "-p", &port, "-U", user, "-d", db];
        let out = support::tool(home.path())
            .arg("report")
            .args(conn)
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(69), "{stderr}");
        assert!(out.stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
        assert!(stderr.contains(needle), "{stderr:?}");
        assert!(
            stderr.contains(r"x\x1b[31mred\x1b]0;pwned\x07\u{202e}rev\u{200b}"),
            "{stderr:?}"
        );
        raw_free("report stderr", &stderr);

        let out = support::tool(home.path())
            .args(["check", "--format", "nagios", "--min-hit-ratio", "90"])
            .args(conn)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
        assert!(stdout.contains("UNKNOWN"), "{stdout:?}");
        assert!(stdout.contains(r"\u{202e}"), "{stdout:?}");
        raw_free("nagios stdout", &stdout);
        raw_free("check stderr", &stderr);
    }
}

/// libpq refuses an expired certificate even when it is the very one in the root file; so
/// must we, for verify-ca, verify-full and require-with-a-root-file alike.
#[test]
fn an_expired_pinned_certificate_is_refused() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut cert_params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    // Self-signed with CA:TRUE, as `openssl req -x509` makes it, and expired a day ago.
    cert_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    cert_params.not_before = epoch + (now - Duration::from_secs(30 * 86_400));
    cert_params.not_after = epoch + (now - Duration::from_secs(86_400));
    let expired = cert_params.self_signed(&key).unwrap();
    let Some(c) = started(|c| {
        c.write_data_file("server.crt", &expired.pem());
        let k = c.write_data_file("server.key", &key.serialize_pem());
        fs::set_permissions(&k, fs::Permissions::from_mode(0o600)).unwrap();
        c.conf_append("ssl = on");
    }) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = write_client_file(dir.path(), "root.crt", &expired.pem());
    let port = c.port();
    let p = |opts: &str| {
        params(
            &conn(&format!(
                "host=localhost port={port} user=postgres dbname=postgres {opts}"
            )),
            &[],
        )
    };
    for mode in ["verify-full", "verify-ca", "require"] {
        let (text, exit) = connect_error(&p(&format!(
            "sslmode={mode} sslrootcert={}",
            root.display()
        )));
        assert_eq!(exit, Exit::Server, "{mode}: {text}");
        assert!(
            text.ends_with("the server certificate has expired"),
            "{mode}: {text}"
        );
    }
    // The control: without certificate checks the same server is reachable over TLS.
    let s = assert_default_session(&p("sslmode=require sslrootcert=/nonexistent/root.crt"));
    assert!(s.ssl);
}

/// How long the terminal test waits for the prompt, and then for the run to finish: generous,
/// since the point is that it happens, not how fast.
const PROMPT_WAIT: Duration = Duration::from_secs(60);

/// psql's password prompt: asked on the terminal when the server wants a password and none
/// is configured, and with -W; never when stdin is not a terminal.
#[test]
fn a_password_is_asked_for_on_a_terminal_only() {
    let Some(c) = with_password_auth() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let port = c.port().to_string();
    let conn = [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-U",
        "app_user",
        "-d",
        "postgres",
    ];

    // Not a terminal: no prompt, the libpq-style failure.
    let out = support::tool_std(home.path())
        .arg("report")
        .args(conn)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    assert!(stderr.contains("no password supplied"), "{stderr}");
    assert!(!stderr.contains("Password for user"), "{stderr}");
    assert!(out.stdout.is_empty());
    // -W without a terminal is a usage error, before any connection.
    let out = support::tool_std(home.path())
        .arg("report")
        .args(conn)
        .arg("-W")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("-W/--password needs a terminal"),
        "{stderr}"
    );

    // On a terminal (util-linux `script` gives the run a pseudo-terminal): asked, and the
    // typed password connects; with -W too.
    let Some(script) = ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
    else {
        support::skip_unless_ci("no `script` (bsdutils) to give the prompt a terminal");
        return;
    };
    for extra in ["", " -W"] {
        let snap = home.path().join(format!("snap{}.json", extra.trim()));
        let line = format!(
            "'{}' snapshot {} -o '{}'{extra}",
            env!("CARGO_BIN_EXE_pgcache-tune"),
            conn.join(" "),
            snap.display()
        );
        let mut cmd = std::process::Command::new(script);
        support::without_pg_env(&mut cmd)
            .args(["-q", "-e", "-c", &line, "/dev/null"])
            .env("HOME", home.path())
            .current_dir(home.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut stdout = child.stdout.take().unwrap();
        let reader = {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 256];
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        let text = || String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
        let deadline = Instant::now() + PROMPT_WAIT;
        while !text().contains("Password for user app_user: ") {
            assert!(
                Instant::now() < deadline,
                "{extra}: no prompt in {:?}",
                text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("{extra}: still running: {:?}", text());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        drop(stdin);
        reader.join().unwrap();
        let shown = text();
        assert!(status.success(), "{extra}: {status}: {shown:?}");
        assert!(shown.contains("saved counters of "), "{extra}: {shown:?}");
        assert!(snap.is_file(), "{extra}: {shown:?}");
        assert_eq!(
            shown.matches("Password for user").count(),
            1,
            "{extra}: asked once: {shown:?}"
        );
    }
}
