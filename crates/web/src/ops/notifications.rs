//! `/notifications`: each channel's health (last delivery, last failure,
//! failures since the last delivery, entries waiting) with a test button,
//! and the outbox log, newest first, filtered by channel and state and
//! paged. The test sends what `keepup notify test` sends, through the same
//! code, and shows how it went.

use super::{Fields, PAGE_ROWS, bad_field, blocking, may_act, now_ms, number_param, when_or_dash};
use crate::auth::{Operator, Session, Viewer, audit, csrf_field};
use crate::ui::{self, Section};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use keepup_model::Timestamp;
use keepup_monitor::Monitor;
use keepup_store::{ChannelHealth, OutboxEntry, OutboxQuery, OutboxState};
use maud::{Markup, html};
use std::sync::Arc;

/// The log's filters, as the query string has them.
#[derive(serde::Deserialize, Default)]
pub(super) struct LogQuery {
    channel: Option<String>,
    state: Option<String>,
    before: Option<String>,
}

const STATES: [OutboxState; 4] = [
    OutboxState::Pending,
    OutboxState::Sending,
    OutboxState::Sent,
    OutboxState::Failed,
];

/// How a test send went, shown above the page.
struct Tested {
    channel: String,
    result: Result<String, String>,
}

/// `GET /notifications`
pub(super) async fn page(
    Viewer(session): Viewer,
    State(monitor): State<Arc<Monitor>>,
    Query(q): Query<LogQuery>,
) -> Result<Response, Response> {
    render(&session, &monitor, q, None).await
}

