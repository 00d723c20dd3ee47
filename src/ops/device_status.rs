//! The device status story, without a command line: list the team's linked
//! desktop clients and resolve their owners while the event store syncs the
//! audit log's backup status changes; fold the changes per session (latest
//! wins); join, filter and sort into report rows. `collect` is the one
//! entry: the status recipe, a watcher or an MCP tool call it with a query
//! and an observer, and get typed rows, history and counts back.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use thiserror::Error;
use tokio::sync::{oneshot, Notify};

use crate::domain::change::BackupChange;
use crate::domain::fold::StatusFold;
use crate::domain::history::{HistoryLog, HistoryRow};
use crate::domain::period::Period;
use crate::domain::row::{
    build_rows, share_owners, sort_rows, unlinked_rows, LinkedDevice, Owner, Row,
};
use crate::domain::select::Selection;
use crate::domain::summary::{summarize, Summary};
use crate::dropbox::team::TeamInfo;
use crate::dropbox::team_log::EventScan;
use crate::dropbox::{devices, members, team, ApiError, Transport};
use crate::store::sync::{sync, Sink, SyncError};
use crate::store::{open_for_run, store_path, EventStore, Rebuilt, Span, StoreError};

/// What to report: validated, typed, free of any command-line form.
#[derive(Debug, Clone)]
pub struct StatusQuery {
    pub period: Period,
    pub selection: Selection,
    /// Also rows for clients seen in the log but no longer linked.
    pub include_unlinked: bool,
    /// Also the history of changes of the devices reported.
    pub history: bool,
    /// Also the summary, counting devices inactive for more than this many
    /// days as stale.
    pub summary_stale_days: Option<u32>,
    /// Rebuild the event store instead of reusing it.
    pub no_cache: bool,
    /// Requests in flight at most (the transport enforces it; this sizes
    /// the audit log's parallel windows).
    pub concurrency: usize,
    /// The tbx home that holds the event stores.
    pub home: PathBuf,
}

/// The parts of a run that take time, for progress and the job log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    TeamInfo,
    Devices,
    Owners,
    Events,
}

/// What a caller may want to know while `collect` runs. Every method has a
/// default that ignores it.
pub trait Observer: Sync {
    fn phase_started(&self, _phase: Phase) {}
    fn phase_finished(&self, _phase: Phase) {}
    /// The team is known: callers print their header here.
    fn team(&self, _team: &TeamInfo) {}
    /// The event store was unreadable or old and was rebuilt; says why.
    fn store_rebuilt(&self, _why: &Rebuilt) {}
    fn devices_progress(&self, _listed: usize) {}
    fn devices_listed(&self, _count: usize) {}
    /// Owners the API did not know (their rows keep empty names).
    fn owners_missing(&self, _count: usize) {}
    fn events_progress(&self, _scan: &EventScan) {}
    fn store_synced(&self, _gaps_fetched: usize, _store: &Path) {}
}

/// An observer for callers that want only the result.
pub struct Quiet;

impl Observer for Quiet {}

/// How the audit log was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Counts of the fetch (0 pages when the store had it all).
    pub scan: EventScan,
    /// Parts of the period the store had to fetch.
    pub gaps_fetched: usize,
    /// Sessions with at least one change in the period.
    pub sessions: usize,
    pub without_session: u64,
    pub duplicates: u64,
}

#[derive(Debug, Clone)]
pub struct StatusResult {
    pub team: TeamInfo,
    /// Filtered and sorted, in report order.
    pub rows: Vec<Row>,
    /// With `history`: the changes of the devices in `rows`, by time.
    pub history: Option<Vec<HistoryRow>>,
    /// With `summary_stale_days`: the numbers of `rows` as of `now`.
    pub summary: Option<Summary>,
    /// Linked desktop clients listed (before filters).
    pub devices_listed: usize,
    pub owners_found: usize,
    pub stats: ScanStats,
}

