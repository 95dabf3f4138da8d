//! Prometheus text format 0.0.4 and OpenMetrics 1.0 renderings of reports and verdicts, for
//! `--format prometheus|openmetrics`, `--textfile-dir` and `serve`. Pure: the shell passes
//! in what it collected (and how long that took), this module only formats.
//!
//! Names: where the data is the same as postgres_exporter's, its metric names and labels
//! (`pg_stat_database_blks_hit{datname}`, `pg_statio_user_tables_heap_blocks_hit{datname,
//! schemaname,relname}`, `pg_settings_<name>[_bytes|_seconds]`), so existing dashboards keep
//! working; everything derived is under `pgcache_tune_`. In fleet mode every series carries
//! `target` (and the inventory's labels), in single-target mode none does.
//!
//! We write our own encoder rather than use a client crate: postgres_exporter's counter
//! names have no `_total`, which the client crates rename (prometheus-client) or reject; and
//! what we expose is a read-only snapshot computed once per run or scrape, not a live
//! registry of instruments. The encoder is small: families grouped (one HELP/TYPE each, even
//! across targets), label values escaped, no timestamps (the textfile collector rejects
//! them), duplicate series dropped so one odd input can never make the exposition invalid.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

use crate::diag::{self, Report};
use crate::gate::{self, Verdict};

/// Which exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsFormat {
    /// Prometheus text format 0.0.4: the default for files (node_exporter's textfile
    /// collector parses only this) and for scrapers that do not ask for OpenMetrics.
    Prometheus,
    /// OpenMetrics 1.0 text: counters get their `_total` sample, the output ends in `# EOF`.
    OpenMetrics,
}

impl MetricsFormat {
    /// The HTTP `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            MetricsFormat::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            MetricsFormat::OpenMetrics => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
        }
    }
}

/// The format an HTTP `Accept` header asks for: OpenMetrics when it lists
/// `application/openmetrics-text` with a quality above zero and at least that of
/// `text/plain` (Prometheus sends both, OpenMetrics first, when its `scrape_protocols`
/// allow it), else 0.0.4, which every scraper reads.
pub fn negotiate(accept: Option<&str>) -> MetricsFormat {
    let Some(accept) = accept else {
        return MetricsFormat::Prometheus;
    };
    let quality = |wanted: &str| -> f64 {
        accept
            .split(',')
            .filter_map(|range| {
                let mut parts = range.split(';').map(str::trim);
                let media = parts.next()?;
                if !media.eq_ignore_ascii_case(wanted) {
                    return None;
                }
                let q = parts
                    .filter_map(|p| p.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                    .map_or(Some(1.0), |(_, v)| v.trim().parse::<f64>().ok())?;
                Some(q)
            })
            .fold(0.0, f64::max)
    };
    let om = quality("application/openmetrics-text");
    if om > 0.0 && om >= quality("text/plain") {
        MetricsFormat::OpenMetrics
    } else {
        MetricsFormat::Prometheus
    }
}

/// What one target contributes to an exposition.
#[derive(Debug, Clone)]
pub struct MetricsTarget<'a> {
    /// The target's name in fleet mode (becomes the `target` label on every series); `None`
    /// in single-target mode, where no series carries it.
    pub target: Option<&'a str>,
    /// Extra constant labels (the inventory's `env`, `role`, …), added to every series of
    /// this target. Names that are not valid label names, or that a series already uses, are
    /// left out.
    pub labels: &'a [(String, String)],
    /// Whether the target could be read (`pgcache_tune_up`).
    pub up: bool,
    /// How long reading it took (`pgcache_tune_scrape_duration_seconds`).
    pub duration: Duration,
    /// The report, for `report`.
    pub report: Option<&'a Report>,
    /// The verdict, for `check`.
    pub verdict: Option<&'a Verdict>,
}

