//! End-to-end tests of the binary without a server: output formats agree, bad input fails
//! cleanly, shell integration works. The server-backed acceptance test is recommend_accept.rs.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::Command;

/// The binary isolated from the caller's PG* variables and password file, with no colour
/// preference (some tests set `NO_COLOR` themselves).
fn bin() -> Command {
    let mut cmd = support::tool_std(Path::new(env!("CARGO_MANIFEST_DIR")));
    cmd.env_remove("NO_COLOR");
    hermetic(&mut cmd);
    Command::from_std(cmd)
}

/// No PostgreSQL installation to detect, whatever this host has: `recommend` without
/// `--pg-version` behaves as on a host without a server (a version-neutral snippet and a
/// note on stderr), so every test that wants a quiet stderr names its major.
fn hermetic(cmd: &mut std::process::Command) {
    cmd.env("PATH", "/nonexistent/pgcache-tune-path").env(
        "PGCACHE_TUNE_INSTALL_ROOT",
        "/nonexistent/pgcache-tune-install-root",
    );
}

fn run_ok(args: &[&str]) -> String {
    let out = bin().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{args:?} wrote to stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `name = value` pairs of a conf snippet (comments stripped).
fn conf_pairs(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not a setting: {l}"));
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

#[test]
fn done_when_64gb_16cpus_in_three_formats() {
    let args = [
        "recommend",
        "--ram",
        "64GB",
        "--cpus",
        "16",
        "--os",
        "linux",
        "--pg-version",
        "17",
    ];
    let conf = conf_pairs(&run_ok(&args));
    assert_eq!(conf["shared_buffers"], "16GB");
    assert_eq!(conf["effective_cache_size"], "48GB");
    assert_eq!(conf["maintenance_work_mem"], "4GB");
    assert_eq!(conf["work_mem"], "77672kB");
    assert_eq!(conf["max_connections"], "200");

    let sql: BTreeMap<String, String> = run_ok(&[&args[..], &["--format", "sql"]].concat())
        .lines()
        .filter_map(|l| l.strip_prefix("ALTER SYSTEM SET "))
        .map(|l| {
            let (k, v) = l.split_once(" = ").unwrap();
            (
                k.to_string(),
                v.trim_end_matches(';').trim_matches('\'').to_string(),
            )
        })
        .collect();
    assert_eq!(sql, conf, "sql and conf disagree");

    let json: serde_json::Value =
        serde_json::from_str(&run_ok(&[&args[..], &["--format", "json"]].concat())).unwrap();
    let from_json: BTreeMap<String, String> = json["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(from_json, conf, "json and conf disagree");
    assert_eq!(json["inputs"]["ram_bytes"], 64u64 << 30);
    assert_eq!(json["inputs"]["ram_source"], "given");
    let sb = json["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "shared_buffers")
        .unwrap();
    assert_eq!(sb["bytes"], 16u64 << 30);
    assert_eq!(sb["restart_required"], true);
    let ct = json["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "checkpoint_timeout")
        .unwrap();
    assert_eq!(ct["ms"], 300_000);
    assert_eq!(ct["is_default"], true);
    assert!(
        json["settings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| !s["reason"].as_str().unwrap().is_empty())
    );
}

#[test]
fn every_line_has_a_reason_and_sections_are_in_order() {
    let text = run_ok(&[
        "recommend",
        "--ram",
        "16GB",
        "--cpus",
        "8",
        "--os",
        "linux",
        "--pg-version",
        "17",
    ]);
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (_, comment) = line
            .split_once("  # ")
            .unwrap_or_else(|| panic!("no reason: {line}"));
        assert!(comment.len() > 5, "{line}");
    }
    let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("# --- ")).collect();
    assert_eq!(
        headings,
        [
            "# --- Memory ---",
            "# --- WAL and checkpoints ---",
            "# --- Planner costs ---",
            "# --- Parallelism ---",
            "# --- Other ---"
        ]
    );
    assert!(text.contains("#   RAM: 16 GiB, given"));
    assert!(text.contains("(PostgreSQL default)"));
}

#[test]
fn snippet_snapshot() {
    let text = run_ok(&[
        "recommend",
        "--ram",
        "16GB",
        "--cpus",
        "4",
        "--os",
        "linux",
        "--pg-version",
        "17",
    ]);
    insta::assert_snapshot!(text);
}

#[test]
fn probed_inputs_are_labelled() {
    let text = run_ok(&["recommend", "--os", "linux", "--pg-version", "17"]);
    assert!(
        text.contains("#   RAM: ") && text.contains(", probed, cgroup limit "),
        "{text}"
    );
    assert!(text.contains(", probed\n"), "CPUs should be probed: {text}");
}

#[test]
fn ram_spellings_are_1024_based() {
    for spelling in ["64GB", "64gb", "64GiB", "64G", "0.0625TB", "65536MB"] {
        let json: serde_json::Value = serde_json::from_str(&run_ok(&[
            "recommend",
            "--ram",
            spelling,
            "--cpus",
            "4",
            "--pg-version",
            "17",
            "--format",
            "json",
        ]))
        .unwrap();
        assert_eq!(json["inputs"]["ram_bytes"], 64u64 << 30, "{spelling}");
    }
}

#[test]
fn bad_input_is_one_line_and_a_documented_code() {
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--ram", "abc"], 64, "--ram"),
        (&["--ram", "0"], 64, "--ram"),
        (&["--ram", "-5GB"], 64, "negative"),
        (&["--ram", "64XB"], 64, "unknown unit"),
        (&["--ram", "99999999999TB"], 64, "too large"),
        (&["--ram", "100kB"], 64, "too small"),
        (&["--cpus", "0"], 64, "--cpus"),
        (&["--connections", "0"], 64, "--connections"),
        (&["--connections", "5"], 64, "at least 20"),
        (&["--pg-version", "9"], 64, "from 13 to 18"),
        (&["--profile", "foo"], 64, "web, oltp, dw, mixed, desktop"),
        (&["--storage", "tape"], 64, "ssd, nvme, san, hdd"),
        (&["--format", "yaml"], 64, "conf, sql, json"),
        (
            &["--template", "/nonexistent/t.j2"],
            66,
            "/nonexistent/t.j2",
        ),
        (
            &["--format", "sql", "--template", "Cargo.toml"],
            64,
            "--format conf",
        ),
    ];
    for (args, code, needle) in cases {
        let mut cmd = bin();
        cmd.arg("recommend");
        if !args.contains(&"--ram") {
            cmd.args(["--ram", "8GB"]);
        }
        let out = cmd.args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr} lacks {needle}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn user_templates() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.j2");
    std::fs::write(
        &good,
        "{% for s in settings %}{{ s.name }}={{ s.value }}\n{% endfor %}",
    )
    .unwrap();
    let text = run_ok(&[
        "recommend",
        "--ram",
        "16GB",
        "--cpus",
        "4",
        "--pg-version",
        "17",
        "--template",
        good.to_str().unwrap(),
    ]);
    assert!(text.lines().any(|l| l == "shared_buffers=4GB"), "{text}");

    for (name, body) in [
        ("syntax.j2", "{% for s in settings %}"),
        ("typo.j2", "{{ settings.nope.nope }}"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let out = bin()
            .args([
                "recommend",
                "--ram",
                "16GB",
                "--template",
                path.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(65), "{name}: {stderr}");
        assert!(out.stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(name), "{stderr}");
    }
}

#[test]
fn shell_integration() {
    for shell in ["bash", "zsh", "fish"] {
        let text = run_ok(&["completions", shell]);
        assert!(
            text.contains("pgcache-tune") && text.contains("recommend"),
            "{shell}"
        );
        assert!(text.contains("pg-version"), "{shell}");
    }
    let man = run_ok(&["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH"),
        "{}",
        &man[..80.min(man.len())]
    );
    for sub in [
        &["--help"][..],
        &["recommend", "--help"],
        &["probe", "--help"],
        &["completions", "--help"],
        &["man", "--help"],
        &["report", "--help"],
        &["check", "--help"],
        &["snapshot", "--help"],
    ] {
        assert!(run_ok(sub).contains("Examples:"), "{sub:?}");
    }
    assert!(run_ok(&["recommend", "--help"]).contains("GiB"));
}

/// Runs a command line that must fail with the usage code; its one line of stderr.
fn usage_error(args: &[&str]) -> String {
    let out = bin().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(64), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    stderr
}

#[test]
fn missing_subcommand_is_a_usage_error_naming_every_subcommand() {
    let stderr = usage_error(&[]);
    let cli = <pgcache_tune::cli::Cli as clap::CommandFactory>::command();
    let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
    assert!(names.len() >= 7, "{names:?}");
    for name in names {
        assert!(stderr.contains(name), "{stderr} lacks {name}");
    }
}

#[test]
fn usage_errors_read_as_sentences_with_suggestions() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["snapshot"],
            &[
                "required",
                "--output <FILE>",
                "pgcache-tune snapshot --help",
            ],
        ),
        (&["reprot"], &["'reprot'", "did you mean 'report'?"]),
        (&["chek"], &["did you mean 'check'?"]),
        (
            &["report", "--formt", "json"],
            &["did you mean '--format'?", "pgcache-tune report --help"],
        ),
        (
            &["report", "--format", "jsn"],
            &["table, json, markdown", "pgcache-tune report --help"],
        ),
    ];
    for (args, needles) in cases {
        let stderr = usage_error(args);
        for needle in *needles {
            assert!(stderr.contains(needle), "{args:?}: {stderr} lacks {needle}");
        }
        // No header glued to its list with a separator ("…provided:; --output").
        assert!(!stderr.contains(":;"), "{args:?}: {stderr}");
    }
}

/// `pgcache-tune recommend | head` is not an error. The reader is closed before the binary
/// starts, so its first write really hits a broken pipe (with an open reader the whole
/// snippet would fit in the pipe buffer and the broken-pipe path would never run).
#[test]
fn broken_pipe_is_not_an_error() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgcache-tune"))
        .args([
            "recommend",
            "--ram",
            "8GB",
            "--cpus",
            "2",
            "--pg-version",
            "17",
        ])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");

    // The control: any other failing write (/dev/full) is an error, so the run above did
    // write and it is the broken pipe, specifically, that is forgiven.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    if let Ok(full) = full {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgcache-tune"))
            .args([
                "recommend",
                "--ram",
                "8GB",
                "--cpus",
                "2",
                "--pg-version",
                "17",
            ])
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(66), "{out:?}");
    }
}

