//! Performance data as the Nagios plugin guidelines write it:
//! `'label'=value[UOM];[warn];[crit];[min];[max]`, items separated by
//! spaces, a label quoted with `'` when it holds spaces (a quote inside it
//! doubled), trailing empty fields left out, `U` for a value the plugin
//! could not determine. [`split_output`] finds the items in a plugin's
//! output, on its first line after `|` and on the lines after the long
//! output's own `|`.

use serde::Serialize;

/// At most this many items are kept from one run.
pub const MAX_ITEMS: usize = 256;

/// The units of measure the guidelines define, and the byte and time
/// units plugins print beside them.
const UNITS: &[&str] = &[
    "", "s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB", "c",
];

/// One performance data item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerfItem {
    /// Its label, unquoted.
    pub label: String,
    /// Its value in `uom`; `None` when the plugin wrote `U` (undetermined).
    pub value: Option<f64>,
    /// Its unit of measure as written (`""` for a plain number).
    pub uom: String,
    /// The warning range, as written (`10`, `10:20`, `@5:`, `~:3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warn: Option<String>,
    /// The critical range, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crit: Option<String>,
    /// The smallest value possible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The largest value possible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl PerfItem {
    /// The value in milliseconds when it is a time (`s`, `ms`, `us`).
    pub fn as_millis(&self) -> Option<f64> {
        let value = self.value?;
        match self.uom.as_str() {
            "s" => Some(value * 1000.0),
            "ms" => Some(value),
            "us" => Some(value / 1000.0),
            _ => None,
        }
    }
}

/// A plugin's output taken apart.
#[derive(Debug, Default, PartialEq)]
pub struct PluginOutput<'a> {
    /// The first line before its `|`, trimmed: the plugin's verdict.
    pub summary: &'a str,
    /// The lines after the first, up to the `|` that starts the long
    /// output's performance data.
    pub long_output: Vec<&'a str>,
    /// Every piece of text that holds performance data, in order.
    pub perf_text: Vec<&'a str>,
}

/// Splits `text` into the summary, the long output and the performance
/// data text, as the guidelines lay out a plugin's output.
pub fn split_output(text: &str) -> PluginOutput<'_> {
    let mut lines = text.lines();
    let mut out = PluginOutput::default();
    let first = lines.next().unwrap_or_default();
    match first.split_once('|') {
        Some((summary, perf)) => {
            out.summary = summary.trim();
            out.perf_text.push(perf);
        }
        None => out.summary = first.trim(),
    }
    let mut in_perf = false;
    for line in lines {
        if in_perf {
            out.perf_text.push(line);
        } else if let Some((text, perf)) = line.split_once('|') {
            if !text.trim().is_empty() {
                out.long_output.push(text.trim_end());
            }
            out.perf_text.push(perf);
            in_perf = true;
        } else {
            out.long_output.push(line.trim_end());
        }
    }
    out
}

/// Parses every item of `text`; what cannot be read is returned as the
/// piece of text and why, to be reported, and the rest is still read.
pub fn parse(text: &str) -> (Vec<PerfItem>, Vec<(String, String)>) {
    let mut items = Vec::new();
    let mut bad = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let (piece, after) = next_piece(rest);
        rest = after.trim_start();
        match parse_item(piece) {
            Ok(item) => items.push(item),
            Err(why) => bad.push((piece.to_owned(), why)),
        }
    }
    (items, bad)
}

/// The next whitespace-separated piece of `text`, a quoted label kept
/// whole, and what follows it.
fn next_piece(text: &str) -> (&str, &str) {
    let mut quoted = false;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' if i == 0 => quoted = true,
            '\'' if quoted => {
                if chars.peek().map(|&(_, n)| n) == Some('\'') {
                    chars.next();
                } else {
                    quoted = false;
                }
            }
            c if c.is_whitespace() && !quoted => return (&text[..i], &text[i..]),
            _ => {}
        }
    }
    (text, "")
}

