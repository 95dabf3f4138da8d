//! Resolution tests: precedence, defaults, the password file, and what the results print.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::resolve::resolve_with;
use super::*;
use crate::exit::{Exit, classify};

/// A fake environment.
fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

/// Resolves with a fake env, no home, and only `/tmp` "existing" as a socket dir.
fn run(args: &ConnectionArgs, vars: &[(&str, &str)]) -> anyhow::Result<ConnParams> {
    resolve_with(args, &env(vars), None, &|p| p == Path::new("/tmp"))
}

fn ok(args: &ConnectionArgs, vars: &[(&str, &str)]) -> ConnParams {
    run(args, vars).unwrap_or_else(|e| panic!("{e:#}"))
}

fn conn(text: &str) -> ConnectionArgs {
    ConnectionArgs {
        connection: Some(text.to_string()),
        ..ConnectionArgs::default()
    }
}

fn usage_error(args: &ConnectionArgs, vars: &[(&str, &str)]) -> String {
    let err = run(args, vars).expect_err("should fail");
    assert_eq!(classify(&err), Exit::Usage, "{err:#}");
    let text = format!("{err:#}");
    assert!(!text.contains('\n'), "{text}");
    text
}

const USER: &[(&str, &str)] = &[("USER", "alice")];

#[test]
fn defaults_like_libpq() {
    let p = ok(&ConnectionArgs::default(), USER);
    assert_eq!(p.host, Host::Socket("/tmp".into()));
    assert_eq!(p.hostaddr, None);
    assert_eq!(p.port, 5432);
    assert_eq!(p.user, "alice");
    assert_eq!(p.dbname, "alice");
    assert_eq!(p.password, None);
    assert_eq!(p.sslmode, SslMode::Prefer);
    assert_eq!(p.sslrootcert, None);
    assert_eq!(p.connect_timeout, Some(Duration::from_secs(10)));
    assert_eq!(p.statement_timeout, Duration::from_secs(30));
    assert_eq!(p.application_name, "pgcache-tune");
    assert!(p.warnings.is_empty());
    assert!(p.is_local());
    assert_eq!(
        p.redacted(),
        "host=/tmp port=5432 user=alice dbname=alice sslmode=prefer"
    );
    // LOGNAME when USER is missing; neither: the OS account, as libpq's getpwuid().
    assert_eq!(
        ok(&ConnectionArgs::default(), &[("LOGNAME", "bob")]).user,
        "bob"
    );
    let me = ok(&ConnectionArgs::default(), &[]).user;
    assert!(!me.is_empty() && me != "bob");
}

#[test]
fn default_socket_dir_prefers_debian_location() {
    let p = resolve_with(&ConnectionArgs::default(), &env(USER), None, &|_| true).unwrap();
    assert_eq!(p.host, Host::Socket("/var/run/postgresql".into()));
    let p = resolve_with(&ConnectionArgs::default(), &env(USER), None, &|_| false).unwrap();
    assert_eq!(p.host, Host::Socket("/var/run/postgresql".into()));
}

#[test]
fn env_fills_in_what_is_not_given() {
    let vars = [
        ("USER", "alice"),
        ("PGHOST", "db.example"),
        ("PGPORT", "6432"),
        ("PGUSER", "app_ro"),
        ("PGDATABASE", "app"),
        ("PGPASSWORD", "hunter2"),
        ("PGSSLMODE", "require"),
        ("PGCONNECT_TIMEOUT", "3"),
        ("PGAPPNAME", "probe"),
        ("PGOPTIONS", "-c work_mem=64MB"),
    ];
    let p = ok(&ConnectionArgs::default(), &vars);
    assert_eq!(p.host, Host::Tcp("db.example".into()));
    assert_eq!(p.port, 6432);
    assert_eq!(p.user, "app_ro");
    assert_eq!(p.dbname, "app");
    assert_eq!(p.password.as_deref(), Some("hunter2"));
    assert_eq!(p.password_source, PasswordSource::Given);
    assert_eq!(p.sslmode, SslMode::Require);
    assert_eq!(p.connect_timeout, Some(Duration::from_secs(3)));
    assert_eq!(p.application_name, "probe");
    assert_eq!(p.options.as_deref(), Some("-c work_mem=64MB"));
    assert!(!p.is_local());
}

