//! `tbx dropbox team backup device watch`: polls the audit log every
//! `-interval` and, for each new backup status change whose new status
//! alerts, writes one JSON line to stdout and notifies the webhooks and
//! the command given. The recipe parses and validates the options, opens
//! the job (its log rotated), has `ops::watch` find what is new, prints,
//! delivers, and has the checkpoint saved after each poll. A transient
//! failure is logged and tried again at the next poll; a stop request
//! (Ctrl-C, SIGTERM) abandons the poll in flight and ends with success.

mod args;

use std::future::Future;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use chrono::{Local, Utc};
use serde_json::json;

use crate::domain::period::format_dropbox_time;
use crate::domain::watch::format_interval;
use crate::dropbox::auth::AuthError;
use crate::dropbox::ApiError;
use crate::job::{resolve_home, Job, Level, Rotation};
use crate::notify::{Notifier, Target};
use crate::ops::watch::{Poll, Started, WatchError, Watcher, MAX_OWED, OWED_FOR_SECS};
use crate::recipes::session::{before_job, finish, log_options, token_source, transport_for};
use crate::report::console::{Console, OutputMode};
use crate::report::messages::Messages;
use crate::report::watch::{change_line, write_change_lines};
use crate::store::checkpoint::PendingDelivery;
use crate::store::Rebuilt;

pub use crate::recipes::session::{ApiTarget, Credential, Failed, Finished, RecipeError};
pub use args::{WatchArgs, WatchOptions};

/// Job logs of a watch are rotated at this size, this many kept.
const LOG_ROTATION: Rotation = Rotation {
    max_bytes: 10 * 1024 * 1024,
    keep: 7,
};

/// One webhook request's time limit (three tries at most per delivery).
const WEBHOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Polls more often than this draw a note about the rate limit.
const RATE_LIMIT_NOTE_BELOW: std::time::Duration = std::time::Duration::from_secs(60);

/// Watches until `stop` resolves (or after one poll with `-once`). The
/// result's `rows` counts the changes that alerted.
pub async fn exec(
    options: &WatchOptions,
    target: &ApiTarget,
    stop: impl Future<Output = ()>,
) -> Result<Finished, Failed> {
    let common = &options.common;
    let home = resolve_home(common.workspace.as_deref()).map_err(before_job)?;
    let tokens = token_source(&options.peer, common, target, &home)
        .await
        .map_err(before_job)?;
    let notifier = Notifier::new(options.targets.clone(), common.proxy.as_deref())
        .map_err(|e| before_job(RecipeError::Notify(e.to_string())))?
        // A receiver that hangs holds a poll's deliveries, not the watch.
        .with_request_timeout(WEBHOOK_TIMEOUT);
    let mut log = log_options(common);
    log.rotate = Some(LOG_ROTATION);
    let job = Arc::new(Job::create(&home, log).map_err(before_job)?);
    let console = Console::new(
        OutputMode::None,
        common.quiet,
        common.layout,
        Messages(common.lang),
    );
    job.log(
        Level::Info,
        "start",
        json!({
            "command": "dropbox team backup device watch",
            "version": env!("CARGO_PKG_VERSION"),
            "name": options.name,
            "since": format_dropbox_time(options.since),
            "interval_secs": options.interval.as_secs(),
            "alert_on": options.alert_on.describe(),
            "once": options.once,
            "targets": notifier.targets().iter().map(Target::label).collect::<Vec<_>>(),
            "peer": options.peer,
            "api": target.base.as_str(),
        }),
    );
    let watch = Watch {
        options,
        job: &job,
        console: &console,
        notifier,
        home: &home,
        alerts: 0,
        polls: 0,
    };
    let result = watch.run(target, Arc::new(tokens), stop).await;
    finish(&job, &console, common.retain, result)
}

/// One watch, once its job is open.
struct Watch<'a> {
    options: &'a WatchOptions,
    job: &'a Arc<Job>,
    console: &'a Console,
    notifier: Notifier,
    home: &'a Path,
    alerts: u64,
    polls: u64,
}

