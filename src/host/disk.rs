//! Whether the data directory sits on a rotational disk.
//!
//! `random_page_cost` and `effective_io_concurrency` depend on it, and the kernel already knows:
//! the path's `st_dev` names a block device, `/sys/dev/block/MAJ:MIN` leads to it in sysfs, and
//! `queue/rotational` says "1" for spinning media. A partition inherits from its disk; a device
//! mapper or md device is judged by its `slaves/`, because its own flag describes the mapping,
//! not the media. Filesystems without a backing block device (overlay, tmpfs, btrfs subvolumes,
//! NFS; all report major 0) give "unknown", never an error. The sysfs root is a parameter so
//! tests run on the fixture tree in `fixtures/sysfs/`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::DataDirFacts;

/// Stacked devices (dm on md on partitions) are rarely more than three deep; the cap only
/// guards against a symlink loop in a broken or fake sysfs.
const MAX_SLAVE_DEPTH: u32 = 8;

/// Probes the block device under `path`. Fails only when `path` cannot be stat'ed; every sysfs
/// oddity becomes `None` ("unknown").
pub fn data_dir_facts(path: &Path, sysfs_root: &Path) -> anyhow::Result<DataDirFacts> {
    let metadata = fs::metadata(path)
        .with_context(|| format!("cannot read data directory {}", path.display()))?;
    let ((device, rotational), virtual_disk) = match device_number(&metadata) {
        Some((major, minor)) => (
            block_device(sysfs_root, major, minor),
            virtual_disk(sysfs_root, major, minor),
        ),
        None => ((None, None), None),
    };
    Ok(DataDirFacts {
        path: path.to_path_buf(),
        device,
        rotational,
        virtual_disk,
    })
}

#[cfg(unix)]
fn device_number(metadata: &fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let dev = metadata.dev();
    Some((dev_major(dev), dev_minor(dev)))
}

#[cfg(not(unix))]
fn device_number(_metadata: &fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// The major number of a Linux `dev_t` (glibc's `gnu_dev_major` encoding).
pub fn dev_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)
}

/// The minor number of a Linux `dev_t` (glibc's `gnu_dev_minor` encoding).
pub fn dev_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)
}

