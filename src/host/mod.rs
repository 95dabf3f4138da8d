//! Host facts: what this machine offers PostgreSQL — RAM and the container memory limit, usable
//! CPUs, the OS, and whether the data directory is on spinning media.
//!
//! This is the only module that reads `/proc` and `/sys`. It is the I/O shell around small pure
//! parsers ([`cgroup`], [`cpu`], [`disk`], [`os`]); [`probe_at`] takes the filesystem root so the
//! whole probe runs against a fixture tree in tests. Probing never fails on odd kernel output —
//! unknown facts become `None` or fall back to a safe default — and the one error it reports is a
//! `--data-dir` that does not exist. It reads a handful of small files and takes about a
//! millisecond; it deliberately avoids a full sysinfo refresh, which walks every process.

pub mod cgroup;
pub mod cpu;
pub mod disk;
pub mod hugepages;
pub mod kernel;
pub mod os;
pub mod pg;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::bail;
use serde::Serialize;

use crate::tune::Os;
pub use cgroup::CgroupVersion;

/// What this host offers PostgreSQL; serialized as is by `probe --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct HostFacts {
    /// Physical RAM, from `/proc/meminfo` `MemTotal`.
    pub total_ram_bytes: u64,
    /// The container (cgroup) memory limit binding this process.
    pub memory_limit: MemoryLimit,
    /// CPUs this process can keep busy: min(affinity set size, ceil(cgroup CPU quota)), at least 1.
    pub usable_cpus: u32,
    /// All online logical CPUs of the host.
    pub logical_cpus: u32,
    /// Physical cores, when known.
    pub physical_cores: Option<u32>,
    /// The cgroup CPU quota in CPUs (e.g. 1.5); `None` when unlimited.
    pub cpu_quota: Option<f64>,
    /// The operating system, as the tuning rules know it.
    pub os: Os,
    /// For people, e.g. "Debian GNU/Linux 12 (bookworm), kernel 6.1.0".
    pub os_description: String,
    /// The data directory's storage, when `--data-dir` was given.
    pub data_dir: Option<DataDirFacts>,
}

/// A container memory limit and where it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryLimit {
    /// The limit in bytes; `None` when nothing binds below physical RAM.
    pub bytes: Option<u64>,
    /// For people: the file that set the limit ("cgroup v2 memory.max at /sys/fs/cgroup/…"), or
    /// "none", possibly with the reason in parentheses.
    pub source: String,
    /// The cgroup hierarchy that holds the memory controller; `None` when none was found.
    pub cgroup_version: Option<CgroupVersion>,
}

impl MemoryLimit {
    /// No binding limit; `source` says why ("none", "none (…)").
    pub fn none(source: &str, cgroup_version: Option<CgroupVersion>) -> MemoryLimit {
        MemoryLimit {
            bytes: None,
            source: source.to_owned(),
            cgroup_version,
        }
    }
}

/// Storage facts about the data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataDirFacts {
    /// The path as given.
    pub path: PathBuf,
    /// The kernel name of the block device holding it ("sda1", "nvme0n1p2", "dm-0"); `None` on
    /// filesystems without one (overlay, tmpfs).
    pub device: Option<String>,
    /// Whether the media rotate; `None` when unknown.
    pub rotational: Option<bool>,
    /// Why the device looks like a virtual disk ("virtio_blk driver"), whose rotational flag
    /// is set by the hypervisor rather than the media; `None` when nothing suggests one.
    pub virtual_disk: Option<String>,
}

impl HostFacts {
    /// The RAM tuning uses: min(total RAM, container limit).
    pub fn tuning_ram_bytes(&self) -> u64 {
        match self.memory_limit.bytes {
            Some(limit) => limit.min(self.total_ram_bytes),
            None => self.total_ram_bytes,
        }
    }

    /// [`Self::tuning_ram_bytes`] rounded down to a multiple of 64MiB, the RAM the engine is
    /// fed when it was probed. MemTotal is a few hundred MB under the installed RAM and odd to
    /// the kilobyte, so unrounded it yields `shared_buffers = 6171024kB` where a person would
    /// write 6016MB; 64MiB keeps every 1/4, 3/4 and 1/16 share a whole number of MB.
    pub fn probed_tuning_ram_bytes(&self) -> u64 {
        const GRANULE_BYTES: u64 = 64 << 20;
        let ram = self.tuning_ram_bytes();
        if ram >= GRANULE_BYTES {
            ram / GRANULE_BYTES * GRANULE_BYTES
        } else {
            ram
        }
    }

    /// Human description for the recommend header: "cgroup limit none" or "cgroup limit 2 GiB".
    pub fn limit_description(&self) -> String {
        match self.memory_limit.bytes {
            Some(bytes) => format!("cgroup limit {}", crate::units::format_bytes_human(bytes)),
            None => "cgroup limit none".to_owned(),
        }
    }
}

