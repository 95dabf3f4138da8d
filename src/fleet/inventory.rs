//! The fleet inventory (`--targets FILE`): a TOML file of named targets, parsed and checked
//! here without any I/O. TOML because the project's config file already is TOML (one syntax
//! to learn, one parser in the binary), and because its spans let every bad entry be named by
//! file, line and key — a YAML parser would be a second dependency for the same job.
//!
//! Secrets are never in the file: a target names where its password lives (`password_env`,
//! `password_file`, or the `.pgpass` lookup that every connection does); the shell
//! (`app::fleet`) reads them. An inline password in the connection is refused there, with
//! this file's line, since only the connection-string parser in `conninfo` can see it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Connect timeout of a target unless the file says otherwise: shorter than the
/// single-server default (10 s), because one unreachable host should not set the pace of a
/// whole fleet run.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Statement timeout of a target unless the file says otherwise.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// The overall deadline of one target's job (connect, every query, the rendering inputs):
/// the one limit that also holds when a server accepts a connection and then never answers,
/// where the server-side statement timeout cannot help.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// Rows one target may send in total (databases, tables, indexes, settings, statements)
/// before its job stops with an error: a server with millions of relations (or a hostile
/// one) cannot exhaust the memory of a run that watches other servers too. Names are
/// already cut at PostgreSQL's 63-byte limit as they are read, so rows bound bytes.
pub const DEFAULT_MAX_ROWS: usize = 200_000;
/// Longest accepted target name: names become file names (`snapshot --targets`) and label
/// values.
pub const MAX_NAME_CHARS: usize = 64;

/// What a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A PostgreSQL server.
    Postgres,
}

/// Where a target's password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordRef {
    /// Nowhere in the file: the server may not need one, or `.pgpass` has it.
    None,
    /// This environment variable.
    Env(String),
    /// The first line of this file (relative paths are relative to the inventory file).
    File(PathBuf),
}

/// One `[[target]]` entry, with the defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    /// Unique name: letters, digits, `_`, `-`, `.`; used in every output and as the file
    /// name of its snapshot.
    pub name: String,
    /// Line of its `[[target]]` heading (1-based).
    pub line: usize,
    /// What it is.
    pub kind: Kind,
    /// A `postgresql://` URL or a `key=value` connection string.
    pub connection: String,
    /// Line of the `connection` key, for messages about the string.
    pub connection_line: usize,
    /// Where the password comes from.
    pub password: PasswordRef,
    /// Labels (defaults' labels, then the target's own), valid Prometheus label names.
    pub labels: BTreeMap<String, String>,
    /// Limit for connecting and setting up the session.
    pub connect_timeout: Duration,
    /// The session's `statement_timeout`.
    pub statement_timeout: Duration,
    /// Deadline of the whole job for this target.
    pub timeout: Duration,
    /// Rows this target may send before its job stops ([`DEFAULT_MAX_ROWS`]).
    pub max_rows: usize,
    /// `enabled = false` keeps an entry in the file without running it.
    pub enabled: bool,
}

/// The parsed file: every entry, enabled or not, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    /// The `[[target]]` entries.
    pub targets: Vec<TargetSpec>,
}

impl Inventory {
    /// The enabled targets, narrowed to `only` when it names any (`--target NAME`, repeatable).
    /// A name in `only` that is not in the file is an error naming the known ones.
    pub fn selected(&self, only: &[String]) -> Result<Vec<&TargetSpec>, String> {
        for name in only {
            if !self.targets.iter().any(|t| &t.name == name) {
                let known: Vec<&str> = self.targets.iter().map(|t| t.name.as_str()).collect();
                return Err(format!(
                    "--target {name:?} is not in the inventory; its targets are: {}",
                    known.join(", ")
                ));
            }
        }
        Ok(self
            .targets
            .iter()
            .filter(|t| t.enabled && (only.is_empty() || only.contains(&t.name)))
            .collect())
    }
}

/// Values `[defaults]` may set for every target.
#[derive(Debug, Clone)]
struct Defaults {
    labels: BTreeMap<String, String>,
    connect_timeout: Duration,
    statement_timeout: Duration,
    timeout: Duration,
    max_rows: usize,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            labels: BTreeMap::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_rows: DEFAULT_MAX_ROWS,
        }
    }
}

/// Where a problem is: `file:line: key: message`.
struct Locator<'a> {
    text: &'a str,
    file: &'a str,
}

