//! Scheduled actions over a simulated week in Europe/Berlin that ends
//! summer time (Sunday 2026-10-25, 03:00 CEST becomes 02:00 CET): scale
//! down at 23:00 and up at 07:00 local time, and a job at 02:30, a time
//! that happens twice that night. Each occurrence runs exactly once,
//! through ticks every five minutes, a tick repeated at the same instant
//! and an engine restart in the middle of the week. Occurrences due
//! together run side by side (a long one holds up no other), and one
//! found past the catch-up is recorded as missed.

use std::sync::Arc;

use std::time::Duration;

use keepup_actions::Engine;
use keepup_model::{ManualClock, format_rfc3339, parse_rfc3339};
use keepup_notify::HttpClientContext;
use keepup_store::{RunOutcome, Store};

const ACTIONS: &str = r#"
[[action]]
name = "scale-down"
command = ["true"]
schedule = { cron = "0 23 * * *", timezone = "Europe/Berlin" }

[[action]]
name = "scale-up"
command = ["true"]
schedule = { cron = "0 7 * * *", timezone = "Europe/Berlin" }

[[action]]
name = "night-job"
command = ["true"]
schedule = { cron = "30 2 * * *", timezone = "Europe/Berlin" }
"#;

fn at(s: &str) -> i64 {
    parse_rfc3339(s).unwrap()
}

