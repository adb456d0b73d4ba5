//! Capacity forecasts, judged on each result of a check with `forecast`:
//! the measure's value is read from the result, kept as a sample once per
//! step (a 500th of the window, or the interval), and a Theil–Sen line
//! through the window's samples says when the measure reaches its limit.
//! Within the forecast's `warn` time the result gets
//! `CAPACITY_EXHAUSTED_SOON` (Degraded), within `crit` the same code
//! Critical (Down); the fit, its interval and the days left are in the
//! evidence (`forecast`, one entry per measure) whatever they say.
//!
//! No forecast from fewer than `min_points` samples or samples spanning
//! less than a quarter of the window; none from a series that is flat or
//! falling, nor from one whose growth the fit cannot tell from flat (its
//! slope's 95 % interval reaches zero or below): the evidence says which.
//! [`outlook`] says this of any series at any time: the live judge and
//! the monthly report (the series as of its period's end, from the store)
//! share it.
//!
//! Each series lives in memory (at most about 500 points, read from the
//! store when the forecast is configured) and in the store's `sample`
//! table, written with the results' batch and kept for two windows, so
//! that a report built after its period still finds a window ending
//! there. Results recorded as history (an agent's backlog) are sampled
//! too, in their place in time: they are real measurements, and a day of
//! backlog would otherwise leave a hole in the series.
//!
//! Locking: each series has its own lock, found under a map lock held
//! only for the lookup; a fit (up to 125,000 slopes) runs under neither,
//! on a copy of the points, and is kept for the points it was made from,
//! so it is computed once per new sample and reused until the next. The
//! recorder calls [`Forecasts::apply`] on a blocking thread.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use keepup_config::forecast::{Forecast, Measure, SAMPLES_PER_WINDOW, Source};
use keepup_config::{Check, Unit};
use keepup_model::forecast::{Fit, Outlook, theil_sen};
use keepup_model::{CheckId, Finding, Outcome, Severity, Status, Timestamp, codes, format_rfc3339};
use keepup_store::{SampleRecord, Store};
use serde_json::{Value, json};

/// The evidence key of the forecasts.
pub const EVIDENCE_KEY: &str = "forecast";

/// The evidence key under which a host check's judge puts the values of
/// its forecast measures.
pub const MEASURES_KEY: &str = "measures";

const DAY_S: f64 = 86_400.0;

/// Most samples a series holds in memory (a window's worth).
const MAX_POINTS: usize = SAMPLES_PER_WINDOW as usize + 1;

/// A series' key: the check and the measure's key.
type Key = (CheckId, String);

/// One measure's samples, oldest first, and their fit once computed.
#[derive(Default)]
struct Series {
    points: VecDeque<(Timestamp, f64)>,
    /// Counts the changes of `points`: a fit is of one generation.
    generation: u64,
    /// The fit of a generation's points (`None` inside: they fit no line).
    fit: Option<(u64, Option<Fit>)>,
}

impl Series {
    /// Keeps a sample measured at `measured` in its place in time if no
    /// kept sample is within `step` of it and it is not older than
    /// `window` before the newest; says whether it was kept.
    fn keep(&mut self, measured: Timestamp, value: f64, step: i64, window: i64) -> bool {
        let pos = self.points.partition_point(|(t, _)| *t <= measured);
        let after_prev = pos == 0 || measured >= self.points[pos - 1].0.saturating_add(step);
        let before_next = self
            .points
            .get(pos)
            .is_none_or(|(next, _)| measured.saturating_add(step) <= *next);
        let in_window = self
            .points
            .back()
            .is_none_or(|(newest, _)| measured >= newest.saturating_sub(window));
        if !(after_prev && before_next && in_window) {
            return false;
        }
        self.points.insert(pos, (measured, value));
        let keep_from = self.newest().saturating_sub(window);
        while self.points.front().is_some_and(|(t, _)| *t < keep_from)
            || self.points.len() > MAX_POINTS
        {
            self.points.pop_front();
        }
        self.generation += 1;
        true
    }

