//! The store's sync policy: which parts of a period must be fetched again.
//! Dropbox delivers an action to the audit log within a few hours, at most
//! 24 hours after it happened, so a fetch only settles the times older than
//! 24 hours before it ran; anything newer may still gain events and is
//! fetched again on the next run (stored events are deduplicated by
//! fingerprint). A covered range keeps the time of the fetch that covered
//! it, so a long-settled period costs no call at all. `sync` applies the
//! policy: it plans the gaps, fetches each in one transaction that rolls
//! back unless the whole gap arrived, records what it covered, and gives
//! its caller every change of the period: the fetched ones as they are
//! stored, the rest read back from the store.

use chrono::{DateTime, Utc};
use thiserror::Error;
use tokio::sync::mpsc;

use super::{gaps, EventStore, Span, StoreError};
use crate::domain::change::BackupChange;
use crate::domain::period::Period;
use crate::dropbox::team_log::{self, EventScan};
use crate::dropbox::{ApiError, Transport};

#[derive(Debug, Error)]
pub enum SyncError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a sync fetched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    /// Counts of every listing, summed over the gaps.
    pub scan: EventScan,
    /// The parts of the period fetched (and given to the sink); the rest
    /// of it is in the store.
    pub fetched: Vec<Span>,
}

/// Brings into `store` what it has not settled of `wanted`, as of `now`
/// (which becomes the fetch time of what it covers), and gives `sink`
/// every change of `wanted`: each fetched one once it is stored, so a
/// caller folds fresh changes as they arrive, then those of the rest of the
/// period, read back from the store. `progress` sees the running counts
/// after every page. Storing and reading back run on a thread of their
/// own (fed through a bounded queue), so they never hold up the calls in
/// flight.
pub async fn sync<S: Sink>(
    store: EventStore,
    transport: &Transport,
    wanted: Span,
    now: DateTime<Utc>,
    concurrency: usize,
    progress: impl Fn(&EventScan),
    sink: S,
) -> Result<(Synced, S), SyncError> {
    let todo = store.plan(wanted)?;
    let stored = gaps(wanted, &todo);
    let (queue, pages) = mpsc::channel(PAGES_QUEUED);
    let fetched_at = now.timestamp();
    let path = store.path().display().to_string();
    let writer =
        tokio::task::spawn_blocking(move || match write_gaps(&store, pages, fetched_at, sink)? {
            Some(sink) => read_back(&store, &stored, sink).map(Some),
            None => Ok(None),
        });
    let fetched = fetch_gaps(&queue, transport, &todo, now, concurrency, &progress).await;
    if fetched.is_ok() {
        // Unsent only when the writer is gone: its own error says why.
        let _ = queue.send(Write::Fetched).await;
    }
    // The writer ends once the queue closes: after reading back, or with
    // the open gap rolled back when the fetch failed.
    drop(queue);
    let written = writer.await.map_err(|e| StoreError {
        path: path.clone(),
        detail: format!("the writer stopped: {e}"),
    })?;
    let scan = fetched?;
    let sink = written?.ok_or_else(|| StoreError {
        path,
        detail: "the writer stopped before the period was stored".into(),
    })?;
    let synced = Synced {
        scan,
        fetched: todo,
    };
    Ok((synced, sink))
}

/// Gives `sink` the stored changes of `spans` (the period's parts not
/// fetched), in time order.
fn read_back<S: Sink>(store: &EventStore, spans: &[Span], mut sink: S) -> Result<S, StoreError> {
    for span in spans {
        store.for_each_in(*span, |change| sink.take(change))?;
    }
    Ok(sink)
}

/// Where fetched changes go once stored (on the writer's thread).
pub trait Sink: Send + 'static {
    fn take(&mut self, change: BackupChange);
}

/// Pages waiting for the writer at most (decoded, about half a megabyte
/// each).
const PAGES_QUEUED: usize = 8;

/// What the fetch hands the writer.
enum Write {
    /// A page's changes, for the open gap.
    Page(Vec<BackupChange>),
    /// The open gap arrived whole: commit it as covered.
    Covered(Span),
    /// Every gap arrived: read the rest of the period back.
    Fetched,
}

