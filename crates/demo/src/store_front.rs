//! The shop's storefront as a customer walks it: a catalogue, a cart held
//! in a server-side session (cookie `shop_session`) and protected by a
//! per-session form key, a JavaScript "quick add" through a JSON API, a
//! checkout that embeds the payment vendor's form in an iframe, a customer
//! login (form and JSON API) and an OAuth2 client-credentials token
//! endpoint. The synthetic-transaction checks (`scenario`, `browser`,
//! `login`) are tested against these flows, and the demo's cart and login
//! faults break them here.
//!
//! Sessions and API tokens live in maps of bounded size that forget the
//! oldest entry first, so a bot that never sends its cookie back cannot
//! grow them without bound.

use crate::faults::{Fault, FaultPlan};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use keepup_model::text::html_escape;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path as FsPath;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The session cookie.
pub const SESSION_COOKIE: &str = "shop_session";
/// The cookie a logged-in customer carries beside the session.
pub const CUSTOMER_COOKIE: &str = "shop_customer";
/// The demo customer's e-mail (the password is in
/// [`DemoShop::customer_password_file`](crate::DemoShop::customer_password_file)).
pub const CUSTOMER_EMAIL: &str = "alice@demo-shop.test";
/// The OAuth2 client id of the token endpoint (the secret is in
/// [`DemoShop::oauth_secret_file`](crate::DemoShop::oauth_secret_file)).
pub const OAUTH_CLIENT_ID: &str = "keepup-demo";
/// The file in the demo directory holding the customer's password (0600).
pub const PASSWORD_FILE: &str = "shop-password";
/// The file in the demo directory holding the OAuth2 client secret (0600).
pub const OAUTH_SECRET_FILE: &str = "oauth-client-secret";

/// How many sessions the shop keeps; the oldest is forgotten first.
const MAX_SESSIONS: usize = 10_000;
/// How many API and OAuth tokens the shop keeps.
const MAX_TOKENS: usize = 10_000;
/// How long an issued API or OAuth token is valid.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// The most of one product a cart holds.
const MAX_QTY: u32 = 999;
/// Request bodies beyond this are refused (forms and JSON are tiny).
const MAX_BODY: usize = 16 * 1024;

/// A product of the catalogue.
struct Product {
    id: u32,
    name: &'static str,
    price: &'static str,
}

const CATALOGUE: &[Product] = &[
    Product {
        id: 42,
        name: "Blue teapot",
        price: "24.90",
    },
    Product {
        id: 43,
        name: "Green teapot",
        price: "29.90",
    },
];

fn product_by_id(id: &str) -> Option<&'static Product> {
    let id: u32 = id.trim().parse().ok()?;
    CATALOGUE.iter().find(|p| p.id == id)
}

/// A map that holds at most `cap` entries and forgets the oldest inserted
/// first.
struct Bounded<V> {
    map: HashMap<String, V>,
    /// Keys in insertion order; a removed key stays here until it ages
    /// out, so the map never holds more than `cap`.
    order: VecDeque<String>,
    cap: usize,
}

impl<V> Bounded<V> {
    fn new(cap: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    fn insert(&mut self, key: String, value: V) {
        self.order.push_back(key.clone());
        self.map.insert(key, value);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }
}

/// One visitor's state.
struct Session {
    form_key: String,
    /// Product id → quantity.
    cart: BTreeMap<u32, u32>,
    /// The logged-in customer: the `shop_customer` cookie's value and the
    /// e-mail.
    customer: Option<(String, String)>,
}

impl Session {
    fn items(&self) -> u32 {
        self.cart.values().sum()
    }
}

/// What an API or OAuth token stands for.
struct Token {
    subject: String,
    expires: Instant,
}

/// The demo's credentials, made up at every start.
pub(crate) struct Credentials {
    password: String,
    client_secret: String,
}

impl Credentials {
    /// New random credentials, written to [`PASSWORD_FILE`] and
    /// [`OAUTH_SECRET_FILE`] in `dir` (0600, no trailing newline).
    pub(crate) fn create(dir: &FsPath) -> std::io::Result<Credentials> {
        let creds = Credentials {
            password: random_hex(12)?,
            client_secret: random_hex(24)?,
        };
        crate::shop::write_secret_file(&dir.join(PASSWORD_FILE), &creds.password)?;
        crate::shop::write_secret_file(&dir.join(OAUTH_SECRET_FILE), &creds.client_secret)?;
        Ok(creds)
    }
}

/// `bytes` random bytes as lowercase hex.
fn random_hex(bytes: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; bytes];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut buf)
        .map_err(|_| std::io::Error::other("no random numbers from the system"))?;
    Ok(keepup_model::text::hex(&buf))
}

