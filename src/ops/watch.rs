//! The watch story, without a command line: poll the audit log's backup
//! status changes since a named checkpoint, report each new one exactly
//! once (late arrivals included), and keep the checkpoint in the team's
//! event store. Each poll reads the trailing 24 hours again (Dropbox
//! delivers an action within 24 hours) through the store's own sync, and
//! drops what the checkpoint says was reported. Owners come from a cached
//! device and member list, refreshed only when a change needs it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::domain::change::BackupChange;
use crate::domain::history::HistoryRow;
use crate::domain::row::Owner;
use crate::domain::watch::{event_id, AlertOn};
use crate::dropbox::team::TeamInfo;
use crate::dropbox::team_log::EventScan;
use crate::dropbox::{devices, members, team, ApiError, Transport};
use crate::ops::device_status::OpsError;
use crate::store::checkpoint::{Checkpoint, PendingDelivery, PollSave};
use crate::store::sync::{sync, Sink, SETTLE_SECS};
use crate::store::{open_for_run, store_path, EventStore, Rebuilt, Span, StoreError};

/// What to watch: validated, typed.
#[derive(Debug, Clone)]
pub struct WatchQuery {
    /// The checkpoint's name (`-name`).
    pub name: String,
    /// Changes stamped earlier are never reported; used on the first start
    /// only (a saved checkpoint keeps its own).
    pub since: DateTime<Utc>,
    pub alert_on: AlertOn,
    /// Requests in flight at most (sizes a long first poll's windows).
    pub concurrency: usize,
    pub home: PathBuf,
}

/// How a watch started.
#[derive(Debug, Clone)]
pub struct Started {
    pub team: TeamInfo,
    pub store: PathBuf,
    /// A checkpoint of this name was found (and its `since` wins).
    pub resumed: bool,
    pub since: DateTime<Utc>,
    /// When the last whole poll before this start read up to.
    pub polled_to: Option<DateTime<Utc>>,
    /// Notifications still owed from before.
    pub pending: usize,
    /// The store was unreadable or of another version and was rebuilt.
    pub rebuilt: Option<Rebuilt>,
    /// Deliveries owed to targets other than `targets` given to `start`.
    pub owed_elsewhere: usize,
}

/// Why a watch could not start or poll.
#[derive(Debug, Error)]
pub enum WatchError {
    #[error(transparent)]
    Ops(#[from] OpsError),
    /// Another watch holds this checkpoint.
    #[error("checkpoint '{name}' is in use by another watch{by}; stop it first, or give this one another -name")]
    InUse { name: String, by: String },
}

impl From<StoreError> for WatchError {
    fn from(e: StoreError) -> Self {
        WatchError::Ops(e.into())
    }
}

impl From<ApiError> for WatchError {
    fn from(e: ApiError) -> Self {
        WatchError::Ops(e.into())
    }
}

/// One alerting change.
#[derive(Debug, Clone)]
pub struct Alert {
    pub fingerprint: u64,
    /// `event_id` of the JSON line: the fingerprint in hex.
    pub event_id: String,
    pub row: HistoryRow,
}

/// What one poll found; nothing is saved until `commit`.
#[derive(Debug, Clone)]
pub struct Poll {
    pub window: Span,
    /// New alerting changes, by time.
    pub alerts: Vec<Alert>,
    /// New changes that do not alert (counted, and remembered as seen).
    pub passed_over: usize,
    /// Every new change: fingerprint → time, for the checkpoint.
    seen: HashMap<u64, i64>,
    pub scan: EventScan,
    /// The device and member lists were fetched again for this poll.
    pub owners_refreshed: bool,
    /// When the poll's fetch started: the log is read up to here.
    at: DateTime<Utc>,
}

/// A watch between polls.
pub struct Watcher {
    query: WatchQuery,
    team: TeamInfo,
    store: PathBuf,
    checkpoint: Checkpoint,
    owners: OwnerCache,
    /// Held while the watch runs: one watch per checkpoint.
    _lock: File,
}

/// Deliveries are given up when their change is older than this.
pub const OWED_FOR_SECS: i64 = 7 * 24 * 3600;

/// Deliveries kept per target at most (the oldest go first).
pub const MAX_OWED: usize = 10_000;

impl Watcher {
    /// Learns the team, opens its store, takes the checkpoint's lock and
    /// finds or starts the checkpoint. `targets` are the keys of the
    /// delivery targets given now (to count what is owed to others).
    pub async fn start(
        transport: &Transport,
        query: WatchQuery,
        targets: &[String],
        now: DateTime<Utc>,
    ) -> Result<(Watcher, Started), WatchError> {
        let team = team::get_info(transport).await?;
        let path = store_path(&query.home, &team.team_id);
        let opened = open_for_run(&path, false)?;
        let lock = lock_checkpoint(&path, &query.name)?;
        let found = opened.store.load_checkpoint(&query.name)?;
        let resumed = found.is_some();
        let checkpoint = match found {
            Some(checkpoint) => checkpoint,
            None => {
                let fresh = Checkpoint::new(&query.name, query.since);
                opened.store.save_checkpoint(&fresh, now.timestamp())?;
                fresh
            }
        };
        let owners = OwnerCache::load(&opened.store)?;
        let started = Started {
            team: team.clone(),
            store: path.clone(),
            resumed,
            since: time_of(checkpoint.since),
            polled_to: checkpoint.polled_to.map(time_of),
            pending: checkpoint.pending.len(),
            rebuilt: opened.notice,
            owed_elsewhere: checkpoint
                .pending
                .iter()
                .filter(|p| !targets.contains(&p.target))
                .count(),
        };
        let watcher = Watcher {
            query,
            team,
            store: path,
            checkpoint,
            owners,
            _lock: lock,
        };
        Ok((watcher, started))
    }

