//! Errors of the API client, with messages an admin can act on. Secrets never
//! appear here: bodies are only quoted from error responses, which carry no
//! tokens, and request headers are never quoted.

use thiserror::Error;

use super::auth::AuthError;

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("{route}: the request was rejected as malformed (400): {text}")]
    BadRequest { route: String, text: String },
    #[error("{route}: the access token has expired; authorize again")]
    ExpiredToken { route: String },
    #[error("{route}: the access token is not valid (revoked or mistyped); authorize again")]
    InvalidToken { route: String },
    #[error(
        "{route}: the token lacks the scope '{scope}'; enable it for the app and authorize again"
    )]
    MissingScope { route: String, scope: String },
    #[error("{route}: authorization failed ({tag})")]
    Auth { route: String, tag: String },
    #[error("{route}: access denied (403): {summary}")]
    AccessDenied { route: String, summary: String },
    /// A documented route error (409). `tag` is `error[".tag"]`, `value` the
    /// tag's value where it has one (e.g. the timestamp of `reset`).
    #[error("{route}: {summary}")]
    Route {
        route: String,
        tag: String,
        value: Option<String>,
        summary: String,
    },
    #[error("{route}: gave up after {attempts} attempts; last: {last}")]
    Exhausted {
        route: String,
        attempts: u32,
        last: String,
    },
    /// Every attempt ran into a timeout until the request's budget for
    /// timeouts was spent.
    #[error("{last} ({attempts} attempts); giving up")]
    TimedOut {
        route: String,
        attempts: u32,
        last: String,
    },
    /// A body larger than any real page: read no further.
    #[error("response of {route} exceeds {limit}")]
    TooLarge { route: String, limit: String },
    /// A listing the server never lets end (a cursor given twice, or empty
    /// pages without end).
    #[error("{route}: the listing never ends ({detail}); giving up")]
    EndlessListing { route: String, detail: String },
    #[error("{route}: unexpected HTTP {status}: {first_line}")]
    Unexpected {
        route: String,
        status: u16,
        first_line: String,
    },
    #[error("{route}: cannot read the response: {detail}")]
    Decode { route: String, detail: String },
    /// No token could be had (refresh refused, token endpoint down, ...).
    #[error(transparent)]
    Credential(#[from] AuthError),
}

impl ApiError {
    /// The route error tag, for 409s that callers recover from.
    pub fn route_tag(&self) -> Option<&str> {
        match self {
            Self::Route { tag, .. } => Some(tag),
            _ => None,
        }
    }
}

/// The first non-empty line of a body, trimmed and capped, for messages:
/// HTML or plain-text bodies must not flood the terminal.
pub fn first_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(empty body)");
    let mut out: String = line.chars().filter(|c| !c.is_control()).take(200).collect();
    if line.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_skips_blank_lines_and_caps_length() {
        assert_eq!(first_line(b"\n\n  <html>\n<body>"), "<html>");
        assert_eq!(first_line(b""), "(empty body)");
        let long = "x".repeat(500);
        assert_eq!(first_line(long.as_bytes()).chars().count(), 201);
    }
}
