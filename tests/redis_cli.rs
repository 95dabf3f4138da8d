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
        let (status, stderr, stdout) = run(&args);
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
}
