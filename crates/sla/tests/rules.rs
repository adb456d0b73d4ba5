//! Accounting rules beyond the README's worked examples: incidents in
//! maintenance and the repair time of a cause whose consequences outlive
//! it.

mod support;

use keepup_model::Status;
use keepup_sla::{IncidentRecord, Input, Window, account, repair_deadlines};
use support::*;

fn incident(id: i64, name: &str, detected: &str, resolved: Option<&str>) -> IncidentRecord {
    let detected_at = at(detected);
    IncidentRecord {
        id,
        check: check(name),
        status: Status::Down,
        opened_at: detected_at - MINUTE,
        detected_at,
        acknowledged_at: None,
        resolved_at: resolved.map(at),
        cause: None,
        severity: None,
        message: "refused".into(),
        maintenance: false,
    }
}

/// An incident opened during planned maintenance is listed but has no
/// repair time to keep: it is not a breach, not in MTTD/MTTA/MTTR, not
/// counted, and no deadline warns about it while open.
#[test]
fn an_incident_opened_in_maintenance_is_listed_but_not_counted() {
    let c = contract(
        "[[contract]]\nid = \"front\"\nsite = \"shop\"\ndown_when = \"web | checkout\"\ntarget = 99.9\nrepair_time = { critical = \"4h\" }\nmonthly_fee = 100.0\nrepair_breach_credit = 10.0\n",
    );
    let w = Window::for_month(&c, "2026-11").unwrap();
    let planned = IncidentRecord {
        maintenance: true,
        ..incident(
            1,
            "web",
            "2026-11-03T02:00:00Z",
            Some("2026-11-03T08:00:00Z"),
        )
    };
    let real = incident(
        2,
        "checkout",
        "2026-11-10T10:00:00Z",
        Some("2026-11-10T11:00:00Z"),
    );
    let input = Input {
        incidents: vec![planned.clone(), real],
        ..Input::default()
    };
    let f = account(&c, &w, at("2026-12-05T00:00:00Z"), &input).unwrap();
    assert_eq!(f.incidents.len(), 2, "both listed");
    assert_eq!(f.incident_count, 1);
    assert!(f.incidents[0].maintenance && f.incidents[0].repair.is_none());
    assert!(f.breaches.is_empty(), "{:?}", f.breaches);
    assert_eq!(f.credit.breaches, 0);
    assert_eq!((f.mttd_ms, f.mttr_ms), (Some(MINUTE), Some(HOUR)));
    let e = f.explain();
    assert!(e.contains("#1 critical shop/web: opened"), "{e}");
    assert!(e.contains("opened in maintenance, not counted"), "{e}");

    let open = IncidentRecord {
        resolved_at: None,
        ..planned
    };
    assert_eq!(repair_deadlines(&c, &[open]), []);
}

/// The database (web) fails and takes checkout with it; web is back after
/// an hour, checkout only after six. The cause's repair runs to the last
/// resolution of its chain, six hours, and breaches a 4 h limit; the
/// deadline warning follows the same chain while checkout is open.
#[test]
fn a_cause_is_repaired_when_the_last_of_its_consequences_is() {
    let c = contract(
        "[[contract]]\nid = \"front\"\nsite = \"shop\"\ndown_when = \"web | checkout\"\ntarget = 99.9\nrepair_time = { critical = \"4h\" }\n",
    );
    let w = Window::for_month(&c, "2026-11").unwrap();
    let cause = incident(
        1,
        "web",
        "2026-11-03T10:00:00Z",
        Some("2026-11-03T11:00:00Z"),
    );
    let consequence = IncidentRecord {
        cause: Some(1),
        ..incident(
            2,
            "checkout",
            "2026-11-03T10:05:00Z",
            Some("2026-11-03T16:00:00Z"),
        )
    };
    let input = Input {
        incidents: vec![cause.clone(), consequence.clone()],
        ..Input::default()
    };
    let f = account(&c, &w, at("2026-12-05T00:00:00Z"), &input).unwrap();
    assert_eq!(f.incident_count, 1);
    let repair = f.incidents[0].repair.clone().unwrap();
    assert_eq!((repair.measured_ms, repair.breached), (6 * HOUR, true));
    assert_eq!(f.incidents[0].repaired_at, Some(at("2026-11-03T16:00:00Z")));
    assert_eq!(f.breaches.get("critical"), Some(&1));
    assert_eq!(f.mttr_ms, Some(6 * HOUR));

    // At 12:00 the cause is resolved, its consequence is not: one clock,
    // the cause's, due at 14:00.
    let open = IncidentRecord {
        resolved_at: None,
        ..consequence
    };
    let deadlines = repair_deadlines(&c, &[cause.clone(), open.clone()]);
    assert_eq!(deadlines.len(), 1, "{deadlines:?}");
    assert_eq!(
        (deadlines[0].incident, deadlines[0].deadline),
        (1, at("2026-11-03T14:00:00Z"))
    );
    // Running at 12:00, the period's figures say the same.
    let f = account(
        &c,
        &w,
        at("2026-11-03T12:00:00Z"),
        &Input {
            incidents: vec![cause, open],
            ..Input::default()
        },
    )
    .unwrap();
    let repair = f.incidents[0].repair.clone().unwrap();
    assert_eq!((repair.measured_ms, repair.open), (2 * HOUR, true));
}

