use std::collections::HashSet;
use std::time::Duration;

use super::*;
use crate::diag::{DiagOptions, diagnose, testdata};

fn report() -> Report {
    diagnose(
        &testdata::snapshot(),
        &testdata::host_16g(),
        &DiagOptions::default(),
    )
}

fn single(report: &Report) -> MetricsTarget<'_> {
    MetricsTarget {
        target: None,
        labels: &[],
        up: true,
        duration: Duration::from_millis(250),
        report: Some(report),
        verdict: None,
    }
}

/// Sample lines (not comments).
fn samples(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

/// The value of the one sample whose line starts with `prefix`.
fn value(text: &str, prefix: &str) -> f64 {
    let hits: Vec<&str> = samples(text)
        .into_iter()
        .filter(|l| l.starts_with(prefix))
        .collect();
    assert_eq!(hits.len(), 1, "{prefix}: {hits:?}");
    hits[0].rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn postgres_exporter_names_carry_the_report_numbers() {
    let r = report();
    let text = render(&[single(&r)], MetricsFormat::Prometheus);
    let app = r.databases.iter().find(|d| d.name == "app").unwrap();
    assert_eq!(
        value(&text, "pg_stat_database_blks_hit{datname=\"app\"}"),
        app.blks_hit as f64
    );
    assert_eq!(
        value(&text, "pg_stat_database_blks_read{datname=\"app\"}"),
        app.blks_read as f64
    );
    let orders = r.tables.iter().find(|t| t.name == "orders").unwrap();
    assert_eq!(
        value(
            &text,
            "pg_statio_user_tables_heap_blocks_hit{datname=\"app\",schemaname=\"public\",relname=\"orders\"}"
        ),
        orders.heap_blks_hit as f64
    );
    assert_eq!(
        value(
            &text,
            "pgcache_tune_hit_ratio{scope=\"database\",datname=\"app\"}"
        ),
        app.hit_ratio.unwrap()
    );
    assert!(text.contains("# TYPE pg_stat_database_blks_hit counter\n"));
    assert!(
        !text.contains("pg_stat_database_blks_hit_total"),
        "0.0.4 keeps postgres_exporter's names"
    );
    assert!(text.contains("# TYPE pg_statio_user_indexes_idx_blks_hit_total counter\n"));
    assert!(
        !text.contains("target="),
        "single-target mode has no target label"
    );
    assert_eq!(value(&text, "pgcache_tune_up "), 1.0);
    assert_eq!(value(&text, "pgcache_tune_scrape_duration_seconds "), 0.25);
}

#[test]
fn live_settings_use_base_units_and_recommendations_sit_beside_them() {
    let r = report();
    let text = render(&[single(&r)], MetricsFormat::Prometheus);
    let sb = r
        .settings
        .iter()
        .find(|s| s.name == "shared_buffers")
        .unwrap();
    let live_kb = crate::units::parse_pg_size_kb(sb.live.as_deref().unwrap(), 1).unwrap() * 1024.0;
    assert_eq!(value(&text, "pg_settings_shared_buffers_bytes "), live_kb);
    let rec_kb = crate::units::parse_pg_size_kb(&sb.recommended, 1).unwrap() * 1024.0;
    assert_eq!(
        value(
            &text,
            "pgcache_tune_setting_recommended_bytes{setting=\"shared_buffers\"}"
        ),
        rec_kb
    );
    let matches = value(
        &text,
        "pgcache_tune_setting_matches{setting=\"shared_buffers\"}",
    );
    assert_eq!(matches, f64::from(sb.status == diag::SettingStatus::Equal));
}

#[test]
fn findings_sharing_a_code_are_one_series_with_their_count() {
    let mut r = report();
    let first = r.findings[0].clone();
    r.findings.push(first.clone());
    let text = render(&[single(&r)], MetricsFormat::Prometheus);
    let same = r
        .findings
        .iter()
        .filter(|f| f.code == first.code && f.severity == first.severity)
        .count();
    let prefix = format!(
        "pgcache_tune_finding{{code=\"{}\",severity=\"{}\"}}",
        first.code,
        first.severity.as_str()
    );
    assert_eq!(value(&text, &prefix), same as f64);
    assert!(same >= 2);
}

#[test]
fn no_series_appears_twice_and_no_sample_has_a_timestamp() {
    let r = report();
    let text = render(&[single(&r)], MetricsFormat::Prometheus);
    let mut seen = HashSet::new();
    for line in samples(&text) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(seen.insert(series.to_owned()), "twice: {series}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
        // A timestamp would be a third field after the closing brace.
        let after = series.rsplit_once('}').map_or(series, |(_, a)| a);
        assert!(!after.contains(' '), "{line}");
    }
}

#[test]
fn fleet_mode_labels_every_series_and_groups_families_across_targets() {
    let r = report();
    let labels = vec![
        ("env".to_owned(), "prod".to_owned()),
        ("datname".to_owned(), "clash".to_owned()),
        ("bad-name".to_owned(), "x".to_owned()),
    ];
    let targets = [
        MetricsTarget {
            target: Some("db1"),
            labels: &labels,
            ..single(&r)
        },
        MetricsTarget {
            target: Some("db2"),
            labels: &[],
            up: false,
            duration: Duration::from_secs(5),
            report: None,
            verdict: None,
        },
        MetricsTarget {
            target: Some("db3"),
            ..single(&r)
        },
    ];
    for format in [MetricsFormat::Prometheus, MetricsFormat::OpenMetrics] {
        let text = render(&targets, format);
        for line in samples(&text) {
            assert!(line.contains("{target=\"db"), "{line}");
        }
        // One HELP and one TYPE per family, and a family's samples are contiguous.
        let mut types = HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap().to_owned();
                assert!(types.insert(name.clone()), "TYPE twice: {name}");
            }
        }
        let mut done = HashSet::new();
        let mut current = "";
        for line in samples(&text) {
            let name = line.split(['{', ' ']).next().unwrap();
            if name != current {
                assert!(!done.contains(name), "{name} interleaved");
                done.insert(current);
                current = name;
            }
        }
        assert_eq!(text.matches("# HELP pg_stat_database_blks_hit ").count(), 1);
        let up: Vec<&str> = samples(&text)
            .into_iter()
            .filter(|l| l.starts_with("pgcache_tune_up{"))
            .collect();
        assert_eq!(
            up,
            [
                "pgcache_tune_up{target=\"db1\",env=\"prod\"} 1",
                "pgcache_tune_up{target=\"db2\"} 0",
                "pgcache_tune_up{target=\"db3\"} 1"
            ]
        );
        assert!(
            !text.contains("clash"),
            "a clashing inventory label is left out"
        );
        assert!(!text.contains("bad-name"));
    }
}

