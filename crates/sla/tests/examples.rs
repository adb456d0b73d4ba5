//! The worked examples of the README's "SLA" section, one test each, with
//! the same numbers: if a rule changes, the README and this file change
//! together.

mod support;

use keepup_model::Status::{Degraded, Down};
use keepup_sla::{Class, IncidentRecord, Input, MaintenanceSpan, Window, account, table};
use support::*;

const NOW: &str = "2026-12-05T00:00:00Z";

fn close(a: f64, b: f64) -> bool {
    // Within a hundredth (of a millisecond or a currency unit): the
    // target as a float is not exact.
    (a - b).abs() < 0.01
}

/// Example 1: two checks' outages overlap; the union counts once, and the
/// availability falls into the first credit tier.
#[test]
fn example_1_overlapping_outages_count_once() {
    let c = contract(
        r#"[[contract]]
id = "front"
site = "shop"
down_when = "web | checkout"
target = 99.9
monthly_fee = 1000.0
currency = "EUR"
credit = [{ below = 99.9, percent = 10 }, { below = 99.5, percent = 25 }]
"#,
    );
    let w = Window::for_month(&c, "2026-11").unwrap();
    let input = Input {
        timelines: vec![
            up_except(
                "web",
                w.from,
                w.to,
                &[(
                    at("2026-11-03T10:00:00Z"),
                    at("2026-11-03T10:30:00Z"),
                    Some(Down),
                )],
            ),
            up_except(
                "checkout",
                w.from,
                w.to,
                &[(
                    at("2026-11-03T10:20:00Z"),
                    at("2026-11-03T10:50:00Z"),
                    Some(Down),
                )],
            ),
        ],
        ..Input::default()
    };
    let f = account(&c, &w, at(NOW), &input).unwrap();
    assert_eq!(f.service_ms, 43_200 * MINUTE);
    assert_eq!(f.down_ms, 50 * MINUTE);
    assert!(
        close(f.availability.unwrap(), 100.0 * 43_150.0 / 43_200.0),
        "{:?}",
        f.availability
    );
    assert_eq!(format!("{:.3}", f.availability.unwrap()), "99.884");
    assert_eq!(f.met, Some(false));
    let budget = f.budget.unwrap();
    assert!(close(budget.allowed_ms, 43.2 * MINUTE as f64));
    assert!(close(budget.remaining_ms, -6.8 * MINUTE as f64));
    assert_eq!(f.credit.tier.map(|t| t.below), Some(99.9));
    assert!(close(f.credit.total, 100.0));
    // The explanation names the stretch and both checks' parts of it.
    let e = f.explain();
    assert!(e.contains("down                         2026-11-03 10:00:00 UTC → 2026-11-03 10:20:00 UTC           20m  shop/web"), "{e}");
    assert!(e.contains("2026-11-03 10:20:00 UTC → 2026-11-03 10:30:00 UTC           10m  shop/web, shop/checkout"), "{e}");
    assert!(
        e.contains("credit: below 99.9 % → 10 % of 1000.00 = 100.00"),
        "{e}"
    );
}

/// Example 2: redundant web servers are down only while both are.
#[test]
fn example_2_a_redundant_pair_is_down_only_when_both_are() {
    let c = contract(
        "[[contract]]\nid = \"front\"\nsite = \"shop\"\ndown_when = \"(web1 & web2) | payment\"\ntarget = 99.9\n",
    );
    let w = Window::for_month(&c, "2026-11").unwrap();
    let input = Input {
        timelines: vec![
            up_except(
                "web1",
                w.from,
                w.to,
                &[(
                    at("2026-11-03T10:00:00Z"),
                    at("2026-11-03T11:00:00Z"),
                    Some(Down),
                )],
            ),
            up_except(
                "web2",
                w.from,
                w.to,
                &[(
                    at("2026-11-03T10:40:00Z"),
                    at("2026-11-03T11:20:00Z"),
                    Some(Down),
                )],
            ),
            up_except("payment", w.from, w.to, &[]),
        ],
        ..Input::default()
    };
    let f = account(&c, &w, at(NOW), &input).unwrap();
    assert_eq!(f.down_ms, 20 * MINUTE);
    assert_eq!(format!("{:.4}", f.availability.unwrap()), "99.9537");
    assert_eq!(f.met, Some(true));
    assert_eq!(f.intervals.len(), 1);
    assert_eq!(f.intervals[0].because, vec!["shop/web1", "shop/web2"]);
}

