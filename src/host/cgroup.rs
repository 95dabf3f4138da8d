//! Container limits from cgroups: the memory limit and the CPU quota that bind this process.
//!
//! PostgreSQL sized for the host's RAM inside a 2 GiB container gets OOM-killed, so the limit
//! matters more than the RAM. Every function here takes the cgroup filesystem root (what is
//! normally mounted at `/sys/fs/cgroup`) and the text of `/proc/self/cgroup` as inputs, so tests
//! feed fixture trees from `fixtures/cgroup/`. Anything odd — a missing controller, unreadable
//! files, garbage contents — degrades to "no limit at this level"; nothing here returns an error or
//! panics, because a probe that fails on an unusual kernel is worse than one that says "unknown".
//!
//! Both layouts are handled: cgroup v2 (a unified hierarchy at the root, or at `root/unified` on
//! hybrid systems) and cgroup v1 (one mount per controller set, such as `root/memory` or
//! `root/cpu,cpuacct`). Limits nest, so the effective limit is the smallest one found while
//! walking from the process's own cgroup up to the mount root.

use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::MemoryLimit;

/// v1 reports "unlimited" as LONG_MAX rounded down to a page (9223372036854771712 with 4 KiB
/// pages); any value at or past 2^62 bytes (4 EiB) cannot be a real limit, whatever the page size.
pub const UNLIMITED_THRESHOLD_BYTES: u64 = 1 << 62;

/// The CFS period the kernel uses when none is given (`cpu.max` written with one number).
pub const DEFAULT_CFS_PERIOD_US: u64 = 100_000;

/// A file in each directory that marks the root of a cgroup v2 (unified) hierarchy.
const V2_MARKER_FILE: &str = "cgroup.controllers";

/// Which cgroup hierarchy a limit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupVersion {
    /// Legacy per-controller hierarchies.
    V1,
    /// The unified hierarchy.
    V2,
}

impl CgroupVersion {
    /// "v1" or "v2", as shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "v1",
            CgroupVersion::V2 => "v2",
        }
    }
}

/// Where this process sits in each hierarchy, as listed by `/proc/self/cgroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    /// The path from the v2 line `0::/path`, if there is one.
    pub unified: Option<String>,
    /// The v1 lines `N:controller,controller:/path`.
    pub v1: Vec<V1Membership>,
}

/// One v1 line of `/proc/self/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Membership {
    /// Controllers bound to this hierarchy, such as `["cpu", "cpuacct"]` or `["name=systemd"]`.
    pub controllers: Vec<String>,
    /// The process's cgroup path inside that hierarchy.
    pub path: String,
}

/// Parses `/proc/self/cgroup`; lines that do not have the `id:controllers:path` shape are skipped.
pub fn parse_proc_self_cgroup(text: &str) -> Membership {
    let mut membership = Membership::default();
    for line in text.lines() {
        // The path is last and may itself contain ':', so split at most twice.
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if id.trim() == "0" && controllers.is_empty() {
            membership.unified = Some(path.to_owned());
        } else if !controllers.is_empty() {
            membership.v1.push(V1Membership {
                controllers: controllers.split(',').map(str::to_owned).collect(),
                path: path.to_owned(),
            });
        }
    }
    membership
}

/// The hierarchy holding one controller for this process, and the process's directory in it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hierarchy {
    version: CgroupVersion,
    mount: PathBuf,
    /// The process's own cgroup directory, or `mount` when its path does not exist there.
    own_dir: PathBuf,
}

impl Hierarchy {
    /// Directories from the process's own cgroup up to the mount root, innermost first.
    fn levels(&self) -> impl Iterator<Item = &Path> {
        self.own_dir
            .ancestors()
            .take_while(move |dir| dir.starts_with(&self.mount))
    }
}

