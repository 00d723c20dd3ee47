//! End to end: the real binary against the simulator over HTTP, every report
//! compared with an expectation computed independently from the team.

mod common;

use chrono::Duration;
use common::*;
use tbx::sim::generate::{boundary_marks, GenSpec, HOSTILE_HOST_NAMES};

#[test]
fn normal_period_matches_expectation_in_every_format() {
    let team = team(60, 7);
    let (start, end) = (anchor() - Duration::days(60), anchor() - Duration::days(10));
    let expected = expected_rows(&team, start, Some(end));
    assert!(
        tie_decided_sessions(&team, start, Some(end)) >= 1,
        "the period must hold same-second ties"
    );
    let sim = start_sim(team);
    let run = run(
        &sim,
        &status_args(&["-start-time", &z(start), "-end-time", &z(end)]),
    );
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    assert_eq!(
        run.report_names(),
        ["devices.csv", "devices.json", "devices.xlsx"]
    );
    assert_reports_match(&run, &expected);
    let statuses: Vec<&str> = expected
        .iter()
        .map(|r| r["latest_status"].as_str().unwrap())
        .collect();
    for status in ["enabled", "disabled", "no_status_update"] {
        assert!(
            statuses.contains(&status),
            "the period should show {status}"
        );
    }
}

fn start_sim(team: tbx::sim::SimTeam) -> tbx::sim::SimHandle {
    common::start(team)
}

#[test]
fn open_ended_period_runs_to_now() {
    let team = team(40, 11);
    let start = anchor() - Duration::days(45);
    let expected = expected_rows(&team, start, None);
    let sim = start_sim(team);
    let run = run(&sim, &status_args(&["--start-time", &z(start)]));
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    assert_reports_match(&run, &expected);
    let stdout = run.stdout();
    assert!(stdout.contains("to now"), "{stdout}");
}

#[test]
fn period_without_events_reports_every_device_as_no_status_update() {
    let team = team(30, 3);
    let (start, end) = (
        anchor() - Duration::days(400),
        anchor() - Duration::days(300),
    );
    let expected = expected_rows(&team, start, Some(end));
    assert!(expected
        .iter()
        .all(|r| r["latest_status"] == "no_status_update" && r["timestamp"] == ""));
    let sim = start_sim(team);
    let run = run(
        &sim,
        &status_args(&["-start-time", &z(start), "-end-time", &z(end)]),
    );
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    assert!(!expected.is_empty());
    assert_reports_match(&run, &expected);
}

#[test]
fn events_exactly_on_the_bounds_count_at_start_and_not_at_end() {
    let team = team(50, 5);
    let [start, end] = boundary_marks(anchor());
    let expected = expected_rows(&team, start, Some(end));
    // The generated team has changes exactly on both marks; the expectation
    // must show the one at the start and must not show the one at the end.
    let at_start = expected
        .iter()
        .filter(|r| r["timestamp"] == z(start).as_str())
        .count();
    assert!(
        at_start >= 1,
        "a change exactly at -start-time must be reported"
    );
    assert!(expected.iter().all(|r| r["timestamp"] != z(end).as_str()));
    let sim = start_sim(team);
    let run = run(
        &sim,
        &status_args(&["-start-time", &z(start), "-end-time", &z(end)]),
    );
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    assert_reports_match(&run, &expected);
}

#[test]
fn more_than_ten_thousand_devices_split_the_xlsx_into_chunks() {
    let mut spec = GenSpec::new(3_000, 21, anchor());
    spec.desktops = (4, 4);
    spec.noise_ratio = 0;
    let team = tbx::sim::generate::generate(&spec);
    let start = anchor() - Duration::days(30);
    let expected = expected_rows(&team, start, None);
    assert!(
        expected.len() > 10_000 && expected.len() <= 20_000,
        "{}",
        expected.len()
    );
    let sim = start_sim(team);
    let run = run(
        &sim,
        &status_args(&["-start-time", &z(start), "-output", "none"]),
    );
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    assert_eq!(
        run.report_names(),
        [
            "devices.csv",
            "devices.json",
            "devices_0000.xlsx",
            "devices_0001.xlsx"
        ]
    );
    assert_eq!(
        read_xlsx(&run.reports().join("devices_0000.xlsx")).len(),
        10_001
    );
    assert_reports_match(&run, &expected);
    assert!(run.stdout().is_empty(), "-output none prints nothing");
}

