//! `/maintenance`: the windows open now, those scheduled (configured ones,
//! recurring ones at their next occurrences, and those started by hand
//! that have not begun) and past ones; starting a window (as `keepup
//! maintenance start`: a site, a check, the checks carrying a tag or
//! everything, for a duration, with a reason) and ending one early (as `keepup maintenance stop`). The
//! incident engine reads windows started by hand from the store within
//! seconds, so alerts are muted from then on.

use super::{Fields, bad_field, blocking, may_act, now_ms, see_other, when};
use crate::auth::{Operator, Viewer, audit, csrf_field};
use crate::ui::{self, Section};
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use keepup_config::maintenance::Window;
use keepup_model::{MaintenanceScope, Timestamp};
use keepup_monitor::Monitor;
use keepup_store::AdhocMaintenance;
use maud::{Markup, html};
use std::sync::Arc;
use std::time::Duration;

/// Longest reason kept with a window.
const MAX_REASON: usize = 500;
/// Longest window started from the dashboard.
const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);
/// How far ahead configured windows are listed.
const HORIZON_MS: i64 = 31 * 86_400_000;
/// Past windows listed.
const PAST_ROWS: usize = 50;

/// One row of the open or scheduled tables.
struct Row {
    starts_at: Timestamp,
    ends_at: Timestamp,
    what: String,
    covers: String,
    by: String,
    /// Windows started by hand can be ended here.
    adhoc: Option<i64>,
}

fn adhoc_row(m: &AdhocMaintenance) -> Row {
    Row {
        starts_at: m.starts_at,
        ends_at: m.ends_at,
        what: if m.reason.is_empty() {
            "(no reason given)".into()
        } else {
            m.reason.clone()
        },
        covers: m.scope().describe(),
        by: m.created_by.clone(),
        adhoc: Some(m.id),
    }
}

/// `GET /maintenance`
pub(super) async fn page(
    Viewer(session): Viewer,
    State(monitor): State<Arc<Monitor>>,
) -> Result<Response, Response> {
    let now = now_ms();
    let store = monitor.store().clone();
    let (upcoming, past) = blocking(move || {
        Ok((
            store.maintenance_after(now)?,
            store.maintenance_ended(now, PAST_ROWS)?,
        ))
    })
    .await?;
    let config = monitor.config();
    let mut open = Vec::new();
    let mut scheduled = Vec::new();
    for m in &config.maintenance {
        let schedule = match &m.when {
            Window::Once { .. } => "once".to_owned(),
            Window::Recurring {
                cron,
                timezone_name,
                ..
            } => format!("{} ({timezone_name})", cron.as_str()),
        };
        let row = |(starts_at, ends_at)| Row {
            starts_at,
            ends_at,
            what: format!("{} [{schedule}]", m.name),
            covers: format!("{} check(s)", m.checks.len()),
            by: "configuration".into(),
            adhoc: None,
        };
        if let Some(w) = m.open_at(now) {
            open.push(row(w));
        }
        for w in m.occurrences(now, now + HORIZON_MS, 3) {
            if w.0 > now {
                scheduled.push(row(w));
            }
        }
    }
    for m in &upcoming {
        if m.open_at(now) {
            open.push(adhoc_row(m));
        } else {
            scheduled.push(adhoc_row(m));
        }
    }
    open.sort_by_key(|r| r.ends_at);
    scheduled.sort_by_key(|r| r.starts_at);
    let past: Vec<Row> = past.iter().map(adhoc_row).collect();
    let body = html! {
        h1 { "Maintenance" }
        p.muted { "During a window checks keep running and incidents are recorded, but nobody is paged and the SLA leaves the time out." }
        @if may_act(&session) {
            section aria-labelledby="start" {
                h2 #start { "Start a window" }
                form.stacked method="post" action="/maintenance" {
                    (csrf_field(&session))
                    label for="target" { "Covers" }
                    select #target name="target" required {
                        option value="*" { "Everything" }
                        optgroup label="Sites" {
                            @for s in &config.sites { option value=(s.id) { (s.id) } }
                        }
                        optgroup label="Checks" {
                            @for c in config.checks() { option value=(c.id.as_str()) { (c.id.as_str()) } }
                        }
                        // A tag covers the checks carrying it or whose site does.
                        optgroup label="Tags" {
                            @for scope in config.tags().into_iter().map(|t| MaintenanceScope::Tag(t.to_owned())) {
                                option value=(scope.to_string()) { (scope.describe()) }
                            }
                        }
                    }
                    label for="duration" { "For (e.g. 30m, 2h, 1d)" }
                    input #duration type="text" name="duration" required maxlength="32" value="1h";
                    label for="reason" { "Reason" }
                    input #reason type="text" name="reason" maxlength=(MAX_REASON);
                    button type="submit" { "Start" }
                }
            }
        }
        h2 { "Open now" }
        (table(&session, now, &open, "No window is open."))
        h2 { "Scheduled" }
        (table(&session, now, &scheduled, "Nothing is scheduled in the next 31 days."))
        h2 { "Past (started by hand)" }
        (table(&session, now, &past, "None yet."))
    };
    Ok(ui::html_response(
        StatusCode::OK,
        ui::page(&session, Section::Maintenance, "Maintenance", body),
    ))
}

