//! `team_log/get_events` and `/continue`: pages the audit log for backup
//! status changes and streams each one, reduced to a `StatusChange`, to the
//! caller in log order. Only the fields the fold needs are decoded.

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::transport::Transport;
use super::union::Tag;
use crate::domain::fold::StatusChange;
use crate::domain::period::{format_dropbox_time, parse_dropbox_time, Period};
use crate::domain::status::BackupStatus;

pub const ROUTE_GET_EVENTS: &str = "team_log/get_events";
pub const ROUTE_CONTINUE: &str = "team_log/get_events/continue";
pub const BACKUP_STATUS_CHANGED: &str = "device_sync_backup_status_changed";
const PAGE_LIMIT: u32 = 1000;

#[derive(Serialize)]
struct GetEventsArg<'a> {
    limit: u32,
    time: TimeRangeArg,
    event_type: &'a str,
}

#[derive(Serialize)]
struct TimeRangeArg {
    start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
}

#[derive(Serialize)]
struct ContinueArg<'a> {
    cursor: &'a str,
}

#[derive(Deserialize)]
struct EventsPage {
    #[serde(default)]
    events: Vec<RawEvent>,
    cursor: String,
    has_more: bool,
}

#[derive(Deserialize)]
struct RawEvent {
    timestamp: String,
    details: Details,
}

#[derive(Deserialize)]
#[serde(tag = ".tag")]
enum Details {
    #[serde(rename = "device_sync_backup_status_changed_details")]
    BackupStatusChanged(BackupDetails),
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct BackupDetails {
    #[serde(default)]
    desktop_device_session_info: Option<DesktopSessionInfo>,
    new_value: StatusValue,
}

#[derive(Deserialize)]
struct DesktopSessionInfo {
    #[serde(default)]
    session_info: Option<SessionInfo>,
}

#[derive(Deserialize)]
struct SessionInfo {
    #[serde(default)]
    session_id: Option<String>,
}

/// `BackupStatus` is serialised directly (`{".tag": "enabled"}`); a
/// `{"backup_status": {...}}` wrapper appears nowhere in the spec but costs
/// nothing to accept.
#[derive(Deserialize)]
#[serde(untagged)]
enum StatusValue {
    Direct(Tag),
    Wrapped { backup_status: Tag },
}

/// Counts from one scan of the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventScan {
    pub pages: u64,
    pub changes: u64,
    /// Events of another type or detail shape (should not come back when
    /// filtering by event type, but the union is open).
    pub other_events: u64,
}

/// Streams every backup status change in `period`, in log order.
pub async fn scan_backup_changes(
    transport: &Transport,
    period: &Period,
    mut on_change: impl FnMut(StatusChange),
    mut on_page: impl FnMut(&EventScan),
) -> Result<EventScan, ApiError> {
    let arg = GetEventsArg {
        limit: PAGE_LIMIT,
        time: TimeRangeArg {
            start_time: format_dropbox_time(period.start),
            end_time: period.end.map(format_dropbox_time),
        },
        event_type: BACKUP_STATUS_CHANGED,
    };
    let mut scan = EventScan::default();
    let mut page: EventsPage = transport.rpc(ROUTE_GET_EVENTS, &arg).await?;
    loop {
        scan.pages += 1;
        let route = if scan.pages == 1 {
            ROUTE_GET_EVENTS
        } else {
            ROUTE_CONTINUE
        };
        for event in page.events {
            match to_change(route, event)? {
                Some(change) => {
                    scan.changes += 1;
                    on_change(change);
                }
                None => scan.other_events += 1,
            }
        }
        on_page(&scan);
        if !page.has_more {
            return Ok(scan);
        }
        // Always continue from the newest cursor: it changes on every page.
        let cursor = page.cursor;
        page = transport
            .rpc(ROUTE_CONTINUE, &ContinueArg { cursor: &cursor })
            .await?;
    }
}

