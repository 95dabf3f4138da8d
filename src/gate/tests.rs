//! Unit tests of the gate: thresholds, floors, precedence, windows and their refusals.

use super::*;
use crate::diag::testdata;
use crate::facts::StatsSnapshot;

fn counter(scope: Scope, name: &str, hits: i64, reads: i64) -> Counter {
    Counter {
        scope,
        database: "app".to_string(),
        schema: (scope != Scope::Database).then(|| "public".to_string()),
        name: name.to_string(),
        hits,
        reads,
        oid: None,
        database_oid: None,
        recreated: false,
    }
}

fn window() -> Window {
    Window {
        kind: WindowKind::Interval,
        start_epoch: 1000.0,
        end_epoch: 1030.0,
    }
}

fn opts(warning: Option<f64>, critical: Option<f64>) -> GateOptions {
    GateOptions {
        thresholds: Thresholds { warning, critical },
        min_blocks: DEFAULT_MIN_BLOCKS,
        on_insufficient: OnInsufficient::Ok,
        include: Vec::new(),
        exclude: Vec::new(),
        overrides: Vec::new(),
    }
}

#[test]
fn thresholds_decide_the_state() {
    let v = judge(
        vec![
            counter(Scope::Database, "a", 9_950, 50),    // 99.5%
            counter(Scope::Database, "b", 9_700, 300),   // 97%
            counter(Scope::Database, "c", 8_000, 2_000), // 80%
        ],
        window(),
        &opts(Some(99.0), Some(90.0)),
    );
    assert_eq!(v.status, Status::Critical);
    let states: Vec<(&str, Status)> = v
        .items
        .iter()
        .map(|i| (i.counter.name.as_str(), i.status))
        .collect();
    assert_eq!(
        states,
        [
            ("c", Status::Critical),
            ("b", Status::Warning),
            ("a", Status::Ok)
        ]
    );
    let v = judge(
        vec![counter(Scope::Database, "b", 9_700, 300)],
        window(),
        &opts(Some(99.0), Some(90.0)),
    );
    assert_eq!(v.status, Status::Warning);
    let v = judge(
        vec![counter(Scope::Database, "a", 9_950, 50)],
        window(),
        &opts(Some(99.0), Some(90.0)),
    );
    assert_eq!(v.status, Status::Ok);
    // Exactly at the threshold is not below it.
    let v = judge(
        vec![counter(Scope::Database, "a", 9_900, 100)],
        window(),
        &opts(None, Some(99.0)),
    );
    assert_eq!(v.status, Status::Ok);
}

#[test]
fn floor_and_insufficient_data() {
    let items = vec![
        counter(Scope::Tables, "hot", 100_000, 10),
        counter(Scope::Tables, "cold", 5, 5), // 50% but only 10 blocks
    ];
    let v = judge(items.clone(), window(), &opts(None, Some(99.0)));
    assert_eq!(v.status, Status::Ok);
    assert!(
        v.items
            .iter()
            .any(|i| i.counter.name == "cold" && i.insufficient)
    );
    let mut o = opts(None, Some(99.0));
    o.on_insufficient = OnInsufficient::Unknown;
    assert_eq!(judge(items.clone(), window(), &o).status, Status::Unknown);
    o.on_insufficient = OnInsufficient::Critical;
    assert_eq!(judge(items, window(), &o).status, Status::Critical);
    // Every item under the floor: UNKNOWN whatever on_insufficient says.
    let v = judge(
        vec![counter(Scope::Database, "idle", 0, 0)],
        window(),
        &opts(None, Some(99.0)),
    );
    assert_eq!(v.status, Status::Unknown);
    assert_eq!(
        v.reason,
        Some(Reason::Insufficient {
            min_blocks: DEFAULT_MIN_BLOCKS,
            most: 0
        })
    );
    let v = judge(Vec::new(), window(), &opts(None, Some(99.0)));
    assert_eq!(v.status, Status::Unknown);
}

#[test]
fn overrides_and_patterns() {
    let mut o = opts(None, Some(99.0));
    o.overrides.push(Override {
        pattern: Pattern::parse("public.archive").unwrap(),
        thresholds: Thresholds {
            warning: None,
            critical: Some(50.0),
        },
        min_blocks: None,
    });
    let items = vec![
        counter(Scope::Tables, "archive", 6_000, 4_000),
        counter(Scope::Tables, "orders", 99_990, 10),
    ];
    assert_eq!(judge(items.clone(), window(), &o).status, Status::Ok);
    o.overrides.clear();
    assert_eq!(judge(items.clone(), window(), &o).status, Status::Critical);
    o.exclude.push(Pattern::parse("archive").unwrap());
    assert_eq!(judge(items.clone(), window(), &o).status, Status::Ok);
    o.exclude.clear();
    o.include.push(Pattern::parse("~^public\\.ord").unwrap());
    let v = judge(items, window(), &o);
    assert_eq!(v.items.len(), 1);
    assert_eq!(v.status, Status::Ok);
    // Databases match by their own name, for plain names and regexes alike.
    o.include = vec![Pattern::parse("~^app").unwrap()];
    let dbs = vec![
        counter(Scope::Database, "app_prod", 9_000, 1_000),
        counter(Scope::Database, "other", 10, 10_000),
    ];
    let v = judge(dbs.clone(), window(), &o);
    assert_eq!((v.items.len(), v.status), (1, Status::Critical));
    o.include = vec![Pattern::parse("other").unwrap()];
    assert_eq!(judge(dbs, window(), &o).items[0].counter.name, "other");
}

