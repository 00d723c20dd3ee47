//! `-notify-webhook`: which URLs are accepted, the shared HTTP client, and
//! one delivery with its retries. Every error built here is scrubbed of the
//! URL (reqwest puts it in its own messages; a receiver may echo it).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use super::{snippet, Backoff, DeliveryError, Failure, NotifyError, Target, READ_CAP};

const OPTION: &str = "-notify-webhook";
const EXPECTED: &str = "expected an https:// URL (http:// only for 127.0.0.1, localhost or [::1])";
/// Redirects followed within one attempt, each to an accepted URL.
const MAX_REDIRECTS: usize = 5;

fn invalid(problem: Option<&str>) -> NotifyError {
    NotifyError::Invalid {
        option: OPTION,
        problem: match problem {
            Some(problem) => format!("{problem}; {EXPECTED}"),
            None => EXPECTED.to_string(),
        },
    }
}

/// The URL if it may receive alerts: https with a host, or plain http to a
/// loopback address (a receiver on this machine: nothing crosses a wire).
pub(super) fn parse(input: &str) -> Result<Url, NotifyError> {
    let url = Url::parse(input.trim()).map_err(|_| invalid(Some("not a URL")))?;
    if matches!(url.scheme(), "http" | "https") && !names_a_host(input) {
        return Err(invalid(Some("the URL has no host")));
    }
    match url.scheme() {
        "https" if url.host_str().is_some_and(|host| !host.is_empty()) => Ok(url),
        "https" => Err(invalid(Some("the URL has no host"))),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(invalid(Some("http:// is only for this machine"))),
        _ => Err(invalid(None)),
    }
}

/// Whether the input itself has an authority (`scheme://host...`). The
/// URL standard forgives its absence in http(s): `https:///SECRET/x`,
/// `https:/SECRET/x` and `https:SECRET/x` all parse with the first path
/// part as the host, so a label would show a secret and the alert would
/// go to a host nobody meant. Cleaned as the parser does first: C0
/// controls and spaces around it dropped, tabs and newlines within.
fn names_a_host(input: &str) -> bool {
    let cleaned: String = input
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let Some((_, rest)) = cleaned.split_once(':') else {
        return false;
    };
    let mut chars = rest.chars();
    let slash = |c: Option<char>| matches!(c, Some('/' | '\\'));
    slash(chars.next())
        && slash(chars.next())
        && chars
            .next()
            .is_some_and(|c| !matches!(c, '/' | '\\' | '?' | '#'))
}

