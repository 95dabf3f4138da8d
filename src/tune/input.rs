//! Inputs of the recommendation engine: the workload profile, storage class, target OS and
//! server version, plus what is known about the data size and the server build. These are
//! plain values so that `tune` stays a pure function of them; the command line has its own
//! enums (`cli::ProfileArg` and friends) and maps them in, so `tune` does not depend on clap.

use serde::Serialize;

/// Workload profile, as in PGTune's "DB type".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Web application: many short queries, mostly reads.
    Web,
    /// Online transaction processing: many short writes.
    Oltp,
    /// Data warehouse: few large analytical queries.
    Dw,
    /// A mix of web and analytics.
    Mixed,
    /// A developer machine: PostgreSQL shares the host with everything else.
    Desktop,
}

impl Profile {
    /// Every profile, in display order.
    pub const ALL: [Profile; 5] = [
        Profile::Web,
        Profile::Oltp,
        Profile::Dw,
        Profile::Mixed,
        Profile::Desktop,
    ];

    /// The lowercase name used by flags and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Web => "web",
            Profile::Oltp => "oltp",
            Profile::Dw => "dw",
            Profile::Mixed => "mixed",
            Profile::Desktop => "desktop",
        }
    }
}

/// Storage class of the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// SATA/SAS solid-state drive.
    Ssd,
    /// NVMe solid-state drive.
    Nvme,
    /// Storage area network.
    San,
    /// Rotational hard disk.
    Hdd,
}

impl Storage {
    /// Every storage class, in display order.
    pub const ALL: [Storage; 4] = [Storage::Ssd, Storage::Nvme, Storage::San, Storage::Hdd];

    /// The lowercase name used by flags and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Storage::Ssd => "ssd",
            Storage::Nvme => "nvme",
            Storage::San => "san",
            Storage::Hdd => "hdd",
        }
    }
}

/// Operating system the server runs on; several settings are OS-gated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    /// Linux.
    Linux,
    /// Microsoft Windows.
    Windows,
    /// Apple macOS.
    Macos,
}

impl Os {
    /// Every OS, in display order.
    pub const ALL: [Os; 3] = [Os::Linux, Os::Windows, Os::Macos];

    /// The OS this binary was built for; the default for `--os`.
    pub fn this_host() -> Os {
        if cfg!(target_os = "windows") {
            Os::Windows
        } else if cfg!(target_os = "macos") {
            Os::Macos
        } else {
            Os::Linux
        }
    }

    /// The lowercase name used by flags and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Windows => "windows",
            Os::Macos => "macos",
        }
    }
}
