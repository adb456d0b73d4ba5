//! The `dns` step: switch named hosts to the standby with RFC 2136 dynamic
//! updates signed with TSIG (RFC 8945, HMAC-SHA256 or HMAC-SHA512), then
//! wait until every authoritative server of the zone serves the new
//! records.
//!
//! [`switch`] sends the updates to the zone's primary: optionally first
//! one that lowers the TTL of the records in place (and then waits out the
//! old TTL, so that caches hold the records briefly when they change), then
//! one that replaces each host's A, AAAA and CNAME records with the
//! standby's addresses or alias in one atomic update. Every request is
//! signed and every answer's signature is checked before it is believed.
//! The verification is the `kind = "dns"` check itself (keepup-probe), asked
//! of every authoritative server the delegation walk finds, polled until
//! all agree or the deadline passes.
//!
//! [`nsupdate_script`] writes the same change as `nsupdate` input for the
//! Recovery Plan document, so that a person can make it by hand; it names
//! a key file, never the secret.
//!
//! Messages go over UDP and fall back to TCP when the answer is truncated;
//! each exchange has a timeout, and an answer is at most 64 KiB. The secret
//! never appears in an error, a log line or the script.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::tsig::TsigError;
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use keepup_config::DnsSpec;
use keepup_config::Secret;
use keepup_config::dns::{
    DnsSettings, RecordExpect, RecordExpectation, RecordKind, RecordSource, RecordValue,
};
use keepup_model::Status;
use keepup_model::text::{duration_words, unbase64};
use keepup_probe::ProbeContext;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The largest DNS message (16-bit TCP length prefix).
const MAX_MESSAGE: usize = 65_535;

/// How often the verification asks the servers again.
const VERIFY_EVERY: Duration = Duration::from_millis(500);

/// The TSIG algorithms keepup signs with (the configuration's).
pub use keepup_config::recovery::TsigAlgorithm;

fn tsig_algorithm(a: TsigAlgorithm) -> keepup_tsig::Algorithm {
    match a {
        TsigAlgorithm::HmacSha256 => keepup_tsig::Algorithm::HmacSha256,
        TsigAlgorithm::HmacSha512 => keepup_tsig::Algorithm::HmacSha512,
    }
}

/// A TSIG key: its name as the server knows it, its algorithm, and its
/// base64 secret (from the environment or a file).
#[derive(Debug, Clone, PartialEq)]
pub struct TsigKey {
    /// The key's name (`"keepup-update."`).
    pub name: String,
    /// Its algorithm.
    pub algorithm: TsigAlgorithm,
    /// The base64 secret.
    pub secret: Secret,
}

/// What the hosts point at after the switch.
#[derive(Debug, Clone, PartialEq)]
pub enum DnsTarget {
    /// A and AAAA records with these addresses (a family left out has
    /// none afterwards).
    Addresses(Vec<IpAddr>),
    /// A CNAME to this name.
    Alias(String),
}

/// One DNS switch: the parameters of a plan's `dns` step.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsSwitch {
    /// The zone holding the hosts (`"shop.example"`).
    pub zone: String,
    /// The server that accepts updates for the zone (its primary).
    pub primary: SocketAddr,
    /// The key the updates are signed with.
    pub key: TsigKey,
    /// The names to switch, absolute or relative to nothing
    /// (`"www.shop.example"`).
    pub hosts: Vec<String>,
    /// Where they point afterwards.
    pub target: DnsTarget,
    /// The TTL of the new records.
    pub ttl: u32,
    /// Lower the TTL of the current records to this first and wait out
    /// their old TTL, so that resolvers forget the old addresses soon after
    /// the switch.
    pub lower_ttl_first: Option<u32>,
    /// Time one exchange with the primary may take.
    pub timeout: Duration,
    /// How the authoritative servers are found for the verification
    /// (root hints, port, query timeout).
    pub dns: DnsSettings,
    /// How long the authoritative servers may take to all serve the new
    /// records.
    pub verify_within: Duration,
}

/// What a switch did.
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchReport {
    /// The TTL found before lowering it and the time waited for it, when
    /// the TTL was lowered first.
    pub lowered_from: Option<(u32, Duration)>,
    /// Per host and record type, what every authoritative server now
    /// answers (one line each, as the dns check words it).
    pub verified: Vec<String>,
    /// Time from the switch's update to the first time every server
    /// answered the new records.
    pub propagated_in: Duration,
}

