//! `kind = "delegation"`: the chain of resolution from the root hints down
//! to a zone, and the health of the zone's name servers, in the manner of
//! Zonemaster's test cases (each finding code names the one it follows).
//!
//! 1. Walk down from the root hints asking `zone NS` until the parent's
//!    servers refer to the zone (BASIC01), and ask every parent server the
//!    same question (they must agree).
//! 2. Ask every name server of the delegation, at every address, for the
//!    zone's SOA over UDP (falling back to TCP on truncation) and over TCP,
//!    and for its NS set: reachability (CONNECTIVITY01/02), authority
//!    (DELEGATION04), serials (CONSISTENCY01), NS sets (CONSISTENCY04,
//!    DELEGATION07). Name servers only the zone itself lists are asked too.
//! 3. Resolve every name server name: inside the zone at its own servers
//!    (glue must match, CONSISTENCY05), elsewhere from the root; none may
//!    be an alias (DELEGATION05) or lack an address.
//! 4. Count names and addresses (DELEGATION01/02), check the SOA timers
//!    (ZONE02–ZONE06), the MX set (ZONE08/ZONE09) and the configured
//!    record expectations.
//!
//! Zonemaster's levels map onto ours: ERROR/WARNING that still leave the
//! zone resolvable are Warning (Degraded), NOTICE/INFO are Info, and what
//! makes the zone unresolvable (no delegation, no reachable or no
//! authoritative server at all) is Critical (Down). Every exchange is a
//! step of `evidence.details.steps`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, RecordType};
use keepup_config::DelegationSpec;
use keepup_model::{Finding, Outcome, Severity, Status};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::dns::records;
use crate::dns::walk::{HostAddrs, Reply, Server, WalkError, Walker, classify, names_text};
use crate::dns::wire::{Exchange, Question, WireError, name_text, rcode_text};
use crate::dns::{roots, walk_failure};
use crate::util::{Fail, failed, finish};

/// Referrals followed on the way down.
const MAX_REFERRALS: usize = 24;

/// What the parent says about the zone.
#[derive(Debug, Clone)]
struct Delegation {
    /// The parent zone.
    parent: Name,
    /// Its servers.
    parent_servers: Vec<Server>,
    /// The one that answered first.
    answered_by: usize,
    /// The NS names of the delegation.
    ns: Vec<Name>,
    /// Glue: addresses of NS names given with the referral.
    glue: Vec<(Name, IpAddr)>,
    /// The parent's server answered for the zone itself (it serves both).
    served_by_parent: bool,
}

/// Why there is no delegation to look at.
enum NoDelegation {
    /// The parent answers, and says there is none.
    NotFound(String),
    /// The walk could not get there.
    Walk(WalkError),
}

/// Walks from the root hints to the parent's referral to `zone`.
async fn find_delegation(walker: &mut Walker<'_>, zone: &Name) -> Result<Delegation, NoDelegation> {
    let mut cut = Name::root();
    let mut servers = roots::start_servers(walker.settings);
    let q = Question::new(zone, RecordType::NS, false);
    for _ in 0..MAX_REFERRALS {
        let (answered_by, reply) = walker
            .ask_cut(&servers, &q, &cut)
            .await
            .map_err(NoDelegation::Walk)?;
        match reply {
            Reply::Referral {
                cut: next,
                ns,
                glue,
            } if next == *zone => {
                return Ok(Delegation {
                    parent: cut,
                    parent_servers: servers,
                    answered_by,
                    ns,
                    glue,
                    served_by_parent: false,
                });
            }
            Reply::Referral {
                cut: next,
                ns,
                glue,
            } => {
                let next_servers = walker.referral_servers(&next, &ns, &glue, 0).await;
                if !next_servers.iter().any(|s| walker.usable(s)) {
                    return Err(NoDelegation::Walk(WalkError::Unreachable {
                        errors: vec![format!(
                            "none of its name servers ({}) has a usable address",
                            names_text(&ns)
                        )],
                        cut: next,
                    }));
                }
                walker.learn(&next, &next_servers);
                cut = next;
                servers = next_servers;
            }
            Reply::Answer { records, .. } => {
                let ns = records
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::NS(n) => Some(n.0.clone()),
                        _ => None,
                    })
                    .collect();
                return Ok(Delegation {
                    parent: cut,
                    parent_servers: servers,
                    answered_by,
                    ns,
                    glue: Vec::new(),
                    served_by_parent: true,
                });
            }
            Reply::NxDomain { .. } => {
                return Err(NoDelegation::NotFound(format!(
                    "{} does not exist: the servers of {} answer NXDOMAIN",
                    name_text(zone),
                    zone_text(&cut)
                )));
            }
            Reply::NoData { .. } => {
                return Err(NoDelegation::NotFound(format!(
                    "{} is not delegated: it is a name inside {}, which has no NS records for it",
                    name_text(zone),
                    zone_text(&cut)
                )));
            }
            Reply::Alias { target, .. } => {
                return Err(NoDelegation::NotFound(format!(
                    "{} is an alias (CNAME) of {}, not a zone",
                    name_text(zone),
                    name_text(&target)
                )));
            }
            Reply::Bad(why) => {
                return Err(NoDelegation::NotFound(why));
            }
        }
    }
    Err(NoDelegation::Walk(WalkError::Loop(format!(
        "more than {MAX_REFERRALS} referrals on the way to {}",
        name_text(zone)
    ))))
}

