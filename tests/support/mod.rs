//! Throwaway PostgreSQL clusters for live tests.
//!
//! A [`Cluster`] is a fresh `initdb` in its own temp dir, started on a free loopback port with
//! its socket inside that dir, and stopped and deleted on drop, so tests never touch a system
//! cluster or each other. The server refuses to run as root; when the tests run as root (CI
//! does), every server binary runs through `runuser -u postgres --` and the temp dir belongs to
//! `postgres`. Binaries come from `$PGCACHE_TUNE_PG_BIN` or Debian's
//! `/usr/lib/postgresql/15/bin` (`scripts/install-test-deps.sh` installs them);
//! `scripts/pg-bin.sh MAJOR` provides any tested major, and `scripts/test-matrix.sh` runs
//! every live test file once per major with the variable set. Server builds without `psql`
//! (the npm ones) use the `psql` on `PATH`. Under `CI=true` a missing server is a test
//! failure, never a silent skip.
//!
//! Each test binary includes this module with `mod support;` and uses a subset of it, hence
//! the `dead_code` allowances.
#![allow(dead_code)]

pub mod html;
pub mod pki;

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Environment variable naming a directory that holds `postgres`, `initdb`, `pg_ctl`.
pub const PG_BIN_ENV: &str = "PGCACHE_TUNE_PG_BIN";
/// Where Debian's `postgresql-15` package puts the server binaries.
pub const DEFAULT_PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// The OS user that runs the server when the tests run as root.
pub const SERVER_OS_USER: &str = "postgres";
/// The database superuser created by `initdb -U`.
pub const SUPERUSER: &str = "postgres";
/// `pg_ctl -w` gives up after this many seconds.
const PG_CTL_TIMEOUT_SECS: u32 = 60;
/// Start attempts when the chosen port is taken between picking and binding it.
const START_ATTEMPTS: u32 = 5;
/// What every cluster preloads: `CREATE EXTENSION pg_stat_statements` then works in a test.
pub const PRELOAD_CONF: &str = "shared_preload_libraries = 'pg_stat_statements'";
/// `sun_path` is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH_BYTES: usize = 107;

/// The server bin directory to use: `$PGCACHE_TUNE_PG_BIN` when set (even if it lacks
/// `postgres`: a wrong override should be noticed, not papered over), else
/// [`DEFAULT_PG_BIN`]; `None` when that directory holds no `postgres`.
pub fn pg_bin_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os(PG_BIN_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_PG_BIN),
    };
    dir.join("postgres").is_file().then_some(dir)
}

