//! Late events: Dropbox may deliver an action to the audit log up to 24
//! hours after it happened. A rerun must see a backup status change that
//! arrived after the previous run with a time that run already covered,
//! and report exactly what a `-no-cache` run reports. The simulator adds
//! such changes while it runs (`SimHandle::add_late_change`, the route
//! `POST /__sim/late_backup_change`, `tbx dev simulate -late-every`).

mod common;

use std::path::Path;

use chrono::{Duration, DurationRound, Utc};
use common::*;
use serde_json::{json, Map, Value};
use tbx::sim::{LateChange, LateSchedule, SimConfig, SimHandle, SimTeam};

type Rows = Vec<Map<String, Value>>;

/// Runs the status command in `home` and returns its devices.json rows.
fn rows_of(home: &Path, sim: &SimHandle, args: &[&str]) -> Rows {
    let out = run_status_in(home, sim, args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    latest_rows(home)
}

/// What a cold `-no-cache` run in a fresh home reports.
fn cold_rows(sim: &SimHandle, args: &[&str]) -> Rows {
    let home = tempfile::tempdir().unwrap();
    let mut all = args.to_vec();
    all.push("-no-cache");
    rows_of(home.path(), sim, &all)
}

/// The team as served now, late changes included, for `expected_rows`.
fn served(sim: &SimHandle, team: &SimTeam) -> SimTeam {
    SimTeam {
        events: sim.events(),
        ..team.clone()
    }
}

fn status_of<'a>(rows: &'a Rows, session: &str) -> (&'a str, &'a str) {
    let row = rows
        .iter()
        .find(|r| r["session_info_session_id"] == session)
        .unwrap();
    (
        row["latest_status"].as_str().unwrap(),
        row["timestamp"].as_str().unwrap(),
    )
}

