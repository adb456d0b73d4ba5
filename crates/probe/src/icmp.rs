//! ICMP echo ("ping") checks, IPv4 and IPv6.
//!
//! The socket is chosen the way `ping` from iputils does it:
//!
//! 1. an unprivileged ICMP datagram socket (`SOCK_DGRAM`, `IPPROTO_ICMP` /
//!    `IPPROTO_ICMPV6`), which Linux allows when the process's group is in
//!    `net.ipv4.ping_group_range` (a per-network-namespace sysctl that also
//!    governs ICMPv6). The kernel picks the echo identifier (the socket's
//!    "port"), fills in the checksum and hands back only the replies that
//!    carry that identifier;
//! 2. otherwise a raw socket (`SOCK_RAW`), which needs `CAP_NET_RAW`. A raw
//!    socket sees every ICMP packet of the host (other pings' replies, our
//!    own requests on loopback), so replies are matched here;
//! 3. otherwise the check is Unknown with [`codes::PING_NOT_PERMITTED`],
//!    whose text says how to allow ping or to use a TCP check instead.
//!
//! Either way a reply counts only if it comes from the pinged address, is
//! an echo reply with our identifier and a sequence number we sent, and
//! carries exactly the payload we sent with that sequence number (a random
//! token per run, so replies to another run or another process never
//! count). A reply later than `reply_timeout` counts as lost; a second
//! reply to the same request is a duplicate. Loss and the round trip times
//! (min/avg/max/mdev, as iputils reports them) go into the evidence; the
//! thresholds decide the status.
//!
//! The socket is wrapped in tokio's `UdpSocket`, which is nothing but an
//! async `sendto`/`recvfrom` on a file descriptor: no UDP is involved.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use keepup_config::{AddressFamily, PingSpec};
use keepup_model::{Finding, Outcome, Severity, Status, TimingBreakdown};
use serde_json::{Value, json};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::util::{failed, finish, ms};
use keepup_model::text::duration_words;

/// Bytes after the 8-byte ICMP header: a 16-byte token, the sequence
/// number, then a fixed pattern (56 bytes like iputils' default).
const PAYLOAD_LEN: usize = 56;
const TOKEN_LEN: usize = 16;
/// Enough for an IPv4 header with options, the ICMP header and our
/// payload; anything longer is not ours and is truncated.
const RECV_BUF: usize = 2048;
/// After this many receive errors in one run the run stops listening.
const MAX_RECV_ERRORS: usize = 16;

const ICMPV4_ECHO_REQUEST: u8 = 8;
const ICMPV4_ECHO_REPLY: u8 = 0;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_ECHO_REPLY: u8 = 129;

/// Which kind of ICMP socket a run used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// Unprivileged ICMP datagram socket.
    Datagram,
    /// Raw socket (`CAP_NET_RAW`).
    Raw,
}

impl SocketKind {
    /// The name used in evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            SocketKind::Datagram => "datagram",
            SocketKind::Raw => "raw",
        }
    }
}

/// Why no ICMP socket could be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Both kinds were refused for lack of permission.
    NotPermitted {
        /// Why the datagram socket was refused.
        datagram: io::Error,
        /// Why the raw socket was refused.
        raw: io::Error,
    },
    /// Another failure (address family unsupported, out of descriptors).
    Failed(io::Error),
}

/// An error that means "not allowed", as opposed to "not possible".
fn is_permission(e: &io::Error) -> bool {
    // EPERM and EACCES both map to PermissionDenied.
    e.kind() == io::ErrorKind::PermissionDenied
}

/// The selection rule: the datagram socket if it opens; the raw socket if
/// the datagram one was refused for lack of permission; "not permitted" if
/// both were. `open_raw` is only called when needed.
pub fn choose_socket<S>(
    datagram: io::Result<S>,
    open_raw: impl FnOnce() -> io::Result<S>,
) -> Result<(S, SocketKind), OpenError> {
    match datagram {
        Ok(s) => Ok((s, SocketKind::Datagram)),
        Err(d) if is_permission(&d) => match open_raw() {
            Ok(s) => Ok((s, SocketKind::Raw)),
            Err(r) if is_permission(&r) => Err(OpenError::NotPermitted {
                datagram: d,
                raw: r,
            }),
            Err(r) => Err(OpenError::Failed(r)),
        },
        Err(d) => Err(OpenError::Failed(d)),
    }
}

