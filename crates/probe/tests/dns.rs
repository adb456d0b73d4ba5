//! Delegation and record checks end to end, against Knot DNS serving a test
//! hierarchy on 127.53.0.0/16 (a root, `test.`, healthy and deliberately
//! broken zones) and against hostile name servers. Checks are built from
//! configuration text, so the `[dns]` section and validation are on the
//! path too.

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

/// One check from `body` (the kind-specific keys), with `dns` as the
/// `[dns]` section.
fn check_with(dns: &str, body: &str) -> Check {
    let src = format!(
        "{dns}\n[[site]]\nid = \"t\"\n[[site.check]]\nid = \"c\"\ninterval = \"60s\"\ntimeout = \"20s\"\n{body}\n"
    );
    let mut config = load_str(&src, std::path::Path::new("test.toml"))
        .unwrap_or_else(|p| panic!("invalid test config:\n{p}\n{src}"));
    std::sync::Arc::unwrap_or_clone(config.sites.remove(0).checks.remove(0))
}

async fn delegation(world: &DnsWorld, zone: &str, extra: &str) -> Outcome {
    let check = check_with(
        &world.dns_section(),
        &format!("kind = \"delegation\"\nzone = \"{zone}\"\n{extra}"),
    );
    run(&check, &ProbeContext::new()).await
}

fn codes_of(o: &Outcome) -> Vec<&str> {
    o.findings.iter().map(|f| f.code.as_str()).collect()
}

fn finding<'a>(o: &'a Outcome, code: &str) -> &'a keepup_model::Finding {
    o.findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} in {:#?}", o))
}

fn problems(o: &Outcome) -> Vec<&str> {
    o.findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .map(|f| f.code.as_str())
        .collect()
}

#[tokio::test]
async fn a_healthy_zone_is_up_and_every_step_is_evidence() {
    let w = world();
    let o = delegation(&w, dns::ZONE_SHOP, "").await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert!(problems(&o).is_empty(), "{o:#?}");
    assert_eq!(
        o.message,
        "shop.test. is delegated from test. to 2 name servers, all answering consistently"
    );
    let steps = o.evidence.details["steps"].as_array().unwrap();
    let root = format!("127.53.0.1:{}", w.port());
    assert!(
        steps[0]["server"].as_str().unwrap().contains(&root),
        "{steps:#?}"
    );
    assert_eq!(steps[0]["question"], "shop.test. NS");
    assert!(
        steps[0]["authority"][0]
            .as_str()
            .unwrap()
            .starts_with("test. NS")
    );
    assert!(steps.iter().any(|s| s["via"] == "tcp"));
    assert_eq!(o.evidence.details["parent"]["zone"], "test.");
    let servers = o.evidence.details["name_servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    for s in servers {
        assert_eq!(s["udp"], "NOERROR");
        assert_eq!(s["tcp"], "NOERROR");
        assert_eq!(s["authoritative"], true);
        assert_eq!(s["serial"], 2026010101);
    }
    assert_eq!(
        o.evidence.details["mx"],
        serde_json::json!(["10 mx1.shop.test.", "20 mx2.shop.test."])
    );
}

#[tokio::test]
async fn name_servers_in_another_zone_are_resolved_from_the_root() {
    let w = world();
    let o = delegation(&w, dns::ZONE_HOSTED, "").await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert!(problems(&o).is_empty(), "{o:#?}");
    let o = delegation(&w, dns::ZONE_DNS_HOSTER, "").await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert_eq!(finding(&o, codes::DNS_MX_NULL).severity, Severity::Info);
}

#[tokio::test]
async fn a_lame_name_server_is_reported() {
    let w = world();
    let o = delegation(&w, dns::ZONE_LAME, "").await;
    assert_eq!(o.status, Status::Degraded, "{o:#?}");
    let f = finding(&o, codes::DNS_NS_LAME);
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.text.contains("ns2.lame.test. (127.53.4.1:"), "{}", f.text);
    assert!(f.text.contains("REFUSED"), "{}", f.text);
    assert_eq!(problems(&o), vec![codes::DNS_NS_LAME]);
}

