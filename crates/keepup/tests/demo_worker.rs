//! The demo's crashing worker, end to end with the real binary: `keepup
//! demo --fault worker-crash` starts the shop's order worker (a process
//! of its own), kills it with SIGKILL, the host check `server/worker`
//! (the demo agent's count of it) turns Down, the demo's `[[action]]`
//! restart-worker has the demo agent run its restart command (the agent's
//! action runner, through the push exchange), a new worker runs, the
//! check is Up again and the incident is resolved with the run on it;
//! nobody is paged (`page = "after"`: the outbox holds nothing for it).

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keepup_model::{CheckId, Status};
use keepup_store::{RunOutcome, Store};

/// Kills the demo when the test ends, passed or not (its worker ends by
/// itself once the demo is gone).
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for `done` to give a value, up to `within`.
fn wait_for<T>(what: &str, within: Duration, mut done: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + within;
    loop {
        if let Some(v) = done() {
            return v;
        }
        assert!(Instant::now() < until, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The pid the worker's pid file names.
fn pid_file(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(dir.join(keepup_demo::worker::PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[test]
fn the_crashed_worker_is_restarted_through_the_agent_and_nobody_is_paged() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("demo");
    let mut demo = Command::new(env!("CARGO_BIN_EXE_keepup"))
        .env_remove("KEEPUP_CONFIG")
        .args([
            "demo",
            "--for",
            "10m",
            "--every",
            "0",
            "--fault",
            "worker-crash",
        ])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("keepup demo runs");
    let mut stdout = demo.stdout.take().expect("the demo's output");
    let _demo = Demo(demo);
    // The banner names the first worker's pid and where to look.
    // Read as it comes (each read waits for the demo's next lines).
    let mut banner = String::new();
    let banner = wait_for("the demo's banner", Duration::from_secs(60), || {
        let mut buf = [0u8; 8192];
        let n = stdout.read(&mut buf).ok().filter(|n| *n > 0)?;
        banner.push_str(&String::from_utf8_lossy(&buf[..n]));
        banner.contains("  a fault is").then(|| banner.clone())
    });
    let line = banner
        .lines()
        .find(|l| l.trim_start().starts_with("worker:"))
        .expect("the worker line");
    assert!(
        line.contains("started the shop's order worker (pid ")
            && line.contains("restart-worker")
            && line.contains("/incidents"),
        "{line}"
    );
    let first: u32 = line
        .split("(pid ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|p| p.parse().ok())
        .expect("the first worker's pid");

    // Killed by the fault: not running any more (gone, or a zombie
    // without a command line until it is reaped).
    wait_for("the first worker killed", Duration::from_secs(30), || {
        let cmdline = std::fs::read(format!("/proc/{first}/cmdline")).unwrap_or_default();
        cmdline.is_empty().then_some(())
    });

    let store = wait_for("the demo's store", Duration::from_secs(30), || {
        Store::open_read_only(&dir.join("keepup.db")).ok()
    });
    let worker = CheckId::new("server", "worker");
    // The demo's screen names the check the fault turns Down.
    let fault = keepup_demo::Fault::WorkerCrash.describe(false);
    assert!(fault.contains(worker.as_str()), "{fault}");
    // Down first, an incident opened for it.
    let incident = wait_for(
        "an incident of server/worker",
        Duration::from_secs(60),
        || {
            let incidents = store.incidents(0, i64::MAX, 100).ok()?;
            incidents.into_iter().find(|i| i.check == worker)
        },
    );
    assert_eq!(incident.status, Status::Down, "{incident:?}");
    assert!(
        incident
            .findings
            .iter()
            .any(|f| f.code == "HOST_PROCESS_COUNT"),
        "{incident:?}"
    );

    // The action ran through the agent for that incident and started a
    // new worker.
    let run = wait_for(
        "the restart-worker run ended",
        Duration::from_secs(120),
        || {
            let runs = store.action_runs(0, Some("restart-worker"), 10).ok()?;
            runs.into_iter()
                .find(|r| r.outcome != RunOutcome::Running && r.finished_at.is_some())
        },
    );
    assert_eq!(run.outcome, RunOutcome::Ok, "{run:?}");
    assert_eq!(run.incident, Some(incident.id), "{run:?}");
    assert_eq!(run.exit_code, Some(0), "{run:?}");
    assert!(
        run.output.contains("started the shop's order worker (pid "),
        "{run:?}"
    );
    let second = pid_file(&dir).expect("the new worker's pid");
    assert_ne!(second, first);
    assert!(run.output.contains(&format!("(pid {second})")), "{run:?}");
    assert_eq!(keepup_demo::worker::running(&dir), Some(second));

    // Up again, the incident resolved.
    let resolved = wait_for("the incident resolved", Duration::from_secs(60), || {
        let i = store.incident(incident.id).ok()??;
        i.resolved_at.is_some().then_some(i)
    });
    let latest = store
        .latest_for(&worker)
        .expect("read the check's state")
        .expect("server/worker has a state");
    assert_eq!(latest.outcome.status, Status::Up, "{latest:?}");
    assert!(resolved.acknowledged_at.is_none(), "{resolved:?}");

    // Nobody was paged about it: the outbox holds no message of the
    // incident, neither a trigger nor a resolve notice.
    let outbox = store.outbox(1000).expect("read the outbox");
    let about: Vec<_> = outbox
        .iter()
        .filter(|e| e.incident == Some(incident.id) || e.payload.contains("server/worker"))
        .collect();
    assert!(about.is_empty(), "pages about the worker: {about:#?}");
}
