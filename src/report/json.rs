//! `devices.json`: one line per row, keys in tbx's order; with
//! `-output-filter`, the filter's output lines instead. Written as the rows
//! are read, never held whole in memory.

use std::borrow::Cow;
use std::io::{self, Write};

use serde::ser::{Serialize, SerializeMap, Serializer};
use thiserror::Error;

use super::cells::text;
use super::filter::{FilterError, RowFilter};
use crate::domain::row::{Column, Layout, Row};

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

/// A JSON object of string values, keys in the order given (tbx's).
pub(crate) struct Object<'a> {
    pub keys: &'a [&'a str],
    pub values: Vec<Cow<'a, str>>,
}

impl Serialize for Object<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.keys.len()))?;
        for (key, value) in self.keys.iter().zip(&self.values) {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// A row as `devices.json` has it: the layout's JSON columns as keys, every
/// value a string.
struct JsonRow<'a> {
    row: &'a Row,
    columns: &'a [Column],
}

impl Serialize for JsonRow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.columns.len()))?;
        for &column in self.columns {
            map.serialize_entry(column.name(), &text(self.row.value(column)))?;
        }
        map.end()
    }
}

/// One line of `devices.json` for `row` (without the newline).
pub fn row_json(row: &Row, layout: Layout) -> String {
    let columns = layout.json_columns();
    let object = JsonRow {
        row,
        columns: &columns,
    };
    serde_json::to_string(&object).unwrap_or_default()
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
    let columns = layout.json_columns();
    for row in rows {
        let object = JsonRow {
            row,
            columns: &columns,
        };
        serde_json::to_writer(&mut *out, &object).map_err(io::Error::from)?;
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
    // As the unfiltered report writes them.
    let columns = layout.json_columns();
    let texts = rows.iter().map(|row| {
        let object = JsonRow {
            row,
            columns: &columns,
        };
        serde_json::to_string(&object).unwrap_or_default()
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
                .map_or("?", |r| r.device.session_id())
                .to_string(),
            message,
        }
        .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::row::{RowSpec, COLUMNS};

    #[test]
    fn json_keys_follow_tbx_column_order() {
        let row = RowSpec::default().build();
        let text = row_json(&row, Layout::default());
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, COLUMNS);
        let positions: Vec<usize> = COLUMNS.iter().map(|c| text.find(c).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.ends_with(r#""timestamp":"","latest_status":"no_status_update"}"#));
    }

    #[test]
    fn the_linked_column_comes_last_as_a_string() {
        let row = RowSpec {
            unlinked: true,
            ..Default::default()
        }
        .build();
        let layout = Layout {
            linked: true,
            ..Default::default()
        };
        assert!(row_json(&row, layout)
            .ends_with(r#""latest_status":"no_status_update","linked":"false"}"#));
        let mut out = Vec::new();
        write_json_lines(&mut out, &[row], None, layout).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            row_json(
                &RowSpec {
                    unlinked: true,
                    ..Default::default()
                }
                .build(),
                layout
            ) + "\n"
        );
    }
}
