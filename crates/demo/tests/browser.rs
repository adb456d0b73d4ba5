//! `kind = "browser"` against the demo shop's JavaScript quick add (issue
//! 16): in Debian's Chromium the quick add fills the minicart through the
//! JSON cart API; with the demo's switch that breaks only `cart.js` (the
//! HTML unchanged, what an HTTP check sees), the browser check names the
//! failing step and the script's error.

use std::path::Path;

use keepup_config::load_str;
use keepup_demo::{DemoShop, FaultPlan};
use keepup_model::codes as c;
use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;

fn quick_add(shop: &DemoShop) -> String {
    format!(
        r##"[[site]]
id = "shop"

[[site.check]]
id = "quick-add"
kind = "browser"
interval = "1m"
timeout = "30s"
base_url = "http://{}"

[[site.check.step]]
name = "product page"
goto = "/product/42"
[[site.check.step]]
name = "quick add"
click = "#quick-add"
[[site.check.step]]
name = "added"
wait_for_text = "Added to cart"
max_ms = 3000
[[site.check.step]]
name = "minicart"
assert_text = "1"
selector = "#minicart .count"
"##,
        shop.http
    )
}

async fn run(src: &str, ctx: &ProbeContext) -> Outcome {
    let config = load_str(src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let check = config.checks().next().unwrap_or_else(|| panic!("no check"));
    let spec = check.probe().unwrap_or_else(|| panic!("not a probe"));
    keepup_probe::run(spec, check.timeout, ctx).await
}

#[tokio::test]
async fn the_quick_add_works_in_the_browser_and_its_broken_script_is_caught() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temp dir: {e}"));
    let shop = DemoShop::start(dir.path(), FaultPlan::without_faults())
        .await
        .unwrap_or_else(|e| panic!("the demo shop starts: {e}"));
    let ctx = ProbeContext::new();
    let check = quick_add(&shop);
    let outcome = run(&check, &ctx).await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
    assert_eq!(outcome.message, "4 browser steps passed");

    shop.break_quick_add(true);
    let outcome = run(&check, &ctx).await;
    assert_eq!(outcome.status, Status::Down, "{outcome:#?}");
    assert_eq!(
        outcome.message,
        "step 3 \"added\" failed: the text \"Added to cart\" did not appear (max_ms = 3000 ran out)"
    );
    let codes: Vec<&str> = outcome.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, [c::SCENARIO_STEP_FAILED, c::BROWSER_CONSOLE_ERROR]);
    assert!(
        outcome.findings[1]
            .text
            .contains("cart.addItem is not a function"),
        "{outcome:#?}"
    );
    assert_eq!(
        outcome.attachments.len(),
        1,
        "the failing step's screenshot"
    );

    shop.break_quick_add(false);
    assert_eq!(run(&check, &ctx).await.status, Status::Up);
}
