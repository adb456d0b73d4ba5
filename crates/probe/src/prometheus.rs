//! Prometheus checks: scrape an exposition endpoint, evaluate the
//! check's conditions on its samples and read its measures (each
//! expression's samples summed, in the evidence under
//! [`keepup_config::prometheus::MEASURES_KEY`] for a forecast to follow).
//!
//! The scrape is an HTTP(S) request like [`crate::http`]'s (its timeouts,
//! body limit, TLS and redirects), asking for the text format. The text is
//! read line by line here ([`sample_line`]): the `prometheus-parse` crate
//! split label values at `,` and `=`, kept their escapes and skipped names
//! with `:`, which made different series look equal. Histograms and
//! summaries are seen as their `_bucket`/`_sum`/`_count` and quantile
//! series. Conditions were
//! compiled at load ([`keepup_config::prometheus`]): here they are only
//! evaluated. `rate()` and `delta()` compare with the previous scrape of
//! the same check, of which only the series they select are kept (at most
//! [`MAX_KEPT_SERIES`] per check, for at most [`MAX_KEPT_CHECKS`] checks).
//!
//! Evaluation is plain computing, so it holds a CPU permit. Vectors are
//! matched through an index by label set (one hash lookup per sample, not
//! a search of the other side), and a selector takes at most
//! [`MAX_SELECTED_SERIES`] series, so that a scrape of many series in one
//! metric stays cheap.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use keepup_config::prometheus::{
    ArithOp, Comparison, Condition, Expr, Func, MEASURES_KEY, PrometheusSpec, Selector,
};
use keepup_model::{Finding, Outcome, Severity};
use serde_json::json;
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::http;
use crate::util::fmt_bytes;

/// At most this many series of one check are kept for `rate`/`delta`.
pub const MAX_KEPT_SERIES: usize = 10_000;

/// A selector takes at most this many series of a scrape (the rest is
/// left out, and the evidence says so).
pub const MAX_SELECTED_SERIES: usize = 50_000;

/// Previous scrapes are kept for at most this many checks.
pub const MAX_KEPT_CHECKS: usize = 10_000;

/// At most this many series are named in a finding's text.
const SERIES_IN_TEXT: usize = 5;

/// At most this many series per condition go into the evidence.
const SERIES_IN_EVIDENCE: usize = 20;

/// One series' sample: its name (dropped by arithmetic), labels and value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: Option<String>,
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Sample {
    /// `name{a="b"}`, as Prometheus writes a series.
    fn series(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        let name = self.name.as_deref().unwrap_or("");
        if labels.is_empty() && !name.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{}}}", labels.join(","))
        }
    }
}

/// An evaluated expression.
enum Value {
    Scalar(f64),
    Vector(Vec<Sample>),
}

/// The samples of one scrape, by metric name.
type Scrape = HashMap<String, Vec<Sample>>;

/// What a check's previous scrape left for `rate`/`delta`.
struct Previous {
    at: Instant,
    samples: Scrape,
}

/// The previous scrapes, by check (its id, URL and conditions).
#[derive(Default)]
struct PreviousScrapes(Mutex<HashMap<String, Previous>>);

