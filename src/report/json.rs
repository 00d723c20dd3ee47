//! `devices.json`: one line per row, keys in tbx's order; with
//! `-output-filter`, the filter's output lines instead. Written as the rows
//! are read, never held whole in memory.

use std::io::{self, Write};

use thiserror::Error;

use super::filter::{FilterError, RowFilter};
use crate::domain::row::{col, Layout, Row};

/// `-output-filter` failed: on one row (named by its session), or as a
/// whole (its process could not run).
#[derive(Debug, Error)]
pub enum FilterFailure {
    #[error("-output-filter failed on the row of session {session_id}: {message}")]
    Row { session_id: String, message: String },
    #[error("-output-filter: {0}")]
    Worker(String),
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
    if let Some(filter) = filter {
        return write_filtered(out, rows, filter, layout);
    }
    for row in rows {
        if layout.linked {
            serde_json::to_writer(&mut *out, &row.to_json(layout)).map_err(io::Error::from)?;
        } else {
            serde_json::to_writer(&mut *out, row).map_err(io::Error::from)?;
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The rows through the filter's worker process (see `filter`).
fn write_filtered(
    out: &mut impl Write,
    rows: &[Row],
    filter: &RowFilter,
    layout: Layout,
) -> Result<(), JsonError> {
    // As the unfiltered report writes them: a row serialises itself unless
    // the `linked` column is added.
    let texts = rows.iter().map(|row| match layout.linked {
        false => serde_json::to_string(row).unwrap_or_else(|_| row.to_json(layout).to_string()),
        true => row.to_json(layout).to_string(),
    });
    let result = filter.run_rows(texts, |line| {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")
    });
    result.map_err(|e| match e {
        FilterError::Io(e) => JsonError::Io(e),
        FilterError::Worker(message) => FilterFailure::Worker(message).into(),
        FilterError::Row { index, message } => FilterFailure::Row {
            session_id: rows
                .get(index)
                .map_or("?", |r| r.get(col::SESSION_ID))
                .to_string(),
            message,
        }
        .into(),
    })
}
