use serde_json::json;

use super::*;
use crate::dialect::messages::models::Target;
use crate::dialect::messages::signature;

fn catalogue() -> Catalogue {
    Catalogue::from_backend(&json!({"models": [
        {"slug": "gpt-5.5", "visibility": "list", "supported_in_api": true, "priority": 1,
         "supported_reasoning_levels": [{"effort": "low"}, {"effort": "medium"},
                                        {"effort": "high"}, {"effort": "xhigh"}]},
        {"slug": "gpt-5.4", "visibility": "list", "priority": 2,
         "supported_reasoning_levels": [{"effort": "low"}, {"effort": "medium"}, {"effort": "high"}]},
    ]}))
}

fn translate(request: Value) -> Translated {
    match translate_request(request, &ModelMap::default(), &catalogue()) {
        Ok(translated) => translated,
        Err(e) => panic!("refused: {e}"),
    }
}

fn body(request: Value) -> Value {
    Value::Object(translate(request).body)
}

fn error(request: Value) -> String {
    match translate_request(request, &ModelMap::default(), &catalogue()) {
        Ok(translated) => panic!("accepted: {translated:?}"),
        Err(e) => {
            assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
            e.message
        }
    }
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

#[test]
fn a_plain_request_becomes_a_streaming_unstored_responses_request() {
    let got = translate(json!({
        "model": "gpt-5.4",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hi"}],
    }));
    assert_eq!(
        got,
        Translated {
            body: Map::from_iter([
                ("model".into(), json!("gpt-5.4")),
                ("input".into(), json!([user("Hi")])),
                ("store".into(), json!(false)),
                ("stream".into(), json!(true)),
            ]),
            model: "gpt-5.4".into(),
            stream: false,
            dropped: vec!["max_tokens".into()],
            session: None,
            tool_names: ToolNames::default(),
        }
    );
}

/// The request Claude Code 2.1 sends for `claude -p`, in shape.
#[test]
fn what_claude_code_sends_is_translated_in_full() {
    let user_id = json!({"device_id": "d1", "account_uuid": "", "session_id": "5e55"}).to_string();
    let got = translate(json!({
        "model": "claude-opus-5-5",
        "max_tokens": 128000,
        "stream": true,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.328;"},
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Be helpful.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                {"type": "text", "text": "Say hi", "cache_control": {"type": "ephemeral"}},
            ]},
            {"role": "system", "content": "Use the tools sparingly."},
        ],
        "tools": [
            {"name": "Bash", "description": "Run a command", "input_schema": {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object", "properties": {"command": {"type": "string"}},
                "required": ["command"], "additionalProperties": false}},
            {"name": "NotebookEdit", "description": "Edit a notebook", "defer_loading": true,
             "input_schema": {"$schema": "http://json-schema.org/draft-07/schema#",
                              "type": "object", "properties": {}}},
        ],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "medium"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": user_id},
    }));
    assert_eq!(
        Value::Object(got.body),
        json!({
            "model": "gpt-5.5",
            "instructions": "You are Claude Code.\n\nBe helpful.",
            "input": [
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "<system-reminder>ctx</system-reminder>"},
                    {"type": "input_text", "text": "Say hi"},
                ]},
                {"type": "message", "role": "developer", "content": [
                    {"type": "input_text", "text": "Use the tools sparingly."}]},
            ],
            "tools": [
                {"type": "function", "name": "Bash", "description": "Run a command",
                 "parameters": {"type": "object", "properties": {"command": {"type": "string"}},
                                "required": ["command"], "additionalProperties": false},
                 "strict": false},
                {"type": "function", "name": "NotebookEdit", "description": "Edit a notebook",
                 "parameters": {"type": "object", "properties": {}}, "strict": false},
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": true,
            "reasoning": {"effort": "medium"},
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "5e55",
            "store": false,
            "stream": true,
        })
    );
    assert_eq!(
        (got.model.as_str(), got.stream, got.session.as_deref()),
        ("claude-opus-5-5", true, Some("5e55"))
    );
    assert_eq!(
        got.dropped,
        [
            "max_tokens",
            "tools[].defer_loading",
            "context_management",
            "system[0]: the billing header",
            "cache_control",
        ]
    );
}