impl Locator<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn err<T>(&self, span: std::ops::Range<usize>, key: &str, message: &str) -> Result<T, String> {
        Err(format!(
            "{}:{}: {key}: {message}",
            self.file,
            self.line(span.start)
        ))
    }
}

/// Parses an inventory. `file` names it in messages. Every problem is one line:
/// `FILE:LINE: KEY: what is wrong and what is accepted`.
pub fn parse(text: &str, file: &str) -> Result<Inventory, String> {
    let loc = Locator { text, file };
    let root = DeTable::parse(text).map_err(|e| {
        let line = e.span().map_or(1, |s| loc.line(s.start));
        format!(
            "{file}:{line}: not valid TOML: {}",
            e.message().trim().replace('\n', " ")
        )
    })?;
    let mut defaults = Defaults::default();
    let mut targets: Vec<TargetSpec> = Vec::new();
    for (key, value) in root.get_ref() {
        match key.get_ref().as_ref() {
            "defaults" => defaults = parse_defaults(&loc, value)?,
            "target" => {}
            other => {
                return loc.err(
                    key.span(),
                    other,
                    "unknown key; the file holds [defaults] and [[target]] tables",
                );
            }
        }
    }
    let Some(list) = root.get_ref().get("target") else {
        return Err(format!(
            "{file}:1: target: no [[target]] entries; add one with name and connection"
        ));
    };
    let DeValue::Array(items) = list.get_ref() else {
        return loc.err(
            list.span(),
            "target",
            "must be an array of tables: write each as [[target]]",
        );
    };
    for item in items.iter() {
        let DeValue::Table(table) = item.get_ref() else {
            return loc.err(
                item.span(),
                "target",
                "each entry must be a [[target]] table",
            );
        };
        let spec = parse_target(&loc, table, item.span(), &defaults)?;
        if let Some(first) = targets.iter().find(|t| t.name == spec.name) {
            return Err(format!(
                "{file}:{}: target.name: {:?} is already the name of the target on line {}; names must be unique",
                spec.line, spec.name, first.line
            ));
        }
        targets.push(spec);
    }
    Ok(Inventory { targets })
}

fn parse_defaults(loc: &Locator<'_>, value: &Spanned<DeValue<'_>>) -> Result<Defaults, String> {
    let DeValue::Table(table) = value.get_ref() else {
        return loc.err(value.span(), "defaults", "must be a table: [defaults]");
    };
    let mut d = Defaults::default();
    for (key, v) in table {
        let k = key.get_ref().as_ref();
        let full = format!("defaults.{k}");
        match k {
            "labels" => d.labels = labels(loc, v, &full)?,
            "connect_timeout" => d.connect_timeout = connect_timeout(loc, v, &full)?,
            "statement_timeout" => d.statement_timeout = duration(loc, v, &full)?,
            "timeout" => d.timeout = duration(loc, v, &full)?,
            "max_rows" => d.max_rows = max_rows(loc, v, &full)?,
            _ => {
                return loc.err(
                    key.span(),
                    &full,
                    "unknown key; [defaults] accepts labels, connect_timeout, statement_timeout, timeout, max_rows",
                );
            }
        }
    }
    Ok(d)
}

const TARGET_KEYS: &str = "name, connection, kind, password_env, password_file, labels, \
                           connect_timeout, statement_timeout, timeout, max_rows, enabled";

