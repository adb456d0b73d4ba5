//! The operator dashboard: the overview of every check at `/`, a check's
//! page at `/checks/<site>/<check>`, `/events`, the server-sent events
//! that keep both up to date without reloading (`/assets/keepup.js`), and
//! `/screenshots/<id>`, a failing browser check's screenshot.
//!
//! Pages are rendered on the server (maud) from the running monitor's
//! current states and the store; store reads run on blocking threads.
//! Query parameters are checked before anything is read: a bad one is a
//! 400 that names it.

pub(crate) mod chart;
pub(crate) mod check;
mod events;
mod evidence;
pub(crate) mod overview;
mod screenshot;

use crate::AppState;
use crate::auth::{Session, Viewer};
use crate::ui::{self, Section};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use keepup_model::Timestamp;
use keepup_monitor::Monitor;
use maud::Render;
use std::sync::Arc;

/// Longest text accepted in a filter or query parameter.
const MAX_PARAM: usize = 200;

/// The dashboard's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview_page))
        .route("/checks/{*id}", get(check::page))
        .route("/events", get(events::stream))
        .route("/screenshots/{id}", get(screenshot::image))
}

/// Why a dashboard page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// A query parameter is not acceptable.
    #[error("{field}: {why}")]
    BadParameter {
        /// The parameter's name.
        field: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// No such check is configured.
    #[error("no check {0} is configured")]
    NoSuchCheck(String),
    /// The store could not be read.
    #[error("cannot read the store: {0}")]
    Store(#[from] keepup_store::StoreError),
    /// A blocking read failed to finish.
    #[error("store task failed: {0}")]
    Task(#[from] crate::offload::TaskFailed),
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let status = match &self {
            DashboardError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            DashboardError::NoSuchCheck(_) => StatusCode::NOT_FOUND,
            DashboardError::Store(_) | DashboardError::Task(_) => {
                tracing::error!(error = %self, "dashboard page failed");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        let title = match status {
            StatusCode::BAD_REQUEST => "Bad request",
            StatusCode::NOT_FOUND => "Not found",
            _ => "Try again",
        };
        ui::message_page(status, title, &self.to_string())
    }
}

/// The time a page is rendered at (ms since the epoch).
#[derive(Debug, Clone, Copy)]
pub struct Now(pub Timestamp);

impl Now {
    fn wall() -> Now {
        Now(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0))
    }
}

/// The overview's query as it arrives.
#[derive(Debug, Default, serde::Deserialize)]
struct RawFilters {
    site: Option<String>,
    tag: Option<String>,
    state: Option<String>,
    q: Option<String>,
    page: Option<String>,
}

/// The overview's filters, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// Only this site.
    pub site: Option<String>,
    /// Only checks (or sites) with this tag.
    pub tag: Option<String>,
    /// Only checks in this state (`up`, ..., `pending`).
    pub state: Option<String>,
    /// Only checks whose id, name or message contains this (any case).
    pub q: Option<String>,
    /// The page, from 1.
    pub page: usize,
}

/// An optional text parameter: empty is absent, too long is an error.
fn text_param(field: &'static str, v: Option<String>) -> Result<Option<String>, DashboardError> {
    let Some(v) = v.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > MAX_PARAM {
        return Err(DashboardError::BadParameter {
            field,
            why: format!("at most {MAX_PARAM} characters"),
        });
    }
    Ok(Some(v.trim().to_owned()))
}

/// User-supplied text quoted in an error message, cut to a sane length.
fn bounded_for_message(s: &str) -> String {
    let mut out: String = s.chars().take(MAX_PARAM).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// A page number from 1.
fn page_param(field: &'static str, v: Option<String>) -> Result<usize, DashboardError> {
    match v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(1),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
            _ => Err(DashboardError::BadParameter {
                field,
                why: "a page number from 1".into(),
            }),
        },
    }
}

impl Filters {
    fn parse(raw: RawFilters) -> Result<Filters, DashboardError> {
        let state = text_param("state", raw.state)?.map(|s| s.to_lowercase());
        if let Some(s) = &state
            && !overview::STATES.contains(&s.as_str())
        {
            return Err(DashboardError::BadParameter {
                field: "state",
                why: format!("one of {}", overview::STATES.join(", ")),
            });
        }
        Ok(Filters {
            site: text_param("site", raw.site)?,
            tag: text_param("tag", raw.tag)?,
            state,
            q: text_param("q", raw.q)?,
            page: page_param("page", raw.page)?,
        })
    }

    fn is_empty(&self) -> bool {
        self.site.is_none() && self.tag.is_none() && self.state.is_none() && self.q.is_none()
    }

    /// The overview's URL with these filters.
    fn query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (k, v) in [
            ("site", &self.site),
            ("tag", &self.tag),
            ("state", &self.state),
            ("q", &self.q),
        ] {
            if let Some(v) = v {
                pairs.push((k, v.clone()));
            }
        }
        if self.page > 1 {
            pairs.push(("page", self.page.to_string()));
        }
        match serde_urlencoded::to_string(&pairs) {
            Ok(q) if !q.is_empty() => format!("/?{q}"),
            _ => "/".into(),
        }
    }

    fn with_page(&self, page: usize) -> Filters {
        Filters {
            page,
            ..self.clone()
        }
    }

    fn with_state(&self, state: &str) -> Filters {
        Filters {
            state: Some(state.to_owned()),
            page: 1,
            ..self.clone()
        }
    }
}

async fn overview_page(
    Viewer(session): Viewer,
    State(monitor): State<Arc<Monitor>>,
    State(cache): State<Arc<overview::HistoryCache>>,
    Query(raw): Query<RawFilters>,
) -> Result<Response, DashboardError> {
    let filters = Filters::parse(raw)?;
    let now = Now::wall();
    let (config, current, open) = (
        monitor.config(),
        monitor.current_shared(),
        monitor.open_incidents(),
    );
    let mut o = overview::read(&config, &current, &open, &filters);
    let ids = o.ids();
    let histories = match cache.kept(&ids, now.0) {
        Some(kept) => kept,
        None => {
            let store = monitor.store().clone();
            crate::offload::spawn_blocking(move || cache.histories(&store, &ids, now.0)).await??
        }
    };
    o.set_histories(histories);
    let body = overview::Body {
        overview: &o,
        filters: &filters,
        now,
    };
    Ok(layout(&session, "Overview", &body))
}

/// A dashboard page in the layout every page shares.
fn layout(session: &Session, title: &str, body: &impl Render) -> Response {
    ui::page_response(session, Section::Overview, title, body)
}
