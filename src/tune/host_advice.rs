//! Advice for the Linux kernel under the recommended configuration: how many huge pages to
//! reserve (`vm.nr_hugepages`) and whether the current reservation suffices, the transparent
//! huge pages mode, `vm.overcommit_memory`/`vm.overcommit_ratio` and `vm.swappiness`.
//!
//! Pure: the caller reads the kernel (`host::kernel`) and, when it can, asks the server how
//! much shared memory the settings take (`host::pg::shared_memory_huge_pages`, PostgreSQL 15
//! and later); otherwise the size is estimated from a formula fitted to what PostgreSQL 15
//! computes, and the advice says it is an estimate. The rules are in
//! `docs/recommendation-rules.md`.

use serde::Serialize;

use super::{Profile, Recommendations, Value};
use crate::units::{KB_BYTES, MB_KB};

/// What the kernel says about memory (read by `host::kernel`, the input of [`advise`]); every field `None` when unknown (not Linux, no /proc).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KernelFacts {
    /// `Hugepagesize` from /proc/meminfo, in kB: the page size PostgreSQL uses by default.
    pub hugepage_size_kb: Option<u64>,
    /// `HugePages_Total`: huge pages reserved now (vm.nr_hugepages).
    pub hugepages_total: Option<u64>,
    /// `HugePages_Free`: reserved huge pages not in use now.
    pub hugepages_free: Option<u64>,
    /// The selected transparent huge pages mode (`always`, `madvise`, `never`).
    pub thp_enabled: Option<String>,
    /// vm.overcommit_memory (0 heuristic, 1 always, 2 strict).
    pub overcommit_memory: Option<u64>,
    /// vm.overcommit_ratio (percent of RAM counted by strict overcommit).
    pub overcommit_ratio: Option<u64>,
    /// vm.swappiness.
    pub swappiness: Option<u64>,
}

/// Shared memory besides the buffer pool and the per-backend part (lock manager base, CLOG,
/// commit timestamps, hash table headers…), in kB; fitted to PostgreSQL 15's
/// `shared_memory_size` (8 to 12MB over the sizes measured), rounded up.
pub const SHMEM_FIXED_KB: u64 = 12 * MB_KB;
/// Per-buffer overhead in thousandths of shared_buffers: descriptors, buffer mapping table,
/// I/O condition variables, checkpoint sort array (about 180 bytes per 8kB buffer).
pub const SHMEM_BUFFER_OVERHEAD_PERMILLE: u64 = 23;
/// Shared memory per backend slot (PGPROC, lock table entries at max_locks_per_transaction 64,
/// predicate locks…), in kB; 41MB per 900 extra connections measured on PostgreSQL 15.
pub const SHMEM_PER_BACKEND_KB: u64 = 46;
/// vm.swappiness for a database host: swap only under real memory pressure. Not 0, which
/// lets the OOM killer act before anything is swapped.
pub const DB_SWAPPINESS: u64 = 1;
/// vm.overcommit_ratio with strict overcommit: the commit limit is swap + this % of RAM. The
/// kernel's default 50 would refuse PostgreSQL's own allocations on a host without swap.
pub const DB_OVERCOMMIT_RATIO: u64 = 80;

/// How the shared memory size was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedMemory {
    /// The server computed the huge pages itself; `how` names the command.
    Computed {
        /// `shared_memory_size_in_huge_pages`.
        huge_pages: u64,
        /// For the comment: "postgres -C shared_memory_size_in_huge_pages (…/15/bin, -D …)".
        how: String,
    },
    /// Estimated with [`estimate_shared_memory_kb`]; `why` says why the server was not asked.
    Estimated {
        /// "no --data-dir", "PostgreSQL 14 has no shared_memory_size_in_huge_pages", or the
        /// server's refusal.
        why: String,
    },
}