    pub fn team(&self) -> &TeamInfo {
        &self.team
    }

    /// Notifications owed from earlier polls.
    pub fn pending(&self) -> &[PendingDelivery] {
        &self.checkpoint.pending
    }

    /// Reads the log from the checkpoint to `now` and finds what is new.
    pub async fn poll(
        &mut self,
        transport: &Transport,
        now: DateTime<Utc>,
    ) -> Result<Poll, OpsError> {
        let window = poll_window(self.checkpoint.since, self.checkpoint.polled_to, now);
        let store = EventStore::open(&self.store)?;
        let (synced, collected) = sync(
            store,
            transport,
            window,
            now,
            self.query.concurrency,
            |_: &EventScan| {},
            Collected::default(),
        )
        .await?;
        let fresh = new_changes(
            collected.0,
            self.checkpoint.since,
            &self.checkpoint.reported,
        );
        let seen = fresh
            .iter()
            .map(|c| (c.fingerprint, c.timestamp.timestamp()))
            .collect();
        let (alerting, passed_over): (Vec<_>, Vec<_>) = fresh
            .into_iter()
            .partition(|c| self.query.alert_on.matches(&c.new));
        let owners_refreshed = self.refresh_owners_for(transport, &alerting, now).await?;
        let alerts = alerting
            .into_iter()
            .filter_map(|change| self.alert(change))
            .collect();
        Ok(Poll {
            window,
            alerts,
            passed_over: passed_over.len(),
            seen,
            scan: synced.scan,
            owners_refreshed,
            at: now,
        })
    }

    /// Saves the poll in one transaction: what it saw counts as reported,
    /// the log as read up to its fetch time, and `owed` joins the
    /// deliveries still owed. Called once its alerts are printed and before
    /// any is delivered, so a crash from here on repeats no line and loses
    /// no delivery. Returns how many owed deliveries were given up (older
    /// than a week, or beyond `MAX_OWED` for one target).
    pub fn record(&mut self, poll: &Poll, owed: Vec<PendingDelivery>) -> Result<usize, OpsError> {
        let polled_to = poll.at.timestamp();
        // A later poll starts 24 hours before this one's end: older changes
        // can never come back, so their ids need not be kept.
        let keep_from = polled_to - SETTLE_SECS - 3600;
        let seen: Vec<(u64, i64)> = poll.seen.iter().map(|(&f, &t)| (f, t)).collect();
        let store = EventStore::open(&self.store)?;
        let dropped = store.save_poll(&PollSave {
            name: &self.checkpoint.name,
            since: self.checkpoint.since,
            polled_to,
            seen: &seen,
            keep_from,
            new_pending: &owed,
            owed_from: polled_to - OWED_FOR_SECS,
            max_owed: MAX_OWED,
        })?;
        let checkpoint = &mut self.checkpoint;
        checkpoint.reported.extend(seen);
        checkpoint.reported.retain(|_, &mut time| time >= keep_from);
        checkpoint.polled_to = Some(polled_to);
        if dropped > 0 || !owed.is_empty() {
            // The store decided what stays: read its queue back.
            checkpoint.pending = store.load_pending(&checkpoint.name)?;
        }
        Ok(dropped)
    }

