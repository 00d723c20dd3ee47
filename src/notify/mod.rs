//! Delivery of alerts to where someone will see them: webhooks (Slack,
//! Mattermost, anything that reads `{"text": ...}`) and local commands. It
//! knows nothing of what is alerted: the caller gives one readable line and
//! a JSON value, and learns whether that one target took them. A webhook URL
//! carries its credential in its path, so no URL leaves this module: errors,
//! labels, keys and Debug output name the host at most.

mod exec;
mod webhook;

use std::fmt;
use std::time::Duration;

/// Where alerts go: one `-notify-webhook` or `-notify-exec`.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    kind: Kind,
    /// 1-based place among the targets of its kind, set by `Notifier::new`
    /// so two webhooks to one host have different labels.
    ordinal: usize,
}

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    Webhook(reqwest::Url),
    Exec { program: String, args: Vec<String> },
}

impl Target {
    /// A `-notify-webhook` URL: https, or http to this machine only.
    pub fn webhook(url: &str) -> Result<Self, NotifyError> {
        Ok(Self {
            kind: Kind::Webhook(webhook::parse(url)?),
            ordinal: 1,
        })
    }

    /// A `-notify-exec` command line, split into a program and its
    /// arguments like a POSIX shell would (quotes, backslashes), without
    /// running one. On Windows a backslash is a path separator, not an
    /// escape.
    pub fn exec(command_line: &str) -> Result<Self, NotifyError> {
        let (program, args) = exec::parse(command_line)?;
        Ok(Self {
            kind: Kind::Exec { program, args },
            ordinal: 1,
        })
    }

    /// Names the target across runs without its secret, for a checkpoint:
    /// `webhook:` or `exec:` and 16 hex digits of an FNV-1a 64 hash of the
    /// URL (as parsed) or of the program and its arguments. The ordinal is
    /// not part of it: reordering the options keeps the keys.
    pub fn key(&self) -> String {
        match &self.kind {
            Kind::Webhook(url) => format!("webhook:{:016x}", fnv1a64(url.as_str().as_bytes())),
            Kind::Exec { program, args } => {
                let mut words = program.clone();
                for arg in args {
                    words.push('\0');
                    words.push_str(arg);
                }
                format!("exec:{:016x}", fnv1a64(words.as_bytes()))
            }
        }
    }

    /// For logs and status lines: `webhook 1 (hooks.slack.com)` (the host,
    /// never the path or query) or `exec 1 (alert.sh)` (the program's file
    /// name, never the arguments). The number is the target's place among
    /// those of its kind in `Notifier::targets`.
    pub fn label(&self) -> String {
        match &self.kind {
            Kind::Webhook(url) => format!(
                "webhook {} ({})",
                self.ordinal,
                url.host_str().unwrap_or("?")
            ),
            Kind::Exec { program, .. } => {
                format!("exec {} ({})", self.ordinal, exec::program_name(program))
            }
        }
    }

    pub fn is_webhook(&self) -> bool {
        matches!(self.kind, Kind::Webhook(_))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// By hand: the URL (and a command's arguments, which may hold a token)
/// must not reach a log through `{:?}`.
impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Webhook(url) => f
                .debug_struct("Webhook")
                .field("ordinal", &self.ordinal)
                .field("host", &url.host_str().unwrap_or("?"))
                .field("url", &"<redacted>")
                .finish(),
            Kind::Exec { program, args } => f
                .debug_struct("Exec")
                .field("ordinal", &self.ordinal)
                .field("program", &exec::program_name(program))
                .field("args", &format_args!("<{} redacted>", args.len()))
                .finish(),
        }
    }
}

/// A target or the client could not be set up: one line naming the option
/// and the expected form, never the value given.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{option}: {problem}")]
    Invalid {
        option: &'static str,
        problem: String,
    },
    #[error("notifications: the HTTP client could not start: {0}")]
    Client(String),
}

/// Why one target did not take an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The receiver answered, but not with a 2xx status. `detail` is a
    /// short, sanitized start of its answer (possibly empty).
    Status { code: u16, detail: String },
    /// No complete answer within the request time limit.
    TimedOut(Duration),
    /// The request did not get through (refused, DNS, TLS, reset).
    Network(String),
    /// The command could not be started.
    Spawn(String),
    /// The command ended with a non-zero exit code (`None`: ended by a
    /// signal). `detail` is a short, sanitized start of its stderr (or
    /// stdout when stderr was empty).
    Exit { code: Option<i32>, detail: String },
    /// The command was still running at the time limit and was killed.
    Killed(Duration),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status { code, detail } => {
                write!(f, "HTTP {code}")?;
                if let Some(reason) = reqwest::StatusCode::from_u16(*code)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                {
                    write!(f, " {reason}")?;
                }
                with_detail(f, detail)
            }
            Failure::TimedOut(limit) => write!(f, "no answer within {}", seconds(*limit)),
            Failure::Network(detail) => f.write_str(detail),
            Failure::Spawn(detail) => write!(f, "could not start: {detail}"),
            Failure::Exit {
                code: Some(code),
                detail,
            } => {
                write!(f, "exit code {code}")?;
                with_detail(f, detail)
            }
            Failure::Exit { code: None, detail } => {
                f.write_str("ended by a signal")?;
                with_detail(f, detail)
            }
            Failure::Killed(limit) => {
                write!(f, "still running after {}; killed", seconds(*limit))
            }
        }
    }
}

