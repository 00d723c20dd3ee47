//! `team_log/get_events` and `/continue`: pages the audit log for backup
//! status changes and streams each one, reduced to a `StatusChange`, to the
//! caller in log order. Only the fields the fold needs are decoded, straight
//! from the page's bytes. A cursor `reset` restarts the listing from the
//! timestamp the server gives, `bad_cursor` from where the listing began;
//! the events delivered twice are recognised by their fingerprint (a hash
//! of the event's JSON) in the fold.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::ApiError;
use super::paging::PageGuard;
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
pub struct ContinueArg<'a> {
    pub cursor: &'a str,
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
    /// Windows split in two to keep idle workers busy.
    pub splits: u64,
    /// Events of another type or detail shape (should not come back when
    /// filtering by event type, but the union is open).
    pub other_events: u64,
}

impl EventScan {
    /// Adds another listing's counts.
    pub fn add(&mut self, other: &EventScan) {
        self.pages += other.pages;
        self.changes += other.changes;
        self.restarts += other.restarts;
        self.splits += other.splits;
        self.other_events += other.other_events;
    }
}

/// A slice of the period on whole-second bounds. `end: None` runs to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
}

impl Window {
    /// Splits in two at a whole second; `None` when shorter than 2 s.
    fn halves(self, now: DateTime<Utc>) -> Option<(Window, Window)> {
        let end = self.end.unwrap_or(now);
        let seconds = (end - self.start).num_seconds();
        if seconds < 2 {
            return None;
        }
        let middle = self.start + chrono::Duration::seconds(seconds / 2);
        Some((
            Window {
                start: self.start,
                end: Some(middle),
            },
            Window {
                start: middle,
                end: self.end,
            },
        ))
    }
}

/// The period in `parts` windows of whole seconds (fewer when short).
fn initial_windows(period: &Period, parts: usize, now: DateTime<Utc>) -> Vec<Window> {
    let end = period.end.unwrap_or(now).max(period.start);
    let seconds = (end - period.start).num_seconds().max(0) as usize;
    let parts = parts.clamp(1, seconds.max(1));
    let step = (seconds / parts) as i64;
    (0..parts)
        .map(|i| Window {
            start: period.start + chrono::Duration::seconds(step * i as i64),
            end: if i + 1 == parts {
                period.end
            } else {
                Some(period.start + chrono::Duration::seconds(step * (i as i64 + 1)))
            },
        })
        .collect()
}

/// Work shared by the window workers.
struct Shared<F> {
    queue: Mutex<VecDeque<Window>>,
    active: AtomicUsize,
    changed: Notify,
    workers: usize,
    now: DateTime<Utc>,
    state: Mutex<(EventScan, F)>,
}

/// Streams every backup status change in `period`. The period is cut into
/// windows on whole-second bounds (so events of one second, whose log order
/// decides ties, always come through one listing, in log order), paged by
/// `concurrency` workers; a window that turns out to hold more while a
/// worker is idle is split in two (work stealing). `on_change` sees each
/// window's events in log order; events delivered twice (after a split or a
/// reset) carry the same fingerprint.
pub async fn scan_backup_changes<F: FnMut(StatusChange, &RawValue, &EventScan)>(
    transport: &Transport,
    period: &Period,
    concurrency: usize,
    on_change: F,
) -> Result<EventScan, ApiError> {
    let now = Utc::now();
    let workers = concurrency.max(1);
    let shared = Shared {
        queue: Mutex::new(initial_windows(period, workers * WINDOWS_PER_WORKER, now).into()),
        active: AtomicUsize::new(0),
        changed: Notify::new(),
        workers,
        now,
        state: Mutex::new((EventScan::default(), on_change)),
    };
    futures_util::future::try_join_all((0..workers).map(|_| worker(transport, &shared))).await?;
    let (scan, _) = shared.state.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(scan)
}

const WINDOWS_PER_WORKER: usize = 1;