/// Compares secrets without an early exit on the first differing byte.
fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The storefront's shared state.
#[derive(Clone)]
pub(crate) struct Store {
    faults: FaultPlan,
    sessions: Arc<Mutex<Bounded<Session>>>,
    tokens: Arc<Mutex<Bounded<Token>>>,
    credentials: Arc<Credentials>,
    quick_add_broken: Arc<AtomicBool>,
    /// The payment vendor's card form the checkout embeds.
    payment_form: String,
}

impl Store {
    pub(crate) fn new(
        faults: FaultPlan,
        credentials: Credentials,
        quick_add_broken: Arc<AtomicBool>,
        payment_form: String,
    ) -> Store {
        Store {
            faults,
            sessions: Arc::new(Mutex::new(Bounded::new(MAX_SESSIONS))),
            tokens: Arc::new(Mutex::new(Bounded::new(MAX_TOKENS))),
            credentials: Arc::new(credentials),
            quick_add_broken,
            payment_form,
        }
    }

    /// Runs `f` on the visitor's session, starting one when the request
    /// carries no known `shop_session` cookie; returns the cookie to set
    /// for a new session; `None` when the system gives no random numbers
    /// for a new one.
    fn with_session<T>(
        &self,
        headers: &HeaderMap,
        f: impl FnOnce(&mut Session) -> T,
    ) -> Option<(T, Option<HeaderValue>)> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = cookie(headers, SESSION_COOKIE)
            && let Some(s) = sessions.get_mut(&id)
        {
            return Some((f(s), None));
        }
        let (id, form_key) = (random_hex(16).ok()?, random_hex(16).ok()?);
        let mut session = Session {
            form_key,
            cart: BTreeMap::new(),
            customer: None,
        };
        let out = f(&mut session);
        sessions.insert(id.clone(), session);
        let set = HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax"
        ))
        .ok()?;
        Some((out, Some(set)))
    }
}

/// The value of cookie `name` in the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| keepup_model::text::cookie_value(v, name))
        .map(str::to_owned)
}

fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
}

/// `response` with the session cookie set when the session is new.
fn with_cookie(response: impl IntoResponse, set: Option<HeaderValue>) -> Response {
    let mut response = response.into_response();
    if let Some(set) = set {
        response.headers_mut().append(header::SET_COOKIE, set);
    }
    response
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

const STYLE: &str = "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}#minicart{float:right}</style>";

/// A storefront page: the header with the minicart, then `body`.
fn page(title: &str, items: u32, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>{STYLE}</head><body>\
         <header><a href=\"/\">Demo shop</a> <a href=\"/login\">Log in</a> \
         <a id=\"minicart\" href=\"/cart\">Cart: <span class=\"count\">{items}</span></a></header>\
         {body}</body></html>"
    ))
}

/// The storefront's routes.
pub(crate) fn routes(store: Store) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/category/{slug}", get(category))
        .route("/product/{id}", get(product))
        .route("/cart", get(cart))
        .route("/cart/add", post(cart_add))
        .route("/cart/clear", post(cart_clear))
        .route("/api/cart", post(api_cart))
        .route("/checkout", get(checkout))
        .route("/login", get(login_page).post(login))
        .route("/account", get(account))
        .route("/logout", post(logout))
        .route("/api/login", post(api_login))
        .route("/api/me", get(api_me))
        .route("/oauth/token", post(oauth_token))
        .route("/static/cart.js", get(cart_js))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(store)
}

