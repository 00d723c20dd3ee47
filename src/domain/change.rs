//! One backup status change as the audit log tells it: the single typed
//! record that the decoder makes of an event, the event store keeps, and
//! the fold, the history report and `-include-unlinked` read. Text fields
//! hold what the event said (unknown tags verbatim, "" where it said
//! nothing), so every report shows the same values whichever path the
//! record took.

use chrono::{DateTime, Utc};

use super::fold::StatusChange;
use super::history::Change;
use super::row::{LinkedDevice, Owner};
use super::status::BackupStatus;

/// A `device_sync_backup_status_changed` event, decoded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupChange {
    pub timestamp: DateTime<Utc>,
    /// Order of first arrival, which stands for log order within a second:
    /// the store's sequence number on replay, the listing's count of
    /// changes when fresh from the API.
    pub order: u64,
    /// A hash of the event's JSON: equal for a re-delivered event, the
    /// stand-in for the event id the log does not have.
    pub fingerprint: u64,
    /// `details.previous_value`; `None` when the event has none.
    pub previous: Option<BackupStatus>,
    pub new: BackupStatus,
    pub device: EventDevice,
    /// The session's `updated` time as the event wrote it. Kept apart from
    /// `device` because it changes with almost every event.
    pub updated: String,
    pub actor: Actor,
    /// The member the event concerns (`context`).
    pub member: Member,
}

/// `details.desktop_device_session_info`: the computer an event names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EventDevice {
    /// `None` when the event has no `desktop_device_session_info` or no
    /// `session_info.session_id`: such an event names no device session.
    pub session_id: Option<String>,
    pub host_name: String,
    pub ip_address: String,
    /// The `client_type` tag (`windows`, `mac`, `linux`, or a newer one).
    pub client_type: String,
    pub client_version: String,
    pub platform: String,
}

/// Whoever made the change (`actor`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// The actor's tag: `user`, `admin`, `app`, `reseller`, `dropbox`, ...
    pub kind: String,
    pub person: Person,
}

/// A person or app as an event names it: the context member, or the
/// identity nested under the actor's tag (`reseller_name` for a reseller).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Person {
    /// `team_member_id` (an app's `app_id`).
    pub id: String,
    pub email: String,
    /// `display_name`.
    pub name: String,
}

/// The context member: a team member's id, email and name.
pub type Member = Person;

impl BackupChange {
    /// What the fold needs of the change.
    pub fn status_change(&self) -> StatusChange {
        StatusChange {
            session_id: self.device.session_id.clone(),
            timestamp: self.timestamp,
            new_status: self.new.clone(),
            fingerprint: self.fingerprint,
        }
    }

    /// What the fold needs, without copying the session id.
    pub fn into_status_change(self) -> StatusChange {
        StatusChange {
            session_id: self.device.session_id,
            timestamp: self.timestamp,
            new_status: self.new,
            fingerprint: self.fingerprint,
        }
    }

    /// The change as the history report tells it; `None` when the event
    /// names no device session.
    pub fn history_change(&self) -> Option<Change> {
        Some(Change {
            timestamp: self.timestamp,
            session_id: self.device.session_id.clone()?,
            host_name: self.device.host_name.clone(),
            previous: self
                .previous
                .as_ref()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            new: self.new.as_str().to_string(),
            actor_type: self.actor.kind.clone(),
            actor_email: self.actor.person.email.clone(),
            actor_name: self.actor.person.name.clone(),
            context_email: self.member.email.clone(),
            context_name: self.member.name.clone(),
        })
    }

    /// The computer as this event describes it, with the member it names:
    /// what `-include-unlinked` reports for a client no longer linked.
    pub fn seen_device(&self) -> Option<(LinkedDevice, Owner)> {
        let d = &self.device;
        let device = LinkedDevice::new(
            &self.member.id,
            d.session_id.as_deref()?,
            &d.ip_address,
            &d.host_name,
            &self.updated,
            &d.client_type,
            &d.client_version,
            &d.platform,
        );
        let owner = Owner {
            email: self.member.email.clone(),
            display_name: self.member.name.clone(),
        };
        Some((device, owner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::period::parse_dropbox_time;

    fn change(session: Option<&str>) -> BackupChange {
        BackupChange {
            timestamp: parse_dropbox_time("2026-07-14T09:12:44Z").unwrap(),
            order: 3,
            fingerprint: 42,
            previous: None,
            new: BackupStatus::from_tag("paused"),
            device: EventDevice {
                session_id: session.map(str::to_string),
                host_name: "PC".into(),
                ip_address: "192.0.2.1".into(),
                client_type: "windows".into(),
                client_version: "1.2".into(),
                platform: "Windows 11".into(),
            },
            updated: "2026-07-14T09:12:40Z".into(),
            actor: Actor {
                kind: "admin".into(),
                person: Person {
                    id: "dbmid:admin".into(),
                    email: "boss@example.com".into(),
                    name: "Boss".into(),
                },
            },
            member: Person {
                id: "dbmid:m".into(),
                email: "m@example.com".into(),
                name: "M".into(),
            },
        }
    }

    #[test]
    fn the_record_feeds_the_fold_the_history_and_the_unlinked_rows() {
        let c = change(Some("dbdsid:1"));
        let fold = c.status_change();
        assert_eq!(fold.session_id.as_deref(), Some("dbdsid:1"));
        assert_eq!(fold.new_status.as_str(), "paused");
        assert_eq!(fold.fingerprint, 42);
        let history = c.history_change().unwrap();
        assert_eq!(history.previous, "", "no previous value");
        assert_eq!(history.actor_type, "admin");
        assert_eq!(history.actor_email, "boss@example.com");
        assert_eq!(history.context_name, "M");
        let (device, owner) = c.seen_device().unwrap();
        assert_eq!(device.team_member_id(), "dbmid:m");
        assert_eq!(device.session_id(), "dbdsid:1");
        assert_eq!(owner.email, "m@example.com");
    }

    #[test]
    fn an_event_without_a_session_feeds_only_the_fold() {
        let c = change(None);
        assert_eq!(c.status_change().session_id, None);
        assert!(c.history_change().is_none());
        assert!(c.seen_device().is_none());
    }
}
