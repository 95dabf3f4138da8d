//! `explain` output: the analysed plan ([`Explained`]) as a terminal table, Markdown or JSON.
//! Table and Markdown share one model (rows of cells and summary lines), so they cannot say
//! different things. Relation, index and node names come from the server and are sanitised
//! (terminal) or escaped (Markdown) on the way out; JSON keeps them raw for matching.

use comfy_table::{Cell, CellAlignment};

use super::layout;
use super::sanitize::{markdown as md, sanitize};
use crate::diag::explain::{Explained, LARGE_SCAN_SHARED_BUFFERS_DIVISOR, Node};
use crate::diag::text::{format_count, format_percent};
use crate::units::format_bytes_human;

const HEADER: [&str; 8] = [
    "#",
    "Node",
    "Relation",
    "Rows × loops",
    "Time ms",
    "Hit incl",
    "Read incl",
    "Hit/read own",
];

/// What the numbers mean, printed above the plan in every text format.
const CAPTION: &str = "shared buffers in blocks; incl = the node and everything below it, as EXPLAIN counts them; own = the node alone (incl minus its children's incl)";

/// The plan as rows of plain-text cells (not yet sanitised).
fn rows(e: &Explained) -> Vec<[String; 8]> {
    e.nodes
        .iter()
        .map(|n| {
            [
                n.id.to_string(),
                node_label(n),
                relation_label(n),
                rows_label(n),
                format!("{:.3}", n.time_ms),
                format_count(n.inclusive.shared_hit),
                format_count(n.inclusive.shared_read),
                format!(
                    "{} / {}",
                    format_count(n.exclusive.shared_hit),
                    format_count(n.exclusive.shared_read)
                ),
            ]
        })
        .collect()
}

fn node_label(n: &Node) -> String {
    let indent = "  ".repeat(n.depth);
    let arrow = if n.depth > 0 { "-> " } else { "" };
    let parallel = if n.parallel { "Parallel " } else { "" };
    let role = match n.parent_relationship.as_deref() {
        Some(r @ ("InitPlan" | "SubPlan")) => format!(" ({r})"),
        _ => String::new(),
    };
    format!("{indent}{arrow}{parallel}{}{role}", n.node_type)
}

fn relation_label(n: &Node) -> String {
    let mut text = n.relation.clone().unwrap_or_default();
    // The size is the relation's (the table's), so it sits next to its name.
    if let Some(bytes) = n.relation_bytes {
        text.push_str(&format!(" ({})", human(bytes)));
    }
    if let Some(index) = &n.index {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str("using ");
        text.push_str(index);
    }
    text
}

fn rows_label(n: &Node) -> String {
    if n.loops == 0.0 {
        return "never executed".to_owned();
    }
    let rows = if n.rows_per_loop.fract() == 0.0 {
        format!("{}", n.rows_per_loop)
    } else {
        format!("{:.2}", n.rows_per_loop)
    };
    format!("{rows} × {}", n.loops)
}

fn human(bytes: i64) -> String {
    format_bytes_human(u64::try_from(bytes).unwrap_or(0))
}

/// `#3 Seq Scan on public.big`.
fn node_name(e: &Explained, id: usize) -> String {
    let n = &e.nodes[id];
    match &n.relation {
        Some(r) => format!("#{id} {} on {r}", n.node_type),
        None => format!("#{id} {}", n.node_type),
    }
}

/// The summary lines under the plan (plain text, not yet sanitised).
fn summary(e: &Explained) -> Vec<String> {
    let mut out = Vec::new();
    let b = &e.execution_buffers;
    let ms = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.3} ms"));
    let ratio = e
        .hit_percent
        .map_or_else(|| "—".to_owned(), |p| format!("{}%", format_percent(p, 2)));
    out.push(format!(
        "Statement: execution {}, planning {}; shared hit ratio {ratio} ({} hit, {} read); PostgreSQL {}",
        ms(e.execution_ms),
        ms(e.planning_ms),
        format_count(b.shared_hit),
        format_count(b.shared_read),
        e.server_version
    ));
    if b.temp_read + b.temp_written > 0 {
        out.push(format!(
            "Temporary files: {} blocks written, {} read (work_mem was too small for a sort or hash)",
            format_count(b.temp_written),
            format_count(b.temp_read)
        ));
    }
    match e.planning_buffers {
        Some(p) => out.push(format!(
            "Planning: {} hit, {} read (catalog lookups, not part of the statement's ratio)",
            format_count(p.shared_hit),
            format_count(p.shared_read)
        )),
        None => out.push(
            "Planning: buffers not shown by this server (PostgreSQL 13 and later show them)"
                .to_owned(),
        ),
    }
    match e.top_reader {
        Some(id) => out.push(format!(
            "Reads most: {}: {} of the statement's {} blocks read",
            node_name(e, id),
            format_count(e.nodes[id].exclusive.shared_read),
            format_count(b.shared_read)
        )),
        None => out.push("Reads most: no node read a block from outside shared_buffers".to_owned()),
    }
    for s in &e.large_scans {
        out.push(format!(
            "Large sequential scan: {} ({}, more than 1/{LARGE_SCAN_SHARED_BUFFERS_DIVISOR} of shared_buffers {}) read {} blocks: a scan this large goes through a small ring buffer, so it is not cached for the next run; an index, a narrower query or a materialized view avoids reading it all",
            node_name(e, s.node),
            human(s.relation_bytes),
            human(e.shared_buffers_bytes),
            format_count(s.shared_read)
        ));
    }
    out
}

