//! `POST /v1/chat/completions`: translated to a Responses request, sent the
//! same way as `/v1/responses`, and translated back, streamed or whole.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::backend::Opened;
use crate::backend::events::{self as relay, EventStream, StreamError};
use crate::dialect::chat::{self, ChunkStream};
use crate::error::ApiError;
use crate::http::{AppState, Summary, body, event_stream, with_summary};
use crate::metrics::Dialect;
use crate::{patch, sse};

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
    let mut translated = chat::to_responses(Value::Object(request))?;
    for field in &translated.dropped {
        tracing::debug!(field = %field, "chat field dropped");
    }
    state.resolve_model(&mut translated.body);
    let patched = patch::patch(translated.body, &state.inner.rules)?;
    summary.model = Some(translated.model.clone());
    summary.stream = translated.stream;
    let Opened {
        mut events,
        headers: passed,
        permit,
        upstream_id,
    } = state.inner.upstream.stream(headers, &patched.body).await?;
    summary.upstream_id = upstream_id;
    if let Some(tap) = events.tap_mut() {
        tap.time_first_event(Dialect::Chat, arrived);
    }
    if translated.stream {
        let chunks = ChunkStream::new(translated.model, translated.include_usage);
        let body = Body::from_stream(stream_chunks(events, chunks, permit));
        return Ok(event_stream(body, passed));
    }
    let collected = relay::collect(events).await;
    drop(permit);
    let completion = chat::to_chat_completion(&collected?.to_value(), &translated.model);
    let mut response = (StatusCode::OK, axum::Json(completion)).into_response();
    response.headers_mut().extend(passed);
    Ok(response)
}

/// Upstream events as `chat.completion.chunk`s, ending with `[DONE]` whatever
/// happened (clients that wait for it would hang otherwise).
fn stream_chunks(
    events: EventStream,
    chunks: ChunkStream,
    guard: impl Send + 'static,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    futures_util::stream::unfold(Some((events, chunks, guard)), |state| async move {
        let (mut events, mut chunks, guard) = state?;
        loop {
            let out: Vec<Value> = match events.next_block().await {
                Some(Ok(block)) => sse::events(&block)
                    .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
                    .flat_map(|event| chunks.on_event(&event))
                    .collect(),
                Some(Err(e)) => failure(&mut chunks, &e),
                None if chunks.is_finished() => Vec::new(),
                None => failure(&mut chunks, &StreamError::ClosedEarly),
            };
            let mut bytes: Vec<u8> = out
                .iter()
                .flat_map(|c| chat::sse_data(c).to_vec())
                .collect();
            if chunks.is_finished() {
                bytes.extend_from_slice(chat::DONE);
                return Some((Ok(Bytes::from(bytes)), None));
            }
            if !bytes.is_empty() {
                return Some((Ok(Bytes::from(bytes)), Some((events, chunks, guard))));
            }
        }
    })
}

fn failure(chunks: &mut ChunkStream, e: &StreamError) -> Vec<Value> {
    tracing::warn!(error = %e, "upstream stream ended abnormally");
    chunks.on_upstream_failure(&e.to_string())
}
