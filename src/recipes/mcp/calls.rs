//! What each MCP tool does, once its arguments are typed: the arguments
//! become the status command's options (so a bad one gets the command's
//! own one-line message), `ops::device_status::collect` does the work on
//! the server's one transport, and the result is shaped as the reports
//! write it. Nothing here prints: stdout is the protocol.
//!
//! Calls run at once, their collections too: each listing of devices and
//! members is the call's own, and the event store takes concurrent syncs
//! (SQLite waits up to 10 s for a writer; inserts are idempotent and the
//! covered ranges merge), at worst fetching the same gap twice. A lock
//! around whole collections made three overlapping calls on a large team
//! answer one after another (29, 52, 78 s).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use super::schemas::{
    DeviceRow, HistoryChange, HistoryInput, HistoryOutput, ListsCut, Period, StatusInput,
    StatusOutput, SummaryInput, SummaryOutput, DEFAULT_LIMIT, MAX_LIMIT, SUMMARY_LIST_MAX,
};
use crate::domain::history::{HistoryRow, HISTORY_COLUMNS};
use crate::domain::period::{format_dropbox_time, Period as TimePeriod};
use crate::domain::row::Row;
use crate::domain::status::NO_STATUS_UPDATE;
use crate::domain::summary::summarize;
use crate::dropbox::auth::login::Interaction;
use crate::dropbox::{ApiError, Transport};
use crate::job::{Job, Level};
use crate::ops::device_status::{self, Observer, StatusResult};
use crate::options::CommonOptions;
use crate::recipes::dropbox::team::backup::device::status::{
    write_job_reports, StatusArgs, StatusOptions,
};
use crate::recipes::session::{
    log_options, token_source_with, transport_for, ApiTarget, Credential, RecipeError,
};
use crate::report::cells::history_cells;
use crate::report::extras::{self, ExtraReports, RunInfo};
use crate::report::json::row_json;
use crate::report::messages::Messages;
use crate::report::progress::Progress;
use crate::store::Rebuilt;

