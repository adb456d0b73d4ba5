//! Runbook notes: `runbook` on checks and sites (inline or a file relative
//! to the configuration), `[[runbook]] codes = [...]`, the order in which
//! they go with an alert, reloads reading files anew, and every mistake
//! refused at its file:line:col.

mod support;
use support::{line_of, problems};

use keepup_config::{NoteSource, load};
use keepup_model::CheckId;
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

const SHOP: &str = r#"
[[site]]
id = "shop"
runbook = { file = "runbooks/shop.md" }

[[site.check]]
id = "front"
kind = "tcp"
host = "127.0.0.1"
port = 443
runbook = """
Restart the **front**: `systemctl restart nginx`.
"""

[[site.check]]
id = "plain"
kind = "tcp"
host = "127.0.0.1"
port = 25

[[runbook]]
codes = ["DNS_NS_LAME", "TCP_CONNECT_FAILED"]
text = "Ask the DNS host to fix the lame server."
"#;

#[test]
fn notes_come_inline_and_from_files_and_stack_most_specific_first() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "runbooks/shop.md",
        "# Shop\n\nCall Ann: +41 00 000 00 00\n",
    );
    let path = write(dir.path(), "keepup.toml", SHOP);
    let config = load(&path).unwrap_or_else(|p| panic!("{p}"));
    let front = CheckId::new("shop", "front");
    let r = &config.runbooks;
    assert_eq!(
        r.check_note(&front),
        Some("Restart the **front**: `systemctl restart nginx`.")
    );
    assert_eq!(
        r.site_note("shop"),
        Some("# Shop\n\nCall Ann: +41 00 000 00 00")
    );
    assert_eq!(
        r.code_note(&front, "TCP_CONNECT_FAILED"),
        Some("Ask the DNS host to fix the lame server.")
    );
    assert_eq!(r.check_note(&CheckId::new("shop", "plain")), None);

    // Codes once each, in the order given; a [[runbook]] replaces the
    // default of its code only.
    let notes = r.notes_for(
        &front,
        ["TLS_CERT_EXPIRING", "DNS_NS_LAME", "TLS_CERT_EXPIRING"],
    );
    let order: Vec<(NoteSource, &str)> =
        notes.iter().map(|n| (n.source, n.about.as_str())).collect();
    let mut expected = vec![
        (NoteSource::Check, "shop/front"),
        (NoteSource::Code, "DNS_NS_LAME"),
        (NoteSource::Site, "shop"),
    ];
    let tls_default = keepup_model::runbook::default_note("TLS_CERT_EXPIRING");
    if tls_default.is_some() {
        expected.push((NoteSource::Default, "TLS_CERT_EXPIRING"));
    }
    assert_eq!(order, expected);
    if let Some(text) = tls_default {
        assert_eq!(notes[3].text, text);
    }
    // A check without a note still gets its site's.
    let plain = r.notes_for(&CheckId::new("shop", "plain"), []);
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0].source, NoteSource::Site);
    assert_eq!(plain[0].heading(), "site shop");
}

#[test]
fn a_reload_reads_the_files_again() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "runbooks/shop.md", "first version");
    let path = write(dir.path(), "keepup.toml", SHOP);
    assert_eq!(
        load(&path).unwrap().runbooks.site_note("shop"),
        Some("first version")
    );
    write(dir.path(), "runbooks/shop.md", "second version");
    assert_eq!(
        load(&path).unwrap().runbooks.site_note("shop"),
        Some("second version")
    );
}

/// The rendered problem at `needle` (the first line holding it).
fn problem_at(dir: &Path, src: &str, needle: &str) -> String {
    problem_in_line(dir, src, needle, needle)
}