#[tokio::test]
async fn glue_that_differs_from_the_zone_is_reported() {
    let w = world();
    let o = delegation(&w, dns::ZONE_GLUE, "").await;
    assert_eq!(o.status, Status::Degraded, "{o:#?}");
    let f = finding(&o, codes::DNS_GLUE_MISMATCH);
    assert_eq!(
        f.text,
        "the parent's glue for ns2.glue.test. is 127.53.2.2, but the name's own records say 127.53.2.3"
    );
}

#[tokio::test]
async fn different_serials_are_reported() {
    let w = world();
    let o = delegation(&w, dns::ZONE_SERIAL, "").await;
    assert_eq!(o.status, Status::Degraded, "{o:#?}");
    let f = finding(&o, codes::DNS_SOA_SERIAL_MISMATCH);
    assert!(f.text.contains("serial 2026010101"), "{}", f.text);
    assert!(f.text.contains("serial 2026010102"), "{}", f.text);
}

#[tokio::test]
async fn parent_and_child_ns_sets_must_match() {
    let w = world();
    let o = delegation(&w, dns::ZONE_NSDIFF, "").await;
    assert_eq!(o.status, Status::Degraded, "{o:#?}");
    assert_eq!(
        finding(&o, codes::DNS_NS_SET_MISMATCH).text,
        "the parent (test.) delegates nsdiff.test. to ns1.nsdiff.test., ns2.nsdiff.test., but the zone lists ns1.nsdiff.test., ns3.nsdiff.test."
    );
    // The name server only the zone lists is asked too.
    let servers = o.evidence.details["name_servers"].as_array().unwrap();
    assert!(servers.iter().any(|s| {
        s["server"]
            .as_str()
            .unwrap()
            .starts_with("ns3.nsdiff.test.")
    }));
}

#[tokio::test]
async fn an_mx_pointing_at_a_cname_is_reported() {
    let w = world();
    let o = delegation(&w, dns::ZONE_MXCNAME, "").await;
    assert_eq!(o.status, Status::Degraded, "{o:#?}");
    let f = finding(&o, codes::DNS_MX_IS_CNAME);
    assert!(
        f.text
            .contains("mail.mxcname.test. CNAME host.mxcname.test."),
        "{}",
        f.text
    );
    assert_eq!(problems(&o), vec![codes::DNS_MX_IS_CNAME]);
}

#[tokio::test]
async fn a_server_that_answers_only_over_udp_is_reported() {
    let w = world();
    let o = delegation(&w, dns::ZONE_UDPONLY, "").await;
    assert_eq!(o.status, Status::Degraded, "{o:#?}");
    let f = finding(&o, codes::DNS_NS_TCP_UNREACHABLE);
    assert!(
        f.text.contains("ns2.udponly.test. (127.53.5.1:"),
        "{}",
        f.text
    );
    assert!(f.text.contains("connection refused"), "{}", f.text);
    assert_eq!(problems(&o), vec![codes::DNS_NS_TCP_UNREACHABLE]);
}

#[tokio::test]
async fn too_few_and_shared_name_servers_are_reported() {
    let w = world();
    let o = delegation(&w, dns::ZONE_SINGLE, "").await;
    assert_eq!(o.status, Status::Degraded, "{o:#?}");
    assert!(
        finding(&o, codes::DNS_NS_TOO_FEW)
            .text
            .contains("only one name server")
    );
    let o = delegation(&w, dns::ZONE_SAMEIP, "").await;
    assert_eq!(
        finding(&o, codes::DNS_NS_SAME_ADDRESS).text,
        "ns1.sameip.test., ns2.sameip.test. share the address 127.53.2.1: they are one server, not several"
    );
}

#[tokio::test]
async fn a_name_server_name_that_is_an_alias_is_reported() {
    let w = world();
    let o = delegation(&w, dns::ZONE_NSCNAME, "").await;
    assert_eq!(o.status, Status::Degraded, "{o:#?}");
    assert!(
        finding(&o, codes::DNS_NS_IS_CNAME)
            .text
            .contains("ns2.nscname.test. CNAME ns1.nscname.test.")
    );
}