    fn newest(&self) -> Timestamp {
        self.points.back().map_or(Timestamp::MIN, |(t, _)| *t)
    }

    fn span(&self) -> i64 {
        match (self.points.front(), self.points.back()) {
            (Some(a), Some(b)) => b.0 - a.0,
            _ => 0,
        }
    }
}

/// Called with a series' key before its fit, in unit tests only: holds a
/// fit in the middle to show what it does not block.
#[cfg(test)]
type FitGate = Arc<dyn Fn(&CheckId, &str) + Send + Sync>;

/// Every forecast series of the configured checks.
#[derive(Default)]
pub struct Forecasts {
    /// Held only to find or add a series, never across a fit.
    series: Mutex<HashMap<Key, Arc<Mutex<Series>>>>,
    #[cfg(test)]
    before_fit: Mutex<Option<FitGate>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long the store keeps a series' samples: two windows, so that a
/// monthly report built up to one window and three quarters after its
/// period's end still finds the samples of the window ending there.
fn kept_ms(f: &Forecast) -> i64 {
    ms(f.window).saturating_mul(2)
}

impl Forecasts {
    /// Takes the configured forecasts: a series not yet in memory is read
    /// from the store (its window, at most a window's worth of samples);
    /// series of forecasts no longer configured are dropped, in memory
    /// and in the store, and the others' samples older than the store
    /// keeps them are deleted.
    pub fn configure(&self, checks: &[Arc<Check>], store: &Store, now: Timestamp) {
        let mut wanted = HashMap::new();
        let mut missing = Vec::new();
        {
            let series = lock(&self.series);
            for c in checks {
                for f in &c.forecasts {
                    let key = (c.id.clone(), f.measure.key.clone());
                    let kept = wanted.entry(key.clone()).or_insert(Timestamp::MAX);
                    *kept = (*kept).min(now.saturating_sub(kept_ms(f)));
                    if !series.contains_key(&key) {
                        missing.push((key, now.saturating_sub(ms(f.window))));
                    }
                }
            }
        }
        // Read without the map lock: results of other series go on.
        let read: Vec<(Key, Series)> = missing
            .into_iter()
            .map(|(key, from)| {
                let points = match store.samples(&key.0, &key.1, from, MAX_POINTS) {
                    Ok(points) => points,
                    Err(e) => {
                        tracing::warn!(check = %key.0, measure = %key.1, error = %e, "cannot read a forecast's samples; it starts afresh");
                        Vec::new()
                    }
                };
                let series = Series {
                    points: points.into(),
                    ..Series::default()
                };
                (key, series)
            })
            .collect();
        {
            let mut series = lock(&self.series);
            for (key, s) in read {
                series.entry(key).or_insert_with(|| Arc::new(Mutex::new(s)));
            }
            series.retain(|k, _| wanted.contains_key(k));
        }
        if let Err(e) = store.retain_samples(&wanted) {
            tracing::warn!(error = %e, "cannot delete old forecast samples");
        }
    }

    fn series_of(&self, key: Key) -> Arc<Mutex<Series>> {
        lock(&self.series).entry(key).or_default().clone()
    }

