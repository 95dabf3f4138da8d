//! The recommendation engine: a pure function from what we know about the host, the workload
//! and the server to a list of postgresql.conf settings, each with its reason.
//!
//! The rules live in `docs/recommendation-rules.md`; they reproduce PGTune's numbers
//! for the same inputs (the reference users compare against), add the seed article's
//! parameters, and gate every key on version, OS and build so that the server accepts the
//! result. No I/O happens here: callers probe the host or the server and pass values in.

mod defaults;
pub mod host_advice;
pub mod input;
pub mod memory;
pub mod redis;
mod rules;
#[cfg(test)]
mod tests;

pub use defaults::{default_value, requires_restart};
pub use input::{Os, Profile, Storage};
pub use rules::HUGE_PAGES_FROM_KB;

use serde::Serialize;

/// Lowest supported PostgreSQL major.
pub const MIN_PG_VERSION: u32 = 13;
/// Highest supported PostgreSQL major, and the offline default.
pub const MAX_PG_VERSION: u32 = 18;
/// Smallest RAM the engine tunes for. Below it PostgreSQL's defaults serve better and some
/// derived values would fall under the server's minimums.
pub const MIN_RAM_KB: u64 = 64 * crate::units::MB_KB;
/// Largest RAM the engine tunes for: beyond it effective_cache_size (3/4 of RAM) would exceed
/// the server's maximum of 2³¹−1 blocks of 8kB (16TB).
pub const MAX_RAM_KB: u64 = 16 * crate::units::TB_KB;
/// Fewest connections the rules size work_mem for (PGTune's floor).
pub const MIN_CONNECTIONS: u32 = 20;
/// Most connections accepted; PostgreSQL's hard limit is 262143 backends in all, which must
/// also hold the workers, so stay well below it.
pub const MAX_CONNECTIONS: u32 = 100_000;
/// Most CPUs accepted.
pub const MAX_CPUS: u32 = 4096;

/// How the total database size compares to RAM (the rules' "data size vs RAM" input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSize {
    /// All databases together are smaller than RAM.
    Less,
    /// Unknown (offline): neither adjustment applies.
    Mid,
    /// The databases are larger than RAM.
    Greater,
}

/// What the server build supports, from `pg_settings.enumvals`. `None` means unknown
/// (offline), and the engine then emits only values every build accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BuildCaps {
    /// `wal_compression` accepts `lz4`.
    pub lz4: Option<bool>,
    /// `io_method` accepts `io_uring`.
    pub io_uring: Option<bool>,
}

/// Every input of the engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TuneInput {
    /// RAM available to PostgreSQL, in kB.
    pub ram_kb: u64,
    /// CPUs available to PostgreSQL.
    pub cpus: u32,
    /// Expected connections; `None` takes the profile's default.
    pub connections: Option<u32>,
    /// Workload profile.
    pub profile: Profile,
    /// Storage class.
    pub storage: Storage,
    /// PostgreSQL major version.
    pub pg_version: u32,
    /// Target operating system.
    pub os: Os,
    /// Data size against RAM.
    pub data_size: DataSize,
    /// Build capabilities of the server.
    pub build: BuildCaps,
}

/// Which part of postgresql.conf a setting belongs to; the order is the snippet's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Memory.
    Memory,
    /// WAL and checkpoints.
    WalCheckpoints,
    /// Planner costs.
    Planner,
    /// Parallelism.
    Parallelism,
    /// Other.
    Other,
}

impl Section {
    /// Every section in snippet order.
    pub const ALL: [Section; 5] = [
        Section::Memory,
        Section::WalCheckpoints,
        Section::Planner,
        Section::Parallelism,
        Section::Other,
    ];

    /// The heading printed in the snippet.
    pub fn title(self) -> &'static str {
        match self {
            Section::Memory => "Memory",
            Section::WalCheckpoints => "WAL and checkpoints",
            Section::Planner => "Planner costs",
            Section::Parallelism => "Parallelism",
            Section::Other => "Other",
        }
    }
}

/// A recommended value, typed so that rendering and comparison need no parsing.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A size in kB.
    SizeKb(u64),
    /// A duration in milliseconds.
    TimeMs(u64),
    /// An integer without unit.
    Int(u64),
    /// A real number, kept as the exact text to write (`0.9`, `1.1`, `0.0025`).
    Real(&'static str),
    /// An enum or boolean word (`try`, `off`, `lz4`, `minimal`).
    Word(&'static str),
}

impl Value {
    /// The text postgresql.conf gets.
    pub fn to_conf(&self) -> String {
        match self {
            Value::SizeKb(kb) => crate::units::format_kb(*kb),
            Value::TimeMs(ms) => crate::units::format_ms(*ms),
            Value::Int(n) => n.to_string(),
            Value::Real(s) | Value::Word(s) => (*s).to_string(),
        }
    }

    /// The value in bytes, for size settings.
    pub fn bytes(&self) -> Option<u64> {
        match self {
            Value::SizeKb(kb) => kb.checked_mul(crate::units::KB_BYTES),
            _ => None,
        }
    }

    /// The value in milliseconds, for time settings.
    pub fn ms(&self) -> Option<u64> {
        match self {
            Value::TimeMs(ms) => Some(*ms),
            _ => None,
        }
    }
}

/// One setting of the recommendation.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// The GUC name.
    pub name: &'static str,
    /// The value.
    pub value: Value,
    /// Where it goes in the snippet.
    pub section: Section,
    /// Why, in one line.
    pub reason: String,
    /// Whether the value equals PostgreSQL's default for the target version.
    pub is_default: bool,
    /// Whether a change takes a server restart rather than a reload.
    pub restart_required: bool,
}

