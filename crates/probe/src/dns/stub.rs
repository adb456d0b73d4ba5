//! Asking recursive resolvers (as a stub resolver does): the resolvers of
//! `[dns] resolver` or of the check, else the `nameserver` lines of
//! `/etc/resolv.conf`, tried in order until one gives a usable answer.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};
use keepup_config::DnsSettings;
use keepup_config::dns::DNS_PORT;

use crate::context::ProbeContext;
use crate::dns::wire::{self, Exchange, Question, WireError, rcode_text};

/// The system's resolver configuration.
const RESOLV_CONF: &str = "/etc/resolv.conf";
/// resolv.conf larger than this is not read.
const MAX_RESOLV_CONF: u64 = 64 * 1024;

/// The resolvers to ask: configured ones, else those of resolv.conf, else
/// the local host (what the C library does without a resolv.conf).
pub(crate) async fn resolvers(settings: &DnsSettings) -> Vec<SocketAddr> {
    if let Some(list) = &settings.resolver {
        return list.clone();
    }
    let from_file = match tokio::fs::metadata(RESOLV_CONF).await {
        Ok(m) if m.len() <= MAX_RESOLV_CONF => tokio::fs::read_to_string(RESOLV_CONF)
            .await
            .map(|text| parse_resolv_conf(&text))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    if from_file.is_empty() {
        vec![SocketAddr::from(([127, 0, 0, 1], DNS_PORT))]
    } else {
        from_file
    }
}

/// The `nameserver` addresses of a resolv.conf (scoped IPv6 addresses are
/// skipped: they need an interface).
pub(crate) fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            match (words.next(), words.next()) {
                (Some("nameserver"), Some(addr)) => addr.parse::<IpAddr>().ok(),
                _ => None,
            }
        })
        .map(|ip| SocketAddr::new(ip, DNS_PORT))
        .collect()
}

/// A resolver's answer, and which resolver gave it.
pub(crate) struct StubAnswer {
    pub(crate) exchange: Exchange,
    pub(crate) resolver: SocketAddr,
}

/// Asks the resolvers in order, with recursion desired, until one answers
/// NOERROR or NXDOMAIN; returns that answer, or why none did.
pub(crate) async fn lookup(
    ctx: &ProbeContext,
    resolvers: &[SocketAddr],
    name: &Name,
    rtype: RecordType,
    timeout: Duration,
) -> Result<StubAnswer, String> {
    let q = Question::new(name, rtype, true);
    let mut errors: Vec<String> = Vec::new();
    for resolver in resolvers {
        match wire::exchange(ctx, *resolver, &q, false, timeout).await {
            Ok(x) => {
                let rcode = x.msg.metadata.response_code;
                if rcode == ResponseCode::NoError || rcode == ResponseCode::NXDomain {
                    return Ok(StubAnswer {
                        exchange: x,
                        resolver: *resolver,
                    });
                }
                errors.push(format!("{resolver} answered {}", rcode_text(rcode)));
            }
            Err(e @ WireError::Timeout(_)) if ctx.remaining().is_zero() => {
                errors.push(format!("{resolver}: {e}"));
                break;
            }
            Err(e) => errors.push(format!("{resolver}: {e}")),
        }
    }
    if errors.is_empty() {
        errors.push("no resolver is configured".into());
    }
    Err(errors.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers_are_read() {
        let text = "# comment\nsearch example\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nnameserver 2001:db8::53\noptions ndots:2\n";
        assert_eq!(
            parse_resolv_conf(text),
            vec![
                "192.0.2.53:53".parse().unwrap(),
                "[2001:db8::53]:53".parse().unwrap()
            ]
        );
    }
}
