//! `tbx dev simulate`: serves a simulated team on 127.0.0.1 until Ctrl-C,
//! so scripts can be tried before an admin account is at hand.

use std::path::PathBuf;

use chrono::{DurationRound, Utc};
use clap::Args;

use crate::report::console::sanitize;
use crate::sim::generate::{generate, GenSpec};
use crate::sim::{
    self, FaultSchedule, LateSchedule, LiveChange, LiveSchedule, SimConfig, SimError, SimHandle,
    SimTeam,
};

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
    /// Desktop clients per member (default: 0 to 3, varying)
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=100))]
    pub desktops: Option<usize>,
    /// Backup status changes per computer with history (default: 1 to 4)
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1_000))]
    pub changes: Option<usize>,
    /// Unrelated log events per backup status change
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1_000))]
    pub noise_ratio: usize,
    /// Write the served team to this JSON file (to edit and load with -team)
    #[arg(long, value_name = "FILE")]
    pub save_team: Option<PathBuf>,
    /// Seconds an access token lives (expires_in)
    #[arg(long, value_name = "SECS", default_value_t = 14_400,
          value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub token_lifetime: u64,
    /// Fault: an access token expires after N API calls
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub expire_every: Option<u64>,
    /// Fault: every N-th API call gets 429 with Retry-After
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub rate_limit_every: u64,
    /// Fault: every N-th API call fails (503 plain text and 500 HTML, alternating)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fail_every: u64,
    /// Fault: every N-th API call has its connection closed mid-response
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub drop_every: u64,
    /// Fault: every N-th continuation (events, devices) is answered `reset`
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub reset_every: u64,
    /// Every N-th page of events is empty with has_more (0: never)
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub empty_every: u64,
    /// Serve each page of events newest first
    #[arg(long)]
    pub disorder: bool,
    /// Milliseconds of latency added to every API call
    #[arg(long, value_name = "MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub latency_ms: u64,
    /// Late events: every N-th team_log/get_events call first appends a backup
    /// status change stamped -late-hours ago (0: never)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub late_every: u64,
    /// Live: add a backup status change every SECONDS while serving (every
    /// 3rd stamped 1 to -late-hours hours ago), to watch alerts arrive
    #[arg(long, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub live: Option<u64>,
    /// How many hours in the past late events are stamped (with -live: at
    /// most, at random)
    #[arg(long, value_name = "H", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(0..=720))]
    pub late_hours: u64,
    /// Seconds in Retry-After for rate-limit faults
    #[arg(long, value_name = "SECS", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub retry_after: u64,
}

impl SimulateArgs {
    pub fn config(&self) -> SimConfig {
        SimConfig {
            token_lifetime: std::time::Duration::from_secs(self.token_lifetime),
            token_max_calls: self.expire_every,
            empty_page_every: self.empty_every,
            schedule: FaultSchedule {
                rate_limit_every: self.rate_limit_every,
                fail_every: self.fail_every,
                drop_every: self.drop_every,
                reset_every: self.reset_every,
                disorder: self.disorder,
                latency_ms: self.latency_ms,
                retry_after: self.retry_after,
            },
            late: LateSchedule {
                every: self.late_every,
                hours: self.late_hours,
            },
            ..SimConfig::default()
        }
    }

    /// The schedule of `-live`, if asked for.
    pub fn live_schedule(&self) -> Option<LiveSchedule> {
        self.live.map(|seconds| LiveSchedule {
            every: std::time::Duration::from_secs(seconds),
            late_every: LIVE_LATE_EVERY,
            late_hours: self.late_hours,
        })
    }
}

/// With `-live`, every this many changes one arrives late.
const LIVE_LATE_EVERY: u32 = 3;

