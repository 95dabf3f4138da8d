//! `watch`: the shell around `gate::rates`. It samples the server every `--interval`
//! (`collect::watch`), hands each pair of samples to the pure rate code, and draws
//! `render::watch`'s screen with ratatui on the real terminal. The terminal is restored on
//! every way out (q, Esc, Ctrl-C read as a key in raw mode, an error, a panic through
//! ratatui's hook), and an error is printed by `main` only after that, so it lands on the
//! normal screen. `--once`, `--format json` or a stdout that is not a terminal print one
//! interval as text instead.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use super::Outcome;
use super::live;
use super::terminal::countdown;
use crate::cli::{WatchArgs, WatchFormat};
use crate::conninfo::{self, ConnParams, Host};
use crate::exit;
use crate::facts::StatsSnapshot;
use crate::gate::rates::{self, History, Row, SortKey};
use crate::gate::window::Scope;
use crate::render::watch::{self as screen, View};

/// Findings lines remembered (the screen shows the last few).
const FINDINGS_KEPT: usize = 50;

pub(super) fn watch(args: &WatchArgs) -> anyhow::Result<Outcome> {
    if args.window < args.interval {
        return Err(exit::usage(format!(
            "--window {} is shorter than --interval {}; the window holds whole intervals (use \
             at least the interval)",
            screen::seconds_text(args.window.as_secs_f64()),
            screen::seconds_text(args.interval.as_secs_f64())
        )));
    }
    let intervals = args.window.as_secs_f64() / args.interval.as_secs_f64();
    if intervals > rates::MAX_WINDOW_INTERVALS {
        return Err(exit::usage(format!(
            "--window {} holds {intervals:.0} intervals of {}; at most {} (use a longer \
             --interval or a shorter --window)",
            screen::seconds_text(args.window.as_secs_f64()),
            screen::seconds_text(args.interval.as_secs_f64()),
            rates::MAX_WINDOW_INTERVALS
        )));
    }
    let params = live::resolve(&args.conn)?;
    let rt = live::runtime()?;
    let client = rt.block_on(conninfo::connect(&params))?;
    let once = args.once || args.format == WatchFormat::Json || !std::io::stdout().is_terminal();
    if once {
        return rt.block_on(one_interval(&client, &params, args));
    }
    interactive(&rt, client, &params, args)
}

/// `user@host:port/db`: who is watched, for the footer (never a password).
fn server_label(params: &ConnParams, snap: &StatsSnapshot) -> String {
    let host = match &params.host {
        Host::Socket(dir) => dir.to_string_lossy().into_owned(),
        Host::Tcp(name) => name.clone(),
    };
    format!(
        "{}@{}:{}/{} PostgreSQL {}",
        params.user,
        host,
        params.port,
        snap.server.database,
        // `15.18 (Debian 15.18-1.pgdg12+1)`: the number is what fits in a footer.
        snap.server.version.split_whitespace().next().unwrap_or("")
    )
}

/// Rows of the newest interval, sorted, split into databases and tables.
fn split(history: &History, sort: SortKey) -> (Vec<Row>, Vec<Row>) {
    let mut all = rates::rows(history);
    rates::sort(&mut all, sort);
    all.into_iter().partition(|r| r.scope == Scope::Database)
}

/// Two samples `--interval` apart in one read-only transaction (as `check --interval`), so
/// this run's own reads stay out of the interval; printed once.
async fn one_interval(
    client: &tokio_postgres::Client,
    params: &ConnParams,
    args: &WatchArgs,
) -> anyhow::Result<Outcome> {
    let (first, second) = crate::collect::collect_counters_around(
        client,
        true,
        false,
        args.interval,
        countdown(args.interval, "watch: second sample in"),
    )
    .await?;
    let server = server_label(params, &second);
    let mut history = History::new(args.window.as_secs_f64());
    let step = rates::step(&first, &second);
    let unusable = step.as_ref().err().cloned();
    let findings: Vec<String> = match step {
        Ok(s) => {
            history.push(s);
            Vec::new()
        }
        Err(u) => vec![screen::break_line(second.server.now_epoch, &u)],
    };
    let (databases, mut tables) = split(&history, SortKey::Reads);
    if args.limit > 0 {
        tables.truncate(args.limit);
    }
    let seconds = (second.server.now_epoch - first.server.now_epoch).max(0.0);
    let text = match args.format {
        WatchFormat::Json => screen::json(&screen::Json {
            start_epoch: first.server.now_epoch,
            end_epoch: second.server.now_epoch,
            seconds,
            database: &second.server.database,
            databases: &databases,
            tables: &tables,
            unusable: unusable.as_ref(),
        }),
        WatchFormat::Text => screen::text(&View {
            databases: &databases,
            tables: &tables,
            database: &second.server.database,
            interval_seconds: seconds,
            window_seconds: seconds,
            covered_seconds: seconds,
            sort: SortKey::Reads,
            paused: false,
            server: &server,
            findings: &findings,
            note: unusable
                .as_ref()
                .map(|_| "no rates: the interval was not measured"),
        }),
    };
    Ok(Outcome::ok(text))
}

