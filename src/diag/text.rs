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
/// Rounded half away from zero, as psql's `round(100.0 * hit / (hit + read), 2)` does, so
/// the tool and a hand-written query agree: 2/3 prints as `66.67%`.
pub fn format_ratio(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) => format!("{}%", format_percent(r * 100.0, 2)),
        None => "—".to_owned(),
    }
}

/// A threshold fraction as a whole percentage (`0.99` → `99%`).
pub fn whole_percent(fraction: f64) -> String {
    format!("{}%", format_percent(fraction * 100.0, 0))
}

/// `percent` with `decimals` digits after the point (no `%` sign), rounded half away from
/// zero like PostgreSQL's `round(numeric, n)`: the one rounding rule for every percentage
/// the tool prints (tables, findings, Nagios perfdata).
pub fn format_percent(percent: f64, decimals: u8) -> String {
    let d = usize::from(decimals);
    format!("{:.d$}", round_half_away(percent, i32::from(decimals)))
}

/// `x` rounded to `decimals` places, ties away from zero. A decimal tie such as 0.125 is
/// rarely exact in binary (12.5 is, 0.005 × 100 is 0.49999…), so the scaled value is nudged
/// away from zero by far less than the smallest step counters can make (1e-12 relative)
/// before rounding, which lands binary near-ties on the side decimal arithmetic would.
fn round_half_away(x: f64, decimals: i32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(decimals);
    let scaled = x * scale;
    let nudged = scaled + scaled.signum() * scaled.abs().max(1.0) * 1e-12;
    // f64::round rounds half away from zero; the `+ 0.0` turns -0 into 0.
    nudged.round() / scale + 0.0
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
    fn ratios_round_half_away_from_zero_to_two_decimals() {
        assert_eq!(format_ratio(Some(0.9987)), "99.87%");
        assert_eq!(
            format_ratio(Some(2.0 / 3.0)),
            "66.67%",
            "not truncated to 66.66%"
        );
        assert_eq!(
            format_ratio(Some(0.666_65)),
            "66.67%",
            "a decimal tie goes up"
        );
        assert_eq!(format_ratio(Some(0.666_649)), "66.66%");
        assert_eq!(format_ratio(Some(0.000_05)), "0.01%", "0.005% is a tie");
        assert_eq!(format_ratio(Some(0.000_049)), "0.00%");
        assert_eq!(
            format_ratio(Some(0.99996)),
            "100.00%",
            "as psql's round() shows it"
        );
        assert_eq!(format_ratio(Some(0.99994)), "99.99%");
        assert_eq!(format_ratio(Some(1.0)), "100.00%");
        assert_eq!(format_ratio(Some(0.0)), "0.00%");
        assert_eq!(format_ratio(Some(0.5)), "50.00%");
        assert_eq!(format_ratio(None), "—");
    }

    #[test]
    fn percents_round_like_postgres_round() {
        assert_eq!(format_percent(66.665, 2), "66.67");
        assert_eq!(format_percent(12.5, 0), "13");
        assert_eq!(format_percent(-12.5, 0), "-13");
        assert_eq!(format_percent(99.123_45, 4), "99.1235");
        // An exact binary tie: `{:.4}` rounds it to even (0.0312), psql's round() up.
        assert_eq!(format_percent(0.031_25, 4), "0.0313");
        assert_eq!(format_percent(-0.000_01, 2), "0.00");
        // Against exact integer arithmetic for every tenth-of-a-basis-point step of
        // k / 20,000: the ties land where psql's numeric round() puts them.
        for k in 0..=20_000i64 {
            let ratio = k as f64 / 20_000.0;
            // round(100 * k / 20000, 2) = round(k / 2) hundredths, ties (odd k) up.
            let hundredths = (k + 1) / 2;
            let want = format!("{}.{:02}%", hundredths / 100, hundredths % 100);
            assert_eq!(format_ratio(Some(ratio)), want, "k = {k}");
        }
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
