//! `[store] url`: a PostgreSQL store's URL, password and TLS keys are read
//! and checked at load (an inline password refused without echoing it,
//! each mistake at file:line:col), and a good one is refused "not yet
//! supported" until the PostgreSQL store is complete (issue 19).

mod support;
use support::{at_line, env_before_main, problems};

env_before_main! {
    "KEEPUP_TEST_STORE_PASSWORD" => "env-pa55word",
}

const SITE: &str = "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"tcp\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n";

#[test]
fn a_good_url_is_read_whole_then_refused_as_not_yet_supported() {
    let src = format!(
        "[store]\nurl = \"postgres://keepup@db.example:6543/monitor\"\npassword_env = \"KEEPUP_TEST_STORE_PASSWORD\"\n{SITE}"
    );
    let p = problems(&src);
    assert_eq!(p.0.len(), 1, "{p}");
    let only = at_line(&p, 2);
    assert!(
        only.starts_with("keepup.toml:2:7: store.url: not yet supported: a PostgreSQL store (database \"monitor\" on db.example:6543)"),
        "{only}"
    );
    assert!(only.contains("remove `url`"), "{only}");
    assert!(!p.to_string().contains("env-pa55word"), "{p}");
}

#[test]
fn a_password_in_the_url_is_refused_without_echoing_it() {
    for url in [
        "postgres://keepup:S3cretPw@127.0.0.1/keepup",
        "postgresql://keepup:S3cretPw@db.example:5432/keepup",
        "postgres://keepup:S3cretPw@with@at@127.0.0.1/keepup",
        "postgres://keepup:S3cretPw@127.0.0.1/keepup?sslmode=require",
    ] {
        let p = problems(&format!("[store]\nurl = \"{url}\"\n{SITE}"));
        let line = at_line(&p, 2);
        assert!(
            line.starts_with("keepup.toml:2:7: store.url: the URL holds a password"),
            "{url}: {line}"
        );
        assert!(line.contains("password_env"), "{line}");
        assert!(!p.to_string().contains("S3cretPw"), "{url} echoed:\n{p}");
    }
    // An inline `password` key is a secret written in the file.
    let p = problems(&format!(
        "[store]\nurl = \"postgres://keepup@127.0.0.1/keepup\"\npassword = \"S3cretPw\"\n{SITE}"
    ));
    let line = at_line(&p, 3);
    assert!(line.contains("`password` is a secret"), "{line}");
    assert!(!p.to_string().contains("S3cretPw"), "{p}");
}

#[test]
fn every_mistake_in_the_store_table_is_located() {
    for (url, says) in [
        (
            "mysql://keepup@127.0.0.1/keepup",
            "must start with postgres://",
        ),
        ("postgres://127.0.0.1/keepup", "names no user"),
        ("postgres://keepup@/keepup", "names no host"),
        (
            "postgres://keepup@127.0.0.1:0/keepup",
            "port is not a number",
        ),
        (
            "postgres://keepup@127.0.0.1:99999/keepup",
            "port is not a number",
        ),
        ("postgres://keepup@127.0.0.1", "names no database"),
        ("postgres://keepup@bad host/keepup", "neither a host name"),
        ("postgres://keepup@[::1/keepup", "neither a host name"),
        (
            "postgres://keepup@127.0.0.1/kee%20pup",
            "does not accept there",
        ),
        ("postgres://keepup@127.0.0.1/keepup#x", "has parameters"),
    ] {
        let p = problems(&format!("[store]\nurl = \"{url}\"\n{SITE}"));
        let line = at_line(&p, 2);
        assert!(
            line.starts_with("keepup.toml:2:7: store.url: ") && line.contains(says),
            "{url}: {line}"
        );
        assert!(!line.contains("not yet supported"), "{line}");
    }
    // IPv6 in brackets and the default port are understood.
    let p = problems(&format!(
        "[store]\nurl = \"postgres://keepup@[::1]/keepup\"\n{SITE}"
    ));
    assert!(at_line(&p, 2).contains("on [::1]:5432"), "{p}");

    let p = problems(&format!(
        "[store]\nurl = \"postgres://keepup@127.0.0.1/keepup\"\ntls = \"prefer\"\n{SITE}"
    ));
    let tls = at_line(&p, 3);
    assert!(
        tls.starts_with("keepup.toml:3:7: store.tls: unknown TLS mode \"prefer\""),
        "{tls}"
    );
    let p = problems(&format!(
        "[store]\npath = \"keepup.db\"\nurl = \"postgres://keepup@127.0.0.1/keepup\"\n{SITE}"
    ));
    assert!(at_line(&p, 2).contains("not both"), "{p}");
    let p = problems(&format!(
        "[store]\nurl = \"postgres://keepup@127.0.0.1/keepup\"\npassword_env = \"KEEPUP_TEST_NOT_SET_ANYWHERE\"\n{SITE}"
    ));
    assert!(at_line(&p, 3).contains("is not set or empty"), "{p}");
    let p = problems(&format!(
        "[store]\nurl = \"postgres://keepup@127.0.0.1/keepup\"\nca_file = \"/nonexistent/ca.pem\"\ntls = \"require\"\n{SITE}"
    ));
    assert!(
        at_line(&p, 3).contains("cannot read /nonexistent/ca.pem"),
        "{p}"
    );
    // The PostgreSQL keys without `url` are a mistake, not ignored.
    let p = problems(&format!("[store]\ntls = \"require\"\n{SITE}"));
    assert!(at_line(&p, 2).contains("`tls` goes with `url`"), "{p}");
}