/// How long a lost connection is retried before the watch gives up: long enough for a
/// restart (`pg_ctl restart`) to come back.
const RECONNECT_FOR: Duration = Duration::from_secs(5);
/// Pause between reconnection attempts.
const RECONNECT_EVERY: Duration = Duration::from_millis(250);

/// A new connection and its first sample, tried for [`RECONNECT_FOR`]; `None` when the
/// server stays unreachable.
async fn reconnect(
    params: &ConnParams,
    interval: Duration,
) -> Option<(tokio_postgres::Client, StatsSnapshot)> {
    let deadline = Instant::now() + RECONNECT_FOR;
    loop {
        let attempt = async {
            let client = conninfo::connect(params).await?;
            let snap = crate::collect::watch::sample(&client, true, interval).await?;
            anyhow::Ok((client, snap))
        };
        match attempt.await {
            Ok(pair) => return Some(pair),
            Err(_) if Instant::now() + RECONNECT_EVERY < deadline => {
                tokio::time::sleep(RECONNECT_EVERY).await;
            }
            Err(_) => return None,
        }
    }
}

/// Leaves raw mode and the alternate screen (and shows the cursor) however the watch ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
        let _ = ratatui::crossterm::execute!(std::io::stdout(), ratatui::crossterm::cursor::Show);
    }
}

/// What the screen shows: frozen while paused.
struct Shown {
    databases: Vec<Row>,
    tables: Vec<Row>,
    covered_seconds: f64,
    note: Option<String>,
}

/// What a key asks for.
enum Key {
    Quit,
    Sort,
    Pause,
    Other,
}

fn key(e: &event::KeyEvent) -> Key {
    if e.kind != KeyEventKind::Press {
        return Key::Other;
    }
    match e.code {
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => Key::Quit,
        KeyCode::Char('c') if e.modifiers.contains(KeyModifiers::CONTROL) => Key::Quit,
        KeyCode::Char('s' | 'S') => Key::Sort,
        KeyCode::Char('p' | 'P' | ' ') => Key::Pause,
        _ => Key::Other,
    }
}

