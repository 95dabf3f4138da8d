//! `report` through the real binary without a server: the committed capture
//! `fixtures/stats/pg15.json` goes in through the hidden `--stats-from`, and what comes out
//! must have the documented JSON schema, agree with the capture's own counters, render as
//! valid GitHub-flavoured Markdown, carry no ANSI escapes unless a terminal asks for colour,
//! and honour `--limit` and `--min-blocks`. Bad input fails with one line on stderr, the
//! documented exit code and nothing on stdout. The live tests are in report_live.rs.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use assert_cmd::Command;
use serde_json::Value;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/stats/pg15.json")
}

/// The binary with no connection variables, colour preference or password file from the
/// caller's environment.
fn bin() -> Command {
    let mut cmd = support::tool(Path::new(env!("CARGO_MANIFEST_DIR")));
    cmd.env_remove("NO_COLOR");
    cmd
}

/// `report --stats-from fixture ARGS`, which must succeed silently; its stdout.
fn report(args: &[&str]) -> String {
    let out = bin()
        .arg("report")
        .arg("--stats-from")
        .arg(fixture())
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{args:?} wrote to stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 report")
}

fn report_json(args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let text = report(&all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The capture itself, as the report should have read it.
fn capture() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap()
}

/// `hit / (hit + read)`, or `None` when both are 0: the ratio the report must show.
fn expected_ratio(hit: i64, read: i64) -> Option<f64> {
    (hit + read != 0).then(|| hit as f64 / (hit + read) as f64)
}

/// Asserts that a JSON ratio is `want`: null for `None`, else the same number. serde_json's
/// default float parser may land one ULP off the printed value, so "the same" allows 1e-12,
/// far below any difference a wrong formula would make.
#[track_caller]
fn assert_ratio(got: &Value, want: Option<f64>, what: &str) {
    let same = match (got, want) {
        (Value::Null, None) => true,
        (v, Some(w)) => v.as_f64().is_some_and(|g| (g - w).abs() <= 1e-12),
        _ => false,
    };
    assert!(same, "{what}: {got} but {want:?} expected");
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

/// A test of a JSON value's type.
type Check = fn(&Value) -> bool;

/// Every `key` is present in `obj`, and `check` accepts its value.
fn assert_keys(obj: &Value, what: &str, keys: &[(&str, Check)]) {
    for (key, check) in keys {
        let v = obj
            .get(key)
            .unwrap_or_else(|| panic!("{what} lacks {key}: {obj}"));
        assert!(check(v), "{what}.{key} has the wrong type: {v}");
    }
}

fn is_str(v: &Value) -> bool {
    v.is_string()
}
fn is_int(v: &Value) -> bool {
    v.is_i64() || v.is_u64()
}
fn is_bool(v: &Value) -> bool {
    v.is_boolean()
}
fn is_ratio_or_null(v: &Value) -> bool {
    v.is_null() || v.as_f64().is_some_and(|r| (0.0..=1.0).contains(&r))
}
fn is_int_or_null(v: &Value) -> bool {
    v.is_null() || is_int(v)
}
fn is_str_or_null(v: &Value) -> bool {
    v.is_null() || v.is_string()
}

#[test]
fn json_has_the_documented_schema_and_the_captures_numbers() {
    let r = report_json(&["--min-blocks", "0", "--limit", "100"]);
    let cap = capture();

    assert_eq!(r["format"], 1);
    assert_eq!(
        r["server"]["version_num"], cap["server"]["version_num"],
        "server.version_num"
    );
    assert!(is_int(&r["server"]["version_num"]));

    let dbs = r["databases"].as_array().expect("databases[]");
    assert_eq!(dbs.len(), cap["databases"].as_array().unwrap().len());
    for d in dbs {
        assert_keys(
            d,
            "databases[]",
            &[
                ("name", is_str),
                ("blks_hit", is_int),
                ("blks_read", is_int),
                ("hit_ratio", is_ratio_or_null),
                ("size_bytes", is_int_or_null),
                ("stats_reset", |v| v.is_null() || v.is_f64()),
                ("stats_age_seconds", is_int_or_null),
                ("young", is_bool),
            ],
        );
        let name = d["name"].as_str().unwrap();
        let src = cap["databases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("database {name} is not in the capture"));
        assert_eq!(d["blks_hit"], src["blks_hit"], "{name}");
        assert_eq!(d["blks_read"], src["blks_read"], "{name}");
        assert_eq!(d["size_bytes"], src["size_bytes"], "{name}");
        // Each row's own window: its stats_reset, and the age counted from it.
        assert_eq!(d["stats_reset"], src["stats_reset_epoch"], "{name}");
        let now = cap["server"]["now_epoch"].as_f64().unwrap();
        match src["stats_reset_epoch"].as_f64() {
            Some(reset) => assert_eq!(
                d["stats_age_seconds"].as_f64().unwrap(),
                (now - reset).floor().max(0.0),
                "{name}"
            ),
            None => assert!(d["stats_age_seconds"].is_null(), "{name}"),
        }
        assert_ratio(
            &d["hit_ratio"],
            expected_ratio(int(&d["blks_hit"]), int(&d["blks_read"])),
            name,
        );
    }
    // The capture holds databases without I/O: no ratio, not 0% nor 100%.
    let idle = dbs.iter().find(|d| d["name"] == "idle").unwrap();
    assert_eq!(idle["hit_ratio"], Value::Null);

    let tables = r["tables"].as_array().expect("tables[]");
    assert_eq!(
        tables.len(),
        cap["tables"].as_array().unwrap().len(),
        "--min-blocks 0 keeps every table"
    );
    for t in tables {
        assert_keys(
            t,
            "tables[]",
            &[
                ("database", is_str),
                ("schema", is_str),
                ("name", is_str),
                ("heap_blks_hit", is_int),
                ("heap_blks_read", is_int),
                ("heap_hit_ratio", is_ratio_or_null),
                ("idx_hit_ratio", is_ratio_or_null),
                ("toast_hit_ratio", is_ratio_or_null),
                ("toast_idx_hit_ratio", is_ratio_or_null),
                ("size_bytes", is_int_or_null),
                ("seq_scan", is_int_or_null),
                ("seq_tup_read", is_int_or_null),
                ("idx_scan", is_int_or_null),
            ],
        );
        let name = t["name"].as_str().unwrap();
        let src = cap["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        assert_eq!(t["database"], src["database"]);
        assert_eq!(t["heap_blks_hit"], src["heap_blks_hit"]);
        assert_eq!(t["heap_blks_read"], src["heap_blks_read"]);
        assert_ratio(
            &t["heap_hit_ratio"],
            expected_ratio(int(&src["heap_blks_hit"]), int(&src["heap_blks_read"])),
            name,
        );
        let idx = if src["idx_blks_hit"].is_null() {
            None
        } else {
            expected_ratio(int(&src["idx_blks_hit"]), int(&src["idx_blks_read"]))
        };
        assert_ratio(&t["idx_hit_ratio"], idx, name);
        // As pg_statio_user_tables defines them: TOAST heap alone, TOAST index apart.
        let pair = |hit: &str, read: &str| {
            if src[hit].is_null() {
                None
            } else {
                expected_ratio(int(&src[hit]), int(&src[read]))
            }
        };
        assert_ratio(
            &t["toast_hit_ratio"],
            pair("toast_blks_hit", "toast_blks_read"),
            name,
        );
        assert_ratio(
            &t["toast_idx_hit_ratio"],
            pair("tidx_blks_hit", "tidx_blks_read"),
            name,
        );
    }
    let by_name = |n: &str| tables.iter().find(|t| t["name"] == n).unwrap();
    assert_eq!(by_name("no_idx")["idx_hit_ratio"], Value::Null);
    assert_eq!(by_name("no_idx")["toast_hit_ratio"], Value::Null);
    assert_eq!(by_name("no_idx")["toast_idx_hit_ratio"], Value::Null);
    assert!(by_name("toasted")["toast_hit_ratio"].is_f64());

    let indexes = r["indexes"].as_array().expect("indexes[]");
    assert_eq!(indexes.len(), cap["indexes"].as_array().unwrap().len());
    for i in indexes {
        assert_keys(
            i,
            "indexes[]",
            &[
                ("database", is_str),
                ("schema", is_str),
                ("table", is_str),
                ("name", is_str),
                ("idx_blks_hit", is_int),
                ("idx_blks_read", is_int),
                ("hit_ratio", is_ratio_or_null),
                ("size_bytes", is_int_or_null),
            ],
        );
        assert_ratio(
            &i["hit_ratio"],
            expected_ratio(int(&i["idx_blks_hit"]), int(&i["idx_blks_read"])),
            i["name"].as_str().unwrap(),
        );
    }

    let settings = r["settings"].as_array().expect("settings[]");
    assert!(!settings.is_empty());
    for s in settings {
        assert_keys(
            s,
            "settings[]",
            &[
                ("name", is_str),
                ("live", is_str_or_null),
                ("recommended", is_str),
                ("status", |v| {
                    ["equal", "differs", "missing", "auto", "unknown"]
                        .contains(&v.as_str().unwrap_or(""))
                }),
                ("restart_required", is_bool),
                ("pending_restart", is_bool),
                ("source", is_str_or_null),
                ("sourcefile", is_str_or_null),
                ("sourceline", is_int_or_null),
            ],
        );
    }
    let findings = r["findings"].as_array().expect("findings[]");
    assert!(!findings.is_empty());
    for f in findings {
        assert_keys(
            f,
            "findings[]",
            &[
                ("severity", |v| {
                    ["critical", "warning", "info"].contains(&v.as_str().unwrap_or(""))
                }),
                ("code", is_str),
                ("message", |v| v.as_str().is_some_and(|m| !m.is_empty())),
            ],
        );
    }
}

/// The cells of a Markdown table row, split on `|` that no backslash escapes.
fn cells(line: &str) -> Vec<String> {
    let inner = line
        .strip_prefix('|')
        .and_then(|l| l.strip_suffix('|'))
        .unwrap_or_else(|| panic!("a table row starts and ends with |: {line:?}"));
    let mut out = vec![String::new()];
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars
                    .next()
                    .unwrap_or_else(|| panic!("dangling backslash: {line:?}"));
                out.last_mut().unwrap().extend(['\\', next]);
            }
            '|' => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out.iter().map(|c| c.trim().to_string()).collect()
}

/// Every table in `md`: its heading, header cells and body rows. Panics where the text is
/// not a valid GFM table (delimiter row, equal cell counts, blank line before).
fn gfm_tables(md: &str) -> Vec<(String, Vec<String>, Vec<Vec<String>>)> {
    let lines: Vec<&str> = md.lines().collect();
    let mut tables = Vec::new();
    let mut heading = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(h) = line.strip_prefix("### ") {
            heading = h.to_string();
        }
        if !line.starts_with('|') {
            i += 1;
            continue;
        }
        assert!(
            i > 0 && lines[i - 1].is_empty(),
            "a table must follow a blank line: {:?}",
            &lines[i.saturating_sub(1)..=i]
        );
        let header = cells(line);
        let delim = cells(lines.get(i + 1).expect("a delimiter row"));
        assert_eq!(delim.len(), header.len(), "delimiter row of {heading}");
        for d in &delim {
            let dashes = d.trim_start_matches(':').trim_end_matches(':');
            assert!(
                dashes.len() >= 3 && dashes.chars().all(|c| c == '-'),
                "bad delimiter cell {d:?} in {heading}"
            );
        }
        let mut rows = Vec::new();
        i += 2;
        while i < lines.len() && lines[i].starts_with('|') {
            let row = cells(lines[i]);
            assert_eq!(
                row.len(),
                header.len(),
                "row of {heading} has {} cells, header {}: {:?}",
                row.len(),
                header.len(),
                lines[i]
            );
            rows.push(row);
            i += 1;
        }
        tables.push((heading.clone(), header, rows));
    }
    tables
}

#[test]
fn markdown_is_a_set_of_valid_gfm_tables() {
    let md = report(&["--format", "markdown", "--min-blocks", "0"]);
    let json = report_json(&["--min-blocks", "0"]);
    assert!(md.starts_with("## pgcache-tune report\n"), "{md}");
    assert!(!md.contains('\x1b'));
    let tables = gfm_tables(&md);
    let headings: Vec<&str> = tables.iter().map(|(h, _, _)| h.as_str()).collect();
    for want in [
        "Server",
        "Host",
        "Databases",
        "Tables",
        "Indexes",
        "Settings that differ",
        "Findings",
    ] {
        assert!(headings.contains(&want), "no {want} table in {headings:?}");
    }
    let rows = |h: &str| &tables.iter().find(|t| t.0 == h).unwrap().2;
    assert_eq!(
        rows("Databases").len(),
        json["databases"].as_array().unwrap().len()
    );
    assert_eq!(
        rows("Tables").len(),
        json["tables"].as_array().unwrap().len()
    );
    assert_eq!(
        rows("Indexes").len(),
        json["indexes"].as_array().unwrap().len()
    );
    assert_eq!(
        rows("Findings").len(),
        json["findings"].as_array().unwrap().len()
    );
    // The capture has a table named `odd|name`: escaped, it stays in its cell.
    assert!(
        rows("Tables").iter().any(|r| r[1] == "other.odd\\|name"),
        "{:?}",
        rows("Tables")
    );
    // Columns line up with the header: the database column holds database names.
    let dbs: Vec<&str> = json["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    for r in rows("Databases") {
        assert!(dbs.contains(&r[0].as_str()), "{r:?}");
        assert!(r[1].ends_with('%') || r[1] == "—", "{r:?}");
    }
}

/// `report --stats-from fixture` with stdout on a pseudo-terminal (util-linux `script`), so
/// that the colour decision sees a terminal. `None` when `script` is unavailable.
fn under_a_terminal(no_color: bool) -> Option<Output> {
    under_a_terminal_with(no_color, "xterm-256color")
}

/// [`under_a_terminal`] with `TERM` set to `term`.
fn under_a_terminal_with(no_color: bool, term: &str) -> Option<Output> {
    let script = ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())?;
    let line = format!(
        "'{}' report --stats-from '{}'",
        env!("CARGO_BIN_EXE_pgcache-tune"),
        fixture().display()
    );
    let mut cmd = std::process::Command::new(script);
    cmd.args(["-q", "-e", "-c", &line, "/dev/null"])
        .stdin(Stdio::null())
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .env("TERM", term);
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    Some(cmd.output().unwrap())
}

#[test]
fn no_ansi_escapes_without_a_terminal_or_with_no_color() {
    // Piped (not a terminal): no escapes, with or without NO_COLOR.
    let piped = report(&[]);
    assert!(!piped.contains('\x1b'), "{piped}");
    let out = bin()
        .args(["report", "--stats-from"])
        .arg(fixture())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!out.stdout.contains(&0x1b));
    assert_eq!(
        out.stdout,
        piped.as_bytes(),
        "NO_COLOR changes nothing when piped"
    );

    // The control: on a terminal the capture's low ratios are coloured, so the checks above
    // could fail; NO_COLOR turns the colour off there too.
    let Some(tty) = under_a_terminal(false) else {
        support::skip_unless_ci("no `script` (bsdutils) to run under a pseudo-terminal");
        return;
    };
    assert!(tty.status.success(), "{tty:?}");
    let text = String::from_utf8_lossy(&tty.stdout);
    assert!(text.contains("\x1b["), "a terminal gets colour: {text}");
    let tty = under_a_terminal(true).unwrap();
    assert!(tty.status.success(), "{tty:?}");
    let text = String::from_utf8_lossy(&tty.stdout);
    assert!(text.contains("Databases"), "{text}");
    assert!(!text.contains('\x1b'), "NO_COLOR on a terminal: {text}");
    // A dumb terminal gets no colour either.
    let tty = under_a_terminal_with(false, "dumb").unwrap();
    assert!(tty.status.success(), "{tty:?}");
    let text = String::from_utf8_lossy(&tty.stdout);
    assert!(text.contains("Databases"), "{text}");
    assert!(!text.contains('\x1b'), "TERM=dumb: {text}");
}

