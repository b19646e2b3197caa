//! What real Anthropic clients send: Claude Code's request as captured
//! (CLIENTS.md), the SDKs' `x-api-key`, and the model list they read.

use serde_json::{Value, json};

use super::anthropic_events;
use super::common::{MockBackend, TestProxy};

const SESSION: &str = "5b0c7a52-3a4e-4d1b-9a57-2f1c0f6d9e10";
const CLIENT_KEY: &str = "sk-proxy-client-key-7e2d";

/// Claude Code 2.1's headers for `claude -p`, as captured.
fn claude_code_headers(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request
        .header("accept", "application/json")
        .header("anthropic-version", "2023-06-01")
        .header(
            "anthropic-beta",
            "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,\
             per-turn-control-2026-07-01,mid-conversation-tool-changes-2026-07-01,\
             thinking-token-count-2026-05-13,advanced-tool-use-2025-11-20,effort-2025-11-24",
        )
        .header("x-app", "cli")
        .header("x-claude-code-session-id", SESSION)
        .header("user-agent", "claude-cli/2.1.328 (external, sdk-cli)")
        .header("x-api-key", CLIENT_KEY)
        .header("x-stainless-lang", "js")
        .header("x-stainless-retry-count", "0")
}

fn schema(property: &str) -> Value {
    json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
           "properties": {property: {"type": "string"}}, "required": [property],
           "additionalProperties": false})
}

/// Claude Code 2.1's body for `claude -p "say hello"`, as captured (two of
/// its twelve tools).
fn claude_code_body() -> Value {
    let user_id = json!({"device_id": "d1", "account_uuid": "", "session_id": SESSION}).to_string();
    json!({
        "model": "claude-opus-5-5",
        "max_tokens": 128000,
        "stream": true,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.328.abc; cc_entrypoint=sdk-cli;"},
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Answer briefly.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>context</system-reminder>"},
                {"type": "text", "text": "say hello", "cache_control": {"type": "ephemeral"}},
            ]},
            {"role": "system", "content": "The date is 2026-11-02."},
        ],
        "tools": [
            {"name": "Bash", "description": "Run a command.", "input_schema": schema("command")},
            {"name": "WebFetch", "description": "Fetch a URL.", "input_schema": schema("url"),
             "defer_loading": true},
        ],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "medium"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": user_id},
    })
}

fn function_tool(name: &str, description: &str, property: &str) -> Value {
    let mut parameters = schema(property);
    parameters.as_object_mut().unwrap().remove("$schema");
    json!({"type": "function", "name": name, "description": description,
           "parameters": parameters, "strict": false})
}

#[tokio::test]
async fn claude_codes_captured_request_is_served_in_full() {
    let mock = MockBackend::start().await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("client.key");
    std::fs::write(&key_file, CLIENT_KEY).unwrap();
    let proxy = TestProxy::start_with(&mock, |c| c.api_key_file = Some(key_file)).await;
    let request = proxy
        .client
        .post(proxy.url("/v1/messages?beta=true"))
        .json(&claude_code_body());
    let response = claude_code_headers(request).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let events = anthropic_events(&response.text().await.unwrap());
    let text: String = events
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Hello from the mock.");
    assert_eq!(events.last().unwrap().0, "message_stop");

    let seen = mock.last_seen();
    assert_eq!(
        seen.body,
        json!({
            "model": "gpt-5",
            "instructions": "You are Claude Code.\n\nAnswer briefly.",
            "input": [
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "<system-reminder>context</system-reminder>"},
                    {"type": "input_text", "text": "say hello"},
                ]},
                {"type": "message", "role": "developer", "content": [
                    {"type": "input_text", "text": "The date is 2026-11-02."},
                ]},
            ],
            "tools": [
                function_tool("Bash", "Run a command.", "command"),
                function_tool("WebFetch", "Fetch a URL.", "url"),
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": true,
            "reasoning": {"effort": "medium"},
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": SESSION,
            "store": false,
            "stream": true,
        })
    );
    assert_eq!(seen.headers["session-id"], SESSION);
    for private in [
        "x-api-key",
        "anthropic-version",
        "anthropic-beta",
        "x-stainless-lang",
        "x-app",
    ] {
        assert!(
            !seen.headers.contains_key(private),
            "{private} was forwarded"
        );
    }
}

#[tokio::test]
async fn the_client_key_is_taken_from_x_api_key_or_a_bearer_token() {
    let mock = MockBackend::start().await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("client.key");
    std::fs::write(&key_file, format!("{CLIENT_KEY}\n")).unwrap();
    let proxy = TestProxy::start_with(&mock, |c| c.api_key_file = Some(key_file)).await;
    let body =
        json!({"model": "gpt-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    let send = |header: &'static str, value: String| {
        proxy
            .client
            .post(proxy.url("/v1/messages"))
            .header(header, value)
            .json(&body)
            .send()
    };
    assert_eq!(
        send("x-api-key", CLIENT_KEY.into()).await.unwrap().status(),
        200
    );
    assert_eq!(
        send("authorization", format!("Bearer {CLIENT_KEY}"))
            .await
            .unwrap()
            .status(),
        200
    );
    let refused = send("x-api-key", format!("{CLIENT_KEY}x")).await.unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-api-key"),
        "{body}"
    );
    assert_eq!(mock.responses_calls(), 2);
    assert!(
        mock.seen()
            .iter()
            .all(|s| !s.headers.contains_key("x-api-key"))
    );
}

#[tokio::test]
async fn the_model_list_takes_anthropics_shape_when_asked_in_its_dialect() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let anthropic: Value = proxy
        .client
        .get(proxy.url("/v1/models"))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let model = |id: &str, name: &str| json!({"type": "model", "id": id, "display_name": name, "created_at": "1970-01-01T00:00:00Z"});
    assert_eq!(
        anthropic,
        json!({"data": [model("gpt-5", "GPT-5"), model("gpt-5-codex", "GPT-5 Codex")],
               "has_more": false, "first_id": "gpt-5", "last_id": "gpt-5-codex"})
    );
    let openai: Value = proxy.get("/v1/models").await.json().await.unwrap();
    assert_eq!(openai["object"], "list");
    assert_eq!(openai["data"][0]["id"], "gpt-5");
}

#[tokio::test]
async fn a_backend_without_a_usable_model_list_still_serves_and_is_not_asked_each_time() {
    let mock = MockBackend::start().await;
    *mock.state.models.lock().unwrap() = json!({"detail": "not today"});
    let proxy = TestProxy::start(&mock).await;
    let body = json!({"model": "gpt-5-codex", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..2 {
        assert_eq!(proxy.post("/v1/messages", &body).await.status(), 200);
        assert_eq!(mock.last_seen().body["model"], "gpt-5-codex");
    }
    let asked = mock
        .state
        .models_calls
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(asked, 1);
}

#[tokio::test]
async fn model_aliases_and_effort_suffixes_apply_to_a_backend_name_on_messages() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| {
        c.model_aliases = [("fast".to_owned(), "gpt-5-codex".to_owned())].into();
    })
    .await;
    let ask = |model: &str| json!({"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(proxy.post("/v1/messages", &ask("fast")).await.status(), 200);
    assert_eq!(mock.last_seen().body["model"], "gpt-5-codex");
    assert_eq!(
        proxy
            .post("/v1/messages", &ask("gpt-5-high"))
            .await
            .status(),
        200
    );
    let seen = mock.last_seen().body;
    assert_eq!(
        (&seen["model"], &seen["reasoning"]["effort"]),
        (&json!("gpt-5"), &json!("high"))
    );
}
