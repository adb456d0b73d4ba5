//! Replication state readable on the host, from the tools' own output:
//! DRBD (`/proc/drbd` of DRBD 8, `drbdadm status` of DRBD 9), GlusterFS
//! (`gluster volume info` and `volume status`) and Ceph (`ceph health --format json`).
//! Ceph's and GlusterFS's are tested on the real tools too:
//! tests/replication.rs runs the collector's `ceph health` against a
//! private one-monitor cluster from Debian's ceph-mon, and its `gluster
//! volume info` and `volume status` against a private glusterd from
//! Debian's glusterfs-server with a replicated volume (samples of that
//! glusterd's output in tests/samples too). DRBD needs its kernel module
//! (not loadable in the test machine), so its parsers are tested on
//! samples written in the formats the tools' documentation shows
//! (tests/samples, see the README's Tests).

use keepup_model::host::Replication;

fn entry(system: &str, name: &str, healthy: bool, state: String) -> Replication {
    Replication {
        system: system.to_owned(),
        name: name.to_owned(),
        healthy,
        state,
    }
}

/// `/proc/drbd` (DRBD 8.x): each minor's connection state (`cs`), roles
/// (`ro`) and disk states (`ds`). Healthy: Connected and UpToDate on both
/// sides.
pub fn proc_drbd(text: &str) -> Vec<Replication> {
    let mut out = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let Some((minor, rest)) = trimmed.split_once(": cs:") else {
            continue;
        };
        if minor.parse::<u32>().is_err() {
            continue;
        }
        let field = |key: &str| {
            format!("cs:{rest}")
                .split_whitespace()
                .find_map(|f| f.strip_prefix(key).map(str::to_owned))
                .unwrap_or_default()
        };
        let (cs, ro, ds) = (field("cs:"), field("ro:"), field("ds:"));
        let healthy = cs == "Connected" && ds == "UpToDate/UpToDate";
        out.push(entry(
            "drbd",
            &format!("minor {minor}"),
            healthy,
            format!("{cs} {ro} {ds}"),
        ));
    }
    out
}

/// `drbdadm status` (DRBD 9): per resource, the local disk and each peer's
/// connection, replication and disk states. Healthy: every disk UpToDate,
/// every peer connected and Established.
pub fn drbdadm_status(text: &str) -> Vec<Replication> {
    let mut out: Vec<Replication> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let indented = line.starts_with(' ');
        let words: Vec<&str> = line.split_whitespace().collect();
        if !indented {
            // "r0 role:Primary"
            out.push(entry("drbd", words[0], true, String::new()));
            continue;
        }
        let Some(current) = out.last_mut() else {
            continue;
        };
        for w in &words {
            let Some((key, value)) = w.split_once(':') else {
                continue;
            };
            let bad = match key {
                "disk" | "peer-disk" => value != "UpToDate" && value != "Diskless",
                "connection" => value != "Connected",
                "replication" => value != "Established",
                _ => false,
            };
            if matches!(key, "disk" | "peer-disk" | "connection" | "replication") {
                if !current.state.is_empty() {
                    current.state.push(' ');
                }
                current.state.push_str(w);
                current.healthy &= !bad;
            }
        }
    }
    out
}

/// `gluster volume info` (all volumes): each volume's name and status
/// (`Created`, `Started` or `Stopped`), in the tool's order.
pub fn gluster_volume_info(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("Volume Name:") {
            out.push((name.trim().to_owned(), String::new()));
        } else if let Some(status) = line.strip_prefix("Status:")
            && let Some(last) = out.last_mut()
            && last.1.is_empty()
        {
            last.1 = status.trim().to_owned();
        }
    }
    out
}

/// Every volume `gluster volume info` lists (`info`, from
/// [`gluster_volume_info`]): a started one judged by its part of `gluster
/// volume status all` (`status`), and unhealthy when that leaves it out; a
/// stopped or never started one unhealthy too. `volume status` alone
/// prints nothing for a stopped volume, which would read as no volume.
pub fn gluster_volumes(info: &[(String, String)], status: &str) -> Vec<Replication> {
    let mut running = gluster_volume_status(status);
    info.iter()
        .map(|(name, state)| {
            if state != "Started" {
                let state = match state.as_str() {
                    "" => "status unknown".to_owned(),
                    "Created" => "created, not started".to_owned(),
                    other => other.to_lowercase(),
                };
                return entry("gluster", name, false, state);
            }
            match running.iter().position(|v| &v.name == name) {
                Some(i) => running.swap_remove(i),
                None => entry(
                    "gluster",
                    name,
                    false,
                    "started, but not in gluster volume status".into(),
                ),
            }
        })
        .collect()
}