impl PreviousScrapes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Previous>> {
        // Entries are replaced whole, so a poisoned lock is usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Fetches and parses an exposition: the HTTP part of the outcome, the
/// samples and when they were scraped; or the outcome of a scrape that
/// cannot be evaluated (Down).
async fn scrape(
    spec: &keepup_config::HttpSpec,
    ctx: &ProbeContext,
) -> Result<(Outcome, Scrape, Instant), Outcome> {
    let (mut outcome, page) = http::fetch_answer(spec, ctx).await?;
    if outcome.evidence.details.get("body_truncated") == Some(&json!(true)) {
        // A cut exposition would be judged on some of its series only.
        outcome
            .findings
            .retain(|f| f.code != codes::HTTP_BODY_TOO_LARGE);
        let text = format!(
            "the exposition is larger than the {} limit (max_body_bytes); it was not evaluated",
            fmt_bytes(spec.max_body_bytes)
        );
        return Err(invalid(outcome, text));
    }
    let scraped_at = Instant::now();
    let scrape = {
        let _cpu = ctx.cpu_permit().await;
        parse(&page.body)
    };
    let count: usize = scrape.values().map(Vec::len).sum();
    outcome.evidence.insert("samples", count);
    if count == 0 {
        let text = "the endpoint's answer holds no sample in the Prometheus text format";
        return Err(invalid(outcome, text.to_owned()));
    }
    Ok((outcome, scrape, scraped_at))
}

/// What [`values`] measured: each expression's samples summed, None for
/// one without a sample (a metric missing, or `rate()` before its second
/// scrape).
pub(crate) struct Values {
    /// The HTTP part of the outcome (status, timings, evidence).
    pub outcome: Outcome,
    /// One per expression, in order.
    pub sums: Vec<Option<f64>>,
    /// Whether `rate()`/`delta()` waited for a second scrape.
    pub rate_pending: bool,
}

/// Scrapes `spec` and evaluates `exprs` on it (and on the previous
/// scrape kept under `target`, for `rate`/`delta`), each summed over its
/// samples as PromQL's `sum()` would: a site's measured load.
pub(crate) async fn values(
    spec: &keepup_config::HttpSpec,
    exprs: &[&Expr],
    target: &str,
    ctx: &ProbeContext,
) -> Result<Values, Outcome> {
    let (outcome, scrape, scraped_at) = scrape(spec, ctx).await?;
    let key = ctx.check_key(target);
    let state = ctx.kind_state::<PreviousScrapes>();
    let previous = state.lock().remove(&key);
    let elapsed = previous
        .as_ref()
        .map(|p| scraped_at.saturating_duration_since(p.at).as_secs_f64());
    let sums = {
        let _cpu = ctx.cpu_permit().await;
        let eval = Eval {
            now: &scrape,
            before: previous.as_ref().map(|p| &p.samples),
            elapsed,
            capped: Cell::new(false),
        };
        exprs
            .iter()
            .map(|e| summed(eval.expr(e)).map(|(sum, _)| sum))
            .collect()
    };
    let called: Vec<&Selector> = exprs.iter().flat_map(|e| e.called_selectors()).collect();
    let rate_pending = previous.is_none() && !called.is_empty();
    keep_for_rates(&state, key, called.into_iter(), &scrape, scraped_at);
    Ok(Values {
        outcome,
        sums,
        rate_pending,
    })
}

/// An expression's value summed over its samples, as PromQL's `sum()`
/// would, with how many there were; None without a sample.
fn summed(value: Value) -> Option<(f64, usize)> {
    match value {
        Value::Scalar(x) => Some((x, 1)),
        Value::Vector(v) if v.is_empty() => None,
        Value::Vector(v) => Some((v.iter().map(|s| s.value).sum(), v.len())),
    }
}

/// Runs one Prometheus check.
pub async fn probe(spec: &PrometheusSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let (mut outcome, scrape, scraped_at) = match scrape(&spec.http, &ctx).await {
        Ok(scraped) => scraped,
        Err(outcome) => return outcome,
    };

    let key = ctx.check_key(&scrape_key(spec));
    let state = ctx.kind_state::<PreviousScrapes>();
    let previous = state.lock().remove(&key);
    let elapsed = previous
        .as_ref()
        .map(|p| scraped_at.saturating_duration_since(p.at).as_secs_f64());
    let before = previous.as_ref().map(|p| &p.samples);
    let mut evaluated = Vec::new();
    let mut met = 0;
    let _cpu = ctx.cpu_permit().await;
    let eval = Eval {
        now: &scrape,
        before,
        elapsed,
        capped: Cell::new(false),
    };
    for condition in &spec.conditions {
        let (series, absent) = eval.condition(&condition.expr);
        evaluated.push(json!({
            "expr": condition.text,
            "met": !series.is_empty(),
            "series": series.iter().take(SERIES_IN_EVIDENCE).map(|s| json!({"series": s.series(), "value": s.value})).collect::<Vec<_>>(),
        }));
        if !series.is_empty() {
            met += 1;
            outcome.push(condition_finding(condition, &series));
        } else if let Some(metric) = absent {
            outcome.push(Finding::new(
                codes::PROMETHEUS_METRIC_ABSENT,
                Severity::Warning,
                format!(
                    "no series of {metric} in the scrape, so `{}` cannot be evaluated",
                    condition.text
                ),
            ));
        }
    }
    outcome.evidence.insert("conditions", evaluated);
    let rate_pending = previous.is_none();
    let mut measures = serde_json::Map::new();
    let mut read = 0;
    for m in &spec.measures {
        let value = summed(eval.expr(&m.expr));
        read += usize::from(value.is_some());
        measures.insert(
            m.name.clone(),
            json!({
                "expr": m.text,
                "value": value.map(|(sum, _)| sum),
                "series": value.map_or(0, |(_, n)| n),
            }),
        );
        let waits = rate_pending && !m.expr.called_selectors().is_empty();
        if value.is_none() && !waits {
            let why = match eval.absent_metric(&m.expr) {
                Some(metric) => format!("no series of {metric} in the scrape"),
                None => "no series matches it".to_owned(),
            };
            outcome.push(Finding::new(
                codes::PROMETHEUS_METRIC_ABSENT,
                Severity::Warning,
                format!("measure {} (`{}`) has no value: {why}", m.name, m.text),
            ));
        }
    }
    if !spec.measures.is_empty() {
        outcome
            .evidence
            .insert(MEASURES_KEY, serde_json::Value::Object(measures));
    }
    if eval.capped.get() {
        outcome.evidence.insert(
            "series_capped",
            format!("a selector took only its first {MAX_SELECTED_SERIES} series"),
        );
    }
    let selectors: Vec<&Selector> = spec
        .conditions
        .iter()
        .flat_map(|c| called(&c.expr))
        .chain(spec.measures.iter().flat_map(|m| m.expr.called_selectors()))
        .collect();
    if rate_pending && !selectors.is_empty() {
        outcome.evidence.insert(
            "rate_pending",
            "rate() and delta() start with the next scrape",
        );
    }
    keep_for_rates(&state, key, selectors.into_iter(), &scrape, scraped_at);
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    outcome.message = match (met, spec.conditions.len(), spec.measures.len()) {
        (0, 0, m) => format!("{read} of {m} measure{} read", plural(m)),
        (0, c, _) => format!("no condition met ({c} condition{})", plural(c)),
        _ => String::new(),
    };
    crate::util::finish(outcome, String::new(), started)
}

/// A scrape that cannot be evaluated: Down, saying why.
fn invalid(mut outcome: Outcome, text: String) -> Outcome {
    outcome.push(Finding::new(
        codes::PROMETHEUS_SCRAPE_INVALID,
        Severity::Critical,
        text.clone(),
    ));
    outcome.message = text;
    outcome
}

/// What a previous scrape was taken for: the URL, the conditions and the
/// measures (a check changed by a reload starts afresh).
fn scrape_key(spec: &PrometheusSpec) -> String {
    let mut key = spec.http.url.to_string();
    for text in spec
        .conditions
        .iter()
        .map(|c| &c.text)
        .chain(spec.measures.iter().map(|m| &m.text))
    {
        key.push('\n');
        key.push_str(text);
    }
    key
}

/// The selectors inside `rate`/`delta` of a condition.
fn called(c: &Comparison) -> Vec<&Selector> {
    let mut all = c.left.called_selectors();
    all.extend(c.right.called_selectors());
    all
}

/// Keeps the series `rate`/`delta` select from this scrape, bounded.
fn keep_for_rates<'a>(
    state: &PreviousScrapes,
    key: String,
    selectors: impl Iterator<Item = &'a Selector>,
    scrape: &Scrape,
    at: Instant,
) {
    let mut kept: Scrape = HashMap::new();
    let mut count = 0;
    for selector in selectors {
        if kept.contains_key(&selector.metric) {
            continue;
        }
        let Some(samples) = scrape.get(&selector.metric) else {
            continue;
        };
        let room = MAX_KEPT_SERIES.saturating_sub(count);
        let samples: Vec<Sample> = samples.iter().take(room).cloned().collect();
        count += samples.len();
        kept.insert(selector.metric.clone(), samples);
    }
    if kept.is_empty() {
        return;
    }
    let mut all = state.lock();
    if all.len() >= MAX_KEPT_CHECKS
        && let Some(oldest) = all.iter().min_by_key(|(_, p)| p.at).map(|(k, _)| k.clone())
    {
        all.remove(&oldest);
    }
    all.insert(key, Previous { at, samples: kept });
}

