//! The fold's table: the latest status of each device session, kept
//! compact. A cold run folds its 100,000 sessions while event pages are
//! still in flight, so what the table holds is alive beside them: each
//! session's id is copied into one shared buffer (not left in the decoded
//! string, one allocation per session scattered among the pages' short-lived
//! ones, which keeps the allocator from reusing their memory), an entry is 32
//! bytes, statuses are numbers, and the lookup is a hash table of entry
//! numbers.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use chrono::{DateTime, Utc};
use hashbrown::HashTable;

use super::status::BackupStatus;

/// A session's winning change: when, and the status it set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestStatus {
    pub timestamp: DateTime<Utc>,
    pub status: BackupStatus,
}

impl LatestStatus {
    pub fn new(timestamp: DateTime<Utc>, status: BackupStatus) -> Self {
        Self { timestamp, status }
    }
}

/// One session's entry. Its id is `names[previous entry's end..end]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub(super) timestamp: DateTime<Utc>,
    /// The fingerprint of the first change seen in `timestamp`'s second.
    pub(super) first_seen: u64,
    end: usize,
    status: u32,
}

/// Status numbers: the two known tags, then the other tags in the order met.
const ENABLED: u32 = 0;
const DISABLED: u32 = 1;
const FIRST_OTHER: u32 = 2;

/// Session id → latest status.
#[derive(Debug, Default)]
pub struct Latest {
    names: String,
    entries: Vec<Entry>,
    /// Entry numbers, by the hash of their session id.
    index: HashTable<usize>,
    keys: RandomState,
    /// Tags other than `enabled` and `disabled`: numbered from
    /// `FIRST_OTHER`, in `others` by number.
    other_numbers: HashMap<String, u32>,
    others: Vec<String>,
}

impl Latest {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sessions in the table.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, session_id: &str) -> bool {
        self.position(self.hash(session_id), session_id).is_some()
    }

    /// The session's latest status, if it had a change.
    pub fn get(&self, session_id: &str) -> Option<LatestStatus> {
        let entry = self.entry(self.position(self.hash(session_id), session_id)?)?;
        Some(LatestStatus::new(
            entry.timestamp,
            self.status(entry.status),
        ))
    }

    /// Sets the session's latest status, whatever it was.
    pub fn insert(&mut self, session_id: &str, latest: LatestStatus) {
        let hash = self.hash(session_id);
        match self.position(hash, session_id) {
            Some(at) => self.replace(at, latest.timestamp, latest.status, 0),
            None => self.add(hash, session_id, latest.timestamp, latest.status, 0),
        }
    }

    /// Every session with its latest status, in the order first met.
    pub fn iter(&self) -> impl Iterator<Item = (&str, LatestStatus)> + '_ {
        self.entries.iter().enumerate().map(|(at, entry)| {
            let latest = LatestStatus::new(entry.timestamp, self.status(entry.status));
            (self.name(at), latest)
        })
    }

    pub(super) fn hash(&self, session_id: &str) -> u64 {
        self.keys.hash_one(session_id)
    }

    /// The entry number of the session whose id hashes to `hash`.
    pub(super) fn position(&self, hash: u64, session_id: &str) -> Option<usize> {
        self.index
            .find(hash, |&at| self.name(at) == session_id)
            .copied()
    }

    pub(super) fn entry(&self, at: usize) -> Option<&Entry> {
        self.entries.get(at)
    }

    /// A new session (`hash` is its id's, not in the table yet).
    pub(super) fn add(
        &mut self,
        hash: u64,
        session_id: &str,
        timestamp: DateTime<Utc>,
        status: BackupStatus,
        first_seen: u64,
    ) {
        let at = self.entries.len();
        self.names.push_str(session_id);
        let status = self.number(status);
        self.entries.push(Entry {
            timestamp,
            first_seen,
            end: self.names.len(),
            status,
        });
        let (names, entries, keys) = (&self.names, &self.entries, &self.keys);
        self.index.insert_unique(hash, at, |&other| {
            keys.hash_one(name_of(names, entries, other))
        });
    }

    /// A later change replaces the entry's.
    pub(super) fn replace(
        &mut self,
        at: usize,
        timestamp: DateTime<Utc>,
        status: BackupStatus,
        first_seen: u64,
    ) {
        let status = self.number(status);
        if let Some(entry) = self.entries.get_mut(at) {
            entry.timestamp = timestamp;
            entry.status = status;
            entry.first_seen = first_seen;
        }
    }

    /// A change of the same second, later in the log, sets the status.
    pub(super) fn set_status(&mut self, at: usize, status: BackupStatus) {
        let status = self.number(status);
        if let Some(entry) = self.entries.get_mut(at) {
            entry.status = status;
        }
    }

    fn name(&self, at: usize) -> &str {
        name_of(&self.names, &self.entries, at)
    }

    fn number(&mut self, status: BackupStatus) -> u32 {
        match status {
            BackupStatus::Enabled => ENABLED,
            BackupStatus::Disabled => DISABLED,
            BackupStatus::Other(tag) => {
                if let Some(&number) = self.other_numbers.get(&tag) {
                    return number;
                }
                let number = FIRST_OTHER.saturating_add(self.others.len() as u32);
                self.others.push(tag.clone());
                self.other_numbers.insert(tag, number);
                number
            }
        }
    }

    fn status(&self, number: u32) -> BackupStatus {
        match number {
            ENABLED => BackupStatus::Enabled,
            DISABLED => BackupStatus::Disabled,
            other => {
                let tag = self.others.get((other - FIRST_OTHER) as usize);
                BackupStatus::Other(tag.cloned().unwrap_or_default())
            }
        }
    }
}

