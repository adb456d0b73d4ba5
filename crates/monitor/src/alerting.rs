//! From incident events to delivered notifications: route, escalate,
//! enqueue durably, deliver with retries and fallback.
//!
//! 1. **Route**: an incident's site and severity pick the first matching
//!    `[[policy]]`; its levels name contacts, teams or channels.
//! 2. **Escalate**: level 1 goes out when the incident opens; each later
//!    level when its `after` has passed since detection without an
//!    acknowledgement; then reminders every `repeat_every`, at most
//!    `max_reminders`. An acknowledgement stops both and is itself
//!    announced to everyone already notified (so PagerDuty and Opsgenie
//!    acknowledge too); the resolution is announced with the outage
//!    duration.
//! 3. **Outbox**: every notification is written to the store before any
//!    attempt (see `keepup_store::outbox`), one row per channel, in the
//!    same transaction as the escalation progress it moves (groups waiting
//!    out their window, levels sent, reminders, channels told), so that a
//!    restart resumes each escalation where it was: a level that fell due
//!    while keepup was down goes out, a group stays one message.
//! 4. **Deliver**: due rows are claimed and sent concurrently, each under
//!    its channel's timeout; failures are retried with exponential backoff
//!    (or the provider's Retry-After); after [`FALLBACK_AFTER`] failed
//!    attempts a copy goes to the channel's `fallback` while the original
//!    keeps being retried; a permanent error (e.g. HTTP 400) stops retries
//!    at once and goes to the fallback.

use crate::incidents::IncidentEvent;
use crate::remediation::{self, AfterOpen, Held, Remedy, SavedHeld};
use keepup_config::routing::Policy;
use keepup_config::{Config, NoteSource, RunbookNote};
use keepup_model::text::duration_compact;
use keepup_model::{CheckId, Clock, Severity, Status, Timestamp};
use keepup_notify::{
    Channel, CheckSummary, Event, HttpClientContext, Notification, PastResolution,
};
use keepup_store::MemoChange;
use keepup_store::{Incident, OutboxEntry, Outgoing, Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Failed attempts after which a copy goes to the fallback channel.
pub const FALLBACK_AFTER: u32 = 3;
/// Attempts after which a retryable failure is given up.
const MAX_ATTEMPTS: u32 = 30;
/// How long a claimed row may be in flight before it is due again; longer
/// than any delivery may take (channel timeouts are minutes at most).
const LEASE_MS: i64 = 600_000;
/// Deliveries in flight at once.
const MAX_IN_FLIGHT: usize = 64;

/// Escalation progress of one notified incident, or of a group of
/// incidents of one site that started together and are told as one.
#[derive(Debug, Clone)]
struct Progress {
    /// The incidents (the first is the leader; one for a single incident).
    members: Vec<Incident>,
    /// Members already resolved.
    resolved: Vec<i64>,
    policy: String,
    levels_sent: usize,
    reminders: u32,
    last_sent: Timestamp,
    /// Channels told so far (for acknowledge and resolve notices).
    told: Vec<String>,
    acknowledged: bool,
}

impl Progress {
    fn leader(&self) -> &Incident {
        &self.members[0]
    }
    fn dedup_key(&self) -> String {
        if self.members.len() == 1 {
            format!("keepup-incident-{}", self.leader().id)
        } else {
            format!("keepup-group-{}", self.leader().id)
        }
    }
}

/// The memo kind of escalations in progress (by leader incident id).
const ESCALATION: &str = "escalation";
/// The memo kind of groups waiting out their window (by site and policy).
const ESCALATION_GROUP: &str = "escalation_group";

/// [`Progress`] as stored: incidents by number, read back at resume.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedProgress {
    members: Vec<i64>,
    resolved: Vec<i64>,
    policy: String,
    levels_sent: usize,
    reminders: u32,
    last_sent: Timestamp,
    told: Vec<String>,
    acknowledged: bool,
}

impl From<&Progress> for SavedProgress {
    fn from(p: &Progress) -> Self {
        Self {
            members: p.members.iter().map(|m| m.id).collect(),
            resolved: p.resolved.clone(),
            policy: p.policy.clone(),
            levels_sent: p.levels_sent,
            reminders: p.reminders,
            last_sent: p.last_sent,
            told: p.told.clone(),
            acknowledged: p.acknowledged,
        }
    }
}

/// [`Pending`] as stored.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedPending {
    site: String,
    members: Vec<i64>,
    policy: String,
    deadline: Timestamp,
}

fn group_key(site: &str, policy: &str) -> String {
    format!("{site}\n{policy}")
}

/// Incidents waiting out the group window before the first message.
#[derive(Debug, Clone)]
struct Pending {
    members: Vec<Incident>,
    policy: String,
    deadline: Timestamp,
}

/// The alerting state shared by the event handler and the two loops.
pub struct Alerter {
    store: Store,
    clock: Arc<dyn Clock>,
    config: Mutex<Arc<Config>>,
    channels: Mutex<HashMap<String, Arc<dyn Channel>>>,
    http: HttpClientContext,
    /// Keyed by the leader's incident id.
    progress: Mutex<HashMap<i64, Progress>>,
    /// Keyed by (site, policy).
    pending: Mutex<HashMap<(String, String), Pending>>,
    in_flight: Arc<tokio::sync::Semaphore>,
    /// Notifications decided but not yet written (flushed per batch).
    outgoing: Mutex<Vec<Outgoing>>,
    /// Escalations (by leader) and groups changed since the last write.
    dirty_progress: Mutex<HashSet<i64>>,
    dirty_pending: Mutex<HashSet<(String, String)>>,
    /// The action engine remediations run through (none: nothing is
    /// remediated, as for an alerter built alone).
    actions: remediation::EngineSlot,
    /// Pages held while their incident's remediation runs (by incident).
    held: Mutex<HashMap<i64, Held>>,
    dirty_held: Mutex<HashSet<i64>>,
    /// Remediations decided, to be started by the alerting loop.
    remedies: Mutex<Vec<Remedy>>,
    /// Checks flapping now (from the incident engine's events).
    flapping: Mutex<HashSet<CheckId>>,
    /// `after_open` runs due, to be started by the alerting loop.
    after_open: Mutex<Vec<AfterOpen>>,
    /// `after_open` runs started by this process (action, incident) and
    /// when to try again (never: `i64::MAX`; a guard rail's skip: after
    /// [`AFTER_OPEN_RETRY_MS`]), so a tick does not start one again while it
    /// runs; the store's idempotency key is what makes it once across
    /// restarts.
    after_open_started: Mutex<HashMap<(String, i64), Timestamp>>,
}

