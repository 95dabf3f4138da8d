//! Control groups for the benchmark: one CPU group that the driver (and so pgbench and the
//! server it starts) runs in, with a high CPU weight so the benchmark wins the CPU over niced
//! neighbours and with its CPU time read per run; and one memory group with a limit, which is
//! what a container with a memory limit is to PostgreSQL. Paths are taken relative to a sysfs
//! root and the text of `/proc/self/cgroup`, so tests run over a fake tree in a temp dir.
//!
//! cgroup v1 (one hierarchy per controller): the groups are children of the driver's own group
//! in the cpu, cpuacct and memory hierarchies. cgroup v2 (one unified hierarchy): `NAME/` under
//! the root carries the CPU weight and is read for CPU time; the driver runs in `NAME/driver`
//! and the server of the container case in `NAME/container` (v2 allows processes only in
//! leaves), so the server's CPU time is still counted in `NAME`.

use std::fs;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// v2 when the root itself is a cgroup2 mount (it has `cgroup.controllers`); v1 when a
/// controller hierarchy we need is mounted below it (possibly co-mounted, `cpu,cpuacct`). A
/// hybrid host (v1 controllers plus an empty `unified/` v2 mount) is v1.
pub fn detect(root: &Path) -> Option<Version> {
    if root.join("cgroup.controllers").is_file() {
        return Some(Version::V2);
    }
    if v1_mount(root, "memory").is_some() && v1_mount(root, "cpuacct").is_some() {
        return Some(Version::V1);
    }
    None
}

/// The v1 hierarchy of `controller` under `root`: `root/controller`, or a co-mounted
/// directory such as `root/cpu,cpuacct`.
pub fn v1_mount(root: &Path, controller: &str) -> Option<PathBuf> {
    let direct = root.join(controller);
    if direct.join("cgroup.procs").is_file() {
        return Some(direct);
    }
    let mut found: Vec<PathBuf> = fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.split(',').any(|c| c == controller))
        })
        .map(|e| e.path())
        .filter(|p| p.join("cgroup.procs").is_file())
        .collect();
    found.sort();
    found.into_iter().next()
}

/// This process's path in the v1 hierarchy of `controller`, from `/proc/self/cgroup` text
/// (`id:controllers:path` lines).
pub fn own_v1_path(proc_self_cgroup: &str, controller: &str) -> Option<String> {
    proc_self_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == controller)
            .then(|| path.trim().to_string())
    })
}

/// `mount/path` using only plain components, or the mount itself when that directory is
/// missing (inside a container the mount is the container's own group).
fn under(mount: &Path, path: &str) -> PathBuf {
    let mut dir = mount.to_path_buf();
    for c in Path::new(path).components() {
        if let Component::Normal(part) = c {
            dir.push(part);
        }
    }
    if dir.is_dir() {
        dir
    } else {
        mount.to_path_buf()
    }
}

/// A single number file (`cpuacct.usage`, `memory.limit_in_bytes`, `memory.usage_in_bytes`).
pub fn parse_u64(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// `key value` lines (`cpu.stat`, `memory.stat`); lines of another shape are skipped.
pub fn parse_kv(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            it.next().is_none().then(|| (k.to_string(), v))
        })
        .collect()
}