/// Why a switch failed. The texts say what to check; none holds the secret.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// A parameter cannot be used as it is.
    #[error("dns step: {0}")]
    Invalid(String),
    /// The primary could not be asked.
    #[error("dns step: cannot reach the primary {server}: {why}")]
    Unreachable {
        /// The primary.
        server: SocketAddr,
        /// What failed.
        why: String,
    },
    /// The primary does not know the key, or the signature or its time is
    /// wrong.
    #[error("dns step: the primary {server} rejected the signature of the update ({code}): {hint}")]
    Tsig {
        /// The primary.
        server: SocketAddr,
        /// `BADKEY`, `BADSIG` or `BADTIME` (with the response code).
        code: String,
        /// What to check.
        hint: String,
    },
    /// The primary answered with an error response code.
    #[error("dns step: the primary {server} answered {rcode} to the update of {zone}: {hint}")]
    Rejected {
        /// The primary.
        server: SocketAddr,
        /// The zone.
        zone: String,
        /// `REFUSED`, `NOTZONE`, `NOTAUTH`, ...
        rcode: String,
        /// What to check.
        hint: String,
    },
    /// The answer is not signed with the key, or not a valid answer.
    #[error("dns step: the answer of {server} cannot be trusted: {why}")]
    BadAnswer {
        /// The primary.
        server: SocketAddr,
        /// What is wrong with it.
        why: String,
    },
    /// The update went through but not every authoritative server served
    /// the new records in time.
    #[error(
        "dns step: the update went through, but within {} not every authoritative server of {zone} serves the new records: {why}",
        duration_words(*.within)
    )]
    NotPropagated {
        /// The zone.
        zone: String,
        /// The verification's deadline.
        within: Duration,
        /// What the servers answered last.
        why: String,
    },
}

/// The parameters, checked and converted once.
struct Prepared {
    zone: Name,
    hosts: Vec<Name>,
    key: keepup_tsig::Key,
}

fn prepare(p: &DnsSwitch) -> Result<Prepared, DnsError> {
    let zone = absolute(&p.zone, "zone")?;
    let hosts = p
        .hosts
        .iter()
        .map(|h| absolute(h, "host"))
        .collect::<Result<Vec<_>, _>>()?;
    if hosts.is_empty() {
        return Err(DnsError::Invalid("no host to switch".into()));
    }
    match &p.target {
        DnsTarget::Addresses(a) if a.is_empty() => {
            return Err(DnsError::Invalid(
                "the target has no address to switch to".into(),
            ));
        }
        DnsTarget::Alias(target) => {
            absolute(target, "alias target")?;
        }
        DnsTarget::Addresses(_) => {}
    }
    absolute(&p.key.name, "TSIG key name")?;
    let Some(secret) = unbase64(p.key.secret.expose()).filter(|s| !s.is_empty()) else {
        return Err(DnsError::Invalid(format!(
            "the secret of TSIG key {} is not base64 (check the file or variable it comes from)",
            p.key.name
        )));
    };
    let key = keepup_tsig::Key::new(&p.key.name, tsig_algorithm(p.key.algorithm), &secret)
        .map_err(|e| DnsError::Invalid(e.to_string()))?;
    Ok(Prepared { zone, hosts, key })
}

fn absolute(text: &str, what: &str) -> Result<Name, DnsError> {
    let fqdn = if text.ends_with('.') {
        text.to_owned()
    } else {
        format!("{text}.")
    };
    Name::from_ascii(&fqdn)
        .map_err(|e| DnsError::Invalid(format!("the {what} {text:?} is not a domain name: {e}")))
}

