//! Lenient text in API responses. One bad field (bytes that are not UTF-8,
//! or a lone UTF-16 surrogate escape such as `\ud800`, which serde_json
//! rightly refuses) must not fail a whole run: such text is replaced with
//! U+FFFD and the caller logs a warning. The check that a body is clean is
//! two fast scans; only a body that fails it is copied and repaired.

/// The body with invalid text replaced, or `None` when it is clean (the
/// common case, which allocates nothing).
pub fn repair(body: &[u8]) -> Option<Vec<u8>> {
    let utf8_ok = std::str::from_utf8(body).is_ok();
    if utf8_ok && !may_hold_surrogate_escape(body) {
        return None;
    }
    let mut out = if utf8_ok {
        body.to_vec()
    } else {
        String::from_utf8_lossy(body).into_owned().into_bytes()
    };
    let escapes_fixed = replace_lone_surrogates(&mut out);
    (!utf8_ok || escapes_fixed).then_some(out)
}

/// A `\u` escape of a surrogate (`\uD800`..`\uDFFF`) appears somewhere;
/// false positives (a paired surrogate, an escaped backslash before `u`)
/// only cost the careful pass.
fn may_hold_surrogate_escape(body: &[u8]) -> bool {
    memchr::memmem::find_iter(body, b"\\u").any(|at| surrogate_at(body, at).is_some())
}

/// The UTF-16 unit of a `\uXXXX` escape at `at` when it is a surrogate.
fn surrogate_at(body: &[u8], at: usize) -> Option<u16> {
    let hex = body.get(at + 2..at + 6)?;
    let unit = u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
    (0xD800..=0xDFFF).contains(&unit).then_some(unit)
}

/// Rewrites each unpaired surrogate escape as `\uFFFD` (same length, so in
/// place); returns whether any was found. Every backslash in JSON starts an
/// escape, so walking escape by escape keeps `\\u` (a literal backslash)
/// apart from `\u`.
fn replace_lone_surrogates(json: &mut [u8]) -> bool {
    let mut fixed = false;
    let mut i = 0;
    while let Some(offset) = memchr::memchr(b'\\', &json[i..]) {
        let at = i + offset;
        if json.get(at + 1) != Some(&b'u') {
            i = at + 2;
            continue;
        }
        i = at + 6;
        let Some(unit) = surrogate_at(json, at) else {
            continue;
        };
        let high = unit < 0xDC00;
        let paired = high
            && json.get(at + 6..at + 8) == Some(&b"\\u"[..])
            && surrogate_at(json, at + 6).is_some_and(|low| low >= 0xDC00);
        if paired {
            i = at + 12;
        } else {
            json[at..at + 6].copy_from_slice(b"\\uFFFD");
            fixed = true;
        }
    }
    fixed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repaired(body: &[u8]) -> Option<String> {
        repair(body).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn clean_bodies_are_left_alone() {
        assert_eq!(
            repaired(br#"{"a": "caf\u00e9 \ud83d\ude00 \\ud800"}"#),
            None
        );
        assert_eq!(repaired("{\"a\": \"日本\"}".as_bytes()), None);
    }

    #[test]
    fn lone_surrogates_become_the_replacement_character() {
        let body = br#"{"a": "x\ud800y", "b": "\udc00", "c": "\uD83D\uDE00\ud83d"}"#;
        let text = repaired(body).unwrap();
        assert_eq!(
            text,
            r#"{"a": "x\uFFFDy", "b": "\uFFFD", "c": "\uD83D\uDE00\uFFFD"}"#
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["a"], "x\u{fffd}y");
    }

    #[test]
    fn bytes_that_are_not_utf8_become_the_replacement_character() {
        let text = repaired(b"{\"a\": \"x\xff\xfey\"}").unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["a"], "x\u{fffd}\u{fffd}y");
    }
}
