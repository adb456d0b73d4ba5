//! Parsers of the kernel's text files under `/proc` and `/sys`, each a pure
//! function of the file's text so that it is tested on real samples; the
//! collector reads the files and keeps what needs a previous sample.

use std::collections::BTreeMap;

/// File system types that hold no user data (kernel interfaces, control
/// groups, automount points): their "space" means nothing.
const PSEUDO_FILESYSTEMS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "sysfs",
    "tracefs",
    "fuse.gvfsd-fuse",
    "fuse.portal",
];

/// A line of `/proc/self/mountinfo` that names a real file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// The mount point, unescaped.
    pub path: String,
    /// The source (device).
    pub device: String,
    /// The file system type.
    pub fstype: String,
    /// Mounted read-only (per mount or per super block).
    pub read_only: bool,
}

/// The real file systems of a `mountinfo` text, one per mount point (the
/// last mount over a path is the visible one).
pub fn mounts(mountinfo: &str) -> Vec<MountEntry> {
    let mut by_path: BTreeMap<String, MountEntry> = BTreeMap::new();
    for line in mountinfo.lines() {
        // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = before.split(' ').collect();
        let tail: Vec<&str> = after.split(' ').collect();
        let (Some(path), Some(options), Some(fstype), Some(source)) =
            (fields.get(4), fields.get(5), tail.first(), tail.get(1))
        else {
            continue;
        };
        let path = unescape(path);
        if PSEUDO_FILESYSTEMS.contains(fstype)
            || path.starts_with("/proc/")
            || path.starts_with("/sys/")
        {
            by_path.remove(&path);
            continue;
        }
        let super_ro = tail.get(2).is_some_and(|s| s.split(',').any(|o| o == "ro"));
        let read_only = options.split(',').any(|o| o == "ro") || super_ro;
        by_path.insert(
            path.clone(),
            MountEntry {
                path,
                device: unescape(source),
                fstype: (*fstype).to_owned(),
                read_only,
            },
        );
    }
    by_path.into_values().collect()
}

/// Octal escapes (`\040` for a space) as the kernel writes them in paths.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Three octal digits up to \377 make one byte; anything else
        // (`\777` would not fit in one) is kept as written.
        let escaped = bytes.get(i + 1..i + 4).and_then(|digits| {
            digits.iter().try_fold(0u16, |value, &b| {
                (b'0'..=b'7')
                    .contains(&b)
                    .then(|| value * 8 + u16::from(b - b'0'))
            })
        });
        if bytes[i] == b'\\'
            && let Some(value) = escaped.and_then(|v| u8::try_from(v).ok())
        {
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/proc/loadavg`: the 1, 5 and 15 minute load averages.
pub fn loadavg(text: &str) -> Option<[f64; 3]> {
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some([
        fields.next()?.ok()?,
        fields.next()?.ok()?,
        fields.next()?.ok()?,
    ])
}

/// The aggregate `cpu` line of `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice
    pub user: u64,
    /// system + irq + softirq
    pub system: u64,
    /// idle
    pub idle: u64,
    /// iowait
    pub iowait: u64,
    /// steal
    pub steal: u64,
}

impl CpuTimes {
    fn total(&self) -> u64 {
        self.user + self.system + self.idle + self.iowait + self.steal
    }

    /// Shares of the time between `earlier` and `self`, in %; None when no
    /// tick passed.
    pub fn shares_since(&self, earlier: &CpuTimes) -> Option<keepup_model::host::CpuShares> {
        let total = self.total().checked_sub(earlier.total())?;
        if total == 0 {
            return None;
        }
        let share = |now: u64, then: u64| 100.0 * now.saturating_sub(then) as f64 / total as f64;
        Some(keepup_model::host::CpuShares {
            user: share(self.user, earlier.user),
            system: share(self.system, earlier.system),
            iowait: share(self.iowait, earlier.iowait),
            steal: share(self.steal, earlier.steal),
        })
    }
}

/// `/proc/stat`: the aggregate CPU times and the number of CPUs listed.
pub fn stat(text: &str) -> Option<(CpuTimes, u32)> {
    let mut times = None;
    let mut cores = 0;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("cpu") => {
                let v: Vec<u64> = fields.map(|f| f.parse().unwrap_or(0)).collect();
                let at = |i: usize| v.get(i).copied().unwrap_or(0);
                // user nice system idle iowait irq softirq steal guest guest_nice
                times = Some(CpuTimes {
                    user: at(0) + at(1),
                    system: at(2) + at(5) + at(6),
                    idle: at(3),
                    iowait: at(4),
                    steal: at(7),
                });
            }
            Some(name) if name.starts_with("cpu") => cores += 1,
            _ => {}
        }
    }
    Some((times?, cores))
}

