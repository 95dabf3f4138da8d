//! The statement gate of `explain`: decides, before anything reaches the server, whether a
//! text is exactly one read-only query — a `SELECT`, `WITH … SELECT`, `VALUES` or `TABLE`
//! statement — because `EXPLAIN ANALYZE` *runs* the statement.
//!
//! The gate does not need a syntax tree: the shared lexer (`sqllex`, which says why it is
//! hand-written) knows where comments, string literals (including `E''` escapes and dollar
//! quoting) and quoted identifiers begin and end, so that a `;` or a keyword inside them is
//! data. The rules then look at the bare words only, and err on the side of refusing: a
//! column that is really named `update` or `into` must be written quoted (`"update"`),
//! which the message says. Plain literals are lexed with `standard_conforming_strings = on`;
//! the shell sets it so for the transaction, so the server reads the text as the gate did.
//!
//! This is one of three fences, not the only one: the statement also runs through the
//! extended protocol (which the server refuses for several statements) inside a
//! `BEGIN READ ONLY` transaction that is rolled back.

use crate::sqllex::{Token, lex};

/// Why a statement was refused, as one line for stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What [`check`] accepts, for messages.
pub const ACCEPTED: &str = "one SELECT, WITH … SELECT, VALUES or TABLE statement";

fn refuse(what: &str) -> Refusal {
    Refusal(format!("not explained: {what}; explain accepts {ACCEPTED}"))
}

