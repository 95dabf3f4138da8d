//! `serve`: a thin HTTP shell for Prometheus over the same calls as `report`. Each scrape of
//! `/metrics` (every target) or `/probe?target=NAME` (one inventory target, the multi-target
//! exporter pattern) collects through the fleet pool (`app::fleet::run`: per-target
//! deadline and row cap) and renders with `render::metrics`; `/healthz` answers without
//! touching a database.
//!
//! Load on the databases is bounded by a per-target cache with single flight: a target's
//! slot is a mutex held for the whole collection, so scrapes that arrive while one is
//! running wait for it and get its result, and any scrape within `--cache-ttl` of it gets
//! the same result without a query. Many Prometheus replicas scraping at once therefore
//! cost one collection per target per TTL.
//!
//! hyper's HTTP/1 server on the existing single-threaded tokio runtime: requests are few
//! and small, and every wait is on the network. The listener refuses non-loopback addresses
//! unless `--listen-any` (metrics name databases and tables); responses never carry a
//! connection string or password (a target that fails is `pgcache_tune_up 0`, the reason
//! goes to stderr, redacted by `conninfo`). SIGTERM and SIGINT stop accepting, let the
//! requests in flight finish (up to [`SHUTDOWN_GRACE`]) and exit 0.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use super::Outcome;
use super::fleet::{self, Target};
use crate::cli::{HostOverrides, ServeArgs};
use crate::diag::{DiagOptions, Report};
use crate::exit;
use crate::fleet::TargetRun;
use crate::fleet::inventory::{self, Kind, PasswordRef, TargetSpec};
use crate::render::metrics;
use crate::render::sanitize::one_line;

/// How long requests in flight may take to finish after SIGTERM or SIGINT.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// A client that has not sent its request headers by then is dropped (slow-loris guard).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A target's last collection.
struct Cached {
    at: Instant,
    run: TargetRun<Report>,
}

/// Everything a request needs.
struct Server {
    targets: Vec<Target>,
    /// Inventory mode: series carry `target`, `/probe` works.
    fleet: bool,
    /// One slot per target, in `targets` order; holding the lock is collecting.
    slots: Vec<tokio::sync::Mutex<Option<Cached>>>,
    ttl: Duration,
    jobs: usize,
    host: HostOverrides,
}

pub(super) fn serve(args: &ServeArgs) -> anyhow::Result<Outcome> {
    if !args.listen.ip().is_loopback() && !args.listen_any {
        return Err(exit::usage(format!(
            "--listen {}: not a loopback address; the metrics name databases and tables, so add --listen-any to serve them beyond this host",
            args.listen
        )));
    }
    let (targets, fleet) = match &args.targets {
        // clap refuses CONNECTION and the connection flags beside --targets.
        Some(path) => (fleet::load(path, &[])?, true),
        None => (vec![single_target(args)?], false),
    };
    let jobs = args
        .jobs
        .map_or_else(|| fleet::default_jobs(targets.len()), usize::from);
    let server = Rc::new(Server {
        slots: targets
            .iter()
            .map(|_| tokio::sync::Mutex::new(None))
            .collect(),
        targets,
        fleet,
        ttl: args.cache_ttl,
        jobs,
        host: args.host.clone(),
    });
    let rt = super::live::runtime()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, run(server, args.listen))?;
    Ok(Outcome::ok(String::new()))
}

/// The one server of CONNECTION and the flags, as a fleet target without a name label.
fn single_target(args: &ServeArgs) -> anyhow::Result<Target> {
    let params = super::live::resolve(&args.conn)?;
    Ok(Target {
        spec: TargetSpec {
            name: "server".to_owned(),
            line: 0,
            kind: Kind::Postgres,
            connection: String::new(),
            connection_line: 0,
            password: PasswordRef::None,
            labels: BTreeMap::new(),
            connect_timeout: inventory::DEFAULT_CONNECT_TIMEOUT,
            statement_timeout: params.statement_timeout,
            timeout: args.timeout,
            max_rows: inventory::DEFAULT_MAX_ROWS,
            enabled: true,
        },
        params: Ok(params),
    })
}

async fn run(server: Rc<Server>, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        exit::io(format!(
            "--listen {listen}: cannot listen there: {}",
            exit::io_reason(&e)
        ))
    })?;
    let bound = listener.local_addr().map_err(|e| exit::io(e.to_string()))?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| exit::io(format!("cannot watch SIGTERM: {e}")))?;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    eprintln!(
        "pgcache-tune serve: listening on http://{bound}/metrics ({} target{})",
        server.targets.len(),
        if server.targets.len() == 1 { "" } else { "s" }
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let signal = loop {
        while connections.try_join_next().is_some() {}
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn_local(connection(server.clone(), stream, stop_rx.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: say so, breathe, keep serving.
                    eprintln!("warning: accepting a connection: {}", exit::io_reason(&e));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = term.recv() => break "SIGTERM",
            _ = &mut ctrl_c => break "SIGINT",
        }
    };
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        eprintln!(
            "pgcache-tune serve: {signal}: requests still running after {}s were dropped",
            SHUTDOWN_GRACE.as_secs()
        );
    }
    eprintln!("pgcache-tune serve: stopped on {signal}");
    Ok(())
}

