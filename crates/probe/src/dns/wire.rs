//! The DNS wire client: one question to one server, over UDP (once more if
//! no answer comes) with a fall-back to TCP when the answer is truncated,
//! or over TCP alone.
//!
//! A response is accepted only when it is a response, carries the query's
//! ID and repeats its question; over UDP, datagrams that do not are
//! ignored (they may be spoofed or late) and only reported if nothing
//! better arrives. Every wait ends at the query timeout or the run's
//! deadline, whichever comes first; a response is at most 64 KiB (the
//! protocol's own limit), and its header counts are checked against its
//! length before anything is decoded.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use crate::context::ProbeContext;
use crate::util::{io_reason, ms};
use keepup_model::text::duration_words;

/// The EDNS buffer size keepup advertises (the DNS flag day 2020 value:
/// no fragmentation on any path).
const EDNS_PAYLOAD: u16 = 1232;

/// The largest DNS message (the TCP length prefix is 16 bits; a UDP
/// datagram cannot be larger either).
pub(crate) const MAX_MESSAGE: usize = 65_535;

/// How a response came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// UDP.
    Udp,
    /// TCP (asked for, or after a truncated UDP answer).
    Tcp,
}

impl Via {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Via::Udp => "udp",
            Via::Tcp => "tcp",
        }
    }
}

/// Why a query got no usable response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireError {
    /// Nothing usable arrived in time.
    Timeout(Duration),
    /// The port is closed (ICMP port unreachable, TCP reset).
    Refused,
    /// The address cannot be reached from here (no route, no IPv6).
    Unreachable(String),
    /// Another socket error.
    Io(String),
    /// The response cannot be decoded.
    Malformed(String),
    /// Only responses that do not belong to the query arrived.
    Mismatch(String),
    /// The TCP connection closed before a whole response arrived.
    Closed,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Timeout(d) => write!(f, "no answer within {}", duration_words(*d)),
            WireError::Refused => f.write_str("connection refused (nothing listens there)"),
            WireError::Unreachable(why) => write!(f, "unreachable: {why}"),
            WireError::Io(why) => f.write_str(why),
            WireError::Malformed(why) => write!(f, "malformed response: {why}"),
            WireError::Mismatch(why) => write!(f, "the response does not match the query: {why}"),
            WireError::Closed => {
                f.write_str("the connection closed before a whole response arrived")
            }
        }
    }
}

/// A response that belongs to the query.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    /// The decoded response.
    pub(crate) msg: Message,
    /// How it came.
    pub(crate) via: Via,
    /// Whether a UDP answer was truncated first (then `via` is TCP).
    pub(crate) truncated_udp: bool,
}

/// One question.
#[derive(Debug, Clone)]
pub(crate) struct Question {
    pub(crate) name: Name,
    pub(crate) rtype: RecordType,
    /// Recursion desired: set when asking a resolver, clear when asking
    /// authoritative servers.
    pub(crate) rd: bool,
}

impl Question {
    pub(crate) fn new(name: &Name, rtype: RecordType, rd: bool) -> Self {
        Self {
            name: name.clone(),
            rtype,
            rd,
        }
    }
}

impl fmt::Display for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", name_text(&self.name), self.rtype)
    }
}

/// Asks `server` the question over UDP (falling back to TCP when the
/// answer is truncated) or, with `tcp`, over TCP only. Each attempt waits
/// at most `timeout` and never past the run's deadline.
pub(crate) async fn exchange(
    ctx: &ProbeContext,
    server: SocketAddr,
    q: &Question,
    tcp: bool,
    timeout: Duration,
) -> Result<Exchange, WireError> {
    let (id, wire) = encode_query(q)?;
    if tcp {
        let msg = tcp_exchange(ctx, server, &wire, id, q, timeout).await?;
        return Ok(Exchange {
            msg,
            via: Via::Tcp,
            truncated_udp: false,
        });
    }
    let msg = udp_exchange(ctx, server, &wire, id, q, timeout).await?;
    if !msg.metadata.truncation {
        return Ok(Exchange {
            msg,
            via: Via::Udp,
            truncated_udp: false,
        });
    }
    match tcp_exchange(ctx, server, &wire, id, q, timeout).await {
        Ok(msg) => Ok(Exchange {
            msg,
            via: Via::Tcp,
            truncated_udp: true,
        }),
        Err(e) => Err(match e {
            WireError::Io(why) => {
                WireError::Io(format!("truncated over UDP, then over TCP: {why}"))
            }
            WireError::Refused => WireError::Io("truncated over UDP, and TCP is refused".into()),
            other => WireError::Io(format!("truncated over UDP, then over TCP: {other}")),
        }),
    }
}

