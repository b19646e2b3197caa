//! A client socket served over the backend's HTTP transport, for a backend
//! that refuses the WebSocket upgrade. Each `response.create` becomes a
//! `POST /responses` and its events go back as text frames. The socket
//! keeps what the backend's own socket would keep for it (the last response
//! and the conversation up to it), so `previous_response_id` resolves as it
//! would there, and a prewarm (`generate: false`) is answered here without
//! spending a turn of the subscription.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value, json};
use tokio::sync::OwnedSemaphorePermit;

use super::frames::{self, Create};
use crate::backend::Upstream;
use crate::backend::events::{EventStream, StreamError};
use crate::error::ApiError;
use crate::sse;

const TURN_STATE: HeaderName = HeaderName::from_static("x-codex-turn-state");

/// Answer headers the backend's socket sends in a `response.metadata` frame.
const METADATA_HEADERS: [&str; 4] = [
    "x-codex-turn-state",
    "openai-model",
    "x-models-etag",
    "x-reasoning-included",
];

/// Numbers the prewarm answers made here.
static PREWARMS: AtomicU64 = AtomicU64::new(1);

/// One client socket's state on the HTTP transport.
#[derive(Debug, Default)]
pub struct HttpLink {
    previous: Option<Previous>,
    turn: Option<Turn>,
}

/// The response a later `previous_response_id` may name, with the whole
/// conversation up to and including its output.
#[derive(Debug)]
struct Previous {
    id: String,
    history: Vec<Value>,
}

#[derive(Debug)]
struct Turn {
    /// Frames ready to go, oldest first.
    pending: VecDeque<String>,
    /// The answer still streaming, with its place among the requests in flight.
    events: Option<(EventStream, OwnedSemaphorePermit)>,
    /// The whole input of this request.
    input: Vec<Value>,
    /// Output items so far, with their `output_index`.
    items: Vec<(u64, Value)>,
}

impl HttpLink {
    /// Starts answering `create`, a patched `response.create`; the
    /// backend's request id when the request went to the backend. The frame
    /// is parsed whole here: its input joins the conversation kept for
    /// `previous_response_id`.
    pub async fn start(
        &mut self,
        upstream: &Upstream,
        client_headers: &HeaderMap,
        create: &Create,
    ) -> Result<Option<String>, ApiError> {
        self.turn = None;
        let body = create.parsed()?;
        // As on the backend, a request replaces what the last one left.
        let previous = self.previous.take();
        let input = full_input(previous, &body)?;
        if body.get("generate") == Some(&Value::Bool(false)) {
            let id = format!("resp_prewarm_{}", PREWARMS.fetch_add(1, Ordering::Relaxed));
            let model = body.get("model").cloned().unwrap_or(Value::Null);
            self.turn = Some(Turn {
                pending: prewarm_answer(&id, &model).into(),
                events: None,
                input: Vec::new(),
                items: Vec::new(),
            });
            self.previous = Some(Previous { id, history: input });
            return Ok(None);
        }
        let mut body = frames::for_http(body);
        body.insert("input".into(), Value::Array(input.clone()));
        let headers = with_turn_state(client_headers, &body);
        let opened = upstream.stream(&headers, &body).await?;
        self.turn = Some(Turn {
            pending: metadata_frame(&opened.headers).into_iter().collect(),
            events: Some((opened.events, opened.permit)),
            input,
            items: Vec::new(),
        });
        Ok(opened.upstream_id)
    }

    /// The next frame of the turn in flight; `None` when it has none left.
    pub async fn next(&mut self) -> Option<Result<String, StreamError>> {
        let turn = self.turn.as_mut()?;
        loop {
            if let Some(frame) = turn.pending.pop_front() {
                return Some(Ok(frame));
            }
            let (events, _) = turn.events.as_mut()?;
            let block = match events.next_block().await {
                Some(Ok(block)) => block,
                Some(Err(e)) => {
                    self.turn = None;
                    return Some(Err(e));
                }
                None => {
                    self.turn = None;
                    return Some(Err(StreamError::ClosedEarly));
                }
            };
            if let Some(previous) = turn.take_block(&block)
                && let Some((events, _permit)) = turn.events.take()
            {
                events.finish();
                self.previous = previous;
            }
        }
    }
}