/// Renders the targets' metrics in one exposition.
pub fn render(targets: &[MetricsTarget], format: MetricsFormat) -> String {
    let mut set = Families::default();
    for t in targets {
        let base = base_labels(t);
        set.gauge(
            "pgcache_tune_up",
            "Whether the target could be read (1) or not (0).",
            &base,
            &[],
            Value::Int(i64::from(t.up)),
        );
        set.gauge(
            "pgcache_tune_scrape_duration_seconds",
            "Seconds spent reading the target.",
            &base,
            &[],
            Value::Float(t.duration.as_secs_f64()),
        );
        if let Some(report) = t.report {
            report_metrics(&mut set, &base, report);
        }
        if let Some(verdict) = t.verdict {
            verdict_metrics(&mut set, &base, verdict);
        }
    }
    set.encode(format)
}

/// `target` first, then the inventory labels that are valid, not reserved and not repeated.
fn base_labels(t: &MetricsTarget) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    if let Some(name) = t.target {
        out.push(("target".to_owned(), name.to_owned()));
    }
    for (k, v) in t.labels {
        if valid_label_name(k)
            && !RESERVED_LABELS.contains(&k.as_str())
            && !out.iter().any(|(n, _)| n == k)
        {
            out.push((k.clone(), v.clone()));
        }
    }
    out
}

/// Labels the series themselves use; an inventory label of the same name would make a
/// series carry one name twice, which both formats forbid.
const RESERVED_LABELS: [&str; 12] = [
    "target",
    "datname",
    "schemaname",
    "relname",
    "indexrelname",
    "scope",
    "code",
    "severity",
    "setting",
    "state",
    "le",
    "quantile",
];

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

fn report_metrics(set: &mut Families, base: &[(String, String)], r: &Report) {
    set.gauge(
        "pgcache_tune_server_version_num",
        "server_version_num of the server.",
        base,
        &[],
        Value::Int(i64::from(r.server.version_num)),
    );
    set.gauge(
        "pgcache_tune_stats_age_seconds",
        "Age of the connected database's statistics window (since stats_reset or server start).",
        base,
        &[],
        Value::Int(i64::try_from(r.server.stats_age_seconds).unwrap_or(i64::MAX)),
    );
    set.gauge(
        "pgcache_tune_stats_young",
        "Whether the statistics are too young for ratios to mean much (1) or not (0).",
        base,
        &[],
        Value::Int(i64::from(r.server.young)),
    );
    for d in &r.databases {
        let l = [("datname", d.name.as_str())];
        counters(
            set,
            base,
            &l,
            [
                (
                    "pg_stat_database_blks_hit",
                    "Disk blocks found in shared buffers (pg_stat_database.blks_hit).",
                    d.blks_hit,
                ),
                (
                    "pg_stat_database_blks_read",
                    "Disk blocks read outside shared buffers (pg_stat_database.blks_read).",
                    d.blks_read,
                ),
            ],
        );
        size(
            set,
            base,
            &l,
            ("pg_database_size_bytes", "Disk space used by the database."),
            d.size_bytes,
        );
        ratio(set, base, &[("scope", "database"), l[0]], d.hit_ratio);
    }
    for t in &r.tables {
        let l = [
            ("datname", t.database.as_str()),
            ("schemaname", t.schema.as_str()),
            ("relname", t.name.as_str()),
        ];
        counters(
            set,
            base,
            &l,
            [
                (
                    "pg_statio_user_tables_heap_blocks_hit",
                    "Buffer hits in the table's heap (pg_statio_user_tables.heap_blks_hit).",
                    t.heap_blks_hit,
                ),
                (
                    "pg_statio_user_tables_heap_blocks_read",
                    "Disk blocks read from the table's heap (pg_statio_user_tables.heap_blks_read).",
                    t.heap_blks_read,
                ),
            ],
        );
        size(
            set,
            base,
            &l,
            (
                "pgcache_tune_table_size_bytes",
                "pg_table_size of a listed table (heap, TOAST and maps).",
            ),
            t.size_bytes,
        );
        for (scope, value) in [
            ("table", t.heap_hit_ratio),
            ("table_indexes", t.idx_hit_ratio),
            ("toast", t.toast_hit_ratio),
            ("toast_index", t.toast_idx_hit_ratio),
        ] {
            ratio(set, base, &[("scope", scope), l[0], l[1], l[2]], value);
        }
    }
    for i in &r.indexes {
        let l = [
            ("datname", i.database.as_str()),
            ("schemaname", i.schema.as_str()),
            ("relname", i.table.as_str()),
            ("indexrelname", i.name.as_str()),
        ];
        counters(
            set,
            base,
            &l,
            [
                (
                    "pg_statio_user_indexes_idx_blks_hit_total",
                    "Buffer hits in the index (pg_statio_user_indexes.idx_blks_hit).",
                    i.idx_blks_hit,
                ),
                (
                    "pg_statio_user_indexes_idx_blks_read_total",
                    "Disk blocks read from the index (pg_statio_user_indexes.idx_blks_read).",
                    i.idx_blks_read,
                ),
            ],
        );
        ratio(
            set,
            base,
            &[("scope", "index"), l[0], l[1], l[2], l[3]],
            i.hit_ratio,
        );
    }
    for s in &r.settings {
        setting_metrics(set, base, s);
    }
    // One series per (code, severity): several findings can share a code (one per table),
    // and a series may appear only once.
    let mut findings: Vec<(&str, &str, i64)> = Vec::new();
    for f in &r.findings {
        match findings
            .iter_mut()
            .find(|(c, s, _)| *c == f.code && *s == f.severity.as_str())
        {
            Some(entry) => entry.2 += 1,
            None => findings.push((&f.code, f.severity.as_str(), 1)),
        }
    }
    for (code, severity, count) in findings {
        set.gauge(
            "pgcache_tune_finding",
            "Findings of the report by code and severity (how many).",
            base,
            &[("code", code), ("severity", severity)],
            Value::Int(count),
        );
    }
}

