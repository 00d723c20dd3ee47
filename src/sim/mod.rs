//! The Dropbox API simulator: an axum server on 127.0.0.1 that serves a
//! generated or loaded team over the routes this tool uses, following
//! `shared/dropbox-api.md` (JSON shapes, 400 plain-text errors, 409 route
//! errors, opaque cursors that change every page, server-chosen page sizes,
//! empty pages with `has_more`, bearer tokens with scopes and expiry), with
//! faults that tests can inject per route, call counters per route, and
//! events that arrive late (`late`) or on a timer (`live`).
//! It is part of the product: `tbx dev simulate` and `tbx dev demo` use it.

pub mod cursor;
pub mod generate;
mod late;
mod live;
mod oauth;
mod routes;
pub mod team;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::value::RawValue;
use serde_json::Value;
use thiserror::Error;
use tokio::sync::oneshot;

pub use late::LateChange;
pub use live::{LiveChange, LiveSchedule};
pub use team::SimTeam;
use team::{IndexedEvent, Symbols, TeamIndex};

/// Every scope the simulator knows; the default token has them all.
pub const ALL_SCOPES: [&str; 4] = [
    "events.read",
    "members.read",
    "sessions.list",
    "team_info.read",
];

#[derive(Debug, Error)]
pub enum SimError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("{0}")]
    Team(#[from] team::TeamFileError),
    #[error("cannot start the simulator runtime: {0}")]
    Runtime(std::io::Error),
}

/// Knobs for how the simulator pages and authorises.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// At most this many events per page, whatever `limit` asks.
    pub events_page_max: usize,
    /// Every n-th page of events is empty but says `has_more` (0: never).
    pub empty_page_every: u64,
    /// Members per page of `list_members_devices`.
    pub devices_page_members: usize,
    pub token_lifetime: Duration,
    /// An access token expires after this many API calls (tests of refresh).
    pub token_max_calls: Option<u64>,
    /// The app key (OAuth `client_id`) the simulator's app has.
    pub app_key: String,
    pub schedule: FaultSchedule,
    pub late: LateSchedule,
}

/// Late arrivals by call count: every `every`-th `team_log/get_events`
/// call (0: never) first appends a backup status change stamped `hours`
/// ago to the end of the log.
#[derive(Debug, Clone, Default)]
pub struct LateSchedule {
    pub every: u64,
    pub hours: u64,
}

/// Deterministic faults by call count, for `tbx dev simulate` and tests:
/// every n-th API call (0: never) gets the fault.
#[derive(Debug, Clone, Default)]
pub struct FaultSchedule {
    /// 429 with `Retry-After: retry_after`.
    pub rate_limit_every: u64,
    /// 503 plain text and 500 HTML, alternating.
    pub fail_every: u64,
    /// The connection closes half-way through the response body.
    pub drop_every: u64,
    /// Every n-th continuation (events or devices) is answered `reset`.
    pub reset_every: u64,
    /// Each page of events is served newest first (same-second events keep
    /// their log order, so the tie rule is unaffected).
    pub disorder: bool,
    /// Milliseconds added before every answer.
    pub latency_ms: u64,
    /// Seconds in `Retry-After` (at least 1: the header is whole seconds).
    pub retry_after: u64,
}

/// The simulated app's key, unless configured otherwise.
pub const SIM_APP_KEY: &str = "sim-app-key";

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            events_page_max: 200,
            empty_page_every: 4,
            devices_page_members: 25,
            token_lifetime: Duration::from_secs(14_400),
            token_max_calls: None,
            app_key: SIM_APP_KEY.to_string(),
            schedule: FaultSchedule::default(),
            late: LateSchedule::default(),
        }
    }
}

/// A failure the next calls of a route will get instead of an answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Status 429: `retry_after` goes to the header and the body, `text_body`
    /// sends plain text, and `write_operations` leaves `retry_after` out
    /// of the body.
    RateLimited {
        retry_after: Option<u64>,
        text_body: bool,
        write_operations: bool,
    },
    /// A 5xx with an HTML, plain-text or empty body.
    ServerError {
        status: u16,
        body: FaultBody,
        retry_after: Option<u64>,
    },
    /// 401 `expired_access_token`.
    ExpiredToken,
    /// A 409 route error, e.g. `reset` with a timestamp value.
    RouteError { tag: String, value: Option<Value> },
}

#[derive(Debug, Clone, Copy)]
pub enum FaultBody {
    Html,
    Text,
    Empty,
}

#[derive(Debug)]
struct TokenInfo {
    scopes: Vec<String>,
    expires_at: Instant,
    revoked: bool,
    /// The refresh token this access token was minted from.
    family: Option<String>,
    calls: u64,
}

#[derive(Debug)]
struct CodeInfo {
    challenge: String,
    scopes: Vec<String>,
    issued: Instant,
}

#[derive(Debug)]
struct RefreshInfo {
    scopes: Vec<String>,
    revoked: bool,
}