/// Switches the hosts of `p` to its target, then waits until every
/// authoritative server of the zone serves the new records. Running it
/// again after it succeeded changes nothing and succeeds.
pub async fn switch(p: &DnsSwitch, ctx: &ProbeContext) -> Result<SwitchReport, DnsError> {
    let prepared = prepare(p)?;
    let mut lowered_from = None;
    if let Some(low) = p.lower_ttl_first {
        let current = current_records(p, &prepared).await?;
        let old_ttl = current.iter().map(|r| r.ttl).max().unwrap_or(0);
        if old_ttl > low {
            let mut updates = Vec::new();
            for host in &prepared.hosts {
                for rtype in [RecordType::A, RecordType::AAAA, RecordType::CNAME] {
                    let set: Vec<&Record> = current
                        .iter()
                        .filter(|r| r.name == *host && r.record_type() == rtype)
                        .collect();
                    if set.is_empty() {
                        continue;
                    }
                    updates.push(delete_rrset(host, rtype));
                    for r in set {
                        let mut lowered = r.clone();
                        lowered.ttl = low;
                        updates.push(lowered);
                    }
                }
            }
            send_update(p, &prepared, updates).await?;
            tracing::info!(zone = %p.zone, old_ttl, new_ttl = low, "dns step: TTL lowered; waiting out the old TTL");
            let wait = Duration::from_secs(u64::from(old_ttl));
            tokio::time::sleep(wait).await;
            lowered_from = Some((old_ttl, wait));
        }
    }
    let mut updates = Vec::new();
    for host in &prepared.hosts {
        updates.extend(delete_addresses(host));
        updates.extend(target_records(p, host)?);
    }
    let switched_at = tokio::time::Instant::now();
    send_update(p, &prepared, updates).await?;
    tracing::info!(zone = %p.zone, hosts = p.hosts.len(), "dns step: update accepted; verifying every authoritative server");
    let verified = verify_switched(p, ctx).await?;
    Ok(SwitchReport {
        lowered_from,
        verified,
        propagated_in: switched_at.elapsed(),
    })
}

/// The records `p` publishes at `host`: its target's addresses, or the
/// alias.
fn target_records(p: &DnsSwitch, host: &Name) -> Result<Vec<Record>, DnsError> {
    Ok(match &p.target {
        DnsTarget::Addresses(addrs) => addrs
            .iter()
            .map(|ip| {
                let data = match ip {
                    IpAddr::V4(v4) => RData::A(A(*v4)),
                    IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
                };
                Record::from_rdata(host.clone(), p.ttl, data)
            })
            .collect(),
        DnsTarget::Alias(target) => {
            let target = absolute(target, "alias target")?;
            vec![Record::from_rdata(
                host.clone(),
                p.ttl,
                RData::CNAME(CNAME(target)),
            )]
        }
    })
}

/// The A, AAAA and CNAME records the hosts of `p` hold now at the primary
/// that `p` would not publish, each as `name TYPE data`: a drill publishes
/// only names nobody else uses (its own records, from an interrupted
/// attempt, are fine).
pub async fn foreign_records(p: &DnsSwitch) -> Result<Vec<String>, DnsError> {
    let prepared = prepare(p)?;
    let mut ours = Vec::new();
    for host in &prepared.hosts {
        ours.extend(target_records(p, host)?);
    }
    Ok(current_records(p, &prepared)
        .await?
        .into_iter()
        .filter(|r| !ours.iter().any(|o| o.name == r.name && o.data == r.data))
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect())
}

/// Deletes the records `p` published at its hosts, and only those (RFC
/// 2136 §2.5.4: class NONE, TTL 0, with their data), with one signed
/// update: a drill's cleanup of its names, which leaves any other record
/// there alone. Deleting records that are already gone succeeds.
pub async fn remove(p: &DnsSwitch) -> Result<(), DnsError> {
    let prepared = prepare(p)?;
    let mut updates = Vec::new();
    for host in &prepared.hosts {
        for mut r in target_records(p, host)? {
            r.dns_class = DNSClass::NONE;
            r.ttl = 0;
            updates.push(r);
        }
    }
    send_update(p, &prepared, updates).await?;
    tracing::info!(zone = %p.zone, hosts = p.hosts.len(), "dns: records deleted");
    Ok(())
}

/// [`remove`] as `nsupdate` input, for a person to run by hand.
pub fn nsupdate_removal(p: &DnsSwitch, key_file: &str) -> String {
    nsupdate_lines(p, key_file, false)
}

/// The deletions of `name`'s A, AAAA and CNAME sets: what a switch
/// replaces.
fn delete_addresses(name: &Name) -> [Record; 3] {
    [RecordType::A, RecordType::AAAA, RecordType::CNAME].map(|t| delete_rrset(name, t))
}

