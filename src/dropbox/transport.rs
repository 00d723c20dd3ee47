//! The one HTTP transport every route goes through: authorization header,
//! JSON bodies, error classification, and the retry policy (429 waits for
//! `Retry-After`; 5xx and network failures back off exponentially with full
//! jitter). Each call is reported to an observer for `-verbose` and the job
//! log; observers never see headers or tokens.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::auth::tokens::{Renewal, TokenSource};
use super::auth::ApiBase;
use super::bandwidth::Bandwidth;
use super::error::{first_line, ApiError};

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
        }
    }
}

pub struct Transport {
    http: reqwest::Client,
    config: TransportConfig,
    in_flight: tokio::sync::Semaphore,
}

/// The one HTTP client of a run (also used for the token endpoint):
/// timeouts, no redirects, and the proxy choice. Loopback never goes
/// through a proxy.
pub fn http_client(base: &ApiBase, proxy: Option<&str>) -> Result<reqwest::Client, ApiError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
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
    builder.build().map_err(|e| ApiError::Decode {
        route: "http client".into(),
        detail: e.to_string(),
    })
}

/// The Stone error envelope of 401/403/409/429 responses.
#[derive(Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    error_summary: String,
    #[serde(default)]
    error: serde_json::Value,
}

enum Outcome {
    Done(Vec<u8>),
    Retry {
        wait: Duration,
        rate_limited: bool,
        last: String,
    },
    Fail(ApiError),
}

const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// Token refreshes one request may trigger (each for a newer token).
const MAX_REFRESHES: u32 = 3;

impl Transport {
    pub fn new(config: TransportConfig) -> Result<Self, ApiError> {
        let http = http_client(&config.base, config.proxy.as_deref())?;
        let in_flight = tokio::sync::Semaphore::new(config.max_in_flight.max(1));
        Ok(Self {
            http,
            config,
            in_flight,
        })
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

    async fn call(&self, route: &str, body: Option<Vec<u8>>) -> Result<Vec<u8>, ApiError> {
        let url = format!("{}/2/{route}", self.config.base.as_str());
        let mut attempt = 0u32;
        let mut error_attempts = 0u32;
        let mut rate_limit_waited = Duration::ZERO;
        let mut refreshes = 0u32;
        loop {
            attempt += 1;
            let (token, generation) = self.config.tokens.token().await?;
            let started = Instant::now();
            let mut request = self.http.post(&url).bearer_auth(token.secret());
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let mut record = CallRecord {
                route: route.to_string(),
                request: body
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned()),
                attempt,
                status: None,
                elapsed: Duration::ZERO,
                response_bytes: 0,
                request_id: None,
                retry_in: None,
                note: None,
            };
            // A permit per attempt: waits between retries hold none.
            let permit = self.in_flight.acquire().await.ok();
            let outcome = match request.send().await {
                Ok(response) => {
                    record.status = Some(response.status().as_u16());
                    record.request_id = header(&response, "x-dropbox-request-id");
                    let retry_after =
                        header(&response, "retry-after").and_then(|v| v.trim().parse::<u64>().ok());
                    let status = response.status().as_u16();
                    match self.read_body(response).await {
                        Ok(bytes) => {
                            record.response_bytes = bytes.len();
                            self.classify(route, status, retry_after, &bytes, error_attempts)
                        }
                        Err(e) => self.network_retry(error_attempts, e),
                    }
                }
                Err(e) => self.network_retry(error_attempts, e),
            };
            drop(permit);
            record.elapsed = started.elapsed();
            let next = match outcome {
                Outcome::Done(bytes) => {
                    self.observe(&record);
                    return Ok(bytes);
                }
                Outcome::Fail(err) => {
                    record.note = Some(err.to_string());
                    // A rejected token is refreshed (one refresh shared by
                    // every concurrent caller) and the request repeated; a
                    // request refreshes at most MAX_REFRESHES times, so a
                    // server that refuses every token cannot loop us.
                    let rejected = matches!(
                        err,
                        ApiError::ExpiredToken { .. } | ApiError::InvalidToken { .. }
                    );
                    if rejected && refreshes < MAX_REFRESHES {
                        let renewal = self
                            .config
                            .tokens
                            .refresh_after_rejection(generation)
                            .await?;
                        if renewal != Renewal::Impossible {
                            // Only this request's own refreshes count: a
                            // token renewed by another caller is simply retried.
                            if renewal == Renewal::Refreshed {
                                refreshes += 1;
                            }
                            record.retry_in = Some(Duration::ZERO);
                            self.observe(&record);
                            continue;
                        }
                    }
                    self.observe(&record);
                    return Err(err);
                }
                Outcome::Retry {
                    wait,
                    rate_limited,
                    last,
                } => {
                    if rate_limited {
                        rate_limit_waited += wait;
                        if rate_limit_waited > self.config.max_rate_limit_wait {
                            Err(ApiError::Exhausted {
                                route: route.into(),
                                attempts: attempt,
                                last: format!(
                                    "{last}; rate limited for over {} s in total",
                                    self.config.max_rate_limit_wait.as_secs()
                                ),
                            })
                        } else {
                            Ok((wait, last))
                        }
                    } else {
                        error_attempts += 1;
                        if error_attempts >= self.config.max_attempts {
                            Err(ApiError::Exhausted {
                                route: route.into(),
                                attempts: attempt,
                                last,
                            })
                        } else {
                            Ok((wait, last))
                        }
                    }
                }
            };
            match next {
                Ok((wait, last)) => {
                    record.retry_in = Some(wait);
                    record.note = Some(last);
                    self.observe(&record);
                    tokio::time::sleep(wait).await;
                }
                Err(err) => {
                    record.note = Some(err.to_string());
                    self.observe(&record);
                    return Err(err);
                }
            }
        }
    }

