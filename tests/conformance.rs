//! The simulator against the official Dropbox SDK's types (`dropbox-sdk`,
//! generated from the same Stone spec as the API; a dev-dependency only, no
//! HTTP client). Everything the simulator serves on the routes tbx uses,
//! fetched over HTTP on 127.0.0.1, decodes into the SDK's result and error
//! types, and no value uses an open union's catch-all tag; events, members
//! and devices built with the SDK's own structs flow through the real
//! command to the expected rows.

mod common;

use std::collections::BTreeSet;
use std::fmt::Debug;

use common::*;
use dropbox_sdk::types::{auth, team, team_log, users};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use tbx::sim::{Fault, SimConfig, SimHandle, SimTeam};

/// Tags the generator sends on purpose that the SDK does not know: future
/// values clients must tolerate. The SDK decodes them to its catch-all
/// variant, which its encoder refuses; nothing else may end up there.
const UNKNOWN_TAGS: [&str; 2] = ["paused_by_policy", "chromeos"];

struct Reply {
    status: u16,
    text: String,
}

async fn post(sim: &SimHandle, token: &str, route: &str, body: Value) -> Reply {
    let resp = reqwest::Client::new()
        .post(format!("{}/2/{route}", sim.base_url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    Reply {
        status: resp.status().as_u16(),
        text: resp.text().await.unwrap(),
    }
}

/// Decodes a body as sent (key order included: the SDK's union decoders
/// want `.tag` first), naming the path of the first field it rejects.
fn decode<T: DeserializeOwned>(what: &str, text: &str) -> T {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de)
        .unwrap_or_else(|e| panic!("{what}: the SDK rejects {}: {}", e.path(), e.inner()))
}

/// Every `.tag` value in a JSON value.
fn tags(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(t)) = map.get(".tag") {
                out.insert(t.clone());
            }
            map.values().for_each(|v| tags(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| tags(v, out)),
        _ => {}
    }
}

/// Checks one served item: the raw JSON never names the catch-all, and the
/// SDK value encodes again unless the item holds a tag of `UNKNOWN_TAGS`
/// (then it must not: the SDK still lacks it). Returns the problem, if any.
fn check_item<T: Serialize>(what: &str, raw: &Value, decoded: &T) -> Option<String> {
    let mut found = BTreeSet::new();
    tags(raw, &mut found);
    if found.contains("other") {
        return Some(format!("{what} sends the catch-all tag `other`: {raw}"));
    }
    let unknown: Vec<&str> = UNKNOWN_TAGS
        .into_iter()
        .filter(|t| found.contains(*t))
        .collect();
    match (serde_json::to_value(decoded), unknown.is_empty()) {
        (Ok(_), true) | (Err(_), false) => None,
        (Err(e), true) => Some(format!("{what} decodes to a catch-all ({e}): {raw}")),
        (Ok(_), false) => Some(format!(
            "{what}: the SDK now knows {unknown:?}; pick another unknown tag"
        )),
    }
}

/// The variant name of an SDK enum value (`Enabled`, `TeamMember`, ...).
fn variant<T: Debug>(v: &T) -> String {
    let text = format!("{v:?}");
    text.split(['(', ' ', '{']).next().unwrap_or("").to_string()
}

struct Served {
    problems: Vec<String>,
    /// What the decoded values cover, e.g. `client:Mac`, `actor:Admin`.
    seen: BTreeSet<String>,
}

impl Served {
    fn assert_clean(&self) {
        assert!(
            self.problems.is_empty(),
            "{} problem(s):\n{}",
            self.problems.len(),
            self.problems.join("\n")
        );
    }

    fn assert_seen(&self, expected: &[&str]) {
        let missing: Vec<&&str> = expected
            .iter()
            .filter(|k| !self.seen.contains(**k))
            .collect();
        assert!(missing.is_empty(), "the team lacks {missing:?}");
    }

    fn check<T: Serialize>(&mut self, what: String, raw: &Value, decoded: &T) {
        self.problems.extend(check_item(&what, raw, decoded));
    }
}