/// The deletion of `name`'s whole `rtype` set (RFC 2136 §2.5.2: class ANY,
/// TTL 0, no data).
fn delete_rrset(name: &Name, rtype: RecordType) -> Record {
    let mut r = Record::update0(name.clone(), 0, rtype);
    r.dns_class = DNSClass::ANY;
    r
}

/// The expectations the servers must meet after the switch.
fn expectations(p: &DnsSwitch) -> Vec<RecordExpectation> {
    let mut out = Vec::new();
    for host in &p.hosts {
        let name = format!("{}.", host.trim_end_matches('.').to_ascii_lowercase());
        match &p.target {
            DnsTarget::Addresses(addrs) => {
                for (kind, v4) in [(RecordKind::A, true), (RecordKind::Aaaa, false)] {
                    let values = addrs
                        .iter()
                        .filter(|ip| ip.is_ipv4() == v4)
                        .map(|ip| RecordValue::Address(*ip))
                        .collect();
                    out.push(RecordExpectation {
                        name: name.clone(),
                        kind,
                        expect: RecordExpect::Equals(values),
                    });
                }
            }
            DnsTarget::Alias(target) => out.push(RecordExpectation {
                name: name.clone(),
                kind: RecordKind::Cname,
                expect: RecordExpect::Equals(vec![RecordValue::Name(format!(
                    "{}.",
                    target.trim_end_matches('.').to_ascii_lowercase()
                ))]),
            }),
        }
    }
    out
}

