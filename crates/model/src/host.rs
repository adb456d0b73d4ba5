//! What `keepup agent` reports about its host: one versioned wire format,
//! made by the agent (crate `keepup-agent`), read by the central keepup
//! (the web listener that takes pushes, the monitor that judges `kind =
//! "host"` checks). It lives here so that the central side needs no
//! dependency on the agent.
//!
//! Values are raw measures (bytes, seconds, percentages of a core's time),
//! never judgements: thresholds are the central configuration's business.
//! A measure the agent could not read is absent (`None`, an empty list)
//! and explained in [`HostReport::problems`], so the central side can say
//! Unknown rather than guess.
//!
//! Also the action exchange, its own versioned format: the central asks
//! an agent to run one of the actions it was started with by name
//! ([`ActionRequests`]), the agent answers how each ran
//! ([`ActionOutcomes`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// The wire format's version; the central side refuses others.
pub const HOST_REPORT_VERSION: u32 = 1;

/// Pushed report bodies larger than this are refused (a host with
/// hundreds of mounts, units and processes stays well under it).
pub const MAX_HOST_REPORT_BYTES: usize = 256 * 1024;

/// One collection on one host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostReport {
    /// [`HOST_REPORT_VERSION`].
    pub version: u32,
    /// The agent's configured name (the central `[[agent]] name`).
    pub agent: String,
    /// Increases by one for each report the agent makes, across restarts:
    /// the central keeps a report only if its sequence is new.
    pub seq: u64,
    /// When it was collected (ms since the epoch, the agent's clock).
    pub at: Timestamp,
    /// The agent's collection interval in seconds (silence is judged in
    /// intervals).
    pub interval_s: u64,
    /// The host's name as the kernel knows it.
    pub hostname: String,
    /// `/proc/sys/kernel/random/boot_id`: a new one means a reboot.
    pub boot_id: String,
    /// Seconds since boot.
    pub uptime_s: f64,
    /// Online CPUs.
    pub cores: u32,
    /// Load averages over 1, 5 and 15 minutes (not divided by cores).
    pub load: Option<[f64; 3]>,
    /// CPU time shares since the previous collection (None on the first).
    pub cpu: Option<CpuShares>,
    /// Memory and swap.
    pub memory: Option<Memory>,
    /// Real file systems (pseudo ones skipped), by mount point.
    pub mounts: Vec<Mount>,
    /// The clock: synchronisation and offsets against NTP servers.
    pub clock: ClockState,
    /// Running processes by name: every command name (`comm`), plus the
    /// agent's own watches by command line or user under their names.
    pub processes: BTreeMap<String, u32>,
    /// Open file descriptors against their limit, under the same names as
    /// [`HostReport::processes`]: the process of the name nearest its own
    /// limit. Absent from reports of agents that predate it.
    pub process_files: BTreeMap<String, ProcessFiles>,
    /// systemd units' `ActiveState` (`active`, `failed`, ...); empty where
    /// there is no systemd (see `problems`).
    pub units: BTreeMap<String, String>,
    /// Open file handles system-wide, and the limit.
    pub files: Option<FileHandles>,
    /// Network interfaces (loopback left out).
    pub interfaces: Vec<Interface>,
    /// Whether a default route exists.
    pub routes: DefaultRoutes,
    /// TCP ports something listens on (IPv4 and IPv6).
    pub listening: Vec<u16>,
    /// SMART health of block devices, when `smartctl` could tell.
    pub smart: Vec<SmartDisk>,
    /// Replication visible on the host (DRBD, GlusterFS, Ceph).
    pub replication: Vec<Replication>,
    /// The Nagios plugins the agent is configured to run (`--plugin`), by
    /// name: each one's run of this collection.
    pub plugins: BTreeMap<String, PluginRun>,
    /// The access logs the agent counts (`--access-log`), by name: lines
    /// written since the previous collection. Absent from reports of
    /// agents that predate it.
    pub access_logs: BTreeMap<String, AccessLogCount>,
    /// Measures that could not be read, and why (one line each).
    pub problems: Vec<String>,
    /// Lists the agent cut short to keep the report under
    /// [`MAX_HOST_REPORT_BYTES`] on a big host: an entry missing from a
    /// cut list is unknown, not absent.
    pub cut: Vec<Cut>,
}

