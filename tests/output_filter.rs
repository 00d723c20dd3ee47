//! `-output-filter`: jq applied to each row of the JSON output (stdout and
//! devices.json), never to CSV, XLSX or the table; compiled before any call.

mod common;

use chrono::Duration;
use common::*;

fn setup() -> (
    tbx::sim::SimHandle,
    Vec<serde_json::Map<String, serde_json::Value>>,
    String,
) {
    let team = team(40, 71);
    let start = anchor() - Duration::days(60);
    let expected = expected_rows(&team, start, None);
    (start_sim(team), expected, z(start))
}

fn start_sim(team: tbx::sim::SimTeam) -> tbx::sim::SimHandle {
    common::start(team)
}

/// The command with `-quiet` and `filter`, from `start`.
fn run_quiet_filter(sim: &tbx::sim::SimHandle, start: &str, filter: &str) -> Run {
    run(
        sim,
        &status_args(&["-start-time", start, "-quiet", "-output-filter", filter]),
    )
}

#[test]
fn select_and_project_prints_raw_strings_and_filters_devices_json_only() {
    let (sim, expected, start) = setup();
    let filter = r#"select(.latest_status == "disabled") | .actor_user_email"#;
    let run = run_quiet_filter(&sim, &start, filter);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let want: Vec<String> = expected
        .iter()
        .filter(|r| r["latest_status"] == "disabled")
        .map(|r| r["actor_user_email"].as_str().unwrap().to_string())
        .collect();
    assert!(!want.is_empty());
    let got: Vec<String> = run.stdout().lines().map(str::to_string).collect();
    assert_eq!(got, want);
    let json = std::fs::read_to_string(run.reports().join("devices.json")).unwrap();
    assert_eq!(json, run.stdout(), "devices.json is filtered as in tbx");
    let csv = read_csv(&run.reports().join("devices.csv"));
    assert_eq!(csv.len(), expected.len() + 1, "CSV stays unfiltered");
}

#[test]
fn identity_empty_and_object_construction() {
    let (sim, expected, start) = setup();
    let run_filter = |f: &str| {
        run(
            &sim,
            &status_args(&[
                "-start-time",
                &start,
                "-output",
                "json",
                "-output-filter",
                f,
            ]),
        )
    };

    let identity = run_filter(".");
    assert_eq!(read_json_lines(&identity.stdout()), expected);

    let empty = run_filter("empty");
    assert_eq!(empty.code(), 0);
    assert_eq!(empty.stdout(), "");
    assert_eq!(
        std::fs::read_to_string(empty.reports().join("devices.json")).unwrap(),
        ""
    );

    let objects = run_filter("{host: .session_info_host_name, status: .latest_status}");
    let lines: Vec<serde_json::Value> = objects
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), expected.len());
    assert_eq!(
        lines[0],
        serde_json::json!({"host": expected[0]["session_info_host_name"], "status": expected[0]["latest_status"]})
    );
    assert!(
        objects.stdout().lines().all(|l| !l.contains(": ")),
        "compact JSON"
    );
}

#[test]
fn a_runtime_error_names_the_row_and_fails_the_run_without_reports() {
    let (sim, expected, start) = setup();
    let run = run_quiet_filter(&sim, &start, ".timestamp + 1");
    assert_eq!(run.code(), 8, "{}", run.stderr());
    let stderr = run.stderr();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let first_session = expected[0]["session_info_session_id"].as_str().unwrap();
    assert!(
        stderr.contains(&format!(
            "-output-filter failed on the row of session {first_session}"
        )),
        "{stderr}"
    );
    assert!(run.report_names().is_empty());
}

#[test]
fn a_filter_that_does_not_compile_is_a_bad_option_before_any_call() {
    let (sim, _, start) = setup();
    let run = run(
        &sim,
        &status_args(&["-start-time", &start, "-output-filter", ". | | ."]),
    );
    assert_eq!(run.code(), 10, "{}", run.stderr());
    assert!(
        run.stderr()
            .starts_with("Error: -output-filter: syntax error at column 5"),
        "{}",
        run.stderr()
    );
    assert!(sim.call_counts().is_empty());
}

/// Every file of the job's `logs` folder, with its size.
fn log_sizes(run: &Run) -> Vec<(String, u64)> {
    std::fs::read_dir(job_dir(run.home.path()).join("logs"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().len(),
            )
        })
        .collect()
}

#[test]
fn runaway_filters_fail_the_run_with_one_line_and_leave_no_reports() {
    let (sim, _, start) = setup();
    let mut cases = vec![
        ("def f: 1 + f; f", "recursed too deeply"),
        ("def f: f; f", "ran for more than 1 s"),
        // Time or memory, whichever runs out first.
        ("[repeat(1)]", "more than"),
        ("repeat(1)", "more than"),
        ("last(range(1e18))", "ran for more than 1 s"),
    ];
    // The worker's memory is watched where the OS tells it cheaply (Linux);
    // elsewhere the 1 s budget bounds it, and this case would take GBs.
    if cfg!(target_os = "linux") {
        cases.push((
            r#"[limit(100000; repeat("x" * 100000))]"#,
            "used more than 512 MiB of memory",
        ));
    }
    for (filter, why) in cases {
        let started = std::time::Instant::now();
        let run = run_quiet_filter(&sim, &start, filter);
        assert_eq!(run.code(), 8, "{filter}: {}", run.stderr());
        let stderr = run.stderr();
        assert_eq!(stderr.lines().count(), 1, "{filter}: {stderr}");
        assert!(
            stderr.starts_with("Error: -output-filter failed on the row of session dbdsid:")
                && stderr.contains(why),
            "{filter}: {stderr}"
        );
        assert!(started.elapsed().as_secs() < 30, "{filter} took too long");
        assert!(
            run.report_names().is_empty(),
            "{filter}: {:?}",
            run.report_names()
        );
        let logs = log_sizes(&run);
        assert!(!logs.is_empty(), "{filter}: no logs");
        assert!(logs.iter().all(|(_, n)| *n > 0), "{filter}: {logs:?}");
    }
}

