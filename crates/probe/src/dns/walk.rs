//! Iterative resolution from the root hints: the part of a resolver that
//! follows referrals, kept small and explicit so that every step can be
//! shown to an admin.
//!
//! [`classify`] reads one response in the light of the question and of the
//! zone cut the server was asked as (an answer, a referral strictly further
//! down, NXDOMAIN, no data, an alias, or something unusable, with the reason);
//! it is pure and is what the fuzz target exercises. [`Walker`] sends the
//! questions: it asks the servers of a cut in order until one replies
//! usefully, descends through referrals (resolving glueless name server
//! names on the way, with a depth limit), caches the cuts it learnt, and
//! records every exchange as a step of the evidence. A walk is bounded in
//! queries, referrals and recursion depth, besides the run's deadline.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use keepup_config::DnsSettings;
use serde_json::Value;
use tokio::time::Instant;

use crate::context::ProbeContext;
use crate::dns::wire::{self, Exchange, Question, Via, WireError, name_text, rcode_text};

/// Queries one walk may send.
const MAX_QUERIES: usize = 400;
/// Steps kept in the evidence (the rest is counted).
const MAX_STEPS: usize = 300;
/// Referrals followed for one name (the depth of the hierarchy).
const MAX_REFERRALS: usize = 24;
/// Nested lookups of glueless name server names.
const MAX_DEPTH: usize = 4;
/// CNAMEs followed for one name.
const MAX_ALIASES: usize = 8;

/// A name server: its name when known, and one of its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Server {
    pub(crate) name: Option<Name>,
    pub(crate) addr: SocketAddr,
}

impl Server {
    /// `ns1.shop.example. (192.0.2.1:53)`, or the address alone.
    pub(crate) fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{} ({})", name_text(n), self.addr),
            None => self.addr.to_string(),
        }
    }
}

/// What one response means for the question it answers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    /// Records of the asked type, after the aliases found in the same
    /// response.
    Answer {
        records: Vec<Record>,
        aliases: Vec<(Name, Name)>,
    },
    /// The name (or the last alias) leads to `target`, whose data the
    /// response does not carry.
    Alias {
        aliases: Vec<(Name, Name)>,
        target: Name,
    },
    /// The name does not exist.
    NxDomain { aliases: Vec<(Name, Name)> },
    /// The name exists, without data of the asked type.
    NoData { aliases: Vec<(Name, Name)> },
    /// A delegation to `cut`, strictly below the zone asked.
    Referral {
        cut: Name,
        ns: Vec<Name>,
        glue: Vec<(Name, IpAddr)>,
    },
    /// Nothing usable, and why.
    Bad(String),
}

/// Reads `msg`, the response of a server asked as a server of `cut`, to
/// the question `qname`/`qtype`. With `authoritative`, answers must carry
/// the AA flag (walking down from the root); without, they need not
/// (asking a recursive resolver).
pub(crate) fn classify(
    msg: &Message,
    qname: &Name,
    qtype: RecordType,
    cut: &Name,
    authoritative: bool,
) -> Reply {
    let rcode = msg.metadata.response_code;
    if rcode != ResponseCode::NoError && rcode != ResponseCode::NXDomain {
        return Reply::Bad(format!("it answered {}", rcode_text(rcode)));
    }
    let aa = msg.metadata.authoritative;
    let mut current = qname.clone();
    let mut aliases: Vec<(Name, Name)> = Vec::new();
    loop {
        let records: Vec<Record> = msg
            .answers
            .iter()
            .filter(|r| r.name == current && r.record_type() == qtype)
            .cloned()
            .collect();
        if !records.is_empty() {
            if authoritative && !aa {
                return Reply::Bad(
                    "it answered without the authoritative (AA) flag: it does not serve this zone"
                        .into(),
                );
            }
            return Reply::Answer { records, aliases };
        }
        if qtype == RecordType::CNAME {
            break;
        }
        let next = msg.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if r.name == current => Some(c.0.clone()),
            _ => None,
        });
        match next {
            Some(target) if aliases.len() < MAX_ALIASES => {
                if target == *qname || aliases.iter().any(|(from, _)| *from == target) {
                    return Reply::Bad(format!("CNAME loop at {}", name_text(&target)));
                }
                aliases.push((current.clone(), target.clone()));
                current = target;
            }
            Some(_) => return Reply::Bad("too many CNAMEs in one answer".into()),
            None => break,
        }
    }
    if authoritative && !aa && !aliases.is_empty() {
        return Reply::Bad(
            "it answered without the authoritative (AA) flag: it does not serve this zone".into(),
        );
    }
    if rcode == ResponseCode::NXDomain {
        if authoritative && !aa {
            return Reply::Bad("NXDOMAIN without the authoritative (AA) flag".into());
        }
        return Reply::NxDomain { aliases };
    }
    if !aliases.is_empty() {
        return Reply::Alias {
            aliases,
            target: current,
        };
    }
    if !aa || !authoritative {
        let mut owners = msg
            .authorities
            .iter()
            .filter(|r| r.record_type() == RecordType::NS)
            .map(|r| r.name.clone());
        if let Some(owner) = owners.next() {
            let below = cut.zone_of(&owner) && owner != *cut && owner.zone_of(qname);
            if below && !aa {
                let ns: Vec<Name> = msg
                    .authorities
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::NS(n) if r.name == owner => Some(n.0.clone()),
                        _ => None,
                    })
                    .collect();
                let glue = msg
                    .additionals
                    .iter()
                    .filter(|r| ns.contains(&r.name) && cut.zone_of(&r.name))
                    .filter_map(|r| match &r.data {
                        RData::A(a) => Some((r.name.clone(), IpAddr::V4(a.0))),
                        RData::AAAA(a) => Some((r.name.clone(), IpAddr::V6(a.0))),
                        _ => None,
                    })
                    .collect();
                return Reply::Referral {
                    cut: owner,
                    ns,
                    glue,
                };
            }
            if !aa && authoritative {
                return Reply::Bad(format!(
                    "it referred to {}, which is not below {} (an upward or sideways referral)",
                    name_text(&owner),
                    name_text(cut)
                ));
            }
        }
    }
    if aa || !authoritative {
        return Reply::NoData { aliases };
    }
    Reply::Bad("neither an answer nor a referral: it does not serve this zone".into())
}

