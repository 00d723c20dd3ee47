//! The simulator's HTTP surface: the common envelope of every RPC route
//! (method, faults, bearer token, scopes, content type, strict argument
//! decoding) and one function per route.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::cursor;
use super::team::{IndexedEvent, Sym, Symbols};
use super::{Fault, FaultBody, Sim};

pub(super) fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/2/{*route}", any(rpc))
        .merge(super::late::routes())
        .merge(super::oauth::routes())
        .with_state(sim)
}

/// Why a call did not get a result.
enum Failure {
    BadRequest(String),
    Auth(Value),
    Route { tag: String, value: Option<Value> },
    Injected(Fault),
    NotFound,
}

/// A successful answer: a `Value`, or JSON text already written (the
/// events listings, which concatenate their stored events).
enum Body {
    Json(Value),
    Raw(Vec<u8>),
}

impl Body {
    fn into_bytes(self) -> Vec<u8> {
        match self {
            Body::Json(value) => serde_json::to_vec(&value).unwrap_or_default(),
            Body::Raw(bytes) => bytes,
        }
    }
}

/// What a route handler answers: its JSON result, or why there is none.
type RouteResult = Result<Body, Failure>;

const ROUTES: [(&str, Option<&str>); 8] = [
    ("team_log/get_events", Some("events.read")),
    ("team_log/get_events/continue", Some("events.read")),
    ("team/devices/list_members_devices", Some("sessions.list")),
    ("team/members/list_v2", Some("members.read")),
    ("team/members/list/continue_v2", Some("members.read")),
    ("team/members/get_info_v2", Some("members.read")),
    ("team/get_info", Some("team_info.read")),
    ("auth/token/revoke", None),
];

fn is_void_route(route: &str) -> bool {
    matches!(route, "team/get_info" | "auth/token/revoke")
}

async fn rpc(
    State(sim): State<Arc<Sim>>,
    Path(route): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (serial, call) = {
        let mut state = sim.state();
        *state.calls.entry(route.clone()).or_default() += 1;
        state.serial += 1;
        state.api_calls += 1;
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        (state.serial, state.api_calls)
    };
    let response = answer(&sim, &route, method, &headers, &body, serial, call).await;
    sim.state().in_flight -= 1;
    response
}

async fn answer(
    sim: &Sim,
    route: &str,
    method: Method,
    headers: &HeaderMap,
    body: &[u8],
    serial: u64,
    call: u64,
) -> Response {
    let schedule = &sim.config.schedule;
    if schedule.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(schedule.latency_ms)).await;
    }
    let every = |n: u64| n > 0 && call.is_multiple_of(n);
    let outcome = if method != Method::POST {
        Err(Failure::BadRequest(format!(
            "HTTP method {method} is not allowed; use POST"
        )))
    } else if every(schedule.rate_limit_every) {
        Err(Failure::Injected(Fault::RateLimited {
            retry_after: Some(schedule.retry_after.max(1)),
            text_body: false,
            write_operations: false,
        }))
    } else if every(schedule.fail_every) {
        let html = (call / schedule.fail_every).is_multiple_of(2);
        Err(Failure::Injected(Fault::ServerError {
            status: if html { 500 } else { 503 },
            body: if html {
                FaultBody::Html
            } else {
                FaultBody::Text
            },
            retry_after: None,
        }))
    } else {
        handle(sim, route, headers, body, serial)
    };
    let mut response = match outcome {
        Ok(body) if every(schedule.drop_every) => dropped_response(body.into_bytes()),
        Ok(body) => bytes_response(StatusCode::OK, body.into_bytes()),
        Err(failure) => failure_response(route, failure),
    };
    if let Ok(v) = format!("{serial:016x}{:08x}", route.len()).parse() {
        response.headers_mut().insert("x-dropbox-request-id", v);
    }
    response
}

/// A 200 whose body stops half-way: the connection is closed mid-response.
fn dropped_response(body: Vec<u8>) -> Response {
    let half = body.len() / 2;
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::copy_from_slice(&body[..half])),
        Err(std::io::Error::other("simulated connection drop")),
    ];
    let mut response = Response::new(axum::body::Body::from_stream(futures_util::stream::iter(
        chunks,
    )));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CONTENT_LENGTH,
        header::HeaderValue::from(body.len()),
    );
    response
}

