//! The ops layer on its own, as a watcher or an MCP tool will call it: no
//! command line, no job folder, no console. `collect` against the simulator
//! over HTTP must give the rows the command writes, typed, plus the
//! summary and history when asked, and leave its event store for a rerun.

mod common;

use std::sync::{Arc, Mutex};

use chrono::Duration;
use common::*;
use tbx::domain::period::Period;
use tbx::domain::select::Selection;
use tbx::dropbox::auth::tokens::TokenSource;
use tbx::dropbox::auth::{AccessToken, ApiBase};
use tbx::dropbox::team_log::EventScan;
use tbx::dropbox::{Transport, TransportConfig};
use tbx::ops::device_status::{collect, Observer, Phase, Quiet, StatusQuery};

fn transport(sim: &tbx::sim::SimHandle) -> Transport {
    let base = ApiBase::parse(&sim.base_url).unwrap();
    let tokens = Arc::new(TokenSource::fixed(AccessToken::new(sim.token.clone()), "t"));
    let mut config = TransportConfig::new(base, tokens);
    config.max_in_flight = 4;
    Transport::new(config).unwrap()
}

fn query(home: &std::path::Path, period: Period) -> StatusQuery {
    StatusQuery {
        period,
        selection: Selection::default(),
        include_unlinked: false,
        history: false,
        summary_stale_days: None,
        no_cache: false,
        concurrency: 4,
        home: home.to_path_buf(),
    }
}

/// Phases in the order they were reported, and whether events progressed.
#[derive(Default)]
struct Recorder {
    phases: Mutex<Vec<(Phase, bool)>>,
    event_pages: Mutex<u64>,
}

impl Observer for Recorder {
    fn phase_started(&self, phase: Phase) {
        self.phases.lock().unwrap().push((phase, true));
    }
    fn phase_finished(&self, phase: Phase) {
        self.phases.lock().unwrap().push((phase, false));
    }
    fn events_progress(&self, scan: &EventScan) {
        *self.event_pages.lock().unwrap() = scan.pages;
    }
}

/// The simulator runs its own runtime; `collect` gets another.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Runtime::new().unwrap().block_on(future)
}

#[test]
fn collect_gives_the_command_rows_typed_with_summary_and_history() {
    let team = team(30, 77);
    let start = anchor() - Duration::days(45);
    let expected = expected_rows(&team, start, Some(anchor()));
    let changes = backup_changes(&team, start, Some(anchor()));
    let sim = common::start(team);
    let home = tempfile::tempdir().unwrap();
    let period = Period {
        start,
        end: Some(anchor()),
    };
    let mut q = query(home.path(), period);
    q.history = true;
    q.summary_stale_days = Some(10);
    let observer = Recorder::default();
    let result = block_on(collect(
        &transport(&sim),
        &q,
        utc("2026-12-01T00:00:00Z"),
        &observer,
    ))
    .unwrap();

    assert_eq!(result.team.name, "Example Corp (simulated)");
    assert_eq!(result.rows.len(), expected.len());
    for (row, want) in result.rows.iter().zip(&expected) {
        assert_eq!(row.device.session_id(), want["session_info_session_id"]);
        assert_eq!(row.owner.email, want["actor_user_email"]);
        let status = row
            .latest_status
            .as_ref()
            .map_or("no_status_update", |s| s.as_str());
        assert_eq!(status, want["latest_status"]);
        let at = row.timestamp.map(z).unwrap_or_default();
        assert_eq!(at, want["timestamp"]);
        assert!(row.linked);
    }
    let summary = result.summary.expect("asked for");
    assert_eq!(summary.devices, expected.len());
    assert_eq!(summary.stale_days, 10);
    let history = result.history.expect("asked for");
    // Unfiltered, the history has every change of the period that names a
    // session, linked or not (as history.csv does).
    assert_eq!(history.len(), changes.len());
    assert!(history.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));

    let phases = observer.phases.lock().unwrap().clone();
    for phase in [
        Phase::TeamInfo,
        Phase::Devices,
        Phase::Owners,
        Phase::Events,
    ] {
        assert!(phases.contains(&(phase, true)), "{phase:?} started");
    }
    for phase in [Phase::Devices, Phase::Owners, Phase::Events] {
        assert!(phases.contains(&(phase, false)), "{phase:?} finished");
    }
    assert!(*observer.event_pages.lock().unwrap() > 0);
    assert!(result.stats.scan.pages > 0 && result.stats.gaps_fetched > 0);
}

#[test]
fn a_second_collect_of_a_settled_period_reads_only_the_store() {
    let sim = common::start(team(20, 5));
    let home = tempfile::tempdir().unwrap();
    let period = Period {
        start: anchor() - Duration::days(30),
        end: Some(anchor()),
    };
    let q = query(home.path(), period);
    let now = utc("2026-12-01T00:00:00Z");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let transport = runtime.block_on(async { transport(&sim) });
    let first = runtime
        .block_on(collect(&transport, &q, now, &Quiet))
        .unwrap();
    let before = sim.call_counts();
    let second = runtime
        .block_on(collect(&transport, &q, now, &Quiet))
        .unwrap();
    let events_calls: u64 = sim
        .call_counts()
        .iter()
        .filter(|(route, _)| route.starts_with("team_log/"))
        .map(|(route, n)| n - before.get(route).copied().unwrap_or(0))
        .sum();
    assert_eq!(events_calls, 0, "settled long ago: no audit-log call");
    assert_eq!(second.stats.gaps_fetched, 0);
    assert_eq!(first.rows.len(), second.rows.len());
    for (a, b) in first.rows.iter().zip(&second.rows) {
        assert_eq!(a.device.session_id(), b.device.session_id());
        assert_eq!(a.latest_status, b.latest_status);
        assert_eq!(a.timestamp, b.timestamp);
    }
}

#[test]
fn a_small_team_lists_its_members_while_the_devices_still_page() {
    // 120 members, 25 a device page: five device calls. A team of up to
    // 1,000 members is one `list_v2` call, never more than looking owners
    // up, so it starts at the first owner, not after the last device page.
    let sim = common::start(team(120, 3));
    let home = tempfile::tempdir().unwrap();
    let period = Period {
        start: anchor() - Duration::days(30),
        end: Some(anchor()),
    };
    let observer = Recorder::default();
    let result = block_on(collect(
        &transport(&sim),
        &query(home.path(), period),
        utc("2026-12-01T00:00:00Z"),
        &observer,
    ))
    .unwrap();
    assert!(sim.calls("team/devices/list_members_devices") >= 4);
    let phases = observer.phases.lock().unwrap().clone();
    let at = |p| phases.iter().position(|x| *x == p).unwrap();
    assert!(
        at((Phase::Owners, true)) < at((Phase::Devices, false)),
        "owners started while devices paged: {phases:?}"
    );
    assert_eq!(sim.calls("team/members/list_v2"), 1);
    assert_eq!(sim.calls("team/members/get_info_v2"), 0);
    assert!(result.rows.iter().all(|r| !r.owner.email.is_empty()));
    assert_eq!(
        result.owners_found,
        result
            .rows
            .iter()
            .map(|r| r.device.team_member_id())
            .collect::<std::collections::HashSet<_>>()
            .len()
    );
}
