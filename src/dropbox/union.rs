//! Stone union helpers: reading a `.tag` from the object form or the bare
//! string short form, for open unions whose value we only need as a tag.

use serde::{Deserialize, Deserializer};

/// The tag of a void-member union value: `{".tag": "windows"}` or
/// `"windows"`. Extra keys are ignored (open unions, future fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tag(pub String);

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Bare(String),
            Object {
                #[serde(rename = ".tag")]
                tag: String,
            },
        }
        Ok(match Form::deserialize(d)? {
            Form::Bare(tag) | Form::Object { tag } => Tag(tag),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_object_and_bare_forms_and_ignores_extra_keys() {
        let t: Tag = serde_json::from_str(r#"{".tag": "mac", "extra": 1}"#).unwrap();
        assert_eq!(t.0, "mac");
        let t: Tag = serde_json::from_str(r#""linux""#).unwrap();
        assert_eq!(t.0, "linux");
    }
}
