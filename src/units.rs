//! Sizes and durations, with PostgreSQL's semantics. This is the only module that converts
//! units, so every number the tool prints or compares goes through one set of rules.
//!
//! We write our own instead of using a byte-size crate on purpose: PostgreSQL's `GB` is
//! 1024³ bytes and its units are case-sensitive (`kB`, `MB`, `GB`, `TB`; `KB` is an error),
//! while the common crates treat `GB` as 10⁹ and accept any case. Emitting their output would
//! give values the server rejects or silently reads as something else.
//!
//! Two parsers exist because they serve two audiences: [`parse_size_flag`] reads what a person
//! types after `--ram` (forgiving: `GiB`, `G`, any case, decimals), while [`parse_pg_size_kb`]
//! and [`parse_pg_time_ms`] read what the server prints (strict, exactly PostgreSQL's rules).

/// Bytes in one kB (PostgreSQL: 1024).
pub const KB_BYTES: u64 = 1024;
/// kB in one MB.
pub const MB_KB: u64 = 1024;
/// Bytes in one MB (PostgreSQL's and Redis's `mb` alike: 1024-based).
pub const MB_BYTES: u64 = MB_KB * KB_BYTES;
/// kB in one GB.
pub const GB_KB: u64 = 1024 * 1024;
/// kB in one TB.
pub const TB_KB: u64 = 1024 * 1024 * 1024;

/// Parses a size typed on the command line (`64GB`, `512MB`, `1.5TB`, `16GiB`, `16g`) into
/// bytes. Units are 1024-based whatever the spelling; matching is case-insensitive because a
/// person typing `--ram 64gb` means 64 GB. A unit is required: a bare `64` is ambiguous.
pub fn parse_size_flag(text: &str) -> Result<u64, String> {
    const ACCEPTED: &str = "expected a size such as 64GB, 512MB or 1.5TB (kB, MB, GB, TB; \
                            KiB/MiB/GiB/TiB and K/M/G/T spellings too; 1GB = 1024³ bytes)";
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("empty size; {ACCEPTED}"));
    }
    if t.starts_with('-') {
        return Err(format!("'{text}' is negative; {ACCEPTED}"));
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    if number.is_empty() {
        return Err(format!("'{text}' is not a size; {ACCEPTED}"));
    }
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "b" => 1,
        "k" | "kb" | "kib" => KB_BYTES,
        "m" | "mb" | "mib" => KB_BYTES * MB_KB,
        "g" | "gb" | "gib" => KB_BYTES * GB_KB,
        "t" | "tb" | "tib" => KB_BYTES * TB_KB,
        "" => return Err(format!("'{text}' has no unit; {ACCEPTED}")),
        _ => return Err(format!("'{text}' has an unknown unit '{unit}'; {ACCEPTED}")),
    };
    let bytes = scale_decimal(number, multiplier)
        .ok_or_else(|| format!("'{text}' is not a size; {ACCEPTED}"))?;
    u64::try_from(bytes).map_err(|_| format!("'{text}' is too large; {ACCEPTED}"))
}

/// `number × multiplier` for a decimal string, exactly (integer arithmetic, floor), so that
/// `1.5TB` is exactly 1.5 × 1024⁴ bytes with no float drift. `None` when malformed; a result
/// above `u64::MAX` saturates to a value the caller rejects as too large.
fn scale_decimal(number: &str, multiplier: u64) -> Option<u128> {
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // Digits beyond 30 cannot change a u64 result after flooring; cap them to keep u128 safe.
    let frac_part = &frac_part[..frac_part.len().min(30)];
    let int_value: u128 = if int_part.is_empty() {
        0
    } else if int_part.trim_start_matches('0').len() > 30 {
        return Some(u128::MAX);
    } else {
        int_part.parse().ok()?
    };
    let m = u128::from(multiplier);
    let whole = int_value.saturating_mul(m);
    if frac_part.is_empty() {
        return Some(whole);
    }
    let frac_value: u128 = frac_part.parse().ok()?;
    let denominator = 10u128.pow(u32::try_from(frac_part.len()).ok()?);
    // frac_value < denominator ≤ 10³⁰ and m ≤ 2⁴⁰, so the product fits in u128.
    Some(whole.saturating_add(frac_value * m / denominator))
}

