//! `POST /v1/chat/completions`: translated to a Responses request, sent
//! through the same turn pipeline as `/v1/responses`, and translated back,
//! streamed as `chat.completion.chunk`s or whole.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::backend::events::StreamError;
use crate::dialect::chat::{self, ChunkStream};
use crate::error::ApiError;
use crate::http::{AppState, Summary, body, event_stream};
use crate::sse;
use crate::turn::answer::{self, Writer};

pub async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    summary: &mut Summary,
) -> Result<Response, ApiError> {
    let pipeline = state.pipeline();
    let request = body::read_json_object(headers, body, pipeline.config.max_body_bytes).await?;
    let mut translated = chat::to_responses(Value::Object(request))?;
    for field in &translated.dropped {
        tracing::debug!(field = %field, "chat field dropped");
    }
    let patched = pipeline.patch(std::mem::take(&mut translated.body))?;
    summary.model = Some(translated.model.clone());
    summary.stream = translated.stream;
    // Chat Completions keep nothing: every request may be chained.
    let opened = pipeline
        .open(headers, &patched.body, &summary.meter, true)
        .await?;
    summary.upstream_id = opened.upstream_id;
    summary.sent = Some(opened.sent);
    if translated.stream {
        let chunks = ChunkStream::new(translated.model, translated.include_usage);
        let body = answer::stream(opened.events, Chunks(chunks), opened.permit);
        return Ok(event_stream(Body::from_stream(body), opened.headers));
    }
    let collected = answer::collect(opened.events).await;
    drop(opened.permit);
    let completion = chat::to_chat_completion(&collected?.to_value(), &translated.model);
    let mut response = (StatusCode::OK, axum::Json(completion)).into_response();
    response.headers_mut().extend(opened.headers);
    Ok(response)
}

/// Upstream events as `chat.completion.chunk`s, ending with `[DONE]`
/// whatever happened (clients that wait for it would hang otherwise).
#[derive(Debug)]
struct Chunks(ChunkStream);

impl Chunks {
    fn wire(&self, chunks: &[Value]) -> Bytes {
        let mut bytes: Vec<u8> = chunks
            .iter()
            .flat_map(|c| chat::sse_data(c).to_vec())
            .collect();
        if self.0.is_finished() {
            bytes.extend_from_slice(chat::DONE);
        }
        Bytes::from(bytes)
    }
}

impl Writer for Chunks {
    async fn block(&mut self, block: Bytes) -> Bytes {
        let chunks: Vec<Value> = sse::events(&block)
            .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
            .flat_map(|event| self.0.on_event(&event))
            .collect();
        self.wire(&chunks)
    }

    fn failed(&mut self, e: &StreamError) -> Bytes {
        let chunks = self.0.on_upstream_error(&e.to_string(), e.code());
        self.wire(&chunks)
    }

    fn finished(&self) -> bool {
        self.0.is_finished()
    }
}
