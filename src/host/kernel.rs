//! The Linux kernel's memory settings that PostgreSQL cares about: the huge page size and
//! reservation (`/proc/meminfo`), transparent huge pages
//! (`/sys/kernel/mm/transparent_hugepage/enabled`), and `vm.overcommit_memory`,
//! `vm.overcommit_ratio` and `vm.swappiness` (`/proc/sys/vm`). Small pure parsers plus one
//! reader that takes the filesystem root, so tests run it against a fixture tree. Anything
//! unreadable is `None`: the advice then says it does not know rather than guessing.

use std::fs;
use std::path::Path;

pub use crate::tune::host_advice::KernelFacts;

/// The number of a `/proc/meminfo` line `key: N [kB]`.
pub fn meminfo_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The bracketed word of a sysfs mode file: `always [madvise] never` → `madvise`.
pub fn selected_mode(text: &str) -> Option<String> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix('[')?.strip_suffix(']'))
        .map(str::to_string)
}

/// Reads the facts of the machine whose `/proc` and `/sys` are under `root`.
pub fn read_at(root: &Path) -> KernelFacts {
    let read = |relative: &str| fs::read_to_string(root.join(relative)).ok();
    let number = |relative: &str| read(relative).and_then(|t| t.trim().parse().ok());
    let meminfo = read("proc/meminfo").unwrap_or_default();
    KernelFacts {
        hugepage_size_kb: meminfo_field(&meminfo, "Hugepagesize"),
        hugepages_total: meminfo_field(&meminfo, "HugePages_Total"),
        hugepages_free: meminfo_field(&meminfo, "HugePages_Free"),
        thp_enabled: read("sys/kernel/mm/transparent_hugepage/enabled")
            .as_deref()
            .and_then(selected_mode),
        overcommit_memory: number("proc/sys/vm/overcommit_memory"),
        overcommit_ratio: number("proc/sys/vm/overcommit_ratio"),
        swappiness: number("proc/sys/vm/swappiness"),
    }
}

/// This machine's facts.
pub fn read() -> KernelFacts {
    read_at(Path::new("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo_and_modes() {
        let text = "MemTotal: 8 kB\nHugePages_Total:      12\nHugePages_Free:       3\nHugepagesize:       2048 kB\n";
        assert_eq!(meminfo_field(text, "Hugepagesize"), Some(2048));
        assert_eq!(meminfo_field(text, "HugePages_Total"), Some(12));
        assert_eq!(meminfo_field(text, "HugePages_Free"), Some(3));
        assert_eq!(meminfo_field(text, "HugePages_Rsvd"), None);
        assert_eq!(
            meminfo_field("HugePages_Total: x\n", "HugePages_Total"),
            None
        );
        assert_eq!(
            selected_mode("always [madvise] never\n").as_deref(),
            Some("madvise")
        );
        assert_eq!(
            selected_mode("[always] madvise never").as_deref(),
            Some("always")
        );
        assert_eq!(selected_mode("always madvise never"), None);
    }

    #[test]
    fn reads_a_fixture_root() {
        let root = tempfile::tempdir().unwrap();
        let put = |rel: &str, text: &str| {
            let p = root.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        };
        put(
            "proc/meminfo",
            "HugePages_Total: 5\nHugePages_Free: 5\nHugepagesize: 1048576 kB\n",
        );
        put(
            "sys/kernel/mm/transparent_hugepage/enabled",
            "[always] madvise never\n",
        );
        put("proc/sys/vm/overcommit_memory", "2\n");
        put("proc/sys/vm/swappiness", "60\n");
        let k = read_at(root.path());
        assert_eq!(k.hugepage_size_kb, Some(1_048_576));
        assert_eq!(k.hugepages_total, Some(5));
        assert_eq!(k.thp_enabled.as_deref(), Some("always"));
        assert_eq!(k.overcommit_memory, Some(2));
        assert_eq!(k.overcommit_ratio, None);
        assert_eq!(k.swappiness, Some(60));
        assert_eq!(
            read_at(&root.path().join("nothing")),
            KernelFacts::default()
        );
    }
}
