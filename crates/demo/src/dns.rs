//! The demo's own little DNS world, in process, on loopback: a root zone, the
//! `test.` TLD and the demo shop's zone, each served authoritatively by its
//! own loopback address (all on one port, since glue carries no port and the
//! delegation walk asks every server it finds on `[dns] port`), plus a
//! "resolver" address that holds a small test blacklist for the `dnsbl`
//! check. UDP and TCP. It answers only its own zones (REFUSED otherwise),
//! reads bounded messages and gives up on slow TCP peers.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, MX, NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// The root server's address.
pub const ROOT: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 1);
/// The `test.` servers.
const TLD: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 77, 0, 2), Ipv4Addr::new(127, 77, 0, 3)];
/// The demo shop's name servers.
const SHOP_NS: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 77, 0, 4), Ipv4Addr::new(127, 77, 0, 5)];
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
    let local = Ipv4Addr::LOCALHOST;
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
        (SHOP_NS.to_vec(), shop_zone),
        (vec![RESOLVER], blocklist),
    ]
}

impl DemoDns {
    /// Starts the servers for the demo shop's zone `shop` (e.g.
    /// `demo-shop.test`), on one free port shared by every address.
    pub async fn start(shop: &str) -> std::io::Result<DemoDns> {
        let all = zones(shop);
        let mut last_err = None;
        for _ in 0..20 {
            match bind_all(&all).await {
                Ok((port, sockets)) => {
                    let by_zone: Vec<(Vec<Ipv4Addr>, Arc<Zone>)> =
                        all.into_iter().map(|(ips, z)| (ips, Arc::new(z))).collect();
                    let mut tasks = Vec::new();
                    for (ip, udp, tcp) in sockets {
                        let zone = by_zone
                            .iter()
                            .find(|(ips, _)| ips.contains(&ip))
                            .map(|(_, z)| Arc::clone(z));
                        let Some(zone) = zone else { continue };
                        let resolver = ip == RESOLVER;
                        let server = Arc::new(Server { zone, resolver });
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
    let ips: Vec<Ipv4Addr> = all
        .iter()
        .flat_map(|(ips, _)| ips.iter().copied())
        .collect();
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

/// One address's server: one zone, authoritative.
struct Server {
    zone: Arc<Zone>,
    /// Whether it poses as a recursive resolver (RA set).
    resolver: bool,
}

impl Server {
    /// The answer to one query message, or None for what is not a query.
    fn answer(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let query = Message::from_vec(bytes).ok()?;
        if query.metadata.message_type != MessageType::Query {
            return None;
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
        let zone = &self.zone;
        if !zone.apex.zone_of(qname) {
            resp.metadata.response_code = ResponseCode::Refused;
            return;
        }
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
                self.add_glue(r, resp);
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
                self.add_glue(r, resp);
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

    /// The addresses of an NS or MX target held in this zone.
    fn add_glue(&self, r: &Record, resp: &mut Message) {
        let target = match &r.data {
            RData::NS(NS(t)) => t,
            RData::MX(mx) => &mx.exchange,
            _ => return,
        };
        for g in self
            .zone
            .records
            .iter()
            .filter(|g| g.name == *target && g.record_type() == RecordType::A)
        {
            resp.add_additional(g.clone());
        }
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
