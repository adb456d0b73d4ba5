//! The host clock's offset against an NTP server, by one SNTP query
//! (RFC 4330: a 48-byte client request over UDP, the server's receive and
//! transmit times in its reply), and whether the kernel considers its
//! clock synchronised (`adjtimex` in read-only mode, no privilege needed).
//!
//! Only a server-mode reply that echoes the request's transmit time is
//! taken, and that time is 64 random bits rather than this host's clock
//! (as chrony and RFC 9109's data minimisation do): an off-path sender
//! cannot guess it, so cannot forge an offset; broadcast packets (mode 5)
//! are no answer to a question.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;

/// Seconds between the NTP era (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Why a query gave no offset.
#[derive(Debug, thiserror::Error)]
pub enum SntpError {
    /// The name did not resolve or the socket failed.
    #[error("{0}")]
    Io(String),
    /// No reply within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A reply that is not a usable server answer to our request.
    #[error("unusable reply: {0}")]
    Reply(&'static str),
}

/// Seconds since the Unix epoch of an NTP timestamp (era 0; fine until
/// 2036, after which it would need the era from the local clock).
fn from_ntp(bytes: &[u8]) -> f64 {
    let seconds = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as f64;
    let fraction = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as f64;
    seconds - NTP_UNIX_OFFSET as f64 + fraction / 4_294_967_296.0
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Queries `server` (`host` or `host:port`, port 123 by default) once;
/// the offset is positive when the server is ahead of this host.
pub async fn offset(server: &str, timeout: Duration) -> Result<f64, SntpError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let target = match server.parse::<std::net::IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, 123).to_string(),
        // "host:port", "[::1]:123"
        Err(_) if server.contains(':') => server.to_owned(),
        Err(_) => format!("{server}:123"),
    };
    let addr = tokio::time::timeout_at(deadline, tokio::net::lookup_host(target))
        .await
        .map_err(|_| SntpError::Timeout(timeout))?
        .map_err(|e| SntpError::Io(format!("cannot resolve {server}: {e}")))?
        .next()
        .ok_or_else(|| SntpError::Io(format!("{server} has no address")))?;
    let bind: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind)
        .await
        .map_err(|e| SntpError::Io(format!("cannot open a UDP socket: {e}")))?;
    socket
        .connect(addr)
        .await
        .map_err(|e| SntpError::Io(format!("cannot reach {addr}: {e}")))?;
    let mut request = [0u8; 48];
    // LI 0, version 4, mode 3 (client).
    request[0] = (4 << 3) | 3;
    // The transmit time only has to come back: the offset uses the time
    // kept here.
    let mut origin = [0u8; 8];
    aws_lc_rs::rand::fill(&mut origin)
        .map_err(|_| SntpError::Io("no randomness for the request".to_owned()))?;
    request[40..48].copy_from_slice(&origin);
    let sent_at = SystemTime::now();
    socket
        .send(&request)
        .await
        .map_err(|e| SntpError::Io(format!("cannot send to {addr}: {e}")))?;
    let mut reply = [0u8; 68];
    loop {
        let n = tokio::time::timeout_at(deadline, socket.recv(&mut reply))
            .await
            .map_err(|_| SntpError::Timeout(timeout))?
            .map_err(|e| SntpError::Io(format!("{addr}: {e}")))?;
        let received_at = SystemTime::now();
        // Replies to an earlier request, broadcasts and forgeries do not
        // echo our random transmit time; keep waiting for ours.
        if n < 48 || reply[24..32] != origin {
            continue;
        }
        return judge(&reply[..n], sent_at, received_at);
    }
}

/// The offset from a reply that echoes our request (RFC 4330 section 5):
/// ((T2 − T1) + (T3 − T4)) / 2.
fn judge(reply: &[u8], sent_at: SystemTime, received_at: SystemTime) -> Result<f64, SntpError> {
    let leap = reply[0] >> 6;
    let mode = reply[0] & 7;
    let stratum = reply[1];
    if mode != 4 {
        return Err(SntpError::Reply("not a server reply"));
    }
    if stratum == 0 {
        return Err(SntpError::Reply(
            "kiss-o'-death (stratum 0): the server refuses service",
        ));
    }
    if leap == 3 {
        return Err(SntpError::Reply(
            "the server's own clock is not synchronised",
        ));
    }
    let t1 = unix_seconds(sent_at);
    let t2 = from_ntp(&reply[32..40]);
    let t3 = from_ntp(&reply[40..48]);
    let t4 = unix_seconds(received_at);
    if t3 == -(NTP_UNIX_OFFSET as f64) {
        return Err(SntpError::Reply("no transmit time"));
    }
    Ok(((t2 - t1) + (t3 - t4)) / 2.0)
}

/// Whether the kernel says its clock is synchronised: `adjtimex` with no
/// modes only reads; `STA_UNSYNC` or `TIME_ERROR` mean it is not. None
/// when the call fails.
pub fn kernel_synchronised() -> Option<bool> {
    // SAFETY: a zeroed timex with modes = 0 is a valid read-only request;
    // the kernel only writes into the struct we own.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return None;
    }
    Some(state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_time_reads_as_unix_seconds() {
        let mut ntp = [0u8; 8];
        ntp[..4].copy_from_slice(&((1_780_000_000 + NTP_UNIX_OFFSET) as u32).to_be_bytes());
        ntp[4..].copy_from_slice(&(1u32 << 30).to_be_bytes());
        let back = from_ntp(&ntp);
        assert!((back - 1_780_000_000.25).abs() < 1e-6, "{back}");
    }

    #[test]
    fn replies_that_cannot_be_trusted_are_refused() {
        let now = SystemTime::now();
        let mut reply = [0u8; 48];
        reply[0] = (4 << 3) | 4;
        reply[1] = 0;
        assert!(matches!(judge(&reply, now, now), Err(SntpError::Reply(m)) if m.contains("kiss")));
        reply[1] = 2;
        reply[0] = (3 << 6) | (4 << 3) | 4;
        assert!(judge(&reply, now, now).is_err(), "unsynchronised server");
        reply[0] = (4 << 3) | 3;
        assert!(judge(&reply, now, now).is_err(), "a client packet");
        reply[0] = (4 << 3) | 5;
        assert!(
            matches!(judge(&reply, now, now), Err(SntpError::Reply(m)) if m.contains("not a server")),
            "a broadcast"
        );
    }

    #[test]
    fn the_kernel_answers_without_privilege() {
        assert!(kernel_synchronised().is_some());
    }
}
