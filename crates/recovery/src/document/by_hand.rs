//! The by-hand side of the document: for each step the commands a person
//! runs without keepup (restic with the target's repository string and
//! the variables restic needs, psql/pg_restore/mysql, ssh, rsync,
//! nsupdate), and a command per check that shows from outside whether it
//! is Up. Where a step's own code makes its command line (`ssh` of a
//! `command` step, `rsync` onto a host, the `nsupdate` lines), the same
//! function is called here, so the document cannot drift from the run.

use super::{Commands, StepDoc, channel_reach};
use crate::restore::rsync_argv;
use crate::steps::command::{argv, shell_line};
use crate::steps::dns::{KEY_FILE_PLACEHOLDER, switch_of};
use keepup_backup::dbrestore::ident;
use keepup_config::backup::{BackupSource, BackupTarget, DatabaseKind, DumpFormat, Location};
use keepup_config::recovery::{
    Environment, MaintenanceAction, RestoreDatabaseStep, RestoreFilesStep, Step, StepAction,
};
use keepup_config::{BackupPlan, Check, CheckSpec, Config, ProbeSpec, RecoveryPlan, SecretOrigin};
use keepup_config::{MailProtocol, MailTls};
use std::fmt::Write as _;
use std::path::Path;

/// Where a restore onto a host stages the files on this machine.
const STAGING: &str = "/var/tmp/keepup-dr-staging";

/// ssh gives up connecting after this long (as the steps' own ssh).
const SSH_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// `word` quoted for a POSIX shell.
pub(crate) fn quote(word: &str) -> String {
    shell_line(&[word.to_owned()])
}

/// What a step's by-hand commands need to know.
pub(super) struct StepContext<'a> {
    pub config: &'a Config,
    pub plan: &'a RecoveryPlan,
    /// The environment the run works on.
    pub environment: &'a Environment,
    /// Its name.
    pub environment_name: &'static str,
    /// keepup's configuration file, for `keepup ... -c`.
    pub config_path: &'a str,
}

/// The backup plans the plan's restore steps read, in the order the steps
/// name them.
pub(super) fn backup_plans_of<'c>(config: &'c Config, plan: &RecoveryPlan) -> Vec<&'c BackupPlan> {
    let mut out: Vec<&BackupPlan> = Vec::new();
    for step in plan.activate.iter().chain(&plan.return_steps) {
        let id = match &step.action {
            StepAction::RestoreFiles(r) => &r.backup,
            StepAction::RestoreDatabase(d) => &d.backup,
            _ => continue,
        };
        if let Some(b) = config.backups.iter().find(|b| &b.id == id)
            && !out.iter().any(|o| o.id == b.id)
        {
            out.push(b);
        }
    }
    out
}

/// How restic opens a target: lines to run first (variables), its global
/// options, and where each secret is kept.
pub(super) struct RepositoryAccess {
    /// Shell lines that set what restic reads from the environment.
    pub setup: Vec<String>,
    /// `-r REPO` and the other global options.
    pub options: Vec<String>,
    /// "what: where it is kept", one per secret.
    pub secrets: Vec<String>,
}

/// The shell lines that put a secret into the variable `var` without
/// writing it down: read from its file, or typed (not echoed).
fn secret_into(var: &str, what: &str, origin: &SecretOrigin) -> Vec<String> {
    match origin {
        SecretOrigin::File(path) => vec![format!(
            "export {var}=\"$(cat {})\"",
            quote(&path.display().to_string())
        )],
        other => vec![
            format!("# type the {what} (kept in {other}); it is not shown"),
            format!("read -rs {var} && export {var}"),
        ],
    }
}

