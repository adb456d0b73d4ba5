//! `kind = "domain"` and `[domain]`: a good configuration loads with its
//! defaults and the global settings copied into each check; every mistake
//! is reported at its line and column with the key and a useful message.

mod support;

use keepup_config::{CheckSpec, DomainSpec, IANA_DNS_BOOTSTRAP, ProbeSpec, Problems, load_str};
use std::path::Path;
use std::time::Duration;
use support::problems;

/// The 1-based line and column of the first occurrence of `needle`.
fn position(src: &str, needle: &str) -> (usize, usize) {
    for (i, line) in src.lines().enumerate() {
        if let Some(col) = line.find(needle) {
            return (i + 1, col + 1);
        }
    }
    panic!("{needle:?} not in the source")
}

/// The rendering of the problem at `needle`'s line, which must also start
/// at its column.
fn at(p: &Problems, src: &str, needle: &str) -> String {
    let (line, col) = position(src, needle);
    let found =
        p.0.iter()
            .find(|x| x.line == line)
            .unwrap_or_else(|| panic!("no problem on line {line} ({needle:?}); got:\n{p}"));
    assert_eq!(found.col, col, "column of {needle:?}: {found}");
    found.to_string()
}

fn domain_specs(src: &str) -> Vec<DomainSpec> {
    let config = load_str(src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    config
        .checks()
        .filter_map(|c| match &c.spec {
            CheckSpec::Probe(ProbeSpec::Domain(d)) => Some(DomainSpec::clone(d)),
            _ => None,
        })
        .collect()
}

#[test]
fn defaults_apply_without_a_domain_section() {
    let specs = domain_specs(
        r#"
[[site]]
id = "shop"
[[site.check]]
id = "registration"
kind = "domain"
domain = "Shop.Example."
interval = "6h"
"#,
    );
    let d = &specs[0];
    assert_eq!(d.domain, "shop.example");
    assert_eq!((d.warn_days, d.critical_days), (30, 7));
    assert_eq!(d.rdap_url, None);
    assert_eq!(d.whois_server, None);
    assert_eq!(d.cache, Duration::from_secs(12 * 3600));
    assert_eq!(d.settings.bootstrap_url.to_string(), IANA_DNS_BOOTSTRAP);
    assert!(d.settings.refresh);
    assert_eq!(d.settings.refresh_interval, Duration::from_secs(86_400));
    assert_eq!(d.settings.query_spacing, Duration::from_secs(1));
}

#[test]
fn every_key_is_read() {
    let specs = domain_specs(
        r#"
[domain]
bootstrap_url = "http://127.0.0.1:8080/rdap/dns.json"
refresh = false
refresh_interval = "2d"
cache = "6h"
query_spacing = "0s"

[[site]]
id = "shop"
[[site.check]]
id = "com"
kind = "domain"
domain = "shop.example"
warn_days = 45
critical_days = 14
rdap_url = "https://rdap.registry.example/v1"
whois_server = "whois.registry.example"

[[site.check]]
id = "de"
kind = "domain"
domain = "shop.de"
whois_server = "127.0.0.1:4343"
cache = "1h"

[[site.check]]
id = "v6"
kind = "domain"
domain = "shop.jp"
whois_server = "[::1]:4343"
warn_days = 0
critical_days = 0
"#,
    );
    let [com, de, v6] = specs.as_slice() else {
        panic!("{specs:?}")
    };
    assert_eq!((com.warn_days, com.critical_days), (45, 14));
    assert_eq!(
        com.rdap_url.as_ref().map(ToString::to_string).as_deref(),
        Some("https://rdap.registry.example/v1/"),
        "the base URL ends with a slash"
    );
    let w = com.whois_server.as_ref().unwrap();
    assert_eq!((w.host.as_str(), w.port), ("whois.registry.example", 43));
    assert_eq!(com.cache, Duration::from_secs(6 * 3600), "[domain] cache");
    assert_eq!(de.cache, Duration::from_secs(3600), "the check's own cache");
    let w = de.whois_server.as_ref().unwrap();
    assert_eq!((w.host.as_str(), w.port), ("127.0.0.1", 4343));
    let w = v6.whois_server.as_ref().unwrap();
    assert_eq!((w.host.as_str(), w.port), ("::1", 4343));
    assert_eq!((v6.warn_days, v6.critical_days), (0, 0));
    for d in &specs {
        assert_eq!(
            d.settings.bootstrap_url.to_string(),
            "http://127.0.0.1:8080/rdap/dns.json"
        );
        assert!(!d.settings.refresh);
        assert_eq!(d.settings.refresh_interval, Duration::from_secs(2 * 86_400));
        assert_eq!(d.settings.query_spacing, Duration::ZERO);
    }
}

#[test]
fn bad_domains_are_located() {
    let src = r#"
[[site]]
id = "shop"
[[site.check]]
id = "a"
kind = "domain"
domain = "localhost"
[[site.check]]
id = "b"
kind = "domain"
domain = "bücher.example"
[[site.check]]
id = "c"
kind = "domain"
domain = "192.0.2.1"
[[site.check]]
id = "d"
kind = "domain"
domain = "-bad-.example"
[[site.check]]
id = "e"
kind = "domain"
domain = ""
"#;
    let p = problems(src);
    let a = at(&p, src, r#""localhost""#);
    assert!(a.contains("site[0].check[0].domain"), "{a}");
    assert!(a.contains("top-level domain"), "{a}");
    assert!(at(&p, src, r#""bücher.example""#).contains("xn--"));
    assert!(at(&p, src, r#""192.0.2.1""#).contains("IP address"));
    assert!(at(&p, src, r#""-bad-.example""#).contains("not a valid domain name"));
    assert!(at(&p, src, r#""""#).contains("empty"));
    assert_eq!(p.0.len(), 5, "{p}");
}

#[test]
fn a_missing_domain_is_reported() {
    let src = r#"
[[site]]
id = "shop"
[[site.check]]
id = "a"
kind = "domain"
warn_days = 30
"#;
    let p = problems(src);
    assert!(p.to_string().contains("missing key `domain`"), "{p}");
}

#[test]
fn bad_thresholds_are_located() {
    let src = r#"
[[site]]
id = "shop"
[[site.check]]
id = "a"
kind = "domain"
domain = "shop.example"
warn_days = -1
[[site.check]]
id = "b"
kind = "domain"
domain = "shop.example"
critical_days = 4000
[[site.check]]
id = "c"
kind = "domain"
domain = "shop.example"
warn_days = 10
critical_days = 20
[[site.check]]
id = "d"
kind = "domain"
domain = "shop.example"
warn_days = "30"
"#;
    let p = problems(src);
    assert!(at(&p, src, "-1").contains("out of range"));
    assert!(at(&p, src, "4000").contains("out of range"));
    let c = at(&p, src, "20");
    assert!(c.contains("larger than warn_days"), "{c}");
    assert!(c.contains("site[0].check[2].critical_days"), "{c}");
    let d = at(&p, src, r#""30""#);
    assert!(d.contains("warn_days"), "{d}");
    assert_eq!(p.0.len(), 4, "{p}");
}

#[test]
fn bad_overrides_are_located() {
    let src = r#"
[[site]]
id = "shop"
[[site.check]]
id = "a"
kind = "domain"
domain = "shop.example"
rdap_url = "ftp://rdap.example/"
[[site.check]]
id = "b"
kind = "domain"
domain = "shop.example"
rdap_url = "not a url"
[[site.check]]
id = "c"
kind = "domain"
domain = "shop.example"
whois_server = "whois.example:0"
[[site.check]]
id = "d"
kind = "domain"
domain = "shop.example"
whois_server = "who is"
[[site.check]]
id = "e"
kind = "domain"
domain = "shop.example"
cache = "0s"
[[site.check]]
id = "f"
kind = "domain"
domain = "shop.example"
whois = "whois.example"
"#;
    let p = problems(src);
    assert!(at(&p, src, r#""ftp://"#).contains("not an http:// or https:// URL"));
    assert!(at(&p, src, r#""not a url""#).contains("rdap_url"));
    assert!(at(&p, src, r#""whois.example:0""#).contains("not a WHOIS server"));
    assert!(at(&p, src, r#""who is""#).contains("not a WHOIS server"));
    assert!(at(&p, src, r#""0s""#).contains("longer than zero"));
    let f = at(&p, src, "whois =");
    assert!(f.contains("unknown key `whois`"), "{f}");
    assert!(
        f.contains("whois_server"),
        "the hint names the close key: {f}"
    );
    assert_eq!(p.0.len(), 6, "{p}");
}

#[test]
fn bad_domain_section_is_located() {
    let src = r#"
[domain]
bootstrap_url = "data.iana.org/rdap/dns.json"
cache = "0s"
refresh_interval = "soon"
refresh = "yes"
spacing = "1s"

[[site]]
id = "shop"
[[site.check]]
id = "a"
kind = "domain"
domain = "shop.example"
"#;
    let p = problems(src);
    assert!(at(&p, src, r#""data.iana.org"#).contains("domain.bootstrap_url"));
    assert!(at(&p, src, r#""0s""#).contains("domain.cache"));
    assert!(at(&p, src, r#""soon""#).contains("invalid duration"));
    assert!(at(&p, src, r#""yes""#).contains("domain.refresh"));
    let s = at(&p, src, "spacing =");
    assert!(s.contains("unknown key `spacing`"), "{s}");
    assert!(s.contains("query_spacing"), "{s}");
    assert_eq!(p.0.len(), 5, "{p}");
}

#[test]
fn unknown_kinds_suggest_domain() {
    let src = r#"
[[site]]
id = "shop"
[[site.check]]
id = "a"
kind = "domian"
domain = "shop.example"
"#;
    let p = problems(src);
    assert!(at(&p, src, r#""domian""#).contains(r#"did you mean "domain""#));
}
