//! The `ping`, `page`, `security_txt` and `chain` kinds: a good
//! configuration with its defaults applied, and each mistake reported at
//! its file:line:col.

mod support;

use keepup_config::{AddressFamily, CheckSpec, Config, ProbeSpec, Problems, load_str};
use std::path::Path;
use std::time::Duration;
use support::{line_of, problems};

fn load(src: &str) -> Config {
    load_str(src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"))
}

/// The rendering of the problem on the line of `marker`.
fn at(p: &Problems, src: &str, marker: &str) -> String {
    let line = line_of(src, marker);
    p.0.iter()
        .find(|x| x.line == line)
        .map(|x| x.to_string())
        .unwrap_or_else(|| panic!("no problem on line {line} ({marker}); got:\n{p}"))
}

const GOOD: &str = r#"
[defaults]
user_agent = "keepup-test"
max_body_bytes = 200000

[[site]]
id = "shop"

[[site.check]]
id = "ping"
kind = "ping"
host = "shop.example"

[[site.check]]
id = "ping6"
kind = "ping"
host = "::1"
family = "ipv6"
count = 10
ping_interval = "50ms"
reply_timeout = "500ms"
degraded_loss = 10
down_loss = 50.5
degraded_rtt = "100ms"
down_rtt = "300ms"

[[site.check]]
id = "privacy"
kind = "page"
url = "https://shop.example/datenschutz"
phrases = ["Datenschutzerklärung", """  Verantwortliche
  Stelle """]
ignore = ['Besucher: \d+']
change_hold = "6h"
headers = { "Accept-Language" = "de" }

[[site.check]]
id = "imprint"
kind = "page"
url = "https://shop.example/impressum"
soft_404 = false
detect_changes = false

[[site.check]]
id = "security"
kind = "security_txt"
domain = "shop.example"

[[site.check]]
id = "security-url"
kind = "security_txt"
url = "https://shop.example/"
warn_days = 14

[[site.check]]
id = "security-file"
kind = "security_txt"
url = "https://cdn.shop.example/files/security.txt"

[[site.check]]
id = "gateway"
kind = "chain"
url = "https://api.payments.example/v1/health"
expect_status = [200, 401]
status_page = "https://status.payments.example"
components = ["API", "Checkout"]

[[site.check]]
id = "partner"
kind = "chain"
url = "http://partner.example/ping"
status_page = "https://partner.statuspage.example/api/v2/summary.json"
"#;

#[test]
fn a_good_configuration_loads_with_defaults_applied() {
    let c = load(GOOD);
    let spec = |id: &str| &c.find_check(id).unwrap().spec;

    let CheckSpec::Probe(ProbeSpec::Ping(p)) = spec("ping") else {
        panic!()
    };
    assert_eq!(p.host, "shop.example");
    assert_eq!(p.family, AddressFamily::Any);
    assert_eq!((p.count, p.spacing), (5, Duration::from_millis(200)));
    assert_eq!(p.reply_timeout, Duration::from_secs(1));
    assert_eq!((p.degraded_loss, p.down_loss), (20.0, 100.0));
    assert_eq!((p.degraded_rtt, p.down_rtt), (None, None));
    let CheckSpec::Probe(ProbeSpec::Ping(p)) = spec("ping6") else {
        panic!()
    };
    assert_eq!(
        (p.host.as_str(), p.family, p.count),
        ("::1", AddressFamily::Ipv6, 10)
    );
    assert_eq!(p.spacing, Duration::from_millis(50));
    assert_eq!((p.degraded_loss, p.down_loss), (10.0, 50.5));
    assert_eq!(p.down_rtt, Some(Duration::from_millis(300)));

    let CheckSpec::Probe(ProbeSpec::Page(p)) = spec("privacy") else {
        panic!()
    };
    assert_eq!(p.http.url.to_string(), "https://shop.example/datenschutz");
    assert_eq!(
        p.phrases,
        vec!["Datenschutzerklärung", "Verantwortliche Stelle"]
    );
    assert!(p.soft_404 && p.detect_changes);
    assert_eq!(p.change_hold, Duration::from_secs(6 * 3600));
    assert_eq!(p.ignore[0].as_str(), r"Besucher: \d+");
    assert_eq!(p.http.headers.len(), 1);
    assert_eq!(p.http.user_agent, "keepup-test");
    assert_eq!(p.http.max_body_bytes, 200_000);
    let CheckSpec::Probe(ProbeSpec::Page(p)) = spec("imprint") else {
        panic!()
    };
    assert!(!p.soft_404 && !p.detect_changes);
    assert_eq!(p.change_hold, Duration::from_secs(86_400));

    let CheckSpec::Probe(ProbeSpec::SecurityTxt(s)) = spec("security") else {
        panic!()
    };
    assert_eq!(
        s.http.url.to_string(),
        "https://shop.example/.well-known/security.txt"
    );
    assert!(s.derived);
    assert_eq!(s.warn_days, 30);
    assert_eq!(s.http.max_body_bytes, 64 * 1024);
    assert_eq!(s.http.user_agent, "keepup-test");
    let CheckSpec::Probe(ProbeSpec::SecurityTxt(s)) = spec("security-url") else {
        panic!()
    };
    assert_eq!(
        s.http.url.to_string(),
        "https://shop.example/.well-known/security.txt"
    );
    assert_eq!(s.warn_days, 14);
    let CheckSpec::Probe(ProbeSpec::SecurityTxt(s)) = spec("security-file") else {
        panic!()
    };
    assert_eq!(
        s.http.url.to_string(),
        "https://cdn.shop.example/files/security.txt"
    );
    assert!(!s.derived);

    let CheckSpec::Probe(ProbeSpec::Chain(ch)) = spec("gateway") else {
        panic!()
    };
    assert_eq!(ch.http.expect_status.len(), 2);
    let page = ch.status_page.as_ref().unwrap();
    assert_eq!(
        page.http.url.to_string(),
        "https://status.payments.example/api/v2/summary.json"
    );
    assert_eq!(page.components, vec!["API", "Checkout"]);
    assert_eq!(page.http.max_body_bytes, 200_000);
    let CheckSpec::Probe(ProbeSpec::Chain(ch)) = spec("partner") else {
        panic!()
    };
    let page = ch.status_page.as_ref().unwrap();
    assert_eq!(
        page.http.url.to_string(),
        "https://partner.statuspage.example/api/v2/summary.json"
    );
    assert!(page.components.is_empty());

    for (id, kind) in [
        ("ping", "ping"),
        ("privacy", "page"),
        ("security", "security_txt"),
        ("gateway", "chain"),
    ] {
        assert_eq!(spec(id).kind(), kind);
    }
}

#[test]
fn ping_mistakes_are_located() {
    let src = r#"
[[site]]
id = "shop"

[[site.check]]
id = "a"
kind = "ping"
host = "not a host!"
family = "ipx"
count = 0
ping_interval = "1ms"
degraded_loss = 0
down_loss = 150
degraded_rtt = "2s"
down_rtt = "1s"
reply_timout = "1s"
"#;
    let p = problems(src);
    assert!(
        at(&p, src, "not a host").contains("neither a host name nor an IP"),
        "{p}"
    );
    assert!(at(&p, src, "ipx").contains("unknown address family"), "{p}");
    assert!(at(&p, src, "count = 0").contains("invalid count 0"), "{p}");
    assert!(at(&p, src, "1ms").contains("between 10ms and 10s"), "{p}");
    assert!(
        at(&p, src, "degraded_loss = 0").contains("invalid loss 0"),
        "{p}"
    );
    assert!(
        at(&p, src, "down_loss = 150").contains("invalid loss 150"),
        "{p}"
    );
    assert!(
        at(&p, src, "degraded_rtt").contains("above down_rtt"),
        "{p}"
    );
    let unknown = at(&p, src, "reply_timout");
    assert!(unknown.contains("unknown key `reply_timout`"), "{unknown}");
    assert!(unknown.contains("reply_timeout"), "{unknown}");
    assert!(
        unknown.starts_with(&format!(
            "keepup.toml:{}:1: site[0].check[0].reply_timout",
            line_of(src, "reply_timout")
        )),
        "{unknown}"
    );

    let order = r#"
[[site]]
id = "shop"

[[site.check]]
id = "a"
kind = "ping"
host = "shop.example"
degraded_loss = 80
down_loss = 50
"#;
    let p = problems(order);
    assert!(
        at(&p, order, "degraded_loss = 80").contains("is above down_loss"),
        "{p}"
    );

    let slow = r#"
[[site]]
id = "shop"

[[site.check]]
id = "a"
kind = "ping"
host = "shop.example"
timeout = "2s"
count = 10
ping_interval = "500ms"
"#;
    let p = problems(slow);
    let s = at(&p, slow, "ping_interval");
    assert!(s.contains("longer than the timeout"), "{s}");
    assert!(
        s.contains("hint: lower count, ping_interval or reply_timeout"),
        "{s}"
    );
}

#[test]
fn page_mistakes_are_located() {
    let src = r#"
[[site]]
id = "shop"

[[site.check]]
id = "a"
kind = "page"
url = "ftp://shop.example/privacy"
phrases = ["ok", "   "]
ignore = ['(unclosed']
detect_changes = "yes"
phrase = ["typo"]

[[site.check]]
id = "b"
kind = "page"
phrases = ["no url"]
"#;
    let p = problems(src);
    assert!(
        at(&p, src, "ftp://").contains("not an absolute http:// or https:// URL"),
        "{p}"
    );
    assert!(
        at(&p, src, "\"   \"").contains("a phrase must not be empty"),
        "{p}"
    );
    assert!(at(&p, src, "(unclosed").contains("invalid regex"), "{p}");
    assert!(at(&p, src, "\"yes\"").contains("detect_changes"), "{p}");
    let typo = at(&p, src, "phrase = [");
    assert!(
        typo.contains("unknown key `phrase`") && typo.contains("phrases"),
        "{typo}"
    );
    assert!(
        p.0.iter()
            .any(|x| x.key == "site[0].check[1].url" && x.message == "missing key `url`"),
        "{p}"
    );
}

#[test]
fn security_txt_mistakes_are_located() {
    let src = r#"
[[site]]
id = "shop"

[[site.check]]
id = "a"
kind = "security_txt"
domain = "shop example"

[[site.check]]
id = "b"
kind = "security_txt"
url = "https://shop.example/"
domain = "shop.example"

[[site.check]]
id = "c"
kind = "security_txt"
url = "mailto:security@shop.example"

[[site.check]]
id = "d"
kind = "security_txt"
domain = "shop.example"
warn_days = -1

[[site.check]]
id = "e"
kind = "security_txt"
warn_days = 10
"#;
    let p = problems(src);
    assert!(
        at(&p, src, "shop example").contains("is not a domain name"),
        "{p}"
    );
    assert!(
        at(&p, src, "url = \"https://shop.example/\"").contains("either `url` or `domain`"),
        "{p}"
    );
    assert!(
        at(&p, src, "mailto:").contains("not an absolute http"),
        "{p}"
    );
    assert!(
        at(&p, src, "warn_days = -1").contains("invalid number of days"),
        "{p}"
    );
    assert!(
        p.0.iter().any(|x| x.key == "site[0].check[4]"
            && x.message == "missing key `url` or `domain`"
            && x.line == line_of(src, "id = \"e\"") - 1),
        "{p}"
    );
}

#[test]
fn chain_mistakes_are_located() {
    let src = r#"
[[site]]
id = "shop"

[[site.check]]
id = "a"
kind = "chain"
url = "https://api.example/"
components = ["API"]

[[site.check]]
id = "b"
kind = "chain"
url = "https://api.example/"
status_page = "status.example"
components = ["API", ""]

[[site.check]]
id = "c"
kind = "chain"
url = "https://api.example/"
status_pages = "https://status.example"
"#;
    let p = problems(src);
    assert!(
        at(&p, src, "components = [\"API\"]").contains("there is no `status_page`"),
        "{p}"
    );
    assert!(
        at(&p, src, "status.example\"").contains("not an absolute http"),
        "{p}"
    );
    assert!(
        at(&p, src, "\"API\", \"\"").contains("component name must not be empty"),
        "{p}"
    );
    let typo = at(&p, src, "status_pages");
    assert!(typo.contains("unknown key `status_pages`"), "{typo}");
    assert!(typo.contains("status_page"), "{typo}");
}

#[test]
fn unknown_kinds_suggest_the_new_ones() {
    let src = r#"
[[site]]
id = "shop"

[[site.check]]
id = "a"
kind = "pnig"
host = "x"
"#;
    let p = problems(src);
    let s = at(&p, src, "pnig");
    assert!(s.contains("did you mean \"ping\""), "{s}");
    assert!(s.contains("security_txt") && s.contains("chain"), "{s}");
}
