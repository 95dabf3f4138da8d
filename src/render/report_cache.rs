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

#[cfg(test)]
mod tests {
    use super::super::{json, markdown, table};
    use crate::diag::testdata::{self, EVIL_NAME};
    use crate::diag::{DiagOptions, Report, diagnose};
    use crate::facts::{
        BufferCacheStats, BufferRelations, BufferedRelation, MatviewStats, UsageCount,
    };

    /// The realistic snapshot with a buffer cache and two materialized views, one named
    /// with terminal escapes.
    fn report(relations: bool) -> Report {
        let mut snap = testdata::snapshot();
        snap.buffer_cache = Some(BufferCacheStats {
            extension_version: "1.3".to_owned(),
            block_size: 8192,
            buffers_total: 16_384,
            used: 12_000,
            dirty: 300,
            pinned: 2,
            usage_counts: (0..=5)
                .map(|n| UsageCount {
                    usage_count: n,
                    buffers: if n == 0 { 4_384 + 2_000 } else { 2_000 },
                    dirty: 50,
                    pinned: 0,
                })
                .collect(),
            relations: relations.then(|| BufferRelations {
                top: vec![BufferedRelation {
                    relid: 16_401,
                    schema: "public".to_owned(),
                    name: EVIL_NAME.to_owned(),
                    kind: "r".to_owned(),
                    buffers: 9_000,
                    dirty: 10,
                    size_bytes: Some(9_000 * 8192 * 2),
                }],
                relations_total: 42,
                other_databases: 1_234,
                unresolved: 0,
            }),
        });
        snap.materialized_views = vec![MatviewStats {
            database: "app".to_owned(),
            relid: 16_500,
            schema: "report".to_owned(),
            name: format!("{EVIL_NAME}_mv"),
            size_bytes: Some(1 << 20),
            populated: true,
            heap_blks_hit: 99,
            heap_blks_read: 1,
            idx_blks_hit: None,
            idx_blks_read: None,
            seq_scan: 0,
            idx_scan: None,
        }];
        diagnose(&snap, &testdata::host_16g(), &DiagOptions::default())
    }

    #[test]
    fn table_and_markdown_show_the_cache_sections_escaped() {
        let r = report(true);
        let text = table(&r, false, None);
        for needle in [
            "Buffers (pg_buffercache 1.3",
            "12,000 (73.24%)",
            "Buffer usage counts",
            "Buffers by relation (1 of 42 relations",
            "other databases: 1,234 buffers",
            "54.93%", // 9,000 of 16,384 buffers
            "50.00%", // half of the relation resident
            "Materialized views",
            "never",
        ] {
            assert!(text.contains(needle), "{needle}\n{text}");
        }
        assert!(!text.contains('\u{1b}'), "names are sanitised");
        assert!(text.contains("evil\\x1b[31m"), "{text}");
        let md = markdown(&r);
        assert!(md.contains("### Buffers by relation"), "{md}");
        assert!(md.contains("### Materialized views"), "{md}");
        assert!(!md.contains(EVIL_NAME), "names are escaped");
        // Settings and findings still close the report.
        let buffers = md.find("### Buffers").unwrap();
        assert!(md.find("### Settings that differ").unwrap() > buffers);
    }

    #[test]
    fn without_the_scan_there_is_no_relation_table() {
        let r = report(false);
        let text = table(&r, false, None);
        assert!(text.contains("Buffer usage counts"));
        assert!(!text.contains("Buffers by relation"));
        let j: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert!(j["buffers"]["relations"].is_null());
        assert_eq!(j["buffers"]["usage_counts"].as_array().unwrap().len(), 6);
        assert_eq!(j["materialized_views"][0]["ever_scanned"], false);
    }

    #[test]
    fn sections_are_absent_without_facts() {
        let r = diagnose(
            &testdata::snapshot(),
            &testdata::host_16g(),
            &DiagOptions::default(),
        );
        let text = table(&r, false, None);
        assert!(!text.contains("Buffers") && !text.contains("Materialized views"));
        let j: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert!(j.get("buffers").is_none() && j.get("materialized_views").is_none());
    }
}
