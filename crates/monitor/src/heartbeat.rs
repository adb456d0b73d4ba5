//! Heartbeats (push checks): cron jobs and backup scripts call
//! `/ping/<token>` (or `/ping/<token>/fail`); a check whose last ping is
//! older than period + grace is Down.
//!
//! Pings are persisted before they are acknowledged, so a ping answered
//! with 200 survives a crash. Evaluation is an ordinary scheduled run, and a
//! ping triggers one at once, so state changes show immediately.

use keepup_config::{Check, CheckSpec, HeartbeatSpec, PassiveSpec};
use keepup_model::{CheckId, Finding, Outcome, Severity, Status, Timestamp, codes, format_rfc3339};
use keepup_store::{MemoChange, PingKind, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What keepup knows about heartbeat checks: which token belongs to which
/// check, the last ping of each, and since when each has been watched.
#[derive(Default)]
pub struct HeartbeatBook {
    tokens: Mutex<HashMap<String, CheckId>>,
    last: Mutex<HashMap<CheckId, (Timestamp, PingKind)>>,
    watched_since: Mutex<HashMap<CheckId, Timestamp>>,
}

/// Why a ping was refused.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    /// No heartbeat check has this token.
    #[error("no heartbeat check has this token")]
    UnknownToken,
    /// The ping could not be stored; the caller should retry.
    #[error("the ping could not be stored: {0}")]
    Store(String),
}

impl HeartbeatBook {
    /// Rebuilds the token map from the configured checks, loading the last
    /// ping of newly seen heartbeat checks from the store.
    ///
    /// Since when a heartbeat is watched is kept in the store too: a
    /// heartbeat that never pinged gets its grace once, not again after
    /// every restart.
    pub fn configure(&self, checks: &[Arc<Check>], store: &Store, now: Timestamp) {
        let mut tokens = HashMap::new();
        let mut remembered: Option<HashMap<String, Timestamp>> = None;
        let mut first_seen = Vec::new();
        for c in checks {
            if let CheckSpec::Passive(PassiveSpec::Heartbeat(h)) = &c.spec {
                tokens.insert(h.token.expose().to_owned(), c.id.clone());
                if let Ok(mut since) = self.watched_since.lock()
                    && !since.contains_key(&c.id)
                {
                    let stored = remembered.get_or_insert_with(|| watched_since(store));
                    let at = match stored.get(c.id.as_str()) {
                        Some(at) => *at,
                        None => {
                            first_seen.push(MemoChange::put(
                                WATCHED_SINCE,
                                c.id.as_str(),
                                now.to_string(),
                            ));
                            now
                        }
                    };
                    since.insert(c.id.clone(), at);
                }
                let known = self
                    .last
                    .lock()
                    .map(|l| l.contains_key(&c.id))
                    .unwrap_or(false);
                if !known {
                    match store.last_ping(&c.id) {
                        Ok(Some(p)) => {
                            if let Ok(mut l) = self.last.lock() {
                                l.insert(c.id.clone(), p);
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(check = %c.id, error = %e, "cannot read the last heartbeat ping")
                        }
                    }
                }
            }
        }
        if let Err(e) = store.write_memos(now, &first_seen) {
            tracing::warn!(error = %e, "cannot record since when heartbeats are watched; a restart gives them their grace again");
        }
        if let Ok(mut t) = self.tokens.lock() {
            *t = tokens;
        }
    }

    /// Records a ping for `token`: stored first, then acknowledged.
    pub fn ping(
        &self,
        token: &str,
        kind: PingKind,
        store: &Store,
        now: Timestamp,
    ) -> Result<CheckId, PingError> {
        let id = self
            .tokens
            .lock()
            .ok()
            .and_then(|t| t.get(token).cloned())
            .ok_or(PingError::UnknownToken)?;
        store
            .record_ping(&id, now, kind)
            .map_err(|e| PingError::Store(e.to_string()))?;
        if let Ok(mut l) = self.last.lock() {
            l.insert(id.clone(), (now, kind));
        }
        Ok(id)
    }

    /// Judges a heartbeat check at `now`.
    pub fn evaluate(&self, id: &CheckId, spec: &HeartbeatSpec, now: Timestamp) -> Outcome {
        let last = self.last.lock().ok().and_then(|l| l.get(id).copied());
        let allowed = spec.period + spec.grace;
        let allowed_ms = allowed.as_millis() as i64;
        let mut o = match last {
            Some((at, PingKind::Fail)) => {
                let mut o = Outcome::new(Status::Down, "the job reported failure");
                o.push(Finding::new(
                    codes::HEARTBEAT_FAILED,
                    Severity::Critical,
                    format!("the last ping, at {}, was a /fail ping", format_rfc3339(at)),
                ));
                o
            }
            Some((at, PingKind::Success)) if now - at > allowed_ms => {
                let mut o = Outcome::new(Status::Down, "heartbeat missing");
                o.push(Finding::new(
                    codes::HEARTBEAT_MISSING,
                    Severity::Critical,
                    format!(
                        "last ping at {}, {} ago; expected every {} (+{} grace)",
                        format_rfc3339(at),
                        short(Duration::from_millis((now - at) as u64)),
                        short(spec.period),
                        short(spec.grace)
                    ),
                ));
                o
            }
            Some(_) => Outcome::new(Status::Up, "heartbeat received on time"),
            None => {
                let since = self
                    .watched_since
                    .lock()
                    .ok()
                    .and_then(|s| s.get(id).copied())
                    .unwrap_or(now);
                if now - since > allowed_ms {
                    let mut o = Outcome::new(Status::Down, "heartbeat never received");
                    o.push(Finding::new(
                        codes::HEARTBEAT_NEVER_RECEIVED,
                        Severity::Critical,
                        format!(
                            "no ping since monitoring began at {}; expected every {} (+{} grace)",
                            format_rfc3339(since),
                            short(spec.period),
                            short(spec.grace)
                        ),
                    ));
                    o
                } else {
                    Outcome::new(Status::Unknown, "waiting for the first ping")
                }
            }
        };
        if let Some((at, _)) = last {
            o.evidence.insert("last_ping", format_rfc3339(at));
            o.evidence
                .insert("last_ping_age_s", ((now - at) / 1000) as u64);
        }
        o.evidence.insert("period_s", spec.period.as_secs());
        o.evidence.insert("grace_s", spec.grace.as_secs());
        o
    }
}

/// The memo kind of since when each heartbeat is watched (ms, by check id).
const WATCHED_SINCE: &str = "heartbeat_watched_since";

/// Since when each heartbeat has been watched, as stored; unreadable
/// entries are skipped (the heartbeat starts being watched now).
fn watched_since(store: &Store) -> HashMap<String, Timestamp> {
    match store.memos(WATCHED_SINCE) {
        Ok(rows) => rows
            .into_iter()
            .filter_map(|(id, at)| Some((id, at.parse().ok()?)))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read since when heartbeats are watched");
            HashMap::new()
        }
    }
}

fn short(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}
