//! The password file (`~/.pgpass`, `PGPASSFILE`, `passfile=`), read exactly as libpq reads
//! it: `hostname:port:database:username:password` lines, `*` matching anything, `\:` and `\\`
//! escapes, `#` comments, first match wins. A file that group or others may access is
//! ignored with a warning, because libpq does the same and a password file anyone can read is
//! a leak the user should hear about rather than one we quietly rely on.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// What a connection is matched against, each field already in the form libpq compares:
/// `host` is the host name, the `hostaddr` when there is no name, or `localhost` for the
/// default Unix-socket directory.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    /// Host as written in the file's first field.
    pub host: &'a str,
    /// Port as text (libpq compares strings).
    pub port: &'a str,
    /// Database name.
    pub dbname: &'a str,
    /// User name.
    pub user: &'a str,
}

/// The outcome of consulting a password file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lookup {
    /// The matching line's password, if any line matched.
    pub password: Option<String>,
    /// Why the file was not used, for the user (one line).
    pub warning: Option<String>,
}

/// Group and other permission bits: any of them set makes libpq ignore the file.
const GROUP_OR_WORLD_BITS: u32 = 0o077;

/// Reads `path` and finds the password for `key`. A missing file is not an error (most
/// people have none); an unsafe or unreadable one is skipped with a warning.
pub fn lookup(path: &Path, key: &Key<'_>) -> Lookup {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(_) => return Lookup::default(),
    };
    let warn = |text: String| Lookup {
        password: None,
        warning: Some(text),
    };
    if !meta.is_file() {
        return warn(format!(
            "password file \"{}\" is not a plain file",
            path.display()
        ));
    }
    if meta.permissions().mode() & GROUP_OR_WORLD_BITS != 0 {
        return warn(format!(
            "password file \"{}\" has group or world access; permissions should be u=rw (0600) \
             or less",
            path.display()
        ));
    }
    match std::fs::read(path) {
        Ok(bytes) => Lookup {
            password: find(&String::from_utf8_lossy(&bytes), key),
            warning: None,
        },
        Err(e) => warn(format!(
            "could not read password file \"{}\": {}",
            path.display(),
            crate::exit::io_reason(&e)
        )),
    }
}

/// The password of the first line of `text` matching `key`.
pub fn find(text: &str, key: &Key<'_>) -> Option<String> {
    text.lines().find_map(|line| match_line(line, key))
}

fn match_line(line: &str, key: &Key<'_>) -> Option<String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.starts_with('#') {
        return None;
    }
    let mut rest = line;
    for wanted in [key.host, key.port, key.dbname, key.user] {
        rest = match_field(rest, wanted)?;
    }
    Some(unescape_password(rest))
}

/// If the field at the start of `text` matches `wanted` (or is exactly `*`), the text after
/// its terminating ':'. A field without a terminating ':' never matches, as in libpq.
fn match_field<'t>(text: &'t str, wanted: &str) -> Option<&'t str> {
    if let Some(after) = text.strip_prefix("*:") {
        return Some(after);
    }
    let mut field = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            ':' => return (field == wanted).then(|| &text[i + 1..]),
            '\\' => field.extend(chars.next().map(|(_, c)| c)),
            c => field.push(c),
        }
    }
    None
}

/// The rest of the line up to an unescaped ':', with backslash escapes removed.
fn unescape_password(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ':' => break,
            // A trailing lone backslash stays, as libpq keeps it.
            '\\' => out.push(chars.next().unwrap_or('\\')),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const KEY: Key<'static> = Key {
        host: "db.example",
        port: "5432",
        dbname: "app",
        user: "alice",
    };

    #[test]
    fn first_matching_line_wins() {
        let text = "\
# comment: db.example:5432:app:alice:nope
other:5432:app:alice:wrong-host
db.example:5433:app:alice:wrong-port
db.example:5432:app:alice:right
*:*:*:*:fallback
";
        assert_eq!(find(text, &KEY).as_deref(), Some("right"));
        let bob = Key { user: "bob", ..KEY };
        assert_eq!(find(text, &bob).as_deref(), Some("fallback"));
        assert_eq!(find("", &KEY), None);
    }

    #[test]
    fn wildcards_only_as_whole_fields() {
        assert_eq!(find("*:*:app:alice:w", &KEY).as_deref(), Some("w"));
        assert_eq!(find("db.*:*:*:*:w", &KEY), None);
        // An escaped star is a literal star.
        assert_eq!(find("\\*:*:*:*:w", &KEY), None);
        let star = Key { host: "*", ..KEY };
        assert_eq!(find("\\*:*:*:*:w", &star).as_deref(), Some("w"));
    }

    #[test]
    fn escapes_in_fields_and_password() {
        let key = Key {
            host: "/run/pg:x",
            port: "5432",
            dbname: "we\\ird",
            user: "alice",
        };
        assert_eq!(
            find("/run/pg\\:x:5432:we\\\\ird:alice:pa\\:ss\\\\word", &key).as_deref(),
            Some("pa:ss\\word")
        );
        // The password stops at an unescaped colon; CRLF line ends are fine.
        assert_eq!(find("*:*:*:*:abc:def\r\n", &KEY).as_deref(), Some("abc"));
        assert_eq!(find("*:*:*:*:abc\r\n", &KEY).as_deref(), Some("abc"));
        assert_eq!(find("*:*:*:*:", &KEY).as_deref(), Some(""));
        // Too few fields never match.
        assert_eq!(find("db.example:5432:app:alice", &KEY), None);
    }

    #[test]
    fn group_or_world_access_means_ignored_with_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        fs::write(&path, "*:*:*:*:secret\n").unwrap();

        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let ok = lookup(&path, &KEY);
        assert_eq!(ok.password.as_deref(), Some("secret"));
        assert_eq!(ok.warning, None);

        for mode in [0o644, 0o640, 0o604, 0o620] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let ignored = lookup(&path, &KEY);
            assert_eq!(ignored.password, None, "mode {mode:o}");
            let warning = ignored.warning.expect("warning");
            assert!(warning.contains("group or world access"), "{warning}");
            assert!(!warning.contains("secret"));
            assert!(!warning.contains('\n'));
        }
    }

    #[test]
    fn missing_file_is_silent_and_directory_is_not_a_plain_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(lookup(&dir.path().join("none"), &KEY), Lookup::default());
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let l = lookup(dir.path(), &KEY);
        assert!(l.warning.unwrap().contains("not a plain file"));
    }
}
