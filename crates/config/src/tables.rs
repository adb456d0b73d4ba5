//! Arrays of tables (`[[channel]]`, `[[backup]]`, `[[maintenance]]`, the
//! routing lists): one loader for their shape, so that each section reports
//! a wrong shape and a repeated id the same way.

use std::collections::HashSet;

use toml::Spanned;
use toml::de::DeValue;

use crate::load::Loader;

/// One table of an array of tables, with its path (`channel[2]`).
pub(crate) type Item<'a> = (String, Spanned<DeValue<'a>>);

impl Loader<'_> {
    /// The tables of the array `[[key]]` with their paths (`key[i]`); a
    /// value that is not an array is reported with `hint` (e.g. "write each
    /// channel as [[channel]]") and gives none.
    pub(crate) fn array_of_tables<'a>(
        &mut self,
        value: Spanned<DeValue<'a>>,
        key: &str,
        hint: &str,
    ) -> Vec<Item<'a>> {
        let span = value.span();
        let DeValue::Array(items) = value.into_inner() else {
            self.rep.report(
                span,
                key,
                format!("`{key}` must be an array of tables"),
                Some(hint.into()),
            );
            return Vec::new();
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| (format!("{key}[{i}]"), item))
            .collect()
    }

    /// [`array_of_tables`](Self::array_of_tables) whose tables have unique
    /// `id`s: a table that repeats an earlier id is reported as "`what` id
    /// "x" is used twice" and left out. Ids are compared as written, so that
    /// a duplicate is found even when one of the two has other problems.
    pub(crate) fn array_of_tables_with_ids<'a>(
        &mut self,
        value: Spanned<DeValue<'a>>,
        key: &str,
        hint: &str,
        what: &str,
    ) -> Vec<Item<'a>> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut unique = Vec::new();
        for (path, item) in self.array_of_tables(value, key, hint) {
            let id = match item.get_ref() {
                DeValue::Table(t) => t.get("id").and_then(|v| match v.get_ref() {
                    DeValue::String(s) => Some((s.to_string(), v.span())),
                    _ => None,
                }),
                _ => None,
            };
            if let Some((id, span)) = id
                && !seen.insert(id.clone())
            {
                self.rep.report(
                    span,
                    &format!("{path}.id"),
                    format!("{what} id {id:?} is used twice"),
                    None,
                );
                continue;
            }
            unique.push((path, item));
        }
        unique
    }
}
