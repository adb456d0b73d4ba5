//! The Recovery Plan document: what a person who has never seen the system
//! needs to restart a site on its standby at night, generated from a
//! `[[recovery]]` plan, the rest of the configuration (backups, routing,
//! checks) and the journal (durations of the last runs, the last drill's
//! figures).
//!
//! One model ([`Document`]: sections of paragraphs, lists, tables,
//! commands and steps) is built once and rendered twice, as print-friendly
//! HTML ([`render_html`]) and as Markdown ([`render_markdown`]). Every step
//! carries the commands that do it by hand without keepup: restic, psql,
//! mysql, ssh and nsupdate lines. Secrets are never in it: the document
//! says where each one is kept (an environment variable's name, a file's
//! path), never its value.
//!
//! [`write`] puts `<plan>.html` and `<plan>.md` into a directory, each
//! through a temporary file renamed over the old one, so that a reader
//! never sees half a document.

mod by_hand;
mod html;
mod markdown;

pub use html::render_html;
pub use markdown::render_markdown;

use crate::engine::{human_ms, steps_of};
use keepup_config::channels::{Channel, ChannelSpec};
use keepup_config::recovery::{Environment, Step};
use keepup_config::routing::Target as RoutingTarget;
use keepup_config::{Config, RecoveryPlan, SecretOrigin};
use keepup_model::{Timestamp, format_rfc3339};
use keepup_store::{DrRun, DrRunKind, DrRunState, DrStepOutcome, Store, StoreError};
use std::path::{Path, PathBuf};

/// The document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The plan's id (the files' names).
    pub plan: String,
    /// The title.
    pub title: String,
    /// One line under the title: what it is and when it was made.
    pub subtitle: String,
    /// The sections, in reading order.
    pub sections: Vec<Section>,
}

/// A section (a printed page or more).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Its heading.
    pub title: String,
    /// Its content.
    pub blocks: Vec<Block>,
}

/// A piece of a section. Paragraphs, list items and a step's summary and
/// notes show `backquoted` parts as code; other text is shown as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Running text.
    Paragraph(String),
    /// A bulleted list.
    List(Vec<String>),
    /// A table with a header row.
    Table {
        /// Column names.
        header: Vec<String>,
        /// The rows.
        rows: Vec<Vec<String>>,
    },
    /// Commands to type, as one block.
    Commands(Commands),
    /// One step of a run.
    Step(StepDoc),
    /// A runbook note as the operator wrote it (Markdown): rendered safely
    /// in HTML (`keepup_notify::markdown`), quoted in Markdown.
    Note {
        /// What it is about (`shop/checkout`, `site shop`, a finding code).
        heading: String,
        /// The note.
        markdown: String,
    },
}

/// `s` cut into plain text (`false`) and `backquoted` code (`true`); an
/// unpaired backquote stays text.
pub(crate) fn spans(s: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('`') {
        let Some(len) = rest[open + 1..].find('`') else {
            break;
        };
        if open > 0 {
            out.push((false, &rest[..open]));
        }
        out.push((true, &rest[open + 1..open + 1 + len]));
        rest = &rest[open + 2 + len..];
    }
    if !rest.is_empty() {
        out.push((false, rest));
    }
    out
}

/// Lines a person runs in a shell (or feeds to a program).
#[derive(Debug, Clone, PartialEq)]
pub struct Commands {
    /// What they are for.
    pub caption: String,
    /// The lines.
    pub text: String,
}

/// One step of `activate` or `return`, to run by hand if keepup cannot.
#[derive(Debug, Clone, PartialEq)]
pub struct StepDoc {
    /// Its position (from 1).
    pub number: usize,
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: &'static str,
    /// What it does, in a sentence.
    pub summary: String,
    /// How long it took last time, from the journal.
    pub expected: Option<String>,
    /// Things to know before running it.
    pub notes: Vec<String>,
    /// The commands that do it by hand.
    pub commands: Vec<Commands>,
}

