//! `redis recommend` against a real redis-server (tests/support/redis.rs): the snippet, with
//! the password placeholder replaced, starts a server that reads back every directive through
//! `CONFIG GET`; left as is, the placeholder makes redis-server refuse to start, and the
//! snippet alone (without the harness's own lines) starts once it is replaced.

#[path = "support/redis.rs"]
mod redis_support;
mod support;

use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use redis_support::{RedisOptions, RedisServer};

/// `redis recommend` with these flags, which must succeed.
fn snippet(args: &[&str]) -> String {
    let out = Command::cargo_bin("pgcache-tune")
        .expect("binary")
        .args(["redis", "recommend"])
        .args(args)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The snippet's directives as (name, value), in order.
fn directives(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("a directive is NAME VALUE");
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// A value as CONFIG GET reports it: sizes with Redis's 1024-based units in bytes, a quoted
/// empty string as empty.
fn as_config_get(value: &str) -> String {
    if value == "\"\"" {
        return String::new();
    }
    for (unit, factor) in [("gb", 1u64 << 30), ("mb", 1 << 20), ("kb", 1 << 10)] {
        if let Some(n) = value.strip_suffix(unit).and_then(|n| n.parse::<u64>().ok()) {
            return (n * factor).to_string();
        }
    }
    value.to_string()
}

fn reads_back_every_value(args: &[&str], must_have: &[&str]) {
    let text = snippet(args);
    let password = "recommend-live-pw-0123456789";
    let replaced: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("requirepass ") {
                format!("requirepass {password}")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert_ne!(
        replaced.join("\n"),
        text.trim_end(),
        "a placeholder to replace"
    );
    let Some(server) = RedisServer::start(RedisOptions {
        password: Some(password.into()),
        tcp: true,
        extra: replaced.join("\n"),
    }) else {
        return;
    };
    let wanted = directives(&replaced.join("\n"));
    let names: Vec<&str> = wanted.iter().map(|(k, _)| k.as_str()).collect();
    for name in must_have {
        assert!(names.contains(name), "{name} missing from:\n{text}");
    }
    for (name, value) in &wanted {
        let got = server.cli(&["CONFIG", "GET", name]);
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(
            lines.first(),
            Some(&name.as_str()),
            "CONFIG GET {name}: {got:?}"
        );
        assert_eq!(
            lines.get(1).copied().unwrap_or(""),
            as_config_get(value),
            "{name} as read back (snippet value {value})"
        );
    }
    // The password is in force: without it the server refuses commands.
    let out = StdCommand::new("redis-cli")
        .arg("-s")
        .arg(server.socket())
        .arg("GET")
        .arg("k")
        .env_remove("REDISCLI_AUTH")
        .output()
        .expect("redis-cli runs");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("NOAUTH"),
        "{out:?}"
    );
}

#[test]
fn the_snippet_starts_a_server_that_reads_back_every_value() {
    reads_back_every_value(
        &["--ram", "256MB", "--cpus", "4"],
        &[
            "maxmemory",
            "maxmemory-policy",
            "maxmemory-samples",
            "save",
            "appendonly",
            "bind",
            "protected-mode",
            "requirepass",
            "io-threads",
        ],
    );
}

#[test]
fn the_lfu_snippet_beside_postgres_reads_back_too() {
    reads_back_every_value(
        &[
            "--ram",
            "1GB",
            "--cpus",
            "2",
            "--policy",
            "lfu",
            "--with-postgres",
        ],
        &["maxmemory", "maxmemory-policy"],
    );
}

#[test]
fn the_unreplaced_placeholder_is_refused_and_the_replaced_snippet_alone_starts() {
    // A server from the harness first: it skips (or fails under CI) without redis-server.
    let Some(_available) = RedisServer::start(RedisOptions::default()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let text = snippet(&["--ram", "256MB", "--cpus", "1"]);
    let conf = format!(
        "port 0\nunixsocket {}\ndir {}\ndaemonize no\n{text}",
        dir.path().join("redis.sock").display(),
        dir.path().display()
    );
    let path = dir.path().join("redis.conf");
    std::fs::write(&path, conf).expect("write conf");
    let mut child = StdCommand::new(redis_support::binary())
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-server runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("redis-server started with the placeholder password");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!status.success(), "{status}: {said}");
    assert!(said.contains("FATAL CONFIG FILE ERROR"), "{said}");
    assert!(
        said.contains("'requirepass <REPLACE"),
        "refused for the placeholder: {said}"
    );

    // The same file with only the password replaced starts, and with no harness lines in
    // front, the persistence and bind settings read back are the snippet's own.
    let password = "own-config-pw-0123456789";
    let fixed: String = std::fs::read_to_string(&path)
        .expect("read conf")
        .lines()
        .map(|l| {
            if l.starts_with("requirepass ") {
                format!("requirepass {password}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&path, fixed).expect("write conf");
    let mut child = StdCommand::new(redis_support::binary())
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server runs");
    let socket = dir.path().join("redis.sock");
    let get = |name: &str| {
        let out = StdCommand::new("redis-cli")
            .arg("-s")
            .arg(&socket)
            .env("REDISCLI_AUTH", password)
            .args(["CONFIG", "GET", name])
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(socket.exists() && get("appendonly").starts_with("appendonly")) {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("redis-server exited with {status} on the replaced snippet");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no answer from redis-server on the replaced snippet");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let results = [get("save"), get("appendonly"), get("bind")];
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(results[0], "save\n\n");
    assert_eq!(results[1], "appendonly\nno\n");
    assert_eq!(results[2], "bind\n127.0.0.1 -::1\n");
}
