//! The command line as users and scripts meet it: help on every level,
//! one-line errors naming the option, tbx exit codes, nothing sent to the
//! network before the input is known good, and the dev commands.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;

fn assert_one_line_error(run: &Run, code: i32, needle: &str) {
    assert_eq!(
        run.code(),
        code,
        "stdout: {} stderr: {}",
        run.stdout(),
        run.stderr()
    );
    let stderr = run.stderr();
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr:?}");
    assert!(stderr.starts_with("Error: "), "{stderr}");
    assert!(
        stderr.contains(needle),
        "{stderr:?} should mention {needle:?}"
    );
}

#[test]
fn help_is_available_on_every_level() {
    for args in [
        vec!["-help"],
        vec!["dropbox", "--help"],
        vec!["dropbox", "team", "-help"],
        vec!["dropbox", "team", "backup", "--help"],
        vec!["dropbox", "team", "backup", "device", "-h"],
        vec!["dropbox", "team", "backup", "device", "status", "-help"],
        vec!["dev", "--help"],
        vec!["dev", "demo", "--help"],
        vec!["dev", "simulate", "--help"],
    ] {
        let run = run_with(None, &args, &[]);
        assert_eq!(run.code(), 0, "{args:?}: {}", run.stderr());
        assert!(run.stdout().contains("Usage:"), "{args:?}");
    }
    let run = run_with(None, &status_args(&["-help"]), &[]);
    for option in [
        "--start-time",
        "--end-time",
        "--peer",
        "--output-filter",
        "--budget-memory",
        "--workspace",
    ] {
        assert!(run.stdout().contains(option), "status help lacks {option}");
    }
}

#[test]
fn version_names_the_tool() {
    let run = run_with(None, &["version"], &[]);
    assert_eq!(run.code(), 0);
    assert!(run.stdout().starts_with("tbx 0."), "{}", run.stdout());
}

#[test]
fn bad_times_are_refused_before_any_call() {
    let sim = start(team(5, 1));
    for (args, needle) in [
        (
            vec!["-start-time", "yesterday"],
            "-start-time: cannot read 'yesterday'",
        ),
        (vec!["-start-time", "2024-13-01"], "-start-time"),
        (
            vec!["-start-time", "2024-01-01", "-end-time", "2023-01-01"],
            "-end-time",
        ),
        (
            vec!["-start-time", "2024-01-01", "-end-time", "nope"],
            "-end-time: cannot read 'nope'",
        ),
        (vec!["-start-time", "+3d"], "in the future"),
    ] {
        let run = run(&sim, &status_args(&args));
        assert_one_line_error(&run, 10, needle);
    }
    assert!(
        sim.call_counts().is_empty(),
        "no API call on bad input: {:?}",
        sim.call_counts()
    );
}

#[test]
fn missing_and_unknown_options_are_one_line_errors() {
    let run = run_with(None, &status_args(&["-peer", "x"]), &[]);
    assert_one_line_error(
        &run,
        10,
        "the following required arguments were not provided: --start-time",
    );
    let run = run_with(None, &status_args(&["-start-time", "-1d", "-bogus"]), &[]);
    assert_one_line_error(&run, 10, "-bogus");
    let run = run_with(
        None,
        &status_args(&["-start-time", "-1d", "-output", "yaml"]),
        &[],
    );
    assert_one_line_error(&run, 10, "yaml");
    let run = run_with(
        None,
        &status_args(&["-start-time", "-1d", "-concurrency", "0"]),
        &[],
    );
    assert_one_line_error(&run, 10, "0");
    let run = run_with(
        None,
        &status_args(&["-start-time", "-1d", "-proxy", "nope"]),
        &[],
    );
    assert_one_line_error(&run, 10, "-proxy: 'nope'");
    let run = run_with(
        None,
        &status_args(&["-start-time", "-1d", "-peer", "a/b"]),
        &[],
    );
    assert_one_line_error(&run, 10, "-peer: 'a/b'");
}

