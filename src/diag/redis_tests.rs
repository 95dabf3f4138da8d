use std::collections::BTreeMap;

use super::*;
use crate::facts::redis::{CommandAccess, Info};

const REDIS_6_2: &str = include_str!("../../fixtures/redis-info/redis-6.2.0.txt");
const REDIS_7_0: &str = include_str!("../../fixtures/redis-info/redis-7.0.15.txt");
const REDIS_7_2: &str = include_str!("../../fixtures/redis-info/redis-7.2.0.txt");
const REDIS_7_4: &str = include_str!("../../fixtures/redis-info/redis-7.4.0.txt");
const VALKEY_8: &str = include_str!("../../fixtures/redis-info/valkey-8.0.0.txt");

fn unavailable<T>(reason: &str) -> Answer<T> {
    Answer::Unavailable {
        reason: reason.to_string(),
    }
}

/// Facts with a password set, CONFIG answering `config`, and ACL answering.
fn facts(info: &str, config: &[(&str, &str)]) -> RedisFacts {
    RedisFacts {
        target: "redis://127.0.0.1:6379".into(),
        info: Info::parse(info),
        config_command: "CONFIG".into(),
        config: Answer::Known {
            value: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        },
        authenticated: true,
        acl_user: Answer::Known {
            value: "app".into(),
        },
        default_user_flags: Answer::Known {
            value: vec!["on".into()],
        },
        dangerous: Answer::Known { value: Vec::new() },
        dbsize: Answer::Known { value: 0 },
    }
}

const SAFE_CONFIG: &[(&str, &str)] = &[
    ("save", ""),
    ("protected-mode", "yes"),
    ("bind", "127.0.0.1 -::1"),
    ("stop-writes-on-bgsave-error", "yes"),
];

fn codes(r: &RedisReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}

