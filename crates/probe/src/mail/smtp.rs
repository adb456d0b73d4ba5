//! The SMTP dialogue: greeting 220, EHLO, STARTTLS and EHLO again, AUTH
//! with the test account, QUIT (RFC 5321, 3207, 4954).
//!
//! Replies are read with [`read_reply`]: one or more lines `ddd-text`
//! ending with `ddd text`, all with the same code, at most
//! [`MAX_REPLY_LINES`] of them.

use keepup_config::{MailLogin, MailTls, SmtpAuthMechanism};
use keepup_model::text::base64;
use keepup_model::{Finding, Severity};
use tokio::time::Instant;

use super::Session;
use super::line::{MAX_REPLY_LINES, Stop};
use crate::codes;

/// One SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) code: u16,
    /// The text of each line, without code and separator.
    pub(crate) lines: Vec<String>,
}

impl Reply {
    /// `250 text / more text`, for findings.
    pub(crate) fn shown(&self) -> String {
        let text = self.lines.join(" / ");
        let text: String = text.chars().take(200).collect();
        format!("{} {}", self.code, text.escape_debug())
    }
}

/// Parses one reply line: `ddd`, `ddd text` (last line) or `ddd-text`
/// (more to come). The code's first digit is 2 to 5.
pub(crate) fn parse_reply_line(line: &str) -> Option<(u16, bool, &str)> {
    let bytes = line.as_bytes();
    let digits = bytes.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&digits[0]) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    // The first three bytes are ASCII digits, so index 3 and 4 are
    // character boundaries.
    match bytes.get(3) {
        None => Some((code, true, "")),
        Some(b' ') => Some((code, true, &line[4..])),
        Some(b'-') => Some((code, false, &line[4..])),
        Some(_) => None,
    }
}

/// The stop for a line that does not start a reply (SMTP and FTP).
pub(crate) fn not_a_reply(s: &Session<'_>, line: &str, phase: &'static str) -> Stop {
    let shown: String = line.chars().take(80).collect();
    Stop::quoting(
        codes::MAIL_PROTOCOL_ERROR,
        format!(
            "the server answered \"{}\", which is not an {} reply (while {phase})",
            shown.escape_debug(),
            s.spec.protocol.name()
        ),
        format!(
            "the server's answer is not an {} reply (while {phase})",
            s.spec.protocol.name()
        ),
        false,
    )
}

/// Reads one complete (possibly multi-line) reply.
pub(crate) async fn read_reply(s: &mut Session<'_>, phase: &'static str) -> Result<Reply, Stop> {
    let mut code = None;
    let mut lines = Vec::new();
    loop {
        let line = s.read_line(phase).await?;
        let Some((this, last, text)) = parse_reply_line(&line) else {
            return Err(not_a_reply(s, &line, phase));
        };
        if *code.get_or_insert(this) != this {
            return Err(Stop::protocol(format!(
                "the lines of one reply carry different codes (while {phase})"
            )));
        }
        lines.push(text.to_owned());
        if last {
            return Ok(Reply { code: this, lines });
        }
        if lines.len() >= MAX_REPLY_LINES {
            return Err(Stop::protocol(format!(
                "one reply has more than {MAX_REPLY_LINES} lines (while {phase})"
            )));
        }
    }
}

/// What EHLO announced.
#[derive(Debug, Default)]
struct Extensions {
    /// Keywords, upper case (`STARTTLS`, `AUTH`, `SIZE`, ...).
    keywords: Vec<String>,
    /// SASL mechanisms from `AUTH` (and the old `AUTH=` form), upper case.
    auth: Vec<String>,
}

