//! A private nginx on loopback (Debian `nginx-light`) serving its
//! `stub_status` page, for the `nginx_status` kind's tests.
//!
//! One process (`master_process off`, `daemon off`) with its prefix,
//! pid file, logs and temporary paths in a temporary directory, on
//! 127.0.0.1 and a free port: `/status` is `stub_status`, `/` a small
//! page, with the caller's `worker_connections`. Killed on drop, and by
//! the kernel if the test process dies first.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use crate::launch::Launched;

/// A running private nginx.
pub struct Nginx {
    _process: Launched,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts it with `worker_connections` connections per worker.
    pub fn start(worker_connections: u32) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        let port = crate::ports::free_port(Ipv4Addr::LOCALHOST)?;
        let conf = d.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "daemon off;\nmaster_process off;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
                 events {{ worker_connections {worker_connections}; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
                   fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
                   server {{\n    listen 127.0.0.1:{port};\n    location = /status {{ stub_status; }}\n\
                     location / {{ return 200 \"keepup test nginx\\n\"; }}\n  }}\n}}\n",
                d = d.display(),
            ),
        )?;
        let mut cmd = Command::new("/usr/sbin/nginx");
        cmd.arg("-p").arg(d).arg("-c").arg(&conf).env_clear();
        let process = Launched::start(
            &mut cmd,
            "nginx (Debian package nginx-light)",
            &d.join("stderr.log"),
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        )?;
        Ok(Self {
            _process: process,
            port,
            dir,
        })
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Its error log so far.
    pub fn log(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("error.log"))
    }
}
