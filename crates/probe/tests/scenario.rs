//! `kind = "scenario"` against testkit servers on loopback, configured
//! through the real loader: the hostile cases of issue 16 (a redirect loop
//! mid-scenario, an extraction that finds nothing, a secret the server
//! echoes, a failure followed by cleanup, a step that never answers) each
//! end with the failing step named, and the server side shows what was and
//! was not sent.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keepup_config::{CheckSpec, ProbeSpec, load_str};
use keepup_model::codes as c;
use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;
use keepup_testkit::hostile::{Behaviour, HostileServer};
use keepup_testkit::http::{Request, Response, TestServer, html, json, redirect, text};
use serde_json::Value;

/// Loads a one-check scenario (the keys after `kind`) and runs it once
/// within `timeout`, as the scheduler does.
async fn run(check: &str, timeout: &str) -> Outcome {
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"walk\"\nkind = \"scenario\"\ninterval = \"1m\"\ntimeout = \"{timeout}\"\n{check}"
    );
    let config = load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let check = config.checks().next().unwrap_or_else(|| panic!("no check"));
    let CheckSpec::Probe(spec @ ProbeSpec::Scenario(_)) = &check.spec else {
        panic!("not a scenario")
    };
    keepup_probe::run(spec, check.timeout, &ProbeContext::new()).await
}

/// Loads a one-check `kind = "login"` (the keys after `kind`) and runs it
/// once.
async fn run_login(keys: &str) -> Outcome {
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"login\"\nkind = \"login\"\ntimeout = \"10s\"\n{keys}"
    );
    let config = load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let check = config.checks().next().unwrap_or_else(|| panic!("no check"));
    let CheckSpec::Probe(spec) = &check.spec else {
        panic!("not a probe")
    };
    keepup_probe::run(spec, check.timeout, &ProbeContext::new()).await
}

fn codes(outcome: &Outcome) -> Vec<&str> {
    outcome.findings.iter().map(|f| f.code.as_str()).collect()
}

fn steps(outcome: &Outcome) -> &Vec<Value> {
    match outcome.evidence.details.get("steps") {
        Some(Value::Array(steps)) => steps,
        other => panic!("no steps in the evidence: {other:?}"),
    }
}

/// The paths the server received, in order.
fn paths(server: &TestServer) -> Vec<String> {
    server
        .received()
        .iter()
        .map(|r| format!("{} {}", r.method, r.uri.path()))
        .collect()
}

const PRODUCT: &str = r#"<html><body><h1>Blue teapot</h1>
<form method="post" action="/cart/add"><input type="hidden" name="form_key" value="k-123">
<button>Add to cart</button></form><div id="minicart"><span class="count">0</span></div></body></html>"#;

async fn shop(extra: impl Fn(&Request) -> Option<Response> + Send + Sync + 'static) -> TestServer {
    let extra = Arc::new(extra);
    TestServer::start(move |req| {
        let extra = Arc::clone(&extra);
        async move {
            if let Some(response) = extra(&req) {
                return response;
            }
            match req.uri().path() {
                "/product/42" => {
                    let mut r = html(200, PRODUCT);
                    r.headers_mut().insert(
                        "set-cookie",
                        http::HeaderValue::from_static("shop_session=s-1; Path=/; HttpOnly"),
                    );
                    r
                }
                "/loop/a" => redirect(302, "/loop/b"),
                "/loop/b" => redirect(302, "/loop/a"),
                "/cart/clear" => redirect(303, "/cart"),
                "/cart" => html(200, "<p>Your cart</p>"),
                _ => text(404, "no such page"),
            }
        }
    })
    .await
    .unwrap_or_else(|e| panic!("test server: {e}"))
}

