//! Real servers on loopback for keepup's tests and benchmarks.
//!
//! keepup's probes talk to real sockets, so they are tested against real
//! servers: this crate starts them in-process, on `127.0.0.1` (or `::1`) and a
//! free port, and stops them when they are dropped. It is a dev-dependency
//! of every crate but `keepup-bench` (which the binary links only with its
//! `bench` feature): the shipped binary does not carry it. Everything here
//! is still documented and free of panics on network input.
//!
//! - [`pki`]: the crate `keepup-pki`, re-exported: a small certificate
//!   authority (root, intermediates, leaves with DNS and IP names, expired or
//!   not-yet-valid on request) built with rcgen, plus helpers that write the
//!   PEMs into temporary files. It is its own crate because the demo shop
//!   uses it at run time.
//! - [`http`]: [`TestServer`](http::TestServer), an HTTP/1.1 server (hyper)
//!   with optional TLS (rustls, aws-lc-rs) whose handler is an async closure,
//!   with a request counter and a log of what it received.
//! - [`hostile`]: raw-TCP peers that misbehave on purpose (never answer,
//!   trickle one byte at a time, endless headers or body, a huge
//!   `Content-Length`, garbage, immediate close) and TLS servers presenting
//!   bad certificates, for the "bad input must not hang or crash" tests.
//! - [`whois`]: a WHOIS (port 43 protocol) responder with answers in the
//!   registries' real layouts, and misbehaving variants (silent, endless).
//!
//! - [`dns`]: Knot DNS (`knotd`) serving a test DNS hierarchy with broken
//!   zones and DNSBL zones on 127.53.0.0/16, a UDP-only name server and
//!   hostile name servers.
//! - [`mail`]: private Postfix and Dovecot instances (Debian packages) on
//!   `127.0.0.x` with STARTTLS, implicit TLS and a test account, and a
//!   scripted fake mail server for protocol abuse.
//!
//! - [`rclone`]: `rclone serve restic`, a restic REST server (Debian
//!   `rclone`) on a temporary directory.
//! - [`s3`]: moto's S3 server (PyPI `moto[server]`) with signature
//!   checks and a generated access key: the S3 target of the backup tests.
//! - [`sshd`]: a private OpenSSH server with generated host and client
//!   keys, the SFTP target of the backup tests.
//! - [`postgres`]: a private PostgreSQL server (Debian `postgresql`) on
//!   `127.0.0.1` with a password-authenticated superuser.
//! - [`redis`]: a private Redis server (Debian `redis-server`) on
//!   loopback with a password, and replicas of it.
//! - [`mariadb`]: a private MariaDB server (Debian `mariadb-server`) on
//!   `127.0.0.1` with a password-authenticated user.
//! - [`restic`]: the Debian `restic` as the independent reader of the
//!   repositories keepup writes, and damage to a repository's packs.
//! - [`tree`]: a small shop-like file tree and a snapshot of any tree, to
//!   compare restores with their source.
//! - [`smtp`]: [`SmtpSink`](smtp::SmtpSink), aiosmtpd (PyPI) keeping every
//!   message it accepts, parsed by Python's e-mail parser, for the tests of
//!   keepup's e-mail notifications and mailed reports.
//! - [`chromedriver`]: chromedriver (Debian `chromium-driver`) driving
//!   Debian's headless Chromium on a temporary profile, for the web
//!   dashboard's end-to-end tests.
//! - [`nginx`]: a private nginx (Debian `nginx-light`) with its
//!   `stub_status` page, for the `nginx_status` kind.
//! - [`varnish`]: a private Varnish Cache (Debian `varnish`) in front of
//!   a test backend, probing it and answering `/varnish-health`, for the
//!   `varnish` kind.
//! - [`tomcat`]: a private Tomcat 10 (Debian `tomcat10`,
//!   `tomcat10-admin`) with its manager and a `manager-status` user, for
//!   the `tomcat_status` kind.
//! - [`node_exporter`]: Debian's `prometheus-node-exporter` on a free
//!   loopback port, the real endpoint of the `prometheus` kind's tests.
//! - [`vsftpd`]: a private vsftpd (Debian `vsftpd`), plain FTP, explicit
//!   (`AUTH TLS`) or implicit FTPS, anonymous logins only.
//! - [`gluster`]: a private glusterd (Debian `glusterfs-server`) on
//!   127.0.0.2:24007, one at a time, and replicated volumes of it on
//!   temporary directories, for the agent's `gluster volume status`.
//! - [`ports`]: free ports on a loopback address, for the launchers and
//!   for tests that need an address nobody listens on.
//! - [`shopdata`]: generated shop data (customers, products, orders, order
//!   items) of any size, deterministic from a seed, for both servers.
//!
//! What it is not: a general-purpose web server or a production CA. Servers
//! refuse to bind anything but a loopback address.
//!
//! # Runtimes
//!
//! Every server has two ways to start:
//!
//! - `start(..).await` spawns its tasks on the *current* tokio runtime (what a
//!   `#[tokio::test]` wants). The server stops when the value is dropped; any
//!   task still running is cancelled at the latest when the runtime shuts
//!   down, so nothing here can keep a test process alive.
//! - `start_background(..)` (no `.await`) runs the server on a dedicated
//!   thread with its own single-threaded runtime, for synchronous callers
//!   such as a benchmark. Dropping the value signals the thread
//!   and joins it (bounded by a short grace period).

pub mod ceph;
pub mod chromedriver;
mod dbproc;
pub mod disk;
pub mod dns;
pub mod gluster;
pub mod hostile;
pub mod http;
mod launch;
pub mod mail;
pub mod mariadb;
pub mod nginx;
pub mod node_exporter;
pub use keepup_pki as pki;
pub mod ports;
pub mod postgres;
pub mod random;
pub mod rclone;
pub mod redis;
pub mod restic;
mod runner;
pub mod s3;
pub mod shopdata;
pub mod smtp;
pub mod sshd;
pub mod tomcat;
pub mod tree;
pub mod varnish;
pub mod vsftpd;
pub mod whois;

pub use http::{ServerTls, TestServer};
pub use pki::{CertAuthority, Issued};
