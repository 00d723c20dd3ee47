//! The status command's view of `collect` while it runs: a spinner per
//! phase on stderr (drawn only at a terminal), and the job log's steps and
//! counts.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::json;

use crate::dropbox::team::TeamInfo;
use crate::dropbox::team_log::EventScan;
use crate::job::{Job, Level};
use crate::ops::device_status::{Observer, Phase};
use crate::report::console::Console;
use crate::report::messages::{Lang, Messages};
use crate::report::progress::{Progress, Step};
use crate::store::Rebuilt;

/// Progress of `collect` on the console (spinners) and in the job log.
pub struct RunObserver<'a> {
    job: &'a Job,
    console: &'a Console,
    /// Prints the header once the team is known.
    on_team: &'a (dyn Fn(&TeamInfo) + Sync),
    progress: &'a Progress,
    steps: Mutex<HashMap<Phase, Step>>,
    pages_shown: AtomicU64,
}

impl<'a> RunObserver<'a> {
    pub fn new(
        job: &'a Job,
        console: &'a Console,
        progress: &'a Progress,
        on_team: &'a (dyn Fn(&TeamInfo) + Sync),
    ) -> Self {
        Self {
            job,
            console,
            on_team,
            progress,
            steps: Mutex::new(HashMap::new()),
            pages_shown: AtomicU64::new(0),
        }
    }

    fn log_step(&self, step: &str) {
        self.job.log(Level::Info, "step", json!({"step": step}));
    }

    fn with_step(&self, phase: Phase, f: impl FnOnce(&Step)) {
        if let Ok(steps) = self.steps.lock() {
            if let Some(step) = steps.get(&phase) {
                f(step);
            }
        }
    }
}

impl Observer for RunObserver<'_> {
    fn phase_started(&self, phase: Phase) {
        let text = self.console.messages();
        let (name, spinner) = match phase {
            Phase::TeamInfo => ("get team info", None),
            Phase::Devices => ("list devices", Some(text.step_devices())),
            Phase::Owners => ("resolve owners", Some(text.step_owners())),
            Phase::Events => ("scan audit log", Some(text.step_events())),
        };
        self.log_step(name);
        if let (Some(spinner), Ok(mut steps)) = (spinner, self.steps.lock()) {
            steps.insert(phase, self.progress.step(spinner));
        }
    }

    fn phase_finished(&self, phase: Phase) {
        if let Ok(mut steps) = self.steps.lock() {
            steps.remove(&phase);
        }
    }

    fn team(&self, team: &TeamInfo) {
        (self.on_team)(team);
    }

    fn store_rebuilt(&self, why: &Rebuilt) {
        let say = |text: Messages| match why {
            Rebuilt::OtherVersion { path, found } => {
                text.store_other_version(path, *found, Rebuilt::CURRENT_VERSION)
            }
            Rebuilt::Damaged { problem, moved_to } => {
                text.store_damaged(problem, moved_to.as_deref())
            }
        };
        self.job.log(
            Level::Warn,
            "event store rebuilt",
            json!({"why": say(Messages(Lang::En))}),
        );
        self.console.warn(&say(self.console.messages()));
    }

    fn devices_progress(&self, listed: usize) {
        self.with_step(Phase::Devices, |step| {
            step.update(format!("{listed} so far"))
        });
    }

    fn devices_listed(&self, count: usize) {
        self.job.log(
            Level::Info,
            "devices listed",
            json!({"desktop_clients": count}),
        );
    }

    fn owners_missing(&self, count: usize) {
        self.job
            .log(Level::Warn, "owners not found", json!({"count": count}));
    }

    fn events_progress(&self, scan: &EventScan) {
        if self.pages_shown.swap(scan.pages, Ordering::Relaxed) == scan.pages {
            return;
        }
        self.with_step(Phase::Events, |step| {
            step.update(format!(
                "{} status changes, {} pages, {:.0} events/s",
                scan.changes,
                scan.pages,
                step.rate(scan.changes)
            ))
        });
    }

    fn store_synced(&self, gaps_fetched: usize, store: &Path) {
        self.job.log(
            Level::Info,
            "event store",
            json!({"gaps_fetched": gaps_fetched, "store": store.display().to_string()}),
        );
    }
}