#[test]
fn percentages() {
    assert_eq!(parse_percent("99"), Ok(99.0));
    assert_eq!(parse_percent("99.5%"), Ok(99.5));
    for bad in ["101", "-1", "abc", "", "nan", "inf"] {
        assert!(parse_percent(bad).is_err(), "{bad}");
    }
}

#[test]
fn fractions_are_refused_with_the_percentage_they_meant() {
    assert_eq!(parse_percent("0"), Ok(0.0));
    assert_eq!(parse_percent("1"), Ok(1.0));
    for (typed, meant) in [
        ("0.99", "99"),
        ("0.995", "99.5"),
        ("0.5%", "50"),
        (".9", "90"),
    ] {
        let err = parse_percent(typed).unwrap_err();
        assert!(err.contains(&format!("write {meant} ")), "{typed}: {err}");
        assert!(err.contains("fraction"), "{err}");
    }
}

/// The diag test snapshot reduced to one database and one table with the given counters.
fn snapshot(
    sysid: &str,
    start: f64,
    now: f64,
    reset: Option<f64>,
    hit: i64,
    read: i64,
) -> StatsSnapshot {
    let mut snap = testdata::snapshot();
    snap.server.system_identifier = Some(sysid.to_string());
    snap.server.start_epoch = start;
    snap.server.now_epoch = now;
    snap.server.database = "app".to_string();
    let mut db = testdata::database("app", hit, read, 0.0, None);
    db.stats_reset_epoch = reset;
    snap.databases = vec![db];
    snap.tables = vec![testdata::table("app", 1, "public", "t", hit / 2, read / 2)];
    snap.indexes = Vec::new();
    snap
}

#[test]
fn window_difference_is_after_minus_before() {
    let before = snapshot("1", 100.0, 1_000.0, Some(50.0), 10_000, 100);
    let after = snapshot("1", 100.0, 1_060.0, Some(50.0), 15_000, 1_100);
    assert_eq!(window::same_server(&before, &after), Ok(()));
    assert_eq!(window::no_reset(&before, &after), Ok(()));
    let scopes = [Scope::Database, Scope::Tables];
    let diff = window::difference(
        &window::counters(&before, &scopes, false),
        &window::counters(&after, &scopes, false),
    )
    .unwrap();
    assert_eq!((diff[0].hits, diff[0].reads), (5_000, 1_000));
    assert_eq!((diff[1].hits, diff[1].reads), (2_500, 500));
    let lifetime = window::lifetime_window(&after, &["app"]);
    assert_eq!((lifetime.start_epoch, lifetime.end_epoch), (100.0, 1_060.0));
    let reset_later = snapshot("1", 100.0, 1_060.0, Some(500.0), 1, 1);
    assert_eq!(
        window::lifetime_window(&reset_later, &["app"]).start_epoch,
        500.0
    );
}

#[test]
fn window_refusals() {
    let before = snapshot("1", 100.0, 1_000.0, Some(50.0), 10_000, 100);
    let other_server = snapshot("2", 100.0, 1_060.0, Some(50.0), 15_000, 1_100);
    assert_eq!(
        window::same_server(&before, &other_server),
        Err(Unusable::OtherServer {
            before: "1".into(),
            after: "2".into()
        })
    );
    let restarted = snapshot("1", 1_010.0, 1_060.0, Some(50.0), 15_000, 1_100);
    assert_eq!(
        window::same_server(&before, &restarted),
        Err(Unusable::Restart)
    );
    let reset = snapshot("1", 100.0, 1_060.0, Some(1_030.0), 15, 11);
    assert_eq!(
        window::no_reset(&before, &reset),
        Err(Unusable::Reset {
            database: "app".into()
        })
    );
    let backwards = snapshot("1", 100.0, 1_060.0, Some(50.0), 5_000, 1_100);
    let scopes = [Scope::Database];
    let err = window::difference(
        &window::counters(&before, &scopes, false),
        &window::counters(&backwards, &scopes, false),
    )
    .unwrap_err();
    assert_eq!(
        err,
        Unusable::Backwards {
            scope: Scope::Database,
            label: "app".into()
        }
    );
}

