//! `kind = "browser"`: a scenario walked in a real headless Chromium,
//! driven over the DevTools protocol by our own small client ([`cdp`]).
//!
//! A run takes a turn among `[browser] max_concurrent`, gets the shared
//! browser from the [`pool`] (started on first use, started again after it
//! died), opens a page in a context of its own and runs the steps in
//! order: the first failing step ends the steps and names itself in the
//! outcome's message (`step 3 "add to cart" failed: ...`); later steps are
//! marked skipped; cleanup steps run anyway. After the steps the run reads
//! the page's navigation timing and largest contentful paint, turns the
//! console errors and failed requests it saw into findings, and on a
//! failure takes a JPEG screenshot, handed to the recorder as an
//! [`keepup_model::Attachment`] (never inside the evidence).
//!
//! Time: the check's timeout covers everything. The steps get it less a
//! reserve (a fifth, 1 to 5 s) in which the screenshot, the page timings and
//! the closing happen, so even a page stuck in an endless script ends as a
//! `BROWSER_PAGE_TIMEOUT` finding with its evidence rather than as a bare
//! probe timeout; a page that does not close is killed with its browser.
//! Secrets are typed into the page and nowhere else: every text of the
//! outcome is scrubbed of their values.

mod cdp;
mod pool;

use std::collections::BTreeMap;
use std::time::Duration;

use keepup_config::browser::{BrowserAction, BrowserSpec, BrowserStep, ScreenshotPolicy};
use keepup_config::scenario::{ExtractFrom, Extraction, RenderError, Template};
use keepup_model::{Attachment, Finding, Outcome, Severity, Status};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::scenario::Redactor;
use cdp::{CdpError, clip};
use pool::{BrowserPool, Page};

/// The largest screenshot kept; a bigger one is dropped (and said so in
/// the evidence) rather than stored.
pub const MAX_SCREENSHOT_BYTES: usize = 512 * 1024;

/// JPEG quality of screenshots: small files, readable text.
const SCREENSHOT_QUALITY: u32 = 60;

/// How often a waiting step looks at the page again.
const POLL: Duration = Duration::from_millis(100);

/// How long the network must be quiet for `wait_for = "network_idle"`.
const NETWORK_QUIET: Duration = Duration::from_millis(500);

/// How long a click waits for the navigation it may start to begin.
const CLICK_SETTLE: Duration = Duration::from_millis(300);

/// How long a page may take to answer one question (an element's place,
/// its text) before it counts as no longer answering: a script running
/// without end holds the page's only thread.
const ANSWER_WINDOW: Duration = Duration::from_secs(5);

/// Longest text kept from an evaluated expression or an extracted value.
const MAX_VALUE_CHARS: usize = 4096;

/// Runs a browser check once.
pub async fn probe(spec: &BrowserSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let budget = ctx.budget();
    let reserve = (budget.timeout / 5).clamp(Duration::from_secs(1), Duration::from_secs(5));
    let end = budget
        .deadline
        .checked_sub(reserve)
        .filter(|d| *d > started)
        .unwrap_or(started);
    // Cleanup keeps its own fifth, so a step that waits out its whole
    // budget still leaves the cart to be emptied.
    let cleanup_slice = if spec.cleanup.is_empty() {
        Duration::ZERO
    } else {
        end.saturating_duration_since(started) / 5
    };
    let steps_deadline = end - cleanup_slice;
    let pool = ctx.kind_state::<BrowserPool>();
    let max = spec.settings.max_concurrent;
    let Some(_turn) = pool.turn(max, steps_deadline).await else {
        return unavailable(
            spec,
            format!("no turn among the {max} browser checks allowed at once ([browser] max_concurrent) came before the timeout"),
        )
        .with_latency(started.elapsed());
    };
    let browser = match pool
        .browser(&spec.settings.executable, steps_deadline)
        .await
    {
        Ok(browser) => browser,
        Err(e) => return unavailable(spec, e.to_string()).with_latency(started.elapsed()),
    };
    let page = match Page::open(browser, spec.viewport, steps_deadline).await {
        Ok(page) => page,
        Err(e) => {
            return unavailable(spec, format!("the browser did not open a page: {e}"))
                .with_latency(started.elapsed());
        }
    };
    let mut run = Run::new(spec, page);
    let outcome = run.run(steps_deadline, end, budget.deadline).await;
    // The page closes in its own task with its own timeout (killing the
    // browser when that passes), so closing never costs this check its
    // deadline and a close cut short cannot leave the context behind.
    drop(run);
    outcome.with_latency(started.elapsed())
}