/// How long after a guard rail skipped an `after_open` run it is tried
/// again while the incident is open: not at every 1 s tick.
const AFTER_OPEN_RETRY_MS: i64 = 10_000;

fn severity_of(status: Status) -> Severity {
    if status == Status::Down {
        Severity::Critical
    } else {
        Severity::Warning
    }
}

fn site_of(incident: &Incident) -> &str {
    incident
        .check
        .as_str()
        .split('/')
        .next()
        .unwrap_or_default()
}

impl Alerter {
    /// Builds the channels of `config`.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        config: Arc<Config>,
        http: HttpClientContext,
    ) -> Arc<Self> {
        let a = Arc::new(Self {
            store,
            clock,
            config: Mutex::new(config.clone()),
            channels: Mutex::new(HashMap::new()),
            http,
            progress: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
            outgoing: Mutex::new(Vec::new()),
            dirty_progress: Mutex::new(HashSet::new()),
            dirty_pending: Mutex::new(HashSet::new()),
            actions: Mutex::new(None),
            held: Mutex::new(HashMap::new()),
            dirty_held: Mutex::new(HashSet::new()),
            remedies: Mutex::new(Vec::new()),
            flapping: Mutex::new(HashSet::new()),
            after_open: Mutex::new(Vec::new()),
            after_open_started: Mutex::new(HashMap::new()),
        });
        a.configure(config);
        a
    }

    /// Applies a new configuration (channels rebuilt; escalation kept).
    pub fn configure(&self, config: Arc<Config>) {
        let built: HashMap<String, Arc<dyn Channel>> = config
            .channels
            .iter()
            .map(|c| (c.id.clone(), Arc::from(keepup_notify::build(c, &self.http))))
            .collect();
        *self.channels.lock().unwrap_or_else(|p| p.into_inner()) = built;
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
    }

    /// Runs the remediations of `[[action]]`s through `engine` (see
    /// `remediation`); without it, incidents are paged as they open.
    pub fn remediate_with(&self, engine: Arc<keepup_actions::Engine>) {
        *self.actions.lock().unwrap_or_else(|p| p.into_inner()) = Some(engine);
    }

    fn engine(&self) -> Option<Arc<keepup_actions::Engine>> {
        self.actions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn lock_held(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn touch_held(&self, incident: i64) {
        self.dirty_held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(incident);
    }

    /// The remediations decided since the last call (for the alerting
    /// loop to start).
    pub(crate) fn take_remedies(&self) -> Vec<Remedy> {
        std::mem::take(&mut *self.remedies.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The `after_open` runs found due since the last call.
    pub(crate) fn take_after_open(&self) -> Vec<AfterOpen> {
        std::mem::take(&mut *self.after_open.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Runs an `after_open` action for its incident (once: see
    /// `remediation::run_after_open`).
    pub(crate) async fn act_after_open(&self, due: AfterOpen) {
        let Some(engine) = self.engine() else { return };
        if remediation::run_after_open(&engine, &self.store, &due).await {
            let again = self.clock.now_ms().saturating_add(AFTER_OPEN_RETRY_MS);
            self.after_open_started
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((due.action.clone(), due.incident.id), again);
        }
    }

    /// Finds the `after_open` runs due at `now` among the open incidents
    /// and queues those this process has not started.
    fn find_after_open(&self, config: &Config, now: Timestamp) -> Result<(), StoreError> {
        if self.engine().is_none() || !remediation::has_after_open(config) {
            return Ok(());
        }
        let open = self.store.open_incidents()?;
        let due = remediation::after_open_due(config, &open, now);
        let mut started = self
            .after_open_started
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Forget incidents no longer open (bounded by the open ones).
        let open_ids: HashSet<i64> = open.iter().map(|i| i.id).collect();
        started.retain(|(_, id), _| open_ids.contains(id));
        let mut queue = self.after_open.lock().unwrap_or_else(|p| p.into_inner());
        for d in due {
            let again = started
                .entry((d.action.clone(), d.incident.id))
                .or_insert(now);
            if *again <= now {
                *again = i64::MAX;
                queue.push(d);
            }
        }
        Ok(())
    }

    /// Cancels the held pages of incidents acknowledged during their
    /// remediation or its grace: someone is on it, so nobody is paged
    /// (the incident's page shows the acknowledgement over the runs).
    fn cancel_acknowledged_holds(&self) -> Result<(), StoreError> {
        if self.lock_held().is_empty() {
            return Ok(());
        }
        let acknowledged = self.store.open_acknowledged()?;
        let cancelled: Vec<i64> = {
            let mut held = self.lock_held();
            let ids: Vec<i64> = held
                .keys()
                .copied()
                .filter(|id| acknowledged.contains(id))
                .collect();
            ids.into_iter()
                .filter(|id| held.remove(id).is_some())
                .collect()
        };
        for id in cancelled {
            self.touch_held(id);
            tracing::info!(
                incident = id,
                "acknowledged during its remediation: the held page is cancelled"
            );
        }
        Ok(())
    }

    /// The incidents whose page is held for their remediation.
    pub fn held_incidents(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.lock_held().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Runs a remediation and moves its held page's deadline to the end
    /// of the runs plus the grace (at once when no run acted).
    pub(crate) async fn remediate(&self, remedy: Remedy) {
        let Some(engine) = self.engine() else { return };
        let grace = remediation::run(&engine, &self.store, &remedy).await;
        if !remedy.held {
            return;
        }
        let now = self.clock.now_ms();
        let id = remedy.incident.id;
        if let Some(h) = self.lock_held().get_mut(&id) {
            h.deadline = now + grace.map(|g| g.as_millis() as i64).unwrap_or(0);
            tracing::info!(
                incident = id,
                page_at = h.deadline,
                "remediation ran: the page waits for the grace period"
            );
        } else {
            return;
        }
        self.touch_held(id);
    }

    /// Whether `incident`'s page waits for a remediation (decided and
    /// queued here); false: page it now.
    fn remediate_first(&self, config: &Config, incident: &Incident) -> bool {
        if self.engine().is_none() {
            return false;
        }
        let actions = remediation::actions_for(config, &incident.check, incident.status);
        if actions.is_empty() {
            return false;
        }
        let flapping = self
            .flapping
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&incident.check);
        let hold = remediation::hold_for(&actions).filter(|_| !flapping);
        self.remedies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Remedy {
                incident: incident.clone(),
                actions: remediation::names(&actions),
                flapping,
                held: hold.is_some(),
            });
        let Some((runs, grace)) = hold else {
            return false;
        };
        let deadline = self.clock.now_ms() + (runs + grace).as_millis() as i64;
        self.lock_held().insert(
            incident.id,
            Held {
                incident: incident.clone(),
                deadline,
            },
        );
        self.touch_held(incident.id);
        tracing::info!(incident = incident.id, check = %incident.check, "remediating before paging");
        true
    }

    /// Pages the held incidents whose deadline passed.
    fn release_held(&self, now: Timestamp) -> Result<(), StoreError> {
        let due: Vec<Held> = {
            let mut held = self.lock_held();
            let ids: Vec<i64> = held
                .iter()
                .filter(|(_, h)| h.deadline <= now)
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| held.remove(id)).collect()
        };
        for h in due {
            self.touch_held(h.incident.id);
            tracing::info!(incident = h.incident.id, check = %h.incident.check, "the remediation did not help: paging");
            self.page(&h.incident)?;
        }
        Ok(())
    }

    /// What a trigger or reminder of `p` says of its remediations.
    fn remediation_text(&self, config: &Config, p: &Progress) -> String {
        if config.actions.is_empty() {
            return String::new();
        }
        let ids: Vec<i64> = p.members.iter().map(|m| m.id).collect();
        let runs = match self.store.action_runs_of_incidents(&ids) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(incident = p.leader().id, error = %e, "remediation runs not read; notified without them");
                Vec::new()
            }
        };
        let flapping = self
            .flapping
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        remediation::notification_text(config, &p.members, &runs, &flapping)
    }

    fn config(&self) -> Arc<Config> {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn lock_progress(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Progress>> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks an escalation as changed: written with the next flush.
    fn touch_progress(&self, leader: i64) {
        self.dirty_progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(leader);
    }

    fn touch_pending(&self, key: &(String, String)) {
        self.dirty_pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone());
    }

    /// The memos of what changed since the last write (taken).
    #[allow(clippy::type_complexity)]
    fn memo_changes(
        &self,
    ) -> (
        Vec<MemoChange>,
        HashSet<i64>,
        HashSet<(String, String)>,
        HashSet<i64>,
    ) {
        let leaders = std::mem::take(
            &mut *self
                .dirty_progress
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        let groups =
            std::mem::take(&mut *self.dirty_pending.lock().unwrap_or_else(|p| p.into_inner()));
        let mut changes = Vec::with_capacity(leaders.len() + groups.len());
        {
            let progress = self.lock_progress();
            for leader in &leaders {
                let saved = progress
                    .get(leader)
                    .and_then(|p| serde_json::to_string(&SavedProgress::from(p)).ok());
                changes.push(match saved {
                    Some(json) => MemoChange::put(ESCALATION, leader.to_string(), json),
                    None => MemoChange::delete(ESCALATION, leader.to_string()),
                });
            }
        }
        let held_ids =
            std::mem::take(&mut *self.dirty_held.lock().unwrap_or_else(|p| p.into_inner()));
        {
            let held = self.lock_held();
            for id in &held_ids {
                let saved = held.get(id).and_then(|h| {
                    serde_json::to_string(&SavedHeld {
                        deadline: h.deadline,
                    })
                    .ok()
                });
                changes.push(match saved {
                    Some(json) => MemoChange::put(remediation::HELD, id.to_string(), json),
                    None => MemoChange::delete(remediation::HELD, id.to_string()),
                });
            }
        }
        let pending = self.lock_pending();
        for key in &groups {
            let saved = pending.get(key).and_then(|g| {
                serde_json::to_string(&SavedPending {
                    site: key.0.clone(),
                    members: g.members.iter().map(|m| m.id).collect(),
                    policy: g.policy.clone(),
                    deadline: g.deadline,
                })
                .ok()
            });
            let memo_key = group_key(&key.0, &key.1);
            changes.push(match saved {
                Some(json) => MemoChange::put(ESCALATION_GROUP, memo_key, json),
                None => MemoChange::delete(ESCALATION_GROUP, memo_key),
            });
        }
        (changes, leaders, groups, held_ids)
    }

    /// Resumes after a restart: escalations and groups where they were
    /// (as stored with the notifications they sent), the resolution notice
    /// of a group whose last incident resolved while nobody listened, and
    /// open incidents no escalation knows about: told now if nothing was
    /// ever queued for them, else (stores written before escalations were
    /// kept) with the levels their age makes due taken as sent.
    pub fn resume(&self) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let requeued = self.store.requeue_in_flight(now)?;
        if requeued > 0 {
            tracing::warn!(
                requeued,
                "notifications whose delivery was not confirmed before the last stop are sent again"
            );
        }
        let open: HashMap<i64, Incident> = self
            .store
            .open_incidents()?
            .into_iter()
            .map(|i| (i.id, i))
            .collect();
        let mut covered: HashSet<i64> = HashSet::new();
        let mut unreadable = Vec::new();
        for (key, json) in self.store.memos(ESCALATION)? {
            let saved: SavedProgress = match serde_json::from_str(&json) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(leader = %key, error = %e, "an escalation's stored progress is unreadable; dropped");
                    unreadable.push(MemoChange::delete(ESCALATION, key));
                    continue;
                }
            };
            let mut members = Vec::with_capacity(saved.members.len());
            for id in &saved.members {
                match open.get(id) {
                    Some(i) => members.push(i.clone()),
                    None => members.extend(self.store.incident(*id)?),
                }
            }
            if members.is_empty() {
                unreadable.push(MemoChange::delete(ESCALATION, key));
                continue;
            }
            covered.extend(members.iter().map(|m| m.id));
            let mut p = Progress {
                members,
                resolved: saved.resolved,
                policy: saved.policy,
                levels_sent: saved.levels_sent,
                reminders: saved.reminders,
                last_sent: saved.last_sent,
                told: saved.told,
                acknowledged: saved.acknowledged,
            };
            let leader = p.leader().id;
            // Resolved between the incident's commit and its notice.
            let missed: Vec<i64> = p
                .members
                .iter()
                .filter(|m| m.resolved_at.is_some() && !p.resolved.contains(&m.id))
                .map(|m| m.id)
                .collect();
            if !missed.is_empty() {
                p.resolved.extend(missed);
                self.touch_progress(leader);
            }
            if p.resolved.len() >= p.members.len() {
                self.enqueue(&p, Event::Resolve, &p.told, 0)?;
                self.touch_progress(leader);
                continue;
            }
            self.lock_progress().insert(leader, p);
        }
        for (key, json) in self.store.memos(ESCALATION_GROUP)? {
            let saved: SavedPending = match serde_json::from_str(&json) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(group = %key, error = %e, "a waiting group is unreadable; dropped");
                    unreadable.push(MemoChange::delete(ESCALATION_GROUP, key));
                    continue;
                }
            };
            // Resolved before the group was told: nothing to say.
            let members: Vec<Incident> = saved
                .members
                .iter()
                .filter_map(|id| open.get(id).cloned())
                .collect();
            let k = (saved.site, saved.policy.clone());
            self.touch_pending(&k);
            if members.is_empty() {
                continue;
            }
            covered.extend(members.iter().map(|m| m.id));
            self.lock_pending().insert(
                k,
                Pending {
                    members,
                    policy: saved.policy,
                    deadline: saved.deadline,
                },
            );
        }
        // Pages held for a remediation: still held; a remediation that
        // left no run (keepup stopped before it was recorded) runs again.
        for (key, json) in self.store.memos(remediation::HELD)? {
            let (Ok(id), Ok(saved)) =
                (key.parse::<i64>(), serde_json::from_str::<SavedHeld>(&json))
            else {
                tracing::warn!(incident = %key, "a held page is unreadable; dropped");
                unreadable.push(MemoChange::delete(remediation::HELD, key));
                continue;
            };
            let Some(incident) = open.get(&id).cloned() else {
                // Resolved while keepup was down: nobody is paged.
                unreadable.push(MemoChange::delete(remediation::HELD, key));
                continue;
            };
            covered.insert(id);
            let config = self.config();
            let actions = remediation::actions_for(&config, &incident.check, incident.status);
            let runs = self.store.action_runs_of_incidents(&[id])?;
            // The deadline stored first bounds runs that never ended; runs
            // that ended say it exactly (the later write may be lost).
            let deadline =
                remediation::deadline_after(&runs, &actions, now).unwrap_or(saved.deadline);
            if runs.is_empty() {
                self.remedies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Remedy {
                        incident: incident.clone(),
                        actions: remediation::names(&actions),
                        flapping: false,
                        held: true,
                    });
            }
            self.lock_held().insert(id, Held { incident, deadline });
        }
        self.store.write_memos(now, &unreadable)?;
        let notified = self.store.incidents_in_outbox()?;
        let mut unknown: Vec<&Incident> = open
            .values()
            .filter(|i| !i.suppressed && !covered.contains(&i.id))
            .collect();
        unknown.sort_by_key(|i| (i.opened_at, i.id));
        let config = self.config();
        for incident in unknown {
            if !notified.contains(&incident.id) {
                tracing::warn!(incident = incident.id, check = %incident.check, "an open incident was never told: telling it now");
                self.handle_one(&IncidentEvent::Opened {
                    incident: incident.clone(),
                    notify: true,
                })?;
                continue;
            }
            let severity = severity_of(incident.status);
            let Some(policy) = config.routing.policy_for(site_of(incident), severity) else {
                continue;
            };
            let elapsed = now - incident.detected_at;
            let levels_sent = policy
                .levels
                .iter()
                .filter(|l| l.after.as_millis() as i64 <= elapsed)
                .count();
            let told = policy.levels[..levels_sent]
                .iter()
                .flat_map(|l| {
                    l.notify.iter().flat_map(|t| {
                        config
                            .routing
                            .channels_of(t, severity, incident.detected_at)
                    })
                })
                .collect();
            self.touch_progress(incident.id);
            self.lock_progress().insert(
                incident.id,
                Progress {
                    policy: policy.id.clone(),
                    levels_sent,
                    reminders: 0,
                    last_sent: now,
                    told,
                    acknowledged: incident.acknowledged_at.is_some(),
                    members: vec![incident.clone()],
                    resolved: Vec::new(),
                },
            );
        }
        self.flush_outgoing()
    }

    /// Handles one incident event (enqueues what it calls for).
    pub fn handle(&self, event: &IncidentEvent) -> Result<(), StoreError> {
        self.handle_batch(std::slice::from_ref(event))
    }

    /// Handles a batch of events; what they call for is written to the
    /// outbox in one transaction.
    pub fn handle_batch(&self, events: &[IncidentEvent]) -> Result<(), StoreError> {
        let result = events.iter().try_for_each(|e| self.handle_one(e));
        let flushed = self.flush_outgoing();
        result.and(flushed)
    }

    /// Writes the buffered notifications to the outbox, with the
    /// escalation progress that decided them, in one transaction. On
    /// failure both are kept for the next flush.
    fn flush_outgoing(&self) -> Result<(), StoreError> {
        let items = std::mem::take(&mut *self.outgoing.lock().unwrap_or_else(|p| p.into_inner()));
        let (changes, leaders, groups, held) = self.memo_changes();
        let written = self
            .store
            .enqueue_with_memos(self.clock.now_ms(), &items, &changes);
        if written.is_err() {
            let mut outgoing = self.outgoing.lock().unwrap_or_else(|p| p.into_inner());
            let newer = std::mem::replace(&mut *outgoing, items);
            outgoing.extend(newer);
            drop(outgoing);
            self.dirty_progress
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(leaders);
            self.dirty_pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(groups);
            self.dirty_held
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(held);
        }
        written
    }

    fn handle_one(&self, event: &IncidentEvent) -> Result<(), StoreError> {
        match event {
            IncidentEvent::Opened {
                incident,
                notify: true,
            }
            | IncidentEvent::Released { incident } => {
                // A remediation first holds the page (or runs beside it).
                let held = self.remediate_first(&self.config(), incident);
                if !held {
                    self.page(incident)?;
                }
            }
            IncidentEvent::Flapping { check, started } => {
                let mut flapping = self.flapping.lock().unwrap_or_else(|p| p.into_inner());
                if *started {
                    flapping.insert(check.clone());
                } else {
                    flapping.remove(check);
                }
            }
            IncidentEvent::Resolved {
                incident,
                notify: true,
            } if self.lock_held().remove(&incident.id).is_some() => {
                // Recovered within the grace: the remediation helped,
                // nobody is paged (the incident's page shows the run).
                self.touch_held(incident.id);
                tracing::info!(incident = incident.id, check = %incident.check, "recovered after its remediation: not paged");
            }
            IncidentEvent::Resolved {
                incident,
                notify: true,
            } => {
                // Resolved before its group was told: nothing to say.
                let mut told_nothing = Vec::new();
                self.lock_pending().retain(|key, g| {
                    let before = g.members.len();
                    g.members.retain(|m| m.id != incident.id);
                    if g.members.len() != before {
                        told_nothing.push(key.clone());
                    }
                    !g.members.is_empty()
                });
                if !told_nothing.is_empty() {
                    for key in &told_nothing {
                        self.touch_pending(key);
                    }
                    return Ok(());
                }
                let leader = self
                    .lock_progress()
                    .iter()
                    .find(|(_, p)| p.members.iter().any(|m| m.id == incident.id))
                    .map(|(k, _)| *k);
                let Some(leader) = leader else { return Ok(()) };
                self.touch_progress(leader);
                let done = {
                    let mut all = self.lock_progress();
                    let Some(p) = all.get_mut(&leader) else {
                        return Ok(());
                    };
                    p.resolved.push(incident.id);
                    if let Some(m) = p.members.iter_mut().find(|m| m.id == incident.id) {
                        *m = incident.clone();
                    }
                    (p.resolved.len() == p.members.len()).then(|| p.clone())
                };
                if let Some(p) = done {
                    self.lock_progress().remove(&leader);
                    self.enqueue(&p, Event::Resolve, &p.told, 0)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Routes `incident` to its policy's group (told when the group's
    /// window has passed).
    fn page(&self, incident: &Incident) -> Result<(), StoreError> {
        let config = self.config();
        let Some(policy) = config
            .routing
            .policy_for(site_of(incident), severity_of(incident.status))
        else {
            tracing::warn!(incident = incident.id, check = %incident.check, "no [[policy]] matches this incident: nobody is notified");
            return Ok(());
        };
        let key = (site_of(incident).to_owned(), policy.id.clone());
        let now = self.clock.now_ms();
        let deadline = now + policy.group_window.as_millis() as i64;
        self.touch_pending(&key);
        self.lock_pending()
            .entry(key)
            .or_insert_with(|| Pending {
                members: Vec::new(),
                policy: policy.id.clone(),
                deadline,
            })
            .members
            .push(incident.clone());
        if policy.group_window.is_zero() {
            self.flush_groups(&config, now)?;
        }
        Ok(())
    }

    /// Sends the first message of every group whose window has passed.
    fn flush_groups(&self, config: &Config, now: Timestamp) -> Result<(), StoreError> {
        let ready: Vec<Pending> = {
            let mut pending = self.lock_pending();
            let keys: Vec<_> = pending
                .iter()
                .filter(|(_, g)| g.deadline <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for k in &keys {
                self.touch_pending(k);
            }
            keys.into_iter()
                .filter_map(|k| pending.remove(&k))
                .collect()
        };
        for g in ready {
            let Some(policy) = config.routing.policies.iter().find(|p| p.id == g.policy) else {
                continue;
            };
            let mut p = Progress {
                members: g.members,
                resolved: Vec::new(),
                policy: g.policy,
                levels_sent: 0,
                reminders: 0,
                last_sent: now,
                told: Vec::new(),
                acknowledged: false,
            };
            self.escalate(&mut p, policy, config)?;
            self.touch_progress(p.leader().id);
            self.lock_progress().insert(p.leader().id, p);
        }
        Ok(())
    }

    /// Sends the levels that are due.
    fn escalate(
        &self,
        p: &mut Progress,
        policy: &Policy,
        config: &Config,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let elapsed = now - p.leader().detected_at;
        let severity = p
            .members
            .iter()
            .map(|m| severity_of(m.status))
            .max()
            .unwrap_or(Severity::Critical);
        while let Some(level) = policy.levels.get(p.levels_sent) {
            // The first level goes out as soon as the group is told.
            if p.levels_sent > 0 && (level.after.as_millis() as i64) > elapsed {
                break;
            }
            let mut channels: Vec<String> = level
                .notify
                .iter()
                .flat_map(|t| config.routing.channels_of(t, severity, now))
                .collect();
            channels.dedup();
            self.enqueue(p, Event::Trigger, &channels, p.levels_sent + 1)?;
            for c in channels {
                if !p.told.contains(&c) {
                    p.told.push(c);
                }
            }
            p.levels_sent += 1;
            p.last_sent = now;
        }
        Ok(())
    }

    /// One pass of the escalation clock: groups due, acknowledgements,
    /// later levels, reminders.
    pub fn tick(&self) -> Result<(), StoreError> {
        let result = self.tick_inner();
        let flushed = self.flush_outgoing();
        result.and(flushed)
    }

    fn tick_inner(&self) -> Result<(), StoreError> {
        let config = self.config();
        let now = self.clock.now_ms();
        self.cancel_acknowledged_holds()?;
        self.release_held(now)?;
        self.find_after_open(&config, now)?;
        self.flush_groups(&config, now)?;
        let ids: Vec<i64> = self.lock_progress().keys().copied().collect();
        if ids.is_empty() {
            return Ok(());
        }
        // One query for all acknowledgements, not one read per incident per tick.
        let acknowledged = self.store.open_acknowledged()?;
        for id in ids {
            let Some(mut p) = self.lock_progress().get(&id).cloned() else {
                continue;
            };
            if p.acknowledged {
                continue;
            }
            // Any member acknowledged acknowledges the group.
            let mut acked = None;
            if let Some(m) = p.members.iter().find(|m| acknowledged.contains(&m.id)) {
                acked = self.store.incident(m.id)?;
            }
            if let Some(current) = acked {
                tracing::info!(incident = current.id, by = ?current.acknowledged_by, "acknowledged: escalation stopped");
                p.acknowledged = true;
                if let Some(m) = p.members.iter_mut().find(|m| m.id == current.id) {
                    *m = current;
                }
                self.enqueue(&p, Event::Acknowledge, &p.told, 0)?;
                self.touch_progress(id);
                self.lock_progress().insert(id, p);
                continue;
            }
            let Some(policy) = config.routing.policies.iter().find(|x| x.id == p.policy) else {
                continue;
            };
            let before = p.levels_sent;
            self.escalate(&mut p, policy, &config)?;
            if p.levels_sent == before
                && let Some(every) = policy.repeat_every
                && p.reminders < policy.max_reminders
                && now - p.last_sent >= every.as_millis() as i64
            {
                self.enqueue(&p, Event::Reminder, &p.told, 0)?;
                p.reminders += 1;
                p.last_sent = now;
            }
            if p.levels_sent != before || p.last_sent == now {
                self.touch_progress(id);
            }
            self.lock_progress().insert(id, p);
        }
        Ok(())
    }

    /// The message about group `p` (its id without the channel part).
    fn notification(
        &self,
        config: &Config,
        p: &Progress,
        event: Event,
        level: usize,
        now: Timestamp,
    ) -> Notification {
        let leader = p.leader();
        let name_of = |i: &Incident| {
            config
                .find_check(i.check.as_str())
                .map(|c| c.name.clone())
                .unwrap_or_else(|| i.check.to_string())
        };
        let names: Vec<String> = p.members.iter().map(name_of).collect();
        let checks: Vec<CheckSummary> = p
            .members
            .iter()
            .zip(&names)
            .map(|(i, name)| CheckSummary {
                id: i.check.to_string(),
                name: name.clone(),
                status: if event == Event::Resolve {
                    Status::Up
                } else {
                    i.status
                },
                message: i.message.clone(),
                since: Some(i.opened_at),
            })
            .collect();
        let started = p
            .members
            .iter()
            .map(|m| m.opened_at)
            .min()
            .unwrap_or(leader.opened_at);
        let resolved = if event == Event::Resolve {
            p.members.iter().filter_map(|m| m.resolved_at).max()
        } else {
            None
        };
        let status_word = leader.status.as_str().to_uppercase();
        let subject = if p.members.len() == 1 {
            leader.check.to_string()
        } else {
            format!("{} checks of {}", p.members.len(), site_of(leader))
        };
        let verb = if p.members.len() == 1 { "is" } else { "are" };
        let duration_ms = resolved.unwrap_or(now) - started;
        let (title, text) = match event {
            Event::Resolve => (
                format!("{subject} {verb} back UP"),
                format!("Recovered after {}.", incident_duration(duration_ms)),
            ),
            Event::Acknowledge => {
                let who = p
                    .members
                    .iter()
                    .find_map(|m| m.acknowledged_by.clone())
                    .unwrap_or_default();
                (format!("{subject} acknowledged"), format!("{who} took it."))
            }
            Event::Reminder => (
                format!("{subject} {verb} still {status_word}"),
                format!(
                    "Failing for {}: {}",
                    incident_duration(duration_ms),
                    leader.message
                ),
            ),
            _ => (
                format!("{subject} {verb} {status_word}"),
                if p.members.len() == 1 {
                    format!("{}: {}", names[0], leader.message)
                } else {
                    leader.message.clone()
                },
            ),
        };
        let text = if level > 1 {
            format!("{text}\n(escalation level {level}: not acknowledged yet)")
        } else {
            text
        };
        Notification {
            // Completed per channel by `enqueue`.
            id: format!("inc{}-{}-l{level}", leader.id, event.as_str()),
            dedup_key: p.dedup_key(),
            event,
            severity: p
                .members
                .iter()
                .map(|m| severity_of(m.status))
                .max()
                .unwrap_or(Severity::Critical),
            title,
            text,
            site: site_of(leader).to_owned(),
            checks,
            started_at: Some(started),
            resolved_at: resolved,
            duration_s: resolved.map(|r| ((r - started) / 1000).max(0) as u64),
            ack_url: match event {
                Event::Trigger | Event::Reminder => ack_link(config, leader),
                _ => None,
            },
            cause: leader.cause.map(|c| format!("caused by incident #{c}")),
            runbook: match event {
                Event::Trigger | Event::Reminder => runbook_notes(config, &p.members),
                _ => Vec::new(),
            },
            page_url: incident_page_link(config, leader),
            // Filled by `enqueue`, which may read the store.
            past_resolutions: Vec::new(),
            attachments: Vec::new(),
        }
    }

    fn enqueue(
        &self,
        p: &Progress,
        event: Event,
        channels: &[String],
        level: usize,
    ) -> Result<(), StoreError> {
        if channels.is_empty() {
            return Ok(());
        }
        let now = self.clock.now_ms();
        // Built once per group and event, then stamped per channel.
        let mut message = self.notification(&self.config(), p, event, level, now);
        if matches!(event, Event::Trigger | Event::Reminder) {
            message.past_resolutions = self.past_resolutions(p.leader());
            message
                .text
                .push_str(&self.remediation_text(&self.config(), p));
        }
        // The outbox keeps the notes by key, their text read when sending
        // (see `with_note_texts`): a row per channel, level and reminder
        // would otherwise hold up to 64 KiB of notes each.
        for note in &mut message.runbook {
            note.text.clear();
        }
        let base_id = std::mem::take(&mut message.id);
        let dedup_key = p.dedup_key();
        let items: Vec<Outgoing> = channels
            .iter()
            .map(|c| {
                message.id = format!("{base_id}-{c}-{now}");
                Outgoing {
                    dedup_key: dedup_key.clone(),
                    channel: c.clone(),
                    incident: Some(p.leader().id),
                    payload: serde_json::to_string(&message).unwrap_or_default(),
                    not_before: now,
                }
            })
            .collect();
        if !items.is_empty() {
            self.outgoing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(items);
            tracing::info!(incident = p.leader().id, incidents = p.members.len(), event = event.as_str(), channels = ?channels, "notifications queued");
        }
        Ok(())
    }

    /// What fixed the same check or the same finding codes before, for the
    /// people asked to act. A store that cannot tell costs the memory, not
    /// the notification.
    fn past_resolutions(&self, incident: &Incident) -> Vec<PastResolution> {
        let codes: Vec<&str> = incident.findings.iter().map(|f| f.code.as_str()).collect();
        match self
            .store
            .past_resolutions(&incident.check, &codes, Some(incident.id), None)
        {
            Ok(past) => past
                .iter()
                .map(|r| {
                    PastResolution::new(
                        r.incident,
                        r.check.as_str(),
                        r.opened_at,
                        r.resolved_at,
                        &r.by,
                        &r.note,
                    )
                })
                .collect(),
            Err(e) => {
                tracing::warn!(incident = incident.id, error = %e, "earlier resolutions not read; notified without them");
                Vec::new()
            }
        }
    }

    /// One pass of delivery: claims due rows and sends them concurrently.
    pub async fn deliver_due(self: &Arc<Self>) -> Result<usize, StoreError> {
        let now = self.clock.now_ms();
        let s = self.store.clone();
        let room = self.in_flight.available_permits();
        if room == 0 {
            return Ok(0);
        }
        let due = tokio::task::spawn_blocking(move || s.claim_due(now, room, LEASE_MS))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        let n = due.len();
        // Not awaited: a slow or silent channel must not hold up the next
        // pass (the lease keeps a row from being claimed twice meanwhile).
        for entry in due {
            let me = self.clone();
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                break;
            };
            tokio::spawn(async move {
                let _permit = permit;
                me.deliver(entry).await
            });
        }
        Ok(n)
    }

    async fn deliver(&self, entry: OutboxEntry) {
        let channel = self
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&entry.channel)
            .cloned();
        let mut parsed =
            serde_json::from_str::<Notification>(&entry.payload).map_err(Unsendable::Unreadable);
        if let Ok(n) = &mut parsed {
            let checks: Vec<CheckId> = n.checks.iter().map(|c| CheckId(c.id.clone())).collect();
            n.runbook = with_note_texts(&self.config(), &checks, std::mem::take(&mut n.runbook));
        }
        if let Ok(n) = &mut parsed
            && n.event == Event::Report
            && let Err(e) = self.attach_report(entry.id, n).await
        {
            parsed = Err(e);
        }
        let result = match (&channel, parsed) {
            (None, _) => Err(keepup_notify::SendError::permanent(format!(
                "channel {:?} is no longer configured",
                entry.channel
            ))),
            (_, Err(Unsendable::Unreadable(e))) => Err(keepup_notify::SendError::permanent(
                format!("unreadable notification: {e}"),
            )),
            (_, Err(Unsendable::Store(e))) => Err(keepup_notify::SendError::retryable(format!(
                "cannot read the report to attach: {e}"
            ))),
            (Some(ch), Ok(n)) => {
                let timeout = self
                    .config()
                    .channels
                    .iter()
                    .find(|c| c.id == entry.channel)
                    .map(|c| c.timeout)
                    .unwrap_or(Duration::from_secs(10));
                match tokio::time::timeout(timeout + Duration::from_secs(1), ch.send(&n)).await {
                    Ok(r) => r,
                    Err(_) => Err(keepup_notify::SendError::retryable(format!(
                        "no answer within {}s",
                        timeout.as_secs()
                    ))),
                }
            }
        };
        let now = self.clock.now_ms();
        let store = self.store.clone();
        let config = self.config();
        let outcome = tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            match result {
                Ok(d) => store.mark_sent(entry.id, now, d.provider_id.as_deref()),
                Err(e) => {
                    tracing::warn!(outbox = entry.id, channel = %entry.channel, attempt = entry.attempts, error = %e.message, retryable = e.retryable, "delivery failed");
                    let retry_at = (e.retryable && entry.attempts < MAX_ATTEMPTS).then(|| {
                        let backoff = e.retry_after.map(|d| d.as_millis() as i64).unwrap_or_else(|| (5_000i64 << entry.attempts.saturating_sub(1).min(6)).min(300_000));
                        now + backoff
                    });
                    store.mark_failed(entry.id, &e.message, retry_at)?;
                    let fall_back = retry_at.is_none() || entry.attempts == FALLBACK_AFTER;
                    let fallback = config.channels.iter().find(|c| c.id == entry.channel).and_then(|c| c.fallback.clone());
                    if fall_back && let Some(fb) = fallback {
                        tracing::warn!(outbox = entry.id, from = %entry.channel, to = %fb, "falling back to another channel");
                        store.enqueue_fallback(now, entry.id, &Outgoing { dedup_key: entry.dedup_key, channel: fb, incident: entry.incident, payload: entry.payload, not_before: now })?;
                    }
                    Ok(())
                }
            }
        })
        .await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot record a delivery result"),
            Err(e) => tracing::error!(error = %e, "delivery bookkeeping failed"),
        }
    }
}

