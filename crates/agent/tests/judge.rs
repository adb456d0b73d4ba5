//! This machine's real reports judged by the central side's host checks
//! (`keepup_monitor::host`): a tmpfs filled past its thresholds, a watched
//! process killed, a read-only remount, and an agent gone silent.

use std::sync::Arc;

use keepup_agent::{Collector, Settings};
use keepup_config::{CheckSpec, Config, PassiveSpec};
use keepup_model::{Status, codes};
use keepup_monitor::host::{Accepted, HostBook};
use keepup_testkit::disk::Tmpfs;

fn setup(dir: &std::path::Path, mount: &str) -> (Config, HostBook, keepup_store::Store) {
    std::fs::write(dir.join("token"), "judge-token-0123456789").unwrap();
    let src = format!(
        r#"
[[agent]]
name = "here"
token_file = "token"
interval = "10s"

[[site]]
id = "s"

[[site.check]]
id = "here"
kind = "host"
agent = "here"
disk."{mount}" = {{ warn = "50%", crit = "80%" }}
inodes."{mount}" = {{ warn = "90%" }}
processes.kpagent-judged = {{ min = 1 }}
reboot_window = "1s"
"#
    );
    let config =
        keepup_config::load_str(&src, &dir.join("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let store = keepup_store::Store::open(&dir.join("k.db")).unwrap();
    let book = HostBook::default();
    let checks: Vec<_> = config.shared_checks().cloned().collect::<Vec<Arc<_>>>();
    book.configure(&config, &checks, &store, 0);
    (config, book, store)
}

fn spec(config: &Config) -> keepup_config::HostSpec {
    match &config.find_check("s/here").unwrap().spec {
        CheckSpec::Passive(PassiveSpec::Host(h)) => (**h).clone(),
        other => panic!("{other:?}"),
    }
}

fn codes_of(o: &keepup_model::Outcome) -> Vec<&str> {
    o.findings.iter().map(|f| f.code.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filled_tmpfs_and_a_killed_process_turn_the_host_check_down() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fs");
    let fs = Tmpfs::mount_with(&path, "size=8m,nr_inodes=64");
    let (config, book, store) = setup(dir.path(), path.to_str().unwrap());
    let spec = spec(&config);
    let agent = config.agents[0].clone();
    let exe = dir.path().join("kpagent-judged");
    std::fs::copy("/bin/sleep", &exe).unwrap();
    let mut child = std::process::Command::new(&exe).arg("600").spawn().unwrap();
    let mut collector = Collector::new(Settings {
        name: "here".into(),
        ..Settings::default()
    });
    let mut seq = 0;
    let mut judge = async |now: i64| {
        seq += 1;
        let report = collector.collect(seq, now).await;
        assert!(matches!(
            book.accept(&agent, report, &store, now),
            Ok(Accepted::New(_))
        ));
        book.evaluate(&spec, now)
    };

    let healthy = judge(1_000).await;
    assert_eq!(healthy.status, Status::Up, "{healthy:?}");

    std::fs::write(path.join("half"), vec![1u8; 5 * 1024 * 1024]).unwrap();
    let warn = judge(2_000).await;
    assert_eq!(warn.status, Status::Degraded, "{warn:?}");
    assert_eq!(codes_of(&warn), [codes::HOST_DISK_SPACE]);
    assert!(warn.message.contains("past warn 50%"), "{}", warn.message);

    fs.fill("rest");
    for i in 0..60 {
        let _ = std::fs::write(path.join(format!("i{i}")), b"");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let down = judge(3_000).await;
    assert_eq!(down.status, Status::Down, "{down:?}");
    let found = codes_of(&down);
    for code in [
        codes::HOST_DISK_SPACE,
        codes::HOST_INODES,
        codes::HOST_PROCESS_COUNT,
    ] {
        assert!(found.contains(&code), "{code} in {found:?}");
    }

    std::process::Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&path)
        .status()
        .unwrap();
    let ro = judge(4_000).await;
    assert!(
        codes_of(&ro).contains(&codes::HOST_MOUNT_READ_ONLY),
        "{ro:?}"
    );
    drop(fs);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_not_heard_from_for_its_intervals_is_silent() {
    let dir = tempfile::tempdir().unwrap();
    let (config, book, store) = setup(dir.path(), "/");
    let spec = spec(&config);
    // Watched since 0, 10 s interval, silent after 3: no report yet.
    assert_eq!(book.evaluate(&spec, 20_000).status, Status::Unknown);
    let never = book.evaluate(&spec, 31_000);
    assert_eq!(codes_of(&never), [codes::AGENT_SILENT]);
    assert_eq!(never.status, Status::Down);

    let mut collector = Collector::new(Settings {
        name: "here".into(),
        ..Settings::default()
    });
    let report = collector.collect(1, 40_000).await;
    book.accept(&config.agents[0], report, &store, 40_000)
        .unwrap();
    assert!(!codes_of(&book.evaluate(&spec, 69_000)).contains(&codes::AGENT_SILENT));
    let silent = book.evaluate(&spec, 71_000);
    assert_eq!(
        (silent.status, codes_of(&silent)),
        (Status::Down, vec![codes::AGENT_SILENT])
    );

    // A restarted central remembers the last report (and its sequence).
    let again = HostBook::default();
    let checks: Vec<_> = config.shared_checks().cloned().collect();
    again.configure(&config, &checks, &store, 80_000);
    assert_eq!(
        again.latest("here").map(|(at, r)| (at, r.seq)),
        Some((40_000, 1))
    );
    let mut old = collector.collect(1, 90_000).await;
    old.hostname = "replayed".into();
    assert!(matches!(
        again.accept(&config.agents[0], old, &store, 90_000),
        Ok(Accepted::Duplicate)
    ));
}

/// A report sent late from the agent's backlog is as old as its
/// collection: it does not make a silent agent fresh, and a later one
/// dated ahead of our clock counts as collected on arrival.
#[tokio::test(flavor = "multi_thread")]
async fn a_backlogged_report_counts_from_its_collection_not_its_arrival() {
    let dir = tempfile::tempdir().unwrap();
    let (config, book, store) = setup(dir.path(), "/");
    let spec = spec(&config);
    let mut collector = Collector::new(Settings {
        name: "here".into(),
        ..Settings::default()
    });
    // Collected at 40 s, held while the central was down, arriving at
    // 75 s: 35 s old, past three 10 s intervals.
    let late = collector.collect(1, 40_000).await;
    book.accept(&config.agents[0], late, &store, 75_000)
        .unwrap();
    assert_eq!(book.latest("here").map(|(at, _)| at), Some(40_000));
    let silent = book.evaluate(&spec, 75_000);
    assert_eq!(codes_of(&silent), [codes::AGENT_SILENT], "{silent:?}");
    // An agent clock 1 h ahead: taken as collected when it arrived.
    let ahead = collector.collect(2, 3_676_000).await;
    book.accept(&config.agents[0], ahead, &store, 76_000)
        .unwrap();
    assert_eq!(book.latest("here").map(|(at, _)| at), Some(76_000));
    // One from behind the previous report's time is kept strictly after
    // it: its verdict never takes the previous one's place in the store.
    let behind = collector.collect(3, 10_000).await;
    book.accept(&config.agents[0], behind, &store, 77_000)
        .unwrap();
    assert_eq!(book.latest("here").map(|(at, _)| at), Some(76_001));
}

/// A host that is down (its ping fails, its agent falls silent) is one
/// page: the host check depends on the ping check, so its incident is
/// caused by the ping's and not notified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_host_is_one_incident_not_one_per_check() {
    use keepup_monitor::incidents::IncidentEvent;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "judge-token-0123456789").unwrap();
    // Nothing listens there: the host's "ping" (a TCP connect) fails.
    let port = keepup_testkit::ports::free_port(std::net::Ipv4Addr::LOCALHOST).unwrap();
    let src = format!(
        r#"
[defaults]
interval = "1s"
timeout = "1s"
failure_threshold = 1

[[agent]]
name = "gone"
token_file = "token"
interval = "1s"
silent_after = 1

[[site]]
id = "s"

[[site.check]]
id = "ping"
kind = "tcp"
host = "127.0.0.1"
port = {port}

[[site.check]]
id = "host"
kind = "host"
agent = "gone"
depends_on = ["ping"]
load = {{ crit = 100 }}
"#
    );
    let config =
        keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let store = keepup_store::Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = keepup_monitor::Monitor::start(
        Arc::new(config),
        store,
        keepup_probe::ProbeContext::new(),
        Arc::new(keepup_model::SystemClock),
    )
    .await
    .unwrap();
    let mut events = monitor.subscribe();
    let mut parent = None;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("both incidents within a minute")
            .unwrap();
        if let IncidentEvent::Opened { incident, notify } = event {
            match incident.check.as_str() {
                "s/ping" => {
                    assert!(notify, "the cause is paged");
                    parent = Some(incident.id);
                }
                "s/host" => {
                    assert!(
                        !notify,
                        "the silent agent of a host that is down is not paged again"
                    );
                    assert!(incident.suppressed);
                    assert_eq!(incident.cause, parent, "caused by the ping's incident");
                    break;
                }
                other => panic!("unexpected incident of {other}"),
            }
        }
    }
    monitor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_left_out_of_a_cut_list_is_unknown_not_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (config, book, store) = setup(dir.path(), "/");
    let spec = spec(&config);
    let mut collector = Collector::new(Settings {
        name: "here".into(),
        ..Settings::default()
    });
    // kpagent-judged does not run (the test beside this one may start it:
    // taken out): stopped, as long as the list is whole.
    let mut whole = collector.collect(1, 1_000).await;
    whole.processes.remove("kpagent-judged");
    let mut cut = whole.clone();
    cut.seq = 2;
    cut.cut.push(keepup_model::host::Cut {
        list: "processes".into(),
        kept: whole.processes.len(),
        left_out: 5_000,
    });
    book.accept(&config.agents[0], whole, &store, 1_000)
        .unwrap();
    let stopped = book.evaluate(&spec, 1_000);
    assert!(
        codes_of(&stopped).contains(&codes::HOST_PROCESS_COUNT),
        "{stopped:?}"
    );

    book.accept(&config.agents[0], cut, &store, 2_000).unwrap();
    let unknown = book.evaluate(&spec, 2_000);
    assert!(
        !codes_of(&unknown).contains(&codes::HOST_PROCESS_COUNT),
        "{unknown:?}"
    );
    let finding = unknown
        .findings
        .iter()
        .find(|f| f.code == codes::HOST_MEASURE_MISSING)
        .unwrap_or_else(|| panic!("{unknown:?}"));
    assert!(
        finding.text.contains("kpagent-judged") && finding.text.contains("5000 left out"),
        "{}",
        finding.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn smart_health_smartctl_cannot_read_is_unknown_not_up_or_down() {
    use keepup_model::host::SmartDisk;
    let dir = tempfile::tempdir().unwrap();
    let (config, book, store) = setup(dir.path(), "/");
    let mut spec = spec(&config);
    spec.processes.clear();
    spec.disk.clear();
    spec.inodes.clear();
    spec.smart = true;
    let mut collector = Collector::new(Settings {
        name: "here".into(),
        ..Settings::default()
    });
    let disk = |device: &str, passed: Option<bool>, error: Option<&str>| SmartDisk {
        device: device.into(),
        passed,
        error: error.map(Into::into),
        ..SmartDisk::default()
    };
    let mut report = collector.collect(1, 1_000).await;
    let mut judge = |seq: u64, smart: Vec<SmartDisk>| {
        report.seq = seq;
        report.at = seq as i64 * 1_000;
        report.smart = smart;
        book.accept(&config.agents[0], report.clone(), &store, report.at)
            .unwrap();
        book.evaluate(&spec, report.at)
    };
    // smartctl is not installed: no disk at all.
    let o = judge(1, Vec::new());
    assert_eq!(o.status, Status::Unknown, "{o:?}");
    assert_eq!(codes_of(&o), [codes::HOST_SMART_UNKNOWN], "{o:?}");
    // One disk passes, smartctl may not open the other: still unknown.
    let o = judge(
        2,
        vec![
            disk("/dev/sda", Some(true), None),
            disk(
                "/dev/sdb",
                None,
                Some("unknown: /dev/sdb: Permission denied"),
            ),
        ],
    );
    assert_eq!(o.status, Status::Unknown, "{o:?}");
    assert!(
        o.message
            .contains("/dev/sdb: unknown: /dev/sdb: Permission denied"),
        "{}",
        o.message
    );
    // A failing disk is Down, whatever else is unknown.
    let o = judge(
        3,
        vec![
            disk("/dev/sda", Some(false), None),
            disk("/dev/sdb", None, None),
        ],
    );
    assert_eq!(o.status, Status::Down, "{o:?}");
    // Every disk read and passing: Up.
    let o = judge(4, vec![disk("/dev/sda", Some(true), None)]);
    assert_eq!(o.status, Status::Up, "{o:?}");
}

/// An unreadable SMART disk (a VM's virtio disk, an agent not root) must
/// not hide a known problem: a disk at warn stays Degraded (review 31 #5).
#[tokio::test(flavor = "multi_thread")]
async fn unreadable_smart_does_not_hide_a_disk_at_warn() {
    use keepup_model::host::SmartDisk;
    let dir = tempfile::tempdir().unwrap();
    let (config, book, store) = setup(dir.path(), "/");
    let mut spec = spec(&config);
    spec.processes.clear();
    spec.inodes.clear();
    spec.smart = true;
    let mut collector = Collector::new(Settings {
        name: "here".into(),
        ..Settings::default()
    });
    let mut report = collector.collect(1, 1_000).await;
    let root = report
        .mounts
        .iter_mut()
        .find(|m| m.path == "/")
        .expect("a / mount");
    // 60 % used: past warn (50 %), below crit (80 %).
    (root.size, root.available, root.free) = (1_000, 400, Some(400));
    report.smart = vec![SmartDisk {
        device: "/dev/vda".into(),
        passed: None,
        error: Some("unknown: /dev/vda: Permission denied".into()),
        ..SmartDisk::default()
    }];
    book.accept(&config.agents[0], report, &store, 1_000)
        .unwrap();
    let o = book.evaluate(&spec, 1_000);
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert!(codes_of(&o).contains(&codes::HOST_DISK_SPACE), "{o:?}");
    assert!(codes_of(&o).contains(&codes::HOST_SMART_UNKNOWN), "{o:?}");
}

/// Pushes of one report on sixteen threads at the same moment: exactly one
/// takes it, the others are duplicates; and of reports 1 to 16 pushed at
/// once, the newest stays the one kept (the sequence check, the store and
/// the update are one step).
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_pushes_take_a_report_once_and_keep_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let (config, book, store) = setup(dir.path(), "/");
    let book = Arc::new(book);
    let mut collector = Collector::new(Settings {
        name: "here".into(),
        ..Settings::default()
    });
    let report = collector.collect(1, 1_000).await;
    let at_once = |reports: Vec<keepup_model::host::HostReport>| {
        let barrier = Arc::new(std::sync::Barrier::new(reports.len()));
        let threads: Vec<_> = reports
            .into_iter()
            .map(|r| {
                let (book, store, agent, barrier) = (
                    book.clone(),
                    store.clone(),
                    config.agents[0].clone(),
                    barrier.clone(),
                );
                std::thread::spawn(move || {
                    barrier.wait();
                    book.accept(&agent, r, &store, 2_000).unwrap()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|a| matches!(a, Accepted::New(_)))
            .count()
    };
    assert_eq!(at_once(vec![report.clone(); 16]), 1, "taken once");
    let newer: Vec<_> = (2..18)
        .map(|seq| {
            let mut r = report.clone();
            r.seq = seq;
            r
        })
        .collect();
    at_once(newer);
    assert_eq!(book.latest("here").map(|(_, r)| r.seq), Some(17));
    let kept: keepup_model::host::HostReport = serde_json::from_value(
        serde_json::from_str::<serde_json::Value>(
            &store.memo("agent_last_report", "here").unwrap().unwrap(),
        )
        .unwrap()["report"]
            .clone(),
    )
    .unwrap();
    assert_eq!(kept.seq, 17, "the store keeps the newest too");
}

/// Open files per process on the real /proc: a process near its own
/// `ulimit -n` makes the host check Down (the process of the name nearest
/// its limit is judged), and an agent that may not list another user's
/// descriptors says Unknown, not Up.
#[tokio::test(flavor = "multi_thread")]
async fn a_process_near_its_open_file_limit_turns_the_host_check_down() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "judge-token-0123456789").unwrap();
    let src = r#"
[[agent]]
name = "here"
token_file = "token"
interval = "10s"

[[site]]
id = "s"

[[site.check]]
id = "here"
kind = "host"
agent = "here"
processes.kpagent-fds = { min = 1, fds = { warn = "50%", crit = "90%" } }
"#;
    let config =
        keepup_config::load_str(src, &dir.path().join("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let store = keepup_store::Store::open(&dir.path().join("k.db")).unwrap();
    let book = HostBook::default();
    let checks: Vec<_> = config.shared_checks().cloned().collect::<Vec<Arc<_>>>();
    book.configure(&config, &checks, &store, 0);
    let spec = spec(&config);
    let agent = config.agents[0].clone();
    let exe = dir.path().join("kpagent-fds");
    std::fs::copy("/bin/sleep", &exe).unwrap();
    // Python lowers the limit, opens /dev/null until it is reached,
    // closes two and becomes the copy of sleep with the rest open.
    let start = |limit: u32, spare: u32| {
        let child = std::process::Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import os, resource, sys\n\
                 resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit}))\n\
                 fds = []\n\
                 try:\n    while True:\n        fd = os.open('/dev/null', os.O_RDONLY); os.set_inheritable(fd, True); fds.append(fd)\n\
                 except OSError:\n    pass\n\
                 for _ in range({spare}):\n    os.close(fds.pop())\n\
                 os.execv(sys.argv[1], [sys.argv[1], '600'])\n"
            ))
            .arg(&exe)
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Counted once it has become the copy of sleep.
        let comm = format!("/proc/{}/comm", child.id());
        for _ in 0..600 {
            if std::fs::read_to_string(&comm).is_ok_and(|c| c.trim() == "kpagent-fds") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        child
    };
    let mut collector = Collector::new(Settings {
        name: "here".into(),
        ..Settings::default()
    });

    let mut calm = start(1024, 1000);
    let report = collector.collect(1, 1_000).await;
    let files = report.process_files["kpagent-fds"];
    // 24 and whatever the test harness left open without close-on-exec.
    assert!(files.open >= 24, "{files:?}");
    assert_eq!((files.limit, files.unreadable), (1024, 0));
    book.accept(&agent, report, &store, 1_000).unwrap();
    let up = book.evaluate(&spec, 1_000);
    assert_eq!(up.status, Status::Up, "{up:?}");

    // 38 (or more) of 40 open: the busier of the two is judged.
    let mut busy = start(40, 2);
    let report = collector.collect(2, 2_000).await;
    assert_eq!(report.processes["kpagent-fds"], 2);
    book.accept(&agent, report, &store, 2_000).unwrap();
    let down = book.evaluate(&spec, 2_000);
    assert_eq!(down.status, Status::Down, "{down:?}");
    assert_eq!(codes_of(&down), [codes::HOST_PROCESS_FILES]);
    assert!(
        down.message.contains("used by kpagent-fds (")
            && down.message.contains(" of 40) is ")
            && down.message.ends_with(", past crit 90%"),
        "{}",
        down.message
    );

    // The same processes seen by an agent that is not their user: this
    // thread's file-system identity becomes nobody's, which drops root's
    // right to list other users' /proc/<pid>/fd.
    let report = std::thread::spawn(move || {
        // SAFETY: setfsuid changes only the calling thread's credentials.
        unsafe { libc::setfsuid(65534) };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(collector.collect(3, 3_000))
    })
    .join()
    .unwrap();
    let files = report.process_files["kpagent-fds"];
    assert_eq!((files.limit, files.unreadable), (0, 2), "{files:?}");
    book.accept(&agent, report, &store, 3_000).unwrap();
    let unknown = book.evaluate(&spec, 3_000);
    assert_eq!(unknown.status, Status::Unknown, "{unknown:?}");
    assert_eq!(codes_of(&unknown), [codes::HOST_PROCESS_FILES_UNREADABLE]);

    for child in [&mut calm, &mut busy] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