/// Lines an access log gained between two collections.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessLogCount {
    /// Seconds since the previous count; None on the agent's first
    /// collection, which only finds the log's end (its history is not
    /// load of now).
    pub over_s: Option<f64>,
    /// Lines (requests) written in that time.
    pub lines: u64,
    /// Of those, lines matching the transactions regex, if one is set.
    pub transactions: Option<u64>,
    /// Why the log could not be read, if it could not.
    pub problem: Option<String>,
}

/// One list of a [`HostReport`] the agent cut short.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cut {
    /// The list's field name (`processes`, `units`, `mounts`, ...).
    pub list: String,
    /// Entries kept.
    pub kept: usize,
    /// Entries left out.
    pub left_out: usize,
}

impl HostReport {
    /// How `list` was cut, if it was.
    pub fn cut_of(&self, list: &str) -> Option<&Cut> {
        self.cut.iter().find(|c| c.list == list)
    }
}

/// Percentages of all CPUs' time since the previous collection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuShares {
    /// User time (including nice).
    pub user: f64,
    /// Kernel time (including interrupts).
    pub system: f64,
    /// Waiting for I/O.
    pub iowait: f64,
    /// Taken by the hypervisor for other guests.
    pub steal: f64,
}

/// Memory and swap, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Installed memory.
    pub total: u64,
    /// `MemAvailable`: what can be used without swapping.
    pub available: u64,
    /// Swap size.
    pub swap_total: u64,
    /// Swap in use.
    pub swap_used: u64,
    /// Pages swapped in per second since the previous collection.
    pub swap_in_per_s: Option<f64>,
}

/// One mounted file system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mount {
    /// Where it is mounted.
    pub path: String,
    /// The device or source.
    pub device: String,
    /// The file system type.
    pub fstype: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// Size in bytes.
    pub size: u64,
    /// Bytes available to unprivileged users.
    pub available: u64,
    /// Bytes free, counting the blocks reserved for root (None in the
    /// reports of agents before it was sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free: Option<u64>,
    /// Inodes in all (0 when the file system has no fixed number).
    pub inodes: u64,
    /// Inodes free.
    pub inodes_free: u64,
}

impl Mount {
    /// Used bytes (`df`'s Used: size less free, reserved blocks not
    /// counted as used).
    pub fn used_bytes(&self) -> u64 {
        self.size
            .saturating_sub(self.free.unwrap_or(self.available))
    }

    /// Used space in % of what users can have, as `df` counts it: used of
    /// used + available, so blocks reserved for root are neither (an ext4
    /// keeps 5 % by default; a disk at 100 % has room for root only).
    pub fn used_percent(&self) -> Option<f64> {
        let used = self.used_bytes();
        let room = used.saturating_add(self.available);
        (self.size > 0 && room > 0).then(|| (100.0 * used as f64 / room as f64).clamp(0.0, 100.0))
    }

    /// Used inodes in %, None for file systems without an inode count.
    pub fn inodes_used_percent(&self) -> Option<f64> {
        (self.inodes > 0)
            .then(|| 100.0 * (1.0 - self.inodes_free as f64 / self.inodes as f64).clamp(0.0, 1.0))
    }
}

/// The clock as the host sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClockState {
    /// Whether the kernel says its clock is synchronised (None: could not
    /// ask).
    pub synchronised: Option<bool>,
    /// One SNTP query per configured server.
    pub offsets: Vec<NtpOffset>,
}

/// The host clock's offset against one NTP server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NtpOffset {
    /// The server as configured.
    pub server: String,
    /// Seconds the server is ahead of the host (negative: behind).
    pub offset_s: Option<f64>,
    /// Why there is no offset.
    pub error: Option<String>,
}

/// System-wide file handles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct FileHandles {
    /// Allocated and in use.
    pub open: u64,
    /// `fs.file-max`.
    pub max: u64,
}

