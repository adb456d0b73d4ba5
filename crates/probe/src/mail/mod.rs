//! Mail service checks: SMTP, IMAP and POP3 dialogues; and FTP's control
//! dialogue ([`ftp`]), which has the same shape.
//!
//! [`probe`] connects to the server, reaches TLS the configured way
//! (STARTTLS/STLS after the capabilities, implicit TLS from the first byte,
//! or none), judges the certificate with the same analysis as HTTPS
//! ([`crate::tls::analysis`], same `TLS_*` codes), optionally logs in with
//! a test account, and says goodbye (QUIT/LOGOUT). Along the way it checks
//! what a mail admin cares about: the ready greeting, STARTTLS offered
//! (required by default), no plain-text login offered before TLS (SMTP AUTH
//! advertised, IMAP without LOGINDISABLED, POP3 USER), the login working.
//!
//! The three protocols share one bounded line reader ([`line`]): every read
//! waits at most until the run's deadline and a line, a reply and a session
//! have size limits, so a stalling, flooding or garbage-sending server ends
//! as a Down outcome with an explanation, never as a hang or a growing
//! buffer. The evidence is the transcript (login arguments shown as
//! `***`), the capabilities before and after TLS, the certificate summary
//! and the time of each phase (connect, banner, STARTTLS, TLS, auth).

mod ftp;
mod imap;
pub mod line;
mod pop3;
mod smtp;

use std::sync::Arc;
use std::time::Duration;

use keepup_config::{MailProtocol, MailSpec, MailTls};
use keepup_model::{Finding, Outcome, Severity, Status, TimingBreakdown};
use rustls::RootCertStore;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use self::line::{Conn, LineReader, Stop};
use crate::codes;
use crate::context::ProbeContext;
use crate::tls::analysis::CertSummary;
use crate::util::{connect_first, failed, finish, ms};

/// The phase of waiting for the greeting, in every protocol.
pub(crate) const GREETING: &str = "waiting for the greeting";

/// The polite goodbye (QUIT/LOGOUT) waits at most this long for its reply.
const GOODBYE_WAIT: Duration = Duration::from_secs(1);

/// Runs one mail check.
pub async fn probe(spec: &MailSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let mut outcome = Outcome::new(Status::Up, "");
    let roots = if spec.tls == MailTls::None {
        None
    } else {
        match ctx.trust_roots(spec.certificate.ca_file.as_deref()).await {
            Ok(roots) => {
                for finding in roots.findings {
                    outcome.push(finding);
                }
                Some(roots.store)
            }
            Err(finding) => {
                let mut outcome = failed(&ctx, finding.into(), started);
                outcome.worsen(Status::Unknown);
                return outcome;
            }
        }
    };
    let resolution = match ctx.resolve(&spec.host, spec.port).await {
        Ok(r) => r,
        Err(fail) => return failed(&ctx, fail, started),
    };
    let mut timing = TimingBreakdown {
        dns_ms: resolution.dns.map(ms),
        ..TimingBreakdown::default()
    };
    let connected = match connect_first(&ctx, &resolution.addrs).await {
        Ok(c) => c,
        Err(fail) => {
            let mut outcome = failed(&ctx, fail, started);
            timing.total_ms = Some(ms(started.elapsed()));
            outcome.evidence.timing = Some(timing);
            return outcome;
        }
    };
    timing.connect_ms = Some(ms(connected.elapsed));
    outcome
        .evidence
        .insert("remote_address", connected.remote.to_string());
    let mut session = Session::new(spec, &ctx, Conn::Plain(connected.stream), roots, outcome);
    session
        .phases
        .insert("connect".into(), json!(ms(connected.elapsed)));
    session.run().await;
    session.into_outcome(timing, started)
}

