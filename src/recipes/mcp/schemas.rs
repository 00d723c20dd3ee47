//! What the MCP tools take and give, as types: serde reads and writes them,
//! schemars makes the input and output JSON Schemas a client sees in
//! `tools/list` (doc comments become the descriptions). Rows and changes
//! are read back from the very text `devices.json`, `history.json` and
//! `summary.json` hold, so a tool result cannot drift from the reports:
//! a column added there and not here fails to deserialize (and a test).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// Rows a listing tool returns unless asked otherwise.
pub const DEFAULT_LIMIT: u32 = 100;
/// Rows a listing tool returns at most (the reports hold every row).
pub const MAX_LIMIT: u32 = 1_000;
/// Entries of each of `backup_summary`'s lists, at most (a result stays
/// readable by a model; the counts say how many there are).
pub const SUMMARY_LIST_MAX: usize = 100;

/// A list given as a list, or as one string (models send either);
/// `"a,b"` splits at commas, as the command's `-status a,b` does.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::One(text)) => text.split(',').map(str::to_string).collect(),
        Some(OneOrMany::Many(list)) => list,
    })
}

/// `backup_device_status`'s arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// Start of the period (inclusive): RFC 3339 (2024-01-02T15:04:05Z), YYYY-MM-DD or YYYY-MM-DD HH:MM:SS (local time), or relative to now (-24h, -7d, -1h30m)
    pub start_time: String,
    /// End of the period (exclusive), in the same forms; default: now
    #[serde(default)]
    pub end_time: Option<String>,
    /// Only devices whose latest status in the period is one of these: enabled, disabled, no_status_update (or a newer Dropbox value). no_status_update = no change logged in the period, NOT "off"; for the current state use a period that reaches back to the last change, e.g. start_time "-365d" (the audit log keeps about a year)
    #[serde(default, deserialize_with = "one_or_many")]
    pub status: Vec<String>,
    /// Only devices of this platform (exact, any case), e.g. "Windows 11 Pro"
    #[serde(default)]
    pub platform: Option<String>,
    /// Only devices of this client type (exact, any case): windows, mac, linux, ...
    #[serde(default)]
    pub client_type: Option<String>,
    /// Only devices whose owner's email or name contains this (any case); there is no department or group data
    #[serde(default)]
    pub member: Option<String>,
    /// Only devices whose host name contains this (any case)
    #[serde(default)]
    pub host: Option<String>,
    /// Sort the rows by this row key (then by owner, host and session), e.g. timestamp
    #[serde(default)]
    pub sort: Option<String>,
    /// Sort in descending order
    #[serde(default)]
    pub desc: Option<bool>,
    /// Also computers seen in the period's log but no longer linked (rows get a `linked` key)
    #[serde(default)]
    pub include_unlinked: Option<bool>,
    /// Rows to return at most (default 100, at most 1000; 1000 rows are about 500 KB of JSON); the reports in `job_folder` hold every row
    #[serde(default)]
    #[schemars(range(max = 1000))]
    pub limit: Option<u32>,
}

/// `backup_summary`'s arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryInput {
    /// Start of the period (inclusive): RFC 3339 (2024-01-02T15:04:05Z), YYYY-MM-DD or YYYY-MM-DD HH:MM:SS (local time), or relative to now (-24h, -7d, -1h30m)
    pub start_time: String,
    /// End of the period (exclusive), in the same forms; default: now
    #[serde(default)]
    pub end_time: Option<String>,
    /// Only devices whose latest status in the period is one of these: enabled, disabled, no_status_update (or a newer Dropbox value). no_status_update = no change logged in the period, NOT "off"; for the current state use a period that reaches back to the last change, e.g. start_time "-365d" (the audit log keeps about a year)
    #[serde(default, deserialize_with = "one_or_many")]
    pub status: Vec<String>,
    /// Only devices of this platform (exact, any case), e.g. "Windows 11 Pro"
    #[serde(default)]
    pub platform: Option<String>,
    /// Only devices of this client type (exact, any case): windows, mac, linux, ...
    #[serde(default)]
    pub client_type: Option<String>,
    /// Only devices whose owner's email or name contains this (any case); there is no department or group data
    #[serde(default)]
    pub member: Option<String>,
    /// Only devices whose host name contains this (any case)
    #[serde(default)]
    pub host: Option<String>,
    /// Also count computers seen in the period's log but no longer linked
    #[serde(default)]
    pub include_unlinked: Option<bool>,
    /// Devices inactive for more than this many days count as stale (default 30, at most 36500)
    #[serde(default)]
    #[schemars(range(max = 36500))]
    pub stale_days: Option<u32>,
}

/// `backup_status_history`'s arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryInput {
    /// Start of the period (inclusive): RFC 3339 (2024-01-02T15:04:05Z), YYYY-MM-DD or YYYY-MM-DD HH:MM:SS (local time), or relative to now (-24h, -7d, -1h30m)
    pub start_time: String,
    /// End of the period (exclusive), in the same forms; default: now
    #[serde(default)]
    pub end_time: Option<String>,
    /// Only changes of devices whose owner's email or name, or whose changer's (the actor's) email or name, contains this (any case); there is no department or group data
    #[serde(default)]
    pub member: Option<String>,
    /// Only changes of devices whose host name contains this (any case)
    #[serde(default)]
    pub host: Option<String>,
    /// Only changes to one of these statuses (new_status): enabled, disabled, ...
    #[serde(default, deserialize_with = "one_or_many")]
    pub status: Vec<String>,
    /// Changes to return at most, the latest ones (default 100, at most 1000)
    #[serde(default)]
    #[schemars(range(max = 1000))]
    pub limit: Option<u32>,
}

