//! The `dns` step against real Knot DNS: a primary that takes TSIG-signed
//! RFC 2136 updates and a secondary fed by NOTIFY and IXFR, under a root
//! of their own so that keepup's delegation walk finds both. Each test has
//! its own three servers (they change the zone).

use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use keepup_config::Secret;
use keepup_config::dns::DnsSettings;
use keepup_probe::ProbeContext;
use keepup_recovery::dns::{
    DnsError, DnsSwitch, DnsTarget, TsigAlgorithm, TsigKey, nsupdate_script, switch,
    verify_switched,
};
use keepup_testkit::dns::{
    RefusingNamed, UPDATE_KEY_SHA256, UPDATE_KEY_SHA512, UPDATE_ZONE, UPDATE_ZONE_V4,
    UpdatableZone, UpdatePolicy,
};

const STANDBY_V4: &str = "198.51.100.20";
const STANDBY_V6: &str = "2001:db8::20";

fn standby() -> Vec<IpAddr> {
    vec![
        STANDBY_V4.parse().expect("address"),
        STANDBY_V6.parse().expect("address"),
    ]
}

fn params(zone: &UpdatableZone, key: TsigKey, target: DnsTarget) -> DnsSwitch {
    DnsSwitch {
        zone: UPDATE_ZONE.into(),
        primary: zone.primary(),
        key,
        hosts: vec![UPDATE_ZONE.into(), format!("www.{UPDATE_ZONE}")],
        target,
        ttl: 60,
        lower_ttl_first: None,
        timeout: Duration::from_secs(2),
        dns: DnsSettings {
            root_hints: Some(zone.root_hints()),
            port: zone.port(),
            resolver: None,
            query_timeout: Duration::from_millis(500),
            ipv6: false,
            ..DnsSettings::default()
        },
        verify_within: Duration::from_secs(20),
    }
}

fn sha256_key(zone: &UpdatableZone) -> TsigKey {
    TsigKey {
        name: UPDATE_KEY_SHA256.into(),
        algorithm: TsigAlgorithm::HmacSha256,
        secret: Secret::new(zone.sha256_secret().into()),
    }
}

fn sha512_key(zone: &UpdatableZone) -> TsigKey {
    TsigKey {
        name: UPDATE_KEY_SHA512.into(),
        algorithm: TsigAlgorithm::HmacSha512,
        secret: Secret::new(zone.sha512_secret().into()),
    }
}

fn start(policy: UpdatePolicy) -> UpdatableZone {
    UpdatableZone::start(policy).expect("start the Knot primary, secondary and root")
}

