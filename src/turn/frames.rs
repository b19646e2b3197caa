//! What crosses a client's Responses WebSocket, as values (PROTOCOL.md §8):
//! the client's frames told apart, a `response.create` patched exactly as
//! an HTTP body is, our own failures shaped as the backend wraps its errors,
//! and what a backend frame means for the turn in flight.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, Code, ErrorKind};
use crate::patch::Patched;
use crate::sse;

/// The frame that asks for a response.
pub const CREATE: &str = "response.create";

/// Frames of older clients (`response.append`, `response.processed`).
const LEGACY: [&str; 2] = ["response.append", "response.processed"];

/// Fields a `response.create` carries that an HTTP body does not.
const SOCKET_ONLY: [&str; 3] = ["type", "generate", "previous_response_id"];

/// A client's text frame, read.
#[derive(Debug)]
pub enum ClientFrame {
    /// A request, patched for the backend; `type`, `previous_response_id`,
    /// `generate` and `client_metadata` kept as sent.
    Create(Map<String, Value>),
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

/// Reads a client's text frame, a `response.create` patched by `patch` (the
/// turn pipeline's: model names resolved, the backend's rules applied).
pub fn read(
    text: &str,
    patch: impl FnOnce(Map<String, Value>) -> Result<Patched, ApiError>,
) -> ClientFrame {
    let frame = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(frame)) => frame,
        Ok(_) => return refused("a frame must be a JSON object"),
        Err(e) => return refused(&format!("the frame is not valid JSON: {e}")),
    };
    let kind = match frame.get("type").and_then(Value::as_str) {
        Some(kind) => kind.to_owned(),
        None => return refused("a frame needs a `type`, such as response.create"),
    };
    if kind != CREATE {
        if LEGACY.contains(&kind.as_str()) {
            return ClientFrame::Legacy;
        }
        return ClientFrame::Unknown(kind);
    }
    match patch(frame) {
        Ok(patched) => ClientFrame::Create(patched.body),
        Err(e) => ClientFrame::Refused(e),
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
