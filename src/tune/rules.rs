//! The rules of `recommendation-rules.md`, one function per group of settings, in integer kB
//! with a floor after every division (as PGTune does, so the numbers match it).
//!
//! One deliberate difference from PGTune: settings whose server unit is 8kB blocks
//! (shared_buffers, effective_cache_size, wal_buffers) are rounded down to a multiple of 8kB
//! before they are emitted. The server would otherwise round them itself and read back a
//! value other than the one we printed. The unrounded values feed the other formulas, so
//! work_mem and friends stay equal to PGTune's.

use super::defaults::{default_value, requires_restart, same_value};
use super::{
    DataSize, MAX_CPUS, MIN_CONNECTIONS, Os, Profile, Recommendation, Recommendations, Section,
    Storage, TuneInput, Value, default_connections,
};
use crate::units::{GB_KB, MB_KB};

/// shared_buffers, effective_cache_size and wal_buffers are stored in blocks of this many kB.
const BLOCK_KB: u64 = 8;
/// Ceiling for maintenance_work_mem: more does not speed up index builds or vacuum further.
const MAX_MAINTENANCE_WORK_MEM_KB: u64 = 8 * GB_KB;
/// Windows builds up to 17 cap per-operation memory below 2GB (their `long` is 32 bits).
const WINDOWS_MAX_WORK_MEM_KB: u64 = 2047 * MB_KB;
/// Threshold from which autovacuum_work_mem gets its own 2GB cap.
const AUTOVACUUM_WORK_MEM_FROM_KB: u64 = 2 * GB_KB;
/// Largest useful wal_buffers: one WAL segment.
const MAX_WAL_BUFFERS_KB: u64 = 16 * MB_KB;
/// PGTune rounds wal_buffers above this up to the 16MB ceiling.
const WAL_BUFFERS_ROUND_UP_FROM_KB: u64 = 14 * MB_KB;
/// Smallest wal_buffers the server accepts.
const MIN_WAL_BUFFERS_KB: u64 = 32;
/// work_mem never goes below PostgreSQL's own default.
const MIN_WORK_MEM_KB: u64 = 4 * MB_KB;
/// shared_buffers from which huge pages pay off.
pub const HUGE_PAGES_FROM_KB: u64 = 2 * GB_KB;
/// Below this much RAM the defaults may serve better.
const LOW_RAM_KB: u64 = 256 * MB_KB;
/// Above this much RAM, measure before raising shared_buffers further.
const HIGH_RAM_KB: u64 = 100 * GB_KB;
/// CPUs from which the parallel block is emitted.
const PARALLEL_FROM_CPUS: u32 = 4;
/// PostgreSQL's limit on max_parallel_workers and max_parallel_workers_per_gather.
const MAX_PARALLEL_WORKER_LIMIT: u64 = 1024;
/// Workers counted by the work_mem formula when no parallel block is emitted (the default
/// max_worker_processes).
const DEFAULT_WORKER_PROCESSES: u64 = 8;

/// Collects settings in order, filling in the default flag.
struct Builder<'a> {
    input: &'a TuneInput,
    settings: Vec<Recommendation>,
}

impl Builder<'_> {
    fn push(&mut self, section: Section, name: &'static str, value: Value, reason: String) {
        let is_default = default_value(name, self.input.pg_version, self.input.os)
            .is_some_and(|d| same_value(&d, &value));
        self.settings.push(Recommendation {
            name,
            value,
            section,
            reason,
            is_default,
            restart_required: requires_restart(name, self.input.pg_version),
        });
    }
}

fn round_to_block(kb: u64) -> u64 {
    kb / BLOCK_KB * BLOCK_KB
}

fn windows_capped(input: &TuneInput) -> bool {
    input.os == Os::Windows && input.pg_version <= 17
}

/// Runs every rule; see the module docs.
pub fn recommend(input: &TuneInput) -> Recommendations {
    let x = Basis::new(input);
    let mut b = Builder {
        input,
        settings: Vec::new(),
    };
    memory_shares(&mut b, &x);
    work_mem(&mut b, &x);
    huge_pages(&mut b, &x);
    autovacuum_work_mem(&mut b, &x);
    wal(&mut b, &x);
    planner(&mut b, &x);
    parallelism(&mut b, &x);
    io_and_autovacuum(&mut b, &x);
    let mut recs = Recommendations {
        warnings: warnings(input, x.profile),
        input: input.clone(),
        connections: x.connections,
        settings: b.settings,
        version_neutral: false,
        left_out: Vec::new(),
        host: Vec::new(),
    };
    // Many connections on little RAM keep work_mem at its floor, and the sum can outgrow RAM.
    let memory = super::memory::check_recommendation(&recs);
    if memory.exceeds() {
        recs.warnings.push(memory.message());
    }
    recs
}

