//! The daemon's side of status spans: a real HTTP server on loopback fails
//! and recovers while the monitor runs, stops and starts again; the store's
//! spans show the outage and, as unknown, the time the monitor was stopped.

use keepup_model::{CheckId, Status, SystemClock};
use keepup_monitor::Monitor;
use keepup_probe::ProbeContext;
use keepup_store::Store;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

mod common;
use common::toggled;

/// Waits until `check` has a result with `status` newer than `after`.
async fn wait_for(store: &Store, check: &CheckId, status: Status, after: i64) -> i64 {
    for _ in 0..200 {
        if let Some(l) = store.latest_for(check).unwrap()
            && l.outcome.status == status
            && l.at > after
        {
            return l.at;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {status:?} result of {check} after {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_and_a_stopped_monitor_show_in_the_status_spans() {
    let (web, web_failing) = toggled().await;
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\n\
         [[site]]\nid = \"shop\"\n\
         [[site.check]]\nid = \"web\"\nkind = \"http\"\nurl = \"{}\"\n",
        web.url("/")
    );
    let config = Arc::new(keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap());
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let check = CheckId::new("shop", "web");
    let start = || {
        Monitor::start(
            config.clone(),
            store.clone(),
            ProbeContext::new(),
            Arc::new(SystemClock),
        )
    };

    let monitor = start().await.unwrap();
    let first_up = wait_for(&store, &check, Status::Up, 0).await;
    web_failing.store(true, Ordering::SeqCst);
    let down = wait_for(&store, &check, Status::Down, first_up).await;
    web_failing.store(false, Ordering::SeqCst);
    let up_again = wait_for(&store, &check, Status::Up, down).await;
    monitor.shutdown().await;
    let stopped = store.latest_for(&check).unwrap().unwrap().at;

    // Started again at once: well within the allowed gap (1 s + 0.5 s + 1 s)
    // of the last result, yet the stop shows as unknown.
    let monitor = start().await.unwrap();
    let restarted = wait_for(&store, &check, Status::Up, stopped).await;
    monitor.shutdown().await;
    let end = store.latest_for(&check).unwrap().unwrap().at;

    let spans: Vec<_> = store
        .status_spans(std::slice::from_ref(&check), first_up, end + 1)
        .map(|s| s.unwrap())
        .collect();
    let statuses: Vec<_> = spans.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [
            Some(Status::Up),
            Some(Status::Down),
            Some(Status::Up),
            None,
            Some(Status::Up)
        ],
        "{spans:?}"
    );
    // The outage starts at the first failed run (a retry may confirm it).
    assert!(
        spans[1].from_ms <= down && spans[2].from_ms <= up_again,
        "{spans:?}"
    );
    // The unknown span runs from the stop to the first result after the start.
    assert!(
        spans[3].from_ms > stopped && spans[3].to_ms == restarted,
        "{spans:?}"
    );
}