/// True when `CI` says we run in CI (`true`, `1` or `yes`, any case).
pub fn in_ci() -> bool {
    std::env::var("CI")
        .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// What a live test does when no server binaries are at hand.
#[derive(Debug, PartialEq, Eq)]
pub enum MissingServer {
    /// Under `CI=true`: fail with this message.
    Fail(String),
    /// Elsewhere: print this note and skip.
    Skip(String),
}

/// The decision of [`require_pg`] when `looked` (where binaries were sought) holds none:
/// a live test must not silently pass in CI.
pub fn missing_server(looked: &str, ci: bool, caller: &str) -> MissingServer {
    if ci {
        MissingServer::Fail(format!(
            "live test at {caller}: no PostgreSQL server binaries in {looked}; under CI=true a live \
             test fails instead of skipping. Run scripts/install-test-deps.sh (scripts/test.sh does)."
        ))
    } else {
        MissingServer::Skip(format!(
            "skipping live test at {caller}: no PostgreSQL server binaries in {looked} \
             (run scripts/install-test-deps.sh, or set {PG_BIN_ENV})"
        ))
    }
}

/// The server bin directory for a live test. When there is none, panics under `CI=true`
/// and otherwise prints a skip note and returns `None` ([`missing_server`]), so the caller
/// can `let Some(bin) = require_pg() else { return };`.
#[track_caller]
pub fn require_pg() -> Option<PathBuf> {
    if let Some(dir) = pg_bin_dir() {
        return Some(dir);
    }
    let looked = match std::env::var_os(PG_BIN_ENV) {
        Some(v) if !v.is_empty() => format!("{PG_BIN_ENV}={}", PathBuf::from(v).display()),
        _ => format!("{DEFAULT_PG_BIN} ({PG_BIN_ENV} unset)"),
    };
    let caller = std::panic::Location::caller().to_string();
    match missing_server(&looked, in_ci(), &caller) {
        MissingServer::Fail(message) => panic!("{message}"),
        MissingServer::Skip(note) => {
            show_skip(&note);
            None
        }
    }
}

/// For a test that cannot run its check here (a missing tool): under `CI=true` (which
/// `scripts/test.sh` sets) this fails the test; elsewhere it prints a visible skip note and
/// the caller returns. `#[track_caller]` so the note names the test's line.
#[track_caller]
pub fn skip_unless_ci(reason: &str) {
    let caller = std::panic::Location::caller();
    if in_ci() {
        panic!(
            "test at {caller} cannot run: {reason}; under CI=true a test fails instead of \
             skipping (scripts/install-test-deps.sh installs what the tests need)"
        );
    }
    show_skip(&format!("skipping test at {caller}: {reason}"));
}

/// Writes a skip note straight to the process's stderr: libtest captures `eprintln!` of a
/// passing test, which would hide the skip, but not writes to the stderr handle itself.
fn show_skip(note: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {note}");
}

/// True when this process runs as root. `/proc/self` belongs to the effective uid.
pub fn running_as_root() -> bool {
    match fs::metadata("/proc/self") {
        Ok(m) => m.uid() == 0,
        Err(_) => output_text(Command::new("id").arg("-u")).is_ok_and(|s| s.trim() == "0"),
    }
}

/// The major version of the server binaries in `bin` (`postgres --version`), e.g. 15.
pub fn server_major(bin: &Path) -> u32 {
    let postgres = bin.join("postgres");
    let text = output_text(Command::new(&postgres).arg("--version"))
        .unwrap_or_else(|e| panic!("{} --version failed: {e}", postgres.display()));
    parse_major(&text).unwrap_or_else(|| panic!("cannot read a major version from {text:?}"))
}

/// `postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)` → 15; `… 9.6.24` → 9.
pub fn parse_major(version: &str) -> Option<u32> {
    let rest = version
        .split_once("(PostgreSQL)")
        .map_or(version, |(_, r)| r)
        .trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Runs a command and returns its stdout, or a message with its status and stderr.
fn output_text(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(describe_failure(cmd, &out))
    }
}

/// What one run of the binary produced; a panic on stderr fails the test at once.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        };
        assert!(!run.stderr.contains("panicked"), "{run:?}");
        run
    }
}