#[test]
fn connection_string_beats_flags_and_flags_beat_env() {
    let vars = [
        ("USER", "alice"),
        ("PGHOST", "env-host"),
        ("PGPORT", "1111"),
        ("PGDATABASE", "envdb"),
        ("PGCONNECT_TIMEOUT", "7"),
    ];
    let url = "postgresql://urluser@url-host:2222/urldb?connect_timeout=5";
    let p = ok(&conn(url), &vars);
    assert_eq!(
        (p.host.clone(), p.port, p.user.as_str(), p.dbname.as_str()),
        (Host::Tcp("url-host".into()), 2222, "urluser", "urldb")
    );
    assert_eq!(p.connect_timeout, Some(Duration::from_secs(5)));

    let args = ConnectionArgs {
        host: Some("flag-host".into()),
        port: Some(3333),
        username: Some("flaguser".into()),
        connect_timeout: Some(0),
        ..conn(url)
    };
    let p = ok(&args, &vars);
    assert_eq!(
        (p.host.clone(), p.port, p.user.as_str(), p.dbname.as_str()),
        (Host::Tcp("url-host".into()), 2222, "urluser", "urldb"),
        "as with psql, the connection string wins over -h/-p/-U"
    );
    assert_eq!(p.connect_timeout, None, "0 waits forever");
    // Flags fill in what the string leaves out, ahead of the environment.
    let args = ConnectionArgs {
        host: Some("flag-host".into()),
        port: Some(3333),
        username: Some("flaguser".into()),
        ..conn("postgresql:///urldb")
    };
    let p = ok(&args, &vars);
    assert_eq!(
        (p.host.clone(), p.port, p.user.as_str(), p.dbname.as_str()),
        (Host::Tcp("flag-host".into()), 3333, "flaguser", "urldb")
    );

    // -d takes a connection string too; a plain -d is a database name.
    let args = ConnectionArgs {
        dbname: Some("host=kv-host dbname=kvdb".into()),
        ..ConnectionArgs::default()
    };
    let p = ok(&args, &vars);
    assert_eq!(p.host, Host::Tcp("kv-host".into()));
    assert_eq!(p.dbname, "kvdb");
    let args = ConnectionArgs {
        dbname: Some("plain".into()),
        ..ConnectionArgs::default()
    };
    assert_eq!(ok(&args, &vars).dbname, "plain");
    assert_eq!(ok(&conn("positional"), &vars).dbname, "positional");
}

#[test]
fn empty_url_parts_fall_back_to_env() {
    let vars = [("USER", "alice"), ("PGHOST", "/run/pg"), ("PGPORT", "5433")];
    let p = ok(&conn("postgresql:///app"), &vars);
    assert_eq!(p.host, Host::Socket("/run/pg".into()));
    assert_eq!(p.port, 5433);
    assert_eq!(p.dbname, "app");
    let p = ok(&conn("postgresql://%2Fvar%2Frun%2Fpostgresql/db"), USER);
    assert_eq!(p.host, Host::Socket("/var/run/postgresql".into()));
}

#[test]
fn hostaddr_alone_and_with_a_name() {
    let p = ok(&conn("hostaddr=127.0.0.1 port=5555"), USER);
    assert_eq!(p.host, Host::Tcp("127.0.0.1".into()));
    assert_eq!(p.hostaddr, Some("127.0.0.1".parse().unwrap()));
    assert!(p.is_local());
    assert!(p.redacted().starts_with("host=127.0.0.1 port=5555 "));

    let p = ok(&conn("host=db.example hostaddr=::1"), USER);
    assert!(p.is_local(), "hostaddr decides");
    assert!(
        p.redacted()
            .starts_with("host=db.example hostaddr=::1 port=5432")
    );
    let p = ok(&conn("host=localhost hostaddr=10.0.0.1"), USER);
    assert!(!p.is_local());
}

#[test]
fn is_local_cases() {
    for (host, local) in [
        ("localhost", true),
        ("LOCALHOST", true),
        ("127.0.0.1", true),
        ("127.1.2.3", true),
        ("::1", true),
        ("::ffff:127.0.0.1", true),
        ("/some/socket/dir", true),
        ("10.0.0.5", false),
        ("db.example", false),
        ("localhost.example", false),
    ] {
        let args = ConnectionArgs {
            host: Some(host.into()),
            ..ConnectionArgs::default()
        };
        assert_eq!(ok(&args, USER).is_local(), local, "{host}");
    }
}

