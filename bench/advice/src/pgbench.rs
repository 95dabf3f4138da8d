//! pgbench's summary output and per-transaction logs, and the skewed workload's script.

/// What one pgbench run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub tps: f64,
    pub transactions: u64,
    pub latency_avg_ms: Option<f64>,
}

/// Parses pgbench's summary. TPS is the `tps = ` line without connection time: PostgreSQL 14+
/// prints one ("without initial connection time"); 13 prints "including ..." and then
/// "excluding connections establishing", and the last line is the one wanted.
pub fn parse_summary(text: &str) -> Result<Summary, String> {
    let mut tps = None;
    let mut transactions = None;
    let mut latency = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("tps = ") {
            let value = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok());
            if !rest.contains("including") {
                tps = value.or(tps);
            } else if tps.is_none() {
                tps = value;
            }
        } else if let Some(rest) = line.strip_prefix("number of transactions actually processed:") {
            // "N" or, with -t, "N/M".
            transactions = rest
                .trim()
                .split('/')
                .next()
                .and_then(|v| v.trim().parse::<u64>().ok());
        } else if let Some(rest) = line.strip_prefix("latency average = ") {
            latency = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok());
        }
    }
    Ok(Summary {
        tps: tps.ok_or("no 'tps = ' line in the pgbench output")?,
        transactions: transactions
            .ok_or("no 'number of transactions actually processed' line in the pgbench output")?,
        latency_avg_ms: latency,
    })
}

/// Transaction latencies in microseconds from a per-transaction log (`--log`): the third field
/// of `client_id transaction_no time script_no time_epoch time_us [schedule_lag]`.
pub fn parse_txn_log(text: &str) -> Result<Vec<u64>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split_whitespace()
                .nth(2)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("unexpected pgbench log line: {l}"))
        })
        .collect()
}

/// Nearest-rank percentile (0 < p ≤ 100) of sorted values.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// The exponential parameter that puts `share` (e.g. 0.9) of the draws of pgbench's
/// `random_exponential(1, N, p)` into the first `fraction` of the range: the CDF there is
/// (1 − e^(−p·f)) / (1 − e^(−p)), so p = −ln(1 − share·(1 − e^(−p)))/f, solved by iteration.
pub fn exponential_parameter(fraction: f64, share: f64) -> f64 {
    let mut p = -(1.0 - share).ln() / fraction;
    for _ in 0..50 {
        p = -(1.0 - share * (1.0 - (-p).exp())).ln() / fraction;
    }
    p
}

/// A pgbench script: one primary-key read per transaction, accounts drawn from an exponential
/// distribution over `aid`, so the hot rows are the low ones and sit together on few pages.
pub fn skewed_script(parameter: f64) -> String {
    format!(
        "\\set aid random_exponential(1, 100000 * :scale, {parameter:.4})\n\
         SELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG15: &str = "pgbench (15.20 (Debian 15.20-1.pgdg120+1))
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 10
query mode: simple
number of clients: 8
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 21534
number of failed transactions: 0 (0.000%)
latency average = 3.712 ms
initial connection time = 12.345 ms
tps = 2155.123456 (without initial connection time)
";

    const PG13: &str = "transaction type: <builtin: select only>
number of transactions actually processed: 500/500
latency average = 0.400 ms
tps = 19000.1 (including connections establishing)
tps = 20000.5 (excluding connections establishing)
";

    #[test]
    fn summary_pg15_and_pg13() {
        let s = parse_summary(PG15).unwrap();
        assert_eq!(
            s,
            Summary {
                tps: 2155.123456,
                transactions: 21534,
                latency_avg_ms: Some(3.712)
            }
        );
        let s = parse_summary(PG13).unwrap();
        assert_eq!(s.tps, 20000.5);
        assert_eq!(s.transactions, 500);
    }

    #[test]
    fn summary_errors_name_the_missing_line() {
        let err = parse_summary("pgbench: error: connection failed").unwrap_err();
        assert!(err.contains("tps"), "{err}");
        let err = parse_summary("tps = 5 (without initial connection time)").unwrap_err();
        assert!(err.contains("transactions"), "{err}");
    }

    #[test]
    fn txn_log_and_percentile() {
        let log = "0 1 250 0 1700000000 123\n1 1 1000 0 1700000000 456\n\n0 2 400 0 1700000001 1\n";
        let mut v = parse_txn_log(log).unwrap();
        assert_eq!(v, vec![250, 1000, 400]);
        v.sort_unstable();
        assert_eq!(percentile(&v, 95.0), Some(1000));
        assert_eq!(percentile(&v, 50.0), Some(400));
        assert_eq!(percentile(&[], 95.0), None);
        assert!(parse_txn_log("0 1\n").is_err());
    }

    #[test]
    fn exponential_parameter_hits_the_share() {
        for (f, share) in [(0.05, 0.9), (0.3, 0.9), (0.5, 0.8)] {
            let p = exponential_parameter(f, share);
            let cdf = (1.0 - (-p * f).exp()) / (1.0 - (-p).exp());
            assert!((cdf - share).abs() < 1e-9, "f {f}: p {p} gives {cdf}");
        }
        let script = skewed_script(46.0517);
        assert!(
            script.contains("random_exponential(1, 100000 * :scale, 46.0517)"),
            "{script}"
        );
    }
}