#[derive(Debug, Error)]
pub enum OpsError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SyncError> for OpsError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Api(e) => OpsError::Api(e),
            SyncError::Store(e) => OpsError::Store(e),
        }
    }
}

/// The report for `query` as of `now` (the run's one clock reading: the
/// open end of the period and the store's fetch time).
pub async fn collect(
    transport: &Transport,
    query: &StatusQuery,
    now: DateTime<Utc>,
    observer: &dyn Observer,
) -> Result<StatusResult, OpsError> {
    observer.phase_started(Phase::TeamInfo);
    let (team_size_tx, team_size) = oneshot::channel();
    // The device listing is the run's longest chain of calls: it starts at
    // once, beside the team's info; the audit log follows the info (its
    // store is the team's), and owners are listed as soon as that is
    // cheapest. All share the transport's limit of requests in flight.
    let ((devices, owners), (team, scanned)) = tokio::try_join!(
        async {
            devices_and_owners(transport, team_size, observer)
                .await
                .map_err(OpsError::from)
        },
        team_then_events(transport, query, now, observer, team_size_tx),
    )?;
    let devices_listed = devices.len();
    let owners_found = owners.len();
    let stats = ScanStats {
        scan: scanned.scan.clone(),
        gaps_fetched: scanned.gaps_fetched,
        sessions: scanned.folded.fold.sessions(),
        without_session: scanned.folded.fold.without_session(),
        duplicates: scanned.folded.fold.duplicates(),
    };
    let (rows, history) = assemble(devices, owners, scanned.folded, query);
    let summary = query
        .summary_stale_days
        .map(|stale_days| summarize(&rows, stale_days, now));
    Ok(StatusResult {
        team,
        rows,
        history,
        summary,
        devices_listed,
        owners_found,
        stats,
    })
}

/// The team's info, then its event store synced and folded. The team's
/// size goes to the owner lookup as soon as it is known.
async fn team_then_events(
    transport: &Transport,
    query: &StatusQuery,
    now: DateTime<Utc>,
    observer: &dyn Observer,
    team_size: oneshot::Sender<Option<u32>>,
) -> Result<(TeamInfo, Scanned), OpsError> {
    let team = team::get_info(transport).await?;
    // Nobody listening any more means the listing failed: nothing to tell.
    let _ = team_size.send(Some(team.num_provisioned_users).filter(|&n| n > 0));
    observer.phase_finished(Phase::TeamInfo);
    observer.team(&team);
    let opened = open_for_run(&store_path(&query.home, &team.team_id), query.no_cache)?;
    if let Some(notice) = &opened.notice {
        observer.store_rebuilt(notice);
    }
    let scanned = scan_events(transport, opened.store, query, now, observer).await?;
    Ok((team, scanned))
}

/// How far the device listing has got, for the owner lookup beside it.
#[derive(Default)]
struct ListingProgress {
    owners: AtomicUsize,
    done: AtomicBool,
    changed: Notify,
}

async fn devices_and_owners(
    transport: &Transport,
    team_size: oneshot::Receiver<Option<u32>>,
    observer: &dyn Observer,
) -> Result<(Vec<LinkedDevice>, HashMap<String, Owner>), ApiError> {
    let progress = ListingProgress::default();
    let listing = async {
        observer.phase_started(Phase::Devices);
        let listed = list_devices(transport, &progress, observer).await;
        progress.done.store(true, Ordering::SeqCst);
        progress.changed.notify_one();
        listed
    };
    let (devices, early) = tokio::try_join!(
        listing,
        members_while_listing(transport, team_size, &progress, observer)
    )?;
    observer.phase_finished(Phase::Devices);
    observer.devices_listed(devices.len());
    let wanted = owner_ids(&devices);
    let owners = match early {
        EarlyOwners::Listed(all) => members::look_up_missing(transport, &wanted, all).await?,
        EarlyOwners::NotListed(team_size) => {
            observer.phase_started(Phase::Owners);
            members::resolve_owners(transport, &wanted, team_size).await?
        }
    };
    let unresolved = wanted.len() - owners.len().min(wanted.len());
    if unresolved > 0 {
        observer.owners_missing(unresolved);
    }
    observer.phase_finished(Phase::Owners);
    Ok((devices, owners))
}

