//! `[server]`'s limits for the HTTP listener: how many connections it holds
//! in all and per source address, how long a client has for its request
//! head, and which reverse proxies may name the client in
//! `X-Forwarded-For`.
//!
//! ```toml
//! [server]
//! max_connections = 10000              # default: half the descriptor limit, at most 10,000
//! max_connections_per_address = 64     # an IPv6 /64 counts as one address
//! request_head_timeout = "5s"          # also how long an idle keep-alive connection stays
//! trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]
//! ```

use crate::load::Loader;
use crate::raw::Dur;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;
use toml::Spanned;

/// Connections one source address may hold by default: far more than cron
/// jobs and a few browsers behind one NAT need, far fewer than a flood.
pub const DEFAULT_PER_ADDRESS: usize = 64;
/// Default request-head (and keep-alive idle) deadline.
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound of the default connection cap.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The listener's limits, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerLimits {
    /// Connections held at once; `None`: the default, half the descriptor
    /// limit keepup got at start, at most [`DEFAULT_MAX_CONNECTIONS`]
    /// (see [`ListenerLimits::connection_cap`]).
    pub max_connections: Option<usize>,
    /// Connections (and proxied requests) one source address may hold.
    pub max_connections_per_address: usize,
    /// Time from the moment the listener waits for a request (connection
    /// opened, or previous answer sent) until its head is complete.
    pub request_head_timeout: Duration,
    /// Peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNetwork>,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            max_connections: None,
            max_connections_per_address: DEFAULT_PER_ADDRESS,
            request_head_timeout: DEFAULT_HEAD_TIMEOUT,
            trusted_proxies: Vec::new(),
        }
    }
}

impl ListenerLimits {
    /// The connection cap with `descriptors` file descriptors available:
    /// the configured one, or half of them (the other half is for probes,
    /// the store and backups), at most [`DEFAULT_MAX_CONNECTIONS`].
    pub fn connection_cap(&self, descriptors: u64) -> usize {
        self.max_connections.unwrap_or_else(|| {
            usize::try_from(descriptors / 2)
                .unwrap_or(usize::MAX)
                .clamp(1, DEFAULT_MAX_CONNECTIONS)
        })
    }

    /// Whether `peer` is a configured reverse proxy.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(peer))
    }
}

/// An address with a prefix length: `10.0.0.0/8`, `::1/128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// Parses `ADDR` or `ADDR/PREFIX`, or says why not.
    pub fn parse(text: &str) -> Result<IpNetwork, String> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| format!("{addr_text:?} is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("prefix length {p:?} is not 0 to {max}")),
            },
        };
        Ok(IpNetwork {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// Whether `ip` lies in this network (IPv4-mapped IPv6 addresses count
    /// as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

/// `ip` with all but its first `prefix` bits cleared.
pub fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & bits))
        }
        IpAddr::V6(v6) => {
            let shift = 128 - u32::from(prefix.min(128));
            let bits = u128::MAX.checked_shl(shift).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & bits))
        }
    }
}

/// The `[server]` keys of the listener's limits, as written.
#[derive(Debug, Default)]
pub(crate) struct RawListenerLimits<'a> {
    pub max_connections: Option<&'a Spanned<usize>>,
    pub max_connections_per_address: Option<&'a Spanned<usize>>,
    pub request_head_timeout: Option<&'a Spanned<Dur>>,
    pub trusted_proxies: Option<&'a Spanned<Vec<Spanned<String>>>>,
}

impl Loader<'_> {
    /// Validates the listener's limits against `descriptors`, the hard
    /// descriptor limit (`None`: unlimited).
    pub(crate) fn listener_limits(
        &mut self,
        raw: RawListenerLimits<'_>,
        descriptors: Option<u64>,
    ) -> ListenerLimits {
        let mut limits = ListenerLimits::default();
        let count = |loader: &mut Self, value: &Spanned<usize>, key: &str| {
            let n = *value.get_ref();
            if n == 0 {
                loader
                    .rep
                    .report(value.span(), key, "must be at least 1", None);
                return None;
            }
            if let Some(fds) = descriptors.filter(|&fds| n as u64 > fds) {
                loader.rep.report(
                    value.span(),
                    key,
                    format!("{n} connections cannot be held: keepup may open at most {fds} file descriptors (the hard limit, `ulimit -Hn`)"),
                    Some(format!("write at most {fds}, or raise the hard limit (LimitNOFILE= in the systemd unit)")),
                );
                return None;
            }
            Some(n)
        };
        if let Some(v) = raw.max_connections {
            limits.max_connections = count(self, v, "server.max_connections");
        }
        if let Some(v) = raw.max_connections_per_address
            && let Some(n) = count(self, v, "server.max_connections_per_address")
        {
            limits.max_connections_per_address = n;
            if let Some(max) = limits.max_connections.filter(|&max| n > max) {
                self.rep.report(
                    v.span(),
                    "server.max_connections_per_address",
                    format!(
                        "one address cannot hold more than all of them (max_connections = {max})"
                    ),
                    None,
                );
            }
        }
        if let Some(d) = raw.request_head_timeout {
            limits.request_head_timeout = self.positive(d, "server.request_head_timeout");
        }
        if let Some(list) = raw.trusted_proxies {
            limits.trusted_proxies = self.networks(list, "server.trusted_proxies");
        }
        limits
    }

    /// A list of addresses and networks (`trusted_proxies`,
    /// `metrics_allow`), each entry that does not parse reported where it
    /// is written.
    pub(crate) fn networks(
        &mut self,
        list: &Spanned<Vec<Spanned<String>>>,
        key: &str,
    ) -> Vec<IpNetwork> {
        let mut networks = Vec::new();
        for entry in list.get_ref() {
            match IpNetwork::parse(entry.get_ref()) {
                Ok(net) => networks.push(net),
                Err(why) => self.rep.report(
                    entry.span(),
                    key,
                    why,
                    Some(
                        "write an address or a network, e.g. \"127.0.0.1\" or \"10.0.0.0/8\""
                            .into(),
                    ),
                ),
            }
        }
        networks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses_only() {
        let net = IpNetwork::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = IpNetwork::parse("::1").unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("127.0.0.1".parse().unwrap()));
        let all = IpNetwork::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        assert!(IpNetwork::parse("10.0.0.0/33").is_err());
        assert!(IpNetwork::parse("proxy.local").is_err());
        assert_eq!(
            mask("2001:db8:1:2:3:4:5:6".parse().unwrap(), 64),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
    }
}