#[tokio::test]
async fn a_walk_shares_cookies_and_extracted_values_and_records_every_step() {
    let server = shop(|req| {
        (req.uri().path() == "/cart/add").then(|| {
            let cookie = req
                .headers()
                .get("cookie")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let body = String::from_utf8_lossy(req.body());
            if cookie == "shop_session=s-1" && body == "form_key=k-123&product=42&qty=1" {
                redirect(303, "/cart")
            } else {
                text(400, "Invalid form key")
            }
        })
    })
    .await;
    let outcome = run(
        &format!(
            r##"base_url = "{}"
variables = {{ sku = "42" }}
[[site.check.step]]
name = "product page"
url = "/product/{{{{ sku }}}}"
contains = ["Blue teapot"]
[[site.check.step.css]]
selector = "#minicart .count"
text = "0"
[[site.check.step.extract]]
var = "form_key"
css = "input[name=form_key]"
attr = "value"
[[site.check.step]]
name = "add to cart"
method = "POST"
url = "/cart/add"
form = {{ form_key = "{{{{ form_key }}}}", product = "{{{{ sku }}}}", qty = "1" }}
contains = ["Your cart"]
"##,
            server.url("")
        ),
        "10s",
    )
    .await;
    assert_eq!(outcome.status, Status::Up, "{outcome:?}");
    assert_eq!(outcome.message, "2 steps passed");
    assert_eq!(
        paths(&server),
        ["GET /product/42", "POST /cart/add", "GET /cart"]
    );
    let steps = steps(&outcome);
    assert_eq!(steps[0]["action"], "GET /product/42");
    assert_eq!(steps[0]["status"], 200);
    assert_eq!(steps[0]["ok"], true);
    assert!(steps[0]["timing"]["connect_ms"].is_number(), "{steps:?}");
    assert_eq!(steps[1]["action"], "POST /cart/add");
    assert_eq!(steps[1]["status"], 200);
    assert!(outcome.evidence.details.get("failed_step").is_none());
}

#[tokio::test]
async fn a_redirect_loop_mid_scenario_names_the_step_and_skips_the_rest() {
    let server = shop(|_| None).await;
    let outcome = run(
        &format!(
            r#"base_url = "{}"
[[site.check.step]]
name = "product page"
url = "/product/42"
[[site.check.step]]
name = "to the cart"
url = "/loop/a"
[[site.check.step]]
name = "cart"
url = "/cart"
"#,
            server.url("")
        ),
        "10s",
    )
    .await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), [c::SCENARIO_REDIRECT_LOOP]);
    assert!(
        outcome
            .message
            .starts_with("step 2 \"to the cart\" failed: redirect loop: "),
        "{}",
        outcome.message
    );
    let steps = steps(&outcome);
    assert_eq!(steps[2]["skipped"], true);
    assert_eq!(outcome.evidence.details["failed_step"]["index"], 1);
    assert_eq!(
        outcome.evidence.details["failed_step"]["response"]["status"],
        302
    );
    assert!(!paths(&server).contains(&"GET /cart".to_owned()));
}

#[tokio::test]
async fn an_extraction_that_finds_nothing_fails_its_step_and_sends_no_empty_token() {
    let server =
        shop(|req| (req.uri().path() == "/product/42").then(|| html(200, "<p>no form here</p>")))
            .await;
    let outcome = run(
        &format!(
            r#"base_url = "{}"
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
"#,
            server.url("")
        ),
        "10s",
    )
    .await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), [c::SCENARIO_EXTRACT_FAILED]);
    assert_eq!(
        outcome.message,
        "step 1 \"product page\" failed: could not extract \"form_key\": css \"input[name=form_key]\" attribute \"value\" found nothing"
    );
    // The server never saw the step that needed the token.
    assert_eq!(paths(&server), ["GET /product/42"]);
    assert_eq!(steps(&outcome)[1]["skipped"], true);
}