/// `gluster volume status` (all volumes): a volume is healthy when every
/// brick and daemon line says Online `Y`. The CLI wraps a process name
/// longer than its 44-character column (most brick paths: `host:/path`)
/// onto the next line, where the columns follow the name's rest.
pub fn gluster_volume_status(text: &str) -> Vec<Replication> {
    let mut out: Vec<Replication> = Vec::new();
    // The first part of a wrapped process name.
    let mut wrapped = String::new();
    for line in text.lines() {
        if let Some(volume) = line.strip_prefix("Status of volume:") {
            out.push(entry("gluster", volume.trim(), true, String::new()));
            wrapped.clear();
            continue;
        }
        let Some(current) = out.last_mut() else {
            continue;
        };
        // A wrapped name goes on in the next line's first column; a line
        // that starts a process of its own, a separator or a blank line
        // ends the fragment instead of being glued to it.
        let own = line.trim_start();
        if own.starts_with("Brick ") || own.starts_with("---") || own.is_empty() {
            wrapped.clear();
        }
        let line = std::mem::take(&mut wrapped) + line;
        let words: Vec<&str> = line.split_whitespace().collect();
        let process = words.first() == Some(&"Brick") || line.contains(" on ");
        if !process {
            continue;
        }
        // "Brick host:/path  49152  0  Y  1234": Online is the next to last.
        let online = words.len() >= 5 && matches!(words[words.len() - 2], "Y" | "N");
        if !online {
            // Bounded: a name goes on for a few lines at most.
            if line.len() < 4096 {
                wrapped = line.trim_end().to_owned();
            }
            continue;
        }
        if words[words.len() - 2] == "N" {
            current.healthy = false;
            let what = if words[0] == "Brick" {
                words[1].to_owned()
            } else {
                words[..words.len() - 4].join(" ")
            };
            if !current.state.is_empty() {
                current.state.push_str(", ");
            }
            current.state.push_str(&format!("{what} offline"));
        }
    }
    for v in &mut out {
        if v.state.is_empty() {
            v.state = "all bricks online".into();
        }
    }
    out
}

