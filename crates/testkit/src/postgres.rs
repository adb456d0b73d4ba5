//! A private PostgreSQL server (the Debian `postgresql` package's binaries
//! in `/usr/lib/postgresql/<version>/bin`) for the backup tests and
//! benchmarks.
//!
//! [`Postgres::start`] runs `initdb` into a temporary directory and starts
//! `postgres` on `127.0.0.1` and a free port, as the `postgres` system user
//! when the tests run as root (PostgreSQL refuses root). Durability is
//! switched off (`fsync`, `full_page_writes`, `synchronous_commit`; WAL
//! level minimal) for speed: a test server holds nothing worth keeping.
//!
//! Authentication is as in production: TCP connections from 127.0.0.1
//! need the superuser [`PG_USER`]'s password ([`PG_PASSWORD`], SCRAM), so
//! clients under test must pass it through their environment. The helpers
//! here ([`Postgres::psql`], [`Postgres::load_shop`]) use the Unix socket
//! in the server's directory, where local connections are trusted.
//!
//! [`Postgres::start_primary`] starts one that streams its WAL to
//! replicas, and [`Postgres::start_replica`] a streaming replica of it,
//! cloned with `pg_basebackup -R` (the replication checks' tests).
//!
//! [`Postgres::restart`] restarts a server on its port and data, as an
//! operator would (the store's reconnection test).
//!
//! The server stops (immediate shutdown) when the value is dropped, and a
//! watchdog stops it if the test process dies first. A missing package is
//! an error, not a skip.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::dbproc::{self, ServerProcess};
use crate::shopdata::{self, Dialect, ShopCounts, ShopSize};

/// The superuser of every [`Postgres`].
pub const PG_USER: &str = "keepup";
/// Its password (a space and quotes, so that quoting is exercised).
pub const PG_PASSWORD: &str = "Sh0p pa'ss\"wd";

/// How long the server may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How a server's data directory comes to be.
#[derive(Clone, Copy)]
enum Init<'a> {
    /// `initdb`; `replication`: WAL fit for streaming replicas; `tls`: the
    /// certificate and key it serves TLS with.
    Fresh {
        replication: bool,
        tls: Option<&'a crate::pki::Issued>,
    },
    /// `pg_basebackup -R` of this primary: a streaming replica.
    ReplicaOf(&'a Postgres),
}

/// A private PostgreSQL server on `127.0.0.1`.
pub struct Postgres {
    port: u16,
    bin: PathBuf,
    socket_dir: PathBuf,
    /// The server's command line (for [`Postgres::restart`]).
    args: Vec<String>,
    account: Option<(u32, u32)>,
    // Dropped first: the server goes before its directory.
    process: ServerProcess,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with a server in it.
fn bin_dir() -> io::Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "PostgreSQL server not found in /usr/lib/postgresql/<version>/bin: \
             install the Debian packages postgresql and postgresql-client (scripts/test.sh does)",
        )
    })
}

impl Postgres {
    /// Creates a cluster and starts the server; returns when it accepts
    /// connections. Blocking; takes about a second.
    pub fn start() -> io::Result<Self> {
        Self::start_with(Init::Fresh {
            replication: false,
            tls: None,
        })
    }

    /// A server that offers TLS (`ssl = on`) with `issued`'s certificate
    /// and key, besides plain connections.
    pub fn start_with_tls(issued: &crate::pki::Issued) -> io::Result<Self> {
        Self::start_with(Init::Fresh {
            replication: false,
            tls: Some(issued),
        })
    }

    /// A server whose WAL streams to replicas ([`Self::start_replica`]):
    /// `wal_level = replica` and WAL senders; replication connections over
    /// its Unix socket are trusted, as initdb sets up local ones.
    pub fn start_primary() -> io::Result<Self> {
        Self::start_with(Init::Fresh {
            replication: true,
            tls: None,
        })
    }

    /// A streaming replica of `primary` (started with
    /// [`Self::start_primary`]), cloned with `pg_basebackup -R` over the
    /// primary's socket and replaying in hot standby; returns when it
    /// accepts connections.
    pub fn start_replica(primary: &Postgres) -> io::Result<Self> {
        Self::start_with(Init::ReplicaOf(primary))
    }

    fn start_with(init: Init<'_>) -> io::Result<Self> {
        let bin = bin_dir()?;
        for program in ["initdb", "postgres", "psql", "pg_isready"] {
            dbproc::require(&[&bin], program, "postgresql")?;
        }
        let mut last = None;
        // The port is free when chosen but may be taken before the server
        // binds it: try again with another.
        for _ in 0..3 {
            match Self::try_start(&bin, init) {
                Ok(pg) => return Ok(pg),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("PostgreSQL did not start")))
    }

