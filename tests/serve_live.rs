//! `serve` over real HTTP (curl) against a throwaway cluster: scrapes return metrics that
//! promtool and the OpenMetrics parser accept, content negotiation follows `Accept`,
//! `/probe?target=` serves one inventory target (unknown → 404, one line), concurrent
//! scrapes within the cache window cause ONE collection (counted in the server's statement
//! log), a dead target is `up 0` without its password anywhere, a non-loopback `--listen`
//! is refused, and SIGTERM stops the server cleanly with exit 0.
//!
//! HTTP does not depend on the PostgreSQL major, so this file runs once, not per major
//! (scripts/test-matrix.sh leaves it out of the matrix; scripts/test.sh runs it once).

mod support;
#[path = "support/metrics.rs"]
mod validate;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Cluster, ClusterOptions};

/// The password of the dead target: it must never appear in a response or on stderr.
const SECRET: &str = "hunter2-never-shown";
/// A table name that needs every label escape.
const ODD_TABLE: &str = "odd\"quote\\slash\nline";

fn curl_present() -> bool {
    if Command::new("curl").arg("--version").output().is_ok() {
        return true;
    }
    support::skip_unless_ci("curl is not installed (scripts/install-test-deps.sh installs it)");
    false
}

/// What one HTTP request gave.
#[derive(Debug)]
struct Got {
    status: u16,
    content_type: String,
    body: String,
}

fn curl_cmd(url: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "60",
        "-w",
        "\n%{http_code}\n%{content_type}",
    ])
    .args(extra)
    .arg(url)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

fn parse_curl(out: std::process::Output) -> Got {
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.rsplitn(3, '\n');
    let content_type = parts.next().unwrap().to_owned();
    let status = parts.next().unwrap().parse().unwrap();
    let body = parts.next().unwrap_or("").to_owned();
    Got {
        status,
        content_type,
        body,
    }
}

fn get(url: &str, extra: &[&str]) -> Got {
    parse_curl(curl_cmd(url, extra).output().unwrap())
}

/// A running `serve`; killed on drop if the test did not stop it.
struct Served {
    child: Child,
    base: String,
    stderr: BufReader<std::process::ChildStderr>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `pgcache-tune serve ARGS --listen 127.0.0.1:0` and waits for its "listening" line.
fn serve(home: &Path, args: &[&str]) -> Served {
    let mut cmd = support::tool_std(home);
    cmd.arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .env("PGCACHE_TEST_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no listening line: {line:?}"));
    let base = url.trim_end_matches("/metrics").to_owned();
    Served {
        child,
        base,
        stderr,
    }
}

impl Served {
    /// SIGTERM, then the exit status and the rest of stderr.
    fn terminate(self) -> (Option<i32>, String) {
        self.signal("-TERM")
    }

    /// Sends `signal` (`-TERM`, `-INT`), then the exit status and the rest of stderr.
    fn signal(mut self, signal: &str) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "serve did not stop on {signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.stderr, &mut rest).unwrap();
        (status.code(), rest)
    }
}

fn cluster() -> Option<Cluster> {
    let bin = support::require_pg()?;
    let mut c = Cluster::init(ClusterOptions::new(bin));
    c.conf_append(
        "autovacuum = off\n\
         log_statement = 'all'\n\
         log_line_prefix = '%m [%p] app=%a db=%d '",
    );
    c.start();
    let quoted = ODD_TABLE.replace('"', "\"\"");
    c.psql(
        "postgres",
        &format!(
            "create table \"{quoted}\" as select g as id, repeat('x', 200) as pad from generate_series(1, 20000) g; \
             select count(*) from \"{quoted}\"; select count(*) from \"{quoted}\";"
        ),
    );
    Some(c)
}

/// Collections so far: each runs the databases query exactly once.
fn collections(c: &Cluster) -> usize {
    support::logged_statements(&c.server_log())
        .iter()
        .filter(|s| s.app == "pgcache-tune" && s.sql.contains("s.datid"))
        .count()
}

