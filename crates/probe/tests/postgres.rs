//! `kind = "postgres"` against real PostgreSQL servers from Debian's
//! packages: a primary and a streaming replica cloned with
//! `pg_basebackup -R` (testkit), on loopback. The checks are loaded from
//! TOML and run through the probe dispatcher, as the daemon runs them.
//!
//! The read-only tests share one primary and replica; the test that pauses
//! replay and stops the replica has a pair of its own.

mod support;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;
use keepup_testkit::hostile::{Behaviour, HostileServer};
use keepup_testkit::postgres::Postgres;
use support::{codes, load, run_only, wait_for};

/// A primary, its streaming replica, and a directory with the password
/// files the checks read.
struct Pair {
    primary: Postgres,
    replica: Postgres,
    dir: tempfile::TempDir,
}

impl Pair {
    fn start() -> Pair {
        let primary = Postgres::start_primary().expect("primary starts");
        let replica = Postgres::start_replica(&primary).expect("replica starts");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("pg.pass"), primary.password()).expect("password file");
        std::fs::write(dir.path().join("wrong.pass"), "not-the-Secret-42").expect("file");
        // The replica streams once the primary lists it so, with the
        // position it replayed.
        wait_for(|| {
            primary
                .psql("SELECT state FROM pg_stat_replication WHERE replay_lsn IS NOT NULL")
                .is_ok_and(|s| s.trim() == "streaming")
        });
        Pair {
            primary,
            replica,
            dir,
        }
    }

    /// The check `extra` describes against `server`, loaded as the daemon
    /// loads it.
    fn check(&self, server: &Postgres, extra: &str) -> keepup_config::Config {
        let user = if extra.contains("user =") {
            String::new()
        } else {
            format!("user = \"{}\"\n", server.user())
        };
        let src = format!(
            "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"db\"\nkind = \"postgres\"\n\
             host = \"127.0.0.1\"\nport = {}\n{user}tls = \"disable\"\n{extra}\n",
            server.port(),
        );
        let extra_has_password = extra.contains("password_file");
        let src = if extra_has_password {
            src
        } else {
            format!("{src}password_file = \"pg.pass\"\n")
        };
        load(self.dir.path(), &src)
    }
}

fn shared() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(Pair::start)
}

async fn run(config: &keepup_config::Config, ctx: &ProbeContext) -> Outcome {
    run_only(config, ctx).await
}

fn pg(o: &Outcome) -> &serde_json::Value {
    &o.evidence.details["postgres"]
}

#[tokio::test]
async fn a_primary_and_its_streaming_replica_are_up_with_replication_measured() {
    let pair = shared();
    let ctx = ProbeContext::new();
    let primary = pair.check(&pair.primary, "role = \"primary\"\nreplicas = 1");
    let o = run(&primary, &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert!(o.message.contains("PostgreSQL primary"), "{}", o.message);
    assert_eq!(pg(&o)["role"], "primary");
    let replicas = pg(&o)["replicas"].as_array().expect("replicas listed");
    assert_eq!(replicas.len(), 1, "{replicas:?}");
    assert_eq!(replicas[0]["state"], "streaming");
    assert!(replicas[0]["lag_bytes"].is_number(), "{replicas:?}");
    assert!(pg(&o)["connections"].as_u64().is_some_and(|n| n >= 1));
    assert!(
        o.evidence
            .timing
            .as_ref()
            .and_then(|t| t.first_byte_ms)
            .is_some()
    );
    assert_eq!(o.evidence.details["connection"], "new");
    // No forecast follows the size: it is not read.
    assert!(pg(&o)["database_size_bytes"].is_null(), "{o:#?}");
    // The next run reuses the session.
    let again = run(&primary, &ctx).await;
    assert_eq!(again.status, Status::Up);
    assert_eq!(again.evidence.details["connection"], "kept");

    let replica = pair.check(&pair.replica, "role = \"replica\"");
    let o = run(&replica, &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert_eq!(pg(&o)["role"], "replica");
    assert_eq!(pg(&o)["wal_receiver"], "streaming");
    assert!(pg(&o)["replay_lag_seconds"].is_number(), "{o:#?}");
    assert_eq!(pg(&o)["replay_paused"], false);
}

/// A role without pg_monitor sees the WAL receiver's and the WAL senders'
/// pid but not their state: that is a missing grant, not a broken replica.
#[tokio::test]
async fn a_user_without_pg_monitor_is_told_so_not_that_replication_stopped() {
    let pair = shared();
    pair.primary
        .psql("CREATE ROLE plain_watcher LOGIN PASSWORD 'plain-Secret-17'")
        .expect("role created");
    std::fs::write(pair.dir.path().join("plain.pass"), "plain-Secret-17").expect("file");
    wait_for(|| {
        pair.replica
            .psql("SELECT count(*) FROM pg_roles WHERE rolname = 'plain_watcher'")
            .is_ok_and(|n| n.trim() == "1")
    });
    let extra = "user = \"plain_watcher\"\npassword_file = \"plain.pass\"";
    let ctx = ProbeContext::new();
    let with_user = |server: &Postgres, role: &str| pair.check(server, &format!("{extra}\n{role}"));
    let replica = with_user(&pair.replica, "role = \"replica\"");
    let o = run(&replica, &ctx).await;
    assert_eq!(codes(&o), ["PG_INSUFFICIENT_PRIVILEGE"], "{o:#?}");
    assert_eq!(o.status, Status::Degraded);
    assert!(o.findings[0].text.contains("pg_monitor"), "{o:#?}");
    assert!(o.findings[0].text.contains("plain_watcher"), "{o:#?}");
    assert_eq!(pg(&o)["wal_receiver_hidden"], true);

    let primary = with_user(&pair.primary, "role = \"primary\"\nreplicas = 1");
    let o = run(&primary, &ctx).await;
    assert_eq!(codes(&o), ["PG_INSUFFICIENT_PRIVILEGE"], "{o:#?}");
    assert_eq!(pg(&o)["replicas"][0]["details_hidden"], true);
}

#[tokio::test]
async fn a_server_in_the_wrong_role_is_down() {
    let pair = shared();
    let ctx = ProbeContext::new();
    let o = run(&pair.check(&pair.primary, "role = \"replica\""), &ctx).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), ["PG_NOT_IN_RECOVERY"]);
    let o = run(&pair.check(&pair.replica, "role = \"primary\""), &ctx).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), ["PG_IN_RECOVERY"]);
    // `replicas` counts only on a primary: a replica is not missing any.
    let o = run(&pair.check(&pair.replica, "replicas = 2"), &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
}

