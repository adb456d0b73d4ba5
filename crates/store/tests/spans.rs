//! Status spans for SLA accounting, written through `Store::record` (the
//! monitor's write path) and `Store::end_open_spans` (its start and stop),
//! read back with `Store::status_spans` from a file-backed store.

use std::time::Duration;

use keepup_model::{CheckId, Finding, Outcome, Severity, Status, codes};
use keepup_store::{CheckMeta, ResultRecord, StatusSpan, Store};

const S: i64 = 1_000;
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;

fn id(s: &str) -> CheckId {
    CheckId(s.to_owned())
}

/// A file-backed store (kept alive by the returned directory) with
/// `checks` registered, each allowed a 90 s gap between results.
fn store(checks: &[&str]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    let metas: Vec<CheckMeta> = checks
        .iter()
        .map(|c| CheckMeta {
            max_gap: Some(Duration::from_secs(90)),
            kind: "http".into(),
            ..CheckMeta::unregistered(&id(c))
        })
        .collect();
    store.register_checks(&metas).unwrap();
    (dir, store)
}

/// Records one result per `(seconds after T0, status)`, one batch each,
/// as the recorder does every 200 ms.
fn run(store: &Store, check: &str, results: &[(i64, Status)]) {
    record(store, check, results, false);
}

/// As [`run`], as history: an agent's backlog delivered late.
fn backlog(store: &Store, check: &str, results: &[(i64, Status)]) {
    record(store, check, results, true);
}

fn record(store: &Store, check: &str, results: &[(i64, Status)], backfill: bool) {
    for &(at, status) in results {
        store
            .record(&[ResultRecord {
                check: id(check),
                at: T0 + at * S,
                outcome: Outcome::new(status, "x"),
                backfill,
            }])
            .unwrap();
    }
}

/// Every `step` seconds in `[from, to)` with `status`.
fn every(from: i64, to: i64, step: i64, status: Status) -> Vec<(i64, Status)> {
    (from..to)
        .step_by(step as usize)
        .map(|t| (t, status))
        .collect()
}

/// `(check, from s, to s, status)` relative to T0, for readable asserts.
type Brief = (usize, i64, i64, Option<Status>);

fn spans(store: &Store, checks: &[&str], from: i64, to: i64) -> Vec<Brief> {
    let ids: Vec<CheckId> = checks.iter().map(|c| id(c)).collect();
    store
        .status_spans(&ids, T0 + from * S, T0 + to * S)
        .map(|s| {
            let s: StatusSpan = s.unwrap();
            (s.check, (s.from_ms - T0) / S, (s.to_ms - T0) / S, s.status)
        })
        .collect()
}

use Status::{Degraded, Down, Up};

#[test]
fn a_status_holds_until_it_changes_and_a_result_vouches_for_the_allowed_gap() {
    let (_dir, s) = store(&["shop/web"]);
    let mut results = every(0, 180, 60, Up);
    results.extend(every(180, 300, 60, Down));
    results.extend([(300, Degraded), (360, Up)]);
    run(&s, "shop/web", &results);
    assert_eq!(
        spans(&s, &["shop/web"], 0, 500),
        [
            (0, 0, 180, Some(Up)),
            (0, 180, 300, Some(Down)),
            (0, 300, 360, Some(Degraded)),
            // The last result vouches for 90 s; after that, nothing does.
            (0, 360, 450, Some(Up)),
            (0, 450, 500, None),
        ]
    );
}

#[test]
fn a_gap_longer_than_allowed_is_unknown() {
    let (_dir, s) = store(&["shop/web"]);
    // 60 s apart, then one run 91 s late (151 s), then on time again.
    run(&s, "shop/web", &[(0, Up), (60, Up), (211, Up), (271, Up)]);
    assert_eq!(
        spans(&s, &["shop/web"], 0, 361),
        [
            (0, 0, 150, Some(Up)),
            (0, 150, 211, None),
            (0, 211, 361, Some(Up)),
        ]
    );
    // Exactly the allowed gap is still covered.
    let (_dir, s) = store(&["shop/web"]);
    run(&s, "shop/web", &[(0, Down), (90, Down)]);
    assert_eq!(spans(&s, &["shop/web"], 0, 180), [(0, 0, 180, Some(Down))]);
}

