//! `keepup check`'s long output for the database checks (`postgres`,
//! `redis`, `mysql`): the server's role and use, and its replication as a
//! person reads it at night: one line per replica on a primary, the link
//! and lag on a replica. Read from the outcome's evidence, so it shows
//! what the run measured, nothing more.

use keepup_model::Outcome;
use serde_json::Value;

/// The lines for a database check's outcome; empty for other kinds.
pub fn replication_lines(o: &Outcome) -> String {
    let (kind, e) = match ["postgres", "redis", "mysql"]
        .iter()
        .find_map(|k| o.evidence.details.get(*k).map(|e| (*k, e)))
    {
        Some(found) => found,
        None => return String::new(),
    };
    let mut out = String::new();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "?".to_owned(),
        other => other.to_string(),
    };
    let seconds = |v: &Value| v.as_f64().map_or("?".to_owned(), |s| format!("{s:.1} s"));
    let bytes = |v: &Value| v.as_f64().map_or("?".to_owned(), size);
    let role = text(&e["role"]);
    let mut head = format!("{kind} {role}");
    if let Some(v) = e["version"].as_str() {
        head.push_str(&format!(" (version {v})"));
    }
    if let (Some(used), Some(max)) = (e["connections"].as_u64(), e["max_connections"].as_u64()) {
        head.push_str(&format!(", {used} of {max} connections"));
    }
    if let (Some(used), Some(max)) = (e["used_memory"].as_f64(), e["maxmemory"].as_f64()) {
        let of = if max > 0.0 {
            size(max)
        } else {
            "no maxmemory".to_owned()
        };
        head.push_str(&format!(", memory {} of {of}", size(used)));
    }
    if let Some(conn) = o.evidence.details.get("connection").and_then(Value::as_str) {
        head.push_str(&format!(", {conn} session"));
    }
    out.push_str(&head);
    out.push('\n');
    if let Some(replicas) = e["replicas"].as_array() {
        if replicas.is_empty() {
            out.push_str("  no replicas connected\n");
        }
        for r in replicas {
            let name = match r["name"].as_str().filter(|n| !n.is_empty()) {
                Some(n) => format!("{n} at {}", text(&r["address"])),
                None => text(&r["address"]),
            };
            out.push_str(&format!(
                "  replica {name}: {}, lag {}, {} behind\n",
                text(&r["state"]),
                seconds(&r["lag_seconds"]),
                bytes(&r["lag_bytes"])
            ));
        }
    }
    if role == "replica" {
        match kind {
            "postgres" => out.push_str(&format!(
                "  WAL receiver {}, replay lag {}, {} not replayed{}\n",
                text(&e["wal_receiver"]),
                seconds(&e["replay_lag_seconds"]),
                bytes(&e["replay_lag_bytes"]),
                if e["replay_paused"] == Value::Bool(true) {
                    ", replay paused"
                } else {
                    ""
                }
            )),
            "redis" => out.push_str(&format!(
                "  master {}: link {}, last heard {}\n",
                text(&e["master"]),
                text(&e["master_link_status"]),
                seconds(&e["master_last_io_seconds_ago"])
            )),
            _ => out.push_str(&format!(
                "  primary {}: IO thread {}, SQL thread {}, {} behind\n",
                text(&e["primary"]),
                text(&e["io_running"]),
                text(&e["sql_running"]),
                seconds(&e["seconds_behind"])
            )),
        }
    }
    // Evidence holds what servers say: no escape sequence reaches the
    // terminal.
    out.lines()
        .map(|l| format!("{}\n", super::live::clean(l)))
        .collect()
}

/// `1.5 MiB`, `300 B`.
fn size(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepup_model::Status;
    use serde_json::json;

    #[test]
    fn a_primary_lists_its_replicas_and_a_replica_its_link() {
        let mut o = Outcome::new(Status::Up, "fine");
        o.evidence.insert(
            "postgres",
            json!({"role": "primary", "version": "17.2", "connections": 3, "max_connections": 100,
                   "replicas": [{"name": "walreceiver", "address": "10.0.0.2", "state": "streaming",
                                 "lag_seconds": 0.25, "lag_bytes": 2048.0}]}),
        );
        o.evidence.insert("connection", "kept");
        assert_eq!(
            replication_lines(&o),
            "postgres primary (version 17.2), 3 of 100 connections, kept session\n  replica walreceiver at 10.0.0.2: streaming, lag 0.2 s, 2.0 KiB behind\n"
        );
        let mut o = Outcome::new(Status::Down, "down");
        o.evidence.insert(
            "redis",
            json!({"role": "replica", "used_memory": 1048576.0, "maxmemory": 0.0,
                   "master": "10.0.0.1:6379", "master_link_status": "down\u{1b}[31m",
                   "master_last_io_seconds_ago": -1.0}),
        );
        let lines = replication_lines(&o);
        assert!(
            lines.starts_with("redis replica, memory 1.0 MiB of no maxmemory\n"),
            "{lines}"
        );
        assert!(lines.contains("master 10.0.0.1:6379: link down"), "{lines}");
        assert!(!lines.contains('\u{1b}'), "{lines}");
        assert_eq!(replication_lines(&Outcome::new(Status::Up, "x")), "");
        let mut o = Outcome::new(Status::Down, "down");
        o.evidence.insert(
            "mysql",
            json!({"role": "replica", "version": "10.11.19-MariaDB", "connections": 4.0,
                   "max_connections": 151.0, "primary": "10.0.0.1:3306", "io_running": "Yes",
                   "sql_running": "No", "seconds_behind": null}),
        );
        assert_eq!(
            replication_lines(&o),
            "mysql replica (version 10.11.19-MariaDB)\n  primary 10.0.0.1:3306: IO thread Yes, SQL thread No, ? behind\n"
        );
    }
}