/// `ceph health --format json`: HEALTH_OK is healthy; otherwise the state
/// lists the checks' summaries.
pub fn ceph_health(json: &str) -> Result<Replication, String> {
    let doc: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("ceph's output is not JSON: {e}"))?;
    let status = doc
        .get("status")
        .and_then(|s| s.as_str())
        .ok_or("ceph's output has no status")?;
    let mut state = status.to_owned();
    if let Some(checks) = doc.get("checks").and_then(|c| c.as_object()) {
        for (code, check) in checks {
            let message = check
                .pointer("/summary/message")
                .and_then(|m| m.as_str())
                .unwrap_or("");
            state.push_str(&format!("; {code}: {message}"));
        }
    }
    Ok(entry("ceph", "cluster", status == "HEALTH_OK", state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_drbd_of_drbd_8() {
        let r = proc_drbd(include_str!("../tests/samples/proc-drbd.txt"));
        assert_eq!(r.len(), 2);
        assert!(r[0].healthy);
        assert_eq!(r[0].state, "Connected Primary/Secondary UpToDate/UpToDate");
        assert!(!r[1].healthy);
        assert_eq!(r[1].name, "minor 1");
        assert_eq!(r[1].state, "WFConnection Primary/Unknown UpToDate/DUnknown");
    }

    #[test]
    fn drbdadm_status_of_drbd_9() {
        let r = drbdadm_status(include_str!("../tests/samples/drbdadm-status.txt"));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].name, "home");
        assert!(r[0].healthy, "{:?}", r[0]);
        assert_eq!(r[1].name, "data");
        assert!(!r[1].healthy);
        assert!(
            r[1].state.contains("connection:Connecting"),
            "{}",
            r[1].state
        );
    }

    #[test]
    fn gluster_volume_status_finds_offline_bricks() {
        let r = gluster_volume_status(include_str!("../tests/samples/gluster-volume-status.txt"));
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].name.as_str(), r[0].healthy), ("gv0", true));
        assert_eq!((r[1].name.as_str(), r[1].healthy), ("gv1", false));
        assert_eq!(r[1].state, "node2:/data/brick1/gv1 offline");
    }

    /// glusterd 10.3's own output (tests/samples, from a private glusterd):
    /// `shop` started with its second brick killed, `media` created and
    /// never started, `logs` stopped; `volume status all` lists `shop` only.
    #[test]
    fn every_gluster_volume_info_lists_is_judged() {
        let info = gluster_volume_info(include_str!("../tests/samples/gluster-volume-info.txt"));
        let pairs: Vec<(&str, &str)> = info.iter().map(|(n, s)| (n.as_str(), s.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("logs", "Stopped"),
                ("media", "Created"),
                ("shop", "Started")
            ]
        );
        let status = include_str!("../tests/samples/gluster-volume-status-brick-down.txt");
        let r = gluster_volumes(&info, status);
        let got: Vec<(&str, bool, &str)> = r
            .iter()
            .map(|e| (e.name.as_str(), e.healthy, e.state.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("logs", false, "stopped"),
                ("media", false, "created, not started"),
                ("shop", false, "127.0.0.2:/tmp/gz/bricks/shop/b2 offline"),
            ]
        );
        // A started volume the status leaves out is not taken as healthy.
        let r = gluster_volumes(&info, "");
        assert_eq!(r[2].state, "started, but not in gluster volume status");
        assert!(!r[2].healthy);
        assert!(gluster_volumes(&gluster_volume_info("No volumes present\n"), "").is_empty());
    }

    /// glusterd 10.3's real output where brick names are longer than the
    /// CLI's column: each wraps onto the line with its columns.
    #[test]
    fn a_wrapped_fragment_is_not_glued_to_the_next_brick_line() {
        // A fragment whose rest never came (a truncated listing): the next
        // brick is read on its own, offline, and named as itself.
        let text = "Status of volume: gv0\n\
Gluster process                             TCP Port  RDMA Port  Online  Pid\n\
------------------------------------------------------------------------------\n\
Brick 127.0.0.2:/tmp/keepup-gluster-z77pvB/\n\
Brick 127.0.0.2:/b2                         N/A       N/A        N       N/A\n";
        let v = gluster_volume_status(text);
        assert_eq!(v.len(), 1);
        assert!(!v[0].healthy);
        assert_eq!(v[0].state, "127.0.0.2:/b2 offline");
    }

    #[test]
    fn gluster_volume_status_reads_wrapped_brick_names() {
        let r = gluster_volume_status(include_str!(
            "../tests/samples/gluster-volume-status-wrapped.txt"
        ));
        assert_eq!(r.len(), 1);
        assert!(!r[0].healthy);
        assert_eq!(
            r[0].state,
            "127.0.0.2:/tmp/keepup-gluster-z77pvB/bricks/gv0/b2 offline"
        );
        // A daemon on a long host name wraps the same way.
        let daemon = "Status of volume: v\nSelf-heal Daemon on storage-node-02.data.shop.\n\
                      example                                     N/A       N/A        N       N/A\n";
        assert_eq!(
            gluster_volume_status(daemon)[0].state,
            "Self-heal Daemon on storage-node-02.data.shop.example offline"
        );
    }

    #[test]
    fn ceph_health_json() {
        let ok = ceph_health(r#"{"status":"HEALTH_OK","checks":{},"mutes":[]}"#).unwrap();
        assert!(ok.healthy);
        let warn = ceph_health(include_str!("../tests/samples/ceph-health-warn.json")).unwrap();
        assert!(!warn.healthy);
        assert_eq!(
            warn.state,
            "HEALTH_WARN; OSD_DOWN: 1 osds down; PG_DEGRADED: Degraded data redundancy: 12/360 objects degraded (3.333%), 6 pgs degraded"
        );
        assert!(ceph_health("not json").is_err());
    }
}
