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
use std::time::Duration;

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
                "window.salesChannelId",
                "/bundles/storefront/",
                "data-off-canvas-cart", // 6.5 and later
                "data-offcanvas-cart",  // 6.4 and older
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

    /// How many markers (cookies and markup) recognise it: Shopware's are
    /// routes, globals and attributes a theme or a plugin elsewhere may
    /// borrow one of, so one alone is not enough.
    fn markers_needed(self) -> usize {
        match self {
            Platform::Shopware6 => 2,
            _ => 1,
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
        .filter(|r| r.evidence.len() >= r.platform.markers_needed())
        .max_by_key(|r| r.evidence.len())
}

/// How long reading a home page may take.
const HOME_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a home page is read.
const HOME_MAX_BYTES: u64 = 2_000_000;

/// Fetches `url` (a shop's home page) with keepup's HTTP probe (bounded,
/// timed, redirects followed, certificate not verified: discovery only
/// looks) and recognises its platform by the cookies set on the way and
/// the page's markup. `Err` says why the page could not be read.
pub async fn identify(url: &str, ctx: &ProbeContext) -> Result<Option<Recognised>, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("{url} is not a URL keepup can fetch: {e}"))?;
    let spec = crate::discover::looking_get(uri, Vec::new(), HOME_MAX_BYTES);
    let (outcome, page) = crate::http::fetch(&spec, &ctx.with_timeout(HOME_TIMEOUT)).await;
    let Some(page) = page else {
        return Err(format!("{url}: {}", outcome.message));
    };
    let cookies: Vec<String> = page
        .redirect_cookies
        .iter()
        .chain(page.headers.get_all(http::header::SET_COOKIE))
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
    let walk = walk(platform);
    let mut toml = format!(
        "[[site.check]]\nid = \"cart\"\nname = \"Add to cart ({name})\"\nkind = \"scenario\"\ninterval = \"5m\"\ntimeout = \"30s\"\nbase_url = {base}\n",
        name = platform.name(),
        base = toml_str(base_url.trim_end_matches('/')),
    );
    let (category_link, product_link) = ([walk.category_link], [walk.product_link]);
    let home = Step {
        extract: &category_link,
        ..Step::get("home", "/")
    };
    let category = Step {
        extract: &product_link,
        ..Step::get("category", "{{ category_url }}")
    };
    let product = Step {
        extract: walk.product,
        ..Step::get("product", "{{ product_url }}")
    };
    for step in [
        &home,
        &category,
        &product,
        &walk.add_to_cart,
        &walk.cart,
        &walk.checkout,
    ] {
        step.write("[[site.check.step]]", &mut toml);
    }
    walk.cleanup.write("[[site.check.cleanup]]", &mut toml);
    toml
}

/// What differs between the platforms' walks: the links followed from the
/// home page and the category (into `category_url` and `product_url`),
/// what the product page gives the add to cart, and the last three steps
/// and the cleanup.
struct Walk {
    category_link: Extract,
    product_link: Extract,
    product: &'static [Extract],
    add_to_cart: Step<'static>,
    cart: Step<'static>,
    checkout: Step<'static>,
    cleanup: Step<'static>,
}

/// One step of a skeleton, written as the configuration writes it.
struct Step<'a> {
    name: &'static str,
    method: &'static str,
    url: &'static str,
    /// Why this URL, after it on its line ("" for nothing to say).
    url_note: &'static str,
    query: &'static [(&'static str, &'static str)],
    form: &'static [(&'static str, &'static str)],
    headers: &'static [(&'static str, &'static str)],
    not_contains: &'static [&'static str],
    /// An element the page must have.
    css: Option<&'static str>,
    /// A JSON pointer and the number it must equal.
    json: Option<(&'static str, i64)>,
    extract: &'a [Extract],
    /// Comment lines after the step, for what a person may have to change.
    note: &'static str,
}

