//! `kind = "browser"` in Debian's real headless Chromium against in-test
//! pages: the actions, a cart that fails only in JavaScript, hostile pages
//! (one that never finishes loading, a huge DOM, a selector that matches
//! nothing, an endless script) and a missing executable. Assertions are on
//! status, codes, messages and evidence, never on timing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use keepup_config::{ProbeSpec, load_str};
use keepup_model::codes as c;
use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;
use keepup_testkit::hostile::{Behaviour, HostileServer};
use keepup_testkit::http::{Request, Response, TestServer, html, json, text};

/// The check's configuration around `steps` (TOML of the check's own keys
/// and its `[[site.check.step]]` tables).
fn load(check: &str) -> (ProbeSpec, Duration) {
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"walk\"\nkind = \"browser\"\ninterval = \"1m\"\n{check}"
    );
    let config = load_str(&src, std::path::Path::new("keepup.toml"))
        .unwrap_or_else(|problems| panic!("{problems}\n{src}"));
    let check = config.checks().next().expect("one check");
    let spec = check.probe().expect("a probe").clone();
    (spec, check.timeout)
}

async fn run(ctx: &ProbeContext, check: &str) -> Outcome {
    let (spec, timeout) = load(check);
    keepup_probe::run(&spec, timeout, ctx).await
}

fn codes(outcome: &Outcome) -> Vec<&str> {
    outcome.findings.iter().map(|f| f.code.as_str()).collect()
}

fn steps(outcome: &Outcome) -> &Vec<serde_json::Value> {
    outcome.evidence.details["steps"]
        .as_array()
        .expect("steps in the evidence")
}

const CART_JS: &str = r#"
document.getElementById('add').addEventListener('click', async () => {
  const qty = document.getElementById('qty').value;
  const colour = document.getElementById('colour').value;
  const r = await fetch('/api/cart', { method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ product: 42, qty, colour }) });
  const j = await r.json();
  document.querySelector('#minicart .count').textContent = String(j.items);
  document.getElementById('status').textContent = 'Added ' + qty + ' ' + colour;
});
"#;

const BROKEN_CART_JS: &str = r#"
document.getElementById('add').addEventListener('click', () => {
  throw new Error('cart.js: quick add is broken');
});
"#;

/// A small shop: a home page, a product page whose "Add to cart" works
/// only through `cart.js` and `fetch()`, and the cart API. `broken` makes
/// `cart.js` throw, the HTML unchanged.
async fn shop(broken: Arc<AtomicBool>) -> TestServer {
    TestServer::start(move |req: Request| {
        let broken = broken.load(Ordering::SeqCst);
        async move { shop_page(&req, broken) }
    })
    .await
    .expect("shop server")
}

fn shop_page(req: &Request, broken: bool) -> Response {
    match req.uri().path() {
        "/" => html(
            200,
            "<html><head><title>Teapot shop</title></head><body><h1>Teapots</h1>\
            <a id=\"p42\" href=\"/product/42\">Blue teapot</a></body></html>",
        ),
        "/product/42" => html(
            200,
            "<html><head><title>Blue teapot</title></head><body>\
            <h1>Blue teapot</h1><p class=\"price\">Price: 24.90 EUR</p>\
            <div id=\"minicart\">Cart: <span class=\"count\">0</span></div>\
            <input type=\"hidden\" name=\"form_key\" value=\"k3y\">\
            <input id=\"qty\" value=\"1\"><select id=\"colour\"><option value=\"blue\">Blue</option>\
            <option value=\"green\">Green</option></select>\
            <button id=\"add\" type=\"button\">Add to cart</button><p id=\"status\"></p>\
            <script src=\"/static/cart.js\"></script></body></html>",
        ),
        "/static/cart.js" => {
            let mut r = text(200, if broken { BROKEN_CART_JS } else { CART_JS });
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/javascript"),
            );
            r
        }
        "/api/cart" if req.method() == http::Method::POST => json(200, r#"{"ok":true,"items":1}"#),
        _ => text(404, "not found"),
    }
}

