//! A server that misbehaves in ways a faithful simulator must not: listings
//! that never end, an endless body, no answer at all, invalid text. It is a
//! small axum app on 127.0.0.1 over real HTTP, serving a one-member team
//! otherwise; the real binary runs against it where the timing allows, the
//! library transport with short limits where it does not (60 s timeouts).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tbx::domain::period::Period;
use tbx::dropbox::auth::tokens::TokenSource;
use tbx::dropbox::auth::{AccessToken, ApiBase};
use tbx::dropbox::bandwidth::Bandwidth;
use tbx::dropbox::{devices, team_log, ApiError, Transport, TransportConfig};

/// What the server does wrong.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// `continue` gives back the cursor it was sent, with `has_more`.
    EventsSameCursor,
    /// `continue` gives a new cursor and no events, forever.
    EventsEmptyForever,
    DevicesSameCursor,
    DevicesEmptyForever,
    MembersSameCursor,
    /// `get_events` answers 200 and then sends whitespace forever.
    EndlessBody,
    /// Lone surrogate escapes and bytes that are not UTF-8 in one field
    /// each of the device listing, the member and the event.
    InvalidText,
    /// `team/get_info` is accepted and never answered.
    NeverAnswers,
    /// `team/get_info` answers 200 and then one byte every 50 ms, forever.
    Trickles,
    /// An honest `team/get_info` of 2 KiB in three pieces: 1 KiB, 512 B,
    /// and the rest 600 ms later.
    InPieces,
}

struct Hostile {
    base_url: String,
    calls: Arc<Mutex<BTreeMap<String, u64>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Hostile {
    fn start(mode: Mode, members: usize) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let calls = Arc::new(Mutex::new(BTreeMap::new()));
        let counter = Arc::clone(&calls);
        let app = Router::new().fallback(move |uri: Uri, body: Bytes| {
            let calls = Arc::clone(&counter);
            async move { answer(mode, members, &calls, &uri, &body).await }
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            base_url,
            calls,
            _runtime: runtime,
        }
    }

    fn calls(&self, route: &str) -> u64 {
        self.calls.lock().unwrap().get(route).copied().unwrap_or(0)
    }

    /// Runs `tbx dropbox team backup device status` against this server.
    fn run(&self, extra: &[&str]) -> Run {
        let mut args = vec![
            "-start-time",
            "2026-06-01",
            "-end-time",
            "2026-07-01",
            "-output",
            "none",
            "-concurrency",
            "1",
        ];
        args.extend_from_slice(extra);
        run_with(
            None,
            &status_args(&args),
            &[
                ("TOOLBOX_DROPBOX_API_URL", self.base_url.as_str()),
                ("TOOLBOX_DROPBOX_TOKEN", "hostile-token"),
            ],
        )
    }

    fn transport(&self, tune: impl FnOnce(&mut TransportConfig)) -> Transport {
        let base = ApiBase::parse(&self.base_url).unwrap();
        let tokens = Arc::new(TokenSource::fixed(
            AccessToken::new("t".to_string()),
            "default",
        ));
        let mut config = TransportConfig::new(base, tokens);
        config.retry_base = Duration::from_millis(5);
        tune(&mut config);
        Transport::new(config).unwrap()
    }
}

fn json_response(value: &Value) -> Response {
    json_text(value.to_string())
}

fn json_text(text: String) -> Response {
    ([("content-type", "application/json")], text).into_response()
}

async fn answer(
    mode: Mode,
    members: usize,
    calls: &Mutex<BTreeMap<String, u64>>,
    uri: &Uri,
    body: &[u8],
) -> Response {
    let route = uri.path().trim_start_matches("/2/").to_string();
    let call = {
        let mut calls = calls.lock().unwrap();
        let n = calls.entry(route.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let arg: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match (route.as_str(), mode) {
        ("team/get_info", Mode::NeverAnswers) => std::future::pending().await,
        ("team/get_info", Mode::Trickles) => {
            let drip = futures_util::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((Ok::<_, std::io::Error>(Bytes::from_static(b" ")), ()))
            });
            Body::from_stream(drip).into_response()
        }
        ("team/get_info", Mode::InPieces) => {
            let text = json!({"name": "x".repeat(2000), "team_id": "dbtid:hostile"}).to_string();
            let bytes = Bytes::from(text);
            let pieces = vec![
                (0, bytes.slice(..1024)),
                (0, bytes.slice(1024..1536)),
                (600, bytes.slice(1536..)),
            ];
            let stream = futures_util::stream::iter(pieces).then(|(delay, piece)| async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                Ok::<_, std::io::Error>(piece)
            });
            Body::from_stream(stream).into_response()
        }
        ("team/get_info", _) => json_response(&json!({
            "name": "Hostile Corp", "team_id": "dbtid:hostile",
            "num_licensed_users": members, "num_provisioned_users": members,
        })),
        ("team/devices/list_members_devices", _) => devices_page(mode, members, call, &arg),
        ("team/members/get_info_v2", _) => member_infos(mode, &arg),
        ("team/members/list_v2" | "team/members/list/continue_v2", _) => {
            let first = route.ends_with("list_v2");
            let looping = mode == Mode::MembersSameCursor;
            let listed: Vec<Value> = if first {
                (0..members)
                    .map(|i| member(i, mode == Mode::InvalidText))
                    .collect()
            } else {
                Vec::new()
            };
            let text = json!({"members": listed, "cursor": "members-loop", "has_more": looping});
            json_text(text.to_string().replace("@SURROGATE@", r"\ud800"))
        }
        ("team_log/get_events", Mode::EndlessBody) => {
            let spaces = Bytes::from(vec![b' '; 64 * 1024]);
            let endless = futures_util::stream::repeat(spaces).map(Ok::<_, std::io::Error>);
            Body::from_stream(endless).into_response()
        }
        ("team_log/get_events" | "team_log/get_events/continue", _) => {
            events_page(mode, &route, call)
        }
        _ => (StatusCode::NOT_FOUND, "no such route").into_response(),
    }
}