/// Unknown with `BROWSER_UNAVAILABLE`: the check could not run at all.
fn unavailable(spec: &BrowserSpec, why: String) -> Outcome {
    let why = redactor(spec).text(&why);
    let mut outcome = Outcome::new(Status::Unknown, "the browser is not available");
    outcome.push(Finding::new(
        codes::BROWSER_UNAVAILABLE,
        Severity::Warning,
        format!("the browser check could not run: {why}"),
    ));
    outcome
}

/// Why a step failed.
struct StepFailure {
    code: &'static str,
    message: String,
}

impl StepFailure {
    fn step(message: impl Into<String>) -> Self {
        Self {
            code: codes::SCENARIO_STEP_FAILED,
            message: message.into(),
        }
    }
    fn timeout(message: impl Into<String>) -> Self {
        Self {
            code: codes::BROWSER_PAGE_TIMEOUT,
            message: message.into(),
        }
    }
}

/// What waiting on a page condition ended in.
enum Waited<T> {
    Done(T),
    /// The condition did not hold before the deadline.
    NotYet,
    /// The page stopped answering (a script running without end).
    Unresponsive,
    /// The page or the browser is gone.
    Gone,
}

/// One run's state.
struct Run<'s> {
    spec: &'s BrowserSpec,
    page: Page,
    variables: BTreeMap<String, String>,
    steps: Vec<Value>,
    /// The page stopped answering: nothing more is asked of it.
    unresponsive: bool,
    /// When the steps must end, whatever a step's own `max_ms`.
    steps_deadline: Instant,
    /// The scenario engine's redaction of the secrets, in their plain,
    /// percent- and JSON-encoded forms.
    redactor: Redactor,
    /// A secret was typed into a field that shows it (not a password
    /// field): a screenshot could show it, so none is taken.
    secret_shown: bool,
}

impl<'s> Run<'s> {
    fn new(spec: &'s BrowserSpec, page: Page) -> Self {
        Self {
            spec,
            page,
            variables: spec.inputs.variables.iter().cloned().collect(),
            steps: Vec::new(),
            unresponsive: false,
            steps_deadline: Instant::now(),
            redactor: redactor(spec),
            secret_shown: false,
        }
    }