#[test]
fn hostile_host_names_survive_every_format_and_never_reach_the_terminal_raw() {
    let team = team(40, 9);
    let start = anchor() - Duration::days(80);
    let expected = expected_rows(&team, start, None);
    let hosts: Vec<&str> = expected
        .iter()
        .map(|r| r["session_info_host_name"].as_str().unwrap())
        .collect();
    for hostile in HOSTILE_HOST_NAMES {
        assert!(hosts.contains(&hostile), "generated team lacks {hostile:?}");
    }
    let sim = start_sim(team);
    let run = run(&sim, &status_args(&["-start-time", &z(start)]));
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    assert_reports_match(&run, &expected);
    let csv = std::fs::read_to_string(run.reports().join("devices.csv")).unwrap();
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click me\"\")\""));
    assert!(csv.contains("\"line one\nline two\""));
    assert!(csv.contains("Ordinateur-Élodie-日本語-💻"));
    let stdout = run.stdout();
    assert!(!stdout.contains('\u{1b}'), "no raw escape on the console");
    assert!(stdout.contains("␛[31mred-host"));
    assert!(stdout.contains("line one␊line two"));
}

#[test]
fn a_team_without_desktop_clients_still_gets_every_file() {
    let mut team = team(5, 1);
    for d in &mut team.devices {
        d["desktop_clients"] = serde_json::json!([]);
    }
    let sim = start_sim(team);
    let run = run(&sim, &status_args(&["-start-time", "2026-06-01T00:00:00Z"]));
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    assert_eq!(
        run.report_names(),
        ["devices.csv", "devices.json", "devices.xlsx"]
    );
    let dir = run.reports();
    assert_eq!(
        std::fs::read_to_string(dir.join("devices.json")).unwrap(),
        ""
    );
    assert_eq!(
        read_csv(&dir.join("devices.csv")),
        vec![VISIBLE.map(String::from).to_vec()]
    );
    assert_eq!(
        read_xlsx(&dir.join("devices.xlsx")),
        vec![VISIBLE.map(String::from).to_vec()]
    );
    assert!(run.stdout().contains("0 records"));
}

#[test]
fn quiet_prints_only_the_rows_as_json_lines() {
    let team = team(20, 4);
    let start = anchor() - Duration::days(20);
    let expected = expected_rows(&team, start, None);
    let sim = start_sim(team);
    let run = run(&sim, &status_args(&["-start-time", &z(start), "-quiet"]));
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    assert_eq!(read_json_lines(&run.stdout()), expected);
    assert_eq!(run.stderr(), "");
    let json = std::fs::read_to_string(run.reports().join("devices.json")).unwrap();
    assert_eq!(json, run.stdout());
}

#[test]
fn output_json_puts_rows_on_stdout_and_progress_on_stderr() {
    let team = team(20, 4);
    let start = anchor() - Duration::days(20);
    let expected = expected_rows(&team, start, None);
    let sim = start_sim(team);
    let run = run(
        &sim,
        &status_args(&["--start-time", &z(start), "--output", "json"]),
    );
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    assert_eq!(read_json_lines(&run.stdout()), expected);
    assert!(run.stderr().contains("Listing linked desktop clients"));
}

