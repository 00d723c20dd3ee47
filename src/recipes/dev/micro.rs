//! Micro-measures for `tbx dev bench`: the CPU a sync spends per backup
//! event, apart from the network. The simulated team's backup events are
//! laid out as real `get_events` page bodies (1000 events, bytes as the API
//! sends them) and put through the code a sync runs, on this thread alone:
//! decoding (page envelope and every event into a `BackupChange`),
//! inserting into a fresh event store (one batch, prepared statements, as
//! a sync's gap) and replaying it in time order. Each is the best of
//! three runs, so another process's burst does not count.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::domain::change::BackupChange;
use crate::dropbox::team_log::{self, BACKUP_STATUS_CHANGED};
use crate::store::{EventStore, Span};

/// Events on one page, the most the API sends.
const PAGE_EVENTS: usize = 1000;
/// Runs of each measure; the fastest counts.
const RUNS: usize = 3;

/// What `measure` found, per backup event.
#[derive(Debug, Clone, PartialEq)]
pub struct MicroFigures {
    pub pages: usize,
    pub events: usize,
    /// Mean JSON text of an event, in bytes.
    pub json_bytes: usize,
    pub decode_us: f64,
    pub insert_us: f64,
    pub replay_us: f64,
    /// The store file's size divided by the events in it.
    pub store_bytes: u64,
}

impl fmt::Display for MicroFigures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Per backup event, one core, best of {RUNS} ({} events on {} pages, {} bytes of JSON each):",
            self.events, self.pages, self.json_bytes
        )?;
        writeln!(
            f,
            "  decode (page and event to BackupChange): {:.2} µs",
            self.decode_us
        )?;
        writeln!(
            f,
            "  store insert (one batch):                {:.2} µs ({} bytes on disk)",
            self.insert_us, self.store_bytes
        )?;
        write!(
            f,
            "  replay in time order (for_each_in):      {:.2} µs",
            self.replay_us
        )
    }
}

/// Times decode, insert and replay of the backup events among `events`
/// (a simulated team's log).
pub fn measure(events: &[Value]) -> Result<MicroFigures, String> {
    let pages = pages(events)?;
    let json_bytes: usize = pages.iter().map(Vec::len).sum();
    let mut changes = Vec::new();
    decode_all(&pages, |c| changes.push(c))?;
    if changes.is_empty() {
        return Err("no backup status change to measure".into());
    }
    let n = changes.len();
    let decode = best(|| {
        let mut seen = 0usize;
        decode_all(&pages, |_| seen += 1)
    })?;
    let dir = TempDir::new("micro")?;
    let mut runs = 0;
    let insert = best(|| {
        runs += 1;
        insert_all(&dir.path().join(format!("run{runs}.db")), &changes)
    })?;
    let path = dir.path().join(format!("run{runs}.db"));
    let store = EventStore::open(&path).map_err(|e| e.to_string())?;
    let store_bytes = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
    let replay = best(|| {
        let read = store
            .for_each_in(span_of(&changes), drop)
            .map_err(|e| e.to_string())?;
        if read as usize == n {
            Ok(())
        } else {
            Err(format!("replay read {read} events of {n}"))
        }
    })?;
    let per_event = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    Ok(MicroFigures {
        pages: pages.len(),
        events: n,
        json_bytes: json_bytes / n,
        decode_us: per_event(decode),
        insert_us: per_event(insert),
        replay_us: per_event(replay),
        store_bytes: store_bytes / n as u64,
    })
}

/// The backup events as `get_events` response bodies of up to 1000.
fn pages(events: &[Value]) -> Result<Vec<Vec<u8>>, String> {
    let backup: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"][".tag"] == BACKUP_STATUS_CHANGED)
        .collect();
    let count = backup.len().div_ceil(PAGE_EVENTS);
    backup
        .chunks(PAGE_EVENTS)
        .enumerate()
        .map(|(i, chunk)| {
            // A cursor of the length Dropbox sends; its text is never read.
            let body = json!({
                "events": chunk,
                "cursor": format!("AAF{i:0>200}"),
                "has_more": i + 1 < count,
            });
            serde_json::to_vec(&body).map_err(|e| e.to_string())
        })
        .collect()
}

