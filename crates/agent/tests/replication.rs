//! Replication state from the real tools: a private one-monitor Ceph
//! cluster (Debian's ceph-mon, testkit) read by the collector's own
//! `ceph health --format json`, pointed at the cluster with
//! `Settings::ceph_conf` as `keepup agent --ceph-conf` does.

use std::time::{Duration, Instant};

use keepup_agent::{Collector, Settings};
use keepup_model::host::Replication;
use keepup_testkit::ceph::CephMon;

async fn ceph(c: &mut Collector) -> Option<Replication> {
    let r = c.collect(1, 0).await;
    r.replication.into_iter().find(|e| e.system == "ceph")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_monitor_without_osds_is_read_through_ceph_health() {
    let mon = tokio::task::spawn_blocking(CephMon::start)
        .await
        .expect("join")
        .expect("a Ceph monitor starts");
    let mut c = Collector::new(Settings {
        ceph_conf: Some(mon.conf().to_owned()),
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
