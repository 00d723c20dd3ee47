//! How a `BackupChange` lies in the store: its schema (version 3) and the
//! mapping of each field to a column. An event row is a few integers: the
//! computer and the people it names are kept once each (`devices`,
//! `people`) and referenced by id, and the values that repeat on every
//! row take no space or one byte: SQLite stores the integers 0 and 1 in
//! the row header alone, so `disabled`/`enabled` are 0/1, the common actor
//! kinds small integers, and `updated` its distance from the event's time
//! (0 for most events); a value outside those forms (a new status tag,
//! an `updated` of another format) is kept as its text, in the same column.

use chrono::{DateTime, NaiveDate};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Row, ToSql};

use crate::domain::change::{Actor, BackupChange, EventDevice, Person};
use crate::domain::period::format_dropbox_time;
use crate::domain::status::BackupStatus;

/// `PRAGMA user_version` of this layout. Files without one (version 0)
/// were written before it and kept each event's JSON; version 2 kept
/// events by rowid with a time index, and fingerprints of an unstable hash.
pub const VERSION: i64 = 3;

/// Columns without a declared type keep what is put in them, integer or
/// text, as it is. Events are clustered by time and fingerprint: the same
/// event has the same time and fingerprint, so the key alone keeps it once
/// (no second index to update per insert), and replay reads the key in
/// time order, sorting only each second's few events by arrival (`seq`).
/// Devices and people are found by a digest of their text, so the index
/// that finds them stays small.
pub const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS devices (
        id INTEGER PRIMARY KEY,
        digest INTEGER NOT NULL,
        session_id TEXT,
        host_name TEXT NOT NULL,
        ip_address TEXT NOT NULL,
        client_type TEXT NOT NULL,
        client_version TEXT NOT NULL,
        platform TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS devices_by_digest ON devices (digest);
    CREATE TABLE IF NOT EXISTS people (
        id INTEGER PRIMARY KEY,
        digest INTEGER NOT NULL,
        member_id TEXT NOT NULL,
        email TEXT NOT NULL,
        name TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS people_by_digest ON people (digest);
    CREATE TABLE IF NOT EXISTS events (
        time INTEGER NOT NULL,
        fingerprint INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        nanos INTEGER NOT NULL,
        device INTEGER NOT NULL,
        updated,
        previous,
        new NOT NULL,
        actor_kind,
        actor INTEGER NOT NULL,
        member INTEGER NOT NULL,
        PRIMARY KEY (time, fingerprint)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS arrivals (next INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS covered (
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        fetched INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS watches (
        name TEXT PRIMARY KEY,
        since INTEGER NOT NULL,
        polled_to INTEGER,
        saved INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS watch_reported (
        name TEXT NOT NULL,
        fingerprint INTEGER NOT NULL,
        time INTEGER NOT NULL,
        PRIMARY KEY (name, fingerprint)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS watch_pending (
        name TEXT NOT NULL,
        target TEXT NOT NULL,
        fingerprint INTEGER NOT NULL,
        time INTEGER NOT NULL,
        text TEXT NOT NULL,
        change TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        PRIMARY KEY (name, target, fingerprint)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS watch_owners (
        session_id TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        name TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS watch_owners_fetched (fetched INTEGER NOT NULL);";

/// Fails on a file of another shape, before a run relies on it.
pub const SHAPE_CHECK: &str = "SELECT e.time, e.seq, e.fingerprint, e.nanos, e.device,
        e.updated, e.previous, e.new, e.actor_kind, e.actor, e.member, d.digest, d.session_id,
        d.host_name, d.ip_address, d.client_type, d.client_version, d.platform, p.digest,
        p.member_id, p.email, p.name, r.next, c.start, c.end, c.fetched
    FROM events e, devices d, people p, arrivals r, covered c LIMIT 0";

pub const INSERT_EVENT: &str = "INSERT OR IGNORE INTO events
    (time, seq, fingerprint, nanos, device, updated, previous, new, actor_kind, actor, member)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// The sequence number the next arriving event gets.
pub const NEXT_ARRIVAL: &str = "SELECT next FROM arrivals";

pub const FIND_DEVICE: &str = "SELECT id FROM devices WHERE digest = ?1 AND session_id IS ?2
    AND host_name = ?3 AND ip_address = ?4 AND client_type = ?5 AND client_version = ?6
    AND platform = ?7";

pub const INSERT_DEVICE: &str = "INSERT INTO devices
    (digest, session_id, host_name, ip_address, client_type, client_version, platform)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

pub const FIND_PERSON: &str =
    "SELECT id FROM people WHERE digest = ?1 AND member_id = ?2 AND email = ?3 AND name = ?4";

pub const INSERT_PERSON: &str =
    "INSERT INTO people (digest, member_id, email, name) VALUES (?1, ?2, ?3, ?4)";

/// A digest of texts that stays the same from run to run and build to
/// build (FNV-1a over each text with its length): it only narrows the
/// search, the texts themselves are compared.
pub fn stable_digest(texts: &[Option<&str>]) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for text in texts {
        match text {
            None => eat(&[0]),
            Some(t) => {
                eat(&[1]);
                eat(&(t.len() as u64).to_le_bytes());
                eat(t.as_bytes());
            }
        }
    }
    hash as i64
}

/// Every stored event in `[?1, ?2)` with what it references, by time and
/// then order of arrival. CROSS JOIN keeps `events` the outer loop, read
/// in the order of its key (time first); SQLite sorts only the events of
/// one second by `seq`.
pub const SELECT_IN: &str = "SELECT e.seq, e.fingerprint, e.time, e.nanos, e.updated,
        e.previous, e.new, e.actor_kind,
        d.session_id, d.host_name, d.ip_address, d.client_type, d.client_version, d.platform,
        a.member_id, a.email, a.name, m.member_id, m.email, m.name
    FROM events e
        CROSS JOIN devices d ON d.id = e.device
        CROSS JOIN people a ON a.id = e.actor
        CROSS JOIN people m ON m.id = e.member
    WHERE e.time >= ?1 AND e.time < ?2
    ORDER BY e.time, e.seq";

/// A column value that is an integer in the common case, else text.
pub enum Compact<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl ToSql for Compact<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Compact::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Compact::Int(n) => ToSqlOutput::from(*n),
            Compact::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
        })
    }
}

pub fn status_column(status: &BackupStatus) -> Compact<'_> {
    match status {
        BackupStatus::Disabled => Compact::Int(0),
        BackupStatus::Enabled => Compact::Int(1),
        BackupStatus::Other(tag) => Compact::Text(tag),
    }
}

/// The actor kinds of the contract, numbered from 1 by their place here.
const ACTOR_KINDS: [&str; 6] = ["user", "admin", "app", "reseller", "anonymous", "dropbox"];

pub fn actor_kind_column(kind: &str) -> Compact<'_> {
    match ACTOR_KINDS.iter().position(|k| *k == kind) {
        _ if kind.is_empty() => Compact::Null,
        Some(i) => Compact::Int(i as i64 + 1),
        None => Compact::Text(kind),
    }
}

/// `updated` as seconds before the event's `time` when it is a Dropbox
/// timestamp that reads back to the same text, else the text itself.
pub fn updated_column(time: i64, updated: &str) -> Compact<'_> {
    if updated.is_empty() {
        return Compact::Null;
    }
    match canonical_seconds(updated) {
        Some(t) => Compact::Int(time - t),
        None => Compact::Text(updated),
    }
}

/// The Unix time of a timestamp in the one form `format_dropbox_time`
/// writes (`2026-07-14T09:12:40Z`), read by hand: every stored event has
/// one, and chrono's parser and formatter took a tenth of an insert. A
/// leap second (`:60`) has no such time and stays text.
fn canonical_seconds(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let shape = b.len() == 20
        && [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'Z'),
        ]
        .iter()
        .all(|&(at, c)| b[at] == c);
    if !shape {
        return None;
    }
    let number = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(number(0, 4)? as i32, number(5, 7)?, number(8, 10)?)?;
    let t = date.and_hms_opt(number(11, 13)?, number(14, 16)?, number(17, 19)?)?;
    Some(t.and_utc().timestamp())
}

