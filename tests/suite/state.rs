//! Conversation state on a backend that keeps nothing, end to end through
//! the mock: `previous_response_id` expanded into the full history with the
//! encrypted reasoning, stored responses retrieved, listed and deleted as
//! the official SDKs do it, and the streamed final answer carrying its output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
#[path = "state/durability.rs"]
mod durability;
#[path = "state/models.rs"]
mod models;

use std::time::Duration;

use common::{Answer, MockBackend, TestProxy, mock, sse_data};
use serde_json::{Value, json};

/// A turn's answer as the backend streams it when asked for reasoning
/// content: a reasoning item (sealed), then the message, then
/// `response.completed` with `output: []`.
pub fn reasoned(id: &str, text: &str) -> Vec<Value> {
    let reasoning = json!({"type": "reasoning", "id": format!("rs_{id}"), "summary": []});
    let mut sealed = reasoning.clone();
    sealed["encrypted_content"] = json!(format!("sealed-{id}"));
    let mut open = message(id, text);
    open["status"] = json!("in_progress");
    open["content"] = json!([]);
    vec![
        json!({"type": "response.created", "response": {"id": id, "object": "response", "status": "in_progress", "output": []}}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": reasoning}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": sealed}),
        json!({"type": "response.output_item.added", "output_index": 1, "item": open}),
        json!({"type": "response.output_text.delta", "output_index": 1, "content_index": 0, "delta": text}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": message(id, text)}),
        mock::completed(id),
    ]
}

