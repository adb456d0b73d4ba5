//! Real DNS servers on loopback: Knot DNS (`knotd`, Debian package `knot`)
//! serving a test root, a TLD and shop zones, plus the DNSBL zones, and
//! two small in-process peers: a UDP-only name server and a hostile one.
//!
//! - [`Knot`]: one `knotd` process serving given zones on given loopback
//!   addresses and one port, from a temporary directory, as the current
//!   user; started and checked ready (every address answers an
//!   authoritative SOA), killed when dropped.
//! - [`DnsWorld`]: a whole hierarchy on 127.53.0.0/16, all on one port
//!   (glue carries no port, so a walk asks every server it finds on the
//!   port it is configured with): the root, `test.`, healthy and broken
//!   shop zones (see the `ZONE_*` constants) and two "resolvers" serving
//!   the DNSBL zones, one answering like the real lists and one like lists
//!   that refuse, died or misbehave. [`DnsWorld::shared`] hands out one
//!   world to every test that runs at the same time.
//! - [`HostileDns`]: a name server on 127.0.0.1 (UDP and TCP, one port)
//!   that misbehaves in one of the ways of [`DnsBehaviour`].
//!
//! Knot is an authoritative server only; the "resolvers" are Knot servers
//! that hold the DNSBL zones themselves, which is all a DNSBL client can
//! tell apart. Nothing here binds anything but loopback.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a `knotd` may take to answer after it is started.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// One `knotd` process. Killed when dropped.
pub struct Knot {
    child: Child,
    dir: tempfile::TempDir,
    listen: Vec<IpAddr>,
    port: u16,
}

impl std::fmt::Debug for Knot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knot")
            .field("listen", &self.listen)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Knot {
    /// Starts `knotd` serving `zones` (origin, zone file text) on every
    /// address of `listen` at `port`, and waits until each address answers
    /// the first zone's SOA authoritatively.
    pub fn start(listen: &[IpAddr], port: u16, zones: &[(String, String)]) -> io::Result<Self> {
        let zones: Vec<KnotZone> = zones
            .iter()
            .map(|(origin, text)| KnotZone {
                origin: origin.clone(),
                text: Some(text.clone()),
                options: String::new(),
            })
            .collect();
        Self::start_configured(listen, port, &zones, "", NO_JOURNAL)
    }

    /// Starts `knotd` with `sections` (`key:`, `remote:`, `acl:` blocks)
    /// added to its configuration, `template` as the default template's
    /// journal and zone-file lines, and `zones` with their own options;
    /// waits until every address answers the first zone's SOA.
    fn start_configured(
        listen: &[IpAddr],
        port: u16,
        zones: &[KnotZone],
        sections: &str,
        template: &str,
    ) -> io::Result<Self> {
        if let Some(ip) = listen.iter().find(|ip| !ip.is_loopback()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("keepup-testkit only binds loopback addresses, not {ip}"),
            ));
        }
        let Some(KnotZone {
            origin: first_zone, ..
        }) = zones.first()
        else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "knotd needs at least one zone",
            ));
        };
        let dir = tempfile::Builder::new().prefix("keepup-knot").tempdir()?;
        let root = dir.path();
        // knotd does not create it, and a journal needs it.
        std::fs::create_dir(root.join("db"))?;
        let mut conf = String::new();
        let listen_list: Vec<String> = listen.iter().map(|ip| format!("{ip}@{port}")).collect();
        let _ = writeln!(conf, "server:\n    rundir: \"{}\"", root.display());
        let _ = writeln!(conf, "    listen: [ {} ]", listen_list.join(", "));
        // One thread each: a test hierarchy is tiny.
        let _ = writeln!(
            conf,
            "    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1"
        );
        if !running_as_root()
            && let Ok(user) = std::env::var("USER")
        {
            let _ = writeln!(conf, "    user: {user}");
        }
        let _ = writeln!(conf, "log:\n  - target: stderr\n    any: warning");
        let _ = writeln!(
            conf,
            "database:\n    storage: \"{}\"",
            root.join("db").display()
        );
        conf.push_str(sections);
        let _ = writeln!(
            conf,
            "template:\n  - id: default\n    storage: \"{}\"\n{template}    semantic-checks: off",
            root.display()
        );
        let _ = writeln!(conf, "zone:");
        for (i, zone) in zones.iter().enumerate() {
            let file = format!("zone{i}.zone");
            if let Some(text) = &zone.text {
                std::fs::write(root.join(&file), text)?;
            }
            let _ = writeln!(
                conf,
                "  - domain: \"{}\"\n    file: \"{file}\"\n{}",
                zone.origin, zone.options
            );
        }
        let conf_path = root.join("knot.conf");
        std::fs::write(&conf_path, conf)?;
        let log = std::fs::File::create(root.join("knotd.log"))?;
        let child = Command::new(knotd_path())
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot start knotd (Debian package `knot`): {e}"),
                )
            })?;
        let mut knot = Self {
            child,
            dir,
            listen: listen.to_vec(),
            port,
        };
        knot.wait_ready(first_zone)?;
        Ok(knot)
    }

    /// The addresses it listens on.
    pub fn listen(&self) -> &[IpAddr] {
        &self.listen
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The text of the `i`-th zone's file as `knotd` last wrote it.
    pub fn zone_file(&self, i: usize) -> io::Result<String> {
        std::fs::read_to_string(self.dir.path().join(format!("zone{i}.zone")))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("knotd.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self, zone: &str) -> io::Result<()> {
        let started = Instant::now();
        let mut pending: Vec<IpAddr> = self.listen.clone();
        while !pending.is_empty() {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "knotd exited ({status}) before answering: {}",
                    self.log().trim()
                )));
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "knotd did not answer on {:?} within {READY_TIMEOUT:?}: {}",
                        pending,
                        self.log().trim()
                    ),
                ));
            }
            pending.retain(|ip| !answers_soa(SocketAddr::new(*ip, self.port), zone));
            if !pending.is_empty() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }
}

/// The default template's lines for servers whose zones never change:
/// no journal, the zone file never written back.
const NO_JOURNAL: &str = "    journal-content: none\n    zonefile-sync: -1\n";

/// One zone of a `knotd`: its origin, its file's text (`None` for a
/// secondary, which transfers it), and its own option lines.
struct KnotZone {
    origin: String,
    text: Option<String>,
    options: String,
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn knotd_path() -> &'static str {
    for p in ["/usr/sbin/knotd", "/usr/bin/knotd"] {
        if Path::new(p).exists() {
            return p;
        }
    }
    "knotd"
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(true)
}

