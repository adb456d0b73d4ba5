//! `kind = "scenario"`: a customer's walk through a shop, step by step.
//!
//! The steps run in order and share a cookie jar ([`cookies`]) and the
//! variables: the given ones, the secrets and what earlier steps extracted.
//! Each request goes through the `http` probe's machinery
//! ([`crate::http::fetch`]: connect, TLS verification and analysis, bounded
//! head and body, timing breakdown), one hop at a time, so that the jar
//! sees every `Set-Cookie` of a redirect chain. As in a browser, a
//! connection stays open for the run's next request to the same origin
//! ([`KeptConnections`]): a step on a kept connection shows no connect or
//! TLS time, and its record says how many connections it opened. Every hop shares the run's
//! deadline; when there are cleanup steps a fifth of the time is kept for
//! them, and they run whatever happened before.
//!
//! The first failing step ends the walk: its finding names it and says what
//! was expected, its response is kept bounded (4 KiB of body) with cookies,
//! credentials and secret values redacted, and the steps after it are
//! marked skipped. A value that cannot be extracted fails the step that
//! extracts it, so no later request is sent with an empty value. Secret
//! values, and credentials from the moment a step extracts them, are
//! replaced by `[redacted]` in everything the run returns ([`Redactor`]).

mod cookies;

use std::collections::HashMap;
use std::time::Duration;

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri};
use keepup_config::login::TokenExpiry;
use keepup_config::scenario::{
    ExtractFrom, Extraction, RenderError, ScenarioStep, StepAssertion, StepBody,
    json_string_content,
};
use keepup_config::{HttpSpec, ScenarioSpec, StatusRange};
use keepup_model::text::{duration_words, percent_encode};
use keepup_model::{Finding, Outcome, Severity, Status, TimingBreakdown};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::http::{
    Hop, KeptConnections, Page, Redirects, check_assertions, describe_ranges, percent_encode_unsafe,
};
use crate::util::{display_url, ms};
use cookies::CookieJar;

/// Body bytes of the failing step's response kept in the evidence.
const EXCERPT_BYTES: usize = 4096;
/// Response headers of the failing step kept in the evidence.
const MAX_EVIDENCE_HEADERS: usize = 40;
/// Elements nested deeper than this are not parsed (Chromium's parser
/// stops nesting at 512 too).
const MAX_DOM_DEPTH: usize = 512;
/// What replaces a secret or a credential wherever it would be shown.
const REDACTED: &str = "[redacted]";

/// Runs one scenario.
pub async fn probe(spec: &ScenarioSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let budget = ctx.budgeted().budget();
    // End a little before the run's own timeout so that the steps and the
    // evidence come back rather than a bare timeout.
    let margin = (budget.timeout / 50).min(Duration::from_millis(250));
    let end = budget
        .deadline
        .checked_sub(margin)
        .unwrap_or(budget.deadline);
    let remaining = end.saturating_duration_since(started);
    let reserve = if spec.cleanup.is_empty() {
        Duration::ZERO
    } else {
        remaining / 5
    };
    let steps_ctx = ctx.with_deadline(end - reserve, budget.timeout);
    let cleanup_ctx = ctx.with_deadline(end, budget.timeout);

    let mut walk = Walk::new(spec);
    let mut records = Vec::new();
    let mut failure: Option<(usize, String, Failure)> = None;
    for step in &spec.steps {
        if failure.is_some() {
            records.push(skipped(step, None));
            continue;
        }
        let (record, failed) = walk.step(step, &steps_ctx, false).await;
        records.push(record);
        if let Some(f) = failed {
            failure = Some((step.index, step.name.clone(), f));
        }
    }
    let mut cleanup_failures = Vec::new();
    for step in &spec.cleanup {
        let (record, failed) = walk.step(step, &cleanup_ctx, true).await;
        records.push(record);
        if let Some(f) = failed {
            cleanup_failures.push((step, f));
        }
    }

    let mut outcome = Outcome::new(Status::Up, "");
    for finding in walk.warnings.drain(..) {
        outcome.push(finding);
    }
    let mut details = Map::new();
    details.insert("steps".into(), Value::Array(records));
    if let Some((index, name, f)) = failure {
        // People count steps from 1; the evidence's index stays 0-based.
        let message = format!("step {} {name:?} failed: {}", index + 1, f.error);
        // A login check's failure is a failed login, whatever the step.
        let code = if spec.login.is_some() {
            codes::LOGIN_FAILED
        } else {
            f.code
        };
        outcome.push(Finding::new(code, Severity::Critical, message.clone()));
        outcome.worsen(Status::Down);
        outcome.message = message;
        details.insert(
            "failed_step".into(),
            json!({ "index": index, "name": name, "response": f.response }),
        );
    }
    for (step, f) in cleanup_failures {
        outcome.push(Finding::new(
            codes::SCENARIO_CLEANUP_FAILED,
            Severity::Warning,
            format!(
                "cleanup step {} {:?} failed: {}",
                step.index + 1,
                step.name,
                f.error
            ),
        ));
        outcome.worsen(Status::Degraded);
    }
    let expiry = spec.login.as_ref().and_then(|l| l.token_expiry.as_ref());
    if let (Some(expiry), Status::Up) = (expiry, outcome.status)
        && let Some(problem) = token_expiry_problem(expiry, walk.variables.get(&expiry.var))
    {
        outcome.push(Finding::new(
            codes::LOGIN_TOKEN_EXPIRY,
            Severity::Warning,
            problem,
        ));
        outcome.worsen(Status::Degraded);
    }
    if outcome.message.is_empty() {
        outcome.message = match outcome
            .findings
            .iter()
            .find(|f| f.severity > Severity::Info)
        {
            Some(f) => f.text.clone(),
            None if spec.login.is_some() => "logged in".to_owned(),
            None => format!("{} steps passed", spec.steps.len()),
        };
    }
    outcome.evidence.details = details;
    walk.redactor.outcome(&mut outcome);
    outcome.with_latency(started.elapsed())
}

