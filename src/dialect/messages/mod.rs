//! Anthropic's Messages API on top of the Responses API.
//!
//! Claude Code and everything built on the Anthropic SDKs speak
//! `POST /v1/messages`; this module lets them use the same backend as
//! Responses clients. Everything here is pure: the HTTP route parses the body,
//! calls [`translate_request`], sends the body through the same patch →
//! upstream path as `/v1/responses`, and answers with [`to_message`] (a
//! collected answer) or a [`StreamTranslator`] (a streamed one).
//!
//! - [`request`]: a Messages request → a Responses request body (with
//!   `content` for the conversation and `tools` for tool definitions).
//! - [`models`]: Anthropic model names → backend models and efforts.
//! - [`response`]: a collected Responses object → an Anthropic `message`.
//! - [`stream`]: upstream Responses events → Anthropic's event stream.
//! - [`signature`]: the thinking-block signature that carries encrypted
//!   reasoning across turns.
//! - [`errors`]: Anthropic's error body and its status table.
//! - [`tokens`]: `count_tokens`, an estimate with the backend's tokenizer.
//! - [`overflow`]: a context overflow in Anthropic's words, with the numbers
//!   Claude Code compacts by.

mod content;
pub mod errors;
pub mod models;
pub mod overflow;
mod read;
pub mod request;
pub mod response;
pub mod signature;
pub mod stream;
pub mod tokens;
mod tools;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

pub use errors::{ErrorType, MessagesError};
pub use models::{Catalogue, Effort, ModelMap, Resolved, Target, resolve};
pub use request::{Translated, translate_request};
pub use response::to_message;
pub use stream::{EventName, SseEvent, StreamTranslator};
pub use tokens::{count_tokens, count_translated};
pub use tools::ToolNames;

/// Joins separate reasoning summary parts into one thinking text, in both the
/// JSON and the streamed answer, so that a client sees the same text either way.
const SUMMARY_SEPARATOR: &str = "\n\n";

/// The name Anthropic gives its web search server tool, in `server_tool_use` blocks.
const WEB_SEARCH: &str = "web_search";

/// The message id for an upstream response id: `resp_abc` → `msg_abc`, or a
/// fresh one when the upstream id never came.
fn message_id(response_id: Option<&str>) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    match response_id {
        Some(id) if !id.is_empty() => format!("msg_{}", id.strip_prefix("resp_").unwrap_or(id)),
        _ => {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("msg_{nanos:x}{n:x}")
        }
    }
}

/// Anthropic `usage` from Responses `usage`. Anthropic counts cached input
/// apart from `input_tokens`, so the cached tokens are taken out of it; the
/// backend reports no cache writes.
fn anthropic_usage(usage: Option<&Value>, web_searches: u64) -> Value {
    let count = |pointer: &str| {
        usage
            .and_then(|u| u.pointer(pointer))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let cached = count("/input_tokens_details/cached_tokens");
    let mut out = json!({
        "input_tokens": count("/input_tokens").saturating_sub(cached),
        "output_tokens": count("/output_tokens"),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    });
    if web_searches > 0 {
        out["server_tool_use"] = json!({ "web_search_requests": web_searches });
    }
    out
}

/// Why a finished response stopped, in Anthropic's words.
fn stop_reason(response: &Value, called_tools: bool, refused: bool) -> &'static str {
    let incomplete = response.get("status").and_then(Value::as_str) == Some("incomplete");
    let reason = response
        .pointer("/incomplete_details/reason")
        .and_then(Value::as_str);
    match reason {
        Some("max_output_tokens") if incomplete => "max_tokens",
        Some("content_filter") => "refusal",
        _ if refused => "refusal",
        _ if called_tools => "tool_use",
        _ => "end_turn",
    }
}

/// The texts of a reasoning item's summary parts, joined.
fn summary_text(item: &Value) -> String {
    let parts = item.get("summary").and_then(Value::as_array);
    let texts: Vec<&str> = parts
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    texts.join(SUMMARY_SEPARATOR)
}

/// A `server_tool_use` block and its `web_search_tool_result` for a finished
/// `web_search_call` item. The backend names the sources it read only when
/// asked to include them; each becomes a result with the URL and no page text
/// (Anthropic's `encrypted_content` has no counterpart, so it is empty).
fn web_search_blocks(item: &Value) -> (Value, Value) {
    let id = match item.get("id").and_then(Value::as_str) {
        Some(id) => format!("srvtoolu_{id}"),
        None => format!("srvtoolu_{}", message_id(None)),
    };
    let action = item.get("action").unwrap_or(&Value::Null);
    let query = ["query", "url", "pattern"]
        .iter()
        .find_map(|k| action.get(k).and_then(Value::as_str))
        .unwrap_or("");
    let results: Vec<Value> = action
        .get("sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("url").and_then(Value::as_str))
        .map(|url| {
            json!({"type": "web_search_result", "url": url, "title": url,
                   "encrypted_content": "", "page_age": null})
        })
        .collect();
    (
        json!({"type": "server_tool_use", "id": id, "name": WEB_SEARCH,
               "input": {"query": query}}),
        json!({"type": "web_search_tool_result", "tool_use_id": id, "content": results}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_takes_cached_tokens_out_of_input_tokens() {
        let usage = json!({"input_tokens": 100, "input_tokens_details": {"cached_tokens": 60},
                           "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 3},
                           "total_tokens": 107});
        assert_eq!(
            anthropic_usage(Some(&usage), 0),
            json!({"input_tokens": 40, "output_tokens": 7,
                   "cache_creation_input_tokens": 0, "cache_read_input_tokens": 60})
        );
        assert_eq!(
            anthropic_usage(None, 2),
            json!({"input_tokens": 0, "output_tokens": 0,
                   "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                   "server_tool_use": {"web_search_requests": 2}})
        );
    }

    #[test]
    fn message_ids_follow_the_response_id_or_are_fresh() {
        assert_eq!(message_id(Some("resp_abc")), "msg_abc");
        assert_eq!(message_id(Some("xyz")), "msg_xyz");
        assert_ne!(message_id(None), message_id(Some("")));
    }

    #[test]
    fn a_web_search_call_becomes_a_server_tool_use_and_its_results() {
        let item = json!({"type": "web_search_call", "id": "ws_1", "status": "completed",
                          "action": {"type": "search", "query": "rust 2024",
                                     "sources": [{"type": "url", "url": "https://a.test/"}]}});
        assert_eq!(
            web_search_blocks(&item),
            (
                json!({"type": "server_tool_use", "id": "srvtoolu_ws_1", "name": "web_search",
                       "input": {"query": "rust 2024"}}),
                json!({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_ws_1",
                       "content": [{"type": "web_search_result", "url": "https://a.test/",
                                    "title": "https://a.test/", "encrypted_content": "",
                                    "page_age": null}]}),
            )
        );
    }
}
