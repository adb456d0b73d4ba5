//! `keepup backup ...`: a plan's jobs run by hand, in this process, the same
//! engine the daemon schedules. Progress bars (bytes, throughput, ETA) on a
//! terminal; `--quiet` and `--json` for scripts.

use crate::cli::{BackupCommand, BackupOutput};
use crate::cmd::load_config;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use keepup_backup::{self as backup, Progress, SnapshotRef};
use keepup_config::Config;
use keepup_config::backup::{BackupPlan, ReadData, parse_read_data};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// Runs one `keepup backup` subcommand.
pub fn run(cmd: BackupCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BackupCommand::Run {
            plan,
            target,
            config,
            output,
        } => with_plans(&config.config, Some(&plan), |config| {
            run_plan(config, &plan, target.as_deref(), &output)
        }),
        BackupCommand::Init {
            plan,
            target,
            config,
            output,
        } => with_plans(&config.config, Some(&plan), |config| {
            init(config, &plan, target.as_deref(), &output)
        }),
        BackupCommand::List {
            plan,
            target,
            config,
            output,
        } => with_plans(&config.config, plan.as_deref(), |config| {
            list(config, plan.as_deref(), target.as_deref(), &output)
        }),
        BackupCommand::Check {
            plan,
            target,
            read_data,
            config,
            output,
        } => with_plans(&config.config, plan.as_deref(), |config| {
            check(
                config,
                plan.as_deref(),
                target.as_deref(),
                read_data.as_deref(),
                &output,
            )
        }),
        BackupCommand::Test {
            plan,
            target,
            sample,
            config,
            output,
        } => with_plans(&config.config, plan.as_deref(), |config| {
            restore_test(config, plan.as_deref(), target.as_deref(), sample, &output)
        }),
        BackupCommand::Restore {
            plan,
            target,
            snapshot,
            to,
            file,
            into_db,
            config,
            output,
        } => with_plans(&config.config, Some(&plan), |config| match into_db {
            Some(url) => restore_into_db(
                config,
                &plan,
                target.as_deref(),
                &snapshot,
                file,
                &url,
                &output,
            ),
            None => restore(
                config,
                &plan,
                target.as_deref(),
                &snapshot,
                to,
                file,
                &output,
            ),
        }),
        BackupCommand::Forget {
            plan,
            target,
            config,
            output,
        } => with_plans(&config.config, plan.as_deref(), |config| {
            forget(config, plan.as_deref(), target.as_deref(), &output)
        }),
    }
}

/// Loads the configuration and checks that the named plan exists.
fn with_plans(
    path: &std::path::Path,
    plan: Option<&str>,
    f: impl FnOnce(&Config) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if let Some(id) = plan
        && !config.backups.iter().any(|p| p.id == id)
    {
        let known: Vec<&str> = config.backups.iter().map(|p| p.id.as_str()).collect();
        eprintln!(
            "keepup: no backup plan {id:?} in {} (plans: {})",
            path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
        return Ok(ExitCode::from(2));
    }
    f(&config)
}

fn plan<'a>(config: &'a Config, id: &str) -> &'a BackupPlan {
    // `with_plans` checked it exists.
    config
        .backups
        .iter()
        .find(|p| p.id == id)
        .unwrap_or(&config.backups[0])
}

fn plans<'a>(config: &'a Config, id: Option<&str>) -> Vec<&'a BackupPlan> {
    config
        .backups
        .iter()
        .filter(|p| id.is_none_or(|id| p.id == id))
        .collect()
}

