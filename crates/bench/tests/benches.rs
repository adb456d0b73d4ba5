//! The benches run end to end on small inputs and report what happened:
//! smoke tests of the code behind `keepup bench` (the figures themselves
//! are for the README, never asserted).

use keepup_bench::{alerting, dns};

#[test]
fn alerting_counts_one_message_per_check_and_one_per_site_when_grouped() {
    let report = alerting::alerting(30, 10, 2).expect("the alerting bench runs");
    assert_eq!(report.sites, 3);
    assert_eq!(report.messages_without_grouping, 30);
    assert_eq!(report.messages_with_grouping, 3);
    assert!(report.to_string().contains("messages_with_grouping=3"));
}

#[test]
fn alerting_refuses_zero_checks_with_a_sentence() {
    let err = alerting::alerting(0, 10, 1).unwrap_err();
    assert!(err.to_string().contains("at least 1"), "{err}");
}

#[test]
fn delegation_walks_the_test_hierarchy_it_starts() {
    let report = dns::delegation("shop.test", 3, None, 53).expect("Knot DNS starts");
    assert!(report.contains("walks=3"), "{report}");
    assert!(report.contains("up=3 "), "{report}");
}

#[test]
fn pings_from_other_addresses_are_answered_while_one_address_floods_the_listener() {
    let report = keepup_bench::listener::listener(200, 2, std::time::Duration::from_secs(3))
        .expect("the listener bench runs");
    // Each ping has 3 s: on a loaded test machine a few may miss that, so
    // the rate is the README's figure; the listener's own tests assert
    // that every ping from another address is answered.
    assert!(report.ok > 0, "{report}");
    assert!(report.flood_refused > 0, "{report}");
    assert!(report.flood_held <= 64, "{report}");
}

/// Set for the child run of [`outage_targets_child`].
const SERVE_OUTAGE_TARGETS: &str = "KEEPUP_TEST_SERVE_OUTAGE_TARGETS";

/// Not a test of its own: the outage bench's targets process when this
/// binary is run again by the test below (as `keepup bench
/// outage-targets` is by the CLI).
#[test]
fn outage_targets_child() {
    if std::env::var_os(SERVE_OUTAGE_TARGETS).is_some() {
        keepup_bench::outage::serve_targets().expect("the outage targets serve");
    }
}

#[test]
fn healthy_checks_keep_running_beside_checks_whose_target_never_answers() {
    let mut targets = std::process::Command::new(std::env::current_exe().unwrap());
    targets
        .args([
            "outage_targets_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SERVE_OUTAGE_TARGETS, "1");
    let report = keepup_bench::outage::outage(
        40,
        5,
        true,
        std::time::Duration::from_secs(2),
        None,
        targets,
    )
    .expect("the outage bench runs");
    // After one interval of warm-up the stalled checks are down (those due
    // in its last 5 s not yet: still unknown) and the healthy ones up
    // (keepup/self may add one more); their lag is the README's figure.
    let count = |status: &str| report.statuses.get(status).copied().unwrap_or(0);
    assert!(count("down") > 0, "{report}");
    assert_eq!(count("down") + count("unknown"), 40, "{report}");
    assert!(count("up") >= 5, "{report}");
}

#[test]
fn the_sla_bench_reads_hole_free_timelines_of_every_check() {
    use keepup_bench::sla::{SlaBench, sla};
    let bench = SlaBench {
        contract_checks: 2,
        contract_days: 31,
        checks: 20,
        days: 3,
        interval: std::time::Duration::from_secs(60),
        reads: 2,
        keep: None,
    };
    let report = sla(&bench).expect("the sla bench runs");
    const DAY: i64 = 86_400_000;
    // Every check's spans cover the whole range: no hole, no overlap.
    assert_eq!(report.contract.covered_ms, 2 * 31 * DAY, "{report}");
    assert_eq!(report.many.covered_ms, 20 * 3 * DAY, "{report}");
    // The simulated restart (day 30) and missed results are unknown time.
    assert!(report.contract.unknown_spans > 0, "{report}");
    assert!(
        report.contract.spans > 2 * 31,
        "outages make spans: {report}"
    );
    assert!(report.to_string().contains("spans="), "{report}");
}

#[test]
fn the_sla_bench_refuses_zero_checks_with_a_sentence() {
    let err = keepup_bench::sla::sla(&keepup_bench::sla::SlaBench {
        contract_checks: 0,
        contract_days: 1,
        checks: 1,
        days: 1,
        interval: std::time::Duration::from_secs(60),
        reads: 1,
        keep: None,
    })
    .unwrap_err();
    assert!(err.to_string().contains("at least 1"), "{err}");
}

#[test]
fn the_postgres_bench_runs_checks_with_kept_sessions_and_with_fresh_logins() {
    let report = keepup_bench::postgres::postgres(2, std::time::Duration::from_millis(500))
        .expect("the postgres bench runs");
    assert!(report.kept.checks > 0, "{report}");
    assert_eq!(report.kept.up, report.kept.checks, "{report}");
    assert_eq!(report.fresh.up, report.fresh.checks, "{report}");
    assert!(
        report.to_string().contains("kept-session: checks="),
        "{report}"
    );
}

#[test]
fn forecast_fits_every_series_once_per_round_each_way() {
    let report = keepup_bench::forecast::forecast(3, 2, 1).expect("the forecast bench runs");
    assert_eq!(report.measures, 5);
    assert_eq!(report.points, 501);
    for way in [&report.single, &report.per_series, &report.one_lock] {
        assert!(way.fits_per_s > 0.0, "{report}");
    }
    assert!(
        report.to_string().contains("series=15 points=501"),
        "{report}"
    );
}
