//! The local event store: a rerun fetches only what the store has not
//! settled (a fetch settles the times older than 24 hours before it), with
//! the same rows as a cold run; `-no-cache` rebuilds, even a broken store;
//! a broken store is moved aside and rebuilt, one of an older version
//! emptied and rebuilt; an event takes under 200 bytes; `config cache
//! list|delete` show and clear it. Late events: tests/late_events.rs.

mod common;

use std::path::Path;
use std::process::Command;

use chrono::Duration;
use common::*;
use tbx::sim::SimHandle;

fn events_calls(sim: &SimHandle) -> u64 {
    sim.calls("team_log/get_events") + sim.calls("team_log/get_events/continue")
}

#[test]
fn a_rerun_fetches_only_the_gaps_and_reports_the_same_rows() {
    let team = team(60, 131);
    let sim = start(team.clone());
    let home = tempfile::tempdir().unwrap();
    let (start, end) = (anchor() - Duration::days(60), anchor() - Duration::days(20));
    let (s, e) = (z(start), z(end));

    let cold = run_status_in(home.path(), &sim, &["-start-time", &s, "-end-time", &e]);
    assert!(
        cold.status.success(),
        "{}",
        String::from_utf8_lossy(&cold.stderr)
    );
    assert_eq!(
        latest_rows(home.path()),
        expected_rows(&team, start, Some(end))
    );
    let after_cold = events_calls(&sim);
    assert!(after_cold > 0);

    // The same past period again: nothing to fetch.
    let again = run_status_in(home.path(), &sim, &["-start-time", &s, "-end-time", &e]);
    assert!(again.status.success());
    assert_eq!(
        events_calls(&sim),
        after_cold,
        "a covered period costs no get_events call"
    );
    assert_eq!(
        latest_rows(home.path()),
        expected_rows(&team, start, Some(end))
    );

    // A period reaching ten days further: one gap, fetched alone.
    let later = anchor() - Duration::days(10);
    let wider = run_status_in(
        home.path(),
        &sim,
        &[
            "-start-time",
            &s,
            "-end-time",
            &z(later),
            "-concurrency",
            "1",
        ],
    );
    assert!(wider.status.success());
    let gap_calls = events_calls(&sim) - after_cold;
    assert!(
        (1..=2).contains(&gap_calls),
        "one gap of ten days: {gap_calls} calls"
    );
    assert_eq!(
        latest_rows(home.path()),
        expected_rows(&team, start, Some(later))
    );

    // -no-cache fetches everything again, with the same rows.
    let before = events_calls(&sim);
    let rebuilt = run_status_in(
        home.path(),
        &sim,
        &["-start-time", &s, "-end-time", &z(later), "-no-cache"],
    );
    assert!(rebuilt.status.success());
    assert!(events_calls(&sim) - before >= gap_calls);
    assert_eq!(
        latest_rows(home.path()),
        expected_rows(&team, start, Some(later))
    );
}

#[test]
fn an_open_ended_rerun_refetches_only_the_unsettled_day() {
    let team = team(30, 132);
    let sim = start(team.clone());
    let home = tempfile::tempdir().unwrap();
    let start = anchor() - Duration::days(30);
    assert!(
        run_status_in(home.path(), &sim, &["-start-time", &z(start)])
            .status
            .success()
    );
    let before = events_calls(&sim);
    assert!(
        run_status_in(home.path(), &sim, &["-start-time", &z(start)])
            .status
            .success()
    );
    assert_eq!(
        events_calls(&sim) - before,
        1,
        "one call for the last day and the time since"
    );
    assert_eq!(latest_rows(home.path()), expected_rows(&team, start, None));
}

#[test]
fn the_store_is_private_holds_no_token_and_can_be_listed_and_deleted() {
    let sim = start(team(20, 133));
    let home = tempfile::tempdir().unwrap();
    assert!(run_status_in(
        home.path(),
        &sim,
        &["-start-time", &z(anchor() - Duration::days(30))]
    )
    .status
    .success());
    let stores: Vec<_> = std::fs::read_dir(home.path().join("store"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(stores.len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&stores[0]).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let bytes = std::fs::read(&stores[0]).unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains(&sim.token));

    let cache = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("TOOLBOX_HOME", home.path())
            .output()
            .unwrap()
    };
    let list = cache(&["config", "cache", "list"]);
    let text = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(
        list.status.success() && text.contains("events") && text.contains("covers"),
        "{text}"
    );
    let delete = cache(&["config", "cache", "delete", "-all"]);
    assert!(delete.status.success());
    assert_eq!(
        std::fs::read_dir(home.path().join("store"))
            .unwrap()
            .count(),
        0
    );
}