/// One session of a mail check: the connection, what was learnt, and the
/// outcome being built.
pub(crate) struct Session<'a> {
    pub(crate) spec: &'a MailSpec,
    pub(crate) ctx: &'a ProbeContext,
    pub(crate) lines: LineReader,
    pub(crate) outcome: Outcome,
    roots: Option<Arc<RootCertStore>>,
    /// `host:port`, for sentences.
    pub(crate) target: String,
    /// Phase times in milliseconds, in the order they happened.
    phases: Map<String, Value>,
    /// TLS is in place (or a replay pretends it is).
    pub(crate) tls_active: bool,
    /// The certificate failed verification: nothing secret may be sent.
    pub(crate) tls_blocked: bool,
    /// What the handshake told, for the evidence.
    tls_evidence: Option<(Value, Value, String)>,
    cert_days_left: Option<f64>,
    /// Capabilities (EHLO keywords, IMAP capabilities, POP3 CAPA) before
    /// and after TLS.
    pub(crate) caps_before_tls: Option<Vec<String>>,
    pub(crate) caps: Option<Vec<String>>,
    /// How the session went, for the OK message.
    pub(crate) notes: Vec<&'static str>,
    tag: u32,
}

impl<'a> Session<'a> {
    pub(crate) fn new(
        spec: &'a MailSpec,
        ctx: &'a ProbeContext,
        conn: Conn,
        roots: Option<Arc<RootCertStore>>,
        outcome: Outcome,
    ) -> Self {
        Self {
            spec,
            ctx,
            lines: LineReader::new(conn),
            outcome,
            roots,
            target: format!("{}:{}", spec.host, spec.port),
            phases: Map::new(),
            tls_active: false,
            tls_blocked: false,
            tls_evidence: None,
            cert_days_left: None,
            caps_before_tls: None,
            caps: None,
            notes: Vec::new(),
            tag: 0,
        }
    }

    /// The whole dialogue, then the goodbye when the session allows it.
    pub(crate) async fn run(&mut self) {
        let result = self.dialogue().await;
        let polite = match &result {
            Ok(()) => true,
            Err(stop) => stop.usable(),
        };
        if let Err(stop) = result {
            self.record_stop(stop);
        }
        if polite {
            self.goodbye().await;
        }
    }

    async fn dialogue(&mut self) -> Result<(), Stop> {
        if self.spec.tls == MailTls::Implicit {
            self.upgrade().await?;
            self.notes.push("implicit TLS");
        }
        match self.spec.protocol {
            MailProtocol::Smtp => smtp::dialogue(self).await,
            MailProtocol::Imap => imap::dialogue(self).await,
            MailProtocol::Pop3 => pop3::dialogue(self).await,
            MailProtocol::Ftp => ftp::dialogue(self).await,
        }
    }

    /// QUIT / LOGOUT, bounded by [`GOODBYE_WAIT`] and half the time left,
    /// so that it never turns a result into a timeout. Its problems are
    /// not findings: the check is over.
    async fn goodbye(&mut self) {
        let left = self.ctx.remaining();
        if left < Duration::from_millis(100) {
            return;
        }
        let until = self.ctx.deadline_within(GOODBYE_WAIT.min(left / 2));
        let protocol = self.spec.protocol;
        let _ = tokio::time::timeout_at(until, async {
            match protocol {
                MailProtocol::Smtp => smtp::quit(self).await,
                MailProtocol::Imap => imap::logout(self).await,
                MailProtocol::Pop3 => pop3::quit(self).await,
                MailProtocol::Ftp => ftp::quit(self).await,
            }
        })
        .await;
    }

