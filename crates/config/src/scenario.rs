//! The check kind `scenario`: an ordered list of HTTP steps sharing a
//! cookie jar and variables, with optional cleanup steps. Also the pieces
//! every multi-step kind shares (`browser`, `login`): `{{ name }}`
//! templates parsed here once, the plain `variables` and the `secrets`
//! (environment or file only), unique step names, and the extraction rules
//! that feed later steps.
//!
//! Everything a run needs is compiled at load: regexes, CSS selectors
//! (`scraper`), JSON pointers and templates (a list of literal and variable
//! parts). A template may only name a variable that is given, a secret, or
//! extracted by an earlier step, so a run never meets an unknown name.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use crate::http::{BodyAssertion, RawBodyAssertions, RawJson, RawStatus, StatusRange};
use crate::load::{Defaults, Inline, Loader};
use crate::raw::RawTls;
use crate::spec::Secret;
use crate::tls::TlsOptions;

/// Steps a check may have at most (cleanup included): a scenario is a
/// customer's walk, not a crawl.
pub const MAX_STEPS: usize = 50;

// ---------------------------------------------------------------------------
// Shared pieces (scenario, browser, login)
// ---------------------------------------------------------------------------

/// A text with `{{ name }}` placeholders, parsed at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<TemplatePart>,
}

/// One part of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    /// Text used as is.
    Literal(String),
    /// The value of this variable or secret.
    Var(String),
}

/// Why a template could not be filled in at run time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The variable has no value (its extraction did not run or found
    /// nothing); nothing is sent with an empty value.
    #[error("variable {0:?} has no value")]
    Missing(String),
}

impl Template {
    /// A template made of `parts` (for steps keepup writes itself).
    pub fn from_parts(parts: Vec<TemplatePart>) -> Self {
        Self { parts }
    }

    /// A template without placeholders.
    pub fn literal(text: impl Into<String>) -> Self {
        Self {
            parts: vec![TemplatePart::Literal(text.into())],
        }
    }

    /// Parses `text`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(TemplatePart::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(format!(
                    "unclosed \"{{{{\" at {:?}",
                    &rest[open..rest.len().min(open + 20)]
                ));
            };
            let name = after[..close].trim();
            if !is_identifier(name) {
                return Err(format!(
                    "{{{{ {name} }}}}: a variable name is letters, digits and '_', not starting with a digit"
                ));
            }
            parts.push(TemplatePart::Var(name.to_owned()));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() || parts.is_empty() {
            parts.push(TemplatePart::Literal(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// The parts in order.
    pub fn parts(&self) -> &[TemplatePart] {
        &self.parts
    }

    /// The variables named, in order.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            TemplatePart::Var(v) => Some(v.as_str()),
            TemplatePart::Literal(_) => None,
        })
    }

    /// The text when there are no placeholders.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [TemplatePart::Literal(t)] => Some(t),
            _ => None,
        }
    }

    /// The text with each variable replaced by `value(name)`; a variable
    /// without a value, or with an empty one, is an error.
    pub fn render<'v>(
        &self,
        value: impl Fn(&str) -> Option<&'v str>,
    ) -> Result<String, RenderError> {
        self.fill(value, |v, out| out.push_str(v))
    }

    /// [`Template::render`] for a JSON text: each value is escaped as the
    /// inside of a JSON string (quotes, backslashes, control characters),
    /// so a value cannot break the document; digits stay digits.
    pub fn render_json<'v>(
        &self,
        value: impl Fn(&str) -> Option<&'v str>,
    ) -> Result<String, RenderError> {
        self.fill(value, |v, out| out.push_str(&json_string_content(v)))
    }

    /// The literals as they are and each value as `put` writes it.
    fn fill<'v>(
        &self,
        value: impl Fn(&str) -> Option<&'v str>,
        put: impl Fn(&str, &mut String),
    ) -> Result<String, RenderError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Literal(t) => out.push_str(t),
                TemplatePart::Var(name) => match value(name) {
                    Some(v) if !v.is_empty() => put(v, &mut out),
                    _ => return Err(RenderError::Missing(name.clone())),
                },
            }
        }
        Ok(out)
    }
}

/// `text` as the inside of a JSON string literal (without the quotes).
pub fn json_string_content(text: &str) -> String {
    let quoted = serde_json::Value::String(text.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

impl fmt::Display for Template {
    /// As written (placeholders shown, never values).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                TemplatePart::Literal(t) => f.write_str(t)?,
                TemplatePart::Var(v) => write!(f, "{{{{ {v} }}}}")?,
            }
        }
        Ok(())
    }
}

