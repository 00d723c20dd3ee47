//! The secrets database (`$TOOLBOX_HOME/secrets/secrets.db`, or
//! `-auth-database`): SQLite, one row per (app key, peer) with the refresh
//! token, the current access token and its expiry, scopes and team. When
//! the OS credential store holds the peer's refresh token (`os_store`), the
//! row keeps only the entry's account name and no token at all. The
//! folder is created 0700 and the file 0600 before SQLite opens it; writes
//! are transactions and a busy timeout lets concurrent runs wait their turn.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::private_file::open_private_db;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::AuthError;

/// 2 added `keyring_account`; version 1 databases are upgraded in place.
const SCHEMA_VERSION: i64 = 2;

/// One stored authorization. `Debug` hides the tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerRecord {
    pub app_key: String,
    pub peer: String,
    pub refresh_token: Option<String>,
    pub access_token: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: String,
    pub team_id: String,
    pub team_name: String,
    pub authorized_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The OS credential store's account holding the refresh token; `None`:
    /// the token (if any) is in this row.
    pub keyring_account: Option<String>,
}

impl fmt::Debug for PeerRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerRecord")
            .field("app_key", &self.app_key)
            .field("peer", &self.peer)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("team_name", &self.team_name)
            .field("keyring_account", &self.keyring_account)
            .finish()
    }
}

pub struct SecretsDb {
    conn: Connection,
    path: PathBuf,
}

fn store_error(path: &Path, detail: impl fmt::Display) -> AuthError {
    AuthError::Store {
        path: path.display().to_string(),
        detail: detail.to_string(),
    }
}

/// The default location under the toolbox home.
pub fn default_path(home: &Path) -> PathBuf {
    home.join("secrets").join("secrets.db")
}

fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn parse_time(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

impl SecretsDb {
    /// Opens (creating when missing) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, AuthError> {
        let conn = open_private_db(path).map_err(|e| store_error(path, e))?;
        let db = Self {
            conn,
            path: path.to_path_buf(),
        };
        db.migrate()?;
        Ok(db)
    }

    /// Opens an existing database; `None` when there is none (nothing is
    /// created just to look).
    pub fn open_existing(path: &Path) -> Result<Option<Self>, AuthError> {
        if path.exists() {
            Self::open(path).map(Some)
        } else {
            Ok(None)
        }
    }

    fn err(&self, e: impl fmt::Display) -> AuthError {
        store_error(&self.path, e)
    }

    fn migrate(&self) -> Result<(), AuthError> {
        self.conn
            .execute_batch(
                "BEGIN IMMEDIATE;
                 CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
                 CREATE TABLE IF NOT EXISTS peers (
                     app_key TEXT NOT NULL,
                     peer TEXT NOT NULL,
                     refresh_token TEXT,
                     access_token TEXT,
                     expires_at TEXT,
                     scopes TEXT NOT NULL DEFAULT '',
                     team_id TEXT NOT NULL DEFAULT '',
                     team_name TEXT NOT NULL DEFAULT '',
                     authorized_at TEXT NOT NULL,
                     updated_at TEXT NOT NULL,
                     keyring_account TEXT,
                     PRIMARY KEY (app_key, peer)
                 );
                 COMMIT;",
            )
            .map_err(|e| self.err(e))?;
        let version: Option<i64> = self
            .conn
            .query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        match version {
            Some(v) if v > SCHEMA_VERSION => Err(self.err(format!(
                "written by a newer tbx (schema {v}); this one knows up to {SCHEMA_VERSION}"
            ))),
            Some(v) if v == SCHEMA_VERSION => Ok(()),
            _ => self.upgrade(),
        }
    }

    /// Brings a new or version 1 database to the current schema, in one
    /// transaction (a concurrent run may be doing the same: the column is
    /// added only when missing).
    fn upgrade(&self) -> Result<(), AuthError> {
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(|e| self.err(e))?;
        let has_column = tx
            .prepare("SELECT 1 FROM pragma_table_info('peers') WHERE name = 'keyring_account'")
            .and_then(|mut s| s.exists([]))
            .map_err(|e| self.err(e))?;
        if !has_column {
            tx.execute("ALTER TABLE peers ADD COLUMN keyring_account TEXT", [])
                .map_err(|e| self.err(e))?;
        }
        tx.execute("DELETE FROM schema_version", [])
            .and_then(|_| {
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES (?1)",
                    [SCHEMA_VERSION],
                )
            })
            .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PeerRecord> {
        Ok(PeerRecord {
            app_key: r.get(0)?,
            peer: r.get(1)?,
            refresh_token: r.get(2)?,
            access_token: r.get(3)?,
            expires_at: parse_time(r.get(4)?),
            scopes: r.get(5)?,
            team_id: r.get(6)?,
            team_name: r.get(7)?,
            authorized_at: parse_time(r.get(8)?).unwrap_or_default(),
            updated_at: parse_time(r.get(9)?).unwrap_or_default(),
            keyring_account: r.get(10)?,
        })
    }

    const COLUMNS: &'static str =
        "app_key, peer, refresh_token, access_token, expires_at, scopes, \
         team_id, team_name, authorized_at, updated_at, keyring_account";

    /// The peer's record: for `app_key` when given, else the most recently
    /// authorized one.
    pub fn find(&self, peer: &str, app_key: Option<&str>) -> Result<Option<PeerRecord>, AuthError> {
        let sql = format!(
            "SELECT {} FROM peers WHERE peer = ?1 AND (?2 IS NULL OR app_key = ?2) \
             ORDER BY authorized_at DESC LIMIT 1",
            Self::COLUMNS
        );
        self.conn
            .query_row(&sql, params![peer, app_key], Self::row)
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn list(&self) -> Result<Vec<PeerRecord>, AuthError> {
        let sql = format!("SELECT {} FROM peers ORDER BY peer, app_key", Self::COLUMNS);
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], Self::row).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Inserts or replaces the record of (app key, peer).
    pub fn save(&self, record: &PeerRecord) -> Result<(), AuthError> {
        let sql = format!(
            "INSERT OR REPLACE INTO peers ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            Self::COLUMNS
        );
        self.conn
            .execute(
                &sql,
                params![
                    record.app_key,
                    record.peer,
                    record.refresh_token,
                    record.access_token,
                    record.expires_at.map(time_text),
                    record.scopes,
                    record.team_id,
                    record.team_name,
                    time_text(record.authorized_at),
                    time_text(record.updated_at),
                    record.keyring_account,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Stores a refreshed access token.
    pub fn update_access(
        &self,
        app_key: &str,
        peer: &str,
        access_token: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), AuthError> {
        self.conn
            .execute(
                "UPDATE peers SET access_token = ?3, expires_at = ?4, updated_at = ?5 \
                 WHERE app_key = ?1 AND peer = ?2",
                params![
                    app_key,
                    peer,
                    access_token,
                    expires_at.map(time_text),
                    time_text(Utc::now())
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn delete(&self, app_key: &str, peer: &str) -> Result<bool, AuthError> {
        let n = self
            .conn
            .execute(
                "DELETE FROM peers WHERE app_key = ?1 AND peer = ?2",
                params![app_key, peer],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(peer: &str, app: &str, at: &str) -> PeerRecord {
        let t = DateTime::parse_from_rfc3339(at)
            .unwrap()
            .with_timezone(&Utc);
        PeerRecord {
            app_key: app.into(),
            peer: peer.into(),
            refresh_token: Some("rt-secret".into()),
            access_token: Some("at-secret".into()),
            expires_at: Some(t),
            scopes: "events.read".into(),
            team_id: "dbtid:x".into(),
            team_name: "Team".into(),
            authorized_at: t,
            updated_at: t,
            keyring_account: None,
        }
    }

    #[test]
    fn saves_finds_lists_updates_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_path(dir.path());
        let db = SecretsDb::open(&path).unwrap();
        db.save(&record("default", "app1", "2026-01-01T00:00:00Z"))
            .unwrap();
        db.save(&record("default", "app2", "2026-02-01T00:00:00Z"))
            .unwrap();
        db.save(&record("other", "app1", "2026-01-01T00:00:00Z"))
            .unwrap();
        assert_eq!(db.find("default", None).unwrap().unwrap().app_key, "app2");
        assert_eq!(
            db.find("default", Some("app1")).unwrap().unwrap().app_key,
            "app1"
        );
        assert!(db.find("nobody", None).unwrap().is_none());
        assert_eq!(db.list().unwrap().len(), 3);
        db.update_access("app1", "other", "new-at", None).unwrap();
        assert_eq!(
            db.find("other", None)
                .unwrap()
                .unwrap()
                .access_token
                .as_deref(),
            Some("new-at")
        );
        assert!(db.delete("app1", "other").unwrap());
        assert!(!db.delete("app1", "other").unwrap());
        let reopened = SecretsDb::open(&path).unwrap();
        assert_eq!(reopened.list().unwrap().len(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn file_is_0600_and_folder_0700() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = default_path(dir.path());
        SecretsDb::open(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }

    #[test]
    fn concurrent_writers_do_not_corrupt_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_path(dir.path());
        SecretsDb::open(&path).unwrap();
        std::thread::scope(|s| {
            for i in 0..8 {
                let path = &path;
                s.spawn(move || {
                    let db = SecretsDb::open(path).unwrap();
                    for j in 0..20 {
                        db.save(&record(&format!("p{i}-{j}"), "app", "2026-01-01T00:00:00Z"))
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(SecretsDb::open(&path).unwrap().list().unwrap().len(), 160);
    }

    #[test]
    fn a_version_1_database_keeps_its_tokens_after_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_path(dir.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (1);
             CREATE TABLE peers (app_key TEXT NOT NULL, peer TEXT NOT NULL,
                 refresh_token TEXT, access_token TEXT, expires_at TEXT,
                 scopes TEXT NOT NULL DEFAULT '', team_id TEXT NOT NULL DEFAULT '',
                 team_name TEXT NOT NULL DEFAULT '', authorized_at TEXT NOT NULL,
                 updated_at TEXT NOT NULL, PRIMARY KEY (app_key, peer));
             INSERT INTO peers VALUES ('app', 'corp', 'rt-secret', NULL, NULL,
                 'events.read', 'dbtid:x', 'Team', '2026-01-01T00:00:00Z',
                 '2026-01-01T00:00:00Z');",
        )
        .unwrap();
        drop(conn);
        let db = SecretsDb::open(&path).unwrap();
        let found = db.find("corp", None).unwrap().unwrap();
        assert_eq!(found.refresh_token.as_deref(), Some("rt-secret"));
        assert_eq!(found.keyring_account, None);
        db.save(&record("other", "app", "2026-01-01T00:00:00Z"))
            .unwrap();
        drop(db);
        let version: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(SecretsDb::open(&path).unwrap().list().unwrap().len(), 2);
    }

    #[test]
    fn debug_hides_tokens() {
        let text = format!("{:?}", record("p", "a", "2026-01-01T00:00:00Z"));
        assert!(!text.contains("secret"), "{text}");
    }
}
