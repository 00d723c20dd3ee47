//! Finding the credential for a run, in order: `TOOLBOX_DROPBOX_TOKEN`
//! (used as is), `TOOLBOX_DROPBOX_REFRESH_TOKEN` + `TOOLBOX_DROPBOX_APP_KEY`
//! (refreshed, never stored), the peer's stored authorization, and, at a
//! terminal, the code-paste flow: numbered steps and the authorize URL on
//! stderr, the code read from stdin, up to three attempts each with a fresh
//! PKCE verifier. Without a terminal it fails at once instead of waiting.
//! A new refresh token goes to the OS credential store when there is one
//! (`placement`), and a one-line notice says where it went. Every line a
//! person reads goes through the context's `LoginPrompt`.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};

use super::oauth::{Grant, OAuthApp, TokenFailure};
use super::os_store;
use super::placement;
use super::prompt::LoginPrompt;
use super::store::{PeerRecord, SecretsDb};
use super::tokens::{RefreshOwner, Refresher, TokenSource};
use super::{
    env_value, AccessToken, ApiBase, AuthError, RefreshToken, ENV_APP_KEY, ENV_REFRESH_TOKEN,
    ENV_TOKEN, SCOPES,
};

const MAX_CODE_ATTEMPTS: u32 = 3;

/// Everything a login needs to know about the run.
#[derive(Clone)]
pub struct LoginContext {
    pub peer: String,
    pub base: ApiBase,
    pub http: reqwest::Client,
    pub auth_db: PathBuf,
    /// `-secure`: never write the database.
    pub secure: bool,
    /// `-app-key` (from `tbx config auth add`).
    pub app_key: Option<String>,
    /// Shows the steps, asks for the code and says how it went.
    pub prompt: Arc<dyn LoginPrompt>,
}

/// When the code-paste flow may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    /// Only when stdin is a terminal.
    IfTerminal,
    /// Always (the user asked for it: `tbx config auth add`).
    Always,
    /// Never: stdin is not the user's (`tbx mcp serve` reads the protocol
    /// there), so a missing credential is an error, even at a terminal.
    Never,
}

impl LoginContext {
    fn app_key(&self) -> Option<String> {
        self.app_key.clone().or_else(|| env_value(ENV_APP_KEY))
    }

    /// `keep_access`: the database holds this peer's token, so it keeps
    /// refreshed access tokens too (never when the OS store holds it).
    fn refresher(
        &self,
        app: OAuthApp,
        refresh_token: RefreshToken,
        owner: RefreshOwner,
        keep_access: bool,
    ) -> Refresher {
        let on_refresh = match (&owner, self.secure || !keep_access) {
            (RefreshOwner::Peer(peer), false) => {
                let (path, peer, app_key) =
                    (self.auth_db.clone(), peer.clone(), app.app_key.clone());
                let persist: super::tokens::OnRefresh = Arc::new(move |grant: &Grant| {
                    // Best effort: a failed write only costs a refresh next run.
                    if let Ok(db) = SecretsDb::open(&path) {
                        let _ = db.update_access(
                            &app_key,
                            &peer,
                            grant.access_token.secret(),
                            grant.expires_at,
                        );
                    }
                });
                Some(persist)
            }
            _ => None,
        };
        Refresher {
            app,
            refresh_token,
            http: self.http.clone(),
            owner,
            on_refresh,
        }
    }
}

/// The token source for a run of a command.
pub async fn token_source(
    ctx: &LoginContext,
    interaction: Interaction,
) -> Result<TokenSource, AuthError> {
    if let Some(token) = env_value(ENV_TOKEN) {
        return Ok(TokenSource::fixed(AccessToken::new(token), &ctx.peer));
    }
    if let Some(refresh) = env_value(ENV_REFRESH_TOKEN) {
        let app_key = ctx
            .app_key()
            .ok_or_else(|| AuthError::NoAppKey(ctx.peer.clone()))?;
        let app = OAuthApp::new(&app_key, &ctx.base)?;
        let refresher = ctx.refresher(
            app,
            RefreshToken::new(refresh),
            RefreshOwner::Environment,
            false,
        );
        return Ok(TokenSource::refreshing(None, refresher, &ctx.peer));
    }
    if let Some(db) = SecretsDb::open_existing(&ctx.auth_db)? {
        if let Some(record) = db.find(&ctx.peer, ctx.app_key().as_deref())? {
            if let Some(source) = stored_source(ctx, record)? {
                return Ok(source);
            }
        }
    }
    let may_ask = match interaction {
        Interaction::Always => true,
        Interaction::IfTerminal => stdin_is_terminal(),
        Interaction::Never => false,
    };
    if may_ask {
        return authorize(ctx).await;
    }
    Err(AuthError::NoCredential(ctx.peer.clone()))
}

fn stdin_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
}

