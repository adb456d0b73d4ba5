//! A private MariaDB server (the Debian `mariadb-server` package) for the
//! backup tests and benchmarks.
//!
//! [`MariaDb::start`] runs `mariadb-install-db` into a temporary directory
//! and starts `mariadbd` on `127.0.0.1` and a free port, as the `mysql`
//! system user when the tests run as root. Durability is relaxed (no
//! binary log, no doublewrite, the redo log flushed once a second) for
//! speed.
//!
//! Clients under test connect over TCP as [`MARIADB_USER`] with
//! [`MARIADB_PASSWORD`] (a user with every privilege, created at start);
//! the helpers here ([`MariaDb::sql`], [`MariaDb::load_shop`]) connect as
//! `root` on the Unix socket in the server's directory.
//!
//! [`MariaDb::start_primary`] starts one that writes a binary log, and
//! [`MariaDb::start_replica`] a replica of it (`CHANGE MASTER TO` the
//! primary's current log position, `START SLAVE`), for the replication
//! checks' tests.
//!
//! [`MariaDb::start_galera`] starts a single-node Galera cluster (Debian's
//! `galera-4` provider, bootstrapped with `gcomm://`, group communication
//! on `127.0.0.1` and a free port) for the `mysql` check's Galera tests.
//!
//! The server is killed when the value is dropped, and by a watchdog if
//! the test process dies first. A missing package is an error, not a
//! skip.

use std::fs;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::dbproc::{self, SYSTEM_BIN, ServerProcess};
use crate::shopdata::{self, Dialect, ShopCounts, ShopSize};

/// The user clients under test log in as (every privilege).
pub const MARIADB_USER: &str = "keepup";
/// Its password (a space and quotes, so that quoting is exercised).
pub const MARIADB_PASSWORD: &str = "Sh0p pa'ss\"wd";

/// Debian's Galera provider (package `galera-4`).
const GALERA_PROVIDER: &str = "/usr/lib/galera/libgalera_smm.so";

/// How long the server may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A private MariaDB server on `127.0.0.1`.
pub struct MariaDb {
    port: u16,
    socket: PathBuf,
    client: PathBuf,
    // Dropped first: the server goes before its directory.
    process: ServerProcess,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for MariaDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MariaDb")
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

/// `s` as a single-quoted SQL string literal (default SQL mode: backslash
/// escapes).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl MariaDb {
    /// Creates a data directory and starts the server; returns when it
    /// accepts connections and the test user exists. Blocking; takes one
    /// or two seconds.
    pub fn start() -> io::Result<Self> {
        Self::start_with(None, None, false)
    }