/// An open ICMP socket for one address family.
pub struct IcmpSocket {
    socket: UdpSocket,
    kind: SocketKind,
    v6: bool,
    /// The echo identifier our requests carry (for a datagram socket the
    /// kernel's choice, which it writes into every request anyway).
    ident: u16,
}

/// Identifiers for raw sockets: a per-process sequence from a random start
/// (set by the first run), so that concurrent runs in this process never
/// share one and other processes are unlikely to.
static NEXT_IDENT: AtomicU16 = AtomicU16::new(0);
static IDENT_BASE: std::sync::OnceLock<u16> = std::sync::OnceLock::new();

impl IcmpSocket {
    /// Opens the best ICMP socket this process may use for `v6`/IPv4
    /// (see the module documentation). Must run inside a tokio runtime.
    pub fn open(v6: bool, random: u16) -> Result<Self, OpenError> {
        let (domain, protocol) = if v6 {
            (Domain::IPV6, Protocol::ICMPV6)
        } else {
            (Domain::IPV4, Protocol::ICMPV4)
        };
        let (socket, kind) =
            choose_socket(Socket::new(domain, Type::DGRAM, Some(protocol)), || {
                Socket::new(domain, Type::RAW, Some(protocol))
            })?;
        let ident = match kind {
            SocketKind::Datagram => {
                // Binding to port 0 makes the kernel choose a free identifier
                // now, so that we know it.
                let any: SocketAddr = if v6 {
                    SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
                } else {
                    SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
                };
                socket.bind(&any.into()).map_err(OpenError::Failed)?;
                socket
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_socket())
                    .map_or(0, |a| a.port())
            }
            SocketKind::Raw => {
                let ident = NEXT_IDENT
                    .fetch_add(1, Ordering::Relaxed)
                    .wrapping_add(*IDENT_BASE.get_or_init(|| random));
                // Without the filter every run's socket would receive (and
                // wake up for) every ICMP packet of the host; with many runs
                // in flight that costs CPU and overflows receive buffers,
                // which reads as packet loss. Matching in user space stays
                // as the rule; the filter only spares the copies.
                let _ = socket.attach_filter(&echo_reply_filter(v6, ident));
                ident
            }
        };
        socket.set_nonblocking(true).map_err(OpenError::Failed)?;
        let socket = std::net::UdpSocket::from(socket);
        if kind == SocketKind::Raw {
            // What arrived before the filter was attached is someone
            // else's; it must not fill the buffer our replies need.
            let mut junk = [0u8; 256];
            while socket.recv(&mut junk).is_ok() {}
        }
        let socket = UdpSocket::from_std(socket).map_err(OpenError::Failed)?;
        Ok(Self {
            socket,
            kind,
            v6,
            ident,
        })
    }

    /// Which kind it is.
    pub fn kind(&self) -> SocketKind {
        self.kind
    }
}

// Classic BPF opcodes (linux/bpf_common.h).
const BPF_LD: u16 = 0x00;
const BPF_LDX: u16 = 0x01;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_H: u16 = 0x08;
const BPF_B: u16 = 0x10;
const BPF_JEQ: u16 = 0x10;
const BPF_K: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_IND: u16 = 0x40;
const BPF_MSH: u16 = 0xa0;

/// A socket filter for a raw ICMP socket that lets through only echo
/// replies carrying `ident`. An IPv4 raw socket sees the IP header, whose
/// length is taken from its first byte; an ICMPv6 one starts at the ICMP
/// header.
pub fn echo_reply_filter(v6: bool, ident: u16) -> Vec<socket2::SockFilter> {
    use socket2::SockFilter as F;
    let (reply, load) = if v6 {
        (ICMPV6_ECHO_REPLY, BPF_ABS)
    } else {
        (ICMPV4_ECHO_REPLY, BPF_IND)
    };
    let mut program = Vec::with_capacity(7);
    if !v6 {
        // X = 4 * (IHL): the offset of the ICMP header.
        program.push(F::new(BPF_LDX | BPF_B | BPF_MSH, 0, 0, 0));
    }
    program.extend([
        // The type must be an echo reply, else drop (4 ahead).
        F::new(BPF_LD | BPF_B | load, 0, 0, 0),
        F::new(BPF_JMP | BPF_JEQ | BPF_K, 0, 3, u32::from(reply)),
        // The identifier must be ours, else drop (1 ahead).
        F::new(BPF_LD | BPF_H | load, 0, 0, 4),
        F::new(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, u32::from(ident)),
        F::new(BPF_RET | BPF_K, 0, 0, 0xffff),
        F::new(BPF_RET | BPF_K, 0, 0, 0),
    ]);
    program
}

