//! The memory safety check: can a configuration's memory, added up the way postgresqltuner
//! does, exceed the RAM it runs in?
//!
//! `shared_buffers + max_connections × work_mem × WORK_MEM_MULTIPLIER + autovacuum workers ×
//! (autovacuum_work_mem, or maintenance_work_mem when that is -1)`, against RAM or the cgroup
//! limit, whichever is smaller. It is pure, so `recommend` checks its own answer (or the
//! connections the user forced on it) and `report` can check a live server's settings with the
//! same arithmetic. The formula and multiplier are documented in `docs/recommendation-rules.md`.

use crate::units::KB_BYTES;

/// How many work_mem allowances each connection is counted for. postgresqltuner counts one:
/// most sessions run at most one sort or hash at a time, and PGTune's work_mem rule already
/// divides by 3 for the queries that run several. A configuration that overflows RAM even at
/// one allowance per connection can exhaust memory under ordinary load.
pub const WORK_MEM_MULTIPLIER: u64 = 1;

/// The settings the check adds up, in kB (counts are plain numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    /// shared_buffers.
    pub shared_buffers_kb: u64,
    /// max_connections.
    pub max_connections: u64,
    /// work_mem.
    pub work_mem_kb: u64,
    /// autovacuum_max_workers.
    pub autovacuum_workers: u64,
    /// What each autovacuum worker may use: autovacuum_work_mem, or maintenance_work_mem when
    /// autovacuum_work_mem is -1.
    pub autovacuum_mem_kb: u64,
}

impl MemoryUse {
    /// From a server's settings: `size_kb(name)` gives a size setting in kB (`None` for -1 or
    /// unknown), `count(name)` a plain number. autovacuum_work_mem = -1 means
    /// maintenance_work_mem, as the server reads it. `report` can feed pg_settings through it.
    pub fn from_settings(
        size_kb: impl Fn(&str) -> Option<u64>,
        count: impl Fn(&str) -> Option<u64>,
    ) -> MemoryUse {
        MemoryUse {
            shared_buffers_kb: size_kb("shared_buffers").unwrap_or(0),
            max_connections: count("max_connections").unwrap_or(0),
            work_mem_kb: size_kb("work_mem").unwrap_or(0),
            autovacuum_workers: count("autovacuum_max_workers").unwrap_or(0),
            autovacuum_mem_kb: size_kb("autovacuum_work_mem")
                .or_else(|| size_kb("maintenance_work_mem"))
                .unwrap_or(0),
        }
    }
}

/// The outcome of [`check`], with every number that went into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryCheck {
    /// The inputs.
    pub usage: MemoryUse,
    /// Their sum, in kB.
    pub total_kb: u64,
    /// RAM (or the cgroup limit), in kB.
    pub ram_kb: u64,
}

impl MemoryCheck {
    /// Whether the sum exceeds RAM.
    pub fn exceeds(&self) -> bool {
        self.total_kb > self.ram_kb
    }

    /// One line with the numbers: "shared_buffers 1GB + 5000 connections × work_mem 4MB × 1 +
    /// 3 autovacuum workers × 256MB = 20.6 GiB, more than the 4 GiB of RAM: …".
    pub fn message(&self) -> String {
        let u = &self.usage;
        let size = |kb: u64| crate::units::format_kb(kb);
        let human = |kb: u64| crate::units::format_bytes_human(kb.saturating_mul(KB_BYTES));
        let sum = format!(
            "shared_buffers {} + {} connections × work_mem {} × {WORK_MEM_MULTIPLIER} + {} autovacuum workers × {} = {}",
            size(u.shared_buffers_kb),
            u.max_connections,
            size(u.work_mem_kb),
            u.autovacuum_workers,
            size(u.autovacuum_mem_kb),
            human(self.total_kb),
        );
        if self.exceeds() {
            format!(
                "memory can run out: {sum}, more than the {} of RAM; lower max_connections (a connection pooler serves many clients with few connections) or work_mem",
                human(self.ram_kb)
            )
        } else {
            format!(
                "memory fits: {sum}, within the {} of RAM",
                human(self.ram_kb)
            )
        }
    }
}

/// Adds up `usage` against `ram_kb` (RAM or the cgroup limit, whichever is smaller).
pub fn check(usage: MemoryUse, ram_kb: u64) -> MemoryCheck {
    let total_kb = usage
        .shared_buffers_kb
        .saturating_add(
            usage
                .max_connections
                .saturating_mul(usage.work_mem_kb)
                .saturating_mul(WORK_MEM_MULTIPLIER),
        )
        .saturating_add(
            usage
                .autovacuum_workers
                .saturating_mul(usage.autovacuum_mem_kb),
        );
    MemoryCheck {
        usage,
        total_kb,
        ram_kb,
    }
}