/// Fetches each gap into the queue, closing it with `Covered` once whole.
/// Stops early (with the counts so far) when the writer is gone: its own
/// error then tells why.
async fn fetch_gaps(
    queue: &mpsc::Sender<Write>,
    transport: &Transport,
    todo: &[Span],
    now: DateTime<Utc>,
    concurrency: usize,
    progress: &impl Fn(&EventScan),
) -> Result<EventScan, SyncError> {
    let mut total = EventScan::default();
    for gap in todo {
        let period = Period {
            start: gap.start_time(),
            end: Some(gap.end_time()),
        };
        let workers = workers_for(*gap, concurrency);
        let scan = team_log::scan_backup_changes(
            transport,
            &period,
            workers,
            now,
            |changes, scan| async move {
                progress(&scan);
                queue.send(Write::Page(changes)).await.is_ok()
            },
        )
        .await?;
        total.add(&scan);
        if queue.send(Write::Covered(*gap)).await.is_err() {
            break;
        }
    }
    Ok(total)
}

/// The writer: one transaction per gap, committed when the gap arrived
/// whole; a gap left open when the queue closes is rolled back, so it
/// stays uncovered. Each change stored goes on to `sink`, which comes back
/// once every gap is stored (`None`: the queue closed before).
fn write_gaps<S: Sink>(
    store: &EventStore,
    mut pages: mpsc::Receiver<Write>,
    fetched: i64,
    mut sink: S,
) -> Result<Option<S>, StoreError> {
    loop {
        let mut batch = store.begin()?;
        loop {
            match pages.blocking_recv() {
                Some(Write::Page(changes)) => {
                    for change in changes {
                        batch.insert(&change)?;
                        sink.take(change);
                    }
                }
                Some(Write::Covered(gap)) => {
                    batch.commit(gap, fetched)?;
                    break;
                }
                // The batch begun for a next gap is empty: it rolls back.
                Some(Write::Fetched) => return Ok(Some(sink)),
                None => return Ok(None),
            }
        }
    }
}

/// How long the audit log may take to deliver an event (Dropbox's bound).
pub const SETTLE_SECS: i64 = 24 * 3600;

/// A gap this long or shorter is fetched as one listing: a rerun's
/// unsettled day plus the time since the last run stays one call when the
/// log is quiet, rather than one call per worker.
pub const ONE_LISTING_SECS: i64 = SETTLE_SECS + 24 * 3600;

/// A range of the log that was fetched, and when (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Covered {
    pub span: Span,
    pub fetched: i64,
}

impl Covered {
    /// The part no later event can land in: times older than 24 hours
    /// before the fetch.
    pub fn settled(&self) -> Option<Span> {
        let end = self.span.end.min(self.fetched - SETTLE_SECS);
        (end > self.span.start).then_some(Span {
            start: self.span.start,
            end,
        })
    }

    fn fully_settled(&self) -> bool {
        self.span.end <= self.fetched - SETTLE_SECS
    }
}

/// The parts of `wanted` to fetch: everything not settled yet.
pub fn plan(wanted: Span, covered: &[Covered]) -> Vec<Span> {
    let settled: Vec<Span> = covered.iter().filter_map(Covered::settled).collect();
    gaps(wanted, &settled)
}

/// Workers for one planned fetch: a short one is a single listing.
pub fn workers_for(span: Span, concurrency: usize) -> usize {
    if span.end - span.start <= ONE_LISTING_SECS {
        1
    } else {
        concurrency.max(1)
    }
}