impl Extensions {
    fn parse(reply: &Reply) -> Self {
        let mut ext = Extensions::default();
        // The first line is the server's name; extensions follow.
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(first) = words.next() else { continue };
            let upper = first.to_ascii_uppercase();
            let (keyword, inline) = match upper.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (upper, None),
            };
            if keyword == "AUTH" {
                for mech in inline.into_iter().chain(words.map(str::to_ascii_uppercase)) {
                    if !mech.is_empty() && !ext.auth.contains(&mech) {
                        ext.auth.push(mech);
                    }
                }
            }
            if !ext.keywords.contains(&keyword) {
                ext.keywords.push(keyword);
            }
        }
        ext
    }

    fn has(&self, keyword: &str) -> bool {
        self.keywords.iter().any(|k| k == keyword)
    }
}

/// Sends EHLO and reads the extensions.
async fn ehlo(s: &mut Session<'_>, phase: &'static str) -> Result<Extensions, Stop> {
    let command = format!("EHLO {}", s.spec.ehlo);
    s.send(phase, &command).await?;
    let reply = read_reply(s, phase).await?;
    if reply.code != 250 {
        return Err(Stop::quoting(
            codes::MAIL_COMMAND_FAILED,
            format!("{} refused EHLO: {}", s.target, reply.shown()),
            format!("SMTP {} refused EHLO", s.target),
            true,
        ));
    }
    Ok(Extensions::parse(&reply))
}

/// The SMTP dialogue up to (not including) QUIT.
pub(crate) async fn dialogue(s: &mut Session<'_>) -> Result<(), Stop> {
    let since = Instant::now();
    let greeting = read_reply(s, super::GREETING).await?;
    s.phase_done("banner", since);
    let banner: Vec<String> = greeting
        .lines
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let sep = if i + 1 == greeting.lines.len() {
                ' '
            } else {
                '-'
            };
            format!("{}{sep}{text}", greeting.code)
        })
        .collect();
    s.check_banner(&banner.join("\n"));
    if greeting.code != 220 {
        return Err(Stop::quoting(
            codes::MAIL_GREETING_REJECTED,
            format!(
                "{} greeted with {} instead of 220 (ready)",
                s.target,
                greeting.shown()
            ),
            format!("SMTP {} refused the session", s.target),
            true,
        ));
    }
    let mut ext = ehlo(s, "waiting for the EHLO reply").await?;
    if s.spec.tls == MailTls::StartTls {
        s.caps_before_tls = Some(ext.keywords.clone());
        if ext.has("AUTH") {
            s.outcome.push(Finding::new(
                codes::SMTP_AUTH_BEFORE_TLS,
                Severity::Warning,
                format!(
                    "{} advertises AUTH before STARTTLS, so clients may send passwords in clear text",
                    s.target
                ),
            ));
        }
        if ext.has("STARTTLS") {
            let since = Instant::now();
            s.send("sending STARTTLS", "STARTTLS").await?;
            let reply = read_reply(s, "waiting for the STARTTLS reply").await?;
            if reply.code != 220 {
                return Err(Stop::quoting(
                    codes::MAIL_STARTTLS_REFUSED,
                    format!("{} refused STARTTLS: {}", s.target, reply.shown()),
                    format!("SMTP {} refused STARTTLS", s.target),
                    true,
                ));
            }
            s.phase_done("starttls", since);
            s.upgrade().await?;
            s.notes.push("STARTTLS");
            ext = ehlo(s, "waiting for the EHLO reply after STARTTLS").await?;
        } else {
            s.starttls_missing("STARTTLS")?;
        }
    }
    s.caps = Some(ext.keywords.clone());
    if let Some(login) = s.spec.login.clone() {
        auth(s, &ext, &login).await?;
    }
    Ok(())
}

