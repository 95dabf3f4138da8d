//! The fleet shell: reads the inventory (`--targets FILE`), resolves each target's
//! connection and secret, and runs one async job per target through a bounded pool.
//!
//! The API is three calls, shared by `report`, `check`, `snapshot` and the metrics
//! commands: [`load`] (file → resolved [`Target`]s), [`run`] (a job per target, at most
//! `jobs` at once, each under its own deadline and row cap, results in inventory order) and
//! [`default_jobs`]. Every job is the single-server pipeline given a [`ConnParams`]; a dead,
//! hanging or oversized target yields a failed [`TargetRun`] and never blocks or fails the
//! others.
//!
//! Why each limit: the connect timeout bounds TCP, TLS and authentication; the session's
//! `statement_timeout` lets the server cancel a slow query; and the overall per-target
//! deadline (`timeout`, a tokio timeout around the whole job) is the only one that holds
//! when a server accepts a connection and then never answers. The row cap
//! ([`crate::collect::budget`]) bounds memory per target.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;

use crate::collect::budget;
use crate::conninfo::{self, ConnParams, ConnectionArgs, PasswordSource};
use crate::exit;
use crate::fleet::inventory::{self, PasswordRef, TargetSpec};
use crate::fleet::{Kind, TargetRun};
use crate::units::format_ms;

/// Most targets run at once by default: enough to hide network latency, few enough that a
/// run does not look like a connection storm to a shared pooler.
pub const DEFAULT_MAX_JOBS: usize = 8;

/// A target ready to run: its inventory entry and its resolved connection, or why it could
/// not be resolved (a missing password variable or file) — that target is then down, the
/// others still run.
#[derive(Debug, Clone)]
pub struct Target {
    /// The inventory entry.
    pub spec: TargetSpec,
    /// Connection parameters with the secret read, or the reason they are missing.
    pub params: Result<ConnParams, String>,
}

/// `--jobs` when not given: one per target, at most [`DEFAULT_MAX_JOBS`].
pub fn default_jobs(targets: usize) -> usize {
    targets.clamp(1, DEFAULT_MAX_JOBS)
}

