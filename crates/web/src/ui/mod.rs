//! The look every page shares: the layout (header with keepup's name, the
//! navigation, the user menu with logout), the one stylesheet and script
//! (embedded, served under `/assets/`), and small helpers pages use.
//!
//! Pages are maud templates, so every value is escaped. The CSP allows no
//! inline script or style: behaviour goes in `assets/keepup.js`, looks in
//! `assets/keepup.css` (states as classes: `up`, `degraded`, `down`,
//! `unknown`, `maintenance`).

pub mod assets;
pub mod buffers;
pub mod runbook;

use crate::AppState;
use crate::auth::{Session, csrf_field};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use keepup_model::Status;
use maud::{DOCTYPE, Markup, PreEscaped, Render, html};

/// The sections of the navigation, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `/`
    Overview,
    /// `/incidents`
    Incidents,
    /// `/maintenance`
    Maintenance,
    /// `/backups`
    Backups,
    /// `/notifications`
    Notifications,
    /// `/sla`
    Sla,
    /// `/dr`
    Recovery,
    /// None of them (a page outside the navigation).
    Other,
}

const NAV: [(Section, &str, &str); 7] = [
    (Section::Overview, "/", "Overview"),
    (Section::Incidents, "/incidents", "Incidents"),
    (Section::Maintenance, "/maintenance", "Maintenance"),
    (Section::Backups, "/backups", "Backups"),
    (Section::Notifications, "/notifications", "Notifications"),
    (Section::Sla, "/sla", "SLA"),
    (Section::Recovery, "/dr", "Recovery"),
];

/// The page routes of this module (the assets; `/` is the dashboard's
/// overview).
pub fn routes() -> Router<AppState> {
    assets::routes()
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · keepup" }
            link rel="stylesheet" href=(assets::url("keepup.css"));
            script src=(assets::url("keepup.js")) defer {}
        }
    }
}

/// A whole page for a logged-in person: header, navigation with `active`
/// marked, user menu, and `body` as the main content.
pub fn page(session: &Session, active: Section, title: &str, body: Markup) -> Markup {
    let mut out = String::new();
    page_to(&mut out, session, active, title, &body);
    PreEscaped(out)
}

/// [`page`] as an answer, written into a buffer kept for the next page
/// ([`buffers`]); `body` is written straight into it.
pub fn page_response(
    session: &Session,
    active: Section,
    title: &str,
    body: &impl Render,
) -> Response {
    let mut out = buffers::SPARE.take();
    page_to(&mut out, session, active, title, body);
    html_answer(StatusCode::OK, buffers::SPARE.into_body(out))
}

/// Writes [`page`] into `out`. The elements around the body are opened and
/// closed by hand so that the body is written where it belongs instead of
/// into a string of its own first.
fn page_to(out: &mut String, session: &Session, active: Section, title: &str, body: &impl Render) {
    DOCTYPE.render_to(out);
    out.push_str("<html lang=\"en\">");
    head(title).render_to(out);
    out.push_str("<body>");
    html! {
        a.skip href="#main" { "Skip to content" }
        header.top {
            a.brand href="/" { "keepup" }
            nav aria-label="Main" {
                ul {
                    @for (section, href, label) in NAV {
                        li {
                            @if section == active {
                                a href=(href) aria-current="page" { (label) }
                            } @else {
                                a href=(href) { (label) }
                            }
                        }
                    }
                }
            }
            details.user-menu {
                summary { (session.user) }
                div.menu {
                    p.muted {
                        "Role: " (session.role)
                        @if session.role == keepup_store::Role::Admin {
                            " · " a href="/audit" { "Audit log" }
                        }
                    }
                    form method="post" action="/logout" {
                        (csrf_field(session))
                        button type="submit" { "Log out" }
                    }
                }
            }
        }
    }
    .render_to(out);
    out.push_str("<main id=\"main\">");
    body.render_to(out);
    out.push_str("</main></body></html>");
}

/// A page without navigation (login, errors, acknowledgement links).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                header.top { span.brand { "keepup" } }
                main #main { (body) }
            }
        }
    }
}

/// An HTML answer that no cache keeps (pages show live, per-user data).
pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    html_answer(status, markup.into_string())
}

fn html_answer(status: StatusCode, body: impl IntoResponse) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// [`bare`] as an answer.
pub fn bare_page(status: StatusCode, title: &str, body: Markup) -> Response {
    html_response(status, bare(title, body))
}

/// A page with a title and one sentence: errors, refusals, confirmations.
pub fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    bare_page(status, title, html! { h1 { (title) } p { (message) } })
}

/// The CSS class of a state: `up`, `degraded`, `down`, `unknown` (and
/// `maintenance`, which is no [`Status`], written by pages that know it).
pub fn state_class(status: Status) -> &'static str {
    match status {
        Status::Up => "up",
        Status::Degraded => "degraded",
        Status::Down => "down",
        Status::Unknown => "unknown",
    }
}
