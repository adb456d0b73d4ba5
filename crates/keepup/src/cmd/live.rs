//! The live view shared by `keepup status --watch` and `keepup demo` on a
//! terminal: a [`Snapshot`] of checks, open incidents, recent notifications
//! and (in the demo) the injected fault, turned into lines of text that fit
//! the terminal. Drawing them is [`super::screen`]'s job, so everything
//! here is testable without a terminal.

use keepup_model::text::ago;
use keepup_model::{Status, Timestamp, format_rfc3339};
use keepup_store::{Incident, LatestState, OutboxEntry, Store};
use std::time::Duration;
use unicode_width::UnicodeWidthChar;

/// Notifications read from the outbox for the panel.
const NOTIFICATIONS_SHOWN: usize = 10;

/// Everything one frame shows.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// What this screen is, first line.
    pub title: String,
    /// Labelled facts under the title (config path, log file, ...).
    pub details: Vec<(&'static str, String)>,
    /// How to leave, and how often the screen is redrawn.
    pub hint: String,
    /// When the snapshot was taken.
    pub now: Timestamp,
    /// Every check in configuration order (sites keep their order).
    pub checks: Vec<CheckLine>,
    /// Open incidents, oldest first.
    pub incidents: Vec<Incident>,
    /// Recent notifications, newest first.
    pub notifications: Vec<NotificationLine>,
    /// The demo's injected fault; `None` outside the demo.
    pub fault: Option<FaultPanel>,
}

/// One check's row.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckLine {
    /// The site id.
    pub site: String,
    /// The check's id inside the site.
    pub name: String,
    /// `None` until its first result.
    pub status: Option<Status>,
    /// Since when it has had this status.
    pub since: Option<Timestamp>,
    /// The latest outcome's message.
    pub message: String,
}

/// One notification from the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationLine {
    /// When it was queued.
    pub created_at: Timestamp,
    /// The channel id.
    pub channel: String,
    /// `trigger`, `resolve`, ... from the payload.
    pub event: String,
    /// The payload's title, e.g. `shop/checkout is DOWN`.
    pub title: String,
    /// Outbox state: pending, sent, failed, ...
    pub state: String,
}

/// What the demo breaks now and next.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPanel {
    /// Time since the demo started.
    pub elapsed: Duration,
    /// The fault now, in words.
    pub now: String,
    /// The next fault, in words.
    pub next: String,
    /// Time until the next fault.
    pub next_in: Duration,
}

/// Terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

impl Size {
    /// No limit: the plain, appended output of a pipe.
    pub const UNLIMITED: Size = Size {
        width: usize::MAX,
        height: usize::MAX,
    };
}

/// Whether to colour on this terminal, from the environment.
pub fn colour_from_env() -> bool {
    colour_wanted(
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    )
}