fn allowed(url: &Url) -> bool {
    match url.scheme() {
        "https" => url.host_str().is_some_and(|host| !host.is_empty()),
        "http" => is_loopback(url),
        _ => false,
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// One client for every webhook: connect and whole-request limits,
/// redirects only to URLs `parse` would accept, and the proxy choice of the
/// common `-proxy` option. Loopback receivers are reached directly.
pub(super) fn client(
    targets: &[Target],
    proxy: Option<&str>,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<reqwest::Client, NotifyError> {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() < MAX_REDIRECTS && allowed(attempt.url()) {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .user_agent(concat!("tbx-rs/", env!("CARGO_PKG_VERSION")))
        .redirect(redirects);
    let all_local = targets.iter().all(|target| match &target.kind {
        super::Kind::Webhook(url) => is_loopback(url),
        super::Kind::Exec { .. } => true,
    });
    builder = match proxy {
        _ if all_local => builder.no_proxy(),
        Some(direct) if direct.eq_ignore_ascii_case("DIRECT") => builder.no_proxy(),
        Some(host_port) => {
            let proxy = reqwest::Proxy::all(format!("http://{host_port}"))
                .map_err(|e| NotifyError::Invalid {
                    option: "-proxy",
                    problem: e.to_string(),
                })?
                .no_proxy(reqwest::NoProxy::from_string("localhost,127.0.0.1,::1"));
            builder.proxy(proxy)
        }
        None => builder,
    };
    builder
        .build()
        .map_err(|e| NotifyError::Client(e.to_string()))
}

/// One webhook delivery: what it needs of the notifier.
pub(super) struct Request<'a> {
    pub http: &'a reqwest::Client,
    pub url: &'a Url,
    pub label: &'a str,
    pub timeout: Duration,
}

/// How one attempt failed, and whether (and when) another may succeed.
struct AttemptFailure {
    failure: Failure,
    retry: bool,
    /// The receiver's `Retry-After`, on 429 and 503.
    wait: Option<Duration>,
}

impl Request<'_> {
    pub(super) async fn deliver(
        &self,
        backoff: &Backoff,
        text: &str,
        change: &serde_json::Value,
    ) -> Result<(), DeliveryError> {
        let body = serde_json::json!({ "text": text, "change": change }).to_string();
        let attempts = backoff.attempts.max(1);
        let mut attempt = 1;
        loop {
            let Err(failed) = self.attempt(&body).await else {
                return Ok(());
            };
            if !failed.retry || attempt >= attempts {
                return Err(DeliveryError {
                    target: self.label.to_string(),
                    failure: failed.failure,
                    attempts: attempt,
                });
            }
            let wait = match failed.wait {
                Some(wait) => wait.min(backoff.max_retry_after),
                None => backoff.wait_after(attempt),
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, body: &str) -> Result<(), AttemptFailure> {
        let sent = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .timeout(self.timeout)
            .send()
            .await;
        let response = sent.map_err(|e| AttemptFailure {
            failure: self.request_failure(e),
            retry: true,
            wait: None,
        })?;
        let status = response.status();
        let wait = matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        )
        .then(|| retry_after(response.headers()))
        .flatten();
        // Read (bounded) even on success, so the connection can be reused.
        let answer = read_capped(response).await;
        if status.is_success() {
            return Ok(());
        }
        Err(AttemptFailure {
            failure: Failure::Status {
                code: status.as_u16(),
                detail: snippet(&answer, &self.secrets()),
            },
            retry: status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS
                || status.is_server_error(),
            wait,
        })
    }

    /// The parts of the URL a message must not show, longest first: the
    /// whole of it, its path with its query, and each alone (webhook
    /// services keep the token in them).
    fn secrets(&self) -> Vec<String> {
        let path = self.url.path().to_string();
        let query = self.url.query().unwrap_or("").to_string();
        let path_and_query = if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        };
        vec![self.url.as_str().to_string(), path_and_query, path, query]
    }

    /// reqwest's message names the URL; this one says what failed, with the
    /// innermost cause (e.g. "Connection refused (os error 111)").
    fn request_failure(&self, error: reqwest::Error) -> Failure {
        if error.is_timeout() {
            return Failure::TimedOut(self.timeout);
        }
        let what = if error.is_connect() {
            "could not connect"
        } else if error.is_body() || error.is_decode() {
            "the answer broke off"
        } else {
            "the request failed"
        };
        let error = error.without_url();
        let mut cause: &dyn std::error::Error = &error;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let cause = snippet(cause.to_string().as_bytes(), &self.secrets());
        Failure::Network(format!("{what}: {cause}"))
    }
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Up to `READ_CAP` bytes of the answer; the rest is not read.
async fn read_capped(mut response: reqwest::Response) -> Vec<u8> {
    let mut answer = Vec::new();
    while answer.len() < READ_CAP {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = READ_CAP - answer.len();
                answer.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(input: &str) -> String {
        parse(input).unwrap_err().to_string()
    }

    #[test]
    fn https_and_loopback_http_are_accepted() {
        for url in [
            "https://hooks.slack.com/services/T0/B0/xyz",
            "https://example.com:8443/hook?token=abc",
            "  https://example.com/  ",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://LOCALHOST:80/",
            "http://[::1]:8080/hook",
            "https:\\\\example.com/hook",
            "https://user@example.com/hook",
        ] {
            assert!(parse(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn other_urls_are_refused_with_one_line_that_does_not_echo_them() {
        for url in [
            "http://example.com/hook/SECRET",
            "http://10.0.0.1/hook/SECRET",
            "http://127.0.0.1.example.com/SECRET",
            "ftp://example.com/SECRET",
            "file:///etc/SECRET",
            "hooks.slack.com/services/SECRET",
            "",
            "SECRET",
            "https:///SECRET/hook",
            "HTTPS:///SECRET/hook",
            "https:////SECRET/hook",
            "https:/SECRET/hook",
            "https:SECRET/hook",
            "https:\\\\\\SECRET/hook",
            "https:/\t//SECRET/hook",
            "  https:///SECRET  ",
            "http:///127.0.0.1/SECRET",
            "http:/localhost/SECRET",
        ] {
            let error = error_of(url);
            assert!(error.starts_with("-notify-webhook: "), "{url}: {error}");
            assert!(
                error.ends_with(
                    "expected an https:// URL (http:// only for 127.0.0.1, localhost or [::1])"
                ),
                "{url}: {error}"
            );
            assert!(
                !error.contains("SECRET") && !error.contains('\n'),
                "{url}: {error}"
            );
            assert!(!error.contains("example.com"), "{url}: {error}");
        }
        assert_eq!(
            error_of("http://example.com"),
            "-notify-webhook: http:// is only for this machine; expected an https:// URL \
             (http:// only for 127.0.0.1, localhost or [::1])"
        );
    }

    #[test]
    fn redirects_follow_only_to_accepted_urls() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(allowed(&url("https://example.com/next")));
        assert!(allowed(&url("http://127.0.0.1:1/next")));
        assert!(!allowed(&url("http://example.com/next")));
        assert!(!allowed(&url("ftp://example.com/next")));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_after(&headers),
            Some(Duration::ZERO),
            "a past date: now"
        );
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
