//! `redis recommend` without a server: the RAM split with PostgreSQL is one that
//! `recommend` accepts and that never exceeds RAM, the help and man page exist, and bad
//! input gets one line on stderr, exit 64 and nothing on stdout.

use assert_cmd::Command;
use serde_json::Value;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::cargo_bin("pgcache-tune")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn mb(text: &str) -> u64 {
    text.trim_end_matches(['m', 'b', 'M', 'B'])
        .parse::<u64>()
        .unwrap_or_else(|_| panic!("{text} is not NMB"))
        << 20
}

#[test]
fn the_postgres_command_in_the_header_runs_and_the_two_fit_in_ram() {
    for (ram, ram_bytes) in [("64GB", 64u64 << 30), ("1000MB", 1000 << 20)] {
        let (code, err, text) = run(&[
            "redis",
            "recommend",
            "--ram",
            ram,
            "--cpus",
            "8",
            "--with-postgres",
        ]);
        assert_eq!(code, Some(0), "{err}");
        let command = text
            .lines()
            .find_map(|l| l.strip_prefix("#   pgcache-tune "))
            .unwrap_or_else(|| panic!("no recommend command in the header:\n{text}"));
        let args: Vec<&str> = command
            .split(" > ")
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(args[..2], ["recommend", "--ram"], "{command}");
        let pg_bytes = mb(args[2]);
        // The share named in the header is what the snippet's maxmemory lives in.
        let share = text
            .lines()
            .find_map(|l| l.strip_prefix("# RAM split: Redis gets "))
            .and_then(|l| l.split_whitespace().next())
            .map(mb)
            .expect("Redis's share in the header");
        let maxmemory = text
            .lines()
            .find_map(|l| l.strip_prefix("maxmemory "))
            .map(mb)
            .expect("maxmemory");
        assert!(maxmemory < share, "{text}");
        assert!(share + pg_bytes <= ram_bytes, "{text}");
        assert!(
            share + pg_bytes > ram_bytes - (2 << 20),
            "nothing wasted: {text}"
        );
        // PostgreSQL's recommend accepts it as printed and tunes for exactly that RAM.
        let mut pg_args = args.clone();
        pg_args.extend(["--format", "json"]);
        let (code, err, json) = run(&pg_args);
        assert_eq!(code, Some(0), "{err}");
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["inputs"]["ram_bytes"].as_u64(), Some(pg_bytes));
    }
}

#[test]
fn alone_there_is_no_split_and_lfu_is_explained() {
    let (code, err, text) = run(&[
        "redis",
        "recommend",
        "--ram",
        "4GB",
        "--cpus",
        "1",
        "--policy",
        "lfu",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(text.contains("maxmemory 3072mb\n"), "{text}");
    assert!(text.contains("maxmemory-policy allkeys-lfu\n"), "{text}");
    assert!(!text.contains("recommend --ram"), "{text}");
    assert!(text.contains("add --with-postgres"), "{text}");
}

#[test]
fn help_and_man_page_exist() {
    let (code, _, help) = run(&["redis", "recommend", "--help"]);
    assert_eq!(code, Some(0));
    for flag in ["--ram", "--cpus", "--policy", "--with-postgres"] {
        assert!(help.contains(flag), "{flag} in:\n{help}");
    }
    let (code, err, page) = run(&["man", "redis-recommend"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(page.contains("with\\-postgres"), "{page}");
    let (_, _, redis_help) = run(&["redis", "--help"]);
    assert!(redis_help.contains("recommend"), "{redis_help}");
}

#[test]
fn bad_input_gets_one_line_and_exit_64() {
    for (args, expect) in [
        (vec!["--ram", "80MB", "--with-postgres"], "86MB"),
        (vec!["--ram", "12XB"], "expected a size"),
        (vec!["--ram", "10MB"], "at least 64MB"),
        (vec!["--cpus", "0"], "--cpus"),
        (vec!["--policy", "random"], "lru"),
    ] {
        let mut all = vec!["redis", "recommend"];
        all.extend(&args);
        let (code, err, out) = run(&all);
        assert_eq!(code, Some(64), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: nothing on stdout, got {out}");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