/// A hit and a read counter under the same labels.
fn counters(
    set: &mut Families,
    base: &[(String, String)],
    labels: &[(&str, &str)],
    pair: [(&str, &str, i64); 2],
) {
    for (name, help, value) in pair {
        set.counter(name, help, base, labels, Value::Int(value));
    }
}

/// A size gauge (name, help), when the size is known.
fn size(
    set: &mut Families,
    base: &[(String, String)],
    labels: &[(&str, &str)],
    (name, help): (&str, &str),
    bytes: Option<u64>,
) {
    if let Some(bytes) = bytes {
        let value = Value::Int(i64::try_from(bytes).unwrap_or(i64::MAX));
        set.gauge(name, help, base, labels, value);
    }
}

fn ratio(set: &mut Families, base: &[(String, String)], labels: &[(&str, &str)], v: Option<f64>) {
    if let Some(v) = v {
        set.gauge(
            "pgcache_tune_hit_ratio",
            "Lifetime cache hit ratio hit/(hit+read), 0..1, by scope (database, table, table_indexes, toast, toast_index, index).",
            base,
            labels,
            Value::Float(v),
        );
    }
}

/// What a setting's value measures, which picks the metric's unit suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SettingKind {
    Bytes,
    Seconds,
    Plain,
}

/// A `SHOW`-style value (`128MB`, `5min`, `on`, `0.9`, `-1`) as a number in base units, and
/// its kind when the text says it (a bare number does not: `-1` or `0` of a size setting).
fn setting_number(text: &str) -> Option<(Option<SettingKind>, f64)> {
    let text = text.trim();
    match text {
        "on" | "true" | "yes" => return Some((None, 1.0)),
        "off" | "false" | "no" => return Some((None, 0.0)),
        _ => {}
    }
    if let Ok(n) = text.parse::<f64>() {
        return n.is_finite().then_some((None, n));
    }
    if let Ok(kb) = crate::units::parse_pg_size_kb(text, 1) {
        return Some((Some(SettingKind::Bytes), kb * 1024.0));
    }
    if let Ok(ms) = crate::units::parse_pg_time_ms(text, 1.0) {
        return Some((Some(SettingKind::Seconds), ms / 1000.0));
    }
    None
}

