//! Does `pgcache-tune recommend` help? This driver runs the same pgbench workloads on throwaway
//! PostgreSQL clusters with PostgreSQL's defaults and with the recommendation, alternating the
//! configurations (A B A B ...), and states per comparison how large the difference is and how
//! sure we are of it (bootstrap interval of the median difference, Mann–Whitney p).
//!
//! Cases: `host` (defaults vs the advice for this host, plus, with `hugepages`, the advice
//! with `huge_pages = on` and the exact number of huge pages reserved against the advice as
//! emitted, `huge_pages = try` with none reserved) and `container` (a server in a
//! memory-limited cgroup, the advice computed by `recommend` inside that group, page cache of
//! the group dropped before every run). CPU time per transaction comes from the benchmark's own
//! CPU cgroup, which also carries a high CPU weight: neighbours slow the wall clock more than
//! they change the CPU a transaction needs.
//!
//! Every measured run starts the same way: restart with the configuration → (container: drop
//! the group's page cache before the start) → prewarm pass (host) → pgbench warm-up → wait
//! until its backends have exited → stats and CPU snapshot → measured run → wait → snapshot.
//!
//! Needs root (cgroups, `vm.nr_hugepages`, and the server runs as OS user `postgres`). Every
//! change to the host is undone on exit, on error and on Ctrl-C.

mod cgroup;
mod pgbench;
mod snippet;
mod stats;

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type R<T> = Result<T, String>;

const MIB: u64 = 1024 * 1024;
const DEFAULT_SB: u64 = 128 * MIB;
const BOOTSTRAP_ITERATIONS: usize = 4000;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" {
    // libc's signal(2); std links libc already, so this adds no dependency.
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

extern "C" fn on_signal(_: i32) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn check_interrupt() -> R<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

fn log(msg: &str) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    eprintln!("[{h:02}:{m:02}:{s:02}] {msg}");
}

const USAGE: &str = "Usage: bench/advice.sh [OPTIONS]   (or: cargo run --release --manifest-path bench/advice/Cargo.toml -- [OPTIONS])

Benchmarks PostgreSQL's defaults against `pgcache-tune recommend` on throwaway clusters,
alternating the configurations, with CPU time per transaction from a cgroup and a statistical
statement per comparison. Needs root.

Options:
  --cases LIST          host,hugepages,container (default: all three). hugepages adds the
                        advice with huge_pages=on and the pages reserved to the host case
  --workloads LIST      skewed,tpcb,select-only (default skewed,tpcb). skewed: one primary-key
                        read per transaction, accounts drawn from random_exponential so 90% of
                        reads hit a hot set larger than 128MB and smaller than the advice's
                        shared_buffers
  --scale N             pgbench scale of the host case (default 100, ~1.5 GiB)
  --container-scale N   pgbench scale of the container case (default 300, ~4.5 GiB)
  --container-limit MIB memory limit of the container case's cgroup (default 2048)
  --duration S          seconds per measured run (default 15)
  --warmup S            seconds of pgbench warm-up before each run (default 5)
  --no-prewarm          skip the host case's prewarm pass (index-order read of the tables)
  --clients N           pgbench clients (default 8)
  --repeats N           runs per configuration, alternated (default 4)
  --set NAME=VALUE      override one recommended setting (repeatable)
  --recommend-arg A     extra argument for `pgcache-tune recommend` (repeatable)
  --attribute           for every defaults-vs-advice comparison where the advice is not
                        ahead, revert each recommended setting that differs from the default
                        in turn and measure what each costs
  --attribute-repeats N runs per configuration in the attribution (default: --repeats)
  --attribute-only LIST only these settings in the attribution (comma-separated)
  --cpu-shares N        cpu.shares of the benchmark's CPU group (default 8192; v2: weight)
  --seed N              seed of the bootstrap (default 11)
  --out DIR             runs.csv, table.md, snippets, logs (default bench/results)
  --pg-bin DIR          server binaries (default $PGCACHE_TUNE_PG_BIN or
                        /usr/lib/postgresql/15/bin)
  -h, --help            this text

Environment: PGCACHE_TUNE_BIN (a pgcache-tune binary; otherwise built with cargo in the
repository), CARGO_TARGET_DIR, TMPDIR (where clusters live).";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Skewed,
    Tpcb,
    SelectOnly,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Skewed => "skewed",
            Workload::Tpcb => "tpcb",
            Workload::SelectOnly => "select-only",
        }
    }
}

#[derive(Debug, Clone)]
struct Opts {
    host: bool,
    hugepages: bool,
    container: bool,
    workloads: Vec<Workload>,
    scale: u32,
    container_scale: u32,
    container_limit_mib: u64,
    duration: u32,
    warmup: u32,
    prewarm: bool,
    clients: u32,
    repeats: u32,
    sets: Vec<(String, String)>,
    recommend_args: Vec<String>,
    attribute: bool,
    attribute_repeats: Option<u32>,
    attribute_only: Vec<String>,
    cpu_shares: u64,
    seed: u64,
    out: PathBuf,
    pg_bin: PathBuf,
}

fn parse_num<T>(flag: &str, v: &str, min: T) -> R<T>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match v.parse::<T>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(format!(
            "{flag} wants a whole number of at least {min}, not '{v}'"
        )),
    }
}