/// `the root` or `test.`.
fn zone_text(name: &Name) -> String {
    if name.is_root() {
        "the root".into()
    } else {
        name_text(name)
    }
}

/// What one name server said.
#[derive(Debug, Clone)]
struct ServerReport {
    server: Server,
    /// UDP reachability: the SOA exchange.
    udp: Result<Exchange, WireError>,
    /// The NS exchange (over UDP, asked only when UDP works).
    ns: Option<Result<Exchange, WireError>>,
    /// TCP reachability: the SOA exchange over TCP.
    tcp: Result<Exchange, WireError>,
}

impl ServerReport {
    fn answered(&self) -> bool {
        self.udp.is_ok() || self.tcp.is_ok()
    }

    /// The zone's SOA when the server is authoritative, or why it is not.
    fn authority(&self, zone: &Name) -> Result<SOA, String> {
        let x = match (&self.udp, &self.tcp) {
            (Ok(x), _) | (Err(_), Ok(x)) => x,
            (Err(e), Err(_)) => return Err(e.to_string()),
        };
        soa_of(&x.msg, zone)
    }

    fn ns_set(&self, zone: &Name) -> Option<BTreeSet<String>> {
        let x = self.ns.as_ref()?.as_ref().ok()?;
        match classify(&x.msg, zone, RecordType::NS, zone, true) {
            Reply::Answer { records, .. } => Some(
                records
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::NS(n) => Some(name_text(&n.0)),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// The SOA of `zone` from an authoritative answer, or why there is none.
pub(crate) fn soa_of(msg: &hickory_proto::op::Message, zone: &Name) -> Result<SOA, String> {
    match classify(msg, zone, RecordType::SOA, zone, true) {
        Reply::Answer { records, .. } => records
            .iter()
            .find_map(|r| match &r.data {
                RData::SOA(soa) => Some(soa.clone()),
                _ => None,
            })
            .ok_or_else(|| "it sent no SOA record".to_owned()),
        Reply::Bad(why) => Err(why),
        Reply::NxDomain { .. } => Err("it says the zone does not exist (NXDOMAIN)".into()),
        Reply::NoData { .. } => Err("it has no SOA record for the zone (DELEGATION06)".into()),
        Reply::Referral { cut, .. } => Err(format!(
            "it refers to {} instead of answering",
            name_text(&cut)
        )),
        Reply::Alias { .. } => Err("the zone's apex is an alias".into()),
    }
}

/// One name server name and what is known about it.
#[derive(Debug, Clone)]
struct NsHost {
    name: Name,
    /// Listed by the parent.
    at_parent: bool,
    /// Listed by the zone itself.
    at_child: bool,
    /// Inside the zone (its address comes from the zone).
    in_zone: bool,
    glue: Vec<IpAddr>,
    /// Addresses found by looking the name up.
    looked_up: Option<HostAddrs>,
}

impl NsHost {
    /// The addresses to ask: glue first, else what the lookup found.
    fn addresses(&self) -> Vec<IpAddr> {
        let mut all = self.glue.clone();
        if let Some(found) = &self.looked_up {
            for ip in &found.addrs {
                if !all.contains(ip) {
                    all.push(*ip);
                }
            }
        }
        all
    }
}

/// Runs one delegation check.
pub async fn probe(spec: &DelegationSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let Ok(zone) = Name::from_ascii(&spec.zone) else {
        return failed(
            &ctx,
            Fail::Finding(Finding::new(
                codes::PROBE_INVALID_TARGET,
                Severity::Critical,
                format!("{} is not a DNS name", spec.zone),
            )),
            started,
        );
    };
    let mut walker = Walker::new(&ctx, &spec.dns, roots::start_servers(&spec.dns));
    let mut outcome = Outcome::new(Status::Up, "");
    let ok_message = check_zone(spec, &zone, &mut walker, &mut outcome).await;
    let (steps, dropped) = walker.take_steps();
    outcome.evidence.insert("queries", walker.queries());
    outcome.evidence.insert("steps", Value::Array(steps));
    if dropped > 0 {
        outcome.evidence.insert("steps_omitted", dropped);
    }
    finish(outcome, ok_message, started)
}

/// The whole check; findings and evidence go into `outcome`, the return
/// value is the message when nothing needs attention.
async fn check_zone(
    spec: &DelegationSpec,
    zone: &Name,
    walker: &mut Walker<'_>,
    outcome: &mut Outcome,
) -> String {
    let zt = name_text(zone);
    let delegation = match find_delegation(walker, zone).await {
        Ok(d) => d,
        Err(NoDelegation::NotFound(why)) => {
            outcome.push(Finding::new(
                codes::DNS_DELEGATION_NOT_FOUND,
                Severity::Critical,
                why,
            ));
            return String::new();
        }
        Err(NoDelegation::Walk(e)) => {
            outcome.push(walk_failure(walker.ctx, &e, &zt));
            if matches!(&e, WalkError::Unreachable { cut, .. } if cut.is_root()) {
                outcome.worsen(Status::Unknown);
            }
            return String::new();
        }
    };
    check_parent_consistency(walker, zone, &delegation, outcome).await;
    outcome.evidence.insert(
        "parent",
        json!({
            "zone": name_text(&delegation.parent),
            "servers": delegation.parent_servers.iter().map(Server::label).collect::<Vec<_>>(),
            "ns": delegation.ns.iter().map(name_text).collect::<Vec<_>>(),
            "glue": delegation.glue.iter().map(|(n, ip)| format!("{} {ip}", name_text(n))).collect::<Vec<_>>(),
            "served_by_parent": delegation.served_by_parent,
        }),
    );

    // The name server names the parent lists.
    let mut hosts: Vec<NsHost> = Vec::new();
    for name in &delegation.ns {
        if hosts.iter().any(|h| h.name == *name) {
            continue;
        }
        hosts.push(NsHost {
            name: name.clone(),
            at_parent: true,
            at_child: false,
            in_zone: zone.zone_of(name),
            glue: delegation
                .glue
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, ip)| *ip)
                .collect(),
            looked_up: None,
        });
    }
    // Names outside the zone are looked up from the root.
    for h in hosts.iter_mut().filter(|h| !h.in_zone) {
        h.looked_up = Some(walker.host_addresses(&h.name, 1).await);
    }
    let mut reports: Vec<ServerReport> = Vec::new();
    probe_servers(walker, zone, &hosts, &mut reports).await;

    // Names in the zone, and names only the zone lists, are looked up at
    // the zone's authoritative servers; those only the zone lists are
    // then asked too.
    let authoritative: Vec<Server> = reports
        .iter()
        .filter(|r| r.authority(zone).is_ok())
        .map(|r| r.server.clone())
        .collect();
    let child_names: BTreeSet<String> = reports
        .iter()
        .filter(|r| r.authority(zone).is_ok())
        .filter_map(|r| r.ns_set(zone))
        .flatten()
        .collect();
    for text in &child_names {
        let Ok(name) = Name::from_ascii(text) else {
            continue;
        };
        match hosts.iter_mut().find(|h| h.name == name) {
            Some(h) => h.at_child = true,
            None => hosts.push(NsHost {
                in_zone: zone.zone_of(&name),
                name,
                at_parent: false,
                at_child: true,
                glue: Vec::new(),
                looked_up: None,
            }),
        }
    }
    for h in hosts.iter_mut() {
        if h.looked_up.is_some() {
            continue;
        }
        h.looked_up = Some(if h.in_zone {
            lookup_in_zone(walker, zone, &authoritative, &h.name).await
        } else {
            walker.host_addresses(&h.name, 1).await
        });
    }
    probe_servers(walker, zone, &hosts, &mut reports).await;

    outcome.evidence.insert(
        "name_servers",
        Value::Array(reports.iter().map(|r| server_evidence(r, zone)).collect()),
    );

    name_server_findings(&delegation, zone, &hosts, &reports, outcome);
    let reachable = reports.iter().any(ServerReport::answered);
    let authoritative: Vec<Server> = reports
        .iter()
        .filter(|r| r.authority(zone).is_ok())
        .map(|r| r.server.clone())
        .collect();
    if authoritative.is_empty() {
        if reachable {
            outcome.push(Finding::new(
                codes::DNS_NS_LAME,
                Severity::Critical,
                format!("no name server of {zt} answers authoritatively for it: the zone does not resolve"),
            ));
        }
        return String::new();
    }
    soa_findings(zone, &reports, outcome);
    mx_findings(spec, walker, zone, &authoritative, outcome).await;
    for exp in &spec.records {
        let results = records::ask_servers(walker, exp, &authoritative, zone).await;
        for f in records::judge(exp, &results) {
            let unknown = f.code == codes::DNS_QUERY_FAILED;
            outcome.push(f);
            if unknown {
                outcome.worsen(Status::Unknown);
            }
        }
    }
    let names = hosts.iter().filter(|h| h.at_parent).count();
    format!(
        "{zt} is delegated from {} to {names} name server{}, all answering consistently",
        zone_text(&delegation.parent),
        if names == 1 { "" } else { "s" }
    )
}

/// Asks the other parent servers for the delegation too: a zone whose
/// parent servers disagree resolves differently depending on who is asked
/// (BASIC01, B01_INCONSISTENT_DELEGATION).
async fn check_parent_consistency(
    walker: &mut Walker<'_>,
    zone: &Name,
    delegation: &Delegation,
    outcome: &mut Outcome,
) {
    let q = Question::new(zone, RecordType::NS, false);
    let others: Vec<Server> = delegation
        .parent_servers
        .iter()
        .enumerate()
        .filter(|(i, s)| *i != delegation.answered_by && walker.usable(s))
        .map(|(_, s)| s.clone())
        .collect();
    let asks = others
        .iter()
        .map(|s| (s.clone(), q.clone(), false))
        .collect();
    let answers = walker.ask_all(asks).await;
    let reference: BTreeSet<String> = delegation.ns.iter().map(name_text).collect();
    let mut differing = Vec::new();
    for (server, answer) in others.iter().zip(answers) {
        let Ok(x) = answer else { continue };
        let set: Option<BTreeSet<String>> =
            match classify(&x.msg, zone, RecordType::NS, &delegation.parent, true) {
                Reply::Referral { cut, ns, .. } if cut == *zone => {
                    Some(ns.iter().map(name_text).collect())
                }
                Reply::Answer { records, .. } => Some(
                    records
                        .iter()
                        .filter_map(|r| match &r.data {
                            RData::NS(n) => Some(name_text(&n.0)),
                            _ => None,
                        })
                        .collect(),
                ),
                Reply::NxDomain { .. } => Some(BTreeSet::new()),
                _ => None,
            };
        if let Some(set) = set
            && set != reference
        {
            differing.push(format!("{} says {}", server.label(), set_text(&set)));
        }
    }
    if !differing.is_empty() {
        outcome.push(Finding::new(
            codes::DNS_PARENT_INCONSISTENT,
            Severity::Warning,
            format!(
                "the servers of {} disagree about the delegation of {}: {} says {}; {}",
                zone_text(&delegation.parent),
                name_text(zone),
                delegation
                    .parent_servers
                    .get(delegation.answered_by)
                    .map(Server::label)
                    .unwrap_or_default(),
                set_text(&reference),
                differing.join("; ")
            ),
        ));
    }
}

fn set_text(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "nothing (NXDOMAIN)".into()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Asks every address of every host not asked yet: SOA over UDP, NS over
/// UDP (when UDP works), SOA over TCP.
async fn probe_servers(
    walker: &mut Walker<'_>,
    zone: &Name,
    hosts: &[NsHost],
    reports: &mut Vec<ServerReport>,
) {
    let port = walker.settings.port;
    let mut servers: Vec<Server> = Vec::new();
    for h in hosts {
        for ip in h.addresses() {
            let s = Server {
                name: Some(h.name.clone()),
                addr: SocketAddr::new(ip, port),
            };
            if walker.usable(&s) && !servers.contains(&s) && !reports.iter().any(|r| r.server == s)
            {
                servers.push(s);
            }
        }
    }
    if servers.is_empty() {
        return;
    }
    let soa = Question::new(zone, RecordType::SOA, false);
    let ns = Question::new(zone, RecordType::NS, false);
    let mut asks = Vec::new();
    for s in &servers {
        asks.push((s.clone(), soa.clone(), false));
        asks.push((s.clone(), ns.clone(), false));
        asks.push((s.clone(), soa.clone(), true));
    }
    let mut answers = walker.ask_all(asks).await.into_iter();
    for server in servers {
        let (Some(udp), Some(ns), Some(tcp)) = (answers.next(), answers.next(), answers.next())
        else {
            break;
        };
        let ns = if udp.is_ok() { Some(ns) } else { None };
        reports.push(ServerReport {
            server,
            udp,
            ns,
            tcp,
        });
    }
}

/// The addresses of a name inside the zone, as its authoritative servers
/// give them (following a CNAME or a deeper delegation from the root).
async fn lookup_in_zone(
    walker: &mut Walker<'_>,
    zone: &Name,
    authoritative: &[Server],
    host: &Name,
) -> HostAddrs {
    let mut out = HostAddrs::default();
    if authoritative.is_empty() {
        out.error = Some(format!(
            "{} could not be looked up: no server of {} answers authoritatively",
            name_text(host),
            name_text(zone)
        ));
        return out;
    }
    for qtype in [RecordType::A, RecordType::AAAA] {
        let q = Question::new(host, qtype, false);
        match walker.ask_cut(authoritative, &q, zone).await {
            Ok((_, Reply::Answer { records, .. })) => {
                out.addrs
                    .extend(records.iter().filter_map(crate::dns::walk::address_of));
            }
            Ok((_, Reply::Alias { aliases, target })) => {
                for a in aliases {
                    if !out.aliases.contains(&a) {
                        out.aliases.push(a);
                    }
                }
                let found = walker.host_addresses(&target, 1).await;
                out.addrs
                    .extend(found.addrs.iter().filter(|ip| match qtype {
                        RecordType::A => ip.is_ipv4(),
                        _ => ip.is_ipv6(),
                    }));
            }
            Ok((_, Reply::Referral { .. })) => {
                // Inside a zone delegated further down: ask from the root.
                let found = walker.host_addresses(host, 1).await;
                out.aliases.extend(found.aliases);
                out.addrs.extend(found.addrs);
                out.error = found.error;
                break;
            }
            Ok((_, Reply::NxDomain { .. })) => {
                out.error = Some(format!(
                    "{} does not exist in the zone (NXDOMAIN)",
                    name_text(host)
                ));
                break;
            }
            Ok(_) => {}
            Err(e) => {
                out.error = Some(e.text());
                break;
            }
        }
    }
    out.addrs.dedup();
    if out.addrs.is_empty() && out.error.is_none() {
        out.error = Some(format!("{} has no A or AAAA record", name_text(host)));
    }
    out
}

fn server_evidence(r: &ServerReport, zone: &Name) -> Value {
    let result = |x: &Result<Exchange, WireError>| match x {
        Ok(x) => rcode_text(x.msg.metadata.response_code),
        Err(e) => e.to_string(),
    };
    let mut v = json!({
        "server": r.server.label(),
        "udp": result(&r.udp),
        "tcp": result(&r.tcp),
    });
    match r.authority(zone) {
        Ok(soa) => {
            v["authoritative"] = json!(true);
            v["serial"] = json!(soa.serial);
        }
        Err(why) => {
            v["authoritative"] = json!(false);
            v["not_authoritative_because"] = json!(why);
        }
    }
    if let Some(ns) = r.ns_set(zone) {
        v["ns"] = json!(ns.into_iter().collect::<Vec<_>>());
    }
    v
}

/// Findings about the name servers: counts, addresses, aliases, glue,
/// reachability, authority and NS sets.
fn name_server_findings(
    delegation: &Delegation,
    zone: &Name,
    hosts: &[NsHost],
    reports: &[ServerReport],
    outcome: &mut Outcome,
) {
    let zt = name_text(zone);
    let parent = zone_text(&delegation.parent);
    let parent_set: BTreeSet<String> = hosts
        .iter()
        .filter(|h| h.at_parent)
        .map(|h| name_text(&h.name))
        .collect();
    let child_set: BTreeSet<String> = hosts
        .iter()
        .filter(|h| h.at_child)
        .map(|h| name_text(&h.name))
        .collect();

    // DELEGATION01: at least two name servers, at the parent and in the zone.
    let mut too_few = Vec::new();
    if parent_set.len() < 2 {
        too_few.push(format!(
            "the parent ({parent}) lists {} ({})",
            count_text(parent_set.len()),
            set_text(&parent_set)
        ));
    }
    if !child_set.is_empty() && child_set.len() < 2 {
        too_few.push(format!(
            "the zone lists {} ({})",
            count_text(child_set.len()),
            set_text(&child_set)
        ));
    }
    if !too_few.is_empty() {
        outcome.push(Finding::new(
            codes::DNS_NS_TOO_FEW,
            Severity::Warning,
            format!(
                "{zt} needs at least two name servers so that one failure does not take it down: {}",
                too_few.join("; ")
            ),
        ));
    }

    // DELEGATION07: the parent and the zone list the same names.
    if !child_set.is_empty() && child_set != parent_set {
        outcome.push(Finding::new(
            codes::DNS_NS_SET_MISMATCH,
            Severity::Warning,
            format!(
                "the parent ({parent}) delegates {zt} to {}, but the zone lists {}",
                set_text(&parent_set),
                set_text(&child_set)
            ),
        ));
    }

    // CONSISTENCY04: every authoritative server gives the same NS set.
    let sets: Vec<(String, BTreeSet<String>)> = reports
        .iter()
        .filter(|r| r.authority(zone).is_ok())
        .filter_map(|r| r.ns_set(zone).map(|s| (r.server.label(), s)))
        .collect();
    if let Some((_, first)) = sets.first()
        && sets.iter().any(|(_, s)| s != first)
    {
        outcome.push(Finding::new(
            codes::DNS_NS_CHILD_INCONSISTENT,
            Severity::Warning,
            format!(
                "the name servers of {zt} give different NS sets: {}",
                sets.iter()
                    .map(|(l, s)| format!("{l} lists {}", set_text(s)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ));
    }

    // NS names resolve (BASIC/NAMESERVER06), are not aliases (DELEGATION05).
    let mut no_address = Vec::new();
    for h in hosts {
        if let Some(found) = &h.looked_up {
            if !found.aliases.is_empty() {
                outcome.push(Finding::new(
                    codes::DNS_NS_IS_CNAME,
                    Severity::Warning,
                    format!(
                        "the name server name {} is an alias ({}): NS records must name the server itself (RFC 2181 §10.3)",
                        name_text(&h.name),
                        aliases_text(&found.aliases)
                    ),
                ));
            }
            if found.addrs.is_empty() && h.glue.is_empty() {
                no_address.push(format!(
                    "{}: {}",
                    name_text(&h.name),
                    found.error.clone().unwrap_or_else(|| "no address".into())
                ));
            }
        }
    }
    if !no_address.is_empty() {
        let none_at_all = hosts.iter().all(|h| h.addresses().is_empty());
        outcome.push(Finding::new(
            codes::DNS_NS_NO_ADDRESS,
            if none_at_all {
                Severity::Critical
            } else {
                Severity::Warning
            },
            format!(
                "name server names of {zt} without an address: {}",
                no_address.join("; ")
            ),
        ));
    }

    // CONSISTENCY05: glue equals what the zone says; glue is there for
    // names inside the zone.
    for h in hosts.iter().filter(|h| h.at_parent) {
        let found = h.looked_up.as_ref();
        // A parent server that serves the zone itself answered from the
        // zone: there was no referral, hence no glue to judge.
        if h.in_zone && h.glue.is_empty() && !delegation.served_by_parent {
            outcome.push(Finding::new(
                codes::DNS_GLUE_MISSING,
                Severity::Warning,
                format!(
                    "the parent ({parent}) gives no glue address for {}, which is inside {zt}: resolvers cannot reach it",
                    name_text(&h.name)
                ),
            ));
            continue;
        }
        let Some(found) = found else { continue };
        if h.glue.is_empty() || found.addrs.is_empty() {
            continue;
        }
        let glue: BTreeSet<IpAddr> = h.glue.iter().copied().collect();
        let real: BTreeSet<IpAddr> = found.addrs.iter().copied().collect();
        if !glue.is_subset(&real) {
            outcome.push(Finding::new(
                codes::DNS_GLUE_MISMATCH,
                Severity::Warning,
                format!(
                    "the parent's glue for {} is {}, but the name's own records say {}",
                    name_text(&h.name),
                    ips_text(&glue),
                    ips_text(&real)
                ),
            ));
        } else if glue != real {
            // Zonemaster's EXTRA_ADDRESS_CHILD: typically IPv6 addresses
            // never registered as glue; they work once a resolver asks.
            let extra: BTreeSet<IpAddr> = real.difference(&glue).copied().collect();
            outcome.push(Finding::new(
                codes::DNS_GLUE_MISMATCH,
                Severity::Info,
                format!(
                    "{} has addresses the parent's glue lacks: {}",
                    name_text(&h.name),
                    ips_text(&extra)
                ),
            ));
        }
    }

    // DELEGATION02: distinct addresses.
    let mut by_addr: BTreeMap<IpAddr, BTreeSet<String>> = BTreeMap::new();
    for h in hosts {
        for ip in h.addresses() {
            by_addr.entry(ip).or_default().insert(name_text(&h.name));
        }
    }
    for (ip, names) in &by_addr {
        if names.len() > 1 {
            outcome.push(Finding::new(
                codes::DNS_NS_SAME_ADDRESS,
                Severity::Warning,
                format!(
                    "{} share the address {ip}: they are one server, not several",
                    set_text(names)
                ),
            ));
        }
    }

    // CONNECTIVITY01/02 and DELEGATION04, per server. An address keepup
    // has no route to (typically IPv6 on a host without it) says nothing
    // about the zone: it is noted, not held against the zone.
    let no_route = |r: &ServerReport| {
        matches!(
            (&r.udp, &r.tcp),
            (
                Err(WireError::Unreachable(_)),
                Err(WireError::Unreachable(_))
            )
        )
    };
    let untested: Vec<String> = reports
        .iter()
        .filter(|r| no_route(r))
        .map(|r| r.server.label())
        .collect();
    let tested: Vec<&ServerReport> = reports.iter().filter(|r| !no_route(r)).collect();
    if tested.is_empty() && !reports.is_empty() {
        outcome.push(Finding::new(
            codes::DNS_NS_UNREACHABLE,
            Severity::Warning,
            format!(
                "no name server address of {zt} can be reached from here (no route): {}",
                untested.join(", ")
            ),
        ));
        outcome.worsen(Status::Unknown);
        return;
    }
    if !untested.is_empty() {
        outcome.push(Finding::new(
            codes::DNS_NS_UNREACHABLE,
            Severity::Info,
            format!(
                "not tried, no route from here: {} (set `[dns] ipv6 = false` on hosts without IPv6)",
                untested.join(", ")
            ),
        ));
    }
    let total = tested.len();
    let answering = tested.iter().filter(|r| r.answered()).count();
    if total > 0 && answering == 0 {
        outcome.push(Finding::new(
            codes::DNS_NS_UNREACHABLE,
            Severity::Critical,
            format!(
                "none of the {total} name server addresses of {zt} answers: the zone does not resolve ({})",
                tested
                    .iter()
                    .map(|r| format!("{}: {}", r.server.label(), error_text(&r.udp)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ));
        return;
    }
    for r in tested {
        let label = r.server.label();
        match (&r.udp, &r.tcp) {
            (Err(u), Err(_)) => outcome.push(Finding::new(
                codes::DNS_NS_UNREACHABLE,
                Severity::Warning,
                format!("the name server {label} does not answer: {u}"),
            )),
            (Err(u), Ok(_)) => outcome.push(Finding::new(
                codes::DNS_NS_UDP_UNREACHABLE,
                Severity::Warning,
                format!("the name server {label} does not answer over UDP ({u}), only over TCP"),
            )),
            (Ok(_), Err(t)) => outcome.push(Finding::new(
                codes::DNS_NS_TCP_UNREACHABLE,
                Severity::Warning,
                format!(
                    "the name server {label} does not answer over TCP ({t}): large answers cannot reach anyone"
                ),
            )),
            (Ok(_), Ok(_)) => {}
        }
        if r.answered()
            && let Err(why) = r.authority(zone)
        {
            outcome.push(Finding::new(
                codes::DNS_NS_LAME,
                Severity::Warning,
                format!("the name server {label} is lame for {zt}: {why}"),
            ));
        }
    }
}

/// CONSISTENCY01 (serials) and ZONE02–ZONE06 (timers).
fn soa_findings(zone: &Name, reports: &[ServerReport], outcome: &mut Outcome) {
    let zt = name_text(zone);
    let soas: Vec<(String, SOA)> = reports
        .iter()
        .filter_map(|r| r.authority(zone).ok().map(|s| (r.server.label(), s)))
        .collect();
    let serials: BTreeSet<u32> = soas.iter().map(|(_, s)| s.serial).collect();
    if serials.len() > 1 {
        outcome.push(Finding::new(
            codes::DNS_SOA_SERIAL_MISMATCH,
            Severity::Warning,
            format!(
                "the name servers of {zt} serve different versions of the zone: {}",
                soas.iter()
                    .map(|(l, s)| format!("{l} has serial {}", s.serial))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let Some((_, soa)) = soas.first() else { return };
    let (refresh, retry, expire, minimum) = (
        soa.refresh as u32,
        soa.retry as u32,
        soa.expire as u32,
        soa.minimum,
    );
    outcome.evidence.insert(
        "soa",
        json!({
            "mname": name_text(&soa.mname),
            "rname": name_text(&soa.rname),
            "serial": soa.serial,
            "refresh": refresh,
            "retry": retry,
            "expire": expire,
            "minimum": minimum,
        }),
    );
    for f in soa_timer_findings(&zt, refresh, retry, expire, minimum) {
        outcome.push(f);
    }
}

/// The SOA timer checks (Zonemaster ZONE02–ZONE06 thresholds).
pub(crate) fn soa_timer_findings(
    zone: &str,
    refresh: u32,
    retry: u32,
    expire: u32,
    minimum: u32,
) -> Vec<Finding> {
    let mut out = Vec::new();
    if refresh < 14_400 {
        out.push(Finding::new(
            codes::DNS_SOA_REFRESH_LOW,
            Severity::Info,
            format!("the SOA refresh of {zone} is {refresh} s, below the recommended 14400 s"),
        ));
    }
    if retry >= refresh {
        out.push(Finding::new(
            codes::DNS_SOA_RETRY_NOT_BELOW_REFRESH,
            Severity::Warning,
            format!("the SOA retry of {zone} ({retry} s) is not below its refresh ({refresh} s)"),
        ));
    }
    if retry < 3_600 {
        out.push(Finding::new(
            codes::DNS_SOA_RETRY_LOW,
            Severity::Info,
            format!("the SOA retry of {zone} is {retry} s, below the recommended 3600 s"),
        ));
    }
    if expire < refresh {
        out.push(Finding::new(
            codes::DNS_SOA_EXPIRE_BELOW_REFRESH,
            Severity::Warning,
            format!(
                "the SOA expire of {zone} ({expire} s) is below its refresh ({refresh} s): secondaries drop the zone before refreshing it"
            ),
        ));
    } else if expire < 604_800 {
        out.push(Finding::new(
            codes::DNS_SOA_EXPIRE_LOW,
            Severity::Info,
            format!(
                "the SOA expire of {zone} is {expire} s, below the recommended 604800 s (one week)"
            ),
        ));
    }
    if !(300..=86_400).contains(&minimum) {
        out.push(Finding::new(
            codes::DNS_SOA_MINIMUM_OUT_OF_RANGE,
            Severity::Info,
            format!(
                "the SOA minimum (negative caching time) of {zone} is {minimum} s, outside the recommended 300–86400 s"
            ),
        ));
    }
    out
}

/// ZONE08 (MX is not an alias) and ZONE09 (MX present, targets resolve).
async fn mx_findings(
    spec: &DelegationSpec,
    walker: &mut Walker<'_>,
    zone: &Name,
    authoritative: &[Server],
    outcome: &mut Outcome,
) {
    let zt = name_text(zone);
    let q = Question::new(zone, RecordType::MX, false);
    let exchanges: Vec<(u16, Name)> = match walker.ask_cut(authoritative, &q, zone).await {
        Ok((_, Reply::Answer { records, .. })) => records
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => Some((mx.preference, mx.exchange.clone())),
                _ => None,
            })
            .collect(),
        Ok(_) => Vec::new(),
        Err(e) => {
            outcome.push(Finding::new(
                codes::DNS_MX_MISSING,
                Severity::Warning,
                format!("the MX records of {zt} could not be read: {}", e.text()),
            ));
            return;
        }
    };
    outcome.evidence.insert(
        "mx",
        exchanges
            .iter()
            .map(|(p, n)| format!("{p} {}", name_text(n)))
            .collect::<Vec<_>>(),
    );
    if exchanges.is_empty() {
        if spec.expect_mx {
            outcome.push(Finding::new(
                codes::DNS_MX_MISSING,
                Severity::Warning,
                format!("{zt} has no MX record: mail to it goes to its A/AAAA address or nowhere"),
            ));
        }
        return;
    }
    if exchanges.len() == 1 && exchanges[0].1.is_root() {
        outcome.push(Finding::new(
            codes::DNS_MX_NULL,
            Severity::Info,
            format!("{zt} has a null MX (RFC 7505): it accepts no mail"),
        ));
        return;
    }
    for (_, exchange) in &exchanges {
        if exchange.is_root() {
            continue;
        }
        let found = if zone.zone_of(exchange) {
            lookup_in_zone(walker, zone, authoritative, exchange).await
        } else {
            walker.host_addresses(exchange, 1).await
        };
        if !found.aliases.is_empty() {
            outcome.push(Finding::new(
                codes::DNS_MX_IS_CNAME,
                Severity::Warning,
                format!(
                    "the mail exchanger {} of {zt} is an alias ({}): MX records must name the host itself (RFC 2181 §10.3)",
                    name_text(exchange),
                    aliases_text(&found.aliases)
                ),
            ));
        }
        if found.addrs.is_empty() {
            outcome.push(Finding::new(
                codes::DNS_MX_NO_ADDRESS,
                Severity::Warning,
                format!(
                    "the mail exchanger {} of {zt} has no address: {}",
                    name_text(exchange),
                    found.error.unwrap_or_else(|| "no A or AAAA record".into())
                ),
            ));
        }
    }
}

fn count_text(n: usize) -> String {
    match n {
        0 => "no name server".into(),
        1 => "only one name server".into(),
        n => format!("{n} name servers"),
    }
}

fn ips_text(ips: &BTreeSet<IpAddr>) -> String {
    ips.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn aliases_text(aliases: &[(Name, Name)]) -> String {
    aliases
        .iter()
        .map(|(from, to)| format!("{} CNAME {}", name_text(from), name_text(to)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn error_text(r: &Result<Exchange, WireError>) -> String {
    match r {
        Ok(_) => "answers".into(),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soa_timers_follow_zonemaster_thresholds() {
        let codes_of = |f: Vec<Finding>| f.into_iter().map(|f| f.code).collect::<Vec<_>>();
        assert!(soa_timer_findings("z.", 14_400, 3_600, 1_209_600, 3_600).is_empty());
        assert_eq!(
            codes_of(soa_timer_findings("z.", 3_600, 7_200, 1_800, 10)),
            vec![
                codes::DNS_SOA_REFRESH_LOW,
                codes::DNS_SOA_RETRY_NOT_BELOW_REFRESH,
                codes::DNS_SOA_EXPIRE_BELOW_REFRESH,
                codes::DNS_SOA_MINIMUM_OUT_OF_RANGE,
            ]
        );
        assert_eq!(
            codes_of(soa_timer_findings("z.", 14_400, 600, 86_400, 3_600)),
            vec![codes::DNS_SOA_RETRY_LOW, codes::DNS_SOA_EXPIRE_LOW]
        );
    }
}
