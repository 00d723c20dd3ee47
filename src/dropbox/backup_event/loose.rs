//! Values read whatever their JSON type, for the parts of an event the
//! contract leaves open: a string or an object makes one, anything else (a
//! number, null, a list) reads as nothing. Objects are read key by key, so
//! a repeated key is not an error (the last one counts), and keys are not
//! copied.

use std::borrow::Cow;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::domain::change::{Actor, Person};

pub trait Loose: Default {
    fn from_string(_text: String) -> Self {
        Self::default()
    }

    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
}

/// For `#[serde(deserialize_with = "loose")]`.
pub fn loose<'de, D: Deserializer<'de>, T: Loose>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(LooseVisitor(PhantomData))
}

/// A `Loose` value as a `Deserialize` type, for map values and seeds.
pub struct L<T>(pub T);

impl<'de, T: Loose> Deserialize<'de> for L<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        loose(d).map(L)
    }
}

struct LooseVisitor<T>(PhantomData<T>);

impl<'de, T: Loose> Visitor<'de> for LooseVisitor<T> {
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
impl Loose for String {
    fn from_string(text: String) -> Self {
        text
    }
}

/// A text that may be absent: `None` unless it is a string.
impl Loose for Option<String> {
    fn from_string(text: String) -> Self {
        Some(text)
    }
}

/// The tag of a void union member: `"mac"` or `{".tag": "mac", ...}`.
#[derive(Default)]
pub struct UnionTag(pub Option<String>);

impl Loose for UnionTag {
    fn from_string(text: String) -> Self {
        UnionTag(Some(text))
    }

    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut tag = None;
        while let Some(key) = map.next_key::<TagKey>()? {
            match key {
                TagKey::Tag => tag = map.next_value::<L<Option<String>>>()?.0,
                TagKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
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

/// A `BackupStatus` tag: `{".tag": "enabled"}`, `"enabled"`, or wrapped as
/// `{"backup_status": ...}` (in no spec, but cheap to accept).
#[derive(Default)]
pub struct StatusTag(pub Option<String>);

impl Loose for StatusTag {
    fn from_string(text: String) -> Self {
        StatusTag(Some(text))
    }

    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let (mut direct, mut wrapped) = (None, None);
        while let Some(key) = map.next_key::<StatusKey>()? {
            match key {
                StatusKey::Tag => direct = map.next_value::<L<Option<String>>>()?.0,
                StatusKey::BackupStatus => wrapped = map.next_value::<L<UnionTag>>()?.0 .0,
                StatusKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(StatusTag(direct.or(wrapped)))
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum StatusKey {
    #[serde(rename = ".tag")]
    Tag,
    BackupStatus,
    #[serde(other)]
    Other,
}

/// `UserLogInfo`, `TeamMemberLogInfo` or `AppLogInfo`: who, by id, email
/// and name.
#[derive(Default)]
pub struct WirePerson {
    team_member_id: String,
    app_id: String,
    email: String,
    display_name: String,
}

impl Loose for WirePerson {
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
            *field = map.next_value::<L<String>>()?.0;
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
    pub fn into_member(self) -> Person {
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
pub struct WireActor {
    kind: Option<String>,
    /// The value under the tag's key, once the tag is known.
    found: Option<WirePerson>,
    /// Keys met before the tag, read as people: which one is the actor's
    /// is known only once the tag is (Dropbox writes the tag first).
    early: Vec<(String, WirePerson)>,
    reseller_name: String,
    /// `reseller_name` was there: an actor tagged so names nobody.
    reseller_key: bool,
}

impl Loose for WireActor {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut a = WireActor::default();
        while let Some(key) = map.next_key::<ActorKey>()? {
            match key {
                ActorKey::Tag => {
                    // A repeated tag: what the first one found was early.
                    if let (Some(kind), Some(found)) = (a.kind.take(), a.found.take()) {
                        a.early.push((kind, found));
                    }
                    a.kind = Some(map.next_value::<L<String>>()?.0);
                }
                ActorKey::ResellerName => {
                    a.reseller_name = map.next_value::<L<String>>()?.0;
                    a.reseller_key = true;
                }
                ActorKey::Name(name) => match a.kind.as_deref() {
                    Some(kind) if kind == name => a.found = Some(map.next_value::<L<_>>()?.0),
                    Some(_) => {
                        map.next_value::<IgnoredAny>()?;
                    }
                    None => {
                        let person = map.next_value::<L<WirePerson>>()?.0;
                        a.early.push((name.into_owned(), person));
                    }
                },
            }
        }
        Ok(a)
    }
}

impl WireActor {
    pub fn into_actor(self) -> Actor {
        let kind = self.kind.unwrap_or_default();
        let early = || self.early.into_iter().rev().find(|(key, _)| *key == kind);
        let person = match self.found.or_else(|| early().map(|(_, p)| p)) {
            Some(person) => person.into_actor(),
            None if self.reseller_key && kind == "reseller_name" => Person::default(),
            // A reseller has no nested identity: its name sits beside the tag.
            None => Person {
                name: self.reseller_name,
                ..Person::default()
            },
        };
        Actor { kind, person }
    }
}

/// A key of `ActorLogInfo`, borrowed from the input where it can be.
enum ActorKey<'de> {
    Tag,
    ResellerName,
    Name(Cow<'de, str>),
}

impl<'de> Deserialize<'de> for ActorKey<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ActorKeyVisitor)
    }
}

struct ActorKeyVisitor;

impl ActorKeyVisitor {
    fn key<'de>(name: Cow<'de, str>) -> ActorKey<'de> {
        match &*name {
            ".tag" => ActorKey::Tag,
            "reseller_name" => ActorKey::ResellerName,
            _ => ActorKey::Name(name),
        }
    }
}

impl<'de> Visitor<'de> for ActorKeyVisitor {
    type Value = ActorKey<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<ActorKey<'de>, E> {
        Ok(Self::key(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ActorKey<'de>, E> {
        Ok(Self::key(Cow::Owned(v.to_string())))
    }
}