fn devices_page(mode: Mode, members: usize, call: u64, arg: &Value) -> Response {
    let first = arg.get("cursor").is_none();
    let clients: Vec<Value> = (0..members)
        .map(|i| {
            let host = if mode == Mode::InvalidText {
                r"PC-\ud800"
            } else {
                "PC"
            };
            let raw = format!(
                r#"{{"team_member_id": "dbmid:m{i}", "desktop_clients": [{{"session_id": "dbdsid:s{i}",
                "host_name": "{host}{i}", "client_type": {{".tag": "windows"}}, "client_version": "200.1",
                "platform": "Windows 11", "is_delete_on_unlink_supported": true}}]}}"#
            );
            serde_json::from_str(&raw.replace(r"\ud800", "@SURROGATE@")).unwrap()
        })
        .collect();
    let (listed, cursor, has_more) = match mode {
        Mode::DevicesSameCursor if first => (clients, "devices-loop".to_string(), true),
        Mode::DevicesSameCursor => (Vec::new(), "devices-loop".to_string(), true),
        Mode::DevicesEmptyForever if first => (clients, "d0".to_string(), true),
        Mode::DevicesEmptyForever => (Vec::new(), format!("d{call}"), true),
        _ => (clients, "d-end".to_string(), false),
    };
    let text = json!({"devices": listed, "has_more": has_more, "cursor": cursor}).to_string();
    // serde_json cannot hold a lone surrogate: it goes in as text.
    json_text(text.replace("@SURROGATE@", r"\ud800"))
}

fn member(i: usize, invalid_text: bool) -> Value {
    let name = if invalid_text {
        "Ann @SURROGATE@"
    } else {
        "Ann"
    };
    json!({"profile": {"team_member_id": format!("dbmid:m{i}"), "email": format!("m{i}@example.com"),
        "name": {"display_name": name}, "status": {".tag": "active"}}, "roles": []})
}

fn member_infos(mode: Mode, arg: &Value) -> Response {
    let infos: Vec<Value> = arg["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|selector| {
            let id = selector["team_member_id"].as_str().unwrap_or_default();
            let i: usize = id.trim_start_matches("dbmid:m").parse().unwrap_or(0);
            let mut info = member(i, mode == Mode::InvalidText);
            info[".tag"] = json!("member_info");
            info
        })
        .collect();
    let text = json!({"members_info": infos}).to_string();
    json_text(text.replace("@SURROGATE@", r"\ud800"))
}