fn to_change(route: &str, event: RawEvent) -> Result<Option<StatusChange>, ApiError> {
    let Details::BackupStatusChanged(details) = event.details else {
        return Ok(None);
    };
    let timestamp = parse_dropbox_time(&event.timestamp).ok_or_else(|| ApiError::Decode {
        route: route.into(),
        detail: format!(
            "event timestamp '{}' is not a Dropbox timestamp",
            event.timestamp
        ),
    })?;
    let session_id = details
        .desktop_device_session_info
        .and_then(|d| d.session_info)
        .and_then(|s| s.session_id);
    let tag = match details.new_value {
        StatusValue::Direct(tag) | StatusValue::Wrapped { backup_status: tag } => tag.0,
    };
    Ok(Some(StatusChange {
        session_id,
        timestamp,
        new_status: BackupStatus::from_tag(&tag),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Option<StatusChange> {
        let event: RawEvent = serde_json::from_str(json).unwrap();
        to_change(ROUTE_GET_EVENTS, event).unwrap()
    }

    #[test]
    fn reads_the_spec_example_with_tags_on_concrete_structs() {
        let change = parse(
            r#"{"timestamp": "2026-07-14T09:12:44Z", "event_category": {".tag": "devices"},
            "event_type": {".tag": "device_sync_backup_status_changed", "description": "x"},
            "details": {".tag": "device_sync_backup_status_changed_details",
              "desktop_device_session_info": {".tag": "desktop_device_session",
                "session_info": {".tag": "desktop", "session_id": "dbdsid:1"},
                "host_name": "H", "client_type": {".tag": "windows"}, "platform": "W",
                "is_delete_on_unlink_supported": true, "unknown_key": [1]},
              "previous_value": {".tag": "disabled"}, "new_value": {".tag": "enabled"}}}"#,
        )
        .unwrap();
        assert_eq!(change.session_id.as_deref(), Some("dbdsid:1"));
        assert_eq!(change.new_status, BackupStatus::Enabled);
    }

    #[test]
    fn missing_session_info_gives_no_session_id() {
        let change = parse(
            r#"{"timestamp": "2026-07-14T09:12:44Z", "details": {".tag": "device_sync_backup_status_changed_details",
              "desktop_device_session_info": {"host_name": "H", "client_type": {".tag": "mac"}, "platform": "M",
                "is_delete_on_unlink_supported": false},
              "previous_value": {".tag": "enabled"}, "new_value": {".tag": "disabled"}}}"#,
        )
        .unwrap();
        assert_eq!(change.session_id, None);
    }

    #[test]
    fn wrapped_and_unknown_status_tags_are_accepted() {
        let change = parse(
            r#"{"timestamp": "2026-07-14T09:12:44Z", "details": {".tag": "device_sync_backup_status_changed_details",
              "desktop_device_session_info": {"session_info": {"session_id": "s"}},
              "previous_value": {".tag": "enabled"}, "new_value": {"backup_status": {".tag": "paused"}}}}"#,
        )
        .unwrap();
        assert_eq!(change.new_status.as_str(), "paused");
    }

    #[test]
    fn other_detail_tags_and_missing_details_are_skipped() {
        assert!(parse(
            r#"{"timestamp": "2026-07-14T09:12:44Z", "details": {".tag": "missing_details"}}"#
        )
        .is_none());
        assert!(parse(r#"{"timestamp": "2026-07-14T09:12:44Z", "details": {".tag": "brand_new_details", "x": 1}}"#).is_none());
    }

    #[test]
    fn a_bad_timestamp_is_a_decode_error_not_a_silent_skip() {
        let event: RawEvent = serde_json::from_str(
            r#"{"timestamp": "yesterday", "details": {".tag": "device_sync_backup_status_changed_details",
              "new_value": {".tag": "enabled"}}}"#,
        )
        .unwrap();
        assert!(to_change(ROUTE_GET_EVENTS, event).is_err());
    }
}
