//! The WHOIS client (RFC 3912): connect to port 43, send one query line,
//! read until the server closes. The answer is capped at
//! [`MAX_WHOIS_BYTES`] and every step shares the run's deadline, so a
//! server that never answers costs the timeout and one that never stops
//! costs 64 KiB.

use keepup_config::WhoisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::codes;
use crate::context::ProbeContext;
use crate::util::{Fail, connect_first, io_reason};

/// WHOIS answers are a few KiB; a server sending more is not answering.
pub const MAX_WHOIS_BYTES: usize = 64 * 1024;

/// `host:port` of a server, for messages and keys.
pub(crate) fn server_name(server: &WhoisServer) -> String {
    if server.port == 43 {
        server.host.clone()
    } else if server.host.contains(':') {
        format!("[{}]:{}", server.host, server.port)
    } else {
        format!("{}:{}", server.host, server.port)
    }
}

/// Sends `query` to `server` and returns the answer as text, or the code
/// and sentence explaining why there is none.
pub(crate) async fn ask(
    ctx: &ProbeContext,
    server: &WhoisServer,
    query: &str,
) -> Result<String, (&'static str, String)> {
    let name = server_name(server);
    let failed = |why: String| {
        (
            codes::DOMAIN_LOOKUP_FAILED,
            format!("the WHOIS server {name} could not be asked: {why}"),
        )
    };
    let fail_text = |fail: Fail| fail.into_finding(ctx).text;
    let resolution = ctx
        .resolve(&server.host, server.port)
        .await
        .map_err(|f| failed(fail_text(f)))?;
    let connected = connect_first(ctx, &resolution.addrs)
        .await
        .map_err(|f| failed(fail_text(f)))?;
    let mut stream = connected.stream;
    let line = format!("{query}\r\n");
    match ctx
        .within("sending the WHOIS query", stream.write_all(line.as_bytes()))
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(failed(io_reason(&e))),
        Err(fail) => return Err(failed(fail_text(fail))),
    }
    let mut answer: Vec<u8> = Vec::with_capacity(4096);
    let mut buf = [0u8; 4096];
    loop {
        match ctx
            .within("reading the WHOIS answer", stream.read(&mut buf))
            .await
        {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => {
                if answer.len() + n > MAX_WHOIS_BYTES {
                    return Err((
                        codes::DOMAIN_BAD_RESPONSE,
                        format!(
                            "the WHOIS server {name} sent more than {} KiB, which no WHOIS answer is",
                            MAX_WHOIS_BYTES / 1024
                        ),
                    ));
                }
                answer.extend_from_slice(&buf[..n]);
            }
            // A reset after a complete answer is common; judge what came.
            Ok(Err(_)) if !answer.is_empty() => break,
            Ok(Err(e)) => return Err(failed(io_reason(&e))),
            Err(fail) => return Err(failed(fail_text(fail))),
        }
    }
    if answer.iter().all(u8::is_ascii_whitespace) {
        return Err(failed("it closed the connection without an answer".into()));
    }
    Ok(decode(&answer))
}

/// UTF-8 when it is, Latin-1 otherwise (older registries).
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// A referral as written (`whois.registrar.example`, or `host:port`), as a
/// server; `None` when it is not a plausible host name.
pub(crate) fn referral_server(text: &str) -> Option<WhoisServer> {
    let text = text
        .trim()
        .trim_start_matches("whois://")
        .trim_start_matches("rwhois://")
        .trim_end_matches('/');
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse::<u16>().ok().filter(|p| *p > 0)?),
        _ => (text, 43),
    };
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    valid.then(|| WhoisServer {
        host: host.to_ascii_lowercase(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrals_and_names() {
        let s = referral_server("whois.registrar.example").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("whois.registrar.example", 43));
        let s = referral_server("127.0.0.1:4343").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 4343));
        assert!(referral_server("http://x/ y").is_none());
        assert!(referral_server("").is_none());
        assert_eq!(server_name(&s), "127.0.0.1:4343");
        assert_eq!(decode(b"Stra\xdfe"), "Straße");
    }
}
