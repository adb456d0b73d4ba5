//! `/dr`: disaster-recovery runs (`keepup dr`) and the questions their
//! `confirm` steps wait on.
//!
//! * `GET /dr` lists the runs (plan, kind, state, start, RTO, RPO) and the
//!   questions waiting for an answer; `GET /dr/runs/<id>` shows a run's
//!   journal and, to an Operator, Yes / No on its waiting question, posted
//!   with the session's CSRF token and audited.
//! * `/dr/confirm/<run>/<step>?e=…&s=…`: the signed link `keepup` prints
//!   (`AckSigner::dr_confirm_link`, the ack links' key). A GET only shows
//!   the question (mail scanners follow links); a POST with the signature
//!   answers, recorded as answered by "signed link".
//!
//! The run itself polls the store (`dr_confirm`) and goes on or fails; an
//! answer is taken once.

use super::{Fields, blocking, see_other, when, when_or_dash};
use crate::auth::{Operator, Viewer, audit_off_thread, csrf_field};
use crate::ui::{self, Section};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use keepup_model::text::duration_table;
use keepup_monitor::Monitor;
use keepup_store::{DrConfirmation, DrRun, DrStep};
use maud::{Markup, html};
use std::sync::Arc;

/// Runs listed on `/dr`.
const RUNS_SHOWN: usize = 50;

/// `GET /dr`
pub(super) async fn list(
    Viewer(session): Viewer,
    State(monitor): State<Arc<Monitor>>,
) -> Result<Response, Response> {
    let store = monitor.store().clone();
    let (runs, waiting) = blocking(move || {
        Ok((
            store.dr_runs(None, RUNS_SHOWN)?,
            store.dr_confirmations(None)?,
        ))
    })
    .await?;
    let now = super::now_ms();
    let body = html! {
        h1 { "Disaster recovery" }
        @if !waiting.is_empty() {
            section aria-labelledby="waiting" {
                h2 #waiting { "Waiting for a confirmation" }
                ul { @for q in &waiting {
                    li {
                        a href={"/dr/runs/" (q.run)} { "Run " (q.run) ", step " (q.step + 1) } ": " (q.prompt)
                        " (asked " (when(now, q.asked_at)) ")"
                    }
                } }
            }
        }
        @if runs.is_empty() {
            p.muted { "No recovery run yet (" code { "keepup dr activate|return|drill PLAN" } ")." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { "Run" } th scope="col" { "Plan" } th scope="col" { "Kind" }
                    th scope="col" { "State" } th scope="col" { "Started" }
                    th scope="col" class="num" { "RTO" } th scope="col" class="num" { "RPO" }
                } }
                tbody { @for r in &runs { (run_row(now, r)) } }
            } }
        }
    };
    Ok(ui::html_response(
        StatusCode::OK,
        ui::page(&session, Section::Recovery, "Disaster recovery", body),
    ))
}

fn run_row(now: i64, r: &DrRun) -> Markup {
    html! {
        tr {
            th scope="row" { a href={"/dr/runs/" (r.id)} { "#" (r.id) } }
            td { (r.plan) }
            td { (r.kind.as_str()) }
            td { (r.state.as_str()) }
            td { (when(now, r.started_at)) }
            td.num { (figure(r.rto_ms)) }
            td.num { (figure(r.rpo_ms)) }
        }
    }
}

fn figure(ms: Option<i64>) -> Markup {
    match ms {
        Some(ms) => html! { (duration_table(ms)) },
        None => html! { span.muted { "–" } },
    }
}