#[test]
fn bad_values_are_usage_errors_with_libpq_wording() {
    let cases = [
        (
            "postgresql://h/db?foo=1",
            "invalid connection option \"foo\"",
        ),
        ("foo=bar", "invalid connection option \"foo\""),
        ("sslcert=x", "not supported"),
        ("sslmode=maybe", "invalid sslmode value: \"maybe\""),
        ("port=abc", "invalid port number"),
        ("port=0", "invalid port number"),
        ("hostaddr=db.example", "could not parse network address"),
        ("connect_timeout=soon", "invalid integer value \"soon\""),
        ("host=a,b", "one server at a time"),
        ("postgresql://a:1,b:2/db", "one server at a time"),
        ("postgresql://[::1/db", "IPv6"),
        ("gssencmode=require", "GSSAPI"),
        (
            "sslrootcert=system sslmode=require",
            "weak sslmode \"require\"",
        ),
    ];
    for (text, expected) in cases {
        let msg = usage_error(&conn(text), USER);
        assert!(msg.contains(expected), "{text}: {msg}");
    }
    let both = ConnectionArgs {
        dbname: Some("a".into()),
        ..conn("b")
    };
    assert!(usage_error(&both, USER).contains("either as CONNECTION or with -d"));
}

#[test]
fn errors_never_quote_the_password() {
    for text in [
        "postgresql://u:hunter2@h/db?foo=1",
        "password=hunter2 foo=bar",
        "postgresql://u:hunter2@h:notaport/db",
        "password='hunter2' sslmode=bogus",
    ] {
        let msg = usage_error(&conn(text), USER);
        assert!(!msg.contains("hunter2"), "{text}: {msg}");
    }
}

#[test]
fn system_roots_default_to_verify_full() {
    let p = ok(&conn("host=db.example sslrootcert=system"), USER);
    assert_eq!(p.sslmode, SslMode::VerifyFull);
    assert_eq!(p.sslrootcert, Some(RootCert::System));
}

#[test]
fn home_supplies_root_cert_and_pgpass_defaults() {
    let home = tempfile::tempdir().unwrap();
    let p = resolve_with(
        &ConnectionArgs::default(),
        &env(USER),
        Some(home.path()),
        &|_| false,
    )
    .unwrap();
    assert_eq!(
        p.sslrootcert,
        Some(RootCert::File(home.path().join(".postgresql/root.crt")))
    );
    assert_eq!(p.passfile, Some(home.path().join(".pgpass")));
}

fn write_pgpass(dir: &Path, text: &str, mode: u32) -> PathBuf {
    let path = dir.join("pgpass");
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn pgpass_supplies_the_password_by_libpq_matching() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_pgpass(
        dir.path(),
        "db.example:5432:app:alice:for-app\n\
         db.example:5432:*:alice:any-db\n\
         localhost:5432:*:alice:default-socket\n\
         /other/dir:5432:*:alice:other-socket\n",
        0o600,
    );
    let passfile = file.to_str().unwrap();
    let vars = [("USER", "alice"), ("PGPASSFILE", passfile)];
    let p = ok(&conn("host=db.example dbname=app"), &vars);
    assert_eq!(p.password.as_deref(), Some("for-app"));
    assert_eq!(p.password_source, PasswordSource::File(file.clone()));

    // Visiting another database looks the password up again.
    let other = p.with_dbname("reports");
    assert_eq!(other.dbname, "reports");
    assert_eq!(other.password.as_deref(), Some("any-db"));

    // `localhost` stands for the default socket directory (here /tmp), not other ones.
    let p = ok(&ConnectionArgs::default(), &vars);
    assert_eq!(p.password.as_deref(), Some("default-socket"));
    let p = ok(&conn("host=/other/dir"), &vars);
    assert_eq!(p.password.as_deref(), Some("other-socket"));

    // An explicit password wins, and with_dbname keeps it.
    let p = ok(&conn("host=db.example dbname=app password=given"), &vars);
    assert_eq!(p.password.as_deref(), Some("given"));
    assert_eq!(p.with_dbname("x").password.as_deref(), Some("given"));
    // passfile= in the connection string beats PGPASSFILE.
    let p = ok(&conn("host=db.example passfile=/nonexistent"), &vars);
    assert_eq!(p.password, None);
}