async fn all_events(sim: &SimHandle, served: &mut Served) -> usize {
    let mut reply = post(
        sim,
        &sim.token,
        "team_log/get_events",
        json!({"limit": 1000}),
    )
    .await;
    let mut count = 0;
    loop {
        assert_eq!(reply.status, 200, "{}", reply.text);
        let page: team_log::GetTeamEventsResult = decode("team_log/get_events", &reply.text);
        let raw: Value = serde_json::from_str(&reply.text).unwrap();
        for (event, raw) in page.events.iter().zip(raw["events"].as_array().unwrap()) {
            let what = format!("event {} {}", raw["timestamp"], raw["event_type"][".tag"]);
            served.check(what, raw, event);
            note_event(event, &mut served.seen);
            count += 1;
        }
        if !page.has_more {
            return count;
        }
        let body = json!({"cursor": page.cursor});
        reply = post(sim, &sim.token, "team_log/get_events/continue", body).await;
    }
}

fn note_event(event: &team_log::TeamEvent, seen: &mut BTreeSet<String>) {
    seen.insert(format!("details:{}", variant(&event.details)));
    let actor = event.actor.as_ref().map_or("none".into(), variant);
    seen.insert(format!("actor:{actor}"));
    if let team_log::EventDetails::DeviceSyncBackupStatusChangedDetails(d) = &event.details {
        seen.insert(format!("new_value:{}", variant(&d.new_value)));
        let info = &d.desktop_device_session_info;
        seen.insert(format!("log_client:{}", variant(&info.client_type)));
        let id = info.session_info.as_ref().map(|s| s.session_id.is_some());
        seen.insert(format!("session_id:{id:?}"));
    }
}

async fn all_devices(sim: &SimHandle, served: &mut Served) {
    let mut body = json!({});
    loop {
        let route = "team/devices/list_members_devices";
        let reply = post(sim, &sim.token, route, body).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let page: team::ListMembersDevicesResult = decode(route, &reply.text);
        let raw: Value = serde_json::from_str(&reply.text).unwrap();
        for (member, raw) in page.devices.iter().zip(raw["devices"].as_array().unwrap()) {
            served.check(format!("devices of {}", member.team_member_id), raw, member);
            for d in member.desktop_clients.iter().flatten() {
                served
                    .seen
                    .insert(format!("client:{}", variant(&d.client_type)));
            }
            for m in member.mobile_clients.iter().flatten() {
                served
                    .seen
                    .insert(format!("mobile:{}", variant(&m.client_type)));
            }
            if member.web_sessions.as_ref().is_some_and(|w| !w.is_empty()) {
                served.seen.insert("web".into());
            }
        }
        match (page.has_more, page.cursor) {
            (true, Some(cursor)) => body = json!({"cursor": cursor}),
            (more, cursor) => {
                assert!(!more, "has_more without a cursor");
                assert!(cursor.is_none(), "cursor on the last page");
                return;
            }
        }
    }
}

/// `list_v2` + `continue_v2` in small pages; returns every member's id.
async fn all_members(sim: &SimHandle, served: &mut Served) -> Vec<String> {
    let mut reply = post(sim, &sim.token, "team/members/list_v2", json!({"limit": 7})).await;
    let mut ids = Vec::new();
    loop {
        assert_eq!(reply.status, 200, "{}", reply.text);
        let page: team::MembersListV2Result = decode("team/members/list_v2", &reply.text);
        let raw: Value = serde_json::from_str(&reply.text).unwrap();
        for (member, raw) in page.members.iter().zip(raw["members"].as_array().unwrap()) {
            served.check(format!("member {}", member.profile.email), raw, member);
            let status = variant(&member.profile.status);
            served.seen.insert(format!("status:{status}"));
            ids.push(member.profile.team_member_id.clone());
        }
        if !page.has_more {
            return ids;
        }
        let body = json!({"cursor": page.cursor});
        reply = post(sim, &sim.token, "team/members/list/continue_v2", body).await;
    }
}