#[tokio::test]
async fn a_secret_the_server_echoes_never_reaches_the_outcome() {
    const PASSWORD: &str = "correct horse battery";
    let seen = Arc::new(Mutex::new(String::new()));
    let seen_by_server = Arc::clone(&seen);
    let server = shop(move |req| {
        (req.uri().path() == "/login").then(|| {
            let body = String::from_utf8_lossy(req.body()).into_owned();
            if let Ok(mut s) = seen_by_server.lock() {
                s.clone_from(&body);
            }
            let mut r = html(
                400,
                format!("<p>Invalid login for password {PASSWORD}, posted {body}</p>"),
            );
            r.headers_mut().insert(
                "x-echo",
                http::HeaderValue::from_static("correct horse battery"),
            );
            r.headers_mut().insert(
                "set-cookie",
                http::HeaderValue::from_static("shop_customer=c-secret-session; Path=/"),
            );
            r
        })
    })
    .await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("shop.pw");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap_or_else(|e| panic!("{e}"));
    let outcome = run(
        &format!(
            r#"base_url = "{}"
secrets = {{ password = {{ file = "{}" }} }}
[[site.check.step]]
name = "log in"
method = "POST"
url = "/login?pw={{{{ password }}}}"
form = {{ email = "alice@demo-shop.test", password = "{{{{ password }}}}" }}
expect_status = [303]
"#,
            server.url(""),
            file.display()
        ),
        "10s",
    )
    .await;
    // The server did get the password: the step really sent it.
    let posted = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        posted,
        "email=alice%40demo-shop.test&password=correct%20horse%20battery"
    );
    assert_eq!(codes(&outcome), [c::SCENARIO_STEP_FAILED]);
    assert_eq!(
        outcome.message,
        "step 1 \"log in\" failed: expected status 303, got 400"
    );
    let stored = serde_json::to_string(&outcome).unwrap_or_default();
    assert!(!stored.contains(PASSWORD), "{stored}");
    assert!(!stored.contains("correct%20horse%20battery"), "{stored}");
    assert!(!stored.contains("c-secret-session"), "{stored}");
    let response = &outcome.evidence.details["failed_step"]["response"];
    assert_eq!(response["headers"]["x-echo"], "[redacted]");
    assert_eq!(response["headers"]["set-cookie"], "[redacted]");
    let excerpt = response["body_excerpt"].as_str().unwrap_or_default();
    assert!(
        excerpt.contains("Invalid login for password [redacted]"),
        "{excerpt}"
    );
    assert_eq!(steps(&outcome)[0]["action"], "POST /login?pw=[redacted]");
}

#[tokio::test]
async fn cleanup_runs_after_a_failure_and_a_failing_cleanup_is_a_warning() {
    let server =
        shop(|req| (req.uri().path() == "/checkout").then(|| text(500, "Fatal error"))).await;
    let check = |cleanup_url: &str| {
        format!(
            r#"base_url = "{}"
[[site.check.step]]
name = "product page"
url = "/product/42"
[[site.check.step.extract]]
var = "form_key"
regex = 'name="form_key" value="([^"]+)"'
[[site.check.step]]
name = "checkout"
url = "/checkout"
[[site.check.cleanup]]
name = "empty cart"
method = "POST"
url = "{cleanup_url}"
form = {{ form_key = "{{{{ form_key }}}}" }}
"#,
            server.url("")
        )
    };
    let outcome = run(&check("/cart/clear"), "10s").await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(
        outcome.message,
        "step 2 \"checkout\" failed: expected status 200-399, got 500"
    );
    assert_eq!(
        paths(&server),
        [
            "GET /product/42",
            "GET /checkout",
            "POST /cart/clear",
            "GET /cart"
        ]
    );
    let steps = steps(&outcome);
    assert_eq!(steps[2]["cleanup"], true);
    assert_eq!(steps[2]["ok"], true);

    let outcome = run(&check("/nowhere"), "10s").await;
    assert_eq!(
        codes(&outcome),
        [c::SCENARIO_STEP_FAILED, c::SCENARIO_CLEANUP_FAILED]
    );
    assert!(
        outcome.findings[1]
            .text
            .starts_with("cleanup step 1 \"empty cart\" failed: expected status 200-399, got 404")
    );
}