/// A DNS query for `name` `qtype` (no recursion), as bytes.
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

/// Whether `server` answers `zone SOA` authoritatively over UDP.
fn answers_soa(server: SocketAddr, zone: &str) -> bool {
    let Ok(socket) = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))) else {
        return false;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let id = 0x4b55;
    if socket.send_to(&query(id, zone, 6), server).is_err() {
        return false;
    }
    let mut buf = [0u8; 1500];
    match socket.recv_from(&mut buf) {
        Ok((n, _)) if n >= 12 => {
            u16::from_be_bytes([buf[0], buf[1]]) == id
                && buf[2] & 0x80 != 0
                && buf[2] & 0x04 != 0
                && buf[3] & 0x0f == 0
        }
        _ => false,
    }
}

// ---- the test hierarchy -------------------------------------------------

/// The root server of a [`DnsWorld`].
pub const ROOT_ADDR: Ipv4Addr = Ipv4Addr::new(127, 53, 0, 1);
/// The servers of `test.`.
pub const TLD_ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 53, 1, 1), Ipv4Addr::new(127, 53, 1, 2)];
/// The server of every shop zone (three addresses, one process).
pub const SHOPS_ADDRS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(127, 53, 2, 1),
    Ipv4Addr::new(127, 53, 2, 2),
    Ipv4Addr::new(127, 53, 2, 3),
];
/// A second server: serves `serial.test.` with another serial, and not
/// `lame.test.` (so it is lame for it).
pub const OTHER_ADDR: Ipv4Addr = Ipv4Addr::new(127, 53, 4, 1);
/// The UDP-only server (it relays UDP to the shops' server; nothing
/// listens on TCP).
pub const UDP_ONLY_ADDR: Ipv4Addr = Ipv4Addr::new(127, 53, 5, 1);
/// Addresses where nothing listens.
pub const DEAD_ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 53, 6, 1), Ipv4Addr::new(127, 53, 6, 2)];
/// The "resolver" with the DNSBL zones as the real lists answer.
pub const DNSBL_ADDR: Ipv4Addr = Ipv4Addr::new(127, 53, 9, 1);
/// The "resolver" whose DNSBL zones refuse, died or misbehave.
pub const BROKEN_DNSBL_ADDR: Ipv4Addr = Ipv4Addr::new(127, 53, 9, 2);

/// Healthy: two in-zone name servers with correct glue, MX, A, AAAA,
/// TXT, CAA, and `alias` CNAME `www`.
pub const ZONE_SHOP: &str = "shop.test";
/// Healthy, with name servers in another zone (`dns-hoster.test`), which
/// has a null MX.
pub const ZONE_HOSTED: &str = "hosted.test";
/// The zone of [`ZONE_HOSTED`]'s name servers; null MX.
pub const ZONE_DNS_HOSTER: &str = "dns-hoster.test";
/// `ns2` (at [`OTHER_ADDR`]) does not serve the zone: lame.
pub const ZONE_LAME: &str = "lame.test";
/// The parent's glue for `ns2` says 127.53.2.2, the zone says 127.53.2.3.
pub const ZONE_GLUE: &str = "glue.test";
/// `ns1` serves serial 2026010101, `ns2` (at [`OTHER_ADDR`]) 2026010102,
/// and `www` differs between them.
pub const ZONE_SERIAL: &str = "serial.test";
/// The parent lists `ns1`, `ns2`; the zone lists `ns1`, `ns3`.
pub const ZONE_NSDIFF: &str = "nsdiff.test";
/// Healthy, with its mail exchanger and web server on loopback addresses
/// ([`LOOPSHOP_MX`], [`LOOPSHOP_WEB`]) where tests may listen: for what
/// connects to the hosts it finds (`keepup discover`).
pub const ZONE_LOOPSHOP: &str = "loopshop.test";
/// The address of `mx.loopshop.test`.
pub const LOOPSHOP_MX: Ipv4Addr = Ipv4Addr::new(127, 53, 99, 25);
/// The address of `loopshop.test` and `www.loopshop.test`.
pub const LOOPSHOP_WEB: Ipv4Addr = Ipv4Addr::new(127, 53, 99, 80);
/// The MX points at a CNAME.
pub const ZONE_MXCNAME: &str = "mxcname.test";
/// `ns2` answers over UDP only.
pub const ZONE_UDPONLY: &str = "udponly.test";
/// One name server only.
pub const ZONE_SINGLE: &str = "single.test";
/// Two name server names, one address.
pub const ZONE_SAMEIP: &str = "sameip.test";
/// `ns2` is a CNAME in the zone.
pub const ZONE_NSCNAME: &str = "nscname.test";
/// Both name servers at [`DEAD_ADDRS`], where nothing listens.
pub const ZONE_DEAD: &str = "dead.test";
/// SOA timers out of every recommended range.
pub const ZONE_TIMERS: &str = "timers.test";
/// No MX.
pub const ZONE_NOMX: &str = "nomx.test";
/// Not delegated at all (NXDOMAIN at `test.`).
pub const ZONE_MISSING: &str = "missing.test";
/// On the DNSBL "resolvers": MX `mx.mailshop.test` (192.0.2.66 and
/// 2001:db8::66, listed on Spamhaus ZEN and SpamCop), apex and `www`
/// 192.0.2.80 (listed nowhere).
pub const ZONE_MAILSHOP: &str = "mailshop.test";
/// The mail host's addresses in [`ZONE_MAILSHOP`], listed.
pub const LISTED_V4: &str = "192.0.2.66";
/// See [`LISTED_V4`].
pub const LISTED_V6: &str = "2001:db8::66";
/// The web address of [`ZONE_MAILSHOP`], listed nowhere.
pub const CLEAN_V4: &str = "192.0.2.80";
/// A domain listed on the Spamhaus DBL and on URIBL (grey).
pub const LISTED_DOMAIN: &str = "spammy.test";

/// Every DNSBL zone keepup knows, served by the DNSBL "resolvers".
pub const DNSBL_ZONES: &[&str] = &[
    "zen.spamhaus.org",
    "dbl.spamhaus.org",
    "multi.surbl.org",
    "multi.uribl.com",
    "b.barracudacentral.org",
    "bl.spamcop.net",
    "dnsbl-1.uceprotect.net",
    "dnsbl-2.uceprotect.net",
    "dnsbl-3.uceprotect.net",
    "bl.mailspike.net",
    "psbl.surriel.com",
    "all.s5h.net",
    "ix.dnsbl.manitu.net",
    "dnsbl.dronebl.org",
];

