//! Files only their owner may read: the secrets database and the event
//! stores are created 0600 in a 0700 folder before SQLite opens them, so
//! they never exist with looser permissions.

use std::path::Path;
use std::time::Duration;

/// Opens the SQLite database at `path`, created privately when missing.
/// Another run may hold it: a writer waits up to 10 s rather than failing.
pub fn open_private_db(path: &Path) -> Result<rusqlite::Connection, String> {
    create_private(path).map_err(|e| e.to_string())?;
    let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Creates `path` (and its folder) privately; tightens an existing file.
#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Tighten a file someone created with looser permissions.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        }
        Err(e) => Err(e),
    }
}

/// Creates the folder; permissions are the platform's (per-user profile).
#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    Ok(())
}
