//! How old statistics counters are, and whether they are too young to judge ratios by: one
//! rule for `report` and `check`.
//!
//! Counters survive a clean restart (PostgreSQL writes them out at shutdown and reads them
//! back, before 15 and since), so the server's start time says nothing about their age:
//! right after a restart they may hold months of traffic. Only two things do: the
//! `stats_reset` time, which is known exactly, and the counters themselves, which are too
//! quiet to mean much below [`MIN_TRUSTED_BLOCKS`]. A crash discards the counters, and
//! with them their `stats_reset`, so the few blocks counted since then tell that story.

use super::{MIN_TRUSTED_BLOCKS, MIN_TRUSTED_WINDOW_SECONDS};

/// Whole seconds between two server timestamps, 0 when negative or not finite.
pub(super) fn seconds_between(from: f64, to: f64) -> u64 {
    let d = (to - from).floor();
    if d.is_finite() && d > 0.0 {
        // Floored, positive and finite: the saturating float-to-int cast is the intent.
        #[allow(clippy::cast_possible_truncation)]
        let s = d as u64;
        s
    } else {
        0
    }
}

/// Seconds the counters reset at `stats_reset_epoch` have been counting at `now_epoch`
/// (both server clock, epoch seconds), or `None` when they were never reset: then their
/// age is unknown, whatever the server's uptime.
pub fn counters_age_seconds(stats_reset_epoch: Option<f64>, now_epoch: f64) -> Option<u64> {
    stats_reset_epoch.map(|reset| seconds_between(reset, now_epoch))
}

/// The counters were reset less than [`MIN_TRUSTED_WINDOW_SECONDS`] ago (`age_seconds` from
/// [`counters_age_seconds`]; unknown is not recent).
pub fn recently_reset(age_seconds: Option<u64>) -> bool {
    age_seconds.is_some_and(|age| age < MIN_TRUSTED_WINDOW_SECONDS)
}

/// Counters too young to judge hit ratios by: reset less than
/// [`MIN_TRUSTED_WINDOW_SECONDS`] ago, or fewer than [`MIN_TRUSTED_BLOCKS`] blocks (hit +
/// read) counted. `age_seconds` comes from [`counters_age_seconds`]; the server's start time
/// plays no part (see the module docs).
pub fn young_statistics(age_seconds: Option<u64>, blocks: i64) -> bool {
    recently_reset(age_seconds) || blocks < MIN_TRUSTED_BLOCKS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_comes_from_the_reset_only() {
        assert_eq!(counters_age_seconds(None, 1_000.0), None);
        assert_eq!(counters_age_seconds(Some(400.0), 1_000.5), Some(600));
        assert_eq!(
            counters_age_seconds(Some(2_000.0), 1_000.0),
            Some(0),
            "clock skew"
        );
        assert_eq!(counters_age_seconds(Some(f64::NAN), 1_000.0), Some(0));
    }

    #[test]
    fn young_by_a_recent_reset_or_few_blocks_never_by_uptime() {
        let plenty = MIN_TRUSTED_BLOCKS;
        // Never reset (a clean restart a second ago keeps the counters): not young.
        assert!(!young_statistics(None, plenty));
        assert!(young_statistics(None, plenty - 1), "too quiet");
        assert!(young_statistics(
            Some(MIN_TRUSTED_WINDOW_SECONDS - 1),
            plenty
        ));
        assert!(!young_statistics(Some(MIN_TRUSTED_WINDOW_SECONDS), plenty));
        assert!(recently_reset(Some(0)));
        assert!(!recently_reset(None));
    }
}