/// `GET /dr/runs/<id>`
pub(super) async fn detail(
    Viewer(session): Viewer,
    State(monitor): State<Arc<Monitor>>,
    Path(id): Path<i64>,
) -> Result<Response, Response> {
    let store = monitor.store().clone();
    let found = blocking(move || {
        let Some(run) = store.dr_run(id)? else {
            return Ok(None);
        };
        Ok(Some((
            run,
            store.dr_steps(id)?,
            store.dr_confirmations(Some(id))?,
        )))
    })
    .await?;
    let Some((run, steps, questions)) = found else {
        return Err(ui::message_page(
            StatusCode::NOT_FOUND,
            "No such run",
            &format!("There is no recovery run #{id} in the store."),
        ));
    };
    let now = super::now_ms();
    let may_act = super::may_act(&session);
    let body = html! {
        h1 { "Recovery run #" (run.id) ": " (run.kind.as_str()) " of " (run.plan) }
        p { "State " strong { (run.state.as_str()) } ", started " (when(now, run.started_at)) " by " (run.started_by)
            ", ended " (when_or_dash(now, run.ended_at)) ". RTO " (figure(run.rto_ms)) ", RPO " (figure(run.rpo_ms)) "." }
        @if !run.message.is_empty() { p { (run.message) } }
        @for q in &questions {
            section aria-labelledby={"q-" (q.step)} {
                h2 #{"q-" (q.step)} { "Step " (q.step + 1) ": " (q.prompt) }
                (question(q, now, may_act.then(|| html! { (csrf_field(&session)) }), &format!("/dr/runs/{}/confirm/{}", q.run, q.step)))
            }
        }
        h2 { "Steps" }
        div.table-wrap { table {
            thead { tr {
                th scope="col" { "#" } th scope="col" { "Step" } th scope="col" { "Kind" } th scope="col" { "Outcome" }
                th scope="col" { "Started" } th scope="col" { "Ended" } th scope="col" { "Output" }
            } }
            tbody { @for s in &steps { (step_row(now, s)) } }
        } }
    };
    Ok(ui::html_response(
        StatusCode::OK,
        ui::page(
            &session,
            Section::Recovery,
            &format!("Recovery run #{id}"),
            body,
        ),
    ))
}

/// The steps' output shown on the page (the journal keeps up to 64 KiB).
const OUTPUT_SHOWN: usize = 4096;

fn step_row(now: i64, s: &DrStep) -> Markup {
    let output = match s.output.char_indices().nth(OUTPUT_SHOWN) {
        Some((cut, _)) => format!("{}…", &s.output[..cut]),
        None => s.output.clone(),
    };
    html! {
        tr {
            th scope="row" { (s.index + 1) }
            td { (s.name) }
            td { (s.kind) }
            td { (s.outcome.as_str()) }
            td { (when(now, s.started_at)) }
            td { (when_or_dash(now, s.ended_at)) }
            td { pre { (output) } }
        }
    }
}

/// A question: who answered, or the form (`form` holds the hidden fields
/// that authorise it; `None`: this viewer may not answer).
fn question(q: &DrConfirmation, now: i64, form: Option<Markup>, action: &str) -> Markup {
    html! {
        @match (q.answer, &q.answered_by) {
            (Some(yes), by) => p {
                "Answered " strong { @if yes { "yes" } @else { "no" } } " by " (by.as_deref().unwrap_or("?"))
                " " (when_or_dash(now, q.answered_at)) "."
            },
            (None, _) => @if let Some(hidden) = form {
                form method="post" action=(action) {
                    (hidden)
                    p { "The run waits for this answer (asked " (when(now, q.asked_at)) ")." }
                    button type="submit" name="answer" value="yes" { "Yes, go on" }
                    " "
                    button type="submit" name="answer" value="no" { "No, stop the run" }
                }
            } @else {
                p { "Waiting for an operator's answer (asked " (when(now, q.asked_at)) ")." }
            },
        }
    }
}

/// The `answer` field: yes or no.
fn answer_of(fields: &Fields) -> Result<bool, super::Refused> {
    match fields.get("answer") {
        Some("yes") => Ok(true),
        Some("no") => Ok(false),
        _ => Err(super::bad_field("answer", "must be yes or no")),
    }
}

