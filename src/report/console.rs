//! What a person (or a script) sees on the terminal: the run header, a
//! progress line per step, a table of the first rows, and the report paths
//! last. Values are sanitised: a host name can carry newlines or terminal
//! escape sequences, and none of them reach the terminal raw.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::domain::row::{Layout, Row};
use crate::report::cells::row_cells;
use crate::report::messages::Messages;

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
    layout: Layout,
    messages: Messages,
}

impl Console {
    /// `-quiet` turns the text modes into JSON lines (machine-readable),
    /// as tbx documents it; `-output none` stays silent.
    pub fn new(mode: OutputMode, quiet: bool, layout: Layout, messages: Messages) -> Self {
        let mode = match mode {
            OutputMode::Text | OutputMode::Markdown if quiet => OutputMode::Json,
            other => other,
        };
        Self {
            mode,
            quiet,
            layout,
            messages,
        }
    }

    pub fn messages(&self) -> Messages {
        self.messages
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
        let _ = writeln!(
            io::stderr().lock(),
            "{}: {}",
            self.messages.warning(),
            sanitize(line)
        );
    }

    /// The rows: a table in text modes (unfiltered); in JSON mode the
    /// report's JSON lines, copied from `json_report` (so stdout and
    /// `devices.json` are the same, filtered when `-output-filter` is set).
    pub fn rows(&self, rows: &[Row], json_report: Option<&Path>) {
        let mut out = io::stdout().lock();
        let _ = match (self.mode, json_report) {
            (OutputMode::Text, _) => {
                write_text_table(&mut out, rows, self.layout, self.messages, terminal_width())
            }
            (OutputMode::Markdown, _) => {
                write_markdown_table(&mut out, rows, self.layout, self.messages)
            }
            (OutputMode::Json, Some(path)) => copy_json_lines(path, &mut out),
            (OutputMode::Json, None) | (OutputMode::None, _) => Ok(()),
        };
        let _ = out.flush();
    }

    /// The report paths, last, as the tbx documentation promises.
    pub fn report_paths(&self, paths: &[PathBuf]) {
        if self.is_human() {
            let mut out = io::stdout().lock();
            for path in paths {
                let _ = writeln!(out, "{}", self.messages.report_generated(path));
            }
        }
    }
}

/// Copies the JSON report to stdout: the bytes as they are into a pipe (as
/// `jq -r` does), but with control characters shown as symbols on a
/// terminal, where a filter's raw string could otherwise carry escapes.
fn copy_json_lines(path: &Path, out: &mut impl Write) -> io::Result<()> {
    use std::io::{BufRead, IsTerminal};
    let mut file = io::BufReader::new(std::fs::File::open(path)?);
    if !io::stdout().is_terminal() {
        return io::copy(&mut file, out).map(|_| ());
    }
    let mut line = Vec::new();
    while file.read_until(b'\n', &mut line)? > 0 {
        out.write_all(sanitize_lines(&String::from_utf8_lossy(&line)).as_bytes())?;
        line.clear();
    }
    Ok(())
}

/// Replaces control characters (newlines, ESC, C1 controls) and bidi
/// overrides with readable symbols so values cannot reshape the terminal.
pub fn sanitize(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        push_visible(&mut out, c);
    }
    out
}

/// `sanitize` for text that is lines by design (a filter's raw strings):
/// newlines and tabs stay, every other control becomes a symbol.
pub fn sanitize_lines(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c => push_visible(&mut out, c),
        }
    }
    out
}

