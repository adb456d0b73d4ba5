//! A private Apache Tomcat (Debian `tomcat10` and `tomcat10-admin`) on
//! loopback with its manager application, for the `tomcat_status` kind's
//! tests.
//!
//! One JVM (`-Xmx64m`) with its `CATALINA_BASE` in a temporary directory:
//! an HTTP connector on 127.0.0.1 and a free port with the caller's
//! `maxThreads`, no shutdown port, the manager at `/manager` (only
//! loopback may reach it) and a user `monitor` of role `manager-status`
//! whose password is in [`Tomcat::password_file`]. Killed on drop, and by
//! the kernel if the test process dies first.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;

use crate::launch::Launched;

/// Where Debian installs Tomcat and its manager.
const CATALINA_HOME: &str = "/usr/share/tomcat10";
const MANAGER: &str = "/usr/share/tomcat10-admin/manager";

/// The manager-status user.
pub const USER: &str = "monitor";

/// A running private Tomcat.
pub struct Tomcat {
    _server: Launched,
    port: u16,
    dir: tempfile::TempDir,
}

impl Tomcat {
    /// Starts it with `max_threads` request threads on its connector.
    pub fn start(max_threads: u32) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        let port = crate::ports::free_port(Ipv4Addr::LOCALHOST)?;
        for sub in ["conf/Catalina/localhost", "webapps", "logs", "temp", "work"] {
            std::fs::create_dir_all(d.join(sub))?;
        }
        std::fs::copy(
            format!("{CATALINA_HOME}/etc/web.xml"),
            d.join("conf/web.xml"),
        )?;
        std::fs::write(
            d.join("conf/server.xml"),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Server port=\"-1\" shutdown=\"SHUTDOWN\">\n  <Service name=\"Catalina\">\n    \
                 <Connector port=\"{port}\" address=\"127.0.0.1\" protocol=\"HTTP/1.1\" maxThreads=\"{max_threads}\" minSpareThreads=\"1\" connectionTimeout=\"20000\"/>\n    \
                 <Engine name=\"Catalina\" defaultHost=\"localhost\">\n      \
                 <Realm className=\"org.apache.catalina.realm.MemoryRealm\" pathname=\"conf/tomcat-users.xml\"/>\n      \
                 <Host name=\"localhost\" appBase=\"webapps\" unpackWARs=\"false\" autoDeploy=\"false\"/>\n    \
                 </Engine>\n  </Service>\n</Server>\n"
            ),
        )?;
        let password = format!("tc-{:016x}", rand_u64());
        std::fs::write(
            d.join("conf/tomcat-users.xml"),
            format!(
                "<tomcat-users>\n  <role rolename=\"manager-status\"/>\n  <user username=\"{USER}\" password=\"{password}\" roles=\"manager-status\"/>\n</tomcat-users>\n"
            ),
        )?;
        std::fs::write(d.join("password"), &password)?;
        std::fs::set_permissions(
            d.join("password"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )?;
        std::fs::write(
            d.join("conf/Catalina/localhost/manager.xml"),
            format!(
                "<Context docBase=\"{MANAGER}\" privileged=\"true\">\n  <Valve className=\"org.apache.catalina.valves.RemoteCIDRValve\" allow=\"127.0.0.0/8, ::1/128\"/>\n</Context>\n"
            ),
        )?;
        let log = d.join("catalina.log");
        let mut cmd = Command::new("/usr/bin/java");
        cmd.args(["-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg("-cp")
            .arg(format!(
                "{CATALINA_HOME}/bin/bootstrap.jar:{CATALINA_HOME}/bin/tomcat-juli.jar"
            ))
            .arg(format!("-Dcatalina.home={CATALINA_HOME}"))
            .arg(format!("-Dcatalina.base={}", d.display()))
            .arg(format!("-Djava.io.tmpdir={}", d.join("temp").display()))
            .args(["org.apache.catalina.startup.Bootstrap", "start"])
            .current_dir(d)
            .env_clear()
            .env("PATH", "/usr/bin:/bin");
        // The connector opens once the manager is deployed.
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let server = Launched::start(
            &mut cmd,
            "java for Tomcat (Debian packages tomcat10, tomcat10-admin)",
            &log,
            addr,
        )?;
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

    /// A file holding the `monitor` user's password.
    pub fn password_file(&self) -> PathBuf {
        self.dir.path().join("password")
    }

    /// What Tomcat logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("catalina.log")).unwrap_or_default()
    }
}

/// A password nobody guesses between two test runs.
fn rand_u64() -> u64 {
    let mut buf = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = io::Read::read_exact(&mut f, &mut buf);
    }
    u64::from_le_bytes(buf) ^ u64::from(std::process::id())
}
