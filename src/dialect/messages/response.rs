//! A collected Responses object rewritten as an Anthropic `message`.

use serde_json::{Value, json};

use super::tools::ToolNames;
use super::{anthropic_usage, message_id, signature, stop_reason, summary_text, web_search_blocks};

/// Rewrites a finished Responses object (`response.completed` or
/// `response.incomplete`, with its `output` rebuilt by the collector) as an
/// Anthropic message. `model` is the name the client asked for; `names` the
/// request's renamed tools ([`super::Translated::tool_names`]).
pub fn to_message(response: &Value, model: &str, names: &ToolNames) -> Value {
    let mut content = Vec::new();
    let mut called_tools = false;
    let mut refused = false;
    let mut web_searches = 0;
    let items = response.get("output").and_then(Value::as_array);
    for item in items.into_iter().flatten() {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                let parts = item.get("content").and_then(Value::as_array);
                for part in parts.into_iter().flatten() {
                    let (text, refusal) = message_part(part);
                    refused |= refusal;
                    if let Some(text) = text {
                        content.push(json!({"type": "text", "text": text}));
                    }
                }
            }
            Some("function_call") => {
                called_tools = true;
                content.push(tool_use(item, names));
            }
            Some("reasoning") => content.extend(thinking_block(item)),
            Some("web_search_call") => {
                web_searches += 1;
                let (call, results) = web_search_blocks(item);
                content.extend([call, results]);
            }
            _ => {}
        }
    }
    json!({
        "id": message_id(response.get("id").and_then(Value::as_str)),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(response, called_tools, refused),
        "stop_sequence": null,
        "usage": anthropic_usage(response.get("usage"), web_searches),
    })
}

/// The text of a message part, and whether it is a refusal.
pub(super) fn message_part(part: &Value) -> (Option<&str>, bool) {
    match part.get("type").and_then(Value::as_str) {
        Some("output_text") => (part.get("text").and_then(Value::as_str), false),
        Some("refusal") => (part.get("refusal").and_then(Value::as_str), true),
        _ => (None, false),
    }
}

/// A `tool_use` block. Anthropic's `input` is an object, so arguments that
/// are not a JSON object (cut short by the output limit) become `{}`.
fn tool_use(item: &Value, names: &ToolNames) -> Value {
    let arguments = item.get("arguments").and_then(Value::as_str).unwrap_or("");
    let input = match serde_json::from_str::<Value>(arguments) {
        Ok(input @ Value::Object(_)) => input,
        _ => json!({}),
    };
    let mut block = tool_start(item, names);
    block["input"] = input;
    block
}

/// A `tool_use` block for a function call, with empty input.
pub(super) fn tool_start(item: &Value, names: &ToolNames) -> Value {
    let name = item.get("name").and_then(Value::as_str).unwrap_or("");
    json!({
        "type": "tool_use",
        "id": item.get("call_id").cloned().unwrap_or(Value::Null),
        "name": names.client_name(name),
        "input": {},
    })
}

/// A thinking block for a reasoning item, unless it has neither summary text
/// nor encrypted content (the client did not ask for thinking).
pub(super) fn thinking_block(item: &Value) -> Option<Value> {
    let text = summary_text(item);
    let signature = item_signature(item);
    if text.is_empty() && signature.is_empty() {
        return None;
    }
    Some(json!({"type": "thinking", "thinking": text, "signature": signature}))
}

