//! The `history` report: every backup status change in the period, per
//! device, with who made it (the actor may be an admin) and the device's
//! owner. Re-delivered events are dropped by fingerprint, as in the fold.
//! This is the one report whose memory grows with events; it is opt-in.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::row::Owner;
use super::status::BackupStatus;

pub const HISTORY_COLUMNS: [&str; 10] = [
    "timestamp",
    "session_info_session_id",
    "session_info_host_name",
    "owner_email",
    "owner_display_name",
    "previous_status",
    "new_status",
    "actor_type",
    "actor_email",
    "actor_display_name",
];

/// One change as the log tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub timestamp: DateTime<Utc>,
    pub session_id: String,
    pub host_name: String,
    pub previous: String,
    pub new: String,
    pub actor_type: String,
    pub actor_email: String,
    pub actor_name: String,
    /// The member the event concerns, for devices no longer linked.
    pub context_email: String,
    pub context_name: String,
}

#[derive(Debug, Default)]
pub struct HistoryLog {
    seen: HashSet<u64>,
    changes: Vec<Change>,
}

/// One line of the history report (columns `HISTORY_COLUMNS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub timestamp: DateTime<Utc>,
    pub session_id: String,
    pub host_name: String,
    /// The device's owner, shared with its other rows; for a device no
    /// longer linked, the member the event named.
    pub owner: Arc<Owner>,
    /// An empty tag when the event had no previous value.
    pub previous: BackupStatus,
    pub new: BackupStatus,
    pub actor_type: String,
    pub actor_email: String,
    pub actor_name: String,
}

impl HistoryLog {
    pub fn push(&mut self, change: Change, fingerprint: u64) {
        if self.seen.insert(fingerprint) {
            self.changes.push(change);
        }
    }

    /// Rows by time (log order within a second), owners from `owners`
    /// (session id → owner), else from the event's context.
    pub fn rows(self, owners: &HashMap<String, Arc<Owner>>) -> Vec<HistoryRow> {
        let mut changes = self.changes;
        changes.sort_by_key(|c| c.timestamp);
        changes
            .into_iter()
            .map(|c| {
                let owner = owners.get(&c.session_id).cloned();
                c.into_row(owner)
            })
            .collect()
    }
}

impl Change {
    /// The change as a history line: owned by `owner` (the linked device's
    /// owner), else by the member the event named.
    pub fn into_row(self, owner: Option<Arc<Owner>>) -> HistoryRow {
        let owner = owner.unwrap_or_else(|| {
            Arc::new(Owner {
                email: self.context_email,
                display_name: self.context_name,
            })
        });
        HistoryRow {
            timestamp: self.timestamp,
            session_id: self.session_id,
            host_name: self.host_name,
            owner,
            previous: BackupStatus::from_tag(&self.previous),
            new: BackupStatus::from_tag(&self.new),
            actor_type: self.actor_type,
            actor_email: self.actor_email,
            actor_name: self.actor_name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::period::parse_dropbox_time;

    fn change(session: &str, ts: &str, new: &str) -> Change {
        Change {
            timestamp: parse_dropbox_time(ts).unwrap(),
            session_id: session.into(),
            new: new.into(),
            context_email: "ctx@x".into(),
            ..Default::default()
        }
    }

    #[test]
    fn rows_are_in_time_order_without_redelivered_events() {
        let mut log = HistoryLog::default();
        log.push(change("s1", "2024-01-02T00:00:00Z", "enabled"), 1);
        log.push(change("s2", "2024-01-01T00:00:00Z", "disabled"), 2);
        log.push(change("s1", "2024-01-02T00:00:00Z", "enabled"), 1);
        let a = Arc::new(Owner {
            email: "a@x".into(),
            display_name: "A".into(),
        });
        let owners = HashMap::from([("s1".to_string(), a)]);
        let rows = log.rows(&owners);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].session_id, "s2");
        assert_eq!(rows[0].owner.email, "ctx@x", "unlinked: the event's member");
        assert_eq!(rows[1].owner.email, "a@x", "linked: the device's owner");
        assert_eq!(rows[1].new, BackupStatus::Enabled);
        assert_eq!(rows[1].previous.as_str(), "", "no previous value");
    }
}
