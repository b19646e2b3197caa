//! Unit tests of `request`, beside it to keep the module short.
use super::*;

fn translate(chat: Value) -> Translated {
    match to_responses(chat) {
        Ok(translated) => translated,
        Err(e) => panic!("refused: {e}"),
    }
}

fn body(chat: Value) -> Value {
    Value::Object(translate(chat).body)
}

fn refusal(chat: Value) -> ApiError {
    match to_responses(chat) {
        Ok(translated) => panic!("accepted: {translated:?}"),
        Err(e) => e,
    }
}

fn error(chat: Value) -> String {
    refusal(chat).message
}

#[test]
fn plain_text_becomes_a_streaming_unstored_request_with_list_input() {
    let got = translate(json!({
        "model": "gpt-5",
        "messages": [{"role": "user", "content": "Hi"}],
    }));
    assert_eq!(
        got,
        Translated {
            body: Map::from_iter([
                ("model".into(), json!("gpt-5")),
                (
                    "input".into(),
                    json!([{"type": "message", "role": "user",
                           "content": [{"type": "input_text", "text": "Hi"}]}])
                ),
                ("store".into(), json!(false)),
                ("stream".into(), json!(true)),
            ]),
            stream: false,
            include_usage: false,
            model: "gpt-5".into(),
            dropped: vec![],
        }
    );
}

#[test]
fn system_and_developer_messages_are_joined_into_instructions_in_order() {
    let got = body(json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "developer", "content": [
                {"type": "text", "text": "Use French."},
                {"type": "text", "text": "No emoji."},
            ]},
        ],
    }));
    assert_eq!(
        got,
        json!({
            "model": "m",
            "instructions": "Be brief.\n\nUse French.\n\nNo emoji.",
            "input": [{"type": "message", "role": "user",
                       "content": [{"type": "input_text", "text": "Hi"}]}],
            "store": false,
            "stream": true,
        })
    );
}

#[test]
fn image_parts_become_input_images_with_their_detail() {
    let got = body(json!({
        "model": "m",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ]}],
    }));
    assert_eq!(
        got,
        json!({
            "model": "m",
            "input": [{"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "low"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
            ]}],
            "store": false,
            "stream": true,
        })
    );
}

#[test]
fn assistant_tool_calls_become_function_call_items_with_the_same_call_id() {
    let got = body(json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "assistant", "content": "It is 18C."},
        ],
        "tools": [{"type": "function", "function": {
            "name": "weather", "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }}],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "parallel_tool_calls": false,
    }));
    assert_eq!(
        got,
        json!({
            "model": "m",
            "input": [
                {"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
                {"type": "function_call", "call_id": "call_1", "name": "weather",
                 "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
                {"type": "message", "role": "assistant",
                 "content": [{"type": "output_text", "text": "It is 18C."}]},
            ],
            "tools": [{"type": "function", "name": "weather", "description": "Current weather",
                       "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                       "strict": false}],
            "tool_choice": {"type": "function", "name": "weather"},
            "parallel_tool_calls": false,
            "store": false,
            "stream": true,
        })
    );
}

#[test]
fn assistant_text_comes_before_its_parallel_tool_calls() {
    let got = body(json!({
        "model": "m",
        "messages": [
            {"role": "assistant", "content": "Checking both.", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "b", "type": "function", "function": {"name": "g", "arguments": {"x": 1}}},
            ]},
            {"role": "tool", "tool_call_id": "a", "content": [{"type": "text", "text": "one"}]},
            {"role": "tool", "tool_call_id": "b", "content": "two"},
        ],
        "tool_choice": "required",
    }));
    assert_eq!(
        got,
        json!({
            "model": "m",
            "input": [
                {"type": "message", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Checking both."}]},
                {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "b", "name": "g", "arguments": "{\"x\":1}"},
                {"type": "function_call_output", "call_id": "a", "output": "one"},
                {"type": "function_call_output", "call_id": "b", "output": "two"},
            ],
            "tool_choice": "required",
            "store": false,
            "stream": true,
        })
    );
}

#[test]
fn json_schema_response_format_becomes_text_format() {
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}},
                        "required": ["n"], "additionalProperties": false});
    let got = body(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "Pick"}],
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "pick", "schema": schema, "strict": true,
        }},
        "verbosity": "low",
    }));
    assert_eq!(
        got,
        json!({
            "model": "m",
            "input": [{"type": "message", "role": "user",
                       "content": [{"type": "input_text", "text": "Pick"}]}],
            "text": {
                "format": {"type": "json_schema", "name": "pick", "schema": schema, "strict": true},
                "verbosity": "low",
            },
            "store": false,
            "stream": true,
        })
    );
    let got = body(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "Pick"}],
        "response_format": {"type": "json_object"},
    }));
    assert_eq!(got["text"], json!({"format": {"type": "json_object"}}));
}

