//! A private Varnish Cache (Debian `varnish`) on loopback in front of a
//! backend of the test's, for the `varnish` kind's tests.
//!
//! One `varnishd -F` (foreground, no jail, no management port) with its
//! working directory in a temporary directory, on 127.0.0.1 and a free
//! port, a 16 MiB cache, and a VCL that probes the backend every second
//! and answers `/varnish-health` itself: 200 while the backend is
//! healthy, 503 once its probe fails. Killed on drop, and by the kernel
//! if the test process dies first.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use crate::launch::Launched;

/// A running private varnishd.
pub struct Varnish {
    _server: Launched,
    port: u16,
    dir: tempfile::TempDir,
}

impl Varnish {
    /// Starts it in front of `backend` (a loopback address).
    pub fn start(backend: SocketAddr) -> io::Result<Self> {
        if !backend.ip().is_loopback() {
            return Err(io::Error::other("the backend must be on loopback"));
        }
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        let port = crate::ports::free_port(Ipv4Addr::LOCALHOST)?;
        let vcl = d.join("keepup.vcl");
        std::fs::write(
            &vcl,
            format!(
                "vcl 4.1;\nimport std;\n\
                 probe up {{ .url = \"/\"; .interval = 1s; .timeout = 1s; .window = 2; .threshold = 1; .initial = 1; }}\n\
                 backend default {{ .host = \"{ip}\"; .port = \"{bport}\"; .probe = up; }}\n\
                 sub vcl_recv {{\n  if (req.url == \"/varnish-health\") {{\n    \
                   if (std.healthy(req.backend_hint)) {{ return (synth(200, \"Backend healthy\")); }}\n    \
                   return (synth(503, \"Backend sick\"));\n  }}\n}}\n",
                ip = backend.ip(),
                bport = backend.port(),
            ),
        )?;
        let log = d.join("varnishd.log");
        let mut cmd = Command::new("/usr/sbin/varnishd");
        cmd.arg("-F")
            .args(["-j", "none", "-T", "none", "-s", "malloc,16m"])
            .arg("-n")
            .arg(d.join("work"))
            .arg("-a")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-f")
            .arg(&vcl)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let server = Launched::start(&mut cmd, "varnishd (Debian package varnish)", &log, addr)?;
        Ok(Self {
            _server: server,
            port,
            dir,
        })
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What varnishd printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("varnishd.log")).unwrap_or_default()
    }
}
