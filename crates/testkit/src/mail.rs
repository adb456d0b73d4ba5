//! Mail servers on loopback: real Postfix and Dovecot from the Debian
//! packages, and a scripted fake for protocol abuse.
//!
//! - [`Dovecot`] runs a private Dovecot (`dovecot -F -c <conf>`) in a
//!   temporary directory: IMAP and POP3 with STARTTLS, IMAPS and POP3S with
//!   implicit TLS, the test users in a passwd-file, `disable_plaintext_auth
//!   = yes` (or `no` on request, to play a misconfigured server), and an
//!   auth socket that Postfix can use for SASL.
//! - [`Postfix`] runs a private Postfix (`postfix -c <confdir> start`) with
//!   its own queue and data directories and a master.cf listing one smtpd
//!   per [`Postfix`] port: port-25 style (STARTTLS offered, no AUTH),
//!   submission (STARTTLS required, AUTH only after TLS), submissions
//!   (implicit TLS), a submission that advertises AUTH before TLS, and one
//!   without TLS at all. AUTH goes through Dovecot's auth socket.
//! - [`ScriptedMailServer`] is an in-process line server that answers each
//!   command with a scripted [`Action`] (reply, STARTTLS with a given
//!   certificate, stall, flood, garbage instead of TLS), for "bad input
//!   must neither hang nor crash" tests.
//!
//! The real servers listen on a `127.0.0.x` address other than 127.0.0.1
//! (Dovecot treats a client whose address equals the server's as secure and
//! would hide LOGINDISABLED) and on free ports, so several test binaries
//! can run them at once. They are stopped when dropped (the whole process
//! group is killed), and a watchdog process kills them too if the test
//! process dies without dropping them. Both need root here (Postfix's
//! master and Dovecot's privilege separation); a missing package is an
//! error, not a skip.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::dbproc::{SYSTEM_BIN, log_tail};
use crate::http::ServerTls;
use crate::pki::Issued;
use crate::ports::free_ports;
use crate::runner::{self, ConnHandler, Running};

/// The test account every [`Dovecot`] knows (and Postfix, through it).
pub const TEST_USER: &str = "probe@shop.test";
/// Its password: a space and a quote, so that quoting is exercised.
pub const TEST_PASSWORD: &str = "pass\"word with space";
/// A second account whose name is not ASCII (IMAP sends it as a literal).
pub const UTF8_USER: &str = "prüfer@shop.test";
/// Its password.
pub const UTF8_PASSWORD: &str = "geheim-ß";

/// How long a server may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A private server process group: killed on drop, and by a watchdog if
/// this process dies first.
struct ProcessGroup {
    pgid: i32,
    /// The group leader when it is our child (Dovecot in the foreground).
    child: Option<Child>,
    /// The watchdog's stdin: `done` dismisses it, EOF (this process gone)
    /// makes it kill the group.
    watchdog: Option<(Child, ChildStdin)>,
}

impl ProcessGroup {
    /// Watches group `pgid`; `dir` is removed by the watchdog when it has
    /// to kill the group (otherwise its `TempDir` owner removes it).
    fn new(pgid: i32, child: Option<Child>, dir: &Path) -> Self {
        let watchdog = Command::new("sh")
            .args([
                "-c",
                "read line; [ \"$line\" = done ] || { kill -9 -\"$0\" 2>/dev/null; sleep 0.2; rm -rf \"$1\"; }",
                &pgid.to_string(),
            ])
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group: a signal to the test's group must not take
            // the watchdog along with it.
            .process_group(0)
            .spawn()
            .ok()
            .and_then(|mut c| {
                let stdin = c.stdin.take()?;
                Some((c, stdin))
            });
        Self {
            pgid,
            child,
            watchdog,
        }
    }
}