#[tokio::test]
async fn a_four_step_scenario_passes_and_every_action_works() {
    let server = shop(Arc::new(AtomicBool::new(false))).await;
    let base = server.url("");
    let ctx = ProbeContext::new();
    let four = format!(
        "timeout = \"30s\"\nbase_url = \"{base}\"\n\
         [[site.check.step]]\nname = \"product page\"\ngoto = \"/product/42\"\n\
         [[site.check.step]]\nname = \"quantity\"\nfill = {{ selector = \"#qty\", value = \"2\" }}\n\
         [[site.check.step]]\nname = \"add to cart\"\nclick = \"#add\"\n\
         [[site.check.step]]\nname = \"added\"\nwait_for_text = \"Added 2\"\n"
    );
    let outcome = run(&ctx, &four).await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
    assert_eq!(outcome.message, "4 browser steps passed");
    let walked = steps(&outcome);
    assert_eq!(walked.len(), 4);
    assert!(walked.iter().all(|s| s["ok"] == true), "{walked:#?}");
    assert_eq!(walked[0]["status"], 200);
    let timing = &walked[0]["timing"];
    assert!(timing["first_byte_ms"].as_f64().is_some(), "{timing:#?}");
    assert!(timing["total_ms"].as_f64().is_some(), "{timing:#?}");
    assert!(
        outcome.attachments.is_empty(),
        "no screenshot when all passed"
    );
    let browser = &outcome.evidence.details["browser"];
    assert!(
        browser["navigation"]["load_ms"].as_f64().is_some(),
        "{browser:#?}"
    );

    // Every other action, on the same browser: a link click that navigates,
    // select, wait_for, network idle, assert_text with a selector,
    // evaluate with equals, and extract into a variable used later.
    let all = format!(
        "timeout = \"30s\"\nbase_url = \"{base}\"\nvariables = {{ colour = \"green\" }}\n\
         [[site.check.step]]\nname = \"home\"\ngoto = \"/\"\n\
         [[site.check.step]]\nname = \"open product\"\nclick = \"#p42\"\n\
         [[site.check.step]]\nname = \"title\"\nevaluate = \"document.title\"\nequals = \"Blue teapot\"\n\
         [[site.check.step]]\nname = \"price\"\nassert_text = \"24.90\"\nselector = \".price\"\n\
         [[site.check.step.extract]]\nvar = \"key\"\ncss = \"input[name=form_key]\"\nattr = \"value\"\n\
         [[site.check.step]]\nname = \"colour\"\nselect = {{ selector = \"#colour\", value = \"{{{{ colour }}}}\" }}\n\
         [[site.check.step]]\nname = \"add\"\nclick = \"#add\"\n\
         [[site.check.step]]\nname = \"minicart\"\nwait_for = \"#status:not(:empty)\"\n\
         [[site.check.step]]\nname = \"quiet\"\nwait_for = \"network_idle\"\n\
         [[site.check.step]]\nname = \"added green\"\nassert_text = \"Added 1 green\"\n\
         [[site.check.step]]\nname = \"key kept\"\nevaluate = \"'{{{{ key }}}}'.length\"\nequals = \"3\"\n"
    );
    let outcome = run(&ctx, &all).await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
    assert_eq!(steps(&outcome).len(), 10);
    assert_eq!(steps(&outcome)[2]["value"], "Blue teapot");
}

