//! PostgreSQL's lexical structure, for the two places that read query text without a
//! server: `explain`'s statement gate (`statement`) and the cache-candidate reader
//! (`diag::candidates`), which names the tables a pg_stat_statements text reads. One lexer
//! so both agree on where comments (nested `/* */`, `--`), string literals (`'…'`, `E'…'`
//! with backslash escapes, `$tag$…$tag$`) and quoted identifiers begin and end: a keyword,
//! `;` or table name inside them is data.
//!
//! Why hand-written and not a parser crate: `pg_query` embeds PostgreSQL's C parser (a C
//! toolchain and a large build), and `sqlparser-rs`'s PostgreSQL dialect refuses valid
//! PostgreSQL (`TABLE t`, nested comments, extension operators). Neither caller needs a
//! syntax tree, only tokens.
//!
//! Plain `'…'` literals are lexed as with `standard_conforming_strings = on` (the default
//! since PostgreSQL 9.1).

/// One lexical token. Literals carry no text because no rule needs it; quoted identifiers
/// keep theirs (a table may be named `"Order"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A bare word (keyword or unquoted identifier), lowercased as the server folds it.
    Word(String),
    /// A quoted identifier (`"…"`, `U&"…"`), as written inside the quotes with `""` as `"`.
    Quoted(String),
    /// A string literal of any kind (`'…'`, `E'…'`, `$tag$…$tag$`).
    Literal,
    /// A number.
    Number,
    /// A positional parameter (`$1`).
    Param,
    /// Any operator or punctuation character: `;`, `(`, `)`, `,`, `.`, `\`, ….
    Punct(char),
}

/// Where the text stopped being readable: something opened and never closed. The server
/// would read the rest differently (or, for a shortened text, the rest is missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unterminated {
    Comment,
    Literal,
    EscapeLiteral,
    DollarLiteral,
    QuotedIdentifier,
}

impl Unterminated {
    /// The construct, for messages: "an unterminated /* comment".
    pub fn describe(self) -> &'static str {
        match self {
            Unterminated::Comment => "an unterminated /* comment",
            Unterminated::Literal => "an unterminated string literal",
            Unterminated::EscapeLiteral => "an unterminated E'…' string literal",
            Unterminated::DollarLiteral => "an unterminated dollar-quoted string",
            Unterminated::QuotedIdentifier => "an unterminated quoted identifier",
        }
    }
}

/// Characters PostgreSQL allows in an unquoted identifier after the first one.
fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
}

/// Characters that may start an unquoted identifier.
fn ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || !c.is_ascii()
}

