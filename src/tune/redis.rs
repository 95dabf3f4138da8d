//! The Redis half of the recommendation: a pure function from the host's RAM and CPUs (and
//! whether PostgreSQL shares the host) to the redis.conf lines of a pure cache, each with
//! its reason. The app probes the host; `render::redis_conf` writes the snippet.
//!
//! The RAM split is deliberately simple, so that it can be stated in one header line and
//! repeated by hand: alone on the host, Redis's share is all of RAM; beside PostgreSQL it is
//! a quarter ([`SHARE_WITH_POSTGRES`]) and PostgreSQL's `recommend --ram` gets the rest
//! (rounded down to whole MB, so the two never add up to more than RAM). Inside its share,
//! `maxmemory` is three quarters: maxmemory counts the dataset only, while the process also
//! holds allocator fragmentation, client and replication buffers (Redis's own docs advise
//! headroom), and the OS needs some too.

use serde::Serialize;

/// One megabyte in bytes (Redis's `mb` unit is 1024-based, as PostgreSQL's MB).
const MB: u64 = crate::units::MB_BYTES;
/// Redis's share of RAM when PostgreSQL runs on the same host: numerator, denominator.
pub const SHARE_WITH_POSTGRES: (u64, u64) = (1, 4);
/// maxmemory as a part of Redis's share: numerator, denominator.
const MAXMEMORY_OF_SHARE: (u64, u64) = (3, 4);
/// Smallest maxmemory worth recommending; below it the cache holds too little to matter.
pub const MIN_MAXMEMORY_BYTES: u64 = 8 * MB;
/// Smallest RAM PostgreSQL gets (the PostgreSQL engine's floor, `tune::MIN_RAM_KB`).
const MIN_POSTGRES_BYTES: u64 = super::MIN_RAM_KB * 1024;
/// Redis advises threaded I/O only from this many cores up.
const IO_THREADS_FROM_CPUS: u32 = 4;
/// Redis: more than 8 I/O threads rarely helps.
const MAX_IO_THREADS: u32 = 8;
/// The placeholder value of `requirepass`. It contains spaces, so redis-server refuses the
/// line ("wrong number of arguments") until a real password replaces the whole value.
pub const PASSWORD_PLACEHOLDER: &str = "<REPLACE with the output of: openssl rand -hex 32>";

/// Which keys to evict when maxmemory is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// allkeys-lru: evict the least recently used key.
    Lru,
    /// allkeys-lfu: evict the least frequently used key.
    Lfu,
}

/// What the recommendation is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisInput {
    /// The host's RAM (or the container limit) in bytes.
    pub ram_bytes: u64,
    /// Usable CPUs.
    pub cpus: u32,
    /// PostgreSQL runs on the same host and needs its share of RAM and CPUs.
    pub with_postgres: bool,
    /// Eviction policy.
    pub policy: Policy,
}

/// One redis.conf line with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedisSetting {
    /// The directive.
    pub name: &'static str,
    /// The value as written in redis.conf (quoted where Redis needs quotes).
    pub value: String,
    /// Why, for the comment above the line.
    pub reason: String,
}

/// The recommendation: the split of RAM and the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisRecommendation {
    /// The inputs.
    pub input: RedisInput,
    /// RAM set aside for the Redis process (maxmemory plus its overhead).
    pub redis_share_bytes: u64,
    /// maxmemory in bytes (a whole number of MB).
    pub maxmemory_bytes: u64,
    /// RAM left for PostgreSQL (`recommend --ram`), a whole number of MB; None when Redis is
    /// alone on the host.
    pub postgres_ram_bytes: Option<u64>,
    /// The redis.conf lines in order.
    pub settings: Vec<RedisSetting>,
}

fn part(bytes: u64, (num, den): (u64, u64)) -> u64 {
    // Exact floor of bytes × num / den without an intermediate that could overflow.
    bytes / den * num + bytes % den * num / den
}

fn floor_mb(bytes: u64) -> u64 {
    bytes / MB * MB
}