#[test]
fn label_values_are_escaped() {
    let mut r = report();
    r.tables[0].name = "we\"ird\\name\nnext".to_owned();
    let text = render(&[single(&r)], MetricsFormat::Prometheus);
    assert!(
        text.contains("relname=\"we\\\"ird\\\\name\\nnext\""),
        "{text}"
    );
    for line in text.lines() {
        assert!(!line.starts_with("next"), "a raw newline split a sample");
    }
}

#[test]
fn openmetrics_suffixes_counters_declares_units_and_ends_with_eof() {
    let r = report();
    let text = render(&[single(&r)], MetricsFormat::OpenMetrics);
    assert!(text.ends_with("# EOF\n"));
    assert_eq!(text.matches("# EOF").count(), 1);
    assert!(text.contains("# TYPE pg_stat_database_blks_hit counter\n"));
    assert!(text.contains("\npg_stat_database_blks_hit_total{datname=\"app\"} "));
    assert!(!text.contains("\npg_stat_database_blks_hit{"));
    // A counter already named `_total` is not suffixed twice; its family drops the suffix.
    assert!(text.contains("# TYPE pg_statio_user_indexes_idx_blks_hit counter\n"));
    assert!(text.contains("\npg_statio_user_indexes_idx_blks_hit_total{"));
    assert!(!text.contains("_total_total"));
    assert!(text.contains(
        "# TYPE pgcache_tune_scrape_duration_seconds gauge\n# UNIT pgcache_tune_scrape_duration_seconds seconds\n# HELP"
    ));
    let prom = render(&[single(&r)], MetricsFormat::Prometheus);
    assert!(!prom.contains("# EOF") && !prom.contains("# UNIT"));
}

#[test]
fn a_verdict_gives_state_and_per_item_ratios() {
    let counters = vec![gate::Counter {
        scope: gate::Scope::Tables,
        database: "app".to_owned(),
        schema: Some("public".to_owned()),
        name: "orders".to_owned(),
        hits: 900,
        reads: 100_000,
        oid: Some(1),
        database_oid: Some(2),
        recreated: false,
    }];
    let w = gate::Window {
        kind: gate::WindowKind::Interval,
        start_epoch: 100.0,
        end_epoch: 130.0,
    };
    let opts = gate::GateOptions {
        thresholds: gate::Thresholds {
            warning: None,
            critical: Some(99.0),
        },
        min_blocks: 10,
        on_insufficient: gate::OnInsufficient::Ok,
        include: vec![],
        exclude: vec![],
        overrides: vec![],
    };
    let v = gate::judge(counters, w, &opts);
    let t = MetricsTarget {
        target: None,
        labels: &[],
        up: true,
        duration: Duration::ZERO,
        report: None,
        verdict: Some(&v),
    };
    let text = render(&[t], MetricsFormat::Prometheus);
    assert_eq!(
        value(&text, "pgcache_tune_check_status "),
        f64::from(v.status.exit().code())
    );
    assert_eq!(v.status, gate::Status::Critical);
    let labels = "{scope=\"tables\",datname=\"app\",schemaname=\"public\",relname=\"orders\"}";
    assert_eq!(
        value(&text, &format!("pgcache_tune_check_hit_ratio{labels}")),
        900.0 / 100_900.0
    );
    assert_eq!(
        value(&text, &format!("pgcache_tune_check_item_status{labels}")),
        2.0
    );
    assert_eq!(value(&text, "pgcache_tune_check_window_seconds "), 30.0);
}

#[test]
fn special_floats_use_the_formats_spelling() {
    assert_eq!(Value::Float(f64::INFINITY).to_string(), "+Inf");
    assert_eq!(Value::Float(f64::NEG_INFINITY).to_string(), "-Inf");
    assert_eq!(Value::Float(f64::NAN).to_string(), "NaN");
    assert_eq!(Value::Int(i64::MAX).to_string(), "9223372036854775807");
}

#[test]
fn negotiation_gives_openmetrics_only_when_asked_for_it() {
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    assert_eq!(negotiate(Some(prometheus)), MetricsFormat::OpenMetrics);
    assert_eq!(negotiate(None), MetricsFormat::Prometheus);
    assert_eq!(negotiate(Some("*/*")), MetricsFormat::Prometheus);
    assert_eq!(
        negotiate(Some(
            "text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5"
        )),
        MetricsFormat::Prometheus
    );
    assert_eq!(
        negotiate(Some("application/openmetrics-text; q=0")),
        MetricsFormat::Prometheus
    );
    assert_eq!(
        negotiate(Some("Application/OpenMetrics-Text")),
        MetricsFormat::OpenMetrics
    );
    assert_eq!(
        negotiate(Some("application/openmetrics-text;q=bogus")),
        MetricsFormat::Prometheus
    );
}
