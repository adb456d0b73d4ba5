//! Which shop platform a home page belongs to (Magento 2, WooCommerce,
//! Shopware 6, PrestaShop), told by the cookies it sets and its markup, and
//! a `kind = "scenario"` skeleton that walks such a shop the way a customer
//! does: home → category → product → add to cart (with the platform's form
//! key where it has one) → the cart shows the product → checkout reachable.
//!
//! `keepup discover` uses both. The skeletons follow the platforms' default
//! themes (Luma, Storefront, the Shopware 6 storefront, Classic); the CSS
//! selectors are what a customised theme is most likely to change, so the
//! skeleton is proposed commented out for a person to check.

use crate::ProbeContext;
use keepup_config::toml_string as toml_str;
use std::path::Path;

/// A shop platform discovery recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Magento2,
    WooCommerce,
    Shopware6,
    PrestaShop,
}

impl Platform {
    /// The platform's name for people.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Magento2 => "Magento 2",
            Platform::WooCommerce => "WooCommerce",
            Platform::Shopware6 => "Shopware 6",
            Platform::PrestaShop => "PrestaShop",
        }
    }

    /// Text in the page that only this platform writes.
    fn markup(self) -> &'static [&'static str] {
        match self {
            Platform::Magento2 => &[
                "text/x-magento-init",
                "data-mage-init",
                "Magento_",
                "/mage/",
            ],
            Platform::WooCommerce => &[
                "wp-content/plugins/woocommerce",
                "class=\"woocommerce",
                " woocommerce-page",
                "woocommerce-product",
            ],
            Platform::Shopware6 => &[
                "/widgets/checkout/info",
                "Shopware",
                "data-offcanvas-cart",
                "sw-cms-",
            ],
            Platform::PrestaShop => &[
                "var prestashop",
                "prestashop = {",
                "prestashop.static_token",
                "/modules/ps_shoppingcart/",
            ],
        }
    }

    /// Cookies (a name, or a prefix ending in `*`) this platform sets.
    fn cookies(self) -> &'static [&'static str] {
        match self {
            Platform::Magento2 => &["form_key", "mage-cache-storage", "mage-cache-sessid"],
            Platform::WooCommerce => &[
                "woocommerce_items_in_cart",
                "woocommerce_cart_hash",
                "wp_woocommerce_session_*",
            ],
            Platform::Shopware6 => &[
                "sw-states",
                "sw-cache-hash",
                "sw-currency",
                "sw-context-token",
            ],
            Platform::PrestaShop => &["PrestaShop-*"],
        }
    }
}

const PLATFORMS: [Platform; 4] = [
    Platform::Magento2,
    Platform::WooCommerce,
    Platform::Shopware6,
    Platform::PrestaShop,
];

/// A recognised platform and what gave it away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognised {
    pub platform: Platform,
    /// `cookie form_key`, `markup "text/x-magento-init"`, …
    pub evidence: Vec<String>,
}

/// The platform whose cookies (names from `Set-Cookie` headers) and
/// markup in `body` the page shows most of, if any.
pub fn recognise(cookie_names: &[String], body: &str) -> Option<Recognised> {
    PLATFORMS
        .iter()
        .map(|&platform| {
            let mut evidence: Vec<String> = platform
                .cookies()
                .iter()
                .filter(|pattern| {
                    cookie_names
                        .iter()
                        .any(|name| match pattern.strip_suffix('*') {
                            Some(prefix) => name.starts_with(prefix),
                            None => name == *pattern,
                        })
                })
                .map(|c| format!("cookie {c}"))
                .collect();
            evidence.extend(
                platform
                    .markup()
                    .iter()
                    .filter(|m| body.contains(*m))
                    .map(|m| format!("markup {m:?}")),
            );
            Recognised { platform, evidence }
        })
        .filter(|r| !r.evidence.is_empty())
        .max_by_key(|r| r.evidence.len())
}