async fn home(State(s): State<Store>, headers: HeaderMap) -> Response {
    let (items, set) = match s.with_session(&headers, |s| s.items()) {
        Some(v) => v,
        None => return server_error(),
    };
    let body = "<h1>Demo shop</h1><p>Teapots for every table.</p>\
        <p><a href=\"/category/teapots\">All teapots</a></p>\
        <p><a href=\"/product/42\">Blue teapot</a> <a href=\"/product/42\"><button>Add to cart</button></a></p>";
    with_cookie(page("Demo shop", items, body), set)
}

async fn category(
    State(s): State<Store>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Response {
    if slug != "teapots" {
        return crate::web::not_found().await;
    }
    let (items, set) = match s.with_session(&headers, |s| s.items()) {
        Some(v) => v,
        None => return server_error(),
    };
    let list: String = CATALOGUE
        .iter()
        .map(|p| {
            format!(
                "<li><a href=\"/product/{}\">{}</a> {} EUR</li>",
                p.id, p.name, p.price
            )
        })
        .collect();
    let body = format!("<h1>Teapots</h1><ul class=\"products\">{list}</ul>");
    with_cookie(page("Teapots", items, &body), set)
}

async fn product(State(s): State<Store>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(p) = product_by_id(&id) else {
        return crate::web::not_found().await;
    };
    if s.faults.current() == Fault::SlowProductPage {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let ((items, form_key), set) =
        match s.with_session(&headers, |s| (s.items(), s.form_key.clone())) {
            Some(v) => v,
            None => return server_error(),
        };
    let body = format!(
        "<h1>{name}</h1><p>Price: {price} EUR</p>\
         <form method=\"post\" action=\"/cart/add\" id=\"add-to-cart\">\
         <input type=\"hidden\" name=\"form_key\" value=\"{form_key}\">\
         <input type=\"hidden\" name=\"product\" value=\"{id}\">\
         <label>Quantity <input type=\"number\" name=\"qty\" value=\"1\" min=\"1\" max=\"99\"></label>\
         <button type=\"submit\">Add to cart</button></form>\
         <p><button type=\"button\" id=\"quick-add\" data-product=\"{id}\">Quick add</button> \
         <span id=\"quick-add-status\"></span></p>\
         <script src=\"/static/cart.js\" defer></script>",
        name = p.name,
        price = p.price,
        id = p.id,
    );
    with_cookie(page(p.name, items, &body), set)
}

/// The field `name` of a posted form, or "".
fn field<'a>(
    form: &'a Result<Form<HashMap<String, String>>, FormRejection>,
    name: &str,
) -> &'a str {
    form.as_ref()
        .ok()
        .and_then(|Form(f)| f.get(name))
        .map(String::as_str)
        .unwrap_or("")
}

/// Whether `key` is the session's form key.
fn key_matches(session: &Session, key: &str) -> bool {
    !key.is_empty() && same_secret(&session.form_key, key)
}

/// Why an add to the cart was refused.
enum AddRefused {
    FormKey,
    Product,
    Quantity,
}

/// Adds `qty` (text, 1 to 99) of product `product` to the session's cart
/// after checking `key`; returns the items now in the cart.
fn add_to_cart(
    faults: FaultPlan,
    session: &mut Session,
    key: &str,
    product: &str,
    qty: &str,
) -> Result<u32, AddRefused> {
    // During the add-to-cart fault the check rejects every key.
    if faults.current() == Fault::AddToCartBroken || !key_matches(session, key) {
        return Err(AddRefused::FormKey);
    }
    let product = product_by_id(product).ok_or(AddRefused::Product)?;
    let qty: u32 = match qty.trim() {
        "" => 1,
        q => q.parse().map_err(|_| AddRefused::Quantity)?,
    };
    if !(1..=99).contains(&qty) {
        return Err(AddRefused::Quantity);
    }
    let have = session.cart.entry(product.id).or_default();
    *have = (*have + qty).min(MAX_QTY);
    Ok(session.items())
}

async fn cart_add(
    State(s): State<Store>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let faults = s.faults;
    let added = s.with_session(&headers, |session| {
        add_to_cart(
            faults,
            session,
            field(&form, "form_key"),
            field(&form, "product"),
            field(&form, "qty"),
        )
    });
    let (result, set) = match added {
        Some(v) => v,
        None => return server_error(),
    };
    let response = match result {
        Ok(_) => Redirect::to("/cart").into_response(),
        Err(AddRefused::FormKey) => bad_request("Invalid form key"),
        Err(AddRefused::Product) => bad_request("Unknown product"),
        Err(AddRefused::Quantity) => bad_request("Invalid quantity: a whole number from 1 to 99"),
    };
    with_cookie(response, set)
}

