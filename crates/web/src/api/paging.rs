//! Opaque paging cursors.
//!
//! A list answers at most `limit` items and, when more may follow, a
//! `next_cursor` to pass back as `cursor`. The cursor names the last item
//! of the page (a check id, a result's time, an incident's opening time
//! and number, an outbox entry's number), never an offset, so a page does
//! not shift when items are added while a client walks the list. It is
//! hex so that it travels in a URL as it is; clients must not build one.

use super::error::ApiError;

/// Which list a cursor belongs to: a cursor of one list is refused by
/// another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// `/checks`: the last check id.
    Checks,
    /// `/checks/{id}/results` and `/backups/{plan}/runs`: the last time.
    Results,
    /// `/incidents`: the last opening time and number.
    Incidents,
    /// `/notifications`: the last outbox number.
    Notifications,
}

impl List {
    fn tag(self) -> &'static str {
        match self {
            List::Checks => "c",
            List::Results => "r",
            List::Incidents => "i",
            List::Notifications => "n",
        }
    }
}

/// The cursor after an item whose position in `list` is `position`.
pub fn encode(list: List, position: &str) -> String {
    let text = format!("{}:{position}", list.tag());
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The position a `cursor` parameter names in `list`.
pub fn decode(list: List, cursor: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::bad("cursor", "not a cursor this list gave");
    if !cursor.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| {
            cursor
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix(list.tag())
        .and_then(|rest| rest.strip_prefix(':'))
        .map(str::to_owned)
        .ok_or_else(invalid)
}

/// A cursor whose position is a number (a time or an outbox number).
pub fn decode_number(list: List, cursor: &str) -> Result<i64, ApiError> {
    decode(list, cursor)?
        .parse()
        .map_err(|_| ApiError::bad("cursor", "not a cursor this list gave"))
}

/// A cursor whose position is two numbers (time and number).
pub fn decode_pair(list: List, cursor: &str) -> Result<(i64, i64), ApiError> {
    let text = decode(list, cursor)?;
    text.split_once(':')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| ApiError::bad("cursor", "not a cursor this list gave"))
}

/// Cuts `rows`, read with one more than `limit` to tell whether another
/// page follows, to the page, and gives the cursor after its last row
/// (`position` says where a row is in `list`) when one does.
pub fn page<T>(
    mut rows: Vec<T>,
    limit: usize,
    list: List,
    position: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = match (more, rows.last()) {
        (true, Some(last)) => Some(encode(list, &position(last))),
        _ => None,
    };
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_belong_to_one_list() {
        let c = encode(List::Checks, "shop/web");
        assert!(c.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(decode(List::Checks, &c).unwrap(), "shop/web");
        assert!(decode(List::Incidents, &c).is_err());
        let i = encode(List::Incidents, "1700:42");
        assert_eq!(decode_pair(List::Incidents, &i).unwrap(), (1700, 42));
        assert!(decode_number(List::Results, "zz").is_err());
        assert!(decode_number(List::Results, "abc").is_err());
    }
}