#[test]
fn reasoning_effort_asks_for_summaries() {
    let got = translate(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "Think"}],
        "reasoning_effort": "high",
        "stream": true,
        "stream_options": {"include_usage": true},
        "prompt_cache_key": "conv-1",
    }));
    assert!(got.stream && got.include_usage);
    assert_eq!(
        Value::Object(got.body),
        json!({
            "model": "m",
            "input": [{"type": "message", "role": "user",
                       "content": [{"type": "input_text", "text": "Think"}]}],
            "prompt_cache_key": "conv-1",
            "reasoning": {"effort": "high", "summary": "auto"},
            "store": false,
            "stream": true,
        })
    );
}

#[test]
fn more_than_one_choice_is_rejected() {
    assert_eq!(
        error(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2})),
        "`n` is 2, but only one choice per request is supported"
    );
    assert!(
        to_responses(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 1}))
            .is_ok()
    );
}

#[test]
fn unsupported_fields_are_dropped_and_listed() {
    let got = translate(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 10, "max_completion_tokens": 10, "temperature": 0.2, "top_p": 1,
        "logprobs": true, "top_logprobs": 2, "frequency_penalty": 0.1, "presence_penalty": 0.1,
        "seed": 7, "stop": ["\n"], "logit_bias": {"1": 2}, "modalities": ["text"],
        "metadata": {"a": "b"}, "user": "u1", "store": true, "tools": null,
    }));
    assert_eq!(
        got.dropped,
        [
            "max_tokens",
            "max_completion_tokens",
            "temperature",
            "top_p",
            "logprobs",
            "top_logprobs",
            "frequency_penalty",
            "presence_penalty",
            "seed",
            "stop",
            "logit_bias",
            "modalities",
            "metadata",
            "user",
            "store",
        ]
    );
    assert_eq!(
        Value::Object(got.body),
        json!({
            "model": "m",
            "input": [{"type": "message", "role": "user",
                       "content": [{"type": "input_text", "text": "x"}]}],
            "store": false,
            "stream": true,
        })
    );
}

#[test]
fn malformed_requests_get_a_message_naming_the_field() {
    let user = json!([{"role": "user", "content": "x"}]);
    let cases = [
        (json!([1]), "the request body must be a JSON object"),
        (json!({"messages": user}), "`model` is required"),
        (
            json!({"model": 1, "messages": user}),
            "`model` must be a string",
        ),
        (json!({"model": "m"}), "`messages` is required"),
        (
            json!({"model": "m", "messages": "hi"}),
            "`messages` must be an array",
        ),
        (
            json!({"model": "m", "messages": []}),
            "`messages` must not be empty",
        ),
        (
            json!({"model": "m", "messages": [{"content": "x"}]}),
            "`messages[0].role` is required",
        ),
        (
            json!({"model": "m", "messages": [{"role": "bot", "content": "x"}]}),
            "`messages[0].role` is 'bot'; it must be one of system, developer, user, assistant or tool",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": 5}]}),
            "`messages[0].content` must be a string, an array of content parts, or null",
        ),
        (
            json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": {}}]}),
            "`messages[0].tool_calls` must be an array",
        ),
        (
            json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
            "`messages[0].tool_call_id` is required and must be a string",
        ),
        (
            json!({"model": "m", "messages": user, "tools": [{"type": "web_search"}]}),
            "`tools[0].type` must be 'function'; other tool types are not supported",
        ),
        (
            json!({"model": "m", "messages": user, "stream": "yes"}),
            "`stream` must be a boolean",
        ),
    ];
    for (chat, message) in cases {
        assert_eq!(error(chat.clone()), message, "{chat}");
    }
    assert_eq!(
        refusal(json!({"model": "m"})),
        ApiError::invalid_request("`messages` is required")
    );
}