/// Letters, digits and `_`, not starting with a digit.
pub fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A CSS selector, parsed at load (`scraper`), with its text for messages.
#[derive(Debug, Clone)]
pub struct CssSelector {
    source: String,
    selector: scraper::Selector,
}

impl CssSelector {
    /// The selector as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
    /// The parsed selector.
    pub fn selector(&self) -> &scraper::Selector {
        &self.selector
    }
}

/// The starting variables and secrets of a multi-step check.
#[derive(Debug, Clone, Default)]
pub struct ScenarioInputs {
    /// `base_url`: relative step URLs resolve against it.
    pub base_url: Option<::http::Uri>,
    /// `variables`: plain values.
    pub variables: Vec<(String, String)>,
    /// `secrets`: values from the environment or files, redacted wherever
    /// they would be shown or stored.
    pub secrets: Vec<(String, Secret)>,
}

/// `[[site.check.step.extract]]`: a value taken from a response into a
/// variable for later steps.
#[derive(Debug, Clone)]
pub struct Extraction {
    /// The variable set.
    pub var: String,
    /// Where the value comes from.
    pub from: ExtractFrom,
    /// `secret = true`, or a credential a login takes (its token, its
    /// session cookie): the value is redacted from the whole result from
    /// the moment it is extracted, like a configured secret.
    pub secret: bool,
}

/// Where an [`Extraction`] takes its value.
#[derive(Debug, Clone)]
pub enum ExtractFrom {
    /// The first element matching the selector: its attribute `attr`, or
    /// its text when there is none.
    Css {
        /// The selector.
        selector: CssSelector,
        /// The attribute read (text when `None`).
        attr: Option<String>,
    },
    /// The first capture group of the regex's first match.
    Regex(Regex),
    /// The value at this RFC 6901 pointer of a JSON body (a string as is,
    /// another scalar as its JSON text).
    Json(String),
    /// The response header of this name.
    Header(::http::HeaderName),
    /// The cookie of this name in the jar after the response.
    Cookie(String),
    /// The cookie of this name only when the step's own responses set it
    /// (a login's `success_cookie`: one the login page already set does
    /// not prove a log-in).
    CookieSet(String),
}

impl fmt::Display for ExtractFrom {
    /// How the extraction is named in findings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtractFrom::Css {
                selector,
                attr: Some(a),
            } => write!(f, "css {:?} attribute {a:?}", selector.as_str()),
            ExtractFrom::Css {
                selector,
                attr: None,
            } => write!(f, "css {:?} text", selector.as_str()),
            ExtractFrom::Regex(r) => write!(f, "regex {:?}", r.as_str()),
            ExtractFrom::Json(p) => write!(f, "json {p:?}"),
            ExtractFrom::Header(h) => write!(f, "header {:?}", h.as_str()),
            ExtractFrom::Cookie(c) => write!(f, "cookie {c:?}"),
            ExtractFrom::CookieSet(c) => write!(f, "the response's Set-Cookie {c:?}"),
        }
    }
}

/// The names a template may use at a point of a check: the variables, the
/// secrets and what earlier steps extract.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    known: HashSet<String>,
}

impl Scope {
    pub(crate) fn knows(&self, name: &str) -> bool {
        self.known.contains(name)
    }
    pub(crate) fn add(&mut self, name: &str) {
        self.known.insert(name.to_owned());
    }
}

/// Where a step is, for located problems: its key path, index and name.
#[derive(Debug, Clone)]
pub(crate) struct StepAt {
    /// e.g. `site[0].check[1].step[2]`
    pub path: String,
    pub index: usize,
    pub name: String,
}

impl StepAt {
    /// `step 2 "add to cart"`, the prefix of a step's problems.
    pub(crate) fn label(&self) -> String {
        format!("step {} {:?}", self.index, self.name)
    }
}

/// `variables` or `secrets` as written: each value with its place, so that
/// a problem is reported at its key.
pub(crate) type InputTable = BTreeMap<String, Spanned<toml::Value>>;

/// `[[site.check.step.extract]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExtract {
    pub var: Spanned<String>,
    pub css: Option<Spanned<String>>,
    pub attr: Option<String>,
    pub regex: Option<Spanned<String>>,
    pub json: Option<Spanned<String>>,
    pub header: Option<Spanned<String>>,
    pub cookie: Option<Spanned<String>>,
    pub secret: Option<bool>,
}