/// The inputs after defaults and clamping, and the values several groups of rules share.
#[derive(Debug, Clone, Copy)]
struct Basis {
    /// RAM in kB.
    ram: u64,
    cpus: u32,
    connections: u32,
    profile: Profile,
    /// shared_buffers before rounding to blocks (the other formulas use it), and its share.
    sb: u64,
    sb_share: &'static str,
    /// maintenance_work_mem before the Windows cap, and its share.
    mwm_raw: u64,
    mwm_share: &'static str,
    /// Whether the parallel block is emitted.
    parallel: bool,
}

impl Basis {
    fn new(input: &TuneInput) -> Basis {
        let ram = input.ram_kb;
        let profile = input.profile;
        let cpus = input.cpus.clamp(1, MAX_CPUS);
        let (sb, sb_share) = if profile == Profile::Desktop {
            (ram / 16, "1/16")
        } else {
            (ram / 4, "25%")
        };
        let (mwm_raw, mwm_share) = if profile == Profile::Dw {
            (ram / 8, "1/8")
        } else {
            (ram / 16, "1/16")
        };
        Basis {
            ram,
            cpus,
            connections: input
                .connections
                .unwrap_or_else(|| default_connections(profile))
                .max(MIN_CONNECTIONS),
            profile,
            sb,
            sb_share,
            mwm_raw: mwm_raw.min(MAX_MAINTENANCE_WORK_MEM_KB),
            mwm_share,
            parallel: cpus >= PARALLEL_FROM_CPUS,
        }
    }
}

/// max_connections and the RAM shares: shared_buffers, effective_cache_size,
/// maintenance_work_mem.
fn memory_shares(b: &mut Builder<'_>, x: &Basis) {
    let Basis {
        ram,
        connections,
        profile,
        sb,
        sb_share,
        mwm_raw,
        mwm_share,
        ..
    } = *x;
    let input = b.input;
    let ram_text = crate::units::format_bytes_human(ram.saturating_mul(crate::units::KB_BYTES));
    b.push(
        Section::Memory,
        "max_connections",
        Value::Int(u64::from(connections)),
        match input.connections {
            // The value may be the flag or the server's own setting; the header says which.
            Some(_) => "work_mem below is sized for this many sessions".to_string(),
            None => format!(
                "{} profile default; work_mem below is sized for this many sessions",
                profile.as_str()
            ),
        },
    );

    b.push(
        Section::Memory,
        "shared_buffers",
        Value::SizeKb(round_to_block(sb)),
        format!("{sb_share} of {ram_text} RAM; the OS page cache serves the rest"),
    );

    let (ecs, ecs_share) = if profile == Profile::Desktop {
        (ram / 4, "25%")
    } else {
        (ram * 3 / 4, "75%")
    };
    b.push(
        Section::Memory,
        "effective_cache_size",
        Value::SizeKb(round_to_block(ecs)),
        format!("{ecs_share} of RAM: planner's estimate of shared_buffers plus OS cache"),
    );

    // The rules say "a value ≥ 2GB becomes 2047MB"; capping everything above 2047MB instead
    // also covers the 1MB band just below 2GB, so more RAM never yields a smaller value.
    let mwm = if windows_capped(input) {
        mwm_raw.min(WINDOWS_MAX_WORK_MEM_KB)
    } else {
        mwm_raw
    };
    b.push(
        Section::Memory,
        "maintenance_work_mem",
        Value::SizeKb(mwm),
        if mwm != mwm_raw {
            "capped at 2047MB: Windows builds before 18 reject 2GB and more".to_string()
        } else if mwm_raw == MAX_MAINTENANCE_WORK_MEM_KB {
            format!(
                "{mwm_share} of RAM, capped at 8GB: more does not speed up VACUUM or CREATE INDEX"
            )
        } else {
            format!("{mwm_share} of RAM for VACUUM, CREATE INDEX and ALTER TABLE")
        },
    );
}

