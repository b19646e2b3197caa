//! The mock's HTTP endpoints under the Codex base: `/responses` (SSE, with
//! compaction and turn state), the legacy `/responses/compact`, `/models`,
//! and the usage endpoint (PROTOCOL.md §3-§6, §9-§12).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::body::{self, Encoding, Refusal};
use super::events;
use super::sse::{self, Answer};
use super::tokens::check_auth;
use super::{MockState, Route, Seen, detail};

/// The header carrying the sticky routing token of a turn (PROTOCOL.md §10).
pub const TURN_STATE: &str = "x-codex-turn-state";

impl Refusal {
    /// The backend's HTTP answer: `{"detail": message}`.
    pub fn into_http(self) -> Response {
        detail(self.status, &self.message)
    }
}

/// The request body decoded and parsed, or why it could not be.
struct Read {
    parts: axum::http::request::Parts,
    raw: axum::body::Bytes,
    body: Value,
    encoding: Option<Encoding>,
    refusal: Option<Refusal>,
    /// The body's size as it arrived.
    bytes: usize,
}

async fn read(request: Request) -> Read {
    let (parts, raw) = request.into_parts();
    let raw = axum::body::to_bytes(raw, usize::MAX)
        .await
        .unwrap_or_default();
    match body::decode(&parts.headers, &raw) {
        Ok((bytes, encoding)) => Read {
            parts,
            bytes: raw.len(),
            raw,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            encoding,
            refusal: None,
        },
        Err(refusal) => Read {
            parts,
            bytes: raw.len(),
            raw,
            body: Value::Null,
            encoding: None,
            refusal: Some(refusal),
        },
    }
}

fn input_of(body: &Value) -> Vec<Value> {
    body.get("input")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

impl Read {
    fn record(&self, state: &MockState, route: Route) {
        state.seen.lock().unwrap().push(Seen {
            route,
            headers: self.parts.headers.clone(),
            body: self.body.clone(),
            encoding: self.encoding,
            raw: self.raw.clone(),
            history: input_of(&self.body),
            turn_state: self
                .parts
                .headers
                .get(TURN_STATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            bytes: self.bytes,
        });
    }

    /// The first refusal of auth, encoding, body rules and compaction items.
    fn refusal(&self, state: &MockState, rules: fn(&Value) -> Option<Refusal>) -> Option<Response> {
        if let Some(refusal) = check_auth(state, &self.parts.headers) {
            return Some(refusal);
        }
        let refused_encoding = self.encoding.and_then(|encoding| {
            let status = (*state.refuse_encoded.lock().unwrap())?;
            let name = match encoding {
                Encoding::Zstd => "zstd",
                Encoding::Gzip => "gzip",
            };
            Some(Refusal {
                status,
                message: format!("Unsupported Content-Encoding: {name}"),
            })
        });
        self.refusal
            .clone()
            .or(refused_encoding)
            .or_else(|| rules(&self.body))
            .or_else(|| state.check_compactions(&input_of(&self.body)))
            .map(Refusal::into_http)
    }
}

pub(super) async fn responses(State(state): State<Arc<MockState>>, request: Request) -> Response {
    let n = state.responses_calls.fetch_add(1, Ordering::SeqCst) + 1;
    let read = read(request).await;
    read.record(&state, Route::Responses);
    if let Some(refusal) = read.refusal(&state, body::check_responses_body) {
        return refusal;
    }
    if let Some(refusal) = state.check_client_version(&read.parts.headers, &read.body) {
        return refusal.into_http();
    }
    let sent = read
        .parts
        .headers
        .get(TURN_STATE)
        .and_then(|v| v.to_str().ok());
    let turn_state = state.turn_state(sent);
    let model = read.body["model"].as_str().unwrap_or("");
    let mut headers = state.answer_headers(model);
    headers.push((TURN_STATE.to_owned(), turn_state));
    let input = input_of(&read.body);
    let answer = if state.overflows(&read.body) {
        if state.overflow_as_status.load(Ordering::SeqCst) {
            let (status, body) = state.overflow_status();
            Answer::Status {
                status,
                body,
                content_type: "application/json",
                headers: Vec::new(),
            }
        } else {
            Answer::Events {
                events: state.overflow_events(),
                pace: Duration::ZERO,
            }
        }
    } else if body::asks_compaction(&input) {
        let item = state.issue_compaction(input.len());
        Answer::Events {
            events: events::compaction_answer("resp_mock_compaction", &item),
            pace: Duration::ZERO,
        }
    } else {
        state.next_answer().numbered(n)
    };
    sse::play(state.clone(), state.with_rate_limits(answer), headers)
}

/// The legacy compaction endpoint: the user's messages and one compaction
/// item, as JSON.
pub(super) async fn compact(State(state): State<Arc<MockState>>, request: Request) -> Response {
    state.compact_calls.fetch_add(1, Ordering::SeqCst);
    let read = read(request).await;
    read.record(&state, Route::Compact);
    if let Some(refusal) = read.refusal(&state, body::check_compact_body) {
        return refusal;
    }
    let input = input_of(&read.body);
    let mut output: Vec<Value> = input
        .iter()
        .filter(|item| item["type"] == "message" && item["role"] == "user")
        .cloned()
        .collect();
    output.push(state.issue_compaction(input.len()));
    let headers = state.answer_headers(read.body["model"].as_str().unwrap_or(""));
    let mut response = axum::Json(json!({"output": output})).into_response();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::try_from(k),
            header::HeaderValue::try_from(v),
        ) {
            response.headers_mut().insert(k, v);
        }
    }
    response
}

