//! Push mode: each report goes into the [`Backlog`] first, then every
//! queued report is POSTed in order to the central keepup's
//! `/agent/report` with the agent's bearer token, and removed once the
//! central has it. While the central cannot be reached the reports wait
//! (bounded), and go in order when it answers again.

use std::sync::Arc;
use std::time::Duration;

use keepup_config::Secret;
use keepup_model::Clock;
use keepup_model::host::{
    ACTIONS_PENDING, AGENT_ACTION_VERSION, ActionOutcomes, ActionRequests,
    MAX_ACTION_EXCHANGE_BYTES, MAX_ACTIONS_PER_EXCHANGE,
};
use keepup_notify::HttpClientContext;

use crate::Collector;
use crate::actions::Runner;
use crate::backlog::Backlog;

/// At most this many exchanges with `/agent/actions` in one go.
const MAX_EXCHANGE_ROUNDS: usize = 4;

/// Where and how reports are pushed.
pub struct Pusher {
    ctx: HttpClientContext,
    url: String,
    /// `/agent/actions` beside `/agent/report`.
    actions_url: String,
    /// Sent in the Authorization header and nowhere else.
    token: Secret,
    timeout: Duration,
}

/// What one delivery round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Reports the central took (new or already had).
    pub delivered: usize,
    /// Reports it refused for good (malformed, too large): removed.
    pub refused: usize,
    /// Why the round stopped early, if it did (the rest wait).
    pub stopped: Option<String>,
    /// The central said it has action requests for this agent.
    pub actions_pending: bool,
}

impl Pusher {
    /// Pushes to `url` (the central's `.../agent/report`) with `token`,
    /// each request bounded by `timeout`; `ctx` holds the trusted roots.
    /// Actions are exchanged with `.../agent/actions` beside it.
    pub fn new(ctx: HttpClientContext, url: String, token: Secret, timeout: Duration) -> Self {
        let base = url.strip_suffix("/report").unwrap_or(&url);
        Pusher {
            actions_url: format!("{base}/actions"),
            ctx,
            url,
            token,
            timeout,
        }
    }

    /// Exchanges actions with the central (see the module doc): up to a
    /// few rounds of posting the outcomes `runner` has and taking the
    /// requests the central answers; the central's success answer
    /// acknowledges the outcomes it carried (the runner may forget them).
    /// Returns how many outcomes were
    /// delivered; Err says why an exchange failed (the central keeps the
    /// requests and asks again).
    pub async fn exchange_actions(
        &self,
        agent: &str,
        runner: &Arc<Runner>,
    ) -> Result<usize, String> {
        let mut outcomes = Vec::new();
        let mut delivered = 0;
        for _ in 0..MAX_EXCHANGE_ROUNDS {
            let sending = outcomes.len().min(MAX_ACTIONS_PER_EXCHANGE);
            let body = ActionOutcomes {
                version: AGENT_ACTION_VERSION,
                agent: agent.to_owned(),
                outcomes: outcomes.drain(..sending).collect(),
            };
            let sent: Vec<String> = body.outcomes.iter().map(|o| o.id.clone()).collect();
            let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
            let (status, answer) = keepup_notify::bearer_request(
                &self.ctx,
                "central keepup",
                &self.actions_url,
                self.token.expose(),
                Some(body.into()),
                self.timeout,
                MAX_ACTION_EXCHANGE_BYTES,
            )
            .await
            .map_err(|e| e.message)?;
            if !status.is_success() {
                return Err(format!(
                    "the central keepup answered HTTP {} to {}: {}",
                    status.as_u16(),
                    self.actions_url,
                    String::from_utf8_lossy(&answer).trim()
                ));
            }
            delivered += sending;
            runner.acknowledge(&sent);
            let requests: ActionRequests = serde_json::from_slice(&answer).map_err(|e| {
                format!("the central keepup's action requests are not readable: {e}")
            })?;
            if requests.version != AGENT_ACTION_VERSION {
                return Err(format!(
                    "the central keepup sends action requests of version {} (this agent reads version {AGENT_ACTION_VERSION})",
                    requests.version
                ));
            }
            outcomes.extend(runner.take_exchange(&requests));
            if outcomes.is_empty() {
                break;
            }
        }
        Ok(delivered)
    }