    async fn run(
        &mut self,
        steps_deadline: Instant,
        cleanup_deadline: Instant,
        deadline: Instant,
    ) -> Outcome {
        let spec = self.spec;
        self.steps_deadline = steps_deadline;
        let mut failed: Option<(usize, &BrowserStep, StepFailure)> = None;
        for (index, step) in spec.steps.iter().enumerate() {
            if failed.is_some() {
                self.steps.push(json!({ "index": index, "name": step.name,
                    "action": step.action.describe(), "skipped": true }));
                continue;
            }
            if let Err(failure) = self.step(index, step, steps_deadline, false).await {
                failed = Some((index, step, failure));
            }
        }
        let mut evidence = serde_json::Map::new();
        let mut attachments = Vec::new();
        if let Some((index, step, _)) = &failed {
            let url = self.current_url(deadline).await;
            evidence.insert(
                "failed_step".into(),
                json!({ "index": index, "name": step.name, "url": url }),
            );
            if spec.screenshot == ScreenshotPolicy::OnFailure && self.secret_shown {
                evidence.insert(
                    "screenshot_missing".into(),
                    Value::String("a step typed a secret into a field that shows it (not a password field), so no screenshot was taken".into()),
                );
            } else if spec.screenshot == ScreenshotPolicy::OnFailure {
                match self.screenshot(deadline).await {
                    Ok(bytes) => attachments.push(Attachment {
                        mime: "image/jpeg".into(),
                        bytes,
                    }),
                    Err(why) => {
                        evidence.insert("screenshot_missing".into(), Value::String(why));
                    }
                }
            }
        }
        let timing = self.page_timing(deadline).await;
        let mut cleanup_failed = None;
        self.steps_deadline = cleanup_deadline;
        for (index, step) in spec.cleanup.iter().enumerate() {
            if let Err(failure) = self.step(index, step, cleanup_deadline, true).await
                && cleanup_failed.is_none()
            {
                cleanup_failed = Some((index, step, failure));
            }
        }
        let (console, console_count, requests, request_count, untracked) =
            self.page.events.with(|s| {
                (
                    s.console_errors.clone(),
                    s.console_error_count,
                    s.failed_requests.clone(),
                    s.failed_request_count,
                    s.untracked_requests,
                )
            });
        let mut browser = timing;
        if untracked > 0 {
            browser.insert("untracked_requests".into(), json!(untracked));
        }
        browser.insert("console_errors".into(), json!(console));
        browser.insert("failed_requests".into(), json!(requests));
        evidence.insert("browser".into(), Value::Object(browser));
        evidence.insert(
            "steps".into(),
            Value::Array(std::mem::take(&mut self.steps)),
        );

        let mut outcome = match &failed {
            None => Outcome::new(
                Status::Up,
                format!("{} browser steps passed", spec.steps.len()),
            ),
            Some((index, step, failure)) => {
                let text = format!(
                    "step {} {:?} failed: {}",
                    index + 1,
                    step.name,
                    failure.message
                );
                let mut outcome = Outcome::new(Status::Down, self.redactor.text(&text));
                outcome.push(Finding::new(
                    failure.code,
                    Severity::Critical,
                    self.redactor.text(&text),
                ));
                outcome
            }
        };
        if let Some((index, step, failure)) = cleanup_failed {
            let text = format!(
                "cleanup step {} {:?} failed: {}",
                index + 1,
                step.name,
                failure.message
            );
            outcome.push(Finding::new(
                codes::SCENARIO_CLEANUP_FAILED,
                Severity::Warning,
                self.redactor.text(&text),
            ));
        }
        for (code, count, first, what) in [
            (
                codes::BROWSER_CONSOLE_ERROR,
                console_count,
                console.first(),
                "console error(s)",
            ),
            (
                codes::BROWSER_REQUEST_FAILED,
                request_count,
                requests.first(),
                "request(s) failed",
            ),
        ] {
            if count > 0 {
                let first = first.map_or("", String::as_str);
                let text = format!("{count} {what}, the first: {first}");
                outcome.push(Finding::new(
                    code,
                    Severity::Warning,
                    self.redactor.text(&text),
                ));
            }
        }
        outcome.evidence.details = evidence;
        self.redactor.outcome(&mut outcome);
        outcome.attachments = attachments;
        outcome
    }

    /// Runs one step and records it in the evidence.
    async fn step(
        &mut self,
        index: usize,
        step: &BrowserStep,
        steps_deadline: Instant,
        cleanup: bool,
    ) -> Result<(), StepFailure> {
        let started = Instant::now();
        let deadline = match step.max_ms {
            Some(ms) => steps_deadline.min(started + Duration::from_millis(ms)),
            None => steps_deadline,
        };
        let mut entry = json!({ "index": index, "name": step.name,
                                "action": step.action.describe() });
        if cleanup {
            entry["cleanup"] = Value::Bool(true);
        }
        let result = if self.unresponsive {
            Err(StepFailure::timeout("the page had stopped answering"))
        } else if deadline <= started {
            Err(StepFailure::timeout("no time was left for it"))
        } else {
            self.act(step, deadline, &mut entry).await
        };
        let result = match result {
            Ok(()) => self.extract(&step.extract).await,
            Err(e) => Err(e),
        };
        let elapsed = started.elapsed();
        let result = match (result, step.max_ms) {
            (Ok(()), Some(ms)) if elapsed > Duration::from_millis(ms) => {
                Err(StepFailure::step(format!("took longer than max_ms = {ms}")))
            }
            (Err(e), Some(ms))
                if deadline < steps_deadline && Instant::now() + POLL >= deadline =>
            {
                // The step's own limit ran out while waiting.
                Err(StepFailure::step(format!(
                    "{} (max_ms = {ms} ran out)",
                    e.message
                )))
            }
            (other, _) => other,
        };
        entry["ms"] = json!((elapsed.as_secs_f64() * 1e4).round() / 10.0);
        entry["ok"] = Value::Bool(result.is_ok());
        if let Err(e) = &result {
            entry["error"] = Value::String(e.message.clone());
        }
        self.steps.push(entry);
        result
    }

