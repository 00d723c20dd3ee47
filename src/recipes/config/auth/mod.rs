//! `tbx config auth add|list|delete`: the stored authorizations (peers).

pub mod add;
pub mod delete;
pub mod list;

use std::path::PathBuf;

use crate::dropbox::auth::{store, AuthError};
use crate::job::resolve_home;
use crate::options::{CommonOptions, OptionError};

/// Why `config auth add|list|delete` failed: an option, or the
/// authorization or its store (each has its own exit code).
#[derive(Debug)]
pub enum ConfigAuthError {
    Options(OptionError),
    Auth(AuthError),
}

/// The auth database of a run: `-auth-database`, else under the home.
pub fn auth_db_path(common: &CommonOptions) -> Result<PathBuf, AuthError> {
    if let Some(path) = &common.auth_database {
        return Ok(path.clone());
    }
    let home = resolve_home(common.workspace.as_deref()).map_err(|e| AuthError::Store {
        path: "(home)".into(),
        detail: e.to_string(),
    })?;
    Ok(store::default_path(&home))
}