/// `reset_every`: every n-th continuation of a listing is refused.
fn scheduled_reset(sim: &Sim, route: &str, arg: &Value) -> Option<Failure> {
    let every = sim.config.schedule.reset_every;
    let is_continuation = route == "team_log/get_events/continue"
        || (route == "team/devices/list_members_devices" && arg.get("cursor").is_some());
    if every == 0 || !is_continuation {
        return None;
    }
    let n = {
        let mut state = sim.state();
        state.continuations += 1;
        state.continuations
    };
    if n % every != 0 {
        return None;
    }
    let value = match route {
        "team_log/get_events/continue" => arg
            .get("cursor")
            .and_then(Value::as_str)
            .and_then(|c| cursor::decode::<EventsQuery>("events", c))
            .and_then(|q| reset_timestamp(sim, &q))
            .map(|t| json!(crate::domain::period::format_dropbox_time(t))),
        _ => None,
    };
    Some(Failure::Route {
        tag: "reset".into(),
        value,
    })
}

/// The timestamp a `reset` gives to resume from: the newest event the
/// cursor returned, but never later than an event it had not returned yet,
/// so a client that resumes there (as the contract says) loses nothing even
/// though the log is not in time order.
fn reset_timestamp(sim: &Sim, q: &EventsQuery) -> Option<DateTime<Utc>> {
    let log = sim.log();
    let filter = Filter::new(q, &log.symbols);
    let total = log.index.len();
    let matching = |i: &usize| filter.matches(&log.index[*i]);
    let newest_returned = (0..q.position.min(total))
        .filter(matching)
        .map(|i| log.index[i].timestamp)
        .max();
    let oldest_pending = (q.position.min(total)..total)
        .filter(matching)
        .map(|i| log.index[i].timestamp)
        .min();
    match (newest_returned, oldest_pending) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b).or(q.start),
    }
}

fn handle(sim: &Sim, route: &str, headers: &HeaderMap, body: &[u8], serial: u64) -> RouteResult {
    let Some((_, scope)) = ROUTES.iter().find(|(r, _)| *r == route) else {
        return Err(Failure::NotFound);
    };
    if let Some(fault) = take_fault(sim, route) {
        return Err(Failure::Injected(fault));
    }
    let token = authorize(sim, headers, *scope)?;
    let arg = read_body(route, headers, body)?;
    super::late::scheduled(sim, route);
    if let Some(reset) = scheduled_reset(sim, route, &arg) {
        return Err(reset);
    }
    let value = match route {
        "team_log/get_events" => return get_events(sim, decode(arg)?, serial),
        "team_log/get_events/continue" => return get_events_continue(sim, decode(arg)?, serial),
        "team/devices/list_members_devices" => list_members_devices(sim, decode(arg)?, serial),
        "team/members/list_v2" => members_list(sim, decode(arg)?, serial),
        "team/members/list/continue_v2" => members_list_continue(sim, decode(arg)?, serial),
        "team/members/get_info_v2" => members_get_info(sim, decode(arg)?),
        "team/get_info" => Ok(team_info(sim)),
        "auth/token/revoke" => {
            revoke(sim, &token);
            Ok(Value::Null)
        }
        _ => Err(Failure::NotFound),
    };
    value.map(Body::Json)
}

/// Kills the token, its refresh token, and every token minted from that.
fn revoke(sim: &Sim, token: &str) {
    let mut state = sim.state();
    let family = state.tokens.get(token).and_then(|t| t.family.clone());
    if let Some(info) = state.tokens.get_mut(token) {
        info.revoked = true;
    }
    if let Some(family) = family {
        if let Some(refresh) = state.refresh_tokens.get_mut(&family) {
            refresh.revoked = true;
        }
        for info in state.tokens.values_mut() {
            if info.family.as_deref() == Some(family.as_str()) {
                info.revoked = true;
            }
        }
    }
}