#[test]
fn a_daemon_restart_leaves_an_unknown_span_even_within_the_allowed_gap() {
    let (_dir, s) = store(&["shop/web"]);
    run(&s, "shop/web", &[(0, Up), (60, Up)]);
    // Stopped 10 s after the last result, started again 20 s later: the
    // next result (at 100 s) is within 90 s of the last one, yet nothing
    // watched the shop from 70 s to 100 s.
    s.end_open_spans(T0 + 70 * S).unwrap();
    s.end_open_spans(T0 + 90 * S).unwrap();
    run(&s, "shop/web", &[(100, Up), (160, Up)]);
    assert_eq!(
        spans(&s, &["shop/web"], 0, 250),
        [
            (0, 0, 70, Some(Up)),
            (0, 70, 100, None),
            (0, 100, 250, Some(Up)),
        ]
    );
    // After a crash (no stop), the start ends the spans at their allowed gap.
    run(&s, "shop/web", &[(220, Down)]);
    s.end_open_spans(T0 + 1_000 * S).unwrap();
    run(&s, "shop/web", &[(1_000, Down)]);
    assert_eq!(
        spans(&s, &["shop/web"], 200, 1_090),
        [
            (0, 200, 220, Some(Up)),
            (0, 220, 310, Some(Down)),
            (0, 310, 1_000, None),
            (0, 1_000, 1_090, Some(Down)),
        ]
    );
}

#[test]
fn monitor_offline_periods_are_unknown() {
    let (_dir, s) = store(&["shop/web"]);
    run(&s, "shop/web", &every(0, 120, 60, Up));
    // What the monitor records while no connectivity reference answers.
    let mut offline = Outcome::new(Status::Unknown, "unknown: keepup's own network is down");
    offline.findings.push(Finding::new(
        codes::MONITOR_OFFLINE,
        Severity::Info,
        "keepup could not reach any of its connectivity references",
    ));
    for at in [120, 180, 240] {
        s.record(&[ResultRecord {
            check: id("shop/web"),
            at: T0 + at * S,
            outcome: offline.clone(),
            backfill: false,
        }])
        .unwrap();
    }
    run(&s, "shop/web", &[(300, Down), (360, Up)]);
    assert_eq!(
        spans(&s, &["shop/web"], 0, 420),
        [
            (0, 0, 120, Some(Up)),
            (0, 120, 300, None),
            (0, 300, 360, Some(Down)),
            (0, 360, 420, Some(Up)),
        ]
    );
}

#[test]
fn spans_are_clipped_to_the_range_and_a_range_without_results_is_unknown() {
    let (_dir, s) = store(&["shop/web"]);
    let mut results = every(0, 600, 60, Up);
    results.extend(every(600, 1_200, 60, Down));
    run(&s, "shop/web", &results);
    assert_eq!(
        spans(&s, &["shop/web"], 300, 900),
        [(0, 300, 600, Some(Up)), (0, 600, 900, Some(Down))]
    );
    assert_eq!(
        spans(&s, &["shop/web"], 30, 40),
        [(0, 30, 40, Some(Up))],
        "inside one stored span"
    );
    assert_eq!(
        spans(&s, &["shop/web"], -500, 10),
        [(0, -500, 0, None), (0, 0, 10, Some(Up))]
    );
    assert_eq!(
        spans(&s, &["shop/web"], 5_000, 6_000),
        [(0, 5_000, 6_000, None)]
    );
    assert!(spans(&s, &["shop/web"], 10, 10).is_empty(), "empty range");
    assert!(spans(&s, &["shop/web"], 10, 0).is_empty(), "reversed range");
}

