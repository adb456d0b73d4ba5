//! The demo DNS takes RFC 2136 updates of the shop's zone signed with its
//! TSIG key, as keepup's recovery `dns` step sends them, and refuses the
//! others (a wrong secret, an unknown key, no signature, a signature
//! outside the allowed clock skew, a truncated MAC), leaving the zone as
//! it was: the real servers on loopback (UDP for the updates, TCP for the
//! kdig queries).

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::tsig::TsigError;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use keepup_config::Secret;
use keepup_config::dns::DnsSettings;
use keepup_demo::{DOMAIN, DemoDns, ROOT, SHOP_NS};
use keepup_recovery::dns::{DnsError, DnsSwitch, DnsTarget, TsigAlgorithm, TsigKey, switch};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

const SECRET: &[u8] = b"the demo's update secret, 32 b!!";
const STANDBY: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 20);

async fn start() -> DemoDns {
    let key = keepup_tsig::Key::new("demo-key", keepup_tsig::Algorithm::HmacSha256, SECRET)
        .expect("a key");
    DemoDns::start(DOMAIN, key)
        .await
        .expect("the demo DNS starts")
}

fn switch_to_standby(dns: &DemoDns, key_name: &str, secret: &[u8]) -> DnsSwitch {
    DnsSwitch {
        zone: DOMAIN.into(),
        primary: SocketAddr::new(IpAddr::V4(SHOP_NS[0]), dns.port),
        key: TsigKey {
            name: key_name.into(),
            algorithm: TsigAlgorithm::HmacSha256,
            secret: Secret::new(keepup_model::text::base64(secret)),
        },
        hosts: vec![format!("www.{DOMAIN}"), DOMAIN.into()],
        target: DnsTarget::Addresses(vec![IpAddr::V4(STANDBY)]),
        ttl: 60,
        lower_ttl_first: None,
        timeout: Duration::from_secs(2),
        dns: DnsSettings {
            root_hints: Some(vec![SocketAddr::new(IpAddr::V4(ROOT), dns.port)]),
            port: dns.port,
            resolver: None,
            query_timeout: Duration::from_millis(500),
            ipv6: false,
            ..DnsSettings::default()
        },
        verify_within: Duration::from_secs(10),
    }
}

