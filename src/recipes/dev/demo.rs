//! `tbx dev demo`: runs the real status command against an in-process
//! simulated team, no Dropbox account needed, and writes real reports into
//! a fresh job folder.

use chrono::Utc;
use clap::Args;

use super::simulate::{generated_team, team_counts};
use crate::dropbox::auth::{AccessToken, ApiBase};
use crate::options::{CommonArgs, OptionError};
use crate::recipes::dropbox::team::backup::device::status::{
    self, ApiTarget, Credential, Failed, Finished, StatusArgs,
};
use crate::report::messages::Messages;
use crate::sim::{self, SimConfig, SimError};

/// Run the status command against a simulated team (no account needed)
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Members of the simulated team
    #[arg(long, value_name = "N", default_value_t = 40,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub members: u32,
    /// Seed of the simulated team
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Start of the period, as for the status command
    #[arg(
        long,
        value_name = "TIME",
        default_value = "-28d",
        allow_hyphen_values = true
    )]
    pub start_time: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug)]
pub enum DemoError {
    Options(OptionError),
    Simulator(SimError),
    Run(Failed),
}

pub async fn exec(args: &DemoArgs) -> Result<Finished, DemoError> {
    let now = Utc::now();
    let mut status_args = StatusArgs::parse_from([format!("--start-time={}", args.start_time)])
        .map_err(|e| {
            DemoError::Options(OptionError::Invalid {
                option: "start-time",
                message: e.kind().to_string(),
            })
        })?;
    status_args.common = args.common.clone();
    let options = status_args.validate(now).map_err(DemoError::Options)?;
    let team = generated_team(args.members, args.seed);
    let (name, counts) = (team.name.clone(), team_counts(&team));
    let handle = sim::start(team, SimConfig::default(), 0)
        .await
        .map_err(DemoError::Simulator)?;
    let target = ApiTarget {
        base: ApiBase::parse(&handle.base_url).map_err(|e| {
            DemoError::Simulator(SimError::Bind {
                port: 0,
                source: std::io::Error::other(e.to_string()),
            })
        })?,
        credential: Credential::Token(AccessToken::new(handle.token.clone())),
    };
    let header = Messages(options.common.lang)
        .demo_header(
            &name,
            counts.members,
            counts.desktops,
            counts.events,
            &handle.base_url,
        )
        .to_vec();
    let outcome = status::exec(&options, &target, header, now)
        .await
        .map_err(DemoError::Run)?;
    drop(handle);
    Ok(outcome)
}