/// The finding of a condition that is met, naming its first series.
fn condition_finding(condition: &Condition, series: &[Sample]) -> Finding {
    let mut named: Vec<String> = series
        .iter()
        .take(SERIES_IN_TEXT)
        .map(|s| format!("{} = {}", s.series(), number(s.value)))
        .collect();
    if series.len() > SERIES_IN_TEXT {
        named.push(format!("and {} more", series.len() - SERIES_IN_TEXT));
    }
    let what = condition
        .message
        .clone()
        .unwrap_or_else(|| format!("`{}` is met", condition.text));
    let (code, severity) = if condition.critical {
        (codes::PROMETHEUS_CONDITION_CRITICAL, Severity::Critical)
    } else {
        (codes::PROMETHEUS_CONDITION_WARNING, Severity::Warning)
    };
    Finding::new(code, severity, format!("{what}: {}", named.join(", ")))
}

/// A sample value for people: integers without a fraction, others with
/// up to six significant decimals.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let text = format!("{v:.6}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// The samples of an exposition in the text format, by metric name.
/// Comments, `# HELP`/`# TYPE` and lines that are no sample are skipped;
/// histograms and summaries are their `_bucket`, `_sum`, `_count` and
/// quantile series as written.
fn parse(body: &[u8]) -> Scrape {
    let text = String::from_utf8_lossy(body);
    let mut scrape: Scrape = HashMap::new();
    for line in text.lines() {
        if let Some(sample) = sample_line(line) {
            let name = sample.name.clone().unwrap_or_default();
            scrape.entry(name).or_default().push(sample);
        }
    }
    scrape
}