/// One echo request: ICMP header plus payload, checksummed for IPv4 (for
/// ICMPv6 the kernel computes the checksum, which covers a pseudo-header).
pub fn echo_request(v6: bool, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut packet = Vec::with_capacity(8 + payload.len());
    packet.push(if v6 {
        ICMPV6_ECHO_REQUEST
    } else {
        ICMPV4_ECHO_REQUEST
    });
    packet.push(0);
    packet.extend_from_slice(&[0, 0]);
    packet.extend_from_slice(&ident.to_be_bytes());
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(payload);
    if !v6 {
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    packet
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let word = match pair {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The payload of request `seq` in a run with `token`.
pub fn payload(token: &[u8; TOKEN_LEN], seq: u16) -> [u8; PAYLOAD_LEN] {
    let mut p = [0u8; PAYLOAD_LEN];
    p[..TOKEN_LEN].copy_from_slice(token);
    p[TOKEN_LEN..TOKEN_LEN + 2].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in p.iter_mut().enumerate().skip(TOKEN_LEN + 2) {
        *b = i as u8;
    }
    p
}

/// An echo reply as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoReply<'a> {
    /// Echo identifier.
    pub ident: u16,
    /// Sequence number.
    pub seq: u16,
    /// Everything after the ICMP header.
    pub payload: &'a [u8],
}

/// Parses what an ICMP socket received. `with_ip_header`: a raw IPv4
/// socket hands over the IP header too. Anything that is not a well-formed
/// echo reply (our own requests seen on loopback, errors, other ICMP
/// traffic, truncated or corrupted packets) is `None`.
pub fn parse_reply(v6: bool, with_ip_header: bool, packet: &[u8]) -> Option<EchoReply<'_>> {
    let icmp = if with_ip_header {
        let first = *packet.first()?;
        let header_len = usize::from(first & 0x0f) * 4;
        if first >> 4 != 4 || header_len < 20 || *packet.get(9)? != 1 {
            return None;
        }
        packet.get(header_len..)?
    } else {
        packet
    };
    if icmp.len() < 8 {
        return None;
    }
    let reply_type = if v6 {
        ICMPV6_ECHO_REPLY
    } else {
        ICMPV4_ECHO_REPLY
    };
    if icmp[0] != reply_type || icmp[1] != 0 {
        return None;
    }
    // The kernel verifies ICMPv6 checksums (they need the pseudo-header);
    // IPv4 ones are checked here.
    if !v6 && checksum(icmp) != 0 {
        return None;
    }
    Some(EchoReply {
        ident: u16::from_be_bytes([icmp[4], icmp[5]]),
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        payload: &icmp[8..],
    })
}

/// Round-trip statistics in milliseconds, as iputils prints them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RttStats {
    /// Fastest.
    pub min: f64,
    /// Mean.
    pub avg: f64,
    /// Slowest.
    pub max: f64,
    /// Mean deviation: sqrt(mean(x²) − mean(x)²).
    pub mdev: f64,
}

/// Statistics over `rtts` (milliseconds); `None` when empty.
pub fn rtt_stats(rtts: &[f64]) -> Option<RttStats> {
    if rtts.is_empty() {
        return None;
    }
    let n = rtts.len() as f64;
    let avg = rtts.iter().sum::<f64>() / n;
    let sq = rtts.iter().map(|x| x * x).sum::<f64>() / n;
    Some(RttStats {
        min: rtts.iter().copied().fold(f64::INFINITY, f64::min),
        avg,
        max: rtts.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        mdev: (sq - avg * avg).max(0.0).sqrt(),
    })
}

