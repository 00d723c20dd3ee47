//! The status command's options: as typed (`StatusArgs`, clap), and as
//! validated (`StatusOptions`): every time, filter and report name is
//! checked here, before any network call.

use std::path::Path;

use chrono::{DateTime, Local, Utc};
use clap::Args;

use crate::domain::period::{format_dropbox_time, parse_time, Period};
use crate::domain::row::{Layout, COLUMNS};
use crate::domain::select::{sort_column, Selection};
use crate::ops::device_status::StatusQuery;
use crate::options::{validate_peer, CommonArgs, CommonOptions, OptionError};
use crate::report::extras::ExtraReports;

/// Dropbox Backup device status change in the specified period
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Start date/time of the period to retrieve data for (inclusive)
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub start_time: String,
    /// End date/time of the period (exclusive) [default: now]
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub end_time: Option<String>,
    /// Account alias
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub peer: String,
    /// Only devices whose latest status is one of these (repeat or separate with commas)
    #[arg(long, value_name = "STATUS", value_delimiter = ',')]
    pub status: Vec<String>,
    /// Only devices of this platform (exact, any case), e.g. "Windows 11 Pro"
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Only devices of this client type (exact, any case): windows, mac, linux, ...
    #[arg(long, value_name = "TYPE")]
    pub client_type: Option<String>,
    /// Only devices whose owner's email or name contains this (any case)
    #[arg(long, value_name = "TEXT")]
    pub member: Option<String>,
    /// Sort the rows by this report column (then by owner, host and session)
    #[arg(long, value_name = "COLUMN")]
    pub sort: Option<String>,
    /// More reports in the same job: history (history.csv|json|xlsx), summary (summary.json), html (devices.html), or all
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub reports: Vec<String>,
    /// In the summary, devices inactive for more than this many days count as stale (0 to 36500)
    #[arg(long, value_name = "DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub stale_days: u32,
    /// Also report computers seen in the log in the period but no longer linked, with a `linked` column
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub include_unlinked: bool,
    /// Ignore the local event store for this run and rebuild it from the API
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub no_cache: bool,
    /// Sort in descending order
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub desc: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Validated options: nothing past this point re-checks user input.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    pub period: Period,
    pub peer: String,
    /// `-no-cache`: clear the event store and fetch everything.
    pub no_cache: bool,
    pub include_unlinked: bool,
    pub selection: Selection,
    pub extras: ExtraReports,
    pub common: CommonOptions,
}

/// The status options alone, as a parser: what demo, bench and tests use
/// to get options with clap's defaults, never field by field.
#[derive(Debug, clap::Parser)]
#[command(name = "status", no_binary_name = true)]
struct StatusCommand {
    #[command(flatten)]
    args: StatusArgs,
}

impl StatusArgs {
    /// Parses `args` (e.g. `["--start-time=-7d", "--no-cache"]`) as the
    /// command line would.
    pub fn parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        StatusCommand::try_parse_from(args).map(|c| c.args)
    }
}

impl StatusArgs {
    /// Checks every option before any network call. Times are read in the
    /// local time zone, relative ones against `now`.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<StatusOptions, OptionError> {
        let common = self.common.validate()?;
        let read = |option: &'static str, value: &str| {
            parse_time(value, now, &Local).map_err(|e| OptionError::Invalid {
                option,
                message: e.to_string(),
            })
        };
        let start = read("start-time", &self.start_time)?;
        let end = self
            .end_time
            .as_deref()
            .map(|v| read("end-time", v))
            .transpose()?;
        if start > now {
            return Err(OptionError::Invalid {
                option: "start-time",
                message: format!("{} is in the future", format_dropbox_time(start)),
            });
        }
        if let Some(end) = end {
            if end <= start {
                return Err(OptionError::Invalid {
                    option: "end-time",
                    message: format!(
                        "{} must be after -start-time {}",
                        format_dropbox_time(end),
                        format_dropbox_time(start)
                    ),
                });
            }
        }
        validate_peer(&self.peer)?;
        Ok(StatusOptions {
            period: Period { start, end },
            peer: self.peer.clone(),
            no_cache: self.no_cache,
            include_unlinked: self.include_unlinked,
            selection: self.selection()?,
            extras: self.extra_reports()?,
            common,
        })
    }
}

