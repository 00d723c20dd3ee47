//! The fold: backup status changes in, the latest status per device session
//! out. Streaming: memory grows with the number of sessions, not events.
//! The rule: the latest timestamp wins; within one second (the log's
//! resolution) the change later in the log wins.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::status::BackupStatus;

/// One `device_sync_backup_status_changed` event, reduced to what the fold
/// needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub session_id: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub new_status: BackupStatus,
}

/// The winning change for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestStatus {
    pub timestamp: DateTime<Utc>,
    pub status: BackupStatus,
}

#[derive(Debug, Default)]
pub struct StatusFold {
    latest: HashMap<String, LatestStatus>,
    folded: u64,
    without_session: u64,
}

impl StatusFold {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one change, in log order.
    pub fn push(&mut self, change: StatusChange) {
        let Some(session_id) = change.session_id.filter(|id| !id.is_empty()) else {
            self.without_session += 1;
            return;
        };
        self.folded += 1;
        let candidate = LatestStatus {
            timestamp: change.timestamp,
            status: change.new_status,
        };
        match self.latest.get_mut(&session_id) {
            // `>=`: a change in the same second but later in the log wins.
            Some(current) if candidate.timestamp >= current.timestamp => *current = candidate,
            Some(_) => {}
            None => {
                self.latest.insert(session_id, candidate);
            }
        }
    }

    /// Changes that carried a session id.
    pub fn folded(&self) -> u64 {
        self.folded
    }

    /// Changes skipped because they named no device session.
    pub fn without_session(&self) -> u64 {
        self.without_session
    }

    pub fn sessions(&self) -> usize {
        self.latest.len()
    }

    pub fn finish(self) -> HashMap<String, LatestStatus> {
        self.latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::period::parse_dropbox_time;

    fn change(session: Option<&str>, ts: &str, status: &str) -> StatusChange {
        StatusChange {
            session_id: session.map(str::to_string),
            timestamp: parse_dropbox_time(ts).unwrap(),
            new_status: BackupStatus::from_tag(status),
        }
    }

    fn fold(changes: Vec<StatusChange>) -> (HashMap<String, LatestStatus>, u64) {
        let mut fold = StatusFold::new();
        changes.into_iter().for_each(|c| fold.push(c));
        let skipped = fold.without_session();
        (fold.finish(), skipped)
    }

    #[test]
    fn latest_timestamp_wins_regardless_of_log_order() {
        let (latest, _) = fold(vec![
            change(Some("s1"), "2024-01-03T00:00:00Z", "enabled"),
            change(Some("s1"), "2024-01-05T00:00:00Z", "disabled"),
            change(Some("s1"), "2024-01-04T00:00:00Z", "enabled"),
        ]);
        assert_eq!(latest["s1"].status, BackupStatus::Disabled);
        assert_eq!(
            latest["s1"].timestamp,
            parse_dropbox_time("2024-01-05T00:00:00Z").unwrap()
        );
    }

    #[test]
    fn latest_event_wins_within_same_second_by_log_order() {
        let (latest, _) = fold(vec![
            change(Some("s1"), "2024-01-03T00:00:00Z", "disabled"),
            change(Some("s1"), "2024-01-03T00:00:00Z", "enabled"),
        ]);
        assert_eq!(latest["s1"].status, BackupStatus::Enabled);
        let (latest, _) = fold(vec![
            change(Some("s1"), "2024-01-03T00:00:00Z", "enabled"),
            change(Some("s1"), "2024-01-03T00:00:00Z", "disabled"),
        ]);
        assert_eq!(latest["s1"].status, BackupStatus::Disabled);
    }

    #[test]
    fn sessions_are_folded_independently() {
        let (latest, _) = fold(vec![
            change(Some("a"), "2024-01-03T00:00:00Z", "enabled"),
            change(Some("b"), "2024-01-02T00:00:00Z", "disabled"),
        ]);
        assert_eq!(latest.len(), 2);
        assert_eq!(latest["a"].status, BackupStatus::Enabled);
        assert_eq!(latest["b"].status, BackupStatus::Disabled);
    }

    #[test]
    fn unknown_tags_pass_through_and_can_win() {
        let (latest, _) = fold(vec![
            change(Some("s1"), "2024-01-03T00:00:00Z", "enabled"),
            change(Some("s1"), "2024-01-04T00:00:00Z", "suspended_by_admin"),
        ]);
        assert_eq!(latest["s1"].status.as_str(), "suspended_by_admin");
    }

    #[test]
    fn changes_without_session_id_are_skipped_and_counted() {
        let mut fold = StatusFold::new();
        fold.push(change(None, "2024-01-03T00:00:00Z", "enabled"));
        fold.push(change(Some(""), "2024-01-03T00:00:00Z", "enabled"));
        fold.push(change(Some("s1"), "2024-01-03T00:00:00Z", "enabled"));
        assert_eq!(fold.without_session(), 2);
        assert_eq!(fold.folded(), 1);
        assert_eq!(fold.sessions(), 1);
    }
}