/// What went wrong making or writing the document.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The journal could not be read.
    #[error("reading the journal: {0}")]
    Store(#[from] StoreError),
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The situations listed when the plan names none.
const DEFAULT_SITUATIONS: &[&str] = &[
    "Production is down and will not be back within the plan's RTO (a repair, a restart or the hosting provider's support cannot bring it back in time).",
    "The production datacenter or its servers are lost: fire, flood, power, hardware destroyed.",
    "Production has lost its network completely and the provider gives no time for its return.",
    "Production's data is destroyed or cannot be trusted (deleted, encrypted by ransomware, corrupted) and cannot be repaired in place.",
];

/// The journal's figures the document quotes.
struct Figures {
    /// The newest completed drill.
    last_drill: Option<DrRun>,
    /// Per step index of `activate`: how long it took in the newest
    /// completed activation or drill that ran it.
    activate: Vec<Option<i64>>,
    /// The same for `return`.
    return_steps: Vec<Option<i64>>,
    /// The newest runs, newest first.
    recent: Vec<DrRun>,
}

impl Figures {
    fn read(store: &Store, plan: &RecoveryPlan) -> Result<Self, StoreError> {
        let runs = store.dr_runs(Some(&plan.id), 200)?;
        let completed = |kinds: &[DrRunKind]| {
            runs.iter()
                .filter(|r| r.state == DrRunState::Completed && kinds.contains(&r.kind))
                .collect::<Vec<_>>()
        };
        let durations = |steps: &[Step], kinds: &[DrRunKind]| -> Result<_, StoreError> {
            let mut out = vec![None; steps.len()];
            for run in completed(kinds) {
                for s in store.dr_steps(run.id)? {
                    let Some(slot) = out.get_mut(s.index) else {
                        continue;
                    };
                    let same = steps.get(s.index).is_some_and(|p| p.name == s.name);
                    if slot.is_none()
                        && same
                        && s.outcome == DrStepOutcome::Succeeded
                        && let Some(end) = s.ended_at
                    {
                        *slot = Some(end - s.started_at);
                    }
                }
                if out.iter().all(Option::is_some) {
                    break;
                }
            }
            Ok(out)
        };
        Ok(Figures {
            last_drill: completed(&[DrRunKind::Drill]).first().map(|r| (*r).clone()),
            activate: durations(&plan.activate, &[DrRunKind::Activate, DrRunKind::Drill])?,
            return_steps: durations(&plan.return_steps, &[DrRunKind::Return])?,
            recent: runs.iter().take(10).cloned().collect(),
        })
    }

    fn none(plan: &RecoveryPlan) -> Self {
        Figures {
            last_drill: None,
            activate: vec![None; plan.activate.len()],
            return_steps: vec![None; plan.return_steps.len()],
            recent: Vec::new(),
        }
    }
}

/// The document of `plan`, with the journal's figures when `store` is
/// given, dated `now`.
pub fn build(
    config: &Config,
    plan: &RecoveryPlan,
    store: Option<&Store>,
    now: Timestamp,
) -> Result<Document, DocumentError> {
    let figures = match store {
        Some(s) => Figures::read(s, plan)?,
        None => Figures::none(plan),
    };
    // Absolute: the document is read from elsewhere, keepup's commands in
    // it must still find the file.
    let config_path = std::path::absolute(&config.source)
        .unwrap_or_else(|_| config.source.clone())
        .display()
        .to_string();
    let mut sections = vec![
        summary(config, plan, &figures, &config_path),
        situations(plan),
        people(config, plan),
        environments(plan),
        backups(config, plan),
    ];
    for (kind, title, durations) in [
        (
            DrRunKind::Activate,
            "Activation: production → standby, step by step",
            &figures.activate,
        ),
        (
            DrRunKind::Return,
            "Return to production, step by step",
            &figures.return_steps,
        ),
    ] {
        sections.push(run_section(
            config,
            plan,
            kind,
            title,
            durations,
            &config_path,
        ));
    }
    sections.push(verification(config, plan, &config_path));
    if let Some(notes) = runbook_notes(config, plan, store, now)? {
        sections.push(notes);
    }
    sections.push(journal(&figures, now));
    Ok(Document {
        plan: plan.id.clone(),
        title: format!("Recovery Plan: {} (site {})", plan.name, plan.site),
        subtitle: format!(
            "Generated by keepup from {config_path} and its journal on {}. Readable without keepup; regenerated when the configuration changes.",
            format_rfc3339(now)
        ),
        sections,
    })
}

fn summary(config: &Config, plan: &RecoveryPlan, f: &Figures, config_path: &str) -> Section {
    let drill = match &f.last_drill {
        Some(r) => format!(
            "{} (run {}): took {}, measured RTO {}, RPO {}",
            format_rfc3339(r.started_at),
            r.id,
            r.ended_at
                .map(|e| human_ms(e - r.started_at))
                .unwrap_or_else(|| "-".into()),
            r.rto_ms.map(human_ms).unwrap_or_else(|| "-".into()),
            r.rpo_ms.map(human_ms).unwrap_or_else(|| "-".into()),
        ),
        None => "never: no drill of this plan has completed; the durations below are from real runs, if any".into(),
    };
    let site_name = config
        .sites
        .iter()
        .find(|s| s.id == plan.site)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| plan.site.clone());
    let rows = vec![
        vec!["Plan".into(), format!("{} ({})", plan.name, plan.id)],
        vec!["Site".into(), format!("{site_name} ({})", plan.site)],
        vec![
            "Recovery time objective (RTO)".into(),
            humantime::format_duration(plan.rto).to_string(),
        ],
        vec![
            "Recovery point objective (RPO)".into(),
            humantime::format_duration(plan.rpo).to_string(),
        ],
        vec!["Last successful drill".into(), drill],
        vec!["Drills".into(), drills(plan)],
        vec![
            "Steps".into(),
            format!(
                "{} to activate the standby, {} to return to production",
                plan.activate.len(),
                plan.return_steps.len()
            ),
        ],
        vec!["keepup's configuration".into(), config_path.into()],
    ];
    Section {
        title: "At a glance".into(),
        blocks: vec![
            Block::Table {
                header: vec!["".into(), "".into()],
                rows,
            },
            Block::Paragraph(
                "If keepup works, it runs the whole plan and journals every step: check the plan first with the dry run, then activate. If a step fails, the run stops and says what to do; `keepup dr resume RUN` continues it. If keepup does not work, follow the steps in this document by hand, in order, and write down what you did and when.".into(),
            ),
            Block::Commands(Commands {
                caption: "With keepup".into(),
                text: format!(
                    "# what would be done; nothing changes\n\
                     keepup dr plan {id} -c {c}\n\
                     # production → standby (asks first)\n\
                     keepup dr activate {id} -c {c}\n\
                     # progress, and the run's number\n\
                     keepup dr status -c {c}\n\
                     # after a failed step is fixed\n\
                     keepup dr resume RUN -c {c}\n\
                     # back to production, later\n\
                     keepup dr return {id} -c {c}\n",
                    id = plan.id,
                    c = by_hand::quote(config_path)
                ),
            }),
        ],
    }
}