/// Example 3: only service hours count, read on the local clock (the
/// clocks go back on 25 October), holidays excluded.
#[test]
fn example_3_service_hours_in_the_contract_zone() {
    let c = contract(
        r#"[[contract]]
id = "office"
site = "shop"
down_when = "web"
target = 99.5
time_zone = "Europe/Berlin"
service_hours = "mon-fri 08:00-18:00"
holidays = ["2026-10-02"]
"#,
    );
    let w = Window::for_month(&c, "2026-10").unwrap();
    assert_eq!(w.from, at("2026-10-01T00:00:00+02:00"));
    assert_eq!(w.to, at("2026-11-01T00:00:00+01:00"));
    let input = Input {
        timelines: vec![up_except(
            "web",
            w.from,
            w.to,
            &[
                // The holiday: not service time.
                (
                    at("2026-10-02T10:00:00+02:00"),
                    at("2026-10-02T12:00:00+02:00"),
                    Some(Down),
                ),
                // A Saturday: not service time.
                (
                    at("2026-10-10T00:00:00+02:00"),
                    at("2026-10-11T00:00:00+02:00"),
                    Some(Down),
                ),
                // Friday 17:00-19:00: the hour until 18:00 counts.
                (
                    at("2026-10-16T17:00:00+02:00"),
                    at("2026-10-16T19:00:00+02:00"),
                    Some(Down),
                ),
                // Monday after the change, 07:30-08:30 CET: half an hour.
                (
                    at("2026-10-26T07:30:00+01:00"),
                    at("2026-10-26T08:30:00+01:00"),
                    Some(Down),
                ),
            ],
        )],
        ..Input::default()
    };
    let f = account(&c, &w, at(NOW), &input).unwrap();
    // 22 weekdays, one of them a holiday: 21 × 10 h.
    assert_eq!(f.service_ms, 210 * HOUR);
    assert_eq!(f.down_ms, 90 * MINUTE);
    assert_eq!(format!("{:.4}", f.availability.unwrap()), "99.2857");
    assert_eq!(f.met, Some(false));
}

/// Example 4: maintenance is excluded up to the allowance; the rest of it
/// is downtime, as is the outage after it.
#[test]
fn example_4_maintenance_beyond_the_allowance_is_downtime() {
    let c = contract(
        "[[contract]]\nid = \"front\"\nsite = \"shop\"\ndown_when = \"web\"\ntarget = 99.9\nmaintenance_allowance = \"1h\"\n",
    );
    let w = Window::for_month(&c, "2026-11").unwrap();
    let input = Input {
        timelines: vec![up_except(
            "web",
            w.from,
            w.to,
            &[(
                at("2026-11-10T02:00:00Z"),
                at("2026-11-10T04:30:00Z"),
                Some(Down),
            )],
        )],
        maintenance: vec![MaintenanceSpan {
            id: "upgrade".into(),
            from: at("2026-11-10T02:00:00Z"),
            to: at("2026-11-10T04:00:00Z"),
            checks: vec![check("web")],
        }],
        ..Input::default()
    };
    let f = account(&c, &w, at(NOW), &input).unwrap();
    assert_eq!(f.maintenance_ms, HOUR);
    assert_eq!(f.maintenance_overrun_ms, HOUR);
    assert_eq!(f.down_ms, 30 * MINUTE);
    assert_eq!(f.measured_ms, (43_200 - 60) * MINUTE);
    assert!(close(f.downtime_ms, (90 * MINUTE) as f64));
    assert_eq!(format!("{:.4}", f.availability.unwrap()), "99.7914");
    let classes: Vec<Class> = f.intervals.iter().map(|i| i.class).collect();
    assert_eq!(
        classes,
        vec![Class::Maintenance, Class::MaintenanceOverrun, Class::Down]
    );
    assert_eq!(f.intervals[1].because, vec!["upgrade"]);
}

/// Example 5: a day without data is left out of the measured time and
/// shown separately; Degraded counts with the contract's weight.
#[test]
fn example_5_unknown_time_and_degraded_weight() {
    let body = |unknown: &str| {
        format!(
            "[[contract]]\nid = \"front\"\nsite = \"shop\"\ndown_when = \"web\"\ntarget = 99.9\ndegraded = 0.5\nunknown = \"{unknown}\"\n"
        )
    };
    let w = Window::for_month(&contract(&body("exclude")), "2026-11").unwrap();
    let input = Input {
        timelines: vec![up_except(
            "web",
            w.from,
            w.to,
            &[
                (at("2026-11-05T00:00:00Z"), at("2026-11-06T00:00:00Z"), None),
                (
                    at("2026-11-07T12:00:00Z"),
                    at("2026-11-07T14:00:00Z"),
                    Some(Degraded),
                ),
            ],
        )],
        ..Input::default()
    };
    let f = account(&contract(&body("exclude")), &w, at(NOW), &input).unwrap();
    assert_eq!(f.unknown_ms, 24 * HOUR);
    assert_eq!(f.degraded_ms, 2 * HOUR);
    assert_eq!(f.measured_ms, (43_200 - 1_440) * MINUTE);
    assert!(close(f.downtime_ms, HOUR as f64));
    assert_eq!(format!("{:.5}", f.availability.unwrap()), "99.85632");
    let f = account(&contract(&body("down")), &w, at(NOW), &input).unwrap();
    assert_eq!(f.measured_ms, 43_200 * MINUTE);
    assert!(close(f.downtime_ms, (1_500 * MINUTE) as f64));
    assert_eq!(format!("{:.4}", f.availability.unwrap()), "96.5278");
}

