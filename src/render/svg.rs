//! Inline SVG charts for the HTML report: horizontal bar charts, one row per value, with
//! optional threshold lines. Every bar carries its name and the value it stands for as
//! attributes (`data-name`, `data-value`, exactly the report's number), so a test — or a
//! reader with the browser's inspector — can compare the drawing with the JSON.
//!
//! Pure: values in, markup out. Every piece of text goes through [`sanitize::html`], in
//! attributes as in text. Colours are CSS classes (`ok`, `warning`, `critical`, `info`,
//! `neutral`, `none`), never inline, so the page's stylesheet switches them for dark mode and
//! print. The caller decides the scale (`Bar::length`); this module only draws.

use std::fmt::Write as _;

use super::sanitize;

/// Width of the drawing, in SVG units (it scales to the page).
const WIDTH: f64 = 870.0;
/// Where the bars start; names are right-aligned left of it.
const PLOT_X: f64 = 300.0;
/// Width of a full bar.
const PLOT_W: f64 = 360.0;
/// Height of one row, and of a bar within it.
const ROW_H: f64 = 22.0;
const BAR_H: f64 = 14.0;
/// Room above the rows for the threshold labels, and below for the axis labels.
const TOP: f64 = 22.0;
const BOTTOM: f64 = 20.0;
/// Longest name drawn in full; longer ones are cut (the full name is in the tooltip and in
/// `data-name`).
const NAME_CHARS: usize = 40;

/// More `data-*` attributes of a bar: names without the `data-` prefix, raw values.
pub type Attrs = Vec<(&'static str, String)>;

/// One row of a bar chart.
#[derive(Debug, Clone)]
pub struct Bar {
    /// What the bar is about, raw (escaped here).
    pub name: String,
    /// The value it stands for, as the JSON has it (`0.9931`, `1234`), or `null`.
    pub value: String,
    /// The value as people read it (`99.31%`), drawn after the bar.
    pub label: String,
    /// Length as a fraction of a full bar; clamped to `0..=1`.
    pub length: f64,
    /// CSS class of the bar's colour.
    pub tone: &'static str,
    /// More `data-*` attributes.
    pub attrs: Attrs,
}

/// A vertical line across the rows (warning and critical hit ratios).
#[derive(Debug, Clone)]
pub struct Threshold {
    /// Where, as a fraction of a full bar.
    pub at: f64,
    /// The threshold itself (`0.99`), for `data-threshold`.
    pub value: f64,
    /// Drawn above the line (`99% warning`).
    pub label: String,
    /// CSS class (`warning`, `critical`).
    pub tone: &'static str,
}

/// A horizontal bar chart.
#[derive(Debug, Clone)]
pub struct BarChart {
    /// `id` of the `<svg>` element (a fixed word, not server text).
    pub id: &'static str,
    /// Accessible title (`<title>`), raw.
    pub title: String,
    /// The rows, top to bottom.
    pub bars: Vec<Bar>,
    /// Lines across the rows, left to right: the last one's label is drawn right of its
    /// line, the others' left of theirs, so two close lines do not print over each other.
    pub thresholds: Vec<Threshold>,
    /// Labels under the left and right ends of the bars (`80%`, `100%`).
    pub axis: (String, String),
}

fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    sanitize::html(s)
}

/// `name`, cut to [`NAME_CHARS`] characters with an ellipsis.
fn short(name: &str) -> String {
    if name.chars().count() <= NAME_CHARS {
        name.to_owned()
    } else {
        let mut s: String = name.chars().take(NAME_CHARS - 1).collect();
        s.push('…');
        s
    }
}

