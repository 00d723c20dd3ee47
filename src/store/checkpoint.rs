//! A watch's checkpoint, kept in the team's event store beside the events
//! it was made from: the first start's `-since`, how far the last poll
//! read, the changes already reported (by fingerprint, for as long as a
//! later poll can meet them again) and the notifications not delivered
//! yet. Saved in one transaction after each poll, so a crash, `kill -9` or
//! a reboot resumes where the last whole poll ended. Named, so several
//! watches of one team keep apart. `-no-cache` empties the events, never
//! a checkpoint.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use super::{EventStore, StoreError};

/// A watch's state between polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub name: String,
    /// Changes stamped earlier are never reported (Unix seconds).
    pub since: i64,
    /// The fetch time of the last whole poll: the log is read up to it.
    pub polled_to: Option<i64>,
    /// Fingerprint → time of each change reported (or passed over as not
    /// alerting) that a next poll may meet again.
    pub reported: HashMap<u64, i64>,
    /// Deliveries that failed, retried every poll.
    pub pending: Vec<PendingDelivery>,
}

/// A notification still owed to one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDelivery {
    /// The target's key (never its URL: that is a secret).
    pub target: String,
    pub fingerprint: u64,
    /// The change's time (Unix seconds).
    pub time: i64,
    /// The readable line.
    pub text: String,
    /// The change as its JSON line.
    pub change: String,
    /// Attempts so far (polls that tried it).
    pub attempts: u32,
}

/// Owners as kept: (session id, email, name) each, and when they were
/// fetched (Unix seconds).
pub type KeptOwners = (Vec<[String; 3]>, i64);

/// What one poll adds to a checkpoint (see `EventStore::save_poll`).
pub struct PollSave<'a> {
    pub name: &'a str,
    pub since: i64,
    pub polled_to: i64,
    /// Fingerprint and time of each change the poll saw.
    pub seen: &'a [(u64, i64)],
    /// Fingerprints of changes older than this need no keeping.
    pub keep_from: i64,
    pub new_pending: &'a [PendingDelivery],
    /// Deliveries of changes older than this are given up.
    pub owed_from: i64,
    /// Deliveries kept per target at most.
    pub max_owed: usize,
}

impl Checkpoint {
    /// A watch that has not polled yet.
    pub fn new(name: &str, since: DateTime<Utc>) -> Self {
        Self {
            name: name.to_string(),
            since: since.timestamp(),
            polled_to: None,
            reported: HashMap::new(),
            pending: Vec::new(),
        }
    }
}

/// Fingerprints are u64; SQLite integers are i64 (the same bits).
fn to_sql(fingerprint: u64) -> i64 {
    fingerprint as i64
}

fn from_sql(value: i64) -> u64 {
    value as u64
}

