//! Shop platforms told apart over real HTTP (testkit's server on loopback):
//! home pages written the way each platform's default theme writes one
//! (minimal, our own text, with the cookies such a shop sets) are
//! recognised, also when the cookie comes on a redirect to the home page;
//! a plain page, an article naming every platform and a page with a single
//! Shopware-like attribute are not. Each platform's scenario skeleton and
//! the README's example for it load with the real configuration loader.

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

/// Magento 2 with the Luma theme.
const MAGENTO_HOME: &str = r#"<!doctype html>
<html lang="en"><head><title>Home Page</title>
<link rel="stylesheet" href="/static/version1712000000/frontend/Magento/luma/en_US/css/styles-m.css">
<script src="/static/version1712000000/frontend/Magento/luma/en_US/requirejs/require.js"></script>
<script type="text/x-magento-init">{"*": {"Magento_PageCache/js/form-key-provider": {}}}</script>
</head>
<body data-container="body" data-mage-init='{"loaderAjax": {}, "loader": {"icon": "images/loader-2.gif"}}' class="cms-home cms-index-index page-layout-1column">
<nav class="navigation" data-action="navigation"><ul>
<li class="level0 nav-1 category-item first level-top"><a href="/gear.html" class="level-top"><span>Gear</span></a></li>
</ul></nav>
<div class="minicart-wrapper"><a class="action showcart" href="/checkout/cart/">My Cart</a></div>
</body></html>"#;

/// WooCommerce with the Storefront theme, before anything is in the cart
/// (so no cart cookies yet).
const WOOCOMMERCE_HOME: &str = r#"<!doctype html>
<html lang="en-US"><head><title>Teapots &#8211; Just another shop</title>
<link rel='stylesheet' id='storefront-style-css' href='/wp-content/themes/storefront/style.css?ver=4.6.0' media='all' />
<link rel='stylesheet' id='woocommerce-general-css' href='/wp-content/plugins/woocommerce/assets/css/woocommerce.css?ver=9.1.2' media='all' />
</head>
<body class="home page-template-template-homepage page page-id-5 wp-embed-responsive theme-storefront woocommerce-no-js storefront-align-wide">
<ul class="products columns-4">
<li class="product type-product status-publish"><a href="/product/blue-teapot/" class="woocommerce-LoopProduct-link woocommerce-loop-product__link">Blue teapot</a></li>
</ul>
</body></html>"#;

/// Shopware 6.6's storefront.
const SHOPWARE_HOME: &str = r#"<!DOCTYPE html>
<html lang="en-GB"><head><title>Demostore</title>
<link rel="stylesheet" href="/theme/9f1c2d7e/css/all.css?1712000000">
<script>
    window.activeNavigationId = '0190a1b2c3';
    window.router = {
        'frontend.cart.offcanvas': '/checkout/offcanvas',
        'frontend.checkout.info': '/widgets/checkout/info',
    };
    window.salesChannelId = '0190d4e5f6';
</script>
</head>
<body class="is-ctl-navigation is-act-home">
<div class="header-cart" data-off-canvas-cart="true"><a class="btn header-cart-btn" href="/checkout/cart">Cart</a></div>
<a class="main-navigation-link" href="/Teapots/">Teapots</a>
<script src="/theme/9f1c2d7e/js/storefront/storefront.js" defer></script>
</body></html>"#;

/// PrestaShop 8 with the Classic theme.
const PRESTASHOP_HOME: &str = r#"<!doctype html>
<html lang="en-US"><head><title>My Store</title>
<link rel="stylesheet" href="/themes/classic/assets/css/theme.css" type="text/css" media="all">
<script type="text/javascript">
  var prestashop = {"cart":{"products":[],"products_count":0},"currency":{"iso_code":"EUR"},"static_token":"0a1b2c3d"};
