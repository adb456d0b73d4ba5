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
