//! `tbx dev simulate`: serves a simulated team on 127.0.0.1 until Ctrl-C,
//! so scripts can be tried before an admin account is at hand.

use std::path::PathBuf;

use chrono::{DurationRound, Utc};
use clap::Args;

use crate::sim::generate::{generate, GenSpec};
use crate::sim::{self, SimConfig, SimError, SimHandle, SimTeam};

/// Serve a simulated Dropbox team API on 127.0.0.1 until Ctrl-C
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Members of the generated team
    #[arg(long, value_name = "N", default_value_t = 40,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub members: u32,
    /// Seed of the generated team (same seed, same team)
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Port to listen on (0 picks a free one)
    #[arg(long, value_name = "P", default_value_t = 0)]
    pub port: u16,
    /// Serve the team in this JSON file instead of a generated one
    #[arg(long, value_name = "FILE")]
    pub team: Option<PathBuf>,
    /// Write the served team to this JSON file (to edit and load with -team)
    #[arg(long, value_name = "FILE")]
    pub save_team: Option<PathBuf>,
    /// Seconds an access token lives (expires_in)
    #[arg(long, value_name = "SECS", default_value_t = 14_400,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub token_lifetime: u64,
    /// An access token expires after this many API calls (to try refresh)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub token_max_calls: Option<u64>,
}

/// A generated team whose history ends at the current minute, so relative
/// periods like `-start-time -30d` find events.
pub fn generated_team(members: u32, seed: u64) -> SimTeam {
    let now = Utc::now();
    let anchor = now
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap_or(now);
    generate(&GenSpec::new(members as usize, seed, anchor))
}

pub fn team_summary(team: &SimTeam) -> String {
    let desktops: usize = team
        .devices
        .iter()
        .filter_map(|d| d.get("desktop_clients").and_then(|c| c.as_array()))
        .map(Vec::len)
        .sum();
    format!(
        "{}: {} members, {} linked desktop clients, {} audit log events",
        team.name,
        team.members.len(),
        desktops,
        team.events.len()
    )
}

pub async fn exec(args: &SimulateArgs) -> Result<SimHandle, SimError> {
    let team = match &args.team {
        Some(path) => SimTeam::load(path)?,
        None => generated_team(args.members, args.seed),
    };
    if let Some(path) = &args.save_team {
        team.save(path).map_err(|source| {
            SimError::Team(sim::team::TeamFileError::Read {
                path: path.display().to_string(),
                detail: source.to_string(),
            })
        })?;
    }
    let summary = team_summary(&team);
    let config = SimConfig {
        token_lifetime: std::time::Duration::from_secs(args.token_lifetime),
        token_max_calls: args.token_max_calls,
        ..SimConfig::default()
    };
    let handle = sim::start(team, config, args.port).await?;
    println!("Dropbox API simulator listening on {}", handle.base_url);
    println!("Team: {summary}");
    println!();
    println!("Try it (this token is the simulator's own, not a Dropbox secret):");
    println!("  export TOOLBOX_DROPBOX_API_URL={}", handle.base_url);
    println!("  export TOOLBOX_DROPBOX_TOKEN={}", handle.token);
    println!("  tbx dropbox team backup device status -start-time -30d");
    println!();
    println!("Or sign in as you would with a real team (the simulator approves at once):");
    println!("  export TOOLBOX_DROPBOX_API_URL={}", handle.base_url);
    println!("  tbx config auth add -app-key {}", handle.app_key());
    println!();
    println!("Press Ctrl-C to stop.");
    Ok(handle)
}
