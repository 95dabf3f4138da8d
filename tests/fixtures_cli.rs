//! `report` and `check` through the binary, offline, over the statistics snapshot of every
//! supported major (`fixtures/stats/pgNN.json`, captured from a live server of that major by
//! `scripts/capture-stats-fixture.sh`), so every version's shape reaches the renderers and the
//! gate without a server: what a version cannot show is said, numbers flow from the capture to
//! the output unchanged, and every output format succeeds.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use pgcache_tune::collect::load_snapshot;
use pgcache_tune::facts::StatsSnapshot;
use pgcache_tune::tune::{MAX_PG_VERSION, MIN_PG_VERSION};
use serde_json::Value;

/// The note a server without `pg_stat_io` (before 16) carries into every report.
const NO_PG_STAT_IO: &str = "cannot show shared-buffer evictions (pg_stat_io, added in 16)";

/// Every `fixtures/stats/pg*.json`, oldest major first, with its snapshot.
fn fixtures() -> Vec<(PathBuf, StatsSnapshot)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stats");
    let mut out: Vec<(PathBuf, StatsSnapshot)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("pg") && name.ends_with(".json")
        })
        .map(|p| {
            let snap = load_snapshot(&p).unwrap_or_else(|e| panic!("{e:#}"));
            (p, snap)
        })
        .collect();
    out.sort_by_key(|(_, s)| s.server.version_num);
    out
}

/// The binary, isolated from the caller: no PG* variables, no config file, no colour.
fn bin(home: &Path) -> Command {
    support::tool(home)
}

