//! `POST /incidents/<id>/updates`: an operator posts a public update of an
//! incident (status and text, shown on the status pages that list it).
//! The incident's page embeds [`update_form`]; the handler checks the
//! session's role and CSRF token, the fields ([`NewStatusUpdate::new`],
//! 400 naming the field), stores the update, writes the audit log, has the
//! pages rendered again, and sends the operator back to the incident.

use super::StatusPages;
use crate::auth::{Auth, Operator, csrf_field};
use axum::Router;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use keepup_monitor::Monitor;
use keepup_store::{MAX_UPDATE_TEXT, NewStatusUpdate, UpdateStatus};
use maud::{Markup, html};
use std::collections::HashMap;
use std::sync::Arc;

/// The route, for a router whose state gives the monitor and the auth.
pub(crate) fn routes<S>(pages: Arc<StatusPages>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Auth>: FromRef<S>,
    Arc<Monitor>: FromRef<S>,
{
    Router::new().route(
        "/incidents/{id}/updates",
        post(
            move |op: Operator,
                  State(monitor): State<Arc<Monitor>>,
                  Path(id): Path<i64>,
                  axum::Form(form): axum::Form<HashMap<String, String>>| {
                let pages = pages.clone();
                async move { post_update(&pages, op, &monitor, id, &form).await }
            },
        ),
    )
}

fn bad_request(why: String) -> Response {
    (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response()
}

async fn post_update(
    pages: &StatusPages,
    Operator(session): Operator,
    monitor: &Monitor,
    id: i64,
    form: &HashMap<String, String>,
) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    if let Err(refused) = session.verify_csrf(field("csrf")) {
        return refused.into_response();
    }
    let now = crate::auth::now();
    let update =
        match NewStatusUpdate::new(id, now, field("status"), field("text"), session.actor()) {
            Ok(u) => u,
            Err(e) => return bad_request(e.to_string()),
        };
    let store = monitor.store().clone();
    let actor = session.actor().to_owned();
    let status = field("status").trim().to_owned();
    let stored = crate::offload::spawn_blocking(move || {
        let n = store.add_status_update(&update)?;
        if n.is_some() {
            crate::auth::audit(
                &store,
                &actor,
                "incident.public_update",
                &format!("incident #{id}"),
                &status,
            );
        }
        Ok::<_, keepup_store::StoreError>(n)
    })
    .await;
    match stored {
        Ok(Ok(Some(_))) => {
            pages.refresh();
            Redirect::to(&format!("/incidents/{id}")).into_response()
        }
        Ok(Ok(None)) => (StatusCode::NOT_FOUND, "no such incident\n").into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, incident = id, "public update not stored");
            (StatusCode::SERVICE_UNAVAILABLE, "not stored, try again\n").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, incident = id, "public update task failed");
            (StatusCode::SERVICE_UNAVAILABLE, "not stored, try again\n").into_response()
        }
    }
}

/// The form an incident's page embeds to post a public update.
pub fn update_form(session: &crate::auth::Session, incident: i64) -> Markup {
    html! {
        form method="post" action={ "/incidents/" (incident) "/updates" } class="stacked public-update" {
            (csrf_field(session))
            label for="update-status" { "Public status" }
            select id="update-status" name="status" {
                @for s in UpdateStatus::ALL { option value=(s.as_str()) { (s.as_str()) } }
            }
            label for="update-text" { "Text for the status page" }
            textarea id="update-text" name="text" required maxlength=(MAX_UPDATE_TEXT) rows="3" {}
            button type="submit" { "Post public update" }
        }
    }
}
