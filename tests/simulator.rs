//! The simulator against the contract in shared/dropbox-api.md, over real
//! HTTP: shapes, strict argument checks, errors, cursors and paging.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tbx::sim::SimHandle;

struct Reply {
    status: u16,
    content_type: String,
    request_id: bool,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }
}

fn post(
    sim: &SimHandle,
    route: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &str,
) -> Reply {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut req = client
            .post(format!("{}/2/{route}", sim.base_url))
            .body(body.to_string());
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        let resp = req.send().await.unwrap();
        Reply {
            status: resp.status().as_u16(),
            content_type: resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default(),
            request_id: resp.headers().contains_key("x-dropbox-request-id"),
            text: resp.text().await.unwrap(),
        }
    })
}

fn call(sim: &SimHandle, route: &str, body: Value) -> Reply {
    post(
        sim,
        route,
        Some(&sim.token),
        Some("application/json"),
        &body.to_string(),
    )
}

fn sim() -> SimHandle {
    start(team(40, 12))
}

#[test]
fn json_results_carry_content_type_and_request_id() {
    let sim = sim();
    let r = post(&sim, "team/get_info", Some(&sim.token), None, "");
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "application/json");
    assert!(r.request_id);
    let info = r.json();
    assert_eq!(info["name"], "Example Corp (simulated)");
    assert!(info["policies"]["sharing"].is_object());
}

#[test]
fn void_routes_take_null_or_no_body_but_not_an_empty_json_body() {
    let sim = sim();
    assert_eq!(
        post(
            &sim,
            "team/get_info",
            Some(&sim.token),
            Some("application/json"),
            "null"
        )
        .status,
        200
    );
    let r = post(
        &sim,
        "team/get_info",
        Some(&sim.token),
        Some("application/json"),
        "",
    );
    assert_eq!(r.status, 400);
    assert!(r.content_type.starts_with("text/plain"));
    assert!(
        r.text
            .starts_with("Error in call to API function \"team/get_info\": "),
        "{}",
        r.text
    );
}

#[test]
fn authorization_problems_follow_the_contract() {
    let sim = sim();
    let r = post(&sim, "team/get_info", None, None, "");
    assert_eq!(r.status, 400, "missing header is a plain-text 400");
    let r = post(&sim, "team/get_info", Some("two words"), None, "");
    assert_eq!(r.status, 400);
    let r = post(&sim, "team/get_info", Some("sl.unknown"), None, "");
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"][".tag"], "invalid_access_token");
    let short = sim.issue_token(&["team_info.read"], Duration::from_millis(1));
    std::thread::sleep(Duration::from_millis(20));
    let r = post(&sim, "team/get_info", Some(&short), None, "");
    assert_eq!(r.json()["error"][".tag"], "expired_access_token");
    let scoped = sim.issue_token(&["team_info.read"], Duration::from_secs(60));
    let r = post(
        &sim,
        "team_log/get_events",
        Some(&scoped),
        Some("application/json"),
        "{}",
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["error"],
        json!({".tag": "missing_scope", "required_scope": "events.read"})
    );
    let r = post(&sim, "auth/token/revoke", Some(&scoped), None, "");
    assert_eq!((r.status, r.text.as_str()), (200, "null"));
    let r = post(&sim, "team/get_info", Some(&scoped), None, "");
    assert_eq!(r.json()["error"][".tag"], "invalid_access_token");
}