/// Formats a size in kB the way postgresql.conf wants it: an integer with the largest unit
/// that divides it exactly (`16GB`, `2560MB`, `20560kB`). Never a decimal, never `KB`.
pub fn format_kb(kb: u64) -> String {
    if kb != 0 && kb.is_multiple_of(GB_KB) {
        format!("{}GB", kb / GB_KB)
    } else if kb != 0 && kb.is_multiple_of(MB_KB) {
        format!("{}MB", kb / MB_KB)
    } else {
        format!("{kb}kB")
    }
}

/// Formats a duration in milliseconds with the largest PostgreSQL time unit that divides it
/// exactly (`5min`, `200ms`, `30s`, `1h`, `1d`).
pub fn format_ms(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "min"),
        (1_000, "s"),
    ];
    for (size, unit) in UNITS {
        if ms != 0 && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Formats bytes for people, 1024-based: exact multiples without decimals ("2 GiB",
/// "512 MiB"), anything else with one decimal ("23.5 GiB"). Used in headers and tables, never in
/// anything the server reads.
pub fn format_bytes_human(bytes: u64) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("B", 1),
    ];
    let (name, unit) = UNITS
        .into_iter()
        .find(|&(_, unit)| bytes >= unit)
        .unwrap_or(("B", 1));
    if bytes.is_multiple_of(unit) {
        return format!("{} {name}", bytes / unit);
    }
    // Tenths, rounded half up, in integers so no float rounding surprises.
    let tenths = (u128::from(bytes) * 10 + u128::from(unit) / 2) / u128::from(unit);
    format!("{}.{} {name}", tenths / 10, tenths % 10)
}

/// Formats epoch seconds as an ISO 8601 UTC timestamp (`2026-11-26T23:30:05Z`), without a
/// date crate: the civil-from-days conversion is a few lines (Howard Hinnant's algorithm).
#[allow(clippy::cast_possible_truncation)]
pub fn format_epoch_utc(epoch: f64) -> String {
    let secs = if epoch.is_finite() {
        epoch.floor() as i64
    } else {
        0
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// The units every duration flag accepts, for help texts and messages.
pub const DURATION_UNITS: &str = "ms, s, min (or m), h, d";

/// Parses the value of any duration flag (`--interval`, `--statement-timeout`,
/// `--connect-timeout`) into milliseconds: a number with a unit, `30s`, `500ms`, `1.5s`,
/// `5min`, `5m`, `1h`, `1d`. Units are required: PostgreSQL would read a bare `1` as the
/// setting's base unit (milliseconds for `statement_timeout`, seconds elsewhere), and one
/// flag meaning milliseconds next to another meaning seconds is a trap, so a bare number is
/// refused with a message suggesting both spellings. The one exception is `0`, which is
/// the same span in every unit. Range checks are the caller's.
pub fn parse_duration_ms(text: &str) -> Result<f64, String> {
    let accepted =
        format!("expected a number with a unit such as 30s or 500ms (units {DURATION_UNITS})");
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration; {accepted}"))?;
    let factor_ms = match unit {
        "" if value == 0.0 => 0.0,
        "" => {
            return Err(format!(
                "'{text}' has no unit: write {number}s for seconds or {number}ms for milliseconds \
                 (units {DURATION_UNITS})"
            ));
        }
        "ms" => 1.0,
        "s" | "sec" => 1_000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return Err(format!("'{text}' has an unknown unit '{unit}'; {accepted}")),
    };
    Ok(value * factor_ms)
}

/// Longest `--interval`: a window must end while someone still waits for the answer.
const MAX_INTERVAL_MS: f64 = 7.0 * 86_400_000.0;

/// `check --interval`: a [`parse_duration_ms`] span from 1ms to 7 days. Zero and negative
/// spans are refused: a window must have a length.
pub fn parse_duration_flag(text: &str) -> Result<std::time::Duration, String> {
    let ms = parse_duration_ms(text)?;
    if !(1.0..=MAX_INTERVAL_MS).contains(&ms) {
        return Err(format!("'{text}' is out of range: from 1ms to 7d"));
    }
    Ok(std::time::Duration::from_secs_f64(ms / 1_000.0))
}

/// Splits `"  4 GB"` into `(4.0, "GB")` the way PostgreSQL's `parse_int`/`parse_real` do:
/// a number (possibly with a fraction or exponent), optional whitespace, then a unit.
fn split_pg_number(text: &str) -> Option<(f64, &str)> {
    let t = text.trim();
    let end = t
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_digit()
                || c == '.'
                || ((c == '-' || c == '+') && (i == 0 || t[..i].ends_with(['e', 'E'])))
                || ((c == 'e' || c == 'E') && i > 0))
        })
        .map_or(t.len(), |(i, _)| i);
    // "1e" followed by a unit letter would be misread; PostgreSQL units never start with e/E
    // except none, so this is only a guard against odd input.
    let number: f64 = t[..end].parse().ok()?;
    Some((number, t[end..].trim()))
}

