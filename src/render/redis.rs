//! Rendering a [`RedisReport`]: terminal tables, Markdown and JSON. Every text that came from
//! the server (version, role, policy, refusal reasons) is sanitized for the terminal or
//! escaped for Markdown; numbers are formatted here, once, for both.

use comfy_table::Cell;

use super::layout;
use super::sanitize::{self, sanitize};
use crate::diag::redis::RedisReport;
use crate::diag::text::{approx_duration, format_count, format_percent, format_ratio};
use crate::units::format_bytes_human;

/// One block of the report: a title and rows, or a line saying why there are none.
struct Section {
    title: &'static str,
    header: &'static [&'static str],
    rows: Vec<Vec<String>>,
    empty: &'static str,
    /// Column of prose (wraps first).
    prose: Option<usize>,
}

fn opt(v: Option<&str>) -> String {
    v.map_or_else(|| "—".to_string(), str::to_string)
}

fn bytes(v: Option<u64>) -> String {
    v.map_or_else(|| "—".to_string(), format_bytes_human)
}

fn count(v: Option<u64>) -> String {
    v.map_or_else(
        || "—".to_string(),
        |n| format_count(i64::try_from(n).unwrap_or(i64::MAX)),
    )
}

/// A per-second rate and what it averages over (the uptime: see `RedisCache::rates_over_seconds`).
fn rate(v: Option<f64>, over: Option<u64>) -> String {
    match (v, over) {
        (Some(r), Some(s)) => format!("{r:.2}/s averaged over {} of uptime", approx_duration(s)),
        (Some(r), None) => format!("{r:.2}/s"),
        (None, _) => "—".to_string(),
    }
}

fn sections(r: &RedisReport) -> Vec<Section> {
    let s = &r.server;
    let version = match &s.version {
        Some(v) => format!("{} {v}", s.flavour.as_str()),
        None => s.flavour.as_str().to_string(),
    };
    let server = vec![
        vec!["target".into(), r.target.clone()],
        vec!["server".into(), version],
        vec!["role".into(), opt(s.role.as_deref())],
        vec!["mode".into(), opt(s.mode.as_deref())],
        vec![
            "uptime".into(),
            s.uptime_seconds.map_or("—".into(), approx_duration),
        ],
    ];
    let c = &r.cache;
    let lookups = match (c.hits, c.misses) {
        (Some(h), Some(m)) => count(Some(h.saturating_add(m))),
        _ => "—".into(),
    };
    let cache = vec![
        vec!["keyspace hit ratio".into(), format_ratio(c.hit_ratio)],
        vec!["lookups (hits + misses)".into(), lookups],
        vec![
            "evicted keys".into(),
            format!(
                "{} ({})",
                count(c.evicted_keys),
                rate(c.evicted_per_second, c.rates_over_seconds)
            ),
        ],
        vec![
            "expired keys".into(),
            format!(
                "{} ({})",
                count(c.expired_keys),
                rate(c.expired_per_second, c.rates_over_seconds)
            ),
        ],
        vec!["writes refused (OOM)".into(), count(c.oom_errors)],
    ];
    let m = &r.memory;
    let limit = match m.maxmemory_bytes {
        Some(0) => "0 (no limit)".to_string(),
        other => bytes(other),
    };
    let memory = vec![
        vec!["used".into(), bytes(m.used_bytes)],
        vec![
            "not counted for eviction".into(),
            bytes(Some(m.not_counted_bytes)),
        ],
        vec!["maxmemory".into(), limit],
        vec![
            "used of maxmemory".into(),
            m.utilization.map_or("—".into(), |u| {
                format!("{}%", format_percent(u * 100.0, 1))
            }),
        ],
        vec!["maxmemory-policy".into(), opt(m.policy.as_deref())],
        vec!["rss".into(), bytes(m.rss_bytes)],
        vec![
            "fragmentation".into(),
            m.fragmentation_ratio.map_or_else(
                || "— (below 5 MiB used, not meaningful)".to_string(),
                |f| format!("{f:.2}"),
            ),
        ],
    ];
    let keyspace = r
        .keyspace
        .iter()
        .map(|d| {
            vec![
                format!("db{}", d.db),
                count(Some(d.keys)),
                count(Some(d.with_ttl)),
                count(Some(d.without_ttl)),
                d.avg_ttl_ms
                    .filter(|&t| t > 0)
                    .map_or("—".into(), |t| approx_duration(t / 1000)),
            ]
        })
        .collect();
    let findings = r
        .findings
        .iter()
        .map(|f| {
            vec![
                f.severity.as_str().to_string(),
                f.code.clone(),
                f.message.clone(),
            ]
        })
        .collect();
    let unknown = r
        .unknown
        .iter()
        .map(|u| vec![u.check.clone(), u.reason.clone()])
        .collect();
    vec![
        Section {
            title: "Server",
            header: &["", ""],
            rows: server,
            empty: "",
            prose: None,
        },
        Section {
            title: "Cache (since start or CONFIG RESETSTAT)",
            header: &["", ""],
            rows: cache,
            empty: "",
            prose: None,
        },
        Section {
            title: "Memory",
            header: &["", ""],
            rows: memory,
            empty: "",
            prose: None,
        },
        Section {
            title: "Keyspace",
            header: &["db", "keys", "with TTL", "without TTL", "avg TTL"],
            rows: keyspace,
            empty: "no keys",
            prose: None,
        },
        Section {
            title: "Findings",
            header: &["severity", "code", "finding"],
            rows: findings,
            empty: "none",
            prose: Some(2),
        },
        Section {
            title: "Not checked (unknown, not passed)",
            header: &["check", "reason"],
            rows: unknown,
            empty: "none: every check could be made",
            prose: Some(1),
        },
    ]
}

