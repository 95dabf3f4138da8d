//! The report's cache sections: Buffers (pg_buffercache totals, the usage-count
//! distribution, the relations holding most buffers) and Materialized views. Built as the
//! same neutral [`Section`]s as the rest of the report, so table and Markdown show the same
//! content with the same escaping. A section appears only when its facts were collected;
//! otherwise the notes say why.

use super::{Section, Text, number, plain, ratio, size};
use crate::diag::Report;
use crate::diag::buffers::BuffersSection;
use crate::diag::text::{format_count, format_ratio};
use crate::units::format_bytes_human;

/// The sections, in order; none when nothing was collected.
pub(super) fn sections(report: &Report) -> Vec<Section> {
    let mut out = Vec::new();
    if let Some(b) = &report.buffers {
        out.push(summary(b));
        out.push(usage_counts(b));
        if let Some(s) = relations(b) {
            out.push(s);
        }
    }
    if !report.materialized_views.is_empty() {
        out.push(matviews(report));
    }
    out
}

/// A share without a tone: these are not hit ratios, so they are never coloured.
fn share(r: Option<f64>) -> Text {
    number(format_ratio(r))
}

fn summary(b: &BuffersSection) -> Section {
    let count = |n: i64| plain(format_count(n));
    let rows = vec![
        vec![
            plain("shared_buffers"),
            plain(format!(
                "{} ({} buffers)",
                format_bytes_human(b.shared_buffers_bytes),
                format_count(b.buffers_total)
            )),
        ],
        vec![
            plain("Used"),
            plain(format!(
                "{} ({})",
                format_count(b.used),
                format_ratio(b.used_ratio)
            )),
        ],
        vec![plain("Unused"), count(b.unused)],
        vec![
            plain("Dirty"),
            plain(format!(
                "{} ({} of used)",
                format_count(b.dirty),
                format_ratio(b.dirty_ratio)
            )),
        ],
        vec![plain("Pinned"), count(b.pinned)],
    ];
    Section {
        caption: Some(format!(
            "pg_buffercache {}, read now: a moment's picture, not a window",
            b.extension_version
        )),
        ..Section::new("Buffers", vec!["Fact", "Value"], rows)
    }
}

fn usage_counts(b: &BuffersSection) -> Section {
    let rows = b
        .usage_counts
        .iter()
        .map(|u| {
            vec![
                number(u.usage_count.to_string()),
                number(format_count(u.buffers)),
                share(u.share),
                number(format_count(u.dirty)),
                number(format_count(u.pinned)),
            ]
        })
        .collect();
    Section {
        caption: Some(
            "the clock sweep's counter, 0 to 5; a distribution, not a verdict".to_owned(),
        ),
        ..Section::new(
            "Buffer usage counts",
            vec!["Usage count", "Buffers", "Share", "Dirty", "Pinned"],
            rows,
        )
    }
}

fn relations(b: &BuffersSection) -> Option<Section> {
    let rels = b.relations.as_ref()?;
    let rows = rels
        .iter()
        .map(|r| {
            vec![
                plain(format!("{}.{}", r.schema, r.name)),
                plain(&r.kind),
                number(format_count(r.buffers)),
                size(Some(r.bytes)),
                share(r.share_of_cache),
                share(r.resident_ratio),
                size(r.size_bytes),
            ]
        })
        .collect();
    let mut footer = Vec::new();
    if let Some(n) = b.other_databases_buffers.filter(|&n| n > 0) {
        footer.push(format!("other databases: {} buffers", format_count(n)));
    }
    if let Some(n) = b.unresolved_buffers.filter(|&n| n > 0) {
        footer.push(format!(
            "{} buffers of files that map to no relation (dropped or rewritten)",
            format_count(n)
        ));
    }
    Some(Section {
        caption: Some(format!(
            "{} of {} relations of this database with buffers, most first",
            rels.len(),
            format_count(b.relations_total.unwrap_or(0))
        )),
        footer: (!footer.is_empty()).then(|| footer.join("; ")),
        ..Section::new(
            "Buffers by relation",
            vec![
                "Relation", "Kind", "Buffers", "Cached", "Of cache", "Resident", "Size",
            ],
            rows,
        )
    })
}

fn matviews(report: &Report) -> Section {
    let rows = report
        .materialized_views
        .iter()
        .map(|m| {
            let scanned = match (m.ever_scanned, m.populated) {
                (true, _) => "yes",
                (false, true) => "never",
                (false, false) => "never (not populated)",
            };
            vec![
                plain(&m.database),
                plain(format!("{}.{}", m.schema, m.name)),
                size(m.size_bytes),
                ratio(m.heap_hit_ratio),
                ratio(m.idx_hit_ratio),
                number(format_count(m.heap_blks_read)),
                number(format_count(m.seq_scan)),
                number(m.idx_scan.map_or_else(|| "—".to_owned(), format_count)),
                plain(scanned),
            ]
        })
        .collect();
    Section {
        caption: Some("largest first; scans over the statistics window".to_owned()),
        ..Section::new(
            "Materialized views",
            vec![
                "Database",
                "View",
                "Size",
                "Heap hit",
                "Index hit",
                "Heap blocks read",
                "Seq scans",
                "Index scans",
                "Ever scanned",
            ],
            rows,
        )
    }
}