fn parse_target(
    loc: &Locator<'_>,
    table: &DeTable<'_>,
    span: std::ops::Range<usize>,
    defaults: &Defaults,
) -> Result<TargetSpec, String> {
    let mut name: Option<String> = None;
    let mut connection: Option<(String, usize)> = None;
    let mut kind = Kind::Postgres;
    let mut password = PasswordRef::None;
    let mut password_key: Option<&str> = None;
    let mut labels_own = BTreeMap::new();
    let mut spec_connect = defaults.connect_timeout;
    let mut spec_statement = defaults.statement_timeout;
    let mut spec_timeout = defaults.timeout;
    let mut spec_rows = defaults.max_rows;
    let mut enabled = true;
    for (key, v) in table {
        let k = key.get_ref().as_ref();
        let full = format!("target.{k}");
        match k {
            "name" => {
                let text = string(loc, v, &full)?;
                check_name(&text).or_else(|m| loc.err(v.span(), &full, &m))?;
                name = Some(text);
            }
            "connection" => {
                let text = string(loc, v, &full)?;
                if text.trim().is_empty() {
                    return loc.err(
                        v.span(),
                        &full,
                        "is empty; give a postgresql:// URL or a key=value connection string",
                    );
                }
                connection = Some((text, loc.line(v.span().start)));
            }
            "kind" => {
                kind = match string(loc, v, &full)?.as_str() {
                    "postgres" | "postgresql" => Kind::Postgres,
                    "redis" | "valkey" => {
                        return loc.err(
                            v.span(),
                            &full,
                            "redis targets are not supported yet in fleet runs (use `pgcache-tune redis report URL`); accepted: postgres",
                        );
                    }
                    other => {
                        return loc.err(
                            v.span(),
                            &full,
                            &format!("unknown kind {other:?}; accepted: postgres"),
                        );
                    }
                };
            }
            "password_env" | "password_file" => {
                if let Some(other) = password_key {
                    return loc.err(
                        key.span(),
                        &full,
                        &format!("give one password source, not both {other} and {k}"),
                    );
                }
                let text = string(loc, v, &full)?;
                if text.is_empty() {
                    return loc.err(v.span(), &full, "is empty");
                }
                password = if k == "password_env" {
                    PasswordRef::Env(text)
                } else {
                    PasswordRef::File(PathBuf::from(text))
                };
                password_key = Some(if k == "password_env" {
                    "password_env"
                } else {
                    "password_file"
                });
            }
            "password" => {
                return loc.err(
                    key.span(),
                    &full,
                    "passwords are never written in the inventory; use password_env = \"VAR\", password_file = \"PATH\" or ~/.pgpass",
                );
            }
            "labels" => labels_own = labels(loc, v, &full)?,
            "connect_timeout" => spec_connect = connect_timeout(loc, v, &full)?,
            "statement_timeout" => spec_statement = duration(loc, v, &full)?,
            "timeout" => spec_timeout = duration(loc, v, &full)?,
            "max_rows" => spec_rows = max_rows(loc, v, &full)?,
            "enabled" => match v.get_ref() {
                DeValue::Boolean(b) => enabled = *b,
                _ => return loc.err(v.span(), &full, "must be true or false"),
            },
            _ => {
                return loc.err(
                    key.span(),
                    &full,
                    &format!("unknown key; a [[target]] accepts {TARGET_KEYS}"),
                );
            }
        }
    }
    let Some(name) = name else {
        return loc.err(
            span,
            "target.name",
            "missing; every [[target]] needs a name",
        );
    };
    let Some((connection, connection_line)) = connection else {
        return loc.err(
            span,
            "target.connection",
            &format!("missing for target {name:?}; give a postgresql:// URL or key=value string"),
        );
    };
    let mut labels = defaults.labels.clone();
    labels.extend(labels_own);
    Ok(TargetSpec {
        name,
        line: loc.line(span.start),
        kind,
        connection,
        connection_line,
        password,
        labels,
        connect_timeout: spec_connect,
        statement_timeout: spec_statement,
        timeout: spec_timeout,
        max_rows: spec_rows,
        enabled,
    })
}

/// Target names: 1 to [`MAX_NAME_CHARS`] of ASCII letters, digits, `_`, `-`, `.`, not
/// starting with `.` — safe as a file name, in a terminal, in XML and as a label value.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if name.is_empty() || name.len() > MAX_NAME_CHARS || !ok_chars || name.starts_with('.') {
        return Err(format!(
            "\"{}\" is not a usable name; use 1 to {MAX_NAME_CHARS} letters, digits, '_', '-' or '.', not starting with '.'",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// Prometheus label names: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved for
/// Prometheus itself). `target` is ours: fleet output puts the target's name there.
pub fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "\"{}\" is not a Prometheus label name; use letters, digits and '_', not starting with a digit",
            name.escape_debug()
        ));
    }
    if name.starts_with("__") {
        return Err(format!(
            "{name:?}: label names starting with \"__\" are reserved by Prometheus"
        ));
    }
    if name == "target" {
        return Err("\"target\" is reserved: fleet output sets it to the target's name".into());
    }
    Ok(())
}

fn string(loc: &Locator<'_>, v: &Spanned<DeValue<'_>>, key: &str) -> Result<String, String> {
    match v.get_ref() {
        DeValue::String(s) => Ok(s.to_string()),
        _ => loc.err(v.span(), key, "must be a string"),
    }
}

