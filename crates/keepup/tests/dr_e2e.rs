//! Disaster recovery end to end, driven through the real `keepup` binary as
//! an operator would: a shop served on production's loopback address from
//! its files and its PostgreSQL database, found by name through a Knot
//! primary and secondary (the http check resolves `www.drshop.test` with
//! `[dns] resolve_hosts = "resolver"`, so it follows the DNS switch);
//! `keepup backup run`; production killed (its web server and database
//! stopped); `keepup dr activate --yes` restores the files onto the standby
//! (one path locally, one over a private sshd with rsync), imports the dump
//! into the standby's PostgreSQL, switches DNS with TSIG-signed updates,
//! and verifies with the http check; `keepup dr status` shows the measured
//! RPO and RTO. New orders are taken on the standby, then `keepup dr return
//! --yes` puts production into maintenance, backs the standby up (a
//! `command` step running `keepup backup run`), restores its files and
//! database into the rebuilt production, switches DNS back, verifies and
//! ends the maintenance: production serves the standby's new orders.
//!
//! A second test kills the activation with SIGKILL after the data steps
//! and before the DNS switch, resumes it with `keepup dr resume`, and
//! reaches the same end state without repeating a finished step.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use keepup_store::{DrStepOutcome, Store};
use keepup_testkit::dns::{UPDATE_KEY_SHA256, UPDATE_ZONE, UpdatableZone, UpdatePolicy};
use keepup_testkit::postgres::Postgres;
use keepup_testkit::shopdata::ShopSize;
use keepup_testkit::sshd::Sshd;

/// Orders the shop starts with (`ShopSize::tiny`).
const SHOP_SEED: u64 = 15;
/// The orders taken on the standby while production is down.
const NEW_ORDERS: [i64; 3] = [900_001, 900_002, 900_003];