/// Why a walk stopped short.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WalkError {
    /// No server of `cut` gave a usable reply; one reason per server.
    Unreachable { cut: Name, errors: Vec<String> },
    /// The walk went in circles or too deep.
    Loop(String),
    /// The run's deadline passed.
    Deadline,
}

impl WalkError {
    /// One sentence.
    pub(crate) fn text(&self) -> String {
        match self {
            WalkError::Unreachable { cut, errors } => {
                let zone = if cut.is_root() {
                    "the root".to_owned()
                } else {
                    name_text(cut)
                };
                if errors.is_empty() {
                    format!("no name server of {zone} could be asked")
                } else {
                    format!(
                        "no name server of {zone} gave a usable answer: {}",
                        errors.join("; ")
                    )
                }
            }
            WalkError::Loop(why) => why.clone(),
            WalkError::Deadline => "the time ran out".into(),
        }
    }
}

/// Where an iterative resolution ended.
#[derive(Debug, Clone)]
pub(crate) struct Resolution {
    /// The final reply (never a referral).
    pub(crate) reply: Reply,
    /// The zone cut whose servers gave it.
    pub(crate) zone: Name,
    /// Those servers.
    pub(crate) servers: Vec<Server>,
}

/// Addresses of a host, as the walk found them.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostAddrs {
    pub(crate) addrs: Vec<IpAddr>,
    /// The aliases met (a name server or mail exchanger must have none).
    pub(crate) aliases: Vec<(Name, Name)>,
    /// Why a lookup failed, when one did.
    pub(crate) error: Option<String>,
}

/// Sends a walk's questions and remembers what it learnt.
pub(crate) struct Walker<'a> {
    pub(crate) ctx: &'a ProbeContext,
    pub(crate) settings: &'a DnsSettings,
    roots: Vec<Server>,
    cuts: Vec<(Name, Vec<Server>)>,
    steps: Vec<Value>,
    steps_dropped: usize,
    queries: usize,
}

impl<'a> Walker<'a> {
    /// A walker starting at `roots`.
    pub(crate) fn new(
        ctx: &'a ProbeContext,
        settings: &'a DnsSettings,
        roots: Vec<Server>,
    ) -> Self {
        Self {
            ctx,
            settings,
            roots,
            cuts: Vec::new(),
            steps: Vec::new(),
            steps_dropped: 0,
            queries: 0,
        }
    }

    /// The steps so far, for the evidence.
    pub(crate) fn take_steps(&mut self) -> (Vec<Value>, usize) {
        (
            std::mem::take(&mut self.steps),
            std::mem::take(&mut self.steps_dropped),
        )
    }

    /// Adds steps recorded elsewhere (by concurrent server probes).
    pub(crate) fn record(&mut self, step: Value) {
        if self.steps.len() < MAX_STEPS {
            self.steps.push(step);
        } else {
            self.steps_dropped += 1;
        }
    }

