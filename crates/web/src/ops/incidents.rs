//! `/incidents`: the list (open first, filtered by site and state, paged)
//! and one incident's page (timeline, causes and consequences, findings,
//! the automatic actions run for it, the notifications sent), with the
//! acknowledge and resolve actions.

use super::{
    Fields, PAGE_ROWS, bad_field, blocking, encode, event_of, may_act, now_ms, number_param,
    see_other, when, when_or_dash,
};
use crate::auth::{Operator, Viewer, audit_off_thread, csrf_field};
use crate::ui::{self, Section, state_class};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use keepup_model::Timestamp;
use keepup_model::text::duration_table;
use keepup_monitor::Monitor;
use keepup_store::{
    ActionRun, HandResolution, Incident, IncidentQuery, IncidentState, MAX_RESOLUTION_NOTE,
    OutboxEntry, PastResolution, StatusUpdate,
};
use maud::{Markup, html};

use std::sync::Arc;

/// The list's filters, as the query string has them.
#[derive(serde::Deserialize, Default)]
pub(super) struct ListQuery {
    site: Option<String>,
    state: Option<String>,
    page: Option<String>,
}

fn state_filter(s: Option<&str>) -> Result<IncidentState, super::Refused> {
    match s.unwrap_or("") {
        "" | "all" => Ok(IncidentState::Any),
        "open" => Ok(IncidentState::Open),
        "resolved" => Ok(IncidentState::Resolved),
        _ => Err(bad_field("state", "one of all, open, resolved")),
    }
}

