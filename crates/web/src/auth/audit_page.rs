//! `/audit`: the audit log for admins, newest first, the last 7 days by
//! default (`?days=N`, at most 400).

use super::{Admin, Auth, now};
use crate::AppState;
use crate::ui::{self, Section};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use maud::html;
use std::sync::Arc;

/// Entries shown at most.
const LIMIT: usize = 500;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/audit", get(audit_page))
}

#[derive(serde::Deserialize)]
struct Days {
    #[serde(default = "seven")]
    days: u32,
}

fn seven() -> u32 {
    7
}

async fn audit_page(
    State(auth): State<Arc<Auth>>,
    Admin(session): Admin,
    Query(q): Query<Days>,
) -> Response {
    let days = q.days.clamp(1, 400);
    let since = now() - i64::from(days) * 86_400_000;
    let store = auth.store().clone();
    let read = crate::offload::spawn_blocking(move || store.audit_since(since, LIMIT)).await;
    let Ok(Ok(mut entries)) = read else {
        return ui::message_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            "The audit log could not be read from the store.",
        );
    };
    entries.reverse();
    let body = html! {
        h1 { "Audit log" }
        p.muted { "The last " (days) " days, newest first (at most " (LIMIT) " entries)." }
        div.table-wrap {
            table {
                thead { tr {
                    th scope="col" { "Time (UTC)" }
                    th scope="col" { "Who" }
                    th scope="col" { "Action" }
                    th scope="col" { "Target" }
                    th scope="col" { "Detail" }
                } }
                tbody {
                    @for e in &entries {
                        tr {
                            td { (keepup_model::format_rfc3339(e.at)) }
                            td { (e.actor) }
                            td { (e.action) }
                            td { (e.target) }
                            td { (e.detail_shown()) }
                        }
                    }
                }
            }
        }
    };
    ui::html_response(
        StatusCode::OK,
        ui::page(&session, Section::Other, "Audit log", body),
    )
}