fn keepup(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keepup"))
        .env_remove("KEEPUP_CONFIG")
        .args(args)
        .arg("-c")
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .expect("keepup runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn succeeded(o: Output) -> String {
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    t
}

/// A web shop as small as can be: `GET /` answers the shop's front page
/// (`index.html` of its document root) and the number of orders in its
/// PostgreSQL database (asked with `psql` at each request), or 503 naming
/// what is missing. Stops when dropped.
struct ShopServer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Where a shop's data is.
#[derive(Clone)]
struct ShopData {
    docroot: PathBuf,
    db_port: u16,
    db_user: String,
    db_password: String,
}

impl ShopServer {
    fn start(addr: SocketAddr, data: ShopData) -> Self {
        let listener = TcpListener::bind(addr).expect("bind the shop");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &data),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ShopServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, data: &ShopData) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    // The request head; nothing in it matters but its end.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        line.clear();
    }
    let (status, body) = match page(data) {
        Ok(body) => ("200 OK", body),
        Err(why) => ("503 Service Unavailable", why),
    };
    let mut stream = &stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn page(data: &ShopData) -> Result<String, String> {
    let front = std::fs::read_to_string(data.docroot.join("index.html"))
        .map_err(|e| format!("no front page: {e}\n"))?;
    let out = Command::new("psql")
        .env("PGPASSWORD", &data.db_password)
        .args(["-h", "127.0.0.1", "-p", &data.db_port.to_string()])
        .args(["-U", &data.db_user, "-d", "shop", "-X", "-tAc"])
        .arg("SELECT count(*) FROM orders")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("psql: {e}\n"))?;
    if !out.status.success() {
        return Err(format!(
            "no database: {}\n",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(format!(
        "{front}orders: {}\n",
        String::from_utf8_lossy(&out.stdout).trim()
    ))
}

/// What `GET /` of the shop at `addr` answers (status line and body), or
/// the connection's error.
fn fetch(addr: SocketAddr) -> String {
    let mut stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(e) => return format!("connect: {e}"),
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(stream, "GET / HTTP/1.1\r\nHost: www.{UPDATE_ZONE}\r\n\r\n");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// Everything the scenario runs on, each on its own loopback addresses.
struct World {
    dir: tempfile::TempDir,
    zone: UpdatableZone,
    sshd: Sshd,
    production_db: Postgres,
    standby_db: Postgres,
    production_ip: Ipv4Addr,
    standby_ip: Ipv4Addr,
    port: u16,
    orders_at_start: u64,
    config: PathBuf,
}

impl World {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // A /24 of its own per test process and world.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = (std::process::id() + NEXT.fetch_add(1, Ordering::SeqCst) * 7) % 250 + 1;
        let production_ip = Ipv4Addr::new(127, 57, n as u8, 10);
        let standby_ip = Ipv4Addr::new(127, 57, n as u8, 20);
        let port = (0..20)
            .find_map(|_| {
                let port = keepup_testkit::ports::free_port(production_ip).ok()?;
                TcpListener::bind((standby_ip, port)).ok().map(|_| port)
            })
            .expect("a port free on both addresses");
        let zone = UpdatableZone::start_serving(UpdatePolicy::default(), production_ip)
            .expect("Knot primary and secondary");
        let sshd = Sshd::start().expect("sshd");
        let production_db = Postgres::start().expect("production postgres");
        let standby_db = Postgres::start().expect("standby postgres");
        let counts = production_db
            .load_shop("shop", &ShopSize::tiny(), SHOP_SEED)
            .expect("the shop's data");
        let mut world = Self {
            dir,
            zone,
            sshd,
            production_db,
            standby_db,
            production_ip,
            standby_ip,
            port,
            orders_at_start: counts.orders,
            config: PathBuf::new(),
        };
        world.write_production_files();
        world.config = world.write_config();
        world
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Production's document root and its configuration directory.
    fn write_production_files(&self) {
        let www = self.path("production/www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("index.html"), "Welcome to the shop\n").unwrap();
        std::fs::create_dir_all(www.join("media")).unwrap();
        std::fs::write(www.join("media/logo.png"), [0x89u8, b'P', b'N', b'G']).unwrap();
        let conf = self.path("production/conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(conf.join("shop.ini"), "currency = EUR\n").unwrap();
    }

    fn shop_addr(&self, ip: Ipv4Addr) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(ip), self.port)
    }

    fn production_data(&self, db: &Postgres) -> ShopData {
        ShopData {
            docroot: self.path("production/www"),
            db_port: db.port(),
            db_user: db.user().into(),
            db_password: db.password().into(),
        }
    }

    fn standby_data(&self) -> ShopData {
        ShopData {
            // Where the activation's local restore_files step puts it.
            docroot: self
                .path("standby")
                .join(self.path("production/www").strip_prefix("/").unwrap()),
            db_port: self.standby_db.port(),
            db_user: self.standby_db.user().into(),
            db_password: self.standby_db.password().into(),
        }
    }

    /// Where the activation's remote restore_files step puts production's
    /// configuration directory on the standby host (sshd's storage).
    fn standby_conf(&self) -> PathBuf {
        self.sshd
            .storage_dir()
            .join("standby")
            .join(self.path("production/conf").strip_prefix("/").unwrap())
    }

    /// The configuration; `pause` adds a command step between the data
    /// steps and the DNS switch that waits for the file `go`.
    fn config_text(&self, production_db_port: u16, pause: bool) -> String {
        let d = self.dir.path().display();
        let keepup = env!("CARGO_BIN_EXE_keepup");
        let pause_step = if pause {
            format!(
                "[[recovery.activate]]\nkind = \"command\"\nname = \"hold\"\nrun = [\"sh\", \"-c\", \"echo $$ > {d}/hold.pid; test -e {d}/go || exec sleep 300\"]\n\n"
            )
        } else {
            String::new()
        };
        format!(
            r#"[store]
path = "{d}/keepup.db"

[dns]
root_hints = ["{root}"]
port = {dns_port}
resolver = ["{secondary}"]
resolve_hosts = "resolver"
query_timeout = "1s"
ipv6 = false

[[site]]
id = "shop"
[[site.check]]
id = "front"
kind = "http"
url = "http://www.{UPDATE_ZONE}:{port}/"
contains = ["Welcome to the shop", "orders: "]
timeout = "5s"

[[channel]]
id = "ops"
kind = "webhook"
url = "http://127.0.0.1:9/ticket"

[[backup]]
id = "production"
allow_single_target = true
password_file = "{d}/repo.pass"
[[backup.source]]
kind = "paths"
paths = ["{d}/production/www", "{d}/production/conf"]
[[backup.source]]
kind = "postgres"
host = "127.0.0.1"
port = {production_db_port}
user = "{pg_user}"
dbname = "shop"
password_file = "{d}/production-db.pass"
[[backup.target]]
id = "offsite"
repository = "{d}/repo-production"

[[backup]]
id = "standby"
allow_single_target = true
password_file = "{d}/repo.pass"
[[backup.source]]
kind = "paths"
paths = ["{standby_www}"]
[[backup.source]]
kind = "postgres"
host = "127.0.0.1"
port = {standby_db_port}
user = "{pg_user}"
dbname = "shop"
password_file = "{d}/standby-db.pass"
[[backup.target]]
id = "offsite"
repository = "{d}/repo-standby"

[[recovery]]
id = "shop-dr"
site = "shop"
rto = "1h"
rpo = "2h"
rpo_query = "SELECT max(created_at) FROM orders"
[recovery.production]
addresses = ["{production_ip}"]
[recovery.standby]
addresses = ["{standby_ip}"]
[[recovery.standby.host]]
name = "web"
ssh = "{ssh_user}@127.0.0.1"
ssh_port = {ssh_port}
ssh_identity_file = "{identity}"
ssh_known_hosts_file = "{known_hosts}"
[[recovery.tsig_key]]
id = "shop-key"
name = "{UPDATE_KEY_SHA256}"
algorithm = "hmac-sha256"
secret_file = "{d}/tsig.key"

[[recovery.activate]]
kind = "restore_files"
name = "shop files"
backup = "production"
paths = ["{d}/production/www"]
to = "{d}/standby"

[[recovery.activate]]
kind = "restore_files"
name = "shop configuration"
backup = "production"
paths = ["{d}/production/conf"]
to = "{remote}"
host = "web"

[[recovery.activate]]
kind = "restore_database"
name = "shop database"
backup = "production"
db_host = "127.0.0.1"
db_port = {standby_db_port}
db_user = "{pg_user}"
database = "shop"
password_file = "{d}/standby-db.pass"
check_query = "SELECT id FROM orders LIMIT 1"

{pause_step}[[recovery.activate]]
kind = "dns"
name = "point www at the standby"
zone = "{UPDATE_ZONE}"
names = ["www.{UPDATE_ZONE}"]
server = "{primary}"
key = "shop-key"
ttl = 1
verify_timeout = "30s"

[[recovery.activate]]
kind = "verify"
checks = ["front"]
deadline = "2m"
interval = "1s"

[[recovery.activate]]
kind = "notify"
channels = ["ops"]
message = "DR activated"

[[recovery.return]]
kind = "maintenance"
action = "start"
duration = "2h"

[[recovery.return]]
kind = "command"
name = "back up the standby"
run = ["{keepup}", "backup", "run", "standby", "-c", "{config}"]
timeout = "5m"

[[recovery.return]]
kind = "restore_files"
name = "files back to production"
backup = "standby"
paths = ["{standby_www}"]
to = "{d}/returned"

[[recovery.return]]
kind = "command"
name = "put the files in place"
run = ["sh", "-c", "cp -a {d}/returned{standby_www}/. {d}/production/www/"]

[[recovery.return]]
kind = "restore_database"
name = "database back to production"
backup = "standby"
db_host = "127.0.0.1"
db_port = {production_db_port}
db_user = "{pg_user}"
database = "shop"
password_file = "{d}/production-db.pass"
check_query = "SELECT id FROM orders LIMIT 1"

[[recovery.return]]
kind = "dns"
name = "point www at production"
zone = "{UPDATE_ZONE}"
names = ["www.{UPDATE_ZONE}"]
server = "{primary}"
key = "shop-key"
ttl = 1
verify_timeout = "30s"

[[recovery.return]]
kind = "verify"
checks = ["front"]
deadline = "2m"
interval = "1s"

[[recovery.return]]
kind = "maintenance"
action = "end"

[[recovery.return]]
kind = "notify"
channels = ["ops"]
message = "Returned to production"
"#,
            root = self.zone.root_hints()[0],
            dns_port = self.zone.port(),
            secondary = self.zone.secondary(),
            primary = self.zone.primary(),
            port = self.port,
            pg_user = self.production_db.user(),
            standby_db_port = self.standby_db.port(),
            standby_www = self.standby_data().docroot.display(),
            production_ip = self.production_ip,
            standby_ip = self.standby_ip,
            ssh_user = self.sshd.user(),
            ssh_port = self.sshd.port(),
            identity = self.sshd.identity_file().display(),
            known_hosts = self.sshd.known_hosts_file().display(),
            remote = self.sshd.storage_dir().join("standby").display(),
            config = self.path("keepup.toml").display(),
        )
    }

    fn write_config(&self) -> PathBuf {
        std::fs::write(self.path("repo.pass"), "repository password\n").unwrap();
        std::fs::write(
            self.path("production-db.pass"),
            self.production_db.password(),
        )
        .unwrap();
        std::fs::write(self.path("standby-db.pass"), self.standby_db.password()).unwrap();
        std::fs::write(self.path("tsig.key"), self.zone.sha256_secret()).unwrap();
        let config = self.path("keepup.toml");
        std::fs::write(&config, self.config_text(self.production_db.port(), false)).unwrap();
        config
    }

    /// Production up and backed up: both repositories made, production's
    /// backup run once.
    fn back_up_production(&self) {
        for plan in ["production", "standby"] {
            std::fs::create_dir_all(self.path(&format!("repo-{plan}"))).unwrap();
            succeeded(keepup(&self.config, &["backup", "init", plan]));
        }
        succeeded(keepup(&self.config, &["backup", "run", "production"]));
    }

    /// The A records `server` gives for `www`.
    fn www_at(&self, server: SocketAddr) -> Vec<String> {
        let out = Command::new("kdig")
            .arg(format!("@{}", server.ip()))
            .args(["-p", &server.port().to_string()])
            .args(["+norec", "+short", &format!("www.{UPDATE_ZONE}"), "A"])
            .stdin(Stdio::null())
            .output()
            .expect("kdig (Debian knot-dnsutils) runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// What every activation ends in, interrupted or not.
    fn assert_activated(&self, run: i64) {
        // Files: locally and on the standby host, byte for byte.
        let standby = self.standby_data();
        assert_eq!(
            std::fs::read(standby.docroot.join("media/logo.png")).unwrap(),
            std::fs::read(self.path("production/www/media/logo.png")).unwrap()
        );
        assert_eq!(
            std::fs::read_to_string(self.standby_conf().join("shop.ini")).unwrap(),
            "currency = EUR\n"
        );
        assert_eq!(
            self.standby_db.shop_counts("shop").unwrap().orders,
            self.orders_at_start
        );
        // DNS: both authoritative servers send www to the standby.
        for server in [self.zone.primary(), self.zone.secondary()] {
            assert_eq!(self.www_at(server), vec![self.standby_ip.to_string()]);
        }
        // The checks followed the name to the standby.
        let checked = keepup(&self.config, &["check", "--check", "front"]);
        assert!(checked.status.success(), "{}", text(&checked));
        // The figures.
        let status = succeeded(keepup(&self.config, &["dr", "status", &run.to_string()]));
        assert!(
            status.contains(&format!("Run {run} of plan shop-dr: activate, completed")),
            "{status}"
        );
        assert!(status.contains("Measured RTO: "), "{status}");
        assert!(status.contains("Measured RPO: "), "{status}");
        let journal = format!("{:?}", self.store().dr_steps(run).unwrap());
        for secret in [
            self.zone.sha256_secret(),
            self.standby_db.password(),
            self.production_db.password(),
        ] {
            assert!(!journal.contains(secret), "a secret in the journal");
        }
    }

    fn store(&self) -> Store {
        Store::open(&self.path("keepup.db")).expect("the store")
    }

    /// Orders taken on the standby while production is down.
    fn take_orders_on_the_standby(&self) {
        let values: Vec<String> = NEW_ORDERS
            .iter()
            .map(|id| format!("({id}, 1, 'new', now(), 4200)"))
            .collect();
        self.standby_db
            .psql_in(
                "shop",
                &format!("INSERT INTO orders VALUES {}", values.join(", ")),
            )
            .expect("new orders");
    }
}

/// The run number `keepup dr activate|return` printed ("run N").
fn run_number(out: &str) -> i64 {
    out.split("run ")
        .skip(1)
        .find_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("no run number in {out}"))
}

#[test]
fn production_is_lost_activated_on_the_standby_and_returned_with_the_new_orders() {
    let mut world = World::start();
    let production_shop = ShopServer::start(
        world.shop_addr(world.production_ip),
        world.production_data(&world.production_db),
    );
    let _standby_shop = ShopServer::start(world.shop_addr(world.standby_ip), world.standby_data());
    // The check finds production by name.
    let checked = keepup(&world.config, &["check", "--check", "front"]);
    assert!(checked.status.success(), "{}", text(&checked));
    world.back_up_production();

    // Production is lost: its web server and its database stop.
    drop(production_shop);
    world.production_db.kill();
    let down = keepup(&world.config, &["check", "--check", "front"]);
    assert!(!down.status.success(), "{}", text(&down));

    let dry = succeeded(keepup(&world.config, &["dr", "plan", "shop-dr"]));
    assert!(dry.contains("Dry run: nothing was changed."), "{dry}");
    let activated = succeeded(keepup(
        &world.config,
        &["dr", "activate", "shop-dr", "--yes"],
    ));
    let run = run_number(&activated);
    world.assert_activated(run);

    // Business goes on at the standby.
    world.take_orders_on_the_standby();
    assert!(
        fetch(world.shop_addr(world.standby_ip))
            .contains(&format!("orders: {}", world.orders_at_start + 3)),
        "the standby serves its new orders"
    );

    // Production is rebuilt (a new, empty database server) and its web
    // server runs; the return brings the standby's data back.
    let rebuilt = Postgres::start().expect("rebuilt production postgres");
    std::fs::write(world.path("production-db.pass"), rebuilt.password()).unwrap();
    std::fs::write(&world.config, world.config_text(rebuilt.port(), false)).unwrap();
    std::fs::remove_dir_all(world.path("production/www")).unwrap();
    std::fs::create_dir_all(world.path("production/www")).unwrap();
    let _production_shop = ShopServer::start(
        world.shop_addr(world.production_ip),
        world.production_data(&rebuilt),
    );
    let returned = succeeded(keepup(&world.config, &["dr", "return", "shop-dr", "--yes"]));
    let back = run_number(&returned);
    let status = succeeded(keepup(&world.config, &["dr", "status", &back.to_string()]));
    assert!(
        status.contains(&format!("Run {back} of plan shop-dr: return, completed")),
        "{status}"
    );

    for server in [world.zone.primary(), world.zone.secondary()] {
        assert_eq!(world.www_at(server), vec![world.production_ip.to_string()]);
    }
    let counts = rebuilt.shop_counts("shop").unwrap();
    assert_eq!(counts.orders, world.orders_at_start + 3);
    let ids = rebuilt
        .psql_in(
            "shop",
            "SELECT id FROM orders WHERE id >= 900000 ORDER BY id",
        )
        .unwrap();
    assert_eq!(
        ids.split_whitespace().collect::<Vec<_>>(),
        NEW_ORDERS.map(|i| i.to_string())
    );
    let page = fetch(world.shop_addr(world.production_ip));
    assert!(
        page.contains("200 OK") && page.contains(&format!("orders: {}", world.orders_at_start + 3)),
        "{page}"
    );
    let checked = keepup(&world.config, &["check", "--check", "front"]);
    assert!(checked.status.success(), "{}", text(&checked));
    // The maintenance window the return opened is closed.
    let steps = world.store().dr_steps(back).unwrap();
    assert!(
        steps.iter().all(|s| s.outcome == DrStepOutcome::Succeeded),
        "{steps:?}"
    );
}

#[test]
fn an_activation_killed_before_the_dns_switch_is_resumed_to_the_same_end_state() {
    let mut world = World::start();
    std::fs::write(
        &world.config,
        world.config_text(world.production_db.port(), true),
    )
    .unwrap();
    let production_shop = ShopServer::start(
        world.shop_addr(world.production_ip),
        world.production_data(&world.production_db),
    );
    let _standby_shop = ShopServer::start(world.shop_addr(world.standby_ip), world.standby_data());
    world.back_up_production();
    drop(production_shop);
    world.production_db.kill();

    let mut child = Command::new(env!("CARGO_BIN_EXE_keepup"))
        .env_remove("KEEPUP_CONFIG")
        .args(["dr", "activate", "shop-dr", "--yes", "-c"])
        .arg(&world.config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("keepup runs");
    // Killed once the data steps are done and the run waits before the
    // DNS switch (bounded: the test fails rather than hangs).
    let pid_file = world.path("hold.pid");
    let begun = Instant::now();
    while !pid_file.exists() {
        assert!(
            begun.elapsed() < Duration::from_secs(300),
            "the activation never reached the hold"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the activation ended early: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    if let Ok(pid) = std::fs::read_to_string(&pid_file)
        .unwrap_or_default()
        .trim()
        .parse::<i32>()
    {
        // The hold's process group outlives keepup.
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{pid}")])
            .status();
    }
    // Nothing switched yet: DNS still names production.
    for server in [world.zone.primary(), world.zone.secondary()] {
        assert_eq!(world.www_at(server), vec![world.production_ip.to_string()]);
    }
    let run = world
        .store()
        .dr_runs(Some("shop-dr"), 10)
        .unwrap()
        .first()
        .map(|r| r.id)
        .expect("the run is journaled");

    std::fs::write(world.path("go"), "").unwrap();
    let resumed = succeeded(keepup(
        &world.config,
        &["dr", "resume", &run.to_string(), "--yes"],
    ));
    for step in ["shop files", "shop configuration", "shop database"] {
        assert!(
            resumed.contains(&format!("{step}: done earlier, skipped")),
            "{resumed}"
        );
    }
    world.assert_activated(run);
    let steps = world.store().dr_steps(run).unwrap();
    let attempts: Vec<(String, u32)> = steps.iter().map(|s| (s.name.clone(), s.attempts)).collect();
    assert_eq!(
        attempts.iter().map(|(_, a)| *a).collect::<Vec<_>>(),
        [1, 1, 1, 2, 1, 1, 1],
        "the finished steps ran once, the interrupted hold twice: {attempts:?}"
    );
}
