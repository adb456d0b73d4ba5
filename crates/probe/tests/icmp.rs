//! ICMP ping against real loopback addresses, through both socket kinds.
//!
//! Which socket a process gets depends on the network namespace's
//! `net.ipv4.ping_group_range` (datagram sockets) and on the process's
//! `CAP_NET_RAW` (raw sockets). The tests that need a particular
//! combination create a network namespace of their own (`ip netns add`),
//! set the sysctls there, and run one `#[ignore]`d inner test of this very
//! binary inside it (`ip netns exec`), optionally without `CAP_NET_RAW`
//! (`setpriv`). Nothing outside those namespaces is changed. An address
//! that does not answer is made inside such a namespace with
//! `net.ipv4.icmp_echo_ignore_all` / `net.ipv6.icmp.echo_ignore_all`.
//!
//! Needs root (to create namespaces), iproute2 and util-linux; the tests
//! fail, not skip, when those are missing.

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use keepup_config::{AddressFamily, CheckSpec, PingSpec, ProbeSpec};
use keepup_model::codes as c;
use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;
use support::run;
use support::{check, codes};

/// Set for the inner tests run inside a namespace.
const INNER: &str = "KEEPUP_ICMP_INNER";

fn spec(host: &str) -> PingSpec {
    PingSpec {
        host: host.into(),
        family: AddressFamily::Any,
        count: 4,
        spacing: Duration::from_millis(20),
        reply_timeout: Duration::from_millis(800),
        degraded_loss: 20.0,
        down_loss: 100.0,
        degraded_rtt: None,
        down_rtt: None,
    }
}

async fn ping_with(spec: PingSpec, ctx: &ProbeContext) -> Outcome {
    run(
        &check(
            CheckSpec::Probe(ProbeSpec::Ping(spec)),
            Duration::from_secs(5),
        ),
        ctx,
    )
    .await
}

async fn ping(host: &str) -> Outcome {
    ping_with(spec(host), &ProbeContext::new()).await
}

fn detail<'a>(o: &'a Outcome, key: &str) -> &'a serde_json::Value {
    o.evidence
        .details
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {:?}", o.evidence))
}

/// Asserts a clean run: every request answered, statistics present.
fn assert_answered(o: &Outcome, address: &str) {
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert!(o.findings.is_empty(), "{:?}", o.findings);
    assert_eq!(detail(o, "address"), address);
    assert_eq!(detail(o, "sent"), 4);
    assert_eq!(detail(o, "received"), 4);
    assert_eq!(detail(o, "loss_percent"), 0.0);
    assert_eq!(detail(o, "duplicates"), 0);
    let rtt = detail(o, "rtt_ms");
    for k in ["min", "avg", "max", "mdev"] {
        assert!(rtt[k].as_f64().is_some_and(|v| v >= 0.0), "{rtt}");
    }
    assert!(rtt["min"].as_f64() <= rtt["max"].as_f64());
    assert_eq!(detail(o, "replies_ms").as_array().map(Vec::len), Some(4));
    assert_eq!(
        o.message,
        format!("{address} answered 4 of 4 echo requests")
    );
}

#[tokio::test]
async fn loopback_answers_over_ipv4_and_ipv6() {
    for address in ["127.0.0.1", "::1"] {
        let o = ping(address).await;
        assert_answered(&o, address);
        let socket = detail(&o, "socket").as_str().unwrap_or_default();
        assert!(["raw", "datagram"].contains(&socket), "{socket}");
    }
}

#[tokio::test]
async fn concurrent_pings_count_only_their_own_replies() {
    // On a raw socket every run sees every reply of the host: each must
    // count exactly its own.
    let mut runs = Vec::new();
    for i in 0..8 {
        let address = if i % 2 == 0 { "127.0.0.1" } else { "::1" };
        runs.push(tokio::spawn(async move { (address, ping(address).await) }));
    }
    for r in runs {
        let (address, o) = r.await.unwrap();
        assert_answered(&o, address);
    }
}

