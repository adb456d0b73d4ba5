//! The demo's own little DNS world, in process, on loopback: a root zone, the
//! `test.` TLD and the demo shop's zone, each served authoritatively by its
//! own loopback address (all on one port, since glue carries no port and the
//! delegation walk asks every server it finds on `[dns] port`), plus a
//! "resolver" address that holds a small test blacklist for the `dnsbl`
//! check and answers for the shop's zone too (the checks resolve the
//! shop's names there, `[dns] resolve_hosts = "resolver"`). UDP and TCP. It answers only its own zones (REFUSED otherwise),
//! reads bounded messages and gives up on slow TCP peers.
//!
//! The shop's zone takes RFC 2136 dynamic updates signed with the demo's
//! TSIG key (hmac-sha256), as a real primary would, so that a recovery
//! plan's `dns` step can switch the shop to its standby: both shop name
//! servers serve the one zone the update changes. An unsigned update is
//! REFUSED; one signed with another key gets NOTAUTH with BADKEY, a wrong
//! MAC NOTAUTH with BADSIG, a time off by more than the fudge NOTAUTH with
//! BADTIME (RFC 8945 §5.2); a zone it does not serve NOTAUTH, a name
//! outside it NOTZONE (RFC 2136 §3). Answers to signed updates are signed.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::tsig::TsigError;
use hickory_proto::rr::rdata::{A, MX, NS, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// The root server's address.
pub const ROOT: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 1);
/// The `test.` servers.
const TLD: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 77, 0, 2), Ipv4Addr::new(127, 77, 0, 3)];
/// The demo shop's name servers; both take signed updates.
pub const SHOP_NS: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 77, 0, 4), Ipv4Addr::new(127, 77, 0, 5)];
/// The "resolver" holding the test blacklist.
pub const RESOLVER: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 6);
/// The test blacklist's zone (127.0.0.2 listed, as RFC 5782 asks).
pub const BLOCKLIST: &str = "dnsbl.demo-blocklist.test";

/// SOA timers within what the delegation check calls healthy.
const TIMERS: (i32, i32, i32, u32) = (14_400, 3_600, 1_209_600, 3_600);
const TTL: u32 = 3_600;
/// A TCP peer gets this long per message.
const TCP_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many messages on one TCP connection.
const TCP_MAX_MESSAGES: usize = 16;

/// One zone: its apex and every record in it, delegations and glue included.
struct Zone {
    apex: Name,
    records: Vec<Record>,
}

