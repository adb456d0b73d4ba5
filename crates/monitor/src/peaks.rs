//! The day's peak load of each capacity check (`[site.capacity]`), kept for
//! the monthly report: one memo per check, local day and time zone, holding
//! each measure's highest value with its share of the design and its time.
//!
//! Days are those of the zones the site's contracts read their periods in
//! (`CapacitySpec::peak_zones`; UTC without a contract), so a peak at
//! 00:30 in Berlin on the 1st belongs to the new month, as the report's
//! period does. The time of a peak is the run's on the monitor's `Clock`
//! (a scraped source) or the agent's collection time (an access log), so
//! simulated time and an agent's backlog place peaks where they were
//! measured. Days older than [`PEAK_RETENTION_DAYS`] are dropped when a
//! check's next day begins, so the memos do not grow with time.
//!
//! Not here: judging the load (`keepup_probe::capacity`), the report's
//! rendering (`keepup_sla`).

use std::collections::{BTreeMap, HashMap};

use keepup_config::capacity::CapacitySpec;
use keepup_model::{CheckId, Outcome, Timestamp};
use keepup_store::{MemoChange, Store, StoreError};
use serde::{Deserialize, Serialize};

/// The memo kind of the peaks ([`DayPeaks`]).
pub const PEAK_MEMO: &str = "capacity_peak";

/// How long a day's peaks are kept: as long as day rollups are by
/// default (two years), so a report for any period still in the store
/// has its peak.
pub const PEAK_RETENTION_DAYS: i64 = 731;

/// The highest value of one measure in a day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    /// The value, in the measure's unit.
    pub value: f64,
    /// Its share of the design then, in percent.
    pub share: f64,
    /// When it was measured.
    pub at: Timestamp,
}

/// One check's peaks of one day, by measure key (`requests_per_second`,
/// ...): the memo under [`peak_key`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayPeaks(pub BTreeMap<String, Peak>);

/// The memo key of `check`'s peaks on local day `day` of zone `zone`:
/// `site/capacity@2026-12-06` in UTC, `site/capacity@2026-12-06@Europe/Berlin`
/// in another zone. The date comes right after the check's `@`, so the
/// keys of a check sort by day whatever the zone.
pub fn peak_key(check: &CheckId, day: jiff::civil::Date, zone: &str) -> String {
    if zone == "UTC" {
        format!("{}@{day}", check.as_str())
    } else {
        format!("{}@{day}@{zone}", check.as_str())
    }
}

/// The local day of `at` in `zone`.
fn day_of(at: Timestamp, zone: &jiff::tz::TimeZone) -> Option<jiff::civil::Date> {
    Some(
        jiff::Timestamp::from_millisecond(at)
            .ok()?
            .to_zoned(zone.clone())
            .date(),
    )
}

/// Folds the load `outcome` measured at `at` into a day's peaks (`before`,
/// the memo's text, if any): the new peaks, and whether one rose.
pub fn fold(outcome: &Outcome, before: Option<&str>, at: Timestamp) -> (DayPeaks, bool) {
    let mut peaks: DayPeaks = before
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let mut rose = false;
    if let Some(serde_json::Value::Object(load)) = outcome.evidence.details.get("load") {
        for (key, v) in load {
            let (Some(value), Some(share)) = (
                v.get("value").and_then(serde_json::Value::as_f64),
                v.get("share_percent").and_then(serde_json::Value::as_f64),
            ) else {
                continue;
            };
            if peaks.0.get(key).is_none_or(|p| value > p.value) {
                peaks.0.insert(key.clone(), Peak { value, share, at });
                rose = true;
            }
        }
    }
    (peaks, rose)
}

/// Folds the capacity verdict `o`, measured at `at`, into `check`'s peaks
/// of the day in each of `spec`'s zones, writes those that rose, and puts
/// the first zone's peaks into the evidence as `peak_today`. A check's
/// first peak of a day also drops its days older than
/// [`PEAK_RETENTION_DAYS`]. Store failures are logged: a peak lost is a
/// report line less, not a reason to fail the check.
pub fn keep(o: &mut Outcome, check: &CheckId, spec: &CapacitySpec, at: Timestamp, store: &Store) {
    if let Err(e) = try_keep(o, check, spec, at, store) {
        tracing::warn!(check = %check, error = %e, "cannot keep the day's peak load");
    }
}

