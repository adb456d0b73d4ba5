//! The demo's synthetic transactions through the real binary: the
//! configuration `keepup demo` writes loads with its cart scenario and its
//! customer login, both pass on the healthy shop, and each fault of theirs
//! in the demo's cycle (add to cart broken, login broken, the checkout's
//! 500) shows as the named failing step in `keepup check --check ... --json`
//! with the failing response's excerpt, the cart's later steps skipped and
//! its cleanup still run;
//! the quick add is checked in Chromium, which sees a break of the
//! JavaScript alone that the HTTP scenario cannot (a missing Chromium fails
//! that test unless `KEEPUP_TEST_WITHOUT_CHROMIUM` is set).

use keepup_demo::{DemoShop, Fault, FaultPlan};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The demo shop with `faults` and the demo's configuration written next
/// to it.
async fn demo(faults: FaultPlan) -> (tempfile::TempDir, DemoShop, PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let shop = DemoShop::start(dir.path(), faults)
        .await
        .expect("the demo shop starts");
    let listen = "127.0.0.1:1".parse().expect("an address");
    let config = shop.config(
        &dir.path().join("keepup.db"),
        listen,
        "demo-token-1234567890",
    );
    let path = dir.path().join("keepup.toml");
    std::fs::write(&path, config).expect("write the config");
    (dir, shop, path)
}