/// What every call shares: where the API is and who asks, the homes, the
/// server's job (its log has every call and API call), and the transport
/// once a credential was found.
pub struct Session {
    pub peer: String,
    /// The server's options as the status command's (`--peer=...`),
    /// appended to every call's.
    pub base_args: Vec<OsString>,
    pub common: CommonOptions,
    pub target: ApiTarget,
    /// Where job folders go.
    pub home: PathBuf,
    /// Where the event stores are (a scratch folder with `-simulate`).
    pub store_home: PathBuf,
    pub job: Arc<Job>,
    transport: Mutex<Option<Arc<Transport>>>,
    calls: AtomicU64,
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        peer: String,
        base_args: Vec<OsString>,
        common: CommonOptions,
        target: ApiTarget,
        home: PathBuf,
        store_home: PathBuf,
        job: Arc<Job>,
    ) -> Self {
        Session {
            peer,
            base_args,
            common,
            target,
            home,
            store_home,
            job,
            transport: Mutex::new(None),
            calls: AtomicU64::new(0),
        }
    }

    /// Numbers the calls, for the job log.
    pub fn next_call(&self) -> u64 {
        self.calls.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub async fn device_status(&self, input: StatusInput) -> Result<StatusOutput, String> {
        let limit = limit(input.limit)?;
        let host = host_filter(input.host.as_deref())?;
        let now = Utc::now();
        let options = self.options(status_args(&input), now)?;
        let mut result = self.collect(&options, now).await?;
        if let Some(host) = &host {
            keep_host(&mut result, host, options.extras.stale_days, now);
        }
        let layout = options.layout();
        let rows = result
            .rows
            .iter()
            .take(limit)
            .map(|row| serde_json::from_str::<DeviceRow>(&row_json(row, layout)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("internal error: a row does not fit its schema: {e}"))?;
        let total = result.rows.len();
        let filter = describe(&options, host.as_deref());
        let period = period(&options.period);
        let team = result.team.name.clone();
        let warnings = status_warnings(&input.status, result.rows.iter().map(Row::status_tag));
        let (job_folder, reports) = self.write_reports(options, result, now).await?;
        Ok(StatusOutput {
            team,
            period,
            filter,
            total,
            returned: rows.len(),
            truncated: rows.len() < total,
            rows,
            job_folder,
            reports,
            warnings,
        })
    }

    pub async fn summary(&self, input: SummaryInput) -> Result<SummaryOutput, String> {
        let host = host_filter(input.host.as_deref())?;
        let now = Utc::now();
        let mut args = period_args(&input.start_time, input.end_time.as_deref());
        args.extend(filter_args(
            &input.status,
            input.platform.as_deref(),
            input.client_type.as_deref(),
            input.member.as_deref(),
        ));
        if input.include_unlinked == Some(true) {
            args.push("--include-unlinked=true".into());
        }
        if let Some(days) = input.stale_days {
            if days > STALE_DAYS_MAX {
                return Err(format!(
                    "stale_days: expected 0 to {STALE_DAYS_MAX}, got {days}"
                ));
            }
            args.push(format!("--stale-days={days}"));
        }
        args.push("--reports=summary".into());
        let options = self.options(args, now)?;
        let mut result = self.collect(&options, now).await?;
        if let Some(host) = &host {
            keep_host(&mut result, host, options.extras.stale_days, now);
        }
        let filter = describe(&options, host.as_deref());
        let info = RunInfo {
            team: &result.team.name,
            period: &options.period,
            filter: &filter,
            now,
            layout: options.layout(),
        };
        let wanted = ExtraReports {
            summary: true,
            html: false,
            history: false,
            stale_days: options.extras.stale_days,
        };
        let text = extras::render(wanted, &info, &result.rows, result.summary.as_ref())
            .into_iter()
            .find(|(name, _)| name == "summary.json")
            .map(|(_, text)| text)
            .ok_or("internal error: no summary was made")?;
        let mut output: SummaryOutput = serde_json::from_str(&text)
            .map_err(|e| format!("internal error: the summary does not fit its schema: {e}"))?;
        output.warnings = status_warnings(&input.status, result.rows.iter().map(Row::status_tag));
        cut_lists(&mut output);
        Ok(output)
    }

    pub async fn history(&self, input: HistoryInput) -> Result<HistoryOutput, String> {
        let limit = limit(input.limit)?;
        let host = host_filter(input.host.as_deref())?;
        let now = Utc::now();
        let mut args = period_args(&input.start_time, input.end_time.as_deref());
        // Checked as the command's -status and -member, then applied to
        // the changes rather than to the devices.
        args.extend(filter_args(
            &input.status,
            None,
            None,
            input.member.as_deref(),
        ));
        args.push("--reports=history".into());
        let mut options = self.options(args, now)?;
        let member = options.selection.member.take().map(|m| m.to_lowercase());
        let statuses = std::mem::take(&mut options.selection.statuses);
        let result = self.collect(&options, now).await?;
        let history = result.history.unwrap_or_default();
        let matching: Vec<&HistoryRow> = history
            .iter()
            .filter(|change| {
                let owner = &change.owner;
                member.as_deref().is_none_or(|m| {
                    [
                        &owner.email,
                        &owner.display_name,
                        &change.actor_email,
                        &change.actor_name,
                    ]
                    .iter()
                    .any(|field| field.to_lowercase().contains(m))
                }) && host
                    .as_deref()
                    .is_none_or(|h| change.host_name.to_lowercase().contains(h))
                    && (statuses.is_empty()
                        || statuses
                            .iter()
                            .any(|s| s.eq_ignore_ascii_case(change.new.as_str())))
            })
            .collect();
        let warnings = status_warnings(&statuses, matching.iter().map(|c| c.new.as_str()));
        let total = matching.len();
        let changes = matching[total.saturating_sub(limit)..]
            .iter()
            .map(|change| history_change(change))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(HistoryOutput {
            team: result.team.name,
            period: period(&options.period),
            total,
            returned: changes.len(),
            truncated: changes.len() < total,
            changes,
            warnings,
        })
    }

    /// The call's arguments, with the server's, as the status command
    /// would read them from its command line.
    fn options(&self, args: Vec<String>, now: DateTime<Utc>) -> Result<StatusOptions, String> {
        let argv = args
            .into_iter()
            .map(OsString::from)
            .chain(self.base_args.iter().cloned());
        let parsed = StatusArgs::parse_from(argv).map_err(|e| clap_line(&e))?;
        parsed.validate(now).map_err(|e| e.to_string())
    }

    /// The rows (and history, summary) for `options`, once it is this
    /// call's turn on the event store.
    async fn collect(
        &self,
        options: &StatusOptions,
        now: DateTime<Utc>,
    ) -> Result<StatusResult, String> {
        let transport = self.transport().await?;
        let query = options.query(&self.store_home);
        let observer = LogObserver { job: &self.job };
        match device_status::collect(&transport, &query, now, &observer).await {
            Ok(result) => {
                self.job.log(
                    Level::Info,
                    "collected",
                    json!({
                        "rows": result.rows.len(),
                        "devices_listed": result.devices_listed,
                        "event_pages": result.stats.scan.pages,
                        "gaps_fetched": result.stats.gaps_fetched,
                    }),
                );
                Ok(result)
            }
            Err(e) => {
                let error = RecipeError::from(e);
                if credential_refused(&error) {
                    // The next call looks again: the user may have fixed it.
                    *self.transport.lock().await = None;
                    return Err(self.what_to_do(error.to_string()));
                }
                Err(error.to_string())
            }
        }
    }

    /// A refused credential's message, with what to do about it (a model
    /// relays it to the person who can).
    fn what_to_do(&self, message: String) -> String {
        if !matches!(self.target.credential, Credential::Login) {
            return message;
        }
        let add = format!("run `tbx config auth add -peer {}`", self.peer);
        if std::env::var_os("TOOLBOX_DROPBOX_TOKEN").is_some() {
            format!("{message}; replace TOOLBOX_DROPBOX_TOKEN, or {add}")
        } else if message.contains("tbx config auth add") {
            message
        } else {
            format!("{message}; {add}")
        }
    }

    /// The transport, made at the first call that finds a credential; the
    /// login flow never asks (stdin is the protocol).
    async fn transport(&self) -> Result<Arc<Transport>, String> {
        let mut slot = self.transport.lock().await;
        if let Some(transport) = slot.as_ref() {
            return Ok(Arc::clone(transport));
        }
        let tokens = token_source_with(
            &self.peer,
            &self.common,
            &self.target,
            &self.home,
            Interaction::Never,
        )
        .await
        .map_err(|e| format!("{e}; the server takes it up at the next call"))?;
        let transport = transport_for(&self.target, Arc::new(tokens), &self.common, &self.job)
            .map_err(|e| e.to_string())?;
        let transport = Arc::new(transport);
        *slot = Some(Arc::clone(&transport));
        Ok(transport)
    }

    /// The reports of one call, in a job folder of their own (two calls
    /// never write over each other's): written on a blocking thread, as
    /// XLSX for a large team takes a while.
    async fn write_reports(
        &self,
        options: StatusOptions,
        result: StatusResult,
        now: DateTime<Utc>,
    ) -> Result<(String, Vec<String>), String> {
        let home = self.home.clone();
        let server_job = self.job.dir.display().to_string();
        let peer = self.peer.clone();
        let written = tokio::task::spawn_blocking(move || {
            let job =
                Job::create(&home, log_options(&options.common)).map_err(|e| e.to_string())?;
            job.log(
                Level::Info,
                "start",
                json!({
                    "command": "mcp serve: backup_device_status",
                    "version": env!("CARGO_PKG_VERSION"),
                    "start_time": format_dropbox_time(options.period.start),
                    "end_time": options.period.end.map(format_dropbox_time),
                    "filter": options.selection.describe(),
                    "peer": peer,
                    "server_job": server_job,
                }),
            );
            let text = Messages(options.common.lang);
            let written =
                write_job_reports(&job, &options, &result, now, &Progress::new(false), text);
            match &written {
                Ok(_) => job.log(Level::Info, "finished", json!({"rows": result.rows.len()})),
                Err(e) => job.log(Level::Error, "failed", json!({"error": e.to_string()})),
            }
            job.end();
            let reports = written.map_err(|e| e.to_string())?;
            Ok::<_, String>((
                job.dir.display().to_string(),
                reports.iter().map(|p| p.display().to_string()).collect(),
            ))
        })
        .await;
        written.map_err(|e| {
            if e.is_panic() {
                "internal error (panic) while writing the reports".to_string()
            } else {
                format!("writing the reports stopped: {e}")
            }
        })?
    }
}

/// Notes what a person may need to know about the event store.
struct LogObserver<'a> {
    job: &'a Job,
}