#[tokio::test]
async fn a_zone_whose_servers_are_all_silent_is_down() {
    let w = world();
    let o = delegation(&w, dns::ZONE_DEAD, "").await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    let f = finding(&o, codes::DNS_NS_UNREACHABLE);
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.text
            .starts_with("none of the 2 name server addresses of dead.test. answers")
    );
    assert_eq!(o.message, f.text);
}

#[tokio::test]
async fn a_missing_or_undelegated_zone_is_down() {
    let w = world();
    let o = delegation(&w, dns::ZONE_MISSING, "").await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    assert_eq!(
        o.message,
        "missing.test. does not exist: the servers of test. answer NXDOMAIN"
    );
    let o = delegation(&w, "www.shop.test", "").await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    assert_eq!(codes_of(&o), vec![codes::DNS_DELEGATION_NOT_FOUND]);
    assert!(o.message.contains("is not delegated"), "{}", o.message);
}

#[tokio::test]
async fn soa_timers_and_a_missing_mx_are_reported() {
    let w = world();
    let o = delegation(&w, dns::ZONE_TIMERS, "").await;
    assert_eq!(o.status, Status::Degraded, "{o:#?}");
    for code in [
        codes::DNS_SOA_REFRESH_LOW,
        codes::DNS_SOA_RETRY_NOT_BELOW_REFRESH,
        codes::DNS_SOA_EXPIRE_BELOW_REFRESH,
        codes::DNS_SOA_MINIMUM_OUT_OF_RANGE,
    ] {
        finding(&o, code);
    }
    let o = delegation(&w, dns::ZONE_NOMX, "").await;
    assert_eq!(o.status, Status::Degraded, "{o:#?}");
    assert_eq!(problems(&o), vec![codes::DNS_MX_MISSING]);
    let o = delegation(&w, dns::ZONE_NOMX, "expect_mx = false").await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
}

#[tokio::test]
async fn record_expectations_inside_a_delegation_check() {
    let w = world();
    let good = "[[site.check.record]]\nname = \"www\"\ntype = \"A\"\nequals = [\"192.0.2.10\"]\n[[site.check.record]]\nname = \"@\"\ntype = \"MX\"\ncontains = [\"mx1.shop.test\"]\n[[site.check.record]]\nname = \"gone\"\ntype = \"A\"\nnxdomain = true\n";
    let o = delegation(&w, dns::ZONE_SHOP, good).await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    let bad = "[[site.check.record]]\nname = \"www\"\ntype = \"A\"\nequals = [\"192.0.2.11\"]\n";
    let o = delegation(&w, dns::ZONE_SHOP, bad).await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    assert_eq!(
        o.message,
        "www.shop.test. A is 192.0.2.10; expected 192.0.2.11"
    );
}

async fn dns_check(world: &DnsWorld, body: &str) -> Outcome {
    let check = check_with(&world.dns_section(), &format!("kind = \"dns\"\n{body}"));
    run(&check, &ProbeContext::new()).await
}

