//! `keepup bench`: hands each subcommand to its bench in `keepup-bench`
//! and prints the report. The benches start test servers (Knot, Postfix,
//! Dovecot) with the test kit's launchers, so they are linked only with
//! the `bench` cargo feature; without it every subcommand says how to get
//! them.

use crate::cli::BenchCommand;
use std::process::ExitCode;

/// Runs one `keepup bench` subcommand.
#[cfg(feature = "bench")]
pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    use keepup_bench::scheduler::Target;
    use keepup_config::{CheckSpec, ProbeSpec};
    use std::time::Duration;
    match command {
        BenchCommand::Probe {
            target,
            concurrency,
            duration,
            ca_file,
        } => {
            let mut check = super::check::ad_hoc(&target, Duration::from_secs(10))?;
            if let (CheckSpec::Probe(ProbeSpec::Http(h)), Some(ca)) = (&mut check.spec, ca_file) {
                h.tls.ca_file = Some(ca);
            }
            let report = keepup_bench::probe::probe(&target, check, concurrency, duration)?;
            println!("{report}");
        }
        BenchCommand::Scheduler {
            checks,
            interval,
            duration,
            target,
            concurrency,
        } => {
            let target = match target {
                Some(url) => Target::Url(url),
                None => {
                    let mut itself = std::process::Command::new(std::env::current_exe()?);
                    itself.args(["bench", "target"]);
                    Target::Spawn(itself)
                }
            };
            let report = keepup_bench::scheduler::scheduler(
                checks,
                interval,
                duration,
                target,
                concurrency,
            )?;
            println!("{report}");
        }
        BenchCommand::Target { listen } => keepup_bench::scheduler::serve_target(listen)?,
        BenchCommand::Alerting {
            checks,
            per_site,
            runs,
        } => println!(
            "{}",
            keepup_bench::alerting::alerting(checks, per_site, runs)?
        ),
        BenchCommand::Forecast {
            hosts,
            threads,
            rounds,
        } => println!(
            "{}",
            keepup_bench::forecast::forecast(hosts, threads, rounds)?
        ),
        BenchCommand::Delegation {
            zone,
            runs,
            root,
            port,
        } => println!(
            "{}",
            keepup_bench::dns::delegation(&zone, runs, root, port)?
        ),
        BenchCommand::Dnsbl {
            ips,
            concurrency,
            duration,
            resolver,
        } => println!(
            "{}",
            keepup_bench::dns::dnsbl(ips, concurrency, duration, resolver)?
        ),
        BenchCommand::Mail {
            runs,
            rounds,
            plugins,
        } => println!("{}", keepup_bench::mail::mail(runs, rounds, &plugins)?),
        BenchCommand::Agent {
            agents,
            interval,
            duration,
        } => println!(
            "{}",
            keepup_bench::agent::agent(&keepup_bench::agent::AgentBench {
                keepup: std::env::current_exe()?,
                agents,
                interval,
                duration,
            })?
        ),
        BenchCommand::Backlog {
            reports,
            interval,
            runs,
            central,
        } => println!(
            "{}",
            keepup_bench::backlog::backlog(&keepup_bench::backlog::BacklogBench {
                central: match central {
                    Some(path) => path,
                    None => std::env::current_exe()?,
                },
                reports,
                interval,
                runs,
            })?
        ),
        BenchCommand::Postgres {
            databases,
            duration,
        } => println!("{}", keepup_bench::postgres::postgres(databases, duration)?),
        BenchCommand::Outage {
            checks,
            healthy,
            stall,
            duration,
            concurrency,
        } => {
            // The targets run in a child, so the figures are keepup's alone.
            let mut targets = std::process::Command::new(std::env::current_exe()?);
            targets.args(["bench", "outage-targets"]);
            let report = keepup_bench::outage::outage(
                checks,
                healthy,
                stall,
                duration,
                concurrency,
                targets,
            )?;
            println!("{report}");
        }
        BenchCommand::OutageTargets => keepup_bench::outage::serve_targets()?,
        BenchCommand::Sla {
            contract_checks,
            contract_days,
            checks,
            days,
            interval,
            reads,
            keep,
        } => println!(
            "{}",
            keepup_bench::sla::sla(&keepup_bench::sla::SlaBench {
                contract_checks,
                contract_days,
                checks,
                days,
                interval,
                reads,
                keep,
            })?
        ),
        BenchCommand::Web {
            checks,
            days,
            interval,
            connections,
            threads,
            duration,
            runs,
            keep,
            only,
        } => println!(
            "{}",
            keepup_bench::web::web(&keepup_bench::web::WebBench {
                checks,
                days,
                interval,
                connections,
                threads,
                duration,
                runs,
                keep,
                keepup: std::env::current_exe()?,
                only,
            })?
        ),
        BenchCommand::Scenario {
            concurrency,
            duration,
            browser,
            playwright,
        } => println!(
            "{}",
            keepup_bench::scenario::scenario(&keepup_bench::scenario::ScenarioBench {
                concurrency,
                duration,
                browser,
                playwright,
            })?
        ),
        BenchCommand::Listener {
            slow,
            pingers,
            duration,
        } => println!(
            "{}",
            keepup_bench::listener::listener(slow, pingers, duration)?
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Says that this binary has no benches and how to build one that has.
#[cfg(not(feature = "bench"))]
pub fn run(_command: BenchCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "this keepup was built without its benchmarks (they start test servers and are left out of release builds); build them with: cargo build --release -p keepup --features bench"
    )
}
