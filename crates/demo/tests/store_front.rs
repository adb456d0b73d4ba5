//! The demo shop's storefront over real HTTP on loopback, as a customer's
//! browser walks it: the session cookie, the form key on the product page,
//! adding to the cart by form and by the JSON API, the cart, the checkout
//! with the payment vendor's iframe, the customer login (form and JSON
//! API), the OAuth2 token endpoint, the JavaScript-only break switch, and
//! the cart and login faults. A small hand-rolled client (hyper, one
//! connection per request, cookies kept by hand) drives it.

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use keepup_demo::{CUSTOMER_EMAIL, DemoShop, Fault, FaultPlan, OAUTH_CLIENT_ID};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// A response, read whole.
struct Reply {
    status: u16,
    headers: hyper::HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
}

/// A visitor with its own cookies.
struct Visitor {
    addr: SocketAddr,
    cookies: BTreeMap<String, String>,
}

impl Visitor {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            cookies: BTreeMap::new(),
        }
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect to the shop");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("HTTP handshake");
        tokio::spawn(conn);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("www.{}", keepup_demo::DOMAIN));
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header("cookie", jar.join("; "));
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("a request");
        let response = tokio::time::timeout(Duration::from_secs(20), sender.send_request(request))
            .await
            .expect("the shop answers in time")
            .expect("a response");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = Limited::new(response.into_body(), 1 << 20)
            .collect()
            .await
            .expect("the body")
            .to_bytes();
        let reply = Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        for set in reply.set_cookies() {
            let pair = set.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        reply
    }

    async fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, &[], "").await
    }

    async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    keepup_model::text::percent_encode(k),
                    keepup_model::text::percent_encode(v)
                )
            })
            .collect();
        self.send(
            "POST",
            path,
            &[("content-type", "application/x-www-form-urlencoded")],
            &body.join("&"),
        )
        .await
    }

    async fn post_json(&mut self, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.send("POST", path, &all, body).await
    }
}

/// The value of the hidden `form_key` input of a page.
fn form_key(page: &str) -> String {
    let marker = "name=\"form_key\" value=\"";
    let start = page.find(marker).expect("a form_key input") + marker.len();
    let len = page[start..].find('"').expect("the value ends");
    page[start..start + len].to_owned()
}

async fn start_shop(faults: FaultPlan) -> (tempfile::TempDir, DemoShop) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let shop = DemoShop::start(dir.path(), faults)
        .await
        .expect("the demo shop starts");
    (dir, shop)
}

