//! The password file (`~/.pgpass`, `PGPASSFILE`, `passfile=`), read exactly as libpq reads
//! it: `hostname:port:database:username:password` lines, `*` matching anything, `\:` and `\\`
//! escapes, `#` comments, first match wins. A file that group or others may access is
//! ignored with a warning, because libpq does the same and a password file anyone can read is
//! a leak the user should hear about rather than one we quietly rely on.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

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

/// Group and other permission bits: any of them set makes libpq ignore the file.
const GROUP_OR_WORLD_BITS: u32 = 0o077;

/// A password file's text, read once before connecting so that later look-ups (another database
/// of the same server) do no file I/O inside the async connection code; `None` with a
/// warning when libpq would not use it, `None` alone when there is no file.
pub fn read(path: &Path) -> (Option<Arc<str>>, Option<String>) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(_) => return (None, None),
    };
    if !meta.is_file() {
        return (
            None,
            Some(format!(
                "password file \"{}\" is not a plain file",
                path.display()
            )),
        );
    }
    if meta.permissions().mode() & GROUP_OR_WORLD_BITS != 0 {
        return (
            None,
            Some(format!(
                "password file \"{}\" has group or world access; permissions should be \
                 u=rw (0600) or less",
                path.display()
            )),
        );
    }
    match std::fs::read(path) {
        Ok(bytes) => (Some(String::from_utf8_lossy(&bytes).into()), None),
        Err(e) => (
            None,
            Some(format!(
                "could not read password file \"{}\": {}",
                path.display(),
                crate::exit::io_reason(&e)
            )),
        ),
    }
}

/// A password file's text as [`read`] before connecting, with this server's host as the file
/// names it, so another database's password is found without file I/O. Its `Debug` shows no
/// passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct Contents {
    host: String,
    text: Arc<str>,
}

impl std::fmt::Debug for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contents")
            .field("host", &self.host)
            .field("lines", &self.text.lines().count())
            .finish()
    }
}

impl Contents {
    /// `text` read from a password file, for connections to `host` (as the file names it).
    pub fn new(host: String, text: Arc<str>) -> Contents {
        Contents { host, text }
    }

    /// The password for `user` on `dbname` at this host and `port`.
    pub fn password(&self, port: u16, dbname: &str, user: &str) -> Option<String> {
        let port = port.to_string();
        find(
            &self.text,
            &Key {
                host: &self.host,
                port: &port,
                dbname,
                user,
            },
        )
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

    /// What [`read`] gives for `path`, as (password for KEY, warning).
    fn lookup(path: &Path) -> (Option<String>, Option<String>) {
        let (text, warning) = read(path);
        (text.and_then(|t| find(&t, &KEY)), warning)
    }

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
        let (password, warning) = lookup(&path);
        assert_eq!(password.as_deref(), Some("secret"));
        assert_eq!(warning, None);

        for mode in [0o644, 0o640, 0o604, 0o620] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let (password, warning) = lookup(&path);
            assert_eq!(password, None, "mode {mode:o}");
            let warning = warning.expect("warning");
            assert!(warning.contains("group or world access"), "{warning}");
            assert!(!warning.contains("secret"));
            assert!(!warning.contains('\n'));
        }
    }

    #[test]
    fn missing_file_is_silent_and_directory_is_not_a_plain_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(lookup(&dir.path().join("none")), (None, None));
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let (_, warning) = lookup(dir.path());
        assert!(warning.unwrap().contains("not a plain file"));
    }
}
