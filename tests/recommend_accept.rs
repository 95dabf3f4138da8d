//! Acceptance: a real server accepts every line `pgcache-tune recommend` writes and reads back
//! the same value.
//!
//! Over a grid of inputs (RAM × CPUs × profile × storage × OS, for the major of the server
//! binaries at hand) the binary's JSON and conf outputs must agree; every setting must exist in
//! `pg_settings` with a value inside its range or enum; every distinct snippet must pass
//! `postgres -C` (which validates every line of the configuration and refuses the file on any
//! bad value); every distinct (name, value) must read back unchanged; and a server really
//! starts with the snippets of small machines, where cross-setting checks that only run at
//! startup (wal_level = minimal needs max_wal_senders = 0) get their say.
//!
//! Runs against the binaries found by the harness (`PGCACHE_TUNE_PG_BIN`), so a matrix over
//! majors reuses it unchanged.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use serde_json::Value;
use support::{Cluster, ClusterOptions};

const RAMS: &[&str] = &["512MB", "1GB", "3GB", "16GB", "61GB", "256GB", "1TB", "2TB"];
const CPUS: &[u32] = &[1, 2, 4, 6, 16, 32, 96];
const PROFILES: &[&str] = &["web", "oltp", "dw", "mixed", "desktop"];
const STORAGES: &[&str] = &["ssd", "nvme", "san", "hdd"];
const OSES: &[&str] = &["linux", "windows", "macos"];
/// (RAM, CPUs) at which a server is really started, for every profile on Linux. Small enough
/// to start here; the storage rotates across the starts so each kind is started at least once.
const START_POINTS: &[(&str, u32)] = &[("2GB", 4), ("1GB", 1)];
/// The file that each worker cluster's postgresql.conf includes.
const SNIPPET: &str = "pgcache-tune.conf";
/// Enum values the server accepts but shows under another name: (setting, written, shown).
/// wal_compression became an enum in PostgreSQL 15 and keeps `on` as a synonym of `pglz`
/// (before 15 it is a boolean, where `on` stays `on`).
const ENUM_SYNONYMS: &[(&str, &str, &str)] = &[("wal_compression", "on", "pglz")];
/// How many failures a panic message lists.
const SHOWN_FAILURES: usize = 40;

#[derive(Clone, Debug)]
struct Inputs {
    ram: &'static str,
    cpus: u32,
    profile: &'static str,
    storage: &'static str,
    os: &'static str,
    pg: u32,
}

impl Inputs {
    fn args(&self, format: &str) -> Vec<String> {
        [
            "recommend",
            "--ram",
            self.ram,
            "--cpus",
            &self.cpus.to_string(),
            "--profile",
            self.profile,
            "--storage",
            self.storage,
            "--pg-version",
            &self.pg.to_string(),
            "--os",
            self.os,
            "--format",
            format,
        ]
        .map(String::from)
        .to_vec()
    }

    fn label(&self) -> String {
        format!(
            "--ram {} --cpus {} --profile {} --storage {} --os {} --pg-version {}",
            self.ram, self.cpus, self.profile, self.storage, self.os, self.pg
        )
    }
}

/// One setting of the JSON output.
#[derive(Clone, Debug)]
struct Emitted {
    name: String,
    value: String,
    bytes: Option<u64>,
    ms: Option<f64>,
}

/// Both outputs of one run, checked against each other.
#[derive(Debug)]
struct Recommendation {
    inputs: Inputs,
    conf: String,
    settings: Vec<Emitted>,
}

/// A row of `pg_settings`.
#[derive(Debug, serde::Deserialize)]
struct PgSetting {
    name: String,
    setting: Option<String>,
    unit: Option<String>,
    vartype: String,
    min_val: Option<String>,
    max_val: Option<String>,
    enumvals: Option<Vec<String>>,
    source: Option<String>,
    sourcefile: Option<String>,
}

/// A value in a setting's base unit (a number), or a word (enum, bool, string).
#[derive(Clone, Debug, PartialEq)]
enum Norm {
    Num(f64),
    Word(String),
}

impl std::fmt::Display for Norm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Norm::Num(n) => write!(f, "{n}"),
            Norm::Word(w) => write!(f, "{w:?}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dim {
    Bytes,
    Ms,
}

/// A unit as `pg_settings.unit` names it, or as written after a number in a value.
fn unit_scale(unit: &str) -> Option<(Dim, f64)> {
    const KB: f64 = 1024.0;
    Some(match unit {
        "B" => (Dim::Bytes, 1.0),
        "kB" => (Dim::Bytes, KB),
        "8kB" => (Dim::Bytes, 8.0 * KB),
        "MB" => (Dim::Bytes, KB * KB),
        "16MB" => (Dim::Bytes, 16.0 * KB * KB),
        "GB" => (Dim::Bytes, KB * KB * KB),
        "TB" => (Dim::Bytes, KB * KB * KB * KB),
        "us" => (Dim::Ms, 0.001),
        "ms" => (Dim::Ms, 1.0),
        "s" => (Dim::Ms, 1000.0),
        "min" => (Dim::Ms, 60_000.0),
        "h" => (Dim::Ms, 3_600_000.0),
        "d" => (Dim::Ms, 86_400_000.0),
        _ => return None,
    })
}

