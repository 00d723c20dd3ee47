//! Stop requests: Ctrl-C (SIGINT), SIGTERM (schedulers and service managers)
//! and SIGHUP (a closed terminal) all stop a run the same way: exit 4, no
//! report, the job log closed, gzipped and ending in "interrupted". The
//! simulator stops cleanly on each too.
//!
//! Signals are sent with kill(1). On Windows the same path handles
//! Ctrl-C, Ctrl-Break and console close, which a test cannot send to a
//! child alone.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tbx::sim::Fault;

fn kill(signal: &str, pid: u32) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Starts a run, sends `signal` while it waits on the audit log, and checks
/// that it stopped as an interruption.
fn stop_mid_run(signal: &str) {
    let sim = start(team(10, 35));
    // The first events call is told to wait 30 s: the run is mid-flight.
    sim.inject(
        "team_log/get_events",
        1,
        Fault::RateLimited {
            retry_after: Some(30),
            text_body: false,
            write_operations: false,
        },
    );
    let home = tempfile::tempdir().unwrap();
    let start_time = z(anchor() - chrono::Duration::days(40));
    let child = Command::new(BIN)
        .args(status_args(&["-start-time", &start_time, "-quiet"]))
        .env("TOOLBOX_HOME", home.path())
        .env("TOOLBOX_DROPBOX_API_URL", &sim.base_url)
        .env("TOOLBOX_DROPBOX_TOKEN", &sim.token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if sim.calls("team_log/get_events") > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    kill(signal, child.id());
    let output = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped promptly"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "SIG{signal}: {stderr}");
    assert!(stderr.starts_with("Error: interrupted"), "{stderr}");
    let job = job_dir(home.path());
    assert_eq!(std::fs::read_dir(job.join("reports")).unwrap().count(), 0);
    assert!(!job.join("logs/toolbox.log").exists(), "gzipped");
    let log = read_log(&job, "toolbox.log");
    let last = log.lines().last().unwrap_or_default();
    assert!(last.contains("\"interrupted\""), "{log}");
    assert!(log.contains("\"step\":\"scan audit log\""), "{log}");
}

#[test]
fn ctrl_c_stops_the_run_with_exit_4_and_no_report() {
    stop_mid_run("INT");
}

#[test]
fn sigterm_stops_the_run_like_ctrl_c() {
    stop_mid_run("TERM");
}

#[test]
fn sighup_stops_the_run_like_ctrl_c() {
    stop_mid_run("HUP");
}

#[test]
fn the_simulator_stops_cleanly_on_sigterm() {
    let mut child = Command::new(BIN)
        .args(["dev", "simulate", "-members", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kept open until the end: the simulator's stdout stays writable.
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in stdout.by_ref() {
        if line.unwrap().starts_with("Press Ctrl-C") {
            break;
        }
    }
    kill("TERM", child.id());
    let output = child.wait_with_output().unwrap();
    drop(stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Simulator stopped."), "{stderr}");
}