/// The target ids of `plan`, or the one asked for (an unknown one is an
/// error naming the known ones).
fn targets(plan: &BackupPlan, only: Option<&str>) -> anyhow::Result<Vec<String>> {
    let all: Vec<String> = plan.targets.iter().map(|t| t.id.clone()).collect();
    match only {
        None => Ok(all),
        Some(t) if all.iter().any(|a| a == t) => Ok(vec![t.to_owned()]),
        Some(t) => anyhow::bail!(
            "plan {} has no target {t:?} (targets: {})",
            plan.id,
            all.join(", ")
        ),
    }
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn run_plan(
    config: &Config,
    id: &str,
    target: Option<&str>,
    output: &BackupOutput,
) -> anyhow::Result<ExitCode> {
    let plan = plan(config, id);
    targets(plan, target)?;
    let report = backup::run_plan(plan, target, bars(output));
    if output.json {
        print_json(&report)?;
    } else {
        if let Some(e) = &report.error {
            eprintln!("keepup: backup {}: {e}", plan.id);
        }
        for t in &report.targets {
            match (&t.snapshot, &t.error) {
                (Some(s), _) if !output.quiet => println!(
                    "ok   {:<12} snapshot {}  {} files ({} new, {} changed), {} added ({} stored), {:.1} s",
                    t.target,
                    &s[..s.len().min(8)],
                    t.files_total,
                    t.files_new,
                    t.files_changed,
                    bytes(t.bytes_added),
                    bytes(t.bytes_added_stored),
                    t.duration.as_secs_f64()
                ),
                (_, Some(e)) => eprintln!("FAIL {:<12} {e}", t.target),
                _ => {}
            }
            for s in &t.skipped {
                eprintln!("     {:<12} skipped: {s}", t.target);
            }
        }
        if !output.quiet {
            for t in &report.not_due {
                println!("skip {t:<12} not due (alternating targets)");
            }
        }
    }
    Ok(exit(report.ok()))
}

fn init(
    config: &Config,
    id: &str,
    target: Option<&str>,
    output: &BackupOutput,
) -> anyhow::Result<ExitCode> {
    let plan = plan(config, id);
    let mut ok = true;
    let mut results = Vec::new();
    for t in targets(plan, target)? {
        let r = backup::init(plan, &t);
        match &r {
            Ok(()) if !output.quiet && !output.json => println!("ok   {t:<12} repository created"),
            Err(e) if !output.json => eprintln!("FAIL {t:<12} {e}"),
            _ => {}
        }
        ok &= r.is_ok();
        results.push(serde_json::json!({"target": t, "error": r.err().map(|e| e.to_string())}));
    }
    if output.json {
        print_json(&results)?;
    }
    Ok(exit(ok))
}

fn list(
    config: &Config,
    id: Option<&str>,
    target: Option<&str>,
    output: &BackupOutput,
) -> anyhow::Result<ExitCode> {
    each_target(plans(config, id), target, output, |plan, t| {
        let snaps = backup::list(plan, t)?;
        if !output.json && !output.quiet {
            println!("{} on {t} ({} snapshots)", plan.id, snaps.len());
            for s in &snaps {
                println!(
                    "  {}  {}  {:<16} {:>8} files {:>10}  {}",
                    s.short_id,
                    s.time,
                    s.hostname,
                    s.files,
                    bytes(s.bytes),
                    s.paths.join(" ")
                );
            }
        }
        Ok((
            serde_json::json!({"plan": plan.id, "target": t, "snapshots": snaps}),
            true,
        ))
    })
}

fn check(
    config: &Config,
    id: Option<&str>,
    target: Option<&str>,
    read_data: Option<&str>,
    output: &BackupOutput,
) -> anyhow::Result<ExitCode> {
    let explicit = match read_data.map(parse_read_data).transpose() {
        Ok(r) => r,
        Err(e) => anyhow::bail!("--read-data: {e}"),
    };
    let now = jiff::Zoned::now();
    each_target(plans(config, id), target, output, |plan, t| {
        let read: ReadData = explicit
            .or_else(|| plan.verify.as_ref().map(|v| v.read_data))
            .unwrap_or(ReadData::None);
        let r = backup::check(plan, t, read, &now, bars(output))?;
        if !output.json {
            if r.errors.is_empty() {
                if !output.quiet {
                    println!("ok   {} on {t}: no errors ({})", plan.id, r.read);
                }
            } else {
                eprintln!(
                    "FAIL {} on {t}: {} error(s) ({})",
                    plan.id,
                    r.errors.len(),
                    r.read
                );
                for e in &r.errors {
                    eprintln!("     {e}");
                }
            }
            if !output.quiet {
                for w in &r.warnings {
                    println!("     warning: {w}");
                }
            }
        }
        Ok((serde_json::to_value(&r)?, r.errors.is_empty()))
    })
}

fn restore_test(
    config: &Config,
    id: Option<&str>,
    target: Option<&str>,
    sample: Option<u32>,
    output: &BackupOutput,
) -> anyhow::Result<ExitCode> {
    each_target(plans(config, id), target, output, |plan, t| {
        let sample = sample
            .or_else(|| plan.restore_test.as_ref().map(|r| r.sample_files))
            .unwrap_or(20);
        let files = backup::restore_test_files(plan, t, sample)?;
        let database = backup::dbtest::restore_test_database(plan, t);
        let mut outcomes = vec![files.outcome()];
        outcomes.extend(database.as_ref().map(|d| d.outcome()));
        let passed = outcomes
            .iter()
            .all(|o| o.status == keepup_model::Status::Up);
        if !output.json {
            for o in &outcomes {
                if o.status == keepup_model::Status::Up {
                    if !output.quiet {
                        println!("ok   {}", o.message);
                    }
                } else {
                    eprintln!("FAIL {}", o.message);
                }
                for f in &o.findings {
                    eprintln!("     {}", f.text);
                }
            }
            if !output.quiet {
                println!(
                    "     {} file(s), {} byte(s) compared with their recorded hashes, {} also with the unchanged source",
                    files.files_checked, files.bytes_checked, files.compared_with_source
                );
            }
        }
        Ok((
            serde_json::json!({"plan": plan.id, "target": t, "files": files, "database": database}),
            passed,
        ))
    })
}

/// Runs `step` on each chosen target of each plan. `step` prints its own
/// human output and returns its JSON entry and whether it passed; an error
/// is printed (or put in the JSON) here, and the other targets go on. The
/// exit code is 1 when any target failed.
fn each_target<'a>(
    plans: impl IntoIterator<Item = &'a BackupPlan>,
    target: Option<&str>,
    output: &BackupOutput,
    mut step: impl FnMut(&BackupPlan, &str) -> anyhow::Result<(serde_json::Value, bool)>,
) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    let mut all = Vec::new();
    for plan in plans {
        for t in targets(plan, target)? {
            match step(plan, &t) {
                Ok((entry, passed)) => {
                    ok &= passed;
                    all.push(entry);
                }
                Err(e) => {
                    ok = false;
                    if !output.json {
                        eprintln!("FAIL {} on {t}: {e}", plan.id);
                    }
                    all.push(
                        serde_json::json!({"plan": plan.id, "target": t, "error": e.to_string()}),
                    );
                }
            }
        }
    }
    if output.json {
        print_json(&all)?;
    }
    Ok(exit(ok))
}

