//! The local event store: backup status events already fetched for a team,
//! kept in SQLite (`<home>/store/<team_id>.db`, mode 0600) with the time
//! ranges they cover, so a later run fetches only what it has not seen.
//! Events are kept as the API sent them, keyed by their fingerprint; the
//! order of first arrival stands for log order within a second. Each
//! covered range keeps the time of its fetch: `sync` decides from it what
//! has settled and what a run must fetch again. No token or credential is
//! ever stored here.

use std::path::{Path, PathBuf};

mod open;
pub mod sync;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Transaction, TransactionBehavior};
use thiserror::Error;

pub use open::{open_for_run, Opened};
pub use sync::Covered;

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

/// Fetched events not committed yet: dropping the batch (an error, or a
/// run interrupted mid-fetch) rolls them back, so no half-fetched range is
/// ever marked covered.
pub struct Batch<'a> {
    tx: Transaction<'a>,
    store: &'a EventStore,
}

impl Batch<'_> {
    /// Adds one fetched event; a stored one stays (with its arrival order).
    pub fn insert(&self, fingerprint: u64, time: i64, raw: &str) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO events (fingerprint, time, raw) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut stmt| stmt.execute(params![fingerprint as i64, time, raw]))
            .map(|_| ())
            .map_err(|e| self.store.err(e))
    }

    /// Marks `span` covered by a fetch that started at `fetched` (Unix
    /// seconds) and commits the batch.
    pub fn commit(self, span: Span, fetched: i64) -> Result<(), StoreError> {
        let err = |e: rusqlite::Error| self.store.err(e);
        let ranges = self.store.ranges()?;
        self.tx.execute("DELETE FROM covered", []).map_err(err)?;
        for c in sync::record(&ranges, span, fetched) {
            self.tx
                .execute(
                    "INSERT INTO covered (start, end, fetched) VALUES (?1, ?2, ?3)",
                    params![c.span.start, c.span.end, c.fetched],
                )
                .map_err(err)?;
        }
        self.tx.commit().map_err(err)
    }
}

impl EventStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        open::open(path).map_err(|e| e.error)
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        // Damage that opening did not reveal shows up here: say the way out.
        let hint = if matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        ) {
            " (the store is damaged: run again with -no-cache to rebuild it)"
        } else {
            ""
        };
        StoreError {
            path: self.path.display().to_string(),
            detail: format!("{e}{hint}"),
        }
    }

    /// The covered ranges with the time of the fetch that covered each.
    pub fn ranges(&self) -> Result<Vec<Covered>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT start, end, fetched FROM covered ORDER BY start")
            .map_err(|e| self.err(e))?;
        let ranges = stmt
            .query_map([], |r| {
                Ok(Covered {
                    span: Span {
                        start: r.get(0)?,
                        end: r.get(1)?,
                    },
                    fetched: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(ranges)
    }

    /// The covered time, settled or not, as merged spans.
    pub fn covered(&self) -> Result<Vec<Span>, StoreError> {
        Ok(merge(self.ranges()?.iter().map(|c| c.span).collect()))
    }

    /// The parts of `wanted` a run must fetch (see [`sync`]).
    pub fn plan(&self, wanted: Span) -> Result<Vec<Span>, StoreError> {
        Ok(sync::plan(wanted, &self.ranges()?))
    }

    /// Starts a batch of inserts that `Batch::commit` makes permanent.
    pub fn begin(&self) -> Result<Batch<'_>, StoreError> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        Ok(Batch { tx, store: self })
    }

    /// Calls `f` with the JSON of each stored event in `[start, end)`, by
    /// time and then order of arrival.
    pub fn for_each_in(&self, span: Span, mut f: impl FnMut(String)) -> Result<u64, StoreError> {
        let mut stmt = self
            .conn
            // `seq` is the order of first arrival, which is log order within
            // a second: one second always comes through one listing, and an
            // event that arrives late is appended to the log, as it is here.
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
        let batch = store.begin().unwrap();
        batch.insert(1, 10, "a").unwrap();
        batch.insert(2, 5, "b").unwrap();
        batch.commit(s(0, 20), 100).unwrap();
        let batch = store.begin().unwrap();
        batch.insert(1, 10, "a").unwrap();
        batch.insert(3, 10, "c").unwrap();
        batch.commit(s(15, 40), 100).unwrap();
        let batch = store.begin().unwrap();
        batch.insert(4, 11, "lost").unwrap();
        drop(batch);
        assert_eq!(store.covered().unwrap(), [s(0, 40)]);
        let mut seen = Vec::new();
        store.for_each_in(s(0, 40), |raw| seen.push(raw)).unwrap();
        assert_eq!(seen, ["b", "a", "c"], "by time, then arrival");
        let batch = store.begin().unwrap();
        batch.insert(u64::MAX, 10, "d").unwrap();
        batch.insert(0, 10, "e").unwrap();
        batch.commit(s(0, 0), 100).unwrap();
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

    #[test]
    fn ranges_keep_their_fetch_time_and_plan_refetches_what_is_unsettled() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(&dir.path().join("t.db")).unwrap();
        let day = sync::SETTLE_SECS;
        store
            .begin()
            .unwrap()
            .commit(s(0, 10 * day), 10 * day)
            .unwrap();
        assert_eq!(
            store.ranges().unwrap(),
            [Covered {
                span: s(0, 10 * day),
                fetched: 10 * day
            }]
        );
        assert_eq!(store.plan(s(0, 10 * day)).unwrap(), [s(9 * day, 10 * day)]);
        assert!(store.plan(s(0, 9 * day)).unwrap().is_empty());
    }

    #[test]
    fn a_batch_dropped_mid_fetch_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = EventStore::open(&path).unwrap();
        {
            let batch = store.begin().unwrap();
            batch.insert(1, 10, "a").unwrap();
            // An interrupted run drops its future, and the batch with it.
        }
        assert!(
            !dir.path().join("t.db-journal").exists(),
            "journal rolled back"
        );
        assert_eq!(store.event_count().unwrap(), 0);
        assert!(store.covered().unwrap().is_empty());
        // The lock is released: another connection can write at once.
        let other = EventStore::open(&path).unwrap();
        other.begin().unwrap().commit(s(0, 5), 10).unwrap();
    }
}
