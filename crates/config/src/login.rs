//! The check kind `login`: the common login flows written in a few keys
//! and compiled at load into the steps of a [`ScenarioSpec`], so that the
//! scenario engine runs them (cookie jar, redaction, evidence and all).
//!
//! - `style = "form"`: GET the login page (taking the CSRF token from
//!   `token_field`'s hidden input or `token_css`), POST the credentials,
//!   expect `success_text` and/or the `success_cookie`; `logout_url` as a
//!   cleanup step.
//! - `style = "json"`: POST the credentials as JSON, take the token at
//!   `token_pointer`, optionally GET `me_url` with it as a bearer token.
//! - `style = "basic"` / `"bearer"`: GET a protected `url` with the
//!   credentials.
//! - `style = "oauth2"`: the client-credentials grant at `token_url`; the
//!   answer must hold `access_token`, `token_type` and an `expires_in`
//!   between `min_expiry` and `max_expiry`.
//!
//! The basic-auth header the flows compute from a password is a secret
//! itself, so it is redacted like the password.

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::http::{RawStatus, StatusRange};
use crate::load::{Defaults, Inline, Loader};
use crate::raw::{Dur, RawTls};
use crate::scenario::{
    CssSelector, ExtractFrom, Extraction, RequestSettings, ScenarioSpec, ScenarioStep,
    StepAssertion, StepAt, StepBody, Template, TemplatePart,
};
use crate::spec::Secret;
use crate::{BodyAssertion, JsonAssertion, JsonExpect};
use keepup_model::text::base64;

/// The login flows `kind = "login"` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginStyle {
    /// An HTML login form with a CSRF token.
    Form,
    /// A JSON API returning a token.
    Json,
    /// HTTP basic authentication on a protected URL.
    Basic,
    /// A bearer token on a protected URL.
    Bearer,
    /// OAuth2 client credentials at a token endpoint.
    Oauth2,
}

impl LoginStyle {
    /// As written in `style`.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginStyle::Form => "form",
            LoginStyle::Json => "json",
            LoginStyle::Basic => "basic",
            LoginStyle::Bearer => "bearer",
            LoginStyle::Oauth2 => "oauth2",
        }
    }
}

/// What a `login` check adds to its scenario.
#[derive(Debug, Clone)]
pub struct LoginCheck {
    /// The flow.
    pub style: LoginStyle,
    /// The variable holding the token's lifetime in seconds and the range
    /// it must be in (oauth2).
    pub token_expiry: Option<TokenExpiry>,
}

/// A token lifetime that must be inside a sane range.
#[derive(Debug, Clone)]
pub struct TokenExpiry {
    /// The variable extracted from `expires_in`.
    pub var: String,
    /// Shorter is a finding (default 60 s).
    pub min: Duration,
    /// Longer is a finding (default one year).
    pub max: Duration,
}

/// `kind = "login"` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLogin {
    pub style: Spanned<String>,
    pub base_url: Option<Spanned<String>>,
    pub login_url: Option<Spanned<String>>,
    pub post_url: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub token_url: Option<Spanned<String>>,
    pub me_url: Option<Spanned<String>>,
    pub logout_url: Option<Spanned<String>>,
    pub username: Option<Spanned<String>>,
    pub username_field: Option<Spanned<String>>,
    pub password_field: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub token_field: Option<Spanned<String>>,
    pub token_css: Option<Spanned<String>>,
    pub token_pointer: Option<Spanned<String>>,
    pub token_env: Option<Spanned<String>>,
    pub token_file: Option<Spanned<String>>,
    pub client_id: Option<Spanned<String>>,
    pub client_secret_env: Option<Spanned<String>>,
    pub client_secret_file: Option<Spanned<String>>,
    pub scope: Option<Spanned<String>>,
    pub fields: Option<Spanned<toml::Table>>,
    pub success_text: Option<Spanned<String>>,
    pub success_cookie: Option<Spanned<String>>,
    pub min_expiry: Option<Spanned<Dur>>,
    pub max_expiry: Option<Spanned<Dur>>,
    pub expect_status: Option<Spanned<Vec<RawStatus>>>,
    pub max_redirects: Option<u32>,
    pub max_body_bytes: Option<u64>,
    pub user_agent: Option<String>,
    pub tls: Option<RawTls>,
}

/// Variable names the compiled steps use (not written by anyone).
const PASSWORD: &str = "password";
const BASIC: &str = "basic_credentials";
const TOKEN: &str = "token";
const CSRF: &str = "csrf_token";
const SESSION: &str = "session_cookie";
const EXPIRES_IN: &str = "expires_in";