/// Records the answer; a 409 when the question is unknown or answered.
async fn answer(
    monitor: &Monitor,
    run: i64,
    step: usize,
    yes: bool,
    by: &str,
) -> Result<(), Response> {
    let store = monitor.store().clone();
    let who = by.to_owned();
    let now = super::now_ms();
    let done = blocking(move || store.dr_confirm_answer(run, step, yes, &who, now)).await?;
    if !done {
        return Err(ui::message_page(
            StatusCode::CONFLICT,
            "Nothing to do",
            &format!("Run #{run} has no question waiting at step {}.", step + 1),
        ));
    }
    audit_off_thread(
        monitor.store(),
        by,
        "dr.confirm",
        &format!("dr-run/{run}/step/{step}"),
        if yes { "yes" } else { "no" },
    )
    .await;
    Ok(())
}

/// `POST /dr/runs/<id>/confirm/<step>` with `answer` = yes | no.
pub(super) async fn confirm(
    Operator(session): Operator,
    State(monitor): State<Arc<Monitor>>,
    Path((run, step)): Path<(i64, usize)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Response> {
    let fields = Fields(fields);
    fields.verify_csrf(&session)?;
    let yes = answer_of(&fields)?;
    answer(&monitor, run, step, yes, session.actor()).await?;
    Ok(see_other(&format!("/dr/runs/{run}")))
}

/// The signature of a `/dr/confirm` link.
#[derive(serde::Deserialize)]
pub(super) struct Signed {
    e: i64,
    s: String,
}

fn verified(monitor: &Monitor, run: i64, step: usize, q: &Signed) -> bool {
    let config = monitor.config();
    let (Some(url), Some(key)) = (&config.server.public_url, &config.server.ack_key) else {
        return false;
    };
    keepup_notify::ack::AckSigner::new(key.expose().as_bytes(), url).verify_dr_confirm(
        run,
        step,
        q.e,
        &q.s,
        super::now_ms().div_euclid(1000),
    )
}

fn link_not_valid() -> Response {
    ui::bare_page(
        StatusCode::FORBIDDEN,
        "Link not valid",
        html! { h1 { "Link not valid" } p { "This confirmation link is invalid or has expired. Answer on the dashboard's Disaster recovery page instead." } },
    )
}

/// `GET /dr/confirm/<run>/<step>?e=…&s=…`: shows the question; never
/// answers.
pub(super) async fn link_page(
    State(monitor): State<Arc<Monitor>>,
    Path((run, step)): Path<(i64, usize)>,
    Query(q): Query<Signed>,
) -> Result<Response, Response> {
    if !verified(&monitor, run, step, &q) {
        return Err(link_not_valid());
    }
    let store = monitor.store().clone();
    let questions = blocking(move || store.dr_confirmations(Some(run))).await?;
    let Some(found) = questions.into_iter().find(|c| c.step == step) else {
        return Err(ui::message_page(
            StatusCode::NOT_FOUND,
            "No such question",
            "The question is not in the store.",
        ));
    };
    let action = format!(
        "/dr/confirm/{run}/{step}?e={}&s={}",
        q.e,
        keepup_model::text::percent_encode(&q.s)
    );
    let title = format!("Recovery run #{run}, step {}", step + 1);
    let body = html! {
        h1 { (title) }
        p { (found.prompt) }
        (question(&found, super::now_ms(), Some(html! {}), &action))
    };
    Ok(ui::bare_page(StatusCode::OK, &title, body))
}

/// `POST /dr/confirm/<run>/<step>?e=…&s=…` with `answer` = yes | no.
pub(super) async fn link_answer(
    State(monitor): State<Arc<Monitor>>,
    Path((run, step)): Path<(i64, usize)>,
    Query(q): Query<Signed>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Response> {
    if !verified(&monitor, run, step, &q) {
        return Err(link_not_valid());
    }
    let yes = answer_of(&Fields(fields))?;
    answer(&monitor, run, step, yes, "signed link").await?;
    Ok(ui::message_page(
        StatusCode::OK,
        "Answered",
        if yes {
            "The run goes on."
        } else {
            "The run stops at this step."
        },
    ))
}
