//! keepup agent: what `keepup agent` measures on the host it runs on.
//!
//! A [`Collector`] reads each measure from its real source (`/proc`,
//! `/sys`, `statvfs`, `adjtimex`, an SNTP query, and `systemctl`,
//! `smartctl`, `drbdadm`, `gluster`, `ceph` when installed; the new
//! lines of the [`access_log`]s it follows; the
//! [`plugins`] the agent is told to run), needs no root
//! for the basics, and keeps the previous sample of what is a rate (CPU
//! shares, swap-ins, interface errors). Each collection is a
//! [`keepup_model::host::HostReport`]; the [`backlog`] keeps reports on
//! disk, numbered, until the central keepup has them. The [`actions`]
//! runner runs the commands the agent was started with when the central
//! asks for them by name.
//!
//! Not here: sending reports or listening for the central keepup (the
//! `keepup agent` command wires that), and judging measures against
//! thresholds (the central configuration's `kind = "host"` checks, in the
//! monitor). Linux only.

pub mod access_log;
pub mod actions;
pub mod backlog;
pub mod bound;
pub mod command;
pub mod plugins;
pub mod procfs;
pub mod push;
pub mod replication;
pub mod smart;
pub mod sntp;
mod space;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

use keepup_model::host::{
    ClockState, DefaultRoutes, FileHandles, HOST_REPORT_VERSION, HostReport, Interface, Memory,
    NtpOffset, ProcessFiles, SmartDisk,
};
use regex::Regex;

/// How long a system tool may run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one collection waits for the access logs to be counted.
const ACCESS_LOG_TIMEOUT: Duration = Duration::from_secs(10);
/// `PF_KTHREAD` in `/proc/<pid>/stat`'s flags: kernel threads are not
/// processes anyone watches by name.
const PF_KTHREAD: u64 = 0x0020_0000;

/// Processes counted under a name of the agent's choosing, by command line
/// and/or user (every command name is counted anyway).
#[derive(Debug, Clone)]
pub struct ProcessWatch {
    /// The name the count is reported under.
    pub name: String,
    /// Matches the command line (arguments joined by spaces).
    pub cmdline: Option<Regex>,
    /// Only processes of this user.
    pub user: Option<String>,
}

/// What the agent measures and how.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The agent's name, as the central `[[agent]]` knows it.
    pub name: String,
    /// Time between collections.
    pub interval: Duration,
    /// NTP servers to measure the clock's offset against.
    pub ntp_servers: Vec<String>,
    /// How long an SNTP query may take.
    pub ntp_timeout: Duration,
    /// Extra process counts.
    pub watches: Vec<ProcessWatch>,
    /// How often SMART is read (smartctl wakes disks; not every interval).
    pub smart_every: Duration,
    /// How often replication state is read again (`/proc/drbd`,
    /// `drbdadm`, `gluster`, `ceph`): the gluster and ceph tools start a
    /// Python interpreter each, more than the rest of a collection costs.
    pub replication_every: Duration,
    /// Nagios plugins run at each collection, one after another.
    pub plugins: Vec<plugins::Plugin>,
    /// How long a plugin may run.
    pub plugin_timeout: Duration,
    /// The Ceph configuration `ceph health` reads (`ceph --conf`; it names
    /// the monitors and the keyring); None: the tool's default,
    /// /etc/ceph/ceph.conf.
    pub ceph_conf: Option<std::path::PathBuf>,
    /// Access logs whose new lines are counted at each collection.
    pub access_logs: Vec<access_log::AccessLog>,
    /// glusterd's CLI socket (`gluster --glusterd-sock`); None: the
    /// tool's default, /var/run/glusterd.socket.
    pub gluster_socket: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            name: String::new(),
            interval: Duration::from_secs(10),
            ntp_servers: Vec::new(),
            ntp_timeout: Duration::from_secs(2),
            watches: Vec::new(),
            smart_every: Duration::from_secs(600),
            replication_every: Duration::from_secs(60),
            plugins: Vec::new(),
            plugin_timeout: Duration::from_secs(10),
            ceph_conf: None,
            access_logs: Vec::new(),
            gluster_socket: None,
        }
    }
}

