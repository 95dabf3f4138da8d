//! The `pgcache-tune.toml` config file of `check`: thresholds, scopes, floors and per-item
//! overrides, so a team keeps its gate in the repository. Flags override it, psql-style: a
//! flag wins over the same key here, in `[[override]]` tables too. Unknown keys and
//! wrong types are errors naming the key and the line, because a silently ignored typo
//! (`critcal = 99`) would turn a gate into a no-op.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer};

use super::{OnInsufficient, Scope};
use crate::diag::pattern::Pattern;

/// The file name looked up in the current directory.
pub const FILE_NAME: &str = "pgcache-tune.toml";

/// The config file's contents. Every field is optional; flags win over them (the shell
/// applies that, `app::check`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Same as `--warning`: a percentage.
    pub warning: Option<Percent>,
    /// Same as `--critical`.
    pub critical: Option<Percent>,
    /// Same as `--min-hit-ratio` (an alias of critical).
    pub min_hit_ratio: Option<Percent>,
    /// Same as `--scope`.
    pub scopes: Option<Vec<Scope>>,
    /// Same as `--min-blocks`.
    pub min_blocks: Option<i64>,
    /// Same as `--on-insufficient`.
    pub on_insufficient: Option<OnInsufficient>,
    /// Same as `--include`.
    #[serde(default, deserialize_with = "patterns")]
    pub include: Option<Vec<String>>,
    /// Same as `--exclude`.
    #[serde(default, deserialize_with = "patterns")]
    pub exclude: Option<Vec<String>>,
    /// Per-item thresholds: `[[override]]` tables.
    #[serde(rename = "override", default)]
    pub overrides: Vec<OverrideEntry>,
    /// `redis check`'s keys: a `[redis]` table of their own, because a cache in front of
    /// PostgreSQL runs at other ratios than shared_buffers (`check` ignores it, and
    /// `redis check` reads nothing else).
    pub redis: Option<RedisConfig>,
}

/// The `[redis]` table, for `redis check`: the same keys as `--warning`, `--critical`,
/// `--min-lookups` and `--on-insufficient`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// Same as `redis check --warning`.
    pub warning: Option<Percent>,
    /// Same as `redis check --critical`.
    pub critical: Option<Percent>,
    /// Same as `redis check --min-lookups`.
    pub min_lookups: Option<i64>,
    /// Same as `redis check --on-insufficient`.
    pub on_insufficient: Option<OnInsufficient>,
}

/// One `[[override]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideEntry {
    /// A name pattern, as for `--include`.
    #[serde(rename = "match", deserialize_with = "pattern")]
    pub pattern: String,
    /// Warning percentage for matching items.
    pub warning: Option<Percent>,
    /// Critical percentage for matching items.
    pub critical: Option<Percent>,
    /// Floor for matching items.
    pub min_blocks: Option<i64>,
    /// Where the entry sits in the file, for messages about it.
    #[serde(skip)]
    pub lines: EntryLines,
}

/// Line numbers (1-based) of one `[[override]]` table and its threshold keys, so a message
/// about the entry can say where to fix it; 0 when unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryLines {
    /// The `[[override]]` heading.
    pub heading: usize,
    /// `warning = …`.
    pub warning: usize,
    /// `critical = …`.
    pub critical: usize,
}

impl OverrideEntry {
    /// The line of `key` (`warning`, `critical`) in this entry, or of its heading.
    pub fn line_of(&self, key: &str) -> usize {
        let line = match key {
            "warning" => self.lines.warning,
            "critical" => self.lines.critical,
            _ => 0,
        };
        if line == 0 { self.lines.heading } else { line }
    }
}

/// Finds each `[[override]]` heading and the threshold keys under it (until the next
/// heading). The parser does not keep spans for plain values, and the file is small.
fn entry_lines(text: &str) -> Vec<EntryLines> {
    let mut out: Vec<EntryLines> = Vec::new();
    let mut inside = false;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t.starts_with("[[") && table_of_line(t) == Some("override");
            if inside {
                out.push(EntryLines {
                    heading: n + 1,
                    ..EntryLines::default()
                });
            }
            continue;
        }
        let (Some(entry), Some(key)) = (out.last_mut().filter(|_| inside), key_of_line(t)) else {
            continue;
        };
        match key {
            "warning" => entry.warning = n + 1,
            "critical" => entry.critical = n + 1,
            _ => {}
        }
    }
    out
}