#[test]
fn several_checks_are_merged_in_time_order_each_covering_the_range() {
    let (_dir, s) = store(&["shop/web", "shop/api", "shop/db"]);
    run(&s, "shop/web", &[(0, Up), (60, Down), (120, Up), (180, Up)]);
    run(
        &s,
        "shop/api",
        &[(30, Up), (90, Up), (150, Degraded), (210, Up)],
    );
    // shop/db has results but is not asked for; shop/gone never existed.
    run(&s, "shop/db", &[(0, Down)]);
    let got = spans(&s, &["shop/api", "shop/web", "shop/gone"], 0, 240);
    assert_eq!(
        got,
        [
            (0, 0, 30, None),
            (1, 0, 60, Some(Up)),
            (2, 0, 240, None),
            (0, 30, 150, Some(Up)),
            (1, 60, 120, Some(Down)),
            (1, 120, 240, Some(Up)),
            (0, 150, 210, Some(Degraded)),
            (0, 210, 240, Some(Up)),
        ]
    );
}

#[test]
fn a_long_history_streams_across_pages_without_holes() {
    let (_dir, s) = store(&["shop/web"]);
    // A status change every result: 3,000 spans, several pages.
    let results: Vec<_> = (0..3_000)
        .map(|i| (i * 60, if i % 2 == 0 { Up } else { Down }))
        .collect();
    for chunk in results.chunks(500) {
        let batch: Vec<ResultRecord> = chunk
            .iter()
            .map(|&(at, status)| ResultRecord {
                check: id("shop/web"),
                at: T0 + at * S,
                outcome: Outcome::new(status, "x"),
                backfill: false,
            })
            .collect();
        s.record(&batch).unwrap();
    }
    let got = spans(&s, &["shop/web"], 0, 2_999 * 60 + 90);
    assert_eq!(got.len(), 3_000);
    for (i, span) in got.iter().enumerate() {
        let i = i as i64;
        let end = if i == 2_999 {
            i * 60 + 90
        } else {
            (i + 1) * 60
        };
        let status = if i % 2 == 0 { Up } else { Down };
        assert_eq!(*span, (0, i * 60, end, Some(status)), "span {i}");
    }
}

#[test]
fn results_of_a_check_registered_without_an_allowed_gap_vouch_for_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("keepup.db")).unwrap();
    run(&s, "shop/web", &every(0, 300, 60, Up));
    assert_eq!(spans(&s, &["shop/web"], 0, 300), [(0, 0, 300, None)]);
}

#[test]
fn a_late_result_takes_its_place_and_spans_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepup.db");
    {
        let s = Store::open(&path).unwrap();
        s.register_checks(&[CheckMeta {
            max_gap: Some(Duration::from_secs(90)),
            ..CheckMeta::unregistered(&id("shop/web"))
        }])
        .unwrap();
        run(&s, "shop/web", &[(0, Up), (60, Up), (120, Down)]);
        backlog(&s, "shop/web", &[(30, Down)]);
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(
        spans(&s, &["shop/web"], 0, 210),
        [
            (0, 0, 30, Some(Up)),
            (0, 30, 60, Some(Down)),
            (0, 60, 120, Some(Up)),
            (0, 120, 210, Some(Down))
        ]
    );
}

