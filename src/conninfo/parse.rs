//! The two spellings of a libpq connection string, parsed by libpq's rules into ordered
//! `(key, value)` pairs: `postgresql://user:pass@host:port/db?key=value` URLs (percent-decoded,
//! `[v6]` literals, empty parts meaning "not given") and `key=value` strings (single quotes,
//! backslash escapes, spaces around `=`). Keys are checked here so every caller reports an
//! unknown key the same way; values are checked in the resolver, which knows what they mean.
//!
//! Error messages never quote a password: the URL's user-info section is only ever named.

/// The URL prefixes libpq recognises (case-sensitive, like libpq).
const URI_PREFIXES: [&str; 2] = ["postgresql://", "postgres://"];

/// Keys we understand, in both spellings.
pub const SUPPORTED_KEYS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "sslmode",
    "sslrootcert",
    "connect_timeout",
    "application_name",
    "fallback_application_name",
    "options",
    "gssencmode",
];

/// Keys libpq knows that we do not act on: naming them separately tells the user the key is
/// real but unsupported, instead of calling it a typo.
const LIBPQ_ONLY_KEYS: &[&str] = &[
    "channel_binding",
    "client_encoding",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "requiressl",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "sslnegotiation",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "requirepeer",
    "require_auth",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
    "scram_client_key",
    "scram_server_key",
    "oauth_issuer",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_scope",
];

/// psql's rule: a connection string if it contains `=` or starts with a URL prefix, else a
/// plain database name.
pub fn is_connection_string(text: &str) -> bool {
    text.contains('=') || URI_PREFIXES.iter().any(|p| text.starts_with(p))
}

/// Parses a URL or a `key=value` string into `(key, value)` pairs in order of appearance.
/// Values may be empty ("not given"). The error is a one-line message without the password.
pub fn parse_connection_string(text: &str) -> Result<Vec<(String, String)>, String> {
    match URI_PREFIXES.iter().find(|p| text.starts_with(**p)) {
        Some(prefix) => parse_uri(&text[prefix.len()..]),
        None => parse_key_values(text),
    }
}

/// Checks a key against what we support and what libpq knows.
fn check_key(key: &str) -> Result<(), String> {
    if SUPPORTED_KEYS.contains(&key) {
        Ok(())
    } else if LIBPQ_ONLY_KEYS.contains(&key) {
        Err(format!(
            "connection option \"{key}\" is not supported by pgcache-tune"
        ))
    } else {
        Err(format!("invalid connection option \"{key}\""))
    }
}

