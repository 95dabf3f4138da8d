//! Scrubbing passwords out of text that may quote a connection string: an error from a
//! library, a user's echo of their own input. Errs on the side of hiding too much: the whole
//! user-info section of a URL up to its last `@`, and every `password=` value, quoted or not.

use std::sync::LazyLock;

use regex::Regex;

/// What replaces a password.
pub const MASK: &str = "xxxxx";

/// `scheme://user:password@` — the password runs to the last '@' before whitespace, so a raw
/// '@' inside it is still covered. Redis and Valkey URLs (`crate::redis`) carry it the same way.
static URL_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<head>(?i-u:postgres(?:ql)?|rediss?|valkeys?)://[^\s:/@?]*:)[^\s]*@")
        .expect("URL password pattern")
});

/// `password=value`, `password = 'quoted \' value'`, `PGPASSWORD=…`, `?password=…&` (any case).
static KEY_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<head>(?i-u:password)\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|[^\s&]*)")
        .expect("key password pattern")
});

/// `?pass=…` / `&pass=…`: how redis-rs unix-socket URLs carry a password.
static QUERY_PASS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?P<head>[?&](?i-u:pass)=)[^\s&#]*").expect("pass pattern"));

/// `text` with every password in a URL or `key=value` string replaced by `xxxxx`.
pub fn redact(text: &str) -> String {
    let text = URL_PASSWORD.replace_all(text, format!("${{head}}{MASK}@"));
    let text = QUERY_PASS.replace_all(&text, format!("${{head}}{MASK}"));
    KEY_PASSWORD
        .replace_all(&text, format!("${{head}}{MASK}"))
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            redact("connect postgresql://alice:s3cret@db/app failed"),
            "connect postgresql://alice:xxxxx@db/app failed"
        );
        assert_eq!(
            redact("postgres://alice:p@ss@db:5432/app"),
            "postgres://alice:xxxxx@db:5432/app"
        );
        assert_eq!(redact("POSTGRESQL://:only@db"), "POSTGRESQL://:xxxxx@db");
        // No password: untouched.
        assert_eq!(
            redact("postgresql://alice@db/app"),
            "postgresql://alice@db/app"
        );
        assert_eq!(
            redact("postgresql://[::1]:5432/app"),
            "postgresql://[::1]:5432/app"
        );
        assert_eq!(
            redact("postgresql://db:5432/app"),
            "postgresql://db:5432/app"
        );
    }

    #[test]
    fn redis_urls() {
        assert_eq!(
            redact("rediss://app:s3cret@cache:6380/0"),
            "rediss://app:xxxxx@cache:6380/0"
        );
        assert_eq!(redact("valkey://:s3cret@cache"), "valkey://:xxxxx@cache");
        assert_eq!(
            redact("unix:///run/r.sock?db=1&pass=s3cret&user=a"),
            "unix:///run/r.sock?db=1&pass=xxxxx&user=a"
        );
    }

    #[test]
    fn query_parameters_and_key_values() {
        assert_eq!(
            redact("postgresql://db/app?password=hunter2&sslmode=require"),
            "postgresql://db/app?password=xxxxx&sslmode=require"
        );
        assert_eq!(
            redact("host=db password=hunter2 user=a"),
            "host=db password=xxxxx user=a"
        );
        assert_eq!(
            redact("host=db password = 'hun ter\\'2' user=a"),
            "host=db password = xxxxx user=a"
        );
        assert_eq!(redact("PGPASSWORD=hunter2 psql"), "PGPASSWORD=xxxxx psql");
        assert_eq!(redact("Password='unterminated"), "Password=xxxxx");
        assert_eq!(redact("password="), "password=xxxxx");
    }

    #[test]
    fn ordinary_text_is_untouched() {
        for t in [
            "password authentication failed for user \"alice\"",
            "no password supplied",
            "host=/tmp port=5432 user=alice dbname=app sslmode=prefer",
        ] {
            assert_eq!(redact(t), t);
        }
    }
}