/// The check of a recommendation: its settings, with the target major's defaults for those
/// it leaves at the default (autovacuum_max_workers, autovacuum_work_mem = -1).
pub fn check_recommendation(recs: &super::Recommendations) -> MemoryCheck {
    let kb = |name: &str| match recs.value_or_default(name) {
        Some(super::Value::SizeKb(kb)) => Some(kb),
        _ => None,
    };
    let count = |name: &str| match recs.value_or_default(name) {
        Some(super::Value::Int(n)) => Some(n),
        _ => None,
    };
    let usage = MemoryUse::from_settings(kb, |name| match name {
        "max_connections" => count(name).or(Some(u64::from(recs.connections))),
        _ => count(name),
    });
    check(usage, recs.input.ram_kb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::{Profile, TuneInput};
    use crate::units::{GB_KB, MB_KB};

    fn input(ram_kb: u64, connections: Option<u32>, profile: Profile) -> TuneInput {
        TuneInput {
            connections,
            ..crate::tune::tests::input(ram_kb, 4, profile)
        }
    }

    #[test]
    fn adds_up_the_documented_formula() {
        let usage = MemoryUse {
            shared_buffers_kb: GB_KB,
            max_connections: 5000,
            work_mem_kb: 4 * MB_KB,
            autovacuum_workers: 3,
            autovacuum_mem_kb: 256 * MB_KB,
        };
        let c = check(usage, 4 * GB_KB);
        assert_eq!(c.total_kb, GB_KB + 5000 * 4 * MB_KB + 3 * 256 * MB_KB);
        assert!(c.exceeds());
        assert_eq!(
            c.message(),
            "memory can run out: shared_buffers 1GB + 5000 connections × work_mem 4MB × 1 + 3 autovacuum workers × 256MB = 21.3 GiB, more than the 4 GiB of RAM; lower max_connections (a connection pooler serves many clients with few connections) or work_mem"
        );
        // Exactly RAM is not over it.
        let fits = check(usage, c.total_kb);
        assert!(!fits.exceeds());
        assert!(
            fits.message().starts_with("memory fits: "),
            "{}",
            fits.message()
        );
        // Absurd values saturate rather than wrap around to a small sum.
        let huge = check(
            MemoryUse {
                max_connections: u64::MAX,
                ..usage
            },
            u64::MAX - 1,
        );
        assert!(huge.exceeds());
    }

    #[test]
    fn the_recommended_configuration_fits_and_forced_connections_do_not() {
        for profile in Profile::ALL {
            for ram in [GB_KB, 4 * GB_KB, 16 * GB_KB, 256 * GB_KB] {
                let recs = crate::tune::recommend(&input(ram, None, profile));
                let c = check_recommendation(&recs);
                if ram >= 4 * GB_KB {
                    assert!(!c.exceeds(), "{profile:?} {ram}: {}", c.message());
                }
                assert_eq!(c.ram_kb, ram);
            }
        }
        // 5000 connections on 4GB: work_mem stays at its 4MB floor, 5000 × 4MB is 19.5GB.
        let recs = crate::tune::recommend(&input(4 * GB_KB, Some(5000), Profile::Web));
        let c = check_recommendation(&recs);
        assert_eq!(c.usage.max_connections, 5000);
        assert_eq!(c.usage.work_mem_kb, 4 * MB_KB);
        // autovacuum_max_workers is left at the default 3, each with maintenance_work_mem.
        assert_eq!(c.usage.autovacuum_workers, 3);
        assert_eq!(c.usage.autovacuum_mem_kb, 256 * MB_KB);
        assert!(c.exceeds());
        assert!(
            recs.warnings.iter().any(|w| w == &c.message()),
            "{:?}",
            recs.warnings
        );
        // A fitting recommendation says nothing about memory.
        let recs = crate::tune::recommend(&input(16 * GB_KB, None, Profile::Web));
        assert!(
            !recs
                .warnings
                .iter()
                .any(|w| w.contains("memory can run out"))
        );
    }

    #[test]
    fn from_a_servers_settings() {
        // What pg_settings says on a default PostgreSQL 15 (8kB blocks already converted).
        let size = |name: &str| match name {
            "shared_buffers" => Some(128 * MB_KB),
            "work_mem" => Some(4 * MB_KB),
            "maintenance_work_mem" => Some(64 * MB_KB),
            _ => None, // autovacuum_work_mem = -1
        };
        let count = |name: &str| match name {
            "max_connections" => Some(100),
            "autovacuum_max_workers" => Some(3),
            _ => None,
        };
        let usage = MemoryUse::from_settings(size, count);
        assert_eq!(usage.autovacuum_mem_kb, 64 * MB_KB);
        let c = check(usage, GB_KB);
        assert_eq!(c.total_kb, (128 + 400 + 192) * MB_KB);
        assert!(!c.exceeds());
        assert!(check(usage, 512 * MB_KB).exceeds());
    }

    #[test]
    fn autovacuum_work_mem_counts_instead_of_maintenance_work_mem_when_set() {
        // 64GB dw: maintenance_work_mem 8GB, autovacuum_work_mem 2GB.
        let recs = crate::tune::recommend(&input(64 * GB_KB, None, Profile::Dw));
        let c = check_recommendation(&recs);
        assert_eq!(c.usage.autovacuum_mem_kb, 2 * GB_KB);
    }
}