fn setting_metrics(set: &mut Families, base: &[(String, String)], s: &diag::SettingRow) {
    let live = s.live.as_deref().and_then(setting_number);
    let recommended = setting_number(&s.recommended);
    let kind = live
        .and_then(|(k, _)| k)
        .or(recommended.and_then(|(k, _)| k))
        .unwrap_or(SettingKind::Plain);
    let suffix = match kind {
        SettingKind::Bytes => "_bytes",
        SettingKind::Seconds => "_seconds",
        SettingKind::Plain => "",
    };
    let name = metric_name_part(&s.name);
    if let Some((_, v)) = live {
        // postgres_exporter's pg_settings collector: one unlabelled gauge per setting.
        let family = format!("pg_settings_{name}{suffix}");
        let help = format!("Server Parameter: {name}");
        set.gauge(family, help, base, &[], Value::Float(v));
    }
    let setting = [("setting", s.name.as_str())];
    if let Some((_, v)) = recommended {
        let family = format!("pgcache_tune_setting_recommended{suffix}");
        set.gauge(
            family,
            "The value pgcache-tune recommends for the setting, in base units (live value: pg_settings_*).".to_owned(),
            base,
            &setting,
            Value::Float(v),
        );
    }
    let matches = match s.status {
        diag::SettingStatus::Equal => Some(1),
        diag::SettingStatus::Differs | diag::SettingStatus::Missing => Some(0),
        diag::SettingStatus::Auto | diag::SettingStatus::Unknown => None,
    };
    if let Some(m) = matches {
        set.gauge(
            "pgcache_tune_setting_matches",
            "Whether the live setting equals the recommendation (1) or differs or is missing (0).",
            base,
            &setting,
            Value::Int(m),
        );
    }
}