#[tokio::test]
async fn a_wrong_password_is_down_and_the_password_is_nowhere() {
    let pair = shared();
    let ctx = ProbeContext::new();
    let o = run(
        &pair.check(&pair.primary, "password_file = \"wrong.pass\""),
        &ctx,
    )
    .await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), ["PG_AUTH_FAILED"]);
    assert!(
        o.message.contains("refused the login of user \"keepup\""),
        "{}",
        o.message
    );
    let all = serde_json::to_string(&o).expect("json");
    assert!(!all.contains("not-the-Secret-42"), "{all}");
}

#[tokio::test]
async fn the_configured_query_is_compared_with_its_expected_value() {
    let pair = shared();
    let ctx = ProbeContext::new();
    let o = run(
        &pair.check(&pair.primary, "query = \"SELECT 40 + 2\"\nexpect = \"42\""),
        &ctx,
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert_eq!(o.evidence.details["query_result"], "42");
    let o = run(
        &pair.check(&pair.primary, "query = \"SELECT 40 + 2\"\nexpect = \"41\""),
        &ctx,
    )
    .await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), ["PG_QUERY_UNEXPECTED"]);
    assert_eq!(
        o.message,
        "the configured query answered \"42\", not \"41\""
    );
    let o = run(
        &pair.check(&pair.primary, "query = \"SELECT * FROM no_such_table\""),
        &ctx,
    )
    .await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), ["PG_QUERY_FAILED"]);
    assert!(o.message.contains("no_such_table"), "{}", o.message);
}

#[tokio::test]
async fn connections_above_the_limit_degrade_the_check() {
    let pair = shared();
    let ctx = ProbeContext::new();
    // One connection of 100 is 1 %: above a warning level of 0 %.
    let o = run(
        &pair.check(
            &pair.primary,
            "connections = { warn = \"0%\", crit = \"100%\" }",
        ),
        &ctx,
    )
    .await;
    assert_eq!(o.status, Status::Degraded, "{o:#?}");
    assert_eq!(codes(&o), ["PG_CONNECTIONS_HIGH"]);
}

#[tokio::test]
async fn paused_replay_shows_as_lag_and_a_lost_replica_as_missing() {
    let mut pair = tokio::task::spawn_blocking(Pair::start)
        .await
        .expect("start");
    let ctx = ProbeContext::new();
    pair.replica
        .psql("SELECT pg_wal_replay_pause()")
        .expect("pause replay");
    pair.primary
        .psql("CREATE TABLE filler AS SELECT generate_series(1, 20000) AS n")
        .expect("write on the primary");
    // The replica has received WAL it does not replay.
    wait_for(|| {
        pair.replica
            .psql("SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()")
            .is_ok_and(|s| s.trim() == "t")
    });
    // The last replayed commit is now more than a second old.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let replica = pair.check(
        &pair.replica,
        "role = \"replica\"\nlag = { warn = \"1s\", crit = \"1h\" }",
    );
    let o = run(&replica, &ctx).await;
    assert_eq!(o.status, Status::Degraded, "{o:#?}");
    let found = codes(&o);
    assert!(found.contains(&"PG_REPLAY_PAUSED"), "{found:?}");
    assert!(found.contains(&"PG_REPLICA_LAG"), "{found:?}");
    assert!(
        pg(&o)["replay_lag_seconds"]
            .as_f64()
            .is_some_and(|s| s >= 1.0),
        "{o:#?}"
    );
    assert!(pg(&o)["replay_lag_bytes"].as_f64().is_some_and(|b| b > 0.0));

    let primary = pair.check(
        &pair.primary,
        "role = \"primary\"\nreplicas = 1\nlag_bytes = { warn = \"1kB\", crit = \"1GiB\" }",
    );
    let o = run(&primary, &ctx).await;
    assert_eq!(o.status, Status::Degraded, "{o:#?}");
    assert_eq!(codes(&o), ["PG_REPLICA_LAG"]);
    assert!(
        o.message.contains("of WAL not yet replayed"),
        "{}",
        o.message
    );

    pair.replica.kill();
    let mut o = run(&primary, &ctx).await;
    for _ in 0..100 {
        if codes(&o).contains(&"PG_REPLICAS_MISSING") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        o = run(&primary, &ctx).await;
    }
    assert_eq!(o.status, Status::Down, "{o:#?}");
    assert_eq!(codes(&o), ["PG_REPLICAS_MISSING"]);
    assert_eq!(
        o.message,
        "0 of the 1 expected replicas stream from the primary"
    );
    drop(pair);
}