    /// The response body, throttled by `-bandwidth-kb` when set.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
        let Some(limit) = &self.config.bandwidth else {
            return response.bytes().await.map(|b| b.to_vec());
        };
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            limit.consume(chunk.len()).await;
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn observe(&self, record: &CallRecord) {
        if let Some(observer) = &self.config.observer {
            observer(record);
        }
    }

    fn network_retry(&self, error_attempts: u32, e: reqwest::Error) -> Outcome {
        // Strip the URL: it is ours, and the message is clearer without it.
        let detail = e.without_url().to_string();
        Outcome::Retry {
            wait: self.backoff(error_attempts),
            rate_limited: false,
            last: format!("network error: {detail}"),
        }
    }

    /// Full jitter: a random wait in `[0, min(cap, base * 2^n)]`.
    fn backoff(&self, error_attempts: u32) -> Duration {
        let ceiling = self
            .config
            .retry_base
            .saturating_mul(1u32 << error_attempts.min(16))
            .min(BACKOFF_CAP);
        let millis = ceiling.as_millis() as u64;
        Duration::from_millis(rand::thread_rng().gen_range(0..=millis))
    }

    fn classify(
        &self,
        route: &str,
        status: u16,
        retry_after: Option<u64>,
        body: &[u8],
        error_attempts: u32,
    ) -> Outcome {
        let route_s = route.to_string();
        match status {
            200 => Outcome::Done(body.to_vec()),
            400 => Outcome::Fail(ApiError::BadRequest {
                route: route_s,
                text: first_line(body),
            }),
            401 => Outcome::Fail(auth_error(route_s, body)),
            403 => {
                let envelope = envelope(body);
                Outcome::Fail(ApiError::AccessDenied {
                    route: route_s,
                    summary: envelope
                        .map(|e| e.error_summary)
                        .unwrap_or_else(|| first_line(body)),
                })
            }
            409 => Outcome::Fail(route_error(route_s, body)),
            429 => {
                let body_wait = envelope(body)
                    .and_then(|e| e.error.get("retry_after").and_then(|v| v.as_u64()));
                let seconds = retry_after.or(body_wait).unwrap_or(1).max(1);
                let jitter = Duration::from_millis(rand::thread_rng().gen_range(0..=250));
                Outcome::Retry {
                    wait: Duration::from_secs(seconds) + jitter,
                    rate_limited: true,
                    last: format!("HTTP 429 (retry after {seconds} s)"),
                }
            }
            500..=599 => {
                let backoff = self.backoff(error_attempts);
                let wait = retry_after.map_or(backoff, |s| backoff.max(Duration::from_secs(s)));
                Outcome::Retry {
                    wait,
                    rate_limited: false,
                    last: format!("HTTP {status}: {}", first_line(body)),
                }
            }
            _ => Outcome::Fail(ApiError::Unexpected {
                route: route_s,
                status,
                first_line: first_line(body),
            }),
        }
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