#[tokio::test]
async fn a_cart_that_fails_only_in_javascript_is_caught_by_the_browser_not_by_http() {
    let broken = Arc::new(AtomicBool::new(true));
    let server = shop(Arc::clone(&broken)).await;
    let base = server.url("");
    // What an HTTP check sees: the product page, 200, with its button.
    let (http_spec, timeout) = {
        let src = format!(
            "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"page\"\nkind = \"http\"\nurl = \"{base}/product/42\"\ncontains = [\"Add to cart\"]\n"
        );
        let config =
            load_str(&src, std::path::Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
        let check = config.checks().next().expect("check");
        (check.probe().expect("probe").clone(), check.timeout)
    };
    let ctx = ProbeContext::new();
    let http = keepup_probe::run(&http_spec, timeout, &ctx).await;
    assert_eq!(http.status, Status::Up, "{http:#?}");

    let check = format!(
        "timeout = \"20s\"\nbase_url = \"{base}\"\n\
         [[site.check.step]]\nname = \"product page\"\ngoto = \"/product/42\"\n\
         [[site.check.step]]\nname = \"add to cart\"\nclick = \"#add\"\n\
         [[site.check.step]]\nname = \"added\"\nwait_for_text = \"Added\"\nmax_ms = 2000\n\
         [[site.check.step]]\nname = \"count\"\nassert_text = \"1\"\nselector = \"#minicart .count\"\n"
    );
    let outcome = run(&ctx, &check).await;
    assert_eq!(outcome.status, Status::Down, "{outcome:#?}");
    assert_eq!(
        outcome.message,
        "step 3 \"added\" failed: the text \"Added\" did not appear (max_ms = 2000 ran out)"
    );
    assert!(
        codes(&outcome).contains(&c::SCENARIO_STEP_FAILED),
        "{outcome:#?}"
    );
    assert!(
        codes(&outcome).contains(&c::BROWSER_CONSOLE_ERROR),
        "{outcome:#?}"
    );
    let console = &outcome.evidence.details["browser"]["console_errors"];
    assert!(
        console.to_string().contains("quick add is broken"),
        "{console:#?}"
    );
    assert_eq!(steps(&outcome)[3]["skipped"], true);
    assert_eq!(outcome.evidence.details["failed_step"]["index"], 2);
    let shot = outcome
        .attachments
        .first()
        .expect("a screenshot of the failing step");
    assert_eq!(shot.mime, "image/jpeg");
    assert!(shot.bytes.starts_with(&[0xff, 0xd8]), "a JPEG");
    assert!(shot.bytes.len() <= keepup_probe::browser::MAX_SCREENSHOT_BYTES);

    // Mended, the same check passes on the same browser.
    broken.store(false, Ordering::SeqCst);
    let outcome = run(&ctx, &check).await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
}

/// A page whose image never finishes (a server trickling one byte a
/// second), one with a huge DOM, and one that starts an endless script.
async fn hostile_pages(trickle: String) -> TestServer {
    let huge: String = {
        let mut page = String::from("<html><body>");
        for i in 0..100_000 {
            page.push_str(&format!("<div class=\"row\">row {i}</div>"));
        }
        page.push_str("</body></html>");
        page
    };
    let huge = Arc::new(huge);
    TestServer::start(move |req: Request| {
        let trickle = trickle.clone();
        let huge = Arc::clone(&huge);
        async move {
            match req.uri().path() {
                "/stuck" => html(
                    200,
                    format!("<html><body><p>Loading</p><img src=\"{trickle}\"></body></html>"),
                ),
                "/huge" => html(200, huge.as_bytes().to_vec()),
                "/spin" => html(
                    200,
                    "<html><body><p>Spinning</p>\
                    <script>setTimeout(() => { while (true) {} }, 200);</script></body></html>",
                ),
                "/ok" => html(200, "<html><body><p>All good</p></body></html>"),
                // Busy 90 ms of every 100: each question waits for the
                // script, so a wait's last look straddles its deadline.
                "/busy" => html(
                    200,
                    "<html><body><p>Busy</p><script>\
                    setInterval(() => { const t = Date.now(); while (Date.now() - t < 90) {} }, 100);\
                    </script></body></html>",
                ),
                // Messages over the browser pipe's size limit: a console
                // error of 8 MiB and a request whose data: URL is as big.
                "/loud" => html(
                    200,
                    "<html><body><p>Loud</p><script>\
                    console.error('x'.repeat(8 << 20));\
                    const big = 'data:text/plain,' + 'y'.repeat(8 << 20);\
                    fetch(big).catch(() => {});\
                    </script></body></html>",
                ),
                _ => text(404, "not found"),
            }
        }
    })
    .await
    .expect("hostile pages")
}

#[tokio::test]
async fn hostile_pages_end_within_the_timeout_and_the_browser_stays_usable() {
    let trickle = HostileServer::start(Behaviour::Trickle {
        interval: Duration::from_secs(1),
    })
    .await
    .expect("trickle server");
    let server = hostile_pages(trickle.url("/pixel.png")).await;
    let base = server.url("");
    let ctx = ProbeContext::new();
    let still_usable = format!(
        "timeout = \"20s\"\nbase_url = \"{base}\"\n\
         [[site.check.step]]\nname = \"fine\"\ngoto = \"/ok\"\n\
         [[site.check.step]]\nname = \"text\"\nassert_text = \"All good\"\n"
    );

    let stuck = format!(
        "timeout = \"8s\"\nbase_url = \"{base}\"\n\
         [[site.check.step]]\nname = \"open\"\ngoto = \"/stuck\"\n"
    );
    let outcome = run(&ctx, &stuck).await;
    assert_eq!(outcome.status, Status::Down, "{outcome:#?}");
    assert_eq!(codes(&outcome)[0], c::BROWSER_PAGE_TIMEOUT, "{outcome:#?}");
    assert_eq!(
        outcome.message,
        format!("step 1 \"open\" failed: {base}/stuck did not finish loading")
    );
    assert!(!codes(&outcome).contains(&c::PROBE_TIMEOUT));
    assert_eq!(run(&ctx, &still_usable).await.status, Status::Up);

    let huge = format!(
        "timeout = \"30s\"\nbase_url = \"{base}\"\n\
         [[site.check.step]]\nname = \"open\"\ngoto = \"/huge\"\n\
         [[site.check.step]]\nname = \"last row\"\nassert_text = \"row 99999\"\n\
         [[site.check.step]]\nname = \"rows\"\nevaluate = \"document.querySelectorAll('div.row').length\"\nequals = \"100000\"\n\
         [[site.check.step]]\nname = \"whole page\"\nevaluate = \"document.body.innerHTML\"\n"
    );
    let outcome = run(&ctx, &huge).await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
    // The page's 3 MB of HTML came back cut to the kept length.
    let value = steps(&outcome)[3]["value"].as_str().unwrap_or_default();
    assert!(value.chars().count() <= 201, "{value}");

    let missing = format!(
        "timeout = \"8s\"\nbase_url = \"{base}\"\n\
         [[site.check.step]]\nname = \"open\"\ngoto = \"/ok\"\n\
         [[site.check.step]]\nname = \"add\"\nclick = \"#nope\"\n\
         [[site.check.step]]\nname = \"after\"\nassert_text = \"All good\"\n"
    );
    let outcome = run(&ctx, &missing).await;
    assert_eq!(outcome.status, Status::Down, "{outcome:#?}");
    assert_eq!(
        outcome.message,
        "step 2 \"add\" failed: no visible element matches \"#nope\""
    );
    assert_eq!(codes(&outcome), vec![c::SCENARIO_STEP_FAILED]);
    assert_eq!(steps(&outcome)[2]["skipped"], true);
    assert!(!outcome.attachments.is_empty(), "a screenshot of the page");

    // A slow but answering page: the wait runs out on its own terms, the
    // page is not taken for one that stopped answering.
    let busy = format!(
        "timeout = \"4s\"\nbase_url = \"{base}\"\n\
         [[site.check.step]]\nname = \"open\"\ngoto = \"/busy\"\n\
         [[site.check.step]]\nname = \"add\"\nclick = \"#nope\"\n"
    );
    for _ in 0..3 {
        let outcome = run(&ctx, &busy).await;
        assert_eq!(
            outcome.message, "step 2 \"add\" failed: no visible element matches \"#nope\"",
            "{outcome:#?}"
        );
    }

    // One oversized message is dropped alone: this check ends on its own
    // terms and the browser every check shares keeps working.
    let loud = format!(
        "timeout = \"20s\"\nbase_url = \"{base}\"\n\
         [[site.check.step]]\nname = \"open\"\ngoto = \"/loud\"\n\
         [[site.check.step]]\nname = \"text\"\nassert_text = \"Loud\"\n"
    );
    let outcome = run(&ctx, &loud).await;
    assert_ne!(outcome.status, Status::Unknown, "{outcome:#?}");
    assert!(
        !codes(&outcome).contains(&c::BROWSER_UNAVAILABLE),
        "{outcome:#?}"
    );
    assert_eq!(steps(&outcome)[1]["ok"], true, "{outcome:#?}");
    let outcome = run(&ctx, &still_usable).await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");

    let spin = format!(
        "timeout = \"8s\"\nbase_url = \"{base}\"\n\
         [[site.check.step]]\nname = \"open\"\ngoto = \"/spin\"\n\
         [[site.check.step]]\nname = \"wait\"\nwait_for_text = \"never shown\"\n"
    );
    let outcome = run(&ctx, &spin).await;
    assert_eq!(outcome.status, Status::Down, "{outcome:#?}");
    assert_eq!(codes(&outcome)[0], c::BROWSER_PAGE_TIMEOUT, "{outcome:#?}");
    assert_eq!(
        outcome.message,
        "step 2 \"wait\" failed: the page stopped answering (a script that does not end?)"
    );
    assert!(
        outcome.attachments.is_empty(),
        "no screenshot of a page that does not answer"
    );
    let outcome = run(&ctx, &still_usable).await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
}

#[tokio::test]
async fn a_missing_executable_is_unknown_not_a_crash() {
    let src = "[browser]\nexecutable = \"/nonexistent/chromium\"\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"walk\"\nkind = \"browser\"\ntimeout = \"5s\"\n[[site.check.step]]\nname = \"home\"\ngoto = \"http://127.0.0.1:9/\"\n";
    let config = load_str(src, std::path::Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let check = config.checks().next().expect("check");
    let spec = check.probe().expect("probe");
    let outcome = keepup_probe::run(spec, check.timeout, &ProbeContext::new()).await;
    assert_eq!(outcome.status, Status::Unknown, "{outcome:#?}");
    assert_eq!(codes(&outcome), vec![c::BROWSER_UNAVAILABLE]);
    assert!(
        outcome.findings[0].text.contains("/nonexistent/chromium"),
        "{outcome:#?}"
    );
}

#[tokio::test]
async fn secrets_typed_into_the_page_never_reach_the_outcome() {
    let dir = tempfile::tempdir().expect("dir");
    let secret_file = dir.path().join("pw");
    // A quote, so that its percent- and JSON-encoded forms differ.
    std::fs::write(&secret_file, "s3cret\"Teapot\n").expect("secret file");
    // The page logs what was typed and shows it: a careless shop.
    let server = TestServer::start(|_req: Request| async move {
        html(
            200,
            "<html><body><input id=\"pw\">\
            <script>document.getElementById('pw').addEventListener('change', e => {\
              console.error('login failed for ' + e.target.value);\
              console.error('?pw=' + encodeURIComponent(e.target.value) + ' ' + JSON.stringify(e.target.value));\
              document.body.insertAdjacentText('beforeend', 'echo ' + e.target.value); });</script>\
            </body></html>",
        )
    })
    .await
    .expect("server");
    let check = format!(
        "timeout = \"20s\"\nsecrets = {{ password = {{ file = \"{}\" }} }}\n\
         [[site.check.step]]\nname = \"login\"\ngoto = \"{}\"\n\
         [[site.check.step]]\nname = \"type\"\nfill = {{ selector = \"#pw\", value = \"{{{{ password }}}}\" }}\n\
         [[site.check.step]]\nname = \"read\"\nevaluate = \"document.getElementById('pw').value\"\n\
         [[site.check.step]]\nname = \"welcome\"\nassert_text = \"Welcome {{{{ password }}}}\"\n",
        secret_file.display(),
        server.url("/")
    );
    let outcome = run(&ProbeContext::new(), &check).await;
    assert_eq!(outcome.status, Status::Down, "{outcome:#?}");
    assert!(codes(&outcome).contains(&c::BROWSER_CONSOLE_ERROR));
    let everything = format!(
        "{} {} {}",
        outcome.message,
        serde_json::to_string(&outcome.findings).unwrap_or_default(),
        serde_json::Value::Object(outcome.evidence.details.clone())
    );
    assert!(!everything.contains("s3cret"), "{everything}");
    assert!(everything.contains("[redacted]"), "{everything}");
    // The field shows what was typed: a screenshot would too.
    assert!(outcome.attachments.is_empty(), "{outcome:#?}");
    assert!(
        outcome.evidence.details["screenshot_missing"]
            .as_str()
            .is_some_and(|why| why.contains("secret")),
        "{outcome:#?}"
    );
}

#[tokio::test]
async fn a_value_extracted_as_secret_is_redacted_from_the_outcome() {
    // The page shows a token and logs it: once a step extracts it with
    // `secret = true`, it is redacted like a configured secret.
    let server = TestServer::start(|_req: Request| async move {
        html(
            200,
            "<html><body><span id=\"tok\">tok-4242-abc</span>\
            <script>console.error('session ' + document.getElementById('tok').textContent);</script>\
            </body></html>",
        )
    })
    .await
    .expect("server");
    let check = format!(
        "timeout = \"20s\"\n\
         [[site.check.step]]\nname = \"open\"\ngoto = \"{}\"\n\
         [[site.check.step.extract]]\nvar = \"token\"\ncss = \"#tok\"\nsecret = true\n\
         [[site.check.step]]\nname = \"read\"\nevaluate = \"document.getElementById('tok').textContent\"\nequals = \"{{{{ token }}}}x\"\n",
        server.url("/")
    );
    let outcome = run(&ProbeContext::new(), &check).await;
    assert_eq!(outcome.status, Status::Down, "{outcome:#?}");
    let everything = format!(
        "{} {} {}",
        outcome.message,
        serde_json::to_string(&outcome.findings).unwrap_or_default(),
        serde_json::Value::Object(outcome.evidence.details.clone())
    );
    assert!(!everything.contains("tok-4242"), "{everything}");
    assert!(everything.contains("[redacted]"), "{everything}");
}

#[tokio::test]
async fn a_check_waits_for_its_turn_among_max_concurrent_and_says_when_none_came() {
    let trickle = HostileServer::start(Behaviour::Trickle {
        interval: Duration::from_secs(1),
    })
    .await
    .expect("trickle server");
    let server = hostile_pages(trickle.url("/pixel.png")).await;
    let base = server.url("");
    let check = |id: &str, timeout: &str, path: &str| {
        format!(
            "[browser]\nmax_concurrent = 1\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"{id}\"\nkind = \"browser\"\n\
             interval = \"1m\"\ntimeout = \"{timeout}\"\nbase_url = \"{base}\"\n\
             [[site.check.step]]\nname = \"open\"\ngoto = \"{path}\"\n"
        )
    };
    let load_full = |src: String| {
        let config =
            load_str(&src, std::path::Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
        let check = config.checks().next().expect("check");
        (check.probe().expect("probe").clone(), check.timeout)
    };
    let ctx = ProbeContext::new();
    let (stuck, stuck_timeout) = load_full(check("stuck", "8s", "/stuck"));
    let holder = {
        let ctx = ctx.clone();
        tokio::spawn(async move { keepup_probe::run(&stuck, stuck_timeout, &ctx).await })
    };
    // The stuck page was asked for: its check holds the only turn.
    while server.requests() == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (quick, quick_timeout) = load_full(check("quick", "3s", "/ok"));
    let waited = keepup_probe::run(&quick, quick_timeout, &ctx).await;
    assert_eq!(waited.status, Status::Unknown, "{waited:#?}");
    assert_eq!(codes(&waited), vec![c::BROWSER_UNAVAILABLE]);
    assert!(
        waited.findings[0].text.contains("max_concurrent"),
        "{waited:#?}"
    );
    let stuck = holder.await.expect("the stuck check's task");
    assert_eq!(codes(&stuck)[0], c::BROWSER_PAGE_TIMEOUT, "{stuck:#?}");
    // Its turn ended with it.
    let outcome = keepup_probe::run(&quick, quick_timeout, &ctx).await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
}

#[tokio::test]
async fn a_browser_that_stops_answering_is_killed_and_started_again() {
    let server = hostile_pages(String::from("/none.png")).await;
    let dir = tempfile::tempdir().expect("dir");
    // A launcher that says which process the browser is, so that this test
    // stops its own browser and no other test's.
    let launcher = dir.path().join("chromium");
    let pid_file = dir.path().join("pid");
    let args_file = dir.path().join("args");
    std::fs::write(
        &launcher,
        format!(
            "#!/bin/sh\necho $$ > {}\nfor a in \"$@\"; do echo \"$a\"; done > {}\n\
             exec /usr/bin/chromium \"$@\"\n",
            pid_file.display(),
            args_file.display()
        ),
    )
    .expect("launcher");
    std::fs::set_permissions(
        &launcher,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("executable");
    let check = |timeout: &str| {
        format!(
            "[browser]\nexecutable = \"{}\"\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"walk\"\nkind = \"browser\"\n\
             interval = \"1m\"\ntimeout = \"{timeout}\"\n\
             [[site.check.step]]\nname = \"open\"\ngoto = \"{}\"\n",
            launcher.display(),
            server.url("/ok")
        )
    };
    let run_src = |src: String, ctx: ProbeContext| async move {
        let config =
            load_str(&src, std::path::Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
        let check = config.checks().next().expect("check");
        keepup_probe::run(check.probe().expect("probe"), check.timeout, &ctx).await
    };
    let ctx = ProbeContext::new();
    assert_eq!(run_src(check("20s"), ctx.clone()).await.status, Status::Up);
    let first: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    let first_profile = std::fs::read_to_string(&args_file)
        .expect("args file")
        .lines()
        .find_map(|a| {
            a.strip_prefix("--user-data-dir=")
                .map(std::path::PathBuf::from)
        })
        .expect("a profile directory");
    assert!(first_profile.is_dir());
    // SAFETY: kill(2) on the browser this test started.
    assert_eq!(unsafe { libc::kill(first, libc::SIGSTOP) }, 0);

    let stuck = run_src(check("4s"), ctx.clone()).await;
    assert_eq!(stuck.status, Status::Unknown, "{stuck:#?}");
    assert_eq!(codes(&stuck), vec![c::BROWSER_UNAVAILABLE]);

    let again = run_src(check("20s"), ctx.clone()).await;
    assert_eq!(again.status, Status::Up, "{again:#?}");
    let second: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    assert_ne!(first, second, "a new browser");
    // The killed browser's profile goes once it has been reaped.
    for _ in 0..100 {
        if !first_profile.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !first_profile.exists(),
        "{} left behind",
        first_profile.display()
    );
}

#[tokio::test]
async fn cleanup_runs_after_a_step_that_waited_out_its_whole_budget() {
    let cleaned = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = Arc::clone(&cleaned);
    let server = TestServer::start(move |req: Request| {
        let seen = Arc::clone(&seen);
        async move {
            match req.uri().path() {
                "/" => html(200, "<html><body><p>Cart</p></body></html>"),
                "/cart/clear" => {
                    seen.fetch_add(1, Ordering::SeqCst);
                    html(200, "<html><body><p>Emptied</p></body></html>")
                }
                _ => text(404, "not found"),
            }
        }
    })
    .await
    .expect("server");
    let check = format!(
        "timeout = \"8s\"\nbase_url = \"{}\"\n\
         [[site.check.step]]\nname = \"open\"\ngoto = \"/\"\n\
         [[site.check.step]]\nname = \"wait\"\nwait_for_text = \"never shown\"\n\
         [[site.check.cleanup]]\nname = \"empty the cart\"\ngoto = \"/cart/clear\"\n",
        server.url("")
    );
    let outcome = run(&ProbeContext::new(), &check).await;
    assert_eq!(outcome.status, Status::Down, "{outcome:#?}");
    assert!(
        !codes(&outcome).contains(&c::SCENARIO_CLEANUP_FAILED),
        "{outcome:#?}"
    );
    let cleanup = &steps(&outcome)[2];
    assert_eq!(cleanup["cleanup"], true, "{outcome:#?}");
    assert_eq!(cleanup["ok"], true, "{outcome:#?}");
    assert_eq!(
        cleaned.load(Ordering::SeqCst),
        1,
        "the server saw the cleanup"
    );
}

#[tokio::test]
async fn a_page_firing_requests_without_end_is_tracked_up_to_a_limit_and_counted() {
    let trickle = HostileServer::start(Behaviour::Trickle {
        interval: Duration::from_secs(1),
    })
    .await
    .expect("trickle server");
    let hanging = trickle.url("/hang");
    let server = TestServer::start(move |_req: Request| {
        let hanging = hanging.clone();
        async move {
            html(
                200,
                format!(
                    "<html><body><p>Firing</p><script>\
                    for (let i = 0; i < 1500; i++) fetch('{hanging}?' + i).catch(() => {{}});\
                    document.body.insertAdjacentText('beforeend', 'fired');</script></body></html>"
                ),
            )
        }
    })
    .await
    .expect("server");
    let check = format!(
        "timeout = \"20s\"\n\
         [[site.check.step]]\nname = \"open\"\ngoto = \"{}\"\n\
         [[site.check.step]]\nname = \"fired\"\nwait_for_text = \"fired\"\n\
         [[site.check.step]]\nname = \"missing\"\nwait_for = \"#never\"\nmax_ms = 3000\n",
        server.url("/")
    );
    let outcome = run(&ProbeContext::new(), &check).await;
    let untracked = outcome.evidence.details["browser"]["untracked_requests"]
        .as_u64()
        .unwrap_or_default();
    assert!(untracked >= 400, "{untracked} {outcome:#?}");
}

/// The command lines of the renderer processes under `root`.
fn renderers_under(root: i32) -> Vec<String> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut under = Vec::new();
    let mut queue = vec![root];
    while let Some(parent) = queue.pop() {
        for (pid, _) in parents.iter().filter(|(_, p)| *p == parent) {
            under.push(*pid);
            queue.push(*pid);
        }
    }
    under
        .into_iter()
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("--type=renderer"))
        .collect()
}

#[tokio::test]
async fn a_run_holds_only_its_pages_renderer_and_none_is_left_between_runs() {
    // A page that stays open for a second and a half.
    let server = TestServer::start(|_req: Request| async {
        html(
            200,
            "<html><body><p>wait</p><script>setTimeout(() => \
             document.body.append('ready'), 1500)</script></body></html>",
        )
    })
    .await
    .expect("server");
    let dir = tempfile::tempdir().expect("dir");
    // A launcher that says which process the browser is, so that this test
    // looks at its own browser and no other test's.
    let launcher = dir.path().join("chromium");
    let pid_file = dir.path().join("pid");
    std::fs::write(
        &launcher,
        format!(
            "#!/bin/sh\necho $$ > {}\nexec /usr/bin/chromium \"$@\"\n",
            pid_file.display()
        ),
    )
    .expect("launcher");
    std::fs::set_permissions(
        &launcher,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("executable");
    let src = format!(
        "[browser]\nexecutable = \"{}\"\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"walk\"\nkind = \"browser\"\n\
         interval = \"1m\"\ntimeout = \"20s\"\n\
         [[site.check.step]]\nname = \"open\"\ngoto = \"{}\"\n\
         [[site.check.step]]\nname = \"ready\"\nwait_for_text = \"ready\"\n",
        launcher.display(),
        server.url("/")
    );
    let config = load_str(&src, std::path::Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let check = config.checks().next().expect("check");
    let ctx = ProbeContext::new();
    let first = keepup_probe::run(check.probe().expect("probe"), check.timeout, &ctx).await;
    assert_eq!(first.status, Status::Up, "{first:#?}");
    let browser: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    // While a run's page is open: its renderer, and no address-bar popup
    // preloaded in a renderer of its own (a WebUI renderer).
    let run = tokio::spawn({
        let ctx = ctx.clone();
        let probe = check.probe().expect("probe").clone();
        let timeout = check.timeout;
        async move { keepup_probe::run(&probe, timeout, &ctx).await }
    });
    let mut seen = Vec::new();
    while !run.is_finished() {
        seen.extend(renderers_under(browser));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = run.await.expect("the run");
    assert_eq!(second.status, Status::Up, "{second:#?}");
    assert!(!seen.is_empty(), "the page's renderer was never seen");
    let webui: Vec<&String> = seen
        .iter()
        .filter(|c| c.contains("--top-chrome-webui"))
        .collect();
    assert!(webui.is_empty(), "WebUI renderers: {webui:#?}");
    // No startup page, and no address-bar popups preloaded in renderers
    // of their own: once the runs' pages have closed (their renderers end
    // a moment later), nothing renders.
    let mut left = renderers_under(browser);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = renderers_under(browser);
    }
    assert!(left.is_empty(), "renderers left: {left:#?}");
}
