//! The event's JSON as the decoder reads it, in one pass over the text.
//! `details` is an internally tagged union; serde's derive would copy it
//! into a buffer to find its tag first, so it is read by hand: field by
//! field when the tag comes first (as Dropbox writes it), a field met
//! before the tag kept as a JSON value until the tag says what it is.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::loose::{loose, StatusTag, UnionTag, WireActor, WirePerson};
use crate::dropbox::union::Tag;

#[derive(Deserialize)]
pub struct WireEvent {
    pub timestamp: String,
    #[serde(default, deserialize_with = "loose")]
    pub actor: WireActor,
    #[serde(default, deserialize_with = "loose")]
    pub context: WirePerson,
    pub details: Details,
}

const BACKUP_DETAILS: &str = "device_sync_backup_status_changed_details";

/// `details`: the backup change's, or `None` for another detail tag.
pub struct Details(pub Option<BackupDetails>);

#[derive(Default)]
pub struct BackupDetails {
    pub info: Option<WireDevice>,
    pub previous: Option<String>,
    pub new: Option<StatusValue>,
}

#[derive(Deserialize)]
pub struct WireDevice {
    #[serde(default)]
    pub session_info: Option<SessionInfo>,
    #[serde(default, deserialize_with = "loose")]
    pub host_name: String,
    #[serde(default, deserialize_with = "loose")]
    pub ip_address: String,
    #[serde(default, deserialize_with = "loose")]
    pub updated: String,
    #[serde(default, deserialize_with = "loose")]
    pub client_type: UnionTag,
    #[serde(default, deserialize_with = "loose")]
    pub client_version: String,
    #[serde(default, deserialize_with = "loose")]
    pub platform: String,
}

#[derive(Deserialize)]
pub struct SessionInfo {
    #[serde(default)]
    pub session_id: Option<String>,
}

/// `new_value`, which a change cannot do without: `{".tag": "enabled"}`
/// or the bare tag, or wrapped as `{"backup_status": ...}` (in no spec,
/// but cheap to accept).
#[derive(Deserialize)]
#[serde(untagged)]
pub enum StatusValue {
    Direct(Tag),
    Wrapped { backup_status: Tag },
}

impl StatusValue {
    pub fn into_tag(self) -> String {
        match self {
            StatusValue::Direct(tag) | StatusValue::Wrapped { backup_status: tag } => tag.0,
        }
    }
}

#[derive(Clone, Copy, Deserialize)]
#[serde(field_identifier)]
enum DetailsKey {
    #[serde(rename = ".tag")]
    Tag,
    #[serde(rename = "desktop_device_session_info")]
    Info,
    #[serde(rename = "previous_value")]
    Previous,
    #[serde(rename = "new_value")]
    New,
    #[serde(other)]
    Other,
}

impl BackupDetails {
    /// Reads the value of `key`, strictly where the change needs it.
    fn read<'de, D: Deserializer<'de>>(&mut self, key: DetailsKey, d: D) -> Result<(), D::Error> {
        match key {
            DetailsKey::Info => self.info = Option::<WireDevice>::deserialize(d)?,
            DetailsKey::Previous => self.previous = loose::<_, StatusTag>(d)?.0,
            DetailsKey::New => self.new = Some(StatusValue::deserialize(d)?),
            DetailsKey::Tag | DetailsKey::Other => {
                IgnoredAny::deserialize(d)?;
            }
        }
        Ok(())
    }
}

struct Field<'a> {
    details: &'a mut BackupDetails,
    key: DetailsKey,
}

impl<'de> DeserializeSeed<'de> for Field<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.details.read(self.key, d)
    }
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(DetailsVisitor)
    }
}

struct DetailsVisitor;

impl<'de> Visitor<'de> for DetailsVisitor {
    type Value = Details;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an EventDetails object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Details, A::Error> {
        let mut ours: Option<bool> = None;
        let mut early: Vec<(DetailsKey, serde_json::Value)> = Vec::new();
        let mut details = BackupDetails::default();
        while let Some(key) = map.next_key::<DetailsKey>()? {
            match (key, ours) {
                (DetailsKey::Tag, _) => {
                    ours = Some(map.next_value::<String>()? == BACKUP_DETAILS);
                }
                (DetailsKey::Other, _) | (_, Some(false)) => {
                    map.next_value::<IgnoredAny>()?;
                }
                (key, Some(true)) => map.next_value_seed(Field {
                    details: &mut details,
                    key,
                })?,
                (key, None) => early.push((key, map.next_value()?)),
            }
        }
        match ours {
            None => Err(de::Error::missing_field(".tag")),
            Some(false) => Ok(Details(None)),
            Some(true) => {
                for (key, value) in early {
                    details.read(key, value).map_err(de::Error::custom)?;
                }
                if details.new.is_none() {
                    return Err(de::Error::missing_field("new_value"));
                }
                Ok(Details(Some(details)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(json: &str) -> Result<Option<BackupDetails>, serde_json::Error> {
        serde_json::from_str::<Details>(json).map(|d| d.0)
    }

    #[test]
    fn fields_before_the_tag_are_read_once_the_tag_is_known() {
        let d = details(
            r#"{"new_value": {".tag": "enabled"}, "previous_value": "disabled",
                "desktop_device_session_info": {"session_info": {"session_id": "s"}},
                ".tag": "device_sync_backup_status_changed_details"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(d.new.unwrap().into_tag(), "enabled");
        assert_eq!(d.previous.as_deref(), Some("disabled"));
        let id = d.info.unwrap().session_info.unwrap().session_id;
        assert_eq!(id.as_deref(), Some("s"));
        let odd = r#"{"desktop_device_session_info": {"session_info": 3},
                      ".tag": "device_sync_backup_status_changed_details", "new_value": "enabled"}"#;
        assert!(details(odd).is_err(), "strict as when the tag comes first");
    }

    #[test]
    fn another_tag_skips_whatever_its_fields_hold() {
        let other = r#"{"new_value": 5, "desktop_device_session_info": "x",
                        ".tag": "sharing_change_details"}"#;
        assert!(details(other).unwrap().is_none());
        let other = r#"{".tag": "sharing_change_details", "new_value": 5}"#;
        assert!(details(other).unwrap().is_none());
        assert!(details(r#"{"new_value": "enabled"}"#).is_err(), "no tag");
        assert!(details(r#"{".tag": 7}"#).is_err(), "a tag that is no text");
    }
}