/// What one run observed.
#[derive(Debug, Default)]
struct Tally {
    /// Round trip of each request, `None` while unanswered.
    rtts: Vec<Option<Duration>>,
    /// When each request was sent (`None`: sending failed).
    sent_at: Vec<Option<Instant>>,
    duplicates: u32,
    late: u32,
    /// Packets that looked like echo replies but were not ours to count
    /// (wrong identifier, host, sequence or payload).
    ignored: u32,
    send_errors: Vec<String>,
    recv_errors: Vec<String>,
}

/// Runs one ping check.
pub async fn probe(spec: &PingSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let resolution = match ctx.resolve(&spec.host, 0).await {
        Ok(r) => r,
        Err(fail) => return failed(&ctx, fail, started),
    };
    let mut timing = TimingBreakdown {
        dns_ms: resolution.dns.map(ms),
        ..TimingBreakdown::default()
    };
    let wanted = |ip: &IpAddr| match spec.family {
        AddressFamily::Any => true,
        AddressFamily::Ipv4 => ip.is_ipv4(),
        AddressFamily::Ipv6 => ip.is_ipv6(),
    };
    let Some(ip) = resolution
        .addrs
        .iter()
        .map(SocketAddr::ip)
        .find(|ip| wanted(ip))
    else {
        let mut outcome = Outcome::new(Status::Up, "");
        let family = if spec.family == AddressFamily::Ipv6 {
            "IPv6"
        } else {
            "IPv4"
        };
        outcome.push(Finding::new(
            codes::PING_NO_ADDRESS,
            Severity::Critical,
            format!("{} has no {family} address", spec.host),
        ));
        return finish(outcome, String::new(), started);
    };
    let target = if spec.host.parse::<IpAddr>().is_ok() || spec.host.starts_with('[') {
        ip.to_string()
    } else {
        format!("{} ({ip})", spec.host)
    };
    let mut token = [0u8; TOKEN_LEN];
    if ctx.provider().secure_random.fill(&mut token).is_err() {
        // Without randomness the token is still unique within this process.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        token.copy_from_slice(&nanos.to_be_bytes());
    }
    let socket = match IcmpSocket::open(ip.is_ipv6(), u16::from_be_bytes([token[0], token[1]])) {
        Ok(s) => s,
        Err(e) => {
            let mut outcome = Outcome::new(Status::Up, "");
            outcome.push(open_error_finding(&e));
            outcome.worsen(Status::Unknown);
            return finish(outcome, String::new(), started);
        }
    };
    let tally = exchange(&socket, ip, spec, &token, &ctx).await;
    timing.total_ms = Some(ms(started.elapsed()));
    let mut outcome = judge(spec, &target, &tally);
    outcome.evidence.timing = Some(timing);
    let details = &mut outcome.evidence;
    details.insert("address", ip.to_string());
    details.insert("socket", socket.kind().as_str());
    details.insert("identifier", socket.ident);
    finish(outcome, String::new(), started)
}