fn base_scale(ps: &PgSetting) -> Result<Option<(Dim, f64)>, String> {
    match ps.unit.as_deref() {
        None | Some("") => Ok(None),
        Some(u) => unit_scale(u)
            .map(Some)
            .ok_or_else(|| format!("{}: unknown pg_settings.unit {u:?}", ps.name)),
    }
}

fn bool_word(text: &str) -> Option<&'static str> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Some("on"),
        "off" | "false" | "no" | "0" => Some("off"),
        _ => None,
    }
}

/// `text` (a conf value, a `postgres -C` answer or `pg_settings.setting`) in the setting's
/// base unit. A bare number is already in the base unit; a number with a unit is converted.
fn normalise(text: &str, ps: &PgSetting) -> Result<Norm, String> {
    let text = text.trim();
    match ps.vartype.as_str() {
        "bool" => bool_word(text)
            .map(|w| Norm::Word(w.into()))
            .ok_or_else(|| format!("{}: {text:?} is not a boolean", ps.name)),
        "enum" => {
            let word = text.to_ascii_lowercase();
            let canonical = ENUM_SYNONYMS
                .iter()
                .find(|(name, alias, _)| *name == ps.name && *alias == word)
                .map_or(word.as_str(), |(_, _, canonical)| canonical);
            Ok(Norm::Word(canonical.to_string()))
        }
        "string" => Ok(Norm::Word(
            text.strip_prefix('\'')
                .and_then(|t| t.strip_suffix('\''))
                .unwrap_or(text)
                .replace("''", "'"),
        )),
        "integer" | "real" => {
            let split = text
                .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+')))
                .unwrap_or(text.len());
            let (num, suffix) = text.split_at(split);
            let n: f64 = num
                .parse()
                .map_err(|_| format!("{}: {text:?} is not a number", ps.name))?;
            let suffix = suffix.trim();
            if suffix.is_empty() {
                return Ok(Norm::Num(n));
            }
            let (dim, scale) = unit_scale(suffix)
                .ok_or_else(|| format!("{}: unknown unit {suffix:?} in {text:?}", ps.name))?;
            match base_scale(ps)? {
                Some((base_dim, base)) if base_dim == dim => Ok(Norm::Num(n * scale / base)),
                _ => Err(format!(
                    "{}: {text:?} has a unit but the setting's unit is {:?}",
                    ps.name, ps.unit
                )),
            }
        }
        other => Err(format!("{}: unknown vartype {other:?}", ps.name)),
    }
}

/// Whether a server's answer equals what was recommended. Integers must match exactly (a
/// value the server rounds, like 3932kB for an 8kB-block setting, does not read back).
fn same(expected: &Norm, actual: &Norm, vartype: &str) -> bool {
    match (expected, actual) {
        (Norm::Num(e), Norm::Num(a)) if vartype == "real" => {
            (e - a).abs() <= 1e-9 * e.abs().max(1.0)
        }
        _ => expected == actual,
    }
}

