//! Where the API lives and which credential to present. For now the
//! credential is an access token from `TOOLBOX_DROPBOX_TOKEN`; it is never
//! printed (its `Debug` is redacted) and never stored.

use std::fmt;

use thiserror::Error;

pub const DEFAULT_API_BASE: &str = "https://api.dropboxapi.com";
pub const ENV_API_URL: &str = "TOOLBOX_DROPBOX_API_URL";
pub const ENV_TOKEN: &str = "TOOLBOX_DROPBOX_TOKEN";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("{ENV_API_URL}: '{0}' is not a usable API base; expected https://host[:port], or http:// only for 127.0.0.1 or localhost")]
    BadApiBase(String),
    #[error("no Dropbox credential for peer '{0}': set {ENV_TOKEN} to a team access token (scopes events.read, members.read, sessions.list, team_info.read)")]
    NoCredential(String),
}

/// The API base URL, without a trailing slash. Plain http only on loopback,
/// so a typo cannot send a token over the network in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiBase {
    url: String,
    loopback: bool,
}

impl ApiBase {
    pub fn parse(input: &str) -> Result<Self, AuthError> {
        let bad = || AuthError::BadApiBase(input.to_string());
        let url = input.trim().trim_end_matches('/');
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') || rest.contains(['?', '#']) {
            return Err(bad());
        }
        let host = host_of(authority).ok_or_else(bad)?;
        let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
        match scheme.to_ascii_lowercase().as_str() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(bad()),
        }
        Ok(Self {
            url: url.to_string(),
            loopback,
        })
    }

    /// `TOOLBOX_DROPBOX_API_URL`, else the real API.
    pub fn from_env() -> Result<Self, AuthError> {
        match std::env::var(ENV_API_URL) {
            Ok(v) if !v.trim().is_empty() => Self::parse(&v),
            _ => Self::parse(DEFAULT_API_BASE),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    pub fn is_loopback(&self) -> bool {
        self.loopback
    }
}

fn host_of(authority: &str) -> Option<&str> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        return Some(&authority[..=end]);
    }
    let host = authority.split(':').next()?;
    (!host.is_empty()).then_some(host)
}

/// An access token. Holds the secret; shows `AccessToken(***)` when debugged.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn secret(&self) -> &str {
        &self.0
    }

    /// `TOOLBOX_DROPBOX_TOKEN`, for the given peer's run.
    pub fn from_env(peer: &str) -> Result<Self, AuthError> {
        match std::env::var(ENV_TOKEN) {
            Ok(v) if !v.trim().is_empty() => Ok(Self(v.trim().to_string())),
            _ => Err(AuthError::NoCredential(peer.to_string())),
        }
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_http_only_on_loopback() {
        assert!(ApiBase::parse("https://api.dropboxapi.com").is_ok());
        assert!(ApiBase::parse("https://example.com:8443/").is_ok());
        assert!(ApiBase::parse("http://127.0.0.1:8080")
            .unwrap()
            .is_loopback());
        assert!(ApiBase::parse("http://localhost:1234/").is_ok());
        assert!(ApiBase::parse("http://[::1]:9").is_ok());
        for bad in [
            "http://api.dropboxapi.com",
            "http://127.0.0.1.evil.com",
            "http://localhost@evil.com",
            "ftp://127.0.0.1",
            "api.dropboxapi.com",
            "https://",
            "https://host/?q=1",
        ] {
            assert!(ApiBase::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn trailing_slash_is_trimmed() {
        assert_eq!(
            ApiBase::parse("http://127.0.0.1:80/").unwrap().as_str(),
            "http://127.0.0.1:80"
        );
    }

    #[test]
    fn token_debug_is_redacted() {
        let t = AccessToken::new("sl.secret-value");
        assert_eq!(format!("{t:?}"), "AccessToken(***)");
    }
}