/// `GET /incidents`
pub(super) async fn list(
    Viewer(session): Viewer,
    State(monitor): State<Arc<Monitor>>,
    Query(q): Query<ListQuery>,
) -> Result<Response, Response> {
    let config = monitor.config();
    let state = state_filter(q.state.as_deref())?;
    let site = q.site.filter(|s| !s.is_empty());
    if let Some(s) = &site
        && !config.sites.iter().any(|known| &known.id == s)
    {
        return Err(bad_field("site", "no such site").into());
    }
    let page = number_param("page", q.page.as_deref())?.unwrap_or(0) as usize;
    let query = IncidentQuery {
        site: site.clone(),
        state,
        offset: page.saturating_mul(PAGE_ROWS),
        limit: PAGE_ROWS + 1,
    };
    let store = monitor.store().clone();
    let mut rows = blocking(move || store.incident_page(&query)).await?;
    let more = rows.len() > PAGE_ROWS;
    rows.truncate(PAGE_ROWS);
    let now = now_ms();
    let state_name = match state {
        IncidentState::Any => "all",
        IncidentState::Open => "open",
        IncidentState::Resolved => "resolved",
    };
    let link = |p: usize| {
        let mut pairs = vec![format!("state={state_name}"), format!("page={p}")];
        if let Some(s) = &site {
            pairs.push(format!("site={}", encode(s)));
        }
        format!("/incidents?{}", pairs.join("&"))
    };
    let body = html! {
        h1 { "Incidents" }
        form.filters method="get" action="/incidents" {
            label { "Site "
                select name="site" {
                    option value="" { "All sites" }
                    @for s in &config.sites {
                        option value=(s.id) selected[site.as_deref() == Some(s.id.as_str())] { (s.id) }
                    }
                }
            }
            label { "State "
                select name="state" {
                    @for (value, label) in [("all", "Open and resolved"), ("open", "Open"), ("resolved", "Resolved")] {
                        option value=(value) selected[value == state_name] { (label) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        @if rows.is_empty() {
            p.muted { "No incidents." }
        } @else {
            div.table-wrap {
                table {
                    thead { tr {
                        th scope="col" { "#" }
                        th scope="col" { "Check" }
                        th scope="col" { "State" }
                        th scope="col" { "Opened" }
                        th scope="col" class="num" { "Duration" }
                        th scope="col" { "Acknowledged by" }
                        th scope="col" { "Message" }
                    } }
                    tbody {
                        @for i in &rows {
                            tr {
                                td { a href={"/incidents/" (i.id)} { "#" (i.id) } }
                                td { (i.check.as_str()) }
                                td { (state_badge(i)) }
                                td { (when(now, i.opened_at)) }
                                td.num { (duration_table(i.duration_ms(now))) }
                                td { (i.acknowledged_by.as_deref().unwrap_or("–")) }
                                td.message { (i.message) }
                            }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if page > 0 { a href=(link(page - 1)) rel="prev" { "← Newer" } }
            @if more { a href=(link(page + 1)) rel="next" { "Older →" } }
        }
    };
    Ok(ui::html_response(
        StatusCode::OK,
        ui::page(&session, Section::Incidents, "Incidents", body),
    ))
}

/// Open (with its status), acknowledged or resolved, as a badge.
fn state_badge(i: &Incident) -> Markup {
    if i.resolved_at.is_some() {
        html! { span.badge.up { "resolved" } }
    } else if i.acknowledged_at.is_some() {
        html! { span.badge.(state_class(i.status)) { "acknowledged (" (i.status.as_str()) ")" } }
    } else {
        html! { span.badge.(state_class(i.status)) { "open (" (i.status.as_str()) ")" } }
    }
}

/// What one incident's page shows besides the incident.
struct Detail {
    incident: Incident,
    cause: Option<Incident>,
    caused: Vec<Incident>,
    notifications: Vec<OutboxEntry>,
    resolution: Option<HandResolution>,
    /// What fixed the same check or finding codes before.
    past: Vec<PastResolution>,
    /// What the status pages were told, oldest first.
    updates: Vec<StatusUpdate>,
    /// The runbook notes of its check and finding codes.
    runbook: Vec<keepup_config::RunbookNote>,
    /// The `[[action]]` runs made for it (remediation), oldest first.
    actions: Vec<ActionRun>,
}

/// `GET /incidents/<id>`
pub(super) async fn detail(
    Viewer(session): Viewer,
    State(monitor): State<Arc<Monitor>>,
    Path(id): Path<i64>,
) -> Result<Response, Response> {
    let store = monitor.store().clone();
    let config = monitor.config();
    let found = blocking(move || {
        let Some(incident) = store.incident(id)? else {
            return Ok(None);
        };
        let runbook = config.runbooks.notes_for(
            &incident.check,
            incident.findings.iter().map(|f| f.code.as_str()),
        );
        let cause = match incident.cause {
            Some(c) => store.incident(c)?,
            None => None,
        };
        Ok(Some(Detail {
            cause,
            caused: store.incidents_caused_by(id)?,
            notifications: store.incident_notifications(id)?,
            resolution: store.incident_resolution(id)?,
            past: {
                let codes: Vec<&str> = incident.findings.iter().map(|f| f.code.as_str()).collect();
                store.past_resolutions(&incident.check, &codes, Some(id), incident.resolved_at)?
            },
            updates: store.status_updates_of(id)?,
            actions: store.action_runs_of_incidents(&[id])?,
            runbook,
            incident,
        }))
    })
    .await?;
    let Some(d) = found else {
        return Err(ui::message_page(
            StatusCode::NOT_FOUND,
            "No such incident",
            &format!("There is no incident #{id} in the store."),
        ));
    };
    let title = format!("Incident #{id}");
    let body = render_detail(&session, &d, now_ms());
    Ok(ui::html_response(
        StatusCode::OK,
        ui::page(&session, Section::Incidents, &title, body),
    ))
}

/// One step of an incident's timeline.
struct Step {
    at: Timestamp,
    what: &'static str,
    detail: Option<String>,
}

fn timeline(d: &Detail) -> Vec<Step> {
    let i = &d.incident;
    let mut steps = vec![
        Step {
            at: i.opened_at,
            what: "First failure",
            detail: None,
        },
        Step {
            at: i.detected_at,
            what: "Detected",
            detail: Some("the failure was confirmed".into()),
        },
    ];
    if let Some(first) = d.notifications.iter().filter_map(|n| n.sent_at).min() {
        let channels: std::collections::BTreeSet<&str> = d
            .notifications
            .iter()
            .filter(|n| n.sent_at.is_some())
            .map(|n| n.channel.as_str())
            .collect();
        steps.push(Step {
            at: first,
            what: "Notified",
            detail: Some(channels.into_iter().collect::<Vec<_>>().join(", ")),
        });
    }
    for run in &d.actions {
        steps.push(Step {
            at: run.started_at,
            what: "Automatic action",
            detail: Some(action_summary(run)),
        });
    }
    if let Some(at) = i.acknowledged_at {
        let by = i.acknowledged_by.as_ref().map(|by| format!("by {by}"));
        // A page held for a remediation and never queued: the
        // acknowledgement cancelled it (see the monitor's alerting).
        let cancelled = d.notifications.is_empty() && d.actions.iter().any(|r| r.cause == "check");
        steps.push(Step {
            at,
            what: "Acknowledged",
            detail: if cancelled {
                Some(format!(
                    "{}the page held for the automatic action is cancelled: someone is on it",
                    by.map(|b| format!("{b}; ")).unwrap_or_default()
                ))
            } else {
                by
            },
        });
    }
    if let Some(at) = i.resolved_at {
        steps.push(Step {
            at,
            what: "Resolved",
            detail: Some(match &d.resolution {
                Some(r) => format!("by hand, by {}", r.by),
                None => "the check recovered".into(),
            }),
        });
    }
    steps.sort_by_key(|s| s.at);
    steps
}

/// `restart-php: ok, exit 0 (run 12)`, `restart-php: skipped: cooldown …`.
fn action_summary(run: &ActionRun) -> String {
    let mut s = format!("{}: {}", run.action, run.outcome.as_str());
    if let Some(code) = run.exit_code {
        s.push_str(&format!(", exit {code}"));
    }
    if !run.reason.is_empty() {
        s.push_str(&format!(": {}", run.reason));
    }
    s.push_str(&format!(" (run {})", run.id));
    s
}

fn render_detail(session: &crate::auth::Session, d: &Detail, now: Timestamp) -> Markup {
    let i = &d.incident;
    let open = i.resolved_at.is_none();
    html! {
        h1 { "Incident #" (i.id) ": " (i.check.as_str()) }
        p { (state_badge(i)) " " (i.message) }
        dl.facts {
            dt { "Duration" } dd { (duration_table(i.duration_ms(now))) @if open { " so far" } }
            @if let Some(c) = &d.cause {
                dt { "Caused by" }
                dd { a href={"/incidents/" (c.id)} { "#" (c.id) " " (c.check.as_str()) } }
            }
            @if i.suppressed {
                dt { "Notifications" }
                dd { "suppressed (" @if i.cause.is_some() { "a consequence of its cause" } @else if i.maintenance { "maintenance" } @else { "flapping" } ")" }
            }
            @if i.maintenance {
                dt { "Maintenance" } dd { "opened during a maintenance window" }
            }
        }
        (crate::ui::runbook::section(&d.runbook))
        @if open && may_act(session) {
            section.actions aria-labelledby="actions" {
                h2 #actions { "Actions" }
                @if i.acknowledged_at.is_none() {
                    form method="post" action={"/incidents/" (i.id) "/acknowledge"} {
                        (csrf_field(session))
                        p.muted { "Acknowledging stops escalation and reminders." }
                        button type="submit" { "Acknowledge" }
                    }
                }
                form method="post" action={"/incidents/" (i.id) "/resolve"} {
                    (csrf_field(session))
                    label for="note" { "Resolution note (required): what fixed it" }
                    textarea #note name="note" rows="3" required maxlength=(MAX_RESOLUTION_NOTE)
                        placeholder="e.g. restarted php-fpm, pool exhausted by a bot" {}
                    p.muted { "The note is shown the next time this check or one of its findings fails. A check that still fails opens a new incident after its next confirmed failure." }
                    button type="submit" { "Resolve" }
                }
            }
        }
        h2 { "Timeline" }
        ol.timeline {
            @for s in timeline(d) {
                li {
                    (when(now, s.at)) " "
                    strong { (s.what) }
                    @if let Some(detail) = &s.detail { " " span.muted { (detail) } }
                }
            }
        }
        @if !d.actions.is_empty() {
            h2 { "Automatic actions" }
            p.muted { "Runs of [[action]]s made for this incident (see keepup actions); the end of each output as kept." }
            @for run in &d.actions {
                h3 { (when(now, run.started_at)) " " (action_summary(run)) }
                p.muted { (run.cause_detail) }
                @if !run.output.is_empty() { pre.output { (run.output) } }
            }
        }
        (public_updates(session, d, now))
        (past_resolutions(d))
        @if let Some(r) = &d.resolution && !r.note.is_empty() {
            h2 { "Resolution note" }
            p.note { (r.note) }
        }
        @if !i.findings.is_empty() {
            h2 { "Findings" }
            div.table-wrap { table {
                thead { tr { th scope="col" { "Severity" } th scope="col" { "Code" } th scope="col" { "Finding" } } }
                tbody { @for f in &i.findings {
                    tr { td { (f.severity.as_str()) } td { code { (f.code) } } td.wrap { (f.text) } }
                } }
            } }
        }
        @if !d.caused.is_empty() {
            h2 { "Consequences" }
            p.muted { "Incidents of checks that depend on this one, recorded as caused by it." }
            div.table-wrap { table {
                thead { tr { th scope="col" { "#" } th scope="col" { "Check" } th scope="col" { "State" } th scope="col" { "Opened" } } }
                tbody { @for c in &d.caused {
                    tr {
                        td { a href={"/incidents/" (c.id)} { "#" (c.id) } }
                        td { (c.check.as_str()) }
                        td { (state_badge(c)) }
                        td { (when(now, c.opened_at)) }
                    }
                } }
            } }
        }
        h2 { "Notifications" }
        @if d.notifications.is_empty() {
            p.muted { "None were queued for this incident." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { "Queued" } th scope="col" { "Channel" } th scope="col" { "Event" }
                    th scope="col" { "State" } th scope="col" class="num" { "Attempts" } th scope="col" { "Sent" } th scope="col" { "Last error" }
                } }
                tbody { @for n in &d.notifications {
                    tr {
                        td { (when(now, n.created_at)) }
                        td { (n.channel) }
                        td { (event_of(n)) }
                        td { (n.state.as_str()) }
                        td.num { (n.attempts) }
                        td { (when_or_dash(now, n.sent_at)) }
                        td.wrap { (n.last_error.as_deref().unwrap_or("")) }
                    }
                } }
            } }
        }
    }
}

/// The updates the status pages show for the incident, and the form that
/// posts one (operators; also after the incident is resolved, for the
/// closing word).
fn public_updates(session: &crate::auth::Session, d: &Detail, now: Timestamp) -> Markup {
    html! {
        h2 { "Public updates" }
        @if d.updates.is_empty() {
            p.muted { "None yet: status pages show only the incident's impact." }
        } @else {
            ol.timeline {
                @for u in &d.updates {
                    li {
                        (when(now, u.at)) " " strong { (u.status.as_str()) } " "
                        span.muted { "by " (u.author) } p.note { (u.text) }
                    }
                }
            }
        }
        @if may_act(session) {
            (crate::status::update_form(session, d.incident.id))
        }
    }
}

/// `POST /incidents/<id>/acknowledge`
pub(super) async fn acknowledge(
    Operator(session): Operator,
    State(monitor): State<Arc<Monitor>>,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Response> {
    let fields = Fields(fields);
    fields.verify_csrf(&session)?;
    let done = monitor
        .acknowledge_incident(id, session.actor())
        .await
        .map_err(|e| super::store_failed(&e))?;
    if !done {
        return Err(ui::message_page(
            StatusCode::CONFLICT,
            "Nothing to do",
            &format!("Incident #{id} is unknown, resolved, or acknowledged already."),
        ));
    }
    audit_off_thread(
        monitor.store(),
        session.actor(),
        "incident.acknowledge",
        &format!("incident/{id}"),
        "",
    )
    .await;
    Ok(see_other(&format!("/incidents/{id}")))
}

/// "Resolved before": what fixed the same check or finding codes the last
/// times, newest first, the notes whole (escaped like every text).
fn past_resolutions(d: &Detail) -> Markup {
    html! {
        @if !d.past.is_empty() {
            section.past aria-labelledby="past" {
                h2 #past { "Resolved before" }
                p.muted { "The last hand resolutions of this check or of incidents with the same findings." }
                div.table-wrap { table {
                    thead { tr {
                        th scope="col" { "Resolved" } th scope="col" { "Repair" } th scope="col" { "By" }
                        th scope="col" { "Incident" } th scope="col" { "Note" }
                    } }
                    tbody { @for r in &d.past {
                        tr {
                            td { (keepup_model::format_date(r.resolved_at)) }
                            td { (duration_table(r.repair_ms())) }
                            td { (r.by) }
                            td { a href={"/incidents/" (r.incident)} { "#" (r.incident) } " " (r.check.as_str()) }
                            td.wrap.note { (r.note) }
                        }
                    } }
                } }
            }
        }
    }
}

/// `POST /incidents/<id>/resolve` with a `note` (required).
pub(super) async fn resolve(
    Operator(session): Operator,
    State(monitor): State<Arc<Monitor>>,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Response> {
    let fields = Fields(fields);
    fields.verify_csrf(&session)?;
    let note = keepup_store::resolution_note(fields.get("note").unwrap_or(""))
        .map_err(|e| bad_field("note", &e.to_string()))?;
    let done = monitor
        .resolve_incident(id, session.actor(), &note)
        .await
        .map_err(|e| super::store_failed(&e))?;
    if !done {
        return Err(ui::message_page(
            StatusCode::CONFLICT,
            "Nothing to do",
            &format!("Incident #{id} is unknown or resolved already."),
        ));
    }
    audit_off_thread(
        monitor.store(),
        session.actor(),
        "incident.resolve",
        &format!("incident/{id}"),
        &note,
    )
    .await;
    Ok(see_other(&format!("/incidents/{id}")))
}
