//! Live changes: while the simulator runs, a backup status change arrives
//! on a timer (`tbx dev simulate -live SECONDS`, `SimHandle::start_live`),
//! so a watch can be tried, and tested, against a team that keeps moving.
//! Some of them are stamped hours in the past, as Dropbox's late arrivals
//! are. Each is a `LateChange` (`late`), for the linked sessions in turn.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use serde_json::Value;

use super::late::LateChange;
use super::Sim;

/// When live changes arrive and how many of them are late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSchedule {
    /// The time between two changes.
    pub every: Duration,
    /// Every n-th change is late (0: none).
    pub late_every: u32,
    /// A late change is stamped 1 to this many hours before it arrives,
    /// at random (0: none is late).
    pub late_hours: u64,
}

/// A change the live schedule added to the log.
#[derive(Debug, Clone)]
pub struct LiveChange {
    /// The event as served.
    pub event: Value,
    /// How many hours before its arrival it is stamped (0: on time).
    pub late_hours: u64,
}

impl LiveChange {
    fn field(&self, pointer: &str) -> &str {
        self.event
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn timestamp(&self) -> &str {
        self.field("/timestamp")
    }

    pub fn session_id(&self) -> &str {
        self.field("/details/desktop_device_session_info/session_info/session_id")
    }

    /// As the team file has it: possibly hostile (control characters).
    pub fn host_name(&self) -> &str {
        self.field("/details/desktop_device_session_info/host_name")
    }

    pub fn previous_value(&self) -> &str {
        self.field("/details/previous_value/.tag")
    }

    pub fn new_value(&self) -> &str {
        self.field("/details/new_value/.tag")
    }
}

/// The hours the `n`-th change (from 1) is stamped before it arrives.
fn lateness(schedule: &LiveSchedule, n: u64) -> u64 {
    let late = schedule.late_every > 0 && n.is_multiple_of(u64::from(schedule.late_every));
    if !late || schedule.late_hours == 0 {
        return 0;
    }
    // As `late_hours` of `LateSchedule`: anything sane, at most a year.
    rand::thread_rng().gen_range(1..=schedule.late_hours.min(24 * 366))
}

/// Adds a change every `schedule.every`, the first one period after the
/// start, until the task is aborted (`SimHandle` does on stop or drop).
pub(super) async fn run<F>(sim: Arc<Sim>, schedule: LiveSchedule, mut report: F)
where
    F: FnMut(&LiveChange) + Send + 'static,
{
    // A zero period would make the timer panic.
    let every = schedule.every.max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    // A stalled runtime catches up with one change, not a burst.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        ticks.tick().await;
        n += 1;
        let late_hours = lateness(&schedule, n);
        let timestamp = Utc::now() - chrono::Duration::hours(late_hours as i64);
        let change = LateChange {
            session_id: None,
            timestamp,
            new_value: None,
        };
        if let Some(event) = sim.add_late_change(&change) {
            report(&LiveChange { event, late_hours });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::generate::{generate, GenSpec};
    use crate::sim::{start, SimConfig};

    fn schedule(late_every: u32, late_hours: u64) -> LiveSchedule {
        LiveSchedule {
            every: Duration::from_secs(1),
            late_every,
            late_hours,
        }
    }

    #[test]
    fn every_nth_change_is_late_by_one_to_late_hours() {
        let s = schedule(3, 5);
        for n in 1..=300 {
            let hours = lateness(&s, n);
            if n % 3 == 0 {
                assert!((1..=5).contains(&hours), "{n}: {hours}");
            } else {
                assert_eq!(hours, 0, "{n}");
            }
        }
        assert!((1..=30).all(|n| lateness(&schedule(0, 5), n) == 0));
        assert!((1..=30).all(|n| lateness(&schedule(3, 0), n) == 0));
    }

    #[tokio::test(start_paused = true)]
    async fn changes_arrive_on_time_and_stop_with_the_simulator() {
        let anchor = Utc::now() - chrono::Duration::days(2);
        let team = generate(&GenSpec::new(20, 7, anchor));
        let handle = start(team, SimConfig::default(), 0).await.unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        handle.start_live_reporting(schedule(3, 3), move |c| {
            sink.lock().unwrap().push(c.clone());
        });
        tokio::time::sleep(Duration::from_millis(9_500)).await;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 9);
        let added = handle.added_changes();
        assert_eq!(
            added,
            seen.iter().map(|c| c.event.clone()).collect::<Vec<_>>()
        );
        let late: Vec<u64> = seen.iter().map(|c| c.late_hours).collect();
        assert!(late.iter().step_by(3).all(|&h| h == 0), "{late:?}");
        assert!(late
            .iter()
            .skip(2)
            .step_by(3)
            .all(|&h| (1..=3).contains(&h)));
        let sessions: std::collections::HashSet<&str> =
            seen.iter().map(LiveChange::session_id).collect();
        assert!(sessions.len() > 1, "the sessions in turn");
        let sim = handle.sim.clone();
        drop(handle);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(sim.log().raw.len() - sim.log().added_from, 9, "stopped");
    }
}
