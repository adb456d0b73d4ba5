//! Small helpers shared by the probes: failures, connecting, formatting.

use std::net::SocketAddr;
use std::time::Duration;

use keepup_model::{Finding, Outcome, Severity, Status};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;

/// Why a phase of a probe stopped.
pub(crate) enum Fail {
    /// The run's deadline passed while waiting for `phase`.
    Timeout(&'static str),
    /// A definite problem.
    Finding(Finding),
}

impl Fail {
    /// The finding describing this failure.
    pub(crate) fn into_finding(self, ctx: &ProbeContext) -> Finding {
        match self {
            Fail::Timeout(phase) => ctx.timeout_finding(phase),
            Fail::Finding(finding) => finding,
        }
    }
}

impl From<Finding> for Fail {
    fn from(finding: Finding) -> Self {
        Fail::Finding(finding)
    }
}

/// A successful TCP connection.
pub(crate) struct Connected {
    pub(crate) stream: TcpStream,
    pub(crate) remote: SocketAddr,
    pub(crate) elapsed: Duration,
}

/// Connects to the first of `addrs` that accepts, in order. Each attempt
/// gets an equal share of the time left, so one black-holed address cannot
/// eat the whole budget.
pub(crate) async fn connect_first(
    ctx: &ProbeContext,
    addrs: &[SocketAddr],
) -> Result<Connected, Fail> {
    let started = Instant::now();
    let mut errors = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let left = (addrs.len() - i) as u32;
        let share = ctx.remaining() / left.max(1);
        if share.is_zero() {
            return Err(Fail::Timeout("connecting"));
        }
        let until = ctx.deadline_within(share);
        match tokio::time::timeout_at(until, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(Connected {
                    stream,
                    remote: *addr,
                    elapsed: started.elapsed(),
                });
            }
            Ok(Err(e)) => errors.push(format!("{addr}: {}", io_reason(&e))),
            Err(_) if i + 1 == addrs.len() => return Err(Fail::Timeout("connecting")),
            Err(_) => errors.push(format!("{addr}: no answer")),
        }
    }
    Err(Fail::Finding(Finding::new(
        codes::TCP_CONNECT_FAILED,
        Severity::Critical,
        format!("cannot connect to {}", errors.join("; ")),
    )))
}

/// An I/O error without the OS error number (which adds nothing for a
/// human and differs between systems).
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Milliseconds as f64, for timings.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `"1 MiB"`, `"64 KiB"`, `"1000 bytes"`: for size limits in sentences.
pub(crate) fn fmt_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

/// A URL for display: without any `user:password@` part.
pub(crate) fn display_url(url: &http::Uri) -> String {
    let text = url.to_string();
    match (url.authority(), url.scheme_str()) {
        (Some(authority), Some(scheme)) if authority.as_str().contains('@') => {
            let host_port = authority
                .as_str()
                .rsplit_once('@')
                .map_or(authority.as_str(), |(_, h)| h);
            let rest = url.path_and_query().map_or("/", |p| p.as_str());
            format!("{scheme}://{host_port}{rest}")
        }
        _ => text,
    }
}

/// Text received from a peer, made safe for a one-line message: control
/// characters escaped, at most `max` characters.
pub(crate) fn escape_received(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == max {
            out.push('…');
            break;
        }
        out.extend(c.escape_debug());
    }
    out
}

/// Finishes an outcome: latency from `started`, and unless the probe already
/// chose a message, one that is either the text of the worst problem or
/// `ok_message` when nothing needs attention.
pub(crate) fn finish(mut outcome: Outcome, ok_message: String, started: Instant) -> Outcome {
    outcome.latency_ms = ms(started.elapsed());
    if !outcome.message.is_empty() {
        return outcome;
    }
    let worst = outcome
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .fold(None::<&Finding>, |best, f| match best {
            Some(b) if b.severity >= f.severity => Some(b),
            _ => Some(f),
        });
    outcome.message = match worst {
        Some(f) => f.text.clone(),
        None => ok_message,
    };
    outcome
}

/// An outcome that failed before anything could be measured.
pub(crate) fn failed(ctx: &ProbeContext, fail: Fail, started: Instant) -> Outcome {
    let mut outcome = Outcome::new(Status::Up, "");
    outcome.push(fail.into_finding(ctx));
    finish(outcome, String::new(), started)
}

/// Seconds since the Unix epoch by the wall clock (0 if it is set before
/// 1970): for certificate validity and for how old kept answers are.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_urls_read_well() {
        assert_eq!(fmt_bytes(1024 * 1024), "1 MiB");
        assert_eq!(fmt_bytes(64 * 1024), "64 KiB");
        assert_eq!(fmt_bytes(100_000), "100000 bytes");
        let url: http::Uri = "https://user:pw@shop.test:8443/a?b".parse().unwrap();
        assert_eq!(display_url(&url), "https://shop.test:8443/a?b");
        let url: http::Uri = "http://shop.test/".parse().unwrap();
        assert_eq!(display_url(&url), "http://shop.test/");
    }

    #[test]
    fn received_text_is_escaped_and_bounded() {
        assert_eq!(escape_received(b"220 hi\r\n", 100), "220 hi\\r\\n");
        assert_eq!(escape_received(&[0xff, b'a'], 100), "\u{fffd}a");
        assert_eq!(escape_received(b"abcdef", 3), "abc…");
    }

    #[test]
    fn message_is_the_first_worst_finding() {
        let mut o = Outcome::new(Status::Up, "");
        o.push(Finding::new("A", Severity::Info, "info"));
        o.push(Finding::new("B", Severity::Warning, "warn 1"));
        o.push(Finding::new("C", Severity::Warning, "warn 2"));
        let o = finish(o, "fine".into(), Instant::now());
        assert_eq!(o.message, "warn 1");
        let o = finish(Outcome::new(Status::Up, ""), "fine".into(), Instant::now());
        assert_eq!(o.message, "fine");
    }
}