fn interactive(
    rt: &tokio::runtime::Runtime,
    mut client: tokio_postgres::Client,
    params: &ConnParams,
    args: &WatchArgs,
) -> anyhow::Result<Outcome> {
    let mut previous = rt.block_on(crate::collect::watch::sample(&client, true, args.interval))?;
    let server = server_label(params, &previous);
    let database = previous.server.database.clone();
    let mut history = History::new(args.window.as_secs_f64());
    let mut findings: Vec<String> = Vec::new();
    let mut sort = SortKey::default();
    let mut paused = false;
    let mut last_rows: Vec<Row> = Vec::new();
    let mut shown = Shown {
        databases: Vec::new(),
        tables: Vec::new(),
        covered_seconds: 0.0,
        note: Some(format!(
            "first interval: rates in {}",
            screen::seconds_text(args.interval.as_secs_f64())
        )),
    };

    let _restore = Restore;
    let mut terminal = ratatui::try_init().map_err(|e| {
        exit::io(format!(
            "cannot set up the terminal: {}",
            exit::io_reason(&e)
        ))
    })?;
    let mut next = Instant::now() + args.interval;
    loop {
        let draw = |terminal: &mut ratatui::DefaultTerminal,
                    shown: &Shown,
                    findings: &[String],
                    sort,
                    paused| {
            terminal
                .draw(|f| {
                    screen::draw(
                        f,
                        &View {
                            databases: &shown.databases,
                            tables: &shown.tables,
                            database: &database,
                            interval_seconds: args.interval.as_secs_f64(),
                            window_seconds: args.window.as_secs_f64(),
                            covered_seconds: shown.covered_seconds,
                            sort,
                            paused,
                            server: &server,
                            findings,
                            note: shown.note.as_deref(),
                        },
                    );
                })
                .map(|_| ())
        };
        draw(&mut terminal, &shown, &findings, sort, paused)?;
        // Keys until the next sample is due.
        let mut redraw = false;
        while let Some(wait) = next.checked_duration_since(Instant::now()) {
            if !event::poll(wait)? {
                break;
            }
            match event::read()? {
                Event::Key(k) => match key(&k) {
                    Key::Quit => return Ok(Outcome::ok(String::new())),
                    Key::Sort => {
                        sort = sort.next();
                        rates::sort(&mut shown.databases, sort);
                        rates::sort(&mut shown.tables, sort);
                        redraw = true;
                    }
                    Key::Pause => {
                        paused = !paused;
                        redraw = true;
                    }
                    Key::Other => {}
                },
                Event::Resize(..) => redraw = true,
                _ => {}
            }
            if redraw {
                draw(&mut terminal, &shown, &findings, sort, paused)?;
                redraw = false;
            }
        }
        // A late wake-up (a slow sample) does not make the next interval short.
        next = (next + args.interval).max(Instant::now() + args.interval / 2);
        let snap = match rt.block_on(crate::collect::watch::sample(&client, false, args.interval)) {
            Ok(snap) => snap,
            Err(lost) => {
                shown.note = Some("connection lost: reconnecting".to_string());
                draw(&mut terminal, &shown, &findings, sort, paused)?;
                // A restart drops the connection too: a new one tells a restart (shown,
                // the window starts again) from a server that is gone (the error, 69).
                let (again, snap) = rt.block_on(reconnect(params, args.interval)).ok_or(lost)?;
                client = again;
                snap
            }
        };
        let at = snap.server.now_epoch;
        let note = match rates::step(&previous, &snap) {
            Ok(step) => {
                history.push(step);
                let (databases, tables) = split(&history, sort);
                let rows: Vec<Row> = databases.iter().chain(&tables).cloned().collect();
                for c in rates::changes(&last_rows, &rows) {
                    findings.push(screen::change_line(at, &c));
                }
                last_rows = rows;
                if !paused {
                    shown.databases = databases;
                    shown.tables = tables;
                }
                None
            }
            Err(u) => {
                // The old counters say nothing about the new ones: start the window again.
                history.clear();
                last_rows.clear();
                findings.push(screen::break_line(at, &u));
                Some(format!(
                    "RESET: statistics were reset or the server restarted; rates again in {}",
                    screen::seconds_text(args.interval.as_secs_f64())
                ))
            }
        };
        if findings.len() > FINDINGS_KEPT {
            findings.drain(..findings.len() - FINDINGS_KEPT);
        }
        if !paused {
            shown.note = note;
            shown.covered_seconds = history.covered_seconds();
        }
        previous = snap;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::{KeyEvent, KeyEventState};

    fn press(code: KeyCode, modifiers: KeyModifiers, kind: KeyEventKind) -> Key {
        key(&KeyEvent {
            code,
            modifiers,
            kind,
            state: KeyEventState::NONE,
        })
    }

    #[test]
    fn keys_quit_sort_and_pause() {
        let p = |c| press(c, KeyModifiers::NONE, KeyEventKind::Press);
        assert!(matches!(p(KeyCode::Char('q')), Key::Quit));
        assert!(matches!(p(KeyCode::Esc), Key::Quit));
        // Raw mode turns Ctrl-C into a key, not a signal.
        assert!(matches!(
            press(
                KeyCode::Char('c'),
                KeyModifiers::CONTROL,
                KeyEventKind::Press
            ),
            Key::Quit
        ));
        assert!(matches!(p(KeyCode::Char('c')), Key::Other));
        assert!(matches!(p(KeyCode::Char('s')), Key::Sort));
        assert!(matches!(p(KeyCode::Char('p')), Key::Pause));
        // Terminals that report releases would otherwise toggle pause twice.
        assert!(matches!(
            press(
                KeyCode::Char('p'),
                KeyModifiers::NONE,
                KeyEventKind::Release
            ),
            Key::Other
        ));
    }
}