fn events_page(mode: Mode, route: &str, call: u64) -> Response {
    let first = route == "team_log/get_events";
    match mode {
        Mode::EventsSameCursor => {
            json_response(&json!({"events": [], "cursor": "events-loop", "has_more": true}))
        }
        Mode::EventsEmptyForever => {
            let cursor = if first {
                "e0".to_string()
            } else {
                format!("e{call}")
            };
            json_response(&json!({"events": [], "cursor": cursor, "has_more": true}))
        }
        Mode::InvalidText => {
            let event = r#"{"timestamp": "2026-06-15T10:00:00Z", "event_category": {".tag": "devices"},
              "actor": {".tag": "user", "user": {".tag": "team_member", "team_member_id": "dbmid:m0",
                "display_name": "Ann \ud800", "email": "m0@example.com"}},
              "context": {".tag": "team_member", "team_member_id": "dbmid:m0",
                "display_name": "Ann \ud800", "email": "m0@example.com"},
              "event_type": {".tag": "device_sync_backup_status_changed", "description": "x"},
              "details": {".tag": "device_sync_backup_status_changed_details",
                "desktop_device_session_info": {".tag": "desktop_device_session",
                  "session_info": {".tag": "desktop", "session_id": "dbdsid:s0"},
                  "host_name": "PC-\ud800 @BAD@", "client_type": {".tag": "windows"}, "platform": "Windows 11"},
                "previous_value": {".tag": "disabled"}, "new_value": {".tag": "enabled"}}}"#;
            let text = format!(r#"{{"events": [{event}], "cursor": "e-end", "has_more": false}}"#);
            // A byte that is not UTF-8, straight in the body.
            let mut bytes = text.into_bytes();
            let at = bytes.windows(5).position(|w| w == b"@BAD@").unwrap();
            bytes.splice(at..at + 5, [0xff]);
            ([("content-type", "application/json")], bytes).into_response()
        }
        _ => json_response(&json!({"events": [], "cursor": "e-end", "has_more": false})),
    }
}

/// Checks a failed run: exit 8, one error line naming the route, no report.
fn assert_failed_naming(run: &Run, needle: &str) {
    assert_eq!(run.code(), 8, "{}", run.stderr());
    let stderr = run.stderr();
    assert!(stderr.contains(needle), "{stderr}");
    assert!(
        !run.reports().join("devices.json").exists(),
        "no report may be left"
    );
}