#[test]
fn a_row_that_prints_too_much_is_stopped() {
    let (sim, _, start) = setup();
    let run = run_quiet_filter(&sim, &start, r#""x" * 2000000"#);
    assert_eq!(run.code(), 8, "{}", run.stderr());
    assert!(
        run.stderr().contains("printed more than 1 MiB for one row"),
        "{}",
        run.stderr()
    );
    assert!(run.report_names().is_empty());
}

#[test]
fn the_filter_sees_no_toolbox_variable_through_env_or_dollar_env() {
    let (sim, expected, start) = setup();
    let filter = r#"[env.TOOLBOX_DROPBOX_TOKEN, $ENV.TOOLBOX_DROPBOX_TOKEN, env.TOOLBOX_HOME, ([env, $ENV][] | keys[] | select(ascii_upcase | startswith("TOOLBOX_")))]"#;
    let run = run_with(
        Some(&sim),
        &status_args(&["-start-time", &start, "-quiet", "-output-filter", filter]),
        &[
            ("TOOLBOX_DROPBOX_APP_KEY", "app-key-secret"),
            ("TOOLBOX_DROPBOX_REFRESH_TOKEN", "refresh-secret"),
            ("toolbox_lowercase", "lower-secret"),
            ("TBX_VISIBLE", "yes"),
        ],
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stdout = run.stdout();
    assert_eq!(stdout.lines().count(), expected.len());
    assert!(stdout.lines().all(|l| l == "[null,null,null]"), "{stdout}");
    let json = std::fs::read_to_string(run.reports().join("devices.json")).unwrap();
    assert_eq!(json, stdout);
    for secret in [
        sim.token.as_str(),
        "app-key-secret",
        "refresh-secret",
        "lower-secret",
    ] {
        assert!(!stdout.contains(secret) && !json.contains(secret));
    }
    // The rest of the environment is still there.
    let visible = run_with(
        Some(&sim),
        &status_args(&[
            "-start-time",
            &start,
            "-quiet",
            "-output-filter",
            "[env.TBX_VISIBLE, $ENV.TBX_VISIBLE]",
        ]),
        &[("TBX_VISIBLE", "yes")],
    );
    assert_eq!(visible.stdout().lines().next(), Some(r#"["yes","yes"]"#));
}

const ESCAPING_FILTER: &str = r#""\u001b[31m" + .actor_user_email + "\u009b2J\tend""#;

#[test]
fn raw_strings_keep_their_bytes_in_a_pipe() {
    let (sim, expected, start) = setup();
    let run = run_quiet_filter(&sim, &start, ESCAPING_FILTER);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let first = expected[0]["actor_user_email"].as_str().unwrap();
    let want = format!("\u{1b}[31m{first}\u{9b}2J\tend");
    assert_eq!(run.stdout().lines().next(), Some(want.as_str()));
}

// util-linux script(1) provides the terminal.
#[cfg(target_os = "linux")]
#[test]
fn raw_strings_show_control_characters_as_symbols_on_a_terminal() {
    use std::process::{Command, Stdio};
    let (sim, expected, start) = setup();
    let home = tempfile::tempdir().unwrap();
    let command = format!(
        "'{BIN}' dropbox team backup device status -start-time {start} -quiet -output-filter '{ESCAPING_FILTER}'"
    );
    let output = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("TOOLBOX_HOME", home.path())
        .env("TOOLBOX_DROPBOX_API_URL", &sim.base_url)
        .env("TOOLBOX_DROPBOX_TOKEN", &sim.token)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let first = expected[0]["actor_user_email"].as_str().unwrap();
    assert!(text.contains(&format!("␛[31m{first}␛[2J\tend")), "{text:?}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{9b}'),
        "{text:?}"
    );
}

/// If tbx itself is killed while its filter worker spins, the worker must
/// not live on: it ends itself once a row has run for 5 s.
#[test]
fn an_orphaned_filter_worker_ends_itself() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut worker = Command::new(BIN)
        .arg("__jq-worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = worker.stdin.take().unwrap();
    stdin.write_all(b"\"def f: f; f\"\n{}\n").unwrap();
    stdin.flush().unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = worker.try_wait().unwrap() {
            break status;
        }
        if started.elapsed().as_secs() > 30 {
            worker.kill().unwrap();
            panic!("the worker kept spinning with its parent gone");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    drop(stdin);
    assert_eq!(status.code(), Some(3));
    assert!(started.elapsed().as_secs() >= 4);
}