    /// A single-node Galera cluster: the server loads Debian's `galera-4`
    /// provider and bootstraps a new cluster (`gcomm://`), its group
    /// communication bound to `127.0.0.1` on a free port. Returns once the
    /// node reports `wsrep_ready`.
    pub fn start_galera() -> io::Result<Self> {
        if !Path::new(GALERA_PROVIDER).is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{GALERA_PROVIDER} is missing: install Debian's galera-4"),
            ));
        }
        let db = Self::start_with(None, None, true)?;
        let until = Instant::now() + READY_TIMEOUT;
        while db.sql("SHOW GLOBAL STATUS LIKE 'wsrep_ready';")?.trim() != "wsrep_ready\tON" {
            if Instant::now() > until {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the Galera node did not become ready",
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(db)
    }

    /// A server that offers TLS with `issued`'s certificate and key,
    /// besides plain connections.
    pub fn start_with_tls(issued: &crate::pki::Issued) -> io::Result<Self> {
        Self::start_with(None, Some(issued), false)
    }

    /// A server writing a binary log (server id 1) that replicas can
    /// follow; its log starts empty once the test user exists.
    pub fn start_primary() -> io::Result<Self> {
        let db = Self::start_with(Some(1), None, false)?;
        db.sql("RESET MASTER;")?;
        Ok(db)
    }

    /// A replica (server id 2) of `primary` (from [`Self::start_primary`]):
    /// it logs in to the primary as the test user and replicates from the
    /// primary's current log position.
    pub fn start_replica(primary: &MariaDb) -> io::Result<Self> {
        let status = primary.sql("SHOW MASTER STATUS;")?;
        let mut fields = status.split('\t');
        let (Some(file), Some(position)) = (fields.next(), fields.next()) else {
            return Err(io::Error::other(format!(
                "the primary has no binary log: {status:?}"
            )));
        };
        let replica = Self::start_with(Some(2), None, false)?;
        replica.sql(&format!(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER={}, \
             MASTER_PASSWORD={}, MASTER_LOG_FILE={}, MASTER_LOG_POS={}, MASTER_USE_GTID=no; \
             START SLAVE;",
            primary.port,
            literal(MARIADB_USER),
            literal(MARIADB_PASSWORD),
            literal(file.trim()),
            position.trim()
        ))?;
        Ok(replica)
    }

    fn start_with(
        server_id: Option<u32>,
        tls: Option<&crate::pki::Issued>,
        galera: bool,
    ) -> io::Result<Self> {
        let dirs: Vec<&Path> = SYSTEM_BIN.iter().map(Path::new).collect();
        let install = dbproc::require(&dirs, "mariadb-install-db", "mariadb-server")?;
        let server = dbproc::require(&dirs, "mariadbd", "mariadb-server")?;
        let client = dbproc::require(&dirs, "mariadb", "mariadb-client")?;
        let mut last = None;
        // The port is free when chosen but may be taken before the server
        // binds it: try again with another.
        for _ in 0..3 {
            match Self::try_start(&install, &server, &client, server_id, tls, galera) {
                Ok(db) => return Ok(db),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("MariaDB did not start")))
    }

    fn try_start(
        install: &Path,
        server: &Path,
        client: &Path,
        server_id: Option<u32>,
        tls: Option<&crate::pki::Issued>,
        galera: bool,
    ) -> io::Result<Self> {
        let account = dbproc::server_account(&["mysql", "nobody"])?;
        let dir = tempfile::Builder::new()
            .prefix("keepup-mariadb-")
            .tempdir()?;
        let d = dir.path();
        fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;
        let data = d.join("data");
        let tmp = d.join("tmp");
        fs::create_dir(&data)?;
        fs::create_dir(&tmp)?;
        dbproc::chown_tree(d, account)?;

        let installed = dbproc::run_as(&mut Command::new(install), account)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            // root@localhost with an empty password, usable by any OS user
            // on the socket (not unix_socket authentication).
            .arg("--auth-root-authentication-method=normal")
            .args(["--skip-test-db", "--skip-name-resolve"])
            .current_dir(d)
            .stdin(Stdio::null())
            .output()?;
        if !installed.status.success() {
            return Err(io::Error::other(format!(
                "mariadb-install-db failed ({}): {}{}",
                installed.status,
                String::from_utf8_lossy(&installed.stdout).trim(),
                String::from_utf8_lossy(&installed.stderr).trim()
            )));
        }

        let mut tls_args = Vec::new();
        if let Some(issued) = tls {
            let (cert, key) = (d.join("server.crt"), d.join("server.key"));
            fs::write(&cert, issued.chain_pem())?;
            fs::write(&key, &issued.key_pem)?;
            fs::set_permissions(&key, fs::Permissions::from_mode(0o600))?;
            dbproc::chown_tree(d, account)?;
            tls_args = vec![
                format!("--ssl-cert={}", cert.display()),
                format!("--ssl-key={}", key.display()),
            ];
        }
        let port = crate::ports::free_port(Ipv4Addr::LOCALHOST)?;
        let mut galera_args = Vec::new();
        if galera {
            // Group communication on loopback only (its default is every
            // address, port 4567); a small gcache, nothing is replicated.
            let gport = crate::ports::free_port(Ipv4Addr::LOCALHOST)?;
            galera_args = vec![
                "--wsrep-on=ON".to_owned(),
                format!("--wsrep-provider={GALERA_PROVIDER}"),
                "--wsrep-cluster-address=gcomm://".to_owned(),
                "--wsrep-cluster-name=keepup-test".to_owned(),
                format!("--wsrep-node-address=127.0.0.1:{gport}"),
                format!(
                    "--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:{gport};\
                     gcache.size=16M"
                ),
                "--binlog-format=ROW".to_owned(),
                "--innodb-autoinc-lock-mode=2".to_owned(),
            ];
        }
        let socket = d.join("mariadb.sock");
        let log = d.join("mariadb.log");
        let mut cmd = Command::new(server);
        dbproc::run_as(&mut cmd, account)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--pid-file={}", d.join("mariadb.pid").display()))
            .arg(format!("--log-error={}", log.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg("--skip-name-resolve")
            // Speed over durability: nothing here is worth keeping.
            .args(match server_id {
                Some(id) => vec![
                    format!("--server-id={id}"),
                    format!("--log-bin={}", d.join("binlog").display()),
                    "--relay-log=relay".to_owned(),
                ],
                None => vec!["--skip-log-bin".to_owned()],
            })
            .arg("--innodb-doublewrite=0")
            .args(&tls_args)
            .args(&galera_args)
            .arg("--innodb-flush-log-at-trx-commit=0")
            .arg("--innodb-buffer-pool-size=256M")
            .arg("--innodb-log-file-size=256M")
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // The data directory is thrown away: no need for a clean shutdown.
        let mut process = ServerProcess::spawn(&mut cmd, libc::SIGKILL, d)?;

        let until = Instant::now() + READY_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        // The server listens once it is ready; its first packet is the
        // handshake.
        while !greets(addr) {
            if !process.alive() {
                return Err(io::Error::other(format!(
                    "mariadbd exited at start:\n{}",
                    dbproc::log_tail(&log)
                )));
            }
            if Instant::now() > until {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("mariadbd did not become ready:\n{}", dbproc::log_tail(&log)),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let db = Self {
            port,
            socket,
            client: client.to_path_buf(),
            process,
            dir,
        };
        let user = literal(MARIADB_USER);
        let password = literal(MARIADB_PASSWORD);
        db.sql(&format!(
            "CREATE USER {user}@'%' IDENTIFIED BY {password};
             GRANT ALL PRIVILEGES ON *.* TO {user}@'%' WITH GRANT OPTION;
             CREATE USER {user}@'localhost' IDENTIFIED BY {password};
             GRANT ALL PRIVILEGES ON *.* TO {user}@'localhost' WITH GRANT OPTION;"
        ))?;
        Ok(db)
    }

    /// The address it listens on: `127.0.0.1`.
    pub fn host(&self) -> Ipv4Addr {
        Ipv4Addr::LOCALHOST
    }

    /// Its TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The test user's name ([`MARIADB_USER`]).
    pub fn user(&self) -> &'static str {
        MARIADB_USER
    }

    /// The test user's password ([`MARIADB_PASSWORD`]).
    pub fn password(&self) -> &'static str {
        MARIADB_PASSWORD
    }

    /// Its Unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `mysql://keepup@127.0.0.1:<port>/`, without the password.
    pub fn url(&self) -> String {
        self.url_for("")
    }

    /// The URL of database `db`, without the password.
    pub fn url_for(&self, db: &str) -> String {
        format!("mysql://{MARIADB_USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// The `mariadb` client as root on the socket, in batch mode without
    /// column names (tab-separated rows), stopping at the first error.
    fn client(&self, db: Option<&str>) -> Command {
        let mut cmd = Command::new(&self.client);
        cmd.arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .args(["--user=root", "--batch", "--skip-column-names"])
            .arg("--default-character-set=utf8mb4");
        if let Some(db) = db {
            cmd.arg(format!("--database={db}"));
        }
        cmd
    }

    /// Runs `sql` (any number of `;`-terminated statements) as root and
    /// returns the rows it printed (tab-separated, one per line).
    pub fn sql(&self, sql: &str) -> io::Result<String> {
        dbproc::run_capture(&mut self.client(None), sql.as_bytes())
    }

    /// [`Self::sql`] in database `db`.
    pub fn sql_in(&self, db: &str, sql: &str) -> io::Result<String> {
        dbproc::run_capture(&mut self.client(Some(db)), sql.as_bytes())
    }

    /// Creates database `db`.
    pub fn create_database(&self, db: &str) -> io::Result<()> {
        self.sql(&format!(
            "CREATE DATABASE `{}` CHARACTER SET utf8mb4;",
            db.replace('`', "``")
        ))
        .map(drop)
    }

    /// Creates database `db` and fills it with the generated shop
    /// ([`shopdata`]), streamed into the client; returns the row counts.
    pub fn load_shop(&self, db: &str, size: &ShopSize, seed: u64) -> io::Result<ShopCounts> {
        self.create_database(db)?;
        let mut counts = ShopCounts::default();
        dbproc::run_streaming(&mut self.client(Some(db)), |w| {
            counts = shopdata::write_sql(w, Dialect::MariaDb, size, seed)?;
            Ok(())
        })?;
        Ok(counts)
    }

    /// The row counts of the shop tables in `db`.
    pub fn shop_counts(&self, db: &str) -> io::Result<ShopCounts> {
        ShopCounts::parse(&self.sql_in(db, &format!("{};", ShopCounts::QUERY))?)
    }

    /// Kills the server (SIGKILL), as a crash would; the value stays
    /// usable for its accessors.
    pub fn kill(&mut self) {
        self.process.stop_with(libc::SIGKILL);
    }

    /// The server's error log, for debugging a test.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("mariadb.log")).unwrap_or_default()
    }
}

/// Whether a MySQL-protocol server on `addr` sends its handshake.
fn greets(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut first = [0u8; 5];
    // 3 bytes length, 1 sequence number, then protocol version 10.
    stream.read_exact(&mut first).is_ok() && first[4] == 10
}