/// Pushes `c`, or a readable stand-in when the terminal would act on it:
/// C0 controls as their Unicode control pictures (ESC as `␛`), DEL as `␡`,
/// a C1 control as `␛` and its 7-bit equivalent (U+009B, CSI, as `␛[`),
/// a bidi override as `[U+202E]` (no `<`: the HTML report uses this too).
pub fn push_visible(out: &mut String, c: char) {
    match c as u32 {
        code @ 0..=0x1f => out.push(char::from_u32(0x2400 + code).unwrap_or('\u{fffd}')),
        0x7f => out.push('\u{2421}'),
        code @ 0x80..=0x9f => {
            out.push('\u{241b}');
            out.push(char::from_u32(code - 0x40).unwrap_or('\u{fffd}'));
        }
        0x202a..=0x202e | 0x2066..=0x2069 => {
            let _ = std::fmt::Write::write_fmt(out, format_args!("[U+{:04X}]", c as u32));
        }
        _ => out.push(c),
    }
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

fn table_cells(rows: &[Row], layout: Layout) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let headers = layout.headers();
    let columns = layout.columns();
    let cells = rows
        .iter()
        .take(TABLE_ROWS)
        .map(|r| {
            row_cells(r, &columns)
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

/// Columns hidden first, in this order, when the table is wider than the
/// terminal; email, host name, timestamp and status always stay.
const HIDE_ORDER: [&str; 6] = [
    "session_info_client_version",
    "session_info_ip_address",
    "session_info_updated",
    "actor_user_display_name",
    "session_info_client_type",
    "session_info_platform",
];
/// Columns never squeezed: cutting a timestamp or a status misleads.
const UNSQUEEZABLE: [&str; 2] = ["timestamp", "latest_status"];
const SQUEEZE_MIN: usize = 12;
const GAP: usize = 2;

fn table_width(widths: &[usize], shown: &[bool]) -> usize {
    let columns = shown.iter().filter(|s| **s).count();
    let content: usize = widths
        .iter()
        .zip(shown)
        .filter(|(_, s)| **s)
        .map(|(w, _)| w)
        .sum();
    content + GAP * columns.saturating_sub(1)
}

/// Narrows the widest squeezable shown column, one cell at a time, until
/// the table fits or every such column is down to `floor`.
fn squeeze(headers: &[&str], widths: &mut [usize], shown: &[bool], max: usize, floor: usize) {
    while table_width(widths, shown) > max {
        let widest = (0..headers.len())
            .filter(|&i| shown[i] && widths[i] > floor && !UNSQUEEZABLE.contains(&headers[i]))
            .max_by_key(|&i| widths[i]);
        match widest {
            Some(i) => widths[i] -= 1,
            None => break,
        }
    }
}

/// Writes the table; with `max_width` (a terminal), hides minor columns,
/// narrows wide ones, then hides more, until it fits.
pub fn write_text_table(
    out: &mut impl Write,
    rows: &[Row],
    layout: Layout,
    messages: Messages,
    max_width: Option<usize>,
) -> io::Result<()> {
    let (headers, cells) = table_cells(rows, layout);
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let mut shown = vec![true; headers.len()];
    let mut hidden = 0;
    if let Some(max) = max_width {
        let fits = |widths: &[usize], shown: &[bool]| table_width(widths, shown) <= max;
        let (minor, major) = HIDE_ORDER.split_at(3);
        for (hide, squeeze_to) in [(minor, 24), (major, SQUEEZE_MIN)] {
            for name in hide {
                if fits(&widths, &shown) {
                    break;
                }
                if let Some(i) = headers.iter().position(|h| h == name) {
                    shown[i] = false;
                    hidden += 1;
                }
            }
            squeeze(&headers, &mut widths, &shown, max, squeeze_to);
        }
    }
    let line = |values: Vec<String>| {
        let cells: Vec<String> = values
            .into_iter()
            .zip(&widths)
            .zip(&shown)
            .filter(|(_, s)| **s)
            .map(|((v, w), _)| pad(&fit(&v, *w), *w))
            .collect();
        cells.join(&" ".repeat(GAP)).trim_end().to_string()
    };
    writeln!(
        out,
        "{}",
        line(headers.iter().map(|h| h.to_string()).collect())
    )?;
    writeln!(
        out,
        "{}",
        line(widths.iter().map(|w| "-".repeat(*w)).collect())
    )?;
    for row in cells {
        writeln!(out, "{}", line(row))?;
    }
    if hidden > 0 {
        writeln!(out, "{}", messages.columns_hidden(hidden))?;
    }
    writeln!(out, "{}", messages.records(rows.len(), TABLE_ROWS))
}

/// The terminal's width when stdout is one (`COLUMNS` wins, as in shells).
pub fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !io::stdout().is_terminal() {
        return None;
    }
    if let Some(cols) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(cols);
    }
    terminal_size::terminal_size().map(|(w, _)| w.0 as usize)
}

/// A table cell in Markdown: `|` would end the cell, and Markdown renders
/// HTML, so `<`, `>` and `&` are entities.
fn markdown_cell(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

pub fn write_markdown_table(
    out: &mut impl Write,
    rows: &[Row],
    layout: Layout,
    messages: Messages,
) -> io::Result<()> {
    let (headers, cells) = table_cells(rows, layout);
    writeln!(out, "| {} |", headers.join(" | "))?;
    writeln!(out, "|{}|", vec!["---"; headers.len()].join("|"))?;
    for row in &cells {
        let escaped: Vec<String> = row.iter().map(|c| markdown_cell(c)).collect();
        writeln!(out, "| {} |", escaped.join(" | "))?;
    }
    writeln!(out)?;
    writeln!(out, "{}", messages.records(rows.len(), TABLE_ROWS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::row::RowSpec;

    fn row(email: &str, host: &str) -> Row {
        RowSpec {
            email,
            host,
            status: Some("enabled"),
            ..Default::default()
        }
        .build()
    }

    #[test]
    fn sanitize_escapes_newlines_escapes_and_bidi() {
        assert_eq!(sanitize("a\nb\r\tc"), "a␊b␍␉c");
        assert_eq!(sanitize("\u{1b}[31mred"), "␛[31mred");
        assert_eq!(sanitize("\u{9b}31m\u{7f}\0"), "␛[31m␡␀");
        assert_eq!(sanitize("x\u{202E}y"), "x[U+202E]y");
        assert_eq!(sanitize("日本"), "日本");
        assert_eq!(sanitize_lines("a\nb\t\u{1b}]0;x\u{7}"), "a\nb\t␛]0;x␇");
    }

    #[test]
    fn text_table_aligns_wide_characters_and_counts_rows() {
        let mut out = Vec::new();
        write_text_table(
            &mut out,
            &[row("a@x", "日本"), row("b@x", "pc")],
            Layout::default(),
            Messages::default(),
            None,
        )
        .unwrap();
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
        write_text_table(
            &mut out,
            &rows,
            Layout::default(),
            Messages::default(),
            None,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2 + 500 + 1);
        assert!(text.ends_with("501 records (the first 500 are shown; the reports hold all)\n"));
    }

    #[test]
    fn a_narrow_terminal_hides_minor_columns_then_narrows_wide_ones() {
        let r = RowSpec {
            email: "someone.with.a.long.name@example.com",
            host: "A-VERY-LONG-HOST-NAME-INDEED-1234",
            timestamp: Some("2026-11-13T08:18:59Z"),
            updated: "2026-11-13T08:18:59Z",
            ..Default::default()
        }
        .build();
        let mut out = Vec::new();
        write_text_table(
            &mut out,
            &[r],
            Layout::default(),
            Messages::default(),
            Some(80),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        for line in text.lines() {
            assert!(line.width() <= 80, "{line:?} is {} wide", line.width());
        }
        assert!(
            text.contains("2026-11-13T08:18:59Z  no_status_update"),
            "{text}"
        );
        assert!(text.contains("columns hidden to fit the terminal"));
        assert!(!text.contains("session_info_client_version"));
    }

    #[test]
    fn markdown_escapes_pipes_and_html() {
        let mut out = Vec::new();
        write_markdown_table(
            &mut out,
            &[row("a@x", "a|b<i>&amp;\u{1b}[31m")],
            Layout::default(),
            Messages::default(),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("a\\|b&lt;i&gt;&amp;amp;␛[31m"), "{text}");
        assert!(!text.contains('<') && !text.contains('\u{1b}'), "{text}");
        assert!(text.starts_with("| actor_user_email |"));
    }

    #[test]
    fn long_cells_are_cut_with_an_ellipsis() {
        let cut = fit(&"x".repeat(100), 10);
        assert_eq!(cut.width(), 10);
        assert!(cut.ends_with('…'));
    }
}