fn session_of(event: &Value) -> String {
    event["details"]["desktop_device_session_info"]["session_info"]["session_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_change_that_arrives_late_is_seen_by_the_next_run() {
    let team = team(30, 141);
    let sim = start(team.clone());
    let home = tempfile::tempdir().unwrap();
    let start = anchor() - Duration::days(30);
    let args = ["-start-time", &z(start)];
    let first = rows_of(home.path(), &sim, &args);
    assert_eq!(first, expected_rows(&team, start, None));

    // A change stamped three hours ago reaches the log after that run.
    let at = (Utc::now() - Duration::hours(3))
        .duration_trunc(Duration::seconds(1))
        .unwrap();
    let late = sim
        .add_late_change(&LateChange {
            session_id: None,
            timestamp: at,
            new_value: None,
        })
        .unwrap();
    let session = session_of(&late);
    let new_status = late["details"]["new_value"][".tag"].as_str().unwrap();
    assert_ne!(status_of(&first, &session).0, new_status);

    let second = rows_of(home.path(), &sim, &args);
    assert_eq!(status_of(&second, &session), (new_status, z(at).as_str()));
    assert_eq!(second, cold_rows(&sim, &args));
    assert_eq!(second, expected_rows(&served(&sim, &team), start, None));

    // Another late change of the same second: the later in log order wins,
    // in the store as in a cold run.
    let back = sim
        .add_late_change(&LateChange {
            session_id: Some(session.clone()),
            timestamp: at,
            new_value: None,
        })
        .unwrap();
    let back_status = back["details"]["new_value"][".tag"].as_str().unwrap();
    assert_ne!(back_status, new_status);
    let third = rows_of(home.path(), &sim, &args);
    assert_eq!(status_of(&third, &session).0, back_status);
    assert_eq!(third, cold_rows(&sim, &args));
    assert_eq!(third, expected_rows(&served(&sim, &team), start, None));
}

#[test]
fn a_closed_period_is_fetched_again_until_it_has_settled() {
    let team = team(20, 142);
    let sim = start(team.clone());
    let home = tempfile::tempdir().unwrap();
    // A period that ended an hour ago: its last day is not settled yet.
    let end = (Utc::now() - Duration::hours(1))
        .duration_trunc(Duration::seconds(1))
        .unwrap();
    let start = anchor() - Duration::days(20);
    let args = ["-start-time", &z(start), "-end-time", &z(end)];
    rows_of(home.path(), &sim, &args);
    let late = sim
        .add_late_change(&LateChange {
            session_id: None,
            timestamp: end - Duration::hours(5),
            new_value: Some("enabled".into()),
        })
        .unwrap();
    let rows = rows_of(home.path(), &sim, &args);
    assert_eq!(status_of(&rows, &session_of(&late)).0, "enabled");
    assert_eq!(rows, cold_rows(&sim, &args));
}

#[test]
fn a_rerun_of_an_old_closed_period_makes_no_call() {
    let team = team(20, 145);
    let sim = start(team.clone());
    let home = tempfile::tempdir().unwrap();
    let (start, end) = (anchor() - Duration::days(40), anchor() - Duration::days(10));
    let args = ["-start-time", &z(start), "-end-time", &z(end)];
    let first = rows_of(home.path(), &sim, &args);
    let calls = || sim.calls("team_log/get_events") + sim.calls("team_log/get_events/continue");
    let before = calls();
    // Late arrivals of today cannot touch a period that settled long ago.
    sim.add_late_change(&LateChange {
        session_id: None,
        timestamp: Utc::now() - Duration::hours(3),
        new_value: None,
    })
    .unwrap();
    assert_eq!(rows_of(home.path(), &sim, &args), first);
    assert_eq!(calls(), before, "no get_events call");
    assert_eq!(first, expected_rows(&team, start, Some(end)));
}

#[test]
fn the_late_route_appends_a_change_stamped_in_the_past() {
    let team = team(10, 143);
    let sim = start(team.clone());
    let post = |body: Value| -> (u16, String) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let resp = reqwest::Client::new()
                .post(format!("{}/__sim/late_backup_change", sim.base_url))
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        })
    };
    let before = sim.events().len();
    let (status, text) = post(json!({"hours_ago": 5}));
    assert_eq!(status, 200, "{text}");
    let event: Value = serde_json::from_str(&text).unwrap();
    let events = sim.events();
    assert_eq!(events.len(), before + 1);
    assert_eq!(events.last().unwrap(), &event, "appended at the end");
    let at = utc(event["timestamp"].as_str().unwrap());
    let age = Utc::now() - at;
    assert!(
        age > Duration::hours(5) - Duration::minutes(1)
            && age < Duration::hours(5) + Duration::minutes(1)
    );

    let session = session_of(&event);
    let pinned = post(
        json!({"session_id": session, "timestamp": "2026-11-30T10:00:00Z",
                             "new_value": "paused_by_policy"}),
    );
    assert_eq!(pinned.0, 200, "{}", pinned.1);
    let pinned: Value = serde_json::from_str(&pinned.1).unwrap();
    assert_eq!(pinned["timestamp"], "2026-11-30T10:00:00Z");
    assert_eq!(
        pinned["details"]["previous_value"],
        event["details"]["new_value"]
    );
    assert_eq!(pinned["details"]["new_value"][".tag"], "paused_by_policy");

    for bad in [
        json!({}),
        json!({"hours_ago": 1, "timestamp": "2026-11-30T10:00:00Z"}),
        json!({"timestamp": "yesterday"}),
        json!({"hours_ago": 1, "color": 2}),
    ] {
        let (status, text) = post(bad.clone());
        assert_eq!(status, 400, "{bad}: {text}");
        assert!(!text.contains('\n'), "{text}");
    }
    let (status, _) = post(json!({"hours_ago": 1, "session_id": "dbdsid:nope"}));
    assert_eq!(status, 404);
}

#[test]
fn late_every_adds_a_change_before_every_nth_listing() {
    let team = team(10, 144);
    let config = SimConfig {
        late: LateSchedule { every: 1, hours: 6 },
        ..SimConfig::default()
    };
    let sim = tbx::sim::start_background(team.clone(), config).unwrap();
    let before = sim.events().len();
    let home = tempfile::tempdir().unwrap();
    let start = anchor() - Duration::days(10);
    let args = ["-start-time", &z(start), "-concurrency", "1"];
    let first = rows_of(home.path(), &sim, &args);
    let listings = sim.calls("team_log/get_events");
    assert_eq!(sim.events().len() as u64, before as u64 + listings);
    // Each change was added before a listing that covered its time, so
    // this run already saw them; the next adds one more and sees it.
    assert_eq!(first, expected_rows(&served(&sim, &team), start, None));
    let second = rows_of(home.path(), &sim, &args);
    assert_eq!(second, expected_rows(&served(&sim, &team), start, None));
    assert_ne!(first, second);
}
