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
    /// Channels, each possibly limited to some severities and hours.
    pub channels: Vec<ContactChannel>,
    /// Time zone of the `hours` rules.
    pub timezone: jiff::tz::TimeZone,
}

/// One of a contact's channels, with optional time-of-day rules (e.g. SMS
/// only at night, and only for critical incidents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactChannel {
    /// Channel id.
    pub channel: String,
    /// Only for these severities (empty: all).
    pub severities: Vec<Severity>,
    /// Only between these minutes of the day (start, end), which may wrap
    /// midnight (`22:00-07:00`).
    pub hours: Option<(u16, u16)>,
}

impl ContactChannel {
    fn applies(&self, severity: Severity, minute_of_day: u16) -> bool {
        let sev = self.severities.is_empty() || self.severities.contains(&severity);
        let hours = match self.hours {
            None => true,
            Some((a, b)) if a <= b => (a..b).contains(&minute_of_day),
            Some((a, b)) => minute_of_day >= a || minute_of_day < b,
        };
        sev && hours
    }
}

/// A group of contacts, optionally on call in turn.
#[derive(Debug, Clone)]
pub struct Team {
    /// Id.
    pub id: String,
    /// Contact ids, in rotation order.
    pub members: Vec<String>,
    /// Who is on call when; `None`: everyone is.
    pub rotation: Option<Rotation>,
}

/// An on-call rotation: `members[0]` from `start`, then the next member
/// every shift, handing over at the same local time.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// Shift length in days (1 daily, 7 weekly).
    pub shift_days: i64,
    /// The first hand-over, local time.
    pub start: jiff::civil::DateTime,
    /// Its time zone.
    pub timezone: jiff::tz::TimeZone,
}

impl Rotation {
    /// Index of the member on call at `at` (ms since the epoch).
    pub fn on_call(&self, at: i64, members: usize) -> usize {
        if members == 0 {
            return 0;
        }
        let Ok(ts) = jiff::Timestamp::from_millisecond(at) else {
            return 0;
        };
        let local = self.timezone.to_datetime(ts);
        // Whole local days since the first hand-over, counting a day only
        // once its hand-over time has passed (DST-proof: civil arithmetic).
        let mut days = (local.date() - self.start.date()).get_days() as i64;
        if local.time() < self.start.time() {
            days -= 1;
        }
        days.div_euclid(self.shift_days).rem_euclid(members as i64) as usize
    }
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
    /// Incidents of one site opening within this window go out as one
    /// message (default 5 s; 0 sends each at once).
    pub group_window: Duration,
}

impl Routing {
    /// The first policy for `site` and `severity`.
    pub fn policy_for(&self, site: &str, severity: Severity) -> Option<&Policy> {
        self.policies.iter().find(|p| {
            (p.sites.is_empty() || p.sites.iter().any(|s| s == site || s == "*"))
                && (p.severities.is_empty() || p.severities.contains(&severity))
        })
    }

