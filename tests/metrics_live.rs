//! `report` and `check` in the metrics formats against a throwaway cluster (per major, in the
//! matrix): both validators accept the output of a real server, a table named with quotes,
//! a backslash and a newline round-trips through the OpenMetrics parser, the counters equal
//! what psql reads from the same views, and `check --textfile-dir` against a closed port
//! still writes a file saying `pgcache_tune_up 0` with the UNKNOWN state.

mod support;
#[path = "support/metrics.rs"]
mod validate;

use std::time::{Duration, Instant};

use support::{Cluster, ClusterOptions};

const ODD_TABLE: &str = "odd\"quote\\slash\nline";

fn run(home: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = support::tool(home).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// psql's reading of the odd table's heap counters, once two reads agree (the statistics
/// of the sessions that read it are flushed a moment after they end).
fn settled_heap(c: &Cluster) -> String {
    let sql = "select heap_blks_hit || ' ' || heap_blks_read from pg_statio_user_tables where relname like 'odd%'";
    let start = Instant::now();
    let mut last = c.psql("postgres", sql);
    loop {
        std::thread::sleep(Duration::from_millis(700));
        let now = c.psql("postgres", sql);
        if now == last {
            return now.trim().to_owned();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never settled");
        last = now;
    }
}

/// The value of the one sample of `name` whose labels contain `labels`.
fn sample(text: &str, name: &str, labels: &str) -> String {
    let hits: Vec<&str> = text
        .lines()
        .filter(|l| {
            (l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
                && l.contains(labels)
        })
        .collect();
    assert_eq!(hits.len(), 1, "{name} {labels}: {hits:?}");
    hits[0].rsplit(' ').next().unwrap().to_owned()
}

#[test]
fn live_report_and_check_pass_both_validators_with_psqls_numbers() {
    let Some(bin) = support::require_pg() else {
        return;
    };
    let mut c = Cluster::init(ClusterOptions::new(bin));
    c.conf_append("autovacuum = off");
    c.start();
    let quoted = ODD_TABLE.replace('"', "\"\"");
    c.psql(
        "postgres",
        &format!(
            "create table \"{quoted}\" as select g as id, repeat('x', 300) as pad from generate_series(1, 30000) g"
        ),
    );
    c.restart();
    c.psql("postgres", &format!("select count(*) from \"{quoted}\""));
    c.psql("postgres", &format!("select count(*) from \"{quoted}\""));
    let psql = settled_heap(&c);
    let home = tempfile::tempdir().unwrap();
    let conn = c.conn_args("postgres", "postgres");
    let conn: Vec<&str> = conn.iter().map(String::as_str).collect();

    let (code, prom, err) = run(
        home.path(),
        &[
            &["report"][..],
            &conn,
            &["--format", "prometheus", "--min-blocks", "1"],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{err}");
    let odd = "relname=\"odd\\\"quote\\\\slash\\nline\"";
    let ours = format!(
        "{} {}",
        sample(&prom, "pg_statio_user_tables_heap_blocks_hit", odd),
        sample(&prom, "pg_statio_user_tables_heap_blocks_read", odd)
    );
    assert_eq!(ours, psql, "the metrics carry the server's counters");
    assert_eq!(sample(&prom, "pgcache_tune_up", ""), "1");
    validate::promtool_accepts(&prom);

    let (code, om, err) = run(
        home.path(),
        &[
            &["report"][..],
            &conn,
            &["--format", "openmetrics", "--min-blocks", "1"],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{err}");
    if let Some(samples) = validate::openmetrics_samples(&om) {
        let back = samples
            .iter()
            .find(|(n, l, _)| {
                n == "pg_statio_user_tables_heap_blocks_hit_total"
                    && l.get("relname").map(String::as_str) == Some(ODD_TABLE)
            })
            .expect("the odd table, unescaped exactly");
        assert_eq!(back.2.to_string(), psql.split(' ').next().unwrap());
    }

    for format in ["prometheus", "openmetrics"] {
        let (code, out, err) = run(
            home.path(),
            &[
                &["check"][..],
                &conn,
                &[
                    "--min-hit-ratio",
                    "1",
                    "--scope",
                    "tables",
                    "--interval",
                    "1s",
                    "--min-blocks",
                    "0",
                    "--format",
                    format,
                ],
            ]
            .concat(),
        );
        assert!((0..=3).contains(&code), "{format}: {err}");
        assert!(out.contains("pgcache_tune_check_status"), "{out}");
        if format == "prometheus" {
            validate::promtool_accepts(&out);
        } else {
            validate::openmetrics_samples(&out);
        }
    }

    // A fleet: the cluster and a closed port, every series named by its target.
    let closed = support::free_port();
    let inv = home.path().join("fleet.toml");
    std::fs::write(
        &inv,
        format!(
            "[[target]]\nname = \"pg\"\nconnection = \"host={} port={} user=postgres dbname=postgres\"\nlabels = {{ role = \"primary\" }}\n\n\
             [[target]]\nname = \"dead\"\nconnection = \"host=127.0.0.1 port={closed} dbname=x\"\nconnect_timeout = \"2s\"\n",
            c.socket_dir().display(),
            c.port()
        ),
    )
    .unwrap();
    let inv = inv.to_str().unwrap();
    let (code, prom, err) = run(
        home.path(),
        &[
            "report",
            "--targets",
            inv,
            "--format",
            "prometheus",
            "--min-blocks",
            "1",
        ],
    );
    assert_eq!(code, 69, "a target is down: {err}");
    assert!(
        prom.contains("pgcache_tune_up{target=\"pg\",role=\"primary\"} 1\n"),
        "{prom}"
    );
    assert!(
        prom.contains("pgcache_tune_up{target=\"dead\"} 0\n"),
        "{prom}"
    );
    assert_eq!(
        format!(
            "{} {}",
            sample(&prom, "pg_statio_user_tables_heap_blocks_hit", odd),
            sample(&prom, "pg_statio_user_tables_heap_blocks_read", odd)
        ),
        psql
    );
    validate::promtool_accepts(&prom);
    let (_, om, _) = run(
        home.path(),
        &[
            "report",
            "--targets",
            inv,
            "--format",
            "openmetrics",
            "--min-blocks",
            "1",
        ],
    );
    validate::openmetrics_samples(&om);

    // A server that cannot be reached: UNKNOWN, and the textfile says so for alerting.
    let dir = tempfile::tempdir().unwrap();
    let closed = closed.to_string();
    let (code, out, err) = run(
        home.path(),
        &[
            "check",
            "-h",
            "127.0.0.1",
            "-p",
            &closed,
            "--min-hit-ratio",
            "90",
            "--textfile-dir",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(code, 3, "{err}");
    assert_eq!(out, "");
    let text = std::fs::read_to_string(dir.path().join("pgcache_tune.prom")).unwrap();
    assert!(text.contains("\npgcache_tune_up 0\n"), "{text}");
    assert!(text.contains("\npgcache_tune_check_status 3\n"), "{text}");
    validate::promtool_accepts(&text);
}
