//! Opening a store file: its schema, the migration of files written before
//! ranges kept their fetch time, and what a run does with a file SQLite
//! cannot use. The store is only a cache of the audit log, so a broken one
//! is never a reason to fail: it is moved aside (or, with `-no-cache`,
//! deleted) and rebuilt, and the caller tells the user in one line.

use std::path::{Path, PathBuf};

use chrono::Utc;
use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};

use super::{EventStore, StoreError};
use crate::private_file::open_private_db;

/// A failed open, and whether the file itself is unusable (as opposed to
/// busy, unreadable for permissions, or on a full disk).
pub(super) struct OpenError {
    pub error: StoreError,
    pub corrupt: bool,
}

/// A store ready for a run, with the line to show when it had to be rebuilt.
pub struct Opened {
    pub store: EventStore,
    pub notice: Option<String>,
}

pub(super) fn open(path: &Path) -> Result<EventStore, OpenError> {
    let fail = |detail: String, corrupt: bool| OpenError {
        error: StoreError {
            path: path.display().to_string(),
            detail,
        },
        corrupt,
    };
    let conn = open_private_db(path).map_err(|detail| fail(detail, false))?;
    schema(&conn).map_err(|e| fail(e.to_string(), is_corrupt(&e)))?;
    Ok(EventStore {
        conn,
        path: path.to_path_buf(),
    })
}

fn schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS events (
             seq INTEGER PRIMARY KEY AUTOINCREMENT,
             fingerprint INTEGER NOT NULL UNIQUE,
             time INTEGER NOT NULL,
             raw TEXT NOT NULL
         );
         CREATE INDEX IF NOT EXISTS events_by_time ON events (time);
         CREATE TABLE IF NOT EXISTS covered (
             start INTEGER NOT NULL,
             end INTEGER NOT NULL,
             fetched INTEGER NOT NULL
         );",
    )?;
    if !has_fetch_times(conn) {
        // Checked again inside the write lock: another run may have
        // migrated the file meanwhile.
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        if !has_fetch_times(&tx) {
            // A range written before fetch times were kept counts as
            // fetched at its end: its last 24 hours are fetched again once.
            tx.execute_batch(
                "ALTER TABLE covered ADD COLUMN fetched INTEGER NOT NULL DEFAULT 0;
                 UPDATE covered SET fetched = end;",
            )?;
        }
        tx.commit()?;
    }
    // A file of another shape fails here rather than half-way through a run.
    conn.prepare("SELECT seq, fingerprint, time, raw FROM events LIMIT 0")?;
    Ok(())
}

fn has_fetch_times(conn: &Connection) -> bool {
    conn.prepare("SELECT start, end, fetched FROM covered LIMIT 0")
        .is_ok()
}

/// Empties a store (`-no-cache`).
const CLEAR: &str = "DELETE FROM events; DELETE FROM covered;";

/// Damage or a foreign schema, not a passing condition like a lock.
fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase | ErrorCode::Unknown)
    )
}

/// Opens the store for a run. With `rebuild` (`-no-cache`) it starts empty,
/// deleting a damaged file rather than clearing it; without, a damaged file
/// is moved aside as `<name>.corrupt-<time>`. Either way a new one is made.
pub fn open_for_run(path: &Path, rebuild: bool) -> Result<Opened, StoreError> {
    let fresh = |notice: String| {
        open(path).map(|store| Opened {
            store,
            notice: Some(notice),
        })
    };
    let opened = match open(path) {
        Ok(store) if !rebuild => Ok(store),
        Ok(store) => match store.conn.execute_batch(CLEAR) {
            Ok(()) => Ok(store),
            Err(e) => Err(OpenError {
                corrupt: is_corrupt(&e),
                error: store.err(e),
            }),
        },
        Err(e) => Err(e),
    };
    match opened {
        Ok(store) => Ok(Opened {
            store,
            notice: None,
        }),
        // Only damage: a store that is busy or unwritable is not ours to delete.
        Err(e) if e.corrupt && rebuild => {
            remove_with_journals(path)?;
            fresh(format!(
                "{}; deleted it and started a new one (-no-cache)",
                e.error
            ))
            .map_err(|e| e.error)
        }
        Err(e) if e.corrupt => {
            let aside = move_aside(path)?;
            fresh(format!(
                "{}; moved it to {} and started a new one",
                e.error,
                aside.display()
            ))
            .map_err(|e| e.error)
        }
        Err(e) => Err(e.error),
    }
}

/// SQLite's companions of a database file, which belong with it.
const COMPANIONS: [&str; 3] = ["-journal", "-wal", "-shm"];

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError {
        path: path.display().to_string(),
        detail: format!("cannot {what}: {e}"),
    }
}

