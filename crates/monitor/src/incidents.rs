//! Incidents from confirmed states, with root-cause suppression.
//!
//! The engine feeds each result through its check's [`CheckState`]; a
//! confirmed failure opens an incident (persisted before anything else
//! happens), a confirmed recovery resolves it. A check whose ancestor
//! (through `depends_on`) has an open incident gets its incident recorded
//! as caused by the ancestor's root incident and is not notified: one
//! outage of one host is one page. When the cause resolves, children that
//! are still failing are released and notify on their own.
//!
//! The engine says *what happened* ([`IncidentEvent`]); who is told, when
//! and how is the notification pipeline's business.

use crate::state::{CheckState, FlapEvent, Policy};
use keepup_config::Check;
use keepup_config::maintenance::Maintenance;
use keepup_model::{CheckId, Outcome, Status, Timestamp};
use keepup_store::{AdhocMaintenance, Incident, NewIncident, Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;

/// Something the notification pipeline may want to tell people.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentEvent {
    /// An incident opened; `notify` is false when a parent caused it or
    /// the check is flapping.
    Opened {
        /// The incident as stored.
        incident: Incident,
        /// Whether to tell anyone.
        notify: bool,
    },
    /// An incident resolved.
    Resolved {
        /// The incident as stored (with `resolved_at`).
        incident: Incident,
        /// Whether to tell anyone (false if its opening was not told).
        notify: bool,
    },
    /// The cause of a suppressed incident resolved but this check is still
    /// failing: it is now an outage of its own.
    Released {
        /// The incident, no longer suppressed.
        incident: Incident,
    },
    /// A check started or stopped flapping.
    Flapping {
        /// The check.
        check: CheckId,
        /// Started (true) or ended (false).
        started: bool,
    },
}

/// What one observation produced.
#[derive(Debug, Default)]
pub struct Observed {
    /// Re-run the check at this time (an unconfirmed failure).
    pub retry_at: Option<Timestamp>,
    /// Events, in order.
    pub events: Vec<IncidentEvent>,
}

/// Per-check states, open incidents and the dependency graph.
pub struct IncidentEngine {
    store: Store,
    checks: HashMap<CheckId, Arc<Check>>,
    states: HashMap<CheckId, CheckState>,
    /// Open incident per check.
    open: HashMap<CheckId, Incident>,
    /// Configured maintenance windows.
    maintenance: Vec<Maintenance>,
    /// Windows started from the command line (read from the store, cached).
    adhoc: Vec<AdhocMaintenance>,
    adhoc_read_at: Option<Timestamp>,
}

/// How long the cached command-line windows are trusted.
const ADHOC_REFRESH_MS: i64 = 5_000;

fn policy(check: &Check) -> Policy {
    Policy {
        failure_threshold: check.alerting.failure_threshold,
        success_threshold: check.alerting.success_threshold,
        flap_window: check.alerting.flap_window,
        flap_changes: check.alerting.flap_changes,
    }
}

impl IncidentEngine {
    /// Resumes from the store: open incidents, and each check's confirmed
    /// state from its latest result.
    pub fn resume(store: Store, checks: &[Arc<Check>]) -> Result<Self, StoreError> {
        let mut states = HashMap::new();
        for l in store.latest()? {
            states.insert(
                l.meta.id.clone(),
                CheckState::resumed(l.outcome.status, l.since),
            );
        }
        let open = store
            .open_incidents()?
            .into_iter()
            .map(|i| (i.check.clone(), i))
            .collect();
        let mut engine = Self {
            store,
            checks: HashMap::new(),
            states,
            open,
            maintenance: Vec::new(),
            adhoc: Vec::new(),
            adhoc_read_at: None,
        };
        engine.configure(checks, Vec::new());
        Ok(engine)
    }

    /// Replaces the configured checks (reload); states of known checks stay.
    pub fn configure(&mut self, checks: &[Arc<Check>], maintenance: Vec<Maintenance>) {
        self.checks = checks.iter().map(|c| (c.id.clone(), c.clone())).collect();
        self.maintenance = maintenance;
    }