#[test]
fn text_output_ends_with_the_report_paths() {
    let team = team(20, 4);
    let sim = start_sim(team);
    let run = run(&sim, &status_args(&["-start-time=2026-06-01T00:00:00Z"]));
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    let stdout = run.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    let n = lines.len();
    let dir = run.reports();
    for (line, name) in lines[n - 3..]
        .iter()
        .zip(["devices.csv", "devices.json", "devices.xlsx"])
    {
        assert_eq!(
            *line,
            format!("The report generated: {}", dir.join(name).display())
        );
    }
    assert!(lines[n - 4].ends_with(" records"), "{}", lines[n - 4]);
    assert!(stdout.starts_with("tbx "), "{stdout}");
    assert!(stdout.contains("Team:   Example Corp (simulated)"));
}

#[test]
fn markdown_output_is_a_markdown_table() {
    let sim = start_sim(team(10, 2));
    let run = run(
        &sim,
        &status_args(&["-start-time", "2026-06-01T00:00:00Z", "-output", "markdown"]),
    );
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    assert!(run
        .stdout()
        .contains("| actor_user_email | actor_user_display_name |"));
    assert!(run.stdout().contains("|---|---|"));
}

#[test]
fn budget_memory_low_writes_only_json() {
    let sim = start_sim(team(10, 2));
    let run = run(
        &sim,
        &status_args(&[
            "-start-time",
            "2026-06-01T00:00:00Z",
            "-budget-memory",
            "low",
        ]),
    );
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    assert_eq!(run.report_names(), ["devices.json"]);
}

#[test]
fn owners_are_resolved_in_batches_never_one_call_per_member() {
    let team = team(250, 8);
    let sim = start_sim(team);
    let run = run(
        &sim,
        &status_args(&["-start-time", "2026-06-01T00:00:00Z", "-output", "none"]),
    );
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    let calls = sim.call_counts();
    let member_calls = calls.get("team/members/get_info_v2").copied().unwrap_or(0)
        + calls.get("team/members/list_v2").copied().unwrap_or(0)
        + calls
            .get("team/members/list/continue_v2")
            .copied()
            .unwrap_or(0);
    assert!(
        member_calls <= 3,
        "owner lookups took {member_calls} calls: {calls:?}"
    );
    assert_eq!(calls.get("team/get_info"), Some(&1));
}

// TZ picks the zone on Unix only; Windows reads it from the system settings.
#[cfg(unix)]
#[test]
fn local_dates_are_read_in_the_local_time_zone() {
    let sim = start_sim(team(10, 2));
    let run = run_with(
        Some(&sim),
        &status_args(&[
            "-start-time",
            "2026-06-01",
            "-end-time",
            "2026/06/15 12:00:00",
            "-output",
            "none",
        ]),
        &[("TZ", "Asia/Tokyo")],
    );
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    let log = read_log(&job_dir(run.home.path()), "toolbox.log");
    assert!(
        log.contains("\"start_time\":\"2026-05-31T15:00:00Z\""),
        "{log}"
    );
    assert!(
        log.contains("\"end_time\":\"2026-06-15T03:00:00Z\""),
        "{log}"
    );
}

#[test]
fn skip_logging_writes_no_log() {
    let sim = start_sim(team(10, 2));
    let run = run(
        &sim,
        &status_args(&[
            "-start-time",
            "2026-06-01T00:00:00Z",
            "-skip-logging",
            "-output",
            "none",
        ]),
    );
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    assert!(!job_dir(run.home.path()).join("logs").exists());
}

#[test]
fn workspace_overrides_toolbox_home() {
    let sim = start_sim(team(10, 2));
    let workspace = tempfile::tempdir().unwrap();
    let ws = workspace.path().to_str().unwrap();
    let run = run(
        &sim,
        &status_args(&[
            "-start-time",
            "2026-06-01T00:00:00Z",
            "-workspace",
            ws,
            "-output",
            "none",
        ]),
    );
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    assert!(job_dir(workspace.path())
        .join("reports/devices.json")
        .is_file());
    assert!(!run.home.path().join("jobs").exists());
}
