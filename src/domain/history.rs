//! The `history` report: every backup status change in the period, per
//! device, with who made it (the actor may be an admin) and the device's
//! owner. Re-delivered events are dropped by fingerprint, as in the fold.
//! This is the one report whose memory grows with events; it is opt-in.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::period::format_dropbox_time;

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

/// One line of the history report, in `HISTORY_COLUMNS` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow(pub [String; 10]);

impl HistoryRow {
    pub fn cells(&self) -> Vec<&str> {
        self.0.iter().map(String::as_str).collect()
    }
}

impl HistoryLog {
    pub fn push(&mut self, change: Change, fingerprint: u64) {
        if self.seen.insert(fingerprint) {
            self.changes.push(change);
        }
    }

    /// Rows by time (log order within a second), owners from `owners`
    /// (session id → email, display name), else from the event's context.
    pub fn rows(self, owners: &HashMap<String, (String, String)>) -> Vec<HistoryRow> {
        let mut changes = self.changes;
        changes.sort_by_key(|c| c.timestamp);
        changes
            .into_iter()
            .map(|c| {
                let (email, name) = owners
                    .get(&c.session_id)
                    .cloned()
                    .unwrap_or((c.context_email, c.context_name));
                HistoryRow([
                    format_dropbox_time(c.timestamp),
                    c.session_id,
                    c.host_name,
                    email,
                    name,
                    c.previous,
                    c.new,
                    c.actor_type,
                    c.actor_email,
                    c.actor_name,
                ])
            })
            .collect()
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
        let owners = HashMap::from([("s1".to_string(), ("a@x".to_string(), "A".to_string()))]);
        let rows = log.rows(&owners);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0[1], "s2");
        assert_eq!(rows[0].0[3], "ctx@x", "unlinked: the event's member");
        assert_eq!(rows[1].0[3], "a@x", "linked: the device's owner");
    }
}
