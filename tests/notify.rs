//! Alert delivery over real HTTP and real processes: a webhook receiver on
//! 127.0.0.1 (axum) that records what it gets and can fail its first
//! requests, and commands run through `sh` on Unix. Backoff waits are cut
//! to milliseconds; a `Retry-After: 1` is honoured for real.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tbx::notify::{Backoff, DeliveryError, Failure, Notifier, Target};

/// What the receiver answers to one request.
#[derive(Clone)]
enum Answer {
    Ok,
    Status(u16, &'static str),
    TooMany {
        retry_after: &'static str,
    },
    Redirect(u16, String),
    Slow(Duration),
    /// Never answers; counted in `Receiver::abandoned` once the client
    /// gives the request up (closes the connection).
    Hang,
}

#[derive(Debug, Clone)]
struct Received {
    path: String,
    content_type: String,
    body: Value,
}

struct Receiver {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
    abandoned: Arc<AtomicUsize>,
}

/// Counts a hanging request as abandoned when the server drops it.
struct Abandoned(Arc<AtomicUsize>);

impl Drop for Abandoned {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Receiver {
    /// Answers `plan` in order, then 200 to everything.
    async fn start(plan: Vec<Answer>) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let plan = Arc::new(Mutex::new(VecDeque::from(plan)));
        let abandoned = Arc::new(AtomicUsize::new(0));
        let log = Arc::clone(&received);
        let hung = Arc::clone(&abandoned);
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let log = Arc::clone(&log);
            let plan = Arc::clone(&plan);
            let hung = Arc::clone(&hung);
            async move {
                log.lock().unwrap().push(Received {
                    path: uri.to_string(),
                    content_type: headers
                        .get("content-type")
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default(),
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                });
                let answer = plan.lock().unwrap().pop_front().unwrap_or(Answer::Ok);
                if let Answer::Hang = answer {
                    let _counted = Abandoned(hung);
                    std::future::pending::<()>().await;
                }
                answer_with(answer).await
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base,
            received,
            abandoned,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// A hook URL with a secret in its path and query, as Slack's are.
    fn hook(&self) -> String {
        format!("{}/hook/T0SECRETPATH?token=S3CRETQUERY", self.base)
    }
}

async fn answer_with(answer: Answer) -> Response {
    match answer {
        Answer::Ok => (StatusCode::OK, "ok").into_response(),
        Answer::Status(code, body) => (StatusCode::from_u16(code).unwrap(), body).into_response(),
        Answer::TooMany { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after)],
            "slow down",
        )
            .into_response(),
        Answer::Redirect(code, location) => (
            StatusCode::from_u16(code).unwrap(),
            [("location", location)],
            "",
        )
            .into_response(),
        Answer::Slow(wait) => {
            tokio::time::sleep(wait).await;
            (StatusCode::OK, "late").into_response()
        }
        Answer::Hang => unreachable!("answered in Receiver::start"),
    }
}

fn fast_backoff() -> Backoff {
    Backoff {
        attempts: 3,
        first_wait: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(30),
    }
}

fn notifier(targets: Vec<Target>) -> Notifier {
    Notifier::new(targets, None)
        .unwrap()
        .with_backoff(fast_backoff())
}

fn change() -> Value {
    json!({
        "event_id": "a1b2c3",
        "timestamp": "2026-07-01T10:00:00Z",
        "previous_value": "enabled",
        "new_value": "disabled",
        "device_name": "Ann's \"laptop\"\nline two"
    })
}

async fn deliver_to(
    url: &str,
    notifier_with: impl FnOnce(Notifier) -> Notifier,
) -> Result<(), DeliveryError> {
    let notifier = notifier_with(notifier(vec![Target::webhook(url).unwrap()]));
    let target = notifier.targets()[0].clone();
    notifier
        .deliver(&target, "Backup disabled on Ann's laptop", &change())
        .await
}

fn assert_no_secret(error: &DeliveryError) {
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains("SECRET"), "{text}");
        assert!(!text.contains("S3CRET"), "{text}");
        assert!(!text.contains("/hook"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }
}

#[tokio::test]
async fn a_webhook_gets_text_and_change_as_json() {
    let receiver = Receiver::start(vec![]).await;
    deliver_to(&receiver.hook(), |n| n).await.unwrap();
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].content_type, "application/json");
    assert_eq!(received[0].path, "/hook/T0SECRETPATH?token=S3CRETQUERY");
    assert_eq!(
        received[0].body,
        json!({"text": "Backup disabled on Ann's laptop", "change": change()})
    );
    let keys: Vec<&String> = received[0].body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["text", "change"]);
}

