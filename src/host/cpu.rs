//! How many CPUs PostgreSQL can actually use here.
//!
//! The count that matters for parallel workers is not the host's logical CPUs but the smaller of
//! the CPUs this process may run on (its affinity, which also reflects a v1/v2 cpuset) and the
//! cgroup CPU quota rounded up. The parsers here are pure: the kernel's CPU list format
//! ("0-3,8,10-11") is shared by `Cpus_allowed_list` in `/proc/self/status` and by
//! `/sys/devices/system/cpu/online`.

use super::cgroup::CpuQuota;

/// Counts the CPUs in a kernel CPU list such as "0-3,8,10-11" (7 CPUs); overlapping entries are
/// counted once. `None` for an empty list or anything malformed.
pub fn parse_cpu_list(text: &str) -> Option<u32> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut ranges = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        let (first, last) = match item.split_once('-') {
            Some((first, last)) => (first.trim().parse().ok()?, last.trim().parse().ok()?),
            None => {
                let cpu: u32 = item.parse().ok()?;
                (cpu, cpu)
            }
        };
        if first > last {
            return None;
        }
        ranges.push((first, last));
    }
    ranges.sort_unstable();
    // Merge so that a list the kernel would never write ("0-3,2-5") still counts each CPU once.
    let mut count: u64 = 0;
    let mut covered_up_to: Option<u32> = None;
    for (first, last) in ranges {
        let start = match covered_up_to {
            Some(end) if last <= end => continue,
            Some(end) if first <= end => end + 1,
            _ => first,
        };
        count += u64::from(last - start) + 1;
        covered_up_to = Some(last);
    }
    u32::try_from(count).ok()
}

/// Finds `Cpus_allowed_list` in the text of `/proc/self/status` and counts it.
pub fn parse_status_affinity(status: &str) -> Option<u32> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix("Cpus_allowed_list:")?;
        parse_cpu_list(value)
    })
}

/// CPUs this process can keep busy: the affinity count (or all logical CPUs when unknown),
/// capped by the quota rounded up, and never below 1.
pub fn usable_cpus(affinity: Option<u32>, quota: Option<CpuQuota>, logical_cpus: u32) -> u32 {
    let allowed = affinity.unwrap_or(logical_cpus);
    let capped = match quota {
        Some(quota) => u32::try_from(quota.ceil_cpus()).map_or(allowed, |q| allowed.min(q)),
        None => allowed,
    };
    capped.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(quota_us: u64, period_us: u64) -> Option<CpuQuota> {
        Some(CpuQuota {
            quota_us,
            period_us,
        })
    }

    #[test]
    fn counts_cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,8,10-11"), Some(7));
        assert_eq!(parse_cpu_list("0\n"), Some(1));
        assert_eq!(parse_cpu_list("0-1"), Some(2));
        assert_eq!(parse_cpu_list("0-4095"), Some(4096));
        assert_eq!(parse_cpu_list(" 2 , 5-6 "), Some(3));
        assert_eq!(parse_cpu_list("0-3,2-5,4"), Some(6));
        assert_eq!(parse_cpu_list("0-4294967295"), None);
    }

    #[test]
    fn rejects_malformed_cpu_lists() {
        for garbage in [
            "", " \n", "3-1", "a-b", "0-", "-3", "0,,1", "0-1-2", "1.5", "0-3,x",
        ] {
            assert_eq!(parse_cpu_list(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn finds_affinity_in_status() {
        let status =
            "Name:\tcat\nCpus_allowed:\tff\nCpus_allowed_list:\t0-3,8,10-11\nMems_allowed:\t1\n";
        assert_eq!(parse_status_affinity(status), Some(7));
        assert_eq!(parse_status_affinity("Name:\tcat\n"), None);
        assert_eq!(parse_status_affinity("Cpus_allowed_list:\tgarbage\n"), None);
        assert_eq!(parse_status_affinity(""), None);
    }

    #[test]
    fn combines_affinity_and_quota() {
        assert_eq!(usable_cpus(Some(8), None, 16), 8);
        assert_eq!(usable_cpus(None, None, 16), 16);
        assert_eq!(usable_cpus(Some(8), quota(150_000, 100_000), 16), 2);
        assert_eq!(usable_cpus(Some(2), quota(400_000, 100_000), 16), 2);
        assert_eq!(usable_cpus(Some(4), quota(10_000, 100_000), 4), 1);
        assert_eq!(usable_cpus(Some(0), None, 0), 1);
        assert_eq!(usable_cpus(Some(4), quota(u64::MAX, 1), 4), 4);
    }
}
