use http::StatusCode;

use super::*;
use crate::dialect::messages::signature;

/// The data of each event, after checking that its name matches its `type`.
fn data(events: Vec<SseEvent>) -> Vec<Value> {
    events
        .into_iter()
        .map(|e| {
            assert_eq!(e.data["type"], e.name.as_str(), "{e:?}");
            e.data
        })
        .collect()
}

fn run(stream: &mut StreamTranslator, events: &[Value]) -> Vec<Value> {
    data(events.iter().flat_map(|e| stream.on_event(e)).collect())
}

fn created() -> Value {
    json!({"type": "response.created",
           "response": {"id": "resp_1", "status": "in_progress", "output": []}})
}

fn message_start() -> Value {
    json!({"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-opus-5-5",
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 0, "output_tokens": 0,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    }})
}

fn start(index: u64, block: Value) -> Value {
    json!({"type": "content_block_start", "index": index, "content_block": block})
}

fn delta(index: u64, delta: Value) -> Value {
    json!({"type": "content_block_delta", "index": index, "delta": delta})
}

fn stop(index: u64) -> Value {
    json!({"type": "content_block_stop", "index": index})
}

fn message_delta(stop_reason: &str, usage: Value) -> Value {
    json!({"type": "message_delta",
           "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": usage})
}

fn message_stop() -> Value {
    json!({"type": "message_stop"})
}

fn zero_usage() -> Value {
    json!({"input_tokens": 0, "output_tokens": 0,
           "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
}

fn text_delta(i: u64, text: &str) -> Value {
    json!({"type": "response.output_text.delta", "item_id": "msg_a", "output_index": i,
           "content_index": 0, "delta": text})
}

fn completed() -> Value {
    json!({"type": "response.completed", "response": {"id": "resp_1", "status": "completed",
           "output": []}})
}

fn call(i: u64, id: &str, arguments: &str) -> Value {
    json!({"type": "function_call", "id": format!("fc_{i}"), "call_id": id,
           "name": "weather", "arguments": arguments})
}

fn item_event(kind: &str, i: u64, item: Value) -> Value {
    json!({"type": kind, "output_index": i, "item": item})
}

fn arguments(i: u64, delta: &str) -> Value {
    json!({"type": "response.function_call_arguments.delta", "output_index": i,
           "item_id": format!("fc_{i}"), "delta": delta})
}

#[test]
fn text_streams_as_one_block_between_message_start_and_message_stop() {
    let mut stream = StreamTranslator::new("claude-opus-5-5", ToolNames::default());
    let message = json!({"type": "message", "id": "msg_a", "role": "assistant", "content": []});
    let got = run(
        &mut stream,
        &[
            created(),
            json!({"type": "response.in_progress", "response": {"id": "resp_1"}}),
            item_event("response.output_item.added", 0, message),
            json!({"type": "response.content_part.added", "output_index": 0, "content_index": 0,
                   "part": {"type": "output_text", "text": ""}}),
            text_delta(0, "Hel"),
            text_delta(0, "lo"),
            json!({"type": "response.output_text.done", "output_index": 0, "content_index": 0,
                   "text": "Hello"}),
            item_event(
                "response.output_item.done",
                0,
                json!({"type": "message", "role": "assistant",
                       "content": [{"type": "output_text", "text": "Hello"}]}),
            ),
            json!({"type": "response.completed", "response": {"id": "resp_1", "status": "completed",
                   "usage": {"input_tokens": 30, "input_tokens_details": {"cached_tokens": 20},
                             "output_tokens": 2, "total_tokens": 32}}}),
        ],
    );
    assert_eq!(
        got,
        vec![
            message_start(),
            start(0, json!({"type": "text", "text": ""})),
            delta(0, json!({"type": "text_delta", "text": "Hel"})),
            delta(0, json!({"type": "text_delta", "text": "lo"})),
            stop(0),
            message_delta(
                "end_turn",
                json!({"input_tokens": 10, "output_tokens": 2,
                       "cache_creation_input_tokens": 0, "cache_read_input_tokens": 20})
            ),
            message_stop(),
        ]
    );
    assert!(stream.is_finished());
    assert_eq!(stream.on_event(&text_delta(0, "late")), vec![]);
}

#[test]
fn thinking_then_parallel_tool_calls_get_dense_indices_and_a_signature() {
    let summary = |s: u64, text: &str| {
        json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_1",
               "output_index": 0, "summary_index": s, "delta": text})
    };
    let reasoning = json!({"type": "reasoning", "id": "rs_1", "encrypted_content": "gAAA",
                           "summary": [{"type": "summary_text", "text": "Plan it."},
                                       {"type": "summary_text", "text": "Do it."}]});
    let mut stream = StreamTranslator::new("claude-opus-5-5", ToolNames::default());
    let got = run(
        &mut stream,
        &[
            created(),
            item_event(
                "response.output_item.added",
                0,
                json!({"type": "reasoning", "id": "rs_1", "summary": []}),
            ),
            summary(0, "Plan"),
            summary(0, " it."),
            summary(1, "Do it."),
            item_event("response.output_item.done", 0, reasoning),
            item_event("response.output_item.added", 1, call(1, "call_a", "")),
            arguments(1, "{\"city\":"),
            arguments(1, "\"Paris\"}"),
            item_event(
                "response.output_item.done",
                1,
                call(1, "call_a", "{\"city\":\"Paris\"}"),
            ),
            item_event("response.output_item.added", 2, call(2, "call_b", "")),
            arguments(2, "{\"city\":\"Rome\"}"),
            item_event(
                "response.output_item.done",
                2,
                call(2, "call_b", "{\"city\":\"Rome\"}"),
            ),
            completed(),
        ],
    );
    let tool = |id: &str| json!({"type": "tool_use", "id": id, "name": "weather", "input": {}});
    let json_delta = |s: &str| json!({"type": "input_json_delta", "partial_json": s});
    assert_eq!(
        got,
        vec![
            message_start(),
            start(
                0,
                json!({"type": "thinking", "thinking": "", "signature": ""})
            ),
            delta(0, json!({"type": "thinking_delta", "thinking": "Plan"})),
            delta(0, json!({"type": "thinking_delta", "thinking": " it."})),
            delta(
                0,
                json!({"type": "thinking_delta", "thinking": "\n\nDo it."})
            ),
            delta(
                0,
                json!({"type": "signature_delta", "signature": signature::encode("rs_1", "gAAA")})
            ),
            stop(0),
            start(1, tool("call_a")),
            delta(1, json_delta("{\"city\":")),
            delta(1, json_delta("\"Paris\"}")),
            stop(1),
            start(2, tool("call_b")),
            delta(2, json_delta("{\"city\":\"Rome\"}")),
            stop(2),
            message_delta("tool_use", zero_usage()),
            message_stop(),
        ]
    );
}

