//! The simulator's OAuth side: an authorize page that shows a code (as
//! Dropbox does without a redirect URI) and `/oauth2/token` for the
//! `authorization_code` grant (client id, single-use code, S256 check of the
//! PKCE verifier) and the `refresh_token` grant, with OAuth-style errors.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{secret, CodeInfo, Sim};

const CODE_LIFETIME: Duration = Duration::from_secs(600);

pub(super) fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/oauth2/authorize", get(authorize_page))
        .route("/oauth2/token", post(token))
}

fn page(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn authorize_page(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let problem = if get("client_id") != sim.config.app_key {
        Some("unknown client_id (app key)")
    } else if get("response_type") != "code" {
        Some("response_type must be code")
    } else if get("code_challenge_method") != "S256" || get("code_challenge").is_empty() {
        Some("a PKCE code_challenge with code_challenge_method=S256 is required")
    } else {
        None
    };
    if let Some(problem) = problem {
        return page(
            StatusCode::BAD_REQUEST,
            format!(
                "<!DOCTYPE html><html><body><h1>Invalid request</h1><p>{problem}</p></body></html>"
            ),
        );
    }
    let scopes: Vec<String> = match q.get("scope") {
        Some(s) => s.split_whitespace().map(str::to_string).collect(),
        None => super::ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
    };
    let code = secret("simcode-");
    sim.state().codes.insert(
        code.clone(),
        CodeInfo {
            challenge: get("code_challenge").to_string(),
            scopes,
            issued: Instant::now(),
        },
    );
    page(
        StatusCode::OK,
        format!(
            "<!DOCTYPE html><html><head><title>Dropbox API simulator: authorize</title></head><body>\
             <h1>Enter this code into tbx</h1><p>The simulated team admin approved the app.</p>\
             <code id=\"auth-code\">{code}</code></body></html>"
        ),
    )
}

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": error, "error_description": description}).to_string(),
    )
        .into_response()
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn token(State(sim): State<Arc<Sim>>, Form(form): Form<HashMap<String, String>>) -> Response {
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let grant_type = get("grant_type").to_string();
    {
        let mut state = sim.state();
        *state.calls.entry("oauth2/token".into()).or_default() += 1;
        *state
            .calls
            .entry(format!("oauth2/token:{grant_type}"))
            .or_default() += 1;
    }
    if get("client_id") != sim.config.app_key {
        return oauth_error("invalid_client", "unknown client_id");
    }
    let lifetime = sim.config.token_lifetime;
    let mut state = sim.state();
    match grant_type.as_str() {
        "authorization_code" => {
            // Single use: a code is gone after its first exchange attempt.
            let Some(code) = state.codes.remove(get("code")) else {
                return oauth_error("invalid_grant", "code doesn't exist or has expired");
            };
            if code.issued.elapsed() > CODE_LIFETIME || s256(get("code_verifier")) != code.challenge
            {
                return oauth_error("invalid_grant", "invalid code verifier or expired code");
            }
            let refresh = state.mint_refresh(code.scopes.clone());
            let access = state.mint_access(code.scopes.clone(), lifetime, Some(refresh.clone()));
            let body = json!({
                "access_token": access, "token_type": "bearer", "expires_in": lifetime.as_secs(),
                "refresh_token": refresh, "scope": code.scopes.join(" "),
                "team_id": sim.team.team_id, "uid": "12345678",
            });
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        "refresh_token" => {
            let scopes = match state.refresh_tokens.get(get("refresh_token")) {
                Some(info) if !info.revoked => info.scopes.clone(),
                _ => return oauth_error("invalid_grant", "refresh token is invalid or revoked"),
            };
            let access =
                state.mint_access(scopes, lifetime, Some(get("refresh_token").to_string()));
            let body = json!({"access_token": access, "token_type": "bearer", "expires_in": lifetime.as_secs()});
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        "" => oauth_error("invalid_request", "missing grant_type"),
        _ => oauth_error("unsupported_grant_type", "grant_type is not supported"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_the_rfc_7636_test_vector() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
