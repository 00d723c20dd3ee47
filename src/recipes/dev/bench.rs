//! `tbx dev bench`: the real command against the watermint toolbox's
//! algorithm (the baseline), in one process, on the same simulated team
//! with the same latency, printing API calls by route, wall time, events per
//! second, peak memory and the ratios; then the fold alone on one core.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DurationRound, Utc};
use clap::Args;

use super::baseline;
use crate::domain::fold::{StatusChange, StatusFold};
use crate::domain::period::{format_dropbox_time, Period};
use crate::domain::row::Layout;
use crate::domain::status::BackupStatus;
use crate::dropbox::auth::tokens::TokenSource;
use crate::dropbox::auth::{AccessToken, ApiBase};
use crate::dropbox::devices::ROUTE as DEVICES_ROUTE;
use crate::dropbox::{Transport, TransportConfig};
use crate::options::{CommonArgs, Output};
use crate::recipes::dropbox::team::backup::device::status::{
    self, ApiTarget, Credential, StatusArgs,
};
use crate::sim::generate::{generate, GenSpec, HISTORY_DAYS};
use crate::sim::{self, FaultSchedule, SimConfig, SimHandle, SimTeam};

/// The team and server a bench run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchProfile {
    /// 1,500 members, about 100,000 events in the `devices` category
    /// (5,000 of them backup status changes), 100 members a device page
    Default,
    /// 2,000 members, about 100,000 backup status changes and nothing
    /// else, 50 members a device page
    Events,
}

impl BenchProfile {
    fn members(self) -> u32 {
        match self {
            BenchProfile::Default => 1500,
            BenchProfile::Events => 2000,
        }
    }

    /// The `devices` category's size; `None`: backup status changes only.
    fn events(self) -> Option<u64> {
        match self {
            BenchProfile::Default => Some(100_000),
            BenchProfile::Events => None,
        }
    }

    /// Backup status changes per session with history.
    fn changes(self) -> (usize, usize) {
        match self {
            BenchProfile::Default => (1, 4),
            BenchProfile::Events => (30, 50),
        }
    }

    fn devices_page_members(self) -> usize {
        match self {
            BenchProfile::Default => 100,
            BenchProfile::Events => 50,
        }
    }
}

/// Measure the command against the tbx algorithm on a simulated team
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// The bench team and server
    #[arg(long, value_enum, default_value_t = BenchProfile::Default)]
    pub profile: BenchProfile,
    /// Members of the bench team [default: the profile's]
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(10..=200_000))]
    pub members: Option<u32>,
    /// Events in the `devices` category of the log, roughly [default: the profile's]
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=20_000_000))]
    pub events: Option<u64>,
    /// Latency of every API call, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub latency_ms: u64,
    /// Seed of the bench team
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Fold events on one core (no API) for the fold's own speed
    #[arg(long, value_name = "N", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(0..=50_000_000))]
    pub fold_events: u64,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl BenchArgs {
    fn members(&self) -> u32 {
        self.members.unwrap_or(self.profile.members())
    }

    fn events(&self) -> Option<u64> {
        self.events.or(self.profile.events())
    }
}

#[derive(Debug, Default)]
struct Measure {
    calls: BTreeMap<String, u64>,
    wall: Duration,
    rows: Vec<String>,
    events: u64,
    rss_before_kb: Option<u64>,
    rss_peak_kb: Option<u64>,
}

impl Measure {
    fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }
}

