//! Token and cache accounting end to end: turns from released clients
//! (their headers as they send them) through each door land under their
//! client family in `/metrics`, `/v1/status` and the per-turn list, with the
//! backend's cached and uncached counts; a turn without usage counts nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use common::mock::{self, WsAnswer, text_answer, with_usage};
use common::{Answer, MockBackend, TestProxy, openmetrics};

const PATIENCE: Duration = Duration::from_secs(10);

/// The OpenAI Python SDK's headers, as it sends them.
pub const OPENAI_PYTHON: [(&str, &str); 4] = [
    ("user-agent", "OpenAI/Python 2.8.1"),
    ("x-stainless-lang", "python"),
    ("x-stainless-package-version", "2.8.1"),
    ("x-stainless-retry-count", "0"),
];

/// Claude Code's headers (CLIENTS.md).
pub const CLAUDE_CODE: [(&str, &str); 4] = [
    ("user-agent", "claude-cli/2.1.328 (external, sdk-cli)"),
    ("x-app", "cli"),
    ("anthropic-version", "2023-06-01"),
    ("x-stainless-lang", "js"),
];

/// `events`, answered once over HTTP.
pub fn answer(events: Vec<Value>) -> Answer {
    Answer::Events {
        events,
        pace: Duration::ZERO,
    }
}

/// POSTs `body` to `path` with `headers`; the whole answer's text.
pub async fn post_as(proxy: &TestProxy, path: &str, headers: &[(&str, &str)], body: &Value) {
    let mut request = proxy.client.post(proxy.url(path)).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap();
}

/// One turn over the Responses WebSocket, as the Codex CLI opens it.
async fn codex_cli_socket_turn(proxy: &TestProxy) {
    let url = format!("ws://{}/v1/responses", proxy.addr);
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("openai-beta", mock::BETA.parse().unwrap());
    headers.insert("originator", "codex_exec".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let create = json!({"type": "response.create", "model": "gpt-5", "input": [], "tools": [],
        "store": false, "stream": true, "reasoning": {"effort": "high"}});
    socket
        .send(Message::text(create.to_string()))
        .await
        .unwrap();
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next()).await.unwrap();
        let Some(Ok(Message::Text(text))) = message else {
            continue;
        };
        if text.contains("response.completed") {
            break;
        }
    }
    socket.close(None).await.unwrap();
}

/// `/v1/status` once it lists `turns` turns.
pub async fn status_after(proxy: &TestProxy, turns: usize) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let status: Value = proxy.get("/v1/status").await.json().await.unwrap();
        if status["recent_turns"].as_array().map(Vec::len) == Some(turns) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited for {turns} turns: {status}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn usage_of(status: &Value, client: &str) -> Value {
    let clients = status["usage_last_hour"].as_array().unwrap();
    let found = clients.iter().find(|c| c["client"] == client);
    found
        .cloned()
        .unwrap_or_else(|| panic!("no {client} in {status}"))
}

