//! Real servers and small waits shared by the monitor's end-to-end tests.
#![allow(dead_code)] // each test file uses its own subset

use keepup_testkit::http::{TestServer, text};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An HTTP server that answers 500 while the flag is set, 200 otherwise.
pub async fn toggled() -> (TestServer, Arc<AtomicBool>) {
    let failing = Arc::new(AtomicBool::new(false));
    let f = failing.clone();
    let server = TestServer::start(move |_req| {
        let f = f.clone();
        async move {
            if f.load(Ordering::SeqCst) {
                text(500, "broken")
            } else {
                text(200, "fine")
            }
        }
    })
    .await
    .unwrap();
    (server, failing)
}

/// A webhook receiver that records every JSON body and answers `status`.
pub async fn receiver(status: u16) -> (TestServer, Arc<Mutex<Vec<serde_json::Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let server = TestServer::start(move |req| {
        let g = g.clone();
        async move {
            let body: serde_json::Value =
                serde_json::from_slice(req.body()).unwrap_or(serde_json::Value::Null);
            g.lock().unwrap().push(body);
            text(status, if status == 200 { "ok" } else { "no" })
        }
    })
    .await
    .unwrap();
    (server, got)
}

/// The `event` of every body a receiver got.
pub fn events(got: &Arc<Mutex<Vec<serde_json::Value>>>) -> Vec<String> {
    got.lock()
        .unwrap()
        .iter()
        .map(|v| v["event"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// Polls `f` until it holds; fails the test after `secs`.
pub async fn wait_until(what: &str, secs: u64, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