#[test]
fn malformed_arguments_are_plain_text_400s() {
    let sim = sim();
    for (route, body) in [
        ("team_log/get_events", "{not json"),
        ("team_log/get_events", r#"{"limit": 0}"#),
        ("team_log/get_events", r#"{"limit": 1001}"#),
        ("team_log/get_events", r#"{"limit": "ten"}"#),
        ("team_log/get_events", r#"{"unknown_field": 1}"#),
        ("team_log/get_events", r#"{"category": "no_such_category"}"#),
        (
            "team_log/get_events",
            r#"{"time": {"start_time": "2026-01-01"}}"#,
        ),
        ("team_log/get_events", r#"{"account_id": "dbid:short"}"#),
        ("team/members/list_v2", r#"{"limit": 1001}"#),
        (
            "team/members/get_info_v2",
            r#"{"members": [{".tag": "nickname", "nickname": "x"}]}"#,
        ),
        (
            "team/devices/list_members_devices",
            r#"{"include_everything": true}"#,
        ),
    ] {
        let r = post(
            &sim,
            route,
            Some(&sim.token),
            Some("application/json"),
            body,
        );
        assert_eq!(r.status, 400, "{route} {body}: {}", r.text);
        assert!(r.content_type.starts_with("text/plain"), "{route} {body}");
        assert!(r
            .text
            .starts_with(&format!("Error in call to API function \"{route}\"")));
    }
    let r = post(
        &sim,
        "team_log/get_events",
        Some(&sim.token),
        Some("text/plain"),
        "{}",
    );
    assert_eq!(r.status, 400);
}

#[test]
fn route_errors_are_409_with_summary_and_tag() {
    let sim = sim();
    for (body, tag) in [
        (
            json!({"category": "devices", "event_type": "device_sync_backup_status_changed"}),
            "invalid_filters",
        ),
        (
            json!({"time": {"start_time": "2026-02-01T00:00:00Z", "end_time": "2026-01-01T00:00:00Z"}}),
            "invalid_time_range",
        ),
        (
            json!({"account_id": "dbid:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
            "account_id_not_found",
        ),
    ] {
        let r = call(&sim, "team_log/get_events", body);
        assert_eq!(r.status, 409);
        let v = r.json();
        assert_eq!(v["error"][".tag"], tag);
        assert!(v["error_summary"].as_str().unwrap().starts_with(tag));
    }
    let r = call(
        &sim,
        "team_log/get_events/continue",
        json!({"cursor": "garbage"}),
    );
    assert_eq!(
        (r.status, r.json()["error"][".tag"].clone()),
        (409, json!("bad_cursor"))
    );
    let r = call(
        &sim,
        "team/members/list/continue_v2",
        json!({"cursor": "garbage"}),
    );
    assert_eq!(r.json()["error"][".tag"], "invalid_cursor");
    let r = call(
        &sim,
        "team/devices/list_members_devices",
        json!({"cursor": "garbage"}),
    );
    assert_eq!(r.json()["error"][".tag"], "reset");
}

/// Pages through get_events, returning (events, pages, empty pages with
/// has_more, distinct cursors).
fn page_all(sim: &SimHandle, arg: Value) -> (Vec<Value>, usize, usize, usize) {
    let mut page = call(sim, "team_log/get_events", arg).json();
    let (mut events, mut pages, mut empty, mut cursors) =
        (Vec::new(), 0, 0, std::collections::HashSet::new());
    loop {
        pages += 1;
        let batch = page["events"].as_array().unwrap().clone();
        if batch.is_empty() && page["has_more"] == true {
            empty += 1;
        }
        events.extend(batch);
        cursors.insert(page["cursor"].as_str().unwrap().to_string());
        if page["has_more"] == false {
            return (events, pages, empty, cursors.len());
        }
        page = call(
            sim,
            "team_log/get_events/continue",
            json!({"cursor": page["cursor"]}),
        )
        .json();
    }
}

#[test]
fn event_paging_has_short_and_empty_pages_and_fresh_cursors() {
    let team = team(80, 13);
    let sim = start(team.clone());
    let (events, pages, empty, cursors) = page_all(&sim, json!({"limit": 1000}));
    assert_eq!(events.len(), team.events.len(), "all events, each once");
    assert_eq!(events, team.events, "served in log order");
    assert!(pages > 3 && empty >= 1, "pages {pages}, empty {empty}");
    assert_eq!(cursors, pages, "a new cursor on every page");
}

#[test]
fn event_filters_and_half_open_time_bounds() {
    let team = team(60, 14);
    let sim = start(team.clone());
    let [start_mark, end_mark] = tbx::sim::generate::boundary_marks(anchor());
    let (events, ..) = page_all(
        &sim,
        json!({"limit": 100, "event_type": {".tag": "device_sync_backup_status_changed"},
               "time": {"start_time": z(start_mark), "end_time": z(end_mark)}}),
    );
    assert!(
        events
            .iter()
            .any(|e| e["timestamp"] == z(start_mark).as_str()),
        "start is inclusive"
    );
    assert!(
        events
            .iter()
            .all(|e| e["timestamp"] != z(end_mark).as_str()),
        "end is exclusive"
    );
    assert!(events
        .iter()
        .all(|e| e["event_type"][".tag"] == "device_sync_backup_status_changed"));
    let expected = team
        .events
        .iter()
        .filter(|e| e["event_type"][".tag"] == "device_sync_backup_status_changed")
        .filter(|e| {
            let t = utc(e["timestamp"].as_str().unwrap());
            t >= start_mark && t < end_mark
        })
        .count();
    assert_eq!(events.len(), expected);
    let (devices_only, ..) = page_all(&sim, json!({"category": "devices"}));
    assert!(devices_only
        .iter()
        .all(|e| e["event_category"][".tag"] == "devices"));
    assert!(devices_only.len() < team.events.len());
}

#[test]
fn device_listing_filters_kinds_and_pages_by_cursor() {
    let team = team(90, 15);
    let sim = start(team.clone());
    let arg = json!({"include_web_sessions": false, "include_desktop_clients": true, "include_mobile_clients": false});
    let mut page = call(&sim, "team/devices/list_members_devices", arg.clone()).json();
    let (mut desktops, mut pages) = (0, 1);
    loop {
        for m in page["devices"].as_array().unwrap() {
            assert!(m.get("web_sessions").is_none() && m.get("mobile_clients").is_none());
            desktops += m["desktop_clients"].as_array().unwrap().len();
        }
        if page["has_more"] == false {
            break;
        }
        let mut next = arg.clone();
        next["cursor"] = page["cursor"].clone();
        page = call(&sim, "team/devices/list_members_devices", next).json();
        pages += 1;
    }
    let expected: usize = team
        .devices
        .iter()
        .map(|m| m["desktop_clients"].as_array().unwrap().len())
        .sum();
    assert_eq!(desktops, expected);
    assert!(pages > 1);
}

#[test]
fn members_list_obeys_limit_and_get_info_reports_unknown_ids_as_items() {
    let sim = sim();
    let r = call(&sim, "team/members/list_v2", json!({"limit": 7})).json();
    assert_eq!(r["members"].as_array().unwrap().len(), 7);
    assert_eq!(r["has_more"], true);
    let next = call(
        &sim,
        "team/members/list/continue_v2",
        json!({"cursor": r["cursor"]}),
    )
    .json();
    assert!(!next["members"].as_array().unwrap().is_empty());
    let id = r["members"][0]["profile"]["team_member_id"].clone();
    let info = call(
        &sim,
        "team/members/get_info_v2",
        json!({"members": [{".tag": "team_member_id", "team_member_id": id},
                           {".tag": "email", "email": "nobody@example.com"}]}),
    )
    .json();
    assert_eq!(info["members_info"][0][".tag"], "member_info");
    assert_eq!(info["members_info"][0]["profile"]["team_member_id"], id);
    assert_eq!(
        info["members_info"][1],
        json!({".tag": "id_not_found", "id_not_found": "nobody@example.com"})
    );
}

#[test]
fn injected_faults_answer_the_next_calls_then_stop() {
    use tbx::sim::{Fault, FaultBody};
    let sim = sim();
    sim.inject(
        "team/get_info",
        1,
        Fault::ServerError {
            status: 503,
            body: FaultBody::Html,
            retry_after: Some(2),
        },
    );
    sim.inject(
        "team/get_info",
        1,
        Fault::RateLimited {
            retry_after: Some(3),
            text_body: false,
            write_operations: false,
        },
    );
    let r = post(&sim, "team/get_info", Some(&sim.token), None, "");
    assert_eq!(r.status, 503);
    assert!(r.text.contains("<html>"));
    let r = post(&sim, "team/get_info", Some(&sim.token), None, "");
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["retry_after"], 3);
    assert_eq!(
        post(&sim, "team/get_info", Some(&sim.token), None, "").status,
        200
    );
    assert_eq!(sim.calls("team/get_info"), 3);
}

#[test]
fn live_changes_arrive_on_schedule_some_late_and_are_served() {
    use tbx::sim::LiveSchedule;
    let sim = sim();
    let started = chrono::Utc::now();
    sim.start_live(LiveSchedule {
        every: Duration::from_secs(1),
        late_every: 3,
        late_hours: 3,
    });
    std::thread::sleep(Duration::from_millis(3_500));
    // A loaded machine may fall behind the timer; it still gets there.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while sim.added_changes().len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let added = sim.added_changes();
    assert!(added.len() >= 3, "{} added", added.len());
    let stamped = |e: &Value| utc(e["timestamp"].as_str().unwrap());
    let on_time = chrono::Utc::now() - chrono::Duration::seconds(60);
    let late: Vec<&Value> = added.iter().filter(|e| stamped(e) < on_time).collect();
    assert!(!late.is_empty(), "some are late: {added:#?}");
    assert!(late.iter().all(|e| {
        let hours_ago = (started - stamped(e)).num_minutes() as f64 / 60.0;
        (0.9..=3.1).contains(&hours_ago)
    }));
    assert!(added.len() - late.len() >= 2, "the rest are stamped now");
    let since = z(chrono::Utc::now() - chrono::Duration::days(1));
    let (served, ..) = page_all(
        &sim,
        json!({"limit": 100, "event_type": {".tag": "device_sync_backup_status_changed"},
               "time": {"start_time": since}}),
    );
    for event in &added {
        assert_eq!(
            event["event_type"][".tag"],
            "device_sync_backup_status_changed"
        );
        assert!(served.contains(event), "served: {event}");
    }
}