/// One sample line (`name{label="value",...} value [timestamp]`), as the
/// text format defines it: names may hold `:`, label values the escapes
/// `\\`, `\"` and `\n` and any other character, `,` `=` `}` included.
fn sample_line(line: &str) -> Option<Sample> {
    let line = line.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, mut rest) = name_token(line, true)?;
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (label, after) = name_token(rest, false)?;
            let after = after.trim_start().strip_prefix('=')?.trim_start();
            let (value, after) = quoted(after)?;
            labels.insert(label.to_owned(), value);
            rest = after.trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with('}') {
                return None;
            }
        }
    }
    let mut fields = rest.split_ascii_whitespace();
    let value = number_token(fields.next()?)?;
    // An optional timestamp in ms, then nothing.
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<i64>().ok()?;
    }
    if fields.next().is_some() {
        return None;
    }
    Some(Sample {
        name: Some(name.to_owned()),
        labels,
        value,
    })
}

/// A metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) or, without `colon`, a
/// label name; and what follows it.
fn name_token(text: &str, colon: bool) -> Option<(&str, &str)> {
    let end = text
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphabetic()
                || c == '_'
                || (colon && c == ':')
                || (i > 0 && c.is_ascii_digit()))
        })
        .map_or(text.len(), |(i, _)| i);
    (end > 0).then(|| text.split_at(end))
}

/// A double-quoted label value with its escapes undone; and what follows.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('"')?.char_indices();
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 2..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

