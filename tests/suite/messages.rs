//! `/v1/messages` end to end through the mock backend: Anthropic's Messages
//! API for Claude Code and the Anthropic SDKs. Text and tools here; thinking
//! and images in `messages/content.rs`; errors, the client's leaving and the
//! proxy's own refusals in `messages/errors.rs`; what real clients send in
//! `messages/clients.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "messages/clients.rs"]
mod clients;
use crate::common;
#[path = "messages/content.rs"]
mod content;
#[path = "messages/errors.rs"]
mod errors;

use std::time::Duration;

use common::{Answer, MockBackend, TestProxy};
use serde_json::{Value, json};

/// The events of a streamed answer, as `(event name, data)`.
fn anthropic_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let field = |name: &str| {
                frame
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::trim_start)
                    .unwrap_or_else(|| panic!("no {name} in {frame:?}"))
            };
            let data: Value = serde_json::from_str(field("data:")).unwrap();
            assert_eq!(data["type"], field("event:"), "{frame}");
            (field("event:").to_owned(), data)
        })
        .collect()
}

fn events(events: Vec<Value>) -> Answer {
    Answer::Events {
        events,
        pace: Duration::ZERO,
    }
}

fn response(status: &str) -> Value {
    json!({"id": "resp_calls", "object": "response", "created_at": 1_763_900_000,
           "status": status, "model": "gpt-5", "output": []})
}

fn completed_with_usage() -> Value {
    let mut done = response("completed");
    done["usage"] = json!({"input_tokens": 30, "input_tokens_details": {"cached_tokens": 10},
        "output_tokens": 8, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 38});
    json!({"type": "response.completed", "response": done})
}

/// An answer calling each `(call_id, name, arguments)`, the arguments
/// streamed in two halves, as the backend does.
fn function_calls(calls: &[(&str, &str, &str)]) -> Vec<Value> {
    let mut events = vec![json!({"type": "response.created", "response": response("in_progress")})];
    for (i, (call_id, name, args)) in calls.iter().enumerate() {
        let item = |arguments: &str, status: &str| {
            json!({"type": "function_call", "id": format!("fc_{i}"), "call_id": call_id,
                   "name": name, "arguments": arguments, "status": status})
        };
        events.push(json!({"type": "response.output_item.added", "output_index": i, "item": item("", "in_progress")}));
        let (a, b) = args.split_at(args.len() / 2);
        for piece in [a, b] {
            events.push(
                json!({"type": "response.function_call_arguments.delta", "output_index": i,
                               "item_id": format!("fc_{i}"), "delta": piece}),
            );
        }
        events.push(json!({"type": "response.output_item.done", "output_index": i, "item": item(args, "completed")}));
    }
    events.push(completed_with_usage());
    events
}

const WEATHER_TOOL: &str = "get_weather";

fn weather_tool() -> Value {
    json!({"name": WEATHER_TOOL, "description": "The weather in a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}})
}

/// POSTs `body` to `/v1/messages` and reads the JSON answer.
async fn create(proxy: &TestProxy, body: &Value) -> (u16, Value) {
    let response = proxy.post("/v1/messages", body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_text_answer_is_collected_into_one_message() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let request = json!({"model": "claude-sonnet-4-5", "max_tokens": 1024, "temperature": 0.2,
        "system": "Be terse.", "messages": [{"role": "user", "content": "Say hello"}]});
    let (status, message) = create(&proxy, &request).await;
    assert_eq!(status, 200);
    assert_eq!(
        message,
        json!({"id": "msg_mock_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "Hello from the mock."}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 12, "output_tokens": 5,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}})
    );
    // A sonnet name is the backend's first model at medium effort.
    assert_eq!(
        mock.last_seen().body,
        json!({"model": "gpt-5", "instructions": "Be terse.",
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello"}]}],
            "reasoning": {"effort": "medium"}, "store": false, "stream": true})
    );
}

#[tokio::test]
async fn a_streamed_text_answer_follows_anthropics_event_grammar() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let request = json!({"model": "gpt-5", "max_tokens": 1024, "stream": true,
        "messages": [{"role": "user", "content": "Say hello"}]});
    let response = proxy.post("/v1/messages", &request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-codex-primary-used-percent"], "12");
    let events = anthropic_events(&response.text().await.unwrap());
    let delta = |text: &str| {
        (
            "content_block_delta".to_owned(),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        )
    };
    let named = |name: &str, data: Value| (name.to_owned(), data);
    assert_eq!(
        events,
        vec![
            named(
                "message_start",
                json!({"type": "message_start", "message": {
                "id": "msg_mock_1", "type": "message", "role": "assistant", "model": "gpt-5",
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}})
            ),
            named(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}})
            ),
            delta("Hello"),
            delta(" from"),
            delta(" the "),
            delta("mock."),
            named(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0})
            ),
            named(
                "message_delta",
                json!({"type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"input_tokens": 12, "output_tokens": 5,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}})
            ),
            named("message_stop", json!({"type": "message_stop"})),
        ]
    );
}

#[tokio::test]
async fn a_two_step_tool_round_trip_carries_the_call_and_its_result() {
    let mock = MockBackend::start().await;
    mock.push_answer(events(function_calls(&[(
        "call_1",
        WEATHER_TOOL,
        r#"{"city":"Paris"}"#,
    )])));
    let proxy = TestProxy::start(&mock).await;
    let mut messages = vec![json!({"role": "user", "content": "Weather in Paris?"})];
    let request = |messages: &[Value]| json!({"model": "gpt-5", "max_tokens": 1024, "tools": [weather_tool()], "messages": messages});
    let (status, first) = create(&proxy, &request(&messages)).await;
    assert_eq!(status, 200);
    assert_eq!(first["stop_reason"], "tool_use");
    assert_eq!(
        first["content"],
        json!([{"type": "tool_use", "id": "call_1", "name": WEATHER_TOOL, "input": {"city": "Paris"}}])
    );
    assert_eq!(
        first["usage"],
        json!({"input_tokens": 20, "output_tokens": 8,
               "cache_creation_input_tokens": 0, "cache_read_input_tokens": 10})
    );
    let sent = mock.last_seen().body;
    assert_eq!(
        (
            &sent["tools"],
            &sent["tool_choice"],
            &sent["parallel_tool_calls"]
        ),
        (
            &json!([{"type": "function", "name": WEATHER_TOOL, "description": "The weather in a city.",
                     "parameters": weather_tool()["input_schema"], "strict": false}]),
            &json!("auto"),
            &json!(true)
        )
    );

    messages.push(json!({"role": "assistant", "content": first["content"]}));
    messages.push(json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "18C and sunny"}]}));
    let (status, second) = create(&proxy, &request(&messages)).await;
    assert_eq!((status, &second["stop_reason"]), (200, &json!("end_turn")));
    assert_eq!(
        mock.last_seen().body["input"],
        json!([
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
            {"type": "function_call", "call_id": "call_1", "name": WEATHER_TOOL, "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C and sunny"},
        ])
    );
}