/// libpq's `conninfo_parse`: `key = value` pairs separated by whitespace; a value is either
/// unquoted (up to whitespace) or in single quotes, and a backslash escapes the next
/// character in both.
fn parse_key_values(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|&c| c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!(
                "missing \"=\" after \"{key}\" in connection info string"
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(
                            "unterminated quoted string in connection info string".to_string()
                        );
                    }
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        check_key(&key)?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// libpq's `conninfo_uri_parse_options`, for what follows the `postgresql://` prefix.
fn parse_uri(rest: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut push = |key: &str, value: String| pairs.push((key.to_string(), value));

    // User info runs to an '@' seen before any '/', exactly as libpq looks ahead.
    let mut rest = rest;
    if let Some(at) = rest
        .find(['@', '/'])
        .filter(|&i| rest[i..].starts_with('@'))
    {
        let info = &rest[..at];
        let (user, password) = match info.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (info, None),
        };
        push(
            "user",
            decode(user).map_err(|e| format!("{e} in the URL's user name"))?,
        );
        if let Some(p) = password {
            // Never quote the token: it is part of a password.
            push(
                "password",
                decode(p)
                    .map_err(|_| "invalid percent-encoding in the URL's password".to_string())?,
            );
        }
        rest = &rest[at + 1..];
    }

    // Host: an IPv6 literal in brackets, or anything up to ':', '/', '?' or ','.
    let host_end;
    if let Some(v6) = rest.strip_prefix('[') {
        let close = v6.find(']').ok_or(
            "end of string reached when looking for matching \"]\" in IPv6 host address in URI",
        )?;
        if close == 0 {
            return Err("IPv6 host address may not be empty in URI".to_string());
        }
        push("host", decode(&v6[..close])?);
        host_end = close + 2;
        if let Some(c) = rest[host_end..].chars().next()
            && !matches!(c, ':' | '/' | '?' | ',')
        {
            return Err(format!(
                "unexpected character \"{c}\" after the IPv6 host address in URI (expected \":\" or \"/\")"
            ));
        }
    } else {
        host_end = rest.find([':', '/', '?', ',']).unwrap_or(rest.len());
        push("host", decode(&rest[..host_end])?);
    }
    rest = &rest[host_end..];
    if let Some(after) = rest.strip_prefix(':') {
        let end = after.find(['/', '?', ',']).unwrap_or(after.len());
        push("port", decode(&after[..end])?);
        rest = &after[end..];
    }
    if rest.starts_with(',') {
        return Err(
            "the URL lists several hosts; pgcache-tune connects to one server at a time"
                .to_string(),
        );
    }
    if let Some(after) = rest.strip_prefix('/') {
        let end = after.find('?').unwrap_or(after.len());
        push("dbname", decode(&after[..end])?);
        rest = &after[end..];
    }
    if let Some(query) = rest.strip_prefix('?') {
        for param in query.split('&').filter(|p| !p.is_empty()) {
            let Some((key, value)) = param.split_once('=') else {
                return Err(format!(
                    "missing key/value separator \"=\" in URI query parameter: \"{}\"",
                    printable_param(param)
                ));
            };
            if value.contains('=') {
                return Err(format!(
                    "extra key/value separator \"=\" in URI query parameter: \"{}\"",
                    printable_param(param)
                ));
            }
            let key = decode(key)?;
            let value = if key == "password" {
                decode(value).map_err(|_| {
                    "invalid percent-encoding in the URL's password parameter".to_string()
                })?
            } else {
                decode(value)?
            };
            // libpq's JDBC-compatibility spelling.
            if key == "ssl" && value == "true" {
                push("sslmode", "require".to_string());
                continue;
            }
            check_key(&key)?;
            push(&key, value);
        }
    } else if !rest.is_empty() {
        // Unreachable by construction (every branch above stops at one of these), but a
        // silent truncation would be worse than an odd message.
        return Err(format!("unexpected text \"{rest}\" in URI"));
    }
    Ok(pairs)
}

/// A query parameter for an error message, with any password value hidden.
fn printable_param(param: &str) -> String {
    if param.starts_with("password") {
        "password=…".to_string()
    } else {
        param.to_string()
    }
}

