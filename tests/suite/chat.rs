//! `/v1/chat/completions` end to end through the mock backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use common::{Answer, MockBackend, TestProxy, mock, sse_data, wait_until};
use serde_json::{Value, json};

fn function_calls(calls: &[(&str, &str, &str)]) -> Vec<Value> {
    let response = |status: &str, output: Value| json!({"id": "resp_tools", "object": "response", "created_at": 1_763_900_000, "status": status, "model": "gpt-5", "output": output});
    let mut events =
        vec![json!({"type": "response.created", "response": response("in_progress", json!([]))})];
    for (i, (call_id, name, args)) in calls.iter().enumerate() {
        let item = json!({"type": "function_call", "id": format!("fc_{i}"), "call_id": call_id, "name": name, "arguments": "", "status": "in_progress"});
        events.push(json!({"type": "response.output_item.added", "output_index": i, "item": item}));
        let (a, b) = args.split_at(args.len() / 2);
        for piece in [a, b] {
            events.push(json!({"type": "response.function_call_arguments.delta", "output_index": i, "item_id": format!("fc_{i}"), "delta": piece}));
        }
        events.push(json!({"type": "response.function_call_arguments.done", "output_index": i, "item_id": format!("fc_{i}"), "arguments": args}));
        let done = json!({"type": "function_call", "id": format!("fc_{i}"), "call_id": call_id, "name": name, "arguments": args, "status": "completed"});
        events.push(json!({"type": "response.output_item.done", "output_index": i, "item": done}));
    }
    let mut completed = response("completed", json!([]));
    completed["usage"] = json!({"input_tokens": 30, "input_tokens_details": {"cached_tokens": 10}, "output_tokens": 8,
        "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 38});
    events.push(json!({"type": "response.completed", "response": completed}));
    events
}

fn events(events: Vec<Value>) -> Answer {
    Answer::Events {
        events,
        pace: Duration::ZERO,
    }
}

#[tokio::test]
async fn a_plain_text_chat_becomes_one_choice_with_usage() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let request = json!({"model": "gpt-5", "messages": [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Say hello"}
    ], "max_tokens": 50, "temperature": 0.1});
    let response = proxy.post("/v1/chat/completions", &request).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["id"], "chatcmpl-resp_mock_1");
    assert_eq!(
        body["choices"],
        json!([{"index": 0, "message": {"role": "assistant", "content": "Hello from the mock.", "refusal": null},
            "logprobs": null, "finish_reason": "stop"}])
    );
    assert_eq!(body["usage"]["prompt_tokens"], 12);
    assert_eq!(body["usage"]["completion_tokens"], 5);
    assert_eq!(body["usage"]["total_tokens"], 17);
    let seen = mock.last_seen().body;
    assert_eq!(seen["instructions"], "Be terse.");
    assert_eq!(
        seen["input"],
        json!([{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello"}]}])
    );
    assert!(seen.get("max_tokens").is_none() && seen.get("temperature").is_none());
}

#[tokio::test]
async fn a_two_step_tool_round_trip_works() {
    let mock = MockBackend::start().await;
    mock.push_answer(events(function_calls(&[(
        "call_1",
        "get_weather",
        r#"{"city":"Paris"}"#,
    )])));
    let proxy = TestProxy::start(&mock).await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let mut messages = vec![json!({"role": "user", "content": "Weather in Paris?"})];
    let first: Value = proxy
        .post(
            "/v1/chat/completions",
            &json!({"model": "gpt-5", "messages": messages, "tools": tools}),
        )
        .await
        .json()
        .await
        .unwrap();
    let message = &first["choices"][0]["message"];
    assert_eq!(first["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        message["tool_calls"],
        json!([{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}])
    );
    assert_eq!(mock.last_seen().body["tools"][0]["name"], "get_weather");

    messages.push(message.clone());
    messages.push(json!({"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"}));
    let second = proxy
        .post(
            "/v1/chat/completions",
            &json!({"model": "gpt-5", "messages": messages, "tools": tools}),
        )
        .await;
    assert_eq!(second.status(), 200);
    let input = &mock.last_seen().body["input"];
    assert_eq!(
        input[1],
        json!({"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"})
    );
    assert_eq!(
        input[2],
        json!({"type": "function_call_output", "call_id": "call_1", "output": "18C and sunny"})
    );
}

#[tokio::test]
async fn parallel_tool_calls_stream_with_their_indexes_and_one_finish_reason() {
    let mock = MockBackend::start().await;
    mock.push_answer(events(function_calls(&[
        ("call_a", "f", r#"{"x":1}"#),
        ("call_b", "g", r#"{"y":2}"#),
    ])));
    let proxy = TestProxy::start(&mock).await;
    let request = json!({"model": "gpt-5", "stream": true, "parallel_tool_calls": true,
        "messages": [{"role": "user", "content": "go"}],
        "tools": [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "g"}}]});
    let text = proxy
        .post("/v1/chat/completions", &request)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let chunks = sse_data(&text);
    let deltas: Vec<&Value> = chunks
        .iter()
        .flat_map(|c| c["choices"].as_array().unwrap())
        .collect();
    let finishes: Vec<&Value> = deltas
        .iter()
        .map(|c| &c["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finishes, vec![&json!("tool_calls")]);
    let calls: Vec<&Value> = deltas
        .iter()
        .filter_map(|c| c["delta"]["tool_calls"].as_array())
        .flatten()
        .collect();
    let firsts: Vec<(u64, &str, &str)> = calls
        .iter()
        .filter(|c| c.get("id").is_some())
        .map(|c| {
            (
                c["index"].as_u64().unwrap(),
                c["id"].as_str().unwrap(),
                c["function"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(firsts, vec![(0, "call_a", "f"), (1, "call_b", "g")]);
    let args = |i: u64| -> String {
        calls
            .iter()
            .filter(|c| c["index"] == i)
            .filter_map(|c| c["function"]["arguments"].as_str())
            .collect()
    };
    assert_eq!(
        (args(0), args(1)),
        (r#"{"x":1}"#.to_owned(), r#"{"y":2}"#.to_owned())
    );
    assert_eq!(mock.last_seen().body["parallel_tool_calls"], true);
}

#[tokio::test]
async fn json_schema_output_is_asked_for_as_text_format() {
    let mock = MockBackend::start().await;
    mock.push_answer(events(mock::text_answer(r#"{"answer":42}"#, 2)));
    let proxy = TestProxy::start(&mock).await;
    let schema = json!({"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]});
    let request = json!({"model": "gpt-5", "messages": [{"role": "user", "content": "?"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "result", "schema": schema, "strict": true}}});
    let body: Value = proxy
        .post("/v1/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], r#"{"answer":42}"#);
    assert_eq!(
        mock.last_seen().body["text"],
        json!({"format": {"type": "json_schema", "name": "result", "schema": schema, "strict": true}})
    );
}

#[tokio::test]
async fn streaming_sends_role_then_content_then_finish_then_usage_then_done() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let request = json!({"model": "gpt-5", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "hi"}]});
    let response = proxy.post("/v1/chat/completions", &request).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let chunks = sse_data(&text);
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"])
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0)?["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello from the mock.");
    let finishes = chunks
        .iter()
        .filter(|c| {
            c["choices"]
                .get(0)
                .is_some_and(|ch| !ch["finish_reason"].is_null())
        })
        .count();
    assert_eq!(finishes, 1);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["total_tokens"], 17);
}

#[tokio::test]
async fn an_upstream_failure_mid_stream_ends_with_a_readable_error_chunk() {
    let mock = MockBackend::start().await;
    let head = mock::text_answer("partial", 1)[..5].to_vec();
    mock.push_answer(Answer::Vanish { events: head });
    let proxy = TestProxy::start(&mock).await;
    let request =
        json!({"model": "gpt-5", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let text = proxy
        .post("/v1/chat/completions", &request)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let chunks = sse_data(&text);
    let error = &chunks.last().unwrap()["error"];
    assert_eq!(error["type"], "upstream_error");
    assert!(
        error["message"].as_str().unwrap().contains("broke"),
        "{error}"
    );
}

#[tokio::test]
async fn a_chat_client_disconnect_cancels_the_upstream_request() {
    let mock = MockBackend::start().await;
    mock.push_answer(Answer::Stall {
        events: mock::text_answer("x", 1)[..3].to_vec(),
    });
    let proxy = TestProxy::start(&mock).await;
    let request =
        json!({"model": "gpt-5", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let mut response = proxy.post("/v1/chat/completions", &request).await;
    response.chunk().await.unwrap().unwrap();
    drop(response);
    wait_until(
        Duration::from_secs(5),
        "the upstream stream to be cancelled",
        || mock.streams_cancelled() == 1,
    )
    .await;
}

#[tokio::test]
async fn more_than_one_choice_is_refused_with_the_reason() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let response = proxy
        .post(
            "/v1/chat/completions",
            &json!({"model": "gpt-5", "n": 2, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("one choice"),
        "{body}"
    );
    assert_eq!(mock.responses_calls(), 0);
}

#[tokio::test]
async fn chat_errors_have_the_same_statuses_as_responses() {
    let mock = MockBackend::start().await;
    let mut failed = mock::text_answer("", 1)[..1].to_vec();
    failed.push(json!({"type": "response.failed", "response": {"error": {"code": "context_length_exceeded", "message": "too long"}}}));
    mock.push_answer(events(failed));
    let proxy = TestProxy::start(&mock).await;
    let response = proxy
        .post(
            "/v1/chat/completions",
            &json!({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "context_length_exceeded"
    );
}
