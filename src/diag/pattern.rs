//! Relation patterns for `--schema`, `--exclude` (and later `check --include/--exclude`): the
//! small language people already type into psql's `\dt`, minus its quoting rules.
//!
//! A pattern is one of `orders` (a table of that name in any schema), `billing.` (everything in
//! schema billing), `billing.orders` (one table), or `~regex` (matched against `schema.name`).
//! Plain names compare exactly and case-sensitively, because PostgreSQL stores identifiers as
//! written (folded to lower case unless quoted) and `Orders` and `orders` can both exist.
//! Quoted identifiers are not parsed: a name holding a dot is reached with `~regex`.

use std::fmt;
use std::str::FromStr;

use regex::Regex;

/// One parsed relation pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// `orders`: a relation of this name in any schema.
    Name(String),
    /// `billing.`: every relation of this schema.
    Schema(String),
    /// `billing.orders`: one relation of one schema.
    Qualified {
        /// Schema part.
        schema: String,
        /// Relation part.
        name: String,
    },
    /// `~regex`: a regular expression (regex crate syntax, unanchored: add `^`/`$` to anchor)
    /// searched in `schema.name`, or in the schema name alone for schema filters.
    Regex(Regex),
}

impl Pattern {
    /// Parses a relation pattern. Errors name the pattern and say what is wrong, ready for
    /// the CLI to print after the flag's name.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if let Some(expr) = text.strip_prefix('~') {
            if expr.is_empty() {
                return Err(format!("'{text}' is an empty regular expression"));
            }
            return Regex::new(expr)
                .map(Pattern::Regex)
                .map_err(|e| format!("'{text}' is not a valid regular expression: {e}"));
        }
        if text.is_empty() {
            return Err("empty pattern; expected name, schema., schema.name or ~regex".into());
        }
        match text.split_once('.') {
            None => Ok(Pattern::Name(text.to_owned())),
            Some(("", _)) => Err(format!(
                "'{text}' has an empty schema; expected name, schema., schema.name or ~regex"
            )),
            Some((schema, "")) => Ok(Pattern::Schema(schema.to_owned())),
            Some((schema, name)) => Ok(Pattern::Qualified {
                schema: schema.to_owned(),
                name: name.to_owned(),
            }),
        }
    }

    /// Parses a schema filter (`--schema`): `billing`, `billing.` or `~regex`. A qualified
    /// `schema.table` is refused rather than quietly widened to its schema.
    pub fn parse_schema(text: &str) -> Result<Pattern, String> {
        match Pattern::parse(text)? {
            Pattern::Name(schema) | Pattern::Schema(schema) => Ok(Pattern::Schema(schema)),
            Pattern::Qualified { .. } => Err(format!(
                "'{text}' names a table; a schema filter takes schema, schema. or ~regex"
            )),
            regex @ Pattern::Regex(_) => Ok(regex),
        }
    }

    /// Whether the relation `schema.name` matches.
    pub fn matches(&self, schema: &str, name: &str) -> bool {
        match self {
            Pattern::Name(n) => n == name,
            Pattern::Schema(s) => s == schema,
            Pattern::Qualified { schema: s, name: n } => s == schema && n == name,
            Pattern::Regex(re) => re.is_match(&format!("{schema}.{name}")),
        }
    }

    /// Whether the schema matches, for schema filters: a plain name or `schema.` compares with
    /// the schema, a regex is searched in it, a qualified pattern compares its schema part.
    pub fn matches_schema(&self, schema: &str) -> bool {
        match self {
            Pattern::Name(s) | Pattern::Schema(s) | Pattern::Qualified { schema: s, .. } => {
                s == schema
            }
            Pattern::Regex(re) => re.is_match(schema),
        }
    }
}

impl FromStr for Pattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Pattern, String> {
        Pattern::parse(text)
    }
}

impl fmt::Display for Pattern {
    /// The pattern as the user would type it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Name(n) => write!(f, "{n}"),
            Pattern::Schema(s) => write!(f, "{s}."),
            Pattern::Qualified { schema, name } => write!(f, "{schema}.{name}"),
            Pattern::Regex(re) => write!(f, "~{}", re.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Pattern {
        Pattern::parse(text).unwrap()
    }

    #[test]
    fn plain_name_matches_in_any_schema() {
        assert!(p("orders").matches("public", "orders"));
        assert!(p("orders").matches("billing", "orders"));
        assert!(!p("orders").matches("orders", "items"));
        assert!(!p("orders").matches("public", "Orders"), "case-sensitive");
        assert!(
            !p("orders").matches("public", "orders_2024"),
            "whole name only"
        );
    }

    #[test]
    fn schema_prefix_matches_the_whole_schema() {
        assert!(p("billing.").matches("billing", "invoices"));
        assert!(!p("billing.").matches("public", "billing"));
    }

    #[test]
    fn qualified_name_matches_one_relation() {
        let q = p("billing.orders");
        assert!(q.matches("billing", "orders"));
        assert!(!q.matches("public", "orders"));
        assert!(!q.matches("billing", "items"));
        // The first dot splits: a relation name may hold further dots.
        assert!(p("s.a.b").matches("s", "a.b"));
    }

    #[test]
    fn regex_searches_schema_dot_name() {
        let r = p("~^audit\\.log_\\d+$");
        assert!(r.matches("audit", "log_2024"));
        assert!(!r.matches("audit", "log_x"));
        assert!(!r.matches("public", "log_2024"));
        assert!(p("~tmp").matches("public", "my_tmp_table"), "unanchored");
    }

    #[test]
    fn invalid_patterns_are_named() {
        let err = Pattern::parse("~(unclosed").unwrap_err();
        assert!(err.contains("'~(unclosed'"), "{err}");
        assert!(err.contains("regular expression"), "{err}");
        assert!(Pattern::parse("").is_err());
        assert!(Pattern::parse("~").is_err());
        assert!(
            Pattern::parse(".orders")
                .unwrap_err()
                .contains("empty schema")
        );
    }

    #[test]
    fn schema_filters() {
        let s = Pattern::parse_schema("billing").unwrap();
        assert!(s.matches_schema("billing"));
        assert!(!s.matches_schema("public"));
        assert!(
            Pattern::parse_schema("billing.")
                .unwrap()
                .matches_schema("billing")
        );
        assert!(
            Pattern::parse_schema("~^bill")
                .unwrap()
                .matches_schema("billing")
        );
        assert!(Pattern::parse_schema("billing.orders").is_err());
        // Used as a schema filter, a plain name is a schema, not a table.
        assert!(!s.matches_schema("orders"));
    }

    #[test]
    fn display_round_trips() {
        for text in ["orders", "billing.", "billing.orders", "~^a.*$"] {
            assert_eq!(p(text).to_string(), text);
            assert_eq!(p(&p(text).to_string()).to_string(), text);
        }
        let parsed: Pattern = "x.".parse().unwrap();
        assert!(matches!(parsed, Pattern::Schema(ref s) if s == "x"));
    }
}
