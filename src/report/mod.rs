//! Report writers: rows in, `devices.json` / `.csv` / `.xlsx` and the
//! console out. Files are written under temporary names and renamed into
//! place only when every format is complete, so a failed run never leaves a
//! report that looks whole. The writers know nothing about Dropbox; only
//! `login_prompt` speaks for the login flow (`dropbox::auth::prompt`).

pub mod cells;
pub mod console;
pub mod csv;
pub mod extras;
pub mod filter;
pub mod html;
pub mod json;
pub mod login_prompt;
pub mod messages;
pub mod open;
pub mod progress;
pub mod watch;
pub mod xlsx;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::domain::history::{HistoryRow, HISTORY_COLUMNS};
use crate::domain::row::{Layout, Row};
use filter::RowFilter;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("cannot write report {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot write report {path}: {detail}")]
    Xlsx { path: PathBuf, detail: String },
    #[error(transparent)]
    Filter(#[from] json::FilterFailure),
}

/// Which files a run writes. `-budget-memory low` means JSON only, as tbx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    pub json: bool,
    pub csv: bool,
    pub xlsx: bool,
}

impl Formats {
    pub const ALL: Formats = Formats {
        json: true,
        csv: true,
        xlsx: true,
    };
    pub const JSON_ONLY: Formats = Formats {
        json: true,
        csv: false,
        xlsx: false,
    };
}

/// A file being written: its temporary path and the name it gets when done.
/// Reports still under their temporary names. Dropping them (an error
/// returned, or a panic unwinding) deletes the files, so nothing
/// half-written is left beside finished reports.
struct Unfinished(Vec<Pending>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(&p.temp);
        }
    }
}

#[derive(Clone)]
pub(crate) struct Pending {
    pub temp: PathBuf,
    pub target: PathBuf,
}

impl Pending {
    pub(crate) fn new(dir: &Path, file_name: &str) -> Self {
        Self {
            temp: dir.join(format!(".{file_name}.partial")),
            target: dir.join(file_name),
        }
    }

    pub(crate) fn create(&self) -> Result<BufWriter<File>, ReportError> {
        File::create(&self.temp)
            .map(BufWriter::new)
            .map_err(|source| self.io_error(source))
    }

    pub(crate) fn io_error(&self, source: io::Error) -> ReportError {
        ReportError::Io {
            path: self.target.clone(),
            source,
        }
    }
}

/// Everything one run writes.
pub struct ReportSet<'a> {
    /// `devices`.
    pub name: &'a str,
    pub rows: &'a [Row],
    /// `-output-filter`, for the JSON report.
    pub filter: Option<&'a RowFilter>,
    pub formats: Formats,
    pub layout: Layout,
    /// Finished text files: (file name, content).
    pub extras: &'a [(String, String)],
    pub history: Option<&'a [HistoryRow]>,
}

/// Writes `rows` as `<name>.csv|json|xlsx` into `dir` (the JSON through
/// `-output-filter` when given), then each of `extras` (file name, content),
/// and returns the final paths: tbx's (csv, json, xlsx) first.
pub fn write_reports(dir: &Path, set: &ReportSet<'_>) -> Result<Vec<PathBuf>, ReportError> {
    let mut unfinished = Unfinished(Vec::new());
    let pending = &mut unfinished.0;
    let mut result = write_all(dir, set, pending);
    if let (Ok(()), Some(history)) = (&result, set.history) {
        result = write_history(dir, history, set.formats, pending);
    }
    for (file_name, content) in set.extras {
        if result.is_ok() {
            result = write_text_file(dir, file_name, pending, |out| {
                out.write_all(content.as_bytes()).map_err(ReportError::from)
            });
        }
    }
    result?;
    let written = std::mem::take(pending);
    let mut done = Vec::with_capacity(written.len());
    for p in written {
        std::fs::rename(&p.temp, &p.target).map_err(|source| p.io_error(source))?;
        done.push(p.target);
    }
    Ok(done)
}

/// Writes one streamed file under its temporary name, registered in
/// `pending` before it is created so an error or a panic removes it.
fn write_text_file(
    dir: &Path,
    file_name: &str,
    pending: &mut Vec<Pending>,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let p = Pending::new(dir, file_name);
    pending.push(p.clone());
    let result = p.create().and_then(|mut out| {
        write(&mut out)?;
        out.flush().map_err(|e| p.io_error(e))
    });
    result.map_err(|e| match e {
        ReportError::Io { source, .. } => p.io_error(source),
        other => other,
    })
}

impl From<io::Error> for ReportError {
    fn from(source: io::Error) -> Self {
        // The path is filled in by `write_text_file`.
        ReportError::Io {
            path: PathBuf::new(),
            source,
        }
    }
}

/// `history.csv|json|xlsx`: every change, oldest first.
fn write_history(
    dir: &Path,
    rows: &[HistoryRow],
    formats: Formats,
    pending: &mut Vec<Pending>,
) -> Result<(), ReportError> {
    if formats.csv {
        write_text_file(dir, "history.csv", pending, |out| {
            csv::write_table(out, &HISTORY_COLUMNS, rows, &cells::history_cells)
                .map_err(ReportError::from)
        })?;
    }
    if formats.json {
        write_text_file(dir, "history.json", pending, |out| {
            for row in rows {
                let object = json::Object {
                    keys: &HISTORY_COLUMNS,
                    values: cells::history_cells(row),
                };
                serde_json::to_writer(&mut *out, &object).map_err(io::Error::from)?;
                out.write_all(b"\n")?;
            }
            Ok(())
        })?;
    }
    if formats.xlsx {
        xlsx::write_xlsx(
            dir,
            "history",
            &HISTORY_COLUMNS,
            rows,
            &cells::history_cells,
            pending,
        )?;
    }
    Ok(())
}

fn write_all(
    dir: &Path,
    set: &ReportSet<'_>,
    pending: &mut Vec<Pending>,
) -> Result<(), ReportError> {
    let ReportSet {
        name,
        rows,
        filter,
        formats,
        layout,
        ..
    } = *set;
    if formats.csv {
        write_text_file(dir, &format!("{name}.csv"), pending, |out| {
            csv::write_csv(out, rows, layout).map_err(ReportError::from)
        })?;
    }
    if formats.json {
        write_text_file(dir, &format!("{name}.json"), pending, |out| {
            json::write_json_lines(out, rows, filter, layout).map_err(|e| match e {
                json::JsonError::Io(e) => ReportError::from(e),
                json::JsonError::Filter(f) => ReportError::Filter(f),
            })
        })?;
    }
    if formats.xlsx {
        let headers = layout.headers();
        let columns = layout.columns();
        xlsx::write_xlsx(
            dir,
            name,
            &headers,
            rows,
            &|r: &Row| cells::row_cells(r, &columns),
            pending,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_writing_removes_the_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let pending = Pending::new(dir.path(), "devices.csv");
        std::fs::write(&pending.temp, "half a report").unwrap();
        let temp = pending.temp.clone();
        let outcome = std::panic::catch_unwind(move || {
            let _unfinished = Unfinished(vec![pending]);
            panic!("a bug in a writer");
        });
        assert!(outcome.is_err());
        assert!(!temp.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_writer_that_panics_mid_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut unfinished = Unfinished(Vec::new());
            let _ = write_text_file(dir.path(), "devices.csv", &mut unfinished.0, |out| {
                out.write_all(b"half a report")?;
                out.flush()?;
                panic!("a bug in a writer");
            });
        }));
        assert!(outcome.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
