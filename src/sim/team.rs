//! The simulated team's data, kept in the API's own JSON shapes so that what
//! the simulator serves is exactly what a team file says: member infos
//! (`TeamMemberInfoV2`), device listings (`MemberDevices`) and audit events
//! (`TeamEvent`, in log order). Loaded from a file or generated.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::domain::period::parse_dropbox_time;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimTeam {
    pub name: String,
    pub team_id: String,
    #[serde(default)]
    pub num_licensed_users: Option<u32>,
    /// `TeamMemberInfoV2` objects: `{"profile": {...}, "roles": [...]}`.
    pub members: Vec<Value>,
    /// `MemberDevices` objects, in listing order.
    pub devices: Vec<Value>,
    /// `TeamEvent` objects in log order (not sorted by time).
    pub events: Vec<Value>,
}

#[derive(Debug, Error)]
pub enum TeamFileError {
    #[error("cannot read team file {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("team file: {0}")]
    Invalid(String),
}

/// What the routes need to filter events quickly, computed once. Names are
/// interned (`Symbols`): a million events share a few dozen tags and a few
/// thousand accounts, and filtering compares integers.
#[derive(Debug, Clone)]
pub struct IndexedEvent {
    pub timestamp: DateTime<Utc>,
    pub category: Sym,
    pub event_type: Sym,
    /// Account ids that appear as actor, context or participant.
    pub accounts: Box<[Sym]>,
}

/// An interned name (see `Symbols`).
pub type Sym = u32;

/// Interned names: each distinct string once, numbered in first-seen order.
#[derive(Debug, Clone, Default)]
pub struct Symbols {
    ids: HashMap<Box<str>, Sym>,
}

impl Symbols {
    pub fn intern(&mut self, name: &str) -> Sym {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.ids.len() as Sym;
        self.ids.insert(name.into(), id);
        id
    }

    /// `None` for a name no event has, which then matches nothing.
    pub fn get(&self, name: &str) -> Option<Sym> {
        self.ids.get(name).copied()
    }
}

/// Lookups over a `SimTeam`, checked for the fields the routes rely on.
#[derive(Debug, Clone)]
pub struct TeamIndex {
    pub events: Vec<IndexedEvent>,
    /// The names in `events`.
    pub symbols: Symbols,
    pub member_by_id: HashMap<String, usize>,
    pub member_by_email: HashMap<String, usize>,
    pub member_by_external_id: HashMap<String, usize>,
    pub known_accounts: std::collections::HashSet<String>,
}

fn tag(value: &Value) -> Option<&str> {
    value.get(".tag").and_then(Value::as_str)
}