/// How the plan is drilled, and what says when a drill is due.
fn drills(plan: &RecoveryPlan) -> String {
    if plan.drill.is_none() {
        return "none possible: the plan declares no drill environment ([recovery.drill])".into();
    }
    format!(
        "keepup dr drill {} runs the activation against the drill environment, then cleans up; {}; check {} is Degraded when the last one is older than {} or missed the targets, Down when it failed",
        plan.id,
        match &plan.drill_schedule {
            Some(s) => format!(
                "keepup run drills it on schedule {} ({})",
                s.cron.as_str(),
                plan.timezone.name
            ),
            None => "by hand only (no drill_schedule)".into(),
        },
        keepup_config::drill_check_id(plan),
        humantime::format_duration(plan.drill_max_age)
    )
}

fn situations(plan: &RecoveryPlan) -> Section {
    let list: Vec<String> = if plan.situations.is_empty() {
        DEFAULT_SITUATIONS.iter().map(|s| s.to_string()).collect()
    } else {
        plan.situations.clone()
    };
    Section {
        title: "When to activate".into(),
        blocks: vec![
            Block::Paragraph("Activate the standby in these situations:".into()),
            Block::List(list),
            Block::Paragraph(format!(
                "Not for an outage that a repair or a restart fixes sooner than the RTO ({}): the standby holds the data of the last backup, so what was written since (up to the RPO, {}) must be copied back on the return.",
                humantime::format_duration(plan.rto),
                humantime::format_duration(plan.rpo)
            )),
        ],
    }
}