fn bad_request(what: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><title>{what}</title><h1>{what}</h1><p><a href=\"/\">Back to the shop</a></p>"
        )),
    )
        .into_response()
}

async fn api_cart(State(s): State<Store>, headers: HeaderMap, body: Bytes) -> Response {
    let request: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => {
            return json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"ok": false, "error": "expected a JSON object {\"product\": 42, \"qty\": 1}"}),
            );
        }
    };
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let (product, qty) = (text(&request["product"]), text(&request["qty"]));
    let key = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let faults = s.faults;
    let (result, set) = match s.with_session(&headers, |session| {
        add_to_cart(faults, session, &key, &product, &qty)
    }) {
        Some(v) => v,
        None => return server_error(),
    };
    let response = match result {
        Ok(items) => json(
            StatusCode::OK,
            serde_json::json!({"ok": true, "items": items}),
        ),
        Err(AddRefused::FormKey) => json(
            StatusCode::FORBIDDEN,
            serde_json::json!({"ok": false, "error": "invalid CSRF token"}),
        ),
        Err(AddRefused::Product) => json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"ok": false, "error": "unknown product"}),
        ),
        Err(AddRefused::Quantity) => json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"ok": false, "error": "qty must be a whole number from 1 to 99"}),
        ),
    };
    with_cookie(response, set)
}

async fn cart(State(s): State<Store>, headers: HeaderMap) -> Response {
    let ((lines, items, form_key), set) = match s.with_session(&headers, |session| {
        let lines: Vec<(u32, u32)> = session.cart.iter().map(|(p, q)| (*p, *q)).collect();
        (lines, session.items(), session.form_key.clone())
    }) {
        Some(v) => v,
        None => return server_error(),
    };
    let list = if lines.is_empty() {
        "<p class=\"empty\">Your cart is empty.</p>".to_owned()
    } else {
        let rows: String = lines
            .iter()
            .filter_map(|(id, qty)| CATALOGUE.iter().find(|p| p.id == *id).map(|p| (p, qty)))
            .map(|(p, qty)| format!("<li>{} × {qty}</li>", p.name))
            .collect();
        format!(
            "<ul class=\"cart-items\">{rows}</ul><p><a href=\"/checkout\">Proceed to checkout</a></p>"
        )
    };
    let body = format!(
        "<h1>Your cart</h1>{list}\
         <form method=\"post\" action=\"/cart/clear\"><input type=\"hidden\" name=\"form_key\" value=\"{form_key}\">\
         <button type=\"submit\">Empty the cart</button></form>"
    );
    with_cookie(page("Your cart", items, &body), set)
}

async fn cart_clear(
    State(s): State<Store>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let (cleared, set) = match s.with_session(&headers, |session| {
        let ok = key_matches(session, field(&form, "form_key"));
        if ok {
            session.cart.clear();
        }
        ok
    }) {
        Some(v) => v,
        None => return server_error(),
    };
    let response = if cleared {
        Redirect::to("/cart").into_response()
    } else {
        bad_request("Invalid form key")
    };
    with_cookie(response, set)
}

async fn checkout(State(s): State<Store>, headers: HeaderMap) -> Response {
    if s.faults.current() == Fault::CheckoutError {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Html("<h1>Fatal error</h1><p>Payment module crashed</p>"),
        )
            .into_response();
    }
    let (items, set) = match s.with_session(&headers, |s| s.items()) {
        Some(v) => v,
        None => return server_error(),
    };
    let body = format!(
        "<h1>Checkout</h1><p>{items} item(s) in your cart.</p>\
         <iframe id=\"payment\" title=\"Payment\" src=\"{form}\" width=\"400\" height=\"220\"></iframe>",
        form = s.payment_form,
    );
    with_cookie(page("Checkout", items, &body), set)
}

fn login_form(form_key: &str, message: &str) -> String {
    format!(
        "<h1>Log in</h1>{message}<form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"form_key\" value=\"{form_key}\">\
         <label>E-mail <input type=\"email\" name=\"email\"></label>\
         <label>Password <input type=\"password\" name=\"password\"></label>\
         <button type=\"submit\">Log in</button></form>"
    )
}