impl SimTeam {
    pub fn load(path: &Path) -> Result<Self, TeamFileError> {
        let read_error = |detail: String| TeamFileError::Read {
            path: path.display().to_string(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| read_error(e.to_string()))?;
        let team: SimTeam = serde_json::from_str(&text).map_err(|e| read_error(e.to_string()))?;
        team.index()?;
        Ok(team)
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }

    pub fn index(&self) -> Result<TeamIndex, TeamFileError> {
        let mut index = TeamIndex {
            events: Vec::with_capacity(self.events.len()),
            symbols: Symbols::default(),
            member_by_id: HashMap::new(),
            member_by_email: HashMap::new(),
            member_by_external_id: HashMap::new(),
            known_accounts: Default::default(),
        };
        for (i, member) in self.members.iter().enumerate() {
            let profile = member
                .get("profile")
                .ok_or_else(|| TeamFileError::Invalid(format!("member #{i} has no profile")))?;
            let field = |name: &str| profile.get(name).and_then(Value::as_str);
            let id = field("team_member_id").ok_or_else(|| {
                TeamFileError::Invalid(format!("member #{i} has no team_member_id"))
            })?;
            index.member_by_id.insert(id.to_string(), i);
            if let Some(email) = field("email") {
                index.member_by_email.insert(email.to_lowercase(), i);
            }
            if let Some(external) = field("external_id") {
                index.member_by_external_id.insert(external.to_string(), i);
            }
            if let Some(account) = field("account_id") {
                index.known_accounts.insert(account.to_string());
            }
        }
        for (i, devices) in self.devices.iter().enumerate() {
            if sends_catch_all_client_type(devices) {
                return Err(TeamFileError::Invalid(format!(
                    "devices #{i}: {CATCH_ALL_CLIENT_TYPE}"
                )));
            }
        }
        for (i, event) in self.events.iter().enumerate() {
            let invalid = |what: &str| TeamFileError::Invalid(format!("event #{i}: {what}"));
            if sends_catch_all_client_type(event) {
                return Err(invalid(CATCH_ALL_CLIENT_TYPE));
            }
            let timestamp = event
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(parse_dropbox_time)
                .ok_or_else(|| invalid("missing or bad timestamp"))?;
            let category = event
                .get("event_category")
                .and_then(tag)
                .ok_or_else(|| invalid("missing event_category tag"))?;
            let event_type = event
                .get("event_type")
                .and_then(tag)
                .ok_or_else(|| invalid("missing event_type tag"))?;
            let symbols = &mut index.symbols;
            index.events.push(IndexedEvent {
                timestamp,
                category: symbols.intern(category),
                event_type: symbols.intern(event_type),
                accounts: accounts_of(event, symbols),
            });
        }
        Ok(index)
    }
}

const CATCH_ALL_CLIENT_TYPE: &str = "client_type \"other\" is the open union's catch-all, \
    which Dropbox never sends (the official SDKs refuse it); use windows, mac, linux, \
    or a new tag such as chromeos";

/// Whether a `client_type` anywhere in the value is the catch-all `other`.
/// The simulator serves team files as they are, so it refuses to load what
/// no real server would send rather than break SDK-based clients.
fn sends_catch_all_client_type(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(key, v)| {
            (key == "client_type" && tag(v) == Some("other")) || sends_catch_all_client_type(v)
        }),
        Value::Array(items) => items.iter().any(sends_catch_all_client_type),
        _ => false,
    }
}

fn accounts_of(event: &Value, symbols: &mut Symbols) -> Box<[Sym]> {
    let mut out = Vec::new();
    let mut push = |v: Option<&Value>| {
        if let Some(a) = v.and_then(|v| v.get("account_id")).and_then(Value::as_str) {
            out.push(symbols.intern(a));
        }
    };
    if let Some(actor) = event.get("actor") {
        if let Some(t) = tag(actor) {
            push(actor.get(t));
        }
    }
    push(event.get("context"));
    for p in event
        .get("participants")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = tag(p) {
            push(p.get(t));
        }
    }
    out.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn team_with(devices: Vec<Value>, events: Vec<Value>) -> SimTeam {
        SimTeam {
            name: "T".into(),
            team_id: "dbtid:T".into(),
            num_licensed_users: None,
            members: vec![],
            devices,
            events,
        }
    }

    fn event(client_type: &str) -> Value {
        json!({"timestamp": "2026-06-01T00:00:00Z", "event_category": {".tag": "devices"},
               "event_type": {".tag": "device_sync_backup_status_changed"},
               "details": {".tag": "device_sync_backup_status_changed_details",
                           "desktop_device_session_info": {"host_name": "H",
                               "client_type": {".tag": client_type}, "platform": "P",
                               "is_delete_on_unlink_supported": true},
                           "previous_value": {".tag": "enabled"}, "new_value": {".tag": "disabled"}}})
    }

    #[test]
    fn a_catch_all_client_type_is_refused_with_its_place() {
        let err = team_with(vec![], vec![event("mac"), event("other")])
            .index()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("team file: event #1: client_type \"other\""),
            "{err}"
        );
        let devices = json!({"team_member_id": "dbmid:A", "desktop_clients": [
            {"session_id": "dbdsid:A", "host_name": "H", "client_type": {".tag": "other"}}]});
        let err = team_with(vec![devices], vec![]).index().unwrap_err();
        assert!(err.to_string().contains("devices #0: client_type"), "{err}");
    }

    #[test]
    fn unknown_client_types_are_served() {
        team_with(vec![], vec![event("chromeos"), event("linux")])
            .index()
            .unwrap();
    }
}
