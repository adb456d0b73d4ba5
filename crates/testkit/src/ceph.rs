//! A private one-monitor Ceph cluster (Debian's `ceph-mon` and
//! `ceph-common`) for the agent's `ceph health` tests.
//!
//! [`CephMon::start`] writes a `ceph.conf` and keyrings into a temporary
//! directory (`ceph-authtool`), a monitor map with one monitor on
//! `127.0.0.1` and a free port (`monmaptool`), creates the monitor's store
//! (`ceph-mon --mkfs`) and runs `ceph-mon` in the foreground; it returns
//! once the monitor listens. Clients read [`CephMon::conf`] (`ceph -c`),
//! which names the admin keyring. No OSD runs: the cluster holds no data.
//! The monitor is killed when the value is dropped. A missing package is
//! an error, not a skip.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::launch::Launched;

/// A running one-monitor cluster.
pub struct CephMon {
    conf: PathBuf,
    // Dropped first: the monitor goes before its directory.
    _process: Launched,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for CephMon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CephMon")
            .field("conf", &self.conf)
            .finish_non_exhaustive()
    }
}

fn tool(name: &str) -> io::Result<PathBuf> {
    let path = Path::new("/usr/bin").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} is missing: install Debian's ceph-mon and ceph-common",
                path.display()
            ),
        ))
    }
}

/// Runs a setup step; its output is the error when it fails.
fn step(cmd: &mut Command) -> io::Result<()> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl CephMon {
    /// Creates the cluster and starts its monitor. Blocking; a second or
    /// two.
    pub fn start() -> io::Result<Self> {
        let (authtool, monmaptool, mon) = (
            tool("ceph-authtool")?,
            tool("monmaptool")?,
            tool("ceph-mon")?,
        );
        let dir = tempfile::Builder::new().prefix("keepup-ceph-").tempdir()?;
        let d = dir.path();
        let port = crate::ports::free_port(Ipv4Addr::LOCALHOST)?;
        let fsid = uuid_v4()?;
        let keyring = d.join("keyring");
        let conf = d.join("ceph.conf");
        std::fs::write(
            &conf,
            format!(
                "[global]\nfsid = {fsid}\nmon host = v2:127.0.0.1:{port}\n\
                 mon initial members = a\nkeyring = {keyring}\n\
                 log file = {d}/$name.log\nrun dir = {d}\nadmin socket = {d}/$name.asok\n\
                 [mon.a]\nmon data = {d}/mon\n",
                keyring = keyring.display(),
                d = d.display(),
            ),
        )?;
        step(
            Command::new(&authtool)
                .arg("--create-keyring")
                .arg(&keyring)
                .args(["--gen-key", "-n", "mon.", "--cap", "mon", "allow *"]),
        )?;
        step(Command::new(&authtool).arg(&keyring).args([
            "--gen-key",
            "-n",
            "client.admin",
            "--cap",
            "mon",
            "allow *",
            "--cap",
            "osd",
            "allow *",
            "--cap",
            "mgr",
            "allow *",
        ]))?;
        let monmap = d.join("monmap");
        step(
            Command::new(&monmaptool)
                .args(["--create", "--addv", "a"])
                .arg(format!("[v2:127.0.0.1:{port}]"))
                .args(["--fsid", &fsid])
                .arg(&monmap),
        )?;
        std::fs::create_dir(d.join("mon"))?;
        step(
            Command::new(&mon)
                .arg("-c")
                .arg(&conf)
                .args(["--mkfs", "-i", "a", "--monmap"])
                .arg(&monmap)
                .arg("--keyring")
                .arg(&keyring),
        )?;
        let process = Launched::start(
            Command::new(&mon)
                .arg("-c")
                .arg(&conf)
                .args(["-i", "a", "-f"]),
            "ceph-mon (Debian package ceph-mon)",
            &d.join("ceph-mon.stderr"),
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        )?;
        Ok(Self {
            conf,
            _process: process,
            _dir: dir,
        })
    }

    /// The cluster's configuration (`ceph -c`), which names its admin
    /// keyring.
    pub fn conf(&self) -> &Path {
        &self.conf
    }
}

/// A random UUID for the cluster's fsid, from the kernel.
fn uuid_v4() -> io::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/random/uuid")?
        .trim()
        .to_owned())
}