/// The chart as one `<svg>` element.
pub fn bar_chart(c: &BarChart) -> String {
    let rows = c.bars.len() as f64;
    let height = TOP + rows * ROW_H + BOTTOM;
    let mut out = String::new();
    // Writing to a String cannot fail: the results of write! are ignored below.
    let _ = write!(
        out,
        r#"<svg class="chart" id="{id}" role="img" aria-labelledby="{id}-title" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" data-bars="{n}"><title id="{id}-title">{title}</title>"#,
        id = c.id,
        n = c.bars.len(),
        title = esc(&c.title),
    );
    for (i, b) in c.bars.iter().enumerate() {
        let y = TOP + i as f64 * ROW_H;
        let bar_y = y + (ROW_H - BAR_H) / 2.0;
        let text_y = y + ROW_H / 2.0 + 4.0;
        let w = (b.length.clamp(0.0, 1.0) * PLOT_W * 10.0).round() / 10.0;
        let _ = write!(
            out,
            r#"<g class="bar {tone}" data-name="{name}" data-value="{value}""#,
            tone = b.tone,
            name = esc(&b.name),
            value = esc(&b.value),
        );
        for (k, v) in &b.attrs {
            let _ = write!(out, r#" data-{k}="{}""#, esc(v));
        }
        let _ = write!(
            out,
            r#"><title>{name}: {label}</title><text class="name" x="{nx}" y="{text_y}" text-anchor="end">{short}</text><rect class="track" x="{PLOT_X}" y="{bar_y}" width="{PLOT_W}" height="{BAR_H}"/><rect class="fill" x="{PLOT_X}" y="{bar_y}" width="{w}" height="{BAR_H}"/><text class="value" x="{vx}" y="{text_y}">{label}</text></g>"#,
            name = esc(&b.name),
            label = esc(&b.label),
            nx = PLOT_X - 8.0,
            short = esc(&short(&b.name)),
            vx = PLOT_X + PLOT_W + 8.0,
        );
    }
    for (i, t) in c.thresholds.iter().enumerate() {
        let x = PLOT_X + (t.at.clamp(0.0, 1.0) * PLOT_W * 10.0).round() / 10.0;
        let (tx, anchor) = if i + 1 == c.thresholds.len() {
            (x + 3.0, "start")
        } else {
            (x - 3.0, "end")
        };
        let _ = write!(
            out,
            r#"<g class="threshold {tone}" data-threshold="{value}"><line x1="{x}" y1="{y1}" x2="{x}" y2="{y2}"/><text x="{tx}" y="{ty}" text-anchor="{anchor}">{label}</text></g>"#,
            tone = t.tone,
            value = t.value,
            y1 = TOP - 4.0,
            y2 = TOP + rows * ROW_H,
            ty = TOP - 8.0,
            label = esc(&t.label),
        );
    }
    let _ = write!(
        out,
        r#"<g class="axis"><text x="{PLOT_X}" y="{y}" text-anchor="start">{left}</text><text x="{right_x}" y="{y}" text-anchor="end">{right}</text></g></svg>"#,
        y = TOP + rows * ROW_H + 14.0,
        left = esc(&c.axis.0),
        right_x = PLOT_X + PLOT_W,
        right = esc(&c.axis.1),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(name: &str, value: f64) -> Bar {
        Bar {
            name: name.to_owned(),
            value: value.to_string(),
            label: format!("{value}"),
            length: value,
            tone: "ok",
            attrs: vec![("database", name.to_owned())],
        }
    }

    fn chart(bars: Vec<Bar>) -> BarChart {
        BarChart {
            id: "chart-test",
            title: "Test".to_owned(),
            bars,
            thresholds: vec![Threshold {
                at: 0.5,
                value: 0.99,
                label: "99% warning".to_owned(),
                tone: "warning",
            }],
            axis: ("0%".to_owned(), "100%".to_owned()),
        }
    }

    #[test]
    fn one_group_per_bar_with_its_value() {
        let svg = bar_chart(&chart(vec![bar("a", 0.25), bar("b", 1.0), bar("c", 0.0)]));
        assert_eq!(svg.matches(r#"<g class="bar "#).count(), 3);
        assert!(svg.contains(r#"data-bars="3""#));
        assert!(svg.contains(r#"data-name="a" data-value="0.25" data-database="a""#));
        // Lengths follow the fraction: a quarter of the plot, all of it, nothing.
        assert!(svg.contains(r#"class="fill" x="300" y="26" width="90""#));
        assert!(svg.contains(r#"width="360" height="14"/><text class="value""#));
        assert!(svg.contains(r#"class="fill" x="300" y="70" width="0""#));
        assert!(
            svg.contains(r#"<g class="threshold warning" data-threshold="0.99"><line x1="480""#)
        );
    }

    #[test]
    fn lengths_outside_the_scale_are_clamped() {
        let svg = bar_chart(&chart(vec![bar("over", 3.0), bar("under", -1.0)]));
        assert!(svg.contains(r#"class="fill" x="300" y="26" width="360""#));
        assert!(svg.contains(r#"class="fill" x="300" y="48" width="0""#));
    }

    #[test]
    fn names_are_escaped_everywhere_and_long_ones_cut() {
        let evil = "<script>alert(1)</script>\"'&\x1b[2J";
        let svg = bar_chart(&chart(vec![bar(evil, 0.5)]));
        assert!(!svg.contains("<script"));
        assert!(!svg.contains('\x1b'));
        assert!(svg.contains(
            r#"data-name="&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;\x1b[2J""#
        ));
        let long = "x".repeat(60);
        let svg = bar_chart(&chart(vec![bar(&long, 0.5)]));
        assert!(svg.contains(&format!(">{}…</text>", "x".repeat(39))));
        assert!(svg.contains(&format!(r#"data-name="{long}""#)));
    }
}