fn parse_item(piece: &str) -> Result<PerfItem, String> {
    let (label, data) = if let Some(quoted) = piece.strip_prefix('\'') {
        let close = find_closing_quote(quoted).ok_or("the label's quote is not closed")?;
        let label = quoted[..close].replace("''", "'");
        let data = quoted[close + 1..]
            .strip_prefix('=')
            .ok_or("no '=' after the label")?;
        (label, data)
    } else {
        let (label, data) = piece.split_once('=').ok_or("no '=' in the item")?;
        (label.to_owned(), data)
    };
    if label.is_empty() {
        return Err("the label is empty".into());
    }
    let mut fields = data.split(';');
    let value_field = fields.next().unwrap_or_default();
    let (value, uom) = if let Some(uom) = value_field.strip_prefix('U') {
        (None, uom)
    } else {
        let end = value_field
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
            .unwrap_or(value_field.len());
        let number = value_field[..end]
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("the value {:?} is not a number", &value_field[..end]))?;
        (Some(number), &value_field[end..])
    };
    if !UNITS.contains(&uom) {
        return Err(format!("unknown unit of measure {uom:?}"));
    }
    let range = |f: Option<&str>| f.filter(|s| !s.is_empty()).map(str::to_owned);
    let number = |f: Option<&str>, what: &str| -> Result<Option<f64>, String> {
        match f.filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Some)
                .ok_or_else(|| format!("the {what} {s:?} is not a number")),
        }
    };
    let warn = range(fields.next());
    let crit = range(fields.next());
    let min = number(fields.next(), "minimum")?;
    let max = number(fields.next(), "maximum")?;
    Ok(PerfItem {
        label,
        value,
        uom: uom.to_owned(),
        warn,
        crit,
        min,
        max,
    })
}

/// The index of the quote that ends a quoted label (`''` is a quote
/// inside it).
fn find_closing_quote(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guidelines_multi_line_example_is_taken_apart() {
        let text = "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n\
                    / 15272 MB (77%);\n\
                    /boot 68 MB (69%);\n\
                    /var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n\
                    /home=69357MB;253404;253409;0;253414\n\
                    /var/log=818MB;970;975;0;980\n";
        let out = split_output(text);
        assert_eq!(out.summary, "DISK OK - free space: / 3326 MB (56%);");
        assert_eq!(
            out.long_output,
            vec![
                "/ 15272 MB (77%);",
                "/boot 68 MB (69%);",
                "/var/log 819 MB (84%);"
            ]
        );
        let (items, bad) = parse(&out.perf_text.join(" "));
        assert!(bad.is_empty(), "{bad:?}");
        let labels: Vec<&str> = items.iter().map(|i| i.label.as_str()).collect();
        assert_eq!(labels, vec!["/", "/boot", "/home", "/var/log"]);
        assert_eq!(
            items[2],
            PerfItem {
                label: "/home".into(),
                value: Some(69357.0),
                uom: "MB".into(),
                warn: Some("253404".into()),
                crit: Some("253409".into()),
                min: Some(0.0),
                max: Some(253414.0),
            }
        );
    }

    #[test]
    fn quoted_labels_ranges_undetermined_values_and_left_out_fields() {
        let (items, bad) =
            parse("'in use''s time'=0.25s;@1:2;~:5 'free'=U% rta=1.5ms;;;0 count=3c;;");
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(items[0].label, "in use's time");
        assert_eq!(items[0].as_millis(), Some(250.0));
        assert_eq!(items[0].warn.as_deref(), Some("@1:2"));
        assert_eq!(items[0].crit.as_deref(), Some("~:5"));
        assert_eq!(items[1].value, None);
        assert_eq!(items[1].uom, "%");
        assert_eq!(items[2].as_millis(), Some(1.5));
        assert_eq!(items[2].min, Some(0.0));
        assert_eq!(items[3].uom, "c");
        assert_eq!(items[3].warn, None);
    }

    #[test]
    fn broken_items_are_named_and_the_others_still_read() {
        // A quote that never closes takes the rest of the line with it.
        let (items, bad) = parse("a=1 b g=5 'c=2 d=x");
        let labels: Vec<&str> = items.iter().map(|i| i.label.as_str()).collect();
        assert_eq!(labels, vec!["a", "g"]);
        let pieces: Vec<&str> = bad.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(pieces, vec!["b", "'c=2 d=x"]);
        let (_, bad) = parse("d=x e=3furlongs f=4;;;zero");
        let why: Vec<&str> = bad.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(
            why,
            vec![
                "the value \"\" is not a number",
                "unknown unit of measure \"furlongs\"",
                "the minimum \"zero\" is not a number"
            ]
        );
    }

    #[test]
    fn output_without_perfdata_or_at_all() {
        let out = split_output("OK: all fine\nsecond line\n");
        assert_eq!(out.summary, "OK: all fine");
        assert_eq!(out.long_output, vec!["second line"]);
        assert!(out.perf_text.is_empty());
        assert_eq!(split_output(""), PluginOutput::default());
    }
}
