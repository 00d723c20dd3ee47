//! The local event store: backup status events already fetched for a team,
//! kept in SQLite (`<home>/store/<team_id>.db`, mode 0600) with the time
//! ranges they cover, so a later run fetches only what it has not seen.
//! Events are kept as the records they were decoded into at fetch, in a
//! compact layout (see `record`), keyed by their fingerprint; the order of
//! first arrival stands for log order within a second. Each covered range
//! keeps the time of its fetch: `sync` decides from it what has settled
//! and what a run must fetch again. No token or credential is ever stored
//! here.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::path::{Path, PathBuf};

pub mod checkpoint;
mod open;
mod record;
pub mod sync;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use thiserror::Error;

use crate::domain::change::{BackupChange, EventDevice, Person};
use record::Compact;

pub use open::{open_for_run, Opened, Rebuilt};
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
    /// Prepared once per batch: looking it up in the statement cache for
    /// each event cost a third of an insert. Declared before `tx`, so it
    /// is finalized first.
    insert_event: rusqlite::Statement<'a>,
    tx: Transaction<'a>,
    store: &'a EventStore,
    /// Ids of the devices and people this batch met, by digest: a lookup
    /// in SQLite for each event would cost more than the rest of its
    /// insert, and digests keep the cache at 12 bytes an entry (ids past
    /// 2^32 are not cached).
    ids: HashMap<[u32; 2], u32>,
    keys: RandomState,
    /// The sequence number of the next event, which orders events of one
    /// second by arrival.
    next_seq: i64,
}

