//! `keepup check --check SITE/ID` on a scenario: the Nagios line first, then
//! one row per step (status, time, phases, ok, the error, skipped, cleanup)
//! and the failing step's response, from a real run against a server on
//! loopback.

use keepup_testkit::http::{TestServer, html, redirect, text};
use std::process::Command;

const PRODUCT: &str = r#"<form method="post" action="/cart/add"><input type="hidden" name="form_key" value="k-1"><button>Add to cart</button></form>"#;

#[test]
fn a_failing_scenario_prints_each_step_with_its_status_time_and_error() {
    let server = TestServer::start_background(|req| async move {
        match req.uri().path() {
            "/product/42" => html(200, PRODUCT),
            "/cart/add" => text(400, "Invalid form key"),
            "/cart/clear" => redirect(303, "/cart"),
            "/cart" => html(200, "empty"),
            _ => text(404, "not found"),
        }
    })
    .unwrap_or_else(|e| panic!("test server: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("keepup.toml");
    let config = format!(
        r#"[store]
path = "{}"

[[site]]
id = "shop"

[[site.check]]
id = "cart"
kind = "scenario"
timeout = "10s"
base_url = "{}"

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
expect_status = [303]

[[site.check.step]]
name = "cart"
url = "/cart"

[[site.check.cleanup]]
name = "empty cart"
method = "POST"
url = "/cart/clear"
form = {{ form_key = "{{{{ form_key }}}}" }}
"#,
        dir.path().join("keepup.db").display(),
        server.url("")
    );
    std::fs::write(&cfg, config).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(env!("CARGO_BIN_EXE_keepup"))
        .env_remove("KEEPUP_CONFIG")
        .args(["check", "--check", "shop/cart", "-c"])
        .arg(&cfg)
        .output()
        .unwrap_or_else(|e| panic!("keepup runs: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with(
            "SCENARIO CRITICAL - step 2 \"add to cart\" failed: expected status 303, got 400 | time="
        ),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("STEP  NAME          ACTION            STATUS  TIME"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("1     product page  GET /product/42   200     "),
        "{stdout}"
    );
    assert!(
        lines[2].contains("connect ") && lines[2].ends_with("  ok"),
        "{stdout}"
    );
    assert!(
        lines[3].starts_with("2     add to cart   POST /cart/add    400     "),
        "{stdout}"
    );
    assert!(
        lines[3].ends_with("  FAILED: expected status 303, got 400"),
        "{stdout}"
    );
    assert!(
        lines[4].starts_with("3     cart          GET /cart         -       -"),
        "{stdout}"
    );
    assert!(lines[4].ends_with("  skipped"), "{stdout}");
    assert!(
        lines[5].starts_with("c1    empty cart    POST /cart/clear  200     "),
        "{stdout}"
    );
    assert!(lines[5].ends_with("  ok"), "{stdout}");
    assert_eq!(
        lines[6],
        format!(
            "step 2 \"add to cart\" answered 400 from {}",
            server.url("/cart/add")
        )
    );
    assert_eq!(lines[7], "  | Invalid form key");
}