/// One item of advice: a sysctl key with the value to set (`None`: comment only, nothing to
/// change or nothing we can say), and the comment lines that explain it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Advice {
    /// `vm.nr_hugepages`; `transparent_hugepage` is not a sysctl and never has a value.
    pub key: &'static str,
    /// The value for the sysctl.d file.
    pub value: Option<String>,
    /// Why, in one or more lines, with the current value.
    pub comments: Vec<String>,
}

fn size_kb(recs: &Recommendations, name: &str) -> Option<u64> {
    match recs.value_or_default(name) {
        Some(Value::SizeKb(kb)) => Some(kb),
        _ => None,
    }
}

fn count(recs: &Recommendations, name: &str) -> u64 {
    match recs.value_or_default(name) {
        Some(Value::Int(n)) => n,
        _ => 0,
    }
}

/// The estimated shared memory of the recommended configuration, in kB: shared_buffers plus
/// [`SHMEM_BUFFER_OVERHEAD_PERMILLE`] of it, wal_buffers (-1: shared_buffers/32, 64kB to
/// 16MB), [`SHMEM_FIXED_KB`], and [`SHMEM_PER_BACKEND_KB`] per backend slot (max_connections +
/// autovacuum_max_workers + 1 launcher + max_worker_processes + max_wal_senders).
pub fn estimate_shared_memory_kb(recs: &Recommendations) -> u64 {
    let sb = size_kb(recs, "shared_buffers").unwrap_or(128 * MB_KB);
    let wal_buffers =
        size_kb(recs, "wal_buffers").unwrap_or_else(|| (sb / 32).clamp(64, 16 * MB_KB));
    let slots = count(recs, "max_connections")
        + count(recs, "autovacuum_max_workers")
        + 1
        + count(recs, "max_worker_processes")
        + count(recs, "max_wal_senders");
    sb.saturating_add(sb.saturating_mul(SHMEM_BUFFER_OVERHEAD_PERMILLE) / 1000)
        .saturating_add(wal_buffers)
        .saturating_add(SHMEM_FIXED_KB)
        .saturating_add(slots.saturating_mul(SHMEM_PER_BACKEND_KB))
}

fn kb_text(kb: u64) -> String {
    crate::units::format_bytes_human(kb.saturating_mul(KB_BYTES))
}

fn now(v: Option<u64>) -> String {
    v.map_or_else(|| "unknown".to_string(), |v| v.to_string())
}

/// The advice for `recs` on a Linux host with `kernel`; `shmem` is how the huge pages count
/// was found.
pub fn advise(recs: &Recommendations, kernel: &KernelFacts, shmem: &SharedMemory) -> Vec<Advice> {
    let mut out = vec![huge_pages(recs, kernel, shmem)];
    out.push(Advice {
        key: "transparent_hugepage",
        value: None,
        comments: vec![match kernel.thp_enabled.as_deref() {
            Some("always") => "always now; set madvise or never (transparent_hugepage=madvise on the kernel command line, not a sysctl): backends stall compacting memory".to_string(),
            Some(mode) => format!("{mode} now, fine: PostgreSQL does not ask for them (not a sysctl)"),
            None => "mode unknown (no /sys/kernel/mm/transparent_hugepage/enabled)".to_string(),
        }],
    });
    let dedicated = recs.input.profile != Profile::Desktop;
    if dedicated {
        out.push(Advice {
            key: "vm.overcommit_memory",
            value: Some("2".to_string()),
            comments: vec![format!(
                "now {}; strict accounting: an allocation that cannot be met fails in one backend instead of the OOM killer ending the postmaster (PostgreSQL docs, Linux Memory Overcommit)",
                now(kernel.overcommit_memory)
            )],
        });
        out.push(Advice {
            key: "vm.overcommit_ratio",
            value: Some(DB_OVERCOMMIT_RATIO.to_string()),
            comments: vec![format!(
                "now {}; with strict accounting the commit limit is swap + {DB_OVERCOMMIT_RATIO}% of RAM (the default 50 starves a host without swap)",
                now(kernel.overcommit_ratio)
            )],
        });
        out.push(Advice {
            key: "vm.swappiness",
            value: Some(DB_SWAPPINESS.to_string()),
            comments: vec![format!(
                "now {}; swap only under real memory pressure, so shared_buffers and work_mem stay in RAM",
                now(kernel.swappiness)
            )],
        });
    } else {
        out.push(Advice {
            key: "vm.overcommit_memory",
            value: None,
            comments: vec![format!(
                "now {}; desktop: the host runs other programs, keep the kernel's default heuristic (0)",
                now(kernel.overcommit_memory)
            )],
        });
    }
    out
}