fn take_fault(sim: &Sim, route: &str) -> Option<Fault> {
    let mut state = sim.state();
    let slot = state
        .faults
        .iter_mut()
        .find(|f| f.route == route && f.times > 0)?;
    if slot.skip > 0 {
        slot.skip -= 1;
        return None;
    }
    slot.times -= 1;
    let fault = slot.fault.clone();
    state.faults.retain(|f| f.times > 0);
    Some(fault)
}

fn auth_error(tag: &str, extra: Option<(&str, &str)>) -> Failure {
    let mut error = json!({".tag": tag});
    if let Some((k, v)) = extra {
        error[k] = json!(v);
    }
    Failure::Auth(json!({"error_summary": format!("{tag}/.."), "error": error}))
}

/// Checks the bearer token and the route's scope; returns the token.
fn authorize(sim: &Sim, headers: &HeaderMap, scope: Option<&str>) -> Result<String, Failure> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Failure::BadRequest(
            "Must provide HTTP header \"Authorization\" or URL parameter \"authorization\".".into(),
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.contains(' '))
        .ok_or_else(|| {
            Failure::BadRequest(
                "Invalid authorization value in HTTP header \"Authorization\". Expecting \"Bearer <oauth2-access-token>\"."
                    .into(),
            )
        })?;
    let max_calls = sim.config.token_max_calls;
    let mut state = sim.state();
    let info = match state.tokens.get_mut(token) {
        Some(info) if !info.revoked => info,
        _ => return Err(auth_error("invalid_access_token", None)),
    };
    info.calls += 1;
    if Instant::now() >= info.expires_at || max_calls.is_some_and(|max| info.calls > max) {
        state.expired_tokens.insert(token.to_string());
        return Err(auth_error("expired_access_token", None));
    }
    if let Some(scope) = scope {
        if !info.scopes.iter().any(|s| s == scope) {
            return Err(auth_error("missing_scope", Some(("required_scope", scope))));
        }
    }
    Ok(token.to_string())
}

/// Returns the JSON argument (`Value::Null` for a void route called without
/// a body). Mirrors Dropbox: a JSON content type is required with a body, and
/// an empty body with a JSON content type is a decode error.
fn read_body(route: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, Failure> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    match content_type.as_deref() {
        None if body.is_empty() && is_void_route(route) => return Ok(Value::Null),
        None => {
            return Err(Failure::BadRequest(
                "Bad HTTP \"Content-Type\" header: missing. Expecting one of \"application/json\", \"application/json; charset=utf-8\"."
                    .into(),
            ))
        }
        Some("application/json" | "application/json; charset=utf-8") => {}
        Some(other) => {
            return Err(Failure::BadRequest(format!(
                "Bad HTTP \"Content-Type\" header: \"{other}\". Expecting one of \"application/json\", \"application/json; charset=utf-8\"."
            )))
        }
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Failure::BadRequest(format!("could not decode input as JSON: {e}")))?;
    if is_void_route(route) && !value.is_null() {
        return Err(Failure::BadRequest("expected null, got a value".into()));
    }
    Ok(value)
}

fn decode<T: DeserializeOwned>(arg: Value) -> Result<T, Failure> {
    serde_json::from_value(arg).map_err(|e| Failure::BadRequest(format!("request body: {e}")))
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    bytes_response(status, serde_json::to_vec(value).unwrap_or_default())
}