#[test]
fn our_thinking_goes_back_as_reasoning_and_foreign_thinking_is_dropped() {
    let ours = signature::encode("rs_1", "gAAAAB");
    let got = translate(json!({
        "model": "gpt-5.4",
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Need a tool.", "signature": ours},
                {"type": "thinking", "thinking": "Anthropic's.", "signature": "EqQBCkgIARAB"},
                {"type": "redacted_thinking", "data": "EmwKAhgB"},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}},
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]},
        ],
    }));
    assert_eq!(
        Value::Object(got.body),
        json!({
            "model": "gpt-5.4",
            "input": [
                user("Weather?"),
                {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Need a tool."}],
                 "encrypted_content": "gAAAAB"},
                {"type": "function_call", "call_id": "toolu_1", "name": "weather", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "toolu_1", "output": "18C"},
            ],
            "reasoning": {"effort": "medium", "summary": "auto"},
            "include": ["reasoning.encrypted_content"],
            "store": false,
            "stream": true,
        })
    );
    assert_eq!(
        got.dropped,
        [
            "thinking blocks not signed by this proxy",
            "redacted_thinking blocks"
        ]
    );
}

#[test]
fn effort_comes_from_output_config_then_budget_then_the_map_and_fits_the_model() {
    let effort = |request: Value, map: &ModelMap| {
        let translated = translate_request(request, map, &catalogue()).unwrap();
        translated.body.get("reasoning").cloned()
    };
    let map = ModelMap(
        [(
            "claude-*".to_string(),
            Target {
                model: "gpt-5.4".into(),
                effort: Some(Effort::Low),
            },
        )]
        .into(),
    );
    let none = ModelMap::default();
    let messages = json!([{"role": "user", "content": "x"}]);
    let cases = [
        // output_config wins over the budget; `max` is the model's highest.
        (
            json!({"model": "gpt-5.5", "messages": messages, "output_config": {"effort": "max"},
                   "thinking": {"type": "enabled", "budget_tokens": 2000}}),
            &none,
            Some(json!({"effort": "xhigh", "summary": "auto"})),
        ),
        // gpt-5.4 has no xhigh.
        (
            json!({"model": "gpt-5.4", "messages": messages, "output_config": {"effort": "max"}}),
            &none,
            Some(json!({"effort": "high"})),
        ),
        (
            json!({"model": "gpt-5.5", "messages": messages,
                   "thinking": {"type": "enabled", "budget_tokens": 3999}}),
            &none,
            Some(json!({"effort": "low", "summary": "auto"})),
        ),
        (
            json!({"model": "gpt-5.5", "messages": messages,
                   "thinking": {"type": "enabled", "budget_tokens": 31999}}),
            &none,
            Some(json!({"effort": "high", "summary": "auto"})),
        ),
        (
            json!({"model": "claude-sonnet-4-5", "messages": messages, "thinking": {"type": "adaptive"}}),
            &map,
            Some(json!({"effort": "low", "summary": "auto"})),
        ),
        (
            json!({"model": "claude-sonnet-4-5", "messages": messages}),
            &none,
            Some(json!({"effort": "medium"})),
        ),
        (
            json!({"model": "gpt-5.5", "messages": messages, "thinking": {"type": "disabled"}}),
            &none,
            None,
        ),
    ];
    for (request, map, want) in cases {
        assert_eq!(effort(request.clone(), map), want, "{request}");
    }
    let disabled = body(json!({"model": "gpt-5.5", "messages": messages,
                               "thinking": {"type": "disabled"}}));
    assert_eq!(disabled.get("include"), None);
}

#[test]
fn tool_choice_maps_to_responses_and_parallel_calls_can_be_disabled() {
    let tools = json!([{"name": "f", "input_schema": {"type": "object"}},
                       {"type": "web_search_20250305", "name": "web_search", "max_uses": 3,
                        "allowed_domains": ["docs.rs"],
                        "user_location": {"type": "approximate", "city": "Paris"}}]);
    let choice = |tool_choice: Value| {
        let got = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                              "tools": tools, "tool_choice": tool_choice}),
        );
        (
            got["tool_choice"].clone(),
            got["parallel_tool_calls"].clone(),
        )
    };
    assert_eq!(
        choice(json!({"type": "auto"})),
        (json!("auto"), json!(true))
    );
    assert_eq!(
        choice(json!({"type": "any", "disable_parallel_tool_use": true})),
        (json!("required"), json!(false))
    );
    assert_eq!(
        choice(json!({"type": "tool", "name": "f"})),
        (json!({"type": "function", "name": "f"}), json!(true))
    );
    assert_eq!(
        choice(json!({"type": "tool", "name": "web_search"})),
        (json!("required"), json!(true))
    );
    assert_eq!(
        choice(json!({"type": "none"})),
        (json!("none"), json!(true))
    );

    let got = translate(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                               "tools": tools}),
    );
    assert_eq!(
        got.body["tools"],
        json!([
            {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": false},
            {"type": "web_search", "filters": {"allowed_domains": ["docs.rs"]},
             "user_location": {"type": "approximate", "city": "Paris"}},
        ])
    );
    assert_eq!(got.dropped, ["tools[].max_uses (web search)"]);
}