async fn members_get_info(sim: &SimHandle, ids: &[String], served: &mut Served) {
    let mut selectors: Vec<Value> = ids
        .iter()
        .map(|id| json!({".tag": "team_member_id", "team_member_id": id}))
        .collect();
    selectors.push(json!({".tag": "email", "email": "nobody@example.com"}));
    let route = "team/members/get_info_v2";
    let reply = post(sim, &sim.token, route, json!({"members": selectors})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let result: team::MembersGetInfoV2Result = decode(route, &reply.text);
    let raw: Value = serde_json::from_str(&reply.text).unwrap();
    let items = raw["members_info"].as_array().unwrap();
    for (item, raw) in result.members_info.iter().zip(items) {
        served.check(format!("get_info_v2 item {}", variant(item)), raw, item);
        served.seen.insert(format!("get_info:{}", variant(item)));
    }
    assert_eq!(result.members_info.len(), ids.len() + 1);
}

/// Every body the simulator serves on tbx's routes, over a generated team
/// with every variant the generator makes, decodes into the SDK's types;
/// only the deliberately unknown tags decode to a catch-all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_decodes_into_the_sdk_types() {
    let team = team(150, 13);
    let total_events = team.events.len();
    let sim = tbx::sim::start(team, SimConfig::default(), 0)
        .await
        .unwrap();
    let mut served = Served {
        problems: Vec::new(),
        seen: BTreeSet::new(),
    };

    let reply = post(&sim, &sim.token, "team/get_info", Value::Null).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let info: team::TeamGetInfoResult = decode("team/get_info", &reply.text);
    let raw: Value = serde_json::from_str(&reply.text).unwrap();
    served.check("team/get_info".into(), &raw, &info);

    assert_eq!(all_events(&sim, &mut served).await, total_events);
    all_devices(&sim, &mut served).await;
    all_members(&sim, &mut served).await;
    served.assert_clean();
    let expected = [
        "actor:Admin",
        "actor:Dropbox",
        "actor:User",
        "actor:none",
        "client:Linux",
        "client:Mac",
        "client:Other",
        "client:Windows",
        "details:DeviceChangeIpDesktopDetails",
        "details:DeviceLinkSuccessDetails",
        "details:DeviceSyncBackupStatusChangedDetails",
        "details:FileDownloadDetails",
        "details:LoginSuccessDetails",
        "details:MissingDetails",
        "details:SharedLinkCreateDetails",
        "log_client:Linux",
        "log_client:Mac",
        "log_client:Other",
        "log_client:Windows",
        "mobile:Iphone",
        "new_value:Disabled",
        "new_value:Enabled",
        "new_value:Other",
        "session_id:None",
        "session_id:Some(false)",
        "session_id:Some(true)",
        "status:Active",
        "status:Invited",
        "status:Suspended",
        "web",
    ];
    served.assert_seen(&expected);
}

/// `get_info_v2` items: the simulator appends `.tag` after the stored
/// member's fields (src/sim/routes.rs, `members_get_info`), and the SDK's
/// union decoders read `.tag` as the first key, as Dropbox sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_get_info_v2_items_decode_into_the_sdk_types() {
    let sim = tbx::sim::start(team(40, 13), SimConfig::default(), 0)
        .await
        .unwrap();
    let mut served = Served {
        problems: Vec::new(),
        seen: BTreeSet::new(),
    };
    let ids = all_members(&sim, &mut served).await;
    members_get_info(&sim, &ids, &mut served).await;
    served.assert_clean();
    served.assert_seen(&["get_info:IdNotFound", "get_info:MemberInfo"]);
}

/// Sends one request and decodes its 409 body's `error` as the route's
/// SDK error union; returns its variant name.
async fn route_error<T: DeserializeOwned + Debug>(sim: &SimHandle, route: &str, body: Value) -> T {
    let reply = post(sim, &sim.token, route, body).await;
    assert_eq!(reply.status, 409, "{route}: {}", reply.text);
    decode_error(route, &reply.text)
}