/// Replaces secret values, and their URL- and JSON-encoded forms, by
/// `[redacted]` in everything a run returns. The configured secrets are
/// known from the start; credentials a run extracts (a login's token, an
/// extraction with `secret = true`) join as soon as they are seen, so a
/// response that fails later cannot show them.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so that a secret containing another goes whole.
    forms: Vec<String>,
}

impl Redactor {
    /// A redactor of these secret values.
    pub fn new<'s>(secrets: impl IntoIterator<Item = &'s str>) -> Self {
        let mut redactor = Self::default();
        for secret in secrets {
            redactor.add(secret);
        }
        redactor
    }

    /// Redacts `secret` too from now on.
    pub fn add(&mut self, secret: &str) {
        for form in [
            secret.to_owned(),
            percent_encode(secret),
            json_string_content(secret),
        ] {
            if !form.is_empty() && !self.forms.contains(&form) {
                self.forms.push(form);
            }
        }
        self.forms.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// `text` without any secret.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.forms {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// Every string in `value` (object keys stay) without any secret.
    pub fn value(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = self.text(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.value(v)),
            _ => {}
        }
    }

    /// The message, the findings and the evidence without any secret.
    pub fn outcome(&self, outcome: &mut Outcome) {
        if self.forms.is_empty() {
            return;
        }
        outcome.message = self.text(&outcome.message);
        for finding in &mut outcome.findings {
            finding.text = self.text(&finding.text);
        }
        for value in outcome.evidence.details.values_mut() {
            self.value(value);
        }
    }
}

/// Why a step failed.
struct Failure {
    code: &'static str,
    /// What was expected, without per-run numbers.
    error: String,
    /// The response, bounded and redacted, when there was one.
    response: Option<Value>,
}

impl Failure {
    fn new(code: &'static str, error: impl Into<String>) -> Self {
        Self {
            code,
            error: error.into(),
            response: None,
        }
    }
}

/// A request ready to send.
struct Request {
    method: Method,
    url: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<(String, &'static str)>,
}

/// One run's shared state.
struct Walk<'a> {
    spec: &'a ScenarioSpec,
    variables: HashMap<String, String>,
    jar: CookieJar,
    /// Non-critical findings of the requests (certificate warnings, a
    /// body over the limit), each once.
    warnings: Vec<Finding>,
    /// The secrets, and the credentials extracted so far.
    redactor: Redactor,
    /// The names of the cookies the current step's responses set.
    set_by_step: Vec<String>,
    /// The connections kept open for the next request to their origin.
    connections: KeptConnections,
}

