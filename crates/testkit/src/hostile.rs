//! Peers that misbehave on purpose, for "bad input must neither hang nor
//! crash" tests.
//!
//! [`HostileServer`] is a raw TCP server that ignores HTTP manners in one of
//! the ways listed in [`Behaviour`]. [`bad_tls_server`] is a [`TestServer`]
//! presenting a certificate a client must reject (expired, wrong name,
//! self-signed, missing intermediate); its request counter tells whether the
//! client sent anything after the handshake.
//!
//! Every server here writes only to the peer that connected to it, bounds
//! each write, stops writing when the peer goes away, and stops entirely
//! when dropped.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::{ServerTls, TestServer, text};
use crate::pki::{self, CertAuthority, validity};
use crate::runner::{self, ConnHandler, Running};

/// How a [`HostileServer`] treats each connection.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Accepts, reads whatever arrives, never answers.
    Silent,
    /// Reads the request, then sends a valid response head and an endless
    /// body one byte per `interval`.
    Trickle {
        /// Pause between two bytes.
        interval: Duration,
    },
    /// Sends a status line, then header lines forever.
    EndlessHeaders,
    /// Sends a valid head, then an endless chunked body as fast as the
    /// client reads it.
    EndlessBody,
    /// Announces a `Content-Length` of about a terabyte, sends a few bytes,
    /// then stalls.
    HugeContentLength,
    /// Closes every connection as soon as it is accepted.
    CloseImmediately,
    /// Reads a request, answers `200` with this body in a response that
    /// leaves the connection open (HTTP/1.1, a `Content-Length`, no
    /// `Connection: close`), then closes it without a word, as a server
    /// does whose keep-alive timeout has passed.
    AnswerThenClose(String),
    /// Reads the request, answers with bytes that are not HTTP, closes.
    Garbage,
    /// Sends `banner` as soon as a client connects, then reads until the
    /// client leaves (a stand-in for SMTP/FTP/SSH-style servers in TCP
    /// banner tests).
    Banner(String),
    /// Reads the client's hello and answers with a fatal TLS alert of this
    /// description code, as nginx's `ssl_reject_handshake on` does with
    /// unrecognized_name (112).
    TlsAlert(u8),
}

/// A raw TCP server with a [`Behaviour`], on loopback. Stops when dropped.
pub struct HostileServer {
    running: Running,
    accepted: Arc<AtomicU64>,
    behaviour: Behaviour,
}

impl std::fmt::Debug for HostileServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostileServer")
            .field("addr", &self.addr())
            .field("behaviour", &self.behaviour)
            .finish_non_exhaustive()
    }
}

impl HostileServer {
    /// Starts on `127.0.0.1:<free port>` on the current tokio runtime.
    pub async fn start(behaviour: Behaviour) -> io::Result<Self> {
        let (handler, accepted) = Self::handler(&behaviour);
        let running = runner::start_here(default_bind(), handler)?;
        Ok(Self {
            running,
            accepted,
            behaviour,
        })
    }

    /// Starts on `127.0.0.1:<free port>` on a dedicated thread.
    pub fn start_background(behaviour: Behaviour) -> io::Result<Self> {
        let (handler, accepted) = Self::handler(&behaviour);
        let running = runner::start_on_thread(default_bind(), handler)?;
        Ok(Self {
            running,
            accepted,
            behaviour,
        })
    }

    fn handler(behaviour: &Behaviour) -> (ConnHandler, Arc<AtomicU64>) {
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&accepted);
        let behaviour = behaviour.clone();
        let handler: ConnHandler = Arc::new(move |stream, _peer, mut stop| {
            counter.fetch_add(1, Ordering::SeqCst);
            let behaviour = behaviour.clone();
            Box::pin(async move {
                tokio::select! {
                    _ = stop.requested() => {}
                    _ = misbehave(stream, behaviour) => {}
                }
            })
        });
        (handler, accepted)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn default_bind() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// Writes are bounded so that a client that stops reading cannot pin a task
/// forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(bytes)).await {
        Ok(result) => result,
        Err(_) => Err(io::ErrorKind::TimedOut.into()),
    }
}

