//! `kind = "scenario"` against the demo shop (issue 16): the configured
//! walk home → category → product → add to cart with the form key → cart →
//! checkout passes on the healthy shop, and the "add to cart broken" fault
//! shows as the failing step, with the cleanup still run.

use std::path::Path;

use keepup_config::{CheckSpec, ProbeSpec, load_str};
use keepup_demo::{DemoShop, Fault, FaultPlan};
use keepup_model::codes as c;
use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;
use serde_json::Value;

async fn start_shop(faults: FaultPlan) -> (tempfile::TempDir, DemoShop) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temp dir: {e}"));
    let shop = DemoShop::start(dir.path(), faults)
        .await
        .unwrap_or_else(|e| panic!("the demo shop starts: {e}"));
    (dir, shop)
}

/// The cart walk of the README, against `shop`.
fn cart_walk(shop: &DemoShop) -> String {
    format!(
        r##"[[site]]
id = "shop"

[[site.check]]
id = "cart"
kind = "scenario"
interval = "1m"
timeout = "20s"
base_url = "http://{}"
variables = {{ sku = "42" }}

[[site.check.step]]
name = "home"
url = "/"
contains = ["Add to cart"]

[[site.check.step]]
name = "category"
url = "/category/teapots"
contains = ["Blue teapot"]

[[site.check.step]]
name = "product page"
url = "/product/{{{{ sku }}}}"
matches = ['Price: \d+']
[[site.check.step.extract]]
var = "form_key"
css = "input[name=form_key]"
attr = "value"

[[site.check.step]]
name = "add to cart"
method = "POST"
url = "/cart/add"
form = {{ form_key = "{{{{ form_key }}}}", product = "{{{{ sku }}}}", qty = "1" }}
contains = ["Blue teapot × 1"]

[[site.check.step]]
name = "checkout"
url = "/checkout"
contains = ["Checkout"]
[[site.check.step.css]]
selector = "iframe"

[[site.check.cleanup]]
name = "empty cart"
method = "POST"
url = "/cart/clear"
form = {{ form_key = "{{{{ form_key }}}}" }}
"##,
        shop.http
    )
}

async fn run(src: &str) -> Outcome {
    let config = load_str(src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let check = config.checks().next().unwrap_or_else(|| panic!("no check"));
    let CheckSpec::Probe(spec @ ProbeSpec::Scenario(_)) = &check.spec else {
        panic!("not a scenario")
    };
    keepup_probe::run(spec, check.timeout, &ProbeContext::new()).await
}

fn step_field<'o>(outcome: &'o Outcome, index: usize, key: &str) -> &'o Value {
    &outcome.evidence.details["steps"][index][key]
}

#[tokio::test]
async fn the_cart_walk_passes_on_the_demo_shop_and_names_add_to_cart_when_it_breaks() {
    let (_dir, shop) = start_shop(FaultPlan::without_faults()).await;
    let outcome = run(&cart_walk(&shop)).await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
    assert_eq!(outcome.message, "5 steps passed");
    assert_eq!(step_field(&outcome, 3, "action"), "POST /cart/add");
    assert_eq!(step_field(&outcome, 3, "status"), 200);
    assert_eq!(step_field(&outcome, 5, "cleanup"), true);
    assert_eq!(step_field(&outcome, 5, "ok"), true);

    let (_dir, broken) = start_shop(FaultPlan::only(Fault::AddToCartBroken)).await;
    let outcome = run(&cart_walk(&broken)).await;
    assert_eq!(outcome.status, Status::Down);
    let codes: Vec<&str> = outcome.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, [c::SCENARIO_STEP_FAILED]);
    assert_eq!(
        outcome.message,
        "step 3 \"add to cart\" failed: expected status 200-399, got 400"
    );
    let failed = &outcome.evidence.details["failed_step"];
    assert_eq!(failed["name"], "add to cart");
    assert!(
        failed["response"]["body_excerpt"]
            .as_str()
            .is_some_and(|b| b.contains("Invalid form key")),
        "{failed}"
    );
    assert_eq!(failed["response"]["headers"].get("set-cookie"), None);
    assert_eq!(step_field(&outcome, 4, "skipped"), true);
    // The cleanup still ran after the failure, with the extracted key.
    assert_eq!(step_field(&outcome, 5, "ok"), true);
}
