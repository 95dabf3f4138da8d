//! Diagnosis of a Redis (or Valkey) cache in front of PostgreSQL: a pure function from
//! [`RedisFacts`] to a [`RedisReport`] — flavour and version, keyspace hit ratio, eviction
//! and expiry rates, memory against `maxmemory`, keys with and without a TTL, and findings
//! with stable codes.
//!
//! Three rules shape it. The flavour comes from `valkey_version` first, because Valkey 8
//! pins `redis_version` at 7.2.4. Memory is judged the way eviction judges it: used memory
//! minus `mem_not_counted_for_evict`, against `maxmemory`; fragmentation only above
//! [`FRAG_MIN_USED_BYTES`], where MEMORY DOCTOR starts giving advice (a 1 MB dataset shows
//! ratios like 7.75 that mean nothing). And every check that needs CONFIG or ACL, when the
//! server refused those, lands in [`RedisReport::unknown`] with the reason — never silently
//! among the passes.

use serde::Serialize;

use super::hit_ratio;
use super::report::{Finding, Severity};
use super::text::whole_percent;
use crate::facts::redis::{Answer, DbKeyspace, RedisFacts};
use crate::units::format_bytes_human;

/// Version of the `redis report` JSON document; bump on incompatible change.
pub const REDIS_REPORT_FORMAT: u32 = 1;
/// Below this much used memory, fragmentation ratios are noise (MEMORY DOCTOR's 5 MB floor).
pub const FRAG_MIN_USED_BYTES: u64 = 5 * 1024 * 1024;
/// Fragmentation worth a finding: ratio above this with [`FRAG_MIN_WASTE_BYTES`] wasted
/// (MEMORY DOCTOR's "high total RSS" rule).
pub const FRAG_RATIO_WARNING: f64 = 1.4;
/// Bytes of RSS beyond used memory that make a high ratio matter.
pub const FRAG_MIN_WASTE_BYTES: u64 = 10 * 1024 * 1024;
/// Under a `volatile-*` policy, a share of keys with a TTL below this means most keys
/// cannot be evicted.
pub const VOLATILE_MIN_TTL_SHARE: f64 = 0.5;
/// Used memory above this share of `maxmemory` is close to the eviction (or OOM) point.
pub const MEMORY_NEAR_LIMIT_SHARE: f64 = 0.9;

/// Redis or Valkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// Redis (or a server that reports only `redis_version`).
    Redis,
    /// Valkey (`valkey_version` present).
    Valkey,
}

impl Flavour {
    /// Display name.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::Redis => "Redis",
            Flavour::Valkey => "Valkey",
        }
    }
}

/// Server identity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedisServer {
    /// Redis or Valkey.
    pub flavour: Flavour,
    /// The flavour's own version (`valkey_version` for Valkey).
    pub version: Option<String>,
    /// `master` or `slave`.
    pub role: Option<String>,
    /// `standalone`, `cluster` or `sentinel` (`redis_mode`, or Valkey's `server_mode`).
    pub mode: Option<String>,
    /// Seconds since start.
    pub uptime_seconds: Option<u64>,
    /// Changes at every restart (reset detection).
    pub run_id: Option<String>,
}

/// Cache effectiveness since start or the last `CONFIG RESETSTAT`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedisCache {
    /// `keyspace_hits`.
    pub hits: Option<u64>,
    /// `keyspace_misses`.
    pub misses: Option<u64>,
    /// hits / (hits + misses); null without lookups.
    pub hit_ratio: Option<f64>,
    /// `evicted_keys`.
    pub evicted_keys: Option<u64>,
    /// `expired_keys`.
    pub expired_keys: Option<u64>,
    /// Evictions per second, averaged over [`rates_over_seconds`](Self::rates_over_seconds).
    pub evicted_per_second: Option<f64>,
    /// Expirations per second, averaged the same way.
    pub expired_per_second: Option<f64>,
    /// The seconds the two rates average over: the uptime. INFO keeps no time of the last
    /// `CONFIG RESETSTAT`, which zeroes the counters but not the uptime, so after one the
    /// rates read low; `redis check --interval` style windows are the exact alternative.
    pub rates_over_seconds: Option<u64>,
    /// Writes refused with OOM (`errorstat_OOM`, 6.2+); null when the server does not count.
    pub oom_errors: Option<u64>,
}

