//! `recommend` and `probe`: the offline half of the tool, plus `recommend --from`, which asks
//! a server for the inputs it knows better than we do.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::inputs::{host_context, ram_and_cpus};
use super::{Outcome, live};
use crate::cli::{
    HostOverrides, ProbeArgs, RecommendArgs, RecommendFormat, StorageArg, TableFormat,
};
use crate::collect::{self, CollectOptions};
use crate::conninfo::{self, ConnectionArgs};
use crate::diag;
use crate::exit;
use crate::host::pg;
use crate::render::recommend::{Provenance, Template};
use crate::tune::{self, BuildCaps, DataSize, Os, Profile, Storage, TuneInput};
use crate::units::KB_BYTES;

pub(super) fn recommend(args: &RecommendArgs) -> anyhow::Result<Outcome> {
    if args.template.is_some() && args.format != RecommendFormat::Conf {
        return Err(exit::usage(
            "--template applies to --format conf only; drop it or use --format conf",
        ));
    }
    // Read the template before any work so a bad path fails fast.
    let template = args.template.as_deref().map(read_template).transpose()?;
    // A server on this machine (socket or loopback) runs on the kernel we can read.
    let (input, prov, target, local_server) = match &args.from {
        Some(from) => {
            let (input, prov, local) = from_server(args, from)?;
            (input, prov, None, local)
        }
        None => {
            let (input, prov, target) = offline(args)?;
            (input, prov, target, false)
        }
    };
    let mut recs = match &target {
        Some(t) if t.major.is_none() => tune::recommend_any_version(&input),
        _ => tune::recommend(&input),
    };
    let mut neutral_note = None;
    if let Some(t) = &target {
        neutral_note = t.neutral_note(&recs);
        recs.warnings.extend(neutral_note.iter().cloned());
        recs.warnings.extend(t.build_note(&recs));
    }
    let sysctl = args.format == RecommendFormat::Sysctl;
    let linux_here = Os::this_host() == Os::Linux && recs.input.os == Os::Linux;
    if sysctl && !linux_here {
        return Err(exit::usage(
            "--format sysctl is for a Linux host and a Linux target; drop --os or use --format conf",
        ));
    }
    // The kernel advice describes this machine, so the snippet gets it when it is for this
    // machine: RAM probed here, or a local data directory. --format sysctl asks for it.
    let shmem = match &target {
        Some(t) if sysctl || args.ram.is_none() || args.data_dir.is_some() => {
            Some(t.shared_memory(&recs, args.data_dir.as_deref()))
        }
        None if local_server && (sysctl || args.ram.is_none()) => {
            Some(tune::host_advice::SharedMemory::Estimated {
                why: "--from: the server is running, and postgres -C computes it only on a stopped cluster".to_string(),
            })
        }
        _ => None,
    };
    if let Some(shmem) = shmem
        && linux_here
    {
        recs.host = tune::host_advice::advise(&recs, &crate::host::kernel::read(), &shmem);
    }
    let name = args
        .template
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let template = template
        .as_deref()
        .map(|text| Template { name: &name, text });
    let text = match args.format {
        // The message names the file and line: `t1.j2:1: undefined variable input.ram_bytes`.
        RecommendFormat::Conf => {
            crate::render::recommend::conf(&recs, &prov, template).map_err(exit::data)?
        }
        RecommendFormat::Sql => crate::render::recommend::sql(&recs, &prov),
        RecommendFormat::Json => crate::render::recommend::json(&recs, &prov),
        RecommendFormat::Sysctl => crate::render::recommend::sysctl(&recs, &prov),
    };
    // A snippet narrowed for want of a version is news the user must act on, so it goes to
    // stderr as well; the build note describes this machine's normal case and stays in the
    // header.
    if let Some(note) = neutral_note {
        eprintln!("warning: {note}");
    }
    Ok(Outcome::ok(text))
}

/// The offline target: the major (None: version-neutral), where it came from, and the build.
struct Target {
    major: Option<u32>,
    /// For the header's PostgreSQL line.
    source: String,
    /// Why no major was chosen, for the version-neutral warning.
    why_neutral: String,
    build: BuildCaps,
    /// The installation whose build `build` describes, when it is known.
    build_from: Option<String>,
    /// The server binaries of the target major on this machine, when found.
    bin_dir: Option<PathBuf>,
}

