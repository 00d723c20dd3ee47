//! The compliance summary of a run's rows: counts by latest status, platform
//! and client type, the share of devices with backup enabled, members with
//! no device reporting `enabled`, and devices not seen for `stale_days`.
//! Pure: rows and a clock reading in, a plain value out.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::row::Row;
use super::status::BackupStatus;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberWithoutBackup {
    pub email: String,
    pub display_name: String,
    pub devices: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaleDevice {
    pub email: String,
    pub host_name: String,
    pub session_info_updated: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub devices: usize,
    pub by_status: BTreeMap<String, usize>,
    pub by_platform: BTreeMap<String, usize>,
    pub by_client_type: BTreeMap<String, usize>,
    /// Percent of devices whose latest status is `enabled` (one decimal).
    pub enabled_percent: f64,
    pub members_without_enabled_device: Vec<MemberWithoutBackup>,
    pub stale_days: u32,
    /// Devices whose last activity is older than `stale_days` (or unknown).
    pub stale_devices: Vec<StaleDevice>,
}

fn label(value: &str) -> String {
    if value.is_empty() {
        "(unknown)".into()
    } else {
        value.to_string()
    }
}

pub fn summarize(rows: &[Row], stale_days: u32, now: DateTime<Utc>) -> Summary {
    let mut by_status = BTreeMap::new();
    let mut by_platform = BTreeMap::new();
    let mut by_client_type = BTreeMap::new();
    // Owner (by member id) -> (email, name, devices, any enabled).
    let mut members: BTreeMap<&str, (&str, &str, usize, bool)> = BTreeMap::new();
    let mut stale_devices = Vec::new();
    // A bound beyond the calendar means nothing is that old (only unknown
    // activity counts); the option is bounded too, but this must not panic.
    let stale_before = Duration::try_days(i64::from(stale_days))
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut enabled = 0;
    for row in rows {
        let device = &row.device;
        let is_enabled = row.latest_status == Some(BackupStatus::Enabled);
        enabled += usize::from(is_enabled);
        *by_status.entry(label(row.status_tag())).or_default() += 1;
        *by_platform.entry(label(device.platform())).or_default() += 1;
        *by_client_type
            .entry(label(device.client_type()))
            .or_default() += 1;
        let member = members.entry(device.team_member_id()).or_insert((
            &row.owner.email,
            &row.owner.display_name,
            0,
            false,
        ));
        member.2 += 1;
        member.3 |= is_enabled;
        if device.updated_at().is_none_or(|t| t < stale_before) {
            stale_devices.push(StaleDevice {
                email: row.owner.email.clone(),
                host_name: device.host_name().to_string(),
                session_info_updated: device.updated().to_string(),
            });
        }
    }
    let enabled_percent = if rows.is_empty() {
        0.0
    } else {
        (enabled as f64 * 1000.0 / rows.len() as f64).round() / 10.0
    };
    let mut members_without_enabled_device: Vec<MemberWithoutBackup> = members
        .values()
        .filter(|(_, _, _, any_enabled)| !any_enabled)
        .map(|(email, name, devices, _)| MemberWithoutBackup {
            email: email.to_string(),
            display_name: name.to_string(),
            devices: *devices,
        })
        .collect();
    members_without_enabled_device.sort_by_key(|m| m.email.to_lowercase());
    Summary {
        devices: rows.len(),
        by_status,
        by_platform,
        by_client_type,
        enabled_percent,
        members_without_enabled_device,
        stale_days,
        stale_devices,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::period::parse_dropbox_time;
    use crate::domain::row::RowSpec;

    fn row(member: &str, email: &str, status: &str, platform: &str, updated: &str) -> Row {
        RowSpec {
            member,
            email,
            status: (status != "no_status_update").then_some(status),
            platform,
            client_type: "windows",
            host: "h",
            updated,
            ..Default::default()
        }
        .build()
    }

    #[test]
    fn counts_percent_members_and_stale_devices() {
        let now = parse_dropbox_time("2026-07-01T00:00:00Z").unwrap();
        let rows = vec![
            row("m1", "a@x", "enabled", "Windows 11", "2026-06-30T00:00:00Z"),
            row(
                "m1",
                "a@x",
                "disabled",
                "Windows 11",
                "2026-05-01T00:00:00Z",
            ),
            row("m2", "b@x", "no_status_update", "macOS", ""),
            row("m3", "c@x", "disabled", "", "2026-06-29T00:00:00Z"),
        ];
        let s = summarize(&rows, 30, now);
        assert_eq!(s.devices, 4);
        assert_eq!(s.by_status["disabled"], 2);
        assert_eq!(s.by_platform["(unknown)"], 1);
        assert_eq!(s.enabled_percent, 25.0);
        let without: Vec<&str> = s
            .members_without_enabled_device
            .iter()
            .map(|m| m.email.as_str())
            .collect();
        assert_eq!(without, ["b@x", "c@x"]);
        let stale: Vec<&str> = s
            .stale_devices
            .iter()
            .map(|d| d.session_info_updated.as_str())
            .collect();
        assert_eq!(
            stale,
            ["2026-05-01T00:00:00Z", ""],
            "old or unknown activity"
        );
    }

    #[test]
    fn an_empty_report_summarizes_to_zeroes() {
        let s = summarize(&[], 30, Utc::now());
        assert_eq!((s.devices, s.enabled_percent), (0, 0.0));
    }

    #[test]
    fn a_stale_bound_beyond_the_calendar_does_not_panic() {
        let rows = vec![RowSpec {
            updated: "2026-01-01T00:00:00Z",
            ..Default::default()
        }
        .build()];
        let now = parse_dropbox_time("2026-07-01T00:00:00Z").unwrap();
        let s = summarize(&rows, u32::MAX, now);
        assert!(
            s.stale_devices.is_empty(),
            "nothing is older than the calendar"
        );
        let s = summarize(&rows, 30, now);
        assert_eq!(s.stale_devices.len(), 1);
    }
}
