//! `kill -9` loses no committed result.
//!
//! The test re-executes its own test binary, filtered to the helper
//! `durability_child`, which only does something when `KEEPUP_STORE_CHILD_DB`
//! is set: it records batches as fast as it can and prints
//! `committed <n>` after each commit. The parent kills it with SIGKILL
//! mid-way, reopens the database and checks every batch the child reported.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keepup_model::{CheckId, Outcome, Status};
use keepup_store::{ResultRecord, Store};

const ENV: &str = "KEEPUP_STORE_CHILD_DB";
const CHECKS: i64 = 50;
const T0: i64 = 1_735_689_600_000;

fn batch(n: i64) -> Vec<ResultRecord> {
    (0..CHECKS)
        .map(|c| ResultRecord {
            check: CheckId(format!("site/check{c:03}")),
            at: T0 + n * 60_000,
            outcome: Outcome::new(Status::Up, format!("batch {n}")),
            backfill: false,
        })
        .collect()
}

#[test]
fn durability_child() {
    let Some(path) = std::env::var_os(ENV) else {
        return; // Only acts when started by the test below.
    };
    let store = Store::open(std::path::Path::new(&path)).unwrap();
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    // Bounded so that an orphan cannot run forever.
    for n in 0..1_000_000 {
        store.record(&batch(n)).unwrap();
        writeln!(out, "committed {n}").unwrap();
        out.flush().unwrap();
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
}

#[test]
fn kill_minus_nine_loses_no_committed_result() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepup.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "durability_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = BufReader::new(stdout).lines();
    let mut last = None;
    let mut killed = false;
    for line in lines {
        let line = line.unwrap();
        let Some(n) = line.strip_prefix("committed ") else {
            continue;
        };
        let n: i64 = n.parse().unwrap();
        last = Some(n);
        if n >= 300 && !killed {
            child.kill().unwrap(); // SIGKILL on unix
            killed = true;
            // Keep reading: lines already in the pipe were printed after
            // their commit, so they count too.
        }
    }
    let status = child.wait().unwrap();
    assert!(killed, "child ended before it was killed: {status:?}");
    assert!(!status.success(), "child was not killed: {status:?}");
    let last = last.unwrap();

    let store = Store::open(&path).unwrap();
    for c in 0..CHECKS {
        let check = CheckId(format!("site/check{c:03}"));
        let got = store
            .results(&check, T0, T0 + (last + 1) * 60_000, usize::MAX)
            .unwrap();
        assert_eq!(
            got.len() as i64,
            last + 1,
            "{check}: batches 0..={last} were reported committed"
        );
        for (i, r) in got.iter().rev().enumerate() {
            assert_eq!(r.outcome.message, format!("batch {i}"));
        }
        let latest = store.latest_for(&check).unwrap().unwrap();
        assert!(
            latest.at >= T0 + last * 60_000,
            "{check}: current state behind the results"
        );
    }
}
