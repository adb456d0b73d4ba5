//! The IMAP dialogue: greeting, CAPABILITY, STARTTLS (LOGINDISABLED
//! expected before it) and CAPABILITY again, LOGIN with the test account,
//! LOGOUT (RFC 3501, 2595).
//!
//! Responses are read with [`read_tagged`]: untagged `*` lines (at most
//! [`MAX_REPLY_LINES`], literals skipped within the session limit) up to
//! the tagged `OK`/`NO`/`BAD` of the command.

use keepup_config::{MailLogin, MailTls};
use keepup_model::{Finding, Severity};
use tokio::time::Instant;

use super::Session;
use super::line::{MAX_REPLY_LINES, Stop};
use crate::codes;

/// The tagged completion of a command, with the untagged lines before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tagged {
    /// `OK`, `NO` or `BAD`.
    pub(crate) status: String,
    /// The rest of the tagged line.
    pub(crate) text: String,
    /// Untagged responses, without the leading `* `.
    pub(crate) untagged: Vec<String>,
}

impl Tagged {
    fn ok(&self) -> bool {
        self.status == "OK"
    }

    fn shown(&self) -> String {
        let text: String = self.text.chars().take(200).collect();
        format!("{} {}", self.status, text.escape_debug())
    }
}

/// Splits off the first space-separated word.
fn first_word(s: &str) -> (&str, &str) {
    match s.split_once(' ') {
        Some((w, rest)) => (w, rest),
        None => (s, ""),
    }
}

