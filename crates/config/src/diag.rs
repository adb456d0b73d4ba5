//! Diagnostics: every configuration problem with `file:line:col`, the key
//! it concerns and, where we can guess, a hint.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// Dotted path of the offending key, e.g. `site[0].check[2].timeout`.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when we can tell (e.g. the closest valid key).
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.col)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// All problems of one load. Loading fails with this when it is not empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Collects problems against one source text, turning byte spans into
/// line and column.
pub(crate) struct Reporter<'a> {
    file: &'a Path,
    src: &'a str,
    pub(crate) problems: Vec<(usize, Problem)>,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(file: &'a Path, src: &'a str) -> Self {
        Self {
            file,
            src,
            problems: Vec::new(),
        }
    }

    pub(crate) fn report(
        &mut self,
        span: Range<usize>,
        key: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let (line, col) = line_col(self.src, span.start);
        self.problems.push((
            span.start,
            Problem {
                file: self.file.to_path_buf(),
                line,
                col,
                key: key.to_owned(),
                message: message.into(),
                hint,
            },
        ));
    }

    /// The source text the spans point into.
    pub(crate) fn source(&self) -> &'a str {
        self.src
    }

    pub(crate) fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// How many problems were reported so far (a section compares it
    /// before and after to know whether it added any).
    pub(crate) fn count(&self) -> usize {
        self.problems.len()
    }

    /// The problems in file order, each reported once.
    pub(crate) fn finish(mut self) -> Problems {
        self.problems.sort_by_key(|(pos, _)| *pos);
        self.problems.dedup_by(|a, b| a.1 == b.1);
        Problems(self.problems.into_iter().map(|(_, p)| p).collect())
    }
}

/// 1-based line and character column of a byte offset.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// The candidate closest to `wrong`, if it is close enough to be a likely
/// typo.
pub(crate) fn closest<'c>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(wrong, c), c))
        .filter(|(score, _)| *score >= 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        // 'é' is two bytes but one column
        assert_eq!(line_col(src, 10), (2, 4));
    }

    #[test]
    fn closest_key_is_suggested_only_when_close() {
        let keys = ["interval", "timeout", "url"];
        assert_eq!(closest("intervall", keys), Some("interval"));
        assert_eq!(closest("timout", keys), Some("timeout"));
        assert_eq!(closest("zzzzzz", keys), None);
    }
}