#[test]
fn tables_fit_columns() {
    for columns in [60usize, 80, 132] {
        let out = bin()
            .args(["report", "--stats-from"])
            .arg(fixture())
            .env("COLUMNS", columns.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Findings"), "{text}");
        for line in text.lines() {
            assert!(
                line.chars().count() <= columns,
                "COLUMNS={columns}: {line:?}"
            );
        }
    }
    // probe's table uses the same helper.
    let out = bin().args(["probe"]).env("COLUMNS", "50").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Total RAM"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 50), "{text}");
}

fn names(v: &Value, section: &str) -> Vec<String> {
    v[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn limit_keeps_the_worst_and_min_blocks_is_a_floor() {
    // Blocks touched per table in the capture (heap + index + TOAST, hit + read).
    let cap = capture();
    let touched: BTreeMap<String, i64> = cap["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let sum = [
                "heap_blks_hit",
                "heap_blks_read",
                "idx_blks_hit",
                "idx_blks_read",
                "toast_blks_hit",
                "toast_blks_read",
                "tidx_blks_hit",
                "tidx_blks_read",
            ]
            .iter()
            .map(|k| t[k].as_i64().unwrap_or(0))
            .sum();
            (t["name"].as_str().unwrap().to_string(), sum)
        })
        .collect();
    let mut floors: Vec<i64> = touched.values().copied().collect();
    floors.sort_unstable();
    floors.dedup();
    assert!(
        floors.len() >= 4,
        "the capture needs varied tables: {touched:?}"
    );
    for floor in floors.iter().flat_map(|f| [*f, f + 1]) {
        let r = report_json(&["--min-blocks", &floor.to_string(), "--limit", "100"]);
        let mut got = names(&r, "tables");
        got.sort();
        let want: Vec<String> = touched
            .iter()
            .filter(|(_, n)| **n >= floor)
            .map(|(name, _)| name.clone())
            .collect();
        assert_eq!(got, want, "--min-blocks {floor}");
        assert_eq!(r["scope"]["min_blocks"], floor);
        assert_eq!(r["scope"]["tables_matched"], want.len());
    }

    let all = report_json(&["--min-blocks", "0", "--limit", "100"]);
    let one = report_json(&["--min-blocks", "0", "--limit", "1"]);
    assert_eq!(one["tables"].as_array().unwrap().len(), 1);
    assert_eq!(one["indexes"].as_array().unwrap().len(), 1);
    assert_eq!(
        one["tables"][0], all["tables"][0],
        "the worst table is kept"
    );
    assert_eq!(
        one["indexes"][0], all["indexes"][0],
        "the worst index is kept"
    );
    assert_eq!(
        one["scope"]["tables_matched"],
        all["tables"].as_array().unwrap().len(),
        "the limit does not change how many matched"
    );
    // Databases and settings are not relations: the limit leaves them alone.
    assert_eq!(one["databases"], all["databases"]);
    assert_eq!(one["settings"], all["settings"]);
    let table = report(&["--min-blocks", "0", "--limit", "1"]);
    assert!(
        table.contains(&format!(
            "Tables (1 of {} with ≥ 0 blocks touched",
            all["tables"].as_array().unwrap().len()
        )),
        "{table}"
    );
    // 0 means no limit, not "hide every row".
    let unlimited = report_json(&["--min-blocks", "0", "--limit", "0"]);
    assert_eq!(unlimited["tables"], all["tables"]);
    assert_eq!(unlimited["indexes"], all["indexes"]);
    assert!(!unlimited["tables"].as_array().unwrap().is_empty());
    let text = report(&["--min-blocks", "0", "--limit", "0"]);
    assert!(text.contains("public.with_idx"), "{text}");
}

/// Runs `pgcache-tune ARGS` expecting failure: exit `code`, one `error:` line containing
/// `needle`, nothing on stdout, no panic, no `secret`.
fn assert_fails(args: &[&str], code: i32, needle: &str, secret: Option<&str>) {
    let out = bin().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{args:?} wrote to stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: {stderr} lacks {needle:?}"
    );
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    if let Some(s) = secret {
        assert!(
            !stderr.contains(s),
            "{args:?} printed the password: {stderr}"
        );
    }
}