/// The open file descriptors of the processes of one name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessFiles {
    /// Descriptors open in the process with the highest share of its limit
    /// (`/proc/<pid>/fd`).
    pub open: u64,
    /// That process's soft limit (`Max open files` in `/proc/<pid>/limits`);
    /// 0 when no process of the name could be read.
    pub limit: u64,
    /// Processes of the name whose descriptors the agent may not list
    /// (another user's, without `CAP_DAC_READ_SEARCH`).
    #[serde(skip_serializing_if = "is_zero")]
    pub unreadable: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl ProcessFiles {
    /// Open descriptors in % of the limit; None when none could be read.
    pub fn used_percent(&self) -> Option<f64> {
        (self.limit > 0).then(|| 100.0 * self.open as f64 / self.limit as f64)
    }
}

/// At most this much of a plugin's standard output goes into a report
/// (Nagios 3 kept 4 KiB of a plugin's output too); the agent reads up to
/// 64 KiB, as the probe's `nagios` kind does.
pub const MAX_PLUGIN_OUTPUT_BYTES: usize = 4 * 1024;

/// At most this much of a plugin's standard error goes into a report.
pub const MAX_PLUGIN_STDERR_BYTES: usize = 1024;

/// One run of a plugin on the agent's host. Its output is the plugin's,
/// unread: the central judges it as it judges a local `nagios` check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginRun {
    /// The command as the agent runs it (no secrets: the agent takes none
    /// for plugins).
    pub command: String,
    /// How it ended.
    pub ended: PluginEnded,
    /// Its standard output, at most [`MAX_PLUGIN_OUTPUT_BYTES`].
    #[serde(default)]
    pub output: String,
    /// Its standard error, at most [`MAX_PLUGIN_STDERR_BYTES`].
    #[serde(default)]
    pub stderr: String,
    /// How long it ran, in milliseconds.
    #[serde(default)]
    pub ms: f64,
}

/// How a plugin run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum PluginEnded {
    /// It exited with this code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
    Exited {
        /// The exit code.
        code: i32,
    },
    /// A signal ended it.
    Signalled {
        /// The signal's number.
        signal: i32,
    },
    /// It ran past the agent's plugin timeout; its process group was
    /// killed.
    TimedOut {
        /// The timeout, in milliseconds.
        after_ms: u64,
    },
    /// It wrote more than the agent reads; it was stopped.
    TooMuchOutput,
    /// It could not be started.
    NotRunnable {
        /// Why, as the system said.
        reason: String,
    },
}

/// One network interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Operationally up (`operstate` up, or unknown with carrier).
    pub up: bool,
    /// Receive and transmit errors per second since the previous
    /// collection.
    pub errors_per_s: Option<f64>,
    /// Dropped packets per second since the previous collection.
    pub drops_per_s: Option<f64>,
}

/// Default routes present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DefaultRoutes {
    /// An IPv4 default route.
    pub ipv4: bool,
    /// An IPv6 default route.
    pub ipv6: bool,
}

/// SMART health of one device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SmartDisk {
    /// The device, e.g. `/dev/sda`.
    pub device: String,
    /// The overall health self-assessment passed (None: unknown).
    pub passed: Option<bool>,
    /// NVMe "Percentage Used" of the rated endurance.
    pub percentage_used: Option<u32>,
    /// Reallocated sectors (ATA attribute 5), when reported.
    pub reallocated_sectors: Option<u64>,
    /// Why health is unknown.
    pub error: Option<String>,
}

/// A replicated resource's state as its tool reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Replication {
    /// `drbd`, `gluster` or `ceph`.
    pub system: String,
    /// The resource, volume or cluster.
    pub name: String,
    /// Whether the tool says it is healthy.
    pub healthy: bool,
    /// Its state in the tool's own words (e.g. `Connected UpToDate/UpToDate`).
    pub state: String,
}

/// The version of the action exchange ([`ActionRequests`] from the
/// central, [`ActionOutcomes`] from the agent); each side refuses others.
/// 2: requests carry [`ActionRequest::not_after`] and the central's
/// [`ActionRequests::acked`] (an agent of version 1 would ignore both, so
/// it is refused rather than run a request too late).
pub const AGENT_ACTION_VERSION: u32 = 2;

