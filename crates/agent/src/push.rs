//! Push mode: each report goes into the [`Backlog`] first, then every
//! queued report is POSTed in order to the central keepup's
//! `/agent/report` with the agent's bearer token, and removed once the
//! central has it. While the central cannot be reached the reports wait
//! (bounded), and go in order when it answers again.

use std::time::Duration;

use keepup_config::Secret;
use keepup_model::Clock;
use keepup_notify::HttpClientContext;

use crate::Collector;
use crate::backlog::Backlog;

/// Where and how reports are pushed.
pub struct Pusher {
    ctx: HttpClientContext,
    url: String,
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
}

impl Pusher {
    /// Pushes to `url` (the central's `.../agent/report`) with `token`,
    /// each request bounded by `timeout`; `ctx` holds the trusted roots.
    pub fn new(ctx: HttpClientContext, url: String, token: Secret, timeout: Duration) -> Self {
        Pusher {
            ctx,
            url,
            token,
            timeout,
        }
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
                Ok((status, _)) => status,
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
/// pushes, until `stop` resolves.
pub async fn run(
    mut collector: Collector,
    mut backlog: Backlog,
    pusher: Pusher,
    clock: &dyn Clock,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(collector.settings().interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported_dropped = 0;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {}
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
    }
}
