//! `[[contract]]`: a complete contract loads with its service expression,
//! hours, repair times and credit tiers; every impossible contract is
//! rejected at its line and column.

mod support;

use keepup_config::contract::{
    Period, RepairLimit, ServiceExpr, ServiceHours, Severity, UnknownPolicy,
};
use keepup_config::load_str;
use keepup_model::CheckId;
use std::path::Path;
use std::time::Duration;
use support::{at_line, line_of, only_problem, problems};

/// A site with two redundant web servers, a checkout, a payment gateway
/// and a domain-expiry check (informational), followed by `contract`.
fn with_contract(contract: &str) -> String {
    format!(
        r#"[[site]]
id = "shop"
[[site.check]]
id = "web1"
kind = "tcp"
host = "127.0.0.1"
port = 8081
tags = ["web"]
[[site.check]]
id = "web2"
kind = "tcp"
host = "127.0.0.1"
port = 8082
tags = ["web"]
[[site.check]]
id = "checkout"
kind = "tcp"
host = "127.0.0.1"
port = 8083
[[site.check]]
id = "payment"
kind = "tcp"
host = "127.0.0.1"
port = 8084
[[site.check]]
id = "registration"
kind = "domain"
domain = "shop.example"

{contract}"#
    )
}

fn check(id: &str) -> ServiceExpr {
    ServiceExpr::Check(CheckId::new("shop", id))
}

#[test]
fn a_complete_contract_loads() {
    let src = with_contract(
        r#"[[contract]]
id = "front"
name = "Shop front"
site = "shop"
down_when = "all(web) | (checkout & payment)"
target = 99.9
period = "quarter"
time_zone = "Europe/Berlin"
service_hours = "mon-fri 08:00-18:00, sat 09:00-13:00"
holidays = ["2026-12-25", "2026-12-26"]
degraded = 0.5
unknown = "down"
maintenance_allowance = "4h"
repair_time = { critical = "4h", major = "8 business hours", minor = "3 business days" }
repair_breach_credit = 50.0
credit_cap = 50
monthly_fee = 1000.0
currency = "EUR"
[[contract.credit]]
below = 99.9
percent = 10
[[contract.credit]]
below = 99.5
percent = 25
"#,
    );
    let config = load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let c = &config.contracts[0];
    assert_eq!(c.id, "front");
    assert_eq!(c.name, "Shop front");
    assert_eq!(
        c.service,
        ServiceExpr::Any(vec![
            ServiceExpr::All(vec![check("web1"), check("web2")]),
            ServiceExpr::All(vec![check("checkout"), check("payment")]),
        ])
    );
    assert_eq!(c.target, 99.9);
    assert_eq!(c.period, Period::Quarter);
    assert_eq!(c.time_zone_name, "Europe/Berlin");
    let ServiceHours::Weekly { rules, holidays } = &c.service_hours else {
        panic!("weekly hours expected: {:?}", c.service_hours)
    };
    assert_eq!(rules.len(), 2);
    assert_eq!((rules[0].start_minute, rules[0].end_minute), (480, 1080));
    assert_eq!(rules[0].days, [true, true, true, true, true, false, false]);
    assert_eq!(
        rules[1].days,
        [false, false, false, false, false, true, false]
    );
    assert_eq!(holidays.len(), 2);
    assert_eq!(c.degraded_weight, 0.5);
    assert_eq!(c.unknown, UnknownPolicy::Down);
    assert_eq!(c.maintenance_allowance, Some(Duration::from_secs(4 * 3600)));
    assert_eq!(
        c.repair_time,
        vec![
            (
                Severity::Critical,
                RepairLimit {
                    limit: Duration::from_secs(4 * 3600),
                    business: false,
                    written: "4h".into()
                }
            ),
            (
                Severity::Major,
                RepairLimit {
                    limit: Duration::from_secs(8 * 3600),
                    business: true,
                    written: "8 business hours".into()
                }
            ),
            // A business day is the longest service day: 10 h on weekdays.
            (
                Severity::Minor,
                RepairLimit {
                    limit: Duration::from_secs(30 * 3600),
                    business: true,
                    written: "3 business days".into()
                }
            ),
        ]
    );
    assert_eq!(c.credit.tiers.len(), 2);
    assert_eq!(
        (c.credit.tiers[1].below, c.credit.tiers[1].percent),
        (99.5, 25.0)
    );
    assert_eq!(c.credit.per_repair_breach, 50.0);
    assert_eq!(c.credit.cap_percent, 50.0);
    assert_eq!(c.credit.monthly_fee, 1000.0);
    assert_eq!(c.credit.currency, "EUR");
}

