//! Implicit dependencies: what a site's checks depend on without saying so.
//!
//! Three rules, applied after the explicit `depends_on` lists are resolved
//! and checked for cycles:
//!
//! - a site's **zone checks** (DNS delegation, domain registration) are
//!   parents of every other check of the site whose target is a name in
//!   that zone (`www.shop.example` is in `shop.example`): a broken
//!   delegation or an expired domain is the cause of the web, mail and
//!   certificate failures that follow;
//! - a site's **ping** of a host is the parent of every other check of the
//!   site aimed at the same host: a host that does not answer at all is
//!   the cause of its services failing;
//! - a site's **tls** check of a host and port is the parent of the site's
//!   other checks that make a TLS handshake with that host and port (https
//!   URLs, port 443 unless the URL names one; mail checks with STARTTLS or
//!   implicit TLS on their port): an expired or untrusted certificate is
//!   the cause of every HTTPS failure behind it. A `tls` check speaks TLS
//!   from the first byte, so in practice it parents implicit-TLS mail
//!   (465, 993, 995), not STARTTLS on 25/587, which it cannot reach.
//!
//! Hosts match as written, after lower-casing, dropping a final dot and
//! the brackets of an IPv6 URL host, and writing addresses in their
//! canonical form (`::0:1` is `::1`). A name never matches an address,
//! even one it resolves to: the certificate checked is the one served for
//! the name sent (SNI), which another name or a bare address may not get,
//! and the graph must not depend on DNS answers at load time.
//!
//! An implicit edge is skipped where the parent already depends, directly
//! or not, on the child (so an explicit choice always wins and no cycle is
//! ever created), and where the child already depends on the parent,
//! written explicitly or implied through another parent. Nearest causes
//! are added first and `tls` checks get their parents before the checks
//! they parent, so the chain reads zone → ping → tls → https: an https
//! check's one implicit parent is its `tls` check, which has the ping and
//! zone parents.

use crate::spec::{Check, CheckSpec, ProbeSpec, Site};
use keepup_model::CheckId;
use std::collections::HashMap;

/// Adds the implicit parents of every check, site by site.
pub(crate) fn add_implicit_dependencies(sites: &mut [Site]) {
    // Everyone's parents, explicit so far; updated as edges are added, so
    // that later cycle checks see them.
    let mut parents: HashMap<CheckId, Vec<CheckId>> = sites
        .iter()
        .flat_map(|s| s.checks.iter())
        .map(|c| (c.id.clone(), c.depends_on.clone()))
        .collect();
    for site in sites.iter_mut() {
        let zones: Vec<(CheckId, String)> = site
            .checks
            .iter()
            .filter_map(|c| Some((c.id.clone(), normalise(c.spec.zone()?))))
            .collect();
        let pings: Vec<(CheckId, String)> = site
            .checks
            .iter()
            .filter(|c| matches!(c.spec, CheckSpec::Probe(ProbeSpec::Ping(_))))
            .filter_map(|c| Some((c.id.clone(), normalise(c.spec.target_host()?))))
            .collect();
        let tls_checks: Vec<(CheckId, (String, u16))> = site
            .checks
            .iter()
            .filter(|c| is_tls_check(c))
            .filter_map(|c| Some((c.id.clone(), endpoint(c)?)))
            .collect();
        let tls_first: Vec<usize> = (0..site.checks.len())
            .filter(|&i| is_tls_check(&site.checks[i]))
            .chain((0..site.checks.len()).filter(|&i| !is_tls_check(&site.checks[i])))
            .collect();
        for i in tls_first {
            // Still the only handle while the configuration loads.
            let check = std::sync::Arc::make_mut(&mut site.checks[i]);
            if check.spec.zone().is_some()
                || matches!(check.spec, CheckSpec::Probe(ProbeSpec::Ping(_)))
            {
                continue;
            }
            let Some(host) = check.spec.target_host().map(normalise) else {
                continue;
            };
            let handshake = endpoint(check).filter(|_| !is_tls_check(check));
            let nearest_first: Vec<CheckId> = tls_checks
                .iter()
                .filter(|(_, e)| handshake.as_ref() == Some(e))
                .map(|(id, _)| id.clone())
                .chain(
                    pings
                        .iter()
                        .filter(|(_, h)| *h == host)
                        .map(|(id, _)| id.clone()),
                )
                .chain(
                    zones
                        .iter()
                        .filter(|(_, zone)| in_zone(&host, zone))
                        .map(|(id, _)| id.clone()),
                )
                .collect();
            for parent in nearest_first {
                add_edge(check, parent, &mut parents);
            }
        }
    }
}

fn is_tls_check(check: &Check) -> bool {
    matches!(check.spec, CheckSpec::Probe(ProbeSpec::Tls(_)))
}

/// The normalised host and port of the check's TLS handshake, if any.
fn endpoint(check: &Check) -> Option<(String, u16)> {
    let (host, port) = check.spec.tls_endpoint()?;
    Some((normalise(host), port))
}

fn add_edge(child: &mut Check, parent: CheckId, parents: &mut HashMap<CheckId, Vec<CheckId>>) {
    // `reaches(child, parent)` covers an edge written explicitly, one implied
    // through another parent, and the child itself.
    if reaches(&child.id, &parent, parents) || reaches(&parent, &child.id, parents) {
        return;
    }
    child.depends_on.push(parent.clone());
    parents.entry(child.id.clone()).or_default().push(parent);
}

/// Whether `from` depends on `to`, directly or through other checks.
fn reaches(from: &CheckId, to: &CheckId, parents: &HashMap<CheckId, Vec<CheckId>>) -> bool {
    let mut stack = vec![from];
    let mut seen = std::collections::HashSet::new();
    while let Some(node) = stack.pop() {
        if node == to {
            return true;
        }
        if seen.insert(node) {
            stack.extend(parents.get(node).into_iter().flatten());
        }
    }
    false
}

/// A host as compared between checks (see the module's doc).
fn normalise(host: &str) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(address) => address.to_string(),
        Err(_) => bare.trim_end_matches('.').to_ascii_lowercase(),
    }
}

fn in_zone(host: &str, zone: &str) -> bool {
    host == zone
        || host
            .strip_suffix(zone)
            .is_some_and(|prefix| prefix.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::{in_zone, normalise};

    #[test]
    fn names_in_a_zone() {
        assert!(in_zone("shop.example", "shop.example"));
        assert!(in_zone("www.shop.example", "shop.example"));
        assert!(!in_zone("myshop.example", "shop.example"));
        assert!(!in_zone("example", "shop.example"));
    }

    #[test]
    fn hosts_compare_as_names_or_canonical_addresses() {
        assert_eq!(normalise("WWW.Shop.Example."), "www.shop.example");
        assert_eq!(normalise("[::0:1]"), "::1");
        assert_eq!(normalise("::1"), "::1");
        assert_eq!(normalise("127.0.0.1"), "127.0.0.1");
        assert_ne!(normalise("localhost"), normalise("127.0.0.1"));
    }
}