/// `kdig +tcp` asks `server` for www's A record.
fn kdig_www(server: Ipv4Addr, port: u16) -> String {
    let out = std::process::Command::new("kdig")
        .args([
            "+tcp",
            "+short",
            &format!("@{server}"),
            "-p",
            &port.to_string(),
            &format!("www.{DOMAIN}"),
            "A",
        ])
        .output()
        .expect("kdig runs (knot-dnsutils)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_update_switches_the_shop_on_both_name_servers() {
    let dns = start().await;
    assert_eq!(kdig_www(SHOP_NS[1], dns.port), "127.0.0.1");
    let ctx = keepup_probe::ProbeContext::new();
    let report = switch(&switch_to_standby(&dns, "demo-key", SECRET), &ctx)
        .await
        .expect("the signed update is accepted and every server serves it");
    assert_eq!(report.verified.len(), 4, "{report:?}");
    for ns in SHOP_NS {
        assert_eq!(kdig_www(ns, dns.port), "127.77.0.20", "server {ns}");
    }
    // Again: nothing changes, and it still succeeds.
    switch(&switch_to_standby(&dns, "demo-key", SECRET), &ctx)
        .await
        .expect("the same update again");
    assert_eq!(kdig_www(SHOP_NS[1], dns.port), "127.77.0.20");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_an_unknown_key_and_an_unsigned_update_are_refused() {
    let dns = start().await;
    let ctx = keepup_probe::ProbeContext::new();
    let wrong_secret = switch(
        &switch_to_standby(&dns, "demo-key", b"not the demo's secret, 32 bytes!"),
        &ctx,
    )
    .await;
    match wrong_secret {
        Err(DnsError::Tsig { code, .. }) => assert_eq!(code, "NOTAUTH BADSIG"),
        other => panic!("a wrong secret gave {other:?}"),
    }
    let unknown_key = switch(&switch_to_standby(&dns, "other-key", SECRET), &ctx).await;
    match unknown_key {
        Err(DnsError::Tsig { code, .. }) => assert_eq!(code, "NOTAUTH BADKEY"),
        other => panic!("an unknown key gave {other:?}"),
    }

    // An update without a signature that would delete www's address, over
    // UDP: refused, and www still resolves.
    let answer = exchange(&dns, &delete_www_update(7)).await;
    let answer = Message::from_vec(&answer).expect("an answer");
    assert_eq!(answer.metadata.response_code, ResponseCode::Refused);
    assert_eq!(kdig_www(SHOP_NS[0], dns.port), "127.0.0.1");
    assert_eq!(kdig_www(SHOP_NS[1], dns.port), "127.0.0.1");
}

/// An update of the shop's zone deleting www's A records, unsigned.
fn delete_www_update(id: u16) -> Vec<u8> {
    let mut update = Message::new(id, MessageType::Query, OpCode::Update);
    update.add_query(Query::query(
        Name::from_ascii(format!("{DOMAIN}.")).expect("name"),
        RecordType::SOA,
    ));
    let mut delete = Record::update0(
        Name::from_ascii(format!("www.{DOMAIN}.")).expect("name"),
        0,
        RecordType::A,
    );
    delete.dns_class = DNSClass::ANY;
    update.add_authority(delete);
    update.to_vec().expect("encode")
}

/// Sends `wire` to the shop's primary over UDP; its answer.
async fn exchange(dns: &DemoDns, wire: &[u8]) -> Vec<u8> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    socket
        .send_to(wire, (SHOP_NS[0], dns.port))
        .await
        .expect("send");
    let mut buf = [0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("an answer")
        .expect("receive");
    buf[..n].to_vec()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn demo_key() -> keepup_tsig::Key {
    keepup_tsig::Key::new("demo-key", keepup_tsig::Algorithm::HmacSha256, SECRET).expect("a key")
}

/// The answer's TSIG record, its MAC checked with the demo's key against
/// the request's MAC (an unsigned answer fails here).
fn verified_tsig(answer: &[u8], request_mac: &[u8]) -> keepup_tsig::Signed {
    let signed = keepup_tsig::signed_parts(answer, Some(request_mac))
        .expect("a readable answer")
        .expect("a TSIG record in the answer");
    demo_key()
        .verify(&signed, now_secs())
        .expect("the answer is signed with the demo's key");
    signed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_signed_too_long_ago_or_with_a_truncated_mac_is_refused() {
    let dns = start().await;
    let key = demo_key();

    // Validly signed, but 301 s ago: one second outside the 300 s fudge.
    let (stale, request_mac) = key
        .sign(&delete_www_update(8), None, now_secs() - 301, None)
        .expect("sign");
    let answer = exchange(&dns, &stale).await;
    let msg = Message::from_vec(&answer).expect("an answer");
    assert_eq!(msg.metadata.response_code, ResponseCode::NotAuth);
    let tsig = verified_tsig(&answer, &request_mac).tsig;
    assert_eq!(tsig.error, Some(TsigError::BadTime), "{tsig:?}");
    assert_eq!(kdig_www(SHOP_NS[0], dns.port), "127.0.0.1");

    // Signed now, its 32-byte HMAC-SHA256 cut to its first 16 bytes. The
    // TSIG record ends with the MAC's size and the MAC, then the original
    // id, the error and the other data's length (2 bytes each, no other
    // data); its RDLENGTH precedes the algorithm name `hmac-sha256.`.
    let (mut cut, _) = key
        .sign(&delete_www_update(9), None, now_secs(), None)
        .expect("sign");
    let mac_end = cut.len() - 6;
    let mac_size_at = mac_end - 32 - 2;
    assert_eq!(cut[mac_size_at..mac_size_at + 2], [0, 32], "the MAC's size");
    let rdata_len = 13 + 6 + 2 + 2 + 32 + 6;
    let rdlength_at = cut.len() - rdata_len - 2;
    assert_eq!(
        u16::from_be_bytes([cut[rdlength_at], cut[rdlength_at + 1]]) as usize,
        rdata_len,
        "the TSIG record's RDLENGTH"
    );
    cut.drain(mac_end - 16..mac_end);
    cut[mac_size_at..mac_size_at + 2].copy_from_slice(&16u16.to_be_bytes());
    cut[rdlength_at..rdlength_at + 2].copy_from_slice(&((rdata_len - 16) as u16).to_be_bytes());
    let answer = exchange(&dns, &cut).await;
    let msg = Message::from_vec(&answer).expect("an answer");
    assert_eq!(msg.metadata.response_code, ResponseCode::NotAuth);
    let signed = keepup_tsig::signed_parts(&answer, None)
        .expect("a readable answer")
        .expect("a TSIG record in the answer");
    assert_eq!(
        signed.tsig.error,
        Some(TsigError::BadSig),
        "{:?}",
        signed.tsig
    );
    assert!(signed.tsig.mac.is_empty(), "a BADSIG answer is not signed");

    for ns in SHOP_NS {
        assert_eq!(kdig_www(ns, dns.port), "127.0.0.1", "server {ns}");
    }
}
