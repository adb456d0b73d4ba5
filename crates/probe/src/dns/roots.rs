//! Where a walk starts: the configured root hints, or the IANA root servers
//! bundled in `root.hints` (the `named.root` file format).

use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::Name;
use keepup_config::DnsSettings;
use keepup_config::dns::DNS_PORT;

use crate::dns::walk::Server;

/// The bundled root hints.
const ROOT_HINTS: &str = include_str!("root.hints");

/// The A and AAAA lines of a `named.root` file: (server name, address).
pub(crate) fn parse_hints(text: &str) -> Vec<(String, IpAddr)> {
    text.lines()
        .map(|l| l.split(';').next().unwrap_or_default())
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            match fields.as_slice() {
                [name, _ttl, "A" | "AAAA", addr] | [name, _ttl, "IN", "A" | "AAAA", addr] => {
                    addr.parse().ok().map(|ip| (name.to_ascii_lowercase(), ip))
                }
                _ => None,
            }
        })
        .collect()
}

/// The servers a walk starts with: the configured hints in their order,
/// or the bundled root servers, IPv4 first, starting at a different one
/// each run so that no single root server gets every first query.
pub(crate) fn start_servers(settings: &DnsSettings) -> Vec<Server> {
    if let Some(hints) = &settings.root_hints {
        return hints
            .iter()
            .map(|addr| Server {
                name: None,
                addr: *addr,
            })
            .collect();
    }
    let mut v4: Vec<Server> = Vec::new();
    let mut v6: Vec<Server> = Vec::new();
    for (name, ip) in parse_hints(ROOT_HINTS) {
        let server = Server {
            name: Name::from_ascii(&name).ok(),
            addr: SocketAddr::new(ip, DNS_PORT),
        };
        if ip.is_ipv4() { &mut v4 } else { &mut v6 }.push(server);
    }
    let turn = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as usize)
        .unwrap_or(0);
    for list in [&mut v4, &mut v6] {
        if !list.is_empty() {
            let by = turn % list.len();
            list.rotate_left(by);
        }
    }
    v4.extend(v6);
    v4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_hints_hold_the_thirteen_root_servers() {
        let hints = parse_hints(ROOT_HINTS);
        assert_eq!(hints.iter().filter(|(_, ip)| ip.is_ipv4()).count(), 13);
        assert_eq!(hints.iter().filter(|(_, ip)| ip.is_ipv6()).count(), 13);
        assert!(hints.contains(&("a.root-servers.net.".into(), "198.41.0.4".parse().unwrap())));
        let servers = start_servers(&DnsSettings::default());
        assert_eq!(servers.len(), 26);
        assert!(
            servers[..13]
                .iter()
                .all(|s| s.addr.is_ipv4() && s.addr.port() == 53)
        );
    }

    #[test]
    fn configured_hints_replace_the_bundled_ones() {
        let settings = DnsSettings {
            root_hints: Some(vec!["127.0.0.1:5300".parse().unwrap()]),
            ..DnsSettings::default()
        };
        let servers = start_servers(&settings);
        assert_eq!(servers.len(), 1);
        assert_eq!(servers[0].addr.port(), 5300);
    }
}