impl Observer for LogObserver<'_> {
    fn store_rebuilt(&self, why: &Rebuilt) {
        self.job.log(
            Level::Warn,
            "event store rebuilt",
            json!({"why": format!("{why:?}")}),
        );
    }
}

/// `-stale-days`'s bound, as the command has it.
const STALE_DAYS_MAX: u32 = 36_500;

/// The statuses Dropbox sends, and the one the reports write for none.
const KNOWN_STATUSES: [&str; 3] = ["enabled", "disabled", NO_STATUS_UPDATE];

/// A `host` argument, lowercased; an empty one is refused as the
/// command refuses an empty `-member`.
fn host_filter(host: Option<&str>) -> Result<Option<String>, String> {
    match host.map(str::trim) {
        Some("") => Err("host: expected a value, got an empty one".into()),
        host => Ok(host.map(str::to_lowercase)),
    }
}

/// Keeps the rows (and changes) of hosts containing `host`; the summary
/// is made again from them, by the function ops uses, so its numbers are
/// those of the rows returned.
fn keep_host(result: &mut StatusResult, host: &str, stale_days: u32, now: DateTime<Utc>) {
    let matches = |name: &str| name.to_lowercase().contains(host);
    result.rows.retain(|row| matches(row.device.host_name()));
    if let Some(history) = &mut result.history {
        history.retain(|change| matches(&change.host_name));
    }
    if let Some(summary) = &mut result.summary {
        *summary = summarize(&result.rows, stale_days, now);
    }
}