/// What one poll did, for the status line and the job log.
struct PollReport {
    alerts: usize,
    passed_over: usize,
}

impl Watch<'_> {
    async fn run(
        mut self,
        target: &ApiTarget,
        tokens: Arc<crate::dropbox::auth::tokens::TokenSource>,
        stop: impl Future<Output = ()>,
    ) -> Result<Finished, RecipeError> {
        let transport = transport_for(target, tokens, &self.options.common, self.job)?;
        tokio::pin!(stop);
        let Some(mut watcher) = self.start(&transport, &mut stop).await? else {
            return Ok(self.stopped());
        };
        loop {
            // Only reading the log is abandoned on a stop: once a poll's
            // lines are printed, its checkpoint is saved with them.
            let polled = tokio::select! {
                polled = watcher.poll(&transport, Utc::now()) => polled,
                () = &mut stop => break,
            };
            self.polls += 1;
            let recorded = match polled {
                Ok(poll) => self.report(&mut watcher, &poll).await,
                Err(e) => Err(e.into()),
            };
            let outcome = match recorded {
                Ok(report) => {
                    let delivered = tokio::select! {
                        delivered = self.deliver(&mut watcher) => Some(delivered),
                        () = &mut stop => None,
                    };
                    match delivered {
                        Some(Ok(delivery)) => Ok((report, delivery)),
                        Some(Err(e)) => Err(e),
                        None => break,
                    }
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok((report, delivery)) => self.tell_poll(&report, &delivery),
                Err(e) if self.options.once || is_fatal(&e) => return Err(e),
                Err(e) => self.tell_failure("poll failed", &e),
            }
            if self.options.once {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(self.options.interval) => {}
                () = &mut stop => break,
            }
        }
        Ok(self.stopped())
    }

    /// The end of a watch that was asked to stop (or polled once).
    fn stopped(&self) -> Finished {
        self.job.log(
            Level::Info,
            "stopped",
            json!({"polls": self.polls, "alerts": self.alerts}),
        );
        if !self.options.common.quiet && !self.options.once {
            eprintln!(
                "Stopped after {} poll(s), {} alert(s); checkpoint '{}' is saved: the next start resumes from it.",
                self.polls, self.alerts, self.options.name
            );
        }
        Finished {
            job_dir: self.job.dir.clone(),
            reports: Vec::new(),
            rows: self.alerts as usize,
        }
    }

    /// Learns the team and finds the checkpoint; a transient failure is
    /// tried again every interval. `None`: stopped before it could start.
    async fn start(
        &mut self,
        transport: &crate::dropbox::Transport,
        stop: &mut (impl Future<Output = ()> + Unpin),
    ) -> Result<Option<Watcher>, RecipeError> {
        let keys: Vec<String> = self.notifier.targets().iter().map(Target::key).collect();
        loop {
            let query = self.options.query(self.home);
            let started = tokio::select! {
                started = Watcher::start(transport, query, &keys, Utc::now()) => started,
                () = &mut *stop => return Ok(None),
            };
            match started.map_err(RecipeError::from) {
                Ok((watcher, started)) => {
                    self.header(&started);
                    return Ok(Some(watcher));
                }
                Err(e) if self.options.once || is_fatal(&e) => return Err(e),
                Err(e) => self.tell_failure("start failed", &e),
            }
            tokio::select! {
                () = tokio::time::sleep(self.options.interval) => {}
                () = &mut *stop => return Ok(None),
            }
        }
    }

    /// Prints what the poll found and saves its checkpoint, with a
    /// delivery owed to each target for each alert.
    async fn report(
        &mut self,
        watcher: &mut Watcher,
        poll: &Poll,
    ) -> Result<PollReport, RecipeError> {
        self.log_poll(poll);
        let lines: Vec<String> = poll
            .alerts
            .iter()
            .map(|a| change_line(&a.row, &a.event_id))
            .collect();
        self.print(&lines).await?;
        self.alerts += poll.alerts.len() as u64;
        let mut owed = Vec::new();
        for (alert, line) in poll.alerts.iter().zip(&lines) {
            let text = crate::domain::watch::alert_text(&alert.row);
            for target in self.notifier.targets() {
                owed.push(PendingDelivery {
                    target: target.key(),
                    fingerprint: alert.fingerprint,
                    time: alert.row.timestamp.timestamp(),
                    text: text.clone(),
                    change: line.clone(),
                    attempts: 0,
                });
            }
        }
        let given_up = watcher.record(poll, owed)?;
        if given_up > 0 {
            self.console.warn(&format!(
                "{given_up} owed notification(s) given up: older than {} days, or more than {MAX_OWED} for one target",
                OWED_FOR_SECS / 86_400
            ));
            self.job.log(
                Level::Warn,
                "notifications given up",
                json!({"count": given_up}),
            );
        }
        Ok(PollReport {
            alerts: poll.alerts.len(),
            passed_over: poll.passed_over,
        })
    }

    fn log_poll(&self, poll: &Poll) {
        self.job.log(
            Level::Info,
            "poll",
            json!({
                "from": format_dropbox_time(poll.window.start_time()),
                "to": format_dropbox_time(poll.window.end_time()),
                "pages": poll.scan.pages,
                "changes_read": poll.scan.changes,
                "alerts": poll.alerts.len(),
                "not_alerting": poll.passed_over,
                "owners_refreshed": poll.owners_refreshed,
            }),
        );
        for alert in &poll.alerts {
            self.job.log(
                Level::Info,
                "alert",
                json!({"event_id": alert.event_id, "session_id": alert.row.session_id,
                       "new_status": alert.row.new.as_str(),
                       "timestamp": format_dropbox_time(alert.row.timestamp)}),
            );
        }
    }

    /// The poll's lines on stdout (through `-output-filter`), unless
    /// `-output none`. A filter that fails lets the lines through as they
    /// are, with a warning: an alert is never lost to a filter.
    async fn print(&self, lines: &[String]) -> Result<(), RecipeError> {
        if lines.is_empty() || self.options.common.output == OutputMode::None {
            return Ok(());
        }
        let lines = lines.to_vec();
        let filter = self.options.common.output_filter.clone();
        let written = tokio::task::spawn_blocking(move || {
            let stdout = std::io::stdout();
            let terminal = stdout.is_terminal();
            let mut out = stdout.lock();
            let said = write_change_lines(&mut out, &lines, filter.as_deref(), terminal)?;
            std::io::Write::flush(&mut out)?;
            Ok::<_, std::io::Error>(said)
        })
        .await
        .map_err(|e| RecipeError::Output(format!("stdout: {e}")))?;
        match written {
            Ok(None) => Ok(()),
            Ok(Some(why)) => {
                self.console.warn(&why);
                self.job
                    .log(Level::Warn, "output filter failed", json!({"error": why}));
                Ok(())
            }
            Err(e) => Err(RecipeError::Output(format!("cannot write to stdout: {e}"))),
        }
    }
}

