//! `redis check`'s window: a Redis cache's keyspace lookups judged by the same gate as
//! PostgreSQL's blocks. `keyspace_hits` and `keyspace_misses` are the same shape as
//! `blks_hit` and `blks_read`, so a sample becomes one [`Counter`] of scope
//! [`Scope::Keyspace`], the window is [`window::difference`] of two of them, and [`judge`]
//! decides; only what makes two Redis samples comparable is Redis's own.
//!
//! Redis has no `stats_reset` time: a restart shows as a new `run_id` or uptime going down,
//! and `CONFIG RESETSTAT` (which keeps both) only as a counter going down. Any of those makes
//! the window unusable (UNKNOWN with the reason), never a ratio over half a window.

use super::{
    Counter, GateOptions, Reason, Scope, Unusable, Verdict, Window, WindowKind, judge, window,
};
use crate::facts::redis::{MONOTONIC_COUNTERS, RedisSample};

/// Default floor of lookups (hits + misses) in the window: under it the ratio is noise.
pub const DEFAULT_MIN_LOOKUPS: i64 = 100;

/// The keyspace counter of one sample, named `name` (the target as given to this run, so
/// that a snapshot taken through another URL of the same server still matches).
fn counter(sample: &RedisSample, name: &str) -> Counter {
    let value = |field: &str| {
        sample
            .counter(field)
            .map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX))
    };
    Counter {
        scope: Scope::Keyspace,
        database: String::new(),
        schema: None,
        name: name.to_string(),
        hits: value("keyspace_hits"),
        reads: value("keyspace_misses"),
        oid: None,
        database_oid: None,
        recreated: false,
    }
}

/// Whether `after` counts on from `before`: the same process (`run_id`), uptime not going
/// down, time not going backwards, and no counter going down.
pub fn comparable(before: &RedisSample, after: &RedisSample) -> Result<(), Unusable> {
    if let (Some(a), Some(b)) = (&before.run_id, &after.run_id)
        && a != b
    {
        return Err(Unusable::RunIdChanged {
            before: a.clone(),
            after: b.clone(),
        });
    }
    if let (Some(a), Some(b)) = (before.uptime_seconds, after.uptime_seconds)
        && b < a
    {
        return Err(Unusable::UptimeDecreased {
            before: a,
            after: b,
        });
    }
    if after.epoch < before.epoch {
        return Err(Unusable::SnapshotNewer);
    }
    let down: Vec<(&str, u64, u64)> = MONOTONIC_COUNTERS
        .iter()
        .filter_map(|name| {
            let (a, b) = (before.counter(name)?, after.counter(name)?);
            (b < a).then_some((*name, a, b))
        })
        .collect();
    if let Some(&(counter, before, after)) = down.first() {
        return Err(Unusable::CounterDecreased {
            counter: counter.to_string(),
            before,
            after,
            others: down.len() - 1,
        });
    }
    Ok(())
}

/// The lifetime window of one sample: since the server started. A `CONFIG RESETSTAT` since
/// then leaves no trace in INFO, so the counters may cover less.
fn lifetime_window(sample: &RedisSample) -> Window {
    #[allow(clippy::cast_precision_loss)] // uptimes are far below 2^53 seconds
    let uptime = sample.uptime_seconds.map_or(0.0, |u| u as f64);
    Window {
        kind: WindowKind::Lifetime,
        start_epoch: (sample.epoch - uptime).max(0.0),
        end_epoch: sample.epoch,
    }
}

