//! Throwaway redis-server instances for the Redis live tests.
//!
//! A [`RedisServer`] writes a config into its own temp dir (unix socket there, `save ""`,
//! `appendonly no`, plus the test's lines), starts `redis-server` as a child in the
//! foreground, waits until it answers, and kills it on drop, so tests never touch a system
//! instance on 6379 or each other. TCP uses a free loopback port, or none (`port 0`) when the
//! test only needs the socket. The binary is `$PGCACHE_TUNE_REDIS_SERVER` or `redis-server`
//! on `PATH` (`scripts/install-test-deps.sh` installs Debian's). Under `CI=true` a server
//! that cannot start fails the test; elsewhere the test prints a skip note and returns.
//!
//! Included with `#[path = "support/redis.rs"] mod redis_support;` beside `mod support;`.
#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming the redis-server binary to use.
pub const REDIS_SERVER_ENV: &str = "PGCACHE_TUNE_REDIS_SERVER";
/// How long a server may take to answer PING after start.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running throwaway server.
pub struct RedisServer {
    child: Child,
    dir: tempfile::TempDir,
    port: Option<u16>,
    password: Option<String>,
}

/// How to start one.
#[derive(Default)]
pub struct RedisOptions {
    /// `requirepass` (None: the default user has no password).
    pub password: Option<String>,
    /// Listen on a free loopback TCP port (else `port 0`: socket only).
    pub tcp: bool,
    /// More config lines (maxmemory, policy, rename-command, …).
    pub extra: String,
}

/// The redis-server binary the harness runs.
pub fn binary() -> PathBuf {
    match std::env::var_os(REDIS_SERVER_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("redis-server"),
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl RedisServer {
    /// Starts a server, or (outside CI, without redis-server) returns `None` after a skip
    /// note. `#[track_caller]` so failures name the test.
    #[track_caller]
    pub fn start(opts: RedisOptions) -> Option<RedisServer> {
        let bin = binary();
        let found = Command::new(&bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            super::support::skip_unless_ci(&format!(
                "no runnable {} (set {REDIS_SERVER_ENV} or run scripts/install-test-deps.sh)",
                bin.display()
            ));
            return None;
        }
        let mut last_error = String::new();
        // A free port can be taken between picking and binding it: retry.
        for _ in 0..5 {
            match Self::try_start(&bin, &opts) {
                Ok(server) => return Some(server),
                Err(e) => last_error = e,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    fn try_start(bin: &Path, opts: &RedisOptions) -> Result<RedisServer, String> {
        let dir = tempfile::Builder::new()
            .prefix("pgct-redis-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let port = opts.tcp.then(free_port);
        let mut conf = format!(
            "port {}\nbind 127.0.0.1\nunixsocket {}\nunixsocketperm 700\ndir {}\nlogfile {}\n\
             daemonize no\nsave \"\"\nappendonly no\n",
            port.unwrap_or(0),
            dir.path().join("redis.sock").display(),
            dir.path().display(),
            dir.path().join("redis.log").display(),
        );
        if let Some(pw) = &opts.password {
            conf.push_str(&format!("requirepass {pw}\n"));
        }
        conf.push_str(&opts.extra);
        conf.push('\n');
        let conf_path = dir.path().join("redis.conf");
        fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
        let child = spawn(bin, &conf_path)?;
        let server = RedisServer {
            child,
            dir,
            port,
            password: opts.password.clone(),
        };
        server.until_it_answers()
    }

    /// Stops the server and starts it again on the same config, socket and port: a real
    /// restart (new process, new `run_id`, uptime from zero).
    pub fn restart(mut self) -> Result<RedisServer, String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(self.socket());
        self.child = spawn(&binary(), &self.dir.path().join("redis.conf"))?;
        self.until_it_answers()
    }

    /// Waits until the server answers PING; an exit or a timeout is the error, with its log.
    fn until_it_answers(mut self) -> Result<RedisServer, String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status}; log:\n{}", self.log()));
            }
            if self.socket().exists() && self.cli(&["PING"]).trim() == "PONG" {
                return Ok(self);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no PONG within {START_TIMEOUT:?}; log:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// The temp dir (for extra files such as certificates).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The TCP port, when listening on one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `unix:///…/redis.sock`, without password.
    pub fn unix_url(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// `redis://127.0.0.1:PORT`, without password.
    pub fn tcp_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port.expect("a TCP port"))
    }

    /// The server's log.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Runs one redis-cli command over the socket (with the password) and returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        cmd.arg("-s").arg(self.socket());
        if let Some(pw) = &self.password {
            cmd.env("REDISCLI_AUTH", pw);
        }
        let out = cmd.args(args).output().expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Feeds many commands (one per line) through one redis-cli and returns its stdout.
    pub fn pipe(&self, commands: &str) -> String {
        use std::io::Write;
        let mut cmd = Command::new("redis-cli");
        cmd.arg("-s").arg(self.socket());
        if let Some(pw) = &self.password {
            cmd.env("REDISCLI_AUTH", pw);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-cli runs");
        // Write from another thread: redis-cli stops reading once its replies fill the
        // stdout pipe, so writing everything before reading would deadlock.
        let mut stdin = child.stdin.take().expect("stdin");
        let input = commands.to_string();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().expect("redis-cli finishes");
        writer
            .join()
            .expect("writer thread")
            .expect("write to redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Runs redis-server on a config file, in the foreground, without a terminal.
fn spawn(bin: &Path, conf: &Path) -> Result<Child, String> {
    Command::new(bin)
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
