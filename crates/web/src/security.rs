//! The security headers on every answer of the listener, whatever route
//! (or none) produced it: a strict Content-Security-Policy (no inline
//! script or style, nothing from elsewhere, no framing), `nosniff`, a
//! same-origin referrer, `X-Frame-Options` for old browsers, and HSTS when
//! the request came over TLS.

use crate::auth::OverTls;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The Content-Security-Policy of every answer.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// HSTS over TLS: a year (the listener then speaks nothing but HTTPS).
const HSTS: &str = "max-age=31536000";

/// The middleware: answers first, headers after.
pub async fn headers(request: Request, next: Next) -> Response {
    let tls = request.extensions().get::<OverTls>().is_some();
    let mut response = next.run(request).await;
    apply(response.headers_mut(), tls);
    response
}

/// Sets the headers on `headers` (also for answers made outside the router);
/// a Content-Security-Policy already there is kept.
pub fn apply(headers: &mut HeaderMap, tls: bool) {
    // A handler may have set a stricter policy of its own (an uploaded
    // SVG logo is sandboxed); it stays.
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
}