/// Parses a PostgreSQL memory value (`4GB`, `8kB`, `128MB`, `1TB`, `512B`, or a bare number
/// in `base_unit_kb` units, as `pg_settings.setting` prints it) into kB. Units are
/// case-sensitive, exactly as the server's. `base_unit_kb` is the size of the setting's unit
/// in kB: 8 for `8kB`, 1 for `kB`, 1024 for `MB`, 16384 for `16MB`.
pub fn parse_pg_size_kb(text: &str, base_unit_kb: u64) -> Result<f64, String> {
    let (number, unit) =
        split_pg_number(text).ok_or_else(|| format!("'{text}' is not a PostgreSQL size"))?;
    let factor_kb = match unit {
        "" => base_unit_kb as f64,
        "B" => 1.0 / KB_BYTES as f64,
        "kB" => 1.0,
        "MB" => MB_KB as f64,
        "GB" => GB_KB as f64,
        "TB" => TB_KB as f64,
        other => {
            return Err(format!(
                "'{text}' has unit '{other}'; PostgreSQL accepts B, kB, MB, GB, TB (case-sensitive)"
            ));
        }
    };
    Ok(number * factor_kb)
}

/// Parses a PostgreSQL time value (`5min`, `200ms`, `30s`, `1h`, `1d`, `10us`, or a bare
/// number in `base_unit_ms` units) into milliseconds. Units are case-sensitive.
pub fn parse_pg_time_ms(text: &str, base_unit_ms: f64) -> Result<f64, String> {
    let (number, unit) =
        split_pg_number(text).ok_or_else(|| format!("'{text}' is not a PostgreSQL duration"))?;
    let factor_ms = match unit {
        "" => base_unit_ms,
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1_000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        other => {
            return Err(format!(
                "'{text}' has unit '{other}'; PostgreSQL accepts us, ms, s, min, h, d (case-sensitive)"
            ));
        }
    };
    Ok(number * factor_ms)
}

/// What one `pg_settings.unit` means: a memory unit worth N kB, or a time unit worth N ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SettingUnit {
    /// A memory setting whose base unit is this many bytes (`8kB` → 8192, `B` → 1).
    Memory(u64),
    /// A time setting whose base unit is this many ms (`s` → 1000, `us` → 0.001).
    Time(f64),
    /// No unit: a plain number, a boolean, an enum or a string.
    None,
}

