//! A private GlusterFS management daemon (Debian's `glusterfs-server`) and
//! volumes of it, for the agent's `gluster volume status` tests.
//!
//! [`Glusterd::start`] runs `glusterd` in the foreground with a volfile of
//! its own: working directory, run directory and CLI socket in a temporary
//! directory, listening on `127.0.0.2:24007`. The port is GlusterFS's
//! default on purpose: glusterd starts each brick with `-s HOST` and no
//! port, so a brick fetches its volfile and registers with the port mapper
//! on 24007 (a glusterd on a private port never sees its bricks start).
//! Hence one glusterd at a time on this machine: [`Glusterd::start`] holds
//! an exclusive lock (`flock` on `/tmp/keepup-testkit-glusterd.lock`)
//! until the value is dropped. The address is 127.0.0.2 because `gluster
//! volume create` refuses bricks on `localhost` and 127.0.0.1; bricks
//! listen on it too. Clients reach glusterd through [`Glusterd::socket`]
//! (`gluster --glusterd-sock`).
//!
//! Two things glusterd 10.3 keeps in system directories whatever its
//! volfile says: brick sockets in `/var/run/gluster` and brick logs in
//! `/var/log/glusterfs/bricks` (the CLI logs to `/var/log/glusterfs` as
//! well). On drop every brick and self-heal daemon of this glusterd is
//! killed (found by its pid file in the run directory and checked against
//! its command line, which names this directory) and its brick socket and
//! brick log removed, then glusterd. Bricks outlive a test process killed
//! mid-run (they daemonize); the next start reaps them through the lock
//! file, which names the directory of the glusterd that held it last. A
//! missing package is an error, not a skip.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::launch::Launched;

/// The address glusterd and its bricks listen on.
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// GlusterFS's management port, where bricks look for their glusterd.
pub const PORT: u16 = 24007;

const GLUSTERD: &str = "/usr/sbin/glusterd";
const GLUSTER: &str = "/usr/sbin/gluster";
const LOCK: &str = "/tmp/keepup-testkit-glusterd.lock";
/// Where glusterd 10.3 puts brick sockets and brick logs, whatever its
/// volfile says.
const SOCKETS: &str = "/var/run/gluster";
const BRICK_LOGS: &str = "/var/log/glusterfs/bricks";

/// A running private glusterd.
pub struct Glusterd {
    dir: PathBuf,
    socket: PathBuf,
    /// Sockets and brick logs its bricks and daemons made in system
    /// directories, removed on drop (a brick stopped by `volume stop`
    /// leaves its socket too).
    leftovers: Mutex<BTreeSet<PathBuf>>,
    // Dropped in this order after `Drop::drop` killed the bricks: glusterd,
    // its directory, then the lock.
    process: Option<Launched>,
    tempdir: Option<tempfile::TempDir>,
    _lock: File,
}

