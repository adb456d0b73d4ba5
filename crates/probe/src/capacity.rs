//! Load against design capacity (`[site.capacity]`): the judging of a
//! measured load against the design, for both sources (a Prometheus
//! endpoint scraped here, an access log an agent counts and the monitor
//! hands over).
//!
//! A measure at `warn_at` of its design or more is
//! `CAPACITY_DESIGN_NEAR` (Degraded), at `crit_at` or more
//! `CAPACITY_DESIGN_EXCEEDED` (Down); a declared measure the source has
//! no value for is `CAPACITY_LOAD_UNMEASURED`, except while `rate()`
//! waits for its second scrape (or the agent for its second count).
//!
//! Not here: where the agent's counts come from (`keepup_agent`'s access
//! log counter) and each day's peak, which the monitor keeps for the
//! report on its clock (`keepup_monitor::peaks`).

use keepup_config::capacity::{CapacitySpec, LoadSource, Measure};
use keepup_model::{Finding, Outcome, Severity, Status, codes};
use serde_json::json;
use tokio::time::Instant;

use crate::context::ProbeContext;

/// A load measured over some time: per declared measure its value (None:
/// no value), and why values are missing when that is expected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Load {
    /// Each measure's value in its unit (requests/s, transactions/h,
    /// sessions).
    pub values: Vec<(Measure, Option<f64>)>,
    /// Over how many seconds it was measured, when known.
    pub over_s: Option<f64>,
    /// Set when missing values are expected (the first scrape of a
    /// `rate()`, the agent's first count): they are pending, not missing.
    pub pending: Option<String>,
}

/// A number for people: integers without a fraction, others with up to
/// two decimals.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let text = format!("{v:.2}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// The verdict on `load` against `spec`'s design.
pub fn judge(spec: &CapacitySpec, load: &Load) -> Outcome {
    let mut o = Outcome::new(Status::Up, "");
    let mut measured = Vec::new();
    let mut shown = serde_json::Map::new();
    for &(m, design) in &spec.design {
        let value = load
            .values
            .iter()
            .find(|(v, _)| *v == m)
            .and_then(|(_, v)| *v)
            .filter(|v| v.is_finite());
        let Some(value) = value else {
            if load.pending.is_none() {
                o.push(Finding::new(
                    codes::CAPACITY_LOAD_UNMEASURED,
                    Severity::Warning,
                    format!("no value of {} in the source, so it cannot be compared with the design of {} {}", m.key(), number(design), m.unit()),
                ));
            }
            continue;
        };
        let share = value / design * 100.0;
        shown.insert(
            m.key().to_owned(),
            json!({"value": value, "design": design, "share_percent": share}),
        );
        let said = format!(
            "{} {} of the {} designed ({}%)",
            number(value),
            m.unit(),
            number(design),
            number(share)
        );
        if share >= spec.crit_at {
            o.push(Finding::new(
                codes::CAPACITY_DESIGN_EXCEEDED,
                Severity::Critical,
                format!("{said}: at or past crit_at {}%", number(spec.crit_at)),
            ));
        } else if share >= spec.warn_at {
            o.push(Finding::new(
                codes::CAPACITY_DESIGN_NEAR,
                Severity::Warning,
                format!("{said}: at or past warn_at {}%", number(spec.warn_at)),
            ));
        }
        measured.push(said);
    }
    o.evidence.insert("load", shown);
    o.evidence.insert("warn_at_percent", spec.warn_at);
    o.evidence.insert("crit_at_percent", spec.crit_at);
    if let Some(s) = load.over_s {
        o.evidence.insert("measured_over_s", s);
    }
    let worst = o
        .findings
        .iter()
        .max_by_key(|f| f.severity)
        .map(|f| f.text.clone());
    o.message = match (worst, &load.pending) {
        (Some(text), _) => text,
        (None, Some(why)) if measured.is_empty() => {
            o.status = Status::Unknown;
            why.clone()
        }
        (None, _) => measured.join(", "),
    };
    o
}

