//! Shop platforms told apart over real HTTP (testkit's server on loopback):
//! home pages imitating each platform's markers (our own minimal HTML with
//! the cookies and markup `keepup discover` looks for) are recognised, a
//! plain page is not, a redirect to the home page is followed, and each
//! platform's scenario skeleton and the README's example for it load with the
//! real configuration loader.

use keepup_probe::ProbeContext;
use keepup_probe::shop_platform::{Platform, identify, skeleton};
use keepup_testkit::http::{Response, TestServer, html, redirect, text};
use std::path::Path;

fn with_cookies(mut response: Response, cookies: &[&str]) -> Response {
    for c in cookies {
        response.headers_mut().append(
            "set-cookie",
            http::HeaderValue::from_str(c).expect("a cookie header"),
        );
    }
    response
}

/// Each platform's telltale cookies and markup, nothing else of theirs.
fn page(path: &str) -> Response {
    match path {
        "/magento/" => with_cookies(
            html(
                200,
                "<html><body><div data-mage-init='{\"menu\":{}}'>Menu</div>\
                 <script type=\"text/x-magento-init\">{}</script></body></html>",
            ),
            &["PHPSESSID=abc; path=/", "form_key=k1; path=/"],
        ),
        "/woo/" => with_cookies(
            html(
                200,
                "<html><body class=\"home woocommerce-page\">\
                 <link rel=\"stylesheet\" href=\"/wp-content/plugins/woocommerce/assets/css/shop.css\">\
                 </body></html>",
            ),
            &["woocommerce_items_in_cart=0; path=/"],
        ),
        "/shopware/" => with_cookies(
            html(
                200,
                "<html><body><div data-offcanvas-cart=\"true\"></div>\
                 <script>window.router = {'frontend.checkout.info': '/widgets/checkout/info'};</script>\
                 </body></html>",
            ),
            &["session-=x; path=/", "sw-states=; path=/"],
        ),
        "/presta/" => with_cookies(
            html(
                200,
                "<html><body><script>var prestashop = {\"static_token\":\"t\"};</script></body></html>",
            ),
            &["PrestaShop-0f1e2d=def; path=/"],
        ),
        "/plain/" => with_cookies(
            html(200, "<html><body><h1>Our shop</h1></body></html>"),
            &["PHPSESSID=abc"],
        ),
        "/moved/" => redirect(302, "/presta/"),
        _ => text(404, "not found"),
    }
}

#[tokio::test]
async fn home_pages_with_each_platforms_cookies_and_markup_are_recognised() {
    let server = TestServer::start(|req| async move { page(req.uri().path()) })
        .await
        .expect("the test server starts");
    let ctx = ProbeContext::new();
    for (path, platform, evidence) in [
        ("/magento/", Platform::Magento2, "cookie form_key"),
        (
            "/woo/",
            Platform::WooCommerce,
            "cookie woocommerce_items_in_cart",
        ),
        (
            "/shopware/",
            Platform::Shopware6,
            "markup \"/widgets/checkout/info\"",
        ),
        ("/presta/", Platform::PrestaShop, "cookie PrestaShop-*"),
        ("/moved/", Platform::PrestaShop, "markup \"var prestashop\""),
    ] {
        let found = identify(&server.url(path), &ctx)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .unwrap_or_else(|| panic!("{path}: not recognised"));
        assert_eq!(found.platform, platform, "{path}: {found:?}");
        assert!(
            found.evidence.iter().any(|e| e == evidence),
            "{path}: {found:?}"
        );
    }
    assert_eq!(
        identify(&server.url("/plain/"), &ctx).await.expect("read"),
        None,
        "PHP's session cookie alone is no platform"
    );
    let unreachable = identify("http://127.0.0.1:1/", &ctx).await;
    assert!(unreachable.is_err(), "{unreachable:?}");
}

#[test]
fn every_platforms_scenario_skeleton_loads() {
    for platform in [
        Platform::Magento2,
        Platform::WooCommerce,
        Platform::Shopware6,
        Platform::PrestaShop,
    ] {
        let src = format!(
            "[[site]]\nid = \"shop\"\n{}",
            skeleton(platform, "https://www.shop.example/")
        );
        let config = keepup_config::load_str(&src, Path::new("keepup.toml"))
            .unwrap_or_else(|p| panic!("{}: {p}\n{src}", platform.name()));
        let check = config.checks().next().expect("one check");
        assert_eq!(check.short_id, "cart");
        assert_eq!(check.spec.kind(), "scenario", "{}", platform.name());
    }
}

/// The README's example walks for the four platforms load, each a scenario
/// with the six steps of the walk and a cleanup.
#[test]
fn the_readmes_platform_examples_load() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("the README is readable");
    let start = readme
        .find("#### Shop platforms")
        .expect("the README has the platform examples");
    let end = start
        + readme[start..]
            .find("\n### ")
            .expect("a section follows the examples");
    let blocks: Vec<&str> = readme[start..end]
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert_eq!(blocks.len(), 4, "one example per platform");
    for block in blocks {
        let src = format!("[[site]]\nid = \"shop\"\n{block}");
        let config = keepup_config::load_str(&src, Path::new("README.md"))
            .unwrap_or_else(|p| panic!("{p}\n{block}"));
        let check = config.checks().next().expect("a check");
        let keepup_config::CheckSpec::Probe(keepup_config::ProbeSpec::Scenario(s)) = &check.spec
        else {
            panic!("{} is not a scenario", check.short_id)
        };
        let names: Vec<&str> = s.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "home",
                "category",
                "product",
                "add to cart",
                "cart",
                "checkout"
            ],
            "{}",
            check.short_id
        );
        assert_eq!(s.cleanup.len(), 1, "{}", check.short_id);
    }
}
