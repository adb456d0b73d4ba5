//! A scenario's run on the dashboard's check page, end to end: a real
//! monitor runs a `kind = "scenario"` check against an in-process shop
//! whose add to cart answers 400 with markup and a cookie; the check page,
//! read over HTTP and parsed, shows the steps table (the failing step with
//! its error, the skipped one, the cleanup), the failing response's body as
//! text and its `Set-Cookie` redacted.

mod support;

use keepup_model::Status;
use keepup_store::Role;
use keepup_testkit::http::{TestServer, html};

const PASSWORD: &str = "correct horse battery";
const REFUSAL: &str = "<h1>Invalid form key</h1><script>alert('x')</script>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_scenario_shows_its_steps_and_the_failing_response_as_text() {
    let shop = TestServer::start(|req| async move {
        match req.uri().path() {
            "/cart/add" => {
                let mut refused = html(400, REFUSAL);
                refused.headers_mut().append(
                    "set-cookie",
                    http::HeaderValue::from_static("sid=s3cr3t-session; HttpOnly"),
                );
                refused
            }
            _ => html(200, "<form><input name=\"form_key\" value=\"k123\"></form>"),
        }
    })
    .await
    .expect("the shop starts");
    let web = support::start_config(&format!(
        r#"[[site]]
id = "shop"
[[site.check]]
id = "cart"
kind = "scenario"
interval = "2s"
timeout = "2s"
failure_threshold = 1
base_url = "{base}"
[[site.check.step]]
name = "product page"
url = "/product/42"
[[site.check.step.extract]]
var = "form_key"
css = "input[name=form_key]"
attr = "value"
[[site.check.step]]
name = "add to cart"
method = "POST"
url = "/cart/add"
form = {{ form_key = "{{{{ form_key }}}}" }}
[[site.check.step]]
name = "cart"
url = "/cart"
[[site.check.cleanup]]
name = "empty cart"
method = "POST"
url = "/cart/clear"
form = {{ form_key = "{{{{ form_key }}}}" }}
"#,
        base = shop.url("").trim_end_matches('/')
    ))
    .await;
    web.add_user("ann", PASSWORD, Role::Viewer);
    let mut b = web.browser(1);
    assert_eq!(b.login("ann", PASSWORD).await.status, 303);
    web.wait_for_status("shop/cart", Status::Down).await;
    web.monitor.flush().await;

    let page = b.get("/checks/shop/cart").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let doc = page.doc();
    let texts = |selector: &str| -> Vec<String> {
        let sel = scraper::Selector::parse(selector).expect("a selector");
        doc.select(&sel)
            .map(|e| e.text().collect::<String>().trim().to_owned())
            .collect()
    };
    let h3 = texts("h3");
    assert!(
        h3.contains(&"Steps".to_owned()) && h3.contains(&"Response of the failing step".to_owned()),
        "{h3:?}"
    );
    assert_eq!(
        texts("table.scenario tbody th"),
        ["product page", "add to cart", "cart", "empty cart cleanup"]
    );
    assert_eq!(
        texts("table.scenario tbody td:last-child"),
        [
            "ok",
            "failed: expected status 200-399, got 400",
            "skipped",
            "ok"
        ]
    );
    assert_eq!(texts("table.scenario tr.failed td:nth-child(4)"), ["400"]);
    assert_eq!(texts("pre.body-excerpt"), [REFUSAL], "the body as text");
    // The page's only script is its own; the response's markup stayed text.
    let scripts: Vec<String> = doc
        .select(&scraper::Selector::parse("script").expect("a selector"))
        .map(|s| s.value().attr("src").unwrap_or("inline").to_owned())
        .collect();
    assert!(
        scripts.iter().all(|s| s.starts_with("/assets/")),
        "{scripts:?}"
    );
    assert!(!page.body.contains("s3cr3t-session"), "{}", page.body);
}
