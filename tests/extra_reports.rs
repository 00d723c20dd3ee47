//! `-reports summary,html`: summary.json and devices.html beside tbx's
//! reports, only when asked for (tbx's output stays as it is otherwise).

mod common;

use chrono::Duration;
use common::*;

#[test]
fn summary_and_html_are_written_when_asked_and_agree_with_the_rows() {
    let team = team(50, 121);
    let start = anchor() - Duration::days(60);
    let expected = expected_rows(&team, start, None);
    let sim = common::start(team);
    let plain = run(
        &sim,
        &status_args(&["-start-time", &z(start), "-output", "none"]),
    );
    assert_eq!(
        plain.report_names(),
        ["devices.csv", "devices.json", "devices.xlsx"],
        "opt-in only"
    );

    let run = run(
        &sim,
        &status_args(&[
            "-start-time",
            &z(start),
            "-reports",
            "summary,html",
            "-stale-days",
            "10",
        ]),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(
        run.report_names(),
        [
            "devices.csv",
            "devices.html",
            "devices.json",
            "devices.xlsx",
            "summary.json"
        ]
    );
    assert_reports_match(&run, &expected);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.reports().join("summary.json")).unwrap())
            .unwrap();
    let s = &summary["summary"];
    assert_eq!(s["devices"], expected.len());
    for status in ["enabled", "disabled", "no_status_update"] {
        let n = expected
            .iter()
            .filter(|r| r["latest_status"] == status)
            .count();
        assert_eq!(
            s["by_status"][status].as_u64().unwrap_or(0) as usize,
            n,
            "{status}"
        );
    }
    let enabled = expected
        .iter()
        .filter(|r| r["latest_status"] == "enabled")
        .count();
    let percent = (enabled as f64 * 1000.0 / expected.len() as f64).round() / 10.0;
    assert_eq!(s["enabled_percent"].as_f64().unwrap(), percent);
    assert_eq!(s["stale_days"], 10);
    assert_eq!(summary["team"], "Example Corp (simulated)");

    let html = std::fs::read_to_string(run.reports().join("devices.html")).unwrap();
    assert_eq!(
        html.matches("<tr>").count(),
        expected.len() + 1,
        "a row per device and the header"
    );
    for row in &expected {
        let host = row["session_info_host_name"].as_str().unwrap();
        let escaped = host
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;");
        let escaped: String = escaped
            .chars()
            .flat_map(|c| match c as u32 {
                // Controls as readable symbols: Unicode control pictures, C1
                // as ␛ and its 7-bit form, bidi overrides by code point.
                n @ 0..=0x1f => vec![char::from_u32(0x2400 + n).unwrap()],
                0x7f => vec!['␡'],
                n @ 0x80..=0x9f => vec!['␛', char::from_u32(n - 0x40).unwrap()],
                0x202a..=0x202e | 0x2066..=0x2069 => {
                    format!("[U+{:04X}]", c as u32).chars().collect()
                }
                _ => vec![c],
            })
            .collect();
        assert!(
            html.contains(&format!("<td>{escaped}</td>")),
            "{host:?} is in the page, escaped"
        );
    }
    let stdout = run.stdout();
    assert!(stdout.contains("summary.json") && stdout.contains("devices.html"));

    let bad = run_with(
        None,
        &status_args(&["-start-time", "-1d", "-reports", "pdf"]),
        &[],
    );
    assert_eq!(bad.code(), 10);
    assert!(bad.stderr().contains("-reports: unknown report 'pdf'"));
}

#[test]
fn history_lists_every_change_with_actor_and_owner() {
    let team = team(40, 122);
    let start = anchor() - Duration::days(45);
    let sim = common::start(team.clone());
    let run = run(
        &sim,
        &status_args(&[
            "-start-time",
            &z(start),
            "-reports",
            "history",
            "-output",
            "none",
        ]),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(run.report_names().contains(&"history.xlsx".to_string()));

    // Independent expectation, from the raw events in log order.
    let owner_of_session: std::collections::HashMap<String, String> = team
        .devices
        .iter()
        .flat_map(|m| {
            let member = m["team_member_id"].as_str().unwrap().to_string();
            let email = team
                .members
                .iter()
                .find(|p| p["profile"]["team_member_id"] == member.as_str())
                .map(|p| p["profile"]["email"].as_str().unwrap().to_string())
                .unwrap_or_default();
            m["desktop_clients"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |d| (d["session_id"].as_str().unwrap().to_string(), email.clone()))
        })
        .collect();
    let mut want: Vec<(String, String, String, String, String, String)> = team
        .events
        .iter()
        .filter(|e| e["event_type"][".tag"] == "device_sync_backup_status_changed")
        .filter(|e| utc(e["timestamp"].as_str().unwrap()) >= start)
        .filter_map(|e| {
            let d = &e["details"];
            let session = d["desktop_device_session_info"]["session_info"]["session_id"]
                .as_str()?
                .to_string();
            let actor_type = e["actor"][".tag"].as_str().unwrap_or("").to_string();
            let owner = owner_of_session
                .get(&session)
                .cloned()
                .unwrap_or_else(|| e["context"]["email"].as_str().unwrap_or("").to_string());
            Some((
                e["timestamp"].as_str().unwrap().to_string(),
                session,
                owner,
                d["previous_value"][".tag"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                d["new_value"][".tag"].as_str().unwrap_or("").to_string(),
                actor_type,
            ))
        })
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    let got: Vec<(String, String, String, String, String, String)> =
        std::fs::read_to_string(run.reports().join("history.json"))
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let f = |k: &str| v[k].as_str().unwrap().to_string();
                (
                    f("timestamp"),
                    f("session_info_session_id"),
                    f("owner_email"),
                    f("previous_status"),
                    f("new_status"),
                    f("actor_type"),
                )
            })
            .collect();
    assert_eq!(got, want);
    assert!(
        want.iter().any(|w| w.5 == "admin"),
        "admins toggling devices show up as actors"
    );
    let csv = read_csv(&run.reports().join("history.csv"));
    assert_eq!(csv.len(), want.len() + 1);
    assert_eq!(csv[0][0], "timestamp");
}

#[test]
fn filters_apply_to_the_history_too() {
    let team = team(40, 123);
    let start = anchor() - Duration::days(60);
    let sim = common::start(team);
    let run = run(
        &sim,
        &status_args(&[
            "-start-time",
            &z(start),
            "-reports",
            "history,summary",
            "-status",
            "disabled",
            "-output",
            "none",
        ]),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let shown: std::collections::HashSet<String> =
        read_json_lines(&std::fs::read_to_string(run.reports().join("devices.json")).unwrap())
            .iter()
            .map(|r| r["session_info_session_id"].as_str().unwrap().to_string())
            .collect();
    let history = std::fs::read_to_string(run.reports().join("history.json")).unwrap();
    assert!(!history.is_empty());
    for line in history.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(shown.contains(v["session_info_session_id"].as_str().unwrap()));
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.reports().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["filter"], "status=disabled");
    assert_eq!(
        summary["summary"]["by_status"].as_object().unwrap().len(),
        1
    );
}