/// A query message: a random ID, the question, EDNS with our buffer size.
fn encode_query(q: &Question) -> Result<(u16, Vec<u8>), WireError> {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = q.rd;
    msg.add_query(Query::query(q.name.clone(), q.rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    msg.set_edns(edns);
    let id = msg.metadata.id;
    msg.to_vec()
        .map(|w| (id, w))
        .map_err(|e| WireError::Io(format!("cannot encode the query: {e}")))
}

fn attempt_deadline(ctx: &ProbeContext, timeout: Duration) -> Instant {
    ctx.deadline_within(timeout)
}

async fn udp_exchange(
    ctx: &ProbeContext,
    server: SocketAddr,
    wire: &[u8],
    id: u16,
    q: &Question,
    timeout: Duration,
) -> Result<Message, WireError> {
    let local: SocketAddr = if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = UdpSocket::bind(local).await.map_err(io_error)?;
    socket.connect(server).await.map_err(io_error)?;
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut mismatch: Option<String> = None;
    // Two attempts: one lost datagram should not fail a name server.
    for _ in 0..2 {
        socket.send(wire).await.map_err(io_error)?;
        let until = attempt_deadline(ctx, timeout);
        loop {
            let n = match tokio::time::timeout_at(until, socket.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(io_error(e)),
                Ok(Ok(n)) => n,
            };
            match decode_response(&buf[..n], id, q) {
                Ok(msg) => return Ok(msg),
                // Not ours (late, spoofed, garbage without our ID): keep
                // listening until the attempt's time is up.
                Err(WireError::Mismatch(why)) => mismatch = Some(why),
                Err(e) => return Err(e),
            }
        }
        if Instant::now() >= ctx.deadline_within(Duration::MAX) {
            break;
        }
    }
    Err(match mismatch {
        Some(why) => WireError::Mismatch(why),
        None => WireError::Timeout(timeout.min(ctx.timeout().unwrap_or(timeout))),
    })
}

async fn tcp_exchange(
    ctx: &ProbeContext,
    server: SocketAddr,
    wire: &[u8],
    id: u16,
    q: &Question,
    timeout: Duration,
) -> Result<Message, WireError> {
    let until = attempt_deadline(ctx, timeout);
    let late = || WireError::Timeout(timeout);
    let mut stream = tokio::time::timeout_at(until, TcpStream::connect(server))
        .await
        .map_err(|_| late())?
        .map_err(io_error)?;
    let _ = stream.set_nodelay(true);
    let len = u16::try_from(wire.len()).map_err(|_| WireError::Io("query too long".into()))?;
    let mut out = Vec::with_capacity(wire.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(wire);
    tokio::time::timeout_at(until, stream.write_all(&out))
        .await
        .map_err(|_| late())?
        .map_err(io_error)?;
    let mut prefix = [0u8; 2];
    read_exact(&mut stream, &mut prefix, until, timeout).await?;
    let len = usize::from(u16::from_be_bytes(prefix));
    let mut body = vec![0u8; len];
    read_exact(&mut stream, &mut body, until, timeout).await?;
    decode_response(&body, id, q)
}

async fn read_exact(
    stream: &mut TcpStream,
    buf: &mut [u8],
    until: Instant,
    timeout: Duration,
) -> Result<(), WireError> {
    match tokio::time::timeout_at(until, stream.read_exact(buf)).await {
        Err(_) => Err(WireError::Timeout(timeout)),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(WireError::Closed),
        Ok(Err(e)) => Err(io_error(e)),
        Ok(Ok(_)) => Ok(()),
    }
}

fn io_error(e: std::io::Error) -> WireError {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => WireError::Refused,
        ErrorKind::NetworkUnreachable
        | ErrorKind::HostUnreachable
        | ErrorKind::AddrNotAvailable => WireError::Unreachable(io_reason(&e)),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => WireError::Closed,
        _ => WireError::Io(io_reason(&e)),
    }
}

/// Decodes `bytes` as the response to query `id` asking `q`. A wrong ID or
/// question is [`WireError::Mismatch`]; anything undecodable is
/// [`WireError::Malformed`].
pub(crate) fn decode_response(bytes: &[u8], id: u16, q: &Question) -> Result<Message, WireError> {
    if bytes.len() < 12 {
        return Err(
            if bytes.len() >= 2 && u16::from_be_bytes([bytes[0], bytes[1]]) != id {
                WireError::Mismatch("an answer with another ID".into())
            } else {
                WireError::Malformed(format!("{} bytes, shorter than a DNS header", bytes.len()))
            },
        );
    }
    if u16::from_be_bytes([bytes[0], bytes[1]]) != id {
        return Err(WireError::Mismatch("an answer with another ID".into()));
    }
    let msg = decode(bytes)?;
    if msg.metadata.message_type != MessageType::Response {
        return Err(WireError::Malformed(
            "the message is a query, not a response".into(),
        ));
    }
    if msg.metadata.op_code != OpCode::Query {
        return Err(WireError::Malformed(format!(
            "unexpected opcode {:?}",
            msg.metadata.op_code
        )));
    }
    match msg.queries.as_slice() {
        [] if msg.metadata.response_code != ResponseCode::NoError => Ok(msg),
        [] => Err(WireError::Mismatch("an answer without the question".into())),
        [asked] if asked.name == q.name && asked.query_type == q.rtype => Ok(msg),
        [asked] => Err(WireError::Mismatch(format!(
            "an answer about {} {}",
            name_text(&asked.name),
            asked.query_type
        ))),
        _ => Err(WireError::Mismatch(
            "an answer with several questions".into(),
        )),
    }
}

/// Decodes a DNS message, after checking that its section counts fit its
/// length (each question takes at least 5 bytes, each record 11), so that a
/// short hostile message cannot make the decoder reserve room for 65,535
/// records per section.
pub(crate) fn decode(bytes: &[u8]) -> Result<Message, WireError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(WireError::Malformed("longer than 65535 bytes".into()));
    }
    if bytes.len() < 12 {
        return Err(WireError::Malformed("shorter than a DNS header".into()));
    }
    let count = |i: usize| usize::from(u16::from_be_bytes([bytes[i], bytes[i + 1]]));
    let needed = 12 + 5 * count(4) + 11 * (count(6) + count(8) + count(10));
    if needed > bytes.len() {
        return Err(WireError::Malformed(format!(
            "its header announces more records than its {} bytes can hold",
            bytes.len()
        )));
    }
    Message::from_vec(bytes).map_err(|e| WireError::Malformed(e.to_string()))
}