/// Collects reports, keeping what a rate needs between two collections.
pub struct Collector {
    settings: Settings,
    /// Prefixed to every `/proc`, `/sys` and `/etc` path: empty in
    /// production, a fake host's tree in tests.
    root: String,
    previous: Option<Previous>,
    smart: Option<(Instant, Vec<SmartDisk>, Option<String>)>,
    /// The last replication reading: when, what, and its problems.
    replication: Option<(Instant, Vec<keepup_model::host::Replication>, Vec<String>)>,
    space: space::MountSpace,
    /// Shared with the blocking task that reads the logs, so a count still
    /// running (a hung file system) is seen by the next collection.
    access: Arc<Mutex<access_log::Counters>>,
}

/// The counters of the previous collection.
struct Previous {
    at: Instant,
    cpu: Option<procfs::CpuTimes>,
    swap_in: Option<u64>,
    net: BTreeMap<String, procfs::NetCounters>,
}

fn read(root: &str, path: &str, problems: &mut Vec<String>) -> Option<String> {
    let path = format!("{root}{path}");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            problems.push(format!("cannot read {path}: {e}"));
            None
        }
    }
}

/// Reads `path` into `buf` (cleared first, its allocation reused).
fn read_into(path: &Path, buf: &mut String) -> bool {
    buf.clear();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(buf))
        .is_ok()
}