/// The size of the literal that ends `line` (`{12}` or `{12+}`), if any.
pub(crate) fn literal_len(line: &str) -> Option<usize> {
    let inner = line.strip_suffix('}')?;
    let open = inner.rfind('{')?;
    let digits = inner[open + 1..].trim_end_matches('+');
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The capabilities announced in untagged `CAPABILITY` responses, upper
/// case.
pub(crate) fn capabilities(untagged: &[String]) -> Vec<String> {
    let mut caps: Vec<String> = Vec::new();
    for line in untagged {
        let (word, rest) = first_word(line);
        if word.eq_ignore_ascii_case("CAPABILITY") {
            for cap in rest.split_ascii_whitespace() {
                let cap = cap.to_ascii_uppercase();
                if !caps.contains(&cap) {
                    caps.push(cap);
                }
            }
        }
    }
    caps
}

/// Reads responses until the one tagged `tag`. An untagged `BYE` ends the
/// session unless `bye_expected` (LOGOUT).
pub(crate) async fn read_tagged(
    s: &mut Session<'_>,
    tag: &str,
    phase: &'static str,
    bye_expected: bool,
) -> Result<Tagged, Stop> {
    let mut untagged: Vec<String> = Vec::new();
    let mut lines = 0usize;
    loop {
        let line = s.read_line(phase).await?;
        lines += 1;
        if lines > MAX_REPLY_LINES {
            return Err(Stop::protocol(format!(
                "one response has more than {MAX_REPLY_LINES} lines (while {phase})"
            )));
        }
        if let Some(rest) = line.strip_prefix("* ") {
            // A literal inside an untagged response: skip its bytes; the
            // response goes on with the next line.
            let mut tail = line.clone();
            while let Some(n) = literal_len(&tail) {
                s.lines.skip(s.ctx, phase, n).await?;
                tail = s.read_line(phase).await?;
                lines += 1;
                if lines > MAX_REPLY_LINES {
                    return Err(Stop::protocol(format!(
                        "one response has more than {MAX_REPLY_LINES} lines (while {phase})"
                    )));
                }
            }
            let (word, _) = first_word(rest);
            if word.eq_ignore_ascii_case("BYE") && !bye_expected {
                let shown: String = rest.chars().take(200).collect();
                return Err(Stop::quoting(
                    codes::MAIL_CONNECTION_CLOSED,
                    format!(
                        "{} ended the session while {phase}: * {}",
                        s.target,
                        shown.escape_debug()
                    ),
                    format!("IMAP {} ended the session while {phase}", s.target),
                    false,
                ));
            }
            untagged.push(rest.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
            let (word, text) = first_word(rest);
            let status = word.to_ascii_uppercase();
            if matches!(status.as_str(), "OK" | "NO" | "BAD") {
                return Ok(Tagged {
                    status,
                    text: text.to_owned(),
                    untagged,
                });
            }
        }
        let shown: String = line.chars().take(80).collect();
        return Err(Stop::quoting(
            codes::MAIL_PROTOCOL_ERROR,
            format!(
                "the server answered \"{}\", which is not an IMAP response to {tag} (while {phase})",
                shown.escape_debug()
            ),
            format!("the server's answer is not an IMAP response (while {phase})"),
            false,
        ));
    }
}

/// Sends CAPABILITY and returns the capabilities.
async fn capability(s: &mut Session<'_>, phase: &'static str) -> Result<Vec<String>, Stop> {
    let tag = s.next_tag();
    s.send(phase, &format!("{tag} CAPABILITY")).await?;
    let done = read_tagged(s, &tag, phase, false).await?;
    if !done.ok() {
        return Err(Stop::quoting(
            codes::MAIL_COMMAND_FAILED,
            format!("{} refused CAPABILITY: {}", s.target, done.shown()),
            format!("IMAP {} refused CAPABILITY", s.target),
            true,
        ));
    }
    Ok(capabilities(&done.untagged))
}

/// The IMAP dialogue up to (not including) LOGOUT.
pub(crate) async fn dialogue(s: &mut Session<'_>) -> Result<(), Stop> {
    let since = Instant::now();
    let greeting = s.read_line(super::GREETING).await?;
    s.phase_done("banner", since);
    s.check_banner(&greeting);
    let (word, _) = first_word(greeting.strip_prefix("* ").unwrap_or(""));
    match word.to_ascii_uppercase().as_str() {
        "OK" => {}
        "PREAUTH" => s.notes.push("preauthenticated"),
        "BYE" => {
            let shown: String = greeting.chars().take(200).collect();
            return Err(Stop::quoting(
                codes::MAIL_GREETING_REJECTED,
                format!("{} refused the session: {}", s.target, shown.escape_debug()),
                format!("IMAP {} refused the session", s.target),
                false,
            ));
        }
        _ => {
            let shown: String = greeting.chars().take(80).collect();
            return Err(Stop::quoting(
                codes::MAIL_GREETING_REJECTED,
                format!(
                    "{} greeted with \"{}\" instead of \"* OK\"",
                    s.target,
                    shown.escape_debug()
                ),
                format!("IMAP {} did not send an IMAP greeting", s.target),
                false,
            ));
        }
    }
    let mut caps = capability(s, "waiting for the CAPABILITY reply").await?;
    if s.spec.tls == MailTls::StartTls {
        s.caps_before_tls = Some(caps.clone());
        if !caps.iter().any(|c| c == "LOGINDISABLED") {
            s.outcome.push(Finding::new(
                codes::IMAP_LOGIN_BEFORE_TLS,
                Severity::Warning,
                format!(
                    "{} does not announce LOGINDISABLED before STARTTLS, so clients may log in in clear text",
                    s.target
                ),
            ));
        }
        if caps.iter().any(|c| c == "STARTTLS") {
            let since = Instant::now();
            let tag = s.next_tag();
            let phase = "waiting for the STARTTLS reply";
            s.send(phase, &format!("{tag} STARTTLS")).await?;
            let done = read_tagged(s, &tag, phase, false).await?;
            if !done.ok() {
                return Err(Stop::quoting(
                    codes::MAIL_STARTTLS_REFUSED,
                    format!("{} refused STARTTLS: {}", s.target, done.shown()),
                    format!("IMAP {} refused STARTTLS", s.target),
                    true,
                ));
            }
            s.phase_done("starttls", since);
            s.upgrade().await?;
            s.notes.push("STARTTLS");
            caps = capability(s, "waiting for the CAPABILITY reply after STARTTLS").await?;
        } else {
            s.starttls_missing("STARTTLS")?;
        }
    }
    s.caps = Some(caps.clone());
    if let Some(login) = s.spec.login.clone() {
        log_in(s, &caps, &login).await?;
    }
    Ok(())
}

/// Whether `s` can be sent as a quoted string (printable ASCII).
fn quotable(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// LOGIN with the test account; arguments that are not printable ASCII go
/// as literals.
async fn log_in(s: &mut Session<'_>, caps: &[String], login: &MailLogin) -> Result<(), Stop> {
    if !s.may_send_password() {
        return Ok(());
    }
    if caps.iter().any(|c| c == "LOGINDISABLED") {
        return Err(Stop::problem(
            codes::MAIL_AUTH_UNAVAILABLE,
            format!(
                "{} announces LOGINDISABLED even over TLS, so the test account cannot log in",
                s.target
            ),
            true,
        ));
    }
    let since = Instant::now();
    let tag = s.next_tag();
    let phase = "waiting for the LOGIN reply";
    let mut pending = format!("{tag} LOGIN");
    let mut shown = format!("{tag} LOGIN ***");
    for arg in [login.username.as_str(), login.password.expose()] {
        if quotable(arg) {
            pending.push(' ');
            pending.push_str(&quoted(arg));
            continue;
        }
        pending.push_str(&format!(" {{{}}}", arg.len()));
        s.send_secret("sending LOGIN", &pending, &shown).await?;
        shown = "*** (continued)".to_owned();
        let reply = s.read_line(phase).await?;
        if !reply.starts_with('+') {
            let shown: String = reply.chars().take(200).collect();
            return Err(Stop::quoting(
                codes::MAIL_AUTH_FAILED,
                format!(
                    "{} refused the LOGIN of {}: {}",
                    s.target,
                    login.username,
                    shown.escape_debug()
                ),
                format!("IMAP login of {} at {} failed", login.username, s.target),
                false,
            ));
        }
        pending = arg.to_owned();
    }
    s.send_secret("sending LOGIN", &pending, &shown).await?;
    let done = read_tagged(s, &tag, phase, false).await?;
    if !done.ok() {
        return Err(Stop::quoting(
            codes::MAIL_AUTH_FAILED,
            format!(
                "{} refused the test account {}: {}",
                s.target,
                login.username,
                done.shown()
            ),
            format!("IMAP login of {} at {} failed", login.username, s.target),
            true,
        ));
    }
    s.phase_done("auth", since);
    s.notes.push("login ok");
    Ok(())
}

/// LOGOUT and its reply; errors are not findings.
pub(crate) async fn logout(s: &mut Session<'_>) -> Result<(), Stop> {
    let tag = s.next_tag();
    let phase = "waiting for the LOGOUT reply";
    s.send(phase, &format!("{tag} LOGOUT")).await?;
    read_tagged(s, &tag, phase, true).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_recognised() {
        assert_eq!(literal_len("* 1 FETCH (BODY {12}"), Some(12));
        assert_eq!(literal_len("* ID {3+}"), Some(3));
        assert_eq!(literal_len("* OK {}"), None);
        assert_eq!(literal_len("* OK {x}"), None);
        assert_eq!(literal_len("* OK {99999999999}"), None);
        assert_eq!(literal_len("* OK done"), None);
    }

    #[test]
    fn capabilities_are_collected_upper_case() {
        let untagged = vec![
            "capability IMAP4rev1 StartTLS LOGINDISABLED".to_owned(),
            "OK [ALERT] hi".to_owned(),
            "CAPABILITY IDLE imap4rev1".to_owned(),
        ];
        assert_eq!(
            capabilities(&untagged),
            vec!["IMAP4REV1", "STARTTLS", "LOGINDISABLED", "IDLE"]
        );
    }

    #[test]
    fn quoting_escapes_and_detects_literals() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert!(quotable("probe@shop.test"));
        assert!(!quotable("pässword"));
        assert!(!quotable("tab\there"));
    }
}