impl<'a> Walk<'a> {
    fn new(spec: &'a ScenarioSpec) -> Self {
        Self {
            spec,
            variables: spec.inputs.variables.iter().cloned().collect(),
            jar: CookieJar::default(),
            warnings: Vec::new(),
            redactor: Redactor::new(spec.inputs.secrets.iter().map(|(_, s)| s.expose())),
            set_by_step: Vec::new(),
            connections: KeptConnections::default(),
        }
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.variables.get(name).map(String::as_str).or_else(|| {
            self.spec
                .inputs
                .secrets
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| s.expose())
        })
    }

    /// Runs `step`: its evidence record and, when it failed, why.
    async fn step(
        &mut self,
        step: &ScenarioStep,
        ctx: &ProbeContext,
        cleanup: bool,
    ) -> (Value, Option<Failure>) {
        let started = Instant::now();
        let mut record = Map::new();
        record.insert("index".into(), step.index.into());
        record.insert("name".into(), step.name.clone().into());
        if cleanup {
            record.insert("cleanup".into(), true.into());
        }
        let request = match self.request(step) {
            Ok(r) => r,
            Err(Unready::Missing(RenderError::Missing(var))) if cleanup => {
                // An earlier failure left it unset: nothing to clean up.
                let mut record = skipped(step, Some(cleanup));
                if let Value::Object(map) = &mut record {
                    map.insert(
                        "error".into(),
                        format!("not run: variable {var:?} has no value").into(),
                    );
                }
                return (record, None);
            }
            Err(e) => {
                let failure = Failure::new(
                    codes::SCENARIO_STEP_FAILED,
                    format!("{e}; nothing was sent"),
                );
                record.insert(
                    "action".into(),
                    format!("{} {}", step.method, step.url).into(),
                );
                record.insert("ok".into(), false.into());
                record.insert("error".into(), failure.error.clone().into());
                return (Value::Object(record), Some(failure));
            }
        };
        record.insert("action".into(), self.action(step, &request).into());
        // max_ms bounds the step while it runs, not only once it is over.
        let bounded;
        let ctx = match step.max_time {
            Some(limit) => {
                let budget = ctx.budget();
                bounded = ctx.with_deadline((started + limit).min(budget.deadline), budget.timeout);
                &bounded
            }
            None => ctx,
        };
        let opened_before = self.connections.opened();
        let (result, timing) = self.send(step, request, ctx).await;
        record.insert(
            "new_connections".into(),
            (self.connections.opened() - opened_before).into(),
        );
        let failure = match result {
            Ok((page, status)) => {
                record.insert("status".into(), status.as_u16().into());
                let elapsed = started.elapsed();
                self.judge(step, &page, status, elapsed, ctx)
                    .await
                    .err()
                    .map(|mut f| {
                        f.response = Some(self.response_evidence(&page));
                        f
                    })
            }
            Err(f) => Some(match self.in_time(step, started.elapsed()) {
                // Cut short by max_ms rather than the check's timeout.
                Err(slow) if f.response.is_none() => slow,
                _ => f,
            }),
        };
        let elapsed = started.elapsed();
        record.insert("ok".into(), failure.is_none().into());
        record.insert("ms".into(), ms(elapsed).into());
        let mut timing = timing.unwrap_or_default();
        timing.total_ms = Some(ms(elapsed));
        record.insert(
            "timing".into(),
            serde_json::to_value(&timing).unwrap_or(Value::Null),
        );
        if let Some(f) = &failure {
            record.insert("error".into(), f.error.clone().into());
        }
        (Value::Object(record), failure)
    }

    /// `GET /product/42`: the method and the URL as the step wrote it,
    /// filled in (redacted later with everything else).
    fn action(&self, step: &ScenarioStep, request: &Request) -> String {
        let written = step
            .url
            .render(|n| self.value(n))
            .unwrap_or_else(|_| step.url.to_string());
        let shown = if written.starts_with('/') {
            request
                .url
                .path_and_query()
                .map_or(written, |p| p.as_str().to_owned())
        } else {
            display_url(&request.url)
        };
        format!("{} {shown}", step.method)
    }

    /// The step's request with its templates filled in.
    fn request(&self, step: &ScenarioStep) -> Result<Request, Unready> {
        let value = |n: &str| self.value(n);
        let mut url = step.url.render(value)?;
        if url.starts_with('/')
            && let Some(base) = &self.spec.inputs.base_url
        {
            let base = base.to_string();
            url = format!("{}{url}", base.trim_end_matches('/'));
        }
        if !step.query.is_empty() {
            let mut pairs = Vec::new();
            for (name, template) in &step.query {
                pairs.push(format!(
                    "{}={}",
                    percent_encode(name),
                    percent_encode(&template.render(value)?)
                ));
            }
            let joiner = if url.contains('?') { '&' } else { '?' };
            url = format!("{url}{joiner}{}", pairs.join("&"));
        }
        // Values may hold spaces or non-ASCII text: escaped as browsers do.
        let url: Uri = percent_encode_unsafe(&url).parse().map_err(|_| {
            Unready::Invalid(format!(
                "{:?} is not a valid URL once filled in",
                step.url.to_string()
            ))
        })?;
        let mut headers = Vec::new();
        for (name, template) in &step.headers {
            let text = template.render(value)?;
            let mut v = HeaderValue::from_str(&text).map_err(|_| {
                Unready::Invalid(format!("header {name} is not a valid value once filled in"))
            })?;
            v.set_sensitive(true);
            headers.push((name.clone(), v));
        }
        let body = match &step.body {
            None => None,
            Some(StepBody::Form(fields)) => {
                let mut pairs = Vec::new();
                for (name, template) in fields {
                    pairs.push(format!(
                        "{}={}",
                        percent_encode(name),
                        percent_encode(&template.render(value)?)
                    ));
                }
                Some((pairs.join("&"), "application/x-www-form-urlencoded"))
            }
            Some(StepBody::Json(template)) => {
                Some((template.render_json(value)?, "application/json"))
            }
        };
        Ok(Request {
            method: step.method.clone(),
            url,
            headers,
            body,
        })
    }

    /// Sends `request`, following redirects when the step does, one hop at
    /// a time through the jar. The final response and its status, and the
    /// timing of all hops added up (a POST answered by a redirect keeps the
    /// POST's phases).
    async fn send(
        &mut self,
        step: &ScenarioStep,
        request: Request,
        ctx: &ProbeContext,
    ) -> (Result<(Page, StatusCode), Failure>, Option<TimingBreakdown>) {
        let Request {
            mut method,
            mut url,
            headers,
            mut body,
        } = request;
        self.set_by_step.clear();
        let origin = origin(&url);
        let mut redirects = Redirects::new(&url, self.spec.max_redirects);
        let mut timing: Option<TimingBreakdown> = None;
        loop {
            let same_origin = origin == crate::scenario::origin(&url);
            let mut hop_headers: Vec<(HeaderName, HeaderValue)> = headers
                .iter()
                .filter(|(name, _)| same_origin || !is_credential(name))
                .cloned()
                .collect();
            if let Some(cookie) = self.jar.header_for(&url)
                && let Ok(mut value) = HeaderValue::from_str(&cookie)
            {
                value.set_sensitive(true);
                hop_headers.push((header::COOKIE, value));
            }
            if let Some((_, content_type)) = &body {
                hop_headers.push((header::CONTENT_TYPE, HeaderValue::from_static(content_type)));
            }
            let hop = HttpSpec {
                url: url.clone(),
                method: method.clone(),
                headers: hop_headers,
                body: body.as_ref().map(|(text, _)| text.clone()),
                basic_auth: None,
                expect_status: vec![StatusRange {
                    low: 100,
                    high: 599,
                }],
                assertions: Vec::new(),
                degraded_latency: None,
                down_latency: None,
                follow_redirects: false,
                max_redirects: 0,
                max_body_bytes: self.spec.max_body_bytes,
                tls: self.spec.tls.clone(),
                user_agent: self.spec.user_agent.clone(),
            };
            let (outcome, page) =
                crate::http::fetch_keeping(&hop, ctx, &mut self.connections).await;
            if let Some(hop) = &outcome.evidence.timing {
                add_timing(timing.get_or_insert_with(TimingBreakdown::default), hop);
            }
            for finding in outcome
                .findings
                .iter()
                .filter(|f| f.severity < Severity::Critical)
            {
                if !self.warnings.contains(finding) {
                    self.warnings.push(finding.clone());
                }
            }
            let Some(page) = page else {
                let why = outcome
                    .findings
                    .iter()
                    .find(|f| f.severity == Severity::Critical)
                    .map_or(outcome.message.clone(), |f| f.text.clone());
                return (Err(Failure::new(codes::SCENARIO_STEP_FAILED, why)), timing);
            };
            let set = self.jar.store(
                &url,
                page.headers
                    .get_all(header::SET_COOKIE)
                    .iter()
                    .map(HeaderValue::as_bytes),
            );
            self.set_by_step.extend(set);
            let status = page.status;
            if !step.follow_redirects {
                return (Ok((page, status)), timing);
            }
            let redirect_failure = |f: Failure, page: &Page| Failure {
                response: Some(self.response_evidence(page)),
                ..f
            };
            match redirects.follow(&url, &method, status, &page.headers) {
                Hop::Final => return (Ok((page, status)), timing),
                Hop::Invalid(why) => {
                    let f = Failure::new(
                        codes::SCENARIO_STEP_FAILED,
                        format!("redirect to an unusable location ({why})"),
                    );
                    return (Err(redirect_failure(f, &page)), timing);
                }
                Hop::Loop { next, .. } => {
                    let f = Failure::new(
                        codes::SCENARIO_REDIRECT_LOOP,
                        format!(
                            "redirect loop: {} leads back to {}",
                            display_url(&url),
                            display_url(&next)
                        ),
                    );
                    return (Err(redirect_failure(f, &page)), timing);
                }
                Hop::TooMany { .. } => {
                    let f = Failure::new(
                        codes::SCENARIO_REDIRECT_LOOP,
                        format!("more than {} redirects", self.spec.max_redirects),
                    );
                    return (Err(redirect_failure(f, &page)), timing);
                }
                Hop::Next {
                    url: next,
                    method: next_method,
                    drop_body,
                    ..
                } => {
                    if drop_body {
                        body = None;
                    }
                    method = next_method;
                    url = next;
                }
            }
        }
    }

    /// The step's expectations on its final response, then its
    /// extractions (which set variables for the steps after it).
    async fn judge(
        &mut self,
        step: &ScenarioStep,
        page: &Page,
        status: StatusCode,
        elapsed: Duration,
        ctx: &ProbeContext,
    ) -> Result<(), Failure> {
        let wrong_status = (!step
            .expect_status
            .iter()
            .any(|r| r.contains(status.as_u16())))
        .then(|| {
            Failure::new(
                codes::SCENARIO_STEP_FAILED,
                format!(
                    "expected status {}, got {}",
                    describe_ranges(&step.expect_status),
                    status.as_u16()
                ),
            )
        });
        // A response that fails may still hold a credential (a token
        // beside a missing field): those are read first, to be redacted.
        let wrong_status = match wrong_status {
            Some(f) if !step.extract.iter().any(|e| e.secret) => return Err(f),
            other => other,
        };
        if step.assertions.is_empty() && step.extract.is_empty() {
            return self.in_time(step, elapsed);
        }
        // Regexes, JSON and HTML parsing of up to max_body_bytes: CPU work.
        let _cpu = ctx.cpu_permit().await;
        let needs_html = step
            .assertions
            .iter()
            .any(|a| matches!(a, StepAssertion::Css { .. }))
            || step
                .extract
                .iter()
                .any(|e| matches!(e.from, ExtractFrom::Css { .. }));
        let text = String::from_utf8_lossy(&page.body);
        if needs_html && nests_deeper_than(&text, MAX_DOM_DEPTH) {
            // html5ever's cost grows with depth times elements: a hostile
            // page of nested tags would hold a CPU worker for minutes.
            return Err(wrong_status.unwrap_or_else(|| {
                Failure::new(
                    codes::SCENARIO_STEP_FAILED,
                    format!(
                        "the page nests elements more than {MAX_DOM_DEPTH} deep; it was not parsed"
                    ),
                )
            }));
        }
        let html = needs_html.then(|| scraper::Html::parse_document(&text));
        let mut json: Option<Option<Value>> = None;
        let mut values = Vec::with_capacity(step.extract.len());
        for extraction in &step.extract {
            let value = self
                .extract_value(extraction, page, html.as_ref(), &text, &mut json)
                .filter(|v| !v.trim().is_empty());
            if let (true, Some(v)) = (extraction.secret, &value) {
                self.redactor.add(v);
            }
            values.push(value);
        }
        if let Some(f) = wrong_status {
            return Err(f);
        }
        self.in_time(step, elapsed)?;
        // Borrowed, not cloned: a cloned regex starts with an empty cache,
        // which its first match allocates and fills again on every run.
        let body_assertions = step.assertions.iter().filter_map(|a| match a {
            StepAssertion::Body(b) => Some(b),
            StepAssertion::Css { .. } => None,
        });
        let (findings, _) = check_assertions(body_assertions, &page.body);
        if let Some(f) = findings.into_iter().next() {
            return Err(Failure::new(codes::SCENARIO_STEP_FAILED, f.text));
        }
        for assertion in &step.assertions {
            let StepAssertion::Css {
                selector,
                text: want,
            } = assertion
            else {
                continue;
            };
            let Some(html) = &html else { continue };
            let found = html.select(selector.selector()).next();
            match (found, want) {
                (None, _) => {
                    return Err(Failure::new(
                        codes::SCENARIO_STEP_FAILED,
                        format!("nothing matches the CSS selector {:?}", selector.as_str()),
                    ));
                }
                (Some(element), Some(want)) if !element_text(&element).contains(want.as_str()) => {
                    return Err(Failure::new(
                        codes::SCENARIO_STEP_FAILED,
                        format!(
                            "the element {:?} does not contain {want:?}",
                            selector.as_str()
                        ),
                    ));
                }
                _ => {}
            }
        }
        for (extraction, value) in step.extract.iter().zip(values) {
            match value {
                Some(v) => {
                    self.variables.insert(extraction.var.clone(), v);
                }
                None => return Err(extract_failed(extraction)),
            }
        }
        Ok(())
    }

    /// Fails a step slower than its `max_ms`.
    fn in_time(&self, step: &ScenarioStep, elapsed: Duration) -> Result<(), Failure> {
        match step.max_time.filter(|limit| elapsed > *limit) {
            Some(limit) => Err(Failure::new(
                codes::SCENARIO_STEP_FAILED,
                format!("slower than max_ms = {}", limit.as_millis()),
            )),
            None => Ok(()),
        }
    }

    /// What `extraction` finds in the response, if anything (`json` is
    /// the body parsed once, on first need).
    fn extract_value(
        &self,
        extraction: &Extraction,
        page: &Page,
        html: Option<&scraper::Html>,
        text: &str,
        json: &mut Option<Option<Value>>,
    ) -> Option<String> {
        match &extraction.from {
            ExtractFrom::Css { selector, attr } => {
                let element = html?.select(selector.selector()).next()?;
                match attr {
                    Some(attr) => element.value().attr(attr).map(str::to_owned),
                    None => Some(element_text(&element)),
                }
            }
            ExtractFrom::Regex(re) => re
                .captures(text)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_owned()),
            ExtractFrom::Json(pointer) => json
                .get_or_insert_with(|| serde_json::from_slice(&page.body).ok())
                .as_ref()
                .and_then(|doc| doc.pointer(pointer))
                .and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    other => Some(other.to_string()),
                }),
            ExtractFrom::Header(name) => page
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            ExtractFrom::Cookie(name) => self.jar.value(name, &page.url).map(str::to_owned),
            ExtractFrom::CookieSet(name) => self
                .set_by_step
                .contains(name)
                .then(|| self.jar.value(name, &page.url))
                .flatten()
                .map(str::to_owned),
        }
    }

    /// The response of a failing step for the evidence: status, URL,
    /// headers with credentials redacted, the start of the body; secret
    /// values are redacted from all of it at the end of the run.
    fn response_evidence(&self, page: &Page) -> Value {
        let mut headers = Map::new();
        for (name, value) in page.headers.iter().take(MAX_EVIDENCE_HEADERS) {
            let shown = if is_credential(name) || name == header::SET_COOKIE {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes())
                    .chars()
                    .take(200)
                    .collect()
            };
            match headers.get_mut(name.as_str()) {
                Some(Value::String(existing)) => {
                    existing.push_str(", ");
                    existing.push_str(&shown);
                }
                _ => {
                    headers.insert(name.as_str().to_owned(), shown.into());
                }
            }
        }
        let end = page.body.len().min(EXCERPT_BYTES);
        let excerpt = String::from_utf8_lossy(&page.body[..end]);
        json!({
            "status": page.status.as_u16(),
            "url": display_url(&page.url),
            "headers": headers,
            "body_excerpt": excerpt.trim_end_matches('\u{fffd}'),
        })
    }
}

