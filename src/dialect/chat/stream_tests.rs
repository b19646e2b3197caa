//! Unit tests of `stream`, beside it to keep the module short.
use super::*;

fn run(stream: &mut ChunkStream, events: &[Value]) -> Vec<Value> {
    events.iter().flat_map(|e| stream.on_event(e)).collect()
}

fn created() -> Value {
    json!({"type": "response.created",
           "response": {"id": "resp_1", "created_at": 7, "status": "in_progress", "output": []}})
}

/// A chunk of the `resp_1` stream.
fn chunk(delta: Value, finish: Value) -> Value {
    json!({
        "id": "chatcmpl-resp_1",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
    })
}

fn role() -> Value {
    chunk(json!({"role": "assistant", "content": ""}), Value::Null)
}

fn with_null_usage(mut chunk: Value) -> Value {
    chunk["usage"] = Value::Null;
    chunk
}

fn text_delta(i: u64, delta: &str) -> Value {
    json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": i,
           "content_index": 0, "delta": delta})
}

fn completed(response: Value) -> Value {
    json!({"type": "response.completed", "response": response})
}

#[test]
fn text_streams_as_role_then_content_then_one_finish_then_usage() {
    let mut stream = ChunkStream::new("m", true);
    let got = run(
        &mut stream,
        &[
            created(),
            json!({"type": "response.in_progress", "response": {"id": "resp_1"}}),
            json!({"type": "response.output_item.added", "output_index": 0,
                   "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": []}}),
            text_delta(0, "Hel"),
            text_delta(0, "lo"),
            json!({"type": "response.output_item.done", "output_index": 0,
                   "item": {"type": "message", "id": "msg_1", "role": "assistant",
                            "content": [{"type": "output_text", "text": "Hello"}]}}),
            completed(json!({"id": "resp_1", "status": "completed", "output": [],
                             "usage": {"input_tokens": 9, "output_tokens": 2, "total_tokens": 11}})),
        ],
    );
    assert_eq!(
        got,
        vec![
            with_null_usage(role()),
            with_null_usage(chunk(json!({"content": "Hel"}), Value::Null)),
            with_null_usage(chunk(json!({"content": "lo"}), Value::Null)),
            with_null_usage(chunk(json!({}), json!("stop"))),
            json!({
                "id": "chatcmpl-resp_1",
                "object": "chat.completion.chunk",
                "created": 7,
                "model": "m",
                "choices": [],
                "usage": {
                    "prompt_tokens": 9,
                    "completion_tokens": 2,
                    "total_tokens": 11,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                },
            }),
        ]
    );
    assert!(stream.is_finished());
}

#[test]
fn parallel_function_calls_stream_as_tool_calls_indexed_from_zero() {
    let call = |i: u64, id: &str, args: &str| {
        json!({"type": "function_call", "id": format!("fc_{i}"), "call_id": id,
               "name": "weather", "arguments": args})
    };
    let args = |i: u64, delta: &str| {
        json!({"type": "response.function_call_arguments.delta", "output_index": i,
               "item_id": format!("fc_{i}"), "delta": delta})
    };
    let mut stream = ChunkStream::new("m", false);
    let got = run(
        &mut stream,
        &[
            created(),
            json!({"type": "response.output_item.added", "output_index": 1, "item": call(1, "call_a", "")}),
            args(1, "{\"city\":"),
            args(1, "\"Paris\"}"),
            json!({"type": "response.output_item.done", "output_index": 1,
                   "item": call(1, "call_a", "{\"city\":\"Paris\"}")}),
            json!({"type": "response.output_item.added", "output_index": 2, "item": call(2, "call_b", "")}),
            args(2, "{\"city\":\"Rome\"}"),
            json!({"type": "response.output_item.done", "output_index": 2,
                   "item": call(2, "call_b", "{\"city\":\"Rome\"}")}),
            completed(json!({"id": "resp_1", "status": "completed", "output": []})),
        ],
    );
    let start = |index: u64, id: &str| {
        chunk(
            json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                                   "function": {"name": "weather", "arguments": ""}}]}),
            Value::Null,
        )
    };
    let more = |index: u64, arguments: &str| {
        chunk(
            json!({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]}),
            Value::Null,
        )
    };
    assert_eq!(
        got,
        vec![
            role(),
            start(0, "call_a"),
            more(0, "{\"city\":"),
            more(0, "\"Paris\"}"),
            start(1, "call_b"),
            more(1, "{\"city\":\"Rome\"}"),
            chunk(json!({}), json!("tool_calls")),
        ]
    );
}

#[test]
fn arguments_that_only_come_with_the_finished_item_are_sent_once() {
    let item =
        json!({"type": "function_call", "call_id": "call_1", "name": "now", "arguments": "{}"});
    let mut stream = ChunkStream::new("m", false);
    let got = run(
        &mut stream,
        &[
            created(),
            json!({"type": "response.output_item.added", "output_index": 0,
                   "item": {"type": "function_call", "call_id": "call_1", "name": "now", "arguments": ""}}),
            json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
            json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        ],
    );
    assert_eq!(
        got,
        vec![
            role(),
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                       "function": {"name": "now", "arguments": ""}}]}),
                Value::Null
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
                Value::Null
            ),
        ]
    );
}