/// One rule for bare numbers across every duration flag of every subcommand (found through
/// clap, so a new flag cannot slip by): refused, with both readings offered; help says so.
#[test]
fn every_duration_flag_requires_a_unit() {
    let cli = <pgcache_tune::cli::Cli as clap::CommandFactory>::command();
    let mut seen = Vec::new();
    for sub in cli.get_subcommands() {
        for arg in sub.get_arguments() {
            let is_duration = arg
                .get_value_names()
                .is_some_and(|names| names.iter().any(|n| n == "DURATION"));
            let Some(long) = arg.get_long().filter(|_| is_duration) else {
                continue;
            };
            let flag = format!("--{long}");
            let stderr = usage_error(&[sub.get_name(), &flag, "1"]);
            for needle in [&flag, "1s", "1ms"] {
                assert!(stderr.contains(needle), "{flag}: {stderr} lacks {needle}");
            }
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            assert!(
                help.contains("unit"),
                "{} {flag} help does not state the unit rule: {help}",
                sub.get_name()
            );
            seen.push(format!("{} {flag}", sub.get_name()));
        }
    }
    for expected in [
        "check --interval",
        "recommend --statement-timeout",
        "report --statement-timeout",
        "report --connect-timeout",
    ] {
        assert!(
            seen.iter().any(|s| s == expected),
            "{expected} not in {seen:?}"
        );
    }
}

