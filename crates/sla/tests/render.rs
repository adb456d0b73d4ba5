//! What people read agrees with the verdict, and the CSV is data, not
//! formulas.

mod support;

use keepup_model::Status::Down;
use keepup_sla::{Input, Window, account, csv, table, truncated};
use support::*;

/// 99.8996 % against 99.9 % is a miss, and no output may round it to
/// 99.900.
#[test]
fn an_availability_just_below_the_target_is_shown_below_it() {
    let c = contract(
        "[[contract]]\nid = \"front\"\nsite = \"shop\"\ndown_when = \"web\"\ntarget = 99.9\n",
    );
    let w = Window::for_month(&c, "2026-11").unwrap();
    // 0.1004 % of the 43,200 minutes of November.
    let down = 2_602_368;
    let start = at("2026-11-03T10:00:00Z");
    let input = Input {
        timelines: vec![up_except(
            "web",
            w.from,
            w.to,
            &[(start, start + down, Some(Down))],
        )],
        ..Input::default()
    };
    let f = account(&c, &w, at("2026-12-05T00:00:00Z"), &input).unwrap();
    assert_eq!(f.met, Some(false));
    assert_eq!(format!("{:.4}", f.availability.unwrap()), "99.8996");
    let t = table(std::slice::from_ref(&f));
    assert!(t.contains("99.899 %") && !t.contains("99.900"), "{t}");
    let e = f.explain();
    assert!(
        e.contains("= 99.899 % against a target of 99.9 %: missed"),
        "{e}"
    );
    assert_eq!(truncated(99.9, 3), "99.900");
    assert_eq!(truncated(14.36, 1), "14.3");
    assert_eq!(truncated(0.4, 0), "0");
    assert_eq!(truncated(-0.4, 0), "0");
    assert_eq!(truncated(f64::INFINITY, 1), "inf");
}

/// A cell a spreadsheet would evaluate starts with `'`; numbers do not.
#[test]
fn csv_cells_that_would_run_as_formulas_are_quoted_as_text() {
    for (currency, cell) in [
        ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
        ("+1x", "'+1x"),
        ("-cmd", "'-cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tEUR", "'\tEUR"),
    ] {
        let c = contract(&format!(
            "[[contract]]\nid = \"front\"\nsite = \"shop\"\ndown_when = \"web\"\ntarget = 99.9\nmonthly_fee = 10.0\ncurrency = {currency:?}\n"
        ));
        let w = Window::for_month(&c, "2026-11").unwrap();
        let start = at("2026-11-03T10:00:00Z");
        let input = Input {
            timelines: vec![up_except(
                "web",
                w.from,
                w.to,
                &[(start, start + 3 * HOUR, Some(Down))],
            )],
            ..Input::default()
        };
        let f = account(&c, &w, at("2026-12-05T00:00:00Z"), &input).unwrap();
        let out = csv(std::slice::from_ref(&f));
        let row = out.lines().nth(1).unwrap();
        assert!(row.contains(&format!(",{cell},")), "{currency:?}: {row}");
        // The budget is overspent: a negative number, left a number.
        let budget = f.budget.unwrap().remaining_ms;
        assert!(budget < 0.0);
        assert!(row.contains(&format!(",{budget:.0},")), "{row}");
    }
}
