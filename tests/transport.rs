//! The transport's retry policy against the simulator over HTTP, with short
//! waits so the limits can be reached quickly.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tbx::dropbox::auth::tokens::TokenSource;
use tbx::dropbox::auth::{AccessToken, ApiBase};
use tbx::dropbox::{ApiError, Transport, TransportConfig};
use tbx::sim::{Fault, FaultBody, SimHandle};

fn transport(sim: &SimHandle, tune: impl FnOnce(&mut TransportConfig)) -> Transport {
    let base = ApiBase::parse(&sim.base_url).unwrap();
    let tokens = Arc::new(TokenSource::fixed(
        AccessToken::new(sim.token.clone()),
        "default",
    ));
    let mut config = TransportConfig::new(base, tokens);
    config.retry_base = Duration::from_millis(5);
    tune(&mut config);
    Transport::new(config).unwrap()
}

fn get_info(t: &Transport) -> Result<serde_json::Value, ApiError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(t.rpc_void("team/get_info"))
}

#[test]
fn persistent_server_errors_give_up_after_eight_tries_naming_route_status_and_body() {
    let sim = start(team(5, 61));
    sim.inject(
        "team/get_info",
        100,
        Fault::ServerError {
            status: 503,
            body: FaultBody::Html,
            retry_after: None,
        },
    );
    let err = get_info(&transport(&sim, |_| {})).unwrap_err();
    assert_eq!(sim.calls("team/get_info"), 8);
    let text = err.to_string();
    assert!(
        text.starts_with("team/get_info: gave up after 8 attempts"),
        "{text}"
    );
    assert!(text.contains("HTTP 503: <!DOCTYPE html>"), "{text}");
}

#[test]
fn rate_limits_do_not_use_up_the_error_budget_but_the_total_wait_is_capped() {
    let sim = start(team(5, 62));
    // Seven 5xx and then a 429 each, then success: 7 errors < 8, 429s free.
    sim.inject(
        "team/get_info",
        7,
        Fault::ServerError {
            status: 500,
            body: FaultBody::Empty,
            retry_after: None,
        },
    );
    sim.inject(
        "team/get_info",
        2,
        Fault::RateLimited {
            retry_after: Some(1),
            text_body: false,
            write_operations: false,
        },
    );
    let info = get_info(&transport(&sim, |_| {})).unwrap();
    assert_eq!(info["name"], "Example Corp (simulated)");
    assert_eq!(sim.calls("team/get_info"), 10);

    let capped = start(team(5, 63));
    capped.inject(
        "team/get_info",
        100,
        Fault::RateLimited {
            retry_after: Some(1),
            text_body: true,
            write_operations: false,
        },
    );
    let err = get_info(&transport(&capped, |c| {
        c.max_rate_limit_wait = Duration::from_secs(2)
    }))
    .unwrap_err();
    assert!(
        err.to_string().contains("rate limited for over 2 s"),
        "{err}"
    );
    assert!(capped.calls("team/get_info") <= 3);
}

#[test]
fn client_errors_are_not_retried() {
    let sim = start(team(5, 64));
    sim.inject(
        "team/get_info",
        1,
        Fault::RouteError {
            tag: "other".into(),
            value: None,
        },
    );
    let err = get_info(&transport(&sim, |_| {})).unwrap_err();
    assert_eq!(sim.calls("team/get_info"), 1);
    assert!(matches!(err, ApiError::Route { .. }), "{err:?}");
}
