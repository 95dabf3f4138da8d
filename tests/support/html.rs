//! Reading the HTML report's charts back, for tests/html_cli.rs (the page as printed) and
//! tests/html_live.rs (the DOM as Chromium serialised it): the bars of a chart with their
//! `data-*` attributes, entities decoded.

use serde_json::Value;

/// One bar of a chart.
#[derive(Debug)]
pub struct Bar {
    /// `data-name`.
    pub name: String,
    /// `data-value`, as written (a JSON number or `null`).
    pub value: String,
    /// `data-database`, on table bars.
    pub database: Option<String>,
}

impl Bar {
    /// The value read by the same parser as the JSON output, so equal text gives equal
    /// numbers (serde_json's default float parsing can differ from `str::parse` in the last
    /// bit).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.value).unwrap()
    }
}

/// An attribute value as the page or a DOM serialiser wrote it, decoded.
pub fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The bars of the chart with `id`, in order; panics when the chart is missing.
pub fn bars(page: &str, id: &str) -> Vec<Bar> {
    let start = page
        .find(&format!(r#"<svg class="chart" id="{id}""#))
        .unwrap_or_else(|| panic!("no chart {id}"));
    let end = start + page[start..].find("</svg>").expect("closed svg");
    let attr = |g: &str, name: &str| {
        let tag = &g[..g.find('>').expect("closed tag")];
        tag.split(&format!(r#" {name}=""#))
            .nth(1)
            .map(|v| unescape(&v[..v.find('"').expect("closed attribute")]))
    };
    page[start..end]
        .split(r#"<g class="bar "#)
        .skip(1)
        .map(|g| Bar {
            name: attr(g, "data-name").expect("data-name"),
            value: attr(g, "data-value").expect("data-value"),
            database: attr(g, "data-database"),
        })
        .collect()
}
