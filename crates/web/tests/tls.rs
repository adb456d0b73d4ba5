//! The TLS listener: HTTPS with the configured certificate, HSTS and
//! `Secure` cookies, and the certificate replaced while it runs (what
//! SIGHUP does), a pair that cannot be used keeping the one in use.

mod support;

use keepup_config::TlsFiles;
use keepup_pki::{CertAuthority, Issued, validity};
use keepup_web::tls::{ListenerTls, TlsError};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

fn write_pair(dir: &Path, cert: &Issued, key: &Issued) {
    std::fs::write(dir.join("cert.pem"), &cert.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &key.key_pem).unwrap();
}

fn client(ca: &CertAuthority) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.ca_der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Connects over TLS as `localhost`, GETs `path`; the leaf the server
/// showed and the answer's status and headers.
async fn get(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
    path: &str,
) -> (CertificateDer<'static>, u16, http::HeaderMap) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let leaf = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = http::Request::builder()
        .uri(path)
        .header("host", "localhost")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    (leaf, response.status().as_u16(), response.headers().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_speaks_https_and_takes_a_new_certificate_while_running() {
    let ca = CertAuthority::new("keepup test CA").unwrap();
    let first = ca.issue(&["localhost"], validity::current()).unwrap();
    let second = ca.issue(&["localhost"], validity::current()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), &first, &first);
    let files = TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    let tls = Arc::new(ListenerTls::load(&files).unwrap());
    let web = support::start_with_tls("", Some(tls.clone())).await;
    let connector = client(&ca);

    let (leaf, status, headers) = get(web.addr, &connector, "/healthz").await;
    assert_eq!((status, &leaf), (200, first.leaf()));
    assert_eq!(
        headers.get("strict-transport-security").unwrap(),
        "max-age=31536000"
    );
    let (_, status, headers) = get(web.addr, &connector, "/login").await;
    assert_eq!(status, 200);
    let cookie = headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");

    // A renewed certificate: new connections get it.
    write_pair(dir.path(), &second, &second);
    tls.reload().unwrap();
    let (leaf, status, _) = get(web.addr, &connector, "/healthz").await;
    assert_eq!((status, &leaf), (200, second.leaf()));

    // A key that is not the certificate's is refused; the pair in use stays.
    write_pair(dir.path(), &first, &second);
    assert!(
        matches!(tls.reload(), Err(TlsError::Refused(_))),
        "{:?}",
        tls.reload()
    );
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    assert!(matches!(tls.reload(), Err(TlsError::NoCertificate { .. })));
    write_pair(dir.path(), &first, &first);
    std::fs::write(dir.path().join("key.pem"), "").unwrap();
    assert!(matches!(tls.reload(), Err(TlsError::NoKey { .. })));
    std::fs::remove_file(dir.path().join("key.pem")).unwrap();
    let missing = tls.reload().unwrap_err();
    assert!(missing.to_string().contains("key.pem"), "{missing}");
    let (leaf, status, _) = get(web.addr, &connector, "/healthz").await;
    assert_eq!((status, &leaf), (200, second.leaf()));

    // Plain HTTP gets no answer from the HTTPS listener.
    let plain = tokio::task::spawn_blocking({
        let addr = web.addr;
        move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
                .unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        }
    })
    .await
    .unwrap();
    assert!(!plain.contains("200 OK"), "{plain}");
}
