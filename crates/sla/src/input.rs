//! What the accounting is given: per check an ordered status timeline, the
//! incidents of the period and the maintenance windows. Plain values, so
//! that the store (or a test) can produce them however it likes.

use keepup_config::contract::Severity;
use keepup_model::{CheckId, Status, Timestamp};
use std::collections::{HashMap, HashSet};

/// A stretch of time with one status. `None` means unknown: no result,
/// keepup not running, its own network down (`MONITOR_OFFLINE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Start, ms since the epoch.
    pub from: Timestamp,
    /// End (exclusive).
    pub to: Timestamp,
    /// The status, if known.
    pub status: Option<Status>,
}

/// One check's spans, ordered and not overlapping; time between spans is
/// unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckTimeline {
    /// The check.
    pub check: CheckId,
    /// Its spans.
    pub spans: Vec<Span>,
}

/// An incident as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecord {
    /// Its number.
    pub id: i64,
    /// The failing check.
    pub check: CheckId,
    /// The confirmed status that opened it.
    pub status: Status,
    /// The first failed probe.
    pub opened_at: Timestamp,
    /// When the failure was confirmed.
    pub detected_at: Timestamp,
    /// When someone acknowledged it.
    pub acknowledged_at: Option<Timestamp>,
    /// When the check recovered.
    pub resolved_at: Option<Timestamp>,
    /// The incident that caused it, if any.
    pub cause: Option<i64>,
    /// Its severity, when one was recorded; otherwise it follows from the
    /// status (Down: critical, Degraded: major, Unknown: minor).
    pub severity: Option<Severity>,
    /// What failed, in a few words.
    pub message: String,
    /// Opened during a maintenance window of its check: listed, but its
    /// repair time is not the contract's (rule 5).
    pub maintenance: bool,
}

impl IncidentRecord {
    /// The recorded severity, or the one its status implies.
    pub fn severity(&self) -> Severity {
        self.severity.unwrap_or(match self.status {
            Status::Down => Severity::Critical,
            Status::Degraded => Severity::Major,
            Status::Up | Status::Unknown => Severity::Minor,
        })
    }
}

/// The incidents each incident caused directly, by the cause's id, so
/// that following a chain of causes is a lookup per step instead of a scan
/// of every record (a month of thousands of incidents made that quadratic).
pub(crate) struct Consequences<'a>(HashMap<i64, Vec<&'a IncidentRecord>>);

impl<'a> Consequences<'a> {
    /// The consequences among `records`.
    pub(crate) fn of(records: &[&'a IncidentRecord]) -> Consequences<'a> {
        let mut by_cause: HashMap<i64, Vec<&'a IncidentRecord>> = HashMap::new();
        for r in records {
            if let Some(cause) = r.cause {
                by_cause.entry(cause).or_default().push(r);
            }
        }
        Consequences(by_cause)
    }

    /// When `root`'s repair ends: the latest resolution among it and the
    /// incidents it caused, directly or through one another; None while
    /// any of them is open. A consequence that outlives its cause (the
    /// database is back, the shop still fails) keeps the cause unrepaired.
    /// The accounting's repair times and the daemon's deadline warnings
    /// both use it.
    pub(crate) fn repair_end(&self, root: &IncidentRecord) -> Option<Timestamp> {
        let mut end = root.resolved_at?;
        let mut seen: HashSet<i64> = HashSet::from([root.id]);
        let mut chain = vec![root.id];
        while let Some(cause) = chain.pop() {
            for r in self.0.get(&cause).into_iter().flatten() {
                if seen.insert(r.id) {
                    end = end.max(r.resolved_at?);
                    chain.push(r.id);
                }
            }
        }
        Some(end)
    }
}

/// A maintenance window as it happened (one occurrence of a recurring one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceSpan {
    /// The `[[maintenance]]` id.
    pub id: String,
    /// Start.
    pub from: Timestamp,
    /// End (exclusive).
    pub to: Timestamp,
    /// The checks it covered; it is the service's maintenance when it
    /// covers one of the service's checks.
    pub checks: Vec<CheckId>,
}

/// Everything [`crate::account`] needs besides the contract and period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    /// Status timelines; checks the service reads but that have none here
    /// are unknown throughout.
    pub timelines: Vec<CheckTimeline>,
    /// Incidents overlapping the period (others are ignored).
    pub incidents: Vec<IncidentRecord>,
    /// Maintenance windows overlapping the period.
    pub maintenance: Vec<MaintenanceSpan>,
}

/// Input the accounting cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    /// A span ends before it starts or starts before the previous one ends.
    #[error(
        "the timeline of {check} is out of order at {at} ms: spans must be ordered, non-empty and not overlap"
    )]
    SpansOutOfOrder {
        /// The check.
        check: CheckId,
        /// Where.
        at: Timestamp,
    },
    /// The period cannot be computed.
    #[error(transparent)]
    Window(#[from] crate::window::WindowError),
}

impl Input {
    /// Checks the timelines' order, naming the first span out of place.
    pub(crate) fn validate(&self) -> Result<(), InputError> {
        for t in &self.timelines {
            let mut end = Timestamp::MIN;
            for s in &t.spans {
                if s.to <= s.from || s.from < end {
                    return Err(InputError::SpansOutOfOrder {
                        check: t.check.clone(),
                        at: s.from,
                    });
                }
                end = s.to;
            }
        }
        Ok(())
    }
}