impl Loader<'_> {
    /// `base_url`, `variables` and `secrets` of the multi-step check at
    /// `path`, and the scope they open. Secrets are read from the
    /// environment or a file; one written inline is refused.
    pub(crate) fn scenario_inputs(
        &mut self,
        base_url: Option<&Spanned<String>>,
        variables: Option<&Spanned<InputTable>>,
        secrets: Option<&Spanned<InputTable>>,
        path: &str,
    ) -> Option<(ScenarioInputs, Scope)> {
        let before = self.rep.count();
        let mut inputs = ScenarioInputs::default();
        let mut scope = Scope::default();
        if let Some(b) = base_url {
            match b.get_ref().parse::<::http::Uri>() {
                Ok(u)
                    if matches!(u.scheme_str(), Some("http" | "https"))
                        && u.host().is_some_and(|h| !h.is_empty()) =>
                {
                    inputs.base_url = Some(u)
                }
                _ => self.rep.report(
                    b.span(),
                    &format!("{path}.base_url"),
                    format!(
                        "{:?} is not an absolute http:// or https:// URL",
                        b.get_ref()
                    ),
                    Some("write e.g. \"https://shop.example\"".into()),
                ),
            }
        }
        if let Some(vars) = variables {
            for (name, value) in vars.get_ref() {
                let at = value.span();
                let key = format!("{path}.variables.{name}");
                if !is_identifier(name) {
                    self.report_name(at.clone(), &key, "variable", name);
                    continue;
                }
                let text = match value.get_ref() {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    _ => {
                        self.rep.report(
                            at.clone(),
                            &key,
                            "a variable's value is a string, number or boolean",
                            None,
                        );
                        continue;
                    }
                };
                if text.is_empty() {
                    // A step would refuse to send it at every run.
                    self.rep.report(
                        at.clone(),
                        &key,
                        format!("variable {name:?} is empty"),
                        Some("give it a value, or leave it out".into()),
                    );
                    continue;
                }
                scope.add(name);
                inputs.variables.push((name.clone(), text));
            }
        }
        if let Some(list) = secrets {
            for (name, value) in list.get_ref() {
                let at = value.span();
                let key = format!("{path}.secrets.{name}");
                if !is_identifier(name) {
                    self.report_name(at.clone(), &key, "secret", name);
                    continue;
                }
                if scope.knows(name) {
                    self.rep.report(
                        at.clone(),
                        &key,
                        format!("{name:?} is both a variable and a secret"),
                        None,
                    );
                    continue;
                }
                let (env, file) = match value.get_ref() {
                    toml::Value::Table(t)
                        if t.keys().all(|k| k == "env" || k == "file")
                            && t.values().all(toml::Value::is_str) =>
                    {
                        (
                            t.get("env").and_then(toml::Value::as_str),
                            t.get("file").and_then(toml::Value::as_str),
                        )
                    }
                    toml::Value::String(_) => {
                        self.rep.report(
                            at.clone(),
                            &key,
                            "a secret is not written in the configuration file",
                            Some(format!(
                                "write `{name} = {{ env = \"NAME\" }}` or `{name} = {{ file = \"path\" }}`"
                            )),
                        );
                        continue;
                    }
                    _ => {
                        self.rep.report(
                            at.clone(),
                            &key,
                            "a secret is `{ env = \"NAME\" }` or `{ file = \"path\" }`",
                            None,
                        );
                        continue;
                    }
                };
                let secret = self.secret(
                    Inline::NotAccepted,
                    env,
                    file,
                    at.clone(),
                    &format!("{path}.secrets"),
                    name,
                );
                if let Some(secret) = secret {
                    scope.add(name);
                    inputs.secrets.push((name.clone(), secret));
                }
            }
        }
        (self.rep.count() == before).then_some((inputs, scope))
    }

    fn report_name(&mut self, span: Range<usize>, key: &str, what: &str, name: &str) {
        self.rep.report(
            span,
            key,
            format!("{what} name {name:?} is not an identifier"),
            Some("use letters, digits and '_', not starting with a digit".into()),
        );
    }

    /// The step at `index` named `name`: a name is required and unique
    /// within the check (`names` holds those seen so far).
    pub(crate) fn step_at(
        &mut self,
        name: &Spanned<String>,
        index: usize,
        list_path: &str,
        names: &mut HashSet<String>,
    ) -> Option<StepAt> {
        let at = StepAt {
            path: format!("{list_path}[{index}]"),
            index,
            name: name.get_ref().clone(),
        };
        if name.get_ref().trim().is_empty() {
            self.rep.report(
                name.span(),
                &format!("{}.name", at.path),
                format!("step {index} has an empty name"),
                Some("name each step, e.g. name = \"add to cart\"".into()),
            );
            return None;
        }
        if !names.insert(name.get_ref().clone()) {
            self.rep.report(
                name.span(),
                &format!("{}.name", at.path),
                format!("{}: another step already has this name", at.label()),
                Some("step names are unique within a check".into()),
            );
            return None;
        }
        Some(at)
    }

    /// The template written at `key` of the step `at`; every name it uses
    /// must be in `scope`.
    pub(crate) fn step_template(
        &mut self,
        text: &Spanned<String>,
        scope: &Scope,
        at: &StepAt,
        key: &str,
    ) -> Option<Template> {
        self.step_template_str(text.get_ref(), text.span(), scope, at, key)
    }

    /// [`Loader::step_template`] for a text whose span is its table's.
    pub(crate) fn step_template_str(
        &mut self,
        text: &str,
        span: Range<usize>,
        scope: &Scope,
        at: &StepAt,
        key: &str,
    ) -> Option<Template> {
        let key_path = format!("{}.{key}", at.path);
        let template = match Template::parse(text) {
            Ok(t) => t,
            Err(why) => {
                self.rep
                    .report(span, &key_path, format!("{}: {why}", at.label()), None);
                return None;
            }
        };
        let mut ok = true;
        for var in template.vars() {
            if !scope.knows(var) {
                self.rep.report(
                    span.clone(),
                    &key_path,
                    format!("{}: {{{{ {var} }}}} is not defined", at.label()),
                    Some(format!(
                        "give it in `variables` or `secrets`, or extract `{var}` in an earlier step"
                    )),
                );
                ok = false;
            }
        }
        ok.then_some(template)
    }

    /// Whether a check (`what`, e.g. "a scenario") at `path` has at least
    /// one step and at most [`MAX_STEPS`] with its cleanup.
    pub(crate) fn step_count(
        &mut self,
        steps: usize,
        cleanup: usize,
        span: Range<usize>,
        path: &str,
        what: &str,
    ) -> bool {
        let problem = if steps == 0 {
            format!("{what} needs at least one [[site.check.step]]")
        } else if steps + cleanup > MAX_STEPS {
            format!("more than {MAX_STEPS} steps")
        } else {
            return true;
        };
        self.rep
            .report(span, &format!("{path}.step"), problem, None);
        false
    }

    /// The URL template written at `key` of the step `at`: absolute, a
    /// variable, or a path when the check has a `base_url`.
    pub(crate) fn step_url(
        &mut self,
        text: &Spanned<String>,
        scope: &Scope,
        at: &StepAt,
        key: &str,
        has_base_url: bool,
    ) -> Option<Template> {
        let t = self.step_template(text, scope, at, key)?;
        let first = t.parts().first();
        let absolute = matches!(first, Some(TemplatePart::Literal(l)) if l.starts_with("http://") || l.starts_with("https://"));
        let relative = matches!(first, Some(TemplatePart::Literal(l)) if l.starts_with('/'));
        let from_var = matches!(first, Some(TemplatePart::Var(_)));
        if absolute || from_var || (relative && has_base_url) {
            return Some(t);
        }
        let hint = if relative {
            "give the check a base_url, or write an absolute http(s):// URL"
        } else {
            "write an absolute http(s):// URL or a path starting with '/'"
        };
        self.rep.report(
            text.span(),
            &format!("{}.{key}", at.path),
            format!(
                "{}: {:?} is not an absolute URL",
                at.label(),
                text.get_ref()
            ),
            Some(hint.into()),
        );
        None
    }

    /// A CSS selector written at `key` of the step `at`.
    pub(crate) fn css_selector(
        &mut self,
        text: &Spanned<String>,
        at: &StepAt,
        key: &str,
    ) -> Option<CssSelector> {
        match scraper::Selector::parse(text.get_ref()) {
            Ok(selector) => Some(CssSelector {
                source: text.get_ref().clone(),
                selector,
            }),
            Err(e) => {
                self.rep.report(
                    text.span(),
                    &format!("{}.{key}", at.path),
                    format!(
                        "{}: CSS selector {:?} does not parse: {e}",
                        at.label(),
                        text.get_ref()
                    ),
                    None,
                );
                None
            }
        }
    }

    /// The step's extractions; each variable joins `scope` for the steps
    /// after this one (the caller adds them once the step is read).
    pub(crate) fn extractions(
        &mut self,
        raw: Vec<Spanned<RawExtract>>,
        at: &StepAt,
    ) -> Option<Vec<Extraction>> {
        let mut ok = true;
        let mut out = Vec::new();
        for (i, e) in raw.into_iter().enumerate() {
            let span = e.span();
            let e = e.into_inner();
            let key = format!("{}.extract[{i}]", at.path);
            if !is_identifier(e.var.get_ref()) {
                self.report_name(
                    e.var.span(),
                    &format!("{key}.var"),
                    "variable",
                    e.var.get_ref(),
                );
                ok = false;
                continue;
            }
            let given = [
                e.css.is_some(),
                e.regex.is_some(),
                e.json.is_some(),
                e.header.is_some(),
                e.cookie.is_some(),
            ]
            .iter()
            .filter(|g| **g)
            .count();
            if given != 1 || (e.attr.is_some() && e.css.is_none()) {
                self.rep.report(
                    span,
                    &key,
                    format!("{}: an extraction takes exactly one of css (with an optional attr), regex, json, header or cookie", at.label()),
                    None,
                );
                ok = false;
                continue;
            }
            let from = if let Some(css) = &e.css {
                self.css_selector(css, at, &format!("extract[{i}].css"))
                    .map(|selector| ExtractFrom::Css {
                        selector,
                        attr: e.attr.clone(),
                    })
            } else if let Some(r) = &e.regex {
                self.regex(r, &format!("{key}.regex")).and_then(|re| {
                    if re.captures_len() < 2 {
                        self.rep.report(
                            r.span(),
                            &format!("{key}.regex"),
                            format!("{}: the regex needs a capture group: the extracted value is its first", at.label()),
                            Some("e.g. 'name=\"form_key\" value=\"([^\"]+)\"'".into()),
                        );
                        None
                    } else {
                        Some(ExtractFrom::Regex(re))
                    }
                })
            } else if let Some(p) = &e.json {
                self.json_pointer(p, &format!("{key}.json"))
                    .map(ExtractFrom::Json)
            } else if let Some(h) = &e.header {
                match ::http::HeaderName::from_bytes(h.get_ref().as_bytes()) {
                    Ok(name) => Some(ExtractFrom::Header(name)),
                    Err(_) => {
                        self.rep.report(
                            h.span(),
                            &format!("{key}.header"),
                            format!("{}: {:?} is not a header name", at.label(), h.get_ref()),
                            None,
                        );
                        None
                    }
                }
            } else {
                e.cookie.map(|c| ExtractFrom::Cookie(c.into_inner()))
            };
            match from {
                Some(from) => out.push(Extraction {
                    var: e.var.into_inner(),
                    from,
                    secret: e.secret.unwrap_or(false),
                }),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

// ---------------------------------------------------------------------------
// kind = "scenario"
// ---------------------------------------------------------------------------

/// `kind = "scenario"` (and `kind = "login"`, compiled into one).
#[derive(Debug, Clone)]
pub struct ScenarioSpec {
    /// Base URL, variables and secrets.
    pub inputs: ScenarioInputs,
    /// `[[site.check.step]]`, in order.
    pub steps: Vec<ScenarioStep>,
    /// `[[site.check.cleanup]]`, run after the steps whatever happened.
    pub cleanup: Vec<ScenarioStep>,
    /// Redirects followed at most per step.
    pub max_redirects: u32,
    /// Body bytes read at most per response.
    pub max_body_bytes: u64,
    /// TLS verification and certificate thresholds for https URLs.
    pub tls: TlsOptions,
    /// User-Agent header.
    pub user_agent: String,
    /// Set for `kind = "login"`: its findings and token checks.
    pub login: Option<crate::login::LoginCheck>,
}

/// One HTTP step of a scenario.
#[derive(Debug, Clone)]
pub struct ScenarioStep {
    /// Position in its list (steps and cleanup count separately).
    pub index: usize,
    /// Unique within the check.
    pub name: String,
    /// Request method (default GET).
    pub method: ::http::Method,
    /// Absolute, or relative to `base_url`.
    pub url: Template,
    /// Extra request headers.
    pub headers: Vec<(::http::HeaderName, Template)>,
    /// Query parameters appended to the URL.
    pub query: Vec<(String, Template)>,
    /// Request body.
    pub body: Option<StepBody>,
    /// Accepted final status codes (default 200–399).
    pub expect_status: Vec<StatusRange>,
    /// Follow redirects (default true, at most `max_redirects`).
    pub follow_redirects: bool,
    /// A slower step fails.
    pub max_time: Option<Duration>,
    /// Assertions on the response, all must hold.
    pub assertions: Vec<StepAssertion>,
    /// Values taken from the response, in order.
    pub extract: Vec<Extraction>,
}

/// A step's request body.
#[derive(Debug, Clone)]
pub enum StepBody {
    /// `form = { .. }`: `application/x-www-form-urlencoded`.
    Form(Vec<(String, Template)>),
    /// `json = '..'`: `application/json`, the text templated (values
    /// JSON-escaped, see [`Template::render_json`]).
    Json(Template),
}

/// One assertion of a step.
#[derive(Debug, Clone)]
pub enum StepAssertion {
    /// On the body text or JSON, as in `kind = "http"`.
    Body(BodyAssertion),
    /// `[[site.check.step.css]]`: an element matches `selector` (and its
    /// text contains `text`).
    Css {
        /// The selector.
        selector: CssSelector,
        /// Text the first matching element contains.
        text: Option<String>,
    },
}

/// The `json` key of a step: a templated request body (a string) or JSON
/// assertions (`[[site.check.step.json]]`).
#[derive(Debug)]
pub(crate) enum RawStepJson {
    Body(Spanned<String>),
    Assertions(Vec<Spanned<RawJson>>),
}

impl<'de> Deserialize<'de> for RawStepJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawStepJson;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON body as a string, or [[...json]] assertion tables")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawStepJson, E> {
                Ok(RawStepJson::Body(Spanned::new(0..0, v.to_owned())))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawStepJson, A::Error> {
                let mut list = Vec::new();
                while let Some(item) = seq.next_element()? {
                    list.push(item);
                }
                Ok(RawStepJson::Assertions(list))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[[site.check.step.css]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCss {
    pub selector: Spanned<String>,
    pub text: Option<String>,
}

/// `[[site.check.step]]` and `[[site.check.cleanup]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub name: Spanned<String>,
    pub method: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub headers: Option<Spanned<toml::Table>>,
    pub query: Option<Spanned<toml::Table>>,
    pub form: Option<Spanned<toml::Table>>,
    pub json: Option<Spanned<RawStepJson>>,
    /// A JSON body when the step also has `[[...json]]` assertions.
    pub json_body: Option<Spanned<String>>,
    pub expect_status: Option<Spanned<Vec<RawStatus>>>,
    pub follow_redirects: Option<bool>,
    pub max_ms: Option<Spanned<u64>>,
    #[serde(default)]
    pub contains: Vec<String>,
    #[serde(default)]
    pub not_contains: Vec<String>,
    #[serde(default)]
    pub matches: Vec<Spanned<String>>,
    #[serde(default)]
    pub not_matches: Vec<Spanned<String>>,
    #[serde(default)]
    pub css: Vec<Spanned<RawCss>>,
    #[serde(default)]
    pub extract: Vec<Spanned<RawExtract>>,
}

/// The request settings a scenario or login check may give, as written.
pub(crate) struct RequestSettings {
    pub max_redirects: Option<u32>,
    pub max_body_bytes: Option<u64>,
    pub user_agent: Option<String>,
    pub tls: Option<RawTls>,
}

/// `kind = "scenario"` as written (besides the common check keys).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub base_url: Option<Spanned<String>>,
    pub variables: Option<Spanned<InputTable>>,
    pub secrets: Option<Spanned<InputTable>>,
    #[serde(default)]
    pub step: Vec<Spanned<RawStep>>,
    #[serde(default)]
    pub cleanup: Vec<Spanned<RawStep>>,
    pub max_redirects: Option<u32>,
    pub max_body_bytes: Option<u64>,
    pub user_agent: Option<String>,
    pub tls: Option<RawTls>,
}

impl Loader<'_> {
    /// A `kind = "scenario"` check from its table (without the common keys).
    pub(crate) fn scenario_check(
        &mut self,
        specific: Spanned<DeValue<'_>>,
        path: &str,
        defaults: &Defaults,
    ) -> Option<ScenarioSpec> {
        let span = specific.span();
        let mut specific = specific;
        let steps = self.take_steps::<RawStep>(&mut specific, "step", path);
        let cleanup = self.take_steps::<RawStep>(&mut specific, "cleanup", path);
        let mut raw =
            self.deserialize::<RawScenario>(specific, path, crate::raw::COMMON_CHECK_KEYS)?;
        raw.step = steps?;
        raw.cleanup = cleanup?;
        self.scenario(raw, path, defaults, span)
    }

    /// Takes the array of tables `key` (`[[site.check.step]]`) out of a
    /// check's table and reads each of its tables on its own, so that a
    /// mistake in one is reported at its path (`…step[2].contanis`) with
    /// every other; `None` when any has a problem.
    pub(crate) fn take_steps<T: serde::de::DeserializeOwned>(
        &mut self,
        specific: &mut Spanned<DeValue<'_>>,
        key: &str,
        path: &str,
    ) -> Option<Vec<Spanned<T>>> {
        let DeValue::Table(table) = specific.get_mut() else {
            return Some(Vec::new());
        };
        let Some(value) = table.remove(key) else {
            return Some(Vec::new());
        };
        let before = self.rep.count();
        let mut out = Vec::new();
        let hint = format!("write each as [[site.check.{key}]]");
        for (item_path, item) in self.array_of_tables(value, &format!("{path}.{key}"), &hint) {
            let span = item.span();
            if let Some(t) = self.deserialize::<T>(item, &item_path, &[]) {
                out.push(Spanned::new(span, t));
            }
        }
        (self.rep.count() == before).then_some(out)
    }

    pub(crate) fn scenario(
        &mut self,
        raw: RawScenario,
        path: &str,
        defaults: &Defaults,
        span: Range<usize>,
    ) -> Option<ScenarioSpec> {
        let before = self.rep.count();
        let (inputs, mut scope) = self.scenario_inputs(
            raw.base_url.as_ref(),
            raw.variables.as_ref(),
            raw.secrets.as_ref(),
            path,
        )?;
        if !self.step_count(raw.step.len(), raw.cleanup.len(), span, path, "a scenario") {
            return None;
        }
        let mut names = HashSet::new();
        let has_base = inputs.base_url.is_some();
        let mut steps = Vec::new();
        for (index, step) in raw.step.into_iter().enumerate() {
            if let Some(s) = self.scenario_step(
                step,
                index,
                &format!("{path}.step"),
                &mut names,
                &mut scope,
                has_base,
            ) {
                steps.push(s);
            }
        }
        let mut cleanup = Vec::new();
        for (index, step) in raw.cleanup.into_iter().enumerate() {
            if let Some(s) = self.scenario_step(
                step,
                index,
                &format!("{path}.cleanup"),
                &mut names,
                &mut scope,
                has_base,
            ) {
                cleanup.push(s);
            }
        }
        let settings = RequestSettings {
            max_redirects: raw.max_redirects,
            max_body_bytes: raw.max_body_bytes,
            user_agent: raw.user_agent,
            tls: raw.tls,
        };
        let spec = self.scenario_spec(inputs, steps, cleanup, settings, defaults, path)?;
        (self.rep.count() == before).then_some(spec)
    }

    /// The [`ScenarioSpec`] of a scenario or login check: its steps and
    /// the request settings given, or the defaults (`login` is `None`).
    pub(crate) fn scenario_spec(
        &mut self,
        inputs: ScenarioInputs,
        steps: Vec<ScenarioStep>,
        cleanup: Vec<ScenarioStep>,
        settings: RequestSettings,
        defaults: &Defaults,
        path: &str,
    ) -> Option<ScenarioSpec> {
        let tls = self.tls_options(settings.tls.as_ref(), &defaults.tls, &format!("{path}.tls"))?;
        Some(ScenarioSpec {
            inputs,
            steps,
            cleanup,
            max_redirects: settings.max_redirects.unwrap_or(defaults.max_redirects),
            max_body_bytes: settings.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            tls,
            user_agent: settings
                .user_agent
                .unwrap_or_else(|| defaults.user_agent.clone()),
            login: None,
        })
    }

    /// One step; the variables it extracts join `scope` after it.
    pub(crate) fn scenario_step(
        &mut self,
        raw: Spanned<RawStep>,
        index: usize,
        list_path: &str,
        names: &mut HashSet<String>,
        scope: &mut Scope,
        has_base_url: bool,
    ) -> Option<ScenarioStep> {
        let span = raw.span();
        let raw = raw.into_inner();
        let at = self.step_at(&raw.name, index, list_path, names)?;
        let mut ok = true;
        let method = match &raw.method {
            None => ::http::Method::GET,
            Some(m) => {
                match ::http::Method::from_bytes(m.get_ref().to_ascii_uppercase().as_bytes()) {
                    Ok(m) => m,
                    Err(_) => {
                        self.rep.report(
                            m.span(),
                            &format!("{}.method", at.path),
                            format!("{}: invalid HTTP method {:?}", at.label(), m.get_ref()),
                            None,
                        );
                        ok = false;
                        ::http::Method::GET
                    }
                }
            }
        };
        let url = match &raw.url {
            None => {
                self.rep.report(
                    span.clone(),
                    &format!("{}.url", at.path),
                    format!("{}: missing key `url`", at.label()),
                    Some("every step requests a URL, e.g. url = \"/cart\"".into()),
                );
                None
            }
            Some(u) => self.step_url(u, scope, &at, "url", has_base_url),
        };
        let pairs = |table: &Option<Spanned<toml::Table>>, key: &str, this: &mut Self| {
            let mut out = Vec::new();
            let Some(table) = table else { return Some(out) };
            let mut good = true;
            for (name, value) in table.get_ref() {
                let Some(text) = value.as_str() else {
                    this.rep.report(
                        table.span(),
                        &format!("{}.{key}.{name}", at.path),
                        format!("{}: {key} values are strings", at.label()),
                        None,
                    );
                    good = false;
                    continue;
                };
                match this.step_template_str(
                    text,
                    table.span(),
                    scope,
                    &at,
                    &format!("{key}.{name}"),
                ) {
                    Some(t) => out.push((name.clone(), t)),
                    None => good = false,
                }
            }
            good.then_some(out)
        };
        let headers = pairs(&raw.headers, "headers", self);
        let query = pairs(&raw.query, "query", self);
        let form = pairs(&raw.form, "form", self);
        let mut headers_out = Vec::new();
        if let (Some(list), Some(table)) = (headers, &raw.headers) {
            for (name, value) in list {
                match ::http::HeaderName::from_bytes(name.as_bytes()) {
                    Ok(n) => headers_out.push((n, value)),
                    Err(_) => {
                        self.rep.report(
                            table.span(),
                            &format!("{}.headers.{name}", at.path),
                            format!("{}: {name:?} is not a header name", at.label()),
                            None,
                        );
                        ok = false;
                    }
                }
            }
        } else if raw.headers.is_some() {
            ok = false;
        }
        let (json_body, json_assertions) = match raw.json {
            None => (None, Vec::new()),
            Some(j) => {
                let span = j.span();
                match j.into_inner() {
                    RawStepJson::Body(b) => (Some(Spanned::new(span, b.into_inner())), Vec::new()),
                    RawStepJson::Assertions(a) => (None, a),
                }
            }
        };
        let has_json_body = json_body.is_some() || raw.json_body.is_some();
        let json_text = match (json_body, raw.json_body) {
            (Some(_), Some(b)) => {
                self.rep.report(
                    b.span(),
                    &format!("{}.json_body", at.path),
                    format!(
                        "{}: give the JSON body once, as `json` or `json_body`",
                        at.label()
                    ),
                    None,
                );
                ok = false;
                None
            }
            (a, b) => a.or(b),
        };
        let body = match (raw.form.is_some(), json_text) {
            (false, None) => None,
            (true, None) => form.map(StepBody::Form),
            (false, Some(j)) => self
                .step_template(&j, scope, &at, "json")
                .map(StepBody::Json),
            (true, Some(j)) => {
                self.rep.report(
                    j.span(),
                    &format!("{}.json", at.path),
                    format!(
                        "{}: a step sends a form or a JSON body, not both",
                        at.label()
                    ),
                    None,
                );
                None
            }
        };
        if body.is_none() && (raw.form.is_some() || has_json_body) {
            ok = false;
        }
        let expect_status = self.expect_status(
            raw.expect_status.as_ref(),
            &at.path,
            StatusRange {
                low: 200,
                high: 399,
            },
            &mut ok,
        );
        let mut assertions: Vec<StepAssertion> = self
            .body_assertions(
                RawBodyAssertions {
                    contains: raw.contains,
                    not_contains: raw.not_contains,
                    matches: raw.matches,
                    not_matches: raw.not_matches,
                    json: json_assertions,
                },
                &at.path,
                &mut ok,
            )
            .into_iter()
            .map(StepAssertion::Body)
            .collect();
        for (i, css) in raw.css.into_iter().enumerate() {
            let css = css.into_inner();
            match self.css_selector(&css.selector, &at, &format!("css[{i}].selector")) {
                Some(selector) => assertions.push(StepAssertion::Css {
                    selector,
                    text: css.text,
                }),
                None => ok = false,
            }
        }
        let extract = self.extractions(raw.extract, &at);
        let max_time = match raw.max_ms {
            Some(ms) if *ms.get_ref() == 0 => {
                self.rep.report(
                    ms.span(),
                    &format!("{}.max_ms", at.path),
                    format!("{}: max_ms must be positive", at.label()),
                    None,
                );
                ok = false;
                None
            }
            other => other.map(|ms| Duration::from_millis(*ms.get_ref())),
        };
        let (url, extract) = (url?, extract?);
        for e in &extract {
            scope.add(&e.var);
        }
        ok.then(|| ScenarioStep {
            index,
            name: at.name,
            method,
            url,
            headers: headers_out,
            query: query.unwrap_or_default(),
            body,
            expect_status,
            follow_redirects: raw.follow_redirects.unwrap_or(true),
            max_time,
            assertions,
            extract,
        })
    }
}

impl ScenarioSpec {
    /// The `kind` name as written.
    pub fn kind(&self) -> &'static str {
        if self.login.is_some() {
            "login"
        } else {
            "scenario"
        }
    }
}