/// Reads and checks the inventory at `path`, keeps the enabled targets (only those named in
/// `only`, when it names any) and resolves each one's connection against the `PG*`
/// variables (except `PGPASSWORD`: one password for a whole fleet would be sent to every
/// server) and `~/.pgpass`. A file that cannot be read or parsed, an unknown `--target`, or
/// a password written inline is a usage error naming the file and line; warnings from
/// resolving go to stderr once each.
pub fn load(path: &Path, only: &[String]) -> anyhow::Result<Vec<Target>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        exit::usage(format!(
            "--targets {}: cannot read it: {}",
            path.display(),
            exit::io_reason(&e)
        ))
    })?;
    let shown = path.display().to_string();
    let inv = inventory::parse(&text, &shown).map_err(exit::usage)?;
    let selected = inv.selected(only).map_err(exit::usage)?;
    if selected.is_empty() {
        return Err(exit::usage(format!(
            "--targets {shown}: no enabled target to run (every entry has enabled = false)"
        )));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let env = |k: &str| {
        if k == "PGPASSWORD" {
            None
        } else {
            std::env::var(k).ok()
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut warnings = BTreeSet::new();
    let mut out = Vec::new();
    for spec in selected {
        refuse_inline_password(spec, &shown)?;
        let params = resolve(spec, &env, home.as_deref(), base);
        if let Ok(p) = &params {
            warnings.extend(p.warnings.iter().cloned());
        }
        out.push(Target {
            spec: spec.clone(),
            params,
        });
    }
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(out)
}

/// An inventory is a file that gets committed, copied and pasted into tickets: a password in
/// its connection string is refused rather than accepted with a warning.
fn refuse_inline_password(spec: &TargetSpec, file: &str) -> anyhow::Result<()> {
    if !conninfo::is_connection_string(&spec.connection) {
        return Ok(());
    }
    let pairs = conninfo::parse_connection_string(&spec.connection).map_err(|m| {
        exit::usage(format!(
            "{file}:{}: target.connection: {m}",
            spec.connection_line
        ))
    })?;
    if pairs.iter().any(|(k, v)| k == "password" && !v.is_empty()) {
        return Err(exit::usage(format!(
            "{file}:{}: target.connection: target {:?} has a password in its connection string; \
             passwords are never written in the inventory: use password_env = \"VAR\", \
             password_file = \"PATH\" or ~/.pgpass",
            spec.connection_line, spec.name
        )));
    }
    Ok(())
}

/// One target's connection: the inventory's string as CONNECTION, its timeouts, and its
/// password reference read now (before any async code). A missing secret is this target's
/// failure, not the run's.
fn resolve(
    spec: &TargetSpec,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
    base: &Path,
) -> Result<ConnParams, String> {
    match spec.kind {
        Kind::Postgres => {}
    }
    let args = ConnectionArgs {
        connection: Some(spec.connection.clone()),
        statement_timeout: Some(spec.statement_timeout),
        ..ConnectionArgs::default()
    };
    let mut params = conninfo::resolve(&args, env, home)
        .map_err(|e| crate::render::sanitize::one_line(&format!("{e:#}")))?;
    params.connect_timeout = Some(spec.connect_timeout);
    let secret = match &spec.password {
        PasswordRef::None => None,
        PasswordRef::Env(var) => Some(std::env::var(var).map_err(|_| {
            format!("password_env {var} is not set (or not valid UTF-8) in the environment")
        })?),
        PasswordRef::File(file) => {
            let file = base.join(file);
            let text = std::fs::read_to_string(&file).map_err(|e| {
                format!(
                    "password_file {}: cannot read it: {}",
                    file.display(),
                    exit::io_reason(&e)
                )
            })?;
            // The first line, as Docker and Kubernetes secrets are usually written with a
            // trailing newline.
            let pw = text.lines().next().unwrap_or("").to_string();
            if pw.is_empty() {
                return Err(format!("password_file {}: it is empty", file.display()));
            }
            Some(pw)
        }
    };
    if let Some(pw) = secret {
        params.password = Some(pw);
        params.password_source = PasswordSource::Given;
    }
    Ok(params)
}

/// Runs `job` for every target, at most `jobs` at once, and returns one [`TargetRun`] per
/// target in inventory order. Each job runs under its target's row cap and within its
/// deadline (`timeout` from the inventory, plus `extra` for work the command itself waits
/// on, such as `check --interval`); a job that errs or runs out of time is that target's
/// failure, in one line.
pub async fn run<T, F, Fut>(
    targets: &[Target],
    jobs: usize,
    extra: Duration,
    job: F,
) -> Vec<TargetRun<T>>
where
    F: Fn(&Target, ConnParams) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let job = &job;
    futures_util::stream::iter(targets)
        .map(|t| async move {
            let start = Instant::now();
            let deadline = t.spec.timeout.saturating_add(extra);
            let result = match &t.params {
                Err(reason) => Err(reason.clone()),
                Ok(params) => {
                    let work = budget::with_row_limit(t.spec.max_rows, job(t, params.clone()));
                    match tokio::time::timeout(deadline, work).await {
                        Ok(Ok(value)) => Ok(value),
                        Ok(Err(e)) => Err(one_line(&e)),
                        Err(_) => Err(format!(
                            "no answer within {} (this target's timeout); gave up",
                            format_ms(u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX))
                        )),
                    }
                }
            };
            TargetRun {
                name: t.spec.name.clone(),
                labels: t.spec.labels.clone(),
                elapsed: start.elapsed(),
                result,
            }
        })
        .buffered(jobs.max(1))
        .collect()
        .await
}

/// An error as one line (driver messages can span lines), with nothing a terminal would
/// act on: the renderers escape it again for their formats.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::inventory::parse;

    fn targets(text: &str) -> Vec<Target> {
        let inv = parse(text, "t.toml").unwrap();
        inv.targets
            .iter()
            .map(|spec| Target {
                spec: spec.clone(),
                params: resolve(spec, &|_| None, None, Path::new(".")),
            })
            .collect()
    }

    const THREE: &str = "
