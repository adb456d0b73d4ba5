//! Replication state from the real tools: a private one-monitor Ceph
//! cluster (Debian's ceph-mon, testkit) read by the collector's own
//! `ceph health --format json`, pointed at the cluster with
//! `Settings::ceph_conf` as `keepup agent --ceph-conf` does; a private
//! glusterd (Debian's glusterfs-server, testkit) with a replicated volume
//! read by the collector's own `gluster volume info` and `volume status`
//! (`Settings::gluster_socket`, `keepup agent --gluster-socket`) and
//! judged by the central side's host check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keepup_agent::{Collector, Settings};
use keepup_config::{CheckSpec, PassiveSpec};
use keepup_model::host::Replication;
use keepup_model::{Status, codes};
use keepup_monitor::host::{Accepted, HostBook};
use keepup_testkit::ceph::CephMon;
use keepup_testkit::gluster::Glusterd;

async fn ceph(c: &mut Collector) -> Option<Replication> {
    let r = c.collect(1, 0).await;
    r.replication.into_iter().find(|e| e.system == "ceph")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_monitor_without_osds_is_read_through_ceph_health() {
    // On the test's own thread, as glusterd below.
    let mon = CephMon::start().expect("a Ceph monitor starts");
    let mut c = Collector::new(Settings {
        ceph_conf: Some(mon.conf().to_owned()),
        // Read at every collection: the test waits for a change.
        replication_every: Duration::ZERO,
        ..Settings::default()
    });
    // A fresh monitor says HEALTH_OK until its first health tick, then
    // HEALTH_WARN: it still allows the insecure global_id reclaim of old
    // clients (a warning every new cluster carries).
    let until = Instant::now() + Duration::from_secs(60);
    let warn = loop {
        let e = ceph(&mut c).await.expect("the cluster's health is read");
        assert_eq!(e.name, "cluster");
        if e.state == "HEALTH_OK" {
            assert!(e.healthy, "{e:?}");
        } else {
            break e;
        }
        assert!(Instant::now() < until, "still HEALTH_OK after a minute");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(!warn.healthy, "{warn:?}");
    assert!(warn.state.starts_with("HEALTH_WARN; "), "{}", warn.state);
    assert!(
        warn.state.contains(
            "AUTH_INSECURE_GLOBAL_ID_RECLAIM_ALLOWED: mon is allowing insecure global_id reclaim"
        ),
        "{}",
        warn.state
    );
    drop(mon);
}

/// A host check with `replication = true` on agent "here", its spec, and
/// the central side's book of agents and the store it writes to.
fn host_check(
    dir: &std::path::Path,
) -> (
    keepup_config::Config,
    keepup_config::HostSpec,
    HostBook,
    keepup_store::Store,
) {
    std::fs::write(dir.join("token"), "replication-token-0123456789").unwrap();
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
replication = true
"#;
    let config =
        keepup_config::load_str(src, &dir.join("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let store = keepup_store::Store::open(&dir.join("k.db")).unwrap();
    let book = HostBook::default();
    let checks: Vec<_> = config.shared_checks().cloned().collect::<Vec<Arc<_>>>();
    book.configure(&config, &checks, &store, 0);
    let spec = match &config.find_check("s/here").unwrap().spec {
        CheckSpec::Passive(PassiveSpec::Host(h)) => (**h).clone(),
        other => panic!("{other:?}"),
    };
    (config, spec, book, store)
}

/// A two-brick replicated volume on a private glusterd, read by the
/// agent's collector as on a GlusterFS server and judged centrally: all
/// bricks online is Up; a brick process killed is HOST_REPLICATION naming
/// the brick; the volume stopped (which `gluster volume status` no longer
/// lists at all) is HOST_REPLICATION too, not a volume gone quiet.
#[tokio::test(flavor = "multi_thread")]
async fn a_gluster_volume_with_a_brick_killed_or_stopped_is_judged_down() {
    // On the test's own thread: a server dies with the thread that
    // started it (parent-death signal), and a blocking-pool thread ends
    // after 10 s idle.
    let glusterd = Glusterd::start().expect("a private glusterd starts");
    let bricks = glusterd
        .start_volume("gv0", 2)
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let (config, spec, book, store) = host_check(dir.path());
    let agent = config.agents[0].clone();
    let mut c = Collector::new(Settings {
        name: "here".into(),
        gluster_socket: Some(glusterd.socket().to_owned()),
        // Read at every collection: the test waits for a change.
        replication_every: Duration::ZERO,
        ..Settings::default()
    });
    let mut seq: u64 = 0;
    // Collects until `done` holds for gv0's entry (glusterd learns of a
    // brick's start or death within moments), then judges that report.
    let mut until = async |done: &dyn Fn(&Replication) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            seq += 1;
            let now = i64::try_from(seq).unwrap() * 1_000;
            let r = c.collect(seq, now).await;
            let gv0 = r
                .replication
                .iter()
                .find(|e| e.system == "gluster" && e.name == "gv0")
                .cloned();
            let problems = r.problems.clone();
            let seen = format!("{gv0:?}");
            if let Some(gv0) = gv0
                && done(&gv0)
            {
                assert!(matches!(
                    book.accept(&agent, r, &store, now),
                    Ok(Accepted::New(_))
                ));
                return (gv0, book.evaluate(&spec, now));
            }
            assert!(
                Instant::now() < deadline,
                "gv0 not as expected after a minute: {seen}; problems {problems:?}; glusterd's log:\n{}",
                glusterd.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };

    let (up, judged) = until(&|e| e.healthy).await;
    assert_eq!(up.state, "all bricks online");
    assert_eq!(judged.status, Status::Up, "{judged:?}");

    glusterd.kill_brick("gv0", &bricks[1]).unwrap();
    let (broken, judged) = until(&|e| !e.healthy).await;
    assert_eq!(broken.state, format!("{} offline", bricks[1]));
    assert_eq!(judged.status, Status::Down, "{judged:?}");
    assert_eq!(judged.findings[0].code, codes::HOST_REPLICATION);
    assert_eq!(
        judged.message,
        format!("gluster gv0: {} offline", bricks[1])
    );

    glusterd.cli(&["volume", "stop", "gv0"]).unwrap();
    let (stopped, judged) = until(&|e| e.state != broken.state).await;
    assert!(!stopped.healthy);
    assert_eq!(stopped.state, "stopped");
    assert_eq!(judged.status, Status::Down, "{judged:?}");
    assert_eq!(judged.message, "gluster gv0: stopped");
    drop(glusterd);
}
