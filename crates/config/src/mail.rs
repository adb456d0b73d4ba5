//! Mail service checks: `kind = "smtp"`, `"imap"` and `"pop3"`; and
//! `kind = "ftp"`, whose dialogue is the same shape (a greeting, TLS by a
//! command (`AUTH TLS`) or from the first byte, an optional login).
//!
//! One schema for the four protocols: where the server is, how TLS is
//! reached (`tls = "starttls" | "implicit" | "none"`, defaulting by port),
//! whether STARTTLS is required, an optional banner regex, an optional test
//! account, and the certificate options in `[site.check.certificate]` (the
//! keys of `[site.check.tls]`, over `[defaults.tls]`; the table cannot be
//! called `tls` here because `tls` is the mode). Everything is validated
//! and compiled at load: a probe never fails on a configuration mistake.
//!
//! ```toml
//! [[site.check]]
//! id = "submission"
//! kind = "smtp"
//! host = "mail.shop.example"
//! port = 587                    # default 25 (465 with tls = "implicit")
//! tls = "starttls"              # default: "implicit" on 465/993/995/990, else "starttls"
//! require_starttls = true       # default true (only with tls = "starttls")
//! expect_banner = '^220 .*ESMTP'
//! ehlo = "monitor.shop.example" # smtp only; default: this machine's host name
//! username = "probe@shop.example"
//! password_env = "MAIL_PROBE_PASSWORD"   # or password_file
//! auth_mechanism = "plain"      # smtp only: "plain" or "login"; default: what the server offers
//! [site.check.certificate]
//! ca_file = "my-ca.pem"
//! verify = true
//! ```

use std::ops::Range;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use crate::load::{Inline, Loader};
use crate::raw::{COMMON_CHECK_KEYS, RawTls};
use crate::spec::Secret;
use crate::tls::TlsOptions;

/// The protocol a mail check speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailProtocol {
    /// SMTP (RFC 5321), with ESMTP extensions (EHLO, STARTTLS, AUTH).
    Smtp,
    /// IMAP4rev1 (RFC 3501).
    Imap,
    /// POP3 (RFC 1939, CAPA per RFC 2449, STLS per RFC 2595).
    Pop3,
    /// FTP's control connection (RFC 959, AUTH TLS per RFC 4217).
    Ftp,
}

/// The well-known mail ports (IANA): the one home of these numbers for
/// mail checks, the email channel and the CLI.
pub mod ports {
    /// SMTP between servers (STARTTLS).
    pub const SMTP: u16 = 25;
    /// Message submission (STARTTLS).
    pub const SUBMISSION: u16 = 587;
    /// Message submission over implicit TLS.
    pub const SUBMISSIONS: u16 = 465;
    /// IMAP (STARTTLS).
    pub const IMAP: u16 = 143;
    /// IMAP over implicit TLS.
    pub const IMAPS: u16 = 993;
    /// POP3 (STLS).
    pub const POP3: u16 = 110;
    /// POP3 over implicit TLS.
    pub const POP3S: u16 = 995;
    /// FTP (AUTH TLS).
    pub const FTP: u16 = 21;
    /// FTP over implicit TLS.
    pub const FTPS: u16 = 990;
}

impl MailProtocol {
    /// The `kind` as written in the configuration.
    pub fn kind(self) -> &'static str {
        match self {
            MailProtocol::Smtp => "smtp",
            MailProtocol::Imap => "imap",
            MailProtocol::Pop3 => "pop3",
            MailProtocol::Ftp => "ftp",
        }
    }

    /// The protocol's name for humans.
    pub fn name(self) -> &'static str {
        match self {
            MailProtocol::Smtp => "SMTP",
            MailProtocol::Imap => "IMAP",
            MailProtocol::Pop3 => "POP3",
            MailProtocol::Ftp => "FTP",
        }
    }

    /// The standard port for a TLS mode: 25/465, 143/993, 110/995.
    pub fn default_port(self, tls: MailTls) -> u16 {
        match (self, tls == MailTls::Implicit) {
            (MailProtocol::Smtp, false) => ports::SMTP,
            (MailProtocol::Smtp, true) => ports::SUBMISSIONS,
            (MailProtocol::Imap, false) => ports::IMAP,
            (MailProtocol::Imap, true) => ports::IMAPS,
            (MailProtocol::Pop3, false) => ports::POP3,
            (MailProtocol::Pop3, true) => ports::POP3S,
            (MailProtocol::Ftp, false) => ports::FTP,
            (MailProtocol::Ftp, true) => ports::FTPS,
        }
    }
}

