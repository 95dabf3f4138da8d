//! `check` through the binary without a server: the current sample comes from a file
//! (`--stats-from`, hidden) and the earlier one from `--since`, both made in the test by
//! editing the pg15 capture, so every window is known to the block. Covers each verdict and
//! exit code, every way a window can be unusable, bad flags, bad snapshot files, the config
//! file, and the machine formats (JSON fields, well-formed JUnit, Nagios perfdata).
//!
//! Every command runs in a fresh temporary directory, so no `pgcache-tune.toml` lying
//! around can change a result, and without PG* variables.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// `--scope` for every scope.
const ALL_SCOPES: [&str; 6] = [
    "--scope", "database", "--scope", "tables", "--scope", "indexes",
];

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/stats/pg15.json");

/// What one run produced.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `pgcache-tune check ARGS` in `cwd`.
fn check(cwd: &Path, args: &[&str]) -> Run {
    let out = support::tool(cwd).arg("check").args(args).output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "check {args:?} panicked: {}",
        run.stderr
    );
    run
}

/// [`check`] with `--format json`, parsed; the exit code must match the JSON's.
fn check_json(cwd: &Path, args: &[&str]) -> Value {
    let run = check(cwd, &[args, &["--format", "json"]].concat());
    let doc: Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {run:?}"));
    assert_eq!(doc["exit_code"], run.code, "{args:?}: {run:?}");
    doc
}

/// The `hit_ratio` of every item, read from the pretty JSON text with the standard library's
/// correctly rounded parser: serde_json's default float parsing may be one ulp off, which
/// would hide (or fake) an exact mismatch.
fn raw_ratios(text: &str) -> Vec<Option<f64>> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("\"hit_ratio\": "))
        .map(|v| {
            let v = v.trim_end_matches(',');
            (v != "null").then(|| v.parse().unwrap())
        })
        .collect()
}

/// A scratch directory holding the snapshot files of one test.
struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `doc` as `name` and returns its absolute path as text.
    fn write(&self, name: &str, doc: &Value) -> String {
        self.write_text(name, &serde_json::to_string_pretty(doc).unwrap())
    }

    fn write_text(&self, name: &str, text: &str) -> String {
        let path: PathBuf = self.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn check(&self, args: &[&str]) -> Run {
        check(self.path(), args)
    }

    fn json(&self, args: &[&str]) -> Value {
        check_json(self.path(), args)
    }
}

/// The pg15 capture: databases idle, postgres, quiet, template0, template1, work (connected);
/// tables and indexes of work.
fn fixture() -> Value {
    serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap()
}

/// The capture with lifetime statistics old and big enough to judge (the capture itself
/// was taken right after initdb: young by diag's rule).
fn mature() -> Value {
    let mut snap = fixture();
    let now = snap["server"]["now_epoch"].as_f64().unwrap();
    snap["server"]["start_epoch"] = json!(now - 86_400.0);
    bump_db(&mut snap, "work", 200_000, 0);
    snap
}

/// `base` sampled `secs` later, with no counter moved yet.
fn later(base: &Value, secs: f64) -> Value {
    let mut v = base.clone();
    let now = v["server"]["now_epoch"].as_f64().unwrap();
    v["server"]["now_epoch"] = json!(now + secs);
    v
}

fn add(value: &mut Value, delta: i64) {
    *value = json!(value.as_i64().unwrap() + delta);
}

fn row<'a>(doc: &'a mut Value, list: &str, name: &str) -> &'a mut Value {
    doc[list]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no {list} row {name}"))
}

fn bump_db(doc: &mut Value, name: &str, hits: i64, reads: i64) {
    let r = row(doc, "databases", name);
    add(&mut r["blks_hit"], hits);
    add(&mut r["blks_read"], reads);
}

fn bump_table(doc: &mut Value, name: &str, hits: i64, reads: i64) {
    let r = row(doc, "tables", name);
    add(&mut r["heap_blks_hit"], hits);
    add(&mut r["heap_blks_read"], reads);
}

fn bump_index(doc: &mut Value, name: &str, hits: i64, reads: i64) {
    let r = row(doc, "indexes", name);
    add(&mut r["idx_blks_hit"], hits);
    add(&mut r["idx_blks_read"], reads);
}

/// The display label of a JSON item: `db` or `db.schema.name`.
fn label(item: &Value) -> String {
    match item["schema"].as_str() {
        Some(schema) => format!(
            "{}.{schema}.{}",
            item["database"].as_str().unwrap(),
            item["name"].as_str().unwrap()
        ),
        None => item["name"].as_str().unwrap().to_string(),
    }
}

fn items(doc: &Value) -> &Vec<Value> {
    doc["items"].as_array().unwrap()
}

fn item<'a>(doc: &'a Value, wanted: &str) -> &'a Value {
    items(doc)
        .iter()
        .find(|i| label(i) == wanted)
        .unwrap_or_else(|| panic!("no item {wanted} in {doc:#}"))
}

/// A window of 60 s after the capture: work 9,900 hits + 100 reads (99% exactly), postgres
/// 5,000 hits, quiet 50 hits (under the floor); with_idx heap 500 + 1,500 (25%), no_idx
/// heap 3,000 hits, with_idx_pkey 2,000 hits.
fn standard_window(lab: &Lab) -> (String, String) {
    let before = fixture();
    let mut after = later(&before, 60.0);
    bump_db(&mut after, "work", 9_900, 100);
    bump_db(&mut after, "postgres", 5_000, 0);
    bump_db(&mut after, "quiet", 50, 0);
    bump_table(&mut after, "with_idx", 500, 1_500);
    bump_table(&mut after, "no_idx", 3_000, 0);
    bump_index(&mut after, "with_idx_pkey", 2_000, 0);
    (
        lab.write("before.json", &before),
        lab.write("after.json", &after),
    )
}