    /// A template's text with the current variables and secrets.
    fn render(&self, template: &Template) -> Result<String, StepFailure> {
        template
            .render(|name| {
                self.variables
                    .get(name)
                    .map(String::as_str)
                    .or_else(|| {
                        self.spec
                            .inputs
                            .secrets
                            .iter()
                            .find(|(n, _)| n == name)
                            .map(|(_, s)| s.expose())
                    })
            })
            .map_err(|RenderError::Missing(missing)| StepFailure {
                code: codes::SCENARIO_EXTRACT_FAILED,
                message: format!("the variable {missing} has no value (its extraction failed), so the step did not run"),
            })
    }

    async fn act(
        &mut self,
        step: &BrowserStep,
        deadline: Instant,
        entry: &mut Value,
    ) -> Result<(), StepFailure> {
        match &step.action {
            BrowserAction::Goto(url) => {
                let url = resolve_url(self.spec.inputs.base_url.as_ref(), &self.render(url)?)?;
                entry["url"] = Value::String(url.clone());
                self.goto(&url, deadline, entry).await
            }
            BrowserAction::Click(selector) => self.click(selector.as_str(), deadline).await,
            BrowserAction::Fill { selector, value } => {
                let value = self.render(value)?;
                let has_secret = self.redactor.text(&value) != value;
                let shown = self.fill(selector.as_str(), &value, deadline).await?;
                self.secret_shown |= has_secret && shown;
                Ok(())
            }
            BrowserAction::Select { selector, value } => {
                let value = self.render(value)?;
                self.select(selector.as_str(), &value, deadline).await
            }
            BrowserAction::WaitFor(selector) => {
                let selector = selector.as_str();
                let script = format!("!!document.querySelector({})", js(selector));
                match self.wait_true(&script, deadline).await {
                    Waited::Done(()) => Ok(()),
                    Waited::NotYet => Err(StepFailure::step(format!(
                        "no element matches {selector:?}"
                    ))),
                    other => Err(self.lost(other)),
                }
            }
            BrowserAction::WaitForText(text) => {
                let text = self.render(text)?;
                let script = format!(
                    "!!document.body && document.body.innerText.includes({})",
                    js(&text)
                );
                match self.wait_true(&script, deadline).await {
                    Waited::Done(()) => Ok(()),
                    Waited::NotYet => Err(StepFailure::step(format!(
                        "the text {text:?} did not appear"
                    ))),
                    other => Err(self.lost(other)),
                }
            }
            BrowserAction::NetworkIdle => self.network_idle(deadline).await,
            BrowserAction::AssertText { text, selector } => {
                let text = self.render(text)?;
                let selector = selector.as_ref().map(|s| s.as_str());
                let script = match selector {
                    Some(s) => format!(
                        "(() => {{ const e = document.querySelector({}); return e ? e.innerText : null; }})()",
                        js(s)
                    ),
                    None => "document.body ? document.body.innerText : ''".to_owned(),
                };
                match self.evaluate(&script, self.answer_by()).await {
                    Waited::Done(Value::String(found)) if found.contains(&text) => Ok(()),
                    Waited::Done(Value::String(_)) => Err(StepFailure::step(match selector {
                        Some(s) => format!("{s:?} does not contain {text:?}"),
                        None => format!("the page does not contain {text:?}"),
                    })),
                    Waited::Done(_) => Err(StepFailure::step(format!(
                        "no element matches {:?}",
                        selector.unwrap_or("body")
                    ))),
                    other => Err(self.lost(other)),
                }
            }
            BrowserAction::Evaluate { expression, equals } => {
                let expression = self.render(expression)?;
                let script = format!(
                    "(async () => {{ const v = await ({expression}); return v === undefined ? 'undefined' : (typeof v === 'string' ? v : JSON.stringify(v)); }})().then(s => String(s).slice(0, {MAX_VALUE_CHARS}))"
                );
                let value = match self.evaluate(&script, self.answer_by()).await {
                    Waited::Done(Value::String(v)) => v,
                    Waited::Done(other) => other.to_string(),
                    other => return Err(self.lost(other)),
                };
                entry["value"] = Value::String(clip(&value, 200));
                match equals {
                    Some(expected) => {
                        let expected = self.render(expected)?;
                        if value == expected {
                            Ok(())
                        } else {
                            Err(StepFailure::step(format!(
                                "the expression gave {:?}, expected {expected:?}",
                                clip(&value, 200)
                            )))
                        }
                    }
                    None => Ok(()),
                }
            }
            BrowserAction::Extract => Ok(()),
        }
    }

