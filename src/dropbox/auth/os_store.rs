//! The operating system's credential store, where refresh tokens are kept
//! when there is one: Windows Credential Manager and the macOS Keychain,
//! through keyring-core and the native store crates (no extra system
//! libraries). Linux builds have none and keep tokens in the 0600 secrets
//! database (docs/performance.md "Binary size" says why). Every stored token
//! has its own account name, recorded in the database row that points at
//! it, so two auth databases never share or overwrite an entry.
//! Errors are described by keyring-core's `Display`, which never includes
//! the secret.

use std::sync::Arc;

use keyring_core::{CredentialStore, Entry, Error};
use rand::Rng;

/// The service every entry is filed under.
const SERVICE: &str = "tbx";

/// A credential store, or why it cannot be used in this run.
pub struct OsStore {
    name: &'static str,
    store: Result<Arc<CredentialStore>, String>,
}

/// The store of this platform, or `None` where tokens stay in the database.
pub fn platform() -> Option<OsStore> {
    #[cfg(windows)]
    {
        let store = windows_native_keyring_store::Store::new()
            .map(|s| s as Arc<CredentialStore>)
            .map_err(|e| e.to_string());
        Some(OsStore::new("Windows Credential Manager", store))
    }
    #[cfg(target_os = "macos")]
    {
        let store = apple_native_keyring_store::keychain::Store::new()
            .map(|s| s as Arc<CredentialStore>)
            .map_err(|e| e.to_string());
        Some(OsStore::new("macOS Keychain", store))
    }
    #[cfg(not(any(windows, target_os = "macos")))]
    {
        None
    }
}

/// The name of this platform's store, for `config auth list` (even when it
/// cannot be opened).
pub fn platform_name() -> Option<&'static str> {
    if cfg!(windows) {
        Some("Windows Credential Manager")
    } else if cfg!(target_os = "macos") {
        Some("macOS Keychain")
    } else {
        None
    }
}

/// A fresh account name for a peer's token: readable in the OS's own
/// credential viewer, unique per authorization.
pub fn new_account(peer: &str, app_key: &str) -> String {
    let nonce: u32 = rand::thread_rng().gen();
    format!("dropbox:{peer}:{app_key}:{nonce:08x}")
}

impl OsStore {
    /// A store (tests pass keyring-core's in-memory mock store here).
    pub fn new(name: &'static str, store: Result<Arc<CredentialStore>, String>) -> Self {
        Self { name, store }
    }

    /// How the store names itself to users: "Windows Credential Manager".
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn entry(&self, account: &str) -> Result<Entry, String> {
        let store = self.store.as_ref().map_err(Clone::clone)?;
        Entry::new_in_store(store, SERVICE, account).map_err(|e| e.to_string())
    }

    /// Stores `secret` under `account`, replacing what was there.
    pub fn put(&self, account: &str, secret: &str) -> Result<(), String> {
        self.entry(account)?
            .set_password(secret)
            .map_err(|e| e.to_string())
    }

    /// The secret under `account`; `None` when the store has no such entry.
    pub fn get(&self, account: &str) -> Result<Option<String>, String> {
        match self.entry(account)?.get_password() {
            Ok(secret) => Ok(Some(secret)),
            Err(Error::NoEntry) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Removes the entry; `false` when there was none.
    pub fn delete(&self, account: &str) -> Result<bool, String> {
        match self.entry(account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(Error::NoEntry) => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// An in-memory store (keyring-core's mock): nothing reaches the OS.
    pub fn mock() -> OsStore {
        let store = keyring_core::mock::Store::new().map_err(|e| e.to_string());
        OsStore::new("Mock Store", store.map(|s| s as Arc<CredentialStore>))
    }

    #[test]
    fn puts_gets_and_deletes_by_account() {
        let store = mock();
        let (a, b) = (new_account("corp", "app"), new_account("corp", "app"));
        assert_ne!(a, b, "each authorization gets its own entry");
        store.put(&a, "secret-a").unwrap();
        store.put(&b, "secret-b").unwrap();
        assert_eq!(store.get(&a).unwrap().as_deref(), Some("secret-a"));
        assert!(store.delete(&a).unwrap());
        assert_eq!(store.get(&a).unwrap(), None);
        assert!(!store.delete(&a).unwrap());
        assert_eq!(store.get(&b).unwrap().as_deref(), Some("secret-b"));
    }

    #[test]
    fn an_unavailable_store_says_why() {
        let store = OsStore::new("Test Store", Err("no keychain".into()));
        assert_eq!(store.put("x", "s").unwrap_err(), "no keychain");
        assert_eq!(store.get("x").unwrap_err(), "no keychain");
    }

    #[test]
    fn linux_builds_keep_tokens_in_the_database() {
        assert_eq!(
            platform().is_none(),
            cfg!(not(any(windows, target_os = "macos")))
        );
        assert_eq!(platform_name().is_none(), platform().is_none());
    }
}