#[test]
fn bad_input_is_one_line_and_a_documented_code() {
    const SECRET: &str = "Hunter2-Not-Printed";
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.json");
    let full = std::fs::read_to_string(fixture()).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let truncated = truncated.to_str().unwrap();
    let dir_path = dir.path().to_str().unwrap();
    let missing = dir.path().join("missing.json");
    let missing = missing.to_str().unwrap();
    let fixture = fixture();
    let fixture = fixture.to_str().unwrap();

    let bad_url = format!("postgresql://alice:{SECRET}@[::1/app");
    let bad_key = format!("host=/tmp user=alice password={SECRET} bogus=1");
    // Nothing listens on a port that was just free (bound and released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let refused_url = format!("postgresql://alice:{SECRET}@127.0.0.1:{port}/app");

    let cases: &[(&[&str], i32, &str)] = &[
        (&["report", &bad_url], 64, "IPv6"),
        (
            &["report", &bad_key],
            64,
            "invalid connection option \"bogus\"",
        ),
        (
            &["report", "-h", "127.0.0.1", "-p", &port, "-U", "alice"],
            69,
            "refused",
        ),
        (&["report", &refused_url], 69, "refused"),
        (
            &["report", "--stats-from", fixture, "--schema", "~["],
            64,
            "--schema ~[",
        ),
        (
            &["report", "--stats-from", fixture, "--exclude", "~("],
            64,
            "--exclude ~(",
        ),
        (
            &["report", "--stats-from", fixture, "--min-blocks", "-1"],
            64,
            "--min-blocks",
        ),
        (
            &["report", "--stats-from", fixture, "--format", "yaml"],
            64,
            "table, json, markdown",
        ),
        (&["report", "--stats-from", missing], 66, missing),
        (&["report", "--stats-from", dir_path], 66, "is a directory"),
        (&["report", "--stats-from", truncated], 65, "not valid JSON"),
    ];
    for (args, code, needle) in cases {
        assert_fails(args, *code, needle, Some(SECRET));
    }
}