/// At most this many requests, or outcomes, in one exchange: the rest
/// wait for the next.
pub const MAX_ACTIONS_PER_EXCHANGE: usize = 16;

/// At most this much of an action's output (standard output, then
/// standard error) goes into its outcome.
pub const MAX_ACTION_OUTPUT_BYTES: usize = 4 * 1024;

/// At most this much of an outcome's `error`.
pub const MAX_ACTION_ERROR_BYTES: usize = 512;

/// Exchange bodies (either way) larger than this are refused: 16 outcomes
/// at their bounds fit.
pub const MAX_ACTION_EXCHANGE_BYTES: usize = 128 * 1024;

/// A line of the central's answer to a pushed report saying that action
/// requests wait for the agent (it then exchanges with `/agent/actions`).
pub const ACTIONS_PENDING: &str = "actions pending";

/// An action request's id (the idempotency key): 1 to this many bytes.
pub const MAX_ACTION_ID_BYTES: usize = 128;

/// Whether `id` may be an action request's id: 1 to
/// [`MAX_ACTION_ID_BYTES`] ASCII letters, digits, `.`, `_`, `:` and `-`.
pub fn valid_action_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ACTION_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The central's request that an agent run one of the actions it was
/// started with (`keepup agent --action NAME=COMMAND`): only a name, never
/// a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRequest {
    /// The idempotency key ([`valid_action_id`]): the agent runs an id at
    /// most once and answers the same outcome when asked again.
    pub id: String,
    /// The action's name, as the agent's `--action NAME=...`.
    pub action: String,
    /// How long it may run, in ms; the agent's `--action-timeout` caps it,
    /// 0 means the agent's.
    #[serde(default)]
    pub timeout_ms: u64,
    /// The last moment (ms since the epoch, the central's clock) a run
    /// may start: after it the central no longer waits for the outcome
    /// (it marks the request lost), so the agent refuses it as too late
    /// to start. None: no such limit.
    #[serde(default)]
    pub not_after: Option<Timestamp>,
}

/// How an agent's run of an action ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionOutcome {
    /// The request's id.
    pub id: String,
    /// The action's name.
    pub action: String,
    /// When it started (ms since the epoch, the agent's clock); when it
    /// was refused, if it was.
    pub started: Timestamp,
    /// How long it ran.
    pub duration_ms: u64,
    /// Its exit code; None if it did not exit by itself (killed, timed
    /// out, never started, refused).
    pub exit_code: Option<i32>,
    /// It ran past its timeout; its process group was killed.
    pub timed_out: bool,
    /// It was not run: the agent has no such action, or the request was
    /// malformed (`error` says which).
    pub refused: bool,
    /// Why it was refused, did not start, or has no exit code (a signal,
    /// too much output, an agent restart while it ran); at most
    /// [`MAX_ACTION_ERROR_BYTES`].
    pub error: Option<String>,
    /// Its standard output then standard error, UTF-8 (lossy), at most
    /// [`MAX_ACTION_OUTPUT_BYTES`].
    pub output: String,
}

impl ActionOutcome {
    /// It ran and exited 0.
    pub fn succeeded(&self) -> bool {
        !self.refused && !self.timed_out && self.exit_code == Some(0)
    }

