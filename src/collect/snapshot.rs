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
    let snap: StatsSnapshot = load_json(path)?;
    check_ranges(&snap)
        .map_err(|field| exit::data(format!("snapshot {}: {field}", path.display())))?;
    Ok(snap)
}

/// Reads any snapshot file (this one's, `redis snapshot`'s) as `T`, after checking its
/// `format` number; failures are one line naming the file.
pub fn load_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
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

/// Largest counter accepted from a file: 2⁶² blocks (32 ZiB of 8kB pages) is far beyond any
/// real server, and keeps hits + reads, and differences of two files, inside `i64`.
pub const MAX_COUNTER: i64 = 1 << 62;

/// Counters and clocks a server could have reported: counters from 0 to [`MAX_COUNTER`],
/// times not negative. A file is user input (hand-edited, damaged or crafted), and the
/// window arithmetic must not see values PostgreSQL never produces. The error names the
/// field (`databases[2] "app" blks_hit is -5`).
fn check_ranges(snap: &StatsSnapshot) -> Result<(), String> {
    fn counter(place: &str, name: &str, field: &str, v: i64) -> Result<(), String> {
        if (0..=MAX_COUNTER).contains(&v) {
            Ok(())
        } else {
            Err(format!(
                "{place} {name:?} {field} is {v}; a block counter is from 0 to {MAX_COUNTER}"
            ))
        }
    }
    fn time(field: &str, v: Option<f64>) -> Result<(), String> {
        match v {
            Some(t) if !(t.is_finite() && t >= 0.0) => Err(format!(
                "{field} is {t}; a time is seconds since 1970, 0 or more"
            )),
            _ => Ok(()),
        }
    }
    time("server.now_epoch", Some(snap.server.now_epoch))?;
    time("server.start_epoch", Some(snap.server.start_epoch))?;
    for (i, d) in snap.databases.iter().enumerate() {
        let place = format!("databases[{i}]");
        counter(&place, &d.name, "blks_hit", d.blks_hit)?;
        counter(&place, &d.name, "blks_read", d.blks_read)?;
        time(&format!("{place}.stats_reset_epoch"), d.stats_reset_epoch)?;
    }
    for (i, t) in snap.tables.iter().enumerate() {
        let place = format!("tables[{i}]");
        let name = format!("{}.{}", t.schema, t.name);
        counter(&place, &name, "heap_blks_hit", t.heap_blks_hit)?;
        counter(&place, &name, "heap_blks_read", t.heap_blks_read)?;
        for (field, v) in [
            ("idx_blks_hit", t.idx_blks_hit),
            ("idx_blks_read", t.idx_blks_read),
            ("toast_blks_hit", t.toast_blks_hit),
            ("toast_blks_read", t.toast_blks_read),
            ("tidx_blks_hit", t.tidx_blks_hit),
            ("tidx_blks_read", t.tidx_blks_read),
        ] {
            if let Some(v) = v {
                counter(&place, &name, field, v)?;
            }
        }
    }
    for (i, x) in snap.indexes.iter().enumerate() {
        let place = format!("indexes[{i}]");
        let name = format!("{}.{}", x.schema, x.name);
        counter(&place, &name, "idx_blks_hit", x.idx_blks_hit)?;
        counter(&place, &name, "idx_blks_read", x.idx_blks_read)?;
    }
    Ok(())
}

/// Writes `snap` as pretty JSON to `path`.
///
/// A regular file (or a name not taken yet) is replaced atomically: the text goes into a
/// temporary file beside it, flushed to disk, then renamed over it, so `path` holds either
/// the old or the new snapshot, whole. A symlink to a regular file is followed, so the link
/// stays and its target is replaced. Anything else that exists (a device such as
/// `/dev/null`, a FIFO, `/dev/stdout`) is written into as it is, never replaced: renaming
/// over `/dev/null` as root would break every program on the machine. The temporary file is
/// opened with `create_new`, so a symlink planted under its name cannot redirect the write.
pub fn save_snapshot<T: serde::Serialize>(path: &Path, snap: &T) -> anyhow::Result<()> {
    let shown = path.display();
    let fail =
        |e: &std::io::Error| exit::io(format!("cannot write snapshot {shown}: {}", io_reason(e)));
    let mut text = serde_json::to_vec_pretty(snap)
        .map_err(|e| exit::data(format!("cannot encode snapshot {shown}: {e}")))?;
    text.push(b'\n');

    let target = match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(exit::io(format!(
                "cannot write snapshot {shown}: it is a directory"
            )));
        }
        Ok(meta) if !meta.is_file() => {
            // A device, FIFO or terminal: write into it; it cannot be synced or renamed.
            let mut f = fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| fail(&e))?;
            return f.write_all(&text).map_err(|e| fail(&e));
        }
        Ok(_) => fs::canonicalize(path).map_err(|e| fail(&e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(fail(&e)),
    };
    replace_atomically(&target, &text).map_err(|e| fail(&e))
}

/// How many temporary names to try before giving up (each taken one is someone else's file
/// or a planted link, never ours to reuse).
const TEMP_ATTEMPTS: u32 = 100;

