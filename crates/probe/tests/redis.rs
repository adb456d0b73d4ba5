//! `kind = "redis"` against real Redis servers from Debian's
//! `redis-server`: a master with a password and a replica of it
//! (`replicaof`), on loopback (testkit). The checks are loaded from TOML
//! and run through the probe dispatcher, as the daemon runs them.
//!
//! The read-only tests share one master and replica; the test that cuts
//! the replica's link and fills memory has a pair of its own.

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;
use keepup_testkit::hostile::{Behaviour, HostileServer};
use keepup_testkit::redis::Redis;
use support::{codes, load, run_only, wait_for};

/// A master, its replica, and a directory with the password files.
struct Pair {
    master: Redis,
    replica: Redis,
    dir: tempfile::TempDir,
}

impl Pair {
    fn start() -> Pair {
        let master = Redis::start().expect("master starts");
        let replica = Redis::start_replica(&master).expect("replica starts");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("redis.pass"), master.password()).expect("file");
        std::fs::write(dir.path().join("wrong.pass"), "not-the-Secret-42").expect("file");
        wait_for(|| replica.replication_field("master_link_status").as_deref() == Some("up"));
        Pair {
            master,
            replica,
            dir,
        }
    }

    /// The check `extra` describes against the server on `port`.
    fn check(&self, port: u16, extra: &str) -> keepup_config::Config {
        let password = if extra.contains("password_file") {
            ""
        } else {
            "password_file = \"redis.pass\"\n"
        };
        let src = format!(
            "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"cache\"\nkind = \"redis\"\n\
             host = \"127.0.0.1\"\nport = {port}\n{password}{extra}\n"
        );
        load(self.dir.path(), &src)
    }
}

fn shared() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(Pair::start)
}

async fn run(config: &keepup_config::Config) -> Outcome {
    run_only(config, &ProbeContext::new()).await
}

fn redis(o: &Outcome) -> &serde_json::Value {
    &o.evidence.details["redis"]
}

#[tokio::test]
async fn a_master_and_its_replica_are_up_with_the_link_measured() {
    let pair = shared();
    let o = run(&pair.check(pair.master.port(), "role = \"primary\"\nreplicas = 1")).await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert!(
        o.message.starts_with("Redis primary at 127.0.0.1:"),
        "{}",
        o.message
    );
    let replicas = redis(&o)["replicas"].as_array().expect("replicas");
    assert_eq!(replicas.len(), 1, "{replicas:?}");
    assert_eq!(replicas[0]["state"], "online");
    assert!(replicas[0]["lag_bytes"].is_number(), "{replicas:?}");
    assert!(redis(&o)["used_memory"].as_f64().is_some_and(|m| m > 0.0));
    assert!(
        o.evidence
            .timing
            .as_ref()
            .and_then(|t| t.first_byte_ms)
            .is_some()
    );

    let o = run(&pair.check(pair.replica.port(), "role = \"replica\"")).await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert_eq!(redis(&o)["role"], "replica");
    assert_eq!(redis(&o)["master_link_status"], "up");
    assert!(redis(&o)["master_last_io_seconds_ago"].is_number());
}

/// An idle master is heard only at its PING period (10 s by default): the
/// replica's `master_last_io_seconds_ago` climbs to about 10 and falls
/// back, and the default `lag` stays quiet through the whole climb.
#[tokio::test]
async fn an_idle_replica_stays_up_through_a_ping_period() {
    let pair = shared();
    let config = pair.check(pair.replica.port(), "role = \"replica\"");
    let mut highest = 0.0_f64;
    let mut fell_after_climbing = false;
    // At most 300 runs 100 ms apart: more than two ping periods.
    for _ in 0..300 {
        let o = run(&config).await;
        assert_eq!(o.status, Status::Up, "{o:#?}");
        let seconds = redis(&o)["master_last_io_seconds_ago"]
            .as_f64()
            .expect("master_last_io_seconds_ago");
        if highest >= 8.0 && seconds < highest {
            fell_after_climbing = true;
            break;
        }
        highest = highest.max(seconds);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        fell_after_climbing,
        "the master's PING never showed (highest {highest} s)"
    );
}

#[tokio::test]
async fn a_wrong_or_missing_password_is_down_and_the_password_is_nowhere() {
    let pair = shared();
    let o = run(&pair.check(pair.master.port(), "password_file = \"wrong.pass\"")).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), ["REDIS_AUTH_FAILED"]);
    assert!(
        o.message
            .starts_with("Redis refused the login of user \"default\""),
        "{}",
        o.message
    );
    let all = serde_json::to_string(&o).expect("json");
    assert!(!all.contains("not-the-Secret-42"), "{all}");

    // No password configured: the server's NOAUTH, said plainly.
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"cache\"\nkind = \"redis\"\nhost = \"127.0.0.1\"\nport = {}\n",
        pair.master.port()
    );
    let config = keepup_config::load_str(&src, &pair.dir.path().join("k.toml")).expect("config");
    let o = run(&config).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), ["REDIS_AUTH_FAILED"]);
    assert_eq!(
        o.message,
        "Redis requires a password: give password_env or password_file"
    );
}

#[tokio::test]
async fn a_server_in_the_wrong_role_is_down() {
    let pair = shared();
    let o = run(&pair.check(pair.master.port(), "role = \"replica\"")).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), ["REDIS_ROLE_UNEXPECTED"]);
    assert_eq!(
        o.message,
        "the server is a primary, not the replica it should be"
    );
}

