//! `keepup bench mail`: keepup's mail checks beside monitoring-plugins'
//! against the same private Postfix and Dovecot (the test kit's
//! launchers).

use crate::{BenchError, percentiles, runtime};
use keepup_model::Status;
use keepup_probe::ProbeContext;
use keepup_testkit::mail::{Dovecot, DovecotOptions, Postfix, PostfixOptions, PostfixPort};
use keepup_testkit::pki::{CertAuthority, validity};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One side-by-side comparison of `keepup bench mail`.
struct MailPair {
    name: &'static str,
    /// The keepup check (kind and keys), as configuration text.
    keepup: String,
    /// The plugin and its arguments.
    plugin: &'static str,
    args: Vec<String>,
}

/// `keepup bench mail`: keepup's mail checks and monitoring-plugins'
/// check_smtp -S, check_imap, check_simap, check_pop and check_spop against
/// the same private Postfix and Dovecot, one check at a time. keepup is
/// timed around `keepup_probe::run` (how the daemon runs a check); a plugin
/// is timed around its process (how Nagios-style schedulers run it) and by
/// its own `time=` perfdata (the network part alone). `plugins` is the
/// plugins' directory. Returns the report table.
pub fn mail(runs: usize, rounds: usize, plugins: &Path) -> Result<String, BenchError> {
    if runs == 0 || rounds == 0 {
        return Err(BenchError::Usage(
            "--runs and --rounds must be at least 1".into(),
        ));
    }
    for plugin in [
        "check_smtp",
        "check_imap",
        "check_simap",
        "check_pop",
        "check_spop",
    ] {
        if !plugins.join(plugin).exists() {
            return Err(BenchError::Usage(format!(
                "{} is missing: install monitoring-plugins-standard and monitoring-plugins-basic",
                plugins.join(plugin).display()
            )));
        }
    }
    let pki = |e: keepup_testkit::pki::PkiError| BenchError::Server {
        what: "the bench's certificate authority",
        reason: e.to_string(),
    };
    let ca = CertAuthority::new("keepup bench mail CA").map_err(pki)?;
    let leaf = ca
        .issue(&["smtp.bench.test", "imap.bench.test"], validity::current())
        .map_err(pki)?;
    let ca_pem = ca
        .root_pem_file()
        .map_err(BenchError::io("cannot write the CA file"))?;
    eprintln!("starting Dovecot and Postfix…");
    let dovecot = Dovecot::start(&leaf, DovecotOptions::default()).map_err(BenchError::server(
        "Dovecot (Debian package `dovecot-imapd`)",
    ))?;
    let postfix = Postfix::start(&leaf, PostfixOptions::default())
        .map_err(BenchError::server("Postfix (Debian package `postfix`)"))?;
    let (smtp_ip, imap_ip) = (postfix.ip().to_string(), dovecot.ip().to_string());
    let smtp_port = postfix.port(PostfixPort::Smtp);
    let check = |kind: &str, host: &str, port: u16, tls: &str| {
        format!("kind = \"{kind}\"\nhost = \"{host}\"\nport = {port}\ntls = \"{tls}\"\n")
    };
    let args = |ip: &str, port: u16, extra: &[&str]| {
        let mut a = vec![
            "-H".to_owned(),
            ip.to_owned(),
            "-p".to_owned(),
            port.to_string(),
        ];
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let pairs = [
        MailPair {
            name: "smtp STARTTLS",
            keepup: check("smtp", "smtp.bench.test", smtp_port, "starttls"),
            plugin: "check_smtp",
            args: args(&smtp_ip, smtp_port, &["-S"]),
        },
        MailPair {
            name: "smtp plain",
            keepup: check("smtp", "smtp.bench.test", smtp_port, "none"),
            plugin: "check_smtp",
            args: args(&smtp_ip, smtp_port, &[]),
        },
        MailPair {
            name: "imap plain",
            keepup: check("imap", "imap.bench.test", dovecot.imap_port(), "none"),
            plugin: "check_imap",
            args: args(&imap_ip, dovecot.imap_port(), &[]),
        },
        MailPair {
            name: "imaps",
            keepup: check("imap", "imap.bench.test", dovecot.imaps_port(), "implicit"),
            plugin: "check_simap",
            args: args(&imap_ip, dovecot.imaps_port(), &[]),
        },
        MailPair {
            name: "pop3 plain",
            keepup: check("pop3", "imap.bench.test", dovecot.pop3_port(), "none"),
            plugin: "check_pop",
            args: args(&imap_ip, dovecot.pop3_port(), &[]),
        },
        MailPair {
            name: "pop3s",
            keepup: check("pop3", "imap.bench.test", dovecot.pop3s_port(), "implicit"),
            plugin: "check_spop",
            args: args(&imap_ip, dovecot.pop3s_port(), &[]),
        },
    ];
    let mut src = String::from("[[site]]\nid = \"bench\"\n");
    for (i, pair) in pairs.iter().enumerate() {
        let _ = write!(
            src,
            "[[site.check]]\nid = \"c{i}\"\n{}[site.check.certificate]\nca_file = \"{}\"\n",
            pair.keepup,
            ca_pem.path().display()
        );
    }
    let config = keepup_config::load_str(&src, Path::new("bench-mail.toml"))?;
    let probes: Vec<(keepup_config::ProbeSpec, Duration)> = config
        .checks()
        .map(crate::probe_of)
        .collect::<Result<_, _>>()?;
    let ctx = ProbeContext::builder()
        .system_roots(false)
        .resolve_override("smtp.bench.test", [std::net::IpAddr::V4(postfix.ip())])
        .resolve_override("imap.bench.test", [std::net::IpAddr::V4(dovecot.ip())])
        .build();
    let rt = runtime()?;
    let n = pairs.len();
    let (mut ours, mut wall, mut own) = (
        vec![Vec::new(); n],
        vec![Vec::new(); n],
        vec![Vec::new(); n],
    );
    let mut failures = vec![(0usize, 0usize); n];
    let mut phases = vec![String::new(); n];
    for round in 0..rounds {
        eprintln!("round {}/{rounds}…", round + 1);
        for (i, pair) in pairs.iter().enumerate() {
            rt.block_on(async {
                for _ in 0..runs {
                    let t = Instant::now();
                    let (probe, timeout) = &probes[i];
                    let o = keepup_probe::run(probe, *timeout, &ctx).await;
                    ours[i].push(t.elapsed().as_secs_f64() * 1000.0);
                    if let Some(p) = o.evidence.details.get("phases_ms") {
                        phases[i] = p.to_string();
                    }
                    if o.status != Status::Up {
                        if failures[i].0 == 0 {
                            eprintln!("keepup {}: {} {}", pair.name, o.status, o.message);
                        }
                        failures[i].0 += 1;
                    }
                }
            });
            let program = plugins.join(pair.plugin);
            for _ in 0..runs {
                let t = Instant::now();
                let out = Command::new(&program)
                    .args(&pair.args)
                    .output()
                    .map_err(BenchError::io(format!("cannot run {}", program.display())))?;
                wall[i].push(t.elapsed().as_secs_f64() * 1000.0);
                let stdout = String::from_utf8_lossy(&out.stdout);
                if let Some(secs) = perf_time(&stdout) {
                    own[i].push(secs * 1000.0);
                }
                if !out.status.success() {
                    if failures[i].1 == 0 {
                        eprintln!("{} {}: {}", pair.plugin, pair.name, stdout.trim());
                    }
                    failures[i].1 += 1;
                }
            }
        }
    }
    let mut report = String::new();
    let _ = writeln!(
        report,
        "mail checks, one at a time, {runs} runs x {rounds} rounds per side; Postfix {} / Dovecot {} on loopback",
        postfix.ip(),
        dovecot.ip()
    );
    let _ = writeln!(
        report,
        "{:<14} {:>12} {:>12} {:>30} {:>15} {:>18} {:>16} {:>18}",
        "pair",
        "keepup p50",
        "keepup p90",
        "plugin",
        "plugin p50",
        "plugin time= p50",
        "ratio (process)",
        "ratio (time=)"
    );
    for (i, pair) in pairs.iter().enumerate() {
        let (k50, k90, _) = percentiles(std::mem::take(&mut ours[i]));
        let (w50, _, _) = percentiles(std::mem::take(&mut wall[i]));
        let (s50, _, _) = percentiles(std::mem::take(&mut own[i]));
        let label = format!(
            "{} {}",
            pair.plugin,
            pair.args.get(4).map_or("", String::as_str)
        );
        let _ = writeln!(
            report,
            "{:<14} {:>10.3}ms {:>10.3}ms {:>30} {:>13.3}ms {:>16.3}ms {:>15.1}x {:>17.2}x",
            pair.name,
            k50,
            k90,
            label.trim(),
            w50,
            s50,
            w50 / k50,
            s50 / k50
        );
    }
    let _ = writeln!(
        report,
        "ratio = plugin median / keepup median (above 1: keepup is faster); failures keepup/plugin: {:?}",
        failures
    );
    for (pair, phases) in pairs.iter().zip(&phases) {
        let _ = writeln!(
            report,
            "keepup phases of the last {} check (ms): {phases}",
            pair.name
        );
    }
    drop((postfix, dovecot));
    report.truncate(report.trim_end().len());
    Ok(report)
}

/// The `time=1.234s` perfdata value of a plugin's output, in seconds.
fn perf_time(output: &str) -> Option<f64> {
    let (_, perf) = output.split_once('|')?;
    perf.split_whitespace().find_map(|item| {
        let value = item.strip_prefix("time=")?;
        let number: String = value
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        number.parse().ok()
    })
}