#[tokio::test]
async fn failures_within_the_budget_are_retried_until_delivered() {
    let receiver = Receiver::start(vec![
        Answer::Status(500, "oops"),
        Answer::TooMany { retry_after: "1" },
    ])
    .await;
    let started = Instant::now();
    deliver_to(&receiver.hook(), |n| n).await.unwrap();
    let took = started.elapsed();
    let received = receiver.received();
    assert_eq!(received.len(), 3, "500, 429, then 200");
    assert!(
        received.iter().all(|r| r.body == received[0].body),
        "every attempt sends the same alert"
    );
    assert!(
        took >= Duration::from_secs(1),
        "Retry-After: 1 honoured: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn an_exhausted_budget_fails_in_one_line_without_the_url() {
    let echo = "no such hook: /hook/T0SECRETPATH?token=S3CRETQUERY";
    let receiver = Receiver::start(vec![
        Answer::Status(500, echo),
        Answer::Status(502, echo),
        Answer::Status(503, echo),
        Answer::Status(500, echo),
    ])
    .await;
    let error = deliver_to(&receiver.hook(), |n| n).await.unwrap_err();
    assert_eq!(receiver.received().len(), 3);
    assert_eq!(error.attempts, 3);
    assert_no_secret(&error);
    assert_eq!(
        error.to_string(),
        "webhook 1 (127.0.0.1): HTTP 503 Service Unavailable: no such hook: <redacted> \
         (after 3 attempts)"
    );
}

#[tokio::test]
async fn a_refusal_that_will_not_pass_is_not_retried() {
    let receiver = Receiver::start(vec![Answer::Status(404, "no_service")]).await;
    let error = deliver_to(&receiver.hook(), |n| n).await.unwrap_err();
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(
        error.failure,
        Failure::Status {
            code: 404,
            detail: "no_service".into()
        }
    );
    assert_eq!(
        error.to_string(),
        "webhook 1 (127.0.0.1): HTTP 404 Not Found: no_service"
    );
}

#[tokio::test]
async fn retry_after_is_capped() {
    let receiver = Receiver::start(vec![Answer::TooMany {
        retry_after: "3600",
    }])
    .await;
    let started = Instant::now();
    deliver_to(&receiver.hook(), |n| {
        n.with_backoff(Backoff {
            max_retry_after: Duration::from_millis(100),
            ..fast_backoff()
        })
    })
    .await
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_refused_connection_fails_without_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}/hook/T0SECRETPATH?token=S3CRETQUERY");
    let error = deliver_to(&url, |n| n).await.unwrap_err();
    assert_eq!(error.attempts, 3);
    assert_no_secret(&error);
    let text = error.to_string();
    assert!(
        text.starts_with("webhook 1 (127.0.0.1): could not connect: "),
        "{text}"
    );
}

#[tokio::test]
async fn a_slow_receiver_times_out() {
    let receiver = Receiver::start(vec![Answer::Slow(Duration::from_secs(3))]).await;
    let started = Instant::now();
    let error = deliver_to(&receiver.hook(), |n| {
        n.with_request_timeout(Duration::from_millis(200))
            .with_backoff(Backoff {
                attempts: 1,
                ..fast_backoff()
            })
    })
    .await
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the receiver answers at 3 s"
    );
    assert_eq!(error.failure, Failure::TimedOut(Duration::from_millis(200)));
    assert_eq!(
        error.to_string(),
        "webhook 1 (127.0.0.1): no answer within 0.2 s"
    );
}

#[tokio::test]
async fn redirects_are_followed_only_to_an_accepted_url() {
    let receiver = Receiver::start(vec![]).await;
    let elsewhere = Receiver::start(vec![
        Answer::Redirect(307, format!("{}/moved", receiver.base)),
        Answer::Redirect(308, "http://example.com/plain".into()),
    ])
    .await;
    deliver_to(&elsewhere.hook(), |n| n).await.unwrap();
    assert_eq!(receiver.received()[0].path, "/moved");
    assert_eq!(receiver.received()[0].body["change"], change());

    let error = deliver_to(&elsewhere.hook(), |n| n).await.unwrap_err();
    assert_eq!(error.attempts, 1, "a redirect is not retried");
    assert!(
        error
            .to_string()
            .starts_with("webhook 1 (127.0.0.1): HTTP 308"),
        "{error}"
    );
}

