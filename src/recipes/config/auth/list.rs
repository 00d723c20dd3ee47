//! `tbx config auth list`: the stored peers, their team, scopes, token
//! times and where each refresh token lives (the OS credential store or
//! this database). Never a token.

use chrono::{DateTime, Local, Utc};
use clap::Args;
use serde_json::json;

use super::{auth_db_path, ConfigAuthError};
use crate::dropbox::auth::os_store;
use crate::dropbox::auth::store::{PeerRecord, SecretsDb};
use crate::options::CommonArgs;
use crate::report::console::{sanitize, OutputMode};

/// List stored authorizations (no tokens are shown)
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

fn local(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    })
    .unwrap_or_else(|| "-".into())
}

/// Where the record's refresh token lives: a name for people and a key
/// for machines (`os_store`, `database`, `none`).
fn token_place(r: &PeerRecord) -> (&'static str, &'static str) {
    match (&r.keyring_account, &r.refresh_token) {
        (Some(_), _) => (
            os_store::platform_name().unwrap_or("an OS credential store (not in this build)"),
            "os_store",
        ),
        (None, Some(_)) => ("this database", "database"),
        (None, None) => ("none", "none"),
    }
}

pub fn exec(args: &ListArgs) -> Result<(), ConfigAuthError> {
    let common = args.common.validate().map_err(ConfigAuthError::Options)?;
    let path = auth_db_path(&common).map_err(ConfigAuthError::Auth)?;
    let records = match SecretsDb::open_existing(&path).map_err(ConfigAuthError::Auth)? {
        Some(db) => db.list().map_err(ConfigAuthError::Auth)?,
        None => Vec::new(),
    };
    let json_out = common.quiet || common.output == OutputMode::Json;
    if json_out {
        for r in &records {
            println!(
                "{}",
                json!({"peer": r.peer, "app_key": r.app_key, "team_name": r.team_name, "team_id": r.team_id,
                       "scopes": r.scopes, "authorized_at": r.authorized_at.to_rfc3339(),
                       "access_token_expires_at": r.expires_at.map(|t| t.to_rfc3339()),
                       "refresh_token_in": token_place(r).1})
            );
        }
        return Ok(());
    }
    if common.output == OutputMode::None {
        return Ok(());
    }
    if records.is_empty() {
        println!("No stored authorizations in {}.", path.display());
        println!("Add one with: tbx config auth add -peer default -app-key <app key>");
        return Ok(());
    }
    println!("Stored authorizations in {}:", path.display());
    println!();
    for r in &records {
        println!("peer {}", sanitize(&r.peer));
        for (label, value) in [
            (
                "team",
                format!("{} ({})", sanitize(&r.team_name), sanitize(&r.team_id)),
            ),
            ("app key", sanitize(&r.app_key)),
            ("scopes", sanitize(&r.scopes)),
            ("authorized", local(Some(r.authorized_at))),
            ("access token expires", local(r.expires_at)),
            ("refresh token in", token_place(r).0.to_string()),
        ] {
            println!("  {label:<22}{value}");
        }
    }
    Ok(())
}