/// Parses the command line; `Ok(None)` for --help.
fn parse_args(args: &[String], repo: &Path) -> R<Option<Opts>> {
    let mut o = Opts {
        host: true,
        hugepages: true,
        container: true,
        workloads: vec![Workload::Skewed, Workload::Tpcb],
        scale: 100,
        container_scale: 300,
        container_limit_mib: 2048,
        duration: 15,
        warmup: 5,
        prewarm: true,
        clients: 8,
        repeats: 4,
        sets: Vec::new(),
        recommend_args: Vec::new(),
        attribute: false,
        attribute_repeats: None,
        attribute_only: Vec::new(),
        cpu_shares: 8192,
        seed: 11,
        out: repo.join("bench/results"),
        pg_bin: std::env::var_os("PGCACHE_TUNE_PG_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin")),
    };
    let mut i = 0;
    while i < args.len() {
        let (flag, inline) = match args[i].split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (args[i].clone(), None),
        };
        let takes_value = !matches!(
            flag.as_str(),
            "--no-prewarm" | "--attribute" | "-h" | "--help"
        );
        let value = if takes_value {
            match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| format!("{flag} needs a value"))?
                }
            }
        } else {
            if inline.is_some() {
                return Err(format!("{flag} takes no value"));
            }
            String::new()
        };
        let v = value.as_str();
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--cases" => {
                o.host = false;
                o.hugepages = false;
                o.container = false;
                for c in v.split(',').filter(|c| !c.is_empty()) {
                    match c {
                        "host" => o.host = true,
                        "hugepages" => o.hugepages = true,
                        "container" => o.container = true,
                        _ => {
                            return Err(format!("unknown case '{c}' (host, hugepages, container)"))
                        }
                    }
                }
                if o.hugepages {
                    o.host = true;
                }
                if !o.host && !o.container {
                    return Err("--cases names no case (host, hugepages, container)".into());
                }
            }
            "--workloads" => {
                o.workloads.clear();
                for w in v.split(',').filter(|w| !w.is_empty()) {
                    o.workloads.push(match w {
                        "skewed" => Workload::Skewed,
                        "tpcb" => Workload::Tpcb,
                        "select-only" => Workload::SelectOnly,
                        _ => {
                            return Err(format!(
                                "unknown workload '{w}' (skewed, tpcb, select-only)"
                            ))
                        }
                    });
                }
                if o.workloads.is_empty() {
                    return Err("--workloads names no workload (skewed, tpcb, select-only)".into());
                }
            }
            "--scale" => o.scale = parse_num(&flag, v, 1)?,
            "--container-scale" => o.container_scale = parse_num(&flag, v, 1)?,
            "--container-limit" => o.container_limit_mib = parse_num(&flag, v, 256)?,
            "--duration" => o.duration = parse_num(&flag, v, 1)?,
            "--warmup" => o.warmup = parse_num(&flag, v, 0)?,
            "--no-prewarm" => o.prewarm = false,
            "--clients" => o.clients = parse_num(&flag, v, 1)?,
            "--repeats" => o.repeats = parse_num(&flag, v, 1)?,
            "--set" => o.sets.push(snippet::parse_assignment(v)?),
            "--recommend-arg" => o.recommend_args.push(v.to_string()),
            "--attribute" => o.attribute = true,
            "--attribute-repeats" => o.attribute_repeats = Some(parse_num(&flag, v, 1)?),
            "--attribute-only" => {
                o.attribute_only = v
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "--cpu-shares" => o.cpu_shares = parse_num(&flag, v, 2)?,
            "--seed" => o.seed = parse_num(&flag, v, 0)?,
            "--out" => o.out = PathBuf::from(v),
            "--pg-bin" => o.pg_bin = PathBuf::from(v),
            _ => {
                return Err(format!(
                    "unknown argument '{}' (--help lists the options)",
                    args[i]
                ))
            }
        }
        i += 1;
    }
    if o.clients > 90 {
        return Err("--clients: at most 90 (the default max_connections is 100)".into());
    }
    Ok(Some(o))
}

// ------------------------------------------------------------------------------------------
// Host changes that must be undone
// ------------------------------------------------------------------------------------------

const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";

/// `vm.nr_hugepages`, put back to its first value when dropped.
struct HugePages {
    original: Option<u64>,
}

fn read_u64(path: &str) -> R<u64> {
    let t = fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    t.trim()
        .parse()
        .map_err(|_| format!("cannot parse {path}: '{}'", t.trim()))
}

impl HugePages {
    /// Reserves `n` huge pages (0 releases them); fails when the kernel cannot find them.
    fn set(&mut self, n: u64) -> R<()> {
        let current = read_u64(NR_HUGEPAGES)?;
        if self.original.is_none() {
            self.original = Some(current);
        }
        if current == n {
            return Ok(());
        }
        for attempt in 0..12 {
            fs::write(NR_HUGEPAGES, n.to_string())
                .map_err(|e| format!("cannot write {NR_HUGEPAGES}: {e}"))?;
            let got = read_u64(NR_HUGEPAGES)?;
            if got == n {
                return Ok(());
            }
            // Each write reclaims some page cache and gives up early; the next finds more.
            // After a few, drop the clean page cache (the next run's prewarm reads its data
            // back) and compact, so fragmentation cannot stop the reservation.
            log(&format!(
                "    huge pages: asked for {n}, the kernel found {got} (attempt {})",
                attempt + 1
            ));
            if attempt >= 2 {
                let _ = fs::write("/proc/sys/vm/drop_caches", "1");
            }
            let _ = fs::write("/proc/sys/vm/compact_memory", "1");
        }
        Err(format!(
            "the kernel could not reserve {n} huge pages (vm.nr_hugepages)"
        ))
    }
}

impl Drop for HugePages {
    fn drop(&mut self) {
        if let Some(n) = self.original {
            if fs::write(NR_HUGEPAGES, n.to_string()).is_err() {
                eprintln!("advice-bench: WARNING: could not put vm.nr_hugepages back to {n}");
            }
        }
    }
}

struct GroupsGuard(cgroup::Groups);

impl Drop for GroupsGuard {
    fn drop(&mut self) {
        self.0.remove();
    }
}

// ------------------------------------------------------------------------------------------
// A throwaway cluster
// ------------------------------------------------------------------------------------------

struct Cluster {
    pg_bin: PathBuf,
    base: PathBuf,
    data: PathBuf,
    sock: PathBuf,
    port: u16,
    major: u32,
    /// `cgroup.procs` of the memory group the server runs in (container case).
    memory_procs: Option<PathBuf>,
    running: bool,
}

const INCLUDE: &str = "pgcache-tune.conf";

fn output_text(out: &std::process::Output) -> String {
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

fn tail(text: &str, lines: usize) -> String {
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Runs a command; its stdout on success, otherwise an error with the end of its output.
fn run(mut cmd: Command, what: &str) -> R<String> {
    check_interrupt()?;
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{what} failed ({}):\n{}",
            out.status,
            tail(&output_text(&out), 20)
        ))
    }
}

/// A command that first moves itself into the cgroup whose `cgroup.procs` is `procs`.
fn in_group(procs: Option<&Path>, program: &Path) -> Command {
    match procs {
        Some(p) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg("echo $$ > \"$0\" && exec \"$@\"")
                .arg(p)
                .arg(program);
            c
        }
        None => Command::new(program),
    }
}

impl Cluster {
    fn create(pg_bin: &Path, name: &str, memory_procs: Option<PathBuf>) -> R<Cluster> {
        let parent = std::env::var_os("TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/tmp".into());
        let base = parent.join(format!("pgcache-advice.{}.{name}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(base.join("sock"))
            .map_err(|e| format!("cannot create {}: {e}", base.display()))?;
        let mut cl = Cluster {
            pg_bin: pg_bin.to_path_buf(),
            data: base.join("data"),
            sock: base.join("sock"),
            base,
            port: 5432,
            major: 0,
            memory_procs,
            running: false,
        };
        let mut chown = Command::new("chown");
        chown.arg("-R").arg("postgres:").arg(&cl.base);
        run(chown, "chown")?;
        let mut v = cl.pg("postgres", false);
        v.arg("--version");
        let text = run(v, "postgres --version")?;
        cl.major = text
            .split_whitespace()
            .find_map(|w| w.split('.').next()?.parse().ok().filter(|&m: &u32| m >= 10))
            .ok_or_else(|| format!("cannot read the major version from '{}'", text.trim()))?;
        let mut init = cl.pg("initdb", true);
        init.arg("-D").arg(&cl.data).args([
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        run(init, "initdb")?;
        let conf = cl.data.join("postgresql.conf");
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .map_err(|e| format!("{}: {e}", conf.display()))?;
        write!(
            f,
            "\n# --- bench/advice: harness settings, the same for every configuration ---\n\
             listen_addresses = ''\nunix_socket_directories = '{}'\nport = {}\n\
             # --- the configuration under test (empty for PostgreSQL's defaults) ---\n\
             include_if_exists = '{INCLUDE}'\n",
            cl.sock.display(),
            cl.port
        )
        .map_err(|e| e.to_string())?;
        Ok(cl)
    }

    /// A server program run as `postgres`, from inside the cluster's directory; with
    /// `grouped`, inside the memory group first.
    fn pg(&self, prog: &str, grouped: bool) -> Command {
        let procs = if grouped {
            self.memory_procs.as_deref()
        } else {
            None
        };
        let mut c = in_group(procs, Path::new("runuser"));
        c.args(["-u", "postgres", "--"])
            .arg(self.pg_bin.join(prog))
            .current_dir(&self.base);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PG") {
                c.env_remove(k);
            }
        }
        c.env("LC_ALL", "C");
        c
    }

    fn psql(&self, db: &str, sql: &str) -> R<String> {
        let mut c = self.pg("psql", false);
        c.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-F",
            " ",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
        ])
        .arg(&self.sock)
        .args([
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-d",
            db,
            "-c",
            sql,
        ]);
        run(c, "psql").map(|s| s.trim().to_string())
    }