#[test]
fn tool_names_too_long_for_the_backend_are_shortened_the_same_way_everywhere() {
    let long = format!("mcp__claude_ai_Google_Drive__{}", "search_files_".repeat(4));
    assert_eq!(long.len(), 81);
    let got = translate(json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "Find it."},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "t1", "name": long, "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
        ],
        "tools": [{"name": long, "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": long},
    }));
    let short = got.body["tools"][0]["name"].as_str().unwrap().to_owned();
    assert_eq!(short.len(), 64);
    assert_eq!(short[..55], long[..55]);
    assert_eq!(got.body["input"][1]["name"], short);
    assert_eq!(
        got.body["tool_choice"],
        json!({"type": "function", "name": short})
    );
    assert_eq!(got.tool_names.client_name(&short), long);
    assert_eq!(got.tool_names.client_name("other"), "other");
    // The next turn shortens it the same way.
    let again = translate(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                 "tools": [{"name": long, "input_schema": {"type": "object"}}]}),
    );
    assert_eq!(again.body["tools"][0]["name"], short);
}

#[test]
fn a_plain_user_id_is_the_session() {
    let got = translate(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                               "metadata": {"user_id": "user-42"}}),
    );
    assert_eq!(got.session.as_deref(), Some("user-42"));
    assert_eq!(got.body["prompt_cache_key"], "user-42");
}

#[test]
fn malformed_requests_get_a_message_naming_the_field() {
    let user = json!([{"role": "user", "content": "x"}]);
    let cases = [
        (json!([1]), "the request body must be a JSON object"),
        (json!({"messages": user}), "`model` is required"),
        (
            json!({"model": 5, "messages": user}),
            "`model` must be a string",
        ),
        (json!({"model": "m"}), "`messages` is required"),
        (
            json!({"model": "m", "messages": []}),
            "`messages` must not be empty",
        ),
        (
            json!({"model": "m", "messages": user, "system": 3}),
            "`system` must be a string or an array of text blocks",
        ),
        (
            json!({"model": "m", "messages": user, "tools": [{"name": "f"}]}),
            "`tools[0].input_schema` is required",
        ),
        (
            json!({"model": "m", "messages": user,
                   "tools": [{"type": "code_execution_20250825", "name": "code_execution"}]}),
            "`tools[0]` is the Anthropic tool 'code_execution_20250825', which the Codex backend \
             cannot run; only custom tools (name, description, input_schema) and web_search are supported",
        ),
        (
            json!({"model": "m", "messages": user, "tools": [{"name": "f", "input_schema": {}}],
                   "tool_choice": {"type": "tool", "name": "g"}}),
            "`tool_choice.name` is 'g', which is not one of `tools`",
        ),
        (
            json!({"model": "m", "messages": user, "thinking": {"type": "on"}}),
            "`thinking.type` must be 'enabled', 'adaptive' or 'disabled'",
        ),
        (
            json!({"model": "m", "messages": user, "output_config": {"effort": "huge"}}),
            "`output_config.effort` must be 'low', 'medium', 'high' or 'max'",
        ),
        (
            json!({"model": "m", "messages": user, "metadata": {"user_id": 7}}),
            "`metadata.user_id` must be a string",
        ),
        (
            json!({"model": "m", "messages": user, "stream": "yes"}),
            "`stream` must be a boolean",
        ),
        (
            json!({"model": "m", "messages": user, "mcp_servers": [{"type": "url"}]}),
            "`mcp_servers`: the MCP connector is not supported; run the MCP servers in the client",
        ),
    ];
    for (request, message) in cases {
        assert_eq!(error(request.clone()), message, "{request}");
    }
}

#[test]
fn options_without_a_backend_counterpart_are_dropped_and_listed() {
    let got = translate(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 10, "temperature": 0.2, "top_p": 1, "top_k": 5,
        "stop_sequences": ["\n"], "service_tier": "auto",
        "context_management": {}, "tool_choice": {"type": "auto"}, "top_logprobs": null,
    }));
    assert_eq!(
        got.dropped,
        [
            "max_tokens",
            "temperature",
            "top_p",
            "top_k",
            "stop_sequences",
            "service_tier",
            "context_management",
            "tool_choice (no tools)",
        ]
    );
    assert_eq!(
        Value::Object(got.body),
        json!({"model": "m", "input": [user("x")], "store": false, "stream": true})
    );
}

#[test]
fn structured_output_becomes_a_strict_json_schema_format() {
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}},
                        "required": ["n"], "additionalProperties": false});
    let got = body(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                          "output_config": {"format": {"type": "json_schema", "schema": schema}}}),
    );
    assert_eq!(
        got["text"],
        json!({"format": {"type": "json_schema", "name": "output", "schema": schema, "strict": true}})
    );
}