/// What one round of deliveries did.
#[derive(Default)]
struct Delivery {
    delivered: usize,
    /// Still owed to the targets given, after this round.
    queued: usize,
}

/// How long one poll may spend delivering: the interval, within bounds,
/// so a receiver that hangs delays the next poll by a bounded time.
fn delivery_budget(interval: std::time::Duration) -> std::time::Duration {
    interval.clamp(
        std::time::Duration::from_secs(10),
        std::time::Duration::from_secs(60),
    )
}

impl Watch<'_> {
    /// Delivers what is owed, oldest first, each success and failure saved
    /// as it happens. A target that fails once gets nothing more this poll,
    /// and the round ends at its time budget; what is left stays owed for
    /// the next poll. Deliveries owed to targets not given this time wait.
    async fn deliver(&self, watcher: &mut Watcher) -> Result<Delivery, RecipeError> {
        let deadline = tokio::time::Instant::now() + delivery_budget(self.options.interval);
        // Each key is a hash of the target: worked out once, not per item.
        let targets: Vec<(String, &Target)> = self
            .notifier
            .targets()
            .iter()
            .map(|t| (t.key(), t))
            .collect();
        let mut result = Delivery::default();
        let mut failing: Vec<String> = Vec::new();
        for mut item in watcher.pending().to_vec() {
            let Some(&(_, target)) = targets.iter().find(|(key, _)| *key == item.target) else {
                continue;
            };
            if failing.contains(&item.target) {
                continue;
            }
            let change: serde_json::Value =
                serde_json::from_str(&item.change).unwrap_or(serde_json::Value::Null);
            item.attempts += 1;
            let sent = self.notifier.deliver(target, &item.text, &change);
            let Ok(sent) = tokio::time::timeout_at(deadline, sent).await else {
                self.job
                    .log(Level::Warn, "delivery time is up for this poll", json!({}));
                break;
            };
            let fields = json!({"target": target.label(), "event_id": event_of(&change), "attempts": item.attempts});
            match sent {
                Ok(()) => {
                    watcher.delivered(&item)?;
                    result.delivered += 1;
                    self.job.log(Level::Info, "delivered", fields);
                }
                Err(e) => {
                    watcher.attempted(&item)?;
                    self.console.warn(&e.to_string());
                    let mut fields = fields;
                    fields["error"] = json!(e.to_string());
                    self.job.log(Level::Warn, "delivery failed", fields);
                    failing.push(item.target.clone());
                }
            }
        }
        result.queued = watcher
            .pending()
            .iter()
            .filter(|p| targets.iter().any(|(key, _)| *key == p.target))
            .count();
        Ok(result)
    }

    /// The header on stderr, and the same facts in the job log.
    fn header(&self, started: &Started) {
        let options = self.options;
        let text = self.console.messages();
        let checkpoint = match (started.resumed, started.polled_to) {
            (true, Some(to)) => format!(
                "checkpoint '{}' resumed, read up to {}",
                options.name,
                format_dropbox_time(to)
            ),
            (true, None) => format!("checkpoint '{}' resumed", options.name),
            (false, _) => format!("checkpoint '{}' new", options.name),
        };
        let mut lines = vec![
            format!(
                "tbx {} - dropbox team backup device watch",
                env!("CARGO_PKG_VERSION")
            ),
            text.team(&started.team.name, &started.team.team_id),
            format!(
                "Watching: alerts on {}, every {}, changes since {} ({checkpoint})",
                options.alert_on.describe(),
                format_interval(options.interval),
                format_dropbox_time(started.since)
            ),
        ];
        if !self.notifier.is_empty() {
            let labels: Vec<String> = self.notifier.targets().iter().map(Target::label).collect();
            lines.push(format!("Notify: {}", labels.join(", ")));
        }
        if started.pending > 0 {
            lines.push(format!(
                "Owed from before: {} notification(s)",
                started.pending
            ));
        }
        lines.push(text.job(&self.job.dir));
        if !options.common.quiet {
            for line in &lines {
                eprintln!("{}", crate::report::console::sanitize(line));
            }
        }
        self.warn_at_start(started);
        if options.interval < RATE_LIMIT_NOTE_BELOW && !options.once && !options.common.quiet {
            eprintln!(
                "Note: polling more often than every minute spends the app's rate limit (about 1,000 calls an hour) faster."
            );
        }
        self.job.log(
            Level::Info,
            "watching",
            json!({"team": started.team.name, "team_id": started.team.team_id,
                   "resumed": started.resumed, "since": format_dropbox_time(started.since),
                   "polled_to": started.polled_to.map(format_dropbox_time),
                   "owed": started.pending, "store": started.store.display().to_string()}),
        );
    }

    /// What a person should know before the first poll.
    fn warn_at_start(&self, started: &Started) {
        let options = self.options;
        if let Some(why) = &started.rebuilt {
            self.tell_rebuilt(why);
        }
        if started.rebuilt.is_some() && !started.resumed {
            self.console.warn(&format!(
                "checkpoint '{}' was lost with the store: watching changes since {} (give -since to go further back)",
                options.name,
                format_dropbox_time(started.since)
            ));
        }
        if started.owed_elsewhere > 0 {
            self.console.warn(&format!(
                "{} owed notification(s) are for a target not given this time; they are kept (a week at most) for a watch that gives it",
                started.owed_elsewhere
            ));
        }
        for tag in options.alert_on.unusual_tags() {
            self.console.warn(&format!(
                "-alert-on: '{tag}' is not a status Dropbox sends today (enabled, disabled); it is watched anyway"
            ));
        }
        if started.resumed && options.since_given {
            self.console.warn(&format!(
                "-since is ignored: checkpoint '{}' keeps its own ({}); use another -name to start afresh",
                options.name,
                format_dropbox_time(started.since)
            ));
        }
    }

    fn tell_rebuilt(&self, why: &Rebuilt) {
        let text = self.console.messages();
        let line = match why {
            Rebuilt::OtherVersion { path, found } => {
                text.store_other_version(path, *found, Rebuilt::CURRENT_VERSION)
            }
            Rebuilt::Damaged { problem, moved_to } => {
                text.store_damaged(problem, moved_to.as_deref())
            }
        };
        self.console.warn(&line);
        self.job
            .log(Level::Warn, "event store rebuilt", json!({"why": line}));
    }

    /// One status line per poll on a terminal; always in the job log.
    fn tell_poll(&self, report: &PollReport, delivery: &Delivery) {
        self.job.log(
            Level::Info,
            "poll done",
            json!({"poll": self.polls, "alerts": report.alerts, "not_alerting": report.passed_over,
                   "delivered": delivery.delivered, "queued": delivery.queued}),
        );
        if self.options.common.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        let mut line = format!(
            "{} poll {}: {} alert(s), {} other change(s)",
            Local::now().format("%H:%M:%S"),
            self.polls,
            report.alerts,
            report.passed_over
        );
        if !self.notifier.targets().is_empty() {
            line.push_str(&format!(
                "; notifications: {} delivered, {} queued",
                delivery.delivered, delivery.queued
            ));
        }
        if !self.options.once {
            line.push_str(&format!(
                "; next in {}",
                format_interval(self.options.interval)
            ));
        }
        eprintln!("{line}");
    }

    fn tell_failure(&self, what: &str, error: &RecipeError) {
        let retry = format_interval(self.options.interval);
        self.console
            .warn(&format!("{what}: {error}; trying again in {retry}"));
        self.job
            .log(Level::Warn, what, json!({"error": error.to_string()}));
    }
}