/// work_mem: what RAM shared_buffers leaves, per connection and worker, three operations each.
fn work_mem(b: &mut Builder<'_>, x: &Basis) {
    let Basis {
        ram,
        cpus,
        connections,
        profile,
        sb,
        parallel,
        ..
    } = *x;
    let input = b.input;
    let workers = if parallel {
        u64::from(cpus)
    } else {
        DEFAULT_WORKER_PROCESSES
    };
    let base = ram.saturating_sub(sb) / ((u64::from(connections) + workers) * 3);
    let (mut wm, divisor_note) = match profile {
        Profile::Web | Profile::Oltp => (base, ""),
        Profile::Dw | Profile::Mixed => (base / 2, ", halved for large sorts"),
        Profile::Desktop => (base / 6, ", divided by 6 for a shared machine"),
    };
    let data_note = match input.data_size {
        DataSize::Less => {
            wm = wm * 13 / 10;
            ", ×1.3 as the data fits in RAM"
        }
        DataSize::Greater => {
            wm = wm * 9 / 10;
            ", ×0.9 as the data exceeds RAM"
        }
        DataSize::Mid => "",
    };
    let wm_floored = wm.max(MIN_WORK_MEM_KB);
    let wm_final = if windows_capped(input) {
        wm_floored.min(WINDOWS_MAX_WORK_MEM_KB)
    } else {
        wm_floored
    };
    b.push(
        Section::Memory,
        "work_mem",
        Value::SizeKb(wm_final),
        if wm < MIN_WORK_MEM_KB {
            format!(
                "(RAM − shared_buffers) / (({connections} connections + {workers} workers) × 3) is below 4MB; kept at 4MB"
            )
        } else if wm_final != wm_floored {
            "capped at 2047MB: Windows builds before 18 reject 2GB and more".to_string()
        } else {
            format!(
                "(RAM − shared_buffers) / (({connections} connections + {workers} workers) × 3){divisor_note}{data_note}"
            )
        },
    );
}

/// huge_pages: worth it from 2GB of shared_buffers; macOS has none.
fn huge_pages(b: &mut Builder<'_>, x: &Basis) {
    let Basis { sb, .. } = *x;
    let input = b.input;
    if input.os == Os::Macos {
        b.push(
            Section::Memory,
            "huge_pages",
            Value::Word("off"),
            "macOS has no huge pages for shared memory".to_string(),
        );
    } else if sb >= HUGE_PAGES_FROM_KB {
        b.push(
            Section::Memory,
            "huge_pages",
            Value::Word("try"),
            "shared_buffers ≥ 2GB: huge pages cut page-table overhead; reserve vm.nr_hugepages"
                .to_string(),
        );
    } else {
        b.push(
            Section::Memory,
            "huge_pages",
            Value::Word("off"),
            "shared_buffers < 2GB: huge pages gain little".to_string(),
        );
    }
}

/// autovacuum_work_mem: its own cap once maintenance_work_mem is large.
fn autovacuum_work_mem(b: &mut Builder<'_>, x: &Basis) {
    let Basis { mwm_raw, .. } = *x;
    let input = b.input;
    if mwm_raw >= AUTOVACUUM_WORK_MEM_FROM_KB {
        let (avwm, why) = if windows_capped(input) {
            (
                WINDOWS_MAX_WORK_MEM_KB,
                "capped at 2047MB on Windows before 18",
            )
        } else {
            (
                2 * GB_KB,
                "caps each autovacuum worker while maintenance_work_mem is larger",
            )
        };
        b.push(
            Section::Memory,
            "autovacuum_work_mem",
            Value::SizeKb(avwm),
            why.to_string(),
        );
    }
}