/// `MemTotal` from `/proc/meminfo`, in bytes (the file says "kB" and means KiB).
pub fn parse_meminfo_total(text: &str) -> Option<u64> {
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?;
    let mut fields = value.split_whitespace();
    let kib: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") | None => kib.checked_mul(1024),
        Some(_) => None,
    }
}

/// Probes this machine. `data_dir` adds storage facts and must exist.
pub fn probe(data_dir: Option<&Path>) -> anyhow::Result<HostFacts> {
    probe_at(Path::new("/"), data_dir)
}

/// Probes the machine whose `/proc`, `/sys` and `/etc` are under `root` (tests pass a fixture
/// tree). Physical cores and the non-Linux fallbacks come from sysinfo, which reads the real host.
pub fn probe_at(root: &Path, data_dir: Option<&Path>) -> anyhow::Result<HostFacts> {
    let read = |relative: &str| fs::read_to_string(root.join(relative)).ok();
    let sys = root.join("sys");

    let total_ram_bytes = match read("proc/meminfo")
        .as_deref()
        .and_then(parse_meminfo_total)
    {
        Some(bytes) => bytes,
        None => sysinfo_total_ram(),
    };
    if total_ram_bytes == 0 {
        bail!("cannot determine physical RAM (no /proc/meminfo and sysinfo reports none)");
    }

    let proc_self_cgroup = read("proc/self/cgroup").unwrap_or_default();
    let cgroup_root = sys.join("fs/cgroup");
    let memory_limit = cgroup::memory_limit(&cgroup_root, &proc_self_cgroup, total_ram_bytes);
    let quota = cgroup::cpu_quota(&cgroup_root, &proc_self_cgroup);

    let logical_cpus = read("sys/devices/system/cpu/online")
        .as_deref()
        .and_then(cpu::parse_cpu_list)
        .unwrap_or_else(sysinfo_logical_cpus)
        .max(1);
    let affinity = read("proc/self/status")
        .as_deref()
        .and_then(cpu::parse_status_affinity);
    let usable_cpus = cpu::usable_cpus(affinity, quota, logical_cpus);
    let physical_cores = sysinfo::System::physical_core_count().and_then(|n| u32::try_from(n).ok());

    let distribution = read("etc/os-release")
        .or_else(|| read("usr/lib/os-release"))
        .as_deref()
        .and_then(os::parse_os_release)
        .or_else(sysinfo::System::long_os_version);
    let kernel = read("proc/sys/kernel/osrelease").or_else(sysinfo::System::kernel_version);
    let os_description = os::describe(distribution.as_deref(), kernel.as_deref());

    let data_dir = data_dir
        .map(|path| disk::data_dir_facts(path, &sys))
        .transpose()?;

    Ok(HostFacts {
        total_ram_bytes,
        memory_limit,
        usable_cpus,
        logical_cpus,
        physical_cores,
        cpu_quota: quota.map(cgroup::CpuQuota::cpus),
        os: Os::this_host(),
        os_description,
        data_dir,
    })
}

/// Total RAM via sysinfo, refreshing memory only: a full refresh walks every process.
fn sysinfo_total_ram() -> u64 {
    let mut system = sysinfo::System::new();
    system.refresh_memory_specifics(sysinfo::MemoryRefreshKind::nothing().with_ram());
    system.total_memory()
}