const TIMERS: &str = "14400 3600 1209600 3600";

fn soa(origin: &str, serial: u32, timers: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 3600\n@ SOA ns1.{origin}. hostmaster.{origin}. {serial} {timers}\n"
    )
}

/// A child zone with name servers `ns` (name, address) and extra lines.
fn child(origin: &str, serial: u32, ns: &[(&str, Ipv4Addr)], extra: &str) -> (String, String) {
    let mut z = soa(origin, serial, TIMERS);
    for (name, _) in ns {
        let _ = writeln!(z, "@ NS {name}");
    }
    for (name, ip) in ns {
        if !name.ends_with('.') {
            let _ = writeln!(z, "{name} A {ip}");
        }
    }
    z.push_str(extra);
    (origin.to_owned(), z)
}

fn root_zone() -> String {
    let mut z = format!(
        "$ORIGIN .\n$TTL 3600\n@ SOA a.root-servers.test. hostmaster.root-servers.test. 1 {TIMERS}\n"
    );
    let _ = writeln!(z, "@ NS a.root-servers.test.");
    let _ = writeln!(z, "a.root-servers.test. A {ROOT_ADDR}");
    let _ = writeln!(z, "test. NS ns1.nic.test.\ntest. NS ns2.nic.test.");
    let _ = writeln!(
        z,
        "ns1.nic.test. A {}\nns2.nic.test. A {}",
        TLD_ADDRS[0], TLD_ADDRS[1]
    );
    z
}

fn tld_zone() -> String {
    let [s1, s2, s3] = SHOPS_ADDRS;
    let mut z = soa("test", 1, TIMERS).replace("ns1.test.", "ns1.nic.test.");
    let _ = writeln!(z, "@ NS ns1.nic\n@ NS ns2.nic");
    let _ = writeln!(z, "ns1.nic A {}\nns2.nic A {}", TLD_ADDRS[0], TLD_ADDRS[1]);
    let deleg = |z: &mut String, zone: &str, ns: &[(&str, Option<Ipv4Addr>)]| {
        for (name, _) in ns {
            let _ = writeln!(z, "{zone} NS {name}");
        }
        for (name, ip) in ns {
            if let Some(ip) = ip {
                let _ = writeln!(z, "{name} A {ip}");
            }
        }
    };
    deleg(
        &mut z,
        "shop",
        &[("ns1.shop", Some(s1)), ("ns2.shop", Some(s2))],
    );
    deleg(
        &mut z,
        "loopshop",
        &[("ns1.loopshop", Some(s1)), ("ns2.loopshop", Some(s2))],
    );
    deleg(
        &mut z,
        "hosted",
        &[("ns1.dns-hoster", None), ("ns2.dns-hoster", None)],
    );
    deleg(
        &mut z,
        "dns-hoster",
        &[("ns1.dns-hoster", Some(s1)), ("ns2.dns-hoster", Some(s2))],
    );
    deleg(
        &mut z,
        "lame",
        &[("ns1.lame", Some(s1)), ("ns2.lame", Some(OTHER_ADDR))],
    );
    deleg(
        &mut z,
        "glue",
        &[("ns1.glue", Some(s1)), ("ns2.glue", Some(s2))],
    );
    deleg(
        &mut z,
        "serial",
        &[("ns1.serial", Some(s1)), ("ns2.serial", Some(OTHER_ADDR))],
    );
    deleg(
        &mut z,
        "nsdiff",
        &[("ns1.nsdiff", Some(s1)), ("ns2.nsdiff", Some(s2))],
    );
    deleg(
        &mut z,
        "mxcname",
        &[("ns1.mxcname", Some(s1)), ("ns2.mxcname", Some(s2))],
    );
    deleg(
        &mut z,
        "udponly",
        &[
            ("ns1.udponly", Some(s1)),
            ("ns2.udponly", Some(UDP_ONLY_ADDR)),
        ],
    );
    deleg(&mut z, "single", &[("ns1.single", Some(s1))]);
    deleg(
        &mut z,
        "sameip",
        &[("ns1.sameip", Some(s1)), ("ns2.sameip", Some(s1))],
    );
    deleg(
        &mut z,
        "nscname",
        &[("ns1.nscname", Some(s1)), ("ns2.nscname", Some(s2))],
    );
    deleg(
        &mut z,
        "dead",
        &[
            ("ns1.dead", Some(DEAD_ADDRS[0])),
            ("ns2.dead", Some(DEAD_ADDRS[1])),
        ],
    );
    deleg(
        &mut z,
        "timers",
        &[("ns1.timers", Some(s1)), ("ns2.timers", Some(s3))],
    );
    deleg(
        &mut z,
        "nomx",
        &[("ns1.nomx", Some(s1)), ("ns2.nomx", Some(s2))],
    );
    z
}

fn shop_zones() -> Vec<(String, String)> {
    let [s1, s2, s3] = SHOPS_ADDRS;
    let mx = "@ MX 10 mx\nmx A 192.0.2.25\n";
    vec![
        child(
            "shop.test",
            2026010101,
            &[("ns1", s1), ("ns2", s2)],
            "@ MX 10 mx1\n@ MX 20 mx2\nmx1 A 192.0.2.25\nmx2 A 192.0.2.26\n@ A 192.0.2.10\n@ AAAA 2001:db8::10\nwww A 192.0.2.10\nalias CNAME www\n@ TXT \"v=spf1 mx -all\"\n@ CAA 0 issue \"letsencrypt.org\"\n",
        ),
        child(
            ZONE_LOOPSHOP,
            1,
            &[("ns1", s1), ("ns2", s2)],
            &format!("@ MX 10 mx\nmx A {LOOPSHOP_MX}\n@ A {LOOPSHOP_WEB}\nwww A {LOOPSHOP_WEB}\n"),
        ),
        child(
            "hosted.test",
            1,
            &[("ns1.dns-hoster.test.", s1), ("ns2.dns-hoster.test.", s2)],
            "@ MX 10 mail\nmail A 192.0.2.30\n",
        ),
        child(
            "dns-hoster.test",
            1,
            &[("ns1", s1), ("ns2", s2)],
            "@ MX 0 .\n",
        ),
        child("lame.test", 1, &[("ns1", s1), ("ns2", OTHER_ADDR)], mx),
        child("glue.test", 1, &[("ns1", s1), ("ns2", s3)], mx),
        child(
            "serial.test",
            2026010101,
            &[("ns1", s1), ("ns2", OTHER_ADDR)],
            "@ MX 10 mx\nmx A 192.0.2.25\nwww A 192.0.2.1\n",
        ),
        child(
            "nsdiff.test",
            1,
            &[("ns1", s1), ("ns3", s3)],
            &format!("ns2 A {s2}\n{mx}"),
        ),
        child(
            "mxcname.test",
            1,
            &[("ns1", s1), ("ns2", s2)],
            "@ MX 10 mail\nmail CNAME host\nhost A 192.0.2.50\n",
        ),
        child(
            "udponly.test",
            1,
            &[("ns1", s1), ("ns2", UDP_ONLY_ADDR)],
            mx,
        ),
        child("single.test", 1, &[("ns1", s1)], mx),
        child("sameip.test", 1, &[("ns1", s1), ("ns2", s1)], mx),
        child(
            "nscname.test",
            1,
            &[("ns1", s1)],
            &format!("@ NS ns2\nns2 CNAME ns1\n{mx}"),
        ),
        {
            let [n1, n2] = ["ns1", "ns2"];
            let mut z = soa("timers.test", 1, "3600 7200 1800 10");
            let _ = writeln!(z, "@ NS {n1}\n@ NS {n2}\n{n1} A {s1}\n{n2} A {s3}\n{mx}");
            ("timers.test".to_owned(), z)
        },
        child(
            "nomx.test",
            1,
            &[("ns1", s1), ("ns2", s2)],
            "@ A 192.0.2.90\n",
        ),
    ]
}