impl Turn {
    /// Queues the events of `block` and notes their output items. After a
    /// terminal event: `Some`, with what a later request may name.
    fn take_block(&mut self, block: &[u8]) -> Option<Option<Previous>> {
        for event in sse::events(block) {
            let kind = event.kind().map(|k| k.into_owned());
            match kind.as_deref() {
                Some("response.output_item.done") => self.note_item(&event.data),
                Some("response.completed") => {
                    self.pending.push_back(event.data.into_owned());
                    return Some(self.completed());
                }
                Some(kind) if sse::is_terminal(kind) => {
                    self.pending.push_back(event.data.into_owned());
                    return Some(None);
                }
                _ => {}
            }
            self.pending.push_back(event.data.into_owned());
        }
        None
    }

    fn note_item(&mut self, data: &str) {
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            return;
        };
        let index = event.get("output_index").and_then(Value::as_u64);
        if let (Some(index), Some(item)) = (index, event.get("item")) {
            self.items.push((index, item.clone()));
        }
    }

    /// The conversation a `response.completed` leaves: this input and its output.
    fn completed(&mut self) -> Option<Previous> {
        let data = self.pending.back()?;
        let event: Value = serde_json::from_str(data).ok()?;
        let id = event.pointer("/response/id")?.as_str()?.to_owned();
        let mut items = std::mem::take(&mut self.items);
        items.sort_by_key(|(index, _)| *index);
        let mut history = std::mem::take(&mut self.input);
        history.extend(items.into_iter().map(|(_, item)| item));
        Some(Previous { id, history })
    }
}

/// The request's whole input: its own items after the conversation its
/// `previous_response_id` names, which must be this socket's last response.
fn full_input(
    previous: Option<Previous>,
    body: &Map<String, Value>,
) -> Result<Vec<Value>, ApiError> {
    let input = match body.get("input") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    let Some(id) = body.get("previous_response_id").and_then(Value::as_str) else {
        return Ok(input);
    };
    match previous {
        Some(previous) if previous.id == id => {
            let mut history = previous.history;
            history.extend(input);
            Ok(history)
        }
        _ => Err(frames::previous_not_found(id)),
    }
}

/// The client's headers with the turn state its `client_metadata` carries
/// as the header HTTP carries it in (PROTOCOL.md §10).
fn with_turn_state(client: &HeaderMap, body: &Map<String, Value>) -> HeaderMap {
    let mut headers = client.clone();
    let state = body
        .get("client_metadata")
        .and_then(|m| m.get(TURN_STATE.as_str()))
        .and_then(Value::as_str)
        .and_then(|s| HeaderValue::try_from(s).ok());
    if let Some(state) = state {
        headers.insert(TURN_STATE, state);
    }
    headers
}

/// The `response.metadata` frame the backend's socket opens a turn with,
/// from the HTTP answer's headers.
fn metadata_frame(answer: &HeaderMap) -> Option<String> {
    let headers: Map<String, Value> = METADATA_HEADERS
        .iter()
        .filter_map(|name| {
            let value = answer.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), Value::from(value)))
        })
        .collect();
    (!headers.is_empty())
        .then(|| json!({"type": "response.metadata", "headers": headers}).to_string())
}

/// A prewarm's answer, as the backend's socket gives it: created, then
/// completed with no output.
fn prewarm_answer(id: &str, model: &Value) -> Vec<String> {
    let created_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let response = |status: &str| {
        json!({"id": id, "object": "response", "created_at": created_at,
            "status": status, "model": model, "output": []})
    };
    vec![
        json!({"type": "response.created", "response": response("in_progress")}).to_string(),
        json!({"type": "response.completed", "response": response("completed")}).to_string(),
    ]
}

#[cfg(test)]
#[path = "over_http_tests.rs"]
mod tests;