/// Memory against the limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedisMemory {
    /// `used_memory`.
    pub used_bytes: Option<u64>,
    /// `mem_not_counted_for_evict` (replication and AOF buffers).
    pub not_counted_bytes: u64,
    /// `maxmemory` (0: no limit).
    pub maxmemory_bytes: Option<u64>,
    /// `maxmemory_policy`.
    pub policy: Option<String>,
    /// (used − not counted) / maxmemory; null without a limit.
    pub utilization: Option<f64>,
    /// `used_memory_rss`.
    pub rss_bytes: Option<u64>,
    /// `mem_fragmentation_ratio`, only above [`FRAG_MIN_USED_BYTES`] used.
    pub fragmentation_ratio: Option<f64>,
}

/// One database's keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedisDb {
    /// Database number.
    pub db: u32,
    /// Keys.
    pub keys: u64,
    /// Keys with a TTL.
    pub with_ttl: u64,
    /// Keys without a TTL.
    pub without_ttl: u64,
    /// Average TTL, milliseconds (sampled by the server).
    pub avg_ttl_ms: Option<u64>,
}

/// A check that could not be made, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unknown {
    /// The finding code the check would raise.
    pub check: String,
    /// Why it could not be made (the refused command and the server's answer).
    pub reason: String,
}

/// The diagnosis of one Redis server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedisReport {
    /// [`REDIS_REPORT_FORMAT`].
    pub format: u32,
    /// The target, without password.
    pub target: String,
    /// Identity.
    pub server: RedisServer,
    /// Hit ratio and key churn.
    pub cache: RedisCache,
    /// Memory.
    pub memory: RedisMemory,
    /// Keys per database.
    pub keyspace: Vec<RedisDb>,
    /// What to act on, most severe first.
    pub findings: Vec<Finding>,
    /// Checks that could not be made: not passes.
    pub unknown: Vec<Unknown>,
}

/// Diagnoses one server's facts.
pub fn diagnose(facts: &RedisFacts) -> RedisReport {
    let info = &facts.info;
    let valkey = info.get("valkey_version");
    let server = RedisServer {
        flavour: if valkey.is_some() {
            Flavour::Valkey
        } else {
            Flavour::Redis
        },
        version: valkey.or(info.get("redis_version")).map(str::to_string),
        role: info.get("role").map(str::to_string),
        mode: info
            .get("redis_mode")
            .or(info.get("server_mode"))
            .map(str::to_string),
        uptime_seconds: info.u64("uptime_in_seconds"),
        run_id: info.get("run_id").map(str::to_string),
    };
    let per_second = |n: Option<u64>| match (n, server.uptime_seconds) {
        (Some(n), Some(up)) if up > 0 => Some(n as f64 / up as f64),
        _ => None,
    };
    let (hits, misses) = (info.u64("keyspace_hits"), info.u64("keyspace_misses"));
    let cache = RedisCache {
        hits,
        misses,
        hit_ratio: match (hits, misses) {
            (Some(h), Some(m)) => hit_ratio(saturate(h), saturate(m)),
            _ => None,
        },
        evicted_keys: info.u64("evicted_keys"),
        expired_keys: info.u64("expired_keys"),
        evicted_per_second: per_second(info.u64("evicted_keys")),
        expired_per_second: per_second(info.u64("expired_keys")),
        rates_over_seconds: server.uptime_seconds,
        oom_errors: info
            .section("errorstats")
            .map(|_| info.error_count("OOM").unwrap_or(0)),
    };
    let used = info.u64("used_memory");
    let not_counted = info.u64("mem_not_counted_for_evict").unwrap_or(0);
    let maxmemory = info
        .u64("maxmemory")
        .or_else(|| config(facts, "maxmemory").and_then(|v| v.parse().ok()));
    let memory = RedisMemory {
        used_bytes: used,
        not_counted_bytes: not_counted,
        maxmemory_bytes: maxmemory,
        policy: info
            .get("maxmemory_policy")
            .map(str::to_string)
            .or_else(|| config(facts, "maxmemory-policy").map(str::to_string)),
        utilization: match (used, maxmemory) {
            (Some(u), Some(m)) if m > 0 => Some(u.saturating_sub(not_counted) as f64 / m as f64),
            _ => None,
        },
        rss_bytes: info.u64("used_memory_rss"),
        fragmentation_ratio: info
            .f64("mem_fragmentation_ratio")
            .filter(|_| used.is_some_and(|u| u > FRAG_MIN_USED_BYTES)),
    };
    let keyspace = info.keyspace().iter().map(db_row).collect();
    let mut report = RedisReport {
        format: REDIS_REPORT_FORMAT,
        target: facts.target.clone(),
        server,
        cache,
        memory,
        keyspace,
        findings: Vec::new(),
        unknown: Vec::new(),
    };
    let mut out = Out::default();
    eviction(&report, &mut out);
    persistence(facts, &mut out);
    security(facts, &mut out);
    fragmentation(facts, &report, &mut out);
    out.findings.sort_by_key(|f| f.severity);
    report.findings = out.findings;
    report.unknown = out.unknown;
    report
}