fn other_zones() -> Vec<(String, String)> {
    vec![child(
        "serial.test",
        2026010102,
        &[("ns1", SHOPS_ADDRS[0]), ("ns2", OTHER_ADDR)],
        "@ MX 10 mx\nmx A 192.0.2.25\nwww A 192.0.2.2\n",
    )]
}

/// The reversed-octet owner of an IPv4 address.
fn rev4(ip: &str) -> String {
    ip.split('.').rev().collect::<Vec<_>>().join(".")
}

/// The reversed-nibble owner of an IPv6 address.
fn rev6(ip: &str) -> String {
    let Ok(addr) = ip.parse::<std::net::Ipv6Addr>() else {
        return String::new();
    };
    let mut out = Vec::new();
    for byte in addr.octets().iter().rev() {
        out.push(format!("{:x}", byte & 0x0f));
        out.push(format!("{:x}", byte >> 4));
    }
    out.join(".")
}

/// A DNSBL zone as the list answers it: its test entries, and `lines`.
fn dnsbl_zone(zone: &str, lines: &str) -> (String, String) {
    let mut z = soa(zone, 1, TIMERS);
    let _ = writeln!(z, "@ NS ns1\nns1 A {DNSBL_ADDR}");
    let test = match zone {
        "zen.spamhaus.org" => "2.0.0.127 A 127.0.0.2\n2.0.0.127 A 127.0.0.4\n2.0.0.127 A 127.0.0.10\n2.0.0.127 TXT \"test entry\"\n".to_owned(),
        "dbl.spamhaus.org" => "dbltest.com A 127.0.1.2\n".to_owned(),
        "multi.surbl.org" => "test.surbl.org A 127.0.0.254\n".to_owned(),
        "multi.uribl.com" => "test.uribl.com A 127.0.0.14\n".to_owned(),
        "dnsbl.dronebl.org" => "2.0.0.127 A 127.0.0.3\n".to_owned(),
        _ => "2.0.0.127 A 127.0.0.2\n2.0.0.127 TXT \"test entry\"\n".to_owned(),
    };
    z.push_str(&test);
    z.push_str(lines);
    (zone.to_owned(), z)
}

fn mailshop_zone() -> (String, String) {
    let mut z = soa(ZONE_MAILSHOP, 1, TIMERS);
    let _ = writeln!(z, "@ NS ns1\nns1 A {DNSBL_ADDR}");
    let _ = writeln!(
        z,
        "@ MX 10 mx\nmx A {LISTED_V4}\nmx AAAA {LISTED_V6}\n@ A {CLEAN_V4}\nwww A {CLEAN_V4}"
    );
    (ZONE_MAILSHOP.to_owned(), z)
}

fn dnsbl_zones() -> Vec<(String, String)> {
    let v4 = rev4(LISTED_V4);
    let v6 = rev6(LISTED_V6);
    let mut zones = vec![mailshop_zone()];
    for zone in DNSBL_ZONES {
        let lines = match *zone {
            "zen.spamhaus.org" => format!(
                "{v4} A 127.0.0.2\n{v4} A 127.0.0.11\n{v4} TXT \"https://check.spamhaus.org/sbl/query/SBL000001\"\n{v6} A 127.0.0.3\n"
            ),
            "bl.spamcop.net" => format!(
                "{v4} A 127.0.0.2\n{v4} TXT \"Blocked - see https://www.spamcop.net/bl.shtml?{LISTED_V4}\"\n"
            ),
            "dbl.spamhaus.org" => format!("{LISTED_DOMAIN} A 127.0.1.2\n"),
            "multi.uribl.com" => format!("{LISTED_DOMAIN} A 127.0.0.4\n"),
            _ => String::new(),
        };
        zones.push(dnsbl_zone(zone, &lines));
    }
    zones
}

fn broken_dnsbl_zones() -> Vec<(String, String)> {
    let mut zones = vec![mailshop_zone()];
    for zone in DNSBL_ZONES {
        let z = match *zone {
            // Refuses every query, as Spamhaus does through public resolvers.
            "zen.spamhaus.org" => {
                let mut z = soa(zone, 1, TIMERS);
                let _ = writeln!(
                    z,
                    "@ NS ns1\nns1 A {BROKEN_DNSBL_ADDR}\n* A 127.255.255.254"
                );
                (zone.to_string(), z)
            }
            "dbl.spamhaus.org" => {
                let mut z = soa(zone, 1, TIMERS);
                let _ = writeln!(z, "@ NS ns1\nns1 A {BROKEN_DNSBL_ADDR}\n* A 127.0.1.255");
                (zone.to_string(), z)
            }
            // Answers 127.0.0.1 to blocked resolvers.
            "multi.uribl.com" => {
                let mut z = soa(zone, 1, TIMERS);
                let _ = writeln!(z, "@ NS ns1\nns1 A {BROKEN_DNSBL_ADDR}\n* A 127.0.0.1");
                (zone.to_string(), z)
            }
            // Dead: lists nothing, not even its test entry.
            "bl.spamcop.net" => {
                let mut z = soa(zone, 1, TIMERS);
                let _ = writeln!(z, "@ NS ns1\nns1 A {BROKEN_DNSBL_ADDR}");
                (zone.to_string(), z)
            }
            // Lists everything.
            "psbl.surriel.com" => {
                let mut z = soa(zone, 1, TIMERS);
                let _ = writeln!(z, "@ NS ns1\nns1 A {BROKEN_DNSBL_ADDR}\n* A 127.0.0.2");
                (zone.to_string(), z)
            }
            // Not a DNSBL answer (a resolver rewriting NXDOMAIN).
            "b.barracudacentral.org" => {
                let mut z = soa(zone, 1, TIMERS);
                let _ = writeln!(z, "@ NS ns1\nns1 A {BROKEN_DNSBL_ADDR}\n* A 192.0.2.99");
                (zone.to_string(), z)
            }
            other => dnsbl_zone(other, ""),
        };
        zones.push(z);
    }
    zones
}

