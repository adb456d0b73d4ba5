//! `keepup bench probe`: one target probed back to back by N workers with
//! the real probe; probes per second and latency percentiles.

use crate::{BenchError, percentiles, probe_of, runtime};
use keepup_config::Check;
use keepup_model::Status;
use keepup_probe::ProbeContext;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `keepup bench probe` measured.
#[derive(Debug)]
pub struct ProbeReport {
    pub target: String,
    pub concurrency: usize,
    pub wall: Duration,
    pub probes: usize,
    /// Latency percentiles in ms: p50, p90, p99.
    pub latency_ms: (f64, f64, f64),
    /// Outcomes by status (up, degraded, down, unknown).
    pub statuses: [u64; 4],
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (p50, p90, p99) = self.latency_ms;
        write!(
            f,
            "target={} concurrency={} duration={:.1}s probes={} rate={:.0}/s latency_ms p50={p50:.2} p90={p90:.2} p99={p99:.2} up={} degraded={} down={} unknown={}",
            self.target,
            self.concurrency,
            self.wall.as_secs_f64(),
            self.probes,
            self.probes as f64 / self.wall.as_secs_f64(),
            self.statuses[0],
            self.statuses[1],
            self.statuses[2],
            self.statuses[3]
        )
    }
}

/// Probes `check` (named `target` in the report) with `concurrency`
/// workers for `duration`.
pub fn probe(
    target: &str,
    check: Check,
    concurrency: usize,
    duration: Duration,
) -> Result<ProbeReport, BenchError> {
    let (probe, timeout) = probe_of(&check)?;
    let probe = Arc::new(probe);
    let (latencies, statuses, wall) = runtime()?.block_on(async move {
        let ctx = ProbeContext::new();
        // One probe first, so a broken target is reported instead of measured.
        let first = keepup_probe::run(&probe, timeout, &ctx).await;
        if first.status != Status::Up {
            eprintln!(
                "warning: first probe was {}: {}",
                first.status, first.message
            );
        }
        let deadline = Instant::now() + duration;
        let start = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..concurrency.max(1) {
            let (probe, ctx) = (probe.clone(), ctx.clone());
            workers.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut st = [0u64; 4];
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let o = keepup_probe::run(&probe, timeout, &ctx).await;
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    st[o.status as usize] += 1;
                }
                (lat, st)
            }));
        }
        let mut all = Vec::new();
        let mut statuses = [0u64; 4];
        for w in workers {
            if let Ok((lat, st)) = w.await {
                all.extend(lat);
                for i in 0..4 {
                    statuses[i] += st[i];
                }
            }
        }
        (all, statuses, start.elapsed())
    });
    Ok(ProbeReport {
        target: target.to_owned(),
        concurrency,
        wall,
        probes: latencies.len(),
        latency_ms: percentiles(latencies),
        statuses,
    })
}
