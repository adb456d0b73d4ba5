//! End to end in Debian's Chromium, driven through chromedriver
//! (`keepup_testkit::chromedriver`, WebDriver client fantoccini), against
//! the real listener, monitor and store of `support` and an HTTP target on
//! loopback the test breaks.
//!
//! * The outage scenario: the status page is operational; an operator logs
//!   in through the login form and sees the check Up; the target breaks and
//!   the state cell turns Down without the page reloading (server-sent
//!   events); the operator opens the incident from the overview,
//!   acknowledges it, posts a public update, starts a maintenance window;
//!   the public status page shows the outage, the update and the window;
//!   its Atom feed has the incident with the update.
//! * Markup in every field people or peers control (configured names,
//!   notes, reasons, public updates, user and token names, the text a
//!   notification channel answered, the target's answer) reaches each
//!   page (overview, check, incidents, maintenance, notifications, SLA,
//!   audit, status page) as text: in the DOM no script but the `/assets/` ones,
//!   no `on*` attribute anywhere, `window.__pwned` never set; over-long
//!   fields are a 400 naming the field.
//!
//! Each step waits for the page with a deadline (polling the DOM, no fixed
//! sleeps). When a step fails, a screenshot and the page's HTML are saved
//! as `<test>-<step>.png|html` under `$KEEPUP_TEST_ARTIFACTS`, by default
//! `target/e2e-artifacts/`, and the step is named in the panic.

mod support;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use keepup_model::Status;
use keepup_store::{Role, TokenScope};
use keepup_testkit::chromedriver::Chromedriver;
use keepup_testkit::http::TestServer;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::Web;

/// How long a step may wait for the page.
const STEP: Duration = Duration::from_secs(60);
/// How often a waiting step looks at the page again.
const POLL: Duration = Duration::from_millis(150);

/// Where failed steps leave their screenshot and HTML.
fn artifacts() -> PathBuf {
    if let Some(dir) = std::env::var_os("KEEPUP_TEST_ARTIFACTS") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("e2e-artifacts")
}

/// A Chromium session on a daemon's listener; a failed step keeps what the
/// browser showed.
struct Ui {
    client: Client,
    base: String,
    test: &'static str,
    /// Keeps chromedriver (and the browser) alive as long as the session.
    _driver: Chromedriver,
}

impl Ui {
    /// A new browser (1280 × 900, light) on `web`.
    async fn open(web: &Web, test: &'static str) -> Ui {
        let driver = Chromedriver::start().unwrap();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(driver.capabilities(1280, 900, false))
            .connect(&driver.url())
            .await
            .unwrap_or_else(|e| panic!("no browser session: {e}\n{}", driver.log()));
        Ui {
            client,
            base: format!("http://{}", web.addr),
            test,
            _driver: driver,
        }
    }

