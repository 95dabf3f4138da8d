//! Live tests of every version-gated path, on both sides of each catalog change, against the
//! server binaries of `PGCACHE_TUNE_PG_BIN` (`scripts/test-matrix.sh` runs this file once per
//! major, 13 to 18).
//!
//! - Each [`sql::VERSIONED`] query: the variant chosen for this server runs, and every other
//!   variant fails with "relation/column does not exist", so the gate is what keeps this major
//!   working (checkpoints: `pg_stat_bgwriter` up to 16, `pg_stat_checkpointer` from 17;
//!   shared-buffer I/O: `pg_stat_io` from 16, nothing before).
//! - The catalog facts the gates rest on, stated per major.
//! - `collect` fills what this major can show and notes what it cannot; `report` carries the
//!   note to the user.
//! - `recommend --from` this server uses its build's options (lz4 only where listed, io_method
//!   and io_workers only on 18, maintenance_io_concurrency everywhere) and the server applies
//!   every line without an error.

mod support;

use std::path::Path;

use pgcache_tune::collect::{CollectOptions, collect, sql};
use serde_json::Value;
use support::{Cluster, ClusterOptions};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls, SimpleQueryMessage};

/// The file that postgresql.conf includes for `recommend --from`'s snippet.
const SNIPPET: &str = "pgcache-tune.conf";

fn started() -> Option<Cluster> {
    let bin = support::require_pg()?;
    let mut c = Cluster::init(ClusterOptions::new(bin));
    // Every statement is logged, for the read-only proof of `recommend --from`.
    c.conf_append(
        "autovacuum = off\nlog_statement = 'all'\nlog_line_prefix = '%m [%p] app=%a db=%d '",
    );
    c.start();
    Some(c)
}