fn people(config: &Config, plan: &RecoveryPlan) -> Section {
    let mut blocks = vec![Block::Paragraph(format!(
        "Who decides to activate: {}.",
        plan.decides.as_deref().unwrap_or(
            "not written in the plan (add `decides` to it); until then the on-call administrator with the site's owner"
        )
    ))];
    if plan.contacts.is_empty() {
        blocks.push(Block::Paragraph(
            "Whom to call: the plan lists no one (add `contacts` to it); see the on-call routing below.".into(),
        ));
    } else {
        blocks.push(Block::Paragraph("Whom to call:".into()));
        blocks.push(Block::List(plan.contacts.clone()));
    }
    let mut rows = Vec::new();
    for policy in config
        .routing
        .policies
        .iter()
        .filter(|p| p.sites.is_empty() || p.sites.iter().any(|s| s == &plan.site || s == "*"))
    {
        for (i, level) in policy.levels.iter().enumerate() {
            for target in &level.notify {
                rows.push(vec![
                    policy.id.clone(),
                    if level.after.is_zero() {
                        format!("{} (at once)", i + 1)
                    } else {
                        format!(
                            "{} (after {} unacknowledged)",
                            i + 1,
                            humantime::format_duration(level.after)
                        )
                    },
                    who(config, target),
                    reach(config, target),
                ]);
            }
        }
    }
    if rows.is_empty() {
        blocks.push(Block::Paragraph(
            "No escalation policy of the alerting configuration covers this site.".into(),
        ));
    } else {
        blocks.push(Block::Paragraph(
            "On call, from the alerting configuration (escalation policies that cover this site):"
                .into(),
        ));
        blocks.push(Block::Table {
            header: ["Policy", "Level", "Who", "Reached through"]
                .map(String::from)
                .to_vec(),
            rows,
        });
    }
    Section {
        title: "Who decides, whom to call".into(),
        blocks,
    }
}

/// A routing target's people.
fn who(config: &Config, target: &RoutingTarget) -> String {
    match target {
        RoutingTarget::Contact(id) => contact_name(config, id),
        RoutingTarget::Team(id) => match config.routing.teams.iter().find(|t| &t.id == id) {
            Some(team) => format!(
                "team {id}{}: {}",
                if team.rotation.is_some() {
                    " (one member on call in turn)"
                } else {
                    ""
                },
                team.members
                    .iter()
                    .map(|m| contact_name(config, m))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => format!("team {id}"),
        },
        RoutingTarget::Channel(id) => format!("channel {id}"),
    }
}

fn contact_name(config: &Config, id: &str) -> String {
    config
        .routing
        .contacts
        .iter()
        .find(|c| c.id == id)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| id.to_owned())
}

