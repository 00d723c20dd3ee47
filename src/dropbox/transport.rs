//! The one HTTP transport every route goes through: authorization header,
//! JSON bodies, and the classification of each attempt's response; what to
//! do after a failed attempt (wait, renew the token, give up) is the retry
//! policy's call (see `retry`). A misbehaving server cannot hang or exhaust
//! the run: each attempt has a connect, a read (idle) and a whole-attempt
//! timeout, the timeouts of one request share a budget, bodies are capped in
//! size, and invalid text is repaired (see `lenient`). Each attempt is
//! reported to an observer for `-verbose` and the job log; observers never
//! see headers or tokens.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::auth::tokens::TokenSource;
use super::auth::{AccessToken, ApiBase};
use super::bandwidth::Bandwidth;
use super::error::{first_line, ApiError};
use super::lenient;
use super::retry::{AttemptFailure, Decision, Retry, RetryPolicy};

/// What one finished HTTP attempt looked like, for logs. No secrets.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub route: String,
    /// The JSON argument sent (API arguments carry no secrets).
    pub request: Option<String>,
    pub attempt: u32,
    /// HTTP status, or `None` for a network failure.
    pub status: Option<u16>,
    pub elapsed: Duration,
    pub response_bytes: usize,
    pub request_id: Option<String>,
    /// Set when the transport will retry, with the wait before the retry.
    pub retry_in: Option<Duration>,
    pub note: Option<String>,
    /// Something the run survived but the log should say (invalid text
    /// replaced in the response).
    pub warning: Option<String>,
}

impl CallRecord {
    /// The record of an attempt about to be sent; the attempt fills it in.
    fn new(route: &str, body: Option<&[u8]>, attempt: u32) -> Self {
        Self {
            route: route.to_string(),
            request: body.map(|b| String::from_utf8_lossy(b).into_owned()),
            attempt,
            status: None,
            elapsed: Duration::ZERO,
            response_bytes: 0,
            request_id: None,
            retry_in: None,
            note: None,
            warning: None,
        }
    }
}

pub type CallObserver = Arc<dyn Fn(&CallRecord) + Send + Sync>;

#[derive(Clone)]
pub struct TransportConfig {
    pub base: ApiBase,
    pub tokens: Arc<TokenSource>,
    /// `None`: the system's proxy settings; `Some("DIRECT")`: none.
    pub proxy: Option<String>,
    /// First back-off step for 5xx and network errors.
    pub retry_base: Duration,
    pub max_attempts: u32,
    /// Cap on the total time one request may spend waiting on 429s.
    pub max_rate_limit_wait: Duration,
    pub observer: Option<CallObserver>,
    /// `-bandwidth-kb`, shared by every request.
    pub bandwidth: Option<Arc<Bandwidth>>,
    /// `-concurrency`: requests in flight at once, whoever sends them.
    pub max_in_flight: usize,
    /// Connecting to the server, per attempt.
    pub connect_timeout: Duration,
    /// Silence from the server (waiting for the headers, or for the next
    /// piece of the body), per attempt.
    pub read_timeout: Duration,
    /// One whole attempt, not counting the waits `-bandwidth-kb` imposes:
    /// a body that trickles in cannot hold an attempt forever.
    pub attempt_timeout: Duration,
    /// Time one request may spend on attempts that timed out, all told.
    pub timeout_budget: Duration,
    /// Bytes one response may have; the largest real page is a few MB.
    pub max_response_bytes: usize,
    /// Empty pages in a row one listing may return (see `paging`).
    pub max_empty_pages: u32,
}

impl TransportConfig {
    pub fn new(base: ApiBase, tokens: Arc<TokenSource>) -> Self {
        Self {
            base,
            tokens,
            proxy: None,
            retry_base: Duration::from_secs(1),
            max_attempts: 8,
            max_rate_limit_wait: Duration::from_secs(600),
            observer: None,
            bandwidth: None,
            max_in_flight: 8,
            connect_timeout: CONNECT_TIMEOUT,
            read_timeout: READ_TIMEOUT,
            attempt_timeout: Duration::from_secs(120),
            timeout_budget: Duration::from_secs(180),
            max_response_bytes: 64 * MIB,
            max_empty_pages: super::paging::MAX_EMPTY_PAGES,
        }
    }
}

pub struct Transport {
    http: reqwest::Client,
    config: TransportConfig,
    in_flight: tokio::sync::Semaphore,
}

