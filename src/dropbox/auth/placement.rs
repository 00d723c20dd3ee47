//! Where a peer's refresh token is kept: in the OS credential store when
//! there is one and it takes the token (then the database row holds the
//! peer's team, scopes and the entry's account name, and no token at all,
//! and access tokens stay in memory), else in the database row as before.
//! A store that fails at run time (no default store, a locked keychain)
//! falls back to the database and the notice says so.

use std::path::{Path, PathBuf};

use super::os_store::{self, OsStore};
use super::store::{PeerRecord, SecretsDb};
use super::{AuthError, RefreshToken};

/// Where a new authorization's token went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Into the OS credential store of that name.
    OsStore(&'static str),
    /// Into the database at `path`; `os_failed` names the OS store that
    /// was tried and why it could not take the token.
    Database {
        path: PathBuf,
        os_failed: Option<(&'static str, String)>,
    },
}

impl Placement {
    /// Whether the database holds the token (and so may keep refreshed
    /// access tokens too).
    pub fn in_database(&self) -> bool {
        matches!(self, Placement::Database { .. })
    }
}

/// Saves a new authorization of `record.peer`: its refresh token into `os`
/// when that takes it, else into the row. A previous OS store entry of the
/// same peer and app is removed (best effort: the database no longer points
/// at it either way).
pub fn save(
    db: &SecretsDb,
    path: &Path,
    os: Option<&OsStore>,
    mut record: PeerRecord,
) -> Result<Placement, AuthError> {
    let previous = db
        .find(&record.peer, Some(&record.app_key))?
        .and_then(|r| r.keyring_account);
    let mut os_failed = None;
    if let (Some(os), Some(refresh)) = (os, record.refresh_token.as_deref()) {
        let account = os_store::new_account(&record.peer, &record.app_key);
        match os.put(&account, refresh) {
            Ok(()) => {
                record.refresh_token = None;
                record.access_token = None;
                record.keyring_account = Some(account);
            }
            Err(why) => os_failed = Some((os.name(), why)),
        }
    }
    if let Err(e) = db.save(&record) {
        if let (Some(os), Some(account)) = (os, &record.keyring_account) {
            let _ = os.delete(account);
        }
        return Err(e);
    }
    if let (Some(os), Some(old)) = (os, previous) {
        if record.keyring_account.as_ref() != Some(&old) {
            let _ = os.delete(&old);
        }
    }
    Ok(match (os, &record.keyring_account) {
        (Some(os), Some(_)) => Placement::OsStore(os.name()),
        _ => Placement::Database {
            path: path.to_path_buf(),
            os_failed,
        },
    })
}

/// The name users know the store holding `record`'s token by.
fn store_name(os: Option<&OsStore>) -> &'static str {
    os.map(OsStore::name)
        .or_else(os_store::platform_name)
        .unwrap_or("the OS credential store")
}

/// The peer's refresh token, wherever it lives. A token the row says is in
/// the OS store but that is not there (removed outside tbx, or a database
/// copied from another computer) is an error that says to authorize again.
pub fn refresh_token(
    record: &PeerRecord,
    os: Option<&OsStore>,
) -> Result<Option<RefreshToken>, AuthError> {
    let Some(account) = &record.keyring_account else {
        return Ok(record.refresh_token.clone().map(RefreshToken::new));
    };
    let unreadable = |detail: String| AuthError::KeyringUnreadable {
        peer: record.peer.clone(),
        store: store_name(os),
        detail,
    };
    let os = os.ok_or_else(|| unreadable("this build of tbx has no OS credential store".into()))?;
    match os.get(account) {
        Ok(Some(secret)) => Ok(Some(RefreshToken::new(secret))),
        Ok(None) => Err(AuthError::KeyringMissing {
            peer: record.peer.clone(),
            store: os.name(),
        }),
        Err(why) => Err(unreadable(why)),
    }
}

