//! Helpers shared by the tests that simulate a month of a daemon's work
//! (`sla.rs`, `report.rs`, `report_mail.rs`).
#![allow(dead_code)] // each test file uses its own subset

use keepup_config::Check;
use keepup_model::{Outcome, Timestamp};
use keepup_monitor::incidents::IncidentEngine;
use keepup_store::{ResultRecord, Store};
use std::process::{Command, Output};
use std::sync::Arc;

/// A minute in ms.
pub const MINUTE: i64 = 60_000;

/// Runs the keepup binary with `args` (without `KEEPUP_CONFIG` from the
/// environment).
pub fn keepup(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keepup"))
        .env_remove("KEEPUP_CONFIG")
        .args(args)
        .output()
        .expect("keepup runs")
}

/// Its standard output, once it succeeded (else its error output).
pub fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// An RFC 3339 time in ms.
pub fn at(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

/// Records one round of results at `at` as the daemon does: the results go
/// into the store (which keeps the status spans) and through the incident
/// engine. `outcomes[i]` is the outcome of `checks[i]`.
pub fn record_round(
    store: &Store,
    engine: &mut IncidentEngine,
    checks: &[Arc<Check>],
    outcomes: &[&Outcome],
    at: Timestamp,
) {
    let records: Vec<ResultRecord> = checks
        .iter()
        .zip(outcomes)
        .map(|(c, o)| ResultRecord {
            check: c.id.clone(),
            at,
            outcome: (*o).clone(),
            backfill: false,
        })
        .collect();
    store.record(&records).unwrap();
    let items: Vec<_> = checks
        .iter()
        .zip(outcomes)
        .map(|(c, o)| (&**c, at, *o))
        .collect();
    engine.observe_batch(&items).unwrap();
}