fn labels(
    loc: &Locator<'_>,
    v: &Spanned<DeValue<'_>>,
    key: &str,
) -> Result<BTreeMap<String, String>, String> {
    let DeValue::Table(table) = v.get_ref() else {
        return loc.err(
            v.span(),
            key,
            "must be a table of strings, e.g. labels = { env = \"prod\", role = \"primary\" }",
        );
    };
    let mut out = BTreeMap::new();
    for (name, value) in table {
        let n = name.get_ref().as_ref();
        let full = format!("{key}.{n}");
        check_label_name(n).or_else(|m| loc.err(name.span(), &full, &m))?;
        out.insert(n.to_string(), string(loc, value, &full)?);
    }
    Ok(out)
}

/// A duration written with a unit, as on the command line (`5s`, `500ms`, `2min`), positive.
fn duration(loc: &Locator<'_>, v: &Spanned<DeValue<'_>>, key: &str) -> Result<Duration, String> {
    let text = match v.get_ref() {
        DeValue::String(s) => s.to_string(),
        _ => {
            return loc.err(
                v.span(),
                key,
                "must be a string with a unit such as \"5s\" or \"500ms\"",
            );
        }
    };
    let ms = crate::units::parse_duration_ms(&text).or_else(|m| loc.err(v.span(), key, &m))?;
    // PostgreSQL keeps timeouts as an int of milliseconds.
    if !(1.0..=f64::from(i32::MAX)).contains(&ms) {
        return loc.err(
            v.span(),
            key,
            &format!("{text:?} is out of range: from 1ms to 24d"),
        );
    }
    Ok(Duration::from_secs_f64(ms / 1_000.0))
}

/// The connect timeout: whole seconds as libpq's `connect_timeout`, at least 1s (a fleet
/// run never waits forever on one host).
fn connect_timeout(
    loc: &Locator<'_>,
    v: &Spanned<DeValue<'_>>,
    key: &str,
) -> Result<Duration, String> {
    let d = duration(loc, v, key)?;
    if d.subsec_nanos() != 0 {
        return loc.err(v.span(), key, "must be whole seconds such as \"5s\"");
    }
    Ok(d)
}