#[test]
fn thresholds_floors_and_exit_codes_over_a_window() {
    let lab = Lab::new();
    let (before, after) = standard_window(&lab);
    let base = ["--since", &before, "--stats-from", &after];
    let with = |extra: &[&str]| lab.check(&[&base[..], extra].concat());

    // Exactly at the threshold is not below it.
    let r = with(&["--min-hit-ratio", "99"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 1, "only the summary: {r:?}");
    assert!(
        r.stdout
            .starts_with("OK: 0 of 2 judged items below threshold, 2 with too little traffic"),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("; window of 1min since the snapshot of "),
        "{r:?}"
    );
    assert!(r.stderr.is_empty(), "{r:?}");

    let r = with(&["--min-hit-ratio", "99.5%"]);
    assert_eq!(r.code, 2, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "CRITICAL database work: hit ratio 99.00% (hits 9,900, reads 100), critical 99.5%",
            lines[1]
        ],
        "one line per failing item, then the summary"
    );
    assert!(lines[1].starts_with("CRITICAL: 1 of 2 judged items below threshold"));
    assert!(lines[1].contains("worst work 99.00% (critical 99.5%)"));

    let r = with(&["--warning", "99.5", "--critical", "95"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .starts_with("WARNING database work: hit ratio 99.00%"),
        "{r:?}"
    );

    // Every item under the floor: nothing to judge.
    let r = with(&["--min-hit-ratio", "99", "--min-blocks", "20000"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(
        r.stdout,
        "UNKNOWN: insufficient data: no item touched at least 20000 blocks in the window (most: 10000)\n"
    );

    // Items under the floor count as what --on-insufficient says.
    let r = with(&["--min-hit-ratio", "90", "--on-insufficient", "critical"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout
            .contains("CRITICAL database quiet: insufficient data (50 blocks touched, floor 1000)"),
        "{r:?}"
    );
    let r = with(&["--min-hit-ratio", "90", "--on-insufficient", "unknown"]);
    assert_eq!(r.code, 3, "{r:?}");
    let r = with(&["--min-hit-ratio", "90", "--on-insufficient", "ok"]);
    assert_eq!(r.code, 0, "{r:?}");

    // Patterns and --only-connected pick the items.
    let doc = lab.json(&[&base[..], &["--min-hit-ratio", "90", "--include", "work"]].concat());
    let labels: Vec<String> = items(&doc).iter().map(label).collect();
    assert_eq!(labels, ["work"]);
    let doc = lab.json(&[&base[..], &["--min-hit-ratio", "90", "--only-connected"]].concat());
    let labels: Vec<String> = items(&doc).iter().map(label).collect();
    assert_eq!(labels, ["work"]);
    let doc = lab.json(
        &[
            &base[..],
            &[
                "--min-hit-ratio",
                "90",
                "--exclude",
                "work",
                "--exclude",
                "~^post",
            ],
        ]
        .concat(),
    );
    assert_eq!(doc["status"], "UNKNOWN", "{doc:#}");
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .starts_with("insufficient data")
    );
    let doc = lab.json(
        &[
            &base[..],
            &["--min-hit-ratio", "90", "--include", "nosuchdb"],
        ]
        .concat(),
    );
    assert_eq!(doc["status"], "UNKNOWN");
    assert_eq!(doc["reason"], "no item matched the scopes and patterns");
}

#[test]
fn tables_and_indexes_are_named_in_the_verdict() {
    let lab = Lab::new();
    let (before, after) = standard_window(&lab);
    let base = [
        "--since",
        &before,
        "--stats-from",
        &after,
        "--min-hit-ratio",
        "90",
    ];
    let with = |extra: &[&str]| lab.check(&[&base[..], extra].concat());

    let r = with(&["--scope", "tables"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 2, "{r:?}");
    assert!(
        r.stdout.starts_with(
            "CRITICAL table work.public.with_idx: hit ratio 25.00% (hits 500, reads 1,500), critical 90%\n"
        ),
        "{r:?}"
    );

    let r = with(&["--scope", "indexes"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("worst work.public.with_idx_pkey 100.00%"),
        "{r:?}"
    );

    let doc = lab.json(&[&base[..], &["--scope", "tables", "--scope", "indexes"]].concat());
    assert_eq!(doc["status"], "CRITICAL");
    let scopes: std::collections::BTreeSet<&str> = items(&doc)
        .iter()
        .map(|i| i["scope"].as_str().unwrap())
        .collect();
    assert_eq!(scopes, ["indexes", "tables"].into());
    assert_eq!(item(&doc, "work.public.with_idx")["status"], "CRITICAL");
    assert_eq!(item(&doc, "work.public.no_idx")["status"], "OK");

    // Patterns: plain names, schema. prefixes and ~regex.
    let all = [
        "work.other.odd|name",
        "work.public.idx_no_toast",
        "work.public.mv",
        "work.public.no_idx",
        "work.public.toasted",
        "work.public.with_idx",
    ];
    let without = |gone: &[&str]| -> Vec<String> {
        all.iter()
            .filter(|l| !gone.contains(l))
            .map(ToString::to_string)
            .collect()
    };
    for (flag, pattern, status, expected) in [
        (
            "--exclude",
            "public.with_idx",
            0,
            without(&["work.public.with_idx"]),
        ),
        (
            "--exclude",
            "with_idx",
            0,
            without(&["work.public.with_idx"]),
        ),
        ("--exclude", "other.", 2, without(&["work.other.odd|name"])),
        ("--include", "public.", 2, without(&["work.other.odd|name"])),
        (
            "--include",
            "~^public\\.no_",
            0,
            vec!["work.public.no_idx".to_string()],
        ),
        ("--include", "~^(other|public)\\.", 2, without(&[])),
    ] {
        let args = [&base[..], &["--scope", "tables", flag, pattern]].concat();
        assert_eq!(lab.check(&args).code, status, "{flag} {pattern}");
        let mut labels: Vec<String> = items(&lab.json(&args)).iter().map(label).collect();
        labels.sort();
        assert_eq!(labels, expected, "{flag} {pattern}");
    }
    // Only the other schema: its one table had no traffic.
    let r = with(&["--scope", "tables", "--include", "other."]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.starts_with("UNKNOWN: insufficient data"), "{r:?}");
}

#[test]
fn the_judged_window_is_the_difference_of_the_two_files() {
    let lab = Lab::new();
    let before = fixture();
    let mut after = later(&before, 3_723.5);
    for (i, name) in ["idle", "postgres", "quiet", "template1", "work"]
        .into_iter()
        .enumerate()
    {
        let i = i64::try_from(i).unwrap();
        bump_db(&mut after, name, 1_234 * i + 7, 31 * i);
    }
    bump_table(&mut after, "with_idx", 77_777, 3_333);
    bump_table(&mut after, "no_idx", 0, 4_321);
    bump_table(&mut after, "toasted", 1, 0);
    bump_index(&mut after, "with_idx_pkey", 12_345, 678);
    bump_index(&mut after, "toasted_pkey", 999, 1);
    let b = lab.write("before.json", &before);
    let a = lab.write("after.json", &after);
    let args = [
        "--since",
        &b,
        "--stats-from",
        &a,
        "--scope",
        "database",
        "--scope",
        "tables",
        "--scope",
        "indexes",
        "--min-blocks",
        "0",
        "--min-hit-ratio",
        "0",
        "--include-templates",
    ];
    let doc = lab.json(&args);
    // Without the opt-in, initdb's template databases are left out, and only they.
    let plain = lab.json(&args[..args.len() - 1]);
    let names = |d: &Value| items(d).iter().map(label).collect::<Vec<_>>();
    let mut without: Vec<String> = names(&doc)
        .into_iter()
        .filter(|l| l != "template0" && l != "template1")
        .collect();
    without.sort();
    let mut got = names(&plain);
    got.sort();
    assert_eq!(got, without);
    assert!(names(&doc).contains(&"template1".to_string()));
    let ratios = raw_ratios(
        &lab.check(&[&args[..], &["--format", "json"]].concat())
            .stdout,
    );

    // Every item of the later file, with after − before computed here from the files.
    let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let pairs = [
        ("databases", "blks_hit", "blks_read"),
        ("tables", "heap_blks_hit", "heap_blks_read"),
        ("indexes", "idx_blks_hit", "idx_blks_read"),
    ];
    for (list, hit, read) in pairs {
        for (x, y) in after[list]
            .as_array()
            .unwrap()
            .iter()
            .zip(before[list].as_array().unwrap())
        {
            assert_eq!(x["name"], y["name"]);
            let key = if list == "databases" {
                x["name"].as_str().unwrap().to_string()
            } else {
                format!(
                    "work.{}.{}",
                    x["schema"].as_str().unwrap(),
                    x["name"].as_str().unwrap()
                )
            };
            let d = |f: &str| x[f].as_i64().unwrap() - y[f].as_i64().unwrap();
            expected.insert(key, (d(hit), d(read)));
        }
    }
    let got: BTreeMap<String, (i64, i64)> = items(&doc)
        .iter()
        .map(|i| {
            (
                label(i),
                (i["hits"].as_i64().unwrap(), i["reads"].as_i64().unwrap()),
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(ratios.len(), items(&doc).len());
    for (i, ratio) in items(&doc).iter().zip(ratios) {
        let (h, r) = (i["hits"].as_i64().unwrap(), i["reads"].as_i64().unwrap());
        if h + r == 0 {
            assert_eq!(ratio, None, "no I/O has no ratio: {i}");
            assert_eq!(i["insufficient"], true);
        } else {
            #[allow(clippy::cast_precision_loss)]
            let by_hand = h as f64 / (h as f64 + r as f64);
            assert_eq!(ratio, Some(by_hand), "{i}");
        }
    }
    let w = &doc["window"];
    assert_eq!(w["kind"], "since");
    assert_eq!(w["start_epoch"], before["server"]["now_epoch"]);
    assert_eq!(w["end_epoch"], after["server"]["now_epoch"]);
    let secs = w["seconds"].as_f64().unwrap();
    assert!((secs - 3_723.5).abs() < 1e-6, "{secs}");
}

#[test]
fn the_lifetime_window_says_so_and_starts_at_the_latest_reset() {
    let lab = Lab::new();
    let mut snap = fixture();
    let now = snap["server"]["now_epoch"].as_f64().unwrap();
    let start = now - 86_400.0 * 3.0;
    snap["server"]["start_epoch"] = json!(start);
    row(&mut snap, "databases", "work")["stats_reset_epoch"] = json!(now - 7_200.0);
    row(&mut snap, "databases", "quiet")["stats_reset_epoch"] = json!(now - 60.0);
    // Enough traffic that the statistics are not young by diag's rule.
    bump_db(&mut snap, "work", 200_000, 0);
    let f = lab.write("now.json", &snap);

    let r = lab.check(&[
        "--stats-from",
        &f,
        "--min-hit-ratio",
        "98",
        "--include",
        "work",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("lifetime window of 2h (since "), "{r:?}");
    assert!(
        r.stdout
            .contains("the last statistics reset or server start")
    );
    // quiet is not judged, so its later reset does not shorten the window.
    let doc = lab.json(&[
        "--stats-from",
        &f,
        "--min-hit-ratio",
        "98",
        "--include",
        "work",
    ]);
    assert_eq!(doc["window"]["kind"], "lifetime");
    assert_eq!(
        doc["window"]["start_epoch"].as_f64().unwrap(),
        now - 7_200.0
    );
    let doc = lab.json(&[
        "--stats-from",
        &f,
        "--min-hit-ratio",
        "98",
        "--include",
        "idle",
    ]);
    assert_eq!(doc["window"]["start_epoch"].as_f64().unwrap(), start);
}

/// Turns the later sample into one that cannot be compared with the earlier one.
type Spoil = fn(&mut Value, &mut Value);

#[test]
fn unusable_windows_are_unknown_with_a_one_line_reason() {
    let cases: &[(&str, Spoil, &[&str], &str)] = &[
        (
            "stats reset",
            |_, a| row(a, "databases", "work")["stats_reset_epoch"] = json!(1_795_736_400.0),
            &[],
            "statistics of database work were reset between the two samples",
        ),
        (
            "second stats reset",
            |b, a| {
                row(b, "databases", "quiet")["stats_reset_epoch"] = json!(1_795_700_000.0);
                row(a, "databases", "quiet")["stats_reset_epoch"] = json!(1_795_736_400.0);
            },
            &[],
            "statistics of database quiet were reset",
        ),
        (
            "other cluster",
            |_, a| a["server"]["system_identifier"] = json!("7712628836564004768"),
            &[],
            "the two samples come from different servers (system identifier ",
        ),
        (
            "restart",
            |_, a| a["server"]["start_epoch"] = json!(1_795_736_390.0),
            &[],
            "the server restarted between the two samples",
        ),
        (
            "table counters backwards",
            |_, a| bump_table(a, "with_idx", -50_010, 0),
            &["--scope", "tables"],
            "counters of table work.public.with_idx went backwards",
        ),
        (
            "index counters backwards",
            |_, a| bump_index(a, "with_idx_pkey", 0, -11),
            &["--scope", "indexes"],
            "counters of index work.public.with_idx_pkey went backwards",
        ),
        (
            "database counters backwards",
            |_, a| bump_db(a, "postgres", -1_000, 0),
            &[],
            "counters of database postgres went backwards",
        ),
        (
            "snapshot newer than now",
            |_, a| a["server"]["now_epoch"] = json!(1_795_736_000.0),
            &[],
            "the snapshot is newer than the current sample",
        ),
        (
            "tables of another database",
            |_, a| a["server"]["database"] = json!("quiet"),
            &["--scope", "tables"],
            "the snapshot holds the tables of database work, but this check is connected to quiet",
        ),
    ];
    let lab = Lab::new();
    for (what, spoil, extra, reason) in cases {
        let mut before = fixture();
        let mut after = later(&before, 30.0);
        // Plenty of traffic, so only the spoiling can make the result UNKNOWN.
        bump_db(&mut after, "work", 50_000, 10);
        bump_table(&mut after, "with_idx", 50_000, 10);
        bump_index(&mut after, "with_idx_pkey", 50_000, 10);
        spoil(&mut before, &mut after);
        let b = lab.write("before.json", &before);
        let a = lab.write("after.json", &after);
        let args = [
            &[
                "--since",
                b.as_str(),
                "--stats-from",
                &a,
                "--min-hit-ratio",
                "99",
            ][..],
            extra,
        ]
        .concat();

        let r = lab.check(&args);
        assert_eq!(r.code, 3, "{what}: {r:?}");
        assert!(r.stderr.is_empty(), "{what}: {r:?}");
        assert_eq!(r.stdout.lines().count(), 1, "{what}: {r:?}");
        assert!(
            r.stdout.starts_with(&format!("UNKNOWN: {reason}")),
            "{what}: {r:?}"
        );

        let doc = lab.json(&args);
        assert_eq!(doc["status"], "UNKNOWN", "{what}");
        assert!(
            doc["items"].as_array().unwrap().is_empty(),
            "{what}: {doc:#}"
        );
        assert!(
            doc["reason"].as_str().unwrap().starts_with(reason),
            "{what}"
        );

        let r = lab.check(&[&args[..], &["--format", "nagios"]].concat());
        assert_eq!(r.code, 3, "{what}: {r:?}");
        assert_eq!(r.stdout.lines().count(), 1);
        assert!(
            r.stdout
                .starts_with(&format!("PGCACHE_TUNE UNKNOWN - {reason}")),
            "{what}: {r:?}"
        );
        assert!(!r.stdout.contains('|'), "no perfdata without items: {r:?}");

        let r = lab.check(&[&args[..], &["--format", "junit"]].concat());
        assert_eq!(r.code, 3);
        let elements = well_formed_xml(&r.stdout);
        let errors: Vec<_> = elements.iter().filter(|e| e.name == "error").collect();
        assert_eq!(errors.len(), 1, "{what}: {}", r.stdout);
        assert!(errors[0].attrs["message"].contains(reason), "{what}");
    }
}

#[test]
fn the_snapshot_may_come_from_another_database_for_the_database_scope() {
    // pg_stat_database is cluster-wide: which database each sample was taken from does not
    // matter for the database scope. A database created in the window counts from zero, one
    // dropped in it is not judged.
    let lab = Lab::new();
    let mut before = fixture();
    let mut after = later(&before, 30.0);
    before["server"]["database"] = json!("postgres");
    bump_db(&mut after, "work", 9_000, 1_000);
    let mut fresh = row(&mut after, "databases", "idle").clone();
    fresh["name"] = json!("fresh");
    fresh["blks_hit"] = json!(4_000);
    fresh["blks_read"] = json!(0);
    after["databases"].as_array_mut().unwrap().push(fresh);
    after["databases"]
        .as_array_mut()
        .unwrap()
        .retain(|d| d["name"] != "quiet");
    let b = lab.write("before.json", &before);
    let a = lab.write("after.json", &after);
    let doc = lab.json(&["--since", &b, "--stats-from", &a, "--min-hit-ratio", "95"]);
    assert_eq!(doc["status"], "CRITICAL", "{doc:#}");
    assert_eq!(item(&doc, "work")["hit_ratio"], 0.9);
    assert_eq!(item(&doc, "fresh")["hits"], 4_000);
    assert!(items(&doc).iter().all(|i| i["name"] != "quiet"));
}

fn assert_one_line_error(r: &Run, code: i32, needle: &str, what: &str) {
    assert_eq!(r.code, code, "{what}: {r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{what}: {r:?}");
    assert!(r.stderr.starts_with("error: "), "{what}: {r:?}");
    assert!(
        r.stderr.contains(needle),
        "{what}: {:?} lacks {needle:?}",
        r.stderr
    );
}

#[test]
fn bad_snapshot_files_are_unknown_with_one_line() {
    let lab = Lab::new();
    let good = lab.write("good.json", &fixture());
    let full = std::fs::read_to_string(FIXTURE).unwrap();
    let mut no_databases = fixture();
    no_databases.as_object_mut().unwrap().remove("databases");
    let mut wrong_type = fixture();
    row(&mut wrong_type, "databases", "work")["blks_hit"] = json!("many");
    let mut negative = fixture();
    row(&mut negative, "databases", "work")["blks_read"] = json!(-5);
    let mut absurd = fixture();
    row(&mut absurd, "indexes", "with_idx_pkey")["idx_blks_hit"] = json!(i64::MAX);
    let mut negative_toast = fixture();
    row(&mut negative_toast, "tables", "toasted")["toast_blks_read"] = json!(-1);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "negative counter",
            lab.write("negative.json", &negative),
            "\"work\" blks_read is -5; a block counter is from 0 to",
        ),
        (
            "absurd counter",
            lab.write("absurd.json", &absurd),
            "\"public.with_idx_pkey\" idx_blks_hit is 9223372036854775807",
        ),
        (
            "negative optional counter",
            lab.write("negtoast.json", &negative_toast),
            "\"public.toasted\" toast_blks_read is -1",
        ),
        (
            "truncated",
            lab.write_text("truncated.json", &full[..full.len() / 2]),
            "is not valid JSON",
        ),
        (
            "malformed",
            lab.write_text("malformed.json", "{\"format\": 1, \"server\": }"),
            "is not valid JSON",
        ),
        (
            "empty",
            lab.write_text("empty.json", ""),
            "is not valid JSON",
        ),
        (
            "not an object",
            lab.write_text("array.json", "[1, 2]"),
            "is not valid JSON",
        ),
        (
            "no format",
            lab.write_text("noformat.json", "{\"databases\": []}"),
            "no \"format\" field",
        ),
        (
            "future format",
            lab.write_text(
                "future.json",
                &full.replacen("\"format\": 1", "\"format\": 2", 1),
            ),
            "written by a newer version",
        ),
        (
            "missing field",
            lab.write("nodbs.json", &no_databases),
            "missing field `databases`",
        ),
        (
            "wrong type",
            lab.write("wrongtype.json", &wrong_type),
            "is not a valid snapshot",
        ),
        (
            "directory",
            {
                let d = lab.path().join("adir.json");
                std::fs::create_dir(&d).unwrap();
                d.to_str().unwrap().to_string()
            },
            "is a directory",
        ),
        (
            "missing",
            lab.path().join("nope.json").to_str().unwrap().to_string(),
            "no such file or directory",
        ),
    ];
    for (what, bad, needle) in &cases {
        let name = Path::new(bad).file_name().unwrap().to_str().unwrap();
        for args in [
            ["--since", bad.as_str(), "--stats-from", &good],
            ["--since", &good, "--stats-from", bad.as_str()],
        ] {
            let args = [&args[..], &["--min-hit-ratio", "99"]].concat();
            let r = lab.check(&args);
            assert_one_line_error(&r, 3, needle, what);
            assert!(r.stderr.contains(name), "{what}: {r:?}");
            assert!(r.stdout.is_empty(), "{what}: {r:?}");
            let r = lab.check(&[&args[..], &["--format", "nagios"]].concat());
            assert_eq!(r.code, 3, "{what}: {r:?}");
            assert_eq!(r.stdout.lines().count(), 1, "{what}: {r:?}");
            assert!(
                r.stdout.starts_with("PGCACHE_TUNE UNKNOWN - "),
                "{what}: {r:?}"
            );
            assert!(r.stdout.contains(needle), "{what}: {r:?}");
        }
    }
}

#[test]
fn bad_flags_are_usage_errors() {
    let lab = Lab::new();
    let good = lab.write("good.json", &mature());
    let cases: &[(&[&str], &str)] = &[
        (&["--min-hit-ratio", "101"], "101 is out of range"),
        (&["--min-hit-ratio", "-1"], "-1 is out of range"),
        (&["--min-hit-ratio", "abc"], "'abc' is not a number"),
        (&["--min-hit-ratio", "NaN"], "is not a number"),
        (&["--min-hit-ratio", ""], "is not a number"),
        (&["--min-hit-ratio", "99%%"], "is not a number"),
        (
            &["--warning", "90", "--critical", "95"],
            "--warning 90 is below --critical 95",
        ),
        (
            &["--warning", "90", "--min-hit-ratio", "95"],
            "--warning 90 is below --min-hit-ratio 95",
        ),
        (
            &["--min-hit-ratio", "99", "--critical", "98"],
            "cannot be used with",
        ),
        (&[], "no threshold"),
        (&["--warning", "abc"], "--warning"),
        (
            &["--min-hit-ratio", "9", "--interval", "0s"],
            "out of range",
        ),
        (&["--min-hit-ratio", "9", "--interval", "-5s"], "--interval"),
        (
            &["--min-hit-ratio", "9", "--interval", "soon"],
            "--interval",
        ),
        (
            &[
                "--min-hit-ratio",
                "9",
                "--interval",
                "5s",
                "--since",
                "x.json",
            ],
            "cannot be used with",
        ),
        (
            &["--min-hit-ratio", "9", "--scope", "everything"],
            "possible values: database, tables, indexes",
        ),
        (
            &["--min-hit-ratio", "9", "--min-blocks", "-1"],
            "--min-blocks",
        ),
        (
            &["--min-hit-ratio", "9", "--on-insufficient", "maybe"],
            "possible values: ok, unknown, critical",
        ),
        (
            &["--min-hit-ratio", "9", "--include", "~("],
            "regular expression",
        ),
        (&["--min-hit-ratio", "9", "--exclude", ".x"], "empty schema"),
        (&["--min-hit-ratio", "9", "--format", "xml"], "--format"),
        (
            &["--min-hit-ratio", "9", "--config", "missing.toml"],
            "--config missing.toml: cannot read it",
        ),
        (&["--min-hit-ratio", "9", "--config", "."], "is a directory"),
        // A fraction typed for a percentage: refused with the percentage it meant.
        (&["--min-hit-ratio", "0.99"], "write 99 for 99%"),
        (&["--critical", "0.95"], "write 95 for 95%"),
        (
            &["--warning", "0.995", "--critical", "90"],
            "write 99.5 for 99.5%",
        ),
        (&["--critical", "0.5%"], "write 50 for 50%"),
        // The hidden capture flag is one sample: a window needs --since.
        (
            &["--min-hit-ratio", "9", "--interval", "5s"],
            "cannot be used with",
        ),
    ];
    for (args, needle) in cases {
        let r = lab.check(&[&["--stats-from", good.as_str()][..], args].concat());
        assert_one_line_error(&r, 64, needle, &format!("{args:?}"));
        assert!(r.stdout.is_empty(), "{args:?}: {r:?}");
    }
    // The accepted spellings of a percentage.
    for (text, value) in [
        ("99", 99.0),
        ("99.5", 99.5),
        ("99.5%", 99.5),
        ("0", 0.0),
        ("100", 100.0),
    ] {
        let doc = lab.json(&["--stats-from", &good, "--min-hit-ratio", text]);
        assert_eq!(
            item(&doc, "work")["thresholds"]["critical"].as_f64(),
            Some(value),
            "{text}"
        );
    }
}

#[test]
fn config_file_thresholds_scopes_overrides_and_precedence() {
    let lab = Lab::new();
    let (before, after) = standard_window(&lab);
    let base = ["--since", before.as_str(), "--stats-from", &after];
    let run = |cwd: &Path, extra: &[&str]| check_json(cwd, &[&base[..], extra].concat());

    // ./pgcache-tune.toml is read from the current directory.
    std::fs::write(
        lab.path().join("pgcache-tune.toml"),
        "# the team's gate\nwarning = \"99.9%\"\ncritical = 99.5\nscopes = [\"database\", \"tables\"]\n",
    )
    .unwrap();
    let doc = run(lab.path(), &[]);
    assert_eq!(doc["status"], "CRITICAL", "{doc:#}");
    let work = item(&doc, "work");
    assert_eq!(work["status"], "CRITICAL");
    assert_eq!(
        work["thresholds"],
        json!({"warning": 99.9, "critical": 99.5})
    );
    assert_eq!(item(&doc, "work.public.with_idx")["status"], "CRITICAL");
    assert_eq!(item(&doc, "postgres")["status"], "OK");

    // The same directory without the file: no threshold at all.
    let elsewhere = tempfile::tempdir().unwrap();
    let r = check(elsewhere.path(), &base);
    assert_one_line_error(&r, 64, "no threshold", "no config file");

    // Flags win over the file, each on its own.
    let doc = run(lab.path(), &["--min-hit-ratio", "90"]);
    assert_eq!(
        item(&doc, "work")["thresholds"],
        json!({"warning": 99.9, "critical": 90.0})
    );
    assert_eq!(item(&doc, "work")["status"], "WARNING");
    let doc = run(lab.path(), &["--scope", "indexes"]);
    assert!(
        items(&doc).iter().all(|i| i["scope"] == "indexes"),
        "{doc:#}"
    );
    let doc = run(lab.path(), &["--warning", "99", "--critical", "98"]);
    assert_eq!(doc["status"], "CRITICAL", "with_idx is still at 25%");
    assert_eq!(item(&doc, "work")["status"], "OK");
    // A flag that clashes with the file is named as a flag, the file's value as the file's.
    let r = check(lab.path(), &[&base[..], &["--warning", "99"]].concat());
    assert_one_line_error(
        &r,
        64,
        "--warning 99 is below critical = 99.5 in pgcache-tune.toml",
        "clash",
    );

    // --config FILE elsewhere replaces ./pgcache-tune.toml; one table gets its own threshold.
    let other = lab.path().join("gate.toml");
    std::fs::write(
        &other,
        "critical = 90\nscopes = [\"tables\"]\n\n[[override]]\nmatch = \"public.with_idx\"\ncritical = 20\n",
    )
    .unwrap();
    let other = other.to_str().unwrap();
    let doc = run(lab.path(), &["--config", other]);
    assert_eq!(doc["status"], "OK", "{doc:#}");
    assert!(items(&doc).iter().all(|i| i["scope"] == "tables"));
    let with_idx = item(&doc, "work.public.with_idx");
    assert_eq!(with_idx["thresholds"]["critical"], 20.0);
    assert_eq!(with_idx["status"], "OK");
    assert_eq!(
        item(&doc, "work.public.no_idx")["thresholds"]["critical"],
        90.0
    );
    // The command line wins over the file for the same key, psql-style: a flag replaces the
    // global threshold and the same key of every override (so a one-off run can tighten
    // the gate without editing the file)...
    let doc = run(lab.path(), &["--config", other, "--min-hit-ratio", "99"]);
    assert_eq!(
        item(&doc, "work.public.with_idx")["thresholds"]["critical"],
        99.0
    );
    assert_eq!(item(&doc, "work.public.with_idx")["status"], "CRITICAL");
    assert_eq!(
        item(&doc, "work.public.no_idx")["thresholds"]["critical"],
        99.0
    );
    // ...while a flag for another key leaves the override's own key alone.
    let doc = run(lab.path(), &["--config", other, "--warning", "95"]);
    assert_eq!(
        item(&doc, "work.public.with_idx")["thresholds"],
        json!({"warning": 95.0, "critical": 20.0})
    );
    // Without the override the same table fails.
    std::fs::write(
        lab.path().join("plain.toml"),
        "critical = 90\nscopes = [\"tables\"]\n",
    )
    .unwrap();
    let doc = run(lab.path(), &["--config", "plain.toml"]);
    assert_eq!(item(&doc, "work.public.with_idx")["status"], "CRITICAL");

    // An override can also lower the floor for one table.
    std::fs::write(
        lab.path().join("floor.toml"),
        "critical = 90\nscopes = [\"tables\"]\nmin_blocks = 100000\n[[override]]\nmatch = \"~with_idx$\"\nmin_blocks = 10\n",
    )
    .unwrap();
    let doc = run(lab.path(), &["--config", "floor.toml"]);
    assert_eq!(item(&doc, "work.public.with_idx")["insufficient"], false);
    assert_eq!(item(&doc, "work.public.no_idx")["insufficient"], true);
    assert_eq!(doc["status"], "CRITICAL");
    // --min-blocks on the command line wins over the override's floor too.
    let doc = run(
        lab.path(),
        &["--config", "floor.toml", "--min-blocks", "100000"],
    );
    assert_eq!(item(&doc, "work.public.with_idx")["min_blocks"], 100000);
    assert_eq!(item(&doc, "work.public.with_idx")["insufficient"], true);
}

#[test]
fn config_file_errors_name_the_file_the_line_and_the_key() {
    let lab = Lab::new();
    let good = lab.write("good.json", &fixture());
    let cases: &[(&str, &str)] = &[
        (
            "warning = 99\ncritcal = 95\n",
            "pgcache-tune.toml:2: unknown field `critcal`",
        ),
        (
            "critical = 90\n\n[[override]]\nmatch = \"x\"\nthreshold = 5\n",
            "pgcache-tune.toml:5: unknown field `threshold`",
        ),
        (
            "critical = 90\nmin_blocks = \"many\"\n",
            "pgcache-tune.toml:2: min_blocks: invalid type: string \"many\"",
        ),
        (
            "critical = true\n",
            "pgcache-tune.toml:1: critical: invalid type: boolean `true`",
        ),
        (
            "critical = 90\nscopes = \"tables\"\n",
            "pgcache-tune.toml:2: scopes: invalid type",
        ),
        (
            "critical = 90\nscopes = [\"everything\"]\n",
            "pgcache-tune.toml:2: scopes: unknown variant `everything`",
        ),
        (
            "critical = 101\n",
            "pgcache-tune.toml:1: critical: 101 is out of range",
        ),
        (
            "critical = 90\ninclude = [\"~(\"]\n",
            "pgcache-tune.toml:2: include: '~(' is not a valid regular expression",
        ),
        (
            "warning = 90\ncritical = 95\n",
            "warning = 90 in pgcache-tune.toml is below critical = 95 in pgcache-tune.toml",
        ),
        (
            "critical = 90\nmin_blocks = -1\n",
            "min_blocks must be zero or more",
        ),
        (
            "critical = 90\ncritical = 91\n",
            "pgcache-tune.toml:2: critical: duplicate key",
        ),
        ("critical = \n", "pgcache-tune.toml:1: critical: "),
        // A fraction typed for a percentage, in every threshold key.
        (
            "critical = 0.99\n",
            "pgcache-tune.toml:1: critical: '0.99' looks like a fraction",
        ),
        (
            "warning = 0.9\n",
            "pgcache-tune.toml:1: warning: '0.9' looks like a fraction",
        ),
        (
            "min_hit_ratio = \"0.95\"\n",
            "pgcache-tune.toml:1: min_hit_ratio: '0.95' looks like a fraction",
        ),
        (
            "critical = 90\n[[override]]\nmatch = \"x\"\ncritical = 0.5\n",
            "pgcache-tune.toml:4: override.critical: '0.5' looks like a fraction",
        ),
        // An override is held to the same rule as the flags: warning ≥ critical.
        (
            "critical = 90\n\n[[override]]\nmatch = \"public.t\"\nwarning = 50\ncritical = 95\n",
            "pgcache-tune.toml:5: override.warning (match = \"public.t\"): override.warning = 50 is below override.critical = 95",
        ),
        (
            "critical = 90\n[[override]]\nmatch = \"x\"\nwarning = 80\n",
            "pgcache-tune.toml:4: override.warning (match = \"x\"): override.warning = 80 is below critical = 90 in pgcache-tune.toml",
        ),
    ];
    for (text, needle) in cases {
        std::fs::write(lab.path().join("pgcache-tune.toml"), text).unwrap();
        let r = lab.check(&["--stats-from", &good]);
        assert_one_line_error(&r, 64, needle, text);
        assert!(r.stdout.is_empty());
        // The same file named with --config is reported under that name.
        std::fs::write(lab.path().join("named.toml"), text).unwrap();
        let r = lab.check(&["--stats-from", &good, "--config", "named.toml"]);
        assert_one_line_error(
            &r,
            64,
            &needle.replace("pgcache-tune.toml", "named.toml"),
            text,
        );
    }
}

/// One element of a parsed XML document.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    /// Names of the enclosing elements, outermost first.
    path: Vec<String>,
}

/// Undoes the five predefined entities and numeric references; panics on a bare `&`.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find(';')
            .unwrap_or_else(|| panic!("bare & in {text:?}"));
        let entity = &rest[i + 1..i + end];
        out.push(match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e if e.starts_with("#x") => {
                char::from_u32(u32::from_str_radix(&e[2..], 16).unwrap()).unwrap()
            }
            e if e.starts_with('#') => char::from_u32(e[1..].parse().unwrap()).unwrap(),
            e => panic!("unknown entity &{e}; in {text:?}"),
        });
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    out
}

/// A minimal XML well-formedness check (no crate for it): one declaration, one root, tags
/// balanced and properly nested, attributes quoted and unique, no raw `<` or bare `&` in text
/// or attribute values, no characters XML 1.0 forbids. Returns every element in order.
fn well_formed_xml(doc: &str) -> Vec<Element> {
    assert!(
        doc.chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')),
        "control characters in {doc:?}"
    );
    let rest = doc
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .unwrap_or_else(|| panic!("no XML declaration: {doc}"));
    let mut chars = rest.char_indices().peekable();
    let mut stack: Vec<String> = Vec::new();
    let mut elements = Vec::new();
    let mut roots = 0;
    let mut text = String::new();
    while let Some((_, c)) = chars.next() {
        if c != '<' {
            text.push(c);
            continue;
        }
        if stack.is_empty() {
            assert!(text.trim().is_empty(), "text outside the root: {text:?}");
        } else {
            unescape(&text);
        }
        text.clear();
        // Read the tag up to its '>', minding quotes.
        let mut tag = String::new();
        let mut quote = false;
        loop {
            let (_, c) = chars
                .next()
                .unwrap_or_else(|| panic!("unclosed tag {tag:?}"));
            match c {
                '"' => quote = !quote,
                '>' if !quote => break,
                '<' => panic!("raw < inside tag {tag:?}"),
                _ => {}
            }
            tag.push(c);
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let (name, mut attrs_text) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || "-_.:".contains(c)),
            "bad element name {name:?}"
        );
        let mut attrs = BTreeMap::new();
        loop {
            attrs_text = attrs_text.trim_start();
            if attrs_text.is_empty() {
                break;
            }
            let (key, after) = attrs_text
                .split_once("=\"")
                .unwrap_or_else(|| panic!("unquoted attribute in <{tag}>"));
            let end = after
                .find('"')
                .unwrap_or_else(|| panic!("unterminated attribute in <{tag}>"));
            let key = key.trim().to_string();
            assert!(
                attrs.insert(key.clone(), unescape(&after[..end])).is_none(),
                "duplicate attribute {key} in <{tag}>"
            );
            attrs_text = &after[end + 1..];
        }
        if stack.is_empty() {
            roots += 1;
        }
        elements.push(Element {
            name: name.to_string(),
            attrs,
            path: stack.clone(),
        });
        if !self_closing {
            stack.push(name.to_string());
        }
    }
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    assert!(text.trim().is_empty(), "text after the root: {text:?}");
    assert_eq!(roots, 1, "one root element");
    elements
}

#[test]
fn the_xml_checker_catches_broken_documents() {
    let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    let ok = format!("{decl}<a x=\"1 &amp; 2\"><b/><c>t &lt; u</c></a>\n");
    assert_eq!(well_formed_xml(&ok).len(), 3);
    for bad in [
        "<a><b></a></b>",
        "<a>",
        "<a x=\"1\" x=\"2\"/>",
        "<a x=1/>",
        "<a>t & u</a>",
        "<a/><b/>",
        "<a>\u{1}</a>",
    ] {
        let doc = format!("{decl}{bad}");
        assert!(
            std::panic::catch_unwind(|| well_formed_xml(&doc)).is_err(),
            "accepted {bad:?}"
        );
    }
}

/// A later sample whose tables include one with a name full of XML and Nagios syntax.
fn hostile_names(lab: &Lab) -> (String, String) {
    let mut before = fixture();
    let odd = "<odd> & \"name\" 'quoted' = | \u{1}";
    for list in ["tables", "indexes"] {
        for r in before[list].as_array_mut().unwrap() {
            if r["name"] == "odd|name" {
                r["name"] = json!(odd);
            }
        }
    }
    let mut after = later(&before, 30.0);
    bump_db(&mut after, "work", 9_000, 1_000);
    bump_table(&mut after, "with_idx", 500, 1_500);
    bump_table(&mut after, "no_idx", 3_000, 1);
    bump_table(&mut after, odd, 2_000, 0);
    (
        lab.write("before.json", &before),
        lab.write("after.json", &after),
    )
}

#[test]
fn junit_is_well_formed_with_one_testcase_per_item() {
    let lab = Lab::new();
    let (before, after) = hostile_names(&lab);
    let args = [
        "--since",
        before.as_str(),
        "--stats-from",
        &after,
        "--warning",
        "99",
        "--critical",
        "95",
        "--scope",
        "database",
        "--scope",
        "tables",
    ];
    let doc = lab.json(&args);
    let r = lab.check(&[&args[..], &["--format", "junit"]].concat());
    assert_eq!(r.code, 2, "{r:?}");
    let elements = well_formed_xml(&r.stdout);
    let cases: Vec<&Element> = elements.iter().filter(|e| e.name == "testcase").collect();
    assert_eq!(cases.len(), items(&doc).len(), "one testcase per item");
    for (case, item) in cases.iter().zip(items(&doc)) {
        assert_eq!(case.path, ["testsuites", "testsuite"]);
        let shown = label(item).replace('\u{1}', "\\x01");
        assert_eq!(case.attrs["name"], shown);
        assert_eq!(
            case.attrs["classname"],
            format!("pgcache-tune.{}", item["scope"].as_str().unwrap())
        );
    }
    let count = |name: &str| elements.iter().filter(|e| e.name == name).count();
    let failing = items(&doc)
        .iter()
        .filter(|i| i["status"] == "WARNING" || i["status"] == "CRITICAL")
        .count();
    let skipped = items(&doc)
        .iter()
        .filter(|i| i["insufficient"] == true)
        .count();
    assert_eq!(count("failure"), failing);
    assert!(failing >= 2, "work and with_idx fail: {doc:#}");
    assert_eq!(count("skipped"), skipped);
    assert_eq!(count("error"), 0);
    let suite = elements.iter().find(|e| e.name == "testsuite").unwrap();
    assert_eq!(suite.attrs["tests"], items(&doc).len().to_string());
    assert_eq!(suite.attrs["failures"], failing.to_string());
    assert_eq!(suite.attrs["skipped"], skipped.to_string());
    let with_idx = elements
        .iter()
        .find(|e| e.name == "failure" && e.attrs["message"].contains("hits 500, reads 1500"))
        .expect("with_idx failure");
    assert_eq!(with_idx.attrs["type"], "CRITICAL");
}

/// Splits a Nagios perfdata section into `(label, rest)` pairs, honouring quoted labels
/// with `''` escapes.
fn perfdata(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (label, after) = if let Some(quoted) = rest.strip_prefix('\'') {
            let mut label = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '\'')) if quoted[i + 1..].starts_with('\'') => {
                        label.push('\'');
                        chars.next();
                    }
                    Some((i, '\'')) => break i + 1,
                    Some((_, c)) => label.push(c),
                    None => panic!("unterminated label in {text:?}"),
                }
            };
            (label, &quoted[end..])
        } else {
            let end = rest.find('=').expect("label=");
            (rest[..end].to_string(), &rest[end..])
        };
        let after = after
            .strip_prefix('=')
            .unwrap_or_else(|| panic!("no = after {label:?}"));
        let end = after.find(' ').unwrap_or(after.len());
        out.push((label, after[..end].to_string()));
        rest = after[end..].trim_start();
    }
    out
}