/// Finds the hierarchy that carries `controller` (the v1 name, e.g. "memory" or "cpu").
///
/// The kernel binds each controller to one hierarchy only: when a v1 line lists it, v1 owns it;
/// otherwise it can only be in the unified hierarchy.
fn locate(root: &Path, membership: &Membership, controller: &str) -> Option<Hierarchy> {
    let v1 = membership
        .v1
        .iter()
        .find(|m| m.controllers.iter().any(|c| c == controller));
    if let Some(v1) = v1
        && let Some(mount) = v1_mount(root, controller)
    {
        let own_dir = own_dir(&mount, &v1.path);
        return Some(Hierarchy {
            version: CgroupVersion::V1,
            mount,
            own_dir,
        });
    }
    let path = membership.unified.as_deref()?;
    let mount = [root.to_path_buf(), root.join("unified")]
        .into_iter()
        .find(|dir| dir.join(V2_MARKER_FILE).is_file())?;
    // The marker lists the controllers enabled here; on hybrid systems it is empty, and a
    // controller missing from it has no limit files to read.
    let enabled = fs::read_to_string(mount.join(V2_MARKER_FILE)).ok()?;
    if !enabled.split_whitespace().any(|c| c == controller) {
        return None;
    }
    let own_dir = own_dir(&mount, path);
    Some(Hierarchy {
        version: CgroupVersion::V2,
        mount,
        own_dir,
    })
}

/// The v1 mount for `controller` under `root`: a directory named after it, or one whose
/// comma-separated name includes it (`cpu,cpuacct`).
fn v1_mount(root: &Path, controller: &str) -> Option<PathBuf> {
    let direct = root.join(controller);
    if direct.is_dir() {
        return Some(direct);
    }
    let mut candidates: Vec<PathBuf> = fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.split(',').any(|c| c == controller))
        })
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    // read_dir order is arbitrary; sort so the choice is stable.
    candidates.sort();
    candidates.into_iter().next()
}

/// The process's cgroup directory under `mount`, or `mount` itself when the path is missing
/// there: inside a container the mount is usually the container's own cgroup, while
/// `/proc/self/cgroup` still names the host-side path.
fn own_dir(mount: &Path, cgroup_path: &str) -> PathBuf {
    // Only plain components: a hostile or garbled path must not climb out of the mount.
    let mut dir = mount.to_path_buf();
    for component in Path::new(cgroup_path.trim()).components() {
        if let Component::Normal(part) = component {
            dir.push(part);
        }
    }
    if dir.is_dir() {
        dir
    } else {
        mount.to_path_buf()
    }
}

/// Parses a memory limit file (`memory.max` or `memory.limit_in_bytes`); `None` for "max",
/// the v1 unlimited sentinel, zero, negative numbers and garbage — none of them is a usable limit.
pub fn parse_memory_limit(text: &str) -> Option<u64> {
    let bytes: u64 = text.trim().parse().ok()?;
    // Zero would make the server unstartable; it is a misconfiguration, not a size to tune for.
    (bytes > 0 && bytes < UNLIMITED_THRESHOLD_BYTES).then_some(bytes)
}

/// The memory limit binding this process: the smallest along its cgroup path. A limit at or
/// above `total_ram_bytes` does not bind, so it is reported as no limit (with a note why).
pub fn memory_limit(root: &Path, proc_self_cgroup: &str, total_ram_bytes: u64) -> MemoryLimit {
    let membership = parse_proc_self_cgroup(proc_self_cgroup);
    let Some(hierarchy) = locate(root, &membership, "memory") else {
        return MemoryLimit::none("none (no cgroup memory controller found)", None);
    };
    let file_name = match hierarchy.version {
        CgroupVersion::V1 => "memory.limit_in_bytes",
        CgroupVersion::V2 => "memory.max",
    };
    let smallest = hierarchy
        .levels()
        .filter_map(|dir| {
            let file = dir.join(file_name);
            let bytes = parse_memory_limit(&fs::read_to_string(&file).ok()?)?;
            Some((bytes, file))
        })
        .min_by_key(|(bytes, _)| *bytes);
    let version = hierarchy.version;
    match smallest {
        None => MemoryLimit::none("none", Some(version)),
        Some((bytes, file)) if bytes >= total_ram_bytes => MemoryLimit::none(
            &format!(
                "none (cgroup {} {} at {} is {bytes} bytes, not below physical RAM)",
                version.as_str(),
                file_name,
                file.display()
            ),
            Some(version),
        ),
        Some((bytes, file)) => MemoryLimit {
            bytes: Some(bytes),
            source: format!(
                "cgroup {} {} at {}",
                version.as_str(),
                file_name,
                file.display()
            ),
            cgroup_version: Some(version),
        },
    }
}

