//! keepup's disaster recovery: a `[[recovery]]` plan from the configuration
//! run as a runbook whose every step is journaled in the store before and
//! after it runs, so that a run interrupted by a crash or a failed step
//! resumes at the first unfinished step and never repeats a finished one.
//!
//! The steps move a shop from production to its standby and back: restore
//! files and databases from the backups, switch DNS with RFC 2136 dynamic
//! updates signed with TSIG, verify with the monitors' checks, notify, and
//! wait for a person's confirmation where the plan says so. Drills run the
//! same steps against an isolated environment and record the measured RPO
//! and RTO; the Recovery Plan document is generated from the plan.
//!
//! Not here: the configuration's schema and validation (`keepup-config`),
//! the journal's tables (`keepup-store`), the command line (`keepup`).

pub mod clock;
pub mod dns;
pub mod document;
pub mod engine;
pub mod journal;
pub mod restore;
pub mod rpo;
pub mod steps;

pub use clock::{Clock, RealClock, SimulatedClock};
pub use engine::{
    EngineError, Observer, Quiet, RunReport, Runner, abort, describe, drill, resume, start,
};
pub use steps::Confirmation;
