//! The README's screenshots, taken from the real `keepup demo`:
//! `docs/dashboard.png` (the overview while the demo's checkout fault has
//! a check Down with its incident open) and `docs/status-page.png` (the
//! demo shop's status page at that moment, with a public update the
//! operator posted from the incident's page), 1280 × 800, in Debian's
//! headless Chromium driven through chromedriver after logging in with
//! the password the demo prints. The main dashboard pages and the status
//! page at 375 × 800, light and dark, go to `target/screenshots/` for
//! looking at, not to the README; none may scroll sideways.
//!
//! Ignored, since it writes into the repository's `docs/`:
//! `cargo test -p keepup --test screenshots -- --ignored` (about a
//! minute: the checkout fault starts 35 s into the demo's cycle).

use fantoccini::{Client, ClientBuilder, Locator};
use keepup_testkit::chromedriver::Chromedriver;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the demo may take to reach a state worth showing.
const DEADLINE: Duration = Duration::from_secs(180);
/// Largest PNG kept in `docs/`.
const MAX_PNG: usize = 300 * 1024;

/// A running demo, killed on drop.
struct Demo {
    child: Child,
    /// `http://127.0.0.1:PORT`
    base: String,
    password: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `keepup demo` in `dir` and reads its dashboard address and
/// password; the rest of its output is drained so that it never blocks.
fn start_demo(dir: &Path) -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keepup"))
        .env_remove("KEEPUP_CONFIG")
        .args(["demo", "--for", "10m", "--every", "60", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("keepup demo runs");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let dashboard = loop {
        let line = lines
            .next()
            .expect("the demo prints its dashboard")
            .expect("the demo's output is text");
        if line.trim_start().starts_with("dashboard:") {
            break line;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    // "  dashboard:   http://127.0.0.1:PORT/   log in as demo, password P (operator)"
    let words: Vec<&str> = dashboard.split_whitespace().collect();
    let base = words[1].trim_end_matches('/').to_owned();
    let password = words[words.iter().position(|w| *w == "password").unwrap() + 1].to_owned();
    Demo {
        child,
        base,
        password,
    }
}

/// A browser whose page area is `width` × `height` CSS pixels: the
/// window is grown by what its frame takes, and below Chromium's smallest
/// window (500 px) a phone's screen is emulated.
async fn session(driver: &Chromedriver, width: u32, height: u32, dark: bool) -> Client {
    let mut capabilities = driver.capabilities(width.max(500), height, dark);
    if width < 500
        && let Some(options) = capabilities
            .get_mut("goog:chromeOptions")
            .and_then(|o| o.as_object_mut())
    {
        options.insert(
            "mobileEmulation".into(),
            serde_json::json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0, "mobile": true }
            }),
        );
    }
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let browser = ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url())
        .await
        .unwrap_or_else(|e| panic!("no browser session: {e}\n{}", driver.log()));
    if width >= 500 {
        let frame = browser
            .execute(
                "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];",
                vec![],
            )
            .await
            .unwrap();
        let extra = |i: usize| frame[i].as_u64().unwrap_or(0) as u32;
        browser
            .set_window_size(width + extra(0), height + extra(1))
            .await
            .unwrap();
    }
    browser
}

async fn log_in(browser: &Client, demo: &Demo) {
    browser.goto(&format!("{}/", demo.base)).await.unwrap();
    // The browser's profile may still hold an earlier session's cookie.
    let first = browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("input[name=name], span[data-check]"))
        .await
        .unwrap();
    if first.attr("name").await.unwrap().as_deref() != Some("name") {
        return;
    }
    first.send_keys("demo").await.unwrap();
    let password = browser
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap();
    password.send_keys(&demo.password).await.unwrap();
    browser
        .find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("span[data-check]"))
        .await
        .unwrap();
}

