//! `keepup check TARGET` for the schemes beyond the web and mail ones,
//! the binary against real servers on loopback: `ssh://` against a
//! private OpenSSH server (its host key's fingerprint as `ssh-keygen -lf`
//! prints it), `ftp://` and `ftps://` against vsftpd with explicit and
//! implicit TLS (the test CA trusted through `SSL_CERT_FILE`) and without
//! TLS, and `redis://` against a password-protected Redis whose password
//! comes from `REDISCLI_AUTH`, as redis-cli reads it; a password in the
//! URL is refused without being repeated.

use std::process::{Command, Output};

use keepup_testkit::pki::{CertAuthority, validity};
use keepup_testkit::redis::Redis;
use keepup_testkit::sshd::Sshd;
use keepup_testkit::vsftpd::{BANNER, FtpTls, Vsftpd};

fn keepup(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keepup"));
    c.env_remove("KEEPUP_CONFIG")
        .env_remove("REDISCLI_AUTH")
        .env_remove("PGPASSWORD")
        .env_remove("MYSQL_PWD")
        .env_remove("SSL_CERT_FILE")
        .envs(env.iter().copied())
        .args(args);
    c.output().expect("keepup runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `ssh-keygen -lf FILE`'s fingerprint (`SHA256:...`).
fn fingerprint(file: &std::path::Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(file)
        .output()
        .expect("ssh-keygen");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("a fingerprint")
        .to_owned()
}

#[test]
fn ssh_targets_show_the_servers_host_key() {
    let sshd = Sshd::start().expect("sshd starts");
    let target = format!("ssh://127.0.0.1:{}", sshd.port());
    let o = keepup(&["check", &target], &[]);
    let line = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{line}{}", sshd.log());
    assert!(line.starts_with("SSH OK - "), "{line}");
    let key = fingerprint(&sshd.host_key_file());
    assert!(
        line.contains(&format!("ssh-ed25519 {key}")),
        "{key} in {line}"
    );

    let o = keepup(&["check", "--json", &target], &[]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(doc["kind"], "ssh");
    let banner = doc["outcome"]["evidence"]["details"]["banner"]
        .as_str()
        .unwrap_or_default();
    assert!(banner.starts_with("SSH-2.0-OpenSSH_"), "{doc}");

    // Nobody listens on the port once the server is gone.
    drop(sshd);
    let o = keepup(&["check", &target], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("SSH CRITICAL - "), "{}", stdout(&o));
}

#[test]
fn ftp_targets_greet_the_server_and_judge_its_tls() {
    let ca = CertAuthority::new("keepup check ftp CA").expect("CA");
    let root = ca.root_pem_file().expect("CA file");
    let trust = [("SSL_CERT_FILE", root.path().to_str().expect("UTF-8 path"))];
    let leaf = ca.issue(&["127.0.0.1"], validity::current()).expect("leaf");

    let explicit = Vsftpd::start(FtpTls::Explicit, Some(&leaf)).expect("vsftpd");
    let target = format!("ftp://127.0.0.1:{}", explicit.port());
    let o = keepup(&["check", &target], &trust);
    let line = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{line}{}", explicit.log());
    assert!(
        line.starts_with(&format!(
            "FTP OK - FTP 127.0.0.1:{} ready (AUTH TLS)",
            explicit.port()
        )),
        "{line}"
    );
    let o = keepup(&["check", "--json", &target], &trust);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert!(doc.to_string().contains(BANNER), "{doc}");
    // The same server without the test CA: its certificate is not trusted.
    let o = keepup(&["check", &target], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));

    let implicit = Vsftpd::start(FtpTls::Implicit, Some(&leaf)).expect("vsftpd");
    let o = keepup(
        &["check", &format!("ftps://127.0.0.1:{}", implicit.port())],
        &trust,
    );
    let line = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{line}{}", implicit.log());
    assert!(line.starts_with("FTP OK - "), "{line}");

    // Plain FTP: `ftp://` expects AUTH TLS, as a configured check does.
    let plain = Vsftpd::start(FtpTls::None, None).expect("vsftpd");
    let o = keepup(
        &["check", &format!("ftp://127.0.0.1:{}", plain.port())],
        &trust,
    );
    let line = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{line}");
    assert!(line.starts_with("FTP CRITICAL - "), "{line}");
    assert!(line.contains("AUTH TLS"), "{line}");
}

#[test]
fn a_redis_password_comes_from_rediscli_auth_never_from_the_url() {
    let redis = Redis::start().expect("redis starts");
    let target = format!("redis://127.0.0.1:{}", redis.port());
    let o = keepup(&["check", &target], &[("REDISCLI_AUTH", redis.password())]);
    let line = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{line}{}", redis.log());
    assert!(line.starts_with("REDIS OK - "), "{line}");
    assert!(!line.contains(redis.password()), "{line}");

    // Without it the server refuses the check's commands.
    let o = keepup(&["check", &target], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));

    let o = keepup(
        &[
            "check",
            &format!(
                "redis://default:{}@127.0.0.1:{}",
                redis.password(),
                redis.port()
            ),
        ],
        &[],
    );
    let line = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{line}");
    assert!(line.starts_with("UNKNOWN - "), "{line}");
    assert!(line.contains("set REDISCLI_AUTH"), "{line}");
    assert!(!line.contains(redis.password()), "{line}");
}
