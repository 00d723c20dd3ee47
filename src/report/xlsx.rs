//! XLSX reports (`devices.xlsx`, `history.xlsx`): a sheet named after the
//! report, a styled and frozen header with an autofilter, fitted column
//! widths, every cell a string (never a formula). Over `CHUNK_ROWS` rows a
//! report is split into `<name>_0000.xlsx`, `<name>_0001.xlsx`, … each with
//! its own header, as tbx does.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;

use rust_xlsxwriter::{Color, Format, FormatBorder, Workbook, Worksheet, XlsxError};

use super::{Pending, ReportError};
use crate::job::crash;

pub const CHUNK_ROWS: usize = 10_000;
/// tbx's header colour.
const THEME: u32 = 0x548235;
/// Excel's limit for one cell, in UTF-16 units.
const MAX_CELL_UTF16: usize = 32_767;
const MAX_COLUMN_WIDTH: usize = 60;

/// The cells of one row, in header order.
pub(crate) type Cells<'f, T> = &'f dyn for<'a> Fn(&'a T) -> Vec<Cow<'a, str>>;

pub(crate) fn write_xlsx<T>(
    dir: &Path,
    name: &str,
    headers: &[&str],
    rows: &[T],
    cells: Cells<'_, T>,
    pending: &mut Vec<Pending>,
) -> Result<(), ReportError> {
    // Each file is registered before it is written, so an error or a panic
    // removes it.
    if rows.len() <= CHUNK_ROWS {
        let p = Pending::new(dir, &format!("{name}.xlsx"));
        pending.push(p.clone());
        return write_chunk(&p, name, headers, rows, cells);
    }
    for (index, chunk) in rows.chunks(CHUNK_ROWS).enumerate() {
        let p = Pending::new(dir, &format!("{name}_{index:04}.xlsx"));
        pending.push(p.clone());
        write_chunk(&p, name, headers, chunk, cells)?;
    }
    Ok(())
}

/// rust_xlsxwriter writes constant-memory rows to a temporary file with
/// `expect`: a full disk panics inside the crate instead of returning an
/// error. Caught here, it becomes the error it should have been, naming the
/// report; the workbook and its temporary files are dropped on the way.
fn write_chunk<T>(
    pending: &Pending,
    sheet_name: &str,
    headers: &[&str],
    rows: &[T],
    cells: Cells<'_, T>,
) -> Result<(), ReportError> {
    let build = || build_chunk(pending, sheet_name, headers, rows, cells);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(build)).unwrap_or_else(|payload| {
        Err(ReportError::Xlsx {
            path: pending.target.clone(),
            detail: panic_detail(&crash::payload_text(&*payload)),
        })
    })
}

/// The crate's panic reads `Couldn't write to xml file: Os { code: 28,
/// kind: StorageFull, message: "No space left on device" }`; people get
/// the OS's words.
fn panic_detail(text: &str) -> String {
    let os_message = text
        .split_once("message: \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(message, _)| message);
    match os_message {
        Some(message) => format!("{message} (while writing the sheet's temporary file)"),
        None => text.to_string(),
    }
}

fn build_chunk<T>(
    pending: &Pending,
    sheet_name: &str,
    headers: &[&str],
    rows: &[T],
    cells: Cells<'_, T>,
) -> Result<(), ReportError> {
    let xlsx_error = |e: XlsxError| ReportError::Xlsx {
        path: pending.target.clone(),
        detail: e.to_string(),
    };
    let mut workbook = Workbook::new();
    // Constant-memory sheets spill rows to temporary files; beside the
    // report they need no system temp folder (a minimal container may have
    // no /tmp, and a small tmpfs would cap the report size).
    if let Some(dir) = pending.temp.parent() {
        workbook.set_tempdir(dir).map_err(xlsx_error)?;
    }
    let sheet = workbook
        .add_worksheet_with_constant_memory()
        .map_err(xlsx_error)?;
    sheet.set_name(sheet_name).map_err(xlsx_error)?;
    fill_sheet(sheet, headers, rows, cells).map_err(xlsx_error)?;
    // Zipped in memory (a chunk's file is at most a few MB), then written
    // here: a write error is then ours to report, whereas the zip writer,
    // saving to the file itself, prints a second error from its drop.
    let bytes = workbook.save_to_buffer().map_err(xlsx_error)?;
    let mut out = pending.create()?;
    out.write_all(&bytes)
        .and_then(|()| out.flush())
        .map_err(|e| pending.io_error(e))
}

fn fill_sheet<T>(
    sheet: &mut Worksheet,
    headers: &[&str],
    rows: &[T],
    cells: Cells<'_, T>,
) -> Result<(), XlsxError> {
    let header_format = Format::new()
        .set_bold()
        .set_font_color(Color::White)
        .set_background_color(Color::RGB(THEME))
        .set_border(FormatBorder::Thin);
    let data_format = Format::new()
        .set_border(FormatBorder::Thin)
        .set_border_color(Color::RGB(THEME));
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for (col, header) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *header, &header_format)?;
    }
    for (index, row) in rows.iter().enumerate() {
        let row_number = index as u32 + 1;
        for (col, value) in cells(row).iter().enumerate() {
            let value = clip_to_cell(value);
            widths[col] = widths[col].max(value.chars().count().min(MAX_COLUMN_WIDTH));
            // write_string_with_format: always a string cell, never a formula.
            sheet.write_string_with_format(row_number, col as u16, value, &data_format)?;
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, rows.len() as u32, headers.len() as u16 - 1)?;
    for (col, width) in widths.iter().enumerate() {
        sheet.set_column_width(col as u16, *width as f64 + 2.0)?;
    }
    Ok(())
}

/// Cuts a value to Excel's cell limit at a character boundary.
fn clip_to_cell(value: &str) -> &str {
    let mut units = 0;
    for (i, c) in value.char_indices() {
        units += c.len_utf16();
        if units > MAX_CELL_UTF16 {
            return &value[..i];
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crates_write_panic_reads_as_the_os_error() {
        let text = "Couldn't write to xml file: Os { code: 28, kind: StorageFull, \
                    message: \"No space left on device\" }";
        assert_eq!(
            panic_detail(text),
            "No space left on device (while writing the sheet's temporary file)"
        );
        assert_eq!(panic_detail("something else"), "something else");
    }

    #[test]
    fn clip_keeps_short_values_and_cuts_long_ones_on_char_boundaries() {
        assert_eq!(clip_to_cell("abc"), "abc");
        let long = "日".repeat(40_000);
        let clipped = clip_to_cell(&long);
        assert_eq!(clipped.chars().count(), MAX_CELL_UTF16);
    }
}