#[tokio::test]
async fn parallel_tool_calls_stream_as_dense_blocks_with_their_arguments() {
    let mock = MockBackend::start().await;
    mock.push_answer(events(function_calls(&[
        ("call_a", "f", r#"{"x":1}"#),
        ("call_b", "g", r#"{"y":2}"#),
    ])));
    let proxy = TestProxy::start(&mock).await;
    let no_params = json!({"type": "object", "properties": {}});
    let request = json!({"model": "gpt-5", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "go"}],
        "tools": [{"name": "f", "input_schema": no_params}, {"name": "g", "input_schema": no_params}]});
    let text = proxy
        .post("/v1/messages", &request)
        .await
        .text()
        .await
        .unwrap();
    let events = anthropic_events(&text);
    let blocks: Vec<Value> = events[1..events.len() - 2]
        .iter()
        .map(|(_, d)| d.clone())
        .collect();
    let start = |index: u64, id: &str, name: &str| {
        json!({"type": "content_block_start", "index": index,
               "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}})
    };
    let part = |index: u64, json: &str| {
        json!({"type": "content_block_delta", "index": index,
               "delta": {"type": "input_json_delta", "partial_json": json}})
    };
    let stop = |index: u64| json!({"type": "content_block_stop", "index": index});
    assert_eq!(
        blocks,
        vec![
            start(0, "call_a", "f"),
            part(0, "{\"x"),
            part(0, "\":1}"),
            stop(0),
            start(1, "call_b", "g"),
            part(1, "{\"y"),
            part(1, "\":2}"),
            stop(1),
        ]
    );
    assert_eq!(
        events[events.len() - 2].1["delta"]["stop_reason"],
        "tool_use"
    );
    assert_eq!(mock.last_seen().body["parallel_tool_calls"], true);
}

#[tokio::test]
async fn count_tokens_estimates_locally_without_calling_the_backend() {
    use codex_responses_proxy::dialect::messages::{Catalogue, ModelMap, count_tokens};
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let request = json!({"model": "claude-opus-5-5", "system": "Be brief.",
        "messages": [{"role": "user", "content": "Say hello to the whole world."}],
        "tools": [weather_tool()]});
    let response = proxy.post("/v1/messages/count_tokens", &request).await;
    assert_eq!(response.status(), 200);
    let counted: Value = response.json().await.unwrap();
    let expected = count_tokens(request, &ModelMap::default(), &Catalogue::default()).unwrap();
    assert_eq!(counted, expected);
    assert!(counted["input_tokens"].as_u64().unwrap() > 20, "{counted}");
    assert_eq!(mock.responses_calls(), 0);
    assert_eq!(
        mock.state
            .models_calls
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[tokio::test]
async fn claude_names_map_to_the_backends_models_or_to_the_configured_ones() {
    let mock = MockBackend::start().await;
    let default = TestProxy::start(&mock).await;
    let ask = |model: &str| json!({"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    let sent = |mock: &MockBackend| {
        let body = mock.last_seen().body;
        (
            body["model"].as_str().unwrap().to_owned(),
            body["reasoning"]["effort"].clone(),
        )
    };
    let cases = [
        ("claude-opus-5-5", "gpt-5", json!("high")),
        ("claude-haiku-4-5", "gpt-5", json!("low")),
        ("gpt-5-codex", "gpt-5-codex", Value::Null),
    ];
    for (asked, model, effort) in cases {
        assert_eq!(create(&default, &ask(asked)).await.0, 200, "{asked}");
        assert_eq!(sent(&mock), (model.to_owned(), effort), "{asked}");
    }
    let configured = TestProxy::start_with(&mock, |c| {
        c.anthropic_models.0.insert(
            "claude-opus-*".into(),
            "gpt-5-codex:high".to_owned().try_into().unwrap(),
        );
    })
    .await;
    let (status, message) = create(&configured, &ask("claude-opus-5-5")).await;
    assert_eq!(
        (status, &message["model"]),
        (200, &json!("claude-opus-5-5"))
    );
    assert_eq!(sent(&mock), ("gpt-5-codex".to_owned(), json!("high")));
}