/// WAL and checkpoints: wal_buffers, WAL sizes, checkpoint pacing, wal_compression, and
/// minimal WAL for desktops.
fn wal(b: &mut Builder<'_>, x: &Basis) {
    let Basis { profile, sb, .. } = *x;
    let input = b.input;
    let mut wal_buffers = sb * 3 / 100;
    if wal_buffers > MAX_WAL_BUFFERS_KB {
        wal_buffers = MAX_WAL_BUFFERS_KB;
    }
    // PGTune's rule, strict inequality included: (14MB, 16MB) rounds up to a full segment.
    if wal_buffers > WAL_BUFFERS_ROUND_UP_FROM_KB && wal_buffers < MAX_WAL_BUFFERS_KB {
        wal_buffers = MAX_WAL_BUFFERS_KB;
    }
    let wal_buffers = round_to_block(wal_buffers.max(MIN_WAL_BUFFERS_KB));
    b.push(
        Section::WalCheckpoints,
        "wal_buffers",
        Value::SizeKb(wal_buffers),
        if wal_buffers == MAX_WAL_BUFFERS_KB {
            "3% of shared_buffers, capped at one 16MB WAL segment".to_string()
        } else {
            "3% of shared_buffers".to_string()
        },
    );

    let (min_wal, max_wal) = match profile {
        Profile::Web | Profile::Mixed => (GB_KB, 4 * GB_KB),
        Profile::Oltp => (2 * GB_KB, 8 * GB_KB),
        Profile::Dw => (4 * GB_KB, 16 * GB_KB),
        Profile::Desktop => (100 * MB_KB, 2 * GB_KB),
    };
    let wal_why = format!(
        "{} profile: room for write bursts between checkpoints",
        profile.as_str()
    );
    b.push(
        Section::WalCheckpoints,
        "min_wal_size",
        Value::SizeKb(min_wal),
        wal_why.clone(),
    );
    b.push(
        Section::WalCheckpoints,
        "max_wal_size",
        Value::SizeKb(max_wal),
        wal_why,
    );
    b.push(
        Section::WalCheckpoints,
        "checkpoint_completion_target",
        Value::Real("0.9"),
        "spread checkpoint writes over 90% of the interval".to_string(),
    );
    b.push(
        Section::WalCheckpoints,
        "checkpoint_timeout",
        Value::TimeMs(5 * 60_000),
        "time between checkpoints; longer means fewer full-page writes, slower recovery"
            .to_string(),
    );
    b.push(
        Section::WalCheckpoints,
        "wal_writer_delay",
        Value::TimeMs(200),
        "how often the WAL writer flushes asynchronous commits".to_string(),
    );
    // Only lz4, and only where the target build is known to have it: `on` means pglz, which
    // cost 6% TPS in our measurement, and lz4 stops a server built without it from starting.
    if input.pg_version >= 15 && input.build.lz4 == Some(true) {
        b.push(
            Section::WalCheckpoints,
            "wal_compression",
            Value::Word("lz4"),
            "compress full-page images with lz4 (this server's build has it)".to_string(),
        );
    }
    if profile == Profile::Desktop {
        b.push(
            Section::WalCheckpoints,
            "wal_level",
            Value::Word("minimal"),
            "desktop: no replication, so log the least WAL".to_string(),
        );
        b.push(
            Section::WalCheckpoints,
            "max_wal_senders",
            Value::Int(0),
            "required by wal_level = minimal".to_string(),
        );
    }
}

/// Planner costs: statistics target, random_page_cost, the CPU costs, jit.
fn planner(b: &mut Builder<'_>, x: &Basis) {
    let Basis { profile, .. } = *x;
    let input = b.input;
    let stats_target = if profile == Profile::Dw { 500 } else { 100 };
    b.push(
        Section::Planner,
        "default_statistics_target",
        Value::Int(stats_target),
        if profile == Profile::Dw {
            "dw: finer statistics for complex analytical plans".to_string()
        } else {
            "enough statistics for short queries".to_string()
        },
    );
    let (rpc, rpc_why) = if input.data_size == DataSize::Less {
        (
            "1.1",
            "the data fits in RAM: a random read costs about a sequential one",
        )
    } else if input.storage == Storage::Hdd {
        (
            "4",
            "rotational disks: random reads cost 4× sequential ones",
        )
    } else if profile == Profile::Dw {
        (
            "4",
            "dw: data beyond RAM is read from storage, keep random reads expensive",
        )
    } else {
        (
            "1.1",
            "solid-state storage: a random read costs about a sequential one",
        )
    };
    b.push(
        Section::Planner,
        "random_page_cost",
        Value::Real(rpc),
        rpc_why.to_string(),
    );
    for (name, value, why) in [
        ("seq_page_cost", "1.0", "the unit of all planner costs"),
        ("cpu_tuple_cost", "0.01", "cost of processing one row"),
        (
            "cpu_index_tuple_cost",
            "0.005",
            "cost of processing one index entry",
        ),
        ("cpu_operator_cost", "0.0025", "cost of one operator call"),
    ] {
        b.push(Section::Planner, name, Value::Real(value), why.to_string());
    }
    if matches!(profile, Profile::Web | Profile::Oltp | Profile::Mixed) {
        b.push(
            Section::Planner,
            "jit",
            Value::Word("off"),
            "short queries pay JIT compilation time without gaining from it".to_string(),
        );
    }
}

