//! Who is asking, and may they: the dashboard's sessions and the API's
//! bearer tokens, as axum extractors every page and API handler takes.
//!
//! * [`Viewer`], [`Operator`], [`Admin`]: a logged-in person with at least
//!   that role (roles are ordered). Without a live session the request is
//!   redirected to `/login?next=…`; with too low a role it is answered 403.
//! * [`ApiRead`], [`ApiWrite`]: an `Authorization: Bearer kp_…` token of
//!   at least that scope (write implies read). Missing, unknown, revoked or
//!   expired: 401 with `WWW-Authenticate: Bearer`; too low a scope: 403.
//!   Neither says more in its body.
//! * CSRF: every state-changing form carries the session's token
//!   ([`csrf_field`] renders the hidden input) and its handler calls
//!   [`Session::verify_csrf`] before acting (403 otherwise).
//!
//! The session cookie `keepup_session` holds 256 random bits; the store
//! keeps only their SHA-256, with an idle and an absolute expiry
//! (`[server] session_idle`, `session_max`). The cookie is `HttpOnly`,
//! `SameSite=Strict`, `Path=/`, and `Secure` when the listener speaks TLS
//! or `[server] public_url` is https. Logins are limited per client
//! address and locked per account (the `login` module).

mod audit_page;
mod gate;
mod limiter;
mod login;
pub mod password;
pub mod secret;

use crate::AppState;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use keepup_config::WebSecurity;
use keepup_model::Timestamp;
use keepup_store::{AuditEntry, Role, Store, TokenScope};
use maud::{Markup, html};
use std::sync::Arc;

pub use gate::PasswordGate;
pub use limiter::{GlobalLoginRate, KnownNetworks, LoginLimiter};

/// Logins a minute from all addresses together (and at once): enough for
/// any team, while a spray from many addresses keeps at most a fraction
/// of a core busy hashing.
pub const GLOBAL_LOGINS_PER_MINUTE: u32 = 600;

/// The routes of this module: login, logout, the audit log page.
pub fn routes() -> axum::Router<AppState> {
    login::routes().merge(audit_page::routes())
}

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "keepup_session";

/// The listener's authentication state, shared by every request.
pub struct Auth {
    store: Store,
    settings: WebSecurity,
    /// `[server] public_url` is https: cookies are `Secure` even when TLS
    /// ends at a proxy in front of keepup.
    public_https: bool,
    limiter: LoginLimiter,
    /// Logins from every address together.
    global_rate: GlobalLoginRate,
    /// Password checks running and waiting.
    gate: PasswordGate,
    /// Networks people logged in from lately: they skip `global_rate`.
    known: KnownNetworks,
}

impl Auth {
    /// The state for a listener over `store` with `settings`.
    pub fn new(store: Store, settings: WebSecurity, public_url: Option<&str>) -> Self {
        Auth {
            limiter: LoginLimiter::new(settings.login_attempts_per_minute),
            global_rate: GlobalLoginRate::new(GLOBAL_LOGINS_PER_MINUTE),
            gate: PasswordGate::for_this_machine(),
            known: KnownNetworks::default(),
            store,
            settings,
            public_https: crate::security::PublicHttps::of(public_url).0,
        }
    }

    /// The store sessions, tokens and the audit log live in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Writes an audit entry now from a blocking context; a failure is
    /// logged, not returned (the action it records has happened).
    pub fn audit_now(&self, actor: &str, action: &str, target: &str, detail: &str) {
        audit(&self.store, actor, action, target, detail);
    }
}

/// [`audit`] from an async handler: the store write runs on the blocking
/// pool, and the handler waits for it so the entry exists when it answers.
pub async fn audit_off_thread(
    store: &Store,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) {
    let store = store.clone();
    let (actor, action, target, detail) = (
        actor.to_owned(),
        action.to_owned(),
        target.to_owned(),
        detail.to_owned(),
    );
    let _ =
        crate::offload::spawn_blocking(move || audit(&store, &actor, &action, &target, &detail))
            .await;
}