[defaults]
timeout = \"300ms\"
[[target]]
name = \"fast\"
connection = \"host=127.0.0.1 dbname=a\"
[[target]]
name = \"slow\"
connection = \"host=127.0.0.1 dbname=b\"
[[target]]
name = \"broken\"
connection = \"host=127.0.0.1 dbname=c\"
password_env = \"PGCACHE_TUNE_TEST_SURELY_UNSET_VAR\"
";

    #[test]
    fn pool_keeps_order_and_bounds_each_target_by_its_deadline() {
        let ts = targets(THREE);
        let rt = super::super::live::runtime().unwrap();
        let start = Instant::now();
        let runs = rt.block_on(run(&ts, 2, Duration::ZERO, |t, p| {
            let slow = t.spec.name == "slow";
            async move {
                if slow {
                    // A server that never answers.
                    std::future::pending::<()>().await;
                }
                anyhow::Ok(p.dbname)
            }
        }));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["fast", "slow", "broken"]);
        assert_eq!(runs[0].result, Ok("a".to_string()));
        let slow = runs[1].result.as_ref().unwrap_err();
        assert!(slow.contains("no answer within 300ms"), "{slow}");
        assert!(runs[1].elapsed >= Duration::from_millis(300));
        let broken = runs[2].result.as_ref().unwrap_err();
        assert!(
            broken.contains("PGCACHE_TUNE_TEST_SURELY_UNSET_VAR is not set"),
            "{broken}"
        );
    }

    #[test]
    fn pool_runs_at_most_jobs_at_once() {
        let text = (0..6)
            .map(|i| format!("[[target]]\nname = \"t{i}\"\nconnection = \"dbname=d{i}\"\n"))
            .collect::<String>();
        let ts = targets(&text);
        let rt = super::super::live::runtime().unwrap();
        let running = std::cell::Cell::new(0usize);
        let peak = std::cell::Cell::new(0usize);
        let runs = rt.block_on(run(&ts, 2, Duration::ZERO, |_, _| {
            let (running, peak) = (&running, &peak);
            async move {
                running.set(running.get() + 1);
                peak.set(peak.get().max(running.get()));
                tokio::time::sleep(Duration::from_millis(20)).await;
                running.set(running.get() - 1);
                anyhow::Ok(())
            }
        }));
        assert_eq!(runs.len(), 6);
        assert!(runs.iter().all(TargetRun::up));
        assert_eq!(peak.get(), 2);
        assert_eq!(default_jobs(0), 1);
        assert_eq!(default_jobs(3), 3);
        assert_eq!(default_jobs(100), DEFAULT_MAX_JOBS);
    }

    #[test]
    fn inline_passwords_are_refused_with_the_line() {
        for conn in [
            "postgresql://app:hunter2@db/app",
            "host=db password=hunter2 dbname=app",
        ] {
            let text = format!("[[target]]\nname = \"a\"\n\nconnection = \"{conn}\"\n");
            let inv = parse(&text, "t.toml").unwrap();
            let e = refuse_inline_password(&inv.targets[0], "t.toml").unwrap_err();
            let msg = format!("{e:#}");
            assert!(msg.starts_with("t.toml:4: target.connection: "), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
            assert_eq!(exit::classify(&e), exit::Exit::Usage);
        }
        let inv = parse(
            "[[target]]\nname = \"a\"\nconnection = \"postgresql://app@db/app\"\n",
            "t.toml",
        )
        .unwrap();
        refuse_inline_password(&inv.targets[0], "t.toml").unwrap();
    }

    #[test]
    fn password_file_supplies_the_first_line_and_timeouts_apply() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
        let inv = parse(
            "[[target]]\nname = \"a\"\nconnection = \"host=db dbname=x\"\npassword_file = \"pw\"\nconnect_timeout = \"2s\"\nstatement_timeout = \"1s\"\n",
            "t.toml",
        )
        .unwrap();
        let p = resolve(&inv.targets[0], &|_| None, None, dir.path()).unwrap();
        assert_eq!(p.password.as_deref(), Some("s3cret"));
        assert_eq!(p.connect_timeout, Some(Duration::from_secs(2)));
        assert_eq!(p.statement_timeout, Duration::from_secs(1));
        assert_eq!(p.dbname, "x");
        let inv = parse(
            "[[target]]\nname = \"a\"\nconnection = \"host=db\"\npassword_file = \"missing\"\n",
            "t.toml",
        )
        .unwrap();
        let e = resolve(&inv.targets[0], &|_| None, None, dir.path()).unwrap_err();
        assert!(e.contains("cannot read it"), "{e}");
    }
}