fn describe_failure(cmd: &Command, out: &Output) -> String {
    format!(
        "{cmd:?} exited with {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A uid:gid pair, from `id`.
#[derive(Clone, Copy, Debug)]
struct OsUser {
    uid: u32,
    gid: u32,
}

fn lookup_os_user(name: &str) -> Result<OsUser, String> {
    let id = |flag: &str| -> Result<u32, String> {
        output_text(Command::new("id").args([flag, name]))?
            .trim()
            .parse()
            .map_err(|e| format!("id {flag} {name}: {e}"))
    };
    Ok(OsUser {
        uid: id("-u")?,
        gid: id("-g")?,
    })
}

/// A directory every user can traverse (`o+x` on it and all its ancestors)?
fn world_traversable(dir: &Path) -> bool {
    dir.ancestors()
        .all(|d| fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// What [`Cluster::init`] needs: which binaries, and any extra `initdb` flags.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Directory holding `initdb`, `pg_ctl`, `postgres` (and usually `psql`).
    pub bin_dir: PathBuf,
    /// Extra `initdb` arguments, after the fixed ones (`-A trust -E UTF8 --locale=C -U postgres
    /// --no-sync`).
    pub initdb_args: Vec<String>,
}

impl ClusterOptions {
    /// Options for the binaries in `bin_dir` and no extra `initdb` flags.
    pub fn new(bin_dir: impl Into<PathBuf>) -> Self {
        ClusterOptions {
            bin_dir: bin_dir.into(),
            initdb_args: Vec::new(),
        }
    }
}

/// A throwaway cluster: data dir, socket dir and server log under one temp dir. Stopped
/// (immediate mode) and deleted on drop.
pub struct Cluster {
    /// `None` only during drop.
    tmp: Option<tempfile::TempDir>,
    bin: PathBuf,
    data: PathBuf,
    sock: PathBuf,
    log: PathBuf,
    port: u16,
    running: bool,
    /// Set when we are root: the server binaries run as this user.
    server_user: Option<OsUser>,
    major: u32,
}

impl Cluster {
    /// `initdb` a new cluster (trust auth, UTF8, C locale, superuser `postgres`) in a fresh
    /// temp dir. Panics with the tool's output on failure.
    pub fn init(opts: ClusterOptions) -> Cluster {
        let root = running_as_root();
        let server_user = root.then(|| {
            lookup_os_user(SERVER_OS_USER).unwrap_or_else(|e| {
                panic!(
                    "running as root, so the server must run as OS user {SERVER_OS_USER:?}, \
                     which cannot be resolved ({e}); scripts/install-test-deps.sh creates it"
                )
            })
        });

        // As root, the temp dir's ancestors must let `postgres` through: TMPDIR may point
        // somewhere private such as /root/tmp.
        let mut parent = std::env::temp_dir();
        if root && !world_traversable(&parent) {
            parent = PathBuf::from("/tmp");
            assert!(
                world_traversable(&parent),
                "neither TMPDIR nor /tmp is traversable by {SERVER_OS_USER}"
            );
        }
        let tmp = tempfile::Builder::new()
            .prefix("pgcache-tune-")
            .tempdir_in(&parent)
            .unwrap_or_else(|e| panic!("cannot create a temp dir in {}: {e}", parent.display()));
        let base = tmp.path().to_path_buf();
        let data = base.join("data");
        let sock = base.join("sock");
        let log = base.join("server.log");
        fs::create_dir(&sock).unwrap_or_else(|e| panic!("mkdir {}: {e}", sock.display()));
        // pg_ctl's -o string goes through /bin/sh; keep paths free of quoting trouble.
        let text = base.to_string_lossy();
        assert!(
            !text
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '\'' | '"' | '\\' | '$' | '`')),
            "temp dir {text:?} holds characters that pg_ctl -o cannot pass; set TMPDIR to a plain path"
        );
        // The temp dir is 0700; handing it (and the socket dir) to the server user lets it
        // in while keeping everyone else out.
        if let Some(u) = server_user {
            for p in [&base, &sock] {
                std::os::unix::fs::chown(p, Some(u.uid), Some(u.gid))
                    .unwrap_or_else(|e| panic!("chown {} to {SERVER_OS_USER}: {e}", p.display()));
            }
        }

        let mut cluster = Cluster {
            tmp: Some(tmp),
            bin: opts.bin_dir.clone(),
            data,
            sock,
            log,
            port: 0,
            running: false,
            server_user,
            major: 0,
        };
        cluster.port = free_port();
        // The binaries must be runnable by the server user (an unpacked tarball under /root
        // is not); say so plainly instead of failing inside initdb.
        let version = cluster
            .server_cmd("postgres")
            .arg("--version")
            .output()
            .map_err(|e| e.to_string())
            .and_then(|o| {
                if o.status.success() {
                    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
                } else {
                    Err(String::from_utf8_lossy(&o.stderr).into_owned())
                }
            })
            .unwrap_or_else(|e| {
                panic!(
                    "{}/postgres cannot be run{}: {e}",
                    opts.bin_dir.display(),
                    if root {
                        format!(" as {SERVER_OS_USER} (are it and its parents readable?)")
                    } else {
                        String::new()
                    }
                )
            });
        cluster.major =
            parse_major(&version).unwrap_or_else(|| panic!("cannot read a major from {version:?}"));

        let mut initdb = cluster.server_cmd("initdb");
        initdb
            .arg("-D")
            .arg(&cluster.data)
            .args([
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-U",
                SUPERUSER,
                "--no-sync",
            ])
            .args(&opts.initdb_args);
        let out = initdb
            .output()
            .unwrap_or_else(|e| panic!("cannot run initdb: {e}"));
        assert!(
            out.status.success(),
            "initdb failed: {}",
            describe_failure(&initdb, &out)
        );
        // Every cluster can host pg_stat_statements (contrib ships with every tested major);
        // a test that needs it creates the extension itself, as a superuser, never the tool.
        cluster.conf_append(PRELOAD_CONF);
        cluster
    }

    /// A command for one of the server binaries, run as the server user when we are root,
    /// from inside the temp dir (the server user may not be allowed into our cwd), with
    /// libpq/server `PG*` variables removed so nothing from the caller leaks in.
    fn server_cmd(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = if self.server_user.is_some() {
            let mut c = Command::new("runuser");
            c.args(["-u", SERVER_OS_USER, "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        self.scrub(&mut cmd);
        cmd
    }

    fn scrub(&self, cmd: &mut Command) {
        without_pg_env(cmd)
            .env("LC_ALL", "C")
            .current_dir(self.base());
    }

    fn base(&self) -> &Path {
        self.tmp.as_ref().expect("cluster temp dir").path()
    }

    /// The temp dir holding `data/`, `sock/` and `server.log`.
    pub fn base_dir(&self) -> &Path {
        self.base()
    }

    /// The data directory (`-D`).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The Unix socket directory (pass as `host` to libpq).
    pub fn socket_dir(&self) -> &Path {
        &self.sock
    }

    /// The TCP port on 127.0.0.1 (also the socket's port number).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The tool's connection flags for this cluster: `-h SOCKET -p PORT -U user -d db`.
    pub fn conn_args(&self, db: &str, user: &str) -> Vec<String> {
        vec![
            "-h".into(),
            self.socket_dir().display().to_string(),
            "-p".into(),
            self.port().to_string(),
            "-U".into(),
            user.into(),
            "-d".into(),
            db.into(),
        ]
    }

    /// The server bin directory.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The server's major version, from `postgres --version`.
    pub fn major(&self) -> u32 {
        self.major
    }

    /// Whether [`start`](Self::start) succeeded and no stop followed.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The server log so far (empty if none).
    pub fn server_log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Appends `text` (plus a newline) to `postgresql.conf`.
    pub fn conf_append(&self, text: &str) {
        let path = self.data.join("postgresql.conf");
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        writeln!(f, "\n{text}").unwrap_or_else(|e| panic!("append to {}: {e}", path.display()));
    }

    /// Writes (replaces) `name` inside the data directory, readable by the server, and
    /// returns its path. For files that `postgresql.conf` includes.
    pub fn write_data_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.data.join(name);
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        if let Some(u) = self.server_user {
            std::os::unix::fs::chown(&path, Some(u.uid), Some(u.gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
        path
    }

    /// Starts the server (`pg_ctl -w start`) on a free port; panics with the server log on
    /// failure.
    pub fn start(&mut self) {
        if let Err(e) = self.try_start() {
            panic!("{e}");
        }
    }

    /// Starts the server; on failure returns pg_ctl's output and the server log. A port
    /// taken by someone else between picking and binding it is retried with a new port.
    pub fn try_start(&mut self) -> Result<(), String> {
        assert!(!self.running, "cluster already running");
        let sock_file = self.sock.join(format!(".s.PGSQL.{}", u16::MAX));
        assert!(
            sock_file.as_os_str().len() <= MAX_SOCKET_PATH_BYTES,
            "socket path {} is too long for a Unix socket; set TMPDIR to a shorter path",
            sock_file.display()
        );
        let mut last = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let log_before = self.server_log().len();
            let mut cmd = self.server_cmd("pg_ctl");
            cmd.arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(&self.log)
                .args(["-w", "-t", &PG_CTL_TIMEOUT_SECS.to_string(), "-o"])
                .arg(format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1",
                    self.port,
                    self.sock.display()
                ))
                .arg("start");
            let out = cmd
                .output()
                .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
            if out.status.success() {
                self.running = true;
                return Ok(());
            }
            let log = self.server_log();
            let new_log = log.get(log_before..).unwrap_or(&log).to_string();
            last = format!(
                "server did not start (attempt {attempt}, port {}): {}\n--- server log\n{new_log}",
                self.port,
                describe_failure(&cmd, &out)
            );
            if !(new_log.contains("could not bind") || new_log.contains("Address already in use")) {
                break;
            }
            self.port = free_port();
        }
        Err(last)
    }

    /// Stops the server (`pg_ctl -m fast -w stop`); a no-op when it is not running.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let mut cmd = self.server_cmd("pg_ctl");
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"]);
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run pg_ctl: {e}"));
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            describe_failure(&cmd, &out)
        );
        self.running = false;
    }

    /// Stops (fast) and starts the server again, re-reading every configuration file.
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }

    /// `postgres -D data -C name`: the value the server would use, read from the
    /// configuration files without starting (works on a stopped cluster). Any invalid line
    /// anywhere in the configuration makes it fail. Ok: trimmed stdout; Err: trimmed stderr.
    pub fn postgres_c(&self, name: &str) -> Result<String, String> {
        let mut cmd = self.server_cmd("postgres");
        cmd.arg("-D").arg(&self.data).arg("-C").arg(name);
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run postgres -C: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// Runs `sql` through psql (`-X -A -t -v ON_ERROR_STOP=1`) on database `db` over the
    /// socket; returns stdout without the trailing newline. Panics with stderr on failure.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql)
            .unwrap_or_else(|e| panic!("psql failed: {e}"))
    }

    /// [`psql`](Self::psql) without the panic.
    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        assert!(self.running, "psql on a cluster that is not running");
        let psql = self.bin.join("psql");
        // Trimmed server builds may ship no psql; fall back to the one on PATH.
        let mut cmd = Command::new(if psql.is_file() {
            psql.as_os_str()
        } else {
            OsStr::new("psql")
        });
        self.scrub(&mut cmd);
        cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.sock)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", SUPERUSER, "-d", db, "-c", sql]);
        output_text(&mut cmd).map(|s| s.strip_suffix('\n').unwrap_or(&s).to_string())
    }

    /// The postmaster's pid while running (first line of `postmaster.pid`).
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let pid = self.postmaster_pid();
            let mut cmd = self.server_cmd("pg_ctl");
            cmd.arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "stop"]);
            let stopped = cmd.output().is_ok_and(|o| o.status.success());
            if !stopped {
                // Last resort so no server outlives its deleted data dir.
                if let Some(pid) = pid {
                    let _ = Command::new("kill")
                        .args(["-QUIT", &pid.to_string()])
                        .status();
                }
            }
            // pg_ctl returns once postmaster.pid is gone, which the postmaster removes just
            // before it exits; wait for the exit so nothing writes into a deleted dir.
            if let Some(pid) = pid {
                wait_for_exit(pid, EXIT_WAIT);
            }
            self.running = false;
        }
        if let Some(tmp) = self.tmp.take() {
            let path = tmp.path().to_path_buf();
            if let Err(e) = tmp.close() {
                eprintln!("warning: could not remove {}: {e}", path.display());
            }
        }
    }
}