impl Target {
    /// How much shared memory the recommendation takes in huge pages: the server computes it
    /// (`postgres -C`, PostgreSQL 15+, with the data directory and its installation), else
    /// the estimate, with the reason. Texts go into comments, so they are sanitized.
    fn shared_memory(
        &self,
        recs: &tune::Recommendations,
        data_dir: Option<&Path>,
    ) -> tune::host_advice::SharedMemory {
        use tune::host_advice::SharedMemory;
        let clean = |t: &str| crate::render::sanitize::one_line(t);
        let why = match (self.major, data_dir, &self.bin_dir) {
            // Nothing to reserve, so nothing to ask the server.
            _ if !tune::host_advice::wants_huge_pages(recs) => "huge pages off".to_string(),
            (None, _, _) => "no PostgreSQL major targeted".to_string(),
            (Some(m), _, _) if m < 15 => {
                format!("PostgreSQL {m} cannot compute shared_memory_size_in_huge_pages (15+)")
            }
            (Some(_), None, _) => "no --data-dir to ask the server with".to_string(),
            (Some(m), Some(_), None) => format!("no local installation of PostgreSQL {m}"),
            (Some(_), Some(dir), Some(bin)) => {
                let settings: Vec<(String, String)> = recs
                    .settings
                    .iter()
                    .map(|s| (s.name.to_string(), s.value.to_conf()))
                    .collect();
                match pg::shared_memory_huge_pages(bin, dir, &settings) {
                    Ok(huge_pages) => {
                        return SharedMemory::Computed {
                            huge_pages,
                            how: clean(&format!(
                                "{} -C shared_memory_size_in_huge_pages -D {} with these settings",
                                bin.join("postgres").display(),
                                dir.display()
                            )),
                        };
                    }
                    Err(reason) => format!("postgres -C failed: {reason}"),
                }
            }
        };
        SharedMemory::Estimated { why: clean(&why) }
    }