/// The owners of `devices`, each once. Collected from owned ids, the set
/// would first copy the id of every device (100,000 on a large team) into a
/// vector and sort it, while the audit log is still being read.
fn owner_ids(devices: &[LinkedDevice]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for device in devices {
        if !ids.contains(device.team_member_id()) {
            ids.insert(device.team_member_id().to_string());
        }
    }
    ids
}

async fn list_devices(
    transport: &Transport,
    progress: &ListingProgress,
    observer: &dyn Observer,
) -> Result<Vec<LinkedDevice>, ApiError> {
    let mut owners: HashSet<String> = HashSet::new();
    let mut counted = 0;
    devices::list_desktop_clients(transport, |devices| {
        observer.devices_progress(devices.len());
        // A reset starts the list again; owners met before stay counted.
        counted = counted.min(devices.len());
        for device in &devices[counted..] {
            if !owners.contains(device.team_member_id()) {
                owners.insert(device.team_member_id().to_string());
            }
        }
        counted = devices.len();
        progress.owners.store(owners.len(), Ordering::SeqCst);
        progress.changed.notify_one();
    })
    .await
}

/// Owners found while the devices were still paging, or not.
enum EarlyOwners {
    /// Every member of the team.
    Listed(HashMap<String, Owner>),
    /// Not listed; the team's size, when known.
    NotListed(Option<u32>),
}

/// Lists the team's members while the devices page, from the moment that
/// costs no more calls than looking the owners met so far up would (a team
/// of up to 1,000 members: at the first owner). Otherwise leaves the
/// choice to the end, when every owner is known.
async fn members_while_listing(
    transport: &Transport,
    team_size: oneshot::Receiver<Option<u32>>,
    progress: &ListingProgress,
    observer: &dyn Observer,
) -> Result<EarlyOwners, ApiError> {
    let Ok(Some(size)) = team_size.await else {
        return Ok(EarlyOwners::NotListed(None));
    };
    let worth_it = members::GET_INFO_BATCH * (members::list_calls(size).saturating_sub(1));
    loop {
        let changed = progress.changed.notified();
        if progress.owners.load(Ordering::SeqCst) > worth_it {
            observer.phase_started(Phase::Owners);
            return members::list_members(transport)
                .await
                .map(EarlyOwners::Listed);
        }
        if progress.done.load(Ordering::SeqCst) {
            return Ok(EarlyOwners::NotListed(Some(size)));
        }
        changed.await;
    }
}

/// The period's changes: counts of what was fetched, and the fold.
struct Scanned {
    scan: EventScan,
    gaps_fetched: usize,
    folded: Folded,
}

/// The period's changes folded per session; history and the devices the
/// log describes only when asked for.
struct Folded {
    fold: StatusFold,
    history: Option<HistoryLog>,
    /// Session -> (time, device, member) of its latest event.
    seen: Option<HashMap<String, SeenDevice>>,
}

/// A computer's latest event: when, what it described, whom it named.
type SeenDevice = (DateTime<Utc>, LinkedDevice, Owner);

/// The period's end: the one given, or the second after `now`.
fn period_end(period: &Period, now: DateTime<Utc>) -> DateTime<Utc> {
    period
        .end
        .unwrap_or_else(|| DateTime::from_timestamp(now.timestamp() + 1, 0).unwrap_or(now))
}