    fn record_stop(&mut self, stop: Stop) {
        match stop {
            Stop::Timeout { phase, partial } => {
                let mut finding = self.ctx.timeout_finding(phase);
                self.outcome.message = finding.text.clone();
                if let Some(partial) = partial {
                    finding.text.push_str(&format!(
                        "; the server had sent \"{partial}\" without ending the line"
                    ));
                } else if phase == GREETING && !self.tls_active && self.lines.received() == 0 {
                    // A TLS server waits for our handshake in silence.
                    finding.text.push_str(
                        "; nothing arrived: if this port speaks TLS from the start, set tls = \"implicit\"",
                    );
                }
                self.outcome.push(finding);
            }
            Stop::Problem {
                mut finding,
                message,
                ..
            } => {
                if finding.code == codes::TLS_HANDSHAKE_FAILED
                    && self.spec.tls == MailTls::Implicit
                    && !self.tls_active
                {
                    finding.text.push_str(
                        "; if this port starts in plain text, set tls = \"starttls\" (or \"none\")",
                    );
                }
                if finding.code == codes::PROBE_INTERNAL_ERROR {
                    self.outcome.worsen(Status::Unknown);
                }
                if let Some(message) = message {
                    self.outcome.message = message;
                }
                self.outcome.push(finding);
            }
        }
    }

    /// Records the time since `since` as phase `name`, once.
    pub(crate) fn phase_done(&mut self, name: &str, since: Instant) {
        self.phases
            .entry(name.to_owned())
            .or_insert_with(|| json!(ms(since.elapsed())));
    }