impl From<WatchError> for RecipeError {
    fn from(e: WatchError) -> Self {
        match e {
            WatchError::Ops(e) => e.into(),
            in_use @ WatchError::InUse { .. } => RecipeError::Conflict(in_use.to_string()),
        }
    }
}

/// A token endpoint that failed (down, a 5xx) may answer next time; a
/// refused grant will not.
fn credential_may_recover(error: &AuthError) -> bool {
    matches!(error, AuthError::TokenEndpoint(_) | AuthError::Store { .. })
}

fn event_of(change: &serde_json::Value) -> &str {
    change["event_id"].as_str().unwrap_or("")
}

/// Failures no later poll can mend: the credential or its scope, the job
/// folder, stdout gone.
fn is_fatal(error: &RecipeError) -> bool {
    match error {
        RecipeError::Auth(_) | RecipeError::Job(_) | RecipeError::Output(_) => true,
        RecipeError::Notify(_) | RecipeError::Mcp(_) | RecipeError::Conflict(_) => true,
        RecipeError::Api(api) => {
            matches!(
                api,
                ApiError::ExpiredToken { .. }
                    | ApiError::InvalidToken { .. }
                    | ApiError::MissingScope { .. }
                    | ApiError::Auth { .. }
                    | ApiError::AccessDenied { .. }
            ) || matches!(api, ApiError::Credential(e) if !credential_may_recover(e))
        }
        RecipeError::Store(_) | RecipeError::Report(_) => false,
    }
}
