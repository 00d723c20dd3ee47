//! What every recipe that calls the API does around its work: where the API
//! is and which credential to present, the job folder's lifecycle (its log
//! options, what is kept after success or failure), and the transport whose
//! every call lands in the job log (and on stderr with `-verbose`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use thiserror::Error;

use crate::dropbox::auth::login::{self, Interaction, LoginContext};
use crate::dropbox::auth::tokens::TokenSource;
use crate::dropbox::auth::{store, AccessToken, ApiBase, AuthError};
use crate::dropbox::bandwidth::Bandwidth;
use crate::dropbox::transport::{http_client, CallRecord};
use crate::dropbox::{ApiError, Transport, TransportConfig};
use crate::job::{Job, JobError, JobLog, Level, LogOptions};
use crate::ops::device_status::OpsError;
use crate::options::{CommonOptions, RetainJobData};
use crate::report::console::Console;
use crate::report::ReportError;
use crate::store::StoreError;

/// Where the API is and what to present to it.
#[derive(Debug, Clone)]
pub struct ApiTarget {
    pub base: ApiBase,
    pub credential: Credential,
}

#[derive(Debug, Clone)]
pub enum Credential {
    /// A token handed over by the caller (the demo's simulator token).
    Token(AccessToken),
    /// Find the peer's credential: environment, auth database, or login.
    Login,
}

#[derive(Debug, Error)]
pub enum RecipeError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The notifier could not be set up (`watch`).
    #[error("{0}")]
    Notify(String),
    /// Another process holds what this one needs (`watch`'s checkpoint).
    #[error("{0}")]
    Conflict(String),
    /// stdout could not take the output (`watch`).
    #[error("{0}")]
    Output(String),
    /// The MCP server could not start or serve (`mcp serve`).
    #[error("{0}")]
    Mcp(String),
}

impl From<OpsError> for RecipeError {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::Api(e) => RecipeError::Api(e),
            OpsError::Store(e) => RecipeError::Store(e),
        }
    }
}

/// A failed run, with the job log that tells where it stopped.
#[derive(Debug)]
pub struct Failed {
    pub error: RecipeError,
    pub job_log: Option<JobLog>,
}

