//! The check kind `browser` (a scenario walked in a real headless
//! Chromium) and the `[browser]` section (which Chromium, how many at
//! once): as written, as validated, and the validation between the two.
//!
//! A browser check is a list of named steps, each with one action
//! (`goto`, `click`, `fill`, `select`, `wait_for`, `wait_for_text`,
//! `assert_text`, `evaluate`) and optional `extract`s into variables; text
//! values are templates (`{{ name }}`) over `variables`, `secrets` and what
//! earlier steps extracted. The pieces shared with `kind = "scenario"`
//! (templates, inputs and secrets, step names, CSS selectors, extraction)
//! are [`crate::scenario`]'s; this module adds the actions. Everything a
//! run could trip on is checked at load: selectors parse, templates name
//! only variables known at that step, secrets come from the environment
//! or a file, step names are unique.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::load::Loader;
use crate::scenario::{
    CssSelector, ExtractFrom, Extraction, RawExtract, ScenarioInputs, Scope, StepAt, Template,
};

/// `[browser]`: the Chromium the browser checks share.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrowserSettings {
    /// The Chromium executable (default `chromium`, found in `/usr/bin`
    /// or `/bin`; the browser starts with a cleared environment).
    pub executable: PathBuf,
    /// Browser checks running at once (default 2); the others wait their
    /// turn inside their own timeout.
    pub max_concurrent: usize,
}

impl Default for BrowserSettings {
    fn default() -> Self {
        Self {
            executable: PathBuf::from("chromium"),
            max_concurrent: 2,
        }
    }
}

/// What a browser step does.
#[derive(Debug, Clone)]
pub enum BrowserAction {
    /// Opens a URL (absolute, or a path under `base_url`) and waits for its
    /// load event.
    Goto(Template),
    /// Clicks the first element the selector matches, once it is visible;
    /// when that starts a navigation, waits for the new page.
    Click(CssSelector),
    /// Types a value into an input.
    Fill {
        /// The input.
        selector: CssSelector,
        /// What to type.
        value: Template,
    },
    /// Chooses an option of a `<select>` by value.
    Select {
        /// The select element.
        selector: CssSelector,
        /// The option's value.
        value: Template,
    },
    /// Waits until the selector matches an element.
    WaitFor(CssSelector),
    /// Waits until the page's text contains this.
    WaitForText(Template),
    /// Waits until no request has been in flight for half a second.
    NetworkIdle,
    /// The page's text (or the first element the selector matches)
    /// contains this now.
    AssertText {
        /// The text.
        text: Template,
        /// Where to look; the whole page without it.
        selector: Option<CssSelector>,
    },
    /// Evaluates a JavaScript expression (awaited when it is a promise);
    /// with `equals`, its value as text must be this.
    Evaluate {
        /// The expression.
        expression: Template,
        /// The expected value.
        equals: Option<Template>,
    },
    /// Only extracts.
    Extract,
}

impl BrowserAction {
    /// A short description for the steps table (`goto /product/42`);
    /// templates as written, never a value.
    pub fn describe(&self) -> String {
        match self {
            BrowserAction::Goto(url) => format!("goto {url}"),
            BrowserAction::Click(s) => format!("click {}", s.as_str()),
            BrowserAction::Fill { selector, .. } => format!("fill {}", selector.as_str()),
            BrowserAction::Select { selector, .. } => format!("select {}", selector.as_str()),
            BrowserAction::WaitFor(s) => format!("wait for {}", s.as_str()),
            BrowserAction::WaitForText(t) => format!("wait for text \"{t}\""),
            BrowserAction::NetworkIdle => "wait for network idle".into(),
            BrowserAction::AssertText { text, .. } => format!("assert text \"{text}\""),
            BrowserAction::Evaluate { .. } => "evaluate".into(),
            BrowserAction::Extract => "extract".into(),
        }
    }
}

/// One step of a browser check.
#[derive(Debug, Clone)]
pub struct BrowserStep {
    /// Position in its list (steps and cleanup count separately).
    pub index: usize,
    /// Unique within the check.
    pub name: String,
    /// What it does.
    pub action: BrowserAction,
    /// Slower than this fails the step (and it stops waiting then).
    pub max_ms: Option<u64>,
    /// Variables set after the action, in order: `css` (with `attr`)
    /// only, the page being the one source.
    pub extract: Vec<Extraction>,
}

