//! Renders a Redis recommendation (`tune::redis`) as a redis.conf snippet: a header with the
//! inputs and how RAM was split with PostgreSQL, then each directive under its reason.

use crate::tune::redis::RedisRecommendation;

/// Where the RAM and CPU figures came from ("given", "probed, cgroup limit none").
#[derive(Debug, Clone)]
pub struct RedisSources {
    /// RAM's source.
    pub ram: String,
    /// CPUs' source.
    pub cpus: String,
}

const MB: u64 = crate::units::MB_BYTES;

/// The snippet. Sources go into comments, so they are flattened to one safe line.
pub fn conf(rec: &RedisRecommendation, sources: &RedisSources) -> String {
    let input = &rec.input;
    let one = crate::render::sanitize::one_line;
    let mut out = format!(
        "# redis.conf for a pure cache in front of PostgreSQL, by pgcache-tune {} (redis recommend)\n\
         # Inputs: RAM {} ({}), CPUs {} ({}), policy {}, PostgreSQL on this host: {}\n",
        env!("CARGO_PKG_VERSION"),
        crate::units::format_bytes_human(input.ram_bytes),
        one(&sources.ram),
        input.cpus,
        one(&sources.cpus),
        match input.policy {
            crate::tune::redis::Policy::Lru => "lru",
            crate::tune::redis::Policy::Lfu => "lfu",
        },
        if input.with_postgres { "yes" } else { "no" },
    );
    match rec.postgres_ram_bytes {
        Some(pg) => out.push_str(&format!(
            "# RAM split: Redis gets {}MB (maxmemory {}MB plus headroom), PostgreSQL gets the \
             rest, {}MB:\n#   pgcache-tune recommend --ram {}MB --cpus {} > postgresql.conf\n",
            rec.redis_share_bytes / MB,
            rec.maxmemory_bytes / MB,
            pg / MB,
            pg / MB,
            input.cpus,
        )),
        None => out.push_str(&format!(
            "# RAM split: Redis alone gets all {}MB (maxmemory {}MB plus headroom); with \
             PostgreSQL on this host, add --with-postgres\n",
            rec.redis_share_bytes / MB,
            rec.maxmemory_bytes / MB,
        )),
    }
    out.push_str(
        "# Replace the requirepass value first: redis-server refuses to start with it as is.\n",
    );
    for s in &rec.settings {
        out.push_str(&format!("\n# {}\n{} {}\n", s.reason, s.name, s.value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::redis::{Policy, RedisInput, recommend};

    fn sources() -> RedisSources {
        RedisSources {
            ram: "given".into(),
            cpus: "probed\x1b[2J".into(),
        }
    }

    /// The directive lines (not comments, not blank) as (name, value).
    fn directives(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (k, v) = l.split_once(' ').expect("name value");
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn every_setting_is_one_directive_line_in_order() {
        let rec = recommend(&RedisInput {
            ram_bytes: 8 << 30,
            cpus: 8,
            with_postgres: false,
            policy: Policy::Lfu,
        })
        .unwrap();
        let text = conf(&rec, &sources());
        let want: Vec<(String, String)> = rec
            .settings
            .iter()
            .map(|s| (s.name.to_string(), s.value.clone()))
            .collect();
        assert_eq!(directives(&text), want);
        assert!(text.contains("policy lfu"));
        assert!(!text.contains('\x1b'), "sources are sanitized");
        assert!(
            !text.contains("recommend --ram"),
            "no split without PostgreSQL"
        );
    }

    #[test]
    fn with_postgres_the_header_gives_the_remainder_as_a_recommend_command() {
        let rec = recommend(&RedisInput {
            ram_bytes: 16 << 30,
            cpus: 4,
            with_postgres: true,
            policy: Policy::Lru,
        })
        .unwrap();
        let text = conf(&rec, &sources());
        assert!(
            text.contains("Redis gets 4096MB (maxmemory 3072MB"),
            "{text}"
        );
        assert!(
            text.contains("#   pgcache-tune recommend --ram 12288MB --cpus 4"),
            "{text}"
        );
    }
}