#[tokio::test]
async fn record_checks_ask_every_authoritative_server() {
    let w = world();
    for (body, message) in [
        (
            "record = \"www.shop.test\"\ntype = \"A\"\nequals = [\"192.0.2.10\"]",
            "www.shop.test. A is as expected",
        ),
        (
            "record = \"shop.test\"\ntype = \"TXT\"\nequals = [\"v=spf1 mx -all\"]",
            "shop.test. TXT is as expected",
        ),
        (
            "record = \"shop.test\"\ntype = \"CAA\"\ncontains = ['issue \"letsencrypt.org\"']",
            "shop.test. CAA is as expected",
        ),
        (
            "record = \"shop.test\"\ntype = \"AAAA\"\nequals = [\"2001:db8::10\"]",
            "shop.test. AAAA is as expected",
        ),
        (
            "record = \"alias.shop.test\"\ntype = \"CNAME\"\nequals = [\"www.shop.test\"]",
            "alias.shop.test. CNAME is as expected",
        ),
        (
            "record = \"alias.shop.test\"\ntype = \"A\"\nequals = [\"192.0.2.10\"]",
            "alias.shop.test. A is as expected",
        ),
        (
            "record = \"nope.shop.test\"\ntype = \"A\"\nnxdomain = true",
            "nope.shop.test. does not exist, as expected",
        ),
    ] {
        let o = dns_check(&w, body).await;
        assert_eq!(o.status, Status::Up, "{body}: {o:#?}");
        assert_eq!(o.message, message);
    }
    let o = dns_check(
        &w,
        "record = \"www.shop.test\"\ntype = \"A\"\nnxdomain = true",
    )
    .await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes_of(&o), vec![codes::DNS_RECORD_EXISTS]);
    let o = dns_check(
        &w,
        "record = \"nope.shop.test\"\ntype = \"A\"\ncontains = [\"192.0.2.1\"]",
    )
    .await;
    assert_eq!(codes_of(&o), vec![codes::DNS_RECORD_NXDOMAIN]);
    let o = dns_check(
        &w,
        "record = \"shop.test\"\ntype = \"MX\"\ncontains = [\"30 mx3.shop.test\"]",
    )
    .await;
    assert_eq!(
        o.message,
        "shop.test. MX lacks 30 mx3.shop.test. (it has 10 mx1.shop.test., 20 mx2.shop.test.)"
    );
}

#[tokio::test]
async fn servers_that_disagree_are_named() {
    let w = world();
    let o = dns_check(
        &w,
        "record = \"www.serial.test\"\ntype = \"A\"\nequals = [\"192.0.2.1\"]",
    )
    .await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    let f = finding(&o, codes::DNS_RECORD_MISMATCH);
    assert!(f.text.starts_with("www.serial.test. A is 192.0.2.2; expected 192.0.2.1 (at 1 of 2 servers: ns2.serial.test. (127.53.4.1:"), "{}", f.text);
    finding(&o, codes::DNS_RECORD_INCONSISTENT);
}

