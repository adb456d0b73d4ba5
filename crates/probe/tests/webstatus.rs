//! `kind = "nginx_status"` against a private nginx (Debian `nginx-light`)
//! and an in-process page in stub_status's layout for dropped connections,
//! and `kind = "apache_status"` against an in-process server answering
//! `server-status?auto` as Apache's mod_status writes it.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use keepup_model::codes as c;
use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;
use keepup_testkit::http::{TestServer, text};
use keepup_testkit::nginx::Nginx;
use support::codes;

async fn run(kind: &str, url: &str, extra: &str, ctx: &ProbeContext) -> Outcome {
    let src = format!(
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"c\"\nkind = \"{kind}\"\ntimeout = \"5s\"\nurl = \"{url}\"\n{extra}"
    );
    let config =
        keepup_config::load_str(&src, Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    support::run(config.checks().next().expect("one check"), ctx).await
}

#[tokio::test]
async fn nginx_stub_status_is_read_and_judged() {
    let nginx = Nginx::start(64).expect("nginx");
    let ctx = ProbeContext::new();
    let o = run("nginx_status", &nginx.url("/status"), "", &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:?}\n{}", nginx.log());
    assert_eq!(o.message, "nginx answers its status");
    let counters = &o.evidence.details["nginx"];
    assert!(
        counters["active"].as_u64().is_some_and(|n| n >= 1),
        "{counters}"
    );
    assert!(
        counters["requests"].as_u64().is_some_and(|n| n >= 1),
        "{counters}"
    );

    // keepup's own request is an active connection: at the warn limit.
    let o = run(
        "nginx_status",
        &nginx.url("/status"),
        "active = { warn = 1, crit = 1000 }",
        &ctx,
    )
    .await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::NGINX_ACTIVE_HIGH]);
    assert!(o.message.starts_with("nginx has "), "{}", o.message);

    // The home page is not a status page.
    let o = run("nginx_status", &nginx.url("/"), "", &ctx).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::WEB_STATUS_INVALID]);
}

#[tokio::test]
async fn connections_nginx_accepted_but_did_not_handle_are_reported_once() {
    // Real nginx stops accepting when its worker_connections are used up
    // rather than accept and drop (it drops on a descriptor or memory
    // shortage), so this is an in-process page in stub_status's layout.
    let dropped = Arc::new(AtomicU64::new(0));
    let served = Arc::clone(&dropped);
    let server = TestServer::start(move |_req| {
        let handled = 1000 - served.load(Ordering::SeqCst);
        async move {
            text(
                200,
                format!("Active connections: 3 \nserver accepts handled requests\n 1000 {handled} 2500 \nReading: 0 Writing: 1 Waiting: 2 \n"),
            )
        }
    })
    .await
    .expect("server");
    let ctx = ProbeContext::new();
    let url = server.url("/status");
    let o = run("nginx_status", &url, "", &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    dropped.store(7, Ordering::SeqCst);
    let o = run("nginx_status", &url, "", &ctx).await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::NGINX_CONNECTIONS_DROPPED]);
    assert!(
        o.message
            .starts_with("nginx dropped 7 connections it accepted (7 since it started)"),
        "{}",
        o.message
    );
    let o = run("nginx_status", &url, "", &ctx).await;
    assert_eq!(o.status, Status::Up, "no new drop: {o:?}");
}

#[tokio::test]
async fn apache_server_status_busy_workers_against_the_limit() {
    let server = TestServer::start(|req| async move {
        if req.uri().query() != Some("auto") {
            return text(200, "<html>Apache Server Status</html>");
        }
        text(
            200,
            "127.0.0.1\nServerVersion: Apache/2.4.62 (Debian)\nServerMPM: event\nTotal Accesses: 4242\nTotal kBytes: 1024\nUptime: 86400\nReqPerSec: .0490972\nBusyWorkers: 45\nIdleWorkers: 5\nProcesses: 2\nScoreboard: WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW_____\n",
        )
    })
    .await
    .expect("server");
    let ctx = ProbeContext::new();
    let o = run("apache_status", &server.url("/server-status"), "", &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.evidence.details["apache"]["busy_percent"], 90.0);
    let o = run(
        "apache_status",
        &server.url("/server-status"),
        "busy = { warn = \"80%\", crit = \"95%\" }",
        &ctx,
    )
    .await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::APACHE_WORKERS_BUSY]);
    assert_eq!(
        o.message,
        "Apache has 45 of 50 worker slots busy (warn 80%)"
    );
    // A limit in the wrong unit is refused at load.
    let src = format!(
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"c\"\nkind = \"apache_status\"\nurl = \"{}\"\nbusy = {{ warn = \"10 GiB\" }}\n",
        server.url("/server-status")
    );
    let problems = keepup_config::load_str(&src, Path::new("k.toml"))
        .err()
        .map(|p| p.to_string())
        .unwrap_or_default();
    assert!(
        problems.contains("site[0].check[0].busy.warn"),
        "{problems}"
    );
}