fn with_detail(f: &mut fmt::Formatter<'_>, detail: &str) -> fmt::Result {
    if detail.is_empty() {
        Ok(())
    } else {
        write!(f, ": {detail}")
    }
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// One delivery that failed, after `attempts` tries. Its Display is one
/// line: the target's label and why, never the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DeliveryError {
    pub target: String,
    pub failure: Failure,
    pub attempts: u32,
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.target, self.failure)?;
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

/// How often one webhook delivery is tried within one `deliver` call and
/// how long it waits in between: `first_wait`, then twice that, and so on;
/// a 429 or 503 with `Retry-After` waits that long instead, at most
/// `max_retry_after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    pub attempts: u32,
    pub first_wait: Duration,
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            attempts: 3,
            first_wait: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The wait after failed attempt `attempt` (1-based).
    fn wait_after(&self, attempt: u32) -> Duration {
        self.first_wait
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const EXEC_TIME_LIMIT: Duration = Duration::from_secs(30);
/// How much of an answer (or a command's output) is read: enough for an
/// error message, bounded whatever the other side sends.
const READ_CAP: usize = 64 * 1024;
/// How much of it an error message shows.
const SNIPPET_CHARS: usize = 160;

/// Delivers alerts to its targets, with one HTTP client for all webhooks.
#[derive(Debug)]
pub struct Notifier {
    targets: Vec<Target>,
    http: reqwest::Client,
    backoff: Backoff,
    request_timeout: Duration,
    exec_time_limit: Duration,
}

impl Notifier {
    /// `proxy` is the common `-proxy` value (`host:port` or `DIRECT`);
    /// without one the system's proxy settings apply. A receiver on this
    /// machine is never reached through a proxy. The targets are numbered
    /// in order within their kind (see `Target::label`).
    pub fn new(targets: Vec<Target>, proxy: Option<&str>) -> Result<Self, NotifyError> {
        let targets = number(targets);
        let http = webhook::client(&targets, proxy, CONNECT_TIMEOUT, REQUEST_TIMEOUT)?;
        Ok(Self {
            targets,
            http,
            backoff: Backoff::default(),
            request_timeout: REQUEST_TIMEOUT,
            exec_time_limit: EXEC_TIME_LIMIT,
        })
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The limit of one webhook request, connecting to the end of the
    /// answer (default 30 s).
    pub fn with_request_timeout(mut self, limit: Duration) -> Self {
        self.request_timeout = limit;
        self
    }

    /// How long a `-notify-exec` command may run before it is killed
    /// (default 30 s).
    pub fn with_exec_time_limit(mut self, limit: Duration) -> Self {
        self.exec_time_limit = limit;
        self
    }

    /// The targets, numbered: pass these to `deliver`.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Hands one alert to one target. A webhook gets `{"text": text,
    /// "change": change}` as JSON, tried up to `Backoff::attempts` times
    /// while the failure may pass (network, timeout, 408, 429, 5xx); a
    /// command gets `change` as one compact JSON line on stdin and `text`
    /// in `TBX_NOTIFY_TEXT`, and is run once: it need not be idempotent,
    /// and the caller retries failed deliveries later anyway. Dropping the
    /// future is clean: a webhook request is abandoned (its connection
    /// closed, no retry left behind), and a running command is killed with
    /// everything it started (on Unix; on Windows the command alone).
    pub async fn deliver(
        &self,
        target: &Target,
        text: &str,
        change: &serde_json::Value,
    ) -> Result<(), DeliveryError> {
        let label = target.label();
        match &target.kind {
            Kind::Webhook(url) => {
                let request = webhook::Request {
                    http: &self.http,
                    url,
                    label: &label,
                    timeout: self.request_timeout,
                };
                request.deliver(&self.backoff, text, change).await
            }
            Kind::Exec { program, args } => {
                let command = exec::Command {
                    program,
                    args,
                    label: &label,
                    limit: self.exec_time_limit,
                };
                command.deliver(text, change).await
            }
        }
    }
}

fn number(mut targets: Vec<Target>) -> Vec<Target> {
    let (mut webhooks, mut commands) = (0, 0);
    for target in &mut targets {
        let count = if target.is_webhook() {
            &mut webhooks
        } else {
            &mut commands
        };
        *count += 1;
        target.ordinal = *count;
    }
    targets
}

/// FNV-1a, 64 bits: written out so a key stays the same across Rust
/// versions and platforms (std's hashers promise neither).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The start of what the other side said, fit for one log line: control
/// characters and runs of whitespace become one space, every `secrets`
/// occurrence becomes `<redacted>`, at most `SNIPPET_CHARS` characters.
fn snippet(bytes: &[u8], secrets: &[String]) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    for secret in secrets.iter().filter(|s| s.len() > 1) {
        text = text.replace(secret.as_str(), "<redacted>");
    }
    let mut out = String::new();
    let mut chars = 0;
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        for c in (!out.is_empty())
            .then_some(' ')
            .into_iter()
            .chain(word.chars())
        {
            if chars == SNIPPET_CHARS {
                out.push('…');
                return out;
            }
            out.push(c);
            chars += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_published_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn keys_are_stable_and_hold_no_secret() {
        let url = "https://hooks.slack.com/services/T000/B000/SECRETTOKEN";
        let target = Target::webhook(url).unwrap();
        let key = target.key();
        assert_eq!(key, Target::webhook(url).unwrap().key());
        assert_eq!(
            key,
            format!("webhook:{:016x}", fnv1a64(url.as_bytes())),
            "the hash of the URL, pinned: a checkpoint outlives the binary"
        );
        assert!(!key.contains("SECRET") && !key.contains("slack"), "{key}");
        let other = Target::webhook("https://hooks.slack.com/services/T000/B000/OTHER").unwrap();
        assert_ne!(key, other.key());

        let exec = Target::exec("alert --token 'a b'").unwrap();
        assert_eq!(
            exec.key(),
            Target::exec("alert  --token \"a b\"").unwrap().key()
        );
        assert_ne!(exec.key(), Target::exec("alert --token a b").unwrap().key());
        assert!(exec.key().starts_with("exec:") && exec.key().len() == 21);
        assert_eq!(
            exec.key(),
            format!("exec:{:016x}", fnv1a64(b"alert\0--token\0a b"))
        );
    }

    #[test]
    fn labels_name_the_host_or_program_and_their_place() {
        let notifier = Notifier::new(
            vec![
                Target::webhook("https://hooks.slack.com/services/T/B/SECRET?x=1").unwrap(),
                Target::exec("/usr/local/bin/alert.sh --to ops").unwrap(),
                Target::webhook("http://127.0.0.1:8080/hook/SECRET").unwrap(),
            ],
            None,
        )
        .unwrap();
        let labels: Vec<String> = notifier.targets().iter().map(Target::label).collect();
        assert_eq!(
            labels,
            [
                "webhook 1 (hooks.slack.com)",
                "exec 1 (alert.sh)",
                "webhook 2 (127.0.0.1)"
            ]
        );
        let debug = format!("{notifier:?}");
        assert!(
            !debug.contains("SECRET") && !debug.contains("--to"),
            "{debug}"
        );
    }

    #[test]
    fn debug_and_display_redact_the_url() {
        let target = Target::webhook("https://example.com/hook/SECRET?token=T0K").unwrap();
        for text in [
            format!("{target:?}"),
            format!("{target:#?}"),
            target.to_string(),
        ] {
            assert!(!text.contains("SECRET") && !text.contains("T0K"), "{text}");
            assert!(text.contains("example.com"), "{text}");
        }
    }

    #[test]
    fn delivery_errors_are_one_line() {
        let error = DeliveryError {
            target: "webhook 1 (example.com)".into(),
            failure: Failure::Status {
                code: 503,
                detail: "busy".into(),
            },
            attempts: 3,
        };
        assert_eq!(
            error.to_string(),
            "webhook 1 (example.com): HTTP 503 Service Unavailable: busy (after 3 attempts)"
        );
        let killed = DeliveryError {
            target: "exec 1 (x)".into(),
            failure: Failure::Killed(Duration::from_millis(300)),
            attempts: 1,
        };
        assert_eq!(
            killed.to_string(),
            "exec 1 (x): still running after 0.3 s; killed"
        );
    }

    #[test]
    fn snippets_are_short_single_lines_without_secrets() {
        assert_eq!(
            snippet(
                b"  bad\r\n\ttoken  /hook/SECRET \x1b[31m",
                &["/hook/SECRET".to_string()]
            ),
            "bad token <redacted> [31m"
        );
        let long = snippet(&[b'x'; 1000], &[]);
        assert_eq!(long.chars().count(), SNIPPET_CHARS + 1);
        assert!(long.ends_with('…'));
        assert_eq!(snippet(b"", &[]), "");
    }

    #[test]
    fn backoff_doubles() {
        let backoff = Backoff::default();
        assert_eq!(backoff.wait_after(1), Duration::from_secs(1));
        assert_eq!(backoff.wait_after(2), Duration::from_secs(2));
        assert_eq!(backoff.wait_after(3), Duration::from_secs(4));
    }
}
