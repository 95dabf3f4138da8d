//! How numbers read in findings and rendered reports: percentages, counts and rough
//! durations. Shared by `diag` (whose messages carry numbers) and `render::report` so a ratio
//! reads the same in a finding and in the table beside it. Sizes and exact durations are
//! `units`' business; [`approx_duration`] only rounds before handing over to it.

use crate::units::format_ms;

/// Seconds in a minute, hour and day, for rounding durations.
const MINUTE_SECONDS: u64 = 60;
const HOUR_SECONDS: u64 = 3_600;
const DAY_SECONDS: u64 = 86_400;

/// A ratio as a percentage with two decimals (`99.87%`), or `—` when there is none.
/// Truncated, not rounded: 99.996% prints as `99.99%`, so `100.00%` means no miss at all.
pub fn format_ratio(ratio: Option<f64>) -> String {
    match ratio {
        // The epsilon absorbs binary noise (0.9987 × 10⁴ = 9986.999…) before flooring.
        Some(r) => format!("{:.2}%", (r * 10_000.0 + 1e-6).floor() / 100.0),
        None => "—".to_owned(),
    }
}

/// A count with thousands separators (`1,234,567`).
pub fn format_count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration rounded to the unit that suits its size (`45s`, `12min`, `27h`, `3d`), for
/// "statistics cover 27h" where the exact second is noise.
pub fn approx_duration(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".to_owned();
    }
    let rounded = |unit: u64| (seconds + unit / 2) / unit * unit;
    let s = if seconds < 2 * MINUTE_SECONDS {
        seconds
    } else if seconds < 2 * HOUR_SECONDS {
        rounded(MINUTE_SECONDS)
    } else if seconds < 2 * DAY_SECONDS {
        rounded(HOUR_SECONDS)
    } else {
        rounded(DAY_SECONDS)
    };
    format_ms(s.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_truncate_to_two_decimals() {
        assert_eq!(format_ratio(Some(0.9987)), "99.87%");
        assert_eq!(format_ratio(Some(0.99996)), "99.99%");
        assert_eq!(format_ratio(Some(1.0)), "100.00%");
        assert_eq!(format_ratio(Some(0.0)), "0.00%");
        assert_eq!(format_ratio(Some(0.5)), "50.00%");
        assert_eq!(format_ratio(None), "—");
    }

    #[test]
    fn counts_group_thousands() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1_000), "1,000");
        assert_eq!(format_count(1_234_567), "1,234,567");
        assert_eq!(format_count(-12_345), "-12,345");
        assert_eq!(format_count(i64::MIN), "-9,223,372,036,854,775,808");
    }

    #[test]
    fn durations_round_to_a_readable_unit() {
        assert_eq!(approx_duration(0), "0s");
        assert_eq!(approx_duration(59), "59s");
        assert_eq!(approx_duration(745), "12min");
        assert_eq!(approx_duration(3_600), "1h");
        assert_eq!(approx_duration(27 * 3_600 + 100), "27h");
        assert_eq!(approx_duration(3 * 86_400 + 7_000), "3d");
    }
}