/// A value this layout never writes, in the column at `index`.
fn bad_value(index: usize, value: ValueRef<'_>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        value.data_type(),
        "not a value the event store writes there".into(),
    )
}

fn text_of(value: ValueRef<'_>) -> Option<Option<String>> {
    match value {
        ValueRef::Null => Some(None),
        ValueRef::Text(bytes) => Some(Some(String::from_utf8_lossy(bytes).into_owned())),
        _ => None,
    }
}

fn status_at(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<BackupStatus>> {
    let value = row.get_ref(index)?;
    match value {
        ValueRef::Integer(0) => Ok(Some(BackupStatus::Disabled)),
        ValueRef::Integer(1) => Ok(Some(BackupStatus::Enabled)),
        other => text_of(other)
            .map(|tag| tag.map(|tag| BackupStatus::from_tag(&tag)))
            .ok_or_else(|| bad_value(index, value)),
    }
}

fn actor_kind_at(row: &Row<'_>, index: usize) -> rusqlite::Result<String> {
    let value = row.get_ref(index)?;
    let kind = match value {
        ValueRef::Integer(n) => n
            .checked_sub(1)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| ACTOR_KINDS.get(i))
            .map(|k| k.to_string()),
        other => text_of(other).map(Option::unwrap_or_default),
    };
    kind.ok_or_else(|| bad_value(index, value))
}

fn updated_at(row: &Row<'_>, index: usize, time: i64) -> rusqlite::Result<String> {
    let value = row.get_ref(index)?;
    let updated = match value {
        ValueRef::Integer(before) => time
            .checked_sub(before)
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .map(format_dropbox_time),
        other => text_of(other).map(Option::unwrap_or_default),
    };
    updated.ok_or_else(|| bad_value(index, value))
}

fn person_at(row: &Row<'_>, first: usize) -> rusqlite::Result<Person> {
    Ok(Person {
        id: row.get(first)?,
        email: row.get(first + 1)?,
        name: row.get(first + 2)?,
    })
}

