//! The FTP control dialogue: greeting 220, `AUTH TLS` (RFC 4217) when TLS
//! is explicit, `USER`/`PASS` with the test account, `QUIT` (RFC 959).
//!
//! FTP replies have SMTP's shape (`ddd-text` lines ending with
//! `ddd text`), so they are read with [`super::smtp::read_reply`]; a
//! multi-line reply whose middle lines carry no code (RFC 959 allows it)
//! is refused as a protocol error. No data connection is opened; the
//! goodbye is SMTP's `QUIT` ([`super::smtp::quit`]).

use keepup_config::{MailLogin, MailTls};
use tokio::time::Instant;

use super::Session;
use super::line::Stop;
use super::smtp::{Reply, read_reply};
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
