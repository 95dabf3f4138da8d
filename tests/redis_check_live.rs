//! `redis check` and `redis snapshot` against real throwaway redis-server instances
//! (tests/support/redis.rs): a workload with a known hit ratio over `--interval` and over
//! `redis snapshot` + `--since`, `CONFIG RESETSTAT` and a new run_id in the window, the
//! thresholds' exit codes in every format, the lookups floor, the `[redis]` table of the
//! config file, and a managed-service stand-in with CONFIG renamed away.

#[path = "support/metrics.rs"]
mod metrics_support;
#[path = "support/redis.rs"]
mod redis_support;
mod support;

use std::path::Path;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use redis_support::{RedisOptions, RedisServer};
use serde_json::Value;

/// What one run printed.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("pgcache-tune").expect("binary");
    cmd.env_remove("REDISCLI_AUTH");
    cmd
}

fn run(server: &RedisServer, args: &[&str], dir: &Path) -> Run {
    let mut cmd = bin();
    cmd.current_dir(dir).args(args);
    if let Some(pw) = password(server) {
        cmd.env("REDISCLI_AUTH", pw);
    }
    let out = cmd.output().expect("runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The password the tests give servers started with one.
const PASSWORD: &str = "s3cret-pw";

fn password(server: &RedisServer) -> Option<&'static str> {
    // Servers with a TCP port are the ones started with a password here.
    server.port().map(|_| PASSWORD)
}

/// `redis check URL ARGS --format json`, parsed; the exit code must match the JSON's.
fn check_json(server: &RedisServer, url: &str, args: &[&str], dir: &Path) -> (i32, Value) {
    let all = [&["redis", "check", url][..], args, &["--format", "json"]].concat();
    let r = run(server, &all, dir);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    assert_eq!(doc["exit_code"], r.code, "{r:?}");
    (r.code, doc)
}

/// SET keys k0..k(n-1).
fn load_keys(server: &RedisServer, n: usize) {
    let cmds: String = (0..n).map(|i| format!("SET k{i} v\n")).collect();
    server.pipe(&cmds);
}

/// `hits` GETs of existing keys (of `load_keys(…, keys)`) and `misses` of absent ones.
fn lookups(server: &RedisServer, keys: usize, hits: usize, misses: usize) {
    let mut cmds = String::new();
    for i in 0..hits {
        cmds.push_str(&format!("GET k{}\n", i % keys));
    }
    for i in 0..misses {
        cmds.push_str(&format!("GET absent{i}\n"));
    }
    server.pipe(&cmds);
}

fn item(doc: &Value) -> &Value {
    &doc["items"][0]
}

/// Counts the INFO calls the server answered (`cmdstat_info`), minus the ones this helper
/// made itself, so a test can wait for the check's first sample.
struct InfoCalls {
    base: u64,
    mine: u64,
}

impl InfoCalls {
    fn read(server: &RedisServer) -> u64 {
        let text = server.cli(&["INFO", "commandstats"]);
        text.lines()
            .find_map(|l| l.strip_prefix("cmdstat_info:calls="))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    fn start(server: &RedisServer) -> InfoCalls {
        // The reply counts the INFO calls before this one.
        let base = Self::read(server);
        InfoCalls { base, mine: 1 }
    }

    /// INFO calls by others since `start`.
    fn others(&mut self, server: &RedisServer) -> u64 {
        let seen = Self::read(server);
        let others = seen - self.base - self.mine;
        self.mine += 1;
        others
    }
}

/// Starts `redis check … --interval` in the background and returns once it has taken its
/// first sample (one INFO), so what the test does next falls inside the window.
fn spawn_interval_check(server: &RedisServer, url: &str, args: &[&str]) -> Child {
    let mut calls = InfoCalls::start(server);
    let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("pgcache-tune"));
    cmd.args(["redis", "check", url])
        .args(args)
        .env_remove("REDISCLI_AUTH")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(pw) = password(server) {
        cmd.env("REDISCLI_AUTH", pw);
    }
    let child = cmd.spawn().expect("runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    while calls.others(server) < 1 {
        assert!(Instant::now() < deadline, "the check took no first sample");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn finish(child: Child) -> Run {
    let out = child.wait_with_output().expect("finishes");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn known_ratio_over_an_interval_and_since_a_snapshot() {
    let Some(server) = RedisServer::start(RedisOptions {
        password: Some(PASSWORD.into()),
        tcp: true,
        extra: "maxmemory 64mb\nmaxmemory-policy allkeys-lru".into(),
    }) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = server.tcp_url();
    // Lifetime traffic at another ratio (50%), so only a real window gives 75%.
    load_keys(&server, 50);
    lookups(&server, 50, 200, 200);

    let child = spawn_interval_check(
        &server,
        &url,
        &["--interval", "5s", "--critical", "80", "--format", "json"],
    );
    lookups(&server, 50, 300, 100);
    let r = finish(child);
    assert_eq!(r.code, 2, "{r:?}");
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["status"], "CRITICAL");
    assert_eq!(doc["window"]["kind"], "interval");
    let w = doc["window"]["seconds"].as_f64().unwrap();
    assert!((4.5..30.0).contains(&w), "window {w}s: {r:?}");
    assert_eq!(item(&doc)["scope"], "keyspace");
    assert_eq!(item(&doc)["hits"], 300);
    assert_eq!(item(&doc)["reads"], 100);
    assert_eq!(item(&doc)["hit_ratio"], 0.75);

    // The same workload between a snapshot and a later check.
    let snap = dir.path().join("before.json");
    let s = snap.to_str().unwrap();
    let r = run(
        &server,
        &["redis", "snapshot", &url, "--output", s],
        dir.path(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(r.stderr.contains("saved") && r.stderr.contains(s), "{r:?}");
    assert!(!std::fs::read_to_string(&snap).unwrap().contains(PASSWORD));
    lookups(&server, 50, 300, 100);
    let (code, doc) = check_json(
        &server,
        &url,
        &["--since", s, "--critical", "70"],
        dir.path(),
    );
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["window"]["kind"], "since");
    assert_eq!(item(&doc)["hit_ratio"], 0.75);
    assert_eq!(
        (item(&doc)["hits"].as_i64(), item(&doc)["reads"].as_i64()),
        (Some(300), Some(100))
    );
    // The human form says what was counted, and the lifetime ratio is another one.
    let r = run(
        &server,
        &["redis", "check", &url, "--since", s, "--critical", "80"],
        dir.path(),
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout
            .contains("hit ratio 75.00% (hits 300, misses 100), critical 80%"),
        "{r:?}"
    );
    assert!(r.stdout.contains("window of "), "{r:?}");
    let (_, lifetime) = check_json(&server, &url, &["--critical", "80"], dir.path());
    assert_eq!(lifetime["window"]["kind"], "lifetime");
    assert_eq!(item(&lifetime)["hits"], 800);
    assert_eq!(item(&lifetime)["reads"], 400);
}

#[test]
fn config_resetstat_in_the_window_is_unknown_naming_the_counter() {
    let Some(server) = RedisServer::start(RedisOptions::default()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = server.unix_url();
    load_keys(&server, 20);
    lookups(&server, 20, 600, 200);
    let snap = dir.path().join("s.json");
    let s = snap.to_str().unwrap();
    let r = run(&server, &["redis", "snapshot", &url, "-o", s], dir.path());
    assert_eq!(r.code, 0, "{r:?}");
    // `-o -` writes the same document to stdout.
    let r = run(&server, &["redis", "snapshot", &url, "-o", "-"], dir.path());
    assert_eq!(r.code, 0, "{r:?}");
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["format"], 1);
    assert_eq!(doc["redis"]["counters"]["keyspace_hits"], 600);
    assert_eq!(doc["redis"]["counters"]["keyspace_misses"], 200);
    // RESETSTAT keeps run_id and uptime: only the counters going down show it.
    assert_eq!(server.cli(&["CONFIG", "RESETSTAT"]).trim(), "OK");
    lookups(&server, 20, 300, 100);
    let (code, doc) = check_json(
        &server,
        &url,
        &["--since", s, "--critical", "50"],
        dir.path(),
    );
    assert_eq!(code, 3, "{doc}");
    assert_eq!(doc["reason_detail"]["kind"], "counter_decreased", "{doc}");
    assert_eq!(doc["reason_detail"]["counter"], "keyspace_hits");
    assert_eq!(doc["reason_detail"]["before"], 600);
    assert_eq!(doc["reason_detail"]["after"], 300);
    assert!(doc["items"].as_array().unwrap().is_empty());
    let r = run(
        &server,
        &[
            "redis",
            "check",
            &url,
            "--since",
            s,
            "--critical",
            "50",
            "--format",
            "nagios",
        ],
        dir.path(),
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout
            .starts_with("PGCACHE_TUNE UNKNOWN - counter keyspace_hits went down from 600 to 300"),
        "{r:?}"
    );
    assert!(r.stdout.contains("CONFIG RESETSTAT"), "{r:?}");

    // The same inside an --interval: hits stay above their old value, misses do not.
    lookups(&server, 20, 100, 0);
    let child = spawn_interval_check(
        &server,
        &url,
        &["--interval", "5s", "--critical", "50", "--format", "json"],
    );
    assert_eq!(server.cli(&["CONFIG", "RESETSTAT"]).trim(), "OK");
    lookups(&server, 20, 500, 0);
    let r = finish(child);
    assert_eq!(r.code, 3, "{r:?}");
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["reason_detail"]["counter"], "keyspace_misses", "{doc}");
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("went down from 100 to 0"),
        "{doc}"
    );
}

#[test]
fn a_restart_is_unknown() {
    let Some(server) = RedisServer::start(RedisOptions::default()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("s.json");
    let s = snap.to_str().unwrap();
    let url = server.unix_url();
    load_keys(&server, 10);
    lookups(&server, 10, 30, 10);
    let r = run(&server, &["redis", "snapshot", &url, "-o", s], dir.path());
    assert_eq!(r.code, 0, "{r:?}");
    let old: Value = serde_json::from_str(&std::fs::read_to_string(&snap).unwrap()).unwrap();
    // The same server restarted (same config, socket and URL): a new run_id, counters and
    // uptime from zero, and more lookups than before, so only the restart shows.
    let server = server.restart().expect("restarts");
    load_keys(&server, 10);
    lookups(&server, 10, 300, 100);
    let (code, doc) = check_json(
        &server,
        &url,
        &["--since", s, "--critical", "50"],
        dir.path(),
    );
    assert_eq!(code, 3, "{doc}");
    assert_eq!(doc["reason_detail"]["kind"], "run_id_changed", "{doc}");
    assert_eq!(doc["reason_detail"]["before"], old["redis"]["run_id"]);
    assert_ne!(doc["reason_detail"]["after"], old["redis"]["run_id"]);
    assert!(
        doc["reason"].as_str().unwrap().contains("restarted"),
        "{doc}"
    );
}

#[test]
fn thresholds_give_the_nagios_exit_codes_in_every_format() {
    let Some(server) = RedisServer::start(RedisOptions::default()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = server.unix_url();
    load_keys(&server, 30);
    lookups(&server, 30, 300, 100);
    for (args, code, status) in [
        (&["--warning", "70", "--critical", "60"][..], 0, "OK"),
        (&["--warning", "80", "--critical", "70"][..], 1, "WARNING"),
        (&["--warning", "90", "--critical", "80"][..], 2, "CRITICAL"),
        (&["--critical", "75"][..], 0, "OK"),
        (&["--critical", "75.01%"][..], 2, "CRITICAL"),
    ] {
        let (got, doc) = check_json(&server, &url, args, dir.path());
        assert_eq!(
            (got, doc["status"].as_str()),
            (code, Some(status)),
            "{args:?}: {doc}"
        );
        let base = [&["redis", "check", &url][..], args].concat();
        let r = run(
            &server,
            &[&base[..], &["--format", "nagios"]].concat(),
            dir.path(),
        );
        assert_eq!(r.code, code, "{r:?}");
        assert!(
            r.stdout.starts_with(&format!("PGCACHE_TUNE {status} - ")),
            "{r:?}"
        );
        assert!(r.stdout.contains("=75.0000%;"), "{r:?}");
        let r = run(
            &server,
            &[&base[..], &["--format", "junit"]].concat(),
            dir.path(),
        );
        assert_eq!(r.code, code, "{r:?}");
        support::junit_schema_errors(&r.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", r.stdout));
        assert_eq!(r.stdout.contains("<failure "), code != 0, "{r:?}");
        let r = run(&server, &base, dir.path());
        assert_eq!(r.code, code, "{r:?}");
        assert!(
            r.stdout.lines().last().unwrap().starts_with(status),
            "{r:?}"
        );
        // The metrics formats: the same state and ratio, valid for both consumers.
        let r = run(
            &server,
            &[&base[..], &["--format", "prometheus"]].concat(),
            dir.path(),
        );
        assert_eq!(r.code, code, "{r:?}");
        metrics_support::promtool_accepts(&r.stdout);
        assert!(
            r.stdout
                .contains(&format!("\npgcache_tune_check_status {code}\n")),
            "{r:?}"
        );
        let r = run(
            &server,
            &[&base[..], &["--format", "openmetrics"]].concat(),
            dir.path(),
        );
        assert_eq!(r.code, code, "{r:?}");
        if let Some(samples) = metrics_support::openmetrics_samples(&r.stdout) {
            let ratio = samples
                .iter()
                .find(|(name, labels, _)| {
                    name == "pgcache_tune_check_hit_ratio"
                        && labels.get("scope").map(String::as_str) == Some("keyspace")
                })
                .map(|s| s.2);
            assert_eq!(ratio, Some(0.75), "{}", r.stdout);
        }
    }
}

#[test]
fn the_lookups_floor_and_the_config_file() {
    let Some(server) = RedisServer::start(RedisOptions::default()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = server.unix_url();
    load_keys(&server, 10);
    lookups(&server, 10, 30, 10);
    // 40 lookups: under the default floor of 100.
    let (code, doc) = check_json(&server, &url, &["--critical", "90"], dir.path());
    assert_eq!(code, 3, "{doc}");
    assert_eq!(doc["reason_detail"]["kind"], "insufficient");
    assert_eq!(doc["reason_detail"]["most"], 40);
    assert!(
        doc["reason"].as_str().unwrap().contains("100 lookups"),
        "{doc}"
    );
    for (state, code) in [("critical", 2), ("ok", 0), ("unknown", 3)] {
        let (got, _) = check_json(
            &server,
            &url,
            &["--critical", "90", "--on-insufficient", state],
            dir.path(),
        );
        assert_eq!(got, code, "{state}");
    }
    // Over a lower floor the 75% is judged.
    let (code, doc) = check_json(
        &server,
        &url,
        &["--critical", "90", "--min-lookups", "40"],
        dir.path(),
    );
    assert_eq!(
        (code, item(&doc)["hit_ratio"].as_f64()),
        (2, Some(0.75)),
        "{doc}"
    );

    // The [redis] table of ./pgcache-tune.toml; PostgreSQL's keys are not Redis's.
    std::fs::write(
        dir.path().join("pgcache-tune.toml"),
        "critical = 99\n\n[redis]\nwarning = 80\ncritical = 70\nmin_lookups = 10\n",
    )
    .unwrap();
    let (code, doc) = check_json(&server, &url, &[], dir.path());
    assert_eq!(
        (code, doc["status"].as_str()),
        (1, Some("WARNING")),
        "{doc}"
    );
    assert_eq!(item(&doc)["thresholds"]["critical"], 70.0);
    // Flags win over the file.
    let (code, _) = check_json(&server, &url, &["--warning", "74"], dir.path());
    assert_eq!(code, 0);
    // A flag below the file's critical is the same clash as two flags.
    let r = run(
        &server,
        &["redis", "check", &url, "--warning", "60"],
        dir.path(),
    );
    assert_eq!(r.code, 64, "{r:?}");
    assert!(
        r.stderr
            .contains("--warning 60 is below redis.critical = 70 in "),
        "{r:?}"
    );
    let (code, _) = check_json(&server, &url, &["--min-lookups", "1000"], dir.path());
    assert_eq!(code, 3);
    std::fs::write(
        dir.path().join("pgcache-tune.toml"),
        "[redis]\ncritcal = 70\n",
    )
    .unwrap();
    let r = run(&server, &["redis", "check", &url], dir.path());
    assert_eq!(r.code, 64, "{r:?}");
    assert!(
        r.stderr.contains("pgcache-tune.toml:2") && r.stderr.contains("critcal"),
        "{r:?}"
    );
    assert!(r.stdout.is_empty(), "{r:?}");
}

#[test]
fn a_server_with_config_renamed_away_is_checked_from_info() {
    let Some(server) = RedisServer::start(RedisOptions {
        password: Some(PASSWORD.into()),
        tcp: true,
        extra: "rename-command CONFIG \"\"\nrename-command ACL \"\"".into(),
    }) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    assert!(
        server
            .cli(&["CONFIG", "GET", "maxmemory"])
            .contains("unknown command")
    );
    let url = server.tcp_url();
    load_keys(&server, 10);
    lookups(&server, 10, 300, 100);
    let (code, doc) = check_json(&server, &url, &["--critical", "80"], dir.path());
    assert_eq!(code, 2, "{doc}");
    assert_eq!(item(&doc)["hit_ratio"], 0.75);
    // Without the password: cannot connect → UNKNOWN, one line, no password anywhere.
    let out = bin()
        .current_dir(dir.path())
        .args([
            "redis",
            "check",
            &url,
            "--critical",
            "80",
            "--format",
            "nagios",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("PGCACHE_TUNE UNKNOWN - "), "{stdout}");
    assert!(stdout.contains("password"), "{stdout}");
}