async fn render(
    session: &Session,
    monitor: &Monitor,
    q: LogQuery,
    tested: Option<Tested>,
) -> Result<Response, Response> {
    let config = monitor.config();
    let channel = q.channel.filter(|c| !c.is_empty());
    if let Some(c) = &channel
        && !config.channels.iter().any(|known| &known.id == c)
    {
        return Err(bad_field("channel", "no such channel").into());
    }
    let state = match q.state.as_deref().unwrap_or("") {
        "" | "all" => None,
        s => Some(
            STATES
                .into_iter()
                .find(|st| st.as_str() == s)
                .ok_or_else(|| bad_field("state", "one of all, pending, sending, sent, failed"))?,
        ),
    };
    let before = number_param("before", q.before.as_deref())?;
    let query = OutboxQuery {
        channel: channel.clone(),
        state,
        before,
        limit: PAGE_ROWS + 1,
    };
    let ids: Vec<String> = config.channels.iter().map(|c| c.id.clone()).collect();
    let store = monitor.store().clone();
    let (health, mut rows) = blocking(move || {
        let mut health = Vec::with_capacity(ids.len());
        for id in ids {
            let h = store.channel_health(&id)?;
            health.push((id, h));
        }
        Ok((health, store.outbox_page(&query)?))
    })
    .await?;
    let more = rows.len() > PAGE_ROWS;
    rows.truncate(PAGE_ROWS);
    let now = now_ms();
    let older = more
        .then(|| rows.last().map(|r| r.id))
        .flatten()
        .map(|last| {
            let mut pairs = vec![format!("before={last}")];
            if let Some(c) = &channel {
                pairs.push(format!("channel={}", super::encode(c)));
            }
            if let Some(s) = state {
                pairs.push(format!("state={}", s.as_str()));
            }
            format!("/notifications?{}", pairs.join("&"))
        });
    let kinds: std::collections::HashMap<&str, &str> = config
        .channels
        .iter()
        .map(|c| (c.id.as_str(), c.kind()))
        .collect();
    let status = match &tested {
        Some(Tested { result: Err(_), .. }) => StatusCode::BAD_GATEWAY,
        _ => StatusCode::OK,
    };
    let body = html! {
        h1 { "Notifications" }
        @if let Some(t) = &tested {
            @match &t.result {
                Ok(how) => p.notice.up role="status" { "Test notification delivered through " strong { (t.channel) } (how) "." },
                Err(why) => p.problem role="alert" { "Test through " strong { (t.channel) } " failed: " (why) },
            }
        }
        h2 { "Channels" }
        @if health.is_empty() {
            p.muted { "No channels are configured." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { "Channel" } th scope="col" { "Kind" } th scope="col" { "Last delivered" }
                    th scope="col" { "Last failure" } th scope="col" class="num" { "Failing streak" }
                    th scope="col" class="num" { "Waiting" }
                    @if may_act(session) { th scope="col" { span.visually-hidden { "Action" } } }
                } }
                tbody { @for (id, h) in &health {
                    tr {
                        th scope="row" { (id) }
                        td { (kinds.get(id.as_str()).copied().unwrap_or("")) }
                        td { (when_or_dash(now, h.last_sent_at)) }
                        td { (failure(now, h)) }
                        td.num.(if h.failing_streak > 0 { "down" } else { "" }) { (h.failing_streak) }
                        td.num { (h.waiting) }
                        @if may_act(session) {
                            td { form method="post" action={"/notifications/test/" (super::encode(id))} {
                                (csrf_field(session))
                                button.secondary type="submit" { "Send test" }
                            } }
                        }
                    }
                } }
            } }
        }
        h2 { "Outbox" }
        form.filters method="get" action="/notifications" {
            label { "Channel "
                select name="channel" {
                    option value="" { "All channels" }
                    @for c in &config.channels {
                        option value=(c.id) selected[channel.as_deref() == Some(c.id.as_str())] { (c.id) }
                    }
                }
            }
            label { "State "
                select name="state" {
                    option value="all" { "All states" }
                    @for s in STATES {
                        option value=(s.as_str()) selected[state == Some(s)] { (s.as_str()) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        (log(now, &rows))
        nav.pager aria-label="Pages" {
            @if before.is_some() { a href="/notifications" { "← Newest" } }
            @if let Some(href) = &older { a href=(href) rel="next" { "Older →" } }
        }
    };
    Ok(ui::html_response(
        status,
        ui::page(session, Section::Notifications, "Notifications", body),
    ))
}

fn failure(now: Timestamp, h: &ChannelHealth) -> Markup {
    match &h.last_failure {
        None => html! { span.muted { "–" } },
        Some((at, error)) => html! { (super::when(now, *at)) br; span.muted { (error) } },
    }
}

fn log(now: Timestamp, rows: &[OutboxEntry]) -> Markup {
    html! {
        @if rows.is_empty() {
            p.muted { "Nothing in the outbox." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { "#" } th scope="col" { "Queued" } th scope="col" { "Channel" }
                    th scope="col" { "Incident" } th scope="col" { "Event" } th scope="col" { "State" }
                    th scope="col" class="num" { "Attempts" } th scope="col" { "Sent" } th scope="col" { "Last error" }
                } }
                tbody { @for r in rows {
                    tr {
                        td { (r.id) }
                        td { (super::when(now, r.created_at)) }
                        td { (r.channel) }
                        td { @if let Some(i) = r.incident { a href={"/incidents/" (i)} { "#" (i) } } @else { "–" } }
                        td { (super::event_of(r)) }
                        td { (r.state.as_str()) }
                        td.num { (r.attempts) }
                        td { (when_or_dash(now, r.sent_at)) }
                        td.wrap { (r.last_error.as_deref().unwrap_or("")) }
                    }
                } }
            } }
        }
    }
}

/// `POST /notifications/test/<channel>`
pub(super) async fn test(
    Operator(session): Operator,
    State(monitor): State<Arc<Monitor>>,
    Path(channel): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Response> {
    let fields = Fields(fields);
    fields.verify_csrf(&session)?;
    let config = monitor.config();
    if !config.channels.iter().any(|c| c.id == channel) {
        return Err(bad_field("channel", "no such channel").into());
    }
    let sent =
        keepup_notify::send_test(&config, &channel, &keepup_notify::HttpClientContext::new()).await;
    let result = match sent {
        Ok(d) => Ok(d
            .provider_id
            .map(|p| format!(" (provider id {p})"))
            .unwrap_or_default()),
        Err(e) => Err(e.to_string()),
    };
    tracing::info!(channel = %channel, ok = result.is_ok(), "test notification from the dashboard");
    let (store, actor, target) = (
        monitor.store().clone(),
        session.actor().to_owned(),
        format!("channel/{channel}"),
    );
    let detail = match &result {
        Ok(_) => "delivered".to_owned(),
        Err(e) => format!("failed: {e}"),
    };
    let _ = crate::offload::spawn_blocking(move || {
        audit(&store, &actor, "notify.test", &target, &detail)
    })
    .await;
    render(
        &session,
        &monitor,
        LogQuery::default(),
        Some(Tested { channel, result }),
    )
    .await
}