#[test]
fn nagios_status_line_and_perfdata() {
    let lab = Lab::new();
    let (before, after) = hostile_names(&lab);
    let args = [
        "--since",
        before.as_str(),
        "--stats-from",
        &after,
        "--warning",
        "99.5",
        "--critical",
        "95",
        "--scope",
        "database",
        "--scope",
        "tables",
    ];
    let doc = lab.json(&args);
    let r = lab.check(&[&args[..], &["--format", "nagios"]].concat());
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.is_empty());
    assert_eq!(r.stdout.lines().count(), 1, "{r:?}");
    let line = r.stdout.trim_end();
    let (status, perf) = line.split_once(" | ").expect("perfdata");
    assert!(
        status.starts_with("PGCACHE_TUNE CRITICAL - 2 of "),
        "{status}"
    );
    assert!(
        !status.contains('|'),
        "the text part must not hold a pipe: {status}"
    );
    let perf = perfdata(perf);
    assert_eq!(perf.len(), items(&doc).len(), "{line}");
    for ((name, value), item) in perf.iter().zip(items(&doc)) {
        let shown = label(item)
            .replace('\u{1}', "\\x01")
            .replace(['=', '|'], "_");
        assert_eq!(name, &shown);
        assert!(!name.contains('='), "{name}");
        let fields: Vec<&str> = value.split(';').collect();
        assert_eq!(fields.len(), 5, "{value}");
        match item["hit_ratio"].as_f64() {
            Some(ratio) => {
                assert_eq!(fields[0], format!("{:.4}%", ratio * 100.0));
                let digits = fields[0].trim_end_matches('%');
                let (int, frac) = digits.split_once('.').unwrap();
                assert!(int.chars().all(|c| c.is_ascii_digit()) && frac.len() == 4);
            }
            None => assert_eq!(fields[0], "U"),
        }
        assert_eq!(&fields[1..], ["99.5", "95", "0", "100"], "{value}");
    }
    let with_idx = perf
        .iter()
        .find(|(n, _)| n == "work.public.with_idx")
        .unwrap();
    assert_eq!(with_idx.1, "25.0000%;99.5;95;0;100");
    let work = perf.iter().find(|(n, _)| n == "work").unwrap();
    assert_eq!(work.1, "90.0000%;99.5;95;0;100");
    // A quote in a label is doubled, as the plugin guidelines ask.
    assert!(line.contains("'quoted''"), "{line}");
    nagios_grammar(line).unwrap();
}

