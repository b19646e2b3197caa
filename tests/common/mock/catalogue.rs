//! The backend's model catalogue as it gates clients (PROTOCOL.md §6): a
//! model is listed only to a `client_version` at least its
//! `minimal_client_version`, and a request naming it from an older client
//! identity is refused; and its `context_window`, past which a request is
//! failed with `context_length_exceeded` (§4), in the stream or, when a test
//! asks, as a 400.

use std::sync::atomic::Ordering;

use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::MockState;
use super::body::Refusal;

/// Text in a request's input that makes the mock answer as if the input
/// exceeded the model's window, whatever its size.
pub const OVERFLOW_MARKER: &str = "[mock: context overflow]";

/// The backend's wording for an input past the window.
pub const OVERFLOW_MESSAGE: &str =
    "Your input exceeds the context window of this model. Please adjust your input and try again.";

/// `x.y.z` as numbers; anything unreadable is the oldest client.
fn release(text: &str) -> [u64; 3] {
    let mut parts = text
        .trim()
        .split(['.', '-', '+'])
        .map(|p| p.parse().unwrap_or(0));
    [0; 3].map(|_| parts.next().unwrap_or(0))
}

fn minimal(model: &Value) -> [u64; 3] {
    model["minimal_client_version"]
        .as_str()
        .map_or([0; 3], release)
}

/// The client release a request presents: its `version` header, else the
/// release in its `User-Agent` (`codex_cli_rs/0.171.0 (…)`).
fn presented(headers: &HeaderMap) -> [u64; 3] {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(version) = header("version") {
        return release(version);
    }
    header("user-agent")
        .and_then(|a| a.split(' ').next())
        .and_then(|a| a.split_once('/'))
        .map_or([0; 3], |(_, v)| release(v))
}

impl MockState {
    /// The model list for `client_version`: the models it is new enough for.
    pub(super) fn models_for(&self, client_version: Option<&str>) -> Value {
        let version = client_version.map_or([0; 3], release);
        let mut body = self.models.lock().unwrap().clone();
        if let Some(models) = body["models"].as_array_mut() {
            models.retain(|m| minimal(m) <= version);
        }
        body
    }

    fn model(&self, slug: &str) -> Option<Value> {
        let models = self.models.lock().unwrap();
        models["models"]
            .as_array()?
            .iter()
            .find(|m| m["slug"] == slug)
            .cloned()
    }

    /// A request naming a model its client identity is too old for.
    pub(super) fn check_client_version(
        &self,
        headers: &HeaderMap,
        body: &Value,
    ) -> Option<Refusal> {
        let slug = body["model"].as_str()?;
        let model = self.model(slug)?;
        (minimal(&model) > presented(headers))
            .then(|| Refusal::bad_request(format!("Model not found {slug}")))
    }

    /// Whether the request's input is past its model's window: about four
    /// bytes of JSON a token, as the backend's tokenizer roughly counts, or
    /// marked with [`OVERFLOW_MARKER`].
    pub(super) fn overflows(&self, body: &Value) -> bool {
        let input = body["input"].to_string();
        if input.contains(OVERFLOW_MARKER) {
            return true;
        }
        let window = body["model"]
            .as_str()
            .and_then(|slug| self.model(slug))
            .and_then(|m| m["context_window"].as_u64());
        let tokens = (input.len() + body["instructions"].to_string().len()) as u64 / 4;
        window.is_some_and(|w| tokens > w)
    }

    /// The events of a response failed for its size, as the backend sends
    /// them in an HTTP 200 stream.
    pub fn overflow_events(&self) -> Vec<Value> {
        self.overflows_answered.fetch_add(1, Ordering::SeqCst);
        let response = |status: &str| {
            json!({"id": "resp_mock_overflow", "object": "response", "status": status,
                   "model": "gpt-5", "output": []})
        };
        let mut failed = response("failed");
        failed["error"] = overflow_error();
        vec![
            json!({"type": "response.created", "response": response("in_progress")}),
            json!({"type": "response.failed", "response": failed}),
        ]
    }

    /// The same refusal as a 400 before the stream, as some answers come.
    pub(super) fn overflow_status(&self) -> (u16, String) {
        self.overflows_answered.fetch_add(1, Ordering::SeqCst);
        let mut error = overflow_error();
        error["type"] = json!("invalid_request_error");
        error["param"] = json!("input");
        (400, json!({"error": error}).to_string())
    }
}

fn overflow_error() -> Value {
    json!({"code": "context_length_exceeded", "message": OVERFLOW_MESSAGE})
}
