//! Self-test of the throwaway-cluster harness in `tests/support/`: every live test trusts it,
//! so it gets its own checks against a real server.

mod support;

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use support::{Cluster, ClusterOptions};

fn cluster() -> Option<Cluster> {
    let bin = support::require_pg()?;
    Some(Cluster::init(ClusterOptions::new(bin)))
}

/// `shared_buffers` as `postgres -C` prints it: raw 8kB blocks (PG 15) or with a unit.
fn shared_buffers_kb(text: &str) -> u64 {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num
        .parse()
        .unwrap_or_else(|_| panic!("not a size: {text:?}"));
    match unit.trim() {
        "" => n * 8,
        "kB" => n,
        "MB" => n * 1024,
        "GB" => n * 1024 * 1024,
        other => panic!("unexpected unit {other:?} in {text:?}"),
    }
}

#[test]
fn parses_server_majors() {
    assert_eq!(
        support::parse_major("postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"),
        Some(15)
    );
    assert_eq!(
        support::parse_major("postgres (PostgreSQL) 18beta1"),
        Some(18)
    );
    assert_eq!(
        support::parse_major("postgres (PostgreSQL) 9.6.24"),
        Some(9)
    );
    assert_eq!(support::parse_major("postgres (PostgreSQL)"), None);
}