/// Why an outbox entry cannot be sent as it is.
#[derive(Debug)]
enum Unsendable {
    /// Its payload is not a notification.
    Unreadable(serde_json::Error),
    /// What it carries could not be read (may work later).
    Store(StoreError),
}

impl Alerter {
    /// Attaches the kept SLA report that outbox entry `outbox_id` mails
    /// (its fallback copies mail it too).
    async fn attach_report(&self, outbox_id: i64, n: &mut Notification) -> Result<(), Unsendable> {
        let store = self.store.clone();
        let kept = tokio::task::spawn_blocking(move || store.report_of_notification(outbox_id))
            .await
            .map_err(|e| Unsendable::Store(StoreError::Task(e.to_string())))?
            .map_err(Unsendable::Store)?;
        if let Some((kept, files)) = kept {
            crate::reports::attach(n, &kept, files);
        }
        Ok(())
    }
}

/// How long an acknowledgement link stays valid after detection.
const ACK_LINK_VALIDITY_S: i64 = 7 * 86_400;

/// A signed acknowledgement link, when `[server]` has `public_url` and
/// `ack_key_*`.
pub fn ack_link(config: &Config, incident: &Incident) -> Option<String> {
    let (url, key) = (
        config.server.public_url.as_ref()?,
        config.server.ack_key.as_ref()?,
    );
    let signer = keepup_notify::ack::AckSigner::new(key.expose().as_bytes(), url);
    Some(signer.link(
        incident.id,
        incident.detected_at / 1000 + ACK_LINK_VALIDITY_S,
    ))
}