#[test]
fn what_came_only_with_a_finished_item_is_sent_once() {
    let mut stream = StreamTranslator::new("claude-opus-5-5", ToolNames::default());
    let got = run(
        &mut stream,
        &[
            created(),
            // Reasoning the client did not ask to see: no block at all.
            item_event(
                "response.output_item.done",
                0,
                json!({"type": "reasoning", "id": "rs_0", "summary": []}),
            ),
            // Thinking with `display: "omitted"`: a signature and no text.
            item_event(
                "response.output_item.done",
                1,
                json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "e"}),
            ),
            item_event(
                "response.output_item.done",
                2,
                json!({"type": "message", "role": "assistant",
                       "content": [{"type": "output_text", "text": "Whole"}]}),
            ),
            item_event("response.output_item.added", 3, call(3, "call_1", "")),
            item_event("response.output_item.done", 3, call(3, "call_1", "{}")),
            item_event("response.output_item.done", 3, call(3, "call_1", "{}")),
            completed(),
        ],
    );
    assert_eq!(
        got,
        vec![
            message_start(),
            start(
                0,
                json!({"type": "thinking", "thinking": "", "signature": ""})
            ),
            delta(
                0,
                json!({"type": "signature_delta", "signature": signature::encode("rs_1", "e")})
            ),
            stop(0),
            start(1, json!({"type": "text", "text": ""})),
            delta(1, json!({"type": "text_delta", "text": "Whole"})),
            stop(1),
            start(
                2,
                json!({"type": "tool_use", "id": "call_1", "name": "weather", "input": {}})
            ),
            delta(2, json!({"type": "input_json_delta", "partial_json": "{}"})),
            stop(2),
            message_delta("tool_use", zero_usage()),
            message_stop(),
        ]
    );
}

#[test]
fn a_renamed_tool_streams_with_the_clients_name() {
    let long = "mcp__".to_string() + &"x".repeat(70);
    let request = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                         "tools": [{"name": long, "input_schema": {"type": "object"}}]});
    let translated = crate::dialect::messages::translate_request(
        request,
        &Default::default(),
        &Default::default(),
    )
    .unwrap();
    let short = translated.body["tools"][0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = StreamTranslator::new("m", translated.tool_names);
    let item = json!({"type": "function_call", "call_id": "c1", "name": short, "arguments": ""});
    let got = run(
        &mut stream,
        &[item_event("response.output_item.added", 0, item)],
    );
    assert_eq!(
        got[1],
        start(
            0,
            json!({"type": "tool_use", "id": "c1", "name": long, "input": {}})
        )
    );
}