#[tokio::test]
async fn turns_from_the_openai_sdk_claude_code_and_the_codex_cli_land_under_their_clients() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.metrics = true).await;
    let text = || text_answer("Hello.", 2);

    // The OpenAI SDK on Chat Completions, collected.
    mock.push_answer(answer(with_usage(text(), [30, 10, 8, 2])));
    let chat = json!({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]});
    post_as(&proxy, "/v1/chat/completions", &OPENAI_PYTHON, &chat).await;
    // Claude Code on Messages, streamed.
    mock.push_answer(answer(with_usage(text(), [40, 32, 6, 1])));
    let message = json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    post_as(&proxy, "/v1/messages", &CLAUDE_CODE, &message).await;
    // The Codex CLI over the WebSocket, then over HTTP with an answer that
    // says nothing of its cost.
    mock.push_ws_answer(WsAnswer::Events {
        events: with_usage(text(), [100, 90, 20, 5]),
        pace: Duration::ZERO,
    });
    codex_cli_socket_turn(&proxy).await;
    let mut silent = text();
    silent.last_mut().unwrap()["response"]
        .as_object_mut()
        .unwrap()
        .remove("usage");
    mock.push_answer(answer(silent));
    let codex = [("originator", "codex_exec")];
    post_as(&proxy, "/v1/responses", &codex, &common::hello(true)).await;

    let status = status_after(&proxy, 4).await;
    let turns = status["recent_turns"].as_array().unwrap();
    let listed: Vec<(&str, &str)> = turns
        .iter()
        .map(|t| (t["door"].as_str().unwrap(), t["client"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            ("responses", "codex_cli"),
            ("responses_websocket", "codex_cli"),
            ("messages", "claude_code"),
            ("chat_completions", "openai_sdk"),
        ]
    );
    assert_eq!(turns[0]["usage"], Value::Null, "no usage is not zero");
    assert_eq!(
        turns[1]["usage"],
        json!({"input": 100, "cached_input": 90, "output": 20, "reasoning": 5})
    );
    assert_eq!(turns[1]["effort"], "high");
    assert!(turns.iter().all(|t| t["status"] == 200));
    assert!(turns.iter().all(|t| t["first_event_ms"].is_u64()));
    let text = status.to_string();
    assert!(!text.contains("Hello."), "an answer leaked: {text}");
    let claude = usage_of(&status, "claude_code");
    assert_eq!(
        (&claude["input"], &claude["cached_input"]),
        (&json!(40), &json!(32))
    );
    assert_eq!(claude["cache_hit_ratio"], 0.8);
    let cli = usage_of(&status, "codex_cli");
    assert_eq!(
        (&cli["turns"], &cli["turns_with_usage"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(cli["cache_hit_ratio"], 0.9);

    let scraped = proxy.get("/metrics").await.text().await.unwrap();
    let Some(metrics) = openmetrics::parse(&scraped) else {
        return;
    };
    let tokens = |client, dialect, kind| {
        let labels = [("client", client), ("dialect", dialect), ("kind", kind)];
        metrics.value("codex_proxy_tokens", "codex_proxy_tokens_total", &labels)
    };
    assert_eq!(tokens("openai_sdk", "chat", "input"), Some(30.0));
    assert_eq!(tokens("openai_sdk", "chat", "cached_input"), Some(10.0));
    assert_eq!(
        tokens("claude_code", "messages", "cached_input"),
        Some(32.0)
    );
    assert_eq!(tokens("claude_code", "messages", "output"), Some(6.0));
    assert_eq!(tokens("codex_cli", "responses", "input"), Some(100.0));
    assert_eq!(tokens("codex_cli", "responses", "reasoning"), Some(5.0));
    let turns = |client, dialect| {
        let labels = [("client", client), ("dialect", dialect)];
        metrics.value("codex_proxy_turns", "codex_proxy_turns_total", &labels)
    };
    assert_eq!(turns("codex_cli", "responses"), Some(2.0));
    assert_eq!(turns("claude_code", "messages"), Some(1.0));
}

#[tokio::test]
async fn collected_and_streamed_answers_on_every_http_door_are_counted() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let doors = [
        ("/v1/responses", common::hello(false)),
        ("/v1/responses", common::hello(true)),
        (
            "/v1/chat/completions",
            json!({"model": "gpt-5", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/messages",
            json!({"model": "claude-sonnet-4-5", "max_tokens": 64,
                   "messages": [{"role": "user", "content": "hi"}]}),
        ),
    ];
    for (path, body) in &doors {
        mock.push_answer(answer(with_usage(text_answer("Hi.", 1), [10, 5, 2, 0])));
        post_as(&proxy, path, &[("user-agent", "curl/8.5.0")], body).await;
    }
    let status = status_after(&proxy, doors.len()).await;
    let other = usage_of(&status, "other");
    assert_eq!(other["turns_with_usage"], 4);
    assert_eq!(
        (&other["input"], &other["cached_input"]),
        (&json!(40), &json!(20))
    );
    assert_eq!(other["cache_hit_ratio"], 0.5);
}

#[tokio::test]
async fn a_websocket_served_over_http_counts_its_turns_too() {
    let mock = MockBackend::start().await;
    mock.refuse_websocket(Some(426));
    let proxy = TestProxy::start(&mock).await;
    mock.push_answer(answer(with_usage(text_answer("Hi.", 1), [64, 48, 4, 2])));
    codex_cli_socket_turn(&proxy).await;
    let status = status_after(&proxy, 1).await;
    let turn = &status["recent_turns"][0];
    assert_eq!(turn["door"], "responses_websocket");
    assert_eq!(turn["client"], "codex_cli");
    assert_eq!(turn["usage"]["cached_input"], 48);
    assert_eq!(usage_of(&status, "codex_cli")["cache_hit_ratio"], 0.75);
}

#[tokio::test]
async fn the_summary_line_carries_the_client_and_the_token_counts() {
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    let (daemon, address) = super::browser::daemon(&mock, home.path(), &[]).await;
    mock.push_answer(answer(with_usage(text_answer("Hi.", 1), [30, 10, 8, 2])));
    let body = json!({"model": "gpt-5", "input": "hi", "reasoning": {"effort": "low"}});
    let response = reqwest::Client::new()
        .post(format!("http://{address}/v1/responses"))
        .header("user-agent", "OpenAI/JS 6.9.0")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap();
    // A turn without usage leaves the token fields out.
    let mut silent = text_answer("Hi.", 1);
    silent.last_mut().unwrap()["response"]
        .as_object_mut()
        .unwrap()
        .remove("usage");
    mock.push_answer(answer(silent));
    let response = reqwest::Client::new()
        .post(format!("http://{address}/v1/responses"))
        .json(&common::hello(false))
        .send()
        .await
        .unwrap();
    response.text().await.unwrap();
    let log = daemon.stop().await;
    let finished: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("request finished") && l.contains("path=/v1/responses"))
        .collect();
    assert_eq!(finished.len(), 2, "{log}");
    for field in [
        "client=\"openai_sdk\"",
        "effort=\"low\"",
        "first_event_ms=",
        "input_tokens=30",
        "cached_input_tokens=10",
        "output_tokens=8",
        "reasoning_tokens=2",
    ] {
        assert!(finished[0].contains(field), "no {field} in {}", finished[0]);
    }
    assert!(finished[1].contains("client=\"other\""), "{}", finished[1]);
    assert!(!finished[1].contains("input_tokens"), "{}", finished[1]);
    assert!(!log.contains("Hi."), "an answer was logged");
}