/// Interprets `pg_settings.unit` (`8kB`, `kB`, `MB`, `16MB`, `B`, `ms`, `s`, `min`, `us`, …).
/// `None` for a unit this version of the tool does not know, so callers can say so.
pub fn setting_unit(unit: Option<&str>) -> Option<SettingUnit> {
    let Some(unit) = unit.filter(|u| !u.is_empty()) else {
        return Some(SettingUnit::None);
    };
    if let Ok(time) = parse_pg_time_ms(&format!("1{unit}"), 1.0)
        && matches!(unit, "us" | "ms" | "s" | "min" | "h" | "d")
    {
        return Some(SettingUnit::Time(time));
    }
    // Memory units are an optional whole multiplier and a suffix: `8kB`, `16MB`, `kB`.
    let digits = unit.len() - unit.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let number: u64 = if digits == 0 {
        1
    } else {
        unit[..digits].parse().ok().filter(|&n| n >= 1)?
    };
    let per_bytes = match &unit[digits..] {
        "B" => 1,
        "kB" => KB_BYTES,
        "MB" => MB_KB * KB_BYTES,
        "GB" => GB_KB * KB_BYTES,
        "TB" => TB_KB * KB_BYTES,
        _ => return None,
    };
    number.checked_mul(per_bytes).map(SettingUnit::Memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_sizes_are_1024_based_and_forgiving() {
        assert_eq!(parse_size_flag("64GB"), Ok(64 << 30));
        assert_eq!(parse_size_flag("64gb"), Ok(64 << 30));
        assert_eq!(parse_size_flag("64GiB"), Ok(64 << 30));
        assert_eq!(parse_size_flag("64G"), Ok(64 << 30));
        assert_eq!(parse_size_flag("512MB"), Ok(512 << 20));
        assert_eq!(parse_size_flag("1.5TB"), Ok(3 << 39));
        assert_eq!(parse_size_flag("0.5GB"), Ok(512 << 20));
        assert_eq!(parse_size_flag(".5GB"), Ok(512 << 20));
        assert_eq!(parse_size_flag("100kB"), Ok(100 << 10));
        assert_eq!(parse_size_flag(" 2 GB "), Ok(2 << 30));
    }

    #[test]
    fn flag_sizes_reject_what_is_not_a_size() {
        for bad in [
            "abc", "", "-5GB", "64XB", "64", "GB", "1.2.3GB", "1e3GB", "5 G B",
        ] {
            let err = parse_size_flag(bad).unwrap_err();
            assert!(err.contains("expected a size"), "{bad}: {err}");
        }
        assert!(
            parse_size_flag("99999999999TB")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            parse_size_flag("99999999999999999999999999999999999999999TB")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn conf_sizes_use_the_largest_exact_unit() {
        assert_eq!(format_kb(16 * GB_KB), "16GB");
        assert_eq!(format_kb(2560 * MB_KB), "2560MB");
        assert_eq!(format_kb(20560), "20560kB");
        assert_eq!(format_kb(2047 * MB_KB), "2047MB");
        assert_eq!(format_kb(0), "0kB");
        assert_eq!(format_kb(32), "32kB");
    }

    #[test]
    fn conf_times_use_the_largest_exact_unit() {
        assert_eq!(format_ms(300_000), "5min");
        assert_eq!(format_ms(200), "200ms");
        assert_eq!(format_ms(30_000), "30s");
        assert_eq!(format_ms(3_600_000), "1h");
        assert_eq!(format_ms(90_000), "90s");
        assert_eq!(format_ms(0), "0ms");
    }

    #[test]
    fn server_sizes_are_case_sensitive() {
        assert_eq!(parse_pg_size_kb("4GB", 8), Ok(4.0 * GB_KB as f64));
        assert_eq!(parse_pg_size_kb("16384", 8), Ok(131072.0));
        assert_eq!(parse_pg_size_kb("8 kB", 8), Ok(8.0));
        assert_eq!(parse_pg_size_kb("1024B", 1), Ok(1.0));
        assert!(parse_pg_size_kb("4gb", 8).is_err());
        assert!(parse_pg_size_kb("4KB", 8).is_err());
        assert!(parse_pg_size_kb("x", 8).is_err());
    }

    #[test]
    fn server_times_are_case_sensitive() {
        assert_eq!(parse_pg_time_ms("5min", 1.0), Ok(300_000.0));
        assert_eq!(parse_pg_time_ms("300", 1000.0), Ok(300_000.0));
        assert_eq!(parse_pg_time_ms("-1", 1.0), Ok(-1.0));
        assert!(parse_pg_time_ms("5MIN", 1.0).is_err());
    }

    #[test]
    fn setting_units_cover_pg_settings() {
        assert_eq!(setting_unit(Some("8kB")), Some(SettingUnit::Memory(8192)));
        assert_eq!(setting_unit(Some("kB")), Some(SettingUnit::Memory(1024)));
        assert_eq!(setting_unit(Some("B")), Some(SettingUnit::Memory(1)));
        assert_eq!(setting_unit(Some("MB")), Some(SettingUnit::Memory(1 << 20)));
        assert_eq!(
            setting_unit(Some("16MB")),
            Some(SettingUnit::Memory(16 << 20))
        );
        assert_eq!(setting_unit(Some("ms")), Some(SettingUnit::Time(1.0)));
        assert_eq!(setting_unit(Some("s")), Some(SettingUnit::Time(1000.0)));
        assert_eq!(setting_unit(Some("min")), Some(SettingUnit::Time(60_000.0)));
        assert_eq!(setting_unit(None), Some(SettingUnit::None));
        assert_eq!(setting_unit(Some("")), Some(SettingUnit::None));
        assert_eq!(setting_unit(Some("parsecs")), None);
    }

    #[test]
    fn durations_and_timestamps() {
        assert_eq!(format_epoch_utc(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(format_epoch_utc(1_795_736_405.9), "2026-11-26T23:40:05Z");
        assert_eq!(format_epoch_utc(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(
            parse_duration_flag("30s"),
            Ok(std::time::Duration::from_secs(30))
        );
        assert_eq!(
            parse_duration_flag("5m"),
            Ok(std::time::Duration::from_secs(300))
        );
        assert_eq!(
            parse_duration_flag("5min"),
            Ok(std::time::Duration::from_secs(300))
        );
        assert_eq!(
            parse_duration_flag("2s"),
            Ok(std::time::Duration::from_secs(2))
        );
        assert_eq!(
            parse_duration_flag("1d"),
            Ok(std::time::Duration::from_secs(86_400))
        );
        assert_eq!(
            parse_duration_flag("250ms"),
            Ok(std::time::Duration::from_millis(250))
        );
        for bad in ["0s", "0", "-5s", "abc", "5x", "", "30d", "2"] {
            assert!(parse_duration_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bare_duration_is_refused_with_both_readings_offered() {
        let err = parse_duration_ms("1").unwrap_err();
        assert!(err.contains("1s") && err.contains("1ms"), "{err}");
        let err = parse_duration_ms("2.5").unwrap_err();
        assert!(err.contains("2.5s") && err.contains("2.5ms"), "{err}");
        assert_eq!(parse_duration_ms("0"), Ok(0.0));
        assert_eq!(parse_duration_ms("1.5s"), Ok(1500.0));
        assert_eq!(parse_duration_ms(" 2 min "), Ok(120_000.0));
        assert_eq!(parse_duration_ms("500ms"), Ok(500.0));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(format_bytes_human(23_622_320_128), "22 GiB");
        assert_eq!(format_bytes_human(64 << 30), "64 GiB");
        assert_eq!(format_bytes_human(512), "512 B");
        assert_eq!(format_bytes_human(1536 << 20), "1.5 GiB");
    }
}