#[test]
fn an_events_cursor_given_back_with_has_more_fails_at_once() {
    let server = Hostile::start(Mode::EventsSameCursor, 1);
    let started = Instant::now();
    let run = server.run(&[]);
    assert_failed_naming(
        &run,
        "team_log/get_events/continue: the listing never ends (it returned a cursor it had given before",
    );
    assert_eq!(server.calls("team_log/get_events/continue"), 1);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn endless_empty_event_pages_stop_at_the_configured_bound() {
    // 10,000 by default; the real binary makes about 300 calls a second in
    // a debug build, so the bound is lowered here.
    let server = Hostile::start(Mode::EventsEmptyForever, 1);
    let transport = server.transport(|c| c.max_empty_pages = 50);
    let period = Period {
        start: utc("2026-06-01T00:00:00Z"),
        end: Some(utc("2026-07-01T00:00:00Z")),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(team_log::scan_backup_changes(
            &transport,
            &period,
            1,
            chrono::Utc::now(),
            |_, _| async { true },
        ))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "team_log/get_events/continue: the listing never ends \
         (over 50 empty pages in a row with has_more); giving up"
    );
    // The first page and 50 continuations: 51 empty pages, one too many.
    assert_eq!(server.calls("team_log/get_events/continue"), 50);
}

#[test]
fn a_device_cursor_given_back_with_has_more_fails_at_once() {
    let server = Hostile::start(Mode::DevicesSameCursor, 1);
    let run = server.run(&[]);
    assert_failed_naming(
        &run,
        "team/devices/list_members_devices: the listing never ends (it returned a cursor",
    );
    assert_eq!(server.calls("team/devices/list_members_devices"), 2);
}

#[test]
fn endless_empty_device_pages_stop_at_the_configured_bound() {
    let server = Hostile::start(Mode::DevicesEmptyForever, 1);
    let transport = server.transport(|c| c.max_empty_pages = 50);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(devices::list_desktop_clients(&transport, |_| {}))
        .unwrap_err();
    assert!(matches!(err, ApiError::EndlessListing { .. }), "{err:?}");
    assert!(err.to_string().contains("over 50 empty pages"), "{err}");
    // The first page, then 50 empty ones, then the one over the bound.
    assert_eq!(server.calls("team/devices/list_members_devices"), 52);
}

#[test]
fn a_member_cursor_given_back_with_has_more_fails_at_once() {
    // 150 owners in a team of 150: listing the members is cheaper.
    let server = Hostile::start(Mode::MembersSameCursor, 150);
    let run = server.run(&[]);
    assert_failed_naming(
        &run,
        "team/members/list/continue_v2: the listing never ends (it returned a cursor",
    );
    assert_eq!(server.calls("team/members/list_v2"), 1);
    assert_eq!(server.calls("team/members/list/continue_v2"), 1);
}

#[test]
fn an_endless_body_is_cut_at_64_mib() {
    let server = Hostile::start(Mode::EndlessBody, 1);
    let started = Instant::now();
    let run = server.run(&[]);
    assert_failed_naming(&run, "response of team_log/get_events exceeds 64 MiB");
    // Not retried: the same server would send the same body.
    assert_eq!(server.calls("team_log/get_events"), 1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// `team/get_info` through the library transport with limits `tune` sets:
/// the error, and how long it took to come.
fn get_info_failure(
    server: &Hostile,
    tune: impl FnOnce(&mut TransportConfig),
) -> (String, Duration) {
    let transport = server.transport(tune);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let err = rt
        .block_on(transport.rpc_void::<Value>("team/get_info"))
        .unwrap_err();
    (err.to_string(), started.elapsed())
}

#[test]
fn a_server_that_never_answers_times_out_within_the_budget() {
    // 60 s and about 3 minutes by default; scaled down 300 times.
    let server = Hostile::start(Mode::NeverAnswers, 1);
    let (err, elapsed) = get_info_failure(&server, |c| {
        c.read_timeout = Duration::from_millis(200);
        c.timeout_budget = Duration::from_millis(600);
    });
    assert_eq!(
        err,
        "timed out after 0.2 s waiting for team/get_info (3 attempts); giving up"
    );
    assert_eq!(server.calls("team/get_info"), 3);
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn a_body_that_trickles_in_is_bounded_by_the_attempt_timeout() {
    let server = Hostile::start(Mode::Trickles, 1);
    let (err, elapsed) = get_info_failure(&server, |c| {
        c.read_timeout = Duration::from_millis(300);
        c.attempt_timeout = Duration::from_millis(500);
        c.timeout_budget = Duration::from_millis(900);
    });
    assert_eq!(
        err,
        "timed out after 0.5 s reading the response of team/get_info (2 attempts); giving up"
    );
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn bandwidth_waits_do_not_count_against_the_attempt_timeout() {
    let server = Hostile::start(Mode::InPieces, 1);
    let transport = server.transport(|c| {
        // 1 KiB a second, the first second's worth at once: the second
        // piece waits 0.5 s, so the last one is awaited after 300 ms; the
        // attempt itself has not used 300 ms.
        c.bandwidth = Some(Arc::new(Bandwidth::new(1)));
        c.attempt_timeout = Duration::from_millis(300);
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let info: Value = rt.block_on(transport.rpc_void("team/get_info")).unwrap();
    assert_eq!(info["team_id"], "dbtid:hostile");
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert_eq!(server.calls("team/get_info"), 1);
}

#[test]
fn the_default_limits_are_the_documented_ones() {
    let server = Hostile::start(Mode::NeverAnswers, 1);
    let mut seen = None;
    server.transport(|c| {
        seen = Some((
            c.connect_timeout,
            c.read_timeout,
            c.timeout_budget,
            c.max_response_bytes,
            c.max_empty_pages,
        ))
    });
    assert_eq!(
        seen,
        Some((
            Duration::from_secs(10),
            Duration::from_secs(60),
            Duration::from_secs(180),
            64 * 1024 * 1024,
            10_000
        ))
    );
}

#[test]
fn invalid_text_in_one_field_is_replaced_and_the_run_goes_on() {
    let server = Hostile::start(Mode::InvalidText, 1);
    let run = server.run(&["-reports", "history"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let rows =
        read_json_lines(&std::fs::read_to_string(run.reports().join("devices.json")).unwrap());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["session_info_host_name"], "PC-\u{fffd}0");
    assert_eq!(rows[0]["actor_user_display_name"], "Ann \u{fffd}");
    assert_eq!(rows[0]["latest_status"], "enabled");
    let history = std::fs::read_to_string(run.reports().join("history.json")).unwrap();
    assert!(history.contains("PC-\u{fffd} \u{fffd}"), "{history}");
    let log = read_log(&job_dir(run.home.path()), "toolbox.log");
    // A team this small lists its members (one call) rather than look
    // owners up.
    for route in [
        "team/devices/list_members_devices",
        "team/members/list_v2",
        "team_log/get_events",
    ] {
        let warned = log.lines().any(|line| {
            line.contains(r#""level":"warn""#)
                && line.contains(&format!(
                    r#""warning":"{route}: the response held invalid text"#
                ))
        });
        assert!(warned, "no warning for {route} in {log}");
    }
}
