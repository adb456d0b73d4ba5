//! `keepup bench listener`: the real listener (`keepup_web::serve` with the
//! default limits, over a real monitor and store) while one loopback
//! address floods it with slowloris connections; reports how the heartbeat
//! pings of well-behaved clients on other addresses fare.
//!
//! The flood comes from 127.0.0.2: each of its connections sends a request
//! line, then one header line every [`TRICKLE`], and when the listener
//! closes it, opens a new one at its next tick (as slowloris does). The
//! pingers each have their own address (127.0.0.10 and up) and ping in a
//! loop with a fresh connection each time; a ping that is not answered 200
//! within [`PING_TIMEOUT`] is a failure. Listener, flood and pingers run
//! on separate runtimes (threads) of this process.

use crate::{BenchError, cpu_time, peak_rss_mb, percentiles, runtime, scratch_dir};
use keepup_model::SystemClock;
use keepup_monitor::Monitor;
use keepup_probe::ProbeContext;
use keepup_store::Store;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// How often a slow connection sends one more header line.
pub const TRICKLE: Duration = Duration::from_secs(2);
/// A ping not answered within this time failed (a cron job's curl would
/// give up about then).
pub const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause between two pings of one pinger.
const PING_PAUSE: Duration = Duration::from_millis(100);
const FLOOD_HOST: u8 = 2;
const FIRST_PINGER_HOST: u8 = 10;
const TOKEN: &str = "bench-heartbeat-token";

/// What `keepup bench listener` measured.
#[derive(Debug)]
pub struct ListenerReport {
    pub slow: usize,
    pub pingers: usize,
    pub window: Duration,
    pub pings: usize,
    pub ok: usize,
    /// Latency of the pings answered 200, in ms: p50, p99, max.
    pub latency_ms: (f64, f64, f64),
    /// Flood connections the listener held (unanswered for a trickle
    /// period or more) at the end of the window.
    pub flood_held: u64,
    /// Flood connections answered 429 during the run.
    pub flood_refused: u64,
    /// Flood connections closed without an answer (the head deadline).
    pub flood_cut: u64,
    /// Connection attempts of the flood that failed or timed out.
    pub flood_connect_failed: u64,
    pub cpu: Duration,
    pub peak_rss_mb: f64,
}

impl fmt::Display for ListenerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (p50, p99, max) = self.latency_ms;
        write!(
            f,
            "slow={} pingers={} window={:.0}s pings={} ok={} success={:.1}% latency_ms p50={p50:.1} p99={p99:.1} max={max:.1} flood_held={} flood_refused_429={} flood_cut={} flood_connect_failed={} cpu={:.1}%_of_one_core peak_rss={:.1}MB",
            self.slow,
            self.pingers,
            self.window.as_secs_f64(),
            self.pings,
            self.ok,
            if self.pings == 0 {
                0.0
            } else {
                self.ok as f64 / self.pings as f64 * 100.0
            },
            self.flood_held,
            self.flood_refused,
            self.flood_cut,
            self.flood_connect_failed,
            self.cpu.as_secs_f64() / self.window.as_secs_f64() * 100.0,
            self.peak_rss_mb,
        )
    }
}