#[test]
fn an_answer_cut_by_the_output_limit_stops_with_max_tokens() {
    let mut stream = StreamTranslator::new("claude-opus-5-5", ToolNames::default());
    let got = run(
        &mut stream,
        &[
            created(),
            text_delta(0, "Once upon"),
            json!({"type": "response.incomplete", "response": {
                "id": "resp_1", "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"}}}),
        ],
    );
    assert_eq!(
        got,
        vec![
            message_start(),
            start(0, json!({"type": "text", "text": ""})),
            delta(0, json!({"type": "text_delta", "text": "Once upon"})),
            stop(0),
            message_delta("max_tokens", zero_usage()),
            message_stop(),
        ]
    );
}

#[test]
fn a_web_search_streams_as_a_server_tool_use_and_its_result() {
    let mut stream = StreamTranslator::new("claude-opus-5-5", ToolNames::default());
    let got = run(
        &mut stream,
        &[
            created(),
            item_event(
                "response.output_item.added",
                0,
                json!({"type": "web_search_call", "id": "ws_1", "status": "in_progress"}),
            ),
            item_event(
                "response.output_item.done",
                0,
                json!({"type": "web_search_call", "id": "ws_1", "status": "completed",
                       "action": {"type": "search", "query": "news"}}),
            ),
            text_delta(1, "Here."),
            completed(),
        ],
    );
    assert_eq!(
        got,
        vec![
            message_start(),
            start(
                0,
                json!({"type": "server_tool_use", "id": "srvtoolu_ws_1", "name": "web_search",
                       "input": {}})
            ),
            delta(
                0,
                json!({"type": "input_json_delta", "partial_json": "{\"query\":\"news\"}"})
            ),
            stop(0),
            start(
                1,
                json!({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_ws_1",
                       "content": []})
            ),
            stop(1),
            start(2, json!({"type": "text", "text": ""})),
            delta(2, json!({"type": "text_delta", "text": "Here."})),
            stop(2),
            message_delta(
                "end_turn",
                json!({"input_tokens": 0, "output_tokens": 0,
                       "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                       "server_tool_use": {"web_search_requests": 1}})
            ),
            message_stop(),
        ]
    );
}

#[test]
fn an_upstream_failure_ends_the_stream_with_one_error_event() {
    let mut stream = StreamTranslator::new("claude-opus-5-5", ToolNames::default());
    let got = run(
        &mut stream,
        &[
            created(),
            text_delta(0, "Par"),
            json!({"type": "response.failed", "response": {"id": "resp_1", "status": "failed",
                   "error": {"code": "server_is_overloaded", "message": "Our servers are busy."}}}),
            completed(),
        ],
    );
    assert_eq!(
        got,
        vec![
            message_start(),
            start(0, json!({"type": "text", "text": ""})),
            delta(0, json!({"type": "text_delta", "text": "Par"})),
            json!({"type": "error",
                   "error": {"type": "overloaded_error", "message": "Our servers are busy."}}),
        ]
    );
    assert!(stream.is_finished());

    let mut stream = StreamTranslator::new("m", ToolNames::default());
    let got = run(
        &mut stream,
        &[json!({"type": "error", "code": "context_length_exceeded", "message": "Too long."})],
    );
    assert_eq!(
        got,
        vec![json!({"type": "error",
                    "error": {"type": "invalid_request_error", "message": "Too long."}})]
    );

    let mut stream = StreamTranslator::new("claude-opus-5-5", ToolNames::default());
    let mut got = run(&mut stream, &[created()]);
    let broke = MessagesError::from_status(StatusCode::BAD_GATEWAY, None, "stream closed");
    got.extend(data(stream.finish_with_error(&broke)));
    got.extend(data(stream.finish_with_error(&broke)));
    got.extend(data(stream.ping()));
    assert_eq!(
        got,
        vec![
            message_start(),
            json!({"type": "error", "error": {"type": "api_error", "message": "stream closed"}}),
        ]
    );
}

#[test]
fn a_ping_comes_after_message_start_and_never_after_the_end() {
    let mut stream = StreamTranslator::new("claude-opus-5-5", ToolNames::default());
    let mut got = data(stream.ping());
    got.extend(run(&mut stream, &[created()]));
    got.extend(data(stream.ping()));
    got.extend(run(&mut stream, &[completed()]));
    got.extend(data(stream.ping()));
    let ping = json!({"type": "ping"});
    let mut first = message_start();
    // The response id was not known yet when the first ping went out.
    let id = got[0]["message"]["id"].clone();
    assert!(id.as_str().is_some_and(|id| id.starts_with("msg_")));
    first["message"]["id"] = id;
    assert_eq!(
        got,
        vec![
            first,
            ping.clone(),
            ping,
            message_delta("end_turn", zero_usage()),
            message_stop(),
        ]
    );
}

#[test]
fn an_event_is_framed_with_its_name_and_data() {
    let event = SseEvent::new(EventName::ContentBlockStop, json!({"index": 0}));
    assert_eq!(
        event.to_bytes(),
        Bytes::from_static(
            b"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        )
    );
}
