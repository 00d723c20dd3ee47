//! `tbx dropbox team backup device status`: for every linked desktop client
//! of the team, the latest Dropbox Backup status in `[-start-time,
//! -end-time)`. The story: list the linked desktop clients, scan the audit
//! log for backup status changes and fold them per session, resolve each
//! device's owner, then write `devices.csv|json|xlsx` into the job folder.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Local, Utc};
use clap::Args;
use serde_json::json;
use thiserror::Error;

use crate::domain::fold::StatusChange;
use crate::domain::fold::StatusFold;
use crate::domain::history::HistoryLog;
use crate::domain::period::{format_dropbox_time, parse_time, Period};
use crate::domain::row::{
    build_rows, col, sort_rows, unlinked_rows, Layout, LinkedDevice, Owner, Row, COLUMNS,
};
use crate::domain::select::{sort_column, Selection};
use crate::domain::summary::summarize;
use crate::dropbox::auth::login::{self, Interaction, LoginContext};
use crate::dropbox::auth::tokens::TokenSource;
use crate::dropbox::auth::{store, AccessToken, ApiBase, AuthError};
use crate::dropbox::bandwidth::Bandwidth;
use crate::dropbox::team_log::EventScan;
use crate::dropbox::transport::{http_client, CallRecord};
use crate::dropbox::{devices, members, team, team_log, ApiError, Transport, TransportConfig};
use crate::job::{resolve_home, Job, JobError, JobLog, Level, LogOptions};
use crate::options::{validate_peer, CommonArgs, CommonOptions, OptionError, RetainJobData};
use crate::report::console::Console;
use crate::report::html::{self, PageInfo};
use crate::report::messages::Messages;
use crate::report::open::open_folder;
use crate::report::progress::Progress;
use crate::report::{write_reports, Formats, ReportError, ReportSet};
use crate::store::{open_for_run, store_path, sync, EventStore, Span, StoreError};
use serde_json::value::RawValue;

pub const REPORT_NAME: &str = "devices";

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

/// Reports beyond tbx's `devices` (opt-in, so tbx's output stays as it is).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtraReports {
    pub summary: bool,
    pub html: bool,
    pub history: bool,
    pub stale_days: u32,
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

/// Where the API is and what to present to it.
#[derive(Debug, Clone)]
pub struct ApiTarget {
    pub base: ApiBase,
    pub credential: Credential,
}

#[derive(Debug, Clone)]
pub enum Credential {
    /// A token handed over by the caller (the demo's simulator token).
    Token(AccessToken),
    /// Find the peer's credential: environment, auth database, or login.
    Login,
}

#[derive(Debug, Error)]
pub enum RecipeError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// A failed run, with the job log that tells where it stopped.
#[derive(Debug)]
pub struct Failed {
    pub error: RecipeError,
    pub job_log: Option<JobLog>,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub job_dir: PathBuf,
    pub reports: Vec<PathBuf>,
    pub rows: usize,
}

/// Lines shown above the run (e.g. the demo says it is a simulation).
pub type ExtraHeader = Vec<String>;