/// Fetches `url` (a shop's home page) with keepup's HTTP probe (bounded,
/// timed, redirects followed, certificate not verified: discovery only
/// looks) and recognises its platform. `Err` says why the page could not
/// be read.
pub async fn identify(url: &str, ctx: &ProbeContext) -> Result<Option<Recognised>, String> {
    let src = format!(
        "[[site]]\nid = \"d\"\n[[site.check]]\nid = \"home\"\nkind = \"http\"\nurl = {}\ntimeout = \"10s\"\nmax_body_bytes = 2000000\n[site.check.tls]\nverify = false\n",
        toml_str(url)
    );
    let config = keepup_config::load_str(&src, Path::new("<discover>"))
        .map_err(|p| format!("{url} is not a URL keepup can fetch: {p}"))?;
    let Some(keepup_config::CheckSpec::Probe(keepup_config::ProbeSpec::Http(spec))) =
        config.checks().next().map(|c| &c.spec)
    else {
        return Err("the home page check did not load as an http check".into());
    };
    let (outcome, page) = crate::http::fetch(spec, ctx).await;
    let Some(page) = page else {
        return Err(format!("{url}: {}", outcome.message));
    };
    let cookies: Vec<String> = page
        .headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, _)| name.trim().to_owned())
        .collect();
    Ok(recognise(&cookies, &String::from_utf8_lossy(&page.body)))
}

/// A `[[site.check]]` of `kind = "scenario"` with id `cart` for `platform`,
/// its URLs relative to `base_url` (`https://www.shop.example`): TOML to
/// append after a `[[site]]`.
pub fn skeleton(platform: Platform, base_url: &str) -> String {
    let head = format!(
        "[[site.check]]\nid = \"cart\"\nname = \"Add to cart ({name})\"\nkind = \"scenario\"\ninterval = \"5m\"\ntimeout = \"30s\"\nbase_url = {base}\n",
        name = platform.name(),
        base = toml_str(base_url.trim_end_matches('/')),
    );
    let steps = match platform {
        Platform::Magento2 => MAGENTO2,
        Platform::WooCommerce => WOOCOMMERCE,
        Platform::Shopware6 => SHOPWARE6,
        Platform::PrestaShop => PRESTASHOP,
    };
    format!("{head}{steps}")
}

/// Luma: the first top-level category, its first product, the product
/// form's action with the form key.
const MAGENTO2: &str = r##"
[[site.check.step]]
name = "home"
url = "/"
[[site.check.step.extract]]
var = "category_url"
css = "nav.navigation a.level-top"   # the first top-level category of the menu
attr = "href"

[[site.check.step]]
name = "category"
url = "{{ category_url }}"
[[site.check.step.extract]]
var = "product_url"
css = "a.product-item-link"          # the first product of the listing
attr = "href"

[[site.check.step]]
name = "product"
url = "{{ product_url }}"
[[site.check.step.extract]]
var = "add_url"
css = "#product_addtocart_form"      # /checkout/cart/add/uenc/.../product/<id>/
attr = "action"
[[site.check.step.extract]]
var = "product_id"
css = "#product_addtocart_form input[name=product]"
attr = "value"
# With the full-page cache on, the page's form key is the cached one and the
# browser replaces it from the form_key cookie; then extract
# `cookie = "form_key"` instead.
[[site.check.step.extract]]
var = "form_key"
css = "#product_addtocart_form input[name=form_key]"
attr = "value"

[[site.check.step]]
name = "add to cart"
method = "POST"
url = "{{ add_url }}"
form = { form_key = "{{ form_key }}", product = "{{ product_id }}", qty = "1" }

[[site.check.step]]
name = "cart shows the product"
url = "/checkout/cart/"
[[site.check.step.css]]
selector = "#shopping-cart-table .product-item-name"

[[site.check.step]]
name = "checkout reachable"
url = "/checkout/"
not_contains = ["There has been an error processing your request"]

[[site.check.cleanup]]
name = "empty the cart"
method = "POST"
url = "/checkout/cart/updatePost/"
form = { form_key = "{{ form_key }}", update_cart_action = "empty_cart" }
"##;

/// Storefront theme: the add-to-cart form posts the product id as
/// `add-to-cart` (no form key); the Cart block draws the cart with
/// JavaScript, so the cart is read from the Store API.
const WOOCOMMERCE: &str = r##"
[[site.check.step]]
name = "home"
url = "/"
[[site.check.step.extract]]
var = "category_url"
css = "a[href*='/product-category/']"   # the first product category linked
attr = "href"

[[site.check.step]]
name = "category"
url = "{{ category_url }}"
[[site.check.step.extract]]
var = "product_url"
css = "a.woocommerce-LoopProduct-link"
attr = "href"

[[site.check.step]]
name = "product"
url = "{{ product_url }}"
[[site.check.step.extract]]
var = "product_id"
css = "form.cart button[name=add-to-cart]"   # a simple product's button
attr = "value"

[[site.check.step]]
name = "add to cart"
method = "POST"
url = "{{ product_url }}"
form = { "add-to-cart" = "{{ product_id }}", quantity = "1" }
not_contains = ["woocommerce-error"]

