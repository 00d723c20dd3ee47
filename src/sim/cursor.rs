//! Opaque simulator cursors. Each encodes the listing it belongs to, its
//! filters and position, plus a serial number, so the cursor string changes
//! on every response as Dropbox's do. Anything that does not decode is a
//! bad cursor.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    kind: String,
    serial: u64,
    state: T,
}

pub fn encode<T: Serialize>(kind: &str, serial: u64, state: &T) -> String {
    let envelope = Envelope {
        kind: kind.to_string(),
        serial,
        state,
    };
    let json = serde_json::to_vec(&envelope).unwrap_or_default();
    format!("AAF{}", URL_SAFE_NO_PAD.encode(json))
}

/// `None` for garbage, or a cursor of another listing.
pub fn decode<T: DeserializeOwned>(kind: &str, cursor: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.strip_prefix("AAF")?).ok()?;
    let envelope: Envelope<T> = serde_json::from_slice(&bytes).ok()?;
    (envelope.kind == kind).then_some(envelope.state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage_and_other_kinds() {
        let c = encode("events", 1, &42u32);
        assert_eq!(decode::<u32>("events", &c), Some(42));
        assert_eq!(decode::<u32>("members", &c), None);
        assert_eq!(decode::<u32>("events", "garbage"), None);
        assert_ne!(c, encode("events", 2, &42u32));
    }
}