const MIB: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The HTTP client of the token endpoint (small bodies, so reqwest's own
/// whole-request timeout does).
pub fn http_client(base: &ApiBase, proxy: Option<&str>) -> Result<reqwest::Client, ApiError> {
    client_builder(base, proxy, CONNECT_TIMEOUT, READ_TIMEOUT)?
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(client_error)
}

/// Timeouts, no redirects, and the proxy choice. Loopback never goes
/// through a proxy.
fn client_builder(
    base: &ApiBase,
    proxy: Option<&str>,
    connect_timeout: Duration,
    read_timeout: Duration,
) -> Result<reqwest::ClientBuilder, ApiError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .read_timeout(read_timeout)
        .user_agent(concat!("tbx-rs/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none());
    builder = match proxy {
        _ if base.is_loopback() => builder.no_proxy(),
        Some("DIRECT") => builder.no_proxy(),
        Some(host_port) => {
            let proxy = reqwest::Proxy::all(format!("http://{host_port}")).map_err(|e| {
                ApiError::Decode {
                    route: "proxy".into(),
                    detail: e.to_string(),
                }
            })?;
            builder.proxy(proxy)
        }
        None => builder,
    };
    Ok(builder)
}

fn client_error(e: reqwest::Error) -> ApiError {
    ApiError::Decode {
        route: "http client".into(),
        detail: e.to_string(),
    }
}

/// The Stone error envelope of 401/403/409/429 responses.
#[derive(Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    error_summary: String,
    #[serde(default)]
    error: serde_json::Value,
}

/// One attempt: the successful body, or how it failed.
type AttemptResult = Result<Vec<u8>, AttemptFailure>;

impl Transport {
    pub fn new(config: TransportConfig) -> Result<Self, ApiError> {
        let http = client_builder(
            &config.base,
            config.proxy.as_deref(),
            config.connect_timeout,
            config.read_timeout,
        )?
        .build()
        .map_err(client_error)?;
        let in_flight = tokio::sync::Semaphore::new(config.max_in_flight.max(1));
        Ok(Self {
            http,
            config,
            in_flight,
        })
    }

    /// Empty pages in a row a listing may take (`TransportConfig`).
    pub fn max_empty_pages(&self) -> u32 {
        self.config.max_empty_pages
    }

    /// Calls an RPC route (`team_log/get_events`) with a JSON argument and
    /// decodes its JSON result.
    pub async fn rpc<A: Serialize, R: DeserializeOwned>(
        &self,
        route: &str,
        arg: &A,
    ) -> Result<R, ApiError> {
        let bytes = self.rpc_bytes(route, arg).await?;
        decode(route, &bytes)
    }

    /// Calls an RPC route and returns the raw JSON result, for callers that
    /// decode it themselves (borrowing from the bytes).
    pub async fn rpc_bytes<A: Serialize>(&self, route: &str, arg: &A) -> Result<Vec<u8>, ApiError> {
        let body = serde_json::to_vec(arg).map_err(|e| ApiError::Decode {
            route: route.into(),
            detail: e.to_string(),
        })?;
        self.call(route, Some(body)).await
    }

    /// Calls a route that takes no argument (`team/get_info`).
    pub async fn rpc_void<R: DeserializeOwned>(&self, route: &str) -> Result<R, ApiError> {
        let bytes = self.call(route, None).await?;
        decode(route, &bytes)
    }

    /// Sends attempts until one succeeds or the retry policy gives up.
    /// Every attempt is observed once, with what comes after it.
    async fn call(&self, route: &str, body: Option<Vec<u8>>) -> Result<Vec<u8>, ApiError> {
        let url = format!("{}/2/{route}", self.config.base.as_str());
        let mut retry = Retry::new(self.retry_policy(), route);
        loop {
            let attempt = retry.next_attempt();
            let (token, generation) = self.config.tokens.token().await?;
            let mut record = CallRecord::new(route, body.as_deref(), attempt);
            let failure = match self
                .send_once(route, &url, &token, body.as_deref(), &mut record)
                .await
            {
                Ok(bytes) => return Ok(self.done(route, bytes, &mut record)),
                Err(failure) => failure,
            };
            let decision = retry.decide(failure, record.elapsed, &mut rand::thread_rng());
            let decision = match decision {
                Decision::Renew(err) => {
                    // One refresh is shared by every concurrent caller (see
                    // `TokenSource`); if it fails, that error is the answer.
                    let renewal = self
                        .config
                        .tokens
                        .refresh_after_rejection(generation)
                        .await?;
                    retry.after_renewal(err, renewal)
                }
                decision => decision,
            };
            match decision {
                Decision::Wait { wait, note } => {
                    record.retry_in = Some(wait);
                    record.note = Some(note);
                    self.observe(&record);
                    tokio::time::sleep(wait).await;
                }
                Decision::Repeat { note } => {
                    record.retry_in = Some(Duration::ZERO);
                    record.note = Some(note);
                    self.observe(&record);
                }
                // `after_renewal` never asks for a second renewal; should it
                // ever, refusing to loop is the safe answer.
                Decision::Renew(err) | Decision::GiveUp(err) => {
                    record.note = Some(err.to_string());
                    self.observe(&record);
                    return Err(err);
                }
            }
        }
    }

    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            retry_base: self.config.retry_base,
            max_attempts: self.config.max_attempts,
            max_rate_limit_wait: self.config.max_rate_limit_wait,
            timeout_budget: self.config.timeout_budget,
        }
    }

    /// One attempt, holding an in-flight permit while it runs: waits
    /// between retries hold none.
    async fn send_once(
        &self,
        route: &str,
        url: &str,
        token: &AccessToken,
        body: Option<&[u8]>,
        record: &mut CallRecord,
    ) -> AttemptResult {
        let mut request = self.http.post(url).bearer_auth(token.secret());
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let _permit = self.in_flight.acquire().await.ok();
        self.attempt(route, request, record).await
    }

    /// A successful body, its invalid text (if any) repaired and noted.
    fn done(&self, route: &str, bytes: Vec<u8>, record: &mut CallRecord) -> Vec<u8> {
        let bytes = match lenient::repair(&bytes) {
            Some(repaired) => {
                record.warning = Some(format!(
                    "{route}: the response held invalid text (bytes that are not UTF-8 or \
                     a lone surrogate escape); replaced with U+FFFD"
                ));
                repaired
            }
            None => bytes,
        };
        self.observe(record);
        bytes
    }

    /// One attempt: send, then read the body, within the attempt's limits.
    async fn attempt(
        &self,
        route: &str,
        request: reqwest::RequestBuilder,
        record: &mut CallRecord,
    ) -> AttemptResult {
        let started = tokio::time::Instant::now();
        let mut deadline = started + self.config.attempt_timeout;
        let result = match tokio::time::timeout_at(deadline, request.send()).await {
            Err(_) => Err(self.attempt_timed_out(route)),
            Ok(Err(e)) => Err(self.network_failure(route, e)),
            Ok(Ok(response)) => {
                let status = response.status().as_u16();
                record.status = Some(status);
                record.request_id = header(&response, "x-dropbox-request-id");
                let retry_after =
                    header(&response, "retry-after").and_then(|v| v.trim().parse::<u64>().ok());
                match self.read_body(route, response, &mut deadline).await {
                    Ok(bytes) => {
                        record.response_bytes = bytes.len();
                        classify(route, status, retry_after, bytes)
                    }
                    Err(failure) => Err(failure),
                }
            }
        };
        record.elapsed = started.elapsed();
        result
    }

    /// The response body, read piece by piece: throttled by `-bandwidth-kb`
    /// (whose waits push the attempt's deadline back), and never more than
    /// `max_response_bytes`, whatever the server sends.
    async fn read_body(
        &self,
        route: &str,
        mut response: reqwest::Response,
        deadline: &mut tokio::time::Instant,
    ) -> AttemptResult {
        let limit = self.config.max_response_bytes;
        let too_large = || {
            AttemptFailure::Rejected(ApiError::TooLarge {
                route: route.into(),
                limit: size(limit),
            })
        };
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        loop {
            let chunk = match tokio::time::timeout_at(*deadline, response.chunk()).await {
                Err(_) => return Err(self.attempt_timed_out(route)),
                Ok(Err(e)) => return Err(self.network_failure(route, e)),
                Ok(Ok(None)) => return Ok(body),
                Ok(Ok(Some(chunk))) => chunk,
            };
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            if let Some(bandwidth) = &self.config.bandwidth {
                *deadline += bandwidth.consume(chunk.len()).await;
            }
            body.extend_from_slice(&chunk);
        }
    }

    fn observe(&self, record: &CallRecord) {
        if let Some(observer) = &self.config.observer {
            observer(record);
        }
    }

    fn network_failure(&self, route: &str, e: reqwest::Error) -> AttemptFailure {
        if e.is_timeout() && e.is_connect() {
            let after = seconds(self.config.connect_timeout);
            AttemptFailure::TimedOut(format!(
                "timed out after {after} connecting to the server for {route}"
            ))
        } else if e.is_timeout() {
            let after = seconds(self.config.read_timeout);
            AttemptFailure::TimedOut(format!("timed out after {after} waiting for {route}"))
        } else {
            // Strip the URL: it is ours, and the message is clearer without it.
            let detail = e.without_url().to_string();
            AttemptFailure::Network(format!("network error: {detail}"))
        }
    }

    /// The attempt's own deadline passed (the body kept trickling in).
    fn attempt_timed_out(&self, route: &str) -> AttemptFailure {
        let after = seconds(self.config.attempt_timeout);
        AttemptFailure::TimedOut(format!(
            "timed out after {after} reading the response of {route}"
        ))
    }
}

