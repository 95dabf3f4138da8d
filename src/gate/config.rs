//! The `pgcache-tune.toml` config file of `check`: thresholds, scopes, floors and per-item
//! overrides, so a team keeps its gate in the repository. Flags override it. Unknown keys and
//! wrong types are errors naming the key and the line, because a silently ignored typo
//! (`critcal = 99`) would turn a gate into a no-op.

use std::path::Path;

use serde::Deserialize;

use super::{OnInsufficient, Scope};

/// The file name looked up in the current directory.
pub const FILE_NAME: &str = "pgcache-tune.toml";

/// The config file's contents. Every field is optional; flags win over them.
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
    pub include: Option<Vec<String>>,
    /// Same as `--exclude`.
    pub exclude: Option<Vec<String>>,
    /// Per-item thresholds: `[[override]]` tables.
    #[serde(rename = "override", default)]
    pub overrides: Vec<OverrideEntry>,
}

/// One `[[override]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideEntry {
    /// A name pattern, as for `--include`.
    #[serde(rename = "match")]
    pub pattern: String,
    /// Warning percentage for matching items.
    pub warning: Option<Percent>,
    /// Critical percentage for matching items.
    pub critical: Option<Percent>,
    /// Floor for matching items.
    pub min_blocks: Option<i64>,
}

/// A percentage in the file: a number (`99.5`) or a string (`"99.5%"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percent(pub f64);

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
            Raw::Text(s) => s,
        };
        super::parse_percent(&text)
            .map(Percent)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses the file's text; the error is one line naming the file, the line and the key.
pub fn parse(text: &str, path: &Path) -> Result<Config, String> {
    let config: Config = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
        match line {
            Some(line) => format!("{}:{line}: {message}", path.display()),
            None => format!("{}: {message}", path.display()),
        }
    })?;
    for (what, value) in [("min_blocks", config.min_blocks)].into_iter().chain(
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
            err.contains(":1:") && err.contains("min_blocks") || err.contains("invalid type"),
            "{err}"
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
}
