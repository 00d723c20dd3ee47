//! OAuth 2 for a public client: the authorize URL with PKCE (S256, a fresh
//! verifier per attempt), the code exchange and the refresh grant at
//! `<api base>/oauth2/token`, through the `oauth2` crate. Token requests are
//! retried on 5xx and network failures; OAuth errors (`invalid_grant`, ...)
//! are not.

use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RequestTokenError, Scope, TokenResponse,
    TokenUrl,
};

use super::{AccessToken, ApiBase, AuthError, RefreshToken, SCOPES};

/// Dropbox's authorize page. A loopback API base (the simulator) serves its
/// own page at `<base>/oauth2/authorize` instead.
pub const DROPBOX_AUTHORIZE_URL: &str = "https://www.dropbox.com/oauth2/authorize";
const TOKEN_TRIES: u32 = 3;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// What the token endpoint granted.
#[derive(Debug, Clone)]
pub struct Grant {
    pub access_token: AccessToken,
    /// Only the code exchange returns one; a refresh keeps the old.
    pub refresh_token: Option<RefreshToken>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<String>,
}

/// Why the token endpoint said no.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenFailure {
    /// `invalid_grant`: the code or refresh token is unknown, used, expired
    /// or revoked.
    InvalidGrant,
    /// Another OAuth error code (`invalid_client`, `invalid_request`, ...).
    Rejected(String),
    /// The endpoint could not be reached or answered nonsense.
    Unavailable(String),
}

/// A registered Dropbox app, seen as an OAuth public client.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    pub app_key: String,
    client: Client,
}

/// One authorization attempt: the URL to open and its PKCE verifier.
pub struct AuthorizeAttempt {
    pub url: String,
    verifier: PkceCodeVerifier,
}

impl OAuthApp {
    pub fn new(app_key: &str, base: &ApiBase) -> Result<Self, AuthError> {
        let authorize = if base.is_loopback() {
            format!("{}/oauth2/authorize", base.as_str())
        } else {
            DROPBOX_AUTHORIZE_URL.to_string()
        };
        let bad =
            |e: oauth2::url::ParseError| AuthError::BadApiBase(format!("{} ({e})", base.as_str()));
        let client = BasicClient::new(ClientId::new(app_key.to_string()))
            .set_auth_uri(AuthUrl::new(authorize).map_err(bad)?)
            .set_token_uri(TokenUrl::new(format!("{}/oauth2/token", base.as_str())).map_err(bad)?);
        Ok(Self {
            app_key: app_key.to_string(),
            client,
        })
    }

    /// A new authorize URL with a fresh PKCE verifier.
    pub fn start_authorization(&self) -> AuthorizeAttempt {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .add_extra_param("token_access_type", "offline");
        for scope in SCOPES {
            request = request.add_scope(Scope::new(scope.to_string()));
        }
        let (url, _state) = request.url();
        AuthorizeAttempt {
            url: url.to_string(),
            verifier,
        }
    }

    pub async fn exchange_code(
        &self,
        http: &reqwest::Client,
        attempt: AuthorizeAttempt,
        code: &str,
    ) -> Result<Grant, TokenFailure> {
        let sender = RetryingSender(http);
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.trim().to_string()))
            .set_pkce_verifier(attempt.verifier)
            .request_async(&sender)
            .await
            .map_err(classify)?;
        Ok(to_grant(&response))
    }

    pub async fn refresh(
        &self,
        http: &reqwest::Client,
        refresh_token: &RefreshToken,
    ) -> Result<Grant, TokenFailure> {
        let sender = RetryingSender(http);
        let token = oauth2::RefreshToken::new(refresh_token.secret().to_string());
        let response = self
            .client
            .exchange_refresh_token(&token)
            .request_async(&sender)
            .await
            .map_err(classify)?;
        Ok(to_grant(&response))
    }
}

fn to_grant(response: &oauth2::basic::BasicTokenResponse) -> Grant {
    Grant {
        access_token: AccessToken::new(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|t| RefreshToken::new(t.secret().clone())),
        expires_at: response
            .expires_in()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| Utc::now() + d),
        scopes: response.scopes().map(|scopes| {
            scopes
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        }),
    }
}

fn classify<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
) -> TokenFailure {
    match e {
        RequestTokenError::ServerResponse(r) => match r.error() {
            BasicErrorResponseType::InvalidGrant => TokenFailure::InvalidGrant,
            other => TokenFailure::Rejected(other.to_string()),
        },
        // No secrets here: these describe transport or parse failures.
        RequestTokenError::Request(e) => TokenFailure::Unavailable(e.to_string()),
        RequestTokenError::Parse(e, _) => {
            TokenFailure::Unavailable(format!("unreadable response ({e})"))
        }
        RequestTokenError::Other(e) => TokenFailure::Unavailable(e),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SendError(String);

/// The HTTP client handed to `oauth2`: a token request is retried on 5xx
/// and network failures (with 1 s, 2 s waits); other answers pass through.
struct RetryingSender<'a>(&'a reqwest::Client);

type SendFuture<'c> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<HttpResponse, SendError>> + Send + Sync + 'c>,
>;

impl<'c> oauth2::AsyncHttpClient<'c> for RetryingSender<'_> {
    type Error = SendError;
    type Future = SendFuture<'c>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        let http = self.0;
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut last = String::new();
            for attempt in 0..TOKEN_TRIES {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
                }
                let mut builder = http.request(parts.method.clone(), parts.uri.to_string());
                for (name, value) in &parts.headers {
                    builder = builder.header(name, value);
                }
                match builder.body(body.clone()).send().await {
                    Ok(response) => {
                        let status = response.status();
                        let headers = response.headers().clone();
                        let bytes = response
                            .bytes()
                            .await
                            .map_err(|e| SendError(e.without_url().to_string()))?;
                        if status.is_server_error() {
                            last = format!("HTTP {status}");
                            continue;
                        }
                        let mut out = oauth2::http::Response::builder().status(status.as_u16());
                        for (name, value) in &headers {
                            out = out.header(name.as_str(), value.as_bytes());
                        }
                        return out
                            .body(bytes.to_vec())
                            .map_err(|e| SendError(e.to_string()));
                    }
                    Err(e) => last = e.without_url().to_string(),
                }
            }
            Err(SendError(format!("{last} after {TOKEN_TRIES} attempts")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_asks_for_offline_access_scopes_and_s256() {
        let app = OAuthApp::new(
            "key123",
            &ApiBase::parse("https://api.dropboxapi.com").unwrap(),
        )
        .unwrap();
        let attempt = app.start_authorization();
        let url = attempt.url;
        assert!(
            url.starts_with("https://www.dropbox.com/oauth2/authorize?"),
            "{url}"
        );
        for part in [
            "client_id=key123",
            "response_type=code",
            "token_access_type=offline",
            "code_challenge_method=S256",
            "code_challenge=",
            "scope=events.read+members.read+sessions.list+team_info.read",
        ] {
            assert!(url.contains(part), "{url} lacks {part}");
        }
        let again = app.start_authorization().url;
        assert_ne!(url, again, "a fresh verifier (and challenge) per attempt");
    }

    #[test]
    fn a_loopback_base_uses_its_own_authorize_page() {
        let app = OAuthApp::new("k", &ApiBase::parse("http://127.0.0.1:9").unwrap()).unwrap();
        assert!(app
            .start_authorization()
            .url
            .starts_with("http://127.0.0.1:9/oauth2/authorize?"));
    }
}