#[tokio::test]
async fn tomcat_manager_status_heap_and_busy_threads_against_their_limits() {
    // Two request threads: keepup's own request holds one of them.
    let tomcat = tokio::task::spawn_blocking(|| keepup_testkit::tomcat::Tomcat::start(2))
        .await
        .unwrap()
        .expect("tomcat");
    let ctx = ProbeContext::new();
    let url = tomcat.url("/manager/status");
    let auth = format!(
        "basic_auth = {{ username = \"{}\", password_file = \"{}\" }}\n",
        keepup_testkit::tomcat::USER,
        tomcat.password_file().display()
    );
    let o = run("tomcat_status", &url, &auth, &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:?}\n{}", tomcat.log());
    assert_eq!(o.message, "Tomcat answers its status");
    let t = &o.evidence.details["tomcat"];
    let max = t["heap_max_bytes"].as_u64().unwrap();
    assert!(max > 0 && max <= 64 << 20, "-Xmx64m: {t}");
    assert_eq!(t["connectors"][0]["max_threads"], 2, "{t}");

    let o = run(
        "tomcat_status",
        &url,
        &format!(
            "{auth}threads = {{ warn = \"50%\", crit = \"100%\" }}\nmemory = {{ crit = \"99.9%\" }}"
        ),
        &ctx,
    )
    .await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::TOMCAT_THREADS_BUSY]);
    assert!(
        o.message
            .ends_with("has 1 of its 2 threads busy (warn 50%)"),
        "{}",
        o.message
    );
    let o = run(
        "tomcat_status",
        &url,
        &format!("{auth}memory = {{ warn = \"0.1%\", crit = \"99.9%\" }}"),
        &ctx,
    )
    .await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::TOMCAT_MEMORY_HIGH]);
    assert!(o.message.starts_with("Tomcat's JVM uses "), "{}", o.message);

    // Without the manager-status user's password: refused.
    let o = run("tomcat_status", &url, "", &ctx).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert!(o.message.contains("401"), "{}", o.message);
}

#[tokio::test]
async fn varnish_in_front_of_a_backend_hits_misses_and_sick_backends() {
    // A backend whose pages are cacheable (/) or not (/private).
    let backend = TestServer::start(|req| async move {
        let mut r = text(200, "shop page\n");
        if req.uri().path() == "/private" {
            r.headers_mut()
                .insert("cache-control", "private".parse().unwrap());
        } else {
            r.headers_mut()
                .insert("cache-control", "max-age=60".parse().unwrap());
        }
        r
    })
    .await
    .expect("backend");
    let varnish = keepup_testkit::varnish::Varnish::start(backend.addr()).expect("varnishd");
    let ctx = ProbeContext::new();

    let o = run("varnish", &varnish.url("/"), "cached = true", &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:?}\n{}", varnish.log());
    assert_eq!(o.evidence.details["varnish"]["hit"], true, "{o:?}");
    assert_eq!(o.message, "HTTP 200 through Varnish (a cache hit)");

    let o = run("varnish", &varnish.url("/private"), "cached = true", &ctx).await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::VARNISH_NOT_CACHED]);
    let o = run("varnish", &varnish.url("/private"), "", &ctx).await;
    assert_eq!(o.status, Status::Up, "a miss is fine without cached: {o:?}");

    let o = run("varnish", &varnish.url("/varnish-health"), "", &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:?}");

    // The backend itself answers without Varnish's headers.
    let o = run("varnish", &backend.url("/"), "", &ctx).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::VARNISH_NOT_IN_PATH]);

    // The backend gone: Varnish's probe marks it sick, its health URL and
    // an uncached page are Varnish's own 503s.
    drop(backend);
    let mut health = None;
    for _ in 0..50 {
        let o = run("varnish", &varnish.url("/varnish-health"), "", &ctx).await;
        if o.status == Status::Down {
            health = Some(o);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let o = health.expect("the health URL fails once the backend is gone");
    assert!(codes(&o).contains(&c::VARNISH_BACKEND_FAILED), "{o:?}");
    assert!(o.message.contains("503 Backend sick"), "{}", o.message);
    let o = run("varnish", &varnish.url("/private"), "", &ctx).await;
    assert!(codes(&o).contains(&c::VARNISH_BACKEND_FAILED), "{o:?}");
    assert!(
        o.message.starts_with("Varnish answered 503 "),
        "{}",
        o.message
    );
}
