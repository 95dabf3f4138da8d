//! `report` and `check` in the metrics formats through the real binary, from the committed
//! captures (no server): every capture's output passes promtool (0.0.4) and the strict
//! OpenMetrics parser, the numbers agree with `--format json`, names with quotes,
//! backslashes and newlines survive escaping, and `--textfile-dir` writes one whole file.
//! The live versions are in tests/metrics_live.rs.

mod support;
#[path = "support/metrics.rs"]
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

const MAJORS: [u32; 6] = [13, 14, 15, 16, 17, 18];

fn fixture(major: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/stats/pg{major}.json"))
}

/// Runs the binary in `cwd`; (exit code, stdout, stderr).
fn run(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = support::tool(cwd).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn report(stats: &Path, format: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let stats = stats.to_str().unwrap();
    let (code, out, err) = run(
        dir.path(),
        &[
            &["report", "--stats-from", stats, "--format", format][..],
            extra,
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{err}");
    out
}

/// The samples of family `name` in 0.0.4 text: label text → value.
fn series(text: &str, name: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, value) = rest.rsplit_once(' ')?;
            (labels.is_empty() || labels.starts_with('{'))
                .then(|| (labels.to_owned(), value.parse().unwrap()))
        })
        .collect()
}

#[test]
fn every_capture_passes_both_validators_in_report_and_check() {
    for major in MAJORS {
        let f = fixture(major);
        let prom = report(&f, "prometheus", &["--min-blocks", "0"]);
        if !validate::promtool_accepts(&prom) {
            return;
        }
        let om = report(&f, "openmetrics", &["--min-blocks", "0"]);
        let Some(samples) = validate::openmetrics_samples(&om) else {
            return;
        };
        assert!(
            samples
                .iter()
                .any(|(n, _, _)| n == "pg_stat_database_blks_hit_total")
        );
        for format in ["prometheus", "openmetrics"] {
            let dir = tempfile::tempdir().unwrap();
            let (code, out, err) = run(
                dir.path(),
                &[
                    "check",
                    "--stats-from",
                    f.to_str().unwrap(),
                    "--min-hit-ratio",
                    "99",
                    "--scope",
                    "database",
                    "--scope",
                    "tables",
                    "--format",
                    format,
                ],
            );
            assert!((0..=3).contains(&code), "pg{major} {format}: {code} {err}");
            if format == "prometheus" {
                validate::promtool_accepts(&out);
                // The exit code and the status series say the same.
                assert_eq!(
                    series(&out, "pgcache_tune_check_status")[""],
                    f64::from(code),
                    "pg{major}"
                );
            } else {
                validate::openmetrics_samples(&out);
            }
        }
    }
}

#[test]
fn metrics_agree_with_the_json_report() {
    let f = fixture(15);
    let json: Value =
        serde_json::from_str(&report(&f, "json", &["--min-blocks", "0", "--limit", "0"])).unwrap();
    let prom = report(&f, "prometheus", &["--min-blocks", "0", "--limit", "0"]);
    let hits = series(&prom, "pg_stat_database_blks_hit");
    let ratios = series(&prom, "pgcache_tune_hit_ratio");
    let dbs = json["databases"].as_array().unwrap();
    assert_eq!(hits.len(), dbs.len());
    for d in dbs {
        let name = d["name"].as_str().unwrap();
        let key = format!("{{datname=\"{name}\"}}");
        assert_eq!(hits[&key], d["blks_hit"].as_f64().unwrap(), "{name}");
        let ratio_key = format!("{{scope=\"database\",datname=\"{name}\"}}");
        // JSON may round the last digit; the metric is the same number.
        match (ratios.get(&ratio_key), d["hit_ratio"].as_f64()) {
            (Some(m), Some(j)) => assert!((m - j).abs() < 1e-9, "{name}: {m} vs {j}"),
            (m, j) => assert_eq!(m.copied(), j, "{name}"),
        }
    }
    let tables = json["tables"].as_array().unwrap();
    assert_eq!(
        series(&prom, "pg_statio_user_tables_heap_blocks_read").len(),
        tables.len()
    );
    let findings = json["findings"].as_array().unwrap();
    let counted: f64 = series(&prom, "pgcache_tune_finding").values().sum();
    assert_eq!(counted, findings.len() as f64);
}

#[test]
fn names_with_quotes_backslashes_and_newlines_stay_valid_and_round_trip() {
    let mut snap: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(15)).unwrap()).unwrap();
    let evil = "we\"ird\\table\nsecond line";
    snap["tables"][0]["name"] = Value::from(evil);
    let evil_schema = "sch\\\"ema";
    snap["tables"][0]["schema"] = Value::from(evil_schema);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil.json");
    std::fs::write(&path, serde_json::to_string(&snap).unwrap()).unwrap();
    let prom = report(&path, "prometheus", &["--min-blocks", "0", "--limit", "0"]);
    assert!(prom.contains("relname=\"we\\\"ird\\\\table\\nsecond line\""));
    if !validate::promtool_accepts(&prom) {
        return;
    }
    let om = report(&path, "openmetrics", &["--min-blocks", "0", "--limit", "0"]);
    let Some(samples) = validate::openmetrics_samples(&om) else {
        return;
    };
    let back = samples
        .iter()
        .find(|(n, l, _)| {
            n == "pg_statio_user_tables_heap_blocks_hit_total"
                && l.get("relname").map(String::as_str) == Some(evil)
        })
        .expect("the odd table, its name unescaped exactly");
    assert_eq!(back.1["schemaname"], evil_schema);
}