#[test]
fn the_default_service_is_every_check_that_is_not_informational() {
    let src = with_contract("[[contract]]\nid = \"front\"\nsite = \"shop\"\ntarget = 99.5\n");
    let config = load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let c = &config.contracts[0];
    assert_eq!(
        c.service,
        ServiceExpr::Any(vec![
            check("web1"),
            check("web2"),
            check("checkout"),
            check("payment")
        ])
    );
    assert_eq!(c.period, Period::Month);
    assert_eq!(c.service_hours, ServiceHours::Always);
    assert_eq!(c.unknown, UnknownPolicy::Exclude);
    assert_eq!(c.degraded_weight, 1.0);
    assert_eq!(c.maintenance_allowance, None);
}

/// The single problem of a contract body, with the line it must be on.
fn problem_at(contract: &str, needle: &str) -> String {
    let src = with_contract(contract);
    let p = problems(&src);
    assert_eq!(p.0.len(), 1, "{p}");
    at_line(&p, line_of(&src, needle))
}

#[test]
fn targets_out_of_range_are_rejected_where_written() {
    for target in ["100.5", "0", "-1"] {
        let contract = format!("[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = {target}\n");
        let p = problem_at(&contract, "target =");
        assert!(
            p.contains(
                "contract[0].target: the availability target must be above 0 and at most 100"
            ),
            "{p}"
        );
        assert!(p.contains(":10: contract[0].target"), "{p}");
    }
}

#[test]
fn service_hours_that_never_occur_are_rejected() {
    let p = problem_at(
        "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99\nservice_hours = \"mon-fri 18:00-08:00\"\n",
        "service_hours",
    );
    assert!(p.contains("never occurs"), "{p}");
    let p = problem_at(
        "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99\nservice_hours = \"mon-fri 08:00-08:00\"\n",
        "service_hours",
    );
    assert!(p.contains("never occurs"), "{p}");
    let p = problem_at(
        "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99\nservice_hours = \"fri-mon 08:00-18:00\"\n",
        "service_hours",
    );
    assert!(p.contains("days run from Monday to Sunday"), "{p}");
    let p = problem_at(
        "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99\nholidays = [\"2026-12-25\"]\n",
        "holidays",
    );
    assert!(
        p.contains("holidays only apply to weekly service hours"),
        "{p}"
    );
}

#[test]
fn credit_tiers_out_of_order_or_above_100_percent_are_rejected() {
    let base = "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99.9\nmonthly_fee = 100.0\ncurrency = \"EUR\"\n";
    let p = problem_at(
        &format!(
            "{base}credit = [{{ below = 99.5, percent = 25 }},\n {{ below = 99.9, percent = 10 }}]\n"
        ),
        "below = 99.9",
    );
    assert!(
        p.contains("contract[0].credit[1]: tiers are out of order"),
        "{p}"
    );
    let p = problem_at(
        &format!(
            "{base}credit = [{{ below = 99.9, percent = 25 }},\n {{ below = 99.5, percent = 10 }}]\n"
        ),
        "below = 99.5",
    );
    assert!(p.contains("tiers are out of order"), "{p}");
    let p = problem_at(
        &format!("{base}credit = [{{ below = 99.9, percent = 110 }}]\n"),
        "percent = 110",
    );
    assert!(
        p.contains("`percent` must be above 0 and at most 100"),
        "{p}"
    );
    let p = problem_at(
        &format!("{base}credit = [{{ below = 100.1, percent = 10 }}]\n"),
        "below = 100.1",
    );
    assert!(p.contains("`below` must be above 0 and at most 100"), "{p}");
    let p = problem_at(
        "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99.9\ncredit = [{ below = 99.9, percent = 10 }]\n",
        "credit =",
    );
    assert!(p.contains("monthly_fee: credits need the fee"), "{p}");
}

