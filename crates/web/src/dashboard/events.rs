//! `/events`: server-sent events for the dashboard's live updates.
//!
//! A connection first gets a `snapshot` event (every configured check's
//! state, so a page rendered a moment ago, or a browser that reconnects
//! after a drop, catches up), then a `status` event per change the monitor
//! sees. Each connection reads its own receiver of the monitor's bounded
//! broadcast channel: a client too slow to keep up falls behind by the
//! channel's capacity and is then disconnected (its browser reconnects
//! and starts again from a snapshot), so nothing buffers without bound.

use crate::auth::Viewer;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use keepup_model::{CheckId, Status, Timestamp};
use keepup_monitor::Monitor;
use keepup_monitor::recorder::StatusChange;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How long a browser waits before reconnecting after a drop.
const RECONNECT_AFTER: Duration = Duration::from_secs(3);
/// A comment this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(20);

/// One check's state as the page's script reads it.
#[derive(Debug, serde::Serialize)]
struct LiveState<'a> {
    check: &'a str,
    /// `up`, `degraded`, `down`, `unknown`, or `pending` before a result.
    state: &'static str,
    /// RFC 3339.
    since: Option<String>,
    message: &'a str,
}

impl<'a> LiveState<'a> {
    fn new(
        check: &'a CheckId,
        status: Option<Status>,
        since: Option<Timestamp>,
        message: &'a str,
    ) -> Self {
        LiveState {
            check: check.as_str(),
            state: super::overview::state_name(status),
            since: since.map(keepup_model::format_rfc3339),
            message,
        }
    }
}

/// Where a connection's stream is.
enum Phase {
    Snapshot(Event),
    Changes,
}

pub async fn stream(_viewer: Viewer, State(monitor): State<Arc<Monitor>>) -> impl IntoResponse {
    // Subscribed before the snapshot is taken: a change in between is sent
    // twice rather than lost.
    let changes = monitor.subscribe_status();
    let snapshot = snapshot(&monitor);
    Sse::new(events(snapshot, changes)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

fn snapshot(monitor: &Monitor) -> Event {
    let config = monitor.config();
    let current = monitor.current();
    let states: Vec<LiveState<'_>> = config
        .checks()
        .map(|c| {
            let s = current.get(&c.id);
            LiveState::new(
                &c.id,
                s.map(|s| s.outcome.status),
                s.map(|s| s.since),
                s.map_or("", |s| s.outcome.message.as_str()),
            )
        })
        .collect();
    json_event("snapshot", &states).retry(RECONNECT_AFTER)
}

fn json_event(name: &str, data: &impl serde::Serialize) -> Event {
    // Serializing plain strings and numbers cannot fail; an empty event
    // would be harmless anyway.
    Event::default()
        .event(name)
        .data(serde_json::to_string(data).unwrap_or_default())
}

fn change_event(c: &StatusChange) -> Event {
    json_event(
        "status",
        &LiveState::new(&c.check, Some(c.status), Some(c.since), &c.message),
    )
}

/// The snapshot, then the changes until the client lags or the monitor
/// stops.
fn events(
    snapshot: Event,
    changes: tokio::sync::broadcast::Receiver<StatusChange>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(
        (Phase::Snapshot(snapshot), changes),
        |(phase, mut changes)| async move {
            match phase {
                Phase::Snapshot(event) => Some((Ok(event), (Phase::Changes, changes))),
                Phase::Changes => match changes.recv().await {
                    Ok(c) => Some((Ok(change_event(&c)), (Phase::Changes, changes))),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "live updates: a slow client is disconnected");
                        None
                    }
                    Err(RecvError::Closed) => None,
                },
            }
        },
    )
}