/// What a complete response means: its body, or how the attempt failed.
fn classify(route: &str, status: u16, retry_after: Option<u64>, body: Vec<u8>) -> AttemptResult {
    let route_s = route.to_string();
    let rejected = match status {
        200 => return Ok(body),
        400 => ApiError::BadRequest {
            route: route_s,
            text: first_line(&body),
        },
        401 => auth_error(route_s, &body),
        403 => ApiError::AccessDenied {
            route: route_s,
            summary: envelope(&body)
                .map(|e| e.error_summary)
                .unwrap_or_else(|| first_line(&body)),
        },
        409 => route_error(route_s, &body),
        429 => {
            let body_wait =
                envelope(&body).and_then(|e| e.error.get("retry_after").and_then(|v| v.as_u64()));
            return Err(AttemptFailure::RateLimited {
                retry_after: retry_after.or(body_wait),
            });
        }
        500..=599 => {
            return Err(AttemptFailure::Server {
                status,
                first_line: first_line(&body),
                retry_after,
            })
        }
        _ => ApiError::Unexpected {
            route: route_s,
            status,
            first_line: first_line(&body),
        },
    };
    Err(AttemptFailure::Rejected(rejected))
}

/// `60 s`, or `0.2 s` for the short limits of tests.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `64 MiB`, or bytes when not a whole number of MiB.
fn size(bytes: usize) -> String {
    if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn envelope(body: &[u8]) -> Option<ErrorEnvelope> {
    serde_json::from_slice(body).ok()
}

fn tag_of(error: &serde_json::Value) -> String {
    error
        .get(".tag")
        .and_then(|t| t.as_str())
        .unwrap_or("other")
        .to_string()
}

fn auth_error(route: String, body: &[u8]) -> ApiError {
    let Some(envelope) = envelope(body) else {
        return ApiError::Auth {
            route,
            tag: first_line(body),
        };
    };
    match tag_of(&envelope.error).as_str() {
        "expired_access_token" => ApiError::ExpiredToken { route },
        "invalid_access_token" => ApiError::InvalidToken { route },
        "missing_scope" => ApiError::MissingScope {
            route,
            scope: envelope
                .error
                .get("required_scope")
                .and_then(|s| s.as_str())
                .unwrap_or("?")
                .to_string(),
        },
        tag => ApiError::Auth {
            route,
            tag: tag.to_string(),
        },
    }
}

fn route_error(route: String, body: &[u8]) -> ApiError {
    match envelope(body) {
        Some(envelope) => {
            let tag = tag_of(&envelope.error);
            let value = envelope
                .error
                .get(&tag)
                .and_then(|v| v.as_str())
                .map(str::to_string);
            let summary = if envelope.error_summary.is_empty() {
                tag.clone()
            } else {
                envelope.error_summary
            };
            ApiError::Route {
                route,
                tag,
                value,
                summary,
            }
        }
        None => ApiError::Route {
            route,
            tag: "other".into(),
            value: None,
            summary: first_line(body),
        },
    }
}

fn decode<R: DeserializeOwned>(route: &str, bytes: &[u8]) -> Result<R, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::Decode {
        route: route.into(),
        detail: e.to_string(),
    })
}
