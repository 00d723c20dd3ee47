//! `tbx dropbox team backup device status`: for every linked desktop client
//! of the team, the latest Dropbox Backup status in `[-start-time,
//! -end-time)`. The recipe parses and validates the options, opens the job,
//! has `ops::device_status::collect` do the work, writes
//! `devices.csv|json|xlsx` (and the opt-in reports) into the job folder and
//! prints the result.

mod args;
mod observer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::period::format_dropbox_time;
use crate::dropbox::auth::tokens::TokenSource;
use crate::dropbox::team::TeamInfo;
use crate::job::{resolve_home, Job, Level};
use crate::ops::device_status::{self, StatusResult};
use crate::recipes::session::{
    before_job, finish, keep_job, log_options, token_source, transport_for,
};
use crate::report::console::Console;
use crate::report::extras::{self, RunInfo};
use crate::report::messages::Messages;
use crate::report::open::open_folder;
use crate::report::progress::Progress;
use crate::report::{write_reports, Formats, ReportSet};

pub use crate::recipes::session::{ApiTarget, Credential, Failed, Finished, RecipeError};
pub use crate::report::extras::ExtraReports;
pub use args::{StatusArgs, StatusOptions};
use observer::RunObserver;

pub const REPORT_NAME: &str = "devices";

/// Lines shown above the run (e.g. the demo says it is a simulation).
pub type ExtraHeader = Vec<String>;

/// Runs the command as of `now`, the run's one clock reading (the same one
/// the options were validated against).
pub async fn exec(
    options: &StatusOptions,
    target: &ApiTarget,
    extra_header: ExtraHeader,
    now: DateTime<Utc>,
) -> Result<Finished, Failed> {
    let common = &options.common;
    let home = resolve_home(common.workspace.as_deref()).map_err(before_job)?;
    // Credentials first: a run that cannot authenticate leaves no job behind.
    let tokens = token_source(&options.peer, common, target, &home)
        .await
        .map_err(before_job)?;
    let job = Arc::new(Job::create(&home, log_options(common)).map_err(before_job)?);
    let console = Console::new(
        common.output,
        common.quiet,
        options.layout(),
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
    let run = Run {
        options,
        job: &job,
        console: &console,
        progress: Progress::new(!common.quiet),
        home: &home,
        now,
    };
    let result = run.go(target, Arc::new(tokens), extra_header).await;
    finish(&job, &console, options.common.retain, result)
}

/// Writes `devices.csv|json|xlsx` (and the opt-in reports) of `result`
/// into `job`'s reports folder, as the command does; nothing goes to
/// stdout (an MCP tool call writes its reports through this too).
pub fn write_job_reports(
    job: &Job,
    options: &StatusOptions,
    result: &StatusResult,
    now: DateTime<Utc>,
    progress: &Progress,
    text: Messages,
) -> Result<Vec<PathBuf>, RecipeError> {
    job.log(Level::Info, "step", json!({"step": "write reports"}));
    let formats = if options.common.json_only {
        Formats::JSON_ONLY
    } else {
        Formats::ALL
    };
    let layout = options.layout();
    let info = RunInfo {
        team: &result.team.name,
        period: &options.period,
        filter: &options.selection.describe(),
        now,
        layout,
    };
    let extras = extras::render(options.extras, &info, &result.rows, result.summary.as_ref());
    let step = progress.step(&text.step_write(result.rows.len()));
    let reports = write_reports(
        &job.reports,
        &ReportSet {
            name: REPORT_NAME,
            rows: &result.rows,
            filter: options.common.output_filter.as_deref(),
            formats,
            layout,
            extras: &extras,
            history: result.history.as_deref(),
        },
    )?;
    drop(step);
    job.log(
        Level::Info,
        "reports written",
        json!({"rows": result.rows.len(), "files": reports.iter().map(|p| p.display().to_string()).collect::<Vec<_>>()}),
    );
    Ok(reports)
}

/// What one run works with once the job is open.
struct Run<'a> {
    options: &'a StatusOptions,
    job: &'a Arc<Job>,
    console: &'a Console,
    /// Spinners on stderr, one per step while it runs.
    progress: Progress,
    home: &'a Path,
    now: DateTime<Utc>,
}