/// What `kdig` (Debian `knot-dnsutils`, installed by `scripts/test.sh`)
/// gets from `server` for `name` `rtype`, sorted.
fn kdig(server: std::net::SocketAddr, name: &str, rtype: &str) -> Vec<String> {
    let out = Command::new("kdig")
        .arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(["+norec", "+short", name, rtype])
        .stdin(Stdio::null())
        .output()
        .expect("kdig (Debian knot-dnsutils) runs");
    assert!(out.status.success(), "kdig failed: {out:?}");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

fn assert_not_leaking(text: &str, zone: &UpdatableZone) {
    assert!(
        !text.contains(zone.sha256_secret()) && !text.contains(zone.sha512_secret()),
        "a secret leaks: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_update_reaches_the_primary_and_the_secondary() {
    let zone = start(UpdatePolicy::default());
    let p = params(&zone, sha256_key(&zone), DnsTarget::Addresses(standby()));
    let report = switch(&p, &ProbeContext::new())
        .await
        .expect("the switch succeeds");
    assert_eq!(report.lowered_from, None);
    // Two hosts, A and AAAA each: every authoritative server agreed.
    assert_eq!(report.verified.len(), 4, "{:?}", report.verified);
    for server in [zone.primary(), zone.secondary()] {
        for host in [UPDATE_ZONE.to_owned(), format!("www.{UPDATE_ZONE}")] {
            let a = kdig(server, &host, "A");
            assert_eq!(a, vec![STANDBY_V4.to_owned()], "{server} {host}");
            let aaaa = kdig(server, &host, "AAAA");
            assert_eq!(aaaa, vec![STANDBY_V6.to_owned()], "{server} {host}");
        }
    }
    // The primary wrote the change to its zone file (zonefile-sync).
    let file = zone.primary_zone_file().expect("zone file");
    assert!(file.contains(STANDBY_V4), "{file}");
    assert!(!file.contains("192.0.2.10"), "{file}");
    // Resuming a run repeats the step: it changes nothing and succeeds.
    switch(&p, &ProbeContext::new())
        .await
        .expect("the switch succeeds again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ttl_is_lowered_first_and_an_alias_is_set_with_hmac_sha512() {
    let zone = start(UpdatePolicy::default());
    let mut p = params(
        &zone,
        sha512_key(&zone),
        DnsTarget::Alias("standby.example".into()),
    );
    p.hosts = vec![format!("www.{UPDATE_ZONE}")];
    p.lower_ttl_first = Some(1);
    let report = switch(&p, &ProbeContext::new())
        .await
        .expect("the switch succeeds");
    let (old_ttl, waited) = report.lowered_from.expect("the TTL was lowered");
    assert_eq!(old_ttl, keepup_testkit::dns::UPDATE_ZONE_TTL);
    assert_eq!(waited, Duration::from_secs(u64::from(old_ttl)));
    assert_eq!(report.verified.len(), 1, "{:?}", report.verified);
    for server in [zone.primary(), zone.secondary()] {
        let cname = kdig(server, &format!("www.{UPDATE_ZONE}"), "CNAME");
        assert_eq!(cname, vec!["standby.example.".to_owned()], "{server}");
        // The apex was not named: it keeps its address.
        let a = kdig(server, UPDATE_ZONE, "A");
        assert_eq!(a, vec!["192.0.2.10".to_owned()], "{server}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_and_a_wrong_secret_are_named_without_the_secret() {
    let zone = start(UpdatePolicy::default());
    let mut unknown = sha256_key(&zone);
    unknown.name = "nobody.".into();
    let p = params(&zone, unknown, DnsTarget::Addresses(standby()));
    let err = switch(&p, &ProbeContext::new())
        .await
        .expect_err("an unknown key is rejected");
    let text = err.to_string();
    assert!(matches!(err, DnsError::Tsig { .. }), "{err:?}");
    assert!(
        text.contains("NOTAUTH BADKEY") && text.contains("nobody."),
        "{text}"
    );
    assert_not_leaking(&text, &zone);

    // The right name with the other key's secret.
    let mut wrong = sha256_key(&zone);
    wrong.secret = Secret::new(zone.sha512_secret().into());
    let p = params(&zone, wrong, DnsTarget::Addresses(standby()));
    let err = switch(&p, &ProbeContext::new())
        .await
        .expect_err("a wrong secret is rejected");
    let text = err.to_string();
    assert!(text.contains("NOTAUTH BADSIG"), "{text}");
    assert_not_leaking(&text, &zone);
    assert_not_leaking(&format!("{err:?} {p:?}"), &zone);

    // Nothing changed.
    let a = kdig(zone.primary(), UPDATE_ZONE, "A");
    assert_eq!(a, vec!["192.0.2.10".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_without_an_update_acl_denies_and_a_foreign_name_is_notzone() {
    let closed = start(UpdatePolicy { update_acl: false });
    let p = params(
        &closed,
        sha256_key(&closed),
        DnsTarget::Addresses(standby()),
    );
    let err = switch(&p, &ProbeContext::new())
        .await
        .expect_err("no ACL allows the update");
    let text = err.to_string();
    // Knot answers a denied update as it answers an unknown key (BIND
    // answers REFUSED, which the step words as a missing ACL too).
    assert!(text.contains("NOTAUTH BADKEY"), "{text}");
    assert!(text.contains("update ACL"), "{text}");
    assert_not_leaking(&text, &closed);

    let open = start(UpdatePolicy::default());
    let mut p = params(&open, sha256_key(&open), DnsTarget::Addresses(standby()));
    p.hosts = vec!["www.elsewhere.test".into()];
    let err = switch(&p, &ProbeContext::new())
        .await
        .expect_err("a name outside the zone is rejected");
    let text = err.to_string();
    assert!(
        matches!(&err, DnsError::Rejected { rcode, .. } if rcode == "NOTZONE"),
        "{err:?}"
    );
    assert!(text.contains("not inside the zone"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_bind_refuses_is_named_with_the_policy_to_check() {
    // BIND knows the key but its zone allows no update: REFUSED (Knot
    // words every denial NOTAUTH BADKEY, above).
    let named = RefusingNamed::start().expect("start named");
    let p = DnsSwitch {
        primary: named.addr(),
        key: TsigKey {
            name: UPDATE_KEY_SHA256.into(),
            algorithm: TsigAlgorithm::HmacSha256,
            secret: Secret::new(named.secret().into()),
        },
        zone: UPDATE_ZONE.into(),
        hosts: vec![format!("www.{UPDATE_ZONE}")],
        target: DnsTarget::Addresses(standby()),
        ttl: 60,
        lower_ttl_first: None,
        timeout: Duration::from_secs(2),
        // Never reached: the update is refused first.
        dns: DnsSettings::default(),
        verify_within: Duration::from_secs(5),
    };
    let err = switch(&p, &ProbeContext::new())
        .await
        .expect_err("the zone allows no update");
    assert!(
        matches!(&err, DnsError::Rejected { rcode, .. } if rcode == "REFUSED"),
        "{err:?}"
    );
    let text = err.to_string();
    for says in ["REFUSED", "update ACL", "allow-update", UPDATE_KEY_SHA256] {
        assert!(text.contains(says), "{says:?} in {text}");
    }
    assert!(!text.contains(named.secret()), "{text}");
    // Nothing changed.
    assert_eq!(
        kdig(named.addr(), &format!("www.{UPDATE_ZONE}"), "A"),
        [UPDATE_ZONE_V4.to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nsupdate_lines_make_the_same_change_by_hand() {
    let zone = start(UpdatePolicy::default());
    let p = params(&zone, sha256_key(&zone), DnsTarget::Addresses(standby()));
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("tsig.key");
    let script = nsupdate_script(&p, &key_file.display().to_string());
    assert_not_leaking(&script, &zone);
    std::fs::write(
        &key_file,
        format!(
            "key \"{UPDATE_KEY_SHA256}\" {{\n  algorithm hmac-sha256;\n  secret \"{}\";\n}};\n",
            zone.sha256_secret()
        ),
    )
    .expect("key file");
    let mut child = Command::new("nsupdate")
        .arg("-k")
        .arg(&key_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nsupdate (Debian bind9-dnsutils) runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(script.as_bytes())
            .expect("write the script");
    }
    let out = child.wait_with_output().expect("nsupdate ends");
    assert!(
        out.status.success(),
        "nsupdate failed on\n{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = zone.primary_zone_file().expect("zone file");
    assert!(
        file.contains(STANDBY_V4) && file.contains(STANDBY_V6),
        "{file}"
    );
    // The step's own verification: every server serves the change.
    let verified = verify_switched(&p, &ProbeContext::new())
        .await
        .expect("every authoritative server serves the manual change");
    assert_eq!(verified.len(), 4, "{verified:?}");
}

/// A configured plan whose `dns` step the runbook engine runs: the
/// configuration's `[dns]` finds both servers, the key comes from a file,
/// the standby's addresses are published, and the journal holds neither
/// the secret nor anything but the step's verified lines.
#[test]
fn a_plans_dns_step_switches_the_zone_through_the_runbook() {
    use keepup_recovery::{Confirmation, Quiet, Runner, SimulatedClock, start as start_run};
    use keepup_store::{DrRunKind, DrRunState, Store};

    let zone = start(UpdatePolicy::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("tsig.key");
    std::fs::write(&key_file, zone.sha512_secret()).expect("key file");
    let hints: Vec<String> = zone
        .root_hints()
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect();
    let src = format!(
        r#"[store]
path = "keepup.db"

[dns]
root_hints = [{hints}]
port = {port}
query_timeout = "500ms"
ipv6 = false

[[site]]
id = "shop"
[[site.check]]
id = "home"
kind = "tcp"
host = "127.0.0.1"
port = 9

[[recovery]]
id = "shop-dr"
site = "shop"
rto = "1h"
rpo = "2h"
[recovery.standby]
addresses = ["{STANDBY_V4}", "{STANDBY_V6}"]
[[recovery.tsig_key]]
id = "k"
name = "{UPDATE_KEY_SHA512}"
algorithm = "hmac-sha512"
secret_file = "{key}"

[[recovery.activate]]
kind = "dns"
name = "switch"
zone = "{UPDATE_ZONE}"
names = ["www.{UPDATE_ZONE}"]
server = "{primary}"
key = "k"
verify_timeout = "20s"
"#,
        hints = hints.join(", "),
        port = zone.port(),
        key = key_file.display(),
        primary = zone.primary(),
    );
    let config = keepup_config::load_str(&src, &dir.path().join("keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
    let plan = config.recovery_plan("shop-dr").expect("plan");
    let store = Store::open(&dir.path().join("keepup.db")).expect("store");
    let clock = SimulatedClock::new(1_780_000_000_000);
    let yes = Confirmation::AssumeYes;
    let runner = Runner {
        config: &config,
        store: &store,
        clock: &clock,
        confirm: &yes,
        observer: &Quiet,
        who: "test",
    };
    let report = start_run(&runner, plan, DrRunKind::Activate).expect("the run starts");
    assert_eq!(report.state, DrRunState::Completed, "{}", report.message);
    for server in [zone.primary(), zone.secondary()] {
        let www = format!("www.{UPDATE_ZONE}");
        assert_eq!(kdig(server, &www, "A"), vec![STANDBY_V4.to_owned()]);
        assert_eq!(kdig(server, &www, "AAAA"), vec![STANDBY_V6.to_owned()]);
    }
    let steps = store.dr_steps(report.run).expect("journal");
    let journal = format!("{steps:?}");
    assert!(journal.contains("every authoritative server"), "{journal}");
    assert_not_leaking(&journal, &zone);
}