fn try_keep(
    o: &mut Outcome,
    check: &CheckId,
    spec: &CapacitySpec,
    at: Timestamp,
    store: &Store,
) -> Result<(), StoreError> {
    let mut changes = Vec::new();
    let mut new_day = false;
    let mut shown = None;
    for (name, zone) in &spec.peak_zones {
        let Some(day) = day_of(at, zone) else {
            continue;
        };
        let key = peak_key(check, day, name);
        let before = store.memo(PEAK_MEMO, &key)?;
        new_day |= before.is_none();
        let (peaks, rose) = fold(o, before.as_deref(), at);
        if rose {
            changes.push(MemoChange::put(
                PEAK_MEMO,
                key,
                serde_json::to_string(&peaks).unwrap_or_default(),
            ));
        }
        if shown.is_none() && !peaks.0.is_empty() {
            shown = Some(peaks);
        }
    }
    if let Some(peaks) = shown {
        o.evidence.insert(
            "peak_today",
            serde_json::to_value(&peaks).unwrap_or_default(),
        );
    }
    store.write_memos(at, &changes)?;
    if new_day && !changes.is_empty() {
        prune(store, check, at)?;
    }
    Ok(())
}

/// Drops `check`'s peaks of the days before [`PEAK_RETENTION_DAYS`] ago
/// (UTC days; a zone's day a few hours either side makes no difference at
/// that age).
fn prune(store: &Store, check: &CheckId, now: Timestamp) -> Result<usize, StoreError> {
    let Some(cutoff) = day_of(
        now - PEAK_RETENTION_DAYS * 86_400_000,
        &jiff::tz::TimeZone::UTC,
    ) else {
        return Ok(0);
    };
    let from = format!("{}@", check.as_str());
    let to = peak_key(check, cutoff, "UTC");
    store.delete_memos_in(PEAK_MEMO, from.as_str()..to.as_str())
}

/// The highest peak of each measure of `check` with `from <= at < until`,
/// read from the local days of `zone` (named `zone_name`) the range covers.
pub fn highest(
    store: &Store,
    check: &CheckId,
    zone_name: &str,
    zone: &jiff::tz::TimeZone,
    from: Timestamp,
    until: Timestamp,
) -> Result<HashMap<String, Peak>, StoreError> {
    let mut highest: HashMap<String, Peak> = HashMap::new();
    let Some(mut day) = day_of(from, zone) else {
        return Ok(highest);
    };
    loop {
        let starts = day
            .to_zoned(zone.clone())
            .map(|z| z.timestamp().as_millisecond());
        if starts.is_ok_and(|s| s >= until) {
            break;
        }
        if let Some(text) = store.memo(PEAK_MEMO, &peak_key(check, day, zone_name))?
            && let Ok(peaks) = serde_json::from_str::<DayPeaks>(&text)
        {
            for (measure, p) in peaks.0 {
                if p.at < from || p.at >= until {
                    continue;
                }
                if highest.get(&measure).is_none_or(|h| p.value > h.value) {
                    highest.insert(measure, p);
                }
            }
        }
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    Ok(highest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepup_model::Status;
    use serde_json::json;

    fn load(rps: f64) -> Outcome {
        let mut o = Outcome::new(Status::Up, "");
        o.evidence.insert(
            "load",
            json!({"requests_per_second": {"value": rps, "design": 200.0, "share_percent": rps / 2.0}}),
        );
        o
    }

    #[test]
    fn a_day_keeps_its_highest_value_per_measure() {
        let (peaks, rose) = fold(&load(120.0), None, 1_000);
        assert!(rose);
        let memo = serde_json::to_string(&peaks).unwrap();
        let (peaks, rose) = fold(&load(90.0), Some(&memo), 2_000);
        assert!(!rose);
        assert_eq!(
            peaks.0["requests_per_second"],
            Peak {
                value: 120.0,
                share: 60.0,
                at: 1_000
            }
        );
        assert!(fold(&load(130.0), Some(&memo), 3_000).1);
    }

    #[test]
    fn keys_carry_the_local_day_and_a_zone_other_than_utc() {
        let id = CheckId::new("s", "capacity");
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        // 2026-11-30T23:30Z is already December 1st in Berlin.
        let at = 1_796_081_400_000;
        assert_eq!(
            peak_key(&id, day_of(at, &jiff::tz::TimeZone::UTC).unwrap(), "UTC"),
            "s/capacity@2026-11-30"
        );
        assert_eq!(
            peak_key(&id, day_of(at, &berlin).unwrap(), "Europe/Berlin"),
            "s/capacity@2026-12-01@Europe/Berlin"
        );
    }
}