/// How long drop waits for a stopped postmaster to be gone.
const EXIT_WAIT: Duration = Duration::from_secs(10);

/// Whether `pid` names a live process (a zombie counts as gone).
pub fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Field 3, after the parenthesised command name, is the state.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Polls until `pid` is gone or `limit` passes; returns whether it is gone.
pub fn wait_for_exit(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while process_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Removes every `PG*` variable of the caller from `cmd`'s environment, so neither libpq
/// clients nor the tool pick up a connection, password or service the test did not ask for.
pub fn without_pg_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// The `pgcache-tune` binary isolated from the caller: no `PG*` variables, `HOME` and
/// `XDG_CONFIG_HOME` set to `home` (so no `~/.pgpass` or config file of the caller's),
/// `NO_COLOR=1`, run in `home`. A test that wants colour removes `NO_COLOR` itself.
pub fn tool_std(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgcache-tune"));
    without_pg_env(&mut cmd)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("NO_COLOR", "1")
        .current_dir(home);
    cmd
}

/// [`tool_std`] as an `assert_cmd` command.
pub fn tool(home: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(tool_std(home))
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read, release).
pub fn free_port() -> u16 {
    let l = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// One statement from a server log written with `log_line_prefix = '%m [%p] app=%a db=%d '`
/// and `log_statement = all`.
#[derive(Debug)]
pub struct Logged {
    /// Backend PID: one session.
    pub pid: u32,
    /// `application_name`.
    pub app: String,
    /// Database.
    pub db: String,
    /// The statement text, continuation lines joined back.
    pub sql: String,
}

/// The statements of such a log: simple-protocol `statement:` and extended-protocol
/// `execute` messages, for the read-only proofs of the live tests.
pub fn logged_statements(log: &str) -> Vec<Logged> {
    let prefix = regex::Regex::new(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[(\d+)\] app=(\S*) db=(\S*) ([A-Z]+):  (.*)$",
    )
    .unwrap();
    let mut entries: Vec<(u32, String, String, String, String)> = Vec::new();
    for line in log.lines() {
        if let Some(m) = prefix.captures(line) {
            entries.push((
                m[1].parse().unwrap(),
                m[2].to_string(),
                m[3].to_string(),
                m[4].to_string(),
                m[5].to_string(),
            ));
        } else if let Some(last) = entries.last_mut() {
            last.4.push('\n');
            last.4.push_str(line);
        }
    }
    entries
        .into_iter()
        .filter(|e| e.3 == "LOG")
        .filter_map(|(pid, app, db, _, msg)| {
            let sql = msg
                .strip_prefix("statement: ")
                .or_else(|| {
                    msg.strip_prefix("execute ")
                        .and_then(|m| m.split_once(": "))
                        .map(|(_, s)| s)
                })?
                .to_string();
            Some(Logged { pid, app, db, sql })
        })
        .collect()
}

/// The read-only proof of the live tests: every statement our sessions (`application_name =
/// pgcache-tune`) sent in `log` was a SELECT (a WITH query too: a data-modifying CTE would
/// need a forbidden keyword), SET or SHOW (or the `begin read only` /
/// `commit` pair that brackets an interval), no forbidden keyword appears outside string
/// literals, each session began by making itself read-only, and there were at least
/// `min_sessions` sessions. Returns our statements for further checks.
#[track_caller]
pub fn assert_read_only_sessions(log: &str, min_sessions: usize) -> Vec<Logged> {
    let ours: Vec<Logged> = logged_statements(log)
        .into_iter()
        .filter(|s| s.app == "pgcache-tune")
        .collect();
    let mut pids: Vec<u32> = Vec::new();
    for s in &ours {
        if !pids.contains(&s.pid) {
            pids.push(s.pid);
        }
    }
    assert!(
        pids.len() >= min_sessions,
        "{} sessions, expected at least {min_sessions}: {ours:#?}",
        pids.len()
    );
    let allowed =
        regex::Regex::new(r"(?is)^(select|with|set|show)\b|^begin read only$|^commit$").unwrap();
    let forbidden = regex::Regex::new(
        r"(?i)\b(insert|update|delete|merge|create|alter|drop|truncate|grant|revoke|copy|vacuum|analyze|reindex|cluster|lock|comment|do|call|refresh|discard|reset|listen|notify|prepare|security|import|checkpoint)\b|read\s+write|read_only\s*=\s*(off|false|0)",
    )
    .unwrap();
    let literal = regex::Regex::new(r"'(?:[^']|'')*'").unwrap();
    for s in &ours {
        let code: String = s
            .sql
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        for stmt in code.split(';').map(str::trim).filter(|t| !t.is_empty()) {
            assert!(allowed.is_match(stmt), "session {} sent {stmt:?}", s.pid);
        }
        // Words inside string literals ('EXECUTE' privileges) are data, not commands.
        let bare = literal.replace_all(&code, "''");
        assert!(
            !forbidden.is_match(&bare),
            "session {} sent {code:?}",
            s.pid
        );
    }
    for pid in pids {
        let first = ours.iter().find(|s| s.pid == pid).unwrap();
        assert!(
            first
                .sql
                .starts_with("SET default_transaction_read_only = on;"),
            "session {pid} began with {:?}",
            first.sql
        );
    }
    ours
}

/// Validates `doc` against the vendored JUnit schema with xmllint; `Err` carries its
/// complaint. Under CI a missing xmllint fails (scripts/install-test-deps.sh installs it).
pub fn junit_schema_errors(doc: &str) -> Result<(), String> {
    use std::io::Write as _;
    let schema =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/junit-jenkins.xsd");
    let child = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&schema)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!("xmllint (libxml2-utils) is needed to validate JUnit output: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
