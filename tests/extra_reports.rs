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
            .flat_map(|c| {
                if c.is_control() {
                    c.escape_debug().collect::<Vec<_>>()
                } else {
                    vec![c]
                }
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
