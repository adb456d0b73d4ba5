//! keepup's SLA accounting: what a `[[contract]]` promised against what the
//! service's checks recorded, for one period, to the millisecond.
//!
//! [`account`] takes the contract, the period ([`Window`]) and plain values
//! (each check's status timeline, the incidents, the maintenance windows;
//! see [`Input`]) and returns [`Figures`]: availability, downtime, unknown
//! and maintenance time, incidents with MTTD/MTTA/MTTR and repair-time
//! breaches, error budget and credit. Every figure keeps the intervals it
//! was summed from, and [`Figures::explain`] lists them.
//!
//! This crate does no I/O: the CLI reads the store and adapts its rows into
//! [`Input`]; the rules themselves are written down in the README's "SLA"
//! section, each worked example there being a test in `tests/`.
//! [`Report`] adds what the monthly report shows beside the figures (among
//! them the site's disaster-recovery drills, the automatic actions taken
//! and the resources that run out within the next quarter), and
//! [`render_html`], [`render_csv`] and [`render_json`] write it.
//! [`burn`] and [`repair_deadlines`] are what the daemon's SLA checks
//! report: the error budget's burn rates and open incidents' repair
//! deadlines, from the same input and the same accounting.
//! Not here: reading the store.

mod account;
mod actions;
mod burn;
mod capacity;
mod html;
mod input;
mod render;
mod report;
mod service;
mod window;

pub use account::{
    Budget, CheckFigure, Class, CreditFigure, Figures, IncidentFigure, Interval, RepairFigure,
    TierFigure, account, check_availability, check_figures,
};
pub use actions::{ActionRunFigure, ActionsFigure, MAX_REPORTED_RUNS};
pub use burn::{
    Burn, Deadline, RuleBurn, WindowBurn, burn, burn_reach, repair_deadline, repair_deadlines,
};
pub use capacity::{CapacityFigure, CapacityPeak};
pub use html::render_html;
pub use input::{CheckTimeline, IncidentRecord, Input, InputError, MaintenanceSpan, Span};
pub use render::{csv, table, truncated};
pub use report::{
    BackupFigure, CreditTerms, DayFigure, DrillFigure, DrillPlanFigure, Escalation,
    FORECAST_HORIZON_DAYS, ForecastFigure, LatencyPoint, LatencySeries, MaintenanceDone,
    NotificationSent, Report, RootCause, SecurityEvent, is_security_relevant, render_csv,
    render_json,
};
pub use service::ServiceState;
pub use window::{Bound, Window, WindowError, service_time, service_windows};