#[test]
fn unsafe_pgpass_is_ignored_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_pgpass(dir.path(), "*:*:*:*:secret\n", 0o644);
    let vars = [("USER", "alice"), ("PGPASSFILE", file.to_str().unwrap())];
    let p = ok(&ConnectionArgs::default(), &vars);
    assert_eq!(p.password, None);
    assert_eq!(p.warnings.len(), 1);
    assert!(p.warnings[0].contains("group or world access"));
    assert!(!p.warnings[0].contains("secret"));
}

#[test]
fn unsupported_env_vars_warn() {
    let p = ok(
        &ConnectionArgs::default(),
        &[("USER", "a"), ("PGSERVICE", "prod"), ("PGSSLCERT", "")],
    );
    assert_eq!(
        p.warnings,
        vec!["PGSERVICE is set but not supported by pgcache-tune; ignored".to_string()]
    );
}

#[test]
fn debug_and_redacted_hide_the_password() {
    let p = ok(
        &conn("postgresql://alice:hunter2@db.example/my%20db?application_name=x"),
        USER,
    );
    assert_eq!(p.password.as_deref(), Some("hunter2"));
    let debug = format!("{p:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("password: Some(\"xxxxx\")"), "{debug}");
    assert_eq!(
        p.redacted(),
        "host=db.example port=5432 user=alice dbname='my db' sslmode=prefer"
    );
    assert_eq!(p.application_name, "x");
}

#[test]
fn redacted_escapes_odd_names() {
    let p = ok(&conn("dbname='a\\'b' user='line\nbreak'"), USER);
    let text = p.redacted();
    assert!(!text.contains('\n'), "{text}");
    assert!(text.contains("dbname='a\\'b'"), "{text}");
    assert!(text.contains("user='line\\nbreak'"), "{text}");
    // Bidirectional and invisible characters are shown too, not only controls.
    let p = ok(&conn("dbname=ab\u{202e}cd user=x\u{200b}y"), USER);
    let text = p.redacted();
    assert!(text.contains("dbname='ab\\u{202e}cd'"), "{text}");
    assert!(text.contains("user='x\\u{200b}y'"), "{text}");
}

/// The password file and the root certificate file are read by `resolve`, which runs before
/// the runtime; `with_dbname` and the certificate check (both inside async code) use what it
/// read and do no blocking file I/O. Deleting both files after resolving proves it.
#[test]
fn files_are_read_before_the_async_code_runs() {
    let dir = tempfile::tempdir().unwrap();
    let pgpass = write_pgpass(
        dir.path(),
        "db.example:5432:app:alice:for-app\ndb.example:5432:reports:alice:for-reports\n",
        0o600,
    );
    let key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let root = dir.path().join("root.crt");
    fs::write(&root, ca.self_signed(&key).unwrap().pem()).unwrap();
    let vars = [
        ("USER", "alice"),
        ("PGPASSFILE", pgpass.to_str().unwrap()),
        ("PGSSLROOTCERT", root.to_str().unwrap()),
    ];
    let p = ok(&conn("host=db.example dbname=app sslmode=verify-ca"), &vars);
    assert_eq!(p.password.as_deref(), Some("for-app"));
    fs::remove_file(&pgpass).unwrap();
    fs::remove_file(&root).unwrap();

    let other = p.with_dbname("reports");
    assert_eq!(other.password.as_deref(), Some("for-reports"));
    assert_eq!(other.password_source, PasswordSource::File(pgpass));
    assert!(
        matches!(tls::cert_check(&p), Ok(tls::CertCheck::Chain(_))),
        "{:?}",
        tls::cert_check(&p).err()
    );
    // The passwords themselves never show in Debug.
    assert!(!format!("{p:?}").contains("for-reports"), "{p:?}");
}

#[test]
fn prompting_needs_a_terminal_and_w_forces_it() {
    let mut p = ok(&ConnectionArgs::default(), USER);
    assert_eq!(p.prompt, PasswordPrompt::Never);
    p.allow_prompt(true).unwrap();
    assert_eq!(p.prompt, PasswordPrompt::WhenAsked);
    p.allow_prompt(false).unwrap();
    assert_eq!(p.prompt, PasswordPrompt::Never);

    let forced = ConnectionArgs {
        password: true,
        ..ConnectionArgs::default()
    };
    let mut p = ok(&forced, USER);
    assert_eq!(p.prompt, PasswordPrompt::First);
    let err = p.clone().allow_prompt(false).unwrap_err();
    assert_eq!(classify(&err), Exit::Usage, "{err:#}");
    p.allow_prompt(true).unwrap();
    assert_eq!(p.prompt, PasswordPrompt::First);
}