/// `covered` after a fetch of `span` that started at `fetched`. Each second
/// keeps its latest fetch (a later fetch saw at least as much); neighbours
/// with the same fetch time, or both fully settled, become one range.
pub fn record(covered: &[Covered], span: Span, fetched: i64) -> Vec<Covered> {
    // What lies ahead of the fetch is not in the log yet: never covered.
    let span = Span {
        start: span.start,
        end: span.end.min(fetched),
    };
    let mut all: Vec<Covered> = covered.to_vec();
    all.push(Covered { span, fetched });
    all.retain(|c| c.span.end > c.span.start);
    let mut cuts: Vec<i64> = all
        .iter()
        .flat_map(|c| [c.span.start, c.span.end])
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<Covered> = Vec::new();
    for w in cuts.windows(2) {
        let piece = Span {
            start: w[0],
            end: w[1],
        };
        let newest = all
            .iter()
            .filter(|c| c.span.start <= piece.start && c.span.end >= piece.end)
            .map(|c| c.fetched)
            .max();
        let Some(fetched) = newest else { continue };
        let next = Covered {
            span: piece,
            fetched,
        };
        match out.last_mut() {
            Some(last)
                if last.span.end == piece.start
                    && (last.fetched == fetched
                        || (last.fully_settled() && next.fully_settled())) =>
            {
                last.span.end = piece.end;
                last.fetched = last.fetched.max(fetched);
            }
            _ => out.push(next),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn s(start: i64, end: i64) -> Span {
        Span { start, end }
    }

    fn c(start: i64, end: i64, fetched: i64) -> Covered {
        Covered {
            span: s(start, end),
            fetched,
        }
    }

    #[test]
    fn a_range_settles_only_24_hours_before_its_fetch() {
        assert_eq!(c(0, 10 * DAY, 10 * DAY).settled(), Some(s(0, 9 * DAY)));
        assert_eq!(c(0, 5 * DAY, 10 * DAY).settled(), Some(s(0, 5 * DAY)));
        assert_eq!(c(9 * DAY, 10 * DAY, 10 * DAY).settled(), None);
    }

    #[test]
    fn an_open_rerun_refetches_the_unsettled_day_and_the_time_since() {
        let first = record(&[], s(0, 30 * DAY + 100), 30 * DAY);
        assert_eq!(first, [c(0, 30 * DAY, 30 * DAY)], "never past the fetch");
        let now = 30 * DAY + 3600;
        let todo = plan(s(0, now), &first);
        assert_eq!(todo, [s(29 * DAY, now)]);
        assert_eq!(workers_for(todo[0], 8), 1, "one listing");
        let second = record(&first, todo[0], now);
        assert_eq!(
            second,
            [c(0, 29 * DAY, 30 * DAY), c(29 * DAY, now, now)],
            "the refetched part carries the newer fetch time"
        );
        assert_eq!(plan(s(0, now + 60), &second), [s(now - DAY, now + 60)]);
    }

    #[test]
    fn an_old_closed_period_is_settled_and_costs_nothing() {
        let covered = record(&[], s(0, 10 * DAY), 40 * DAY);
        assert!(plan(s(0, 10 * DAY), &covered).is_empty());
        assert!(plan(s(DAY, 2 * DAY), &covered).is_empty());
        assert_eq!(plan(s(0, 11 * DAY), &covered), [s(10 * DAY, 11 * DAY)]);
    }

    #[test]
    fn a_recent_closed_period_is_fetched_again_until_it_settles() {
        // Fetched an hour after its end: the last 23 hours are open.
        let covered = record(&[], s(0, 10 * DAY), 10 * DAY + 3600);
        assert_eq!(
            plan(s(0, 10 * DAY), &covered),
            [s(9 * DAY + 3600, 10 * DAY)]
        );
        let later = record(&covered, s(9 * DAY + 3600, 10 * DAY), 12 * DAY);
        assert_eq!(later, [c(0, 10 * DAY, 12 * DAY)], "settled neighbours join");
        assert!(plan(s(0, 10 * DAY), &later).is_empty());
    }

    #[test]
    fn record_keeps_the_newest_fetch_per_second_and_stays_small() {
        let mut covered = Vec::new();
        // Hourly open-ended runs for three days.
        for hour in 1..=72 {
            let now = 10 * DAY + hour * 3600;
            for gap in plan(s(0, now), &covered) {
                covered = record(&covered, gap, now);
            }
        }
        let now = 10 * DAY + 72 * 3600;
        assert!(covered.len() <= 26, "{covered:?}");
        assert_eq!(plan(s(0, now), &covered), [s(now - DAY, now)]);
        // An older fetch never overrides a newer one.
        let stale = record(&covered, s(0, now), now - 7 * DAY);
        assert_eq!(plan(s(0, now), &stale), [s(now - DAY, now)]);
    }

    #[test]
    fn long_gaps_use_every_worker() {
        assert_eq!(workers_for(s(0, 2 * DAY), 4), 1);
        assert_eq!(workers_for(s(0, 2 * DAY + 1), 4), 4);
        assert_eq!(workers_for(s(0, 30 * DAY), 0), 1);
    }
}
