//! End to end in Debian's Chromium, driven through chromedriver
//! (`keepup_testkit::chromedriver`, WebDriver client fantoccini): an
//! operator logs in through the login form, sees the check Up on the
//! overview, the target breaks and the state cell turns Down without the
//! page reloading (server-sent events), and the check's page opens from
//! the overview.
//!
//! One browser for the binary, kept short. When a step fails, a
//! screenshot and the page's HTML are saved under
//! `target/e2e-artifacts/` and the step is named in the panic.

mod support;

use fantoccini::{Client, ClientBuilder, Locator};
use keepup_model::Status;
use keepup_store::Role;
use std::path::PathBuf;
use std::time::Duration;

/// How long a step may wait for the page.
const STEP: Duration = Duration::from_secs(60);

/// Where failed steps leave their screenshot and HTML.
fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("e2e-artifacts")
}

/// Runs one step; on failure keeps what the browser showed and panics
/// naming the step.
async fn step<T>(
    browser: &Client,
    name: &str,
    result: Result<T, fantoccini::error::CmdError>,
) -> T {
    match result {
        Ok(v) => v,
        Err(e) => {
            let dir = artifacts();
            let _ = std::fs::create_dir_all(&dir);
            let file = name.replace(' ', "-");
            if let Ok(png) = browser.screenshot().await {
                let _ = std::fs::write(dir.join(format!("{file}.png")), png);
            }
            if let Ok(html) = browser.source().await {
                let _ = std::fs::write(dir.join(format!("{file}.html")), html);
            }
            panic!(
                "step '{name}' failed: {e} (screenshot and HTML in {})",
                dir.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_logs_in_and_watches_a_check_go_down_without_reloading() {
    let driver = keepup_testkit::chromedriver::Chromedriver::start().unwrap();
    let target = support::Target::start().await;
    let web = support::start_config(&format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 1\n\
         [[site]]\nid = \"shop\"\n[[site.check]]\nid = \"web\"\nkind = \"http\"\nurl = \"{}\"\n",
        target.url()
    ))
    .await;
    web.add_user("ops", "correct horse battery", Role::Viewer);
    web.wait_for_status("shop/web", Status::Up).await;
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let browser = ClientBuilder::new(connector)
        .capabilities(driver.capabilities(1280, 900, false))
        .connect(&driver.url())
        .await
        .unwrap_or_else(|e| panic!("no browser session: {e}\n{}", driver.log()));

    // Not logged in: the overview sends the browser to the login form.
    step(
        &browser,
        "open the overview",
        browser.goto(&format!("http://{}/", web.addr)).await,
    )
    .await;
    let name = step(
        &browser,
        "see the login form",
        browser
            .wait()
            .at_most(STEP)
            .for_element(Locator::Css("input[name=name]"))
            .await,
    )
    .await;
    step(&browser, "type the name", name.send_keys("ops").await).await;
    let password = step(
        &browser,
        "find the password field",
        browser.find(Locator::Css("input[name=password]")).await,
    )
    .await;
    step(
        &browser,
        "type the password",
        password.send_keys("correct horse battery").await,
    )
    .await;
    let submit = step(
        &browser,
        "find the login button",
        browser.find(Locator::Css("form button[type=submit]")).await,
    )
    .await;
    step(&browser, "log in", submit.click().await).await;

    let up =
        Locator::XPath("//span[@data-check='shop/web' and @data-field='state' and text()='UP']");
    step(
        &browser,
        "see the check up on the overview",
        browser.wait().at_most(STEP).for_element(up).await,
    )
    .await;
    // A mark on the page: a reload would lose it.
    step(
        &browser,
        "mark the page",
        browser
            .execute("window.keepupMark = 42; return true;", vec![])
            .await,
    )
    .await;

    target.break_down();
    let down = Locator::XPath(
        "//span[@data-check='shop/web' and @data-field='state' and text()='DOWN' and contains(@class, 'down')]",
    );
    step(
        &browser,
        "see the check turn down",
        browser.wait().at_most(STEP).for_element(down).await,
    )
    .await;
    let mark = step(
        &browser,
        "read the mark",
        browser
            .execute("return window.keepupMark === 42;", vec![])
            .await,
    )
    .await;
    assert_eq!(mark, serde_json::Value::Bool(true), "the page was reloaded");

    let link = step(
        &browser,
        "find the check's link",
        browser.find(Locator::LinkText("shop/web")).await,
    )
    .await;
    step(&browser, "open the check's page", link.click().await).await;
    let heading = step(
        &browser,
        "see the check's page",
        browser
            .wait()
            .at_most(STEP)
            .for_element(Locator::Css("section.evidence, h2"))
            .await,
    )
    .await;
    let _ = heading;
    let url = step(&browser, "read the URL", browser.current_url().await).await;
    assert_eq!(url.path(), "/checks/shop/web");
    let h1 = step(
        &browser,
        "read the title",
        browser.find(Locator::Css("h1")).await,
    )
    .await;
    let title = step(&browser, "read the title's text", h1.text().await).await;
    assert!(title.contains("shop/web"), "{title}");
    let _ = browser.close().await;
}