/// How the session reaches TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailTls {
    /// Plain connection upgraded with STARTTLS / STLS.
    StartTls,
    /// TLS from the first byte (465, 993, 995).
    Implicit,
    /// No TLS at all.
    None,
}

impl MailTls {
    /// The value as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            MailTls::StartTls => "starttls",
            MailTls::Implicit => "implicit",
            MailTls::None => "none",
        }
    }

    /// The mode a port implies when `tls` is not given: implicit TLS on the
    /// ports that have it (465, 993, 995), STARTTLS elsewhere.
    pub fn default_for_port(port: u16) -> Self {
        match port {
            ports::SUBMISSIONS | ports::IMAPS | ports::POP3S | ports::FTPS => MailTls::Implicit,
            _ => MailTls::StartTls,
        }
    }
}

/// A SASL mechanism for SMTP AUTH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpAuthMechanism {
    /// `AUTH PLAIN` (RFC 4616), with the initial response.
    Plain,
    /// `AUTH LOGIN` (user name and password in two steps).
    Login,
}

/// A test account that the check logs in with.
#[derive(Debug, Clone, PartialEq)]
pub struct MailLogin {
    /// The user name (shown in evidence).
    pub username: String,
    /// The password, from env or file; sent on the wire and nowhere else.
    pub password: Secret,
}

/// `kind = "smtp" | "imap" | "pop3"`
#[derive(Debug, Clone)]
pub struct MailSpec {
    /// Which protocol.
    pub protocol: MailProtocol,
    /// Host name or IP (also the TLS server name the certificate must
    /// match).
    pub host: String,
    /// Port (default by protocol and TLS mode).
    pub port: u16,
    /// How TLS is reached.
    pub tls: MailTls,
    /// With `tls = "starttls"`: a server that does not offer STARTTLS is
    /// Down (default true); otherwise the dialogue goes on in plain text
    /// (and no password is sent).
    pub require_starttls: bool,
    /// Regex the greeting (all its lines, joined by `\n`) must match.
    pub expect_banner: Option<Regex>,
    /// The name sent with EHLO (SMTP only).
    pub ehlo: String,
    /// Optional test account.
    pub login: Option<MailLogin>,
    /// SMTP AUTH mechanism; `None`: PLAIN if offered, else LOGIN.
    pub auth_mechanism: Option<SmtpAuthMechanism>,
    /// Certificate verification and expiry thresholds.
    pub certificate: TlsOptions,
}

/// The kind-specific keys of a mail check, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMail {
    pub host: Spanned<String>,
    pub port: Option<Spanned<i64>>,
    pub tls: Option<Spanned<RawMailTls>>,
    pub require_starttls: Option<Spanned<bool>>,
    pub expect_banner: Option<Spanned<String>>,
    pub ehlo: Option<Spanned<String>>,
    pub username: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub auth_mechanism: Option<Spanned<String>>,
    pub certificate: Option<RawTls>,
}

/// `tls`: the mode; a table is the `[site.check.tls]` habit of other
/// kinds, refused with a pointer to `[site.check.certificate]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawMailTls {
    Mode(String),
    Table(#[allow(dead_code)] toml::Table),
}

/// EHLO name used when neither `ehlo` nor a usable host name is available.
const FALLBACK_EHLO: &str = "localhost";