#[tokio::test]
async fn several_targets_are_numbered_and_delivered_alike() {
    let first = Receiver::start(vec![]).await;
    let second = Receiver::start(vec![Answer::Status(500, "")]).await;
    let notifier = notifier(vec![
        Target::webhook(&first.hook()).unwrap(),
        Target::webhook(&format!(
            "http://localhost:{}/x",
            second.base.rsplit(':').next().unwrap()
        ))
        .unwrap(),
    ]);
    let labels: Vec<String> = notifier.targets().iter().map(Target::label).collect();
    assert_eq!(labels, ["webhook 1 (127.0.0.1)", "webhook 2 (localhost)"]);
    for target in notifier.targets() {
        notifier.deliver(target, "t", &change()).await.unwrap();
    }
    assert_eq!(first.received().len(), 1);
    assert_eq!(second.received().len(), 2);
}

#[tokio::test]
async fn a_delivery_given_up_on_leaves_the_notifier_working() {
    let receiver = Receiver::start(vec![Answer::Hang, Answer::Status(500, "")]).await;
    let notifier =
        notifier(vec![Target::webhook(&receiver.hook()).unwrap()]).with_backoff(Backoff {
            first_wait: Duration::from_secs(60),
            ..fast_backoff()
        });
    let target = notifier.targets()[0].clone();
    let give_up = Duration::from_millis(100);
    // Mid-request: the receiver never answers.
    let cut = tokio::time::timeout(give_up, notifier.deliver(&target, "t", &change())).await;
    assert!(cut.is_err(), "the receiver hangs");
    // Mid-backoff: a 500, then a minute's wait.
    let cut = tokio::time::timeout(give_up, notifier.deliver(&target, "t", &change())).await;
    assert!(cut.is_err(), "waiting to retry");
    assert_eq!(receiver.received().len(), 2);
    notifier.deliver(&target, "next", &change()).await.unwrap();
    let received = receiver.received();
    assert_eq!(
        received.len(),
        3,
        "nothing retried behind the caller's back"
    );
    assert_eq!(received[2].body["text"], "next");
    let deadline = Instant::now() + Duration::from_secs(5);
    while receiver.abandoned.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        receiver.abandoned.load(Ordering::SeqCst),
        1,
        "the hanging request's connection was closed, not left running"
    );
}

#[cfg(unix)]
mod exec {
    use super::*;

    /// Generous limits: only the test of the limit runs into it.
    fn command(line: &str) -> (Notifier, Target) {
        command_with_limit(line, Duration::from_secs(20))
    }

    fn command_with_limit(line: &str, limit: Duration) -> (Notifier, Target) {
        let notifier = notifier(vec![Target::exec(line).unwrap()]).with_exec_time_limit(limit);
        let target = notifier.targets()[0].clone();
        (notifier, target)
    }

    fn quoted(path: &std::path::Path) -> String {
        shlex::try_quote(path.to_str().unwrap())
            .unwrap()
            .into_owned()
    }

