//! The opt-in reports beside tbx's `devices`: `summary.json` (the numbers
//! an admin asks for first) and `devices.html` (a page to read or mail).
//! Both are rendered here from typed rows, as text files for
//! `write_reports`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::period::{format_dropbox_time, Period};
use crate::domain::row::{Layout, Row};
use crate::domain::summary::Summary;
use crate::report::html::{self, PageInfo};

/// Reports beyond tbx's `devices` (opt-in, so tbx's output stays as it is).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtraReports {
    pub summary: bool,
    pub html: bool,
    pub history: bool,
    pub stale_days: u32,
}

/// What the extra reports say about the run besides its rows.
pub struct RunInfo<'a> {
    pub team: &'a str,
    pub period: &'a Period,
    /// The filters, as `Selection::describe` says them.
    pub filter: &'a str,
    pub now: DateTime<Utc>,
    pub layout: Layout,
}

#[derive(Serialize)]
struct SummaryPeriod {
    start_time: String,
    end_time: Option<String>,
}

/// `summary.json`, key for key.
#[derive(Serialize)]
struct SummaryDocument<'a> {
    team: &'a str,
    period: SummaryPeriod,
    filter: &'a str,
    generated: String,
    summary: &'a Summary,
}

/// The wanted extra reports as (file name, content), from the rows and
/// their summary (which the caller computed when either was wanted).
pub fn render(
    wanted: ExtraReports,
    info: &RunInfo<'_>,
    rows: &[Row],
    summary: Option<&Summary>,
) -> Vec<(String, String)> {
    let Some(summary) = summary else {
        return Vec::new();
    };
    let start = format_dropbox_time(info.period.start);
    let end = info.period.end.map(format_dropbox_time);
    let generated = format_dropbox_time(info.now);
    let mut files = Vec::new();
    if wanted.summary {
        let document = SummaryDocument {
            team: info.team,
            period: SummaryPeriod {
                start_time: start.clone(),
                end_time: end.clone(),
            },
            filter: info.filter,
            generated: generated.clone(),
            summary,
        };
        files.push((
            "summary.json".to_string(),
            serde_json::to_string_pretty(&document).unwrap_or_default() + "\n",
        ));
    }
    if wanted.html {
        let period = format!(
            "{start} to {} (end exclusive)",
            end.as_deref().unwrap_or("now")
        );
        let page = PageInfo {
            team: info.team,
            period: &period,
            filter: info.filter,
            generated: &generated,
        };
        files.push((
            "devices.html".to_string(),
            html::render(&page, rows, summary, info.layout),
        ));
    }
    files
}