/// The whole test hierarchy; see the module documentation. Stops when
/// dropped.
pub struct DnsWorld {
    port: u16,
    servers: Vec<Knot>,
    relay: Option<UdpRelay>,
}

impl std::fmt::Debug for DnsWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsWorld")
            .field("port", &self.port)
            .field("servers", &self.servers.len())
            .finish_non_exhaustive()
    }
}

static SHARED: Mutex<Weak<DnsWorld>> = Mutex::new(Weak::new());

impl DnsWorld {
    /// Starts every server on one free port.
    pub fn start() -> io::Result<Self> {
        let mut last = None;
        for attempt in 0..5u64 {
            let port = free_port(attempt)?;
            match Self::start_on(port) {
                Ok(world) => return Ok(world),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no port")))
    }

    /// The world already running for another test, or a new one; it stops
    /// when the last holder drops it.
    pub fn shared() -> io::Result<Arc<Self>> {
        let mut slot = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(world) = slot.upgrade() {
            return Ok(world);
        }
        let world = Arc::new(Self::start()?);
        *slot = Arc::downgrade(&world);
        Ok(world)
    }

    fn start_on(port: u16) -> io::Result<Self> {
        let v4 = |ips: &[Ipv4Addr]| ips.iter().map(|ip| IpAddr::V4(*ip)).collect::<Vec<_>>();
        let mut world = Self {
            port,
            servers: Vec::new(),
            relay: None,
        };
        world.servers.push(Knot::start(
            &v4(&[ROOT_ADDR]),
            port,
            &[(".".into(), root_zone())],
        )?);
        world.servers.push(Knot::start(
            &v4(&TLD_ADDRS),
            port,
            &[("test".into(), tld_zone())],
        )?);
        world
            .servers
            .push(Knot::start(&v4(&SHOPS_ADDRS), port, &shop_zones())?);
        world
            .servers
            .push(Knot::start(&v4(&[OTHER_ADDR]), port, &other_zones())?);
        world
            .servers
            .push(Knot::start(&v4(&[DNSBL_ADDR]), port, &dnsbl_zones())?);
        world.servers.push(Knot::start(
            &v4(&[BROKEN_DNSBL_ADDR]),
            port,
            &broken_dnsbl_zones(),
        )?);
        world.relay = Some(UdpRelay::start(
            SocketAddr::new(IpAddr::V4(UDP_ONLY_ADDR), port),
            SocketAddr::new(IpAddr::V4(SHOPS_ADDRS[0]), port),
        )?);
        Ok(world)
    }

    /// The port every server of the world listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The root hints: the world's root server.
    pub fn root_hints(&self) -> Vec<SocketAddr> {
        vec![SocketAddr::new(IpAddr::V4(ROOT_ADDR), self.port)]
    }

    /// The "resolver" whose DNSBL zones answer like the real lists.
    pub fn resolver(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(DNSBL_ADDR), self.port)
    }

    /// The "resolver" whose DNSBL zones refuse, died or misbehave.
    pub fn broken_resolver(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(BROKEN_DNSBL_ADDR), self.port)
    }

    /// A `[dns]` section pointing at this world (root hints, port,
    /// resolver, a short query timeout).
    pub fn dns_section(&self) -> String {
        format!(
            "[dns]\nroot_hints = [\"{ROOT_ADDR}:{port}\"]\nport = {port}\nresolver = [\"{DNSBL_ADDR}:{port}\"]\nquery_timeout = \"500ms\"\nipv6 = false\n",
            port = self.port
        )
    }
}

/// A port that is free on every address of the world (UDP and TCP);
/// `attempt` varies the guess.
fn free_port(attempt: u64) -> io::Result<u16> {
    use std::hash::{BuildHasher, Hasher};
    let mut all: Vec<Ipv4Addr> = vec![
        ROOT_ADDR,
        OTHER_ADDR,
        UDP_ONLY_ADDR,
        DNSBL_ADDR,
        BROKEN_DNSBL_ADDR,
    ];
    all.extend(TLD_ADDRS);
    all.extend(SHOPS_ADDRS);
    for i in 0..200u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(attempt * 1000 + i);
        h.write_u32(std::process::id());
        let port = 20_000 + (h.finish() % 40_000) as u16;
        let free = all.iter().all(|ip| {
            let addr = SocketAddr::new(IpAddr::V4(*ip), port);
            UdpSocket::bind(addr).is_ok() && TcpListener::bind(addr).is_ok()
        });
        if free {
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no port is free on every 127.53.x.y address",
    ))
}

// ---- in-process peers ----------------------------------------------------

