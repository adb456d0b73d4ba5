//! A private OpenSSH server on loopback (Debian `openssh-server`), the SFTP
//! target of the backup tests.
//!
//! [`Sshd::start`] generates a host key and a client key (`ssh-keygen`),
//! writes an `sshd_config` (127.0.0.1 and a free port, public-key login for
//! the current user only, `Subsystem sftp internal-sftp`, no PAM, no PID
//! file, `StrictModes no` for the temporary directory) and runs
//! `/usr/sbin/sshd -D -e -f <config>`. It hands out what a client needs:
//! the identity file, a known-hosts file holding the server's key, the
//! port and user. The server and its session processes are killed on drop
//! (and by the kernel if the test process dies first).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::launch::{kill_with_parent, wait_listening};
use crate::ports::free_port;

/// A running private `sshd`.
pub struct Sshd {
    child: Child,
    port: u16,
    user: String,
    dir: tempfile::TempDir,
}

impl Sshd {
    /// Starts the server on 127.0.0.1 and a free port.
    pub fn start() -> io::Result<Self> {
        Self::start_with_host_keys(&[])
    }

    /// Like [`start`](Self::start), with more host keys beside the
    /// ed25519 one: `ssh-keygen -t` types (`"ecdsa"`, `"rsa"`), or a type
    /// and its bits (`"rsa-1024"`, a weak key), each in
    /// [`extra_host_key_file`](Self::extra_host_key_file).
    pub fn start_with_host_keys(extra: &[&str]) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        keygen(&d.join("host_key"))?;
        keygen(&d.join("client_key"))?;
        let mut extra_keys = String::new();
        for kind in extra {
            let path = d.join(format!("host_key_{kind}"));
            keygen_type(&path, kind)?;
            extra_keys.push_str(&format!("HostKey {}\n", path.display()));
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys"))?;
        std::fs::create_dir(d.join("storage"))?;
        let user = current_user()?;
        let port = free_port(std::net::Ipv4Addr::LOCALHOST)?;
        let host_pub = std::fs::read_to_string(d.join("host_key.pub"))?;
        let mut host_pub = host_pub.split_whitespace();
        let (kind, key) = (
            host_pub.next().unwrap_or_default(),
            host_pub.next().unwrap_or_default(),
        );
        std::fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {kind} {key}\n"),
        )?;
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "ListenAddress 127.0.0.1:{port}\n\
                 HostKey {host_key}\n\
                 {extra_keys}\
                 PidFile none\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 AuthorizedKeysFile {auth}\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\n\
                 AllowUsers {user}\n\
                 Subsystem sftp internal-sftp\n\
                 LogLevel VERBOSE\n",
                host_key = d.join("host_key").display(),
                auth = d.join("authorized_keys").display(),
            ),
        )?;
        // sshd insists on its privilege separation directory.
        if !Path::new("/run/sshd").exists() {
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let mut cmd = Command::new("/usr/sbin/sshd");
        cmd.arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(d.join("sshd.log"))?))
            // Its own process group, so that drop kills the sessions too.
            .process_group(0);
        kill_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run /usr/sbin/sshd (Debian package openssh-server): {e}"),
            )
        })?;
        let mut server = Self {
            child,
            port,
            user,
            dir,
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log = server.dir.path().join("sshd.log");
        wait_listening(&mut server.child, addr, &log, Duration::from_secs(30))?;
        Ok(server)
    }

    /// The public half of the ed25519 host key (`ssh-keygen -lf` reads it).
    pub fn host_key_file(&self) -> PathBuf {
        self.dir.path().join("host_key.pub")
    }

    /// The public half of an extra host key of `ssh-keygen -t` type `kind`.
    pub fn extra_host_key_file(&self, kind: &str) -> PathBuf {
        self.dir.path().join(format!("host_key_{kind}.pub"))
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The listener's process id (its session processes are its
    /// descendants: a test stops them to make the server silent).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The user allowed to log in (the current user).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The client's private key (`ssh -i`).
    pub fn identity_file(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// A known-hosts file holding the server's key for `[127.0.0.1]:port`.
    pub fn known_hosts_file(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// An empty directory for repositories (absolute path).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// `sftp://user@127.0.0.1:port//<storage>/<name>`.
    pub fn location(&self, name: &str) -> String {
        format!(
            "sftp://{}@127.0.0.1:{}/{}",
            self.user,
            self.port,
            self.storage_dir().join(name).display()
        )
    }

    /// The `ssh` command line for restic's `-o sftp.command=...`.
    pub fn sftp_command(&self) -> String {
        format!(
            "ssh -p {} -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o BatchMode=yes -l {} 127.0.0.1 -s sftp",
            self.port,
            self.identity_file().display(),
            self.known_hosts_file().display(),
            self.user
        )
    }

    /// sshd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // The whole group: the listener and every session process.
        let pgid = self.child.id() as i32;
        // SAFETY: plain syscall on our own child's process group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) -> io::Result<()> {
    keygen_type(path, "ed25519")
}

fn keygen_type(path: &Path, kind: &str) -> io::Result<()> {
    let mut keygen = Command::new("ssh-keygen");
    match kind.split_once('-') {
        Some((kind, bits)) => keygen.args(["-t", kind, "-b", bits]),
        None => keygen.args(["-t", kind]),
    };
    let out = keygen
        .args(["-q", "-N", "", "-C", "keepup-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run ssh-keygen (Debian package openssh-client): {e}"),
            )
        })?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

fn current_user() -> io::Result<String> {
    let out = Command::new("id").arg("-un").output()?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || name.is_empty() {
        return Err(io::Error::other("cannot tell the current user (id -un)"));
    }
    Ok(name)
}
