//! The job folder and its logs: gzipped JSON-lines logs, a capture log with
//! nothing secret in it, `-budget-storage low`, `-retain-job-data`, and the
//! start-up exit code when no job folder can be made.

mod common;

use common::*;

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["-start-time", "2026-05-01T00:00:00Z", "-output", "none"];
    all.extend_from_slice(extra);
    status_args(&all)
}

#[test]
fn logs_are_gzipped_json_lines_and_the_capture_log_has_no_token() {
    let sim = start(team(20, 91));
    let run = run(&sim, &args(&[]));
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let job = job_dir(run.home.path());
    let log = read_log(&job, "toolbox.log");
    for line in log.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            entry["time"].is_string() && entry["level"].is_string() && entry["msg"].is_string()
        );
    }
    let capture = read_log(&job, "capture.log");
    let calls: Vec<serde_json::Value> = capture
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(calls.len() as u64, sim.call_counts().values().sum::<u64>());
    let events = calls
        .iter()
        .find(|c| c["route"] == "team_log/get_events")
        .unwrap();
    assert_eq!(
        events["request"]["event_type"],
        "device_sync_backup_status_changed"
    );
    assert_eq!(events["status"], 200);
    assert!(events["ms"].is_u64() && events["response_bytes"].as_u64().unwrap() > 0);
    assert!(!capture.contains(&sim.token) && !log.contains(&sim.token));
    assert!(
        !job.join("logs/toolbox.log").exists(),
        "only the gzipped log stays"
    );
}

#[test]
fn low_storage_budget_skips_the_capture_log() {
    let sim = start(team(20, 92));
    let run = run(&sim, &args(&["-budget-storage", "low"]));
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let job = job_dir(run.home.path());
    assert!(job.join("logs/toolbox.log.gz").exists());
    assert!(!job.join("logs/capture.log.gz").exists());
}

#[test]
fn retain_policies_keep_or_remove_the_job_folder() {
    let sim = start(team(20, 93));
    let jobs = |run: &Run| {
        std::fs::read_dir(run.home.path().join("jobs"))
            .map(|d| d.count())
            .unwrap_or(0)
    };

    let kept = run(&sim, &args(&["-retain-job-data", "default"]));
    assert_eq!((kept.code(), jobs(&kept)), (0, 1));

    let on_error_ok = run(&sim, &args(&["-retain-job-data", "on_error"]));
    assert_eq!(
        (on_error_ok.code(), jobs(&on_error_ok)),
        (0, 0),
        "removed after success"
    );

    sim.inject(
        "team/get_info",
        1,
        tbx::sim::Fault::RouteError {
            tag: "other".into(),
            value: None,
        },
    );
    let on_error_failed = run(&sim, &args(&["-retain-job-data", "on_error"]));
    assert_eq!(
        (on_error_failed.code(), jobs(&on_error_failed)),
        (8, 1),
        "kept after failure"
    );
    assert!(on_error_failed.stderr().contains("job log: "));

    let none = run(
        &sim,
        &status_args(&[
            "-start-time",
            "2026-05-01T00:00:00Z",
            "-retain-job-data",
            "none",
            "-quiet",
        ]),
    );
    assert_eq!(none.code(), 0, "{}", none.stderr());
    assert_eq!(jobs(&none), 0);
    assert!(
        !read_json_lines(&none.stdout()).is_empty(),
        "the rows are on stdout"
    );

    let text = run(
        &sim,
        &status_args(&[
            "-start-time",
            "2026-05-01T00:00:00Z",
            "-retain-job-data",
            "none",
        ]),
    );
    assert_eq!(text.code(), 0);
    assert!(
        !text.stdout().contains("The report generated"),
        "no paths to files that are gone"
    );
    assert!(text.stdout().contains("records"));
}

#[test]
fn a_job_folder_that_cannot_be_made_is_a_start_up_failure() {
    let sim = start(team(5, 94));
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let run = run_with(
        Some(&sim),
        &args(&[]),
        &[("TOOLBOX_HOME", file.to_str().unwrap())],
    );
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert_eq!(run.stderr().lines().count(), 1);
    assert!(
        run.stderr().contains("cannot create the job folder"),
        "{}",
        run.stderr()
    );
}

#[test]
fn reports_need_no_system_temp_folder() {
    // Minimal containers and chroots may have no /tmp: the XLSX writer's
    // spill files go beside the report instead, and leave nothing behind.
    let sim = start(team(20, 92));
    let missing = tempfile::tempdir().unwrap().path().join("no-such-tmp");
    let run = run_with(
        Some(&sim),
        &args(&[]),
        &[("TMPDIR", missing.to_str().unwrap())],
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(!read_xlsx(&run.reports().join("devices.xlsx")).is_empty());
    assert_eq!(
        run.report_names(),
        ["devices.csv", "devices.json", "devices.xlsx"]
    );
}

#[test]
fn a_panic_mid_run_is_one_line_naming_the_closed_job_log_and_exit_8() {
    let sim = start(team(10, 93));
    let run = run_with(
        Some(&sim),
        &args(&[]),
        &[
            ("TBX_DEBUG_PANIC_AT_STEP", "write reports"),
            ("RUST_BACKTRACE", "1"),
        ],
    );
    let stderr = run.stderr();
    assert_eq!(run.code(), 8, "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = lines.last().copied().unwrap_or_default();
    let job = job_dir(run.home.path());
    let log_path = job.join("logs").join("toolbox.log.gz");
    let at = "Error: internal error (panic) at src/job/mod.rs:";
    assert!(last.starts_with(at), "{stderr}");
    assert!(
        last.ends_with(&format!("; job log: {}", log_path.display())),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "no Rust panic message or backtrace: {stderr}"
    );
    assert!(lines.iter().filter(|l| l.starts_with("Error:")).count() == 1);
    let log = read_log(&job, "toolbox.log");
    let end = log.lines().last().unwrap_or_default();
    assert!(end.contains("\"internal error (panic)\""), "{log}");
    assert!(end.contains("src/job/mod.rs:"), "{log}");
    assert!(!job.join("logs").join("toolbox.log").exists());
    assert_eq!(run.report_names(), Vec::<String>::new());
}