/// Example 6: an outage across midnight at the end of October is split at
/// the boundary; its incident counts in October, where it was detected,
/// and breaches the critical repair time there.
#[test]
fn example_6_an_incident_across_the_month_boundary() {
    let c = contract(
        r#"[[contract]]
id = "front"
site = "shop"
down_when = "web"
target = 99.9
repair_time = { critical = "1h30m" }
repair_breach_credit = 50.0
credit_cap = 50
monthly_fee = 1000.0
currency = "EUR"
credit = [{ below = 99.9, percent = 10 }]
"#,
    );
    let outage = (
        at("2026-10-31T23:00:00Z"),
        at("2026-11-01T01:00:00Z"),
        Some(Down),
    );
    let timeline = up_except(
        "web",
        at("2026-10-01T00:00:00Z"),
        at("2026-12-01T00:00:00Z"),
        &[outage],
    );
    let input = Input {
        timelines: vec![timeline],
        incidents: vec![IncidentRecord {
            id: 7,
            check: check("web"),
            status: Down,
            opened_at: at("2026-10-31T23:00:00Z"),
            detected_at: at("2026-10-31T23:02:00Z"),
            acknowledged_at: Some(at("2026-10-31T23:10:00Z")),
            resolved_at: Some(at("2026-11-01T01:00:00Z")),
            cause: None,
            severity: None,
            message: "connection refused".into(),
            maintenance: false,
        }],
        ..Input::default()
    };
    let oct = account(
        &c,
        &Window::for_month(&c, "2026-10").unwrap(),
        at(NOW),
        &input,
    )
    .unwrap();
    let nov = account(
        &c,
        &Window::for_month(&c, "2026-11").unwrap(),
        at(NOW),
        &input,
    )
    .unwrap();
    assert_eq!((oct.down_ms, nov.down_ms), (HOUR, HOUR));
    assert_eq!(oct.incident_count, 1);
    assert_eq!(nov.incident_count, 0);
    assert_eq!(
        nov.incidents.len(),
        1,
        "listed in November, counted in October"
    );
    assert_eq!(
        oct.incidents[0].in_period,
        (at("2026-10-31T23:00:00Z"), at("2026-11-01T00:00:00Z"))
    );
    assert_eq!(
        nov.incidents[0].in_period,
        (at("2026-11-01T00:00:00Z"), at("2026-11-01T01:00:00Z"))
    );
    assert_eq!(
        (oct.mttd_ms, oct.mtta_ms, oct.mttr_ms),
        (Some(2 * MINUTE), Some(8 * MINUTE), Some(118 * MINUTE))
    );
    assert_eq!(oct.breaches.get("critical"), Some(&1));
    assert_eq!(format!("{:.4}", oct.availability.unwrap()), "99.8656");
    assert!(close(oct.credit.tier_amount, 100.0) && close(oct.credit.breach_amount, 50.0));
    assert!(close(oct.credit.total, 150.0));
    assert!(close(nov.credit.total, 100.0));
}

/// Example 7: a period without data has no availability, never 100 %.
#[test]
fn example_7_no_data_is_not_100_percent() {
    for unknown in ["exclude", "up", "down"] {
        let c = contract(&format!(
            "[[contract]]\nid = \"front\"\nsite = \"shop\"\ntarget = 99.9\nunknown = \"{unknown}\"\nmonthly_fee = 1000.0\ncredit = [{{ below = 99.9, percent = 10 }}]\n"
        ));
        let w = Window::for_month(&c, "2026-11").unwrap();
        let f = account(&c, &w, at(NOW), &Input::default()).unwrap();
        assert_eq!(f.availability, None, "unknown = {unknown}");
        assert_eq!(f.credit.total, 0.0);
        let rendered = table(std::slice::from_ref(&f));
        assert!(rendered.contains("no data"), "{rendered}");
    }
}