    /// One owed delivery went through.
    pub fn delivered(&mut self, item: &PendingDelivery) -> Result<(), OpsError> {
        EventStore::open(&self.store)?.delivered(&self.checkpoint.name, item)?;
        self.checkpoint
            .pending
            .retain(|p| !(p.target == item.target && p.fingerprint == item.fingerprint));
        Ok(())
    }

    /// One owed delivery failed again (`item.attempts` counts it).
    pub fn attempted(&mut self, item: &PendingDelivery) -> Result<(), OpsError> {
        EventStore::open(&self.store)?.attempted(&self.checkpoint.name, item)?;
        if let Some(p) = self
            .checkpoint
            .pending
            .iter_mut()
            .find(|p| p.target == item.target && p.fingerprint == item.fingerprint)
        {
            p.attempts = item.attempts;
        }
        Ok(())
    }

    fn alert(&self, change: BackupChange) -> Option<Alert> {
        let fingerprint = change.fingerprint;
        let history = change.history_change()?;
        let owner = self.owners.of_session(&history.session_id);
        Some(Alert {
            fingerprint,
            event_id: event_id(fingerprint),
            row: history.into_row(owner),
        })
    }

    /// Fetches the device and member lists again when a change names a
    /// session the cache does not know, or the cache is an hour old; at
    /// most once a poll, and never for a poll with nothing to tell.
    async fn refresh_owners_for(
        &mut self,
        transport: &Transport,
        changes: &[BackupChange],
        now: DateTime<Utc>,
    ) -> Result<bool, OpsError> {
        if changes.is_empty() {
            return Ok(false);
        }
        let unknown = changes.iter().any(|c| {
            c.device
                .session_id
                .as_deref()
                .is_some_and(|s| !self.owners.knows(s))
        });
        if !unknown && !self.owners.older_than(now, OWNERS_MAX_AGE) {
            return Ok(false);
        }
        let size = Some(self.team.num_provisioned_users).filter(|&n| n > 0);
        self.owners = OwnerCache::fetch(transport, size, now).await?;
        // Kept for the next start (`-once` from cron starts every time).
        EventStore::open(&self.store)
            .and_then(|store| self.owners.save(&store))
            .map_err(OpsError::from)?;
        Ok(true)
    }
}

/// How old the owner cache may get before a change makes it fetched again.
const OWNERS_MAX_AGE: Duration = Duration::from_secs(3600);

/// Takes the lock file of checkpoint `name` beside the store; the OS lets
/// it go when the process ends, however it ends.
fn lock_checkpoint(store: &Path, name: &str) -> Result<File, WatchError> {
    use std::io::{Read, Seek, Write};
    let path = store.with_extension(format!("watch-{name}.lock"));
    let failed = |e: std::io::Error| StoreError {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(failed)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let by = match pid.trim() {
                "" => String::new(),
                pid => format!(" (process {pid})"),
            };
            return Err(WatchError::InUse {
                name: name.to_string(),
                by,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(failed(e).into()),
    }
    // Who holds it, for the message another start gives.
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| write!(file, "{}", std::process::id()))
        .and_then(|()| file.flush())
        .map_err(failed)?;
    Ok(file)
}

fn time_of(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// The part of the log a poll reads: from 24 hours before the last poll's
/// end (what may still have gained late events), never before `since`, to
/// the second after `now`.
pub fn poll_window(since: i64, polled_to: Option<i64>, now: DateTime<Utc>) -> Span {
    let end = now.timestamp() + 1;
    let start = match polled_to {
        Some(to) => since.max(to - SETTLE_SECS),
        None => since,
    };
    Span {
        start: start.min(end),
        end,
    }
}

/// The changes not reported yet, stamped at or after `since`, once each,
/// by time (arrival order within a second).
fn new_changes(
    mut changes: Vec<BackupChange>,
    since: i64,
    reported: &HashMap<u64, i64>,
) -> Vec<BackupChange> {
    let mut once = HashSet::new();
    changes.retain(|c| {
        c.timestamp.timestamp() >= since
            && !reported.contains_key(&c.fingerprint)
            && once.insert(c.fingerprint)
    });
    changes.sort_by_key(|c| c.timestamp);
    changes
}

/// Every change of a poll's window, fetched or read back.
#[derive(Default)]
struct Collected(Vec<BackupChange>);

impl Sink for Collected {
    fn take(&mut self, change: BackupChange) {
        self.0.push(change);
    }
}

/// Session → owner of the team's linked desktop clients, as of `fetched`.
#[derive(Default)]
struct OwnerCache {
    sessions: HashMap<String, Arc<Owner>>,
    fetched: Option<DateTime<Utc>>,
}

impl OwnerCache {
    async fn fetch(
        transport: &Transport,
        team_size: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Self, ApiError> {
        let devices = devices::list_desktop_clients(transport, |_| {}).await?;
        let wanted: BTreeSet<String> = devices
            .iter()
            .map(|d| d.team_member_id().to_string())
            .collect();
        let owners = members::resolve_owners(transport, &wanted, team_size).await?;
        let owners: HashMap<String, Arc<Owner>> = owners
            .into_iter()
            .map(|(id, owner)| (id, Arc::new(owner)))
            .collect();
        let sessions = devices
            .iter()
            .filter_map(|d| {
                let owner = owners.get(d.team_member_id())?;
                Some((d.session_id().to_string(), Arc::clone(owner)))
            })
            .collect();
        Ok(Self {
            sessions,
            fetched: Some(now),
        })
    }

    /// The owners a previous start kept in the store.
    fn load(store: &EventStore) -> Result<Self, StoreError> {
        let Some((owners, fetched)) = store.load_owners()? else {
            return Ok(Self::default());
        };
        let sessions = owners
            .into_iter()
            .map(|[session, email, display_name]| {
                (
                    session,
                    Arc::new(Owner {
                        email,
                        display_name,
                    }),
                )
            })
            .collect();
        Ok(Self {
            sessions,
            fetched: DateTime::from_timestamp(fetched, 0),
        })
    }

    fn save(&self, store: &EventStore) -> Result<(), StoreError> {
        let owners: Vec<[&str; 3]> = self
            .sessions
            .iter()
            .map(|(s, o)| [s.as_str(), o.email.as_str(), o.display_name.as_str()])
            .collect();
        let fetched = self.fetched.map_or(0, |t| t.timestamp());
        store.save_owners(&owners, fetched)
    }

    fn knows(&self, session_id: &str) -> bool {
        self.sessions.contains_key(session_id)
    }

    fn of_session(&self, session_id: &str) -> Option<Arc<Owner>> {
        self.sessions.get(session_id).cloned()
    }

    fn older_than(&self, now: DateTime<Utc>, age: Duration) -> bool {
        self.fetched
            .is_none_or(|at| (now - at).to_std().is_ok_and(|elapsed| elapsed >= age))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::change::{Actor, EventDevice, Person};
    use crate::domain::status::BackupStatus;

    fn record_sample(fingerprint: u64, time: i64) -> BackupChange {
        BackupChange {
            timestamp: at(time),
            order: fingerprint,
            fingerprint,
            previous: None,
            new: BackupStatus::Disabled,
            device: EventDevice::default(),
            updated: String::new(),
            actor: Actor::default(),
            member: Person::default(),
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn a_poll_reads_from_a_day_before_the_last_one_never_before_since() {
        let day = SETTLE_SECS;
        assert_eq!(
            poll_window(1_000, None, at(5_000)),
            Span {
                start: 1_000,
                end: 5_001
            }
        );
        let later = 10 * day;
        assert_eq!(
            poll_window(1_000, Some(later), at(later + 300)),
            Span {
                start: later - day,
                end: later + 301
            }
        );
        assert_eq!(
            poll_window(later - 60, Some(later), at(later + 300)).start,
            later - 60,
            "never before since"
        );
    }

    #[test]
    fn new_changes_drop_the_reported_the_early_and_the_repeated() {
        let change = |fingerprint, time| record_sample(fingerprint, time);
        let reported = HashMap::from([(2, 150)]);
        let fresh = new_changes(
            vec![
                change(3, 300),
                change(1, 50),
                change(2, 150),
                change(4, 200),
                change(3, 300),
            ],
            100,
            &reported,
        );
        let ids: Vec<u64> = fresh.iter().map(|c| c.fingerprint).collect();
        assert_eq!(ids, [4, 3]);
    }
}
