//! The POP3 dialogue: greeting `+OK`, CAPA, STLS and CAPA again, USER and
//! PASS with the test account, QUIT (RFC 1939, 2449, 2595).
//!
//! Single-line responses start with `+OK` or `-ERR`; CAPA's multi-line
//! response ends with a line holding a single dot (dot-stuffed lines are
//! unstuffed) and has at most [`MAX_REPLY_LINES`] lines.

use keepup_config::{MailLogin, MailTls};
use keepup_model::{Finding, Severity};
use tokio::time::Instant;

use super::Session;
use super::line::{MAX_REPLY_LINES, Stop};
use crate::codes;

/// Parses a status line: `Some((true, text))` for `+OK`, `Some((false,
/// text))` for `-ERR`, `None` for anything else.
pub(crate) fn parse_status(line: &str) -> Option<(bool, &str)> {
    for (indicator, ok) in [("+OK", true), ("-ERR", false)] {
        let Some(head) = line.get(..indicator.len()) else {
            continue;
        };
        if !head.eq_ignore_ascii_case(indicator) {
            continue;
        }
        let rest = &line[indicator.len()..];
        if rest.is_empty() {
            return Some((ok, ""));
        }
        if let Some(text) = rest.strip_prefix(' ') {
            return Some((ok, text));
        }
    }
    None
}

/// Reads one status line.
async fn read_status(s: &mut Session<'_>, phase: &'static str) -> Result<(bool, String), Stop> {
    let line = s.read_line(phase).await?;
    match parse_status(&line) {
        Some((ok, text)) => Ok((ok, text.to_owned())),
        None => {
            let shown: String = line.chars().take(80).collect();
            Err(Stop::quoting(
                codes::MAIL_PROTOCOL_ERROR,
                format!(
                    "the server answered \"{}\", which is not a POP3 response (while {phase})",
                    shown.escape_debug()
                ),
                format!("the server's answer is not a POP3 response (while {phase})"),
                false,
            ))
        }
    }
}

/// Reads the body of a multi-line response, up to the terminating dot.
async fn read_multiline(s: &mut Session<'_>, phase: &'static str) -> Result<Vec<String>, Stop> {
    let mut lines = Vec::new();
    loop {
        let line = s.read_line(phase).await?;
        if line == "." {
            return Ok(lines);
        }
        if lines.len() >= MAX_REPLY_LINES {
            return Err(Stop::protocol(format!(
                "one response has more than {MAX_REPLY_LINES} lines (while {phase})"
            )));
        }
        let unstuffed = line.strip_prefix('.').unwrap_or(&line);
        lines.push(unstuffed.to_owned());
    }
}

/// What CAPA announced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Capa {
    /// Capability names, upper case.
    pub(crate) names: Vec<String>,
    /// SASL mechanisms, upper case.
    pub(crate) sasl: Vec<String>,
}

impl Capa {
    pub(crate) fn parse(lines: &[String]) -> Self {
        let mut capa = Capa::default();
        for line in lines {
            let mut words = line.split_ascii_whitespace();
            let Some(name) = words.next() else { continue };
            let name = name.to_ascii_uppercase();
            if name == "SASL" {
                capa.sasl.extend(words.map(str::to_ascii_uppercase));
            }
            if !capa.names.contains(&name) {
                capa.names.push(name);
            }
        }
        capa
    }

    fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// Whether a plain-text login is offered: USER/PASS, or SASL PLAIN or
    /// LOGIN.
    fn plain_login(&self) -> bool {
        self.has("USER") || self.sasl.iter().any(|m| m == "PLAIN" || m == "LOGIN")
    }
}

/// Sends CAPA; a server without CAPA (`-ERR`) has no capabilities.
async fn capa(s: &mut Session<'_>, phase: &'static str) -> Result<Capa, Stop> {
    s.send(phase, "CAPA").await?;
    let (ok, _) = read_status(s, phase).await?;
    if !ok {
        return Ok(Capa::default());
    }
    let lines = read_multiline(s, phase).await?;
    Ok(Capa::parse(&lines))
}

fn shown(text: &str) -> String {
    let text: String = text.chars().take(200).collect();
    text.escape_debug().to_string()
}

