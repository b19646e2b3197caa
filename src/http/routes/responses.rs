//! `POST /v1/responses`: the turn prepared (patched as raw bytes, a
//! `previous_response_id` expanded), opened, and either passed through as it streams or collected
//! into one Responses object; the answer is kept when the client's `store`
//! says so.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::http::{AppState, Summary, body, event_stream};
use crate::turn::answer::{self, Passthrough};
use crate::turn::prepare::{self, RawTurn};
use crate::wire::Outgoing;
use crate::wire::raw::RawRequest;
use crate::wire::rules;

pub async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    summary: &mut Summary,
) -> Result<Response, ApiError> {
    let pipeline = state.pipeline();
    let received = body::read_outgoing(headers, body, pipeline.config.max_body_bytes).await?;
    let request = RawRequest::parse(received.json.clone())?;
    let stores = rules::client_stores(&request);
    let RawTurn {
        request,
        patched,
        finish,
        frames,
    } = prepare::prepare_raw(pipeline, request).await?;
    summary.model = request
        .value("model")
        .ok()
        .flatten()
        .and_then(|m| m.as_str().map(str::to_owned));
    summary.stream = patched.client_stream;
    for change in &patched.changes {
        tracing::debug!(change = %change, "request patched");
    }
    // On the conversation's socket only when no backend keeping of the
    // answer is asked for: `store: false`, or kept by the proxy itself.
    let keepable = !stores || finish.keep.is_some();
    let opened = if keepable && pipeline.chain.is_enabled() {
        // Chaining compares the turn's items with the last turn's: parsed.
        // The store compresses the input itself.
        drop(frames);
        let body = crate::patch::parse_object(&request.to_bytes())?;
        pipeline
            .open(headers, &body, &summary.meter, keepable)
            .await?
    } else {
        // Unchanged, the body goes as it came, compressed or not.
        let (json, input) = request.to_bytes_placing("input");
        let outgoing = match request.is_changed() {
            true => Outgoing::json(json),
            false => received,
        }
        .with_input(input, frames);
        pipeline
            .open_raw(headers, &request, outgoing, &summary.meter)
            .await?
    };
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
