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
//! Checks run at their own slots, so a child often confirms its failure
//! before its parent has even run again (an expired certificate fails the
//! home page a second before the `tls` check sees it). A confirmed failure
//! whose parents have not been heard from since it began therefore waits
//! before opening: the stale parents are run at once ([`Observed::ask`]),
//! and the child opens when every parent is settled: its incident open
//! (the child is its consequence), or a result since the child began
//! failing and no unconfirmed failure (the child is an outage of its own).
//! A parent that does not answer within its timeouts and retries is not
//! waited for longer. The same holds the other way: when a cause recovers,
//! a child still failing by its last result, which predates the recovery,
//! is run at once and released only if that run still fails; a success
//! resolves it unannounced, as a consequence. Neither wait is lost on a
//! restart: a confirmed failure without an incident is confirmed again,
//! and a consequence of a resolved cause waits for its next run.
//!
//! The engine says *what happened* ([`IncidentEvent`]); who is told, when
//! and how is the notification pipeline's business.

use crate::state::{CheckState, FlapEvent, Policy};
use keepup_config::Check;
use keepup_config::maintenance::Maintenance;
use keepup_model::{CheckId, Outcome, Status, Timestamp};
use keepup_store::{
    AdhocMaintenance, Incident, IncidentChanges, IncidentRef, NewIncident, Store, StoreError,
};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

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
    /// Run these parents now: this check's confirmed failure waits for
    /// their results before it opens an incident.
    pub ask: Vec<CheckId>,
    /// Events, in order.
    pub events: Vec<IncidentEvent>,
}

/// The number of each check's open incident, as last committed.
pub type OpenIncidents = HashMap<CheckId, i64>;

/// Where the engine publishes [`OpenIncidents`] after every change, for
/// readers (pages, API answers) that would otherwise ask the store on
/// every request, or wait for the engine's lock during a commit.
pub type OpenIncidentsSlot = Arc<Mutex<Arc<OpenIncidents>>>;

/// Per-check states, open incidents and the dependency graph.
pub struct IncidentEngine {
    store: Store,
    checks: HashMap<CheckId, Arc<Check>>,
    states: HashMap<CheckId, CheckState>,
    /// Open incident per check.
    open: HashMap<CheckId, Incident>,
    /// `open`'s numbers, published.
    published: OpenIncidentsSlot,
    /// Configured maintenance windows.
    maintenance: Vec<Maintenance>,
    /// Windows started from the command line (read from the store, cached).
    adhoc: Vec<AdhocMaintenance>,
    adhoc_read_at: Option<Timestamp>,
    /// Confirmed failures waiting for their parents' results.
    awaiting: HashMap<CheckId, Awaiting>,
    /// When each parent's latest result started (only parents: the waits
    /// ask for nothing else, and most checks are nobody's parent).
    seen_at: HashMap<CheckId, Timestamp>,
    /// Every check some check depends on.
    parents: HashSet<CheckId>,
    /// Children whose cause resolved before they ran again: the resolved
    /// incident and when its check was first seen up again.
    rechecks: HashMap<CheckId, (i64, Timestamp)>,
    /// Checks an `[[action]]` remediates: flapping does not mute their
    /// incidents, since the remediation stops running then and a person
    /// must hear of it (see `alerting`).
    remediated: HashSet<CheckId>,
}

/// A confirmed failure not opened yet: its parents are being heard first.
#[derive(Debug, Clone)]
struct Awaiting {
    incident: NewIncident,
    /// After this, parents that have not reported are not waited for.
    until: Timestamp,
}

