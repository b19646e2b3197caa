//! What crosses a client's Responses WebSocket (PROTOCOL.md §8): the
//! client's frames told apart, a `response.create` patched exactly as an
//! HTTP body is (held as its top-level fields' raw bytes, [`crate::wire`],
//! so a frame that needs no change goes on as it came), our own failures
//! shaped as the backend wraps its errors, and what a backend frame means
//! for the turn in flight.

use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, Code, ErrorKind};
use crate::sse;
use crate::wire::raw::{Kind, RawRequest};

/// The frame that asks for a response.
pub const CREATE: &str = "response.create";

/// Frames of older clients (`response.append`, `response.processed`).
const LEGACY: [&str; 2] = ["response.append", "response.processed"];

/// Fields a `response.create` carries that an HTTP body does not.
const SOCKET_ONLY: [&str; 3] = ["type", "generate", "previous_response_id"];

/// The fields of a request the backend's handshake and the turn's meter read.
const HEAD: [&str; 2] = ["prompt_cache_key", "reasoning"];

/// A client's text frame, read.
#[derive(Debug)]
pub enum ClientFrame {
    /// A request, patched for the backend.
    Create(Create),
    /// A frame of an older client: forwarded to the backend's socket, and
    /// otherwise ignored.
    Legacy,
    /// A JSON frame of a kind not known here, forwarded to the backend's
    /// socket untouched (the backend answers what it makes of it); with no
    /// backend socket open, answered here as unsupported.
    Unknown(String),
    /// Answered here with this error and not forwarded.
    Refused(ApiError),
}

/// A `response.create`, patched for the backend: `type`,
/// `previous_response_id`, `generate` and `client_metadata` kept as sent.
#[derive(Debug, Clone)]
pub struct Create {
    /// The frame as it goes to the backend: the client's own bytes when
    /// nothing was changed, else its untouched fields' bytes copied.
    pub text: Bytes,
    /// The model, as resolved.
    pub model: Option<String>,
    /// `prompt_cache_key` and `reasoning`, parsed.
    pub head: Map<String, Value>,
    /// It names a `previous_response_id`: the socket's last answer is continued.
    pub incremental: bool,
}

impl Create {
    /// The whole frame parsed, for what needs more than its head (the
    /// HTTP transport, the debug log).
    pub fn parsed(&self) -> Result<Map<String, Value>, ApiError> {
        crate::patch::parse_object(&self.text)
    }
}

/// Reads a client's text frame, a `response.create` patched by `patch` (the
/// turn pipeline's: model names resolved, the backend's rules applied).
/// Only the top level is scanned, and only the fields the rules name are
/// parsed.
pub fn read(
    text: Bytes,
    patch: impl FnOnce(&mut RawRequest) -> Result<(), ApiError>,
) -> ClientFrame {
    let mut frame = match RawRequest::parse_with(text, refusal) {
        Ok(frame) => frame,
        Err(e) => return ClientFrame::Refused(e),
    };
    let kind = match frame.kind("type") {
        Some(Kind::String) => match frame.value("type") {
            Ok(Some(Value::String(kind))) => kind,
            Ok(_) => return refused(NO_TYPE),
            Err(e) => return ClientFrame::Refused(e),
        },
        _ => return refused(NO_TYPE),
    };
    if kind != CREATE {
        if LEGACY.contains(&kind.as_str()) {
            return ClientFrame::Legacy;
        }
        return ClientFrame::Unknown(kind);
    }
    if let Err(e) = patch(&mut frame) {
        return ClientFrame::Refused(e);
    }
    let model = frame.value("model").ok().flatten();
    ClientFrame::Create(Create {
        text: frame.to_bytes(),
        model: model.as_ref().and_then(Value::as_str).map(str::to_owned),
        head: frame.head(&HEAD),
        incremental: frame.contains("previous_response_id"),
    })
}

const NO_TYPE: &str = "a frame needs a `type`, such as response.create";

/// A frame that is not a JSON object, refused in the words of a parse of
/// the whole frame (only a refused frame pays for it).
fn refusal(text: &[u8]) -> Option<ApiError> {
    match serde_json::from_slice::<Value>(text) {
        Ok(Value::Object(_)) => None,
        Ok(_) => Some(ApiError::invalid_request("a frame must be a JSON object")),
        Err(e) => Some(ApiError::invalid_request(format!(
            "the frame is not valid JSON: {e}"
        ))),
    }
}

fn refused(message: &str) -> ClientFrame {
    ClientFrame::Refused(ApiError::invalid_request(message))
}

/// An error as the backend wraps it on a socket:
/// `{"type":"error","status":N,"error":{"type","code","message"}}`.
pub fn wrapped(e: &ApiError) -> String {
    let mut frame = json!({
        "type": "error",
        "status": e.status.as_u16(),
        "error": {"type": e.kind.as_str(), "code": e.code, "message": e.message},
    });
    if let Some(seconds) = e.retry_after {
        frame["headers"] = json!({"retry-after": seconds.to_string()});
    }
    frame.to_string()
}

/// A second `response.create` while one is answered: one request at a time
/// per socket, as on the backend.
pub fn in_progress() -> ApiError {
    ApiError::own(
        StatusCode::BAD_REQUEST,
        ErrorKind::InvalidRequest,
        Code::ResponseInProgress,
        "A response is already in progress on this connection.",
    )
}

/// The answer to a `previous_response_id` this socket cannot resolve; the
/// client then sends the whole input again.
pub fn previous_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorKind::InvalidRequest,
        Some("previous_response_not_found"),
        format!("Previous response with id '{id}' not found."),
    )
}

/// A kind of frame that only the backend's own socket could answer.
pub fn unsupported(kind: &str) -> ApiError {
    ApiError::invalid_request(format!("Unsupported message type: {kind}"))
}

/// The status a backend frame ends the turn with, if it ends it: 200 for
/// `response.completed`/`failed`/`incomplete` (as a stream over HTTP), the
/// wrapped status for an `error` (a 502 when it cannot be read: the turn
/// ends all the same, rather than waiting for the idle timeout).
pub fn turn_end(text: &str) -> Option<u16> {
    let kind = sse::json_type(text)?;
    if !sse::is_terminal(&kind) {
        return None;
    }
    if kind != "error" {
        return Some(200);
    }
    let frame = serde_json::from_str::<Value>(text).ok();
    let status = frame
        .as_ref()
        .and_then(|f| f.get("status").or_else(|| f.get("status_code")))
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok());
    Some(status.unwrap_or(StatusCode::BAD_GATEWAY.as_u16()))
}

/// The HTTP body of a `response.create`: without the fields only a socket
/// carries (`client_metadata` stays: clients send it over HTTP too).
pub fn for_http(mut body: Map<String, Value>) -> Map<String, Value> {
    for field in SOCKET_ONLY {
        body.shift_remove(field);
    }
    body
}

#[cfg(test)]
#[path = "frames_tests.rs"]
mod tests;