pub(super) async fn models(
    State(state): State<Arc<MockState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    state.models_calls.fetch_add(1, Ordering::SeqCst);
    let client_version = query.as_deref().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("client_version="))
            .map(str::to_owned)
    });
    state
        .models_client_versions
        .lock()
        .unwrap()
        .push(client_version.clone().unwrap_or_default());
    if let Some(refusal) = check_auth(&state, &headers) {
        return refusal;
    }
    // The list differs by client version, and so does its ETag.
    let etag = state.models_etag.lock().unwrap().clone();
    let etag = match &client_version {
        Some(v) => format!("{}-{v}\"", etag.trim_end_matches('"')),
        None => etag,
    };
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let body = state.models_for(client_version.as_deref());
    ([(header::ETAG, etag)], axum::Json(body)).into_response()
}

pub(super) async fn usage(State(state): State<Arc<MockState>>, headers: HeaderMap) -> Response {
    state.usage_calls.fetch_add(1, Ordering::SeqCst);
    if let Some(refusal) = check_auth(&state, &headers) {
        return refusal;
    }
    axum::Json(state.usage.lock().unwrap().clone()).into_response()
}

impl MockState {
    /// The scripted answer for the next request, else the default one, else a
    /// short text.
    fn next_answer(&self) -> Answer {
        if let Some(events) = self.next_any_answer() {
            return Answer::Events {
                events,
                pace: Duration::ZERO,
            };
        }
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .or_else(|| self.default_answer.lock().unwrap().clone())
            .unwrap_or_else(|| Answer::Events {
                events: events::text_answer("Hello from the mock.", 4),
                pace: Duration::ZERO,
            })
    }

    /// `answer` with the configured `codex.rate_limits` event after its first event.
    fn with_rate_limits(&self, answer: Answer) -> Answer {
        let extra = self.rate_limits_event.lock().unwrap().clone();
        match (answer, extra) {
            (Answer::Events { mut events, pace }, Some(extra)) => {
                events.insert(events.len().min(1), extra);
                Answer::Events { events, pace }
            }
            (answer, _) => answer,
        }
    }

    /// The headers of every answer: request id, catalogue and model, and the
    /// rate limits of PROTOCOL.md §11.
    pub(super) fn answer_headers(&self, model: &str) -> Vec<(String, String)> {
        let mut headers = vec![
            ("x-request-id".to_owned(), "upstream-req-1".to_owned()),
            (
                "x-models-etag".to_owned(),
                self.models_etag.lock().unwrap().clone(),
            ),
            ("x-reasoning-included".to_owned(), "true".to_owned()),
        ];
        if !model.is_empty() {
            headers.push(("openai-model".to_owned(), model.to_owned()));
        }
        headers.extend(self.rate_limit_headers.lock().unwrap().iter().cloned());
        headers
    }
}