fn proc_status_kb(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak-RSS mark (Linux), so each phase reports its own peak.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn calls_since(sim: &SimHandle, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    sim.call_counts()
        .into_iter()
        .map(|(route, n)| {
            let prior = before.get(&route).copied().unwrap_or(0);
            (route, n - prior)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn devices_events(team: &SimTeam) -> u64 {
    team.events
        .iter()
        .filter(|e| e["event_category"][".tag"] == "devices")
        .count() as u64
}

/// A team whose `devices` category holds about `events` events: a first
/// guess at the noise, then one correction from what it gave.
fn bench_team(args: &BenchArgs, anchor: chrono::DateTime<Utc>) -> SimTeam {
    let mut spec = GenSpec::new(args.members() as usize, args.seed, anchor);
    spec.changes = args.profile.changes();
    spec.noise_ratio = 0;
    let team = generate(&spec);
    let Some(wanted) = args.events() else {
        return team;
    };
    let backup = devices_events(&team).max(1);
    let wanted_noise = wanted.saturating_sub(backup);
    spec.noise_ratio = (wanted_noise * 2).div_ceil(backup) as usize;
    let team = generate(&spec);
    let got_noise = devices_events(&team).saturating_sub(backup);
    if got_noise == 0 || wanted_noise == 0 {
        return team;
    }
    spec.noise_ratio = ((spec.noise_ratio as u64 * wanted_noise).div_ceil(got_noise)) as usize;
    generate(&spec)
}

pub async fn exec(args: &BenchArgs) -> Result<(), String> {
    let now = Utc::now();
    let anchor = now
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap_or(now);
    eprintln!("Generating the bench team...");
    let team = bench_team(args, anchor);
    let devices_events = devices_events(&team);
    let backup_events = team
        .events
        .iter()
        .filter(|e| e["event_type"][".tag"] == "device_sync_backup_status_changed")
        .count();
    let config = SimConfig {
        events_page_max: 1000,
        devices_page_members: args.profile.devices_page_members(),
        schedule: FaultSchedule {
            latency_ms: args.latency_ms,
            ..FaultSchedule::default()
        },
        ..SimConfig::default()
    };
    let desktops: usize = team
        .devices
        .iter()
        .filter_map(|d| d["desktop_clients"].as_array())
        .map(Vec::len)
        .sum();
    eprintln!("Timing decode, store and replay per event...");
    let micro = super::micro::measure(&team.events)?;
    let sim = sim::start(team, config, 0)
        .await
        .map_err(|e| e.to_string())?;
    let period = Period {
        start: anchor - chrono::Duration::days(HISTORY_DAYS),
        end: Some(anchor),
    };
    let concurrency = args.common.concurrency.unwrap_or(8) as usize;
    println!(
        "Bench team: {} members, {desktops} linked desktop clients, {devices_events} events in the devices \
         category ({backup_events} backup status changes) over {HISTORY_DAYS} days; {} ms per call; concurrency {concurrency}",
        args.members(), args.latency_ms
    );

    eprintln!("Running the tbx algorithm (baseline)...");
    let base = run_baseline(&sim, &period).await?;
    eprintln!("Running tbx-rs...");
    let ours = run_ours(&sim, &period, args, concurrency).await?;
    print_comparison(&base, &ours);
    print_device_chain(&ours, args.latency_ms);
    println!();
    println!("{micro}");
    print_fold_speed(args.fold_events);
    print_startup();
    if base.rows != ours.rows {
        return Err("the rows differ between the baseline and tbx-rs".into());
    }
    Ok(())
}

async fn run_baseline(sim: &SimHandle, period: &Period) -> Result<Measure, String> {
    let base = ApiBase::parse(&sim.base_url).map_err(|e| e.to_string())?;
    let tokens = std::sync::Arc::new(TokenSource::fixed(
        AccessToken::new(sim.token.clone()),
        "bench",
    ));
    let mut config = TransportConfig::new(base, tokens);
    config.max_in_flight = 1;
    let transport = Transport::new(config).map_err(|e| e.to_string())?;
    let before = sim.call_counts();
    let rss_before_kb = proc_status_kb("VmRSS:");
    reset_peak_rss();
    let started = Instant::now();
    let result = baseline::run(&transport, period)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Measure {
        wall: started.elapsed(),
        calls: calls_since(sim, &before),
        rows: result
            .rows
            .iter()
            .map(|r| crate::report::json::row_json(r, Layout::default()))
            .collect(),
        events: result.events_read,
        rss_before_kb,
        rss_peak_kb: proc_status_kb("VmHWM:"),
    })
}

async fn run_ours(
    sim: &SimHandle,
    period: &Period,
    args: &BenchArgs,
    concurrency: usize,
) -> Result<Measure, String> {
    let workspace = super::micro::TempDir::new("bench")?;
    let mut common = args.common.clone();
    common.output = Output::None;
    common.quiet = true;
    common.concurrency = Some(concurrency as u32);
    if common.workspace.is_none() {
        common.workspace = Some(workspace.path().to_path_buf());
    }
    let now = Utc::now();
    let mut status_args = StatusArgs::parse_from([
        format!("--start-time={}", format_dropbox_time(period.start)),
        format!(
            "--end-time={}",
            period.end.map(format_dropbox_time).unwrap_or_default()
        ),
        "--no-cache".to_string(),
    ])
    .map_err(|e| e.to_string())?;
    status_args.common = common;
    let options = status_args.validate(now).map_err(|e| e.to_string())?;
    let target = ApiTarget {
        base: ApiBase::parse(&sim.base_url).map_err(|e| e.to_string())?,
        credential: Credential::Token(AccessToken::new(sim.token.clone())),
    };
    let before = sim.call_counts();
    let rss_before_kb = proc_status_kb("VmRSS:");
    reset_peak_rss();
    let started = Instant::now();
    let outcome = status::exec(&options, &target, Vec::new(), now)
        .await
        .map_err(|f| f.error.to_string())?;
    let wall = started.elapsed();
    let rss_peak_kb = proc_status_kb("VmHWM:");
    let json = outcome
        .reports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .map(std::fs::read_to_string)
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let calls = calls_since(sim, &before);
    Ok(Measure {
        wall,
        calls,
        rows: json.lines().map(str::to_string).collect(),
        events: 0,
        rss_before_kb,
        rss_peak_kb,
    })
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or("n/a".into(), |kb| format!("{:.1} MB", kb as f64 / 1024.0))
}

fn growth(m: &Measure) -> String {
    match (m.rss_peak_kb, m.rss_before_kb) {
        (Some(peak), Some(before)) => {
            format!("+{:.1} MB", peak.saturating_sub(before) as f64 / 1024.0)
        }
        _ => "n/a".into(),
    }
}

fn print_comparison(base: &Measure, ours: &Measure) {
    let routes: std::collections::BTreeSet<&String> =
        base.calls.keys().chain(ours.calls.keys()).collect();
    println!();
    println!(
        "{:<40} {:>16} {:>16} {:>14}",
        "", "tbx algorithm", "tbx-rs", "ratio"
    );
    println!(
        "{:<40} {:>16} {:>16} {:>13.1}x",
        "API calls",
        base.total_calls(),
        ours.total_calls(),
        base.total_calls() as f64 / ours.total_calls().max(1) as f64
    );
    for route in routes {
        println!(
            "{:<40} {:>16} {:>16}",
            format!("  {route}"),
            base.calls.get(route).copied().unwrap_or(0),
            ours.calls.get(route).copied().unwrap_or(0)
        );
    }
    println!(
        "{:<40} {:>14.2} s {:>14.2} s {:>13.1}x",
        "wall time",
        base.wall.as_secs_f64(),
        ours.wall.as_secs_f64(),
        base.wall.as_secs_f64() / ours.wall.as_secs_f64().max(1e-9)
    );
    let per_second = |events: u64, wall: Duration| events as f64 / wall.as_secs_f64().max(1e-9);
    println!(
        "{:<40} {:>16.0} {:>16.0}",
        "log events covered per second",
        per_second(base.events, base.wall),
        per_second(base.events, ours.wall)
    );
    println!(
        "{:<40} {:>16} {:>16}",
        "peak RSS (process, with the simulator)",
        mb(base.rss_peak_kb),
        mb(ours.rss_peak_kb)
    );
    println!(
        "{:<40} {:>16} {:>16}",
        "  growth during the run",
        growth(base),
        growth(ours)
    );
    let same = if base.rows == ours.rows {
        "identical"
    } else {
        "DIFFERENT"
    };
    println!(
        "{:<40} {:>16} {:>16} {:>14}",
        "rows",
        base.rows.len(),
        ours.rows.len(),
        same
    );
}

/// The floor of any run: the device listing is one cursor chain, so the
/// run cannot end before its calls, one after the other, have come back.
fn print_device_chain(ours: &Measure, latency_ms: u64) {
    let calls = ours.calls.get(DEVICES_ROUTE).copied().unwrap_or(0);
    let chain = Duration::from_millis(latency_ms * calls);
    println!();
    if chain.is_zero() {
        println!("device-list chain: {calls} calls, no latency: no floor to compare with");
        return;
    }
    println!(
        "device-list chain: {calls} calls x {latency_ms} ms = {:.2} s; tbx-rs wall / chain = {:.2}x",
        chain.as_secs_f64(),
        ours.wall.as_secs_f64() / chain.as_secs_f64()
    );
}

/// Start-up of this binary: `tbx version` and `tbx --help`, median of 21.
fn print_startup() {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    println!();
    for args in [&["version"][..], &["--help"][..]] {
        let mut times = Vec::new();
        for _ in 0..21 {
            let started = Instant::now();
            let ran = std::process::Command::new(&exe)
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            if !ran.is_ok_and(|s| s.success()) {
                return;
            }
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "start-up: tbx {} in {:.1} ms (median of 21, slowest {:.1} ms)",
            args.join(" "),
            times[10].as_secs_f64() * 1e3,
            times[20].as_secs_f64() * 1e3
        );
    }
}

/// The fold alone: `n` changes over 100,000 sessions, on one core.
fn print_fold_speed(n: u64) {
    if n == 0 {
        return;
    }
    let sessions: Vec<String> = (0..100_000).map(|i| format!("dbdsid:AA{i:040}")).collect();
    let start = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    let changes: Vec<StatusChange> = (0..n)
        .map(|i| StatusChange {
            session_id: Some(sessions[(i % 100_000) as usize].clone()),
            timestamp: start + chrono::Duration::seconds((i * 7919 % 7_776_000) as i64),
            new_status: if i % 3 == 0 {
                BackupStatus::Disabled
            } else {
                BackupStatus::Enabled
            },
            fingerprint: i,
        })
        .collect();
    let started = Instant::now();
    let mut fold = StatusFold::new();
    for change in changes {
        fold.push(change);
    }
    let elapsed = started.elapsed();
    println!();
    println!(
        "fold: {n} changes into {} sessions in {:.3} s = {:.2} M changes/s on one core",
        fold.sessions(),
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64().max(1e-9) / 1e6
    );
}
