//! `[[status_page]]`: public status pages, each a named list of components
//! that the shop's customers read (no login), at `/status/<slug>` or at
//! `/` of its own `domain`.
//!
//! A component is a name over checks: those listed in `checks` (`site/check`,
//! or a check id unique across sites), every check of the `sites` listed and
//! every check carrying one of the `tags`, informational checks left out
//! when they come from a site or tag. Its state is the worst of its checks'.
//! Everything is resolved here, so that a page never names a check that
//! does not exist; a component that resolves to no check is refused.
//!
//! The logo is read at load (so a page never reads the disk), limited to
//! [`MAX_LOGO_BYTES`], and must be PNG, JPEG or SVG by its content, not by
//! its name.

use crate::diag::closest;
use crate::load::{Loader, valid_id};
use crate::spec::Site;
use keepup_model::CheckId;
use serde::Deserialize;
use std::collections::{BTreeSet, HashSet};
use std::ops::Range;
use std::sync::Arc;
use toml::Spanned;
use toml::de::DeValue;

/// Largest logo file accepted.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;
/// Longest title or component name, in characters.
const MAX_NAME: usize = 200;
/// Longest description, in characters.
const MAX_DESCRIPTION: usize = 2_000;
/// Most components on one page (each gets a 90-day bar).
const MAX_COMPONENTS: usize = 100;

/// One `[[status_page]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusPage {
    /// Unique, URL-safe: `/status/<slug>`.
    pub slug: String,
    /// Heading and `<title>`.
    pub title: String,
    /// A paragraph under the heading (may be empty).
    pub description: String,
    /// Shown beside the title.
    pub logo: Option<Logo>,
    /// Host name (lower case, no port) whose `/` serves this page.
    pub domain: Option<String>,
    /// Which incidents the page lists.
    pub public_incidents: PublicIncidents,
    /// Whether check names, messages and findings may be shown; false by
    /// default: only component names, states and public texts.
    pub show_details: bool,
    /// In the order written.
    pub components: Vec<Component>,
}

impl StatusPage {
    /// Every check the page shows, once.
    pub fn checks(&self) -> BTreeSet<&CheckId> {
        self.components.iter().flat_map(|c| &c.checks).collect()
    }
}

/// A logo read at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    /// The file's bytes.
    pub bytes: Arc<[u8]>,
    /// `image/png`, `image/jpeg` or `image/svg+xml`, from the content.
    pub content_type: &'static str,
}

/// A named part of the shop, as its customers know it.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Shown on the page (unique on its page).
    pub name: String,
    /// The checks whose worst state is its state, in configuration order.
    pub checks: Vec<CheckId>,
}

/// `public_incidents`: which incidents a page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PublicIncidents {
    /// Every incident of the page's checks (default).
    #[default]
    All,
    /// Only incidents an operator posted a public update for; the others
    /// show only as the components' states.
    Components,
    /// None: only the components' states.
    None,
}

impl PublicIncidents {
    /// The name as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            PublicIncidents::All => "all",
            PublicIncidents::Components => "components",
            PublicIncidents::None => "none",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatusPage {
    slug: Spanned<String>,
    title: Spanned<String>,
    description: Option<Spanned<String>>,
    logo: Option<Spanned<String>>,
    domain: Option<Spanned<String>>,
    public_incidents: Option<Spanned<String>>,
    #[serde(default)]
    show_details: bool,
    #[serde(default)]
    component: Vec<Spanned<RawComponent>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    name: Spanned<String>,
    #[serde(default)]
    checks: Vec<Spanned<String>>,
    #[serde(default)]
    sites: Vec<Spanned<String>>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
}

/// The media type of a logo, from its first bytes.
fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return Some("image/jpeg");
    }
    // SVG is text: an optional BOM, XML declaration, comments or doctype,
    // then the root element.
    let mut rest = std::str::from_utf8(bytes)
        .ok()?
        .trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        let close = if rest.starts_with("<?") {
            "?>"
        } else if rest.starts_with("<!--") {
            "-->"
        } else if rest.starts_with("<!") {
            ">"
        } else {
            break;
        };
        rest = &rest[rest.find(close)? + close.len()..];
    }
    let after = rest.strip_prefix("<svg")?;
    after
        .starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .then_some("image/svg+xml")
}