/// The line `-live` prints for a change it added; the host name is the
/// team's, which may be hostile, so it is made harmless for a terminal.
pub fn live_line(change: &LiveChange) -> String {
    let mut line = format!(
        "{} added: {} ({}) {} -> {}, stamped {}",
        chrono::Local::now().format("%H:%M:%S"),
        change.session_id(),
        sanitize(change.host_name()),
        change.previous_value(),
        change.new_value(),
        change.timestamp(),
    );
    if change.late_hours > 0 {
        line.push_str(&format!(", late by {} h", change.late_hours));
    }
    line
}

fn print_live(change: &LiveChange) {
    use std::io::Write;
    // A closed stdout must not end the simulator (println! would panic).
    let _ = writeln!(std::io::stdout().lock(), "{}", live_line(change));
}

/// A generated team whose history ends at the current minute, so relative
/// periods like `-start-time -30d` find events.
pub fn generated_team(members: u32, seed: u64) -> SimTeam {
    generate(&spec_ending_now(members, seed))
}

fn spec_ending_now(members: u32, seed: u64) -> GenSpec {
    let now = Utc::now();
    let anchor = now
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap_or(now);
    GenSpec::new(members as usize, seed, anchor)
}

/// A simulated team in numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamCounts {
    pub members: usize,
    pub desktops: usize,
    pub events: usize,
}

pub fn team_counts(team: &SimTeam) -> TeamCounts {
    let desktops: usize = team
        .devices
        .iter()
        .filter_map(|d| d.get("desktop_clients").and_then(|c| c.as_array()))
        .map(Vec::len)
        .sum();
    TeamCounts {
        members: team.members.len(),
        desktops,
        events: team.events.len(),
    }
}

pub fn team_summary(team: &SimTeam) -> String {
    let TeamCounts {
        members,
        desktops,
        events,
    } = team_counts(team);
    format!(
        "{}: {members} members, {desktops} linked desktop clients, {events} audit log events",
        team.name
    )
}

pub async fn exec(args: &SimulateArgs) -> Result<SimHandle, SimError> {
    let team = match &args.team {
        Some(path) => SimTeam::load(path)?,
        None => {
            let mut spec = spec_ending_now(args.members, args.seed);
            if let Some(n) = args.desktops {
                spec.desktops = (n, n);
            }
            if let Some(n) = args.changes {
                spec.changes = (n, n);
            }
            spec.noise_ratio = args.noise_ratio;
            generate(&spec)
        }
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
    let handle = sim::start(team, args.config(), args.port).await?;
    println!("Dropbox API simulator listening on {}", handle.base_url);
    println!("Team: {summary}");
    if args.late_every > 0 {
        println!(
            "Late events: a backup status change stamped {} h ago arrives before every {} event listing(s)",
            args.late_hours, args.late_every
        );
    }
    if let Some(schedule) = args.live_schedule() {
        println!("{}", live_banner(&schedule));
        handle.start_live_reporting(schedule, print_live);
    }
    println!();
    println!("Try it (this token is the simulator's own, not a Dropbox secret):");
    println!("  export TOOLBOX_DROPBOX_API_URL={}", handle.base_url);
    println!("  export TOOLBOX_DROPBOX_TOKEN={}", handle.token);
    println!("  tbx dropbox team backup device status -start-time -30d");
    if args.live.is_some() {
        println!("  tbx dropbox team backup device watch -interval 5s -alert-on any -since -1d");
    }
    println!();
    println!("Or sign in as you would with a real team (the simulator approves at once):");
    println!("  export TOOLBOX_DROPBOX_API_URL={}", handle.base_url);
    println!("  tbx config auth add -app-key {}", handle.app_key());
    println!();
    println!("Press Ctrl-C to stop.");
    Ok(handle)
}

fn live_banner(schedule: &LiveSchedule) -> String {
    let late = if schedule.late_hours == 0 || schedule.late_every == 0 {
        "all stamped when they arrive".to_string()
    } else {
        format!(
            "one in {} stamped 1 to {} h in the past, arriving late",
            schedule.late_every, schedule.late_hours
        )
    };
    format!(
        "Live: a backup status change every {} s ({late}); each is printed below",
        schedule.every.as_secs()
    )
}