/// Whether to colour: not when `NO_COLOR` is set to anything non-empty
/// (no-color.org), nor on a terminal that says it cannot (`TERM=dumb`).
fn colour_wanted(no_color: Option<&std::ffi::OsStr>, term: Option<&std::ffi::OsStr>) -> bool {
    no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

/// Reads a snapshot from the store; when that fails (the daemon holding a
/// lock too long, a damaged file), a snapshot that says so, and the next
/// redraw tries again.
pub fn snapshot_or_problem(
    config: &keepup_config::Config,
    store: &Store,
    now: Timestamp,
) -> Snapshot {
    snapshot_from_store(config, store, now).unwrap_or_else(|e| Snapshot {
        details: vec![("problem", format!("cannot read the store: {e}"))],
        now,
        ..Snapshot::default()
    })
}

/// Reads a snapshot from the store: `checks` come from the configuration
/// (so checks without a result yet show as pending) and the store's latest
/// results; checks that have results but are no longer configured follow,
/// marked as removed.
fn snapshot_from_store(
    config: &keepup_config::Config,
    store: &Store,
    now: Timestamp,
) -> Result<Snapshot, keepup_store::StoreError> {
    let latest = store.latest()?;
    let find = |id: &str| latest.iter().find(|l| l.meta.id.as_str() == id);
    let mut checks: Vec<CheckLine> = config
        .checks()
        .map(|c| {
            let site = c.id.as_str().split_once('/').map_or("", |(s, _)| s);
            let state = find(c.id.as_str());
            CheckLine {
                site: site.to_owned(),
                name: c.short_id.clone(),
                status: state.map(|l| l.outcome.status),
                since: state.map(|l| l.since),
                message: state.map_or_else(|| "not run yet".to_owned(), short_message),
            }
        })
        .collect();
    for l in latest
        .iter()
        .filter(|l| config.find_check(l.meta.id.as_str()).is_none())
    {
        checks.push(CheckLine {
            site: l.meta.site.clone(),
            name: format!("{} (removed)", l.meta.name),
            status: Some(l.outcome.status),
            since: Some(l.since),
            message: short_message(l),
        });
    }
    let notifications = store
        .outbox(NOTIFICATIONS_SHOWN)?
        .into_iter()
        .map(notification_line)
        .collect();
    Ok(Snapshot {
        now,
        checks,
        incidents: store.open_incidents()?,
        notifications,
        ..Snapshot::default()
    })
}

/// The outcome's message with the code of its worst finding when that is
/// worse than informational, as the demo's plain table shows it.
fn short_message(l: &LatestState) -> String {
    let first_line = l.outcome.message.lines().next().unwrap_or("");
    match l
        .outcome
        .worst_finding()
        .filter(|f| f.severity > keepup_model::Severity::Info)
    {
        Some(f) => format!("{first_line} [{}]", f.code),
        None => first_line.to_owned(),
    }
}

fn notification_line(e: OutboxEntry) -> NotificationLine {
    let payload = serde_json::from_str::<serde_json::Value>(&e.payload).unwrap_or_default();
    let field = |k: &str| payload[k].as_str().unwrap_or("").to_owned();
    NotificationLine {
        created_at: e.created_at,
        channel: e.channel,
        event: field("event"),
        title: field("title"),
        state: e.state.as_str().to_owned(),
    }
}

/// How a piece of text is shown on a colour terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paint {
    Plain,
    Bold,
    Dim,
    Green,
    Yellow,
    Red,
    Grey,
}

impl Paint {
    fn of(status: Option<Status>) -> Paint {
        match status {
            Some(Status::Up) => Paint::Green,
            Some(Status::Degraded) => Paint::Yellow,
            Some(Status::Down) => Paint::Red,
            Some(Status::Unknown) | None => Paint::Grey,
        }
    }

    /// SGR parameters.
    fn sgr(self) -> Option<&'static str> {
        match self {
            Paint::Plain => None,
            Paint::Bold => Some("1"),
            Paint::Dim => Some("2"),
            Paint::Green => Some("32"),
            Paint::Yellow => Some("33"),
            Paint::Red => Some("1;31"),
            Paint::Grey => Some("90"),
        }
    }
}

/// A line as painted pieces, truncated and coloured only at the end.
#[derive(Debug, Default)]
struct Line(Vec<(Paint, String)>);

impl Line {
    fn new() -> Self {
        Line(Vec::new())
    }
    fn text(text: impl Into<String>) -> Self {
        Line::new().plain(text)
    }
    fn plain(self, text: impl Into<String>) -> Self {
        self.with(Paint::Plain, text)
    }
    fn with(mut self, paint: Paint, text: impl Into<String>) -> Self {
        self.0.push((paint, text.into()));
        self
    }