fn bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn text_response(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

fn failure_response(route: &str, failure: Failure) -> Response {
    match failure {
        Failure::BadRequest(msg) => text_response(
            StatusCode::BAD_REQUEST,
            format!("Error in call to API function \"{route}\": {msg}"),
        ),
        Failure::NotFound => text_response(
            StatusCode::NOT_FOUND,
            format!("Unknown API function: \"{route}\""),
        ),
        Failure::Auth(body) => json_response(StatusCode::UNAUTHORIZED, &body),
        Failure::Route { tag, value } => {
            let mut error = json!({".tag": tag});
            if let Some(v) = value {
                error[&tag] = v;
            }
            json_response(
                StatusCode::CONFLICT,
                &json!({"error_summary": format!("{tag}/..."), "error": error}),
            )
        }
        Failure::Injected(fault) => fault_response(route, fault),
    }
}

fn fault_response(route: &str, fault: Fault) -> Response {
    match fault {
        Fault::RateLimited {
            retry_after,
            text_body,
            write_operations,
        } => {
            let mut response = if text_body {
                text_response(StatusCode::TOO_MANY_REQUESTS, "too_many_requests".into())
            } else {
                let reason = if write_operations {
                    "too_many_write_operations"
                } else {
                    "too_many_requests"
                };
                let mut error = json!({"reason": {".tag": reason}});
                if let (Some(s), false) = (retry_after, write_operations) {
                    error["retry_after"] = json!(s);
                }
                json_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    &json!({"error_summary": format!("{reason}/.."), "error": error}),
                )
            };
            if let Some(s) = retry_after {
                if let Ok(v) = s.to_string().parse() {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            response
        }
        Fault::ServerError {
            status,
            body,
            retry_after,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = match body {
                FaultBody::Html => (
                    status,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<!DOCTYPE html>\n<html><head><title>Dropbox - 5xx</title></head><body><h1>Error</h1><p>Something went wrong.</p></body></html>",
                )
                    .into_response(),
                FaultBody::Text => text_response(status, format!("Internal server error in {route}")),
                FaultBody::Empty => status.into_response(),
            };
            if let Some(s) = retry_after {
                if let Ok(v) = s.to_string().parse() {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            response
        }
        Fault::ExpiredToken => failure_response(route, auth_error("expired_access_token", None)),
        Fault::RouteError { tag, value } => failure_response(route, Failure::Route { tag, value }),
    }
}

/// A void union member in a request: `"devices"` or `{".tag": "devices"}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum VoidTag {
    Bare(String),
    Object(TagObject),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagObject {
    #[serde(rename = ".tag")]
    tag: String,
}

impl VoidTag {
    fn into_tag(self) -> String {
        match self {
            VoidTag::Bare(t) | VoidTag::Object(TagObject { tag: t }) => t,
        }
    }
}

const CATEGORIES: [&str; 26] = [
    "admin_alerting",
    "apps",
    "comments",
    "dash",
    "data_governance",
    "devices",
    "domains",
    "encryption",
    "file_operations",
    "file_requests",
    "groups",
    "logins",
    "members",
    "paper",
    "passwords",
    "protect",
    "reports",
    "sharing",
    "showcase",
    "signatures",
    "sso",
    "team_folders",
    "team_policies",
    "team_profile",
    "tfa",
    "trusted_teams",
];

fn default_limit() -> u64 {
    1000
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetEventsArg {
    #[serde(default = "default_limit")]
    limit: u64,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    time: Option<TimeArg>,
    #[serde(default)]
    category: Option<VoidTag>,
    #[serde(default)]
    event_type: Option<VoidTag>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeArg {
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    end_time: Option<String>,
}

/// The filters and position of an events listing, carried in its cursor.
#[derive(Serialize, Deserialize, Clone)]
struct EventsQuery {
    limit: usize,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    category: Option<String>,
    event_type: Option<String>,
    account_id: Option<String>,
    position: usize,
    page: u64,
}

fn strict_timestamp(s: &str) -> Result<DateTime<Utc>, Failure> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ")
        .map(|t| t.and_utc())
        .map_err(|_| {
            Failure::BadRequest(format!(
                "request body: time: '{s}' is not a timestamp of the form %Y-%m-%dT%H:%M:%SZ"
            ))
        })
}

fn route_error(tag: &str, value: Option<Value>) -> Failure {
    Failure::Route {
        tag: tag.to_string(),
        value,
    }
}

fn get_events(sim: &Sim, arg: GetEventsArg, serial: u64) -> RouteResult {
    if !(1..=1000).contains(&arg.limit) {
        return Err(Failure::BadRequest(format!(
            "request body: limit: {} is not within range 1..1000",
            arg.limit
        )));
    }
    let category = arg.category.map(VoidTag::into_tag);
    if let Some(c) = &category {
        if !CATEGORIES.contains(&c.as_str()) {
            return Err(Failure::BadRequest(format!(
                "request body: category: unknown tag '{c}'"
            )));
        }
    }
    let event_type = arg.event_type.map(VoidTag::into_tag);
    if let Some(t) = &event_type {
        if t.is_empty()
            || !t
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
        {
            return Err(Failure::BadRequest(format!(
                "request body: event_type: unknown tag '{t}'"
            )));
        }
    }
    if let Some(account) = &arg.account_id {
        if account.chars().count() != 40 {
            return Err(Failure::BadRequest(format!(
                "request body: account_id: '{account}' must be exactly 40 characters"
            )));
        }
    }
    let (start, end) = match &arg.time {
        Some(t) => (
            t.start_time.as_deref().map(strict_timestamp).transpose()?,
            t.end_time.as_deref().map(strict_timestamp).transpose()?,
        ),
        None => (None, None),
    };
    if category.is_some() && event_type.is_some() {
        return Err(route_error("invalid_filters", None));
    }
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(route_error("invalid_time_range", None));
        }
    }
    if let Some(account) = &arg.account_id {
        if !sim.index.known_accounts.contains(account) {
            return Err(route_error("account_id_not_found", None));
        }
    }
    let query = EventsQuery {
        limit: arg.limit as usize,
        start,
        end,
        category,
        event_type,
        account_id: arg.account_id,
        position: 0,
        page: 0,
    };
    Ok(events_page(sim, query, serial))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorArg {
    cursor: String,
}

fn get_events_continue(sim: &Sim, arg: CursorArg, serial: u64) -> RouteResult {
    let query: EventsQuery =
        cursor::decode("events", &arg.cursor).ok_or_else(|| route_error("bad_cursor", None))?;
    Ok(events_page(sim, query, serial))
}

/// A query's filters with its names resolved to the log's interned ones
/// (`Some(None)`: a name no event has, so nothing matches).
struct Filter {
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    category: Option<Option<Sym>>,
    event_type: Option<Option<Sym>>,
    account: Option<Option<Sym>>,
}

impl Filter {
    fn new(q: &EventsQuery, symbols: &Symbols) -> Self {
        let resolve = |name: &Option<String>| name.as_deref().map(|n| symbols.get(n));
        Self {
            start: q.start,
            end: q.end,
            category: resolve(&q.category),
            event_type: resolve(&q.event_type),
            account: resolve(&q.account_id),
        }
    }

    fn matches(&self, e: &IndexedEvent) -> bool {
        self.start.is_none_or(|s| e.timestamp >= s)
            && self.end.is_none_or(|end| e.timestamp < end)
            && self.category.is_none_or(|c| c == Some(e.category))
            && self.event_type.is_none_or(|t| t == Some(e.event_type))
            && self
                .account
                .is_none_or(|a| a.is_some_and(|a| e.accounts.contains(&a)))
    }
}

/// One page in log order. The page size is the server's choice: never more
/// than `limit` or `events_page_max`, every other page about half that, and
/// every `empty_page_every`-th page empty while more remain.
fn events_page(sim: &Sim, mut q: EventsQuery, serial: u64) -> Body {
    let cfg = &sim.config;
    let mut size = q.limit.min(cfg.events_page_max).max(1);
    if q.page % 2 == 1 {
        size = size / 2 + 1;
    }
    if cfg.empty_page_every > 0 && q.page % cfg.empty_page_every == cfg.empty_page_every - 1 {
        size = 0;
    }
    let log = sim.log();
    let filter = Filter::new(&q, &log.symbols);
    let total = log.index.len();
    let mut picked = Vec::with_capacity(size.min(total.saturating_sub(q.position)));
    let mut i = q.position;
    while i < total && picked.len() < size {
        if filter.matches(&log.index[i]) {
            picked.push(i);
        }
        i += 1;
    }
    if cfg.schedule.disorder {
        // Newest first; a stable sort keeps same-second events in log order.
        picked.sort_by(|a, b| log.index[*b].timestamp.cmp(&log.index[*a].timestamp));
    }
    q.position = i;
    let has_more = log.index[i..].iter().any(|e| filter.matches(e));
    q.page += 1;
    let cursor = cursor::encode("events", serial, &q);
    Body::Raw(page_json(&log.raw, &picked, &cursor, has_more))
}

/// `{"events":[...],"cursor":"...","has_more":...}`, the bytes that
/// serializing the page as a `Value` gives, with the events' stored text.
fn page_json(raw: &[Box<RawValue>], picked: &[usize], cursor: &str, has_more: bool) -> Vec<u8> {
    let events: usize = picked.iter().map(|&k| raw[k].get().len() + 1).sum();
    let mut body = Vec::with_capacity(events + cursor.len() + 48);
    body.extend_from_slice(b"{\"events\":[");
    for (n, &k) in picked.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(raw[k].get().as_bytes());
    }
    body.extend_from_slice(b"],\"cursor\":");
    // A cursor is base64, but escape it as the serializer would anyway.
    if serde_json::to_writer(&mut body, cursor).is_err() {
        body.extend_from_slice(b"\"\"");
    }
    body.extend_from_slice(if has_more {
        b",\"has_more\":true}"
    } else {
        b",\"has_more\":false}"
    });
    body
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListDevicesArg {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default = "default_true")]
    include_web_sessions: bool,
    #[serde(default = "default_true")]
    include_desktop_clients: bool,
    #[serde(default = "default_true")]
    include_mobile_clients: bool,
}

fn list_members_devices(sim: &Sim, arg: ListDevicesArg, serial: u64) -> Result<Value, Failure> {
    let mut position: usize = match &arg.cursor {
        Some(c) => cursor::decode("devices", c).ok_or_else(|| route_error("reset", None))?,
        None => 0,
    };
    let kinds = [
        ("web_sessions", arg.include_web_sessions),
        ("desktop_clients", arg.include_desktop_clients),
        ("mobile_clients", arg.include_mobile_clients),
    ];
    let mut page = Vec::new();
    let all = &sim.team.devices;
    while position < all.len() && page.len() < sim.config.devices_page_members {
        let member = &all[position];
        position += 1;
        let mut entry = json!({"team_member_id": member["team_member_id"]});
        let mut any = false;
        for (key, included) in kinds {
            if included {
                let list = member.get(key).cloned().unwrap_or(json!([]));
                any |= list.as_array().is_some_and(|l| !l.is_empty());
                entry[key] = list;
            }
        }
        if any {
            page.push(entry);
        }
    }
    let has_more = position < all.len();
    let mut result = json!({"devices": page, "has_more": has_more});
    if has_more {
        result["cursor"] = json!(cursor::encode("devices", serial, &position));
    }
    Ok(result)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MembersListArg {
    #[serde(default = "default_limit")]
    limit: u64,
    #[serde(default)]
    include_removed: bool,
}

#[derive(Serialize, Deserialize)]
struct MembersQuery {
    limit: usize,
    include_removed: bool,
    position: usize,
}

fn members_list(sim: &Sim, arg: MembersListArg, serial: u64) -> Result<Value, Failure> {
    if !(1..=1000).contains(&arg.limit) {
        return Err(Failure::BadRequest(format!(
            "request body: limit: {} is not within range 1..1000",
            arg.limit
        )));
    }
    let q = MembersQuery {
        limit: arg.limit as usize,
        include_removed: arg.include_removed,
        position: 0,
    };
    Ok(members_page(sim, q, serial))
}

fn members_list_continue(sim: &Sim, arg: CursorArg, serial: u64) -> Result<Value, Failure> {
    let q: MembersQuery = cursor::decode("members", &arg.cursor)
        .ok_or_else(|| route_error("invalid_cursor", None))?;
    Ok(members_page(sim, q, serial))
}

fn is_removed(member: &Value) -> bool {
    member["profile"]["status"][".tag"] == "removed"
}

fn members_page(sim: &Sim, mut q: MembersQuery, serial: u64) -> Value {
    let all = &sim.team.members;
    let mut members = Vec::new();
    while q.position < all.len() && members.len() < q.limit {
        let m = &all[q.position];
        q.position += 1;
        if q.include_removed || !is_removed(m) {
            members.push(m.clone());
        }
    }
    let has_more = all[q.position..]
        .iter()
        .any(|m| q.include_removed || !is_removed(m));
    json!({"members": members, "cursor": cursor::encode("members", serial, &q), "has_more": has_more})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetInfoArg {
    members: Vec<UserSelector>,
}

/// A closed union: any other tag is a 400.
#[derive(Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case", deny_unknown_fields)]
enum UserSelector {
    TeamMemberId { team_member_id: String },
    ExternalId { external_id: String },
    Email { email: String },
}

fn members_get_info(sim: &Sim, arg: GetInfoArg) -> Result<Value, Failure> {
    let idx = &sim.index;
    let items = arg
        .members
        .into_iter()
        .map(|selector| {
            let (found, key) = match selector {
                UserSelector::TeamMemberId { team_member_id: k } => (idx.member_by_id.get(&k), k),
                UserSelector::ExternalId { external_id: k } => {
                    (idx.member_by_external_id.get(&k), k)
                }
                UserSelector::Email { email: k } => (idx.member_by_email.get(&k.to_lowercase()), k),
            };
            match found {
                Some(&i) => {
                    // `.tag` first, as Dropbox sends it: the official SDKs'
                    // union decoders read it as the first key.
                    let mut item = serde_json::Map::new();
                    item.insert(".tag".into(), json!("member_info"));
                    if let Value::Object(fields) = &sim.team.members[i] {
                        item.extend(fields.clone());
                    }
                    Value::Object(item)
                }
                None => json!({".tag": "id_not_found", "id_not_found": key}),
            }
        })
        .collect::<Vec<_>>();
    Ok(json!({"members_info": items}))
}

fn team_info(sim: &Sim) -> Value {
    let provisioned = sim
        .team
        .members
        .iter()
        .filter(|m| {
            matches!(
                m["profile"]["status"][".tag"].as_str(),
                Some("active" | "invited")
            )
        })
        .count();
    let active = sim
        .team
        .members
        .iter()
        .filter(|m| m["profile"]["status"][".tag"] == "active")
        .count();
    json!({
        "name": sim.team.name,
        "team_id": sim.team.team_id,
        "num_licensed_users": sim.team.num_licensed_users.unwrap_or(provisioned as u32 + 5),
        "num_provisioned_users": provisioned,
        "num_used_licenses": active,
        "policies": {
            "sharing": {
                "shared_folder_member_policy": {".tag": "team"},
                "shared_folder_join_policy": {".tag": "from_anyone"},
                "shared_link_create_policy": {".tag": "team_only"},
                "group_creation_policy": {".tag": "admins_only"},
                "shared_folder_link_restriction_policy": {".tag": "anyone"},
                "enforce_link_password_policy": {".tag": "optional"},
                "default_link_expiration_days_policy": {".tag": "none"},
                "shared_link_default_permissions_policy": {".tag": "default"}
            },
            "emm_state": {".tag": "disabled"},
            "office_addin": {".tag": "disabled"},
            "suggest_members_policy": {".tag": "enabled"},
            "top_level_content_policy": {".tag": "admin_only"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_of_stored_text_is_the_bytes_of_the_page_as_a_value() {
        let events = [
            json!({"timestamp": "2026-06-01T00:00:00Z", "z": 1, "a": {"b": [1.5, null]}}),
            json!({"host_name": "Mary's \"Work\" PC\n\u{1b}[31m 日本語 💻", "n": -3}),
            json!({}),
        ];
        let raw: Vec<Box<RawValue>> = events
            .iter()
            .map(|e| serde_json::value::to_raw_value(e).unwrap())
            .collect();
        for (picked, has_more) in [(vec![], false), (vec![2, 0, 1], true), (vec![1], false)] {
            let page: Vec<&Value> = picked.iter().map(|&k| &events[k]).collect();
            let expected = json!({"events": page, "cursor": "AAFxyz", "has_more": has_more});
            assert_eq!(
                page_json(&raw, &picked, "AAFxyz", has_more),
                serde_json::to_vec(&expected).unwrap()
            );
        }
    }
}