/// The incident's page on the dashboard, when `server.public_url` is set.
pub fn incident_page_link(config: &Config, incident: &Incident) -> Option<String> {
    let url = config.server.public_url.as_ref()?;
    Some(format!("{url}/incidents/{}", incident.id))
}

/// The most runbook text one notification carries: the outbox keeps every
/// notification until it is sent, and the incident page has every note.
pub const MAX_NOTIFICATION_RUNBOOK_BYTES: usize = 64 * 1024;

/// The runbook notes of a group's incidents (the leader's first, see
/// `keepup_config::Runbooks::notes_for`), each note once, within
/// [`MAX_NOTIFICATION_RUNBOOK_BYTES`] (see [`within_notes_cap`]).
fn runbook_notes(config: &Config, members: &[Incident]) -> Vec<RunbookNote> {
    let mut notes: Vec<RunbookNote> = Vec::new();
    for incident in members {
        let codes = incident.findings.iter().map(|f| f.code.as_str());
        for note in config.runbooks.notes_for(&incident.check, codes) {
            if !notes
                .iter()
                .any(|n| n.source == note.source && n.about == note.about)
            {
                notes.push(note);
            }
        }
    }
    within_notes_cap(notes)
}

/// At most [`MAX_NOTIFICATION_RUNBOOK_BYTES`] of notes' text, in order: a
/// note that would pass it is left out, never cut in the middle of its
/// Markdown.
fn within_notes_cap(notes: Vec<RunbookNote>) -> Vec<RunbookNote> {
    let mut bytes = 0;
    notes
        .into_iter()
        .filter(|note| {
            let fits = bytes + note.text.len() <= MAX_NOTIFICATION_RUNBOOK_BYTES;
            if fits {
                bytes += note.text.len();
            }
            fits
        })
        .collect()
}

