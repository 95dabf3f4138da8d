//! Which PostgreSQL major this machine runs, for `recommend` without `--pg-version`.
//!
//! A snippet written for the wrong major can stop the server from starting (`io_workers`
//! exists only from 18), so `recommend` targets the local installation when it finds exactly
//! one, and otherwise falls back to a version-neutral snippet. The evidence, strongest first: a
//! data directory's `PG_VERSION` (what the cluster was created with), the `postgres` binary on
//! PATH, the server beside the `pg_config` on PATH (`pg_config --bindir`; a bare libpq
//! `pg_config`, as Debian's libpq-dev ships, names no server and is ignored), and Debian's
//! `/usr/lib/postgresql/MAJOR/bin`. The build is asked too: `postgres -C wal_compression -c
//! wal_compression=lz4` fails on a build without lz4, which is exactly what the snippet's line
//! would do. PATH and the search root are parameters: the caller reads the environment, and
//! tests simulate "only major N installed" or "nothing installed".

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Debian's (and Ubuntu's) root of per-major server installations.
pub const DEFAULT_INSTALL_ROOT: &str = "/usr/lib/postgresql";

/// A PostgreSQL server installation found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    /// The major version (13, 18).
    pub major: u32,
    /// The directory holding `postgres`, when known (not for a bare data directory).
    pub bin_dir: Option<PathBuf>,
    /// Where the major came from, in words for the header.
    pub source: String,
}

/// What the search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection {
    /// Exactly one major.
    Found(Installation),
    /// Several majors and nothing to choose between them; each with where it was seen.
    Ambiguous(Vec<Installation>),
    /// No installation; the string says where we looked.
    NotFound(String),
}

/// The major a data directory was created with, from its `PG_VERSION` file. An unreadable
/// file is an I/O error (exit 66), one without a version a data error (65); both name it.
pub fn data_dir_major(dir: &Path) -> anyhow::Result<u32> {
    let file = dir.join("PG_VERSION");
    let text = fs::read_to_string(&file).map_err(|e| {
        crate::exit::io(format!(
            "cannot read {}: {} (is it a PostgreSQL data directory?)",
            file.display(),
            crate::exit::io_reason(&e)
        ))
    })?;
    parse_major(&text).ok_or_else(|| {
        crate::exit::data(format!(
            "{} holds {:?}, not a PostgreSQL major version",
            file.display(),
            text.trim()
        ))
    })
}

/// The major of a version string: `15.18`, `postgres (PostgreSQL) 15.18`, `PostgreSQL
/// 18beta1 (Debian …)`, or a bare `PG_VERSION` such as `13`. Pre-10 `9.6` gives 9.
pub fn parse_major(text: &str) -> Option<u32> {
    let word = text
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let digits: String = word.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Searches PATH (`postgres`, then the server beside `pg_config`) and then `install_root`
/// (`MAJOR/bin/postgres`) for a server installation.
pub fn detect(path: Option<&OsStr>, install_root: &Path) -> Detection {
    let dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    if let Some(postgres) = first_in(&dirs, "postgres")
        && let Some(found) = installation(&postgres, "postgres on PATH")
    {
        return Detection::Found(found);
    }
    if let Some(pg_config) = first_in(&dirs, "pg_config")
        && let Some(bin_dir) = output_of(&pg_config, &["--bindir"])
        && let Some(found) = installation(
            &PathBuf::from(bin_dir.trim()).join("postgres"),
            "server of the pg_config on PATH",
        )
    {
        return Detection::Found(found);
    }
    let mut found: Vec<Installation> = fs::read_dir(install_root)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin/postgres"))
                .filter(|p| p.is_file())
                .filter_map(|p| installation(&p, "installed"))
                .collect()
        })
        .unwrap_or_default();
    found.sort_by_key(|i| i.major);
    found.dedup_by_key(|i| i.major);
    match found.len() {
        0 => Detection::NotFound(format!(
            "no postgres or pg_config on PATH, nothing in {}/*/bin",
            install_root.display()
        )),
        1 => Detection::Found(found.remove(0)),
        _ => Detection::Ambiguous(found),
    }
}

/// Whether the server binaries in `bin_dir` were built with lz4: from the `pg_config` of the
/// same installation when there is one (`--configure` lists `--with-lz4`; a few ms), else by
/// `postgres -C`, which loads a configuration, so an lz4 value fails exactly where the
/// snippet's line would (tens of ms). `None` when neither can run.
pub fn build_has_lz4(bin_dir: &Path) -> Option<bool> {
    let pg_config = bin_dir.join("pg_config");
    if pg_config.is_file()
        && let Some(configure) = output_of(&pg_config, &["--configure"])
    {
        return Some(configure.contains("'--with-lz4'"));
    }
    postgres_accepts_lz4(bin_dir)
}