impl Run<'_> {
    async fn go(
        &self,
        target: &ApiTarget,
        tokens: Arc<TokenSource>,
        extra_header: ExtraHeader,
    ) -> Result<Finished, RecipeError> {
        let transport = transport_for(target, tokens, &self.options.common, self.job)?;
        let on_team = |team: &TeamInfo| self.header(team, &extra_header);
        let observer = RunObserver::new(self.job, self.console, &self.progress, &on_team);
        let query = self.options.query(self.home);
        let result = device_status::collect(&transport, &query, self.now, &observer).await?;
        drop(observer);
        self.tell_scan(&result);
        let reports = self.write(&result)?;
        self.show(&result, &reports);
        Ok(Finished {
            job_dir: self.job.dir.clone(),
            reports,
            rows: result.rows.len(),
        })
    }

    /// The header, once the team is known.
    fn header(&self, team: &TeamInfo, extra_header: &[String]) {
        let text = self.console.messages();
        let period = &self.options.period;
        let mut header = vec![
            format!(
                "tbx {} - dropbox team backup device status",
                env!("CARGO_PKG_VERSION")
            ),
            text.team(&team.name, &team.team_id),
            text.period(
                &format_dropbox_time(period.start),
                period.end.map(format_dropbox_time).as_deref(),
            ),
            text.job(&self.job.dir),
        ];
        if !self.options.selection.is_default() {
            header.push(text.selection(&self.options.selection.describe()));
        }
        header.extend(extra_header.iter().cloned());
        self.console.header(&header);
        self.console.progress(&text.fetching());
    }

    /// The counts of the scan, on the console and in the job log.
    fn tell_scan(&self, result: &StatusResult) {
        let text = self.console.messages();
        let stats = &result.stats;
        self.console.progress(
            &text.devices_found(result.devices_listed as u64, result.owners_found as u64),
        );
        self.console.progress(&text.changes_found(
            stats.scan.changes,
            stats.sessions as u64,
            stats.scan.pages,
        ));
        self.job.log(
            Level::Info,
            "audit log scanned",
            json!({
                "pages": stats.scan.pages,
                "changes": stats.scan.changes,
                "sessions": stats.sessions,
                "skipped_without_session_id": stats.without_session,
                "duplicates_dropped": stats.duplicates,
                "listing_restarts": stats.scan.restarts,
                "window_splits": stats.scan.splits,
                "skipped_other_events": stats.scan.other_events,
            }),
        );
    }

    fn write(&self, result: &StatusResult) -> Result<Vec<PathBuf>, RecipeError> {
        write_job_reports(
            self.job,
            self.options,
            result,
            self.now,
            &self.progress,
            self.console.messages(),
        )
    }

    /// The rows and where the reports are, on the console.
    fn show(&self, result: &StatusResult, reports: &[PathBuf]) {
        let json_report = reports
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == "json"));
        self.console
            .rows(&result.rows, json_report.map(|p| p.as_path()));
        if !keep_job(self.options.common.retain, true) {
            self.console
                .progress(&self.console.messages().not_retained());
            return;
        }
        self.console.report_paths(reports);
        if self.options.common.auto_open && !reports.is_empty() {
            let html = self.job.reports.join("devices.html");
            let target = if html.exists() {
                html
            } else {
                self.job.reports.clone()
            };
            match open_folder(&target) {
                Ok(opened) => self
                    .job
                    .log(Level::Info, "auto-open", json!({"opened": opened})),
                Err(why) => self
                    .console
                    .warn(&self.console.messages().auto_open_failed(&why.to_string())),
            }
        }
    }
}
