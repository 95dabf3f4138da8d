//! Result-cache candidates: a heuristic, said as one, that ranks read-only statements an
//! application cache (or a materialized view) could answer instead of the server. No tool
//! found ranks these; the rule combines pgpool-II's eligibility list (no locking clauses, no
//! volatile functions, no system catalogs) with the obvious economics: many calls, few rows
//! per call (a small result to keep), a large share of time or reads (something to save),
//! and tables that change rarely (a cached result stays valid).
//!
//! Eligibility from counters comes first (no blocks dirtied, no WAL: nothing written), so
//! that texts are fetched only for a small pool; then the text must be a plain SELECT and
//! name its tables in FROM/JOIN, whose rows changed are looked up when they resolve. What
//! cannot be resolved (views, CTEs, functions, another database) is said, not guessed.
//!
//! pg_stat_statements normalises constants away, so it cannot tell whether calls asked for
//! the same rows: a candidate is confirmed with `EXPLAIN (ANALYZE, BUFFERS)` and, once a
//! cache is in place, by its hit ratio.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::measured::{Measured, Totals};
use super::text::{format_count, format_ratio};
use crate::facts::{StatementEntry, StatementKey};
use crate::sqllex::{Token, lex};

/// Fewer calls than this in the window: not worth a cache.
pub const MIN_CALLS: i64 = 100;
/// More rows per call than this: too large a result to keep per key.
pub const MAX_ROWS_PER_CALL: f64 = 100.0;
/// Candidates kept in the pool per listed statement (texts are fetched for the pool only).
const POOL_PER_LIMIT: usize = 3;
/// Smallest pool, whatever the limit.
const MIN_POOL: usize = 10;
/// Most candidates listed.
pub const MAX_CANDIDATES: usize = 10;

/// How to confirm a candidate, said with every list.
pub const CONFIRM: &str = "a heuristic from pg_stat_statements, which normalises constants \
    away: confirm with EXPLAIN (ANALYZE, BUFFERS) on a real call, and once a cache is in \
    place, by its hit ratio (below ~70% it costs more than it saves)";

/// Rows changed and live rows of tables, by (schema, name): what the shell read from
/// `pg_stat_user_tables` of the connected database.
pub type Churn = HashMap<(String, String), (i64, i64)>;

/// A table a candidate reads, and how often its rows change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableChurn {
    /// `schema.name` when resolved, else the name as the query wrote it.
    pub name: String,
    /// Rows inserted + updated + deleted since the table's statistics reset; `None` when
    /// the name could not be resolved to one table.
    pub changes: Option<i64>,
}

/// One candidate and the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The extension's queryid.
    pub queryid: i64,
    /// Database OID.
    pub dbid: u32,
    /// The normalised text.
    pub query: String,
    /// Calls in the window.
    pub calls: i64,
    /// Mean execution time, ms.
    pub mean_ms: f64,
    /// Rows per call.
    pub rows_per_call: f64,
    /// Share of all statements' execution time.
    pub time_share: Option<f64>,
    /// Share of all blocks read.
    pub read_share: Option<f64>,
    /// Hit ratio of its shared blocks.
    pub hit_ratio: Option<f64>,
    /// The tables it reads.
    pub tables: Vec<TableChurn>,
    /// Rows changed in its tables per call (lower is better: a cached result survives
    /// longer); `None` when a table could not be resolved.
    pub changes_per_call: Option<f64>,
    /// What the ranking used: execution time × 1 / (1 + changes per call).
    pub score: f64,
    /// The numbers, in a sentence.
    pub why: String,
}

/// Read-only by its counters, and called often with small results.
#[allow(clippy::cast_precision_loss)]
fn eligible(e: &StatementEntry) -> bool {
    let c = &e.counters;
    c.calls >= MIN_CALLS
        && c.shared_blks_dirtied == 0
        && c.wal_records == 0
        && (c.rows as f64 / c.calls as f64) <= MAX_ROWS_PER_CALL
}