/// The Nagios plugin development guidelines' output grammar, for one line:
/// `SERVICE STATUS: text | perfdata` (or `SERVICE STATUS - text`), the text free of `|`,
/// and each perfdata item `'label'=value[UOM];[warn];[crit];[min];[max]`, the label quoted
/// when it holds a space, `=` or `'` (a quote doubled inside), never holding `=` or `|`,
/// the value a number or `U`, the thresholds in the range format.
fn nagios_grammar(line: &str) -> Result<(), String> {
    let head = regex::Regex::new(r"^[A-Z][A-Z0-9_]* (OK|WARNING|CRITICAL|UNKNOWN)(:| -) [^|\n]+$")
        .unwrap();
    let number = r"-?[0-9]+(\.[0-9]+)?";
    let range = format!(r"@?(~|{number})?(:({number})?)?");
    let item = regex::Regex::new(&format!(
        r"^(?:'(?:[^'=|]|'')+'|[^ '=|]+)=(?:{number}(?:s|ms|us|%|B|KB|MB|TB|c)?|U);(?:{range})?;(?:{range})?;(?:{number})?;(?:{number})?$"
    ))
    .unwrap();
    if line.contains('\n') {
        return Err(format!("more than one line: {line:?}"));
    }
    let (text, perf) = match line.split_once(" | ") {
        Some((text, perf)) => (text, Some(perf)),
        None => (line, None),
    };
    if !head.is_match(text) {
        return Err(format!("status line does not follow the grammar: {text:?}"));
    }
    let Some(perf) = perf else { return Ok(()) };
    if perf.is_empty() {
        return Err("empty perfdata after |".to_string());
    }
    // Items are separated by spaces outside quotes.
    let mut items = Vec::new();
    let (mut current, mut quoted) = (String::new(), false);
    for c in perf.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                current.push(c);
            }
            ' ' if !quoted => items.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    items.push(current);
    for i in items {
        if !item.is_match(&i) {
            return Err(format!("perfdata item does not follow the grammar: {i:?}"));
        }
        let unquoted = !i.starts_with('\'');
        let label = i.rsplit_once('=').map_or("", |(l, _)| l);
        if unquoted && label.contains([' ', '=', '\'']) {
            return Err(format!("label needs quotes: {label:?}"));
        }
    }
    Ok(())
}

