//! The watch's rules, without I/O: which new statuses alert (`-alert-on`),
//! how long to wait between polls (`-interval`), how a change is named to
//! receivers (its event id) and the one readable line a person gets.

use std::time::Duration;

use super::history::HistoryRow;
use super::period::format_dropbox_time;
use super::status::BackupStatus;

/// The statuses `device_sync_backup_status_changed` carries today.
const KNOWN_STATUSES: [&str; 2] = ["enabled", "disabled"];

/// Which changes alert, by their new status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertOn {
    /// Every change.
    Any,
    /// Changes whose new status has one of these tags (any case).
    Statuses(Vec<String>),
}

impl AlertOn {
    /// `-alert-on disabled,other` or `any`. Tags are not checked against a
    /// list: Dropbox may add new ones, and those must be watchable.
    pub fn parse(values: &[String]) -> Result<Self, String> {
        let mut tags: Vec<String> = Vec::new();
        for value in values {
            let tag = value.trim().to_ascii_lowercase();
            let valid = !tag.is_empty()
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(format!(
                    "'{value}' is not a status; expected tags such as disabled,enabled or any"
                ));
            }
            if tag == "any" {
                return Ok(Self::Any);
            }
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        if tags.is_empty() {
            return Err("expected at least one status, such as disabled, or any".into());
        }
        Ok(Self::Statuses(tags))
    }

    pub fn matches(&self, status: &BackupStatus) -> bool {
        match self {
            Self::Any => true,
            Self::Statuses(tags) => tags.iter().any(|t| t.eq_ignore_ascii_case(status.as_str())),
        }
    }

    /// Tags no Dropbox status has today (a typo, or one Dropbox may add).
    pub fn unusual_tags(&self) -> Vec<&str> {
        match self {
            Self::Any => Vec::new(),
            Self::Statuses(tags) => tags
                .iter()
                .map(String::as_str)
                .filter(|t| !KNOWN_STATUSES.contains(t))
                .collect(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Any => "any change".into(),
            Self::Statuses(tags) => tags.join(", "),
        }
    }
}

/// The shortest and longest `-interval`.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
pub const MAX_INTERVAL: Duration = Duration::from_secs(7 * 24 * 3600);

/// `-interval`: `30s`, `5m`, `1h30m`, `2h`, `1d` (a bare number is seconds).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let expected = "expected a duration such as 30s, 5m or 1h30m (1s to 7d)";
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return bounded(secs, expected);
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(expected.into()),
        };
        let n: u64 = digits.parse().map_err(|_| expected.to_string())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| expected.to_string())?;
    }
    if !digits.is_empty() || text.is_empty() {
        return Err(expected.into());
    }
    bounded(total, expected)
}

fn bounded(secs: u64, expected: &str) -> Result<Duration, String> {
    let interval = Duration::from_secs(secs);
    if (MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
        Ok(interval)
    } else {
        Err(expected.into())
    }
}

/// How an interval is written back (`5m`, `1h30m`, `45s`).
pub fn format_interval(interval: Duration) -> String {
    let secs = interval.as_secs();
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let mut out = String::new();
    for (n, unit) in [(d, 'd'), (h, 'h'), (m, 'm'), (s, 's')] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// A change's id for receivers: its fingerprint, which is the same for
/// the same event however often the log delivers it.
pub fn event_id(fingerprint: u64) -> String {
    format!("{fingerprint:016x}")
}

/// The one readable line about a change (Slack's and Mattermost's `text`).
pub fn alert_text(row: &HistoryRow) -> String {
    let host = if row.host_name.is_empty() {
        row.session_id.as_str()
    } else {
        row.host_name.as_str()
    };
    let mut text = format!("Backup {} on {host}", row.new.as_str());
    let owner = match (
        row.owner.email.is_empty(),
        row.owner.display_name.is_empty(),
    ) {
        (false, false) => format!(" ({}, {})", row.owner.display_name, row.owner.email),
        (false, true) => format!(" ({})", row.owner.email),
        (true, false) => format!(" ({})", row.owner.display_name),
        (true, true) => String::new(),
    };
    text.push_str(&owner);
    if !row.previous.as_str().is_empty() {
        text.push_str(&format!(", was {}", row.previous.as_str()));
    }
    let actor = if row.actor_email.is_empty() {
        row.actor_name.as_str()
    } else {
        row.actor_email.as_str()
    };
    if !actor.is_empty() {
        text.push_str(&format!("; changed by {} {actor}", row.actor_type));
    }
    text.push_str(&format!(" at {}", format_dropbox_time(row.timestamp)));
    text
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::period::parse_dropbox_time;
    use crate::domain::row::Owner;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn alert_on_takes_tags_in_any_case_or_any() {
        let on = AlertOn::parse(&strings(&["Disabled", "paused_by_policy"])).unwrap();
        assert!(on.matches(&BackupStatus::Disabled));
        assert!(on.matches(&BackupStatus::from_tag("paused_by_policy")));
        assert!(!on.matches(&BackupStatus::Enabled));
        assert_eq!(
            AlertOn::parse(&strings(&["disabled", "any"])),
            Ok(AlertOn::Any)
        );
        assert!(AlertOn::Any.matches(&BackupStatus::Enabled));
        assert!(AlertOn::parse(&strings(&[""])).is_err());
        assert!(AlertOn::parse(&strings(&["dis abled"])).is_err());
        assert!(AlertOn::parse(&[]).is_err());
        assert_eq!(on.unusual_tags(), ["paused_by_policy"]);
    }

    #[test]
    fn intervals_read_as_people_write_them_and_stay_in_range() {
        assert_eq!(parse_interval("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_interval("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_interval("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_interval("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_interval("7d"), Ok(Duration::from_secs(604_800)));
        for bad in [
            "0s",
            "0",
            "8d",
            "",
            "m",
            "5x",
            "-5m",
            "1.5m",
            "99999999999999999999s",
        ] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
        assert_eq!(format_interval(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_interval(Duration::from_secs(300)), "5m");
    }

    #[test]
    fn the_alert_line_names_device_owner_change_and_actor() {
        let row = HistoryRow {
            timestamp: parse_dropbox_time("2026-12-01T10:02:03Z").unwrap(),
            session_id: "dbdsid:1".into(),
            host_name: "LAPTOP-ALICE".into(),
            owner: Arc::new(Owner {
                email: "alice@example.com".into(),
                display_name: "Alice Smith".into(),
            }),
            previous: BackupStatus::Enabled,
            new: BackupStatus::Disabled,
            actor_type: "admin".into(),
            actor_email: "bob@example.com".into(),
            actor_name: "Bob".into(),
        };
        assert_eq!(
            alert_text(&row),
            "Backup disabled on LAPTOP-ALICE (Alice Smith, alice@example.com), was enabled; \
             changed by admin bob@example.com at 2026-12-01T10:02:03Z"
        );
        assert_eq!(event_id(255), "00000000000000ff");
    }
}
