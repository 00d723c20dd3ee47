//! The reporting period `[start, end)` and the time forms users may type for
//! `-start-time` / `-end-time`: RFC 3339, tbx's local date and date-time
//! forms, and signed durations relative to now (`-24h`, `-7d`).

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use thiserror::Error;

/// The format Dropbox uses for every timestamp: UTC, whole seconds.
pub const DROPBOX_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// What a user may type, shown in every time parsing error.
pub const ACCEPTED_FORMS: &str = "RFC 3339 (2024-01-02T15:04:05Z or with an offset), \
YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD, YYYY-MM-DDTHH:MM:SS, YYYY-MM-DD HH:MM:SS, \
YYYY/MM/DD HH:MM:SS (local time), or a signed duration relative to now such as -24h or -7d";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TimeError {
    #[error("cannot read '{0}' as a time; expected {ACCEPTED_FORMS}")]
    Unreadable(String),
    #[error("'{0}' does not exist in the local time zone (skipped by a daylight saving change)")]
    NonexistentLocal(String),
    #[error("'{0}' is out of the supported range")]
    OutOfRange(String),
}

/// A half-open period: `start` inclusive, `end` exclusive; `None` means "up
/// to now", which is sent to the API as no end time at all (as tbx does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// Formats a time the way the Dropbox API expects it. Every stored event
/// and report row formats times, so the common years skip the strftime
/// parser; the text is the same (a test compares them).
pub fn format_dropbox_time(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return t.format(DROPBOX_TIME_FORMAT).to_string();
    }
    // chrono keeps a leap second as nanoseconds past 1e9; %S shows it as 60.
    let second = t.second() + u32::from(t.nanosecond() >= 1_000_000_000);
    format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{second:02}Z",
        t.month(),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// Parses a Dropbox timestamp (`2026-07-14T09:12:44Z`); tolerant of any
/// RFC 3339 form since the server's exact rendering is not ours to trust.
pub fn parse_dropbox_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses one user-typed time. Local forms are read in `zone`; durations are
/// relative to `now`. Sub-second parts round up to the next whole second,
/// because the API works in seconds and both bounds must keep their meaning:
/// an inclusive start of 10:00:00.5 excludes 10:00:00, and an exclusive end
/// of 10:00:00.5 includes it.
pub fn parse_time<Tz: TimeZone>(
    input: &str,
    now: DateTime<Utc>,
    zone: &Tz,
) -> Result<DateTime<Utc>, TimeError> {
    let text = input.trim();
    let exact = if let Some(duration) = parse_signed_duration(text) {
        now.checked_add_signed(duration?)
            .ok_or_else(|| TimeError::OutOfRange(input.to_string()))?
    } else if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        t.with_timezone(&Utc)
    } else if let Some(naive) = parse_local_form(text) {
        match zone.from_local_datetime(&naive) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            // In the repeated hour of a DST change, take the earlier instant.
            LocalResult::Ambiguous(early, _) => early.with_timezone(&Utc),
            LocalResult::None => return Err(TimeError::NonexistentLocal(input.to_string())),
        }
    } else {
        return Err(TimeError::Unreadable(input.to_string()));
    };
    Ok(round_up_to_second(exact))
}

fn round_up_to_second(t: DateTime<Utc>) -> DateTime<Utc> {
    let whole = DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t);
    if whole < t {
        whole
            .checked_add_signed(Duration::seconds(1))
            .unwrap_or(whole)
    } else {
        whole
    }
}

const LOCAL_DATE_TIME_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y.%m.%d %H:%M:%S",
];
const LOCAL_DATE_FORMATS: [&str; 3] = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d"];