#[test]
fn a_command_without_its_required_options_is_a_usage_error_with_help_on_stderr() {
    let run = run_with(None, &status_args(&[]), &[]);
    assert_eq!(
        run.code(),
        10,
        "a scheduled job with a typo must not look successful"
    );
    assert_eq!(run.stdout(), "");
    let stderr = run.stderr();
    assert!(
        stderr.contains("Usage: tbx dropbox team backup device status"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().last(),
        Some("Error: the following required arguments were not provided: --start-time <TIME> (see -help)")
    );
    let run = run_with(None, &["completion"], &[]);
    assert_one_line_error(&run, 10, "not provided: <SHELL>");
    // A command group typed alone shows its commands, successfully, as tbx does.
    for group in [vec![], vec!["dropbox"], vec!["dropbox", "team", "backup"]] {
        let run = run_with(None, &group, &[]);
        assert_eq!(run.code(), 0, "{group:?}: {}", run.stderr());
        assert!(run.stderr().contains("Commands:"), "{group:?}");
    }
}

#[test]
fn unknown_commands_exit_with_the_invalid_command_code() {
    let run = run_with(None, &["dropbox", "team", "frobnicate"], &[]);
    assert_one_line_error(&run, 9, "frobnicate");
}

#[test]
fn common_options_accept_tbx_forms() {
    let sim = start(team(5, 1));
    let run = run(
        &sim,
        &status_args(&[
            "-start-time",
            "-30d",
            "-concurrency",
            "2",
            "-lang",
            "en",
            "-secure",
            "-debug=true",
            "-verbose=false",
            "-proxy",
            "DIRECT",
            "-budget-storage",
            "normal",
            "-retain-job-data",
            "default",
            "-output=none",
        ]),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
}

#[test]
fn verbose_shows_each_call_without_the_token() {
    let sim = start(team(5, 1));
    let run = run(
        &sim,
        &status_args(&["-start-time", "-30d", "-verbose", "-output", "none"]),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stderr = run.stderr();
    assert!(
        stderr.contains("[api] team_log/get_events -> 200"),
        "{stderr}"
    );
    assert!(!stderr.contains(&sim.token));
    let log = read_log(&job_dir(run.home.path()), "toolbox.log");
    assert!(
        !log.contains(&sim.token),
        "the job log must not hold the token"
    );
}

#[test]
fn no_credential_fails_fast_naming_the_variable() {
    let run = run_with(None, &status_args(&["-start-time", "-1d"]), &[]);
    assert_one_line_error(&run, 11, "TOOLBOX_DROPBOX_TOKEN");
}

#[test]
fn plain_http_is_refused_except_on_loopback() {
    let run = run_with(
        None,
        &status_args(&["-start-time", "-1d"]),
        &[
            ("TOOLBOX_DROPBOX_API_URL", "http://api.example.com"),
            ("TOOLBOX_DROPBOX_TOKEN", "t"),
        ],
    );
    assert_one_line_error(&run, 10, "TOOLBOX_DROPBOX_API_URL");
}

#[test]
fn a_revoked_or_unknown_token_is_an_auth_failure_without_the_token_in_the_message() {
    let sim = start(team(5, 1));
    let run = run_with(
        Some(&sim),
        &status_args(&["-start-time", "-1d"]),
        &[("TOOLBOX_DROPBOX_TOKEN", "sl.not-a-real-token-123")],
    );
    assert_one_line_error(&run, 11, "not valid");
    assert!(!run.stderr().contains("sl.not-a-real-token-123"));
    assert!(run.report_names().is_empty());
}

#[test]
fn a_missing_scope_is_named() {
    let sim = start(team(5, 1));
    let token = sim.issue_token(
        &["members.read", "team_info.read", "sessions.list"],
        std::time::Duration::from_secs(600),
    );
    let run = run_with(
        Some(&sim),
        &status_args(&["-start-time", "-1d"]),
        &[("TOOLBOX_DROPBOX_TOKEN", &token)],
    );
    assert_one_line_error(&run, 11, "events.read");
}

#[test]
fn demo_writes_real_reports_without_an_account() {
    let run = run_with(None, &["dev", "demo", "-members", "15"], &[]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(
        run.report_names(),
        ["devices.csv", "devices.json", "devices.xlsx"]
    );
    assert!(run.stdout().contains("The report generated: "));
    assert!(run.stderr().contains("Demo finished"));
    let json = std::fs::read_to_string(run.reports().join("devices.json")).unwrap();
    assert!(!read_json_lines(&json).is_empty());
}

#[test]
fn simulate_serves_until_stopped_and_the_command_works_against_it() {
    let team_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "dev",
            "simulate",
            "-members",
            "12",
            "-seed",
            "3",
            "-save-team",
        ])
        .arg(team_file.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut token) = (String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(v) = line.trim().strip_prefix("export TOOLBOX_DROPBOX_API_URL=") {
            url = v.to_string();
        }
        if let Some(v) = line.trim().strip_prefix("export TOOLBOX_DROPBOX_TOKEN=") {
            token = v.to_string();
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let run = run_with(
        None,
        &status_args(&["-start-time", "-30d", "-quiet"]),
        &[
            ("TOOLBOX_DROPBOX_API_URL", &url),
            ("TOOLBOX_DROPBOX_TOKEN", &token),
        ],
    );
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let saved = tbx::sim::SimTeam::load(team_file.path()).unwrap();
    assert_eq!(
        read_json_lines(&run.stdout()).len(),
        expected_rows(
            &saved,
            chrono::Utc::now() - chrono::Duration::days(30),
            None
        )
        .len()
    );
}

#[test]
fn version_reports_commit_date_and_target_for_scripts() {
    let run = run_with(None, &["version", "-output", "json"], &[]);
    assert_eq!(run.code(), 0);
    let facts: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(facts["version"], env!("CARGO_PKG_VERSION"));
    let date = facts["build_date"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(date).is_ok(), "{date}");
    assert!(facts["target"].as_str().unwrap().contains("-"));
    let commit = facts["commit"].as_str().unwrap();
    assert!(commit == "unknown" || commit.len() == 40, "{commit}");
}

#[test]
fn license_lists_the_compiled_in_packages_with_their_texts() {
    let run = run_with(None, &["license"], &[]);
    assert_eq!(run.code(), 0);
    let text = run.stdout();
    assert!(text.starts_with("tbx "), "{}", &text[..80]);
    for needle in [
        "licensed under the MIT license",
        "  tokio ",
        "  rusqlite ",
        "  rust_xlsxwriter ",
        "Shipped by: ",
        "Apache License",
    ] {
        assert!(text.contains(needle), "license output lacks {needle:?}");
    }
    assert!(!text.contains("  calamine "), "a dev-dependency is listed");
}

#[test]
fn no_escape_sequences_reach_a_console_that_did_not_ask_for_them() {
    // Off a terminal (and on a legacy Windows console) nothing may depend on
    // ANSI: no colours, no cursor moves, and a host name carrying an escape
    // sequence is shown escaped.
    let demo = run_with(None, &["dev", "demo"], &[]);
    assert_eq!(demo.code(), 0, "{}", demo.stderr());
    assert!(demo.stdout().contains("␛[31mred-host"), "{}", demo.stdout());
    let help = run_with(
        None,
        &["dropbox", "team", "backup", "device", "status", "-help"],
        &[],
    );
    let error = run_with(
        None,
        &["dropbox", "team", "backup", "device", "status"],
        &[],
    );
    for (what, text) in [
        ("demo stdout", demo.stdout()),
        ("demo stderr", demo.stderr()),
        ("help", help.stdout()),
        ("error", error.stderr()),
    ] {
        assert!(!text.contains('\u{1b}'), "{what} has an escape sequence");
    }
}

#[test]
fn dev_bench_measures_both_sides_and_prints_every_figure() {
    // The smallest team the bench takes, without latency: a smoke test of
    // the command the performance figures come from, not a measurement.
    let run = run_with(
        None,
        &[
            "dev",
            "bench",
            "-profile",
            "events",
            "-members",
            "12",
            "-latency-ms",
            "0",
            "-fold-events",
            "1000",
        ],
        &[],
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let out = run.stdout();
    for needle in [
        "tbx algorithm",
        "team/devices/list_members_devices",
        "identical",
        "device-list chain:",
        "decode (page and event to BackupChange):",
        "store insert (one batch):",
        "replay in time order (for_each_in):",
        "fold: 1000 changes",
        "start-up: tbx version in",
        "start-up: tbx --help in",
    ] {
        assert!(out.contains(needle), "{needle} missing from:\n{out}");
    }
}