#[test]
fn the_nagios_grammar_check_catches_broken_lines() {
    for good in [
        "PGCACHE_TUNE OK - all fine",
        "PGCACHE_TUNE OK - all fine | 'a b'=99.5000%;99;95;0;100 c=U;;;0;100",
        "PGCACHE_TUNE CRITICAL: 1 of 2 | 'it''s'=1%;@10:20;~:5;0;100",
    ] {
        assert_eq!(nagios_grammar(good), Ok(()), "{good}");
    }
    for bad in [
        "pgcache ok - lower case",
        "PGCACHE_TUNE OK - text | with | pipes",
        "PGCACHE_TUNE OK - x | 'a|b'=1%;;;0;100",
        "PGCACHE_TUNE OK - x | 'a=b'=1%;;;0;100",
        "PGCACHE_TUNE OK - x | a b=1%;;;0;100",
        "PGCACHE_TUNE OK - x | 'a'=1%",
        "PGCACHE_TUNE OK - x | 'a'=U%;;;0;100",
        "PGCACHE_TUNE OK - x | 'a'=1parsec;;;0;100",
        "PGCACHE_TUNE OK - x | ",
        "PGCACHE_TUNE MAYBE - x",
    ] {
        assert!(nagios_grammar(bad).is_err(), "{bad}");
    }
}