/// Floods the listener with `slow` slowloris connections from one address
/// while `pingers` clients on other addresses ping it for `duration`.
pub fn listener(
    slow: usize,
    pingers: usize,
    duration: Duration,
) -> Result<ListenerReport, BenchError> {
    if pingers == 0 || pingers > usize::from(u8::MAX - FIRST_PINGER_HOST) {
        return Err(BenchError::Usage(format!(
            "--pingers must be 1 to {} (one loopback address each)",
            u8::MAX - FIRST_PINGER_HOST
        )));
    }
    // The flood's sockets and the listener's are all in this process.
    let descriptors = keepup_config::descriptors::raise_to_hard_limit()
        .map(|l| l.soft)
        .unwrap_or(1024);
    let needed = slow as u64 + pingers as u64 + 256;
    if needed > descriptors / 2 {
        return Err(BenchError::Usage(format!(
            "{slow} slow connections need about {} file descriptors in this process (the listener takes up to half); the limit is {descriptors}: raise it (ulimit -n) or ask for fewer",
            needed * 2
        )));
    }
    let dir = scratch_dir()?;
    let src = format!(
        "[store]\npath = \"{}\"\n[[site]]\nid = \"bench\"\n[[site.check]]\nid = \"cron\"\nkind = \"heartbeat\"\ntoken = \"{TOKEN}\"\nperiod = \"1h\"\n",
        dir.join("bench.db").display()
    );
    let config = keepup_config::load_str(&src, &dir.join("bench.toml"))?;
    let limits = config.server.limits.clone();
    let store_path = config.store.path.clone();

    let server_runtime = runtime()?;
    let (monitor, addr, stop_server) = server_runtime.block_on(async move {
        let store = Store::open(&store_path)?;
        let monitor = Arc::new(
            Monitor::start(
                Arc::new(config),
                store,
                ProbeContext::new(),
                Arc::new(SystemClock),
            )
            .await?,
        );
        let listener = keepup_web::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .map_err(BenchError::io("cannot listen on 127.0.0.1"))?;
        let addr = listener
            .local_addr()
            .map_err(BenchError::io("no local address"))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = keepup_web::router(monitor.clone());
        tokio::spawn(async move {
            keepup_web::serve(listener, router, &limits, async move {
                let _ = stopped.await;
            })
            .await
        });
        Ok::<_, BenchError>((monitor, addr, stop))
    })?;

    let flood = Arc::new(Flood::default());
    let flood_thread = {
        let flood = flood.clone();
        std::thread::spawn(move || -> Result<(), BenchError> {
            client_runtime()?.block_on(async move {
                let mut tasks = Vec::with_capacity(slow);
                for _ in 0..slow {
                    tasks.push(tokio::spawn(slow_connection(addr, flood.clone())));
                }
                for t in tasks {
                    let _ = t.await;
                }
            });
            Ok(())
        })
    };
    eprintln!("opening {slow} slow connections from 127.0.0.{FLOOD_HOST}…");
    while flood.attempts.load(Ordering::Relaxed) < slow as u64 && !flood_thread.is_finished() {
        std::thread::sleep(Duration::from_millis(100));
    }
    // One trickle period, so every slow connection has been answered,
    // cut or held.
    std::thread::sleep(TRICKLE);
    eprintln!("pinging from {pingers} other addresses for {duration:?}…");
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let results = client_runtime()?.block_on(async move {
        let until = Instant::now() + duration;
        let tasks: Vec<_> = (0..pingers)
            .map(|i| tokio::spawn(pinger(FIRST_PINGER_HOST + i as u8, addr, until)))
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap_or_default());
        }
        all
    });
    let window = t0.elapsed();
    let cpu = cpu_time() - cpu0;
    let flood_held = flood.held.load(Ordering::Relaxed);
    flood.stop.store(true, Ordering::Relaxed);
    let _ = flood_thread.join();
    let _ = stop_server.send(());
    server_runtime.block_on(monitor.shutdown());
    let _ = std::fs::remove_dir_all(&dir);

    let ok: Vec<f64> = results
        .iter()
        .filter(|(ok, _)| *ok)
        .map(|(_, t)| t.as_secs_f64() * 1000.0)
        .collect();
    let latency_ms = percentiles_with_max(ok.clone());
    Ok(ListenerReport {
        slow,
        pingers,
        window,
        pings: results.len(),
        ok: ok.len(),
        latency_ms,
        flood_held,
        flood_refused: flood.refused.load(Ordering::Relaxed),
        flood_cut: flood.cut.load(Ordering::Relaxed),
        flood_connect_failed: flood.connect_failed.load(Ordering::Relaxed),
        cpu,
        peak_rss_mb: peak_rss_mb(),
    })
}

fn percentiles_with_max(v: Vec<f64>) -> (f64, f64, f64) {
    let max = v.iter().copied().fold(0.0, f64::max);
    let (p50, _, p99) = percentiles(v);
    (p50, p99, max)
}

/// A single-threaded runtime for the clients, apart from the listener's.
fn client_runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BenchError::io("cannot start a tokio runtime"))
}

/// The flood's counters.
#[derive(Default)]
struct Flood {
    stop: AtomicBool,
    attempts: AtomicU64,
    held: AtomicU64,
    refused: AtomicU64,
    cut: AtomicU64,
    connect_failed: AtomicU64,
}

async fn connect_from(host: u8, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((Ipv4Addr::new(127, 0, 0, host), 0)))?;
    socket.connect(addr).await
}

/// One slowloris connection, reopened at its next tick whenever the
/// listener closes it, until the flood stops.
async fn slow_connection(addr: SocketAddr, flood: Arc<Flood>) {
    let mut tick = tokio::time::interval(TRICKLE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut buf = [0u8; 512];
    while !flood.stop.load(Ordering::Relaxed) {
        tick.tick().await;
        flood.attempts.fetch_add(1, Ordering::Relaxed);
        let Ok(Ok(mut stream)) =
            tokio::time::timeout(PING_TIMEOUT, connect_from(FLOOD_HOST, addr)).await
        else {
            flood.connect_failed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: keepup\r\n")
            .await
            .is_err()
        {
            flood.cut.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let mut line = 0u64;
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => {
                    match read {
                        Ok(n) if n > 0 && buf[..n].starts_with(b"HTTP/1.1 429") => {
                            flood.refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(n) if n > 0 => continue,
                        _ => {
                            flood.cut.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    break;
                }
                _ = tick.tick() => {
                    if flood.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    line += 1;
                    let header = format!("X-Slow-{line}: 1\r\n");
                    if stream.write_all(header.as_bytes()).await.is_err() {
                        flood.cut.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    if line == 1 {
                        // Unanswered for a whole tick: the listener holds it.
                        flood.held.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        if line > 0 {
            flood.held.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Pings from `127.0.0.<host>` until `until`: (answered 200, time taken).
async fn pinger(host: u8, addr: SocketAddr, until: Instant) -> Vec<(bool, Duration)> {
    let request =
        format!("GET /ping/{TOKEN} HTTP/1.1\r\nHost: keepup\r\nConnection: close\r\n\r\n");
    let mut results = Vec::new();
    while Instant::now() < until {
        let t = Instant::now();
        let answered = tokio::time::timeout(PING_TIMEOUT, async {
            let mut stream = connect_from(host, addr).await?;
            stream.write_all(request.as_bytes()).await?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        })
        .await;
        let ok = matches!(&answered, Ok(Ok(a)) if a.starts_with(b"HTTP/1.1 200"));
        results.push((ok, t.elapsed()));
        tokio::time::sleep(PING_PAUSE).await;
    }
    results
}