fn store_files(home: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(home.join("store"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// A store file SQLite cannot use, in each way a disk or a crash breaks it.
fn break_store(path: &Path, how: &str) {
    match how {
        "garbage" => std::fs::write(path, b"not a database at all\n".repeat(500)).unwrap(),
        "truncated" => {
            let len = std::fs::metadata(path).unwrap().len();
            let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            file.set_len(len / 2).unwrap();
        }
        _ => unreachable!(),
    }
}

#[test]
fn a_broken_store_is_moved_aside_rebuilt_and_reported_in_one_line() {
    let team = team(20, 134);
    let sim = start(team.clone());
    let start = anchor() - Duration::days(40);
    let args = ["-start-time", &z(start)];
    for how in ["garbage", "truncated"] {
        let home = tempfile::tempdir().unwrap();
        assert!(run_status_in(home.path(), &sim, &args).status.success());
        let [name] = &store_files(home.path())[..] else {
            panic!("one store")
        };
        break_store(&home.path().join("store").join(name), how);

        let run = run_status_in(home.path(), &sim, &args);
        let stderr = String::from_utf8_lossy(&run.stderr).to_string();
        assert!(run.status.success(), "{how}: {stderr}");
        let notes: Vec<&str> = stderr.lines().filter(|l| l.contains("corrupt-")).collect();
        assert_eq!(notes.len(), 1, "{how}: {stderr}");
        assert!(notes[0].contains("started a new one"), "{}", notes[0]);
        assert_eq!(latest_rows(home.path()), expected_rows(&team, start, None));
        let files = store_files(home.path());
        assert_eq!(files.len(), 2, "{files:?}");
        assert_eq!(&files[0], name);
        assert!(
            files[1].starts_with(&format!("{name}.corrupt-")),
            "{files:?}"
        );
        let log = read_log(&latest_job(home.path()), "toolbox.log");
        assert!(log.contains("event store rebuilt"), "{how}");

        // The rebuilt store serves the next run.
        assert!(run_status_in(home.path(), &sim, &args).status.success());
        assert_eq!(store_files(home.path()).len(), 2);
    }
}

#[test]
fn no_cache_deletes_and_rebuilds_a_broken_store() {
    let team = team(20, 135);
    let sim = start(team.clone());
    let start = anchor() - Duration::days(40);
    for how in ["garbage", "truncated"] {
        let home = tempfile::tempdir().unwrap();
        assert!(
            run_status_in(home.path(), &sim, &["-start-time", &z(start)])
                .status
                .success()
        );
        let [name] = &store_files(home.path())[..] else {
            panic!("one store")
        };
        break_store(&home.path().join("store").join(name), how);
        let run = run_status_in(home.path(), &sim, &["-start-time", &z(start), "-no-cache"]);
        let stderr = String::from_utf8_lossy(&run.stderr).to_string();
        assert!(run.status.success(), "{how}: {stderr}");
        assert_eq!(
            stderr.lines().filter(|l| l.contains("deleted it")).count(),
            1,
            "{stderr}"
        );
        assert_eq!(latest_rows(home.path()), expected_rows(&team, start, None));
        assert_eq!(
            &store_files(home.path()),
            std::slice::from_ref(name),
            "nothing kept"
        );
    }
}

#[test]
fn a_store_of_an_older_version_is_rebuilt_and_reported_in_one_line() {
    let team = team(20, 137);
    let sim = start(team.clone());
    let start = anchor() - Duration::days(40);
    let args = ["-start-time", &z(start)];
    let home = tempfile::tempdir().unwrap();
    assert!(run_status_in(home.path(), &sim, &args).status.success());
    let [name] = &store_files(home.path())[..] else {
        panic!("one store")
    };
    // What tbx wrote before store versions: each event's JSON, no version.
    let path = home.path().join("store").join(name);
    std::fs::remove_file(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT,
             fingerprint INTEGER NOT NULL UNIQUE, time INTEGER NOT NULL, raw TEXT NOT NULL);
         CREATE TABLE covered (start INTEGER NOT NULL, end INTEGER NOT NULL,
             fetched INTEGER NOT NULL);
         INSERT INTO events (fingerprint, time, raw) VALUES (1, 0, '{}');
         INSERT INTO covered VALUES (0, 4000000000, 4000000000);",
    )
    .unwrap();
    drop(conn);

    let run = run_status_in(home.path(), &sim, &args);
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(run.status.success(), "{stderr}");
    let notes: Vec<&str> = stderr.lines().filter(|l| l.contains("older tbx")).collect();
    assert_eq!(notes.len(), 1, "{stderr}");
    assert!(notes[0].contains(name.as_str()), "{}", notes[0]);
    let log = read_log(&latest_job(home.path()), "toolbox.log");
    assert!(log.contains("event store rebuilt"));
    assert_eq!(
        latest_rows(home.path()),
        expected_rows(&team, start, None),
        "fetched again, not read from the old ranges"
    );
    assert_eq!(store_files(home.path()), std::slice::from_ref(name));

    let again = run_status_in(home.path(), &sim, &args);
    assert!(again.status.success());
    assert!(!String::from_utf8_lossy(&again.stderr).contains("older tbx"));
}

/// Bytes on disk per event, on a simulated team's events decoded and
/// stored as a fetch does (the JSON is about 1.5 KB an event).
#[test]
fn a_stored_event_takes_under_200_bytes() {
    use tbx::dropbox::backup_event;
    use tbx::sim::generate::{generate, GenSpec};
    let spec = GenSpec {
        desktops: (1, 3),
        noise_ratio: 0,
        changes: (8, 14),
        ..GenSpec::new(300, 138, anchor())
    };
    let team = generate(&spec);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = tbx::store::EventStore::open(&path).unwrap();
    let mut batch = store.begin().unwrap();
    let mut json_bytes = 0;
    for (i, event) in team.events.iter().enumerate() {
        let raw = serde_json::value::to_raw_value(event).unwrap();
        json_bytes += raw.get().len();
        let change = backup_event::decode("team_log/get_events", &raw, i as u64).unwrap();
        batch.insert(&change.unwrap()).unwrap();
    }
    let span = tbx::store::Span {
        start: 0,
        end: 4_000_000_000,
    };
    batch.commit(span, 4_000_000_000).unwrap();
    let events = store.event_count().unwrap();
    assert_eq!(events as usize, team.events.len());
    drop(store);
    let per_event = std::fs::metadata(&path).unwrap().len() / events;
    eprintln!(
        "{events} events: {per_event} B each on disk (JSON: {} B)",
        json_bytes / events as usize
    );
    assert!(per_event < 200, "{per_event} bytes per event");
}

/// Ctrl-C mid-fetch: the fetch's transaction rolls back as the run stops,
/// so no journal is left behind and nothing is marked covered.
#[cfg(unix)]
#[test]
fn an_interrupted_fetch_leaves_no_journal_and_covers_nothing() {
    use std::time::{Duration as StdDuration, Instant};
    let config = tbx::sim::SimConfig {
        events_page_max: 5,
        schedule: tbx::sim::FaultSchedule {
            latency_ms: 100,
            ..Default::default()
        },
        ..Default::default()
    };
    let sim = tbx::sim::start_background(team(30, 136), config).unwrap();
    let home = tempfile::tempdir().unwrap();
    let start = z(anchor() - Duration::days(40));
    let mut child = Command::new(BIN)
        .args(status_args(&["-output", "none", "-start-time", &start]))
        .env("TOOLBOX_HOME", home.path())
        .env("TOOLBOX_DROPBOX_API_URL", &sim.base_url)
        .env("TOOLBOX_DROPBOX_TOKEN", &sim.token)
        .env_remove("TOOLBOX_DROPBOX_REFRESH_TOKEN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let store_dir = home.path().join("store");
    let journal = || {
        std::fs::read_dir(&store_dir)
            .map(|d| {
                d.flatten()
                    .any(|e| e.path().to_string_lossy().ends_with("-journal"))
            })
            .unwrap_or(false)
    };
    // Wait until the fetch is writing into the store: a page is in and the
    // listing goes on (the schema's own short write has a journal too).
    let deadline = Instant::now() + StdDuration::from_secs(60);
    while !(sim.calls("team_log/get_events/continue") >= 2 && journal()) {
        assert!(child.try_wait().unwrap().is_none(), "finished too soon");
        assert!(Instant::now() < deadline, "no fetch began");
        std::thread::sleep(StdDuration::from_millis(10));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(child.wait().unwrap().code(), Some(4), "interrupted");
    assert!(!journal(), "the transaction was rolled back");
    let [name] = &store_files(home.path())[..] else {
        panic!("one store")
    };
    let store = tbx::store::EventStore::open(&store_dir.join(name)).unwrap();
    assert_eq!(store.event_count().unwrap(), 0);
    assert!(store.covered().unwrap().is_empty());
}
