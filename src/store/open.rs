//! Opening a store file: its schema and version, and what a run does with a
//! file it cannot use. The store is only a cache of the audit log, so such
//! a file is never a reason to fail: one SQLite cannot read is moved aside
//! (or, with `-no-cache`, deleted) and rebuilt; one of another version
//! (an older tbx kept each event's JSON) is emptied and rebuilt in place.
//! Either way the caller tells the user in one line.

use std::path::{Path, PathBuf};

use chrono::Utc;
use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};

use super::record::{SCHEMA, SHAPE_CHECK, VERSION};
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
    /// Why the store starts empty, when a person should be told.
    pub notice: Option<Rebuilt>,
}

/// Why a run's event store was started anew; `Messages` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebuilt {
    /// Written by a tbx with another store version (`found`; 0, from before
    /// versions were kept, counts as 1).
    OtherVersion { path: PathBuf, found: i64 },
    /// Damaged or not a store: `problem` says how; the file was moved to
    /// `moved_to`, or deleted (`None`) because `-no-cache` asked for a new one.
    Damaged {
        problem: String,
        moved_to: Option<PathBuf>,
    },
}

impl Rebuilt {
    /// The version this tbx writes.
    pub const CURRENT_VERSION: i64 = VERSION;
}

/// A store file just opened; `replaced` is the version it had when it was
/// of another one and so was rebuilt.
pub(super) struct OpenFile {
    pub store: EventStore,
    pub replaced: Option<i64>,
}

pub(super) fn open(path: &Path) -> Result<OpenFile, OpenError> {
    let fail = |detail: String, corrupt: bool| OpenError {
        error: StoreError {
            path: path.display().to_string(),
            detail,
        },
        corrupt,
    };
    let conn = open_private_db(path).map_err(|detail| fail(detail, false))?;
    let replaced = schema(&conn).map_err(|e| fail(e.to_string(), is_corrupt(&e)))?;
    Ok(OpenFile {
        store: EventStore {
            conn,
            path: path.to_path_buf(),
        },
        replaced,
    })
}

fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Makes the schema of this version; returns the version a file of another
/// one had before it was emptied.
fn schema(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let mut replaced = None;
    if version(conn)? != VERSION {
        // Checked again inside the write lock: another run may have
        // rebuilt the file meanwhile.
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let found = version(&tx)?;
        if found != VERSION {
            if drop_tables(&tx)? {
                replaced = Some(found);
            }
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "user_version", VERSION)?;
        }
        tx.commit()?;
        if replaced.is_some() {
            // Gives the old events' space back; another run holding the
            // file only delays that to a later rebuild, so failure is fine.
            let _ = conn.execute_batch("VACUUM");
        }
    }
    conn.execute_batch(SCHEMA)?;
    // A file of another shape fails here rather than half-way through a run.
    conn.prepare(SHAPE_CHECK)?;
    Ok(replaced)
}