    /// Queries sent so far.
    pub(crate) fn queries(&self) -> usize {
        self.queries
    }

    fn out_of_time(&self) -> bool {
        Instant::now() >= self.ctx.deadline_within(std::time::Duration::MAX)
    }

    /// Whether `server` may be asked (IPv6 can be turned off).
    pub(crate) fn usable(&self, server: &Server) -> bool {
        self.settings.ipv6 || server.addr.is_ipv4()
    }

    /// Asks one server one question, recording the step.
    pub(crate) async fn ask(
        &mut self,
        server: &Server,
        q: &Question,
        tcp: bool,
    ) -> Result<Exchange, WireError> {
        if self.queries >= MAX_QUERIES {
            return Err(WireError::Io(format!(
                "not asked: the walk already sent {MAX_QUERIES} queries"
            )));
        }
        self.queries += 1;
        let started = Instant::now();
        let result =
            wire::exchange(self.ctx, server.addr, q, tcp, self.settings.query_timeout).await;
        let via = if tcp { Via::Tcp } else { Via::Udp };
        let step = wire::step(&server.label(), q, via, &result, started.elapsed());
        self.record(step);
        result
    }

    /// Asks several servers at once (`server`, question, over TCP?), and
    /// records the steps in the order given.
    pub(crate) async fn ask_all(
        &mut self,
        asks: Vec<(Server, Question, bool)>,
    ) -> Vec<Result<Exchange, WireError>> {
        let mut results: Vec<Option<(Result<Exchange, WireError>, std::time::Duration)>> =
            vec![None; asks.len()];
        let mut set = tokio::task::JoinSet::new();
        for (i, (server, q, tcp)) in asks.iter().cloned().enumerate() {
            if self.queries >= MAX_QUERIES {
                results[i] = Some((
                    Err(WireError::Io(format!(
                        "not asked: the walk already sent {MAX_QUERIES} queries"
                    ))),
                    std::time::Duration::ZERO,
                ));
                continue;
            }
            self.queries += 1;
            let ctx = self.ctx.clone();
            let timeout = self.settings.query_timeout;
            set.spawn(async move {
                let started = Instant::now();
                let r = wire::exchange(&ctx, server.addr, &q, tcp, timeout).await;
                (i, r, started.elapsed())
            });
        }
        while let Some(joined) = set.join_next().await {
            if let Ok((i, r, elapsed)) = joined
                && let Some(slot) = results.get_mut(i)
            {
                *slot = Some((r, elapsed));
            }
        }
        let mut out = Vec::with_capacity(asks.len());
        for ((server, q, tcp), result) in asks.iter().zip(results) {
            let (r, elapsed) = result.unwrap_or((
                Err(WireError::Io("the query task failed".into())),
                std::time::Duration::ZERO,
            ));
            let via = if *tcp { Via::Tcp } else { Via::Udp };
            let step = wire::step(&server.label(), q, via, &r, elapsed);
            self.record(step);
            out.push(r);
        }
        out
    }

    /// Asks the servers of `cut` in order until one replies usefully;
    /// returns which one and its reply, or every server's reason.
    pub(crate) async fn ask_cut(
        &mut self,
        servers: &[Server],
        q: &Question,
        cut: &Name,
    ) -> Result<(usize, Reply), WalkError> {
        let mut errors = Vec::new();
        for (i, server) in servers.iter().enumerate() {
            if !self.usable(server) {
                continue;
            }
            if self.out_of_time() {
                return Err(WalkError::Deadline);
            }
            match self.ask(server, q, false).await {
                Ok(x) => match classify(&x.msg, &q.name, q.rtype, cut, true) {
                    Reply::Bad(why) => errors.push(format!("{}: {why}", server.label())),
                    reply => return Ok((i, reply)),
                },
                Err(e) => errors.push(format!("{}: {e}", server.label())),
            }
        }
        if self.out_of_time() {
            return Err(WalkError::Deadline);
        }
        Err(WalkError::Unreachable {
            cut: cut.clone(),
            errors,
        })
    }

    /// The deepest known cut above or at `name`, and its servers.
    fn closest_cut(&self, name: &Name) -> (Name, Vec<Server>) {
        self.cuts
            .iter()
            .filter(|(cut, _)| cut.zone_of(name))
            .max_by_key(|(cut, _)| cut.num_labels())
            .map(|(c, s)| (c.clone(), s.clone()))
            .unwrap_or_else(|| (Name::root(), self.roots.clone()))
    }

    /// Remembers the servers of a cut.
    pub(crate) fn learn(&mut self, cut: &Name, servers: &[Server]) {
        if !self.cuts.iter().any(|(c, _)| c == cut) {
            self.cuts.push((cut.clone(), servers.to_vec()));
        }
    }