/// The engine's whole answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendations {
    /// The inputs, with defaults filled in (connections resolved).
    pub input: TuneInput,
    /// Connections the rules used (the flag, or the profile's default).
    pub connections: u32,
    /// Settings in snippet order.
    pub settings: Vec<Recommendation>,
    /// Warnings for the header.
    pub warnings: Vec<String>,
    /// Whether the settings suit every major from [`MIN_PG_VERSION`] to [`MAX_PG_VERSION`]
    /// ([`recommend_any_version`]) rather than `input.pg_version` alone.
    pub version_neutral: bool,
    /// In a version-neutral answer, the settings that some major would get and that were left
    /// out, each with the majors that accept it. Empty otherwise.
    pub left_out: Vec<LeftOut>,
    /// Advice for the host's kernel (huge pages, THP, overcommit, swappiness), when the
    /// caller probed a Linux host ([`host_advice::advise`]); empty otherwise.
    pub host: Vec<host_advice::Advice>,
}

/// A setting a version-neutral answer leaves out because not every major accepts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    /// The GUC name.
    pub name: &'static str,
    /// The majors whose answer has it.
    pub majors: Vec<u32>,
}

impl LeftOut {
    /// "io_workers (PostgreSQL 18)", "x (PostgreSQL 15–18)".
    pub fn describe(&self) -> String {
        match (self.majors.first(), self.majors.last()) {
            (Some(a), Some(b)) if a == b => format!("{} (PostgreSQL {a})", self.name),
            (Some(a), Some(b)) => format!("{} (PostgreSQL {a}–{b})", self.name),
            _ => self.name.to_string(),
        }
    }
}

impl Recommendations {
    /// The setting with this name, if emitted.
    pub fn get(&self, name: &str) -> Option<&Recommendation> {
        self.settings.iter().find(|s| s.name == name)
    }

    /// The value the server gets for `name` with this snippet: the emitted one, else the target
    /// major's default (`None` for a default we do not track, such as wal_buffers' -1).
    pub fn value_or_default(&self, name: &str) -> Option<Value> {
        self.get(name)
            .map(|s| s.value.clone())
            .or_else(|| default_value(name, self.input.pg_version, self.input.os))
    }
}

/// Runs the rules. Inputs outside the documented ranges are clamped defensively, but callers
/// validate them first and report bad input to the user.
pub fn recommend(input: &TuneInput) -> Recommendations {
    rules::recommend(input)
}

/// Runs the rules for a server of unknown major: only settings, and values, that every major
/// from [`MIN_PG_VERSION`] to [`MAX_PG_VERSION`] accepts. That is the answer for the oldest
/// major (later majors keep every setting we emit, and the older caps, such as Windows' 2047MB,
/// are the safe side), with `is_default` only when the value is the default on every major and
/// `restart_required` when any major needs a restart. `left_out` names what a version-specific
/// answer would add (io_workers on 18), so the caller can say which flag brings it back.
/// `input.pg_version` and `input.build` are ignored: without a major, the build is unknown too.
pub fn recommend_any_version(input: &TuneInput) -> Recommendations {
    let for_major = |pg_version| {
        rules::recommend(&TuneInput {
            pg_version,
            build: BuildCaps::default(),
            ..input.clone()
        })
    };
    let mut recs = for_major(MIN_PG_VERSION);
    let all: Vec<(u32, Recommendations)> = (MIN_PG_VERSION..=MAX_PG_VERSION)
        .map(|v| (v, for_major(v)))
        .collect();
    for s in &mut recs.settings {
        s.is_default = (MIN_PG_VERSION..=MAX_PG_VERSION).all(|v| {
            default_value(s.name, v, input.os).is_some_and(|d| defaults::same_value(&d, &s.value))
        });
        s.restart_required = (MIN_PG_VERSION..=MAX_PG_VERSION).any(|v| requires_restart(s.name, v));
    }
    let mut left_out: Vec<LeftOut> = Vec::new();
    for (v, answer) in &all {
        for s in &answer.settings {
            if recs.get(s.name).is_some() {
                continue;
            }
            match left_out.iter_mut().find(|l| l.name == s.name) {
                Some(l) => l.majors.push(*v),
                None => left_out.push(LeftOut {
                    name: s.name,
                    majors: vec![*v],
                }),
            }
        }
    }
    recs.version_neutral = true;
    recs.left_out = left_out;
    recs
}

/// The connections a profile expects when `--connections` is not given.
pub fn default_connections(profile: Profile) -> u32 {
    match profile {
        Profile::Web => 200,
        Profile::Oltp => 300,
        Profile::Dw => 40,
        Profile::Desktop => 20,
        Profile::Mixed => 100,
    }
}
