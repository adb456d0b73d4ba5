//! What a maintenance window covers: everything, a site, a check or every
//! check carrying a tag. This is the one place that decides "does window W
//! cover check C", for windows in the configuration and windows started by
//! hand alike; a window started by hand is stored as the text form
//! ([`MaintenanceScope::parse`] reads it back).

use crate::CheckId;
use std::fmt;

/// The prefix of a tag scope's text form (`tag:db`). Site and check ids
/// cannot contain `:`, so the forms never collide.
pub const TAG_PREFIX: &str = "tag:";

/// What a maintenance window covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MaintenanceScope {
    /// Every check (`*`).
    Everything,
    /// Every check of a site (its id).
    Site(String),
    /// One check (`site/check`).
    Check(CheckId),
    /// Every check carrying the tag, itself or through its site (`tag:NAME`).
    Tag(String),
}

impl MaintenanceScope {
    /// Reads the text form: `*`, `tag:NAME`, `site/check` or a site id.
    /// Whether the site, check or tag exists is the configuration's
    /// question.
    pub fn parse(text: &str) -> Self {
        if text == "*" {
            Self::Everything
        } else if let Some(tag) = text.strip_prefix(TAG_PREFIX) {
            Self::Tag(tag.to_owned())
        } else if text.contains('/') {
            Self::Check(CheckId(text.to_owned()))
        } else {
            Self::Site(text.to_owned())
        }
    }

    /// Whether it covers `check`; `carries_tag` answers whether the check
    /// or its site carries a tag.
    pub fn covers(&self, check: &CheckId, carries_tag: impl FnOnce(&str) -> bool) -> bool {
        match self {
            Self::Everything => true,
            Self::Site(site) => check.site() == site,
            Self::Check(id) => id == check,
            Self::Tag(tag) => carries_tag(tag),
        }
    }

    /// Words for listings: "everything", "site shop", "shop/web",
    /// "checks tagged db".
    pub fn describe(&self) -> String {
        match self {
            Self::Everything => "everything".into(),
            Self::Site(site) => format!("site {site}"),
            Self::Check(id) => id.to_string(),
            Self::Tag(tag) => format!("checks tagged {tag}"),
        }
    }
}

/// The text form [`MaintenanceScope::parse`] reads.
impl fmt::Display for MaintenanceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Everything => f.write_str("*"),
            Self::Site(site) => f.write_str(site),
            Self::Check(id) => f.write_str(id.as_str()),
            Self::Tag(tag) => write!(f, "{TAG_PREFIX}{tag}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_reads_back_and_covers_what_it_names() {
        let web = CheckId::new("shop", "web");
        let tagged = |t: &str| t == "db";
        for (text, scope, covers_web) in [
            ("*", MaintenanceScope::Everything, true),
            ("shop", MaintenanceScope::Site("shop".into()), true),
            ("sho", MaintenanceScope::Site("sho".into()), false),
            ("shop/web", MaintenanceScope::Check(web.clone()), true),
            (
                "shop/api",
                MaintenanceScope::Check(CheckId::new("shop", "api")),
                false,
            ),
            ("tag:db", MaintenanceScope::Tag("db".into()), true),
            ("tag:dns", MaintenanceScope::Tag("dns".into()), false),
        ] {
            assert_eq!(MaintenanceScope::parse(text), scope, "{text}");
            assert_eq!(scope.to_string(), text);
            assert_eq!(scope.covers(&web, tagged), covers_web, "{text}");
        }
        assert_eq!(
            MaintenanceScope::parse("tag:db").describe(),
            "checks tagged db"
        );
    }
}