/// The signature for a reasoning item: empty without encrypted content.
pub(super) fn item_signature(item: &Value) -> String {
    match item.get("encrypted_content").and_then(Value::as_str) {
        Some(encrypted) if !encrypted.is_empty() => {
            let id = item.get("id").and_then(Value::as_str).unwrap_or("");
            signature::encode(id, encrypted)
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage() -> Value {
        json!({"input_tokens": 20, "input_tokens_details": {"cached_tokens": 8},
               "output_tokens": 12, "output_tokens_details": {"reasoning_tokens": 5},
               "total_tokens": 32})
    }

    fn anthropic_usage_of_usage() -> Value {
        json!({"input_tokens": 12, "output_tokens": 12,
               "cache_creation_input_tokens": 0, "cache_read_input_tokens": 8})
    }

    #[test]
    fn a_text_answer_becomes_a_message_with_text_blocks_and_usage() {
        let response = json!({
            "id": "resp_1", "status": "completed",
            "output": [{"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "Hello, ", "annotations": []},
                {"type": "output_text", "text": "world.", "annotations": []},
            ]}],
            "usage": usage(),
        });
        assert_eq!(
            to_message(&response, "claude-opus-5-5", &ToolNames::default()),
            json!({
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-opus-5-5",
                "content": [
                    {"type": "text", "text": "Hello, "},
                    {"type": "text", "text": "world."},
                ],
                "stop_reason": "end_turn",
                "stop_sequence": null,
                "usage": anthropic_usage_of_usage(),
            })
        );
    }

    #[test]
    fn reasoning_and_parallel_calls_become_thinking_and_tool_use_blocks() {
        let response = json!({
            "id": "resp_2", "status": "completed",
            "output": [
                {"type": "reasoning", "id": "rs_1", "summary": [
                    {"type": "summary_text", "text": "Two cities."},
                    {"type": "summary_text", "text": "Ask both."},
                ], "encrypted_content": "gAAA"},
                {"type": "message", "role": "assistant", "content": [
                    {"type": "output_text", "text": "Checking."}]},
                {"type": "function_call", "call_id": "call_a", "name": "weather",
                 "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
                {"type": "function_call", "call_id": "call_b", "name": "weather",
                 "arguments": "{\"city\":", "status": "completed"},
                {"type": "reasoning", "id": "rs_2", "summary": []},
            ],
            "usage": usage(),
        });
        assert_eq!(
            to_message(&response, "m", &ToolNames::default()),
            json!({
                "id": "msg_2",
                "type": "message",
                "role": "assistant",
                "model": "m",
                "content": [
                    {"type": "thinking", "thinking": "Two cities.\n\nAsk both.",
                     "signature": signature::encode("rs_1", "gAAA")},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "call_a", "name": "weather",
                     "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_b", "name": "weather", "input": {}},
                ],
                "stop_reason": "tool_use",
                "stop_sequence": null,
                "usage": anthropic_usage_of_usage(),
            })
        );
    }

    #[test]
    fn a_renamed_tool_is_answered_with_the_clients_name() {
        let long = "mcp__".to_string() + &"x".repeat(70);
        let request = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                             "tools": [{"name": long, "input_schema": {"type": "object"}}]});
        let translated = crate::dialect::messages::translate_request(
            request,
            &Default::default(),
            &Default::default(),
        )
        .unwrap();
        let short = translated.body["tools"][0]["name"].clone();
        let response = json!({"id": "resp_6", "status": "completed", "output": [
            {"type": "function_call", "call_id": "c1", "name": short, "arguments": "{}"}]});
        let got = to_message(&response, "m", &translated.tool_names);
        assert_eq!(
            got["content"],
            json!([{"type": "tool_use", "id": "c1", "name": long, "input": {}}])
        );
    }

    #[test]
    fn an_answer_cut_by_the_output_limit_stops_with_max_tokens() {
        let response = json!({
            "id": "resp_3", "status": "incomplete",
            "incomplete_details": {"reason": "max_output_tokens"},
            "output": [{"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "Once upon"}]}],
        });
        assert_eq!(
            to_message(&response, "m", &ToolNames::default()),
            json!({
                "id": "msg_3", "type": "message", "role": "assistant", "model": "m",
                "content": [{"type": "text", "text": "Once upon"}],
                "stop_reason": "max_tokens",
                "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
            })
        );
    }

    #[test]
    fn a_refusal_part_is_text_and_stops_with_refusal() {
        let response = json!({
            "id": "resp_4", "status": "completed",
            "output": [{"type": "message", "role": "assistant", "content": [
                {"type": "refusal", "refusal": "I can't help with that."}]}],
        });
        let got = to_message(&response, "m", &ToolNames::default());
        assert_eq!(
            (&got["content"], &got["stop_reason"]),
            (
                &json!([{"type": "text", "text": "I can't help with that."}]),
                &json!("refusal")
            )
        );
    }

    #[test]
    fn a_web_search_comes_back_as_server_tool_blocks_counted_in_usage() {
        let response = json!({
            "id": "resp_5", "status": "completed",
            "output": [
                {"type": "web_search_call", "id": "ws_1", "status": "completed",
                 "action": {"type": "search", "query": "news"}},
                {"type": "message", "role": "assistant", "content": [
                    {"type": "output_text", "text": "Here."}]},
            ],
            "usage": usage(),
        });
        assert_eq!(
            to_message(&response, "m", &ToolNames::default()),
            json!({
                "id": "msg_5", "type": "message", "role": "assistant", "model": "m",
                "content": [
                    {"type": "server_tool_use", "id": "srvtoolu_ws_1", "name": "web_search",
                     "input": {"query": "news"}},
                    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_ws_1",
                     "content": []},
                    {"type": "text", "text": "Here."},
                ],
                "stop_reason": "end_turn",
                "stop_sequence": null,
                "usage": {"input_tokens": 12, "output_tokens": 12,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 8,
                          "server_tool_use": {"web_search_requests": 1}},
            })
        );
    }
}