fn table(session: &crate::auth::Session, now: Timestamp, rows: &[Row], empty: &str) -> Markup {
    let actions = may_act(session) && rows.iter().any(|r| r.adhoc.is_some() && r.ends_at > now);
    html! {
        @if rows.is_empty() {
            p.muted { (empty) }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { "Window" } th scope="col" { "Covers" } th scope="col" { "From" }
                    th scope="col" { "Until" } th scope="col" { "By" }
                    @if actions { th scope="col" { span.visually-hidden { "Action" } } }
                } }
                tbody { @for r in rows {
                    tr {
                        td.wrap { @if let Some(id) = r.adhoc { "#" (id) " " } (r.what) }
                        td { (r.covers) }
                        td { (when(now, r.starts_at)) }
                        td { (when(now, r.ends_at)) }
                        td { (r.by) }
                        @if actions {
                            td { @if let (Some(id), true) = (r.adhoc, r.ends_at > now) {
                                form method="post" action={"/maintenance/" (id) "/end"} {
                                    (csrf_field(session))
                                    button.secondary type="submit" { "End" }
                                }
                            } }
                        }
                    }
                } }
            } }
        }
    }
}

/// `POST /maintenance` with `target`, `duration` and `reason`.
pub(super) async fn start(
    Operator(session): Operator,
    State(monitor): State<Arc<Monitor>>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Response> {
    let fields = Fields(fields);
    fields.verify_csrf(&session)?;
    let target = fields.text("target", 300)?;
    let config = monitor.config();
    if !config.is_maintenance_target(&target) {
        return Err(bad_field(
            "target",
            "neither a check (site/check), a site, tag:NAME of a tag in use, nor * (everything)",
        )
        .into());
    }
    let duration = fields.text("duration", 32)?;
    let duration = humantime::parse_duration(&duration)
        .map_err(|_| bad_field("duration", "not a duration such as 30m, 2h or 1d"))?;
    if duration.is_zero() || duration > MAX_DURATION {
        return Err(bad_field("duration", "longer than zero and at most 366 days").into());
    }
    let reason = fields.text("reason", MAX_REASON)?;
    let store = monitor.store().clone();
    let actor = session.actor().to_owned();
    let now = now_ms();
    let end = now + duration.as_millis() as i64;
    blocking(move || {
        let id = store.start_maintenance(&target, now, end, &reason, &actor)?;
        audit(
            &store,
            &actor,
            "maintenance.start",
            &format!("maintenance/{id}"),
            &format!(
                "{target} until {}: {reason}",
                keepup_model::format_rfc3339(end)
            ),
        );
        Ok(id)
    })
    .await?;
    Ok(see_other("/maintenance"))
}

/// `POST /maintenance/<id>/end`
pub(super) async fn end(
    Operator(session): Operator,
    State(monitor): State<Arc<Monitor>>,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Response> {
    let fields = Fields(fields);
    fields.verify_csrf(&session)?;
    let store = monitor.store().clone();
    let actor = session.actor().to_owned();
    let now = now_ms();
    let ended = blocking(move || {
        let ended = store.stop_maintenance(id, now)?;
        if ended {
            audit(
                &store,
                &actor,
                "maintenance.end",
                &format!("maintenance/{id}"),
                "",
            );
        }
        Ok(ended)
    })
    .await?;
    if !ended {
        return Err(ui::message_page(
            StatusCode::CONFLICT,
            "Nothing to do",
            &format!("Maintenance #{id} is unknown or over already."),
        ));
    }
    Ok(see_other("/maintenance"))
}
