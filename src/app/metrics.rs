//! The shell side of the metrics formats shared by `report`, `check` and `serve`: the
//! textfile-collector file (`--textfile-dir`), written whole or not at all, and the
//! expositions of fleet runs (one target per run, with its inventory labels).

use std::path::{Path, PathBuf};

use crate::diag::Report;
use crate::exit;
use crate::fleet::TargetRun;
use crate::gate::{Reason, Verdict};
use crate::render::metrics::{self, MetricsFormat, MetricsTarget};

/// The file name node_exporter's textfile collector reads in `--textfile-dir`.
pub(super) const TEXTFILE_NAME: &str = "pgcache_tune.prom";

/// Checks `--textfile-dir` before any work, so a typo fails fast instead of after a
/// collection. Returns the file's path.
pub(super) fn textfile_path(dir: &Path) -> anyhow::Result<PathBuf> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(dir.join(TEXTFILE_NAME)),
        Ok(_) => Err(exit::usage(format!(
            "--textfile-dir {}: not a directory (give node_exporter's --collector.textfile.directory)",
            dir.display()
        ))),
        Err(e) => Err(exit::usage(format!(
            "--textfile-dir {}: {} (give an existing directory, node_exporter's --collector.textfile.directory)",
            dir.display(),
            exit::io_reason(&e)
        ))),
    }
}

/// Replaces `path` with `text` atomically: a temporary file in the same directory (named
/// `.pgcache_tune.prom.tmp-…`, which the collector ignores), fsync, rename, fsync of the
/// directory. A scrape sees the old file or the new one, never half of one.
pub(super) fn write_textfile(path: &Path, text: &str) -> anyhow::Result<()> {
    crate::collect::replace_atomically(path, text.as_bytes()).map_err(|e| {
        exit::io(format!(
            "--textfile-dir: cannot write {}: {}",
            path.display(),
            exit::io_reason(&e)
        ))
    })
}

/// The exposition of fleet runs of `report` (`report --targets`, `serve`): one target per
/// run, named by a `target` label when `named` (in `serve` with one server it is not).
pub(super) fn report_runs(
    runs: &[TargetRun<Report>],
    named: bool,
    format: MetricsFormat,
) -> String {
    let labels: Vec<Vec<(String, String)>> = runs.iter().map(labels_of).collect();
    let targets: Vec<MetricsTarget> = runs
        .iter()
        .zip(&labels)
        .map(|(r, l)| MetricsTarget {
            target: named.then_some(r.name.as_str()),
            labels: l,
            up: r.up(),
            duration: r.elapsed,
            report: r.result.as_ref().ok(),
            verdict: None,
        })
        .collect();
    metrics::render(&targets, format)
}

/// The exposition of `check --targets`: a target that could not be read is `up 0` and
/// UNKNOWN, as a single-server check that cannot connect.
pub(super) fn check_runs(runs: &[TargetRun<Verdict>], format: MetricsFormat) -> String {
    let labels: Vec<Vec<(String, String)>> = runs.iter().map(labels_of).collect();
    let down: Vec<Option<Verdict>> = runs
        .iter()
        .map(|r| {
            r.result.as_ref().err().map(|message| {
                Verdict::unknown(
                    Reason::Failed {
                        message: message.clone(),
                    },
                    None,
                )
            })
        })
        .collect();
    let targets: Vec<MetricsTarget> = runs
        .iter()
        .zip(&labels)
        .zip(&down)
        .map(|((r, l), d)| MetricsTarget {
            target: Some(r.name.as_str()),
            labels: l,
            up: r.up(),
            duration: r.elapsed,
            report: None,
            verdict: r.result.as_ref().ok().or(d.as_ref()),
        })
        .collect();
    metrics::render(&targets, format)
}

fn labels_of<T>(r: &TargetRun<T>) -> Vec<(String, String)> {
    r.labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `--textfile-dir` of a fleet run: checked first, written after the runs.
pub(super) fn fleet_textfile(dir: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    dir.map(textfile_path).transpose()
}