#[test]
fn every_nagios_output_follows_the_plugin_grammar() {
    let lab = Lab::new();
    let (before, after) = hostile_names(&lab);
    let (plain_before, plain_after) = standard_window(&lab);
    let young = lab.write("young.json", &fixture());
    let runs: Vec<Vec<&str>> = vec![
        // CRITICAL with hostile names in tables and indexes.
        [
            vec![
                "--since",
                &before,
                "--stats-from",
                &after,
                "--critical",
                "95",
            ],
            ALL_SCOPES.to_vec(),
        ]
        .concat(),
        // OK, WARNING, and UNKNOWN for insufficient data.
        vec![
            "--since",
            &plain_before,
            "--stats-from",
            &plain_after,
            "--min-hit-ratio",
            "10",
        ],
        vec![
            "--since",
            &plain_before,
            "--stats-from",
            &plain_after,
            "--warning",
            "99.99",
        ],
        vec![
            "--since",
            &plain_before,
            "--stats-from",
            &plain_after,
            "--min-hit-ratio",
            "10",
            "--min-blocks",
            "99999999",
        ],
        // UNKNOWN without items: young statistics, no match, a bad snapshot.
        vec!["--stats-from", &young, "--min-hit-ratio", "99"],
        vec![
            "--stats-from",
            &young,
            "--min-hit-ratio",
            "99",
            "--include",
            "nosuch",
        ],
        vec![
            "--since",
            "missing.json",
            "--stats-from",
            &young,
            "--min-hit-ratio",
            "99",
        ],
    ];
    let mut states = Vec::new();
    for args in runs {
        let r = lab.check(&[&args[..], &["--format", "nagios"]].concat());
        let line = r.stdout.strip_suffix('\n').unwrap_or(&r.stdout);
        nagios_grammar(line).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        states.push(r.code);
    }
    for code in [0, 1, 2, 3] {
        assert!(states.contains(&code), "exit {code} covered: {states:?}");
    }
}

