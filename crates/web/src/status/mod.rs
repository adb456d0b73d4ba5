//! Public status pages (`[[status_page]]`): no login, read by a shop's
//! customers, most of all while something is down, which is when the
//! daemon has the most to do.
//!
//! So nothing a visitor asks for touches the store. A background task
//! renders every page, its JSON document, its Atom feed and its badges
//! into memory when something they show may have changed: an incident
//! opened or resolved or a check's status changed (at once, with a short
//! pause to gather a burst), a public update posted
//! ([`StatusPages::refresh`]), and every
//! [`RECHECK`] for what has no event (a new day, maintenance starting, a
//! reload, an update posted from the command line). A rendering that
//! produces the same bytes keeps its ETag and Last-Modified, so clients
//! and proxies revalidate with `If-None-Match` / `If-Modified-Since` and
//! get `304 Not Modified`. The listener's per-address limits still apply.
//!
//! Routes: `/status/<slug>` (HTML), `/status/<slug>.json`,
//! `/status/<slug>/feed.atom`, `/status/<slug>/badge/<component>.svg`,
//! `/status/<slug>/logo`, `/status/assets/status.css`, and `/` for a
//! request whose `Host` is a page's `domain` ([`by_host`]); for operators,
//! `POST /incidents/<id>/updates` (the `updates` module).

mod render;
mod updates;
mod view;

pub use updates::update_form;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use keepup_config::{Config, StatusPage};
use keepup_model::{CheckId, Status, Timestamp};
use keepup_monitor::Monitor;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use view::{DAY_MS, Day, Facts};

/// How often pages are rendered again without an event.
const RECHECK: Duration = Duration::from_secs(15);
/// After an event, how long to wait for the rest of its burst (also the
/// shortest time between two renderings caused by events).
const GATHER: Duration = Duration::from_millis(500);
/// How long a request waits for the very first rendering.
const FIRST_RENDER_WAIT: Duration = Duration::from_secs(10);

const CSS: &str = include_str!("status.css");

/// One pre-rendered response body with its validators.
#[derive(Debug, Clone)]
struct Rendered {
    body: Bytes,
    content_type: &'static str,
    etag: HeaderValue,
    /// Whole seconds: HTTP dates have no finer resolution.
    modified: SystemTime,
    last_modified: HeaderValue,
}

impl Rendered {
    fn new(body: impl Into<Bytes>, content_type: &'static str, now: SystemTime) -> Rendered {
        let body = body.into();
        let mut hasher = std::hash::DefaultHasher::new();
        body.hash(&mut hasher);
        let etag = HeaderValue::from_str(&format!("\"{:016x}\"", hasher.finish()))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let modified = UNIX_EPOCH + Duration::from_secs(secs);
        Rendered {
            body,
            content_type,
            etag,
            modified,
            last_modified: http_date(modified),
        }
    }

    /// `fresh`, unless it has the same bytes as `self`: then `self`, whose
    /// validators stay as they were. New bytes get a later Last-Modified
    /// than `self` even within the same second (the next second then), so
    /// `If-Modified-Since` never matches content older than what it names.
    fn or_same(self: &Arc<Self>, mut fresh: Rendered) -> Arc<Rendered> {
        if self.body == fresh.body {
            return self.clone();
        }
        if fresh.modified <= self.modified {
            fresh.modified = self.modified + Duration::from_secs(1);
            fresh.last_modified = http_date(fresh.modified);
        }
        Arc::new(fresh)
    }

    /// The response to a request with `headers`: 304 when the client's copy
    /// is current, else the body.
    fn respond(&self, headers: &HeaderMap) -> Response {
        let mut out = if self.not_modified(headers) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(self.content_type),
                )],
                self.body.clone(),
            )
                .into_response()
        };
        let h = out.headers_mut();
        h.insert(header::ETAG, self.etag.clone());
        h.insert(header::LAST_MODIFIED, self.last_modified.clone());
        // Proxies may serve it for a few seconds; clients revalidate after.
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=10"),
        );
        out
    }

    /// RFC 9110: `If-None-Match` decides when present; otherwise
    /// `If-Modified-Since`.
    fn not_modified(&self, headers: &HeaderMap) -> bool {
        if let Some(tags) = headers.get(header::IF_NONE_MATCH) {
            let Ok(tags) = tags.to_str() else {
                return false;
            };
            let ours = self.etag.to_str().unwrap_or_default();
            return tags
                .split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == "*" || t == ours);
        }
        headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| self.modified <= since)
    }
}