impl Step<'_> {
    const fn get(name: &'static str, url: &'static str) -> Self {
        Step {
            name,
            method: "GET",
            url,
            url_note: "",
            query: &[],
            form: &[],
            headers: &[],
            not_contains: &[],
            css: None,
            json: None,
            extract: &[],
            note: "",
        }
    }

    const fn post(name: &'static str, url: &'static str) -> Self {
        Step {
            method: "POST",
            ..Step::get(name, url)
        }
    }

    fn write(&self, table: &str, toml: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(toml, "\n{table}\nname = {}", toml_str(self.name));
        if self.method != "GET" {
            let _ = writeln!(toml, "method = {}", toml_str(self.method));
        }
        let _ = writeln!(toml, "url = {}{}", toml_str(self.url), note(self.url_note));
        for (key, pairs) in [
            ("query", self.query),
            ("form", self.form),
            ("headers", self.headers),
        ] {
            if !pairs.is_empty() {
                let _ = writeln!(toml, "{key} = {}", inline_table(pairs));
            }
        }
        if !self.not_contains.is_empty() {
            let quoted: Vec<String> = self.not_contains.iter().map(|s| toml_str(s)).collect();
            let _ = writeln!(toml, "not_contains = [{}]", quoted.join(", "));
        }
        if let Some(selector) = self.css {
            let _ = writeln!(
                toml,
                "[[site.check.step.css]]\nselector = {}",
                toml_str(selector)
            );
        }
        if let Some((pointer, equals)) = self.json {
            let _ = writeln!(
                toml,
                "[[site.check.step.json]]\npointer = {}\nequals = {equals}",
                toml_str(pointer)
            );
        }
        for extract in self.extract {
            extract.write(toml);
        }
        toml.push_str(self.note);
    }
}

/// A variable a step takes from its response.
#[derive(Clone, Copy)]
struct Extract {
    var: &'static str,
    from: From,
    /// What the selector or header stands for ("" for nothing to say).
    note: &'static str,
}

#[derive(Clone, Copy)]
enum From {
    /// An attribute of the first element the selector finds.
    Css {
        selector: &'static str,
        attr: &'static str,
    },
    Header(&'static str),
}

impl Extract {
    const fn attr(var: &'static str, selector: &'static str, attr: &'static str) -> Extract {
        Extract {
            var,
            from: From::Css { selector, attr },
            note: "",
        }
    }

    const fn noted(self, note: &'static str) -> Extract {
        Extract { note, ..self }
    }

    fn write(&self, toml: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            toml,
            "[[site.check.step.extract]]\nvar = {}",
            toml_str(self.var)
        );
        match self.from {
            From::Css { selector, attr } => {
                let _ = writeln!(
                    toml,
                    "css = {}{}\nattr = {}",
                    toml_str(selector),
                    note(self.note),
                    toml_str(attr)
                );
            }
            From::Header(name) => {
                let _ = writeln!(toml, "header = {}{}", toml_str(name), note(self.note));
            }
        }
    }
}

/// `   # note` after a value, or nothing.
fn note(note: &str) -> String {
    if note.is_empty() {
        String::new()
    } else {
        format!("   # {note}")
    }
}

/// `{ key = "value", "lineItems[p][id]" = "…" }`.
fn inline_table(pairs: &[(&str, &str)]) -> String {
    let entries: Vec<String> = pairs
        .iter()
        .map(|(key, value)| {
            let bare = key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            let key = if bare {
                (*key).to_owned()
            } else {
                toml_str(key)
            };
            format!("{key} = {}", toml_str(value))
        })
        .collect();
    format!("{{ {} }}", entries.join(", "))
}

/// The walk through each platform's default theme.
fn walk(platform: Platform) -> &'static Walk {
    match platform {
        Platform::Magento2 => &MAGENTO2,
        Platform::WooCommerce => &WOOCOMMERCE,
        Platform::Shopware6 => &SHOPWARE6,
        Platform::PrestaShop => &PRESTASHOP,
    }
}

/// Luma: the first top-level category, its first product, the
/// product form's action with the form key.
const MAGENTO2: Walk = Walk {
    category_link: Extract::attr("category_url", "nav.navigation a.level-top", "href")
        .noted("the first top-level category of the menu"),
    product_link: Extract::attr("product_url", "a.product-item-link", "href")
        .noted("the first product of the listing"),
    product: &[
        Extract::attr("add_url", "#product_addtocart_form", "action")
            .noted("/checkout/cart/add/uenc/.../product/<id>/"),
        Extract::attr(
            "product_id",
            "#product_addtocart_form input[name=product]",
            "value",
        ),
        Extract::attr(
            "form_key",
            "#product_addtocart_form input[name=form_key]",
            "value",
        ),
    ],
    add_to_cart: Step {
        form: &[
            ("form_key", "{{ form_key }}"),
            ("product", "{{ product_id }}"),
            ("qty", "1"),
        ],
        note: "# With the full-page cache on, the product page's form key is the\n\
               # cached one and the browser replaces it from the form_key cookie;\n\
               # then extract `cookie = \"form_key\"` in the product step instead.\n",
        ..Step::post("add to cart", "{{ add_url }}")
    },
    cart: Step {
        css: Some("#shopping-cart-table .product-item-name"),
        ..Step::get("cart shows the product", "/checkout/cart/")
    },
    checkout: Step {
        not_contains: &["There has been an error processing your request"],
        ..Step::get("checkout reachable", "/checkout/")
    },
    cleanup: Step {
        form: &[
            ("form_key", "{{ form_key }}"),
            ("update_cart_action", "empty_cart"),
        ],
        ..Step::post("empty the cart", "/checkout/cart/updatePost/")
    },
};

