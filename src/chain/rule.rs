//! The Codex CLI's rule for chaining a turn onto the previous one
//! (PROTOCOL.md §8), as pure functions: a request may name the previous
//! answer by `previous_response_id` and carry only its new items when every
//! setting equals the previous turn's and its input is the previous turn's
//! input, then that turn's answer as the client received it, then new items.
//!
//! "As the client received it" allows what SDKs do to an answer they echo
//! (see [`echoes`]): they drop the answer's reasoning items, an item's `id`
//! or `status`, null fields and empty lists, and send a message in the
//! short form (`role` without `type`). Each of these leaves what the model
//! reads unchanged, and the backend continues from the answer it produced,
//! not from the echo. Anything else (an edited item, a changed setting, an
//! item left out) is a different conversation: the turn goes whole.

use serde_json::{Map, Value};

/// Top-level fields that may change from turn to turn without breaking the
/// chain: the input itself, how the answer is delivered (`stream`), the
/// socket frame's own fields, and the per-turn ids the Codex CLI sends in
/// `client_metadata` (turn id, turn state), which describe the request and
/// not the conversation. Every other field (model, instructions, tools,
/// tool_choice, parallel_tool_calls, reasoning, text, include, service_tier,
/// prompt_cache_key, metadata, and any field not known here) must be equal.
const PER_TURN: [&str; 6] = [
    "input",
    "previous_response_id",
    "stream",
    "client_metadata",
    "type",
    "generate",
];

/// A turn sent and not yet answered: what its answer will complete into a
/// [`Base`].
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    settings: Map<String, Value>,
    input: Vec<Value>,
}

impl Pending {
    /// The turn sent as `body`, with its whole input.
    pub fn of(body: &Map<String, Value>) -> Self {
        Pending {
            settings: settings(body),
            input: input(body).to_vec(),
        }
    }

    /// The turn answered with `output` under `response_id`.
    pub fn answered(self, output: Vec<Value>, response_id: String) -> Base {
        Base {
            settings: self.settings,
            input: self.input,
            output,
            response_id,
        }
    }
}

/// A finished turn, as the next one is compared with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Base {
    settings: Map<String, Value>,
    input: Vec<Value>,
    output: Vec<Value>,
    /// The answer's id: what the next turn names as `previous_response_id`.
    pub response_id: String,
}

impl Base {
    /// Where the new items of `body` start, when `body` continues this
    /// turn; `None` when it must go whole.
    pub fn continued_by(&self, body: &Map<String, Value>) -> Option<usize> {
        if settings(body) != self.settings {
            return None;
        }
        let input = input(body);
        let earlier = input.get(..self.input.len())?;
        if earlier != self.input.as_slice() {
            return None;
        }
        let echoed = echoed_output(&input[self.input.len()..], &self.output)?;
        Some(self.input.len() + echoed)
    }
}

/// `body` without its per-turn fields.
fn settings(body: &Map<String, Value>) -> Map<String, Value> {
    body.iter()
        .filter(|(k, _)| !PER_TURN.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn input(body: &Map<String, Value>) -> &[Value] {
    body.get("input")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// How many leading `items` echo `output` (its reasoning items may be left
/// out); `None` when they do not.
fn echoed_output(items: &[Value], output: &[Value]) -> Option<usize> {
    let mut used = 0;
    for received in output {
        match items.get(used) {
            Some(sent) if echoes(sent, received) => used += 1,
            _ if is_reasoning(received) => {}
            _ => return None,
        }
    }
    Some(used)
}

fn is_reasoning(item: &Value) -> bool {
    item.get("type").and_then(Value::as_str) == Some("reasoning")
}

/// Whether `sent` is the item (or part of one) `received`, as a client
/// echoes it: every field it sends equals the answer's (a null one may be
/// absent there), and a field it leaves out is one that does not change
/// what the model reads ([`may_leave_out`]). Key order does not matter.
pub fn echoes(sent: &Value, received: &Value) -> bool {
    match (sent, received) {
        (Value::Object(sent), Value::Object(received)) => {
            sent.iter().all(|(k, v)| match received.get(k) {
                Some(r) => echoes(v, r),
                None => v.is_null(),
            }) && received
                .iter()
                .all(|(k, v)| sent.contains_key(k) || may_leave_out(k, v, received))
        }
        (Value::Array(sent), Value::Array(received)) => {
            sent.len() == received.len() && sent.iter().zip(received).all(|(s, r)| echoes(s, r))
        }
        _ => sent == received,
    }
}

/// A field of an answer's item a client may drop when it echoes the item:
/// ids and statuses (the backend's bookkeeping), null values and empty
/// lists (`annotations: []`, `logprobs: []`, `summary: []`), a message's
/// `type` (the short form `{role, content}` means the same), and a
/// reasoning item's `encrypted_content` (the proxy strips it from what a
/// client that did not ask for it receives).
fn may_leave_out(key: &str, value: &Value, item: &Map<String, Value>) -> bool {
    let kind = item.get("type").and_then(Value::as_str);
    match key {
        "id" | "status" => true,
        "type" => value == "message" && item.contains_key("role"),
        "encrypted_content" => kind == Some("reasoning"),
        _ => value.is_null() || value.as_array().is_some_and(Vec::is_empty),
    }
}