    /// Whether a maintenance window (configured or started by hand) covers
    /// `check` at `at`.
    pub fn in_maintenance(&self, check: &CheckId, at: Timestamp) -> bool {
        self.maintenance
            .iter()
            .any(|m| m.covers(check) && m.open_at(at).is_some())
            || self.adhoc.iter().any(|m| m.covers(check) && m.open_at(at))
    }

    fn refresh_adhoc(&mut self, now: Timestamp) -> Result<(), StoreError> {
        if self
            .adhoc_read_at
            .is_some_and(|t| now - t < ADHOC_REFRESH_MS && now >= t)
        {
            return Ok(());
        }
        // Windows that ended up to a day ago still matter for outages
        // that began during them.
        self.adhoc = self.store.maintenance_after(now - 86_400_000)?;
        self.adhoc_read_at = Some(now);
        Ok(())
    }

    fn opens_incident(check: &Check, status: Status) -> bool {
        status == Status::Down
            || (status == Status::Degraded && check.alerting.incident_on_degraded)
    }

    fn resolves_incident(check: &Check, status: Status) -> bool {
        // Unknown keeps an incident open: not knowing is not recovery.
        status == Status::Up || (status == Status::Degraded && !check.alerting.incident_on_degraded)
    }

    /// The root open incident among the check's ancestors, if any.
    fn root_cause(&self, id: &CheckId) -> Option<i64> {
        let parents = self.checks.get(id).map(|c| &c.depends_on)?;
        if parents.is_empty() {
            return None;
        }
        let mut best: Option<&Incident> = None;
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<CheckId> = parents.clone();
        while let Some(parent) = stack.pop() {
            if !seen.insert(parent.clone()) {
                continue;
            }
            if let Some(inc) = self.open.get(&parent) {
                // Prefer the incident that has no cause itself (the root),
                // then the earliest.
                let better = match best {
                    None => true,
                    Some(b) => {
                        (inc.cause.is_none(), -inc.opened_at) > (b.cause.is_none(), -b.opened_at)
                    }
                };
                if better {
                    best = Some(inc);
                }
            }
            if let Some(c) = self.checks.get(&parent) {
                stack.extend(c.depends_on.iter().cloned());
            }
        }
        best.map(|i| i.cause.unwrap_or(i.id))
    }

    /// Feeds one result of `check`, started at `at`.
    pub fn observe(
        &mut self,
        check: &Check,
        at: Timestamp,
        outcome: &Outcome,
    ) -> Result<Observed, StoreError> {
        Ok(self
            .observe_batch(&[(check, at, outcome)])?
            .pop()
            .unwrap_or_default())
    }