/// Writes an audit entry stamped now; a store failure is logged, since the
/// action it records has already happened.
pub fn audit(store: &Store, actor: &str, action: &str, target: &str, detail: &str) {
    let entry = AuditEntry::new(now(), actor, action, target, detail);
    if let Err(e) = store.audit(&entry) {
        tracing::error!(error = %e, action, target, "audit entry not written");
    }
}

/// How long repeats of an event anyone can cause (a failed login) from
/// one source network count on one audit entry.
pub const REPEATS_WINDOW: std::time::Duration = keepup_store::AUDIT_REPEATS_WINDOW;

/// Writes an audit entry for an event anyone on the network can cause,
/// from `source`: repeats within [`REPEATS_WINDOW`] are counted on the
/// first one ([`Store::audit_repeated`]). True when a new entry was
/// written (the caller logs a warning for it, and only for it, so the log
/// does not grow a line a guess either); a store failure counts as new.
pub fn audit_repeated(
    store: &Store,
    source: &str,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> bool {
    let entry = AuditEntry::new(now(), actor, action, target, detail);
    store
        .audit_repeated(&entry, source, duration_ms(REPEATS_WINDOW))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, action, target, "audit entry not written");
            true
        })
}

/// Wall-clock time in ms since the epoch.
pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Marks a request that arrived over TLS (the listener inserts it), for
/// `Secure` cookies and HSTS.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// A logged-in person, as the extractors hand them to handlers.
#[derive(Clone)]
pub struct Session {
    /// The user's name.
    pub user: String,
    /// Their role now.
    pub role: Role,
    csrf: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The session's CSRF token, for forms ([`csrf_field`]) and for
    /// scripts that post (`X-CSRF-Token`).
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// Checks a submitted CSRF token; the error answers 403.
    pub fn verify_csrf(&self, submitted: &str) -> Result<(), CsrfRefused> {
        if secret::same(submitted, &self.csrf) {
            Ok(())
        } else {
            tracing::warn!(user = %self.user, "form refused: missing or wrong CSRF token");
            Err(CsrfRefused)
        }
    }

    /// The audit log's name for this person.
    pub fn actor(&self) -> &str {
        &self.user
    }
}

/// A form without the session's CSRF token: answered 403.
#[derive(Debug, Clone, Copy)]
pub struct CsrfRefused;

impl IntoResponse for CsrfRefused {
    fn into_response(self) -> Response {
        forbidden(
            "The form has expired or did not come from this site. Reload the page and try again.",
        )
    }
}

/// The hidden input that carries the session's CSRF token; name `csrf`.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A 403 page saying why, in the layout without navigation.
pub fn forbidden(why: &str) -> Response {
    crate::ui::message_page(StatusCode::FORBIDDEN, "Not allowed", why)
}

/// The session of a request, looked up once and kept in its extensions
/// (several extractors may ask).
#[derive(Clone)]
struct Looked(Option<Session>);

async fn session_of(parts: &mut Parts, auth: &Arc<Auth>) -> Result<Option<Session>, Response> {
    if let Some(Looked(s)) = parts.extensions.get::<Looked>() {
        return Ok(s.clone());
    }
    let found = match cookie(&parts.headers, SESSION_COOKIE) {
        None => None,
        Some(id) => {
            let hash = secret::digest(&id);
            let store = auth.store.clone();
            let idle = duration_ms(auth.settings.session_idle);
            let read = crate::offload::spawn_blocking(move || store.session(&hash, now(), idle))
                .await
                .map_err(|e| keepup_store::StoreError::Task(e.to_string()))
                .and_then(|r| r);
            match read {
                Ok(found) => found.map(|r| Session {
                    user: r.user,
                    role: r.role,
                    csrf: r.csrf,
                }),
                Err(e) => {
                    tracing::error!(error = %e, "session not read");
                    return Err(crate::ui::message_page(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Try again",
                        "The session could not be read from the store.",
                    ));
                }
            }
        }
    };
    parts.extensions.insert(Looked(found.clone()));
    Ok(found)
}

/// A duration in ms, saturating.
pub(crate) fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| keepup_model::text::cookie_value(v, name))
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
}

