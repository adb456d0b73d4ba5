//! The DNS kinds (`delegation`, `dns`, `dnsbl`) and the `[dns]` section:
//! a configuration that uses every key loads with the values normalised,
//! and every mistake is reported at its line with a hint.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use support::{at_line, problems};

use keepup_config::dns::{RecordExpect, RecordKind, RecordSource, RecordValue};
use keepup_config::{CheckSpec, HostResolution, ProbeSpec, load_str};

const GOOD: &str = r#"
[dns]
root_hints = ["127.0.0.1:5300", "::1", "[::1]:5301"]
port = 5300
resolver = ["127.0.0.53"]
query_timeout = "1500ms"
ipv6 = false
resolve_hosts = "resolver"

[[site]]
id = "shop"

[[site.check]]
id = "delegation"
kind = "delegation"
zone = "Shop.Example"
expect_mx = false
[[site.check.record]]
name = "www"
type = "a"
equals = ["192.0.2.10"]
[[site.check.record]]
name = "@"
type = "MX"
contains = ["10 mx1.shop.example", "mx2.shop.example."]
[[site.check.record]]
name = "old.shop.example."
type = "A"
nxdomain = true

[[site.check]]
id = "caa"
kind = "dns"
record = "shop.example"
type = "CAA"
contains = ['0 issue "letsencrypt.org"', "issuewild ;"]

[[site.check]]
id = "spf"
kind = "dns"
record = "shop.example"
type = "TXT"
equals = ["v=spf1 mx -all"]
resolver = ["192.0.2.53:53"]

[[site.check]]
id = "blacklists"
kind = "dnsbl"
domain = "Shop.Example."
zones = ["zen.spamhaus.org", { zone = "bl.example.net", ipv4 = true, ipv6 = true }]
exclude_zones = ["bl.spamcop.net"]
concurrency = 8

[[site.check]]
id = "blacklists-ips"
kind = "dnsbl"
ips = ["192.0.2.25", "2001:db8::25"]
"#;

