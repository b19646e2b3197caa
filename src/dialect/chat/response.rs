//! A collected Responses object rewritten as a `chat.completion`.

use serde_json::{Map, Value, json};

use super::{SUMMARY_SEPARATOR, chat_usage, completion_id, finish_reason, unix_now};

/// Rewrites a finished Responses object (`response.completed` or
/// `response.incomplete`, with its `output` rebuilt by the collector) as the one
/// choice of a `chat.completion`. `model` is the name the client asked for.
pub fn to_chat_completion(response: &Value, model: &str) -> Value {
    let answer = Answer::of(response);
    let finish = finish_reason(response, !answer.tool_calls.is_empty());
    let mut completion = json!({
        "id": completion_id(response.get("id").and_then(Value::as_str)),
        "object": "chat.completion",
        "created": response.get("created_at").and_then(Value::as_u64).unwrap_or_else(unix_now),
        "model": model,
        "choices": [{
            "index": 0,
            "message": answer.into_message(),
            "logprobs": null,
            "finish_reason": finish,
        }],
    });
    if let Some(usage) = response.get("usage").filter(|u| u.is_object()) {
        completion["usage"] = chat_usage(usage);
    }
    completion
}

/// What the output items of a response add up to, for the one Chat message.
#[derive(Default)]
struct Answer<'a> {
    text: Option<String>,
    refusal: Option<String>,
    summaries: Vec<&'a str>,
    tool_calls: Vec<Value>,
}