/// The entries whose text decides whether they are candidates: the eligible ones with the
/// most execution time, a few per listed statement.
pub fn pool(entries: &[StatementEntry], limit: usize) -> impl Iterator<Item = &StatementEntry> {
    let n = (limit.max(1) * POOL_PER_LIMIT).max(MIN_POOL);
    super::measured::top_by(entries.iter().filter(|e| eligible(e)), n, |c| c.exec_ms).into_iter()
}

/// Words that make a SELECT's result unfit for a cache (pgpool-II's list, in spirit).
const VOLATILE: &[&str] = &[
    "random",
    "now",
    "clock_timestamp",
    "statement_timestamp",
    "transaction_timestamp",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtime",
    "localtimestamp",
    "current_user",
    "session_user",
    "nextval",
    "currval",
    "setval",
    "pg_sleep",
    "txid_current",
    "gen_random_uuid",
];

/// Keywords after which `(` opens a subquery or a list, not a function's arguments.
const NOT_FUNCTIONS: &[&str] = &[
    "from",
    "join",
    "in",
    "exists",
    "any",
    "all",
    "some",
    "as",
    "on",
    "where",
    "and",
    "or",
    "not",
    "lateral",
    "select",
    "union",
    "intersect",
    "except",
    "with",
    "having",
    "using",
];

/// Words that end a FROM item (the alias position included).
const CLAUSE_WORDS: &[&str] = &[
    "where",
    "group",
    "order",
    "limit",
    "offset",
    "having",
    "window",
    "union",
    "intersect",
    "except",
    "join",
    "inner",
    "left",
    "right",
    "full",
    "cross",
    "natural",
    "on",
    "using",
    "for",
    "fetch",
    "returning",
    "tablesample",
    "lateral",
];

/// Words that end a FROM list: a comma after them is not another table.
const END_OF_FROM: &[&str] = &[
    "where",
    "group",
    "order",
    "limit",
    "offset",
    "having",
    "window",
    "union",
    "intersect",
    "except",
    "for",
    "fetch",
    "returning",
];

fn ident(tok: Option<&Token>) -> Option<String> {
    match tok? {
        Token::Word(w) => Some(w.clone()),
        Token::Quoted(q) => Some(q.clone()),
        _ => None,
    }
}

/// Reads one FROM item at `i`: pushes its relation to `out` (or clears `complete` for a
/// function), skips its alias, and returns where reading goes on. A subquery is left to the
/// caller, whose loop reads its own FROM.
fn from_item(
    t: &[Token],
    mut i: usize,
    out: &mut Vec<(Option<String>, String)>,
    complete: &mut bool,
) -> usize {
    if matches!(t.get(i), Some(Token::Word(w)) if w == "only" || w == "lateral") {
        i += 1;
    }
    let Some(first) = ident(t.get(i)) else {
        if !matches!(t.get(i), Some(Token::Punct('('))) {
            *complete = false;
        }
        return i;
    };
    let (schema, name, next) = match (t.get(i + 1), ident(t.get(i + 2))) {
        (Some(Token::Punct('.')), Some(second)) => (Some(first), second, i + 3),
        _ => (None, first, i + 1),
    };
    if matches!(t.get(next), Some(Token::Punct('('))) {
        *complete = false; // a set-returning function
        return next;
    }
    if !out.contains(&(schema.clone(), name.clone())) {
        out.push((schema, name));
    }
    i = next;
    // An alias: AS word, or a bare word that is not a clause, then column aliases (a, b).
    match t.get(i) {
        Some(Token::Word(w)) if w == "as" => i += 2,
        Some(Token::Word(w)) if !CLAUSE_WORDS.contains(&w.as_str()) => i += 1,
        Some(Token::Quoted(_)) => i += 1,
        _ => return i,
    }
    if matches!(t.get(i), Some(Token::Punct('('))) {
        let mut depth = 0;
        while let Some(tok) = t.get(i) {
            match tok {
                Token::Punct('(') => depth += 1,
                Token::Punct(')') => depth -= 1,
                _ => {}
            }
            i += 1;
            if depth == 0 {
                break;
            }
        }
    }
    i
}

