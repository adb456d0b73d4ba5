//! A page's view rendered four ways: the HTML page, its JSON document, an
//! Atom feed of its incidents and an SVG badge per component.
//!
//! HTML, Atom and SVG are written with maud, which escapes every value, so
//! a component name or an update text full of markup is shown as text.
//! Empty XML elements are written as `<x></x>` (maud's void syntax would
//! not be XML). Nothing here reads the clock: the same view renders to the
//! same bytes, so the cache's ETag changes only when the content does.

use super::view::{Day, IncidentView, PageView, PublicState};
use keepup_config::StatusPage;
use keepup_model::{Timestamp, format_rfc3339};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// Path of the page's stylesheet.
pub(crate) const CSS_PATH: &str = "/status/assets/status.css";

/// Where a page's parts live.
pub(crate) struct Links {
    /// `/status/<slug>`.
    pub page: String,
    /// Absolute base for the feed (`public_url` without its trailing
    /// slash), empty when not configured.
    pub base: String,
}

impl Links {
    pub(crate) fn new(page: &StatusPage, public_url: Option<&str>) -> Links {
        Links {
            page: format!("/status/{}", page.slug),
            base: public_url.unwrap_or("").trim_end_matches('/').to_owned(),
        }
    }
    fn feed(&self) -> String {
        format!("{}/feed.atom", self.page)
    }
    fn json(&self) -> String {
        format!("{}.json", self.page)
    }
    fn logo(&self) -> String {
        format!("{}/logo", self.page)
    }
    pub(crate) fn badge(&self, key: &str) -> String {
        format!("{}/badge/{key}.svg", self.page)
    }
}

/// A time as people read it: `2026-12-05 20:14 UTC`.
fn when(at: Timestamp) -> String {
    let full = format_rfc3339(at);
    match (full.get(..10), full.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => full,
    }
}

fn percent(p: Option<f64>) -> String {
    match p {
        // Three decimals would claim more than a day of 60 s results
        // measures; 100 % only when nothing was down.
        Some(p) if p >= 100.0 => "100%".into(),
        Some(p) => format!("{:.2}%", (p * 100.0).floor() / 100.0),
        None => "no data".into(),
    }
}

fn overall_sentence(state: PublicState) -> &'static str {
    match state {
        PublicState::Operational => "All systems operational",
        PublicState::Maintenance => "Maintenance in progress",
        PublicState::Degraded => "Some systems are degraded",
        PublicState::Down => "Some systems are down",
        PublicState::NoData => "No data yet",
    }
}

/// Width of one day's bar and the gap after it, in SVG units.
const BAR: i64 = 4;
const BAR_GAP: i64 = 1;

fn day_title(day: &Day, today: bool) -> String {
    let mut t = keepup_model::format_date(day.start_ms);
    if today {
        t.push_str(" (today so far)");
    }
    match day.uptime() {
        None => t.push_str(": no data"),
        Some(u) => {
            t.push_str(&format!(": {} uptime", percent(Some(u))));
            if day.down_ms > 0 {
                t.push_str(&format!(", down {}", minutes(day.down_ms)));
            }
            if day.degraded_ms > 0 {
                t.push_str(&format!(", degraded {}", minutes(day.degraded_ms)));
            }
        }
    }
    t
}

fn minutes(ms: i64) -> String {
    let m = (ms + 59_999) / 60_000;
    if m >= 60 {
        format!("{} h {} min", m / 60, m % 60)
    } else {
        format!("{m} min")
    }
}

fn bars(name: &str, days: &[Day]) -> Markup {
    let width = days.len() as i64 * (BAR + BAR_GAP) - BAR_GAP;
    let last = days.len().saturating_sub(1);
    html! {
        svg class="bars" viewBox={ "0 0 " (width.max(1)) " 30" } preserveAspectRatio="none"
            role="img" aria-label={ (name) ": uptime per day over " (days.len()) " days" } {
            @for (i, day) in days.iter().enumerate() {
                rect class={ "day " (day.state().as_str()) } x=(i as i64 * (BAR + BAR_GAP)) y="0"
                    width=(BAR) height="30" rx="1" {
                    title { (day_title(day, i == last)) }
                }
            }
        }
    }
}

