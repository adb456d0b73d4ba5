//! Implicit dependencies: a site's zone checks are parents of its checks of
//! names in the zone, a host's ping of its services, a `tls` check of the
//! checks that handshake with its host and port; explicit choices win, and
//! no cycle is ever made.

use keepup_config::{Config, load_str};
use std::path::Path;

fn load(src: &str) -> Config {
    load_str(src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"))
}

fn deps(c: &Config, id: &str) -> Vec<String> {
    let mut d: Vec<String> = c
        .find_check(id)
        .unwrap_or_else(|| panic!("no check {id}"))
        .depends_on
        .iter()
        .map(|d| d.to_string())
        .collect();
    d.sort();
    d
}

const SHOP: &str = r#"
[domain]
refresh = false

[[site]]
id = "shop"
[[site.check]]
id = "registration"
kind = "domain"
domain = "Shop.Example"
[[site.check]]
id = "home"
kind = "http"
url = "https://www.shop.example/"
[[site.check]]
id = "cert"
kind = "tls"
host = "SHOP.example"
[[site.check]]
id = "partner"
kind = "http"
url = "https://pay.partner.example/"
[[site.check]]
id = "lookalike"
kind = "tcp"
host = "myshop.example"
port = 443

[[site]]
id = "other"
[[site.check]]
id = "home"
kind = "http"
url = "https://shop.example/"
"#;

#[test]
fn a_domain_check_is_the_parent_of_the_site_checks_in_its_zone() {
    let c = load(SHOP);
    assert_eq!(deps(&c, "shop/home"), ["shop/registration"]);
    assert_eq!(deps(&c, "shop/cert"), ["shop/registration"]);
    assert!(deps(&c, "shop/partner").is_empty(), "another zone");
    assert!(deps(&c, "shop/lookalike").is_empty(), "not a subdomain");
    assert!(deps(&c, "shop/registration").is_empty());
    assert!(
        deps(&c, "other/home").is_empty(),
        "only within the zone check's own site"
    );
}

#[test]
fn an_explicit_dependency_the_other_way_wins_and_makes_no_cycle() {
    let src = SHOP.replace(
        "domain = \"Shop.Example\"",
        "domain = \"shop.example\"\ndepends_on = [\"home\"]",
    );
    let c = load(&src);
    assert_eq!(deps(&c, "shop/registration"), ["shop/home"]);
    assert!(
        deps(&c, "shop/home").is_empty(),
        "the implicit edge would close a cycle"
    );
    assert_eq!(deps(&c, "shop/cert"), ["shop/registration"]);
}

#[test]
fn an_explicit_dependency_is_not_repeated() {
    let src = SHOP.replace(
        "url = \"https://www.shop.example/\"",
        "url = \"https://www.shop.example/\"\ndepends_on = [\"registration\"]",
    );
    assert_eq!(deps(&load(&src), "shop/home"), ["shop/registration"]);
}

#[test]
fn a_delegation_check_is_a_parent_too() {
    let src = format!(
        "{SHOP}\n[[site.check]]\nid = \"delegation\"\nkind = \"delegation\"\nzone = \"shop.example\"\n"
    )
    .replace("[[site]]\nid = \"other\"\n[[site.check]]\nid = \"home\"\nkind = \"http\"\nurl = \"https://shop.example/\"\n", "");
    let c = load(&src);
    assert_eq!(
        deps(&c, "shop/home"),
        ["shop/delegation", "shop/registration"]
    );
    assert!(
        deps(&c, "shop/delegation").is_empty(),
        "zone checks have no implicit parents"
    );
}

#[test]
fn a_ping_is_the_parent_of_the_checks_of_its_host() {
    let c = load(
        r#"
[[site]]
id = "shop"
[[site.check]]
id = "ping"
kind = "ping"
host = "web1.shop.example"
[[site.check]]
id = "web"
kind = "http"
url = "https://WEB1.shop.example/"
[[site.check]]
id = "ssh"
kind = "tcp"
host = "web1.shop.example"
port = 22
[[site.check]]
id = "db"
kind = "tcp"
host = "db1.shop.example"
port = 5432
"#,
    );
    assert_eq!(deps(&c, "shop/web"), ["shop/ping"]);
    assert_eq!(deps(&c, "shop/ssh"), ["shop/ping"]);
    assert!(deps(&c, "shop/db").is_empty(), "another host");
    assert!(deps(&c, "shop/ping").is_empty());
}

/// A host with a ping, a certificate check on 443 and one on 993, and the
/// checks that do (or do not) make a TLS handshake with them.
const TLS_HOST: &str = r#"
[domain]
refresh = false

[[site]]
id = "shop"
[[site.check]]
id = "registration"
kind = "domain"
domain = "shop.example"
[[site.check]]
id = "ping"
kind = "ping"
host = "web1.shop.example"
[[site.check]]
id = "home"
kind = "http"
url = "https://WEB1.shop.example/"
[[site.check]]
id = "cert"
kind = "tls"
host = "Web1.Shop.Example"
[[site.check]]
id = "explicit-port"
kind = "http"
url = "https://web1.shop.example:443/cart"
[[site.check]]
id = "privacy"
kind = "page"
url = "https://web1.shop.example/privacy"
[[site.check]]
id = "security-txt"
kind = "security_txt"
url = "https://web1.shop.example/.well-known/security.txt"
[[site.check]]
id = "payments"
kind = "chain"
url = "https://web1.shop.example/api/health"
[[site.check]]
id = "plain"
kind = "http"
url = "http://web1.shop.example/"
[[site.check]]
id = "admin"
kind = "http"
url = "https://web1.shop.example:8443/"
[[site.check]]
id = "port443"
kind = "tcp"
host = "web1.shop.example"
port = 443
[[site.check]]
id = "imaps"
kind = "imap"
host = "web1.shop.example"
port = 993
[[site.check]]
id = "cert-993"
kind = "tls"
host = "web1.shop.example"
port = 993
[[site.check]]
id = "submission"
kind = "smtp"
host = "web1.shop.example"
port = 587
tls = "starttls"
"#;

#[test]
fn a_tls_check_is_the_parent_of_the_checks_that_handshake_with_its_host_and_port() {
    let c = load(TLS_HOST);
    for https in [
        "home",
        "explicit-port",
        "privacy",
        "security-txt",
        "payments",
    ] {
        assert_eq!(deps(&c, &format!("shop/{https}")), ["shop/cert"], "{https}");
    }
    assert_eq!(
        deps(&c, "shop/imaps"),
        ["shop/cert-993"],
        "implicit TLS on 993"
    );
    // The chain goes on above the certificate: zone, ping, tls.
    assert_eq!(deps(&c, "shop/cert"), ["shop/ping", "shop/registration"]);
    assert_eq!(
        deps(&c, "shop/cert-993"),
        ["shop/ping", "shop/registration"]
    );
    assert!(deps(&c, "shop/ping").is_empty());
    // No handshake on 443: the host's ping and the zone only.
    for other in ["plain", "admin", "port443", "submission"] {
        assert_eq!(
            deps(&c, &format!("shop/{other}")),
            ["shop/ping", "shop/registration"],
            "{other}"
        );
    }
}

#[test]
fn starttls_mail_on_the_port_of_a_tls_check_is_its_child() {
    let src = format!(
        "{TLS_HOST}[[site.check]]\nid = \"cert-587\"\nkind = \"tls\"\nhost = \"web1.shop.example\"\nport = 587\n"
    );
    let c = load(&src);
    assert_eq!(deps(&c, "shop/submission"), ["shop/cert-587"]);
    let plain = src.replace("tls = \"starttls\"", "tls = \"none\"");
    assert_eq!(
        deps(&load(&plain), "shop/submission"),
        ["shop/ping", "shop/registration"],
        "no TLS, no certificate parent"
    );
}

#[test]
fn a_name_and_an_address_are_different_hosts_and_addresses_compare_canonically() {
    let c = load(
        r#"
[[site]]
id = "shop"
[[site.check]]
id = "cert-v4"
kind = "tls"
host = "127.0.0.1"
port = 8443
[[site.check]]
id = "cert-v6"
kind = "tls"
host = "::0:1"
port = 8443
[[site.check]]
id = "by-address"
kind = "http"
url = "https://127.0.0.1:8443/"
[[site.check]]
id = "by-v6-address"
kind = "http"
url = "https://[::1]:8443/"
[[site.check]]
id = "by-name"
kind = "http"
url = "https://localhost:8443/"
"#,
    );
    assert_eq!(deps(&c, "shop/by-address"), ["shop/cert-v4"]);
    assert_eq!(deps(&c, "shop/by-v6-address"), ["shop/cert-v6"]);
    assert!(
        deps(&c, "shop/by-name").is_empty(),
        "localhost is not matched to the address it resolves to"
    );
}

#[test]
fn a_tls_check_is_never_its_own_or_another_tls_checks_parent() {
    let src = format!(
        "{TLS_HOST}[[site.check]]\nid = \"cert-again\"\nkind = \"tls\"\nhost = \"web1.shop.example\"\nport = 443\n"
    );
    let c = load(&src);
    assert_eq!(deps(&c, "shop/cert"), ["shop/ping", "shop/registration"]);
    assert_eq!(
        deps(&c, "shop/cert-again"),
        ["shop/ping", "shop/registration"]
    );
    assert_eq!(deps(&c, "shop/home"), ["shop/cert", "shop/cert-again"]);
}

#[test]
fn an_explicit_dependency_of_the_tls_check_on_an_https_check_wins() {
    let src = TLS_HOST.replace(
        "host = \"Web1.Shop.Example\"",
        "host = \"Web1.Shop.Example\"\ndepends_on = [\"home\"]",
    );
    let c = load(&src);
    assert_eq!(
        deps(&c, "shop/cert"),
        ["shop/home", "shop/ping", "shop/registration"]
    );
    assert_eq!(
        deps(&c, "shop/home"),
        ["shop/ping", "shop/registration"],
        "the certificate edge would close a cycle"
    );
    assert_eq!(deps(&c, "shop/privacy"), ["shop/cert"]);
}

#[test]
fn a_tls_check_of_another_site_is_no_parent() {
    let src = TLS_HOST.replace(
        "[[site.check]]\nid = \"cert\"\nkind = \"tls\"",
        "[[site]]\nid = \"other\"\n[[site.check]]\nid = \"cert\"\nkind = \"tls\"",
    );
    let c = load(&src);
    assert_eq!(deps(&c, "shop/home"), ["shop/ping", "shop/registration"]);
    assert_eq!(deps(&c, "other/cert"), Vec::<String>::new());
}