/// Storefront: the add-to-cart form posts the product id as
/// `add-to-cart` (no form key); the Cart block draws the cart with
/// JavaScript, so the cart is read from the Store API.
const WOOCOMMERCE: Walk = Walk {
    category_link: Extract::attr("category_url", "a[href*='/product-category/']", "href")
        .noted("the first product category linked"),
    product_link: Extract::attr("product_url", "a.woocommerce-LoopProduct-link", "href"),
    product: &[
        Extract::attr("product_id", "form.cart button[name=add-to-cart]", "value")
            .noted("a simple product's button"),
    ],
    add_to_cart: Step {
        form: &[("add-to-cart", "{{ product_id }}"), ("quantity", "1")],
        not_contains: &["woocommerce-error"],
        ..Step::post("add to cart", "{{ product_url }}")
    },
    cart: Step {
        json: Some(("/items_count", 1)),
        extract: &[Extract {
            var: "nonce",
            from: From::Header("Nonce"),
            note: "the Store API's nonce, for the cleanup",
        }],
        ..Step::get("cart shows the product", "/wp-json/wc/store/v1/cart")
    },
    checkout: Step {
        url_note: "the page's slug when it was renamed",
        ..Step::get("checkout reachable", "/checkout/")
    },
    cleanup: Step {
        method: "DELETE",
        headers: &[("Nonce", "{{ nonce }}")],
        ..Step::get("empty the cart", "/wp-json/wc/store/v1/cart/items")
    },
};

/// The Shopware 6 storefront: the buy form posts line items to
/// /checkout/line-item/add (6.4 and older also want its _csrf_token).
const SHOPWARE6: Walk = Walk {
    category_link: Extract::attr("category_url", "a.main-navigation-link", "href")
        .noted("the first category of the main navigation"),
    product_link: Extract::attr("product_url", "a.product-name", "href"),
    product: &[Extract::attr(
        "product_id",
        "form.buy-widget input[name$='[referencedId]']",
        "value",
    )],
    add_to_cart: Step {
        form: &[
            ("lineItems[p][id]", "{{ product_id }}"),
            ("lineItems[p][referencedId]", "{{ product_id }}"),
            ("lineItems[p][type]", "product"),
            ("lineItems[p][quantity]", "1"),
            ("lineItems[p][stackable]", "1"),
            ("lineItems[p][removable]", "1"),
            ("redirectTo", "frontend.checkout.cart.page"),
        ],
        ..Step::post("add to cart", "/checkout/line-item/add")
    },
    cart: Step {
        css: Some(".line-item-label"),
        ..Step::get("cart shows the product", "/checkout/cart")
    },
    checkout: Step {
        url_note: "a guest is sent on to /checkout/register",
        ..Step::get("checkout reachable", "/checkout/confirm")
    },
    cleanup: Step {
        form: &[("redirectTo", "frontend.checkout.cart.page")],
        ..Step::post(
            "remove the product",
            "/checkout/line-item/delete/{{ product_id }}",
        )
    },
};

/// Classic: the product form carries the static token; the cart
/// controller's URLs work with and without friendly URLs.
const PRESTASHOP: Walk = Walk {
    category_link: Extract::attr("category_url", "#top-menu a[data-depth='0']", "href")
        .noted("the first category of the top menu"),
    product_link: Extract::attr("product_url", ".product-miniature .product-title a", "href"),
    product: &[
        Extract::attr(
            "token",
            "#add-to-cart-or-refresh input[name=token]",
            "value",
        ),
        Extract::attr(
            "product_id",
            "#add-to-cart-or-refresh input[name=id_product]",
            "value",
        ),
    ],
    add_to_cart: Step {
        query: &[("controller", "cart")],
        form: &[
            ("token", "{{ token }}"),
            ("id_product", "{{ product_id }}"),
            ("id_customization", "0"),
            ("qty", "1"),
            ("add", "1"),
            ("action", "update"),
        ],
        ..Step::post("add to cart", "/index.php")
    },
    cart: Step {
        query: &[("controller", "cart"), ("action", "show")],
        css: Some(".cart-item"),
        ..Step::get("cart shows the product", "/index.php")
    },
    checkout: Step {
        query: &[("controller", "order")],
        ..Step::get("checkout reachable", "/index.php")
    },
    cleanup: Step {
        query: &[
            ("controller", "cart"),
            ("delete", "1"),
            ("id_product", "{{ product_id }}"),
            ("id_product_attribute", "0"),
            ("token", "{{ token }}"),
        ],
        ..Step::get("remove the product", "/index.php")
    },
};

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