/// Removes `record`'s token from the OS store, if it is kept there:
/// `None` when it is not, else whether an entry was removed or why not.
pub fn forget_os_entry(
    record: &PeerRecord,
    os: Option<&OsStore>,
) -> Option<(&'static str, Result<bool, String>)> {
    let account = record.keyring_account.as_ref()?;
    let name = store_name(os);
    Some(match os {
        Some(os) => (name, os.delete(account)),
        None => (
            name,
            Err("this build of tbx has no OS credential store".into()),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dropbox::auth::os_store::tests::mock;
    use chrono::Utc;

    fn record(peer: &str) -> PeerRecord {
        PeerRecord {
            app_key: "app".into(),
            peer: peer.into(),
            refresh_token: Some("refresh-secret-value".into()),
            access_token: Some("access-secret-value".into()),
            expires_at: None,
            scopes: "events.read".into(),
            team_id: "dbtid:x".into(),
            team_name: "Team".into(),
            authorized_at: Utc::now(),
            updated_at: Utc::now(),
            keyring_account: None,
        }
    }

    fn db() -> (tempfile::TempDir, PathBuf, SecretsDb) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.db");
        let db = SecretsDb::open(&path).unwrap();
        (dir, path, db)
    }

    #[test]
    fn the_os_store_gets_the_token_and_the_row_keeps_none() {
        let (_dir, path, db) = db();
        let os = mock();
        let placed = save(&db, &path, Some(&os), record("corp")).unwrap();
        assert_eq!(placed, Placement::OsStore("Mock Store"));
        let row = db.find("corp", None).unwrap().unwrap();
        assert_eq!(
            (row.refresh_token.as_ref(), row.access_token.as_ref()),
            (None, None)
        );
        assert_eq!(row.team_name, "Team");
        let token = refresh_token(&row, Some(&os)).unwrap().unwrap();
        assert_eq!(token.secret(), "refresh-secret-value");

        // Authorizing again replaces the entry; the old one goes.
        let old = row.keyring_account.clone().unwrap();
        save(&db, &path, Some(&os), record("corp")).unwrap();
        assert_eq!(os.get(&old).unwrap(), None);
        let row = db.find("corp", None).unwrap().unwrap();
        assert_eq!(
            forget_os_entry(&row, Some(&os)),
            Some(("Mock Store", Ok(true)))
        );
    }

    #[test]
    fn an_unavailable_store_falls_back_to_the_database_and_says_so() {
        let (_dir, path, db) = db();
        let os = OsStore::new("macOS Keychain", Err("keychain locked".into()));
        let placed = save(&db, &path, Some(&os), record("corp")).unwrap();
        assert_eq!(
            placed,
            Placement::Database {
                path: path.clone(),
                os_failed: Some(("macOS Keychain", "keychain locked".into())),
            }
        );
        let row = db.find("corp", None).unwrap().unwrap();
        assert_eq!(row.keyring_account, None);
        assert_eq!(
            refresh_token(&row, Some(&os)).unwrap().unwrap().secret(),
            "refresh-secret-value"
        );
        assert_eq!(forget_os_entry(&row, Some(&os)), None);
    }

    #[test]
    fn a_token_missing_from_the_os_store_says_to_authorize_again() {
        let (_dir, path, db) = db();
        let os = mock();
        save(&db, &path, Some(&os), record("corp")).unwrap();
        let row = db.find("corp", None).unwrap().unwrap();
        os.delete(row.keyring_account.as_ref().unwrap()).unwrap();
        let err = refresh_token(&row, Some(&os)).unwrap_err().to_string();
        assert!(
            err.contains("not in Mock Store")
                && err.contains("run `tbx config auth add -peer corp`"),
            "{err}"
        );
        let err = refresh_token(&row, None).unwrap_err().to_string();
        assert!(
            err.contains("run `tbx config auth add -peer corp`"),
            "{err}"
        );
    }
}
