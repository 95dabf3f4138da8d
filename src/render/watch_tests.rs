//! The watch screen at 80×24 (ratatui's TestBackend) and its text and JSON forms.

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::*;
use crate::gate::rates::tests::sample;
use crate::gate::rates::{self, History};

fn screen(v: &View<'_>) -> Vec<String> {
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    term.draw(|f| draw(f, v)).unwrap();
    let buf = term.backend().buffer().clone();
    (0..24)
        .map(|y| {
            (0..80)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect()
}

fn history() -> History {
    let mut h = History::new(60.0);
    let tables: Vec<(u32, String)> = (0..15).map(|i| (100 + i, format!("t{i:02}"))).collect();
    let a: Vec<(u32, &str, i64, i64)> =
        tables.iter().map(|(o, n)| (*o, n.as_str(), 0, 0)).collect();
    let b: Vec<(u32, &str, i64, i64)> = tables
        .iter()
        .map(|(o, n)| (*o, n.as_str(), 1_000, i64::from(*o - 100) * 10))
        .collect();
    h.push(
        rates::step(
            &sample(100.0, (0, 0), &a),
            &sample(102.0, (20_000, 300), &b),
        )
        .unwrap(),
    );
    h
}

fn split(h: &History) -> (Vec<Row>, Vec<Row>) {
    let mut all = rates::rows(h);
    rates::sort(&mut all, SortKey::Reads);
    all.into_iter().partition(|r| r.scope == Scope::Database)
}

fn view<'a>(dbs: &'a [Row], tables: &'a [Row], findings: &'a [String]) -> View<'a> {
    View {
        databases: dbs,
        tables,
        database: "app",
        interval_seconds: 2.0,
        window_seconds: 60.0,
        covered_seconds: 2.0,
        sort: SortKey::Reads,
        paused: false,
        server: "alice@db1:5432/app",
        findings,
        note: None,
    }
}

#[test]
fn the_screen_fits_80x24_with_rates_keys_and_server() {
    let h = history();
    let (dbs, tables) = split(&h);
    let findings = vec!["12:00:00 RESET statistics reset in database app".to_string()];
    let lines = screen(&view(&dbs, &tables, &findings));
    let text = lines.join("\n");
    assert!(
        lines[0].contains("every 2s") && lines[23].contains("window 1m (2s seen)"),
        "{text}"
    );
    // app: 300 reads and 20000 hits over 2 s.
    let app = lines.iter().find(|l| l.starts_with("app ")).expect(&text);
    assert!(
        app.contains(" 150 ") && app.contains("10.0k") && app.contains("98.52%"),
        "{app}"
    );
    // The worst reader first (t14: 140 reads in 2 s), and as many tables as fit.
    let first_table = lines
        .iter()
        .position(|l| l.contains("public.t14"))
        .expect(&text);
    assert!(
        lines[first_table].contains("70.0"),
        "{}",
        lines[first_table]
    );
    assert!(lines[first_table - 1].starts_with("table (app)"), "{text}");
    assert!(text.contains("public.t05"), "{text}");
    assert!(
        text.contains("RESET statistics reset in database app"),
        "{text}"
    );
    let last = &lines[23];
    assert!(
        last.contains("alice@db1:5432/app")
            && last.contains("q quit")
            && last.contains("s sort")
            && last.contains("p pause"),
        "{last}"
    );
}

#[test]
fn paused_and_note_are_shown() {
    let h = history();
    let (dbs, tables) = split(&h);
    let mut v = view(&dbs, &tables, &[]);
    v.paused = true;
    v.note = Some("first interval: sampling again in 2s");
    let text = screen(&v).join("\n");
    assert!(
        text.contains("PAUSED") && text.contains("p resume"),
        "{text}"
    );
    assert!(
        text.contains("first interval") && !text.contains("public.t14"),
        "{text}"
    );
    assert!(text.contains("no change yet"), "{text}");
}

#[test]
fn names_are_sanitised_on_screen_and_in_text() {
    let a = sample(100.0, (0, 0), &[(1, "evil\x1b[2Jname", 0, 0)]);
    let b = sample(101.0, (0, 0), &[(1, "evil\x1b[2Jname", 5, 5)]);
    let mut h = History::new(60.0);
    h.push(rates::step(&a, &b).unwrap());
    let (dbs, tables) = split(&h);
    let v = view(&dbs, &tables, &[]);
    assert!(!screen(&v).join("").contains('\x1b'));
    let t = text(&v);
    assert!(!t.contains('\x1b') && t.contains("evil"), "{t}");
}