/// Adds the phases of `hop` to `total`: each phase a hop had counts.
fn add_timing(total: &mut TimingBreakdown, hop: &TimingBreakdown) {
    for (sum, part) in [
        (&mut total.dns_ms, hop.dns_ms),
        (&mut total.connect_ms, hop.connect_ms),
        (&mut total.tls_ms, hop.tls_ms),
        (&mut total.first_byte_ms, hop.first_byte_ms),
        (&mut total.total_ms, hop.total_ms),
    ] {
        if let Some(part) = part {
            *sum = Some(sum.unwrap_or(0.0) + part);
        }
    }
}

/// What is wrong with a token's `expires_in` (seconds), if anything.
fn token_expiry_problem(expiry: &TokenExpiry, value: Option<&String>) -> Option<String> {
    let range = format!(
        "between {} and {}",
        duration_words(expiry.min),
        duration_words(expiry.max)
    );
    let Some(seconds) = value.and_then(|v| v.trim().parse::<f64>().ok()) else {
        return Some(format!(
            "the token's expires_in is not a number of seconds; expected {range}"
        ));
    };
    let lifetime = Duration::try_from_secs_f64(seconds).unwrap_or_default();
    (lifetime < expiry.min || lifetime > expiry.max).then(|| {
        format!(
            "the token expires in {}, expected {range}",
            duration_words(lifetime)
        )
    })
}

