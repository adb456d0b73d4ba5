//! Implicit dependencies: what a site's checks depend on without saying so.
//!
//! Two rules, applied after the explicit `depends_on` lists are resolved
//! and checked for cycles:
//!
//! - a site's **zone checks** (DNS delegation, domain registration) are
//!   parents of every other check of the site whose target is a name in
//!   that zone (`www.shop.example` is in `shop.example`): a broken
//!   delegation or an expired domain is the cause of the web, mail and
//!   certificate failures that follow;
//! - a site's **ping** of a host is the parent of every other check of the
//!   site aimed at the same host: a host that does not answer at all is
//!   the cause of its services failing.
//!
//! An implicit edge is skipped where the parent already depends, directly
//! or not, on the child (so an explicit choice always wins and no cycle is
//! ever created), and where it is written explicitly already.

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
        for check in &mut site.checks {
            // Still the only handle while the configuration loads.
            let check = std::sync::Arc::make_mut(check);
            if check.spec.zone().is_some()
                || matches!(check.spec, CheckSpec::Probe(ProbeSpec::Ping(_)))
            {
                continue;
            }
            let Some(host) = check.spec.target_host().map(normalise) else {
                continue;
            };
            let wanted = zones
                .iter()
                .filter(|(_, zone)| in_zone(&host, zone))
                .chain(pings.iter().filter(|(_, h)| *h == host))
                .map(|(id, _)| id.clone());
            for parent in wanted.collect::<Vec<_>>() {
                add_edge(check, parent, &mut parents);
            }
        }
    }
}

fn add_edge(child: &mut Check, parent: CheckId, parents: &mut HashMap<CheckId, Vec<CheckId>>) {
    if child.depends_on.contains(&parent) || reaches(&parent, &child.id, parents) {
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

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn in_zone(host: &str, zone: &str) -> bool {
    host == zone
        || host
            .strip_suffix(zone)
            .is_some_and(|prefix| prefix.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::in_zone;

    #[test]
    fn names_in_a_zone() {
        assert!(in_zone("shop.example", "shop.example"));
        assert!(in_zone("www.shop.example", "shop.example"));
        assert!(!in_zone("myshop.example", "shop.example"));
        assert!(!in_zone("example", "shop.example"));
    }
}
