//! API faults the client must ride out (transient 5xx, 429, device listing
//! resets) and the ones it must fail on loudly, leaving no report that looks
//! complete.

mod common;

use std::collections::BTreeMap;

use chrono::Duration;
use common::*;
use tbx::sim::{Fault, FaultBody, SimTeam};

fn start_time() -> String {
    z(anchor() - Duration::days(40))
}

fn args(start: &str) -> Vec<&str> {
    status_args(&["-start-time", start, "-output", "none", "-concurrency", "1"])
}

/// Small event pages, so every listing has continuations to fault.
fn start_small_pages(team: SimTeam) -> tbx::sim::SimHandle {
    let config = tbx::sim::SimConfig {
        events_page_max: 20,
        ..tbx::sim::SimConfig::default()
    };
    tbx::sim::start_background(team, config).unwrap()
}

/// API calls per route of a fault-free run on the same team.
fn baseline_calls(team: &SimTeam) -> BTreeMap<String, u64> {
    let sim = start_small_pages(team.clone());
    let run = run(&sim, &args(&start_time()));
    assert_eq!(run.code(), 0, "{}", run.stderr());
    sim.call_counts()
}

#[test]
fn transient_server_errors_and_rate_limits_are_retried_to_the_same_report() {
    let team = team(120, 31);
    let expected = expected_rows(&team, utc(&start_time()), None);
    let baseline = baseline_calls(&team);
    assert!(
        baseline.contains_key("team_log/get_events/continue"),
        "{baseline:?}"
    );
    assert!(
        baseline.contains_key("team/members/list_v2"),
        "{baseline:?}"
    );
    let sim = start_small_pages(team);
    let faulted = [
        (
            "team_log/get_events",
            Fault::ServerError {
                status: 503,
                body: FaultBody::Html,
                retry_after: None,
            },
        ),
        (
            "team_log/get_events/continue",
            Fault::ServerError {
                status: 500,
                body: FaultBody::Empty,
                retry_after: None,
            },
        ),
        (
            "team/get_info",
            Fault::ServerError {
                status: 502,
                body: FaultBody::Text,
                retry_after: Some(1),
            },
        ),
        (
            "team/devices/list_members_devices",
            Fault::RateLimited {
                retry_after: Some(1),
                text_body: true,
                write_operations: false,
            },
        ),
        (
            "team/members/list_v2",
            Fault::RateLimited {
                retry_after: Some(1),
                text_body: false,
                write_operations: true,
            },
        ),
    ];
    for (route, fault) in &faulted {
        sim.inject(route, 1, fault.clone());
    }
    let run = run(&sim, &args(&start_time()));
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_reports_match(&run, &expected);
    let calls = sim.call_counts();
    for (route, _) in &faulted {
        assert_eq!(
            calls[*route],
            baseline[*route] + 1,
            "{route}: one retry per fault"
        );
    }
    let log = read_log(&job_dir(run.home.path()), "toolbox.log");
    assert!(log.contains("\"retry_in_ms\""), "retries are logged");
    assert!(
        log.contains("HTTP 503: <!DOCTYPE html>"),
        "HTML bodies are quoted by first line only"
    );
}

#[test]
fn a_device_listing_reset_restarts_the_listing() {
    let team = team(80, 32);
    let expected = expected_rows(&team, utc(&start_time()), None);
    let baseline = baseline_calls(&team);
    let pages = baseline["team/devices/list_members_devices"];
    assert!(pages >= 2, "the listing must have several pages");
    let sim = start_small_pages(team);
    sim.inject_after(
        "team/devices/list_members_devices",
        1,
        1,
        Fault::RouteError {
            tag: "reset".into(),
            value: None,
        },
    );
    let run = run(&sim, &args(&start_time()));
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_reports_match(&run, &expected);
    // One good page, the reset, then the whole listing again.
    assert_eq!(
        sim.calls("team/devices/list_members_devices"),
        1 + 1 + pages
    );
}

#[test]
fn a_route_error_fails_the_run_with_one_line_and_no_report_files() {
    let sim = start(team(20, 33));
    sim.inject(
        "team_log/get_events",
        1,
        Fault::RouteError {
            tag: "invalid_time_range".into(),
            value: None,
        },
    );
    let run = run(
        &sim,
        &status_args(&["-start-time", &start_time(), "-quiet", "-concurrency", "1"]),
    );
    assert_eq!(run.code(), 8, "{}", run.stderr());
    let stderr = run.stderr();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("Error: team_log/get_events: invalid_time_range"),
        "{stderr}"
    );
    assert!(stderr.contains("job log: "), "{stderr}");
    assert!(run.stdout().is_empty());
    assert!(
        run.report_names().is_empty(),
        "no report files: {:?}",
        run.report_names()
    );
    assert_eq!(sim.calls("team_log/get_events"), 1, "409 is not retried");
    let log = read_log(&job_dir(run.home.path()), "toolbox.log");
    assert!(log.lines().last().unwrap().contains("\"failed\""));
}

#[test]
fn an_expired_token_is_an_authorization_failure() {
    let sim = start(team(10, 34));
    sim.inject("team/get_info", 1, Fault::ExpiredToken);
    let run = run(
        &sim,
        &status_args(&["-start-time", &start_time(), "-quiet"]),
    );
    assert_eq!(run.code(), 11, "{}", run.stderr());
    assert!(run.stderr().contains("expired"));
    assert_eq!(sim.calls("team/get_info"), 1);
}

#[test]
fn every_fault_at_once_gives_the_fault_free_report() {
    // One request at a time, so which call meets which fault is the same on
    // every machine (the fault schedule counts calls).
    use tbx::sim::FaultSchedule;
    let team = team(200, 36);
    let start = anchor() - Duration::days(75);
    let expected = expected_rows(&team, start, None);
    let config = tbx::sim::SimConfig {
        token_max_calls: Some(6),
        empty_page_every: 3,
        events_page_max: 30,
        schedule: FaultSchedule {
            rate_limit_every: 11,
            fail_every: 7,
            drop_every: 13,
            reset_every: 10,
            disorder: true,
            latency_ms: 0,
            retry_after: 1,
        },
        ..tbx::sim::SimConfig::default()
    };
    let sim = tbx::sim::start_background(team, config).unwrap();
    let (_, refresh) = sim.grant(&tbx::sim::ALL_SCOPES, std::time::Duration::from_secs(3600));
    let run = run_with(
        None,
        &status_args(&[
            "-start-time",
            &z(start),
            "-output",
            "none",
            "-concurrency",
            "1",
        ]),
        &[
            ("TOOLBOX_DROPBOX_API_URL", &sim.base_url),
            ("TOOLBOX_DROPBOX_REFRESH_TOKEN", &refresh),
            ("TOOLBOX_DROPBOX_APP_KEY", sim.app_key()),
        ],
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_reports_match(&run, &expected);
    let log = read_log(&job_dir(run.home.path()), "toolbox.log");
    for sign in [
        "HTTP 429",
        "HTTP 503",
        "HTTP 500: <!DOCTYPE html>",
        "network error",
        "\"listing_restarts\":",
    ] {
        assert!(log.contains(sign), "the run should have met {sign}");
    }
    assert!(
        !log.contains("\"listing_restarts\":0"),
        "resets must have happened"
    );
    assert!(sim.expired_tokens() > 0, "tokens must have expired");
}