    /// The servers a referral leads to: glued names first; glueless names
    /// outside the new cut are looked up (until one has an address) when
    /// no glue is usable.
    pub(crate) async fn referral_servers(
        &mut self,
        cut: &Name,
        ns: &[Name],
        glue: &[(Name, IpAddr)],
        depth: usize,
    ) -> Vec<Server> {
        let port = self.settings.port;
        let mut servers: Vec<Server> = Vec::new();
        for name in ns {
            for (_, ip) in glue.iter().filter(|(n, _)| n == name) {
                let s = Server {
                    name: Some(name.clone()),
                    addr: SocketAddr::new(*ip, port),
                };
                if !servers.contains(&s) {
                    servers.push(s);
                }
            }
        }
        if servers.iter().any(|s| self.usable(s)) || depth >= MAX_DEPTH {
            return servers;
        }
        for name in ns {
            if cut.zone_of(name) {
                // Inside the new zone without glue: unreachable by design.
                continue;
            }
            let found = Box::pin(self.host_addresses(name, depth + 1)).await;
            for ip in found.addrs {
                servers.push(Server {
                    name: Some(name.clone()),
                    addr: SocketAddr::new(ip, port),
                });
            }
            if servers.iter().any(|s| self.usable(s)) {
                break;
            }
        }
        servers
    }

    /// Resolves `qname`/`qtype` from the deepest known cut down to the
    /// servers that answer for it.
    pub(crate) async fn resolve(
        &mut self,
        qname: &Name,
        qtype: RecordType,
        depth: usize,
    ) -> Result<Resolution, WalkError> {
        let (mut cut, mut servers) = self.closest_cut(qname);
        let q = Question::new(qname, qtype, false);
        for _ in 0..MAX_REFERRALS {
            let (_, reply) = self.ask_cut(&servers, &q, &cut).await?;
            match reply {
                Reply::Referral {
                    cut: next,
                    ns,
                    glue,
                } => {
                    let next_servers = self.referral_servers(&next, &ns, &glue, depth).await;
                    if !next_servers.iter().any(|s| self.usable(s)) {
                        return Err(WalkError::Unreachable {
                            errors: vec![format!(
                                "none of its name servers ({}) has a usable address",
                                names_text(&ns)
                            )],
                            cut: next,
                        });
                    }
                    self.learn(&next, &next_servers);
                    cut = next;
                    servers = next_servers;
                }
                reply => {
                    return Ok(Resolution {
                        reply,
                        zone: cut,
                        servers,
                    });
                }
            }
        }
        Err(WalkError::Loop(format!(
            "more than {MAX_REFERRALS} referrals for {}",
            name_text(qname)
        )))
    }

    /// Resolves `qname`/`qtype` and follows aliases to other zones.
    /// Returns the final resolution and every alias met.
    pub(crate) async fn resolve_following(
        &mut self,
        qname: &Name,
        qtype: RecordType,
        depth: usize,
    ) -> Result<(Resolution, Vec<(Name, Name)>), WalkError> {
        let mut name = qname.clone();
        let mut chain: Vec<(Name, Name)> = Vec::new();
        loop {
            let resolution = self.resolve(&name, qtype, depth).await?;
            match &resolution.reply {
                Reply::Alias { aliases, target } => {
                    chain.extend(aliases.iter().cloned());
                    if chain.len() > MAX_ALIASES || chain.iter().any(|(from, _)| from == target) {
                        return Err(WalkError::Loop(format!(
                            "CNAME chain from {} too long or looping",
                            name_text(qname)
                        )));
                    }
                    name = target.clone();
                }
                Reply::Answer { aliases, .. }
                | Reply::NoData { aliases }
                | Reply::NxDomain { aliases } => {
                    chain.extend(aliases.iter().cloned());
                    return Ok((resolution, chain));
                }
                _ => return Ok((resolution, chain)),
            }
        }
    }

    /// The A and AAAA addresses of `host`, iteratively.
    pub(crate) async fn host_addresses(&mut self, host: &Name, depth: usize) -> HostAddrs {
        let mut out = HostAddrs::default();
        for qtype in [RecordType::A, RecordType::AAAA] {
            match Box::pin(self.resolve_following(host, qtype, depth)).await {
                Ok((resolution, chain)) => {
                    for alias in chain {
                        if !out.aliases.contains(&alias) {
                            out.aliases.push(alias);
                        }
                    }
                    match resolution.reply {
                        Reply::Answer { records, .. } => {
                            out.addrs.extend(records.iter().filter_map(address_of));
                        }
                        Reply::NxDomain { .. } => {
                            out.error =
                                Some(format!("{} does not exist (NXDOMAIN)", name_text(host)));
                            break;
                        }
                        _ => {}
                    }
                }
                Err(e) => {
                    out.error = Some(e.text());
                    break;
                }
            }
        }
        if out.addrs.is_empty() && out.error.is_none() {
            out.error = Some(format!("{} has no A or AAAA record", name_text(host)));
        }
        out
    }
}

