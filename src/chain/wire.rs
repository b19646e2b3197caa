//! The wire between a conversation's socket and an HTTP answer: the
//! `response.create` frame a request body becomes, the server-sent event a
//! backend frame becomes, what the frames that are not events say (the
//! answer's headers, an error's code), and the body the events flow in.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use http_body::Frame as BodyFrame;
use serde::Deserialize;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::backend::headers;

/// A frame as the server-sent event HTTP carries it. A frame's JSON is on
/// one line as the backend writes it; one that is not is written again on
/// one line, since a line break would end the event's `data`.
pub(super) fn push_event(out: &mut Vec<u8>, kind: &str, text: &str) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    if text.contains(['\n', '\r']) {
        let one_line = serde_json::from_str::<Value>(text).map(|v| v.to_string());
        out.extend_from_slice(one_line.unwrap_or_default().as_bytes());
    } else {
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(b"\n\n");
}

/// The headers HTTP would answer with, as `response.metadata` gives them.
pub(super) fn metadata_headers(text: &str, out: &mut HeaderMap) {
    #[derive(Deserialize)]
    struct Metadata {
        headers: Map<String, Value>,
    }
    let Ok(metadata) = serde_json::from_str::<Metadata>(text) else {
        return;
    };
    for (name, value) in metadata.headers {
        let (Ok(name), Some(value)) = (HeaderName::try_from(name), value.as_str()) else {
            continue;
        };
        if headers::is_passed_back(&name)
            && let Ok(value) = HeaderValue::try_from(value)
        {
            out.insert(name, value);
        }
    }
}

/// The `code` of a wrapped `error` frame.
pub(super) fn error_code(text: &str) -> Option<String> {
    let frame: Value = serde_json::from_str(text).ok()?;
    let error = frame.get("error").unwrap_or(&frame);
    error.get("code")?.as_str().map(str::to_owned)
}

/// A `response.create` frame for a request body, written without copying
/// it: `type` first, then the body's fields, with only the new items as
/// `input` and the previous answer's id when chained, and the turn's own
/// headers in `client_metadata`.
pub(super) struct CreateFrame<'a> {
    pub(super) body: &'a Map<String, Value>,
    pub(super) chained: Option<(&'a str, usize)>,
    /// What an HTTP request carries in headers and a socket's request in
    /// `client_metadata` (PROTOCOL.md §8, §10): the socket's handshake
    /// carried only its first request's.
    pub(super) metadata: Map<String, Value>,
}

/// The per-turn headers the Codex CLI sends in `client_metadata` on a socket.
const TURN_HEADERS: [&str; 2] = ["x-codex-turn-state", "x-codex-turn-metadata"];

/// The client's per-turn headers, as `client_metadata` entries.
pub(super) fn turn_metadata(client: &HeaderMap) -> Map<String, Value> {
    TURN_HEADERS
        .iter()
        .filter_map(|name| {
            let value = client.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), Value::from(value)))
        })
        .collect()
}

impl Serialize for CreateFrame<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", "response.create")?;
        for (key, value) in self.body {
            match (key.as_str(), self.chained) {
                ("type" | "previous_response_id", _) => {}
                ("input", Some((_, start))) => {
                    let items = value.as_array().map_or(&[][..], Vec::as_slice);
                    map.serialize_entry(key, items.get(start..).unwrap_or(&[]))?;
                }
                _ => map.serialize_entry(key, value)?,
            }
        }
        if let Some((previous, _)) = self.chained {
            map.serialize_entry("previous_response_id", previous)?;
        }
        if !self.metadata.is_empty() && !self.body.contains_key("client_metadata") {
            map.serialize_entry("client_metadata", &self.metadata)?;
        }
        map.end()
    }
}

/// The events of an answer as a body: those held back first, then each
/// one the task passes on; it ends when the task does.
pub(super) struct ChannelBody {
    first: Option<Bytes>,
    rx: mpsc::Receiver<Bytes>,
}

impl ChannelBody {
    pub(super) fn new(first: Bytes, rx: mpsc::Receiver<Bytes>) -> Self {
        ChannelBody {
            first: Some(first),
            rx,
        }
    }
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, Infallible>>> {
        if let Some(first) = self.first.take().filter(|b| !b.is_empty()) {
            return Poll::Ready(Some(Ok(BodyFrame::data(first))));
        }
        self.rx
            .poll_recv(cx)
            .map(|block| block.map(|b| Ok(BodyFrame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_chained_frame_carries_only_the_new_items_after_the_previous_answer() {
        let body = json!({"model": "gpt-5", "input": [1, 2, 3], "stream": true});
        let body = body.as_object().unwrap();
        let frame = CreateFrame {
            body,
            chained: Some(("resp_1", 2)),
            metadata: Map::new(),
        };
        let frame: Value = serde_json::to_value(&frame).unwrap();
        assert_eq!(
            frame,
            json!({"type": "response.create", "model": "gpt-5", "input": [3], "stream": true,
                   "previous_response_id": "resp_1"})
        );
        let whole = serde_json::to_value(CreateFrame {
            body,
            chained: None,
            metadata: Map::new(),
        })
        .unwrap();
        assert_eq!(whole["input"], json!([1, 2, 3]));
        assert!(whole.get("previous_response_id").is_none());
    }

    #[test]
    fn the_turns_own_headers_go_in_client_metadata() {
        let mut client = HeaderMap::new();
        client.insert("x-codex-turn-state", HeaderValue::from_static("ts_1"));
        client.insert("session-id", HeaderValue::from_static("s"));
        let metadata = turn_metadata(&client);
        assert_eq!(
            Value::Object(metadata.clone()),
            json!({"x-codex-turn-state": "ts_1"})
        );
        let body = json!({"model": "gpt-5", "input": []});
        let frame = CreateFrame {
            body: body.as_object().unwrap(),
            chained: None,
            metadata,
        };
        let frame = serde_json::to_value(&frame).unwrap();
        assert_eq!(frame["client_metadata"]["x-codex-turn-state"], "ts_1");
    }

    #[test]
    fn frames_become_the_events_http_carries_on_one_line() {
        let mut out = Vec::new();
        push_event(
            &mut out,
            "response.created",
            "{\"type\":\"response.created\"}",
        );
        push_event(&mut out, "x", "{\n\"type\": \"x\"\n}");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "event: response.created\ndata: {\"type\":\"response.created\"}\n\n\
             event: x\ndata: {\"type\":\"x\"}\n\n"
        );
    }

    #[test]
    fn metadata_gives_the_headers_http_would_have_answered_with() {
        let mut out = HeaderMap::new();
        metadata_headers(
            r#"{"type":"response.metadata","headers":{"x-codex-turn-state":"ts_1","openai-model":"gpt-5","set-cookie":"no"}}"#,
            &mut out,
        );
        assert_eq!(out["x-codex-turn-state"], "ts_1");
        assert_eq!(out["openai-model"], "gpt-5");
        assert!(out.get("set-cookie").is_none());
    }

    #[test]
    fn error_codes_are_read_from_wrapped_errors() {
        let text = r#"{"type":"error","status":400,"error":{"type":"invalid_request_error","code":"previous_response_not_found"}}"#;
        assert_eq!(
            error_code(text).as_deref(),
            Some("previous_response_not_found")
        );
    }
}