/// Decodes every page as a sync does, giving each change to `f`.
fn decode_all(pages: &[Vec<u8>], mut f: impl FnMut(BackupChange)) -> Result<(), String> {
    for (i, body) in pages.iter().enumerate() {
        let route = if i == 0 {
            team_log::ROUTE_GET_EVENTS
        } else {
            team_log::ROUTE_CONTINUE
        };
        let page = team_log::decode_page_now(route, body).map_err(|e| e.to_string())?;
        page.changes.into_iter().for_each(&mut f);
    }
    Ok(())
}

/// Stores `changes` in a new store at `path` in one batch, as a sync
/// stores a gap; the time from `begin` to the commit.
fn insert_all(path: &Path, changes: &[BackupChange]) -> Result<Duration, String> {
    let store = EventStore::open(path).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut batch = store.begin().map_err(|e| e.to_string())?;
    for change in changes {
        batch.insert(change).map_err(|e| e.to_string())?;
    }
    batch
        .commit(span_of(changes), span_of(changes).end)
        .map_err(|e| e.to_string())?;
    Ok(start.elapsed())
}

/// The whole seconds the changes fall in.
fn span_of(changes: &[BackupChange]) -> Span {
    let times = changes.iter().map(|c| c.timestamp.timestamp());
    Span {
        start: times.clone().min().unwrap_or(0),
        end: times.max().unwrap_or(0) + 1,
    }
}

/// The fastest of `RUNS` runs of `run`, which times itself or is timed
/// whole when it gives `()`.
fn best<T: Timed>(mut run: impl FnMut() -> Result<T, String>) -> Result<Duration, String> {
    let mut fastest = Duration::MAX;
    for _ in 0..RUNS {
        let start = Instant::now();
        let took = run()?.took(start.elapsed());
        fastest = fastest.min(took);
    }
    Ok(fastest)
}

trait Timed {
    fn took(self, whole: Duration) -> Duration;
}

impl Timed for () {
    fn took(self, whole: Duration) -> Duration {
        whole
    }
}

impl Timed for Duration {
    fn took(self, _whole: Duration) -> Duration {
        self
    }
}

/// A directory under the system's temporary one, removed when dropped
/// (also when a bench run fails half-way).
pub(super) struct TempDir(PathBuf);

impl TempDir {
    /// `tbx-<purpose>-<pid>-<nanos>`.
    pub(super) fn new(purpose: &str) -> Result<Self, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("tbx-{purpose}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(TempDir(path))
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::generate::{generate, GenSpec};

    fn team_events(spec: GenSpec) -> Vec<Value> {
        generate(&spec).events
    }

    fn spec(members: usize) -> GenSpec {
        let anchor = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        GenSpec::new(members, 7, anchor)
    }

    #[test]
    fn every_backup_event_is_decoded_stored_and_replayed() {
        let events = team_events(spec(40));
        let backup = events
            .iter()
            .filter(|e| e["event_type"][".tag"] == BACKUP_STATUS_CHANGED)
            .count();
        let figures = measure(&events).unwrap();
        assert_eq!(figures.events, backup);
        assert_eq!(figures.pages, backup.div_ceil(PAGE_EVENTS));
        assert!(figures.decode_us > 0.0 && figures.insert_us > 0.0);
        let text = figures.to_string();
        assert!(text.contains("decode") && text.contains("replay"), "{text}");
        assert!(measure(&[]).is_err());
    }

    /// `cargo test --release --lib micro -- --ignored --nocapture`
    #[test]
    #[ignore = "a measure, not a test: run it by hand"]
    fn print_the_figures_of_a_large_team() {
        let members = std::env::var("MICRO_MEMBERS")
            .ok()
            .and_then(|m| m.parse().ok())
            .unwrap_or(2000);
        // About 90,000 backup changes on 2,000 members, as issue 15's
        // event-heavy profile; no other events, which a sync never sees.
        let events = team_events(GenSpec {
            noise_ratio: 0,
            changes: (15, 45),
            ..spec(members)
        });
        println!("{}", measure(&events).unwrap());
    }
}