/// `postgres -C shared_memory_size_in_huge_pages -D data_dir -c huge_pages=try -c NAME=VALUE…`:
/// the huge pages the cluster in `data_dir` needs with these settings, as the server itself
/// computes it (PostgreSQL 15 and later, stopped cluster). Run as the data directory's owner
/// when we are root (`runuser`), since the server checks that it owns its data. `Err` is the
/// server's one-line reason (a running cluster, a refused value, no permission).
pub fn shared_memory_huge_pages(
    bin_dir: &Path,
    data_dir: &Path,
    settings: &[(String, String)],
) -> Result<u64, String> {
    if data_dir.join("postmaster.pid").exists() {
        return Err(format!(
            "the cluster in {} is running, and postgres -C computes this only on a stopped one",
            data_dir.display()
        ));
    }
    let postgres = bin_dir.join("postgres");
    let mut cmd = match run_as_owner(data_dir) {
        Some(user) => {
            // By path as well: cron and service managers may run us with a PATH without sbin.
            let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
                .into_iter()
                .find(|p| Path::new(p).is_file())
                .unwrap_or("runuser");
            let mut c = Command::new(runuser);
            c.args(["-u", &user, "--"]).arg(&postgres);
            c
        }
        None => Command::new(&postgres),
    };
    // huge_pages = try: from 17 the server reports -1 when huge_pages is off, and the count
    // is what the reservation must hold whenever huge pages are used.
    cmd.args(["-C", "shared_memory_size_in_huge_pages", "-D"])
        .arg(data_dir)
        .args(["-c", "huge_pages=try"]);
    for (name, value) in settings {
        cmd.arg("-c").arg(format!("{name}={value}"));
    }
    // The server user may not be allowed into our working directory.
    let out = cmd
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", postgres.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("failed");
        // Without the log line prefix (time, pid) a configuration may add.
        let reason = ["FATAL:", "ERROR:"]
            .iter()
            .find_map(|level| first.split_once(level).map(|(_, m)| m))
            .unwrap_or(first);
        return Err(reason.trim().to_string());
    }
    match stdout.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n.unsigned_abs()),
        _ => Err(format!(
            "the server reported {:?} (no huge page support)",
            stdout.trim()
        )),
    }
}

/// The owner of `data_dir` to run the server as, when we are root and it is someone else.
#[cfg(unix)]
fn run_as_owner(data_dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let euid = fs::metadata("/proc/self").ok().map(|m| m.uid())?;
    let owner = fs::metadata(data_dir).ok()?.uid();
    if euid != 0 || owner == 0 {
        return None;
    }
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    // The same lookup libpq's default user name takes.
    super::os::passwd_name(&passwd, owner)
}

#[cfg(not(unix))]
fn run_as_owner(_data_dir: &Path) -> Option<String> {
    None
}

/// `postgres -C wal_compression -c wal_compression=lz4` against an empty configuration.
fn postgres_accepts_lz4(bin_dir: &Path) -> Option<bool> {
    // -C needs a configuration file; an empty one in a private directory is enough. -C as the
    // first argument also skips the server's refusal to run as root.
    let dir = scratch_dir()?;
    let result = fs::write(dir.join("postgresql.conf"), "")
        .ok()
        .and_then(|()| {
            Command::new(bin_dir.join("postgres"))
                .args(["-C", "wal_compression", "-c", "wal_compression=lz4", "-D"])
                .arg(&dir)
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()
        });
    let _ = fs::remove_dir_all(&dir);
    let out = result?;
    Some(out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "lz4")
}

/// A fresh directory under the temp dir, for `postgres -C`.
fn scratch_dir() -> Option<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir =
        std::env::temp_dir().join(format!("pgcache-tune-build-{}-{nanos}", std::process::id()));
    fs::create_dir(&dir).ok().map(|()| dir)
}

