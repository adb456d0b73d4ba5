//! `[[status_page]]`: components resolved to checks, logos read and sniffed
//! at load, and every mistake reported at its file:line:col.

use keepup_config::load_str;
use keepup_config::status_page::PublicIncidents;
use keepup_model::CheckId;
use std::path::Path;

const SITES: &str = r#"
[[site]]
id = "shop"
[[site.check]]
id = "web"
kind = "http"
url = "https://shop.example/"
tags = ["front"]
[[site.check]]
id = "checkout"
kind = "http"
url = "https://shop.example/checkout"
tags = ["front", "pay"]
[[site]]
id = "mail"
[[site.check]]
id = "smtp"
kind = "tcp"
host = "mx.example"
port = 25
"#;

fn load_in(dir: &Path, pages: &str) -> Result<keepup_config::Config, String> {
    let src = format!("{SITES}{pages}");
    load_str(&src, &dir.join("keepup.toml")).map_err(|p| p.to_string())
}

/// The 1-based line of the `nth` (0-based) line containing `needle` in the
/// whole configuration, as problems give it.
fn line_of(pages: &str, needle: &str, nth: usize) -> usize {
    format!("{SITES}{pages}")
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .nth(nth)
        .map(|(i, _)| i + 1)
        .unwrap_or_else(|| panic!("no {needle:?}"))
}

fn problems(pages: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    load_in(dir.path(), pages).expect_err("must be refused")
}

#[test]
fn a_page_resolves_its_components_to_checks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("logo.svg"),
        "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1 1\"/>",
    )
    .unwrap();
    let config = load_in(
        dir.path(),
        r#"
[[status_page]]
slug = "shop"
title = "Shop status"
description = "How the shop is doing."
logo = "logo.svg"
domain = "Status.Shop.Example"
public_incidents = "components"
[[status_page.component]]
name = "Storefront"
tags = ["front"]
[[status_page.component]]
name = "Mail"
sites = ["mail"]
[[status_page.component]]
name = "Checkout"
checks = ["checkout"]
"#,
    )
    .unwrap_or_else(|p| panic!("{p}"));
    let page = &config.status_pages[0];
    assert_eq!(page.slug, "shop");
    assert_eq!(page.domain.as_deref(), Some("status.shop.example"));
    assert_eq!(page.public_incidents, PublicIncidents::Components);
    assert!(!page.show_details, "details are hidden by default");
    assert_eq!(page.logo.as_ref().unwrap().content_type, "image/svg+xml");
    let names: Vec<(&str, Vec<CheckId>)> = page
        .components
        .iter()
        .map(|c| (c.name.as_str(), c.checks.clone()))
        .collect();
    assert_eq!(
        names,
        [
            (
                "Storefront",
                vec![
                    CheckId::new("shop", "web"),
                    CheckId::new("shop", "checkout")
                ]
            ),
            ("Mail", vec![CheckId::new("mail", "smtp")]),
            ("Checkout", vec![CheckId::new("shop", "checkout")]),
        ]
    );
}

#[test]
fn unknown_checks_sites_and_tags_are_located() {
    let pages = r#"
[[status_page]]
slug = "shop"
title = "Shop"
[[status_page.component]]
name = "Web"
checks = ["shop/wbe"]
sites = ["shp"]
tags = ["nothing"]
"#;
    let p = problems(pages);
    let at = |needle: &str, col: usize| format!(":{}:{col}: ", line_of(pages, needle, 0));
    assert!(
        p.contains(&(at("checks =", 11) + "status_page[0].component[0].checks[0]: no check \"shop/wbe\" (hint: did you mean \"shop/web\"?)")),
        "{p}"
    );
    assert!(
        p.contains(&(at("sites =", 10) + "status_page[0].component[0].sites[0]: no site \"shp\" (hint: did you mean \"shop\"?)")),
        "{p}"
    );
    assert!(
        p.contains(
            &(at("tags = [\"nothing\"]", 9)
                + "status_page[0].component[0].tags[0]: no check is tagged \"nothing\"")
        ),
        "{p}"
    );
}

#[test]
fn duplicate_slugs_and_domains_and_empty_components_are_refused() {
    let pages = r#"
[[status_page]]
slug = "a"
title = "A"
domain = "status.example"
[[status_page.component]]
name = "Web"
checks = ["shop/web"]
[[status_page]]
slug = "a"
title = "A again"
[[status_page.component]]
name = "Web"
checks = ["shop/web"]
[[status_page]]
slug = "b"
title = "B"
domain = "STATUS.example"
[[status_page.component]]
name = "Web"
checks = ["shop/web"]
[[status_page]]
slug = "c"
title = "C"
[[status_page.component]]
name = "Nothing"
[[status_page]]
slug = "d"
title = "D"
"#;
    let p = problems(pages);
    assert!(
        p.contains(&format!(
            ":{}:8: status_page[1].slug: status page slug \"a\" is used twice",
            line_of(pages, "slug = \"a\"", 1)
        )),
        "{p}"
    );
    assert!(
        p.contains(&format!(":{}:10: status_page[2].domain: domain \"STATUS.example\" serves another status page already", line_of(pages, "STATUS.example", 0))),
        "{p}"
    );
    assert!(
        p.contains("status_page[3].component[0]: the component names no check"),
        "{p}"
    );
    assert!(
        p.contains("status_page[4]: a status page needs at least one [[status_page.component]]"),
        "{p}"
    );
}

#[test]
fn logos_that_are_not_images_or_too_large_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("logo.gif"), b"GIF89a....").unwrap();
    std::fs::write(
        dir.path().join("huge.png"),
        [b"\x89PNG\r\n\x1a\n".as_slice(), &vec![0; 300 * 1024]].concat(),
    )
    .unwrap();
    let page = |logo: &str| {
        format!(
            "[[status_page]]\nslug = \"s\"\ntitle = \"S\"\nlogo = \"{logo}\"\n[[status_page.component]]\nname = \"Web\"\nchecks = [\"shop/web\"]\n"
        )
    };
    let p = load_in(dir.path(), &page("logo.gif")).unwrap_err();
    assert!(
        p.contains("status_page[0].logo:") && p.contains("is not a PNG, JPEG or SVG image"),
        "{p}"
    );
    let p = load_in(dir.path(), &page("huge.png")).unwrap_err();
    assert!(p.contains("larger than 256 KiB"), "{p}");
    let p = load_in(dir.path(), &page("missing.png")).unwrap_err();
    assert!(p.contains("status_page[0].logo: cannot use"), "{p}");
}

#[test]
fn titles_are_bounded_and_slugs_url_safe() {
    let long = "x".repeat(201);
    let p = problems(&format!(
        "[[status_page]]\nslug = \"Shop Status\"\ntitle = \"{long}\"\npublic_incidents = \"some\"\n[[status_page.component]]\nname = \"Web\"\nchecks = [\"shop/web\"]\n"
    ));
    assert!(
        p.contains("status_page[0].slug: slug \"Shop Status\" is not valid"),
        "{p}"
    );
    assert!(
        p.contains("status_page[0].title: 201 characters, at most 200"),
        "{p}"
    );
    assert!(
        p.contains("status_page[0].public_incidents: \"some\" is not one of"),
        "{p}"
    );
}
