//! `team_log/get_events` and `/continue`: pages the audit log for backup
//! status changes and streams each one, decoded once into a `BackupChange`
//! (see `backup_event`), to the caller in log order. A cursor `reset`
//! restarts the listing from the timestamp the server gives, `bad_cursor`
//! from where the listing began; the events delivered twice are recognised
//! by their fingerprint (a hash of the event's JSON) downstream.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::backup_event;
use super::error::ApiError;
use super::paging::PageGuard;
use super::transport::Transport;
use crate::domain::change::BackupChange;
use crate::domain::period::{format_dropbox_time, parse_dropbox_time, Period};

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
    scan: Mutex<EventScan>,
    /// Pages being decoded at most: one per core. More would only queue
    /// for the CPU, each with its page and a thread's allocator arena.
    decoders: Semaphore,
    on_page: F,
}

/// Streams every backup status change in `period`, a page at a time. The
/// period is cut into windows on whole-second bounds (so events of one
/// second, whose log order decides ties, always come through one listing,
/// in log order), paged by `concurrency` workers; a window that turns out
/// to hold more while a worker is idle is split in two (work stealing).
/// Pages are decoded on tokio's blocking threads, so the async workers
/// stay free for the calls in flight. `on_page` gets each page's changes in
/// log order, with the running counts, and is awaited before the window's
/// next page is asked for; when it answers `false` the scan stops (its
/// consumer is gone). Events delivered twice (after a split or a reset)
/// carry the same fingerprint. `now` is the open end of a period without
/// one.
pub async fn scan_backup_changes<F, Fut>(
    transport: &Transport,
    period: &Period,
    concurrency: usize,
    now: DateTime<Utc>,
    on_page: F,
) -> Result<EventScan, ApiError>
where
    F: Fn(Vec<BackupChange>, EventScan) -> Fut,
    Fut: Future<Output = bool>,
{
    let workers = concurrency.max(1);
    let shared = Shared {
        queue: Mutex::new(initial_windows(period, workers * WINDOWS_PER_WORKER, now).into()),
        active: AtomicUsize::new(0),
        changed: Notify::new(),
        workers,
        now,
        scan: Mutex::new(EventScan::default()),
        decoders: Semaphore::new(
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        ),
        on_page,
    };
    futures_util::future::try_join_all((0..workers).map(|_| worker(transport, &shared))).await?;
    Ok(shared.scan.into_inner().unwrap_or_else(|e| e.into_inner()))
}

const WINDOWS_PER_WORKER: usize = 1;

async fn worker<F, Fut>(transport: &Transport, shared: &Shared<F>) -> Result<(), ApiError>
where
    F: Fn(Vec<BackupChange>, EventScan) -> Fut,
    Fut: Future<Output = bool>,
{
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
                if !result? {
                    lock(&shared.queue).clear();
                    return Ok(());
                }
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
/// holds more and a worker is idle. `false`: the consumer stopped the scan.
async fn scan_window<F, Fut>(
    transport: &Transport,
    shared: &Shared<F>,
    window: Window,
) -> Result<bool, ApiError>
where
    F: Fn(Vec<BackupChange>, EventScan) -> Fut,
    Fut: Future<Output = bool>,
{
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
            let page = {
                // Never closed: the semaphore lives as long as the scan.
                let _turn = shared.decoders.acquire().await;
                decode_page(route, bytes).await?
            };
            let DecodedPage {
                has_more,
                cursor,
                events,
                changes,
            } = page;
            let (changes, scan) = number_changes(&shared.scan, changes, events);
            if !(shared.on_page)(changes, scan).await {
                return Ok(false);
            }
            if !has_more {
                return Ok(true);
            }
            guard.follow(route, &cursor, events)?;
            if route == ROUTE_GET_EVENTS && listing_start == window.start && idle_worker(shared) {
                if let Some((a, b)) = window.halves(shared.now) {
                    let mut queue = lock(&shared.queue);
                    queue.push_back(a);
                    queue.push_back(b);
                    lock(&shared.scan).splits += 1;
                    return Ok(true);
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
                    if is_restartable(&e) && lock(&shared.scan).restarts < MAX_RESTARTS as u64 =>
                {
                    lock(&shared.scan).restarts += 1;
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

/// One page of the log, decoded.
pub struct DecodedPage {
    pub has_more: bool,
    pub cursor: String,
    /// Events on the page, of any type.
    pub events: usize,
    /// The backup status changes among them, in log order.
    pub changes: Vec<BackupChange>,
}

/// Decodes a page on a blocking thread: at a thousand events a page it is
/// the scan's heaviest work, and the async workers carry the other calls.
async fn decode_page(route: &'static str, bytes: Vec<u8>) -> Result<DecodedPage, ApiError> {
    tokio::task::spawn_blocking(move || decode_page_now(route, &bytes))
        .await
        .unwrap_or_else(|e| {
            Err(ApiError::Decode {
                route: route.into(),
                detail: format!("the page's decoder stopped: {e}"),
            })
        })
}

/// A page's body decoded on the calling thread (`tbx dev bench` times it).
pub fn decode_page_now(route: &str, bytes: &[u8]) -> Result<DecodedPage, ApiError> {
    let page: EventsPage = serde_json::from_slice(bytes).map_err(|e| ApiError::Decode {
        route: route.into(),
        detail: e.to_string(),
    })?;
    let mut changes = Vec::with_capacity(page.events.len());
    for raw in &page.events {
        // The order is given when the page joins the scan's count.
        if let Some(change) = backup_event::decode(route, raw, 0)? {
            changes.push(change);
        }
    }
    Ok(DecodedPage {
        has_more: page.has_more,
        cursor: page.cursor,
        events: page.events.len(),
        changes,
    })
}

/// Counts a decoded page into the scan and numbers its changes in arrival
/// order; returns them with the counts as they stand.
fn number_changes(
    scan: &Mutex<EventScan>,
    mut changes: Vec<BackupChange>,
    events: usize,
) -> (Vec<BackupChange>, EventScan) {
    let mut scan = lock(scan);
    scan.pages += 1;
    scan.other_events += (events - changes.len()) as u64;
    for change in &mut changes {
        scan.changes += 1;
        change.order = scan.changes;
    }
    (changes, scan.clone())
}