fn max_rows(loc: &Locator<'_>, v: &Spanned<DeValue<'_>>, key: &str) -> Result<usize, String> {
    let n = match v.get_ref() {
        DeValue::Integer(i) => i.as_str().parse::<i64>().ok().filter(|_| i.radix() == 10),
        _ => None,
    };
    match n.and_then(|n| usize::try_from(n).ok()).filter(|&n| n >= 1) {
        Some(n) => Ok(n),
        None => loc.err(v.span(), key, "must be a whole number of rows, 1 or more"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[defaults]
connect_timeout = "3s"
labels = { env = "prod" }

[[target]]
name = "orders-primary"
connection = "postgresql://monitor@db1:5432/orders"
password_env = "ORDERS_PW"
labels = { role = "primary", env = "staging" }

[[target]]
name = "orders.replica_1"
connection = "host=db2 dbname=orders user=monitor"
password_file = "secrets/orders"
statement_timeout = "500ms"
timeout = "1min"
max_rows = 1000
enabled = false
"#;

    #[test]
    fn parses_targets_with_defaults_applied() {
        let inv = parse(GOOD, "fleet.toml").unwrap();
        assert_eq!(inv.targets.len(), 2);
        let a = &inv.targets[0];
        assert_eq!(a.name, "orders-primary");
        assert_eq!(a.line, 6);
        assert_eq!(a.connection_line, 8);
        assert_eq!(a.password, PasswordRef::Env("ORDERS_PW".into()));
        // The target's own label wins over the default's.
        assert_eq!(a.labels["env"], "staging");
        assert_eq!(a.labels["role"], "primary");
        assert_eq!(a.connect_timeout, Duration::from_secs(3));
        assert_eq!(a.statement_timeout, DEFAULT_STATEMENT_TIMEOUT);
        assert_eq!(a.timeout, DEFAULT_TIMEOUT);
        assert!(a.enabled);
        let b = &inv.targets[1];
        assert_eq!(b.labels["env"], "prod");
        assert_eq!(b.password, PasswordRef::File("secrets/orders".into()));
        assert_eq!(b.statement_timeout, Duration::from_millis(500));
        assert_eq!(b.timeout, Duration::from_secs(60));
        assert_eq!(b.max_rows, 1000);
        assert!(!b.enabled);
        assert_eq!(inv.selected(&[]).unwrap().len(), 1);
        assert!(
            inv.selected(&["nope".into()])
                .unwrap_err()
                .contains("orders-primary")
        );
    }

    fn err(text: &str) -> String {
        parse(text, "f.toml").unwrap_err()
    }

    #[test]
    fn bad_entries_name_file_line_and_key() {
        let e = err("[[target]]\nname = \"a\"\nconnection = \"x\"\nconect_timeout = \"5s\"\n");
        assert!(
            e.starts_with("f.toml:4: target.conect_timeout: unknown key"),
            "{e}"
        );
        let e = err(
            "[[target]]\nname = \"a\"\nconnection = \"x\"\nlabels = { \"bad-name\" = \"x\" }\n",
        );
        assert!(e.starts_with("f.toml:4: target.labels.bad-name: "), "{e}");
        assert!(e.contains("Prometheus label name"), "{e}");
        let e = err("[[target]]\nname = \"a\"\nconnection = \"x\"\nlabels = { target = \"x\" }\n");
        assert!(e.contains("reserved"), "{e}");
        let e = err("[[target]]\nname = \"a\"\nconnection = \"x\"\nlabels = { __x = \"x\" }\n");
        assert!(e.contains("reserved by Prometheus"), "{e}");
        let e = err("[[target]]\nname = \"a\"\nconnection = \"x\"\ntimeout = 5\n");
        assert!(
            e.starts_with("f.toml:4: target.timeout: must be a string"),
            "{e}"
        );
        let e = err("[[target]]\nname = \"a\"\nconnection = \"x\"\ntimeout = \"5\"\n");
        assert!(e.contains("no unit"), "{e}");
        let e = err("[[target]]\nname = \"a\"\nconnection = \"x\"\nconnect_timeout = \"1.5s\"\n");
        assert!(e.contains("whole seconds"), "{e}");
        let e = err("\n[[target]]\nconnection = \"x\"\n");
        assert!(e.starts_with("f.toml:2: target.name: missing"), "{e}");
        let e = err("[[target]]\nname = \"a b\"\nconnection = \"x\"\n");
        assert!(e.starts_with("f.toml:2: target.name: "), "{e}");
        let e = err("[[target]]\nname = \"a\"\n");
        assert!(e.contains("target.connection: missing"), "{e}");
        let e = err("[[target]]\nname = \"a\"\nconnection = \"x\"\npassword = \"hunter2\"\n");
        assert!(e.contains("never written in the inventory"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = err(
            "[[target]]\nname = \"a\"\nconnection = \"x\"\npassword_env = \"A\"\npassword_file = \"b\"\n",
        );
        assert!(
            e.starts_with("f.toml:5: target.password_file: give one"),
            "{e}"
        );
        let e = err("[[target]]\nname = \"a\"\nconnection = \"x\"\nkind = \"redis\"\n");
        assert!(e.contains("not supported yet"), "{e}");
        let e = err("[[target]]\nname = \"a\"\nconnection = \"x\"\nmax_rows = 0\n");
        assert!(e.contains("1 or more"), "{e}");
        let e = err(
            "[[target]]\nname = \"a\"\nconnection = \"x\"\n[[target]]\nname = \"a\"\nconnection = \"y\"\n",
        );
        assert!(
            e.starts_with("f.toml:4: target.name: \"a\" is already"),
            "{e}"
        );
        assert!(e.contains("line 1"), "{e}");
        let e = err("targets = 1\n");
        assert!(e.starts_with("f.toml:1: targets: unknown key"), "{e}");
        let e = err("[[target]]\nname = \"a\"\nconnection = \"x\"\nenabled = \"no\"\n");
        assert!(e.contains("true or false"), "{e}");
        let e =
            err("[defaults]\nlabels = { env = 1 }\n[[target]]\nname = \"a\"\nconnection = \"x\"\n");
        assert!(
            e.starts_with("f.toml:2: defaults.labels.env: must be a string"),
            "{e}"
        );
        let e = err("# nothing\n");
        assert!(e.contains("no [[target]] entries"), "{e}");
        let e = err("[[target]\nname = 1\n");
        assert!(e.starts_with("f.toml:1: not valid TOML"), "{e}");
    }

    #[test]
    fn label_names() {
        for ok in ["env", "_x", "role2", "A_b"] {
            check_label_name(ok).unwrap();
        }
        for bad in ["", "2x", "a-b", "a.b", "é", "__name__", "target"] {
            assert!(check_label_name(bad).is_err(), "{bad}");
        }
    }
}