/// A configuration whose postgres check points at `port` with `timeout`.
fn hostile_check(dir: &Path, port: u16, timeout: &str) -> keepup_config::Config {
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"db\"\nkind = \"postgres\"\n\
         host = \"127.0.0.1\"\nport = {port}\ntls = \"disable\"\ntimeout = \"{timeout}\"\n"
    );
    load(dir, &src)
}

#[tokio::test]
async fn a_server_that_never_answers_or_never_stops_ends_the_run() {
    let dir = tempfile::tempdir().expect("dir");
    let ctx = ProbeContext::new();
    let silent = HostileServer::start(Behaviour::Silent)
        .await
        .expect("server");
    let config = hostile_check(dir.path(), silent.port(), "2s");
    let o = run_only(&config, &ctx).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), ["PROBE_TIMEOUT"]);
    assert!(o.message.contains("logging in"), "{}", o.message);

    // Bytes without end: the session stops at the reply limit.
    let endless = HostileServer::start(Behaviour::EndlessBody)
        .await
        .expect("server");
    let config = hostile_check(dir.path(), endless.port(), "20s");
    let o = run_only(&config, &ctx).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), ["PG_CONNECTION_FAILED"]);
    assert!(o.message.contains("more than 1 MiB"), "{}", o.message);
}

#[tokio::test]
async fn tls_is_verified_against_the_ca_file_before_the_password_goes() {
    use keepup_testkit::pki::{CertAuthority, validity};
    let ca = CertAuthority::new("keepup test db CA").expect("CA");
    let issued = ca.issue(&["pg.test"], validity::current()).expect("leaf");
    let server = tokio::task::spawn_blocking(move || Postgres::start_with_tls(&issued))
        .await
        .expect("join")
        .expect("PostgreSQL with TLS starts");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("pg.pass"), server.password()).expect("file");
    std::fs::write(dir.path().join("ca.pem"), ca.root_pem()).expect("file");
    let ctx = ProbeContext::builder()
        .system_roots(false)
        .resolve_override("pg.test", [std::net::IpAddr::from([127, 0, 0, 1])])
        .build();
    let check = |extra: &str| {
        let src = format!(
            "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"db\"\nkind = \"postgres\"\n\
             host = \"pg.test\"\nport = {}\nuser = \"{}\"\npassword_file = \"pg.pass\"\n\
             tls = \"require\"\n{extra}\n",
            server.port(),
            server.user(),
        );
        load(dir.path(), &src)
    };
    let o = run(
        &check("[site.check.certificate]\nca_file = \"ca.pem\""),
        &ctx,
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert!(
        o.evidence.details["tls"]["handshake"]["protocol"].is_string(),
        "{o:#?}"
    );
    assert!(o.evidence.timing.as_ref().and_then(|t| t.tls_ms).is_some());

    // The same server without its CA: refused before the login.
    let o = run(
        &check(""),
        &ProbeContext::builder()
            .system_roots(false)
            .resolve_override("pg.test", [std::net::IpAddr::from([127, 0, 0, 1])])
            .build(),
    )
    .await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    assert!(
        o.findings.iter().all(|f| f.code.starts_with("TLS_")),
        "{o:#?}"
    );
    assert!(!o.evidence.details.contains_key("postgres"), "{o:#?}");

    // A server without TLS, when TLS is required.
    let pair = shared();
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"db\"\nkind = \"postgres\"\n\
         host = \"127.0.0.1\"\nport = {}\npassword_file = \"pg.pass\"\ntls = \"require\"\n",
        pair.primary.port()
    );
    let config = load(dir.path(), &src);
    let o = run(&config, &ProbeContext::new()).await;
    assert_eq!(codes(&o), ["PG_TLS_UNAVAILABLE"], "{o:#?}");
}