/// When a browser check keeps a screenshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenshotPolicy {
    /// Of the page when a step fails (default).
    OnFailure,
    /// Never.
    Never,
}

/// `kind = "browser"`
#[derive(Debug, Clone)]
pub struct BrowserSpec {
    /// Base URL, variables and secrets.
    pub inputs: ScenarioInputs,
    /// The page's size in CSS pixels (default 1280x800).
    pub viewport: (u32, u32),
    /// When to keep a screenshot.
    pub screenshot: ScreenshotPolicy,
    /// The steps, in order.
    pub steps: Vec<BrowserStep>,
    /// Steps run after the others, even after a failure.
    pub cleanup: Vec<BrowserStep>,
    /// `[browser]` as loaded, so the probe needs nothing else.
    pub settings: BrowserSettings,
}

// ---------------------------------------------------------------------------
// As written
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBrowserSettings {
    pub executable: Option<Spanned<String>>,
    pub max_concurrent: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBrowserCheck {
    pub base_url: Option<Spanned<String>>,
    pub variables: Option<Spanned<crate::scenario::InputTable>>,
    pub secrets: Option<Spanned<crate::scenario::InputTable>>,
    pub viewport: Option<Spanned<String>>,
    pub screenshot: Option<Spanned<String>>,
    #[serde(default)]
    pub step: Vec<Spanned<RawBrowserStep>>,
    #[serde(default)]
    pub cleanup: Vec<Spanned<RawBrowserStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSelectorValue {
    pub selector: Spanned<String>,
    pub value: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBrowserStep {
    pub name: Spanned<String>,
    pub goto: Option<Spanned<String>>,
    pub click: Option<Spanned<String>>,
    pub fill: Option<Spanned<RawSelectorValue>>,
    pub select: Option<Spanned<RawSelectorValue>>,
    pub wait_for: Option<Spanned<String>>,
    pub wait_for_text: Option<Spanned<String>>,
    pub assert_text: Option<Spanned<String>>,
    pub selector: Option<Spanned<String>>,
    pub evaluate: Option<Spanned<String>>,
    pub equals: Option<Spanned<String>>,
    pub max_ms: Option<Spanned<i64>>,
    #[serde(default)]
    pub extract: Vec<Spanned<RawExtract>>,
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

impl Loader<'_> {
    /// `[browser]`.
    pub(crate) fn browser_section(
        &mut self,
        value: Option<Spanned<toml::de::DeValue<'_>>>,
    ) -> BrowserSettings {
        let mut settings = BrowserSettings::default();
        let Some(value) = value else {
            return settings;
        };
        let Some(raw) = self.deserialize::<RawBrowserSettings>(value, "browser", &[]) else {
            return settings;
        };
        if let Some(exe) = raw.executable {
            if exe.get_ref().trim().is_empty() {
                self.rep.report(
                    exe.span(),
                    "browser.executable",
                    "the executable is empty",
                    Some("write e.g. \"/usr/bin/chromium\"".into()),
                );
            } else {
                settings.executable = PathBuf::from(exe.get_ref());
            }
        }
        if let Some(n) = raw.max_concurrent {
            match usize::try_from(*n.get_ref()) {
                Ok(n) if (1..=64).contains(&n) => settings.max_concurrent = n,
                _ => self.rep.report(
                    n.span(),
                    "browser.max_concurrent",
                    format!("{} browser checks at once is out of range", n.get_ref()),
                    Some("give a number from 1 to 64".into()),
                ),
            }
        }
        settings
    }

    /// `kind = "browser"`.
    pub(crate) fn browser_check(
        &mut self,
        raw: RawBrowserCheck,
        path: &str,
        settings: &BrowserSettings,
        span: std::ops::Range<usize>,
    ) -> Option<BrowserSpec> {
        let before = self.rep.count();
        let (inputs, mut scope) = self.scenario_inputs(
            raw.base_url.as_ref(),
            raw.variables.as_ref(),
            raw.secrets.as_ref(),
            path,
        )?;
        let viewport = match &raw.viewport {
            None => (1280, 800),
            Some(v) => parse_viewport(v.get_ref()).unwrap_or_else(|| {
                self.rep.report(
                    v.span(),
                    &format!("{path}.viewport"),
                    format!("{:?} is not a viewport size", v.get_ref()),
                    Some(
                        "write WIDTHxHEIGHT in CSS pixels, each 200 to 4000, e.g. \"1280x800\""
                            .into(),
                    ),
                );
                (1280, 800)
            }),
        };
        let screenshot = match &raw.screenshot {
            None => ScreenshotPolicy::OnFailure,
            Some(s) => match s.get_ref().as_str() {
                "on_failure" => ScreenshotPolicy::OnFailure,
                "never" => ScreenshotPolicy::Never,
                other => {
                    self.rep.report(
                        s.span(),
                        &format!("{path}.screenshot"),
                        format!("unknown screenshot policy {other:?}"),
                        Some("write \"on_failure\" or \"never\"".into()),
                    );
                    ScreenshotPolicy::OnFailure
                }
            },
        };
        if !self.step_count(
            raw.step.len(),
            raw.cleanup.len(),
            span,
            path,
            "a browser check",
        ) {
            return None;
        }
        let has_base = inputs.base_url.is_some();
        let mut names = HashSet::new();
        let mut steps = Vec::new();
        for (index, step) in raw.step.into_iter().enumerate() {
            let list = format!("{path}.step");
            if let Some(step) =
                self.browser_step(step, index, &list, &mut names, &mut scope, has_base)
            {
                steps.push(step);
            }
        }
        let mut cleanup = Vec::new();
        for (index, step) in raw.cleanup.into_iter().enumerate() {
            let list = format!("{path}.cleanup");
            if let Some(step) =
                self.browser_step(step, index, &list, &mut names, &mut scope, has_base)
            {
                cleanup.push(step);
            }
        }
        (self.rep.count() == before).then(|| BrowserSpec {
            inputs,
            viewport,
            screenshot,
            steps,
            cleanup,
            settings: settings.clone(),
        })
    }

    /// One step; the variables it extracts join `scope` after it.
    fn browser_step(
        &mut self,
        raw: Spanned<RawBrowserStep>,
        index: usize,
        list_path: &str,
        names: &mut HashSet<String>,
        scope: &mut Scope,
        has_base_url: bool,
    ) -> Option<BrowserStep> {
        let span = raw.span();
        let raw = raw.into_inner();
        let at = self.step_at(&raw.name, index, list_path, names)?;
        let before = self.rep.count();
        let given: Vec<&str> = [
            ("goto", raw.goto.is_some()),
            ("click", raw.click.is_some()),
            ("fill", raw.fill.is_some()),
            ("select", raw.select.is_some()),
            ("wait_for", raw.wait_for.is_some()),
            ("wait_for_text", raw.wait_for_text.is_some()),
            ("assert_text", raw.assert_text.is_some()),
            ("evaluate", raw.evaluate.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, given)| given.then_some(k))
        .collect();
        if given.len() > 1 {
            self.report_at(
                &at,
                span,
                "",
                format!("one action per step, found {}", given.join(", ")),
                Some("split it into several steps".into()),
            );
            return None;
        }
        if let Some(s) = &raw.selector
            && raw.assert_text.is_none()
        {
            self.report_at(
                &at,
                s.span(),
                "selector",
                "`selector` goes with `assert_text`".into(),
                None,
            );
        }
        if let Some(e) = &raw.equals
            && raw.evaluate.is_none()
        {
            self.report_at(
                &at,
                e.span(),
                "equals",
                "`equals` goes with `evaluate`".into(),
                None,
            );
        }
        let action = if let Some(url) = &raw.goto {
            self.step_url(url, scope, &at, "goto", has_base_url)
                .map(BrowserAction::Goto)
        } else if let Some(s) = &raw.click {
            self.css_selector(s, &at, "click").map(BrowserAction::Click)
        } else if let Some(f) = &raw.fill {
            let f = f.get_ref();
            let selector = self.css_selector(&f.selector, &at, "fill.selector");
            let value = self.step_template(&f.value, scope, &at, "fill.value");
            selector
                .zip(value)
                .map(|(selector, value)| BrowserAction::Fill { selector, value })
        } else if let Some(f) = &raw.select {
            let f = f.get_ref();
            let selector = self.css_selector(&f.selector, &at, "select.selector");
            let value = self.step_template(&f.value, scope, &at, "select.value");
            selector
                .zip(value)
                .map(|(selector, value)| BrowserAction::Select { selector, value })
        } else if let Some(s) = &raw.wait_for {
            if s.get_ref() == "network_idle" {
                Some(BrowserAction::NetworkIdle)
            } else {
                self.css_selector(s, &at, "wait_for")
                    .map(BrowserAction::WaitFor)
            }
        } else if let Some(t) = &raw.wait_for_text {
            self.step_template(t, scope, &at, "wait_for_text")
                .map(BrowserAction::WaitForText)
        } else if let Some(t) = &raw.assert_text {
            let text = self.step_template(t, scope, &at, "assert_text");
            let selector = match &raw.selector {
                Some(s) => self.css_selector(s, &at, "selector").map(Some),
                None => Some(None),
            };
            text.zip(selector)
                .map(|(text, selector)| BrowserAction::AssertText { text, selector })
        } else if let Some(e) = &raw.evaluate {
            let expression = self.step_template(e, scope, &at, "evaluate");
            let equals = match &raw.equals {
                Some(t) => self.step_template(t, scope, &at, "equals").map(Some),
                None => Some(None),
            };
            expression
                .zip(equals)
                .map(|(expression, equals)| BrowserAction::Evaluate { expression, equals })
        } else if !raw.extract.is_empty() {
            Some(BrowserAction::Extract)
        } else {
            self.report_at(
                &at,
                span.clone(),
                "",
                "the step has no action".into(),
                Some("give one of goto, click, fill, select, wait_for, wait_for_text, assert_text, evaluate (or only extract)".into()),
            );
            None
        };
        let max_ms = raw
            .max_ms
            .as_ref()
            .and_then(|m| match u64::try_from(*m.get_ref()) {
                Ok(ms) if ms > 0 => Some(ms),
                _ => {
                    self.report_at(
                        &at,
                        m.span(),
                        "max_ms",
                        format!(
                            "max_ms is a positive number of milliseconds, not {}",
                            m.get_ref()
                        ),
                        None,
                    );
                    None
                }
            });
        let spans: Vec<_> = raw.extract.iter().map(Spanned::span).collect();
        let extract = self.extractions(raw.extract, &at).unwrap_or_default();
        for (e, span) in extract.iter().zip(spans) {
            if !matches!(e.from, ExtractFrom::Css { .. }) {
                self.report_at(
                    &at,
                    span,
                    "extract",
                    format!(
                        "a browser step extracts from the page with `css` (and `attr`), not {}",
                        e.from
                    ),
                    None,
                );
            }
        }
        for e in &extract {
            scope.add(&e.var);
        }
        let action = action?;
        (self.rep.count() == before).then(|| BrowserStep {
            index,
            name: at.name.clone(),
            action,
            max_ms,
            extract,
        })
    }

    /// A problem of the step `at`, at its `key` (the step itself when empty).
    fn report_at(
        &mut self,
        at: &StepAt,
        span: std::ops::Range<usize>,
        key: &str,
        message: String,
        hint: Option<String>,
    ) {
        let path = if key.is_empty() {
            at.path.clone()
        } else {
            format!("{}.{key}", at.path)
        };
        self.rep
            .report(span, &path, format!("{}: {message}", at.label()), hint);
    }
}

/// `1280x800`, each side 200 to 4000 pixels.
fn parse_viewport(text: &str) -> Option<(u32, u32)> {
    let (w, h) = text.split_once(['x', 'X'])?;
    let w: u32 = w.trim().parse().ok()?;
    let h: u32 = h.trim().parse().ok()?;
    let ok = |n: u32| (200..=4000).contains(&n);
    (ok(w) && ok(h)).then_some((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewports_are_width_by_height_within_bounds() {
        assert_eq!(parse_viewport("1280x800"), Some((1280, 800)));
        assert_eq!(parse_viewport("10x800"), None);
        assert_eq!(parse_viewport("wide"), None);
    }
}