/// RFC 3986 percent-decoding as libpq does it: `%XX` only, no `+` for space, `%00` refused.
fn decode(text: &str) -> Result<String, String> {
    if !text.contains('%') {
        return Ok(text.to_string());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent-encoded token: \"{text}\""))?;
            if hex == 0 {
                return Err(format!(
                    "forbidden value %00 in percent-encoded value: \"{text}\""
                ));
            }
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("percent-encoded value \"{text}\" is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_connection_string(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn kv(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn recognises_connection_strings_like_psql() {
        assert!(is_connection_string("postgresql://h/db"));
        assert!(is_connection_string("postgres://"));
        assert!(is_connection_string("dbname=app"));
        assert!(is_connection_string("we=ird"));
        assert!(!is_connection_string("app"));
        assert!(
            !is_connection_string("POSTGRESQL://h"),
            "prefix is case-sensitive"
        );
        assert!(!is_connection_string("postgresql:/h"));
    }

    #[test]
    fn full_url() {
        assert_eq!(
            pairs(
                "postgresql://alice:s3cr%40t@db.example:6432/app?sslmode=require&application_name=x"
            ),
            kv(&[
                ("user", "alice"),
                ("password", "s3cr@t"),
                ("host", "db.example"),
                ("port", "6432"),
                ("dbname", "app"),
                ("sslmode", "require"),
                ("application_name", "x"),
            ])
        );
    }

    #[test]
    fn url_empty_parts_and_socket_paths() {
        assert_eq!(pairs("postgresql://"), kv(&[("host", "")]));
        assert_eq!(
            pairs("postgres:///app"),
            kv(&[("host", ""), ("dbname", "app")])
        );
        assert_eq!(
            pairs("postgresql://%2Fvar%2Frun%2Fpostgresql/db"),
            kv(&[("host", "/var/run/postgresql"), ("dbname", "db")])
        );
        assert_eq!(
            pairs("postgresql:///db?host=/tmp/sock&port=5433"),
            kv(&[
                ("host", ""),
                ("dbname", "db"),
                ("host", "/tmp/sock"),
                ("port", "5433")
            ])
        );
        assert_eq!(
            pairs("postgresql://@h:/"),
            kv(&[("user", ""), ("host", "h"), ("port", ""), ("dbname", "")])
        );
        assert_eq!(
            pairs("postgresql://u:@h"),
            kv(&[("user", "u"), ("password", ""), ("host", "h")])
        );
        assert_eq!(
            pairs("postgresql://h?ssl=true"),
            kv(&[("host", "h"), ("sslmode", "require")])
        );
    }

    #[test]
    fn url_ipv6_literals() {
        assert_eq!(
            pairs("postgresql://[::1]:5433/db"),
            kv(&[("host", "::1"), ("port", "5433"), ("dbname", "db")])
        );
        assert_eq!(
            pairs("postgresql://u@[2001:db8::7]"),
            kv(&[("user", "u"), ("host", "2001:db8::7")])
        );
        assert!(parse_connection_string("postgresql://[::1").is_err());
        assert!(parse_connection_string("postgresql://[]/db").is_err());
        assert!(parse_connection_string("postgresql://[::1]x/db").is_err());
    }

    #[test]
    fn url_errors_are_clear_and_hide_passwords() {
        let err = |t: &str| parse_connection_string(t).unwrap_err();
        assert_eq!(
            err("postgresql://h/db?foo=1"),
            "invalid connection option \"foo\""
        );
        assert_eq!(
            err("postgresql://h/db?sslcert=x"),
            "connection option \"sslcert\" is not supported by pgcache-tune"
        );
        assert!(err("postgresql://h/db?sslmode").contains("missing key/value separator"));
        assert!(err("postgresql://h/db?a=b=c").contains("extra key/value separator"));
        assert!(err("postgresql://a,b/db").contains("several hosts"));
        assert!(err("postgresql://h/d%zzb").contains("invalid percent-encoded token"));
        assert!(err("postgresql://h/d%00b").contains("%00"));
        let e = err("postgresql://u:hunter%zz2@h/db");
        assert!(!e.contains("hunter"), "{e}");
        let e = err("postgresql://h/db?password=hunter2=x");
        assert!(!e.contains("hunter"), "{e}");
    }

    #[test]
    fn key_value_quoting_like_libpq() {
        assert_eq!(
            pairs("host=/tmp  port = 5433 dbname='my db' password='it\\'s' user=a\\ b"),
            kv(&[
                ("host", "/tmp"),
                ("port", "5433"),
                ("dbname", "my db"),
                ("password", "it's"),
                ("user", "a b"),
            ])
        );
        assert_eq!(pairs("dbname=''"), kv(&[("dbname", "")]));
        assert_eq!(pairs("  "), kv(&[]));
        // libpq skips blanks after '=', so the next word becomes the value.
        assert_eq!(pairs("host= port=5"), kv(&[("host", "port=5")]));
        assert_eq!(
            pairs("options='-c work_mem=64MB'"),
            kv(&[("options", "-c work_mem=64MB")])
        );
    }

    #[test]
    fn key_value_errors() {
        let err = |t: &str| parse_connection_string(t).unwrap_err();
        assert_eq!(err("foo=bar"), "invalid connection option \"foo\"");
        assert_eq!(
            err("host=h service=x"),
            "connection option \"service\" is not supported by pgcache-tune"
        );
        assert_eq!(
            err("host=h dbname"),
            "missing \"=\" after \"dbname\" in connection info string"
        );
        assert_eq!(
            err("password='abc"),
            "unterminated quoted string in connection info string"
        );
    }
}