impl Collector {
    /// A collector with these settings; the first report has no rates.
    pub fn new(settings: Settings) -> Self {
        Collector {
            access: Arc::new(Mutex::new(access_log::Counters::new(&settings.access_logs))),
            settings,
            root: String::new(),
            previous: None,
            smart: None,
            replication: None,
            space: space::MountSpace::new(),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Measures everything once; `seq` and `at` number and date the report.
    pub async fn collect(&mut self, seq: u64, at: keepup_model::Timestamp) -> HostReport {
        let now = Instant::now();
        let mut problems = Vec::new();
        let root = &self.root.clone();
        let mut r = HostReport {
            version: HOST_REPORT_VERSION,
            agent: self.settings.name.clone(),
            seq,
            at,
            interval_s: self.settings.interval.as_secs(),
            ..HostReport::default()
        };
        r.hostname = read(root, "/proc/sys/kernel/hostname", &mut problems)
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        r.boot_id = read(root, "/proc/sys/kernel/random/boot_id", &mut problems)
            .map(|b| b.trim().to_owned())
            .unwrap_or_default();
        r.uptime_s = read(root, "/proc/uptime", &mut problems)
            .and_then(|t| procfs::uptime(&t))
            .unwrap_or(0.0);
        r.load = read(root, "/proc/loadavg", &mut problems).and_then(|t| procfs::loadavg(&t));
        let stat = read(root, "/proc/stat", &mut problems).and_then(|t| procfs::stat(&t));
        r.cores = stat.map(|(_, cores)| cores).unwrap_or(0).max(1);
        let elapsed = self
            .previous
            .as_ref()
            .map(|p| now.duration_since(p.at).as_secs_f64())
            .filter(|s| *s > 0.0);
        if let (Some((times, _)), Some(Some(before))) =
            (stat, self.previous.as_ref().map(|p| p.cpu))
        {
            r.cpu = times.shares_since(&before);
        }
        let vmstat = read(root, "/proc/vmstat", &mut problems);
        let swap_in = vmstat.as_deref().and_then(|t| procfs::vmstat(t, "pswpin"));
        if let Some((total, available, swap_total, swap_free)) =
            read(root, "/proc/meminfo", &mut problems).and_then(|t| procfs::meminfo(&t))
        {
            let swap_in_per_s = match (
                swap_in,
                self.previous.as_ref().and_then(|p| p.swap_in),
                elapsed,
            ) {
                (Some(now), Some(before), Some(secs)) => {
                    Some(now.saturating_sub(before) as f64 / secs)
                }
                _ => None,
            };
            r.memory = Some(Memory {
                total,
                available,
                swap_total,
                swap_used: swap_total.saturating_sub(swap_free),
                swap_in_per_s,
            });
        }
        if let Some(mountinfo) = read(root, "/proc/self/mountinfo", &mut problems) {
            // Capped before measuring: each mount costs a blocking call.
            let mut entries = procfs::mounts(&mountinfo);
            bound::mounts(&mut entries, bound::MAX_MOUNTS, &mut r.cut);
            r.mounts = self.space.measure(entries, &mut problems).await;
        }
        r.files = read(root, "/proc/sys/fs/file-nr", &mut problems)
            .and_then(|t| procfs::file_nr(&t))
            .map(|(open, max)| FileHandles { open, max });
        let mut net = read(root, "/proc/net/dev", &mut problems)
            .map(|t| procfs::net_dev(&t))
            .unwrap_or_default();
        net.remove("lo");
        // Also bounds what is kept for the next collection's rates.
        bound::interfaces(&mut net, bound::MAX_INTERFACES, &mut r.cut);
        r.interfaces = interfaces(root, &net, self.previous.as_ref().map(|p| &p.net), elapsed);
        let read_ok = |path: &str| std::fs::read_to_string(format!("{root}{path}")).ok();
        r.routes = DefaultRoutes {
            ipv4: read_ok("/proc/net/route").is_some_and(|t| procfs::has_ipv4_default(&t)),
            ipv6: read_ok("/proc/net/ipv6_route").is_some_and(|t| procfs::has_ipv6_default(&t)),
        };
        let mut ports: Vec<u16> = ["/proc/net/tcp", "/proc/net/tcp6"]
            .into_iter()
            .filter_map(read_ok)
            .flat_map(|t| procfs::listening_ports(&t))
            .collect();
        ports.sort_unstable();
        ports.dedup();
        bound::truncate(&mut ports, bound::MAX_PORTS, "listening", &mut r.cut);
        r.listening = ports;
        (r.processes, r.process_files) = processes(root, &self.settings.watches, &mut problems);
        bound::processes(
            &mut r.processes,
            bound::MAX_PROCESS_NAMES,
            &self.watched(),
            &mut r.cut,
        );
        r.process_files
            .retain(|name, _| r.processes.contains_key(name));
        r.clock = self.clock().await;
        r.units = units(&mut problems).await;
        bound::units(&mut r.units, bound::MAX_UNITS, &mut r.cut);
        r.smart = self.smart(now, &mut problems).await;
        r.replication = self.replication(now, &r.processes, &mut problems).await;
        bound::truncate(
            &mut r.replication,
            bound::MAX_DEVICES,
            "replication",
            &mut r.cut,
        );
        for p in &self.settings.plugins {
            let run = plugins::run(p, self.settings.plugin_timeout).await;
            r.plugins.insert(p.name.clone(), run);
        }
        r.access_logs = self.count_access_logs(&mut problems).await;
        r.problems = problems;
        bound::fit(&mut r, &self.watched());
        self.previous = Some(Previous {
            at: now,
            cpu: stat.map(|(t, _)| t),
            swap_in,
            net,
        });
        r
    }

    /// Each access log's lines since the previous collection. The reading
    /// (up to [`access_log::MAX_READ_BYTES`] per log) is blocking file work:
    /// it runs on the blocking pool, so the agent's listener and pushes go
    /// on meanwhile, bounded by [`ACCESS_LOG_TIMEOUT`]. A count that has
    /// not finished by then is dropped (its lines are not counted again).
    async fn count_access_logs(
        &self,
        problems: &mut Vec<String>,
    ) -> BTreeMap<String, keepup_model::host::AccessLogCount> {
        if self.settings.access_logs.is_empty() {
            return BTreeMap::new();
        }
        let counters = Arc::clone(&self.access);
        let call = tokio::task::spawn_blocking(move || match counters.try_lock() {
            Ok(mut c) => Some(c.count()),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner().count()),
            Err(TryLockError::WouldBlock) => None,
        });
        match tokio::time::timeout(ACCESS_LOG_TIMEOUT, call).await {
            Ok(Ok(Some(counts))) => counts,
            Ok(Ok(None)) => {
                problems.push(
                    "the access logs' previous count has still not finished (a hung file system?)"
                        .into(),
                );
                BTreeMap::new()
            }
            Ok(Err(e)) => {
                problems.push(format!("counting the access logs failed: {e}"));
                BTreeMap::new()
            }
            Err(_) => {
                problems.push(format!(
                    "the access logs were not counted within {}s (a hung file system, or logs written faster than they can be read)",
                    ACCESS_LOG_TIMEOUT.as_secs()
                ));
                BTreeMap::new()
            }
        }
    }

    /// The watches' names (kept first when the process list is cut).
    fn watched(&self) -> Vec<&str> {
        self.settings
            .watches
            .iter()
            .map(|w| w.name.as_str())
            .collect()
    }

    async fn clock(&self) -> ClockState {
        let queries = self.settings.ntp_servers.iter().map(|server| async move {
            match sntp::offset(server, self.settings.ntp_timeout).await {
                Ok(offset) => NtpOffset {
                    server: server.clone(),
                    offset_s: Some(offset),
                    error: None,
                },
                Err(e) => NtpOffset {
                    server: server.clone(),
                    offset_s: None,
                    error: Some(e.to_string()),
                },
            }
        });
        let mut offsets = Vec::new();
        for q in queries {
            offsets.push(q.await);
        }
        ClockState {
            synchronised: sntp::kernel_synchronised(),
            offsets,
        }
    }

    /// The replication state, read again every `replication_every`.
    async fn replication(
        &mut self,
        now: Instant,
        processes: &BTreeMap<String, u32>,
        problems: &mut Vec<String>,
    ) -> Vec<keepup_model::host::Replication> {
        if let Some((at, found, seen)) = &self.replication
            && now.duration_since(*at) < self.settings.replication_every
        {
            problems.extend(seen.iter().cloned());
            return found.clone();
        }
        let mut seen = Vec::new();
        let found = replication(
            &self.root,
            processes,
            self.settings.ceph_conf.as_deref(),
            self.settings.gluster_socket.as_deref(),
            &mut seen,
        )
        .await;
        problems.extend(seen.iter().cloned());
        self.replication = Some((now, found.clone(), seen));
        found
    }

    /// SMART of each disk, read again every `smart_every`.
    async fn smart(&mut self, now: Instant, problems: &mut Vec<String>) -> Vec<SmartDisk> {
        if let Some((at, disks, problem)) = &self.smart
            && now.duration_since(*at) < self.settings.smart_every
        {
            problems.extend(problem.clone());
            return disks.clone();
        }
        let (disks, problem) = match command::find("smartctl") {
            None => (
                Vec::new(),
                Some("smartctl is not installed: no SMART health".to_owned()),
            ),
            Some(smartctl) => {
                let mut disks = Vec::new();
                let mut devices = block_devices(&self.root);
                // Not noted as a cut: the list is kept until the next
                // reading; the central sees the devices it names missing.
                devices.truncate(bound::MAX_DEVICES);
                for device in devices {
                    let out =
                        command::run(&smartctl, &["--json", "-H", "-A", &device], TOOL_TIMEOUT)
                            .await;
                    disks.push(match out {
                        Ok(out) => smart::parse(&device, &out.stdout),
                        Err(e) => SmartDisk {
                            device,
                            error: Some(e),
                            ..SmartDisk::default()
                        },
                    });
                }
                (disks, None)
            }
        };
        problems.extend(problem.clone());
        self.smart = Some((now, disks.clone(), problem));
        disks
    }
}

/// Whole disks under /sys/block (no loop, RAM, compressed-RAM, optical or
/// device-mapper devices, which have no SMART).
fn block_devices(root: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(format!("{root}/sys/block")) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !["loop", "ram", "zram", "sr", "dm-", "md", "nbd"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .map(|n| format!("/dev/{n}"))
        .collect();
    out.sort();
    out
}

fn interfaces(
    root: &str,
    net: &BTreeMap<String, procfs::NetCounters>,
    before: Option<&BTreeMap<String, procfs::NetCounters>>,
    elapsed: Option<f64>,
) -> Vec<Interface> {
    net.iter()
        .filter(|(name, _)| name.as_str() != "lo")
        .map(|(name, counters)| {
            let dir = format!("{root}/sys/class/net/{name}");
            let operstate = std::fs::read_to_string(format!("{dir}/operstate")).unwrap_or_default();
            let carrier = std::fs::read_to_string(format!("{dir}/carrier")).unwrap_or_default();
            // Virtual interfaces say "unknown"; their carrier tells.
            let up = match operstate.trim() {
                "up" => true,
                "unknown" => carrier.trim() == "1",
                _ => false,
            };
            let rate = |now: u64, then: Option<u64>| match (then, elapsed) {
                (Some(then), Some(secs)) => Some(now.saturating_sub(then) as f64 / secs),
                _ => None,
            };
            let then = before.and_then(|b| b.get(name));
            Interface {
                name: name.clone(),
                up,
                errors_per_s: rate(counters.errors, then.map(|c| c.errors)),
                drops_per_s: rate(counters.drops, then.map(|c| c.drops)),
            }
        })
        .collect()
}

/// What the agent could see of one process's open descriptors.
#[derive(Clone, Copy)]
enum Files {
    /// Open descriptors and the soft limit.
    Read(ProcessFiles),
    /// Not ours to list (another user's process).
    Denied,
    /// The process ended meanwhile: not counted either way.
    Gone,
}

/// The open descriptors of one process against its soft limit.
fn open_files(dir: &std::path::Path) -> Files {
    // Listing the directory is the honest count: FDSize in
    // /proc/<pid>/status is the table's size, not what is open.
    let open = match std::fs::read_dir(dir.join("fd")) {
        Ok(dir) => dir.count() as u64,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Files::Denied,
        Err(_) => return Files::Gone,
    };
    match std::fs::read_to_string(dir.join("limits"))
        .ok()
        .and_then(|t| procfs::open_files_limit(&t))
    {
        Some(limit) => Files::Read(ProcessFiles {
            open,
            limit,
            unreadable: 0,
        }),
        None => Files::Gone,
    }
}

/// Keeps, per name, the process nearest its limit, and counts those that
/// could not be read.
fn note_files(files: &mut BTreeMap<String, ProcessFiles>, name: &str, process: Files) {
    let entry = files.entry(name.to_owned()).or_default();
    match process {
        Files::Gone => {}
        Files::Denied => entry.unreadable += 1,
        Files::Read(p) => {
            // open/limit compared without division: a/b > c/d as a*d > c*b.
            let higher = u128::from(p.open) * u128::from(entry.limit)
                > u128::from(entry.open) * u128::from(p.limit.max(1));
            if entry.limit == 0 || higher {
                entry.open = p.open;
                entry.limit = p.limit;
            }
        }
    }
}

/// Every user-space process counted by command name, plus the watches;
/// and per name the open files of the process nearest its limit.
fn processes(
    root: &str,
    watches: &[ProcessWatch],
    problems: &mut Vec<String>,
) -> (BTreeMap<String, u32>, BTreeMap<String, ProcessFiles>) {
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    let mut files = BTreeMap::new();
    let proc = PathBuf::from(format!("{root}/proc"));
    let entries = match std::fs::read_dir(&proc) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("cannot list {}: {e}", proc.display()));
            return (counts, files);
        }
    };
    let users = if watches.iter().any(|w| w.user.is_some()) {
        std::fs::read_to_string(format!("{root}/etc/passwd"))
            .map(|t| procfs::users(&t))
            .unwrap_or_default()
    } else {
        BTreeMap::new()
    };
    // One buffer each for every process's files.
    let (mut stat, mut status) = (String::new(), String::new());
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        // A process may end between listing and reading: skip it.
        let dir = proc.join(pid);
        if !read_into(&dir.join("stat"), &mut stat) {
            continue;
        }
        let Some(comm) = procfs::comm(&stat) else {
            continue;
        };
        let flags = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(6))
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
        if flags & PF_KTHREAD != 0 {
            continue;
        }
        match counts.get_mut(comm) {
            Some(n) => *n += 1,
            None => {
                counts.insert(comm.to_owned(), 1);
            }
        }
        let open = open_files(&dir);
        note_files(&mut files, comm, open);
        if watches.is_empty() {
            continue;
        }
        let cmdline = std::fs::read(dir.join("cmdline"))
            .map(|raw| procfs::cmdline(&raw))
            .unwrap_or_default();
        let user = read_into(&dir.join("status"), &mut status)
            .then(|| procfs::uid(&status))
            .flatten()
            .map(|uid| users.get(&uid).cloned().unwrap_or_else(|| uid.to_string()));
        for w in watches {
            let by_cmdline = w.cmdline.as_ref().is_none_or(|re| re.is_match(&cmdline));
            let by_user = w.user.as_ref().is_none_or(|u| user.as_ref() == Some(u));
            if by_cmdline && by_user {
                *counts.entry(w.name.clone()).or_insert(0) += 1;
                note_files(&mut files, &w.name, open);
            }
        }
    }
    for w in watches {
        counts.entry(w.name.clone()).or_insert(0);
    }
    (counts, files)
}