fn parse_local_form(text: &str) -> Option<NaiveDateTime> {
    LOCAL_DATE_TIME_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            LOCAL_DATE_FORMATS
                .iter()
                .find_map(|f| NaiveDate::parse_from_str(text, f).ok())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// `None` when `text` is not shaped like a signed duration at all, so the
/// other forms get their turn; `Some(Err)` when it is but overflows.
/// Accepted: a sign, then one or more `<digits><unit>` with units
/// w, d, h, m, s (`-1h30m`, `+2w`).
fn parse_signed_duration(text: &str) -> Option<Result<Duration, TimeError>> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'-' => (-1i64, &text[1..]),
        b'+' => (1i64, &text[1..]),
        _ => return None,
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in rest.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit_seconds: i64 = match c {
            'w' => 7 * 86_400,
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        if digits.is_empty() {
            return None;
        }
        let overflow = || TimeError::OutOfRange(text.to_string());
        let value: i64 = match digits.parse() {
            Ok(v) => v,
            Err(_) => return Some(Err(overflow())),
        };
        total = match value
            .checked_mul(unit_seconds)
            .and_then(|s| total.checked_add(s))
        {
            Some(t) => t,
            None => return Some(Err(overflow())),
        };
        digits.clear();
    }
    if !digits.is_empty() {
        return None;
    }
    let seconds = sign * total;
    Some(Duration::try_seconds(seconds).ok_or_else(|| TimeError::OutOfRange(text.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_format_is_strftime_s() {
        let strftime = |t: DateTime<Utc>| t.format(DROPBOX_TIME_FORMAT).to_string();
        let mut times: Vec<DateTime<Utc>> = [-62_167_219_200i64, -1, 0, 951_782_400, 1_780_000_000]
            .iter()
            .map(|&s| DateTime::from_timestamp(s, 0).unwrap())
            .collect();
        times.push(DateTime::from_timestamp(253_402_300_799, 999_999_999).unwrap());
        times.push(DateTime::from_timestamp(253_402_300_800, 0).unwrap());
        times.push(DateTime::from_timestamp(-62_167_219_201, 0).unwrap());
        times.push(DateTime::from_timestamp(1_483_228_799, 1_500_000_000).unwrap());
        times.extend((0..2000).map(|i| DateTime::from_timestamp(i * 15_485_863_i64, 0).unwrap()));
        for t in times {
            assert_eq!(format_dropbox_time(t), strftime(t), "{t:?}");
        }
    }
    use chrono::FixedOffset;

    fn utc(s: &str) -> DateTime<Utc> {
        parse_dropbox_time(s).unwrap()
    }

    fn now() -> DateTime<Utc> {
        utc("2026-07-14T09:12:44Z")
    }

    fn tokyo() -> FixedOffset {
        FixedOffset::east_opt(9 * 3600).unwrap()
    }

    #[test]
    fn rfc3339_with_offset_is_converted_to_utc() {
        let t = parse_time("2024-01-02T09:00:00+09:00", now(), &tokyo()).unwrap();
        assert_eq!(format_dropbox_time(t), "2024-01-02T00:00:00Z");
        let t = parse_time("2024-01-02T00:00:00Z", now(), &tokyo()).unwrap();
        assert_eq!(format_dropbox_time(t), "2024-01-02T00:00:00Z");
    }

    #[test]
    fn every_local_form_is_read_in_the_given_zone() {
        for (input, want) in [
            ("2024-01-02", "2024-01-01T15:00:00Z"),
            ("2024/01/02", "2024-01-01T15:00:00Z"),
            ("2024.01.02", "2024-01-01T15:00:00Z"),
            ("2024-01-02T10:30:00", "2024-01-02T01:30:00Z"),
            ("2024-01-02 10:30:00", "2024-01-02T01:30:00Z"),
            ("2024/01/02 10:30:00", "2024-01-02T01:30:00Z"),
        ] {
            let t = parse_time(input, now(), &tokyo()).unwrap();
            assert_eq!(format_dropbox_time(t), want, "input {input}");
        }
    }

    #[test]
    fn signed_durations_are_relative_to_now() {
        for (input, want) in [
            ("-24h", "2026-07-13T09:12:44Z"),
            ("-7d", "2026-07-07T09:12:44Z"),
            ("-1h30m", "2026-07-14T07:42:44Z"),
            ("+2w", "2026-07-28T09:12:44Z"),
            ("-90s", "2026-07-14T09:11:14Z"),
        ] {
            let t = parse_time(input, now(), &Utc).unwrap();
            assert_eq!(format_dropbox_time(t), want, "input {input}");
        }
    }

    #[test]
    fn fractional_seconds_round_up_to_keep_bound_meaning() {
        let t = parse_time("2024-01-02T00:00:00.250Z", now(), &Utc).unwrap();
        assert_eq!(format_dropbox_time(t), "2024-01-02T00:00:01Z");
        let frac_now = now() + Duration::milliseconds(400);
        let t = parse_time("-1h", frac_now, &Utc).unwrap();
        assert_eq!(format_dropbox_time(t), "2026-07-14T08:12:45Z");
    }

    #[test]
    fn bad_forms_are_rejected_with_the_accepted_forms() {
        for input in [
            "",
            "yesterday",
            "2024-13-01",
            "2024-02-30",
            "24h",
            "-",
            "-h",
            "-5",
            "-5y",
            "2024-01-02 25:00:00",
            "01/02/2024",
            "-1h30",
        ] {
            let err = parse_time(input, now(), &Utc).unwrap_err();
            assert_eq!(
                err,
                TimeError::Unreadable(input.to_string()),
                "input {input:?}"
            );
            assert!(err.to_string().contains("YYYY-MM-DD"));
        }
    }

    #[test]
    fn huge_durations_are_out_of_range_not_a_panic() {
        let err = parse_time("-99999999999999999999d", now(), &Utc).unwrap_err();
        assert!(matches!(err, TimeError::OutOfRange(_)));
        let err = parse_time("-9999999999999d", now(), &Utc).unwrap_err();
        assert!(matches!(err, TimeError::OutOfRange(_)));
    }
}