pub async fn exec(
    options: &StatusOptions,
    target: &ApiTarget,
    extra_header: ExtraHeader,
) -> Result<Outcome, Failed> {
    let common = &options.common;
    let no_log = |error: RecipeError| Failed {
        error,
        job_log: None,
    };
    let home = resolve_home(common.workspace.as_deref()).map_err(|e| no_log(e.into()))?;
    let http = http_client(&target.base, common.proxy.as_deref()).map_err(|e| no_log(e.into()))?;
    // Credentials first: a run that cannot authenticate leaves no job behind.
    let tokens = match &target.credential {
        Credential::Token(token) => TokenSource::fixed(token.clone(), &options.peer),
        Credential::Login => {
            let ctx = LoginContext {
                peer: options.peer.clone(),
                base: target.base.clone(),
                http,
                auth_db: common
                    .auth_database
                    .clone()
                    .unwrap_or_else(|| store::default_path(&home)),
                secure: common.secure,
                app_key: None,
                prompt: crate::report::login_prompt::stderr(common.lang),
            };
            login::token_source(&ctx, Interaction::IfTerminal)
                .await
                .map_err(|e| no_log(e.into()))?
        }
    };
    let job = Arc::new(Job::create(&home, log_options(common)).map_err(|e| no_log(e.into()))?);
    let console = Console::new(
        common.output,
        common.quiet,
        layout_of(options),
        Messages(common.lang),
    );
    job.log(
        Level::Info,
        "start",
        json!({
            "command": "dropbox team backup device status",
            "version": env!("CARGO_PKG_VERSION"),
            "start_time": format_dropbox_time(options.period.start),
            "end_time": options.period.end.map(format_dropbox_time),
            "peer": options.peer,
            "api": target.base.as_str(),
        }),
    );
    let result = run(
        options,
        target,
        Arc::new(tokens),
        &job,
        &home,
        &console,
        extra_header,
    )
    .await;
    let keep = keep_job(common.retain, result.is_ok());
    match &result {
        Ok(outcome) => job.log(Level::Info, "finished", json!({"rows": outcome.rows})),
        Err(error) => job.log(Level::Error, "failed", json!({"error": error.to_string()})),
    }
    job.end();
    let job_log = if keep { job.job_log() } else { None };
    if let (Ok(_), Some(log @ (JobLog::Incomplete { .. } | JobLog::Lost { .. }))) =
        (&result, &job_log)
    {
        // The reports are whole (a full disk let them in); the log is not.
        console.warn(&log.to_string());
    }
    if !keep {
        // The policy asked for it; a folder that will not go is only noise.
        let _ = job.remove();
    }
    result.map_err(|error| Failed { error, job_log })
}

/// With `-budget-storage low` the job log stops at a megabyte.
const LOW_STORAGE_LOG_BYTES: u64 = 1024 * 1024;

fn log_options(common: &CommonOptions) -> LogOptions {
    LogOptions {
        write_log: common.write_log,
        debug: common.debug,
        capture: !common.storage_low,
        max_log_bytes: common.storage_low.then_some(LOW_STORAGE_LOG_BYTES),
    }
}

/// Whether the job folder stays after a run that succeeded or failed.
fn keep_job(retain: RetainJobData, succeeded: bool) -> bool {
    match retain {
        RetainJobData::Default => true,
        RetainJobData::OnError => !succeeded,
        RetainJobData::None => false,
    }
}

fn transport_for(
    target: &ApiTarget,
    tokens: Arc<TokenSource>,
    common: &CommonOptions,
    job: &Arc<Job>,
) -> Result<Transport, ApiError> {
    let mut config = TransportConfig::new(target.base.clone(), tokens);
    config.proxy = common.proxy.clone();
    config.max_in_flight = common.concurrency;
    config.bandwidth = common.bandwidth_kb.map(|kb| Arc::new(Bandwidth::new(kb)));
    let job = Arc::clone(job);
    let verbose = common.verbose;
    config.observer = Some(Arc::new(move |call: &CallRecord| {
        log_call(&job, verbose, call);
    }));
    Transport::new(config)
}

fn log_call(job: &Job, verbose: bool, call: &CallRecord) {
    let mut fields = json!({
        "route": call.route,
        "attempt": call.attempt,
        "status": call.status,
        "ms": call.elapsed.as_millis() as u64,
        "response_bytes": call.response_bytes,
        "request_id": call.request_id,
        "retry_in_ms": call.retry_in.map(|d| d.as_millis() as u64),
    });
    let mut captured = fields.clone();
    captured["request"] = call
        .request
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    job.capture(captured);
    fields["note"] = json!(call.note);
    if let Some(warning) = &call.warning {
        fields["warning"] = json!(warning);
    }
    let level = if call.retry_in.is_some() || call.warning.is_some() {
        Level::Warn
    } else {
        Level::Debug
    };
    job.log(level, "api call", fields);
    let status = call
        .status
        .map_or("network error".to_string(), |s| s.to_string());
    if verbose {
        let retry = call
            .retry_in
            .map(|d| format!(", retrying in {:.1} s", d.as_secs_f64()))
            .unwrap_or_default();
        let note = call
            .note
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        eprintln!(
            "[api] {} -> {status} in {} ms (attempt {}){retry}{note}",
            call.route,
            call.elapsed.as_millis(),
            call.attempt
        );
    }
}

