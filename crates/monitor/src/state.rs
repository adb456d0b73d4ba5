//! The per-check state machine: raw results in, confirmed states out.
//!
//! A single failed probe is not an outage: a new status must be seen
//! `failure_threshold` times in a row (Down, Degraded, Unknown) or
//! `success_threshold` times (Up) before it is *confirmed*. While a failure
//! is unconfirmed the check asks to be re-run at its shorter retry
//! interval, so confirmation is quick without probing a healthy check
//! more often. Confirmed changes within a sliding window are counted; too
//! many mark the check Flapping (reported once), and it stops flapping when
//! the count falls to half the threshold.
//!
//! Pure logic over timestamps: tested with simulated time, no I/O.

use keepup_model::{Status, Timestamp};
use std::collections::VecDeque;
use std::time::Duration;

/// How a check's results become confirmed states.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Consecutive non-Up results before they are confirmed (default 2).
    pub failure_threshold: u32,
    /// Consecutive Up results before recovery is confirmed (default 1).
    pub success_threshold: u32,
    /// Window for counting confirmed changes (default 1 h).
    pub flap_window: Duration,
    /// Confirmed changes within the window that make a check Flapping
    /// (default 6); 0 disables flap detection.
    pub flap_changes: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            failure_threshold: 2,
            success_threshold: 1,
            flap_window: Duration::from_secs(3600),
            flap_changes: 6,
        }
    }
}

/// What one observation did.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// A confirmed change, if any.
    pub change: Option<Change>,
    /// Flapping started or ended with this observation.
    pub flap: Option<FlapEvent>,
    /// An unconfirmed problem: run again at the retry interval.
    pub retry_soon: bool,
}

/// A confirmed change of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// Previous confirmed status (`None` for the very first).
    pub from: Option<Status>,
    /// New confirmed status.
    pub to: Status,
    /// When the new status was first seen (not when it was confirmed):
    /// outages are timed from their first failed probe.
    pub since: Timestamp,
}

/// Flap detection events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlapEvent {
    /// Too many changes: notify once, then stay quiet until it settles.
    Started,
    /// Settled again.
    Ended,
}

/// The state of one check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckState {
    confirmed: Option<Status>,
    confirmed_since: Timestamp,
    candidate: Option<Candidate>,
    changes: VecDeque<Timestamp>,
    flapping: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Candidate {
    status: Status,
    count: u32,
    first_seen: Timestamp,
}

impl CheckState {
    /// A state resumed from the store: `status` confirmed since `since`.
    pub fn resumed(status: Status, since: Timestamp) -> Self {
        Self {
            confirmed: Some(status),
            confirmed_since: since,
            ..Self::default()
        }
    }

    /// The confirmed status (`None` before the first confirmation).
    pub fn confirmed(&self) -> Option<Status> {
        self.confirmed
    }

    /// Since when the confirmed status holds.
    pub fn since(&self) -> Timestamp {
        self.confirmed_since
    }

    /// Whether the check is flapping.
    pub fn flapping(&self) -> bool {
        self.flapping
    }

    /// Whether a failure has been seen but not yet confirmed (its retries
    /// are due).
    pub fn failing_unconfirmed(&self) -> bool {
        self.candidate.is_some_and(|c| c.status != Status::Up)
    }

    /// Feeds one result.
    pub fn observe(&mut self, status: Status, at: Timestamp, policy: &Policy) -> Step {
        let mut step = Step {
            change: None,
            flap: None,
            retry_soon: false,
        };
        if self.confirmed == Some(status) {
            self.candidate = None;
            step.flap = self.expire_changes(at, policy);
            return step;
        }
        let candidate = match self.candidate {
            Some(c) if c.status == status => Candidate {
                count: c.count + 1,
                ..c
            },
            _ => Candidate {
                status,
                count: 1,
                first_seen: at,
            },
        };
        let needed = if status == Status::Up {
            policy.success_threshold
        } else {
            policy.failure_threshold
        }
        .max(1);
        if candidate.count >= needed {
            self.candidate = None;
            let from = self.confirmed.replace(status);
            self.confirmed_since = candidate.first_seen;
            step.change = Some(Change {
                from,
                to: status,
                since: candidate.first_seen,
            });
            if from.is_some() {
                self.changes.push_back(at);
            }
            step.flap = self.expire_changes(at, policy);
        } else {
            self.candidate = Some(candidate);
            step.retry_soon = status != Status::Up;
            step.flap = self.expire_changes(at, policy);
        }
        step
    }

