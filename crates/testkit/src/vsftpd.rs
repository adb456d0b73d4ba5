//! A private FTP server on loopback (Debian `vsftpd`), for the `ftp`
//! kind's tests.
//!
//! [`Vsftpd::start`] writes a configuration into a temporary directory
//! (127.0.0.1 and a free port, `listen=YES`, `background=NO`, anonymous
//! logins only with a password asked, no writes, its own empty chroot
//! directory) and runs `/usr/sbin/vsftpd` with it. With a certificate it
//! speaks FTPS: explicit (`AUTH TLS`) or, with [`FtpTls::Implicit`], TLS
//! from the first byte. vsftpd needs root for its anonymous chroot, as in
//! production. Killed on drop, and by the kernel if the test process dies
//! first.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::launch::Launched;
use crate::pki::Issued;

/// How the server offers TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtpTls {
    /// Plain FTP only.
    None,
    /// `AUTH TLS` on the plain port.
    Explicit,
    /// TLS from the first byte.
    Implicit,
}

/// The greeting the server sends after `220 `.
pub const BANNER: &str = "keepup test FTP";

/// A running private vsftpd.
pub struct Vsftpd {
    _process: Launched,
    port: u16,
    dir: tempfile::TempDir,
}

impl Vsftpd {
    /// Starts it on 127.0.0.1 and a free port; `cert` is required for
    /// [`FtpTls::Explicit`] and [`FtpTls::Implicit`].
    pub fn start(tls: FtpTls, cert: Option<&Issued>) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        let empty = d.join("empty");
        let anon = d.join("anon");
        std::fs::create_dir(&empty)?;
        std::fs::create_dir(&anon)?;
        // vsftpd refuses a chroot its users could write to.
        for p in [&empty, &anon] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o555))?;
        }
        let port = crate::ports::free_port(Ipv4Addr::LOCALHOST)?;
        let mut config = format!(
            "listen=YES\nlisten_ipv6=NO\nbackground=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
             anonymous_enable=YES\nno_anon_password=NO\nlocal_enable=NO\nwrite_enable=NO\n\
             anon_root={anon}\nsecure_chroot_dir={empty}\nftpd_banner={BANNER}\n\
             xferlog_enable=NO\nsyslog_enable=NO\nvsftpd_log_file={log}\nseccomp_sandbox=NO\n",
            anon = anon.display(),
            empty = empty.display(),
            log = d.join("vsftpd.log").display(),
        );
        if tls != FtpTls::None {
            let cert = cert.ok_or_else(|| io::Error::other("FTPS needs a certificate"))?;
            let pem = cert.write_to_dir(d)?;
            config.push_str(&format!(
                "ssl_enable=YES\nallow_anon_ssl=YES\nforce_anon_logins_ssl=NO\nforce_anon_data_ssl=NO\n\
                 rsa_cert_file={}\nrsa_private_key_file={}\nimplicit_ssl={}\n",
                pem.chain.display(),
                pem.key.display(),
                if tls == FtpTls::Implicit { "YES" } else { "NO" },
            ));
        }
        let conf = d.join("vsftpd.conf");
        std::fs::write(&conf, config)?;
        let mut cmd = Command::new("/usr/sbin/vsftpd");
        cmd.arg(&conf).env_clear();
        let process = Launched::start(
            &mut cmd,
            "/usr/sbin/vsftpd (Debian package vsftpd)",
            &d.join("stderr.log"),
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        )?;
        Ok(Self {
            _process: process,
            port,
            dir,
        })
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its log so far (and what it wrote to stderr).
    pub fn log(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("vsftpd.log"))
    }
}