impl std::fmt::Debug for Glusterd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Glusterd")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Glusterd {
    /// Starts glusterd once no other test's glusterd runs (waits for the
    /// lock). Blocking; a second or two once the lock is free. glusterd
    /// is killed when the thread that started it ends (parent-death
    /// signal): start it on the test's own thread, not in
    /// `spawn_blocking`, whose threads end after 10 s idle.
    pub fn start() -> io::Result<Self> {
        for tool in [GLUSTERD, GLUSTER] {
            if !Path::new(tool).is_file() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{tool} is missing: install Debian's glusterfs-server"),
                ));
            }
        }
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(LOCK)?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut previous = String::new();
        lock.read_to_string(&mut previous)?;
        let previous = Path::new(previous.trim());
        if !previous.as_os_str().is_empty() && previous.starts_with(std::env::temp_dir()) {
            reap(previous, BTreeSet::new());
            let _ = fs::remove_dir_all(previous);
        }
        if let Err(e) = TcpListener::bind((ADDRESS, PORT)) {
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "{ADDRESS}:{PORT} is taken ({e}): a glusterd not started by the test kit \
                     runs on this machine; stop it first"
                ),
            ));
        }
        let tempdir = tempfile::Builder::new()
            .prefix("keepup-gluster-")
            .tempdir()?;
        let dir = tempdir.path().to_owned();
        lock.set_len(0)?;
        lock.rewind()?;
        lock.write_all(dir.to_string_lossy().as_bytes())?;
        lock.sync_all()?;
        for sub in ["lib", "run", "bricks"] {
            fs::create_dir(dir.join(sub))?;
        }
        let socket = dir.join("run/glusterd.socket");
        let volfile = dir.join("glusterd.vol");
        fs::write(
            &volfile,
            format!(
                "volume management\n\
                 \x20   type mgmt/glusterd\n\
                 \x20   option working-directory {lib}\n\
                 \x20   option run-directory {run}\n\
                 \x20   option glusterd-sockfile {socket}\n\
                 \x20   option transport-type socket\n\
                 \x20   option transport.socket.bind-address {ADDRESS}\n\
                 \x20   option transport.socket.listen-port {PORT}\n\
                 \x20   option transport.socket.read-fail-log off\n\
                 \x20   option ping-timeout 0\n\
                 \x20   option event-threads 1\n\
                 end-volume\n",
                lib = dir.join("lib").display(),
                run = dir.join("run").display(),
                socket = socket.display(),
            ),
        )?;
        // `-l -`: glusterd's log goes to stderr, so a failed start shows
        // its last lines.
        let process = Launched::start(
            Command::new(GLUSTERD)
                .arg("-N")
                .arg("-f")
                .arg(&volfile)
                .args(["-l", "-"]),
            "glusterd (Debian package glusterfs-server)",
            &dir.join("glusterd.log"),
            SocketAddr::from((ADDRESS, PORT)),
        )?;
        let glusterd = Self {
            dir,
            socket,
            leftovers: Mutex::new(BTreeSet::new()),
            process: Some(process),
            tempdir: Some(tempdir),
            _lock: lock,
        };
        // The CLI socket is created just after the TCP listener.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !glusterd.socket.exists() {
            if std::time::Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "glusterd listens on {ADDRESS}:{PORT} but made no CLI socket {}: {}",
                    glusterd.socket.display(),
                    glusterd.log_tail()
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(glusterd)
    }

    /// glusterd's CLI socket (`gluster --glusterd-sock`).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The last lines of glusterd's log.
    pub fn log_tail(&self) -> String {
        crate::dbproc::log_tail(&self.dir.join("glusterd.log"))
    }

    /// Runs `gluster ARGS` against this glusterd (script mode: no
    /// questions); its stdout, or an error with its output and
    /// glusterd's log.
    pub fn cli(&self, args: &[&str]) -> io::Result<String> {
        // The command may stop bricks or start them.
        self.note_leftovers();
        let out = Command::new(GLUSTER)
            .arg("--mode=script")
            .arg(format!("--glusterd-sock={}", self.socket.display()))
            .arg("--timeout=60")
            .args(args)
            .stdin(Stdio::null())
            .output()?;
        self.note_leftovers();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(io::Error::other(format!(
                "gluster {} failed ({}): {}{}\nglusterd's log:\n{}",
                args.join(" "),
                out.status,
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim(),
                self.log_tail()
            )))
        }
    }

    /// Creates and starts volume `name`, replicated on `replicas` bricks
    /// (one brick and no replication when 1), each a directory of this
    /// glusterd's on 127.0.0.2. Returns the bricks as `gluster volume
    /// status` names them (`127.0.0.2:/tmp/.../b1`).
    pub fn start_volume(&self, name: &str, replicas: usize) -> io::Result<Vec<String>> {
        let mut bricks = Vec::new();
        for i in 1..=replicas {
            let path = self.dir.join("bricks").join(name).join(format!("b{i}"));
            fs::create_dir_all(&path)?;
            // glusterd's name for the brick's log, made before it starts.
            let log = path
                .to_string_lossy()
                .trim_start_matches('/')
                .replace('/', "-");
            self.noted()
                .insert(Path::new(BRICK_LOGS).join(format!("{log}.log")));
            bricks.push(format!("{ADDRESS}:{}", path.display()));
        }
        let count = replicas.to_string();
        let mut args = vec!["volume", "create", name];
        if replicas > 1 {
            args.extend(["replica", &count]);
        }
        args.extend(bricks.iter().map(String::as_str));
        // Bricks on the root file system need `force`.
        args.push("force");
        self.cli(&args)?;
        self.cli(&["volume", "start", name])?;
        Ok(bricks)
    }

    /// Kills the brick process serving `brick` (as [`start_volume`]
    /// returned it) of volume `volume`, as a crash would.
    ///
    /// [`start_volume`]: Self::start_volume
    pub fn kill_brick(&self, volume: &str, brick: &str) -> io::Result<()> {
        // glusterd's pid file: vols/VOLUME/HOST-PATH.pid, '/' made '-'.
        let name = format!("{}.pid", brick.replacen(':', "", 1).replace('/', "-"));
        let file = self.dir.join("run/vols").join(volume).join(name);
        let pid = read_pid(&file)
            .ok_or_else(|| io::Error::other(format!("no brick pid in {}", file.display())))?;
        let args = owned_by(pid, &self.dir).ok_or_else(|| {
            io::Error::other(format!(
                "process {pid} of {} is not a brick of this glusterd",
                file.display()
            ))
        })?;
        self.noted().extend(leftovers(&args));
        // SAFETY: a signal to a process whose command line names this
        // glusterd's directory.
        if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn noted(&self) -> std::sync::MutexGuard<'_, BTreeSet<PathBuf>> {
        self.leftovers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Notes the sockets and brick logs of the bricks and daemons running
    /// now.
    fn note_leftovers(&self) {
        let found: Vec<PathBuf> = processes(&self.dir)
            .iter()
            .flat_map(|(_, args)| leftovers(args))
            .collect();
        self.noted().extend(found);
    }
}

