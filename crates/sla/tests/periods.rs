//! Periods in the contract's zone: months and quarters from local midnight
//! to local midnight, ranges given by date or instant.

mod support;

use keepup_sla::{Bound, Window};
use support::{at, contract};

#[test]
fn a_quarter_runs_from_local_midnight_of_its_first_month() {
    let c = contract(
        "[[contract]]\nid = \"q\"\nsite = \"shop\"\ntarget = 99\nperiod = \"quarter\"\ntime_zone = \"America/New_York\"\n",
    );
    let w = Window::for_month(&c, "2026-11").unwrap();
    assert_eq!(w.label, "2026-Q4");
    assert_eq!(w.from, at("2026-10-01T00:00:00-04:00"));
    assert_eq!(w.to, at("2027-01-01T00:00:00-05:00"));
    assert_eq!(
        Window::period_at(&c, at("2026-10-01T03:59:59Z"))
            .unwrap()
            .label,
        "2026-Q3"
    );
    assert_eq!(
        Window::period_at(&c, at("2026-10-01T04:00:00Z"))
            .unwrap()
            .label,
        "2026-Q4"
    );
}

#[test]
fn ranges_take_local_dates_or_instants_and_bad_months_are_refused() {
    let c = contract(
        "[[contract]]\nid = \"m\"\nsite = \"shop\"\ntarget = 99\ntime_zone = \"Europe/Berlin\"\n",
    );
    let from: Bound = "2026-03-29".parse().unwrap();
    let to: Bound = "2026-03-30T12:00:00Z".parse().unwrap();
    let w = Window::range(&c, from, to).unwrap();
    assert_eq!(w.from, at("2026-03-29T00:00:00+01:00"));
    assert_eq!(w.to, at("2026-03-30T12:00:00Z"));
    assert!(
        Window::range(&c, to, from).is_err(),
        "a range that ends before it starts"
    );
    assert!(
        "yesterday"
            .parse::<Bound>()
            .unwrap_err()
            .contains("neither a date")
    );
    for bad in ["2026-13", "2026", "26-1x"] {
        let e = Window::for_month(&c, bad).unwrap_err().to_string();
        assert!(e.contains("is not a month; write YYYY-MM"), "{bad}: {e}");
    }
}
