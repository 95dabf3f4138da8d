//! Names as PostgreSQL limits them. A server never sends an identifier longer than
//! `NAMEDATALEN - 1` bytes, so one that does is broken or hostile; keeping such names whole
//! would let one row grow every table, caption and note that repeats it (a report over many
//! databases with megabyte names runs into gigabytes). They are cut with a visible marker.

/// PostgreSQL's identifier limit in bytes (`NAMEDATALEN - 1` of a default build).
pub const MAX_NAME_BYTES: usize = 63;
/// Appended to a name that was cut, so nobody mistakes it for the real one.
pub const CUT_MARKER: &str = "…";

/// `name` when within [`MAX_NAME_BYTES`], else its longest prefix of whole characters within
/// the limit followed by [`CUT_MARKER`].
pub fn capped(mut name: String) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name;
    }
    let mut end = MAX_NAME_BYTES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.truncate(end);
    name.push_str(CUT_MARKER);
    name.shrink_to_fit();
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_within_the_limit_are_untouched() {
        assert_eq!(capped("orders".to_owned()), "orders");
        let max = "x".repeat(MAX_NAME_BYTES);
        assert_eq!(capped(max.clone()), max);
    }

    #[test]
    fn longer_names_are_cut_with_a_marker_on_a_character_boundary() {
        let cut = capped("y".repeat(10_000_000));
        assert_eq!(cut, format!("{}…", "y".repeat(MAX_NAME_BYTES)));
        assert!(cut.capacity() < 100, "the long buffer is released");
        // 'é' is two bytes: 31 of them are 62 bytes, the 32nd would cross 63.
        let cut = capped("é".repeat(40));
        assert_eq!(cut, format!("{}…", "é".repeat(31)));
    }
}
