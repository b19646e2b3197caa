//! Reasoning continuity across turns on a backend that keeps nothing.
//!
//! A reasoning model's earlier thinking only carries into the next turn when
//! its reasoning items go back with their `encrypted_content`. So a request
//! whose answer may be chained asks for that content, the store keeps it, the
//! client sees it only when it asked, and the next turn sends it back. Pure
//! functions on JSON values.

use serde_json::{Map, Value};

/// The `include` entry that makes the backend return reasoning items' content.
pub const ENCRYPTED_REASONING: &str = "reasoning.encrypted_content";

/// Whether the client's answer will be stored and so may be chained: the
/// public API stores unless `store` is `false`. Read before the request is
/// patched (the backend is always sent `store: false`).
pub fn client_stores(body: &Map<String, Value>) -> bool {
    body.get("store").and_then(Value::as_bool) != Some(false)
}

/// Whether `include` (a request's, or a retrieval's query) asks for the
/// encrypted reasoning.
pub fn asks_for_encrypted_reasoning(include: Option<&Value>) -> bool {
    include
        .and_then(Value::as_array)
        .is_some_and(|list| list.iter().any(|v| v.as_str() == Some(ENCRYPTED_REASONING)))
}

/// Adds [`ENCRYPTED_REASONING`] to the request's `include`, creating the list
/// when absent. Returns whether the client had asked for it itself: when it
/// had not, its answer goes through [`strip_encrypted_reasoning`].
/// An `include` that is not a list is left for the backend to refuse.
pub fn request_encrypted_reasoning(body: &mut Map<String, Value>) -> bool {
    if asks_for_encrypted_reasoning(body.get("include")) {
        return true;
    }
    match body.get_mut("include") {
        Some(Value::Array(list)) => list.push(Value::from(ENCRYPTED_REASONING)),
        None | Some(Value::Null) => {
            body.insert("include".into(), Value::from(vec![ENCRYPTED_REASONING]));
        }
        Some(_) => {}
    }
    false
}

/// Removes `encrypted_content` from the reasoning items in `value`, which may
/// be one item, a Response object (its `output`), a stream event (its `item`
/// or its `response`), or a list of any of these. Other items that carry
/// `encrypted_content` (compaction summaries) are the client's and stay.
pub fn strip_encrypted_reasoning(value: &mut Value) {
    match value {
        Value::Array(list) => list.iter_mut().for_each(strip_encrypted_reasoning),
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("reasoning") {
                map.remove("encrypted_content");
            }
            for key in ["output", "item", "response"] {
                if let Some(inner) = map.get_mut(key) {
                    strip_encrypted_reasoning(inner);
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// A stored item as the next turn sends it to a backend that keeps nothing:
/// without its `id` (the backend refuses ids it cannot look up when `store` is
/// false, as the official client also omits them), and `None` for a reasoning
/// item without `encrypted_content`, which the backend cannot use.
pub fn for_upstream(item: &Value) -> Option<Value> {
    let Value::Object(map) = item else {
        return Some(item.clone());
    };
    let reasoning = map.get("type").and_then(Value::as_str) == Some("reasoning");
    let sealed = map
        .get("encrypted_content")
        .is_some_and(|c| c.as_str().is_some_and(|s| !s.is_empty()));
    if reasoning && !sealed {
        return None;
    }
    let mut map = map.clone();
    map.remove("id");
    Some(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn a_request_stores_unless_it_says_store_false() {
        assert!(client_stores(&obj(json!({"model": "m"}))));
        assert!(client_stores(&obj(json!({"store": true}))));
        assert!(!client_stores(&obj(json!({"store": false}))));
    }

    #[test]
    fn encrypted_reasoning_is_added_to_include_once_and_the_clients_wish_reported() {
        let mut absent = obj(json!({"model": "m"}));
        assert!(!request_encrypted_reasoning(&mut absent));
        assert_eq!(
            Value::Object(absent),
            json!({"model": "m", "include": ["reasoning.encrypted_content"]})
        );

        let mut other = obj(json!({"include": ["message.output_text.logprobs"]}));
        assert!(!request_encrypted_reasoning(&mut other));
        assert_eq!(
            Value::Object(other),
            json!({"include": ["message.output_text.logprobs", "reasoning.encrypted_content"]})
        );

        let mut asked = obj(json!({"include": ["reasoning.encrypted_content"]}));
        assert!(request_encrypted_reasoning(&mut asked));
        assert_eq!(
            Value::Object(asked),
            json!({"include": ["reasoning.encrypted_content"]})
        );

        let mut null = obj(json!({"include": null}));
        assert!(!request_encrypted_reasoning(&mut null));
        assert_eq!(
            Value::Object(null),
            json!({"include": ["reasoning.encrypted_content"]})
        );
    }

    #[test]
    fn only_reasoning_items_lose_their_encrypted_content_wherever_they_sit() {
        let reasoning =
            json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"});
        let compaction = json!({"type": "compaction", "id": "cmp_1", "encrypted_content": "keep"});
        let bare = json!({"type": "reasoning", "id": "rs_1", "summary": []});

        let mut response =
            json!({"id": "resp_1", "output": [reasoning.clone(), compaction.clone()]});
        strip_encrypted_reasoning(&mut response);
        assert_eq!(
            response,
            json!({"id": "resp_1", "output": [bare.clone(), compaction.clone()]})
        );

        let mut done = json!({"type": "response.output_item.done", "item": reasoning.clone()});
        strip_encrypted_reasoning(&mut done);
        assert_eq!(
            done,
            json!({"type": "response.output_item.done", "item": bare.clone()})
        );

        let mut completed =
            json!({"type": "response.completed", "response": {"output": [reasoning.clone()]}});
        strip_encrypted_reasoning(&mut completed);
        assert_eq!(
            completed,
            json!({"type": "response.completed", "response": {"output": [bare.clone()]}})
        );
    }

    #[test]
    fn items_go_back_upstream_without_ids_and_without_unusable_reasoning() {
        assert_eq!(
            for_upstream(
                &json!({"type": "message", "id": "msg_1", "role": "assistant", "content": []})
            ),
            Some(json!({"type": "message", "role": "assistant", "content": []}))
        );
        assert_eq!(
            for_upstream(
                &json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"})
            ),
            Some(json!({"type": "reasoning", "summary": [], "encrypted_content": "gAAA"}))
        );
        assert_eq!(
            for_upstream(&json!({"type": "reasoning", "id": "rs_1", "summary": []})),
            None
        );
        assert_eq!(
            for_upstream(&json!({"type": "reasoning", "summary": [], "encrypted_content": ""})),
            None
        );
        assert_eq!(
            for_upstream(&json!({"type": "function_call_output", "call_id": "c", "output": "4"})),
            Some(json!({"type": "function_call_output", "call_id": "c", "output": "4"}))
        );
    }
}