/// Example 8: a business repair time runs only in service hours: detected
/// Friday 17:00, resolved Monday 10:00 with `mon-fri 08:00-18:00` is 3
/// business hours (1 on Friday, 2 on Monday), within "3 business hours";
/// the 65 wall-clock hours breach a wall-clock "1d".
#[test]
fn example_8_business_repair_time_counts_service_hours_only() {
    let body = |limit: &str| {
        format!(
            "[[contract]]\nid = \"office\"\nsite = \"shop\"\ndown_when = \"web\"\ntarget = 99\ntime_zone = \"Europe/Berlin\"\nservice_hours = \"mon-fri 08:00-18:00\"\nrepair_time = {{ major = \"{limit}\" }}\n"
        )
    };
    let incident = IncidentRecord {
        id: 1,
        check: check("web"),
        status: Degraded,
        opened_at: at("2026-11-06T16:55:00+01:00"),
        detected_at: at("2026-11-06T17:00:00+01:00"),
        acknowledged_at: None,
        resolved_at: Some(at("2026-11-09T10:00:00+01:00")),
        cause: None,
        severity: None,
        message: "slow".into(),
        maintenance: false,
    };
    let input = Input {
        incidents: vec![incident],
        ..Input::default()
    };
    let business = contract(&body("3 business hours"));
    let w = Window::for_month(&business, "2026-11").unwrap();
    let f = account(&business, &w, at(NOW), &input).unwrap();
    let repair = f.incidents[0].repair.clone().unwrap();
    assert_eq!(f.incidents[0].severity, "major");
    assert_eq!((repair.measured_ms, repair.breached), (3 * HOUR, false));
    let wall = contract(&body("1d"));
    let f = account(&wall, &w, at(NOW), &input).unwrap();
    let repair = f.incidents[0].repair.clone().unwrap();
    assert_eq!((repair.measured_ms, repair.breached), (65 * HOUR, true));
    assert_eq!(f.breaches.get("major"), Some(&1));
}

/// Example 9: maintenance excuses the maintained checks only. Both web
/// servers are upgraded 02:00–04:00 on 12 November (window on web1 and
/// web2, both down), payment fails 02:30–03:00 on its own, and web1 alone
/// is worked on 01:00–02:00 on the 20th while web2 serves.
#[test]
fn example_9_maintenance_excuses_only_the_maintained_checks() {
    let c = contract(
        "[[contract]]\nid = \"front\"\nsite = \"shop\"\ndown_when = \"(web1 & web2) | payment\"\ntarget = 99.9\nmaintenance_allowance = \"1h\"\n",
    );
    let w = Window::for_month(&c, "2026-11").unwrap();
    let upgrade = (at("2026-11-12T02:00:00Z"), at("2026-11-12T04:00:00Z"));
    let web1_alone = (at("2026-11-20T01:00:00Z"), at("2026-11-20T02:00:00Z"));
    let input = Input {
        timelines: vec![
            up_except(
                "web1",
                w.from,
                w.to,
                &[
                    (upgrade.0, upgrade.1, Some(Down)),
                    (web1_alone.0, web1_alone.1, Some(Down)),
                ],
            ),
            up_except("web2", w.from, w.to, &[(upgrade.0, upgrade.1, Some(Down))]),
            up_except(
                "payment",
                w.from,
                w.to,
                &[(
                    at("2026-11-12T02:30:00Z"),
                    at("2026-11-12T03:00:00Z"),
                    Some(Down),
                )],
            ),
        ],
        maintenance: vec![
            MaintenanceSpan {
                id: "upgrade".into(),
                from: upgrade.0,
                to: upgrade.1,
                checks: vec![check("web1"), check("web2")],
            },
            MaintenanceSpan {
                id: "web1-disk".into(),
                from: web1_alone.0,
                to: web1_alone.1,
                checks: vec![check("web1")],
            },
        ],
        ..Input::default()
    };
    let f = account(&c, &w, at(NOW), &input).unwrap();
    let classes: Vec<(Class, i64)> = f
        .intervals
        .iter()
        .map(|i| (i.class, (i.to - i.from) / MINUTE))
        .collect();
    assert_eq!(
        classes,
        vec![
            (Class::Maintenance, 30),
            (Class::Down, 30),
            (Class::Maintenance, 30),
            (Class::MaintenanceOverrun, 30),
        ]
    );
    assert_eq!(f.intervals[1].because, vec!["shop/payment"]);
    assert_eq!(f.maintenance_ms, HOUR);
    assert_eq!(f.maintenance_overrun_ms, 30 * MINUTE);
    assert_eq!(f.down_ms, 30 * MINUTE);
    assert_eq!(f.measured_ms, (43_200 - 60) * MINUTE);
    assert!(close(f.downtime_ms, (60 * MINUTE) as f64));
    assert_eq!(format!("{:.5}", f.availability.unwrap()), "99.86092");
}