fn remove_with_journals(path: &Path) -> Result<(), StoreError> {
    for file in
        std::iter::once(path.to_path_buf()).chain(COMPANIONS.iter().map(|s| with_suffix(path, s)))
    {
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_error(&file, "delete it", e))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Renames the file (and its journal, which only makes sense with it) to
/// `<name>.corrupt-<YYYYMMDDHHMMSS>` next to it, for a later look.
fn move_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let stamp = Utc::now().format("%Y%m%d%H%M%S");
    let aside = with_suffix(path, &format!(".corrupt-{stamp}"));
    std::fs::rename(path, &aside).map_err(|e| io_error(path, "move it aside", e))?;
    for suffix in COMPANIONS {
        let from = with_suffix(path, suffix);
        if from.exists() {
            std::fs::rename(&from, with_suffix(&aside, suffix))
                .map_err(|e| io_error(&from, "move it aside", e))?;
        }
    }
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Covered, Span};

    /// A store with enough events to span many pages.
    fn filled(path: &Path) {
        let store = EventStore::open(path).unwrap();
        let batch = store.begin().unwrap();
        for i in 0..2000 {
            batch.insert(i, i as i64, &"x".repeat(300)).unwrap();
        }
        batch
            .commit(
                Span {
                    start: 0,
                    end: 2000,
                },
                5000,
            )
            .unwrap();
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_store_without_fetch_times_keeps_its_ranges_as_fetched_at_their_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 fingerprint INTEGER NOT NULL UNIQUE, time INTEGER NOT NULL, raw TEXT NOT NULL);
             CREATE TABLE covered (start INTEGER NOT NULL, end INTEGER NOT NULL);
             INSERT INTO events (fingerprint, time, raw) VALUES (7, 50, 'e');
             INSERT INTO covered VALUES (0, 100), (200, 300);",
        )
        .unwrap();
        drop(conn);
        let store = EventStore::open(&path).unwrap();
        let c = |start, end| Covered {
            span: Span { start, end },
            fetched: end,
        };
        assert_eq!(store.ranges().unwrap(), [c(0, 100), c(200, 300)]);
        assert_eq!(store.event_count().unwrap(), 1);
        drop(store);
        // Opening again finds it migrated.
        let again = EventStore::open(&path).unwrap();
        assert_eq!(again.ranges().unwrap().len(), 2);
    }

    #[test]
    fn a_garbage_file_is_moved_aside_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        std::fs::write(
            &path,
            b"this is not a database, just some text ".repeat(100),
        )
        .unwrap();
        assert!(EventStore::open(&path).is_err());
        let opened = open_for_run(&path, false).unwrap();
        let notice = opened.notice.unwrap();
        assert!(notice.contains("t.db.corrupt-"), "{notice}");
        assert!(!notice.contains('\n'));
        assert_eq!(opened.store.event_count().unwrap(), 0);
        let names = files(dir.path());
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(names[0], "t.db");
        let stamp = names[1].strip_prefix("t.db.corrupt-").unwrap();
        assert!(stamp.len() == 14 && stamp.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(
            std::fs::read(dir.path().join(&names[1])).unwrap()[..4],
            *b"this",
            "kept as it was"
        );
    }

    #[test]
    fn a_truncated_store_is_moved_aside_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        filled(&path);
        let len = std::fs::metadata(&path).unwrap().len();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len / 2).unwrap();
        drop(file);
        let opened = open_for_run(&path, false).unwrap();
        assert!(opened.notice.unwrap().contains("malformed"));
        assert_eq!(opened.store.event_count().unwrap(), 0);
        assert_eq!(files(dir.path()).len(), 2);
    }

    #[test]
    fn no_cache_deletes_a_broken_store_and_clears_a_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        std::fs::write(&path, b"garbage".repeat(1000)).unwrap();
        let opened = open_for_run(&path, true).unwrap();
        assert!(opened.notice.unwrap().contains("deleted"));
        drop(opened.store);
        assert_eq!(files(dir.path()), ["t.db"], "nothing kept aside");
        filled(&path);
        let opened = open_for_run(&path, true).unwrap();
        assert!(opened.notice.is_none());
        assert_eq!(opened.store.event_count().unwrap(), 0);
        assert!(opened.store.covered().unwrap().is_empty());
    }

    #[test]
    fn a_good_store_opens_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        filled(&path);
        let opened = open_for_run(&path, false).unwrap();
        assert!(opened.notice.is_none());
        assert_eq!(opened.store.event_count().unwrap(), 2000);
    }

    #[test]
    fn damage_found_later_in_a_run_names_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        filled(&path);
        // Scribble over data pages, leaving the header and schema intact.
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() / 2;
        bytes[at..at + 16_384].fill(0xA5);
        std::fs::write(&path, bytes).unwrap();
        let opened = open_for_run(&path, false).unwrap();
        let read = opened.store.for_each_in(
            Span {
                start: 0,
                end: 2000,
            },
            |_| {},
        );
        let error = read.unwrap_err().to_string();
        assert!(error.contains("-no-cache"), "{error}");
        drop(opened);
        let rebuilt = open_for_run(&path, true).unwrap();
        assert_eq!(rebuilt.store.event_count().unwrap(), 0);
    }
}