#[derive(Debug, Default)]
struct SimState {
    tokens: HashMap<String, TokenInfo>,
    codes: HashMap<String, CodeInfo>,
    /// Access tokens that have been answered `expired_access_token`.
    expired_tokens: std::collections::HashSet<String>,
    refresh_tokens: HashMap<String, RefreshInfo>,
    serial: u64,
    calls: BTreeMap<String, u64>,
    /// API calls so far (not OAuth), for the fault schedule.
    api_calls: u64,
    /// Continuation calls so far, for `reset_every`.
    continuations: u64,
    in_flight: u64,
    max_in_flight: u64,
    faults: Vec<PendingFault>,
    /// Late changes added so far, to take the sessions in turn.
    late_added: u64,
}

/// A fault waiting for its route: it lets `skip` calls through, then
/// answers the next `times` calls.
#[derive(Debug)]
struct PendingFault {
    route: String,
    skip: u64,
    times: u32,
    fault: Fault,
}

/// The audit log as served, in log order: the team's events, then those
/// added while the simulator runs (which is how late arrivals look).
/// Each event is kept as its JSON text, serialized once: a page is their
/// concatenation, and the text takes a tenth of a `Value`'s memory.
#[derive(Debug, Default)]
pub(crate) struct EventLog {
    pub raw: Vec<Box<RawValue>>,
    pub index: Vec<IndexedEvent>,
    /// The names in `index`.
    pub symbols: Symbols,
    /// The latest backup status change of each desktop session, the
    /// template of a late one; built on the first late change.
    pub latest_change: Option<HashMap<String, usize>>,
    /// Where the events added while running start.
    pub added_from: usize,
}

pub(crate) struct Sim {
    /// The team without its events, which live in `log`.
    team: SimTeam,
    index: TeamIndex,
    log: RwLock<EventLog>,
    config: SimConfig,
    state: Mutex<SimState>,
}

impl Sim {
    fn state(&self) -> MutexGuard<'_, SimState> {
        // A panic while holding the lock cannot leave the counters invalid,
        // so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log(&self) -> RwLockReadGuard<'_, EventLog> {
        // Appending an event cannot leave the log half-written.
        self.log.read().unwrap_or_else(|e| e.into_inner())
    }

    fn log_mut(&self) -> RwLockWriteGuard<'_, EventLog> {
        self.log.write().unwrap_or_else(|e| e.into_inner())
    }

    fn issue_token(&self, scopes: &[&str], lifetime: Duration) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        self.state().mint_access(scopes, lifetime, None)
    }
}

/// A random secret with a recognisable prefix.
fn secret(prefix: &str) -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(48)
        .map(char::from)
        .collect();
    format!("{prefix}{tail}")
}

impl SimState {
    fn mint_access(
        &mut self,
        scopes: Vec<String>,
        lifetime: Duration,
        family: Option<String>,
    ) -> String {
        let token = secret("sl.sim.");
        self.tokens.insert(
            token.clone(),
            TokenInfo {
                scopes,
                expires_at: Instant::now() + lifetime,
                revoked: false,
                family,
                calls: 0,
            },
        );
        token
    }

    fn mint_refresh(&mut self, scopes: Vec<String>) -> String {
        let token = secret("sim-refresh-");
        self.refresh_tokens.insert(
            token.clone(),
            RefreshInfo {
                scopes,
                revoked: false,
            },
        );
        token
    }
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    pub base_url: String,
    /// An access token with every scope, valid for the configured lifetime.
    pub token: String,
    sim: Arc<Sim>,
    shutdown: Option<oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    /// The runtime the server runs on, for the live changes' task.
    spawner: tokio::runtime::Handle,
    /// The live changes' tasks, aborted on stop.
    live: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl SimHandle {
    /// How many calls a route (`team_log/get_events`) has received.
    pub fn calls(&self, route: &str) -> u64 {
        self.sim.state().calls.get(route).copied().unwrap_or(0)
    }

    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        self.sim.state().calls.clone()
    }

    /// The next `times` calls of `route` fail with `fault`.
    pub fn inject(&self, route: &str, times: u32, fault: Fault) {
        self.inject_after(route, 0, times, fault);
    }

    /// After `skip` more calls of `route` go through, the next `times` fail
    /// with `fault`. Faults for one route queue up in the order injected.
    pub fn inject_after(&self, route: &str, skip: u64, times: u32, fault: Fault) {
        self.sim.state().faults.push(PendingFault {
            route: route.to_string(),
            skip,
            times,
            fault,
        });
    }

    /// A new token with the given scopes and lifetime.
    pub fn issue_token(&self, scopes: &[&str], lifetime: Duration) -> String {
        self.sim.issue_token(scopes, lifetime)
    }

    /// A refresh token of the simulated app, and an access token minted
    /// from it with `lifetime` (zero: already expired).
    pub fn grant(&self, scopes: &[&str], lifetime: Duration) -> (String, String) {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let mut state = self.sim.state();
        let refresh = state.mint_refresh(scopes.clone());
        let access = state.mint_access(scopes, lifetime, Some(refresh.clone()));
        (access, refresh)
    }