/// A stop flag and the threads that watch it.
struct Threads {
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

impl Drop for Threads {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// A UDP-only name server: relays each datagram to `upstream` and the
/// answer back; nothing listens on TCP.
struct UdpRelay {
    _threads: Threads,
}

impl UdpRelay {
    fn start(listen: SocketAddr, upstream: SocketAddr) -> io::Result<Self> {
        let socket = UdpSocket::bind(listen)?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name(format!("testkit-udp-relay-{listen}"))
            .spawn(move || {
                let mut buf = vec![0u8; 65_535];
                let mut reply = vec![0u8; 65_535];
                while !flag.load(Ordering::SeqCst) {
                    let Ok((n, client)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    let Ok(up) = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
                    else {
                        continue;
                    };
                    let _ = up.set_read_timeout(Some(Duration::from_secs(1)));
                    if up.send_to(&buf[..n], upstream).is_err() {
                        continue;
                    }
                    if let Ok((m, _)) = up.recv_from(&mut reply) {
                        let _ = socket.send_to(&reply[..m], client);
                    }
                }
            })?;
        Ok(Self {
            _threads: Threads {
                stop,
                handles: vec![handle],
            },
        })
    }
}

/// How a [`HostileDns`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsBehaviour {
    /// Reads queries, never answers (TCP: accepts and holds the
    /// connection).
    Silent,
    /// Answers with the query's ID plus one.
    WrongId,
    /// Answers with a record whose name is a compression pointer to
    /// itself.
    CompressionLoop,
    /// Answers with the query's ID followed by bytes that are not DNS.
    Garbage,
    /// UDP: an empty answer with the TC flag; TCP: a length prefix of 512,
    /// 20 bytes, then close.
    Truncated,
    /// UDP: TC; TCP: a 64 000-byte TXT record for whatever was asked.
    HugeTxt,
}

/// A misbehaving name server on 127.0.0.1 (UDP and TCP on one port).
/// Stops when dropped.
pub struct HostileDns {
    addr: SocketAddr,
    behaviour: DnsBehaviour,
    _threads: Threads,
}

impl std::fmt::Debug for HostileDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostileDns")
            .field("addr", &self.addr)
            .field("behaviour", &self.behaviour)
            .finish_non_exhaustive()
    }
}

impl HostileDns {
    /// Starts on `127.0.0.1:<free port>`.
    pub fn start(behaviour: DnsBehaviour) -> io::Result<Self> {
        let (udp, tcp) = bind_pair()?;
        let addr = udp.local_addr()?;
        udp.set_read_timeout(Some(Duration::from_millis(50)))?;
        tcp.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        let flag = Arc::clone(&stop);
        handles.push(
            std::thread::Builder::new()
                .name(format!("testkit-hostile-dns-udp-{addr}"))
                .spawn(move || {
                    let mut buf = [0u8; 4096];
                    while !flag.load(Ordering::SeqCst) {
                        let Ok((n, client)) = udp.recv_from(&mut buf) else {
                            continue;
                        };
                        if let Some(answer) = hostile_answer(behaviour, &buf[..n], false) {
                            let _ = udp.send_to(&answer, client);
                        }
                    }
                })?,
        );
        let flag = Arc::clone(&stop);
        handles.push(
            std::thread::Builder::new()
                .name(format!("testkit-hostile-dns-tcp-{addr}"))
                .spawn(move || {
                    let mut conns: Vec<JoinHandle<()>> = Vec::new();
                    while !flag.load(Ordering::SeqCst) {
                        match tcp.accept() {
                            Ok((stream, _)) => {
                                let flag = Arc::clone(&flag);
                                if let Ok(h) = std::thread::Builder::new()
                                    .name("testkit-hostile-dns-conn".into())
                                    .spawn(move || serve_tcp(stream, behaviour, &flag))
                                {
                                    conns.push(h);
                                }
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(10)),
                        }
                    }
                    for c in conns {
                        let _ = c.join();
                    }
                })?,
        );
        Ok(Self {
            addr,
            behaviour,
            _threads: Threads { stop, handles },
        })
    }

    /// The address (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A UDP socket and a TCP listener on the same loopback port.
fn bind_pair() -> io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..50 {
        let udp = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        match TcpListener::bind(udp.local_addr()?) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no port")))
}

fn serve_tcp(mut stream: TcpStream, behaviour: DnsBehaviour, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut got: Vec<u8> = Vec::new();
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
        if got.len() > 65_537 {
            return;
        }
        if got.len() < 2 {
            continue;
        }
        let len = usize::from(u16::from_be_bytes([got[0], got[1]]));
        if got.len() < len + 2 {
            continue;
        }
        let q: Vec<u8> = got.drain(..len + 2).skip(2).collect();
        if behaviour == DnsBehaviour::Truncated {
            let _ = stream.write_all(&512u16.to_be_bytes());
            let _ = stream.write_all(&[0u8; 20]);
            return;
        }
        let Some(answer) = hostile_answer(behaviour, &q, true) else {
            continue;
        };
        let Ok(len) = u16::try_from(answer.len()) else {
            return;
        };
        let _ = stream.write_all(&len.to_be_bytes());
        let _ = stream.write_all(&answer);
    }
}