#[test]
fn incidents_and_maintenance_overlapping_a_range() {
    use keepup_store::NewIncident;
    let (_dir, s) = store(&["shop/web", "shop/api"]);
    let open = |check: &str, at: i64| {
        s.open_incident(&NewIncident {
            check: id(check),
            status: Down,
            opened_at: T0 + at * S,
            detected_at: T0 + (at + 60) * S,
            cause: None,
            suppressed: false,
            maintenance: false,
            message: "refused".into(),
            findings: Vec::new(),
        })
        .unwrap()
    };
    let before = open("shop/web", 0);
    s.resolve_incident(before, T0 + 100 * S).unwrap();
    let across = open("shop/web", 200);
    s.resolve_incident(across, T0 + 400 * S).unwrap();
    let other_check = open("shop/api", 250);
    let still_open = open("shop/web", 900);
    let ids = |from: i64, to: i64| -> Vec<i64> {
        s.incidents_overlapping(&[id("shop/web")], T0 + from * S, T0 + to * S)
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect()
    };
    // [from, to) is half-open: resolved at 100 s does not overlap [100, ...).
    assert_eq!(ids(100, 1_000), [across, still_open]);
    assert_eq!(ids(300, 350), [across]);
    assert_eq!(ids(5_000, 6_000), [still_open]);
    assert!(ids(400, 900).is_empty());
    assert!(!ids(0, 10_000).contains(&other_check));

    let w = s
        .start_maintenance("shop", T0 + 100 * S, T0 + 200 * S, "upgrade", "ops")
        .unwrap();
    let windows = |from: i64, to: i64| -> Vec<i64> {
        s.maintenance_overlapping(T0 + from * S, T0 + to * S)
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect()
    };
    assert_eq!(windows(150, 160), [w]);
    assert_eq!(windows(0, 101), [w]);
    assert!(windows(200, 300).is_empty() && windows(0, 100).is_empty());
}

#[test]
fn compaction_keeps_spans_as_long_as_day_rollups() {
    let (_dir, s) = store(&["shop/web"]);
    run(&s, "shop/web", &[(0, Up), (60, Down), (120, Up)]);
    s.end_open_spans(T0 + 150 * S).unwrap();
    let retention = keepup_store::Retention::default();
    let kept = retention.day.as_millis() as i64;
    // The first span ended at 60 s: deleted once that is older than the
    // retention; the others stay.
    let report = s.compact(T0 + 60 * S + kept, &retention).unwrap();
    assert_eq!(report.spans_deleted, 1);
    let got = spans(&s, &["shop/web"], 0, 150);
    assert_eq!(
        got,
        [
            (0, 0, 60, None),
            (0, 60, 120, Some(Down)),
            (0, 120, 150, Some(Up))
        ]
    );
}

/// A reader's stored spans and its open span are one snapshot: when the
/// recorder closes the open span between the reader's first span and its
/// last, the open span is still read as it was, not lost as unknown time.
#[test]
fn a_span_closed_while_a_reader_is_between_reads_is_not_lost() {
    let (_dir, s) = store(&["shop/web"]);
    run(
        &s,
        "shop/web",
        &[
            (0, Up),
            (60, Up),
            (120, Down),
            (180, Down),
            (240, Up),
            (300, Down),
            (360, Down),
        ],
    );
    let mut reader = s.status_spans(&[id("shop/web")], T0, T0 + 360 * S);
    let first = reader.next().unwrap().unwrap();
    assert_eq!((first.from_ms, first.to_ms), (T0, T0 + 120 * S));
    // The recorder writes between two reads: the open Down span (since
    // 300 s) closes at 390 s and an Up one opens.
    run(&s, "shop/web", &[(390, Up)]);
    let rest: Vec<Brief> = reader
        .map(|s| {
            let s = s.unwrap();
            (s.check, (s.from_ms - T0) / S, (s.to_ms - T0) / S, s.status)
        })
        .collect();
    assert_eq!(
        rest,
        [
            (0, 120, 240, Some(Down)),
            (0, 240, 300, Some(Up)),
            (0, 300, 360, Some(Down))
        ]
    );
}

/// A small deterministic generator, so every failing case has a seed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// What a check's history reads as: its spans over the whole time, and
/// its current state (time, since, status, message).
type Reading = (Vec<Brief>, (i64, i64, Status, String));

fn reading(s: &Store, last: i64) -> Reading {
    let l = s.latest_for(&id("s/c")).unwrap().unwrap();
    (
        spans(s, &["s/c"], -1_000, last + 1_000),
        (
            (l.at - T0) / S,
            (l.since - T0) / S,
            l.outcome.status,
            l.outcome.message,
        ),
    )
}

