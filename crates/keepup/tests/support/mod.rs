//! Helpers shared by the tests that simulate a month of a daemon's work
//! (`sla.rs`, `report.rs`).

use keepup_config::Check;
use keepup_model::{Outcome, Timestamp};
use keepup_monitor::incidents::IncidentEngine;
use keepup_store::{ResultRecord, Store};
use std::sync::Arc;

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
