//! `kind = "ssh"` against a private OpenSSH server (Debian
//! `openssh-server`): the fingerprint keepup proves is the one
//! `ssh-keygen -lf` prints for each of the server's host keys (ed25519,
//! ECDSA, RSA), a pinned key of another type is proven by its own
//! exchange, a pinned key that differs is critical, an RSA key under 2048
//! bits is weak, and a peer that is not SSH ends as a protocol finding.

mod support;

use std::path::Path;

use keepup_model::codes as c;
use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;
use keepup_testkit::hostile::{Behaviour, HostileServer};
use keepup_testkit::sshd::Sshd;
use support::codes;

async fn run(port: u16, extra: &str) -> Outcome {
    let src = format!(
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"c\"\nkind = \"ssh\"\ntimeout = \"5s\"\nhost = \"127.0.0.1\"\nport = {port}\n{extra}"
    );
    let config =
        keepup_config::load_str(&src, Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    support::run(
        config.checks().next().expect("one check"),
        &ProbeContext::new(),
    )
    .await
}

/// `ssh-keygen -lf FILE`'s fingerprint (`SHA256:...`).
fn keygen_fingerprint(file: &Path) -> String {
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(file)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("a fingerprint")
        .to_owned()
}

#[tokio::test]
async fn the_proven_fingerprint_is_ssh_keygens_for_every_key_type() {
    let sshd = Sshd::start_with_host_keys(&["ecdsa", "rsa"]).expect("sshd");
    let ed25519 = keygen_fingerprint(&sshd.host_key_file());
    let o = run(sshd.port(), "").await;
    assert_eq!(o.status, Status::Up, "{o:?}\n{}", sshd.log());
    assert_eq!(o.evidence.details["host_key_sha256"], ed25519.as_str());
    assert_eq!(o.evidence.details["host_key_algorithm"], "ssh-ed25519");
    assert!(
        o.evidence.details["banner"]
            .as_str()
            .is_some_and(|b| b.starts_with("SSH-2.0-OpenSSH_")),
        "{o:?}"
    );
    assert_eq!(o.message, format!("host key ssh-ed25519 {ed25519}"));

    for (kind, algorithm) in [
        ("ecdsa", "ecdsa-sha2-nistp256"),
        ("rsa", "rsa-sha2-512"),
        ("rsa", "rsa-sha2-256"),
    ] {
        let expected = keygen_fingerprint(&sshd.extra_host_key_file(kind));
        let o = run(
            sshd.port(),
            &format!("host_key_algorithm = \"{algorithm}\"\nhost_key_sha256 = \"{expected}\"\n"),
        )
        .await;
        assert_eq!(o.status, Status::Up, "{algorithm}: {o:?}\n{}", sshd.log());
        assert_eq!(o.evidence.details["host_key_algorithm"], algorithm);
        assert!(o.message.ends_with("as pinned"), "{}", o.message);
    }
}

#[tokio::test]
async fn a_changed_host_key_is_critical() {
    let before = Sshd::start().expect("sshd");
    let pinned = keygen_fingerprint(&before.host_key_file());
    let o = run(before.port(), &format!("host_key_sha256 = \"{pinned}\"\n")).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    // The server reinstalled: same address, a new key.
    let after = Sshd::start().expect("sshd");
    let now = keygen_fingerprint(&after.host_key_file());
    let o = run(after.port(), &format!("host_key_sha256 = \"{pinned}\"\n")).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::SSH_HOST_KEY_CHANGED]);
    assert_eq!(
        o.message,
        format!(
            "the host key changed: the server proved ssh-ed25519 {now}, the pinned key is {pinned}"
        )
    );
}

#[tokio::test]
async fn a_pinned_key_of_another_type_is_proven_by_its_own_exchange() {
    // No host_key_algorithm: the server shows its ed25519 key first, and
    // the pinned ECDSA or RSA key is asked for in further exchanges.
    let sshd = Sshd::start_with_host_keys(&["ecdsa", "rsa"]).expect("sshd");
    let ed25519 = keygen_fingerprint(&sshd.host_key_file());
    let ecdsa = keygen_fingerprint(&sshd.extra_host_key_file("ecdsa"));
    let rsa = keygen_fingerprint(&sshd.extra_host_key_file("rsa"));
    for (pinned, algorithm) in [(&ecdsa, "ecdsa-sha2-nistp256"), (&rsa, "rsa-sha2-512")] {
        let o = run(sshd.port(), &format!("host_key_sha256 = \"{pinned}\"\n")).await;
        assert_eq!(o.status, Status::Up, "{o:?}\n{}", sshd.log());
        assert_eq!(o.evidence.details["host_key_algorithm"], algorithm);
        assert_eq!(o.evidence.details["host_key_sha256"], pinned.as_str());
        assert!(o.message.ends_with("as pinned"), "{}", o.message);
    }
    // A key the server does not hold is a change, naming every key it
    // proved (RSA once, not once per RSA algorithm).
    let elsewhere = Sshd::start().expect("sshd");
    let other = keygen_fingerprint(&elsewhere.host_key_file());
    let o = run(sshd.port(), &format!("host_key_sha256 = \"{other}\"\n")).await;
    assert_eq!(codes(&o), vec![c::SSH_HOST_KEY_CHANGED], "{o:?}");
    assert_eq!(
        o.message,
        format!(
            "the host key changed: the server proved ssh-ed25519 {ed25519} and ecdsa-sha2-nistp256 {ecdsa} and ssh-rsa {rsa}, the pinned key is {other}"
        )
    );
}

#[tokio::test]
async fn an_rsa_host_key_under_2048_bits_is_weak() {
    let sshd = Sshd::start_with_host_keys(&["rsa-1024"]).expect("sshd");
    let weak = keygen_fingerprint(&sshd.extra_host_key_file("rsa-1024"));
    let o = run(sshd.port(), "host_key_algorithm = \"rsa-sha2-256\"\n").await;
    assert_eq!(o.status, Status::Down, "{o:?}\n{}", sshd.log());
    assert_eq!(codes(&o), vec![c::SSH_HOST_KEY_WEAK], "{o:?}");
    assert_eq!(
        o.message,
        format!(
            "the server's RSA host key {weak} has 1024 bits; keepup trusts RSA keys of 2048 bits or more"
        )
    );
}

#[tokio::test]
async fn peers_that_are_not_ssh_servers_are_protocol_errors() {
    // Lines before the version line are allowed: waited for until the
    // deadline.
    let smtp = HostileServer::start(Behaviour::Banner("220 mail.example ESMTP\r\n".into()))
        .await
        .expect("server");
    let o = run(smtp.port(), "").await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::PROBE_TIMEOUT]);
    let garbage = HostileServer::start(Behaviour::Banner("SSH-2.0-fake\r\ngarbage".into()))
        .await
        .expect("server");
    let o = run(garbage.port(), "").await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::SSH_PROTOCOL_ERROR]);
    assert_eq!(o.message, "a packet of 1734439522 bytes (at most 65536)");
    let old = HostileServer::start(Behaviour::Banner("SSH-1.5-ancient\r\n".into()))
        .await
        .expect("server");
    let o = run(old.port(), "").await;
    assert_eq!(
        o.message,
        "the server speaks an SSH version keepup does not: SSH-1.5-ancient"
    );
    let silent = HostileServer::start(Behaviour::Silent)
        .await
        .expect("server");
    let o = run(silent.port(), "").await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::PROBE_TIMEOUT]);
}