pub(super) fn repository_access(t: &BackupTarget) -> RepositoryAccess {
    let mut setup = Vec::new();
    let mut options = Vec::new();
    let mut secrets = vec![format!("repository password: {}", t.password.origin())];
    let mut repo = t.repository.to_string();
    match &t.repository {
        Location::Local { .. } => {}
        Location::Sftp {
            user, host, port, ..
        } => {
            let mut ssh = vec!["ssh".to_owned()];
            ssh.extend(keepup_backup::backend::ssh_options(
                *port,
                t.access.ssh_identity_file.as_deref(),
                t.access.ssh_known_hosts_file.as_deref(),
                SSH_CONNECT_TIMEOUT,
            ));
            if let Some(u) = user {
                ssh.extend(["-l".into(), u.clone()]);
            }
            ssh.extend(t.access.ssh_args.iter().cloned());
            ssh.extend([host.clone(), "-s".into(), "sftp".into()]);
            options.extend(["-o".into(), format!("sftp.command={}", shell_line(&ssh))]);
            if let Some(id) = &t.access.ssh_identity_file {
                secrets.push(format!("ssh key: the file {}", id.display()));
            }
        }
        Location::Rest { user, .. } => {
            if let Some(p) = &t.access.rest_password {
                secrets.push(format!("REST password: {}", p.origin()));
                setup.extend(secret_into("REST_PASSWORD", "REST password", p.origin()));
                // restic takes the REST password in the URL only; the
                // shell puts it there, so it is not written down.
                if let Some(u) = user {
                    repo = repo.replacen(&format!("{u}@"), &format!("{u}:${{REST_PASSWORD}}@"), 1);
                }
            }
        }
        Location::S3 { .. } => {
            match (&t.access.s3_access_key_id, &t.access.s3_secret_access_key) {
                (Some(id), Some(key)) => {
                    secrets.push(format!("S3 access key id: {}", id.origin()));
                    secrets.push(format!("S3 secret access key: {}", key.origin()));
                    setup.extend(secret_into(
                        "AWS_ACCESS_KEY_ID",
                        "S3 access key id",
                        id.origin(),
                    ));
                    setup.extend(secret_into(
                        "AWS_SECRET_ACCESS_KEY",
                        "S3 secret access key",
                        key.origin(),
                    ));
                }
                _ => {
                    secrets.push(
                        "S3 keys: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of keepup's service environment".into(),
                    );
                    setup.push("# export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY as keepup's service has them".into());
                }
            }
            if let Some(token) = &t.access.s3_session_token {
                secrets.push(format!("S3 session token: {}", token.origin()));
                setup.extend(secret_into(
                    "AWS_SESSION_TOKEN",
                    "S3 session token",
                    token.origin(),
                ));
            }
            if let Some(region) = &t.access.s3_region {
                setup.push(format!("export AWS_DEFAULT_REGION={}", quote(region)));
            }
        }
    }
    if let Some(ca) = &t.access.ca_file {
        options.extend(["--cacert".into(), ca.display().to_string()]);
    }
    let mut all = vec!["-r".to_owned(), repo];
    match t.password.origin() {
        SecretOrigin::File(path) => {
            all.extend(["--password-file".into(), path.display().to_string()]);
        }
        other => setup.extend(secret_into(
            "RESTIC_PASSWORD",
            "repository password",
            &other.clone(),
        )),
    }
    all.extend(options);
    RepositoryAccess {
        setup,
        options: all,
        secrets,
    }
}

/// `restic GLOBAL...` as one shell line start, keeping `${REST_PASSWORD}`
/// expandable.
fn restic_line(access: &RepositoryAccess) -> String {
    let mut words = vec!["restic".to_owned()];
    for o in &access.options {
        if o.contains("${REST_PASSWORD}") {
            words.push(format!("\"{}\"", o.replace('"', "\\\"")));
        } else {
            words.push(quote(o));
        }
    }
    words.join(" ")
}

/// `latest --tag keepup:PLAN`, or the step's snapshot.
fn snapshot_args(plan: &BackupPlan, snapshot: Option<&str>) -> String {
    match snapshot {
        Some(id) => quote(id),
        None => format!("latest --tag {}", quote(&keepup_backup::plan_tag(plan))),
    }
}

fn target_caption(i: usize, t: &BackupTarget) -> String {
    if i == 0 {
        format!("From target {} ({}), the first choice", t.id, t.repository)
    } else {
        format!(
            "Or from target {} ({}), if the ones above cannot be read",
            t.id, t.repository
        )
    }
}