fn saturate(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn db_row(d: &DbKeyspace) -> RedisDb {
    RedisDb {
        db: d.db,
        keys: d.keys,
        with_ttl: d.expires.min(d.keys),
        without_ttl: d.keys.saturating_sub(d.expires),
        avg_ttl_ms: d.avg_ttl_ms,
    }
}

/// A CONFIG value when CONFIG answered and this version has the parameter.
fn config<'a>(facts: &'a RedisFacts, name: &str) -> Option<&'a str> {
    facts.config.known()?.get(name).map(String::as_str)
}

#[derive(Default)]
struct Out {
    findings: Vec<Finding>,
    unknown: Vec<Unknown>,
}

impl Out {
    fn push(&mut self, severity: Severity, code: &str, message: String) {
        self.findings.push(Finding {
            severity,
            code: code.to_string(),
            message,
        });
    }

    fn unknown(&mut self, check: &str, reason: &str) {
        self.unknown.push(Unknown {
            check: check.to_string(),
            reason: format!("unknown: command unavailable ({reason})"),
        });
    }
}

/// The cache cannot evict: no limit, `noeviction`, or a `volatile-*` policy over keys that
/// mostly have no TTL. Each makes writes fail with OOM (or memory grow unbounded) while
/// `evicted_keys` stays 0. Read from INFO memory, so it works with CONFIG blocked.
fn eviction(r: &RedisReport, out: &mut Out) {
    let policy = r.memory.policy.as_deref().unwrap_or("");
    let oom = r.cache.oom_errors.filter(|&n| n > 0);
    let oom_note = oom
        .map(|n| format!(" The server has refused {n} writes with OOM since start."))
        .unwrap_or_default();
    match r.memory.maxmemory_bytes {
        Some(0) => out.push(
            Severity::Warning,
            "cannot_evict_no_maxmemory",
            "maxmemory is 0 (no limit): the cache never evicts and grows until the host \
             swaps or the kernel kills it, taking RAM from PostgreSQL's page cache; set \
             maxmemory and an allkeys-* policy."
                .to_string(),
        ),
        Some(_) if policy == "noeviction" => out.push(
            Severity::Critical,
            "cannot_evict_noeviction",
            format!(
                "maxmemory-policy is noeviction: at the limit every write fails with OOM \
                 instead of evicting; a cache wants allkeys-lru or allkeys-lfu.{oom_note}"
            ),
        ),
        Some(_) if policy.starts_with("volatile-") => {
            let keys: u64 = r.keyspace.iter().map(|d| d.keys).sum();
            let with_ttl: u64 = r.keyspace.iter().map(|d| d.with_ttl).sum();
            if keys > 0 && (with_ttl as f64) < VOLATILE_MIN_TTL_SHARE * keys as f64 {
                out.push(
                    if oom.is_some() {
                        Severity::Critical
                    } else {
                        Severity::Warning
                    },
                    "cannot_evict_volatile_without_ttl",
                    format!(
                        "maxmemory-policy is {policy} but {} of {keys} keys have no TTL: only \
                         keys with a TTL can be evicted, so at the limit writes fail with OOM \
                         while evicted_keys stays 0; use allkeys-lru, or set a TTL on every \
                         cached key.{oom_note}",
                        keys - with_ttl
                    ),
                );
            }
        }
        _ => {}
    }
    if let Some(u) = r
        .memory
        .utilization
        .filter(|&u| u >= MEMORY_NEAR_LIMIT_SHARE)
    {
        out.push(
            Severity::Info,
            "memory_near_limit",
            format!(
                "used memory is {} of maxmemory: the cache is at its limit, so it evicts (or \
                 refuses writes) continuously.",
                whole_percent(u)
            ),
        );
    }
    if oom.is_some()
        && !out
            .findings
            .iter()
            .any(|f| f.code.starts_with("cannot_evict_"))
    {
        out.push(
            Severity::Critical,
            "oom_rejected_writes",
            format!(
                "the server has refused {} writes with OOM since start: no key was \
                 evictable when memory ran out.",
                oom.unwrap_or(0)
            ),
        );
    }
}

