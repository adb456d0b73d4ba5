//! The line reader shared by the SMTP, IMAP and POP3 dialogues.
//!
//! [`LineReader`] owns the connection (plain TCP, TLS after STARTTLS or
//! from the start, or an in-memory replay for fuzzing), buffers what the
//! server sends and hands it out one line at a time. Every read is bounded
//! in time (the run's deadline) and in size: a line longer than
//! [`MAX_LINE_BYTES`] or a session that receives more than
//! [`MAX_SESSION_BYTES`] is a protocol error, never a growing buffer. Every
//! line sent and received goes into a bounded transcript, the evidence of
//! the check; what a caller marks as secret is written there as `***`.

use std::sync::Arc;
use std::time::Duration;

use keepup_config::TlsOptions;
use keepup_model::{Finding, Severity};
use rustls::RootCertStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::codes;
use crate::context::ProbeContext;
use crate::tls::{self, Handshake, HandshakeInfo, Judged, Purpose};
use crate::util::{Fail, escape_received, fmt_bytes, io_reason};

/// A line (without its CRLF) longer than this is a protocol error. RFC 5321
/// allows 512 bytes per reply line; IMAP capability lines run to a few
/// hundred; 8 KiB leaves room for both and for chatty greetings.
pub const MAX_LINE_BYTES: usize = 8 * 1024;

/// A reply (SMTP multi-line reply, IMAP untagged responses before the
/// tagged one, POP3 multi-line response) with more lines than this is a
/// protocol error. A real EHLO or CAPA reply has a dozen or two.
pub const MAX_REPLY_LINES: usize = 200;

/// A session that receives more than this in total is a protocol error: no
/// check dialogue needs more than a few KiB.
pub const MAX_SESSION_BYTES: usize = 256 * 1024;

/// At most this many transcript lines are kept; later ones are counted.
const MAX_TRANSCRIPT_LINES: usize = 200;

/// Transcript lines are cut to this many characters.
const MAX_TRANSCRIPT_CHARS: usize = 300;

/// Bytes asked from the socket at once.
const READ_CHUNK: usize = 4096;

/// The connection under the dialogue.
pub(crate) enum Conn {
    /// Plain TCP (before STARTTLS, or without TLS).
    Plain(TcpStream),
    /// TLS, after STARTTLS or from the start.
    Tls(Box<TlsStream<TcpStream>>),
    /// A recorded server output, for fuzzing the dialogue parsers: reads
    /// come from it, writes go nowhere, and "TLS" is a no-op.
    Replay(Replay),
    /// Taken apart for a TLS handshake that failed.
    Gone,
}

/// In-memory server output.
pub(crate) struct Replay {
    data: Vec<u8>,
    pos: usize,
}

impl Replay {
    pub(crate) fn new(data: Vec<u8>) -> Self {
        Self { data, pos: 0 }
    }
}

/// Why a dialogue stopped before its end.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The run's deadline passed while `phase`; `partial` is what the
    /// server had sent of an unfinished line, if anything.
    Timeout {
        phase: &'static str,
        partial: Option<String>,
    },
    /// A definite problem.
    Problem {
        /// The finding (Critical).
        finding: Finding,
        /// A message that stays the same from run to run, when the finding
        /// quotes the server.
        message: Option<String>,
        /// Whether the session can still be closed politely (QUIT/LOGOUT).
        usable: bool,
    },
}

impl Stop {
    /// A Critical finding that ends the dialogue.
    pub(crate) fn problem(code: &str, text: String, usable: bool) -> Self {
        Stop::Problem {
            finding: Finding::new(code, Severity::Critical, text),
            message: None,
            usable,
        }
    }

    /// Like [`problem`](Self::problem), with a stable outcome message
    /// because `text` quotes the server.
    pub(crate) fn quoting(code: &str, text: String, message: String, usable: bool) -> Self {
        Stop::Problem {
            finding: Finding::new(code, Severity::Critical, text),
            message: Some(message),
            usable,
        }
    }

    /// The server's reply is not what the protocol allows.
    pub(crate) fn protocol(text: String) -> Self {
        Self::problem(codes::MAIL_PROTOCOL_ERROR, text, false)
    }