impl ProcessGroup {
    /// Whether the group leader still runs (a server that failed to start
    /// exits at once; no need to wait for it).
    fn alive(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            // SAFETY: signal 0 only checks that the process exists.
            None => unsafe { libc::kill(self.pgid, 0) == 0 },
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some((mut child, mut stdin)) = self.watchdog.take() {
            let _ = stdin.write_all(b"done\n");
            drop(stdin);
            let _ = child.wait();
        }
        // SAFETY: kill(2) with a negative pid signals the process group we
        // started; it has no memory effects.
        unsafe {
            libc::kill(-self.pgid, libc::SIGKILL);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

/// A loopback address other than 127.0.0.1, different between processes
/// and between calls.
fn loopback_address() -> Ipv4Addr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = std::process::id().wrapping_mul(7) + NEXT.fetch_add(1, Ordering::Relaxed);
    // 127.0.0.2 ..= 127.0.0.254
    Ipv4Addr::new(127, 0, 0, 2 + (n % 253) as u8)
}

fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The uid and gid of a system user, from /etc/passwd.
fn system_user(name: &str) -> io::Result<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            if fields.next()? != name {
                return None;
            }
            let uid = fields.nth(1)?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            Some((uid, gid))
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no system user {name:?} (is the Debian package installed?)"),
            )
        })
}

/// Finds a program in the system's binary directories or says which
/// package provides it.
fn require(program: &str, package: &str) -> io::Result<PathBuf> {
    let dirs: Vec<&Path> = SYSTEM_BIN.iter().map(Path::new).collect();
    crate::dbproc::require(&dirs, program, package)
}

/// A temporary directory that the servers' unprivileged users can enter.
fn server_dir(prefix: &str) -> io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}

/// Waits until `addr` accepts connections and, when `first_line` is given,
/// until its first line satisfies it.
/// A test on a server's first line.
type FirstLine = dyn Fn(&str) -> bool;

