//! `tbx mcp serve`: the team's backup status for AI assistants, as a Model
//! Context Protocol server on stdio (the transport desktop clients launch).
//! stdout carries protocol frames only; a few lines go to stderr (the
//! client's log) and everything to the server's job log: its start, every
//! tool call and outcome, every API call. The server never asks for a
//! credential: a call without one is a tool error saying what to run, and
//! the next call looks again. It serves until the client closes stdin (or
//! Ctrl-C, SIGTERM); a call in flight then is cancelled, as one the client
//! cancels. A client gone before initializing is a clean end too.
//!
//! Jobs: one for the server (its log, rotated like a watch's, lives as long
//! as it does) and one per `backup_device_status` call for its reports, so
//! two calls never write over each other's `devices.csv` and the folder a
//! result names holds that call's reports.

use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use rmcp::service::ServerInitializeError;
use rmcp::ServiceExt;
use serde_json::json;

use super::calls::Session;
use super::tools::Tools;
use crate::dropbox::auth::{AccessToken, ApiBase};
use crate::job::{resolve_home, Job, Level, Rotation};
use crate::options::{CommonOptions, Lang, OptionError};
use crate::recipes::dev::simulate::{generated_team, team_counts};
use crate::recipes::dropbox::team::backup::device::status::StatusArgs;
use crate::recipes::session::{
    before_job, finish, log_options, ApiTarget, Credential, Failed, Finished, RecipeError,
};
use crate::report::console::{Console, OutputMode};
use crate::report::messages::Messages;
use crate::sim::{self, SimConfig, SimHandle};

/// The server's job log is rotated at this size, this many kept.
const LOG_ROTATION: Rotation = Rotation {
    max_bytes: 10 * 1024 * 1024,
    keep: 7,
};

/// Members of the `-simulate` team (as `tbx dev demo`'s default).
const SIMULATED_MEMBERS: u32 = 40;

/// Serve the team's backup status to AI assistants (Model Context Protocol over stdio)
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Account alias
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub peer: String,
    /// Workspace path (home of jobs, event stores and secrets)
    #[arg(long, value_name = "PATH")]
    pub workspace: Option<PathBuf>,
    /// Custom path to the auth database (default: $HOME/.toolbox/secrets/secrets.db)
    #[arg(long, value_name = "PATH")]
    pub auth_database: Option<PathBuf>,
    /// Maximum requests in flight to the API, for all calls together [default: number of processors]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: Option<u32>,
    /// Language of the reports' messages (auto follows LC_ALL / LANG, then the Windows locale)
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
    /// Serve a simulated team instead (no Dropbox account needed), as `tbx dev demo` does
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub simulate: bool,
}

/// Validated: every tool call adds `base_args` to its own.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub peer: String,
    pub base_args: Vec<OsString>,
    pub common: CommonOptions,
    pub simulate: bool,
}

impl ServeArgs {
    /// Checks the options as the status command would (the calls are read
    /// as its options, with these appended).
    pub fn validate(&self, now: DateTime<Utc>) -> Result<ServeOptions, OptionError> {
        let option = |name: &str, value: &std::ffi::OsStr| {
            let mut arg = OsString::from(format!("--{name}="));
            arg.push(value);
            arg
        };
        let mut base_args = vec![option("peer", self.peer.as_ref())];
        if let Some(path) = &self.workspace {
            base_args.push(option("workspace", path.as_os_str()));
        }
        if let Some(path) = &self.auth_database {
            base_args.push(option("auth-database", path.as_os_str()));
        }
        if let Some(n) = self.concurrency {
            base_args.push(option("concurrency", n.to_string().as_ref()));
        }
        if let Some(lang) = self.lang.to_possible_value() {
            base_args.push(option("lang", lang.get_name().as_ref()));
        }
        let probe = std::iter::once(OsString::from("--start-time=-1d")).chain(base_args.clone());
        let options = StatusArgs::parse_from(probe)
            .map_err(|e| OptionError::Invalid {
                option: "mcp serve",
                message: e.kind().to_string(),
            })?
            .validate(now)?;
        Ok(ServeOptions {
            peer: self.peer.clone(),
            base_args,
            common: options.common,
            simulate: self.simulate,
        })
    }
}

/// The `-simulate` team, served for as long as the server runs; its event
/// store lives in a scratch folder, as each start generates the team anew
/// (ending now) and a kept store would mix two generations.
struct Simulated {
    handle: SimHandle,
    store_home: PathBuf,
}

