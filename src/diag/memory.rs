//! The server's memory against its host: the memory safety check on the live settings
//! (`memory_overcommit`, the arithmetic of `tune::memory`), and whether `huge_pages = try`
//! silently fell back to normal pages (`huge_pages_fallback`). Pure: the shell reads the
//! host (RAM, `/proc/PID/smaps`) and hands the facts in through the snapshot and
//! [`HostContext`]; what cannot be known from here becomes a note, never a guess.

use super::HostContext;
use super::report::{Finding, Severity, push};
use super::settings::live_size_kb;
use crate::facts::StatsSnapshot;
use crate::tune::HUGE_PAGES_FROM_KB;
use crate::tune::memory::{MemoryUse, check};
use crate::units::{KB_BYTES, format_kb};

/// PostgreSQL 17 reports whether huge pages are in use (`huge_pages_status`); before, only
/// the host's view of a local postmaster tells (`StatsSnapshot::huge_pages_probe`).
pub const HUGE_PAGES_STATUS_MAJOR: u32 = 17;

/// A whole-number setting (`max_connections`), or `None` when missing or not a count.
fn count(snap: &StatsSnapshot, name: &str) -> Option<u64> {
    snap.setting(name)?.setting.trim().parse().ok()
}

/// A size setting in whole kB, `None` for `-1`, missing or not a size.
fn size_kb(snap: &StatsSnapshot, name: &str) -> Option<u64> {
    // Live sizes are whole kB (the smallest unit is 1kB), so the cast drops nothing.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    live_size_kb(snap, name).map(|kb| kb as u64)
}

/// The findings of this module, appended to `out`.
pub(super) fn findings(snap: &StatsSnapshot, host: &HostContext, out: &mut Vec<Finding>) {
    overcommit(snap, host, out);
    huge_pages(snap, out);
}

/// Notes on what these checks could not decide.
/// (RAM unknown has its own host note, which names the memory safety check.)
pub(super) fn notes(snap: &StatsSnapshot) -> Vec<String> {
    huge_pages_unknown(snap).into_iter().collect()
}

/// `memory_overcommit`: the live settings can use more memory than the host has.
fn overcommit(snap: &StatsSnapshot, host: &HostContext, out: &mut Vec<Finding>) {
    let Some(ram_bytes) = host.ram_bytes.filter(|&r| r > 0) else {
        return;
    };
    if snap.setting("shared_buffers").is_none() {
        return; // no settings collected (the fast path): nothing to add up
    }
    let usage = MemoryUse::from_settings(|n| size_kb(snap, n), |n| count(snap, n));
    let c = check(usage, ram_bytes / KB_BYTES);
    if c.exceeds() {
        push(
            out,
            Severity::Warning,
            "memory_overcommit",
            format!("{} ({})", c.message(), host.source),
        );
    }
}

/// Whether huge pages matter for this server: `huge_pages = try` with shared_buffers at the
/// size from which the recommendation asks for them (below, they gain little and a fallback
/// is not worth a word).
fn try_with_large_buffers(snap: &StatsSnapshot) -> Option<u64> {
    let mode = snap.setting("huge_pages")?;
    let sb_kb = size_kb(snap, "shared_buffers")?;
    (mode.setting == "try" && sb_kb >= HUGE_PAGES_FROM_KB).then_some(sb_kb)
}

/// What the fallback costs and how to fix it, for every form of the finding.
fn fallback_advice(sb_kb: u64) -> String {
    format!(
        "shared_buffers {} sits on normal pages, so every backend maps it with its own page \
         tables; reserve vm.nr_hugepages (`pgcache-tune recommend` prints the count) and \
         restart, or set huge_pages = on so the server refuses to start without them",
        format_kb(sb_kb)
    )
}

/// `huge_pages_fallback`: `try` got no huge pages.
fn huge_pages(snap: &StatsSnapshot, out: &mut Vec<Finding>) {
    let Some(sb_kb) = try_with_large_buffers(snap) else {
        return;
    };
    if snap.major() >= HUGE_PAGES_STATUS_MAJOR {
        let Some(status) = snap.setting("huge_pages_status") else {
            return;
        };
        if status.setting == "off" {
            push(
                out,
                Severity::Warning,
                "huge_pages_fallback",
                format!(
                    "huge_pages = try fell back to normal pages (huge_pages_status = off): {}",
                    fallback_advice(sb_kb)
                ),
            );
        }
        return;
    }
    let Some(probe) = &snap.huge_pages_probe else {
        return;
    };
    if probe.huge_mapped_kb == Some(0) {
        let pid = probe
            .postmaster_pid
            .map_or_else(String::new, |p| format!(" {p}"));
        let number = |n: Option<u64>| n.map_or_else(|| "unknown".to_owned(), |n| n.to_string());
        push(
            out,
            Severity::Warning,
            "huge_pages_fallback",
            format!(
                "huge_pages = try fell back to normal pages: the postmaster{pid} maps no huge \
                 pages (/proc/{}/smaps; HugePages_Total {}, HugePages_Rsvd {} in \
                 /proc/meminfo): {}",
                probe
                    .postmaster_pid
                    .map_or_else(|| "PID".to_owned(), |p| p.to_string()),
                number(probe.hugepages_total),
                number(probe.hugepages_rsvd),
                fallback_advice(sb_kb)
            ),
        );
    }
}

