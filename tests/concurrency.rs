//! Parallel fetching: the audit log in windows and the device listing at the
//! same time, never more than `-concurrency` requests in flight, and the
//! same rows whatever the concurrency.

mod common;

use chrono::Duration;
use common::*;
use tbx::sim::{FaultSchedule, SimConfig};

#[test]
fn requests_run_in_parallel_up_to_the_limit_with_identical_rows() {
    let team = team(150, 81);
    let start = anchor() - Duration::days(80);
    let expected = expected_rows(&team, start, None);
    for concurrency in [1u64, 3, 6] {
        let config = SimConfig {
            events_page_max: 30,
            schedule: FaultSchedule {
                latency_ms: 15,
                ..FaultSchedule::default()
            },
            ..SimConfig::default()
        };
        let sim = tbx::sim::start_background(team.clone(), config).unwrap();
        let c = concurrency.to_string();
        let run = run(
            &sim,
            &status_args(&[
                "-start-time",
                &z(start),
                "-output",
                "none",
                "-concurrency",
                &c,
            ]),
        );
        assert_eq!(run.code(), 0, "{}", run.stderr());
        assert_reports_match(&run, &expected);
        let peak = sim.max_in_flight();
        assert!(
            peak <= concurrency,
            "concurrency {concurrency}: {peak} requests in flight"
        );
        if concurrency > 1 {
            assert!(
                peak >= 2,
                "concurrency {concurrency}: requests should overlap, peak {peak}"
            );
        }
    }
}

#[test]
fn a_dense_window_is_split_while_other_workers_are_idle() {
    // Half the period precedes the log's history: those windows finish at
    // once and their workers take halves of the dense ones.
    let team = team(120, 82);
    let start = anchor() - Duration::days(2 * tbx::sim::generate::HISTORY_DAYS);
    let expected = expected_rows(&team, start, None);
    let config = SimConfig {
        events_page_max: 10,
        ..SimConfig::default()
    };
    let sim = tbx::sim::start_background(team, config).unwrap();
    let run = run(
        &sim,
        &status_args(&[
            "-start-time",
            &z(start),
            "-output",
            "none",
            "-concurrency",
            "4",
        ]),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_reports_match(&run, &expected);
    let log = read_log(&job_dir(run.home.path()), "toolbox.log");
    let scanned = log
        .lines()
        .find(|l| l.contains("\"audit log scanned\""))
        .unwrap();
    let entry: serde_json::Value = serde_json::from_str(scanned).unwrap();
    assert!(entry["window_splits"].as_u64().unwrap() > 0, "{scanned}");
}