impl Loader<'_> {
    pub(crate) fn status_pages(
        &mut self,
        value: Spanned<DeValue<'_>>,
        sites: &[Site],
    ) -> Vec<StatusPage> {
        let items = self.array_of_tables(
            value,
            "status_page",
            "write each status page as [[status_page]]",
        );
        let mut pages: Vec<StatusPage> = Vec::new();
        let mut slugs = HashSet::new();
        let mut domains = HashSet::new();
        for (path, item) in items {
            let span = item.span();
            let Some(raw) = self.deserialize::<RawStatusPage>(item, &path, &[]) else {
                continue;
            };
            if !slugs.insert(raw.slug.get_ref().clone()) {
                self.rep.report(
                    raw.slug.span(),
                    &format!("{path}.slug"),
                    format!("status page slug {:?} is used twice", raw.slug.get_ref()),
                    None,
                );
                continue;
            }
            if let Some(d) = &raw.domain
                && !domains.insert(d.get_ref().to_ascii_lowercase())
            {
                self.rep.report(
                    d.span(),
                    &format!("{path}.domain"),
                    format!(
                        "domain {:?} serves another status page already",
                        d.get_ref()
                    ),
                    None,
                );
                continue;
            }
            if let Some(page) = self.one_status_page(raw, &path, span, sites) {
                pages.push(page);
            }
        }
        pages
    }

    fn one_status_page(
        &mut self,
        raw: RawStatusPage,
        path: &str,
        span: Range<usize>,
        sites: &[Site],
    ) -> Option<StatusPage> {
        let mut ok = true;
        if !valid_id(raw.slug.get_ref()) {
            self.rep.report(
                raw.slug.span(),
                &format!("{path}.slug"),
                format!("slug {:?} is not valid", raw.slug.get_ref()),
                Some("use lowercase letters, digits, '-' and '_' (at most 64)".into()),
            );
            ok = false;
        }
        ok &= self.bounded_text(&raw.title, &format!("{path}.title"), MAX_NAME);
        if let Some(d) = &raw.description {
            ok &= self.bounded_text(d, &format!("{path}.description"), MAX_DESCRIPTION);
        }
        let domain = raw.domain.as_ref().and_then(|d| {
            let host = self.host(d, &format!("{path}.domain"));
            ok &= host.is_some();
            host.map(|h| h.to_ascii_lowercase())
        });
        let public_incidents = match &raw.public_incidents {
            None => PublicIncidents::All,
            Some(p) => match p.get_ref().as_str() {
                "all" => PublicIncidents::All,
                "components" => PublicIncidents::Components,
                "none" => PublicIncidents::None,
                other => {
                    self.rep.report(
                        p.span(),
                        &format!("{path}.public_incidents"),
                        format!("{other:?} is not one of \"all\", \"components\", \"none\""),
                        None,
                    );
                    ok = false;
                    PublicIncidents::All
                }
            },
        };
        let logo = raw.logo.as_ref().and_then(|l| {
            let logo = self.logo(l, &format!("{path}.logo"));
            ok &= logo.is_some();
            logo
        });
        if raw.component.is_empty() {
            self.rep.report(
                span.clone(),
                path,
                "a status page needs at least one [[status_page.component]]",
                Some("name a component and its checks, sites or tags".into()),
            );
            ok = false;
        }
        if raw.component.len() > MAX_COMPONENTS {
            self.rep.report(
                span,
                &format!("{path}.component"),
                format!(
                    "{} components, at most {MAX_COMPONENTS} on one page",
                    raw.component.len()
                ),
                None,
            );
            ok = false;
        }
        let mut names = HashSet::new();
        let mut components = Vec::new();
        for (i, c) in raw.component.iter().enumerate() {
            let cpath = format!("{path}.component[{i}]");
            let c_span = c.span();
            let c = c.get_ref();
            if !self.bounded_text(&c.name, &format!("{cpath}.name"), MAX_NAME) {
                ok = false;
            } else if !names.insert(c.name.get_ref().trim().to_owned()) {
                self.rep.report(
                    c.name.span(),
                    &format!("{cpath}.name"),
                    format!("component {:?} is on this page twice", c.name.get_ref()),
                    None,
                );
                ok = false;
            }
            match self.component_checks(c, &cpath, c_span, sites) {
                Some(checks) => components.push(Component {
                    name: c.name.get_ref().trim().to_owned(),
                    checks,
                }),
                None => ok = false,
            }
        }
        ok.then(|| StatusPage {
            slug: raw.slug.into_inner(),
            title: raw.title.into_inner().trim().to_owned(),
            description: raw
                .description
                .map(|d| d.into_inner().trim().to_owned())
                .unwrap_or_default(),
            logo,
            domain,
            public_incidents,
            show_details: raw.show_details,
            components,
        })
    }

    /// A text that is neither blank nor longer than `max` characters.
    fn bounded_text(&mut self, text: &Spanned<String>, key: &str, max: usize) -> bool {
        let chars = text.get_ref().trim().chars().count();
        let problem = if chars == 0 {
            "must not be empty".to_owned()
        } else if chars > max {
            format!("{chars} characters, at most {max}")
        } else {
            return true;
        };
        self.rep.report(text.span(), key, problem, None);
        false
    }

    fn logo(&mut self, file: &Spanned<String>, key: &str) -> Option<Logo> {
        let path = self.resolve_path(file.get_ref());
        let bytes = match read_bounded(&path, MAX_LOGO_BYTES) {
            Ok(b) => b,
            Err(why) => {
                self.rep.report(
                    file.span(),
                    key,
                    format!("cannot use {}: {why}", path.display()),
                    None,
                );
                return None;
            }
        };
        let Some(content_type) = sniff_image(&bytes) else {
            self.rep.report(
                file.span(),
                key,
                format!("{} is not a PNG, JPEG or SVG image", path.display()),
                None,
            );
            return None;
        };
        Some(Logo {
            bytes: bytes.into(),
            content_type,
        })
    }

    /// The checks a component names, in configuration order, or None after
    /// reporting what does not exist or that nothing was named.
    fn component_checks(
        &mut self,
        c: &RawComponent,
        path: &str,
        span: Range<usize>,
        sites: &[Site],
    ) -> Option<Vec<CheckId>> {
        let mut ok = true;
        let mut wanted: HashSet<CheckId> = HashSet::new();
        let all = || sites.iter().flat_map(|s| s.checks.iter());
        for (i, id) in c.checks.iter().enumerate() {
            let text = id.get_ref();
            let found: Vec<&CheckId> = all()
                .filter(|ch| ch.id.as_str() == text || ch.short_id == *text)
                .map(|ch| &ch.id)
                .collect();
            match found.as_slice() {
                [one] => {
                    wanted.insert((*one).clone());
                }
                [] => {
                    let hint = closest(text, all().map(|ch| ch.id.as_str()))
                        .map(|h| format!("did you mean \"{h}\"?"));
                    self.rep.report(
                        id.span(),
                        &format!("{path}.checks[{i}]"),
                        format!("no check {text:?}"),
                        hint,
                    );
                    ok = false;
                }
                _ => {
                    self.rep.report(
                        id.span(),
                        &format!("{path}.checks[{i}]"),
                        format!("check id {text:?} is in several sites"),
                        Some("write it as site/check".into()),
                    );
                    ok = false;
                }
            }
        }
        for (i, site) in c.sites.iter().enumerate() {
            match sites.iter().find(|s| &s.id == site.get_ref()) {
                Some(s) => wanted.extend(
                    s.checks
                        .iter()
                        .filter(|ch| !ch.spec.is_informational())
                        .map(|ch| ch.id.clone()),
                ),
                None => {
                    let hint = closest(site.get_ref(), sites.iter().map(|s| s.id.as_str()))
                        .map(|h| format!("did you mean \"{h}\"?"));
                    self.rep.report(
                        site.span(),
                        &format!("{path}.sites[{i}]"),
                        format!("no site {:?}", site.get_ref()),
                        hint,
                    );
                    ok = false;
                }
            }
        }
        for (i, tag) in c.tags.iter().enumerate() {
            let tagged: Vec<CheckId> = all()
                .filter(|ch| !ch.spec.is_informational() && ch.tags.contains(tag.get_ref()))
                .map(|ch| ch.id.clone())
                .collect();
            if tagged.is_empty() {
                self.rep.report(
                    tag.span(),
                    &format!("{path}.tags[{i}]"),
                    format!("no check is tagged {:?}", tag.get_ref()),
                    None,
                );
                ok = false;
            }
            wanted.extend(tagged);
        }
        if ok && wanted.is_empty() {
            self.rep.report(
                span,
                path,
                "the component names no check",
                Some("give it `checks`, `sites` or `tags`".into()),
            );
            ok = false;
        }
        ok.then(|| {
            all()
                .filter(|ch| wanted.contains(&ch.id))
                .map(|ch| ch.id.clone())
                .collect()
        })
    }
}

/// Reads at most `max` bytes of `path`, refusing a longer file.
fn read_bounded(path: &std::path::Path, max: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() > max {
        return Err(format!("larger than {} KiB", max / 1024));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_content() {
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff_image(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(
            sniff_image(b"<?xml version=\"1.0\"?>\n<!-- logo -->\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            Some("image/svg+xml")
        );
        assert_eq!(sniff_image(b"<html><svg/></html>"), None);
        assert_eq!(sniff_image(b"GIF89a"), None);
        assert_eq!(sniff_image(b"hello <svg"), None);
    }
}