async fn scan_events(
    transport: &Transport,
    store: EventStore,
    query: &StatusQuery,
    now: DateTime<Utc>,
    observer: &dyn Observer,
) -> Result<Scanned, OpsError> {
    observer.phase_started(Phase::Events);
    let wanted = Span::new(query.period.start, period_end(&query.period, now));
    let folded = Folded {
        fold: StatusFold::new(),
        history: query.history.then(HistoryLog::default),
        seen: query.include_unlinked.then(HashMap::new),
    };
    // Fresh changes are folded by the store's writer as they are stored;
    // the store is read back only for the rest of the period.
    let path = store.path().to_path_buf();
    let progress = |scan: &EventScan| observer.events_progress(scan);
    let (synced, folded) = sync(
        store,
        transport,
        wanted,
        now,
        query.concurrency,
        progress,
        folded,
    )
    .await?;
    observer.store_synced(synced.fetched.len(), &path);
    observer.phase_finished(Phase::Events);
    Ok(Scanned {
        scan: synced.scan,
        gaps_fetched: synced.fetched.len(),
        folded,
    })
}

impl Sink for Folded {
    fn take(&mut self, change: BackupChange) {
        if let Some(seen) = self.seen.as_mut() {
            note_seen_device(seen, &change);
        }
        if let Some(history) = self.history.as_mut() {
            if let Some(details) = change.history_change() {
                history.push(details, change.fingerprint);
            }
        }
        self.fold.push(change.into_status_change());
    }
}

/// Keeps, per session, the device and member of its latest event.
fn note_seen_device(seen: &mut HashMap<String, SeenDevice>, change: &BackupChange) {
    let Some(session_id) = change.device.session_id.as_deref() else {
        return;
    };
    let newer = seen
        .get(session_id)
        .is_none_or(|(t, _, _)| change.timestamp >= *t);
    if !newer {
        return;
    }
    if let Some((device, owner)) = change.seen_device() {
        seen.insert(session_id.to_string(), (change.timestamp, device, owner));
    }
}

/// Rows (linked devices, then unlinked ones when asked), filtered and
/// sorted, and the history of the devices shown.
fn assemble(
    devices: Vec<LinkedDevice>,
    owners: HashMap<String, Owner>,
    folded: Folded,
    query: &StatusQuery,
) -> (Vec<Row>, Option<Vec<HistoryRow>>) {
    let owners = share_owners(owners);
    let latest = folded.fold.finish();
    let linked: HashSet<String> = match &folded.seen {
        Some(_) => devices.iter().map(|d| d.session_id().to_string()).collect(),
        None => HashSet::new(),
    };
    let mut rows = build_rows(devices, &latest, &owners);
    // Before the unlinked rows join: those keep the owner their event named.
    let history = folded
        .history
        .map(|log| log.rows(&session_owners(&rows, &owners)));
    if let Some(seen) = folded.seen {
        let seen = seen
            .into_iter()
            .map(|(session, (_, device, owner))| (session, (device, owner)))
            .collect();
        rows.extend(unlinked_rows(seen, &linked, &latest));
        sort_rows(&mut rows);
    }
    let rows = query.selection.apply(rows);
    // The filters apply to every report: history keeps the devices shown.
    let history = history.map(|history| {
        if query.selection.is_default() && !query.include_unlinked {
            return history;
        }
        let shown: HashSet<&str> = rows.iter().map(|r| r.device.session_id()).collect();
        history
            .into_iter()
            .filter(|h| shown.contains(h.session_id.as_str()))
            .collect()
    });
    (rows, history)
}

/// Session id → the owner of a linked device whose owner is known, for the
/// history report: the rows' own copy, shared.
fn session_owners(
    rows: &[Row],
    owners: &HashMap<String, Arc<Owner>>,
) -> HashMap<String, Arc<Owner>> {
    rows.iter()
        .filter(|r| owners.contains_key(r.device.team_member_id()))
        .map(|r| (r.device.session_id().to_string(), Arc::clone(&r.owner)))
        .collect()
}