    /// Sends the queued reports, oldest first, until the queue is empty or
    /// the central does not take one.
    pub async fn deliver(&self, backlog: &mut Backlog) -> Delivery {
        let mut done = Delivery::default();
        let pending = match backlog.pending() {
            Ok(p) => p,
            Err(e) => {
                done.stopped = Some(e.to_string());
                return done;
            }
        };
        for seq in pending {
            let body = match backlog.read(seq) {
                Ok(b) => bytes::Bytes::from(b),
                Err(e) => {
                    done.stopped = Some(e.to_string());
                    return done;
                }
            };
            let answer = keepup_notify::bearer_request(
                &self.ctx,
                "central keepup",
                &self.url,
                self.token.expose(),
                Some(body),
                self.timeout,
                4096,
            )
            .await;
            let status = match answer {
                Ok((status, body)) => {
                    if status.is_success()
                        && body
                            .split(|b| *b == b'\n')
                            .any(|line| line == ACTIONS_PENDING.as_bytes())
                    {
                        done.actions_pending = true;
                    }
                    status
                }
                Err(e) => {
                    done.stopped = Some(e.message);
                    return done;
                }
            };
            match status.as_u16() {
                200..=299 => done.delivered += 1,
                // The central will never take this one: do not let it
                // block the queue.
                400 | 413 | 422 => {
                    tracing::warn!(
                        seq,
                        status = status.as_u16(),
                        "the central keepup refused a report for good; dropped"
                    );
                    done.refused += 1;
                }
                code => {
                    let why = match code {
                        401 => {
                            "the central keepup does not know this agent's token (401)".to_owned()
                        }
                        403 => "the central keepup says this token belongs to another agent (403)"
                            .to_owned(),
                        _ => format!("the central keepup answered HTTP {code}"),
                    };
                    done.stopped = Some(why);
                    return done;
                }
            }
            if let Err(e) = backlog.remove(seq) {
                done.stopped = Some(e.to_string());
                return done;
            }
        }
        done
    }
}

/// Collects every `interval` (as the collector's settings say), queues and
/// pushes, until `stop` resolves; exchanges actions with `actions` when
/// the central has requests or a run finished (without a runner, requests
/// wait at the central until they expire).
pub async fn run(
    mut collector: Collector,
    mut backlog: Backlog,
    pusher: Pusher,
    actions: Option<Arc<Runner>>,
    clock: &dyn Clock,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(collector.settings().interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported_dropped = 0;
    let agent = collector.settings().name.clone();
    tokio::pin!(stop);
    loop {
        let finished = async {
            match &actions {
                Some(r) => r.finished().await,
                None => std::future::pending().await,
            }
        };
        let ran = tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => false,
            _ = finished => true,
        };
        if ran {
            if let Some(runner) = &actions {
                exchange(&pusher, &agent, runner).await;
            }
            continue;
        }
        let now = clock.now_ms();
        let seq = match backlog.next_seq(now) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot number the report; the backlog directory must be writable");
                continue;
            }
        };
        let mut report = collector.collect(seq, now).await;
        if backlog.dropped() > reported_dropped {
            report.problems.push(format!(
                "{} reports were dropped while the central keepup could not be reached (the backlog was full)",
                backlog.dropped() - reported_dropped
            ));
            reported_dropped = backlog.dropped();
        }
        match backlog.push(&report) {
            Ok(0) => {}
            Ok(n) => tracing::warn!(dropped = n, "backlog full: the oldest reports were dropped"),
            Err(e) => tracing::error!(error = %e, "cannot queue the report"),
        }
        let d = pusher.deliver(&mut backlog).await;
        match &d.stopped {
            None => tracing::debug!(seq, delivered = d.delivered, "reports delivered"),
            Some(why) => {
                tracing::warn!(seq, delivered = d.delivered, waiting = backlog.pending().map(|p| p.len()).unwrap_or(0), reason = %why, "the central keepup did not take the reports; they wait in the backlog")
            }
        }
        if d.actions_pending
            && let Some(runner) = &actions
        {
            exchange(&pusher, &agent, runner).await;
        }
    }
}

/// One exchange of actions, its failure logged (the central asks again).
async fn exchange(pusher: &Pusher, agent: &str, runner: &Arc<Runner>) {
    match pusher.exchange_actions(agent, runner).await {
        Ok(n) => tracing::debug!(outcomes = n, "actions exchanged"),
        Err(why) => {
            tracing::warn!(reason = %why, "exchanging actions with the central keepup failed; it asks again")
        }
    }
}