impl Loader<'_> {
    pub(crate) fn login(
        &mut self,
        raw: RawLogin,
        path: &str,
        defaults: &Defaults,
        span: Range<usize>,
    ) -> Option<ScenarioSpec> {
        let before = self.rep.count();
        let style = match raw.style.get_ref().as_str() {
            "form" => LoginStyle::Form,
            "json" => LoginStyle::Json,
            "basic" => LoginStyle::Basic,
            "bearer" => LoginStyle::Bearer,
            "oauth2" => LoginStyle::Oauth2,
            other => {
                self.rep.report(
                    raw.style.span(),
                    &format!("{path}.style"),
                    format!("unknown login style {other:?}"),
                    Some("write \"form\", \"json\", \"basic\", \"bearer\" or \"oauth2\"".into()),
                );
                return None;
            }
        };
        self.login_keys_fit(&raw, style, path, &span);
        if self.rep.count() != before {
            return None;
        }
        let (mut inputs, _) = self.scenario_inputs(raw.base_url.as_ref(), None, None, path)?;
        let has_base = inputs.base_url.is_some();
        // Reported at the key given, or at the check when neither is.
        let secret = |this: &mut Self,
                      name: &str,
                      env: &Option<Spanned<String>>,
                      file: &Option<Spanned<String>>| {
            let at = env
                .as_ref()
                .or(file.as_ref())
                .map_or(span.clone(), Spanned::span);
            this.secret(
                Inline::NotAccepted,
                env.as_ref().map(|e| e.get_ref().as_str()),
                file.as_ref().map(|f| f.get_ref().as_str()),
                at,
                path,
                name,
            )
        };
        let at = |index: usize, name: &str| StepAt {
            path: path.to_owned(),
            index,
            name: name.to_owned(),
        };
        let expect_status = {
            let mut ok = true;
            let default = StatusRange {
                low: 200,
                high: 399,
            };
            let list = self.expect_status(raw.expect_status.as_ref(), path, default, &mut ok);
            if !ok {
                return None;
            }
            list
        };
        let step = |index: usize, name: &str, method: ::http::Method, url: Template| ScenarioStep {
            index,
            name: name.to_owned(),
            method,
            url,
            headers: Vec::new(),
            query: Vec::new(),
            body: None,
            expect_status: expect_status.clone(),
            follow_redirects: true,
            max_time: None,
            assertions: Vec::new(),
            extract: Vec::new(),
        };
        let mut steps = Vec::new();
        let mut cleanup = Vec::new();
        let mut token_expiry = None;
        let username = raw.username.as_ref().map(|u| u.get_ref().clone());
        match style {
            LoginStyle::Form => {
                let login_url =
                    self.login_url(raw.login_url.as_ref()?, has_base, path, "login_url")?;
                let post_url = match &raw.post_url {
                    Some(u) => self.login_url(u, has_base, path, "post_url")?,
                    None => login_url.clone(),
                };
                let password = secret(self, PASSWORD, &raw.password_env, &raw.password_file)?;
                inputs.secrets.push((PASSWORD.into(), password));
                let mut page = step(0, "login page", ::http::Method::GET, login_url);
                let token_field = raw.token_field.as_ref().map(|t| t.get_ref().clone());
                let token_css = match (&raw.token_css, &token_field) {
                    (Some(css), None) => {
                        self.rep.report(
                            css.span(),
                            &format!("{path}.token_css"),
                            "`token_css` needs `token_field`, the form field the token is posted as",
                            None,
                        );
                        return None;
                    }
                    (Some(css), Some(_)) => {
                        Some(self.css_selector(css, &at(0, "login page"), "token_css")?)
                    }
                    (None, Some(field)) => {
                        Some(self.field_selector(field, raw.token_field.as_ref()?, path)?)
                    }
                    (None, None) => None,
                };
                if let Some(selector) = token_css {
                    page.extract.push(Extraction {
                        var: CSRF.into(),
                        from: ExtractFrom::Css {
                            selector,
                            attr: Some("value".into()),
                        },
                        secret: false,
                    });
                }
                let mut form = Vec::new();
                let user_field = field_name(&raw.username_field, "username");
                form.push((user_field, Template::literal(username.clone()?)));
                form.push((field_name(&raw.password_field, "password"), var(PASSWORD)));
                if let Some(field) = &token_field {
                    form.push((field.clone(), var(CSRF)));
                }
                if let Some(fields) = &raw.fields {
                    for (name, value) in fields.get_ref() {
                        let Some(text) = value.as_str() else {
                            self.rep.report(
                                fields.span(),
                                &format!("{path}.fields.{name}"),
                                "form field values are strings",
                                None,
                            );
                            return None;
                        };
                        form.push((name.clone(), Template::literal(text)));
                    }
                }
                let mut post = step(1, "log in", ::http::Method::POST, post_url);
                post.body = Some(StepBody::Form(form));
                if let Some(text) = &raw.success_text {
                    post.assertions
                        .push(StepAssertion::Body(BodyAssertion::Contains(
                            text.get_ref().clone(),
                        )));
                }
                if let Some(cookie) = &raw.success_cookie {
                    post.extract.push(Extraction {
                        var: SESSION.into(),
                        from: ExtractFrom::CookieSet(cookie.get_ref().clone()),
                        secret: true,
                    });
                }
                steps.push(page);
                steps.push(post);
                if let Some(u) = &raw.logout_url {
                    let mut logout = step(
                        0,
                        "log out",
                        ::http::Method::POST,
                        self.login_url(u, has_base, path, "logout_url")?,
                    );
                    if let Some(field) = &token_field {
                        logout.body = Some(StepBody::Form(vec![(field.clone(), var(CSRF))]));
                    }
                    cleanup.push(logout);
                }
            }
            LoginStyle::Json => {
                let login_url =
                    self.login_url(raw.login_url.as_ref()?, has_base, path, "login_url")?;
                let password = secret(self, PASSWORD, &raw.password_env, &raw.password_file)?;
                inputs.secrets.push((PASSWORD.into(), password));
                let user = serde_json::to_string(&username.clone()?).unwrap_or_default();
                let user_key = serde_json::to_string(&field_name(&raw.username_field, "username"))
                    .unwrap_or_default();
                let pass_key = serde_json::to_string(&field_name(&raw.password_field, "password"))
                    .unwrap_or_default();
                let body = vec![
                    TemplatePart::Literal(format!("{{{user_key}: {user}, {pass_key}: \"")),
                    TemplatePart::Var(PASSWORD.into()),
                    TemplatePart::Literal("\"}".into()),
                ];
                let pointer = match &raw.token_pointer {
                    Some(p) => self.json_pointer(p, &format!("{path}.token_pointer"))?,
                    None => "/token".into(),
                };
                let mut post = step(0, "log in", ::http::Method::POST, login_url);
                post.body = Some(StepBody::Json(Template::from_parts(body)));
                post.extract.push(Extraction {
                    var: TOKEN.into(),
                    from: ExtractFrom::Json(pointer),
                    secret: true,
                });
                steps.push(post);
                if let Some(u) = &raw.me_url {
                    let mut me = step(
                        1,
                        "who am I",
                        ::http::Method::GET,
                        self.login_url(u, has_base, path, "me_url")?,
                    );
                    me.headers.push((
                        ::http::header::AUTHORIZATION,
                        Template::from_parts(vec![
                            TemplatePart::Literal("Bearer ".into()),
                            TemplatePart::Var(TOKEN.into()),
                        ]),
                    ));
                    me.expect_status = vec![StatusRange {
                        low: 200,
                        high: 299,
                    }];
                    if let Some(text) = &raw.success_text {
                        me.assertions
                            .push(StepAssertion::Body(BodyAssertion::Contains(
                                text.get_ref().clone(),
                            )));
                    }
                    steps.push(me);
                }
            }
            LoginStyle::Basic | LoginStyle::Bearer => {
                let url = self.login_url(raw.url.as_ref()?, has_base, path, "url")?;
                let (scheme, name, value) = if style == LoginStyle::Basic {
                    let password = secret(self, PASSWORD, &raw.password_env, &raw.password_file)?;
                    let pair = format!("{}:{}", username.clone()?, password.expose());
                    inputs.secrets.push((PASSWORD.into(), password));
                    ("Basic ", BASIC, Secret::new(base64(pair.as_bytes())))
                } else {
                    (
                        "Bearer ",
                        TOKEN,
                        secret(self, TOKEN, &raw.token_env, &raw.token_file)?,
                    )
                };
                inputs.secrets.push((name.into(), value));
                let mut get = step(0, "protected page", ::http::Method::GET, url);
                get.headers.push((
                    ::http::header::AUTHORIZATION,
                    Template::from_parts(vec![
                        TemplatePart::Literal(scheme.into()),
                        TemplatePart::Var(name.into()),
                    ]),
                ));
                get.expect_status = match &raw.expect_status {
                    Some(_) => expect_status.clone(),
                    None => vec![StatusRange {
                        low: 200,
                        high: 299,
                    }],
                };
                if let Some(text) = &raw.success_text {
                    get.assertions
                        .push(StepAssertion::Body(BodyAssertion::Contains(
                            text.get_ref().clone(),
                        )));
                }
                steps.push(get);
            }
            LoginStyle::Oauth2 => {
                let url = self.login_url(raw.token_url.as_ref()?, has_base, path, "token_url")?;
                let client_id = raw.client_id.as_ref()?.get_ref().clone();
                let client_secret = secret(
                    self,
                    "client_secret",
                    &raw.client_secret_env,
                    &raw.client_secret_file,
                )?;
                let pair = format!("{client_id}:{}", client_secret.expose());
                inputs.secrets.push(("client_secret".into(), client_secret));
                inputs
                    .secrets
                    .push((BASIC.into(), Secret::new(base64(pair.as_bytes()))));
                let mut post = step(0, "token", ::http::Method::POST, url);
                post.headers.push((
                    ::http::header::AUTHORIZATION,
                    Template::from_parts(vec![
                        TemplatePart::Literal("Basic ".into()),
                        TemplatePart::Var(BASIC.into()),
                    ]),
                ));
                let mut form = vec![(
                    "grant_type".to_owned(),
                    Template::literal("client_credentials"),
                )];
                if let Some(scope) = &raw.scope {
                    form.push(("scope".into(), Template::literal(scope.get_ref().clone())));
                }
                post.body = Some(StepBody::Form(form));
                post.expect_status = vec![StatusRange {
                    low: 200,
                    high: 299,
                }];
                post.assertions
                    .push(StepAssertion::Body(BodyAssertion::Json(JsonAssertion {
                        pointer: "/token_type".into(),
                        expect: JsonExpect::Present,
                    })));
                for (var, pointer, secret) in [
                    (TOKEN, "/access_token", true),
                    (EXPIRES_IN, "/expires_in", false),
                ] {
                    post.extract.push(Extraction {
                        var: var.into(),
                        from: ExtractFrom::Json(pointer.into()),
                        secret,
                    });
                }
                steps.push(post);
                let min = raw
                    .min_expiry
                    .as_ref()
                    .map_or(Duration::from_secs(60), |d| d.get_ref().0);
                let max = raw
                    .max_expiry
                    .as_ref()
                    .map_or(Duration::from_secs(365 * 86_400), |d| d.get_ref().0);
                if min > max {
                    let span = raw.min_expiry.as_ref().map_or(span.clone(), Spanned::span);
                    self.rep.report(
                        span,
                        &format!("{path}.min_expiry"),
                        "min_expiry is above max_expiry",
                        None,
                    );
                    return None;
                }
                token_expiry = Some(TokenExpiry {
                    var: EXPIRES_IN.into(),
                    min,
                    max,
                });
            }
        }
        let settings = RequestSettings {
            max_redirects: raw.max_redirects,
            max_body_bytes: raw.max_body_bytes,
            user_agent: raw.user_agent,
            tls: raw.tls,
        };
        let spec = self.scenario_spec(inputs, steps, cleanup, settings, defaults, path)?;
        (self.rep.count() == before).then_some(ScenarioSpec {
            login: Some(LoginCheck {
                style,
                token_expiry,
            }),
            ..spec
        })
    }

    /// Refuses the keys `style` needs but lacks, and those it does not use.
    fn login_keys_fit(
        &mut self,
        raw: &RawLogin,
        style: LoginStyle,
        path: &str,
        span: &Range<usize>,
    ) {
        // Each key given with its place, for a problem at that key.
        let at = |key: &Option<Spanned<String>>| key.as_ref().map(Spanned::span);
        let given: [(&str, Option<Range<usize>>); 22] = [
            ("login_url", at(&raw.login_url)),
            ("post_url", at(&raw.post_url)),
            ("url", at(&raw.url)),
            ("token_url", at(&raw.token_url)),
            ("me_url", at(&raw.me_url)),
            ("logout_url", at(&raw.logout_url)),
            ("username", at(&raw.username)),
            ("username_field", at(&raw.username_field)),
            ("password_field", at(&raw.password_field)),
            ("password_env", at(&raw.password_env)),
            ("password_file", at(&raw.password_file)),
            ("token_field", at(&raw.token_field)),
            ("token_css", at(&raw.token_css)),
            ("token_pointer", at(&raw.token_pointer)),
            ("token_env", at(&raw.token_env)),
            ("token_file", at(&raw.token_file)),
            ("client_id", at(&raw.client_id)),
            (
                "client_secret_env",
                at(&raw.client_secret_env).or(at(&raw.client_secret_file)),
            ),
            ("scope", at(&raw.scope)),
            ("fields", raw.fields.as_ref().map(Spanned::span)),
            ("success_text", at(&raw.success_text)),
            (
                "min_expiry",
                (raw.min_expiry.as_ref().map(Spanned::span))
                    .or(raw.max_expiry.as_ref().map(Spanned::span)),
            ),
        ];
        let (required, optional): (&[&str], &[&str]) = match style {
            LoginStyle::Form => (
                &["login_url", "username"],
                &[
                    "post_url",
                    "logout_url",
                    "username_field",
                    "password_field",
                    "password_env",
                    "password_file",
                    "token_field",
                    "token_css",
                    "fields",
                    "success_text",
                ],
            ),
            LoginStyle::Json => (
                &["login_url", "username"],
                &[
                    "me_url",
                    "username_field",
                    "password_field",
                    "password_env",
                    "password_file",
                    "token_pointer",
                    "success_text",
                ],
            ),
            LoginStyle::Basic => (
                &["url", "username"],
                &["password_env", "password_file", "success_text"],
            ),
            LoginStyle::Bearer => (&["url"], &["token_env", "token_file", "success_text"]),
            LoginStyle::Oauth2 => (
                &["token_url", "client_id", "client_secret_env"],
                &["scope", "min_expiry"],
            ),
        };
        for (key, given_at) in given {
            let is_given = given_at.is_some();
            if let Some(key_at) =
                given_at.filter(|_| !required.contains(&key) && !optional.contains(&key))
            {
                self.rep.report(
                    key_at,
                    &format!("{path}.{key}"),
                    format!("`{key}` is not used by style = {:?}", style.as_str()),
                    None,
                );
            } else if !is_given && required.contains(&key) {
                let shown = if key == "client_secret_env" {
                    "client_secret_env` or `client_secret_file"
                } else {
                    key
                };
                self.rep.report(
                    span.clone(),
                    &format!("{path}.{key}"),
                    format!("style = {:?} needs `{shown}`", style.as_str()),
                    None,
                );
            }
        }
        if style == LoginStyle::Form && raw.success_text.is_none() && raw.success_cookie.is_none() {
            self.rep.report(
                span.clone(),
                &format!("{path}.success_text"),
                "a form login needs `success_text` (shown once logged in) and/or `success_cookie` (set once logged in)",
                None,
            );
        }
        if let (false, Some(cookie)) = (style == LoginStyle::Form, &raw.success_cookie) {
            self.rep.report(
                cookie.span(),
                &format!("{path}.success_cookie"),
                format!(
                    "`success_cookie` is not used by style = {:?}",
                    style.as_str()
                ),
                None,
            );
        }
    }

    /// A login URL: absolute, or a path under `base_url`; no templates.
    fn login_url(
        &mut self,
        url: &Spanned<String>,
        has_base: bool,
        path: &str,
        key: &str,
    ) -> Option<Template> {
        let text = url.get_ref();
        if text.starts_with("http://")
            || text.starts_with("https://")
            || (text.starts_with('/') && has_base)
        {
            if text.contains("{{") {
                self.rep.report(
                    url.span(),
                    &format!("{path}.{key}"),
                    "a login URL takes no {{ }} templates",
                    None,
                );
                return None;
            }
            return Some(Template::literal(text.clone()));
        }
        self.rep.report(
            url.span(),
            &format!("{path}.{key}"),
            format!("{text:?} is not an absolute URL"),
            Some(
                "write an absolute http(s):// URL, or a path starting with '/' with a base_url"
                    .into(),
            ),
        );
        None
    }

    /// `input[name="<field>"]`, the hidden input holding the CSRF token.
    fn field_selector(
        &mut self,
        field: &str,
        written: &Spanned<String>,
        path: &str,
    ) -> Option<CssSelector> {
        let css = format!(
            "input[name={}]",
            serde_json::to_string(field).unwrap_or_default()
        );
        let at = StepAt {
            path: path.to_owned(),
            index: 0,
            name: "login page".into(),
        };
        self.css_selector(&Spanned::new(written.span(), css), &at, "token_field")
    }
}

fn var(name: &str) -> Template {
    Template::from_parts(vec![TemplatePart::Var(name.into())])
}

fn field_name(written: &Option<Spanned<String>>, default: &str) -> String {
    written
        .as_ref()
        .map_or_else(|| default.to_owned(), |f| f.get_ref().clone())
}