pub fn message(id: &str, text: &str) -> Value {
    json!({"id": format!("msg_{id}"), "type": "message", "status": "completed", "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

/// The answer a client that did not ask for reasoning content gets.
pub fn answered(id: &str, text: &str) -> Value {
    let mut response = mock::completed(id)["response"].clone();
    response["output"] = json!([
        {"type": "reasoning", "id": format!("rs_{id}"), "summary": []},
        message(id, text),
    ]);
    response
}

/// A user's words as the proxy forwards a string input.
pub fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// A finished turn as the next request carries it back to the backend:
/// without item ids, the reasoning with its sealed content.
pub fn sent_back(id: &str, said: &str, text: &str) -> Vec<Value> {
    let mut answer = message(id, text);
    answer.as_object_mut().unwrap().remove("id");
    vec![
        user(said),
        json!({"type": "reasoning", "summary": [], "encrypted_content": format!("sealed-{id}")}),
        answer,
    ]
}

pub fn script(mock: &MockBackend, events: Vec<Value>) {
    mock.push_answer(Answer::Events {
        events,
        pace: Duration::ZERO,
    });
}

/// POSTs a turn and returns the status and the JSON answer.
pub async fn turn(proxy: &TestProxy, body: Value) -> (u16, Value) {
    let response = proxy.post("/v1/responses", &body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Plays a three-turn conversation by `previous_response_id`: two collected
/// turns and a streamed one.
async fn three_turns(mock: &MockBackend, proxy: &TestProxy) {
    script(mock, reasoned("resp_a", "A"));
    let (status, first) = turn(proxy, json!({"model": "gpt-5", "input": "one"})).await;
    assert_eq!((status, first), (200, answered("resp_a", "A")));
    script(mock, reasoned("resp_b", "B"));
    let body = json!({"model": "gpt-5", "input": "two", "previous_response_id": "resp_a"});
    let (status, second) = turn(proxy, body).await;
    let mut want = answered("resp_b", "B");
    want["previous_response_id"] = json!("resp_a");
    assert_eq!((status, second), (200, want));
    script(mock, reasoned("resp_c", "C"));
    let body = json!({"model": "gpt-5", "input": "three", "previous_response_id": "resp_b", "stream": true});
    let text = proxy
        .post("/v1/responses", &body)
        .await
        .text()
        .await
        .unwrap();
    let mut want = answered("resp_c", "C");
    want["previous_response_id"] = json!("resp_b");
    let events = sse_data(&text);
    assert_eq!(events.last().unwrap()["response"], want);
    assert!(
        !text.contains("sealed-"),
        "reasoning content reached a client that did not ask"
    );
}

#[tokio::test]
async fn a_three_turn_conversation_sends_the_backend_the_whole_history_with_its_reasoning() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    three_turns(&mock, &proxy).await;
    let seen = mock.seen();
    let inputs: Vec<&Value> = seen.iter().map(|s| &s.body["input"]).collect();
    let mut second = sent_back("resp_a", "one", "A");
    second.push(user("two"));
    let mut third = second[..3].to_vec();
    third.extend(sent_back("resp_b", "two", "B"));
    third.push(user("three"));
    assert_eq!(
        inputs,
        [
            &json!([user("one")]),
            &Value::from(second),
            &Value::from(third)
        ]
    );
    for s in &seen {
        assert_eq!(s.body["include"], json!(["reasoning.encrypted_content"]));
        assert_eq!(s.body["store"], false);
        assert!(s.body.get("previous_response_id").is_none());
    }
}

#[tokio::test]
async fn a_client_that_asks_for_reasoning_content_gets_it_and_instructions_are_not_inherited() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    script(&mock, reasoned("resp_a", "A"));
    let body = json!({"model": "gpt-5", "input": "one", "instructions": "be terse",
                      "include": ["reasoning.encrypted_content"]});
    let (_, first) = turn(&proxy, body).await;
    assert_eq!(first["output"][0]["encrypted_content"], "sealed-resp_a");
    script(&mock, reasoned("resp_b", "B"));
    turn(
        &proxy,
        json!({"model": "gpt-5", "input": "two", "previous_response_id": "resp_a"}),
    )
    .await;
    assert_eq!(
        mock.last_seen().body["instructions"],
        "You are a helpful assistant."
    );
}

#[tokio::test]
async fn stored_responses_are_retrieved_listed_page_by_page_and_deleted() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    three_turns(&mock, &proxy).await;

    let mut want = answered("resp_c", "C");
    want["previous_response_id"] = json!("resp_b");
    let got: Value = proxy
        .get("/v1/responses/resp_c")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, want);
    let sealed: Value = proxy
        .get("/v1/responses/resp_c?include[]=reasoning.encrypted_content")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sealed["output"][0]["encrypted_content"], "sealed-resp_c");

    // Every earlier turn's items, then this turn's input: seven, oldest first.
    let all: Value = proxy
        .get("/v1/responses/resp_c/input_items?order=asc&limit=100")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "msg_a_in0",
            "rs_resp_a",
            "msg_resp_a",
            "msg_b_in0",
            "rs_resp_b",
            "msg_resp_b",
            "msg_c_in0"
        ]
    );
    assert_eq!(
        all["data"][0]["content"],
        json!([{"type": "input_text", "text": "one"}])
    );
    assert_eq!(all["data"][1].get("encrypted_content"), None);
    let mut paged = Vec::new();
    let mut path = "/v1/responses/resp_c/input_items?limit=3".to_owned();
    loop {
        let page: Value = proxy.get(&path).await.json().await.unwrap();
        assert_eq!(page["object"], "list");
        paged.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        if page["has_more"] == false {
            break;
        }
        path = format!(
            "/v1/responses/resp_c/input_items?limit=3&after={}",
            page["last_id"].as_str().unwrap()
        );
    }
    let newest_first: Vec<&str> = ids.iter().rev().copied().collect();
    assert_eq!(paged, newest_first);
    let before: Value = proxy
        .get("/v1/responses/resp_c/input_items?order=asc&before=msg_b_in0&limit=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before["first_id"], "rs_resp_a");
    assert_eq!(
        (before["last_id"].clone(), before["has_more"].clone()),
        (json!("msg_resp_a"), json!(true))
    );

    let deleted = proxy
        .client
        .delete(proxy.url("/v1/responses/resp_c"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(
        deleted.json::<Value>().await.unwrap(),
        json!({"id": "resp_c", "object": "response", "deleted": true})
    );
    let gone = proxy.get("/v1/responses/resp_c").await;
    assert_eq!(gone.status(), 404);
    assert_eq!(
        gone.json::<Value>().await.unwrap()["error"]["message"],
        "Response with id 'resp_c' not found."
    );
    let again = proxy
        .client
        .delete(proxy.url("/responses/resp_c"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let (status, error) = turn(
        &proxy,
        json!({"model": "gpt-5", "input": "four", "previous_response_id": "resp_c"}),
    )
    .await;
    assert_eq!(
        (status, error),
        (
            400,
            json!({"error": {"message": "Previous response with id 'resp_c' not found.",
            "type": "invalid_request_error", "param": "previous_response_id", "code": "previous_response_not_found"}})
        )
    );
    // The turns it continued are still there.
    assert_eq!(proxy.get("/v1/responses/resp_b").await.status(), 200);
}

#[tokio::test]
async fn an_unknown_previous_response_is_refused_before_anything_is_forwarded() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let (status, error) = turn(
        &proxy,
        json!({"model": "gpt-5", "input": "x", "previous_response_id": "resp_never"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["code"], "previous_response_not_found");
    assert_eq!(mock.responses_calls(), 0);
    let (status, error) = turn(
        &proxy,
        json!({"model": "gpt-5", "input": "x", "previous_response_id": 7}),
    )
    .await;
    assert_eq!(
        (status, error["error"]["param"].clone()),
        (400, json!("previous_response_id"))
    );
}

#[tokio::test]
async fn cancelling_is_refused_and_bad_list_parameters_are_named() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let cancel = proxy
        .client
        .post(proxy.url("/v1/responses/resp_x/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 400);
    let error: Value = cancel.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("background"),
        "{error}"
    );
    script(&mock, reasoned("resp_a", "A"));
    turn(&proxy, json!({"model": "gpt-5", "input": "one"})).await;
    for (query, param) in [
        ("limit=many", "limit"),
        ("order=sideways", "order"),
        ("after=msg_nope", "after"),
    ] {
        let response = proxy
            .get(&format!("/v1/responses/resp_a/input_items?{query}"))
            .await;
        assert_eq!(response.status(), 400, "{query}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["param"], param, "{query}");
    }
}

#[tokio::test]
async fn many_turns_continuing_one_response_at_once_each_get_its_history() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    script(&mock, reasoned("resp_root", "R"));
    turn(&proxy, json!({"model": "gpt-5", "input": "root"})).await;
    for n in 0..8 {
        script(&mock, reasoned(&format!("resp_branch{n}"), "B"));
    }
    let branches = (0..8).map(|n| {
        let body = json!({"model": "gpt-5", "input": format!("branch {n}"), "previous_response_id": "resp_root"});
        let proxy = &proxy;
        async move { turn(proxy, body).await.0 }
    });
    let statuses = futures_util::future::join_all(branches).await;
    assert_eq!(statuses, [200; 8]);
    for seen in &mock.seen()[1..] {
        let input = seen.body["input"].as_array().unwrap();
        assert_eq!(input[..3], sent_back("resp_root", "root", "R")[..]);
        assert_eq!(input.len(), 4);
    }
}

#[tokio::test]
async fn a_streamed_answer_ends_with_the_rebuilt_output_and_is_otherwise_untouched() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let events = mock::text_answer("Hello from the mock.", 4);
    script(&mock, events.clone());
    let body = json!({"model": "gpt-5", "input": "hi", "stream": true, "store": false});
    let text = proxy
        .post("/v1/responses", &body)
        .await
        .text()
        .await
        .unwrap();
    let got = sse_data(&text);
    assert_eq!(got, mock::backfilled(events.clone()));
    assert_eq!(got[..got.len() - 1], events[..events.len() - 1]);
    assert_eq!(
        got.last().unwrap()["response"]["output"],
        json!([mock::text_message("Hello from the mock.")])
    );
}