/// Parses `queue/rotational`: "1" → rotational, "0" → not, anything else → unknown.
pub fn parse_rotational(text: &str) -> Option<bool> {
    match text.trim() {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// The kernel name of device `major:minor` (e.g. "sda1", "dm-0") and whether its media rotate.
pub fn block_device(sysfs_root: &Path, major: u64, minor: u64) -> (Option<String>, Option<bool>) {
    // Major 0 is the kernel's "unnamed" device class: no block device behind the filesystem.
    if major == 0 {
        return (None, None);
    }
    let dir = sysfs_root
        .join("dev/block")
        .join(format!("{major}:{minor}"));
    let Ok(canonical) = fs::canonicalize(&dir) else {
        return (None, None);
    };
    let name = canonical
        .file_name()
        .and_then(|name| name.to_str())
        .map(str::to_owned);
    (name, media_rotational(&canonical, 0))
}

/// Drivers of paravirtual disks (KVM/QEMU virtio, Xen, VMware, Hyper-V): the hypervisor
/// chooses their rotational flag (virtio-blk reports 1 by default), not the media.
const VIRTUAL_DRIVERS: &[&str] = &["virtio", "xen", "vbd", "vmw_pvscsi", "hv_storvsc"];
/// Device vendors of virtual disks, as `device/vendor` spells them (0x1af4: virtio's PCI id).
const VIRTUAL_VENDORS: &[&str] = &["0x1af4", "QEMU", "VMware", "VMware,", "Msft", "Xen", "VBOX"];

/// Why device `major:minor` (or a device it is built on) looks virtual, e.g. "virtio_blk
/// driver"; `None` when nothing suggests it. Its rotational flag is then the hypervisor's word.
pub fn virtual_disk(sysfs_root: &Path, major: u64, minor: u64) -> Option<String> {
    if major == 0 {
        return None;
    }
    let dir = fs::canonicalize(
        sysfs_root
            .join("dev/block")
            .join(format!("{major}:{minor}")),
    );
    virtual_evidence(&dir.ok()?, 0)
}

fn virtual_evidence(device_dir: &Path, depth: u32) -> Option<String> {
    if depth > MAX_SLAVE_DEPTH {
        return None;
    }
    let disk = whole_disk(device_dir);
    let slaves = slave_dirs(&disk);
    if !slaves.is_empty() {
        return slaves.iter().find_map(|s| virtual_evidence(s, depth + 1));
    }
    let device = disk.join("device");
    // The link's own name is enough; its target may live outside a copied sysfs.
    let driver = fs::read_link(device.join("driver"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    if let Some(driver) = driver
        && VIRTUAL_DRIVERS.iter().any(|v| driver.starts_with(v))
    {
        return Some(format!("{driver} driver"));
    }
    let vendor = fs::read_to_string(device.join("vendor")).unwrap_or_default();
    let vendor = vendor.trim();
    if VIRTUAL_VENDORS
        .iter()
        .any(|v| vendor.eq_ignore_ascii_case(v))
    {
        return Some(format!("vendor {vendor}"));
    }
    let path = fs::canonicalize(&device).unwrap_or(device);
    let path = path.to_string_lossy();
    ["virtio", "vbd-", "VMBUS"]
        .iter()
        .find(|bus| path.contains(*bus))
        .map(|bus| format!("{} bus", bus.trim_end_matches('-')))
}

/// Rotational flag of the media under a sysfs block device directory.
fn media_rotational(device_dir: &Path, depth: u32) -> Option<bool> {
    if depth > MAX_SLAVE_DEPTH {
        return None;
    }
    let disk = whole_disk(device_dir);
    let slaves = slave_dirs(&disk);
    if slaves.is_empty() {
        return parse_rotational(&fs::read_to_string(disk.join("queue/rotational")).ok()?);
    }
    // One spinning member makes the whole device behave like one for random reads.
    let mut all_known = true;
    for slave in slaves {
        match media_rotational(&slave, depth + 1) {
            Some(true) => return Some(true),
            Some(false) => {}
            None => all_known = false,
        }
    }
    all_known.then_some(false)
}

/// A partition's flags live on its disk, which is its parent directory in sysfs.
fn whole_disk(device_dir: &Path) -> PathBuf {
    if device_dir.join("partition").is_file()
        && let Some(parent) = device_dir.parent()
    {
        return parent.to_path_buf();
    }
    device_dir.to_path_buf()
}

/// The devices that a dm or md device is built on, resolved through their symlinks.
fn slave_dirs(disk: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(disk.join("slaves")) else {
        return Vec::new();
    };
    let mut slaves: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| fs::canonicalize(entry.path()).ok())
        .collect();
    slaves.sort();
    slaves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sysfs() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs")
    }

    /// glibc's `gnu_dev_makedev`, to check the decoders against.
    fn makedev(major: u64, minor: u64) -> u64 {
        (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
    }

    fn device(major: u64, minor: u64) -> (Option<String>, Option<bool>) {
        block_device(&sysfs(), major, minor)
    }

    #[test]
    fn decodes_device_numbers() {
        // st_dev of this project's CI root filesystem (/dev/vda, 254:0).
        assert_eq!((dev_major(65024), dev_minor(65024)), (254, 0));
        assert_eq!((dev_major(0x0803), dev_minor(0x0803)), (8, 3));
        for (major, minor) in [
            (0, 0),
            (259, 1_048_576),
            (4095, 255),
            (4096, 256),
            (0xffff_ffff, 0xffff_ffff),
        ] {
            let dev = makedev(major, minor);
            assert_eq!((dev_major(dev), dev_minor(dev)), (major, minor));
        }
    }

    #[test]
    fn parses_rotational_flag() {
        assert_eq!(parse_rotational("1\n"), Some(true));
        assert_eq!(parse_rotational("0\n"), Some(false));
        assert_eq!(parse_rotational(""), None);
        assert_eq!(parse_rotational("2"), None);
        assert_eq!(parse_rotational("yes"), None);
    }

    #[test]
    fn whole_disks() {
        assert_eq!(device(8, 0), (Some("sda".into()), Some(true)));
        assert_eq!(device(259, 0), (Some("nvme0n1".into()), Some(false)));
    }

    #[test]
    fn partitions_use_their_disk() {
        assert_eq!(device(8, 1), (Some("sda1".into()), Some(true)));
        assert_eq!(device(259, 1), (Some("nvme0n1p1".into()), Some(false)));
    }

    #[test]
    fn stacked_devices_use_their_slaves() {
        // dm-0 sits on sda2 (spinning) although its own flag says 0.
        assert_eq!(device(253, 0), (Some("dm-0".into()), Some(true)));
        assert_eq!(device(253, 1), (Some("dm-1".into()), Some(false)));
        // md0 mirrors sda1 and nvme0n1p1: one spinning member is enough.
        assert_eq!(device(9, 0), (Some("md0".into()), Some(true)));
        // dm-2's only slave has garbage in its flag: unknown.
        assert_eq!(device(253, 2), (Some("dm-2".into()), None));
    }

    #[test]
    fn virtual_disks_are_recognised() {
        // virtio-blk reports rotational = 1 by default, whatever the host's media.
        assert_eq!(device(254, 0), (Some("vda".into()), Some(true)));
        assert_eq!(
            virtual_disk(&sysfs(), 254, 0).as_deref(),
            Some("virtio_blk driver")
        );
        assert_eq!(
            virtual_disk(&sysfs(), 254, 1).as_deref(),
            Some("virtio_blk driver"),
            "a partition is judged by its disk"
        );
        for (major, minor) in [(8, 0), (8, 1), (259, 0), (253, 0), (9, 0), (0, 1), (8, 99)] {
            assert_eq!(
                virtual_disk(&sysfs(), major, minor),
                None,
                "{major}:{minor}"
            );
        }
    }

    #[test]
    fn odd_devices_are_unknown_not_errors() {
        assert_eq!(device(7, 0), (Some("loop0".into()), Some(false)));
        assert_eq!(device(252, 0), (Some("zram0".into()), None));
        assert_eq!(device(0, 42), (None, None));
        assert_eq!(device(8, 99), (None, None));
        assert_eq!(
            block_device(Path::new("/nonexistent-sysfs"), 8, 0),
            (None, None)
        );
    }

    #[test]
    fn missing_data_dir_is_an_error_naming_it() {
        let missing = Path::new("/nonexistent/pgdata-for-test");
        let err = data_dir_facts(missing, &sysfs()).unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/pgdata-for-test"),
            "{err:#}"
        );
    }

    #[test]
    fn existing_data_dir_never_fails() {
        let dir = tempfile::tempdir().unwrap();
        let facts = data_dir_facts(dir.path(), &sysfs()).unwrap();
        assert_eq!(facts.path, dir.path());
    }
}