async fn worker<F: FnMut(StatusChange, &RawValue, &EventScan)>(
    transport: &Transport,
    shared: &Shared<F>,
) -> Result<(), ApiError> {
    loop {
        let changed = shared.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let next = {
            let mut queue = lock(&shared.queue);
            let next = queue.pop_front();
            if next.is_some() {
                shared.active.fetch_add(1, Ordering::SeqCst);
            }
            next
        };
        match next {
            Some(window) => {
                let result = scan_window(transport, shared, window).await;
                shared.active.fetch_sub(1, Ordering::SeqCst);
                shared.changed.notify_waiters();
                result?;
            }
            None if shared.active.load(Ordering::SeqCst) == 0 => return Ok(()),
            // Another worker may still split its window: wait for news.
            None => changed.await,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The data behind these locks stays consistent across a panic.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Pages one window to its end, or splits it after its first page when it
/// holds more and a worker is idle.
async fn scan_window<F: FnMut(StatusChange, &RawValue, &EventScan)>(
    transport: &Transport,
    shared: &Shared<F>,
    window: Window,
) -> Result<(), ApiError> {
    let mut listing_start = window.start;
    let mut guard = PageGuard::new(transport.max_empty_pages());
    'listing: loop {
        // A restarted listing is a fresh chain of cursors.
        guard.restart();
        let arg = GetEventsArg {
            limit: PAGE_LIMIT,
            time: TimeRangeArg {
                start_time: format_dropbox_time(listing_start),
                end_time: window.end.map(format_dropbox_time),
            },
            event_type: BACKUP_STATUS_CHANGED,
        };
        let mut route = ROUTE_GET_EVENTS;
        let mut bytes = transport.rpc_bytes(route, &arg).await?;
        loop {
            let (has_more, cursor, events) = {
                let mut state = lock(&shared.state);
                let (scan, on_change) = &mut *state;
                fold_page(route, &bytes, scan, on_change)?
            };
            if !has_more {
                return Ok(());
            }
            guard.follow(route, &cursor, events)?;
            if route == ROUTE_GET_EVENTS && listing_start == window.start && idle_worker(shared) {
                if let Some((a, b)) = window.halves(shared.now) {
                    let mut queue = lock(&shared.queue);
                    queue.push_back(a);
                    queue.push_back(b);
                    lock(&shared.state).0.splits += 1;
                    return Ok(());
                }
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
                Err(e)
                    if is_restartable(&e)
                        && lock(&shared.state).0.restarts < MAX_RESTARTS as u64 =>
                {
                    lock(&shared.state).0.restarts += 1;
                    let window_period = Period {
                        start: window.start,
                        end: window.end,
                    };
                    listing_start =
                        restart_point(&e, &window_period, listing_start).max(window.start);
                    continue 'listing;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A worker is waiting and nothing is queued for it.
fn idle_worker<F>(shared: &Shared<F>) -> bool {
    lock(&shared.queue).is_empty() && shared.active.load(Ordering::SeqCst) < shared.workers
}

fn is_restartable(e: &ApiError) -> bool {
    matches!(e.route_tag(), Some("reset" | "bad_cursor"))
}

/// Where a restarted listing begins: the timestamp a `reset` names (never
/// before the period), else where the interrupted listing began.
fn restart_point(e: &ApiError, period: &Period, listing_start: DateTime<Utc>) -> DateTime<Utc> {
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

/// Folds one page's events; returns `has_more`, the next cursor and the
/// number of events on the page.
fn fold_page(
    route: &str,
    bytes: &[u8],
    scan: &mut EventScan,
    on_change: &mut impl FnMut(StatusChange, &RawValue, &EventScan),
) -> Result<(bool, String, usize), ApiError> {
    let page: EventsPage = serde_json::from_slice(bytes).map_err(|e| ApiError::Decode {
        route: route.into(),
        detail: e.to_string(),
    })?;
    scan.pages += 1;
    let events = page.events.len();
    for raw in page.events {
        match to_change(route, raw)? {
            Some(change) => {
                scan.changes += 1;
                on_change(change, raw, scan);
            }
            None => scan.other_events += 1,
        }
    }
    Ok((page.has_more, page.cursor, events))
}

/// What the history report and `-include-unlinked` read of an event beyond
/// the status change; parsed once, and only when one of them is asked for.
#[derive(Deserialize)]
pub struct ChangeEvent {
    timestamp: String,
    #[serde(default)]
    actor: Option<serde_json::Value>,
    #[serde(default)]
    context: Option<serde_json::Value>,
    details: ChangeEventDetails,
}

#[derive(Deserialize)]
struct ChangeEventDetails {
    #[serde(default)]
    desktop_device_session_info: Option<serde_json::Value>,
    #[serde(default)]
    previous_value: Option<StatusValue>,
    #[serde(default)]
    new_value: Option<StatusValue>,
}

impl ChangeEvent {
    pub fn parse(raw: &RawValue) -> Option<Self> {
        serde_json::from_str(raw.get()).ok()
    }
}

fn status_tag(value: Option<&StatusValue>) -> String {
    match value {
        Some(StatusValue::Direct(tag) | StatusValue::Wrapped { backup_status: tag }) => {
            tag.0.clone()
        }
        None => String::new(),
    }
}

/// `session_info.session_id` of a `desktop_device_session_info`.
fn session_id_in(info: &serde_json::Value) -> Option<String> {
    Some(
        info.get("session_info")?
            .get("session_id")?
            .as_str()?
            .to_string(),
    )
}

fn text(value: Option<&serde_json::Value>, key: &str) -> String {
    value
        .and_then(|v| v.get(key))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

/// The full story of one backup status change, for the history report.
pub fn change_details(event: &ChangeEvent) -> Option<crate::domain::history::Change> {
    let timestamp = parse_dropbox_time(&event.timestamp)?;
    let info = event.details.desktop_device_session_info.as_ref();
    let session_id = session_id_in(info?)?;
    let actor_type = event
        .actor
        .as_ref()
        .and_then(|a| a.get(".tag"))
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_string();
    // `user` and `admin` nest the person under their tag; `app` names itself.
    let person = event.actor.as_ref().and_then(|a| a.get(&actor_type));
    let actor_name = match person {
        Some(p) => text(Some(p), "display_name"),
        None => text(event.actor.as_ref(), "reseller_name"),
    };
    Some(crate::domain::history::Change {
        timestamp,
        session_id,
        host_name: text(info, "host_name"),
        previous: status_tag(event.details.previous_value.as_ref()),
        new: status_tag(event.details.new_value.as_ref()),
        actor_type,
        actor_email: text(person, "email"),
        actor_name,
        context_email: text(event.context.as_ref(), "email"),
        context_name: text(event.context.as_ref(), "display_name"),
    })
}

/// A computer as a backup event describes it, with the member the event
/// concerns: what `-include-unlinked` reports for clients no longer linked.
pub fn event_device(
    event: &ChangeEvent,
) -> Option<(crate::domain::row::LinkedDevice, String, String)> {
    let info = event.details.desktop_device_session_info.as_ref()?;
    let session_id = session_id_in(info)?;
    let context = event.context.as_ref();
    let client_type = info
        .get("client_type")
        .and_then(|t| t.get(".tag").or(Some(t)))
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_string();
    let device = crate::domain::row::LinkedDevice::new(
        &text(context, "team_member_id"),
        &session_id,
        &text(Some(info), "ip_address"),
        &text(Some(info), "host_name"),
        &text(Some(info), "updated"),
        &client_type,
        &text(Some(info), "client_version"),
        &text(Some(info), "platform"),
    );
    Some((
        device,
        text(context, "email"),
        text(context, "display_name"),
    ))
}

/// Identical events have identical JSON; the hash stands in for the event
/// id the log does not have.
fn fingerprint(raw: &RawValue) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    raw.get().hash(&mut hasher);
    hasher.finish()
}

pub fn to_change(route: &str, raw: &RawValue) -> Result<Option<StatusChange>, ApiError> {
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
