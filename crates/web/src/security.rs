//! The security headers on every answer of the listener, whatever route
//! (or none) produced it: a strict Content-Security-Policy (no inline
//! script or style, nothing from elsewhere, no framing), `nosniff`, a
//! same-origin referrer, `X-Frame-Options` for old browsers, and HSTS when
//! the request came over TLS or `[server] public_url` is https (TLS ends
//! at a proxy in front of keepup; browsers heed HSTS only over https, so
//! it does nothing to a plain-HTTP heartbeat).

use crate::auth::OverTls;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The Content-Security-Policy of every answer.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// HSTS over TLS: a year (the listener then speaks nothing but HTTPS).
const HSTS: &str = "max-age=31536000";

/// Whether people reach keepup over https whatever the listener speaks:
/// `[server] public_url` is an https URL.
#[derive(Debug, Clone, Copy)]
pub struct PublicHttps(pub bool);

impl PublicHttps {
    /// From `[server] public_url`.
    pub fn of(public_url: Option<&str>) -> Self {
        PublicHttps(public_url.is_some_and(|u| u.starts_with("https://")))
    }
}

/// The middleware: answers first, headers after.
pub async fn headers(State(public): State<PublicHttps>, request: Request, next: Next) -> Response {
    let tls = public.0 || request.extensions().get::<OverTls>().is_some();
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