#[tokio::test]
async fn record_checks_can_ask_a_resolver() {
    let w = world();
    let o = dns_check(
        &w,
        &format!(
            "record = \"www.mailshop.test\"\ntype = \"A\"\nequals = [\"{}\"]\nserver = \"resolver\"",
            dns::CLEAN_V4
        ),
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert_eq!(
        o.evidence.details["answers"][0]["server"],
        w.resolver().to_string()
    );
}

#[tokio::test]
async fn unreachable_root_hints_are_unknown_not_down() {
    let w = world();
    let dns = format!(
        "[dns]\nroot_hints = [\"127.53.6.1:{}\"]\nquery_timeout = \"300ms\"\n",
        w.port()
    );
    let check = check_with(&dns, "kind = \"delegation\"\nzone = \"shop.test\"");
    let o = run(&check, &ProbeContext::new()).await;
    assert_eq!(o.status, Status::Unknown, "{o:#?}");
    assert_eq!(codes_of(&o), vec![codes::DNS_ROOT_UNREACHABLE]);
    assert!(o.message.contains("connection refused"), "{}", o.message);
}

/// A delegation check whose only root hint is a hostile server.
async fn against_hostile_root(behaviour: DnsBehaviour) -> Outcome {
    let server = HostileDns::start(behaviour).unwrap();
    let dns = format!(
        "[dns]\nroot_hints = [\"{}\"]\nquery_timeout = \"300ms\"\n",
        server.addr()
    );
    let check = check_with(&dns, "kind = \"delegation\"\nzone = \"shop.test\"");
    run(&check, &ProbeContext::new()).await
}

#[tokio::test]
async fn hostile_name_servers_give_clear_unknowns() {
    for (behaviour, expect) in [
        (DnsBehaviour::Silent, "no answer within 300 ms"),
        (
            DnsBehaviour::WrongId,
            "does not match the query: an answer with another ID",
        ),
        (DnsBehaviour::CompressionLoop, "malformed response"),
        (DnsBehaviour::Garbage, "malformed response"),
        (DnsBehaviour::Truncated, "truncated over UDP"),
    ] {
        let o = against_hostile_root(behaviour).await;
        assert_eq!(o.status, Status::Unknown, "{behaviour:?}: {o:#?}");
        assert_eq!(
            codes_of(&o),
            vec![codes::DNS_ROOT_UNREACHABLE],
            "{behaviour:?}"
        );
        assert!(o.message.contains(expect), "{behaviour:?}: {}", o.message);
    }
    // 64 kB of TXT for an NS question, authoritatively: the root says the
    // name exists without a delegation.
    let o = against_hostile_root(DnsBehaviour::HugeTxt).await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    assert_eq!(codes_of(&o), vec![codes::DNS_DELEGATION_NOT_FOUND]);
    assert_eq!(
        o.message,
        "shop.test. is not delegated: it is a name inside the root, which has no NS records for it"
    );
}

#[tokio::test]
async fn a_huge_txt_answer_is_read_within_bounds() {
    let server = HostileDns::start(DnsBehaviour::HugeTxt).unwrap();
    let dns = format!(
        "[dns]\nresolver = [\"{}\"]\nquery_timeout = \"1s\"\n",
        server.addr()
    );
    let check = check_with(
        &dns,
        "kind = \"dns\"\nrecord = \"shop.test\"\ntype = \"TXT\"\nequals = [\"v=spf1 -all\"]\nserver = \"resolver\"",
    );
    let o = run(&check, &ProbeContext::new()).await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    let f = finding(&o, codes::DNS_RECORD_MISMATCH);
    assert!(
        f.text.len() < 600,
        "the finding is bounded: {} bytes",
        f.text.len()
    );
    assert!(f.text.contains("xxxx…"), "{}", f.text);
    let step = &o.evidence.details["steps"][0];
    assert_eq!(step["via"], "tcp");
    assert_eq!(step["truncated_over_udp"], true);
}

/// `[dns] resolve_hosts = "resolver"`: a check's host name is asked of the
/// configured resolver (here the server of `loopshop.test`), which the
/// system's resolver knows nothing of; a name the resolver does not have
/// is a resolution failure that says so.
#[tokio::test]
async fn check_hosts_resolve_through_the_configured_resolver() {
    let world = world();
    let listener = std::net::TcpListener::bind((dns::LOOPSHOP_WEB, 0))
        .expect("listen on the loopshop.test web address");
    let port = listener.local_addr().expect("address").port();
    let section = format!(
        "[dns]\nresolver = [\"{}:{}\"]\nresolve_hosts = \"resolver\"\nipv6 = false\nquery_timeout = \"1s\"\n",
        dns::SHOPS_ADDRS[0],
        world.port()
    );
    let src = format!(
        "{section}\n[[site]]\nid = \"t\"\n[[site.check]]\nid = \"web\"\nkind = \"tcp\"\nhost = \"www.{}\"\nport = {port}\ntimeout = \"10s\"\n[[site.check]]\nid = \"gone\"\nkind = \"tcp\"\nhost = \"nothing.{}\"\nport = {port}\ntimeout = \"10s\"\n",
        dns::ZONE_LOOPSHOP,
        dns::ZONE_LOOPSHOP
    );
    let config =
        load_str(&src, std::path::Path::new("test.toml")).unwrap_or_else(|p| panic!("{p}"));
    let web = &config.sites[0].checks[0];
    let gone = &config.sites[0].checks[1];

    let system = ProbeContext::new();
    assert_eq!(
        run(web, &system).await.status,
        Status::Down,
        "the system does not know the name"
    );

    let ctx = ProbeContext::new();
    ctx.resolve_hosts_as(&config.dns);
    let up = run(web, &ctx).await;
    assert_eq!(up.status, Status::Up, "{up:#?}");
    let down = run(gone, &ctx).await;
    assert_eq!(down.status, Status::Down, "{down:#?}");
    let failed = finding(&down, codes::DNS_RESOLUTION_FAILED);
    assert!(
        failed
            .text
            .contains(&format!("nothing.{} does not resolve", dns::ZONE_LOOPSHOP))
            && failed
                .text
                .contains("no A or AAAA records at the configured resolvers"),
        "{}",
        failed.text
    );
}
