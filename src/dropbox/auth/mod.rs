//! Where the API lives and which credential to present: access tokens from
//! the environment, refresh tokens (environment or the secrets database),
//! and the code-paste OAuth flow with PKCE. Secrets are wrapped in types
//! whose `Debug` is redacted; none is ever printed, logged or put in an
//! error message.

pub mod login;
pub mod oauth;
pub mod os_store;
pub mod placement;
pub mod prompt;
pub mod store;
pub mod tokens;

use std::fmt;

use thiserror::Error;

pub const DEFAULT_API_BASE: &str = "https://api.dropboxapi.com";
pub const ENV_API_URL: &str = "TOOLBOX_DROPBOX_API_URL";
pub const ENV_TOKEN: &str = "TOOLBOX_DROPBOX_TOKEN";
pub const ENV_REFRESH_TOKEN: &str = "TOOLBOX_DROPBOX_REFRESH_TOKEN";
pub const ENV_APP_KEY: &str = "TOOLBOX_DROPBOX_APP_KEY";
/// The scopes this tool asks for.
pub const SCOPES: [&str; 4] = [
    "events.read",
    "members.read",
    "sessions.list",
    "team_info.read",
];
pub const APPS_CONSOLE: &str = "https://www.dropbox.com/developers/apps";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("{ENV_API_URL}: '{0}' is not a usable API base; expected https://host[:port], or http:// only for 127.0.0.1 or localhost")]
    BadApiBase(String),
    #[error("no usable Dropbox credential for peer '{0}': set {ENV_TOKEN} (an access token), or {ENV_REFRESH_TOKEN} with {ENV_APP_KEY}, or run `tbx config auth add -peer {0}` at a terminal")]
    NoCredential(String),
    #[error("no Dropbox app key: register a team-scoped app at {APPS_CONSOLE} (Scoped access; permissions events.read, members.read, sessions.list, team_info.read), then set {ENV_APP_KEY}=<app key> or run `tbx config auth add -peer {0} -app-key <app key>`")]
    NoAppKey(String),
    #[error("authorization for peer {0} is no longer valid; run `tbx config auth add -peer {0}`")]
    NoLongerValid(String),
    #[error("the refresh token in {ENV_REFRESH_TOKEN} is no longer valid (revoked, or issued to another app than {ENV_APP_KEY}); authorize again and update it")]
    EnvRefreshInvalid,
    #[error("the authorization code was not accepted after {0} attempts; run the command again and paste the code Dropbox shows")]
    CodeRejected(u32),
    #[error("authorization cancelled: no code was entered")]
    Cancelled,
    #[error("the token endpoint failed: {0}")]
    TokenEndpoint(String),
    #[error("auth database {path}: {detail}")]
    Store { path: String, detail: String },
    #[error("no stored authorization for peer '{0}' (see `tbx config auth list`)")]
    PeerNotFound(String),
    #[error("the refresh token of peer '{peer}' is not in {store} any more (removed outside tbx?); run `tbx config auth add -peer {peer}` again")]
    KeyringMissing { peer: String, store: &'static str },
    #[error("cannot read the refresh token of peer '{peer}' from {store} ({detail}); unlock it and retry, or run `tbx config auth add -peer {peer}` again")]
    KeyringUnreadable {
        peer: String,
        store: &'static str,
        detail: String,
    },
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
}

/// A non-empty, trimmed environment variable.
pub fn env_value(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A refresh token. Holds the secret; shows `RefreshToken(***)` when debugged.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(***)")
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
        let r = RefreshToken::new("refresh-secret");
        assert_eq!(format!("{r:?}"), "RefreshToken(***)");
    }
}