    /// Cuts `output` and `error` to their bounds (at a character
    /// boundary): what a central keeps whatever an agent sent.
    pub fn fit(&mut self) {
        cut_string(&mut self.output, MAX_ACTION_OUTPUT_BYTES);
        if let Some(e) = &mut self.error {
            cut_string(e, MAX_ACTION_ERROR_BYTES);
        }
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
fn cut_string(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// The central to an agent: the requests waiting for it (push mode: the
/// answer to `POST /agent/actions`; pull mode: the body of the central's
/// `POST /action` to the agent's listener).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionRequests {
    /// [`AGENT_ACTION_VERSION`].
    pub version: u32,
    /// At most [`MAX_ACTIONS_PER_EXCHANGE`], oldest first.
    pub requests: Vec<ActionRequest>,
    /// Pull mode: ids whose outcomes the central recorded from the
    /// agent's previous answer, so the agent may forget them (at most
    /// [`MAX_ACTIONS_PER_EXCHANGE`] are looked at). In push mode the
    /// central's success answer to the outcomes acknowledges them.
    pub acked: Vec<String>,
    /// When the central sent this (ms since the epoch, its clock): the
    /// agent moves each request's [`ActionRequest::not_after`] by the
    /// difference between its own clock and this, so hosts whose clocks
    /// disagree still judge "too late to start" as the central does (the
    /// time in transit counts against the start).
    #[serde(default)]
    pub sent_at: Option<Timestamp>,
}

/// An agent to the central: outcomes of requests it was sent (push mode:
/// the body of `POST /agent/actions`; pull mode: the answer to `POST
/// /action`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionOutcomes {
    /// [`AGENT_ACTION_VERSION`].
    pub version: u32,
    /// The agent's name (the central refuses another than its token's).
    pub agent: String,
    /// At most [`MAX_ACTIONS_PER_EXCHANGE`].
    pub outcomes: Vec<ActionOutcome>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_shares_follow_df() {
        let m = Mount {
            size: 1000,
            available: 250,
            inodes: 64,
            inodes_free: 16,
            ..Mount::default()
        };
        assert_eq!(
            m.used_percent(),
            Some(75.0),
            "no free count: as if none reserved"
        );
        assert_eq!(m.inodes_used_percent(), Some(75.0));
        // 50 blocks reserved for root: df says 700 used of 950 (73.7 %).
        let reserved = Mount {
            size: 1000,
            available: 250,
            free: Some(300),
            ..Mount::default()
        };
        assert_eq!(reserved.used_bytes(), 700);
        let pct = reserved.used_percent().unwrap();
        assert!((pct - 100.0 * 700.0 / 950.0).abs() < 1e-9, "{pct}");
        // Full for users, room for root only: 100 %.
        let full = Mount {
            size: 1000,
            available: 0,
            free: Some(50),
            ..Mount::default()
        };
        assert_eq!(full.used_percent(), Some(100.0));
        let empty = Mount::default();
        assert_eq!(
            (empty.used_percent(), empty.inodes_used_percent()),
            (None, None)
        );
    }

    #[test]
    fn the_wire_format_round_trips() {
        let mut r = HostReport {
            version: HOST_REPORT_VERSION,
            agent: "web1".into(),
            seq: 7,
            load: Some([0.5, 0.25, 0.1]),
            ..HostReport::default()
        };
        r.processes.insert("nginx".into(), 3);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<HostReport>(&json).unwrap(), r);
    }

    #[test]
    fn action_ids_are_short_and_plain_and_outcomes_fit_their_bounds() {
        for good in ["a", "run-17", "web1:restart.2026-12-06T03:12"] {
            assert!(valid_action_id(good), "{good}");
        }
        let long = "x".repeat(MAX_ACTION_ID_BYTES + 1);
        for bad in ["", "a b", "a/b", "ä", "a\n", long.as_str()] {
            assert!(!valid_action_id(bad), "{bad:?}");
        }
        let mut o = ActionOutcome {
            output: "é".repeat(MAX_ACTION_OUTPUT_BYTES),
            error: Some("x".repeat(10_000)),
            exit_code: Some(0),
            ..ActionOutcome::default()
        };
        assert!(o.succeeded());
        o.fit();
        assert_eq!(o.output.len(), MAX_ACTION_OUTPUT_BYTES);
        assert_eq!(
            o.error.as_ref().map(String::len),
            Some(MAX_ACTION_ERROR_BYTES)
        );
        let mut odd = ActionOutcome {
            output: format!("a{}", "é".repeat(MAX_ACTION_OUTPUT_BYTES)),
            ..ActionOutcome::default()
        };
        odd.fit();
        assert_eq!(
            odd.output.len(),
            MAX_ACTION_OUTPUT_BYTES - 1,
            "cut at a character"
        );
        assert!(
            !ActionOutcome {
                timed_out: true,
                exit_code: Some(0),
                ..ActionOutcome::default()
            }
            .succeeded()
        );
    }
}
