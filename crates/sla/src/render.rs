//! Figures for people: the table `keepup sla` prints, CSV, and the
//! explanation that lists every interval behind a figure. Times are shown
//! in the contract's zone, durations as `1h 2m 3s`.

use crate::account::Figures;
use keepup_model::Timestamp;
use keepup_model::text::duration_compact;
use std::fmt::Write as _;
use std::time::Duration;

pub(crate) fn dur(ms: i64) -> String {
    let ms = ms.max(0);
    // Short stretches keep their milliseconds, or "2s - 2s" would not add up.
    if ms < 60_000 && ms % 1000 != 0 && ms > 1000 {
        return format!("{:.3}s", ms as f64 / 1000.0);
    }
    duration_compact(Duration::from_millis(ms.unsigned_abs()))
}

pub(crate) fn dur_f(ms: f64) -> String {
    // Degraded time is weighted, so downtime can have a fraction of a
    // millisecond; people read whole seconds.
    dur(ms.round() as i64)
}

pub(crate) fn percent(p: Option<f64>) -> String {
    p.map_or_else(
        || "no data".to_owned(),
        |p| format!("{} %", truncated(p, 3)),
    )
}

/// `x` with `digits` decimals, cut rather than rounded: 99.8996 beside
/// "target 99.9 % missed" must not read 99.900. Every figure shown to
/// people against a threshold (availability, budget share, burn rate)
/// goes through here.
pub fn truncated(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    // Nine decimals first, so that a float a hair below a decimal value
    // (99.9 stored as 99.89999…) is not cut to the digit below it.
    let long = format!("{x:.9}");
    match long.split_once('.') {
        Some(("-0", _)) if digits == 0 => "0".to_owned(),
        Some((whole, _)) if digits == 0 => whole.to_owned(),
        Some((whole, fraction)) => format!("{whole}.{}", &fraction[..digits.min(9)]),
        None => long,
    }
}

impl Figures {
    pub(crate) fn zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.time_zone).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// `2026-10-04 14:03:00 CEST` in the contract's zone.
    pub fn local(&self, at: Timestamp) -> String {
        match jiff::Timestamp::from_millisecond(at) {
            // Milliseconds only where there are some (results are timed to
            // the millisecond; configured boundaries fall on whole minutes).
            Ok(t) if at % 1000 != 0 => t
                .to_zoned(self.zone())
                .strftime("%Y-%m-%d %H:%M:%S%.3f %Z")
                .to_string(),
            Ok(t) => t
                .to_zoned(self.zone())
                .strftime("%Y-%m-%d %H:%M:%S %Z")
                .to_string(),
            Err(_) => format!("{at} ms"),
        }
    }

    /// Every figure with the intervals and incidents it was made of.
    pub fn explain(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "contract {} (site {}), period {} in {}: {} to {}, measured up to {}",
            self.contract,
            self.site,
            self.period,
            self.time_zone,
            self.local(self.from),
            self.local(self.to),
            self.local(self.measured_to)
        );
        let _ = writeln!(o, "service: down when {}", self.service);
        let _ = writeln!(o, "service time: {}", dur(self.service_ms));
        let _ = writeln!(
            o,
            "  maintenance excluded {}, beyond the allowance {}, unknown {}, down {}, degraded {}",
            dur(self.maintenance_ms),
            dur(self.maintenance_overrun_ms),
            dur(self.unknown_ms),
            dur(self.down_ms),
            dur(self.degraded_ms)
        );
        let _ = writeln!(o, "intervals (service time only; the rest was up):");
        if self.intervals.is_empty() {
            let _ = writeln!(o, "  none");
        }
        for i in &self.intervals {
            let _ = writeln!(
                o,
                "  {:<28} {} → {}  {:>12}  {}",
                i.class.as_str(),
                self.local(i.from),
                self.local(i.to),
                dur(i.to - i.from),
                i.because.join(", ")
            );
        }
        let _ = writeln!(
            o,
            "measured time: {} (service time less excluded maintenance{})",
            dur(self.measured_ms),
            if self.measured_ms + self.maintenance_ms < self.service_ms {
                " and unknown time"
            } else {
                ""
            }
        );
        let _ = writeln!(o, "downtime: {}", dur_f(self.downtime_ms));
        match self.availability {
            Some(a) => {
                let _ = writeln!(
                    o,
                    "availability: ({} − {}) / {} = {} against a target of {} %: {}",
                    dur(self.measured_ms),
                    dur_f(self.downtime_ms),
                    dur(self.measured_ms),
                    percent(Some(a)),
                    self.target,
                    if self.met == Some(true) {
                        "met"
                    } else {
                        "missed"
                    }
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "availability: no data in the service time of this period"
                );
            }
        }
        if let Some(b) = &self.budget {
            let _ = writeln!(
                o,
                "error budget: {} allowed, {} used, {} {}",
                dur_f(b.allowed_ms),
                dur_f(b.used_ms),
                dur_f(b.remaining_ms.abs()),
                if b.remaining_ms >= 0.0 {
                    "left"
                } else {
                    "over"
                }
            );
        }
        let _ = writeln!(
            o,
            "incidents: {} counted in this period",
            self.incident_count
        );
        for i in &self.incidents {
            let mut line = format!(
                "  #{} {} {}: opened {}, detected {}",
                i.id,
                i.severity,
                i.check,
                self.local(i.opened_at),
                self.local(i.detected_at)
            );
            if let Some(a) = i.acknowledged_at {
                let _ = write!(line, ", acknowledged {}", self.local(a));
            }
            match i.resolved_at {
                Some(r) => {
                    let _ = write!(line, ", resolved {}", self.local(r));
                }
                None => line.push_str(", open"),
            }
            if i.maintenance {
                line.push_str("; opened in maintenance, not counted");
            } else if let Some(c) = i.caused_by {
                let _ = write!(line, "; caused by #{c}, not counted again");
            } else if !i.counted {
                line.push_str("; detected in an earlier period, counted there");
            }
            if let Some(r) = &i.repair {
                let _ = write!(
                    line,
                    "; repair {} of {}{}",
                    dur(r.measured_ms),
                    r.limit,
                    if r.breached { ": BREACHED" } else { "" }
                );
            }
            let _ = writeln!(o, "{line}");
        }
        let _ = writeln!(
            o,
            "MTTD {}, MTTA {}, MTTR {}",
            self.mttd_ms.map_or("-".into(), dur),
            self.mtta_ms.map_or("-".into(), dur),
            self.mttr_ms.map_or("-".into(), dur)
        );
        let c = &self.credit;
        if let Some(why) = &c.not_owed {
            let _ = writeln!(o, "credit: {why}");
            return o;
        }
        if c.fee == 0.0 {
            let _ = writeln!(o, "credit: none (the contract names no monthly_fee)");
            return o;
        }
        let tier = match c.tier {
            Some(t) => format!(
                "below {} % → {} % of {:.2} = {:.2}",
                t.below, t.percent, c.fee, c.tier_amount
            ),
            None => "no tier applies → 0.00".into(),
        };
        let _ = writeln!(
            o,
            "credit: {tier}; {} repair-time breach(es) → {:.2}; cap {:.2}; owed {:.2} {}",
            c.breaches, c.breach_amount, c.cap, c.total, c.currency
        );
        o
    }
}

