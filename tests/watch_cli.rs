//! `watch` without a server: flag refusals (one line, exit 64, nothing on stdout, before any
//! connection is tried), an unreachable server (exit 69), and its man page.

mod support;

use std::process::Output;

fn run(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    support::tool_std(home.path())
        .arg("watch")
        .args(args)
        .output()
        .unwrap()
}

fn refused(args: &[&str], needles: &[&str]) {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{args:?}: {stderr} lacks {n}");
    }
}

#[test]
fn nonsense_intervals_and_windows_are_refused_in_one_line() {
    // Port 1 on a socket dir that does not exist: the refusal must come before connecting.
    let nowhere = ["-h", "/nonexistent", "-p", "1"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        nowhere.iter().chain(extra).copied().collect()
    };
    refused(&with(&["--interval", "100ms"]), &["100ms", "200ms to 1h"]);
    refused(&with(&["--interval", "2h"]), &["200ms to 1h"]);
    refused(&with(&["--interval", "0"]), &["200ms to 1h"]);
    refused(&with(&["--interval", "-1s"]), &["-1s"]);
    refused(&with(&["--interval", "fast"]), &["fast", "unit"]);
    refused(&with(&["--interval", "2"]), &["2s", "2ms"]);
    refused(&with(&["--window", "2d"]), &["200ms to 1d"]);
    refused(
        &with(&["--interval", "5s", "--window", "2s"]),
        &["--window 2s", "--interval 5s"],
    );
    refused(&with(&["--format", "html"]), &["html", "text", "json"]);
    refused(
        &with(&["--interval", "200ms", "--window", "1h"]),
        &["18000 intervals", "at most 3600"],
    );
}

#[test]
fn an_unreachable_server_is_exit_69_with_nothing_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().display().to_string();
    let out = run(&["-h", &sock, "-p", "1", "--once", "--interval", "1s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.starts_with("error: ") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn watch_has_a_man_page_and_help_names_the_keys() {
    let home = tempfile::tempdir().unwrap();
    let out = support::tool_std(home.path())
        .args(["man", "watch"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.contains("\\-\\-window") && page.contains("\\-\\-once"),
        "{page}"
    );
    let out = support::tool_std(home.path())
        .args(["watch", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("q (or Esc, Ctrl-C) quit") && help.contains("p pause"),
        "{help}"
    );
}
