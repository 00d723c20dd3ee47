//! Report writers: rows in, `devices.json` / `.csv` / `.xlsx` and the
//! console out. Files are written under temporary names and renamed into
//! place only when every format is complete, so a failed run never leaves a
//! report that looks whole. The writers know nothing about Dropbox.

pub mod console;
pub mod csv;
pub mod filter;
pub mod json;
pub mod xlsx;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::domain::row::Row;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("cannot write report {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot write report {path}: {detail}")]
    Xlsx { path: PathBuf, detail: String },
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

/// Writes `rows` as `<name>.csv|xlsx` and `json_lines` (the rows, or what
/// `-output-filter` made of them) as `<name>.json` into `dir`, and returns
/// the final paths in the order tbx lists them (csv, json, xlsx).
pub fn write_reports(
    dir: &Path,
    name: &str,
    rows: &[Row],
    json_lines: &[String],
    formats: Formats,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut pending = Vec::new();
    let result = write_all(dir, name, rows, json_lines, formats, &mut pending);
    if let Err(e) = result {
        for p in &pending {
            let _ = std::fs::remove_file(&p.temp);
        }
        return Err(e);
    }
    let mut done = Vec::with_capacity(pending.len());
    for p in pending {
        std::fs::rename(&p.temp, &p.target).map_err(|source| p.io_error(source))?;
        done.push(p.target);
    }
    Ok(done)
}

/// Writes one streamed file under its temporary name, registered in
/// `pending` first so a failure cleans it up.
fn write_text_file(
    dir: &Path,
    file_name: &str,
    pending: &mut Vec<Pending>,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), ReportError> {
    let p = Pending::new(dir, file_name);
    let mut out = p.create()?;
    let result = write(&mut out).and_then(|()| out.flush());
    let outcome = result.map_err(|e| p.io_error(e));
    pending.push(p);
    outcome
}

fn write_all(
    dir: &Path,
    name: &str,
    rows: &[Row],
    json_lines: &[String],
    formats: Formats,
    pending: &mut Vec<Pending>,
) -> Result<(), ReportError> {
    if formats.csv {
        write_text_file(dir, &format!("{name}.csv"), pending, |out| {
            csv::write_csv(out, rows)
        })?;
    }
    if formats.json {
        write_text_file(dir, &format!("{name}.json"), pending, |out| {
            json::write_lines(out, json_lines)
        })?;
    }
    if formats.xlsx {
        xlsx::write_xlsx(dir, name, rows, pending)?;
    }
    Ok(())
}