/// Drops every table and view; false when there was none (a new file).
fn drop_tables(tx: &Transaction) -> rusqlite::Result<bool> {
    let objects: Vec<(String, String)> = tx
        .prepare(
            "SELECT type, name FROM sqlite_master
             WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (kind, name) in &objects {
        let kind = if kind == "view" { "VIEW" } else { "TABLE" };
        tx.execute_batch(&format!(
            "DROP {kind} IF EXISTS \"{}\"",
            name.replace('"', "\"\"")
        ))?;
    }
    if !objects.is_empty() {
        // AUTOINCREMENT's counters: sequence numbers start again from 1.
        let counters = tx
            .prepare("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")?
            .exists([])?;
        if counters {
            tx.execute_batch("DELETE FROM sqlite_sequence")?;
        }
    }
    Ok(!objects.is_empty())
}

/// Empties a store (`-no-cache`).
const CLEAR: &str =
    "DELETE FROM events; DELETE FROM covered; DELETE FROM devices; DELETE FROM people;";

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
    let fresh = |notice: Rebuilt| {
        open(path).map(|file| Opened {
            store: file.store,
            notice: Some(notice),
        })
    };
    let opened = match open(path) {
        Ok(file) if !rebuild => Ok(file),
        Ok(file) => match file.store.conn.execute_batch(CLEAR) {
            // -no-cache asked for an empty store: no need to say it is.
            Ok(()) => Ok(OpenFile {
                replaced: None,
                ..file
            }),
            Err(e) => Err(OpenError {
                corrupt: is_corrupt(&e),
                error: file.store.err(e),
            }),
        },
        Err(e) => Err(e),
    };
    match opened {
        Ok(file) => Ok(Opened {
            // Stores written before versions were kept say 0: they are version 1.
            notice: file.replaced.map(|found| Rebuilt::OtherVersion {
                path: path.to_path_buf(),
                found: found.max(1),
            }),
            store: file.store,
        }),
        // Only damage: a store that is busy or unwritable is not ours to delete.
        Err(e) if e.corrupt && rebuild => {
            remove_with_journals(path)?;
            fresh(Rebuilt::Damaged {
                problem: e.error.to_string(),
                moved_to: None,
            })
            .map_err(|e| e.error)
        }
        Err(e) if e.corrupt => {
            let aside = move_aside(path)?;
            fresh(Rebuilt::Damaged {
                problem: e.error.to_string(),
                moved_to: Some(aside),
            })
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
    use crate::store::record::sample;
    use crate::store::Span;

    /// A store with enough events and devices to span many pages.
    fn filled(path: &Path) {
        let store = EventStore::open(path).unwrap();
        let mut batch = store.begin().unwrap();
        for i in 0..2000 {
            let mut change = sample::change(i, i as i64, i as usize);
            change.device.platform = "x".repeat(300);
            batch.insert(&change).unwrap();
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

    /// A store as tbx wrote it before versions: each event's JSON.
    fn version_one(path: &Path) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 fingerprint INTEGER NOT NULL UNIQUE, time INTEGER NOT NULL, raw TEXT NOT NULL);
             CREATE INDEX events_by_time ON events (time);
             CREATE TABLE covered (start INTEGER NOT NULL, end INTEGER NOT NULL,
                 fetched INTEGER NOT NULL);
             INSERT INTO covered VALUES (0, 100, 200), (200, 300, 400);",
        )
        .unwrap();
        let raw = format!(r#"{{"timestamp": "x", "pad": "{}"}}"#, "x".repeat(1400));
        for i in 0..500 {
            conn.execute(
                "INSERT INTO events (fingerprint, time, raw) VALUES (?1, ?2, ?3)",
                rusqlite::params![i, i, raw],
            )
            .unwrap();
        }
    }

    #[test]
    fn a_store_of_an_older_version_is_emptied_and_rebuilt_with_a_notice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        version_one(&path);
        let before = std::fs::metadata(&path).unwrap().len();
        let opened = open_for_run(&path, false).unwrap();
        assert_eq!(
            opened.notice,
            Some(Rebuilt::OtherVersion {
                path: path.clone(),
                found: 1
            })
        );
        let store = opened.store;
        assert_eq!(store.event_count().unwrap(), 0);
        assert!(store.covered().unwrap().is_empty(), "its ranges went too");
        assert_eq!(version(&store.conn).unwrap(), VERSION);
        let after = std::fs::metadata(&path).unwrap().len();
        assert!(after * 10 < before, "space given back: {before} -> {after}");
        // It serves as a store of this version, and the next open is quiet.
        let mut batch = store.begin().unwrap();
        batch.insert(&sample::change(1, 50, 1)).unwrap();
        batch.commit(Span { start: 0, end: 100 }, 200).unwrap();
        drop(store);
        let again = open_for_run(&path, false).unwrap();
        assert!(again.notice.is_none());
        assert_eq!(again.store.event_count().unwrap(), 1);
        assert_eq!(files(dir.path()), ["old.db"], "rebuilt in place");
    }

    /// The layout of store version 2: events by rowid with a time index,
    /// devices and people found by their text.
    fn version_two(path: &Path) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(
            "CREATE TABLE devices (id INTEGER PRIMARY KEY, session_id TEXT,
                 host_name TEXT NOT NULL, ip_address TEXT NOT NULL, client_type TEXT NOT NULL,
                 client_version TEXT NOT NULL, platform TEXT NOT NULL);
             CREATE INDEX devices_by_session ON devices (session_id, host_name);
             CREATE TABLE people (id INTEGER PRIMARY KEY, member_id TEXT NOT NULL,
                 email TEXT NOT NULL, name TEXT NOT NULL);
             CREATE INDEX people_by_id ON people (member_id, email);
             CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 fingerprint INTEGER NOT NULL UNIQUE, time INTEGER NOT NULL,
                 nanos INTEGER NOT NULL, device INTEGER NOT NULL, updated, previous,
                 new NOT NULL, actor_kind, actor INTEGER NOT NULL, member INTEGER NOT NULL);
             CREATE INDEX events_by_time ON events (time);
             CREATE TABLE covered (start INTEGER NOT NULL, end INTEGER NOT NULL,
                 fetched INTEGER NOT NULL);
             INSERT INTO devices VALUES (1, 's1', 'PC', '192.0.2.1', 'windows', '1', 'W');
             INSERT INTO people VALUES (1, 'dbmid:1', 'a@example.com', 'A');
             INSERT INTO events VALUES (1, 7, 50, 0, 1, 0, 0, 1, 1, 1, 1);
             INSERT INTO covered VALUES (0, 100, 200);
             PRAGMA user_version = 2;",
        )
        .unwrap();
    }

    #[test]
    fn a_store_of_version_two_is_rebuilt_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.db");
        version_two(&path);
        let opened = open_for_run(&path, false).unwrap();
        assert_eq!(
            opened.notice,
            Some(Rebuilt::OtherVersion {
                path: path.clone(),
                found: 2
            })
        );
        assert_eq!(opened.store.event_count().unwrap(), 0);
        assert!(opened.store.covered().unwrap().is_empty());
        drop(opened);
        assert!(open_for_run(&path, false).unwrap().notice.is_none());
    }

    #[test]
    fn a_store_of_a_newer_version_is_rebuilt_and_no_cache_says_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        filled(&path);
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        let notice = open_for_run(&path, false).unwrap().notice;
        assert_eq!(
            notice,
            Some(Rebuilt::OtherVersion {
                path: path.clone(),
                found: VERSION + 1
            })
        );
        version_one(&path.with_extension("old"));
        let quiet = open_for_run(&path.with_extension("old"), true).unwrap();
        assert!(quiet.notice.is_none(), "-no-cache asked for an empty store");
        assert_eq!(quiet.store.event_count().unwrap(), 0);
    }

    #[test]
    fn a_new_file_gets_this_version_without_a_notice() {
        let dir = tempfile::tempdir().unwrap();
        let opened = open_for_run(&dir.path().join("new.db"), false).unwrap();
        assert!(opened.notice.is_none());
        assert_eq!(version(&opened.store.conn).unwrap(), VERSION);
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
        let Some(Rebuilt::Damaged {
            moved_to: Some(aside),
            ..
        }) = opened.notice
        else {
            panic!("{:?}", opened.notice)
        };
        assert!(
            aside.to_string_lossy().contains("t.db.corrupt-"),
            "{aside:?}"
        );
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
        let Some(Rebuilt::Damaged { problem, .. }) = &opened.notice else {
            panic!("{:?}", opened.notice)
        };
        assert!(problem.contains("malformed"), "{problem}");
        assert_eq!(opened.store.event_count().unwrap(), 0);
        assert_eq!(files(dir.path()).len(), 2);
    }

    #[test]
    fn no_cache_deletes_a_broken_store_and_clears_a_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        std::fs::write(&path, b"garbage".repeat(1000)).unwrap();
        let opened = open_for_run(&path, true).unwrap();
        assert!(
            matches!(opened.notice, Some(Rebuilt::Damaged { moved_to: None, .. })),
            "deleted, not moved: {:?}",
            opened.notice
        );
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