/// A setting name as a metric-name fragment: anything but `[a-zA-Z0-9_]` becomes `_`
/// (custom settings have a dot: `auto_explain.log_min_duration`).
fn metric_name_part(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn verdict_metrics(set: &mut Families, base: &[(String, String)], v: &Verdict) {
    set.gauge(
        "pgcache_tune_check_status",
        "The check's overall state as its Nagios exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        base,
        &[],
        Value::Int(i64::from(v.status.exit().code())),
    );
    if let Some(w) = &v.window {
        set.gauge(
            "pgcache_tune_check_window_seconds",
            "Length of the window the check judged.",
            base,
            &[],
            Value::Float(w.seconds()),
        );
    }
    for item in &v.items {
        let c = &item.counter;
        let mut labels: Vec<(&str, &str)> = vec![
            ("scope", c.scope.as_str()),
            ("datname", c.database.as_str()),
        ];
        match c.scope {
            // A Redis keyspace (`redis check`): the server is the item.
            gate::Scope::Database | gate::Scope::Keyspace => {}
            gate::Scope::Tables => {
                labels.push(("schemaname", c.schema.as_deref().unwrap_or("")));
                labels.push(("relname", c.name.as_str()));
            }
            gate::Scope::Indexes => {
                labels.push(("schemaname", c.schema.as_deref().unwrap_or("")));
                labels.push(("indexrelname", c.name.as_str()));
            }
        }
        if let Some(r) = item.hit_ratio {
            set.gauge(
                "pgcache_tune_check_hit_ratio",
                "Hit ratio of a judged item over the check's window, 0..1.",
                base,
                &labels,
                Value::Float(r),
            );
        }
        set.gauge(
            "pgcache_tune_check_item_status",
            "A judged item's state as a Nagios code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            base,
            &labels,
            Value::Int(i64::from(item.status.exit().code())),
        );
        let blocks = c.hits.saturating_add(c.reads);
        set.gauge(
            "pgcache_tune_check_blocks",
            "Blocks hit plus read by a judged item in the check's window.",
            base,
            &labels,
            Value::Int(blocks),
        );
    }
}

/// A sample's value: integers stay exact (a counter past 2^53 must not round).
#[derive(Debug, Clone, Copy)]
enum Value {
    Int(i64),
    Float(f64),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) if x.is_nan() => f.write_str("NaN"),
            Value::Float(x) if x == f64::INFINITY => f.write_str("+Inf"),
            Value::Float(x) if x == f64::NEG_INFINITY => f.write_str("-Inf"),
            // Rust's shortest round-trip form, never exponent notation: both parsers read it.
            Value::Float(x) => write!(f, "{x}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
}

#[derive(Debug)]
struct Family {
    name: String,
    help: String,
    kind: Kind,
    samples: Vec<(Vec<(String, String)>, Value)>,
    seen: HashSet<Vec<(String, String)>>,
}

/// Families in order of first appearance, so every target's samples of one family sit
/// together under one HELP/TYPE.
#[derive(Debug, Default)]
struct Families {
    list: Vec<Family>,
    index: HashMap<String, usize>,
}

impl Families {
    fn gauge(
        &mut self,
        name: impl Into<String>,
        help: impl Into<String>,
        base: &[(String, String)],
        labels: &[(&str, &str)],
        v: Value,
    ) {
        self.add(name.into(), help.into(), Kind::Gauge, base, labels, v);
    }

    fn counter(
        &mut self,
        name: &str,
        help: &str,
        base: &[(String, String)],
        labels: &[(&str, &str)],
        v: Value,
    ) {
        self.add(name.into(), help.into(), Kind::Counter, base, labels, v);
    }

    fn add(
        &mut self,
        name: String,
        help: String,
        kind: Kind,
        base: &[(String, String)],
        labels: &[(&str, &str)],
        v: Value,
    ) {
        let i = match self.index.get(&name) {
            Some(&i) => i,
            None => {
                self.index.insert(name.clone(), self.list.len());
                self.list.push(Family {
                    name,
                    help,
                    kind,
                    samples: Vec::new(),
                    seen: HashSet::new(),
                });
                self.list.len() - 1
            }
        };
        let family = &mut self.list[i];
        let mut all = base.to_vec();
        all.extend(labels.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())));
        // A series twice is invalid in both formats: the first one wins.
        if family.seen.insert(all.clone()) {
            family.samples.push((all, v));
        }
    }

    fn encode(&self, format: MetricsFormat) -> String {
        let mut out = String::new();
        for f in &self.list {
            let kind = match f.kind {
                Kind::Gauge => "gauge",
                Kind::Counter => "counter",
            };
            let help = escape(&f.help, format == MetricsFormat::OpenMetrics);
            // OpenMetrics names a counter family without `_total` and its sample with it, as
            // client_golang's OpenMetrics encoder does for postgres_exporter's counters
            // (most of them unsuffixed, the newer index ones already `_total`).
            let (family, sample) = match (format, f.kind) {
                (MetricsFormat::OpenMetrics, Kind::Counter) => {
                    let family = f.name.strip_suffix("_total").unwrap_or(&f.name);
                    (family.to_owned(), format!("{family}_total"))
                }
                _ => (f.name.clone(), f.name.clone()),
            };
            match format {
                MetricsFormat::Prometheus => {
                    let _ = writeln!(out, "# HELP {family} {help}");
                    let _ = writeln!(out, "# TYPE {family} {kind}");
                }
                MetricsFormat::OpenMetrics => {
                    // The spec's order: TYPE, UNIT, HELP. UNIT must be the name's suffix.
                    let _ = writeln!(out, "# TYPE {family} {kind}");
                    for unit in ["seconds", "bytes"] {
                        if family.ends_with(&format!("_{unit}")) {
                            let _ = writeln!(out, "# UNIT {family} {unit}");
                        }
                    }
                    let _ = writeln!(out, "# HELP {family} {help}");
                }
            }
            for (labels, v) in &f.samples {
                out.push_str(&sample);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, val)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape(val, true));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {v}");
            }
        }
        if format == MetricsFormat::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}

/// Escapes `\` and newline, and `"` when `quotes`: label values take all three in both
/// formats, HELP text the first two in 0.0.4 and all three in OpenMetrics. Everything else is
/// UTF-8 as is.
fn escape(v: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