/// Persistence a pure cache pays for: AOF (fsyncs, rewrites) and RDB snapshots (forks and
/// copy-on-write memory). Notes, since some caches are also stores.
fn persistence(facts: &RedisFacts, out: &mut Out) {
    let info = &facts.info;
    if info.u64("aof_enabled") == Some(1) {
        out.push(
            Severity::Info,
            "persistence_aof",
            "appendonly is on: a pure cache pays for every write twice (AOF fsync and \
             rewrites); turn it off unless this cache is also a store."
                .to_string(),
        );
    }
    match &facts.config {
        Answer::Known { value } => {
            if let Some(save) = value.get("save").filter(|s| !s.trim().is_empty()) {
                out.push(
                    Severity::Info,
                    "persistence_rdb_snapshots",
                    format!(
                        "save is \"{save}\": the cache forks for RDB snapshots (copy-on-write \
                         memory, latency spikes); a pure cache wants save \"\"."
                    ),
                );
            }
            let stops = value.get("stop-writes-on-bgsave-error").map(String::as_str) == Some("yes");
            if stops && info.get("rdb_last_bgsave_status") == Some("err") {
                out.push(
                    Severity::Critical,
                    "bgsave_failure_stops_writes",
                    "the last background save failed and stop-writes-on-bgsave-error is yes: \
                     the server refuses writes until a save succeeds."
                        .to_string(),
                );
            }
        }
        Answer::Unavailable { reason } => {
            // Without CONFIG, snapshots that have happened still show in INFO persistence.
            if info.u64("rdb_saves").is_some_and(|n| n > 0) {
                out.push(
                    Severity::Info,
                    "persistence_rdb_snapshots",
                    format!(
                        "the server has written {} RDB snapshots since start (rdb_saves): a pure \
                         cache pays for the forks.",
                        info.u64("rdb_saves").unwrap_or(0)
                    ),
                );
            } else {
                out.unknown("persistence_rdb_snapshots", reason);
            }
        }
    }
}

