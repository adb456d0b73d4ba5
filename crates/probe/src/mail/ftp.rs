//! The FTP control dialogue: greeting 220, `AUTH TLS` (RFC 4217) when TLS
//! is explicit, `USER`/`PASS` with the test account, `QUIT` (RFC 959).
//!
//! FTP replies look like SMTP's but are looser (RFC 959 §4.2): after a
//! first line `ddd-text`, the middle lines may carry any text, no code
//! or another code, until a line starting with the same `ddd ` ends the
//! reply; [`read_reply`] reads them so, bounded by
//! [`MAX_REPLY_LINES`] and the line limit. No data connection is opened.

use keepup_config::{MailLogin, MailTls};
use tokio::time::Instant;

use super::Session;
use super::line::{MAX_REPLY_LINES, Stop};
use super::smtp::{Reply, not_a_reply, parse_reply_line};
use crate::codes;

/// The FTP dialogue up to (not including) QUIT.
pub(crate) async fn dialogue(s: &mut Session<'_>) -> Result<(), Stop> {
    let since = Instant::now();
    let greeting = read_reply(s, super::GREETING).await?;
    s.phase_done("banner", since);
    s.check_banner(&greeting.lines.join("\n"));
    if greeting.code != 220 {
        return Err(Stop::quoting(
            codes::MAIL_GREETING_REJECTED,
            format!(
                "{} greeted with {} instead of 220 (ready)",
                s.target,
                greeting.shown()
            ),
            format!("FTP {} is not ready", s.target),
            true,
        ));
    }
    if s.spec.tls == MailTls::StartTls {
        let since = Instant::now();
        let phase = "waiting for the AUTH TLS reply";
        s.send(phase, "AUTH TLS").await?;
        let reply = read_reply(s, phase).await?;
        match reply.code {
            234 => {
                s.phase_done("starttls", since);
                s.upgrade().await?;
                s.notes.push("AUTH TLS");
            }
            // Not implemented, not understood, not available.
            500 | 502 | 504 | 534 => s.starttls_missing("AUTH TLS")?,
            _ => {
                return Err(Stop::quoting(
                    codes::MAIL_STARTTLS_REFUSED,
                    format!("{} refused AUTH TLS: {}", s.target, reply.shown()),
                    format!("FTP {} refused AUTH TLS", s.target),
                    true,
                ));
            }
        }
    }
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
    let refused = |s: &Session<'_>, reply: &Reply| {
        Stop::quoting(
            codes::MAIL_AUTH_FAILED,
            format!(
                "{} refused the test account {}: {}",
                s.target,
                login.username,
                reply.shown()
            ),
            format!("FTP login of {} at {} failed", login.username, s.target),
            true,
        )
    };
    s.send(phase, &format!("USER {}", login.username)).await?;
    let mut reply = read_reply(s, phase).await?;
    if reply.code == 331 {
        s.send_secret(
            phase,
            &format!("PASS {}", login.password.expose()),
            "PASS ***",
        )
        .await?;
        reply = read_reply(s, phase).await?;
    }
    if reply.code != 230 {
        return Err(refused(s, &reply));
    }
    s.phase_done("auth", since);
    s.notes.push("login ok");
    Ok(())
}

/// QUIT and its reply.
pub(crate) async fn quit(s: &mut Session<'_>) -> Result<(), Stop> {
    s.send("sending QUIT", "QUIT").await?;
    read_reply(s, "waiting for the QUIT reply").await?;
    Ok(())
}

/// Reads one complete FTP reply: a single `ddd text` line, or `ddd-text`
/// and then any lines up to one that starts with the same `ddd `.
async fn read_reply(s: &mut Session<'_>, phase: &'static str) -> Result<Reply, Stop> {
    let first = s.read_line(phase).await?;
    let Some((code, last, text)) = parse_reply_line(&first) else {
        return Err(not_a_reply(s, &first, phase));
    };
    let mut lines = vec![text.to_owned()];
    let mut last = last;
    while !last {
        if lines.len() >= MAX_REPLY_LINES {
            return Err(Stop::protocol(format!(
                "one reply has more than {MAX_REPLY_LINES} lines (while {phase})"
            )));
        }
        let line = s.read_line(phase).await?;
        let text = match parse_reply_line(&line) {
            Some((this, true, text)) if this == code => {
                last = true;
                text
            }
            // A middle line that repeats the code keeps only its text;
            // any other middle line is text as it stands.
            Some((this, false, text)) if this == code => text,
            _ => line.as_str(),
        };
        lines.push(text.to_owned());
    }
    Ok(Reply { code, lines })
}