/// A run that failed before its job folder was opened: no log to name.
pub fn before_job(error: impl Into<RecipeError>) -> Failed {
    Failed {
        error: error.into(),
        job_log: None,
    }
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Finished {
    pub job_dir: PathBuf,
    pub reports: Vec<PathBuf>,
    pub rows: usize,
}

/// The credential for `peer`: the caller's token, or found (or asked for,
/// at a terminal) by the login flow.
pub async fn token_source(
    peer: &str,
    common: &CommonOptions,
    target: &ApiTarget,
    home: &Path,
) -> Result<TokenSource, RecipeError> {
    token_source_with(peer, common, target, home, Interaction::IfTerminal).await
}

/// `token_source`, saying when the login flow may ask the user
/// (`Interaction::Never` for a server whose stdin is a protocol).
pub async fn token_source_with(
    peer: &str,
    common: &CommonOptions,
    target: &ApiTarget,
    home: &Path,
    interaction: Interaction,
) -> Result<TokenSource, RecipeError> {
    match &target.credential {
        Credential::Token(token) => Ok(TokenSource::fixed(token.clone(), peer)),
        Credential::Login => {
            let ctx = LoginContext {
                peer: peer.to_string(),
                base: target.base.clone(),
                http: http_client(&target.base, common.proxy.as_deref())?,
                auth_db: common
                    .auth_database
                    .clone()
                    .unwrap_or_else(|| store::default_path(home)),
                secure: common.secure,
                app_key: None,
                prompt: crate::report::login_prompt::stderr(common.lang),
            };
            Ok(login::token_source(&ctx, interaction).await?)
        }
    }
}

/// Closes the job log, keeps or removes the job folder as the policy says.
// `Failed` is what `exec` returns anyway; it is built once per run.
#[allow(clippy::result_large_err)]
pub fn finish(
    job: &Job,
    console: &Console,
    retain: RetainJobData,
    result: Result<Finished, RecipeError>,
) -> Result<Finished, Failed> {
    let keep = keep_job(retain, result.is_ok());
    match &result {
        Ok(finished) => job.log(Level::Info, "finished", json!({"rows": finished.rows})),
        Err(error) => job.log(Level::Error, "failed", json!({"error": error.to_string()})),
    }
    job.end();
    let job_log = if keep { job.job_log() } else { None };
    if let (Ok(_), Some(log @ (JobLog::Incomplete { .. } | JobLog::Lost { .. }))) =
        (&result, &job_log)
    {
        // The reports are whole (a full disk let them in); the log is not.
        console.warn(&log.to_string());
    }
    if !keep {
        // The policy asked for it; a folder that will not go is only noise.
        let _ = job.remove();
    }
    result.map_err(|error| Failed { error, job_log })
}

/// With `-budget-storage low` the job log stops at a megabyte.
const LOW_STORAGE_LOG_BYTES: u64 = 1024 * 1024;

pub fn log_options(common: &CommonOptions) -> LogOptions {
    LogOptions {
        write_log: common.write_log,
        debug: common.debug,
        capture: !common.storage_low,
        max_log_bytes: common.storage_low.then_some(LOW_STORAGE_LOG_BYTES),
        rotate: None,
    }
}

/// Whether the job folder stays after a run that succeeded or failed.
pub fn keep_job(retain: RetainJobData, succeeded: bool) -> bool {
    match retain {
        RetainJobData::Default => true,
        RetainJobData::OnError => !succeeded,
        RetainJobData::None => false,
    }
}

pub fn transport_for(
    target: &ApiTarget,
    tokens: Arc<TokenSource>,
    common: &CommonOptions,
    job: &Arc<Job>,
) -> Result<Transport, ApiError> {
    let mut config = TransportConfig::new(target.base.clone(), tokens);
    config.proxy = common.proxy.clone();
    config.max_in_flight = common.concurrency;
    config.bandwidth = common.bandwidth_kb.map(|kb| Arc::new(Bandwidth::new(kb)));
    let job = Arc::clone(job);
    let verbose = common.verbose;
    config.observer = Some(Arc::new(move |call: &CallRecord| {
        log_call(&job, verbose, call);
    }));
    Transport::new(config)
}

fn log_call(job: &Job, verbose: bool, call: &CallRecord) {
    let mut fields = json!({
        "route": call.route,
        "attempt": call.attempt,
        "status": call.status,
        "ms": call.elapsed.as_millis() as u64,
        "response_bytes": call.response_bytes,
        "request_id": call.request_id,
        "retry_in_ms": call.retry_in.map(|d| d.as_millis() as u64),
    });
    let mut captured = fields.clone();
    captured["request"] = call
        .request
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    job.capture(captured);
    fields["note"] = json!(call.note);
    if let Some(warning) = &call.warning {
        fields["warning"] = json!(warning);
    }
    let level = if call.retry_in.is_some() || call.warning.is_some() {
        Level::Warn
    } else {
        Level::Debug
    };
    job.log(level, "api call", fields);
    if verbose {
        eprintln!("{}", verbose_line(call));
    }
}

/// `-verbose`: one line per API call.
fn verbose_line(call: &CallRecord) -> String {
    let status = call
        .status
        .map_or("network error".to_string(), |s| s.to_string());
    let retry = call
        .retry_in
        .map(|d| format!(", retrying in {:.1} s", d.as_secs_f64()))
        .unwrap_or_default();
    let note = call
        .note
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    format!(
        "[api] {} -> {status} in {} ms (attempt {}){retry}{note}",
        call.route,
        call.elapsed.as_millis(),
        call.attempt
    )
}
