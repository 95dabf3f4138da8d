//! The two real consumers our metrics outputs are held to, shared by tests/metrics_cli.rs,
//! tests/metrics_live.rs and tests/serve_live.rs (included with `#[path]`):
//! - `promtool check metrics` (Debian's `prometheus` package) for text format 0.0.4: exit 0,
//!   or exit 3 with nothing but the `_total` lint on the counters whose names we keep for
//!   postgres_exporter compatibility ([`ACCEPTED_TOTAL_LINT`]);
//! - the OpenMetrics parser of Python's prometheus-client, strict about `# EOF`, `_total`
//!   counters, grouping and escaping. Debian's package is importable only by
//!   `/usr/bin/python3` (the first `python3` in PATH may be another installation).
//!
//! A missing tool fails the test under `CI=true` and skips it elsewhere.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};

/// Counters named as postgres_exporter names them, without `_total`: promtool's lint says
/// they "should have _total suffix", which they never can without breaking its dashboards.
/// The only complaints accepted, one per name.
pub const ACCEPTED_TOTAL_LINT: [&str; 4] = [
    "pg_stat_database_blks_hit",
    "pg_stat_database_blks_read",
    "pg_statio_user_tables_heap_blocks_hit",
    "pg_statio_user_tables_heap_blocks_read",
];

/// One parsed sample: name, labels, value.
pub type Sample = (String, std::collections::BTreeMap<String, String>, f64);

fn run_with_stdin(cmd: &mut Command, input: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn validator");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `promtool check metrics` on `text`: panics on a parse error or any lint complaint other
/// than the accepted ones. Returns false when promtool is missing outside CI (skipped).
#[track_caller]
pub fn promtool_accepts(text: &str) -> bool {
    if Command::new("promtool").arg("--version").output().is_err() {
        super::support::skip_unless_ci(
            "promtool is not installed (Debian package prometheus; scripts/install-test-deps.sh)",
        );
        return false;
    }
    let out = run_with_stdin(Command::new("promtool").args(["check", "metrics"]), text);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => {}
        Some(3) => {
            for line in said.lines().filter(|l| !l.trim().is_empty()) {
                let accepted = ACCEPTED_TOTAL_LINT.iter().any(|name| {
                    line.trim() == format!("{name} counter metrics should have \"_total\" suffix")
                });
                assert!(
                    accepted,
                    "promtool complaint not on the accepted list: {line}\n--- input ---\n{text}"
                );
            }
        }
        other => panic!("promtool check metrics failed ({other:?}): {said}\n--- input ---\n{text}"),
    }
    true
}

/// Parses `text` with prometheus-client's strict OpenMetrics parser and returns every
/// sample as `(name, labels, value)`, or `None` when the parser is missing outside CI.
/// Panics when the parser rejects the text.
#[track_caller]
pub fn openmetrics_samples(text: &str) -> Option<Vec<Sample>> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append([s.name, s.labels, s.value])
print(json.dumps(out))
"#;
    let probe = Command::new("/usr/bin/python3")
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        super::support::skip_unless_ci(
            "/usr/bin/python3 cannot import prometheus_client (Debian package python3-prometheus-client; scripts/install-test-deps.sh)",
        );
        return None;
    }
    let out = run_with_stdin(Command::new("/usr/bin/python3").args(["-c", SCRIPT]), text);
    assert!(
        out.status.success(),
        "OpenMetrics parser rejected the text: {}\n--- input ---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<Sample> = serde_json::from_slice(&out.stdout).expect("parser output is JSON");
    Some(parsed)
}
