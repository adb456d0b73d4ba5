//! Debian's `prometheus-node-exporter` on loopback: the real exposition
//! endpoint the `prometheus` kind scrapes in tests.
//!
//! It listens on `127.0.0.1` and a free port with the collectors that work
//! unprivileged and quickly (filesystem, loadavg, meminfo, time, uname)
//! and no others. Killed on drop, and by the kernel if the test process
//! dies first.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use crate::launch::Launched;

/// The collectors enabled.
pub const COLLECTORS: &[&str] = &["filesystem", "loadavg", "meminfo", "time", "uname"];

/// A running node exporter.
pub struct NodeExporter {
    _process: Launched,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl NodeExporter {
    /// Starts it on 127.0.0.1 and a free port.
    pub fn start() -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = crate::ports::free_port(Ipv4Addr::LOCALHOST)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut cmd = Command::new("prometheus-node-exporter");
        cmd.arg(format!("--web.listen-address={addr}"))
            .arg("--collector.disable-defaults");
        for c in COLLECTORS {
            cmd.arg(format!("--collector.{c}"));
        }
        cmd.env_clear();
        let process = Launched::start(
            &mut cmd,
            "prometheus-node-exporter (Debian package prometheus-node-exporter)",
            &dir.path().join("node_exporter.log"),
            addr,
        )?;
        Ok(Self {
            _process: process,
            addr,
            dir,
        })
    }

    /// Its `/metrics` URL.
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node_exporter.log")).unwrap_or_default()
    }
}
