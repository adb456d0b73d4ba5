//! `/screenshots/<id>`: the screenshot a failing browser check left with
//! its result, for people logged in to the dashboard. The check page
//! shows it inline ([`super::evidence::screenshot`]); the image itself is
//! only ever served as an image type the store accepted, never sniffed.

use super::DashboardError;
use crate::auth::Viewer;
use crate::ui;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keepup_monitor::Monitor;
use std::sync::Arc;

/// Serves one stored screenshot.
pub async fn image(
    Viewer(_session): Viewer,
    State(monitor): State<Arc<Monitor>>,
    Path(id): Path<String>,
) -> Result<Response, DashboardError> {
    let id: i64 =
        id.parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| DashboardError::BadParameter {
                field: "id",
                why: "a screenshot's number".into(),
            })?;
    let store = monitor.store().clone();
    let shot = crate::offload::spawn_blocking(move || store.screenshot(id)).await??;
    let Some(shot) = shot else {
        return Ok(ui::message_page(
            StatusCode::NOT_FOUND,
            "Not found",
            "This screenshot is no longer kept (each check keeps its newest, as long as its results).",
        ));
    };
    let Some(mime) = ["image/jpeg", "image/png"]
        .into_iter()
        .find(|m| *m == shot.mime)
    else {
        return Ok(ui::message_page(
            StatusCode::NOT_FOUND,
            "Not found",
            "This attachment is not an image.",
        ));
    };
    let mut response = shot.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