    /// Whether a polite goodbye may still be sent.
    pub(crate) fn usable(&self) -> bool {
        matches!(self, Stop::Problem { usable: true, .. })
    }
}

impl From<Fail> for Stop {
    fn from(fail: Fail) -> Self {
        match fail {
            Fail::Timeout(phase) => Stop::Timeout {
                phase,
                partial: None,
            },
            Fail::Finding(finding) => Stop::Problem {
                finding,
                message: None,
                usable: false,
            },
        }
    }
}

/// The client side of one session: a connection, what was received but
/// not yet consumed, and the transcript.
pub(crate) struct LineReader {
    conn: Conn,
    buf: Vec<u8>,
    received: usize,
    transcript: Vec<String>,
    transcript_dropped: usize,
}

impl LineReader {
    pub(crate) fn new(conn: Conn) -> Self {
        Self {
            conn,
            buf: Vec::with_capacity(1024),
            received: 0,
            transcript: Vec::new(),
            transcript_dropped: 0,
        }
    }

    /// The transcript, `C: ` for what was sent and `S: ` for what was
    /// received, with a last line saying how many were left out.
    pub(crate) fn transcript(&self) -> Vec<String> {
        let mut lines = self.transcript.clone();
        if self.transcript_dropped > 0 {
            lines.push(format!("… {} more lines", self.transcript_dropped));
        }
        lines
    }

    fn note(&mut self, prefix: &str, text: &[u8]) {
        if self.transcript.len() >= MAX_TRANSCRIPT_LINES {
            self.transcript_dropped += 1;
            return;
        }
        let shown = escape_received(text, MAX_TRANSCRIPT_CHARS);
        self.transcript.push(format!("{prefix}{shown}"));
    }

    /// How many bytes the server sent so far.
    pub(crate) fn received(&self) -> usize {
        self.received
    }

    /// Adds a line to the transcript that is neither sent nor received
    /// (e.g. `-- TLS established`).
    pub(crate) fn note_event(&mut self, text: &str) {
        self.note("-- ", text.as_bytes());
    }

