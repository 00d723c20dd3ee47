//! Late arrivals: Dropbox delivers an action to the audit log within a few
//! hours, at most 24, so a listing can meet an event stamped long before
//! earlier listings ran. The simulator appends such backup status changes
//! to the end of its log while it runs: from tests (`SimHandle`), from the
//! test-only route `POST /__sim/late_backup_change`, every n-th
//! `team_log/get_events` call (`-late-every`, `-late-hours`), or on a timer
//! (`live`, `-live`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::team::{IndexedEvent, Sym};
use super::Sim;
use crate::domain::period::{format_dropbox_time, parse_dropbox_time};

const BACKUP_CHANGE: &str = "device_sync_backup_status_changed";

/// A backup status change to append. It copies the session's latest
/// change, moved to `timestamp`, from that change's new status to
/// `new_value` (default: the other of enabled and disabled).
#[derive(Debug, Clone)]
pub struct LateChange {
    /// The desktop session; default: the linked ones with a backup
    /// history, in turn.
    pub session_id: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub new_value: Option<String>,
}

fn session_of(event: &Value) -> Option<&str> {
    event["details"]["desktop_device_session_info"]["session_info"]["session_id"].as_str()
}

/// Session ids of the linked desktop clients, in listing order.
fn linked_sessions(sim: &Sim) -> Vec<String> {
    sim.team
        .devices
        .iter()
        .filter_map(|d| d["desktop_clients"].as_array())
        .flatten()
        .filter_map(|c| c["session_id"].as_str().map(str::to_string))
        .collect()
}

/// Just the session id of a backup status change, read from its stored text
/// without building the rest.
#[derive(Deserialize)]
struct SessionOf<'a> {
    #[serde(borrow)]
    details: Option<SessionDetails<'a>>,
}

#[derive(Deserialize)]
struct SessionDetails<'a> {
    #[serde(borrow)]
    desktop_device_session_info: Option<SessionInfoOf<'a>>,
}

#[derive(Deserialize)]
struct SessionInfoOf<'a> {
    #[serde(borrow)]
    session_info: Option<SessionId<'a>>,
}

#[derive(Deserialize)]
struct SessionId<'a> {
    #[serde(borrow)]
    session_id: Option<std::borrow::Cow<'a, str>>,
}

fn stored_session(raw: &RawValue) -> Option<String> {
    let event: SessionOf = serde_json::from_str(raw.get()).ok()?;
    let id = event
        .details?
        .desktop_device_session_info?
        .session_info?
        .session_id?;
    Some(id.into_owned())
}

/// The latest backup status change of each session (by time, then log
/// order), read once from the stored log.
fn latest_changes(
    raw: &[Box<RawValue>],
    index: &[IndexedEvent],
    backup_change: Option<Sym>,
) -> HashMap<String, usize> {
    let mut latest: HashMap<String, usize> = HashMap::new();
    for (i, e) in index.iter().enumerate() {
        if Some(e.event_type) != backup_change {
            continue;
        }
        if let Some(session) = stored_session(&raw[i]) {
            remember(&mut latest, index, session, i);
        }
    }
    latest
}

fn remember(
    latest: &mut HashMap<String, usize>,
    index: &[IndexedEvent],
    session: String,
    i: usize,
) {
    let newer = latest
        .get(&session)
        .is_none_or(|&j| index[j].timestamp <= index[i].timestamp);
    if newer {
        latest.insert(session, i);
    }
}