/// The parallel block, from 4 CPUs.
fn parallelism(b: &mut Builder<'_>, x: &Basis) {
    let Basis {
        cpus,
        profile,
        parallel,
        ..
    } = *x;
    if !parallel {
        return;
    }
    let c = u64::from(cpus);
    let half = c.div_ceil(2);
    let per_gather = if profile == Profile::Dw {
        half.min(MAX_PARALLEL_WORKER_LIMIT)
    } else {
        half.min(4)
    };
    b.push(
        Section::Parallelism,
        "max_worker_processes",
        Value::Int(c),
        format!("one background worker per CPU ({cpus})"),
    );
    b.push(
        Section::Parallelism,
        "max_parallel_workers_per_gather",
        Value::Int(per_gather),
        if profile == Profile::Dw {
            "half the CPUs per query: dw runs few large queries".to_string()
        } else {
            "half the CPUs, at most 4, so concurrent queries share them".to_string()
        },
    );
    b.push(
        Section::Parallelism,
        "max_parallel_workers",
        Value::Int(c.min(MAX_PARALLEL_WORKER_LIMIT)),
        "all CPUs may run parallel workers".to_string(),
    );
    b.push(
        Section::Parallelism,
        "max_parallel_maintenance_workers",
        Value::Int(half.min(4)),
        "half the CPUs, at most 4, for CREATE INDEX and VACUUM".to_string(),
    );
}

/// Other: I/O concurrency and asynchronous I/O (18), and autovacuum workers for many CPUs.
fn io_and_autovacuum(b: &mut Builder<'_>, x: &Basis) {
    let Basis { cpus, .. } = *x;
    let input = b.input;
    if input.os == Os::Linux {
        let (eic, why) = match input.storage {
            Storage::Hdd => (2, "hdd: a couple of concurrent prefetch requests"),
            Storage::Ssd => (200, "ssd: many concurrent prefetch requests"),
            Storage::San => (300, "san: many spindles behind one volume"),
            Storage::Nvme => (1000, "nvme: deep queues; the server's maximum"),
        };
        b.push(
            Section::Other,
            "effective_io_concurrency",
            Value::Int(eic),
            why.to_string(),
        );
        // VACUUM, ANALYZE and CREATE INDEX prefetch as deep as the storage allows too (13+,
        // so every supported major). On hdd the default (10, 16 from 18) already exceeds
        // what a couple of spindles serve, so it stays.
        if input.storage != Storage::Hdd {
            b.push(
                Section::Other,
                "maintenance_io_concurrency",
                Value::Int(eic),
                format!(
                    "{}: as effective_io_concurrency, for VACUUM and ANALYZE prefetching",
                    input.storage.as_str()
                ),
            );
        }
    }
    let mut io_method_worker = true;
    if input.pg_version >= 18 && input.os == Os::Linux && input.build.io_uring == Some(true) {
        io_method_worker = false;
        b.push(
            Section::Other,
            "io_method",
            Value::Word("io_uring"),
            "asynchronous I/O through io_uring (this server's build has it)".to_string(),
        );
    }
    if input.pg_version >= 18 && io_method_worker {
        let io_workers = (u64::from(cpus) / 4).clamp(3, 32);
        if io_workers > 3 {
            b.push(
                Section::Other,
                "io_workers",
                Value::Int(io_workers),
                "one I/O worker per 4 CPUs, at most 32".to_string(),
            );
        }
    }
    if cpus >= 16 {
        let workers = if cpus >= 32 { 5 } else { 4 };
        b.push(
            Section::Other,
            "autovacuum_max_workers",
            Value::Int(workers),
            format!("{cpus} CPUs can vacuum more tables at once"),
        );
    }
}

fn warnings(input: &TuneInput, profile: Profile) -> Vec<String> {
    let mut w = Vec::new();
    if input.ram_kb < LOW_RAM_KB {
        w.push("low memory system: defaults may serve better".to_string());
    }
    if input.ram_kb > HIGH_RAM_KB {
        w.push("very high memory: measure before raising shared_buffers further".to_string());
    }
    if profile == Profile::Dw && input.storage != Storage::Hdd && input.data_size != DataSize::Less
    {
        w.push(format!(
            "dw on {}: random_page_cost stays at 4 because the data may not fit in RAM; lower it to 1.1 if it does",
            input.storage.as_str()
        ));
    }
    w
}