/// The commands and summary of one step.
pub(super) fn step(ctx: &StepContext<'_>, step: &Step) -> StepDoc {
    let mut doc = StepDoc {
        number: 0,
        name: step.name.clone(),
        kind: step.action.kind(),
        summary: String::new(),
        expected: None,
        notes: Vec::new(),
        commands: Vec::new(),
    };
    match &step.action {
        StepAction::RestoreFiles(r) => restore_files(ctx, r, &mut doc),
        StepAction::RestoreDatabase(d) => restore_database(ctx, d, &mut doc),
        StepAction::Command(c) => {
            let host = c.host.as_deref().and_then(|h| ctx.environment.host(h));
            doc.summary = match &c.host {
                Some(h) => format!(
                    "Runs a command on host {h} of the {} environment over ssh.",
                    ctx.environment_name
                ),
                None => "Runs a command on the machine keepup runs on.".into(),
            };
            doc.notes.push(format!(
                "It must end with exit code {} within {}.",
                c.expect_exit,
                humantime::format_duration(c.timeout)
            ));
            doc.commands.push(Commands {
                caption: "Run".into(),
                text: format!("{}\n", shell_line(&argv(c, host))),
            });
        }
        StepAction::Dns(d) => {
            let names = if ctx.environment.dns_names.is_empty() {
                d.names.clone()
            } else {
                ctx.environment.dns_names.clone()
            };
            doc.summary = format!(
                "Points {} at the {} environment ({}) in zone {} with a dynamic update (RFC 2136) signed with TSIG key {}, at the primary {}; then every authoritative server must serve it.",
                names.join(", "),
                ctx.environment_name,
                match &d.cname {
                    Some(c) => format!("a CNAME to {c}"),
                    None => ctx
                        .environment
                        .addresses
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                },
                d.zone,
                d.key,
                d.server
            );
            if let Some(t) = d.lower_ttl_first {
                doc.notes.push(format!(
                    "keepup first lowers the records' TTL to {t} s and waits out the old TTL; by hand, skip that unless there is time."
                ));
            }
            if let Some(key) = ctx.plan.tsig_key(&d.key) {
                doc.commands.push(Commands {
                    caption: format!(
                        "The key file {KEY_FILE_PLACEHOLDER} (chmod 600); the secret is kept in {}",
                        key.secret.origin()
                    ),
                    text: format!(
                        "key \"{}\" {{\n\talgorithm {};\n\tsecret \"PASTE-THE-SECRET-HERE\";\n}};\n",
                        key.name.trim_end_matches('.'),
                        key.algorithm.as_str()
                    ),
                });
            }
            match switch_of(d, &ctx.plan.tsig_keys, ctx.environment, &ctx.config.dns) {
                Ok(p) => {
                    doc.commands.push(Commands {
                        caption: format!(
                            "Save as update.txt, then run: nsupdate -k {KEY_FILE_PLACEHOLDER} update.txt"
                        ),
                        text: crate::dns::nsupdate_script(&p, KEY_FILE_PLACEHOLDER),
                    });
                    let mut check = String::new();
                    let _ = writeln!(check, "kdig +short NS {}", d.zone);
                    for name in &names {
                        for rtype in ["A", "AAAA", "CNAME"] {
                            let _ = writeln!(
                                check,
                                "kdig +norec +short @{} -p {} {name} {rtype}",
                                p.primary.ip(),
                                p.primary.port()
                            );
                        }
                    }
                    let _ = writeln!(
                        check,
                        "# and the same at each name server listed by the first line"
                    );
                    doc.commands.push(Commands {
                        caption: format!(
                            "Check: every authoritative server answers the new records (keepup waits up to {})",
                            humantime::format_duration(d.verify_timeout)
                        ),
                        text: check,
                    });
                }
                Err(e) => doc.notes.push(format!("No by-hand lines: {}", e.reason)),
            }
        }
        StepAction::Maintenance(m) => {
            let c = quote(ctx.config_path);
            match m.action {
                MaintenanceAction::Start(d) => {
                    doc.summary = format!(
                        "Starts a maintenance window on {} for {}: alerts are muted and the SLA report excludes it.",
                        m.target,
                        humantime::format_duration(d)
                    );
                    doc.commands.push(Commands {
                        caption: "With keepup".into(),
                        text: format!(
                            "keepup maintenance start {} --for {} --reason {} -c {c}\n",
                            quote(&m.target),
                            humantime::format_duration(d).to_string().replace(' ', ""),
                            quote(&format!("recovery plan {}", ctx.plan.id))
                        ),
                    });
                }
                MaintenanceAction::End => {
                    doc.summary = format!(
                        "Ends the maintenance windows this plan opened on {}.",
                        m.target
                    );
                    doc.commands.push(Commands {
                        caption: "With keepup: find the window's number, then end it".into(),
                        text: format!(
                            "keepup maintenance list -c {c}\nkeepup maintenance stop ID -c {c}\n"
                        ),
                    });
                }
            }
            doc.notes.push(
                "If keepup is down it sends no alert anyway: tell the people on call and the site's owner instead, and start the window once keepup is back so that the SLA report excludes the time.".into(),
            );
        }
        StepAction::Verify(v) => {
            let checks: Vec<&Check> = match ctx.config.sites.iter().find(|s| s.id == ctx.plan.site)
            {
                Some(site) => site
                    .checks
                    .iter()
                    .filter(|c| v.checks.is_empty() || v.checks.contains(&c.id))
                    .map(|c| c.as_ref())
                    .collect(),
                None => Vec::new(),
            };
            doc.summary = format!(
                "Runs {} every {} until all are Up, for at most {}; the first all-Up round of an activation is the measured RTO.",
                if v.checks.is_empty() {
                    format!("every check of site {}", ctx.plan.site)
                } else {
                    checks
                        .iter()
                        .map(|c| c.id.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                humantime::format_duration(v.interval),
                humantime::format_duration(v.deadline)
            );
            let mut text = String::new();
            for c in checks {
                let _ = writeln!(text, "# {}", c.id);
                match check_line(c) {
                    Some(l) => {
                        let _ = writeln!(text, "{l}");
                    }
                    None => {
                        let _ = writeln!(
                            text,
                            "keepup check --check {} -c {}",
                            quote(c.id.as_str()),
                            quote(ctx.config_path)
                        );
                    }
                }
            }
            if !text.is_empty() {
                doc.commands.push(Commands {
                    caption: "Each must answer as expected".into(),
                    text,
                });
            }
        }
        StepAction::Notify(n) => {
            doc.summary = format!(
                "Sends \"{}\" with the run's figures (RTO, RPO) through the alerting channels: the ticket.",
                n.message
            );
            let reach: Vec<String> = n
                .channels
                .iter()
                .map(|id| match ctx.config.channel(id) {
                    Some(ch) => channel_reach(ch),
                    None => id.clone(),
                })
                .collect();
            doc.notes.push(format!("Through: {}.", reach.join("; ")));
            doc.notes.push(format!(
                "By hand: send \"{}\" to these, with the time of activation, the time of the restored backup and how long the recovery took.",
                n.message
            ));
        }
        StepAction::Confirm(c) => {
            doc.summary = format!("A person must say go: \"{}\"", c.prompt);
            if let Some(who) = &ctx.plan.decides {
                doc.notes.push(format!("Who says go: {who}."));
            }
            doc.notes.push(
                "keepup asks on its terminal (`--yes` answers for automation); by hand, get the go before the next step."
                    .into(),
            );
        }
    }
    doc
}

fn restore_files(ctx: &StepContext<'_>, r: &RestoreFilesStep, doc: &mut StepDoc) {
    let Some(backup) = ctx.config.backups.iter().find(|b| b.id == r.backup) else {
        return;
    };
    let host = r.host.as_deref().and_then(|h| ctx.environment.host(h));
    let paths: Vec<String> = r.paths.iter().map(|p| p.display().to_string()).collect();
    doc.summary = format!(
        "Restores {} of backup plan {}'s {} snapshot into {}{}, each path at {}/PATH, with its recorded permissions{}.",
        if paths.is_empty() {
            "everything".to_string()
        } else {
            paths.join(", ")
        },
        backup.id,
        r.snapshot.as_deref().unwrap_or("latest"),
        r.to.display(),
        match &r.host {
            Some(h) => format!(" on host {h} (through a staging copy here and rsync over ssh)"),
            None => String::new(),
        },
        r.to.display().to_string().trim_end_matches('/'),
        match &r.owner {
            Some(o) => format!(", owned by {o}"),
            None => String::new(),
        }
    );
    doc.notes.push(format!(
        "`restic snapshots --tag {}` (with the options below) lists the snapshots and their times: the chosen one's age is the data lost (RPO).",
        keepup_backup::plan_tag(backup)
    ));
    let into = if host.is_some() {
        STAGING.to_owned()
    } else {
        r.to.display().to_string()
    };
    for (i, t) in backup.targets.iter().enumerate() {
        let access = repository_access(t);
        let mut text = String::new();
        for l in &access.setup {
            let _ = writeln!(text, "{l}");
        }
        if host.is_some() {
            let _ = writeln!(text, "mkdir -p {}", quote(STAGING));
        }
        let mut line = format!(
            "{} restore {} --target {}",
            restic_line(&access),
            snapshot_args(backup, r.snapshot.as_deref()),
            quote(&into)
        );
        for p in &paths {
            let _ = write!(line, " --include {}", quote(p));
        }
        let _ = writeln!(text, "{line}");
        match host {
            Some(h) => {
                let _ = writeln!(
                    text,
                    "{}",
                    shell_line(&rsync_argv(
                        h,
                        Path::new(STAGING),
                        &paths,
                        &r.to.display().to_string(),
                        r.owner.as_deref()
                    ))
                );
                let _ = writeln!(text, "rm -rf {}", quote(STAGING));
            }
            None => {
                if let Some(owner) = &r.owner {
                    let mut chown = vec![
                        "chown".to_owned(),
                        "-R".into(),
                        "--no-dereference".into(),
                        "--".into(),
                        owner.clone(),
                    ];
                    if paths.is_empty() {
                        chown.push(r.to.display().to_string());
                    } else {
                        chown.extend(
                            paths.iter().map(|p| {
                                r.to.join(p.trim_start_matches('/')).display().to_string()
                            }),
                        );
                    }
                    let _ = writeln!(text, "{}", shell_line(&chown));
                }
            }
        }
        doc.commands.push(Commands {
            caption: target_caption(i, t),
            text,
        });
    }
}

fn restore_database(ctx: &StepContext<'_>, d: &RestoreDatabaseStep, doc: &mut StepDoc) {
    let Some(backup) = ctx.config.backups.iter().find(|b| b.id == d.backup) else {
        return;
    };
    let format = backup
        .sources
        .iter()
        .find_map(|s| match s {
            BackupSource::Database(src) if src.filename == d.dump => Some(src.format),
            _ => None,
        })
        .unwrap_or(DumpFormat::Plain);
    doc.summary = format!(
        "Imports the dump {} of backup plan {} into the {} database {} at {}:{} (user {}): drops it, creates it empty, streams the dump in, then checks that `{}` returns rows.",
        d.dump,
        backup.id,
        d.kind.as_str(),
        d.database,
        d.db_host,
        d.db_port,
        d.db_user,
        d.check_query
    );
    if let Some(p) = &d.password {
        doc.notes
            .push(format!("The database password is kept in {}.", p.origin()));
    }
    let in_snapshot = format!("/{}/{}", backup.id, d.dump);
    let db = &d.database;
    // psql's and pg_restore's connection options.
    let pg = |program: &str| -> Vec<String> {
        vec![
            program.into(),
            "-h".into(),
            d.db_host.clone(),
            "-p".into(),
            d.db_port.to_string(),
            "-U".into(),
            d.db_user.clone(),
        ]
    };
    let (pw_var, client): (&str, Vec<String>) = match d.kind {
        DatabaseKind::Postgres => {
            let mut c = pg("psql");
            c.extend(["-X".into(), "-q".into(), "--set=ON_ERROR_STOP=1".into()]);
            ("PGPASSWORD", c)
        }
        DatabaseKind::Mysql => {
            let mut c = vec!["mysql".to_owned()];
            if d.db_host.starts_with('/') {
                c.push(format!("--socket={}", d.db_host));
            } else {
                c.extend([
                    "-h".into(),
                    d.db_host.clone(),
                    "-P".into(),
                    d.db_port.to_string(),
                ]);
            }
            c.extend(["-u".into(), d.db_user.clone(), "--batch".into()]);
            ("MYSQL_PWD", c)
        }
    };
    let sql = |database: Option<&str>, statement: &str| -> String {
        let mut words = client.clone();
        match d.kind {
            DatabaseKind::Postgres => {
                words.push(format!("--dbname={}", database.unwrap_or("postgres")));
                words.extend(["--command".into(), statement.to_owned()]);
            }
            DatabaseKind::Mysql => {
                if let Some(db) = database {
                    words.push(format!("--database={db}"));
                }
                words.extend(["--execute".into(), statement.to_owned()]);
            }
        }
        shell_line(&words)
    };
    let import = match (d.kind, format) {
        (DatabaseKind::Postgres, DumpFormat::Custom) => {
            let mut w = pg("pg_restore");
            w.extend(["--exit-on-error".into(), format!("--dbname={db}")]);
            shell_line(&w)
        }
        (DatabaseKind::Postgres, DumpFormat::Plain) => {
            let mut w = client.clone();
            w.push(format!("--dbname={db}"));
            shell_line(&w)
        }
        (DatabaseKind::Mysql, _) => {
            // As the step imports: statements after a `USE` of another
            // database are skipped, never run there.
            let mut w = client.clone();
            w.extend(["--one-database".into(), db.clone()]);
            shell_line(&w)
        }
    };
    let force = match d.kind {
        DatabaseKind::Postgres => " WITH (FORCE)",
        DatabaseKind::Mysql => "",
    };
    for (i, t) in backup.targets.iter().enumerate() {
        let access = repository_access(t);
        let mut text = String::new();
        for l in &access.setup {
            let _ = writeln!(text, "{l}");
        }
        if let Some(p) = &d.password {
            for l in secret_into(pw_var, "database password", p.origin()) {
                let _ = writeln!(text, "{l}");
            }
        }
        let _ = writeln!(
            text,
            "{}",
            sql(
                None,
                &format!("DROP DATABASE IF EXISTS {}{force}", ident(d.kind, db))
            )
        );
        let _ = writeln!(
            text,
            "{}",
            sql(None, &format!("CREATE DATABASE {}", ident(d.kind, db)))
        );
        let _ = writeln!(
            text,
            "{} dump {} {} | {import}",
            restic_line(&access),
            snapshot_args(backup, None),
            quote(&in_snapshot)
        );
        let _ = writeln!(
            text,
            "{}   # must print rows",
            sql(Some(db), &d.check_query)
        );
        if let Some(q) = &ctx.plan.rpo_query {
            let _ = writeln!(text, "{}   # the newest restored row", sql(Some(db), q));
        }
        doc.commands.push(Commands {
            caption: target_caption(i, t),
            text,
        });
    }
}

/// `host:port` for openssl and the like (IPv6 in brackets).
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A command that shows from outside whether `check` is Up, for the kinds
/// a standard tool can test; `None`: `keepup check` is the way.
pub(super) fn check_line(check: &Check) -> Option<String> {
    let secs = check.timeout.as_secs().max(1);
    let CheckSpec::Probe(spec) = &check.spec else {
        return None;
    };
    Some(match spec {
        ProbeSpec::Http(h) => {
            let mut w: Vec<String> = vec![
                "curl".into(),
                "-sS".into(),
                "-o".into(),
                "/dev/null".into(),
                "-w".into(),
                "%{http_code} %{time_total}s\\n".into(),
                "--max-time".into(),
                secs.to_string(),
            ];
            if h.method.as_str() != "GET" {
                w.extend(["-X".into(), h.method.to_string()]);
            }
            if let Some(auth) = &h.basic_auth {
                w.extend(["-u".into(), auth.username.clone()]);
            }
            w.push(h.url.to_string());
            shell_line(&w)
        }
        ProbeSpec::Tcp(t) => shell_line(&[
            "nc".into(),
            "-vz".into(),
            "-w".into(),
            secs.to_string(),
            t.host.clone(),
            t.port.to_string(),
        ]),
        ProbeSpec::Tls(t) => format!(
            "openssl s_client -connect {} -servername {} </dev/null 2>/dev/null | openssl x509 -noout -subject -enddate",
            quote(&host_port(&t.host, t.port)),
            quote(&t.host)
        ),
        ProbeSpec::Dns(d) => format!(
            "kdig +short {} {}",
            quote(&d.expectation.name),
            d.expectation.kind.as_str()
        ),
        ProbeSpec::Delegation(d) => format!("kdig +short NS {}", quote(&d.zone)),
        ProbeSpec::Ping(p) => format!("ping -c 3 {}", quote(&p.host)),
        ProbeSpec::Mail(m) => {
            let proto = match m.protocol {
                MailProtocol::Smtp => "smtp",
                MailProtocol::Imap => "imap",
                MailProtocol::Pop3 => "pop3",
                // openssl s_client -starttls ftp sends AUTH TLS.
                MailProtocol::Ftp => "ftp",
            };
            let at = quote(&host_port(&m.host, m.port));
            match m.tls {
                MailTls::StartTls => {
                    format!("openssl s_client -starttls {proto} -connect {at} -crlf </dev/null")
                }
                MailTls::Implicit => format!("openssl s_client -connect {at} -crlf </dev/null"),
                MailTls::None => format!("nc -w {secs} {} {}", quote(&m.host), m.port),
            }
        }
        _ => return None,
    })
}