fn wait_ready(
    group: &mut ProcessGroup,
    addr: SocketAddr,
    first_line: Option<&FirstLine>,
    until: Instant,
) -> io::Result<()> {
    let mut last = String::from("not tried");
    while Instant::now() < until {
        if !group.alive() {
            return Err(io::Error::other(format!(
                "the server exited before {addr} was ready"
            )));
        }
        match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(stream) => {
                let Some(check) = first_line else {
                    return Ok(());
                };
                stream.set_read_timeout(Some(Duration::from_secs(2)))?;
                let mut line = String::new();
                let read = BufReader::new(stream.take(4096)).read_line(&mut line);
                match read {
                    Ok(_) if check(line.trim_end()) => return Ok(()),
                    Ok(_) => last = format!("greeted with {:?}", line.trim_end()),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{addr} did not become ready: {last}"),
    ))
}

/// How to configure a [`Dovecot`].
#[derive(Debug, Clone, Default)]
pub struct DovecotOptions {
    /// Allow plain-text logins before TLS (`disable_plaintext_auth = no`):
    /// a misconfigured server. Default false.
    pub plaintext_auth: bool,
}

/// A private Dovecot (IMAP, IMAPS, POP3, POP3S) on `127.0.0.x`.
pub struct Dovecot {
    ip: Ipv4Addr,
    ports: [u16; 4],
    auth_socket: PathBuf,
    // Dropped first: the processes go before their directory.
    _group: ProcessGroup,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Dovecot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dovecot")
            .field("ip", &self.ip)
            .field("ports", &self.ports)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl Dovecot {
    /// Starts Dovecot presenting `cert` (its served chain) and waits until
    /// it answers. Blocking; takes about a second.
    pub fn start(cert: &Issued, options: DovecotOptions) -> io::Result<Self> {
        let dovecot = require("dovecot", "dovecot-imapd and dovecot-pop3d")?;
        let mut last = None;
        // Ports are free when chosen but may be taken before Dovecot binds
        // them: try again with others.
        for _ in 0..3 {
            match Self::try_start(&dovecot, cert, &options) {
                Ok(d) => return Ok(d),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("Dovecot did not start")))
    }

    fn try_start(dovecot: &Path, cert: &Issued, options: &DovecotOptions) -> io::Result<Self> {
        let dir = server_dir("keepup-dovecot-")?;
        let d = dir.path();
        let ip = loopback_address();
        let ports = free_ports(ip, 4)?;
        let ports = [ports[0], ports[1], ports[2], ports[3]];
        for sub in ["run", "state", "mail"] {
            fs::create_dir(d.join(sub))?;
        }
        let served: String = cert
            .served_chain()
            .iter()
            .map(crate::pki::der_to_pem)
            .collect();
        fs::write(d.join("cert.pem"), served)?;
        fs::write(d.join("key.pem"), &cert.key_pem)?;
        fs::set_permissions(d.join("key.pem"), fs::Permissions::from_mode(0o600))?;
        // Mail users must not be root: Dovecot refuses uid 0.
        let (uid, gid) = if is_root() {
            system_user("nobody")?
        } else {
            let m = fs::metadata("/proc/self")?;
            (m.uid(), m.gid())
        };
        if is_root() {
            std::os::unix::fs::chown(d.join("mail"), Some(uid), Some(gid))?;
        }
        let mut users = String::new();
        for (user, password) in [(TEST_USER, TEST_PASSWORD), (UTF8_USER, UTF8_PASSWORD)] {
            users.push_str(&format!(
                "{user}:{{PLAIN}}{password}:{uid}:{gid}::{}/mail/{user}\n",
                d.display()
            ));
        }
        fs::write(d.join("users"), users)?;
        let unprivileged = if is_root() {
            String::new()
        } else {
            let me = std::env::var("USER").unwrap_or_else(|_| "nobody".into());
            format!("default_internal_user = {me}\ndefault_login_user = {me}\n")
        };
        let conf = format!(
            r#"# A private Dovecot for keepup's tests.
base_dir = {d}/run
state_dir = {d}/state
instance_name = keepup-dovecot-{port}
log_path = {d}/dovecot.log
protocols = imap pop3
listen = {ip}
{unprivileged}ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
disable_plaintext_auth = {disable}
auth_mechanisms = plain login
auth_verbose = yes
# Allow any user name characters (the UTF-8 test account).
auth_username_chars =
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
}}
mail_location = maildir:{d}/mail/%u
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
service auth {{
  unix_listener auth-postfix {{
    mode = 0666
  }}
}}
"#,
            d = d.display(),
            port = ports[0],
            disable = if options.plaintext_auth { "no" } else { "yes" },
            imap = ports[0],
            imaps = ports[1],
            pop3 = ports[2],
            pop3s = ports[3],
        );
        let conf_path = d.join("dovecot.conf");
        fs::write(&conf_path, conf)?;
        let child = Command::new(dovecot)
            .arg("-F")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(fs::File::create(d.join("stdout.log"))?)
            .stderr(fs::File::create(d.join("stderr.log"))?)
            .process_group(0)
            .spawn()?;
        let pgid = i32::try_from(child.id()).map_err(io::Error::other)?;
        let mut group = ProcessGroup::new(pgid, Some(child), d);
        let until = Instant::now() + READY_TIMEOUT;
        // The first greetings after start may say "Waiting for
        // authentication process to respond": wait for the real ones.
        let ready = |line: &str| !line.contains("Waiting");
        let checks: [(u16, Option<&FirstLine>); 4] = [
            (ports[0], Some(&ready)),
            (ports[2], Some(&ready)),
            (ports[1], None),
            (ports[3], None),
        ];
        let waited = checks.into_iter().try_for_each(|(port, check)| {
            wait_ready(&mut group, SocketAddr::from((ip, port)), check, until)
        });
        if let Err(e) = waited {
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "{e}\n{}\n{}",
                    log_tail(&d.join("dovecot.log")),
                    log_tail(&d.join("stderr.log"))
                ),
            ));
        }
        Ok(Self {
            ip,
            ports,
            auth_socket: d.join("run").join("auth-postfix"),
            _group: group,
            dir,
        })
    }

    /// The address it listens on.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }
    /// IMAP with STARTTLS (the 143 of this instance).
    pub fn imap_port(&self) -> u16 {
        self.ports[0]
    }
    /// IMAPS, implicit TLS (993).
    pub fn imaps_port(&self) -> u16 {
        self.ports[1]
    }
    /// POP3 with STLS (110).
    pub fn pop3_port(&self) -> u16 {
        self.ports[2]
    }
    /// POP3S, implicit TLS (995).
    pub fn pop3s_port(&self) -> u16 {
        self.ports[3]
    }
    /// The SASL auth socket (for Postfix's `smtpd_sasl_type = dovecot`).
    pub fn auth_socket(&self) -> &Path {
        &self.auth_socket
    }
    /// The log file, for debugging a test.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

/// How to configure a [`Postfix`].
#[derive(Debug, Clone, Default)]
pub struct PostfixOptions {
    /// Dovecot's auth socket for SMTP AUTH; without it no port offers
    /// AUTH.
    pub sasl_socket: Option<PathBuf>,
}