/// A period as the reports write it (Dropbox's time format, UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// Start (inclusive), e.g. 2026-07-01T00:00:00Z
    pub start_time: String,
    /// End (exclusive); null: up to the time of the call
    pub end_time: Option<String>,
}

/// One row of `devices.json`: a linked desktop client and its latest backup
/// status in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRow {
    /// Team member id of the device's owner
    pub actor_user_team_member_id: String,
    /// Email of the device's owner
    pub actor_user_email: String,
    /// Display name of the device's owner
    pub actor_user_display_name: String,
    /// Device session id
    pub session_info_session_id: String,
    /// IP address
    pub session_info_ip_address: String,
    /// Host name
    pub session_info_host_name: String,
    /// Last activity of the device session
    pub session_info_updated: String,
    /// Client type (windows, mac, linux, ...)
    pub session_info_client_type: String,
    /// Client version
    pub session_info_client_version: String,
    /// Platform
    pub session_info_platform: String,
    /// Time of the latest backup status change in the period (empty if none)
    pub timestamp: String,
    /// Latest status: enabled, disabled, no_status_update, or a newer Dropbox value
    pub latest_status: String,
    /// With include_unlinked: "true" when the device is still linked
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked: Option<String>,
}

/// `backup_device_status`'s result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StatusOutput {
    /// The team's name
    pub team: String,
    pub period: Period,
    /// The filters applied, as the reports' summary says them (empty: none)
    pub filter: String,
    /// Rows that match
    pub total: usize,
    /// Rows in `rows` (at most `limit`)
    pub returned: usize,
    /// Whether `rows` holds fewer than `total`
    pub truncated: bool,
    /// The rows, in report order (the lines of devices.json)
    pub rows: Vec<DeviceRow>,
    /// The job folder whose `reports` folder holds devices.csv, devices.json and devices.xlsx with every row
    pub job_folder: String,
    /// The report files written
    pub reports: Vec<String>,
    /// Notes on the arguments, e.g. a status Dropbox does not send (absent: none)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A member none of whose devices reports `enabled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberWithoutBackup {
    pub email: String,
    pub display_name: String,
    /// Their devices in the report
    pub devices: usize,
}

/// A device whose last activity is older than `stale_days` (or unknown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StaleDevice {
    pub email: String,
    pub host_name: String,
    pub session_info_updated: String,
}

/// The numbers of the devices reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryNumbers {
    /// Devices reported
    pub devices: usize,
    /// Devices per latest status
    pub by_status: BTreeMap<String, usize>,
    /// Devices per platform
    pub by_platform: BTreeMap<String, usize>,
    /// Devices per client type
    pub by_client_type: BTreeMap<String, usize>,
    /// Percent of devices whose latest status is enabled (one decimal)
    pub enabled_percent: f64,
    /// Members with no device whose latest status is enabled
    pub members_without_enabled_device: Vec<MemberWithoutBackup>,
    pub stale_days: u32,
    /// Devices inactive for more than stale_days (or never seen active)
    pub stale_devices: Vec<StaleDevice>,
}

/// `backup_summary`'s result: the content of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryOutput {
    /// The team's name
    pub team: String,
    pub period: Period,
    /// The filters applied (empty: none)
    pub filter: String,
    /// When the summary was made
    pub generated: String,
    pub summary: SummaryNumbers,
    /// Set when a list of `summary` was cut at SUMMARY_LIST_MAX entries: the full lengths
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<ListsCut>,
    /// Notes on the arguments, e.g. a status Dropbox does not send (absent: none)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The full lengths of `summary`'s lists when one was cut.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListsCut {
    /// Members with no device enabled, in all
    pub members_without_enabled_device: usize,
    /// Stale devices, in all
    pub stale_devices: usize,
    /// Where to get every entry
    pub note: String,
}

/// One backup status change (a line of `history.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryChange {
    /// Time of the change (UTC)
    pub timestamp: String,
    /// Device session id
    pub session_info_session_id: String,
    /// Host name
    pub session_info_host_name: String,
    /// Email of the device's owner
    pub owner_email: String,
    /// Display name of the device's owner
    pub owner_display_name: String,
    /// Status before the change (empty if the log has none)
    pub previous_status: String,
    /// Status after the change
    pub new_status: String,
    /// Who made the change: user, admin, ...
    pub actor_type: String,
    /// Email of whoever made the change
    pub actor_email: String,
    /// Name of whoever made the change
    pub actor_display_name: String,
}

/// `backup_status_history`'s result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HistoryOutput {
    /// The team's name
    pub team: String,
    pub period: Period,
    /// Changes that match
    pub total: usize,
    /// Changes in `changes` (at most `limit`)
    pub returned: usize,
    /// Whether `changes` holds only the latest `limit` of `total`
    pub truncated: bool,
    /// The changes, oldest first
    pub changes: Vec<HistoryChange>,
    /// Notes on the arguments, e.g. a status Dropbox does not send (absent: none)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_list_may_come_as_one_string() {
        let input: StatusInput =
            serde_json::from_str(r#"{"start_time":"-7d","status":"disabled,enabled"}"#).unwrap();
        assert_eq!(input.status, ["disabled", "enabled"]);
        let input: StatusInput =
            serde_json::from_str(r#"{"start_time":"-7d","status":["disabled"]}"#).unwrap();
        assert_eq!(input.status, ["disabled"]);
        let input: StatusInput = serde_json::from_str(r#"{"start_time":"-7d"}"#).unwrap();
        assert!(input.status.is_empty() && input.limit.is_none() && input.desc.is_none());
    }

    #[test]
    fn unknown_arguments_are_refused_by_name() {
        let err = serde_json::from_str::<HistoryInput>(r#"{"start_time":"-7d","colour":1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour"), "{err}");
    }
}