fn name_of<'a>(names: &'a str, entries: &[Entry], at: usize) -> &'a str {
    let start = match at.checked_sub(1) {
        Some(previous) => entries.get(previous).map_or(0, |e| e.end),
        None => 0,
    };
    let end = entries.get(at).map_or(start, |e| e.end);
    names.get(start..end).unwrap_or("")
}

impl<'a> FromIterator<(&'a str, LatestStatus)> for Latest {
    fn from_iter<I: IntoIterator<Item = (&'a str, LatestStatus)>>(iter: I) -> Self {
        let mut latest = Latest::new();
        for (session_id, status) in iter {
            latest.insert(session_id, status);
        }
        latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::period::parse_dropbox_time;

    fn at(ts: &str) -> DateTime<Utc> {
        parse_dropbox_time(ts).unwrap()
    }

    #[test]
    fn sessions_are_found_by_id_with_their_status() {
        let mut latest = Latest::new();
        for i in 0..10_000 {
            let status = match i % 3 {
                0 => BackupStatus::Enabled,
                1 => BackupStatus::Disabled,
                _ => BackupStatus::from_tag(&format!("tag{}", i % 7)),
            };
            latest.insert(
                &format!("dbdsid:{i}"),
                LatestStatus::new(at("2024-01-03T00:00:00Z"), status),
            );
        }
        assert_eq!(latest.len(), 10_000);
        assert_eq!(
            latest.get("dbdsid:0").unwrap().status,
            BackupStatus::Enabled
        );
        assert_eq!(
            latest.get("dbdsid:9997").unwrap().status,
            BackupStatus::Disabled
        );
        assert_eq!(latest.get("dbdsid:9998").unwrap().status.as_str(), "tag2");
        assert!(latest.get("dbdsid:10000").is_none());
        assert!(!latest.contains("dbdsid:"));
        assert_eq!(latest.iter().count(), 10_000);
    }

    #[test]
    fn an_entry_stays_32_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 32);
    }

    #[test]
    fn insert_replaces_and_ids_that_extend_others_stay_apart() {
        let mut latest = Latest::new();
        latest.insert(
            "s",
            LatestStatus::new(at("2024-01-03T00:00:00Z"), BackupStatus::Enabled),
        );
        latest.insert(
            "s1",
            LatestStatus::new(at("2024-01-04T00:00:00Z"), BackupStatus::Disabled),
        );
        latest.insert(
            "",
            LatestStatus::new(at("2024-01-05T00:00:00Z"), BackupStatus::Disabled),
        );
        latest.insert(
            "s",
            LatestStatus::new(at("2024-01-06T00:00:00Z"), BackupStatus::from_tag("x")),
        );
        assert_eq!(latest.len(), 3);
        assert_eq!(
            latest.get("s"),
            Some(LatestStatus::new(
                at("2024-01-06T00:00:00Z"),
                BackupStatus::from_tag("x")
            ))
        );
        assert_eq!(
            latest.get("s1"),
            Some(LatestStatus::new(
                at("2024-01-04T00:00:00Z"),
                BackupStatus::Disabled
            ))
        );
        assert!(latest.contains(""));
    }
}