/// The figures as a table, one row per contract and period.
pub fn table(rows: &[Figures]) -> String {
    let header = [
        "contract",
        "period",
        "availability",
        "target",
        "downtime",
        "unknown",
        "maint.",
        "incidents",
        "MTTD",
        "MTTA",
        "MTTR",
        "breaches",
        "budget left",
        "credit",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for f in rows {
        cells.push(vec![
            f.contract.clone(),
            f.period.clone(),
            percent(f.availability),
            format!("{} %", f.target),
            dur_f(f.downtime_ms),
            dur(f.unknown_ms),
            dur(f.maintenance_ms + f.maintenance_overrun_ms),
            f.incident_count.to_string(),
            f.mttd_ms.map_or("-".into(), dur),
            f.mtta_ms.map_or("-".into(), dur),
            f.mttr_ms.map_or("-".into(), dur),
            f.credit.breaches.to_string(),
            f.budget.map_or("-".into(), |b| {
                if b.remaining_ms >= 0.0 {
                    dur_f(b.remaining_ms)
                } else {
                    format!("-{}", dur_f(-b.remaining_ms))
                }
            }),
            if f.credit.not_owed.is_some() {
                "- (not a period)".to_owned()
            } else {
                format!("{:.2} {}", f.credit.total, f.credit.currency)
                    .trim()
                    .to_owned()
            },
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &cells {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The figures as CSV (RFC 4180), one row per contract and period, times
/// in ms and RFC 3339.
pub fn csv(rows: &[Figures]) -> String {
    let mut out = String::from(
        "contract,site,period,from,to,measured_to,target,availability,service_ms,measured_ms,downtime_ms,down_ms,degraded_ms,unknown_ms,maintenance_ms,maintenance_overrun_ms,incidents,mttd_ms,mtta_ms,mttr_ms,breaches,budget_remaining_ms,credit,currency,credit_tier_below\n",
    );
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    for f in rows {
        let fields = [
            f.contract.clone(),
            f.site.clone(),
            f.period.clone(),
            keepup_model::format_rfc3339(f.from),
            keepup_model::format_rfc3339(f.to),
            keepup_model::format_rfc3339(f.measured_to),
            f.target.to_string(),
            f.availability
                .map(|a| format!("{a:.6}"))
                .unwrap_or_default(),
            f.service_ms.to_string(),
            f.measured_ms.to_string(),
            format!("{:.0}", f.downtime_ms),
            f.down_ms.to_string(),
            f.degraded_ms.to_string(),
            f.unknown_ms.to_string(),
            f.maintenance_ms.to_string(),
            f.maintenance_overrun_ms.to_string(),
            f.incident_count.to_string(),
            opt(f.mttd_ms),
            opt(f.mtta_ms),
            opt(f.mttr_ms),
            f.credit.breaches.to_string(),
            f.budget
                .map(|b| format!("{:.0}", b.remaining_ms))
                .unwrap_or_default(),
            if f.credit.not_owed.is_some() {
                String::new()
            } else {
                format!("{:.2}", f.credit.total)
            },
            f.credit.currency.clone(),
            f.credit
                .tier
                .map(|t| t.below.to_string())
                .unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|v| csv_field(v)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// One RFC 4180 field. A text starting with `=`, `+`, `-`, `@`, tab or CR
/// would run as a formula in a spreadsheet (incident messages carry what
/// a probed server said), so it gets a leading `'`; numbers such as a
/// negative budget stay numbers.
pub(crate) fn csv_field(v: &str) -> String {
    let formula = v.starts_with(['=', '+', '-', '@', '\t', '\r'])
        && !v.parse::<f64>().is_ok_and(f64::is_finite);
    let v = if formula {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}