/// Whether a column holds numbers (right-aligned in Markdown).
fn numeric(title: &str, column: usize) -> bool {
    title == "Keyspace" && (1..=3).contains(&column)
}

/// Tables for a terminal `width` columns wide (`None`: unknown).
pub fn table(r: &RedisReport, width: Option<u16>) -> String {
    let mut out = String::from("pgcache-tune redis report\n\n");
    for section in sections(r) {
        out.push_str(section.title);
        out.push('\n');
        if section.rows.is_empty() {
            out.push_str(&format!("  {}\n\n", section.empty));
            continue;
        }
        let mut t = layout::table(width);
        if section.header.iter().any(|h| !h.is_empty()) {
            t.set_header(section.header.iter().map(|h| Cell::new(*h)));
        }
        for row in &section.rows {
            t.add_row(row.iter().map(|c| Cell::new(sanitize(c))));
        }
        if let Some(column) = section.prose {
            layout::prose_column(&mut t, column, width);
        }
        out.push_str(&t.to_string());
        out.push_str("\n\n");
    }
    out.pop();
    out
}

/// Markdown, for pull-request comments and wikis.
pub fn markdown(r: &RedisReport) -> String {
    let md = |s: &str| sanitize::markdown(s).into_owned();
    let mut out = String::from("## pgcache-tune redis report\n");
    for section in sections(r) {
        out.push_str(&format!("\n### {}\n\n", section.title));
        if section.rows.is_empty() {
            out.push_str(&format!("{}\n", section.empty));
            continue;
        }
        let header: Vec<&str> = section
            .header
            .iter()
            .map(|h| if h.is_empty() { " " } else { h })
            .collect();
        out.push_str(&format!("| {} |\n", header.join(" | ")));
        let align: Vec<&str> = (0..header.len())
            .map(|i| {
                if numeric(section.title, i) {
                    "---:"
                } else {
                    "---"
                }
            })
            .collect();
        out.push_str(&format!("|{}|\n", align.join("|")));
        for row in &section.rows {
            let cells: Vec<String> = row.iter().map(|c| md(c)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
    }
    out
}

/// The report as JSON (format in the README).
pub fn json(r: &RedisReport) -> String {
    // Every map key is a string and no type has a fallible Serialize, so this cannot fail.
    let mut text = serde_json::to_string_pretty(r).expect("a RedisReport always serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::redis::diagnose;
    use crate::facts::redis::{Answer, Info, RedisFacts};

    fn report(info: &str) -> RedisReport {
        diagnose(&RedisFacts {
            target: "redis://127.0.0.1:6379".into(),
            info: Info::parse(info),
            config_command: "CONFIG".into(),
            config: Answer::Unavailable {
                reason: "CONFIG GET maxmemory: ERR unknown command 'CONFIG'".into(),
            },
            authenticated: true,
            acl_user: Answer::Known {
                value: "app".into(),
            },
            default_user_flags: Answer::Known {
                value: vec!["on".into()],
            },
            dangerous: Answer::Known { value: vec![] },
            dbsize: Answer::Known { value: 1 },
        })
    }

    #[test]
    fn server_text_is_sanitized_and_escaped() {
        let r = report("# Server\nredis_version:7.0.15\x1b[31m|x\nrole:master\n");
        let table = table(&r, None);
        assert!(!table.contains('\x1b'), "{table}");
        let md = markdown(&r);
        assert!(md.contains("7.0.15"));
        assert!(!md.contains("15\x1b"));
        assert!(md.contains("\\|x"), "{md}");
    }

    #[test]
    fn unknowns_are_listed_apart_from_findings() {
        let r = report("# Memory\nmaxmemory:0\nmaxmemory_policy:noeviction\n");
        let t = table(&r, Some(120));
        let unknown_at = t.find("Not checked (unknown, not passed)").unwrap();
        assert!(t[unknown_at..].contains("unknown: command unavailable (CONFIG GET"));
        assert!(t[..unknown_at].contains("cannot_evict_no_maxmemory"));
        let v: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(v["unknown"][0]["check"], "persistence_rdb_snapshots");
        assert_eq!(v["findings"][0]["code"], "cannot_evict_no_maxmemory");
        assert_eq!(v["cache"]["hit_ratio"], serde_json::Value::Null);
    }

    #[test]
    fn rates_say_what_they_average_over() {
        // Two days of uptime, 17,280 evictions: 0.10/s averaged over the uptime, which is
        // all INFO allows (a CONFIG RESETSTAT since start would make it read low).
        let r = report(
            "# Server
uptime_in_seconds:172800
# Stats
evicted_keys:17280
expired_keys:0
",
        );
        let t = table(&r, Some(160));
        assert!(
            t.contains("17,280 (0.10/s averaged over 2d of uptime)"),
            "{t}"
        );
        let v: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(v["cache"]["rates_over_seconds"], 172_800);
        assert_eq!(v["cache"]["evicted_per_second"], 0.1);
    }
}