/// The smtpd ports of a [`Postfix`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostfixPort {
    /// Like port 25: STARTTLS offered, no AUTH.
    Smtp,
    /// Like port 587: STARTTLS required, AUTH only after TLS.
    Submission,
    /// Like port 465: implicit TLS, AUTH.
    Submissions,
    /// A misconfigured submission: AUTH advertised before STARTTLS.
    AuthBeforeTls,
    /// No TLS at all (no STARTTLS offered).
    NoTls,
}

const POSTFIX_PORTS: [PostfixPort; 5] = [
    PostfixPort::Smtp,
    PostfixPort::Submission,
    PostfixPort::Submissions,
    PostfixPort::AuthBeforeTls,
    PostfixPort::NoTls,
];

/// A private Postfix on `127.0.0.x` with one smtpd per [`PostfixPort`].
pub struct Postfix {
    ip: Ipv4Addr,
    ports: Vec<u16>,
    _group: ProcessGroup,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Postfix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postfix")
            .field("ip", &self.ip)
            .field("ports", &self.ports)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl Postfix {
    /// Starts Postfix presenting `cert` and waits until every port greets.
    /// Blocking; takes a fraction of a second.
    pub fn start(cert: &Issued, options: PostfixOptions) -> io::Result<Self> {
        let postfix = require("postfix", "postfix")?;
        let mut last = None;
        for _ in 0..3 {
            match Self::try_start(&postfix, cert, &options) {
                Ok(p) => return Ok(p),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("Postfix did not start")))
    }

    fn try_start(postfix: &Path, cert: &Issued, options: &PostfixOptions) -> io::Result<Self> {
        let dir = server_dir("keepup-postfix-")?;
        let d = dir.path();
        let ip = loopback_address();
        let ports = free_ports(ip, POSTFIX_PORTS.len())?;
        for sub in ["conf", "queue", "data"] {
            fs::create_dir(d.join(sub))?;
        }
        let (postfix_uid, _) = system_user("postfix")?;
        if is_root() {
            std::os::unix::fs::chown(d.join("data"), Some(postfix_uid), None)?;
        }
        let chain: String = cert
            .served_chain()
            .iter()
            .map(crate::pki::der_to_pem)
            .collect();
        fs::write(d.join("conf/cert.pem"), chain)?;
        fs::write(d.join("conf/key.pem"), &cert.key_pem)?;
        fs::set_permissions(d.join("conf/key.pem"), fs::Permissions::from_mode(0o600))?;
        let main_cf = format!(
            r#"# A private Postfix for keepup's tests.
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.shop.test
mydomain = shop.test
myorigin = shop.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
smtpd_banner = $myhostname ESMTP keepup-test
smtpd_tls_cert_file = {d}/conf/cert.pem
smtpd_tls_key_file = {d}/conf/key.pem
smtpd_tls_security_level = may
biff = no
alias_maps =
alias_database =
local_recipient_maps =
smtputf8_enable = no
"#,
            d = d.display()
        );
        fs::write(d.join("conf/main.cf"), main_cf)?;
        let sasl = |enable: bool| match (&options.sasl_socket, enable) {
            (Some(socket), true) => format!(
                "  -o smtpd_sasl_auth_enable=yes\n  -o smtpd_sasl_type=dovecot\n  -o smtpd_sasl_path={}\n",
                socket.display()
            ),
            _ => String::new(),
        };
        let mut master = String::new();
        for (kind, port) in POSTFIX_PORTS.iter().zip(&ports) {
            master.push_str(&format!("{ip}:{port} inet n - n - - smtpd\n"));
            let extra = match kind {
                PostfixPort::Smtp => String::new(),
                PostfixPort::Submission => format!(
                    "  -o smtpd_tls_security_level=encrypt\n  -o smtpd_tls_auth_only=yes\n{}",
                    sasl(true)
                ),
                PostfixPort::Submissions => {
                    format!("  -o smtpd_tls_wrappermode=yes\n{}", sasl(true))
                }
                PostfixPort::AuthBeforeTls => {
                    format!("  -o smtpd_tls_auth_only=no\n{}", sasl(true))
                }
                PostfixPort::NoTls => "  -o smtpd_tls_security_level=none\n".to_owned(),
            };
            master.push_str(&extra);
        }
        // The internal services Postfix needs to start, none chrooted.
        master.push_str(
            "pickup unix n - n 60 1 pickup\n\
             cleanup unix n - n - 0 cleanup\n\
             qmgr unix n - n 300 1 qmgr\n\
             tlsmgr unix - - n 1000? 1 tlsmgr\n\
             rewrite unix - - n - - trivial-rewrite\n\
             bounce unix - - n - 0 bounce\n\
             defer unix - - n - 0 bounce\n\
             trace unix - - n - 0 bounce\n\
             verify unix - - n - 1 verify\n\
             flush unix n - n 1000? 0 flush\n\
             proxymap unix - - n - - proxymap\n\
             error unix - - n - - error\n\
             retry unix - - n - - error\n\
             discard unix - - n - - discard\n\
             anvil unix - - n - 1 anvil\n\
             scache unix - - n - 1 scache\n\
             postlog unix-dgram n - n - 1 postlogd\n",
        );
        fs::write(d.join("conf/master.cf"), master)?;
        let output = Command::new(postfix)
            .arg("-c")
            .arg(d.join("conf"))
            .arg("start")
            .stdin(Stdio::null())
            .output()?;
        let pid_file = d.join("queue/pid/master.pid");
        let pid: Option<i32> = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let Some(pid) = pid.filter(|_| output.status.success()) else {
            return Err(io::Error::other(format!(
                "postfix start failed: {}{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                log_tail(&d.join("maillog"))
            )));
        };
        // The master is a session leader: its pid is its group.
        let mut group = ProcessGroup::new(pid, None, d);
        let until = Instant::now() + READY_TIMEOUT;
        let greets = |line: &str| line.starts_with("220 ");
        for (kind, port) in POSTFIX_PORTS.iter().zip(&ports) {
            let check: Option<&FirstLine> = match kind {
                PostfixPort::Submissions => None,
                _ => Some(&greets),
            };
            if let Err(e) = wait_ready(&mut group, SocketAddr::from((ip, *port)), check, until) {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{e}\n{}", log_tail(&d.join("maillog"))),
                ));
            }
        }
        Ok(Self {
            ip,
            ports,
            _group: group,
            dir,
        })
    }

    /// The address it listens on.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The port of one smtpd.
    pub fn port(&self, which: PostfixPort) -> u16 {
        let index = POSTFIX_PORTS
            .iter()
            .position(|p| *p == which)
            .unwrap_or_default();
        self.ports.get(index).copied().unwrap_or_default()
    }

    /// The mail log, for debugging a test.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }
}