    /// The failure for a page that stopped answering or went away.
    fn lost<T>(&mut self, waited: Waited<T>) -> StepFailure {
        match waited {
            Waited::Gone => StepFailure::timeout("the page or the browser went away"),
            Waited::NotYet => {
                StepFailure::timeout("the page did not answer before the steps' time ran out")
            }
            Waited::Done(_) | Waited::Unresponsive => {
                self.unresponsive = true;
                StepFailure::timeout("the page stopped answering (a script that does not end?)")
            }
        }
    }

    async fn goto(
        &mut self,
        url: &str,
        deadline: Instant,
        entry: &mut Value,
    ) -> Result<(), StepFailure> {
        let loads_before = self.page.events.with(|s| s.loads);
        self.page.events.with(|_| ());
        let navigated = self
            .page
            .call("Page.navigate", json!({ "url": url }), deadline)
            .await;
        match navigated {
            Ok(answer) => {
                if let Some(error) = answer["errorText"].as_str().filter(|e| !e.is_empty()) {
                    return Err(StepFailure::step(format!("cannot open {url}: {error}")));
                }
            }
            Err(CdpError::Timeout) => {
                return Err(StepFailure::timeout(format!("{url} did not answer")));
            }
            Err(e) => return Err(StepFailure::timeout(format!("cannot open {url}: {e}"))),
        }
        let loaded = self
            .wait_state(deadline, |s| (s.loads > loads_before).then_some(()))
            .await;
        let status = self.page.events.with(|s| s.main_status);
        if let Some(status) = status {
            entry["status"] = json!(status);
        }
        match loaded {
            Waited::Done(()) => {}
            Waited::NotYet => {
                return Err(StepFailure::timeout(format!(
                    "{url} did not finish loading"
                )));
            }
            other => return Err(self.lost(other)),
        }
        if let Some(timing) = self.document_timing().await {
            entry["timing"] = timing;
        }
        match status {
            Some(status) if status >= 400 => {
                Err(StepFailure::step(format!("{url} answered HTTP {status}")))
            }
            _ => Ok(()),
        }
    }

    /// Where the time of the page's document request went, in the fields
    /// of the `http` probe's [`keepup_model::TimingBreakdown`] (from the
    /// page's navigation timing; a phase that did not happen is absent).
    async fn document_timing(&mut self) -> Option<Value> {
        let script = "(() => { const n = performance.getEntriesByType('navigation')[0]; if (!n) return null; \
            const d = (a, b) => (a > 0 && b >= a) ? Math.round((b - a) * 10) / 10 : null; \
            const tls = n.secureConnectionStart > 0; \
            return { dns_ms: d(n.domainLookupStart, n.domainLookupEnd), \
              connect_ms: d(n.connectStart, tls ? n.secureConnectionStart : n.connectEnd), \
              tls_ms: tls ? d(n.secureConnectionStart, n.connectEnd) : null, \
              first_byte_ms: d(n.requestStart, n.responseStart), \
              total_ms: n.loadEventEnd > 0 ? Math.round(n.loadEventEnd * 10) / 10 : null }; })()";
        match self.evaluate(script, self.answer_by()).await {
            Waited::Done(v @ Value::Object(_)) => {
                serde_json::from_value::<keepup_model::TimingBreakdown>(v)
                    .ok()
                    .and_then(|t| serde_json::to_value(t).ok())
            }
            _ => None,
        }
    }

