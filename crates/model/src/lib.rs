//! The shared vocabulary of keepup.
//!
//! Everything that can go wrong is a check, and every check ends in an
//! [`Outcome`]. This crate holds that type and the few others that every
//! room of the design (probe, monitor, store, web) must agree on: the
//! [`Status`] ladder, [`Finding`]s with stable codes, [`Evidence`], check
//! identifiers and the [`Clock`] seam that lets schedulers and state machines
//! be tested with simulated time.
//!
//! It deliberately has no I/O and almost no dependencies.

mod clock;
pub mod codes;
pub mod forecast;
pub mod host;
mod maintenance;
mod outcome;
pub mod runbook;
pub mod text;

pub use clock::{
    Clock, ManualClock, SystemClock, Timestamp, format_date, format_rfc3339, parse_rfc3339,
};
pub use maintenance::{MaintenanceScope, TAG_PREFIX};
pub use outcome::{
    Attachment, CheckId, Evidence, Finding, Outcome, Severity, Status, TimingBreakdown, worse,
};
