//! Implicit dependencies: a site's zone checks are parents of its checks of
//! names in the zone (a host's ping of its services: see the ping kind's
//! tests), explicit choices win, and no cycle is ever made.

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
