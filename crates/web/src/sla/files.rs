//! A kept report's file, `/sla/<contract>/reports/<period>.html|csv|json`,
//! byte for byte what the daemon kept (and mailed) when the period closed.
//!
//! The store reads and decompresses only the file asked for. The CSV and
//! JSON are downloads (`Content-Disposition: attachment`). The HTML report
//! is one self-contained page whose looks are an inline stylesheet and
//! `style` attributes, which the dashboard's policy (no inline style)
//! would strip; it is shown in the browser under a policy of its own that
//! allows inline style and nothing else: no script, no requests, and
//! `sandbox`, so the page runs in an origin of its own, away from the
//! session.

use super::{SlaPageError, bounded, find};
use crate::auth::Viewer;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keepup_monitor::Monitor;
use keepup_store::ReportFormat;
use std::sync::Arc;

/// The policy a kept HTML report is shown under.
pub const REPORT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'; sandbox";

/// `GET /sla/<contract>/reports/<period>.<ext>`
pub(super) async fn download(
    Viewer(_): Viewer,
    State(monitor): State<Arc<Monitor>>,
    Path((contract, file)): Path<(String, String)>,
) -> Result<Response, SlaPageError> {
    let config = monitor.config();
    let contract = find(&config, &contract)?.id.clone();
    let not_kept = || SlaPageError::NoSuchReport(bounded(&file));
    let (period, format) = file
        .rsplit_once('.')
        .and_then(|(p, ext)| Some((p.to_owned(), ReportFormat::from_extension(ext)?)))
        .ok_or_else(not_kept)?;
    let store = monitor.store().clone();
    let (c, p) = (contract.clone(), period.clone());
    let data = crate::offload::spawn_blocking(move || store.kept_report_file(&c, &p, format))
        .await??
        .ok_or_else(not_kept)?;
    // Contract ids and period names are plain ASCII ([a-z0-9_-], digits,
    // `-Q`), so the name needs no quoting beyond the quotes.
    let name = keepup_monitor::reports::file_name(&contract, &period, format.extension());
    let (content_type, disposition) = match format {
        ReportFormat::Html => ("text/html; charset=utf-8", "inline"),
        ReportFormat::Csv => ("text/csv; charset=utf-8", "attachment"),
        ReportFormat::Json => ("application/json", "attachment"),
    };
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, no-cache"),
        ],
        data,
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{disposition}; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if format == ReportFormat::Html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(REPORT_CSP),
        );
    }
    Ok(response)
}
