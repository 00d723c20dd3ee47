//! `tbx config auth delete -peer NAME`: revokes the peer's tokens at
//! Dropbox (`/2/auth/token/revoke`) and removes them from both places they
//! may live: the OS credential store entry and the database row. Both go
//! even when the revoke fails; the message then says how to unlink the app
//! by hand.

use clap::Args;

use super::{auth_db_path, ConfigAuthError};
use crate::dropbox::auth::oauth::OAuthApp;
use crate::dropbox::auth::os_store::{self, OsStore};
use crate::dropbox::auth::placement;
use crate::dropbox::auth::store::{PeerRecord, SecretsDb};
use crate::dropbox::auth::{ApiBase, AuthError};
use crate::dropbox::error::first_line;
use crate::dropbox::transport::http_client;
use crate::options::{validate_peer, CommonArgs};
use crate::report::messages::Messages;

/// Revoke and remove a stored authorization
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// The peer to remove
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub peer: String,
    /// The app key, when the peer is stored for several apps
    #[arg(long, value_name = "KEY")]
    pub app_key: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub async fn exec(args: &DeleteArgs, base: ApiBase) -> Result<(), ConfigAuthError> {
    let common = args.common.validate().map_err(ConfigAuthError::Options)?;
    validate_peer(&args.peer).map_err(ConfigAuthError::Options)?;
    let path = auth_db_path(&common).map_err(ConfigAuthError::Auth)?;
    let not_found = || ConfigAuthError::Auth(AuthError::PeerNotFound(args.peer.clone()));
    let db = SecretsDb::open_existing(&path)
        .map_err(ConfigAuthError::Auth)?
        .ok_or_else(not_found)?;
    let record = db
        .find(&args.peer, args.app_key.as_deref())
        .map_err(ConfigAuthError::Auth)?
        .ok_or_else(not_found)?;
    let http = http_client(&base, common.proxy.as_deref())
        .map_err(|e| ConfigAuthError::Auth(AuthError::TokenEndpoint(e.to_string())))?;
    let os = record
        .keyring_account
        .as_ref()
        .and_then(|_| os_store::platform());
    let revoked = revoke(&http, &base, &record, os.as_ref()).await;
    let os_entry = placement::forget_os_entry(&record, os.as_ref());
    db.delete(&record.app_key, &record.peer)
        .map_err(ConfigAuthError::Auth)?;
    let text = Messages(common.lang);
    let os_store = match &os_entry {
        Some((store, Ok(_))) => Some(*store),
        _ => None,
    };
    eprintln!(
        "{}",
        text.auth_deleted(&record.peer, os_store, revoked.err().as_deref())
    );
    if let Some((store, Err(why))) = os_entry {
        eprintln!(
            "{}",
            text.auth_os_entry_left(
                store,
                &why,
                record.keyring_account.as_deref().unwrap_or_default()
            )
        );
    }
    Ok(())
}

/// Revokes with a fresh access token (refreshing a stale one first).
async fn revoke(
    http: &reqwest::Client,
    base: &ApiBase,
    record: &PeerRecord,
    os: Option<&OsStore>,
) -> Result<(), String> {
    let mut token = record.access_token.clone();
    let stale = record.expires_at.is_none_or(|t| t <= chrono::Utc::now());
    if stale || token.is_none() {
        let refresh = placement::refresh_token(record, os).map_err(|e| e.to_string())?;
        if let Some(refresh) = refresh {
            let app = OAuthApp::new(&record.app_key, base).map_err(|e| e.to_string())?;
            match app.refresh(http, &refresh).await {
                Ok(grant) => token = Some(grant.access_token.secret().to_string()),
                Err(e) => return Err(format!("refresh failed: {e:?}")),
            }
        }
    }
    let token = token.ok_or("no token stored")?;
    let response = http
        .post(format!("{}/2/auth/token/revoke", base.as_str()))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.bytes().await.unwrap_or_default();
    Err(format!("HTTP {}: {}", status.as_u16(), first_line(&body)))
}
