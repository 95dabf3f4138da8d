//! `watch` against a throwaway cluster, run once (not per major: the screen is the same on
//! every server; scripts/test-matrix.sh lists this file with the run-once targets).
//!
//! - `--once --format json`: the rates equal the counters' deltas. User-table counters move
//!   only with the test's own workload (autovacuum and parallel workers off), and a
//!   sequential scan of a table of N blocks adds exactly N to its heap hits + reads, so the
//!   table's blocks in the interval are compared exactly, and its rates with blocks ÷ seconds.
//! - The screen in a tmux pane of 80×24 with pgbench running: the tables pgbench touches show
//!   up, `pg_stat_reset()` run by the TEST and a restart are shown as RESET, `s` changes the
//!   sort, `q` leaves the alternate screen and returns to the shell, and stopping the server
//!   ends the watch with exit 69 and the error printed on the normal screen after the restore.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Cluster, ClusterOptions};

const DB: &str = "app";

fn cluster() -> Option<Cluster> {
    let bin = support::require_pg()?;
    let mut c = Cluster::init(ClusterOptions::new(bin));
    c.conf_append("autovacuum = off\nmax_parallel_workers_per_gather = 0\n");
    c.start();
    c.psql("postgres", &format!("create database {DB}"));
    Some(c)
}

