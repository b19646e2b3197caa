//! The chaining rule against the shapes real clients send.

use serde_json::{Map, Value, json};

use super::rule::{Base, Pending, echoes};

fn body(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": [{"type": "input_text", "text": text}]})
}

fn answer(text: &str) -> Value {
    json!({"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
}

fn reasoning() -> Value {
    json!({"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "enc"})
}

fn request(input: Vec<Value>) -> Map<String, Value> {
    body(
        json!({"model": "gpt-5", "instructions": "Be brief.", "tools": [], "stream": true,
                "store": false, "input": input}),
    )
}

/// A first turn asking "one", answered with reasoning and "two".
fn first() -> Base {
    Pending::of(&request(vec![user("one")]))
        .answered(vec![reasoning(), answer("two")], "resp_1".into())
}

#[test]
fn a_turn_that_echoes_the_answer_and_adds_an_item_continues_after_the_echo() {
    let next = request(vec![user("one"), reasoning(), answer("two"), user("three")]);
    assert_eq!(first().continued_by(&next), Some(3));
}

#[test]
fn a_client_that_leaves_out_the_reasoning_items_is_the_same_conversation() {
    let next = request(vec![user("one"), answer("two"), user("three")]);
    assert_eq!(first().continued_by(&next), Some(2));
}

#[test]
fn an_echo_in_the_sdks_short_form_is_the_same_conversation() {
    // What the AI SDK and hand-written loops send: no id, status, type or
    // empty lists, the short message form.
    let short = json!({"role": "assistant", "content": [{"type": "output_text", "text": "two"}]});
    let next = request(vec![user("one"), short, user("three")]);
    assert_eq!(first().continued_by(&next), Some(2));
}

#[test]
fn key_order_does_not_matter() {
    let reordered: Value = serde_json::from_str(
        r#"{"content":[{"annotations":[],"text":"two","type":"output_text","logprobs":[]}],
            "role":"assistant","status":"completed","type":"message","id":"msg_1"}"#,
    )
    .unwrap();
    let next = request(vec![user("one"), reordered, user("three")]);
    assert_eq!(first().continued_by(&next), Some(2));
}

#[test]
fn an_edited_earlier_item_or_answer_goes_whole() {
    let edited = request(vec![user("ONE"), answer("two"), user("three")]);
    assert_eq!(first().continued_by(&edited), None);
    let other_answer = request(vec![user("one"), answer("deux"), user("three")]);
    assert_eq!(first().continued_by(&other_answer), None);
    let no_answer = request(vec![user("one"), user("three")]);
    assert_eq!(first().continued_by(&no_answer), None);
    let shorter = request(vec![]);
    assert_eq!(first().continued_by(&shorter), None);
}

#[test]
fn a_changed_setting_goes_whole_but_per_turn_fields_do_not_count() {
    let items = vec![user("one"), answer("two"), user("three")];
    for (key, value) in [
        ("model", json!("gpt-5-codex")),
        ("instructions", json!("Be long.")),
        ("tools", json!([{"type": "function", "name": "f"}])),
        ("reasoning", json!({"effort": "high"})),
        ("prompt_cache_key", json!("other")),
        ("service_tier", json!("priority")),
    ] {
        let mut next = request(items.clone());
        next.insert(key.into(), value);
        assert_eq!(first().continued_by(&next), None, "{key}");
    }
    let mut next = request(items);
    next.insert("stream".into(), json!(false));
    next.insert("client_metadata".into(), json!({"turn_id": "t2"}));
    assert_eq!(first().continued_by(&next), Some(2));
}

#[test]
fn a_field_sent_with_another_value_is_not_an_echo() {
    let call = json!({"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f",
                      "arguments": "{}", "status": "completed"});
    assert!(echoes(
        &json!({"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}),
        &call
    ));
    assert!(!echoes(
        &json!({"type": "function_call", "call_id": "c1", "name": "f"}),
        &call
    ));
    assert!(!echoes(
        &json!({"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{\"a\":1}"}),
        &call
    ));
    assert!(echoes(
        &json!({"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}", "extra": null}),
        &call
    ));
    assert!(!echoes(
        &json!({"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}", "extra": 1}),
        &call
    ));
}

#[test]
fn a_reasoning_item_echoed_without_its_encrypted_content_is_the_same() {
    let stripped = json!({"id": "rs_1", "type": "reasoning", "summary": []});
    let next = request(vec![user("one"), stripped, answer("two")]);
    assert_eq!(first().continued_by(&next), Some(3));
}