/// Judges one cache: the lifetime counters of `end` when `start` is `None`, else the window
/// between the samples (`kind` says how `start` was taken). `name` labels the item.
///
/// With one item there is nothing to ignore, so the floor decides the verdict itself: under
/// it, the state is what `opts.on_insufficient` says (the shell's default is UNKNOWN), with
/// the "insufficient data" reason kept for the message.
pub fn check(
    start: Option<(&RedisSample, WindowKind)>,
    end: &RedisSample,
    name: &str,
    opts: &GateOptions,
) -> Verdict {
    let (counters, w) = match start {
        None => (vec![counter(end, name)], lifetime_window(end)),
        Some((start, kind)) => {
            let w = Window {
                kind,
                start_epoch: start.epoch,
                end_epoch: end.epoch,
            };
            let diff = comparable(start, end)
                .and_then(|()| window::difference(&[counter(start, name)], &[counter(end, name)]));
            match diff {
                Ok(counters) => (counters, w),
                Err(reason) => return Verdict::unknown(Reason::Unusable(reason), Some(w)),
            }
        }
    };
    let mut verdict = judge(counters, w, opts);
    if matches!(verdict.reason, Some(Reason::Insufficient { .. })) {
        verdict.status = verdict.items.first().map_or(verdict.status, |i| i.status);
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{OnInsufficient, Status, Thresholds};

    fn sample(hits: u64, misses: u64, uptime: u64, epoch: f64) -> RedisSample {
        RedisSample {
            target: "redis://cache:6379".into(),
            run_id: Some("a".repeat(40)),
            uptime_seconds: Some(uptime),
            epoch,
            counters: [
                ("keyspace_hits".to_string(), hits),
                ("keyspace_misses".to_string(), misses),
                ("total_commands_processed".to_string(), hits + misses + 10),
            ]
            .into_iter()
            .collect(),
        }
    }

    fn opts(critical: f64, on_insufficient: OnInsufficient) -> GateOptions {
        GateOptions {
            thresholds: Thresholds {
                warning: None,
                critical: Some(critical),
            },
            min_blocks: DEFAULT_MIN_LOOKUPS,
            on_insufficient,
            include: Vec::new(),
            exclude: Vec::new(),
            overrides: Vec::new(),
        }
    }

    #[test]
    fn window_ratio_is_the_difference_of_the_samples() {
        let before = sample(1_000, 9_000, 100, 1_000.0);
        let after = sample(1_300, 9_100, 130, 1_030.0);
        let v = check(
            Some((&before, WindowKind::Interval)),
            &after,
            "c",
            &opts(80.0, OnInsufficient::Unknown),
        );
        assert_eq!(v.status, Status::Critical, "{v:?}");
        assert_eq!(v.items[0].hit_ratio, Some(0.75));
        assert_eq!(
            (v.items[0].counter.hits, v.items[0].counter.reads),
            (300, 100)
        );
        assert_eq!(v.window.as_ref().map(Window::seconds), Some(30.0));
        let v = check(
            Some((&before, WindowKind::Since)),
            &after,
            "c",
            &opts(75.0, OnInsufficient::Unknown),
        );
        assert_eq!(v.status, Status::Ok, "{v:?}");
    }

    #[test]
    fn lifetime_window_starts_at_server_start() {
        let s = sample(90, 10, 3_600, 10_000.0);
        let mut o = opts(95.0, OnInsufficient::Unknown);
        o.min_blocks = 10;
        let v = check(None, &s, "c", &o);
        assert_eq!(v.status, Status::Critical);
        let w = v.window.expect("window");
        assert_eq!((w.kind, w.start_epoch), (WindowKind::Lifetime, 6_400.0));
    }

    #[test]
    fn resets_and_restarts_are_unknown_with_the_reason() {
        let before = sample(500, 100, 100, 1_000.0);
        let o = opts(50.0, OnInsufficient::Unknown);
        let unusable = |after: &RedisSample| {
            let v = check(Some((&before, WindowKind::Since)), after, "c", &o);
            assert_eq!(v.status, Status::Unknown, "{v:?}");
            match v.reason {
                Some(Reason::Unusable(u)) => u,
                other => panic!("{other:?}"),
            }
        };
        // CONFIG RESETSTAT: same run_id, uptime grows, the counters restart from zero.
        let reset = sample(300, 100, 130, 1_030.0);
        assert_eq!(
            unusable(&reset),
            Unusable::CounterDecreased {
                counter: "keyspace_hits".into(),
                before: 500,
                after: 300,
                others: 1,
            }
        );
        let mut restarted = sample(900, 200, 5, 1_030.0);
        assert_eq!(
            unusable(&restarted),
            Unusable::UptimeDecreased {
                before: 100,
                after: 5
            }
        );
        restarted.run_id = Some("b".repeat(40));
        assert!(matches!(
            unusable(&restarted),
            Unusable::RunIdChanged { .. }
        ));
        let earlier = sample(900, 200, 130, 900.0);
        assert_eq!(unusable(&earlier), Unusable::SnapshotNewer);
        // Misses alone going down is a reset too, with hits grown past their old value.
        let mut misses = sample(900, 50, 130, 1_030.0);
        misses
            .counters
            .insert("total_commands_processed".into(), 2_000);
        assert!(matches!(
            unusable(&misses),
            Unusable::CounterDecreased { ref counter, others: 0, .. } if counter == "keyspace_misses"
        ));
    }

    #[test]
    fn the_floor_decides_a_quiet_window() {
        let before = sample(1_000, 0, 100, 1_000.0);
        let after = sample(1_040, 10, 110, 1_010.0);
        for (on, status) in [
            (OnInsufficient::Unknown, Status::Unknown),
            (OnInsufficient::Critical, Status::Critical),
            (OnInsufficient::Ok, Status::Ok),
        ] {
            let v = check(
                Some((&before, WindowKind::Interval)),
                &after,
                "c",
                &opts(99.0, on),
            );
            assert_eq!(v.status, status, "{on:?}");
            assert_eq!(
                v.reason,
                Some(Reason::Insufficient {
                    min_blocks: DEFAULT_MIN_LOOKUPS,
                    most: 50
                })
            );
        }
    }
}
