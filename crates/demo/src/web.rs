//! The shop's web extras that the newer check kinds look at: its privacy
//! policy, its `security.txt`, a stand-in RDAP registry for the demo
//! domain, and a stand-in payment vendor (its API and its status page in
//! Atlassian Statuspage's format). The pages are served by the shop's
//! servers, the registry and the vendor by the demo's "outside world"
//! server; all on loopback, so the demo never contacts anything else.

use crate::faults::{Fault, FaultPlan};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// The demo shop's domain: registered at the demo RDAP responder, delegated
/// by the demo DNS server.
pub const DOMAIN: &str = "demo-shop.test";

/// The payment vendor's component the shop depends on.
pub const PAYMENT_COMPONENT: &str = "Payments API";

/// The shop's own pages beside its storefront, over the fault plan.
pub(crate) fn shop_pages() -> Router<FaultPlan> {
    Router::new()
        .route("/privacy", get(privacy))
        .route("/.well-known/security.txt", get(security_txt))
        // A real 404 for everything else, so soft-404 detection has
        // something to compare the policy page with.
        .fallback(not_found)
}

/// What is not the shop's server (the registry and the payment vendor),
/// so it keeps answering when the shop's production is lost.
pub(crate) fn outside_services() -> Router<FaultPlan> {
    Router::new()
        .route("/rdap/domain/{name}", get(rdap))
        .route("/vendor/v1/payments/health", get(payment_api))
        .route("/vendor/status/api/v2/summary.json", get(vendor_status))
        .route("/vendor/pay/form", get(payment_form))
        .fallback(not_found)
}

pub(crate) async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html("<!doctype html><title>Not found</title><h1>Not found</h1><p>No such page in the demo shop.</p>"),
    )
        .into_response()
}

async fn privacy() -> Html<&'static str> {
    Html(
        "<!doctype html><title>Privacy policy</title><h1>Privacy policy</h1>\
         <p>The data controller is Demo Shop Ltd. We keep your orders for ten years, \
         as the tax law requires, and nothing else.</p>",
    )
}

/// A date `days` from now, as RFC 3339 (UTC, whole seconds).
fn in_days(days: i64) -> String {
    let t = OffsetDateTime::now_utc() + Duration::days(days);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

async fn security_txt() -> Response {
    (
        [("content-type", "text/plain; charset=utf-8")],
        format!(
            "# Security contacts of the demo shop (RFC 9116)\n\
             Contact: mailto:security@{DOMAIN}\n\
             Expires: {}\n\
             Preferred-Languages: en\n",
            in_days(180)
        ),
    )
        .into_response()
}

/// An RFC 9083 domain object for the demo domain (registered for another
/// 200 days), 404 for any other name.
async fn rdap(Path(name): Path<String>) -> Response {
    if !name.eq_ignore_ascii_case(DOMAIN) {
        return (
            StatusCode::NOT_FOUND,
            [("content-type", "application/rdap+json")],
            r#"{"errorCode":404,"title":"Not Found"}"#,
        )
            .into_response();
    }
    let body = serde_json::json!({
        "objectClassName": "domain",
        "rdapConformance": ["rdap_level_0"],
        "handle": "DEMO-1",
        "ldhName": DOMAIN,
        "status": ["active"],
        "events": [
            {"eventAction": "registration", "eventDate": in_days(-165)},
            {"eventAction": "expiration", "eventDate": in_days(200)},
        ],
        "entities": [{
            "objectClassName": "entity",
            "roles": ["registrar"],
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Demo Registrar"]]],
        }],
        "nameservers": [{"objectClassName": "nameserver", "ldhName": format!("ns1.{DOMAIN}")}],
    });
    (
        [("content-type", "application/rdap+json")],
        body.to_string(),
    )
        .into_response()
}

/// The card form the shop's checkout embeds in an iframe.
async fn payment_form() -> Html<&'static str> {
    Html(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Demo Payments</title></head><body>\
         <h2>Demo Payments</h2><form id=\"card\" onsubmit=\"return false\">\
         <label>Card number <input name=\"card\" autocomplete=\"cc-number\"></label>\
         <button type=\"submit\">Pay</button></form></body></html>",
    )
}

async fn payment_api() -> Response {
    ([("content-type", "application/json")], r#"{"ok":true}"#).into_response()
}

/// The vendor's Statuspage summary: all operational, except the payments
/// component during the vendor-outage fault.
async fn vendor_status(State(f): State<FaultPlan>) -> Response {
    let outage = f.current() == Fault::VendorOutage;
    let (indicator, payments) = if outage {
        ("major", "major_outage")
    } else {
        ("none", "operational")
    };
    let body = serde_json::json!({
        "page": {"id": "demo", "name": "Demo Payments", "updated_at": in_days(0)},
        "status": {"indicator": indicator, "description": if outage { "Major outage" } else { "All Systems Operational" }},
        "components": [
            {"id": "c1", "name": PAYMENT_COMPONENT, "status": payments},
            {"id": "c2", "name": "Dashboard", "status": "operational"},
        ],
        "incidents": [],
        "scheduled_maintenances": [],
    });
    ([("content-type", "application/json")], body.to_string()).into_response()
}