/// The relations named in FROM and JOIN of `text`: `(schema, name)` pairs, and whether the
/// list is complete (no function or unreadable item in a FROM list).
pub fn relations(text: &str) -> (Vec<(Option<String>, String)>, bool) {
    /// One parenthesis level: a function's arguments (FROM inside is syntax of extract,
    /// substring or trim, not a table list), and whether a FROM list is being read.
    struct Level {
        function: bool,
        in_from: bool,
    }
    // A text pg_stat_statements stored shortened (or that never closes a literal) is read
    // up to where it stops, and its list is then incomplete.
    let (t, open) = lex(text);
    let mut out = Vec::new();
    let mut complete = open.is_none();
    let mut levels = vec![Level {
        function: false,
        in_from: false,
    }];
    let mut i = 0;
    while i < t.len() {
        let level = levels.last_mut().expect("the top level is never popped");
        match &t[i] {
            Token::Punct('(') => {
                let function = match i.checked_sub(1).map(|p| &t[p]) {
                    Some(Token::Word(w)) => !NOT_FUNCTIONS.contains(&w.as_str()),
                    Some(Token::Quoted(_)) => true,
                    _ => false,
                };
                levels.push(Level {
                    function,
                    in_from: false,
                });
                i += 1;
            }
            Token::Punct(')') => {
                if levels.len() > 1 {
                    levels.pop();
                }
                i += 1;
            }
            Token::Word(w) if (w == "from" || w == "join") && !level.function => {
                level.in_from = true;
                i = from_item(&t, i + 1, &mut out, &mut complete);
            }
            Token::Punct(',') if level.in_from => {
                i = from_item(&t, i + 1, &mut out, &mut complete);
            }
            Token::Word(w) if END_OF_FROM.contains(&w.as_str()) => {
                level.in_from = false;
                i += 1;
            }
            _ => i += 1,
        }
    }
    (out, complete)
}

/// Why a text is not a cache candidate, or `None` when it could be one.
pub fn not_cacheable(text: &str) -> Option<&'static str> {
    let (t, _) = lex(text);
    let first = t.iter().find_map(|tok| match tok {
        Token::Word(w) => Some(w.as_str()),
        _ => None,
    });
    if !matches!(first, Some("select" | "with" | "table")) {
        return Some("not a SELECT");
    }
    let words: Vec<&str> = t
        .iter()
        .filter_map(|tok| match tok {
            Token::Word(w) => Some(w.as_str()),
            _ => None,
        })
        .collect();
    for pair in words.windows(2) {
        if pair[0] == "for" && matches!(pair[1], "update" | "share" | "no" | "key") {
            return Some("takes row locks (FOR UPDATE/SHARE)");
        }
    }
    if words.iter().any(|w| {
        matches!(
            *w,
            "insert" | "update" | "delete" | "merge" | "into" | "setval"
        )
    }) {
        return Some("writes");
    }
    if words.iter().any(|w| VOLATILE.contains(w)) {
        return Some("calls a volatile function or reads the clock");
    }
    let (rels, _) = relations(text);
    if rels.is_empty() {
        return Some("reads no table");
    }
    if rels.iter().any(|(schema, name)| {
        matches!(schema.as_deref(), Some("pg_catalog" | "information_schema"))
            || name.starts_with("pg_")
    }) {
        return Some("reads system catalogs or statistics views");
    }
    None
}