#[tokio::test]
async fn a_customer_browses_adds_a_teapot_with_the_form_key_sees_it_in_the_cart_and_reaches_the_checkout()
 {
    let (_dir, shop) = start_shop(FaultPlan::without_faults()).await;
    let mut alice = Visitor::new(shop.http);

    let home = alice.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Add to cart"), "{}", home.body);
    assert!(home.body.contains("/category/teapots"), "{}", home.body);
    let session = home
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("shop_session="))
        .expect("a session cookie on the first visit");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    // The visitor's session is kept: no new cookie on the next page.
    let category = alice.get("/category/teapots").await;
    assert_eq!(category.status, 200);
    assert!(category.set_cookies().is_empty());
    for (link, name) in [
        ("/product/42", "Blue teapot"),
        ("/product/43", "Green teapot"),
    ] {
        assert!(
            category.body.contains(link) && category.body.contains(name),
            "{}",
            category.body
        );
    }
    assert_eq!(alice.get("/category/kettles").await.status, 404);
    assert_eq!(alice.get("/product/44").await.status, 404);

    let product = alice.get("/product/42").await;
    assert_eq!(product.status, 200);
    assert!(
        product.body.contains("Price: 24.90 EUR"),
        "{}",
        product.body
    );
    assert!(
        product
            .body
            .contains("<form method=\"post\" action=\"/cart/add\"")
    );
    assert!(product.body.contains("Quick add") && product.body.contains("/static/cart.js"));
    let key = form_key(&product.body);
    assert_eq!(key.len(), 32, "a random key: {key}");
    // One key per session: the same on the next page, another for another visitor.
    assert_eq!(form_key(&alice.get("/product/43").await.body), key);
    let mut bob = Visitor::new(shop.http);
    assert_ne!(form_key(&bob.get("/product/42").await.body), key);

    let added = alice
        .post_form(
            "/cart/add",
            &[("form_key", &key), ("product", "42"), ("qty", "1")],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    assert_eq!(added.header("location"), "/cart");
    let cart = alice.get("/cart").await;
    assert!(cart.body.contains("Blue teapot × 1"), "{}", cart.body);
    assert!(cart.body.contains("href=\"/checkout\""), "{}", cart.body);
    assert!(
        cart.body.contains("<span class=\"count\">1</span>"),
        "{}",
        cart.body
    );
    // Bob's cart is his own.
    assert!(bob.get("/cart").await.body.contains("Your cart is empty"));

    let checkout = alice.get("/checkout").await;
    assert_eq!(checkout.status, 200);
    assert!(checkout.body.contains("Checkout"));
    let iframe = format!(
        "<iframe id=\"payment\" title=\"Payment\" src=\"http://{}/vendor/pay/form\"",
        shop.services
    );
    assert!(checkout.body.contains(&iframe), "{}", checkout.body);
    let mut vendor = Visitor::new(shop.services);
    let form = vendor.get("/vendor/pay/form").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Card number"), "{}", form.body);

    let cleared = alice.post_form("/cart/clear", &[("form_key", &key)]).await;
    assert_eq!(cleared.status, 303);
    assert!(alice.get("/cart").await.body.contains("Your cart is empty"));
}

