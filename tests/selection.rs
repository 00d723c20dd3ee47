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

#[test]
fn include_unlinked_adds_computers_seen_only_in_the_log() {
    use serde_json::Value;
    let team = team(60, 113);
    let start = anchor() - Duration::days(90);
    let linked_rows = expected_rows(&team, start, None);
    let linked_ids: std::collections::HashSet<String> = linked_rows
        .iter()
        .map(|r| r["session_info_session_id"].as_str().unwrap().to_string())
        .collect();
    // The latest event of each session not linked any more (ties: later in the log).
    let mut latest: std::collections::HashMap<String, &Value> = Default::default();
    for e in &team.events {
        if e["event_type"][".tag"] != "device_sync_backup_status_changed" {
            continue;
        }
        let Some(session) =
            e["details"]["desktop_device_session_info"]["session_info"]["session_id"].as_str()
        else {
            continue;
        };
        if linked_ids.contains(session) || utc(e["timestamp"].as_str().unwrap()) < start {
            continue;
        }
        match latest.get(session) {
            Some(cur) if cur["timestamp"].as_str() > e["timestamp"].as_str() => {}
            _ => {
                latest.insert(session.to_string(), e);
            }
        }
    }
    assert!(
        !latest.is_empty(),
        "the team has unlinked computers with history"
    );
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut want: Vec<serde_json::Map<String, Value>> = linked_rows
        .into_iter()
        .map(|mut r| {
            r.insert("linked".into(), "true".into());
            r
        })
        .collect();
    for (session, e) in &latest {
        let info = &e["details"]["desktop_device_session_info"];
        let mut r = serde_json::Map::new();
        for (k, v) in [
            (
                "actor_user_team_member_id",
                s(&e["context"]["team_member_id"]),
            ),
            ("actor_user_email", s(&e["context"]["email"])),
            ("actor_user_display_name", s(&e["context"]["display_name"])),
            ("session_info_session_id", session.clone()),
            ("session_info_ip_address", s(&info["ip_address"])),
            ("session_info_host_name", s(&info["host_name"])),
            ("session_info_updated", s(&info["updated"])),
            ("session_info_client_type", s(&info["client_type"][".tag"])),
            ("session_info_client_version", s(&info["client_version"])),
            ("session_info_platform", s(&info["platform"])),
            ("timestamp", s(&e["timestamp"])),
            ("latest_status", s(&e["details"]["new_value"][".tag"])),
            ("linked", "false".into()),
        ] {
            r.insert(k.into(), Value::String(v));
        }
        want.push(r);
    }
    sort_in_report_order(&mut want);
    let sim = start_sim(team);
    let run = run(
        &sim,
        &status_args(&[
            "-start-time",
            &z(start),
            "-include-unlinked",
            "-output",
            "none",
        ]),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let got: Vec<serde_json::Map<String, Value>> =
        std::fs::read_to_string(run.reports().join("devices.json"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(got, want);
    let csv = read_csv(&run.reports().join("devices.csv"));
    assert_eq!(csv[0].last().unwrap(), "linked");
    assert!(csv.iter().any(|r| r.last().unwrap() == "false"));
}
