//! The Chat Completions API on top of the Responses API.
//!
//! Clients that only speak `POST /v1/chat/completions` (older SDK code, editor
//! assistants, agent frameworks) get the same backend as Responses clients.
//! Everything here is pure: values in, values out; the HTTP route sends the
//! translated request through the same patch → upstream path as `/v1/responses`.
//!
//! - [`request`]: a Chat Completions request → a Responses request body, with
//!   message content read in `content` and tools and tool calls in `tools`.
//! - [`response`]: a collected Responses object → a `chat.completion`.
//! - [`stream`]: upstream Responses events → `chat.completion.chunk`s.

mod content;
pub mod request;
pub mod response;
pub mod stream;
mod tools;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

pub use request::{Translated, to_responses};
pub use response::to_chat_completion;
pub use stream::{ChunkStream, DONE, sse_data};

/// Joins separate reasoning summary parts, in both the JSON and the streamed answer,
/// so that a client sees the same text either way.
const SUMMARY_SEPARATOR: &str = "\n\n";

/// A completion id for an answer whose upstream response id never arrived.
/// Unique within the process, which is all a client can rely on anyway.
fn generated_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("chatcmpl-{nanos:x}{n:x}")
}

/// The completion id for an upstream response id.
fn completion_id(response_id: Option<&str>) -> String {
    match response_id {
        Some(id) if !id.is_empty() => format!("chatcmpl-{id}"),
        _ => generated_id(),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Chat Completions `usage` from Responses `usage`.
fn chat_usage(usage: &Value) -> Value {
    let count = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let prompt = count(usage.get("input_tokens"));
    let completion = count(usage.get("output_tokens"));
    let total = usage
        .get("total_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(prompt + completion);
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "prompt_tokens_details": {
            "cached_tokens": count(usage.pointer("/input_tokens_details/cached_tokens")),
        },
        "completion_tokens_details": {
            "reasoning_tokens": count(usage.pointer("/output_tokens_details/reasoning_tokens")),
        },
    })
}

/// The `finish_reason` of a finished response: why it stopped early if it did,
/// else whether it is waiting for tool results.
fn finish_reason(response: &Value, has_tool_calls: bool) -> &'static str {
    let incomplete = response.get("status").and_then(Value::as_str) == Some("incomplete");
    let reason = response
        .pointer("/incomplete_details/reason")
        .and_then(Value::as_str);
    match reason {
        Some("max_output_tokens") if incomplete => "length",
        Some("content_filter") => "content_filter",
        _ if has_tool_calls => "tool_calls",
        _ => "stop",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_renamed_and_a_missing_total_is_summed() {
        let got = chat_usage(&json!({
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 4},
            "output_tokens": 7,
            "output_tokens_details": {"reasoning_tokens": 3},
        }));
        assert_eq!(
            got,
            json!({
                "prompt_tokens": 10,
                "completion_tokens": 7,
                "total_tokens": 17,
                "prompt_tokens_details": {"cached_tokens": 4},
                "completion_tokens_details": {"reasoning_tokens": 3},
            })
        );
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(generated_id(), generated_id());
        assert_eq!(completion_id(Some("resp_1")), "chatcmpl-resp_1");
    }
}