// ---- scripted fake -------------------------------------------------------

/// What a [`ScriptedMailServer`] does, at connection time (the greeting)
/// or in answer to one command line.
#[derive(Debug, Clone)]
pub enum Action {
    /// Sends these bytes.
    Reply(Vec<u8>),
    /// Sends these bytes, then starts TLS (server side) with the server's
    /// certificate and goes on over TLS.
    StartTls(Vec<u8>),
    /// Sends these bytes, waits for the client's first TLS bytes, answers
    /// with text that is not TLS and closes.
    NotTls(Vec<u8>),
    /// Sends nothing more and never answers again (reads until the client
    /// leaves).
    Stall,
    /// Sends these bytes over and over until the client leaves.
    Flood(Vec<u8>),
    /// Sends these bytes, then closes the connection.
    Last(Vec<u8>),
    /// Closes the connection.
    Close,
}

impl Action {
    /// A text reply.
    pub fn reply(text: &str) -> Self {
        Action::Reply(text.as_bytes().to_vec())
    }
}

type Responder = Arc<dyn Fn(&str) -> Action + Send + Sync>;

/// An in-process mail server on 127.0.0.1 that follows a script: a
/// greeting, then one [`Action`] per command line received. Bounded like
/// the hostile servers: each write has a timeout, reads are capped, and
/// everything stops when it is dropped.
pub struct ScriptedMailServer {
    running: Running,
    accepted: Arc<AtomicU64>,
}

impl std::fmt::Debug for ScriptedMailServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedMailServer")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

const SCRIPT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const SCRIPT_MAX_LINE: usize = 64 * 1024;