/// Tables named by the pool's cacheable texts in the connected database: the names whose
/// churn the shell should read (deduplicated, sorted).
pub fn tables_to_resolve(
    m: &Measured,
    texts: &HashMap<StatementKey, String>,
    limit: usize,
) -> Vec<String> {
    let mut names: Vec<String> = pool(&m.entries, limit)
        .filter(|e| Some(e.key.dbid) == m.connected_dbid)
        .filter_map(|e| texts.get(&e.key))
        .filter(|t| not_cacheable(t).is_none())
        .flat_map(|t| relations(t).0.into_iter().map(|(_, name)| name))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The table `(schema, name)` in `churn`: by schema when written, else the one table of
/// that name in any schema (two are ambiguous: unresolved).
fn resolve(churn: &Churn, schema: Option<&str>, name: &str) -> Option<(String, i64)> {
    let mut found = churn
        .iter()
        .filter(|((s, n), _)| n == name && schema.is_none_or(|want| want == s));
    let ((s, n), (changes, _)) = found.next()?;
    if found.next().is_some() {
        return None;
    }
    Some((format!("{s}.{n}"), *changes))
}

/// Candidates, best first, at most `limit` (0: [`MAX_CANDIDATES`]).
#[allow(clippy::cast_precision_loss)]
pub fn rank(
    m: &Measured,
    totals: &Totals,
    texts: &HashMap<StatementKey, String>,
    churn: &Churn,
    limit: usize,
) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for e in pool(&m.entries, limit) {
        let Some(text) = texts.get(&e.key) else {
            continue;
        };
        if not_cacheable(text).is_some() {
            continue;
        }
        let c = &e.counters;
        let calls = c.calls as f64;
        let (rels, complete) = relations(text);
        let here = Some(e.key.dbid) == m.connected_dbid;
        let tables: Vec<TableChurn> = rels
            .iter()
            .map(
                |(schema, name)| match resolve(churn, schema.as_deref(), name).filter(|_| here) {
                    Some((full, changes)) => TableChurn {
                        name: full,
                        changes: Some(changes),
                    },
                    None => TableChurn {
                        name: schema
                            .as_ref()
                            .map_or_else(|| name.clone(), |s| format!("{s}.{name}")),
                        changes: None,
                    },
                },
            )
            .collect();
        let resolved = complete && tables.iter().all(|t| t.changes.is_some());
        let changes_per_call = resolved.then(|| {
            tables
                .iter()
                .filter_map(|t| t.changes)
                .fold(0i64, i64::saturating_add) as f64
                / calls
        });
        let score = c.exec_ms / (1.0 + changes_per_call.unwrap_or(0.0));
        let touched = c.shared_blks_hit.saturating_add(c.shared_blks_read) as f64;
        let time_share = (totals.exec_ms > 0.0).then(|| c.exec_ms / totals.exec_ms);
        let read_share = (totals.shared_blks_read > 0)
            .then(|| c.shared_blks_read as f64 / totals.shared_blks_read as f64);
        let rows_per_call = c.rows as f64 / calls;
        let churn_words = match changes_per_call {
            Some(x) => format!("its tables changed {x:.3} rows per call"),
            None if !here => "its tables are in another database, so their changes are \
                              unknown (run from that database)"
                .to_string(),
            None => {
                let missing: Vec<&str> = tables
                    .iter()
                    .filter(|t| t.changes.is_none())
                    .map(|t| t.name.as_str())
                    .collect();
                if missing.is_empty() {
                    "not every table it reads could be named, so how often they change is \
                     unknown"
                        .to_string()
                } else {
                    format!(
                        "how often {} change is unknown (not a table here: a view, CTE or \
                         ambiguous name)",
                        missing.join(", ")
                    )
                }
            }
        };
        let why = format!(
            "{} calls, {:.3} ms each, {:.1} rows per call, {} of all execution time, {} of \
             blocks read; {churn_words}",
            format_count(c.calls),
            c.exec_ms / calls,
            rows_per_call,
            format_ratio(time_share),
            format_ratio(read_share),
        );
        out.push(Candidate {
            queryid: e.key.queryid,
            dbid: e.key.dbid,
            query: text.clone(),
            calls: c.calls,
            mean_ms: c.exec_ms / calls,
            rows_per_call,
            time_share,
            read_share,
            hit_ratio: (touched > 0.0).then(|| c.shared_blks_hit as f64 / touched),
            tables,
            changes_per_call,
            score,
            why,
        });
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.queryid.cmp(&b.queryid)));
    out.truncate(if limit == 0 {
        MAX_CANDIDATES
    } else {
        limit.min(MAX_CANDIDATES)
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        relations(text)
            .0
            .into_iter()
            .map(|(s, n)| s.map_or(n.clone(), |s| format!("{s}.{n}")))
            .collect()
    }

    #[test]
    fn comments_and_every_literal_form_hide_table_names() {
        // The shared lexer: nested block comments, E'' escapes and dollar quotes are data.
        let text = "select a from t /* join x /* nested */ join y */ \
                    where b = E'it\\' join z' or c = $q$ from w $q$";
        assert_eq!(names(text), ["t"]);
        assert!(relations(text).1);
        // pg_stat_statements may store a shortened text: read up to the cut, incomplete.
        let (rels, complete) = relations("select a from t, u where b = 'cut off");
        assert_eq!(rels.len(), 2);
        assert!(!complete);
    }

    #[test]
    fn from_and_join_items_are_read_with_schemas_aliases_and_lists() {
        assert_eq!(
            names("select v from hot where id = $1"),
            vec!["hot".to_string()]
        );
        assert_eq!(
            names(
                "SELECT a.x FROM public.accounts a JOIN \"Odd Name\" AS o ON o.id = a.id, b, \
                 app.c cc WHERE a.id = $1"
            ),
            vec!["public.accounts", "Odd Name", "b", "app.c"]
        );
        // FROM inside extract() and a subquery's own FROM.
        assert_eq!(
            names(
                "select extract(epoch from t.ts) from t where id in (select id from u where \
                 k = $1)"
            ),
            vec!["t", "u"]
        );
        let (rels, complete) = relations("select * from generate_series($1, $2) g join t on true");
        assert_eq!(rels, vec![(None, "t".to_string())]);
        assert!(!complete, "a function in FROM leaves the list incomplete");
    }

    #[test]
    fn only_plain_selects_of_user_tables_can_be_cached() {
        assert_eq!(not_cacheable("select v from hot where id = $1"), None);
        assert_eq!(
            not_cacheable("with x as (select 1) select * from hot, x"),
            None
        );
        assert_eq!(not_cacheable("update hot set v = $1"), Some("not a SELECT"));
        assert_eq!(
            not_cacheable("select * from hot where id = $1 for update"),
            Some("takes row locks (FOR UPDATE/SHARE)")
        );
        assert_eq!(
            not_cacheable("select * from hot where ts > now() - $1::interval"),
            Some("calls a volatile function or reads the clock")
        );
        assert_eq!(
            not_cacheable("select count(*) from pg_stat_statements"),
            Some("reads system catalogs or statistics views")
        );
        assert_eq!(not_cacheable("select $1"), Some("reads no table"));
        // A word inside a literal is data.
        assert_eq!(not_cacheable("select * from hot where k = 'now'"), None);
    }

    #[test]
    fn an_unqualified_name_resolves_only_when_unique() {
        let mut churn = Churn::new();
        churn.insert(("public".into(), "hot".into()), (5, 100));
        churn.insert(("a".into(), "dup".into()), (1, 1));
        churn.insert(("b".into(), "dup".into()), (1, 1));
        assert_eq!(resolve(&churn, None, "hot"), Some(("public.hot".into(), 5)));
        assert_eq!(resolve(&churn, None, "dup"), None);
        assert_eq!(resolve(&churn, Some("b"), "dup"), Some(("b.dup".into(), 1)));
        assert_eq!(resolve(&churn, Some("x"), "hot"), None);
    }
}
