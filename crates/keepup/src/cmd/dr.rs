//! `keepup dr plan|activate|return|drill|resume|status|abort|document`: wiring of
//! `keepup_recovery`'s engine to the command line (progress on stderr,
//! exit codes); the engine and the journal do the work.

use keepup_config::Config;
use keepup_config::recovery::Step;
use keepup_model::{Clock as _, SystemClock};
use keepup_recovery::{Confirmation, EngineError, Observer, RealClock, RunReport, Runner};
use keepup_store::{DrRunKind, DrRunState, Store};
use std::path::Path;
use std::process::ExitCode;

/// Prints each step as it starts and ends.
struct Progress;

impl Observer for Progress {
    fn started(&self, index: usize, step: &Step) {
        eprintln!("[{}] {} ({}) ...", index + 1, step.name, step.action.kind());
    }
    fn ended(&self, index: usize, step: &Step, ok: bool, text: &str) {
        eprintln!(
            "[{}] {}: {}",
            index + 1,
            step.name,
            if ok { "done" } else { "FAILED" }
        );
        for line in text.lines().take(20) {
            eprintln!("      {line}");
        }
    }
    fn skipped(&self, index: usize, step: &Step) {
        eprintln!("[{}] {}: done earlier, skipped", index + 1, step.name);
    }
    fn asking(&self, index: usize, prompt: &str, link: Option<&str>) {
        eprintln!(
            "[{}] {prompt} Waiting for an answer on the dashboard (Disaster recovery page){}",
            index + 1,
            link.map(|l| format!(", or at {l}")).unwrap_or_default()
        );
    }
    fn cleaned(&self, name: &str, ok: bool, text: &str) {
        eprintln!("[-] {name}: {}", if ok { "done" } else { "FAILED" });
        for line in text.lines().take(20) {
            eprintln!("      {line}");
        }
    }
}

fn plan_of<'c>(config: &'c Config, id: &str) -> Option<&'c keepup_config::RecoveryPlan> {
    let plan = config.recovery_plan(id);
    if plan.is_none() {
        let ids: Vec<&str> = config.recovery.iter().map(|p| p.id.as_str()).collect();
        eprintln!(
            "keepup: no recovery plan {id:?} (plans: {})",
            if ids.is_empty() {
                "none; add [[recovery]] to the configuration".to_string()
            } else {
                ids.join(", ")
            }
        );
    }
    plan
}

/// The store of an existing journal (a run to resume or abort is in it).
fn open_store(config: &Config) -> anyhow::Result<Store> {
    if !config.store.path.exists() {
        anyhow::bail!(
            "no store at {}: no recovery run was ever started with this configuration",
            config.store.path.display()
        );
    }
    Ok(Store::open(&config.store.path)?)
}