/// A CFS bandwidth limit: `quota_us` of CPU time every `period_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuQuota {
    /// CPU time allowed per period, in microseconds.
    pub quota_us: u64,
    /// Length of the period, in microseconds; never zero.
    pub period_us: u64,
}

impl CpuQuota {
    /// The quota in CPUs, e.g. 1.5.
    pub fn cpus(self) -> f64 {
        // Both values are far below 2^53 in practice, so the conversion is exact enough.
        self.quota_us as f64 / self.period_us as f64
    }

    /// Whole CPUs needed to use the quota fully (1.5 → 2), at least 1.
    pub fn ceil_cpus(self) -> u64 {
        self.quota_us.div_ceil(self.period_us).max(1)
    }

    /// True when `self` allows less CPU time than `other`; compares fractions exactly.
    fn is_tighter_than(self, other: CpuQuota) -> bool {
        u128::from(self.quota_us) * u128::from(other.period_us)
            < u128::from(other.quota_us) * u128::from(self.period_us)
    }
}

/// Parses v2 `cpu.max`: "max 100000" (no quota) or "150000 100000" (1.5 CPUs).
pub fn parse_cpu_max(text: &str) -> Option<CpuQuota> {
    let mut fields = text.split_whitespace();
    let quota = fields.next()?;
    let period_us = match fields.next() {
        Some(period) => period.parse().ok()?,
        None => DEFAULT_CFS_PERIOD_US,
    };
    if fields.next().is_some() {
        return None;
    }
    let quota_us: u64 = quota.parse().ok()?;
    quota_from(quota_us, period_us)
}

/// Parses v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`; a quota of -1 means no quota.
pub fn parse_cfs_v1(quota_text: &str, period_text: &str) -> Option<CpuQuota> {
    // -1 (or any negative number) fails the u64 parse: no quota.
    let quota_us: u64 = quota_text.trim().parse().ok()?;
    let period_us: u64 = period_text.trim().parse().ok()?;
    quota_from(quota_us, period_us)
}

fn quota_from(quota_us: u64, period_us: u64) -> Option<CpuQuota> {
    // A zero period would divide by zero and a zero quota cannot be set; both are garbage.
    (quota_us > 0 && period_us > 0).then_some(CpuQuota {
        quota_us,
        period_us,
    })
}