#[test]
fn textfile_dir_writes_one_whole_file_and_keeps_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("pgcache_tune.prom");
    std::fs::write(&target, "stale\n").unwrap();
    let d = dir.path().to_str().unwrap();
    let f = fixture(15);
    let (code, out, err) = run(
        dir.path(),
        &[
            "check",
            "--stats-from",
            f.to_str().unwrap(),
            "--min-hit-ratio",
            "50",
            "--format",
            "nagios",
            "--textfile-dir",
            d,
        ],
    );
    assert!((0..=3).contains(&code), "{err}");
    assert!(out.starts_with("PGCACHE"), "stdout keeps --format: {out}");
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(!text.contains("stale"));
    assert!(text.ends_with('\n'));
    assert_eq!(
        series(&text, "pgcache_tune_check_status")[""],
        f64::from(code)
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["pgcache_tune.prom"], "no temporary file left");
    validate::promtool_accepts(&text);

    let (code, out, _) = run(
        dir.path(),
        &[
            "report",
            "--stats-from",
            f.to_str().unwrap(),
            "--textfile-dir",
            d,
        ],
    );
    assert_eq!(code, 0);
    assert!(out.contains("Databases") || !out.is_empty());
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.contains("pg_stat_database_blks_hit{datname=\"work\"}"));
}

#[test]
fn bad_textfile_dir_and_redis_combination_are_usage_errors_with_nothing_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(15);
    let f = f.to_str().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, "").unwrap();
    for bad in [dir.path().join("missing"), file] {
        let b = bad.to_str().unwrap();
        for args in [
            vec!["report", "--stats-from", f, "--textfile-dir", b],
            vec![
                "check",
                "--stats-from",
                f,
                "--min-hit-ratio",
                "90",
                "--textfile-dir",
                b,
            ],
        ] {
            let (code, out, err) = run(dir.path(), &args);
            assert_eq!(code, 64, "{args:?}: {err}");
            assert_eq!(out, "");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.contains("--textfile-dir") && err.contains("directory"),
                "{err}"
            );
        }
    }
    let (code, out, err) = run(
        dir.path(),
        &[
            "report",
            "--stats-from",
            f,
            "--format",
            "openmetrics",
            "--redis",
            "redis://127.0.0.1:1",
        ],
    );
    assert_eq!(code, 64, "{err}");
    assert_eq!(out, "");
    assert!(err.contains("--redis"), "{err}");
}

#[test]
fn a_fleet_check_names_every_target_and_says_up_0_for_a_closed_port() {
    let dir = tempfile::tempdir().unwrap();
    let closed = support::free_port();
    let inv = dir.path().join("fleet.toml");
    std::fs::write(
        &inv,
        format!(
            "[defaults]\nlabels = {{ env = \"ci\" }}\nconnect_timeout = \"2s\"\n\n\
             [[target]]\nname = \"gone-a\"\nconnection = \"host=127.0.0.1 port={closed} dbname=a\"\n\n\
             [[target]]\nname = \"gone-b\"\nconnection = \"host=127.0.0.1 port={closed} dbname=b\"\n"
        ),
    )
    .unwrap();
    let inv = inv.to_str().unwrap();
    let out_dir = dir.path().join("textfile");
    std::fs::create_dir(&out_dir).unwrap();
    for format in ["prometheus", "openmetrics"] {
        let (code, out, err) = run(
            dir.path(),
            &[
                "check",
                "--targets",
                inv,
                "--min-hit-ratio",
                "90",
                "--format",
                format,
                "--textfile-dir",
                out_dir.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 3, "{err}");
        for name in ["gone-a", "gone-b"] {
            assert!(
                out.contains(&format!(
                    "pgcache_tune_up{{target=\"{name}\",env=\"ci\"}} 0\n"
                )),
                "{out}"
            );
            assert!(
                out.contains(&format!(
                    "pgcache_tune_check_status{{target=\"{name}\",env=\"ci\"}} 3\n"
                )),
                "{out}"
            );
        }
        if format == "prometheus" {
            validate::promtool_accepts(&out);
        } else {
            validate::openmetrics_samples(&out);
        }
        let file = std::fs::read_to_string(out_dir.join("pgcache_tune.prom")).unwrap();
        assert!(!file.contains("# EOF"), "the textfile is always 0.0.4");
        assert!(file.contains("pgcache_tune_up{target=\"gone-a\",env=\"ci\"} 0\n"));
    }
}