/// `keepup dr plan PLAN [--return | --drill]`
pub fn plan(path: &Path, id: &str, back: bool, drill: bool) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let Some(plan) = plan_of(&config, id) else {
        return Ok(ExitCode::from(1));
    };
    let kind = if back {
        DrRunKind::Return
    } else if drill {
        DrRunKind::Drill
    } else {
        DrRunKind::Activate
    };
    match keepup_recovery::describe(&config, plan, kind) {
        Ok(text) => {
            print!("{text}");
            println!("Dry run: nothing was changed.");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("keepup: plan {id}: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn finish(result: Result<RunReport, EngineError>) -> anyhow::Result<ExitCode> {
    match result {
        Ok(report) if report.state == DrRunState::Completed => {
            println!("run {}: completed: {}", report.run, report.message);
            Ok(ExitCode::SUCCESS)
        }
        Ok(report) => {
            eprintln!("run {}: {}", report.run, report.message);
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("keepup: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `keepup dr activate|return|drill PLAN [--yes]`
pub fn start(path: &Path, id: &str, kind: DrRunKind, yes: bool) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let Some(plan) = plan_of(&config, id) else {
        return Ok(ExitCode::from(1));
    };
    if kind == DrRunKind::Drill && plan.drill.is_none() {
        eprintln!(
            "keepup: plan {id} declares no [recovery.drill] environment: a drill needs one of its own (addresses, dns_names, files_root, hosts), apart from production and the standby"
        );
        return Ok(ExitCode::from(1));
    }
    // A drill asks only here: its confirm steps pass without asking, so
    // cron runs it with --yes.
    let confirm = Confirmation::from_cli(yes);
    let steps = match kind {
        DrRunKind::Return => plan.return_steps.len(),
        _ => plan.activate.len(),
    };
    let (what, shown_by) = match kind {
        DrRunKind::Return => ("Return to production with", ""),
        DrRunKind::Activate => ("Activate the standby with", ""),
        DrRunKind::Drill => ("Drill (then clean up)", " --drill"),
    };
    if let Err(reason) = confirm.gate(&format!(
        "{what} plan {} ({steps} steps; `keepup dr plan {id}{shown_by}` shows them)?",
        plan.id
    )) {
        eprintln!("keepup: {reason}");
        return Ok(ExitCode::from(1));
    }
    let store = Store::open(&config.store.path)?;
    let who = super::users::cli_actor();
    let runner = Runner {
        config: &config,
        store: &store,
        clock: &RealClock,
        confirm: &confirm,
        observer: &Progress,
        who: &who,
    };
    finish(keepup_recovery::start(&runner, plan, kind))
}

/// `keepup dr resume RUN [--yes]`
pub fn resume(path: &Path, run: i64, yes: bool) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let store = open_store(&config)?;
    let confirm = Confirmation::from_cli(yes);
    let who = super::users::cli_actor();
    let runner = Runner {
        config: &config,
        store: &store,
        clock: &RealClock,
        confirm: &confirm,
        observer: &Progress,
        who: &who,
    };
    finish(keepup_recovery::resume(&runner, run))
}

/// `keepup dr status [RUN]`
pub fn status(path: &Path, run: Option<i64>) -> anyhow::Result<ExitCode> {
    let store = match super::incidents::open_store(path)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let now = SystemClock.now_ms();
    match run {
        None => {
            let runs = store.dr_runs(None, 20)?;
            if runs.is_empty() {
                println!("no recovery runs yet");
            } else {
                print!(
                    "{}",
                    super::status::render(&keepup_recovery::engine::run_rows(&runs, now))
                );
            }
        }
        Some(id) => match store.dr_run(id)? {
            Some(r) => print!(
                "{}",
                keepup_recovery::engine::render_status(&store, &r, now)?
            ),
            None => {
                eprintln!("keepup: no recovery run {id}; `keepup dr status` lists them");
                return Ok(ExitCode::from(1));
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}

/// `keepup dr abort RUN`
pub fn abort(path: &Path, run: i64) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let store = open_store(&config)?;
    let who = super::users::cli_actor();
    match keepup_recovery::abort(&config, &store, run, SystemClock.now_ms(), &who) {
        Ok(()) => {
            println!(
                "run {run} aborted; the plan's lock is released (finished steps are not undone)"
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("keepup: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `keepup dr document [PLAN] [--out DIR]`
pub fn document(path: &Path, id: Option<&str>, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let plans: Vec<&keepup_config::RecoveryPlan> = match id {
        Some(id) => match plan_of(&config, id) {
            Some(p) => vec![p],
            None => return Ok(ExitCode::from(1)),
        },
        None if config.recovery.is_empty() => {
            eprintln!("keepup: the configuration has no recovery plan; add [[recovery]]");
            return Ok(ExitCode::from(1));
        }
        None => config.recovery.iter().collect(),
    };
    // The journal gives durations and the last drill; without a store the
    // document is still written, without figures.
    let store = if config.store.path.exists() {
        Some(Store::open(&config.store.path)?)
    } else {
        None
    };
    let now = SystemClock.now_ms();
    let mut failed = false;
    for plan in plans {
        let Some(dir) = out.or(plan.document_dir.as_deref()) else {
            eprintln!(
                "keepup: plan {}: give --out DIR, or document_dir in the plan",
                plan.id
            );
            failed = true;
            continue;
        };
        match keepup_recovery::document::build(&config, plan, store.as_ref(), now)
            .and_then(|doc| keepup_recovery::document::write(dir, &doc))
        {
            Ok(w) => println!("{}\n{}", w.html.display(), w.markdown.display()),
            Err(e) => {
                eprintln!("keepup: plan {}: {e}", plan.id);
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