fn kv(text: &str, key: &str) -> Option<u64> {
    parse_kv(text)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// CPU time in nanoseconds from the usage file's text: v1 `cpuacct.usage` is nanoseconds,
/// v2 `cpu.stat` has `usage_usec`.
pub fn cpu_usage_ns(version: Version, text: &str) -> Option<u64> {
    match version {
        Version::V1 => parse_u64(text),
        Version::V2 => kv(text, "usage_usec").map(|us| us * 1000),
    }
}

/// Page cache charged to a memory group, from `memory.stat`: v1 `cache` (this group only), v2
/// `file`.
pub fn page_cache_bytes(version: Version, memory_stat: &str) -> Option<u64> {
    match version {
        Version::V1 => kv(memory_stat, "cache"),
        Version::V2 => kv(memory_stat, "file"),
    }
}

/// v1 `cpu.shares` (1024 = normal) to a v2 `cpu.weight` (100 = normal), clamped to 1..=10000.
pub fn shares_to_weight(shares: u64) -> u64 {
    (shares * 100 / 1024).clamp(1, 10_000)
}

/// The benchmark's groups. Created by [`Groups::create`], removed by [`Groups::remove`] (the
/// driver moves itself back first); every path is kept for that.
#[derive(Debug)]
pub struct Groups {
    pub version: Version,
    /// Files the driver writes its pid to, to join the CPU group(s).
    join: Vec<PathBuf>,
    /// Files the driver writes its pid to, to go back where it was.
    leave: Vec<PathBuf>,
    /// CPU time of the group: `cpuacct.usage` (v1) or `cpu.stat` (v2).
    usage_file: PathBuf,
    /// The memory-limited group of the container case.
    pub memory_dir: PathBuf,
    /// Every directory created, in creation order (removed in reverse).
    created: Vec<PathBuf>,
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    fs::write(path, value).map_err(|e| format!("cannot write '{value}' to {}: {e}", path.display()))
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

impl Groups {
    /// Creates the groups named `name`: CPU weight from `shares`, memory limit `limit_bytes`.
    pub fn create(
        root: &Path,
        proc_self_cgroup: &str,
        name: &str,
        shares: u64,
        limit_bytes: u64,
    ) -> Result<Groups, String> {
        let version = detect(root).ok_or_else(|| {
            format!(
                "no cgroup v1 memory+cpuacct hierarchies and no cgroup v2 mount at {}",
                root.display()
            )
        })?;
        let mut g = Groups {
            version,
            join: Vec::new(),
            leave: Vec::new(),
            usage_file: PathBuf::new(),
            memory_dir: PathBuf::new(),
            created: Vec::new(),
        };
        let result = g.build(root, proc_self_cgroup, name, shares, limit_bytes);
        match result {
            Ok(()) => Ok(g),
            Err(e) => {
                g.remove();
                Err(e)
            }
        }
    }

    fn mkdir(&mut self, dir: PathBuf) -> Result<PathBuf, String> {
        if !self.created.contains(&dir) {
            fs::create_dir(&dir)
                .map_err(|e| format!("cannot create cgroup {}: {e}", dir.display()))?;
            self.created.push(dir.clone());
        }
        Ok(dir)
    }

    fn build(
        &mut self,
        root: &Path,
        proc_self: &str,
        name: &str,
        shares: u64,
        limit: u64,
    ) -> Result<(), String> {
        match self.version {
            Version::V1 => {
                let mut dirs = Vec::new();
                for controller in ["cpu", "cpuacct", "memory"] {
                    let mount = v1_mount(root, controller).ok_or_else(|| {
                        format!("cgroup v1 hierarchy '{controller}' is not mounted")
                    })?;
                    let own = under(
                        &mount,
                        &own_v1_path(proc_self, controller).unwrap_or_default(),
                    );
                    let dir = self.mkdir(own.join(name))?;
                    if controller != "memory" && !self.leave.contains(&own.join("cgroup.procs")) {
                        self.leave.push(own.join("cgroup.procs"));
                        self.join.push(dir.join("cgroup.procs"));
                    }
                    dirs.push(dir);
                }
                write(&dirs[0].join("cpu.shares"), &shares.to_string())?;
                self.usage_file = dirs[1].join("cpuacct.usage");
                self.memory_dir = dirs[2].clone();
                write(
                    &self.memory_dir.join("memory.limit_in_bytes"),
                    &limit.to_string(),
                )?;
            }
            Version::V2 => {
                let base = self.mkdir(root.join(name))?;
                // Our children get cpu and memory; the root delegates them already on most
                // hosts (writing is then a no-op).
                let _ = fs::write(root.join("cgroup.subtree_control"), "+cpu +memory");
                write(&base.join("cgroup.subtree_control"), "+cpu +memory")?;
                write(
                    &base.join("cpu.weight"),
                    &shares_to_weight(shares).to_string(),
                )?;
                let driver = self.mkdir(base.join("driver"))?;
                self.memory_dir = self.mkdir(base.join("container"))?;
                write(&self.memory_dir.join("memory.max"), &limit.to_string())?;
                self.usage_file = base.join("cpu.stat");
                self.join.push(driver.join("cgroup.procs"));
                let own = own_v1_path(proc_self, "").unwrap_or_default();
                self.leave.push(under(root, &own).join("cgroup.procs"));
            }
        }
        Ok(())
    }

    /// Moves the calling process into the CPU group(s).
    pub fn join_self(&self) -> Result<(), String> {
        let pid = std::process::id().to_string();
        for f in &self.join {
            write(f, &pid)?;
        }
        Ok(())
    }

    /// CPU time used by the group so far, in nanoseconds.
    pub fn cpu_ns(&self) -> Result<u64, String> {
        let text = read(&self.usage_file)?;
        cpu_usage_ns(self.version, &text)
            .ok_or_else(|| format!("cannot parse {}", self.usage_file.display()))
    }

    /// The `cgroup.procs` file a process writes its pid to, to enter the memory group.
    pub fn memory_procs(&self) -> PathBuf {
        self.memory_dir.join("cgroup.procs")
    }

    /// Drops the page cache charged to the memory group (a cold start). The server must be
    /// stopped. v1: `memory.force_empty`; v2: `memory.reclaim` of everything it holds.
    pub fn drop_memory_group_cache(&self) -> Result<(), String> {
        match self.version {
            Version::V1 => write(&self.memory_dir.join("memory.force_empty"), "0"),
            Version::V2 => {
                let used = parse_u64(&read(&self.memory_dir.join("memory.current"))?).unwrap_or(0);
                if used > 0 {
                    // The kernel may reclaim less than asked and then says EAGAIN: fine.
                    let _ = fs::write(self.memory_dir.join("memory.reclaim"), used.to_string());
                }
                Ok(())
            }
        }
    }

    /// Page cache charged to the memory group now.
    pub fn memory_group_cache(&self) -> Option<u64> {
        page_cache_bytes(
            self.version,
            &fs::read_to_string(self.memory_dir.join("memory.stat")).ok()?,
        )
    }

    /// Moves the driver back and removes every group (best effort: runs on error paths too).
    pub fn remove(&mut self) {
        let pid = std::process::id().to_string();
        for f in &self.leave {
            let _ = fs::write(f, &pid);
        }
        while let Some(dir) = self.created.pop() {
            let _ = fs::remove_dir(&dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tmp(PathBuf);
    impl Tmp {
        fn new(tag: &str) -> Tmp {
            let p = std::env::temp_dir().join(format!("advice-cg-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Tmp(p)
        }
    }
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn touch(p: &Path) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, "").unwrap();
    }

    #[test]
    fn parses_usage_and_stat_files() {
        assert_eq!(cpu_usage_ns(Version::V1, "123456789\n"), Some(123_456_789));
        assert_eq!(cpu_usage_ns(Version::V1, "garbage"), None);
        let cpu_stat = "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 0\n";
        assert_eq!(cpu_usage_ns(Version::V2, cpu_stat), Some(2_500_000));
        assert_eq!(cpu_usage_ns(Version::V2, "user_usec 1\n"), None);
        let v1_stat = "cache 4096\nrss 8192\ntotal_cache 12288\n";
        assert_eq!(page_cache_bytes(Version::V1, v1_stat), Some(4096));
        let v2_stat = "anon 100\nfile 20480\nkernel 3\n";
        assert_eq!(page_cache_bytes(Version::V2, v2_stat), Some(20480));
        assert_eq!(
            parse_kv("a 1\nbad line here\nb x\nc 3"),
            vec![("a".into(), 1), ("c".into(), 3)]
        );
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(8192), 800);
        assert_eq!(shares_to_weight(2), 1);
    }

    #[test]
    fn own_path_from_proc_self_cgroup() {
        let text = "9:name=systemd:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/user.slice\n0::/init.scope\n";
        assert_eq!(
            own_v1_path(text, "memory").as_deref(),
            Some("/process_api/abc")
        );
        assert_eq!(own_v1_path(text, "cpuacct").as_deref(), Some("/user.slice"));
        assert_eq!(own_v1_path(text, "").as_deref(), Some("/init.scope"));
        assert_eq!(own_v1_path(text, "blkio"), None);
    }

    #[test]
    fn detects_v1_v2_hybrid_and_none() {
        let t = Tmp::new("detect");
        let v2 = t.0.join("v2");
        touch(&v2.join("cgroup.controllers"));
        assert_eq!(detect(&v2), Some(Version::V2));
        // Hybrid: v1 controllers plus an empty unified mount.
        let hybrid = t.0.join("hybrid");
        touch(&hybrid.join("memory/cgroup.procs"));
        touch(&hybrid.join("cpuacct/cgroup.procs"));
        touch(&hybrid.join("unified/cgroup.controllers"));
        assert_eq!(detect(&hybrid), Some(Version::V1));
        // Co-mounted cpu,cpuacct.
        let co = t.0.join("co");
        touch(&co.join("memory/cgroup.procs"));
        touch(&co.join("cpu,cpuacct/cgroup.procs"));
        assert_eq!(detect(&co), Some(Version::V1));
        assert_eq!(v1_mount(&co, "cpu"), Some(co.join("cpu,cpuacct")));
        let none = t.0.join("none");
        fs::create_dir_all(&none).unwrap();
        assert_eq!(detect(&none), None);
    }

    #[test]
    fn v1_groups_nest_under_own_group_and_clean_up() {
        let t = Tmp::new("v1");
        let root = &t.0;
        for c in ["cpu", "cpuacct", "memory"] {
            touch(&root.join(c).join("cgroup.procs"));
        }
        fs::create_dir_all(root.join("memory/outer")).unwrap();
        let proc_self = "4:memory:/outer\n2:cpuacct:/\n1:cpu:/\n";
        let mut g = Groups::create(root, proc_self, "bench", 8192, 2 << 30).unwrap();
        assert_eq!(g.version, Version::V1);
        assert_eq!(
            fs::read_to_string(root.join("cpu/bench/cpu.shares")).unwrap(),
            "8192"
        );
        assert_eq!(
            fs::read_to_string(root.join("memory/outer/bench/memory.limit_in_bytes")).unwrap(),
            (2u64 << 30).to_string()
        );
        assert_eq!(
            g.memory_procs(),
            root.join("memory/outer/bench/cgroup.procs")
        );
        fs::write(root.join("cpuacct/bench/cpuacct.usage"), "5000\n").unwrap();
        assert_eq!(g.cpu_ns(), Ok(5000));
        g.join_self().unwrap();
        let pid = std::process::id().to_string();
        assert_eq!(
            fs::read_to_string(root.join("cpu/bench/cgroup.procs")).unwrap(),
            pid
        );
        assert_eq!(
            fs::read_to_string(root.join("cpuacct/bench/cgroup.procs")).unwrap(),
            pid
        );
        g.drop_memory_group_cache().unwrap();
        assert_eq!(
            fs::read_to_string(root.join("memory/outer/bench/memory.force_empty")).unwrap(),
            "0"
        );
        fs::write(
            root.join("memory/outer/bench/memory.stat"),
            "cache 8192\nrss 1\n",
        )
        .unwrap();
        assert_eq!(g.memory_group_cache(), Some(8192));
        // A real cgroupfs removes a group's files with it; the fake tree needs them gone first.
        for d in ["cpu/bench", "cpuacct/bench", "memory/outer/bench"] {
            for e in fs::read_dir(root.join(d)).unwrap() {
                fs::remove_file(e.unwrap().path()).unwrap();
            }
        }
        g.remove();
        assert!(!root.join("cpu/bench").exists());
        assert!(!root.join("memory/outer/bench").exists());
        assert_eq!(
            fs::read_to_string(root.join("cpu/cgroup.procs")).unwrap(),
            pid
        );
    }

    #[test]
    fn v2_groups_put_driver_and_server_in_leaves() {
        let t = Tmp::new("v2");
        let root = &t.0;
        touch(&root.join("cgroup.controllers"));
        touch(&root.join("cgroup.procs"));
        let g = Groups::create(root, "0::/\n", "bench", 8192, 1 << 30).unwrap();
        assert_eq!(g.version, Version::V2);
        assert_eq!(
            fs::read_to_string(root.join("bench/cpu.weight")).unwrap(),
            "800"
        );
        assert_eq!(
            fs::read_to_string(root.join("bench/container/memory.max")).unwrap(),
            (1u64 << 30).to_string()
        );
        assert_eq!(g.memory_procs(), root.join("bench/container/cgroup.procs"));
        fs::write(root.join("bench/cpu.stat"), "usage_usec 7\n").unwrap();
        assert_eq!(g.cpu_ns(), Ok(7000));
    }

    #[test]
    fn creation_failure_removes_what_was_made() {
        let t = Tmp::new("fail");
        let root = &t.0;
        touch(&root.join("cpu/cgroup.procs"));
        touch(&root.join("cpuacct/cgroup.procs"));
        touch(&root.join("memory/cgroup.procs"));
        // memory's own group path points to a file, so creating the child fails there.
        fs::write(root.join("memory/bench"), "in the way").unwrap();
        let err = Groups::create(root, "", "bench", 1024, 1 << 30).unwrap_err();
        assert!(err.contains("memory/bench"), "{err}");
        assert!(!root.join("cpu/bench").exists());
    }
}