impl<'a> Answer<'a> {
    fn of(response: &'a Value) -> Self {
        let mut answer = Answer::default();
        let items = response.get("output").and_then(Value::as_array);
        for item in items.into_iter().flatten() {
            match item.get("type").and_then(Value::as_str) {
                Some("message") => answer.add_message(item),
                Some("function_call") => answer.tool_calls.push(json!({
                    "id": item.get("call_id").cloned().unwrap_or(Value::Null),
                    "type": "function",
                    "function": {
                        "name": item.get("name").cloned().unwrap_or(Value::Null),
                        "arguments": item.get("arguments").cloned().unwrap_or_else(|| "".into()),
                    },
                })),
                Some("reasoning") => {
                    let parts = item.get("summary").and_then(Value::as_array);
                    answer.summaries.extend(
                        parts
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s.get("text").and_then(Value::as_str)),
                    );
                }
                _ => {}
            }
        }
        answer
    }

    /// A message item's text and refusal parts, joined onto what came before.
    fn add_message(&mut self, item: &Value) {
        let parts = item.get("content").and_then(Value::as_array);
        for part in parts.into_iter().flatten() {
            match part.get("type").and_then(Value::as_str) {
                Some("output_text") => {
                    let t = part.get("text").and_then(Value::as_str).unwrap_or("");
                    self.text.get_or_insert_with(String::new).push_str(t);
                }
                Some("refusal") => {
                    let r = part.get("refusal").and_then(Value::as_str).unwrap_or("");
                    self.refusal.get_or_insert_with(String::new).push_str(r);
                }
                _ => {}
            }
        }
    }

    /// The choice's `message`; `content` and `refusal` are null when absent,
    /// the other fields left out.
    fn into_message(self) -> Map<String, Value> {
        let mut message = Map::new();
        message.insert("role".into(), "assistant".into());
        message.insert("content".into(), self.text.into());
        message.insert("refusal".into(), self.refusal.into());
        if !self.summaries.is_empty() {
            message.insert(
                "reasoning_content".into(),
                self.summaries.join(SUMMARY_SEPARATOR).into(),
            );
        }
        if !self.tool_calls.is_empty() {
            message.insert("tool_calls".into(), Value::Array(self.tool_calls));
        }
        message
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

    fn chat_usage_of_usage() -> Value {
        json!({
            "prompt_tokens": 20,
            "completion_tokens": 12,
            "total_tokens": 32,
            "prompt_tokens_details": {"cached_tokens": 8},
            "completion_tokens_details": {"reasoning_tokens": 5},
        })
    }

    #[test]
    fn plain_text_answer_becomes_one_choice_with_usage() {
        let response = json!({
            "id": "resp_1", "created_at": 1_700_000_000u64, "model": "gpt-5-codex",
            "status": "completed",
            "output": [{"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "Hello, ", "annotations": []},
                {"type": "output_text", "text": "world.", "annotations": []},
            ]}],
            "usage": usage(),
        });
        assert_eq!(
            to_chat_completion(&response, "gpt-5"),
            json!({
                "id": "chatcmpl-resp_1",
                "object": "chat.completion",
                "created": 1_700_000_000u64,
                "model": "gpt-5",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello, world.", "refusal": null},
                    "logprobs": null,
                    "finish_reason": "stop",
                }],
                "usage": chat_usage_of_usage(),
            })
        );
    }

    #[test]
    fn parallel_function_calls_become_tool_calls_with_null_content() {
        let response = json!({
            "id": "resp_2", "created_at": 5, "status": "completed",
            "output": [
                {"type": "reasoning", "summary": [
                    {"type": "summary_text", "text": "Two cities."},
                    {"type": "summary_text", "text": "Ask both."},
                ], "encrypted_content": "gAAA"},
                {"type": "function_call", "call_id": "call_a", "name": "weather",
                 "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
                {"type": "function_call", "call_id": "call_b", "name": "weather",
                 "arguments": "{\"city\":\"Rome\"}", "status": "completed"},
            ],
        });
        assert_eq!(
            to_chat_completion(&response, "m"),
            json!({
                "id": "chatcmpl-resp_2",
                "object": "chat.completion",
                "created": 5,
                "model": "m",
                "choices": [{
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": null,
                        "refusal": null,
                        "reasoning_content": "Two cities.\n\nAsk both.",
                        "tool_calls": [
                            {"id": "call_a", "type": "function",
                             "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                            {"id": "call_b", "type": "function",
                             "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}},
                        ],
                    },
                    "logprobs": null,
                    "finish_reason": "tool_calls",
                }],
            })
        );
    }

    #[test]
    fn incomplete_for_max_output_tokens_finishes_with_length() {
        let response = json!({
            "id": "resp_3", "created_at": 5, "status": "incomplete",
            "incomplete_details": {"reason": "max_output_tokens"},
            "output": [{"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "Once upon"},
            ]}],
            "usage": usage(),
        });
        assert_eq!(
            to_chat_completion(&response, "m"),
            json!({
                "id": "chatcmpl-resp_3",
                "object": "chat.completion",
                "created": 5,
                "model": "m",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "Once upon", "refusal": null},
                    "logprobs": null,
                    "finish_reason": "length",
                }],
                "usage": chat_usage_of_usage(),
            })
        );
    }

    #[test]
    fn a_refusal_part_and_a_content_filter_stop_are_reported() {
        let response = json!({
            "id": "resp_4", "created_at": 5, "status": "incomplete",
            "incomplete_details": {"reason": "content_filter"},
            "output": [{"type": "message", "role": "assistant", "content": [
                {"type": "refusal", "refusal": "I can't help with that."},
            ]}],
        });
        assert_eq!(
            to_chat_completion(&response, "m"),
            json!({
                "id": "chatcmpl-resp_4",
                "object": "chat.completion",
                "created": 5,
                "model": "m",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": null,
                                "refusal": "I can't help with that."},
                    "logprobs": null,
                    "finish_reason": "content_filter",
                }],
            })
        );
    }

    #[test]
    fn a_json_schema_answer_is_passed_as_the_content_text() {
        let response = json!({
            "id": "resp_5", "created_at": 5, "status": "completed",
            "output": [{"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "{\"n\":3}"},
            ]}],
        });
        assert_eq!(
            to_chat_completion(&response, "m"),
            json!({
                "id": "chatcmpl-resp_5",
                "object": "chat.completion",
                "created": 5,
                "model": "m",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "{\"n\":3}", "refusal": null},
                    "logprobs": null,
                    "finish_reason": "stop",
                }],
            })
        );
    }
}
