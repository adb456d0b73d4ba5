//! Who is told: `[[contact]]`, `[[team]]` and escalation `[[policy]]`.
//!
//! A contact is a person with channels; a team is a list of contacts; a
//! policy picks incidents (by site and severity) and lists escalation
//! levels: level 1 at once, level 2 after N minutes without
//! acknowledgement, and so on, then reminders at an interval with a cap.
//! Every reference (contact, team, channel) is checked at load.

use crate::load::Loader;
use crate::raw::Dur;
use keepup_model::Severity;
use serde::Deserialize;
use std::collections::HashSet;
use std::time::Duration;
use toml::Spanned;
use toml::de::DeValue;

/// Routing: contacts, teams and policies.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    /// People.
    pub contacts: Vec<Contact>,
    /// Groups of people.
    pub teams: Vec<Team>,
    /// Escalation policies, first match wins.
    pub policies: Vec<Policy>,
}

/// A person and the channels that reach them.
#[derive(Debug, Clone)]
pub struct Contact {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Channel ids.
    pub channels: Vec<String>,
}

/// A group of contacts.
#[derive(Debug, Clone)]
pub struct Team {
    /// Id.
    pub id: String,
    /// Contact ids.
    pub members: Vec<String>,
}

/// Who to notify at one escalation level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A contact's channels.
    Contact(String),
    /// Every member's channels.
    Team(String),
    /// One channel directly.
    Channel(String),
}

/// One escalation level.
#[derive(Debug, Clone)]
pub struct Level {
    /// Time after detection without acknowledgement.
    pub after: Duration,
    /// Who.
    pub notify: Vec<Target>,
}

/// An escalation policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Id.
    pub id: String,
    /// Site ids it applies to (empty: all).
    pub sites: Vec<String>,
    /// Severities it applies to (empty: all).
    pub severities: Vec<Severity>,
    /// Levels, by increasing `after`.
    pub levels: Vec<Level>,
    /// Reminder interval while open and unacknowledged (none: no reminders).
    pub repeat_every: Option<Duration>,
    /// At most this many reminders.
    pub max_reminders: u32,
}

impl Routing {
    /// The first policy for `site` and `severity`.
    pub fn policy_for(&self, site: &str, severity: Severity) -> Option<&Policy> {
        self.policies.iter().find(|p| {
            (p.sites.is_empty() || p.sites.iter().any(|s| s == site || s == "*"))
                && (p.severities.is_empty() || p.severities.contains(&severity))
        })
    }

