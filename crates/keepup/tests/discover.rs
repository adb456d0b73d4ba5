//! `keepup discover` end to end: the real binary walks a real DNS
//! hierarchy (Knot DNS on loopback, from testkit) and connects to mail and
//! web ports that tests open on the loopback addresses the zone names;
//! what it writes must load and hold the checks the shop needs.

use keepup_config::{CheckSpec, Config, ProbeSpec};
use keepup_testkit::dns::{DnsWorld, LOOPSHOP_MX, LOOPSHOP_WEB, ZONE_LOOPSHOP, ZONE_SHOP};
use keepup_testkit::http::{TestServer, html, text};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::process::Command;

fn world() -> DnsWorld {
    DnsWorld::start().expect("Knot DNS (Debian package `knot`) must be installed and start")
}

fn discover(world: &DnsWorld, args: &[&str]) -> std::process::Output {
    let hint = world.root_hints()[0].to_string();
    let port = world.port().to_string();
    Command::new(env!("CARGO_BIN_EXE_keepup"))
        .arg("discover")
        .args(args)
        .args(["--root-hint", &hint, "--dns-port", &port])
        .output()
        .expect("run keepup")
}

fn kinds(c: &Config) -> Vec<(String, &'static str)> {
    c.checks()
        .map(|c| (c.short_id.clone(), c.spec.kind()))
        .collect()
}

#[test]
fn a_shop_with_mail_and_web_on_loopback_gets_every_check_it_needs() {
    let world = world();
    // The MX answers on 25 and 993; the web host on 80 with a privacy page.
    let _smtp = TcpListener::bind(SocketAddr::new(IpAddr::V4(LOOPSHOP_MX), 25)).unwrap();
    let _imaps = TcpListener::bind(SocketAddr::new(IpAddr::V4(LOOPSHOP_MX), 993)).unwrap();
    let _web = TestServer::builder()
        .bind(SocketAddr::new(IpAddr::V4(LOOPSHOP_WEB), 80))
        .start_background(|req| async move {
            match req.uri().path() {
                "/datenschutz" => html(200, "<h1>Datenschutzerklärung</h1>"),
                // A Magento 2 home page's telltales: its form_key cookie
                // and its x-magento-init scripts.
                "/" => {
                    let mut page = html(
                        200,
                        "<h1>Loop shop</h1><script type=\"text/x-magento-init\">{}</script>",
                    );
                    page.headers_mut().append(
                        "set-cookie",
                        http::HeaderValue::from_static("form_key=abc; path=/"),
                    );
                    page
                }
                _ => text(404, "not found"),
            }
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keepup.toml");
    let run = discover(&world, &[ZONE_LOOPSHOP, "-o", out.to_str().unwrap()]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let config = keepup_config::load(&out).unwrap_or_else(|p| panic!("{p}\n{text}"));
    let found = kinds(&config);
    for (id, kind) in [
        ("registration", "domain"),
        ("delegation", "delegation"),
        ("home", "http"),
        ("privacy", "page"),
        ("mx-smtp-25", "smtp"),
        ("mx-imap-993", "imap"),
        ("blacklists", "dnsbl"),
    ] {
        assert!(
            found.contains(&(id.to_owned(), kind)),
            "no {kind} check {id} in {found:?}\n{text}"
        );
    }
    assert!(
        !found
            .iter()
            .any(|(_, k)| *k == "tls" || *k == "security_txt"),
        "no HTTPS, so no certificate checks: {found:?}"
    );
    assert!(
        !found.iter().any(|(id, _)| id.contains("587")),
        "587 is closed"
    );
    let page = config.find_check("privacy").unwrap();
    let CheckSpec::Probe(ProbeSpec::Page(p)) = &page.spec else {
        panic!()
    };
    assert_eq!(
        p.http.url.to_string(),
        "http://www.loopshop.test/datenschutz"
    );
    let CheckSpec::Probe(ProbeSpec::Delegation(d)) = &config.find_check("delegation").unwrap().spec
    else {
        panic!()
    };
    assert_eq!(d.zone.trim_end_matches('.'), ZONE_LOOPSHOP);
    assert_eq!(d.records.len(), 1, "www's address is pinned");
    // The zone checks parent the web and mail checks (implicit dependencies).
    let home = config.find_check("home").unwrap();
    assert!(
        home.depends_on
            .iter()
            .any(|d| d.as_str().ends_with("/delegation"))
    );
    // The Magento 2 scenario is proposed commented out, and loads once
    // uncommented.
    let marker =
        "# The home page looks like Magento 2 (cookie form_key, markup \"text/x-magento-init\").";
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("no platform:\n{text}"));
    assert!(
        config.find_check("cart").is_none(),
        "not active before a person checked it"
    );
    let proposed: String = text[at..]
        .lines()
        .skip_while(|l| !l.starts_with("# [[site.check]]"))
        .take_while(|l| !l.is_empty())
        .map(|l| {
            format!(
                "{}\n",
                l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#'))
            )
        })
        .collect();
    let uncommented = out.with_file_name("uncommented.toml");
    std::fs::write(&uncommented, format!("{text}\n{proposed}")).unwrap();
    let with_cart = keepup_config::load(&uncommented).unwrap_or_else(|p| panic!("{p}\n{proposed}"));
    let cart = with_cart.find_check("cart").expect("the cart scenario");
    let CheckSpec::Probe(ProbeSpec::Scenario(scenario)) = &cart.spec else {
        panic!("{:?}", cart.spec)
    };
    let names: Vec<&str> = scenario.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "home",
            "category",
            "product",
            "add to cart",
            "cart shows the product",
            "checkout reachable"
        ]
    );
    // It refuses to overwrite without --force.
    let again = discover(&world, &[ZONE_LOOPSHOP, "-o", out.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
}

#[test]
fn dns_only_connects_to_nothing_and_still_writes_a_valid_file() {
    // shop.test's hosts are documentation addresses: nothing may connect
    // to them, which --dns-only guarantees.
    let world = world();
    let run = discover(&world, &[ZONE_SHOP, "--dns-only"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = String::from_utf8(run.stdout).unwrap();
    let config = keepup_config::load_str(&text, std::path::Path::new("keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}\n{text}"));
    let found = kinds(&config);
    assert!(
        found.contains(&("mx1-smtp-25".to_owned(), "smtp")),
        "{found:?}"
    );
    assert!(
        found.contains(&("mx2-smtp-25".to_owned(), "smtp")),
        "{found:?}"
    );
    assert!(
        found.contains(&("certificate".to_owned(), "tls")),
        "{found:?}"
    );
    assert!(text.contains("# Note: --dns-only"));
}

#[test]
fn a_domain_that_does_not_exist_is_a_clear_error() {
    let world = world();
    let run = discover(&world, &["nosuch.test"]);
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("nosuch.test does not exist"), "{err}");
    let run = discover(&world, &["localhost"]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("not a registered domain"));
}