impl ScriptedMailServer {
    /// Starts on `127.0.0.1:<free port>` on the current tokio runtime;
    /// `tls` is the certificate for [`Action::StartTls`] (and for the whole
    /// connection when `implicit_tls`).
    pub async fn start(
        greeting: Action,
        tls: Option<ServerTls>,
        responder: impl Fn(&str) -> Action + Send + Sync + 'static,
    ) -> io::Result<Self> {
        let acceptor = tls.map(|t| t.acceptor()).transpose()?;
        let responder: Responder = Arc::new(responder);
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&accepted);
        let handler: ConnHandler = Arc::new(move |stream, _peer, mut stop| {
            counter.fetch_add(1, Ordering::SeqCst);
            let (greeting, responder, acceptor) =
                (greeting.clone(), Arc::clone(&responder), acceptor.clone());
            Box::pin(async move {
                tokio::select! {
                    _ = stop.requested() => {}
                    _ = converse(Box::new(stream), greeting, responder, acceptor) => {}
                }
            })
        });
        let running = runner::start_here(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), handler)?;
        Ok(Self { running, accepted })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

async fn write(io: &mut Box<dyn Io>, bytes: &[u8]) -> io::Result<()> {
    match tokio::time::timeout(SCRIPT_WRITE_TIMEOUT, async {
        io.write_all(bytes).await?;
        io.flush().await
    })
    .await
    {
        Ok(r) => r,
        Err(_) => Err(io::ErrorKind::TimedOut.into()),
    }
}

/// Plays `action`; returns the connection to go on with, or `None` when
/// the conversation is over.
async fn play(
    mut io: Box<dyn Io>,
    action: Action,
    acceptor: &Option<tokio_rustls::TlsAcceptor>,
) -> io::Result<Option<Box<dyn Io>>> {
    match action {
        Action::Reply(bytes) => {
            write(&mut io, &bytes).await?;
            Ok(Some(io))
        }
        Action::StartTls(bytes) => {
            write(&mut io, &bytes).await?;
            let Some(acceptor) = acceptor else {
                return Err(io::Error::other("StartTls without a certificate"));
            };
            let tls = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(io))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            Ok(Some(Box::new(tls)))
        }
        Action::NotTls(bytes) => {
            write(&mut io, &bytes).await?;
            let mut hello = [0u8; 512];
            let _ = tokio::time::timeout(Duration::from_secs(5), io.read(&mut hello)).await;
            write(&mut io, b"this is not TLS, sorry\r\n").await?;
            Ok(None)
        }
        Action::Stall => {
            let mut sink = [0u8; 4096];
            while let Ok(n) = io.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
            Ok(None)
        }
        Action::Flood(bytes) => loop {
            write(&mut io, &bytes).await?;
        },
        Action::Last(bytes) => {
            write(&mut io, &bytes).await?;
            io.shutdown().await?;
            Ok(None)
        }
        Action::Close => Ok(None),
    }
}

async fn converse(
    io: Box<dyn Io>,
    greeting: Action,
    responder: Responder,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) -> io::Result<()> {
    let Some(mut io) = play(io, greeting, &acceptor).await? else {
        return Ok(());
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            if buf.len() > SCRIPT_MAX_LINE {
                return Ok(());
            }
            let n = io.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
            continue;
        };
        let line: Vec<u8> = buf.drain(..=end).collect();
        let text = String::from_utf8_lossy(&line);
        let action = responder(text.trim_end_matches(['\r', '\n']));
        match play(io, action, &acceptor).await? {
            Some(next) => io = next,
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_avoid_127_0_0_1() {
        for _ in 0..600 {
            let ip = loopback_address();
            assert!(ip.is_loopback());
            assert_ne!(ip, Ipv4Addr::LOCALHOST);
            assert_ne!(ip.octets()[3], 255);
        }
    }

    #[tokio::test]
    async fn scripted_server_answers_per_line() {
        let server = ScriptedMailServer::start(Action::reply("220 hi\r\n"), None, |line| {
            if line == "QUIT" {
                Action::Close
            } else {
                Action::Reply(format!("250 {line}\r\n").into_bytes())
            }
        })
        .await
        .unwrap();
        let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        stream.write_all(b"EHLO x\r\nQUIT\r\n").await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "220 hi\r\n250 EHLO x\r\n");
        assert_eq!(server.connections(), 1);
    }
}