async fn login_page(State(s): State<Store>, headers: HeaderMap) -> Response {
    let ((items, form_key), set) =
        match s.with_session(&headers, |s| (s.items(), s.form_key.clone())) {
            Some(v) => v,
            None => return server_error(),
        };
    with_cookie(page("Log in", items, &login_form(&form_key, "")), set)
}

/// Whether `email` and `password` are the demo customer's; during the
/// login fault nobody gets in.
fn credentials_valid(s: &Store, email: &str, password: &str) -> bool {
    s.faults.current() != Fault::LoginBroken
        && email.trim().eq_ignore_ascii_case(CUSTOMER_EMAIL)
        && same_secret(&s.credentials.password, password)
}

/// What a form login came to.
enum LoginResult {
    BadFormKey,
    Invalid { items: u32, form_key: String },
    LoggedIn(String),
}

async fn login(
    State(s): State<Store>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let valid = credentials_valid(&s, field(&form, "email"), field(&form, "password"));
    let token = match random_hex(16) {
        Ok(t) => t,
        Err(_) => return server_error(),
    };
    let (result, set) = match s.with_session(&headers, |session| {
        if !key_matches(session, field(&form, "form_key")) {
            return LoginResult::BadFormKey;
        }
        if !valid {
            return LoginResult::Invalid {
                items: session.items(),
                form_key: session.form_key.clone(),
            };
        }
        session.customer = Some((token.clone(), CUSTOMER_EMAIL.to_owned()));
        LoginResult::LoggedIn(token)
    }) {
        Some(v) => v,
        None => return server_error(),
    };
    let response = match result {
        LoginResult::BadFormKey => bad_request("Invalid form key"),
        LoginResult::Invalid { items, form_key } => page(
            "Log in",
            items,
            &login_form(
                &form_key,
                "<p class=\"error\">Invalid login or password.</p>",
            ),
        )
        .into_response(),
        LoginResult::LoggedIn(token) => {
            let mut r = Redirect::to("/account").into_response();
            match HeaderValue::from_str(&format!(
                "{CUSTOMER_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax"
            )) {
                Ok(v) => {
                    r.headers_mut().append(header::SET_COOKIE, v);
                }
                Err(_) => return server_error(),
            }
            r
        }
    };
    with_cookie(response, set)
}

async fn account(State(s): State<Store>, headers: HeaderMap) -> Response {
    let presented = cookie(&headers, CUSTOMER_COOKIE);
    let ((items, email), set) = match s.with_session(&headers, |session| {
        let email = match (&session.customer, &presented) {
            (Some((token, email)), Some(p)) if same_secret(token, p) => Some(email.clone()),
            _ => None,
        };
        (session.items(), email)
    }) {
        Some(v) => v,
        None => return server_error(),
    };
    let response = match email {
        Some(email) => page(
            "Your account",
            items,
            &format!(
                "<h1>Your account</h1><p>Welcome back, {}.</p>\
                 <form method=\"post\" action=\"/logout\"><button type=\"submit\">Log out</button></form>",
                html_escape(&email)
            ),
        )
        .into_response(),
        None => Redirect::to("/login").into_response(),
    };
    with_cookie(response, set)
}

async fn logout(State(s): State<Store>, headers: HeaderMap) -> Response {
    let ((), set) = match s.with_session(&headers, |session| session.customer = None) {
        Some(v) => v,
        None => return server_error(),
    };
    let mut r = Redirect::to("/").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("shop_customer=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
    );
    with_cookie(r, set)
}

impl Store {
    /// Issues a token for `subject`, valid for [`TOKEN_LIFETIME`].
    fn issue_token(&self, subject: String) -> Option<String> {
        let token = random_hex(24).ok()?;
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                token.clone(),
                Token {
                    subject,
                    expires: Instant::now() + TOKEN_LIFETIME,
                },
            );
        Some(token)
    }
}

