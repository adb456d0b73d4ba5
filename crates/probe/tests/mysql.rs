//! `kind = "mysql"` against real MariaDB servers from Debian's
//! `mariadb-server`: a primary writing a binary log and a replica of it
//! (`CHANGE MASTER TO`, `START SLAVE`), on loopback (testkit). The checks
//! are loaded from TOML and run through the probe dispatcher, as the daemon
//! runs them.
//!
//! The read-only tests share one pair; the test that stops the replica's
//! SQL thread has a pair of its own. A single-node Galera cluster (Debian's
//! `galera-4` provider, bootstrapped with `gcomm://` on loopback) gives the
//! Galera findings a real `wsrep_*` status to read.

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;
use keepup_testkit::hostile::{Behaviour, HostileServer};
use keepup_testkit::mariadb::MariaDb;
use support::{codes, load, run_only, wait_for};

/// A primary, its replica, and a directory with the password files.
struct Pair {
    primary: MariaDb,
    replica: MariaDb,
    dir: tempfile::TempDir,
}

impl Pair {
    fn start() -> Pair {
        let primary = MariaDb::start_primary().expect("primary starts");
        let replica = MariaDb::start_replica(&primary).expect("replica starts");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("db.pass"), primary.password()).expect("file");
        std::fs::write(dir.path().join("wrong.pass"), "not-the-Secret-42").expect("file");
        wait_for(|| threads(&replica) == ("Yes".into(), "Yes".into()));
        Pair {
            primary,
            replica,
            dir,
        }
    }

    /// The check `extra` describes against `server`.
    fn check(&self, server: &MariaDb, extra: &str) -> keepup_config::Config {
        check_in(self.dir.path(), server, extra)
    }
}

/// The check `extra` describes against `server`, its password in
/// `dir/db.pass` unless `extra` names a file.
fn check_in(dir: &std::path::Path, server: &MariaDb, extra: &str) -> keepup_config::Config {
    let password = if extra.contains("password_file") {
        ""
    } else {
        "password_file = \"db.pass\"\n"
    };
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"db\"\nkind = \"mysql\"\n\
         host = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\n{password}{extra}\n",
        server.port(),
        server.user(),
    );
    load(dir, &src)
}

/// The replica's IO and SQL threads as `SHOW SLAVE STATUS` says them
/// (its 11th and 12th columns, `Slave_IO_Running` and `Slave_SQL_Running`).
fn threads(replica: &MariaDb) -> (String, String) {
    let status = replica.sql("SHOW SLAVE STATUS;").unwrap_or_default();
    let fields: Vec<&str> = status.split('\t').collect();
    let field = |i: usize| fields.get(i).map_or(String::new(), |f| f.trim().to_owned());
    (field(10), field(11))
}

fn shared() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(Pair::start)
}

async fn run(config: &keepup_config::Config) -> Outcome {
    run_only(config, &ProbeContext::new()).await
}

fn mysql(o: &Outcome) -> &serde_json::Value {
    &o.evidence.details["mysql"]
}

#[tokio::test]
async fn a_primary_and_its_replica_are_up_with_the_threads_and_lag_read() {
    let pair = shared();
    let o = run(&pair.check(&pair.primary, "role = \"primary\"")).await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert!(
        o.message.starts_with("MySQL primary at 127.0.0.1:"),
        "{}",
        o.message
    );
    assert!(
        mysql(&o)["connections"].as_f64().is_some_and(|n| n >= 1.0),
        "{o:#?}"
    );
    assert!(
        mysql(&o)["max_connections"]
            .as_f64()
            .is_some_and(|n| n > 1.0)
    );
    assert!(
        mysql(&o)["version"]
            .as_str()
            .is_some_and(|v| v.contains("MariaDB"))
    );

    let o = run(&pair.check(&pair.replica, "role = \"replica\"")).await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert_eq!(mysql(&o)["role"], "replica");
    assert_eq!(mysql(&o)["io_running"], "Yes");
    assert_eq!(mysql(&o)["sql_running"], "Yes");
    assert!(mysql(&o)["seconds_behind"].is_number(), "{o:#?}");
}

