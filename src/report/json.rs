//! `devices.json`: one line per row, keys in tbx's order; with
//! `-output-filter`, the filter's output lines instead. Written as the rows
//! are read, never held whole in memory.

use std::io::{self, Write};

use thiserror::Error;

use super::filter::RowFilter;
use crate::domain::row::{col, Layout, Row};

#[derive(Debug, Error)]
#[error("-output-filter failed on the row of session {session_id}: {message}")]
pub struct FilterFailure {
    pub session_id: String,
    pub message: String,
}

#[derive(Debug, Error)]
pub enum JsonError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Filter(#[from] FilterFailure),
}

/// Writes each row as an object, or what the filter makes of it (a string
/// raw, anything else compact JSON, nothing for `empty`), one per line.
pub fn write_json_lines(
    out: &mut impl Write,
    rows: &[Row],
    filter: Option<&RowFilter>,
    layout: Layout,
) -> Result<(), JsonError> {
    for row in rows {
        match filter {
            None if !layout.linked => {
                serde_json::to_writer(&mut *out, row).map_err(io::Error::from)?;
                out.write_all(b"\n")?;
            }
            None => {
                serde_json::to_writer(&mut *out, &row.to_json(layout)).map_err(io::Error::from)?;
                out.write_all(b"\n")?;
            }
            Some(filter) => {
                let value = row.to_json(layout);
                let lines = filter.apply(&value).map_err(|message| FilterFailure {
                    session_id: row.get(col::SESSION_ID).to_string(),
                    message,
                })?;
                for line in lines {
                    out.write_all(line.as_bytes())?;
                    out.write_all(b"\n")?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_row_is_named_by_its_session() {
        let rows = vec![Row::default().with(col::SESSION_ID, "dbdsid:1")];
        let filter = RowFilter::compile(".timestamp + 1").unwrap();
        let err =
            write_json_lines(&mut Vec::new(), &rows, Some(&filter), Layout::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("-output-filter failed on the row of session dbdsid:1: "),
            "{err}"
        );
    }
}
