//! What today's Codex clients need of the HTTP side, end to end through the
//! mock backend: compaction both ways (PROTOCOL.md §9) here, turn state and
//! the headers that cross (§10) in `compat/headers.rs`, compressed bodies
//! (§12) in `compat/compressed.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
#[path = "compat/compressed.rs"]
mod compressed;
#[path = "compat/headers.rs"]
mod headers;

use common::{MockBackend, TestProxy, mock, sse_data};
use serde_json::{Value, json};

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// A Responses request as the Codex CLI sends it: no `instructions`.
fn turn(input: Value, stream: bool) -> Value {
    json!({"model": "gpt-5", "input": input, "tools": [], "parallel_tool_calls": false,
        "store": false, "stream": stream, "prompt_cache_key": "thread-1"})
}

/// The one compaction item the mock has issued so far.
fn issued(mock: &MockBackend) -> Value {
    let issued = mock.state.compactions_issued.lock().unwrap().clone();
    assert_eq!(issued.len(), 1, "{issued:?}");
    let (id, content) = &issued[0];
    mock::compaction_item(id, content)
}

#[tokio::test]
async fn a_collected_compaction_answers_one_item_that_the_next_turn_carries_untouched() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let trigger = turn(json!([user("one"), {"type": "compaction_trigger"}]), false);
    let response = proxy.post("/v1/responses", &trigger).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let item = issued(&mock);
    assert_eq!(body["id"], "resp_mock_compaction");
    assert_eq!(body["output"], json!([item]));
    assert_eq!(mock.last_seen().body["input"], trigger["input"]);

    let next = turn(json!([item, user("two")]), false);
    let response = proxy.post("/v1/responses", &next).await;
    assert_eq!(response.status(), 200);
    assert_eq!(mock.compactions_accepted(), 1);
    assert_eq!(mock.last_seen().body["input"], next["input"]);
}

#[tokio::test]
async fn a_streamed_compaction_passes_through_and_the_next_streamed_turn_carries_it() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let trigger = turn(json!([user("one"), {"type": "compaction_trigger"}]), true);
    let response = proxy.post("/v1/responses", &trigger).await;
    assert_eq!(response.status(), 200);
    let events = sse_data(&response.text().await.unwrap());
    let item = issued(&mock);
    let sent = mock::compaction_answer("resp_mock_compaction", &item);
    // Passed through as sent, or with the final output rebuilt: the item is the same.
    assert!(
        events == sent || events == mock::backfilled(sent.clone()),
        "{events:#?}"
    );
    assert_eq!(mock::output_items(&events), std::slice::from_ref(&item));

    let next = turn(json!([user("one"), item, user("two")]), true);
    let response = proxy.post("/v1/responses", &next).await;
    assert_eq!(response.status(), 200);
    let events = sse_data(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    assert_eq!(mock.compactions_accepted(), 1);
    assert_eq!(mock.last_seen().body["input"], next["input"]);
}

#[tokio::test]
async fn a_rewritten_compaction_item_is_refused_by_the_backend_with_its_reason() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let forged = mock::compaction_item("cmp_1", "enc_not_from_the_backend");
    let response = proxy
        .post("/v1/responses", &turn(json!([forged, user("two")]), false))
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "Invalid compaction item: the encrypted content could not be verified"
    );
}

/// A legacy compaction request as older Codex CLIs send it, with fields the
/// endpoint refuses that an SDK might add.
fn legacy(input: Value) -> Value {
    json!({"model": "gpt-5", "input": input, "tools": [], "parallel_tool_calls": false,
        "reasoning": {"effort": "low"}, "prompt_cache_key": "thread-1",
        "stream": false, "store": false, "temperature": 0.2})
}

#[tokio::test]
async fn the_legacy_compact_endpoint_is_forwarded_patched_for_it_and_answers_its_json() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let response = proxy
        .post("/v1/responses/compact", &legacy(json!([user("one")])))
        .await;
    assert_eq!(response.status(), 200);
    let h = response.headers();
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["x-request-id"], "upstream-req-1");
    assert_eq!(h["x-models-etag"], "\"models-v1\"");
    assert_eq!(h["openai-model"], "gpt-5");
    assert_eq!(h["x-codex-primary-used-percent"], "12");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"output": [user("one"), issued(&mock)]}));

    let seen = mock.last_seen();
    assert_eq!(seen.route, mock::Route::Compact);
    assert_eq!(
        seen.body,
        json!({"model": "gpt-5", "input": [user("one")], "tools": [], "parallel_tool_calls": false,
            "reasoning": {"effort": "low"}, "prompt_cache_key": "thread-1",
            "instructions": "You are a helpful assistant."})
    );
    assert_eq!(seen.headers["accept"], "application/json");
    assert_eq!(seen.headers["session-id"], "thread-1");
    assert_eq!(seen.headers["originator"], "codex_cli_rs");
    assert_eq!(seen.headers["chatgpt-account-id"], mock::ACCOUNT_ID);
    assert_eq!(mock.responses_calls(), 0);
}

#[tokio::test]
async fn the_compact_alias_without_v1_serves_the_same_endpoint() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let response = proxy
        .post("/responses/compact", &legacy(json!([user("one")])))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(mock.compact_calls(), 1);
}

#[tokio::test]
async fn a_legacy_compaction_refused_with_401_is_retried_once_with_a_refreshed_login() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let first = proxy.read_auth();
    mock.revoke(first["tokens"]["access_token"].as_str().unwrap());
    let response = proxy
        .post("/v1/responses/compact", &legacy(json!([user("one")])))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["output"][1], issued(&mock));
    assert_eq!(mock.refresh_calls(), 1);
    assert_eq!(mock.compact_calls(), 2);
    let refreshed = proxy.read_auth()["tokens"]["access_token"].clone();
    assert_ne!(refreshed, first["tokens"]["access_token"]);
    assert_eq!(
        mock.last_seen().headers["authorization"],
        format!("Bearer {}", refreshed.as_str().unwrap())
    );
}

#[tokio::test]
async fn a_legacy_compaction_the_backend_refuses_is_mapped_like_any_refusal() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let mut request = legacy(json!([user("one")]));
    request["model"] = json!("gpt-4o");
    let response = proxy.post("/v1/responses/compact", &request).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(
        body["error"]["message"],
        "The 'gpt-4o' model is not supported when using Codex with a ChatGPT account."
    );

    let response = proxy
        .post("/v1/responses/compact", &json!({"input": [user("one")]}))
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        mock.compact_calls(),
        1,
        "a request without a model is not forwarded"
    );
}