/// Logical CPUs via sysinfo, listing CPUs without sampling their usage.
fn sysinfo_logical_cpus() -> u32 {
    let mut system = sysinfo::System::new();
    system.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
    u32::try_from(system.cpus().len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn facts(total_ram_bytes: u64, limit: Option<u64>) -> HostFacts {
        HostFacts {
            total_ram_bytes,
            memory_limit: MemoryLimit {
                bytes: limit,
                source: "test".into(),
                cgroup_version: Some(CgroupVersion::V2),
            },
            usable_cpus: 2,
            logical_cpus: 4,
            physical_cores: Some(2),
            cpu_quota: Some(1.5),
            os: Os::Linux,
            os_description: "Test OS".into(),
            data_dir: None,
        }
    }

    #[test]
    fn tuning_ram_is_the_smaller_of_ram_and_limit() {
        assert_eq!(facts(16 * GIB, None).tuning_ram_bytes(), 16 * GIB);
        assert_eq!(facts(16 * GIB, Some(2 * GIB)).tuning_ram_bytes(), 2 * GIB);
        assert_eq!(facts(16 * GIB, Some(64 * GIB)).tuning_ram_bytes(), 16 * GIB);
    }

    #[test]
    fn probed_ram_rounds_down_to_64mib() {
        assert_eq!(
            facts(25_276_514_304, None).probed_tuning_ram_bytes(),
            24_064u64 << 20
        );
        assert_eq!(facts(16 << 30, None).probed_tuning_ram_bytes(), 16 << 30);
        assert_eq!(
            facts(16 << 30, Some((1 << 30) + 5)).probed_tuning_ram_bytes(),
            1 << 30
        );
        assert_eq!(facts(50 << 20, None).probed_tuning_ram_bytes(), 50 << 20);
    }

    #[test]
    fn describes_the_limit() {
        assert_eq!(
            facts(16 * GIB, None).limit_description(),
            "cgroup limit none"
        );
        assert_eq!(
            facts(16 * GIB, Some(2 * GIB)).limit_description(),
            "cgroup limit 2 GiB"
        );
        assert_eq!(
            facts(16 * GIB, Some(1536 << 20)).limit_description(),
            "cgroup limit 1.5 GiB"
        );
    }

    #[test]
    fn formats_sizes() {
        assert_eq!(crate::units::format_bytes_human(0), "0 B");
        assert_eq!(crate::units::format_bytes_human(1023), "1023 B");
        assert_eq!(crate::units::format_bytes_human(1024), "1 KiB");
        assert_eq!(crate::units::format_bytes_human(512 << 20), "512 MiB");
        assert_eq!(crate::units::format_bytes_human(25_276_514_304), "23.5 GiB");
        assert_eq!(crate::units::format_bytes_human(1_000_000_000), "953.7 MiB");
        assert_eq!(crate::units::format_bytes_human(2 * GIB + 1), "2.0 GiB");
        assert_eq!(crate::units::format_bytes_human(3 << 40), "3 TiB");
        assert_eq!(crate::units::format_bytes_human(u64::MAX), "16777216.0 TiB");
    }

    #[test]
    fn parses_meminfo() {
        let text = "MemTotal:       24684096 kB\nMemFree:        23472992 kB\n";
        assert_eq!(parse_meminfo_total(text), Some(24_684_096 * 1024));
        assert_eq!(parse_meminfo_total("MemFree: 1 kB\n"), None);
        assert_eq!(parse_meminfo_total("MemTotal: lots kB\n"), None);
        assert_eq!(parse_meminfo_total("MemTotal: 1 MB\n"), None);
        assert_eq!(
            parse_meminfo_total("MemTotal: 18446744073709551615 kB\n"),
            None
        );
        assert_eq!(parse_meminfo_total(""), None);
    }

    #[test]
    fn serializes_with_stable_names() {
        let mut host = facts(16 * GIB, Some(2 * GIB));
        host.data_dir = Some(DataDirFacts {
            path: "/var/lib/postgresql".into(),
            device: Some("sda1".into()),
            rotational: Some(true),
            virtual_disk: None,
        });
        let json = serde_json::to_value(&host).unwrap();
        assert_eq!(json["memory_limit"]["bytes"], 2 * GIB);
        assert_eq!(json["memory_limit"]["cgroup_version"], "v2");
        assert_eq!(json["os"], "linux");
        assert_eq!(json["cpu_quota"], 1.5);
        assert_eq!(json["data_dir"]["device"], "sda1");
        assert_eq!(json["data_dir"]["rotational"], true);
    }

    /// Writes `contents` at `root/relative`, creating directories.
    fn put(root: &Path, relative: &str, contents: &str) {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    #[test]
    fn probes_a_fixture_root() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        put(root, "proc/meminfo", "MemTotal: 8388608 kB\n");
        put(root, "proc/self/cgroup", "0::/app\n");
        put(root, "proc/self/status", "Cpus_allowed_list:\t0-5\n");
        put(root, "proc/sys/kernel/osrelease", "6.1.0-test\n");
        put(root, "sys/devices/system/cpu/online", "0-7\n");
        put(root, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
        put(root, "sys/fs/cgroup/app/memory.max", "2147483648\n");
        put(root, "sys/fs/cgroup/app/cpu.max", "250000 100000\n");
        put(root, "etc/os-release", "PRETTY_NAME=\"Fixture Linux 1\"\n");

        let host = probe_at(root, None).unwrap();
        assert_eq!(host.total_ram_bytes, 8 * GIB);
        assert_eq!(host.memory_limit.bytes, Some(2 * GIB));
        assert_eq!(host.tuning_ram_bytes(), 2 * GIB);
        assert_eq!(host.logical_cpus, 8);
        assert_eq!(host.cpu_quota, Some(2.5));
        assert_eq!(host.usable_cpus, 3);
        assert_eq!(host.os_description, "Fixture Linux 1, kernel 6.1.0-test");
        assert!(host.data_dir.is_none());
    }

    #[test]
    fn probe_reports_a_missing_data_dir() {
        let missing = Path::new("/nonexistent/pgdata");
        let err = probe(Some(missing)).unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/pgdata"),
            "{err:#}"
        );
    }

    #[test]
    fn probes_this_machine() {
        // How fast it is belongs in bench/ (bench/recommend.sh); a timing bound here would
        // flake on a loaded, shared machine.
        let dir = tempfile::tempdir().unwrap();
        let host = probe(Some(dir.path())).unwrap();
        assert!(host.total_ram_bytes > 0);
        assert!(host.usable_cpus >= 1 && host.usable_cpus <= host.logical_cpus.max(1));
        assert!(host.tuning_ram_bytes() <= host.total_ram_bytes);
        assert_eq!(
            host.data_dir.map(|d| d.path),
            Some(dir.path().to_path_buf())
        );
    }
}
