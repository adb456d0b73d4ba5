//! `/login` and `/logout`.
//!
//! A login is refused the same way (same page, same status, the same
//! argon2 work) whether the name is unknown, the password wrong or the
//! account locked, so that neither the answer nor its time tells which.
//! Each client address has a few attempts a minute (429 past them), all
//! addresses together [`super::GLOBAL_LOGINS_PER_MINUTE`], at most one
//! argon2 check per core runs at once with a few waiting (503 past that,
//! so a spray of guesses cannot take the memory: the `gate` module). A
//! network someone logged in from in the last 30 days skips the global
//! rate and has a check of its own at the gate, so a spray from many
//! addresses cannot keep the owner out; an address's attempt taken for a
//! login then turned away busy is given back. `[server] lockout_after`
//! attempts in a row from one source network (IPv4 /24, IPv6 /64) lock
//! the account for that network only, for `lockout_for`: the owner
//! logging in from elsewhere is not locked out by a guesser. The attempt
//! is counted before its password is checked, so guesses in flight at
//! once cannot pass the limit. Failures, locks and logins are logged
//! (never the password) and written to the audit log; failures repeated
//! from one source network within ten minutes are counted on one entry
//! (past 20 networks, on one entry for them all) and logged once, their
//! warnings at most one a minute per kind, and refusals for a rate or a full gate are warned
//! about once a minute with a count, so a guesser cannot fill the disk or
//! the log.
//!
//! The login form has no session yet, so it is protected against login
//! CSRF by a double submit: GET sets a random `keepup_login` cookie and
//! the form carries the same value.

use super::{
    Auth, MaybeSession, Viewer, audit, audit_repeated, cookie, duration_ms, gate, now, password,
    secret,
};
use crate::AppState;
use crate::admission::ClientAddr;
use crate::ui;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

/// The login form's double-submit cookie.
const LOGIN_COOKIE: &str = "keepup_login";
/// Longest user name accepted.
const MAX_NAME: usize = 64;
/// Longest `next` accepted.
const MAX_NEXT: usize = 2048;

/// The login and logout routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
}

#[derive(serde::Deserialize, Default)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

#[derive(serde::Deserialize, Default)]
struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

#[derive(serde::Deserialize, Default)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// Where to go after logging in: a path on this site, else `/` (never
/// `//host` or an absolute URL: no open redirect).
fn safe_next(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= MAX_NEXT
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if ok { next } else { "/" }
}

fn cookie_header(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<i64>,
    secure: bool,
) -> HeaderValue {
    let mut text = format!("{name}={value}; HttpOnly; SameSite=Strict; Path={path}");
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        text.push_str("; Secure");
    }
    // Only hex, digits and fixed words: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("keepup_invalid=1"))
}

fn login_form(token: &str, next: &str, problem: Option<&str>) -> maud::Markup {
    html! {
        h1 { "Log in to keepup" }
        @if let Some(problem) = problem {
            p.problem role="alert" { (problem) }
        }
        form.login method="post" action="/login" {
            input type="hidden" name="csrf" value=(token);
            input type="hidden" name="next" value=(next);
            label for="name" { "Name" }
            input #name type="text" name="name" autocomplete="username" required maxlength=(MAX_NAME) autofocus;
            label for="password" { "Password" }
            input #password type="password" name="password" autocomplete="current-password" required maxlength=(password::MAX_LENGTH);
            button type="submit" { "Log in" }
        }
    }
}

fn login_response(
    status: StatusCode,
    token: &str,
    next: &str,
    problem: Option<&str>,
    secure: bool,
) -> Response {
    let mut response = ui::bare_page(status, "Log in", login_form(token, next, problem));
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(LOGIN_COOKIE, token, "/login", None, secure),
    );
    response
}

async fn login_page(
    State(auth): State<Arc<Auth>>,
    MaybeSession(viewer): MaybeSession,
    Query(q): Query<NextQuery>,
    ext: Extensions,
    headers: HeaderMap,
) -> Response {
    let next = safe_next(&q.next);
    if viewer.is_some() {
        return Redirect::to(next).into_response();
    }
    let secure = super::secure_cookies(&ext, &auth);
    let token = match cookie(&headers, LOGIN_COOKIE) {
        Some(t) if t.len() == 64 => t,
        _ => match secret::random_hex() {
            Some(t) => t,
            None => return no_randomness(),
        },
    };
    login_response(StatusCode::OK, &token, next, None, secure)
}

fn no_randomness() -> Response {
    tracing::error!("no randomness from the system: cannot make a session");
    ui::message_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "keepup could not make a secure session right now.",
    )
}