#[tokio::test]
async fn a_cut_link_a_lost_replica_and_full_memory_are_findings() {
    let pair = tokio::task::spawn_blocking(Pair::start)
        .await
        .expect("start");
    // Memory: used_memory against a maxmemory it nearly reaches.
    let used: u64 = pair
        .master
        .cli(&["INFO", "memory"])
        .expect("info")
        .lines()
        .find_map(|l| l.trim().strip_prefix("used_memory:")?.parse().ok())
        .expect("used_memory");
    let max = (used * 2).to_string();
    pair.master
        .cli(&["CONFIG", "SET", "maxmemory", &max])
        .expect("maxmemory");
    let o = run(&pair.check(
        pair.master.port(),
        "memory = { warn = \"30%\", crit = \"99%\" }",
    ))
    .await;
    assert_eq!(o.status, Status::Degraded, "{o:#?}");
    assert_eq!(codes(&o), ["REDIS_MEMORY_HIGH"]);
    assert_eq!(o.message, "30% or more of maxmemory is used");

    // The replica follows a master that is not there.
    let dead = keepup_testkit::ports::free_port(std::net::Ipv4Addr::LOCALHOST).expect("port");
    pair.replica
        .cli(&["REPLICAOF", "127.0.0.1", &dead.to_string()])
        .expect("replicaof");
    let o = run(&pair.check(pair.replica.port(), "role = \"replica\"")).await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    assert_eq!(codes(&o), ["REDIS_MASTER_LINK_DOWN"]);
    assert_eq!(o.message, "the replica's link to its master is down");

    // The master has lost its replica.
    let master = pair.check(pair.master.port(), "role = \"primary\"\nreplicas = 1");
    let mut o = run(&master).await;
    for _ in 0..100 {
        if codes(&o).contains(&"REDIS_REPLICAS_MISSING") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        o = run(&master).await;
    }
    assert_eq!(o.status, Status::Down, "{o:#?}");
    assert_eq!(codes(&o), ["REDIS_REPLICAS_MISSING"]);
    assert_eq!(o.message, "0 of the 1 expected replicas are online");
}

/// A check of the server on `port` with `timeout`, no password.
fn hostile_check(port: u16, timeout: &str) -> keepup_config::Config {
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"cache\"\nkind = \"redis\"\n\
         host = \"127.0.0.1\"\nport = {port}\ntimeout = \"{timeout}\"\n"
    );
    keepup_config::load_str(&src, std::path::Path::new("keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}"))
}

#[tokio::test]
async fn servers_that_never_answer_or_answer_too_much_end_the_run() {
    let silent = HostileServer::start(Behaviour::Silent)
        .await
        .expect("server");
    let o = run(&hostile_check(silent.port(), "2s")).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), ["PROBE_TIMEOUT"]);
    assert!(o.message.contains("waiting for PING"), "{}", o.message);

    // A reply announcing 100 MB is refused before it is read.
    let huge = HostileServer::start(Behaviour::Banner("$100000000\r\nxxxx".into()))
        .await
        .expect("server");
    let o = run(&hostile_check(huge.port(), "5s")).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), ["REDIS_PROTOCOL_ERROR"]);
    assert!(
        o.message.contains("larger than the 1 MiB a run reads"),
        "{}",
        o.message
    );

    // Something that is not Redis at all.
    let http = HostileServer::start(Behaviour::Banner("HTTP/1.1 400 Bad Request\r\n\r\n".into()))
        .await
        .expect("server");
    let o = run(&hostile_check(http.port(), "5s")).await;
    assert_eq!(codes(&o), ["REDIS_PROTOCOL_ERROR"]);
    assert!(o.message.contains("not a Redis reply"), "{}", o.message);
}

#[tokio::test]
async fn tls_is_verified_against_the_ca_file_before_the_password_goes() {
    use keepup_testkit::pki::{CertAuthority, validity};
    let ca = CertAuthority::new("keepup test cache CA").expect("CA");
    let issued = ca
        .issue(&["cache.test"], validity::current())
        .expect("leaf");
    let server = tokio::task::spawn_blocking(move || Redis::start_with_tls(&issued))
        .await
        .expect("join")
        .expect("redis-server with TLS starts");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("redis.pass"), server.password()).expect("file");
    std::fs::write(dir.path().join("ca.pem"), ca.root_pem()).expect("file");
    let ctx = || {
        ProbeContext::builder()
            .system_roots(false)
            .resolve_override("cache.test", [std::net::IpAddr::from([127, 0, 0, 1])])
            .build()
    };
    let check = |extra: &str| {
        let src = format!(
            "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"cache\"\nkind = \"redis\"\n\
             host = \"cache.test\"\nport = {}\npassword_file = \"redis.pass\"\ntls = \"require\"\n{extra}\n",
            server.port(),
        );
        load(dir.path(), &src)
    };
    let config = check("[site.check.certificate]\nca_file = \"ca.pem\"");
    let o = run_only(&config, &ctx()).await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert!(
        o.evidence.details["tls"]["handshake"]["protocol"].is_string(),
        "{o:#?}"
    );

    let config = check("");
    let o = run_only(&config, &ctx()).await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    assert!(
        o.findings.iter().all(|f| f.code.starts_with("TLS_")),
        "{o:#?}"
    );
    assert!(!o.evidence.details.contains_key("redis"), "{o:#?}");
}
