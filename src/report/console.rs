//! What a person (or a script) sees on the terminal: the run header, a
//! progress line per step, a table of the first rows, and the report paths
//! last. Values are sanitised: a host name can carry newlines or terminal
//! escape sequences, and none of them reach the terminal raw.

use std::io::{self, Write};
use std::path::PathBuf;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::domain::row::{visible_columns, Row};

/// At most this many rows are shown on the console; the files hold all.
pub const TABLE_ROWS: usize = 500;
const MAX_CELL_WIDTH: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    Text,
    Markdown,
    Json,
    None,
}

pub struct Console {
    mode: OutputMode,
    quiet: bool,
}

impl Console {
    /// `-quiet` turns the text modes into JSON lines (machine-readable),
    /// as tbx documents it; `-output none` stays silent.
    pub fn new(mode: OutputMode, quiet: bool) -> Self {
        let mode = match mode {
            OutputMode::Text | OutputMode::Markdown if quiet => OutputMode::Json,
            other => other,
        };
        Self { mode, quiet }
    }

    pub fn mode(&self) -> OutputMode {
        self.mode
    }

    fn is_human(&self) -> bool {
        matches!(self.mode, OutputMode::Text | OutputMode::Markdown)
    }

    /// The run header (text modes only).
    pub fn header(&self, lines: &[String]) {
        if self.is_human() {
            let mut out = io::stdout().lock();
            for line in lines {
                let _ = writeln!(out, "{}", sanitize(line));
            }
            let _ = writeln!(out);
        }
    }

    /// One progress line: on stdout with the table in text modes, on stderr
    /// when stdout belongs to the data, never with `-quiet`.
    pub fn progress(&self, line: &str) {
        if self.quiet {
            return;
        }
        let line = sanitize(line);
        if self.is_human() {
            let _ = writeln!(io::stdout().lock(), "{line}");
        } else {
            let _ = writeln!(io::stderr().lock(), "{line}");
        }
    }

    /// A warning is shown whatever the mode, on stderr.
    pub fn warn(&self, line: &str) {
        let _ = writeln!(io::stderr().lock(), "Warning: {}", sanitize(line));
    }

    pub fn rows(&self, rows: &[Row]) {
        let mut out = io::stdout().lock();
        let _ = match self.mode {
            OutputMode::Text => write_text_table(&mut out, rows),
            OutputMode::Markdown => write_markdown_table(&mut out, rows),
            OutputMode::Json => crate::report::json::write_json_lines(&mut out, rows),
            OutputMode::None => Ok(()),
        };
        let _ = out.flush();
    }

    /// The report paths, last, as the tbx documentation promises.
    pub fn report_paths(&self, paths: &[PathBuf]) {
        if self.is_human() {
            let mut out = io::stdout().lock();
            for path in paths {
                let _ = writeln!(out, "The report generated: {}", path.display());
            }
        }
    }
}

/// Replaces control characters (newlines, ESC, C1 controls) and bidi
/// overrides with visible escapes so values cannot reshape the terminal.
pub fn sanitize(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

fn fit(value: &str, width: usize) -> String {
    let clean = sanitize(value);
    if clean.width() <= width {
        return clean;
    }
    let mut out = String::new();
    let mut used = 0;
    for c in clean.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

fn table_cells(rows: &[Row]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let headers: Vec<&str> = visible_columns().map(|(_, n)| n).collect();
    let cells = rows
        .iter()
        .take(TABLE_ROWS)
        .map(|r| {
            r.visible_values()
                .iter()
                .map(|v| fit(v, MAX_CELL_WIDTH))
                .collect()
        })
        .collect();
    (headers, cells)
}

fn pad(value: &str, width: usize) -> String {
    let fill = width.saturating_sub(value.width());
    format!("{value}{}", " ".repeat(fill))
}

pub fn write_text_table(out: &mut impl Write, rows: &[Row]) -> io::Result<()> {
    let (headers, cells) = table_cells(rows);
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let line = |values: Vec<String>| values.join("  ").trim_end().to_string();
    writeln!(
        out,
        "{}",
        line(
            headers
                .iter()
                .zip(&widths)
                .map(|(h, w)| pad(h, *w))
                .collect()
        )
    )?;
    writeln!(
        out,
        "{}",
        line(widths.iter().map(|w| "-".repeat(*w)).collect())
    )?;
    for row in &cells {
        writeln!(
            out,
            "{}",
            line(row.iter().zip(&widths).map(|(c, w)| pad(c, *w)).collect())
        )?;
    }
    write_count(out, rows.len())
}

pub fn write_markdown_table(out: &mut impl Write, rows: &[Row]) -> io::Result<()> {
    let (headers, cells) = table_cells(rows);
    writeln!(out, "| {} |", headers.join(" | "))?;
    writeln!(out, "|{}|", vec!["---"; headers.len()].join("|"))?;
    for row in &cells {
        let escaped: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        writeln!(out, "| {} |", escaped.join(" | "))?;
    }
    writeln!(out)?;
    write_count(out, rows.len())
}

fn write_count(out: &mut impl Write, total: usize) -> io::Result<()> {
    if total > TABLE_ROWS {
        writeln!(
            out,
            "{total} records (the first {TABLE_ROWS} are shown; the reports hold all)"
        )
    } else {
        writeln!(out, "{total} records")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(email: &str, host: &str) -> Row {
        Row {
            actor_user_email: email.into(),
            session_info_host_name: host.into(),
            latest_status: "enabled".into(),
            ..Default::default()
        }
    }

    #[test]
    fn sanitize_escapes_newlines_escapes_and_bidi() {
        assert_eq!(sanitize("a\nb"), "a\\nb");
        assert_eq!(sanitize("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(sanitize("x\u{202E}y"), "x\\u{202e}y");
        assert_eq!(sanitize("日本"), "日本");
    }

    #[test]
    fn text_table_aligns_wide_characters_and_counts_rows() {
        let mut out = Vec::new();
        write_text_table(&mut out, &[row("a@x", "日本"), row("b@x", "pc")]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("actor_user_email"));
        let status_col = |l: &str| l[..l.find("enabled").unwrap()].width();
        assert_eq!(status_col(lines[2]), status_col(lines[3]));
        assert_eq!(lines.last().unwrap(), &"2 records");
    }

    #[test]
    fn table_shows_at_most_500_rows_but_counts_all() {
        let rows: Vec<Row> = (0..501).map(|i| row(&format!("{i}@x"), "h")).collect();
        let mut out = Vec::new();
        write_text_table(&mut out, &rows).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2 + 500 + 1);
        assert!(text.ends_with("501 records (the first 500 are shown; the reports hold all)\n"));
    }

    #[test]
    fn markdown_escapes_pipes() {
        let mut out = Vec::new();
        write_markdown_table(&mut out, &[row("a@x", "a|b")]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("a\\|b"));
        assert!(text.starts_with("| actor_user_email |"));
    }

    #[test]
    fn long_cells_are_cut_with_an_ellipsis() {
        let cut = fit(&"x".repeat(100), 10);
        assert_eq!(cut.width(), 10);
        assert!(cut.ends_with('…'));
    }
}