/// The POP3 dialogue up to (not including) QUIT.
pub(crate) async fn dialogue(s: &mut Session<'_>) -> Result<(), Stop> {
    let since = Instant::now();
    let greeting = s.read_line(super::GREETING).await?;
    s.phase_done("banner", since);
    s.check_banner(&greeting);
    match parse_status(&greeting) {
        Some((true, _)) => {}
        Some((false, text)) => {
            return Err(Stop::quoting(
                codes::MAIL_GREETING_REJECTED,
                format!("{} refused the session: -ERR {}", s.target, shown(text)),
                format!("POP3 {} refused the session", s.target),
                true,
            ));
        }
        None => {
            return Err(Stop::quoting(
                codes::MAIL_GREETING_REJECTED,
                format!(
                    "{} greeted with \"{}\" instead of \"+OK\"",
                    s.target,
                    shown(&greeting)
                ),
                format!("POP3 {} did not send a POP3 greeting", s.target),
                false,
            ));
        }
    }
    let mut caps = capa(s, "waiting for the CAPA reply").await?;
    if s.spec.tls == MailTls::StartTls {
        s.caps_before_tls = Some(caps.names.clone());
        if caps.plain_login() {
            s.outcome.push(Finding::new(
                codes::POP3_LOGIN_BEFORE_TLS,
                Severity::Warning,
                format!(
                    "{} offers a plain-text login (USER or SASL PLAIN/LOGIN) before STLS, so clients may log in in clear text",
                    s.target
                ),
            ));
        }
        if caps.has("STLS") {
            let since = Instant::now();
            let phase = "waiting for the STLS reply";
            s.send(phase, "STLS").await?;
            let (ok, text) = read_status(s, phase).await?;
            if !ok {
                return Err(Stop::quoting(
                    codes::MAIL_STARTTLS_REFUSED,
                    format!("{} refused STLS: -ERR {}", s.target, shown(&text)),
                    format!("POP3 {} refused STLS", s.target),
                    true,
                ));
            }
            s.phase_done("starttls", since);
            s.upgrade().await?;
            s.notes.push("STLS");
            caps = capa(s, "waiting for the CAPA reply after STLS").await?;
        } else {
            s.starttls_missing("STLS")?;
        }
    }
    s.caps = Some(caps.names.clone());
    if let Some(login) = s.spec.login.clone() {
        log_in(s, &login).await?;
    }
    Ok(())
}

/// USER and PASS with the test account.
async fn log_in(s: &mut Session<'_>, login: &MailLogin) -> Result<(), Stop> {
    if !s.may_send_password() {
        return Ok(());
    }
    let since = Instant::now();
    let phase = "waiting for the USER/PASS reply";
    let refused = |s: &Session<'_>, text: &str| {
        Stop::quoting(
            codes::MAIL_AUTH_FAILED,
            format!(
                "{} refused the test account {}: -ERR {}",
                s.target,
                login.username,
                shown(text)
            ),
            format!("POP3 login of {} at {} failed", login.username, s.target),
            true,
        )
    };
    s.send(phase, &format!("USER {}", login.username)).await?;
    let (ok, text) = read_status(s, phase).await?;
    if !ok {
        return Err(refused(s, &text));
    }
    s.send_secret(
        phase,
        &format!("PASS {}", login.password.expose()),
        "PASS ***",
    )
    .await?;
    let (ok, text) = read_status(s, phase).await?;
    if !ok {
        return Err(refused(s, &text));
    }
    s.phase_done("auth", since);
    s.notes.push("login ok");
    Ok(())
}

/// QUIT and its reply; errors are not findings.
pub(crate) async fn quit(s: &mut Session<'_>) -> Result<(), Stop> {
    let phase = "waiting for the QUIT reply";
    s.send(phase, "QUIT").await?;
    read_status(s, phase).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status("+OK ready"), Some((true, "ready")));
        assert_eq!(parse_status("+ok"), Some((true, "")));
        assert_eq!(parse_status("-ERR no"), Some((false, "no")));
        assert_eq!(parse_status("+OKAY"), None);
        assert_eq!(parse_status("220 smtp"), None);
        assert_eq!(parse_status("+O"), None);
        assert_eq!(parse_status("+Oé"), None);
    }

    #[test]
    fn capa_names_and_sasl() {
        let capa = Capa::parse(&["TOP".into(), "sasl PLAIN login".into(), "USER".into()]);
        assert_eq!(capa.names, vec!["TOP", "SASL", "USER"]);
        assert_eq!(capa.sasl, vec!["PLAIN", "LOGIN"]);
        assert!(capa.plain_login());
        assert!(!Capa::parse(&["STLS".into(), "SASL".into()]).plain_login());
    }
}
