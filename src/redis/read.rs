//! Reading a connected server into [`RedisFacts`]: INFO (all sections), CONFIG GET of the
//! parameters the analysis needs, ACL WHOAMI / GETUSER default / DRYRUN, DBSIZE. A command the
//! server refuses becomes [`Answer::Unavailable`] with the server's reason; an I/O failure or
//! timeout ends the run as a server error.

use std::collections::BTreeMap;

use redis::{Connection, RedisError, Value};

use super::connect::{Target, failure};
use crate::facts::redis::{Answer, CommandAccess, Info, RedisFacts, RedisSample};

/// The CONFIG parameters read, one `CONFIG GET` each (several names in one call needs 7.0).
/// `requirepass` is deliberately absent: its value is the password.
pub const CONFIG_PARAMETERS: &[&str] = &[
    "maxmemory",
    "maxmemory-policy",
    "maxmemory-samples",
    "save",
    "appendonly",
    "stop-writes-on-bgsave-error",
    "protected-mode",
    "bind",
    "enable-debug-command",
    "enable-module-command",
    "databases",
];

/// Commands that must not be open to an application's cache user: they wipe the cache,
/// rewrite the configuration, stop the server or block it (`ACL DRYRUN` checks them without
/// running them). `CONFIG` is replaced by the `--config-command` name.
pub const DANGEROUS_COMMANDS: &[&[&str]] = &[
    &["FLUSHALL"],
    &["FLUSHDB"],
    &["CONFIG", "SET", "maxmemory", "0"],
    &["DEBUG", "SLEEP", "0"],
    &["SHUTDOWN"],
    &["KEYS", "*"],
    &["MODULE", "LIST"],
];

/// Reads everything the analysis uses. `config_command` is CONFIG's name on this server
/// (`-` skips CONFIG, as redis_exporter's flag does).
pub fn collect(
    conn: &mut Connection,
    target: &Target,
    config_command: &str,
) -> anyhow::Result<RedisFacts> {
    let info = read_info(conn, target)?;
    let config = read_config(conn, target, config_command)?;
    let acl_user = answer(
        redis::cmd("ACL").arg("WHOAMI").query::<String>(conn),
        "ACL WHOAMI",
        target,
    )?;
    let default_user_flags = answer(
        redis::cmd("ACL")
            .arg("GETUSER")
            .arg("default")
            .query::<Value>(conn),
        "ACL GETUSER default",
        target,
    )?
    .and_then(|v| user_flags(&v).ok_or("ACL GETUSER default: no flags in the reply".into()));
    let dangerous = match &acl_user {
        Answer::Known { value: user } => dry_run(conn, target, user, config_command)?,
        Answer::Unavailable { reason } => Answer::Unavailable {
            reason: format!("ACL DRYRUN needs the user name, and {reason}"),
        },
    };
    let dbsize = answer(redis::cmd("DBSIZE").query::<u64>(conn), "DBSIZE", target)?;
    Ok(RedisFacts {
        target: target.display().to_string(),
        info,
        config_command: config_command.to_string(),
        config,
        authenticated: target.has_password(),
        acl_user,
        default_user_flags,
        dangerous,
        dbsize,
    })
}

/// The counters `redis check` compares, from the default `INFO` (server and stats are in
/// it): INFO alone, so a managed service that blocks CONFIG and ACL is checked all the same.
pub fn sample(conn: &mut Connection, target: &Target) -> anyhow::Result<RedisSample> {
    let text = redis::cmd("INFO")
        .query::<String>(conn)
        .map_err(|e| failure(target, "INFO failed on", &e))?;
    // The local clock only for servers without server_time_usec (before 6.2).
    let local = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    Ok(RedisSample::from_info(
        &Info::parse(&text),
        target.display(),
        local,
    ))
}

/// `INFO all`; servers (or proxies) that refuse the argument get a plain `INFO`.
fn read_info(conn: &mut Connection, target: &Target) -> anyhow::Result<Info> {
    let text = match redis::cmd("INFO").arg("all").query::<String>(conn) {
        Ok(text) => text,
        Err(e) if is_reply(&e) => redis::cmd("INFO")
            .query::<String>(conn)
            .map_err(|e| failure(target, "INFO failed on", &e))?,
        Err(e) => return Err(failure(target, "INFO failed on", &e)),
    };
    Ok(Info::parse(&text))
}

