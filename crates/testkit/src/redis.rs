//! A private Redis server (the Debian `redis-server` package) on
//! `127.0.0.1` and a free port, for the `redis` check's tests.
//!
//! [`Redis::start`] writes a configuration into a temporary directory
//! (no persistence, a password for the default user: [`REDIS_PASSWORD`])
//! and starts `redis-server` on it; [`Redis::start_replica`] starts one
//! that replicates another (`replicaof`, `masterauth`), and
//! [`Redis::start_with_tls`] one that speaks only TLS. [`Redis::cli`]
//! runs `redis-cli` against it with the password in its environment
//! (`REDISCLI_AUTH`), never on its command line.
//!
//! The server is killed when the value is dropped, and by a watchdog if
//! the test process dies first. A missing package is an error, not a
//! skip.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::dbproc::{self, SYSTEM_BIN, ServerProcess};

/// The password of every [`Redis`]'s default user.
pub const REDIS_PASSWORD: &str = "Sh0p-redis pa'ss\"wd";

/// How long the server may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A private Redis server on `127.0.0.1`.
pub struct Redis {
    port: u16,
    cli: PathBuf,
    /// The certificate and key of a TLS server.
    tls_files: Option<tempfile::TempDir>,
    // Dropped first: the server goes before its directory.
    process: ServerProcess,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

/// `s` as a double-quoted string of a Redis configuration file.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Redis {
    /// A master with a password; returns when it answers PING. Blocking.
    pub fn start() -> io::Result<Self> {
        Self::start_with("", false)
    }

    /// A master that speaks only TLS (from the first byte, `tls-port`),
    /// with `issued`'s certificate and key; clients need no certificate.
    pub fn start_with_tls(issued: &crate::pki::Issued) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("keepup-redis-tls-")
            .tempdir()?;
        let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
        fs::write(&cert, issued.chain_pem())?;
        fs::write(&key, &issued.key_pem)?;
        let mut redis = Self::start_with(
            &format!(
                "tls-cert-file {}\ntls-key-file {}\ntls-auth-clients no\n",
                quoted(&cert.to_string_lossy()),
                quoted(&key.to_string_lossy()),
            ),
            true,
        )?;
        redis.tls_files = Some(dir);
        Ok(redis)
    }

    /// A replica of `master` (which it logs in to with the password);
    /// returns when it answers PING (the link to the master may come up a
    /// moment later: see `master_link_status` in its INFO).
    pub fn start_replica(master: &Redis) -> io::Result<Self> {
        Self::start_with(
            &format!(
                "replicaof 127.0.0.1 {}\nmasterauth {}\n",
                master.port,
                quoted(REDIS_PASSWORD)
            ),
            false,
        )
    }

    /// `tls`: the server listens with TLS only, on its port.
    fn start_with(extra: &str, tls: bool) -> io::Result<Self> {
        let dirs: Vec<&Path> = SYSTEM_BIN.iter().map(Path::new).collect();
        let server = dbproc::require(&dirs, "redis-server", "redis-server")?;
        let cli = dbproc::require(&dirs, "redis-cli", "redis-tools")?;
        let mut last = None;
        // The port is free when chosen but may be taken before the server
        // binds it: try again with another.
        for _ in 0..3 {
            match Self::try_start(&server, &cli, extra, tls) {
                Ok(r) => return Ok(r),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }

    fn try_start(server: &Path, cli: &Path, extra: &str, tls: bool) -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("keepup-redis-").tempdir()?;
        let d = dir.path();
        let port = crate::ports::free_port(Ipv4Addr::LOCALHOST)?;
        let log = d.join("redis.log");
        // A TLS server listens with TLS only, on the port it was given.
        let listen = if tls {
            format!("port 0\ntls-port {port}")
        } else {
            format!("port {port}")
        };
        let config = format!(
            "bind 127.0.0.1\n{listen}\nprotected-mode yes\ndir {}\nlogfile {}\n\
             save \"\"\nappendonly no\ndaemonize no\nrequirepass {}\n{extra}",
            quoted(&d.to_string_lossy()),
            quoted(&log.to_string_lossy()),
            quoted(REDIS_PASSWORD),
        );
        let conf = d.join("redis.conf");
        fs::write(&conf, config)?;
        let mut cmd = Command::new(server);
        cmd.arg(&conf)
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut process = ServerProcess::spawn(&mut cmd, libc::SIGKILL, d)?;
        let until = Instant::now() + READY_TIMEOUT;
        loop {
            if !process.alive() {
                return Err(io::Error::other(format!(
                    "redis-server exited at start:\n{}",
                    dbproc::log_tail(&log)
                )));
            }
            // A TLS server is ready once it accepts (PING would need TLS).
            let ready = if tls {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            } else {
                answers_ping(port)
            };
            if ready {
                break;
            }
            if Instant::now() > until {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "redis-server did not become ready:\n{}",
                        dbproc::log_tail(&log)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self {
            port,
            cli: cli.to_path_buf(),
            tls_files: None,
            process,
            dir,
        })
    }

    /// Its TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The default user's password ([`REDIS_PASSWORD`]).
    pub fn password(&self) -> &'static str {
        REDIS_PASSWORD
    }

    /// Runs one command with `redis-cli` (logged in) and returns its raw
    /// output; fails when the command is refused.
    pub fn cli(&self, args: &[&str]) -> io::Result<String> {
        let mut cmd = Command::new(&self.cli);
        cmd.args(["--no-auth-warning", "-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(args)
            .env("REDISCLI_AUTH", REDIS_PASSWORD);
        let out = dbproc::run_capture(&mut cmd, b"")?;
        if out.starts_with("ERR") || out.starts_with("WRONGPASS") || out.starts_with("NOAUTH") {
            return Err(io::Error::other(format!(
                "redis-cli {args:?} failed: {}",
                out.trim()
            )));
        }
        Ok(out)
    }

    /// The `INFO replication` field `name`, if the server reports it.
    pub fn replication_field(&self, name: &str) -> Option<String> {
        let info = self.cli(&["INFO", "replication"]).ok()?;
        info.lines().find_map(|l| {
            l.trim_end()
                .strip_prefix(name)?
                .strip_prefix(':')
                .map(str::to_owned)
        })
    }

    /// Kills the server at once, as a crash would; the value stays usable
    /// for its accessors.
    pub fn kill(&mut self) {
        self.process.stop_with(libc::SIGKILL);
    }

    /// The server's log, for debugging a test.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }
}

/// Whether a server on `port` answers a PING (with PONG, or asking for a
/// password, which also means it is ready).
fn answers_ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 64];
    match stream.read(&mut reply) {
        Ok(n) if n > 0 => reply.starts_with(b"+PONG") || reply.starts_with(b"-NOAUTH"),
        _ => false,
    }
}
