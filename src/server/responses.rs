//! `POST /v1/responses`: patch, forward, and either pass the events through
//! or collect them into one Responses object.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::{AppState, Summary, body, forward};
use crate::error::ApiError;
use crate::{patch, relay};

pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let mut summary = Summary::default();
    let mut response = match handle(&state, &headers, body, &mut summary).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    response.extensions_mut().insert(summary);
    response
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    summary: &mut Summary,
) -> Result<Response, ApiError> {
    let config = &state.inner.config;
    let bytes = body::read_limited(headers, body, config.max_body_bytes).await?;
    let request = patch::parse_object(&bytes)?;
    let patched = patch::patch(request, &state.inner.rules)?;
    summary.model = patched
        .body
        .get("model")
        .and_then(|m| m.as_str())
        .map(str::to_owned);
    summary.stream = patched.client_stream;
    for change in &patched.changes {
        tracing::debug!(change = %change, "request patched");
    }
    if config.debug {
        tracing::debug!(body = %forward::redacted(&patched.body), "forwarding request");
    }
    let session = forward::session(headers, &patched.body);
    let upstream_body = Bytes::from(serde_json::to_vec(&patched.body).map_err(|e| {
        ApiError::invalid_request(format!("the request could not be encoded: {e}"))
    })?);
    let opened = forward::open(state, upstream_body, session).await?;
    summary.upstream_id = opened.upstream_id.clone();
    if patched.client_stream {
        let forward::Opened {
            events,
            headers: passed,
            permit,
            ..
        } = opened;
        let mut response = Response::new(Body::from_stream(relay::passthrough(events, permit)));
        let h = response.headers_mut();
        h.extend(passed);
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        // Reverse proxies in front of us must not buffer the stream either.
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        return Ok(response);
    }
    let forward::Opened {
        events,
        headers: passed,
        permit,
        ..
    } = opened;
    let collected = relay::collect(events).await;
    drop(permit);
    let object = collected?;
    let bytes = serde_json::to_vec(&object).map_err(|e| {
        ApiError::bad_gateway(format!("the collected answer could not be encoded: {e}"))
    })?;
    let mut response = (StatusCode::OK, bytes).into_response();
    let h = response.headers_mut();
    h.extend(passed);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