#[tokio::test]
async fn each_scheduled_occurrence_runs_once_across_the_end_of_summer_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = keepup_config::load_str(ACTIONS, &dir.path().join("keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
    let db = dir.path().join("keepup.db");
    let start = at("2026-10-19T00:00:00Z");
    let end = at("2026-10-27T00:00:00Z");
    let restart_at = at("2026-10-22T12:00:00Z");
    let clock = ManualClock::new(start);
    let new_engine = || {
        Engine::new(
            &config,
            Store::open(&db).unwrap(),
            Arc::new(clock.clone()),
            HttpClientContext::builder().system_roots(false).build(),
        )
    };
    let mut engine = new_engine();
    let mut now = start;
    while now < end {
        clock.set(now);
        if now == restart_at {
            engine = new_engine();
        }
        engine.tick().await.unwrap();
        // The runs go on tasks of their own; simulated time waits for them.
        engine.idle().await;
        // A second tick at the same instant adds nothing.
        assert!(
            engine.tick().await.unwrap().is_empty(),
            "at {}",
            format_rfc3339(now)
        );
        now += 5 * 60_000;
    }

    let runs = engine.runs(0, 1000).await.unwrap();
    assert!(
        runs.iter().all(|r| r.outcome == RunOutcome::Ok),
        "{runs:#?}"
    );
    let times = |name: &str| {
        let mut t: Vec<String> = runs
            .iter()
            .filter(|r| r.action == name)
            .map(|r| {
                assert_eq!(r.cause, "schedule");
                format_rfc3339(r.started_at)
            })
            .collect();
        t.sort();
        t
    };
    // 23:00 is 21:00 UTC in summer time, 22:00 UTC from the 25th.
    assert_eq!(
        times("scale-down"),
        [
            "2026-10-19T21:00:00Z",
            "2026-10-20T21:00:00Z",
            "2026-10-21T21:00:00Z",
            "2026-10-22T21:00:00Z",
            "2026-10-23T21:00:00Z",
            "2026-10-24T21:00:00Z",
            "2026-10-25T22:00:00Z",
            "2026-10-26T22:00:00Z",
        ]
    );
    // 07:00 is 05:00 UTC in summer time, 06:00 UTC from the 25th.
    assert_eq!(
        times("scale-up"),
        [
            "2026-10-19T05:00:00Z",
            "2026-10-20T05:00:00Z",
            "2026-10-21T05:00:00Z",
            "2026-10-22T05:00:00Z",
            "2026-10-23T05:00:00Z",
            "2026-10-24T05:00:00Z",
            "2026-10-25T06:00:00Z",
            "2026-10-26T06:00:00Z",
        ]
    );
    // 02:30 happens twice on the 25th (00:30 UTC in summer time, 01:30 UTC
    // in winter time): it runs at the first only.
    assert_eq!(
        times("night-job"),
        [
            "2026-10-19T00:30:00Z",
            "2026-10-20T00:30:00Z",
            "2026-10-21T00:30:00Z",
            "2026-10-22T00:30:00Z",
            "2026-10-23T00:30:00Z",
            "2026-10-24T00:30:00Z",
            "2026-10-25T00:30:00Z",
            "2026-10-26T01:30:00Z",
        ]
    );
}

#[tokio::test]
async fn an_occurrence_missed_for_longer_than_the_catch_up_is_not_run_late() {
    let dir = tempfile::tempdir().unwrap();
    let config = keepup_config::load_str(ACTIONS, &dir.path().join("keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
    let clock = ManualClock::new(at("2026-10-19T21:30:00Z"));
    let engine = Engine::new(
        &config,
        Store::open_in_memory().unwrap(),
        Arc::new(clock.clone()),
        HttpClientContext::builder().system_roots(false).build(),
    );
    // Half an hour late: caught up.
    let ran = engine.tick().await.unwrap();
    assert_eq!(ran.len(), 1);
    assert_eq!(ran[0].action, "scale-down");
    assert_eq!(ran[0].cause_detail, "schedule at 2026-10-19T21:00:00Z");
    // keepup was down from 04:50 to 06:10 (UTC): 07:00 local was at 05:00
    // UTC, 70 minutes before: left out.
    clock.set(at("2026-10-20T06:10:00Z"));
    assert!(engine.tick().await.unwrap().is_empty());
}

/// Two actions due at 23:00: one that runs until the test lets it end,
/// one quick. The quick one is not held up by the long one (each
/// occurrence on a task of its own), a tick while the long one runs
/// starts it again neither now nor when the simulated clock is past its
/// timeout; the next night keepup is "down" at 23:00 and the occurrence,
/// found two hours later, is recorded as missed rather than dropped
/// (review 33 #8).
#[tokio::test]
async fn due_occurrences_run_side_by_side_and_a_missed_one_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (stop, quick) = (dir.path().join("stop"), dir.path().join("quick"));
    let actions = format!(
        r#"
[[action]]
name = "long"
command = ["sh", "-c", "while [ ! -e {stop} ]; do sleep 0.05; done"]
timeout = "1h"
schedule = {{ cron = "0 23 * * *", timezone = "Europe/Berlin" }}

[[action]]
name = "quick"
command = ["touch", "{quick}"]
schedule = {{ cron = "0 23 * * *", timezone = "Europe/Berlin" }}
"#,
        stop = stop.display(),
        quick = quick.display()
    );
    let config = keepup_config::load_str(&actions, &dir.path().join("keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    let clock = ManualClock::new(at("2026-10-19T21:00:10Z"));
    let engine = Engine::new(
        &config,
        store.clone(),
        Arc::new(clock.clone()),
        HttpClientContext::builder().system_roots(false).build(),
    );
    let ran = tokio::time::timeout(Duration::from_secs(10), engine.tick())
        .await
        .expect("a tick does not wait for the runs it starts")
        .unwrap();
    let mut names: Vec<&str> = ran.iter().map(|r| r.action.as_str()).collect();
    names.sort();
    assert_eq!(names, ["long", "quick"]);
    assert!(
        ran.iter().all(|r| r.outcome == RunOutcome::Running),
        "{ran:?}"
    );
    for _ in 0..200 {
        if quick.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(quick.exists(), "the quick action waited for the long one");
    // Still running: not started again, not taken for a dead run, even
    // when the (simulated) clock is past its timeout.
    assert!(engine.tick().await.unwrap().is_empty());
    clock.set(at("2026-10-19T22:30:00Z"));
    assert!(engine.tick().await.unwrap().is_empty());
    std::fs::write(&stop, "").unwrap();
    engine.idle().await;
    let runs = store.action_runs(0, None, 10).unwrap();
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert!(
        runs.iter().all(|r| r.outcome == RunOutcome::Ok),
        "{runs:#?}"
    );

    // The next night keepup is down at 23:00 and back at 01:00.
    clock.set(at("2026-10-20T23:00:00Z"));
    let missed = engine.tick().await.unwrap();
    assert_eq!(missed.len(), 2, "{missed:#?}");
    for r in &missed {
        assert_eq!(r.outcome, RunOutcome::Skipped);
        assert_eq!(r.cause_detail, "schedule at 2026-10-20T21:00:00Z");
        assert_eq!(
            r.reason,
            "missed: keepup was not running or was busy at 23:00 Europe/Berlin; an occurrence is run up to 1h late"
        );
    }
    // Once.
    assert!(engine.tick().await.unwrap().is_empty());
    let again = Engine::new(
        &config,
        store.clone(),
        Arc::new(clock.clone()),
        HttpClientContext::builder().system_roots(false).build(),
    );
    assert!(again.tick().await.unwrap().is_empty());
    assert_eq!(store.action_runs(0, None, 10).unwrap().len(), 4);
}
