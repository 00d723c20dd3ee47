//! The local event store: backup status events already fetched for a team,
//! kept in SQLite (`<home>/store/<team_id>.db`, mode 0600) with the time
//! ranges they cover, so a later run fetches only what it has not seen.
//! Events are kept as the API sent them, keyed by their fingerprint; the
//! order of first arrival stands for log order within a second. No token
//! or credential is ever stored here.

use std::path::{Path, PathBuf};

use crate::private_file::open_private_db;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use thiserror::Error;

#[derive(Debug, Error)]
#[error("event store {path}: {detail}")]
pub struct StoreError {
    pub path: String,
    pub detail: String,
}

/// A half-open range of whole seconds, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub start: i64,
    pub end: i64,
}

impl Span {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Span {
            start: start.timestamp(),
            end: end.timestamp(),
        }
    }

    pub fn start_time(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.start, 0).unwrap_or_default()
    }

    pub fn end_time(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.end, 0).unwrap_or_default()
    }
}

/// The parts of `wanted` that `covered` does not cover, in order.
pub fn gaps(wanted: Span, covered: &[Span]) -> Vec<Span> {
    let mut spans: Vec<Span> = covered
        .iter()
        .copied()
        .filter(|s| s.end > s.start)
        .collect();
    spans.sort();
    let mut out = Vec::new();
    let mut cursor = wanted.start;
    for s in spans {
        if s.end <= cursor || s.start >= wanted.end {
            continue;
        }
        if s.start > cursor {
            out.push(Span {
                start: cursor,
                end: s.start.min(wanted.end),
            });
        }
        cursor = cursor.max(s.end);
        if cursor >= wanted.end {
            break;
        }
    }
    if cursor < wanted.end {
        out.push(Span {
            start: cursor,
            end: wanted.end,
        });
    }
    out
}

/// Merges overlapping and touching spans.
pub fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort();
    let mut out: Vec<Span> = Vec::new();
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

pub struct EventStore {
    conn: Connection,
    path: PathBuf,
}

/// The store file of a team under `home`.
pub fn store_path(home: &Path, team_id: &str) -> PathBuf {
    let safe: String = team_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    home.join("store").join(format!("{safe}.db"))
}

impl EventStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let err = |detail: String| StoreError {
            path: path.display().to_string(),
            detail,
        };
        let conn = open_private_db(path).map_err(err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS events (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 fingerprint INTEGER NOT NULL UNIQUE,
                 time INTEGER NOT NULL,
                 raw TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS events_by_time ON events (time);
             CREATE TABLE IF NOT EXISTS covered (start INTEGER NOT NULL, end INTEGER NOT NULL);",
        )
        .map_err(|e| err(e.to_string()))?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.display().to_string(),
            detail: e.to_string(),
        }
    }

    pub fn covered(&self) -> Result<Vec<Span>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT start, end FROM covered")
            .map_err(|e| self.err(e))?;
        let spans = stmt
            .query_map([], |r| {
                Ok(Span {
                    start: r.get(0)?,
                    end: r.get(1)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(spans)
    }

    /// Starts the transaction that `insert` adds to and `finish` commits.
    pub fn begin(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))
    }

    /// Adds one fetched event (inside `begin`/`finish`); a stored one stays.
    pub fn insert(&self, fingerprint: u64, time: i64, raw: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO events (fingerprint, time, raw) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut stmt| stmt.execute(params![fingerprint as i64, time, raw]))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Marks `spans` covered and commits what was inserted since `begin`.
    pub fn finish(&self, spans: &[Span]) -> Result<(), StoreError> {
        let mut all = self.covered()?;
        all.extend_from_slice(spans);
        self.conn
            .execute("DELETE FROM covered", [])
            .map_err(|e| self.err(e))?;
        for s in merge(all) {
            self.conn
                .execute(
                    "INSERT INTO covered (start, end) VALUES (?1, ?2)",
                    params![s.start, s.end],
                )
                .map_err(|e| self.err(e))?;
        }
        self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))
    }

    /// Drops what was inserted since `begin`.
    pub fn abandon(&self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    /// Forgets everything (`-no-cache` rebuilds from scratch).
    pub fn clear(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("DELETE FROM events; DELETE FROM covered;")
            .map_err(|e| self.err(e))
    }

    /// Calls `f` with the JSON of each stored event in `[start, end)`, by
    /// time and then order of arrival.
    pub fn for_each_in(&self, span: Span, mut f: impl FnMut(String)) -> Result<u64, StoreError> {
        let mut stmt = self
            .conn
            // `seq` is the order of first arrival, which is log order within
            // a second (one second always comes through one listing).
            .prepare("SELECT raw FROM events WHERE time >= ?1 AND time < ?2 ORDER BY time, seq")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(params![span.start, span.end])
            .map_err(|e| self.err(e))?;
        let mut n = 0;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            f(row.get(0).map_err(|e| self.err(e))?);
            n += 1;
        }
        Ok(n)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn event_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(start: i64, end: i64) -> Span {
        Span { start, end }
    }

    #[test]
    fn gaps_are_what_the_covered_spans_leave_open() {
        assert_eq!(gaps(s(0, 100), &[]), [s(0, 100)]);
        assert_eq!(
            gaps(s(0, 100), &[s(10, 20), s(50, 60)]),
            [s(0, 10), s(20, 50), s(60, 100)]
        );
        assert_eq!(gaps(s(0, 100), &[s(-5, 200)]), Vec::<Span>::new());
        assert_eq!(gaps(s(0, 100), &[s(90, 150), s(0, 10)]), [s(10, 90)]);
    }

    #[test]
    fn merge_joins_overlapping_and_touching_spans() {
        assert_eq!(
            merge(vec![s(5, 10), s(0, 5), s(20, 30), s(8, 12)]),
            [s(0, 12), s(20, 30)]
        );
    }

    #[test]
    fn events_and_coverage_round_trip_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(&store_path(dir.path(), "dbtid:AB/C")).unwrap();
        store.begin().unwrap();
        store.insert(1, 10, "a").unwrap();
        store.insert(2, 5, "b").unwrap();
        store.finish(&[s(0, 20)]).unwrap();
        store.begin().unwrap();
        store.insert(1, 10, "a").unwrap();
        store.insert(3, 10, "c").unwrap();
        store.finish(&[s(15, 40)]).unwrap();
        store.begin().unwrap();
        store.insert(4, 11, "lost").unwrap();
        store.abandon();
        assert_eq!(store.covered().unwrap(), [s(0, 40)]);
        let mut seen = Vec::new();
        store.for_each_in(s(0, 40), |raw| seen.push(raw)).unwrap();
        assert_eq!(seen, ["b", "a", "c"], "by time, then arrival");
        store.begin().unwrap();
        store.insert(u64::MAX, 10, "d").unwrap();
        store.insert(0, 10, "e").unwrap();
        store.finish(&[]).unwrap();
        let mut at_ten = Vec::new();
        store
            .for_each_in(s(10, 11), |raw| at_ten.push(raw))
            .unwrap();
        assert_eq!(
            at_ten,
            ["a", "c", "d", "e"],
            "arrival order, whatever the fingerprints"
        );
        assert_eq!(store.event_count().unwrap(), 5);
    }
}