#[test]
fn backwards_counters_name_the_item() {
    let before = counter(Scope::Indexes, "orders_pkey", 500, 5);
    let after = counter(Scope::Indexes, "orders_pkey", 400, 5);
    let err = window::difference(&[before], &[after]).unwrap_err();
    assert_eq!(
        err,
        Unusable::Backwards {
            scope: Scope::Indexes,
            label: "app.public.orders_pkey".into()
        }
    );
}

fn with_oid(mut c: Counter, db: u32, oid: u32) -> Counter {
    c.database_oid = Some(db);
    c.oid = Some(oid);
    c
}

#[test]
fn items_are_matched_by_oid_not_by_name() {
    // Dropped and recreated under the same name, with less traffic than the old one had:
    // a new object, counted from zero and said so, not a "reset".
    let before = with_oid(counter(Scope::Tables, "t", 50_000, 500), 5, 100);
    let after = with_oid(counter(Scope::Tables, "t", 2_000, 20), 5, 200);
    let diff = window::difference(std::slice::from_ref(&before), &[after]).unwrap();
    assert_eq!(
        (diff[0].hits, diff[0].reads, diff[0].recreated),
        (2_000, 20, true)
    );
    // Recreated with more traffic than the old one: still its own counters, not a
    // difference of unrelated objects.
    let after = with_oid(counter(Scope::Tables, "t", 90_000, 900), 5, 200);
    let diff = window::difference(std::slice::from_ref(&before), &[after]).unwrap();
    assert_eq!(
        (diff[0].hits, diff[0].reads, diff[0].recreated),
        (90_000, 900, true)
    );
    // Renamed: the same object, its window is the difference, under its new name.
    let after = with_oid(counter(Scope::Tables, "t_renamed", 60_000, 600), 5, 100);
    let diff = window::difference(std::slice::from_ref(&before), &[after]).unwrap();
    assert_eq!(
        (
            diff[0].name.as_str(),
            diff[0].hits,
            diff[0].reads,
            diff[0].recreated
        ),
        ("t_renamed", 10_000, 100, false)
    );
    // The same table OID in a recreated database is another table.
    let after = with_oid(counter(Scope::Tables, "t", 60_000, 600), 6, 100);
    let diff = window::difference(std::slice::from_ref(&before), &[after]).unwrap();
    assert_eq!((diff[0].hits, diff[0].recreated), (60_000, true));
    // Snapshots without OIDs fall back to names.
    let diff = window::difference(
        &[counter(Scope::Tables, "t", 50_000, 500)],
        &[with_oid(counter(Scope::Tables, "t", 60_000, 600), 5, 100)],
    )
    .unwrap();
    assert_eq!((diff[0].hits, diff[0].recreated), (10_000, false));
}

#[test]
fn a_recreated_database_is_new_not_a_passed_reset_check() {
    let mut before = snapshot("1", 100.0, 1_000.0, None, 10_000, 100);
    before.databases[0].datid = Some(16_384);
    let mut after = snapshot("1", 100.0, 1_060.0, None, 20_000, 5_100);
    after.databases[0].datid = Some(16_999);
    assert_eq!(window::no_reset(&before, &after), Ok(()));
    let scopes = [Scope::Database];
    let diff = window::difference(
        &window::counters(&before, &scopes, false),
        &window::counters(&after, &scopes, false),
    )
    .unwrap();
    assert_eq!(
        (diff[0].hits, diff[0].reads, diff[0].recreated),
        (20_000, 5_100, true)
    );
    // The same database with a reset stamp that changed is a reset, found by OID even
    // after a rename.
    let mut renamed = snapshot("1", 100.0, 1_060.0, Some(1_030.0), 20_000, 5_100);
    renamed.databases[0].datid = Some(16_384);
    renamed.databases[0].name = "app2".into();
    assert_eq!(
        window::no_reset(&before, &renamed),
        Err(Unusable::Reset {
            database: "app2".into()
        })
    );
}

#[test]
fn crafted_counters_do_not_overflow() {
    let before = counter(Scope::Tables, "t", i64::MIN, 0);
    let after = counter(Scope::Tables, "t", i64::MAX, 0);
    assert_eq!(
        window::difference(&[before], &[after]),
        Err(Unusable::Overflow {
            label: "app.public.t".into()
        })
    );
}

#[test]
fn patterns_that_match_nothing_are_reported() {
    let mut o = opts(None, Some(90.0));
    o.exclude = vec![Pattern::parse("~^audit_").unwrap()];
    o.include = vec![Pattern::parse("~audit").unwrap()];
    let v = judge(
        vec![counter(Scope::Tables, "audit_log", 10_000, 1)],
        window(),
        &o,
    );
    assert_eq!(
        v.unmatched,
        vec![Unmatched {
            source: PatternSource::Exclude,
            pattern: "~^audit_".into()
        }]
    );
    o.exclude = vec![Pattern::parse("~^public\\.audit_").unwrap()];
    let v = judge(
        vec![counter(Scope::Tables, "audit_log", 10_000, 1)],
        window(),
        &o,
    );
    assert!(v.unmatched.is_empty(), "{:?}", v.unmatched);
}