fn stored_source(ctx: &LoginContext, record: PeerRecord) -> Result<Option<TokenSource>, AuthError> {
    let app = OAuthApp::new(&record.app_key, &ctx.base)?;
    let in_database = record.keyring_account.is_none();
    let os = if in_database {
        None
    } else {
        os_store::platform()
    };
    let refresh = placement::refresh_token(&record, os.as_ref())?;
    let initial = record
        .access_token
        .map(|t| (AccessToken::new(t), record.expires_at));
    Ok(match refresh {
        Some(refresh) => {
            let refresher = ctx.refresher(
                app,
                refresh,
                RefreshOwner::Peer(ctx.peer.clone()),
                in_database,
            );
            Some(TokenSource::refreshing(initial, refresher, &ctx.peer))
        }
        None => initial.map(|(token, _)| TokenSource::fixed(token, &ctx.peer)),
    })
}

/// Runs the code-paste flow, stores the result (unless `-secure`) and
/// returns a source that refreshes it.
pub async fn authorize(ctx: &LoginContext) -> Result<TokenSource, AuthError> {
    let app_key = ctx
        .app_key()
        .or_else(|| stored_app_key(ctx))
        .ok_or_else(|| AuthError::NoAppKey(ctx.peer.clone()))?;
    let app = OAuthApp::new(&app_key, &ctx.base)?;
    let grant = code_paste(ctx, &app).await?;
    let team = team_of(ctx, &grant.access_token).await;
    let mut keep_access = false;
    let mut placed = None;
    if !ctx.secure {
        let now = Utc::now();
        let record = PeerRecord {
            app_key: app_key.clone(),
            peer: ctx.peer.clone(),
            refresh_token: grant.refresh_token.as_ref().map(|t| t.secret().to_string()),
            access_token: Some(grant.access_token.secret().to_string()),
            expires_at: grant.expires_at,
            scopes: grant.scopes.clone().unwrap_or_else(|| SCOPES.join(" ")),
            team_id: team.team_id.clone(),
            team_name: team.name.clone(),
            authorized_at: now,
            updated_at: now,
            keyring_account: None,
        };
        let db = SecretsDb::open(&ctx.auth_db)?;
        let place = placement::save(&db, &ctx.auth_db, os_store::platform().as_ref(), record)?;
        keep_access = place.in_database();
        placed = Some(place);
    }
    ctx.prompt
        .authorized(&ctx.peer, &team.name, placed.as_ref());
    let initial = Some((grant.access_token.clone(), grant.expires_at));
    Ok(match grant.refresh_token {
        Some(refresh) => {
            let refresher = ctx.refresher(
                app,
                refresh,
                RefreshOwner::Peer(ctx.peer.clone()),
                keep_access,
            );
            TokenSource::refreshing(initial, refresher, &ctx.peer)
        }
        None => TokenSource::fixed(grant.access_token, &ctx.peer),
    })
}

fn stored_app_key(ctx: &LoginContext) -> Option<String> {
    let db = SecretsDb::open_existing(&ctx.auth_db).ok()??;
    db.find(&ctx.peer, None).ok()?.map(|r| r.app_key)
}

async fn code_paste(ctx: &LoginContext, app: &OAuthApp) -> Result<Grant, AuthError> {
    let mut lines: Lines<BufReader<Stdin>> = BufReader::new(tokio::io::stdin()).lines();
    for attempt in 1..=MAX_CODE_ATTEMPTS {
        let authorization = app.start_authorization();
        ctx.prompt
            .show_steps(&ctx.peer, &authorization.url, attempt, MAX_CODE_ATTEMPTS);
        ctx.prompt.ask_code();
        let code = match lines.next_line().await {
            Ok(Some(line)) if !line.trim().is_empty() => line,
            _ => {
                ctx.prompt.no_code();
                return Err(AuthError::Cancelled);
            }
        };
        match app.exchange_code(&ctx.http, authorization, &code).await {
            Ok(grant) => return Ok(grant),
            Err(TokenFailure::InvalidGrant) => ctx.prompt.code_rejected(),
            Err(TokenFailure::Rejected(code)) => {
                return Err(AuthError::TokenEndpoint(format!(
                    "Dropbox refused the authorization ({code}); check the app key"
                )))
            }
            Err(TokenFailure::Unavailable(detail)) => return Err(AuthError::TokenEndpoint(detail)),
        }
    }
    Err(AuthError::CodeRejected(MAX_CODE_ATTEMPTS))
}

#[derive(Debug, Default, Deserialize)]
struct TeamName {
    #[serde(default)]
    name: String,
    #[serde(default)]
    team_id: String,
}

/// The team's name for the stored record; empty if it cannot be read.
async fn team_of(ctx: &LoginContext, token: &AccessToken) -> TeamName {
    let response = ctx
        .http
        .post(format!("{}/2/team/get_info", ctx.base.as_str()))
        .bearer_auth(token.secret())
        .send()
        .await;
    match response {
        Ok(r) if r.status().is_success() => r.json().await.unwrap_or_default(),
        _ => TeamName::default(),
    }
}