#[tokio::test]
async fn a_wrong_password_and_the_wrong_role_are_down() {
    let pair = shared();
    let o = run(&pair.check(&pair.primary, "password_file = \"wrong.pass\"")).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), ["MYSQL_AUTH_FAILED"]);
    assert!(
        o.message.contains("Access denied for user 'keepup'"),
        "{}",
        o.message
    );
    let all = serde_json::to_string(&o).expect("json");
    assert!(!all.contains("not-the-Secret-42"), "{all}");

    let o = run(&pair.check(&pair.primary, "role = \"replica\"")).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), ["MYSQL_ROLE_UNEXPECTED"]);
    let o = run(&pair.check(&pair.replica, "role = \"primary\"")).await;
    assert_eq!(codes(&o), ["MYSQL_ROLE_UNEXPECTED"]);
}

#[tokio::test]
async fn a_stopped_sql_thread_and_a_lost_primary_are_findings() {
    let mut pair = tokio::task::spawn_blocking(Pair::start)
        .await
        .expect("start");
    pair.replica
        .sql("STOP SLAVE SQL_THREAD;")
        .expect("stop the SQL thread");
    let replica = pair.check(&pair.replica, "role = \"replica\"");
    let o = run(&replica).await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    assert_eq!(codes(&o), ["MYSQL_REPLICA_SQL_STOPPED"]);
    assert_eq!(o.message, "the replica's SQL thread is No, not running");

    pair.replica.sql("START SLAVE SQL_THREAD;").expect("start");
    wait_for(|| threads(&pair.replica).1 == "Yes");
    // The primary goes away: the IO thread loses it and says why.
    pair.primary.kill();
    let mut o = run(&replica).await;
    for _ in 0..100 {
        if codes(&o).contains(&"MYSQL_REPLICA_IO_STOPPED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        o = run(&replica).await;
    }
    assert_eq!(o.status, Status::Down, "{o:#?}");
    assert_eq!(codes(&o), ["MYSQL_REPLICA_IO_STOPPED"]);
    assert!(
        o.message
            .starts_with("the replica's IO thread is Connecting, not running"),
        "{}",
        o.message
    );
}

#[tokio::test]
async fn a_single_node_galera_cluster_is_synced_and_smaller_than_two() {
    let (node, dir) = tokio::task::spawn_blocking(|| {
        let node = MariaDb::start_galera().expect("a Galera node starts");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("db.pass"), node.password()).expect("file");
        (node, dir)
    })
    .await
    .expect("start");

    let o = run(&check_in(dir.path(), &node, "")).await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert_eq!(mysql(&o)["galera"]["cluster_size"], 1, "{o:#?}");
    assert_eq!(mysql(&o)["galera"]["local_state"], "Synced");
    assert_eq!(mysql(&o)["galera"]["cluster_status"], "Primary");

    let o = run(&check_in(dir.path(), &node, "cluster_size = 2")).await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    assert_eq!(codes(&o), ["MYSQL_GALERA_CLUSTER_SMALL"]);
    assert_eq!(
        o.message,
        "the Galera cluster has 1 of the 2 expected nodes"
    );

    // A desynchronised node (as while it donates a state transfer) is
    // not Synced.
    node.sql("SET GLOBAL wsrep_desync = ON;").expect("desync");
    let o = run(&check_in(dir.path(), &node, "")).await;
    assert_eq!(codes(&o), ["MYSQL_GALERA_NOT_SYNCED"], "{o:#?}");
    assert_eq!(
        o.message,
        "the Galera node is \"Donor/Desynced\", not Synced"
    );
}

fn hostile_check(port: u16, timeout: &str) -> keepup_config::Config {
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"db\"\nkind = \"mysql\"\n\
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
    assert!(
        o.message.contains("waiting for the greeting"),
        "{}",
        o.message
    );

    // A packet header announcing 8 MB is refused before it is read.
    let huge = HostileServer::start(Behaviour::Banner("\u{7f}\u{7f}\u{7f}\u{0}".into()))
        .await
        .expect("server");
    let o = run(&hostile_check(huge.port(), "5s")).await;
    assert_eq!(codes(&o), ["MYSQL_CONNECTION_FAILED"]);
    assert!(
        o.message.contains("larger than the 1 MiB a run reads"),
        "{}",
        o.message
    );

    let http = HostileServer::start(Behaviour::Banner("HTTP/1.1 400 Bad Request\r\n\r\n".into()))
        .await
        .expect("server");
    let o = run(&hostile_check(http.port(), "5s")).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), ["MYSQL_CONNECTION_FAILED"], "{o:#?}");
}