/// The first `dirs/name` that is a file.
fn first_in(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// stdout of `program args`, when it runs and succeeds.
fn output_of(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The installation whose server binary is `postgres`, by asking it for its version: the
/// `pg_config` beside the real binary answers for the same build in a third of the time
/// (the server binary loads many libraries), else the server itself.
fn installation(postgres: &Path, how: &str) -> Option<Installation> {
    if !postgres.is_file() {
        return None;
    }
    // /usr/local/bin/postgres is often a link into the real installation; name that.
    let real = fs::canonicalize(postgres).unwrap_or_else(|_| postgres.to_path_buf());
    let bin_dir = real.parent().map(Path::to_path_buf);
    let beside = bin_dir.as_ref().map(|d| d.join("pg_config"));
    let version = beside
        .filter(|p| p.is_file())
        .and_then(|p| output_of(&p, &["--version"]))
        .or_else(|| output_of(postgres, &["--version"]))?;
    let version = version.lines().next().unwrap_or_default();
    let major = parse_major(version)?;
    // "postgres (PostgreSQL) 15.18 (Debian …)" → "15.18 (Debian …)".
    let number = version
        .find(|c: char| c.is_ascii_digit())
        .map_or(version.trim(), |i| version[i..].trim());
    Some(Installation {
        major,
        source: format!("{how}: {} {number}", postgres.display()),
        bin_dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors_from_version_strings() {
        assert_eq!(parse_major("postgres (PostgreSQL) 15.18\n"), Some(15));
        assert_eq!(
            parse_major("PostgreSQL 18beta1 (Debian 18~beta1-1)"),
            Some(18)
        );
        assert_eq!(parse_major("13\n"), Some(13));
        assert_eq!(parse_major("9.6"), Some(9));
        assert_eq!(parse_major("garbage"), None);
        assert_eq!(parse_major(""), None);
    }

    #[test]
    fn data_dir_major_reads_pg_version_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = data_dir_major(dir.path()).unwrap_err();
        assert_eq!(crate::exit::classify(&err), crate::exit::Exit::Io);
        let text = err.to_string();
        assert!(
            text.contains("PG_VERSION") && text.contains("data directory"),
            "{text}"
        );
        fs::write(dir.path().join("PG_VERSION"), "16\n").unwrap();
        assert_eq!(data_dir_major(dir.path()).unwrap(), 16);
        fs::write(dir.path().join("PG_VERSION"), "x\n").unwrap();
        let err = data_dir_major(dir.path()).unwrap_err();
        assert_eq!(crate::exit::classify(&err), crate::exit::Exit::Data);
        assert!(err.to_string().contains("\"x\""), "{err}");
    }

    /// A fake `postgres` that prints a version, like the real one's `--version`.
    #[cfg(unix)]
    fn fake_server(bin: &Path, version: &str) {
        fs::create_dir_all(bin).unwrap();
        write_script(
            &bin.join("postgres"),
            &format!("echo 'postgres (PostgreSQL) {version}'"),
        );
    }

    /// Writes an executable shell script and waits until it can be executed. Another test
    /// thread that forks while the file is open for writing holds that descriptor until its
    /// child execs, and meanwhile exec of the script fails with ETXTBSY ("text file busy"):
    /// a race of multi-threaded test runners, not of the code under test.
    fn write_script(file: &Path, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        fs::write(file, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(file, fs::Permissions::from_mode(0o755)).unwrap();
        const ETXTBSY: i32 = 26;
        for _ in 0..500 {
            match std::process::Command::new(file)
                .arg("--version")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
            {
                Err(e) if e.raw_os_error() == Some(ETXTBSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                _ => return,
            }
        }
        panic!("{} stayed busy", file.display());
    }

    #[cfg(unix)]
    #[test]
    fn huge_pages_from_the_server_or_its_one_line_reason() {
        let bin = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let server = |script: &str| {
            write_script(&bin.path().join("postgres"), script);
            let settings = [("shared_buffers".to_string(), "4GB".to_string())];
            shared_memory_huge_pages(bin.path(), data.path(), &settings)
        };
        // The settings reach the server as -c NAME=VALUE, after huge_pages=try.
        assert_eq!(
            server(
                r#"case "$*" in *"-c huge_pages=try -c shared_buffers=4GB"*) echo 2107;; *) echo 1;; esac"#
            ),
            Ok(2107)
        );
        assert_eq!(
            server(
                "echo '2026-11-30 10:00:00 UTC [42] FATAL:  invalid value for parameter \"x\"' >&2; exit 1"
            ),
            Err("invalid value for parameter \"x\"".to_string())
        );
        assert!(
            server("echo -1")
                .unwrap_err()
                .contains("no huge page support")
        );
        fs::write(data.path().join("postmaster.pid"), "1\n").unwrap();
        assert!(server("echo 5").unwrap_err().contains("is running"));
    }

    #[cfg(unix)]
    #[test]
    fn lz4_from_pg_config_of_the_same_installation() {
        let bin = tempfile::tempdir().unwrap();
        assert_eq!(build_has_lz4(bin.path()), None, "nothing to ask");
        let pg_config = bin.path().join("pg_config");
        for (configure, lz4) in [
            ("'--prefix=/usr' '--with-lz4' '--with-zstd'", true),
            ("'--prefix=/usr' '--with-zstd'", false),
        ] {
            write_script(&pg_config, &format!("echo \"{configure}\""));
            assert_eq!(build_has_lz4(bin.path()), Some(lz4), "{configure}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn finds_one_two_or_no_installations() {
        let root = tempfile::tempdir().unwrap();
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            detect(Some(empty.path().as_os_str()), root.path()),
            Detection::NotFound(_)
        ));
        fake_server(&root.path().join("14/bin"), "14.9");
        match detect(None, root.path()) {
            Detection::Found(i) => {
                assert_eq!(i.major, 14);
                assert_eq!(i.bin_dir, Some(root.path().join("14/bin")));
                assert!(i.source.contains("14.9"), "{}", i.source);
            }
            other => panic!("{other:?}"),
        }
        fake_server(&root.path().join("17/bin"), "17.2");
        match detect(None, root.path()) {
            Detection::Ambiguous(v) => {
                assert_eq!(v.iter().map(|i| i.major).collect::<Vec<_>>(), [14, 17]);
            }
            other => panic!("{other:?}"),
        }
        // The postgres on PATH is what the user runs: it decides over the installed ones.
        let path_bin = empty.path().join("bin");
        fake_server(&path_bin, "16.1");
        match detect(Some(path_bin.as_os_str()), root.path()) {
            Detection::Found(i) => {
                assert_eq!(i.major, 16);
                assert!(i.source.starts_with("postgres on PATH"), "{}", i.source);
            }
            other => panic!("{other:?}"),
        }
    }
}
