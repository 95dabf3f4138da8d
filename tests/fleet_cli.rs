//! `--targets` through the binary without a server: a bad inventory stops the run before any
//! connection with one line naming file, line and key (exit 64) and nothing on stdout; an
//! inline password is refused without being echoed; the fleet flags refuse what they cannot
//! combine with; and a target that is down is reported, not fatal, whatever the format.

mod support;

use std::path::Path;

use support::Run;

fn run(dir: &Path, args: &[&str]) -> Run {
    Run::from(support::tool_std(dir).args(args).output().unwrap())
}

fn inventory(dir: &Path, text: &str) -> String {
    let p = dir.join("fleet.toml");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn assert_usage(r: &Run, needle: &str) {
    assert_eq!(r.code, 64, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    assert!(r.stderr.contains(needle), "{needle:?} not in {r:?}");
}

#[test]
fn bad_inventories_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(
        dir.path(),
        "[[target]]\nname = \"a\"\nconnection = \"host=/nowhere\"\nlabels = { \"bad-label\" = \"x\" }\n",
    );
    for cmd in ["check", "report"] {
        let mut args = vec![cmd, "--targets", &inv];
        if cmd == "check" {
            args.extend(["--min-hit-ratio", "99"]);
        }
        let r = run(dir.path(), &args);
        assert_usage(&r, &format!("{inv}:4: target.labels.bad-label: "));
    }
    let r = run(
        dir.path(),
        &[
            "snapshot",
            "--targets",
            &inv,
            "-o",
            dir.path().join("s").to_str().unwrap(),
        ],
    );
    assert_usage(&r, "Prometheus label name");
    assert!(
        !dir.path().join("s").exists(),
        "nothing written on a bad inventory"
    );

    let inv = inventory(
        dir.path(),
        "[[target]]\nname = \"a\"\n# a comment\nconnection = \"postgresql://app:hunter2@db/app\"\n",
    );
    let r = run(
        dir.path(),
        &["check", "--targets", &inv, "--min-hit-ratio", "99"],
    );
    assert_usage(&r, &format!("{inv}:4: target.connection: "));
    assert!(!r.stderr.contains("hunter2"), "{r:?}");

    let r = run(
        dir.path(),
        &[
            "check",
            "--targets",
            "/nonexistent.toml",
            "--min-hit-ratio",
            "99",
        ],
    );
    assert_usage(&r, "--targets /nonexistent.toml: cannot read it");
}

#[test]
fn fleet_flags_refuse_what_they_cannot_combine_with() {
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(
        dir.path(),
        "[[target]]\nname = \"a\"\nconnection = \"host=/nowhere\"\n",
    );
    assert_usage(
        &run(
            dir.path(),
            &[
                "check",
                "--targets",
                &inv,
                "-h",
                "db",
                "--min-hit-ratio",
                "9",
            ],
        ),
        "cannot be used with",
    );
    assert_usage(
        &run(
            dir.path(),
            &["check", "--jobs", "2", "--min-hit-ratio", "9"],
        ),
        "--targets",
    );
    assert_usage(
        &run(
            dir.path(),
            &[
                "check",
                "--targets",
                &inv,
                "--jobs",
                "0",
                "--min-hit-ratio",
                "9",
            ],
        ),
        "from 1 to 256",
    );
    assert_usage(
        &run(
            dir.path(),
            &[
                "check",
                "--targets",
                &inv,
                "--target",
                "b",
                "--min-hit-ratio",
                "9",
            ],
        ),
        "--target \"b\" is not in the inventory; its targets are: a",
    );
    let since = dir.path().join("file.json");
    std::fs::write(&since, "{}").unwrap();
    assert_usage(
        &run(
            dir.path(),
            &[
                "check",
                "--targets",
                &inv,
                "--since",
                since.to_str().unwrap(),
                "--min-hit-ratio",
                "9",
            ],
        ),
        "give the directory",
    );
    assert_usage(
        &run(
            dir.path(),
            &["report", "--targets", &inv, "--redis", "redis://x"],
        ),
        "--redis does not combine with --targets",
    );
    let off = inventory(
        dir.path(),
        "[[target]]\nname = \"a\"\nconnection = \"host=/nowhere\"\nenabled = false\n",
    );
    assert_usage(
        &run(
            dir.path(),
            &["check", "--targets", &off, "--min-hit-ratio", "9"],
        ),
        "no enabled target",
    );
}

#[test]
fn a_down_target_is_reported_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    // A socket directory that does not exist: refused at once, no network involved.
    let inv = inventory(
        dir.path(),
        "[[target]]\nname = \"gone\"\nconnection = \"host=/nonexistent-socket-dir port=5432 user=x dbname=x\"\npassword_env = \"PGCACHE_TUNE_TEST_UNSET\"\n\n[[target]]\nname = \"nosock\"\nconnection = \"host=/nonexistent-socket-dir port=5432 user=x dbname=x\"\n",
    );
    let base = ["check", "--targets", inv.as_str(), "--min-hit-ratio", "99"];
    let human = run(dir.path(), &base);
    assert_eq!(human.code, 3, "{human:?}");
    assert_eq!(human.stdout.lines().count(), 3, "{human:?}");
    assert!(
        human
            .stdout
            .contains("gone    UNKNOWN: down: password_env PGCACHE_TUNE_TEST_UNSET is not set"),
        "{human:?}"
    );
    assert!(
        human.stdout.contains("nosock  UNKNOWN: down: "),
        "{human:?}"
    );
    assert!(
        human
            .stdout
            .ends_with("FLEET UNKNOWN: 2 targets: 2 UNKNOWN, 2 down\n"),
        "{human:?}"
    );
    let json = run(dir.path(), &[&base[..], &["--format", "json"]].concat());
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["exit_code"], 3);
    assert_eq!(doc["targets"][0]["up"], false);
    let nagios = run(dir.path(), &[&base[..], &["--format", "nagios"]].concat());
    assert!(
        nagios
            .stdout
            .starts_with("PGCACHE_TUNE UNKNOWN - 2 targets"),
        "{nagios:?}"
    );
    assert!(
        nagios.stdout.contains("'gone:up'=0 'nosock:up'=0"),
        "{nagios:?}"
    );
    let report = run(
        dir.path(),
        &["report", "--targets", &inv, "--format", "markdown"],
    );
    assert_eq!(report.code, 69, "{report:?}");
    assert!(report.stdout.contains("| gone | DOWN |"), "{report:?}");
}
