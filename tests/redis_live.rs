//! `redis report` against real throwaway redis-server instances (tests/support/redis.rs):
//! a workload with a known hit ratio, eviction policies that cannot evict under memory
//! pressure, an exposed instance without password, and a managed-service stand-in with
//! CONFIG renamed away.

#[path = "support/redis.rs"]
mod redis_support;
mod support;

use assert_cmd::Command;
use redis_support::{RedisOptions, RedisServer};
use serde_json::Value;

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("pgcache-tune").expect("binary");
    cmd.env_remove("REDISCLI_AUTH");
    cmd
}

/// `redis report URL --format json` (plus flags), which must succeed.
fn report_json(url: &str, extra: &[&str], password: Option<&str>) -> Value {
    let mut cmd = bin();
    cmd.args(["redis", "report", url, "--format", "json"])
        .args(extra);
    if let Some(pw) = password {
        cmd.env("REDISCLI_AUTH", pw);
    }
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn codes(v: &Value, list: &str) -> Vec<String> {
    v[list]
        .as_array()
        .expect("array")
        .iter()
        .map(|f| {
            f.get("code")
                .or_else(|| f.get("check"))
                .and_then(Value::as_str)
                .expect("code")
                .to_string()
        })
        .collect()
}

#[test]
fn known_hit_ratio_over_tcp_with_password_and_keys_with_and_without_ttl() {
    let Some(server) = RedisServer::start(RedisOptions {
        password: Some("s3cret-pw".into()),
        tcp: true,
        extra: "maxmemory 64mb\nmaxmemory-policy allkeys-lru".into(),
    }) else {
        return;
    };
    // 20 keys (5 with a TTL), then 60 hits and 20 misses: 75%.
    let mut cmds = String::new();
    for i in 0..20 {
        if i < 5 {
            cmds.push_str(&format!("SET k{i} v EX 3600\n"));
        } else {
            cmds.push_str(&format!("SET k{i} v\n"));
        }
    }
    for i in 0..60 {
        cmds.push_str(&format!("GET k{}\n", i % 20));
    }
    for i in 0..20 {
        cmds.push_str(&format!("GET missing{i}\n"));
    }
    server.pipe(&cmds);
    let url = server.tcp_url().replace("redis://", "redis://:s3cret-pw@");
    let v = report_json(&url, &[], None);
    assert_eq!(v["cache"]["hits"], 60);
    assert_eq!(v["cache"]["misses"], 20);
    assert_eq!(v["cache"]["hit_ratio"], 0.75);
    assert_eq!(v["server"]["flavour"], "redis");
    assert_eq!(v["memory"]["policy"], "allkeys-lru");
    assert_eq!(v["memory"]["maxmemory_bytes"], 64 * 1024 * 1024);
    assert_eq!(v["keyspace"][0]["keys"], 20);
    assert_eq!(v["keyspace"][0]["with_ttl"], 5);
    assert_eq!(v["keyspace"][0]["without_ttl"], 15);
    // The password was sent, so the default user's flags decide: it has one.
    assert!(!codes(&v, "findings").contains(&"no_password".to_string()));
    assert!(codes(&v, "unknown").is_empty(), "{v}");
    let text = v.to_string();
    assert!(!text.contains("s3cret-pw"), "password leaked: {text}");

    // The same through the socket with the password from a file, and in a table.
    let pwfile = server.dir().join("pw");
    std::fs::write(&pwfile, "s3cret-pw\n").unwrap();
    let out = bin()
        .args(["redis", "report", &server.unix_url(), "--password-file"])
        .arg(&pwfile)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("keyspace hit ratio"), "{table}");
    assert!(table.contains("75.00%"), "{table}");
}