    /// Reads one line (up to LF; a CR before it is dropped), waiting until
    /// the deadline; `phase` says what was awaited, for messages.
    pub(crate) async fn read_line(
        &mut self,
        ctx: &ProbeContext,
        phase: &'static str,
    ) -> Result<String, Stop> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                if end > MAX_LINE_BYTES {
                    return Err(too_long(phase));
                }
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.note("S: ", &line);
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if self.buf.len() > MAX_LINE_BYTES {
                return Err(too_long(phase));
            }
            self.fill(ctx, phase).await?;
        }
    }

    /// Consumes `n` bytes (an IMAP literal), bounded like everything else.
    pub(crate) async fn skip(
        &mut self,
        ctx: &ProbeContext,
        phase: &'static str,
        mut n: usize,
    ) -> Result<(), Stop> {
        if n > MAX_SESSION_BYTES {
            return Err(Stop::protocol(format!(
                "the server announced a {} literal while {phase}, more than a check reads",
                fmt_bytes(n as u64)
            )));
        }
        self.note_event(&format!("({n} bytes of literal data skipped)"));
        loop {
            let take = n.min(self.buf.len());
            self.buf.drain(..take);
            n -= take;
            if n == 0 {
                return Ok(());
            }
            self.fill(ctx, phase).await?;
        }
    }

    /// Reads more bytes into the buffer.
    async fn fill(&mut self, ctx: &ProbeContext, phase: &'static str) -> Result<(), Stop> {
        if self.received >= MAX_SESSION_BYTES {
            return Err(Stop::protocol(format!(
                "the server sent more than {} in this session (while {phase})",
                fmt_bytes(MAX_SESSION_BYTES as u64)
            )));
        }
        let mut chunk = [0u8; READ_CHUNK];
        let room = READ_CHUNK.min(MAX_SESSION_BYTES - self.received);
        let read = match &mut self.conn {
            Conn::Plain(s) => {
                quick_ack(s);
                ctx.within(phase, s.read(&mut chunk[..room])).await
            }
            Conn::Tls(s) => {
                quick_ack(s.get_ref().0);
                ctx.within(phase, s.read(&mut chunk[..room])).await
            }
            Conn::Replay(r) => {
                let n = room.min(r.data.len() - r.pos);
                chunk[..n].copy_from_slice(&r.data[r.pos..r.pos + n]);
                r.pos += n;
                Ok(Ok(n))
            }
            Conn::Gone => Ok(Ok(0)),
        };
        match read {
            Err(_) => Err(Stop::Timeout {
                phase,
                partial: self.partial(),
            }),
            Ok(Ok(0)) => Err(match self.partial() {
                Some(partial) => Stop::quoting(
                    codes::MAIL_PROTOCOL_ERROR,
                    format!(
                        "the server sent \"{partial}\" without ending the line, then closed the connection (while {phase})"
                    ),
                    format!(
                        "the server sent an unfinished line and closed the connection (while {phase})"
                    ),
                    false,
                ),
                None => Stop::problem(
                    codes::MAIL_CONNECTION_CLOSED,
                    format!("the server closed the connection while {phase}"),
                    false,
                ),
            }),
            Ok(Ok(n)) => {
                self.received += n;
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Ok(Err(e)) => Err(Stop::problem(
                codes::MAIL_CONNECTION_CLOSED,
                format!("the connection failed while {phase}: {}", io_reason(&e)),
                false,
            )),
        }
    }

    /// What was received of an unfinished line, for messages.
    fn partial(&self) -> Option<String> {
        (!self.buf.is_empty()).then(|| escape_received(&self.buf, 80))
    }

    /// Sends `line` and CRLF; the transcript shows `shown` instead when
    /// given (for commands that carry secrets).
    pub(crate) async fn send(
        &mut self,
        ctx: &ProbeContext,
        phase: &'static str,
        line: &str,
        shown: Option<&str>,
    ) -> Result<(), Stop> {
        self.note("C: ", shown.unwrap_or(line).as_bytes());
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        let written = match &mut self.conn {
            Conn::Plain(s) => ctx.within(phase, s.write_all(&bytes)).await,
            Conn::Tls(s) => {
                // rustls buffers: flush so the command is really sent.
                ctx.within(phase, async {
                    s.write_all(&bytes).await?;
                    s.flush().await
                })
                .await
            }
            Conn::Replay(_) => Ok(Ok(())),
            Conn::Gone => Ok(Err(std::io::ErrorKind::NotConnected.into())),
        };
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Stop::problem(
                codes::MAIL_CONNECTION_CLOSED,
                format!("sending failed while {phase}: {}", io_reason(&e)),
                false,
            )),
            Err(_) => Err(Stop::Timeout {
                phase,
                partial: None,
            }),
        }
    }

    /// Upgrades the connection to TLS (STARTTLS or implicit TLS) and judges
    /// the certificate for `host` with the same analysis as HTTPS. Returns
    /// `None` on a replay.
    ///
    /// Bytes already received but not consumed at this point were sent in
    /// plain text after the server agreed to start TLS: a client that kept
    /// them would mistake them for protected data (the STARTTLS command
    /// injection class of bugs), so the upgrade is refused.
    pub(crate) async fn start_tls(
        &mut self,
        ctx: &ProbeContext,
        roots: Option<Arc<RootCertStore>>,
        host: &str,
        options: &TlsOptions,
    ) -> Result<Option<Upgraded>, Stop> {
        // A replay holds the whole server output at once, TLS part included.
        let replay = matches!(self.conn, Conn::Replay(_));
        if !self.buf.is_empty() && !replay {
            let n = self.buf.len();
            let shown = escape_received(&self.buf, 80);
            return Err(Stop::quoting(
                codes::MAIL_STARTTLS_INJECTION,
                format!(
                    "the server sent {n} bytes in plain text after agreeing to start TLS (\"{shown}\"); the session was not continued"
                ),
                "the server sent plain-text data after agreeing to start TLS".to_owned(),
                false,
            ));
        }
        match std::mem::replace(&mut self.conn, Conn::Gone) {
            Conn::Plain(tcp) => {
                let Some(roots) = roots else {
                    return Err(Stop::problem(
                        codes::PROBE_INTERNAL_ERROR,
                        "no trusted roots were prepared for TLS".to_owned(),
                        false,
                    ));
                };
                let Handshake {
                    stream,
                    captured,
                    info,
                    elapsed,
                } = tls::handshake(ctx, roots, host, tcp, &[]).await?;
                // A mail client looks at the certificate like a TLS check
                // does: without verification, expiry still counts.
                let judged = tls::judge(ctx, &captured, host, options, Purpose::Certificate).await;
                self.note_event(&format!(
                    "TLS established ({}, certificate {})",
                    info.protocol.as_deref().unwrap_or("unknown version"),
                    judged.verification
                ));
                self.conn = Conn::Tls(Box::new(stream));
                Ok(Some(Upgraded {
                    judged,
                    info,
                    elapsed,
                }))
            }
            replay @ Conn::Replay(_) => {
                self.conn = replay;
                self.note_event("TLS (replay: no handshake)");
                Ok(None)
            }
            other => {
                self.conn = other;
                Err(Stop::problem(
                    codes::PROBE_INTERNAL_ERROR,
                    "TLS was started twice".to_owned(),
                    false,
                ))
            }
        }
    }
}