    /// The centre of the element `selector` matches once it is visible,
    /// scrolled into view.
    async fn element_centre(
        &mut self,
        selector: &str,
        deadline: Instant,
    ) -> Result<(f64, f64), StepFailure> {
        let script = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return null; \
             e.scrollIntoView({{block: 'center', inline: 'center'}}); \
             const r = e.getBoundingClientRect(); \
             return r.width > 0 && r.height > 0 ? [r.left + r.width / 2, r.top + r.height / 2] : null; }})()",
            js(selector)
        );
        let found = self
            .wait_value(&script, deadline, |v| {
                let x = v.get(0)?.as_f64()?;
                let y = v.get(1)?.as_f64()?;
                Some((x, y))
            })
            .await;
        match found {
            Waited::Done(centre) => Ok(centre),
            Waited::NotYet => Err(StepFailure::step(format!(
                "no visible element matches {selector:?}"
            ))),
            other => Err(self.lost(other)),
        }
    }

    async fn click(&mut self, selector: &str, deadline: Instant) -> Result<(), StepFailure> {
        let (x, y) = self.element_centre(selector, deadline).await?;
        let started_before = self.page.events.with(|s| s.main_started);
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            let event = json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 });
            match self
                .page
                .call("Input.dispatchMouseEvent", event, self.answer_by())
                .await
            {
                Ok(_) => {}
                Err(CdpError::Protocol(e)) => {
                    return Err(StepFailure::step(format!("cannot click {selector:?}: {e}")));
                }
                Err(CdpError::Timeout) => return Err(self.lost(Waited::<()>::Unresponsive)),
                Err(_) => return Err(self.lost(Waited::<()>::Gone)),
            }
        }
        // A click that starts a navigation (a submit button, a link) ends
        // when the new document has loaded, so the next step sees it.
        let settle = deadline.min(Instant::now() + CLICK_SETTLE);
        let navigating = self
            .wait_state(settle, |s| (s.main_started > started_before).then_some(()))
            .await;
        if let Waited::Done(()) = navigating {
            match self
                .wait_state(deadline, |s| (!s.main_loading).then_some(()))
                .await
            {
                Waited::Done(()) => {}
                Waited::NotYet => {
                    return Err(StepFailure::timeout(
                        "the page the click opened did not finish loading",
                    ));
                }
                other => return Err(self.lost(other)),
            }
        }
        Ok(())
    }

    async fn fill(
        &mut self,
        selector: &str,
        value: &str,
        deadline: Instant,
    ) -> Result<bool, StepFailure> {
        self.element_centre(selector, deadline).await?;
        // Answers whether the field shows what is typed (anything but a
        // password field), or null when it cannot take input.
        let focus = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return null; e.focus(); \
             if ('value' in e) {{ e.value = ''; e.dispatchEvent(new Event('input', {{bubbles: true}})); }} \
             return document.activeElement === e ? e.type !== 'password' : null; }})()",
            js(selector)
        );
        let shown = match self.evaluate(&focus, self.answer_by()).await {
            Waited::Done(Value::Bool(shown)) => shown,
            Waited::Done(_) => {
                return Err(StepFailure::step(format!("{selector:?} cannot take input")));
            }
            other => return Err(self.lost(other)),
        };
        // Typed as text input, so the page's own listeners see it as a
        // person's typing.
        if let Err(e) = self
            .page
            .call(
                "Input.insertText",
                json!({ "text": value }),
                self.answer_by(),
            )
            .await
        {
            return Err(match e {
                CdpError::Timeout => self.lost(Waited::<()>::Unresponsive),
                _ => self.lost(Waited::<()>::Gone),
            });
        }
        let changed = format!(
            "(() => {{ const e = document.querySelector({}); \
             if (e) e.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()",
            js(selector)
        );
        match self.evaluate(&changed, self.answer_by()).await {
            Waited::Done(_) => Ok(shown),
            other => Err(self.lost(other)),
        }
    }

    async fn select(
        &mut self,
        selector: &str,
        value: &str,
        deadline: Instant,
    ) -> Result<(), StepFailure> {
        self.element_centre(selector, deadline).await?;
        let script = format!(
            "(() => {{ const e = document.querySelector({}); const v = {}; \
             if (!e || !e.options) return 'not a select'; \
             if (![...e.options].some(o => o.value === v)) return 'no option'; \
             e.value = v; e.dispatchEvent(new Event('input', {{bubbles: true}})); \
             e.dispatchEvent(new Event('change', {{bubbles: true}})); return 'ok'; }})()",
            js(selector),
            js(value)
        );
        match self.evaluate(&script, self.answer_by()).await {
            Waited::Done(Value::String(s)) if s == "ok" => Ok(()),
            Waited::Done(Value::String(s)) if s == "no option" => Err(StepFailure::step(format!(
                "{selector:?} has no option with that value"
            ))),
            Waited::Done(_) => Err(StepFailure::step(format!(
                "{selector:?} is not a select element"
            ))),
            other => Err(self.lost(other)),
        }
    }

    async fn network_idle(&mut self, deadline: Instant) -> Result<(), StepFailure> {
        let quiet = self
            .wait_state(deadline, |s| {
                let since = s.network_changed.map_or(NETWORK_QUIET, |t| t.elapsed());
                (s.in_flight.is_empty() && since >= NETWORK_QUIET).then_some(())
            })
            .await;
        match quiet {
            Waited::Done(()) => Ok(()),
            Waited::NotYet => {
                let open = self.page.events.with(|s| {
                    s.in_flight
                        .values()
                        .next()
                        .map(|u| clip(u, 200))
                        .unwrap_or_default()
                });
                Err(StepFailure::timeout(format!(
                    "the network did not become idle (still loading {open})"
                )))
            }
            other => Err(self.lost(other)),
        }
    }

    async fn extract(&mut self, extracts: &[Extraction]) -> Result<(), StepFailure> {
        for e in extracts {
            // The loader accepts only css extractions for a browser step.
            let ExtractFrom::Css { selector, attr } = &e.from else {
                continue;
            };
            let read = match attr {
                Some(attr) => format!("e.getAttribute({})", js(attr)),
                None => "e.textContent.trim()".to_owned(),
            };
            let script = format!(
                "(() => {{ const e = document.querySelector({}); if (!e) return null; const v = {read}; \
                 return v === null ? null : String(v).slice(0, {MAX_VALUE_CHARS}); }})()",
                js(selector.as_str())
            );
            let what = format!("{} from {}", e.var, e.from);
            match self.evaluate(&script, self.answer_by()).await {
                Waited::Done(Value::String(v)) if !v.is_empty() => {
                    if e.secret {
                        // From now on redacted wherever it shows up, like a
                        // configured secret (the HTTP engine does the same).
                        self.redactor.add(&v);
                    }
                    self.variables.insert(e.var.clone(), v);
                }
                Waited::Done(_) => {
                    self.variables.remove(&e.var);
                    return Err(StepFailure {
                        code: codes::SCENARIO_EXTRACT_FAILED,
                        message: format!("extracting {what} found nothing"),
                    });
                }
                other => return Err(self.lost(other)),
            }
        }
        Ok(())
    }

    /// How long the page may take to answer one question during the
    /// steps: [`ANSWER_WINDOW`], not past the steps' end. Independent of a
    /// step's `max_ms`, so a question cut short by a step's own limit is
    /// not mistaken for a page that stopped answering.
    fn answer_by(&self) -> Instant {
        self.steps_deadline.min(Instant::now() + ANSWER_WINDOW)
    }

    /// Evaluates `script` in the page, awaiting a promise, waiting for the
    /// answer until `answer_by`; the value comes back as JSON. A script
    /// that throws is `Done(Null)`.
    async fn evaluate(&mut self, script: &str, answer_by: Instant) -> Waited<Value> {
        if self.unresponsive {
            return Waited::Unresponsive;
        }
        let answer = self
            .page
            .call(
                "Runtime.evaluate",
                json!({ "expression": script, "returnByValue": true, "awaitPromise": true }),
                answer_by,
            )
            .await;
        match answer {
            Ok(answer) if answer.get("exceptionDetails").is_some() => Waited::Done(Value::Null),
            Ok(answer) => Waited::Done(answer["result"]["value"].clone()),
            // During a navigation the old document's context is gone: the
            // caller looks again.
            Err(CdpError::Protocol(_)) => Waited::Done(Value::Null),
            // The steps' time ran out while the page was still answering:
            // a wait's last look that straddled the deadline, not proof
            // that a script has taken the page over.
            Err(CdpError::Timeout) if Instant::now() >= self.steps_deadline => Waited::NotYet,
            Err(CdpError::Timeout) => {
                self.unresponsive = true;
                Waited::Unresponsive
            }
            Err(CdpError::Closed | CdpError::Launch(_)) => Waited::Gone,
        }
    }

    /// Evaluates `script` until it gives `true` or `deadline` passes.
    async fn wait_true(&mut self, script: &str, deadline: Instant) -> Waited<()> {
        self.wait_value(script, deadline, |v| {
            (v == &Value::Bool(true)).then_some(())
        })
        .await
    }

    /// Evaluates `script` until `accept` takes its value or `deadline` passes.
    async fn wait_value<T>(
        &mut self,
        script: &str,
        deadline: Instant,
        accept: impl Fn(&Value) -> Option<T>,
    ) -> Waited<T> {
        loop {
            match self.evaluate(script, self.answer_by()).await {
                Waited::Done(v) => {
                    if let Some(t) = accept(&v) {
                        return Waited::Done(t);
                    }
                }
                Waited::NotYet => {}
                Waited::Unresponsive => return Waited::Unresponsive,
                Waited::Gone => return Waited::Gone,
            }
            if Instant::now() + POLL >= deadline {
                return Waited::NotYet;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `accept` takes the page's recorded state.
    async fn wait_state<T>(
        &mut self,
        deadline: Instant,
        accept: impl Fn(&cdp::PageState) -> Option<T>,
    ) -> Waited<T> {
        let mut changed = self.page.events.subscribe();
        loop {
            let (found, gone) = self.page.events.with(|s| (accept(s), s.gone));
            if let Some(t) = found {
                return Waited::Done(t);
            }
            if gone {
                return Waited::Gone;
            }
            // Woken by an event, or at the latest after POLL (quiet-time
            // conditions become true without one).
            let wake = deadline.min(Instant::now() + POLL);
            let _ = tokio::time::timeout_at(wake, changed.changed()).await;
            if Instant::now() >= deadline {
                let found = self.page.events.with(|s| accept(s));
                return found.map_or(Waited::NotYet, Waited::Done);
            }
        }
    }

    /// The page's address now, when it answers.
    async fn current_url(&mut self, deadline: Instant) -> Option<String> {
        let until = deadline.min(Instant::now() + Duration::from_secs(1));
        match self.evaluate("location.href", until).await {
            Waited::Done(Value::String(url)) => Some(clip(&url, 500)),
            _ => None,
        }
    }

    /// A JPEG of the viewport, or why there is none.
    async fn screenshot(&mut self, deadline: Instant) -> Result<Vec<u8>, String> {
        if self.unresponsive {
            return Err("the page had stopped answering".into());
        }
        let until = deadline.min(Instant::now() + Duration::from_secs(3));
        let shot = self
            .page
            .call(
                "Page.captureScreenshot",
                json!({ "format": "jpeg", "quality": SCREENSHOT_QUALITY,
                        "captureBeyondViewport": false, "fromSurface": true }),
                until,
            )
            .await
            .map_err(|e| format!("the browser took none: {e}"))?;
        let data = shot["data"].as_str().unwrap_or_default();
        let bytes = keepup_model::text::unbase64(data)
            .ok_or_else(|| "the browser sent an unreadable image".to_owned())?;
        if bytes.len() > MAX_SCREENSHOT_BYTES {
            return Err(format!(
                "the screenshot was {} KiB, more than the {} KiB kept",
                bytes.len() / 1024,
                MAX_SCREENSHOT_BYTES / 1024
            ));
        }
        Ok(bytes)
    }

    /// Navigation timing and largest contentful paint of the current page.
    async fn page_timing(&mut self, deadline: Instant) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        let until = deadline.min(Instant::now() + Duration::from_secs(1));
        let script = "new Promise(resolve => { \
            const n = performance.getEntriesByType('navigation')[0]; \
            const ms = v => v > 0 ? Math.round(v * 10) / 10 : null; \
            const out = { navigation: n ? { ttfb_ms: ms(n.responseStart), \
              dom_content_loaded_ms: ms(n.domContentLoadedEventEnd), load_ms: ms(n.loadEventEnd) } : null, lcp_ms: null }; \
            try { new PerformanceObserver(l => { const e = l.getEntries(); \
              if (e.length) out.lcp_ms = ms(e[e.length - 1].startTime); }) \
              .observe({ type: 'largest-contentful-paint', buffered: true }); } catch (e) {} \
            setTimeout(() => resolve(out), 50); })";
        if let Waited::Done(Value::Object(found)) = self.evaluate(script, until).await {
            out.extend(found);
        }
        out
    }
}

/// `text` as a JavaScript string literal.
fn js(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// An absolute URL for `goto`: as given, or a path under `base`.
fn resolve_url(base: Option<&::http::Uri>, url: &str) -> Result<String, StepFailure> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(url.to_owned());
    }
    match (base, url.starts_with('/')) {
        (Some(base), true) => {
            let scheme = base.scheme_str().unwrap_or("https");
            let authority = base.authority().map_or("", |a| a.as_str());
            Ok(format!("{scheme}://{authority}{url}"))
        }
        _ => Err(StepFailure::step(format!(
            "{url:?} is neither an absolute URL nor a path under base_url"
        ))),
    }
}

/// The redaction of this check's secrets.
fn redactor(spec: &BrowserSpec) -> Redactor {
    Redactor::new(spec.inputs.secrets.iter().map(|(_, s)| s.expose()))
}
