//! `tbx dropbox team backup device watch`, end to end: the real binary
//! against the simulator over 127.0.0.1, changes added to the log while it
//! runs (some stamped hours in the past, as Dropbox may deliver them), a
//! real webhook receiver on 127.0.0.1. Every change is reported exactly
//! once on stdout and to the webhook, across restarts and `kill -9`.

#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DurationRound, Utc};
use common::*;
use serde_json::{Map, Value};
use tbx::sim::{FaultSchedule, LateChange, LiveSchedule, SimConfig, SimHandle};

const WATCH: [&str; 5] = ["dropbox", "team", "backup", "device", "watch"];

fn watch_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = WATCH.to_vec();
    args.extend_from_slice(extra);
    args
}

fn command(home: &Path, sim: &SimHandle, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(watch_args(args))
        .env("TOOLBOX_HOME", home)
        .env("TOOLBOX_DROPBOX_API_URL", &sim.base_url)
        .env("TOOLBOX_DROPBOX_TOKEN", &sim.token)
        .env_remove("TOOLBOX_DROPBOX_REFRESH_TOKEN")
        .env_remove("TOOLBOX_DROPBOX_APP_KEY");
    cmd
}

/// The watch's stdout: one JSON object per line.
fn change_lines(text: &str) -> Vec<Map<String, Value>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A change of `session` (or the next one with history) stamped
/// `hours_ago` hours in the past, to the second.
fn add_change(sim: &SimHandle, hours_ago: i64, seconds_ago: i64) -> Value {
    let at =
        (Utc::now() - chrono::Duration::hours(hours_ago) - chrono::Duration::seconds(seconds_ago))
            .duration_trunc(chrono::Duration::seconds(1))
            .unwrap();
    sim.add_late_change(&LateChange {
        session_id: None,
        timestamp: at,
        new_value: None,
    })
    .unwrap()
}

/// What identifies a change in a watch line and in the simulator's event.
type Key = (String, String, String);