/// AUTH PLAIN or LOGIN with the test account.
async fn auth(s: &mut Session<'_>, ext: &Extensions, login: &MailLogin) -> Result<(), Stop> {
    if !s.may_send_password() {
        return Ok(());
    }
    let offered = |m: &str| ext.auth.iter().any(|a| a == m);
    let mechanism = match s.spec.auth_mechanism {
        Some(m) => m,
        None if offered("PLAIN") => SmtpAuthMechanism::Plain,
        None if offered("LOGIN") => SmtpAuthMechanism::Login,
        None => {
            let what = if ext.auth.is_empty() {
                "does not offer AUTH".to_owned()
            } else {
                format!(
                    "offers neither AUTH PLAIN nor LOGIN (only {})",
                    ext.auth.join(", ")
                )
            };
            return Err(Stop::problem(
                codes::MAIL_AUTH_UNAVAILABLE,
                format!("{} {what}, so the test account cannot log in", s.target),
                true,
            ));
        }
    };
    let name = match mechanism {
        SmtpAuthMechanism::Plain => "PLAIN",
        SmtpAuthMechanism::Login => "LOGIN",
    };
    if !offered(name) {
        return Err(Stop::problem(
            codes::MAIL_AUTH_UNAVAILABLE,
            format!("{} does not offer AUTH {name}", s.target),
            true,
        ));
    }
    let since = Instant::now();
    let user = login.username.as_str();
    let password = login.password.expose();
    let phase = "waiting for the AUTH reply";
    let reply = match mechanism {
        SmtpAuthMechanism::Plain => {
            let token = base64(format!("\0{user}\0{password}").as_bytes());
            s.send_secret(
                "sending AUTH",
                &format!("AUTH PLAIN {token}"),
                "AUTH PLAIN ***",
            )
            .await?;
            read_reply(s, phase).await?
        }
        SmtpAuthMechanism::Login => {
            s.send("sending AUTH", "AUTH LOGIN").await?;
            let mut reply = read_reply(s, phase).await?;
            for secret in [user, password] {
                if reply.code != 334 {
                    break;
                }
                s.send_secret("sending AUTH", &base64(secret.as_bytes()), "***")
                    .await?;
                reply = read_reply(s, phase).await?;
            }
            reply
        }
    };
    if reply.code != 235 {
        return Err(Stop::quoting(
            codes::MAIL_AUTH_FAILED,
            format!(
                "{} refused the test account {user} (AUTH {name}): {}",
                s.target,
                reply.shown()
            ),
            format!("SMTP login of {user} at {} failed", s.target),
            true,
        ));
    }
    s.phase_done("auth", since);
    s.notes.push("login ok");
    Ok(())
}

/// QUIT and its reply; errors are not findings.
pub(crate) async fn quit(s: &mut Session<'_>) -> Result<(), Stop> {
    s.send("sending QUIT", "QUIT").await?;
    read_reply(s, "waiting for the QUIT reply").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines_parse() {
        assert_eq!(
            parse_reply_line("220 mx ESMTP"),
            Some((220, true, "mx ESMTP"))
        );
        assert_eq!(
            parse_reply_line("250-PIPELINING"),
            Some((250, false, "PIPELINING"))
        );
        assert_eq!(parse_reply_line("250"), Some((250, true, "")));
        assert_eq!(
            parse_reply_line("554 5.7.1 no"),
            Some((554, true, "5.7.1 no"))
        );
        assert_eq!(parse_reply_line("hello"), None);
        assert_eq!(parse_reply_line("25"), None);
        assert_eq!(parse_reply_line("2500"), None);
        assert_eq!(parse_reply_line("650 x"), None);
        assert_eq!(parse_reply_line("22é"), None);
    }

    #[test]
    fn extensions_and_auth_mechanisms() {
        let reply = Reply {
            code: 250,
            lines: vec![
                "mx.example".into(),
                "SIZE 1000".into(),
                "starttls".into(),
                "AUTH PLAIN login".into(),
                "AUTH=CRAM-MD5".into(),
            ],
        };
        let ext = Extensions::parse(&reply);
        assert_eq!(ext.keywords, vec!["SIZE", "STARTTLS", "AUTH"]);
        assert_eq!(ext.auth, vec!["PLAIN", "LOGIN", "CRAM-MD5"]);
        assert!(ext.has("STARTTLS"));
    }
}
