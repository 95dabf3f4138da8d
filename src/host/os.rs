//! The operating system: a one-line description for the report header, and account names
//! from `/etc/passwd`.
//!
//! The description is shown to people, never matched on (the OS-gated settings use
//! [`crate::tune::Os`]), so the parsers here accept anything and fall back to less detail
//! rather than failing.

/// The user name of `uid` in `/etc/passwd` text (`name:x:uid:gid:…`), as `getpwuid()` gives
/// it: libpq's default user name (conninfo) and the owner a data directory's server runs as
/// (host::pg) both come from here.
pub fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let uid_field = fields.nth(1)?;
        (uid_field.parse::<u32>().ok()? == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// The display name from `os-release` text: `PRETTY_NAME`, else `NAME` plus `VERSION`.
pub fn parse_os_release(text: &str) -> Option<String> {
    let field = |key: &str| {
        text.lines().find_map(|line| {
            let value = line.trim().strip_prefix(key)?.strip_prefix('=')?;
            let value = unquote(value.trim());
            (!value.is_empty()).then_some(value)
        })
    };
    if let Some(pretty) = field("PRETTY_NAME") {
        return Some(pretty);
    }
    let name = field("NAME")?;
    Some(match field("VERSION") {
        Some(version) => format!("{name} {version}"),
        None => name,
    })
}

/// Undoes os-release's shell-style quoting: `"..."` with backslash escapes, or `'...'`.
fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.to_owned();
    }
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(escaped) = chars.next() {
                out.push(escaped);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Joins the distribution name and kernel release, e.g.
/// "Debian GNU/Linux 12 (bookworm), kernel 6.1.0"; "unknown" when neither is known.
pub fn describe(distribution: Option<&str>, kernel: Option<&str>) -> String {
    // Control characters would let a crafted os-release rewrite the terminal.
    let clean = |s: &str| -> String { s.trim().chars().filter(|c| !c.is_control()).collect() };
    let distribution = distribution.map(clean).filter(|s| !s.is_empty());
    let kernel = kernel.map(clean).filter(|s| !s.is_empty());
    match (distribution, kernel) {
        (Some(d), Some(k)) => format!("{d}, kernel {k}"),
        (Some(d), None) => d,
        (None, Some(k)) => format!("kernel {k}"),
        (None, None) => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pretty_name() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n";
        assert_eq!(
            parse_os_release(text).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }

    #[test]
    fn falls_back_to_name_and_version() {
        let text = "NAME=Alpine\nVERSION='3.20 \"edge\"'\nPRETTY_NAME=\n";
        assert_eq!(
            parse_os_release(text).as_deref(),
            Some("Alpine 3.20 \"edge\"")
        );
        assert_eq!(parse_os_release("NAME=Fedora\n").as_deref(), Some("Fedora"));
    }

    #[test]
    fn handles_escapes_and_garbage() {
        assert_eq!(
            parse_os_release(r#"PRETTY_NAME="Say \"hi\" \\o/""#).as_deref(),
            Some(r#"Say "hi" \o/"#)
        );
        assert_eq!(
            parse_os_release("PRETTY_NAME=\"unterminated\n").as_deref(),
            Some("\"unterminated")
        );
        assert_eq!(
            parse_os_release(r#"PRETTY_NAME="trailing\""#).as_deref(),
            Some("trailing")
        );
        assert_eq!(parse_os_release("PRETTY_NAMES=x\n=\n\u{0}\n"), None);
        assert_eq!(parse_os_release(""), None);
    }

    #[test]
    fn describes() {
        assert_eq!(
            describe(Some("Debian GNU/Linux 12 (bookworm)"), Some("6.1.0\n")),
            "Debian GNU/Linux 12 (bookworm), kernel 6.1.0"
        );
        assert_eq!(describe(None, Some("6.1.0")), "kernel 6.1.0");
        assert_eq!(describe(Some("Arch\u{1b}[2J"), None), "Arch[2J");
        assert_eq!(describe(Some(" "), Some("")), "unknown");
    }

    #[test]
    fn finds_the_uid_in_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n# comment\npostgres:x:101:104::/var/lib/postgresql:/bin/bash\n";
        assert_eq!(passwd_name(passwd, 101).as_deref(), Some("postgres"));
        assert_eq!(passwd_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(passwd, 7), None);
        assert_eq!(passwd_name("garbage", 0), None);
    }
}
