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
//!
//! Each series lives in memory (at most about 500 points, read from the
//! store when the forecast is configured) and in the store's `sample`
//! table, written with the results' batch. Results recorded as history (a
//! late agent report) are not sampled: a series only grows forward.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use keepup_config::forecast::{Forecast, SAMPLES_PER_WINDOW, Source};
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

/// One measure's samples, oldest first, and their fit once computed.
#[derive(Default)]
struct Series {
    points: VecDeque<(Timestamp, f64)>,
    fit: Option<Fit>,
}

/// Every forecast series of the configured checks.
#[derive(Default)]
pub struct Forecasts {
    series: Mutex<HashMap<(CheckId, String), Series>>,
}

impl Forecasts {
    /// Takes the configured forecasts: a series not yet in memory is read
    /// from the store (its window, at most a window's worth of samples);
    /// series of forecasts no longer configured are dropped, and samples
    /// older than any window are deleted from the store.
    pub fn configure(&self, checks: &[Arc<Check>], store: &Store, now: Timestamp) {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut wanted = std::collections::HashSet::new();
        for c in checks {
            for f in &c.forecasts {
                let key = (c.id.clone(), f.measure.key.clone());
                wanted.insert(key.clone());
                if series.contains_key(&key) {
                    continue;
                }
                let from = now.saturating_sub(ms(f.window));
                let cap = SAMPLES_PER_WINDOW as usize + 1;
                let points = match store.samples(&c.id, &f.measure.key, from, cap) {
                    Ok(points) => points,
                    Err(e) => {
                        tracing::warn!(check = %c.id, measure = %f.measure.key, error = %e, "cannot read a forecast's samples; it starts afresh");
                        Vec::new()
                    }
                };
                series.insert(
                    key,
                    Series {
                        points: points.into(),
                        fit: None,
                    },
                );
            }
        }
        series.retain(|k, _| wanted.contains(k));
        drop(series);
        if let Err(e) = store.prune_samples(now) {
            tracing::warn!(error = %e, "cannot delete old forecast samples");
        }
    }

    /// Reads `check`'s forecast measures from `outcome` (its result at
    /// `at`), keeps the samples due and, unless the result is `history`,
    /// judges each forecast into the outcome. Returns the samples to store.
    pub(crate) fn apply(
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
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        for f in &check.forecasts {
            let Some((value, measured)) = value_of(f, outcome) else {
                continue;
            };
            let measured = measured.unwrap_or(at);
            let s = series
                .entry((check.id.clone(), f.measure.key.clone()))
                .or_default();
            let step = ms(f.step(check.interval));
            let due = s
                .points
                .back()
                .is_none_or(|(last, _)| measured >= last + step);
            if !due && (history || s.points.back().is_some_and(|(last, _)| at < *last)) {
                continue;
            }
            let keep_from = measured.saturating_sub(ms(f.window));
            if due {
                s.points.push_back((measured, value));
                while s.points.front().is_some_and(|(t, _)| *t < keep_from)
                    || s.points.len() > SAMPLES_PER_WINDOW as usize + 1
                {
                    s.points.pop_front();
                }
                s.fit = None;
                samples.push(SampleRecord {
                    check: check.id.clone(),
                    measure: f.measure.key.clone(),
                    at: measured,
                    value,
                    keep_from,
                });
            }
            if history {
                continue;
            }
            let (entry, finding) = judge(f, s, at);
            entries.push(entry);
            if let Some(finding) = finding {
                outcome.push(finding);
            }
        }
        drop(series);
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

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The measure's value in this result, in its unit (% of its capacity for
/// a measure that has one), with when it was measured if not at the
/// result's time (a host check's report); `None` when the result does not
/// carry it.
fn value_of(f: &Forecast, o: &Outcome) -> Option<(f64, Option<Timestamp>)> {
    if let Source::Host(_) = &f.measure.source {
        let measures = o.evidence.details.get(MEASURES_KEY)?;
        let v = measures.get("values")?.get(&f.measure.key)?.as_f64()?;
        let at = measures.get("at").and_then(Value::as_i64);
        return v.is_finite().then_some((v, at));
    }
    let v = match &f.measure.source {
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

/// One forecast's evidence entry and its finding, if the limit is near.
fn judge(f: &Forecast, s: &mut Series, now: Timestamp) -> (Value, Option<Finding>) {
    let m = &f.measure;
    let n = s.points.len();
    let span = match (s.points.front(), s.points.back()) {
        (Some(a), Some(b)) => b.0 - a.0,
        _ => 0,
    };
    let mut entry = json!({
        "measure": m.key,
        "what": m.what,
        "limit": m.unit.format(f.limit),
        "window": humantime::format_duration(f.window).to_string(),
        "points": n,
        "min_points": f.min_points,
        "span_s": span / 1000,
    });
    let min_span = ms(f.min_span());
    if n < f.min_points as usize || span < min_span {
        entry["state"] = json!(format!(
            "no forecast yet: {n} samples over {} (it needs {} over {})",
            humantime::format_duration(std::time::Duration::from_secs((span / 1000) as u64)),
            f.min_points,
            humantime::format_duration(f.min_span())
        ));
        return (entry, None);
    }
    if s.fit.is_none() {
        let points: Vec<(Timestamp, f64)> = s.points.iter().copied().collect();
        s.fit = theil_sen(&points);
    }
    let Some(fit) = s.fit else {
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
}