/// A row of `SELECT_IN` as the record it stores.
pub fn change_of(row: &Row<'_>) -> rusqlite::Result<BackupChange> {
    let time: i64 = row.get(2)?;
    let nanos: u32 = row.get(3)?;
    let timestamp = DateTime::from_timestamp(time, nanos)
        .ok_or_else(|| bad_value(2, ValueRef::Integer(time)))?;
    Ok(BackupChange {
        timestamp,
        order: row.get::<_, i64>(0)? as u64,
        fingerprint: row.get::<_, i64>(1)? as u64,
        updated: updated_at(row, 4, time)?,
        previous: status_at(row, 5)?,
        new: status_at(row, 6)?.ok_or_else(|| bad_value(6, ValueRef::Null))?,
        actor: Actor {
            kind: actor_kind_at(row, 7)?,
            person: person_at(row, 14)?,
        },
        device: EventDevice {
            session_id: row.get(8)?,
            host_name: row.get(9)?,
            ip_address: row.get(10)?,
            client_type: row.get(11)?,
            client_version: row.get(12)?,
            platform: row.get(13)?,
        },
        member: person_at(row, 17)?,
    })
}

#[cfg(test)]
pub mod sample {
    //! Records for the store's tests.

    use super::*;

    /// A change of `device` (its session `s<device>`) at `time`.
    pub fn change(fingerprint: u64, time: i64, device: usize) -> BackupChange {
        let member = Person {
            id: format!("dbmid:{}", device / 3),
            email: format!("member{}@example.com", device / 3),
            name: format!("Member {}", device / 3),
        };
        BackupChange {
            timestamp: DateTime::from_timestamp(time, 0).unwrap(),
            order: 0,
            fingerprint,
            previous: Some(BackupStatus::Disabled),
            new: BackupStatus::Enabled,
            device: EventDevice {
                session_id: Some(format!("s{device}")),
                host_name: format!("PC-{device}"),
                ip_address: "192.0.2.1".into(),
                client_type: "windows".into(),
                client_version: "230.4.5421".into(),
                platform: "Windows 11 Pro".into(),
            },
            updated: format_dropbox_time(DateTime::from_timestamp(time, 0).unwrap()),
            actor: Actor {
                kind: "user".into(),
                person: member.clone(),
            },
            member,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_tells_apart_where_one_text_ends() {
        let d = stable_digest;
        assert_eq!(d(&[Some("ab"), Some("c")]), d(&[Some("ab"), Some("c")]));
        assert_ne!(d(&[Some("ab"), Some("c")]), d(&[Some("a"), Some("bc")]));
        assert_ne!(d(&[None, Some("")]), d(&[Some(""), None]));
        assert_eq!(
            d(&[Some("x")]),
            -1_974_788_690_131_445_105,
            "the same in every build"
        );
    }

    #[test]
    fn small_values_become_integers_and_others_stay_text() {
        assert!(matches!(
            status_column(&BackupStatus::Disabled),
            Compact::Int(0)
        ));
        assert!(matches!(
            status_column(&BackupStatus::from_tag("paused")),
            Compact::Text("paused")
        ));
        assert!(matches!(actor_kind_column(""), Compact::Null));
        assert!(matches!(actor_kind_column("dropbox"), Compact::Int(6)));
        assert!(matches!(actor_kind_column("robot"), Compact::Text("robot")));
        let t = 1_780_000_000;
        let same = format_dropbox_time(DateTime::from_timestamp(t, 0).unwrap());
        assert!(matches!(updated_column(t, &same), Compact::Int(0)));
        assert!(matches!(updated_column(t, ""), Compact::Null));
        for odd in [
            "2026-07-14T09:12:40.5Z",
            "2026-07-14T11:12:40+02:00",
            "2016-12-31T23:59:60Z",
            "soon",
        ] {
            assert!(matches!(updated_column(t, odd), Compact::Text(x) if x == odd));
        }
    }

    #[test]
    fn the_hand_reader_of_updated_agrees_with_chrono() {
        use crate::domain::period::parse_dropbox_time;
        let by_chrono = |text: &str| {
            parse_dropbox_time(text)
                .filter(|t| t.timestamp_subsec_nanos() == 0 && format_dropbox_time(*t) == text)
                .map(|t| t.timestamp())
        };
        let mut texts: Vec<String> = (0..3000i64)
            .map(|i| {
                format_dropbox_time(
                    DateTime::from_timestamp(i * 15_485_863 - 9_000_000_000, 0).unwrap(),
                )
            })
            .collect();
        texts.extend(
            [
                "2024-02-29T00:00:00Z",
                "2023-02-29T00:00:00Z",
                "2026-13-01T00:00:00Z",
                "2026-00-10T00:00:00Z",
                "2026-07-14T24:00:00Z",
                "2026-07-14T09:60:00Z",
                "2026-07-14 09:12:40Z",
                "2026-07-14T09:12:4aZ",
                "+026-07-14T09:12:40Z",
                "0000-01-01T00:00:00Z",
                "9999-12-31T23:59:59Z",
            ]
            .map(String::from),
        );
        for text in &texts {
            assert_eq!(canonical_seconds(text), by_chrono(text), "{text}");
        }
    }
}
