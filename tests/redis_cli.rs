//! `redis report` input errors, without a server: one line on stderr naming the problem and
//! what is accepted, the documented exit code, nothing on stdout, no password echoed.

use assert_cmd::Command;

fn run(args: &[&str]) -> (Option<i32>, String, Vec<u8>) {
    let out = Command::cargo_bin("pgcache-tune")
        .unwrap()
        .env_remove("REDISCLI_AUTH")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.stdout,
    )
}

/// Runs `args`, which must fail with `code`: one line on stderr containing `needle`, no
/// password echoed, nothing on stdout.
fn assert_one_line_error(args: &[&str], code: i32, needle: &str) {
    let (status, stderr, stdout) = run(args);
    assert_eq!(status, Some(code), "{args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr} lacks {needle}");
    assert!(
        !stderr.contains("s3cret"),
        "{args:?}: password echoed: {stderr}"
    );
    assert!(stdout.is_empty(), "{args:?}");
}

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn bad_input_gets_one_line_and_its_exit_code() {
    let port = closed_port().to_string();
    let refused = format!("redis://:s3cret@127.0.0.1:{port}");
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["redis", "report", "postgres://u:s3cret@db"],
            64,
            "rediss://",
        ),
        (
            vec!["redis", "report", "rediss://:s3cret@h#insecure"],
            64,
            "--cacert",
        ),
        (
            vec!["redis", "report", "redis://h", "--cacert", "/tmp/ca.pem"],
            64,
            "rediss://",
        ),
        (
            vec![
                "redis",
                "report",
                "redis://h",
                "--config-command",
                "CON FIG",
            ],
            64,
            "or - to skip CONFIG",
        ),
        (
            vec![
                "redis",
                "report",
                "redis://h",
                "--password-file",
                "/nonexistent/pw",
            ],
            66,
            "/nonexistent/pw",
        ),
        (
            vec!["redis", "report", "redis://h", "--timeout", "5"],
            64,
            "--timeout",
        ),
        (
            vec!["redis", "report", "redis://h", "--format", "yaml"],
            64,
            "table, json, markdown",
        ),
        (
            vec!["redis", "report", &refused],
            69,
            "cannot connect to Redis redis://127.0.0.1:",
        ),
    ];
    for (args, code, needle) in cases {
        assert_one_line_error(&args, code, needle);
    }
}

#[test]
fn redis_check_and_snapshot_bad_input() {
    let port = closed_port().to_string();
    let refused = format!("redis://:s3cret@127.0.0.1:{port}");
    let pg_snapshot = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/stats/pg15.json");
    assert!(std::path::Path::new(pg_snapshot).is_file(), "{pg_snapshot}");
    let check = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["redis", "check", refused.as_str()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (check(&["--critical", "0.9"]), 64, "looks like a fraction"),
        (
            check(&["--warning", "0.95", "--critical", "90"]),
            64,
            "write 95 for 95%",
        ),
        (check(&["--critical", "101"]), 64, "out of range"),
        (check(&[]), 64, "no threshold"),
        (
            check(&["--warning", "80", "--critical", "90"]),
            64,
            "--warning 80 is below --critical 90",
        ),
        (
            check(&["--critical", "80", "--min-lookups", "-1"]),
            64,
            "lookup count",
        ),
        (
            check(&["--critical", "80", "--interval", "5"]),
            64,
            "--interval",
        ),
        (
            check(&["--critical", "80", "--on-insufficient", "maybe"]),
            64,
            "unknown, critical, ok",
        ),
        (
            check(&["--critical", "80", "--interval", "1s", "--since", "x.json"]),
            64,
            "cannot be used with",
        ),
        (
            vec![
                "redis".into(),
                "check".into(),
                "postgres://u:s3cret@db".into(),
                "--critical".into(),
                "80".into(),
            ],
            64,
            "rediss://",
        ),
        // Anything that stops the measurement is UNKNOWN, as for `check`.
        (
            check(&["--critical", "80", "--since", "/nonexistent/s.json"]),
            3,
            "cannot read snapshot /nonexistent/s.json: no such file or directory",
        ),
        (
            check(&["--critical", "80", "--since", pg_snapshot]),
            3,
            "holds PostgreSQL counters",
        ),
        (
            check(&["--critical", "80"]),
            3,
            "cannot connect to Redis redis://127.0.0.1:",
        ),
        (
            vec!["redis".into(), "snapshot".into(), refused.clone()],
            64,
            "--output",
        ),
        (
            vec![
                "redis".into(),
                "snapshot".into(),
                refused.clone(),
                "-o".into(),
                "/tmp/never-written.json".into(),
            ],
            69,
            "cannot connect to Redis",
        ),
    ];
    for (args, code, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_one_line_error(&args, code, needle);
    }
    assert!(!std::path::Path::new("/tmp/never-written.json").exists());
}

#[test]
fn redis_check_and_snapshot_have_help_and_man_pages() {
    let help = |args: &[&str]| {
        let (code, stderr, stdout) = run(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        String::from_utf8(stdout).unwrap()
    };
    let redis = help(&["redis", "--help"]);
    assert!(
        redis.contains("check") && redis.contains("snapshot"),
        "{redis}"
    );
    let check = help(&["redis", "check", "--help"]);
    for flag in [
        "--warning",
        "--critical",
        "--min-lookups",
        "--on-insufficient",
        "--interval",
        "--since",
        "--config",
        "--format",
        "--password-file",
    ] {
        assert!(check.contains(flag), "{flag} in:\n{check}");
    }
    // CONFIG is never sent by a check, so it has no flag for CONFIG's name.
    assert!(!check.contains("--config-command"), "{check}");
    let page = help(&["man", "redis-check"]);
    assert!(page.contains("min\\-lookups"), "{page}");
    assert!(page.contains("redis check: CRITICAL"), "{page}");
    let page = help(&["man", "redis-snapshot"]);
    assert!(page.contains("\\-\\-output"), "{page}");
}