/// Runs the binary; (exit code, stdout). Anything on stderr fails the test.
fn run(args: &[&str]) -> (i32, String) {
    let home = tempfile::tempdir().unwrap();
    let out = bin(home.path()).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn a_fixture_per_supported_major_each_shaped_by_its_version() {
    let fixtures = fixtures();
    let majors: Vec<u32> = fixtures.iter().map(|(_, s)| s.major()).collect();
    assert_eq!(
        majors,
        (MIN_PG_VERSION..=MAX_PG_VERSION).collect::<Vec<_>>(),
        "fixtures/stats needs one pgNN.json per supported major (scripts/capture-stats-fixture.sh)"
    );
    for (path, snap) in &fixtures {
        let major = snap.major();
        let name = path.file_name().unwrap().to_string_lossy();
        assert_eq!(
            name,
            format!("pg{major}.json"),
            "file name and server disagree"
        );
        // The version-gated views, as the capture saw them.
        assert!(
            snap.checkpoints.is_some(),
            "{name}: checkpoints on every major"
        );
        assert_eq!(
            snap.buffer_io.is_some(),
            major >= 16,
            "{name}: pg_stat_io is 16+"
        );
        let notes_io = snap.notes.iter().any(|n| n.ends_with(NO_PG_STAT_IO));
        assert_eq!(notes_io, major < 16, "{name}: {:?}", snap.notes);
        // The generated workload is there.
        assert!(snap.tables.iter().any(|t| t.name == "with_idx"), "{name}");
        assert!(snap.databases.iter().any(|d| d.name == "idle"), "{name}");
        assert!(!snap.settings.is_empty(), "{name}");
    }
}

#[test]
fn report_renders_every_major_and_says_what_it_cannot_show() {
    for (path, snap) in fixtures() {
        let file = path.to_str().unwrap();
        let major = snap.major();
        let base = [
            "report",
            "--stats-from",
            file,
            "--ram",
            "4GB",
            "--cpus",
            "2",
        ];

        let (code, json) = run(&[&base[..], &["--format", "json"]].concat());
        assert_eq!(code, 0, "pg{major}");
        let json: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["server"]["version_num"], snap.server.version_num);
        assert_eq!(json["server"]["version"], snap.server.version.as_str());
        let dbs: BTreeSet<&str> = json["databases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        let want: BTreeSet<&str> = snap.databases.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(dbs, want, "pg{major}");
        for d in json["databases"].as_array().unwrap() {
            let s = snap.databases.iter().find(|s| s.name == d["name"]).unwrap();
            assert_eq!(
                (d["blks_hit"].as_i64(), d["blks_read"].as_i64()),
                (Some(s.blks_hit), Some(s.blks_read)),
                "pg{major} {}",
                s.name
            );
        }
        let notes: Vec<&str> = json["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        assert!(
            notes.starts_with(&snap.notes.iter().map(String::as_str).collect::<Vec<_>>()),
            "pg{major}: the server's notes come first: {notes:?}"
        );
        assert_eq!(
            notes.iter().any(|n| n.ends_with(NO_PG_STAT_IO)),
            major < 16,
            "pg{major}: {notes:?}"
        );
        assert!(
            !json["settings"].as_array().unwrap().is_empty(),
            "pg{major}"
        );

        for format in ["table", "markdown"] {
            let (code, text) = run(&[&base[..], &["--format", format]].concat());
            assert_eq!(code, 0, "pg{major} {format}");
            // Markdown escapes `_` and friends.
            let text = text.replace('\\', "");
            for note in &snap.notes {
                assert!(
                    text.contains(note.as_str()),
                    "pg{major} {format}: no {note:?}"
                );
            }
            assert!(text.contains("with_idx"), "pg{major} {format}");
        }
    }
}

/// The worst hit ratio, in percent, over the databases with any traffic.
fn worst_database_pct(snap: &StatsSnapshot) -> (String, f64) {
    snap.databases
        .iter()
        .filter(|d| d.blks_hit + d.blks_read > 0)
        .map(|d| {
            let pct = 100.0 * d.blks_hit as f64 / (d.blks_hit + d.blks_read) as f64;
            (d.name.clone(), pct)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("a database with traffic")
}

#[test]
fn check_judges_every_major_from_the_captured_counters() {
    for (path, snap) in fixtures() {
        let file = path.to_str().unwrap();
        let major = snap.major();
        let (worst, pct) = worst_database_pct(&snap);
        assert!(pct < 100.0, "pg{major}: the workload reads from disk");
        // The captures were taken right after initdb, so their lifetime statistics are too
        // young to judge: judge them as a window from zero counters of the same server
        // instead, template databases included.
        let dir = tempfile::tempdir().unwrap();
        let zero_path = dir.path().join("zero.json");
        let mut zero = snap.clone();
        for d in &mut zero.databases {
            (d.blks_hit, d.blks_read) = (0, 0);
        }
        for t in &mut zero.tables {
            (t.heap_blks_hit, t.heap_blks_read) = (0, 0);
        }
        for i in &mut zero.indexes {
            (i.idx_blks_hit, i.idx_blks_read) = (0, 0);
        }
        pgcache_tune::collect::save_snapshot(&zero_path, &zero).unwrap();
        let zero_file = zero_path.to_str().unwrap();
        let base = [
            "check",
            "--since",
            zero_file,
            "--stats-from",
            file,
            "--min-blocks",
            "1",
            "--include-templates",
        ];
        let below = format!("{:.2}", pct - 0.5);
        let above = format!("{:.2}", pct + 0.5);

        // Just under the worst database: OK, every database with traffic judged.
        let (code, out) =
            run(&[&base[..], &["--min-hit-ratio", &below, "--format", "json"]].concat());
        let json: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (code, json["status"].as_str()),
            (0, Some("OK")),
            "pg{major}: {out}"
        );
        let judged: BTreeSet<&str> = json["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["scope"] == "database" && i["insufficient"] == false)
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        let with_traffic: BTreeSet<&str> = snap
            .databases
            .iter()
            .filter(|d| d.blks_hit + d.blks_read > 0)
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(judged, with_traffic, "pg{major}");

        // Just over it: CRITICAL, naming that database, in every format.
        let critical = [&base[..], &["--min-hit-ratio", &above]].concat();
        let (code, out) = run(&[&critical[..], &["--format", "json"]].concat());
        let json: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (code, json["status"].as_str()),
            (2, Some("CRITICAL")),
            "pg{major}: {out}"
        );
        let item = json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["scope"] == "database" && i["name"] == worst.as_str())
            .unwrap_or_else(|| panic!("pg{major}: no item for {worst}: {out}"));
        assert_eq!(item["status"], "CRITICAL", "pg{major}");
        let d = snap.databases.iter().find(|d| d.name == worst).unwrap();
        assert_eq!(
            (item["hits"].as_i64(), item["reads"].as_i64()),
            (Some(d.blks_hit), Some(d.blks_read))
        );
        let (code, human) = run(&critical);
        assert_eq!(code, 2, "pg{major}");
        assert!(
            human.contains(&format!("database {worst}:")),
            "pg{major}: {human}"
        );
        let (code, nagios) = run(&[&critical[..], &["--format", "nagios"]].concat());
        assert_eq!(code, 2, "pg{major}");
        assert!(
            nagios.starts_with("PGCACHE_TUNE CRITICAL"),
            "pg{major}: {nagios}"
        );
        let (code, junit) = run(&[&critical[..], &["--format", "junit"]].concat());
        assert_eq!(code, 2, "pg{major}");
        assert!(junit.contains("<failure"), "pg{major}: {junit}");

        // Tables and indexes of the captured database are judged too.
        let (code, out) = run(&[
            &base[..],
            &["--critical", "1", "--scope", "tables", "--scope", "indexes"],
            &["--format", "json"],
        ]
        .concat());
        let json: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            json["exit_code"].as_i64(),
            Some(i64::from(code)),
            "pg{major}"
        );
        let names: BTreeSet<&str> = json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains("with_idx") && names.contains("with_idx_pkey"),
            "pg{major}: {names:?}"
        );
    }
}