/// Reads until the end of a request head (or 64 KiB, or a short pause), so
/// that replying and closing does not reset the connection under unread
/// data.
async fn read_request_head(stream: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while seen.len() < 64 * 1024 {
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                seen.extend_from_slice(&buf[..n]);
                if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// Reads and discards until the peer closes.
async fn drain(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

async fn misbehave(mut stream: TcpStream, behaviour: Behaviour) -> io::Result<()> {
    match behaviour {
        Behaviour::Silent => drain(&mut stream).await,
        Behaviour::CloseImmediately => drop(stream),
        Behaviour::Banner(banner) => {
            write(&mut stream, banner.as_bytes()).await?;
            drain(&mut stream).await;
        }
        Behaviour::TlsAlert(description) => {
            let mut hello = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut hello)).await;
            // An alert record: type 21, version TLS 1.2, length 2, level
            // fatal (2), then the description.
            write(&mut stream, &[21, 3, 3, 0, 2, 2, description]).await?;
            let _ = tokio::time::timeout(Duration::from_secs(2), drain(&mut stream)).await;
        }
        Behaviour::AnswerThenClose(body) => {
            read_request_head(&mut stream).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            write(&mut stream, response.as_bytes()).await?;
            stream.shutdown().await?;
            let _ = tokio::time::timeout(Duration::from_secs(2), drain(&mut stream)).await;
        }
        Behaviour::Garbage => {
            read_request_head(&mut stream).await;
            write(
                &mut stream,
                b"\x00\xffthis is not HTTP at all\r\n\x1b[31m\xfe\r\n\r\n",
            )
            .await?;
            stream.shutdown().await?;
            let _ = tokio::time::timeout(Duration::from_secs(2), drain(&mut stream)).await;
        }
        Behaviour::Trickle { interval } => {
            read_request_head(&mut stream).await;
            let head: &[u8] =
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n";
            for byte in head.iter().chain(std::iter::repeat(&b'a')) {
                write(&mut stream, std::slice::from_ref(byte)).await?;
                tokio::time::sleep(interval).await;
            }
        }
        Behaviour::EndlessHeaders => {
            read_request_head(&mut stream).await;
            write(&mut stream, b"HTTP/1.1 200 OK\r\n").await?;
            let filler = "a".repeat(64);
            for n in 0u64.. {
                write(
                    &mut stream,
                    format!("X-Filler-{n}: {filler}\r\n").as_bytes(),
                )
                .await?;
            }
        }
        Behaviour::EndlessBody => {
            read_request_head(&mut stream).await;
            write(
                &mut stream,
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
            )
            .await?;
            let mut chunk = b"4000\r\n".to_vec();
            chunk.extend(std::iter::repeat_n(b'x', 0x4000));
            chunk.extend_from_slice(b"\r\n");
            loop {
                write(&mut stream, &chunk).await?;
            }
        }
        Behaviour::HugeContentLength => {
            read_request_head(&mut stream).await;
            write(
                &mut stream,
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 999999999999\r\n\r\nhello",
            )
            .await?;
            drain(&mut stream).await;
        }
    }
    Ok(())
}

/// What is wrong with the certificate of a [`bad_tls_server`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadCert {
    /// Issued by the CA for the right name, expired yesterday.
    Expired,
    /// Issued by the CA for the right name, valid from tomorrow.
    NotYetValid,
    /// Issued by the CA, valid, but for `wrong.test` only.
    WrongHost,
    /// Valid and for the right name, but self-signed.
    SelfSigned,
    /// Issued by an intermediate of the CA; the server sends only the leaf.
    MissingIntermediate,
}

/// An HTTPS [`TestServer`] for `host` whose certificate has problem `kind`
/// (`ca` is the authority the client trusts). It answers every request with
/// `200 you should not see this`, so `requests() == 0` proves that a client
/// refused to talk to it.
pub async fn bad_tls_server(
    kind: BadCert,
    ca: &CertAuthority,
    host: &str,
) -> io::Result<TestServer> {
    let issued = match kind {
        BadCert::Expired => ca.issue(&[host], validity::expired()),
        BadCert::NotYetValid => ca.issue(&[host], validity::not_yet_valid()),
        BadCert::WrongHost => ca.issue(&["wrong.test"], validity::current()),
        BadCert::SelfSigned => pki::self_signed(&[host], validity::current()),
        BadCert::MissingIntermediate => ca
            .intermediate("keepup testkit intermediate")
            .and_then(|inter| inter.issue(&[host], validity::current())),
    }
    .map_err(io::Error::other)?;
    let tls = match kind {
        BadCert::MissingIntermediate => ServerTls::leaf_only(&issued),
        _ => ServerTls::new(&issued),
    };
    TestServer::builder()
        .tls(tls)
        .start(|_req| async { text(200, "you should not see this") })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn banner_then_close_immediately() {
        let banner = HostileServer::start(Behaviour::Banner("220 hello\r\n".into()))
            .await
            .unwrap();
        let mut stream = TcpStream::connect(banner.addr()).await.unwrap();
        let mut buf = [0u8; 11];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"220 hello\r\n");
        assert_eq!(banner.connections(), 1);

        let closer = HostileServer::start(Behaviour::CloseImmediately)
            .await
            .unwrap();
        let mut stream = TcpStream::connect(closer.addr()).await.unwrap();
        let mut rest = Vec::new();
        // EOF or reset, but never data and never a hang.
        let read = stream.read_to_end(&mut rest).await;
        assert!(read.map(|n| n == 0).unwrap_or(true));
    }

    #[tokio::test]
    async fn endless_body_stops_when_the_client_leaves() {
        let server = HostileServer::start(Behaviour::EndlessBody).await.unwrap();
        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 100_000];
        let mut total = 0;
        while total < 200_000 {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0);
            total += n;
        }
        drop(stream);
        drop(server);
    }
}