/// The rendered problem at `needle` in the first line holding `line_needle`.
fn problem_in_line(dir: &Path, src: &str, line_needle: &str, needle: &str) -> String {
    let path = write(dir, "keepup.toml", src);
    let p = match load(&path) {
        Ok(_) => panic!("expected problems for:\n{src}"),
        Err(p) => p,
    };
    let line = line_of(src, line_needle);
    let col = src.lines().nth(line - 1).unwrap().find(needle).unwrap() + 1;
    let prefix = format!("{}:{line}:{col}: ", path.display());
    p.0.iter()
        .map(ToString::to_string)
        .find(|m| m.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no problem at {line}:{col}; got:\n{p}"))
}

fn site_with(runbook: &str) -> String {
    format!(
        "[[site]]\nid = \"shop\"\n\n[[site.check]]\nid = \"front\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 443\n{runbook}\n"
    )
}

#[test]
fn a_missing_an_empty_or_an_oversized_file_is_refused_where_it_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let src = site_with("runbook = { file = \"runbooks/none.md\" }");
    let m = problem_at(dir.path(), &src, "{ file");
    assert!(m.contains("site[0].check[0].runbook: runbook file "), "{m}");
    assert!(m.contains("runbooks/none.md: no such file"), "{m}");

    write(dir.path(), "big.md", &"x".repeat(64 * 1024 + 1));
    let m = problem_at(
        dir.path(),
        &site_with("runbook = { file = \"big.md\" }"),
        "{ file",
    );
    assert!(m.contains("larger than 65536 bytes"), "{m}");

    write(dir.path(), "blank.md", " \n\n");
    let m = problem_at(
        dir.path(),
        &site_with("runbook = { file = \"blank.md\" }"),
        "{ file",
    );
    assert!(m.contains("the runbook note is empty"), "{m}");

    std::fs::create_dir_all(dir.path().join("adir")).unwrap();
    let m = problem_at(
        dir.path(),
        &site_with("runbook = { file = \"adir\" }"),
        "{ file",
    );
    assert!(m.contains("is a directory"), "{m}");

    write(dir.path(), "latin1.md", "");
    std::fs::write(dir.path().join("latin1.md"), b"caf\xe9").unwrap();
    let m = problem_at(
        dir.path(),
        &site_with("runbook = { file = \"latin1.md\" }"),
        "{ file",
    );
    assert!(m.contains("is not UTF-8 text (byte 3"), "{m}");
}

#[test]
fn inline_notes_that_are_empty_too_long_or_of_the_wrong_shape_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let m = problem_at(dir.path(), &site_with("runbook = \"   \""), "\"   \"");
    assert!(m.contains("runbook: the runbook note is empty"), "{m}");

    let long = format!("runbook = \"{}\"", "y".repeat(64 * 1024 + 1));
    let m = problem_at(dir.path(), &site_with(&long), "\"yyy");
    assert!(m.contains("the runbook note is 65537 bytes"), "{m}");

    let m = problem_in_line(dir.path(), &site_with("runbook = 3"), "runbook", "3");
    assert!(m.contains("a runbook note is Markdown text"), "{m}");
    let m = problem_at(
        dir.path(),
        &site_with("runbook = { path = \"x.md\" }"),
        "{ path",
    );
    assert!(m.contains("a runbook note is Markdown text"), "{m}");

    // On a site too.
    let src = "[[site]]\nid = \"shop\"\nrunbook = \"\"\n";
    let m = problem_at(dir.path(), src, "\"\"");
    assert!(
        m.contains("site[0].runbook: the runbook note is empty"),
        "{m}"
    );
}

#[test]
fn code_runbooks_name_known_codes_once_and_have_exactly_one_note() {
    let dir = tempfile::tempdir().unwrap();
    let src = r#"
[[runbook]]
codes = ["TLS_CERT_EXPRING"]
text = "renew"

[[runbook]]
codes = ["backup.failed"]
text = "look at the backup log"
"#;
    let m = problem_at(dir.path(), src, "\"TLS_CERT_EXPRING\"");
    assert!(
        m.contains("runbook[0].codes: unknown finding code \"TLS_CERT_EXPRING\"")
            && m.contains("did you mean \"TLS_CERT_EXPIRING\"?"),
        "{m}"
    );
    let m = problem_at(dir.path(), src, "\"backup.failed\"");
    assert!(m.contains("renamed: write \"BACKUP_FAILED\""), "{m}");

    let src = r#"
[[runbook]]
codes = ["TLS_CERT_EXPIRING", "DNS_NS_LAME"]
text = "one"

[[runbook]]
codes = ["DNS_NS_LAME"] # again
file = "dns.md"
"#;
    write(dir.path(), "dns.md", "two");
    let m = problem_in_line(dir.path(), src, "# again", "\"DNS_NS_LAME\"");
    assert!(
        m.contains("runbook[1].codes: DNS_NS_LAME already has a runbook note (line 3)"),
        "{m}"
    );

    let src = "[[runbook]]\ncodes = []\ntext = \"x\"\n";
    let m = problem_at(dir.path(), src, "[]");
    assert!(m.contains("name at least one finding code"), "{m}");

    let src = "[[runbook]]\ncodes = [\"DNS_NS_LAME\"]\ntext = \"x\"\nfile = \"dns.md\"\n";
    let m = problem_at(dir.path(), src, "\"dns.md\"");
    assert!(m.contains("not both"), "{m}");

    let src = "[[runbook]]\ncodes = [\"DNS_NS_LAME\"]\n";
    let p = problems(src);
    assert!(
        p.to_string()
            .contains("runbook[0]: missing key `text` or `file`"),
        "{p}"
    );

    let src = "[[runbook]]\ncodes = [\"DNS_NS_LAME\"]\ntext = \"x\"\nsites = [\"shop\"]\n";
    let m = problem_at(dir.path(), src, "\"shop\"");
    assert!(m.contains("runbook[0].sites: no site \"shop\""), "{m}");
}