/// What checking a login came to.
enum Verdict {
    /// Logged in: the new session's id.
    In { session_id: String },
    /// Refused (unknown name, wrong password, locked account alike).
    Refused,
}

/// Warnings of one kind of refusal, at most one a minute: the refusals in
/// between are counted and the next warning says how many (`skipped`), so
/// a flood of refused logins does not flood the log.
struct QuietWarning {
    /// When the next warning may be written (ms since the epoch).
    next_at: AtomicI64,
    /// Refusals not warned about since the last warning.
    skipped: AtomicU64,
}

impl QuietWarning {
    const fn new() -> Self {
        QuietWarning {
            next_at: AtomicI64::new(i64::MIN),
            skipped: AtomicU64::new(0),
        }
    }

    /// Notes a refusal at `now_ms`; the refusals skipped since the last
    /// warning when one is due now, `None` when this one is only counted.
    fn due(&self, now_ms: i64) -> Option<u64> {
        let next = self.next_at.load(Ordering::Relaxed);
        if now_ms >= next
            && self
                .next_at
                .compare_exchange(
                    next,
                    now_ms.saturating_add(60_000),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            Some(self.skipped.swap(0, Ordering::Relaxed))
        } else {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Logins over their address's rate.
static OVER_ADDRESS: QuietWarning = QuietWarning::new();
/// Logins over the rate of all addresses together.
static OVER_GLOBAL: QuietWarning = QuietWarning::new();
/// Logins turned away with every password check busy.
static GATE_FULL: QuietWarning = QuietWarning::new();
/// Logins refused for a name that is not a user (first from a network).
static UNKNOWN_USER: QuietWarning = QuietWarning::new();
/// Logins refused for a wrong password (first from a network).
static WRONG_PASSWORD: QuietWarning = QuietWarning::new();
/// Logins refused for an account locked for their network (first from it).
static LOCKED: QuietWarning = QuietWarning::new();

/// The source network a login lock applies to, as stored: the IPv4 /24 or
/// the IPv6 /64 of `client` (one subscriber or one small network).
fn lock_source(client: IpAddr) -> String {
    let (network, prefix) = super::limiter::network_of(client);
    format!("{network}/{prefix}")
}

/// Checks a login against the store and opens a session; blocking (argon2
/// and the store).
fn check_login(
    auth: &Auth,
    name: &str,
    password_text: &str,
    client: IpAddr,
) -> Result<Verdict, keepup_store::StoreError> {
    let store = auth.store();
    let now = now();
    let source = lock_source(client);
    let Some(user) = store.user(name)? else {
        // The same work as for a known name.
        password::verify(password_text, password::decoy());
        if audit_repeated(
            store,
            &source,
            "anonymous",
            "login.failure",
            "(unknown user)",
            &format!("from {client}"),
        ) && let Some(skipped) = UNKNOWN_USER.due(now)
        {
            tracing::warn!(%client, skipped, "login refused: unknown user");
        } else {
            tracing::debug!(%client, "login refused: unknown user (repeat)");
        }
        return Ok(Verdict::Refused);
    };
    let settings = &auth.settings;
    let lock_for = duration_ms(settings.lockout_for);
    let Some(attempt) =
        store.reserve_login(user.id, &source, now, settings.lockout_after, lock_for)?
    else {
        // The same work as for an open account.
        password::verify(password_text, password::decoy());
        if audit_repeated(
            store,
            &source,
            &user.name,
            "login.locked",
            &user.name,
            &format!("from {client}; account locked for {source}"),
        ) && let Some(skipped) = LOCKED.due(now)
        {
            tracing::warn!(user = %user.name, %client, skipped, "login refused: account locked for this source");
        } else {
            tracing::debug!(user = %user.name, %client, "login refused: account locked (repeat)");
        }
        return Ok(Verdict::Refused);
    };
    if !password::verify(password_text, &user.password_hash) {
        match attempt.locks_until {
            None => {
                let attempts = attempt.attempts;
                if audit_repeated(
                    store,
                    &source,
                    &user.name,
                    "login.failure",
                    &user.name,
                    &format!("from {client}; wrong password ({attempts} in a row)"),
                ) && let Some(skipped) = WRONG_PASSWORD.due(now)
                {
                    tracing::warn!(user = %user.name, %client, attempts, skipped, "login refused: wrong password");
                } else {
                    tracing::debug!(user = %user.name, %client, attempts, "login refused: wrong password (repeat)");
                }
            }
            Some(until) => {
                tracing::warn!(
                    user = %user.name,
                    %client,
                    %source,
                    failures = settings.lockout_after,
                    until = %keepup_model::format_rfc3339(until),
                    "account locked for a source after failed logins"
                );
                audit(
                    store,
                    &user.name,
                    "login.lockout",
                    &user.name,
                    &format!(
                        "from {client}; {} wrong passwords in a row; locked for {source} until {}",
                        settings.lockout_after,
                        keepup_model::format_rfc3339(until)
                    ),
                );
            }
        }
        return Ok(Verdict::Refused);
    }
    let (Some(session_id), Some(csrf)) = (secret::random_hex(), secret::random_hex()) else {
        return Err(keepup_store::StoreError::Task(
            "no randomness for a session id".into(),
        ));
    };
    store.login_succeeded(user.id, &source, now, lock_for)?;
    auth.known.remember(client, Instant::now());
    let expires = now.saturating_add(duration_ms(auth.settings.session_max));
    store.create_session(&secret::digest(&session_id), user.id, &csrf, now, expires)?;
    let swept = store.delete_dead_sessions(now, duration_ms(auth.settings.session_idle))?;
    tracing::info!(user = %user.name, %client, role = %user.role, swept, "logged in");
    audit(
        store,
        &user.name,
        "login.success",
        &user.name,
        &format!("from {client}"),
    );
    Ok(Verdict::In { session_id })
}

async fn login_submit(
    State(auth): State<Arc<Auth>>,
    ext: Extensions,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let secure = super::secure_cookies(&ext, &auth);
    let next = safe_next(&form.next).to_owned();
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !secret::same(&form.csrf, &expected) {
        return super::forbidden(
            "The login form has expired or did not come from this site. Reload the page and log in again.",
        );
    }
    let client = ext
        .get::<ClientAddr>()
        .map(|c| c.0)
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if form.name.is_empty() || form.name.chars().count() > MAX_NAME {
        return ui::message_page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            &format!("name: 1 to {MAX_NAME} characters"),
        );
    }
    if form.password.chars().count() > password::MAX_LENGTH {
        return ui::message_page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            &format!("password: at most {} characters", password::MAX_LENGTH),
        );
    }
    let turn = match admit(&auth, client).await {
        Ok(turn) => turn,
        Err(Refusal::OverAddress) => {
            if let Some(skipped) = OVER_ADDRESS.due(now()) {
                tracing::warn!(%client, skipped, "login refused: too many attempts from this address");
            }
            let mut r = login_response(
                StatusCode::TOO_MANY_REQUESTS,
                &expected,
                &next,
                Some("Too many login attempts from your address. Wait a minute and try again."),
                secure,
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            return r;
        }
        Err(Refusal::OverGlobal) => {
            if let Some(skipped) = OVER_GLOBAL.due(now()) {
                tracing::warn!(%client, skipped, "login refused: too many logins from all addresses");
            }
            return busy(&expected, &next, secure, "60");
        }
        Err(Refusal::GateFull) => {
            if let Some(skipped) = GATE_FULL.due(now()) {
                tracing::warn!(%client, skipped, "login refused: too many password checks at once");
            }
            return busy(&expected, &next, secure, "5");
        }
    };
    let checking = auth.clone();
    let verdict = crate::offload::spawn_blocking(move || {
        let _turn = turn;
        check_login(&checking, &form.name, &form.password, client)
    })
    .await;
    match verdict {
        Ok(Ok(Verdict::In { session_id })) => {
            let mut r = Redirect::to(&next).into_response();
            let max_age = duration_ms(auth.settings.session_max) / 1000;
            let headers = r.headers_mut();
            headers.append(
                header::SET_COOKIE,
                cookie_header(
                    super::SESSION_COOKIE,
                    &session_id,
                    "/",
                    Some(max_age),
                    secure,
                ),
            );
            headers.append(
                header::SET_COOKIE,
                cookie_header(LOGIN_COOKIE, "", "/login", Some(0), secure),
            );
            r
        }
        Ok(Ok(Verdict::Refused)) => login_response(
            StatusCode::UNAUTHORIZED,
            &expected,
            &next,
            Some("Wrong name or password, or the account is locked for a while."),
            secure,
        ),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "login not checked");
            ui::message_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                "The login could not be checked against the store.",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "login task failed");
            ui::message_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                "The login could not be checked.",
            )
        }
    }
}