/// systemd units' ActiveState, all in one `systemctl list-units` call
/// (one per unit would be a process per unit per interval).
async fn units(problems: &mut Vec<String>) -> BTreeMap<String, String> {
    let mut units = BTreeMap::new();
    let Some(systemctl) = command::find("systemctl") else {
        problems.push("systemctl is not installed: unit states unknown".into());
        return units;
    };
    let args = [
        "list-units",
        "--all",
        "--plain",
        "--no-legend",
        "--no-pager",
        "--full",
    ];
    match command::run(&systemctl, &args, TOOL_TIMEOUT).await {
        Ok(out) if out.code == Some(0) => {
            for line in out.stdout.lines() {
                // UNIT LOAD ACTIVE SUB DESCRIPTION
                let mut f = line.split_whitespace();
                if let (Some(unit), Some(_load), Some(active)) = (f.next(), f.next(), f.next()) {
                    units.insert(unit.to_owned(), active.to_owned());
                }
            }
        }
        Ok(out) => problems.push(format!(
            "systemctl list-units failed: {}",
            if out.stderr_line.is_empty() {
                "no message".into()
            } else {
                out.stderr_line
            }
        )),
        Err(e) => problems.push(e),
    }
    units
}

/// DRBD, GlusterFS and Ceph, each only where it runs on this host: the
/// DRBD module loaded (`/proc/drbd`), a `glusterd` among `processes`, a
/// Ceph configuration (`ceph_conf`, else `/etc/ceph/ceph.conf`). Their tools alone say
/// little (clients have them too), and running `gluster` and `ceph` (a
/// Python program) every interval where nothing is configured took the
/// agent to 1.8 % of a core, past its 1 % budget.
async fn replication(
    root: &str,
    processes: &BTreeMap<String, u32>,
    ceph_conf: Option<&Path>,
    gluster_socket: Option<&Path>,
    problems: &mut Vec<String>,
) -> Vec<keepup_model::host::Replication> {
    let mut out = Vec::new();
    let drbd = std::fs::read_to_string(format!("{root}/proc/drbd"));
    if let Ok(text) = &drbd
        && text.contains(" cs:")
    {
        out.extend(replication::proc_drbd(text));
    } else if drbd.is_ok()
        && let Some(drbdadm) = command::find("drbdadm")
    {
        match command::run(&drbdadm, &["status"], TOOL_TIMEOUT).await {
            Ok(o) if o.code == Some(0) => out.extend(replication::drbdadm_status(&o.stdout)),
            Ok(o) => problems.push(format!("drbdadm status failed: {}", o.stderr_line)),
            Err(e) => problems.push(e),
        }
    }
    if processes.contains_key("glusterd")
        && let Some(gluster) = command::find("gluster")
    {
        out.extend(gluster_volumes(&gluster, gluster_socket, problems).await);
    }
    // The configuration the agent was given, else ceph's own default.
    let default_conf = format!("{root}/etc/ceph/ceph.conf");
    let conf = ceph_conf.unwrap_or(Path::new(&default_conf));
    if conf.exists()
        && let Some(ceph) = command::find("ceph")
    {
        let conf = conf.to_string_lossy();
        let args = ["health", "--format", "json", "--conf", &conf];
        match command::run(&ceph, &args, TOOL_TIMEOUT).await {
            Ok(o) if o.code == Some(0) => match replication::ceph_health(&o.stdout) {
                Ok(r) => out.push(r),
                Err(e) => problems.push(e),
            },
            Ok(o) => problems.push(format!("ceph health failed: {}", o.stderr_line)),
            Err(e) => problems.push(e),
        }
    }
    out
}

