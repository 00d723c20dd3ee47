//! The one decoder of a `device_sync_backup_status_changed` event: the
//! audit log's JSON in, the `BackupChange` record that the store keeps and
//! every report reads out, once, at fetch. Strict only where a change
//! cannot be understood without it (the timestamp, the new status, the
//! shape of the session id): an event lacking those fails the listing, as
//! any response the client cannot read. Lenient everywhere else, as the
//! contract's open unions and optional fields ask: a text of another JSON
//! type reads as "", an actor or a context of another shape as nobody,
//! a previous status of another shape as none. Invalid text was already
//! replaced by the transport (see `lenient`).

use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::ApiError;
use super::union::Tag;
use crate::domain::change::{Actor, BackupChange, EventDevice, Person};
use crate::domain::period::parse_dropbox_time;
use crate::domain::status::BackupStatus;

#[derive(Deserialize)]
struct WireEvent {
    timestamp: String,
    #[serde(default, deserialize_with = "lenient")]
    actor: WireActor,
    #[serde(default, deserialize_with = "lenient")]
    context: WirePerson,
    details: Details,
}

// Lives only while one event is decoded: boxing would cost an allocation
// per event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Deserialize)]
#[serde(tag = ".tag")]
enum Details {
    #[serde(rename = "device_sync_backup_status_changed_details")]
    BackupStatusChanged(BackupDetails),
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct BackupDetails {
    #[serde(default)]
    desktop_device_session_info: Option<WireDevice>,
    #[serde(default)]
    previous_value: Option<serde_json::Value>,
    new_value: StatusValue,
}

#[derive(Deserialize)]
struct WireDevice {
    #[serde(default)]
    session_info: Option<SessionInfo>,
    #[serde(default, deserialize_with = "lenient")]
    host_name: Text,
    #[serde(default, deserialize_with = "lenient")]
    ip_address: Text,
    #[serde(default, deserialize_with = "lenient")]
    updated: Text,
    #[serde(default, deserialize_with = "lenient")]
    client_type: UnionTag,
    #[serde(default, deserialize_with = "lenient")]
    client_version: Text,
    #[serde(default, deserialize_with = "lenient")]
    platform: Text,
}

#[derive(Deserialize)]
struct SessionInfo {
    #[serde(default)]
    session_id: Option<String>,
}

/// `BackupStatus` is serialised directly (`{".tag": "enabled"}`); a
/// `{"backup_status": {...}}` wrapper appears nowhere in the spec but costs
/// nothing to accept.
#[derive(Deserialize)]
#[serde(untagged)]
enum StatusValue {
    Direct(Tag),
    Wrapped { backup_status: Tag },
}

impl StatusValue {
    fn into_status(self) -> BackupStatus {
        match self {
            StatusValue::Direct(tag) | StatusValue::Wrapped { backup_status: tag } => {
                BackupStatus::from_tag(&tag.0)
            }
        }
    }
}

/// A value read whatever its JSON type: a string or an object makes one,
/// anything else (a number, null, a list) the default.
trait Lenient: Default {
    fn from_string(_text: String) -> Self {
        Self::default()
    }

    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
}

fn lenient<'de, D: Deserializer<'de>, T: Lenient>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(LenientVisitor(PhantomData))
}

struct LenientVisitor<T>(PhantomData<T>);

