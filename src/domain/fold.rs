//! The fold: backup status changes in, the latest status per device session
//! out. Streaming: memory grows with the number of sessions, not events.
//! The rule: the latest timestamp wins; within one second (the log's
//! resolution) the change later in the log wins. The log has no event ids
//! and a cursor reset re-delivers events, so each change carries a
//! fingerprint of its content: a change already seen in its session's latest
//! second is a duplicate and is dropped, which makes the result the same
//! whatever was delivered twice.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

pub use super::latest::{Latest, LatestStatus};
use super::status::BackupStatus;

/// One `device_sync_backup_status_changed` event, reduced to what the fold
/// needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub session_id: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub new_status: BackupStatus,
    /// A hash of the whole event: equal for a re-delivered event.
    pub fingerprint: u64,
}

#[derive(Debug, Default)]
pub struct StatusFold {
    latest: Latest,
    /// Fingerprints of the changes seen in an entry's second beyond its
    /// first (kept in the entry): only on a same-second tie, so rare.
    more_seen: HashMap<usize, Vec<u64>>,
    without_session: u64,
    duplicates: u64,
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
        let StatusChange {
            timestamp,
            new_status,
            fingerprint,
            ..
        } = change;
        let hash = self.latest.hash(&session_id);
        let Some(at) = self.latest.position(hash, &session_id) else {
            self.latest
                .add(hash, &session_id, timestamp, new_status, fingerprint);
            return;
        };
        let Some(current) = self.latest.entry(at) else {
            return;
        };
        if timestamp > current.timestamp {
            self.latest.replace(at, timestamp, new_status, fingerprint);
            if !self.more_seen.is_empty() {
                self.more_seen.remove(&at);
            }
        } else if timestamp == current.timestamp {
            let more = self.more_seen.get(&at);
            if current.first_seen == fingerprint || more.is_some_and(|m| m.contains(&fingerprint)) {
                self.duplicates += 1;
            } else {
                // Same second, later in the log: it wins.
                self.latest.set_status(at, new_status);
                self.more_seen.entry(at).or_default().push(fingerprint);
            }
        }
    }

    /// Changes skipped because they named no device session.
    pub fn without_session(&self) -> u64 {
        self.without_session
    }

    /// Re-delivered changes that were dropped.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    pub fn sessions(&self) -> usize {
        self.latest.len()
    }

    pub fn finish(self) -> Latest {
        self.latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::period::parse_dropbox_time;

    fn change(session: Option<&str>, ts: &str, status: &str) -> StatusChange {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (session, ts, status).hash(&mut h);
        StatusChange {
            session_id: session.map(str::to_string),
            timestamp: parse_dropbox_time(ts).unwrap(),
            new_status: BackupStatus::from_tag(status),
            fingerprint: h.finish(),
        }
    }

    fn fold(changes: Vec<StatusChange>) -> (HashMap<String, LatestStatus>, u64) {
        let mut fold = StatusFold::new();
        changes.into_iter().for_each(|c| fold.push(c));
        let skipped = fold.without_session();
        let latest = fold.finish();
        let latest = latest.iter().map(|(k, v)| (k.to_string(), v)).collect();
        (latest, skipped)
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
    fn a_redelivered_event_does_not_flip_a_same_second_tie() {
        let a = change(Some("s1"), "2024-01-03T00:00:00Z", "enabled");
        let b = change(Some("s1"), "2024-01-03T00:00:00Z", "disabled");
        let mut fold = StatusFold::new();
        for c in [a.clone(), b.clone(), a, b] {
            fold.push(c);
        }
        assert_eq!(fold.duplicates(), 2);
        assert_eq!(
            fold.finish().get("s1").unwrap().status,
            BackupStatus::Disabled
        );
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
        assert_eq!(fold.sessions(), 1);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// (session 0..4, second 0..6, status 0..3, a salt that makes events
    /// distinct): few sessions and seconds, so ties are common.
    fn arb_events() -> impl Strategy<Value = Vec<(u8, u8, u8, u16)>> {
        proptest::collection::vec((0u8..4, 0u8..6, 0u8..3, any::<u16>()), 0..40)
    }

    fn to_change(e: &(u8, u8, u8, u16), index: usize) -> StatusChange {
        let (session, second, status, salt) = *e;
        StatusChange {
            session_id: Some(format!("s{session}")),
            timestamp: DateTime::from_timestamp(1_700_000_000 + second as i64, 0).unwrap(),
            new_status: BackupStatus::from_tag(["enabled", "disabled", "paused"][status as usize]),
            // Distinct events get distinct fingerprints; a re-delivery keeps its own.
            fingerprint: (index as u64) << 16 | salt as u64,
        }
    }

    fn rows(changes: impl IntoIterator<Item = StatusChange>) -> Vec<(String, i64, String)> {
        let mut fold = StatusFold::new();
        changes.into_iter().for_each(|c| fold.push(c));
        let latest = fold.finish();
        let mut out: Vec<_> = latest
            .iter()
            .map(|(k, v)| {
                let status = v.status.as_str().to_string();
                (k.to_string(), v.timestamp.timestamp(), status)
            })
            .collect();
        out.sort();
        out
    }

    /// Reorders the log, keeping the relative order of events that share a
    /// session and a second (the tie rule makes that order meaningful).
    fn permute(changes: &[StatusChange], keys: &[u32]) -> Vec<StatusChange> {
        let mut order: Vec<usize> = (0..changes.len()).collect();
        order.sort_by_key(|&i| keys.get(i).copied().unwrap_or(0));
        let group = |c: &StatusChange| (c.session_id.clone(), c.timestamp);
        let mut slots: std::collections::HashMap<_, std::collections::VecDeque<usize>> =
            Default::default();
        for (i, c) in changes.iter().enumerate() {
            slots.entry(group(c)).or_default().push_back(i);
        }
        order
            .iter()
            .map(|&i| {
                let next = slots
                    .get_mut(&group(&changes[i]))
                    .and_then(|q| q.pop_front())
                    .unwrap();
                changes[next].clone()
            })
            .collect()
    }

    proptest! {
        #[test]
        fn order_of_unrelated_events_and_redelivery_do_not_change_the_rows(
            events in arb_events(),
            keys in proptest::collection::vec(any::<u32>(), 40),
            reset_at in 0usize..40,
            replay_from in 0usize..40,
            page in 1usize..7,
        ) {
            let changes: Vec<StatusChange> = events.iter().enumerate().map(|(i, e)| to_change(e, i)).collect();
            let expected = rows(changes.clone());

            let permuted = permute(&changes, &keys);
            prop_assert_eq!(rows(permuted.clone()), expected.clone());

            // A reset after `reset_at` events replays from `replay_from`.
            let cut = reset_at.min(permuted.len());
            let from = replay_from.min(cut);
            let mut delivered: Vec<StatusChange> = permuted[..cut].to_vec();
            delivered.extend(permuted[from..].iter().cloned());
            prop_assert_eq!(rows(delivered), expected.clone());

            // Page boundaries are invisible to the fold.
            let paged: Vec<StatusChange> = permuted.chunks(page).flat_map(|p| p.to_vec()).collect();
            prop_assert_eq!(rows(paged), expected);
        }
    }
}
