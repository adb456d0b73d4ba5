//! DNSBL checks end to end, against Knot DNS serving the blacklist zones as
//! the real lists answer them (test entries, listings with TXT reasons), and
//! as lists that refuse, died, list everything or sit behind a resolver
//! that rewrites NXDOMAIN; and against hostile resolvers.

mod support;

use std::sync::Arc;

use keepup_config::{Check, load_str};
use keepup_model::codes;
use keepup_model::{Outcome, Severity, Status};
use keepup_probe::ProbeContext;
use keepup_testkit::dns::{self, DnsBehaviour, DnsWorld, HostileDns};
use support::run;

fn world() -> Arc<DnsWorld> {
    DnsWorld::shared().expect("Knot DNS (Debian package `knot`) must be installed and start")
}

fn check(body: &str, resolver: std::net::SocketAddr) -> Check {
    let src = format!(
        "[dns]\nresolver = [\"{resolver}\"]\nquery_timeout = \"500ms\"\n[[site]]\nid = \"t\"\n[[site.check]]\nid = \"c\"\ninterval = \"60s\"\ntimeout = \"20s\"\nkind = \"dnsbl\"\n{body}\n"
    );
    let mut config = load_str(&src, std::path::Path::new("test.toml"))
        .unwrap_or_else(|p| panic!("invalid test config:\n{p}\n{src}"));
    std::sync::Arc::unwrap_or_clone(config.sites.remove(0).checks.remove(0))
}

fn with_code<'a>(o: &'a Outcome, code: &str) -> Vec<&'a str> {
    o.findings
        .iter()
        .filter(|f| f.code == code)
        .map(|f| f.text.as_str())
        .collect()
}

#[tokio::test]
async fn the_mx_host_of_a_domain_is_found_listed_with_reasons() {
    let w = world();
    let o = run(
        &check(
            &format!("domain = \"{}\"", dns::ZONE_MAILSHOP),
            w.resolver(),
        ),
        &ProbeContext::new(),
    )
    .await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    assert_eq!(
        o.message,
        "listed: 192.0.2.66 on bl.spamcop.net, 192.0.2.66 on zen.spamhaus.org, 2001:db8::66 on zen.spamhaus.org"
    );
    let listed = with_code(&o, codes::DNSBL_LISTED);
    assert_eq!(listed.len(), 3, "{listed:#?}");
    assert!(listed.contains(&"192.0.2.66 (MX mx.mailshop.test.) is listed on zen.spamhaus.org: SBL (Spamhaus Block List: a spam source or spam operation); PBL, Spamhaus maintained (an end-user range that should not send mail directly); reason: \"https://check.spamhaus.org/sbl/query/SBL000001\""), "{listed:#?}");
    assert!(listed.iter().any(|t| t.starts_with(
        "2001:db8::66 (MX mx.mailshop.test.) is listed on zen.spamhaus.org: SBL CSS"
    )));
    assert!(
        listed
            .iter()
            .any(|t| t.contains("bl.spamcop.net") && t.contains("reason: \"Blocked - see"))
    );
    // The web address and the domain itself were looked up too.
    let targets = o.evidence.details["targets"].as_array().unwrap();
    let names: Vec<&str> = targets
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            dns::LISTED_V4,
            dns::LISTED_V6,
            dns::CLEAN_V4,
            dns::ZONE_MAILSHOP
        ]
    );
    let zones = o.evidence.details["zones"].as_array().unwrap();
    assert_eq!(zones.len(), 11);
    assert!(zones.iter().all(|z| z["status"] == "trusted"), "{zones:#?}");
}

