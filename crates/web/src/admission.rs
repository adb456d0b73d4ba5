//! Who may hold a connection: the listener's connection cap, counted per
//! source address so that one address flooding it cannot crowd out the
//! others, and the client a trusted proxy names in `X-Forwarded-For`.
//!
//! A connection over its address's share (or over the cap) is refused at
//! once with a tiny answer and closed, never queued: queueing is what lets
//! a flood delay everyone else's heartbeats.

use axum::http::HeaderMap;
use keepup_config::{IpNetwork, ListenerLimits};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The client address a request is attributed to: the peer, or for a
/// trusted proxy the client it names in `X-Forwarded-For`. Handlers find it
/// in the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Why a connection or request was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its source address holds its share already: 429.
    AddressOverShare,
    /// The listener holds its cap: 503.
    ListenerFull,
}

/// The security headers (see [`crate::security`]) as header lines, for
/// the answers written before any request is read.
macro_rules! refusal_headers {
    () => {
        "content-security-policy: default-src 'none'; frame-ancestors 'none'\r\nx-content-type-options: nosniff\r\nreferrer-policy: same-origin\r\nx-frame-options: DENY\r\n"
    };
}

impl Refusal {
    /// The whole answer written before closing.
    pub(crate) fn answer(self) -> &'static [u8] {
        match self {
            Refusal::AddressOverShare => {
                concat!("HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain\r\ncontent-length: 39\r\nconnection: close\r\n", refusal_headers!(), "\r\ntoo many connections from your address\n").as_bytes()
            }
            Refusal::ListenerFull => {
                concat!("HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 22\r\nconnection: close\r\n", refusal_headers!(), "\r\nbusy, try again later\n").as_bytes()
            }
        }
    }
}

/// How often refusals are logged at most (a flood would flood the log too).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// The listener's occupancy, shared by the accept loop and the connections.
pub(crate) struct Admission {
    cap: usize,
    per_address: usize,
    trusted_proxies: Vec<IpNetwork>,
    held: Mutex<Held>,
    refused: AtomicU64,
    last_logged: Mutex<Option<Instant>>,
}

#[derive(Default)]
struct Held {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

impl Admission {
    pub(crate) fn new(limits: &ListenerLimits, descriptors: u64) -> Arc<Admission> {
        Arc::new(Admission {
            cap: limits.connection_cap(descriptors),
            per_address: limits.max_connections_per_address,
            trusted_proxies: limits.trusted_proxies.clone(),
            held: Mutex::new(Held::default()),
            refused: AtomicU64::new(0),
            last_logged: Mutex::new(None),
        })
    }

    /// Whether `peer` is a trusted proxy: its connections count against the
    /// cap only, each request it forwards against its client's address.
    pub(crate) fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(peer))
    }

    /// A connection from `peer` (a trusted proxy's is not counted against
    /// its own address).
    pub(crate) fn admit_connection(
        self: &Arc<Self>,
        peer: IpAddr,
        proxy: bool,
    ) -> Result<Slot, Refusal> {
        self.admit((!proxy).then(|| source_of(peer)), true)
    }

    /// A request a trusted proxy forwards for `client`, held while it is
    /// answered (the proxy's connection is counted already).
    pub(crate) fn admit_forwarded(self: &Arc<Self>, client: IpAddr) -> Result<Slot, Refusal> {
        self.admit(Some(source_of(client)), false)
    }

    fn admit(self: &Arc<Self>, source: Option<IpAddr>, counts: bool) -> Result<Slot, Refusal> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if counts && held.total >= self.cap {
            return Err(Refusal::ListenerFull);
        }
        if let Some(source) = source {
            let n = held.by_source.entry(source).or_default();
            if *n >= self.per_address {
                return Err(Refusal::AddressOverShare);
            }
            *n += 1;
        }
        if counts {
            held.total += 1;
        }
        Ok(Slot {
            admission: self.clone(),
            source,
            counts,
        })
    }

    /// Counts a refusal and logs now and then how many there were.
    pub(crate) fn note_refusal(&self, peer: IpAddr, why: Refusal) {
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self
            .last_logged
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|t| t.elapsed() >= REFUSAL_LOG_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                %peer,
                reason = ?why,
                refused_since_start = refused,
                per_address = self.per_address,
                cap = self.cap,
                "connections refused early (logged at most every 10 s)"
            );
        }
    }
}

