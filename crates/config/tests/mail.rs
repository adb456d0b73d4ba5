//! Mail check configuration (`kind = "smtp" | "imap" | "pop3"`): defaults
//! by port and mode, the test account from env or file, certificate
//! options, and each mistake reported at its file:line:col.

mod support;
use support::{only_problem, problems};
support::env_before_main! {
    "KEEPUP_TEST_IMAP_PW" => "from-env",
}

use std::path::Path;

use keepup_config::{
    CheckSpec, MailProtocol, MailSpec, MailTls, ProbeSpec, SmtpAuthMechanism, load_str,
};

fn specs(src: &str) -> Vec<MailSpec> {
    let config =
        load_str(src, Path::new("/etc/keepup/keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    config
        .checks()
        .map(|c| match &c.spec {
            CheckSpec::Probe(ProbeSpec::Mail(m)) => {
                assert_eq!(c.spec.kind(), m.protocol.kind());
                MailSpec::clone(m)
            }
            other => panic!("not a mail check: {other:?}"),
        })
        .collect()
}

fn site(checks: &str) -> String {
    format!("[[site]]\nid = \"shop\"\n{checks}")
}

#[test]
fn defaults_follow_the_protocol_and_the_port() {
    let src = site(
        r#"
[[site.check]]
id = "mx"
kind = "smtp"
host = "mx.shop.example"

[[site.check]]
id = "submissions"
kind = "smtp"
host = "mail.shop.example"
port = 465

[[site.check]]
id = "smtps-by-mode"
kind = "smtp"
host = "mail.shop.example"
tls = "implicit"

[[site.check]]
id = "imap"
kind = "imap"
host = "mail.shop.example"

[[site.check]]
id = "imaps"
kind = "imap"
host = "mail.shop.example"
port = 993

[[site.check]]
id = "pop3s"
kind = "pop3"
host = "mail.shop.example"
tls = "implicit"

[[site.check]]
id = "pop3-plain"
kind = "pop3"
host = "192.0.2.1"
tls = "none"
"#,
    );
    let s = specs(&src);
    let summary: Vec<(MailProtocol, u16, MailTls)> =
        s.iter().map(|m| (m.protocol, m.port, m.tls)).collect();
    assert_eq!(
        summary,
        vec![
            (MailProtocol::Smtp, 25, MailTls::StartTls),
            (MailProtocol::Smtp, 465, MailTls::Implicit),
            (MailProtocol::Smtp, 465, MailTls::Implicit),
            (MailProtocol::Imap, 143, MailTls::StartTls),
            (MailProtocol::Imap, 993, MailTls::Implicit),
            (MailProtocol::Pop3, 995, MailTls::Implicit),
            (MailProtocol::Pop3, 110, MailTls::None),
        ]
    );
    assert!(s.iter().all(|m| m.require_starttls && m.login.is_none()));
    assert!(s.iter().all(|m| m.certificate.verify));
    assert!(!s[0].ehlo.is_empty());
}

#[test]
fn a_full_submission_check_loads_with_its_account_and_certificate_options() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
    std::fs::write(
        dir.path().join("ca.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let src = r#"
[defaults.tls]
warn_days = 21

[[site]]
id = "shop"
[[site.check]]
id = "submission"
kind = "smtp"
host = "mail.shop.example"
port = 587
tls = "starttls"
require_starttls = false
expect_banner = '^220 .*ESMTP'
ehlo = "monitor.shop.example"
username = "probe@shop.example"
password_file = "pw"
auth_mechanism = "LOGIN"
timeout = "5s"
[site.check.certificate]
ca_file = "ca.pem"
verify = false
crit_days = 3
"#;
    let config = load_str(src, &dir.path().join("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let check = config.checks().next().unwrap();
    let CheckSpec::Probe(ProbeSpec::Mail(m)) = &check.spec else {
        panic!("{:?}", check.spec)
    };
    assert_eq!(check.spec.kind(), "smtp");
    assert_eq!(
        (m.port, m.tls, m.require_starttls),
        (587, MailTls::StartTls, false)
    );
    assert!(
        m.expect_banner
            .as_ref()
            .unwrap()
            .is_match("220 mx ESMTP Postfix")
    );
    assert_eq!(m.ehlo, "monitor.shop.example");
    let login = m.login.as_ref().unwrap();
    assert_eq!(login.username, "probe@shop.example");
    assert_eq!(login.password.expose(), "s3cret");
    assert!(!format!("{m:?}").contains("s3cret"));
    assert_eq!(m.auth_mechanism, Some(SmtpAuthMechanism::Login));
    assert_eq!(m.certificate.ca_file, Some(dir.path().join("ca.pem")));
    assert!(!m.certificate.verify);
    assert_eq!(m.certificate.thresholds.warn_days, 21.0);
    assert_eq!(m.certificate.thresholds.crit_days, 3.0);
}

#[test]
fn the_password_comes_from_the_environment() {
    let s = specs(&site(
        r#"
[[site.check]]
id = "imap"
kind = "imap"
host = "mail.shop.example"
username = "probe"
password_env = "KEEPUP_TEST_IMAP_PW"
"#,
    ));
    assert_eq!(s[0].login.as_ref().unwrap().password.expose(), "from-env");
}

#[test]
fn an_unknown_tls_mode_is_located_with_a_hint() {
    let p = only_problem(&site(
        "[[site.check]]\nid = \"m\"\nkind = \"smtp\"\nhost = \"mx.example\"\ntls = \"ssl\"\n",
    ));
    assert_eq!(
        p,
        "keepup.toml:7:7: site[0].check[0].tls: unknown TLS mode \"ssl\" (hint: use \"starttls\", \"implicit\" or \"none\"; certificate options go in [site.check.certificate])"
    );
}

#[test]
fn require_starttls_only_goes_with_starttls() {
    let p = only_problem(&site(
        "[[site.check]]\nid = \"m\"\nkind = \"imap\"\nhost = \"mx.example\"\nport = 993\nrequire_starttls = false\n",
    ));
    assert!(
        p.starts_with("keepup.toml:8:20: site[0].check[0].require_starttls: require_starttls only applies to tls = \"starttls\", not \"implicit\""),
        "{p}"
    );
}

#[test]
fn smtp_only_keys_are_refused_for_imap_and_pop3() {
    let p = problems(&site(
        "[[site.check]]\nid = \"m\"\nkind = \"pop3\"\nhost = \"mx.example\"\nehlo = \"me.example\"\nauth_mechanism = \"plain\"\n",
    ));
    let text = p.to_string();
    assert!(
        text.contains(
            "keepup.toml:7:8: site[0].check[0].ehlo: `ehlo` only applies to kind = \"smtp\""
        ),
        "{text}"
    );
    assert!(text.contains("keepup.toml:8:18: site[0].check[0].auth_mechanism: `auth_mechanism` only applies to kind = \"smtp\""), "{text}");
}

#[test]
fn a_password_never_goes_in_clear_text() {
    let p = only_problem(&site(
        "[[site.check]]\nid = \"m\"\nkind = \"smtp\"\nhost = \"mx.example\"\ntls = \"none\"\nusername = \"probe\"\npassword_env = \"HOME\"\n",
    ));
    assert!(
        p.starts_with("keepup.toml:8:12: site[0].check[0].username: with tls = \"none\" the password would cross the network in clear text"),
        "{p}"
    );
}

#[test]
fn the_account_needs_both_halves_and_a_readable_secret() {
    let p = only_problem(&site(
        "[[site.check]]\nid = \"m\"\nkind = \"smtp\"\nhost = \"mx.example\"\nusername = \"probe\"\n",
    ));
    assert!(
        p.contains("site[0].check[0].password: missing password"),
        "{p}"
    );
    assert!(p.contains("password_env"), "{p}");

    let p = only_problem(&site(
        "[[site.check]]\nid = \"m\"\nkind = \"smtp\"\nhost = \"mx.example\"\npassword_env = \"HOME\"\n",
    ));
    assert!(
        p.starts_with(
            "keepup.toml:7:16: site[0].check[0].username: a password was given without `username`"
        ),
        "{p}"
    );

    let p = only_problem(&site(
        "[[site.check]]\nid = \"m\"\nkind = \"smtp\"\nhost = \"mx.example\"\nusername = \"probe\"\npassword_env = \"KEEPUP_TEST_SURELY_UNSET\"\n",
    ));
    assert!(
        p.starts_with("keepup.toml:8:16: site[0].check[0].password_env: environment variable KEEPUP_TEST_SURELY_UNSET is not set or empty"),
        "{p}"
    );

    let p = problems(&site(
        "[[site.check]]\nid = \"m\"\nkind = \"smtp\"\nhost = \"mx.example\"\nauth_mechanism = \"cram-md5\"\n",
    ))
    .to_string();
    assert!(
        p.contains("keepup.toml:7:18: site[0].check[0].auth_mechanism: unsupported mechanism \"cram-md5\" (hint: use \"plain\" or \"login\")"),
        "{p}"
    );
}

#[test]
fn a_mechanism_without_an_account_is_refused() {
    let p = only_problem(&site(
        "[[site.check]]\nid = \"m\"\nkind = \"smtp\"\nhost = \"mx.example\"\nauth_mechanism = \"plain\"\n",
    ));
    assert!(
        p.starts_with(
            "keepup.toml:7:18: site[0].check[0].auth_mechanism: auth_mechanism needs a test account"
        ),
        "{p}"
    );
}

#[test]
fn bad_values_are_each_located() {
    let p = problems(&site(
        r#"[[site.check]]
id = "m"
kind = "imap"
host = "not a host"
port = 70000
expect_banner = '(unclosed'

[[site.check]]
id = "n"
kind = "smtp"
host = "mx.example"
ehlo = "has space"
[site.check.certificate]
warn_fraction = 2.0
ca_file = "/nonexistent/ca.pem"
"#,
    ));
    let text = p.to_string();
    for expected in [
        "keepup.toml:6:8: site[0].check[0].host: \"not a host\" is neither a host name nor an IP address",
        "keepup.toml:7:8: site[0].check[0].port: invalid port 70000",
        "keepup.toml:8:17: site[0].check[0].expect_banner: invalid regex",
        "keepup.toml:14:8: site[0].check[1].ehlo: \"has space\" is neither a host name nor an address literal",
        "keepup.toml:16:17: site[0].check[1].certificate.warn_fraction: must be between 0 and 1",
        "keepup.toml:17:11: site[0].check[1].certificate.ca_file: cannot read /nonexistent/ca.pem",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn unknown_keys_get_the_closest_valid_one() {
    let p = only_problem(&site(
        "[[site.check]]\nid = \"m\"\nkind = \"smtp\"\nhost = \"mx.example\"\nrequire_startls = true\n",
    ));
    assert!(
        p.starts_with("keepup.toml:7:1: site[0].check[0].require_startls: unknown key `require_startls` (hint: did you mean `require_starttls`?"),
        "{p}"
    );
    let p = only_problem(&site(
        "[[site.check]]\nid = \"m\"\nkind = \"smtp\"\nhost = \"mx.example\"\n[site.check.tls]\nverify = false\n",
    ));
    assert!(
        p.starts_with("keepup.toml:7:1: site[0].check[0].tls: for mail checks `tls` is the mode (\"starttls\", \"implicit\" or \"none\"), not a table (hint: put certificate options (ca_file, verify, warn_days, ...) in [site.check.certificate])"),
        "{p}"
    );
}

#[test]
fn the_kinds_are_known_to_the_kind_hint() {
    let p = only_problem(&site(
        "[[site.check]]\nid = \"m\"\nkind = \"smpt\"\nhost = \"mx.example\"\n",
    ));
    assert!(p.contains("did you mean \"smtp\"?"), "{p}");
    assert!(p.contains("imap") && p.contains("pop3"), "{p}");
}