/// A sample value: a float, `+Inf`, `-Inf` or `NaN`.
fn number_token(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}

/// Evaluation against one scrape and the one before.
struct Eval<'a> {
    now: &'a Scrape,
    before: Option<&'a Scrape>,
    elapsed: Option<f64>,
    /// Whether a selector hit [`MAX_SELECTED_SERIES`].
    capped: Cell<bool>,
}

impl Eval<'_> {
    /// The samples that meet the condition, and a metric it needs that the
    /// scrape does not have (when none is met).
    fn condition(&self, c: &Comparison) -> (Vec<Sample>, Option<String>) {
        let absent = [&c.left, &c.right]
            .into_iter()
            .find_map(|e| self.absent_metric(e));
        let left = self.expr(&c.left);
        let right = self.expr(&c.right);
        let met = match (left, right) {
            (Value::Scalar(a), Value::Scalar(b)) => {
                if c.op.holds(a, b) {
                    vec![Sample {
                        name: None,
                        labels: BTreeMap::new(),
                        value: a,
                    }]
                } else {
                    Vec::new()
                }
            }
            (Value::Vector(v), Value::Scalar(b)) => {
                v.into_iter().filter(|s| c.op.holds(s.value, b)).collect()
            }
            (Value::Scalar(a), Value::Vector(v)) => {
                v.into_iter().filter(|s| c.op.holds(a, s.value)).collect()
            }
            (Value::Vector(l), Value::Vector(r)) => {
                let r = by_labels(&r);
                l.into_iter()
                    .filter(|s| {
                        r.get(&s.labels)
                            .is_some_and(|o| c.op.holds(s.value, o.value))
                    })
                    .collect()
            }
        };
        (met, absent)
    }

    /// A metric the expression selects of which the scrape has no series
    /// at all (a typo, or an exporter that lost it).
    fn absent_metric(&self, e: &Expr) -> Option<String> {
        match e {
            Expr::Number(_) => None,
            Expr::Select(s) | Expr::Call(_, s) => {
                (!self.now.contains_key(&s.metric)).then(|| s.metric.clone())
            }
            Expr::Neg(e) => self.absent_metric(e),
            Expr::Arith(a, _, b) => self.absent_metric(a).or_else(|| self.absent_metric(b)),
        }
    }

    fn expr(&self, e: &Expr) -> Value {
        match e {
            Expr::Number(n) => Value::Scalar(*n),
            Expr::Select(s) => Value::Vector(self.select(self.now, s)),
            Expr::Call(func, s) => Value::Vector(self.call(*func, s)),
            Expr::Neg(inner) => match self.expr(inner) {
                Value::Scalar(n) => Value::Scalar(-n),
                Value::Vector(v) => Value::Vector(
                    v.into_iter()
                        .map(|s| Sample {
                            name: None,
                            value: -s.value,
                            ..s
                        })
                        .collect(),
                ),
            },
            Expr::Arith(a, op, b) => arith(self.expr(a), *op, self.expr(b)),
        }
    }

    /// `rate`/`delta` of the selected series against the previous scrape;
    /// none before there is one.
    fn call(&self, func: Func, s: &Selector) -> Vec<Sample> {
        let (Some(before), Some(elapsed)) = (self.before, self.elapsed) else {
            return Vec::new();
        };
        let earlier = self.select(before, s);
        let earlier = by_labels(&earlier);
        self.select(self.now, s)
            .into_iter()
            .filter_map(|now| {
                let then = earlier.get(&now.labels)?;
                let value = match func {
                    Func::Delta => now.value - then.value,
                    Func::Rate if elapsed <= 0.0 => return None,
                    // A counter that went down was reset: it counted from 0.
                    Func::Rate if now.value < then.value => now.value / elapsed,
                    Func::Rate => (now.value - then.value) / elapsed,
                };
                Some(Sample {
                    name: None,
                    labels: now.labels,
                    value,
                })
            })
            .collect()
    }
}