#[test]
fn json_carries_status_window_and_items() {
    let lab = Lab::new();
    let (before, after) = standard_window(&lab);
    let doc = lab.json(&[
        "--since",
        &before,
        "--stats-from",
        &after,
        "--warning",
        "99.5",
        "--critical",
        "95",
        "--scope",
        "tables",
    ]);
    assert_eq!(doc["status"], "CRITICAL");
    assert_eq!(doc["exit_code"], 2);
    assert!(doc["reason"].is_null());
    let w = &doc["window"];
    assert_eq!(w["kind"], "since");
    for key in ["start", "end"] {
        let t = w[key].as_str().unwrap();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    }
    assert!((w["seconds"].as_f64().unwrap() - 60.0).abs() < 1e-6, "{w}");
    for i in items(&doc) {
        for key in ["scope", "database", "schema", "name", "status"] {
            assert!(i[key].is_string(), "{key}: {i}");
        }
        for key in ["hits", "reads", "min_blocks"] {
            assert!(i[key].is_i64(), "{key}: {i}");
        }
        assert!(i["insufficient"].is_boolean());
        assert!(i["hit_ratio"].is_null() || i["hit_ratio"].is_f64(), "{i}");
        if let Some(r) = i["hit_ratio"].as_f64() {
            assert!((0.0..=1.0).contains(&r), "{i}");
        }
        assert_eq!(i["thresholds"], json!({"warning": 99.5, "critical": 95.0}));
    }
    // Worst first.
    assert_eq!(label(&items(&doc)[0]), "work.public.with_idx");
    assert_eq!(items(&doc)[0]["status"], "CRITICAL");
    assert_eq!(items(&doc)[0]["hits"], 500);
    assert_eq!(items(&doc)[0]["reads"], 1_500);
    assert_eq!(items(&doc)[0]["hit_ratio"], 0.25);
}