/// `man NAME` prints each subcommand's page with every option it has and the exit-status
/// table; `man --dir` writes exactly the pages the overview refers to.
#[test]
fn man_pages_exist_for_every_subcommand_with_every_option() {
    let cli = <pgcache_tune::cli::Cli as clap::CommandFactory>::command();
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let overview = run_ok(&["man"]);
    for sub in cli.get_subcommands() {
        let name = sub.get_name();
        let page = run_ok(&["man", name]);
        assert!(page.contains(".SH \"EXIT STATUS\""), "{name}");
        for code in ["0", "3", "64", "65", "66", "69", "70"] {
            assert!(
                page.contains(&format!("\\fB{code}\\fR\n")),
                "{name}: {code}"
            );
        }
        for arg in sub.get_arguments() {
            if let Some(long) = arg.get_long().filter(|_| !arg.is_hide_set()) {
                let roff = format!("\\fB\\-\\-{}\\fR", long.replace('-', "\\-"));
                assert!(page.contains(&roff), "{name} page lacks --{long}");
            }
        }
        let file = dir.path().join(format!("pgcache-tune-{name}.1"));
        let written = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        assert_eq!(written, page, "{name}");
        let reference = format!("pgcache\\-tune\\-{}(1)", name.replace('-', "\\-"));
        assert!(overview.contains(&reference), "overview lacks {reference}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("pgcache-tune.1")).unwrap(),
        overview
    );
    let stderr = usage_error(&["man", "reprot"]);
    assert!(stderr.contains("report"), "{stderr}");
}

#[test]
fn without_an_installation_the_snippet_is_version_neutral_and_says_so() {
    let out = bin()
        .args([
            "recommend",
            "--ram",
            "64GB",
            "--cpus",
            "32",
            "--os",
            "linux",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 32 CPUs would give io_workers on 18, which 13-17 refuse.
    assert!(
        !stdout.lines().any(|l| l.starts_with("io_workers")),
        "{stdout}"
    );
    assert!(
        stdout.contains("io_workers"),
        "the header names what was left out: {stdout}"
    );
    assert!(stderr.contains("--pg-version"), "{stderr}");
    assert!(stderr.contains("io_workers"), "{stderr}");
}

#[test]
fn documentation_stays_inside_the_repository_and_has_no_placeholders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for doc in [
        "README.md",
        "docs/ci-recipe.md",
        "docs/recommendation-rules.md",
    ] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        assert!(
            !text.contains("../shared"),
            "{doc} links outside the repository"
        );
        assert!(
            !text.contains("OWNER/"),
            "{doc} has a placeholder to fill in"
        );
    }
}