    fn try_start(bin: &Path, init: Init<'_>) -> io::Result<Self> {
        let account = dbproc::server_account(&["postgres", "nobody"])?;
        let dir = tempfile::Builder::new().prefix("keepup-pg-").tempdir()?;
        let d = dir.path();
        fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;
        let data = d.join("data");
        let socket_dir = d.join("sock");
        fs::create_dir(&socket_dir)?;
        dbproc::chown_tree(d, account)?;
        let mut tls_args = Vec::new();
        let replication = match init {
            Init::Fresh { replication, tls } => {
                Self::initdb(bin, d, &data, account)?;
                if let Some(issued) = tls {
                    let (cert, key) = (data.join("server.crt"), data.join("server.key"));
                    fs::write(&cert, issued.chain_pem())?;
                    fs::write(&key, &issued.key_pem)?;
                    // PostgreSQL refuses a key others may read.
                    fs::set_permissions(&key, fs::Permissions::from_mode(0o600))?;
                    dbproc::chown_tree(&data, account)?;
                    tls_args = vec![
                        "-c".to_owned(),
                        "ssl=on".to_owned(),
                        "-c".to_owned(),
                        format!("ssl_cert_file={}", cert.display()),
                        "-c".to_owned(),
                        format!("ssl_key_file={}", key.display()),
                    ];
                }
                replication
            }
            Init::ReplicaOf(primary) => {
                Self::base_backup(bin, primary, d, &data, account)?;
                true
            }
        };

        let port = crate::ports::free_port(Ipv4Addr::LOCALHOST)?;
        let mut args: Vec<String> = vec![
            "-D".into(),
            data.display().to_string(),
            "-k".into(),
            socket_dir.display().to_string(),
            "-p".into(),
            port.to_string(),
            "-c".into(),
            "listen_addresses=127.0.0.1".into(),
        ];
        let settings = [
            // Speed over durability: nothing here is worth keeping.
            "fsync=off",
            "full_page_writes=off",
            "synchronous_commit=off",
            if replication {
                "wal_level=replica"
            } else {
                "wal_level=minimal"
            },
            if replication {
                "max_wal_senders=5"
            } else {
                "max_wal_senders=0"
            },
            "max_wal_size=4GB",
            "checkpoint_timeout=1h",
            // File-backed dynamic shared memory lives in the data
            // directory, so a killed server leaves nothing in /dev/shm.
            "dynamic_shared_memory_type=mmap",
        ];
        for setting in settings {
            args.extend(["-c".to_owned(), setting.to_owned()]);
        }
        args.extend(tls_args);
        let process = Self::launch(bin, d, &socket_dir, port, &args, account)?;
        Ok(Self {
            port,
            bin: bin.to_path_buf(),
            socket_dir,
            args,
            account,
            process,
            dir,
        })
    }

