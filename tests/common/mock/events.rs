//! The events and frames the mock answers with, as the backend shapes them
//! (PROTOCOL.md §4, §8, §9, §11): pure builders a test can also use to state
//! what it expects.

use serde_json::{Value, json};

/// A realistic text answer, as the backend streams it, with `output: []` in
/// `response.completed` (as the real backend sends it).
pub fn text_answer(text: &str, pieces: usize) -> Vec<Value> {
    text_answer_as("resp_mock_1", text, pieces)
}

/// [`text_answer`] under the response id `id`.
pub fn text_answer_as(id: &str, text: &str, pieces: usize) -> Vec<Value> {
    let item_id = "msg_mock_1";
    let mut events = vec![
        json!({"type": "response.created", "sequence_number": 0, "response": response(id, "in_progress")}),
        json!({"type": "response.in_progress", "sequence_number": 1, "response": response(id, "in_progress")}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
        json!({"type": "response.content_part.added", "item_id": item_id, "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
    ];
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(pieces.max(1)).max(1);
    for piece in chars.chunks(size) {
        let delta: String = piece.iter().collect();
        events.push(json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": 0, "content_index": 0, "delta": delta}));
    }
    events.extend([
        json!({"type": "response.output_text.done", "item_id": item_id, "output_index": 0, "content_index": 0, "text": text}),
        json!({"type": "response.content_part.done", "item_id": item_id, "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": []}}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": text_message(text)}),
        completed(id),
    ]);
    events
}

/// The message item `text_answer` finishes with.
pub fn text_message(text: &str) -> Value {
    json!({"id": "msg_mock_1", "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

fn response(id: &str, status: &str) -> Value {
    json!({"id": id, "object": "response", "created_at": 1_763_900_000, "status": status, "model": "gpt-5", "output": []})
}

/// `response.completed` with `output: []` and a usage, as the backend ends a stream.
pub fn completed(id: &str) -> Value {
    let mut response = response(id, "completed");
    response["usage"] = json!({"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 17});
    json!({"type": "response.completed", "response": response})
}

/// `events` with the `usage` of their final response replaced: `input`
/// tokens of which `cached` came from the prompt cache, `output` of which
/// `reasoning` were reasoning, as the backend counts them.
pub fn with_usage(
    mut events: Vec<Value>,
    [input, cached, output, reasoning]: [u64; 4],
) -> Vec<Value> {
    if let Some(last) = events.last_mut() {
        last["response"]["usage"] = json!({"input_tokens": input,
            "input_tokens_details": {"cached_tokens": cached}, "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input + output});
    }
    events
}

/// The answer to a prewarm (`generate: false`, PROTOCOL.md §8): created and
/// completed, with no output.
pub fn prewarm_answer(id: &str) -> Vec<Value> {
    vec![
        json!({"type": "response.created", "sequence_number": 0, "response": response(id, "in_progress")}),
        completed(id),
    ]
}

/// A compaction summary item (PROTOCOL.md §9).
pub fn compaction_item(id: &str, encrypted_content: &str) -> Value {
    json!({"type": "compaction", "id": id, "encrypted_content": encrypted_content})
}

/// The answer to a `compaction_trigger`: exactly one output item, `item`.
pub fn compaction_answer(response_id: &str, item: &Value) -> Vec<Value> {
    vec![
        json!({"type": "response.created", "sequence_number": 0, "response": response(response_id, "in_progress")}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": item}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        completed(response_id),
    ]
}

/// `events` with the terminal response's `output` rebuilt from the
/// `response.output_item.done` events, in `output_index` order: what a
/// client should receive from a proxy that backfills the final answer.
pub fn backfilled(mut events: Vec<Value>) -> Vec<Value> {
    let items = output_items(&events);
    for event in &mut events {
        if is_terminal(event) {
            event["response"]["output"] = Value::Array(items.clone());
        }
    }
    events
}

/// The items of the `response.output_item.done` events, in `output_index` order.
pub fn output_items(events: &[Value]) -> Vec<Value> {
    let mut done: Vec<(u64, Value)> = events
        .iter()
        .filter(|e| e["type"] == "response.output_item.done")
        .map(|e| (e["output_index"].as_u64().unwrap_or(0), e["item"].clone()))
        .collect();
    done.sort_by_key(|(index, _)| *index);
    done.into_iter().map(|(_, item)| item).collect()
}

fn is_terminal(event: &Value) -> bool {
    matches!(
        event["type"].as_str(),
        Some("response.completed" | "response.incomplete" | "response.failed")
    )
}

/// The id of the response `events` complete, if they do.
pub fn completed_id(events: &[Value]) -> Option<String> {
    events
        .iter()
        .find(|e| e["type"] == "response.completed")
        .and_then(|e| e["response"]["id"].as_str())
        .map(str::to_owned)
}

/// An error as the backend wraps it on a WebSocket (PROTOCOL.md §8).
pub fn wrapped_error(status: u16, error: Value) -> Value {
    json!({"type": "error", "status": status, "error": error})
}

/// A 400 `invalid_request_error` with `message`, wrapped.
pub fn wrapped_invalid(code: Option<&str>, message: &str) -> Value {
    let mut error = json!({"type": "invalid_request_error", "message": message});
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    wrapped_error(400, error)
}

/// The wrapped answer to an unknown `previous_response_id`.
pub fn previous_not_found(id: &str) -> Value {
    wrapped_invalid(
        Some("previous_response_not_found"),
        &format!("Previous response with id '{id}' not found."),
    )
}

/// The wrapped usage-limit error, with the headers the backend adds to it.
pub fn usage_limit_error(resets_at: i64) -> Value {
    let mut frame = wrapped_error(
        429,
        json!({"type": "usage_limit_reached", "message": "The usage limit has been reached",
               "plan_type": "plus", "resets_at": resets_at}),
    );
    frame["headers"] = json!({
        "x-codex-primary-used-percent": "100",
        "x-codex-primary-window-minutes": "300",
        "x-codex-primary-reset-at": resets_at.to_string(),
        "x-codex-rate-limit-reached-type": "primary",
    });
    frame
}

/// The error that ends a socket after 60 minutes (PROTOCOL.md §8).
pub fn connection_limit_error() -> Value {
    wrapped_invalid(
        Some("websocket_connection_limit_reached"),
        "Responses websocket connection limit reached (60 minutes). Create a new websocket connection to continue.",
    )
}

/// A `codex.rate_limits` event (PROTOCOL.md §11).
pub fn rate_limits_event(primary_used_percent: f64, reset_at: i64) -> Value {
    json!({"type": "codex.rate_limits", "plan_type": "plus",
        "rate_limits": {"primary": {"used_percent": primary_used_percent, "window_minutes": 300, "reset_at": reset_at},
                        "secondary": {"used_percent": 3.0, "window_minutes": 10080, "reset_at": reset_at + 86_400}},
        "credits": {"has_credits": true, "unlimited": false, "balance": "12.00"},
        "metered_limit_name": "codex"})
}

/// The usage endpoint's answer (PROTOCOL.md §11).
pub fn usage_body(used_percent: u64, reset_at: i64) -> Value {
    json!({"plan_type": "plus",
        "rate_limit": {"allowed": true, "limit_reached": false,
            "primary_window": {"used_percent": used_percent, "limit_window_seconds": 18_000, "reset_after_seconds": 9_000, "reset_at": reset_at},
            "secondary_window": null},
        "credits": {"has_credits": true, "unlimited": false, "balance": "12.00"},
        "additional_rate_limits": []})
}