fn incident_html(i: &IncidentView) -> Markup {
    html! {
        article class={ "incident " (i.impact.as_str()) } id={ "incident-" (i.id) } {
            h3 { (i.title()) }
            p class="meta" {
                span class={ "pill " (i.status().as_str()) } { (i.status().as_str()) }
                " Started " time datetime=(format_rfc3339(i.started_at)) { (when(i.started_at)) }
                @if let Some(end) = i.resolved_at {
                    ", resolved " time datetime=(format_rfc3339(end)) { (when(end)) }
                    " (" (minutes(end - i.started_at)) ")"
                }
            }
            @if let Some(d) = &i.detail { p class="detail" { (d) } }
            @if !i.updates.is_empty() {
                ol class="updates" reversed {
                    @for u in i.updates.iter().rev() {
                        li {
                            strong { (u.status.as_str()) }
                            " " time datetime=(format_rfc3339(u.at)) { (when(u.at)) }
                            p { (u.text) }
                        }
                    }
                }
            }
        }
    }
}

/// The HTML page.
pub(crate) fn page_html(
    page: &StatusPage,
    view: &PageView,
    links: &Links,
    keys: &[String],
) -> String {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (page.title) }
                link rel="stylesheet" href=(CSS_PATH);
                link rel="alternate" type="application/atom+xml" title={ (page.title) ": incidents" } href=(links.feed());
            }
            body class="status-page" {
                header class="top" {
                    @if page.logo.is_some() { img class="logo" src=(links.logo()) alt=""; }
                    h1 { (page.title) }
                }
                main {
                    @if !page.description.is_empty() { p class="description" { (page.description) } }
                    p class={ "overall " (view.overall.as_str()) } role="status" { (overall_sentence(view.overall)) }
                    @if !view.current.is_empty() {
                        section class="current" {
                            h2 { "Current incidents" }
                            @for i in &view.current { (incident_html(i)) }
                        }
                    }
                    @if !view.maintenance.is_empty() {
                        section class="maintenance" {
                            h2 { "Scheduled maintenance" }
                            ul {
                                @for m in &view.maintenance {
                                    li {
                                        strong { (m.components.join(", ")) }
                                        " " time datetime=(format_rfc3339(m.starts_at)) { (when(m.starts_at)) }
                                        " to " time datetime=(format_rfc3339(m.ends_at)) { (when(m.ends_at)) }
                                        @if let Some(r) = &m.reason { @if !r.is_empty() { ": " (r) } }
                                    }
                                }
                            }
                        }
                    }
                    section class="components" {
                        h2 { "Components" }
                        ul {
                            @for (c, key) in view.components.iter().zip(keys) {
                                li class="component" id={ "component-" (key) } {
                                    div class="row" {
                                        h3 { (c.name) }
                                        span class={ "state " (c.state.as_str()) } { (c.state.label()) }
                                    }
                                    (bars(&c.name, &c.days))
                                    div class="legend" {
                                        span { (c.days.len()) " days ago" }
                                        span { (percent(c.uptime())) " uptime" }
                                        span { "today" }
                                    }
                                    @if !c.details.is_empty() {
                                        ul class="checks" {
                                            @for (name, state, message) in &c.details {
                                                li { span class={ "dot " (state.as_str()) } {} (name) ": " (message) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    section class="past" {
                        h2 { "Past incidents" }
                        @if view.past.is_empty() {
                            p class="none" { "No incidents in the last " (view.components.first().map(|c| c.days.len()).unwrap_or(90)) " days." }
                        }
                        @for i in &view.past { (incident_html(i)) }
                    }
                }
                footer {
                    a href=(links.feed()) { "Atom feed" } " · " a href=(links.json()) { "JSON" }
                    " · " span { "served by keepup" }
                }
            }
        }
    };
    markup.into_string()
}

#[derive(serde::Serialize)]
struct JsonDoc<'a> {
    page: JsonPage<'a>,
    state: PublicState,
    components: Vec<JsonComponent<'a>>,
    incidents: Vec<JsonIncident<'a>>,
    maintenance: Vec<JsonMaintenance<'a>>,
}

#[derive(serde::Serialize)]
struct JsonPage<'a> {
    slug: &'a str,
    title: &'a str,
    description: &'a str,
    url: &'a str,
    feed: String,
}

#[derive(serde::Serialize)]
struct JsonComponent<'a> {
    name: &'a str,
    key: &'a str,
    state: PublicState,
    uptime_percent: Option<f64>,
    badge: String,
    days: Vec<JsonDay>,
}

#[derive(serde::Serialize)]
struct JsonDay {
    date: String,
    state: PublicState,
    uptime_percent: Option<f64>,
    down_seconds: i64,
    degraded_seconds: i64,
}

#[derive(serde::Serialize)]
struct JsonIncident<'a> {
    id: i64,
    title: String,
    impact: PublicState,
    status: keepup_store::UpdateStatus,
    components: &'a [String],
    started_at: String,
    resolved_at: Option<String>,
    updates: Vec<JsonUpdate<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct JsonUpdate<'a> {
    at: String,
    status: keepup_store::UpdateStatus,
    text: &'a str,
}

#[derive(serde::Serialize)]
struct JsonMaintenance<'a> {
    components: &'a [String],
    starts_at: String,
    ends_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

fn round2(p: Option<f64>) -> Option<f64> {
    p.map(|p| (p * 100.0).floor() / 100.0)
}

fn json_incident(i: &IncidentView) -> JsonIncident<'_> {
    JsonIncident {
        id: i.id,
        title: i.title(),
        impact: i.impact,
        status: i.status(),
        components: &i.components,
        started_at: format_rfc3339(i.started_at),
        resolved_at: i.resolved_at.map(format_rfc3339),
        updates: i
            .updates
            .iter()
            .map(|u| JsonUpdate {
                at: format_rfc3339(u.at),
                status: u.status,
                text: &u.text,
            })
            .collect(),
        detail: i.detail.as_deref(),
    }
}