fn decode_error<T: DeserializeOwned>(route: &str, text: &str) -> T {
    let raw: Value = serde_json::from_str(text).unwrap();
    assert!(raw["error_summary"].is_string(), "{route}: {text}");
    decode(route, &raw["error"].to_string())
}

/// The documented 409, 401 and 429 bodies decode into the SDK's error types,
/// each to the variant the contract names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_bodies_decode_into_the_sdk_error_types() {
    let sim = tbx::sim::start(team(12, 3), SimConfig::default(), 0)
        .await
        .unwrap();
    let time = json!({"start_time": "2026-06-02T00:00:00Z", "end_time": "2026-06-01T00:00:00Z"});
    let e: team_log::GetTeamEventsError =
        route_error(&sim, "team_log/get_events", json!({"time": time})).await;
    assert_eq!(e, team_log::GetTeamEventsError::InvalidTimeRange);
    let filters = json!({"category": "devices", "event_type": "device_link_success"});
    let e: team_log::GetTeamEventsError = route_error(&sim, "team_log/get_events", filters).await;
    assert_eq!(e, team_log::GetTeamEventsError::InvalidFilters);
    let account = json!({"account_id": format!("dbid:{}", "A".repeat(35))});
    let e: team_log::GetTeamEventsError = route_error(&sim, "team_log/get_events", account).await;
    assert_eq!(e, team_log::GetTeamEventsError::AccountIdNotFound);

    let garbage = json!({"cursor": "not-a-cursor"});
    let e: team_log::GetTeamEventsContinueError =
        route_error(&sim, "team_log/get_events/continue", garbage.clone()).await;
    assert_eq!(e, team_log::GetTeamEventsContinueError::BadCursor);
    let reset = Fault::RouteError {
        tag: "reset".into(),
        value: Some(json!("2026-06-01T10:00:00Z")),
    };
    sim.inject("team_log/get_events/continue", 1, reset);
    let e: team_log::GetTeamEventsContinueError =
        route_error(&sim, "team_log/get_events/continue", garbage.clone()).await;
    assert_eq!(
        e,
        team_log::GetTeamEventsContinueError::Reset("2026-06-01T10:00:00Z".into())
    );
    let e: team::ListMembersDevicesError =
        route_error(&sim, "team/devices/list_members_devices", garbage.clone()).await;
    assert_eq!(e, team::ListMembersDevicesError::Reset);
    let e: team::MembersListContinueError =
        route_error(&sim, "team/members/list/continue_v2", garbage).await;
    assert_eq!(e, team::MembersListContinueError::InvalidCursor);

    auth_and_rate_limit_errors(&sim).await;
}

async fn auth_and_rate_limit_errors(sim: &SimHandle) {
    let route = "team/get_info";
    let reply = post(sim, "sl.sim.unknown", route, Value::Null).await;
    assert_eq!(reply.status, 401);
    let e: auth::AuthError = decode_error(route, &reply.text);
    assert_eq!(e, auth::AuthError::InvalidAccessToken);
    let narrow = sim.issue_token(&["events.read"], std::time::Duration::from_secs(60));
    let reply = post(sim, &narrow, route, Value::Null).await;
    assert_eq!(reply.status, 401);
    let e: auth::AuthError = decode_error(route, &reply.text);
    assert_eq!(
        e,
        auth::AuthError::MissingScope(auth::TokenScopeError::new("team_info.read".into()))
    );
    let expired = sim.issue_token(&["team_info.read"], std::time::Duration::ZERO);
    let reply = post(sim, &expired, route, Value::Null).await;
    let e: auth::AuthError = decode_error(route, &reply.text);
    assert_eq!(e, auth::AuthError::ExpiredAccessToken);

    let limited = Fault::RateLimited {
        retry_after: Some(3),
        text_body: false,
        write_operations: false,
    };
    sim.inject(route, 1, limited);
    let reply = post(sim, &sim.token, route, Value::Null).await;
    assert_eq!(reply.status, 429);
    let e: auth::RateLimitError = decode_error(route, &reply.text);
    assert_eq!(e.reason, auth::RateLimitReason::TooManyRequests);
    assert_eq!(e.retry_after, 3);
}