/// The terminal table: caption, plan, summary. `width` as in [`layout::table`].
pub fn table(e: &Explained, width: Option<u16>) -> String {
    let mut out = layout::wrap(&format!("Plan ({CAPTION})"), width, "  ");
    out.push('\n');
    let mut t = layout::table(width);
    t.set_header(HEADER.iter().map(|h| Cell::new(*h)));
    for row in rows(e) {
        t.add_row(row.iter().enumerate().map(|(i, text)| {
            let cell = Cell::new(sanitize(text));
            if i == 0 || i >= 3 {
                cell.set_alignment(CellAlignment::Right)
            } else {
                cell
            }
        }));
    }
    // Names wrap first, numbers stay whole; the tree's indentation must survive wrapping,
    // so the node column never wraps.
    layout::prose_column(&mut t, 2, width);
    if let Some(c) = t.column_mut(1) {
        c.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
    }
    out.push_str(&t.to_string());
    out.push_str("\n\nSummary\n");
    for line in summary(e) {
        out.push_str(&layout::wrap(
            &format!("  {}", sanitize(&line)),
            width,
            "    ",
        ));
        out.push('\n');
    }
    out
}

/// Markdown for a pull-request comment or a ticket.
pub fn markdown(e: &Explained) -> String {
    let mut out = format!("## pgcache-tune explain\n\n_{}_\n\n", md(CAPTION));
    out.push_str(&format!("| {} |\n", HEADER.join(" | ")));
    out.push_str("|---:|---|---|---:|---:|---:|---:|---:|\n");
    for row in rows(e) {
        // Leading spaces would vanish in a Markdown cell, and `->` would need escaping: the
        // depth shows as dots instead.
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 1 {
                    let body = c.trim_start();
                    let depth = (c.len() - body.len()) / 2;
                    let body = body.strip_prefix("-> ").unwrap_or(body);
                    format!("{}{}", "· ".repeat(depth), md(body))
                } else {
                    md(c).into_owned()
                }
            })
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push('\n');
    for line in summary(e) {
        out.push_str(&format!("- {}\n", md(&line)));
    }
    out
}

/// JSON: the [`Explained`] value as it is (names raw).
pub fn json(e: &Explained) -> String {
    // Plain data with string keys: serialising cannot fail.
    let mut text = serde_json::to_string_pretty(e).expect("an Explained always serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::explain::{ExplainFacts, RelationSize, analyse};
    use serde_json::json;

    fn explained(relation: &str) -> Explained {
        let plan = json!([{
            "Plan": {"Node Type": "Aggregate", "Actual Rows": 1, "Actual Loops": 1,
                "Actual Total Time": 9.5, "Shared Hit Blocks": 10, "Shared Read Blocks": 300,
                "Plans": [{"Node Type": "Seq Scan", "Parent Relationship": "Outer",
                    "Relation Name": relation, "Schema": "public", "Parallel Aware": true,
                    "Actual Rows": 1000, "Actual Loops": 3, "Actual Total Time": 3.0,
                    "Shared Hit Blocks": 10, "Shared Read Blocks": 300},
                  {"Node Type": "Result", "Parent Relationship": "InitPlan", "Actual Loops": 0}]},
            "Planning": {"Shared Hit Blocks": 4, "Shared Read Blocks": 0},
            "Planning Time": 0.1, "Execution Time": 10.0}]);
        analyse(&ExplainFacts {
            plan,
            relations: vec![RelationSize {
                schema: "public".into(),
                name: relation.into(),
                bytes: 64 << 20,
            }],
            shared_buffers_bytes: 128 << 20,
            server_version: "15.4".into(),
        })
        .unwrap()
    }

    #[test]
    fn the_table_names_the_nodes_their_buffers_and_the_reader() {
        let text = table(&explained("big"), None);
        assert!(text.contains("  -> Parallel Seq Scan"), "{text}");
        assert!(text.contains("public.big (64 MiB)"), "{text}");
        assert!(text.contains("1000 × 3"), "{text}");
        assert!(text.contains("9.000"), "3.0 ms × 3 loops: {text}");
        assert!(text.contains("0 / 300"), "own hit/read of the scan: {text}");
        assert!(text.contains("never executed"), "{text}");
        assert!(text.contains("-> Result (InitPlan)"), "{text}");
        assert!(
            text.contains(
                "Reads most: #1 Seq Scan on public.big: 300 of the statement's 300 blocks read"
            ),
            "{text}"
        );
        assert!(
            text.contains("shared hit ratio 3.23% (10 hit, 300 read)"),
            "{text}"
        );
        assert!(text.contains("Planning: 4 hit, 0 read"), "{text}");
        assert!(
            text.contains("Large sequential scan: #1 Seq Scan on public.big (64 MiB, more than 1/4 of shared_buffers 128 MiB)"),
            "{text}"
        );
    }

    #[test]
    fn hostile_names_are_escaped_for_terminals_and_markdown() {
        let evil = "evil\x1b[31m|red\u{202e}";
        let e = explained(evil);
        let text = table(&e, Some(200));
        assert!(
            !text.contains('\x1b') && !text.contains('\u{202e}'),
            "{text}"
        );
        assert!(text.contains("evil\\x1b[31m|red\\u{202e}"), "{text}");
        let m = markdown(&e);
        assert!(!m.contains('\x1b') && !m.contains('\u{202e}'), "{m}");
        assert!(m.contains("evil\\\\x1b\\[31m\\|red"), "{m}");
        assert!(m.contains("| 1 | · Parallel Seq Scan |"), "{m}");
        let j: serde_json::Value = serde_json::from_str(&json(&e)).unwrap();
        assert_eq!(j["nodes"][1]["relation"], format!("public.{evil}"));
        assert_eq!(j["top_reader"], 1);
        assert_eq!(j["large_scans"][0]["shared_read"], 300);
    }
}
