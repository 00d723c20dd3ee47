//! `team_log/get_events` and `/continue`: pages the audit log for backup
//! status changes and streams each one, reduced to a `StatusChange`, to the
//! caller in log order. Only the fields the fold needs are decoded, straight
//! from the page's bytes. A cursor `reset` restarts the listing from the
//! timestamp the server gives, `bad_cursor` from where the listing began;
//! the events delivered twice are recognised by their fingerprint (a hash
//! of the event's JSON) in the fold.

use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

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
/// Listing restarts (`reset`, `bad_cursor`) one scan may make.
const MAX_RESTARTS: u32 = 50;

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
struct EventsPage<'a> {
    #[serde(default, borrow)]
    events: Vec<&'a RawValue>,
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
    /// Listing restarts after `reset` or `bad_cursor`.
    pub restarts: u64,
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
    let mut scan = EventScan::default();
    let mut listing_start = period.start;
    'listing: loop {
        let arg = GetEventsArg {
            limit: PAGE_LIMIT,
            time: TimeRangeArg {
                start_time: format_dropbox_time(listing_start),
                end_time: period.end.map(format_dropbox_time),
            },
            event_type: BACKUP_STATUS_CHANGED,
        };
        let mut route = ROUTE_GET_EVENTS;
        let mut bytes = transport.rpc_bytes(route, &arg).await?;
        loop {
            let (has_more, cursor) = fold_page(route, &bytes, &mut scan, &mut on_change)?;
            on_page(&scan);
            if !has_more {
                return Ok(scan);
            }
            // Always continue from the newest cursor: it changes on every page.
            match transport
                .rpc_bytes(ROUTE_CONTINUE, &ContinueArg { cursor: &cursor })
                .await
            {
                Ok(next) => {
                    bytes = next;
                    route = ROUTE_CONTINUE;
                }
                Err(e) if is_restartable(&e) && scan.restarts < MAX_RESTARTS as u64 => {
                    scan.restarts += 1;
                    listing_start = restart_point(&e, period, listing_start);
                    continue 'listing;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn is_restartable(e: &ApiError) -> bool {
    matches!(e.route_tag(), Some("reset" | "bad_cursor"))
}

/// Where a restarted listing begins: the timestamp a `reset` names (never
/// before the period), else where the interrupted listing began.
fn restart_point(
    e: &ApiError,
    period: &Period,
    listing_start: chrono::DateTime<chrono::Utc>,
) -> chrono::DateTime<chrono::Utc> {
    match e {
        ApiError::Route {
            tag,
            value: Some(value),
            ..
        } if tag == "reset" => parse_dropbox_time(value)
            .map(|t| t.max(period.start))
            .unwrap_or(listing_start),
        _ => listing_start,
    }
}

/// Folds one page's events; returns `has_more` and the next cursor.
fn fold_page(
    route: &str,
    bytes: &[u8],
    scan: &mut EventScan,
    on_change: &mut impl FnMut(StatusChange),
) -> Result<(bool, String), ApiError> {
    let page: EventsPage = serde_json::from_slice(bytes).map_err(|e| ApiError::Decode {
        route: route.into(),
        detail: e.to_string(),
    })?;
    scan.pages += 1;
    for raw in page.events {
        match to_change(route, raw)? {
            Some(change) => {
                scan.changes += 1;
                on_change(change);
            }
            None => scan.other_events += 1,
        }
    }
    Ok((page.has_more, page.cursor))
}

/// Identical events have identical JSON; the hash stands in for the event
/// id the log does not have.
fn fingerprint(raw: &RawValue) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    raw.get().hash(&mut hasher);
    hasher.finish()
}

fn to_change(route: &str, raw: &RawValue) -> Result<Option<StatusChange>, ApiError> {
    let event: RawEvent = serde_json::from_str(raw.get()).map_err(|e| ApiError::Decode {
        route: route.into(),
        detail: e.to_string(),
    })?;
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
        fingerprint: fingerprint(raw),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Option<StatusChange> {
        let raw: Box<RawValue> = serde_json::from_str(json).unwrap();
        to_change(ROUTE_GET_EVENTS, &raw).unwrap()
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
        let raw: Box<RawValue> = serde_json::from_str(
            r#"{"timestamp": "yesterday", "details": {".tag": "device_sync_backup_status_changed_details",
              "new_value": {".tag": "enabled"}}}"#,
        )
        .unwrap();
        assert!(to_change(ROUTE_GET_EVENTS, &raw).is_err());
    }
}