/// Sends the echo requests `spec.spacing` apart and collects the replies
/// until every request is answered or the last one's `reply_timeout` (or
/// the run's deadline) has passed.
async fn exchange(
    socket: &IcmpSocket,
    ip: IpAddr,
    spec: &PingSpec,
    token: &[u8; TOKEN_LEN],
    ctx: &ProbeContext,
) -> Tally {
    let count = spec.count as usize;
    let mut tally = Tally {
        rtts: vec![None; count],
        sent_at: Vec::with_capacity(count),
        ..Tally::default()
    };
    let destination = SocketAddr::new(ip, 0);
    let with_ip_header = socket.kind == SocketKind::Raw && !socket.v6;
    let mut buf = vec![0u8; RECV_BUF];
    let mut next_send = Instant::now();
    loop {
        let all_sent = tally.sent_at.len() == count;
        let answered = tally.rtts.iter().filter(|r| r.is_some()).count();
        let failed_sends = tally.sent_at.iter().filter(|s| s.is_none()).count();
        if all_sent && answered + failed_sends == count {
            break;
        }
        let wake = if all_sent {
            match tally.sent_at.iter().rev().flatten().next() {
                Some(last) => ctx.deadline_within(
                    (*last + spec.reply_timeout).saturating_duration_since(Instant::now()),
                ),
                None => break,
            }
        } else {
            ctx.deadline_within(next_send.saturating_duration_since(Instant::now()))
        };
        if ctx.remaining().is_zero() {
            break;
        }
        tokio::select! {
            received = socket.socket.recv_from(&mut buf) => match received {
                Ok((len, from)) => {
                    let now = Instant::now();
                    tally_reply(&mut tally, &buf[..len.min(buf.len())], from.ip(), ip, socket, with_ip_header, token, spec.reply_timeout, now);
                }
                Err(e) => {
                    tally.recv_errors.push(crate::util::io_reason(&e));
                    if tally.recv_errors.len() >= MAX_RECV_ERRORS {
                        break;
                    }
                }
            },
            _ = tokio::time::sleep_until(wake) => {
                if all_sent {
                    break;
                }
                if Instant::now() >= next_send {
                    let seq = tally.sent_at.len() as u16;
                    let packet = echo_request(socket.v6, socket.ident, seq, &payload(token, seq));
                    let at = Instant::now();
                    match socket.socket.send_to(&packet, destination).await {
                        Ok(_) => tally.sent_at.push(Some(at)),
                        Err(e) => {
                            tally.sent_at.push(None);
                            tally.send_errors.push(crate::util::io_reason(&e));
                        }
                    }
                    next_send = at + spec.spacing;
                }
            }
        }
    }
    tally
}

/// Counts one received packet if it answers one of our requests in time.
#[allow(clippy::too_many_arguments)]
fn tally_reply(
    tally: &mut Tally,
    packet: &[u8],
    from: IpAddr,
    target: IpAddr,
    socket: &IcmpSocket,
    with_ip_header: bool,
    token: &[u8; TOKEN_LEN],
    reply_timeout: Duration,
    now: Instant,
) {
    let Some(reply) = parse_reply(socket.v6, with_ip_header, packet) else {
        // Not an echo reply at all (on a raw socket: any other ICMP).
        return;
    };
    let seq = usize::from(reply.seq);
    let ours = from == target
        && reply.ident == socket.ident
        && seq < tally.sent_at.len()
        && reply.payload == payload(token, reply.seq);
    if !ours {
        tally.ignored += 1;
        return;
    }
    let Some(Some(sent)) = tally.sent_at.get(seq) else {
        tally.ignored += 1;
        return;
    };
    let rtt = now.saturating_duration_since(*sent);
    match tally.rtts.get_mut(seq) {
        Some(Some(_)) => tally.duplicates += 1,
        Some(slot) if rtt <= reply_timeout => *slot = Some(rtt),
        Some(_) => tally.late += 1,
        None => tally.ignored += 1,
    }
}

fn open_error_finding(e: &OpenError) -> Finding {
    match e {
        OpenError::NotPermitted { datagram, raw } => Finding::new(
            codes::PING_NOT_PERMITTED,
            Severity::Warning,
            format!(
                "this process may not send ICMP: the unprivileged ICMP socket was refused ({}: \
                 the group is not in net.ipv4.ping_group_range) and so was the raw socket ({}: \
                 CAP_NET_RAW is missing); allow one of them (e.g. sysctl \
                 net.ipv4.ping_group_range=\"0 2147483647\") or watch an open port with a \
                 kind = \"tcp\" check instead",
                crate::util::io_reason(datagram),
                crate::util::io_reason(raw)
            ),
        ),
        OpenError::Failed(e) => Finding::new(
            codes::PING_SOCKET_FAILED,
            Severity::Warning,
            format!(
                "no ICMP socket could be opened: {}",
                crate::util::io_reason(e)
            ),
        ),
    }
}

