//! The JSON API under `/api/v1`, and its OpenAPI 3.1 document at
//! `/api/v1/openapi.json`.
//!
//! Every operation is a handler annotated with `#[utoipa::path]`, and the
//! router is built from those annotations ([`Routes::add`]): the path and
//! methods an operation is served at are the ones its document says, so
//! the document cannot miss a route or name one that is not served. The
//! types it answers derive `ToSchema`; the document is generated from
//! them, never written by hand.
//!
//! Conventions, the same everywhere:
//! * a bearer token (`keepup token create`) authenticates every operation
//!   but the document itself; a `read` token reads, a `write` token also
//!   acts (acknowledge, resolve, maintenance), and actions are audited in
//!   the token's name;
//! * check ids (`site/check`) travel in paths as one segment with the `/`
//!   percent-encoded: `/api/v1/checks/shop%2Fweb`;
//! * lists answer `{"items": [...], "next_cursor": ...}`: pass the opaque
//!   cursor back as `cursor` for the next page ([`paging`]);
//! * times are RFC 3339 text in UTC, durations in seconds (`_s`);
//! * errors are `{"error": {"code", "message", "field"?}}` ([`error`]),
//!   and a 400 names the query parameter or body field at fault.

mod backups;
mod checks;
pub mod error;
mod incidents;
mod maintenance;
mod notifications;
mod paging;
mod sla;

use crate::AppState;
use crate::auth::ApiClient;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use error::ApiError;
use keepup_model::{Finding, Status, Timestamp};
use keepup_monitor::Monitor;
use keepup_store::{Store, StoreError};
use serde::Serialize;
use std::sync::OnceLock;
use utoipa::openapi::path::HttpMethod;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// A check's or a result's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusName {
    /// Working as expected.
    Up,
    /// Working, but something needs attention.
    Degraded,
    /// Not working.
    Down,
    /// Could not tell (or not run yet).
    Unknown,
}

impl StatusName {
    /// Every name, as a `state` filter accepts them.
    pub const NAMES: &'static [&'static str] = &["up", "degraded", "down", "unknown"];

    /// Its lowercase name.
    pub fn as_str(self) -> &'static str {
        Status::from(self).as_str()
    }
}

impl From<Status> for StatusName {
    fn from(s: Status) -> Self {
        match s {
            Status::Up => StatusName::Up,
            Status::Degraded => StatusName::Degraded,
            Status::Down => StatusName::Down,
            Status::Unknown => StatusName::Unknown,
        }
    }
}

impl From<StatusName> for Status {
    fn from(s: StatusName) -> Self {
        match s {
            StatusName::Up => Status::Up,
            StatusName::Degraded => Status::Degraded,
            StatusName::Down => Status::Down,
            StatusName::Unknown => Status::Unknown,
        }
    }
}

/// An observation of a run, with a stable code.
#[derive(Debug, Serialize, ToSchema)]
pub struct FindingView {
    /// Stable code, upper snake case (`keepup codes` lists them).
    pub code: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// One sentence for a human.
    pub text: String,
}

impl From<&Finding> for FindingView {
    fn from(f: &Finding) -> Self {
        Self {
            code: f.code.clone(),
            severity: f.severity.as_str().to_owned(),
            text: f.text.clone(),
        }
    }
}

/// A timestamp as the API writes it.
fn rfc3339(at: Timestamp) -> String {
    keepup_model::format_rfc3339(at)
}

/// Runs a store read or write off the async runtime.
async fn blocking<T: Send + 'static>(
    monitor: &Monitor,
    what: &'static str,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = monitor.store().clone();
    match crate::offload::spawn_blocking(move || f(&store)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ApiError::unavailable(what, &e)),
        Err(e) => Err(ApiError::unavailable(what, &e)),
    }
}

/// A request body within the listener's limit, or the error saying why not.
fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(),
        _ => ApiError::bad("body", "could not be read"),
    })
}

/// Records an action of `client` in the audit log (in its token's name).
async fn audit(monitor: &Monitor, client: &ApiClient, action: &str, target: &str, detail: &str) {
    crate::auth::audit_off_thread(monitor.store(), &client.actor(), action, target, detail).await;
}

/// The bearer token scheme every operation but the document uses.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = doc.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "A token from `keepup token create --name N --scope read|write`",
                        ))
                        .build(),
                ),
            );
        }
    }
}