/// The redis.conf settings for a pure cache on this host, or why the RAM is too small.
pub fn recommend(input: &RedisInput) -> Result<RedisRecommendation, String> {
    let (share, postgres) = if input.with_postgres {
        let share = floor_mb(part(input.ram_bytes, SHARE_WITH_POSTGRES));
        let postgres = floor_mb(input.ram_bytes - share);
        if postgres < MIN_POSTGRES_BYTES {
            return Err(format!(
                "{} of RAM is too little to share with PostgreSQL: it needs at least 64MB \
                 after Redis's quarter; give --ram 86MB or more, or drop --with-postgres",
                crate::units::format_bytes_human(input.ram_bytes)
            ));
        }
        (share, Some(postgres))
    } else {
        (floor_mb(input.ram_bytes), None)
    };
    let maxmemory = floor_mb(part(share, MAXMEMORY_OF_SHARE));
    if maxmemory < MIN_MAXMEMORY_BYTES {
        return Err(format!(
            "{} of RAM leaves Redis a maxmemory under 8MB; give more --ram",
            crate::units::format_bytes_human(input.ram_bytes)
        ));
    }
    let mut settings = Vec::new();
    let mut set = |name: &'static str, value: String, reason: String| {
        settings.push(RedisSetting {
            name,
            value,
            reason,
        });
    };
    set(
        "maxmemory",
        format!("{}mb", maxmemory / MB),
        format!(
            "3/4 of Redis's {}MB share: maxmemory counts the data only; the rest is for \
             fragmentation, client buffers and the OS",
            share / MB
        ),
    );
    let (policy, why) = match input.policy {
        Policy::Lru => (
            "allkeys-lru",
            "a cache evicts any key, least recently used first (volatile-* policies cannot \
             evict keys without TTL and writes then fail with OOM); use --policy lfu when a \
             few keys take most reads and scans or batch jobs would flush them",
        ),
        Policy::Lfu => (
            "allkeys-lfu",
            "--policy lfu: evict the least frequently used key, so keys read once by a scan \
             or batch job go before the hot set that is read all the time (allkeys, because \
             volatile-* policies cannot evict keys without TTL)",
        ),
    };
    set("maxmemory-policy", policy.to_string(), why.to_string());
    set(
        "maxmemory-samples",
        "10".to_string(),
        "eviction samples 10 keys instead of 5: close to the exact policy for a little CPU"
            .to_string(),
    );
    set(
        "save",
        "\"\"".to_string(),
        "a pure cache is rebuilt from PostgreSQL: no RDB snapshots (no fork, no copy-on-write \
         memory spikes)"
            .to_string(),
    );
    set(
        "appendonly",
        "no".to_string(),
        "and no append-only file: no disk writes on the cache's hot path".to_string(),
    );
    set(
        "bind",
        "127.0.0.1 -::1".to_string(),
        "loopback only (the application on this host); -::1 is skipped where IPv6 is off"
            .to_string(),
    );
    set(
        "protected-mode",
        "yes".to_string(),
        "refuse outside clients if bind or the password is ever dropped".to_string(),
    );
    set(
        "requirepass",
        PASSWORD_PLACEHOLDER.to_string(),
        "redis-server refuses to start until a real password replaces the whole value \
         (give it to clients as REDISCLI_AUTH or in the URL)"
            .to_string(),
    );
    let cpus = if input.with_postgres { 0 } else { input.cpus };
    if cpus >= IO_THREADS_FROM_CPUS {
        let threads = (cpus * 3 / 4).min(MAX_IO_THREADS);
        set(
            "io-threads",
            threads.to_string(),
            format!(
                "{cpus} CPUs: threaded socket I/O on 3/4 of them (Redis advises 4+ cores, one \
                 spare, at most 8)"
            ),
        );
    }
    Ok(RedisRecommendation {
        input: input.clone(),
        redis_share_bytes: share,
        maxmemory_bytes: maxmemory,
        postgres_ram_bytes: postgres,
        settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(ram_bytes: u64, cpus: u32, with_postgres: bool) -> RedisInput {
        RedisInput {
            ram_bytes,
            cpus,
            with_postgres,
            policy: Policy::Lru,
        }
    }

    fn value<'a>(r: &'a RedisRecommendation, name: &str) -> Option<&'a str> {
        r.settings
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.value.as_str())
    }

    #[test]
    fn alone_redis_gets_all_ram_and_maxmemory_is_three_quarters() {
        let r = recommend(&input(16 << 30, 2, false)).unwrap();
        assert_eq!(r.redis_share_bytes, 16 << 30);
        assert_eq!(r.maxmemory_bytes, 12 << 30);
        assert_eq!(value(&r, "maxmemory"), Some("12288mb"));
        assert_eq!(r.postgres_ram_bytes, None);
        assert_eq!(value(&r, "maxmemory-policy"), Some("allkeys-lru"));
        assert_eq!(value(&r, "save"), Some("\"\""));
        assert_eq!(value(&r, "appendonly"), Some("no"));
        assert_eq!(value(&r, "protected-mode"), Some("yes"));
        assert_eq!(value(&r, "io-threads"), None, "2 CPUs: no threaded I/O");
    }

    #[test]
    fn with_postgres_the_split_never_exceeds_ram() {
        // Odd sizes (not whole MB) included: the parts round down.
        for ram in [86 << 20, 1 << 30, (16 << 30) + 12345, 3 * (1 << 40) + 7] {
            let r = recommend(&input(ram, 8, true)).unwrap();
            let pg = r.postgres_ram_bytes.unwrap();
            assert!(r.redis_share_bytes + pg <= ram, "{ram}");
            assert!(r.maxmemory_bytes < r.redis_share_bytes);
            assert_eq!(pg % MB, 0);
            // Redis's share is a quarter, to the MB.
            assert!(ram / 4 - r.redis_share_bytes < MB);
            assert_eq!(value(&r, "io-threads"), None, "cores left to PostgreSQL");
        }
        let r = recommend(&input(16 << 30, 8, true)).unwrap();
        assert_eq!(r.postgres_ram_bytes, Some(12 << 30));
        assert_eq!(value(&r, "maxmemory"), Some("3072mb"));
    }

    #[test]
    fn too_little_ram_is_refused_with_the_minimum() {
        let e = recommend(&input(80 << 20, 1, true)).unwrap_err();
        assert!(e.contains("86MB"), "{e}");
        assert!(recommend(&input(86 << 20, 1, true)).is_ok());
        let e = recommend(&input(10 << 20, 1, false)).unwrap_err();
        assert!(e.contains("8MB"), "{e}");
    }

    #[test]
    fn lfu_changes_policy_and_reason() {
        let mut i = input(1 << 30, 1, false);
        i.policy = Policy::Lfu;
        let r = recommend(&i).unwrap();
        let s = r
            .settings
            .iter()
            .find(|s| s.name == "maxmemory-policy")
            .unwrap();
        assert_eq!(s.value, "allkeys-lfu");
        assert!(s.reason.contains("frequently"));
    }

    #[test]
    fn io_threads_follow_cpus_and_are_capped() {
        let threads = |cpus| {
            recommend(&input(1 << 30, cpus, false))
                .unwrap()
                .settings
                .iter()
                .find(|s| s.name == "io-threads")
                .map(|s| s.value.clone())
        };
        assert_eq!(threads(3), None);
        assert_eq!(threads(4).as_deref(), Some("3"));
        assert_eq!(threads(8).as_deref(), Some("6"));
        assert_eq!(threads(64).as_deref(), Some("8"));
    }

    #[test]
    fn the_placeholder_is_several_words_so_redis_refuses_it() {
        assert!(PASSWORD_PLACEHOLDER.split_whitespace().count() > 1);
        assert!(!PASSWORD_PLACEHOLDER.contains('"') && !PASSWORD_PLACEHOLDER.contains('\''));
    }
}