#[test]
fn money_that_is_not_a_finite_number_is_rejected_where_written() {
    let base = "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99.9\ncurrency = \"EUR\"\n";
    for (key, value) in [
        ("monthly_fee", "nan"),
        ("monthly_fee", "inf"),
        ("monthly_fee", "-inf"),
        ("repair_breach_credit", "nan"),
        ("credit_cap", "nan"),
    ] {
        let fee = if key == "monthly_fee" {
            String::new()
        } else {
            "monthly_fee = 100.0\n".to_owned()
        };
        let p = problem_at(
            &format!("{base}{fee}{key} = {value}\n"),
            &format!("{key} ="),
        );
        assert!(p.contains(&format!("contract[0].{key}: must be")), "{p}");
        assert!(p.contains("found"), "{p}");
    }
    // The other numbers were already checked with comparisons NaN fails.
    for (line, needle) in [
        ("target = nan\n", "target ="),
        (
            "credit = [{ below = nan, percent = 10 }]\nmonthly_fee = 1.0\n",
            "below = nan",
        ),
        (
            "credit = [{ below = 99.0, percent = nan }]\nmonthly_fee = 1.0\n",
            "percent = nan",
        ),
    ] {
        let src = format!(
            "[[contract]]\nid = \"f\"\nsite = \"shop\"\ncurrency = \"EUR\"\n{}{line}",
            if line.starts_with("target") {
                ""
            } else {
                "target = 99.9\n"
            }
        );
        problem_at(&src, needle);
    }
}

#[test]
fn unknown_checks_and_tags_are_rejected_at_their_column() {
    let p = problem_at(
        "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99\ndown_when = \"web1 | chekout\"\n",
        "down_when",
    );
    // The column of `chekout` inside the string.
    assert!(
        p.contains(":21: contract[0].down_when: the site has no check \"chekout\""),
        "{p}"
    );
    assert!(p.contains("did you mean \"checkout\"?"), "{p}");
    let p = problem_at(
        "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99\ndown_when = \"all(db)\"\n",
        "down_when",
    );
    assert!(p.contains("no check of the site is tagged \"db\""), "{p}");
    let p = problem_at(
        "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99\ndown_when = \"(web1 & web2\"\n",
        "down_when",
    );
    assert!(p.contains("missing `)`"), "{p}");
    let p = problem_at(
        "[[contract]]\nid = \"f\"\nsite = \"shp\"\ntarget = 99\n",
        "site = \"shp\"",
    );
    assert!(
        p.contains("no site \"shp\"") && p.contains("did you mean \"shop\""),
        "{p}"
    );
}

#[test]
fn a_zero_repair_time_is_rejected() {
    for written in ["\"0s\"", "\"0 business days\"", "0"] {
        let p = problem_at(
            &format!(
                "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99\nrepair_time = {{ major = {written} }}\n"
            ),
            "repair_time",
        );
        assert!(
            p.contains("contract[0].repair_time.major: a repair time must be longer than zero"),
            "{p}"
        );
    }
}

/// A business day is the longest service day, each minute once: on Monday
/// `mon-fri 08:00-18:00` and `mon 12:00-20:00` give 08:00-20:00, 12 hours,
/// not the 18 their lengths add up to.
#[test]
fn a_business_day_counts_overlapping_weekly_hours_once() {
    let src = with_contract(
        "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99\nservice_hours = \"mon-fri 08:00-18:00, mon 12:00-20:00, tue 07:00-09:00\"\nrepair_time = { minor = \"1 business day\" }\n",
    );
    let config = load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let c = &config.contracts[0];
    assert_eq!(c.service_hours.longest_day_minutes(), 12 * 60);
    assert_eq!(
        c.repair_time[0].1.limit,
        Duration::from_secs(12 * 3600),
        "{:?}",
        c.repair_time
    );
}

#[test]
fn a_site_without_availability_checks_needs_down_when() {
    let p = only_problem(
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"reg\"\nkind = \"domain\"\ndomain = \"shop.example\"\n[[contract]]\nid = \"f\"\nsite = \"s\"\ntarget = 99\n",
    );
    assert!(p.contains("has no check that measures availability"), "{p}");
}

#[test]
fn contract_ids_are_unique() {
    let p = problem_at(
        "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99\n[[contract]]\nid = \"f\" # again\nsite = \"shop\"\ntarget = 98\n",
        "# again",
    );
    assert!(p.contains("contract id \"f\" is used twice"), "{p}");
}