/// The JSON document (the README documents its format).
pub(crate) fn page_json(
    page: &StatusPage,
    view: &PageView,
    links: &Links,
    keys: &[String],
) -> String {
    let doc = JsonDoc {
        page: JsonPage {
            slug: &page.slug,
            title: &page.title,
            description: &page.description,
            url: &links.page,
            feed: links.feed(),
        },
        state: view.overall,
        components: view
            .components
            .iter()
            .zip(keys)
            .map(|(c, key)| JsonComponent {
                name: &c.name,
                key,
                state: c.state,
                uptime_percent: round2(c.uptime()),
                badge: links.badge(key),
                days: c
                    .days
                    .iter()
                    .map(|d| JsonDay {
                        date: keepup_model::format_date(d.start_ms),
                        state: d.state(),
                        uptime_percent: round2(d.uptime()),
                        down_seconds: d.down_ms / 1000,
                        degraded_seconds: d.degraded_ms / 1000,
                    })
                    .collect(),
            })
            .collect(),
        incidents: view
            .current
            .iter()
            .chain(&view.past)
            .map(json_incident)
            .collect(),
        maintenance: view
            .maintenance
            .iter()
            .map(|m| JsonMaintenance {
                components: &m.components,
                starts_at: format_rfc3339(m.starts_at),
                ends_at: format_rfc3339(m.ends_at),
                reason: m.reason.as_deref(),
            })
            .collect(),
    };
    // Serialising these plain structs cannot fail; an empty object would
    // still be valid JSON.
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into())
}