#[test]
fn serve_scrapes_negotiates_probes_collects_once_per_window_and_stops_on_sigterm() {
    if !curl_present() {
        return;
    }
    let Some(c) = cluster() else { return };
    let home = tempfile::tempdir().unwrap();
    let dead_port = support::free_port();
    // A server that accepts connections and never answers: only the deadline ends it.
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_port = hang.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in hang.incoming().flatten() {
            held.push(s);
        }
    });
    let inventory = format!(
        "[defaults]\nlabels = {{ env = \"test\" }}\ntimeout = \"15s\"\n\n\
         [[target]]\nname = \"pg\"\nconnection = \"host={} port={} user=postgres dbname=postgres\"\n\n\
         [[target]]\nname = \"dead\"\nconnection = \"host=127.0.0.1 port={dead_port} user=app dbname=app\"\npassword_env = \"PGCACHE_TEST_SECRET\"\nconnect_timeout = \"2s\"\n\n\
         [[target]]\nname = \"hang\"\nconnection = \"host=127.0.0.1 port={hang_port} user=app dbname=app sslmode=disable\"\ntimeout = \"2s\"\n",
        c.socket_dir().display(),
        c.port()
    );
    let inv = home.path().join("fleet.toml");
    std::fs::write(&inv, inventory).unwrap();
    let s = serve(
        home.path(),
        &["--targets", inv.to_str().unwrap(), "--cache-ttl", "3s"],
    );

    let health = get(&format!("{}/healthz", s.base), &[]);
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    assert_eq!(collections(&c), 0, "/healthz touches no database");

    // Four scrapes at once: one collection.
    let url = format!("{}/metrics", s.base);
    let started = Instant::now();
    let children: Vec<Child> = (0..4)
        .map(|_| curl_cmd(&url, &[]).spawn().unwrap())
        .collect();
    let got: Vec<Got> = children
        .into_iter()
        .map(|ch| parse_curl(ch.wait_with_output().unwrap()))
        .collect();
    for g in &got {
        assert_eq!(g.status, 200);
        assert_eq!(g.content_type, "text/plain; version=0.0.4; charset=utf-8");
        assert_eq!(g.body, got[0].body, "the same cached collection");
    }
    assert_eq!(
        collections(&c),
        1,
        "concurrent scrapes shared one collection"
    );
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "the hanging target's 2s deadline bounds the scrape: {:?}",
        started.elapsed()
    );
    let body = &got[0].body;
    assert!(
        body.contains("pgcache_tune_up{target=\"pg\",env=\"test\"} 1\n"),
        "{body}"
    );
    assert!(
        body.contains("pgcache_tune_up{target=\"dead\",env=\"test\"} 0\n"),
        "{body}"
    );
    assert!(
        body.contains("pgcache_tune_up{target=\"hang\",env=\"test\"} 0\n"),
        "{body}"
    );
    assert!(
        body.contains("relname=\"odd\\\"quote\\\\slash\\nline\""),
        "{body}"
    );
    assert!(
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .all(|l| l.contains("target=\"")),
        "every series names its target"
    );
    validate::promtool_accepts(body);

    // OpenMetrics when asked, from the same cached collection.
    let om = get(
        &url,
        &[
            "-H",
            "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        ],
    );
    assert_eq!(om.status, 200);
    assert_eq!(
        om.content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.body.ends_with("# EOF\n"));
    if let Some(samples) = validate::openmetrics_samples(&om.body) {
        assert!(samples.iter().any(|(n, l, _)| {
            n == "pg_statio_user_tables_heap_blocks_hit_total"
                && l.get("relname").map(String::as_str) == Some(ODD_TABLE)
        }));
    }
    assert_eq!(
        collections(&c),
        1,
        "within the TTL nothing is collected again"
    );

    // /probe: one target, or a one-line 404 / 400.
    let probe = get(&format!("{}/probe?target=pg", s.base), &[]);
    assert_eq!(probe.status, 200);
    assert!(!probe.body.contains("target=\"dead\""));
    assert!(
        probe
            .body
            .contains("pgcache_tune_up{target=\"pg\",env=\"test\"} 1")
    );
    let unknown = get(&format!("{}/probe?target=nope", s.base), &[]);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body.lines().count(), 1, "{unknown:?}");
    assert_eq!(get(&format!("{}/probe", s.base), &[]).status, 400);
    assert_eq!(get(&format!("{}/nowhere", s.base), &[]).status, 404);
    let post = get(&url, &["-X", "POST"]);
    assert_eq!(post.status, 405);

    // After the TTL, a scrape collects again.
    std::thread::sleep(Duration::from_millis(3_200));
    assert_eq!(get(&url, &[]).status, 200);
    assert_eq!(collections(&c), 2, "a new collection once the TTL passed");

    for g in got.iter().chain([&om, &probe, &unknown]) {
        assert!(!g.body.contains(SECRET));
        assert!(!g.body.contains("password"), "{}", g.body);
    }
    let (code, stderr) = s.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("stopped on SIGTERM"), "{stderr}");
    assert!(
        stderr.contains("target dead"),
        "the dead target's reason on stderr: {stderr}"
    );
    assert!(!stderr.contains(SECRET), "{stderr}");
    support::assert_read_only_sessions(&c.server_log(), 1);
}

#[test]
fn serve_one_server_has_no_target_label_and_no_probe() {
    if !curl_present() {
        return;
    }
    let Some(c) = cluster() else { return };
    let home = tempfile::tempdir().unwrap();
    let conn = c.conn_args("postgres", "postgres");
    let conn: Vec<&str> = conn.iter().map(String::as_str).collect();
    let s = serve(home.path(), &conn);
    let m = get(&format!("{}/metrics", s.base), &[]);
    assert_eq!(m.status, 200);
    assert!(m.body.contains("\npgcache_tune_up 1\n"), "{}", m.body);
    assert!(!m.body.contains("target=\""));
    validate::promtool_accepts(&m.body);
    let p = get(&format!("{}/probe?target=x", s.base), &[]);
    assert_eq!(p.status, 404);
    assert!(p.body.contains("--targets"));
    let (code, stderr) = s.signal("-INT");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("stopped on SIGINT"), "{stderr}");
}

#[test]
fn serve_refuses_a_public_listen_address_and_mixed_sources() {
    let home = tempfile::tempdir().unwrap();
    let inv = home.path().join("fleet.toml");
    std::fs::write(
        &inv,
        "[[target]]\nname = \"a\"\nconnection = \"dbname=a\"\n",
    )
    .unwrap();
    for args in [
        vec!["serve", "dbname=x", "--listen", "0.0.0.0:9188"],
        vec!["serve", "dbname=x", "--targets", inv.to_str().unwrap()],
        vec!["serve", "-p", "5432", "--targets", inv.to_str().unwrap()],
    ] {
        let out = support::tool(home.path()).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let out = support::tool(home.path())
        .args(["serve", "dbname=x", "--listen", "0.0.0.0:9188"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen-any"));

    // An address already taken: 66, one line, before any connection is tried.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = support::tool(home.path())
        .args(["serve", "-h", "127.0.0.1", "-d", "x", "--listen", &addr])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(66), "{err}");
    assert!(err.contains(&addr) && err.contains("in use"), "{err}");
    assert!(out.stdout.is_empty());
}
