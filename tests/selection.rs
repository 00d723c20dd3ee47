//! -status, -platform, -client-type, -member, -sort and -desc apply to every
//! report of the run and are named in the header.

mod common;

use chrono::Duration;
use common::*;

#[test]
fn filters_and_sort_apply_to_every_report() {
    let team = team(80, 111);
    let start = anchor() - Duration::days(60);
    let mut expected: Vec<_> = expected_rows(&team, start, None)
        .into_iter()
        .filter(|r| {
            matches!(
                r["latest_status"].as_str(),
                Some("disabled" | "no_status_update")
            )
        })
        .filter(|r| {
            let m = |k: &str| r[k].as_str().unwrap().to_lowercase().contains("lamb");
            m("actor_user_email") || m("actor_user_display_name")
        })
        .collect();
    // Stable sort by timestamp, newest first, over the default order.
    expected.sort_by(|a, b| b["timestamp"].as_str().cmp(&a["timestamp"].as_str()));
    assert!(expected.len() >= 3, "{}", expected.len());
    let sim = start_sim(team);
    let run = run(
        &sim,
        &status_args(&[
            "-start-time",
            &z(start),
            "-status",
            "disabled",
            "-status",
            "no_status_update",
            "-member",
            "LAMB",
            "-sort",
            "timestamp",
            "-desc",
        ]),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_reports_match(&run, &expected);
    assert!(
        run.stdout()
            .contains("Filter: status=disabled,no_status_update member~LAMB sort=timestamp desc"),
        "{}",
        run.stdout()
    );
}

fn start_sim(team: tbx::sim::SimTeam) -> tbx::sim::SimHandle {
    common::start(team)
}

#[test]
fn platform_and_client_type_match_exactly_in_any_case() {
    let team = team(60, 112);
    let start = anchor() - Duration::days(30);
    let expected: Vec<_> = expected_rows(&team, start, None)
        .into_iter()
        .filter(|r| {
            r["session_info_client_type"] == "mac" && r["session_info_platform"] == "macOS 14.5"
        })
        .collect();
    assert!(!expected.is_empty());
    let sim = start_sim(team);
    let run = run(
        &sim,
        &status_args(&[
            "-start-time",
            &z(start),
            "-client-type",
            "MAC",
            "-platform",
            "macos 14.5",
            "-output",
            "none",
        ]),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_reports_match(&run, &expected);
}

#[test]
fn an_unknown_sort_column_is_a_bad_option() {
    let run = run_with(
        None,
        &status_args(&["-start-time", "-1d", "-sort", "colour"]),
        &[],
    );
    assert_eq!(run.code(), 10);
    assert!(run.stderr().contains(
        "-sort: 'colour' is not a report column; expected one of actor_user_team_member_id"
    ));
}