/// The notes an outbox row names by key (source and subject, no text),
/// with their text in `config` as it is now: a reload since they were
/// queued shows the corrected note, a note removed meanwhile is left out
/// (the incident page has the current ones), a code's `[[runbook]]` and
/// keepup's default stand in for each other. A note that came with its
/// text (a row queued before notes were kept by key) is sent as it is.
/// A code's `[[runbook]]` is the one of the first of the notification's
/// `checks` it goes with (one narrowed to its site or tags first).
fn with_note_texts(
    config: &Config,
    checks: &[CheckId],
    notes: Vec<RunbookNote>,
) -> Vec<RunbookNote> {
    let books = &config.runbooks;
    let resolved = notes.into_iter().filter_map(|mut note| {
        if !note.text.is_empty() {
            return Some(note);
        }
        let (source, text) = match note.source {
            NoteSource::Check => (
                NoteSource::Check,
                books.check_note(&CheckId(note.about.clone()))?,
            ),
            NoteSource::Site => (NoteSource::Site, books.site_note(&note.about)?),
            NoteSource::Code | NoteSource::Default => {
                match checks.iter().find_map(|c| books.code_note(c, &note.about)) {
                    Some(text) => (NoteSource::Code, text),
                    None => (
                        NoteSource::Default,
                        keepup_model::runbook::default_note(&note.about)?,
                    ),
                }
            }
        };
        note.source = source;
        note.text = text.to_owned();
        Some(note)
    });
    within_notes_cap(resolved.collect())
}