/// Whether the elements of `html` nest deeper than `limit`, by a linear
/// scan of its tags that errs on the deep side of what html5ever builds:
/// a stack of the open elements, where void elements and those whose end
/// tag may be left out (`p`, `li`, table cells…) never enter, `/>` closes
/// only inside SVG or MathML (html5ever ignores it on an HTML `<div/>`),
/// and an end tag pops only when its element is open above every special
/// element (a stray `</span>` closes nothing), as the HTML tree builder
/// does. Comments and the text of `script`, `style`, `textarea` and
/// `title` are skipped.
fn nests_deeper_than(html: &str, limit: usize) -> bool {
    const FLAT: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "tbody",
        "thead", "tfoot", "colgroup", "rb", "rt", "rp", "html", "head", "body",
    ];
    const RAW: &[&str] = &["script", "style", "textarea", "title"];
    const FOREIGN: &[&str] = &["svg", "math"];
    // HTML elements that leave SVG or MathML content: their `/>` is
    // ignored there too.
    const BREAKOUT: &[&str] = &[
        "b",
        "big",
        "blockquote",
        "center",
        "code",
        "div",
        "dl",
        "em",
        "font",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "i",
        "listing",
        "menu",
        "nobr",
        "ol",
        "pre",
        "ruby",
        "s",
        "small",
        "span",
        "strong",
        "strike",
        "sub",
        "sup",
        "table",
        "tt",
        "u",
        "ul",
        "var",
    ];
    // The "special" elements an unmatched end tag does not close through
    // (those of them that can be on the stack here).
    const SPECIAL: &[&str] = &[
        "address",
        "applet",
        "article",
        "aside",
        "blockquote",
        "button",
        "caption",
        "center",
        "details",
        "dialog",
        "dir",
        "div",
        "dl",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "frameset",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "iframe",
        "listing",
        "main",
        "marquee",
        "menu",
        "nav",
        "noembed",
        "noframes",
        "noscript",
        "object",
        "ol",
        "plaintext",
        "pre",
        "search",
        "section",
        "select",
        "summary",
        "table",
        "template",
        "ul",
        "xmp",
        "svg",
        "math",
    ];
    let bytes = html.as_bytes();
    let mut open: Vec<String> = Vec::new();
    let mut foreign = 0usize; // svg and math elements open
    let mut at = 0;
    while let Some(offset) = html[at..].find('<') {
        let start = at + offset + 1;
        if html[start..].starts_with("!--") {
            at = html[start..]
                .find("-->")
                .map_or(html.len(), |end| start + end + 3);
            continue;
        }
        let closing = bytes.get(start) == Some(&b'/');
        let name_start = start + usize::from(closing);
        let name_len = bytes[name_start.min(bytes.len())..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let Some(tag_end) = html[name_start..].find('>').map(|end| name_start + end) else {
            break;
        };
        at = tag_end + 1;
        if name_len == 0 {
            continue; // <!doctype>, <?xml?>, a stray '<'
        }
        let name = html[name_start..name_start + name_len].to_ascii_lowercase();
        if FLAT.contains(&name.as_str()) {
            continue;
        }
        if closing {
            for i in (0..open.len()).rev() {
                if open[i] == name {
                    foreign -= open[i..]
                        .iter()
                        .filter(|n| FOREIGN.contains(&n.as_str()))
                        .count();
                    open.truncate(i);
                    break;
                }
                if SPECIAL.contains(&open[i].as_str()) {
                    break;
                }
            }
            continue;
        }
        let is_foreign = FOREIGN.contains(&name.as_str());
        let self_closes = (foreign > 0 && !BREAKOUT.contains(&name.as_str())) || is_foreign;
        if self_closes && html[..tag_end].ends_with('/') {
            continue;
        }
        if RAW.contains(&name.as_str()) {
            at = end_tag(html, at, &name).unwrap_or(html.len());
            continue;
        }
        foreign += usize::from(is_foreign);
        open.push(name);
        if open.len() > limit {
            return true;
        }
    }
    false
}