    fn pgbench(&self, db: &str, args: &[String]) -> Command {
        let mut c = self.pg("pgbench", false);
        c.args(args).arg("-h").arg(&self.sock).args([
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            db,
        ]);
        c
    }

    fn write_include(&self, content: &str) -> R<()> {
        let f = self.data.join(INCLUDE);
        fs::write(&f, content).map_err(|e| format!("{}: {e}", f.display()))?;
        let mut c = Command::new("chown");
        c.arg("postgres:").arg(&f);
        run(c, "chown").map(|_| ())
    }

    fn start(&mut self, extra: &[&str]) -> R<()> {
        let log = self.base.join("server.log");
        let mut c = self.pg("pg_ctl", true);
        c.arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "300"]);
        if !extra.is_empty() {
            c.arg("-o").arg(extra.join(" "));
        }
        c.arg("start");
        match run(c, "pg_ctl start") {
            Ok(_) => {
                self.running = true;
                Ok(())
            }
            Err(e) => {
                let server_log = fs::read_to_string(&log).unwrap_or_default();
                Err(format!("{e}\nserver log:\n{}", tail(&server_log, 15)))
            }
        }
    }

    fn stop(&mut self) -> R<()> {
        if self.running {
            let mut c = self.pg("pg_ctl", false);
            c.arg("-D")
                .arg(&self.data)
                .args(["-m", "fast", "-w", "-t", "600", "stop"]);
            run(c, "pg_ctl stop")?;
            self.running = false;
        }
        Ok(())
    }

    /// Restarts with a configuration and proves every line of it applied (pg_file_settings).
    fn restart_with(&mut self, cfg: &Config) -> R<()> {
        self.stop()?;
        self.write_include(&cfg.include)?;
        self.start(&[])?;
        let bad = self.psql(
            "postgres",
            &format!(
                "SELECT name || ' = ' || coalesce(setting, '') || ': ' || coalesce(error, 'not applied') \
                 FROM pg_file_settings WHERE sourcefile LIKE '%/{INCLUDE}' AND (error IS NOT NULL OR NOT applied)"
            ),
        )?;
        if !bad.is_empty() {
            return Err(format!(
                "configuration '{}' is not fully applied:\n{bad}",
                cfg.label
            ));
        }
        Ok(())
    }

    /// Waits until no client backend is left on `db`: each has then flushed its statistics
    /// (15+: before leaving pg_stat_activity; before 15 the collector needs up to 0.5 s more).
    fn wait_idle(&self, db: &str) -> R<()> {
        for _ in 0..300 {
            let n = self.psql(
                "postgres",
                &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND backend_type = 'client backend'"),
            )?;
            if n == "0" {
                if self.major < 15 {
                    std::thread::sleep(Duration::from_millis(1500));
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "backends of database {db} did not exit within 30 s"
        ))
    }

    fn blocks(&self, db: &str) -> R<(u64, u64)> {
        let t = self.psql(
            "postgres",
            &format!("SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = '{db}'"),
        )?;
        let mut it = t.split_whitespace().map(|v| v.parse::<u64>());
        match (it.next(), it.next()) {
            (Some(Ok(h)), Some(Ok(r))) => Ok((h, r)),
            _ => Err(format!("unexpected pg_stat_database row '{t}'")),
        }
    }

    /// `name setting` of every setting, for telling which lines of the advice change anything.
    fn settings(&self) -> R<Vec<(String, String)>> {
        let t = self.psql(
            "postgres",
            "SELECT name, setting FROM pg_settings ORDER BY name",
        )?;
        Ok(t.lines()
            .filter_map(|l| {
                l.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            })
            .collect())
    }

    /// `postgres -C shared_memory_size_in_huge_pages` with the current include (stopped).
    fn huge_pages_needed(&self) -> R<u64> {
        let mut c = self.pg("postgres", false);
        c.arg("-D")
            .arg(&self.data)
            .args(["-C", "shared_memory_size_in_huge_pages"]);
        let t = run(c, "postgres -C shared_memory_size_in_huge_pages")?;
        t.trim().parse().map_err(|_| {
            format!(
                "postgres -C shared_memory_size_in_huge_pages said '{}'",
                t.trim()
            )
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let mut c = self.pg("pg_ctl", false);
            c.arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "stop"]);
            let _ = c.stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
        let _ = fs::remove_dir_all(&self.base);
    }
}

// ------------------------------------------------------------------------------------------
// Configurations, runs, comparisons
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Config {
    label: String,
    include: String,
    /// Huge pages to reserve while this configuration runs (0: none).
    huge_pages: u64,
}

#[derive(Debug, Clone)]
struct Run {
    case: String,
    workload: Workload,
    config: String,
    repeat: u32,
    tps: f64,
    transactions: u64,
    latency_avg_ms: f64,
    latency_p95_ms: f64,
    cpu_ms_per_txn: f64,
    blks_hit: u64,
    blks_read: u64,
    group_cache_mib: Option<u64>,
    load1: String,
}

impl Run {
    fn hit_ratio(&self) -> Option<f64> {
        let total = self.blks_hit + self.blks_read;
        (total > 0).then(|| self.blks_hit as f64 / total as f64)
    }
}

/// One case: a cluster with its data loaded, its configurations and how runs start.
struct Case {
    name: String,
    cluster: Cluster,
    scale: u32,
    db_mib: u64,
    skew_parameter: f64,
    skew_hot_mib: u64,
    cold_start: bool,
    prewarm: bool,
}

struct Bench {
    opts: Opts,
    groups: GroupsGuard,
    huge: HugePages,
    csv: fs::File,
    logs: PathBuf,
    runs: Vec<Run>,
    run_no: usize,
    threads: u32,
}

