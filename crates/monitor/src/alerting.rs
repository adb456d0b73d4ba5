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
//!    attempt (see `keepup_store::outbox`), one row per channel.
//! 4. **Deliver**: due rows are claimed and sent concurrently, each under
//!    its channel's timeout; failures are retried with exponential backoff
//!    (or the provider's Retry-After); after [`FALLBACK_AFTER`] failed
//!    attempts a copy goes to the channel's `fallback` while the original
//!    keeps being retried; a permanent error (e.g. HTTP 400) stops retries
//!    at once and goes to the fallback.

use crate::incidents::IncidentEvent;
use keepup_config::Config;
use keepup_config::routing::Policy;
use keepup_model::{Clock, Severity, Status, Timestamp};
use keepup_notify::{Channel, CheckSummary, Event, HttpClientContext, Notification};
use keepup_store::{Incident, OutboxEntry, Outgoing, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Failed attempts after which a copy goes to the fallback channel.
pub const FALLBACK_AFTER: u32 = 3;
/// Attempts after which a retryable failure is given up.
const MAX_ATTEMPTS: u32 = 30;
/// How long a claimed row may be in flight before it is due again.
const LEASE_MS: i64 = 120_000;

/// Escalation progress of one open incident.
#[derive(Debug, Clone)]
struct Progress {
    incident: Incident,
    policy: String,
    levels_sent: usize,
    reminders: u32,
    last_sent: Timestamp,
    /// Channels told so far (for acknowledge and resolve notices).
    told: Vec<String>,
    acknowledged: bool,
}

/// The alerting state shared by the event handler and the two loops.
pub struct Alerter {
    store: Store,
    clock: Arc<dyn Clock>,
    config: Mutex<Arc<Config>>,
    channels: Mutex<HashMap<String, Arc<dyn Channel>>>,
    http: HttpClientContext,
    progress: Mutex<HashMap<i64, Progress>>,
}

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

    fn config(&self) -> Arc<Config> {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Resumes escalation of open, notified incidents after a restart:
    /// levels already due are taken as sent (they were enqueued durably).
    pub fn resume(&self) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let requeued = self.store.requeue_in_flight(now)?;
        if requeued > 0 {
            tracing::warn!(
                requeued,
                "notifications whose delivery was not confirmed before the last stop are sent again"
            );
        }
        let config = self.config();
        for incident in self.store.open_incidents()? {
            if incident.suppressed {
                continue;
            }
            let Some(policy) = config
                .routing
                .policy_for(site_of(&incident), severity_of(incident.status))
            else {
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
                        config.routing.channels_of(
                            t,
                            severity_of(incident.status),
                            incident.detected_at,
                        )
                    })
                })
                .collect();
            let acknowledged = incident.acknowledged_at.is_some();
            self.lock_progress().insert(
                incident.id,
                Progress {
                    policy: policy.id.clone(),
                    levels_sent,
                    reminders: 0,
                    last_sent: now,
                    told,
                    acknowledged,
                    incident,
                },
            );
        }
        Ok(())
    }

    fn lock_progress(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Progress>> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one incident event (enqueues what it calls for).
    pub fn handle(&self, event: &IncidentEvent) -> Result<(), StoreError> {
        match event {
            IncidentEvent::Opened {
                incident,
                notify: true,
            }
            | IncidentEvent::Released { incident } => {
                let config = self.config();
                let Some(policy) = config
                    .routing
                    .policy_for(site_of(incident), severity_of(incident.status))
                else {
                    tracing::warn!(incident = incident.id, check = %incident.check, "no [[policy]] matches this incident: nobody is notified");
                    return Ok(());
                };
                let mut p = Progress {
                    incident: incident.clone(),
                    policy: policy.id.clone(),
                    levels_sent: 0,
                    reminders: 0,
                    last_sent: self.clock.now_ms(),
                    told: Vec::new(),
                    acknowledged: false,
                };
                self.escalate(&mut p, policy, &config)?;
                self.lock_progress().insert(incident.id, p);
            }
            IncidentEvent::Resolved {
                incident,
                notify: true,
            } => {
                let removed = self.lock_progress().remove(&incident.id);
                if let Some(p) = removed {
                    self.enqueue(incident, Event::Resolve, &p.told, 0)?;
                }
            }
            _ => {}
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
        let elapsed = now - p.incident.detected_at;
        while let Some(level) = policy.levels.get(p.levels_sent) {
            if (level.after.as_millis() as i64) > elapsed {
                break;
            }
            let mut channels: Vec<String> = level
                .notify
                .iter()
                .flat_map(|t| {
                    config
                        .routing
                        .channels_of(t, severity_of(p.incident.status), now)
                })
                .collect();
            channels.dedup();
            self.enqueue(&p.incident, Event::Trigger, &channels, p.levels_sent + 1)?;
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

    /// One pass of the escalation clock: acknowledgements, later levels,
    /// reminders.
    pub fn tick(&self) -> Result<(), StoreError> {
        let config = self.config();
        let now = self.clock.now_ms();
        let ids: Vec<i64> = self.lock_progress().keys().copied().collect();
        for id in ids {
            let Some(mut p) = self.lock_progress().get(&id).cloned() else {
                continue;
            };
            if p.acknowledged {
                continue;
            }
            let Some(current) = self.store.incident(id)? else {
                continue;
            };
            if current.resolved_at.is_some() {
                continue; // the Resolved event does the rest
            }
            if let Some(by) = &current.acknowledged_by {
                tracing::info!(incident = id, by = %by, "acknowledged: escalation stopped");
                p.acknowledged = true;
                p.incident = current.clone();
                self.enqueue(&current, Event::Acknowledge, &p.told, 0)?;
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
                self.enqueue(&p.incident, Event::Reminder, &p.told, 0)?;
                p.reminders += 1;
                p.last_sent = now;
            }
            self.lock_progress().insert(id, p);
        }
        Ok(())
    }

    fn notification(
        &self,
        incident: &Incident,
        event: Event,
        channel: &str,
        level: usize,
    ) -> Notification {
        let config = self.config();
        let check = config.find_check(incident.check.as_str());
        let name = check
            .map(|c| c.name.clone())
            .unwrap_or_else(|| incident.check.to_string());
        let now = self.clock.now_ms();
        let status_word = incident.status.as_str().to_uppercase();
        let (title, text) = match event {
            Event::Resolve => (
                format!("{} is back UP", incident.check),
                format!(
                    "{name} recovered after {}.",
                    human(incident.duration_ms(now))
                ),
            ),
            Event::Acknowledge => (
                format!("{} acknowledged", incident.check),
                format!(
                    "{} took incident #{}.",
                    incident.acknowledged_by.clone().unwrap_or_default(),
                    incident.id
                ),
            ),
            Event::Reminder => (
                format!("{} is still {status_word}", incident.check),
                format!(
                    "{name} has been failing for {}: {}",
                    human(incident.duration_ms(now)),
                    incident.message
                ),
            ),
            _ => (
                format!("{} is {status_word}", incident.check),
                format!("{name}: {}", incident.message),
            ),
        };
        let text = if level > 1 {
            format!("{text}\n(escalation level {level}: not acknowledged yet)")
        } else {
            text
        };
        Notification {
            id: format!(
                "inc{}-{}-l{level}-{channel}-{now}",
                incident.id,
                event.as_str()
            ),
            dedup_key: format!("keepup-incident-{}", incident.id),
            event,
            severity: severity_of(incident.status),
            title,
            text,
            site: site_of(incident).to_owned(),
            checks: vec![CheckSummary {
                id: incident.check.to_string(),
                name,
                status: if event == Event::Resolve {
                    Status::Up
                } else {
                    incident.status
                },
                message: incident.message.clone(),
                since: Some(incident.opened_at),
            }],
            started_at: Some(incident.opened_at),
            resolved_at: incident.resolved_at,
            duration_s: incident
                .resolved_at
                .map(|r| ((r - incident.opened_at) / 1000).max(0) as u64),
            ack_url: match event {
                Event::Trigger | Event::Reminder => ack_link(&config, incident),
                _ => None,
            },
            cause: incident.cause.map(|c| format!("caused by incident #{c}")),
        }
    }

    fn enqueue(
        &self,
        incident: &Incident,
        event: Event,
        channels: &[String],
        level: usize,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let items: Vec<Outgoing> = channels
            .iter()
            .map(|c| Outgoing {
                dedup_key: format!("keepup-incident-{}", incident.id),
                channel: c.clone(),
                incident: Some(incident.id),
                payload: serde_json::to_string(&self.notification(incident, event, c, level))
                    .unwrap_or_default(),
                not_before: now,
            })
            .collect();
        if !items.is_empty() {
            self.store.enqueue(now, &items)?;
            tracing::info!(incident = incident.id, event = event.as_str(), channels = ?channels, "notifications queued");
        }
        Ok(())
    }

    /// One pass of delivery: claims due rows and sends them concurrently.
    pub async fn deliver_due(self: &Arc<Self>) -> Result<usize, StoreError> {
        let now = self.clock.now_ms();
        let s = self.store.clone();
        let due = tokio::task::spawn_blocking(move || s.claim_due(now, 64, LEASE_MS))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        let n = due.len();
        let mut tasks = Vec::with_capacity(n);
        for entry in due {
            let me = self.clone();
            tasks.push(tokio::spawn(async move { me.deliver(entry).await }));
        }
        for t in tasks {
            let _ = t.await;
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
        let result = match (
            &channel,
            serde_json::from_str::<Notification>(&entry.payload),
        ) {
            (None, _) => Err(keepup_notify::SendError::permanent(format!(
                "channel {:?} is no longer configured",
                entry.channel
            ))),
            (_, Err(e)) => Err(keepup_notify::SendError::permanent(format!(
                "unreadable notification: {e}"
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
                        store.enqueue(now, &[Outgoing { dedup_key: entry.dedup_key, channel: fb, incident: entry.incident, payload: entry.payload, not_before: now }])?;
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

fn human(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
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
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = 0u64;
    loop {
        tokio::select! {
            e = events.recv() => match e {
                Ok(event) => {
                    let a = alerter.clone();
                    if let Ok(Err(err)) = tokio::task::spawn_blocking(move || a.handle(&event)).await {
                        tracing::error!(error = %err, "cannot queue notifications");
                    }
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
                }
                if let Err(err) = alerter.deliver_due().await {
                    tracing::error!(error = %err, "delivery pass failed");
                }
            }
        }
    }
}