/// Asks every authoritative server (the `dns` check's own walk) until all
/// serve the records `p` switches to, or `verify_within` passes; returns
/// one line per host and record type. [`switch`] ends with it; on its own
/// it confirms a switch made by hand (the document's `nsupdate` lines).
pub async fn verify_switched(p: &DnsSwitch, ctx: &ProbeContext) -> Result<Vec<String>, DnsError> {
    let deadline = tokio::time::Instant::now() + p.verify_within;
    let specs: Vec<DnsSpec> = expectations(p)
        .into_iter()
        .map(|expectation| DnsSpec {
            expectation,
            source: RecordSource::Authoritative,
            dns: p.dns.clone(),
        })
        .collect();
    loop {
        let mut pending = Vec::new();
        let mut done = Vec::new();
        for spec in &specs {
            let budget = p
                .dns
                .query_timeout
                .saturating_mul(8)
                .max(Duration::from_secs(2));
            let outcome = keepup_probe::dns::probe_records(spec, &ctx.with_timeout(budget)).await;
            if outcome.status == Status::Up {
                done.push(outcome.message);
            } else {
                let why = outcome
                    .findings
                    .iter()
                    .map(|f| f.text.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                pending.push(if why.is_empty() { outcome.message } else { why });
            }
        }
        if pending.is_empty() {
            return Ok(done);
        }
        if tokio::time::Instant::now() + VERIFY_EVERY > deadline {
            return Err(DnsError::NotPropagated {
                zone: p.zone.clone(),
                within: p.verify_within,
                why: pending.join("; "),
            });
        }
        tokio::time::sleep(VERIFY_EVERY).await;
    }
}

/// The hosts' current A, AAAA and CNAME records, asked of the primary
/// (whose TTLs are the ones to wait out).
async fn current_records(p: &DnsSwitch, prepared: &Prepared) -> Result<Vec<Record>, DnsError> {
    let mut out = Vec::new();
    for host in &prepared.hosts {
        for rtype in [RecordType::A, RecordType::AAAA, RecordType::CNAME] {
            let mut msg = Message::query();
            msg.add_query(Query::query(host.clone(), rtype));
            let id = msg.metadata.id;
            let wire = msg.to_vec().map_err(|e| DnsError::Invalid(e.to_string()))?;
            let answer = exchange(p.primary, &wire, id, p.timeout).await?;
            let reply = Message::from_vec(&answer).map_err(|e| DnsError::BadAnswer {
                server: p.primary,
                why: e.to_string(),
            })?;
            out.extend(
                reply
                    .answers
                    .into_iter()
                    .filter(|r| r.name == *host && r.record_type() == rtype),
            );
        }
    }
    Ok(out)
}

/// Signs and sends one update of `prepared.zone` and checks the signed
/// answer.
async fn send_update(
    p: &DnsSwitch,
    prepared: &Prepared,
    updates: Vec<Record>,
) -> Result<(), DnsError> {
    let mut msg = Message::new(rand_id(), MessageType::Query, OpCode::Update);
    let mut zone = Query::query(prepared.zone.clone(), RecordType::SOA);
    zone.query_class = DNSClass::IN;
    msg.add_query(zone);
    msg.add_authorities(updates);
    let (wire, request_mac) = sign(prepared, &msg)?;
    let answer = exchange(p.primary, &wire, msg.metadata.id, p.timeout).await?;
    check_answer(p, prepared, &answer, &request_mac)
}

fn rand_id() -> u16 {
    Message::query().metadata.id
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The message with its TSIG record (RFC 8945 §4.3), and the MAC.
fn sign(prepared: &Prepared, msg: &Message) -> Result<(Vec<u8>, Vec<u8>), DnsError> {
    let unsigned = msg
        .to_vec()
        .map_err(|e| DnsError::Invalid(format!("cannot encode the update: {e}")))?;
    prepared
        .key
        .sign(&unsigned, None, now_secs(), None)
        .map_err(|e| DnsError::Invalid(format!("cannot sign the update: {e}")))
}

/// Interprets the primary's answer: its TSIG first (an error in it names
/// the key problem; a valid one proves the answer), then its code.
fn check_answer(
    p: &DnsSwitch,
    prepared: &Prepared,
    answer: &[u8],
    request_mac: &[u8],
) -> Result<(), DnsError> {
    let server = p.primary;
    let bad = |why: String| DnsError::BadAnswer { server, why };
    let msg = Message::from_vec(answer).map_err(|e| bad(format!("undecodable: {e}")))?;
    if msg.metadata.message_type != MessageType::Response || msg.metadata.op_code != OpCode::Update
    {
        return Err(bad("it is not an answer to an update".into()));
    }
    let rcode = msg.metadata.response_code;
    let tsig = msg
        .signature()
        .map(|r| (r.name.clone(), r.data.clone()))
        .or_else(
            || match msg.additionals.last().map(|r| (&r.name, &r.data)) {
                Some((name, RData::TSIG(t))) => Some((name.clone(), t.clone())),
                _ => None,
            },
        );
    let key = &p.key.name;
    if let Some((_, t)) = &tsig
        && let Some(error) = t.error
    {
        let (code, hint) = match error {
            TsigError::BadKey => (
                "BADKEY",
                format!(
                    "it does not know key {key} with algorithm {}, or no ACL of the zone lets this key update it: check the key's name and algorithm and the zone's update ACL in the server's configuration (Knot: an acl with action update and this key; BIND: update-policy or allow-update)",
                    p.key.algorithm.as_str()
                ),
            ),
            TsigError::BadSig => (
                "BADSIG",
                format!(
                    "the signature does not match: the secret of key {key} differs from the server's"
                ),
            ),
            TsigError::BadTime => (
                "BADTIME",
                "the clocks of this host and the server differ by more than 5 minutes".into(),
            ),
            _ => ("TSIG error", format!("check key {key}")),
        };
        return Err(DnsError::Tsig {
            server,
            code: format!("{} {code}", rcode_name(rcode)),
            hint,
        });
    }
    match &tsig {
        Some(_) => verify_answer_mac(prepared, answer, request_mac)
            .map_err(|why| bad(format!("its TSIG signature does not verify: {why}")))?,
        None if rcode == ResponseCode::NotAuth => {
            return Err(DnsError::Tsig {
                server,
                code: "NOTAUTH".into(),
                hint: format!(
                    "the update was not accepted as signed by key {key}, or the server is not authoritative for {}",
                    p.zone
                ),
            });
        }
        None if rcode == ResponseCode::NoError => {
            return Err(bad(
                "it says the update succeeded but is not signed (is something between keepup and the primary?)".into(),
            ));
        }
        // An error answer to a request the server did not process far
        // enough to sign: its code says why.
        None => {}
    }
    if rcode == ResponseCode::NoError {
        return Ok(());
    }
    let zone = &p.zone;
    let hint = match rcode {
        ResponseCode::Refused => format!(
            "the server does not allow key {key} to update the zone: check the zone's update ACL (Knot: an acl with action update and this key; BIND: update-policy or allow-update)"
        ),
        ResponseCode::NotZone => {
            format!("a host is not inside the zone {zone}: check the hosts' names and the zone")
        }
        ResponseCode::NotAuth => format!(
            "the server is not authoritative for {zone} (is it the zone's primary?) or does not accept key {key} for it"
        ),
        ResponseCode::ServFail => "the server failed to apply it (see its log)".into(),
        ResponseCode::FormErr => "the server could not parse the update".into(),
        ResponseCode::NotImp => "the server does not support dynamic updates".into(),
        _ => "see the server's log".into(),
    };
    Err(DnsError::Rejected {
        server,
        zone: p.zone.clone(),
        rcode: rcode_name(rcode),
        hint,
    })
}

fn rcode_name(rcode: ResponseCode) -> String {
    match rcode {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::YXDomain => "YXDOMAIN".into(),
        ResponseCode::YXRRSet => "YXRRSET".into(),
        ResponseCode::NXRRSet => "NXRRSET".into(),
        ResponseCode::NotAuth => "NOTAUTH".into(),
        ResponseCode::NotZone => "NOTZONE".into(),
        other => format!("RCODE {}", u16::from(other)),
    }
}

/// Checks the answer's MAC (RFC 8945 §4.3.1 and §5.3): it covers the
/// request's MAC, the answer without its TSIG record, and the TSIG
/// variables; its time must be within the fudge.
fn verify_answer_mac(prepared: &Prepared, answer: &[u8], request_mac: &[u8]) -> Result<(), String> {
    let signed = keepup_tsig::signed_parts(answer, Some(request_mac))
        .map_err(|e| e.to_string())?
        .ok_or("it carries no TSIG record")?;
    prepared
        .key
        .verify(&signed, now_secs())
        .map_err(|e| e.to_string())
}

/// Sends `wire` to `server` over UDP (twice if nothing comes back) and
/// returns the answer with ID `id`; asks again over TCP when the answer is
/// truncated.
async fn exchange(
    server: SocketAddr,
    wire: &[u8],
    id: u16,
    timeout: Duration,
) -> Result<Vec<u8>, DnsError> {
    let unreachable = |why: String| DnsError::Unreachable { server, why };
    let local: SocketAddr = if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    socket
        .connect(server)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let mut buf = vec![0u8; MAX_MESSAGE];
    for _ in 0..2 {
        socket
            .send(wire)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let n = match tokio::time::timeout_at(until, socket.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(unreachable(e.to_string())),
                Ok(Ok(n)) => n,
            };
            // Not ours (late, or spoofed): keep listening.
            if n < 12 || u16::from_be_bytes([buf[0], buf[1]]) != id || buf[2] & 0x80 == 0 {
                continue;
            }
            // TC: the whole answer only comes over TCP.
            if buf[2] & 0x02 != 0 {
                return tcp_exchange(server, wire, id, timeout).await;
            }
            return Ok(buf[..n].to_vec());
        }
    }
    Err(unreachable(format!(
        "no answer over UDP within {} (sent twice)",
        duration_words(timeout)
    )))
}

async fn tcp_exchange(
    server: SocketAddr,
    wire: &[u8],
    id: u16,
    timeout: Duration,
) -> Result<Vec<u8>, DnsError> {
    let unreachable = |why: String| DnsError::Unreachable {
        server,
        why: format!("over TCP: {why}"),
    };
    let late = || unreachable(format!("no answer within {}", duration_words(timeout)));
    let until = tokio::time::Instant::now() + timeout;
    let mut stream = tokio::time::timeout_at(until, TcpStream::connect(server))
        .await
        .map_err(|_| late())?
        .map_err(|e| unreachable(e.to_string()))?;
    let len = u16::try_from(wire.len()).map_err(|_| unreachable("update too long".into()))?;
    let mut out = Vec::with_capacity(wire.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(wire);
    tokio::time::timeout_at(until, stream.write_all(&out))
        .await
        .map_err(|_| late())?
        .map_err(|e| unreachable(e.to_string()))?;
    let mut prefix = [0u8; 2];
    tokio::time::timeout_at(until, stream.read_exact(&mut prefix))
        .await
        .map_err(|_| late())?
        .map_err(|e| unreachable(e.to_string()))?;
    // At most 64 KiB by construction of the prefix.
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    tokio::time::timeout_at(until, stream.read_exact(&mut body))
        .await
        .map_err(|_| late())?
        .map_err(|e| unreachable(e.to_string()))?;
    if body.len() < 12 || u16::from_be_bytes([body[0], body[1]]) != id {
        return Err(DnsError::BadAnswer {
            server,
            why: "the TCP answer does not belong to the update".into(),
        });
    }
    Ok(body)
}

/// The same switch as `nsupdate` input, for a person to run by hand with
/// `nsupdate -k KEY_FILE` (the key file holds the secret; `key_file` is
/// only named in a comment). Without the TTL lowering, which a person does
/// as a separate, earlier run if at all.
pub fn nsupdate_script(p: &DnsSwitch, key_file: &str) -> String {
    nsupdate_lines(p, key_file, true)
}

/// The `nsupdate` lines replacing the hosts' records with the target's
/// (`add`), or deleting only the target's.
fn nsupdate_lines(p: &DnsSwitch, key_file: &str, add: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "; nsupdate -k {key_file} < this file   (key {} {}, secret kept in the key file)",
        p.key.algorithm.as_str(),
        p.key.name
    );
    let _ = writeln!(out, "server {} {}", p.primary.ip(), p.primary.port());
    let _ = writeln!(out, "zone {}", fqdn(&p.zone));
    for host in &p.hosts {
        let host = fqdn(host);
        // A removal deletes only the records the switch added.
        let (verb, ttl) = if add {
            for rtype in ["A", "AAAA", "CNAME"] {
                let _ = writeln!(out, "update delete {host} {rtype}");
            }
            ("add", format!(" {}", p.ttl))
        } else {
            ("delete", String::new())
        };
        match &p.target {
            DnsTarget::Addresses(addrs) => {
                for ip in addrs {
                    let rtype = if ip.is_ipv4() { "A" } else { "AAAA" };
                    let _ = writeln!(out, "update {verb} {host}{ttl} {rtype} {ip}");
                }
            }
            DnsTarget::Alias(target) => {
                let _ = writeln!(out, "update {verb} {host}{ttl} CNAME {}", fqdn(target));
            }
        }
    }
    out.push_str("send\n");
    out
}

fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switch_to(target: DnsTarget) -> DnsSwitch {
        DnsSwitch {
            zone: "shop.example".into(),
            primary: "192.0.2.53:53".parse().expect("address"),
            key: TsigKey {
                name: "keepup.".into(),
                algorithm: TsigAlgorithm::HmacSha512,
                secret: Secret::new("c2VjcmV0LXZhbHVl".into()),
            },
            hosts: vec!["www.shop.example".into()],
            target,
            ttl: 60,
            lower_ttl_first: None,
            timeout: Duration::from_secs(1),
            dns: DnsSettings::default(),
            verify_within: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_secret_that_is_not_base64_is_named_without_showing_it() {
        let mut p = switch_to(DnsTarget::Addresses(vec!["192.0.2.1".parse().expect("ip")]));
        p.key.secret = Secret::new("not base64!".into());
        let Err(e) = prepare(&p) else {
            panic!("accepted a secret that is not base64")
        };
        let text = e.to_string();
        assert!(
            text.contains("keepup.") && text.contains("not base64"),
            "{text}"
        );
        assert!(!text.contains("not base64!"), "{text}");
    }

    #[test]
    fn an_alias_switch_expects_the_cname_only() {
        let p = switch_to(DnsTarget::Alias("standby.example".into()));
        let exp = expectations(&p);
        assert_eq!(exp.len(), 1);
        assert_eq!(exp[0].kind, RecordKind::Cname);
        assert_eq!(
            exp[0].expect,
            RecordExpect::Equals(vec![RecordValue::Name("standby.example.".into())])
        );
        assert!(
            nsupdate_script(&p, "/k")
                .contains("update add www.shop.example. 60 CNAME standby.example.\n")
        );
    }
}