fn workload_args(w: Workload, case: &Case) -> R<Vec<String>> {
    Ok(match w {
        Workload::SelectOnly => vec!["-S".into()],
        Workload::Tpcb => vec!["-b".into(), "tpcb-like".into()],
        Workload::Skewed => {
            let script = case.cluster.base.join("skewed.sql");
            fs::write(&script, pgbench::skewed_script(case.skew_parameter))
                .map_err(|e| e.to_string())?;
            // A custom script's :scale is 1 unless -s gives it.
            vec![
                "-f".into(),
                script.display().to_string(),
                "-s".into(),
                case.scale.to_string(),
            ]
        }
    })
}

impl Bench {
    fn measure(
        &mut self,
        case: &mut Case,
        cfg: &Config,
        w: Workload,
        repeat: u32,
        total: usize,
    ) -> R<Run> {
        check_interrupt()?;
        self.run_no += 1;
        let tag = format!(
            "{}-{}-{}-r{repeat}",
            case.name,
            w.name(),
            cfg.label.replace([' ', '/', '='], "_")
        );
        log(&format!(
            "run {}/{total}: {} {} '{}' (repeat {repeat})",
            self.run_no,
            case.name,
            w.name(),
            cfg.label
        ));
        case.cluster.stop()?;
        self.huge.set(cfg.huge_pages)?;
        if case.cold_start {
            self.groups.0.drop_memory_group_cache()?;
        }
        case.cluster.restart_with(cfg)?;
        if case.prewarm {
            // Index-order reads go through shared_buffers (a large seqscan uses a small ring).
            case.cluster.psql(
                "bench",
                "SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; \
                 SET max_parallel_workers_per_gather = 0; \
                 SELECT sum(abalance) FROM pgbench_accounts WHERE aid > 0; \
                 SELECT sum(tbalance) FROM pgbench_tellers WHERE tid > 0; \
                 SELECT sum(bbalance) FROM pgbench_branches WHERE bid > 0;",
            )?;
        }
        let mut common = workload_args(w, case)?;
        common.extend(["-M", "simple", "-c"].map(String::from));
        common.push(self.opts.clients.to_string());
        common.push("-j".into());
        common.push(self.threads.to_string());
        if self.opts.warmup > 0 {
            // Without -n: pgbench vacuums branches and tellers and truncates history first.
            let mut args = common.clone();
            args.extend(["-T".to_string(), self.opts.warmup.to_string()]);
            let out = run(case.cluster.pgbench("bench", &args), "pgbench warm-up")?;
            let _ = fs::write(self.logs.join(format!("{tag}.warmup.txt")), out);
        }
        case.cluster.wait_idle("bench")?;
        let before = case.cluster.blocks("bench")?;
        let cpu_before = self.groups.0.cpu_ns()?;
        let txn_dir = case.cluster.base.join("txn");
        let _ = fs::remove_dir_all(&txn_dir);
        fs::create_dir_all(&txn_dir).map_err(|e| e.to_string())?;
        let mut c = Command::new("chown");
        c.arg("postgres:").arg(&txn_dir);
        run(c, "chown")?;
        let mut args = common.clone();
        args.extend([
            "-n".to_string(),
            "-T".into(),
            self.opts.duration.to_string(),
            "--log".into(),
        ]);
        args.push(format!("--log-prefix={}", txn_dir.join("txn").display()));
        let started = Instant::now();
        let mut cmd = case.cluster.pgbench("bench", &args);
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("pgbench: {e}"))?;
        let text = output_text(&out);
        let _ = fs::write(self.logs.join(format!("{tag}.pgbench.txt")), &text);
        if !out.status.success() {
            return Err(format!("pgbench failed ({tag}):\n{}", tail(&text, 20)));
        }
        case.cluster.wait_idle("bench")?;
        let cpu_after = self.groups.0.cpu_ns()?;
        let after = case.cluster.blocks("bench")?;
        let summary = pgbench::parse_summary(&text)?;
        let mut lat = Vec::new();
        for e in fs::read_dir(&txn_dir).map_err(|e| e.to_string())? {
            let p = e.map_err(|e| e.to_string())?.path();
            lat.extend(pgbench::parse_txn_log(
                &fs::read_to_string(&p).map_err(|e| e.to_string())?,
            )?);
        }
        let _ = fs::remove_dir_all(&txn_dir);
        if lat.len() as u64 != summary.transactions || lat.is_empty() {
            return Err(format!(
                "{tag}: logged {} transactions, pgbench counted {}",
                lat.len(),
                summary.transactions
            ));
        }
        lat.sort_unstable();
        let mean_us = lat.iter().sum::<u64>() as f64 / lat.len() as f64;
        let r = Run {
            case: case.name.clone(),
            workload: w,
            config: cfg.label.clone(),
            repeat,
            tps: summary.tps,
            transactions: summary.transactions,
            latency_avg_ms: mean_us / 1000.0,
            latency_p95_ms: pgbench::percentile(&lat, 95.0).unwrap_or(0) as f64 / 1000.0,
            cpu_ms_per_txn: cpu_after.saturating_sub(cpu_before) as f64
                / 1e6
                / summary.transactions.max(1) as f64,
            blks_hit: after.0.saturating_sub(before.0),
            blks_read: after.1.saturating_sub(before.1),
            group_cache_mib: if case.cold_start {
                self.groups.0.memory_group_cache().map(|b| b / MIB)
            } else {
                None
            },
            load1: fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
                .unwrap_or_default(),
        };
        log(&format!(
            "    tps {:.0}, cpu {:.3} ms/txn, latency avg {:.3} ms, hit ratio {} ({:.1} s)",
            r.tps,
            r.cpu_ms_per_txn,
            r.latency_avg_ms,
            r.hit_ratio()
                .map(|h| format!("{:.2}%", 100.0 * h))
                .unwrap_or_else(|| "n/a".into()),
            started.elapsed().as_secs_f64()
        ));
        writeln!(
            self.csv,
            "{},{},{},{},{},{},{:.3},{},{:.4},{:.4},{:.5},{},{},{},{},{}",
            self.run_no,
            r.case,
            case.db_mib,
            r.workload.name(),
            csv_field(&r.config),
            r.repeat,
            r.tps,
            r.transactions,
            r.latency_avg_ms,
            r.latency_p95_ms,
            r.cpu_ms_per_txn,
            r.blks_hit,
            r.blks_read,
            r.hit_ratio().map(|h| format!("{h:.6}")).unwrap_or_default(),
            r.group_cache_mib.map(|m| m.to_string()).unwrap_or_default(),
            r.load1
        )
        .map_err(|e| e.to_string())?;
        self.runs.push(r.clone());
        Ok(r)
    }

    /// Alternates the configurations: for each repeat, every configuration once per workload.
    fn alternate(
        &mut self,
        case: &mut Case,
        configs: &[Config],
        workloads: &[Workload],
        repeats: u32,
    ) -> R<()> {
        let total = self.run_no + configs.len() * workloads.len() * repeats as usize;
        for rep in 1..=repeats {
            for cfg in configs {
                for &w in workloads {
                    self.measure(case, cfg, w, rep, total)?;
                }
            }
        }
        Ok(())
    }

    fn values(&self, case: &str, w: Workload, config: &str, f: fn(&Run) -> f64) -> Vec<f64> {
        self.runs
            .iter()
            .filter(|r| r.case == case && r.workload == w && r.config == config)
            .map(f)
            .collect()
    }

    fn compare(&self, case: &str, w: Workload, a: &str, b: &str) -> Comparison {
        let seed = self.opts.seed;
        let side = |f: fn(&Run) -> f64| {
            let (va, vb) = (self.values(case, w, a, f), self.values(case, w, b, f));
            Stat {
                a: stats::median(&va),
                ci: stats::bootstrap_median_diff(&va, &vb, BOOTSTRAP_ITERATIONS, 0.95, seed),
                mw: stats::mann_whitney(&va, &vb),
            }
        };
        Comparison {
            case: case.to_string(),
            workload: w,
            a: a.to_string(),
            b: b.to_string(),
            tps: side(|r| r.tps),
            cpu: side(|r| r.cpu_ms_per_txn),
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[derive(Debug, Clone)]
struct Stat {
    a: Option<f64>,
    ci: Option<stats::DiffCi>,
    mw: Option<stats::MannWhitney>,
}

#[derive(Debug, Clone)]
struct Comparison {
    case: String,
    workload: Workload,
    a: String,
    b: String,
    tps: Stat,
    cpu: Stat,
}

impl Comparison {
    /// `b` is ahead when TPS is higher or CPU per transaction lower with confidence — the 95%
    /// bootstrap interval excludes zero *and* Mann–Whitney p < 0.05 — and the other metric is
    /// not confidently worse; behind in the mirror case.
    fn verdict(&self) -> Verdict {
        let t = self.tps.confident_sign();
        let c = -self.cpu.confident_sign();
        match (t, c) {
            (1, 0) | (0, 1) | (1, 1) => Verdict::Ahead,
            (-1, 0) | (0, -1) | (-1, -1) => Verdict::Behind,
            (0, 0) => Verdict::Level,
            _ => Verdict::Mixed,
        }
    }
}

impl Stat {
    /// Sign of B − A when both the interval and the rank test agree it is not zero.
    fn confident_sign(&self) -> i32 {
        match (self.ci, self.mw) {
            (Some(ci), Some(mw)) if mw.p < 0.05 => ci.sign(),
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ahead,
    Behind,
    Level,
    Mixed,
}

impl Verdict {
    fn text(self) -> &'static str {
        match self {
            Verdict::Ahead => "**ahead**",
            Verdict::Behind => "**behind**",
            Verdict::Level => "no difference established",
            Verdict::Mixed => "mixed (faster but more CPU, or the reverse)",
        }
    }
}

// ------------------------------------------------------------------------------------------
// Report
// ------------------------------------------------------------------------------------------

fn pct_diff(stat: &Stat, digits: usize) -> String {
    match (stat.a, stat.ci) {
        (Some(a), Some(ci)) if a != 0.0 => format!(
            "{:+.d$} ({:+.1}%) [{:+.d$}, {:+.d$}]",
            ci.estimate,
            100.0 * ci.estimate / a,
            ci.lo,
            ci.hi,
            d = digits
        ),
        _ => "n/a".into(),
    }
}

fn p_value(stat: &Stat) -> String {
    stat.mw
        .map(|m| format!("{:.3}", m.p))
        .unwrap_or_else(|| "n/a".into())
}

fn med_range(v: &[f64], digits: usize) -> String {
    let (Some(m), Some(lo), Some(hi)) = (
        stats::median(v),
        v.iter().copied().reduce(f64::min),
        v.iter().copied().reduce(f64::max),
    ) else {
        return "n/a".into();
    };
    format!("{m:.d$} ({lo:.d$}–{hi:.d$})", d = digits)
}

fn comparison_table(out: &mut String, comps: &[Comparison]) {
    out.push_str(
        "| case | workload | A → B | TPS: B − A [95% CI] | p | CPU ms/txn: B − A [95% CI] | p | B is |\n\
         |---|---|---|--:|--:|--:|--:|---|\n",
    );
    for c in comps {
        let _ = writeln!(
            out,
            "| {} | {} | {} → {} | {} | {} | {} | {} | {} |",
            c.case,
            c.workload.name(),
            c.a,
            c.b,
            pct_diff(&c.tps, 0),
            p_value(&c.tps),
            pct_diff(&c.cpu, 4),
            p_value(&c.cpu),
            c.verdict().text()
        );
    }
}

fn runs_table(out: &mut String, runs: &[Run], order: &[(String, Workload, String)]) {
    out.push_str(
        "| case | workload | config | runs | TPS | CPU ms/txn | latency avg ms | p95 ms | hit ratio % |\n\
         |---|---|---|--:|--:|--:|--:|--:|--:|\n",
    );
    for (case, w, cfg) in order {
        let sel: Vec<&Run> = runs
            .iter()
            .filter(|r| &r.case == case && r.workload == *w && &r.config == cfg)
            .collect();
        if sel.is_empty() {
            continue;
        }
        let col = |f: fn(&Run) -> f64| sel.iter().map(|r| f(r)).collect::<Vec<f64>>();
        let hits: Vec<f64> = sel
            .iter()
            .filter_map(|r| r.hit_ratio())
            .map(|h| 100.0 * h)
            .collect();
        let _ = writeln!(
            out,
            "| {case} | {} | {cfg} | {} | {} | {} | {} | {} | {} |",
            w.name(),
            sel.len(),
            med_range(&col(|r| r.tps), 0),
            med_range(&col(|r| r.cpu_ms_per_txn), 4),
            med_range(&col(|r| r.latency_avg_ms), 3),
            med_range(&col(|r| r.latency_p95_ms), 3),
            med_range(&hits, 2)
        );
    }
}

// ------------------------------------------------------------------------------------------
// The benchmark
// ------------------------------------------------------------------------------------------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

fn tune_binary(repo: &Path) -> R<PathBuf> {
    if let Some(b) = std::env::var_os("PGCACHE_TUNE_BIN") {
        return Ok(PathBuf::from(b));
    }
    log("building pgcache-tune (cargo build --release --locked --bin pgcache-tune)");
    let mut c = Command::new("cargo");
    c.args([
        "build",
        "--release",
        "--locked",
        "--quiet",
        "--bin",
        "pgcache-tune",
    ])
    .current_dir(repo);
    run(c, "cargo build --release")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        repo.join(target)
    };
    Ok(target.join("release/pgcache-tune"))
}

/// `pgcache-tune recommend --data-dir DATA ARGS --format FORMAT`, inside the memory group
/// when `procs` is given (so it probes the group's limit as a containerised server would).
fn recommend(
    tune: &Path,
    data: &Path,
    args: &[String],
    format: &str,
    procs: Option<&Path>,
) -> R<String> {
    let mut c = in_group(procs, tune);
    c.arg("recommend")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .args(["--format", format]);
    run(c, "pgcache-tune recommend")
}

/// Loads `pgbench -i -s scale` into database `bench`; returns its size in MiB.
fn load(cluster: &mut Cluster, scale: u32, logs: &Path, tag: &str) -> R<u64> {
    cluster.stop()?;
    cluster.write_include("")?;
    // Loading is not measured: a roomy WAL avoids checkpoints in the middle of it.
    cluster.start(&["-c max_wal_size=16GB", "-c checkpoint_timeout=1h"])?;
    cluster.psql("postgres", "CREATE DATABASE bench")?;
    let t0 = Instant::now();
    log(&format!("    pgbench -i -s {scale}"));
    let mut c = cluster.pgbench(
        "bench",
        &[
            "-i".into(),
            "-s".into(),
            scale.to_string(),
            "-I".into(),
            "dtgvp".into(),
            "-q".into(),
        ],
    );
    let out = c.stdin(Stdio::null()).output().map_err(|e| e.to_string())?;
    let _ = fs::write(logs.join(format!("init-{tag}.log")), output_text(&out));
    if !out.status.success() {
        return Err(format!(
            "pgbench -i failed:\n{}",
            tail(&output_text(&out), 20)
        ));
    }
    cluster.psql("postgres", "CHECKPOINT")?;
    let bytes: u64 = cluster
        .psql("postgres", "SELECT pg_database_size('bench')")?
        .parse()
        .map_err(|_| "pg_database_size".to_string())?;
    log(&format!(
        "    loaded in {:.0} s: {} MiB",
        t0.elapsed().as_secs_f64(),
        bytes / MIB
    ));
    cluster.stop()?;
    Ok(bytes / MIB)
}

fn apply_sets(mut snippet: String, sets: &[(String, String)]) -> String {
    for (n, v) in sets {
        snippet = snippet::with_setting(&snippet, n, v, "override: bench --set");
    }
    snippet
}

fn shared_buffers_bytes(snippet_text: &str) -> R<u64> {
    let v = snippet::setting_value(snippet_text, "shared_buffers")
        .ok_or("the advice has no shared_buffers line")?;
    let digits: String = v.chars().take_while(|c| c.is_ascii_digit()).collect();
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("shared_buffers '{v}'"))?;
    let unit = v[digits.len()..].trim().to_ascii_lowercase();
    Ok(n * match unit.as_str() {
        "kb" => 1024,
        "mb" => MIB,
        "gb" => 1024 * MIB,
        "tb" => 1024 * 1024 * MIB,
        _ => return Err(format!("shared_buffers unit in '{v}'")),
    })
}

/// Hot set of the skewed workload: between the default and the advised shared_buffers
/// (their geometric mean), and at most a third of the database so it stays skewed.
fn skew_for(db_mib: u64, rec_sb: u64) -> (f64, u64) {
    let hot = ((DEFAULT_SB as f64 * rec_sb as f64).sqrt() as u64 / MIB)
        .min(db_mib / 3)
        .max(1);
    (
        pgbench::exponential_parameter(hot as f64 / db_mib.max(1) as f64, 0.9),
        hot,
    )
}

/// Settings of `snippet` whose effective value differs from the default configuration's.
fn differing(
    snippet_text: &str,
    default: &[(String, String)],
    rec: &[(String, String)],
) -> Vec<String> {
    snippet::setting_names(snippet_text)
        .into_iter()
        .filter(|n| {
            let d = default.iter().find(|(k, _)| k == n).map(|x| &x.1);
            let r = rec.iter().find(|(k, _)| k == n).map(|x| &x.1);
            d != r
        })
        .collect()
}

struct Report {
    header: String,
    notes: Vec<String>,
    order: Vec<(String, Workload, String)>,
    comparisons: Vec<Comparison>,
    attribution: String,
}

fn run_case(b: &mut Bench, rep: &mut Report, tune: &Path, container: bool) -> R<()> {
    let name = if container { "container" } else { "host" };
    let opts = b.opts.clone();
    log(&format!("case {name}: initdb"));
    let procs = container.then(|| b.groups.0.memory_procs());
    let mut cluster = Cluster::create(&opts.pg_bin, name, procs.clone())?;
    let rec_text = recommend(
        tune,
        &cluster.data,
        &opts.recommend_args,
        "conf",
        procs.as_deref(),
    )?;
    let rec_snippet = apply_sets(rec_text.clone(), &opts.sets);
    fs::write(
        opts.out.join(format!("recommended-{name}.conf")),
        &rec_snippet,
    )
    .map_err(|e| e.to_string())?;
    let rec_sb = shared_buffers_bytes(&rec_snippet)?;
    let ram_line = rec_text
        .lines()
        .find(|l| l.contains("RAM:"))
        .unwrap_or("")
        .trim_start_matches(['#', ' '])
        .to_string();
    log(&format!(
        "    advice: shared_buffers {} MiB ({ram_line})",
        rec_sb / MIB
    ));
    let default = Config {
        label: "default".into(),
        include: String::new(),
        huge_pages: 0,
    };
    let recommended = Config {
        label: "recommended".into(),
        include: rec_snippet.clone(),
        huge_pages: 0,
    };
    let mut configs = vec![default.clone(), recommended.clone()];
    let mut note = format!(
        "{name}: `pgcache-tune recommend --data-dir DATA{}`{} chose shared_buffers = {} MiB ({ram_line})",
        opts.recommend_args.iter().map(|a| format!(" {a}")).collect::<String>(),
        if container { " run inside the memory group" } else { "" },
        rec_sb / MIB
    );
    if !opts.sets.is_empty() {
        let _ = write!(
            note,
            "; overrides: {}",
            opts.sets
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !container && opts.hugepages {
        let huge_snippet =
            snippet::with_setting(&rec_snippet, "huge_pages", "on", "bench: pages reserved");
        cluster.write_include(&huge_snippet)?;
        let exact = cluster.huge_pages_needed()?;
        let advised = snippet::sysctl_hugepages(&recommend(
            tune,
            &cluster.data,
            &opts.recommend_args,
            "sysctl",
            None,
        )?);
        let _ = write!(
            note,
            ". Huge pages: the server computes {exact} (`postgres -C shared_memory_size_in_huge_pages` with huge_pages = on), `recommend --format sysctl` advises {}",
            advised.map(|n| n.to_string()).unwrap_or_else(|| "none".into())
        );
        configs.push(Config {
            label: "recommended, huge pages on".into(),
            include: huge_snippet,
            huge_pages: exact,
        });
    }
    // Fail fast: every configuration must start before any data is loaded.
    let mut default_settings = Vec::new();
    let mut rec_settings = Vec::new();
    for cfg in &configs {
        b.huge.set(cfg.huge_pages)?;
        cluster.restart_with(cfg)?;
        if cfg.label == "default" {
            default_settings = cluster.settings()?;
        } else if cfg.label == "recommended" {
            rec_settings = cluster.settings()?;
        }
        if cfg.huge_pages > 0 {
            let used = fs::read_to_string("/proc/meminfo").unwrap_or_default();
            let free = used
                .lines()
                .find(|l| l.starts_with("HugePages_Free:"))
                .unwrap_or("")
                .to_string();
            log(&format!(
                "    huge pages on: reserved {}, {free}",
                cfg.huge_pages
            ));
        }
        cluster.stop()?;
    }
    b.huge.set(0)?;
    let scale = if container {
        opts.container_scale
    } else {
        opts.scale
    };
    log(&format!("case {name}: loading scale {scale}"));
    let db_mib = load(&mut cluster, scale, &b.logs, name)?;
    let (skew_parameter, skew_hot_mib) = skew_for(db_mib, rec_sb);
    let _ = write!(
        note,
        ". Data: scale {scale}, {db_mib} MiB{}. Skewed workload: random_exponential parameter {skew_parameter:.2}, 90% of reads within the first {skew_hot_mib} MiB of pgbench_accounts",
        if container { format!(" in a group limited to {} MiB; the group's page cache is dropped (memory.force_empty) before every start", opts.container_limit_mib) } else { String::new() }
    );
    rep.notes.push(note);
    let mut case = Case {
        name: name.to_string(),
        cluster,
        scale,
        db_mib,
        skew_parameter,
        skew_hot_mib,
        cold_start: container,
        prewarm: !container && opts.prewarm,
    };
    log(&format!(
        "case {name}: {} MiB, skewed hot set {} MiB",
        case.db_mib, case.skew_hot_mib
    ));
    b.alternate(&mut case, &configs, &opts.workloads, opts.repeats)?;
    for &w in &opts.workloads {
        for cfg in &configs {
            rep.order.push((name.to_string(), w, cfg.label.clone()));
        }
    }
    let mut comps = Vec::new();
    for &w in &opts.workloads {
        comps.push(b.compare(name, w, "default", "recommended"));
        if configs.len() > 2 {
            comps.push(b.compare(name, w, "recommended", "recommended, huge pages on"));
            comps.push(b.compare(name, w, "default", "recommended, huge pages on"));
        }
    }
    if opts.attribute {
        let mut candidates = differing(&rec_snippet, &default_settings, &rec_settings);
        if !opts.attribute_only.is_empty() {
            candidates.retain(|n| opts.attribute_only.contains(n));
        }
        // A removed line can leave the value unchanged: wal_buffers' automatic value is
        // shared_buffers/32 up to 16MB, so with a large shared_buffers "without wal_buffers"
        // is the recommendation itself. Start each variant once and keep only real changes.
        let mut real = Vec::new();
        for n in candidates {
            let variant = Config {
                label: format!("without {n}"),
                include: snippet::without(&rec_snippet, &n),
                huge_pages: 0,
            };
            case.cluster.restart_with(&variant)?;
            let now = case.cluster.settings()?;
            let value =
                |set: &[(String, String)]| set.iter().find(|(k, _)| *k == n).map(|x| x.1.clone());
            if value(&now) == value(&rec_settings) {
                log(&format!(
                    "    {n}: its default here equals the recommended value; not attributed"
                ));
            } else {
                real.push(n);
            }
        }
        case.cluster.stop()?;
        let candidates = real;
        for c in comps
            .clone()
            .iter()
            .filter(|c| c.a == "default" && c.b == "recommended")
        {
            if c.verdict() == Verdict::Ahead || candidates.is_empty() {
                continue;
            }
            let w = c.workload;
            log(&format!(
                "case {name}: attribution for {} ({}): reverting {}",
                w.name(),
                c.verdict().text(),
                candidates.join(", ")
            ));
            let mut ab = vec![Config {
                label: "recommended".into(),
                include: rec_snippet.clone(),
                huge_pages: 0,
            }];
            for n in &candidates {
                ab.push(Config {
                    label: format!("without {n}"),
                    include: snippet::without(&rec_snippet, n),
                    huge_pages: 0,
                });
            }
            let attr_case = format!("{name} attribution");
            let saved = case.name.clone();
            case.name = attr_case.clone();
            b.alternate(
                &mut case,
                &ab,
                &[w],
                opts.attribute_repeats.unwrap_or(opts.repeats),
            )?;
            case.name = saved;
            let _ = writeln!(
                rep.attribution,
                "\n{name}, {} (defaults → recommended: {}): each row reverts one recommended setting to the default; B − A is (recommended without it) − recommended, so a positive TPS difference means the setting costs throughput.\n",
                w.name(),
                c.verdict().text()
            );
            let mut rows = Vec::new();
            for cfg in ab.iter().skip(1) {
                rows.push(b.compare(&attr_case, w, "recommended", &cfg.label));
            }
            let mut order = vec![(attr_case.clone(), w, "recommended".to_string())];
            order.extend(
                ab.iter()
                    .skip(1)
                    .map(|c| (attr_case.clone(), w, c.label.clone())),
            );
            runs_table(&mut rep.attribution, &b.runs, &order);
            rep.attribution.push('\n');
            comparison_table(&mut rep.attribution, &rows);
        }
    }
    rep.comparisons.extend(comps);
    case.cluster.stop()?;
    Ok(())
}

fn real_main() -> R<i32> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let repo = repo_root();
    let Some(opts) = parse_args(&args, &repo).map_err(|e| format!("usage: {e}"))? else {
        // A closed pipe (`--help | head`) is not an error worth a panic.
        let _ = writeln!(std::io::stdout(), "{USAGE}");
        return Ok(0);
    };
    // SAFETY: installing a handler that only stores to an atomic is async-signal-safe.
    unsafe {
        signal(2, on_signal);
        signal(15, on_signal);
    }
    let is_root = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if !is_root {
        return Err("needs root: it creates cgroups, reserves huge pages and runs the server as user postgres".into());
    }
    for p in ["postgres", "initdb", "pg_ctl", "pgbench", "psql"] {
        if !opts.pg_bin.join(p).is_file() {
            return Err(format!(
                "{} is missing (--pg-bin names the server binaries)",
                opts.pg_bin.join(p).display()
            ));
        }
    }
    let tune = tune_binary(&repo)?;
    let logs = opts.out.join("logs");
    let _ = fs::remove_dir_all(&logs);
    fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let proc_self = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let groups = cgroup::Groups::create(
        Path::new("/sys/fs/cgroup"),
        &proc_self,
        &format!("pgcache-advice-{}", std::process::id()),
        opts.cpu_shares,
        opts.container_limit_mib * MIB,
    )?;
    let groups = GroupsGuard(groups);
    groups.0.join_self()?;
    log(&format!(
        "cgroup {:?}: cpu weight from shares {}, memory limit {} MiB",
        groups.0.version, opts.cpu_shares, opts.container_limit_mib
    ));
    let csv_path = opts.out.join("runs.csv");
    let mut csv =
        fs::File::create(&csv_path).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    writeln!(csv, "run,case,db_mib,workload,config,repeat,tps,transactions,latency_avg_ms,latency_p95_ms,cpu_ms_per_txn,blks_hit,blks_read,hit_ratio,group_cache_mib,load_avg_1m")
        .map_err(|e| e.to_string())?;
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    let mut b = Bench {
        threads: cpus.min(opts.clients),
        opts: opts.clone(),
        groups,
        huge: HugePages { original: None },
        csv,
        logs,
        runs: Vec::new(),
        run_no: 0,
    };
    let mut rep = Report {
        header: String::new(),
        notes: Vec::new(),
        order: Vec::new(),
        comparisons: Vec::new(),
        attribution: String::new(),
    };
    let t0 = Instant::now();
    if opts.host {
        run_case(&mut b, &mut rep, &tune, false)?;
    }
    if opts.container {
        run_case(&mut b, &mut rep, &tune, true)?;
    }
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|kb| kb / 1048576.0)
        .unwrap_or(0.0);
    let cpu_model = fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':').map(|x| x.1.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let mut pv = Command::new(opts.pg_bin.join("postgres"));
    pv.arg("--version");
    let pg_version = run(pv, "postgres --version").unwrap_or_default();
    let _ = write!(
        rep.header,
        "Command: `bench/advice.sh {}`  \nMachine: {cpu_model}, {cpus} CPUs, {mem_gib:.1} GiB RAM; {}.  \n\
         pgbench: {} clients, {} threads, {} s per run after a {} s warm-up{}; {} run(s) per configuration, alternating. \
         Whole run: {:.0} min. CPU ms/txn: CPU time of the benchmark's cgroup (server and pgbench) over the run window per transaction. \
         Differences: median of B − median of A, in brackets the 95% percentile bootstrap interval ({BOOTSTRAP_ITERATIONS} resamples, seed {}); \
         p: two-sided Mann–Whitney U (normal approximation, tie and continuity corrected; with 3 runs a side it cannot go below 0.081, with 4 below 0.030).\n",
        args.join(" "),
        pg_version.trim(),
        opts.clients,
        b.threads,
        opts.duration,
        opts.warmup,
        if opts.prewarm { " (host case: and a prewarm pass)" } else { "" },
        opts.repeats,
        t0.elapsed().as_secs_f64() / 60.0,
        opts.seed
    );
    let mut table = rep.header.clone();
    table.push('\n');
    for n in &rep.notes {
        let _ = writeln!(table, "- {n}.");
    }
    table.push_str("\nRuns: median (min–max).\n\n");
    runs_table(&mut table, &b.runs, &rep.order);
    table.push_str("\nComparisons:\n\n");
    comparison_table(&mut table, &rep.comparisons);
    if !rep.attribution.is_empty() {
        table.push_str("\nAttribution:\n");
        table.push_str(&rep.attribution);
    }
    fs::write(opts.out.join("table.md"), &table).map_err(|e| e.to_string())?;
    log(&format!(
        "done: {} and {}",
        csv_path.display(),
        opts.out.join("table.md").display()
    ));
    let _ = writeln!(std::io::stdout(), "{table}");
    Ok(0)
}

fn main() {
    let code = match real_main() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("advice-bench: error: {e}");
            if e.starts_with("usage:") {
                2
            } else {
                1
            }
        }
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn options_parse_and_reject() {
        let o = parse_args(
            &args("--cases container --workloads tpcb --repeats=5 --set jit=on --attribute"),
            Path::new("/r"),
        )
        .unwrap()
        .unwrap();
        assert!(o.container && !o.host && !o.hugepages);
        assert_eq!(o.workloads, [Workload::Tpcb]);
        assert_eq!(o.repeats, 5);
        assert_eq!(o.sets, [("jit".to_string(), "on".to_string())]);
        assert!(o.attribute);
        assert_eq!(o.out, PathBuf::from("/r/bench/results"));
        // hugepages implies the host case.
        let o = parse_args(&args("--cases hugepages"), Path::new("/r"))
            .unwrap()
            .unwrap();
        assert!(o.host && o.hugepages && !o.container);
        assert!(parse_args(&args("--help"), Path::new("/r"))
            .unwrap()
            .is_none());
        for bad in [
            "--repeats 0",
            "--cases nope",
            "--workloads",
            "--bogus",
            "--clients 95",
            "--attribute=1",
            "--set x",
        ] {
            assert!(parse_args(&args(bad), Path::new("/r")).is_err(), "{bad}");
        }
    }

    #[test]
    fn shared_buffers_units() {
        assert_eq!(
            shared_buffers_bytes("shared_buffers = 6016MB  # x\n"),
            Ok(6016 * MIB)
        );
        assert_eq!(
            shared_buffers_bytes("shared_buffers = 2GB\n"),
            Ok(2048 * MIB)
        );
        assert!(shared_buffers_bytes("work_mem = 4MB\n").is_err());
    }

    #[test]
    fn skew_hot_set_between_default_and_advice() {
        // 512 MiB advised: hot set sqrt(128 × 512) = 256 MiB.
        let (p, hot) = skew_for(4600, 512 * MIB);
        assert_eq!(hot, 256);
        let f = 256.0 / 4600.0;
        let cdf = (1.0 - (-p * f).exp()) / (1.0 - (-p).exp());
        assert!((cdf - 0.9).abs() < 1e-6);
        // Capped at a third of the database.
        assert_eq!(skew_for(1500, 6016 * MIB).1, 500);
    }

    #[test]
    fn differing_settings_only() {
        let snip = "shared_buffers = 1GB\nseq_page_cost = 1.0\njit = off\n";
        let d = vec![
            ("shared_buffers".into(), "16384".into()),
            ("seq_page_cost".into(), "1".into()),
            ("jit".into(), "on".into()),
        ];
        let r = vec![
            ("shared_buffers".into(), "131072".into()),
            ("seq_page_cost".into(), "1".into()),
            ("jit".into(), "off".into()),
        ];
        assert_eq!(differing(snip, &d, &r), ["shared_buffers", "jit"]);
    }

    fn stat(ci: (f64, f64)) -> Stat {
        Stat {
            a: Some(100.0),
            ci: Some(stats::DiffCi {
                estimate: (ci.0 + ci.1) / 2.0,
                lo: ci.0,
                hi: ci.1,
            }),
            mw: Some(stats::MannWhitney {
                u_a: 0.0,
                z: 0.0,
                p: 0.03,
            }),
        }
    }

    #[test]
    fn verdicts() {
        let comp = |tps: (f64, f64), cpu: (f64, f64)| Comparison {
            case: "c".into(),
            workload: Workload::Tpcb,
            a: "a".into(),
            b: "b".into(),
            tps: stat(tps),
            cpu: stat(cpu),
        };
        assert_eq!(comp((1.0, 5.0), (-1.0, 1.0)).verdict(), Verdict::Ahead);
        assert_eq!(comp((-1.0, 5.0), (-0.2, -0.1)).verdict(), Verdict::Ahead);
        assert_eq!(comp((-5.0, -1.0), (-1.0, 1.0)).verdict(), Verdict::Behind);
        assert_eq!(comp((-5.0, 1.0), (0.1, 0.2)).verdict(), Verdict::Behind);
        assert_eq!(comp((-5.0, 1.0), (-0.1, 0.2)).verdict(), Verdict::Level);
        assert_eq!(comp((1.0, 2.0), (0.1, 0.2)).verdict(), Verdict::Mixed);
        // An interval clear of zero is not enough when the rank test is not significant (one
        // run a side gives a zero-width interval).
        let mut weak = comp((1.0, 5.0), (-1.0, 1.0));
        weak.tps.mw = Some(stats::MannWhitney {
            u_a: 0.0,
            z: 0.0,
            p: 0.08,
        });
        assert_eq!(weak.verdict(), Verdict::Level);
        weak.tps.mw = None;
        assert_eq!(weak.verdict(), Verdict::Level);
    }
}
