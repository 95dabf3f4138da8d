//! The offline side of the seam: a [`StatsSnapshot`] read from or written to a JSON file
//! (`--stats-from FILE`, `snapshot`, the fixtures under `fixtures/stats/`). Reading checks
//! the `format` number before the shape, so a file from a newer pgcache-tune says so instead
//! of failing on a field it does not know; every failure is one line naming the file, with
//! the exit code of its kind (unreadable file: [`Exit::Io`](crate::exit::Exit::Io),
//! malformed content: [`Exit::Data`](crate::exit::Exit::Data)). Writing goes through a
//! temporary file in the same directory and a rename, so a reader never sees half a file.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::exit::{self, io_reason};
use crate::facts::{SNAPSHOT_FORMAT, StatsSnapshot};

/// Just the `format` field; anything else is ignored so an unknown future shape still
/// parses this far.
#[derive(Deserialize)]
struct FormatOnly {
    format: Option<serde_json::Value>,
}

/// serde_json's messages without a trailing period, for joining into one line.
fn json_reason(err: &serde_json::Error) -> String {
    err.to_string().trim_end_matches('.').to_string()
}

/// Reads a snapshot written by [`save_snapshot`] (or captured as a fixture).
pub fn load_snapshot(path: &Path) -> anyhow::Result<StatsSnapshot> {
    let shown = path.display();
    let text = fs::read_to_string(path)
        .map_err(|e| exit::io(format!("cannot read snapshot {shown}: {}", io_reason(&e))))?;
    let head: FormatOnly = serde_json::from_str(&text).map_err(|e| {
        exit::data(format!(
            "snapshot {shown} is not valid JSON: {}",
            json_reason(&e)
        ))
    })?;
    match head.format {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(SNAPSHOT_FORMAT)) => {}
        Some(serde_json::Value::Number(n)) => {
            let newer = n.as_u64().is_some_and(|v| v > u64::from(SNAPSHOT_FORMAT));
            return Err(exit::data(format!(
                "snapshot {shown} has format {n}, but this pgcache-tune reads format \
                 {SNAPSHOT_FORMAT}{}",
                if newer {
                    " (it was written by a newer version)"
                } else {
                    ""
                }
            )));
        }
        Some(other) => {
            return Err(exit::data(format!(
                "snapshot {shown} has format {other}, expected the number {SNAPSHOT_FORMAT}"
            )));
        }
        None => {
            return Err(exit::data(format!(
                "snapshot {shown} has no \"format\" field; is it a pgcache-tune snapshot?"
            )));
        }
    }
    serde_json::from_str(&text).map_err(|e| {
        exit::data(format!(
            "snapshot {shown} is not a valid snapshot: {}",
            json_reason(&e)
        ))
    })
}

/// Writes `snap` as pretty JSON to `path`: into a temporary file beside it, flushed to disk,
/// then renamed over `path`, so `path` holds either the old or the new snapshot, whole.
pub fn save_snapshot(path: &Path, snap: &StatsSnapshot) -> anyhow::Result<()> {
    let shown = path.display();
    let fail =
        |e: &std::io::Error| exit::io(format!("cannot write snapshot {shown}: {}", io_reason(e)));
    let mut text = serde_json::to_vec_pretty(snap)
        .map_err(|e| exit::data(format!("cannot encode snapshot {shown}: {e}")))?;
    text.push(b'\n');

    let tmp = temp_path(path)
        .ok_or_else(|| exit::io(format!("cannot write snapshot {shown}: not a file name")))?;
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // Best effort: the error that matters is the one above.
        let _ = fs::remove_file(&tmp);
        return Err(fail(&e));
    }
    Ok(())
}

/// `dir/.name.tmp-PID` beside `path` (same file system, so the rename is atomic); `None`
/// when `path` has no file name (`/`, `..`).
fn temp_path(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    Some(path.with_file_name(tmp_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_sits_beside_the_target() {
        assert_eq!(
            temp_path(Path::new("/x/y/snap.json")).unwrap(),
            PathBuf::from(format!("/x/y/.snap.json.tmp-{}", std::process::id()))
        );
        assert_eq!(
            temp_path(Path::new("snap.json")).unwrap(),
            PathBuf::from(format!(".snap.json.tmp-{}", std::process::id()))
        );
        assert_eq!(temp_path(Path::new("/")), None);
    }
}
