//! The demo shop's mail server: a minimal in-process SMTP server on
//! loopback that speaks just enough real SMTP (RFC 5321) for an `smtp`
//! check with STARTTLS (RFC 3207): the 220 greeting, EHLO advertising
//! STARTTLS, the TLS upgrade with the shop's certificate, EHLO again, NOOP,
//! RSET and QUIT. It accepts no mail. Every line read is bounded in size
//! and time, and so is a session.

use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The longest command line read (RFC 5321 §4.5.3.1.4 says 512 octets).
const MAX_LINE: u64 = 512;
/// How long a client may take for one command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many commands in one session.
const MAX_COMMANDS: usize = 32;

/// Accepts SMTP sessions on `listener`, upgrading with `tls` on STARTTLS.
pub(crate) async fn serve(listener: TcpListener, tls: tokio_rustls::TlsAcceptor, domain: String) {
    let domain = Arc::new(domain);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (tls, domain) = (tls.clone(), Arc::clone(&domain));
        tokio::spawn(async move {
            let _ = session(stream, tls, &domain).await;
        });
    }
}

/// What a dialogue ended with.
enum End {
    Quit,
    StartTls,
}

async fn session(
    stream: TcpStream,
    tls: tokio_rustls::TlsAcceptor,
    domain: &str,
) -> std::io::Result<()> {
    let mut plain = BufReader::new(stream);
    send(
        &mut plain,
        &format!("220 mail.{domain} ESMTP keepup demo\r\n"),
    )
    .await?;
    if let End::Quit = dialogue(&mut plain, domain, false).await? {
        return Ok(());
    }
    // Anything the client sent after STARTTLS but before the handshake
    // would be injected into the TLS session (CVE-2011-0411): refuse it.
    if !plain.buffer().is_empty() {
        return Ok(());
    }
    let stream = plain.into_inner();
    let secure = tokio::time::timeout(COMMAND_TIMEOUT, tls.accept(stream))
        .await
        .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
    let mut secure = BufReader::new(secure);
    dialogue(&mut secure, domain, true).await?;
    Ok(())
}

/// Commands until QUIT (or STARTTLS, before TLS).
async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    domain: &str,
    secure: bool,
) -> std::io::Result<End> {
    for _ in 0..MAX_COMMANDS {
        let line = read_line(s).await?;
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => {
                if secure {
                    format!("250-mail.{domain}\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n")
                } else {
                    format!(
                        "250-mail.{domain}\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250 STARTTLS\r\n"
                    )
                }
            }
            "HELO" => format!("250 mail.{domain}\r\n"),
            "STARTTLS" if !secure => {
                send(s, "220 2.0.0 Ready to start TLS\r\n").await?;
                return Ok(End::StartTls);
            }
            "NOOP" | "RSET" => "250 2.0.0 OK\r\n".to_owned(),
            "QUIT" => {
                send(s, "221 2.0.0 Bye\r\n").await?;
                return Ok(End::Quit);
            }
            "MAIL" | "RCPT" | "DATA" => "550 5.7.1 this demo server accepts no mail\r\n".into(),
            _ => "502 5.5.2 Command not implemented\r\n".into(),
        };
        send(s, &reply).await?;
    }
    send(s, "421 4.7.0 Too many commands\r\n").await?;
    Ok(End::Quit)
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    text: &str,
) -> std::io::Result<()> {
    tokio::time::timeout(COMMAND_TIMEOUT, async {
        s.get_mut().write_all(text.as_bytes()).await?;
        s.get_mut().flush().await
    })
    .await
    .map_err(|_| std::io::Error::other("write timed out"))?
}

/// One command line, at most [`MAX_LINE`] bytes, within [`COMMAND_TIMEOUT`].
async fn read_line<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let n = tokio::time::timeout(
        COMMAND_TIMEOUT,
        AsyncReadExt::take(&mut *s, MAX_LINE).read_until(b'\n', &mut buf),
    )
    .await
    .map_err(|_| std::io::Error::other("read timed out"))??;
    if n == 0 || !buf.ends_with(b"\n") {
        return Err(std::io::Error::other("closed, or a line too long"));
    }
    Ok(String::from_utf8_lossy(&buf).trim_end().to_owned())
}