fn read_config(
    conn: &mut Connection,
    target: &Target,
    command: &str,
) -> anyhow::Result<Answer<BTreeMap<String, String>>> {
    if command == "-" {
        return Ok(Answer::Unavailable {
            reason: "CONFIG skipped (--config-command -)".into(),
        });
    }
    let mut values = BTreeMap::new();
    for name in CONFIG_PARAMETERS {
        let reply = redis::cmd(command)
            .arg("GET")
            .arg(*name)
            .query::<Vec<String>>(conn);
        let label = format!("{command} GET {name}");
        match answer(reply, &label, target)? {
            // Pairs of name and value; an unknown parameter gives an empty list.
            Answer::Known { value } => {
                for pair in value.chunks(2) {
                    if let [k, v] = pair {
                        values.insert(k.clone(), v.clone());
                    }
                }
            }
            // The command itself is refused: nothing else will work either.
            Answer::Unavailable { reason } => return Ok(Answer::Unavailable { reason }),
        }
    }
    Ok(Answer::Known { value: values })
}

/// `ACL DRYRUN user CMD…` over [`DANGEROUS_COMMANDS`]. DRYRUN answers OK, or a text saying
/// why not; a command that does not exist here (renamed away) is an error reply, and counts
/// as not available to the user.
fn dry_run(
    conn: &mut Connection,
    target: &Target,
    user: &str,
    config_command: &str,
) -> anyhow::Result<Answer<Vec<CommandAccess>>> {
    let mut out = Vec::new();
    for words in DANGEROUS_COMMANDS {
        let mut words: Vec<&str> = words.to_vec();
        if words[0] == "CONFIG" && config_command != "-" {
            words[0] = config_command;
        }
        let mut cmd = redis::cmd("ACL");
        cmd.arg("DRYRUN").arg(user);
        for w in &words {
            cmd.arg(*w);
        }
        let shown = words[..words.len().min(2)].join(" ");
        match cmd.query::<Value>(conn) {
            Ok(v) => out.push(CommandAccess {
                command: shown,
                allowed: matches!(v, Value::Okay)
                    || matches!(&v, Value::SimpleString(s) if s == "OK"),
            }),
            Err(e) if is_reply(&e) && is_missing_command(&e) => out.push(CommandAccess {
                command: shown,
                allowed: false,
            }),
            Err(e) if is_reply(&e) => {
                return Ok(Answer::Unavailable {
                    reason: format!("ACL DRYRUN: {}", reply_text(&e)),
                });
            }
            Err(e) => return Err(failure(target, "ACL DRYRUN failed on", &e)),
        }
    }
    Ok(Answer::Known { value: out })
}

/// The `flags` entry of an `ACL GETUSER` reply (a flat list in RESP2, a map in RESP3).
fn user_flags(v: &Value) -> Option<Vec<String>> {
    let pairs: Vec<(&Value, &Value)> = match v {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|c| Some((c.first()?, c.get(1)?)))
            .collect(),
        Value::Map(items) => items.iter().map(|(k, v)| (k, v)).collect(),
        _ => return None,
    };
    let (_, flags) = pairs
        .into_iter()
        .find(|(k, _)| text(k).as_deref() == Some("flags"))?;
    match flags {
        Value::Array(items) | Value::Set(items) => items.iter().map(text).collect(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// An error reply from the server (as opposed to a broken connection).
fn is_reply(e: &RedisError) -> bool {
    e.code().is_some() && !e.is_io_error() && !e.is_timeout()
}

fn is_missing_command(e: &RedisError) -> bool {
    let t = reply_text(e).to_ascii_lowercase();
    t.contains("not found") || t.contains("unknown command")
}

/// The server's reply as it said it: code and detail.
fn reply_text(e: &RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ => e.to_string(),
    }
}

/// A refused command becomes unavailable with the reason; a broken connection fails the run.
fn answer<T>(
    reply: redis::RedisResult<T>,
    label: &str,
    target: &Target,
) -> anyhow::Result<Answer<T>> {
    match reply {
        Ok(value) => Ok(Answer::Known { value }),
        Err(e) if is_reply(&e) => Ok(Answer::Unavailable {
            reason: format!("{label}: {}", reply_text(&e)),
        }),
        Err(e) => Err(failure(target, &format!("{label} failed on"), &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_from_resp2_and_resp3_replies() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let resp2 = Value::Array(vec![
            bulk("flags"),
            Value::Array(vec![bulk("on"), bulk("nopass")]),
            bulk("passwords"),
            Value::Array(vec![]),
        ]);
        assert_eq!(user_flags(&resp2), Some(vec!["on".into(), "nopass".into()]));
        let resp3 = Value::Map(vec![(bulk("flags"), Value::Set(vec![bulk("on")]))]);
        assert_eq!(user_flags(&resp3), Some(vec!["on".into()]));
        assert_eq!(user_flags(&Value::Nil), None);
    }
}