/// A completed TLS upgrade.
pub(crate) struct Upgraded {
    /// The certificate analysis with the `verify` policy applied.
    pub(crate) judged: Judged,
    /// Protocol version and cipher suite.
    pub(crate) info: HandshakeInfo,
    /// Handshake time.
    pub(crate) elapsed: Duration,
}

/// Acknowledges what arrives at once instead of up to 40 ms later.
///
/// After a TLS 1.3 handshake an OpenSSL server (Postfix, Dovecot) writes its
/// session ticket and then its next reply in two small segments; with
/// Nagle's algorithm on the server the reply waits for the ticket's ACK,
/// which Linux delays while it expects to piggyback it on data we send.
/// Every check would then take 40 ms longer than the server needs. The
/// flag is not sticky, so it is set before each read (one cheap syscall).
fn quick_ack(tcp: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        let _ = socket2::SockRef::from(tcp).set_tcp_quickack(true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = tcp;
}

fn too_long(phase: &str) -> Stop {
    Stop::protocol(format!(
        "the server sent a line longer than {} (while {phase})",
        fmt_bytes(MAX_LINE_BYTES as u64)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(data: &[u8]) -> LineReader {
        LineReader::new(Conn::Replay(Replay::new(data.to_vec())))
    }

    #[tokio::test]
    async fn lines_end_at_lf_and_lose_their_cr() {
        let ctx = ProbeContext::new();
        let mut r = replay(b"220 a\r\n250 b\nrest");
        assert_eq!(r.read_line(&ctx, "t").await.unwrap(), "220 a");
        assert_eq!(r.read_line(&ctx, "t").await.unwrap(), "250 b");
        match r.read_line(&ctx, "t").await {
            Err(Stop::Problem { finding, .. }) => {
                assert_eq!(finding.code, codes::MAIL_PROTOCOL_ERROR);
                assert!(finding.text.contains("\"rest\""), "{}", finding.text);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.transcript(), vec!["S: 220 a", "S: 250 b"]);
    }

    #[tokio::test]
    async fn long_lines_and_big_sessions_are_refused() {
        let ctx = ProbeContext::new();
        let mut r = replay(&vec![b'a'; MAX_LINE_BYTES * 2]);
        match r.read_line(&ctx, "t").await {
            Err(Stop::Problem { finding, .. }) => assert!(finding.text.contains("longer")),
            other => panic!("{other:?}"),
        }
        let many: Vec<u8> = b"x\r\n".repeat(MAX_SESSION_BYTES);
        let mut r = replay(&many);
        let mut lines = 0;
        let err = loop {
            match r.read_line(&ctx, "t").await {
                Ok(_) => lines += 1,
                Err(e) => break e,
            }
        };
        assert!(lines <= MAX_SESSION_BYTES / 3 + 1);
        match err {
            Stop::Problem { finding, .. } => assert!(finding.text.contains("more than")),
            other => panic!("{other:?}"),
        }
        assert!(r.transcript().len() <= MAX_TRANSCRIPT_LINES + 1);
    }

    #[tokio::test]
    async fn secrets_are_shown_as_given() {
        let ctx = ProbeContext::new();
        let mut r = replay(b"");
        r.send(&ctx, "t", "PASS hunter2", Some("PASS ***"))
            .await
            .unwrap();
        assert_eq!(r.transcript(), vec!["C: PASS ***"]);
    }
}
