//! Keeping a report bounded on a big host (thousands of processes, units,
//! mounts or container interfaces): each list is capped while it is
//! collected, and [`fit`] then halves the largest lists until the JSON is
//! within [`MAX_HOST_REPORT_BYTES`], the central's body cap, so a report is
//! never refused for its size. Every cut is recorded in
//! [`HostReport::cut`]: the central then calls a missing entry unknown
//! rather than absent.
//!
//! Which entries stay when a list is cut is chosen for what checks name:
//! watched process names and the most numerous ones, units that are not
//! inactive, mounts of block devices, the lowest ports.

use std::collections::BTreeMap;

use keepup_model::host::{Cut, HostReport, MAX_HOST_REPORT_BYTES, Mount};

/// Process names listed (a watch's name always is).
pub const MAX_PROCESS_NAMES: usize = 1024;
/// systemd units listed.
pub const MAX_UNITS: usize = 1024;
/// Mounts measured (each costs a `statvfs` and a blocking thread).
pub const MAX_MOUNTS: usize = 256;
/// Network interfaces listed (and kept for the next collection's rates).
pub const MAX_INTERFACES: usize = 256;
/// Listening ports listed.
pub const MAX_PORTS: usize = 1024;
/// SMART devices and replicated resources listed.
pub const MAX_DEVICES: usize = 64;
/// Lines of `problems`, and the length of each.
pub const MAX_PROBLEMS: usize = 64;
/// The length of one line of `problems`, in bytes.
pub const MAX_PROBLEM_BYTES: usize = 512;

/// Records that `list` now keeps `kept` entries and `left_out` more were
/// left out (added to an earlier cut of the same list).
pub(crate) fn note(cut: &mut Vec<Cut>, list: &str, kept: usize, left_out: usize) {
    if left_out == 0 {
        return;
    }
    match cut.iter_mut().find(|c| c.list == list) {
        Some(c) => {
            c.kept = kept;
            c.left_out += left_out;
        }
        None => cut.push(Cut {
            list: list.to_owned(),
            kept,
            left_out,
        }),
    }
}

/// Keeps the first `max` entries of `list`.
pub(crate) fn truncate<T>(list: &mut Vec<T>, max: usize, name: &str, cut: &mut Vec<Cut>) {
    let left_out = list.len().saturating_sub(max);
    list.truncate(max);
    note(cut, name, list.len(), left_out);
}

fn halve<T>(list: &mut Vec<T>, name: &str, cut: &mut Vec<Cut>) {
    let half = list.len() / 2;
    truncate(list, half, name, cut);
}

/// Keeps the `max` entries of `map` that sort first by `rank` (then by
/// key).
fn keep_ranked<V, R: Ord>(
    map: &mut BTreeMap<String, V>,
    max: usize,
    rank: impl Fn(&str, &V) -> R,
    name: &str,
    cut: &mut Vec<Cut>,
) {
    if map.len() <= max {
        return;
    }
    let mut order: Vec<(R, &String)> = map.iter().map(|(k, v)| (rank(k, v), k)).collect();
    order.sort();
    let keep: std::collections::HashSet<String> = order
        .into_iter()
        .take(max)
        .map(|(_, k)| k.clone())
        .collect();
    let left_out = map.len() - keep.len();
    map.retain(|k, _| keep.contains(k));
    note(cut, name, map.len(), left_out);
}

/// Caps the units, keeping the ones in a state other than `inactive`
/// first (the failed and the running are what checks name).
pub(crate) fn units(units: &mut BTreeMap<String, String>, max: usize, cut: &mut Vec<Cut>) {
    keep_ranked(units, max, |_, state| state == "inactive", "units", cut);
}

/// Caps the process counts, keeping the watches' names, then the most
/// numerous names.
pub(crate) fn processes(
    counts: &mut BTreeMap<String, u32>,
    max: usize,
    watched: &[&str],
    cut: &mut Vec<Cut>,
) {
    keep_ranked(
        counts,
        max,
        |name, count| (!watched.contains(&name), std::cmp::Reverse(*count)),
        "processes",
        cut,
    );
}

/// Caps the interfaces (by name; the map is also what the next
/// collection's rates start from).
pub(crate) fn interfaces<V>(net: &mut BTreeMap<String, V>, max: usize, cut: &mut Vec<Cut>) {
    keep_ranked(net, max, |_, _| (), "interfaces", cut);
}

/// A mount as found or as measured: its path and device.
pub(crate) trait MountLike {
    /// (path, device)
    fn names(&self) -> (&str, &str);
}

impl MountLike for Mount {
    fn names(&self) -> (&str, &str) {
        (&self.path, &self.device)
    }
}

impl MountLike for crate::procfs::MountEntry {
    fn names(&self) -> (&str, &str) {
        (&self.path, &self.device)
    }
}

/// Caps the mounts, keeping those of block devices (`/dev/...`) first
/// (container and tmpfs mounts are the thousands), in path order.
pub(crate) fn mounts<M: MountLike>(mounts: &mut Vec<M>, max: usize, cut: &mut Vec<Cut>) {
    if mounts.len() <= max {
        return;
    }
    let rank = |m: &M| {
        let (path, device) = m.names();
        (!device.starts_with("/dev/"), path.to_owned())
    };
    mounts.sort_by_cached_key(rank);
    truncate(mounts, max, "mounts", cut);
    mounts.sort_by(|a, b| a.names().0.cmp(b.names().0));
}