    /// A fresh IMAP tag (`a1`, `a2`, ...).
    pub(crate) fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("a{}", self.tag)
    }

    /// Sends one line.
    pub(crate) async fn send(&mut self, phase: &'static str, line: &str) -> Result<(), Stop> {
        self.lines.send(self.ctx, phase, line, None).await
    }

    /// Sends one line that carries a secret; the transcript shows `shown`.
    pub(crate) async fn send_secret(
        &mut self,
        phase: &'static str,
        line: &str,
        shown: &str,
    ) -> Result<(), Stop> {
        self.lines.send(self.ctx, phase, line, Some(shown)).await
    }

    /// Reads one line.
    pub(crate) async fn read_line(&mut self, phase: &'static str) -> Result<String, Stop> {
        self.lines.read_line(self.ctx, phase).await
    }

    /// Starts TLS on the connection and judges the certificate.
    pub(crate) async fn upgrade(&mut self) -> Result<(), Stop> {
        let since = Instant::now();
        let upgraded = self
            .lines
            .start_tls(
                self.ctx,
                self.roots.clone(),
                &self.spec.host,
                &self.spec.certificate,
            )
            .await?;
        self.tls_active = true;
        let Some(up) = upgraded else {
            return Ok(());
        };
        self.phases
            .insert("tls".into(), json!(ms(since.elapsed().max(up.elapsed))));
        for finding in up.judged.findings {
            if !self
                .outcome
                .findings
                .iter()
                .any(|f| f.code == finding.code && f.text == finding.text)
            {
                self.outcome.push(finding);
            }
        }
        self.tls_blocked = up.judged.blocked;
        self.cert_days_left = up.judged.analysis.certificates.first().map(|c| c.days_left);
        self.tls_evidence = Some((
            up.info.to_json(),
            Value::Array(
                up.judged
                    .analysis
                    .certificates
                    .iter()
                    .map(CertSummary::to_json)
                    .collect(),
            ),
            up.judged.verification,
        ));
        Ok(())
    }

    /// STARTTLS is not offered: Down when required, otherwise noted and
    /// the dialogue goes on in plain text.
    pub(crate) fn starttls_missing(&mut self, command: &str) -> Result<(), Stop> {
        let text = format!(
            "{} {} does not offer {command}",
            self.spec.protocol.name(),
            self.target
        );
        if self.spec.require_starttls {
            return Err(Stop::problem(codes::MAIL_STARTTLS_MISSING, text, true));
        }
        self.outcome.push(Finding::new(
            codes::MAIL_STARTTLS_MISSING,
            Severity::Info,
            format!("{text}; the check went on without TLS (require_starttls = false)"),
        ));
        self.notes.push("without TLS");
        Ok(())
    }

    /// Whether the password may be sent now; records why not otherwise.
    pub(crate) fn may_send_password(&mut self) -> bool {
        if self.tls_blocked {
            self.outcome.push(Finding::new(
                codes::MAIL_AUTH_SKIPPED,
                Severity::Info,
                "the login was not attempted because the certificate failed verification",
            ));
            return false;
        }
        if !self.tls_active {
            self.outcome.push(Finding::new(
                codes::MAIL_AUTH_SKIPPED,
                Severity::Warning,
                format!(
                    "the login was not attempted: {} offers no TLS, and the password is never sent in clear text",
                    self.target
                ),
            ));
            return false;
        }
        true
    }

    /// Checks the greeting (its lines joined by `\n`) against
    /// `expect_banner`.
    pub(crate) fn check_banner(&mut self, greeting: &str) {
        let Some(re) = &self.spec.expect_banner else {
            return;
        };
        if re.is_match(greeting) {
            return;
        }
        let shown: String = greeting.chars().take(200).collect();
        self.outcome.message = format!(
            "{} {} did not greet with the expected banner",
            self.spec.protocol.name(),
            self.target
        );
        self.outcome.push(Finding::new(
            codes::MAIL_BANNER_MISMATCH,
            Severity::Critical,
            format!(
                "{} greeted with \"{}\", which does not match /{}/",
                self.target,
                shown.escape_debug(),
                re.as_str()
            ),
        ));
    }

    fn ok_message(&self) -> String {
        let mut notes = self.notes.clone();
        if self.spec.tls == MailTls::None {
            notes.push("no TLS");
        }
        let detail = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
        };
        format!(
            "{} {} ready{detail}",
            self.spec.protocol.name(),
            self.target
        )
    }

    fn into_outcome(mut self, mut timing: TimingBreakdown, started: Instant) -> Outcome {
        let ok_message = self.ok_message();
        let spec = self.spec;
        let mut outcome = std::mem::replace(&mut self.outcome, Outcome::new(Status::Up, ""));
        timing.first_byte_ms = self.phases.get("banner").and_then(Value::as_f64);
        timing.tls_ms = self.phases.get("tls").and_then(Value::as_f64);
        timing.total_ms = Some(ms(started.elapsed()));
        self.phases
            .insert("total".into(), json!(timing.total_ms.unwrap_or_default()));
        outcome.evidence.timing = Some(timing);
        let e = &mut outcome.evidence;
        e.insert("protocol", spec.protocol.kind());
        e.insert("host", spec.host.clone());
        e.insert("port", spec.port);
        e.insert("tls_mode", spec.tls.as_str());
        e.insert("phases_ms", Value::Object(self.phases));
        if let Some(caps) = self.caps_before_tls {
            e.insert("capabilities_before_tls", caps);
        }
        if let Some(caps) = self.caps {
            e.insert("capabilities", caps);
        }
        if let Some((info, certificates, verification)) = self.tls_evidence {
            e.insert("tls", info);
            e.insert("certificates", certificates);
            e.insert("verification", verification);
        }
        if let Some(days) = self.cert_days_left {
            e.insert("cert_days_left", (days * 10.0).round() / 10.0);
        }
        if let Some(login) = &spec.login {
            e.insert("username", login.username.clone());
        }
        e.insert("transcript", self.lines.transcript());
        finish(outcome, ok_message, started)
    }
}

