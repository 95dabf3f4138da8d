//! `report --format html` of a real cluster, opened from disk in headless Chromium (Debian's
//! `chromium`, installed by scripts/install-test-deps.sh): the DOM the browser built must hold
//! every chart with one bar per JSON row and the JSON's values, no `<script>` element even
//! though two tables are named to inject one, and the browser must log nothing (the page runs
//! no script, so any console line is an error — the control pages below prove that such a
//! line is caught, including the CSP's refusal of an injected script).
//!
//! Counters move while we look (the report's own queries count in the connected database and
//! in pg_stat_statements), so two runs of `report` cannot agree on every number. Hence two
//! checks: a direct live report, whose user tables are quiet (autovacuum off) and must match
//! the JSON runs around it exactly; and one statistics capture (`snapshot`) rendered as JSON
//! and HTML, where every chart — databases, tables, reads, statements — must match exactly.
//!
//! Run once, not per PostgreSQL major (scripts/test-matrix.sh): nothing here depends on the
//! version beyond what the other live tests cover.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::html::{Bar, bars};
use support::{Cluster, ClusterOptions};

/// Give Chromium this long to load a page and dump its DOM (a loaded 2-core machine).
const BROWSER_LIMIT: Duration = Duration::from_secs(120);

const SCRIPT_NAME: &str = "<script>alert(1)</script>";
const QUOTES_NAME: &str = "\"'&";

/// Chromium's binary, or `None` (with a skip note, or a failure under `CI=true`).
fn chromium() -> Option<PathBuf> {
    let ok = Command::new("chromium")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Some(PathBuf::from("chromium"))
    } else {
        support::skip_unless_ci("chromium is not installed (Debian package chromium)");
        None
    }
}

/// What the browser made of a page: the serialised DOM and the lines it logged from the
/// page's console.
struct Loaded {
    dom: String,
    console: Vec<String>,
}