/// The filters as the reports' summary says them, with `host`.
fn describe(options: &StatusOptions, host: Option<&str>) -> String {
    let filter = options.selection.describe();
    match host {
        None => filter,
        Some(host) if filter.is_empty() => format!("host={host}"),
        Some(host) => format!("{filter} host={host}"),
    }
}

/// A warning for each asked status Dropbox does not send that nothing
/// matched (a newer Dropbox value that matched is no surprise).
fn status_warnings<'a>(asked: &[String], found: impl Iterator<Item = &'a str>) -> Vec<String> {
    let found: Vec<&str> = found.collect();
    asked
        .iter()
        .filter(|s| !KNOWN_STATUSES.iter().any(|k| k.eq_ignore_ascii_case(s)))
        .filter(|s| !found.iter().any(|f| f.eq_ignore_ascii_case(s)))
        .map(|s| {
            format!(
                "status '{s}' is not a status Dropbox sends ({}); nothing matched it",
                KNOWN_STATUSES.join(", ")
            )
        })
        .collect()
}

/// Cuts the summary's lists at `SUMMARY_LIST_MAX`, saying how long they were.
fn cut_lists(output: &mut SummaryOutput) {
    let numbers = &mut output.summary;
    let members = numbers.members_without_enabled_device.len();
    let stale = numbers.stale_devices.len();
    if members <= SUMMARY_LIST_MAX && stale <= SUMMARY_LIST_MAX {
        return;
    }
    numbers
        .members_without_enabled_device
        .truncate(SUMMARY_LIST_MAX);
    numbers.stale_devices.truncate(SUMMARY_LIST_MAX);
    output.truncated = Some(ListsCut {
        members_without_enabled_device: members,
        stale_devices: stale,
        note: format!(
            "each list holds its first {SUMMARY_LIST_MAX}; backup_device_status (filter by status, \
sort by session_info_updated) lists every device, and its job folder has every row"
        ),
    });
}

/// An error after which the stored credential is worth looking up again.
fn credential_refused(error: &RecipeError) -> bool {
    matches!(
        error,
        RecipeError::Auth(_)
            | RecipeError::Api(
                ApiError::ExpiredToken { .. }
                    | ApiError::InvalidToken { .. }
                    | ApiError::Auth { .. }
                    | ApiError::Credential(_)
            )
    )
}

fn limit(asked: Option<u32>) -> Result<usize, String> {
    match asked.unwrap_or(DEFAULT_LIMIT) {
        n if n > MAX_LIMIT => Err(format!("limit: expected at most {MAX_LIMIT}, got {n}")),
        n => Ok(n as usize),
    }
}

/// Values go after `=`: one starting with `-` is still a value.
fn period_args(start: &str, end: Option<&str>) -> Vec<String> {
    let mut args = vec![format!("--start-time={start}")];
    if let Some(end) = end {
        args.push(format!("--end-time={end}"));
    }
    args
}

fn filter_args(
    statuses: &[String],
    platform: Option<&str>,
    client_type: Option<&str>,
    member: Option<&str>,
) -> Vec<String> {
    let mut args: Vec<String> = statuses.iter().map(|s| format!("--status={s}")).collect();
    let named = [
        ("platform", platform),
        ("client-type", client_type),
        ("member", member),
    ];
    for (name, value) in named {
        if let Some(value) = value {
            args.push(format!("--{name}={value}"));
        }
    }
    args
}

fn status_args(input: &StatusInput) -> Vec<String> {
    let mut args = period_args(&input.start_time, input.end_time.as_deref());
    args.extend(filter_args(
        &input.status,
        input.platform.as_deref(),
        input.client_type.as_deref(),
        input.member.as_deref(),
    ));
    if let Some(sort) = &input.sort {
        args.push(format!("--sort={sort}"));
    }
    if input.desc == Some(true) {
        args.push("--desc=true".into());
    }
    if input.include_unlinked == Some(true) {
        args.push("--include-unlinked=true".into());
    }
    args
}