    /// The most API calls that were being answered at the same time.
    pub fn max_in_flight(&self) -> u64 {
        self.sim.state().max_in_flight
    }

    /// How many distinct access tokens were refused as expired.
    pub fn expired_tokens(&self) -> usize {
        self.sim.state().expired_tokens.len()
    }

    pub fn app_key(&self) -> &str {
        &self.sim.config.app_key
    }

    /// The team's members and devices; its events are in `events()`.
    pub fn team(&self) -> &SimTeam {
        &self.sim.team
    }

    /// The audit log in log order, with the events added while running.
    pub fn events(&self) -> Vec<Value> {
        let log = self.sim.log();
        // The text was serialized from a `Value`, so it parses back to it
        // (`preserve_order` keeps the key order).
        log.raw
            .iter()
            .filter_map(|raw| serde_json::from_str(raw.get()).ok())
            .collect()
    }

    /// Appends a backup status change stamped in the past to the log (see
    /// `LateChange`) and returns it; `None` when no session fits.
    pub fn add_late_change(&self, change: &LateChange) -> Option<Value> {
        self.sim.add_late_change(change)
    }

    /// Every event appended to the log since the simulator started (live,
    /// late or by `add_late_change`), in log order.
    pub fn added_changes(&self) -> Vec<Value> {
        let log = self.sim.log();
        log.raw[log.added_from.min(log.raw.len())..]
            .iter()
            .filter_map(|raw| serde_json::from_str(raw.get()).ok())
            .collect()
    }

    /// Adds a backup status change on the schedule (see `LiveSchedule`)
    /// until the simulator stops.
    pub fn start_live(&self, schedule: LiveSchedule) {
        self.start_live_reporting(schedule, |_| {});
    }

    /// Stops adding live changes (the simulator goes on serving).
    pub fn stop_live(&self) {
        for task in lock_ignoring_poison(&self.live).drain(..) {
            task.abort();
        }
    }

    /// `start_live`, handing each change added to `report` (on the
    /// simulator's runtime: it should not block).
    pub fn start_live_reporting<F>(&self, schedule: LiveSchedule, report: F)
    where
        F: FnMut(&LiveChange) + Send + 'static,
    {
        let task = self
            .spawner
            .spawn(live::run(self.sim.clone(), schedule, report));
        lock_ignoring_poison(&self.live).push(task.abort_handle());
    }

    /// Waits until the server stops (Ctrl-C handling is the caller's).
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        self.stop_live();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// A list of task handles stays whole whatever panicked while it was held.
fn lock_ignoring_poison<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

fn prepare(mut team: SimTeam, config: SimConfig) -> Result<Arc<Sim>, SimError> {
    let mut index = team.index()?;
    let events = std::mem::take(&mut team.events);
    let mut raw = Vec::with_capacity(events.len());
    // Each `Value` is dropped as soon as it is serialized, so the two forms
    // of the whole log never coexist.
    for (i, event) in events.into_iter().enumerate() {
        let text = serde_json::value::to_raw_value(&event)
            .map_err(|e| team::TeamFileError::Invalid(format!("event #{i}: {e}")))?;
        raw.push(text);
    }
    let log = EventLog {
        added_from: raw.len(),
        raw,
        index: std::mem::take(&mut index.events),
        symbols: std::mem::take(&mut index.symbols),
        latest_change: None,
    };
    Ok(Arc::new(Sim {
        team,
        index,
        log: RwLock::new(log),
        config,
        state: Mutex::new(SimState::default()),
    }))
}

async fn bind(port: u16) -> Result<(tokio::net::TcpListener, SocketAddr), SimError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| SimError::Bind { port, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SimError::Bind { port, source })?;
    Ok((listener, addr))
}

fn serve(sim: Arc<Sim>, listener: tokio::net::TcpListener) -> oneshot::Sender<()> {
    let (tx, rx) = oneshot::channel::<()>();
    let app = routes::router(sim);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    tx
}

/// Starts the simulator on the current tokio runtime. `port` 0 picks a free
/// port.
pub async fn start(team: SimTeam, config: SimConfig, port: u16) -> Result<SimHandle, SimError> {
    let lifetime = config.token_lifetime;
    let sim = prepare(team, config)?;
    let (listener, addr) = bind(port).await?;
    let shutdown = serve(sim.clone(), listener);
    let token = sim.issue_token(&ALL_SCOPES, lifetime);
    Ok(SimHandle {
        base_url: format!("http://{addr}"),
        token,
        sim,
        shutdown: Some(shutdown),
        runtime: None,
        spawner: tokio::runtime::Handle::current(),
        live: Mutex::new(Vec::new()),
    })
}

/// Starts the simulator on a runtime of its own, for callers without one
/// (tests that run the binary as a child process).
pub fn start_background(team: SimTeam, config: SimConfig) -> Result<SimHandle, SimError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(SimError::Runtime)?;
    let mut handle = runtime.block_on(start(team, config, 0))?;
    handle.runtime = Some(runtime);
    Ok(handle)
}