    /// Starts `postgres` with `args` and waits until it accepts
    /// connections on its socket and on TCP.
    fn launch(
        bin: &Path,
        d: &Path,
        socket_dir: &Path,
        port: u16,
        args: &[String],
        account: Option<(u32, u32)>,
    ) -> io::Result<ServerProcess> {
        let log = d.join("postgres.log");
        // Appended: a restarted server's log follows the first's.
        let log_file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let mut cmd = Command::new(bin.join("postgres"));
        dbproc::run_as(&mut cmd, account)
            .args(args)
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(log_file);
        // SIGQUIT: immediate shutdown (the server still removes its shared
        // memory, which a SIGKILL would leave behind).
        let mut process = ServerProcess::spawn(&mut cmd, libc::SIGQUIT, d)?;

        let until = Instant::now() + READY_TIMEOUT;
        loop {
            if !process.alive() {
                return Err(io::Error::other(format!(
                    "postgres exited at start:\n{}",
                    dbproc::log_tail(&log)
                )));
            }
            let ready = Command::new(bin.join("pg_isready"))
                .arg("-q")
                .arg("-h")
                .arg(socket_dir)
                .args(["-p", &port.to_string(), "-U", PG_USER, "-d", "postgres"])
                .stdin(Stdio::null())
                .status()?;
            // The TCP side must answer too (it is what clients use).
            if ready.success()
                && TcpStream::connect_timeout(
                    &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                    Duration::from_secs(1),
                )
                .is_ok()
            {
                return Ok(process);
            }
            if Instant::now() > until {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("postgres did not become ready:\n{}", dbproc::log_tail(&log)),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `initdb` into `data`, with [`PG_USER`] and its password.
    fn initdb(bin: &Path, d: &Path, data: &Path, account: Option<(u32, u32)>) -> io::Result<()> {
        fs::write(d.join("pwfile"), format!("{PG_PASSWORD}\n"))?;
        fs::set_permissions(d.join("pwfile"), fs::Permissions::from_mode(0o600))?;
        dbproc::chown_tree(d, account)?;
        let initdb = dbproc::run_as(&mut Command::new(bin.join("initdb")), account)
            .arg("-D")
            .arg(data)
            .args([
                "-U",
                PG_USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", d.join("pwfile").display()))
            .args(["-E", "UTF8", "--no-locale", "--no-sync"])
            .current_dir(d)
            .output()?;
        if !initdb.status.success() {
            return Err(io::Error::other(format!(
                "initdb failed ({}): {}",
                initdb.status,
                String::from_utf8_lossy(&initdb.stderr).trim()
            )));
        }
        fs::remove_file(d.join("pwfile"))
    }

    /// `pg_basebackup -R` of `primary` into `data`: a replica that follows
    /// it once started.
    fn base_backup(
        bin: &Path,
        primary: &Postgres,
        d: &Path,
        data: &Path,
        account: Option<(u32, u32)>,
    ) -> io::Result<()> {
        dbproc::require(&[bin], "pg_basebackup", "postgresql")?;
        let backup = dbproc::run_as(&mut Command::new(bin.join("pg_basebackup")), account)
            .arg("-D")
            .arg(data)
            .arg("-h")
            .arg(&primary.socket_dir)
            .args(["-p", &primary.port.to_string(), "-U", PG_USER])
            .args(["-R", "-X", "stream", "--no-sync", "-c", "fast"])
            .current_dir(d)
            .output()?;
        if !backup.status.success() {
            return Err(io::Error::other(format!(
                "pg_basebackup failed ({}): {}",
                backup.status,
                String::from_utf8_lossy(&backup.stderr).trim()
            )));
        }
        Ok(())
    }

    /// The address it listens on: `127.0.0.1`.
    pub fn host(&self) -> Ipv4Addr {
        Ipv4Addr::LOCALHOST
    }

    /// Its TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's name ([`PG_USER`]).
    pub fn user(&self) -> &'static str {
        PG_USER
    }

    /// The superuser's password ([`PG_PASSWORD`]).
    pub fn password(&self) -> &'static str {
        PG_PASSWORD
    }

    /// The directory of its Unix socket (trusted local connections).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The directory of the server's and its clients' binaries (`psql`,
    /// `pg_dump`, `pg_restore` of the same version).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// `postgres://keepup@127.0.0.1:<port>/postgres`, without the password.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// The URL of database `db`, without the password.
    pub fn url_for(&self, db: &str) -> String {
        format!("postgres://{PG_USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs `sql` (any number of statements) in database `postgres` with
    /// `psql` and returns its unaligned, tuples-only output
    /// (`a|b\n` per row). Fails on the first error.
    pub fn psql(&self, sql: &str) -> io::Result<String> {
        self.psql_in("postgres", sql)
    }

    /// [`Self::psql`] in database `db`.
    pub fn psql_in(&self, db: &str, sql: &str) -> io::Result<String> {
        dbproc::run_capture(&mut self.psql_command(db, true), sql.as_bytes())
    }

    /// `psql` on the socket, reading statements from stdin, stopping at the
    /// first error; `output`: unaligned tuples-only output on stdout.
    fn psql_command(&self, db: &str, output: bool) -> Command {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--no-password"])
            .arg("-h")
            .arg(&self.socket_dir)
            .args(["-p", &self.port.to_string(), "-U", PG_USER, "-d", db])
            .env("PGCLIENTENCODING", "UTF8");
        if output {
            cmd.args(["-A", "-t"]);
        }
        cmd
    }

    /// Creates database `db` (a plain identifier).
    pub fn create_database(&self, db: &str) -> io::Result<()> {
        self.psql(&format!("CREATE DATABASE \"{}\";", db.replace('"', "\"\"")))
            .map(drop)
    }

    /// Creates database `db` and fills it with the generated shop
    /// ([`shopdata`]), streamed into `psql`; returns the row counts.
    pub fn load_shop(&self, db: &str, size: &ShopSize, seed: u64) -> io::Result<ShopCounts> {
        self.create_database(db)?;
        let mut counts = ShopCounts::default();
        let mut cmd = self.psql_command(db, false);
        dbproc::run_streaming(&mut cmd, |w| {
            counts = shopdata::write_sql(w, Dialect::Postgres, size, seed)?;
            Ok(())
        })?;
        Ok(counts)
    }

    /// The row counts of the shop tables in `db`.
    pub fn shop_counts(&self, db: &str) -> io::Result<ShopCounts> {
        ShopCounts::parse(&self.psql_in(db, ShopCounts::QUERY)?)
    }

    /// Stops the server abruptly (immediate shutdown: every connection is
    /// cut at once), as a crash would; the value stays usable for its
    /// accessors.
    pub fn kill(&mut self) {
        self.process.stop_with(libc::SIGQUIT);
    }

    /// Restarts the server on the same port and data, as an operator's
    /// restart does: a fast shutdown (every session is ended, the data
    /// kept), then a start; returns when it accepts connections again.
    pub fn restart(&mut self) -> io::Result<()> {
        self.process.stop_with(libc::SIGINT);
        self.process = Self::launch(
            &self.bin,
            self.dir.path(),
            &self.socket_dir,
            self.port,
            &self.args,
            self.account,
        )?;
        Ok(())
    }

    /// The server's log, for debugging a test.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }
}