/// Polls `f` every 100 ms until it returns true or `limit` passes.
fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn once_json_rates_equal_the_counters_deltas() {
    let Some(c) = cluster() else { return };
    c.psql(
        DB,
        "create table t as select g as id, repeat('x', 200) as pad from generate_series(1, 20000) g",
    );
    let blocks: i64 = c
        .psql(
            DB,
            "select pg_relation_size('t') / current_setting('block_size')::int",
        )
        .parse()
        .unwrap();
    assert!(blocks > 100, "{blocks}");
    let home = tempfile::tempdir().unwrap();
    let child = support::tool_std(home.path())
        .arg("watch")
        .args(c.conn_args(DB, "postgres"))
        .args([
            "--once",
            "--interval",
            "6s",
            "--format",
            "json",
            "--limit",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first sample is taken once the watch's session waits inside its transaction.
    let waiting = wait_until(Duration::from_secs(20), || {
        c.psql(
            "postgres",
            "select count(*) from pg_stat_activity where application_name = 'pgcache-tune' \
             and state = 'idle in transaction'",
        ) == "1"
    });
    assert!(waiting, "watch never took its first sample");
    // Before 15 the first sample is taken again after the statistics collector's lag
    // (700 ms, spent idle in the transaction too): wait that out.
    std::thread::sleep(Duration::from_millis(1_500));
    const SCANS: i64 = 3;
    c.psql(
        DB,
        "select count(*) from t; select count(*) from t; select count(*) from t",
    );
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let j: Value = serde_json::from_str(&stdout).unwrap();
    let seconds = j["seconds"].as_f64().unwrap();
    assert!((5.0..30.0).contains(&seconds), "{seconds}");
    let t = j["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "t")
        .unwrap_or_else(|| panic!("{stdout}"));
    let (hits, reads) = (
        t["hit_blocks"].as_i64().unwrap(),
        t["read_blocks"].as_i64().unwrap(),
    );
    assert_eq!(hits + reads, SCANS * blocks, "{t}");
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    assert!(
        close(
            t["hits_per_second"].as_f64().unwrap(),
            hits as f64 / seconds
        ),
        "{t}"
    );
    assert!(
        close(
            t["reads_per_second"].as_f64().unwrap(),
            reads as f64 / seconds
        ),
        "{t}"
    );
    // The database moved by at least the table's blocks (catalog reads of psql add more).
    let app = j["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == DB)
        .unwrap_or_else(|| panic!("{stdout}"));
    let db_blocks = app["hit_blocks"].as_i64().unwrap() + app["read_blocks"].as_i64().unwrap();
    assert!(db_blocks >= SCANS * blocks, "{app}");
}

/// A tmux server of our own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(dir: &Path) -> Tmux {
        let socket = format!("pgcache-tune-watch-{}", std::process::id());
        let t = Tmux { socket };
        let ok = t
            .cmd()
            .args(["new-session", "-d", "-s", "w", "-x", "80", "-y", "24", "-c"])
            .arg(dir)
            .args([
                "env",
                "-i",
                "PATH=/usr/bin:/bin",
                "TERM=xterm-256color",
                "PS1=$ ",
                "sh",
            ])
            .status();
        if !ok.is_ok_and(|s| s.success()) {
            support::skip_unless_ci("tmux is not available");
            panic!("tmux new-session failed");
        }
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    fn send(&self, keys: &[&str]) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", "w"])
            .args(keys)
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn capture(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "w"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn alternate_on(&self) -> bool {
        let out = self
            .cmd()
            .args(["display-message", "-p", "-t", "w", "#{alternate_on}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    fn wait_for(&self, what: &str, limit: Duration) -> String {
        let mut last = String::new();
        let found = wait_until(limit, || {
            last = self.capture();
            last.contains(what)
        });
        assert!(found, "{what:?} never showed; screen:\n{last}");
        last
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// A script that runs the watch with only the connection flags (no PG* variables, an empty
/// HOME) and prints its exit code when it ends.
fn watch_script(dir: &Path, c: &Cluster) -> PathBuf {
    let bin = env!("CARGO_BIN_EXE_pgcache-tune");
    let conn = c.conn_args(DB, "postgres").join(" ");
    let path = dir.join("watch.sh");
    std::fs::write(
        &path,
        format!(
            "HOME={home} NO_COLOR=1 {bin} watch {conn} --interval 500ms --window 10s\necho EXIT=$?\n",
            home = dir.display()
        ),
    )
    .unwrap();
    path
}

/// pgbench from the server's bin dir; trimmed server builds (the npm ones of other majors)
/// ship none, and any pgbench can drive any of these servers, so PostgreSQL 15's, or PATH's.
fn pgbench(c: &Cluster, args: &[&str]) -> Command {
    let own = c.bin_dir().join("pgbench");
    let default = Path::new(support::DEFAULT_PG_BIN).join("pgbench");
    let program = [own, default]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("pgbench"));
    let mut cmd = Command::new(program);
    support::without_pg_env(&mut cmd);
    cmd.args(["-h"])
        .arg(c.socket_dir())
        .args(["-p", &c.port().to_string(), "-U", "postgres"])
        .args(args)
        .arg(DB);
    cmd
}

struct Bench(Child);

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn screen_in_tmux_shows_rates_resets_and_restores_the_terminal() {
    let Some(mut c) = cluster() else { return };
    let init = pgbench(&c, &["-i", "-q", "-s", "2"]).output().unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let _bench = Bench(
        pgbench(&c, &["-c", "2", "-T", "300", "-n"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let script = watch_script(dir.path(), &c);
    let tmux = Tmux::start(dir.path());
    tmux.wait_for("$", Duration::from_secs(10));
    tmux.send(&[&format!("sh {}", script.display()), "Enter"]);

    // The screen: header, the connected database, the tables pgbench reads, keys. pgbench
    // updates pgbench_accounts all the time: once its counters are published, it has a
    // non-zero hit rate.
    let mut screen = String::new();
    let busy = wait_until(Duration::from_secs(30), || {
        screen = tmux.capture();
        screen
            .lines()
            .find(|l| l.starts_with("public.pgbench_accounts"))
            .and_then(|l| l.split_whitespace().nth(2))
            .is_some_and(|hits| hits != "0")
    });
    assert!(busy, "{screen}");
    assert!(tmux.alternate_on(), "{screen}");
    let lines: Vec<&str> = screen.lines().collect();
    assert!(
        lines[0].contains("every 500ms") && screen.contains("· window 10s ("),
        "{screen}"
    );
    assert!(
        screen.contains("table (app)") && screen.contains("10s ratio"),
        "{screen}"
    );
    let footer = lines.iter().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(
        footer.starts_with("q quit · s sort · p pause · window 10s (")
            && footer.contains(" · postgres@"),
        "{screen}"
    );
    assert!(screen.lines().count() <= 24 && screen.lines().all(|l| l.chars().count() <= 80));

    // A reset by the test (the tool never resets) is shown as such.
    c.psql(DB, "select pg_stat_reset()");
    // The database row may show it a sample after the tables' counters do: either names it.
    let screen = tmux.wait_for("RESET", Duration::from_secs(10));
    assert!(
        screen.contains("RESET statistics reset in database app")
            || screen.contains("RESET table app.public.pgbench_"),
        "{screen}"
    );
    // And rates come back afterwards, never negative.
    let screen = tmux.wait_for("public.pgbench_accounts", Duration::from_secs(10));
    assert!(!screen.contains(" -1"), "{screen}");

    tmux.send(&["s"]);
    tmux.wait_for("sort hits/s", Duration::from_secs(5));
    // Paused, the rows keep their numbers while pgbench goes on and samples are taken.
    tmux.send(&["p"]);
    let before = tmux.wait_for("PAUSED", Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(2));
    let after = tmux.capture();
    let rows = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("public.") || l.starts_with("app "))
            .map(str::to_string)
            .collect()
    };
    assert!(!rows(&before).is_empty(), "{before}");
    assert_eq!(rows(&before), rows(&after), "{before}\n{after}");
    tmux.send(&["p"]);
    tmux.wait_for("p pause", Duration::from_secs(5));

    // A restart drops the connection: the watch reconnects and shows it as a break.
    c.restart();
    let screen = tmux.wait_for("server restarted", Duration::from_secs(30));
    assert!(tmux.alternate_on(), "{screen}");

    tmux.send(&["q"]);
    let screen = tmux.wait_for("EXIT=0", Duration::from_secs(10));
    assert!(!tmux.alternate_on(), "{screen}");
    assert!(
        // The shell's screen again: the command line typed, no trace of the watch screen.
        screen.contains("watch.sh") && !screen.contains("q quit"),
        "{screen}"
    );

    // A lost server: exit 69, the error on the normal screen after the restore.
    tmux.send(&["clear", "Enter"]);
    tmux.send(&[&format!("sh {}", script.display()), "Enter"]);
    tmux.wait_for("pgbench_accounts", Duration::from_secs(30));
    c.stop();
    let screen = tmux.wait_for("EXIT=69", Duration::from_secs(20));
    assert!(!tmux.alternate_on(), "{screen}");
    let error = screen
        .lines()
        .find(|l| l.contains("error: "))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(!screen.contains("q quit"), "{screen}");
    assert!(!error.contains("password"), "{error}");
}
