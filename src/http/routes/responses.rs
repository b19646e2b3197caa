//! `POST /v1/responses`: the turn prepared (patch, a `previous_response_id`
//! expanded), opened, and either passed through as it streams or collected
//! into one Responses object; the answer is kept when the client's `store`
//! says so.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::http::{AppState, Summary, body, event_stream, with_summary};
use crate::metrics::Dialect;
use crate::turn::answer::{self, Passthrough};
use crate::turn::prepare::{self, Turn};

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
    let pipeline = state.pipeline();
    let request = body::read_json_object(headers, body, pipeline.config.max_body_bytes).await?;
    let stores = crate::store::continuity::client_stores(&request);
    let Turn { patched, finish } = prepare::prepare(pipeline, request).await?;
    summary.model = patched
        .body
        .get("model")
        .and_then(|m| m.as_str())
        .map(str::to_owned);
    summary.stream = patched.client_stream;
    for change in &patched.changes {
        tracing::debug!(change = %change, "request patched");
    }
    // On the conversation's socket only when no backend keeping of the
    // answer is asked for: `store: false`, or kept by the proxy itself.
    let keepable = !stores || finish.keep.is_some();
    let opened = pipeline
        .open(
            headers,
            &patched.body,
            Dialect::Responses,
            arrived,
            &summary.meter,
            keepable,
        )
        .await?;
    summary.upstream_id = opened.upstream_id;
    summary.sent = Some(opened.sent);
    if patched.client_stream {
        let body = answer::stream(opened.events, Passthrough::new(finish), opened.permit);
        return Ok(event_stream(Body::from_stream(body), opened.headers));
    }
    let collected = answer::collect(opened.events).await;
    drop(opened.permit);
    let bytes = finish.response(collected?).await;
    let mut response = (StatusCode::OK, bytes).into_response();
    let h = response.headers_mut();
    h.extend(opened.headers);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