/// Whether cookies set on this request must be `Secure`.
pub(crate) fn secure_cookies(parts_ext: &axum::http::Extensions, auth: &Auth) -> bool {
    auth.public_https || parts_ext.get::<OverTls>().is_some()
}

/// Where a request without a session is sent: the login page, coming back
/// here afterwards.
fn to_login(parts: &Parts) -> Response {
    let here = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    Redirect::to(&format!(
        "/login?next={}",
        keepup_model::text::percent_encode(here)
    ))
    .into_response()
}

async fn require<S>(parts: &mut Parts, state: &S, least: Role) -> Result<Session, Response>
where
    Arc<Auth>: FromRef<S>,
{
    let auth = Arc::<Auth>::from_ref(state);
    let Some(session) = session_of(parts, &auth).await? else {
        return Err(to_login(parts));
    };
    if session.role < least {
        return Err(forbidden(&format!(
            "This page needs the {least} role; you are logged in as {} ({}).",
            session.user, session.role
        )));
    }
    Ok(session)
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Session);

        impl<S: Send + Sync> FromRequestParts<S> for $name
        where
            Arc<Auth>: FromRef<S>,
        {
            type Rejection = Response;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
                require(parts, state, $role).await.map($name)
            }
        }
    };
}

role_extractor!(
    /// A logged-in person with any role: may read every page.
    Viewer,
    Role::Viewer
);
role_extractor!(
    /// A logged-in operator or admin: may act on incidents, maintenance
    /// and public updates.
    Operator,
    Role::Operator
);
role_extractor!(
    /// A logged-in admin.
    Admin,
    Role::Admin
);

/// The session of the request if there is a live one, for pages that
/// anyone may see but that change for a logged-in person (the login page).
#[derive(Debug, Clone)]
pub struct MaybeSession(pub Option<Session>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeSession
where
    Arc<Auth>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let auth = Arc::<Auth>::from_ref(state);
        session_of(parts, &auth).await.map(MaybeSession)
    }
}

/// An API client, as the token extractors hand it to handlers.
#[derive(Debug, Clone)]
pub struct ApiClient {
    /// The token's name.
    pub token: String,
    /// Its scope.
    pub scope: TokenScope,
}

impl ApiClient {
    /// The audit log's name for this client: `token:<name>`.
    pub fn actor(&self) -> String {
        format!("token:{}", self.token)
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
    )
        .into_response()
}

async fn require_token<S>(
    parts: &Parts,
    state: &S,
    least: TokenScope,
) -> Result<ApiClient, Response>
where
    Arc<Auth>: FromRef<S>,
{
    let auth = Arc::<Auth>::from_ref(state);
    let Some(text) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| t.starts_with(secret::TOKEN_PREFIX) && t.len() <= 128)
    else {
        return Err(unauthorized());
    };
    let hash = secret::digest(text);
    let store = auth.store.clone();
    let found = crate::offload::spawn_blocking(move || store.use_token(&hash, now())).await;
    let token = match found {
        Ok(Ok(Some(t))) => t,
        Ok(Ok(None)) => return Err(unauthorized()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "API token not read");
            return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
        }
        Err(e) => {
            tracing::error!(error = %e, "API token lookup failed");
            return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
        }
    };
    if token.scope < least {
        return Err(StatusCode::FORBIDDEN.into_response());
    }
    Ok(ApiClient {
        token: token.name,
        scope: token.scope,
    })
}

macro_rules! scope_extractor {
    ($(#[$doc:meta])* $name:ident, $scope:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub ApiClient);

        impl<S: Send + Sync> FromRequestParts<S> for $name
        where
            Arc<Auth>: FromRef<S>,
        {
            type Rejection = Response;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
                require_token(parts, state, $scope).await.map($name)
            }
        }
    };
}

scope_extractor!(
    /// An API client whose token may read.
    ApiRead,
    TokenScope::Read
);
scope_extractor!(
    /// An API client whose token may act (write implies read).
    ApiWrite,
    TokenScope::Write
);

impl FromRef<AppState> for Arc<Auth> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

#[cfg(test)]
mod tests;