impl Eval<'_> {
    /// The samples of `scrape` that `s` selects, at most
    /// [`MAX_SELECTED_SERIES`] of them.
    fn select(&self, scrape: &Scrape, s: &Selector) -> Vec<Sample> {
        let mut selected: Vec<Sample> = scrape
            .get(&s.metric)
            .map(|samples| {
                samples
                    .iter()
                    .filter(|sample| {
                        s.matches(|label| sample.labels.get(label).map(String::as_str))
                    })
                    .take(MAX_SELECTED_SERIES + 1)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if selected.len() > MAX_SELECTED_SERIES {
            selected.truncate(MAX_SELECTED_SERIES);
            self.capped.set(true);
        }
        selected
    }
}

/// Samples by label set, the first of each set (a well-formed scrape has
/// one), for matching one side of an operation to the other.
fn by_labels(samples: &[Sample]) -> HashMap<&BTreeMap<String, String>, &Sample> {
    let mut index = HashMap::with_capacity(samples.len());
    for sample in samples {
        index.entry(&sample.labels).or_insert(sample);
    }
    index
}

/// `a op b`: between vectors, samples with equal labels (one to one);
/// with a number, every sample. The metric name is dropped.
fn arith(a: Value, op: ArithOp, b: Value) -> Value {
    let unnamed = |s: Sample, value: f64| Sample {
        name: None,
        value,
        ..s
    };
    match (a, b) {
        (Value::Scalar(x), Value::Scalar(y)) => Value::Scalar(op.apply(x, y)),
        (Value::Vector(v), Value::Scalar(y)) => Value::Vector(
            v.into_iter()
                .map(|s| {
                    let value = op.apply(s.value, y);
                    unnamed(s, value)
                })
                .collect(),
        ),
        (Value::Scalar(x), Value::Vector(v)) => Value::Vector(
            v.into_iter()
                .map(|s| {
                    let value = op.apply(x, s.value);
                    unnamed(s, value)
                })
                .collect(),
        ),
        (Value::Vector(l), Value::Vector(r)) => {
            let r = by_labels(&r);
            Value::Vector(
                l.into_iter()
                    .filter_map(|s| {
                        let value = op.apply(s.value, r.get(&s.labels)?.value);
                        Some(unnamed(s, value))
                    })
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(text: &str) -> Scrape {
        parse(text.as_bytes())
    }

    fn met(condition: &str, now: &Scrape, before: Option<(&Scrape, f64)>) -> Vec<String> {
        let c = keepup_config::prometheus::compile(condition).unwrap();
        let eval = Eval {
            now,
            before: before.map(|(b, _)| b),
            elapsed: before.map(|(_, e)| e),
            capped: Cell::new(false),
        };
        eval.condition(&c)
            .0
            .iter()
            .map(|s| format!("{} = {}", s.series(), number(s.value)))
            .collect()
    }

    const FS: &str = r#"# HELP node_filesystem_avail_bytes Filesystem space available.
# TYPE node_filesystem_avail_bytes gauge
node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 5e+09
node_filesystem_avail_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 9e+08
# TYPE node_filesystem_size_bytes gauge
node_filesystem_size_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 1e+11
node_filesystem_size_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 1e+09
# TYPE http_requests_total counter
http_requests_total{code="200"} 1000
http_requests_total{code="500"} 10
"#;

    #[test]
    fn vectors_divide_on_equal_labels_and_comparisons_filter() {
        let now = scrape(FS);
        assert_eq!(
            met(
                "node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.1",
                &now,
                None
            ),
            vec![r#"{device="/dev/sda1",fstype="ext4",mountpoint="/"} = 0.05"#]
        );
        assert_eq!(
            met(
                r#"node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs"} < 1e10"#,
                &now,
                None
            ),
            vec![
                r#"node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} = 5000000000"#
            ]
        );
        assert!(met("http_requests_total{code=\"500\"} > 10", &now, None).is_empty());
        assert_eq!(met("1 + 2 * 3 == 7", &now, None), vec!["{} = 7"]);
        assert_eq!(
            met("-http_requests_total{code=\"200\"} + 1 < 0", &now, None),
            vec![r#"{code="200"} = -999"#]
        );
    }

    #[test]
    fn rate_and_delta_use_the_previous_scrape_and_survive_a_reset() {
        let before = scrape(FS);
        let now = scrape(
            &FS.replace("} 1000\n", "} 1600\n")
                .replace("} 10\n", "} 4\n"),
        );
        assert!(met("rate(http_requests_total) > 0", &now, None).is_empty());
        let rates = met(
            "rate(http_requests_total) >= 0",
            &now,
            Some((&before, 60.0)),
        );
        assert_eq!(
            rates,
            vec![r#"{code="200"} = 10"#, r#"{code="500"} = 0.066667"#]
        );
        assert_eq!(
            met(
                "delta(http_requests_total) < 0",
                &now,
                Some((&before, 60.0))
            ),
            vec![r#"{code="500"} = -6"#]
        );
    }

    #[test]
    fn labels_follow_the_text_format() {
        let one = |line: &str| sample_line(line).map(|s| (s.series(), s.value));
        // Escapes undone; `,` `=` `}` inside a value; a space after a comma.
        let s = sample_line(r#"up{a="b", c="d=e,f}g", path="C:\\dir \"x\"\nnext"} 1"#)
            .expect("a sample");
        assert_eq!(s.labels["a"], "b");
        assert_eq!(s.labels["c"], "d=e,f}g");
        assert_eq!(s.labels["path"], "C:\\dir \"x\"\nnext");
        assert_eq!(s.labels.len(), 3);
        // Names with `:` (recording rules), a trailing comma, a timestamp,
        // special values.
        assert_eq!(
            one("job:requests:rate5m{job=\"shop\",} 2.5 1700000000000"),
            Some((r#"job:requests:rate5m{job="shop"}"#.to_owned(), 2.5))
        );
        assert_eq!(one("x +Inf").map(|(_, v)| v), Some(f64::INFINITY));
        assert!(one("x NaN").is_some_and(|(_, v)| v.is_nan()));
        // Not samples.
        for bad in [
            "# TYPE x gauge",
            "x{a=\"b} 1",
            "x{a=b} 1",
            "x{1a=\"b\"} 1",
            "x{a=\"b\" c=\"d\"} 1",
            "x 1 2 3",
            "x one",
            "1x 1",
            "x{a=\"b\\",
        ] {
            assert_eq!(one(bad), None, "{bad}");
        }
        // Series that differ only in an escaped or comma-holding value
        // stay apart, so vector matching pairs the right ones.
        let now = scrape(
            "a{p=\"x,y\"} 1\na{p=\"x\"} 5\nb{p=\"x,y\"} 10\nb{p=\"x\"} 10\nok:ratio{p=\"q\"} 3\n",
        );
        assert_eq!(met("a / b > 0.2", &now, None), vec![r#"{p="x"} = 0.5"#]);
        assert_eq!(met("ok:ratio > 2", &now, None).len(), 1);
    }

    #[test]
    fn histograms_and_summaries_are_their_series_and_garbage_is_nothing() {
        let now = scrape(
            "# TYPE rq histogram\nrq_bucket{le=\"0.5\"} 3\nrq_bucket{le=\"+Inf\"} 5\nrq_sum 2\nrq_count 5\n# TYPE lat summary\nlat{quantile=\"0.99\"} 0.25\n",
        );
        assert_eq!(met("rq_bucket{le=\"+Inf\"} == 5", &now, None).len(), 1);
        assert_eq!(met("lat{quantile=\"0.99\"} > 0.2", &now, None).len(), 1);
        assert!(scrape("<html>not metrics</html>\n{{{{\n").is_empty());
        assert!(scrape("\u{0}\u{1}garbage \\ \"\n").is_empty());
    }
}
