//! `[site.capacity]`: a site's design capacity and its load source become
//! the implicit check `<site>/capacity` (a probe for a Prometheus source,
//! a passive check for an agent's access log); every mistake is reported
//! at its file:line:col.

mod support;

use keepup_config::capacity::{LoadSource, Measure};
use keepup_config::{CheckSpec, Config, PassiveSpec, ProbeSpec, load_str};
use std::path::Path;
use std::time::Duration;
use support::{at_line, env_before_main, line_of, problems};

env_before_main! {
    "KEEPUP_TEST_CAPACITY_TOKEN" => "0123456789abcdef-web1",
}

const AGENT: &str = "[[agent]]\nname = \"web1\"\ntoken_env = \"KEEPUP_TEST_CAPACITY_TOKEN\"\n";

fn load(src: &str) -> Config {
    load_str(src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"))
}

#[test]
fn a_prometheus_source_becomes_a_probe_and_an_access_log_a_passive_check() {
    let src = format!(
        r#"{AGENT}
[[site]]
id = "shop"
tags = ["eu"]
[[site.check]]
id = "home"
kind = "http"
url = "https://shop.example/"
[site.capacity]
requests_per_second = 200
transactions_per_hour = 3000
concurrent_sessions = 500
warn_at = "75%"
crit_at = "110%"
interval = "30s"
source = {{ url = "https://shop.example/metrics", requests = 'rate(http_requests_total{{code!~"5.."}})', transactions = 'rate(shop_orders_total)', sessions = 'shop_sessions_active' }}

[[site]]
id = "outlet"
[site.capacity]
requests_per_second = 50.5
source = {{ agent = "web1", access_log = "outlet" }}
"#
    );
    let config = load(&src);
    let check = config.find_check("shop/capacity").expect("shop/capacity");
    assert_eq!(check.interval, Duration::from_secs(30));
    assert_eq!(check.site_tags, ["eu"]);
    assert!(check.alerting.incident_on_degraded);
    assert!(check.spec.is_informational());
    assert_eq!(check.spec.kind(), "capacity");
    let CheckSpec::Probe(ProbeSpec::Capacity(spec)) = &check.spec else {
        panic!("{:?}", check.spec)
    };
    assert_eq!(
        spec.design,
        [
            (Measure::Requests, 200.0),
            (Measure::Transactions, 3000.0),
            (Measure::Sessions, 500.0)
        ]
    );
    assert_eq!((spec.warn_at, spec.crit_at), (75.0, 110.0));
    let LoadSource::Prometheus { http, exprs } = &spec.source else {
        panic!("{:?}", spec.source)
    };
    assert_eq!(http.url.to_string(), "https://shop.example/metrics");
    assert_eq!(exprs.len(), 3);
    assert_eq!(exprs[2].1.text, "shop_sessions_active");
    // Aimed at the shop's host: the implicit tls and zone parents apply.
    assert_eq!(check.spec.target_host(), Some("shop.example"));

    let check = config
        .find_check("outlet/capacity")
        .expect("outlet/capacity");
    let CheckSpec::Passive(PassiveSpec::Capacity(spec)) = &check.spec else {
        panic!("{:?}", check.spec)
    };
    assert_eq!((spec.warn_at, spec.crit_at), (80.0, 100.0));
    assert_eq!(spec.design_of(Measure::Requests), Some(50.5));
    assert!(
        matches!(&spec.source, LoadSource::AccessLog { agent, log } if agent == "web1" && log == "outlet")
    );
}

#[test]
fn mistakes_are_reported_where_written() {
    let src = format!(
        r#"{AGENT}
[[site]]
id = "zero"
[site.capacity]
requests_per_second = 0
source = {{ agent = "web1", access_log = "shop" }}

[[site]]
id = "negative"
[site.capacity]
transactions_per_hour = -3
source = {{ agent = "web1", access_log = "shop" }}

[[site]]
id = "order"
[site.capacity]
requests_per_second = 10
warn_at = "90%"
crit_at = "90%"
source = {{ agent = "web1", access_log = "shop" }}

[[site]]
id = "nosource"
[site.capacity]
requests_per_second = 10

[[site]]
id = "stranger"
[site.capacity]
requests_per_second = 10
source = {{ agent = "web2", access_log = "shop" }}

[[site]]
id = "badexpr"
[site.capacity]
requests_per_second = 10
source = {{ url = "http://127.0.0.1:9/metrics", requests = 'rate(x) > 5' }}

[[site]]
id = "share"
[site.capacity]
requests_per_second = 10
warn_at = "0.8"
source = {{ agent = "web1", access_log = "shop" }}

[[site]]
id = "sessions"
[site.capacity]
concurrent_sessions = 10
source = {{ agent = "web1", access_log = "shop" }}

[[site]]
id = "noexpr"
[site.capacity]
transactions_per_hour = 10
source = {{ url = "http://127.0.0.1:9/metrics", requests = 'rate(x)' }}

[[site]]
id = "taken"
[[site.check]]
id = "capacity"
kind = "tcp"
host = "127.0.0.1"
port = 9
[site.capacity]
requests_per_second = 10
source = {{ agent = "web1", access_log = "shop" }}
"#
    );
    let p = problems(&src);
    let on = |marker: &str| at_line(&p, line_of(&src, marker));
    let zero = on("requests_per_second = 0");
    assert!(
        zero.starts_with("keepup.toml:")
            && zero.contains("site[0].capacity.requests_per_second")
            && zero.contains("must be above zero, not 0"),
        "{zero}"
    );
    assert!(on("= -3").contains("must be above zero, not -3"));
    assert!(on("warn_at = \"90%\"").contains("warn_at (90%) must be below crit_at (90%)"));
    // At the table's header.
    let line = line_of(&src, "id = \"nosource\"") + 1;
    assert!(at_line(&p, line).contains("missing key `source`"), "{p}");
    assert!(on("agent = \"web2\"").contains("no [[agent]] is named \"web2\""));
    let bad = on("'rate(x) > 5'");
    assert!(
        bad.contains("site[5].capacity.source.requests")
            && bad.contains("a load is a value, not a condition"),
        "{bad}"
    );
    // The column is the comparison's, inside the string.
    let col = src
        .lines()
        .find(|l| l.contains("'rate(x) > 5'"))
        .and_then(|l| l.find('>'))
        .map(|c| c + 1)
        .unwrap_or_default();
    assert!(bad.contains(&format!(":{col}:")), "{bad} (column {col})");
    assert!(on("warn_at = \"0.8\"").contains("not a share"));
    assert!(
        at_line(&p, line_of(&src, "concurrent_sessions = 10") + 1)
            .contains("concurrent sessions cannot be counted from an access log")
    );
    assert!(
        at_line(&p, line_of(&src, "transactions_per_hour = 10") + 1)
            .contains("missing key `transactions`"),
        "{p}"
    );
    assert!(p.0.iter().any(|x| {
        x.to_string()
            .contains("check id \"taken/capacity\" is taken by a configured check")
    }));
}

#[test]
fn a_capacity_without_any_design_or_source_kind_is_refused() {
    let src = "[[site]]\nid = \"s\"\n[site.capacity]\nwarn_at = \"80%\"\nsource = { url = \"http://127.0.0.1:9/m\" }\n";
    let p = problems(src);
    let text = p.to_string();
    assert!(text.contains("declares no design capacity"), "{text}");
    let src = "[[site]]\nid = \"s\"\n[site.capacity]\nrequests_per_second = 5\nsource = { }\n";
    let text = problems(src).to_string();
    assert!(text.contains("names no source"), "{text}");
    let src = "[[site]]\nid = \"s\"\n[site.capacity]\nrequests_per_second = 5\nrequests = 3\nsource = { access_log = \"x\" }\n";
    let text = problems(src).to_string();
    assert!(text.contains("requests"), "{text}");
    assert!(text.contains("give agent = \"NAME\" too"), "{text}");
}
