//! `keepup bench delegation` and `keepup bench dnsbl`: the DNS probes
//! against Knot DNS serving the test hierarchy on loopback (started here
//! with the test kit's launcher unless a running one is named).

use crate::{BenchError, peak_rss_mb, percentiles, runtime};
use keepup_model::Status;
use keepup_probe::ProbeContext;
use keepup_testkit::dns::DnsWorld;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The test DNS hierarchy (Knot DNS on 127.53.0.0/16), unless the caller
/// points at one already running.
fn dns_world(needed: bool) -> Result<Option<DnsWorld>, BenchError> {
    if !needed {
        return Ok(None);
    }
    DnsWorld::start()
        .map(Some)
        .map_err(BenchError::server("Knot DNS (Debian package `knot`)"))
}

/// The probe of one check of `kind_body` under a `[dns]` section.
fn dns_check(
    dns: &str,
    kind_body: &str,
) -> Result<(keepup_config::ProbeSpec, Duration), BenchError> {
    let src = format!(
        "{dns}\n[[site]]\nid = \"bench\"\n[[site.check]]\nid = \"c\"\ninterval = \"60s\"\ntimeout = \"30s\"\n{kind_body}\n"
    );
    let mut config = keepup_config::load_str(&src, std::path::Path::new("<bench>"))?;
    let check = config
        .sites
        .pop()
        .and_then(|mut s| s.checks.pop())
        .ok_or_else(|| BenchError::Usage("the bench's configuration has no check".into()))?;
    crate::probe_of(&check)
}

/// `keepup bench delegation`: walks one after another; latency per walk.
/// Walks the test hierarchy unless `root` names another one's root hint
/// (its name servers on `port`). Returns the report line.
pub fn delegation(
    zone: &str,
    runs: usize,
    root: Option<SocketAddr>,
    port: u16,
) -> Result<String, BenchError> {
    let world = dns_world(root.is_none())?;
    let dns = match (&world, root) {
        (Some(w), _) => {
            eprintln!(
                "Knot DNS test hierarchy: root hint {}, resolver {}, port {}",
                w.root_hints()[0],
                w.resolver(),
                w.port()
            );
            w.dns_section()
        }
        (None, Some(r)) => format!("[dns]\nroot_hints = [\"{r}\"]\nport = {port}\n"),
        (None, None) => return Err(BenchError::Usage("no hierarchy to walk".into())),
    };
    let (probe, timeout) = dns_check(
        &dns,
        &format!(
            "kind = \"delegation\"\nzone = {}",
            keepup_config::toml_string(zone)
        ),
    )?;
    let rt = runtime()?;
    let (latencies, statuses, queries, first) = rt.block_on(async {
        let ctx = ProbeContext::new();
        let first = keepup_probe::run(&probe, timeout, &ctx).await;
        for _ in 0..4 {
            keepup_probe::run(&probe, timeout, &ctx).await;
        }
        let mut latencies = Vec::with_capacity(runs);
        let mut statuses = [0u64; 4];
        let mut queries = 0;
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            let o = keepup_probe::run(&probe, timeout, &ctx).await;
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            statuses[o.status as usize] += 1;
            queries = o
                .evidence
                .details
                .get("queries")
                .and_then(|q| q.as_u64())
                .unwrap_or(0);
        }
        (latencies, statuses, queries, first)
    });
    if first.status != Status::Up {
        eprintln!("warning: the walk is {}: {}", first.status, first.message);
    }
    let max = latencies.iter().copied().fold(0.0, f64::max);
    let n = latencies.len();
    let (p50, p90, p99) = percentiles(latencies);
    let report = format!(
        "zone={zone} walks={n} queries_per_walk={queries} walk_ms p50={p50:.2} p90={p90:.2} p99={p99:.2} max={max:.2} up={} degraded={} down={} unknown={}",
        statuses[0], statuses[1], statuses[2], statuses[3]
    );
    drop(world);
    Ok(report)
}

/// `keepup bench dnsbl`: DNSBL checks back to back; lookups per second.
/// Asks the test hierarchy's resolver unless `resolver` names another.
/// Returns the report line.
pub fn dnsbl(
    ips: usize,
    concurrency: usize,
    duration: Duration,
    resolver: Option<SocketAddr>,
) -> Result<String, BenchError> {
    let world = dns_world(resolver.is_none())?;
    let resolver = match (&world, resolver) {
        (Some(w), _) => w.resolver(),
        (None, Some(r)) => r,
        (None, None) => return Err(BenchError::Usage("no resolver".into())),
    };
    // Addresses of the benchmarking range (RFC 2544): only names to look
    // up, nothing is sent to them.
    let list: Vec<String> = (0..ips.max(1))
        .map(|i| format!("\"198.18.{}.{}\"", (i / 250) % 256, i % 250 + 1))
        .collect();
    let (probe, timeout) = dns_check(
        &format!("[dns]\nresolver = [\"{resolver}\"]\n"),
        &format!(
            "kind = \"dnsbl\"\nips = [{}]\nconcurrency = {}",
            list.join(", "),
            concurrency.clamp(1, 1024)
        ),
    )?;
    let rt = runtime()?;
    let (lookups, checks, wall, statuses, first) = rt.block_on(async {
        let ctx = ProbeContext::new();
        let first = keepup_probe::run(&probe, timeout, &ctx).await;
        let deadline = Instant::now() + duration;
        let start = Instant::now();
        let mut lookups = 0u64;
        let mut checks = 0u64;
        let mut statuses = [0u64; 4];
        while Instant::now() < deadline {
            let o = keepup_probe::run(&probe, timeout, &ctx).await;
            lookups += o
                .evidence
                .details
                .get("lookups")
                .and_then(|q| q.as_u64())
                .unwrap_or(0);
            checks += 1;
            statuses[o.status as usize] += 1;
        }
        (lookups, checks, start.elapsed(), statuses, first)
    });
    if first.status != Status::Up {
        eprintln!("warning: the check is {}: {}", first.status, first.message);
    }
    let rate = lookups as f64 / wall.as_secs_f64();
    let report = format!(
        "ips={ips} concurrency={concurrency} duration={:.1}s checks={checks} lookups={lookups} rate={rate:.0}/s check_ms={:.1} up={} degraded={} down={} unknown={} peak_rss={:.1}MB",
        wall.as_secs_f64(),
        wall.as_secs_f64() * 1000.0 / checks.max(1) as f64,
        statuses[0],
        statuses[1],
        statuses[2],
        statuses[3],
        peak_rss_mb()
    );
    drop(world);
    Ok(report)
}
