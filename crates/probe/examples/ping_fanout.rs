//! Speed of ICMP ping runs at a given concurrency: runs per second and CPU
//! per run. Every raw socket sees every ICMP packet of the host: its
//! socket filter drops other runs' replies in the kernel, but the kernel
//! still runs each raw socket's filter for each packet; a datagram socket
//! gets only its own replies. This measures what that costs.
//!
//! ```sh
//! cargo run --release -p keepup-probe --example ping_fanout -- 64 10 127.0.0.1
//! # the datagram path, in a namespace that allows it, without CAP_NET_RAW:
//! ip netns add b; ip -n b link set lo up
//! ip netns exec b sysctl -w net.ipv4.ping_group_range="0 2147483647"
//! ip netns exec b setpriv --bounding-set=-net_raw --inh-caps=-net_raw -- \
//!     target/release/examples/ping_fanout 64 10 127.0.0.1
//! ```
//!
//! Arguments: concurrency (default 64), seconds (default 10), address
//! (default 127.0.0.1). Each run sends one echo request.

use std::time::{Duration, Instant};

use keepup_config::{AddressFamily, PingSpec};
use keepup_model::Status;
use keepup_probe::{ProbeContext, icmp};

/// User + system CPU seconds of this process so far (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12
    // after the state field; the kernel's USER_HZ is 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let concurrency: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let host = args.get(3).cloned().unwrap_or_else(|| "127.0.0.1".into());
    let spec = PingSpec {
        host,
        family: AddressFamily::Any,
        count: 1,
        spacing: Duration::from_millis(200),
        reply_timeout: Duration::from_secs(1),
        degraded_loss: 20.0,
        down_loss: 100.0,
        degraded_rtt: None,
        down_rtt: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (runs, up, socket, wall) = rt.block_on(async move {
        let ctx = ProbeContext::new();
        let first = icmp::probe(&spec, &ctx).await;
        let socket = first
            .evidence
            .details
            .get("socket")
            .and_then(|s| s.as_str())
            .unwrap_or("none")
            .to_owned();
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let start = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..concurrency.max(1) {
            let (spec, ctx) = (spec.clone(), ctx.clone());
            workers.push(tokio::spawn(async move {
                let (mut runs, mut up) = (0u64, 0u64);
                while Instant::now() < deadline {
                    let o = icmp::probe(&spec, &ctx.with_timeout(Duration::from_secs(2))).await;
                    runs += 1;
                    up += u64::from(o.status == Status::Up);
                    if o.status != Status::Up && up + 3 > runs {
                        eprintln!("not up: {} {:?}", o.message, o.evidence.details);
                    }
                }
                (runs, up)
            }));
        }
        let (mut runs, mut up) = (0, 0);
        for w in workers {
            if let Ok((r, u)) = w.await {
                runs += r;
                up += u;
            }
        }
        (runs, up, socket, start.elapsed())
    });
    let cpu = cpu_seconds();
    println!(
        "socket={socket} concurrency={concurrency} runs={runs} up={up} rate={:.0}/s cpu={:.2}s cpu_per_run={:.1}us",
        runs as f64 / wall.as_secs_f64(),
        cpu,
        cpu * 1e6 / runs.max(1) as f64
    );
}