/// A computer's latest event: when, what it described, whom it named.
type SeenDevice = (DateTime<Utc>, LinkedDevice, Owner);

/// Keeps, per session, the device and member of its latest event.
fn note_seen_device(
    seen: &mut HashMap<String, SeenDevice>,
    at: DateTime<Utc>,
    event: &team_log::ChangeEvent,
) {
    let Some((device, email, display_name)) = team_log::event_device(event) else {
        return;
    };
    let newer = seen
        .get(device.session_id())
        .is_none_or(|(t, _, _)| at >= *t);
    if newer {
        let owner = Owner {
            email,
            display_name,
        };
        seen.insert(device.session_id().to_string(), (at, device, owner));
    }
}

/// The report's columns: `-experiment`'s choice, and `linked` with
/// `-include-unlinked`.
fn layout_of(options: &StatusOptions) -> Layout {
    Layout {
        linked: options.include_unlinked,
        ..options.common.layout
    }
}

/// Fetches into the store what it has not settled of `period` (see
/// `store::sync`: the last 24 hours before each fetch are fetched again);
/// returns the fetch's counts and the number of gaps.
async fn fetch_into_store(
    transport: &Transport,
    store: &EventStore,
    period: &Period,
    concurrency: usize,
    show: &mut impl FnMut(&EventScan),
) -> Result<(EventScan, usize), RecipeError> {
    let now = Utc::now();
    let now_ceil = DateTime::from_timestamp(now.timestamp() + 1, 0).unwrap_or(now);
    let end = period.end.unwrap_or(now_ceil);
    let todo = store.plan(Span::new(period.start, end))?;
    let mut total = EventScan::default();
    for gap in &todo {
        // Dropped on any early return, or with the future on Ctrl-C: the
        // batch then rolls back and the gap stays uncovered.
        let batch = store.begin()?;
        let mut failed = None;
        let gap_period = Period {
            start: gap.start_time(),
            end: Some(gap.end_time()),
        };
        let workers = sync::workers_for(*gap, concurrency);
        let scan =
            team_log::scan_backup_changes(transport, &gap_period, workers, |change, raw, scan| {
                if failed.is_none() {
                    failed = batch
                        .insert(change.fingerprint, change.timestamp.timestamp(), raw.get())
                        .err();
                }
                show(scan);
            })
            .await?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        batch.commit(*gap, now.timestamp())?;
        total.pages += scan.pages;
        total.changes += scan.changes;
        total.restarts += scan.restarts;
        total.splits += scan.splits;
        total.other_events += scan.other_events;
    }
    Ok((total, todo.len()))
}

/// The opt-in reports: `summary.json` and `devices.html`.
fn extra_reports(options: &StatusOptions, team: &str, rows: &[Row]) -> Vec<(String, String)> {
    let wanted = options.extras;
    if !wanted.summary && !wanted.html {
        return Vec::new();
    }
    let now = Utc::now();
    let summary = summarize(rows, wanted.stale_days, now);
    let start = format_dropbox_time(options.period.start);
    let end = options.period.end.map(format_dropbox_time);
    let filter = options.selection.describe();
    let mut files = Vec::new();
    if wanted.summary {
        let document = json!({
            "team": team,
            "period": {"start_time": start, "end_time": end},
            "filter": filter,
            "generated": format_dropbox_time(now),
            "summary": summary,
        });
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
        let info = PageInfo {
            team,
            period: &period,
            filter: &filter,
            generated: &format_dropbox_time(now),
        };
        files.push((
            "devices.html".to_string(),
            html::render(&info, rows, &summary, layout_of(options)),
        ));
    }
    files
}