/// `at` as an HTTP date header value.
fn http_date(at: SystemTime) -> HeaderValue {
    HeaderValue::from_str(&httpdate::fmt_http_date(at))
        .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

/// A page's rendered parts.
#[derive(Debug)]
struct PageCache {
    html: Arc<Rendered>,
    json: Arc<Rendered>,
    atom: Arc<Rendered>,
    badges: HashMap<String, Arc<Rendered>>,
    logo: Option<Arc<Rendered>>,
}

/// Everything published, replaced as a whole by each rendering.
#[derive(Debug, Default)]
struct Published {
    /// By slug.
    pages: HashMap<String, Arc<PageCache>>,
    /// Domain (lower case) to slug.
    domains: HashMap<String, String>,
}

/// The status pages of a running monitor, served from memory.
pub struct StatusPages {
    published: RwLock<Arc<Published>>,
    /// Incremented by each rendering (0: none yet).
    rendered: tokio::sync::watch::Sender<u64>,
    refresh: tokio::sync::Notify,
    css: Rendered,
    /// Some page has a `domain`: only then does `/` wait for a rendering.
    domains: std::sync::atomic::AtomicBool,
    /// The first rendering failed: requests stop waiting for one (pages
    /// answer 503 until a rendering succeeds).
    first_failed: std::sync::atomic::AtomicBool,
}

impl StatusPages {
    /// Starts rendering the pages of `monitor`'s configuration in the
    /// background; the task ends when the monitor is dropped.
    pub fn start(monitor: &Arc<Monitor>) -> Arc<StatusPages> {
        let pages = Arc::new(StatusPages {
            published: RwLock::new(Arc::new(Published::default())),
            rendered: tokio::sync::watch::channel(0).0,
            refresh: tokio::sync::Notify::new(),
            css: Rendered::new(CSS, "text/css; charset=utf-8", SystemTime::now()),
            domains: std::sync::atomic::AtomicBool::new(has_domains(&monitor.config())),
            first_failed: std::sync::atomic::AtomicBool::new(false),
        });
        let events = monitor.subscribe();
        let changes = monitor.subscribe_status();
        tokio::spawn(render_loop(
            Arc::downgrade(monitor),
            Arc::downgrade(&pages),
            events,
            changes,
        ));
        pages
    }

    /// Asks for the pages to be rendered again now (after a public update).
    pub fn refresh(&self) {
        self.refresh.notify_one();
    }

    fn published(&self) -> Arc<Published> {
        self.published
            .read()
            .map(|p| p.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The published pages, after waiting for the first rendering (unless
    /// it failed).
    async fn ready(&self) -> Arc<Published> {
        let mut rx = self.rendered.subscribe();
        let failed = &self.first_failed;
        let _ = tokio::time::timeout(
            FIRST_RENDER_WAIT,
            rx.wait_for(|n| *n > 0 || failed.load(std::sync::atomic::Ordering::Relaxed)),
        )
        .await;
        self.published()
    }

    /// Records that the first rendering failed and wakes the requests
    /// waiting for it; the configured domains are published, without
    /// pages, so their requests are told to come back.
    fn first_rendering_failed(&self, config: &Config) {
        if *self.rendered.borrow() > 0 {
            return;
        }
        let published = Published {
            pages: HashMap::new(),
            domains: config
                .status_pages
                .iter()
                .filter_map(|p| Some((p.domain.clone()?, p.slug.clone())))
                .collect(),
        };
        if let Ok(mut p) = self.published.write() {
            *p = Arc::new(published);
        }
        self.first_failed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.rendered.send_modify(|_| {});
    }

    /// A page by slug: 404 when there is no such page, 503 while no
    /// rendering succeeded.
    async fn page(&self, slug: &str) -> Result<Arc<PageCache>, Response> {
        let published = self.ready().await;
        match published.pages.get(slug) {
            Some(p) => Ok(p.clone()),
            None if *self.rendered.borrow() == 0 => Err(unavailable()),
            None => Err(not_found()),
        }
    }
}

/// The answer while no rendering has succeeded yet.
fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, HeaderValue::from_static("15"))],
        "status page not rendered yet\n",
    )
        .into_response()
}