/// Why a login was turned away before its password was checked.
#[derive(Debug, PartialEq)]
enum Refusal {
    /// The address has no attempt left this minute (429).
    OverAddress,
    /// All addresses together have none left (503).
    OverGlobal,
    /// Every password check is running or waiting (503).
    GateFull,
}

/// Lets a login from `client` have its password checked: an attempt of
/// its address, one of all addresses together unless its network logged
/// in lately, and a turn at the gate (the known networks' lane for those).
/// Turned away for the global rate or the gate, the address's attempt is
/// given back: the server was busy, the address did nothing.
async fn admit(auth: &Auth, client: IpAddr) -> Result<gate::Turn, Refusal> {
    let now = Instant::now();
    if !auth.limiter.allow(client, now) {
        return Err(Refusal::OverAddress);
    }
    let known = auth.known.knows(client, now);
    if !known && !auth.global_rate.allow(now) {
        auth.limiter.give_back(client);
        return Err(Refusal::OverGlobal);
    }
    match auth.gate.turn(known).await {
        Some(turn) => Ok(turn),
        None => {
            auth.limiter.give_back(client);
            Err(Refusal::GateFull)
        }
    }
}

/// The login form again with 503 and `Retry-After`: the server has no
/// room for another password check now (the address is not to blame).
fn busy(token: &str, next: &str, secure: bool, retry_after: &'static str) -> Response {
    let mut r = login_response(
        StatusCode::SERVICE_UNAVAILABLE,
        token,
        next,
        Some("Too many logins at once. Try again in a few seconds."),
        secure,
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(retry_after));
    r
}