    /// The channel ids a target reaches.
    pub fn channels_of(&self, target: &Target) -> Vec<String> {
        let contact = |id: &str| {
            self.contacts
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.channels.clone())
                .unwrap_or_default()
        };
        match target {
            Target::Channel(c) => vec![c.clone()],
            Target::Contact(c) => contact(c),
            Target::Team(t) => self
                .teams
                .iter()
                .find(|x| x.id == *t)
                .map(|team| team.members.iter().flat_map(|m| contact(m)).collect())
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContact {
    id: Spanned<String>,
    name: Option<String>,
    channels: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    id: Spanned<String>,
    members: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    #[serde(default)]
    after: Option<Dur>,
    notify: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    id: Spanned<String>,
    #[serde(default)]
    sites: Vec<String>,
    #[serde(default)]
    severity: Vec<Spanned<String>>,
    level: Vec<RawLevel>,
    repeat_every: Option<Spanned<Dur>>,
    max_reminders: Option<u32>,
}

impl Loader<'_> {
    /// Validates `[[contact]]`, `[[team]]` and `[[policy]]` against the
    /// channels and sites.
    pub(crate) fn routing(
        &mut self,
        contacts: Option<Spanned<DeValue<'_>>>,
        teams: Option<Spanned<DeValue<'_>>>,
        policies: Option<Spanned<DeValue<'_>>>,
        channel_ids: &HashSet<String>,
        site_ids: &HashSet<String>,
    ) -> Routing {
        let mut routing = Routing::default();
        for (i, raw) in self
            .table_array::<RawContact>(contacts, "contact")
            .into_iter()
            .enumerate()
        {
            for ch in &raw.channels {
                if !channel_ids.contains(ch.get_ref()) {
                    self.unknown(
                        ch,
                        &format!("contact[{i}].channels"),
                        "channel",
                        channel_ids,
                    );
                }
            }
            let id = raw.id.into_inner();
            routing.contacts.push(Contact {
                name: raw.name.unwrap_or_else(|| id.clone()),
                id,
                channels: raw.channels.into_iter().map(Spanned::into_inner).collect(),
            });
        }
        let contact_ids: HashSet<String> = routing.contacts.iter().map(|c| c.id.clone()).collect();
        for (i, raw) in self
            .table_array::<RawTeam>(teams, "team")
            .into_iter()
            .enumerate()
        {
            for m in &raw.members {
                if !contact_ids.contains(m.get_ref()) {
                    self.unknown(m, &format!("team[{i}].members"), "contact", &contact_ids);
                }
            }
            routing.teams.push(Team {
                id: raw.id.into_inner(),
                members: raw.members.into_iter().map(Spanned::into_inner).collect(),
            });
        }
        let team_ids: HashSet<String> = routing.teams.iter().map(|t| t.id.clone()).collect();
        for (i, raw) in self
            .table_array::<RawPolicy>(policies, "policy")
            .into_iter()
            .enumerate()
        {
            let path = format!("policy[{i}]");
            for s in &raw.sites {
                if s != "*" && !site_ids.contains(s) {
                    self.rep.report(
                        raw.id.span(),
                        &format!("{path}.sites"),
                        format!("no site {s:?}"),
                        None,
                    );
                }
            }
            let mut severities = Vec::new();
            for s in &raw.severity {
                match s.get_ref().as_str() {
                    "critical" => severities.push(Severity::Critical),
                    "warning" => severities.push(Severity::Warning),
                    other => self.rep.report(
                        s.span(),
                        &format!("{path}.severity"),
                        format!("unknown severity {other:?}"),
                        Some("use \"critical\" or \"warning\"".into()),
                    ),
                }
            }
            if raw.level.is_empty() {
                self.rep.report(
                    raw.id.span(),
                    &format!("{path}.level"),
                    "a policy needs at least one [[policy.level]]",
                    None,
                );
            }
            let mut levels = Vec::new();
            let mut last_after = Duration::ZERO;
            for (l, level) in raw.level.into_iter().enumerate() {
                let after = level.after.map(|d| d.0).unwrap_or_default();
                if after < last_after {
                    let span = level
                        .notify
                        .first()
                        .map(|n| n.span())
                        .unwrap_or(raw.id.span());
                    self.rep.report(
                        span,
                        &format!("{path}.level[{l}].after"),
                        "levels must be in order of `after`",
                        None,
                    );
                }
                last_after = after;
                let mut notify = Vec::new();
                for n in &level.notify {
                    let text = n.get_ref();
                    let target = if let Some(t) = text.strip_prefix("team:") {
                        if !team_ids.contains(t) {
                            self.unknown(
                                n,
                                &format!("{path}.level[{l}].notify"),
                                "team",
                                &team_ids,
                            );
                        }
                        Target::Team(t.to_owned())
                    } else if let Some(c) = text.strip_prefix("channel:") {
                        if !channel_ids.contains(c) {
                            self.unknown(
                                n,
                                &format!("{path}.level[{l}].notify"),
                                "channel",
                                channel_ids,
                            );
                        }
                        Target::Channel(c.to_owned())
                    } else {
                        if !contact_ids.contains(text) {
                            self.unknown(
                                n,
                                &format!("{path}.level[{l}].notify"),
                                "contact",
                                &contact_ids,
                            );
                        }
                        Target::Contact(text.clone())
                    };
                    notify.push(target);
                }
                levels.push(Level { after, notify });
            }
            let repeat_every = raw
                .repeat_every
                .as_ref()
                .map(|r| self.positive(r, &format!("{path}.repeat_every")));
            routing.policies.push(Policy {
                id: raw.id.into_inner(),
                sites: raw.sites,
                severities,
                levels,
                repeat_every,
                max_reminders: raw.max_reminders.unwrap_or(if repeat_every.is_some() {
                    10
                } else {
                    0
                }),
            });
        }
        routing
    }

    fn unknown(&mut self, s: &Spanned<String>, key: &str, what: &str, known: &HashSet<String>) {
        let name = s.get_ref();
        let bare = name.split_once(':').map_or(name.as_str(), |(_, b)| b);
        let hint = crate::diag::closest(bare, known.iter().map(String::as_str))
            .map(|c| format!("did you mean \"{c}\"?"));
        self.rep
            .report(s.span(), key, format!("no {what} {bare:?}"), hint);
    }

    fn table_array<T: serde::de::DeserializeOwned>(
        &mut self,
        value: Option<Spanned<DeValue<'_>>>,
        key: &str,
    ) -> Vec<T> {
        let Some(value) = value else {
            return Vec::new();
        };
        let span = value.span();
        let DeValue::Array(items) = value.into_inner() else {
            self.rep.report(
                span,
                key,
                format!("`{key}` must be an array of tables"),
                Some(format!("write each as [[{key}]]")),
            );
            return Vec::new();
        };
        items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| self.deserialize::<T>(item, &format!("{key}[{i}]"), &[]))
            .collect()
    }
}