/// clap's error as the command's one line, without the pointer to -help.
fn clap_line(error: &clap::Error) -> String {
    let text = error.render().to_string();
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid arguments");
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

fn period(period: &TimePeriod) -> Period {
    Period {
        start_time: format_dropbox_time(period.start),
        end_time: period.end.map(format_dropbox_time),
    }
}

/// A change as `history.json` has it.
fn history_change(change: &HistoryRow) -> Result<HistoryChange, String> {
    let object: Map<String, Value> = HISTORY_COLUMNS
        .iter()
        .zip(history_cells(change))
        .map(|(key, value)| (key.to_string(), Value::String(value.into_owned())))
        .collect();
    serde_json::from_value(Value::Object(object))
        .map_err(|e| format!("internal error: a change does not fit its schema: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::row::{Layout, RowSpec};

    #[test]
    fn a_row_reads_back_as_devices_json_wrote_it() {
        for (unlinked, layout) in [
            (false, Layout::default()),
            (
                true,
                Layout {
                    linked: true,
                    ..Layout::default()
                },
            ),
        ] {
            let row = RowSpec {
                email: "a@x",
                timestamp: Some("2024-01-03T04:05:06Z"),
                status: Some("disabled"),
                unlinked,
                ..Default::default()
            }
            .build();
            let line = row_json(&row, layout);
            let typed: DeviceRow = serde_json::from_str(&line).unwrap();
            assert_eq!(serde_json::to_string(&typed).unwrap(), line);
        }
    }

    #[test]
    fn only_unknown_statuses_that_matched_nothing_warn() {
        let asked = [
            "Enabled".to_string(),
            "off".into(),
            "paused_by_policy".into(),
        ];
        let warnings = status_warnings(&asked, ["paused_by_policy"].into_iter());
        assert_eq!(
            warnings,
            ["status 'off' is not a status Dropbox sends (enabled, disabled, no_status_update); nothing matched it"]
        );
    }

    #[test]
    fn the_summary_lists_are_cut_with_their_lengths() {
        let member =
            |i: usize| json!({"email": format!("m{i}@x"), "display_name": "M", "devices": 1});
        let stale = |i: usize| json!({"email": "a@x", "host_name": format!("h{i}"), "session_info_updated": ""});
        let summary = |members: usize, stales: usize| -> SummaryOutput {
            serde_json::from_value(json!({
                "team": "T", "period": {"start_time": "s", "end_time": null}, "filter": "",
                "generated": "g", "summary": {"devices": 1, "by_status": {}, "by_platform": {},
                "by_client_type": {}, "enabled_percent": 0.0,
                "members_without_enabled_device": (0..members).map(member).collect::<Vec<_>>(),
                "stale_days": 30, "stale_devices": (0..stales).map(stale).collect::<Vec<_>>()}
            }))
            .unwrap()
        };
        let mut short = summary(100, 3);
        cut_lists(&mut short);
        assert_eq!(short, summary(100, 3));
        let mut long = summary(250, 3);
        cut_lists(&mut long);
        assert_eq!(long.summary.members_without_enabled_device.len(), 100);
        assert_eq!(long.summary.stale_devices.len(), 3);
        let cut = long.truncated.unwrap();
        assert_eq!(
            (cut.members_without_enabled_device, cut.stale_devices),
            (250, 3)
        );
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None), Ok(100));
        assert_eq!(limit(Some(0)), Ok(0));
        assert_eq!(limit(Some(1000)), Ok(1000));
        assert_eq!(
            limit(Some(1001)),
            Err("limit: expected at most 1000, got 1001".into())
        );
    }

    #[test]
    fn values_starting_with_a_dash_stay_values() {
        let now = crate::domain::period::parse_dropbox_time("2026-07-14T09:12:44Z").unwrap();
        let input: StatusInput =
            serde_json::from_str(r#"{"start_time":"-7d","member":"-x","sort":"timestamp"}"#)
                .unwrap();
        let options = StatusArgs::parse_from(status_args(&input))
            .unwrap()
            .validate(now)
            .unwrap();
        assert_eq!(options.selection.member.as_deref(), Some("-x"));
        assert_eq!(
            format_dropbox_time(options.period.start),
            "2026-07-07T09:12:44Z"
        );
    }
}