#[test]
fn sparkline_scales_to_the_maximum() {
    assert_eq!(spark(&[0.0, 1.0, 2.0, 4.0], 16), "▁▃▅█");
    assert_eq!(spark(&[0.0, 0.0], 16), "▁▁");
    assert_eq!(spark(&[1.0, 2.0, 3.0], 2), "▆█");
}

#[test]
fn numbers_are_short() {
    assert_eq!(rate_text(0.0), "0");
    assert_eq!(rate_text(3.25), "3.2");
    assert_eq!(rate_text(812.4), "812");
    assert_eq!(rate_text(12_400.0), "12.4k");
    assert_eq!(ratio_text(None), "-");
    assert_eq!(ratio_text(Some(0.98765)), "98.77%");
    assert_eq!(seconds_text(2.0), "2s");
    assert_eq!(seconds_text(0.5), "500ms");
    assert_eq!(seconds_text(90.0), "1m30s");
    assert_eq!(seconds_text(3_600.0), "1h");
    assert_eq!(seconds_text(5_430.0), "1h30m30s");
    assert_eq!(clock(3_661.5), "01:01:01");
}

#[test]
fn text_and_json_carry_the_blocks() {
    let h = history();
    let (dbs, tables) = split(&h);
    let v = view(&dbs, &tables, &[]);
    let t = text(&v);
    assert!(
        t.lines()
            .any(|l| l.starts_with("app ") && l.contains("150")),
        "{t}"
    );
    let j = json(&Json {
        start_epoch: 100.0,
        end_epoch: 102.0,
        seconds: 2.0,
        database: "app",
        databases: &dbs,
        tables: &tables,
        unusable: None,
    });
    let parsed: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(parsed["databases"][0]["read_blocks"], 300);
    assert_eq!(parsed["databases"][0]["reads_per_second"], 150.0);
    assert_eq!(parsed["tables"][0]["name"], "t14");
}

#[test]
fn change_lines_name_the_item_ratio_and_threshold() {
    let c = Change {
        scope: Scope::Tables,
        label: "public.pgbench_accounts".to_string(),
        from: Level::Ok,
        to: Level::Critical,
        window_ratio: Some(0.8751),
    };
    let line = change_line(3_600.0, &c);
    assert_eq!(
        line,
        "01:00:00 table public.pgbench_accounts: 87.51% hit ratio, critical (below 90%)"
    );
    assert!(line.chars().count() <= 80);
    let back = Change {
        from: Level::Critical,
        to: Level::Ok,
        window_ratio: Some(0.995),
        ..c
    };
    assert!(change_line(0.0, &back).ends_with("99.50% hit ratio, ok again (at least 99%)"));
    let reset = break_line(
        0.0,
        &Unusable::Reset {
            database: "app".to_string(),
        },
    );
    assert_eq!(
        reset,
        "00:00:00 RESET statistics reset in database app: window restarted"
    );
    let table = break_line(
        0.0,
        &Unusable::Backwards {
            scope: Scope::Tables,
            label: "app.public.pgbench_accounts".to_string(),
        },
    );
    assert_eq!(
        table,
        "00:00:00 RESET table app.public.pgbench_accounts reset: window restarted"
    );
}

#[test]
fn a_small_terminal_still_draws_the_keys_without_panicking() {
    let h = history();
    let (dbs, tables) = split(&h);
    let findings: Vec<String> = (0..10).map(|i| format!("finding {i}")).collect();
    for (w, rows) in [(40u16, 10u16), (80, 8), (20, 3)] {
        let mut term = Terminal::new(TestBackend::new(w, rows)).unwrap();
        term.draw(|f| draw(f, &view(&dbs, &tables, &findings)))
            .unwrap();
        let buf = term.backend().buffer().clone();
        let last: String = (0..w)
            .map(|x| buf[(x, rows - 1)].symbol().to_string())
            .collect();
        assert!(last.starts_with("q quit"), "{w}x{rows}: {last}");
    }
}