fn record_one(s: &Store, batch: &[(i64, Status)], backfill: bool) {
    let records: Vec<ResultRecord> = batch
        .iter()
        .map(|&(at, status)| ResultRecord {
            check: id("s/c"),
            at: T0 + at * S,
            outcome: Outcome::new(status, format!("{at} {status:?}")),
            backfill,
        })
        .collect();
    s.record(&records).unwrap();
}

/// Results recorded late, in any order and batching, some first with
/// another status and replaced (as a backlogged report replaces what the
/// central recorded meanwhile), read back exactly as the same results
/// recorded in time order: spans and current state. Over many seeded
/// sequences with several statuses, gaps shorter than, equal to and
/// longer than the allowed 90 s, late results inside closed spans, inside
/// the open one, at their boundaries and before every other result.
#[test]
fn results_recorded_late_read_as_the_same_results_recorded_in_order() {
    const STATUSES: [Status; 4] = [Up, Degraded, Down, Status::Unknown];
    const STEPS: [i64; 9] = [1, 10, 30, 60, 89, 90, 91, 150, 600];
    for seed in 0..400u64 {
        let mut rng = Lcg(seed);
        let n = 2 + rng.below(40);
        let (mut at, mut status) = (0, Up);
        let mut results = Vec::new();
        for _ in 0..n {
            at += STEPS[rng.below(STEPS.len())];
            if rng.below(3) == 0 {
                status = STATUSES[rng.below(4)];
            }
            results.push((at, status));
        }
        let last = at;

        // The delivery order: any order (half the seeds), or in order with
        // backlogs (stretches held back, then delivered oldest first).
        let mut order: Vec<usize> = (0..n).collect();
        if seed % 2 == 0 {
            for i in (1..n).rev() {
                order.swap(i, rng.below(i + 1));
            }
        } else {
            let mut i = 0;
            while i < n {
                let len = 1 + rng.below(8);
                let held = i..(i + len).min(n);
                let after = (held.end + 1 + rng.below(4)).min(n);
                // The results after the held stretch come first.
                let mut part: Vec<usize> = (held.end..after).collect();
                part.extend(held.clone());
                order.splice(i..after, part);
                i = after;
            }
        }
        // Some results come first with another status, and are replaced.
        let mut deliveries: Vec<(i64, Status)> = Vec::new();
        for (k, &i) in order.iter().enumerate() {
            let (at, status) = results[i];
            if rng.below(5) == 0 {
                let wrong = STATUSES
                    [(STATUSES.iter().position(|s| *s == status).unwrap() + 1 + rng.below(3)) % 4];
                let pos = rng.below(k + 1).min(deliveries.len());
                deliveries.insert(pos, (at, wrong));
            }
            deliveries.push((at, status));
        }

        let expected = Store::open_in_memory().unwrap();
        let late = Store::open_in_memory().unwrap();
        for s in [&expected, &late] {
            s.register_checks(&[CheckMeta {
                max_gap: Some(Duration::from_secs(90)),
                ..CheckMeta::unregistered(&id("s/c"))
            }])
            .unwrap();
        }
        for r in &results {
            record_one(&expected, std::slice::from_ref(r), false);
        }
        let mut rest = &deliveries[..];
        while !rest.is_empty() {
            let (batch, more) = rest.split_at((1 + rng.below(4)).min(rest.len()));
            record_one(&late, batch, true);
            rest = more;
        }
        assert_eq!(
            reading(&late, last),
            reading(&expected, last),
            "seed {seed}: results {results:?} delivered {deliveries:?}"
        );
        // And both go on alike from there.
        for s in [&expected, &late] {
            record_one(s, &[(last + 60, Down)], false);
        }
        assert_eq!(
            reading(&late, last + 60),
            reading(&expected, last + 60),
            "seed {seed}, then on time: results {results:?} delivered {deliveries:?}"
        );
    }
}