impl Sim {
    pub(super) fn add_late_change(&self, change: &LateChange) -> Option<Value> {
        let mut guard = self.log_mut();
        let log = &mut *guard;
        let backup_change = log.symbols.get(BACKUP_CHANGE);
        let latest = log
            .latest_change
            .get_or_insert_with(|| latest_changes(&log.raw, &log.index, backup_change));
        let template = match &change.session_id {
            Some(session) => *latest.get(session.as_str())?,
            None => {
                let candidates: Vec<usize> = linked_sessions(self)
                    .iter()
                    .filter_map(|s| latest.get(s.as_str()).copied())
                    .collect();
                let mut state = self.state();
                let pick = *candidates.get(state.late_added as usize % candidates.len().max(1))?;
                state.late_added += 1;
                pick
            }
        };
        let mut event: Value = serde_json::from_str(log.raw[template].get()).ok()?;
        let mut indexed = log.index[template].clone();
        move_change(&mut event, change);
        indexed.timestamp = change.timestamp;
        let text = serde_json::value::to_raw_value(&event).ok()?;
        log.raw.push(text);
        log.index.push(indexed);
        if let Some(session) = session_of(&event) {
            remember(latest, &log.index, session.to_string(), log.index.len() - 1);
        }
        Some(event)
    }
}

/// Turns a copy of a session's latest change into the late one.
fn move_change(event: &mut Value, change: &LateChange) {
    let at = format_dropbox_time(change.timestamp);
    let previous = event["details"]["new_value"][".tag"]
        .as_str()
        .unwrap_or("disabled")
        .to_string();
    let new = change.new_value.clone().unwrap_or_else(|| {
        if previous == "enabled" {
            "disabled"
        } else {
            "enabled"
        }
        .to_string()
    });
    event["timestamp"] = json!(at);
    event["details"]["previous_value"] = json!({".tag": previous});
    event["details"]["new_value"] = json!({".tag": new});
    if event["details"]["desktop_device_session_info"]["updated"].is_string() {
        event["details"]["desktop_device_session_info"]["updated"] = json!(at);
    }
}

/// `late_every`: every n-th `team_log/get_events` call first gets a late
/// change, stamped `late_hours` before now.
pub(super) fn scheduled(sim: &Sim, route: &str) {
    let late = &sim.config.late;
    if route != "team_log/get_events" || late.every == 0 {
        return;
    }
    let calls = sim.state().calls.get(route).copied().unwrap_or(0);
    if calls.is_multiple_of(late.every) {
        // `tbx dev simulate` takes at most a month; tests, anything sane.
        let hours = late.hours.min(24 * 366) as i64;
        let timestamp = Utc::now() - Duration::hours(hours);
        sim.add_late_change(&LateChange {
            session_id: None,
            timestamp,
            new_value: None,
        });
    }
}

pub(super) fn routes() -> Router<Arc<Sim>> {
    Router::new().route("/__sim/late_backup_change", post(late_backup_change))
}

/// The body: `{"hours_ago": 3}` or `{"timestamp": "..."}`, optionally with
/// `session_id` and `new_value`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LateArg {
    #[serde(default)]
    hours_ago: Option<u32>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    new_value: Option<String>,
}

async fn late_backup_change(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let bad = |why: String| (StatusCode::BAD_REQUEST, why).into_response();
    let arg: LateArg = match serde_json::from_slice(&body) {
        Ok(arg) => arg,
        Err(e) => return bad(format!("request body: {e}")),
    };
    let timestamp = match (arg.hours_ago, &arg.timestamp) {
        (Some(h), None) => match Utc::now().checked_sub_signed(Duration::hours(i64::from(h))) {
            Some(t) => t,
            None => return bad(format!("hours_ago: {h} is too far back")),
        },
        (None, Some(t)) => match parse_dropbox_time(t) {
            Some(t) => t,
            None => return bad(format!("timestamp: '{t}' is not like 2026-07-01T12:00:00Z")),
        },
        _ => return bad("request body: give one of hours_ago and timestamp".into()),
    };
    let change = LateChange {
        session_id: arg.session_id,
        timestamp,
        new_value: arg.new_value,
    };
    match sim.add_late_change(&change) {
        Some(event) => Json(event).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "no desktop session with a backup status change to follow".to_string(),
        )
            .into_response(),
    }
}