impl Drop for Glusterd {
    fn drop(&mut self) {
        let noted = std::mem::take(&mut *self.noted());
        reap(&self.dir, noted);
        drop(self.process.take());
        drop(self.tempdir.take());
    }
}

fn read_pid(file: &Path) -> Option<i32> {
    fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// The command line of `pid` when it names `dir` (a brick's path, a pid
/// file in the run directory): a process of the glusterd in `dir`, not a
/// later process that reuses a stale pid.
fn owned_by(pid: i32, dir: &Path) -> Option<Vec<String>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let dir = dir.to_string_lossy();
    args.iter()
        .any(|a| a.contains(dir.as_ref()))
        .then_some(args)
}

/// The bricks and self-heal daemons of the glusterd whose directory is
/// `dir` that run now (found by their pid files under its run directory),
/// with their command lines.
fn processes(dir: &Path) -> Vec<(i32, Vec<String>)> {
    let run = dir.join("run");
    let mut found = Vec::new();
    for group in ["vols", "shd"] {
        let Ok(volumes) = fs::read_dir(run.join(group)) else {
            continue;
        };
        for volume in volumes.flatten() {
            let Ok(files) = fs::read_dir(volume.path()) else {
                continue;
            };
            for file in files.flatten().map(|f| f.path()) {
                if file.extension().is_some_and(|e| e == "pid")
                    && let Some(pid) = read_pid(&file)
                    && let Some(args) = owned_by(pid, dir)
                {
                    found.push((pid, args));
                }
            }
        }
    }
    found
}

/// What a brick or self-heal daemon leaves in system directories: its
/// socket, and a brick's own log (the daemon's log is shared).
fn leftovers(args: &[String]) -> Vec<PathBuf> {
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from)
    };
    let socket = arg("-S").filter(|s| s.starts_with(SOCKETS));
    let log = arg("-l").filter(|l| l.starts_with(BRICK_LOGS));
    socket.into_iter().chain(log).collect()
}

/// Kills the bricks and self-heal daemons of the glusterd whose directory
/// is `dir` and removes what they and `noted` left in system directories.
fn reap(dir: &Path, mut noted: BTreeSet<PathBuf>) {
    for (pid, args) in processes(dir) {
        // SAFETY: a signal to a process whose command line names `dir`.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        noted.extend(leftovers(&args));
    }
    for file in noted {
        let _ = fs::remove_file(file);
    }
}