/// The public routes under `/status`, and the operators' form target
/// `POST /incidents/<id>/updates`.
pub fn routes<S>(pages: Arc<StatusPages>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<crate::auth::Auth>: axum::extract::FromRef<S>,
    Arc<Monitor>: axum::extract::FromRef<S>,
{
    let public = Router::new()
        .route("/status/assets/status.css", get(css))
        .route("/status/{file}", get(page_or_json))
        .route("/status/{slug}/feed.atom", get(feed))
        .route("/status/{slug}/logo", get(logo))
        .route("/status/{slug}/badge/{file}", get(badge))
        .with_state(pages.clone());
    public.merge(updates::routes(pages))
}

/// Serves a page at `/` when the request's `Host` is its `domain`, and
/// answers 404 there to everything outside `/status/` (the dashboard, its
/// login, the API and `/metrics` belong to the operators' hostname, not
/// to the public one); requests for other hosts go on.
pub async fn by_host(
    State(pages): State<Arc<StatusPages>>,
    request: Request,
    next: Next,
) -> Response {
    if pages.domains.load(std::sync::atomic::Ordering::Relaxed) {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| host_without_port(h).to_ascii_lowercase());
        if let Some(host) = host {
            let published = pages.ready().await;
            if let Some(slug) = published.domains.get(&host) {
                let path = request.uri().path();
                if path == "/" {
                    return match published.pages.get(slug) {
                        Some(page) => page.html.respond(request.headers()),
                        None => unavailable(),
                    };
                }
                // A status page's own domain is public: it serves the
                // status pages and nothing of the operators' side (the
                // dashboard, its login, the API, /metrics).
                if !path.starts_with("/status/") {
                    return (StatusCode::NOT_FOUND, "not found\n").into_response();
                }
            }
        }
    }
    next.run(request).await
}

fn has_domains(config: &Config) -> bool {
    config.status_pages.iter().any(|p| p.domain.is_some())
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [::1]:8080
        return host.split(']').next().map(|h| &h[1..]).unwrap_or(host);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such status page\n").into_response()
}

async fn css(State(pages): State<Arc<StatusPages>>, headers: HeaderMap) -> Response {
    pages.css.respond(&headers)
}

async fn page_or_json(
    State(pages): State<Arc<StatusPages>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (slug, json) = match file.strip_suffix(".json") {
        Some(slug) => (slug, true),
        None => (file.as_str(), false),
    };
    match pages.page(slug).await {
        Ok(p) if json => p.json.respond(&headers),
        Ok(p) => p.html.respond(&headers),
        Err(answer) => answer,
    }
}

async fn feed(
    State(pages): State<Arc<StatusPages>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    match pages.page(&slug).await {
        Ok(p) => p.atom.respond(&headers),
        Err(answer) => answer,
    }
}

async fn logo(
    State(pages): State<Arc<StatusPages>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    let page = match pages.page(&slug).await {
        Ok(p) => p,
        Err(answer) => return answer,
    };
    match page.logo.clone() {
        Some(logo) => {
            let mut r = logo.respond(&headers);
            // An SVG opened on its own must not run anything it carries.
            r.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
            );
            r
        }
        None => not_found(),
    }
}

