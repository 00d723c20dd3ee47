//! `devices.csv`: UTF-8, the visible columns, RFC 4180 quoting, and cells
//! defanged against formula injection (host names are user-controlled).

use std::borrow::Cow;
use std::io::{self, Write};

use super::cells::row_cells;
use crate::domain::row::{Layout, Row};

/// Prefixes `'` to a value a spreadsheet would read as a formula. RFC 4180
/// quoting alone does not stop `=HYPERLINK(...)` from being evaluated.
pub fn defang(value: &str) -> Cow<'_, str> {
    match value.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{value}")),
        _ => Cow::Borrowed(value),
    }
}

pub fn write_csv(out: &mut impl Write, rows: &[Row], layout: Layout) -> io::Result<()> {
    let headers = layout.headers();
    let columns = layout.columns();
    write_table(out, &headers, rows, &|r: &Row| row_cells(r, &columns))
}

/// Any table: the header, then each row's cells, defanged.
pub fn write_table<T>(
    out: &mut impl Write,
    headers: &[&str],
    rows: &[T],
    cells: &dyn for<'a> Fn(&'a T) -> Vec<Cow<'a, str>>,
) -> io::Result<()> {
    let mut writer = ::csv::WriterBuilder::new().from_writer(out);
    writer.write_record(headers).map_err(io::Error::other)?;
    for row in rows {
        let cells = cells(row);
        let defanged: Vec<Cow<'_, str>> = cells.iter().map(|v| defang(v)).collect();
        writer
            .write_record(defanged.iter().map(|v| v.as_bytes()))
            .map_err(io::Error::other)?;
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::row::RowSpec;

    fn csv_of(rows: &[Row]) -> String {
        let mut out = Vec::new();
        write_csv(&mut out, rows, Layout::default()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formula_starts_get_a_leading_quote() {
        for v in ["=1+1", "+81 3", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(defang(v), format!("'{v}"), "{v:?}");
        }
        for v in ["plain", "", "a=b", " =x", "日本"] {
            assert_eq!(defang(v), v, "{v:?}");
        }
    }

    #[test]
    fn header_is_the_ten_visible_columns() {
        let text = csv_of(&[]);
        assert_eq!(
            text,
            "actor_user_email,actor_user_display_name,session_info_ip_address,\
session_info_host_name,session_info_updated,session_info_client_type,\
session_info_client_version,session_info_platform,timestamp,latest_status\n"
        );
    }

    #[test]
    fn hostile_values_are_quoted_per_rfc4180() {
        let row = RowSpec {
            email: "a@example.com",
            host: "Bob's \"PC\", 2nd\nfloor",
            platform: "=HYPERLINK(\"http://x\",\"y\")",
            status: Some("enabled"),
            ..Default::default()
        }
        .build();
        let text = csv_of(&[row]);
        let line = text.split_once('\n').unwrap().1;
        assert!(line.contains("\"Bob's \"\"PC\"\", 2nd\nfloor\""), "{line}");
        assert!(
            line.contains("\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""),
            "{line}"
        );
        let mut reader = ::csv::Reader::from_reader(text.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[3], "Bob's \"PC\", 2nd\nfloor");
        assert_eq!(&record[7], "'=HYPERLINK(\"http://x\",\"y\")");
    }
}
