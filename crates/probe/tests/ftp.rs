//! `kind = "ftp"` against a private vsftpd (Debian `vsftpd`): the banner,
//! explicit FTPS (`AUTH TLS`) and implicit FTPS with the certificate
//! judged, a login whose password comes from a file and never shows, a
//! refused login, and no password sent without TLS.

mod support;

use std::path::Path;

use keepup_model::codes as c;
use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;
use keepup_testkit::hostile::{Behaviour, HostileServer};
use keepup_testkit::pki::{CertAuthority, TempPem, validity};
use keepup_testkit::vsftpd::{BANNER, FtpTls, Vsftpd};
use support::{codes, has};

const PASSWORD: &str = "probe@keepup.test-Pa55";

struct Ca {
    ca: CertAuthority,
    root: TempPem,
}

fn ca() -> Ca {
    let ca = CertAuthority::new("keepup ftp test CA").expect("CA");
    let root = ca.root_pem_file().expect("CA file");
    Ca { ca, root }
}

/// Runs an ftp check of 127.0.0.1:`port` with `extra` keys, loaded as a
/// configured check; the password file is in `dir`.
async fn run(port: u16, extra: &str, dir: &Path) -> Outcome {
    std::fs::write(dir.join("ftp-password"), format!("{PASSWORD}\n")).expect("password file");
    let src = format!(
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"c\"\nkind = \"ftp\"\ntimeout = \"5s\"\nhost = \"127.0.0.1\"\nport = {port}\n{extra}"
    );
    let config =
        keepup_config::load_str(&src, &dir.join("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    support::run(
        config.checks().next().expect("one check"),
        &ProbeContext::new(),
    )
    .await
}

fn transcript(o: &Outcome) -> String {
    o.evidence.details["transcript"].to_string()
}

#[tokio::test]
async fn plain_ftp_shows_its_banner_and_keeps_the_password_back() {
    let ftp = Vsftpd::start(FtpTls::None, None).expect("vsftpd");
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run(
        ftp.port(),
        &format!("tls = \"none\"\nexpect_banner = '^{BANNER}$'\n"),
        dir.path(),
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}\n{}", ftp.log());
    assert_eq!(
        o.message,
        format!("FTP 127.0.0.1:{} ready (no TLS)", ftp.port())
    );

    // A login over plain FTP is refused at load: the password would
    // travel in clear text.
    let src = format!(
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"c\"\nkind = \"ftp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"anonymous\"\npassword = \"x\"\n",
        ftp.port()
    );
    let problems = keepup_config::load_str(&src, Path::new("keepup.toml"))
        .err()
        .map(|p| p.to_string())
        .unwrap_or_default();
    assert!(problems.contains("clear text"), "{problems}");

    // TLS is asked for by default: this server has none.
    let o = run(ftp.port(), "", dir.path()).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
}

#[tokio::test]
async fn explicit_ftps_logs_in_with_the_password_from_a_file() {
    let ca = ca();
    let leaf = ca
        .ca
        .issue(&["127.0.0.1"], validity::current())
        .expect("leaf");
    let ftp = Vsftpd::start(FtpTls::Explicit, Some(&leaf)).expect("vsftpd");
    let dir = tempfile::tempdir().expect("tempdir");
    let trust = format!(
        "[site.check.certificate]\nca_file = \"{}\"\n",
        ca.root.path().display()
    );
    let o = run(
        ftp.port(),
        &format!("username = \"anonymous\"\npassword_file = \"ftp-password\"\n{trust}"),
        dir.path(),
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}\n{}", ftp.log());
    assert_eq!(
        o.message,
        format!("FTP 127.0.0.1:{} ready (AUTH TLS, login ok)", ftp.port())
    );
    assert!(
        o.evidence.details["cert_days_left"].as_f64().is_some(),
        "{o:?}"
    );
    let said = transcript(&o);
    assert!(said.contains("PASS ***"), "{said}");
    assert!(!said.contains(PASSWORD) && !format!("{o:?}").contains(PASSWORD));

    // A user the server does not know.
    let o = run(
        ftp.port(),
        &format!("username = \"probe\"\npassword_file = \"ftp-password\"\n{trust}"),
        dir.path(),
    )
    .await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::MAIL_AUTH_FAILED]);
    assert!(o.findings[0].text.contains("530"), "{o:?}");

    // Without the CA the certificate is not trusted, and no password goes.
    let o = run(
        ftp.port(),
        "username = \"anonymous\"\npassword_file = \"ftp-password\"\n",
        dir.path(),
    )
    .await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert!(has(&o, c::TLS_CHAIN_INCOMPLETE), "{o:?}");
    assert!(!transcript(&o).contains("PASS"), "{}", transcript(&o));
}

#[tokio::test]
async fn implicit_ftps_speaks_tls_from_the_first_byte() {
    let ca = ca();
    let leaf = ca
        .ca
        .issue(&["127.0.0.1"], validity::current())
        .expect("leaf");
    let ftp = Vsftpd::start(FtpTls::Implicit, Some(&leaf)).expect("vsftpd");
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run(
        ftp.port(),
        &format!(
            "tls = \"implicit\"\nusername = \"anonymous\"\npassword_file = \"ftp-password\"\n[site.check.certificate]\nca_file = \"{}\"\n",
            ca.root.path().display()
        ),
        dir.path(),
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}\n{}", ftp.log());
    assert_eq!(
        o.message,
        format!(
            "FTP 127.0.0.1:{} ready (implicit TLS, login ok)",
            ftp.port()
        )
    );
    // The same port spoken to in plain text says nothing keepup can read.
    let o = run(ftp.port(), "tls = \"none\"\n", dir.path()).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
}

#[tokio::test]
async fn a_banner_with_uncoded_middle_lines_is_one_reply() {
    // vsftpd prefixes every banner line with `220-`; ProFTPD, IIS and
    // wu-ftpd may send middle lines without a code (RFC 959 §4.2), so a
    // raw TCP server sends such a banner here.
    let server = HostileServer::start(Behaviour::Banner(
        "220-Welcome to the shop's FTP\r\nRules: no code on this line\r\n 220 nor on this one\r\n220 ready\r\n"
            .into(),
    ))
    .await
    .expect("banner server");
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run(
        server.port(),
        "tls = \"none\"\nexpect_banner = 'Rules: no code'\n",
        dir.path(),
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert!(codes(&o).is_empty(), "{o:?}");
}