impl Drop for Simulated {
    fn drop(&mut self) {
        // A scratch folder that will not go is only litter in the temp dir.
        let _ = std::fs::remove_dir_all(&self.store_home);
    }
}

async fn simulate() -> Result<(Simulated, String), RecipeError> {
    let team = generated_team(SIMULATED_MEMBERS, 1);
    let (name, counts) = (team.name.clone(), team_counts(&team));
    let handle = sim::start(team, SimConfig::default(), 0)
        .await
        .map_err(|e| RecipeError::Mcp(e.to_string()))?;
    let store_home = std::env::temp_dir().join(format!("tbx-mcp-simulate-{}", std::process::id()));
    let note = format!(
        "serving a simulated team, no Dropbox account used: {name} ({} members, {} computers, {} events)",
        counts.members, counts.desktops, counts.events
    );
    Ok((Simulated { handle, store_home }, note))
}

/// Serves until the client closes stdin or `stop` resolves.
pub async fn exec(
    options: &ServeOptions,
    stop: impl Future<Output = ()>,
) -> Result<Finished, Failed> {
    let common = &options.common;
    let home = resolve_home(common.workspace.as_deref()).map_err(before_job)?;
    let simulated = if options.simulate {
        Some(simulate().await.map_err(before_job)?)
    } else {
        None
    };
    let target = match &simulated {
        Some((sim, _)) => ApiTarget {
            base: ApiBase::parse(&sim.handle.base_url).map_err(before_job)?,
            credential: Credential::Token(AccessToken::new(sim.handle.token.clone())),
        },
        None => ApiTarget {
            base: ApiBase::from_env().map_err(before_job)?,
            credential: Credential::Login,
        },
    };
    let store_home = simulated
        .as_ref()
        .map_or_else(|| home.clone(), |(sim, _)| sim.store_home.clone());
    let mut log = log_options(common);
    log.rotate = Some(LOG_ROTATION);
    let job = Arc::new(Job::create(&home, log).map_err(before_job)?);
    job.log(
        Level::Info,
        "start",
        json!({
            "command": "mcp serve",
            "version": env!("CARGO_PKG_VERSION"),
            "peer": options.peer,
            "api": target.base.as_str(),
            "simulate": options.simulate,
            "tools": Tools::definitions().iter().map(|t| t.name.to_string()).collect::<Vec<_>>(),
        }),
    );
    eprintln!(
        "tbx mcp serve: {} tools on stdio; job log in {}",
        Tools::definitions().len(),
        job.dir.display()
    );
    if let Some((_, note)) = &simulated {
        eprintln!("tbx mcp serve: {note}");
    }
    let session = Arc::new(Session::new(
        options.peer.clone(),
        options.base_args.clone(),
        common.clone(),
        target,
        home,
        store_home,
        Arc::clone(&job),
    ));
    let result = serve(Tools::new(Arc::clone(&session)), stop).await;
    job.log(Level::Info, "stopped", json!({"calls": session.calls()}));
    drop(simulated);
    let console = Console::new(OutputMode::None, true, common.layout, Messages(common.lang));
    // A server has no rows: its calls are in the `stopped` line above.
    let result = result.map(|()| Finished {
        job_dir: job.dir.clone(),
        reports: Vec::new(),
        rows: 0,
    });
    finish(&job, &console, common.retain, result)
}

/// The protocol on stdio, until the client goes or `stop` resolves.
async fn serve(tools: Tools, stop: impl Future<Output = ()>) -> Result<(), RecipeError> {
    tokio::pin!(stop);
    // A stop request may come before the client has initialized.
    let running = tokio::select! {
        running = tools.serve(rmcp::transport::stdio_pipes()) => match running {
            Ok(running) => running,
            // The client went before initializing (a probe, a client that
            // changed its mind): nothing was asked, nothing failed.
            Err(ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
            Err(e) => {
                return Err(RecipeError::Mcp(format!("the MCP session did not start: {e}")))
            }
        },
        () = &mut stop => return Ok(()),
    };
    let cancel = running.cancellation_token();
    let waiting = running.waiting();
    tokio::pin!(waiting);
    tokio::select! {
        quit = &mut waiting => {
            quit.map_err(|e| RecipeError::Mcp(format!("the MCP session failed: {e}")))?;
        }
        () = &mut stop => {
            cancel.cancel();
            let _ = waiting.await;
        }
    }
    Ok(())
}