impl EventStore {
    /// The checkpoint of the watch `name`, if it ever saved one.
    pub fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        let err = |e| self.err(e);
        let head: Option<(i64, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT since, polled_to FROM watches WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        let Some((since, polled_to)) = head else {
            return Ok(None);
        };
        let mut reported = HashMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT fingerprint, time FROM watch_reported WHERE name = ?1")
            .map_err(err)?;
        let mut rows = stmt.query([name]).map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            reported.insert(from_sql(row.get(0).map_err(err)?), row.get(1).map_err(err)?);
        }
        Ok(Some(Checkpoint {
            name: name.to_string(),
            since,
            polled_to,
            reported,
            pending: self.load_pending(name)?,
        }))
    }

    /// The deliveries still owed by the watch `name`, oldest first.
    pub fn load_pending(&self, name: &str) -> Result<Vec<PendingDelivery>, StoreError> {
        let err = |e| self.err(e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT target, fingerprint, time, text, change, attempts FROM watch_pending
                 WHERE name = ?1 ORDER BY time, fingerprint, target",
            )
            .map_err(err)?;
        let pending = stmt
            .query_map([name], |r| {
                Ok(PendingDelivery {
                    target: r.get(0)?,
                    fingerprint: from_sql(r.get(1)?),
                    time: r.get(2)?,
                    text: r.get(3)?,
                    change: r.get(4)?,
                    attempts: r.get(5)?,
                })
            })
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(pending)
    }

    /// Saves `checkpoint` whole, in one transaction, at `saved` (Unix
    /// seconds): nothing of it is kept unless all of it is.
    pub fn save_checkpoint(&self, checkpoint: &Checkpoint, saved: i64) -> Result<(), StoreError> {
        let err = |e| self.err(e);
        let tx =
            Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(err)?;
        let name = checkpoint.name.as_str();
        tx.execute(
            "INSERT INTO watches (name, since, polled_to, saved) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET
                 since = excluded.since, polled_to = excluded.polled_to, saved = excluded.saved",
            params![name, checkpoint.since, checkpoint.polled_to, saved],
        )
        .map_err(err)?;
        replace_reported(&tx, checkpoint).map_err(err)?;
        replace_pending(&tx, checkpoint).map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Saves one poll in one transaction: the fingerprints it saw (and
    /// drops those older than `keep_from`), how far the log was read, and
    /// the deliveries it adds to the queue. Deliveries owed for longer than
    /// `owed_from` (the change's time), or beyond `max_owed` per target
    /// (the oldest first), are dropped; returns how many.
    pub fn save_poll(&self, poll: &PollSave<'_>) -> Result<usize, StoreError> {
        let err = |e| self.err(e);
        let tx =
            Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(err)?;
        save_poll_in(&tx, poll).map_err(err).and_then(|dropped| {
            tx.commit().map_err(err)?;
            Ok(dropped)
        })
    }

    /// One delivery done: it is owed no more.
    pub fn delivered(&self, name: &str, item: &PendingDelivery) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM watch_pending WHERE name = ?1 AND target = ?2 AND fingerprint = ?3",
                params![name, item.target, to_sql(item.fingerprint)],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// One delivery failed again: its count of attempts goes up.
    pub fn attempted(&self, name: &str, item: &PendingDelivery) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE watch_pending SET attempts = ?4
                 WHERE name = ?1 AND target = ?2 AND fingerprint = ?3",
                params![name, item.target, to_sql(item.fingerprint), item.attempts],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The owners of the team's linked desktop clients (session id, email,
    /// name) as last fetched, and when (Unix seconds).
    pub fn load_owners(&self) -> Result<Option<KeptOwners>, StoreError> {
        let err = |e| self.err(e);
        let fetched: Option<i64> = self
            .conn
            .query_row("SELECT fetched FROM watch_owners_fetched", [], |r| r.get(0))
            .optional()
            .map_err(err)?;
        let Some(fetched) = fetched else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare("SELECT session_id, email, name FROM watch_owners")
            .map_err(err)?;
        let owners = stmt
            .query_map([], |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?]))
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(Some((owners, fetched)))
    }

    /// Replaces the owners kept, fetched at `fetched`.
    pub fn save_owners(&self, owners: &[[&str; 3]], fetched: i64) -> Result<(), StoreError> {
        let err = |e| self.err(e);
        let tx =
            Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(err)?;
        let write = || -> rusqlite::Result<()> {
            tx.execute_batch("DELETE FROM watch_owners; DELETE FROM watch_owners_fetched;")?;
            let mut insert = tx.prepare(
                "INSERT OR REPLACE INTO watch_owners (session_id, email, name) VALUES (?1, ?2, ?3)",
            )?;
            for [session, email, name] in owners {
                insert.execute(params![session, email, name])?;
            }
            tx.execute("INSERT INTO watch_owners_fetched VALUES (?1)", [fetched])?;
            Ok(())
        };
        write().map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Forgets the watch `name` (its checkpoint, reported ids and queue).
    pub fn delete_checkpoint(&self, name: &str) -> Result<bool, StoreError> {
        let err = |e| self.err(e);
        let tx =
            Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(err)?;
        let removed = tx
            .execute("DELETE FROM watches WHERE name = ?1", [name])
            .map_err(err)?;
        for table in ["watch_reported", "watch_pending"] {
            tx.execute(&format!("DELETE FROM {table} WHERE name = ?1"), [name])
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(removed > 0)
    }
}

fn save_poll_in(tx: &Transaction, poll: &PollSave<'_>) -> rusqlite::Result<usize> {
    let name = poll.name;
    tx.execute(
        "INSERT INTO watches (name, since, polled_to, saved) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (name) DO UPDATE SET polled_to = excluded.polled_to, saved = excluded.saved",
        params![name, poll.since, poll.polled_to],
    )?;
    let mut seen = tx.prepare_cached(
        "INSERT OR REPLACE INTO watch_reported (name, fingerprint, time) VALUES (?1, ?2, ?3)",
    )?;
    for &(fingerprint, time) in poll.seen {
        seen.execute(params![name, to_sql(fingerprint), time])?;
    }
    tx.execute(
        "DELETE FROM watch_reported WHERE name = ?1 AND time < ?2",
        params![name, poll.keep_from],
    )?;
    let mut owe = tx.prepare_cached(
        "INSERT OR IGNORE INTO watch_pending
             (name, target, fingerprint, time, text, change, attempts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for p in poll.new_pending {
        owe.execute(params![
            name,
            p.target,
            to_sql(p.fingerprint),
            p.time,
            p.text,
            p.change,
            p.attempts
        ])?;
    }
    let mut dropped = tx.execute(
        "DELETE FROM watch_pending WHERE name = ?1 AND time < ?2",
        params![name, poll.owed_from],
    )?;
    dropped += tx.execute(
        "DELETE FROM watch_pending WHERE name = ?1 AND (target, fingerprint) IN (
             SELECT target, fingerprint FROM (
                 SELECT target, fingerprint,
                        row_number() OVER (PARTITION BY target ORDER BY time DESC, fingerprint) AS n
                 FROM watch_pending WHERE name = ?1)
             WHERE n > ?2)",
        params![name, poll.max_owed as i64],
    )?;
    Ok(dropped)
}

fn replace_reported(tx: &Transaction, checkpoint: &Checkpoint) -> rusqlite::Result<()> {
    let name = checkpoint.name.as_str();
    tx.execute("DELETE FROM watch_reported WHERE name = ?1", [name])?;
    let mut insert = tx.prepare(
        "INSERT OR REPLACE INTO watch_reported (name, fingerprint, time) VALUES (?1, ?2, ?3)",
    )?;
    for (&fingerprint, &time) in &checkpoint.reported {
        insert.execute(params![name, to_sql(fingerprint), time])?;
    }
    Ok(())
}

fn replace_pending(tx: &Transaction, checkpoint: &Checkpoint) -> rusqlite::Result<()> {
    let name = checkpoint.name.as_str();
    tx.execute("DELETE FROM watch_pending WHERE name = ?1", [name])?;
    let mut insert = tx.prepare(
        "INSERT OR REPLACE INTO watch_pending
             (name, target, fingerprint, time, text, change, attempts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for p in &checkpoint.pending {
        insert.execute(params![
            name,
            p.target,
            to_sql(p.fingerprint),
            p.time,
            p.text,
            p.change,
            p.attempts
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, EventStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(&dir.path().join("t.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn a_saved_checkpoint_reads_back_whole_and_watches_keep_apart() {
        let (_dir, store) = store();
        assert_eq!(store.load_checkpoint("default").unwrap(), None);
        let mut cp = Checkpoint::new("default", DateTime::from_timestamp(1_000, 0).unwrap());
        cp.polled_to = Some(5_000);
        cp.reported.insert(u64::MAX - 3, 4_000);
        cp.reported.insert(7, 4_100);
        cp.pending.push(PendingDelivery {
            target: "webhook:00ff".into(),
            fingerprint: u64::MAX,
            time: 4_000,
            text: "Backup disabled".into(),
            change: "{\"event_id\":\"x\"}".into(),
            attempts: 2,
        });
        store.save_checkpoint(&cp, 5_001).unwrap();
        let other = Checkpoint::new("sales", DateTime::from_timestamp(9, 0).unwrap());
        store.save_checkpoint(&other, 5_002).unwrap();
        assert_eq!(store.load_checkpoint("default").unwrap(), Some(cp.clone()));
        assert_eq!(store.load_checkpoint("sales").unwrap(), Some(other));

        cp.reported.remove(&7);
        cp.pending.clear();
        store.save_checkpoint(&cp, 6_000).unwrap();
        assert_eq!(store.load_checkpoint("default").unwrap(), Some(cp));
        assert!(store.delete_checkpoint("default").unwrap());
        assert_eq!(store.load_checkpoint("default").unwrap(), None);
        assert!(store.load_checkpoint("sales").unwrap().is_some());
    }

    fn owed(target: &str, fingerprint: u64, time: i64) -> PendingDelivery {
        PendingDelivery {
            target: target.into(),
            fingerprint,
            time,
            text: "t".into(),
            change: "{}".into(),
            attempts: 0,
        }
    }

    #[test]
    fn a_poll_is_saved_incrementally_and_the_queue_stays_bounded() {
        let (_dir, store) = store();
        let cp = Checkpoint::new("w", DateTime::from_timestamp(0, 0).unwrap());
        store.save_checkpoint(&cp, 1).unwrap();
        let pending: Vec<PendingDelivery> = (0..5).map(|i| owed("a", i, 100 + i as i64)).collect();
        let save = |seen: &[(u64, i64)], new_pending: &[PendingDelivery], keep_from, owed_from| {
            store
                .save_poll(&PollSave {
                    name: "w",
                    since: 0,
                    polled_to: 500,
                    seen,
                    keep_from,
                    new_pending,
                    owed_from,
                    max_owed: 3,
                })
                .unwrap()
        };
        // Five owed to one target, at most three kept: the two oldest go.
        assert_eq!(save(&[(1, 100), (2, 300)], &pending, 0, 0), 2);
        let cp = store.load_checkpoint("w").unwrap().unwrap();
        assert_eq!(cp.polled_to, Some(500));
        assert_eq!(cp.reported, HashMap::from([(1, 100), (2, 300)]));
        let kept: Vec<u64> = cp.pending.iter().map(|p| p.fingerprint).collect();
        assert_eq!(kept, [2, 3, 4]);
        // Old ids and old deliveries are dropped; delivered and attempted
        // ones change one row each.
        assert_eq!(save(&[(3, 400)], &[], 200, 103), 1);
        store.delivered("w", &cp.pending[1]).unwrap();
        let mut tried = cp.pending[2].clone();
        tried.attempts = 4;
        store.attempted("w", &tried).unwrap();
        let cp = store.load_checkpoint("w").unwrap().unwrap();
        assert_eq!(cp.reported, HashMap::from([(2, 300), (3, 400)]));
        assert_eq!(cp.pending, [tried]);
    }

    #[test]
    fn owners_are_kept_with_their_fetch_time() {
        let (_dir, store) = store();
        assert_eq!(store.load_owners().unwrap(), None);
        store.save_owners(&[["s1", "a@x", "A"]], 77).unwrap();
        store.save_owners(&[["s2", "b@x", "B"]], 88).unwrap();
        let (owners, fetched) = store.load_owners().unwrap().unwrap();
        assert_eq!(fetched, 88);
        assert_eq!(owners, [["s2".to_string(), "b@x".into(), "B".into()]]);
    }
}
