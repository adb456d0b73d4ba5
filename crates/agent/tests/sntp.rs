//! The SNTP client against an in-process NTP server on loopback that
//! answers as RFC 4330 describes, from a clock set 37.5 s ahead of ours,
//! and against servers that answer what a client must not take.

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keepup_agent::sntp;

const NTP_UNIX_OFFSET: f64 = 2_208_988_800.0;

fn ntp_time(unix_seconds: f64) -> [u8; 8] {
    let ntp = unix_seconds + NTP_UNIX_OFFSET;
    let seconds = ntp.trunc() as u32;
    let fraction = (ntp.fract() * 4_294_967_296.0) as u32;
    let mut out = [0; 8];
    out[..4].copy_from_slice(&seconds.to_be_bytes());
    out[4..].copy_from_slice(&fraction.to_be_bytes());
    out
}

/// Serves one kind of reply on 127.0.0.1 from a thread; `stratum` 0 is a
/// kiss-o'-death, `None` never answers.
fn server(skew_s: f64, stratum: Option<u8>) -> String {
    serve(skew_s, stratum, 4, Arc::default())
}

/// [`server`] answering in `mode`, keeping each request's transmit time in
/// `requests`.
fn serve(skew_s: f64, stratum: Option<u8>, mode: u8, requests: Requests) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let Some(stratum) = stratum else { continue };
            if n < 48 || buf[0] & 7 != 3 {
                continue;
            }
            requests
                .lock()
                .unwrap()
                .push(buf[40..48].try_into().unwrap());
            let now = |skew| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs_f64()
                    + skew
            };
            let mut reply = [0u8; 48];
            reply[0] = (4 << 3) | mode; // LI 0, version 4
            reply[1] = stratum;
            reply[2] = 6;
            reply[3] = 0xEC;
            reply[12..16].copy_from_slice(b"LOCL");
            reply[16..24].copy_from_slice(&ntp_time(now(skew_s) - 60.0));
            reply[24..32].copy_from_slice(&buf[40..48]); // originate = client's transmit
            reply[32..40].copy_from_slice(&ntp_time(now(skew_s))); // receive
            reply[40..48].copy_from_slice(&ntp_time(now(skew_s))); // transmit
            let _ = socket.send_to(&reply, from);
        }
    });
    addr
}

/// The transmit times of the requests a server received.
type Requests = Arc<Mutex<Vec<[u8; 8]>>>;

#[tokio::test]
async fn the_offset_of_a_skewed_server_is_measured() {
    let ahead = server(37.5, Some(2));
    let offset = sntp::offset(&ahead, Duration::from_secs(5)).await.unwrap();
    // Loopback's round trip is far below the tolerance.
    assert!((offset - 37.5).abs() < 0.25, "{offset}");
    let behind = server(-3.0, Some(2));
    let offset = sntp::offset(&behind, Duration::from_secs(5)).await.unwrap();
    assert!((offset + 3.0).abs() < 0.25, "{offset}");
}

#[tokio::test]
async fn a_refusing_or_silent_server_gives_no_offset() {
    let kiss = server(0.0, Some(0));
    let e = sntp::offset(&kiss, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("kiss-o'-death"), "{e}");
    let silent = server(0.0, None);
    let e = sntp::offset(&silent, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no answer"), "{e}");
}

#[tokio::test]
async fn a_broadcast_packet_is_no_answer() {
    let broadcaster = serve(37.5, Some(2), 5, Arc::default());
    let e = sntp::offset(&broadcaster, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not a server reply"), "{e}");
}

#[tokio::test]
async fn the_request_carries_an_unguessable_transmit_time() {
    let requests = Requests::default();
    let honest = serve(0.0, Some(2), 4, Arc::clone(&requests));
    for _ in 0..2 {
        let offset = sntp::offset(&honest, Duration::from_secs(5)).await.unwrap();
        assert!(
            offset.abs() < 0.25,
            "the offset still uses our clock: {offset}"
        );
    }
    let seen = requests.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_ne!(seen[0], seen[1]);
    // Not this host's clock, which an off-path sender could guess to the
    // second and forge a reply for.
    let now = ntp_time(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64(),
    );
    for t in &seen {
        let seconds = |b: &[u8]| i64::from(u32::from_be_bytes(b[..4].try_into().unwrap()));
        assert!(
            (seconds(t) - seconds(&now)).abs() > 60,
            "the transmit time is the clock: {t:?}"
        );
    }
}
