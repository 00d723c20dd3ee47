//! The access token every API call presents, and its renewal: ahead of
//! expiry (under five minutes left) and after a 401, with one refresh shared
//! by every concurrent caller (single flight: the refresh happens under a
//! lock, and callers that saw the same token generation reuse its result).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Mutex;

use super::oauth::{Grant, OAuthApp, TokenFailure};
use super::{AccessToken, AuthError, RefreshToken};

/// Refresh when less than this is left.
const REFRESH_AHEAD: Duration = Duration::minutes(5);

/// Whose refresh token this is, for the error when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOwner {
    Peer(String),
    Environment,
}

pub type OnRefresh = Arc<dyn Fn(&Grant) + Send + Sync>;

/// What happened after a rejected token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// This caller refreshed it.
    Refreshed,
    /// Another caller already had: just retry with the new token.
    ByAnother,
    /// Nothing to refresh with (a fixed token).
    Impossible,
}

pub struct Refresher {
    pub app: OAuthApp,
    pub refresh_token: RefreshToken,
    pub http: reqwest::Client,
    pub owner: RefreshOwner,
    /// Called after each refresh (the store persists the new token).
    pub on_refresh: Option<OnRefresh>,
}

struct TokenState {
    token: Option<AccessToken>,
    expires_at: Option<DateTime<Utc>>,
    generation: u64,
}

pub struct TokenSource {
    state: Mutex<TokenState>,
    refresher: Option<Refresher>,
    peer: String,
}

impl TokenSource {
    /// A token used as is (`TOOLBOX_DROPBOX_TOKEN`): never refreshed.
    pub fn fixed(token: AccessToken, peer: &str) -> Self {
        Self {
            state: Mutex::new(TokenState {
                token: Some(token),
                expires_at: None,
                generation: 0,
            }),
            refresher: None,
            peer: peer.to_string(),
        }
    }

    /// A token renewed with a refresh token; `initial` may be absent or
    /// stale, then the first call refreshes.
    pub fn refreshing(
        initial: Option<(AccessToken, Option<DateTime<Utc>>)>,
        refresher: Refresher,
        peer: &str,
    ) -> Self {
        let (token, expires_at) = match initial {
            Some((t, e)) => (Some(t), e),
            None => (None, None),
        };
        Self {
            state: Mutex::new(TokenState {
                token,
                expires_at,
                generation: 0,
            }),
            refresher: Some(refresher),
            peer: peer.to_string(),
        }
    }

    /// The token to present now, and its generation (pass it back to
    /// `refresh_after_rejection` if the API refuses it).
    pub async fn token(&self) -> Result<(AccessToken, u64), AuthError> {
        let mut state = self.state.lock().await;
        let stale = match (&state.token, state.expires_at) {
            (None, _) => true,
            (Some(_), Some(expires)) => expires - Utc::now() < REFRESH_AHEAD,
            (Some(_), None) => false,
        };
        if stale {
            match &self.refresher {
                Some(refresher) => self.refresh_locked(&mut state, refresher).await?,
                None if state.token.is_none() => {
                    return Err(AuthError::NoCredential(self.peer.clone()))
                }
                None => {}
            }
        }
        let token = state
            .token
            .clone()
            .ok_or_else(|| AuthError::NoCredential(self.peer.clone()))?;
        Ok((token, state.generation))
    }

    /// After a 401 on a token of `generation`: refreshes unless another
    /// caller already did.
    pub async fn refresh_after_rejection(&self, generation: u64) -> Result<Renewal, AuthError> {
        let Some(refresher) = &self.refresher else {
            return Ok(Renewal::Impossible);
        };
        let mut state = self.state.lock().await;
        if state.generation != generation {
            return Ok(Renewal::ByAnother);
        }
        self.refresh_locked(&mut state, refresher).await?;
        Ok(Renewal::Refreshed)
    }

    async fn refresh_locked(
        &self,
        state: &mut TokenState,
        refresher: &Refresher,
    ) -> Result<(), AuthError> {
        match refresher
            .app
            .refresh(&refresher.http, &refresher.refresh_token)
            .await
        {
            Ok(grant) => {
                state.token = Some(grant.access_token.clone());
                state.expires_at = grant.expires_at;
                state.generation += 1;
                if let Some(on_refresh) = &refresher.on_refresh {
                    on_refresh(&grant);
                }
                Ok(())
            }
            Err(TokenFailure::InvalidGrant) => Err(match &refresher.owner {
                RefreshOwner::Peer(peer) => AuthError::NoLongerValid(peer.clone()),
                RefreshOwner::Environment => AuthError::EnvRefreshInvalid,
            }),
            Err(TokenFailure::Rejected(code)) => Err(AuthError::TokenEndpoint(format!(
                "refresh refused ({code}); check the app key"
            ))),
            Err(TokenFailure::Unavailable(detail)) => Err(AuthError::TokenEndpoint(detail)),
        }
    }
}