/// Accepts `sql` when it is exactly one `SELECT`, `WITH … SELECT`, `VALUES` or `TABLE`
/// statement (a trailing `;` is fine), and refuses it with a one-line reason otherwise:
/// several statements, DML or DDL, data-modifying `WITH`, `SELECT … INTO`, row locks
/// (`FOR UPDATE`/`SHARE`), `EXPLAIN`, `COPY`, `CALL`, parameters, psql meta-commands.
pub fn check(sql: &str) -> Result<(), Refusal> {
    let (mut tokens, open) = lex(sql);
    if let Some(open) = open {
        return Err(refuse(open.describe()));
    }
    while tokens.last() == Some(&Token::Punct(';')) {
        tokens.pop();
    }
    if tokens.is_empty() {
        return Err(Refusal(format!(
            "the statement is empty (only blanks, comments or semicolons); explain accepts {ACCEPTED}"
        )));
    }
    if tokens.contains(&Token::Punct(';')) {
        return Err(refuse("several statements (a ';' before the end)"));
    }
    if tokens.contains(&Token::Punct('\\')) {
        return Err(refuse(
            "a backslash outside a literal (psql meta-commands are not SQL)",
        ));
    }
    if tokens.contains(&Token::Param) {
        return Err(refuse(
            "a parameter ($1): explain cannot bind values, write them into the statement",
        ));
    }
    let first = tokens.iter().find(|t| **t != Token::Punct('('));
    match first {
        Some(Token::Word(w)) if matches!(w.as_str(), "select" | "with" | "values" | "table") => {}
        Some(Token::Word(w)) => {
            // main's error printer makes any control character in it visible.
            return Err(refuse(&format!("the command is {}", w.to_uppercase())));
        }
        _ => return Err(refuse("no command word at the start")),
    }
    let words: Vec<&str> = tokens
        .iter()
        .map(|t| match t {
            Token::Word(w) => w.as_str(),
            _ => "",
        })
        .collect();
    for (i, w) in words.iter().enumerate() {
        let next = |k: usize| words.get(i + k).copied().unwrap_or("");
        let lock = match (*w, next(1), next(2)) {
            ("for", "update" | "share", _) => Some(next(1).to_uppercase()),
            ("for", "no", "key") => Some("NO KEY UPDATE".to_string()),
            ("for", "key", "share") => Some("KEY SHARE".to_string()),
            _ => None,
        };
        if let Some(lock) = lock {
            return Err(refuse(&format!(
                "FOR {lock}, which takes row locks (EXPLAIN ANALYZE would really lock the rows)"
            )));
        }
    }
    for w in &words {
        match *w {
            "insert" | "update" | "delete" | "merge" => {
                let upper = w.to_uppercase();
                let inside = if words.contains(&"with") {
                    " (also inside WITH)"
                } else {
                    ""
                };
                return Err(refuse(&format!(
                    "{upper}, which modifies data{inside}; a column named {w} must be written quoted: \"{w}\""
                )));
            }
            "into" => {
                return Err(refuse(
                    "INTO: SELECT … INTO creates a table (a column named into must be written quoted: \"into\")",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn accepted(sql: &str) {
        if let Err(e) = check(sql) {
            panic!("refused {sql:?}: {e}");
        }
    }

    /// Refused, with a reason that contains `why`.
    #[track_caller]
    fn refused(sql: &str, why: &str) {
        match check(sql) {
            Ok(()) => panic!("accepted {sql:?}"),
            Err(Refusal(m)) => {
                assert!(m.contains(why), "{sql:?}: {m:?} does not say {why:?}");
                assert!(!m.contains('\n'), "one line: {m:?}");
                assert!(m.contains(ACCEPTED), "says what is accepted: {m:?}");
            }
        }
    }

    #[test]
    fn the_four_read_forms_are_accepted() {
        accepted("SELECT 1");
        accepted("select * from t where a = 1;");
        accepted("  \n\tSELECT 1 ;;  \n");
        accepted("WITH x AS (SELECT 1) SELECT * FROM x");
        accepted(
            "WITH RECURSIVE r(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
        );
        accepted("WITH x AS MATERIALIZED (SELECT 1), y AS NOT MATERIALIZED (SELECT 2) TABLE x");
        accepted("VALUES (1, 'a'), (2, 'b')");
        accepted("TABLE pgbench_accounts");
        accepted("(SELECT 1) UNION (SELECT 2)");
        accepted("((VALUES (1)))");
        accepted("SeLeCt 1");
        accepted("-- leading comment\nSELECT 1 -- trailing");
        accepted("/* c */ SELECT /* a /* nested */ comment */ 1");
        accepted("SELECT count(*) FROM pgbench_accounts WHERE aid BETWEEN 1 AND 100");
    }

    #[test]
    fn semicolons_and_keywords_inside_literals_and_comments_are_data() {
        accepted("SELECT '; DROP TABLE t; --'");
        accepted("SELECT 'it''s; delete' AS x");
        accepted("SELECT E'\\'; DELETE FROM t; --'");
        accepted("SELECT E'a\\\\'");
        accepted("SELECT $$; INSERT INTO t VALUES (1)$$");
        accepted("SELECT $body$ $$; update $$ $body$");
        accepted("SELECT $a$x$a$, $b$y$b$");
        accepted("SELECT \"update\", \"into\", \"x;y\" FROM \"delete\"");
        accepted("SELECT \"a\"\"b; insert\" FROM t");
        accepted("SELECT 1 /* ; DELETE FROM t */");
        accepted("SELECT 1 -- ; DELETE FROM t");
        accepted("SELECT U&'d\\0061t; drop' , U&\"x;\" FROM t");
        accepted("SELECT b'101', x'ff', n'x;y'");
        // With standard_conforming_strings on (which the shell sets), `\` is no escape.
        accepted("SELECT 'a\\' , ' ; DELETE FROM t; --'");
        accepted("SELECT 1 /* outer /* inner; */ still comment; insert */");
    }

    #[test]
    fn identifiers_with_dollars_and_odd_operators_are_not_quotes() {
        accepted("SELECT a$b$ FROM t");
        accepted("SELECT 1 -/**/- 1");
        accepted("SELECT forward, updated_at, inserted, intobox, \"for\" FROM t");
        accepted("SELECT substring('abc' FROM 1 FOR 2)");
        accepted("SELECT x FROM t ORDER BY x LIMIT 1 OFFSET 2");
        accepted("SELECT .5, 1e10, 0x1F, 1_000");
        accepted("SELECT arr[1] FROM t");
        accepted("SELECT 'é' AS café FROM t");
    }

    #[test]
    fn several_statements_are_refused() {
        refused("SELECT 1; SELECT 2", "several statements");
        refused("SELECT 1; DROP TABLE t", "several statements");
        refused("SELECT 1 -- comment\n; DELETE FROM t", "several statements");
        refused("SELECT 1 /* c */; /* d */ SELECT 2", "several statements");
        refused("SELECT '; x'; SELECT 2", "several statements");
        refused("SELECT $$a$$; SELECT 2", "several statements");
        refused("SELECT E'\\''; SELECT 2", "several statements");
        refused(
            "SELECT 1;\n-- a second statement after a comment\nVACUUM",
            "several statements",
        );
    }

    #[test]
    fn other_commands_are_refused_by_name() {
        refused("INSERT INTO t VALUES (1)", "the command is INSERT");
        refused("update t set a = 1", "the command is UPDATE");
        refused("DELETE FROM t", "the command is DELETE");
        refused(
            "MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE",
            "MERGE",
        );
        refused("DROP TABLE t", "the command is DROP");
        refused("CREATE TABLE t (a int)", "CREATE");
        refused("TRUNCATE t", "TRUNCATE");
        refused("EXPLAIN SELECT 1", "the command is EXPLAIN");
        refused("EXPLAIN ANALYZE DELETE FROM t", "EXPLAIN");
        refused("COPY t TO STDOUT", "the command is COPY");
        refused("CALL p()", "the command is CALL");
        refused("DO $$ BEGIN END $$", "the command is DO");
        refused("SET x = 1", "SET");
        refused("VACUUM t", "VACUUM");
        refused("/* SELECT */ DELETE FROM t", "DELETE");
        refused("(DELETE FROM t)", "DELETE");
        refused("'SELECT'", "no command word");
    }

    #[test]
    fn data_modifying_with_and_select_into_and_row_locks_are_refused() {
        refused(
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "modifies data (also inside WITH)",
        );
        refused(
            "WITH d AS MATERIALIZED (INSERT INTO t VALUES (1) RETURNING *) SELECT 1",
            "INSERT",
        );
        refused(
            "WITH u AS (UPDATE t SET a = 1 RETURNING a) TABLE u",
            "UPDATE",
        );
        refused(
            "WITH m AS (MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE RETURNING *) SELECT 1",
            "MERGE",
        );
        refused("WITH x AS (SELECT 1) DELETE FROM t", "DELETE");
        refused(
            "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
            "INSERT",
        );
        refused("SELECT * INTO new_table FROM t", "SELECT … INTO");
        refused("SELECT * INTO TEMP x FROM t", "INTO");
        refused("SELECT * FROM t FOR UPDATE", "FOR UPDATE");
        refused("SELECT * FROM t FOR SHARE SKIP LOCKED", "FOR SHARE");
        refused("SELECT * FROM t FOR NO KEY UPDATE", "NO KEY UPDATE");
        refused("SELECT * FROM t FOR KEY SHARE", "KEY SHARE");
        refused("select * from t for update of t nowait", "row locks");
        refused("SELECT update FROM t", "written quoted: \"update\"");
    }

    #[test]
    fn unterminated_text_parameters_and_meta_commands_are_refused() {
        refused("", "empty");
        refused("  ;; -- nothing\n", "empty");
        refused("/* only */", "empty");
        refused("SELECT 'abc", "unterminated string");
        refused("SELECT E'abc\\'", "unterminated E'");
        refused("SELECT \"abc", "unterminated quoted identifier");
        refused("SELECT 1 /* a /* b */", "unterminated /*");
        refused("SELECT $x$abc$y$", "unterminated dollar");
        refused("SELECT * FROM t WHERE a = $1", "parameter");
        refused("SELECT 1 \\gexec", "meta-commands");
        refused("SELECT 1 \\g", "backslash");
    }
}