async fn api_login(State(s): State<Store>, body: Bytes) -> Response {
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let (Some(email), Some(password)) = (request["email"].as_str(), request["password"].as_str())
    else {
        return json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "expected a JSON object {\"email\": ..., \"password\": ...}"}),
        );
    };
    if !credentials_valid(&s, email, password) {
        return json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "Invalid login"}),
        );
    }
    match s.issue_token(CUSTOMER_EMAIL.to_owned()) {
        Some(token) => json(
            StatusCode::OK,
            serde_json::json!({"token": token, "expires_in": TOKEN_LIFETIME.as_secs()}),
        ),
        None => server_error(),
    }
}

async fn api_me(State(s): State<Store>, headers: HeaderMap) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let subject = presented.and_then(|t| {
        let tokens = s.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens
            .get(t)
            .filter(|tok| tok.expires > Instant::now())
            .map(|tok| tok.subject.clone())
    });
    match subject {
        Some(email) => json(StatusCode::OK, serde_json::json!({"email": email})),
        None => {
            let mut r = json(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"error": "a valid bearer token is required"}),
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
    }
}

/// The client id and secret of an HTTP basic `Authorization` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(keepup_model::text::unbase64(encoded.trim())?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

async fn oauth_token(
    State(s): State<Store>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let client_ok = basic_credentials(&headers).is_some_and(|(id, secret)| {
        id == OAUTH_CLIENT_ID && same_secret(&s.credentials.client_secret, &secret)
    });
    if !client_ok {
        let mut r = json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "invalid_client"}),
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"demo-shop\""),
        );
        return r;
    }
    if field(&form, "grant_type") != "client_credentials" {
        return json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "unsupported_grant_type"}),
        );
    }
    match s.issue_token(format!("client:{OAUTH_CLIENT_ID}")) {
        Some(token) => json(
            StatusCode::OK,
            serde_json::json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME.as_secs(),
            }),
        ),
        None => server_error(),
    }
}

/// The quick add: posts the product to the JSON API with the page's form
/// key and updates the minicart.
const CART_JS: &str = r#"// Demo shop: the product page's "Quick add" through the JSON cart API.
document.addEventListener('DOMContentLoaded', function () {
  var button = document.getElementById('quick-add');
  if (!button) { return; }
  var status = document.getElementById('quick-add-status');
  button.addEventListener('click', function () {
    var key = document.querySelector('input[name=form_key]').value;
    fetch('/api/cart', {
      method: 'POST',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': key},
      body: JSON.stringify({product: button.dataset.product, qty: 1})
    }).then(function (response) { return response.json(); })
      .then(function (data) {
        if (data.ok) {
          document.querySelector('#minicart .count').textContent = String(data.items);
          status.textContent = 'Added to cart';
        } else {
          status.textContent = 'Could not add: ' + data.error;
        }
      });
  });
});
"#;

/// The quick add with a bug: the click handler throws before any request,
/// the page itself unchanged.
const CART_JS_BROKEN: &str = r#"// Demo shop: the product page's "Quick add" (broken by the demo's switch).
document.addEventListener('DOMContentLoaded', function () {
  var button = document.getElementById('quick-add');
  if (!button) { return; }
  button.addEventListener('click', function () {
    throw new TypeError('cart.addItem is not a function');
  });
});
"#;

async fn cart_js(State(s): State<Store>) -> Response {
    let script = if s.quick_add_broken.load(Ordering::Relaxed) {
        CART_JS_BROKEN
    } else {
        CART_JS
    };
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            // The switch must take effect on the next page load.
            (header::CACHE_CONTROL, "no-store"),
        ],
        script,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounded_map_forgets_the_oldest_entry_first_and_never_holds_more_than_its_cap() {
        let mut m = Bounded::new(3);
        for i in 0..5 {
            m.insert(format!("k{i}"), i);
        }
        assert_eq!(m.map.len(), 3);
        assert!(m.get("k0").is_none() && m.get("k1").is_none());
        assert_eq!(m.get("k4"), Some(&4));
        assert!(m.order.len() <= 3);
    }

    #[test]
    fn a_cookie_is_found_among_others_and_a_missing_one_is_none() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; shop_session=abc"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("shop_customer=x"));
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, CUSTOMER_COOKIE).as_deref(), Some("x"));
        assert_eq!(cookie(&h, "nope"), None);
    }
}