/// The end of the question section of `q`, if it has one.
fn question_end(q: &[u8]) -> Option<usize> {
    let mut i = 12;
    loop {
        let len = usize::from(*q.get(i)?);
        if len == 0 {
            i += 1;
            break;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        i += 1 + len;
    }
    let end = i + 4;
    (end <= q.len()).then_some(end)
}

/// The response `behaviour` gives to query `q`, or none.
fn hostile_answer(behaviour: DnsBehaviour, q: &[u8], tcp: bool) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    let id = u16::from_be_bytes([q[0], q[1]]);
    let question = &q[12..question_end(q)?];
    let header = |id: u16, flags: u16, an: u16| {
        let mut h = Vec::with_capacity(12);
        h.extend_from_slice(&id.to_be_bytes());
        h.extend_from_slice(&flags.to_be_bytes());
        h.extend_from_slice(&[0, 1]);
        h.extend_from_slice(&an.to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 0]);
        h
    };
    const QR_AA: u16 = 0x8400;
    const TC: u16 = 0x0200;
    match behaviour {
        DnsBehaviour::Silent => None,
        DnsBehaviour::WrongId => {
            let mut r = header(id.wrapping_add(1), QR_AA, 0);
            r.extend_from_slice(question);
            Some(r)
        }
        DnsBehaviour::CompressionLoop => {
            let mut r = header(id, QR_AA, 1);
            r.extend_from_slice(question);
            let at = r.len();
            let pointer = 0xc000 | (at as u16 & 0x3fff);
            r.extend_from_slice(&pointer.to_be_bytes());
            r.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 2]);
            Some(r)
        }
        DnsBehaviour::Garbage => {
            let mut r = id.to_be_bytes().to_vec();
            r.extend(std::iter::repeat_n(0xffu8, 100));
            Some(r)
        }
        DnsBehaviour::Truncated => {
            let mut r = header(id, QR_AA | TC, 0);
            r.extend_from_slice(question);
            Some(r)
        }
        DnsBehaviour::HugeTxt if !tcp => {
            let mut r = header(id, QR_AA | TC, 0);
            r.extend_from_slice(question);
            Some(r)
        }
        DnsBehaviour::HugeTxt => {
            let mut r = header(id, QR_AA, 1);
            r.extend_from_slice(question);
            // The owner: a pointer to the question's name.
            r.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
            let strings = 250usize;
            let rdlen = (strings * 256) as u16;
            r.extend_from_slice(&rdlen.to_be_bytes());
            for _ in 0..strings {
                r.push(255);
                r.extend(std::iter::repeat_n(b'x', 255));
            }
            Some(r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_questions_round_trip() {
        let q = query(7, "shop.test.", 6);
        assert_eq!(question_end(&q), Some(q.len()));
        assert!(hostile_answer(DnsBehaviour::Silent, &q, false).is_none());
        let r = hostile_answer(DnsBehaviour::WrongId, &q, false).unwrap();
        assert_eq!(u16::from_be_bytes([r[0], r[1]]), 8);
        let huge = hostile_answer(DnsBehaviour::HugeTxt, &q, true).unwrap();
        assert!(huge.len() > 64_000 && huge.len() < 65_536);
    }

    #[test]
    fn reversed_names() {
        assert_eq!(rev4("192.0.2.66"), "66.2.0.192");
        assert_eq!(rev6("2001:db8::66").len(), 63);
        assert!(rev6("2001:db8::66").starts_with("6.6.0.0."));
    }
}

// ---- a zone that takes dynamic updates -----------------------------------

/// The zone of an [`UpdatableZone`].
pub const UPDATE_ZONE: &str = "drshop.test";
/// The name of the HMAC-SHA256 key the primary accepts updates with.
pub const UPDATE_KEY_SHA256: &str = "keepup-sha256.";
/// The name of the HMAC-SHA512 key the primary accepts updates with.
pub const UPDATE_KEY_SHA512: &str = "keepup-sha512.";
/// The TTL of the zone's address records: short, so that a test can wait
/// it out.
pub const UPDATE_ZONE_TTL: u32 = 2;
/// The address of `drshop.test` and `www.drshop.test` (A) before any
/// update ("production").
pub const UPDATE_ZONE_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
/// See [`UPDATE_ZONE_V4`] (AAAA).
pub const UPDATE_ZONE_V6: &str = "2001:db8::10";

/// What an [`UpdatableZone`]'s primary allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdatePolicy {
    /// Whether the primary has an ACL that lets the two keys update the
    /// zone (without it, every update is denied).
    pub update_acl: bool,
}

impl Default for UpdatePolicy {
    fn default() -> Self {
        Self { update_acl: true }
    }
}

/// [`UPDATE_ZONE`] served by a primary that accepts RFC 2136 updates
/// signed with TSIG and a secondary fed by NOTIFY and IXFR/AXFR, under a
/// root of their own that delegates the zone to both (so a delegation
/// walk from [`UpdatableZone::root_hints`] finds both servers). Three
/// `knotd` on 127.54.N.1 (root), .2 (primary, `ns1`), .3 (secondary,
/// `ns2`), one port; killed when dropped.
pub struct UpdatableZone {
    port: u16,
    addrs: [Ipv4Addr; 3],
    secrets: [String; 2],
    // Dropped in reverse order of start: the secondary first.
    servers: Vec<Knot>,
}

impl std::fmt::Debug for UpdatableZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdatableZone")
            .field("port", &self.port)
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

/// Hands out a distinct 127.54.N.0/24 to each zone started by this process.
static NEXT_UPDATE_NET: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl UpdatableZone {
    /// Starts the three servers with `policy` on free loopback addresses
    /// and a port free on all of them.
    pub fn start(policy: UpdatePolicy) -> io::Result<Self> {
        Self::start_serving(policy, UPDATE_ZONE_V4)
    }

    /// Like [`start`](Self::start), with `www` and the apex at
    /// `production` (A only: a loopback shop a test serves itself)
    /// instead of [`UPDATE_ZONE_V4`] and [`UPDATE_ZONE_V6`].
    pub fn start_serving(policy: UpdatePolicy, production: Ipv4Addr) -> io::Result<Self> {
        let mut last = None;
        for _ in 0..5 {
            // Other test processes may start zones too: start from a
            // per-process offset.
            let n = NEXT_UPDATE_NET.fetch_add(1, Ordering::SeqCst) + std::process::id();
            let net = (n % 250) as u8 + 1;
            let addrs = [1, 2, 3].map(|host| Ipv4Addr::new(127, 54, net, host));
            let port = match free_port_on(&addrs) {
                Ok(port) => port,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            match Self::start_on(policy, addrs, port, production) {
                Ok(zone) => return Ok(zone),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no address")))
    }

    fn start_on(
        policy: UpdatePolicy,
        addrs: [Ipv4Addr; 3],
        port: u16,
        production: Ipv4Addr,
    ) -> io::Result<Self> {
        let [root_ip, primary_ip, secondary_ip] = addrs;
        let secrets = [secret(32, port), secret(64, port.wrapping_add(1))];
        let keys = format!(
            "key:\n  - id: {UPDATE_KEY_SHA256}\n    algorithm: hmac-sha256\n    secret: {}\n  - id: {UPDATE_KEY_SHA512}\n    algorithm: hmac-sha512\n    secret: {}\n",
            secrets[0], secrets[1]
        );
        let mut servers = Vec::with_capacity(3);
        let root = format!(
            "$ORIGIN .\n$TTL 3600\n. SOA a.root. hostmaster.root. 1 {TIMERS}\n. NS a.root.\na.root. A {root_ip}\n{UPDATE_ZONE}. NS ns1.{UPDATE_ZONE}.\n{UPDATE_ZONE}. NS ns2.{UPDATE_ZONE}.\nns1.{UPDATE_ZONE}. A {primary_ip}\nns2.{UPDATE_ZONE}. A {secondary_ip}\n"
        );
        servers.push(Knot::start(
            &[IpAddr::V4(root_ip)],
            port,
            &[(".".into(), root)],
        )?);
        let mut zone_text = format!(
            "{}@ NS ns1\n@ NS ns2\nns1 A {primary_ip}\nns2 A {secondary_ip}\n@ {UPDATE_ZONE_TTL} A {production}\nwww {UPDATE_ZONE_TTL} A {production}\n",
            soa(UPDATE_ZONE, 2026120601, TIMERS)
        );
        if production == UPDATE_ZONE_V4 {
            zone_text.push_str(&format!(
                "@ {UPDATE_ZONE_TTL} AAAA {UPDATE_ZONE_V6}\nwww {UPDATE_ZONE_TTL} AAAA {UPDATE_ZONE_V6}\n"
            ));
        }
        let mut primary_sections = format!(
            "{keys}remote:\n  - id: secondary\n    address: {secondary_ip}@{port}\n    via: {primary_ip}\nacl:\n  - id: transfer\n    address: {secondary_ip}\n    action: transfer\n"
        );
        let mut zone_acls = vec!["transfer"];
        if policy.update_acl {
            primary_sections.push_str(&format!(
                "  - id: update\n    key: [ {UPDATE_KEY_SHA256}, {UPDATE_KEY_SHA512} ]\n    action: update\n"
            ));
            zone_acls.push("update");
        }
        // The zone file is written back after every change, and the
        // journal keeps the changes for the secondary's IXFR.
        let journal = "    journal-content: changes\n    zonefile-sync: 0\n";
        servers.push(Knot::start_configured(
            &[IpAddr::V4(primary_ip)],
            port,
            &[KnotZone {
                origin: UPDATE_ZONE.into(),
                text: Some(zone_text),
                options: format!(
                    "    notify: secondary\n    acl: [ {} ]\n",
                    zone_acls.join(", ")
                ),
            }],
            &primary_sections,
            journal,
        )?);
        // Each server talks to the other from its own address (`via`), as
        // the other's ACLs expect (loopback would pick 127.0.0.1).
        let secondary_sections = format!(
            "remote:\n  - id: primary\n    address: {primary_ip}@{port}\n    via: {secondary_ip}\nacl:\n  - id: notify\n    address: {primary_ip}\n    action: notify\n"
        );
        servers.push(Knot::start_configured(
            &[IpAddr::V4(secondary_ip)],
            port,
            &[KnotZone {
                origin: UPDATE_ZONE.into(),
                text: None,
                options: "    master: primary\n    acl: [ notify ]\n".into(),
            }],
            &secondary_sections,
            journal,
        )?);
        Ok(Self {
            port,
            addrs,
            secrets,
            servers,
        })
    }

    /// The port of all three servers.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where a delegation walk starts: this zone's own root.
    pub fn root_hints(&self) -> Vec<SocketAddr> {
        vec![SocketAddr::new(IpAddr::V4(self.addrs[0]), self.port)]
    }

    /// The primary (`ns1`), which takes the updates.
    pub fn primary(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.addrs[1]), self.port)
    }

    /// The secondary (`ns2`).
    pub fn secondary(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.addrs[2]), self.port)
    }

    /// The base64 secret of [`UPDATE_KEY_SHA256`].
    pub fn sha256_secret(&self) -> &str {
        &self.secrets[0]
    }

    /// The base64 secret of [`UPDATE_KEY_SHA512`].
    pub fn sha512_secret(&self) -> &str {
        &self.secrets[1]
    }

    /// The primary's zone file as it wrote it after the last change.
    pub fn primary_zone_file(&self) -> io::Result<String> {
        self.servers[1].zone_file(0)
    }
}