    /// For a version-neutral answer: why, what was left out, and the flags that target a major.
    fn neutral_note(&self, recs: &tune::Recommendations) -> Option<String> {
        if recs.version_neutral {
            let what = if recs.left_out.is_empty() {
                "nothing version-specific applies to these inputs".to_string()
            } else {
                format!(
                    "left out {}",
                    recs.left_out
                        .iter()
                        .map(tune::LeftOut::describe)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            return Some(format!(
                "version-neutral snippet ({}): only settings every PostgreSQL {}–{} accepts; {what}; pass --pg-version MAJOR or --data-dir DIR to target one major",
                self.why_neutral,
                tune::MIN_PG_VERSION,
                tune::MAX_PG_VERSION
            ));
        }
        None
    }

    /// The build requirement of a build-dependent value this machine's installation allowed.
    fn build_note(&self, recs: &tune::Recommendations) -> Option<String> {
        let from = self.build_from.as_ref()?;
        recs.get("wal_compression").map(|_| {
            format!(
                "wal_compression = lz4 follows the build of {from}; a server built without lz4 (--with-lz4) refuses to start with it"
            )
        })
    }
}

/// Which major to target offline: `--pg-version`, else `--data-dir`'s PG_VERSION, else the one
/// installation found on this machine, else none (version-neutral). The build is the local
/// installation's when its major is the target's; with `--pg-version` the snippet may be for
/// another machine, so the build stays unknown.
fn offline_target(args: &RecommendArgs) -> anyhow::Result<Target> {
    let mut target = Target {
        major: args.pg_version,
        source: "given".to_string(),
        why_neutral: String::new(),
        build: BuildCaps::default(),
        build_from: None,
        bin_dir: None,
    };
    if args.pg_version.is_some() {
        return Ok(target);
    }
    let root = std::env::var_os(INSTALL_ROOT_ENV)
        .map_or_else(|| PathBuf::from(pg::DEFAULT_INSTALL_ROOT), PathBuf::from);
    let found = pg::detect(std::env::var_os("PATH").as_deref(), &root);
    let supported = tune::MIN_PG_VERSION..=tune::MAX_PG_VERSION;
    let install = match (&args.data_dir, found) {
        (Some(dir), found) => {
            let major = pg::data_dir_major(dir).context("--data-dir")?;
            if !supported.contains(&major) {
                return Err(exit::data(format!(
                    "--data-dir {}: PostgreSQL {major} is not supported; pgcache-tune tunes 13 to 18",
                    dir.display()
                )));
            }
            target.major = Some(major);
            target.source = format!("from {}", dir.join("PG_VERSION").display());
            match found {
                pg::Detection::Found(i) if i.major == major => Some(i),
                pg::Detection::Ambiguous(all) => all.into_iter().find(|i| i.major == major),
                _ => None,
            }
        }
        (None, pg::Detection::Found(i)) if supported.contains(&i.major) => {
            target.major = Some(i.major);
            target.source = format!("detected, {}", i.source);
            Some(i)
        }
        (None, pg::Detection::Found(i)) => {
            target.why_neutral = format!(
                "found PostgreSQL {} ({}), which is outside 13–18",
                i.major, i.source
            );
            None
        }
        (None, pg::Detection::Ambiguous(all)) => {
            target.why_neutral = format!(
                "several majors installed: {}",
                all.iter()
                    .map(|i| i.source.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            None
        }
        (None, pg::Detection::NotFound(looked)) => {
            target.why_neutral = format!("no PostgreSQL installation found: {looked}");
            None
        }
    };
    if target.major.is_none() {
        target.source =
            "version-neutral, nothing detected to target (see the warnings)".to_string();
    }
    target.bin_dir = install.as_ref().and_then(|i| i.bin_dir.clone());
    if let Some(bin_dir) = install.as_ref().and_then(|i| i.bin_dir.as_deref())
        && target.major.is_some_and(|v| v >= 15)
    {
        target.build.lz4 = pg::build_has_lz4(bin_dir);
        if target.build.lz4 == Some(true) {
            target.build_from = Some(format!(
                "the PostgreSQL installation in {}",
                bin_dir.display()
            ));
        }
    }
    // Paths and version strings end up in conf comments: a newline in one would start an
    // uncommented line, an escape sequence would reach the terminal.
    for text in [&mut target.source, &mut target.why_neutral] {
        *text = crate::render::sanitize::sanitize(text).into_owned();
    }
    if let Some(from) = &mut target.build_from {
        *from = crate::render::sanitize::sanitize(from).into_owned();
    }
    Ok(target)
}

/// Hidden override of [`pg::DEFAULT_INSTALL_ROOT`], so tests can simulate "only major N
/// installed" (PATH = its bin directory, this = an empty directory) or "nothing installed".
const INSTALL_ROOT_ENV: &str = "PGCACHE_TUNE_INSTALL_ROOT";

/// Inputs from the flags and, for what they leave out, this host's probe and installation.
fn offline(args: &RecommendArgs) -> anyhow::Result<(TuneInput, Provenance, Option<Target>)> {
    let target = offline_target(args)?;
    let host = ram_and_cpus(args.ram, args.cpus)?;
    let (ram_bytes, ram_source) = (host.ram_bytes, host.ram_source);
    let ram_kb = ram_bytes / KB_BYTES;
    if ram_kb < tune::MIN_RAM_KB {
        return Err(exit::usage(format!(
            "this host offers {} of RAM, too little to tune (at least 64MB); pass --ram",
            crate::units::format_bytes_human(ram_bytes)
        )));
    }
    let ram_kb = ram_kb.min(tune::MAX_RAM_KB);
    let (cpus, cpus_source) = (host.cpus, host.cpus_source);
    let os = args.os.map_or_else(Os::this_host, Os::from);
    let input = TuneInput {
        ram_kb,
        cpus,
        connections: args.connections,
        profile: args.profile.into(),
        storage: args.storage.map_or(Storage::Ssd, Storage::from),
        // A version-neutral answer ignores it (tune::recommend_any_version).
        pg_version: target.major.unwrap_or(tune::MIN_PG_VERSION),
        os,
        data_size: DataSize::Mid,
        build: target.build,
    };
    let prov = Provenance {
        ram: ram_source,
        cpus: cpus_source,
        connections: match args.connections {
            Some(_) => "given".to_string(),
            None => format!("{} profile default", Profile::from(args.profile).as_str()),
        },
        pg_version: target.source.clone(),
        storage: given_or(args.storage.is_some(), "default"),
        os: given_or(args.os.is_some(), "this host"),
        data_size: "unknown offline (connect with report to measure it)".to_string(),
        server: None,
    };
    Ok((input, prov, Some(target)))
}

/// Inputs from the server (major version, build options, max_connections, data size) and the
/// host it runs on: probed when the server is local, else the --ram/--cpus flags, required.
fn from_server(args: &RecommendArgs, from: &str) -> anyhow::Result<(TuneInput, Provenance, bool)> {
    if args.pg_version.is_some() || args.data_dir.is_some() {
        return Err(exit::usage(
            "--pg-version and --data-dir cannot be combined with --from: the server's own major version is used",
        ));
    }
    let conn = ConnectionArgs {
        connection: Some(from.to_string()),
        statement_timeout: args.statement_timeout,
        ..ConnectionArgs::default()
    };
    let params = live::resolve(&conn)?;
    if args.format == RecommendFormat::Sysctl && !params.is_local() {
        return Err(exit::usage(format!(
            "--format sysctl describes this host's kernel, and {} is not on this machine; run it on the server's host",
            params.redacted()
        )));
    }
    let flags = HostOverrides {
        ram: args.ram,
        cpus: args.cpus,
        profile: args.profile,
        storage: args.storage.unwrap_or(StorageArg::Ssd),
    };
    let mut host = host_context(&flags, Some(&params))?;
    if host.ram_bytes.is_none() || host.cpus.is_none() {
        return Err(exit::usage(format!(
            "--from {}: the server is not on this machine, so its RAM and CPUs are not visible from here; pass --ram and --cpus",
            params.redacted()
        )));
    }
    let rt = live::runtime()?;
    let snap = rt.block_on(async {
        let client = conninfo::connect(&params).await?;
        let opts = CollectOptions {
            tables: false,
            indexes: false,
            settings: true,
        };
        collect::collect(&client, &opts).await
    })?;
    // The server's OS, not this client's: its settings tell (see server_os).
    let (os, os_source) = match args.os {
        Some(os) => (os.into(), "given".to_string()),
        None => server_os(&snap),
    };
    host.os = os;
    let major = snap.major();
    if !(tune::MIN_PG_VERSION..=tune::MAX_PG_VERSION).contains(&major) {
        return Err(exit::server(format!(
            "{}: PostgreSQL {major} is not supported; pgcache-tune tunes 13 to 18",
            params.redacted()
        )));
    }
    let mut input = diag::tune_input_from_server(&snap, &host).ok_or_else(|| {
        exit::usage("the server's host has too little RAM to tune (at least 64MB); pass --ram")
    })?;
    if args.connections.is_some() {
        input.connections = args.connections;
    }
    let data = snap.server.total_data_bytes.map_or_else(
        || "unknown (no database size visible to this role)".to_string(),
        |b| {
            format!(
                "{}, from server: {} of data",
                match input.data_size {
                    DataSize::Less => "less than RAM",
                    DataSize::Greater => "more than RAM",
                    DataSize::Mid => "about RAM",
                },
                crate::units::format_bytes_human(u64::try_from(b).unwrap_or(0))
            )
        },
    );
    let prov = Provenance {
        ram: host.source.clone(),
        cpus: if args.cpus.is_some() {
            "given".to_string()
        } else {
            "probed (the server is local)".to_string()
        },
        connections: if args.connections.is_some() {
            "given".to_string()
        } else {
            "from server (max_connections)".to_string()
        },
        pg_version: format!(
            "from server ({})",
            crate::render::sanitize::sanitize(&snap.server.version)
        ),
        storage: given_or(args.storage.is_some(), "default"),
        os: os_source,
        data_size: data,
        server: Some(params.redacted()),
    };
    Ok((input, prov, params.is_local()))
}

/// The OS a server runs on, from what its build offers in `pg_settings`: only Windows builds
/// list `windows` for dynamic_shared_memory_type, and of the rest only macOS has F_FULLFSYNC,
/// which adds `fsync_writethrough` to wal_sync_method. Anything else is Linux or another Unix
/// with posix_fadvise, which the rules treat alike.
fn server_os(snap: &crate::facts::StatsSnapshot) -> (Os, String) {
    let lists = |name: &str, word: &str| {
        snap.setting(name)
            .and_then(|s| s.enumvals.as_ref())
            .is_some_and(|v| v.iter().any(|x| x == word))
    };
    if snap.setting("wal_sync_method").is_none() {
        return (
            Os::this_host(),
            "this host's (the server's settings were not visible); pass --os".to_string(),
        );
    }
    let (os, why) = if lists("dynamic_shared_memory_type", "windows") {
        (Os::Windows, "dynamic_shared_memory_type offers windows")
    } else if lists("wal_sync_method", "fsync_writethrough") {
        (Os::Macos, "wal_sync_method offers fsync_writethrough")
    } else {
        (Os::Linux, "no Windows or macOS-only setting values")
    };
    (os, format!("from server ({why})"))
}

fn given_or(given: bool, otherwise: &str) -> String {
    if given { "given" } else { otherwise }.to_string()
}

fn read_template(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        exit::io(format!(
            "--template {}: cannot read it: {}",
            path.display(),
            crate::exit::io_reason(&e)
        ))
    })
}

pub(super) fn probe(args: &ProbeArgs) -> anyhow::Result<Outcome> {
    if let Some(dir) = &args.data_dir
        && !dir.exists()
    {
        return Err(exit::usage(format!(
            "--data-dir {}: no such file or directory",
            dir.display()
        )));
    }
    let facts = crate::host::probe(args.data_dir.as_deref()).context("probing this host")?;
    let text = match args.format {
        TableFormat::Table => {
            crate::render::probe::table(&facts, super::terminal::Terminal::detect().width) + "\n"
        }
        TableFormat::Json => {
            let mut t = serde_json::to_string_pretty(&facts).context("encoding JSON")?;
            t.push('\n');
            t
        }
    };
    Ok(Outcome::ok(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::testdata;

    fn recommend_args(extra: &[&str]) -> RecommendArgs {
        use clap::Parser;
        let argv = [
            &["pgcache-tune", "recommend", "--ram", "4GB", "--cpus", "4"],
            extra,
        ]
        .concat();
        match crate::cli::Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(crate::cli::Command::Recommend(args)) => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn data_dir_errors_name_the_file_with_their_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        let err = recommend(&recommend_args(&["--data-dir", path])).unwrap_err();
        assert_eq!(exit::classify(&err), exit::Exit::Io);
        assert!(
            format!("{err:#}").starts_with("--data-dir: cannot read "),
            "{err:#}"
        );
        std::fs::write(dir.path().join("PG_VERSION"), "12\n").unwrap();
        let err = recommend(&recommend_args(&["--data-dir", path])).unwrap_err();
        assert_eq!(exit::classify(&err), exit::Exit::Data);
        assert!(
            format!("{err:#}").contains("PostgreSQL 12 is not supported"),
            "{err:#}"
        );
        std::fs::write(dir.path().join("PG_VERSION"), "16\n").unwrap();
        let out = recommend(&recommend_args(&["--data-dir", path])).unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("#   PostgreSQL: 16, from "), "{text}");
        // A hostile directory name stays inside its comment line.
        let hostile = dir.path().join("x\ny = 1\u{1b}[2J");
        std::fs::create_dir(&hostile).unwrap();
        std::fs::write(hostile.join("PG_VERSION"), "16\n").unwrap();
        let out = recommend(&recommend_args(&["--data-dir", hostile.to_str().unwrap()])).unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(!text.lines().any(|l| l.starts_with("y = 1")), "{text}");
    }

    #[test]
    fn server_os_comes_from_the_servers_settings() {
        let mut snap = testdata::snapshot();
        let set = |snap: &mut crate::facts::StatsSnapshot, name: &str, vals: &[&str]| {
            snap.settings.retain(|s| s.name != name);
            let mut s = testdata::setting(name, vals[0], None, "enum");
            s.enumvals = Some(vals.iter().map(|v| (*v).to_string()).collect());
            snap.settings.push(s);
        };
        set(
            &mut snap,
            "dynamic_shared_memory_type",
            &["posix", "sysv", "mmap"],
        );
        set(
            &mut snap,
            "wal_sync_method",
            &["fsync", "fdatasync", "open_sync", "open_datasync"],
        );
        let (os, why) = server_os(&snap);
        assert_eq!(os, Os::Linux);
        assert!(why.starts_with("from server"), "{why}");
        set(
            &mut snap,
            "wal_sync_method",
            &["fsync", "fsync_writethrough", "open_sync"],
        );
        assert_eq!(server_os(&snap).0, Os::Macos);
        set(
            &mut snap,
            "dynamic_shared_memory_type",
            &["windows", "mmap"],
        );
        assert_eq!(server_os(&snap).0, Os::Windows);
        snap.settings.clear();
        assert!(server_os(&snap).1.contains("pass --os"));
    }
}
