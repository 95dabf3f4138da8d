//! The `probe` table: what this host offers PostgreSQL, one fact per row.
//!
//! Sizes are shown for people (1024-based, one decimal when inexact) next to the exact byte
//! count, because the exact number is what a reader pastes into a bug report or compares with
//! `docker inspect`. Strings that came from the machine (paths, the OS name) are sanitized:
//! a directory name can hold terminal escape sequences.

use crate::host::HostFacts;
use crate::units::format_bytes_human;

/// Renders host facts as a two-column table without colours, fitted to a terminal `width`
/// columns wide (`None`: natural width).
pub fn table(facts: &HostFacts, width: Option<u16>) -> String {
    let mut table = super::layout::table(width);
    table.set_header(["Fact", "Value"]);
    let limit = match facts.memory_limit.bytes {
        Some(bytes) => size_with_bytes(bytes),
        None => "none".to_owned(),
    };
    let rows = [
        ("Total RAM", size_with_bytes(facts.total_ram_bytes)),
        ("Container memory limit", limit),
        ("Memory limit source", sanitize(&facts.memory_limit.source)),
        (
            "RAM used for tuning",
            size_with_bytes(facts.tuning_ram_bytes()),
        ),
        ("Usable CPUs", facts.usable_cpus.to_string()),
        ("Logical CPUs", facts.logical_cpus.to_string()),
        (
            "Physical cores",
            facts
                .physical_cores
                .map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
        ),
        (
            "CPU quota",
            facts.cpu_quota.map_or_else(|| "none".to_owned(), cpus),
        ),
        (
            "OS",
            format!(
                "{} ({})",
                sanitize(&facts.os_description),
                facts.os.as_str()
            ),
        ),
    ];
    for (name, value) in rows {
        table.add_row([name.to_owned(), value]);
    }
    if let Some(data_dir) = &facts.data_dir {
        let device = match &data_dir.device {
            Some(device) => sanitize(device),
            None => "unknown (no block device, e.g. overlay or tmpfs)".to_owned(),
        };
        let media = match data_dir.rotational {
            Some(true) => "rotational (HDD)",
            Some(false) => "non-rotational (SSD/NVMe)",
            None => "unknown",
        };
        // The flag is whatever the device driver reports; a hypervisor reports what it likes
        // (virtio-blk says rotational by default, even on NVMe), so never state it bare.
        let storage = match (&data_dir.virtual_disk, data_dir.rotational) {
            (_, None) => media.to_owned(),
            (Some(why), Some(_)) => {
                format!("{media}? virtual disk ({}): flag unreliable", sanitize(why))
            }
            (None, Some(_)) => format!("{media}, per kernel; unreliable on virtual disks"),
        };
        table.add_row([
            "Data directory".to_owned(),
            sanitize(&data_dir.path.display().to_string()),
        ]);
        table.add_row(["Data directory device".to_owned(), device]);
        table.add_row(["Data directory storage".to_owned(), storage]);
    }
    table.to_string()
}

/// "23.5 GiB (25276514304 bytes)".
fn size_with_bytes(bytes: u64) -> String {
    format!("{} ({bytes} bytes)", format_bytes_human(bytes))
}

/// "1.5 CPUs", "1 CPU": at most two decimals, trailing zeros dropped.
fn cpus(quota: f64) -> String {
    let fixed = format!("{quota:.2}");
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    let unit = if trimmed == "1" { "CPU" } else { "CPUs" };
    format!("{trimmed} {unit}")
}

/// Machine-provided text (paths, device names, os-release) goes through the same sanitiser
/// as server-provided names, so it cannot drive the terminal either.
fn sanitize(text: &str) -> String {
    crate::render::sanitize::sanitize(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{CgroupVersion, DataDirFacts, MemoryLimit};
    use crate::tune::Os;

    const GIB: u64 = 1 << 30;

    fn container_host() -> HostFacts {
        HostFacts {
            total_ram_bytes: 25_276_514_304,
            memory_limit: MemoryLimit {
                bytes: Some(2 * GIB),
                source: "cgroup v2 memory.max at /sys/fs/cgroup/app/memory.max".into(),
                cgroup_version: Some(CgroupVersion::V2),
            },
            usable_cpus: 2,
            logical_cpus: 8,
            physical_cores: Some(4),
            cpu_quota: Some(1.5),
            os: Os::Linux,
            os_description: "Debian GNU/Linux 12 (bookworm), kernel 6.1.0".into(),
            data_dir: Some(DataDirFacts {
                path: "/var/lib/postgresql/15/main".into(),
                device: Some("sda1".into()),
                rotational: Some(true),
                virtual_disk: None,
            }),
        }
    }

    #[test]
    fn container_table() {
        insta::assert_snapshot!(table(&container_host(), None));
    }

    #[test]
    fn bare_host_table() {
        let host = HostFacts {
            memory_limit: MemoryLimit::none("none", None),
            cpu_quota: None,
            physical_cores: None,
            data_dir: None,
            ..container_host()
        };
        insta::assert_snapshot!(table(&host, None));
    }

    #[test]
    fn unknown_storage_and_hostile_path() {
        let mut host = container_host();
        host.data_dir = Some(DataDirFacts {
            path: "/tmp/\u{1b}[2Jpgdata".into(),
            device: None,
            rotational: None,
            virtual_disk: None,
        });
        let text = table(&host, None);
        assert!(!text.contains('\u{1b}'));
        assert!(text.contains("/tmp/\\x1b[2Jpgdata"), "{text}");
        assert!(text.contains("unknown (no block device"));
    }

    #[test]
    fn virtual_disks_carry_a_caveat() {
        let mut host = container_host();
        host.data_dir = Some(DataDirFacts {
            path: "/var/lib/postgresql".into(),
            device: Some("vda1".into()),
            rotational: Some(true),
            virtual_disk: Some("virtio_blk driver".into()),
        });
        let text = table(&host, None);
        assert!(
            text.contains("virtual disk (virtio_blk driver): flag unreliable"),
            "{text}"
        );
        host.data_dir.as_mut().unwrap().virtual_disk = None;
        let text = table(&host, None);
        assert!(text.contains("unreliable on virtual"), "{text}");
    }

    #[test]
    fn formats_cpu_quotas() {
        assert_eq!(cpus(1.5), "1.5 CPUs");
        assert_eq!(cpus(1.0), "1 CPU");
        assert_eq!(cpus(2.0), "2 CPUs");
        assert_eq!(cpus(1.0 / 3.0), "0.33 CPUs");
        assert_eq!(cpus(10.0), "10 CPUs");
    }
}