#[tokio::test]
async fn names_resolve_and_the_family_is_honoured() {
    let ctx = ProbeContext::builder()
        .resolve_override(
            "dual.test",
            [
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
        )
        .resolve_override("v4only.test", [IpAddr::V4(Ipv4Addr::LOCALHOST)])
        .build();
    let mut s = spec("dual.test");
    s.family = AddressFamily::Ipv6;
    let o = ping_with(s, &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(detail(&o, "address"), "::1");
    assert!(
        o.message.starts_with("dual.test (::1) answered"),
        "{}",
        o.message
    );

    let mut s = spec("v4only.test");
    s.family = AddressFamily::Ipv6;
    let o = ping_with(s, &ctx).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::PING_NO_ADDRESS]);

    let o = ping_with(spec("nowhere.invalid"), &ctx).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::DNS_RESOLUTION_FAILED]);
}

/// A network namespace of our own, deleted on drop.
struct Netns {
    name: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn sh(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (install iproute2/util-linux): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    /// A namespace with loopback up and `sysctls` set inside it.
    fn new(sysctls: &[&str]) -> Self {
        let name = format!(
            "keepup-icmp-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        sh("ip", &["netns", "add", &name]);
        let ns = Self { name };
        sh("ip", &["-n", &ns.name, "link", "set", "lo", "up"]);
        for setting in sysctls {
            sh(
                "ip",
                &["netns", "exec", &ns.name, "sysctl", "-q", "-w", setting],
            );
        }
        ns
    }

    /// Runs the inner test `name` of this binary inside the namespace,
    /// without `CAP_NET_RAW` if `drop_net_raw`, and asserts it passed.
    fn run_inner(&self, name: &str, drop_net_raw: bool) {
        let exe = std::env::current_exe().expect("test binary path");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]);
        if drop_net_raw {
            cmd.args([
                "setpriv",
                "--bounding-set=-net_raw",
                "--inh-caps=-net_raw",
                "--",
            ]);
        }
        cmd.arg(exe)
            .args([
                name,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(INNER, "1");
        let out = cmd.output().expect("ip netns exec");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "inner test {name} failed:\n{stdout}\n{stderr}"
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Whether this is the inner run (inside a namespace); the inner tests do
/// nothing on their own.
fn inner() -> bool {
    std::env::var_os(INNER).is_some()
}

#[test]
fn datagram_socket_where_ping_group_range_allows_it() {
    let ns = Netns::new(&["net.ipv4.ping_group_range=0 2147483647"]);
    // Without CAP_NET_RAW only the datagram socket can work.
    ns.run_inner("inner_datagram_socket", true);
}

#[tokio::test]
#[ignore = "run inside a namespace by datagram_socket_where_ping_group_range_allows_it"]
async fn inner_datagram_socket() {
    if !inner() {
        return;
    }
    for address in ["127.0.0.1", "::1"] {
        let o = ping(address).await;
        assert_answered(&o, address);
        assert_eq!(detail(&o, "socket"), "datagram");
    }
}

#[test]
fn raw_socket_where_only_cap_net_raw_allows_it() {
    // Nobody may open datagram ICMP sockets ("1 0" is the kernel default).
    let ns = Netns::new(&["net.ipv4.ping_group_range=1 0"]);
    ns.run_inner("inner_raw_socket", false);
}

#[tokio::test]
#[ignore = "run inside a namespace by raw_socket_where_only_cap_net_raw_allows_it"]
async fn inner_raw_socket() {
    if !inner() {
        return;
    }
    for address in ["127.0.0.1", "::1"] {
        let o = ping(address).await;
        assert_answered(&o, address);
        assert_eq!(detail(&o, "socket"), "raw");
    }
    raw_filter_passes_only_our_echo_replies(false);
    raw_filter_passes_only_our_echo_replies(true);
}

/// A raw socket with the filter for identifier 0x1234 sends requests with
/// 0x4321 and then with 0x1234 to loopback: only the last reply arrives
/// (not the other one, not our own requests, which loopback also shows).
fn raw_filter_passes_only_our_echo_replies(v6: bool) {
    use socket2::{Domain, Protocol, Socket, Type};
    let (domain, protocol, to): (_, _, IpAddr) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6, Ipv6Addr::LOCALHOST.into())
    } else {
        (Domain::IPV4, Protocol::ICMPV4, Ipv4Addr::LOCALHOST.into())
    };
    let socket = Socket::new(domain, Type::RAW, Some(protocol)).expect("raw socket");
    socket
        .attach_filter(&keepup_probe::icmp::echo_reply_filter(v6, 0x1234))
        .expect("filter");
    let socket = std::net::UdpSocket::from(socket);
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let to = std::net::SocketAddr::new(to, 0);
    let payload = [9u8; 16];
    for ident in [0x4321u16, 0x1234] {
        let packet = keepup_probe::icmp::echo_request(v6, ident, 7, &payload);
        socket.send_to(&packet, to).unwrap();
    }
    let mut buf = [0u8; 1500];
    let (n, _) = socket.recv_from(&mut buf).expect("our reply");
    let reply = keepup_probe::icmp::parse_reply(v6, !v6, &buf[..n]).expect("an echo reply");
    assert_eq!(reply.ident, 0x1234);
    // Nothing else: the other reply and both requests were filtered out.
    assert!(socket.recv_from(&mut buf).is_err());
}

#[test]
fn neither_socket_is_an_unknown_that_suggests_a_tcp_check() {
    let ns = Netns::new(&["net.ipv4.ping_group_range=1 0"]);
    ns.run_inner("inner_not_permitted", true);
}

#[tokio::test]
#[ignore = "run inside a namespace by neither_socket_is_an_unknown_that_suggests_a_tcp_check"]
async fn inner_not_permitted() {
    if !inner() {
        return;
    }
    for address in ["127.0.0.1", "::1"] {
        let o = ping(address).await;
        assert_eq!(o.status, Status::Unknown, "{o:?}");
        assert_eq!(codes(&o), vec![c::PING_NOT_PERMITTED]);
        assert!(o.message.contains("kind = \"tcp\""), "{}", o.message);
        assert!(o.message.contains("ping_group_range"), "{}", o.message);
    }
}

#[test]
fn an_address_that_does_not_answer_is_down_with_full_loss() {
    let ns = Netns::new(&[
        "net.ipv4.icmp_echo_ignore_all=1",
        "net.ipv6.icmp.echo_ignore_all=1",
    ]);
    ns.run_inner("inner_no_reply", false);
    // And through the datagram socket too.
    let ns = Netns::new(&[
        "net.ipv4.icmp_echo_ignore_all=1",
        "net.ipv6.icmp.echo_ignore_all=1",
        "net.ipv4.ping_group_range=0 2147483647",
    ]);
    ns.run_inner("inner_no_reply", true);
}

#[tokio::test]
#[ignore = "run inside a namespace by an_address_that_does_not_answer_is_down_with_full_loss"]
async fn inner_no_reply() {
    if !inner() {
        return;
    }
    for address in ["127.0.0.1", "::1"] {
        let mut s = spec(address);
        s.reply_timeout = Duration::from_millis(300);
        let o = ping_with(s, &ProbeContext::new()).await;
        assert_eq!(o.status, Status::Down, "{o:?}");
        assert_eq!(codes(&o), vec![c::PING_NO_REPLY]);
        assert_eq!(detail(&o, "sent"), 4);
        assert_eq!(detail(&o, "received"), 0);
        assert_eq!(detail(&o, "loss_percent"), 100.0);
        assert!(o.evidence.details.get("rtt_ms").is_none());
        assert_eq!(
            o.message,
            format!("{address} did not answer any of 4 echo requests")
        );
    }
}
