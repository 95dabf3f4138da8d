//! Makes server-provided text safe to print. Relation names, database names, setting source
//! files and even the version string come from the server, and PostgreSQL accepts any
//! character in a quoted identifier: a table named `"\x1b]0;pwned\x07"` would retitle the
//! terminal, `"\x1b[2J"` would clear it, and a right-to-left override (U+202E) makes text
//! read differently from what it is ("Trojan Source"). Such characters are replaced by
//! visible escapes, so the reader sees that they are there.
//!
//! HTML output ([`html`]) goes through both: terminal controls become visible escapes as
//! everywhere, then the characters HTML gives a meaning become entities.
//!
//! JSON output does not go through here: serde escapes control characters, and consumers
//! want the raw names to match on.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters that must not reach a terminal raw: C0 controls (newline and tab included,
/// since they break table layout), DEL, C1 controls, Unicode bidirectional controls, the
/// Unicode line and paragraph separators, and the invisible format characters (zero-width
/// spaces and joiners, word joiner, invisible operators, byte-order mark, soft hyphen,
/// interlinear annotation marks) that can hide or disguise text without showing themselves.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// Escapes control characters for a terminal: ASCII ones as `\x1b`, others as `\u{202e}`.
/// Text without any comes back borrowed. Backslashes are left alone (Windows paths stay
/// readable), so the escapes are for eyes, not for parsing back.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            let code = u32::from(c);
            // Writing to a String cannot fail.
            let _ = if code < 0x80 {
                write!(out, "\\x{code:02x}")
            } else {
                write!(out, "\\u{{{code:x}}}")
            };
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Text for one line of stderr or of a status line (a server error with DETAIL lines, a path
/// with a newline): every run of whitespace becomes one space, then [`sanitize`] makes the
/// rest visible. The output boundary for error messages, several of which quote the server.
pub fn one_line(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    sanitize(&collapsed).into_owned()
}

/// [`sanitize`], then escapes what GitHub-flavoured Markdown would interpret inside a table
/// cell or list item: `|` (ends a cell), backticks, emphasis and link brackets, and the
/// backslash itself (so `a\|b` cannot unescape our `\|`); `<`, `>` and `&` become entities so
/// a name cannot smuggle HTML or `&#x202e;` into a pull-request comment.
pub fn markdown(s: &str) -> Cow<'_, str> {
    const SPECIAL: &[char] = &['\\', '|', '`', '*', '_', '[', ']', '~', '<', '>', '&'];
    let clean = sanitize(s);
    if !clean.contains(SPECIAL) {
        return clean;
    }
    let mut out = String::with_capacity(clean.len() + 8);
    for c in clean.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c if SPECIAL.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`sanitize`], then escapes what HTML would interpret, for text and for attribute values
/// (quoted with `"` or `'`) alike, inside SVG too: `&`, `<`, `>`, `"` and `'` become entities.
/// The one escape of the HTML report: a table named `<script>` prints as text, and a name
/// with a quote cannot leave its `data-name="…"` attribute.
pub fn html(s: &str) -> Cow<'_, str> {
    const SPECIAL: &[char] = &['&', '<', '>', '"', '\''];
    let clean = sanitize(s);
    if !clean.contains(SPECIAL) {
        return clean;
    }
    let mut out = String::with_capacity(clean.len() + 16);
    for c in clean.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(sanitize("orders"), Cow::Borrowed("orders")));
        assert!(matches!(sanitize("café ünïcode 表"), Cow::Borrowed(_)));
        assert!(matches!(markdown("orders"), Cow::Borrowed("orders")));
    }

    #[test]
    fn escape_sequences_become_visible() {
        assert_eq!(sanitize("evil\x1b[31mred"), "evil\\x1b[31mred");
        assert_eq!(sanitize("\x1b]0;title\x07"), "\\x1b]0;title\\x07");
        assert_eq!(sanitize("a\nb\tc\rd"), "a\\x0ab\\x09c\\x0dd");
        assert_eq!(sanitize("nul\0"), "nul\\x00");
        assert_eq!(sanitize("del\x7f"), "del\\x7f");
        assert_eq!(sanitize("c1\u{9b}31m"), "c1\\u{9b}31m");
        assert_eq!(sanitize("c1\u{85}"), "c1\\u{85}");
    }

    #[test]
    fn bidi_controls_become_visible() {
        assert_eq!(sanitize("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(sanitize("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
        assert_eq!(sanitize("\u{200f}\u{61c}"), "\\u{200f}\\u{61c}");
        assert_eq!(sanitize("line\u{2028}sep"), "line\\u{2028}sep");
        // Ordinary right-to-left text is not a control and stays.
        assert_eq!(sanitize("שלום"), "שלום");
    }

    #[test]
    fn invisible_format_characters_become_visible() {
        assert_eq!(sanitize("a\u{200b}b"), "a\\u{200b}b");
        assert_eq!(sanitize("\u{feff}x\u{2060}"), "\\u{feff}x\\u{2060}");
        assert_eq!(sanitize("soft\u{ad}hyphen"), "soft\\u{ad}hyphen");
        assert_eq!(sanitize("\u{202a}\u{202b}"), "\\u{202a}\\u{202b}");
    }

    #[test]
    fn one_line_collapses_whitespace_and_escapes_the_rest() {
        assert_eq!(one_line("a\nDETAIL:  b\r\n\tc "), "a DETAIL: b c");
        assert_eq!(
            one_line("role \"x\x1b[2J\u{202e}y\" does not exist"),
            "role \"x\\x1b[2J\\u{202e}y\" does not exist"
        );
        assert_eq!(one_line("line\u{2028}sep"), "line sep");
    }

    #[test]
    fn markdown_escapes_table_and_inline_syntax() {
        assert_eq!(markdown("a|b"), "a\\|b");
        assert_eq!(markdown("`tick`"), "\\`tick\\`");
        assert_eq!(markdown("a\\|b"), "a\\\\\\|b");
        assert_eq!(markdown("<img src=x>"), "&lt;img src=x&gt;");
        assert_eq!(markdown("&#x202e;"), "&amp;#x202e;");
        assert_eq!(
            markdown("*bold* _it_ [l](u) ~~s~~"),
            "\\*bold\\* \\_it\\_ \\[l\\](u) \\~\\~s\\~\\~"
        );
        assert_eq!(markdown("x\x1b[1m|"), "x\\\\x1b\\[1m\\|");
    }

    #[test]
    fn html_escapes_markup_and_quotes_and_shows_controls() {
        assert!(matches!(html("orders"), Cow::Borrowed("orders")));
        assert_eq!(
            html("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(html("\"'&"), "&quot;&#39;&amp;");
        // An entity in a name stays text, not the character it names.
        assert_eq!(html("&#x202e;"), "&amp;#x202e;");
        // Terminal controls and bidi overrides become visible, as in the other formats.
        assert_eq!(html("a\x1b[2J\u{202e}b"), "a\\x1b[2J\\u{202e}b");
        assert_eq!(html("x\n<b>"), "x\\x0a&lt;b&gt;");
    }
}