/// How a routing target is reached: its channels' addresses.
fn reach(config: &Config, target: &RoutingTarget) -> String {
    let contact_channels = |id: &str| -> Vec<String> {
        config
            .routing
            .contacts
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.channels.iter().map(|ch| ch.channel.clone()).collect())
            .unwrap_or_default()
    };
    let channels: Vec<String> = match target {
        RoutingTarget::Contact(id) => contact_channels(id),
        RoutingTarget::Team(id) => config
            .routing
            .teams
            .iter()
            .find(|t| &t.id == id)
            .map(|t| t.members.iter().flat_map(|m| contact_channels(m)).collect())
            .unwrap_or_default(),
        RoutingTarget::Channel(id) => vec![id.clone()],
    };
    let mut seen = Vec::new();
    for c in channels {
        if !seen.contains(&c) {
            seen.push(c);
        }
    }
    seen.iter()
        .map(|id| match config.channel(id) {
            Some(ch) => channel_reach(ch),
            None => id.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A channel as a person can use it by hand: addresses and numbers, and
/// for the channels whose address is a secret, where it is kept.
pub(crate) fn channel_reach(ch: &Channel) -> String {
    let kept = |what: &str, origin: &SecretOrigin| format!("{what} kept in {origin}");
    let how = match &ch.spec {
        ChannelSpec::Email(e) => format!("e-mail to {}", e.to.join(", ")),
        ChannelSpec::Sms(s) => format!("SMS to {}", s.to.join(", ")),
        ChannelSpec::Telegram(t) => format!(
            "Telegram chat {} ({})",
            t.chat_id,
            kept("bot token", t.bot_token.origin())
        ),
        ChannelSpec::Slack(w) | ChannelSpec::Teams(w) | ChannelSpec::Discord(w) => {
            kept("webhook URL", w.webhook_url.origin())
        }
        ChannelSpec::Webhook(w) => kept("URL", w.url.origin()),
        ChannelSpec::PagerDuty(p) => kept("routing key", p.routing_key.origin()),
        ChannelSpec::Opsgenie(o) => {
            let responders: Vec<&str> = o.responders.iter().map(|r| r.name.as_str()).collect();
            format!(
                "responders {} ({})",
                if responders.is_empty() {
                    "by the API key's team".to_string()
                } else {
                    responders.join(", ")
                },
                kept("API key", o.api_key.origin())
            )
        }
        ChannelSpec::Ntfy(n) => format!("ntfy topic {} at {}", n.topic, n.server_url),
        ChannelSpec::Matrix(m) => format!(
            "Matrix room {} on {} ({})",
            m.room_id,
            m.homeserver_url,
            kept("access token", m.access_token.origin())
        ),
    };
    format!("{} ({}): {how}", ch.id, ch.kind())
}

fn environments(plan: &RecoveryPlan) -> Section {
    let mut rows = Vec::new();
    let mut envs: Vec<(&str, &Environment)> =
        vec![("production", &plan.production), ("standby", &plan.standby)];
    if let Some(d) = &plan.drill {
        envs.push(("drill", d));
    }
    for (name, env) in envs {
        let addresses = env
            .addresses
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let hosts = env
            .hosts
            .iter()
            .map(|h| {
                let mut s = format!("{}: ssh {}", h.name, h.ssh);
                if let Some(p) = h.ssh_port {
                    s.push_str(&format!(" port {p}"));
                }
                if let Some(id) = &h.ssh_identity_file {
                    s.push_str(&format!(", key {}", id.display()));
                }
                if let Some(kh) = &h.ssh_known_hosts_file {
                    s.push_str(&format!(", known hosts {}", kh.display()));
                }
                s
            })
            .collect::<Vec<_>>()
            .join("; ");
        rows.push(vec![
            name.to_string(),
            if addresses.is_empty() {
                "-".into()
            } else {
                addresses
            },
            if env.dns_names.is_empty() {
                "the dns steps' names".into()
            } else {
                env.dns_names.join(", ")
            },
            if hosts.is_empty() { "-".into() } else { hosts },
        ]);
    }
    Section {
        title: "Environments".into(),
        blocks: vec![Block::Table {
            header: ["Environment", "Addresses", "DNS names", "Hosts"]
                .map(String::from)
                .to_vec(),
            rows,
        }],
    }
}

fn backups(config: &Config, plan: &RecoveryPlan) -> Section {
    let mut blocks = vec![Block::Paragraph(
        "The backups are restic repositories: the standalone `restic` program reads them without keepup. Each plan writes every snapshot to each of its targets; the restore steps use the first target that works, in this order. Passwords and keys are not in this document: the table says where each one is kept."
            .into(),
    )];
    for backup in by_hand::backup_plans_of(config, plan) {
        let mut rows = Vec::new();
        for t in &backup.targets {
            let access = by_hand::repository_access(t);
            rows.push(vec![
                t.id.clone(),
                format!(
                    "{}{}",
                    t.repository,
                    if t.offsite { " (off-site)" } else { "" }
                ),
                access.secrets.join("; "),
            ]);
        }
        blocks.push(Block::Paragraph(format!(
            "Backup plan {}{}: {}, freshness limit {}; snapshots tagged {}.",
            backup.id,
            if backup.name != backup.id {
                format!(" ({})", backup.name)
            } else {
                String::new()
            },
            match &backup.schedule {
                Some(s) => format!(
                    "runs on schedule {} ({})",
                    s.cron.as_str(),
                    backup.timezone.name
                ),
                None => "runs by hand only".into(),
            },
            humantime::format_duration(backup.rpo),
            keepup_backup::plan_tag(backup)
        )));
        blocks.push(Block::Table {
            header: ["Target", "Repository", "Secrets kept in"]
                .map(String::from)
                .to_vec(),
            rows,
        });
    }
    Section {
        title: "Where the backups are".into(),
        blocks,
    }
}

fn run_section(
    config: &Config,
    plan: &RecoveryPlan,
    kind: DrRunKind,
    title: &str,
    durations: &[Option<i64>],
    config_path: &str,
) -> Section {
    let Ok((steps, target)) = steps_of(plan, kind) else {
        return Section {
            title: title.into(),
            blocks: vec![Block::Paragraph("No steps.".into())],
        };
    };
    let mut blocks = Vec::new();
    if steps.is_empty() {
        blocks.push(Block::Paragraph(format!(
            "The plan has no {} steps (add [[recovery.{}]] tables).",
            kind.as_str(),
            kind.as_str()
        )));
    } else {
        let total: Option<i64> = durations.iter().copied().sum();
        blocks.push(Block::Paragraph(format!(
            "{} steps on the {} environment, in this order{}. With keepup: `keepup dr {} {} -c {}`. By hand: each step below, in order; do not change DNS before the data steps before it have succeeded.",
            steps.len(),
            target.name,
            match total {
                Some(ms) => format!(", about {} in all (the last run)", human_ms(ms)),
                None => String::new(),
            },
            kind.as_str(),
            plan.id,
            by_hand::quote(config_path)
        )));
    }
    let ctx = by_hand::StepContext {
        config,
        plan,
        environment: target.environment,
        environment_name: target.name,
        config_path,
    };
    for (i, step) in steps.iter().enumerate() {
        let mut doc = by_hand::step(&ctx, step);
        doc.number = i + 1;
        doc.expected = durations.get(i).copied().flatten().map(|ms| {
            if ms < 1000 {
                "under 1s".to_string()
            } else {
                human_ms(ms)
            }
        });
        blocks.push(Block::Step(doc));
    }
    Section {
        title: title.into(),
        blocks,
    }
}

fn verification(config: &Config, plan: &RecoveryPlan, config_path: &str) -> Section {
    let mut blocks = vec![Block::Paragraph(format!(
        "The site is recovered when every check below is Up from outside. With keepup: `keepup check --check SITE/CHECK -c {}` runs one configured check once. By hand: the command beside each.",
        by_hand::quote(config_path)
    ))];
    let mut rows = Vec::new();
    let mut lines = String::new();
    if let Some(site) = config.sites.iter().find(|s| s.id == plan.site) {
        for c in &site.checks {
            let line = by_hand::check_line(c);
            rows.push(vec![
                c.id.to_string(),
                c.name.clone(),
                line.clone()
                    .unwrap_or_else(|| format!("keepup check --check {}", c.id)),
            ]);
            if let Some(l) = line {
                lines.push_str(&format!("# {}\n{l}\n", c.id));
            }
        }
    }
    if rows.is_empty() {
        blocks.push(Block::Paragraph("The site has no checks.".into()));
    } else {
        blocks.push(Block::Table {
            header: ["Check", "Name", "By hand"].map(String::from).to_vec(),
            rows,
        });
    }
    if !lines.is_empty() {
        blocks.push(Block::Commands(Commands {
            caption: "All of them, to paste".into(),
            text: lines,
        }));
    }
    Section {
        title: "How to verify".into(),
        blocks,
    }
}

/// How far back the document looks for the finding codes of the checks
/// the plan verifies.
const FINDINGS_LOOKBACK_MS: i64 = 90 * 86_400_000;
/// Finding codes listed per check at most (the most recent ones).
const MAX_CODES_PER_CHECK: usize = 20;
/// A default note's first sentence is cut here.
const FIRST_LINE_CHARS: usize = 240;

/// What to do when a check the plan's `verify` steps wait for fails: the
/// notes the configuration has for it (its own, its site's, and each
/// `[[runbook]]` note that goes with it, as `Runbooks` decides), then,
/// when the journal's store is at hand, the finding codes each of those
/// checks had in the last 90 days with the first sentence of keepup's
/// note (`keepup codes CODE` prints all of it). `None` when the plan
/// verifies no check.
fn runbook_notes(
    config: &Config,
    plan: &RecoveryPlan,
    store: Option<&Store>,
    now: Timestamp,
) -> Result<Option<Section>, StoreError> {
    use keepup_config::NoteSource;
    use keepup_config::recovery::StepAction;
    let mut checks: Vec<keepup_model::CheckId> = Vec::new();
    for step in plan.activate.iter().chain(&plan.return_steps) {
        let StepAction::Verify(v) = &step.action else {
            continue;
        };
        let named: Vec<keepup_model::CheckId> = if v.checks.is_empty() {
            config
                .sites
                .iter()
                .filter(|s| s.id == plan.site)
                .flat_map(|s| s.checks.iter().filter(|c| c.probe().is_some()))
                .map(|c| c.id.clone())
                .collect()
        } else {
            v.checks.clone()
        };
        for id in named {
            if !checks.contains(&id) {
                checks.push(id);
            }
        }
    }
    if checks.is_empty() {
        return Ok(None);
    }
    // Each note once, with the checks it goes with.
    let mut notes: Vec<(keepup_config::RunbookNote, Vec<&keepup_model::CheckId>)> = Vec::new();
    let mut rows = Vec::new();
    for id in &checks {
        let seen = match store {
            Some(s) => recent_codes(s, id, now)?,
            None => Vec::new(),
        };
        let mut found = config
            .runbooks
            .notes_for(id, seen.iter().map(String::as_str));
        for n in config.runbooks.code_notes_for(id) {
            if !found
                .iter()
                .any(|f| f.source == n.source && f.about == n.about)
            {
                found.push(n);
            }
        }
        for note in found {
            if note.source == NoteSource::Default {
                rows.push(vec![
                    id.to_string(),
                    note.about.clone(),
                    format!(
                        "{} (keepup codes {})",
                        first_sentence(&note.text),
                        note.about
                    ),
                ]);
                continue;
            }
            if note.source == NoteSource::Code && seen.contains(&note.about) {
                rows.push(vec![
                    id.to_string(),
                    note.about.clone(),
                    "the [[runbook]] note above".into(),
                ]);
            }
            match notes.iter_mut().find(|(n, _)| *n == note) {
                Some((_, on)) => on.push(id),
                None => notes.push((note, vec![id])),
            }
        }
    }
    let mut blocks = vec![Block::Paragraph(
        "What to do when a check the verification waits for fails: the notes the operators wrote for it (`runbook` on the check or its site, `[[runbook]]` for finding codes), then the finding codes these checks had lately with keepup's own note. `keepup codes CODE` prints keepup's whole note for any code (what it means, the usual causes, the first commands); the dashboard's check and incident pages show the notes of the current findings.".into(),
    )];
    if notes.is_empty() {
        blocks.push(Block::Paragraph(
            "The configuration has no note for these checks.".into(),
        ));
    }
    for (note, on) in notes {
        let mut heading = note.heading();
        // A `[[runbook]]` note may go with some of the checks only (its
        // `sites` and `tags`, or another note narrowed to the others).
        if note.source == NoteSource::Code && on.len() < checks.len() {
            let names: Vec<String> = on.iter().map(|c| c.to_string()).collect();
            heading = format!("{heading}, for {}", names.join(", "));
        }
        blocks.push(Block::Note {
            heading,
            markdown: note.text,
        });
    }
    if store.is_some() {
        if rows.is_empty() {
            blocks.push(Block::Paragraph(
                "None of these checks had a finding in the last 90 days.".into(),
            ));
        } else {
            blocks.push(Block::Paragraph(
                "Finding codes these checks had in the last 90 days:".into(),
            ));
            blocks.push(Block::Table {
                header: ["Check", "Code", "What to do"].map(String::from).to_vec(),
                rows,
            });
        }
    }
    Ok(Some(Section {
        title: "Runbook notes".into(),
        blocks,
    }))
}

/// The finding codes `check` had in the last [`FINDINGS_LOOKBACK_MS`],
/// most recent first, each once under its current name, at most
/// [`MAX_CODES_PER_CHECK`].
fn recent_codes(
    store: &Store,
    check: &keepup_model::CheckId,
    now: Timestamp,
) -> Result<Vec<String>, StoreError> {
    let mut seen = store.findings_between(check, now - FINDINGS_LOOKBACK_MS, now + 1)?;
    seen.sort_by_key(|f| std::cmp::Reverse(f.last));
    let mut codes: Vec<String> = Vec::new();
    for f in seen {
        let code = keepup_model::codes::current(&f.finding.code).unwrap_or(&f.finding.code);
        if !codes.iter().any(|c| c == code) {
            codes.push(code.to_owned());
        }
        if codes.len() == MAX_CODES_PER_CHECK {
            break;
        }
    }
    Ok(codes)
}

/// The first sentence of a note's first paragraph as plain text, cut at
/// [`FIRST_LINE_CHARS`] characters with an ellipsis.
fn first_sentence(note: &str) -> String {
    let first = note.split("\n\n").next().unwrap_or_default();
    let text = keepup_notify::markdown::plain_text(first).replace('\n', " ");
    let sentence = match text.find(". ") {
        Some(end) => &text[..=end],
        None => text.as_str(),
    };
    if sentence.chars().count() <= FIRST_LINE_CHARS {
        return sentence.to_owned();
    }
    let cut: String = sentence.chars().take(FIRST_LINE_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

fn journal(f: &Figures, now: Timestamp) -> Section {
    let mut blocks = Vec::new();
    if f.recent.is_empty() {
        blocks.push(Block::Paragraph(
            "The journal holds no run of this plan yet: no duration above is measured. Run a drill (`keepup dr drill PLAN`) to measure them.".into(),
        ));
    } else {
        blocks.push(Block::Table {
            header: crate::engine::run_rows(&[], now)
                .remove(0)
                .into_iter()
                .collect(),
            rows: crate::engine::run_rows(&f.recent, now)
                .into_iter()
                .skip(1)
                .collect(),
        });
    }
    Section {
        title: "Recent runs (from the journal)".into(),
        blocks,
    }
}

/// The files [`write`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `<dir>/<plan>.html`.
    pub html: PathBuf,
    /// `<dir>/<plan>.md`.
    pub markdown: PathBuf,
}

/// Writes `doc` as `<dir>/<plan>.html` and `<dir>/<plan>.md` (the
/// directory is created if missing), each replaced atomically.
pub fn write(dir: &Path, doc: &Document) -> Result<Written, DocumentError> {
    let fail = |path: &Path, source: std::io::Error| DocumentError::Write {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let html = dir.join(format!("{}.html", doc.plan));
    let markdown = dir.join(format!("{}.md", doc.plan));
    for (path, text) in [(&html, render_html(doc)), (&markdown, render_markdown(doc))] {
        replace(path, text.as_bytes()).map_err(|e| fail(path, e))?;
    }
    Ok(Written { html, markdown })
}

/// Writes `bytes` to a temporary file beside `path` and renames it over
/// `path`.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".keepup-document-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    // Readable by whoever reads the directory, like any document.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes the document of every plan that has a `document_dir`; what the
/// daemon does at start and after each reload. Returns each plan's result.
pub fn write_configured(
    config: &Config,
    store: Option<&Store>,
    now: Timestamp,
) -> Vec<(String, Result<Written, DocumentError>)> {
    config
        .recovery
        .iter()
        .filter_map(|plan| Some((plan.id.clone(), write_plan(config, plan, store, now)?)))
        .collect()
}

/// Writes `plan`'s document into its `document_dir`, if it has one (also
/// after the daemon's drills, whose figures it quotes).
pub fn write_plan(
    config: &Config,
    plan: &RecoveryPlan,
    store: Option<&Store>,
    now: Timestamp,
) -> Option<Result<Written, DocumentError>> {
    let dir = plan.document_dir.as_ref()?;
    Some(build(config, plan, store, now).and_then(|doc| write(dir, &doc)))
}