/// The `name = value  # reason` lines of a conf snippet, in order, as (name, value).
/// Comment-only and blank lines are skipped; a setting line without a trailing `# reason`
/// or without `=` is an error.
fn conf_settings(conf: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, raw) in conf.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("conf line {}: {raw:?}", i + 1);
        let (name, rest) = line
            .split_once('=')
            .ok_or_else(|| format!("{}: no '='", at()))?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
        {
            return Err(format!("{}: bad setting name", at()));
        }
        let rest = rest.trim_start();
        let value_len = if rest.starts_with('\'') {
            // A quoted value ends at a lone quote ('' is an escaped quote).
            let bytes = rest.as_bytes();
            let mut j = 1;
            loop {
                match bytes.get(j) {
                    None => return Err(format!("{}: unterminated quote", at())),
                    Some(b'\'') if bytes.get(j + 1) == Some(&b'\'') => j += 2,
                    Some(b'\'') => break j + 1,
                    Some(_) => j += 1,
                }
            }
        } else {
            rest.find(|c: char| c.is_whitespace() || c == '#')
                .unwrap_or(rest.len())
        };
        let (value, tail) = rest.split_at(value_len);
        if value.is_empty() {
            return Err(format!("{}: empty value", at()));
        }
        let reason = tail.trim_start().strip_prefix('#').map(str::trim);
        if reason.is_none_or(str::is_empty) {
            return Err(format!("{}: no trailing '# reason' comment", at()));
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

/// Runs the binary; stdout on success.
fn run_binary(inputs: &Inputs, format: &str, home: &std::path::Path) -> Result<String, String> {
    // Nothing from the caller's environment or config files may steer the output.
    let mut cmd = support::tool(home);
    cmd.args(inputs.args(format));
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run pgcache-tune: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pgcache-tune {} --format {format} exited with {}: {}",
            inputs.label(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout)
        .map_err(|e| format!("{}: stdout is not UTF-8: {e}", inputs.label()))
}

/// Both formats for one input, parsed and checked against each other.
fn recommend(inputs: &Inputs, home: &std::path::Path) -> Result<Recommendation, String> {
    let label = inputs.label();
    let json_text = run_binary(inputs, "json", home)?;
    let conf = run_binary(inputs, "conf", home)?;
    let json: Value =
        serde_json::from_str(&json_text).map_err(|e| format!("{label}: invalid JSON: {e}"))?;
    if !json["inputs"].is_object() || !json["warnings"].is_array() {
        return Err(format!(
            "{label}: JSON lacks an \"inputs\" object or a \"warnings\" array"
        ));
    }
    let list = json["settings"]
        .as_array()
        .ok_or_else(|| format!("{label}: JSON lacks a \"settings\" array"))?;
    if list.is_empty() {
        return Err(format!("{label}: no settings"));
    }
    let mut settings = Vec::new();
    for s in list {
        let text = |key: &str| {
            s[key]
                .as_str()
                .map(String::from)
                .ok_or_else(|| format!("{label}: setting {s} lacks string {key:?}"))
        };
        let (name, value) = (text("name")?, text("value")?);
        for key in ["section", "reason"] {
            if text(key)?.trim().is_empty() {
                return Err(format!("{label}: {name}: empty {key:?}"));
            }
        }
        if !s["is_default"].is_boolean() {
            return Err(format!("{label}: {name}: \"is_default\" is not a boolean"));
        }
        let bytes = match &s["bytes"] {
            Value::Null => None,
            v => Some(
                v.as_u64()
                    .ok_or_else(|| format!("{label}: {name}: bytes {v} is not a u64"))?,
            ),
        };
        let ms = match &s["ms"] {
            Value::Null => None,
            v => Some(
                v.as_f64()
                    .ok_or_else(|| format!("{label}: {name}: ms {v} is not a number"))?,
            ),
        };
        settings.push(Emitted {
            name,
            value,
            bytes,
            ms,
        });
    }

    let lines = conf_settings(&conf).map_err(|e| format!("{label}: {e}\n{conf}"))?;
    let from_json: Vec<(String, String)> = settings
        .iter()
        .map(|s| (s.name.clone(), s.value.clone()))
        .collect();
    if lines != from_json {
        let at = lines
            .iter()
            .zip(&from_json)
            .position(|(a, b)| a != b)
            .unwrap_or(lines.len().min(from_json.len()));
        return Err(format!(
            "{label}: conf and JSON disagree at setting #{}: conf has {:?}, JSON has {:?} \
             ({} conf lines, {} JSON settings)",
            at + 1,
            lines.get(at),
            from_json.get(at),
            lines.len(),
            from_json.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = settings.iter().find(|s| !seen.insert(&s.name)) {
        return Err(format!("{label}: {} emitted twice", dup.name));
    }
    Ok(Recommendation {
        inputs: inputs.clone(),
        conf,
        settings,
    })
}

/// Checks one emitted setting against `pg_settings`; returns its expected normal form.
fn check_against_catalog(e: &Emitted, ps: &PgSetting) -> Result<Norm, String> {
    let value = normalise(&e.value, ps)?;
    let ctx = |msg: String| format!("{} = {}: {msg}", e.name, e.value);
    // The JSON's bytes/ms, converted with pg_settings.unit, must say what the text says.
    let suffix_dim = e
        .value
        .trim_start_matches(|c: char| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'))
        .trim();
    let suffix_dim = unit_scale(suffix_dim).map(|(d, _)| d);
    for (dim, field, amount) in [
        (Dim::Bytes, "bytes", e.bytes.map(|b| b as f64)),
        (Dim::Ms, "ms", e.ms),
    ] {
        match amount {
            None if suffix_dim == Some(dim) => {
                return Err(ctx(format!("a {dim:?} value with \"{field}\": null")));
            }
            None => {}
            Some(amount) => {
                let Some((base_dim, base)) = base_scale(ps)? else {
                    return Err(ctx(format!("\"{field}\" set for a setting without a unit")));
                };
                if base_dim != dim {
                    return Err(ctx(format!(
                        "\"{field}\" set but the unit is {:?}",
                        ps.unit
                    )));
                }
                let from_field = Norm::Num(amount / base);
                if !same(&from_field, &value, "real") {
                    return Err(ctx(format!(
                        "\"{field}\": {amount} is {from_field} {:?} but the text says {value}",
                        ps.unit
                    )));
                }
            }
        }
    }
    match (&value, ps.vartype.as_str()) {
        (Norm::Num(n), "integer" | "real") => {
            let bound = |b: &Option<String>| b.as_deref().and_then(|t| t.parse::<f64>().ok());
            let (min, max) = (bound(&ps.min_val), bound(&ps.max_val));
            if min.is_some_and(|m| *n < m) || max.is_some_and(|m| *n > m) {
                return Err(ctx(format!(
                    "{n} (unit {:?}) is outside [{}, {}]",
                    ps.unit.as_deref().unwrap_or(""),
                    ps.min_val.as_deref().unwrap_or("-inf"),
                    ps.max_val.as_deref().unwrap_or("inf")
                )));
            }
        }
        (Norm::Word(w), "enum") => {
            let vals = ps.enumvals.as_deref().unwrap_or_default();
            if !vals.iter().any(|v| v.eq_ignore_ascii_case(w)) {
                return Err(ctx(format!("not one of {vals:?}")));
            }
        }
        _ => {}
    }
    Ok(value)
}

/// Maps `items` over `states.len()` threads, each owning one state (a cluster, say).
fn par_map<T: Sync, S: Send, R: Send>(
    items: &[T],
    states: &mut [S],
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|scope| {
        for state in states.iter_mut() {
            let (next, results, f) = (&next, &results, &f);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(state, item);
                    results
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(PoisonError::into_inner);
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4)
}

fn fail_with(what: &str, failures: &[String]) {
    if failures.is_empty() {
        return;
    }
    let shown: Vec<&str> = failures
        .iter()
        .take(SHOWN_FAILURES)
        .map(String::as_str)
        .collect();
    panic!(
        "{what}: {} failure(s){}\n\n{}",
        failures.len(),
        if failures.len() > SHOWN_FAILURES {
            format!(" (first {SHOWN_FAILURES} shown)")
        } else {
            String::new()
        },
        shown.join("\n\n")
    );
}

fn fetch_pg_settings(c: &Cluster) -> HashMap<String, PgSetting> {
    let json = c.psql(
        "postgres",
        "select json_agg(json_build_object('name', name, 'setting', setting, 'unit', unit, \
         'vartype', vartype, 'min_val', min_val, 'max_val', max_val, 'enumvals', enumvals, \
         'source', source, 'sourcefile', sourcefile)) from pg_settings",
    );
    let rows: Vec<PgSetting> = serde_json::from_str(&json).expect("pg_settings as JSON");
    rows.into_iter().map(|r| (r.name.clone(), r)).collect()
}

/// The snippet with full-line comments removed: what the server's parser sees. Headers echo
/// the inputs, so deduping on the raw text would keep every run apart.
fn parsed_part(conf: &str) -> String {
    conf.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `postgres -C name` with `value` expected; Err describes any difference.
fn read_back(c: &Cluster, name: &str, value: &str, ps: &PgSetting) -> Result<(), String> {
    let expected = normalise(value, ps)?;
    let shown = c
        .postgres_c(name)
        .map_err(|e| format!("postgres -C {name} refused the snippet: {e}"))?;
    let actual = normalise(&shown, ps)?;
    if same(&expected, &actual, &ps.vartype) {
        return Ok(());
    }
    let unit = ps.unit.as_deref().unwrap_or("");
    let hint = match expected {
        Norm::Num(n) if ps.vartype == "integer" && n.fract() != 0.0 => {
            format!("; not a whole number of {unit:?} units, so the server rounds it")
        }
        _ => String::new(),
    };
    Err(format!(
        "{name} = {value} reads back as {shown:?} (expected {expected}, got {actual} in unit {unit:?}{hint})"
    ))
}

#[test]
fn a_real_server_accepts_every_line_and_reads_back_the_same_value() {
    let Some(bin) = support::require_pg() else {
        return;
    };
    let t0 = Instant::now();
    let n = workers();
    let mut clusters: Vec<Cluster> = par_map(&vec![(); n], &mut vec![(); n], |_, _| {
        Cluster::init(ClusterOptions::new(bin.clone()))
    });
    let major = clusters[0].major();
    for c in &clusters {
        c.conf_append(&format!("include '{SNIPPET}'"));
        c.write_data_file(SNIPPET, "");
    }
    eprintln!(
        "{n} clusters (PostgreSQL {major}) ready in {:.1?}",
        t0.elapsed()
    );

    // 1. The grid, through the real binary.
    let t = Instant::now();
    let mut grid = Vec::new();
    for &ram in RAMS {
        for &cpus in CPUS {
            for &profile in PROFILES {
                for &storage in STORAGES {
                    for &os in OSES {
                        grid.push(Inputs {
                            ram,
                            cpus,
                            profile,
                            storage,
                            os,
                            pg: major,
                        });
                    }
                }
            }
        }
    }
    let home = tempfile::tempdir().expect("temp HOME");
    let results = par_map(&grid, &mut vec![(); n], |_, i| recommend(i, home.path()));
    let (runs, errors): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    let runs: Vec<Recommendation> = runs.into_iter().map(Result::unwrap).collect();
    let errors: Vec<String> = errors.into_iter().map(Result::unwrap_err).collect();
    if !errors.is_empty() && runs.is_empty() {
        panic!(
            "pgcache-tune recommend failed for all {} inputs; the first:\n{}",
            grid.len(),
            errors[0]
        );
    }
    fail_with("pgcache-tune recommend over the grid", &errors);
    eprintln!(
        "{} recommendations (json + conf) in {:.1?}",
        runs.len(),
        t.elapsed()
    );

    // 2. Every emitted (name, value) against pg_settings of a running server.
    clusters[0].start();
    let catalog = fetch_pg_settings(&clusters[0]);
    clusters[0].stop();
    let mut pairs: BTreeMap<(String, String), (usize, Emitted)> = BTreeMap::new();
    for (i, r) in runs.iter().enumerate() {
        for s in &r.settings {
            pairs
                .entry((s.name.clone(), s.value.clone()))
                .or_insert((i, s.clone()));
        }
    }
    let mut failures = Vec::new();
    for ((name, _), (i, e)) in &pairs {
        match catalog.get(name) {
            None => failures.push(format!(
                "{name}: not a PostgreSQL {major} setting ({})",
                runs[*i].inputs.label()
            )),
            Some(ps) => {
                if let Err(msg) = check_against_catalog(e, ps) {
                    failures.push(format!("{msg} ({})", runs[*i].inputs.label()));
                }
            }
        }
    }
    fail_with("settings against pg_settings", &failures);
    eprintln!(
        "{} distinct (name, value) pairs match pg_settings",
        pairs.len()
    );

    // 3. The checks below can fail: postgres -C refuses a file with one bad line, whichever
    //    setting is asked for, and a value the server rounds does not read back.
    let c = &clusters[0];
    c.write_data_file(
        SNIPPET,
        "work_mem = 8MB  # fine\nshared_buffers = 16KB  # bad unit\n",
    );
    let err = c
        .postgres_c("work_mem")
        .expect_err("postgres -C accepted shared_buffers = 16KB");
    assert!(err.contains("shared_buffers"), "{err}");
    c.write_data_file(SNIPPET, "max_connections = 0  # out of range\n");
    assert!(
        c.postgres_c("work_mem").is_err(),
        "postgres -C accepted max_connections = 0"
    );
    c.write_data_file(SNIPPET, "wal_buffers = 3932kB  # not a multiple of 8kB\n");
    let rounded = read_back(c, "wal_buffers", "3932kB", &catalog["wal_buffers"]);
    assert!(
        rounded.is_err(),
        "read-back missed the server rounding 3932kB to whole 8kB blocks"
    );

    // 4. Every distinct snippet through postgres -C, reading back every distinct pair from
    //    the first snippet that holds it.
    let t = Instant::now();
    let mut snippet_of_run = vec![0; runs.len()];
    let mut snippets: Vec<(usize, Vec<(String, String)>)> = Vec::new(); // (run, pairs to read)
    let mut by_text: HashMap<String, usize> = HashMap::new();
    for (i, r) in runs.iter().enumerate() {
        snippet_of_run[i] = *by_text.entry(parsed_part(&r.conf)).or_insert_with(|| {
            snippets.push((i, Vec::new()));
            snippets.len() - 1
        });
    }
    for ((name, value), (i, _)) in &pairs {
        snippets[snippet_of_run[*i]]
            .1
            .push((name.clone(), value.clone()));
    }
    let failures: Vec<String> = par_map(&snippets, &mut clusters, |c, (run, reads)| {
        let r = &runs[*run];
        c.write_data_file(SNIPPET, &r.conf);
        let mut errs = Vec::new();
        if reads.is_empty()
            && let Err(e) = c.postgres_c(&r.settings[0].name)
        {
            errs.push(format!("postgres -C refused the snippet: {e}"));
        }
        for (name, value) in reads {
            if let Err(e) = read_back(c, name, value, &catalog[name]) {
                errs.push(e);
            }
        }
        errs.into_iter()
            .map(|e| format!("{e}\n  from: pgcache-tune {}", r.inputs.label()))
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    eprintln!(
        "{} distinct snippets (of {}) through postgres -C, {} pairs read back, in {:.1?}",
        snippets.len(),
        runs.len(),
        pairs.len(),
        t.elapsed()
    );
    fail_with("postgres -C over distinct snippets", &failures);

    // 5. Really start a server with the snippets of small machines. First prove a startup-only
    //    check is caught: -C accepts wal_level = minimal with max_wal_senders > 0, start refuses.
    let t = Instant::now();
    let c = &mut clusters[0];
    c.write_data_file(
        SNIPPET,
        "wal_level = minimal  # needs max_wal_senders = 0\n",
    );
    assert!(
        c.postgres_c("wal_level").is_ok(),
        "postgres -C now checks wal_level against max_wal_senders: update this test"
    );
    assert!(
        c.try_start().is_err(),
        "the server started with wal_level = minimal and max_wal_senders > 0"
    );

    let mut starts = Vec::new();
    for (p, &profile) in PROFILES.iter().enumerate() {
        for (k, &(ram, cpus)) in START_POINTS.iter().enumerate() {
            let storage = STORAGES[(p * START_POINTS.len() + k) % STORAGES.len()];
            starts.push(Inputs {
                ram,
                cpus,
                profile,
                storage,
                os: "linux",
                pg: major,
            });
        }
    }
    let failures: Vec<String> = par_map(&starts, &mut clusters, |c, inputs| {
        let label = inputs.label();
        let r = match recommend(inputs, home.path()) {
            Ok(r) => r,
            Err(e) => return vec![e],
        };
        c.write_data_file(SNIPPET, &r.conf);
        if let Err(e) = c.try_start() {
            return vec![format!(
                "server refused to start with the snippet of {label}: {e}\n{}",
                r.conf
            )];
        }
        let live = fetch_pg_settings(c);
        c.stop();
        let mut errs = Vec::new();
        for e in &r.settings {
            let Some(ps) = live.get(&e.name) else {
                errs.push(format!("{}: not a setting ({label})", e.name));
                continue;
            };
            let got = ps.setting.as_deref().unwrap_or("");
            let ok = normalise(&e.value, ps)
                .and_then(|want| normalise(got, ps).map(|g| same(&want, &g, &ps.vartype)));
            if ok != Ok(true) {
                errs.push(format!(
                    "{} = {} but the running server has {got:?} {:?} ({ok:?}; {label})",
                    e.name, e.value, ps.unit
                ));
            }
            // Set by our line, not a default or a later line.
            if ps.source.as_deref() != Some("configuration file")
                || !ps.sourcefile.as_deref().unwrap_or("").ends_with(SNIPPET)
            {
                errs.push(format!(
                    "{} comes from {:?} {:?}, not {SNIPPET} ({label})",
                    e.name, ps.source, ps.sourcefile
                ));
            }
        }
        errs
    })
    .into_iter()
    .flatten()
    .collect();
    fail_with("servers started with recommended snippets", &failures);
    eprintln!(
        "{} servers started and checked in {:.1?}; total {:.1?}",
        starts.len(),
        t.elapsed(),
        t0.elapsed()
    );
}

/// `recommend` for a small Linux machine with no `--pg-version`, as on a host whose PATH is
/// `path` and whose /usr/lib/postgresql is empty: (stdout, stderr). Panics unless it succeeds.
fn recommend_detecting(path: &std::path::Path, extra: &[&str]) -> (String, String) {
    let args = [
        &["--ram", "2GB", "--cpus", "16", "--os", "linux"][..],
        extra,
    ]
    .concat();
    recommend_on(path, &args)
}

/// `recommend ARGS` on a host whose PATH is `path` and whose /usr/lib/postgresql is empty:
/// (stdout, stderr). Panics unless it succeeds.
fn recommend_on(path: &std::path::Path, args: &[&str]) -> (String, String) {
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut cmd = assert_cmd::Command::cargo_bin("pgcache-tune").expect("the binary");
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    // 16 CPUs: enough for io_workers (PostgreSQL 18 only; 13–17 refuse to start with it).
    let out = cmd
        .env("HOME", scratch.path())
        .env("XDG_CONFIG_HOME", scratch.path())
        .env("PATH", path)
        .env("PGCACHE_TUNE_INSTALL_ROOT", scratch.path())
        .arg("recommend")
        .args(args)
        .output()
        .expect("run pgcache-tune");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "recommend {args:?} failed: {stderr}");
    (String::from_utf8(out.stdout).expect("UTF-8"), stderr)
}

/// Starts `c` with `conf` as its snippet and returns pg_settings; panics naming the snippet.
fn start_with(c: &mut Cluster, conf: &str, what: &str) -> HashMap<String, PgSetting> {
    c.write_data_file(SNIPPET, conf);
    if let Err(e) = c.try_start() {
        panic!(
            "PostgreSQL {} refused to start with {what}: {e}\n{conf}",
            c.major()
        );
    }
    let live = fetch_pg_settings(c);
    c.stop();
    for (name, value) in conf_settings(conf).expect("snippet parses") {
        let ps = &live[&name];
        assert_eq!(
            ps.sourcefile.as_deref().map(|f| f.ends_with(SNIPPET)),
            Some(true),
            "{name} = {value} did not apply ({what})"
        );
    }
    live
}

#[test]
fn without_pg_version_the_snippet_fits_the_installed_major() {
    let Some(bin) = support::require_pg() else {
        return;
    };
    let mut c = Cluster::init(ClusterOptions::new(bin.clone()));
    let major = c.major();
    c.conf_append(&format!("include '{SNIPPET}'"));

    // Only this major installed: its postgres on PATH, nothing under the installation root.
    let (conf, stderr) = recommend_detecting(&bin, &[]);
    assert!(
        stderr.is_empty(),
        "a detected major needs no warning: {stderr}"
    );
    assert!(
        conf.contains(&format!(
            "#   PostgreSQL: {major}, detected, postgres on PATH: "
        )),
        "{conf}"
    );
    let live = start_with(&mut c, &conf, "the snippet for the detected major");
    let pairs: BTreeMap<String, String> = conf_settings(&conf).unwrap().into_iter().collect();
    assert_eq!(pairs.contains_key("io_workers"), major >= 18, "{conf}");
    // lz4 exactly when this build has it (postgres -C asked it offline); pglz never.
    let lz4 = live["wal_compression"]
        .enumvals
        .as_ref()
        .is_some_and(|v| v.iter().any(|x| x == "lz4"));
    assert_eq!(
        pairs.get("wal_compression").map(String::as_str),
        (major >= 15 && lz4).then_some("lz4"),
        "{conf}"
    );

    // The cluster's own PG_VERSION decides with --data-dir, even with nothing on PATH.
    let nothing = tempfile::tempdir().unwrap();
    let (conf, _) = recommend_detecting(
        nothing.path(),
        &["--data-dir", c.data_dir().to_str().unwrap()],
    );
    assert!(
        conf.contains(&format!("#   PostgreSQL: {major}, from ")) && conf.contains("PG_VERSION"),
        "{conf}"
    );
    start_with(&mut c, &conf, "the snippet for --data-dir");

    // Nothing installed: a version-neutral snippet, which this major (like every other) starts
    // with, and a warning naming what was left out and the flag that brings it back.
    let (conf, stderr) = recommend_detecting(nothing.path(), &[]);
    assert!(
        conf.contains("#   PostgreSQL: any 13–18, version-neutral"),
        "{conf}"
    );
    for text in [&conf, &stderr] {
        assert!(
            text.contains("left out io_workers (PostgreSQL 18)") && text.contains("--pg-version"),
            "{text}"
        );
    }
    let pairs: BTreeMap<String, String> = conf_settings(&conf).unwrap().into_iter().collect();
    assert!(!pairs.contains_key("io_workers") && !pairs.contains_key("wal_compression"));
    start_with(&mut c, &conf, "the version-neutral snippet");
}

/// The memory check: 5000 connections on 4GB keep work_mem at its 4MB floor, and the sum
/// (shared_buffers + connections × work_mem + autovacuum workers × maintenance_work_mem) is
/// more than RAM, so every format's header says so with the numbers; the profile's default
/// connections on the same RAM fit and stay quiet. Offline: no server needed.
#[test]
fn the_memory_check_warns_when_connections_can_exhaust_ram() {
    let home = tempfile::tempdir().expect("temp dir");
    let run = |extra: &[&str]| {
        let out = support::tool(home.path())
            .args([
                "recommend",
                "--ram",
                "4GB",
                "--cpus",
                "2",
                "--pg-version",
                "15",
            ])
            .args(extra)
            .output()
            .expect("run pgcache-tune");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let json: Value =
        serde_json::from_str(&run(&["--connections", "5000", "--format", "json"])).expect("JSON");
    let warnings: Vec<&str> = json["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let settings = &json["settings"];
    let get = |name: &str| {
        settings
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["bytes"].as_u64().unwrap_or(0))
            .unwrap_or(0)
    };
    // The sum the warning states, recomputed from the emitted settings (autovacuum: the
    // default 3 workers, each with maintenance_work_mem).
    let total = get("shared_buffers") + 5000 * get("work_mem") + 3 * get("maintenance_work_mem");
    assert!(total > 4 << 30, "{total}");
    let gib = format!("{:.1} GiB", total as f64 / f64::from(1u32 << 30));
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("memory can run out: ")
                && w.contains("5000 connections × work_mem 4MB")
                && w.contains(&gib)
                && w.contains("more than the 4 GiB of RAM")),
        "{warnings:?} ({gib})"
    );
    let conf = run(&["--connections", "5000"]);
    assert!(conf.contains("#   - memory can run out: "), "{conf}");
    let quiet = run(&[]);
    assert!(!quiet.contains("memory can run out"), "{quiet}");
}

/// The `key = value` lines of a sysctl.d file, after checking that every other line is a
/// comment or blank, as `sysctl -p` requires.
fn sysctl_pairs(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once(" = ")
            .unwrap_or_else(|| panic!("not `key = value`: {line:?}\n{text}"));
        assert!(
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'),
            "bad key {key:?}"
        );
        assert!(
            !value.is_empty() && !value.contains(char::is_whitespace),
            "bad value {value:?}"
        );
        pairs.push((key.to_string(), value.to_string()));
    }
    pairs
}

/// `--format sysctl` is a file `sysctl -p` loads: comments, blank lines and `key = value`,
/// every key one this kernel has under /proc/sys. Offline (an estimate without --data-dir).
#[cfg(target_os = "linux")]
#[test]
fn the_sysctl_file_parses_and_names_real_keys() {
    let home = tempfile::tempdir().expect("temp dir");
    let out = support::tool(home.path())
        .args([
            "recommend",
            "--ram",
            "16GB",
            "--cpus",
            "4",
            "--pg-version",
            "15",
        ])
        .args(["--format", "sysctl"])
        .output()
        .expect("run pgcache-tune");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let pairs = sysctl_pairs(&text);
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "vm.nr_hugepages",
            "vm.overcommit_memory",
            "vm.overcommit_ratio",
            "vm.swappiness"
        ],
        "{text}"
    );
    for (key, value) in &pairs {
        let proc = std::path::Path::new("/proc/sys").join(key.replace('.', "/"));
        assert!(proc.is_file(), "{key}: no {}", proc.display());
        value
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("{key} = {value}"));
    }
    // Without a data directory the count is an estimate, and says so.
    assert!(text.contains("ESTIMATE"), "{text}");
    // Not a Linux target: refused with the usage code, nothing on stdout.
    let out = support::tool(home.path())
        .args([
            "recommend",
            "--ram",
            "16GB",
            "--os",
            "windows",
            "--format",
            "sysctl",
        ])
        .output()
        .expect("run pgcache-tune");
    assert_eq!(out.status.code(), Some(64));
    assert!(out.stdout.is_empty());
    // A server elsewhere runs on a kernel we cannot read: refused before connecting.
    let out = support::tool(home.path())
        .args(["recommend", "--from", "host=192.0.2.1 connect_timeout=1"])
        .args(["--ram", "16GB", "--cpus", "4", "--format", "sysctl"])
        .output()
        .expect("run pgcache-tune");
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not on this machine"), "{stderr}");
}

/// The huge pages `recommend` prints with --data-dir are the ones the server computes for the
/// same settings (`postgres -C shared_memory_size_in_huge_pages` with the snippet included),
/// on PostgreSQL 15 and later; 13 and 14 cannot compute it, and the count is a labelled
/// estimate. The cluster is never started: -C needs a stopped one.
#[cfg(target_os = "linux")]
#[test]
fn the_huge_pages_count_is_the_one_the_server_computes() {
    let Some(bin) = support::require_pg() else {
        return;
    };
    let mut c = Cluster::init(ClusterOptions::new(bin.clone()));
    let major = c.major();
    let data = c.data_dir().to_str().unwrap().to_string();
    // 16GB: shared_buffers 4GB, so huge_pages = try and a reservation is advised.
    let inputs = [
        "--ram",
        "16GB",
        "--cpus",
        "4",
        "--os",
        "linux",
        "--data-dir",
        &data,
    ];
    let (sysctl, _) = recommend_on(&bin, &[&inputs[..], &["--format", "sysctl"]].concat());
    let count = sysctl_pairs(&sysctl)
        .into_iter()
        .find(|(k, _)| k == "vm.nr_hugepages")
        .map(|(_, v)| v.parse::<u64>().expect("a number"))
        .unwrap_or_else(|| panic!("no vm.nr_hugepages:\n{sysctl}"));
    let (conf, _) = recommend_on(&bin, &inputs);
    assert!(
        conf.contains(&format!("# vm.nr_hugepages = {count}\n")),
        "the snippet's host section has the same count: {conf}"
    );
    if major >= 15 {
        assert!(
            sysctl.contains("computed by ") && !sysctl.contains("ESTIMATE"),
            "{sysctl}"
        );
        c.conf_append(&format!("include '{SNIPPET}'"));
        c.write_data_file(SNIPPET, &conf);
        let server: u64 = c
            .postgres_c("shared_memory_size_in_huge_pages")
            .expect("postgres -C")
            .parse()
            .expect("a number");
        assert_eq!(count, server, "PostgreSQL {major} computes {server}");
        // A running cluster cannot be asked: a labelled estimate that says why.
        c.start();
        let (sysctl, _) = recommend_on(&bin, &[&inputs[..], &["--format", "sysctl"]].concat());
        assert!(
            sysctl.contains("ESTIMATE") && sysctl.contains("is running"),
            "{sysctl}"
        );
    } else {
        assert!(
            sysctl.contains("ESTIMATE")
                && sysctl.contains(&format!("PostgreSQL {major} cannot compute")),
            "{sysctl}"
        );
    }
    // --from a server on this machine: this kernel's advice, the count an estimate (the
    // server runs, so it cannot be asked).
    if !c.is_running() {
        c.start();
    }
    let from = format!(
        "host={} port={} user={} dbname=postgres",
        c.socket_dir().display(),
        c.port(),
        support::SUPERUSER
    );
    let (sysctl, _) = recommend_on(
        &bin,
        &[
            "--from", &from, "--ram", "16GB", "--cpus", "4", "--os", "linux", "--format", "sysctl",
        ],
    );
    assert!(
        sysctl_pairs(&sysctl)
            .iter()
            .any(|(k, _)| k == "vm.nr_hugepages")
            && sysctl.contains("ESTIMATE")
            && sysctl.contains("--from: the server is running"),
        "{sysctl}"
    );
}