async fn badge(
    State(pages): State<Arc<StatusPages>>,
    Path((slug, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(key) = file.strip_suffix(".svg") else {
        return not_found();
    };
    match pages.page(&slug).await {
        Ok(p) => match p.badges.get(key) {
            Some(b) => b.respond(&headers),
            None => not_found(),
        },
        Err(answer) => answer,
    }
}

/// What the render loop keeps between renderings.
#[derive(Default)]
struct Renderer {
    /// The configuration the history was read for.
    config: Option<Arc<Config>>,
    /// The day (number) the history ends before.
    today: i64,
    /// Per page, per component: the days before today.
    history: HashMap<String, Vec<Vec<Day>>>,
    /// When this configuration was first rendered (the feed's `updated`
    /// while it has no entry).
    since: Timestamp,
}

async fn render_loop(
    monitor: Weak<Monitor>,
    pages: Weak<StatusPages>,
    mut events: tokio::sync::broadcast::Receiver<keepup_monitor::incidents::IncidentEvent>,
    mut changes: tokio::sync::broadcast::Receiver<keepup_monitor::recorder::StatusChange>,
) {
    use tokio::sync::broadcast::error::RecvError;
    let mut renderer = Renderer::default();
    loop {
        let (Some(m), Some(p)) = (monitor.upgrade(), pages.upgrade()) else {
            return;
        };
        if let Err(e) = renderer.render(&m, &p).await {
            tracing::warn!(error = %e, "status pages not rendered; serving the previous rendering");
            p.first_rendering_failed(&m.config());
        }
        // A rendering in progress must not keep the monitor alive.
        drop(m);
        tokio::select! {
            event = events.recv() => {
                if matches!(event, Err(RecvError::Closed)) {
                    return;
                }
            }
            change = changes.recv() => {
                if matches!(change, Err(RecvError::Closed)) {
                    return;
                }
            }
            _ = p.refresh.notified() => {}
            _ = tokio::time::sleep(RECHECK) => {
                continue;
            }
        }
        // The rest of a burst (an outage opens many incidents, a recovery
        // changes many statuses) is one rendering.
        tokio::time::sleep(GATHER).await;
        while events.try_recv().is_ok() {}
        while changes.try_recv().is_ok() {}
    }
}

impl Renderer {
    async fn render(&mut self, monitor: &Monitor, pages: &StatusPages) -> Result<(), String> {
        let config = monitor.config();
        pages
            .domains
            .store(has_domains(&config), std::sync::atomic::Ordering::Relaxed);
        if config.status_pages.is_empty() {
            // Nothing to read the store for.
            if let Ok(mut p) = pages.published.write() {
                *p = Arc::new(Published::default());
            }
            pages.rendered.send_modify(|n| *n += 1);
            self.config = Some(config);
            return Ok(());
        }
        let now_time = SystemTime::now();
        let now = now_time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let reloaded = !self
            .config
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, &config));
        let today = now.div_euclid(DAY_MS);
        if reloaded || today != self.today {
            self.history.clear();
        }
        if reloaded {
            self.since = now;
        }
        let wanted: std::collections::HashSet<&CheckId> = config
            .status_pages
            .iter()
            .flat_map(|p| p.checks())
            .collect();
        // From the shared states: copying every check's state with its
        // evidence every 15 s took a tenth of an idle daemon's page faults.
        let shared = monitor.current_shared();
        let current: HashMap<CheckId, (Status, String)> = wanted
            .iter()
            .filter_map(|id| {
                let c = shared.get(*id)?;
                Some(((*id).clone(), (c.outcome.status, c.outcome.message.clone())))
            })
            .collect();
        let store = monitor.store().clone();
        let cfg = config.clone();
        let mut history = std::mem::take(&mut self.history);
        let read = crate::offload::spawn_blocking(move || {
            let facts = Facts::read(&store, &cfg, current, now)?;
            let mut todays = HashMap::new();
            for page in &cfg.status_pages {
                if !history.contains_key(&page.slug) {
                    let days =
                        view::history(&store, page, view::first_day(now), view::day_start(now))?;
                    history.insert(page.slug.clone(), days);
                }
                let today = view::history(&store, page, view::day_start(now), now)?;
                todays.insert(
                    page.slug.clone(),
                    today
                        .into_iter()
                        .map(|mut d| d.pop().unwrap_or_default())
                        .collect::<Vec<Day>>(),
                );
            }
            Ok::<_, keepup_store::StoreError>((facts, history, todays))
        })
        .await
        .map_err(|e| e.to_string())?;
        let (facts, history, todays) = read.map_err(|e| e.to_string())?;
        self.history = history;
        self.config = Some(config.clone());
        self.today = today;

        let previous = pages.published();
        let mut published = Published::default();
        for page in &config.status_pages {
            let no_days = Vec::new();
            let view = view::page_view(
                page,
                &facts,
                self.history.get(&page.slug).unwrap_or(&no_days),
                todays.get(&page.slug).map(Vec::as_slice).unwrap_or(&[]),
            );
            let fresh = render_page(
                page,
                &view,
                config.server.public_url.as_deref(),
                self.since,
                now_time,
            );
            let cache = match previous.pages.get(&page.slug) {
                Some(old) => keep_unchanged(old, fresh),
                None => fresh,
            };
            if let Some(domain) = &page.domain {
                published.domains.insert(domain.clone(), page.slug.clone());
            }
            published.pages.insert(page.slug.clone(), Arc::new(cache));
        }
        if let Ok(mut p) = pages.published.write() {
            *p = Arc::new(published);
        }
        pages.rendered.send_modify(|n| *n += 1);
        Ok(())
    }
}