impl StatusArgs {
    fn extra_reports(&self) -> Result<ExtraReports, OptionError> {
        let mut extras = ExtraReports {
            stale_days: self.stale_days,
            ..Default::default()
        };
        for name in self.reports.iter().map(|r| r.trim().to_ascii_lowercase()) {
            match name.as_str() {
                "devices" | "" => {}
                "summary" => extras.summary = true,
                "html" => extras.html = true,
                "history" => extras.history = true,
                "all" => {
                    extras.summary = true;
                    extras.html = true;
                    extras.history = true;
                }
                other => {
                    return Err(OptionError::Invalid {
                        option: "reports",
                        message: format!(
                            "unknown report '{other}'; expected history, summary, html or all"
                        ),
                    })
                }
            }
        }
        Ok(extras)
    }

    fn selection(&self) -> Result<Selection, OptionError> {
        let invalid =
            |option: &'static str, message: String| OptionError::Invalid { option, message };
        let statuses: Vec<String> = self.status.iter().map(|s| s.trim().to_string()).collect();
        if statuses.iter().any(String::is_empty) {
            return Err(invalid(
                "status",
                "expected a status such as enabled, disabled or no_status_update".into(),
            ));
        }
        let text =
            |option: &'static str, value: &Option<String>| match value.as_deref().map(str::trim) {
                Some("") => Err(invalid(option, "expected a value, got an empty one".into())),
                Some(v) => Ok(Some(v.to_string())),
                None => Ok(None),
            };
        let sort = match self.sort.as_deref() {
            Some(name) => Some(sort_column(name).ok_or_else(|| {
                invalid(
                    "sort",
                    format!(
                        "'{name}' is not a report column; expected one of {}",
                        COLUMNS.join(", ")
                    ),
                )
            })?),
            None => None,
        };
        Ok(Selection {
            statuses,
            platform: text("platform", &self.platform)?,
            client_type: text("client-type", &self.client_type)?,
            member: text("member", &self.member)?,
            sort,
            descending: self.desc,
        })
    }
}

impl StatusOptions {
    /// The work to do, in the ops layer's terms.
    pub fn query(&self, home: &Path) -> StatusQuery {
        StatusQuery {
            period: self.period,
            selection: self.selection.clone(),
            include_unlinked: self.include_unlinked,
            history: self.extras.history,
            summary_stale_days: (self.extras.summary || self.extras.html)
                .then_some(self.extras.stale_days),
            no_cache: self.no_cache,
            concurrency: self.common.concurrency,
            home: home.to_path_buf(),
        }
    }

    /// The report's columns: `-experiment`'s choice, and `linked` with
    /// `-include-unlinked`.
    pub fn layout(&self) -> Layout {
        Layout {
            linked: self.include_unlinked,
            ..self.common.layout
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(args: &[&str]) -> Result<StatusOptions, OptionError> {
        let now = crate::domain::period::parse_dropbox_time("2026-07-14T09:12:44Z").unwrap();
        StatusArgs::parse_from(args).unwrap().validate(now)
    }

    #[test]
    fn end_before_start_is_refused_naming_the_option() {
        let err = validate(&[
            "--start-time",
            "2024-02-01T00:00:00Z",
            "--end-time",
            "2024-01-01T00:00:00Z",
        ])
        .unwrap_err();
        assert!(err.to_string().starts_with("-end-time: "), "{err}");
    }

    #[test]
    fn start_in_the_future_is_refused() {
        let err = validate(&["--start-time", "+1d"]).unwrap_err();
        assert!(err.to_string().starts_with("-start-time: "), "{err}");
    }

    #[test]
    fn bad_peer_names_are_refused() {
        let err = validate(&["--start-time", "-1d", "--peer", "a b"]).unwrap_err();
        assert!(err.to_string().starts_with("-peer: "), "{err}");
        assert!(validate(&["--start-time", "-1d", "--peer", "corp_admin-2.x"]).is_ok());
    }

    #[test]
    fn open_ended_period_has_no_end() {
        let o = validate(&["--start-time", "-7d"]).unwrap();
        assert_eq!(o.period.end, None);
        assert_eq!(format_dropbox_time(o.period.start), "2026-07-07T09:12:44Z");
    }
}