async fn run(
    options: &StatusOptions,
    target: &ApiTarget,
    tokens: Arc<TokenSource>,
    job: &Arc<Job>,
    home: &Path,
    console: &Console,
    extra_header: ExtraHeader,
) -> Result<Outcome, RecipeError> {
    let transport = transport_for(target, tokens, &options.common, job)?;
    let text = console.messages();

    job.log(Level::Info, "step", json!({"step": "get team info"}));
    let team = team::get_info(&transport).await?;
    let mut header = vec![
        format!(
            "tbx {} - dropbox team backup device status",
            env!("CARGO_PKG_VERSION")
        ),
        text.team(&team.name, &team.team_id),
        text.period(
            &format_dropbox_time(options.period.start),
            options.period.end.map(format_dropbox_time).as_deref(),
        ),
        text.job(&job.dir),
    ];
    if !options.selection.is_default() {
        header.push(text.selection(&options.selection.describe()));
    }
    header.extend(extra_header);
    console.header(&header);

    // Devices then their owners, and the audit log, at the same time: they
    // share the transport's limit of -concurrency requests in flight.
    console.progress(&text.fetching());
    let team_size = Some(team.num_provisioned_users).filter(|&n| n > 0);
    let progress = Progress::new(!options.common.quiet);
    let opened = open_for_run(&store_path(home, &team.team_id), options.no_cache)?;
    if let Some(notice) = &opened.notice {
        job.log(Level::Warn, "event store rebuilt", json!({"why": notice}));
        console.warn(notice);
    }
    let store = opened.store;
    let devices_and_owners = async {
        job.log(Level::Info, "step", json!({"step": "list devices"}));
        let step = progress.step(text.step_devices());
        let devices =
            devices::list_desktop_clients(&transport, |n| step.update(format!("{n} so far")))
                .await?;
        drop(step);
        job.log(
            Level::Info,
            "devices listed",
            json!({"desktop_clients": devices.len()}),
        );
        job.log(Level::Info, "step", json!({"step": "resolve owners"}));
        let _step = progress.step(text.step_owners());
        let wanted: BTreeSet<String> = devices
            .iter()
            .map(|d| d.team_member_id().to_string())
            .collect();
        let owners = members::resolve_owners(&transport, &wanted, team_size).await?;
        let unresolved = wanted.len() - owners.len().min(wanted.len());
        if unresolved > 0 {
            job.log(
                Level::Warn,
                "owners not found",
                json!({"count": unresolved}),
            );
        }
        Ok::<_, ApiError>((devices, owners))
    };
    let events = async {
        job.log(Level::Info, "step", json!({"step": "scan audit log"}));
        let mut fold = StatusFold::new();
        let mut history = options.extras.history.then(HistoryLog::default);
        // Session -> (time, device, member) of its latest event.
        let mut seen: Option<HashMap<String, SeenDevice>> =
            options.include_unlinked.then(HashMap::new);
        let mut absorb = |change: StatusChange, raw: &RawValue| {
            // The extra reports need more of the event than the fold does.
            let event = if history.is_some() || seen.is_some() {
                team_log::ChangeEvent::parse(raw)
            } else {
                None
            };
            if let (Some(history), Some(event)) = (history.as_mut(), &event) {
                if let Some(details) = team_log::change_details(event) {
                    history.push(details, change.fingerprint);
                }
            }
            if let (Some(seen), Some(event)) = (seen.as_mut(), &event) {
                note_seen_device(seen, change.timestamp, event);
            }
            fold.push(change);
        };
        let step = progress.step(text.step_events());
        let mut pages_shown = 0;
        let mut show = |scan: &EventScan| {
            if scan.pages != pages_shown {
                pages_shown = scan.pages;
                step.update(format!(
                    "{} status changes, {} pages, {:.0} events/s",
                    scan.changes,
                    scan.pages,
                    step.rate(scan.changes)
                ));
            }
        };
        let (scan, gaps) = fetch_into_store(
            &transport,
            &store,
            &options.period,
            options.common.concurrency,
            &mut show,
        )
        .await?;
        job.log(
            Level::Info,
            "event store",
            json!({"gaps_fetched": gaps, "store": store.path().display().to_string()}),
        );
        let end = options
            .period
            .end
            .unwrap_or_else(|| Utc::now() + chrono::Duration::seconds(1));
        store.for_each_in(Span::new(options.period.start, end), |raw| {
            if let Ok(raw) = RawValue::from_string(raw) {
                if let Ok(Some(change)) = team_log::to_change(team_log::ROUTE_GET_EVENTS, &raw) {
                    absorb(change, &raw);
                }
            }
        })?;
        drop(step);
        let seen = seen.map(|m| {
            m.into_iter()
                .map(|(k, (_, d, o))| (k, (d, o)))
                .collect::<HashMap<_, _>>()
        });
        Ok::<_, RecipeError>((scan, fold, history, seen))
    };
    let (listed, scanned) = tokio::join!(devices_and_owners, events);
    let (devices, owners) = listed?;
    let (scan, fold, history, seen) = scanned?;
    console.progress(&text.devices_found(devices.len() as u64, owners.len() as u64));
    console.progress(&text.changes_found(scan.changes, fold.sessions() as u64, scan.pages));
    job.log(
        Level::Info,
        "audit log scanned",
        json!({
            "pages": scan.pages,
            "changes": scan.changes,
            "sessions": fold.sessions(),
            "skipped_without_session_id": fold.without_session(),
            "duplicates_dropped": fold.duplicates(),
            "listing_restarts": scan.restarts,
            "window_splits": scan.splits,
            "skipped_other_events": scan.other_events,
        }),
    );

    job.log(Level::Info, "step", json!({"step": "write reports"}));
    let latest = fold.finish();
    let history_rows = history.map(|log| {
        let session_owners: HashMap<String, (String, String)> = devices
            .iter()
            .filter_map(|d| {
                let owner = owners.get(d.team_member_id())?;
                Some((
                    d.session_id().to_string(),
                    (owner.email.clone(), owner.display_name.clone()),
                ))
            })
            .collect();
        log.rows(&session_owners)
    });
    let linked: std::collections::HashSet<String> = match &seen {
        Some(_) => devices.iter().map(|d| d.session_id().to_string()).collect(),
        None => Default::default(),
    };
    let mut rows = build_rows(devices, &latest, &owners);
    if let Some(seen) = seen {
        rows.extend(unlinked_rows(seen, &linked, &latest));
        sort_rows(&mut rows);
    }
    let rows: Vec<Row> = options.selection.apply(rows);
    // The filters apply to every report: history keeps the devices shown.
    let history_rows = history_rows.map(|history| {
        if options.selection.is_default() && !options.include_unlinked {
            return history;
        }
        let shown: std::collections::HashSet<&str> =
            rows.iter().map(|r| r.get(col::SESSION_ID)).collect();
        history
            .into_iter()
            .filter(|h| shown.contains(h.0[1].as_str()))
            .collect::<Vec<_>>()
    });
    let formats = if options.common.json_only {
        Formats::JSON_ONLY
    } else {
        Formats::ALL
    };
    let extras = extra_reports(options, &team.name, &rows);
    let filter = options.common.output_filter.as_deref();
    let step = progress.step(&text.step_write(rows.len()));
    let reports = write_reports(
        &job.reports,
        &ReportSet {
            name: REPORT_NAME,
            rows: &rows,
            filter,
            formats,
            layout: layout_of(options),
            extras: &extras,
            history: history_rows.as_deref(),
        },
    )?;
    drop(step);
    job.log(
        Level::Info,
        "reports written",
        json!({"rows": rows.len(), "files": reports.iter().map(|p| p.display().to_string()).collect::<Vec<_>>()}),
    );

    let json_report = reports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"));
    console.rows(&rows, json_report.map(|p| p.as_path()));
    if keep_job(options.common.retain, true) {
        console.report_paths(&reports);
        if options.common.auto_open && !reports.is_empty() {
            let html = job.reports.join("devices.html");
            let target = if html.exists() {
                html
            } else {
                job.reports.clone()
            };
            match open_folder(&target) {
                Ok(opened) => job.log(Level::Info, "auto-open", json!({"opened": opened})),
                Err(why) => console.warn(&format!("-auto-open: {why}")),
            }
        }
    } else {
        console.progress(
            "The job folder is removed after the run (-retain-job-data); the reports are not kept.",
        );
    }
    Ok(Outcome {
        job_dir: job.dir.clone(),
        reports,
        rows: rows.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: StatusArgs,
    }

    fn validate(args: &[&str]) -> Result<StatusOptions, OptionError> {
        let mut argv = vec!["status"];
        argv.extend_from_slice(args);
        let now = crate::domain::period::parse_dropbox_time("2026-07-14T09:12:44Z").unwrap();
        Wrapper::try_parse_from(argv).unwrap().args.validate(now)
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