fn render_page(
    page: &StatusPage,
    view: &view::PageView,
    public_url: Option<&str>,
    since: Timestamp,
    now: SystemTime,
) -> PageCache {
    let links = render::Links::new(page, public_url);
    let keys = render::component_keys(page);
    let badges = keys
        .iter()
        .zip(&view.components)
        .map(|(key, c)| {
            let svg = render::badge_svg(&c.name, c.state, &c.days);
            (
                key.clone(),
                Arc::new(Rendered::new(svg, "image/svg+xml", now)),
            )
        })
        .collect();
    PageCache {
        html: Arc::new(Rendered::new(
            render::page_html(page, view, &links, &keys),
            "text/html; charset=utf-8",
            now,
        )),
        json: Arc::new(Rendered::new(
            render::page_json(page, view, &links, &keys),
            "application/json",
            now,
        )),
        atom: Arc::new(Rendered::new(
            render::page_atom(page, view, &links, since),
            "application/atom+xml; charset=utf-8",
            now,
        )),
        badges,
        logo: page.logo.as_ref().map(|l| {
            Arc::new(Rendered::new(
                Bytes::copy_from_slice(&l.bytes),
                l.content_type,
                now,
            ))
        }),
    }
}

/// `fresh`, keeping the old validators of every part whose bytes did not
/// change.
fn keep_unchanged(old: &PageCache, fresh: PageCache) -> PageCache {
    let keep = |old: &Arc<Rendered>, new: Arc<Rendered>| {
        Arc::try_unwrap(new)
            .map(|n| old.or_same(n))
            .unwrap_or_else(|n| n)
    };
    PageCache {
        html: keep(&old.html, fresh.html),
        json: keep(&old.json, fresh.json),
        atom: keep(&old.atom, fresh.atom),
        badges: fresh
            .badges
            .into_iter()
            .map(|(k, b)| {
                let b = match old.badges.get(&k) {
                    Some(o) => keep(o, b),
                    None => b,
                };
                (k, b)
            })
            .collect(),
        logo: match (&old.logo, fresh.logo) {
            (Some(o), Some(n)) => Some(keep(o, n)),
            (_, n) => n,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client holding a version rendered in the same second as a newer
    /// one (and no ETag) must get the newer one, not 304.
    #[test]
    fn new_content_in_the_same_second_is_not_answered_304() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_100);
        let old = Arc::new(Rendered::new("old", "text/plain", at));
        let new = old.or_same(Rendered::new(
            "new",
            "text/plain",
            at + Duration::from_millis(500),
        ));
        assert!(new.modified > old.modified);
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_MODIFIED_SINCE, old.last_modified.clone());
        let answer = new.respond(&headers);
        assert_eq!(answer.status(), StatusCode::OK);
        assert_ne!(answer.headers()[header::LAST_MODIFIED], old.last_modified);
        headers.insert(header::IF_MODIFIED_SINCE, new.last_modified.clone());
        assert_eq!(new.respond(&headers).status(), StatusCode::NOT_MODIFIED);
        let same = new.or_same(Rendered::new(
            "new",
            "text/plain",
            at + Duration::from_secs(9),
        ));
        assert!(
            Arc::ptr_eq(&same, &new),
            "unchanged bytes keep their validators"
        );
    }
}