#[tokio::test]
async fn a_step_that_never_answers_fails_by_name_within_the_timeout_and_cleanup_still_runs() {
    let server = TestServer::start(|req| async move {
        match req.uri().path() {
            "/stuck" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                text(200, "too late")
            }
            _ => text(200, "fine"),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("test server: {e}"));
    let outcome = run(
        &format!(
            r#"base_url = "{}"
[[site.check.step]]
name = "home"
url = "/"
[[site.check.step]]
name = "search"
url = "/stuck"
[[site.check.cleanup]]
name = "log out"
url = "/logout"
"#,
            server.url("")
        ),
        "2s",
    )
    .await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), [c::SCENARIO_STEP_FAILED]);
    assert!(
        outcome
            .message
            .starts_with("step 2 \"search\" failed: no result within the 2 s timeout (while waiting for the response headers)"),
        "{}",
        outcome.message
    );
    assert_eq!(paths(&server), ["GET /", "GET /stuck", "GET /logout"]);
}

#[tokio::test]
async fn a_basic_login_sends_its_credentials_and_a_wrong_password_is_login_failed() {
    let server = TestServer::start(|req| async move {
        // "alice:s3cret" in base64.
        match req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
        {
            Some("Basic YWxpY2U6czNjcmV0") => text(200, "private area"),
            _ => text(401, "who are you?"),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("test server: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let check = |password: &str| {
        let file = dir.path().join(format!("{password}.pw"));
        std::fs::write(&file, password).unwrap_or_else(|e| panic!("{e}"));
        format!(
            "style = \"basic\"\nurl = \"{}\"\nusername = \"alice\"\npassword_file = \"{}\"\nsuccess_text = \"private\"\n",
            server.url("/private"),
            file.display()
        )
    };
    let outcome = run_login(&check("s3cret")).await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
    assert_eq!(outcome.message, "logged in");
    let outcome = run_login(&check("wrong")).await;
    assert_eq!(codes(&outcome), [c::LOGIN_FAILED]);
    assert_eq!(
        outcome.message,
        "step 1 \"protected page\" failed: expected status 200-299, got 401"
    );
    let stored = serde_json::to_string(&outcome).unwrap_or_default();
    // Neither the password nor the header built from it.
    assert!(
        !stored.contains("wrong") && !stored.contains("YWxpY2U6d3Jvbmc="),
        "{stored}"
    );
}

#[tokio::test]
async fn a_huge_dom_or_one_nested_without_end_fails_the_step_by_name_and_quickly() {
    // 200,000 elements side by side, under the 2 MB limit set below; and
    // 100,000 nested ones, which would cost html5ever minutes.
    let wide = format!("<html><body>{}</body></html>", "<b>x</b>".repeat(200_000));
    let deep = format!("<html><body>{}</body></html>", "<div>".repeat(100_000));
    // The same depth for html5ever, written to slip past a simple count.
    let self_closed = format!("<html><body>{}</body></html>", "<div/>".repeat(100_000));
    let stray_ends = format!(
        "<html><body>{}</body></html>",
        "<div></span>".repeat(100_000)
    );
    let server = TestServer::start(move |req| {
        let page = match req.uri().path() {
            "/deep" => deep.clone(),
            "/self-closed" => self_closed.clone(),
            "/stray-ends" => stray_ends.clone(),
            _ => wide.clone(),
        };
        async move { html(200, page) }
    })
    .await
    .unwrap_or_else(|e| panic!("test server: {e}"));
    let check = |path: &str| {
        format!(
            r##"base_url = "{}"
max_body_bytes = 2000000
[[site.check.step]]
name = "big page"
url = "{path}"
[[site.check.step.css]]
selector = "#minicart .count"
"##,
            server.url("")
        )
    };
    let outcome = run(&check("/wide"), "20s").await;
    assert_eq!(codes(&outcome), [c::SCENARIO_STEP_FAILED], "{outcome:#?}");
    assert_eq!(
        outcome.message,
        "step 1 \"big page\" failed: nothing matches the CSS selector \"#minicart .count\""
    );
    for path in ["/deep", "/self-closed", "/stray-ends"] {
        let outcome = run(&check(path), "20s").await;
        assert_eq!(
            outcome.message,
            "step 1 \"big page\" failed: the page nests elements more than 512 deep; it was not parsed",
            "{path}"
        );
    }
}

/// A live access token the login endpoints below hand out.
const TOKEN: &str = "tok-live-9f8e7d6c5b";

#[tokio::test]
async fn a_token_in_a_failing_login_response_never_reaches_the_outcome() {
    let server = TestServer::start(|req| async move {
        match req.uri().path() {
            // No expires_in: the token step fails after taking the token.
            "/token/no-expiry" => json(
                200,
                format!(r#"{{"access_token":"{TOKEN}","token_type":"Bearer"}}"#),
            ),
            // No token_type: the step's assertion fails before extraction.
            "/token/no-type" => json(
                200,
                format!(r#"{{"access_token":"{TOKEN}","expires_in":3600}}"#),
            ),
            "/api/login" => json(200, format!(r#"{{"token":"{TOKEN}"}}"#)),
            // Answers, echoing the token, but without the success text.
            "/api/me" => json(
                200,
                format!(r#"{{"email":"a@shop.test","seen":"{TOKEN}"}}"#),
            ),
            _ => text(404, "no such page"),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("test server: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("client.secret");
    std::fs::write(&file, "client-s3cret").unwrap_or_else(|e| panic!("{e}"));
    let oauth2 = |path: &str| {
        format!(
            "style = \"oauth2\"\ntoken_url = \"{}\"\nclient_id = \"monitor\"\nclient_secret_file = \"{}\"\n",
            server.url(path),
            file.display()
        )
    };
    let json_login = format!(
        "style = \"json\"\nlogin_url = \"{}\"\nme_url = \"{}\"\nusername = \"alice\"\npassword_file = \"{}\"\nsuccess_text = \"Welcome\"\n",
        server.url("/api/login"),
        server.url("/api/me"),
        file.display()
    );
    for (keys, failure) in [
        (
            oauth2("/token/no-expiry"),
            "could not extract \"expires_in\": json \"/expires_in\" found nothing",
        ),
        (oauth2("/token/no-type"), "/token_type"),
        (json_login, "Welcome"),
    ] {
        let outcome = run_login(&keys).await;
        assert_eq!(codes(&outcome), [c::LOGIN_FAILED], "{outcome:#?}");
        assert!(outcome.message.contains(failure), "{}", outcome.message);
        let excerpt = outcome.evidence.details["failed_step"]["response"]["body_excerpt"]
            .as_str()
            .unwrap_or_default();
        assert!(excerpt.contains("[redacted]"), "{excerpt}");
        let stored = serde_json::to_string(&outcome).unwrap_or_default();
        assert!(!stored.contains(TOKEN), "{stored}");
    }
}

#[tokio::test]
async fn a_value_extracted_as_secret_is_redacted_from_the_failing_step_after_it() {
    let server = shop(|req| match req.uri().path() {
        "/key" => Some(text(200, format!("api key: {TOKEN}"))),
        "/use" => Some(text(500, format!("Fatal error using {TOKEN}"))),
        _ => None,
    })
    .await;
    let outcome = run(
        &format!(
            r#"base_url = "{}"
[[site.check.step]]
name = "key"
url = "/key"
[[site.check.step.extract]]
var = "api_key"
regex = 'api key: (\S+)'
secret = true
[[site.check.step]]
name = "use"
url = "/use?key={{{{ api_key }}}}"
"#,
            server.url("")
        ),
        "10s",
    )
    .await;
    assert_eq!(codes(&outcome), [c::SCENARIO_STEP_FAILED]);
    let paths = server
        .received()
        .iter()
        .map(|r| r.uri.to_string())
        .collect::<Vec<_>>();
    assert_eq!(paths, ["/key".to_owned(), format!("/use?key={TOKEN}")]);
    let response = &outcome.evidence.details["failed_step"]["response"];
    assert_eq!(response["body_excerpt"], "Fatal error using [redacted]");
    assert_eq!(steps(&outcome)[1]["action"], "GET /use?key=[redacted]");
    let stored = serde_json::to_string(&outcome).unwrap_or_default();
    assert!(!stored.contains(TOKEN), "{stored}");
}

#[tokio::test]
async fn a_success_cookie_counts_only_when_the_log_in_response_sets_it() {
    let server = TestServer::start(|req| async move {
        let page =
            r#"<form method="post"><input type="hidden" name="form_key" value="k-1"></form>"#;
        match (req.method().as_str(), req.uri().path()) {
            // The login page already opens a session, as PHP shops do.
            ("GET", "/login") => {
                let mut r = html(200, page);
                r.headers_mut().insert(
                    "set-cookie",
                    http::HeaderValue::from_static("PHPSESSID=guest; Path=/"),
                );
                r
            }
            ("POST", "/login") => {
                let body = String::from_utf8_lossy(req.body()).into_owned();
                if body.contains("password=right") {
                    let mut r = redirect(303, "/account");
                    r.headers_mut().insert(
                        "set-cookie",
                        http::HeaderValue::from_static("PHPSESSID=customer; Path=/"),
                    );
                    r
                } else {
                    html(200, "<p>Invalid login</p>")
                }
            }
            ("GET", "/account") => html(200, "<p>Your account</p>"),
            _ => text(404, "no such page"),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("test server: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let check = |password: &str| {
        let file = dir.path().join(format!("{password}.pw"));
        std::fs::write(&file, password).unwrap_or_else(|e| panic!("{e}"));
        format!(
            "style = \"form\"\nlogin_url = \"{}\"\nusername = \"alice\"\npassword_file = \"{}\"\ntoken_field = \"form_key\"\nsuccess_cookie = \"PHPSESSID\"\n",
            server.url("/login"),
            file.display()
        )
    };
    let outcome = run_login(&check("right")).await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
    let outcome = run_login(&check("wrong")).await;
    assert_eq!(codes(&outcome), [c::LOGIN_FAILED], "{outcome:#?}");
    assert!(
        outcome
            .message
            .ends_with("could not extract \"session_cookie\": the response's Set-Cookie \"PHPSESSID\" found nothing"),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn max_ms_ends_a_slow_step_while_it_runs() {
    let server = shop(|_| None).await;
    let slow = TestServer::start(|_| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        text(200, "late")
    })
    .await
    .unwrap_or_else(|e| panic!("test server: {e}"));
    let outcome = run(
        &format!(
            r#"[[site.check.step]]
name = "slow search"
url = "{}"
max_ms = 300
[[site.check.step]]
name = "cart"
url = "{}"
"#,
            slow.url("/search"),
            server.url("/cart")
        ),
        "30s",
    )
    .await;
    assert_eq!(codes(&outcome), [c::SCENARIO_STEP_FAILED], "{outcome:#?}");
    // Not "no result within the 30 s timeout": the step ended at its max_ms.
    assert_eq!(
        outcome.message,
        "step 1 \"slow search\" failed: slower than max_ms = 300"
    );
    assert_eq!(steps(&outcome)[1]["skipped"], true);
}

#[tokio::test]
async fn a_steps_timing_adds_up_its_redirect_hops() {
    let server = shop(|req| {
        (req.uri().path() == "/cart/add").then(|| {
            // The POST's own answer is slow; the page it redirects to is not.
            std::thread::sleep(Duration::from_millis(300));
            redirect(303, "/cart")
        })
    })
    .await;
    let outcome = run(
        &format!(
            r#"[[site.check.step]]
name = "add to cart"
method = "POST"
url = "{}"
form = {{ product = "42" }}
contains = ["Your cart"]
"#,
            server.url("/cart/add")
        ),
        "10s",
    )
    .await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
    assert_eq!(paths(&server), ["POST /cart/add", "GET /cart"]);
    let timing = &steps(&outcome)[0]["timing"];
    // The POST's 300 ms wait for its head is in the step's figure.
    let first_byte = timing["first_byte_ms"].as_f64().unwrap_or_default();
    assert!(first_byte >= 300.0, "{timing}");
}

/// Each step's `new_connections` in the evidence.
fn new_connections(outcome: &Outcome) -> Vec<u64> {
    steps(outcome)
        .iter()
        .map(|s| s["new_connections"].as_u64().unwrap_or(u64::MAX))
        .collect()
}

#[tokio::test]
async fn steps_to_one_origin_share_a_connection_and_another_host_gets_its_own() {
    let server = shop(|_| None).await;
    let other = TestServer::builder()
        .bind("127.0.0.2:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .start(|_| async { html(200, "<p>Other shop</p>") })
        .await
        .unwrap_or_else(|e| panic!("test server: {e}"));
    let step = |name: &str, url: String| {
        format!("[[site.check.step]]\nname = \"{name}\"\nurl = \"{url}\"\n")
    };
    let outcome = run(
        &[
            step("product", server.url("/product/42")),
            step("cart", server.url("/cart")),
            step("other shop", other.url("/")),
            step("cart again", server.url("/cart")),
            step("other again", other.url("/")),
        ]
        .concat(),
        "10s",
    )
    .await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
    assert_eq!(server.requests(), 3);
    assert_eq!(server.connections(), 1, "the shop's steps share one");
    assert_eq!(other.connections(), 1, "the other host has its own");
    assert_eq!(new_connections(&outcome), [1, 0, 1, 0, 0]);
    // Connect time is reported by the step that connected only.
    let timing = |i: usize| steps(&outcome)[i]["timing"].clone();
    assert!(timing(0)["connect_ms"].is_number(), "{}", timing(0));
    assert!(timing(1)["connect_ms"].is_null(), "{}", timing(1));
    assert!(timing(1)["first_byte_ms"].is_number(), "{}", timing(1));
    // No request asks the server to close.
    assert!(
        server
            .received()
            .iter()
            .all(|r| r.headers.get("connection").is_none()),
        "{:?}",
        server.received()
    );
}

#[tokio::test]
async fn a_connection_the_server_closes_after_answering_is_not_reused() {
    // Closed without a word, as at the end of a keep-alive timeout.
    let silent = HostileServer::start(Behaviour::AnswerThenClose("fine".into()))
        .await
        .unwrap_or_else(|e| panic!("hostile server: {e}"));
    let step = |name: &str| {
        format!(
            "[[site.check.step]]\nname = \"{name}\"\nurl = \"{}\"\ncontains = [\"fine\"]\n",
            silent.url("/")
        )
    };
    let outcome = run(&[step("one"), step("two"), step("three")].concat(), "10s").await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
    assert_eq!(silent.connections(), 3);
    assert_eq!(new_connections(&outcome), [1, 1, 1]);

    // Nor is one whose response says `Connection: close`.
    let closing = shop(|req| {
        (req.uri().path() == "/bye").then(|| {
            let mut r = html(200, "<p>bye</p>");
            r.headers_mut()
                .insert("connection", http::HeaderValue::from_static("close"));
            r
        })
    })
    .await;
    let step = |name: &str, path: &str| {
        format!(
            "[[site.check.step]]\nname = \"{name}\"\nurl = \"{}\"\n",
            closing.url(path)
        )
    };
    let outcome = run(
        &[
            step("bye", "/bye"),
            step("cart", "/cart"),
            step("cart again", "/cart"),
        ]
        .concat(),
        "10s",
    )
    .await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
    assert_eq!(closing.connections(), 2);
    assert_eq!(new_connections(&outcome), [1, 1, 0]);
}