/// No password for the default user; exposure without protected mode; dangerous commands
/// open to the connecting user.
fn security(facts: &RedisFacts, out: &mut Out) {
    let nopass = match &facts.default_user_flags {
        Answer::Known { value } => {
            Some(value.iter().any(|f| f == "nopass") && value.iter().any(|f| f == "on"))
        }
        // A connection that worked without a password proves the default user needs none.
        Answer::Unavailable { .. } if !facts.authenticated => Some(true),
        Answer::Unavailable { reason } => {
            out.unknown("no_password", reason);
            None
        }
    };
    if nopass == Some(true) {
        out.push(
            Severity::Critical,
            "no_password",
            "the default user has no password (nopass): anyone who reaches the port can read, \
             overwrite or flush the cache; set requirepass or an ACL user."
                .to_string(),
        );
    }
    match &facts.config {
        Answer::Known { value } => {
            let protected = value.get("protected-mode").map(String::as_str);
            let bind = value.get("bind").map(String::as_str).unwrap_or("");
            if protected == Some("no") && !loopback_only(bind) {
                let shown = if bind.trim().is_empty() {
                    "all interfaces".to_string()
                } else {
                    format!("\"{bind}\"")
                };
                out.push(
                    if nopass == Some(false) {
                        Severity::Warning
                    } else {
                        Severity::Critical
                    },
                    "exposed_without_protected_mode",
                    format!(
                        "protected-mode is no and bind is {shown}: the server accepts clients \
                         from other hosts{}; bind 127.0.0.1 -::1 (or a private address) and \
                         keep protected-mode yes.",
                        if nopass == Some(true) {
                            " without a password"
                        } else {
                            ""
                        }
                    ),
                );
            }
        }
        Answer::Unavailable { reason } => out.unknown("exposed_without_protected_mode", reason),
    }
    match &facts.dangerous {
        Answer::Known { value } => {
            // ACL DRYRUN checks permissions only: DEBUG and MODULE also need
            // enable-debug-command / enable-module-command (7.0+, default no).
            let disabled = |c: &str| {
                let switch = match c.split_whitespace().next() {
                    Some("DEBUG") => "enable-debug-command",
                    Some("MODULE") => "enable-module-command",
                    _ => return false,
                };
                config(facts, switch) == Some("no")
            };
            let open: Vec<&str> = value
                .iter()
                .filter(|c| c.allowed && !disabled(&c.command))
                .map(|c| c.command.as_str())
                .collect();
            if !open.is_empty() {
                let user = facts.acl_user.known().map_or("the user", String::as_str);
                out.push(
                    Severity::Warning,
                    "dangerous_commands",
                    format!(
                        "{user} may run {}: an application's cache user needs none of them; \
                         restrict it with ACL (e.g. -@dangerous).",
                        open.join(", ")
                    ),
                );
            }
        }
        Answer::Unavailable { reason } => out.unknown("dangerous_commands", reason),
    }
}

/// True when every `bind` address is a loopback one (a leading `-` marks an optional one).
pub fn loopback_only(bind: &str) -> bool {
    let mut any = false;
    for addr in bind.split_whitespace() {
        any = true;
        let addr = addr.trim_start_matches('-');
        let loopback = addr == "localhost"
            || addr
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return false;
        }
    }
    any
}

/// MEMORY DOCTOR's total-fragmentation rule, only where it means something.
fn fragmentation(facts: &RedisFacts, r: &RedisReport, out: &mut Out) {
    let Some(ratio) = r.memory.fragmentation_ratio else {
        return;
    };
    let waste = facts
        .info
        .u64("mem_fragmentation_bytes")
        .unwrap_or_else(|| {
            r.memory
                .rss_bytes
                .unwrap_or(0)
                .saturating_sub(r.memory.used_bytes.unwrap_or(0))
        });
    if ratio > FRAG_RATIO_WARNING && waste > FRAG_MIN_WASTE_BYTES {
        out.push(
            Severity::Warning,
            "memory_fragmentation",
            format!(
                "memory fragmentation ratio is {ratio:.2} ({} of RSS beyond the data): \
                 consider activedefrag yes, or a restart in a quiet hour.",
                format_bytes_human(waste)
            ),
        );
    }
}

#[cfg(test)]
#[path = "redis_tests.rs"]
mod tests;
