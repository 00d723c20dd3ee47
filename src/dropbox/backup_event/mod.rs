//! The one decoder of a `device_sync_backup_status_changed` event: the
//! audit log's JSON in, the `BackupChange` record that the store keeps and
//! every report reads out, once, at fetch. Strict only where a change
//! cannot be understood without it (the timestamp, the new status, the
//! shape of the session id): an event lacking those fails the listing, as
//! any response the client cannot read. Lenient everywhere else, as the
//! contract's open unions and optional fields ask (see `loose`): a text of
//! another JSON type reads as "", an actor or a context of another shape
//! as nobody, a previous status of another shape as none. Invalid text was
//! already replaced by the transport (see `dropbox::lenient`).

mod fingerprint;
mod loose;
mod wire;

use serde_json::value::RawValue;

use super::error::ApiError;
use crate::domain::change::{BackupChange, EventDevice};
use crate::domain::period::parse_dropbox_time;
use crate::domain::status::BackupStatus;
use wire::{WireDevice, WireEvent};

/// Identical events have identical JSON; the hash stands in for the event
/// id the log does not have (stable across builds: the store keeps it).
fn fingerprint(raw: &RawValue) -> u64 {
    fingerprint::stable_hash(raw.get().as_bytes())
}

/// The device an event names and its `updated` text.
fn device(info: Option<WireDevice>) -> (EventDevice, String) {
    let Some(info) = info else {
        return (EventDevice::default(), String::new());
    };
    let device = EventDevice {
        session_id: info.session_info.and_then(|s| s.session_id),
        host_name: info.host_name,
        ip_address: info.ip_address,
        client_type: info.client_type.0.unwrap_or_default(),
        client_version: info.client_version,
        platform: info.platform,
    };
    (device, info.updated)
}

/// The record of one event of a listing, `order` its place among the
/// listing's changes; `None` for an event of another type or detail shape.
pub fn decode(route: &str, raw: &RawValue, order: u64) -> Result<Option<BackupChange>, ApiError> {
    let fail = |detail: String| ApiError::Decode {
        route: route.into(),
        detail,
    };
    let event: WireEvent = serde_json::from_str(raw.get()).map_err(|e| fail(e.to_string()))?;
    let Some(details) = event.details.0 else {
        return Ok(None);
    };
    let timestamp = parse_dropbox_time(&event.timestamp).ok_or_else(|| {
        fail(format!(
            "event timestamp '{}' is not a Dropbox timestamp",
            event.timestamp
        ))
    })?;
    let new = details
        .new
        .ok_or_else(|| fail("missing field `new_value`".into()))?;
    let (device, updated) = device(details.info);
    Ok(Some(BackupChange {
        timestamp,
        order,
        fingerprint: fingerprint(raw),
        previous: details.previous.map(|tag| BackupStatus::from_tag(&tag)),
        new: BackupStatus::from_tag(&new.into_tag()),
        device,
        updated,
        actor: event.actor.into_actor(),
        member: event.context.into_member(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::change::{Actor, Person};

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
        let retagged = actor(r#"{".tag": "user", "user": {"email": "u@x"}, ".tag": "admin"}"#);
        assert_eq!(
            (retagged.kind.as_str(), retagged.person),
            ("admin", Person::default())
        );
        let odd = actor(r#"{".tag": "reseller_name", "reseller_name": "R"}"#);
        assert_eq!(
            odd.person,
            Person::default(),
            "the tag's key holds no person"
        );
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
        assert_eq!(
            parse(&a).unwrap().fingerprint,
            fingerprint::stable_hash(a.as_bytes()),
            "the hash of the text as it came"
        );
    }
}