/// The production shop's address, which the shop's names point at until a
/// recovery plan switches them.
pub const PRODUCTION: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// The running servers (stopped when dropped).
pub struct DemoDns {
    /// The one port every demo name server listens on.
    pub port: u16,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DemoDns {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn name(s: &str) -> Name {
    // Only called on the constant names below.
    Name::from_ascii(s).unwrap_or_else(|_| Name::root())
}

fn rec(owner: &str, data: RData) -> Record {
    Record::from_rdata(name(owner), TTL, data)
}

fn soa(apex: &str, mname: &str, serial: u32) -> Record {
    let (refresh, retry, expire, minimum) = TIMERS;
    rec(
        apex,
        RData::SOA(SOA::new(
            name(mname),
            name(&format!("hostmaster.{apex}")),
            serial,
            refresh,
            retry,
            expire,
            minimum,
        )),
    )
}

fn ns(owner: &str, target: &str) -> Record {
    rec(owner, RData::NS(NS(name(target))))
}

fn a(owner: &str, ip: Ipv4Addr) -> Record {
    rec(owner, RData::A(A(ip)))
}

/// The zones, with which addresses serve them.
fn zones(shop: &str) -> Vec<(Vec<Ipv4Addr>, Zone)> {
    let shop_apex = format!("{shop}.");
    let root = Zone {
        apex: Name::root(),
        records: vec![
            soa(".", "a.root-servers.test.", 1),
            ns(".", "a.root-servers.test."),
            a("a.root-servers.test.", ROOT),
            ns("test.", "ns1.nic.test."),
            ns("test.", "ns2.nic.test."),
            a("ns1.nic.test.", TLD[0]),
            a("ns2.nic.test.", TLD[1]),
        ],
    };
    let tld = Zone {
        apex: name("test."),
        records: vec![
            soa("test.", "ns1.nic.test.", 1),
            ns("test.", "ns1.nic.test."),
            ns("test.", "ns2.nic.test."),
            a("ns1.nic.test.", TLD[0]),
            a("ns2.nic.test.", TLD[1]),
            ns(&shop_apex, &format!("ns1.{shop_apex}")),
            ns(&shop_apex, &format!("ns2.{shop_apex}")),
            a(&format!("ns1.{shop_apex}"), SHOP_NS[0]),
            a(&format!("ns2.{shop_apex}"), SHOP_NS[1]),
        ],
    };
    let local = PRODUCTION;
    let shop_zone = Zone {
        apex: name(&shop_apex),
        records: vec![
            soa(&shop_apex, &format!("ns1.{shop_apex}"), 2026010101),
            ns(&shop_apex, &format!("ns1.{shop_apex}")),
            ns(&shop_apex, &format!("ns2.{shop_apex}")),
            a(&format!("ns1.{shop_apex}"), SHOP_NS[0]),
            a(&format!("ns2.{shop_apex}"), SHOP_NS[1]),
            a(&shop_apex, local),
            a(&format!("www.{shop_apex}"), local),
            rec(
                &shop_apex,
                RData::MX(MX::new(10, name(&format!("mail.{shop_apex}")))),
            ),
            a(&format!("mail.{shop_apex}"), local),
            rec(
                &shop_apex,
                RData::TXT(TXT::new(vec!["v=spf1 mx -all".into()])),
            ),
        ],
    };
    let bl = format!("{BLOCKLIST}.");
    let blocklist = Zone {
        apex: name(&bl),
        records: vec![
            soa(&bl, &format!("ns.{bl}"), 1),
            ns(&bl, &format!("ns.{bl}")),
            a(&format!("ns.{bl}"), RESOLVER),
            a(&format!("2.0.0.127.{bl}"), Ipv4Addr::new(127, 0, 0, 2)),
            rec(
                &format!("2.0.0.127.{bl}"),
                RData::TXT(TXT::new(vec![
                    "127.0.0.2 is the test entry (RFC 5782), always listed".into(),
                ])),
            ),
        ],
    };
    vec![
        (vec![ROOT], root),
        (TLD.to_vec(), tld),
        (vec![SHOP_NS[0], SHOP_NS[1], RESOLVER], shop_zone),
        (vec![RESOLVER], blocklist),
    ]
}

impl DemoDns {
    /// Starts the servers for the demo shop's zone `shop` (e.g.
    /// `demo-shop.test`), on one free port shared by every address; the
    /// shop's zone takes updates signed with `update_key`.
    pub async fn start(shop: &str, update_key: keepup_tsig::Key) -> std::io::Result<DemoDns> {
        let update_key = Arc::new(update_key);
        let all = zones(shop);
        let mut last_err = None;
        for _ in 0..20 {
            match bind_all(&all).await {
                Ok((port, sockets)) => {
                    let by_zone: Vec<(Vec<Ipv4Addr>, Arc<RwLock<Zone>>)> = all
                        .into_iter()
                        .map(|(ips, z)| (ips, Arc::new(RwLock::new(z))))
                        .collect();
                    let mut tasks = Vec::new();
                    for (ip, udp, tcp) in sockets {
                        let zones: Vec<Arc<RwLock<Zone>>> = by_zone
                            .iter()
                            .filter(|(ips, _)| ips.contains(&ip))
                            .map(|(_, z)| Arc::clone(z))
                            .collect();
                        let resolver = ip == RESOLVER;
                        let updates = SHOP_NS.contains(&ip).then(|| Arc::clone(&update_key));
                        let server = Arc::new(Server {
                            zones,
                            resolver,
                            updates,
                        });
                        tasks.push(tokio::spawn(serve_udp(udp, Arc::clone(&server))));
                        tasks.push(tokio::spawn(serve_tcp(tcp, server)));
                    }
                    return Ok(DemoDns { port, tasks });
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::other("no free port for the demo DNS")))
    }
}

type Bound = (Ipv4Addr, UdpSocket, TcpListener);

/// Binds UDP and TCP on every address at one port.
async fn bind_all(all: &[(Vec<Ipv4Addr>, Zone)]) -> std::io::Result<(u16, Vec<Bound>)> {
    let mut ips: Vec<Ipv4Addr> = Vec::new();
    for ip in all.iter().flat_map(|(ips, _)| ips.iter().copied()) {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    let first = UdpSocket::bind((ips[0], 0)).await?;
    let port = first.local_addr()?.port();
    let mut out = Vec::new();
    let mut first = Some(first);
    for ip in ips {
        let udp = match first.take() {
            Some(s) => s,
            None => UdpSocket::bind((ip, port)).await?,
        };
        let tcp = TcpListener::bind((ip, port)).await?;
        out.push((ip, udp, tcp));
    }
    Ok((port, out))
}

/// One address's server: its zones (one, authoritative, except at the
/// resolver).
struct Server {
    zones: Vec<Arc<RwLock<Zone>>>,
    /// Whether it poses as a recursive resolver (RA set).
    resolver: bool,
    /// The key updates of its zone must be signed with; `None`: the zone
    /// takes no updates.
    updates: Option<Arc<keepup_tsig::Key>>,
}

impl Server {
    /// The answer to one query message, or None for what is not a query.
    fn answer(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let query = Message::from_vec(bytes).ok()?;
        if query.metadata.message_type != MessageType::Query {
            return None;
        }
        if query.metadata.op_code == OpCode::Update {
            return self.update(bytes, &query);
        }
        let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
        resp.metadata.recursion_desired = query.metadata.recursion_desired;
        resp.metadata.recursion_available = self.resolver;
        if query.edns.is_some() {
            resp.set_edns(Edns::new());
        }
        let (Some(q), 1) = (query.queries.first(), query.queries.len()) else {
            resp.metadata.response_code = ResponseCode::FormErr;
            return resp.to_vec().ok();
        };
        resp.add_query(q.clone());
        if query.metadata.op_code != OpCode::Query {
            resp.metadata.response_code = ResponseCode::NotImp;
            return resp.to_vec().ok();
        }
        self.lookup(q.name(), q.query_type(), &mut resp);
        resp.to_vec().ok()
    }

    /// Fills `resp` with the zone's answer, referral, NODATA, NXDOMAIN or
    /// REFUSED.
    fn lookup(&self, qname: &Name, qtype: RecordType, resp: &mut Message) {
        // The deepest of its zones that holds qname.
        let mut best: Option<std::sync::RwLockReadGuard<'_, Zone>> = None;
        for z in &self.zones {
            let z = z.read().unwrap_or_else(|p| p.into_inner());
            if z.apex.zone_of(qname)
                && best
                    .as_ref()
                    .is_none_or(|b| z.apex.num_labels() > b.apex.num_labels())
            {
                best = Some(z);
            }
        }
        let Some(zone) = best else {
            resp.metadata.response_code = ResponseCode::Refused;
            return;
        };
        let zone = &*zone;
        // A delegation (NS below the apex) on the way down to qname.
        let cut = zone
            .records
            .iter()
            .filter(|r| r.record_type() == RecordType::NS && r.name != zone.apex)
            .map(|r| r.name.clone())
            .find(|cut| cut.zone_of(qname));
        if let Some(cut) = cut {
            for r in zone
                .records
                .iter()
                .filter(|r| r.name == cut && r.record_type() == RecordType::NS)
            {
                resp.add_authority(r.clone());
                add_glue(zone, r, resp);
            }
            return;
        }
        resp.metadata.authoritative = true;
        let at_name: Vec<&Record> = zone.records.iter().filter(|r| r.name == *qname).collect();
        let answers: Vec<&Record> = at_name
            .iter()
            .copied()
            .filter(|r| r.record_type() == qtype)
            .collect();
        if !answers.is_empty() {
            for r in answers {
                resp.add_answer(r.clone());
                add_glue(zone, r, resp);
            }
            return;
        }
        let exists = !at_name.is_empty() || zone.records.iter().any(|r| qname.zone_of(&r.name));
        if !exists {
            resp.metadata.response_code = ResponseCode::NXDomain;
        }
        if let Some(soa) = zone
            .records
            .iter()
            .find(|r| r.record_type() == RecordType::SOA)
        {
            resp.add_authority(soa.clone());
        }
    }
}

/// The addresses of an NS or MX target held in `zone`.
fn add_glue(zone: &Zone, r: &Record, resp: &mut Message) {
    let target = match &r.data {
        RData::NS(NS(t)) => t,
        RData::MX(mx) => &mx.exchange,
        _ => return,
    };
    for g in zone
        .records
        .iter()
        .filter(|g| g.name == *target && g.record_type() == RecordType::A)
    {
        resp.add_additional(g.clone());
    }
}

/// Seconds since the epoch, for TSIG times.
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Why an update is not applied, as its response code.
struct Refusal(ResponseCode);

impl Server {
    /// The answer to an RFC 2136 update: the signature first (RFC 8945
    /// §5.2), then the zone, then each change, applied all or none.
    fn update(&self, wire: &[u8], request: &Message) -> Option<Vec<u8>> {
        let mut resp = Message::response(request.metadata.id, OpCode::Update);
        resp.add_queries(request.queries.iter().cloned());
        let signed = match keepup_tsig::signed_parts(wire, None) {
            Ok(s) => s,
            Err(_) => {
                resp.metadata.response_code = ResponseCode::FormErr;
                return resp.to_vec().ok();
            }
        };
        let (Some(key), Some(signed)) = (&self.updates, signed) else {
            // A zone without updates, or an unsigned update: this server
            // only takes changes signed with the demo's key.
            resp.metadata.response_code = ResponseCode::Refused;
            return resp.to_vec().ok();
        };
        let now = now_secs();
        match key.verify(&signed, now) {
            Ok(()) => {}
            Err(keepup_tsig::Rejection::BadTime) => {
                resp.metadata.response_code = ResponseCode::NotAuth;
                let unsigned = resp.to_vec().ok()?;
                let (answer, _) = key
                    .sign(
                        &unsigned,
                        Some(&signed.tsig.mac),
                        now,
                        Some(TsigError::BadTime),
                    )
                    .ok()?;
                return Some(answer);
            }
            Err(rejection) => {
                // BADKEY and BADSIG answers are not signed: the key cannot
                // be trusted (RFC 8945 §5.3.2).
                tracing::info!(key = %signed.key_name, why = %rejection, "demo DNS: update rejected");
                resp.metadata.response_code = ResponseCode::NotAuth;
                let unsigned = resp.to_vec().ok()?;
                return keepup_tsig::unsigned_error(
                    &unsigned,
                    &signed.key_name,
                    signed.tsig.algorithm.clone(),
                    now,
                    rejection.code(),
                )
                .ok();
            }
        }
        resp.metadata.response_code = match self.apply(request) {
            Ok(()) => ResponseCode::NoError,
            Err(Refusal(code)) => code,
        };
        let unsigned = resp.to_vec().ok()?;
        let (answer, _) = key
            .sign(&unsigned, Some(&signed.tsig.mac), now, None)
            .ok()?;
        Some(answer)
    }

    /// Applies the update section to the zone (RFC 2136 §3.4.2) on a copy,
    /// then replaces the zone with it and raises its serial.
    fn apply(&self, request: &Message) -> Result<(), Refusal> {
        let (Some(zone_q), 1) = (request.queries.first(), request.queries.len()) else {
            return Err(Refusal(ResponseCode::FormErr));
        };
        if zone_q.query_type() != RecordType::SOA {
            return Err(Refusal(ResponseCode::FormErr));
        }
        // Prerequisites (RFC 2136 §2.4) are not needed by keepup's dns step.
        if !request.answers.is_empty() {
            return Err(Refusal(ResponseCode::NotImp));
        }
        let Some(zone) = self
            .zones
            .iter()
            .find(|z| z.read().unwrap_or_else(|p| p.into_inner()).apex == *zone_q.name())
        else {
            return Err(Refusal(ResponseCode::NotAuth));
        };
        let mut zone = zone.write().unwrap_or_else(|p| p.into_inner());
        let mut records = zone.records.clone();
        for change in &request.authorities {
            if !zone.apex.zone_of(&change.name) {
                return Err(Refusal(ResponseCode::NotZone));
            }
            let rtype = change.record_type();
            // The SOA and the delegation stay as the demo made them.
            let refused = matches!(rtype, RecordType::SOA | RecordType::NS)
                || (rtype == RecordType::ANY && change.dns_class != DNSClass::ANY);
            if refused {
                return Err(Refusal(ResponseCode::Refused));
            }
            match change.dns_class {
                DNSClass::IN => {
                    let same = |r: &Record| {
                        r.name == change.name && r.record_type() == rtype && r.data == change.data
                    };
                    if !records.iter().any(same) {
                        records.push(change.clone());
                    }
                    // One TTL per set: the newest.
                    for r in records
                        .iter_mut()
                        .filter(|r| r.name == change.name && r.record_type() == rtype)
                    {
                        r.ttl = change.ttl;
                    }
                }
                DNSClass::ANY if rtype == RecordType::ANY => records.retain(|r| {
                    r.name != change.name
                        || matches!(r.record_type(), RecordType::SOA | RecordType::NS)
                }),
                DNSClass::ANY => {
                    records.retain(|r| !(r.name == change.name && r.record_type() == rtype))
                }
                DNSClass::NONE => records.retain(|r| {
                    !(r.name == change.name && r.record_type() == rtype && r.data == change.data)
                }),
                _ => return Err(Refusal(ResponseCode::FormErr)),
            }
        }
        for r in &mut records {
            if let RData::SOA(soa) = &mut r.data {
                soa.serial = soa.serial.wrapping_add(1);
            }
        }
        zone.records = records;
        Ok(())
    }
}

async fn serve_udp(socket: UdpSocket, server: Arc<Server>) {
    let mut buf = [0u8; 4096];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        if !peer.ip().is_loopback() {
            continue;
        }
        if let Some(answer) = server.answer(&buf[..n]) {
            let _ = socket.send_to(&answer, peer).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, server: Arc<Server>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        if !is_loopback(peer) {
            continue;
        }
        let server = Arc::clone(&server);
        tokio::spawn(async move {
            let _ = tcp_session(stream, &server).await;
        });
    }
}

fn is_loopback(peer: SocketAddr) -> bool {
    match peer.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => ip.is_loopback(),
    }
}

/// Length-prefixed messages (RFC 1035 §4.2.2), each within [`TCP_TIMEOUT`].
async fn tcp_session(mut stream: TcpStream, server: &Server) -> std::io::Result<()> {
    for _ in 0..TCP_MAX_MESSAGES {
        let read = async {
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).await?;
            let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut msg).await?;
            std::io::Result::Ok(msg)
        };
        let msg = tokio::time::timeout(TCP_TIMEOUT, read)
            .await
            .map_err(|_| std::io::Error::other("timed out"))??;
        let Some(answer) = server.answer(&msg) else {
            return Ok(());
        };
        let len = u16::try_from(answer.len()).map_err(std::io::Error::other)?;
        let mut out = len.to_be_bytes().to_vec();
        out.extend_from_slice(&answer);
        tokio::time::timeout(TCP_TIMEOUT, stream.write_all(&out))
            .await
            .map_err(|_| std::io::Error::other("timed out"))??;
    }
    Ok(())
}
