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
use crate::report::messages::{Messages, TokenPlace};
use unicode_width::UnicodeWidthStr;

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
fn token_place(r: &PeerRecord, text: Messages) -> (&'static str, &'static str) {
    match (&r.keyring_account, &r.refresh_token) {
        (Some(_), _) => (
            os_store::platform_name()
                .unwrap_or_else(|| text.auth_list_place(TokenPlace::UnknownOsStore)),
            "os_store",
        ),
        (None, Some(_)) => (text.auth_list_place(TokenPlace::Database), "database"),
        (None, None) => (text.auth_list_place(TokenPlace::Nowhere), "none"),
    }
}

pub fn exec(args: &ListArgs) -> Result<(), ConfigAuthError> {
    let common = args.common.validate().map_err(ConfigAuthError::Options)?;
    let path = auth_db_path(&common).map_err(ConfigAuthError::Auth)?;
    let records = match SecretsDb::open_existing(&path).map_err(ConfigAuthError::Auth)? {
        Some(db) => db.list().map_err(ConfigAuthError::Auth)?,
        None => Vec::new(),
    };
    let text = Messages(common.lang);
    let json_out = common.quiet || common.output == OutputMode::Json;
    if json_out {
        for r in &records {
            println!(
                "{}",
                json!({"peer": r.peer, "app_key": r.app_key, "team_name": r.team_name, "team_id": r.team_id,
                       "scopes": r.scopes, "authorized_at": r.authorized_at.to_rfc3339(),
                       "access_token_expires_at": r.expires_at.map(|t| t.to_rfc3339()),
                       "refresh_token_in": token_place(r, text).1})
            );
        }
        return Ok(());
    }
    if common.output == OutputMode::None {
        return Ok(());
    }
    if records.is_empty() {
        for line in text.auth_list_empty(&path) {
            println!("{line}");
        }
        return Ok(());
    }
    println!("{}", text.auth_list_heading(&path));
    println!();
    let labels = text.auth_list_labels();
    // Two spaces after the widest label, counted in terminal columns.
    let column = labels.iter().map(|l| l.width()).max().unwrap_or(0) + 2;
    for r in &records {
        println!("{}", text.auth_list_peer(&sanitize(&r.peer)));
        let values = [
            format!("{} ({})", sanitize(&r.team_name), sanitize(&r.team_id)),
            sanitize(&r.app_key),
            sanitize(&r.scopes),
            local(Some(r.authorized_at)),
            local(r.expires_at),
            token_place(r, text).0.to_string(),
        ];
        for (label, value) in labels.iter().zip(values) {
            let pad = " ".repeat(column.saturating_sub(label.width()));
            println!("  {label}{pad}{value}");
        }
    }
    Ok(())
}