    /// Feeds a batch of results (in order); incidents they open or resolve
    /// are written in one transaction each, so thousands of simultaneous
    /// failures cost a few commits, not thousands. Returns one [`Observed`]
    /// per result, in order.
    pub fn observe_batch(
        &mut self,
        items: &[(&Check, Timestamp, &Outcome)],
    ) -> Result<Vec<Observed>, StoreError> {
        let mut out: Vec<Observed> = Vec::with_capacity(items.len());
        let mut resolves: Vec<(usize, Incident, Timestamp)> = Vec::new();
        let mut opens: Vec<(usize, NewIncident)> = Vec::new();
        let mut opening: std::collections::HashSet<CheckId> = std::collections::HashSet::new();
        // 1. State machines.
        for (i, (check, at, outcome)) in items.iter().enumerate() {
            let mut o = Observed::default();
            let policy = policy(check);
            let state = self.states.entry(check.id.clone()).or_default();
            let step = state.observe(outcome.status, *at, &policy);
            let flapping = state.flapping();
            if step.retry_soon {
                o.retry_at = Some(at + check.alerting.retry_interval.as_millis() as i64);
            }
            if let Some(f) = step.flap {
                o.events.push(IncidentEvent::Flapping {
                    check: check.id.clone(),
                    started: f == FlapEvent::Started,
                });
            }
            out.push(o);
            let Some(change) = step.change else { continue };
            let pending_open = opening.contains(&check.id);
            match self.open.get(&check.id) {
                None if !pending_open && Self::opens_incident(check, change.to) => {
                    // Maintenance mutes alerts; the incident is still
                    // recorded, marked so that SLA accounting can exclude it.
                    self.refresh_adhoc(*at)?;
                    let maintenance = self.in_maintenance(&check.id, change.since)
                        || self.in_maintenance(&check.id, *at);
                    opening.insert(check.id.clone());
                    opens.push((
                        i,
                        NewIncident {
                            check: check.id.clone(),
                            status: change.to,
                            opened_at: change.since,
                            detected_at: *at,
                            cause: None,
                            suppressed: flapping || maintenance,
                            maintenance,
                            message: outcome.message.clone(),
                            findings: outcome.findings.clone(),
                        },
                    ));
                }
                Some(inc) if Self::resolves_incident(check, change.to) => {
                    resolves.push((i, inc.clone(), change.since));
                }
                _ => {}
            }
        }
        // 2. Recoveries, then the children they release.
        if !resolves.is_empty() {
            let rows: Vec<(i64, Timestamp)> =
                resolves.iter().map(|(_, inc, at)| (inc.id, *at)).collect();
            self.store.resolve_incidents_batch(&rows)?;
            for (i, mut inc, at) in resolves {
                self.open.remove(&inc.check);
                inc.resolved_at = Some(at);
                out[i].events.push(IncidentEvent::Resolved {
                    notify: !inc.suppressed,
                    incident: inc.clone(),
                });
                let released = self.release_children(inc.id)?;
                out[i].events.extend(released);
            }
        }
        // 3. New incidents: stored first, then attributed to causes (a
        //    parent failing in the same batch counts).
        if !opens.is_empty() {
            let (positions, news): (Vec<usize>, Vec<NewIncident>) = opens.into_iter().unzip();
            let stored = self.store.open_incidents_batch(news)?;
            for inc in &stored {
                self.open.insert(inc.check.clone(), inc.clone());
            }
            // (`stored` is consumed below, after causes are known.)
            let mut causes = Vec::new();
            for inc in &stored {
                if let Some(cause) = self.root_cause(&inc.check).filter(|c| *c != inc.id) {
                    causes.push((inc.id, Some(cause), true));
                }
            }
            let mut cause_of: HashMap<i64, Option<i64>> = HashMap::new();
            if !causes.is_empty() {
                self.store.set_incident_causes_batch(&causes)?;
                cause_of = causes.iter().map(|(id, cause, _)| (*id, *cause)).collect();
            }
            for (i, mut incident) in positions.into_iter().zip(stored) {
                if let Some(cause) = cause_of.get(&incident.id) {
                    incident.cause = *cause;
                    incident.suppressed = true;
                    if let Some(open) = self.open.get_mut(&incident.check) {
                        open.cause = *cause;
                        open.suppressed = true;
                    }
                }
                let notify = !incident.suppressed;
                out[i]
                    .events
                    .push(IncidentEvent::Opened { incident, notify });
            }
        }
        Ok(out)
    }

    /// After incident `cause` resolved: children it suppressed that are
    /// still failing become incidents of their own.
    fn release_children(&mut self, cause: i64) -> Result<Vec<IncidentEvent>, StoreError> {
        let mut events = Vec::new();
        let children: Vec<CheckId> = self
            .open
            .iter()
            .filter(|(_, i)| i.cause == Some(cause))
            .map(|(c, _)| c.clone())
            .collect();
        for child in children {
            // A child may have another ancestor still down.
            let other = self.root_cause(&child).filter(|c| *c != cause);
            let flapping = self.states.get(&child).is_some_and(CheckState::flapping);
            let Some(inc) = self.open.get_mut(&child) else {
                continue;
            };
            self.store.set_incident_cause(
                inc.id,
                other.or(inc.cause),
                other.is_some() || flapping || inc.maintenance,
            )?;
            inc.cause = other.or(inc.cause);
            inc.suppressed = other.is_some() || flapping || inc.maintenance;
            if !inc.suppressed {
                events.push(IncidentEvent::Released {
                    incident: inc.clone(),
                });
            }
        }
        Ok(events)
    }
}