/// Splits `sql` into tokens, skipping whitespace and comments. Lexing stops at the first
/// construct that never closes: the tokens before it and what was left open are returned,
/// so a gate can refuse and a reader of shortened texts can use what it has.
pub fn lex(sql: &str) -> (Vec<Token>, Option<Unterminated>) {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let n = chars.len();
    let at = |i: usize| chars.get(i).copied();
    while i < n {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && at(i + 1) == Some('-') {
            while i < n && chars[i] != '\n' && chars[i] != '\r' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == Some('*') {
            // PostgreSQL's block comments nest, unlike C's.
            let mut depth = 0usize;
            loop {
                if i >= n {
                    return (tokens, Some(Unterminated::Comment));
                }
                if chars[i] == '/' && at(i + 1) == Some('*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == Some('/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '\'' {
            let Some(end) = skip_quoted(&chars, i + 1, '\'', false) else {
                return (tokens, Some(Unterminated::Literal));
            };
            i = end;
            tokens.push(Token::Literal);
        } else if c == '"' {
            let Some(end) = skip_quoted(&chars, i + 1, '"', false) else {
                return (tokens, Some(Unterminated::QuotedIdentifier));
            };
            let name: String = chars[i + 1..end - 1].iter().collect();
            tokens.push(Token::Quoted(name.replace("\"\"", "\"")));
            i = end;
        } else if c == '$' {
            if at(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                i += 1;
                while at(i).is_some_and(|d| d.is_ascii_digit()) {
                    i += 1;
                }
                tokens.push(Token::Param);
            } else if let Some(tag_end) = dollar_tag(&chars, i) {
                let tag: Vec<char> = chars[i..=tag_end].to_vec();
                let body = tag_end + 1;
                let Some(close) = (body..n).find(|&j| chars[j..].starts_with(&tag)) else {
                    return (tokens, Some(Unterminated::DollarLiteral));
                };
                i = close + tag.len();
                tokens.push(Token::Literal);
            } else {
                i += 1;
                tokens.push(Token::Punct('$'));
            }
        } else if ident_start(c) {
            let start = i;
            while at(i).is_some_and(ident_char) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect::<String>().to_lowercase();
            // E'…' is the one literal whose backslashes escape (a word directly before the
            // quote; `U&'…'`, `B'…'`, `X'…'` and `N'…'` quote like plain strings).
            if word == "e" && at(i) == Some('\'') {
                let Some(end) = skip_quoted(&chars, i + 1, '\'', true) else {
                    return (tokens, Some(Unterminated::EscapeLiteral));
                };
                i = end;
                tokens.push(Token::Literal);
            } else {
                tokens.push(Token::Word(word));
            }
        } else if c.is_ascii_digit() || (c == '.' && at(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            while at(i).is_some_and(|d| d.is_alphanumeric() || d == '_' || d == '.') {
                i += 1;
            }
            tokens.push(Token::Number);
        } else {
            i += 1;
            tokens.push(Token::Punct(c));
        }
    }
    (tokens, None)
}

/// The index after the closing `quote` of a literal whose body starts at `i`; a doubled
/// quote is one quote character, and with `backslash` a backslash escapes the next
/// character. `None` when it never closes.
fn skip_quoted(chars: &[char], mut i: usize, quote: char, backslash: bool) -> Option<usize> {
    while i < chars.len() {
        let c = chars[i];
        if backslash && c == '\\' {
            i += 2;
        } else if c == quote {
            if chars.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return Some(i + 1);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// When a dollar-quote opening tag (`$$` or `$tag$`) starts at `i`, the index of its closing
/// `$`. The tag follows identifier rules, except that it cannot contain `$`.
fn dollar_tag(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if chars.get(j).is_some_and(|&c| ident_start(c)) {
        while chars.get(j).is_some_and(|&c| ident_char(c) && c != '$') {
            j += 1;
        }
    }
    (chars.get(j) == Some(&'$')).then_some(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(sql: &str) -> Vec<String> {
        lex(sql)
            .0
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w),
                Token::Quoted(q) => Some(format!("\"{q}\"")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn comments_literals_and_dollar_quotes_hide_their_contents() {
        assert_eq!(
            words(
                "select /* from /* nested */ x */ a -- from y\n from \"Order\"\"s\" where b = E'it\\'s from z' or c = $q$ from w $q$"
            ),
            [
                "select",
                "a",
                "from",
                "\"Order\"s\"",
                "where",
                "b",
                "or",
                "c"
            ]
        );
    }

    #[test]
    fn parameters_numbers_and_dollar_identifiers_are_told_apart() {
        let (t, open) = lex("select a$b, $1, 1.5e3, .5 from t");
        assert_eq!(open, None);
        assert_eq!(
            t,
            [
                Token::Word("select".into()),
                Token::Word("a$b".into()),
                Token::Punct(','),
                Token::Param,
                Token::Punct(','),
                Token::Number,
                Token::Punct(','),
                Token::Number,
                Token::Word("from".into()),
                Token::Word("t".into()),
            ]
        );
    }

    #[test]
    fn an_unterminated_construct_stops_lexing_and_keeps_the_tokens_before_it() {
        let (t, open) = lex("select a from t where b = 'cut off by left(query, 500)");
        assert_eq!(open, Some(Unterminated::Literal));
        assert_eq!(t.len(), 7);
        assert_eq!(lex("select /* /* */").1, Some(Unterminated::Comment));
        assert_eq!(lex("select E'\\'").1, Some(Unterminated::EscapeLiteral));
        assert_eq!(lex("select $a$ x $b$").1, Some(Unterminated::DollarLiteral));
        assert_eq!(lex("select \"x").1, Some(Unterminated::QuotedIdentifier));
    }
}