#[test]
fn wrong_or_missing_password_is_a_server_error_that_hides_it() {
    let Some(server) = RedisServer::start(RedisOptions {
        password: Some("right-pw".into()),
        tcp: true,
        extra: String::new(),
    }) else {
        return;
    };
    let url = server.tcp_url().replace("redis://", "redis://:wrong-pw@");
    let out = bin().args(["redis", "report", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("wrong-pw"), "{err}");
    assert!(
        err.starts_with("error: ") && err.lines().count() == 1,
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let out = bin()
        .args(["redis", "report", &server.tcp_url()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wants a password"));
}

/// Fills the cache with TTL-less 1 KB values until (well past) maxmemory.
fn fill_without_ttl(server: &RedisServer) -> String {
    let value = "x".repeat(1024);
    let cmds: String = (0..4000)
        .map(|i| format!("SET fill{i} {value}\n"))
        .collect();
    server.pipe(&cmds)
}

#[test]
fn volatile_lru_with_ttl_less_keys_cannot_evict_and_shows_the_oom() {
    let Some(server) = RedisServer::start(RedisOptions {
        password: Some("pw".into()),
        tcp: false,
        extra: "maxmemory 2mb\nmaxmemory-policy volatile-lru".into(),
    }) else {
        return;
    };
    let replies = fill_without_ttl(&server);
    assert!(replies.contains("OOM"), "the fill must hit maxmemory");
    let v = report_json(&server.unix_url(), &[], Some("pw"));
    assert_eq!(v["cache"]["evicted_keys"], 0);
    let oom = v["cache"]["oom_errors"].as_u64().expect("OOM count");
    assert!(oom > 0, "{v}");
    assert!(v["keyspace"][0]["without_ttl"].as_u64().unwrap() > 0);
    let f = &v["findings"][0];
    assert_eq!(f["code"], "cannot_evict_volatile_without_ttl", "{v}");
    assert_eq!(f["severity"], "critical");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains(&format!("refused {oom} writes with OOM"))
    );
}

#[test]
fn noeviction_under_maxmemory_is_critical() {
    let Some(server) = RedisServer::start(RedisOptions {
        password: Some("pw".into()),
        tcp: false,
        extra: "maxmemory 2mb\nmaxmemory-policy noeviction".into(),
    }) else {
        return;
    };
    fill_without_ttl(&server);
    let v = report_json(&server.unix_url(), &[], Some("pw"));
    assert_eq!(v["findings"][0]["code"], "cannot_evict_noeviction", "{v}");
    assert!(v["cache"]["oom_errors"].as_u64().unwrap() > 0);
    assert!(v["memory"]["utilization"].as_f64().unwrap() > 0.9, "{v}");

    // allkeys-lru on the same fill evicts instead.
    let Some(server) = RedisServer::start(RedisOptions {
        password: Some("pw".into()),
        tcp: false,
        extra: "maxmemory 2mb\nmaxmemory-policy allkeys-lru".into(),
    }) else {
        return;
    };
    fill_without_ttl(&server);
    let v = report_json(&server.unix_url(), &[], Some("pw"));
    assert!(v["cache"]["evicted_keys"].as_u64().unwrap() > 0, "{v}");
    assert!(
        !codes(&v, "findings")
            .iter()
            .any(|c| c.starts_with("cannot_evict")),
        "{v}"
    );
}

#[test]
fn no_password_on_all_interfaces_without_protected_mode_raises_security_findings() {
    // `port 0`: the config says all interfaces, but nothing listens on TCP, so the test
    // exposes nothing while the server reports what it would do.
    let Some(server) = RedisServer::start(RedisOptions {
        password: None,
        tcp: false,
        extra: "bind 0.0.0.0\nprotected-mode no\nmaxmemory 16mb\nmaxmemory-policy allkeys-lru\nsave 3600 1".into(),
    }) else {
        return;
    };
    let v = report_json(&server.unix_url(), &[], None);
    let codes = codes(&v, "findings");
    for want in [
        "no_password",
        "exposed_without_protected_mode",
        "dangerous_commands",
        "persistence_rdb_snapshots",
    ] {
        assert!(codes.contains(&want.to_string()), "{want} missing: {v}");
    }
    let exposed = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "exposed_without_protected_mode")
        .unwrap();
    assert_eq!(exposed["severity"], "critical");
    assert!(exposed["message"].as_str().unwrap().contains("0.0.0.0"));
}

#[test]
fn renamed_config_gives_unknowns_not_passes() {
    let Some(server) = RedisServer::start(RedisOptions {
        password: Some("pw".into()),
        tcp: false,
        extra: "rename-command CONFIG \"\"\nmaxmemory 16mb\nmaxmemory-policy allkeys-lru\nprotected-mode no\nbind 0.0.0.0".into(),
    }) else {
        return;
    };
    let v = report_json(&server.unix_url(), &[], Some("pw"));
    let unknown = codes(&v, "unknown");
    assert!(
        unknown.contains(&"exposed_without_protected_mode".to_string()),
        "{v}"
    );
    assert!(
        unknown.contains(&"persistence_rdb_snapshots".to_string()),
        "{v}"
    );
    for u in v["unknown"].as_array().unwrap() {
        assert!(
            u["reason"]
                .as_str()
                .unwrap()
                .starts_with("unknown: command unavailable"),
            "{u}"
        );
    }
    // INFO still gives the policy; the CONFIG-based checks neither pass nor fire.
    assert_eq!(v["memory"]["policy"], "allkeys-lru");
    assert!(!codes(&v, "findings").contains(&"exposed_without_protected_mode".to_string()));
    // The table says so too.
    let out = bin()
        .args(["redis", "report", &server.unix_url()])
        .env("REDISCLI_AUTH", "pw")
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("Not checked (unknown, not passed)"),
        "{table}"
    );
    assert!(table.contains("unknown: command unavailable"), "{table}");

    // Renamed rather than removed: --config-command finds it and the check runs.
    let Some(server) = RedisServer::start(RedisOptions {
        password: Some("pw".into()),
        tcp: false,
        extra: "rename-command CONFIG \"SECRETCONFIG\"\nprotected-mode no\nbind 0.0.0.0".into(),
    }) else {
        return;
    };
    let v = report_json(
        &server.unix_url(),
        &["--config-command", "SECRETCONFIG"],
        Some("pw"),
    );
    assert!(codes(&v, "unknown").is_empty(), "{v}");
    assert!(codes(&v, "findings").contains(&"exposed_without_protected_mode".to_string()));
}

/// A CA and a `localhost` server certificate signed by it (PEM: CA, cert, key).
fn make_pki() -> (String, String, String) {
    let pki = support::pki::make_pki();
    (pki.ca_pem, pki.server_cert_pem, pki.server_key_pem)
}

#[test]
fn rediss_verifies_the_certificate_against_cacert() {
    let pki = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_pki();
    let path = |name: &str| pki.path().join(name).display().to_string();
    std::fs::write(path("ca.pem"), &ca).unwrap();
    std::fs::write(path("server.pem"), &cert).unwrap();
    std::fs::write(path("server.key"), &key).unwrap();
    let tls_port = redis_support::free_port();
    let Some(_server) = RedisServer::start(RedisOptions {
        password: Some("pw".into()),
        tcp: false,
        extra: format!(
            "tls-port {tls_port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
             tls-auth-clients no",
            path("server.pem"),
            path("server.key"),
            path("ca.pem")
        ),
    }) else {
        return;
    };
    let url = format!("rediss://:pw@localhost:{tls_port}");
    let v = report_json(&url, &["--cacert", &path("ca.pem")], None);
    assert_eq!(v["target"], format!("rediss://localhost:{tls_port}"));
    assert_eq!(v["server"]["role"], "master");
    // Without the CA the certificate is not trusted: a server error, not a silent downgrade.
    let out = bin().args(["redis", "report", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains(":pw@"), "{err}");
    assert!(out.stdout.is_empty());
}

/// `report --redis URL`: the PostgreSQL report (here from a statistics capture) and the Redis
/// cache in front of it in one document, both layers in the table and Markdown; a Redis that
/// cannot be reached fails the whole report before anything is printed.
#[test]
fn postgres_report_takes_the_redis_layers_beside_it() {
    let Some(server) = RedisServer::start(RedisOptions {
        password: Some("layer-pw".into()),
        tcp: true,
        extra: "maxmemory 32mb\nmaxmemory-policy allkeys-lru".into(),
    }) else {
        return;
    };
    // 3 hits, 1 miss: 75%.
    server.pipe("SET a 1\nGET a\nGET a\nGET a\nGET nothing\n");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/stats/pg15.json");
    let url = server.tcp_url().replace("redis://", "redis://:layer-pw@");
    let run = |extra: &[&str]| {
        bin()
            .args(["report", "--stats-from", fixture, "--redis", &url])
            .args(extra)
            .output()
            .expect("runs")
    };

    let out = run(&["--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert!(
        v["databases"].as_array().is_some_and(|d| !d.is_empty()),
        "{v}"
    );
    let layers = v["redis"].as_array().expect("redis[]");
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["cache"]["hits"], 3);
    assert_eq!(layers[0]["cache"]["misses"], 1);
    assert_eq!(layers[0]["cache"]["hit_ratio"], 0.75);
    assert_eq!(layers[0]["memory"]["policy"], "allkeys-lru");

    for (format, postgres, redis) in [
        ("table", "PostgreSQL", "pgcache-tune redis report"),
        (
            "markdown",
            "## pgcache-tune report",
            "## pgcache-tune redis report",
        ),
    ] {
        let out = run(&["--format", format]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (p, r) = (text.find(postgres), text.find(redis));
        assert!(p.is_some() && r.is_some() && p < r, "{format}: {text}");
        assert!(text.contains("75.00%"), "{format}: {text}");
        assert!(
            !text.contains("layer-pw"),
            "{format}: password shown: {text}"
        );
    }
    // Without a --redis, the JSON has no redis key at all (unchanged for existing readers).
    let plain = bin()
        .args(["report", "--stats-from", fixture, "--format", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert!(v.get("redis").is_none());

    // A wrong password: exit 69, one line, nothing on stdout, the password not echoed.
    let bad = server.tcp_url().replace("redis://", "redis://:wrong-pw@");
    let out = bin()
        .args(["report", "--stats-from", fixture, "--redis", &bad])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("wrong-pw"), "{stderr}");
}