/// Opens `url` again and again until `script` is true there.
async fn reload_until(browser: &Client, url: &str, script: &str) {
    let start = Instant::now();
    loop {
        browser.goto(url).await.unwrap();
        let ok = browser.execute(script, vec![]).await.unwrap();
        if ok == serde_json::Value::Bool(true) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{url} did not get there within {DEADLINE:?}: {script}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The overview with the checkout Down and its incident open.
const OVERVIEW_READY: &str = "\
    const s = document.querySelector(\"span[data-check='shop/checkout'][data-field=state]\");\
    return s !== null && s.textContent === 'DOWN' && s.closest('tr').querySelector('a.incident') !== null;";

/// The public update the operator posts on the checkout's incident.
const UPDATE: &str = "Payments fail at the checkout; we are rolling back this morning's release.";

/// The status page with the checkout's incident and its update.
const STATUS_READY: &str = "return document.body.textContent.includes('rolling back');";

/// Posts [`UPDATE`] from the page of the checkout's incident, linked from
/// its row of the overview.
async fn post_update(browser: &Client) {
    browser
        .find(Locator::XPath(
            "//tr[.//span[@data-check='shop/checkout']]//a[contains(@class, 'incident')]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let wait = Duration::from_secs(30);
    let status = browser
        .wait()
        .at_most(wait)
        .for_element(Locator::Css("select[name=status]"))
        .await
        .unwrap();
    status.select_by_value("identified").await.unwrap();
    let text = browser
        .find(Locator::Css("textarea[name=text]"))
        .await
        .unwrap();
    text.send_keys(UPDATE).await.unwrap();
    browser
        .find(Locator::Css("form.public-update button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .at_most(wait)
        .for_element(Locator::XPath("//p[contains(., 'rolling back')]"))
        .await
        .unwrap();
}

fn save(path: &Path, png: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, png).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/dashboard.png and docs/status-page.png"]
async fn the_readme_screenshots_come_from_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(&dir.path().join("demo"));
    let driver = Chromedriver::start().unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let docs = root.join("docs");
    let looks = root.join("target/screenshots");

    let browser = session(&driver, 1280, 800, false).await;
    log_in(&browser, &demo).await;
    let overview = format!("{}/", demo.base);
    let status = format!("{}/status/shop", demo.base);
    reload_until(&browser, &overview, OVERVIEW_READY).await;
    let dashboard = browser.screenshot().await.unwrap();
    post_update(&browser).await;
    reload_until(&browser, &status, STATUS_READY).await;
    let status_page = browser.screenshot().await.unwrap();
    let _ = browser.close().await;
    for (name, png) in [
        ("dashboard.png", &dashboard),
        ("status-page.png", &status_page),
    ] {
        assert!(png.len() <= MAX_PNG, "{name}: {} bytes", png.len());
        save(&docs.join(name), png);
    }

    // The phone's width, light and dark: for looking at. No page may
    // scroll sideways; the overview's table must fit too (other tables
    // may scroll in their frames).
    let pages = [
        ("dashboard", "/"),
        ("status-page", "/status/shop"),
        ("incidents", "/incidents"),
        ("incident", "/incidents/1"),
        ("check", "/checks/shop/checkout"),
        ("maintenance", "/maintenance"),
        ("backups", "/backups"),
        ("notifications", "/notifications"),
        ("sla", "/sla"),
    ];
    let mut wide = Vec::new();
    for dark in [false, true] {
        let phone = session(&driver, 375, 800, dark).await;
        log_in(&phone, &demo).await;
        let scheme = if dark { "dark" } else { "light" };
        for (name, path) in pages {
            phone.goto(&format!("{}{path}", demo.base)).await.unwrap();
            let png = phone.screenshot().await.unwrap();
            save(&looks.join(format!("{name}-375-{scheme}.png")), &png);
            let over = phone
                .execute(
                    "const d = document.documentElement;\
                     const over = [d.scrollWidth - window.innerWidth];\
                     const t = document.querySelector('table.checks');\
                     if (t) over.push(t.parentElement.scrollWidth - t.parentElement.clientWidth);\
                     return Math.max(...over);",
                    vec![],
                )
                .await
                .unwrap();
            if over.as_i64().unwrap_or(0) > 0 {
                wide.push(format!("{path} ({scheme}) by {over} px"));
            }
        }
        let _ = phone.close().await;
    }
    assert!(wide.is_empty(), "wider than a 375 px phone: {wide:?}");
}