async fn logout(
    State(auth): State<Arc<Auth>>,
    Viewer(session): Viewer,
    ext: Extensions,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Err(refused) = session.verify_csrf(&form.csrf) {
        return refused.into_response();
    }
    let secure = super::secure_cookies(&ext, &auth);
    if let Some(id) = cookie(&headers, super::SESSION_COOKIE) {
        let store = auth.store().clone();
        let user = session.user.clone();
        let ended = crate::offload::spawn_blocking(move || {
            let ended = store.delete_session(&secret::digest(&id));
            audit(&store, &user, "logout", &user, "");
            ended
        })
        .await;
        if !matches!(ended, Ok(Ok(_))) {
            tracing::error!(user = %session.user, "session not deleted at logout");
        }
    }
    tracing::info!(user = %session.user, "logged out");
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(super::SESSION_COOKIE, "", "/", Some(0), secure),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_refusals_is_one_warning_a_minute_counting_the_rest() {
        let quiet = QuietWarning::new();
        assert_eq!(quiet.due(1_000), Some(0));
        for t in 1..=500 {
            assert_eq!(quiet.due(1_000 + t * 100), None);
        }
        assert_eq!(quiet.due(61_000), Some(500));
        assert_eq!(quiet.due(61_001), None);
        assert_eq!(quiet.due(121_000), Some(1));
    }

    #[tokio::test]
    async fn a_network_that_logged_in_before_logs_in_through_a_spray() {
        let store = keepup_store::Store::open_in_memory().unwrap();
        let hash = password::hash("owner's password").unwrap();
        store
            .add_user("ann", &hash, keepup_store::Role::Admin, 0)
            .unwrap();
        let mut auth = Auth::new(store, keepup_config::WebSecurity::default(), None);
        auth.global_rate = super::super::GlobalLoginRate::new(5);
        auth.gate = gate::PasswordGate::new(8);
        // The owner logged in from the office once, through the real check.
        let office: IpAddr = "192.0.2.10".parse().unwrap();
        let verdict = check_login(&auth, "ann", "owner's password", office).unwrap();
        assert!(matches!(verdict, Verdict::In { .. }));
        // A spray from many networks spends the global rate.
        let mut turns = Vec::new();
        for i in 0..5 {
            let sprayer = IpAddr::from([198, 51, i, 1]);
            turns.push(admit(&auth, sprayer).await.expect("within the rate"));
        }
        let sprayer = IpAddr::from([198, 51, 9, 1]);
        assert_eq!(admit(&auth, sprayer).await.err(), Some(Refusal::OverGlobal));
        // Another address of the office's /24 still gets its turn; a
        // newcomer does not, and keeps its own attempts.
        assert!(admit(&auth, "192.0.2.77".parse().unwrap()).await.is_ok());
        let newcomer: IpAddr = "203.0.113.5".parse().unwrap();
        for _ in 0..20 {
            assert_eq!(
                admit(&auth, newcomer).await.err(),
                Some(Refusal::OverGlobal)
            );
        }
        let per_minute = keepup_config::WebSecurity::default().login_attempts_per_minute;
        assert!(
            (0..per_minute).all(|_| auth.limiter.allow(newcomer, Instant::now())),
            "the busy refusals took none of the newcomer's attempts"
        );
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next("/incidents?open=1"), "/incidents?open=1");
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil",
            "/a\nb",
            "incidents",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }
}