#[test]
fn every_key_loads_normalised() {
    let c = load_str(GOOD, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    assert_eq!(
        c.dns.root_hints,
        Some(vec![
            addr("127.0.0.1:5300"),
            addr("[::1]:53"),
            addr("[::1]:5301")
        ])
    );
    assert_eq!(c.dns.port, 5300);
    assert_eq!(c.dns.resolver, Some(vec![addr("127.0.0.53:53")]));
    assert_eq!(c.dns.query_timeout, Duration::from_millis(1500));
    assert_eq!(c.dns.resolve_hosts, HostResolution::Resolver);
    assert!(!c.dns.ipv6);

    let CheckSpec::Probe(ProbeSpec::Delegation(d)) = &c.find_check("delegation").unwrap().spec
    else {
        panic!("delegation expected")
    };
    assert_eq!(d.zone, "shop.example.");
    assert!(!d.expect_mx);
    assert_eq!(d.dns, c.dns, "each check carries [dns]");
    assert_eq!(d.records.len(), 3);
    assert_eq!(d.records[0].name, "www.shop.example.");
    assert_eq!(d.records[0].kind, RecordKind::A);
    assert_eq!(
        d.records[0].expect,
        RecordExpect::Equals(vec![RecordValue::Address("192.0.2.10".parse().unwrap())])
    );
    assert_eq!(d.records[1].name, "shop.example.");
    assert_eq!(
        d.records[1].expect,
        RecordExpect::Contains(vec![
            RecordValue::Mx {
                preference: Some(10),
                exchange: "mx1.shop.example.".into()
            },
            RecordValue::Mx {
                preference: None,
                exchange: "mx2.shop.example.".into()
            },
        ])
    );
    assert_eq!(d.records[2].expect, RecordExpect::NxDomain);
    assert_eq!(d.records[2].name, "old.shop.example.");

    let CheckSpec::Probe(ProbeSpec::Dns(caa)) = &c.find_check("caa").unwrap().spec else {
        panic!()
    };
    assert_eq!(caa.source, RecordSource::Authoritative);
    assert_eq!(
        caa.expectation.expect,
        RecordExpect::Contains(vec![
            RecordValue::Caa {
                flags: 0,
                tag: "issue".into(),
                value: "letsencrypt.org".into()
            },
            RecordValue::Caa {
                flags: 0,
                tag: "issuewild".into(),
                value: ";".into()
            },
        ])
    );
    let CheckSpec::Probe(ProbeSpec::Dns(spf)) = &c.find_check("spf").unwrap().spec else {
        panic!()
    };
    assert_eq!(spf.source, RecordSource::Resolver, "a resolver implies it");
    assert_eq!(spf.dns.resolver, Some(vec![addr("192.0.2.53:53")]));
    assert_eq!(spf.dns.root_hints, c.dns.root_hints);

    let CheckSpec::Probe(ProbeSpec::Dnsbl(bl)) = &c.find_check("blacklists").unwrap().spec else {
        panic!()
    };
    assert_eq!(bl.domain.as_deref(), Some("shop.example"));
    assert!(bl.ips.is_empty());
    let zones = bl.zones.as_ref().unwrap();
    assert_eq!(zones[0].zone, "zen.spamhaus.org");
    assert!(zones[0].lists.is_none());
    let lists = zones[1].lists.unwrap();
    assert!(lists.ipv4 && lists.ipv6 && !lists.domain);
    assert_eq!(bl.exclude_zones, vec!["bl.spamcop.net".to_owned()]);
    assert_eq!(bl.concurrency, 8);
    let CheckSpec::Probe(ProbeSpec::Dnsbl(ips)) = &c.find_check("blacklists-ips").unwrap().spec
    else {
        panic!()
    };
    assert_eq!(ips.ips.len(), 2);
    assert!(ips.zones.is_none());
    assert_eq!(ips.concurrency, 32);
}

#[test]
fn without_a_dns_section_the_defaults_apply() {
    let c = load_str(
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"d\"\nkind = \"delegation\"\nzone = \"shop.example\"\n",
        Path::new("k.toml"),
    )
    .unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(c.dns.root_hints, None, "the bundled root servers");
    assert_eq!(c.dns.resolver, None, "/etc/resolv.conf");
    assert_eq!(c.dns.port, 53);
    assert_eq!(c.dns.query_timeout, Duration::from_secs(2));
    assert!(c.dns.ipv6);
    assert_eq!(c.dns.resolve_hosts, HostResolution::System);
    let CheckSpec::Probe(ProbeSpec::Delegation(d)) = &c.sites[0].checks[0].spec else {
        panic!()
    };
    assert!(d.expect_mx);
}

#[test]
fn dns_section_mistakes_are_located() {
    let src = r#"[dns]
root_hints = ["a.root-servers.net"]
port = 0
resolver = []
query_timeout = "0s"
ipv66 = true
resolve_hosts = "dns"
"#;
    let p = problems(src);
    let hints = at_line(&p, 2);
    assert!(
        hints.starts_with("keepup.toml:2:14: dns.root_hints: \"a.root-servers.net\" is not an address with an optional port"),
        "{hints}"
    );
    assert!(at_line(&p, 3).contains("invalid port 0"));
    assert!(at_line(&p, 4).contains("the list of resolvers is empty"));
    assert!(at_line(&p, 5).contains("must be longer than zero"));
    let unknown = at_line(&p, 6);
    assert!(
        unknown.contains("unknown key `ipv66`") && unknown.contains("did you mean `ipv6`"),
        "{unknown}"
    );
    let resolve = at_line(&p, 7);
    assert!(
        resolve.contains("dns.resolve_hosts: unknown way to resolve host names \"dns\"")
            && resolve.contains("\"system\" or \"resolver\""),
        "{resolve}"
    );
    assert_eq!(p.0.len(), 6, "{p}");
}

#[test]
fn delegation_mistakes_are_located() {
    let src = r#"[[site]]
id = "s"
[[site.check]]
id = "d"
kind = "delegation"
zone = "shop..example"
[[site.check]]
id = "r"
kind = "delegation"
zone = "."
[[site.check]]
id = "e"
kind = "delegation"
zone = "shop.example"
[[site.check.record]]
name = "www.other.example."
type = "A"
equals = ["192.0.2.1"]
[[site.check.record]]
name = "www"
type = "SRV"
equals = ["x"]
[[site.check.record]]
name = "www"
type = "AAAA"
equals = ["192.0.2.1"]
[[site.check.record]]
name = "www"
type = "A"
nxdomain = false
[[site.check.record]]
name = "www"
type = "A"
[[site.check.record]]
name = "bücher"
type = "A"
contains = []
"#;
    let p = problems(src);
    assert!(at_line(&p, 6).contains("site[0].check[0].zone: \"shop..example\" is not a DNS name"));
    assert!(at_line(&p, 10).contains("the root zone has no parent"));
    let outside = at_line(&p, 16);
    assert!(
        outside.contains("www.other.example. is not inside the zone shop.example."),
        "{outside}"
    );
    assert!(
        outside.contains("hint: record names are relative to the zone"),
        "{outside}"
    );
    assert!(at_line(&p, 21).contains("unsupported record type \"SRV\""));
    let aaaa = at_line(&p, 26);
    assert!(
        aaaa.contains(
            "record[2].equals: \"192.0.2.1\" is not a valid AAAA value: expected an IPv6 address"
        ),
        "{aaaa}"
    );
    assert!(at_line(&p, 30).contains("`nxdomain = false` expects nothing"));
    assert!(
        at_line(&p, 31).contains("a record expectation needs exactly one of"),
        "{p}"
    );
    let idn = at_line(&p, 35);
    assert!(idn.contains("xn--"), "{idn}");
}

#[test]
fn dns_check_mistakes_are_located() {
    let src = r#"[[site]]
id = "s"
[[site.check]]
id = "a"
kind = "dns"
record = "shop.example"
type = "MX"
equals = ["ten mx.shop.example"]
[[site.check]]
id = "b"
kind = "dns"
record = "shop.example"
type = "A"
nxdomain = true
server = "mine"
[[site.check]]
id = "c"
kind = "dns"
record = "shop.example"
type = "A"
nxdomain = true
server = "authoritative"
resolver = ["192.0.2.53"]
[[site.check]]
id = "d"
kind = "dns"
type = "A"
nxdomain = true
"#;
    let p = problems(src);
    assert!(at_line(&p, 8).contains("\"ten mx.shop.example\" is not a valid MX value"));
    let server = at_line(&p, 15);
    assert!(
        server.contains("unknown server choice \"mine\""),
        "{server}"
    );
    assert!(at_line(&p, 23).contains("`resolver` is only used with `server = \"resolver\"`"));
    assert!(
        p.to_string()
            .contains("site[0].check[3].record: missing key `record`"),
        "{p}"
    );
}

#[test]
fn dnsbl_mistakes_are_located() {
    let src = r#"[[site]]
id = "s"
[[site.check]]
id = "a"
kind = "dnsbl"
ips = ["192.0.2.300"]
zones = ["zen spamhaus", { zone = "bl.example.net" }]
exclude_zones = ["*bad*zone*"]
concurrency = 0
resolver = ["localhost"]
[[site.check]]
id = "b"
kind = "dnsbl"
zones = ["zen.spamhaus.org"]
"#;
    let p = problems(src);
    assert!(at_line(&p, 6).contains("\"192.0.2.300\" is not an IP address"));
    let zones: Vec<String> =
        p.0.iter()
            .filter(|x| x.line == 7)
            .map(|x| x.to_string())
            .collect();
    assert!(
        zones
            .iter()
            .any(|z| z.contains("\"zen spamhaus\" is not a DNS zone name")),
        "{zones:?}"
    );
    assert!(
        zones
            .iter()
            .any(|z| z.contains("zone \"bl.example.net\" lists nothing")),
        "{zones:?}"
    );
    assert!(at_line(&p, 9).contains("must be between 1 and 1024"));
    assert!(at_line(&p, 10).contains("\"localhost\" is not an address"));
    let missing = at_line(&p, 11);
    assert!(
        missing.contains("a dnsbl check needs `domain`"),
        "{missing}"
    );
    assert!(at_line(&p, 8).contains("\"*bad*zone*\" is not a DNS zone name"));
    assert_eq!(p.0.len(), 7, "{p}");
}

#[test]
fn unknown_kinds_suggest_the_dns_ones() {
    let p = problems("[[site]]\nid = \"s\"\n[[site.check]]\nid = \"a\"\nkind = \"dnsbI\"\n");
    let kind = at_line(&p, 5);
    assert!(kind.contains("did you mean \"dnsbl\""), "{kind}");
}