/// The address of an A or AAAA record.
pub(crate) fn address_of(r: &Record) -> Option<IpAddr> {
    match &r.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
        _ => None,
    }
}

/// `a., b.` for a list of names.
pub(crate) fn names_text(names: &[Name]) -> String {
    names.iter().map(name_text).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::OpCode;
    use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn response(aa: bool) -> Message {
        let mut m = Message::response(1, OpCode::Query);
        m.metadata.authoritative = aa;
        m
    }

    #[test]
    fn a_referral_strictly_below_the_cut_is_followed() {
        let mut m = response(false);
        m.add_authority(Record::from_rdata(
            n("test."),
            60,
            RData::NS(NS(n("ns1.nic.test."))),
        ));
        m.add_additional(Record::from_rdata(
            n("ns1.nic.test."),
            60,
            RData::A(A::new(127, 53, 1, 1)),
        ));
        m.add_additional(Record::from_rdata(
            n("evil.example."),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        match classify(&m, &n("shop.test."), RecordType::NS, &Name::root(), true) {
            Reply::Referral { cut, ns, glue } => {
                assert_eq!(cut, n("test."));
                assert_eq!(ns, vec![n("ns1.nic.test.")]);
                assert_eq!(glue.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        // The same referral given by a server of test. is upward.
        assert!(matches!(
            classify(&m, &n("shop.test."), RecordType::NS, &n("test."), true),
            Reply::Bad(_)
        ));
    }

    #[test]
    fn answers_need_the_aa_flag_when_walking() {
        let mut m = response(false);
        m.add_answer(Record::from_rdata(
            n("www.shop.test."),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        assert!(matches!(
            classify(
                &m,
                &n("www.shop.test."),
                RecordType::A,
                &n("shop.test."),
                true
            ),
            Reply::Bad(_)
        ));
        assert!(matches!(
            classify(
                &m,
                &n("www.shop.test."),
                RecordType::A,
                &Name::root(),
                false
            ),
            Reply::Answer { .. }
        ));
    }

    #[test]
    fn aliases_nodata_and_nxdomain() {
        let mut m = response(true);
        m.add_answer(Record::from_rdata(
            n("mail.shop.test."),
            60,
            RData::CNAME(CNAME(n("host.cdn.test."))),
        ));
        match classify(
            &m,
            &n("mail.shop.test."),
            RecordType::A,
            &n("shop.test."),
            true,
        ) {
            Reply::Alias { aliases, target } => {
                assert_eq!(aliases.len(), 1);
                assert_eq!(target, n("host.cdn.test."));
            }
            other => panic!("{other:?}"),
        }
        let mut m = response(true);
        m.add_authority(Record::from_rdata(
            n("shop.test."),
            60,
            RData::SOA(SOA::new(
                n("ns1.shop.test."),
                n("h.shop.test."),
                1,
                1,
                1,
                1,
                1,
            )),
        ));
        assert!(matches!(
            classify(
                &m,
                &n("x.shop.test."),
                RecordType::A,
                &n("shop.test."),
                true
            ),
            Reply::NoData { .. }
        ));
        m.metadata.response_code = ResponseCode::NXDomain;
        assert!(matches!(
            classify(
                &m,
                &n("x.shop.test."),
                RecordType::A,
                &n("shop.test."),
                true
            ),
            Reply::NxDomain { .. }
        ));
        m.metadata.response_code = ResponseCode::Refused;
        assert!(matches!(
            classify(
                &m,
                &n("x.shop.test."),
                RecordType::A,
                &n("shop.test."),
                true
            ),
            Reply::Bad(_)
        ));
    }

    #[test]
    fn a_cname_loop_is_bad() {
        let mut m = response(true);
        m.add_answer(Record::from_rdata(
            n("a.test."),
            60,
            RData::CNAME(CNAME(n("b.test."))),
        ));
        m.add_answer(Record::from_rdata(
            n("b.test."),
            60,
            RData::CNAME(CNAME(n("a.test."))),
        ));
        assert!(matches!(
            classify(&m, &n("a.test."), RecordType::A, &n("test."), true),
            Reply::Bad(_)
        ));
    }
}