#[test]
fn cluster_starts_answers_and_is_removed_on_drop() {
    let Some(mut c) = cluster() else { return };
    let base = c.base_dir().to_path_buf();
    assert!(c.data_dir().join("PG_VERSION").is_file());
    assert_eq!(c.major(), support::server_major(c.bin_dir()));

    c.start();
    assert!(c.is_running());
    assert_eq!(c.psql("postgres", "select 1"), "1");
    assert_eq!(c.psql("postgres", "show port"), c.port().to_string());
    assert_eq!(c.psql("postgres", "show listen_addresses"), "127.0.0.1");
    assert_eq!(
        c.psql("postgres", "show unix_socket_directories"),
        c.socket_dir().display().to_string()
    );
    assert!(
        c.socket_dir()
            .join(format!(".s.PGSQL.{}", c.port()))
            .exists()
    );
    assert_eq!(c.psql("postgres", "select current_user"), "postgres");
    // Reachable over TCP on loopback too.
    assert!(std::net::TcpStream::connect(("127.0.0.1", c.port())).is_ok());

    if support::running_as_root() {
        // The server refuses root; it must be running as the postgres OS user.
        let pid_file = c.data_dir().join("postmaster.pid");
        let owner = std::fs::metadata(&pid_file).expect("postmaster.pid").uid();
        assert_ne!(owner, 0, "postmaster.pid written by root?");
        let out = Command::new("id")
            .args(["-u", support::SERVER_OS_USER])
            .output()
            .unwrap();
        assert_eq!(
            owner.to_string(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }

    let err = c
        .try_psql("postgres", "select no_such_function()")
        .unwrap_err();
    assert!(err.contains("no_such_function"), "{err}");

    drop(c);
    assert!(!base.exists(), "{} survived drop", base.display());
}

#[test]
fn postgres_c_reads_config_of_a_stopped_cluster_and_restart_applies_it() {
    let Some(mut c) = cluster() else { return };
    assert_eq!(
        shared_buffers_kb(&c.postgres_c("shared_buffers").unwrap()),
        128 * 1024
    );

    c.conf_append("shared_buffers = 32MB");
    let shown = c.postgres_c("shared_buffers").unwrap();
    assert_eq!(
        shared_buffers_kb(&shown),
        32 * 1024,
        "postgres -C printed {shown:?}"
    );

    c.start();
    assert_eq!(c.psql("postgres", "show shared_buffers"), "32MB");
    c.conf_append("work_mem = 12MB");
    c.restart();
    assert_eq!(c.psql("postgres", "show work_mem"), "12MB");
    // An included file written with write_data_file is read by the server.
    c.write_data_file("extra.conf", "work_mem = 20560kB\n");
    c.conf_append("include 'extra.conf'");
    c.restart();
    assert_eq!(c.psql("postgres", "show work_mem"), "20560kB");
    c.stop();
    assert!(!c.is_running());
    assert_eq!(c.postgres_c("work_mem").unwrap(), "20560");
}

#[test]
fn postgres_c_rejects_an_invalid_line_anywhere() {
    let Some(c) = cluster() else { return };
    c.write_data_file("snippet.conf", "work_mem = 8MB\nshared_buffers = 16KB\n");
    c.conf_append("include 'snippet.conf'");
    // Asking for another setting still fails: the whole file is validated.
    let err = c.postgres_c("work_mem").unwrap_err();
    assert!(
        err.contains("shared_buffers") && err.contains("16KB"),
        "{err}"
    );
    c.write_data_file("snippet.conf", "work_mem = 8MB\n");
    assert_eq!(c.postgres_c("work_mem").unwrap(), "8192");
}

#[test]
fn drop_stops_a_running_server() {
    let Some(mut c) = cluster() else { return };
    c.start();
    let pid = c.postmaster_pid().expect("postmaster.pid");
    let base = c.base_dir().to_path_buf();
    let port = c.port();
    assert!(support::process_alive(pid));
    drop(c);
    assert!(
        !support::process_alive(pid),
        "postmaster {pid} outlived drop"
    );
    assert!(!base.exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn two_clusters_run_side_by_side() {
    let (Some(mut a), Some(mut b)) = (cluster(), cluster()) else {
        return;
    };
    a.start();
    b.start();
    assert_ne!(a.port(), b.port());
    a.psql("postgres", "create table only_in_a ()");
    assert_eq!(
        b.psql(
            "postgres",
            "select count(*) from pg_class where relname = 'only_in_a'"
        ),
        "0"
    );
}

#[test]
fn a_missing_server_fails_under_ci_and_skips_elsewhere() {
    use support::{MissingServer, missing_server};
    match missing_server("/nonexistent/pgcache-tune-test", true, "here") {
        MissingServer::Fail(m) => {
            assert!(m.contains("under CI=true a live test fails"), "{m}");
            assert!(m.contains("/nonexistent/pgcache-tune-test"), "{m}");
        }
        other => panic!("CI must fail: {other:?}"),
    }
    match missing_server("/nonexistent/pgcache-tune-test", false, "here") {
        MissingServer::Skip(m) => assert!(m.starts_with("skipping live test at here"), "{m}"),
        other => panic!("outside CI a live test skips: {other:?}"),
    }
}

/// The README's test command runs with `CI=true` before any cargo invocation, so a live test
/// without a server (or a test without a tool it needs) fails it instead of passing quietly.
#[test]
fn the_test_command_turns_skips_into_failures() {
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test.sh"))
        .expect("scripts/test.sh");
    let lines: Vec<&str> = script.lines().map(str::trim).collect();
    let exported = lines
        .iter()
        .position(|l| *l == "export CI=true")
        .expect("scripts/test.sh exports CI=true");
    let first_cargo = lines
        .iter()
        .position(|l| !l.starts_with('#') && l.contains("cargo test"))
        .expect("scripts/test.sh runs cargo test");
    assert!(
        exported < first_cargo,
        "CI=true must be set before the first cargo test"
    );
    assert!(
        !script.contains("CI=false") && !script.contains("unset CI"),
        "nothing may undo it"
    );
}

#[test]
fn every_cluster_preloads_pg_stat_statements_so_a_test_can_create_it() {
    let Some(mut c) = cluster() else { return };
    c.start();
    assert_eq!(
        c.psql("postgres", "show shared_preload_libraries"),
        "pg_stat_statements"
    );
    // Creating it works only when the library is preloaded: the view errors otherwise.
    c.psql("postgres", "create extension pg_stat_statements");
    let n: i64 = c
        .psql("postgres", "select count(*) from pg_stat_statements")
        .parse()
        .unwrap();
    assert!(n >= 1, "pg_stat_statements saw no statement: {n}");
}