#[test]
fn finish_reason_is_sent_exactly_once() {
    let mut stream = ChunkStream::new("m", false);
    let done = completed(json!({"id": "resp_1", "status": "completed"}));
    let mut got = run(
        &mut stream,
        &[created(), text_delta(0, "Hi"), done.clone(), done],
    );
    got.extend(stream.on_upstream_failure("stream closed"));
    got.extend(stream.on_event(&text_delta(0, "late")));
    assert_eq!(
        got,
        vec![
            role(),
            chunk(json!({"content": "Hi"}), Value::Null),
            chunk(json!({}), json!("stop")),
        ]
    );
}

#[test]
fn incomplete_for_max_output_tokens_finishes_with_length() {
    let mut stream = ChunkStream::new("m", false);
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
            role(),
            chunk(json!({"content": "Once upon"}), Value::Null),
            chunk(json!({}), json!("length")),
        ]
    );
}

#[test]
fn reasoning_summary_deltas_become_reasoning_content_with_parts_separated() {
    let summary = |s: u64, delta: &str| {
        json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_1",
               "output_index": 0, "summary_index": s, "delta": delta})
    };
    let mut stream = ChunkStream::new("m", false);
    let got = run(
        &mut stream,
        &[
            created(),
            summary(0, "Plan"),
            summary(0, " it."),
            summary(1, "Do it."),
        ],
    );
    assert_eq!(
        got,
        vec![
            role(),
            chunk(json!({"reasoning_content": "Plan"}), Value::Null),
            chunk(json!({"reasoning_content": " it."}), Value::Null),
            chunk(json!({"reasoning_content": "\n\nDo it."}), Value::Null),
        ]
    );
}

#[test]
fn a_message_without_text_deltas_is_sent_whole_when_it_finishes() {
    let mut stream = ChunkStream::new("m", false);
    let got = run(
        &mut stream,
        &[
            created(),
            json!({"type": "response.output_item.done", "output_index": 0,
                   "item": {"type": "message", "role": "assistant",
                            "content": [{"type": "output_text", "text": "Whole"}]}}),
        ],
    );
    assert_eq!(
        got,
        vec![role(), chunk(json!({"content": "Whole"}), Value::Null)]
    );
}

#[test]
fn upstream_failure_mid_stream_ends_with_an_error_chunk() {
    let mut stream = ChunkStream::new("m", true);
    let got = run(
        &mut stream,
        &[
            created(),
            text_delta(0, "Par"),
            json!({"type": "response.failed", "response": {"id": "resp_1", "status": "failed",
                   "error": {"code": "server_is_overloaded", "message": "Our servers are busy."}}}),
            completed(json!({"id": "resp_1", "status": "completed"})),
        ],
    );
    assert_eq!(
        got,
        vec![
            with_null_usage(role()),
            with_null_usage(chunk(json!({"content": "Par"}), Value::Null)),
            json!({"error": {"message": "Our servers are busy.", "type": "upstream_error",
                             "code": "server_is_overloaded"}}),
        ]
    );
    assert!(stream.is_finished());

    let mut stream = ChunkStream::new("m", false);
    let got = run(
        &mut stream,
        &[json!({"type": "error", "code": "context_length_exceeded", "message": "Too long."})],
    );
    assert_eq!(
        got,
        vec![
            json!({"error": {"message": "Too long.", "type": "invalid_request_error",
                              "code": "context_length_exceeded"}})
        ]
    );

    let mut stream = ChunkStream::new("m", false);
    let mut got = run(&mut stream, &[created()]);
    got.extend(stream.on_upstream_failure("stream closed before response.completed"));
    got.extend(stream.on_upstream_failure("again"));
    assert_eq!(
        got,
        vec![
            role(),
            json!({"error": {"message": "stream closed before response.completed",
                             "type": "upstream_error", "code": "bad_gateway"}}),
        ]
    );
}

#[test]
fn chunks_share_a_generated_id_when_the_response_id_never_came() {
    let mut stream = ChunkStream::new("m", false);
    let got = run(&mut stream, &[text_delta(0, "a"), completed(json!({}))]);
    assert_eq!(got.len(), 3);
    let first = &got[0];
    assert!(
        first["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-"))
    );
    assert!(
        got.iter()
            .all(|c| c["id"] == first["id"] && c["created"] == first["created"])
    );
}

#[test]
fn chunks_are_framed_as_unnamed_data_events() {
    assert_eq!(
        sse_data(&json!({"a": 1})),
        Bytes::from_static(b"data: {\"a\":1}\n\n")
    );
    assert_eq!(DONE, b"data: [DONE]\n\n");
}
