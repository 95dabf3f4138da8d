//! `explain` through the real binary without a server: the statement gate runs before any
//! connection is tried, so a refused statement exits 64 even when the server named does not
//! exist (it would be 69 had the tool tried to connect), with one line on stderr and nothing
//! on stdout. The live tests are in explain_live.rs.

mod support;

use std::path::Path;

/// `explain -h /nonexistent ARGS`, with the statement on stdin when given.
fn explain(args: &[&str], stdin: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = support::tool(dir.path())
        .args(["explain", "-h", "/nonexistent-socket-dir", "-p", "5999"])
        .args(args)
        .write_stdin(stdin)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn refused_statements_fail_before_connecting() {
    for (args, why) in [
        (vec!["DELETE FROM t"], "the command is DELETE"),
        (vec!["app", "SELECT 1; DROP TABLE t"], "several statements"),
        (
            vec!["WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"],
            "modifies data",
        ),
        (vec!["SELECT * FROM t FOR SHARE"], "row locks"),
        (vec!["app"], "no statement after the connection \"app\""),
        (vec![], "no statement: give it as an argument"),
        (vec!["--file", "-"], "several statements"),
        (
            vec!["SELECT 1", "--file", "-"],
            "both as an argument and with --file",
        ),
    ] {
        let (code, stdout, stderr) = explain(&args, "SELECT 1;\n-- then\nVACUUM");
        assert_eq!(code, 64, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }
}

#[test]
fn an_accepted_statement_goes_on_to_connect_and_files_are_read() {
    // Accepted, so the tool tries the (absent) server: exit 69, not 64.
    let (code, stdout, stderr) = explain(&["SELECT 1"], "");
    assert_eq!(code, 69, "{stderr}");
    assert!(stdout.is_empty());
    let (code, _, stderr) = explain(&["--file", "-"], "-- a comment\nTABLE t;\n");
    assert_eq!(code, 69, "{stderr}");
    // A missing file is an I/O error naming it.
    let missing = Path::new("/nonexistent/slow.sql");
    let (code, _, stderr) = explain(&["--file", missing.to_str().unwrap()], "");
    assert_eq!(code, 66, "{stderr}");
    assert!(stderr.contains("/nonexistent/slow.sql"), "{stderr}");
    // Statement and --file together are a usage error.
    let (code, _, _) = explain(&["app", "SELECT 1", "--file", "x.sql"], "");
    assert_eq!(code, 64);
}