/// How long an incident has lasted, in notification style ("1h 2m 3s").
fn incident_duration(ms: i64) -> String {
    duration_compact(Duration::from_secs(u64::try_from(ms / 1000).unwrap_or(0)))
}

/// Starts the remediations the alerter decided, each on a task of its own
/// (a run takes up to its action's timeout; events keep flowing).
fn start_remedies(alerter: &Arc<Alerter>) {
    for remedy in alerter.take_remedies() {
        let a = alerter.clone();
        tokio::spawn(async move { a.remediate(remedy).await });
    }
    for due in alerter.take_after_open() {
        let a = alerter.clone();
        tokio::spawn(async move { a.act_after_open(due).await });
    }
}

/// Runs the alerting loops until the event stream closes: events handled
/// as they come, escalation ticks every second, delivery every 500 ms.
pub async fn run(
    alerter: Arc<Alerter>,
    mut events: tokio::sync::broadcast::Receiver<IncidentEvent>,
) {
    let a = alerter.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || a.resume())
        .await
        .unwrap_or(Ok(()))
    {
        tracing::error!(error = %e, "cannot resume escalations");
    }
    start_remedies(&alerter);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = 0u64;
    loop {
        tokio::select! {
            e = events.recv() => match e {
                Ok(event) => {
                    // Take whatever else is already waiting: one outbox
                    // transaction for a burst of incidents.
                    let mut batch = vec![event];
                    while batch.len() < 20_000 {
                        match events.try_recv() {
                            Ok(e) => batch.push(e),
                            Err(_) => break,
                        }
                    }
                    let a = alerter.clone();
                    if let Ok(Err(err)) = tokio::task::spawn_blocking(move || a.handle_batch(&batch)).await {
                        tracing::error!(error = %err, "cannot queue notifications");
                    }
                    start_remedies(&alerter);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(k)) => tracing::error!(missed = k, "alerting fell behind the incident stream"),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                n += 1;
                if n.is_multiple_of(2) {
                    let a = alerter.clone();
                    if let Ok(Err(err)) = tokio::task::spawn_blocking(move || a.tick()).await {
                        tracing::error!(error = %err, "escalation pass failed");
                    }
                    start_remedies(&alerter);
                }
                if let Err(err) = alerter.deliver_due().await {
                    tracing::error!(error = %err, "delivery pass failed");
                }
            }
        }
    }
}