/// A percentage in the file: a number (`99.5`) or a string (`"99.5%"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percent(pub f64);

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a percentage from 0 to 100: a number (99.5) or a string (\"99.5%\")")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Percent, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Percent, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Percent, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Percent, E> {
                super::parse_percent(v).map(Percent).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A name pattern, checked while parsing so that a bad one is reported with its line.
fn pattern<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    Pattern::parse(&text).map_err(serde::de::Error::custom)?;
    Ok(text)
}

/// A list of name patterns, each checked as [`pattern`] does.
fn patterns<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    for text in &list {
        Pattern::parse(text).map_err(serde::de::Error::custom)?;
    }
    Ok(Some(list))
}

/// Whether `line` reads `key = ...` (bare or dotted key), returning the key.
fn key_of_line(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ')))
    .then_some(key)
}

/// The `[table]` or `[[table]]` name of a heading line.
fn table_of_line(line: &str) -> Option<&str> {
    let t = line.trim();
    t.starts_with('[').then(|| {
        t.trim_start_matches('[')
            .split(']')
            .next()
            .unwrap_or("")
            .trim()
    })
}

/// The dotted key that the byte `offset` of `text` belongs to, for error messages: the
/// `key =` of its line (inside a multi-line array, the nearest one above), prefixed by the
/// table heading above it. toml's messages name the expected type but not the key, and a
/// wrong type is only fixable when the message says which key holds it.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = (0..=offset.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let mut lines =
        std::iter::once(&text[line_start..line_end]).chain(text[..line_start].lines().rev());
    let mut key = None;
    let mut table = None;
    for line in lines.by_ref() {
        if let Some(t) = table_of_line(line) {
            table = Some(t);
            break;
        }
        if let Some(k) = key_of_line(line) {
            key = Some(k);
            break;
        }
    }
    if key.is_some() {
        table = lines.find_map(table_of_line);
    }
    match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (None, Some(k)) => Some(k.to_string()),
        (Some(t), None) => Some(t.to_string()),
        (None, None) => None,
    }
}