/// Writes `text` to a new temporary file beside `target` (never a name ending in the
/// target's extension, so a directory watcher such as node_exporter's textfile collector
/// ignores it), syncs it, renames it over `target` and syncs the directory, so the new name
/// survives a crash.
pub fn replace_atomically(target: &Path, text: &[u8]) -> std::io::Result<()> {
    let mut attempt = 0;
    let (tmp, mut f) = loop {
        let tmp = temp_path(target, attempt).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name")
        })?;
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < TEMP_ATTEMPTS => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };
    let written = f
        .write_all(text)
        .and_then(|()| f.sync_all())
        .and_then(|()| fs::rename(&tmp, target));
    if written.is_err() {
        // Best effort: the error that matters is the write's.
        let _ = fs::remove_file(&tmp);
    }
    written?;
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::File::open(dir)?.sync_all()
}

/// `dir/.name.tmp-PID-N` beside `path` (same file system, so the rename is atomic); `None`
/// when `path` has no file name (`/`, `..`).
fn temp_path(path: &Path, attempt: u32) -> Option<PathBuf> {
    let name = path.file_name()?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}-{attempt}", std::process::id()));
    Some(path.with_file_name(tmp_name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt as _;
    use std::process::Command;

    fn snap() -> StatsSnapshot {
        crate::diag::testdata::snapshot()
    }

    #[test]
    fn temp_file_sits_beside_the_target() {
        let pid = std::process::id();
        assert_eq!(
            temp_path(Path::new("/x/y/snap.json"), 0).unwrap(),
            PathBuf::from(format!("/x/y/.snap.json.tmp-{pid}-0"))
        );
        assert_eq!(
            temp_path(Path::new("snap.json"), 3).unwrap(),
            PathBuf::from(format!(".snap.json.tmp-{pid}-3"))
        );
        assert_eq!(temp_path(Path::new("/"), 0), None);
    }

    #[test]
    fn a_regular_file_is_replaced_whole_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.json");
        fs::write(&path, "old").unwrap();
        save_snapshot(&path, &snap()).unwrap();
        assert_eq!(load_snapshot(&path).unwrap(), snap());
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left: {left:?}");
    }

    #[test]
    fn a_planted_symlink_at_the_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.json");
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, temp_path(&path, 0).unwrap()).unwrap();
        save_snapshot(&path, &snap()).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(load_snapshot(&path).unwrap(), snap());
    }

    #[test]
    fn a_symlink_to_a_regular_file_keeps_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        fs::write(&real, "old").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        save_snapshot(&link, &snap()).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(load_snapshot(&real).unwrap(), snap());
    }

    /// Runs `mknod`/`mkfifo`; `false` when this user may not (not root).
    fn make(args: &[&str]) -> bool {
        Command::new(args[0])
            .args(&args[1..])
            .status()
            .is_ok_and(|s| s.success())
    }

    #[test]
    fn a_character_device_is_written_into_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("null");
        let made = make(&["mknod", dev.to_str().unwrap(), "c", "1", "3"]);
        if !made {
            let uid = Command::new("id").arg("-u").output().unwrap().stdout;
            assert_ne!(uid, b"0\n", "root could not mknod a character device");
            return;
        }
        save_snapshot(&dev, &snap()).unwrap();
        let meta = fs::symlink_metadata(&dev).unwrap();
        assert!(meta.file_type().is_char_device(), "{meta:?}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_fifo_is_written_into_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        assert!(make(&["mkfifo", fifo.to_str().unwrap()]));
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(&fifo).unwrap())
        };
        save_snapshot(&fifo, &snap()).unwrap();
        let got = reader.join().unwrap();
        let back: StatsSnapshot = serde_json::from_slice(&got).unwrap();
        assert_eq!(back, snap());
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn out_of_range_counters_are_data_errors_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.json");
        for (edit, needle) in [
            (
                (|s: &mut StatsSnapshot| s.databases[0].blks_hit = -1) as fn(&mut StatsSnapshot),
                "databases[0] \"app\" blks_hit is -1",
            ),
            (
                |s: &mut StatsSnapshot| s.tables[0].heap_blks_read = MAX_COUNTER + 1,
                "heap_blks_read is 4611686018427387905",
            ),
            (
                |s: &mut StatsSnapshot| s.server.start_epoch = -3.0,
                "server.start_epoch is -3",
            ),
        ] {
            let mut bad = snap();
            edit(&mut bad);
            save_snapshot(&path, &bad).unwrap();
            let err = load_snapshot(&path).unwrap_err();
            assert_eq!(crate::exit::classify(&err), crate::exit::Exit::Data);
            let text = format!("{err:#}");
            assert!(text.contains(needle), "{text}");
            assert_eq!(text.lines().count(), 1);
        }
        let mut edge = snap();
        edge.databases[0].blks_hit = MAX_COUNTER;
        save_snapshot(&path, &edge).unwrap();
        assert!(load_snapshot(&path).is_ok());
    }
}