/// The Atom feed of the page's incidents, newest first; `since` stands for
/// the feed's `updated` when it has no entry.
pub(crate) fn page_atom(
    page: &StatusPage,
    view: &PageView,
    links: &Links,
    since: Timestamp,
) -> String {
    let entries: Vec<&IncidentView> = {
        let mut all: Vec<&IncidentView> = view.current.iter().chain(&view.past).collect();
        all.sort_by_key(|i| std::cmp::Reverse(i.updated_at()));
        all
    };
    let updated = entries
        .iter()
        .map(|i| i.updated_at())
        .max()
        .unwrap_or(since);
    let feed_id = format!("urn:keepup:status:{}", page.slug);
    let page_url = format!("{}{}", links.base, links.page);
    let markup = html! {
        (PreEscaped("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"))
        feed xmlns="http://www.w3.org/2005/Atom" {
            id { (feed_id) }
            title { (page.title) ": incidents" }
            updated { (format_rfc3339(updated)) }
            author { name { (page.title) } }
            link rel="alternate" type="text/html" href=(page_url) {}
            link rel="self" type="application/atom+xml" href={ (links.base) (links.feed()) } {}
            @for i in &entries {
                entry {
                    id { (feed_id) ":incident:" (i.id) }
                    title { (i.title()) " (" (i.status().as_str()) ")" }
                    published { (format_rfc3339(i.started_at)) }
                    updated { (format_rfc3339(i.updated_at())) }
                    link rel="alternate" type="text/html" href={ (page_url) "#incident-" (i.id) } {}
                    content type="text" { (entry_text(i)) }
                }
            }
        }
    };
    markup.into_string()
}

fn entry_text(i: &IncidentView) -> String {
    let mut lines = vec![format!("Started {}.", when(i.started_at))];
    if let Some(end) = i.resolved_at {
        lines.push(format!(
            "Resolved {} after {}.",
            when(end),
            minutes(end - i.started_at)
        ));
    }
    if let Some(d) = &i.detail {
        lines.push(d.clone());
    }
    for u in i.updates.iter().rev() {
        lines.push(format!(
            "{} ({}): {}",
            u.status.as_str(),
            when(u.at),
            u.text
        ));
    }
    lines.join("\n")
}

/// Text width in badge pixels (Verdana 11 px averages about 7 px a
/// character; wide enough that text never overflows its box).
fn text_width(s: &str) -> i64 {
    s.chars().count() as i64 * 7 + 12
}

/// A shields-like badge: the component's name, then its state and uptime.
pub(crate) fn badge_svg(name: &str, state: PublicState, days: &[Day]) -> String {
    let label: String = name.chars().take(40).collect();
    let known: i64 = days.iter().map(|d| d.known_ms).sum();
    let down: i64 = days.iter().map(|d| d.down_ms).sum();
    let uptime = (known > 0).then(|| 100.0 * (known - down) as f64 / known as f64);
    let value = match uptime {
        Some(_) => format!("{} {}", state.label().to_lowercase(), percent(uptime)),
        None => state.label().to_lowercase(),
    };
    let (left, right) = (text_width(&label), text_width(&value));
    let total = left + right;
    let color = match state {
        PublicState::Operational => "#2e7d32",
        PublicState::Maintenance => "#1565c0",
        PublicState::Degraded => "#b26a00",
        PublicState::Down => "#c62828",
        PublicState::NoData => "#757575",
    };
    let markup = html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(total) height="20" role="img"
            aria-label={ (label) ": " (value) } {
            title { (label) ": " (value) }
            clipPath id="r" { rect width=(total) height="20" rx="3" fill="#fff" {} }
            g clip-path="url(#r)" {
                rect width=(left) height="20" fill="#555" {}
                rect x=(left) width=(right) height="20" fill=(color) {}
            }
            g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" {
                text x=(left / 2) y="14" { (label) }
                text x=(left + right / 2) y="14" { (value) }
            }
        }
    };
    markup.into_string()
}

/// Keys of a page's components for URLs (`/badge/<key>.svg`): the name in
/// lowercase ASCII letters and digits joined by `-`, made unique by a
/// number.
pub(crate) fn component_keys(page: &StatusPage) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    page.components
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut key = String::new();
            for ch in c.name.chars() {
                if ch.is_ascii_alphanumeric() {
                    key.push(ch.to_ascii_lowercase());
                } else if !key.ends_with('-') && !key.is_empty() {
                    key.push('-');
                }
            }
            let mut key = key
                .trim_end_matches('-')
                .chars()
                .take(60)
                .collect::<String>();
            if key.is_empty() {
                key = format!("component-{}", i + 1);
            }
            let base = key.clone();
            let mut n = 2;
            while !seen.insert(key.clone()) {
                key = format!("{base}-{n}");
                n += 1;
            }
            key
        })
        .collect()
}