    /// The channel ids a target reaches for an incident of `severity` at
    /// `at`: a team's on-call member only, and each contact's channels
    /// whose rules allow it.
    pub fn channels_of(&self, target: &Target, severity: Severity, at: i64) -> Vec<String> {
        let contact = |id: &str| -> Vec<String> {
            let Some(c) = self.contacts.iter().find(|c| c.id == id) else {
                return Vec::new();
            };
            let minute = jiff::Timestamp::from_millisecond(at)
                .map(|t| {
                    let local = c.timezone.to_datetime(t);
                    local.hour() as u16 * 60 + local.minute() as u16
                })
                .unwrap_or(0);
            c.channels
                .iter()
                .filter(|ch| ch.applies(severity, minute))
                .map(|ch| ch.channel.clone())
                .collect()
        };
        match target {
            Target::Channel(c) => vec![c.clone()],
            Target::Contact(c) => contact(c),
            Target::Team(t) => match self.teams.iter().find(|x| x.id == *t) {
                Some(team) => match &team.rotation {
                    Some(r) => team
                        .members
                        .get(r.on_call(at, team.members.len()))
                        .map(|m| contact(m))
                        .unwrap_or_default(),
                    None => team.members.iter().flat_map(|m| contact(m)).collect(),
                },
                None => Vec::new(),
            },
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContact {
    id: Spanned<String>,
    name: Option<String>,
    channels: Vec<Spanned<RawContactChannel>>,
    timezone: Option<Spanned<String>>,
}

/// `"mail"` or `{ channel = "sms", severity = ["critical"], hours = "22:00-07:00" }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawContactChannel {
    Id(String),
    Rule {
        channel: String,
        #[serde(default)]
        severity: Vec<String>,
        hours: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    id: Spanned<String>,
    members: Vec<Spanned<String>>,
    rotation: Option<Spanned<String>>,
    start: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
}

fn parse_hours(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-')?;
    let minute = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
    };
    let (a, b) = (minute(a)?, minute(b)?);
    (a != b).then_some((a, b.min(1440)))
}

fn parse_severity(s: &str) -> Option<Severity> {
    match s {
        "critical" => Some(Severity::Critical),
        "warning" => Some(Severity::Warning),
        _ => None,
    }
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
    group_window: Option<Dur>,
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
            let key = format!("contact[{i}].channels");
            let mut channels = Vec::new();
            for ch in raw.channels {
                let span = ch.span();
                let (channel, severity, hours) = match ch.into_inner() {
                    RawContactChannel::Id(c) => (c, Vec::new(), None),
                    RawContactChannel::Rule {
                        channel,
                        severity,
                        hours,
                    } => (channel, severity, hours),
                };
                if !channel_ids.contains(&channel) {
                    self.unknown(
                        &Spanned::new(span.clone(), channel.clone()),
                        &key,
                        "channel",
                        channel_ids,
                    );
                }
                let mut severities = Vec::new();
                for s in &severity {
                    match parse_severity(s) {
                        Some(v) => severities.push(v),
                        None => self.rep.report(
                            span.clone(),
                            &key,
                            format!("unknown severity {s:?}"),
                            Some("use \"critical\" or \"warning\"".into()),
                        ),
                    }
                }
                let hours = match hours.as_deref().map(|h| (h, parse_hours(h))) {
                    None => None,
                    Some((_, Some(h))) => Some(h),
                    Some((h, None)) => {
                        self.rep.report(
                            span.clone(),
                            &key,
                            format!("invalid hours {h:?}"),
                            Some("write \"HH:MM-HH:MM\", e.g. \"22:00-07:00\"".into()),
                        );
                        None
                    }
                };
                channels.push(ContactChannel {
                    channel,
                    severities,
                    hours,
                });
            }
            let timezone =
                self.timezone_or_utc(raw.timezone.as_ref(), &format!("contact[{i}].timezone"));
            let id = raw.id.into_inner();
            routing.contacts.push(Contact {
                name: raw.name.unwrap_or_else(|| id.clone()),
                id,
                channels,
                timezone,
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
            let rotation = match (&raw.rotation, &raw.start) {
                (None, None) => None,
                (Some(kind), start) => {
                    let shift_days = match kind.get_ref().as_str() {
                        "daily" => Some(1),
                        "weekly" => Some(7),
                        other => {
                            self.rep.report(
                                kind.span(),
                                &format!("team[{i}].rotation"),
                                format!("unknown rotation {other:?}"),
                                Some("use \"daily\" or \"weekly\"".into()),
                            );
                            None
                        }
                    };
                    let start = match start {
                        Some(s) => match s.get_ref().parse::<jiff::civil::DateTime>() {
                            Ok(dt) => Some(dt),
                            Err(e) => {
                                self.rep.report(s.span(), &format!("team[{i}].start"), format!("invalid start {:?}: {e}", s.get_ref()), Some("write the first hand-over in local time, e.g. \"2026-11-02T09:00\"".into()));
                                None
                            }
                        },
                        None => {
                            self.rep.report(
                                kind.span(),
                                &format!("team[{i}].start"),
                                "a rotation needs `start`, the first hand-over in local time",
                                None,
                            );
                            None
                        }
                    };
                    let timezone =
                        self.timezone_or_utc(raw.timezone.as_ref(), &format!("team[{i}].timezone"));
                    match (shift_days, start) {
                        (Some(shift_days), Some(start)) => Some(Rotation {
                            shift_days,
                            start,
                            timezone,
                        }),
                        _ => None,
                    }
                }
                (None, Some(s)) => {
                    self.rep.report(
                        s.span(),
                        &format!("team[{i}].start"),
                        "`start` without `rotation`",
                        Some("add rotation = \"weekly\" or \"daily\"".into()),
                    );
                    None
                }
            };
            routing.teams.push(Team {
                id: raw.id.into_inner(),
                members: raw.members.into_iter().map(Spanned::into_inner).collect(),
                rotation,
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
                group_window: raw
                    .group_window
                    .map(|d| d.0)
                    .unwrap_or(Duration::from_secs(5)),
                max_reminders: raw.max_reminders.unwrap_or(if repeat_every.is_some() {
                    10
                } else {
                    0
                }),
            });
        }
        routing
    }

    /// A time zone for rules and rotations: UTC when none is given (an
    /// unknown name is reported and also falls back to UTC).
    fn timezone_or_utc(&mut self, name: Option<&Spanned<String>>, key: &str) -> jiff::tz::TimeZone {
        name.and_then(|n| self.timezone(n, key))
            .unwrap_or(jiff::tz::TimeZone::UTC)
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
        let hint = format!("write each as [[{key}]]");
        self.array_of_tables(value, key, &hint)
            .into_iter()
            .filter_map(|(path, item)| self.deserialize::<T>(item, &path, &[]))
            .collect()
    }
}