/// Where the end tag `</name` (any case) starts in `html` from `from`.
fn end_tag(html: &str, from: usize, name: &str) -> Option<usize> {
    let mut at = from;
    while let Some(offset) = html[at..].find("</") {
        let pos = at + offset;
        let after = &html.as_bytes()[pos + 2..];
        if after.len() >= name.len() && after[..name.len()].eq_ignore_ascii_case(name.as_bytes()) {
            return Some(pos);
        }
        at = pos + 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_deep_nesting_counts_as_deep() {
        let shop = "<!doctype html><html><head><title>a < b</title><script>for(;;){'<div><div>'}</script></head>\
            <body><ul><li>one<li>two</ul><p>text<p>more<br><img src=x><div class=\"c\"><span/></div></body></html>";
        assert!(!nests_deeper_than(shop, 3));
        assert!(nests_deeper_than(&"<div>".repeat(5), 4));
        assert!(!nests_deeper_than(&"<div></div>".repeat(1000), 4));
        assert!(!nests_deeper_than(&"<p>".repeat(1000), 4));
        let hidden = format!(
            "<!-- {} --><SCRIPT>{}</Script>",
            "<div>".repeat(10),
            "<div>".repeat(10)
        );
        assert!(!nests_deeper_than(&hidden, 4));
        assert!(!nests_deeper_than("<div", 0));
    }

    #[test]
    fn a_self_closed_div_or_a_stray_end_tag_still_nests() {
        // html5ever opens a div at each "<div/>" and closes nothing at a
        // "</span>" with no span open: both nest 1,000 deep.
        assert!(nests_deeper_than(&"<div/>".repeat(1000), 4));
        assert!(nests_deeper_than(&"<div></span>".repeat(1000), 4));
        // Nor does an end tag close through a special element.
        assert!(nests_deeper_than(&"<div><section></div>".repeat(1000), 4));
        // An SVG's self-closing shapes do not nest, and a span left open
        // inside a div is closed with it.
        let icon = format!("<svg>{}</svg>", "<path d=\"M0\"/>".repeat(1000));
        assert!(!nests_deeper_than(&icon.repeat(3), 4));
        assert!(!nests_deeper_than(&"<div><span>x</div>".repeat(1000), 4));
        // But an HTML element inside an SVG is HTML again.
        assert!(nests_deeper_than(
            &format!("<svg>{}", "<div/>".repeat(1000)),
            4
        ));
    }
}

/// Why a step's request could not be made; nothing is sent.
#[derive(Debug, thiserror::Error)]
enum Unready {
    #[error(transparent)]
    Missing(#[from] RenderError),
    #[error("{0}")]
    Invalid(String),
}

/// The record of a step that did not run.
fn skipped(step: &ScenarioStep, cleanup: Option<bool>) -> Value {
    let mut record = json!({
        "index": step.index,
        "name": step.name,
        "action": format!("{} {}", step.method, step.url),
        "ok": false,
        "skipped": true,
    });
    if let (Some(true), Value::Object(map)) = (cleanup, &mut record) {
        map.insert("cleanup".into(), true.into());
    }
    record
}

fn extract_failed(extraction: &Extraction) -> Failure {
    Failure::new(
        codes::SCENARIO_EXTRACT_FAILED,
        format!(
            "could not extract {:?}: {} found nothing",
            extraction.var, extraction.from
        ),
    )
}

/// An element's text, whitespace collapsed.
fn element_text(element: &scraper::ElementRef<'_>) -> String {
    element
        .text()
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_credential(name: &HeaderName) -> bool {
    name == header::AUTHORIZATION || name == header::COOKIE || name == header::PROXY_AUTHORIZATION
}

/// Scheme, lowercase host and port: where credentials may go.
fn origin(url: &Uri) -> (Option<String>, Option<String>, Option<u16>) {
    (
        url.scheme_str().map(str::to_owned),
        url.host().map(str::to_ascii_lowercase),
        url.port_u16().or(match url.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        }),
    )
}