#[tokio::test]
async fn a_clean_address_is_up() {
    let w = world();
    let o = run(
        &check(&format!("ips = [\"{}\"]", dns::CLEAN_V4), w.resolver()),
        &ProbeContext::new(),
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert_eq!(
        o.message,
        "not listed on any of 11 blacklists (1 address, 0 domains)"
    );
    // 11 zones × 2 sanity lookups, 8 IPv4 lists × 1 address.
    assert_eq!(o.evidence.details["lookups"], 30);
}

#[tokio::test]
async fn a_listed_domain_is_reported_per_list_with_its_severity() {
    let w = world();
    let o = run(
        &check(
            &format!(
                "ips = [\"{}\"]\ndomain = \"{}\"",
                dns::CLEAN_V4,
                dns::LISTED_DOMAIN
            ),
            w.resolver(),
        ),
        &ProbeContext::new(),
    )
    .await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    let dbl = o
        .findings
        .iter()
        .find(|f| f.text.contains("dbl.spamhaus.org"))
        .unwrap();
    assert_eq!(dbl.severity, Severity::Critical);
    assert_eq!(
        dbl.text,
        "spammy.test is listed on dbl.spamhaus.org: spam domain"
    );
    let uribl = o
        .findings
        .iter()
        .find(|f| f.text.contains("multi.uribl.com"))
        .unwrap();
    assert_eq!(uribl.severity, Severity::Warning);
    assert_eq!(uribl.code, codes::DNSBL_LISTED);
}

#[tokio::test]
async fn refusing_dead_and_lying_lists_are_unknown_never_listed() {
    let w = world();
    let o = run(
        &check(
            &format!(
                "ips = [\"{}\"]\ndomain = \"{}\"",
                dns::LISTED_V4,
                dns::ZONE_MAILSHOP
            ),
            w.broken_resolver(),
        ),
        &ProbeContext::new(),
    )
    .await;
    assert_eq!(o.status, Status::Unknown, "{o:#?}");
    assert!(with_code(&o, codes::DNSBL_LISTED).is_empty(), "{o:#?}");
    let refused = with_code(&o, codes::DNSBL_REFUSED);
    assert_eq!(refused.len(), 3, "{refused:#?}");
    assert!(refused.iter().any(|t| t.starts_with("the blacklist zen.spamhaus.org refuses to answer, so it was not consulted: 127.255.255.254: queries through public or open resolvers are refused")));
    assert!(
        refused
            .iter()
            .any(|t| t.contains("dbl.spamhaus.org") && t.contains("127.0.1.255"))
    );
    assert!(
        refused
            .iter()
            .any(|t| t.contains("multi.uribl.com") && t.contains("127.0.0.1 is never a listing"))
    );
    let unusable = with_code(&o, codes::DNSBL_ZONE_UNUSABLE);
    assert_eq!(unusable.len(), 3, "{unusable:#?}");
    assert!(
        unusable.iter().any(|t| t.contains("bl.spamcop.net")
            && t.contains("its test entry 127.0.0.2 is not listed"))
    );
    assert!(
        unusable
            .iter()
            .any(|t| t.contains("psbl.surriel.com") && t.contains("it lists 127.0.0.1"))
    );
    assert!(
        unusable
            .iter()
            .any(|t| t.contains("b.barracudacentral.org") && t.contains("outside 127.0.0.0/8"))
    );
    let zones = o.evidence.details["zones"].as_array().unwrap();
    assert_eq!(zones.iter().filter(|z| z["status"] == "trusted").count(), 5);
}

#[tokio::test]
async fn zones_can_be_chosen_excluded_and_described() {
    let w = world();
    let o = run(
        &check(
            &format!(
                "ips = [\"{}\"]\nzones = [\"zen.spamhaus.org\", \"bl.spamcop.net\", {{ zone = \"dnsbl.dronebl.org\", ipv4 = true }}]\nexclude_zones = [\"bl.spamcop.net\"]",
                dns::LISTED_V4
            ),
            w.resolver(),
        ),
        &ProbeContext::new(),
    )
    .await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    assert_eq!(o.message, "listed: 192.0.2.66 on zen.spamhaus.org");
    let zones: Vec<&str> = o.evidence.details["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["zone"].as_str().unwrap())
        .collect();
    assert_eq!(zones, vec!["zen.spamhaus.org", "dnsbl.dronebl.org"]);
}

#[tokio::test]
async fn hostile_resolvers_are_unknown_with_the_reason() {
    for (behaviour, expect) in [
        (DnsBehaviour::Silent, "no answer within 500 ms"),
        (DnsBehaviour::WrongId, "an answer with another ID"),
        (DnsBehaviour::CompressionLoop, "malformed response"),
        (DnsBehaviour::Garbage, "malformed response"),
    ] {
        let server = HostileDns::start(behaviour).unwrap();
        let o = run(
            &check(
                "ips = [\"192.0.2.1\"]\nzones = [\"zen.spamhaus.org\"]",
                server.addr(),
            ),
            &ProbeContext::new(),
        )
        .await;
        assert_eq!(o.status, Status::Unknown, "{behaviour:?}: {o:#?}");
        let unusable = with_code(&o, codes::DNSBL_ZONE_UNUSABLE);
        assert_eq!(unusable.len(), 1, "{behaviour:?}: {o:#?}");
        assert!(
            unusable[0].contains(expect),
            "{behaviour:?}: {}",
            unusable[0]
        );
    }
}