/// The document's frame: information, tags and the schemas of every
/// answer; [`Routes::add`] fills in the operations.
#[derive(OpenApi)]
#[openapi(
    info(title = "keepup API", description = "Sites, checks, results, incidents, maintenance, backups, notifications and SLA figures of a keepup daemon."),
    modifiers(&BearerScheme),
    components(schemas(
        error::ErrorBody, error::ErrorDetail, StatusName, FindingView,
        checks::SiteList, checks::SiteView, checks::StatusCounts,
        checks::CheckPage, checks::CheckView, checks::CheckDetail,
        checks::ResultPage, checks::ResultView,
        incidents::IncidentPage, incidents::IncidentView, incidents::ResolveRequest,
        maintenance::MaintenanceList, maintenance::WindowView,
        maintenance::ConfiguredWindowView, maintenance::MaintenanceRequest,
        backups::PlanList, backups::PlanView, backups::TargetView, backups::JobView,
        notifications::NotificationPage, notifications::NotificationView,
        sla::SlaList, sla::SlaContractView, sla::SlaFigures, sla::BudgetView, sla::CreditView,
        sla::BurnView, sla::SlaPeriodView, sla::SlaCheckView, sla::SlaIncidentView,
        sla::RepairView, sla::SlaDayView,
    )),
    tags(
        (name = "checks", description = "Sites, checks and their results"),
        (name = "incidents", description = "Outages: list, acknowledge, resolve"),
        (name = "maintenance", description = "Windows that mute alerts"),
        (name = "backups", description = "Backup plans and their runs"),
        (name = "notifications", description = "The notification outbox"),
        (name = "sla", description = "Contracts and their SLA figures"),
        (name = "document", description = "This document"),
    )
)]
struct ApiDoc;

/// The router and the document, built together so that they agree.
struct Routes {
    router: Router<AppState>,
    doc: utoipa::openapi::OpenApi,
    served: Vec<(Method, String)>,
}

impl Routes {
    /// Serves `handler` at the path and methods of its `#[utoipa::path]`
    /// (`P`, the type the attribute generates) and adds the operation to
    /// the document.
    fn add<P, H, T>(mut self, handler: H) -> Self
    where
        P: utoipa::Path,
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let path = P::path();
        let methods = P::methods();
        let mut route = MethodRouter::new();
        for m in &methods {
            let (filter, method) = match m {
                HttpMethod::Get => (MethodFilter::GET, Method::GET),
                HttpMethod::Post => (MethodFilter::POST, Method::POST),
                HttpMethod::Put => (MethodFilter::PUT, Method::PUT),
                HttpMethod::Delete => (MethodFilter::DELETE, Method::DELETE),
                HttpMethod::Patch => (MethodFilter::PATCH, Method::PATCH),
                HttpMethod::Head => (MethodFilter::HEAD, Method::HEAD),
                HttpMethod::Options => (MethodFilter::OPTIONS, Method::OPTIONS),
                HttpMethod::Trace => (MethodFilter::TRACE, Method::TRACE),
            };
            route = route.on(filter, handler.clone());
            self.served.push((method, path.clone()));
        }
        self.router = self.router.route(&path, route);
        self.doc
            .paths
            .add_path_operation(&path, methods, P::operation());
        self
    }
}

fn build() -> Routes {
    Routes {
        router: Router::new(),
        doc: ApiDoc::openapi(),
        served: Vec::new(),
    }
    .add::<__path_document, _, _>(document)
    .add::<checks::__path_sites, _, _>(checks::sites)
    .add::<checks::__path_checks, _, _>(checks::checks)
    .add::<checks::__path_check, _, _>(checks::check)
    .add::<checks::__path_results, _, _>(checks::results)
    .add::<incidents::__path_list, _, _>(incidents::list)
    .add::<incidents::__path_one, _, _>(incidents::one)
    .add::<incidents::__path_acknowledge, _, _>(incidents::acknowledge)
    .add::<incidents::__path_resolve, _, _>(incidents::resolve)
    .add::<maintenance::__path_list, _, _>(maintenance::list)
    .add::<maintenance::__path_start, _, _>(maintenance::start)
    .add::<maintenance::__path_end, _, _>(maintenance::end)
    .add::<backups::__path_plans, _, _>(backups::plans)
    .add::<backups::__path_runs, _, _>(backups::runs)
    .add::<notifications::__path_list, _, _>(notifications::list)
    .add::<sla::__path_list, _, _>(sla::list)
    .add::<sla::__path_period, _, _>(sla::period)
}

/// The API's routes. Anything else under `/api/v1/` is a JSON 404.
pub fn routes() -> Router<AppState> {
    build()
        .router
        .route("/api/v1/{*rest}", axum::routing::any(unknown))
}

/// Every method and path the API serves (tests compare them with the
/// document).
pub fn served() -> Vec<(Method, String)> {
    build().served
}

/// The OpenAPI document, generated once.
pub fn document_json() -> &'static [u8] {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| build().doc.to_json().unwrap_or_default().into_bytes())
}

/// This document (OpenAPI 3.1). It needs no token: it describes the API
/// and holds no data.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "document",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object, content_type = "application/json")))]
async fn document() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
        .into_response()
}

async fn unknown() -> ApiError {
    ApiError::not_found("no such API operation; see /api/v1/openapi.json")
}
