//! `/`: a minimal landing page saying who is logged in, until the
//! overview replaces it.

use super::{Section, page};
use crate::AppState;
use crate::auth::Viewer;
use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use maud::html;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/", get(home))
}

async fn home(Viewer(session): Viewer) -> Response {
    let body = html! {
        h1 { "keepup" }
        p { "Logged in as " strong { (session.user) } " (" (session.role) ")." }
    };
    super::html_response(
        StatusCode::OK,
        page(&session, Section::Overview, "Overview", body),
    )
}