    /// Drops changes older than the window and updates flapping.
    fn expire_changes(&mut self, now: Timestamp, policy: &Policy) -> Option<FlapEvent> {
        let window = policy.flap_window.as_millis() as i64;
        while self.changes.front().is_some_and(|t| now - t > window) {
            self.changes.pop_front();
        }
        if policy.flap_changes == 0 {
            return None;
        }
        let n = self.changes.len() as u32;
        if !self.flapping && n >= policy.flap_changes {
            self.flapping = true;
            Some(FlapEvent::Started)
        } else if self.flapping && n <= policy.flap_changes / 2 {
            self.flapping = false;
            Some(FlapEvent::Ended)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    fn feed(state: &mut CheckState, policy: &Policy, seq: &[(Status, Timestamp)]) -> Vec<Step> {
        seq.iter()
            .map(|(s, t)| state.observe(*s, *t, policy))
            .collect()
    }

    #[test]
    fn a_single_failure_is_not_confirmed_and_asks_for_a_retry() {
        let p = Policy {
            failure_threshold: 3,
            ..Policy::default()
        };
        let mut s = CheckState::default();
        let steps = feed(&mut s, &p, &[(Up, 0), (Down, 60), (Up, 90)]);
        assert_eq!(
            steps[0].change,
            Some(Change {
                from: None,
                to: Up,
                since: 0
            })
        );
        assert_eq!(steps[1].change, None);
        assert!(steps[1].retry_soon);
        assert_eq!(
            steps[2].change, None,
            "back to the confirmed state: nothing happened"
        );
        assert_eq!(s.confirmed(), Some(Up));
    }

    #[test]
    fn an_outage_is_confirmed_after_the_threshold_and_timed_from_its_first_failure() {
        let p = Policy {
            failure_threshold: 3,
            success_threshold: 2,
            ..Policy::default()
        };
        let mut s = CheckState::resumed(Up, 0);
        let steps = feed(
            &mut s,
            &p,
            &[(Down, 100), (Down, 130), (Down, 160), (Up, 400), (Up, 430)],
        );
        assert_eq!(
            steps[2].change,
            Some(Change {
                from: Some(Up),
                to: Down,
                since: 100
            })
        );
        assert!(steps[0].retry_soon && steps[1].retry_soon && !steps[2].retry_soon);
        assert_eq!(
            steps[3].change, None,
            "one success is not recovery with success_threshold 2"
        );
        assert!(
            !steps[3].retry_soon,
            "a tentative recovery is not retried early"
        );
        assert_eq!(
            steps[4].change,
            Some(Change {
                from: Some(Down),
                to: Up,
                since: 400
            })
        );
    }

    #[test]
    fn alternating_failures_never_confirm() {
        let p = Policy {
            failure_threshold: 2,
            ..Policy::default()
        };
        let mut s = CheckState::resumed(Up, 0);
        let steps = feed(
            &mut s,
            &p,
            &[
                (Down, 1),
                (Up, 2),
                (Down, 3),
                (Up, 4),
                (Degraded, 5),
                (Down, 6),
            ],
        );
        assert!(steps.iter().all(|s| s.change.is_none()));
    }

    #[test]
    fn degraded_is_its_own_state() {
        let p = Policy {
            failure_threshold: 1,
            ..Policy::default()
        };
        let mut s = CheckState::resumed(Up, 0);
        let steps = feed(&mut s, &p, &[(Degraded, 1), (Down, 2), (Degraded, 3)]);
        let tos: Vec<_> = steps
            .iter()
            .filter_map(|s| s.change.map(|c| c.to))
            .collect();
        assert_eq!(tos, vec![Degraded, Down, Degraded]);
    }

    #[test]
    fn flapping_is_reported_once_and_ends_when_it_settles() {
        let p = Policy {
            failure_threshold: 1,
            flap_changes: 4,
            flap_window: Duration::from_millis(1000),
            ..Policy::default()
        };
        let mut s = CheckState::resumed(Up, 0);
        let mut events = Vec::new();
        let mut t = 0;
        for i in 0..10 {
            t += 50;
            let st = if i % 2 == 0 { Down } else { Up };
            if let Some(e) = s.observe(st, t, &p).flap {
                events.push((e, t));
            }
        }
        assert_eq!(
            events,
            vec![(FlapEvent::Started, 200)],
            "started once, after the 4th change"
        );
        assert!(s.flapping());
        // Quiet and Up for longer than the window: it settles.
        for _ in 0..30 {
            t += 100;
            if let Some(e) = s.observe(Up, t, &p).flap {
                events.push((e, t));
            }
        }
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].0, FlapEvent::Ended);
        assert!(!s.flapping());
    }
}