// ---- SDK-built team through the real command ----

const T0: &str = "2026-06-10T08:00:00Z";

fn member(n: u32, given: &str, surname: &str) -> team::TeamMemberInfoV2 {
    let display = format!("{given} {surname}");
    let name = users::Name::new(
        given.into(),
        surname.into(),
        given.into(),
        display,
        format!("{}{}", &given[..1], &surname[..1]),
    );
    let profile = team::TeamMemberProfile::new(
        format!("dbmid:AAsdk-member-{n:021}"),
        format!(
            "{}.{}@example.com",
            given.to_lowercase(),
            surname.to_lowercase()
        ),
        true,
        team::TeamMemberStatus::Active,
        name,
        team::TeamMembershipType::Full,
        vec![],
        format!("30100000{n}"),
        "3010000000".into(),
    )
    .with_account_id(format!("dbid:AAsdk-account-{n:026}"));
    team::TeamMemberInfoV2::new(profile)
}

struct Client {
    session: &'static str,
    host: &'static str,
    platform: team::DesktopPlatform,
    os: &'static str,
}

fn client(session: &'static str, host: &'static str, platform: team::DesktopPlatform) -> Client {
    let os = match platform {
        team::DesktopPlatform::Mac => "macOS 15.1",
        team::DesktopPlatform::Linux => "Ubuntu 24.04 LTS",
        _ => "Windows 11 Pro",
    };
    Client {
        session,
        host,
        platform,
        os,
    }
}

fn listed(c: &Client) -> team::DesktopClientSession {
    team::DesktopClientSession::new(
        c.session.into(),
        c.host.into(),
        c.platform.clone(),
        "230.4.5421".into(),
        c.os.into(),
        true,
    )
    .with_ip_address("203.0.113.24".into())
    .with_updated("2026-06-30T17:41:05Z".into())
}

fn log_member(m: &team::TeamMemberInfoV2) -> team_log::TeamMemberLogInfo {
    team_log::TeamMemberLogInfo::default()
        .with_account_id(m.profile.account_id.clone().unwrap())
        .with_display_name(m.profile.name.display_name.clone())
        .with_email(m.profile.email.clone())
        .with_team_member_id(m.profile.team_member_id.clone())
}

/// A backup change built with the SDK's structs; `actor` None leaves it out.
fn change(
    at: &str,
    owner: &team::TeamMemberInfoV2,
    actor: Option<team_log::ActorLogInfo>,
    c: &Client,
    new: team_log::BackupStatus,
) -> team_log::TeamEvent {
    let previous = match new {
        team_log::BackupStatus::Enabled => team_log::BackupStatus::Disabled,
        _ => team_log::BackupStatus::Enabled,
    };
    let info = team_log::DesktopDeviceSessionLogInfo::new(
        c.host.into(),
        c.platform.clone(),
        c.os.into(),
        true,
    )
    .with_session_info(team_log::DesktopSessionLogInfo::default().with_session_id(c.session.into()))
    .with_client_version("230.4.5421".into());
    let details = team_log::DeviceSyncBackupStatusChangedDetails::new(info, previous, new);
    let kind = team_log::DeviceSyncBackupStatusChangedType::new(
        "(devices) Enabled/disabled backup for computer".into(),
    );
    let mut event = team_log::TeamEvent::new(
        at.into(),
        team_log::EventCategory::Devices,
        team_log::EventType::DeviceSyncBackupStatusChanged(kind),
        team_log::EventDetails::DeviceSyncBackupStatusChangedDetails(details),
    )
    .with_context(team_log::ContextLogInfo::TeamMember(log_member(owner)));
    event.actor = actor;
    event
}