#[tokio::test]
async fn tls_is_verified_against_the_ca_file_before_the_password_goes() {
    use keepup_testkit::pki::{CertAuthority, validity};
    let ca = CertAuthority::new("keepup test db CA").expect("CA");
    let issued = ca.issue(&["db.test"], validity::current()).expect("leaf");
    let server = tokio::task::spawn_blocking(move || MariaDb::start_with_tls(&issued))
        .await
        .expect("join")
        .expect("MariaDB with TLS starts");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("db.pass"), server.password()).expect("file");
    std::fs::write(dir.path().join("ca.pem"), ca.root_pem()).expect("file");
    let ctx = || {
        ProbeContext::builder()
            .system_roots(false)
            .resolve_override("db.test", [std::net::IpAddr::from([127, 0, 0, 1])])
            .build()
    };
    let check = |extra: &str| {
        let src = format!(
            "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"db\"\nkind = \"mysql\"\n\
             host = \"db.test\"\nport = {}\nuser = \"{}\"\npassword_file = \"db.pass\"\n\
             tls = \"require\"\n{extra}\n",
            server.port(),
            server.user(),
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
    assert!(!o.evidence.details.contains_key("mysql"), "{o:#?}");

    // A server without TLS, when TLS is required.
    let pair = shared();
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"db\"\nkind = \"mysql\"\n\
         host = \"127.0.0.1\"\nport = {}\npassword_file = \"db.pass\"\ntls = \"require\"\n",
        pair.primary.port()
    );
    let config = load(dir.path(), &src);
    let o = run(&config).await;
    assert_eq!(codes(&o), ["MYSQL_TLS_UNAVAILABLE"], "{o:#?}");
}

/// The size `information_schema` gives the schema `db` (or every schema
/// but the virtual ones), as the server's own client reads it.
fn schema_size(server: &MariaDb, db: Option<&str>) -> f64 {
    let filter = db.map_or_else(String::new, |d| format!("AND table_schema = '{d}'"));
    server
        .sql(&format!(
            "SELECT coalesce(sum(data_length + index_length), 0) FROM information_schema.tables \
             WHERE table_schema NOT IN ('information_schema', 'performance_schema') {filter};"
        ))
        .expect("size query")
        .trim()
        .parse()
        .expect("a number")
}

#[tokio::test]
async fn the_size_of_the_schema_logged_into_or_of_all_is_measured() {
    let pair = shared();
    let server = &pair.primary;
    server.create_database("sized").expect("a database");
    // seq_1_to_5000: MariaDB's sequence engine, which wants a database.
    server
        .sql_in(
            "sized",
            "CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, pad CHAR(200), KEY (pad)) ENGINE=InnoDB; \
             INSERT INTO t (pad) SELECT REPEAT('x', 200) FROM seq_1_to_5000; \
             ANALYZE TABLE t;",
        )
        .expect("a table filled");
    // The size is read only when a forecast follows it.
    let o = run(&pair.check(server, "database = \"sized\"")).await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert!(mysql(&o)["database_size_bytes"].is_null(), "{o:#?}");
    const SIZED: &str = "forecast = { measure = \"size\", limit = \"1GiB\" }";
    let o = run(&pair.check(server, &format!("database = \"sized\"\n{SIZED}"))).await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    let size = mysql(&o)["database_size_bytes"].as_f64().expect("a size");
    // 5,000 rows of 200 characters and their index: more than a MiB, and
    // what information_schema says.
    assert!(size > 1024.0 * 1024.0, "{size}");
    assert_eq!(size, schema_size(server, Some("sized")), "{o:#?}");
    assert_eq!(mysql(&o)["database"], "sized");
    assert_eq!(mysql(&o)["database_tables"], 1);
    // Without a database: every schema's, the system schemas with it.
    let o = run(&pair.check(server, SIZED)).await;
    let all = mysql(&o)["database_size_bytes"].as_f64().expect("a size");
    assert_eq!(all, schema_size(server, None), "{o:#?}");
    assert!(all > size, "{all} {size}");
    // A schema that does not exist is the server's refusal, said.
    let o = run(&pair.check(server, "database = \"no_such_db\"")).await;
    assert_eq!(o.status, Status::Down, "{o:#?}");
    assert!(
        o.findings[0].text.contains("Unknown database 'no_such_db'"),
        "{o:#?}"
    );
}