    /// The line cut to `width` cells (with `…` where it was cut), with
    /// colour codes when `colour`.
    fn finish(&self, width: usize, colour: bool) -> String {
        let full: usize = self.0.iter().map(|(_, t)| text_width(t)).sum();
        let budget = if full > width {
            width.saturating_sub(1)
        } else {
            width
        };
        let mut out = String::new();
        let mut used = 0;
        for (paint, text) in &self.0 {
            let mut piece = String::new();
            for c in text.chars() {
                let w = char_width(c);
                if used + w > budget {
                    break;
                }
                used += w;
                piece.push(c);
            }
            match paint.sgr().filter(|_| colour && !piece.is_empty()) {
                Some(sgr) => out.push_str(&format!("\x1b[{sgr}m{piece}\x1b[0m")),
                None => out.push_str(&piece),
            }
            if used >= budget && full > width {
                break;
            }
        }
        if full > width && width > 0 {
            out.push('…');
        }
        out
    }
}

/// Control characters (a message with a tab or an escape from a hostile
/// server) count as one cell: they are replaced before drawing.
fn char_width(c: char) -> usize {
    c.width().unwrap_or(1)
}

fn text_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// Text from outside (messages, titles) with control characters replaced,
/// so that it cannot move the cursor or change colours.
pub(super) fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn pad(s: &str, width: usize) -> String {
    let w = text_width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

fn status_word(status: Option<Status>) -> String {
    status.map_or_else(|| "PENDING".to_owned(), |s| s.as_str().to_uppercase())
}

/// The frame: at most `size.height` lines, none wider than `size.width`.
///
/// The header and the fault panel come first; the checks get the room
/// left after the incident and notification panels have three rows each.
/// When the checks do not fit, each site lists its checks that are not UP
/// and names the others on one line.
pub fn render(s: &Snapshot, size: Size, colour: bool) -> Vec<String> {
    let mut top = vec![Line::new().with(Paint::Bold, s.title.clone())];
    let label_width = s.details.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    for (label, value) in &s.details {
        top.push(
            Line::new()
                .with(Paint::Dim, pad(label, label_width + 2))
                .plain(value.clone()),
        );
    }
    top.push(Line::new().with(Paint::Dim, s.hint.clone()));
    top.push(Line::new());
    if let Some(f) = &s.fault {
        top.push(
            Line::new()
                .with(Paint::Bold, "FAULT NOW  ")
                .plain(f.now.clone())
                .with(Paint::Dim, format!("   (t+{}s)", f.elapsed.as_secs())),
        );
        top.push(Line::new().with(Paint::Bold, "NEXT       ").plain(format!(
            "in {}s: {}",
            f.next_in.as_secs(),
            f.next
        )));
        top.push(Line::new());
    }

    let incidents = incident_lines(s);
    let notifications = notification_lines(s);
    let full_checks = check_lines(s, false);
    let room = size.height.saturating_sub(top.len());
    // Each panel keeps its title and two rows (and a blank line before
    // it) unless the checks would get less than half the room; what is
    // left goes to the panels, incidents first.
    let panels = [incidents, notifications];
    let panel_min = |p: &[Line]| p.len().min(3) + 1;
    let panels_min: usize = panels.iter().map(|p| panel_min(p)).sum();
    let mut checks = if full_checks.len() + panels_min <= room {
        full_checks
    } else {
        check_lines(s, true)
    };
    let check_room = room.saturating_sub(panels_min).max(room / 2);
    if checks.len() > check_room {
        let shown = check_room.saturating_sub(1);
        let hidden = checks.len() - shown;
        checks.truncate(shown);
        checks.push(Line::new().with(
            Paint::Dim,
            format!("  … {hidden} more lines (a taller terminal shows them)"),
        ));
    }
    let mut left = room.saturating_sub(checks.len());
    let mut rows = [0; 2];
    for (k, p) in panels.iter().enumerate() {
        rows[k] = panel_min(p).min(left);
        left -= rows[k];
    }
    for (k, p) in panels.iter().enumerate() {
        let extra = (p.len() + 1).saturating_sub(rows[k]).min(left);
        rows[k] += extra;
        left -= extra;
    }
    let mut shown_panels = Vec::new();
    let commands = ["keepup incidents --open", "keepup notifications"];
    for ((panel, rows), command) in panels.into_iter().zip(rows).zip(commands) {
        // A title without a row would say nothing.
        if rows < 3 && rows != panel.len() + 1 {
            continue;
        }
        shown_panels.push(Line::new());
        let fits = rows - 1;
        let total = panel.len();
        if fits >= total {
            shown_panels.extend(panel);
        } else {
            // The last row says how many are not shown and where they are.
            shown_panels.extend(panel.into_iter().take(fits - 1));
            shown_panels.push(Line::new().with(
                Paint::Dim,
                format!("  … {} more ({command} lists them)", total - fits + 1),
            ));
        }
    }

    top.into_iter()
        .chain(checks)
        .chain(shown_panels)
        .take(size.height)
        .map(|l| l.finish(size.width, colour))
        .collect()
}

/// Checks grouped by site, each site headed by its counts. `compact`
/// lists only the checks that are not UP and names the others.
fn check_lines(s: &Snapshot, compact: bool) -> Vec<Line> {
    let name_width = s
        .checks
        .iter()
        .map(|c| text_width(&c.name))
        .max()
        .unwrap_or(0);
    let since_width = s
        .checks
        .iter()
        .map(|c| c.since.map_or(1, |t| ago(s.now, t).len()))
        .max()
        .unwrap_or(0);
    let mut sites: Vec<&str> = Vec::new();
    for c in &s.checks {
        if !sites.contains(&c.site.as_str()) {
            sites.push(&c.site);
        }
    }
    let mut lines = Vec::new();
    for site in sites {
        let of_site: Vec<&CheckLine> = s.checks.iter().filter(|c| c.site == site).collect();
        let mut head = Line::new().with(Paint::Bold, clean(site));
        for status in [
            Some(Status::Up),
            Some(Status::Degraded),
            Some(Status::Down),
            Some(Status::Unknown),
            None,
        ] {
            let n = of_site.iter().filter(|c| c.status == status).count();
            if n > 0 {
                head = head.plain("  ").with(
                    Paint::of(status),
                    format!("{n} {}", status_word(status).to_lowercase()),
                );
            }
        }
        lines.push(head);
        let mut up = Vec::new();
        for c in of_site {
            if compact && c.status == Some(Status::Up) {
                up.push(c.name.as_str());
                continue;
            }
            let since = c.since.map_or_else(|| "-".to_owned(), |t| ago(s.now, t));
            lines.push(
                Line::text("  ")
                    .plain(pad(&clean(&c.name), name_width + 2))
                    .with(Paint::of(c.status), pad(&status_word(c.status), 10))
                    .with(Paint::Dim, pad(&since, since_width + 2))
                    .plain(clean(&c.message)),
            );
        }
        if !up.is_empty() {
            lines.push(
                Line::text("  ")
                    .with(Paint::Green, format!("UP ({}): ", up.len()))
                    .plain(clean(&up.join(", "))),
            );
        }
    }
    lines
}

fn incident_lines(s: &Snapshot) -> Vec<Line> {
    let mut lines = vec![Line::new().with(
        Paint::Bold,
        format!("OPEN INCIDENTS ({})", s.incidents.len()),
    )];
    if s.incidents.is_empty() {
        lines.push(Line::new().with(Paint::Dim, "  none"));
    }
    // Newest first: the panel may be cut at the bottom.
    for i in s.incidents.iter().rev() {
        let mut line = Line::text(format!("  #{} ", i.id))
            .plain(format!("{} ", clean(i.check.as_str())))
            .with(Paint::of(Some(i.status)), i.status.as_str().to_uppercase())
            .with(Paint::Dim, format!("  opened {}", ago(s.now, i.opened_at)));
        if let Some(cause) = i.cause {
            line = line.with(Paint::Dim, format!(", caused by #{cause}"));
        }
        if let Some(by) = &i.acknowledged_by {
            line = line.with(Paint::Dim, format!(", acknowledged by {}", clean(by)));
        }
        lines.push(line.plain(format!(
            "  {}",
            clean(i.message.lines().next().unwrap_or(""))
        )));
    }
    lines
}

fn notification_lines(s: &Snapshot) -> Vec<Line> {
    let mut lines = vec![Line::new().with(Paint::Bold, "LAST NOTIFICATIONS")];
    if s.notifications.is_empty() {
        lines.push(Line::new().with(Paint::Dim, "  none yet"));
    }
    for n in &s.notifications {
        let state = match n.state.as_str() {
            "sent" => Paint::Green,
            "failed" | "dead" => Paint::Red,
            _ => Paint::Yellow,
        };
        lines.push(
            Line::text("  ")
                .with(Paint::Dim, pad(&ago(s.now, n.created_at), 8))
                .plain(pad(&clean(&n.event.to_uppercase()), 9))
                .plain(format!("{}  ", clean(&n.title)))
                .with(Paint::Dim, format!("{} ", clean(&n.channel)))
                .with(state, clean(&n.state)),
        );
    }
    lines
}

/// `HH:MM:SS UTC` of a timestamp, for the title line.
pub fn clock(now: Timestamp) -> String {
    format_rfc3339(now)
        .get(11..19)
        .map_or_else(String::new, |t| format!("{t} UTC"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepup_model::CheckId;

    const NOW: Timestamp = 1_800_000_000_000;

    fn check(site: &str, name: &str, status: Option<Status>, message: &str) -> CheckLine {
        CheckLine {
            site: site.into(),
            name: name.into(),
            status,
            since: status.map(|_| NOW - 90_000),
            message: message.into(),
        }
    }

    fn incident(id: i64, check: &str, cause: Option<i64>) -> Incident {
        Incident {
            id,
            check: CheckId(check.into()),
            status: Status::Down,
            opened_at: NOW - 30_000,
            detected_at: NOW - 20_000,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            cause,
            suppressed: cause.is_some(),
            maintenance: false,
            message: "HTTP 500".into(),
            findings: vec![],
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            title: "keepup status --watch".into(),
            details: vec![("config", "/etc/keepup/keepup.toml".into())],
            hint: "Ctrl-C quits".into(),
            now: NOW,
            checks: vec![
                check("shop", "home", Some(Status::Up), "HTTP 200 in 12 ms"),
                check("blog", "home", Some(Status::Degraded), "slow: 1.6 s"),
                check("shop", "checkout", Some(Status::Down), "HTTP 500"),
                check("shop", "dns", Some(Status::Unknown), "no answer"),
                check("shop", "nightly", None, "not run yet"),
            ],
            incidents: vec![
                incident(7, "shop/checkout", None),
                incident(8, "shop/cart", Some(7)),
            ],
            notifications: vec![NotificationLine {
                created_at: NOW - 5_000,
                channel: "ops-mail".into(),
                event: "trigger".into(),
                title: "shop/checkout is DOWN".into(),
                state: "sent".into(),
            }],
            fault: None,
        }
    }

    const ROOMY: Size = Size {
        width: 200,
        height: 50,
    };

    fn index_of(lines: &[String], pred: impl Fn(&str) -> bool) -> usize {
        lines
            .iter()
            .position(|l| pred(l))
            .unwrap_or_else(|| panic!("not found in:\n{}", lines.join("\n")))
    }

    #[test]
    fn checks_are_grouped_by_site_in_configuration_order() {
        let lines = render(&snapshot(), ROOMY, false);
        let shop = index_of(&lines, |l| l.starts_with("shop  "));
        let blog = index_of(&lines, |l| l.starts_with("blog  "));
        assert!(shop < blog, "{lines:#?}");
        assert!(
            lines[shop].contains("1 up  1 down  1 unknown  1 pending"),
            "{}",
            lines[shop]
        );
        let rows: Vec<&String> = lines[shop + 1..blog].iter().collect();
        assert_eq!(rows.len(), 4, "{rows:#?}");
        assert!(
            rows[0].starts_with("  home ") && rows[0].contains("UP") && rows[0].contains("90s ago")
        );
        assert!(
            rows[1].starts_with("  checkout")
                && rows[1].contains("DOWN")
                && rows[1].ends_with("HTTP 500")
        );
        assert!(rows[3].contains("PENDING") && rows[3].contains("not run yet"));
        assert!(lines[blog + 1].contains("DEGRADED") && lines[blog + 1].contains("slow: 1.6 s"));
        // The panels: open incidents newest first, with their cause, then
        // the notifications.
        let inc = index_of(&lines, |l| l.starts_with("OPEN INCIDENTS (2)"));
        assert!(
            lines[inc + 1].contains("#8") && lines[inc + 1].contains("caused by #7"),
            "{lines:#?}"
        );
        let notes = index_of(&lines, |l| l == "LAST NOTIFICATIONS");
        assert!(
            lines[notes + 1].contains("TRIGGER")
                && lines[notes + 1].contains("shop/checkout is DOWN")
                && lines[notes + 1].contains("ops-mail sent")
        );
        assert!(
            !lines.iter().any(|l| l.contains("FAULT")),
            "no fault panel outside the demo"
        );
    }

    #[test]
    fn states_are_coloured_only_when_asked() {
        let coloured = render(&snapshot(), ROOMY, true).join("\n");
        assert!(coloured.contains("\x1b[32mUP"), "{coloured}");
        assert!(coloured.contains("\x1b[33mDEGRADED"), "{coloured}");
        assert!(coloured.contains("\x1b[1;31mDOWN"), "{coloured}");
        assert!(coloured.contains("\x1b[90mUNKNOWN"), "{coloured}");
        let plain = render(&snapshot(), ROOMY, false).join("\n");
        assert!(!plain.contains('\x1b'), "{plain}");

        let os = |s: &'static str| Some(std::ffi::OsStr::new(s));
        assert!(colour_wanted(None, os("xterm-256color")));
        assert!(colour_wanted(os(""), None), "an empty NO_COLOR is unset");
        assert!(!colour_wanted(os("1"), os("xterm")));
        assert!(!colour_wanted(None, os("dumb")));
    }

    #[test]
    fn lines_are_cut_to_the_width_with_or_without_colour() {
        let mut s = snapshot();
        s.checks[0].message = "ü".repeat(300) + "界";
        for colour in [false, true] {
            for width in [20, 80, 117] {
                let size = Size { width, height: 50 };
                for line in render(&s, size, colour) {
                    let visible = strip(&line);
                    assert!(text_width(&visible) <= width, "{width}: {visible:?}");
                }
            }
        }
        let lines = render(
            &s,
            Size {
                width: 40,
                height: 50,
            },
            false,
        );
        let home = &lines[index_of(&lines, |l| l.starts_with("  home"))];
        assert!(home.ends_with('…') && text_width(home) == 40, "{home:?}");
        // A control character in a message cannot reach the terminal.
        s.checks[0].message = "evil\x1b[2Jtext".into();
        assert!(!render(&s, ROOMY, false).concat().contains('\x1b'));
    }

    /// The text without SGR sequences.
    fn strip(line: &str) -> String {
        let mut out = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn a_short_terminal_lists_what_is_not_up_and_keeps_the_panels() {
        let mut s = snapshot();
        for i in 0..30 {
            s.checks.push(check(
                "shop",
                &format!("page-{i}"),
                Some(Status::Up),
                "HTTP 200",
            ));
        }
        let size = Size {
            width: 80,
            height: 24,
        };
        let lines = render(&s, size, false);
        assert!(lines.len() <= 24, "{lines:#?}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("  checkout") && l.contains("DOWN"))
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("  UP (31): home, page-0, page-1")),
            "{lines:#?}"
        );
        assert!(
            !lines.iter().any(|l| l.starts_with("  page-3")),
            "UP checks are named, not listed"
        );
        assert!(lines.iter().any(|l| l.starts_with("OPEN INCIDENTS (2)")));
        assert!(lines.iter().any(|l| l.starts_with("LAST NOTIFICATIONS")));

        // Many incidents and many checks not UP: the notifications keep
        // their place below the incidents.
        let mut busy = s.clone();
        for i in 0..10 {
            busy.checks.push(check(
                "shop",
                &format!("down-{i}"),
                Some(Status::Down),
                "no",
            ));
            busy.incidents.push(incident(20 + i, "shop/x", None));
        }
        busy.notifications = [s.notifications.clone(), s.notifications.clone()].concat();
        let lines = render(&busy, size, false);
        assert_eq!(lines.len(), 24, "{lines:#?}");
        let notes = index_of(&lines, |l| l == "LAST NOTIFICATIONS");
        assert_eq!(notes, 21, "{lines:#?}");
        assert_eq!(
            lines[notes - 2],
            "  … 11 more (keepup incidents --open lists them)"
        );
        assert!(
            lines[notes + 2].contains("TRIGGER"),
            "both notifications fit"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("more lines (a taller terminal shows them)"))
        );

        // Tiny: cut, never longer than the screen.
        for height in 0..12 {
            let lines = render(&s, Size { width: 80, height }, true);
            assert!(lines.len() <= height, "{height}: {lines:#?}");
        }
        // With room, every check has its row.
        let lines = render(&s, ROOMY, false);
        assert!(
            lines.iter().any(|l| l.starts_with("  page-29 ")),
            "{lines:#?}"
        );
    }

    #[test]
    fn the_demo_shows_the_fault_now_and_the_next() {
        let mut s = snapshot();
        s.fault = Some(FaultPanel {
            elapsed: Duration::from_secs(25),
            now: "slow product page: shop/product turns DEGRADED".into(),
            next: "checkout answers 500: shop/checkout turns DOWN".into(),
            next_in: Duration::from_secs(10),
        });
        let lines = render(&s, ROOMY, false);
        let at = index_of(&lines, |l| l.starts_with("FAULT NOW"));
        assert!(lines[at].contains("slow product page") && lines[at].contains("t+25s"));
        assert!(
            lines[at + 1].starts_with("NEXT")
                && lines[at + 1].contains("in 10s: checkout answers 500")
        );
        assert!(at < index_of(&lines, |l| l.starts_with("shop  ")));
    }

    /// Each fault's description, now and next, is shown whole on 80
    /// columns, with or without the demo's browser check.
    #[test]
    fn every_demo_fault_fits_on_eighty_columns() {
        let last_second = keepup_demo::CYCLE - Duration::from_secs(1);
        let seconds = (0..keepup_demo::CYCLE.as_secs()).map(Duration::from_secs);
        for fault in seconds.map(keepup_demo::fault_at) {
            for quick_add in [false, true] {
                let mut s = snapshot();
                s.fault = Some(FaultPanel {
                    elapsed: last_second,
                    now: fault.describe(quick_add).into(),
                    next: fault.describe(quick_add).into(),
                    next_in: Duration::from_secs(20),
                });
                let size = Size {
                    width: 80,
                    height: 24,
                };
                let lines = render(&s, size, false);
                let at = index_of(&lines, |l| l.starts_with("FAULT NOW"));
                let elapsed = format!("(t+{}s)", last_second.as_secs());
                assert!(lines[at].ends_with(&elapsed), "{}", lines[at]);
                assert!(
                    lines[at + 1].ends_with(fault.describe(quick_add)),
                    "{}",
                    lines[at + 1]
                );
            }
        }
    }
}
