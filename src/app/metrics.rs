//! The shell side of the metrics formats shared by `report`, `check` and `serve`: the
//! textfile-collector file (`--textfile-dir`), written whole or not at all.

use std::path::{Path, PathBuf};

use crate::exit;

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
