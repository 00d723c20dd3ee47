//! A seeded, deterministic team generator. The same spec gives the same team
//! byte for byte, so tests can compute what the report must say from the
//! team itself. Every awkward case the contract lists is in every team:
//! unlinked sessions that keep their log events, same-second ties, events
//! exactly on period bounds, unknown status and client tags, admins toggling
//! other people's devices, events without a session id, optional fields
//! left out, extra keys, and plenty of unrelated device and non-device
//! events. A few host names are hostile on purpose (quotes, newlines,
//! formulas, terminal escapes, other scripts), as real ones can be.

use chrono::{DateTime, Duration, DurationRound, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::team::SimTeam;
use crate::domain::period::format_dropbox_time;

/// How much history the generated log covers, ending at the anchor.
pub const HISTORY_DAYS: i64 = 90;

#[derive(Debug, Clone)]
pub struct GenSpec {
    pub members: usize,
    pub seed: u64,
    /// The end of the generated history (exclusive).
    pub anchor: DateTime<Utc>,
    /// Desktop clients per linked member, inclusive range.
    pub desktops: (usize, usize),
    /// Non-backup events generated per backup event (log volume).
    pub noise_ratio: usize,
    /// Backup status changes per session with history, inclusive range.
    pub changes: (usize, usize),
}

impl GenSpec {
    pub fn new(members: usize, seed: u64, anchor: DateTime<Utc>) -> Self {
        Self {
            members,
            seed,
            anchor,
            desktops: (0, 3),
            noise_ratio: 3,
            changes: (1, 4),
        }
    }
}

/// Event times that land exactly on these marks, so tests can use them as
/// period bounds: 30 and 7 days before the anchor's midnight (UTC).
pub fn boundary_marks(anchor: DateTime<Utc>) -> [DateTime<Utc>; 2] {
    let midnight = anchor.duration_trunc(Duration::days(1)).unwrap_or(anchor);
    [midnight - Duration::days(30), midnight - Duration::days(7)]
}

const GIVEN: [&str; 24] = [
    "mary", "john", "akiko", "pierre", "fatima", "li", "olga", "carlos", "aisha", "tom", "yuki",
    "anna", "ravi", "sofia", "kenji", "emma", "omar", "lena", "diego", "hana", "ivan", "chloe",
    "noah", "zoe",
];
const SURNAMES: [&str; 20] = [
    "lamb", "smith", "tanaka", "dubois", "khan", "wang", "petrova", "garcia", "okafor", "brown",
    "sato", "muller", "patel", "rossi", "suzuki", "martin", "haddad", "novak", "lopez", "kim",
];
/// Host names a user could really set, chosen to break naive writers.
pub const HOSTILE_HOST_NAMES: [&str; 7] = [
    "Mary's \"Work\" PC, 2nd floor",
    "=HYPERLINK(\"http://evil.example\",\"click me\")",
    "line one\nline two",
    "Ordinateur-Élodie-日本語-💻",
    "+cmd|' /C calc'!A0",
    "\u{1b}[31mred-host\u{1b}[0m",
    "@SUM(1+1)*cmd|' /C calc'!A0",
];

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct Gen {
    rng: ChaCha8Rng,
    spec: GenSpec,
    start: DateTime<Utc>,
}

struct Member {
    id: String,
    account_id: String,
    email: String,
    display_name: String,
    status: &'static str,
    admin: bool,
}

struct Desktop {
    member: usize,
    session_id: String,
    host_name: String,
    client_type: &'static str,
    platform: &'static str,
    client_version: String,
    ip_address: Option<String>,
    linked: bool,
}

impl Gen {
    fn id(&mut self, prefix: &str, len: usize) -> String {
        let tail: String = (0..len)
            .map(|_| ALPHABET[self.rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        format!("{prefix}{tail}")
    }

    fn time_in_history(&mut self) -> DateTime<Utc> {
        let span = (self.spec.anchor - self.start).num_seconds().max(1);
        self.start + Duration::seconds(self.rng.gen_range(0..span))
    }

    fn members(&mut self) -> Vec<Member> {
        let combos = GIVEN.len() * SURNAMES.len();
        (0..self.spec.members)
            .map(|i| {
                let given = GIVEN[i % GIVEN.len()];
                let surname = SURNAMES[(i / GIVEN.len()) % SURNAMES.len()];
                let suffix = if i >= combos {
                    (i / combos).to_string()
                } else {
                    String::new()
                };
                let status = match i % 37 {
                    7 => "invited",
                    11 | 29 => "suspended",
                    _ => "active",
                };
                Member {
                    id: self.id("dbmid:AA", 34),
                    account_id: self.id("dbid:AA", 33),
                    email: format!("{given}.{surname}{suffix}@example.com"),
                    display_name: format!("{} {}", capitalize(given), capitalize(surname)),
                    status,
                    admin: i % 10 == 0,
                }
            })
            .collect()
    }

    fn desktops(&mut self, members: &[Member]) -> Vec<Desktop> {
        let mut out = Vec::new();
        let mut hostile = HOSTILE_HOST_NAMES.iter();
        for (m, member) in members.iter().enumerate() {
            if member.status == "invited" {
                continue;
            }
            let (lo, hi) = self.spec.desktops;
            let linked = self.rng.gen_range(lo..=hi.max(lo));
            // About one member in eight also has a computer that was unlinked.
            let unlinked = usize::from(self.rng.gen_ratio(1, 8));
            for k in 0..linked + unlinked {
                // Never `other`: that is the open union's catch-all, which
                // readers map unknown tags to and servers never send (the
                // official SDKs refuse it). `chromeos` is the unknown tag.
                let (client_type, platform, _) = *[
                    ("windows", "Windows 11 Pro", 10),
                    ("windows", "Windows 10 Enterprise", 10),
                    ("mac", "macOS 14.5", 6),
                    ("mac", "macOS 15.1", 6),
                    ("linux", "Ubuntu 24.04 LTS", 2),
                    ("linux", "ChromeOS 126", 1),
                    ("chromeos", "ChromeOS Flex", 1),
                ]
                .choose_weighted(&mut self.rng, |(_, _, weight)| *weight)
                .unwrap_or(&("windows", "Windows 11 Pro", 10));
                // Hostile names go to linked clients, so they reach reports.
                let hostile_name = if k == 0 && linked > 0 {
                    hostile.next()
                } else {
                    None
                };
                let host_name = match hostile_name {
                    Some(h) => h.to_string(),
                    None => match client_type {
                        "mac" => format!(
                            "{}s-MacBook-Pro-{}",
                            capitalize(member.display_name.split(' ').next().unwrap_or("x")),
                            k + 1
                        ),
                        "windows" => format!(
                            "LAPTOP-{}{}",
                            member
                                .display_name
                                .split(' ')
                                .nth(1)
                                .unwrap_or("X")
                                .to_uppercase(),
                            k + 1
                        ),
                        _ => format!("ws-{m}-{k}.corp.example.com"),
                    },
                };
                let ip_address = self
                    .rng
                    .gen_ratio(9, 10)
                    .then(|| format!("203.0.113.{}", self.rng.gen_range(1..255)));
                out.push(Desktop {
                    member: m,
                    session_id: self.id("dbdsid:AA", 40),
                    host_name,
                    client_type,
                    platform,
                    client_version: format!(
                        "2{}.{}.{}",
                        self.rng.gen_range(10..40),
                        self.rng.gen_range(0..9),
                        self.rng.gen_range(1000..9999)
                    ),
                    ip_address,
                    linked: k < linked,
                });
            }
        }
        out
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn member_json(m: &Member, now: DateTime<Utc>) -> Value {
    let given = m.display_name.split(' ').next().unwrap_or_default();
    let surname = m.display_name.split(' ').nth(1).unwrap_or_default();
    let mut profile = json!({
        "team_member_id": m.id,
        "email": m.email,
        "email_verified": m.status != "invited",
        "status": {".tag": m.status},
        "name": {
            "given_name": given, "surname": surname, "familiar_name": given,
            "display_name": m.display_name,
            "abbreviated_name": format!("{}{}", &given[..1], &surname[..1]),
        },
        "membership_type": {".tag": "full"},
        "groups": [],
        "member_folder_id": "3012345678",
        "root_folder_id": "3012300000",
    });
    if let Some(obj) = profile.as_object_mut() {
        if m.status == "invited" {
            obj.insert(
                "invited_on".into(),
                json!(format_dropbox_time(now - Duration::days(3))),
            );
        } else {
            obj.insert("account_id".into(), json!(m.account_id));
            obj.insert("joined_on".into(), json!("2024-03-02T10:00:00Z"));
        }
        if m.status == "suspended" {
            obj.insert(
                "suspended_on".into(),
                json!(format_dropbox_time(now - Duration::days(5))),
            );
        }
    }
    let roles = if m.admin {
        json!([{"role_id": "pid_dbtmr:1", "name": "Team admin", "description": "Manage everything."}])
    } else {
        json!([])
    };
    json!({"profile": profile, "roles": roles})
}

fn user_log_info(m: &Member) -> Value {
    json!({".tag": "team_member", "account_id": m.account_id, "display_name": m.display_name,
           "email": m.email, "team_member_id": m.id})
}

fn desktop_session_json(
    d: &Desktop,
    rng: &mut ChaCha8Rng,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
) -> Value {
    let mut v = json!({
        "session_id": d.session_id,
        "created": format_dropbox_time(created),
        "updated": format_dropbox_time(updated),
        "host_name": d.host_name,
        "client_type": {".tag": d.client_type},
        "client_version": d.client_version,
        "platform": d.platform,
        "is_delete_on_unlink_supported": rng.gen_bool(0.5),
    });
    if let Some(ip) = &d.ip_address {
        v["ip_address"] = json!(ip);
    }
    v
}

/// Builds a `device_sync_backup_status_changed` event. `shape` varies the
/// optional parts so readers meet every form the contract allows.
fn backup_event(
    at: DateTime<Utc>,
    actor: Option<Value>,
    owner: &Member,
    d: &Desktop,
    previous: &str,
    new: &str,
    shape: u32,
) -> Value {
    let mut info = json!({
        "host_name": d.host_name,
        "client_type": {".tag": d.client_type},
        "platform": d.platform,
        "is_delete_on_unlink_supported": true,
        "session_info": {"session_id": d.session_id},
        "updated": format_dropbox_time(at),
    });
    if !shape.is_multiple_of(4) {
        info["client_version"] = json!(d.client_version);
    }
    if let Some(ip) = &d.ip_address {
        info["ip_address"] = json!(ip);
    }
    if shape % 5 == 1 {
        // The Java SDK style: tags on concrete subtypes.
        info[".tag"] = json!("desktop_device_session");
        info["session_info"][".tag"] = json!("desktop");
    }
    let mut event = json!({
        "timestamp": format_dropbox_time(at),
        "event_category": {".tag": "devices"},
        "event_type": {".tag": "device_sync_backup_status_changed",
                       "description": "(devices) Enabled/disabled backup for computer"},
        "details": {
            ".tag": "device_sync_backup_status_changed_details",
            "desktop_device_session_info": info,
            "previous_value": {".tag": previous},
            "new_value": {".tag": new},
        },
    });
    if let Some(actor) = actor {
        event["actor"] = actor;
    }
    if shape % 3 != 2 {
        event["context"] = user_log_info(owner);
        event["origin"] = json!({
            "geo_location": {"city": "Lyon", "region": "Auvergne-Rhone-Alpes", "country": "FR",
                             "ip_address": d.ip_address.clone().unwrap_or_else(|| "198.51.100.7".into())},
            "access_method": {".tag": "end_user", "end_user": {".tag": "desktop", "session_id": d.session_id}},
        });
        event["involve_non_team_member"] = json!(false);
    }
    if shape % 7 == 3 {
        event["participants"] = json!([]);
        event["assets"] = json!([]);
        event["a_field_from_the_future"] = json!({"nested": true});
    }
    event
}

/// `DeviceSessionLogInfo` of a desktop, polymorphic so tagged.
fn device_session_log_info(d: &Desktop) -> Value {
    json!({".tag": "desktop_device_session", "session_info": {"session_id": d.session_id},
           "host_name": d.host_name, "client_type": {".tag": d.client_type},
           "platform": d.platform, "is_delete_on_unlink_supported": true})
}

fn other_event(rng: &mut ChaCha8Rng, at: DateTime<Utc>, m: &Member, d: Option<&Desktop>) -> Value {
    let actor = json!({".tag": "user", "user": user_log_info(m)});
    let (category, event_type, details) = match (rng.gen_range(0..6), d) {
        (0, Some(d)) => (
            "devices",
            "device_change_ip_desktop",
            json!({".tag": "device_change_ip_desktop_details", "device_session_info": device_session_log_info(d)}),
        ),
        (1, Some(d)) => (
            "devices",
            "device_link_success",
            json!({".tag": "device_link_success_details", "device_session_info": device_session_log_info(d)}),
        ),
        (2, _) => (
            "devices",
            "external_drive_backup_status_changed",
            json!({
            ".tag": "missing_details", "source_event_fields": "{}"}),
        ),
        (3, _) => (
            "logins",
            "login_success",
            json!({
            ".tag": "login_success_details", "is_emm_managed": false,
            "login_method": {".tag": "password"}}),
        ),
        (4, _) => (
            "file_operations",
            "file_download",
            json!({".tag": "file_download_details"}),
        ),
        _ => (
            "sharing",
            "shared_link_create",
            json!({".tag": "shared_link_create_details"}),
        ),
    };
    json!({
        "timestamp": format_dropbox_time(at),
        "event_category": {".tag": category},
        "actor": actor,
        "context": user_log_info(m),
        "event_type": {".tag": event_type, "description": "(simulated)"},
        "details": details,
    })
}

impl Gen {
    /// Who turned backup on or off: mostly the owner, sometimes an admin,
    /// Dropbox itself, or nobody named.
    fn backup_actor(
        &mut self,
        members: &[Member],
        admins: &[usize],
        owner: &Member,
    ) -> Option<Value> {
        match self.rng.gen_range(0..10) {
            0 if !admins.is_empty() => {
                let admin = &members[admins[self.rng.gen_range(0..admins.len())]];
                Some(json!({".tag": "admin", "admin": user_log_info(admin)}))
            }
            1 => None,
            2 => Some(json!({".tag": "dropbox"})),
            _ => Some(json!({".tag": "user", "user": user_log_info(owner)})),
        }
    }
}

/// Events of other types in the devices category, `noise_ratio` per
/// backup event: what a listing filtered by category would wade through.
fn add_noise(
    g: &mut Gen,
    members: &[Member],
    desktops: &[Desktop],
    events: &mut Vec<(DateTime<Utc>, Value)>,
) {
    let backup_events = events.len();
    for _ in 0..backup_events * g.spec.noise_ratio {
        let at = g.time_in_history();
        if members.is_empty() {
            break;
        }
        let m = g.rng.gen_range(0..members.len());
        let d = desktops.iter().find(|d| d.member == m);
        events.push((at, other_event(&mut g.rng, at, &members[m], d)));
    }
}

/// Generates a team from a spec. Deterministic for a given spec.
pub fn generate(spec: &GenSpec) -> SimTeam {
    let start = spec.anchor - Duration::days(HISTORY_DAYS);
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(spec.seed),
        spec: spec.clone(),
        start,
    };
    let members = g.members();
    let desktops = g.desktops(&members);
    let admins: Vec<usize> = (0..members.len()).filter(|&i| members[i].admin).collect();
    let anchor = spec.anchor;

    let mut events: Vec<(DateTime<Utc>, Value)> = Vec::new();
    let mut session_updates: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (n, d) in desktops.iter().enumerate() {
        let owner = &members[d.member];
        let created = start - Duration::days(g.rng.gen_range(1..400));
        let updated = anchor - Duration::seconds(g.rng.gen_range(60..30 * 86_400));
        session_updates.push((created, updated));
        // Every 17th session always has history (it carries the unknown tag).
        if n % 17 != 3 && !g.rng.gen_ratio(3, 4) {
            continue;
        }
        let (fewest, most) = spec.changes;
        let mut times: Vec<DateTime<Utc>> =
            (0..g.rng.gen_range(fewest.max(1)..=most.max(fewest).max(1)))
                .map(|_| g.time_in_history())
                .collect();
        times.sort();
        let mut enabled = g.rng.gen_bool(0.5);
        for (k, at) in times.iter().enumerate() {
            enabled = !enabled;
            let (previous, new) = if enabled {
                ("disabled", "enabled")
            } else {
                ("enabled", "disabled")
            };
            let new = if n % 17 == 3 && k + 1 == times.len() {
                "paused_by_policy"
            } else {
                new
            };
            let actor = g.backup_actor(&members, &admins, owner);
            let shape = g.rng.gen_range(0..420);
            events.push((
                *at,
                backup_event(*at, actor, owner, d, previous, new, shape),
            ));
        }
        // A same-second tie: two changes in one second, opposite values.
        if n % 11 == 4 {
            let at = times.last().copied().unwrap_or(start) + Duration::seconds(1);
            let actor = Some(json!({".tag": "user", "user": user_log_info(owner)}));
            events.push((
                at,
                backup_event(at, actor.clone(), owner, d, "enabled", "disabled", 0),
            ));
            events.push((
                at,
                backup_event(at, actor, owner, d, "disabled", "enabled", 1),
            ));
        }
    }
    add_boundary_events(&mut g, &members, &desktops, &mut events);
    add_events_without_session(&mut g, &members, &desktops, &mut events);
    add_noise(&mut g, &members, &desktops, &mut events);

    SimTeam {
        name: "Example Corp (simulated)".into(),
        team_id: g.id("dbtid:AA", 39),
        num_licensed_users: Some((members.len() as u32).div_ceil(10) * 10 + 5),
        members: members.iter().map(|m| member_json(m, anchor)).collect(),
        devices: devices_json(&mut g.rng, &members, &desktops, &session_updates),
        events: into_log_order(&mut g.rng, events),
    }
}

/// Changes exactly on the period marks, with neighbours one second away, so
/// an off-by-one in either bound changes the report.
fn add_boundary_events(
    g: &mut Gen,
    members: &[Member],
    desktops: &[Desktop],
    events: &mut Vec<(DateTime<Utc>, Value)>,
) {
    let linked: Vec<&Desktop> = desktops.iter().filter(|d| d.linked).collect();
    // Two marks, two clients each, at indexes 1..=4.
    if linked.len() < 5 {
        return;
    }
    let marks = boundary_marks(g.spec.anchor);
    for (i, mark) in marks.iter().enumerate() {
        let d = linked[1 + 2 * i];
        let owner = &members[d.member];
        let actor = Some(json!({".tag": "user", "user": user_log_info(owner)}));
        events.push((
            *mark - Duration::seconds(1),
            backup_event(
                *mark - Duration::seconds(1),
                actor.clone(),
                owner,
                d,
                "enabled",
                "disabled",
                0,
            ),
        ));
        events.push((
            *mark,
            backup_event(*mark, actor.clone(), owner, d, "disabled", "enabled", 1),
        ));
        let e = linked[2 + 2 * i];
        let owner = &members[e.member];
        events.push((
            *mark,
            backup_event(*mark, actor.clone(), owner, e, "enabled", "disabled", 2),
        ));
        let later = *mark + Duration::seconds(g.rng.gen_range(1..3600));
        events.push((
            later,
            backup_event(later, actor, owner, e, "disabled", "enabled", 3),
        ));
    }
}

fn add_events_without_session(
    g: &mut Gen,
    members: &[Member],
    desktops: &[Desktop],
    events: &mut Vec<(DateTime<Utc>, Value)>,
) {
    for d in desktops.iter().step_by(9) {
        let at = g.time_in_history();
        let owner = &members[d.member];
        let mut event = backup_event(at, None, owner, d, "enabled", "disabled", 0);
        let info = &mut event["details"]["desktop_device_session_info"];
        if g.rng.gen_bool(0.5) {
            info.as_object_mut().map(|o| o.remove("session_info"));
        } else {
            info["session_info"] = json!({});
        }
        events.push((at, event));
    }
}

fn devices_json(
    rng: &mut ChaCha8Rng,
    members: &[Member],
    desktops: &[Desktop],
    session_updates: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Vec<Value> {
    let mut out = Vec::new();
    for (m, member) in members.iter().enumerate() {
        if member.status == "invited" {
            continue;
        }
        let desktop_clients: Vec<Value> = desktops
            .iter()
            .enumerate()
            .filter(|(_, d)| d.member == m && d.linked)
            .map(|(i, d)| {
                let (created, updated) = session_updates[i];
                let mut v = desktop_session_json(d, rng, created, updated);
                if i % 13 == 5 {
                    v.as_object_mut().map(|o| o.remove("updated"));
                }
                v
            })
            .collect();
        let web: Vec<Value> = (0..rng.gen_range(0..3))
            .map(|k| {
                json!({"session_id": format!("dbwsid:{m}-{k}"), "user_agent": "Mozilla/5.0",
                            "os": "Windows", "browser": "Firefox", "ip_address": "198.51.100.4"})
            })
            .collect();
        let mobile: Vec<Value> = (0..rng.gen_range(0..2))
            .map(|k| {
                json!({"session_id": format!("dbmsid:{m}-{k}"), "device_name": "iPhone",
                            "client_type": {".tag": "iphone"}, "client_version": "400.2"})
            })
            .collect();
        if desktop_clients.is_empty() && web.is_empty() && mobile.is_empty() {
            continue;
        }
        out.push(json!({
            "team_member_id": member.id,
            "web_sessions": web,
            "desktop_clients": desktop_clients,
            "mobile_clients": mobile,
        }));
    }
    out
}

/// The log is roughly chronological but not sorted: events are shuffled
/// within blocks, and some jump a block ahead.
fn into_log_order(rng: &mut ChaCha8Rng, mut events: Vec<(DateTime<Utc>, Value)>) -> Vec<Value> {
    events.sort_by_key(|(t, _)| *t);
    for block in events.chunks_mut(48) {
        block.shuffle(rng);
    }
    let n = events.len();
    for _ in 0..n / 20 {
        let i = rng.gen_range(0..n);
        let j = (i + rng.gen_range(1..100)).min(n - 1);
        events.swap(i, j);
    }
    events.into_iter().map(|(_, v)| v).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::period::parse_dropbox_time;

    fn spec() -> GenSpec {
        GenSpec::new(60, 7, parse_dropbox_time("2026-07-01T00:00:00Z").unwrap())
    }

    #[test]
    fn tiny_teams_generate_without_panicking() {
        for members in 1..12 {
            for seed in 0..5 {
                let team = generate(&GenSpec::new(members, seed, spec().anchor));
                team.index().unwrap();
            }
        }
    }

    #[test]
    fn same_spec_gives_the_same_team() {
        let a = serde_json::to_string(&generate(&spec())).unwrap();
        let b = serde_json::to_string(&generate(&spec())).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn generated_team_indexes_cleanly_and_has_the_awkward_cases() {
        let team = generate(&spec());
        let index = team.index().unwrap();
        assert_eq!(index.member_by_id.len(), 60);
        let text = serde_json::to_string(&team.events).unwrap();
        assert!(text.contains("paused_by_policy"));
        // Unknown tags yes, the catch-all never (index() refuses it too).
        let devices = serde_json::to_string(&team.devices).unwrap();
        assert!(text.contains(r#"{".tag":"chromeos"}"#));
        assert!(!format!("{text}{devices}").contains(r#"{".tag":"other"}"#));
        assert!(text.contains("\"admin\""));
        assert!(text.contains("desktop_device_session"));
        let marks = boundary_marks(spec().anchor).map(format_dropbox_time);
        assert!(marks.iter().all(|m| text.contains(m.as_str())));
        let times: Vec<_> = index.events.iter().map(|e| e.timestamp).collect();
        assert!(
            times.windows(2).any(|w| w[0] > w[1]),
            "log must not be sorted"
        );
    }
}