/// Why a fallback could not be checked, when it matters.
fn huge_pages_unknown(snap: &StatsSnapshot) -> Option<String> {
    try_with_large_buffers(snap)?;
    if snap.major() >= HUGE_PAGES_STATUS_MAJOR {
        return None;
    }
    let v = snap.server.version_num;
    let version = format!("{}.{}", v / 10_000, v % 10_000);
    match &snap.huge_pages_probe {
        None => Some(format!(
            "whether huge_pages = try got huge pages cannot be known from here: PostgreSQL \
             {version} has no huge_pages_status (17 added it) and the server is not on this \
             host (run report on the server to read the postmaster's /proc/PID/smaps)"
        )),
        Some(p) => p
            .problem
            .as_ref()
            .map(|why| format!("whether huge_pages = try got huge pages is unknown: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::testdata::{self, setting};
    use crate::facts::HugePagesProbe;
    use crate::units::GB_KB;

    fn with(snap: &mut StatsSnapshot, name: &str, value: &str, unit: Option<&str>) {
        snap.settings.retain(|s| s.name != name);
        snap.settings.push(setting(name, value, unit, "integer"));
    }

    fn codes(snap: &StatsSnapshot, host: &HostContext) -> Vec<Finding> {
        let mut out = Vec::new();
        findings(snap, host, &mut out);
        out
    }

    #[test]
    fn overcommit_fires_with_the_numbers_only_over_ram() {
        let mut snap = testdata::snapshot();
        let host = testdata::host_16g();
        // 128MB + 200 × 16MB + 3 × 64MB = 3.4 GiB: fits 16 GiB.
        assert!(codes(&snap, &host).is_empty());
        with(&mut snap, "max_connections", "5000", None);
        // 128MB + 5000 × 16MB + 3 × 64MB ≈ 78.4 GiB.
        let f = codes(&snap, &host);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, "memory_overcommit");
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(
            f[0].message.contains("5000 connections × work_mem 16MB")
                && f[0].message.contains("more than the 16 GiB of RAM")
                && f[0].message.contains("this host (probed"),
            "{}",
            f[0].message
        );
        // The same settings on a host big enough.
        let big = HostContext {
            ram_bytes: Some(128 << 30),
            ..host.clone()
        };
        assert!(codes(&snap, &big).is_empty());
    }

    #[test]
    fn unknown_ram_says_the_check_needs_it() {
        let mut snap = testdata::snapshot();
        with(&mut snap, "max_connections", "5000", None);
        let host = testdata::host_unknown();
        assert!(codes(&snap, &host).is_empty());
        let report = crate::diag::diagnose(&snap, &host, &crate::diag::DiagOptions::default());
        let note = report.host.note.unwrap();
        assert!(
            note.contains("memory safety check") && note.contains("--ram"),
            "{note}"
        );
    }

    fn large(major: u32) -> StatsSnapshot {
        let mut snap = testdata::snapshot();
        snap.server.version_num = major * 10_000 + 1;
        with(
            &mut snap,
            "shared_buffers",
            &(4 * GB_KB / 8).to_string(),
            Some("8kB"),
        );
        snap
    }

    fn probe(huge_kb: Option<u64>, problem: Option<&str>) -> HugePagesProbe {
        HugePagesProbe {
            postmaster_pid: Some(4242),
            huge_mapped_kb: huge_kb,
            hugepages_total: Some(0),
            hugepages_rsvd: Some(0),
            hugepage_size_kb: Some(2048),
            problem: problem.map(str::to_owned),
        }
    }

    fn fallback(snap: &StatsSnapshot) -> Option<Finding> {
        codes(snap, &testdata::host_16g())
            .into_iter()
            .find(|f| f.code == "huge_pages_fallback")
    }

    #[test]
    fn huge_pages_status_decides_from_17() {
        let mut snap = large(17);
        with(&mut snap, "huge_pages_status", "off", None);
        let f = fallback(&snap).expect("fires");
        assert!(
            f.message.contains("huge_pages_status = off"),
            "{}",
            f.message
        );
        assert!(f.message.contains("shared_buffers 4GB"), "{}", f.message);
        with(&mut snap, "huge_pages_status", "on", None);
        assert_eq!(fallback(&snap), None);
        // huge_pages = on or off: nothing fell back silently.
        with(&mut snap, "huge_pages_status", "off", None);
        with(&mut snap, "huge_pages", "off", None);
        assert_eq!(fallback(&snap), None);
        assert!(notes(&snap).is_empty());
    }

    #[test]
    fn before_17_the_local_probe_decides() {
        let mut snap = large(15);
        snap.huge_pages_probe = Some(probe(Some(0), None));
        let f = fallback(&snap).expect("fires");
        assert!(
            f.message.contains("postmaster 4242 maps no huge pages")
                && f.message.contains("HugePages_Total 0"),
            "{}",
            f.message
        );
        snap.huge_pages_probe = Some(probe(Some(4 * GB_KB), None));
        assert_eq!(fallback(&snap), None);
        assert!(notes(&snap).is_empty());
        // Unreadable: no finding, a note with the reason.
        snap.huge_pages_probe = Some(probe(None, Some("cannot read /proc/4242/smaps")));
        assert_eq!(fallback(&snap), None);
        let n = notes(&snap);
        assert!(n[0].contains("cannot read /proc/4242/smaps"), "{n:?}");
        // Not on this host: cannot be known.
        snap.huge_pages_probe = None;
        assert_eq!(fallback(&snap), None);
        let n = notes(&snap);
        assert!(n[0].contains("cannot be known from here"), "{n:?}");
        assert!(n[0].contains("PostgreSQL 15.1"), "{n:?}");
    }

    #[test]
    fn small_shared_buffers_are_not_worth_a_word() {
        let mut snap = large(15);
        with(
            &mut snap,
            "shared_buffers",
            &(HUGE_PAGES_FROM_KB / 8 - 1).to_string(),
            Some("8kB"),
        );
        snap.huge_pages_probe = Some(probe(Some(0), None));
        assert_eq!(fallback(&snap), None);
        assert!(notes(&snap).is_empty());
    }
}