/// `keepup check -c CONFIG --check ID --json`: the outcome.
async fn check(config: &Path, id: &str) -> Value {
    let (config, id) = (config.to_path_buf(), id.to_owned());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_keepup"))
            .args(["check", "-c"])
            .arg(&config)
            .args(["--check", &id, "--json"])
            .output()
            .expect("run keepup")
    })
    .await
    .expect("the check ran");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    doc["outcome"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_config_loads_and_its_cart_and_login_pass_on_the_healthy_shop() {
    let (_dir, shop, path) = demo(FaultPlan::without_faults()).await;
    let config = keepup_config::load(&path).unwrap_or_else(|p| panic!("{p}"));
    let kind = |id: &str| config.find_check(id).map(|c| c.spec.kind());
    assert_eq!(kind("cart"), Some("scenario"));
    assert_eq!(kind("login"), Some("login"));

    let cart = check(&path, "shop/cart").await;
    assert_eq!(cart["status"], "up", "{cart:#}");
    assert_eq!(cart["message"], "6 steps passed");
    let steps = cart["evidence"]["details"]["steps"]
        .as_array()
        .expect("steps");
    assert_eq!(steps.len(), 7, "six steps and the cleanup: {cart:#}");
    assert_eq!(steps[6]["cleanup"], true);
    assert_eq!(steps[6]["ok"], true);
    let login = check(&path, "shop/login").await;
    assert_eq!(login["status"], "up", "{login:#}");
    // The password keepup demo wrote is never in the result.
    let password = std::fs::read_to_string(shop.customer_password_file()).expect("password");
    assert!(!login.to_string().contains(password.trim()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_of_the_cycle_shows_as_the_named_failing_step() {
    for (fault, id, message, body) in [
        (
            Fault::AddToCartBroken,
            "shop/cart",
            "step 4 \"add to cart\" failed: expected status 303, got 400",
            "Invalid form key",
        ),
        (
            Fault::LoginBroken,
            "shop/login",
            "step 2 \"log in\" failed: the body does not contain \"Welcome back\"",
            "Invalid login",
        ),
        (
            Fault::CheckoutError,
            "shop/cart",
            "step 6 \"checkout\" failed: expected status 200-399, got 500",
            "Payment module crashed",
        ),
    ] {
        let (_dir, shop, path) = demo(FaultPlan::only(fault)).await;
        let outcome = check(&path, id).await;
        assert_eq!(outcome["status"], "down", "{fault:?}: {outcome:#}");
        assert_eq!(outcome["message"], message, "{fault:?}: {outcome:#}");
        assert!(
            shop.describe(fault).contains(id),
            "the fault's description names {id}: {}",
            shop.describe(fault)
        );
        let details = &outcome["evidence"]["details"];
        assert!(
            details["failed_step"]["response"]["body_excerpt"]
                .as_str()
                .is_some_and(|b| b.contains(body)),
            "{fault:?}: the failing response's excerpt shows {body:?}: {outcome:#}"
        );
        if id == "shop/cart" {
            cart_skipped_the_rest_and_emptied_the_cart(fault, details);
        }
    }
}

/// After the cart walk's failing step the later steps were skipped and the
/// cleanup still emptied the cart with the form key extracted before.
fn cart_skipped_the_rest_and_emptied_the_cart(fault: Fault, details: &Value) {
    let steps = details["steps"].as_array().expect("steps");
    let failed = details["failed_step"]["index"]
        .as_u64()
        .and_then(|i| usize::try_from(i).ok())
        .expect("the failing step's index");
    let (walk, cleanup): (Vec<&Value>, Vec<&Value>) =
        steps.iter().partition(|s| s["cleanup"] != true);
    assert_eq!(walk.len(), 6, "{fault:?}: {details:#}");
    assert!(
        walk[failed + 1..].iter().all(|s| s["skipped"] == true),
        "{fault:?}: the steps after the failing one are skipped: {details:#}"
    );
    assert_eq!(cleanup.len(), 1, "{fault:?}: {details:#}");
    assert_eq!(cleanup[0]["name"], "empty the cart");
    assert_eq!(cleanup[0]["ok"], true, "{fault:?}: {details:#}");
}

/// How the browser check's failure at its "added" step reads (steps are
/// counted from 1 for people, in the browser as in the HTTP scenario).
const ADDED_FAILED: &str = "step 3 \"added\" failed: the text \"Added to cart\" did not appear";

/// Set (to anything) to let the browser test pass on a machine without
/// Chromium; otherwise a missing Chromium fails it rather than skipping
/// the browser check unseen.
const WITHOUT_CHROMIUM: &str = "KEEPUP_TEST_WITHOUT_CHROMIUM";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_chromium_the_quick_add_is_checked_in_the_browser_and_a_javascript_only_break_shows() {
    let (_dir, shop, path) = demo(FaultPlan::without_faults()).await;
    let config = keepup_config::load(&path).unwrap_or_else(|p| panic!("{p}"));
    let quick_add = config.find_check("quick-add").map(|c| c.spec.kind());
    if quick_add.is_none() && std::env::var_os(WITHOUT_CHROMIUM).is_some() {
        return;
    }
    assert_eq!(
        quick_add,
        Some("browser"),
        "the demo configured no browser check, so /usr/bin/chromium is missing: \
         install Debian's chromium (scripts/test.sh does), or set \
         {WITHOUT_CHROMIUM}=1 to run without the browser check's test"
    );
    // The demo's screen names the quick add under the fault that fails it.
    assert!(
        shop.describe(Fault::AddToCartBroken)
            .contains("shop/quick-add"),
        "{}",
        shop.describe(Fault::AddToCartBroken)
    );
    let healthy = check(&path, "shop/quick-add").await;
    assert_eq!(healthy["status"], "up", "{healthy:#}");

    // cart.js throws, the HTML and the HTTP routes unchanged: only the
    // browser sees it.
    shop.break_quick_add(true);
    let broken = check(&path, "shop/quick-add").await;
    assert_eq!(broken["status"], "down", "{broken:#}");
    assert!(
        broken["message"]
            .as_str()
            .is_some_and(|m| m.ends_with(ADDED_FAILED)),
        "{broken:#}"
    );
    let cart = check(&path, "shop/cart").await;
    assert_eq!(cart["status"], "up", "{cart:#}");
    shop.break_quick_add(false);

    let (_dir, _shop, path) = demo(FaultPlan::only(Fault::AddToCartBroken)).await;
    let refused = check(&path, "shop/quick-add").await;
    assert_eq!(refused["status"], "down", "{refused:#}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.ends_with(ADDED_FAILED)),
        "{refused:#}"
    );
}