impl<'de, T: Lenient> Visitor<'de> for LenientVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok(T::from_string(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<T, E> {
        Ok(T::from_string(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(T::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
}

/// A text field: the string, or "" for any other JSON type.
#[derive(Default)]
struct Text(String);

impl Lenient for Text {
    fn from_string(text: String) -> Self {
        Text(text)
    }
}

/// A void union member's tag: `"mac"` or `{".tag": "mac", ...}`.
#[derive(Default)]
struct UnionTag(String);

impl Lenient for UnionTag {
    fn from_string(text: String) -> Self {
        UnionTag(text)
    }

    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut tag = String::new();
        while let Some(key) = map.next_key::<TagKey>()? {
            match key {
                TagKey::Tag => tag = map.next_value::<LenientText>()?.0 .0,
                TagKey::Other => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(UnionTag(tag))
    }
}

#[derive(Deserialize)]
#[serde(field_identifier)]
enum TagKey {
    #[serde(rename = ".tag")]
    Tag,
    #[serde(other)]
    Other,
}

/// `Text` as a `Deserialize` type, for map values.
struct LenientText(Text);

impl<'de> Deserialize<'de> for LenientText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient(d).map(LenientText)
    }
}

/// `UserLogInfo`, `TeamMemberLogInfo` or `AppLogInfo`: who, by id, email
/// and name.
#[derive(Default)]
struct WirePerson {
    team_member_id: String,
    app_id: String,
    email: String,
    display_name: String,
}

// Read key by key rather than derived: a repeated key is not an error
// here, the last one counts.
impl Lenient for WirePerson {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut p = WirePerson::default();
        while let Some(key) = map.next_key::<PersonKey>()? {
            let field = match key {
                PersonKey::TeamMemberId => &mut p.team_member_id,
                PersonKey::AppId => &mut p.app_id,
                PersonKey::Email => &mut p.email,
                PersonKey::DisplayName => &mut p.display_name,
                PersonKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *field = map.next_value::<LenientText>()?.0 .0;
        }
        Ok(p)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum PersonKey {
    TeamMemberId,
    AppId,
    Email,
    DisplayName,
    #[serde(other)]
    Other,
}

impl WirePerson {
    /// The context member: a team member, by `team_member_id`.
    fn into_member(self) -> Person {
        Person {
            id: self.team_member_id,
            email: self.email,
            name: self.display_name,
        }
    }

    /// An actor's identity: a member's `team_member_id`, an app's `app_id`.
    fn into_actor(self) -> Person {
        let id = if self.team_member_id.is_empty() {
            self.app_id
        } else {
            self.team_member_id
        };
        Person {
            id,
            email: self.email,
            name: self.display_name,
        }
    }
}

/// `ActorLogInfo`: a tag, and the identity nested under a key named like
/// the tag (`user`, `admin`, `app`), or a reseller's fields beside it.
#[derive(Default)]
struct WireActor {
    kind: String,
    reseller_name: String,
    /// Every other key with its value read as a person: which one is the
    /// actor's is known only once the tag is, and the tag may come last.
    nested: Vec<(String, WirePerson)>,
}

impl Lenient for WireActor {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut actor = WireActor::default();
        while let Some(key) = map.next_key::<String>()? {
            match &*key {
                ".tag" => actor.kind = map.next_value::<LenientText>()?.0 .0,
                "reseller_name" => {
                    actor.reseller_name = map.next_value::<LenientText>()?.0 .0;
                    actor.nested.push((key, WirePerson::default()));
                }
                _ => {
                    let person = map.next_value::<LenientPerson>()?.0;
                    actor.nested.push((key, person));
                }
            }
        }
        Ok(actor)
    }
}

struct LenientPerson(WirePerson);

impl<'de> Deserialize<'de> for LenientPerson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient(d).map(LenientPerson)
    }
}

impl WireActor {
    fn into_actor(self) -> Actor {
        let kind = self.kind;
        // The identity sits under the tag's own key; a reseller (no such
        // key) is named by `reseller_name`, and has no email here.
        let nested = self.nested.into_iter().rev().find(|(key, _)| *key == kind);
        let person = match nested {
            Some((_, person)) => person.into_actor(),
            None => Person {
                name: self.reseller_name,
                ..Person::default()
            },
        };
        Actor { kind, person }
    }
}

/// Identical events have identical JSON; the hash stands in for the event
/// id the log does not have.
fn fingerprint(raw: &RawValue) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    raw.get().hash(&mut hasher);
    hasher.finish()
}

/// The record of one event of a listing, `order` its place among the
/// listing's changes; `None` for an event of another type or detail shape.
pub fn decode(route: &str, raw: &RawValue, order: u64) -> Result<Option<BackupChange>, ApiError> {
    let fail = |detail: String| ApiError::Decode {
        route: route.into(),
        detail,
    };
    let event: WireEvent = serde_json::from_str(raw.get()).map_err(|e| fail(e.to_string()))?;
    let Details::BackupStatusChanged(details) = event.details else {
        return Ok(None);
    };
    let timestamp = parse_dropbox_time(&event.timestamp).ok_or_else(|| {
        fail(format!(
            "event timestamp '{}' is not a Dropbox timestamp",
            event.timestamp
        ))
    })?;
    let (device, updated) = match details.desktop_device_session_info {
        Some(info) => (
            EventDevice {
                session_id: info.session_info.and_then(|s| s.session_id),
                host_name: info.host_name.0,
                ip_address: info.ip_address.0,
                client_type: info.client_type.0,
                client_version: info.client_version.0,
                platform: info.platform.0,
            },
            info.updated.0,
        ),
        None => (EventDevice::default(), String::new()),
    };
    let previous = details
        .previous_value
        .and_then(|v| StatusValue::deserialize(v).ok())
        .map(StatusValue::into_status);
    Ok(Some(BackupChange {
        timestamp,
        order,
        fingerprint: fingerprint(raw),
        previous,
        new: details.new_value.into_status(),
        device,
        updated,
        actor: event.actor.into_actor(),
        member: event.context.into_member(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str = "team_log/get_events";

    fn parse(json: &str) -> Option<BackupChange> {
        let raw: Box<RawValue> = serde_json::from_str(json).unwrap();
        decode(ROUTE, &raw, 1).unwrap()
    }

    fn decode_error(json: &str) -> String {
        let raw: Box<RawValue> = serde_json::from_str(json).unwrap();
        decode(ROUTE, &raw, 1).unwrap_err().to_string()
    }

    /// A backup event with `details` inside and `rest` at the top level.
    fn event(details: &str, rest: &str) -> String {
        format!(
            r#"{{"timestamp": "2026-07-14T09:12:44Z", {rest}
              "details": {{".tag": "device_sync_backup_status_changed_details", {details}}}}}"#
        )
    }

    #[test]
    fn reads_the_spec_example_with_tags_on_concrete_structs() {
        let change = parse(
            r#"{"timestamp": "2026-07-14T09:12:44Z", "event_category": {".tag": "devices"},
            "actor": {".tag": "user", "user": {".tag": "team_member", "account_id": "dbid:A",
                "display_name": "Mary Lamb", "email": "mary@example.com", "team_member_id": "dbmid:M"}},
            "context": {".tag": "team_member", "account_id": "dbid:A", "display_name": "Mary Lamb",
                "email": "mary@example.com", "team_member_id": "dbmid:M"},
            "event_type": {".tag": "device_sync_backup_status_changed", "description": "x"},
            "details": {".tag": "device_sync_backup_status_changed_details",
              "desktop_device_session_info": {".tag": "desktop_device_session",
                "ip_address": "203.0.113.24", "updated": "2026-07-14T09:12:40Z",
                "session_info": {".tag": "desktop", "session_id": "dbdsid:1"},
                "host_name": "H", "client_type": {".tag": "windows"}, "client_version": "230.4",
                "platform": "W", "is_delete_on_unlink_supported": true, "unknown_key": [1]},
              "previous_value": {".tag": "disabled"}, "new_value": {".tag": "enabled"}}}"#,
        )
        .unwrap();
        let mary = Person {
            id: "dbmid:M".into(),
            email: "mary@example.com".into(),
            name: "Mary Lamb".into(),
        };
        let expected = BackupChange {
            timestamp: parse_dropbox_time("2026-07-14T09:12:44Z").unwrap(),
            order: 1,
            fingerprint: change.fingerprint,
            previous: Some(BackupStatus::Disabled),
            new: BackupStatus::Enabled,
            device: EventDevice {
                session_id: Some("dbdsid:1".into()),
                host_name: "H".into(),
                ip_address: "203.0.113.24".into(),
                client_type: "windows".into(),
                client_version: "230.4".into(),
                platform: "W".into(),
            },
            updated: "2026-07-14T09:12:40Z".into(),
            actor: Actor {
                kind: "user".into(),
                person: mary.clone(),
            },
            member: mary,
        };
        assert_eq!(change, expected);
    }

    #[test]
    fn missing_session_info_gives_no_session_id() {
        let change = parse(&event(
            r#""desktop_device_session_info": {"host_name": "H", "client_type": {".tag": "mac"},
                "platform": "M", "is_delete_on_unlink_supported": false},
              "previous_value": {".tag": "enabled"}, "new_value": {".tag": "disabled"}"#,
            "",
        ))
        .unwrap();
        assert_eq!(change.device.session_id, None);
        assert_eq!(change.device.host_name, "H");
        assert_eq!(change.actor, Actor::default(), "no actor: nobody");
        assert_eq!(change.member, Person::default());
    }

    #[test]
    fn wrapped_and_unknown_status_tags_are_accepted() {
        let change = parse(&event(
            r#""desktop_device_session_info": {"session_info": {"session_id": "s"}},
              "previous_value": "enabled", "new_value": {"backup_status": {".tag": "paused"}}"#,
            "",
        ))
        .unwrap();
        assert_eq!(change.new.as_str(), "paused");
        assert_eq!(change.previous, Some(BackupStatus::Enabled), "short form");
    }

    #[test]
    fn other_detail_tags_and_missing_details_are_skipped() {
        assert!(parse(
            r#"{"timestamp": "2026-07-14T09:12:44Z", "details": {".tag": "missing_details"}}"#
        )
        .is_none());
        assert!(parse(r#"{"timestamp": "2026-07-14T09:12:44Z", "details": {".tag": "brand_new_details", "x": 1}}"#).is_none());
    }

    #[test]
    fn what_a_change_cannot_do_without_is_a_decode_error_not_a_silent_skip() {
        let bad_time = r#"{"timestamp": "yesterday", "details": {".tag": "device_sync_backup_status_changed_details",
              "new_value": {".tag": "enabled"}}}"#;
        assert!(decode_error(bad_time).contains("yesterday"));
        let no_status = event(r#""previous_value": {".tag": "enabled"}"#, "");
        assert!(decode_error(&no_status).contains("new_value"));
        let odd_session = event(
            r#""desktop_device_session_info": {"session_info": {"session_id": 7}},
              "new_value": {".tag": "enabled"}"#,
            "",
        );
        assert!(decode_error(&odd_session).starts_with(ROUTE));
    }

    #[test]
    fn fields_of_another_shape_read_as_nothing() {
        let change = parse(&event(
            r#""desktop_device_session_info": {"session_info": {"session_id": "s"},
                "host_name": 12, "ip_address": null, "updated": ["x"], "client_type": {"no": "tag"},
                "client_version": {"a": 1}, "platform": true},
              "previous_value": 3, "new_value": {".tag": "enabled"}"#,
            r#""actor": "dropbox", "context": [1, 2],"#,
        ))
        .unwrap();
        assert_eq!(change.device.session_id.as_deref(), Some("s"));
        let d = &change.device;
        let texts = [
            &d.host_name,
            &d.ip_address,
            &d.client_type,
            &d.client_version,
            &d.platform,
        ];
        assert!(texts.iter().all(|t| t.is_empty()), "{d:?}");
        assert_eq!(change.updated, "");
        assert_eq!(change.previous, None);
        assert_eq!(change.actor, Actor::default());
        assert_eq!(change.member, Person::default());
    }

    #[test]
    fn every_actor_kind_names_its_person() {
        let actor = |json: &str| {
            parse(&event(
                r#""new_value": {".tag": "enabled"}"#,
                &format!(r#""actor": {json},"#),
            ))
            .unwrap()
            .actor
        };
        let admin = actor(
            r#"{"admin": {".tag": "team_member", "email": "a@x", "display_name": "A",
                 "team_member_id": "dbmid:A", "email": "a2@x"}, ".tag": "admin"}"#,
        );
        assert_eq!(admin.kind, "admin", "the tag may come last");
        assert_eq!(
            (admin.person.id.as_str(), admin.person.email.as_str()),
            ("dbmid:A", "a2@x"),
            "the last of a repeated key counts"
        );
        let app = actor(
            r#"{".tag": "app", "app": {".tag": "team_linked_app", "app_id": "dbaid:1", "display_name": "Bot"}}"#,
        );
        assert_eq!(
            (app.person.id.as_str(), app.person.name.as_str()),
            ("dbaid:1", "Bot")
        );
        let reseller =
            actor(r#"{".tag": "reseller", "reseller_name": "R", "reseller_email": "r@x"}"#);
        assert_eq!(reseller.person.name, "R");
        assert_eq!(reseller.person.email, "", "not read, as before");
        let future = actor(r#"{".tag": "robot", "robot": {"display_name": "R2"}}"#);
        assert_eq!(
            (future.kind.as_str(), future.person.name.as_str()),
            ("robot", "R2")
        );
        assert_eq!(actor(r#"{".tag": "dropbox"}"#).person, Person::default());
    }

    #[test]
    fn the_fingerprint_is_the_hash_of_the_event_text() {
        let a = event(r#""new_value": {".tag": "enabled"}"#, "");
        let b = event(r#""new_value": {".tag": "enabled"}"#, r#""extra": 1,"#);
        assert_eq!(
            parse(&a).unwrap().fingerprint,
            parse(&a).unwrap().fingerprint
        );
        assert_ne!(
            parse(&a).unwrap().fingerprint,
            parse(&b).unwrap().fingerprint
        );
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        a.as_str().hash(&mut hasher);
        assert_eq!(parse(&a).unwrap().fingerprint, hasher.finish(), "unchanged");
    }
}