/// One held connection or forwarded request; released when dropped.
pub(crate) struct Slot {
    admission: Arc<Admission>,
    source: Option<IpAddr>,
    counts: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self
            .admission
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.counts {
            held.total = held.total.saturating_sub(1);
        }
        if let Some(source) = self.source
            && let Some(n) = held.by_source.get_mut(&source)
        {
            *n -= 1;
            if *n == 0 {
                held.by_source.remove(&source);
            }
        }
    }
}

/// What one address's share is counted by: the IPv4 address, or the IPv6
/// /64 (one subscriber's prefix: an attacker holds all of it).
pub(crate) fn source_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        v4 @ IpAddr::V4(_) => v4,
        v6 => keepup_config::listener::mask(v6, 64),
    }
}

/// The client a trusted proxy at `peer` forwards for: the rightmost
/// `X-Forwarded-For` entry that is not itself a trusted proxy (entries
/// left of it were written by the client and prove nothing). The peer
/// itself when the header is missing or unreadable.
pub(crate) fn forwarded_client(headers: &HeaderMap, peer: IpAddr, limits: &Admission) -> IpAddr {
    let mut entries = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        entries.extend(text.split(',').map(str::trim));
    }
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = parse_forwarded(entry) else {
            return peer;
        };
        client = ip;
        if !limits.is_trusted_proxy(ip) {
            break;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, maybe with a port.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(per_address: usize, cap: usize, proxies: &[&str]) -> Arc<Admission> {
        let limits = ListenerLimits {
            max_connections: Some(cap),
            max_connections_per_address: per_address,
            trusted_proxies: proxies
                .iter()
                .map(|p| IpNetwork::parse(p).unwrap())
                .collect(),
            ..ListenerLimits::default()
        };
        Admission::new(&limits, 1 << 20)
    }

    #[test]
    fn shares_are_per_address_and_released_on_drop() {
        let a = admission(2, 3, &[]);
        let x: IpAddr = "192.0.2.1".parse().unwrap();
        let y: IpAddr = "192.0.2.2".parse().unwrap();
        let one = a.admit_connection(x, false).unwrap();
        let _two = a.admit_connection(x, false).unwrap();
        assert_eq!(
            a.admit_connection(x, false).err(),
            Some(Refusal::AddressOverShare)
        );
        let _three = a.admit_connection(y, false).unwrap();
        assert_eq!(
            a.admit_connection(y, false).err(),
            Some(Refusal::ListenerFull)
        );
        drop(one);
        assert!(a.admit_connection(x, false).is_ok());
    }

    #[test]
    fn an_ipv6_64_is_one_address() {
        let a = admission(1, 10, &[]);
        let _one = a
            .admit_connection("2001:db8::1".parse().unwrap(), false)
            .unwrap();
        assert!(
            a.admit_connection("2001:db8::2".parse().unwrap(), false)
                .is_err()
        );
        assert!(
            a.admit_connection("2001:db8:0:1::1".parse().unwrap(), false)
                .is_ok()
        );
    }

    #[test]
    fn the_forwarded_client_is_the_rightmost_untrusted_entry() {
        let a = admission(1, 10, &["10.0.0.0/8"]);
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(forwarded_client(&h, peer, &a), peer);
        h.append(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7, 10.1.1.1".parse().unwrap(),
        );
        assert_eq!(
            forwarded_client(&h, peer, &a),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", "not-an-address".parse().unwrap());
        assert_eq!(forwarded_client(&h, peer, &a), peer);
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", "[2001:db8::5]:443".parse().unwrap());
        assert_eq!(
            forwarded_client(&h, peer, &a),
            "2001:db8::5".parse::<IpAddr>().unwrap()
        );
    }
}