#[tokio::test]
async fn a_wrong_or_missing_form_key_is_refused_and_the_json_cart_api_wants_the_csrf_header() {
    let (_dir, shop) = start_shop(FaultPlan::without_faults()).await;
    let mut alice = Visitor::new(shop.http);
    let key = form_key(&alice.get("/product/42").await.body);

    let wrong = alice
        .post_form(
            "/cart/add",
            &[
                ("form_key", "0123456789abcdef0123456789abcdef"),
                ("product", "42"),
                ("qty", "1"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.body.contains("Invalid form key"), "{}", wrong.body);
    let empty = alice
        .post_form("/cart/add", &[("form_key", ""), ("product", "42")])
        .await;
    assert_eq!(empty.status, 400);
    // Alice's key is no good in a session that is not hers.
    let mut stranger = Visitor::new(shop.http);
    let stolen = stranger
        .post_form("/cart/add", &[("form_key", &key), ("product", "42")])
        .await;
    assert_eq!(stolen.status, 400);
    assert!(stolen.body.contains("Invalid form key"));
    let bad_qty = alice
        .post_form(
            "/cart/add",
            &[("form_key", &key), ("product", "42"), ("qty", "lots")],
        )
        .await;
    assert_eq!(bad_qty.status, 400);
    assert!(
        bad_qty.body.contains("Invalid quantity"),
        "{}",
        bad_qty.body
    );
    let unknown = alice
        .post_form("/cart/add", &[("form_key", &key), ("product", "7")])
        .await;
    assert_eq!(unknown.status, 400);
    assert!(alice.get("/cart").await.body.contains("Your cart is empty"));

    let no_header = alice
        .post_json("/api/cart", &[], r#"{"product":"42","qty":1}"#)
        .await;
    assert_eq!(no_header.status, 403, "{}", no_header.body);
    assert!(no_header.body.contains("\"ok\":false"));
    let added = alice
        .post_json(
            "/api/cart",
            &[("x-csrf-token", &key)],
            r#"{"product":"42","qty":1}"#,
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let reply: serde_json::Value = serde_json::from_str(&added.body).expect("JSON");
    assert_eq!(reply, serde_json::json!({"ok": true, "items": 1}));
    let again = alice
        .post_json(
            "/api/cart",
            &[("x-csrf-token", &key)],
            r#"{"product":43,"qty":2}"#,
        )
        .await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&again.body).expect("JSON")["items"],
        3
    );
    let garbage = alice
        .post_json("/api/cart", &[("x-csrf-token", &key)], "not json")
        .await;
    assert_eq!(garbage.status, 400);
    let cart = alice.get("/cart").await;
    assert!(
        cart.body.contains("Blue teapot × 1") && cart.body.contains("Green teapot × 2"),
        "{}",
        cart.body
    );
    // A body far beyond a form's size is refused, not read.
    let huge = "x".repeat(64 * 1024);
    let refused = alice
        .post_json("/api/cart", &[("x-csrf-token", &key)], &huge)
        .await;
    assert_eq!(refused.status, 413);
}

#[tokio::test]
async fn the_customer_logs_in_by_form_and_by_the_json_api_and_an_oauth_client_gets_a_token() {
    let (_dir, shop) = start_shop(FaultPlan::without_faults()).await;
    let password = std::fs::read_to_string(shop.customer_password_file()).expect("password file");
    let secret = std::fs::read_to_string(shop.oauth_secret_file()).expect("secret file");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(shop.customer_password_file())
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the password file is the owner's only");

    let mut alice = Visitor::new(shop.http);
    assert_eq!(alice.get("/account").await.header("location"), "/login");
    let key = form_key(&alice.get("/login").await.body);
    let wrong = alice
        .post_form(
            "/login",
            &[
                ("form_key", &key),
                ("email", CUSTOMER_EMAIL),
                ("password", "guess"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 200);
    assert!(wrong.body.contains("Invalid login"), "{}", wrong.body);
    assert!(!alice.cookies.contains_key("shop_customer"));
    let no_key = alice
        .post_form(
            "/login",
            &[("email", CUSTOMER_EMAIL), ("password", &password)],
        )
        .await;
    assert_eq!(no_key.status, 400);

    let ok = alice
        .post_form(
            "/login",
            &[
                ("form_key", &key),
                ("email", CUSTOMER_EMAIL),
                ("password", &password),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.header("location"), "/account");
    assert!(alice.cookies.contains_key("shop_customer"));
    let account = alice.get("/account").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("Welcome back"), "{}", account.body);
    // The customer cookie alone, in another session, is not a login.
    let mut thief = Visitor::new(shop.http);
    thief.cookies.insert(
        "shop_customer".into(),
        alice.cookies["shop_customer"].clone(),
    );
    assert_eq!(thief.get("/account").await.status, 303);
    let out = alice.send("POST", "/logout", &[], "").await;
    assert_eq!(out.status, 303);
    assert!(!alice.cookies.contains_key("shop_customer"));
    assert_eq!(alice.get("/account").await.header("location"), "/login");

    let body = serde_json::json!({"email": CUSTOMER_EMAIL, "password": password}).to_string();
    let login = alice.post_json("/api/login", &[], &body).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let login: serde_json::Value = serde_json::from_str(&login.body).expect("JSON");
    assert_eq!(login["expires_in"], 3600);
    let token = login["token"].as_str().expect("a token").to_owned();
    let bearer = format!("Bearer {token}");
    let me = alice
        .send("GET", "/api/me", &[("authorization", &bearer)], "")
        .await;
    assert_eq!(me.status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&me.body).expect("JSON")["email"],
        CUSTOMER_EMAIL
    );
    assert_eq!(alice.get("/api/me").await.status, 401);
    let forged = alice
        .send("GET", "/api/me", &[("authorization", "Bearer 00")], "")
        .await;
    assert_eq!(forged.status, 401);
    let wrong = serde_json::json!({"email": CUSTOMER_EMAIL, "password": "guess"}).to_string();
    assert_eq!(alice.post_json("/api/login", &[], &wrong).await.status, 401);

    let basic = format!(
        "Basic {}",
        keepup_model::text::base64(format!("{OAUTH_CLIENT_ID}:{secret}").as_bytes())
    );
    let form = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", basic.as_str()),
    ];
    let issued = alice
        .send(
            "POST",
            "/oauth/token",
            &form,
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    let issued: serde_json::Value = serde_json::from_str(&issued.body).expect("JSON");
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["expires_in"], 3600);
    assert!(
        issued["access_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 32)
    );
    let bad_grant = alice
        .send("POST", "/oauth/token", &form, "grant_type=password")
        .await;
    assert_eq!(bad_grant.status, 400);
    let bad_secret = format!(
        "Basic {}",
        keepup_model::text::base64(format!("{OAUTH_CLIENT_ID}:nope").as_bytes())
    );
    let refused = alice
        .send(
            "POST",
            "/oauth/token",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &bad_secret),
            ],
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(refused.status, 401);
}

#[tokio::test]
async fn the_quick_add_switch_breaks_only_the_javascript() {
    let (_dir, shop) = start_shop(FaultPlan::without_faults()).await;
    let mut alice = Visitor::new(shop.http);
    let script = alice.get("/static/cart.js").await;
    assert_eq!(script.status, 200);
    assert!(script.header("content-type").starts_with("text/javascript"));
    assert!(script.body.contains("fetch('/api/cart'") && script.body.contains("X-CSRF-Token"));
    let page_before = alice.get("/product/42").await.body;

    shop.break_quick_add(true);
    let broken = alice.get("/static/cart.js").await;
    assert!(broken.body.contains("throw"), "{}", broken.body);
    assert!(!broken.body.contains("fetch("));
    assert_eq!(alice.get("/product/42").await.body, page_before);
    // The HTTP routes still add to the cart.
    let key = form_key(&page_before);
    let added = alice
        .post_json(
            "/api/cart",
            &[("x-csrf-token", &key)],
            r#"{"product":"42"}"#,
        )
        .await;
    assert_eq!(added.status, 200);

    shop.break_quick_add(false);
    assert_eq!(alice.get("/static/cart.js").await.body, script.body);
}

#[tokio::test]
async fn the_add_to_cart_fault_refuses_every_form_key_and_the_login_fault_every_login() {
    let (_dir, shop) = start_shop(FaultPlan::only(Fault::AddToCartBroken)).await;
    let mut alice = Visitor::new(shop.http);
    let key = form_key(&alice.get("/product/42").await.body);
    let added = alice
        .post_form(
            "/cart/add",
            &[("form_key", &key), ("product", "42"), ("qty", "1")],
        )
        .await;
    assert_eq!(added.status, 400);
    assert!(added.body.contains("Invalid form key"));
    let api = alice
        .post_json(
            "/api/cart",
            &[("x-csrf-token", &key)],
            r#"{"product":"42"}"#,
        )
        .await;
    assert_eq!(api.status, 403);
    drop(shop);

    let (_dir, shop) = start_shop(FaultPlan::only(Fault::LoginBroken)).await;
    let password = std::fs::read_to_string(shop.customer_password_file()).expect("password file");
    let mut alice = Visitor::new(shop.http);
    let key = form_key(&alice.get("/login").await.body);
    let login = alice
        .post_form(
            "/login",
            &[
                ("form_key", &key),
                ("email", CUSTOMER_EMAIL),
                ("password", &password),
            ],
        )
        .await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("Invalid login"));
    assert!(!alice.cookies.contains_key("shop_customer"));
    let body = serde_json::json!({"email": CUSTOMER_EMAIL, "password": password}).to_string();
    assert_eq!(alice.post_json("/api/login", &[], &body).await.status, 401);
    // The cart still works while only the login is broken.
    let added = alice
        .post_form("/cart/add", &[("form_key", &key), ("product", "42")])
        .await;
    assert_eq!(added.status, 303);
}