/// A base64 TSIG secret of `len` bytes derived from `seed` (fresh for
/// every zone, so no two tests share a key).
fn secret(len: usize, seed: u16) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u16(seed);
    let bytes = crate::random::bytes(h.finish(), len);
    keepup_model::text::base64(&bytes)
}

/// A port free for UDP and TCP on every address of `addrs`.
fn free_port_on(addrs: &[Ipv4Addr]) -> io::Result<u16> {
    for _ in 0..50 {
        let port = crate::ports::free_port(addrs[0])?;
        let free = addrs.iter().all(|ip| {
            let addr = SocketAddr::new(IpAddr::V4(*ip), port);
            UdpSocket::bind(addr).is_ok() && TcpListener::bind(addr).is_ok()
        });
        if free {
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("no port is free on every address of {addrs:?}"),
    ))
}

/// BIND's `named` (Debian package `bind9`) serving [`UPDATE_ZONE`] as its
/// primary with the update key declared but `allow-update { none; }`:
/// BIND answers such an update REFUSED (Knot answers every denied update
/// NOTAUTH BADKEY), so a test can meet the rcode a real server gives
/// when its policy, not the key, forbids the change. Killed when dropped.
pub struct RefusingNamed {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    secret: String,
}

impl RefusingNamed {
    /// Starts it on 127.0.0.1 and a free port; waits until it answers the
    /// zone's SOA.
    pub fn start() -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("keepup-named").tempdir()?;
        let root = dir.path();
        let ip = Ipv4Addr::LOCALHOST;
        let port = crate::ports::free_port(ip)?;
        let secret = secret(32, port);
        std::fs::write(
            root.join("zone.db"),
            format!(
                "{}@ NS ns1\nns1 A {ip}\nwww {UPDATE_ZONE_TTL} A {UPDATE_ZONE_V4}\n",
                soa(UPDATE_ZONE, 2026120601, TIMERS)
            ),
        )?;
        let conf = format!(
            "options {{\n  directory \"{d}\";\n  pid-file \"{d}/named.pid\";\n  listen-on port {port} {{ {ip}; }};\n  listen-on-v6 {{ none; }};\n  recursion no;\n  dnssec-validation no;\n}};\n\
             key \"{UPDATE_KEY_SHA256}\" {{ algorithm hmac-sha256; secret \"{secret}\"; }};\n\
             zone \"{UPDATE_ZONE}\" {{ type primary; file \"{d}/zone.db\"; allow-update {{ none; }}; }};\n",
            d = root.display()
        );
        let conf_path = root.join("named.conf");
        std::fs::write(&conf_path, conf)?;
        let log = std::fs::File::create(root.join("named.log"))?;
        let mut cmd = Command::new("named");
        // -g: in the foreground, logging to stderr.
        cmd.arg("-g").arg("-c").arg(&conf_path);
        if running_as_root() {
            // Stays root (no `bind` user needed in a test's temp dir).
            cmd.args(["-u", "root"]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot start named (Debian package `bind9`): {e}"),
                )
            })?;
        let mut named = Self {
            child,
            dir,
            addr: SocketAddr::new(IpAddr::V4(ip), port),
            secret,
        };
        let started = Instant::now();
        while !answers_soa(named.addr, UPDATE_ZONE) {
            let log =
                std::fs::read_to_string(named.dir.path().join("named.log")).unwrap_or_default();
            if let Some(status) = named.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "named exited ({status}) before answering: {}",
                    log.trim()
                )));
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "named did not answer within {READY_TIMEOUT:?}: {}",
                        log.trim()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(named)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base64 secret of its [`UPDATE_KEY_SHA256`] key.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl Drop for RefusingNamed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