/// The SDK's encoding of a value. `to_value` writes what `to_string` would
/// (same order, `.tag` first) and shares its code with the re-encoding check
/// above: each more serializer instantiates the SDK's whole encoder again,
/// seconds of compile time.
fn as_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

/// Members, devices and events built with the SDK's types and serialized by
/// its encoder, served by the simulator, reported by the real command.
#[test]
fn sdk_serialized_events_flow_through_to_the_expected_rows() {
    use team::DesktopPlatform::{Linux, Mac, Windows};
    use team_log::BackupStatus::{Disabled, Enabled};
    let (mary, tom) = (member(1, "Mary", "Lamb"), member(2, "Tom", "Brown"));
    let work = client("dbdsid:AAsdk-work", "LAPTOP-MLAMB", Windows);
    let laptop = client("dbdsid:AAsdk-mac", "Marys-MacBook-Pro", Mac);
    let station = client("dbdsid:AAsdk-linux", "ws-tom.corp.example.com", Linux);
    let gone = client("dbdsid:AAsdk-gone", "OLD-PC", Windows);
    let user = |m: &team::TeamMemberInfoV2| {
        Some(team_log::ActorLogInfo::User(
            team_log::UserLogInfo::TeamMember(log_member(m)),
        ))
    };
    let admin = Some(team_log::ActorLogInfo::Admin(
        team_log::UserLogInfo::TeamMember(log_member(&tom)),
    ));
    // Log order is not time order: the later change to `work` comes first.
    let events = [
        change("2026-06-12T09:00:00Z", &mary, admin, &work, Disabled),
        change(T0, &mary, user(&mary), &work, Enabled),
        change("2026-06-11T07:30:00Z", &tom, None, &station, Disabled),
        // A same-second tie: the later one in log order wins.
        change("2026-06-11T07:30:00Z", &tom, user(&tom), &station, Enabled),
        change("2026-06-13T10:00:00Z", &mary, user(&mary), &gone, Enabled),
    ];
    let devices = [
        team::MemberDevices::new(mary.profile.team_member_id.clone())
            .with_desktop_clients(vec![listed(&work), listed(&laptop)]),
        team::MemberDevices::new(tom.profile.team_member_id.clone())
            .with_desktop_clients(vec![listed(&station)]),
    ];
    let team = SimTeam {
        name: "SDK Corp".into(),
        team_id: "dbtid:AAsdk-team".into(),
        num_licensed_users: Some(10),
        members: [&mary, &tom].map(as_json).to_vec(),
        devices: devices.iter().map(as_json).collect(),
        events: events.iter().map(as_json).collect(),
    };
    let expected = expected_rows(&team, utc("2026-06-01T00:00:00Z"), None);
    let sim = start(team);
    let run = run(&sim, &status_args(&["-start-time", "2026-06-01T00:00:00Z"]));
    assert_eq!(run.code(), 0, "stderr: {}", run.stderr());
    assert_reports_match(&run, &expected);

    let json = std::fs::read_to_string(run.reports().join("devices.json")).unwrap();
    let got: Vec<[String; 5]> = read_json_lines(&json)
        .iter()
        .map(|r| {
            let cell = |k: &str| r[k].as_str().unwrap().to_string();
            [
                cell("actor_user_email"),
                cell("session_info_host_name"),
                cell("session_info_client_type"),
                cell("timestamp"),
                cell("latest_status"),
            ]
        })
        .collect();
    let row = |e: &str, h: &str, c: &str, t: &str, s: &str| [e, h, c, t, s].map(String::from);
    assert_eq!(
        got,
        [
            row(
                "mary.lamb@example.com",
                "LAPTOP-MLAMB",
                "windows",
                "2026-06-12T09:00:00Z",
                "disabled"
            ),
            row(
                "mary.lamb@example.com",
                "Marys-MacBook-Pro",
                "mac",
                "",
                "no_status_update"
            ),
            row(
                "tom.brown@example.com",
                "ws-tom.corp.example.com",
                "linux",
                "2026-06-11T07:30:00Z",
                "enabled"
            ),
        ]
    );
}