/// An agency hosts some shops differently: one note for a code on every
/// check, and a narrowed one (`sites`, `tags`) that goes first on the
/// checks it covers. Two notes for one code on one check are refused,
/// as are sites and tags that do not exist.
#[test]
fn narrowed_code_notes_go_first_on_their_sites_and_tags_and_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let shops = r#"
[[site]]
id = "shop"

[[site.check]]
id = "web"
kind = "tcp"
host = "127.0.0.1"
port = 443

[[site]]
id = "legacy"
tags = ["own-hosting"]

[[site.check]]
id = "web"
kind = "tcp"
host = "127.0.0.1"
port = 443

[[site]]
id = "edge"

[[site.check]]
id = "cdn"
kind = "tcp"
host = "127.0.0.1"
port = 443
tags = ["cdn"]

[[site.check]]
id = "web"
kind = "tcp"
host = "127.0.0.1"
port = 443
"#;
    let src = format!(
        "{shops}\n[[runbook]]\ncodes = [\"TLS_CERT_EXPIRING\", \"TCP_CONNECT_FAILED\"]\ntext = \"We renew: `certbot renew`.\"\n\n[[runbook]]\ncodes = [\"TLS_CERT_EXPIRING\"]\ntags = [\"own-hosting\"]\ntext = \"The shop renews its own certificates: call them.\"\n\n[[runbook]]\ncodes = [\"TLS_CERT_EXPIRING\"]\ntags = [\"cdn\"]\ntext = \"The CDN renews: open a ticket.\"\n"
    );
    let path = write(dir.path(), "keepup.toml", &src);
    let config = load(&path).unwrap_or_else(|p| panic!("{p}"));
    let r = &config.runbooks;
    let note = |site: &str, check: &str| {
        r.notes_for(&CheckId::new(site, check), ["TLS_CERT_EXPIRING"])
            .into_iter()
            .find(|n| n.source == NoteSource::Code)
            .map(|n| n.text)
    };
    assert_eq!(
        note("shop", "web").as_deref(),
        Some("We renew: `certbot renew`.")
    );
    // A site's tag covers its checks; a check's tag only that check.
    assert_eq!(
        note("legacy", "web").as_deref(),
        Some("The shop renews its own certificates: call them.")
    );
    assert_eq!(
        note("edge", "cdn").as_deref(),
        Some("The CDN renews: open a ticket.")
    );
    assert_eq!(
        note("edge", "web").as_deref(),
        Some("We renew: `certbot renew`.")
    );
    // The other code of the general note is untouched by the narrowed ones.
    assert_eq!(
        r.code_note(&CheckId::new("legacy", "web"), "TCP_CONNECT_FAILED"),
        Some("We renew: `certbot renew`.")
    );
    let legacy: Vec<(String, String)> = r
        .code_notes_for(&CheckId::new("legacy", "web"))
        .into_iter()
        .map(|n| (n.about, n.text))
        .collect();
    assert_eq!(
        legacy,
        vec![
            (
                "TCP_CONNECT_FAILED".into(),
                "We renew: `certbot renew`.".into()
            ),
            (
                "TLS_CERT_EXPIRING".into(),
                "The shop renews its own certificates: call them.".into()
            ),
        ]
    );

    // Overlapping narrowed notes for one code: refused at the second,
    // naming a check both cover and the first note's line.
    let src = format!(
        "{shops}\n[[runbook]]\ncodes = [\"TLS_CERT_EXPIRING\"]\nsites = [\"edge\"]\ntext = \"a\"\n\n[[runbook]]\ncodes = [\"TLS_CERT_EXPIRING\"] # second\ntags = [\"cdn\"]\ntext = \"b\"\n"
    );
    let first = line_of(&src, "sites = [\"edge\"]") - 1;
    let m = problem_in_line(dir.path(), &src, "# second", "\"TLS_CERT_EXPIRING\"");
    assert!(
        m.contains(&format!(
            "runbook[1].codes: TLS_CERT_EXPIRING already has a runbook note for edge/cdn (line {first})"
        )) && m.contains("share no check"),
        "{m}"
    );

    // Sites and tags that do not exist, each where it is written.
    let src = format!(
        "{shops}\n[[runbook]]\ncodes = [\"TLS_CERT_EXPIRING\"]\nsites = [\"shp\"]\ntags = [\"own-hostin\"]\ntext = \"a\"\n"
    );
    let m = problem_at(dir.path(), &src, "\"shp\"");
    assert!(m.contains("runbook[0].sites: no site \"shp\""), "{m}");
    let m = problem_at(dir.path(), &src, "\"own-hostin\"");
    assert!(
        m.contains("runbook[0].tags: no check or site carries the tag \"own-hostin\"")
            && m.contains("did you mean \"own-hosting\"?"),
        "{m}"
    );
}
