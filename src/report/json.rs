//! `devices.json` and the JSON on stdout: one line per row, keys in tbx's
//! order; with `-output-filter`, the filter's output lines instead.

use std::io::{self, Write};

use thiserror::Error;

use super::filter::RowFilter;
use crate::domain::row::Row;

#[derive(Debug, Error)]
#[error("-output-filter failed on the row of session {session_id}: {message}")]
pub struct FilterFailure {
    pub session_id: String,
    pub message: String,
}

/// The JSON lines of the report: each row as an object, or what the filter
/// makes of it (a string raw, anything else compact JSON, none for `empty`).
pub fn json_lines(rows: &[Row], filter: Option<&RowFilter>) -> Result<Vec<String>, FilterFailure> {
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        match filter {
            None => lines.push(serde_json::to_string(row).unwrap_or_default()),
            Some(filter) => {
                let value = serde_json::to_value(row).unwrap_or_default();
                let out = filter.apply(&value).map_err(|message| FilterFailure {
                    session_id: row.session_info_session_id.clone(),
                    message,
                })?;
                lines.extend(out);
            }
        }
    }
    Ok(lines)
}

pub fn write_lines(out: &mut impl Write, lines: &[String]) -> io::Result<()> {
    for line in lines {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_row_is_named_by_its_session() {
        let rows = vec![Row {
            session_info_session_id: "dbdsid:1".into(),
            ..Default::default()
        }];
        let filter = RowFilter::compile(".timestamp + 1").unwrap();
        let err = json_lines(&rows, Some(&filter)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("-output-filter failed on the row of session dbdsid:1: "),
            "{err}"
        );
    }
}