/// Whether the snippet turns huge pages on (`huge_pages = try`), so a reservation is advised.
pub fn wants_huge_pages(recs: &Recommendations) -> bool {
    recs.get("huge_pages")
        .is_some_and(|s| matches!(s.value, Value::Word("try" | "on")))
}

fn huge_pages(recs: &Recommendations, kernel: &KernelFacts, shmem: &SharedMemory) -> Advice {
    let key = "vm.nr_hugepages";
    let wanted = wants_huge_pages(recs);
    let reserved = kernel.hugepages_total;
    if !wanted {
        let mut comments = vec![
            "not needed: huge_pages = off in this snippet (shared_buffers below 2GB)".to_string(),
        ];
        if let Some(n) = reserved.filter(|n| *n > 0) {
            comments.push(format!(
                "this host reserves {n} huge pages now; ordinary memory cannot use them"
            ));
        }
        return Advice {
            key,
            value: None,
            comments,
        };
    }
    let Some(page_kb) = kernel.hugepage_size_kb.filter(|kb| *kb > 0) else {
        return Advice {
            key,
            value: None,
            comments: vec![
                "huge page size unknown (no Hugepagesize in /proc/meminfo); reserve shared memory / huge page size pages".to_string(),
            ],
        };
    };
    let (pages, how) = match shmem {
        SharedMemory::Computed { huge_pages, how } => (*huge_pages, format!("computed by {how}")),
        SharedMemory::Estimated { why } => {
            let est = estimate_shared_memory_kb(recs);
            (
                est.div_ceil(page_kb),
                format!(
                    "ESTIMATE from shared memory ≈ {} (formula in docs/recommendation-rules.md; {why}); on PostgreSQL 15+ `postgres -C shared_memory_size_in_huge_pages -D DATADIR` on the stopped cluster gives the exact count",
                    kb_text(est)
                ),
            )
        }
    };
    let mut comments = vec![format!(
        "{pages} huge pages of {} for shared memory: {how}",
        kb_text(page_kb)
    )];
    comments.push(match reserved {
        Some(n) if n >= pages => format!("this host reserves {n} now: enough"),
        Some(n) => format!(
            "this host reserves {n} now: not enough; with huge_pages = try the server falls back to normal pages"
        ),
        None => "the current reservation is unknown (no HugePages_Total in /proc/meminfo)".to_string(),
    });
    Advice {
        key,
        value: Some(pages.to_string()),
        comments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::TuneInput;
    use crate::units::GB_KB;

    fn recs(ram_kb: u64, profile: Profile) -> Recommendations {
        crate::tune::recommend(&TuneInput {
            connections: Some(100),
            pg_version: 15,
            ..crate::tune::tests::input(ram_kb, 4, profile)
        })
    }

    fn kernel() -> KernelFacts {
        KernelFacts {
            hugepage_size_kb: Some(2048),
            hugepages_total: Some(0),
            hugepages_free: Some(0),
            thp_enabled: Some("madvise".into()),
            overcommit_memory: Some(0),
            overcommit_ratio: Some(50),
            swappiness: Some(60),
        }
    }

    fn find<'a>(advice: &'a [Advice], key: &str) -> &'a Advice {
        advice.iter().find(|a| a.key == key).unwrap()
    }

    #[test]
    fn the_estimate_is_close_to_what_postgresql_15_computes() {
        // PostgreSQL 15's shared_memory_size for shared_buffers 4GB and 16GB, max_connections
        // 100 and otherwise default settings (wal_buffers 16MB, 3 autovacuum workers, 8 worker
        // processes, 10 WAL senders): 4213MB and 16771MB. The estimate may be a little high
        // (the safe side), never low, and within 1%.
        for (sb_gb, measured_mb) in [(4u64, 4213u64), (16, 16771)] {
            let mut r = recs(4 * sb_gb * GB_KB, Profile::Web);
            r.settings
                .retain(|s| matches!(s.name, "shared_buffers" | "max_connections" | "huge_pages"));
            let est_mb = estimate_shared_memory_kb(&r) / MB_KB;
            assert!(
                est_mb >= measured_mb && est_mb <= measured_mb * 101 / 100,
                "{sb_gb}GB: estimated {est_mb}MB, PostgreSQL computes {measured_mb}MB"
            );
        }
    }

    #[test]
    fn huge_pages_count_and_whether_the_reservation_suffices() {
        let r = recs(16 * GB_KB, Profile::Web);
        let computed = SharedMemory::Computed {
            huge_pages: 2107,
            how: "postgres -C".into(),
        };
        let a = advise(&r, &kernel(), &computed);
        let hp = find(&a, "vm.nr_hugepages");
        assert_eq!(hp.value.as_deref(), Some("2107"));
        assert!(hp.comments[0].contains("computed by postgres -C"), "{hp:?}");
        assert!(
            hp.comments[1].contains("reserves 0 now: not enough"),
            "{hp:?}"
        );
        let mut k = kernel();
        k.hugepages_total = Some(2107);
        let hp = find(&advise(&r, &k, &computed), "vm.nr_hugepages").clone();
        assert!(
            hp.comments[1].ends_with("reserves 2107 now: enough"),
            "{hp:?}"
        );
        // Estimated: labelled, and the count covers the estimate in whole pages.
        let est = SharedMemory::Estimated {
            why: "no --data-dir".into(),
        };
        let hp = find(&advise(&r, &kernel(), &est), "vm.nr_hugepages").clone();
        let pages: u64 = hp.value.as_deref().unwrap().parse().unwrap();
        assert_eq!(pages, estimate_shared_memory_kb(&r).div_ceil(2048));
        assert!(hp.comments[0].contains("ESTIMATE") && hp.comments[0].contains("no --data-dir"));
        // 1GB pages: fewer of them.
        k.hugepage_size_kb = Some(GB_KB);
        let hp = find(&advise(&r, &k, &est), "vm.nr_hugepages").clone();
        assert_eq!(hp.value.as_deref(), Some("5"), "{hp:?}");
    }

    #[test]
    fn no_reservation_when_huge_pages_are_off_and_desktops_keep_their_kernel() {
        let r = recs(4 * GB_KB, Profile::Web); // shared_buffers 1GB: huge_pages off
        let mut k = kernel();
        k.hugepages_total = Some(64);
        let est = SharedMemory::Estimated { why: "x".into() };
        let a = advise(&r, &k, &est);
        let hp = find(&a, "vm.nr_hugepages");
        assert_eq!(hp.value, None);
        assert!(hp.comments[1].contains("reserves 64 huge pages"), "{hp:?}");
        assert_eq!(find(&a, "vm.swappiness").value.as_deref(), Some("1"));
        assert!(find(&a, "vm.swappiness").comments[0].starts_with("now 60;"));
        assert_eq!(find(&a, "vm.overcommit_memory").value.as_deref(), Some("2"));
        k.thp_enabled = Some("always".into());
        let a = advise(&recs(4 * GB_KB, Profile::Desktop), &k, &est);
        assert_eq!(find(&a, "vm.overcommit_memory").value, None);
        assert!(a.iter().all(|x| x.key != "vm.swappiness"));
        assert!(find(&a, "transparent_hugepage").comments[0].contains("set madvise or never"));
    }
}
