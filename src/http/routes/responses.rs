//! `POST /v1/responses`: prepare (patch, expand a `previous_response_id`),
//! forward, and either pass the events through or collect them into one
//! Responses object; the answer is kept when the client's `store` says so.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::backend::{Opened, events as relay};
use crate::error::ApiError;
use crate::http::{AppState, Summary, body, event_stream, with_summary};
use crate::metrics::Dialect;
use crate::turn::prepare::{self as conversation, Turn};

pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let arrived = Instant::now();
    let mut summary = Summary::default();
    let result = handle(&state, &headers, body, &mut summary, arrived).await;
    with_summary(result, summary)
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    summary: &mut Summary,
    arrived: Instant,
) -> Result<Response, ApiError> {
    let request = body::read_json_object(headers, body, state.inner.config.max_body_bytes).await?;
    let Turn { patched, finish } = conversation::prepare(state, request).await?;
    summary.model = patched
        .body
        .get("model")
        .and_then(|m| m.as_str())
        .map(str::to_owned);
    summary.stream = patched.client_stream;
    for change in &patched.changes {
        tracing::debug!(change = %change, "request patched");
    }
    let Opened {
        mut events,
        headers: passed,
        permit,
        upstream_id,
    } = state.inner.upstream.stream(headers, &patched.body).await?;
    summary.upstream_id = upstream_id;
    if let Some(tap) = events.tap_mut() {
        tap.time_first_event(Dialect::Responses, arrived);
    }
    if patched.client_stream {
        let body = Body::from_stream(relay::passthrough(events, finish, permit));
        return Ok(event_stream(body, passed));
    }
    let collected = relay::collect(events).await;
    drop(permit);
    let bytes = finish.response(collected?).await;
    let mut response = (StatusCode::OK, bytes).into_response();
    let h = response.headers_mut();
    h.extend(passed);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
