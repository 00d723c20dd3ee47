//! The watch's output: one JSON line per alerting change on stdout (the
//! keys of `history.json`, then `event_id`), or what `-output-filter`
//! makes of it. Raw bytes into a pipe; control characters shown as
//! symbols on a terminal, as the status command's JSON output does.

use std::borrow::Cow;
use std::io::{self, Write};

use super::cells::history_cells;
use super::console::sanitize_lines;
use super::filter::{FilterError, RowFilter};
use super::json::Object;
use crate::domain::history::{HistoryRow, HISTORY_COLUMNS};

/// The keys of a change line: the history report's, then `event_id`.
pub const CHANGE_KEYS: [&str; 11] = [
    HISTORY_COLUMNS[0],
    HISTORY_COLUMNS[1],
    HISTORY_COLUMNS[2],
    HISTORY_COLUMNS[3],
    HISTORY_COLUMNS[4],
    HISTORY_COLUMNS[5],
    HISTORY_COLUMNS[6],
    HISTORY_COLUMNS[7],
    HISTORY_COLUMNS[8],
    HISTORY_COLUMNS[9],
    "event_id",
];

/// A change as one JSON object (no newline).
pub fn change_line(row: &HistoryRow, event_id: &str) -> String {
    let mut values = history_cells(row);
    values.push(Cow::Borrowed(event_id));
    let object = Object {
        keys: &CHANGE_KEYS,
        values,
    };
    serde_json::to_string(&object).unwrap_or_default()
}

/// Writes `lines` (JSON objects) to `out`, through `filter` when there is
/// one. A filter that fails leaves the lines unfiltered: an alert is never
/// lost to a filter; the error comes back for the log.
pub fn write_change_lines(
    out: &mut impl Write,
    lines: &[String],
    filter: Option<&RowFilter>,
    terminal: bool,
) -> io::Result<Option<String>> {
    let mut emit = |line: &str| -> io::Result<()> {
        if terminal {
            out.write_all(sanitize_lines(line).as_bytes())?;
        } else {
            out.write_all(line.as_bytes())?;
        }
        out.write_all(b"\n")
    };
    let Some(filter) = filter else {
        for line in lines {
            emit(line)?;
        }
        return Ok(None);
    };
    let mut written = 0;
    let result = filter.run_rows(lines.iter().cloned(), |line| {
        written += 1;
        emit(line)
    });
    // The changes the filter did not get through go out as they are.
    let (unfiltered_from, why) = match result {
        Ok(()) => return Ok(None),
        Err(FilterError::Io(e)) => return Err(e),
        Err(FilterError::Row { index, message }) => (
            index,
            format!("-output-filter failed on change {}: {message}", index + 1),
        ),
        // Where the worker stopped is unknown once it has written.
        Err(FilterError::Worker(message)) => (
            if written == 0 { 0 } else { lines.len() },
            format!("-output-filter: {message}"),
        ),
    };
    for line in lines.iter().skip(unfiltered_from) {
        emit(line)?;
    }
    Ok(Some(why))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::period::parse_dropbox_time;
    use crate::domain::row::Owner;
    use crate::domain::status::BackupStatus;

    #[test]
    fn a_change_line_has_the_history_keys_then_the_event_id() {
        let row = HistoryRow {
            timestamp: parse_dropbox_time("2026-12-01T10:02:03Z").unwrap(),
            session_id: "dbdsid:1".into(),
            host_name: "PC\u{1b}[31m".into(),
            owner: Arc::new(Owner::default()),
            previous: BackupStatus::from_tag(""),
            new: BackupStatus::Disabled,
            actor_type: "user".into(),
            actor_email: String::new(),
            actor_name: String::new(),
        };
        let line = change_line(&row, "00000000000000ff");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, CHANGE_KEYS);
        assert_eq!(value["new_status"], "disabled");
        assert_eq!(value["event_id"], "00000000000000ff");
        let mut out = Vec::new();
        write_change_lines(&mut out, std::slice::from_ref(&line), None, true).unwrap();
        assert!(!out.contains(&0x1b), "no escape byte on a terminal");
        let mut out = Vec::new();
        write_change_lines(&mut out, std::slice::from_ref(&line), None, false).unwrap();
        assert_eq!(out, format!("{line}\n").into_bytes());
    }
}