/// Runs a capacity check whose load comes from a Prometheus endpoint.
pub async fn probe(spec: &CapacitySpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let LoadSource::Prometheus { http, exprs } = &spec.source else {
        // The configuration makes an agent's source a passive check.
        return Outcome::new(
            Status::Unknown,
            "the load of this site comes from an agent, not from a probe",
        );
    };
    let compiled: Vec<&keepup_config::prometheus::Expr> =
        exprs.iter().map(|(_, e)| &e.expr).collect();
    let target = exprs
        .iter()
        .fold(http.url.to_string(), |k, (_, e)| format!("{k}\n{}", e.text));
    let values = match crate::prometheus::values(http, &compiled, &target, &ctx).await {
        Ok(v) => v,
        Err(outcome) => return outcome,
    };
    let load = Load {
        values: exprs
            .iter()
            .zip(&values.sums)
            .map(|((m, _), v)| {
                // Expressions are rates per second; transactions are
                // designed per hour.
                let per_unit = match m {
                    Measure::Transactions => 3600.0,
                    Measure::Requests | Measure::Sessions => 1.0,
                };
                (*m, v.map(|v| v * per_unit))
            })
            .collect(),
        over_s: None,
        pending: values
            .rate_pending
            .then(|| "rate() starts with the next scrape".to_owned()),
    };
    let mut outcome = judge(spec, &load);
    // The scrape's own evidence (status code, samples) stays beside it.
    for (k, v) in values.outcome.evidence.details {
        outcome.evidence.details.entry(k).or_insert(v);
    }
    outcome.evidence.timing = values.outcome.evidence.timing;
    for f in values.outcome.findings {
        outcome.push(f);
    }
    outcome.latency_ms = crate::util::ms(started.elapsed());
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CapacitySpec {
        let src = "[[site]]\nid = \"s\"\n[site.capacity]\nrequests_per_second = 200\ntransactions_per_hour = 3000\nsource = { url = \"http://127.0.0.1:9/metrics\", requests = 'rate(a)', transactions = 'rate(b)' }\n";
        let config = keepup_config::load_str(src, std::path::Path::new("k.toml"))
            .unwrap_or_else(|p| panic!("{p}"));
        match &config.sites[0].checks[0].spec {
            keepup_config::CheckSpec::Probe(keepup_config::ProbeSpec::Capacity(c)) => (**c).clone(),
            other => panic!("{other:?}"),
        }
    }

    fn load(rps: Option<f64>, tph: Option<f64>) -> Load {
        Load {
            values: vec![(Measure::Requests, rps), (Measure::Transactions, tph)],
            over_s: Some(10.0),
            pending: None,
        }
    }

    #[test]
    fn shares_of_the_design_set_the_status() {
        let spec = spec();
        let o = judge(&spec, &load(Some(100.0), Some(1500.0)));
        assert_eq!(o.status, Status::Up, "{o:?}");
        assert!(o.findings.is_empty());
        let o = judge(&spec, &load(Some(160.0), Some(1500.0)));
        assert_eq!(o.status, Status::Degraded);
        assert_eq!(o.findings[0].code, codes::CAPACITY_DESIGN_NEAR);
        assert!(
            o.findings[0]
                .text
                .starts_with("160 requests/s of the 200 designed (80%)"),
            "{}",
            o.findings[0].text
        );
        let o = judge(&spec, &load(Some(100.0), Some(3300.0)));
        assert_eq!(o.status, Status::Down);
        assert_eq!(o.findings[0].code, codes::CAPACITY_DESIGN_EXCEEDED);
        let share = o.evidence.details["load"]["transactions_per_hour"]["share_percent"].as_f64();
        assert!(share.is_some_and(|s| (s - 110.0).abs() < 1e-9), "{o:?}");
    }

    #[test]
    fn missing_values_are_unmeasured_unless_pending() {
        let spec = spec();
        let o = judge(&spec, &load(None, Some(100.0)));
        assert_eq!(o.status, Status::Degraded);
        assert_eq!(o.findings[0].code, codes::CAPACITY_LOAD_UNMEASURED);
        let mut pending = load(None, None);
        pending.pending = Some("waiting for the second count".into());
        let o = judge(&spec, &pending);
        assert_eq!(o.status, Status::Unknown);
        assert_eq!(o.message, "waiting for the second count");
    }
}