/// The README's `[[contract]]` example loads, for a site with the checks
/// it names.
#[test]
fn the_readme_contract_example_loads() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("the README is readable");
    let section = readme
        .split("\n## SLA\n")
        .nth(1)
        .expect("the README has an SLA section");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("the SLA section has a TOML example");
    // Its `report_to` names the e-mail channel `owner-mail`.
    let src = with_contract(&with_channels(example));
    let config = load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(config.contracts[0].id, "front");
    assert_eq!(config.contracts[0].report_to, ["owner-mail"]);
}

/// Without `[[contract.burn]]` a contract alerts as the SRE workbook
/// suggests; its checks `sla-<id>` and (with repair times)
/// `sla-<id>-repair` join the site, outside every service.
#[test]
fn a_contract_adds_its_burn_and_repair_checks_with_default_rules() {
    use keepup_config::contract::{BurnRule, BurnSeverity};
    use keepup_config::{CheckSpec, PassiveSpec, SlaJob};
    let src = with_contract(
        "[[contract]]\nid = \"front\"\nsite = \"shop\"\ntarget = 99.9\nrepair_time = { critical = \"4h\" }\n",
    );
    let config = load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let c = &config.contracts[0];
    assert_eq!(c.burn, BurnRule::defaults());
    let rules: Vec<(u64, u64, f64, BurnSeverity)> = c
        .burn
        .iter()
        .map(|r| (r.long.as_secs(), r.short.as_secs(), r.factor, r.severity))
        .collect();
    assert_eq!(
        rules,
        [
            (3600, 300, 14.4, BurnSeverity::Page),
            (6 * 3600, 1800, 6.0, BurnSeverity::Page),
            (86_400, 2 * 3600, 3.0, BurnSeverity::Ticket),
            (3 * 86_400, 6 * 3600, 1.0, BurnSeverity::Ticket),
        ]
    );
    assert_eq!(c.repair_warning, Duration::from_secs(3600));
    let burn = config.find_check("shop/sla-front").expect("the burn check");
    let repair = config
        .find_check("shop/sla-front-repair")
        .expect("the repair check");
    for (check, job) in [(burn, SlaJob::Burn), (repair, SlaJob::Repair)] {
        match &check.spec {
            CheckSpec::Passive(PassiveSpec::Sla(s)) => {
                assert_eq!((s.contract.as_str(), s.job), ("front", job));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(check.spec.kind(), "sla");
        assert!(check.alerting.incident_on_degraded);
        assert!(!c.service.checks().contains(&&check.id));
    }
}

#[test]
fn burn_rules_and_the_warning_lead_are_configurable() {
    use keepup_config::contract::BurnSeverity;
    let src = with_contract(
        r#"[[contract]]
id = "front"
site = "shop"
target = 99.5
repair_warning = "30m"
[[contract.burn]]
long = "2h"
short = "10m"
factor = 10
severity = "page"
[[contract.burn]]
long = "1d"
short = "1h"
factor = 2.5
severity = "ticket"
"#,
    );
    let config = load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let c = &config.contracts[0];
    assert_eq!(c.repair_warning, Duration::from_secs(1800));
    assert_eq!(c.burn.len(), 2);
    assert_eq!(
        (
            c.burn[0].long,
            c.burn[0].short,
            c.burn[0].factor,
            c.burn[0].severity
        ),
        (
            Duration::from_secs(7200),
            Duration::from_secs(600),
            10.0,
            BurnSeverity::Page
        )
    );
    assert_eq!(c.burn[1].severity, BurnSeverity::Ticket);
    // No repair times: no repair check.
    assert!(config.find_check("shop/sla-front").is_some());
    assert!(config.find_check("shop/sla-front-repair").is_none());

    // `burn = []` turns the burn alerts off, and with them the check.
    let src =
        with_contract("[[contract]]\nid = \"front\"\nsite = \"shop\"\ntarget = 99.5\nburn = []\n");
    let config = load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    assert!(config.contracts[0].burn.is_empty());
    assert!(config.find_check("shop/sla-front").is_none());
}

#[test]
fn impossible_burn_rules_are_rejected_where_written() {
    let rule = |body: &str| {
        format!(
            "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99.9\n[[contract.burn]]\n{body}\n"
        )
    };
    for (body, expected) in [
        (
            "long = \"5m\"\nshort = \"1h\"\nfactor = 14.4\nseverity = \"page\"",
            "the short window (1h) must be shorter than the long one (5m)",
        ),
        (
            "long = \"1h\"\nshort = \"5m\"\nfactor = 0\nseverity = \"page\"",
            "the burn factor must be above 0, found 0",
        ),
        (
            "long = \"1h\"\nshort = \"5m\"\nfactor = 2\nseverity = \"urgent\"",
            "unknown severity \"urgent\"; write \"page\" or \"ticket\"",
        ),
        (
            "long = \"1h\"\nshort = \"0s\"\nfactor = 2\nseverity = \"page\"",
            "the windows must be longer than zero",
        ),
    ] {
        let p = problem_at(&rule(body), "[[contract.burn]]");
        assert!(
            p.contains(&format!("contract[0].burn[0]: {expected}")),
            "{p}"
        );
    }
    let p = problem_at(
        "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99.9\nrepair_warning = \"0s\"\n",
        "repair_warning",
    );
    assert!(
        p.contains("contract[0].repair_warning: must be longer than zero"),
        "{p}"
    );
}

/// The SLA checks are added after the services are read: a service cannot
/// name them (their incidents are alerts about the budget, not outages),
/// and a configured check of the same id is reported.
#[test]
fn services_cannot_read_the_sla_checks_and_their_ids_are_reserved() {
    let src = with_contract(
        "[[contract]]\nid = \"a\"\nsite = \"shop\"\ntarget = 99.9\n[[contract]]\nid = \"b\"\nsite = \"shop\"\ntarget = 99.9\ndown_when = \"checkout | sla-a\"\n",
    );
    let p = problems(&src);
    assert!(
        p.to_string()
            .contains("contract[1].down_when: the site has no check \"sla-a\""),
        "{p}"
    );
    let src = with_contract("[[contract]]\nid = \"checkout\"\nsite = \"shop\"\ntarget = 99.9\n")
        .replace("id = \"payment\"", "id = \"sla-checkout\"");
    let p = problems(&src);
    assert!(
        p.to_string()
            .contains("check id \"shop/sla-checkout\" is taken by a configured check"),
        "{p}"
    );
}

/// An e-mail and a webhook channel, then `contract`.
fn with_channels(contract: &str) -> String {
    format!(
        r#"[[channel]]
id = "owner-mail"
kind = "email"
smtp_host = "127.0.0.1"
from = "keepup@shop.example"
to = ["owner@shop.example"]
[[channel]]
id = "ops-hook"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
{contract}"#
    )
}

#[test]
fn reports_go_to_e_mail_channels_after_a_delay() {
    let base = "[[contract]]\nid = \"f\"\nsite = \"shop\"\ntarget = 99.9\n";
    let src = with_contract(&with_channels(&format!(
        "{base}report_to = [\"owner-mail\"]\nreport_delay = \"2h\"\n"
    )));
    let config = load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let c = &config.contracts[0];
    assert_eq!(c.report_to, ["owner-mail"]);
    assert_eq!(c.report_delay, Duration::from_secs(7200));

    let src = with_contract(&with_channels(base));
    let config = load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let c = &config.contracts[0];
    assert!(c.report_to.is_empty(), "kept, not sent, by default");
    assert_eq!(c.report_delay, Duration::from_secs(3600));

    for (written, says) in [
        (
            "[\"owner-mial\"]",
            "contract[0].report_to: no channel \"owner-mial\" (hint: did you mean \"owner-mail\"?)",
        ),
        (
            "[\"ops-hook\"]",
            "contract[0].report_to: channel \"ops-hook\" is a webhook channel; reports are sent by e-mail only",
        ),
        (
            "[\"owner-mail\", \"owner-mail\"]",
            "contract[0].report_to: channel \"owner-mail\" is named twice",
        ),
    ] {
        let src = with_contract(&with_channels(&format!("{base}report_to = {written}\n")));
        let p = problems(&src);
        assert_eq!(p.0.len(), 1, "{p}");
        let p = at_line(&p, line_of(&src, "report_to"));
        assert!(p.contains(says), "{p}");
    }
}
