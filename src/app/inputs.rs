//! What the commands take from their flags and this host beyond what clap parses: pattern
//! flags, the RAM and CPUs to size for (probed, container-aware, when a flag leaves them
//! out) and the host context of a live server's settings diff. Shared by `check`, `report`,
//! `queries`, `recommend` and `redis recommend`, so it sits below all of them.

use anyhow::Context;

use crate::cli::HostOverrides;
use crate::conninfo::ConnParams;
use crate::diag::{HostContext, Pattern};
use crate::exit;
use crate::tune::{self, Os};

/// Parses repeatable pattern flags; a bad one is a usage error naming the flag.
pub(super) fn patterns(
    texts: &[String],
    flag: &str,
    parse: fn(&str) -> Result<Pattern, String>,
) -> anyhow::Result<Vec<Pattern>> {
    texts
        .iter()
        .map(|t| parse(t).map_err(|e| exit::usage(format!("{flag} {t}: {e}"))))
        .collect()
}

/// Where the RAM and CPUs of the settings diff come from: the flags, else this machine when
/// the server is local, else nothing (RAM-based advice is skipped with a note).
pub(super) fn host_context(
    flags: &HostOverrides,
    params: Option<&ConnParams>,
) -> anyhow::Result<HostContext> {
    let local = params.is_some_and(ConnParams::is_local);
    let (mut ram_bytes, mut cpus, mut source) = (flags.ram, flags.cpus, String::new());
    if local && (ram_bytes.is_none() || cpus.is_none()) {
        let facts = crate::host::probe(None)?;
        ram_bytes = ram_bytes.or(Some(facts.probed_tuning_ram_bytes()));
        cpus = cpus.or(Some(facts.usable_cpus));
        source = format!(
            "this host (the server is local): probed, {}",
            facts.limit_description()
        );
    }
    if flags.ram.is_some() {
        source = if flags.cpus.is_some() || !local {
            "given (--ram/--cpus)".to_string()
        } else {
            "given (--ram), CPUs probed".to_string()
        };
    } else if !local {
        source = match params {
            Some(p) => format!(
                "remote server ({}): its RAM is not visible from here; pass --ram and --cpus for RAM-based advice",
                p.redacted()
            ),
            None => "statistics file: RAM unknown; pass --ram and --cpus for RAM-based advice"
                .to_string(),
        };
    }
    Ok(HostContext {
        ram_bytes,
        cpus,
        source,
        os: Os::this_host(),
        storage: flags.storage.into(),
        profile: flags.profile.into(),
    })
}

/// RAM and CPUs from the flags, or probed on this host (container-aware) for what they
/// leave out, each with its source for the header.
pub(super) struct HostSize {
    pub ram_bytes: u64,
    pub ram_source: String,
    pub cpus: u32,
    pub cpus_source: String,
}

/// `--ram` and `--cpus`, probing this host only when one is missing (shared by `recommend`
/// and `redis recommend`, so both see the same host).
pub(super) fn ram_and_cpus(ram: Option<u64>, cpus: Option<u32>) -> anyhow::Result<HostSize> {
    let facts = if ram.is_none() || cpus.is_none() {
        Some(
            crate::host::probe(None)
                .context("probing this host (give --ram and --cpus to skip)")?,
        )
    } else {
        None
    };
    let (ram_bytes, ram_source) = match (ram, &facts) {
        (Some(bytes), _) => (bytes, "given".to_string()),
        (None, Some(f)) => (
            f.probed_tuning_ram_bytes(),
            format!("probed, {}", f.limit_description()),
        ),
        (None, None) => unreachable!("probed above when --ram is missing"),
    };
    let (cpus, cpus_source) = match (cpus, &facts) {
        (Some(n), _) => (n, "given".to_string()),
        (None, Some(f)) => (f.usable_cpus.clamp(1, tune::MAX_CPUS), "probed".to_string()),
        (None, None) => unreachable!("probed above when --cpus is missing"),
    };
    Ok(HostSize {
        ram_bytes,
        ram_source,
        cpus,
        cpus_source,
    })
}