/// Caps `problems` in lines and each line in length.
pub(crate) fn problems(problems: &mut Vec<String>, cut: &mut Vec<Cut>) {
    truncate(problems, MAX_PROBLEMS, "problems", cut);
    for p in problems.iter_mut() {
        if p.len() > MAX_PROBLEM_BYTES {
            let mut end = MAX_PROBLEM_BYTES - 3;
            while !p.is_char_boundary(end) {
                end -= 1;
            }
            p.truncate(end);
            p.push_str("...");
        }
    }
}

/// Counts bytes written, to size JSON without building it.
struct Count(usize);

impl std::io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The size of `value` as JSON, in bytes.
pub fn json_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    let mut c = Count(0);
    // Serializing these plain structures cannot fail; a failure would
    // count as too large.
    match serde_json::to_writer(&mut c, value) {
        Ok(()) => c.0,
        Err(_) => usize::MAX,
    }
}

/// Halves the largest lists of `r` until its JSON is within
/// [`MAX_HOST_REPORT_BYTES`]; `watched` are the process names kept last.
pub fn fit(r: &mut HostReport, watched: &[&str]) {
    problems(&mut r.problems, &mut r.cut);
    // Each round halves one list; 16 rounds empty a list of 65,536.
    for _ in 0..128 {
        if json_len(r) <= MAX_HOST_REPORT_BYTES {
            return;
        }
        let sizes = [
            json_len(&r.units),
            json_len(&r.processes),
            json_len(&r.mounts),
            json_len(&r.interfaces),
            json_len(&r.listening),
            json_len(&r.smart),
            json_len(&r.replication),
            json_len(&r.problems),
        ];
        let largest = (0..sizes.len()).max_by_key(|i| sizes[*i]).unwrap_or(0);
        let cut = &mut r.cut;
        match largest {
            0 => {
                let half = r.units.len() / 2;
                units(&mut r.units, half, cut)
            }
            1 => {
                let half = r.processes.len() / 2;
                processes(&mut r.processes, half, watched, cut);
                r.process_files
                    .retain(|name, _| r.processes.contains_key(name));
            }
            2 => {
                let half = r.mounts.len() / 2;
                mounts(&mut r.mounts, half, cut)
            }
            3 => halve(&mut r.interfaces, "interfaces", cut),
            4 => halve(&mut r.listening, "listening", cut),
            5 => halve(&mut r.smart, "smart", cut),
            6 => halve(&mut r.replication, "replication", cut),
            _ => halve(&mut r.problems, "problems", cut),
        }
        if sizes[largest] <= 2 {
            // Every list is empty: what is left is bounded by the kernel.
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_says_how_much_was_left_out_and_adds_up() {
        let mut cut = Vec::new();
        let mut list: Vec<u16> = (0..10).collect();
        truncate(&mut list, 4, "listening", &mut cut);
        truncate(&mut list, 2, "listening", &mut cut);
        assert_eq!(list, vec![0, 1]);
        assert_eq!(
            cut,
            vec![Cut {
                list: "listening".into(),
                kept: 2,
                left_out: 8
            }]
        );
        truncate(&mut list, 5, "listening", &mut cut);
        assert_eq!(cut[0].left_out, 8, "nothing cut, nothing noted");
    }

    #[test]
    fn units_not_inactive_and_watched_processes_stay() {
        let mut cut = Vec::new();
        let mut u: BTreeMap<String, String> = (0..10)
            .map(|i| (format!("a{i}.service"), "inactive".to_owned()))
            .collect();
        u.insert("z.service".into(), "failed".into());
        units(&mut u, 3, &mut cut);
        assert!(u.contains_key("z.service"), "{u:?}");
        assert_eq!(u.len(), 3);

        let mut p: BTreeMap<String, u32> = (0..10).map(|i| (format!("p{i}"), i)).collect();
        p.insert("mine".into(), 0);
        processes(&mut p, 3, &["mine"], &mut cut);
        assert_eq!(
            p.keys().collect::<Vec<_>>(),
            vec!["mine", "p8", "p9"],
            "the watch, then the most numerous"
        );
        assert_eq!(cut[1].list, "processes");
        assert_eq!(cut[1].left_out, 8);
    }

    #[test]
    fn a_report_too_large_is_halved_until_it_fits() {
        let mut r = HostReport::default();
        // Long unit names: the capped list alone is over the body cap.
        for i in 0..MAX_UNITS {
            r.units.insert(
                format!("{i:04}-{}.service", "u".repeat(240)),
                "active".to_owned(),
            );
        }
        r.processes = (0..MAX_PROCESS_NAMES)
            .map(|i| (format!("proc-{i:05}"), 1))
            .collect();
        r.problems = vec!["é".repeat(10_000); 100];
        assert!(json_len(&r) > MAX_HOST_REPORT_BYTES);

        fit(&mut r, &[]);
        let json = serde_json::to_vec(&r).unwrap();
        assert_eq!(json.len(), json_len(&r));
        assert!(json.len() <= MAX_HOST_REPORT_BYTES, "{}", json.len());
        let units = r.cut_of("units").unwrap();
        assert_eq!(
            (units.kept, units.kept + units.left_out),
            (r.units.len(), MAX_UNITS)
        );
        assert!(
            r.units.len() >= MAX_UNITS / 2,
            "halved once: {}",
            r.units.len()
        );
        assert_eq!(r.problems.len(), MAX_PROBLEMS);
        assert!(r.problems.iter().all(|p| p.len() <= MAX_PROBLEM_BYTES));
        assert_eq!(r.cut_of("problems").unwrap().left_out, 100 - MAX_PROBLEMS);
    }
}
