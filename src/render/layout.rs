//! The one table setup every terminal table shares: box style, no terminal probing of its
//! own (the shell decides width and colour, so rendering stays a pure function of its
//! arguments), and the width to fit.
//!
//! With a known width (COLUMNS, or the terminal's) a table is fitted to it and long cells
//! wrap; a column of prose (findings, reasons) wraps first, so names, numbers and paths stay
//! whole while they can. Without one (a pipe or a file) tables keep their natural width,
//! except prose columns, which wrap at [`PROSE_WIDTH_COLUMNS`] to stay readable.

use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width, presets};

/// Where a prose column wraps when the width is unknown: a readable line length.
pub const PROSE_WIDTH_COLUMNS: u16 = 90;
/// Narrowest a wrapping column is squeezed to so that another may stay whole.
pub const MIN_PROSE_WIDTH_COLUMNS: u16 = 20;
/// Narrowest width tables are fitted to: below it cells would wrap one word per line, and
/// a wider table that the terminal wraps reads better than that.
pub const MIN_WIDTH_COLUMNS: u16 = 40;

/// A table in the house style for a terminal `width` columns wide (`None`: unknown).
pub fn table(width: Option<u16>) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED).force_no_tty();
    if let Some(w) = width {
        t.set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(w.max(MIN_WIDTH_COLUMNS));
    }
    t
}

/// Marks `column` of a filled table (made by [`table`] with the same `width`) as prose:
/// it wraps first. Call after the rows are added, since what fits depends on them.
pub fn prose_column(t: &mut Table, column: usize, width: Option<u16>) {
    let Some(w) = width else {
        if let Some(c) = t.column_mut(column) {
            c.set_constraint(ColumnConstraint::UpperBoundary(Width::Fixed(
                PROSE_WIDTH_COLUMNS,
            )));
        }
        return;
    };
    let widths = t.column_max_content_widths();
    let room = usize::from(w.max(MIN_WIDTH_COLUMNS));
    // Each column takes its content, one space of padding either side and one border.
    let cost = |content: u16| usize::from(content) + 3;
    let mut others: Vec<(usize, u16)> = widths
        .iter()
        .copied()
        .enumerate()
        .filter(|&(i, _)| i != column)
        .collect();
    // Keep the narrowest columns whole first, as long as every column still wrapping (the
    // prose one, and the wider ones not decided yet) keeps a usable width.
    others.sort_by_key(|&(_, cw)| cw);
    let squeezed = |cw: u16| cost(cw.min(MIN_PROSE_WIDTH_COLUMNS));
    let mut kept = 1 + squeezed(MIN_PROSE_WIDTH_COLUMNS);
    for (n, &(i, cw)) in others.iter().enumerate() {
        let rest: usize = others[n + 1..].iter().map(|&(_, w)| squeezed(w)).sum();
        if kept + cost(cw) + rest > room {
            break;
        }
        kept += cost(cw);
        if let Some(c) = t.column_mut(i) {
            c.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
}

/// `text` as lines of at most `width` columns (`None`: one line), broken at spaces, each
/// line after the first starting with `indent`; a word longer than a line stays whole.
/// For the captions, footers and notes around the tables.
pub fn wrap(text: &str, width: Option<u16>, indent: &str) -> String {
    let Some(width) = width.map(|w| usize::from(w.max(MIN_WIDTH_COLUMNS))) else {
        return text.to_owned();
    };
    // The first line's own indentation stays as it is.
    let body = text.trim_start_matches(' ');
    let lead = &text[..text.len() - body.len()];
    let mut out = String::with_capacity(text.len());
    out.push_str(lead);
    let mut line_len = lead.chars().count();
    let mut line_start = true;
    for word in body.split(' ') {
        let len = word.chars().count();
        if !line_start && line_len + 1 + len > width {
            out.push('\n');
            out.push_str(indent);
            line_len = indent.chars().count();
            line_start = true;
        }
        if !line_start {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += len;
        line_start = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_indents() {
        let text = "one two three four five six seven eight nine ten eleven twelve";
        assert_eq!(wrap(text, None, "  "), text);
        let wrapped = wrap(text, Some(40), "    ");
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 40),
            "{wrapped}"
        );
        assert!(wrapped.lines().skip(1).all(|l| l.starts_with("    ")));
        assert_eq!(
            wrapped.split_whitespace().collect::<Vec<_>>(),
            text.split(' ').collect::<Vec<_>>()
        );
        let note = wrap(&format!("  - {text}"), Some(40), "    ");
        assert!(note.starts_with("  - one two"), "{note}");
        assert!(note.lines().all(|l| l.chars().count() <= 40), "{note}");
        assert_eq!(wrap("  - short", Some(80), "    "), "  - short");
    }

    fn widest(t: &Table) -> usize {
        t.to_string()
            .lines()
            .map(|l| l.chars().count())
            .max()
            .unwrap()
    }

    fn long(width: Option<u16>, prose: bool) -> Table {
        let mut t = table(width);
        t.set_header(["Name", "Text"]);
        t.add_row(["a_rather_long_identifier", &"word ".repeat(60)]);
        if prose {
            prose_column(&mut t, 1, width);
        }
        t
    }

    #[test]
    fn fits_the_width_given() {
        assert!(widest(&long(Some(80), false)) <= 80);
        assert!(widest(&long(Some(60), true)) <= 60);
        assert!(widest(&long(Some(5), true)) <= usize::from(MIN_WIDTH_COLUMNS));
    }

    #[test]
    fn prose_wraps_first_so_names_stay_whole() {
        let t = long(Some(60), true).to_string();
        assert!(t.contains("a_rather_long_identifier"), "{t}");
        assert!(widest(&long(Some(60), true)) <= 60);
    }

    #[test]
    fn unknown_width_keeps_natural_width_but_wraps_prose() {
        assert!(widest(&long(None, false)) > 300);
        let prose = long(None, true);
        assert!(widest(&prose) <= usize::from(PROSE_WIDTH_COLUMNS) + 40);
        assert!(prose.to_string().contains("a_rather_long_identifier"));
    }
}