#[test]
fn young_lifetime_statistics_are_not_judged() {
    let lab = Lab::new();
    // The capture was taken right after initdb: its ratios are initdb's catalog reads.
    let fresh = lab.write("fresh.json", &fixture());
    let r = lab.check(&["--stats-from", &fresh, "--min-hit-ratio", "99.9"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.starts_with("UNKNOWN: young statistics: "), "{r:?}");
    assert!(r.stdout.contains("--interval or --since"), "{r:?}");
    let doc = lab.json(&["--stats-from", &fresh, "--min-hit-ratio", "99.9"]);
    assert_eq!(doc["reason_detail"]["kind"], "young_statistics");
    assert_eq!(doc["window"]["kind"], "lifetime");
    // A gate that insists on traffic makes it CRITICAL, as for items under the floor.
    let r = lab.check(&[
        "--stats-from",
        &fresh,
        "--min-hit-ratio",
        "99.9",
        "--on-insufficient",
        "critical",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    // Old enough and big enough: judged (work is at 99.8%).
    let old = lab.write("old.json", &mature());
    let r = lab.check(&["--stats-from", &old, "--min-hit-ratio", "99.9"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("CRITICAL database work"), "{r:?}");
    // A clean restart a minute ago keeps the counters (never reset): their age is unknown,
    // not young, so they are judged, as report does.
    let mut restarted = mature();
    let now = restarted["server"]["now_epoch"].as_f64().unwrap();
    restarted["server"]["start_epoch"] = json!(now - 60.0);
    for db in restarted["databases"].as_array_mut().unwrap() {
        db["stats_reset_epoch"] = Value::Null;
    }
    let restarted = lab.write("restarted.json", &restarted);
    let r = lab.check(&["--stats-from", &restarted, "--min-hit-ratio", "99.9"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("CRITICAL database work"), "{r:?}");
    // A window (--since) is judged by the floor alone, however young the server.
    let (before, after) = standard_window(&lab);
    let r = lab.check(&[
        "--since",
        &before,
        "--stats-from",
        &after,
        "--min-hit-ratio",
        "99",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn patterns_that_match_nothing_are_warned_about_with_the_exit_code_unchanged() {
    let lab = Lab::new();
    let (before, after) = standard_window(&lab);
    let base = [
        "--since",
        before.as_str(),
        "--stats-from",
        &after,
        "--min-hit-ratio",
        "20",
        "--scope",
        "tables",
    ];
    let quiet = lab.check(&base);
    assert!(quiet.stderr.is_empty(), "{quiet:?}");
    // A regex written for the bare name never matches schema.name.
    let r = lab.check(&[&base[..], &["--exclude", "~^with_idx"]].concat());
    assert_eq!(r.code, quiet.code, "{r:?}");
    assert_eq!(r.stdout, quiet.stdout);
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    assert!(
        r.stderr
            .starts_with("warning: --exclude pattern '~^with_idx' matches no item"),
        "{r:?}"
    );
    let r = lab.check(&[&base[..], &["--include", "nosuch", "--include", "with_idx"]].concat());
    assert!(
        r.stderr
            .contains("warning: --include pattern 'nosuch' matches no item"),
        "{r:?}"
    );
    assert!(!r.stderr.contains("'with_idx'"), "{r:?}");
    std::fs::write(
        lab.path().join("gate.toml"),
        "[[override]]\nmatch = \"public.gone\"\ncritical = 10\n",
    )
    .unwrap();
    let r = lab.check(&[&base[..], &["--config", "gate.toml"]].concat());
    assert!(
        r.stderr
            .contains("warning: [[override]] match pattern 'public.gone' matches no item"),
        "{r:?}"
    );
    assert_eq!(r.code, quiet.code);
}

#[test]
fn the_help_example_pattern_matches_what_it_names() {
    let home = tempfile::tempdir().unwrap();
    let help = support::tool(home.path())
        .args(["check", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let pattern = help
        .split("--exclude '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("an --exclude example in check --help");
    // Run the example's pattern against a table named like the example says.
    let lab = Lab::new();
    let before = fixture();
    let mut after = later(&before, 60.0);
    row(&mut after, "tables", "with_idx")["name"] = json!("audit_log");
    bump_table(&mut after, "audit_log", 100, 10_000);
    let (b, a) = (lab.write("b.json", &before), lab.write("a.json", &after));
    let args = [
        "--since",
        b.as_str(),
        "--stats-from",
        &a,
        "--scope",
        "tables",
        "--min-hit-ratio",
        "50",
        "--min-blocks",
        "0",
    ];
    let with = lab.check(&[&args[..], &["--exclude", pattern]].concat());
    assert!(with.stderr.is_empty(), "{pattern}: {with:?}");
    let doc = lab.json(&[&args[..], &["--exclude", pattern]].concat());
    assert!(
        items(&doc).iter().all(|i| i["name"] != "audit_log"),
        "{pattern} excludes public.audit_log: {doc:#}"
    );
    let doc = lab.json(&args);
    assert!(items(&doc).iter().any(|i| i["name"] == "audit_log"));
}

#[test]
fn the_schema_check_catches_invalid_junit() {
    let good = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites><testsuite name=\"s\" tests=\"1\" failures=\"0\" errors=\"0\"><testcase name=\"c\"/></testsuite></testsuites>\n";
    assert_eq!(support::junit_schema_errors(good), Ok(()));
    for bad in [
        good.replace("<testsuites>", "<testsuites skipped=\"0\">"),
        good.replace(" errors=\"0\"", ""),
        good.replace("<testcase name=\"c\"/>", "<testcase/>"),
        good.replace("name=\"c\"", "name=\"\u{FFFE}\""),
        good.replace("name=\"c\"", "name=\"\u{1}\""),
        good.replace("</testsuites>", ""),
    ] {
        assert!(support::junit_schema_errors(&bad).is_err(), "{bad}");
    }
}

#[test]
fn junit_validates_against_the_ci_schema_whatever_the_names() {
    let lab = Lab::new();
    let mut before = fixture();
    // Characters XML 1.0 forbids or discourages, in a table and a database name.
    let nasty = "t\u{FFFE}\u{FFFF}\u{FDD0}\u{10FFFF}\u{1}\u{1F}<&>\"'|=";
    row(&mut before, "tables", "with_idx")["name"] = json!(nasty);
    row(&mut before, "databases", "quiet")["name"] = json!(format!("db{nasty}"));
    let mut after = later(&before, 60.0);
    bump_table(&mut after, nasty, 500, 1_500);
    bump_db(&mut after, &format!("db{nasty}"), 5_000, 1_000);
    bump_db(&mut after, "work", 5_000, 0);
    let (b, a) = (lab.write("b.json", &before), lab.write("a.json", &after));
    let (sb, sa) = standard_window(&lab);
    let young = lab.write("young.json", &fixture());
    let runs: Vec<Vec<&str>> = vec![
        [
            vec![
                "--since",
                &b,
                "--stats-from",
                &a,
                "--warning",
                "99",
                "--critical",
                "95",
            ],
            ALL_SCOPES.to_vec(),
        ]
        .concat(),
        vec![
            "--since",
            &b,
            "--stats-from",
            &a,
            "--min-hit-ratio",
            "10",
            "--on-insufficient",
            "unknown",
        ],
        vec!["--since", &sb, "--stats-from", &sa, "--min-hit-ratio", "1"],
        vec!["--stats-from", &young, "--min-hit-ratio", "99"],
        vec![
            "--since",
            "missing.json",
            "--stats-from",
            &young,
            "--min-hit-ratio",
            "99",
        ],
        // The reset reason names the database with the forbidden characters.
        vec![
            "--since",
            &b,
            "--stats-from",
            &a,
            "--min-hit-ratio",
            "99",
            "--include",
            "~^db",
        ],
    ];
    for args in &runs {
        let r = lab.check(&[&args[..], &["--format", "junit"]].concat());
        support::junit_schema_errors(&r.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", r.stdout));
        assert!(
            !r.stdout
                .contains(['\u{FFFE}', '\u{FFFF}', '\u{FDD0}', '\u{1}'])
        );
    }
    let r = lab.check(&[&runs[0][..], &["--format", "junit"]].concat());
    assert!(
        r.stdout
            .contains("t\\u{fffe}\\u{ffff}\\u{fdd0}\\u{10ffff}\\x01\\x1f&lt;&amp;&gt;"),
        "{}",
        r.stdout
    );
}