/// Every GlusterFS volume of this host's glusterd: `gluster volume info`
/// lists them with their status, and `gluster volume status all` (run only
/// when one is started) says which bricks and daemons are online.
/// `gluster_socket`: glusterd's CLI socket when not the default
/// (`--glusterd-sock`).
async fn gluster_volumes(
    gluster: &PathBuf,
    gluster_socket: Option<&Path>,
    problems: &mut Vec<String>,
) -> Vec<keepup_model::host::Replication> {
    let sock = gluster_socket.map(|s| format!("--glusterd-sock={}", s.display()));
    let run = async |words: &[&str]| -> Result<String, String> {
        let mut args: Vec<&str> = sock.iter().map(String::as_str).collect();
        args.extend(words);
        match command::run(gluster, &args, TOOL_TIMEOUT).await? {
            o if o.code == Some(0) => Ok(o.stdout),
            // The CLI writes most of its errors to stdout.
            o => Err(format!(
                "gluster {} failed: {}",
                words.join(" "),
                if o.stderr_line.is_empty() {
                    o.stdout
                        .lines()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("no message")
                        .trim()
                        .to_owned()
                } else {
                    o.stderr_line
                }
            )),
        }
    };
    let info = match run(&["volume", "info", "all"]).await {
        Ok(text) => replication::gluster_volume_info(&text),
        Err(e) => {
            problems.push(e);
            return Vec::new();
        }
    };
    let status = if info.iter().any(|(_, state)| state == "Started") {
        match run(&["volume", "status", "all"]).await {
            Ok(text) => text,
            Err(e) => {
                problems.push(e);
                return Vec::new();
            }
        }
    } else {
        String::new()
    };
    replication::gluster_volumes(&info, &status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepup_model::host::MAX_HOST_REPORT_BYTES;
    use std::fmt::Write as _;

    /// On a host with the DRBD, GlusterFS and Ceph tools installed (this
    /// machine has them) but none of them configured, no tool is run:
    /// each would say it failed, every interval, at a cost.
    #[tokio::test]
    async fn replication_tools_run_only_where_their_service_is() {
        let dir = tempfile::tempdir().unwrap();
        let mut problems = Vec::new();
        let found = replication(
            dir.path().to_str().unwrap(),
            &BTreeMap::new(),
            None,
            None,
            &mut problems,
        )
        .await;
        assert!(found.is_empty(), "{found:?}");
        assert!(problems.is_empty(), "{problems:?}");
    }

    /// Replication tools are costly (gluster and ceph start Python): the
    /// state is read again only every `replication_every`, and the
    /// problems of the reading kept go with every report until then.
    #[tokio::test]
    async fn replication_is_read_again_only_every_replication_every() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let drbd = |state: &str| {
            format!(
                "version: 8.4.11\n 0: cs:{state} ro:Primary/Secondary ds:UpToDate/UpToDate C r-----\n"
            )
        };
        write(root, "proc/drbd", &drbd("Connected"));
        let state = |r: &HostReport| {
            r.replication
                .iter()
                .map(|e| e.state.split(' ').next().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        };
        for (every, expected) in [
            (Duration::from_secs(60), "Connected"),
            (Duration::ZERO, "WFConnection"),
        ] {
            write(root, "proc/drbd", &drbd("Connected"));
            let mut c = Collector::new(Settings {
                replication_every: every,
                ..Settings::default()
            });
            c.root = root.to_str().unwrap().to_owned();
            let first = c.collect(1, 0).await;
            assert_eq!(state(&first), ["Connected"], "{first:?}");
            write(root, "proc/drbd", &drbd("WFConnection"));
            let second = c.collect(2, 10_000).await;
            assert_eq!(state(&second), [expected], "every {every:?}");
        }
    }

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// A host far bigger than any list cap: 6,000 processes of 6,000
    /// names (and 3 nginx), 3,000 mounts (one of a disk), 2,000
    /// container interfaces, 20,000 listening ports, in a fake /proc and
    /// /sys read by the collector itself.
    #[tokio::test]
    async fn a_huge_host_gives_a_bounded_report_that_says_what_was_cut() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for pid in 1..=6003 {
            let comm = if pid > 6000 {
                "nginx".to_owned()
            } else {
                format!("worker-{pid:05}")
            };
            write(
                root,
                &format!("proc/{pid}/stat"),
                &format!("{pid} ({comm}) S 1 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0"),
            );
        }
        let mut mountinfo = String::new();
        let mounts = root.join("mnt");
        for i in 0..3000 {
            let path = mounts.join(format!("c{i:04}"));
            std::fs::create_dir_all(&path).unwrap();
            let (fstype, device) = if i == 2999 {
                ("ext4", "/dev/sda1")
            } else {
                ("overlay", "overlay")
            };
            let _ = writeln!(
                mountinfo,
                "{} 1 0:{i} / {} rw,relatime - {fstype} {device} rw",
                100 + i,
                path.display()
            );
        }
        write(root, "proc/self/mountinfo", &mountinfo);
        let mut net = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n".to_owned();
        for i in 0..2000 {
            let _ = writeln!(net, "veth{i:04}: 1 2 0 0 0 0 0 0 1 2 0 0 0 0 0 0");
        }
        write(root, "proc/net/dev", &net);
        let mut tcp = "  sl  local_address rem_address   st\n".to_owned();
        for port in 1000..21000u16 {
            let _ = writeln!(
                tcp,
                "   0: 00000000:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0"
            );
        }
        write(root, "proc/net/tcp", &tcp);

        let mut c = Collector::new(Settings {
            name: "big".into(),
            ..Settings::default()
        });
        c.root = root.to_str().unwrap().to_owned();
        let r = c.collect(1, 0).await;

        let size = serde_json::to_vec(&r).unwrap().len();
        assert!(size <= MAX_HOST_REPORT_BYTES, "{size} bytes");
        let cut = |list: &str| {
            r.cut_of(list)
                .unwrap_or_else(|| panic!("{list} not noted as cut: {:?}", r.cut))
                .clone()
        };
        assert_eq!(r.processes.get("nginx"), Some(&3), "the most numerous stay");
        let p = cut("processes");
        assert_eq!((p.kept, p.kept + p.left_out), (r.processes.len(), 6001));
        assert!(r.processes.len() <= bound::MAX_PROCESS_NAMES);

        assert_eq!(r.mounts.len(), bound::MAX_MOUNTS);
        assert!(
            r.mounts.iter().any(|m| m.device == "/dev/sda1"),
            "the disk's mount stays"
        );
        assert_eq!(cut("mounts").left_out, 3000 - bound::MAX_MOUNTS);

        assert_eq!(r.interfaces.len(), bound::MAX_INTERFACES);
        assert_eq!(cut("interfaces").left_out, 2000 - bound::MAX_INTERFACES);
        assert_eq!(r.listening.len(), bound::MAX_PORTS);
        assert_eq!(r.listening[0], 1000, "the lowest ports stay");
        assert_eq!(cut("listening").left_out, 20000 - bound::MAX_PORTS);
        assert!(r.problems.len() <= bound::MAX_PROBLEMS);

        // What is kept for the next collection's rates is bounded too.
        let kept = c.previous.as_ref().map(|p| p.net.len());
        assert_eq!(kept, Some(bound::MAX_INTERFACES));
    }
}