    /// Reads `check`'s forecast measures from `outcome` (its result at
    /// `at`), keeps the samples due in their place in time and, unless the
    /// result is `history`, judges each forecast into the outcome. Returns
    /// the samples to store. CPU work (a fit per new sample): call it off
    /// the async threads.
    pub fn apply(
        &self,
        check: &Check,
        at: Timestamp,
        outcome: &mut Outcome,
        history: bool,
    ) -> Vec<SampleRecord> {
        if check.forecasts.is_empty() {
            return Vec::new();
        }
        let mut samples = Vec::new();
        let mut entries = Vec::new();
        for f in &check.forecasts {
            let Some((value, measured)) = value_of(f, outcome) else {
                continue;
            };
            let measured = measured.unwrap_or(at);
            let series = self.series_of((check.id.clone(), f.measure.key.clone()));
            let mut s = lock(&series);
            let due = s.keep(measured, value, ms(f.step(check.interval)), ms(f.window));
            if due {
                samples.push(SampleRecord {
                    check: check.id.clone(),
                    measure: f.measure.key.clone(),
                    at: measured,
                    value,
                    keep_from: s.newest().saturating_sub(kept_ms(f)),
                });
            }
            if history || (!due && at < s.newest()) {
                continue;
            }
            let head = Head::of(f, s.points.len(), s.span());
            let fit = if !head.enough {
                None
            } else if let Some((_, fit)) = s.fit.filter(|(g, _)| *g == s.generation) {
                fit
            } else {
                let (generation, points) =
                    (s.generation, s.points.iter().copied().collect::<Vec<_>>());
                drop(s);
                #[cfg(test)]
                {
                    let gate = lock(&self.before_fit).clone();
                    if let Some(gate) = gate {
                        gate(&check.id, &f.measure.key);
                    }
                }
                let fit = theil_sen(&points);
                let mut s = lock(&series);
                if s.generation == generation {
                    s.fit = Some((generation, fit));
                }
                fit
            };
            let (entry, finding) = judge(f, head, fit, at);
            entries.push(entry);
            if let Some(finding) = finding {
                outcome.push(finding);
            }
        }
        if !entries.is_empty() {
            outcome.evidence.insert(EVIDENCE_KEY, Value::Array(entries));
            if outcome.status != Status::Up
                && let Some(f) = outcome.worst_finding()
                && f.code == codes::CAPACITY_EXHAUSTED_SOON
                && outcome
                    .findings
                    .iter()
                    .filter(|g| g.severity == f.severity)
                    .count()
                    == 1
            {
                outcome.message = f.text.clone();
            }
        }
        samples
    }
}

/// The forecast `f` makes from `points` (a series, oldest first) at
/// `now`: its evidence entry and its finding if the limit is near. The
/// monthly report's judge of a series read from the store; the live one
/// is [`Forecasts::apply`], which keeps its series' fit between samples.
pub fn outlook(
    f: &Forecast,
    points: &[(Timestamp, f64)],
    now: Timestamp,
) -> (Value, Option<Finding>) {
    let span = match (points.first(), points.last()) {
        (Some(a), Some(b)) => b.0 - a.0,
        _ => 0,
    };
    let head = Head::of(f, points.len(), span);
    let fit = if head.enough { theil_sen(points) } else { None };
    judge(f, head, fit, now)
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The measure's value in this result, in its unit (% of its capacity for
/// a measure that has one), with when it was measured if not at the
/// result's time (a host check's report); `None` when the result does not
/// carry it.
fn value_of(f: &Forecast, o: &Outcome) -> Option<(f64, Option<Timestamp>)> {
    measure_value(&f.measure, o)
}

/// Measure `m`'s value in result `o`, as [`value_of`] reads it: the one
/// reading of a measure from a result, for forecasts and for `[[action]]`
/// measure triggers alike.
pub(crate) fn measure_value(m: &Measure, o: &Outcome) -> Option<(f64, Option<Timestamp>)> {
    if let Source::Host(_) = &m.source {
        let measures = o.evidence.details.get(MEASURES_KEY)?;
        let v = measures.get("values")?.get(&m.key)?.as_f64()?;
        let at = measures.get("at").and_then(Value::as_i64);
        return v.is_finite().then_some((v, at));
    }
    let v = match &m.source {
        Source::Host(_) => return None,
        // A failed run's latency is its timeout, not the service's.
        Source::Latency => match o.status {
            Status::Up | Status::Degraded => o.latency_ms / 1000.0,
            _ => return None,
        },
        Source::Evidence { value, capacity } => {
            let value = pointer(o, value)?;
            match capacity {
                Some(c) => {
                    let cap = pointer(o, c)?;
                    if cap <= 0.0 {
                        return None;
                    }
                    100.0 * value / cap
                }
                None => value,
            }
        }
    };
    v.is_finite().then_some((v, None))
}

/// A number at a JSON pointer into the evidence details.
fn pointer(o: &Outcome, path: &str) -> Option<f64> {
    let rest = path.strip_prefix('/')?;
    let (first, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let top = o.evidence.details.get(first)?;
    let v = if rest.is_empty() {
        top
    } else {
        top.pointer(&format!("/{rest}"))?
    };
    v.as_f64()
}

/// A rate per day in the measure's unit: `+2.1%/day`.
fn per_day(unit: Unit, v: f64) -> String {
    let sign = if v >= 0.0 { "+" } else { "-" };
    format!("{sign}{}/day", unit.format(v.abs()))
}

fn days(seconds: f64) -> String {
    let d = seconds / DAY_S;
    if d < 10.0 {
        format!("{d:.1}")
    } else {
        format!("{d:.0}")
    }
}

/// A series' size and span, and whether they are enough for a forecast.
#[derive(Clone, Copy)]
struct Head {
    points: usize,
    span: i64,
    enough: bool,
}

impl Head {
    fn of(f: &Forecast, points: usize, span: i64) -> Self {
        let enough = points >= f.min_points as usize && span >= ms(f.min_span());
        Self {
            points,
            span,
            enough,
        }
    }
}

/// One forecast's evidence entry and its finding, if the limit is near,
/// from its series' `head` and `fit` (computed only when `head` says it
/// has enough points).
fn judge(f: &Forecast, head: Head, fit: Option<Fit>, now: Timestamp) -> (Value, Option<Finding>) {
    let m = &f.measure;
    let Head {
        points: n, span, ..
    } = head;
    let mut entry = json!({
        "measure": m.key,
        "what": m.what,
        "limit": m.unit.format(f.limit),
        "window": humantime::format_duration(f.window).to_string(),
        "points": n,
        "min_points": f.min_points,
        "span_s": span / 1000,
    });
    if !head.enough {
        entry["state"] = json!(format!(
            "no forecast yet: {n} samples over {} (it needs {} over {})",
            humantime::format_duration(std::time::Duration::from_secs((span / 1000) as u64)),
            f.min_points,
            humantime::format_duration(f.min_span())
        ));
        return (entry, None);
    }
    let Some(fit) = fit else {
        entry["state"] = json!("no forecast: the samples fit no line");
        return (entry, None);
    };
    let level = fit.value_at(now);
    entry["method"] = json!("theil-sen");
    entry["slope_per_day"] = json!(fit.slope * DAY_S);
    entry["slope_per_day_low"] = json!(fit.slope_low * DAY_S);
    entry["slope_per_day_high"] = json!(fit.slope_high * DAY_S);
    entry["intercept"] = json!(level);
    entry["intercept_at"] = json!(format_rfc3339(now));
    entry["residual_spread"] = json!(fit.residual_spread);
    entry["fitted_points"] = json!(fit.points);
    let at_slope = per_day(m.unit, fit.slope * DAY_S);
    if fit.slope <= 0.0 {
        entry["state"] = json!(format!("flat or falling ({at_slope})"));
        return (entry, None);
    }
    let (seconds, earliest, latest) = match fit.outlook(f.limit, now) {
        Outlook::Reached => (0.0, 0.0, Some(0.0)),
        Outlook::In {
            seconds,
            earliest,
            latest,
        } => (seconds, earliest, latest),
        Outlook::Never => {
            entry["state"] = json!(format!("flat or falling ({at_slope})"));
            return (entry, None);
        }
    };
    entry["seconds_left"] = json!(seconds);
    entry["days_left"] = json!(seconds / DAY_S);
    entry["days_left_low"] = json!(earliest / DAY_S);
    entry["days_left_high"] = json!(latest.map(|l| l / DAY_S));
    let range = match latest {
        Some(l) => format!("{}–{}", days(earliest), days(l)),
        None => format!("{} or more", days(earliest)),
    };
    if fit.slope_low <= 0.0 && seconds > 0.0 {
        entry["state"] = json!(format!(
            "growth not significant ({at_slope}, its 95 % interval reaches zero): {} days at this slope",
            days(seconds)
        ));
        return (entry, None);
    }
    entry["state"] = json!(format!("full in {} days ({range})", days(seconds)));
    let severity = if seconds <= f.crit.as_secs_f64() {
        Severity::Critical
    } else if seconds <= f.warn.as_secs_f64() {
        Severity::Warning
    } else {
        return (entry, None);
    };
    let text = if seconds <= 0.0 {
        format!(
            "{} is at its limit of {} at its trend ({at_slope} over {})",
            m.what,
            m.unit.format(f.limit),
            humantime::format_duration(f.window)
        )
    } else {
        format!(
            "{} reaches {} in {} days ({range} days) at {at_slope}, now {}",
            m.what,
            m.unit.format(f.limit),
            days(seconds),
            m.unit.format(level)
        )
    };
    (
        entry,
        Some(Finding::new(codes::CAPACITY_EXHAUSTED_SOON, severity, text)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(src_forecast: &str) -> Arc<Check> {
        let src = format!(
            "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"api\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\ninterval = \"1m\"\nforecast = {src_forecast}\n"
        );
        let config = keepup_config::load_str(&src, std::path::Path::new("k.toml")).unwrap();
        config.sites[0].checks[0].clone()
    }

    fn up(latency_s: f64) -> Outcome {
        let mut o = Outcome::new(Status::Up, "ok");
        o.latency_ms = latency_s * 1000.0;
        o
    }

    #[test]
    fn a_growing_latency_reaches_its_limit_in_the_days_the_line_says() {
        // One sample per 1h step (24h / 500 < 1m interval? no: 1m), runs
        // every minute: 0.1 s growing 0.1 s a day towards 2 s.
        let c = check(
            "{ measure = \"latency\", window = \"1d\", limit = \"2s\", warn = \"30d\", crit = \"10d\" }",
        );
        let forecasts = Forecasts::default();
        let mut stored = 0;
        let mut last = None;
        for i in 0..=1440 {
            let at = i * 60_000;
            let mut o = up(0.1 + 0.1 * at as f64 / 86_400_000.0);
            stored += forecasts.apply(&c, at, &mut o, false).len();
            last = Some(o);
        }
        // 1d / 500 = 172.8 s: one sample every third minute.
        assert_eq!(stored, 481);
        let o = last.unwrap();
        let entry = &o.evidence.details[EVIDENCE_KEY][0];
        let left = entry["days_left"].as_f64().unwrap();
        // At 0.2 s after a day, 1.8 s to go at 0.1 s a day: 18 days.
        assert!((left - 18.0).abs() < 0.01, "{entry}");
        assert_eq!(o.status, Status::Degraded, "{entry}");
        assert_eq!(o.findings[0].code, codes::CAPACITY_EXHAUSTED_SOON);
        assert!(o.message.contains("reaches 2s in 18 days"), "{}", o.message);
    }

    #[test]
    fn too_few_points_or_a_flat_series_raise_nothing_and_say_so() {
        let c = check("{ measure = \"latency\", window = \"1h\", limit = \"2s\" }");
        let forecasts = Forecasts::default();
        let mut o = up(1.0);
        forecasts.apply(&c, 0, &mut o, false);
        let state = o.evidence.details[EVIDENCE_KEY][0]["state"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(state.starts_with("no forecast yet: 1 samples"), "{state}");
        let mut o = up(1.0);
        for i in 1..=30 {
            o = up(1.0);
            forecasts.apply(&c, i * 60_000, &mut o, false);
        }
        assert_eq!(o.status, Status::Up);
        let state = o.evidence.details[EVIDENCE_KEY][0]["state"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(state.starts_with("flat or falling"), "{state}");
        // A failed run's latency is no sample.
        let mut down = Outcome::new(Status::Down, "timeout");
        down.latency_ms = 10_000.0;
        assert!(
            forecasts
                .apply(&c, 40 * 60_000, &mut down, false)
                .is_empty()
        );
    }

    /// A check whose latency grows (window 1h, one sample a minute), run
    /// for 30 minutes: enough samples for a fit.
    fn grown(forecasts: &Forecasts, c: &Check) {
        for i in 0..=30 {
            let mut o = up(0.1 + 0.01 * i as f64);
            forecasts.apply(c, i * 60_000, &mut o, false);
        }
    }

    #[test]
    fn a_fit_in_progress_blocks_neither_another_series_nor_its_own() {
        use std::sync::mpsc;
        let a = check("{ measure = \"latency\", window = \"1h\", limit = \"2s\" }");
        let mut b = Check::clone(&a);
        b.id = CheckId::new("s", "other");
        let forecasts = Arc::new(Forecasts::default());
        grown(&forecasts, &a);
        grown(&forecasts, &b);
        // `a`'s next fit stops in the middle until released.
        let (entered, in_fit) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        let first = std::sync::atomic::AtomicBool::new(true);
        *lock(&forecasts.before_fit) = Some(Arc::new(move |id: &CheckId, _: &str| {
            if id.as_str() == "s/api" && first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                let _ = entered.send(());
                let _ = lock(&released).recv();
            }
        }));
        let held = {
            let (forecasts, a) = (forecasts.clone(), a.clone());
            std::thread::spawn(move || {
                let mut o = up(0.5);
                forecasts.apply(&a, 31 * 60_000, &mut o, false);
                o
            })
        };
        in_fit.recv().unwrap();
        // While it computes: another series is sampled and fitted, and
        // `a` itself is judged (within its step: no new sample, but a fit
        // of its own, as the held one is not kept yet).
        let (done, finished) = mpsc::channel();
        {
            let (forecasts, a, b) = (forecasts.clone(), a.clone(), b.clone());
            std::thread::spawn(move || {
                let mut o = up(0.5);
                let kept = forecasts.apply(&b, 31 * 60_000, &mut o, false).len();
                let mut same = up(0.5);
                forecasts.apply(&a, 31 * 60_000 + 1_000, &mut same, false);
                let _ = done.send((kept, o, same));
            });
        }
        // A deadlock guard, not a timing: with one lock held across the
        // fit this never arrives.
        let (kept, other, same) = finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("another series' apply waited for a fit of `a`");
        release.send(()).unwrap();
        assert_eq!(kept, 1);
        assert!(other.evidence.details[EVIDENCE_KEY][0]["slope_per_day"].is_number());
        assert!(same.evidence.details[EVIDENCE_KEY][0]["slope_per_day"].is_number());
        let o = held.join().unwrap();
        assert!(o.evidence.details[EVIDENCE_KEY][0]["slope_per_day"].is_number());
    }

    #[test]
    fn a_series_is_fitted_once_per_new_sample_and_the_fit_reused_between() {
        let c = check("{ measure = \"latency\", window = \"1d\", limit = \"2s\" }");
        let forecasts = Forecasts::default();
        let fits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = fits.clone();
        *lock(&forecasts.before_fit) = Some(Arc::new(move |_: &CheckId, _: &str| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }));
        // A day of runs every minute: one sample per 172.8 s step.
        let mut kept = 0;
        let mut judged = 0;
        for i in 0..=1440 {
            let at = i * 60_000;
            let mut o = up(0.1 + 0.1 * at as f64 / 86_400_000.0);
            kept += forecasts.apply(&c, at, &mut o, false).len();
            judged += usize::from(o.evidence.details[EVIDENCE_KEY][0]["slope_per_day"].is_number());
        }
        let fits = fits.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(kept, 481);
        // Fits from the 6-hour span on (a quarter of the window): one per
        // sample kept since, while every run is judged on one.
        assert!(judged > 1000, "{judged}");
        assert!(fits <= 481 - 120, "{fits} fits for {judged} judged results");
        assert!(fits >= 481 - 130, "{fits}");
    }

    #[test]
    fn a_late_backlog_fills_its_hole_in_time_order_and_is_not_judged() {
        let c = check("{ measure = \"latency\", window = \"1d\", limit = \"2s\" }");
        let forecasts = Forecasts::default();
        let step = 172_800;
        // Live results for the first 4 h and the last 2 h of 8 h.
        let live = |i: i64| (0..=240).contains(&i) || (360..=480).contains(&i);
        for i in (0..=480).filter(|i| live(*i)) {
            let mut o = up(1.0 + i as f64 / 1000.0);
            forecasts.apply(&c, i * 60_000, &mut o, false);
        }
        let key = (c.id.clone(), "latency".to_owned());
        let points = |f: &Forecasts| -> Vec<Timestamp> {
            let s = lock(&f.series)[&key].clone();
            lock(&s).points.iter().map(|p| p.0).collect::<Vec<_>>()
        };
        let before = points(&forecasts);
        // The agent's backlog of the hole arrives late, oldest first: history.
        let mut stored = Vec::new();
        for i in 241..360 {
            let mut o = up(1.0 + i as f64 / 1000.0);
            stored.extend(forecasts.apply(&c, i * 60_000, &mut o, true));
            assert!(
                !o.evidence.details.contains_key(EVIDENCE_KEY),
                "history is not judged"
            );
        }
        let after = points(&forecasts);
        assert!(
            after.windows(2).all(|w| w[1] - w[0] >= step),
            "sorted, a step apart"
        );
        // About 2 h / 172.8 s of samples filled in, each between its
        // neighbours and stored.
        assert_eq!(after.len() - before.len(), stored.len());
        assert!(stored.len() >= 38, "{}", stored.len());
        assert!(
            stored
                .iter()
                .all(|s| s.at > 240 * 60_000 && s.at < 360 * 60_000)
        );
        // Kept by the store for two windows from the newest sample.
        assert!(
            stored
                .iter()
                .all(|s| s.keep_from == after[after.len() - 1] - 2 * 86_400_000)
        );
        // The same backlog again adds nothing.
        for i in 241..360 {
            let mut o = up(1.0);
            assert!(forecasts.apply(&c, i * 60_000, &mut o, true).is_empty());
        }
    }

    #[test]
    fn configure_deletes_the_samples_of_forecasts_removed_from_the_config() {
        let c = check("{ measure = \"latency\", window = \"1h\", limit = \"2s\" }");
        let store = Store::open_in_memory().unwrap();
        let forecasts = Forecasts::default();
        forecasts.configure(std::slice::from_ref(&c), &store, 0);
        let mut samples = Vec::new();
        for i in 0..=30 {
            let mut o = up(1.0);
            samples.extend(forecasts.apply(&c, i * 60_000, &mut o, false));
        }
        store.record_samples(&samples).unwrap();
        // Configured again: kept; and read back by a fresh process.
        forecasts.configure(std::slice::from_ref(&c), &store, 31 * 60_000);
        assert_eq!(store.samples(&c.id, "latency", 0, 1_000).unwrap().len(), 31);
        let restarted = Forecasts::default();
        restarted.configure(std::slice::from_ref(&c), &store, 31 * 60_000);
        assert_eq!(
            lock(&lock(&restarted.series)[&(c.id.clone(), "latency".to_owned())])
                .points
                .len(),
            31
        );
        // The forecast removed (here by a process started after the
        // change): its samples are deleted at once, not after a year.
        Forecasts::default().configure(&[], &store, 32 * 60_000);
        assert_eq!(store.samples(&c.id, "latency", 0, 1_000).unwrap(), []);
        forecasts.configure(&[], &store, 32 * 60_000);
        assert!(lock(&forecasts.series).is_empty());
    }
}