#[allow(clippy::too_many_arguments)]
fn restore(
    config: &Config,
    id: &str,
    target: Option<&str>,
    snapshot: &str,
    to: Option<std::path::PathBuf>,
    file: Option<String>,
    output: &BackupOutput,
) -> anyhow::Result<ExitCode> {
    let plan = plan(config, id);
    let snapshot = if snapshot == "latest" {
        SnapshotRef::Latest
    } else {
        SnapshotRef::Id(snapshot.to_owned())
    };
    // Without --target, the first target that answers: the point of a
    // second copy is that the first may be gone.
    let mut errors = Vec::new();
    for t in targets(plan, target)? {
        let result = match (&to, &file) {
            (Some(dir), _) => backup::restore(
                plan,
                &t,
                &snapshot,
                backup::RestoreTo::Dir(dir.clone()),
                bars(output),
            ),
            (None, Some(path)) => {
                let mut stdout = std::io::stdout().lock();
                backup::restore(
                    plan,
                    &t,
                    &snapshot,
                    backup::RestoreTo::File {
                        path: path.clone(),
                        writer: &mut stdout,
                    },
                    // stdout carries the data: no bars on it, none needed.
                    Arc::new(backup::NoProgress),
                )
            }
            (None, None) => anyhow::bail!("give --to DIR or --file PATH"),
        };
        match result {
            Ok(r) => {
                if output.json && file.is_none() {
                    print_json(&serde_json::json!({"target": t, "restore": r}))?;
                } else if !output.quiet {
                    eprintln!(
                        "restored snapshot {} ({}) from {t}: {} files, {}",
                        r.snapshot.short_id,
                        r.snapshot.time,
                        r.files,
                        bytes(r.bytes)
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            Err(e) => {
                eprintln!("keepup: restore from {t} failed: {e}");
                errors.push(serde_json::json!({"target": t, "error": e.to_string()}));
                // A half-written single file on stdout cannot be retried.
                if file.is_some() {
                    break;
                }
            }
        }
    }
    if output.json && file.is_none() {
        print_json(&errors)?;
    }
    Ok(ExitCode::from(1))
}

/// `restore --into-db`: the plan's dump (or `--file`) loaded into a
/// database, from the first target that has it.
fn restore_into_db(
    config: &Config,
    id: &str,
    target: Option<&str>,
    snapshot: &str,
    file: Option<String>,
    url: &str,
    output: &BackupOutput,
) -> anyhow::Result<ExitCode> {
    let plan = plan(config, id);
    let dump = match file {
        Some(f) => f,
        None => match backup::dbtest::dump_paths(plan).as_slice() {
            [one] => one.clone(),
            [] => anyhow::bail!("plan {} stores no database dump; give --file", plan.id),
            many => anyhow::bail!(
                "plan {} stores several dumps ({}); choose one with --file",
                plan.id,
                many.join(", ")
            ),
        },
    };
    // The password comes from the environment, as the clients take it.
    let url = with_env_password(url)?;
    let snapshot = if snapshot == "latest" {
        SnapshotRef::Latest
    } else {
        SnapshotRef::Id(snapshot.to_owned())
    };
    for t in targets(plan, target)? {
        match backup::dbtest::restore_dump_into(plan, &t, &snapshot, &dump, &url) {
            Ok(r) => {
                if output.json {
                    print_json(&serde_json::json!({
                        "target": t, "dump": dump, "database": r.database,
                        "bytes": r.bytes, "seconds": r.duration.as_secs_f64(),
                    }))?;
                } else if !output.quiet {
                    println!(
                        "restored {dump} from {t} into database {} ({}, {:.1} s)",
                        r.database,
                        bytes(r.bytes),
                        r.duration.as_secs_f64()
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            Err(e) => eprintln!("keepup: restoring {dump} from {t} failed: {e}"),
        }
    }
    Ok(ExitCode::from(1))
}

/// `url` with the password from PGPASSWORD (postgres) or MYSQL_PWD (mysql)
/// added, if the URL has none: passwords stay off the command line.
fn with_env_password(url: &str) -> anyhow::Result<String> {
    let var = password_var(url);
    let login = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok();
    with_password(url, std::env::var(var).ok(), login)
}

/// The variable psql (PGPASSWORD) or mysql (MYSQL_PWD) reads a password
/// from.
fn password_var(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "PGPASSWORD"
    } else {
        "MYSQL_PWD"
    }
}

/// `url` with `password` (from the client's variable) added; the user
/// defaults to `login`, as psql and mysql would take it.
fn with_password(
    url: &str,
    password: Option<String>,
    login: Option<String>,
) -> anyhow::Result<String> {
    let var = password_var(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        anyhow::bail!("--into-db: not a URL: expected postgres://user@host:port/db or mysql://...");
    };
    let (userinfo, host) = match rest.split_once('@') {
        Some((userinfo, host)) => (userinfo.to_owned(), host),
        None => (String::new(), rest),
    };
    // A password on the command line is visible to every local user (ps).
    if userinfo.contains(':') {
        anyhow::bail!("--into-db: put the password in {var}, not in the URL");
    }
    let Some(password) = password else {
        return Ok(url.to_owned());
    };
    // The clients start with a clean environment, so the password travels
    // in the URL, which needs a user.
    let userinfo = match (userinfo.is_empty(), login) {
        (false, _) => userinfo,
        (true, Some(login)) if !login.is_empty() => login,
        (true, _) => anyhow::bail!(
            "--into-db: {var} is set but the URL names no user and the login name is unknown: write it as {scheme}://USER@{host}"
        ),
    };
    let escaped: String = password
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    Ok(format!("{scheme}://{userinfo}:{escaped}@{host}"))
}

fn forget(
    config: &Config,
    id: Option<&str>,
    target: Option<&str>,
    output: &BackupOutput,
) -> anyhow::Result<ExitCode> {
    let chosen = plans(config, id)
        .into_iter()
        .filter(|p| p.retention.is_some() || id.is_some());
    each_target(chosen, target, output, |plan, t| {
        let r = backup::forget_and_prune(plan, t)?;
        if !output.json && !output.quiet {
            println!(
                "ok   {} on {t}: kept {}, forgot {}, pruned {} packs ({})",
                plan.id,
                r.kept.len(),
                r.removed.len(),
                r.packs_removed,
                bytes(r.bytes_removed)
            );
        }
        Ok((
            serde_json::json!({"plan": plan.id, "target": t, "report": r}),
            true,
        ))
    })
}

/// Bytes for humans (binary units, as restic prints them).
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Progress bars on stderr, or nothing for `--quiet`/`--json` (and, by
/// indicatif, when stderr is not a terminal).
fn bars(output: &BackupOutput) -> Arc<dyn Progress> {
    // Without a terminal nobody sees bars, and rustic would walk the whole
    // source once more only to size them.
    use std::io::IsTerminal;
    if output.quiet || output.json || !std::io::stderr().is_terminal() {
        Arc::new(backup::NoProgress)
    } else {
        Arc::new(Bars::default())
    }
}

/// One bar at a time: the work in progress.
#[derive(Default)]
struct Bars {
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress for Bars {
    fn begin(&self, what: &str, total_bytes: Option<u64>) {
        let bar = match total_bytes {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr())
                .with_style(
                ProgressStyle::with_template(
                    "{msg:24} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{msg:24} {spinner} {bytes} {binary_bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(what.to_owned());
        if let Some(old) = self
            .bar
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(bar)
        {
            old.finish_and_clear();
        }
    }

    fn set_total(&self, total_bytes: u64) {
        if let Some(b) = &*self.bar.lock().unwrap_or_else(|p| p.into_inner()) {
            b.set_length(total_bytes);
        }
    }

    fn advance(&self, bytes: u64) {
        if let Some(b) = &*self.bar.lock().unwrap_or_else(|p| p.into_inner()) {
            b.inc(bytes);
        }
    }

    fn finish(&self) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_password;

    #[test]
    fn the_password_from_the_environment_travels_in_the_url() {
        let url = |u: &str, pw: Option<&str>, login: Option<&str>| {
            with_password(u, pw.map(str::to_owned), login.map(str::to_owned))
        };
        assert_eq!(
            url("postgres://shop@db:5432/x", Some("p@ss w"), Some("root")).unwrap(),
            "postgres://shop:p%40ss%20w@db:5432/x"
        );
        // No user in the URL: the login name, as psql would use.
        assert_eq!(
            url("postgres://db:5432/x", Some("pw"), Some("ops")).unwrap(),
            "postgres://ops:pw@db:5432/x"
        );
        assert!(url("mysql://db/x", Some("pw"), None).is_err());
        // Nothing to add.
        assert_eq!(url("mysql://db/x", None, None).unwrap(), "mysql://db/x");
        // Never on the command line.
        let err = url("postgres://shop:secret@db/x", Some("pw"), None).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