/// `/proc/meminfo`: (MemTotal, MemAvailable, SwapTotal, SwapFree) in bytes.
pub fn meminfo(text: &str) -> Option<(u64, u64, u64, u64)> {
    let mut values: BTreeMap<&str, u64> = BTreeMap::new();
    for line in text.lines() {
        if let Some((key, rest)) = line.split_once(':') {
            let mut parts = rest.split_whitespace();
            if let Some(Ok(n)) = parts.next().map(str::parse::<u64>) {
                let bytes = if parts.next() == Some("kB") {
                    n * 1024
                } else {
                    n
                };
                values.insert(key, bytes);
            }
        }
    }
    Some((
        *values.get("MemTotal")?,
        *values.get("MemAvailable")?,
        values.get("SwapTotal").copied().unwrap_or(0),
        values.get("SwapFree").copied().unwrap_or(0),
    ))
}

/// One counter of `/proc/vmstat` (e.g. `pswpin`).
pub fn vmstat(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok())?
    })
}

/// `/proc/uptime`: seconds since boot.
pub fn uptime(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// `/proc/sys/fs/file-nr`: (allocated, unused, max). Open = allocated −
/// unused.
pub fn file_nr(text: &str) -> Option<(u64, u64)> {
    let v: Vec<u64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    match v.as_slice() {
        [allocated, unused, max] => Some((allocated.saturating_sub(*unused), *max)),
        _ => None,
    }
}

/// Error and drop counters of one interface in `/proc/net/dev`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetCounters {
    /// Receive + transmit errors.
    pub errors: u64,
    /// Receive + transmit drops.
    pub drops: u64,
}

/// `/proc/net/dev`: counters by interface.
pub fn net_dev(text: &str) -> BTreeMap<String, NetCounters> {
    let mut out = BTreeMap::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        if v.len() < 12 {
            continue;
        }
        // receive: bytes packets errs drop ...(8 fields); transmit: bytes packets errs drop ...
        out.insert(
            name.trim().to_owned(),
            NetCounters {
                errors: v[2] + v[10],
                drops: v[3] + v[11],
            },
        );
    }
    out
}

/// `/proc/net/route`: whether an IPv4 default route exists.
pub fn has_ipv4_default(text: &str) -> bool {
    text.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Iface Destination Gateway Flags RefCnt Use Metric Mask ...; flag 1 = up
        f.len() >= 8
            && f[1] == "00000000"
            && f[7] == "00000000"
            && u32::from_str_radix(f[3], 16).is_ok_and(|flags| flags & 1 == 1)
    })
}

/// `/proc/net/ipv6_route`: whether an IPv6 default route exists (the
/// kernel's unreachable placeholder on `lo` does not count).
pub fn has_ipv6_default(text: &str) -> bool {
    text.lines().any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // dest prefixlen src srcprefixlen nexthop metric refcnt use flags device
        f.len() >= 10
            && f[0].bytes().all(|b| b == b'0')
            && f[1] == "00"
            && f[9] != "lo"
            && u32::from_str_radix(f[8], 16).is_ok_and(|flags| flags & 1 == 1)
    })
}

/// `/proc/net/tcp` or `tcp6`: local ports in the LISTEN state (0A).
pub fn listening_ports(text: &str) -> Vec<u16> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(3) != Some(&"0A") {
                return None;
            }
            let (_, port) = f.get(1)?.rsplit_once(':')?;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

/// `/proc/<pid>/stat`: the command name (between the first `(` and the
/// last `)`, since a name may hold either).
pub fn comm(stat: &str) -> Option<&str> {
    let start = stat.find('(')?;
    let end = stat.rfind(')')?;
    stat.get(start + 1..end)
}

/// `/proc/<pid>/status`: the real user id.
pub fn uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `/proc/<pid>/cmdline`: the arguments joined by spaces.
pub fn cmdline(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.trim_end_matches('\0').replace('\0', " ")
}