/// Whether a parent is settled for a child that began failing at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parent {
    /// Its incident is open, or it reported since then without failing.
    Settled,
    /// Failing but unconfirmed, or waiting for its own parents.
    Waiting,
    /// Not heard from since then: to be run now.
    Stale,
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
            published: OpenIncidentsSlot::default(),
            maintenance: Vec::new(),
            adhoc: Vec::new(),
            adhoc_read_at: None,
            awaiting: HashMap::new(),
            seen_at: HashMap::new(),
            parents: HashSet::new(),
            rechecks: HashMap::new(),
            remediated: HashSet::new(),
        };
        engine.configure(checks, Vec::new());
        // A failure confirmed but not opened when keepup stopped (waiting
        // for its parents, or its incident's write lost) is confirmed again
        // from the next results, or it would never open.
        let unopened: Vec<CheckId> = engine
            .states
            .iter()
            .filter(|(id, state)| {
                !engine.open.contains_key(*id)
                    && engine.checks.get(*id).is_some_and(|c| {
                        state
                            .confirmed()
                            .is_some_and(|s| Self::opens_incident(c, s))
                    })
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in unopened {
            engine.states.remove(&id);
        }
        // Consequences of a cause that resolved before they ran again: their
        // next run decides, as before the stop.
        let open_ids: HashSet<i64> = engine.open.values().map(|i| i.id).collect();
        for inc in engine.open.values() {
            if let Some(cause) = inc.cause.filter(|c| !open_ids.contains(c)) {
                engine
                    .rechecks
                    .insert(inc.check.clone(), (cause, Timestamp::MIN));
            }
        }
        engine.publish();
        Ok(engine)
    }

    /// Where the open incidents' numbers are published (see
    /// [`OpenIncidentsSlot`]).
    pub fn published(&self) -> OpenIncidentsSlot {
        self.published.clone()
    }

    /// Publishes `open`'s numbers; called after every change to it.
    fn publish(&self) {
        let numbers: OpenIncidents = self
            .open
            .iter()
            .map(|(check, i)| (check.clone(), i.id))
            .collect();
        *self.published.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(numbers);
    }

    /// Replaces the configured checks (reload); states of known checks stay.
    pub fn configure(&mut self, checks: &[Arc<Check>], maintenance: Vec<Maintenance>) {
        self.checks = checks.iter().map(|c| (c.id.clone(), c.clone())).collect();
        self.maintenance = maintenance;
        self.parents = checks
            .iter()
            .flat_map(|c| c.depends_on.iter().cloned())
            .collect();
        let known = &self.checks;
        self.awaiting.retain(|id, _| known.contains_key(id));
        self.rechecks.retain(|id, _| known.contains_key(id));
        let parents = &self.parents;
        self.seen_at.retain(|id, _| parents.contains(id));
    }

    /// The checks `[[action]]`s remediate (their confirmed failures run
    /// them): flapping does not mute these checks' incidents.
    pub fn set_remediated(&mut self, checks: HashSet<CheckId>) {
        self.remediated = checks;
    }

    /// Whether flapping mutes `check`'s incidents.
    fn flapping_mutes(&self, check: &CheckId, flapping: bool) -> bool {
        flapping && !self.remediated.contains(check)
    }

    /// Whether a maintenance window (configured or started by hand) covers
    /// `check` at `at`.
    pub fn in_maintenance(&self, check: &CheckId, at: Timestamp) -> bool {
        self.maintenance
            .iter()
            .any(|m| m.covers(check) && m.open_at(at).is_some())
            || self.adhoc.iter().any(|m| {
                m.open_at(at)
                    && m.covers(check, |tag| {
                        self.checks.get(check).is_some_and(|c| c.carries_tag(tag))
                    })
            })
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

    /// Feeds a batch of results (in order); the incidents they open,
    /// resolve or release are written in one transaction, so thousands of
    /// simultaneous failures cost one commit, not thousands. Returns one
    /// [`Observed`] per result, in order.
    ///
    /// The batch is atomic: state machines and open incidents change only
    /// once the store has committed. If the store fails, the engine is as
    /// it was before the call and the same batch can be fed again (the
    /// recorder does so) to open exactly the incidents that are due.
    ///
    /// A check should appear at most once per call: a second confirmed
    /// change of the same check within one call is not acted on (the
    /// recorder splits its batches into rounds for this).
    pub fn observe_batch(
        &mut self,
        items: &[(&Check, Timestamp, &Outcome)],
    ) -> Result<Vec<Observed>, StoreError> {
        let mut out: Vec<Observed> = Vec::with_capacity(items.len());
        // Working copies of the states this batch touches.
        let mut states: HashMap<CheckId, CheckState> = HashMap::new();
        let mut resolves: Vec<(usize, Incident, Timestamp)> = Vec::new();
        let mut opens: Vec<(usize, NewIncident)> = Vec::new();
        let mut changed: HashSet<CheckId> = HashSet::new();
        // 1. State machines.
        for (i, (check, at, outcome)) in items.iter().enumerate() {
            let mut o = Observed::default();
            let policy = policy(check);
            let state = states
                .entry(check.id.clone())
                .or_insert_with(|| self.states.get(&check.id).cloned().unwrap_or_default());
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
            // One incident change per check and call: the recorder feeds
            // a check seen twice in a batch in two rounds.
            if changed.contains(&check.id) {
                continue;
            }
            match self.open.get(&check.id) {
                None if Self::opens_incident(check, change.to) => {
                    // Maintenance mutes alerts; the incident is still
                    // recorded, marked so that SLA accounting can exclude it.
                    self.refresh_adhoc(*at)?;
                    let maintenance = self.in_maintenance(&check.id, change.since)
                        || self.in_maintenance(&check.id, *at);
                    changed.insert(check.id.clone());
                    opens.push((
                        i,
                        NewIncident {
                            check: check.id.clone(),
                            status: change.to,
                            opened_at: change.since,
                            detected_at: *at,
                            cause: None,
                            suppressed: self.flapping_mutes(&check.id, flapping) || maintenance,
                            maintenance,
                            message: outcome.message.clone(),
                            findings: outcome.findings.clone(),
                        },
                    ));
                }
                Some(inc) if Self::resolves_incident(check, change.to) => {
                    changed.insert(check.id.clone());
                    resolves.push((i, inc.clone(), change.since));
                }
                _ => {}
            }
        }
        // 1b. Confirmed failures wait for parents not heard from since they
        //     began (see the module's doc).
        let batch_seen: HashMap<CheckId, Timestamp> = items
            .iter()
            .filter(|(c, _, _)| self.parents.contains(&c.id))
            .fold(HashMap::new(), |mut seen, (c, at, _)| {
                let t = seen.entry(c.id.clone()).or_insert(*at);
                *t = (*t).max(*at);
                seen
            });
        let awaiting = self.hear_parents(&mut opens, &mut out, items, &states, &batch_seen);
        let resolving: HashSet<CheckId> =
            resolves.iter().map(|(_, i, _)| i.check.clone()).collect();
        let mut rechecks = self.rechecks.clone();
        // (position of the result, released child, the resolved cause)
        let mut to_release = self.rechecked(items, &mut rechecks, &resolving);
        if resolves.is_empty() && opens.is_empty() && to_release.is_empty() {
            self.states.extend(states);
            self.seen_at.extend(batch_seen);
            self.awaiting = awaiting;
            self.rechecks = rechecks;
            return Ok(out);
        }
        // 2. What the batch does to incidents, decided on a copy of the
        //    open incidents. New incidents carry placeholder ids (-1, -2,
        //    ...) until the store assigns theirs.
        let mut open = self.open.clone();
        let mut changes = IncidentChanges::default();
        // (position of the result, released child)
        let mut released: Vec<(usize, CheckId)> = Vec::new();
        for (_, inc, at) in &resolves {
            open.remove(&inc.check);
            changes.resolve.push((inc.id, *at));
        }
        let mut asked: Vec<(usize, CheckId)> = Vec::new();
        for (i, inc, at) in &resolves {
            // Children it suppressed that still fail after it recovered
            // become incidents of their own (unless another ancestor is
            // still down); their next run decides.
            for (child, _) in open.iter().filter(|(_, c)| c.cause == Some(inc.id)) {
                rechecks.insert(child.clone(), (inc.id, *at));
                asked.push((*i, child.clone()));
            }
        }
        to_release.extend(self.rechecked(items, &mut rechecks, &resolving));
        for (i, child) in asked {
            if rechecks.contains_key(&child) {
                out[i].ask.push(child);
            }
        }
        for (i, child, gone) in to_release {
            let other = root_cause(&self.checks, &open, &child).filter(|c| *c != gone);
            let flapping = states
                .get(&child)
                .or_else(|| self.states.get(&child))
                .is_some_and(CheckState::flapping);
            let Some(c) = open.get_mut(&child) else {
                continue;
            };
            c.cause = other.or(c.cause);
            c.suppressed =
                other.is_some() || self.flapping_mutes(&child, flapping) || c.maintenance;
            changes.causes.push((
                IncidentRef::Stored(c.id),
                c.cause.map(IncidentRef::Stored),
                c.suppressed,
            ));
            released.push((i, child));
        }
        let placeholder = |k: usize| -(k as i64) - 1;
        let as_ref = |id: i64| {
            if id < 0 {
                IncidentRef::New((-id - 1) as usize)
            } else {
                IncidentRef::Stored(id)
            }
        };
        for (k, (_, new)) in opens.iter().enumerate() {
            // As the engine sees it until the store has given it its number.
            open.insert(new.check.clone(), new.clone().opened_as(placeholder(k)));
        }
        // A parent failing in the same batch counts as a cause.
        for (k, (_, new)) in opens.iter().enumerate() {
            if let Some(cause) =
                root_cause(&self.checks, &open, &new.check).filter(|c| *c != placeholder(k))
            {
                changes
                    .causes
                    .push((IncidentRef::New(k), Some(as_ref(cause)), true));
            }
        }
        let (positions, news): (Vec<usize>, Vec<NewIncident>) = opens.into_iter().unzip();
        changes.open = news;
        // 3. One commit; only then does the engine move on.
        let stored = self.store.apply_incident_changes(changes)?;
        let mut open_changed = !resolves.is_empty();
        self.states.extend(states);
        self.seen_at.extend(batch_seen);
        self.awaiting = awaiting;
        self.rechecks = rechecks;
        for (i, mut inc, at) in resolves {
            self.open.remove(&inc.check);
            inc.resolved_at = Some(at);
            out[i].events.push(IncidentEvent::Resolved {
                notify: !inc.suppressed,
                incident: inc,
            });
        }
        for (i, child) in released {
            let Some(updated) = open.get(&child) else {
                continue;
            };
            self.open.insert(child, updated.clone());
            if !updated.suppressed {
                out[i].events.push(IncidentEvent::Released {
                    incident: updated.clone(),
                });
            }
        }
        for (i, incident) in positions.into_iter().zip(stored) {
            open_changed = true;
            self.open.insert(incident.check.clone(), incident.clone());
            let notify = !incident.suppressed;
            out[i]
                .events
                .push(IncidentEvent::Opened { incident, notify });
        }
        if open_changed {
            self.publish();
        }
        Ok(out)
    }
}

impl IncidentEngine {
    /// Resolves open incident `id` by hand (someone says it is over), with
    /// who did it and their note, and forgets its check's confirmed state:
    /// a check still failing confirms its failure again from its next
    /// results and opens a new incident, so resolving by hand never hides
    /// an outage. The incidents it caused wait for their checks' next runs,
    /// as when a cause recovers. Returns the resolved incident (with its
    /// event) and the checks to run now; None when the engine has no such
    /// open incident.
    pub fn resolve_by_hand(
        &mut self,
        id: i64,
        at: Timestamp,
        by: &str,
        note: &str,
    ) -> Result<Option<(IncidentEvent, Vec<CheckId>)>, StoreError> {
        let Some(check) = self
            .open
            .iter()
            .find(|(_, i)| i.id == id)
            .map(|(c, _)| c.clone())
        else {
            return Ok(None);
        };
        if !self.store.resolve_incident_by_hand(id, at, by, note)? {
            return Ok(None);
        }
        let forgotten = self.forget_resolved(&check, at);
        self.publish();
        Ok(forgotten)
    }

    /// Adopts the hand resolutions another process wrote to the store
    /// (`keepup resolve` beside the running daemon): each open incident
    /// the store says is resolved is forgotten as [`Self::resolve_by_hand`]
    /// forgets it. Returns their events and the checks to run now.
    pub fn adopt_store_resolutions(
        &mut self,
    ) -> Result<(Vec<IncidentEvent>, Vec<CheckId>), StoreError> {
        let ids: Vec<i64> = self.open.values().map(|i| i.id).collect();
        let resolved = self.store.resolved_among(&ids)?;
        let (mut events, mut checks) = (Vec::new(), Vec::new());
        for (id, at) in resolved {
            let Some(check) = self
                .open
                .iter()
                .find(|(_, i)| i.id == id)
                .map(|(c, _)| c.clone())
            else {
                continue;
            };
            if let Some((event, children)) = self.forget_resolved(&check, at) {
                events.push(event);
                checks.extend(children);
            }
        }
        if !events.is_empty() {
            self.publish();
        }
        Ok((events, checks))
    }

    /// Forgets `check`'s open incident, resolved by hand at `at`, and its
    /// confirmed state: a check still failing confirms its failure again
    /// and opens a new incident. The incidents it caused are run again.
    fn forget_resolved(
        &mut self,
        check: &CheckId,
        at: Timestamp,
    ) -> Option<(IncidentEvent, Vec<CheckId>)> {
        let mut incident = self.open.remove(check)?;
        let id = incident.id;
        self.states.remove(check);
        self.awaiting.remove(check);
        self.rechecks.remove(check);
        let children: Vec<CheckId> = self
            .open
            .iter()
            .filter(|(_, c)| c.cause == Some(id))
            .map(|(child, _)| child.clone())
            .collect();
        for child in &children {
            self.rechecks.insert(child.clone(), (id, at));
        }
        incident.resolved_at = Some(at);
        Some((
            IncidentEvent::Resolved {
                notify: !incident.suppressed,
                incident,
            },
            children,
        ))
    }
}

impl IncidentEngine {
    /// Splits the incidents due to open (`opens`, and those already
    /// waiting) into those that open now (left in `opens`) and those that
    /// wait for their parents (returned), asking for the stale parents' runs
    /// in `out`.
    fn hear_parents(
        &self,
        opens: &mut Vec<(usize, NewIncident)>,
        out: &mut [Observed],
        items: &[(&Check, Timestamp, &Outcome)],
        states: &HashMap<CheckId, CheckState>,
        batch_seen: &HashMap<CheckId, Timestamp>,
    ) -> HashMap<CheckId, Awaiting> {
        let Some(now) = items.iter().map(|(_, at, _)| *at).max() else {
            return self.awaiting.clone();
        };
        let state = |id: &CheckId| states.get(id).or_else(|| self.states.get(id));
        // Waits that are over without an incident: the check recovered or
        // was removed.
        let mut earlier: HashMap<CheckId, Awaiting> = self
            .awaiting
            .iter()
            .filter(|(id, _)| {
                self.checks.get(*id).is_some_and(|c| {
                    state(id)
                        .and_then(CheckState::confirmed)
                        .is_some_and(|s| Self::opens_incident(c, s))
                })
            })
            .map(|(id, a)| (id.clone(), a.clone()))
            .collect();
        let last = items.len() - 1;
        // (position for the events, incident, deadline, newly confirmed)
        let mut due: Vec<(usize, NewIncident, Timestamp, bool)> = opens
            .drain(..)
            .map(|(i, new)| {
                let until = earlier
                    .remove(&new.check)
                    .map(|a| a.until)
                    .unwrap_or_else(|| now + self.parent_bound_ms(&new.check));
                (i, new, until, true)
            })
            .collect();
        due.extend(
            earlier
                .into_values()
                .map(|a| (last, a.incident, a.until, false)),
        );
        let due_ids: HashSet<CheckId> = due.iter().map(|(_, n, _, _)| n.check.clone()).collect();
        // Grows until stable: a child of a waiting parent waits too.
        let mut waiting: HashSet<CheckId> = HashSet::new();
        loop {
            let mut grew = false;
            for (_, new, until, _) in &due {
                if waiting.contains(&new.check) {
                    continue;
                }
                let parents = self.checks.get(&new.check).map(|c| &c.depends_on);
                if parents.into_iter().flatten().any(|p| {
                    let past = now >= *until;
                    let s = self.parent(p, new.opened_at, state(p), batch_seen, &due_ids, &waiting);
                    s == Parent::Waiting || (s == Parent::Stale && !past)
                }) {
                    waiting.insert(new.check.clone());
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        let mut awaiting = HashMap::new();
        for (i, new, until, fresh) in due {
            if !waiting.contains(&new.check) {
                opens.push((i, new));
                continue;
            }
            if fresh {
                let parents = self.checks.get(&new.check).map(|c| &c.depends_on);
                let stale: Vec<CheckId> = parents
                    .into_iter()
                    .flatten()
                    .filter(|p| {
                        self.parent(p, new.opened_at, state(p), batch_seen, &due_ids, &waiting)
                            == Parent::Stale
                    })
                    .cloned()
                    .collect();
                tracing::debug!(check = %new.check, asked = ?stale, "a confirmed failure waits for its parents' results");
                out[i].ask = stale;
            }
            awaiting.insert(
                new.check.clone(),
                Awaiting {
                    incident: new,
                    until,
                },
            );
        }
        opens.sort_by_key(|(i, _)| *i);
        awaiting
    }

    /// The children waiting for a run since their cause recovered that got
    /// one in `items`: those still failing are to be released (returned
    /// with their position and the resolved cause), those resolving or no
    /// longer open are done; both leave `rechecks`. A success not yet
    /// confirmed, or an Unknown, waits for the next run.
    fn rechecked(
        &self,
        items: &[(&Check, Timestamp, &Outcome)],
        rechecks: &mut HashMap<CheckId, (i64, Timestamp)>,
        resolving: &HashSet<CheckId>,
    ) -> Vec<(usize, CheckId, i64)> {
        let mut release = Vec::new();
        for (i, (check, at, outcome)) in items.iter().enumerate() {
            let Some(&(gone, since)) = rechecks.get(&check.id) else {
                continue;
            };
            if *at < since {
                continue;
            }
            if resolving.contains(&check.id) || !self.open.contains_key(&check.id) {
                rechecks.remove(&check.id);
            } else if Self::opens_incident(check, outcome.status) {
                rechecks.remove(&check.id);
                release.push((i, check.id.clone(), gone));
            }
        }
        release
    }

    /// Where parent `id` stands for a child that began failing at `since`.
    fn parent(
        &self,
        id: &CheckId,
        since: Timestamp,
        state: Option<&CheckState>,
        batch_seen: &HashMap<CheckId, Timestamp>,
        due: &HashSet<CheckId>,
        waiting: &HashSet<CheckId>,
    ) -> Parent {
        let Some(check) = self.checks.get(id) else {
            return Parent::Settled;
        };
        if self.open.contains_key(id) {
            return Parent::Settled;
        }
        if waiting.contains(id) || state.is_some_and(CheckState::failing_unconfirmed) {
            return Parent::Waiting;
        }
        let seen = batch_seen.get(id).or_else(|| self.seen_at.get(id));
        // Passive checks (heartbeats, backups) are not run on demand.
        if due.contains(id)
            || seen.is_some_and(|t| *t >= since)
            || !matches!(check.spec, keepup_config::CheckSpec::Probe(_))
        {
            Parent::Settled
        } else {
            Parent::Stale
        }
    }

    /// How long a failure of `id` waits at most for its parents to report:
    /// the slowest parent's timeout and retries until it could confirm.
    fn parent_bound_ms(&self, id: &CheckId) -> i64 {
        let parents = self.checks.get(id).map(|c| &c.depends_on);
        parents
            .into_iter()
            .flatten()
            .filter_map(|p| self.checks.get(p))
            .map(|p| {
                let tries = p.alerting.failure_threshold.max(1);
                (p.timeout * (tries + 1) + p.alerting.retry_interval * tries).as_millis() as i64
            })
            .max()
            .unwrap_or(0)
    }
}

/// The root open incident among the ancestors of `id` (through
/// `depends_on`), if any.
fn root_cause(
    checks: &HashMap<CheckId, Arc<Check>>,
    open: &HashMap<CheckId, Incident>,
    id: &CheckId,
) -> Option<i64> {
    let parents = checks.get(id).map(|c| &c.depends_on)?;
    if parents.is_empty() {
        return None;
    }
    let mut best: Option<&Incident> = None;
    let mut seen = HashSet::new();
    let mut stack: Vec<CheckId> = parents.clone();
    while let Some(parent) = stack.pop() {
        if !seen.insert(parent.clone()) {
            continue;
        }
        if let Some(inc) = open.get(&parent) {
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
        if let Some(c) = checks.get(&parent) {
            stack.extend(c.depends_on.iter().cloned());
        }
    }
    best.map(|i| i.cause.unwrap_or(i.id))
}