    #[tokio::test]
    async fn a_command_gets_the_change_on_stdin_and_the_text_in_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        let stdin = dir.path().join("stdin with space.json");
        let text = dir.path().join("text");
        let line = format!(
            "sh -c 'cat > \"$1\"; printf %s \"$TBX_NOTIFY_TEXT\" > \"$2\"' alert {} {}",
            quoted(&stdin),
            quoted(&text)
        );
        let (notifier, target) = command(&line);
        assert_eq!(target.label(), "exec 1 (sh)");
        notifier
            .deliver(&target, "Backup disabled", &change())
            .await
            .unwrap();
        let written = std::fs::read_to_string(&stdin).unwrap();
        assert_eq!(
            written,
            format!("{}\n", serde_json::to_string(&change()).unwrap())
        );
        assert_eq!(written.lines().count(), 1, "one compact JSON line");
        assert_eq!(std::fs::read_to_string(&text).unwrap(), "Backup disabled");
    }

    #[tokio::test]
    async fn a_command_that_ignores_its_stdin_succeeds() {
        let (notifier, target) = command("true");
        notifier.deliver(&target, "t", &change()).await.unwrap();
    }

    #[tokio::test]
    async fn a_non_zero_exit_is_a_failure_naming_the_code() {
        let (notifier, target) = command("sh -c 'echo \"bad   input\" >&2; exit 3'");
        let error = notifier.deliver(&target, "t", &change()).await.unwrap_err();
        assert_eq!(
            error.failure,
            Failure::Exit {
                code: Some(3),
                detail: "bad input".into()
            }
        );
        assert_eq!(error.to_string(), "exec 1 (sh): exit code 3: bad input");
    }

    #[tokio::test]
    async fn a_command_past_its_time_limit_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let (notifier, target) = command_with_limit(
            &format!("sh -c 'echo $$ > {}; exec sleep 30'", quoted(&pid_file)),
            Duration::from_millis(500),
        );
        let started = Instant::now();
        let error = notifier.deliver(&target, "t", &change()).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(error.failure, Failure::Killed(Duration::from_millis(500)));
        assert_eq!(
            error.to_string(),
            "exec 1 (sh): still running after 0.5 s; killed"
        );
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let alive = std::process::Command::new("kill")
            .args(["-0", pid.trim()])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(!alive.success(), "process {} still runs", pid.trim());
    }

    /// Whether `pid` still runs: a zombie does not (a container's PID 1 may
    /// never reap what is re-parented to it).
    fn running(pid: &str) -> bool {
        let stat = std::path::Path::new("/proc").join(pid).join("stat");
        if std::path::Path::new("/proc/self/stat").exists() {
            return std::fs::read_to_string(stat).is_ok_and(|stat| {
                let state = stat.rsplit(')').next().unwrap_or("").trim_start();
                !state.starts_with(['Z', 'X'])
            });
        }
        std::process::Command::new("kill")
            .args(["-0", pid])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    /// Waits up to 5 s for every process to end, killing the survivors
    /// (so a failing test leaves none behind); the survivors.
    async fn survivors(pids: &[String]) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let alive: Vec<String> = pids.iter().filter(|p| running(p)).cloned().collect();
            if alive.is_empty() || Instant::now() > deadline {
                for pid in &alive {
                    let _ = std::process::Command::new("kill")
                        .args(["-9", pid])
                        .status();
                }
                return alive;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A command that starts a sleep in the background and becomes a
    /// sleep itself, and the files its two PIDs are written to.
    fn sleeper(dir: &std::path::Path) -> (String, [std::path::PathBuf; 2]) {
        let files = [dir.join("background"), dir.join("foreground")];
        let line = format!(
            "sh -c 'sleep 120 & echo $! > {}.tmp; mv {0}.tmp {0}; \
             echo $$ > {}.tmp; mv {1}.tmp {1}; exec sleep 120'",
            quoted(&files[0]),
            quoted(&files[1])
        );
        (line, files)
    }

    fn pids(files: &[std::path::PathBuf]) -> Option<Vec<String>> {
        files
            .iter()
            .map(|file| {
                std::fs::read_to_string(file)
                    .ok()
                    .map(|s| s.trim().to_string())
            })
            .collect()
    }

    #[tokio::test]
    async fn a_command_killed_at_its_limit_takes_what_it_started_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let (line, files) = sleeper(dir.path());
        let (notifier, target) = command_with_limit(&line, Duration::from_secs(2));
        let error = notifier.deliver(&target, "t", &change()).await.unwrap_err();
        assert_eq!(error.failure, Failure::Killed(Duration::from_secs(2)));
        let pids = pids(&files).expect("the command wrote its PIDs within 2 s");
        assert_eq!(survivors(&pids).await, Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_dropped_delivery_kills_the_command_and_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let (line, files) = sleeper(dir.path());
        let (notifier, target) = command(&line);
        let alert = change();
        let mut delivery = Box::pin(notifier.deliver(&target, "t", &alert));
        let deadline = Instant::now() + Duration::from_secs(10);
        let pids = loop {
            if let Some(pids) = pids(&files) {
                break pids;
            }
            assert!(Instant::now() < deadline, "the command never started");
            tokio::select! {
                _ = &mut delivery => panic!("the command ended"),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        };
        drop(delivery);
        assert_eq!(survivors(&pids).await, Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_command_echoing_its_arguments_does_not_show_them() {
        let (notifier, target) =
            command("sh -c 'echo \"usage: $0 $1 $2 $3\" >&2; exit 2' alert -t S3CRETTOKEN on");
        let error = notifier.deliver(&target, "t", &change()).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "exec 1 (sh): exit code 2: usage: alert -t <redacted> on"
        );
    }

    #[tokio::test]
    async fn a_missing_program_is_a_clear_failure() {
        let (notifier, target) = command("/nonexistent/tbx-alert --token SECRET");
        let error = notifier.deliver(&target, "t", &change()).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "exec 1 (tbx-alert): could not start: program not found (give its path, or put it on PATH)"
        );
        assert!(!format!("{error:?}{target:?}").contains("SECRET"));
    }
}