/// The outcome of a run: loss and round-trip thresholds, evidence.
fn judge(spec: &PingSpec, target: &str, tally: &Tally) -> Outcome {
    let sent = tally.sent_at.len();
    let rtts: Vec<f64> = tally.rtts.iter().flatten().map(|d| ms(*d)).collect();
    let received = rtts.len();
    let loss = if sent == 0 {
        100.0
    } else {
        (sent - received) as f64 * 100.0 / sent as f64
    };
    let stats = rtt_stats(&rtts);
    let mut outcome = Outcome::new(Status::Up, "");
    let evidence = &mut outcome.evidence;
    evidence.insert("sent", sent);
    evidence.insert("received", received);
    evidence.insert("loss_percent", (loss * 10.0).round() / 10.0);
    evidence.insert("duplicates", tally.duplicates);
    evidence.insert("late", tally.late);
    evidence.insert("ignored", tally.ignored);
    evidence.insert(
        "replies_ms",
        Value::Array(
            tally
                .rtts
                .iter()
                .take(sent)
                .map(|r| r.map_or(Value::Null, |d| json!(round3(ms(d)))))
                .collect(),
        ),
    );
    if let Some(s) = stats {
        evidence.insert(
            "rtt_ms",
            json!({
                "min": round3(s.min),
                "avg": round3(s.avg),
                "max": round3(s.max),
                "mdev": round3(s.mdev),
            }),
        );
    }
    if !tally.send_errors.is_empty() {
        evidence.insert("send_errors", tally.send_errors.clone());
    }
    if !tally.recv_errors.is_empty() {
        evidence.insert("receive_errors", tally.recv_errors.clone());
    }

    if received == 0 {
        if !tally.send_errors.is_empty() && tally.send_errors.len() == sent {
            outcome.push(Finding::new(
                codes::PING_SEND_FAILED,
                Severity::Critical,
                format!(
                    "no echo request could be sent to {target}: {}",
                    tally.send_errors[0]
                ),
            ));
        } else {
            outcome.push(Finding::new(
                codes::PING_NO_REPLY,
                Severity::Critical,
                format!("{target} did not answer any of {sent} echo requests"),
            ));
        }
        return outcome;
    }
    let lost = sent - received;
    if loss >= spec.down_loss {
        outcome.push(Finding::new(
            codes::PING_LOSS_CRITICAL,
            Severity::Critical,
            format!(
                "{lost} of {sent} echo requests to {target} were not answered (down at {}% loss)",
                spec.down_loss
            ),
        ));
    } else if loss >= spec.degraded_loss {
        outcome.push(Finding::new(
            codes::PING_LOSS_HIGH,
            Severity::Warning,
            format!(
                "{lost} of {sent} echo requests to {target} were not answered (degraded at {}% loss)",
                spec.degraded_loss
            ),
        ));
    }
    if let Some(s) = stats {
        let avg = Duration::from_secs_f64(s.avg / 1000.0);
        if let Some(limit) = spec.down_rtt.filter(|l| avg > *l) {
            outcome.push(Finding::new(
                codes::PING_RTT_CRITICAL,
                Severity::Critical,
                format!(
                    "the average round trip to {target} is above the {} down threshold",
                    duration_words(limit)
                ),
            ));
        } else if let Some(limit) = spec.degraded_rtt.filter(|l| avg > *l) {
            outcome.push(Finding::new(
                codes::PING_RTT_HIGH,
                Severity::Warning,
                format!(
                    "the average round trip to {target} is above the {} degraded threshold",
                    duration_words(limit)
                ),
            ));
        }
    }
    outcome.message = if outcome.status == Status::Up {
        format!("{target} answered {received} of {sent} echo requests")
    } else {
        String::new()
    };
    outcome
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PingSpec {
        PingSpec {
            host: "127.0.0.1".into(),
            family: AddressFamily::Any,
            count: 5,
            spacing: Duration::from_millis(10),
            reply_timeout: Duration::from_secs(1),
            degraded_loss: 20.0,
            down_loss: 60.0,
            degraded_rtt: Some(Duration::from_millis(100)),
            down_rtt: Some(Duration::from_millis(500)),
        }
    }

    fn tally(rtts_ms: &[Option<u64>]) -> Tally {
        let now = Instant::now();
        Tally {
            rtts: rtts_ms
                .iter()
                .map(|r| r.map(Duration::from_millis))
                .collect(),
            sent_at: rtts_ms.iter().map(|_| Some(now)).collect(),
            ..Tally::default()
        }
    }

    fn codes_of(o: &Outcome) -> Vec<&str> {
        o.findings.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn socket_selection_prefers_datagram_then_raw_then_explains() {
        let denied = || io::Error::from_raw_os_error(13);
        let eperm = || io::Error::from_raw_os_error(1);
        let (s, kind) = choose_socket(Ok(1), || -> io::Result<i32> { panic!("not needed") })
            .ok()
            .unwrap();
        assert_eq!((s, kind), (1, SocketKind::Datagram));
        let (s, kind) = choose_socket(Err(denied()), || Ok(2)).ok().unwrap();
        assert_eq!((s, kind), (2, SocketKind::Raw));
        match choose_socket::<i32>(Err(denied()), || Err(eperm())) {
            Err(OpenError::NotPermitted { .. }) => {}
            other => panic!("{other:?}"),
        }
        // "Address family not supported" is not a permission problem: no
        // raw socket would help, and the message must say what happened.
        match choose_socket::<i32>(Err(io::Error::from_raw_os_error(97)), || Ok(3)) {
            Err(OpenError::Failed(_)) => {}
            other => panic!("{other:?}"),
        }
        let finding = open_error_finding(&OpenError::NotPermitted {
            datagram: denied(),
            raw: eperm(),
        });
        assert_eq!(finding.code, codes::PING_NOT_PERMITTED);
        assert!(finding.text.contains("kind = \"tcp\""), "{}", finding.text);
        assert!(
            finding.text.contains("ping_group_range"),
            "{}",
            finding.text
        );
    }

    #[test]
    fn requests_round_trip_through_the_reply_parser() {
        let token = [7u8; TOKEN_LEN];
        let p = payload(&token, 3);
        let mut packet = echo_request(false, 0xbeef, 3, &p);
        assert_eq!(checksum(&packet), 0, "a request checksums to zero");
        // Our own request, as a raw socket sees it on loopback: not a reply.
        assert_eq!(parse_reply(false, false, &packet), None);
        // Turn it into the reply the kernel sends back.
        packet[0] = ICMPV4_ECHO_REPLY;
        packet[2..4].copy_from_slice(&[0, 0]);
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
        let reply = parse_reply(false, false, &packet).unwrap();
        assert_eq!((reply.ident, reply.seq), (0xbeef, 3));
        assert_eq!(reply.payload, &p[..]);

        // The same behind a 20-byte IPv4 header (raw socket).
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        ip.extend_from_slice(&packet);
        assert_eq!(parse_reply(false, true, &ip).unwrap().seq, 3);
        // With options (IHL 6).
        let mut ip6 = ip.clone();
        ip6[0] = 0x46;
        ip6.splice(20..20, [1, 1, 1, 1]);
        assert_eq!(parse_reply(false, true, &ip6).unwrap().seq, 3);
        // Not ICMP (protocol 17), not IPv4, truncated, corrupted.
        let mut udp = ip.clone();
        udp[9] = 17;
        assert_eq!(parse_reply(false, true, &udp), None);
        let mut v5 = ip.clone();
        v5[0] = 0x55;
        assert_eq!(parse_reply(false, true, &v5), None);
        assert_eq!(parse_reply(false, true, &ip[..25]), None);
        assert_eq!(parse_reply(false, false, &[]), None);
        let mut corrupt = packet.clone();
        corrupt[20] ^= 0xff;
        assert_eq!(parse_reply(false, false, &corrupt), None);

        // ICMPv6: the kernel owns the checksum; types 128/129.
        let mut v6 = echo_request(true, 9, 1, &p);
        assert_eq!(v6[0], ICMPV6_ECHO_REQUEST);
        assert_eq!(parse_reply(true, false, &v6), None);
        v6[0] = ICMPV6_ECHO_REPLY;
        assert_eq!(parse_reply(true, false, &v6).unwrap().ident, 9);
        // A v4 reply is not a v6 one.
        assert_eq!(parse_reply(true, false, &packet), None);
    }

    #[test]
    fn replies_are_counted_only_when_they_are_ours() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        // Any socket will do for the matching logic; a datagram one is
        // made to look like a v6 socket with identifier 42.
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        std_socket.set_nonblocking(true).unwrap();
        let socket = IcmpSocket {
            socket: UdpSocket::from_std(std_socket).unwrap(),
            kind: SocketKind::Datagram,
            v6: true,
            ident: 42,
        };
        let token = [1u8; TOKEN_LEN];
        let target: IpAddr = "::1".parse().unwrap();
        let other: IpAddr = "::2".parse().unwrap();
        let start = Instant::now();
        let mut t = Tally {
            rtts: vec![None; 3],
            sent_at: vec![Some(start), Some(start)],
            ..Tally::default()
        };
        let reply = |ident: u16, seq: u16, token: &[u8; TOKEN_LEN]| {
            let mut p = echo_request(true, ident, seq, &payload(token, seq));
            p[0] = ICMPV6_ECHO_REPLY;
            p
        };
        let at = start + Duration::from_millis(5);
        let timeout = Duration::from_secs(1);
        let count = |t: &mut Tally, p: &[u8], from: IpAddr, now: Instant| {
            tally_reply(t, p, from, target, &socket, false, &token, timeout, now)
        };
        count(&mut t, &reply(42, 0, &token), other, at); // another host
        count(&mut t, &reply(43, 0, &token), target, at); // another identifier
        count(&mut t, &reply(42, 0, &[2u8; TOKEN_LEN]), target, at); // another run
        count(&mut t, &reply(42, 2, &token), target, at); // never sent
        assert_eq!(t.ignored, 4);
        assert_eq!(t.rtts, vec![None, None, None]);
        count(&mut t, &reply(42, 0, &token), target, at);
        count(&mut t, &reply(42, 0, &token), target, at); // duplicate
        count(
            &mut t,
            &reply(42, 1, &token),
            target,
            start + Duration::from_secs(2),
        ); // late
        assert_eq!(t.rtts[0], Some(Duration::from_millis(5)));
        assert_eq!((t.duplicates, t.late, t.rtts[1]), (1, 1, None));
    }

    #[test]
    fn loss_and_rtt_thresholds() {
        let s = spec();
        let o = judge(&s, "127.0.0.1", &tally(&[Some(1); 5]));
        assert_eq!(o.status, Status::Up);
        assert_eq!(o.message, "127.0.0.1 answered 5 of 5 echo requests");
        assert_eq!(o.evidence.details["loss_percent"], 0.0);

        let o = judge(&s, "h", &tally(&[Some(1), None, Some(1), Some(1), Some(1)]));
        assert_eq!(
            (o.status, codes_of(&o)),
            (Status::Degraded, vec![codes::PING_LOSS_HIGH])
        );
        assert_eq!(o.evidence.details["loss_percent"], 20.0);

        let o = judge(&s, "h", &tally(&[Some(1), None, None, None, Some(1)]));
        assert_eq!(
            (o.status, codes_of(&o)),
            (Status::Down, vec![codes::PING_LOSS_CRITICAL])
        );

        let o = judge(&s, "h", &tally(&[None; 5]));
        assert_eq!(
            (o.status, codes_of(&o)),
            (Status::Down, vec![codes::PING_NO_REPLY])
        );
        assert!(o.evidence.details.get("rtt_ms").is_none());

        let o = judge(&s, "h", &tally(&[Some(150); 5]));
        assert_eq!(
            (o.status, codes_of(&o)),
            (Status::Degraded, vec![codes::PING_RTT_HIGH])
        );
        let o = judge(&s, "h", &tally(&[Some(600); 5]));
        assert_eq!(
            (o.status, codes_of(&o)),
            (Status::Down, vec![codes::PING_RTT_CRITICAL])
        );

        let mut failed_sends = tally(&[None; 2]);
        failed_sends.sent_at = vec![None, None];
        failed_sends.send_errors = vec!["Network is unreachable".into(); 2];
        let o = judge(&s, "h", &failed_sends);
        assert_eq!(codes_of(&o), vec![codes::PING_SEND_FAILED]);
        assert!(o.findings[0].text.contains("unreachable"));
    }

    #[test]
    fn rtt_statistics_match_iputils() {
        let s = rtt_stats(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!((s.min, s.avg, s.max), (1.0, 2.5, 4.0));
        assert!((s.mdev - 1.118).abs() < 0.001, "{}", s.mdev);
        assert!(rtt_stats(&[]).is_none());
    }
}
