//! One module per subcommand; [`dispatch`] picks one.

mod actions;
mod agent;
mod audit;
mod backup;
mod bench;
mod check;
mod check_db;
mod codes;
mod daemon;
mod demo;
mod discover;
mod dr;
mod incidents;
mod live;
mod maintenance;
mod notifications;
mod reload;
mod report;
mod screen;
mod sla;
mod status;
mod tokens;
mod users;
mod validate;

use crate::cli::{
    ActionsCommand, Cli, Command, DrCommand, IncidentCommand, MaintenanceCommand, NotifyCommand,
};
use anyhow::Context;
use clap::CommandFactory;
use std::process::ExitCode;

/// Runs the chosen subcommand and returns the process exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run { config } => daemon::run(&config.config),
        Command::Check {
            target,
            check_id,
            config,
            timeout,
            json,
        } => check::run(
            target.as_deref(),
            check_id.as_deref(),
            &config.config,
            timeout,
            json,
        ),
        Command::Validate { config } => validate::run(&config.config),
        Command::Codes {
            code,
            json,
            markdown,
        } => codes::run(code.as_deref(), json, markdown),
        Command::Status {
            config,
            json,
            watch,
            interval,
        } => status::run(&config.config, json, watch.then_some(interval)),
        Command::Sla {
            config,
            contract,
            site,
            month,
            from,
            to,
            json,
            csv,
            explain,
        } => {
            let period = match (month, from, to) {
                (Some(m), _, _) => sla::PeriodArg::Month(m),
                (None, Some(from), Some(to)) => sla::PeriodArg::Range(from, to),
                _ => sla::PeriodArg::Current,
            };
            let format = if json {
                sla::Format::Json
            } else if csv {
                sla::Format::Csv
            } else {
                sla::Format::Table
            };
            sla::run(
                &config.config,
                contract.as_deref(),
                site.as_deref(),
                &period,
                format,
                explain,
            )
        }
        Command::Report {
            config,
            contract,
            month,
            out,
            from_store,
            list,
        } => report::run(
            &config.config,
            &report::ReportArgs {
                contract: contract.as_deref(),
                month: month.as_deref(),
                out: &out,
                from_store,
                list,
            },
        ),
        Command::Reload { config } => reload::run(&config.config),
        Command::Incidents {
            config,
            open,
            limit,
            json,
            search,
        } => incidents::list(&config.config, open, limit, json, search),
        Command::Resolve {
            incident,
            config,
            note,
            by,
        } => incidents::resolve(&config.config, incident, &note, by),
        Command::Notifications {
            config,
            limit,
            json,
        } => notifications::list(&config.config, limit, json),
        Command::Notify(NotifyCommand::Test { channel, config }) => {
            notifications::test(&config.config, &channel)
        }
        Command::Backup(b) => backup::run(b),
        Command::Maintenance(m) => match m {
            MaintenanceCommand::Start {
                target,
                tag,
                duration,
                reason,
                config,
            } => {
                let target = match tag {
                    Some(tag) => keepup_model::MaintenanceScope::Tag(tag).to_string(),
                    None => target.unwrap_or_default(),
                };
                maintenance::start(&config.config, &target, duration, &reason)
            }
            MaintenanceCommand::Stop { id, config } => maintenance::stop(&config.config, id),
            MaintenanceCommand::List { config } => maintenance::list(&config.config),
        },
        Command::Dr(cmd) => match cmd {
            DrCommand::Plan {
                plan,
                back,
                drill,
                config,
            } => dr::plan(&config.config, &plan, back, drill),
            DrCommand::Activate { plan, yes, config } => dr::start(
                &config.config,
                &plan,
                keepup_store::DrRunKind::Activate,
                yes,
            ),
            DrCommand::Return { plan, yes, config } => {
                dr::start(&config.config, &plan, keepup_store::DrRunKind::Return, yes)
            }
            DrCommand::Drill { plan, yes, config } => {
                dr::start(&config.config, &plan, keepup_store::DrRunKind::Drill, yes)
            }
            DrCommand::Resume { run, yes, config } => dr::resume(&config.config, run, yes),
            DrCommand::Status { run, config } => dr::status(&config.config, run),
            DrCommand::Abort { run, config } => dr::abort(&config.config, run),
            DrCommand::Document { plan, out, config } => {
                dr::document(&config.config, plan.as_deref(), out.as_deref())
            }
        },
        Command::Ack {
            incident,
            config,
            by,
        } => incidents::ack(&config.config, incident, by),
        Command::Incident(IncidentCommand::Update {
            incident,
            status,
            text,
            by,
            config,
        }) => incidents::update(&config.config, incident, &status, &text, by),
        Command::Demo {
            dir,
            listen,
            run_for,
            lose_production_after,
            no_faults,
            fault,
            every,
        } => demo::run(
            dir,
            listen,
            (
                run_for,
                lose_production_after,
                demo::fault_plan(no_faults, fault),
            ),
            every,
            (&cli.log_format, cli.verbose),
        ),
        Command::Agent(args) => agent::run(*args),
        Command::Bench(b) => bench::run(b),
        Command::User(u) => users::run(u),
        Command::Token(t) => tokens::run(t),
        Command::Audit {
            config,
            since,
            json,
        } => audit::run(&config.config, since, json),
        Command::Actions {
            command: None,
            config,
            since,
            json,
        } => actions::list(&config.config, since, json),
        Command::Actions {
            command: Some(command),
            ..
        } => match command {
            ActionsCommand::Run {
                name,
                dry_run,
                config,
            } => actions::run(&config.config, &name, dry_run),
            ActionsCommand::Confirm { run, no, config } => {
                actions::confirm(&config.config, run, no)
            }
        },
        Command::Discover {
            domain,
            output,
            force,
            root_hints,
            dns_port,
            dns_only,
        } => discover::run(
            keepup_probe::discover::Options {
                domain,
                root_hints,
                dns_port,
                dns_only,
            },
            output,
            force,
        ),
        Command::DemoWorker {
            mode,
            dir,
            demo_pid,
        } => demo::worker(mode, &dir, demo_pid),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "keepup",
                &mut crate::output::Stdout,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => {
            // `help` is clap's, not a command with a page of its own
            // (generate_to leaves it out the same way).
            let command = Cli::command().disable_help_subcommand(true);
            match dir {
                Some(dir) => clap_mangen::generate_to(command, &dir)
                    .with_context(|| format!("cannot write manual pages to {}", dir.display()))?,
                None => clap_mangen::Man::new(command).render(&mut crate::output::Stdout)?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A multi-threaded runtime for the commands that do network work.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Loads the configuration, printing every problem to stderr on failure.
pub(crate) fn load_config(path: &std::path::Path) -> Result<keepup_config::Config, ExitCode> {
    if matches!(std::fs::metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
        eprint!("{}", no_config_advice(path, crate::cli::config_source()));
        return Err(ExitCode::from(1));
    }
    let loaded = keepup_config::load(path);
    // Advice that does not stop keepup (e.g. a backup without an off-site
    // copy), shown by every command that reads the configuration.
    if let Ok(config) = &loaded {
        for w in &config.warnings {
            eprintln!("warning: {w}");
        }
    }
    loaded.map_err(|problems| {
        for p in &problems.0 {
            eprintln!("{p}");
        }
        eprintln!(
            "keepup: {} problem(s) in {}",
            problems.0.len(),
            path.display()
        );
        ExitCode::from(1)
    })
}

/// What a first run without a configuration file is told: where keepup
/// looked, which of `-c`, `KEEPUP_CONFIG` and ./keepup.toml applied, and
/// how to get a file.
fn no_config_advice(path: &std::path::Path, source: crate::cli::ConfigSource) -> String {
    use crate::cli::ConfigSource;
    let shown = path.display();
    let located = match std::env::current_dir() {
        Ok(cwd) if path.is_relative() => format!("{shown} (in {})", cwd.display()),
        _ => shown.to_string(),
    };
    let which = match source {
        ConfigSource::Flag => format!("-c {shown} was given"),
        ConfigSource::Env => format!("-c was not given, and KEEPUP_CONFIG is {shown}"),
        ConfigSource::Default => "neither -c nor KEEPUP_CONFIG was given, so ./keepup.toml".into(),
    };
    format!(
        "keepup: there is no configuration file at {located}\n\
         keepup reads the file given by -c/--config, else by KEEPUP_CONFIG, else ./keepup.toml; \
         here {which}.\n\
         To start: `keepup discover shop.example -o {shown}` writes a configuration for your shop \
         (checks found from its DNS, web and mail servers), or `keepup demo` shows keepup \
         watching a demo shop on this machine.\n"
    )
}