impl Batch<'_> {
    /// Adds one fetched event; a stored one stays (with its arrival order).
    pub fn insert(&mut self, change: &BackupChange) -> Result<(), StoreError> {
        let device = self.device_id(&change.device)?;
        let member = self.person_id(&change.member)?;
        let actor = if change.actor.person == change.member {
            member
        } else {
            self.person_id(&change.actor.person)?
        };
        let time = change.timestamp.timestamp();
        let seq = self.next_seq;
        self.next_seq += 1;
        self.insert_event
            .execute(params![
                time,
                seq,
                change.fingerprint as i64,
                change.timestamp.timestamp_subsec_nanos(),
                device,
                record::updated_column(time, &change.updated),
                change
                    .previous
                    .as_ref()
                    .map_or(Compact::Null, record::status_column),
                record::status_column(&change.new),
                record::actor_kind_column(&change.actor.kind),
                actor,
                member,
            ])
            .map(|_| ())
            .map_err(|e| self.store.err(e))
    }

    fn device_id(&mut self, d: &EventDevice) -> Result<i64, StoreError> {
        let digest = self.digest(0, d);
        if let Some(id) = self.ids.get(&digest) {
            return Ok(i64::from(*id));
        }
        let stable = record::stable_digest(&[
            d.session_id.as_deref(),
            Some(&d.host_name),
            Some(&d.ip_address),
            Some(&d.client_type),
            Some(&d.client_version),
            Some(&d.platform),
        ]);
        let values = params![
            stable,
            d.session_id,
            d.host_name,
            d.ip_address,
            d.client_type,
            d.client_version,
            d.platform
        ];
        let id = self.intern(record::FIND_DEVICE, record::INSERT_DEVICE, values)?;
        if let Ok(short) = u32::try_from(id) {
            self.ids.insert(digest, short);
        }
        Ok(id)
    }

    fn person_id(&mut self, p: &Person) -> Result<i64, StoreError> {
        let digest = self.digest(1, p);
        if let Some(id) = self.ids.get(&digest) {
            return Ok(i64::from(*id));
        }
        let stable = record::stable_digest(&[Some(&p.id), Some(&p.email), Some(&p.name)]);
        let values = params![stable, p.id, p.email, p.name];
        let id = self.intern(record::FIND_PERSON, record::INSERT_PERSON, values)?;
        if let Ok(short) = u32::try_from(id) {
            self.ids.insert(digest, short);
        }
        Ok(id)
    }

    /// SipHash under this process's random keys, with the table. Among
    /// 200,000 devices and people two share a digest (and one is then
    /// named for the other) in about one run in a thousand million; the
    /// fingerprint that tells events apart takes odds of the same kind.
    fn digest(&self, table: u8, value: &impl Hash) -> [u32; 2] {
        let hash = self.keys.hash_one((table, value));
        [(hash >> 32) as u32, hash as u32]
    }

    /// The id of the row `values` describe, added if there is none yet.
    fn intern(
        &self,
        find: &str,
        insert: &str,
        values: &[&dyn rusqlite::ToSql],
    ) -> Result<i64, StoreError> {
        let err = |e| self.store.err(e);
        let found = self
            .tx
            .prepare_cached(find)
            .and_then(|mut stmt| stmt.query_row(values, |r| r.get(0)).optional())
            .map_err(err)?;
        if let Some(id) = found {
            return Ok(id);
        }
        self.tx
            .prepare_cached(insert)
            .and_then(|mut stmt| stmt.insert(values))
            .map_err(err)
    }

    /// Marks `span` covered by a fetch that started at `fetched` (Unix
    /// seconds) and commits the batch.
    pub fn commit(self, span: Span, fetched: i64) -> Result<(), StoreError> {
        drop(self.insert_event);
        let err = |e: rusqlite::Error| self.store.err(e);
        self.tx
            .execute("DELETE FROM arrivals", [])
            .and_then(|_| {
                self.tx
                    .execute("INSERT INTO arrivals VALUES (?1)", [self.next_seq])
            })
            .map_err(err)?;
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
        open::open(path).map(|file| file.store).map_err(|e| e.error)
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
        let next_seq = tx
            .query_row(record::NEXT_ARRIVAL, [], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?
            .unwrap_or(1);
        let insert_event = self
            .conn
            .prepare(record::INSERT_EVENT)
            .map_err(|e| self.err(e))?;
        Ok(Batch {
            insert_event,
            tx,
            store: self,
            ids: HashMap::new(),
            keys: RandomState::new(),
            next_seq,
        })
    }

    /// Calls `f` with each stored event in `[start, end)`, by time and then
    /// order of arrival; returns how many.
    pub fn for_each_in(
        &self,
        span: Span,
        mut f: impl FnMut(BackupChange),
    ) -> Result<u64, StoreError> {
        // `seq` is the order of first arrival, which is log order within a
        // second: one second always comes through one listing, and an event
        // that arrives late is appended to the log, as it is here.
        let mut stmt = self
            .conn
            .prepare(record::SELECT_IN)
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(params![span.start, span.end])
            .map_err(|e| self.err(e))?;
        let mut n = 0;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            f(record::change_of(row).map_err(|e| self.err(e))?);
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

    fn insert(batch: &mut Batch, fingerprint: u64, time: i64) {
        batch
            .insert(&record::sample::change(
                fingerprint,
                time,
                fingerprint as usize % 7,
            ))
            .unwrap();
    }

    fn fingerprints_in(store: &EventStore, span: Span) -> Vec<u64> {
        let mut seen = Vec::new();
        store
            .for_each_in(span, |c| seen.push(c.fingerprint))
            .unwrap();
        seen
    }

    #[test]
    fn events_and_coverage_round_trip_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(&store_path(dir.path(), "dbtid:AB/C")).unwrap();
        let mut batch = store.begin().unwrap();
        insert(&mut batch, 1, 10);
        insert(&mut batch, 2, 5);
        batch.commit(s(0, 20), 100).unwrap();
        let mut batch = store.begin().unwrap();
        insert(&mut batch, 1, 10);
        insert(&mut batch, 3, 10);
        batch.commit(s(15, 40), 100).unwrap();
        let mut batch = store.begin().unwrap();
        insert(&mut batch, 4, 11);
        drop(batch);
        assert_eq!(store.covered().unwrap(), [s(0, 40)]);
        assert_eq!(
            fingerprints_in(&store, s(0, 40)),
            [2, 1, 3],
            "by time, then arrival"
        );
        let mut batch = store.begin().unwrap();
        insert(&mut batch, u64::MAX, 10);
        insert(&mut batch, 0, 10);
        batch.commit(s(0, 0), 100).unwrap();
        assert_eq!(
            fingerprints_in(&store, s(10, 11)),
            [1, 3, u64::MAX, 0],
            "arrival order, whatever the fingerprints"
        );
        assert_eq!(store.event_count().unwrap(), 5);
        let mut orders = Vec::new();
        store
            .for_each_in(s(10, 11), |c| orders.push(c.order))
            .unwrap();
        assert!(orders.windows(2).all(|w| w[0] < w[1]), "{orders:?}");
    }

    /// Records that use every field and each form a column can hold.
    fn unusual_changes() -> Vec<BackupChange> {
        use crate::domain::change::Actor;
        use crate::domain::status::BackupStatus;
        let mut odd = record::sample::change(7, 1_780_000_000, 1);
        odd.timestamp = DateTime::from_timestamp(1_780_000_000, 500_000_000).unwrap();
        odd.previous = None;
        odd.new = BackupStatus::from_tag("paused_by_policy");
        odd.device = EventDevice {
            session_id: Some("dbdsid:会議室".into()),
            host_name: "会議室のPC \u{1F4BB}".into(),
            ip_address: String::new(),
            client_type: "chromeos".into(),
            client_version: "\u{FFFD}".into(),
            platform: "Windows 11 Pro (Français)".into(),
        };
        odd.updated = "2026-07-14T11:12:40.5+02:00".into();
        odd.actor = Actor {
            kind: "robot".into(),
            person: Person {
                id: "dbaid:bot".into(),
                email: String::new(),
                name: "Zoë's bot".into(),
            },
        };
        odd.member.name = "Åsa Ñúñez".into();
        let mut bare = record::sample::change(8, 1_780_000_000, 2);
        bare.device = EventDevice::default();
        bare.updated = String::new();
        bare.actor = Actor::default();
        bare.member = Person::default();
        bare.previous = Some(BackupStatus::from_tag(""));
        let mut empty_session = record::sample::change(9, 1_780_000_001, 3);
        empty_session.device.session_id = Some(String::new());
        empty_session.actor.kind = "admin".into();
        empty_session.actor.person.email = "boss@example.com".into();
        empty_session.updated = "2026-07-14T09:12:40Z".into();
        vec![odd, bare, empty_session]
    }

    #[test]
    fn a_record_reads_back_as_it_was_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(&dir.path().join("t.db")).unwrap();
        let changes = unusual_changes();
        let mut batch = store.begin().unwrap();
        for change in &changes {
            batch.insert(change).unwrap();
        }
        batch.commit(s(0, 2_000_000_000), 2_000_000_000).unwrap();
        let mut back = Vec::new();
        store
            .for_each_in(s(1_780_000_000, 1_780_000_002), |c| back.push(c))
            .unwrap();
        assert_eq!(back.len(), changes.len());
        for (i, (stored, read)) in changes.into_iter().zip(back).enumerate() {
            assert_eq!(read.order, i as u64 + 1, "the store's arrival order");
            assert_eq!(BackupChange { order: 0, ..read }, stored);
        }
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
            let mut batch = store.begin().unwrap();
            insert(&mut batch, 1, 10);
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

    /// A dedicated writer thread may own a store (or open its own on the
    /// same file) while the run's store stays idle or reads.
    #[test]
    fn a_second_store_on_the_same_file_writes_from_another_thread() {
        fn sendable<T: Send>(_: &T) {}
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = EventStore::open(&path).unwrap();
        let writer = EventStore::open(&path).unwrap();
        sendable(&writer);
        std::thread::spawn(move || {
            let mut batch = writer.begin().unwrap();
            insert(&mut batch, 1, 10);
            insert(&mut batch, 2, 11);
            batch.commit(s(0, 20), 30).unwrap();
        })
        .join()
        .unwrap();
        let mut read = Vec::new();
        store
            .for_each_in(s(0, 20), |c| read.push(c.fingerprint))
            .unwrap();
        assert_eq!(read, [1, 2]);
        assert_eq!(store.covered().unwrap(), [s(0, 20)]);
    }
}
