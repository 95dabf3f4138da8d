//! Whether a local postmaster's shared memory sits on huge pages: the postmaster's PID from
//! `postmaster.pid` in its data directory, the hugetlb mappings in `/proc/PID/smaps`, and the
//! reservation in `/proc/meminfo`. PostgreSQL 17 says it itself (`huge_pages_status`); before,
//! `huge_pages = try` falls back to normal pages without a word, and only the kernel's view
//! of the process tells. Pure parsers plus one reader that takes the filesystem root, so
//! tests run it against a fixture tree; anything unreadable becomes `problem`, never an error.

use std::fs;
use std::path::Path;

use super::kernel::meminfo_field;
use crate::facts::HugePagesProbe;

/// The PID on the first line of `postmaster.pid`.
pub fn parse_postmaster_pid(text: &str) -> Option<u32> {
    text.lines().next()?.trim().parse().ok().filter(|&p| p > 0)
}

/// kB of the mappings in a `smaps` text whose kernel page size is larger than the smallest
/// one in the file (the base page): the hugetlb mappings. Transparent huge pages do not
/// change `KernelPageSize`, so only explicit huge pages (what `huge_pages` asks for) count.
pub fn huge_mapped_kb(smaps: &str) -> u64 {
    // (Size, KernelPageSize) of each mapping, in kB.
    let mut mappings: Vec<(u64, Option<u64>)> = Vec::new();
    for line in smaps.lines() {
        if let Some(size) = meminfo_field(line, "Size") {
            mappings.push((size, None));
        } else if let Some(page) = meminfo_field(line, "KernelPageSize")
            && let Some(last) = mappings.last_mut()
        {
            last.1 = Some(page);
        }
    }
    let Some(base) = mappings.iter().filter_map(|m| m.1).min() else {
        return 0;
    };
    mappings
        .iter()
        .filter(|m| m.1.is_some_and(|p| p > base))
        .fold(0u64, |acc, m| acc.saturating_add(m.0))
}

/// Reads the probe for the server whose data directory is `data_dir` (as `SHOW
/// data_directory` names it), on the machine whose `/proc` is under `root`.
pub fn probe_at(root: &Path, data_dir: Option<&str>) -> HugePagesProbe {
    let meminfo = fs::read_to_string(root.join("proc/meminfo")).unwrap_or_default();
    let mut probe = HugePagesProbe {
        postmaster_pid: None,
        huge_mapped_kb: None,
        hugepages_total: meminfo_field(&meminfo, "HugePages_Total"),
        hugepages_rsvd: meminfo_field(&meminfo, "HugePages_Rsvd"),
        hugepage_size_kb: meminfo_field(&meminfo, "Hugepagesize"),
        problem: None,
    };
    let Some(data_dir) = data_dir else {
        probe.problem = Some(
            "data_directory is not visible to this role (pg_read_all_settings or pg_monitor \
             shows it), so the postmaster could not be found"
                .to_owned(),
        );
        return probe;
    };
    let pid_file = root
        .join(data_dir.trim_start_matches('/'))
        .join("postmaster.pid");
    let pid = match fs::read_to_string(&pid_file) {
        Ok(text) => parse_postmaster_pid(&text),
        Err(e) => {
            probe.problem = Some(format!("cannot read {}: {e}", pid_file.display()));
            return probe;
        }
    };
    let Some(pid) = pid else {
        probe.problem = Some(format!("{} holds no PID", pid_file.display()));
        return probe;
    };
    probe.postmaster_pid = Some(pid);
    let smaps = root.join(format!("proc/{pid}/smaps"));
    match fs::read_to_string(&smaps) {
        Ok(text) => probe.huge_mapped_kb = Some(huge_mapped_kb(&text)),
        Err(e) => {
            probe.problem = Some(format!(
                "cannot read {} ({e}): run as root or the server's OS user",
                smaps.display()
            ));
        }
    }
    probe
}

/// [`probe_at`] on this machine.
pub fn probe(data_dir: Option<&str>) -> HugePagesProbe {
    probe_at(Path::new("/"), data_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NORMAL: &str = "\
55d0c0000000-55d0c0100000 r-xp 00000000 08:01 1234 /usr/lib/postgresql/15/bin/postgres
Size:               1024 kB
KernelPageSize:        4 kB
MMUPageSize:           4 kB
7f0000000000-7f0008c00000 rw-s 00000000 00:01 5678 /dev/zero (deleted)
Size:             143360 kB
KernelPageSize:        4 kB
MMUPageSize:           4 kB
AnonHugePages:      2048 kB
";

    const HUGE: &str = "\
55d0c0000000-55d0c0100000 r-xp 00000000 08:01 1234 /usr/lib/postgresql/15/bin/postgres
Size:               1024 kB
KernelPageSize:        4 kB
7f0000000000-7f0008c00000 rw-s 00000000 00:0f 5678 /anon_hugepage (deleted)
Size:             145408 kB
KernelPageSize:     2048 kB
";

    #[test]
    fn counts_only_hugetlb_mappings() {
        assert_eq!(huge_mapped_kb(NORMAL), 0, "THP does not count");
        assert_eq!(huge_mapped_kb(HUGE), 145_408);
        assert_eq!(huge_mapped_kb(""), 0);
        assert_eq!(huge_mapped_kb("Size: x kB\n"), 0);
    }

    #[test]
    fn postmaster_pid_is_the_first_line() {
        assert_eq!(
            parse_postmaster_pid("4242\n/var/lib/pg\n1700000000\n5432\n"),
            Some(4242)
        );
        assert_eq!(parse_postmaster_pid(""), None);
        assert_eq!(parse_postmaster_pid("0\n"), None);
        assert_eq!(parse_postmaster_pid("pid\n"), None);
    }

    fn tree(smaps: Option<&str>) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| {
            let p = root.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        };
        w(
            "proc/meminfo",
            "HugePages_Total:      0\nHugePages_Rsvd:       0\nHugepagesize:       2048 kB\n",
        );
        w("srv/pg/data/postmaster.pid", "777\n/srv/pg/data\n");
        if let Some(s) = smaps {
            w("proc/777/smaps", s);
        }
        root
    }

    #[test]
    fn reads_the_postmaster_of_the_data_directory() {
        let root = tree(Some(HUGE));
        let p = probe_at(root.path(), Some("/srv/pg/data"));
        assert_eq!(p.postmaster_pid, Some(777));
        assert_eq!(p.huge_mapped_kb, Some(145_408));
        assert_eq!(p.hugepages_total, Some(0));
        assert_eq!(p.hugepages_rsvd, Some(0));
        assert_eq!(p.hugepage_size_kb, Some(2048));
        assert_eq!(p.problem, None);
        let p = probe_at(tree(Some(NORMAL)).path(), Some("/srv/pg/data"));
        assert_eq!(p.huge_mapped_kb, Some(0));
    }

    #[test]
    fn says_what_it_could_not_read() {
        let root = tree(None);
        let p = probe_at(root.path(), Some("/srv/pg/data"));
        assert_eq!(p.postmaster_pid, Some(777));
        assert_eq!(p.huge_mapped_kb, None);
        assert!(p.problem.unwrap().contains("proc/777/smaps"));
        let p = probe_at(root.path(), Some("/elsewhere"));
        assert_eq!(p.postmaster_pid, None);
        assert!(p.problem.unwrap().contains("postmaster.pid"));
        let p = probe_at(root.path(), None);
        assert!(p.problem.unwrap().contains("data_directory"));
    }
}