/// Parses the file's text; the error is one line naming the file, the line and the key.
pub fn parse(text: &str, path: &Path) -> Result<Config, String> {
    let mut config: Config = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
        // Unknown fields are already named (in backticks); everything else gets its key.
        let key = e
            .span()
            .and_then(|span| key_at(text, span.start))
            .filter(|k| {
                let leaf = k.rsplit('.').next().unwrap_or(k);
                !message.contains(&format!("`{leaf}`"))
            })
            .map(|k| format!("{k}: "))
            .unwrap_or_default();
        match line {
            Some(line) => format!("{}:{line}: {key}{message}", path.display()),
            None => format!("{}: {key}{message}", path.display()),
        }
    })?;
    for (entry, lines) in config.overrides.iter_mut().zip(entry_lines(text)) {
        entry.lines = lines;
    }
    if config.critical.is_some() && config.min_hit_ratio.is_some() {
        return Err(format!(
            "{}: critical and min_hit_ratio are the same setting; keep one",
            path.display()
        ));
    }
    let redis_floor = config.redis.as_ref().and_then(|r| r.min_lookups);
    for (what, value) in [
        ("min_blocks", config.min_blocks),
        ("redis.min_lookups", redis_floor),
    ]
    .into_iter()
    .chain(
        config
            .overrides
            .iter()
            .map(|o| ("min_blocks", o.min_blocks)),
    ) {
        if value.is_some_and(|v| v < 0) {
            return Err(format!("{}: {what} must be zero or more", path.display()));
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Config, String> {
        parse(text, Path::new("pgcache-tune.toml"))
    }

    #[test]
    fn full_file() {
        let c = p(r#"
warning = 99.5
critical = "99%"
scopes = ["database", "tables"]
min_blocks = 500
on_insufficient = "unknown"
exclude = ["~^pg_temp"]

[[override]]
match = "public.archive"
critical = 50
"#)
        .unwrap();
        assert_eq!(c.warning, Some(Percent(99.5)));
        assert_eq!(c.critical, Some(Percent(99.0)));
        assert_eq!(c.scopes, Some(vec![Scope::Database, Scope::Tables]));
        assert_eq!(c.on_insufficient, Some(OnInsufficient::Unknown));
        assert_eq!(c.overrides[0].pattern, "public.archive");
        assert_eq!(c.overrides[0].critical, Some(Percent(50.0)));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = p("warning = 99\ncritcal = 95\n").unwrap_err();
        assert!(err.starts_with("pgcache-tune.toml:2: "), "{err}");
        assert!(err.contains("critcal"), "{err}");
        assert_eq!(err.lines().count(), 1);
    }

    #[test]
    fn wrong_types_and_ranges() {
        let err = p("min_blocks = \"many\"\n").unwrap_err();
        assert!(
            err.starts_with("pgcache-tune.toml:1: min_blocks: invalid type"),
            "{err}"
        );
        let err = p("warning = 99\ncritical = true\n").unwrap_err();
        assert!(
            err.starts_with("pgcache-tune.toml:2: critical: invalid type: boolean"),
            "{err}"
        );
        assert!(err.contains("percentage"), "{err}");
        let err = p("critical = 90\n\n[[override]]\nmatch = \"x\"\nwarning = [1]\n").unwrap_err();
        assert!(
            err.starts_with("pgcache-tune.toml:5: override.warning: invalid type"),
            "{err}"
        );
        let err = p("include = [\n  \"a\",\n  5,\n]\n").unwrap_err();
        assert!(err.contains(":3: include: invalid type"), "{err}");
        let err = p("[override]\nmatch = \"x\"\n").unwrap_err();
        assert!(err.starts_with("pgcache-tune.toml:1: override: "), "{err}");
        let err = p("critical = 90\ncritical = 91\n").unwrap_err();
        assert!(err.starts_with("pgcache-tune.toml:2: critical: "), "{err}");
        assert!(
            p("critical = 90\nmin_hit_ratio = 95\n")
                .unwrap_err()
                .contains("same setting")
        );
        let err = p("\n\ncritical = 101\n").unwrap_err();
        assert!(err.contains(":3:") && err.contains("0 to 100"), "{err}");
        let err = p("scopes = [\"everything\"]\n").unwrap_err();
        assert!(err.contains("everything"), "{err}");
        assert!(p("min_blocks = -1\n").unwrap_err().contains("zero or more"));
        assert!(
            p("[[override]]\ncritical = 5\n")
                .unwrap_err()
                .contains("match")
        );
    }

    #[test]
    fn redis_table() {
        let c = p("critical = 99\n[redis]\nwarning = 90\ncritical = \"80%\"\nmin_lookups = 500\non_insufficient = \"critical\"\n").unwrap();
        let r = c.redis.expect("[redis]");
        assert_eq!(c.critical, Some(Percent(99.0)));
        assert_eq!(r.warning, Some(Percent(90.0)));
        assert_eq!(r.critical, Some(Percent(80.0)));
        assert_eq!(r.min_lookups, Some(500));
        assert_eq!(r.on_insufficient, Some(OnInsufficient::Critical));
        let err = p("[redis]\nmin_blocks = 5\n").unwrap_err();
        assert!(
            err.starts_with("pgcache-tune.toml:2: ") && err.contains("min_blocks"),
            "{err}"
        );
        let err = p("[redis]\ncritical = 0.8\n").unwrap_err();
        assert!(
            err.contains(":2: redis.critical: ") && err.contains("fraction"),
            "{err}"
        );
        assert!(
            p("[redis]\nmin_lookups = -1\n")
                .unwrap_err()
                .contains("redis.min_lookups must be zero or more")
        );
        // The keyspace scope is redis check's own, never a PostgreSQL check's.
        let err = p("scopes = [\"keyspace\"]\n").unwrap_err();
        assert!(err.contains("keyspace"), "{err}");
    }

    #[test]
    fn bad_patterns_are_found_with_their_line() {
        let err = p("critical = 90\nexclude = [\"ok\", \"~(\"]\n").unwrap_err();
        assert!(err.starts_with("pgcache-tune.toml:2: exclude: "), "{err}");
        assert!(err.contains("regular expression"), "{err}");
        let err = p("critical = 90\n[[override]]\nmatch = \".x\"\n").unwrap_err();
        assert!(
            err.starts_with("pgcache-tune.toml:3: override.match: "),
            "{err}"
        );
        assert!(err.contains("empty schema"), "{err}");
    }
}