/// Loads `page` from disk in headless Chromium with console logging on stderr.
fn load(browser: &Path, page: &Path, profile: &Path) -> Loaded {
    let mut child = Command::new(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > BROWSER_LIMIT {
            let _ = child.kill();
            panic!("chromium did not finish loading {} in time", page.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "chromium failed on {}",
        page.display()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    Loaded {
        dom: String::from_utf8(out.stdout).expect("UTF-8 DOM"),
        console: stderr
            .lines()
            .filter(|l| l.contains("CONSOLE"))
            .map(str::to_owned)
            .collect(),
    }
}

/// The page must have loaded without a console line and without any script element.
fn assert_clean(page: &Loaded, what: &str) {
    assert!(
        page.console.is_empty(),
        "{what}: console output {:?}",
        page.console
    );
    assert!(
        !page.dom.to_ascii_lowercase().contains("<script"),
        "{what}: a script element in the DOM"
    );
    assert!(page.dom.contains("</html>"), "{what}: DOM cut short");
}

/// `app`: pgbench at scale 1, then two tables named to inject markup, all read after a
/// restart emptied shared_buffers (ratios below 1); pg_stat_statements and pg_buffercache
/// installed by the harness (the tool never creates extensions).
fn workload_cluster(bin: PathBuf) -> Cluster {
    let mut c = Cluster::init(ClusterOptions::new(bin));
    c.conf_append(
        "autovacuum = off\n\
         shared_preload_libraries = 'pg_stat_statements'",
    );
    c.start();
    c.psql("postgres", "create database app");
    pgbench(&c, &["-i", "-q", "-s", "1"]);
    c.psql(
        "app",
        "create extension pg_stat_statements;
         create extension pg_buffercache;
         create table \"<script>alert(1)</script>\" (id int primary key, v text);
         insert into \"<script>alert(1)</script>\" select g, md5(g::text) from generate_series(1, 5000) g;
         create table \"\"\"'&\" (id int);
         insert into \"\"\"'&\" select generate_series(1, 5000);",
    );
    c.restart();
    pgbench(&c, &["-n", "-c", "2", "-t", "100"]);
    c.psql(
        "app",
        "select count(*) from \"<script>alert(1)</script>\" where id < 4000;
         select count(*) from \"\"\"'&\";
         select count(*) from pgbench_accounts where aid between 1 and 20000;",
    );
    c
}

/// Runs pgbench (the cluster's, else the one on PATH) against `app`.
fn pgbench(c: &Cluster, args: &[&str]) {
    let path = c.bin_dir().join("pgbench");
    let mut cmd = Command::new(if path.is_file() {
        path
    } else {
        PathBuf::from("pgbench")
    });
    support::without_pg_env(&mut cmd);
    cmd.arg("-h")
        .arg(c.socket_dir())
        .args(["-p", &c.port().to_string(), "-U", support::SUPERUSER])
        .args(args)
        .arg("app");
    let out = cmd.output().expect("run pgbench");
    assert!(
        out.status.success(),
        "pgbench {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run(home: &Path, args: &[&str]) -> String {
    let out = support::tool(home).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The JSON's table row for a bar (by database and `schema.name`).
fn table_row<'a>(report: &'a Value, bar: &Bar) -> &'a Value {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            Some(t["database"].as_str().unwrap()) == bar.database.as_deref()
                && format!(
                    "{}.{}",
                    t["schema"].as_str().unwrap(),
                    t["name"].as_str().unwrap()
                ) == bar.name
        })
        .unwrap_or_else(|| panic!("bar {bar:?} has no table row"))
}

/// Every chart of `dom` against `report`, value for value.
fn assert_charts_equal(dom: &str, report: &Value) {
    let dbs = report["databases"].as_array().unwrap();
    let drawn = bars(dom, "chart-database-hit");
    assert_eq!(drawn.len(), dbs.len());
    for (b, d) in drawn.iter().zip(dbs) {
        assert_eq!(b.name, d["name"].as_str().unwrap());
        assert_eq!(b.json(), d["hit_ratio"], "{}", b.name);
    }
    let tables = report["tables"].as_array().unwrap();
    for (id, field) in [
        ("chart-table-hit", "heap_hit_ratio"),
        ("chart-table-reads", "heap_blks_read"),
    ] {
        let drawn = bars(dom, id);
        assert_eq!(drawn.len(), tables.len(), "{id}");
        for (b, t) in drawn.iter().zip(tables) {
            assert_eq!(table_row(report, b), t, "{id}: order");
            assert_eq!(b.json(), t[field], "{id} {}", b.name);
        }
    }
    let statements = report["queries"]["queries"].as_array().unwrap();
    let drawn = bars(dom, "chart-query-reads");
    assert_eq!(drawn.len(), statements.len());
    for (b, q) in drawn.iter().zip(statements) {
        assert_eq!(b.json(), q["read_share"]);
    }
}

#[test]
fn html_report_in_a_browser_matches_the_json_and_resists_injection() {
    let Some(bin) = support::require_pg() else {
        return;
    };
    let Some(browser) = chromium() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let profile = dir.join("chromium-profile");

    // The console check catches what it must: a script's error, and the CSP's refusal of a
    // script injected into one of our pages (checked on the fixture page, before any server).
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stats/pg15.json");
    let fixture_page = run(
        dir,
        &[
            "report",
            "--stats-from",
            fixture.to_str().unwrap(),
            "--format",
            "html",
        ],
    );
    let injected = dir.join("injected.html");
    std::fs::write(
        &injected,
        fixture_page.replace("</main>", "<script>document.title='ran'</script></main>"),
    )
    .unwrap();
    let refused = load(&browser, &injected, &profile);
    assert!(
        refused
            .console
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "the CSP refusal was not seen on the console: {:?}",
        refused.console
    );
    let erring = dir.join("erring.html");
    std::fs::write(
        &erring,
        "<!DOCTYPE html><html><body><script>console.error('probe-1234')</script></body></html>",
    )
    .unwrap();
    let logged = load(&browser, &erring, &profile);
    assert!(
        logged.console.iter().any(|l| l.contains("probe-1234")),
        "a console error was not seen: {:?}",
        logged.console
    );

    let c = workload_cluster(bin);
    let conn = c.conn_args("app", support::SUPERUSER);
    let conn: Vec<&str> = conn.iter().map(String::as_str).collect();
    let report = |format: &str| {
        run(
            dir,
            &[
                &["report"],
                &conn[..],
                &["--min-blocks", "1", "--format", format],
            ]
            .concat(),
        )
    };

    // 1. A direct live report between two JSON runs.
    let before = json(&report("json"));
    let page_path = dir.join("report.html");
    std::fs::write(&page_path, report("html")).unwrap();
    let after = json(&report("json"));
    let live = load(&browser, &page_path, &profile);
    assert_clean(&live, "live report");
    for id in [
        "chart-database-hit",
        "chart-table-hit",
        "chart-table-reads",
        "chart-buffer-usage",
        "chart-buffer-relations",
        "chart-query-reads",
    ] {
        assert!(!bars(&live.dom, id).is_empty(), "{id} has no bars");
    }
    // The user tables are quiet: both JSON runs and the page agree on every one of them.
    assert_eq!(before["tables"], after["tables"], "the user tables moved");
    let tables = before["tables"].as_array().unwrap();
    let drawn = bars(&live.dom, "chart-table-hit");
    assert_eq!(drawn.len(), tables.len());
    for b in &drawn {
        let t = table_row(&before, b);
        assert_eq!(b.json(), t["heap_hit_ratio"], "{}", b.name);
    }
    // The hostile names are listed, shown as text, and came back intact from the DOM.
    for name in [SCRIPT_NAME, QUOTES_NAME] {
        let full = format!("public.{name}");
        assert!(drawn.iter().any(|b| b.name == full), "{full} not charted");
    }
    assert!(
        live.dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the script-named table is not shown as text"
    );
    // Findings and settings: one element each, as many as the JSON has.
    assert_eq!(
        live.dom.matches(r#"<li class="finding "#).count(),
        before["findings"].as_array().unwrap().len()
    );
    assert_eq!(
        live.dom.matches(r#"<tr class="setting "#).count(),
        before["settings"].as_array().unwrap().len()
    );

    // 2. One capture, two renderings: every chart equal to the JSON.
    let snap = dir.join("snap.json");
    run(
        dir,
        &[
            &["snapshot"],
            &conn[..],
            &["--output", snap.to_str().unwrap()],
        ]
        .concat(),
    );
    let offline = |format: &str| {
        run(
            dir,
            &[
                "report",
                "--stats-from",
                snap.to_str().unwrap(),
                "--min-blocks",
                "1",
                "--format",
                format,
            ],
        )
    };
    let captured = json(&offline("json"));
    let page_path = dir.join("captured.html");
    std::fs::write(&page_path, offline("html")).unwrap();
    let page = load(&browser, &page_path, &profile);
    assert_clean(&page, "captured report");
    assert_charts_equal(&page.dom, &captured);
    assert!(
        bars(&page.dom, "chart-table-hit")
            .iter()
            .any(|b| b.name == format!("public.{SCRIPT_NAME}")),
        "the capture lost the script-named table"
    );

    // 3. `queries --format html` of the same capture: its chart is the JSON's statements.
    let queries = |format: &str| {
        run(
            dir,
            &[
                "queries",
                "--stats-from",
                snap.to_str().unwrap(),
                "--format",
                format,
            ],
        )
    };
    let listed = json(&queries("json"));
    let page_path = dir.join("queries.html");
    std::fs::write(&page_path, queries("html")).unwrap();
    let page = load(&browser, &page_path, &profile);
    assert_clean(&page, "queries page");
    let statements = listed["queries"].as_array().unwrap();
    let drawn = bars(&page.dom, "chart-query-reads");
    assert!(!drawn.is_empty());
    assert_eq!(drawn.len(), statements.len());
    for (i, (b, q)) in drawn.iter().zip(statements).enumerate() {
        assert_eq!(b.name, format!("#{} queryid {}", i + 1, q["queryid"]));
        assert_eq!(b.json(), q["read_share"]);
    }
}
