//! The static files pages load, compiled into the binary: a fixed table
//! from name to bytes, served at `/assets/<name>`. Nothing is read from the
//! file system, so no path can reach anything but the table; any other
//! name is 404.
//!
//! Each answer has an ETag (SHA-256 of the bytes) and is cached an hour;
//! pages link `?v=<etag>` so that a new build's files are fetched at once.

use crate::AppState;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::OnceLock;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// Every file served. A page's file is added here and nowhere else.
const ASSETS: &[Asset] = &[
    Asset {
        name: "keepup.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("assets/keepup.css"),
    },
    Asset {
        name: "keepup.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("assets/keepup.js"),
    },
];

const CACHE_CONTROL: &str = "public, max-age=3600";

/// The ETags of [`ASSETS`], in the same order, computed once.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, a.bytes);
                format!("\"{}\"", keepup_model::text::hex(&digest.as_ref()[..12]))
            })
            .collect()
    })
}

/// The URL of asset `name` with its version, for links in pages.
pub fn url(name: &str) -> String {
    match ASSETS.iter().position(|a| a.name == name) {
        Some(i) => format!("/assets/{name}?v={}", etags()[i].trim_matches('"')),
        None => format!("/assets/{name}"),
    }
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/assets/{name}", get(serve))
}

async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such asset\n").into_response();
    };
    let asset = &ASSETS[i];
    let etag = &etags()[i];
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == etag || t.trim() == "*");
    let etag_value = HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"0\""));
    if fresh {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag_value),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(CACHE_CONTROL),
                ),
            ],
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::ETAG, etag_value),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(CACHE_CONTROL),
            ),
        ],
        asset.bytes,
    )
        .into_response()
}