/// A name as text: lowercase, absolute.
pub(crate) fn name_text(name: &Name) -> String {
    let mut s = name.to_ascii().to_ascii_lowercase();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// The response code as its mnemonic (`NXDOMAIN`).
pub(crate) fn rcode_text(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::NotAuth => "NOTAUTH".into(),
        other => format!("RCODE{}", u16::from(other)),
    }
}

/// The header flags as dig shows them (`qr aa rd`).
pub(crate) fn flags_text(msg: &Message) -> String {
    let m = &msg.metadata;
    let mut flags = Vec::new();
    for (on, name) in [
        (m.message_type == MessageType::Response, "qr"),
        (m.authoritative, "aa"),
        (m.truncation, "tc"),
        (m.recursion_desired, "rd"),
        (m.recursion_available, "ra"),
    ] {
        if on {
            flags.push(name);
        }
    }
    flags.join(" ")
}

/// Longest text of one record in the evidence.
const MAX_RECORD_TEXT: usize = 160;
/// Records listed per section in the evidence.
const MAX_RECORDS_SHOWN: usize = 8;

/// One record as a line of a zone file, shortened for the evidence.
pub(crate) fn record_text(r: &Record) -> String {
    let data = match &r.data {
        RData::TXT(t) => {
            let mut joined = String::new();
            for part in t.txt_data.iter() {
                if joined.len() > MAX_RECORD_TEXT {
                    break;
                }
                joined.push_str(&String::from_utf8_lossy(part));
            }
            format!("{joined:?}")
        }
        other => other.to_string(),
    };
    let mut line = format!("{} {} {}", name_text(&r.name), r.record_type(), data);
    if line.len() > MAX_RECORD_TEXT {
        let mut cut = MAX_RECORD_TEXT;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    line
}

fn section(records: &[Record]) -> Value {
    let mut shown: Vec<Value> = records
        .iter()
        .filter(|r| r.record_type() != RecordType::OPT)
        .take(MAX_RECORDS_SHOWN)
        .map(|r| Value::String(record_text(r)))
        .collect();
    if records.len() > MAX_RECORDS_SHOWN {
        shown.push(Value::String(format!(
            "… {} more",
            records.len() - MAX_RECORDS_SHOWN
        )));
    }
    Value::Array(shown)
}

/// One step of a walk for the evidence: who was asked what, and what came
/// back (or why nothing did).
pub(crate) fn step(
    server: &str,
    q: &Question,
    via: Via,
    result: &Result<Exchange, WireError>,
    elapsed: Duration,
) -> Value {
    let mut v = json!({
        "server": server,
        "question": q.to_string(),
        "ms": (ms(elapsed) * 1000.0).round() / 1000.0,
    });
    match result {
        Ok(x) => {
            v["via"] = json!(x.via.as_str());
            if x.truncated_udp {
                v["truncated_over_udp"] = json!(true);
            }
            v["rcode"] = json!(rcode_text(x.msg.metadata.response_code));
            v["flags"] = json!(flags_text(&x.msg));
            if !x.msg.answers.is_empty() {
                v["answer"] = section(&x.msg.answers);
            }
            if !x.msg.authorities.is_empty() {
                v["authority"] = section(&x.msg.authorities);
            }
            if !x.msg.additionals.is_empty() {
                v["additional"] = section(&x.msg.additionals);
            }
        }
        Err(e) => {
            v["via"] = json!(via.as_str());
            v["error"] = json!(e.to_string());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> Question {
        Question::new(
            &Name::from_ascii("shop.test.").unwrap(),
            RecordType::SOA,
            false,
        )
    }

    #[test]
    fn responses_must_match_the_query() {
        let question = q();
        let (id, wire) = encode_query(&question).unwrap();
        // A query is not a response.
        assert!(matches!(
            decode_response(&wire, id, &question),
            Err(WireError::Malformed(_))
        ));
        let mut response = Message::response(id, OpCode::Query);
        response.add_query(Query::query(question.name.clone(), RecordType::SOA));
        let bytes = response.to_vec().unwrap();
        assert!(decode_response(&bytes, id, &question).is_ok());
        assert!(matches!(
            decode_response(&bytes, id.wrapping_add(1), &question),
            Err(WireError::Mismatch(_))
        ));
        let other = Question::new(&question.name, RecordType::NS, false);
        assert!(matches!(
            decode_response(&bytes, id, &other),
            Err(WireError::Mismatch(_))
        ));
    }

    #[test]
    fn counts_beyond_the_length_are_refused_before_decoding() {
        let mut bytes = vec![0u8; 12];
        bytes[2] = 0x80;
        bytes[6] = 0xff;
        bytes[7] = 0xff;
        assert!(matches!(decode(&bytes), Err(WireError::Malformed(_))));
    }

    #[test]
    fn a_compression_loop_is_malformed() {
        // Header (1 answer), then a name that points at itself.
        let mut bytes = vec![0x12, 0x34, 0x84, 0x00, 0, 0, 0, 1, 0, 0, 0, 0];
        bytes.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
        assert!(matches!(decode(&bytes), Err(WireError::Malformed(_))));
    }
}
