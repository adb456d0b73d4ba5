//! A failing browser check's screenshot on the dashboard: a real monitor
//! runs a `kind = "browser"` check in Debian's Chromium against an
//! in-test page where its selector matches nothing; the store keeps the
//! screenshot beside the result; the check page shows it (and its recent
//! results link it) and
//! `/screenshots/<id>` serves it as a JPEG, to logged-in people only.

mod support;

use keepup_model::{CheckId, Status};
use keepup_store::Role;
use keepup_testkit::http::{TestServer, html};

const PASSWORD: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_browser_check_shows_its_screenshot_to_people_logged_in() {
    let page = TestServer::start(|_req| async move {
        html(200, "<html><body><h1>Blue teapot</h1></body></html>")
    })
    .await
    .unwrap();
    let web = support::start_config(&format!(
        "[[site]]\nid = \"shop\"\n\
         [[site.check]]\nid = \"walk\"\nkind = \"browser\"\ninterval = \"30s\"\ntimeout = \"6s\"\nfailure_threshold = 1\n\
         [[site.check.step]]\nname = \"product\"\ngoto = \"{}\"\n\
         [[site.check.step]]\nname = \"quick add\"\nclick = \"#quick-add\"\n",
        page.url("/product/42")
    ))
    .await;
    let walk = CheckId::new("shop", "walk");
    web.wait_for_status("shop/walk", Status::Down).await;
    web.wait_for(|m| {
        m.store()
            .latest_for(&walk)
            .ok()
            .flatten()
            .is_some_and(|l| l.outcome.evidence.details.contains_key("screenshot"))
    })
    .await;
    let stored = web.monitor.store().latest_for(&walk).unwrap().unwrap();
    let id = stored.outcome.evidence.details["screenshot"]["id"]
        .as_i64()
        .expect("the stored evidence names the screenshot");
    let shot = web.monitor.store().screenshot(id).unwrap().expect("kept");
    // The bytes live in the store, not in the monitor's memory.
    let current = web.monitor.current();
    assert!(
        current
            .get(&walk)
            .expect("a state")
            .outcome
            .attachments
            .is_empty()
    );
    assert!(shot.bytes.starts_with(&[0xff, 0xd8]), "a JPEG");

    let src = format!("/screenshots/{id}");
    let mut stranger = web.browser(2);
    let refused = stranger.get(&src).await;
    assert_eq!(refused.status, 303, "{}", refused.body);

    web.add_user("ann", PASSWORD, Role::Viewer);
    let mut ann = web.browser(1);
    assert_eq!(ann.login("ann", PASSWORD).await.status, 303);
    let check_page = ann.get("/checks/shop/walk").await;
    assert_eq!(check_page.status, 200, "{}", check_page.body);
    assert_eq!(
        check_page.attr("figure.screenshot img", "src").as_deref(),
        Some(src.as_str()),
        "{}",
        check_page.body
    );
    // The recent results link it too, so it stays viewable once the
    // check is up again.
    assert_eq!(
        check_page
            .attr("table.results a.screenshot", "href")
            .as_deref(),
        Some(src.as_str()),
        "{}",
        check_page.body
    );
    let image = ann.get(&src).await;
    assert_eq!(image.status, 200);
    assert_eq!(image.header("content-type"), Some("image/jpeg"));
    assert_eq!(image.header("x-content-type-options"), Some("nosniff"));
    let length = shot.bytes.len().to_string();
    assert_eq!(image.header("content-length"), Some(length.as_str()));
    assert_eq!(ann.get("/screenshots/999999").await.status, 404);
    assert_eq!(ann.get("/screenshots/x").await.status, 400);
}