/// The wall clock stepped back five minutes: results that are not history
/// but older than the current one move the current state at once, the
/// timeline follows the clock (what was dated in what is now the future
/// no longer shows), and the next results go on from there, spans never
/// overlapping.
#[test]
fn a_clock_far_behind_the_store_erases_nothing() {
    // A host booting with its RTC 400 days behind: its first results are
    // not taken for a clock correction, which would drop every span and
    // result since; they are history, and the timeline stands.
    let (_dir, s) = store(&["shop/web"]);
    run(&s, "shop/web", &every(0, 660, 60, Up));
    let before = spans(&s, &["shop/web"], 0, 800);
    run(
        &s,
        "shop/web",
        &[(-400 * 86_400, Down), (-400 * 86_400 + 60, Down)],
    );
    assert_eq!(spans(&s, &["shop/web"], 0, 800), before);
    let l = s.latest_for(&id("shop/web")).unwrap().unwrap();
    assert_eq!(((l.at - T0) / S, l.outcome.status), (600, Up));
    // Within an hour it is a clock correction, as before.
    run(&s, "shop/web", &[(300, Down)]);
    let l = s.latest_for(&id("shop/web")).unwrap().unwrap();
    assert_eq!(((l.at - T0) / S, l.outcome.status), (300, Down));
}

#[test]
fn after_the_clock_steps_back_results_dated_in_the_future_are_not_walked_again() {
    // Up every minute to 600 s; the clock steps back to 330 s, the shop is
    // down from there. The results dated 360..600 s were stamped by the
    // clock that was ahead: a late result in that stretch re-derives its
    // spans from the results around it, which must be the new ones.
    let (_dir, s) = store(&["shop/web"]);
    run(&s, "shop/web", &every(0, 660, 60, Up));
    run(&s, "shop/web", &[(330, Down), (390, Down), (450, Down)]);
    backlog(&s, "shop/web", &[(400, Up)]);
    assert_eq!(
        spans(&s, &["shop/web"], 0, 800),
        [
            (0, 0, 330, Some(Up)),
            (0, 330, 400, Some(Down)),
            (0, 400, 450, Some(Up)),
            (0, 450, 540, Some(Down)),
            (0, 540, 800, None),
        ]
    );
}

#[test]
fn after_the_clock_steps_back_the_current_state_follows_the_new_results() {
    let (_dir, s) = store(&["shop/web"]);
    run(&s, "shop/web", &every(0, 660, 60, Up));
    // The clock steps back from 600 s to 300 s; the shop is down now.
    run(&s, "shop/web", &[(300, Down)]);
    let l = s.latest_for(&id("shop/web")).unwrap().unwrap();
    assert_eq!(
        ((l.at - T0) / S, (l.since - T0) / S, l.outcome.status),
        (300, 300, Down)
    );
    run(&s, "shop/web", &every(360, 600, 60, Down));
    let l = s.latest_for(&id("shop/web")).unwrap().unwrap();
    assert_eq!(
        ((l.at - T0) / S, (l.since - T0) / S, l.outcome.status),
        (540, 300, Down)
    );
    assert_eq!(
        spans(&s, &["shop/web"], 0, 800),
        [
            (0, 0, 300, Some(Up)),
            (0, 300, 630, Some(Down)),
            (0, 630, 800, None),
        ]
    );
    // The same status on both sides of the step: one span goes on.
    let (_dir, s) = store(&["shop/web"]);
    run(&s, "shop/web", &every(0, 660, 60, Up));
    run(&s, "shop/web", &every(330, 500, 60, Up));
    assert_eq!(
        spans(&s, &["shop/web"], 0, 800),
        [(0, 0, 540, Some(Up)), (0, 540, 800, None)]
    );
    let l = s.latest_for(&id("shop/web")).unwrap().unwrap();
    assert_eq!(((l.at - T0) / S, (l.since - T0) / S), (450, 0));
    // A backlog arriving after the step still takes its place.
    backlog(&s, "shop/web", &[(420, Down)]);
    assert_eq!(
        spans(&s, &["shop/web"], 0, 800),
        [
            (0, 0, 420, Some(Up)),
            (0, 420, 450, Some(Down)),
            (0, 450, 540, Some(Up)),
            (0, 540, 800, None)
        ]
    );
}