    /// Saves the screenshot and HTML of the page and panics naming the step.
    async fn fail(&self, step: &str, why: &str) -> ! {
        let dir = artifacts();
        let _ = std::fs::create_dir_all(&dir);
        let file: String = format!("{}-{step}", self.test)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(dir.join(format!("{file}.png")), png);
        }
        if let Ok(html) = self.client.source().await {
            let _ = std::fs::write(dir.join(format!("{file}.html")), html);
        }
        panic!(
            "step '{step}' failed: {why} (screenshot and HTML in {})",
            dir.join(file).display()
        );
    }

    /// The value of a WebDriver command, or the step fails.
    async fn step<T>(&self, step: &str, result: Result<T, fantoccini::error::CmdError>) -> T {
        match result {
            Ok(v) => v,
            Err(e) => self.fail(step, &e.to_string()).await,
        }
    }

    /// Fails the step unless `ok`.
    async fn check(&self, step: &str, ok: bool, why: impl FnOnce() -> String) {
        if !ok {
            self.fail(step, &why()).await;
        }
    }

    /// Opens `path` of the listener.
    async fn goto(&self, step: &str, path: &str) {
        let url = format!("{}{path}", self.base);
        self.step(step, self.client.goto(&url).await).await;
    }

    /// Runs `script` in the page.
    async fn eval(&self, step: &str, script: &str) -> Value {
        self.step(step, self.client.execute(script, vec![]).await)
            .await
    }

    /// Waits until `script` returns something other than null or false,
    /// and returns it.
    async fn until(&self, step: &str, script: &str) -> Value {
        let deadline = Instant::now() + STEP;
        loop {
            let v = self.eval(step, script).await;
            if !matches!(v, Value::Null | Value::Bool(false)) {
                return v;
            }
            if Instant::now() > deadline {
                self.fail(step, &format!("not there within {STEP:?}: {script}"))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Opens `path` again and again until `script` returns something
    /// other than null or false there (pages that do not update
    /// themselves: status page, lists).
    async fn reload_until(&self, step: &str, path: &str, script: &str) -> Value {
        let deadline = Instant::now() + STEP;
        loop {
            self.goto(step, path).await;
            let v = self.eval(step, script).await;
            if !matches!(v, Value::Null | Value::Bool(false)) {
                return v;
            }
            if Instant::now() > deadline {
                self.fail(
                    step,
                    &format!("{path} did not show it within {STEP:?}: {script}"),
                )
                .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The element `css`, once it is there.
    async fn find(&self, step: &str, css: &str) -> Element {
        let found = self
            .client
            .wait()
            .at_most(STEP)
            .for_element(Locator::Css(css))
            .await;
        self.step(step, found).await
    }

    /// Types `text` into the field `css`.
    async fn type_into(&self, step: &str, css: &str, text: &str) {
        let field = self.find(step, css).await;
        self.step(step, field.clear().await).await;
        self.step(step, field.send_keys(text).await).await;
    }

    /// Chooses `value` in the select `css`.
    async fn choose(&self, step: &str, css: &str, value: &str) {
        let select = self.find(step, css).await;
        self.step(step, select.select_by_value(value).await).await;
    }

    /// Clicks the button `css` and waits until the page it leads to has
    /// loaded (a mark set on the old page is gone).
    async fn submit(&self, step: &str, css: &str) {
        let button = self.find(step, css).await;
        self.eval(step, "window.keepupOldPage = true; return true;")
            .await;
        self.step(step, button.click().await).await;
        self.until(
            step,
            "return window.keepupOldPage === undefined && document.readyState === 'complete';",
        )
        .await;
    }

    /// Logs in through the login form the browser was sent to.
    async fn log_in(&self, name: &str, password: &str) {
        self.type_into("type the name", "input[name=name]", name)
            .await;
        self.type_into("type the password", "input[name=password]", password)
            .await;
        self.submit("log in", "form button[type=submit]").await;
    }

    /// The page's text (`textContent`, so CSS changes nothing).
    async fn text(&self, step: &str) -> String {
        let v = self
            .eval(step, "return document.documentElement.textContent;")
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// The configuration of the scenario: one HTTP check every second, one
/// failure opens an incident, a status page with it as a component.
fn scenario_config(target: &str) -> String {
    format!(
        r#"[defaults]
interval = "1s"
timeout = "1s"
failure_threshold = 1
[[site]]
id = "shop"
name = "Shop"
[[site.check]]
id = "web"
name = "Storefront"
kind = "http"
url = "{target}"
[[status_page]]
slug = "shop"
title = "Shop status"
[[status_page.component]]
name = "Storefront"
checks = ["shop/web"]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_follows_an_outage_from_the_dashboard_to_the_status_page() {
    let target = support::Target::start().await;
    let web = support::start_config(&scenario_config(&target.url())).await;
    web.add_user("ops", "correct horse battery", Role::Operator);
    web.wait_for_status("shop/web", Status::Up).await;
    let ui = Ui::open(&web, "outage").await;

    // The public page, no login: everything works.
    ui.reload_until(
        "see the status page operational",
        "/status/shop",
        "return document.querySelector('p.overall.operational') !== null;",
    )
    .await;

    // Not logged in: the overview sends the browser to the login form.
    ui.goto("open the overview", "/").await;
    ui.find("see the login form", "input[name=name]").await;
    ui.log_in("ops", "correct horse battery").await;
    ui.find(
        "see the check up on the overview",
        "span[data-check='shop/web'][data-field=state].up",
    )
    .await;
    // A mark on the page: a reload would lose it.
    ui.eval("mark the page", "window.keepupMark = 42; return true;")
        .await;

    target.break_down();
    ui.until(
        "see the check turn down",
        "const s = document.querySelector(\"span[data-check='shop/web'][data-field=state]\");\
         return s !== null && s.textContent === 'DOWN' && s.classList.contains('down');",
    )
    .await;
    let mark = ui
        .eval("read the mark", "return window.keepupMark === 42;")
        .await;
    ui.check("read the mark", mark == Value::Bool(true), || {
        "the page was reloaded".into()
    })
    .await;

    // The incident, from the overview (it lists the open incident once
    // the overview is loaded again).
    let href = ui
        .reload_until(
            "see the incident on the overview",
            "/",
            "const a = document.querySelector('a.incident'); return a && a.getAttribute('href');",
        )
        .await;
    let incident_path = href.as_str().unwrap_or_default().to_owned();
    ui.submit("open the incident", "a.incident").await;
    let url = ui
        .step("read the incident's URL", ui.client.current_url().await)
        .await;
    ui.check("open the incident", url.path() == incident_path, || {
        format!("at {url}, not {incident_path}")
    })
    .await;
    let h1 = ui.text("read the incident").await;
    ui.check("read the incident", h1.contains("shop/web"), || {
        "the incident page does not name shop/web".into()
    })
    .await;

    ui.submit(
        "acknowledge",
        "form[action$='/acknowledge'] button[type=submit]",
    )
    .await;
    ui.until(
        "see it acknowledged",
        "return Array.from(document.querySelectorAll('ol.timeline li strong'))\
         .some(s => s.textContent === 'Acknowledged')\
         && document.querySelector('form[action$=\"/acknowledge\"]') === null;",
    )
    .await;
    let page = ui.text("read who acknowledged").await;
    ui.check("read who acknowledged", page.contains("by ops"), || {
        "the timeline does not say ops acknowledged".into()
    })
    .await;

    // A public update from the incident's page.
    const UPDATE: &str = "The storefront answers errors; we are restarting it.";
    ui.choose(
        "choose the update's status",
        "select[name=status]",
        "identified",
    )
    .await;
    ui.type_into("type the update", "textarea[name=text]", UPDATE)
        .await;
    ui.submit("post the update", "form.public-update button[type=submit]")
        .await;
    let page = ui.text("see the update on the incident").await;
    ui.check(
        "see the update on the incident",
        page.contains(UPDATE),
        || "the incident page does not list the update".into(),
    )
    .await;

    // The status page: down, with the update.
    ui.reload_until(
        "see the outage on the status page",
        "/status/shop",
        &format!(
            "const c = document.querySelector('section.current');\
             return document.querySelector('p.overall.down') !== null && c !== null\
             && c.textContent.includes({});",
            serde_json::to_string(UPDATE).unwrap()
        ),
    )
    .await;

    // A maintenance window for the check.
    const REASON: &str = "Moving the storefront to a new server";
    ui.goto("open maintenance", "/maintenance").await;
    ui.choose("choose what it covers", "select[name=target]", "shop/web")
        .await;
    ui.type_into("type the duration", "input[name=duration]", "2h")
        .await;
    ui.type_into("type the reason", "input[name=reason]", REASON)
        .await;
    ui.submit(
        "start the window",
        "form[action='/maintenance'] button[type=submit]",
    )
    .await;
    ui.until(
        "see the window open",
        &format!(
            "return Array.from(document.querySelectorAll('tbody tr'))\
             .some(r => r.textContent.includes({}) && r.textContent.includes('shop/web'));",
            serde_json::to_string(REASON).unwrap()
        ),
    )
    .await;

    // The status page announces it (pages are rendered again within 15 s
    // of a window started).
    ui.reload_until(
        "see the maintenance on the status page",
        "/status/shop",
        "const m = document.querySelector('section.maintenance');\
         return m !== null && m.textContent.includes('Storefront');",
    )
    .await;

    // The Atom feed: read by the browser, parsed as XML.
    let feed = ui
        .eval(
            "read the Atom feed",
            "return fetch('/status/shop/feed.atom').then(r => r.text().then(body => {\
               const xml = new DOMParser().parseFromString(body, 'application/xml');\
               const ns = 'http://www.w3.org/2005/Atom';\
               return { status: r.status, type: r.headers.get('content-type'),\
                        error: xml.getElementsByTagName('parsererror').length,\
                        entries: Array.from(xml.getElementsByTagNameNS(ns, 'entry')).map(e => e.textContent) };\
             }));",
        )
        .await;
    let entries: Vec<String> = feed["entries"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    ui.check(
        "read the Atom feed",
        feed["status"] == 200
            && feed["error"] == 0
            && feed["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("application/atom+xml"))
            && entries.len() == 1
            && entries[0].contains("Storefront")
            && entries[0].contains(UPDATE),
        || format!("{feed}"),
    )
    .await;
    ui.close().await;
}

/// What an attacker types: a script, an attribute break-out with a
/// handler, and Unicode that reorders or hides text. `field` names where
/// it went, so the pages can be asked for each.
fn hostile(field: &str) -> String {
    format!(
        "{field} <script>window.__pwned=1</script>\"><img src=x onerror=\"window.__pwned=2\">\
         '><svg onload=window.__pwned=3> \u{202E}desrever\u{202C} zero\u{200B}width"
    )
}

/// What the page shows of `hostile(field)` when it is text: its start.
fn shown(field: &str) -> String {
    format!("{field} <script>window.__pwned=1</script>")
}

/// A TOML basic string holding `s`.
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// What a page's DOM holds that it should not: scripts not from
/// `/assets/`, elements with `on*` attributes, and whether `__pwned` is
/// set.
const INSPECT: &str = "\
    const handlers = [];\
    for (const e of document.querySelectorAll('*')) {\
      for (const a of e.attributes) {\
        if (a.name.toLowerCase().startsWith('on')) handlers.push(e.tagName + ' ' + a.name);\
      }\
    }\
    const scripts = Array.from(document.scripts)\
      .map(s => s.getAttribute('src') || 'inline: ' + s.textContent.slice(0, 80))\
      .filter(src => !src.startsWith('/assets/'));\
    return { scripts: scripts, handlers: handlers, pwned: typeof window.__pwned,\
             title: document.title, text: document.documentElement.textContent };";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_every_field_stays_text_in_chromium() {
    // The target and the notification channel answer with markup too.
    let evil_target = hostile("target answer");
    let target = TestServer::start(move |_req| {
        let body = evil_target.clone();
        async move { keepup_testkit::http::html(500, body) }
    })
    .await
    .unwrap();
    let evil_channel = hostile("channel answer");
    let receiver = TestServer::start(move |_req| {
        let body = evil_channel.clone();
        async move { keepup_testkit::http::text(500, body) }
    })
    .await
    .unwrap();
    let config = format!(
        r#"[defaults]
interval = "1s"
timeout = "1s"
failure_threshold = 1
[[site]]
id = "shop"
name = {site}
[[site.check]]
id = "web"
name = {check}
kind = "http"
url = "{target}"
[[channel]]
id = "hook"
kind = "webhook"
url = "{receiver}"
[[contact]]
id = "ops"
channels = ["hook"]
[[policy]]
id = "default"
group_window = "0s"
[[policy.level]]
notify = ["ops"]
[[maintenance]]
id = "patching"
name = {maintenance}
cron = "0 3 * * *"
duration = "1h"
timezone = "UTC"
sites = ["shop"]
[[contract]]
id = "front"
name = {contract}
site = "shop"
down_when = "web"
target = 99.9
[[status_page]]
slug = "shop"
title = {title}
description = {description}
show_details = true
[[status_page.component]]
name = {component}
checks = ["shop/web"]
"#,
        site = toml_str(&hostile("site name")),
        check = toml_str(&hostile("check name")),
        maintenance = toml_str(&hostile("window name")),
        contract = toml_str(&hostile("contract name")),
        title = toml_str(&hostile("page title")),
        description = toml_str(&hostile("page description")),
        component = toml_str(&hostile("component name")),
        target = target.url("/"),
        receiver = receiver.url("/hook"),
    );
    let web = support::start_config(&config).await;
    // User and token names are letters, digits and a few signs (`keepup
    // user add`, `keepup token add`), so they carry right-to-left letters,
    // not markup.
    let user = "אדמין.ops";
    web.add_user(user, "correct horse battery", Role::Admin);
    let token = keepup_web::auth::secret::new_token().unwrap();
    assert!(
        web.monitor
            .store()
            .create_token(
                "בוט-ci",
                &keepup_web::auth::secret::digest(&token),
                TokenScope::Write,
                keepup_web::auth::now(),
                None,
            )
            .unwrap()
    );
    web.wait_for_incident("shop/web").await;
    let incident = web.monitor.store().open_incidents().unwrap()[0].id;
    let incident_page = format!("/incidents/{incident}");

    // Over-long input is refused naming the field.
    let mut http = web.browser(2);
    assert_eq!(http.login(user, "correct horse battery").await.status, 303);
    let csrf = http.csrf().await;
    let long = format!("{}{}", hostile("long"), "x".repeat(10_000));
    let resolve = format!("{incident_page}/resolve");
    let updates = format!("{incident_page}/updates");
    let refusals = [
        (
            "/maintenance",
            vec![
                ("csrf", csrf.as_str()),
                ("target", "shop/web"),
                ("duration", "1h"),
                ("reason", long.as_str()),
            ],
            "reason: at most",
        ),
        (
            resolve.as_str(),
            vec![("csrf", csrf.as_str()), ("note", long.as_str())],
            "note: at most",
        ),
        (
            updates.as_str(),
            vec![
                ("csrf", csrf.as_str()),
                ("status", "identified"),
                ("text", long.as_str()),
            ],
            "text",
        ),
    ];
    for (path, fields, names) in &refusals {
        let r = http.post(path, fields).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(r.body.contains(names), "{path}: {}", r.body);
        assert!(!r.body.contains("<script>window"), "{path}: {}", r.body);
    }
    // A window started through the API, by a token.
    let api = http
        .send(
            "POST",
            "/api/v1/maintenance",
            &[
                ("authorization", &format!("Bearer {token}")),
                ("content-type", "application/json"),
            ],
            serde_json::json!({
                "target": "shop", "duration": "3h", "reason": hostile("api reason")
            })
            .to_string(),
        )
        .await;
    assert_eq!(api.status, 201, "{}", api.body);

    let ui = Ui::open(&web, "markup").await;
    ui.goto("open the overview", "/").await;
    ui.log_in(user, "correct horse battery").await;
    ui.find("see the overview", "span[data-check='shop/web']")
        .await;

    // Typed into the dashboard's forms by the operator.
    ui.goto("open the incident", &incident_page).await;
    ui.type_into(
        "type the public update",
        "textarea[name=text]",
        &hostile("public update"),
    )
    .await;
    ui.submit(
        "post the public update",
        "form.public-update button[type=submit]",
    )
    .await;
    ui.goto("open maintenance", "/maintenance").await;
    ui.choose("choose what it covers", "select[name=target]", "shop/web")
        .await;
    ui.type_into(
        "type the reason",
        "input[name=reason]",
        &hostile("form reason"),
    )
    .await;
    ui.submit(
        "start the window",
        "form[action='/maintenance'] button[type=submit]",
    )
    .await;
    ui.goto("open the incident again", &incident_page).await;
    ui.type_into(
        "type the note",
        "textarea[name=note]",
        &hostile("resolution note"),
    )
    .await;
    ui.submit("resolve", "form[action$='/resolve'] button[type=submit]")
        .await;
    // The channel's refusal is recorded once the notification was tried.
    ui.reload_until(
        "see the channel's answer",
        "/notifications",
        &format!(
            "return document.body.textContent.includes({});",
            toml_str(&shown("channel answer"))
        ),
    )
    .await;

    // Every page, and what each must show as text.
    let pages: Vec<(String, Vec<&str>)> = vec![
        ("/".into(), vec!["check name"]),
        ("/checks/shop/web".into(), vec!["check name", "site name"]),
        ("/incidents".into(), vec![]),
        (
            incident_page.clone(),
            vec!["public update", "resolution note", "channel answer"],
        ),
        (
            "/maintenance".into(),
            vec!["form reason", "api reason", "window name"],
        ),
        ("/notifications".into(), vec!["channel answer"]),
        ("/sla".into(), vec!["contract name"]),
        ("/sla/front".into(), vec!["contract name"]),
        (
            "/audit".into(),
            vec!["form reason", "api reason", "resolution note"],
        ),
        (
            "/status/shop".into(),
            vec![
                "page title",
                "page description",
                "component name",
                "public update",
            ],
        ),
    ];
    for (path, fields) in &pages {
        let step = format!("inspect {path}");
        ui.goto(&step, path).await;
        let seen = ui.eval(&step, INSPECT).await;
        ui.check(
            &step,
            seen["scripts"].as_array().is_some_and(|s| s.is_empty()),
            || format!("scripts not from /assets/: {}", seen["scripts"]),
        )
        .await;
        ui.check(
            &step,
            seen["handlers"].as_array().is_some_and(|h| h.is_empty()),
            || format!("elements with handlers: {}", seen["handlers"]),
        )
        .await;
        ui.check(&step, seen["pwned"] == "undefined", || {
            "window.__pwned is set".into()
        })
        .await;
        let text = seen["text"].as_str().unwrap_or_default();
        for field in fields {
            ui.check(&step, text.contains(&shown(field)), || {
                format!("the {field} is not shown as text")
            })
            .await;
        }
        ui.check(
            &step,
            text.contains(user) || path.starts_with("/status/"),
            || format!("the user's name {user} is not shown"),
        )
        .await;
    }
    // The user's and token's names in the audit log, as written.
    ui.goto("read the audit log's names", "/audit").await;
    let audit = ui.text("read the audit log's names").await;
    ui.check(
        "read the audit log's names",
        audit.contains("token:בוט-ci"),
        || "the token's name is not in the audit log".into(),
    )
    .await;

    // The feed parsed as XML holds the texts as text, no element from them.
    let feed = ui
        .eval(
            "read the Atom feed",
            "return fetch('/status/shop/feed.atom').then(r => r.text()).then(body => {\
               const xml = new DOMParser().parseFromString(body, 'application/xml');\
               return { error: xml.getElementsByTagName('parsererror').length,\
                        foreign: Array.from(xml.getElementsByTagName('*'))\
                          .filter(e => e.namespaceURI !== 'http://www.w3.org/2005/Atom').map(e => e.tagName),\
                        text: xml.documentElement.textContent };\
             });",
        )
        .await;
    ui.check(
        "read the Atom feed",
        feed["error"] == 0
            && feed["foreign"].as_array().is_some_and(|f| f.is_empty())
            && feed["text"]
                .as_str()
                .is_some_and(|t| t.contains(&shown("public update"))),
        || format!("{feed}"),
    )
    .await;
    ui.close().await;
}