/// The CPU quota binding this process: the tightest along its cgroup path, `None` if unlimited.
pub fn cpu_quota(root: &Path, proc_self_cgroup: &str) -> Option<CpuQuota> {
    let membership = parse_proc_self_cgroup(proc_self_cgroup);
    let hierarchy = locate(root, &membership, "cpu")?;
    let read = |path: PathBuf| fs::read_to_string(path).ok();
    hierarchy
        .levels()
        .filter_map(|dir| match hierarchy.version {
            CgroupVersion::V2 => parse_cpu_max(&read(dir.join("cpu.max"))?),
            CgroupVersion::V1 => parse_cfs_v1(
                &read(dir.join("cpu.cfs_quota_us"))?,
                &read(dir.join("cpu.cfs_period_us"))?,
            ),
        })
        .reduce(|a, b| if b.is_tighter_than(a) { b } else { a })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;
    /// Physical RAM assumed by the fixture tests: 16 GiB.
    const RAM_BYTES: u64 = 16 * GIB;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/cgroup")
            .join(name)
    }

    fn read_fixture_proc(name: &str) -> String {
        fs::read_to_string(fixture(name).join("proc-self-cgroup")).unwrap()
    }

    /// Runs both readers on a fixture: `root/` is the cgroup mount, `proc-self-cgroup` the text.
    fn probe_fixture(name: &str) -> (MemoryLimit, Option<CpuQuota>) {
        let text = read_fixture_proc(name);
        let root = fixture(name).join("root");
        (
            memory_limit(&root, &text, RAM_BYTES),
            cpu_quota(&root, &text),
        )
    }

    #[test]
    fn parses_v2_only_membership() {
        let m = parse_proc_self_cgroup("0::/system.slice/postgresql.service\n");
        assert_eq!(
            m.unified.as_deref(),
            Some("/system.slice/postgresql.service")
        );
        assert!(m.v1.is_empty());
    }

    #[test]
    fn parses_v1_and_hybrid_membership() {
        let m = parse_proc_self_cgroup(
            "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/x:y\n0::/\n",
        );
        assert_eq!(m.unified.as_deref(), Some("/"));
        assert_eq!(m.v1.len(), 3);
        assert_eq!(m.v1[0].controllers, ["memory"]);
        assert_eq!(m.v1[1].controllers, ["cpu", "cpuacct"]);
        // A ':' inside the path stays in the path.
        assert_eq!(m.v1[2].path, "/x:y");
    }

    #[test]
    fn skips_garbage_membership_lines() {
        let m = parse_proc_self_cgroup("garbage\n\n::\n7\n\u{0}:\u{1}\n");
        assert_eq!(m.unified, None);
        assert!(m.v1.is_empty());
        assert_eq!(parse_proc_self_cgroup(""), Membership::default());
    }

    #[test]
    fn parses_memory_limit_values() {
        assert_eq!(parse_memory_limit("2147483648\n"), Some(2 * GIB));
        assert_eq!(parse_memory_limit("max\n"), None);
        assert_eq!(parse_memory_limit("9223372036854771712\n"), None);
        assert_eq!(parse_memory_limit("9223372036854775807"), None);
        assert_eq!(parse_memory_limit(&(1u64 << 62).to_string()), None);
        assert_eq!(
            parse_memory_limit(&((1u64 << 62) - 1).to_string()),
            Some((1 << 62) - 1)
        );
        assert_eq!(parse_memory_limit("-1"), None);
        assert_eq!(parse_memory_limit("0"), None);
        assert_eq!(parse_memory_limit(""), None);
        assert_eq!(parse_memory_limit("12 GiB"), None);
        assert_eq!(parse_memory_limit("99999999999999999999999"), None);
    }

    #[test]
    fn parses_cpu_max() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        let q = parse_cpu_max("150000 100000\n").unwrap();
        assert_eq!(q.cpus(), 1.5);
        assert_eq!(q.ceil_cpus(), 2);
        assert_eq!(parse_cpu_max("200000").unwrap().cpus(), 2.0);
        assert_eq!(parse_cpu_max("1000 100000").unwrap().ceil_cpus(), 1);
        for garbage in ["", "x y", "150000 0", "0 100000", "1 2 3", "-5 100000"] {
            assert_eq!(parse_cpu_max(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn parses_cfs_v1() {
        assert_eq!(parse_cfs_v1("-1\n", "100000\n"), None);
        assert_eq!(parse_cfs_v1("50000\n", "100000\n").unwrap().cpus(), 0.5);
        assert_eq!(parse_cfs_v1("50000", "0"), None);
        assert_eq!(parse_cfs_v1("lots", "100000"), None);
    }

    #[test]
    fn compares_quotas_exactly() {
        let half = CpuQuota {
            quota_us: 50_000,
            period_us: 100_000,
        };
        let half_other_period = CpuQuota {
            quota_us: 25_000,
            period_us: 50_000,
        };
        let two = CpuQuota {
            quota_us: u64::MAX,
            period_us: u64::MAX / 2,
        };
        assert!(half.is_tighter_than(two));
        assert!(!two.is_tighter_than(half));
        assert!(!half.is_tighter_than(half_other_period));
    }

    #[test]
    fn v2_limits() {
        let (memory, quota) = probe_fixture("v2");
        assert_eq!(memory.bytes, Some(2 * GIB));
        assert_eq!(memory.cgroup_version, Some(CgroupVersion::V2));
        assert!(memory.source.starts_with("cgroup v2 memory.max at "));
        assert!(
            memory
                .source
                .ends_with("system.slice/postgresql.service/memory.max")
        );
        assert_eq!(quota.unwrap().cpus(), 1.5);
    }

    #[test]
    fn v1_limits() {
        let (memory, quota) = probe_fixture("v1");
        assert_eq!(memory.bytes, Some(GIB));
        assert_eq!(memory.cgroup_version, Some(CgroupVersion::V1));
        assert!(memory.source.contains("memory.limit_in_bytes"));
        // The cpu controller is mounted as "cpu,cpuacct" in this fixture.
        assert_eq!(quota.unwrap().cpus(), 2.0);
    }

    #[test]
    fn v2_nested_limits_take_the_smallest_ancestor() {
        // kubepods (4 GiB, 3 CPUs) > pod (1 GiB, 0.5 CPU) > container (max, max).
        let (memory, quota) = probe_fixture("v2-nested");
        assert_eq!(memory.bytes, Some(GIB));
        assert!(memory.source.contains("/kubepods/pod1/memory.max"));
        assert_eq!(quota.unwrap().cpus(), 0.5);
    }

    #[test]
    fn v2_max_means_no_limit() {
        let (memory, quota) = probe_fixture("v2-max");
        assert_eq!(memory.bytes, None);
        assert_eq!(memory.source, "none");
        assert_eq!(memory.cgroup_version, Some(CgroupVersion::V2));
        assert_eq!(quota, None);
    }

    #[test]
    fn v1_unlimited_sentinel_means_no_limit() {
        let (memory, quota) = probe_fixture("v1-unlimited");
        assert_eq!(memory.bytes, None);
        assert_eq!(memory.source, "none");
        assert_eq!(quota, None);
    }

    #[test]
    fn missing_memory_controller_means_no_limit() {
        let (memory, quota) = probe_fixture("no-memory-controller");
        assert_eq!(memory.bytes, None);
        assert_eq!(memory.cgroup_version, None);
        assert!(memory.source.starts_with("none"));
        assert_eq!(quota, None);
    }

    #[test]
    fn limit_above_ram_means_no_limit() {
        let (memory, _) = probe_fixture("above-ram");
        assert_eq!(memory.bytes, None);
        assert!(
            memory.source.contains("not below physical RAM"),
            "{}",
            memory.source
        );
    }

    #[test]
    fn garbage_contents_mean_no_limit() {
        let (memory, quota) = probe_fixture("garbage");
        assert_eq!(memory.bytes, None);
        assert_eq!(quota, None);
    }

    #[test]
    fn namespaced_path_falls_back_to_mount_root() {
        // /proc/self/cgroup names a host-side path that is not visible in the container.
        let (memory, quota) = probe_fixture("namespaced");
        assert_eq!(memory.bytes, Some(512 << 20));
        assert_eq!(quota.unwrap().cpus(), 1.0);
    }

    #[test]
    fn hybrid_layout_reads_v1_controllers() {
        // Like this project's CI machines: v1 controllers plus an empty v2 at root/unified.
        let (memory, quota) = probe_fixture("hybrid");
        assert_eq!(memory.bytes, Some(3 * GIB));
        assert_eq!(memory.cgroup_version, Some(CgroupVersion::V1));
        assert_eq!(quota, None);
    }

    #[test]
    fn path_components_cannot_escape_the_mount() {
        let root = fixture("v2").join("root");
        let dir = own_dir(&root, "/../../../etc");
        assert_eq!(dir, root);
    }

    #[test]
    fn missing_root_and_empty_text_mean_no_limit() {
        let root = fixture("does-not-exist");
        let memory = memory_limit(&root, "0::/\n", RAM_BYTES);
        assert_eq!(memory.bytes, None);
        assert_eq!(cpu_quota(&root, "0::/\n"), None);
        let memory = memory_limit(&fixture("v2").join("root"), "", RAM_BYTES);
        assert_eq!(memory.bytes, None);
    }
}