/// A `--from/--to` range that is not one contract period owes no credit
/// (the fee, tiers and allowance are per period) and says why; the same
/// month written as a range is the period and does.
#[test]
fn a_range_that_is_not_a_period_has_no_credit_and_says_why() {
    use keepup_sla::{Bound, table};
    let c = contract(
        "[[contract]]\nid = \"front\"\nsite = \"shop\"\ndown_when = \"web\"\ntarget = 99.9\nmonthly_fee = 1000.0\ncurrency = \"EUR\"\ncredit = [{ below = 99.9, percent = 10 }]\nrepair_time = { critical = \"10m\" }\nrepair_breach_credit = 50.0\n",
    );
    let month = Window::for_month(&c, "2026-11").unwrap();
    let outage = (at("2026-11-03T10:00:00Z"), at("2026-11-03T12:00:00Z"));
    let input = Input {
        timelines: vec![up_except(
            "web",
            month.from,
            month.to,
            &[(outage.0, outage.1, Some(Status::Down))],
        )],
        incidents: vec![incident(
            1,
            "web",
            "2026-11-03T10:01:00Z",
            Some("2026-11-03T12:00:00Z"),
        )],
        ..Input::default()
    };
    let now = at("2026-12-05T00:00:00Z");
    let day = |d: &str| Bound::Day(d.parse().unwrap());
    let week = Window::range(&c, day("2026-11-01"), day("2026-11-08")).unwrap();
    let f = account(&c, &week, now, &input).unwrap();
    assert!(f.availability.is_some() && f.met == Some(false));
    assert_eq!(f.breaches.get("critical"), Some(&1));
    assert_eq!((f.credit.tier, f.credit.total), (None, 0.0));
    let why = f.credit.not_owed.clone().unwrap();
    assert!(
        why.contains("not one contract period (a calendar month)"),
        "{why}"
    );
    assert!(f.explain().contains(&format!("credit: {why}")));
    assert!(table(std::slice::from_ref(&f)).contains("- (not a period)"));

    let whole = Window::range(&c, day("2026-11-01"), day("2026-12-01")).unwrap();
    let f = account(&c, &whole, now, &input).unwrap();
    assert_eq!(f.credit.not_owed, None);
    assert_eq!(f.credit.total, 150.0, "10 % of 1000 and one breach");
}

/// A check on its own (the dashboard's figure): rule 4 with the defaults,
/// Degraded is down and unknown time is left out; no known time, no figure.
#[test]
fn a_single_checks_availability_counts_degraded_as_down_and_leaves_unknown_out() {
    let spans = [
        (Some(Status::Up), 7_000),
        (Some(Status::Degraded), 1_000),
        (None, 5_000),
        (Some(Status::Down), 2_000),
    ];
    let a = keepup_sla::check_availability(spans).unwrap();
    assert!((a - 70.0).abs() < 1e-9, "{a}");
    assert_eq!(keepup_sla::check_availability([(None, 5_000)]), None);
    assert_eq!(keepup_sla::check_availability([]), None);
}

/// Each component on its own (the dashboard's SLA page): only service
/// hours count, Degraded weighs as the contract says, time without data
/// is left out, and maintenance excuses the service, not the check.
#[test]
fn a_components_own_figure_counts_service_hours_and_the_contracts_weights() {
    let c = contract(
        "[[contract]]\nid = \"front\"\nsite = \"shop\"\ndown_when = \"web | checkout\"\ntarget = 99.9\n\
         service_hours = \"mon-fri 08:00-18:00\"\ndegraded = 0.5\n",
    );
    // Monday 2 November 2026, UTC: ten hours of service.
    let window = Window::between(
        at("2026-11-02T00:00:00Z"),
        at("2026-11-03T00:00:00Z"),
        "day".into(),
    )
    .unwrap();
    let (from, to) = (window.from, window.to);
    let input = Input {
        timelines: vec![
            // Down 07:00-09:00 (one hour of it in service), Degraded
            // 12:00-14:00, no data 16:00-17:00.
            up_except(
                "web",
                from,
                to,
                &[
                    (
                        at("2026-11-02T07:00:00Z"),
                        at("2026-11-02T09:00:00Z"),
                        Some(Status::Down),
                    ),
                    (
                        at("2026-11-02T12:00:00Z"),
                        at("2026-11-02T14:00:00Z"),
                        Some(Status::Degraded),
                    ),
                    (at("2026-11-02T16:00:00Z"), at("2026-11-02T17:00:00Z"), None),
                ],
            ),
            // Down all evening, outside service hours.
            up_except(
                "checkout",
                from,
                to,
                &[(at("2026-11-02T18:00:00Z"), to, Some(Status::Down))],
            ),
        ],
        incidents: Vec::new(),
        maintenance: vec![keepup_sla::MaintenanceSpan {
            id: "patching".into(),
            from: at("2026-11-02T08:00:00Z"),
            to: at("2026-11-02T09:00:00Z"),
            checks: vec![check("web")],
        }],
    };
    let got = keepup_sla::check_figures(&c, &window, to, &input);
    assert_eq!(got.len(), 2);
    let web = &got[0];
    assert_eq!(web.check, "shop/web");
    assert_eq!(
        (web.down_ms, web.degraded_ms, web.unknown_ms),
        (HOUR, 2 * HOUR, HOUR)
    );
    // One hour down and two degraded at half weight over nine measured.
    assert_eq!(web.downtime_ms, 2.0 * HOUR as f64);
    let a = web.availability.unwrap();
    assert!((a - 100.0 * 7.0 / 9.0).abs() < 1e-9, "{a}");
    let checkout = &got[1];
    assert_eq!((checkout.down_ms, checkout.availability), (0, Some(100.0)));
    // Measured up to now: half the day, nothing of it in service.
    let early = keepup_sla::check_figures(&c, &window, at("2026-11-02T07:30:00Z"), &input);
    assert_eq!(early[0].availability, None);
}