/// Entry points for the fuzz targets in `fuzz/`: the real dialogues run
/// against recorded server output. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;
    use keepup_config::{MailLogin, Secret, TlsOptions};

    thread_local! {
        static RUNTIME: Option<tokio::runtime::Runtime> = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .ok();
    }

    /// Runs the whole dialogue of `protocol` (STARTTLS, a login, goodbye)
    /// with `server_output` as everything the server says. TLS is a no-op
    /// on a replay, so every parser after it is reached too.
    pub fn dialogue(protocol: MailProtocol, server_output: &[u8]) -> Option<Outcome> {
        let spec = MailSpec {
            protocol,
            host: "mail.fuzz.test".into(),
            port: protocol.default_port(MailTls::StartTls),
            tls: MailTls::StartTls,
            require_starttls: true,
            expect_banner: None,
            ehlo: "keepup.fuzz.test".into(),
            login: Some(MailLogin {
                username: "probe".into(),
                password: Secret::new("secret".into()),
            }),
            auth_mechanism: None,
            certificate: TlsOptions::default(),
        };
        RUNTIME.with(|rt| {
            let rt = rt.as_ref()?;
            Some(rt.block_on(async {
                let ctx = ProbeContext::new().with_timeout(Duration::from_secs(5));
                let conn = Conn::Replay(line::Replay::new(server_output.to_vec()));
                let mut session =
                    Session::new(&spec, &ctx, conn, None, Outcome::new(Status::Up, ""));
                session.run().await;
                let started = Instant::now();
                session.into_outcome(TimingBreakdown::default(), started)
            }))
        })
    }

    /// Parses one SMTP reply line: code, whether it is the last line of
    /// its reply, and the text.
    pub fn smtp_reply_line(line: &str) -> Option<(u16, bool, &str)> {
        smtp::parse_reply_line(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(protocol: MailProtocol, server: &str) -> Outcome {
        fuzzing::dialogue(protocol, server.as_bytes()).unwrap()
    }

    fn codes_of(o: &Outcome) -> Vec<&str> {
        o.findings.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn a_complete_smtp_replay_is_up_and_hides_the_password() {
        let o = outcome(
            MailProtocol::Smtp,
            "220 mx ESMTP\r\n250-mx\r\n250 STARTTLS\r\n220 go\r\n250-mx\r\n250 AUTH PLAIN LOGIN\r\n235 ok\r\n221 bye\r\n",
        );
        assert_eq!(o.status, Status::Up, "{:?}", o.findings);
        let transcript = o.evidence.details["transcript"].to_string();
        assert!(transcript.contains("AUTH PLAIN ***"), "{transcript}");
        assert!(!transcript.contains("c2VjcmV0"), "{transcript}");
        assert!(!transcript.contains("secret"), "{transcript}");
    }

    #[test]
    fn ftp_replies_may_carry_uncoded_middle_lines() {
        // RFC 959 §4.2: between `ddd-` and `ddd ` any text may stand,
        // even a line that starts with another code or a space.
        let o = outcome(
            MailProtocol::Ftp,
            "220-Welcome\r\nthis line has no code\r\n 220 not the end\r\n220 ready\r\n234 go\r\n331 password\r\n230-hello\r\n\r\n530 only text\r\n230-more\r\n230 logged in\r\n221 bye\r\n",
        );
        assert_eq!(o.status, Status::Up, "{:?}", o.findings);
        assert!(o.message.contains("login ok"), "{}", o.message);

        // Still bounded: a reply that never ends is a protocol error.
        let endless = format!("220-Welcome\r\n{}", "text\r\n".repeat(300));
        let o = outcome(MailProtocol::Ftp, &endless);
        assert_eq!(codes_of(&o), vec![codes::MAIL_PROTOCOL_ERROR], "{o:?}");
    }

    #[test]
    fn replays_of_each_protocol_reach_the_login() {
        let o = outcome(
            MailProtocol::Imap,
            "* OK ready\r\n* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\na1 OK\r\na2 OK begin\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na3 OK\r\na4 NO [AUTHENTICATIONFAILED] bad\r\n* BYE\r\na5 OK\r\n",
        );
        assert_eq!(codes_of(&o), vec![codes::MAIL_AUTH_FAILED], "{o:?}");
        let o = outcome(
            MailProtocol::Pop3,
            "+OK hi\r\n+OK\r\nSTLS\r\nSASL\r\n.\r\n+OK go\r\n+OK\r\nUSER\r\n.\r\n+OK\r\n+OK in\r\n+OK bye\r\n",
        );
        assert_eq!(o.status, Status::Up, "{:?}", o.findings);
        assert!(
            !o.evidence.details["transcript"]
                .to_string()
                .contains("secret")
        );
    }
}