/// One HTTP/1 connection; on shutdown it finishes the request in flight and closes.
async fn connection(
    server: Rc<Server>,
    stream: tokio::net::TcpStream,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req| {
        let server = server.clone();
        async move { Ok::<_, Infallible>(server.handle(&req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

impl Server {
    async fn handle(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut r = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET and HEAD are served\n",
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        let accept = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        let format = metrics::negotiate(accept);
        match req.uri().path() {
            "/healthz" => text(StatusCode::OK, "ok\n"),
            "/metrics" => {
                let runs: Vec<TargetRun<Report>> =
                    futures_util::stream::iter(0..self.targets.len())
                        .map(|i| self.collect(i))
                        .buffered(self.jobs.max(1))
                        .collect()
                        .await;
                self.exposition(&runs, format)
            }
            "/probe" => {
                if !self.fleet {
                    return text(
                        StatusCode::NOT_FOUND,
                        "/probe needs an inventory: start serve with --targets FILE (this one serves one server at /metrics)\n",
                    );
                }
                let Some(name) = query_param(req.uri().query().unwrap_or(""), "target") else {
                    return text(
                        StatusCode::BAD_REQUEST,
                        "missing ?target=NAME (an inventory target's name)\n",
                    );
                };
                match self.targets.iter().position(|t| t.spec.name == name) {
                    Some(i) => {
                        let run = self.collect(i).await;
                        self.exposition(std::slice::from_ref(&run), format)
                    }
                    None => text(
                        StatusCode::NOT_FOUND,
                        "unknown target: not an enabled target of the inventory\n",
                    ),
                }
            }
            "/" => text(
                StatusCode::OK,
                "pgcache-tune serve: /metrics (every target), /probe?target=NAME (one inventory target), /healthz\n",
            ),
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: try /metrics, /probe?target=NAME or /healthz\n",
            ),
        }
    }

    /// Target `i`'s collection: the cached one when younger than the TTL, else a new one.
    /// The slot stays locked while collecting, so concurrent callers share one collection.
    async fn collect(&self, i: usize) -> TargetRun<Report> {
        let mut slot = self.slots[i].lock().await;
        if let Some(c) = slot.as_ref()
            && c.at.elapsed() < self.ttl
        {
            return c.run.clone();
        }
        let target = &self.targets[i];
        let host = &self.host;
        let mut runs = fleet::run(
            std::slice::from_ref(target),
            1,
            Duration::ZERO,
            |_, params| async move {
                let host = super::inputs::host_context(host, Some(&params))?;
                super::report::live_report(
                    &params,
                    &host,
                    &DiagOptions::default(),
                    false,
                    false,
                    false,
                )
                .await
            },
        )
        .await;
        let run = runs.pop().unwrap_or_else(|| TargetRun {
            name: target.spec.name.clone(),
            labels: target.spec.labels.clone(),
            elapsed: Duration::ZERO,
            result: Err("not collected".to_owned()),
        });
        if let Err(reason) = &run.result {
            eprintln!(
                "warning: target {}: {}",
                one_line(&run.name),
                one_line(reason)
            );
        }
        *slot = Some(Cached {
            at: Instant::now(),
            run: run.clone(),
        });
        run
    }

    fn exposition(
        &self,
        runs: &[TargetRun<Report>],
        format: metrics::MetricsFormat,
    ) -> Response<Full<Bytes>> {
        let body = super::metrics::report_runs(runs, self.fleet, format);
        let mut r = Response::new(Full::new(Bytes::from(body)));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        r
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The first value of `key` in a query string, percent-decoded (`+` is a space); `None`
/// when absent, empty or not UTF-8.
fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        if k != key {
            return None;
        }
        let bytes = v.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).ok().filter(|s| !s.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_param_decodes_and_finds_the_key() {
        assert_eq!(query_param("target=db1", "target").as_deref(), Some("db1"));
        assert_eq!(
            query_param("a=1&target=orders%2Dprimary&b=2", "target").as_deref(),
            Some("orders-primary")
        );
        assert_eq!(query_param("target=a+b", "target").as_deref(), Some("a b"));
        assert_eq!(query_param("target=", "target"), None);
        assert_eq!(query_param("targets=x", "target"), None);
        assert_eq!(query_param("target=%zz", "target"), None);
        assert_eq!(query_param("target=%4", "target").as_deref(), Some("%4"));
    }
}