fn key_of_event(event: &Value) -> Key {
    (
        event["details"]["desktop_device_session_info"]["session_info"]["session_id"]
            .as_str()
            .unwrap()
            .to_string(),
        event["timestamp"].as_str().unwrap().to_string(),
        event["details"]["new_value"][".tag"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

fn key_of_line(line: &Map<String, Value>) -> Key {
    (
        line["session_info_session_id"]
            .as_str()
            .unwrap()
            .to_string(),
        line["timestamp"].as_str().unwrap().to_string(),
        line["new_status"].as_str().unwrap().to_string(),
    )
}

fn counts<I: IntoIterator<Item = Key>>(keys: I) -> BTreeMap<Key, usize> {
    let mut out = BTreeMap::new();
    for key in keys {
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

/// A watch running as a child, its stdout lines collected as they come.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Running { child, lines }
    }

    fn wait_for_lines(&self, n: usize, within: Duration) -> Vec<String> {
        let started = Instant::now();
        loop {
            let lines = self.lines.lock().unwrap().clone();
            if lines.len() >= n || started.elapsed() > within {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&mut self, signal: &str) -> i32 {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the watch did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn parsed(&self) -> Vec<Map<String, Value>> {
        change_lines(&self.lines.lock().unwrap().join("\n"))
    }
}

/// A webhook receiver on 127.0.0.1 that answers 500 to its first `fail`
/// requests and records the bodies it accepted.
struct Receiver {
    url: String,
    accepted: Arc<Mutex<Vec<Value>>>,
    requests: Arc<Mutex<usize>>,
}

fn receiver(fail: usize) -> Receiver {
    receiver_hanging(fail, 0)
}

/// `receiver`, whose first `hang` requests get no answer for a minute.
fn receiver_hanging(fail: usize, hang: usize) -> Receiver {
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::new(Mutex::new(0usize));
    let (a, r) = (Arc::clone(&accepted), Arc::clone(&requests));
    let app = axum::Router::new().route(
        "/hook/secret-path",
        post(move |headers: HeaderMap, body: String| {
            let (a, r) = (Arc::clone(&a), Arc::clone(&r));
            async move {
                let n = {
                    let mut r = r.lock().unwrap();
                    *r += 1;
                    *r
                };
                if n <= hang {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                if n <= fail {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                assert_eq!(headers["content-type"], "application/json");
                a.lock().unwrap().push(serde_json::from_str(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    Receiver {
        url: format!("http://{addr}/hook/secret-path"),
        accepted,
        requests,
    }
}

fn once(home: &Path, sim: &SimHandle, args: &[&str]) -> std::process::Output {
    let mut all = vec!["-once", "-exit-code"];
    all.extend_from_slice(args);
    command(home, sim, &all).output().unwrap()
}

#[test]
fn once_with_exit_code_says_whether_a_change_alerted_and_never_twice() {
    let sim = start(team(20, 301));
    let home = tempfile::tempdir().unwrap();
    let first = once(home.path(), &sim, &["-since", "-1d", "-alert-on", "any"]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(first.stdout.is_empty());

    // Stamped three hours ago, it reaches the log only now (late).
    let added = add_change(&sim, 3, 0);
    let second = once(home.path(), &sim, &[]);
    assert_eq!(
        second.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let lines = change_lines(&String::from_utf8_lossy(&second.stdout));
    assert_eq!(lines.len(), 1);
    assert_eq!(key_of_line(&lines[0]), key_of_event(&added));
    let keys: Vec<&str> = lines[0].keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "timestamp",
            "session_info_session_id",
            "session_info_host_name",
            "owner_email",
            "owner_display_name",
            "previous_status",
            "new_status",
            "actor_type",
            "actor_email",
            "actor_display_name",
            "event_id"
        ]
    );
    assert_eq!(lines[0]["event_id"].as_str().unwrap().len(), 16);
    assert!(
        !lines[0]["owner_email"].as_str().unwrap().is_empty(),
        "the owner is resolved"
    );

    // Nothing new: exit 0, and at most two calls (get_info, one page).
    let before = sim.call_counts();
    let third = once(home.path(), &sim, &[]);
    assert_eq!(third.status.code(), Some(0));
    assert!(third.stdout.is_empty(), "reported twice");
    let after = sim.call_counts();
    let events = |c: &BTreeMap<String, u64>| {
        c.get("team_log/get_events").copied().unwrap_or(0)
            + c.get("team_log/get_events/continue").copied().unwrap_or(0)
    };
    assert!(
        events(&after) - events(&before) <= 2,
        "{before:?} → {after:?}"
    );
    let devices = |c: &BTreeMap<String, u64>| {
        c.get("team/devices/list_members_devices")
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(
        devices(&after),
        devices(&before),
        "no owner lookup without a change"
    );
}

#[test]
fn a_stamp_before_since_is_not_reported_and_default_alerts_only_on_disabled() {
    let sim = start(team(20, 302));
    let home = tempfile::tempdir().unwrap();
    let first = once(home.path(), &sim, &["-since", "-2h"]);
    assert_eq!(first.status.code(), Some(0));
    add_change(&sim, 5, 0); // before -since
    let mut disabled = 0;
    for i in 0..4 {
        let added = add_change(&sim, 0, 10 + i);
        if key_of_event(&added).2 == "disabled" {
            disabled += 1;
        }
    }
    let run = once(home.path(), &sim, &[]);
    let lines = change_lines(&String::from_utf8_lossy(&run.stdout));
    assert_eq!(lines.len(), disabled, "{lines:?}");
    assert!(lines.iter().all(|l| l["new_status"] == "disabled"));
    assert_eq!(run.status.code(), Some(if disabled > 0 { 1 } else { 0 }));
}

#[test]
fn live_changes_reach_stdout_and_the_webhook_exactly_once() {
    let sim = start(team(30, 303));
    let home = tempfile::tempdir().unwrap();
    let hook = receiver(0);
    let watch = Running::start(command(
        home.path(),
        &sim,
        &[
            "-interval",
            "1s",
            "-since",
            "-1d",
            "-alert-on",
            "any",
            "-notify-webhook",
            &hook.url,
        ],
    ));
    // The simulator's live mode: a change every 0.6 s, every third one late
    // (stamped 1 to 4 hours in the past).
    sim.start_live(LiveSchedule {
        every: Duration::from_millis(600),
        late_every: 3,
        late_hours: 4,
    });
    std::thread::sleep(Duration::from_secs(4));
    sim.stop_live();
    let added: Vec<Key> = sim.added_changes().iter().map(key_of_event).collect();
    assert!(added.len() >= 5, "{added:?}");
    let lines = watch.wait_for_lines(added.len(), Duration::from_secs(20));
    let mut watch = watch;
    // Let a few more polls pass: nothing may come twice.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(watch.signal("TERM"), 0, "a stopped watch ends with success");
    assert!(lines.len() >= added.len());
    let expected = counts(added.iter().cloned());
    assert_eq!(counts(watch.parsed().iter().map(key_of_line)), expected);
    let hooked = hook.accepted.lock().unwrap().clone();
    assert_eq!(
        counts(
            hooked
                .iter()
                .map(|b| key_of_line(b["change"].as_object().unwrap()))
        ),
        expected
    );
    assert!(hooked
        .iter()
        .all(|b| b["text"].as_str().unwrap().starts_with("Backup ")));
    // The job log is whole, and the webhook URL is in no file of the home.
    assert_no_secret(home.path(), "secret-path");
}

#[test]
fn a_watch_killed_between_polls_resumes_without_loss_or_repeat() {
    let sim = start(team(30, 304));
    let home = tempfile::tempdir().unwrap();
    let args = ["-interval", "2s", "-since", "-1d", "-alert-on", "any"];
    let mut first = Running::start(command(home.path(), &sim, &args));
    let mut added = vec![key_of_event(&add_change(&sim, 0, 5))];
    added.push(key_of_event(&add_change(&sim, 6, 0)));
    first.wait_for_lines(2, Duration::from_secs(20));
    // Just after a poll: the next one is two seconds away.
    std::thread::sleep(Duration::from_millis(400));
    first.signal("KILL");
    // Changes keep arriving while no watch runs, late ones too.
    added.push(key_of_event(&add_change(&sim, 0, 3)));
    added.push(key_of_event(&add_change(&sim, 2, 0)));
    let second = Running::start(command(home.path(), &sim, &args));
    second.wait_for_lines(2, Duration::from_secs(20));
    added.push(key_of_event(&add_change(&sim, 0, 1)));
    second.wait_for_lines(3, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(3));
    let mut second = second;
    assert_eq!(second.signal("INT"), 0);
    let all = first.parsed().into_iter().chain(second.parsed());
    assert_eq!(counts(all.map(|l| key_of_line(&l))), counts(added));
}

#[test]
fn a_failing_receiver_gets_every_change_once_it_recovers() {
    let sim = start(team(20, 305));
    let home = tempfile::tempdir().unwrap();
    // Fails 5 requests: more than one poll's attempts for the first change.
    let hook = receiver(5);
    let watch = Running::start(command(
        home.path(),
        &sim,
        &[
            "-interval",
            "1s",
            "-since",
            "-1d",
            "-alert-on",
            "any",
            "-notify-webhook",
            &hook.url,
        ],
    ));
    let added: Vec<Key> = (0..3)
        .map(|i| key_of_event(&add_change(&sim, 0, 10 - i)))
        .collect();
    let started = Instant::now();
    while hook.accepted.lock().unwrap().len() < added.len() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not all delivered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let mut watch = watch;
    assert_eq!(watch.signal("TERM"), 0);
    assert!(*hook.requests.lock().unwrap() > 5);
    let hooked = hook.accepted.lock().unwrap().clone();
    assert_eq!(
        counts(
            hooked
                .iter()
                .map(|b| key_of_line(b["change"].as_object().unwrap()))
        ),
        counts(added.iter().cloned())
    );
    assert_eq!(
        counts(watch.parsed().iter().map(key_of_line)),
        counts(added)
    );
}

#[test]
fn faults_do_not_stop_a_watch_and_every_change_is_reported() {
    let team = team(20, 306);
    let config = SimConfig {
        schedule: FaultSchedule {
            rate_limit_every: 5,
            fail_every: 7,
            reset_every: 2,
            retry_after: 1,
            ..FaultSchedule::default()
        },
        token_max_calls: Some(6),
        ..SimConfig::default()
    };
    let sim = tbx::sim::start_background(team, config).unwrap();
    let (_access, refresh) = sim.grant(&tbx::sim::ALL_SCOPES, Duration::from_secs(3600));
    let home = tempfile::tempdir().unwrap();
    let mut cmd = command(
        home.path(),
        &sim,
        &["-interval", "1s", "-since", "-1d", "-alert-on", "any"],
    );
    cmd.env_remove("TOOLBOX_DROPBOX_TOKEN")
        .env("TOOLBOX_DROPBOX_REFRESH_TOKEN", &refresh)
        .env("TOOLBOX_DROPBOX_APP_KEY", sim.app_key());
    let watch = Running::start(cmd);
    let added: Vec<Key> = (0..5)
        .map(|i| {
            std::thread::sleep(Duration::from_millis(500));
            key_of_event(&add_change(&sim, i % 2 * 3, 20 - i))
        })
        .collect();
    watch.wait_for_lines(added.len(), Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    let mut watch = watch;
    assert_eq!(watch.signal("TERM"), 0);
    assert_eq!(
        counts(watch.parsed().iter().map(key_of_line)),
        counts(added)
    );
}

#[test]
fn a_refused_token_ends_the_watch_with_the_usual_message() {
    let sim = start(team(5, 307));
    let home = tempfile::tempdir().unwrap();
    let out = command(home.path(), &sim, &["-interval", "1s"])
        .env("TOOLBOX_DROPBOX_TOKEN", "not-a-token")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(11),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("authorize again"), "{stderr}");
}

/// No file under `dir` contains `secret` (gzipped logs included).
fn assert_no_secret(dir: &Path, secret: &str) {
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = if entry.extension().is_some_and(|e| e == "gz") {
            use std::io::Read;
            let mut text = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .unwrap();
            text
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        assert!(
            !text.contains(secret),
            "{} holds the secret",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_command_gets_each_alert_on_stdin_and_a_failing_one_keeps_it_queued() {
    let sim = start(team(20, 308));
    let home = tempfile::tempdir().unwrap();
    let out_file = home.path().join("alerts.jsonl");
    let ok_command = format!("sh -c 'cat >> {}'", out_file.display());
    let first = once(home.path(), &sim, &["-since", "-1d", "-alert-on", "any"]);
    assert_eq!(first.status.code(), Some(0));

    let added = key_of_event(&add_change(&sim, 0, 5));
    // A command that fails: the alert is printed, and owed to it.
    let failing = once(
        home.path(),
        &sim,
        &["-alert-on", "any", "-notify-exec", "sh -c 'exit 3'"],
    );
    assert_eq!(failing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failing.stderr);
    assert!(stderr.contains("exit code 3"), "{stderr}");
    // Another command line is another target: what is owed to the failing
    // one waits for it (with a warning), and this one gets nothing old.
    let fixed = once(
        home.path(),
        &sim,
        &["-alert-on", "any", "-notify-exec", &ok_command],
    );
    assert_eq!(fixed.status.code(), Some(0), "nothing new alerted");
    assert!(!out_file.exists(), "nothing was owed to this command");

    let second = key_of_event(&add_change(&sim, 0, 2));
    let run = once(
        home.path(),
        &sim,
        &["-alert-on", "any", "-notify-exec", &ok_command],
    );
    assert_eq!(run.status.code(), Some(1));
    let got = change_lines(&std::fs::read_to_string(&out_file).unwrap());
    assert_eq!(counts(got.iter().map(key_of_line)), counts([second]));
    assert_ne!(added, key_of_line(&got[0]));
}

#[test]
fn an_owed_delivery_is_retried_by_the_next_poll_until_it_succeeds() {
    let sim = start(team(20, 309));
    let home = tempfile::tempdir().unwrap();
    let flag = home.path().join("fail");
    std::fs::write(&flag, "").unwrap();
    let out_file = home.path().join("alerts.jsonl");
    // Fails while the flag file exists.
    let command = format!(
        "sh -c 'test -e {} && exit 2; cat >> {}'",
        flag.display(),
        out_file.display()
    );
    once(
        home.path(),
        &sim,
        &[
            "-since",
            "-1d",
            "-alert-on",
            "any",
            "-notify-exec",
            &command,
        ],
    );
    let added = key_of_event(&add_change(&sim, 0, 5));
    let failed = once(
        home.path(),
        &sim,
        &["-alert-on", "any", "-notify-exec", &command],
    );
    assert_eq!(failed.status.code(), Some(1));
    assert!(!out_file.exists());
    std::fs::remove_file(&flag).unwrap();
    let retried = once(
        home.path(),
        &sim,
        &["-alert-on", "any", "-notify-exec", &command],
    );
    assert_eq!(
        retried.status.code(),
        Some(0),
        "no new alert, only an owed delivery"
    );
    assert!(retried.stdout.is_empty(), "stdout had it already");
    let got = change_lines(&std::fs::read_to_string(&out_file).unwrap());
    assert_eq!(counts(got.iter().map(key_of_line)), counts([added]));
    let again = once(
        home.path(),
        &sim,
        &["-alert-on", "any", "-notify-exec", &command],
    );
    assert_eq!(again.status.code(), Some(0));
    let got = change_lines(&std::fs::read_to_string(&out_file).unwrap());
    assert_eq!(got.len(), 1, "delivered once");
}

#[test]
fn a_second_watch_of_the_same_checkpoint_is_refused() {
    let sim = start(team(10, 310));
    let home = tempfile::tempdir().unwrap();
    let mut first = Running::start(command(home.path(), &sim, &["-interval", "1s"]));
    std::thread::sleep(Duration::from_secs(2));
    let second = command(home.path(), &sim, &["-interval", "1s"])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(8));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("checkpoint 'default' is in use by another watch (process "),
        "{stderr}"
    );
    // Another name is another checkpoint.
    let other = once(home.path(), &sim, &["-name", "sales"]);
    assert_eq!(
        other.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    assert_eq!(first.signal("TERM"), 0);
    // The lock went with the process.
    assert_eq!(once(home.path(), &sim, &[]).status.code(), Some(0));
}

#[test]
fn a_stop_while_a_receiver_hangs_keeps_the_lines_printed_and_the_deliveries_owed() {
    let sim = start(team(20, 311));
    let home = tempfile::tempdir().unwrap();
    let hook = receiver_hanging(0, 1);
    let args = [
        "-interval",
        "1m",
        "-since",
        "-1d",
        "-alert-on",
        "any",
        "-notify-webhook",
        &hook.url,
    ];
    let added: Vec<Key> = (0..3)
        .map(|i| key_of_event(&add_change(&sim, 0, 10 - i)))
        .collect();
    let mut watch = Running::start(command(home.path(), &sim, &args));
    let lines = watch.wait_for_lines(3, Duration::from_secs(20));
    assert_eq!(lines.len(), 3);
    std::thread::sleep(Duration::from_millis(500));
    let stopped_at = Instant::now();
    assert_eq!(watch.signal("TERM"), 0);
    assert!(
        stopped_at.elapsed() < Duration::from_secs(5),
        "the hanging receiver held the stop"
    );
    // The restart prints nothing again and delivers what was owed.
    let again = once(home.path(), &sim, &args[2..]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        again.stdout.is_empty(),
        "printed twice: {}",
        String::from_utf8_lossy(&again.stdout)
    );
    let hooked = hook.accepted.lock().unwrap().clone();
    assert_eq!(
        counts(
            hooked
                .iter()
                .map(|b| key_of_line(b["change"].as_object().unwrap()))
        ),
        counts(added)
    );
}

#[test]
fn owners_fetched_by_one_run_serve_the_next() {
    let sim = start(team(20, 312));
    let home = tempfile::tempdir().unwrap();
    once(home.path(), &sim, &["-since", "-1d", "-alert-on", "any"]);
    add_change(&sim, 0, 5);
    assert_eq!(
        once(home.path(), &sim, &["-alert-on", "any"]).status.code(),
        Some(1)
    );
    let listed = sim.calls("team/devices/list_members_devices");
    assert!(listed > 0);
    add_change(&sim, 0, 3);
    let run = once(home.path(), &sim, &["-alert-on", "any"]);
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(
        sim.calls("team/devices/list_members_devices"),
        listed,
        "owners came from the store"
    );
    let line = &change_lines(&String::from_utf8_lossy(&run.stdout))[0];
    assert!(!line["owner_email"].as_str().unwrap().is_empty());
}
