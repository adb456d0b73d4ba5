//! The collector on this machine's real /proc, mounts and processes (run
//! as root, like the rest of the suite: the tmpfs is mounted for real).

use std::time::Duration;

use keepup_agent::{Collector, ProcessWatch, Settings};
use keepup_model::host::HostReport;
use keepup_testkit::disk::Tmpfs;

async fn collect(c: &mut Collector) -> HostReport {
    c.collect(1, 0).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_small_tmpfs_fills_up_in_space_and_inodes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small");
    let fs = Tmpfs::mount_with(&path, "size=8m,nr_inodes=64");
    let mut c = Collector::new(Settings::default());
    let mount_of = |r: &HostReport| {
        r.mounts
            .iter()
            .find(|m| m.path == path.to_str().unwrap())
            .cloned()
            .unwrap_or_else(|| panic!("the tmpfs is not among {:?}", r.mounts))
    };
    let empty = mount_of(&collect(&mut c).await);
    assert_eq!(
        (empty.fstype.as_str(), empty.size),
        ("tmpfs", 8 * 1024 * 1024)
    );
    assert!(empty.used_percent().unwrap() < 1.0, "{empty:?}");
    assert_eq!(empty.inodes, 64);
    assert!(!empty.read_only);

    std::fs::write(path.join("big"), vec![7u8; 7 * 1024 * 1024]).unwrap();
    for i in 0..50 {
        std::fs::write(path.join(format!("f{i}")), b"x").unwrap();
    }
    let full = mount_of(&collect(&mut c).await);
    let used = full.used_percent().unwrap();
    assert!((87.0..=100.0).contains(&used), "7 of 8 MiB used: {used}");
    let inodes = full.inodes_used_percent().unwrap();
    assert!(inodes > 80.0, "52 of 64 inodes used: {inodes}");

    let status = std::process::Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        mount_of(&collect(&mut c).await).read_only,
        "a read-only remount shows"
    );
    drop(fs);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_is_counted_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    // A copy of sleep under a name nothing else on the machine has.
    let exe = dir.path().join("kpagent-sleepr");
    std::fs::copy("/bin/sleep", &exe).unwrap();
    let watch = ProcessWatch {
        name: "napper".into(),
        cmdline: Some(regex::Regex::new(r"kpagent-sleepr 4321\b").unwrap()),
        user: Some("root".into()),
    };
    let mut c = Collector::new(Settings {
        watches: vec![watch],
        ..Settings::default()
    });
    let before = collect(&mut c).await;
    assert_eq!(before.processes.get("kpagent-sleepr"), None);
    assert_eq!(
        before.processes.get("napper"),
        Some(&0),
        "a watch is always reported"
    );

    let mut child = std::process::Command::new(&exe)
        .arg("4321")
        .spawn()
        .unwrap();
    let running = collect(&mut c).await;
    assert_eq!(running.processes.get("kpagent-sleepr"), Some(&1));
    assert_eq!(running.processes.get("napper"), Some(&1));

    child.kill().unwrap();
    child.wait().unwrap();
    let after = collect(&mut c).await;
    assert_eq!(after.processes.get("kpagent-sleepr"), None);
    assert_eq!(after.processes.get("napper"), Some(&0));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_measures_come_from_the_kernel() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut c = Collector::new(Settings {
        name: "this-host".into(),
        ..Settings::default()
    });
    let first = c.collect(41, 1_000).await;
    assert_eq!(
        (first.agent.as_str(), first.seq, first.at),
        ("this-host", 41, 1_000)
    );
    assert_eq!(first.version, keepup_model::host::HOST_REPORT_VERSION);
    assert_eq!(
        first.boot_id,
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .unwrap()
            .trim()
    );
    assert!(first.uptime_s > 0.0);
    assert!(first.load.is_some() && first.cores >= 1);
    let memory = first.memory.unwrap();
    assert!(memory.available > 0 && memory.available <= memory.total);
    assert!(first.cpu.is_none(), "no shares without a previous sample");
    assert!(
        first.listening.contains(&port),
        "{port} in {:?}",
        first.listening
    );
    assert!(
        first.mounts.iter().any(|m| m.path == "/"),
        "{:?}",
        first.mounts
    );
    assert!(
        !first
            .mounts
            .iter()
            .any(|m| m.path == "/proc" || m.fstype == "sysfs"),
        "pseudo file systems are skipped"
    );
    let files = first.files.unwrap();
    assert!(files.open > 0 && files.max > files.open);
    assert!(first.clock.synchronised.is_some());
    assert!(!first.interfaces.iter().any(|i| i.name == "lo"));

    // Some CPU time passes between the two collections.
    let spin = std::time::Instant::now();
    while spin.elapsed() < Duration::from_millis(50) {
        std::hint::black_box(spin.elapsed());
    }
    let second = c.collect(42, 2_000).await;
    let cpu = second.cpu.expect("shares from the deltas");
    let sum = cpu.user + cpu.system + cpu.iowait + cpu.steal;
    assert!(sum > 0.0 && sum <= 100.0, "{cpu:?}");
    assert!(second.memory.unwrap().swap_in_per_s.is_some());
    assert!(second.interfaces.iter().all(|i| i.errors_per_s.is_some()));
    drop(listener);
}

/// The root file system's used share is the one `df` prints (used of
/// used + available: root's reserved blocks are neither), so a threshold
/// means what the admin checking with `df` sees.
#[tokio::test(flavor = "multi_thread")]
async fn the_root_file_systems_use_is_dfs() {
    let mut c = Collector::new(Settings::default());
    let root = collect(&mut c)
        .await
        .mounts
        .into_iter()
        .find(|m| m.path == "/")
        .expect("a / mount");
    let out = std::process::Command::new("df")
        .args(["--output=pcent", "/"])
        .output()
        .expect("df (coreutils)");
    let text = String::from_utf8(out.stdout).unwrap();
    let df: f64 = text
        .lines()
        .nth(1)
        .and_then(|l| l.trim().strip_suffix('%'))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("df printed {text:?}"));
    let ours = root.used_percent().unwrap();
    // df rounds up to a whole percent; files may come and go between the two.
    assert!(
        (ours - df).abs() <= 1.5,
        "keepup says {ours:.2} % used, df {df} %: {root:?}"
    );
}
