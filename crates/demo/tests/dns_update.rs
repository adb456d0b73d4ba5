//! The demo DNS takes RFC 2136 updates of the shop's zone signed with its
//! TSIG key, as keepup's recovery `dns` step sends them, and refuses the
//! others: the real servers on loopback (UDP for the updates, TCP for the
//! kdig queries).

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
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

    // An update without a signature, over UDP.
    let mut update = Message::new(7, MessageType::Query, OpCode::Update);
    update.add_query(Query::query(
        Name::from_ascii(format!("{DOMAIN}.")).expect("name"),
        RecordType::SOA,
    ));
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    socket
        .send_to(&update.to_vec().expect("encode"), (SHOP_NS[0], dns.port))
        .await
        .expect("send");
    let mut buf = [0u8; 512];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("an answer")
        .expect("receive");
    let answer = Message::from_vec(&buf[..n]).expect("an answer");
    assert_eq!(answer.metadata.response_code, ResponseCode::Refused);

    // Nothing changed.
    assert_eq!(kdig_www(SHOP_NS[0], dns.port), "127.0.0.1");
}
