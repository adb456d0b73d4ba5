//! Shared by the SLA tests: contracts loaded by the real configuration
//! loader, and timelines written as local times.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use keepup_config::contract::Contract;
use keepup_model::{CheckId, Status, Timestamp};
use keepup_sla::{CheckTimeline, Span};
use std::path::Path;

/// The site `shop` with the tcp checks `web`, `web1`, `web2`, `checkout`
/// and `payment`, and `contract` after it; the loaded contract.
pub fn contract(contract: &str) -> Contract {
    let mut src = String::from("[[site]]\nid = \"shop\"\n");
    for (i, id) in ["web", "web1", "web2", "checkout", "payment"]
        .iter()
        .enumerate()
    {
        src.push_str(&format!(
            "[[site.check]]\nid = \"{id}\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {}\n",
            8080 + i
        ));
    }
    src.push_str(contract);
    match keepup_config::load_str(&src, Path::new("keepup.toml")) {
        Ok(mut c) => c.contracts.remove(0),
        Err(p) => panic!("{p}\n{src}"),
    }
}

/// `"2026-11-03T10:00:00Z"` (or with an offset) in ms.
pub fn at(s: &str) -> Timestamp {
    s.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .as_millisecond()
}

pub fn check(id: &str) -> CheckId {
    CheckId::new("shop", id)
}

/// `check` is Up over `[from, to)` except in `changes` (ordered, not
/// overlapping), where it has the given status (`None`: no data).
pub fn up_except(
    id: &str,
    from: Timestamp,
    to: Timestamp,
    changes: &[(Timestamp, Timestamp, Option<Status>)],
) -> CheckTimeline {
    let mut spans = Vec::new();
    let mut t = from;
    for &(a, b, status) in changes {
        if t < a {
            spans.push(Span {
                from: t,
                to: a,
                status: Some(Status::Up),
            });
        }
        if status.is_some() {
            spans.push(Span {
                from: a,
                to: b,
                status,
            });
        }
        t = b;
    }
    if t < to {
        spans.push(Span {
            from: t,
            to,
            status: Some(Status::Up),
        });
    }
    CheckTimeline {
        check: check(id),
        spans,
    }
}

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 60 * MINUTE;