[[site.check.step]]
name = "cart shows the product"
url = "/wp-json/wc/store/v1/cart"
[[site.check.step.json]]
pointer = "/items_count"
equals = 1
[[site.check.step.extract]]
var = "nonce"
header = "Nonce"                     # the Store API's nonce, for the cleanup

[[site.check.step]]
name = "checkout reachable"
url = "/checkout/"                   # the page's slug when it was renamed

[[site.check.cleanup]]
name = "empty the cart"
method = "DELETE"
url = "/wp-json/wc/store/v1/cart/items"
headers = { Nonce = "{{ nonce }}" }
"##;

/// The Shopware 6 storefront: the buy form posts line items to
/// `/checkout/line-item/add` (6.4 and older also want its `_csrf_token`).
const SHOPWARE6: &str = r##"
[[site.check.step]]
name = "home"
url = "/"
[[site.check.step.extract]]
var = "category_url"
css = "a.main-navigation-link"       # the first category of the main navigation
attr = "href"

[[site.check.step]]
name = "category"
url = "{{ category_url }}"
[[site.check.step.extract]]
var = "product_url"
css = "a.product-name"
attr = "href"

[[site.check.step]]
name = "product"
url = "{{ product_url }}"
[[site.check.step.extract]]
var = "product_id"
css = "form.buy-widget input[name$='[referencedId]']"
attr = "value"

[[site.check.step]]
name = "add to cart"
method = "POST"
url = "/checkout/line-item/add"
form = { "lineItems[p][id]" = "{{ product_id }}", "lineItems[p][referencedId]" = "{{ product_id }}", "lineItems[p][type]" = "product", "lineItems[p][quantity]" = "1", "lineItems[p][stackable]" = "1", "lineItems[p][removable]" = "1", redirectTo = "frontend.checkout.cart.page" }

[[site.check.step]]
name = "cart shows the product"
url = "/checkout/cart"
[[site.check.step.css]]
selector = ".line-item-label"

[[site.check.step]]
name = "checkout reachable"
url = "/checkout/confirm"            # a guest is sent on to /checkout/register

[[site.check.cleanup]]
name = "remove the product"
method = "POST"
url = "/checkout/line-item/delete/{{ product_id }}"
form = { redirectTo = "frontend.checkout.cart.page" }
"##;

/// Classic theme: the product form carries the static token; the cart
/// controller's URLs work with and without friendly URLs.
const PRESTASHOP: &str = r##"
[[site.check.step]]
name = "home"
url = "/"
[[site.check.step.extract]]
var = "category_url"
css = "#top-menu a[data-depth='0']"  # the first category of the top menu
attr = "href"

[[site.check.step]]
name = "category"
url = "{{ category_url }}"
[[site.check.step.extract]]
var = "product_url"
css = ".product-miniature .product-title a"
attr = "href"

[[site.check.step]]
name = "product"
url = "{{ product_url }}"
[[site.check.step.extract]]
var = "token"
css = "#add-to-cart-or-refresh input[name=token]"
attr = "value"
[[site.check.step.extract]]
var = "product_id"
css = "#add-to-cart-or-refresh input[name=id_product]"
attr = "value"

[[site.check.step]]
name = "add to cart"
method = "POST"
url = "/index.php"
query = { controller = "cart" }
form = { token = "{{ token }}", id_product = "{{ product_id }}", id_customization = "0", qty = "1", add = "1", action = "update" }

[[site.check.step]]
name = "cart shows the product"
url = "/index.php"
query = { controller = "cart", action = "show" }
[[site.check.step.css]]
selector = ".cart-item"

[[site.check.step]]
name = "checkout reachable"
url = "/index.php"
query = { controller = "order" }

[[site.check.cleanup]]
name = "remove the product"
url = "/index.php"
query = { controller = "cart", delete = "1", id_product = "{{ product_id }}", id_product_attribute = "0", token = "{{ token }}" }
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_with_most_markers_wins_and_a_plain_page_is_none() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let magento = recognise(
            &names(&["PHPSESSID", "form_key"]),
            "<script type=\"text/x-magento-init\">{}</script>",
        )
        .expect("Magento");
        assert_eq!(magento.platform, Platform::Magento2);
        assert_eq!(
            magento.evidence,
            ["cookie form_key", "markup \"text/x-magento-init\""]
        );
        let presta = recognise(&names(&["PrestaShop-a1b2"]), "<p>shop</p>").expect("PrestaShop");
        assert_eq!(presta.platform, Platform::PrestaShop);
        assert_eq!(recognise(&names(&["PHPSESSID"]), "<h1>A shop</h1>"), None);
    }
}