/// `text` with `field`'s value replaced (the field must exist).
fn with(text: &str, field: &str, value: &str) -> String {
    let prefix = format!("{field}:");
    assert!(text.lines().any(|l| l.starts_with(&prefix)), "{field}");
    text.lines()
        .map(|l| {
            if l.starts_with(&prefix) {
                format!("{prefix}{value}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[test]
fn flavour_and_version_per_fixture() {
    let cases = [
        (REDIS_6_2, Flavour::Redis, "6.2.0"),
        (REDIS_7_0, Flavour::Redis, "7.0.15"),
        (REDIS_7_2, Flavour::Redis, "7.2.0"),
        (REDIS_7_4, Flavour::Redis, "7.4.0"),
        // redis_version says 7.2.4; valkey_version wins.
        (VALKEY_8, Flavour::Valkey, "8.0.0"),
    ];
    for (text, flavour, version) in cases {
        let r = diagnose(&facts(text, SAFE_CONFIG));
        assert_eq!(r.server.flavour, flavour, "{version}");
        assert_eq!(r.server.version.as_deref(), Some(version));
        assert_eq!(r.server.mode.as_deref(), Some("standalone"), "{version}");
        assert_eq!(r.server.role.as_deref(), Some("master"));
        assert_eq!(r.cache.hits, Some(50));
        assert_eq!(r.cache.hit_ratio, Some(0.5), "{version}");
        assert_eq!(r.memory.maxmemory_bytes, Some(64 * 1024 * 1024));
        assert_eq!(r.memory.policy.as_deref(), Some("allkeys-lru"));
        assert_eq!(r.keyspace.len(), 1, "{version}");
        assert_eq!((r.keyspace[0].keys, r.keyspace[0].with_ttl), (50, 50));
        // The 1 MB datasets' fragmentation ratio (7.29) is noise: not reported.
        assert_eq!(r.memory.fragmentation_ratio, None);
        assert!(r.findings.is_empty(), "{version}: {:?}", r.findings);
        assert!(r.unknown.is_empty());
    }
}

#[test]
fn version_dependent_fields() {
    let info = Info::parse(REDIS_7_4);
    assert_eq!(
        info.keyspace()[0].keys,
        50,
        "subexpiry= does not break the line"
    );
    assert!(info.get("evicted_scripts").is_some());
    assert!(Info::parse(REDIS_6_2).get("evicted_clients").is_none());
    assert!(Info::parse(REDIS_7_0).get("evicted_clients").is_some());
    let valkey = Info::parse(VALKEY_8);
    assert_eq!(valkey.get("redis_version"), Some("7.2.4"));
    assert_eq!(valkey.get("redis_mode"), None);
    assert!(valkey.section("server").is_some());
    // 6.2 counts errors per code; the 7.0 capture refused one DEBUG.
    assert_eq!(Info::parse(REDIS_7_0).error_count("ERR"), Some(1));
    assert_eq!(Info::parse(REDIS_7_0).error_count("OOM"), None);
}

#[test]
fn hit_ratio_is_null_without_lookups() {
    let text = with(
        &with(REDIS_7_0, "keyspace_hits", "0"),
        "keyspace_misses",
        "0",
    );
    let r = diagnose(&facts(&text, SAFE_CONFIG));
    assert_eq!(r.cache.hit_ratio, None);
    let text = with(
        &with(REDIS_7_0, "keyspace_hits", "900"),
        "keyspace_misses",
        "100",
    );
    let r = diagnose(&facts(&text, SAFE_CONFIG));
    assert_eq!(r.cache.hit_ratio, Some(0.9));
}

#[test]
fn utilization_discounts_memory_not_counted_for_eviction() {
    let text = with(
        &with(
            &with(REDIS_7_0, "used_memory", "1000"),
            "mem_not_counted_for_evict",
            "200",
        ),
        "maxmemory",
        "1600",
    );
    let r = diagnose(&facts(&text, SAFE_CONFIG));
    assert_eq!(r.memory.utilization, Some(0.5));
    let text = with(&with(REDIS_7_0, "used_memory", "1500"), "maxmemory", "1600");
    assert!(codes(&diagnose(&facts(&text, SAFE_CONFIG))).contains(&"memory_near_limit"));
}

#[test]
fn cannot_evict_findings() {
    let no_limit = with(REDIS_7_0, "maxmemory", "0");
    assert_eq!(
        codes(&diagnose(&facts(&no_limit, SAFE_CONFIG))),
        ["cannot_evict_no_maxmemory"]
    );
    let noeviction = with(REDIS_7_0, "maxmemory_policy", "noeviction");
    let r = diagnose(&facts(&noeviction, SAFE_CONFIG));
    assert_eq!(codes(&r), ["cannot_evict_noeviction"]);
    assert_eq!(r.findings[0].severity, Severity::Critical);

    // volatile-lru is fine while most keys have a TTL (the fixture: 50 of 50) ...
    let volatile = with(REDIS_7_0, "maxmemory_policy", "volatile-lru");
    assert!(codes(&diagnose(&facts(&volatile, SAFE_CONFIG))).is_empty());
    // ... and cannot evict when most have none; refused writes make it critical.
    let ttl_less = with(&volatile, "db0", "keys=756,expires=0,avg_ttl=0");
    let r = diagnose(&facts(&ttl_less, SAFE_CONFIG));
    assert_eq!(codes(&r), ["cannot_evict_volatile_without_ttl"]);
    assert_eq!(r.findings[0].severity, Severity::Warning);
    assert!(
        r.findings[0]
            .message
            .contains("756 of 756 keys have no TTL")
    );
    let oom = format!("{ttl_less}\r\nerrorstat_OOM:count=3244");
    let oom = oom.replace("# Errorstats", "# Errorstats\r\nerrorstat_OOM:count=3244");
    let r = diagnose(&facts(&oom, SAFE_CONFIG));
    assert_eq!(r.cache.oom_errors, Some(3244));
    assert_eq!(codes(&r), ["cannot_evict_volatile_without_ttl"]);
    assert_eq!(r.findings[0].severity, Severity::Critical);
    assert!(
        r.findings[0]
            .message
            .contains("refused 3244 writes with OOM")
    );
}

#[test]
fn persistence_notes() {
    let aof = with(REDIS_7_0, "aof_enabled", "1");
    let cfg = [
        ("save", "3600 1 300 100"),
        ("protected-mode", "yes"),
        ("bind", "127.0.0.1"),
    ];
    let r = diagnose(&facts(&aof, &cfg));
    assert_eq!(codes(&r), ["persistence_aof", "persistence_rdb_snapshots"]);
    assert!(r.findings.iter().all(|f| f.severity == Severity::Info));
    let failed = with(REDIS_7_0, "rdb_last_bgsave_status", "err");
    assert_eq!(
        codes(&diagnose(&facts(&failed, SAFE_CONFIG))),
        ["bgsave_failure_stops_writes"]
    );
}

#[test]
fn security_findings() {
    let mut f = facts(
        REDIS_7_0,
        &[("save", ""), ("protected-mode", "no"), ("bind", "* -::*")],
    );
    f.authenticated = false;
    f.default_user_flags = Answer::Known {
        value: vec!["on".into(), "nopass".into()],
    };
    f.dangerous = Answer::Known {
        value: vec![
            CommandAccess {
                command: "FLUSHALL".into(),
                allowed: true,
            },
            CommandAccess {
                command: "DEBUG SLEEP".into(),
                allowed: false,
            },
            CommandAccess {
                command: "MODULE LIST".into(),
                allowed: true,
            },
        ],
    };
    // The ACL allows MODULE, but enable-module-command no disables it for everyone.
    if let Answer::Known { value } = &mut f.config {
        value.insert("enable-module-command".into(), "no".into());
    }
    let r = diagnose(&f);
    assert_eq!(
        codes(&r),
        [
            "no_password",
            "exposed_without_protected_mode",
            "dangerous_commands"
        ]
    );
    assert!(r.findings[2].message.contains("app may run FLUSHALL:"));
    assert!(!r.findings[2].message.contains("DEBUG"));
    assert!(!r.findings[2].message.contains("MODULE"));
    assert!(loopback_only("127.0.0.1 -::1"));
    assert!(!loopback_only(""));
    assert!(!loopback_only("127.0.0.1 10.0.0.5"));
}

#[test]
fn refused_config_and_acl_are_unknowns_not_passes() {
    let mut f = facts(REDIS_7_0, &[]);
    f.config = unavailable("CONFIG GET maxmemory: ERR unknown command 'CONFIG'");
    f.default_user_flags = unavailable("ACL GETUSER default: NOPERM");
    f.dangerous = unavailable("ACL DRYRUN: NOPERM");
    let r = diagnose(&f);
    let checks: Vec<&str> = r.unknown.iter().map(|u| u.check.as_str()).collect();
    assert_eq!(
        checks,
        [
            "persistence_rdb_snapshots",
            "no_password",
            "exposed_without_protected_mode",
            "dangerous_commands"
        ]
    );
    assert!(
        r.unknown[0]
            .reason
            .starts_with("unknown: command unavailable (CONFIG GET")
    );
    assert!(r.findings.is_empty());
    // INFO still has maxmemory and the policy.
    assert_eq!(r.memory.policy.as_deref(), Some("allkeys-lru"));
    // Without a password sent, a working connection proves nopass even with ACL refused.
    f.authenticated = false;
    assert!(codes(&diagnose(&f)).contains(&"no_password"));
}

#[test]
fn fragmentation_only_above_the_floor() {
    let big = with(
        &with(
            &with(REDIS_7_0, "used_memory", "104857600"),
            "mem_fragmentation_ratio",
            "1.8",
        ),
        "mem_fragmentation_bytes",
        "83886080",
    );
    let big = with(&big, "maxmemory", "1073741824");
    let r = diagnose(&facts(&big, SAFE_CONFIG));
    assert_eq!(r.memory.fragmentation_ratio, Some(1.8));
    assert_eq!(codes(&r), ["memory_fragmentation"]);
    let small = with(&big, "used_memory", "1048576");
    let r = diagnose(&facts(&small, SAFE_CONFIG));
    assert_eq!(r.memory.fragmentation_ratio, None);
    assert!(r.findings.is_empty());
}
