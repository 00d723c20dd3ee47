//! `tbx config auth add -peer NAME [-app-key KEY]`: authorizes a peer with
//! the code-paste flow and stores it, without running a report. It reads the
//! code from stdin even when stdin is not a terminal: asking is the point.

use clap::Args;

use super::{auth_db_path, ConfigAuthError};
use crate::dropbox::auth::login::{self, LoginContext};
use crate::dropbox::auth::{ApiBase, AuthError};
use crate::dropbox::transport::http_client;
use crate::options::{validate_peer, CommonArgs, OptionError};

/// Authorize a peer (a team admin's consent) and store it
#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// Name to store the authorization under
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub peer: String,
    /// App key of the team-scoped Dropbox app [default: $TOOLBOX_DROPBOX_APP_KEY, or the peer's stored app]
    #[arg(long, value_name = "KEY")]
    pub app_key: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub async fn exec(args: &AddArgs, base: ApiBase) -> Result<(), ConfigAuthError> {
    let common = args.common.validate().map_err(ConfigAuthError::Options)?;
    validate_peer(&args.peer).map_err(ConfigAuthError::Options)?;
    if common.secure {
        return Err(ConfigAuthError::Options(OptionError::Invalid {
            option: "secure",
            message: "`config auth add` stores an authorization; -secure would store nothing"
                .into(),
        }));
    }
    if let Some(key) = &args.app_key {
        if key.trim().is_empty()
            || key
                .chars()
                .any(|c| !c.is_ascii_alphanumeric() && c != '-' && c != '_')
        {
            return Err(ConfigAuthError::Options(OptionError::Invalid {
                option: "app-key",
                message: "expected the app key from the app's Settings page (letters and digits)"
                    .into(),
            }));
        }
    }
    let http = http_client(&base, common.proxy.as_deref())
        .map_err(|e| ConfigAuthError::Auth(AuthError::TokenEndpoint(e.to_string())))?;
    let ctx = LoginContext {
        peer: args.peer.clone(),
        base,
        http,
        auth_db: auth_db_path(&common).map_err(ConfigAuthError::Auth)?,
        secure: false,
        app_key: args.app_key.clone(),
        prompt: crate::report::login_prompt::stderr(common.lang),
    };
    login::authorize(&ctx)
        .await
        .map_err(ConfigAuthError::Auth)?;
    Ok(())
}