impl Loader<'_> {
    /// Validates a mail check of `kind` (`smtp`, `imap` or `pop3`).
    pub(crate) fn mail(
        &mut self,
        kind: &str,
        specific: Spanned<DeValue<'_>>,
        path: &str,
        default_tls: &RawTls,
    ) -> Option<MailSpec> {
        let span = specific.span();
        let raw: RawMail = self.deserialize(specific, path, COMMON_CHECK_KEYS)?;
        let protocol = match kind {
            "smtp" => MailProtocol::Smtp,
            "imap" => MailProtocol::Imap,
            "ftp" => MailProtocol::Ftp,
            _ => MailProtocol::Pop3,
        };
        let mut ok = true;
        let host = self.host(&raw.host, path);
        let port = match &raw.port {
            Some(p) => match self.port(p, path) {
                Some(port) => Some(port),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let tls = match &raw.tls {
            None => port.map_or(MailTls::StartTls, MailTls::default_for_port),
            Some(t) => match t.get_ref() {
                RawMailTls::Mode(m) if m == "starttls" => MailTls::StartTls,
                RawMailTls::Mode(m) if m == "implicit" => MailTls::Implicit,
                RawMailTls::Mode(m) if m == "none" => MailTls::None,
                RawMailTls::Table(_) => {
                    self.rep.report(
                        t.span(),
                        &format!("{path}.tls"),
                        "for mail checks `tls` is the mode (\"starttls\", \"implicit\" or \"none\"), not a table",
                        Some("put certificate options (ca_file, verify, warn_days, ...) in [site.check.certificate]".into()),
                    );
                    ok = false;
                    MailTls::StartTls
                }
                RawMailTls::Mode(other) => {
                    self.rep.report(
                        t.span(),
                        &format!("{path}.tls"),
                        format!("unknown TLS mode {other:?}"),
                        Some(
                            "use \"starttls\", \"implicit\" or \"none\"; certificate options go in [site.check.certificate]"
                                .into(),
                        ),
                    );
                    ok = false;
                    MailTls::StartTls
                }
            },
        };
        let port = port.unwrap_or_else(|| protocol.default_port(tls));

        let require_starttls = match &raw.require_starttls {
            Some(r) if tls != MailTls::StartTls => {
                self.rep.report(
                    r.span(),
                    &format!("{path}.require_starttls"),
                    format!(
                        "require_starttls only applies to tls = \"starttls\", not \"{}\"",
                        tls.as_str()
                    ),
                    None,
                );
                ok = false;
                true
            }
            Some(r) => *r.get_ref(),
            None => true,
        };

        let expect_banner = raw
            .expect_banner
            .as_ref()
            .and_then(|r| self.mail_regex(r, &format!("{path}.expect_banner")));
        ok &= raw.expect_banner.is_none() || expect_banner.is_some();

        for (key, value) in [("ehlo", &raw.ehlo), ("auth_mechanism", &raw.auth_mechanism)] {
            if let (Some(v), false) = (value, protocol == MailProtocol::Smtp) {
                self.rep.report(
                    v.span(),
                    &format!("{path}.{key}"),
                    format!("`{key}` only applies to kind = \"smtp\""),
                    None,
                );
                ok = false;
            }
        }
        let ehlo = match &raw.ehlo {
            Some(name) if valid_ehlo(name.get_ref()) => name.get_ref().clone(),
            Some(name) => {
                self.rep.report(
                    name.span(),
                    &format!("{path}.ehlo"),
                    format!(
                        "{:?} is neither a host name nor an address literal",
                        name.get_ref()
                    ),
                    Some("write e.g. \"monitor.shop.example\" or \"[192.0.2.1]\"".into()),
                );
                ok = false;
                String::new()
            }
            None => local_host_name(),
        };
        let auth_mechanism = match &raw.auth_mechanism {
            None => None,
            Some(m) => match m.get_ref().to_ascii_lowercase().as_str() {
                "plain" => Some(SmtpAuthMechanism::Plain),
                "login" => Some(SmtpAuthMechanism::Login),
                other => {
                    self.rep.report(
                        m.span(),
                        &format!("{path}.auth_mechanism"),
                        format!("unsupported mechanism {other:?}"),
                        Some("use \"plain\" or \"login\"".into()),
                    );
                    ok = false;
                    None
                }
            },
        };

        let login = self.mail_login(&raw, span, path, tls, &mut ok);
        if let (Some(m), None) = (&raw.auth_mechanism, &raw.username) {
            self.rep.report(
                m.span(),
                &format!("{path}.auth_mechanism"),
                "auth_mechanism needs a test account",
                Some("add `username` and `password_env` (or `password_file`)".into()),
            );
            ok = false;
        }
        let certificate = self.tls_options(
            raw.certificate.as_ref(),
            default_tls,
            &format!("{path}.certificate"),
        );
        let (host, certificate) = (host?, certificate?);
        ok.then_some(MailSpec {
            protocol,
            host,
            port,
            tls,
            require_starttls,
            expect_banner,
            ehlo,
            login,
            auth_mechanism,
            certificate,
        })
    }

    fn mail_regex(&mut self, r: &Spanned<String>, key: &str) -> Option<Regex> {
        match regex::RegexBuilder::new(r.get_ref())
            .size_limit(1 << 20)
            .build()
        {
            Ok(re) => Some(re),
            Err(e) => {
                let text = e.to_string();
                let first = text.lines().next().unwrap_or_default();
                self.rep
                    .report(r.span(), key, format!("invalid regex: {first}"), None);
                None
            }
        }
    }

    /// The test account: `username` with `password_env` or `password_file`,
    /// both or neither; never with `tls = "none"`, and never with characters
    /// that would end a protocol line.
    fn mail_login(
        &mut self,
        raw: &RawMail,
        span: Range<usize>,
        path: &str,
        tls: MailTls,
        ok: &mut bool,
    ) -> Option<MailLogin> {
        let Some(username) = &raw.username else {
            if let Some(p) = raw.password_env.as_ref().or(raw.password_file.as_ref()) {
                self.rep.report(
                    p.span(),
                    &format!("{path}.username"),
                    "a password was given without `username`",
                    None,
                );
                *ok = false;
            }
            return None;
        };
        if tls == MailTls::None {
            self.rep.report(
                username.span(),
                &format!("{path}.username"),
                "with tls = \"none\" the password would cross the network in clear text",
                Some("use tls = \"starttls\" or \"implicit\", or drop the test account".into()),
            );
            *ok = false;
            return None;
        }
        let secret_span = raw
            .password_env
            .as_ref()
            .or(raw.password_file.as_ref())
            .map_or(span, Spanned::span);
        let password = self.secret(
            Inline::NotAccepted,
            raw.password_env.as_ref().map(|v| v.get_ref().as_str()),
            raw.password_file.as_ref().map(|v| v.get_ref().as_str()),
            secret_span.clone(),
            path,
            "password",
        );
        let Some(password) = password else {
            *ok = false;
            return None;
        };
        let breaks_line = |s: &str| s.contains(['\r', '\n', '\0']);
        if username.get_ref().is_empty() || breaks_line(username.get_ref()) {
            self.rep.report(
                username.span(),
                &format!("{path}.username"),
                "the user name must be non-empty, without line breaks or NUL",
                None,
            );
            *ok = false;
            return None;
        }
        if breaks_line(password.expose()) {
            self.rep.report(
                secret_span,
                &format!("{path}.password"),
                "the password contains a line break or NUL, which no mail protocol can carry",
                None,
            );
            *ok = false;
            return None;
        }
        Some(MailLogin {
            username: username.get_ref().clone(),
            password,
        })
    }
}

/// A host name (letters, digits, `-`, `.`) or an address literal
/// (`[192.0.2.1]`, `[IPv6:2001:db8::1]`), as EHLO takes.
fn valid_ehlo(name: &str) -> bool {
    if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        let ip = inner.strip_prefix("IPv6:").unwrap_or(inner);
        return ip.parse::<std::net::IpAddr>().is_ok();
    }
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// This machine's host name, as EHLO wants it (what `check_smtp` sends
/// too); `localhost` when it cannot be read or is not a valid name.
fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| valid_ehlo(s))
        .unwrap_or_else(|| FALLBACK_EHLO.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_modes_default_sensibly() {
        assert_eq!(MailTls::default_for_port(465), MailTls::Implicit);
        assert_eq!(MailTls::default_for_port(587), MailTls::StartTls);
        assert_eq!(MailProtocol::Imap.default_port(MailTls::Implicit), 993);
        assert_eq!(MailProtocol::Pop3.default_port(MailTls::None), 110);
    }

    #[test]
    fn ehlo_names_and_literals() {
        assert!(valid_ehlo("mail.shop.example"));
        assert!(valid_ehlo("[127.0.0.1]"));
        assert!(valid_ehlo("[IPv6:::1]"));
        assert!(!valid_ehlo("bad name"));
        assert!(!valid_ehlo("[not-an-ip]"));
        assert!(!valid_ehlo(""));
        assert!(valid_ehlo(&local_host_name()));
    }
}