</script>
</head>
<body id="index" class="lang-en country-us currency-eur layout-full-width page-index">
<div id="_desktop_cart"><div class="blockcart cart-preview inactive" data-refresh-url="/module/ps_shoppingcart/ajax">Cart (0)</div></div>
<ul id="top-menu" data-depth="0"><li class="category"><a class="dropdown-item" href="/3-teapots" data-depth="0">Teapots</a></li></ul>
</body></html>"#;

/// A theme that shows nothing of its platform in the markup.
const CUSTOM_THEME_HOME: &str = r#"<!doctype html>
<html lang="en"><head><title>Tea & Co.</title><link rel="stylesheet" href="/assets/site.css"></head>
<body><header><a href="/cart">Cart</a></header><h1>Fine teapots</h1></body></html>"#;

/// A blog post that names every platform.
const ARTICLE: &str = r#"<!doctype html>
<html lang="en"><head><title>Choosing a shop system</title></head>
<body><article><h1>Magento, WooCommerce, Shopware or PrestaShop?</h1>
<p>We moved from WooCommerce to Shopware last year; Magento and PrestaShop were on the list too.</p>
</article></body></html>"#;

/// A non-Shopware theme that happens to use one attribute Shopware uses.
const ONE_SHOPWARE_ATTRIBUTE: &str = r#"<!doctype html>
<html lang="en"><head><title>Boutique</title></head>
<body><button class="cart-toggle" data-offcanvas-cart="true">Cart</button></body></html>"#;

fn page(path: &str) -> Response {
    match path {
        "/magento/" => with_cookies(
            html(200, MAGENTO_HOME),
            &["PHPSESSID=3k9v0a; path=/; HttpOnly; SameSite=Lax"],
        ),
        "/woo/" => html(200, WOOCOMMERCE_HOME),
        "/shopware/" => with_cookies(
            html(200, SHOPWARE_HOME),
            &["session-=d41d8cd9; path=/; httponly; samesite=lax"],
        ),
        "/presta/" => with_cookies(
            html(200, PRESTASHOP_HOME),
            &[
                "PrestaShop-9a8b7c6d=def502; expires=Sat, 26 Dec 2026 10:00:00 GMT; path=/; HttpOnly; SameSite=Lax",
            ],
        ),
        // PrestaShop sends a new visitor to its language's home page,
        // setting its cookie on the way.
        "/language/" => with_cookies(
            redirect(302, "/language/en/"),
            &["PrestaShop-9a8b7c6d=def502; path=/; HttpOnly; SameSite=Lax"],
        ),
        "/language/en/" => html(200, CUSTOM_THEME_HOME),
        "/plain/" => with_cookies(html(200, CUSTOM_THEME_HOME), &["PHPSESSID=abc"]),
        "/article/" => html(200, ARTICLE),
        "/one-attribute/" => html(200, ONE_SHOPWARE_ATTRIBUTE),
        "/moved/" => redirect(302, "/presta/"),
        _ => text(404, "not found"),
    }
}

#[tokio::test]
async fn home_pages_of_each_platform_are_recognised_and_other_pages_are_not() {
    let server = TestServer::start(|req| async move { page(req.uri().path()) })
        .await
        .expect("the test server starts");
    let ctx = ProbeContext::new();
    for (path, platform) in [
        ("/magento/", Platform::Magento2),
        ("/woo/", Platform::WooCommerce),
        ("/shopware/", Platform::Shopware6),
        ("/presta/", Platform::PrestaShop),
        ("/moved/", Platform::PrestaShop),
        ("/language/", Platform::PrestaShop),
    ] {
        let found = identify(&server.url(path), &ctx)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .unwrap_or_else(|| panic!("{path}: not recognised"));
        assert_eq!(found.platform, platform, "{path}: {found:?}");
    }
    for (path, why) in [
        ("/plain/", "PHP's session cookie alone is no platform"),
        ("/article/", "naming the platforms is not running one"),
        (
            "/one-attribute/",
            "one Shopware-like attribute is not Shopware",
        ),
    ] {
        let found = identify(&server.url(path), &ctx).await.expect("read");
        assert_eq!(found, None, "{path}: {why}");
    }
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
