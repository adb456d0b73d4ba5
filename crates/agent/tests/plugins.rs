//! Nagios plugins run by the agent (`--plugin`), pushed to a real central
//! keepup and judged there by `kind = "nagios"` checks with `agent` and
//! `plugin`, as local plugins are: real `monitoring-plugins-basic`
//! commands, a plugin past the agent's timeout, and a plugin the agent
//! does not run.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use keepup_agent::backlog::Backlog;
use keepup_agent::plugins::Plugin;
use keepup_agent::push::Pusher;
use keepup_agent::{Collector, Settings};
use keepup_model::{CheckId, Clock, Status, SystemClock, codes};
use keepup_monitor::Monitor;
use keepup_notify::HttpClientContext;

const TOKEN: &str = "web1-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_on_the_agent_are_judged_by_the_central_as_local_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("web1.token"), TOKEN).unwrap();
    let src = r#"
[[agent]]
name = "web1"
token_file = "web1.token"

[[site]]
id = "s"

[[site.check]]
id = "load"
kind = "nagios"
agent = "web1"
plugin = "load"

[[site.check]]
id = "fire"
kind = "nagios"
agent = "web1"
plugin = "fire"

[[site.check]]
id = "slow"
kind = "nagios"
agent = "web1"
plugin = "slow"

[[site.check]]
id = "absent"
kind = "nagios"
agent = "web1"
plugin = "absent"
"#;
    let config =
        keepup_config::load_str(src, &dir.path().join("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let limits = config.server.limits.clone();
    let store = keepup_store::Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = Arc::new(
        Monitor::start(
            Arc::new(config),
            store,
            keepup_probe::ProbeContext::new(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap(),
    );
    let port = keepup_testkit::ports::free_port(Ipv4Addr::LOCALHOST).unwrap();
    let listener = keepup_web::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).unwrap();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = keepup_web::router(monitor.clone());
    tokio::spawn(async move {
        keepup_web::serve(listener, router, &limits, async move {
            let _ = stopped.await;
        })
        .await
    });

    // Bare names are found in /usr/lib/nagios/plugins.
    let plugins = [
        "load=check_load -w 1000,1000,1000 -c 2000,2000,2000",
        "fire=check_dummy 2 fire",
        "slow=/bin/sleep 30",
    ]
    .map(|p| Plugin::parse(p).unwrap())
    .to_vec();
    assert_eq!(
        plugins[0].program,
        std::path::Path::new("/usr/lib/nagios/plugins/check_load")
    );
    let mut collector = Collector::new(Settings {
        name: "web1".into(),
        plugins,
        plugin_timeout: Duration::from_secs(1),
        ..Settings::default()
    });
    let mut backlog = Backlog::open(&dir.path().join("backlog"), 10).unwrap();
    let pusher = Pusher::new(
        HttpClientContext::new(),
        format!("http://127.0.0.1:{port}/agent/report"),
        keepup_config::Secret::new(TOKEN.into()),
        Duration::from_secs(5),
    );
    let now = SystemClock.now_ms();
    let seq = backlog.next_seq(now).unwrap();
    let report = collector.collect(seq, now).await;
    assert_eq!(report.plugins.len(), 3);
    backlog.push(&report).unwrap();
    let d = pusher.deliver(&mut backlog).await;
    assert_eq!((d.delivered, d.stopped.as_deref()), (1, None), "{d:?}");

    let outcome = async |id: &str| {
        let id = CheckId::new("s", id);
        for _ in 0..600 {
            if monitor
                .current()
                .get(&id)
                .is_some_and(|s| s.outcome.status != Status::Unknown)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        monitor
            .current()
            .get(&id)
            .map(|s| s.outcome.clone())
            .expect("judged")
    };
    let codes_of = |o: &keepup_model::Outcome| {
        o.findings
            .iter()
            .map(|f| f.code.clone())
            .collect::<Vec<_>>()
    };

    let load = outcome("load").await;
    assert_eq!(load.status, Status::Up, "{load:?}");
    assert!(load.message.starts_with("LOAD OK"), "{}", load.message);
    let perf = &load.evidence.details["perfdata"];
    assert_eq!(perf[0]["label"], "load1", "{perf}");
    assert_eq!(load.evidence.details["agent"], "web1");

    let fire = outcome("fire").await;
    assert_eq!(fire.status, Status::Down, "{fire:?}");
    assert_eq!(codes_of(&fire), [codes::NAGIOS_CRITICAL]);
    assert_eq!(fire.message, "CRITICAL: fire");
    assert_eq!(fire.evidence.details["exit_code"], 2);

    let slow = outcome("slow").await;
    assert_eq!(slow.status, Status::Down, "{slow:?}");
    assert_eq!(codes_of(&slow), [codes::PROBE_TIMEOUT]);
    assert!(slow.message.contains("within 1s"), "{}", slow.message);

    let absent = outcome("absent").await;
    assert_eq!(absent.status, Status::Degraded, "{absent:?}");
    assert_eq!(codes_of(&absent), [codes::HOST_MEASURE_MISSING]);
    assert!(
        absent.message.contains("agent web1 runs fire, load, slow"),
        "{}",
        absent.message
    );
}