/// `/proc/<pid>/limits`: the soft limit of open files (`Max open files`);
/// None for "unlimited" (which the kernel does not allow for files) or an
/// unreadable line.
pub fn open_files_limit(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `/etc/passwd`: user names by uid.
pub fn users(passwd: &str) -> BTreeMap<u32, String> {
    passwd
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines as this machine's kernel writes them (Debian, 6.x), trimmed.
    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw
31 27 8:2 / /srv/my\\040data ro,relatime shared:5 - xfs /dev/sdb1 ro
32 27 0:40 / /var/tmp/x rw - tmpfs tmpfs rw,size=8192k,nr_inodes=64
33 27 0:41 / /var/tmp/x rw - tmpfs tmpfs rw,size=16384k
34 27 0:42 / /mnt/sealed rw - ext4 /dev/sdc1 ro
";

    #[test]
    fn mounts_keep_real_file_systems_once() {
        let m = mounts(MOUNTINFO);
        let paths: Vec<&str> = m.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["/", "/mnt/sealed", "/srv/my data", "/var/tmp/x"]);
        assert!(!m[0].read_only);
        assert_eq!(m[0].device, "/dev/sda1");
        assert!(m[1].read_only, "read-only super block");
        assert!(m[2].read_only, "read-only mount");
        assert_eq!(m[3].fstype, "tmpfs");
    }

    #[test]
    fn octal_escapes_past_one_byte_are_kept_as_written() {
        // \777 is 511: not a byte, and once an overflow (a panic in debug).
        assert_eq!(unescape(r"/srv/a\777b"), r"/srv/a\777b");
        assert_eq!(unescape(r"/srv/\377\400"), "/srv/\u{FFFD}\\400");
        // An escape at the very end, and one cut short.
        assert_eq!(unescape(r"/srv/x\040"), "/srv/x ");
        assert_eq!(unescape(r"/srv/x\04"), r"/srv/x\04");
        let line = r"40 27 0:50 / /mnt/odd\777 rw - tmpfs tmpfs rw";
        assert_eq!(mounts(line)[0].path, r"/mnt/odd\777");
    }

    #[test]
    fn cpu_shares_come_from_deltas() {
        let before = "cpu  100 0 50 800 40 0 10 0 0 0\ncpu0 50 0 25 400 20 0 5 0 0 0\ncpu1 50 0 25 400 20 0 5 0 0 0\nintr 1";
        let after = "cpu  160 40 80 1000 60 0 20 40 0 0\ncpu0 0\ncpu1 0";
        let (a, cores) = stat(before).unwrap();
        let (b, _) = stat(after).unwrap();
        assert_eq!(cores, 2);
        // delta: user 100, system 40, idle 200, iowait 20, steal 40 = 400
        let s = b.shares_since(&a).unwrap();
        assert_eq!(
            (s.user, s.system, s.iowait, s.steal),
            (25.0, 10.0, 5.0, 10.0)
        );
        assert_eq!(a.shares_since(&a), None, "no tick passed");
    }

    #[test]
    fn small_files_parse() {
        assert_eq!(
            loadavg("0.52 0.58 0.59 2/1166 32427\n"),
            Some([0.52, 0.58, 0.59])
        );
        assert_eq!(uptime("7811.66 15012.3\n"), Some(7811.66));
        assert_eq!(file_nr("1613\t0\t2471052\n"), Some((1613, 2471052)));
        assert_eq!(file_nr("1613\t13\n"), None);
        let mem = "MemTotal:       24731408 kB\nMemFree: 1 kB\nMemAvailable:   22075628 kB\nSwapTotal:  1024 kB\nSwapFree:  256 kB\n";
        assert_eq!(
            meminfo(mem),
            Some((24731408 * 1024, 22075628 * 1024, 1024 * 1024, 256 * 1024))
        );
        assert_eq!(
            vmstat("pgpgin 5\npswpin 42\npswpout 3\n", "pswpin"),
            Some(42)
        );
        assert_eq!(comm("32427 (my (odd) cat) R 1 2"), Some("my (odd) cat"));
        assert_eq!(
            uid("Name:\tcat\nUid:\t1000\t1000\t1000\t1000\n"),
            Some(1000)
        );
        assert_eq!(
            cmdline(b"nginx: worker\0-g\0daemon off;\0"),
            "nginx: worker -g daemon off;"
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax processes             96367                96367                processes \nMax open files            1024                 524288               files     \nMax locked memory         8388608              8388608              bytes     \n";
        assert_eq!(open_files_limit(limits), Some(1024));
        assert_eq!(
            open_files_limit("Max open files  unlimited  unlimited  files\n"),
            None
        );
        assert_eq!(
            users(
                "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n"
            )
            .get(&33)
            .map(String::as_str),
            Some("www-data")
        );
    }

    #[test]
    fn network_files_parse() {
        let dev = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo: 1965 96753 0 452 0 0 0 0 1965 96753 0 0 0 0 0 0\n  eth0: 10 20 3 4 0 0 0 0 30 40 5 6 0 0 0 0\n";
        let c = net_dev(dev);
        assert_eq!(
            c["eth0"],
            NetCounters {
                errors: 8,
                drops: 10
            }
        );
        assert_eq!(c["lo"].drops, 452);
        let route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert!(has_ipv4_default(route));
        assert!(!has_ipv4_default(
            &route.replace("\t00000000\t010200C0", "\t0000000A\t010200C0")
        ));
        let v6 = "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0\n";
        assert!(has_ipv6_default(v6));
        let unreachable = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        assert!(!has_ipv6_default(unreachable));
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1259 1\n   1: 0100007F:1F90 0100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 1260 1\n";
        assert_eq!(listening_ports(tcp), [2024]);
    }
}