async fn connect(c: &Cluster) -> Client {
    let (client, conn) = Config::new()
        .host_path(c.socket_dir())
        .port(c.port())
        .user(support::SUPERUSER)
        .dbname("postgres")
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

fn version_num(c: &Cluster) -> u32 {
    c.psql("postgres", "show server_version_num")
        .parse()
        .unwrap()
}

/// The note `collect` adds for a versioned query this server has no variant for.
fn cannot_show(c: &Cluster, what: &str) -> String {
    let version = c.psql(
        "postgres",
        "select split_part(current_setting('server_version'), ' ', 1)",
    );
    format!("PostgreSQL {version} cannot show {what}")
}

#[tokio::test]
async fn each_versioned_query_runs_on_its_majors_and_fails_on_the_others() {
    let Some(c) = started() else { return };
    let client = connect(&c).await;
    let v = version_num(&c);
    for q in sql::VERSIONED {
        let chosen = q.sql_for(v);
        for (since, text) in q.variants {
            let result = client.simple_query(text).await;
            if chosen == Some(*text) {
                let rows = result.unwrap_or_else(|e| {
                    panic!("{} (variant since {since}) fails on {v}: {e:?}", q.what)
                });
                let n = rows
                    .iter()
                    .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
                    .count();
                assert_eq!(n, 1, "{} on {v}: one row", q.what);
            } else {
                // Not chosen here: it must not work here either, or the gate (and the note
                // that this version cannot show it) would be wrong.
                let err = result.err().unwrap_or_else(|| {
                    panic!(
                        "{} (variant since {since}) also runs on {v}, which the gate sends to \
                         {}",
                        q.what,
                        chosen.map_or("no variant", |_| "another variant")
                    )
                });
                let code = err.code().cloned();
                assert!(
                    code == Some(SqlState::UNDEFINED_TABLE)
                        || code == Some(SqlState::UNDEFINED_COLUMN),
                    "{} (variant since {since}) on {v}: {err:?}",
                    q.what
                );
            }
        }
    }
}

#[test]
fn the_catalog_changes_the_gates_rest_on() {
    let Some(mut c) = started() else { return };
    let major = c.major();
    let yes = |sql: &str| c.psql("postgres", sql) == "t";
    assert_eq!(
        yes("select to_regclass('pg_catalog.pg_stat_checkpointer') is not null"),
        major >= 17,
        "pg_stat_checkpointer is new in 17"
    );
    assert_eq!(
        yes("select exists (select from pg_attribute
              where attrelid = 'pg_catalog.pg_stat_bgwriter'::regclass
                and attname = 'checkpoints_timed')"),
        major <= 16,
        "17 moved checkpoints_timed out of pg_stat_bgwriter"
    );
    assert_eq!(
        yes("select to_regclass('pg_catalog.pg_stat_io') is not null"),
        major >= 16,
        "pg_stat_io is new in 16"
    );
    // Keys the recommendation gates on the major.
    let exists = |name: &str| {
        yes(&format!(
            "select exists (select from pg_settings where name = '{name}')"
        ))
    };
    assert_eq!(exists("io_method"), major >= 18, "io_method is new in 18");
    assert_eq!(exists("io_workers"), major >= 18, "io_workers is new in 18");
    assert!(
        exists("maintenance_io_concurrency"),
        "maintenance_io_concurrency is 13+"
    );
    assert_eq!(
        c.psql(
            "postgres",
            "select vartype from pg_settings where name = 'wal_compression'"
        ),
        if major >= 15 { "enum" } else { "bool" },
        "wal_compression became an enum (pglz, lz4, zstd) in 15"
    );
    assert_eq!(
        c.psql("postgres", "show checkpoint_completion_target"),
        if major >= 14 { "0.9" } else { "0.5" },
        "14 raised the default of checkpoint_completion_target"
    );
    c.stop();
}

#[tokio::test]
async fn collect_reads_what_this_major_has_and_notes_the_rest() {
    let Some(c) = started() else { return };
    let major = c.major();
    c.psql(
        "postgres",
        "create table t (id int primary key); insert into t select generate_series(1, 1000); checkpoint",
    );
    let ckpt_sql = if major >= 17 {
        "select num_timed || ' ' || num_requested from pg_stat_checkpointer"
    } else {
        "select checkpoints_timed || ' ' || checkpoints_req from pg_stat_bgwriter"
    };
    let before = c.psql("postgres", ckpt_sql);
    let client = connect(&c).await;
    let snap = collect(&client, &CollectOptions::everything())
        .await
        .expect("collect");
    assert_eq!(
        c.psql("postgres", ckpt_sql),
        before,
        "a checkpoint ran meanwhile"
    );

    let ckpt = snap
        .checkpoints
        .expect("checkpoints on every supported major");
    assert_eq!(format!("{} {}", ckpt.timed, ckpt.requested), before);
    assert!(ckpt.requested >= 1, "the CHECKPOINT above counts");

    if major >= 16 {
        let io = snap.buffer_io.expect("pg_stat_io on 16+");
        assert!(io.hits > 0, "{io:?}");
        assert_eq!(snap.notes, Vec::<String>::new());
    } else {
        assert_eq!(snap.buffer_io, None, "no pg_stat_io before 16");
        assert_eq!(snap.notes, [cannot_show(&c, sql::BUFFER_IO.what)]);
    }
}

/// The binary, isolated from the caller's environment and config files.
fn pgcache_tune(home: &Path) -> assert_cmd::Command {
    support::tool(home)
}

fn stdout_of(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn conninfo(c: &Cluster) -> String {
    format!(
        "host={} port={} user={} dbname=postgres",
        c.socket_dir().display(),
        c.port(),
        support::SUPERUSER
    )
}

#[test]
fn report_says_what_this_major_cannot_show() {
    let Some(c) = started() else { return };
    let home = tempfile::tempdir().unwrap();
    let json = stdout_of(pgcache_tune(home.path()).args([
        "report",
        &conninfo(&c),
        "--ram",
        "4GB",
        "--cpus",
        "2",
        "--format",
        "json",
    ]));
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["server"]["version_num"].as_u64(),
        Some(u64::from(version_num(&c)))
    );
    let note = cannot_show(&c, sql::BUFFER_IO.what);
    let has_note = json["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str() == Some(note.as_str()));
    assert_eq!(has_note, c.major() < 16, "{note:?} in {}", json["notes"]);
}

/// `select string_agg(...)` of one enum's values, or "" when the setting does not exist.
fn enumvals(c: &Cluster, name: &str) -> Vec<String> {
    let text = c.psql(
        "postgres",
        &format!("select array_to_string(enumvals, ',') from pg_settings where name = '{name}'"),
    );
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn recommend_from_this_server_follows_its_build_and_every_line_applies() {
    let Some(mut c) = started() else { return };
    let major = c.major();
    let lz4 = enumvals(&c, "wal_compression").iter().any(|v| v == "lz4");
    let io_uring = enumvals(&c, "io_method").iter().any(|v| v == "io_uring");
    let home = tempfile::tempdir().unwrap();
    // 16 CPUs: enough for io_workers (one per 4 CPUs, emitted above the default 3) on 18.
    let conf = stdout_of(pgcache_tune(home.path()).args([
        "recommend",
        "--from",
        &conninfo(&c),
        "--ram",
        "2GB",
        "--cpus",
        "16",
        "--storage",
        "nvme",
        "--os",
        "linux",
        "--format",
        "conf",
    ]));
    let settings: Vec<(String, String)> = conf
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let l = l.split("  #").next().unwrap();
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("{l}"));
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let value = |name: &str| {
        settings
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    // The --from session only read, and made itself read-only first.
    support::assert_read_only_sessions(&c.server_log(), 1);
    // lz4 when the build has it; never `on` (pglz), which costs TPS.
    let want_compression = (major >= 15 && lz4).then_some("lz4");
    assert_eq!(value("wal_compression"), want_compression, "{conf}");
    assert_eq!(
        value("io_method"),
        (major >= 18 && io_uring).then_some("io_uring"),
        "{conf}"
    );
    // 13+, so on every major; nvme mirrors effective_io_concurrency.
    assert_eq!(value("maintenance_io_concurrency"), Some("1000"), "{conf}");
    assert_eq!(
        value("io_workers"),
        (major >= 18 && !io_uring).then_some("4"),
        "{conf}"
    );

    // The server applies every line: pg_file_settings lists each with no error, and the
    // server starts with them.
    c.conf_append(&format!("include '{SNIPPET}'"));
    c.write_data_file(SNIPPET, &conf);
    c.restart();
    let rows = c.psql(
        "postgres",
        &format!(
            "select name || '|' || coalesce(error, '') || '|' || applied
             from pg_file_settings where sourcefile like '%/{SNIPPET}' order by seqno"
        ),
    );
    let applied: Vec<&str> = rows.lines().collect();
    assert_eq!(applied.len(), settings.len(), "{rows}");
    for (row, (name, value)) in applied.iter().zip(&settings) {
        assert_eq!(*row, format!("{name}||true"), "{name} = {value}");
    }
    c.stop();
}
