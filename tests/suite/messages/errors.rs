//! Every error a Messages client can get, in Anthropic's shape and with its
//! status, and a client that leaves a stream.

use std::time::Duration;

use serde_json::{Value, json};

use super::common::{Answer, MockBackend, TestProxy, mock, wait_until, write_auth};
use super::{anthropic_events, events};

fn hello(stream: bool) -> Value {
    json!({"model": "gpt-5", "max_tokens": 64, "stream": stream,
           "messages": [{"role": "user", "content": "hi"}]})
}

fn status_answer(status: u16, body: Value) -> Answer {
    Answer::Status {
        status,
        body: body.to_string(),
        content_type: "application/json",
        headers: vec![],
    }
}

/// The error's status, `error.type`, and its message.
async fn error_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    let error = &body["error"];
    (
        status,
        error["type"].as_str().unwrap().to_owned(),
        error["message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_is_never_forwarded() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let cases = [
        (
            json!({"model": "gpt-5", "messages": "hi"}),
            "`messages` must be an array",
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}]}),
            "`model` is required",
        ),
        (
            json!({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}], "thinking": {"type": "sometimes"}}),
            "`thinking.type`",
        ),
    ];
    for (body, names) in cases {
        let (status, kind, message) = error_of(proxy.post("/v1/messages", &body).await).await;
        assert_eq!(
            (status, kind.as_str()),
            (400, "invalid_request_error"),
            "{body}"
        );
        assert!(message.contains(names), "{message}");
    }
    let not_json = proxy
        .client
        .post(proxy.url("/v1/messages"))
        .header("content-type", "application/json")
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    let (status, kind, message) = error_of(not_json).await;
    assert_eq!((status, kind.as_str()), (400, "invalid_request_error"));
    assert!(message.contains("not valid JSON"), "{message}");
    assert_eq!(mock.responses_calls(), 0);
}

#[tokio::test]
async fn a_missing_login_is_a_401_authentication_error_naming_codex_login() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_in(&mock, tempfile::tempdir().unwrap(), |_| {}).await;
    let mut claude = hello(true);
    claude["model"] = json!("claude-opus-5-5");
    let (status, kind, message) = error_of(proxy.post("/v1/messages", &claude).await).await;
    assert_eq!((status, kind.as_str()), (401, "authentication_error"));
    assert!(message.contains("codex login"), "{message}");
    // Once logged in, the next request maps Claude names again at once.
    write_auth(proxy.home.path(), &mock.login(mock::now_secs() + 3600));
    assert_eq!(proxy.post("/v1/messages", &claude).await.status(), 200);
    assert_eq!(mock.last_seen().body["model"], "gpt-5");
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_anthropics_shape() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let (status, kind, _) = error_of(proxy.post("/v1/messages/batches", &hello(false)).await).await;
    assert_eq!((status, kind.as_str()), (404, "not_found_error"));
    let (status, kind, message) = error_of(proxy.get("/v1/messages").await).await;
    assert_eq!((status, kind.as_str()), (405, "invalid_request_error"));
    assert!(message.contains("GET is not allowed"), "{message}");
    // Elsewhere the OpenAI shape stays.
    let body: Value = proxy.get("/v1/nowhere").await.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_url");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_request_too_large() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.max_body_bytes = 1024).await;
    let big = json!({"model": "gpt-5", "max_tokens": 8,
                     "messages": [{"role": "user", "content": "x".repeat(4096)}]});
    let (status, kind, _) = error_of(proxy.post("/v1/messages", &big).await).await;
    assert_eq!((status, kind.as_str()), (413, "request_too_large"));
    assert_eq!(mock.responses_calls(), 0);
}

#[tokio::test]
async fn backend_refusals_keep_their_meaning_in_anthropics_terms() {
    let mock = MockBackend::start().await;
    let resets_at = mock::now_secs() + 120;
    mock.push_answer(status_answer(
        429,
        json!({"error": {"type": "usage_limit_reached",
        "message": "The usage limit has been reached", "resets_at": resets_at}}),
    ));
    mock.push_answer(status_answer(500, json!({"detail": "boom"})));
    mock.push_answer(status_answer(
        503,
        json!({"error": {"code": "server_is_overloaded",
        "message": "The server is overloaded."}}),
    ));
    let proxy = TestProxy::start(&mock).await;

    let limited = proxy.post("/v1/messages", &hello(true)).await;
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((110..=121).contains(&retry), "{retry}");
    let (status, kind, message) = error_of(limited).await;
    assert_eq!((status, kind.as_str()), (429, "rate_limit_error"));
    assert!(message.contains("usage limit"), "{message}");

    // Until the window resets, the proxy answers for the backend, in the
    // same shape, without asking it.
    let calls = mock.responses_calls();
    let (status, kind, _) = error_of(proxy.post("/v1/messages", &hello(false)).await).await;
    assert_eq!((status, kind.as_str()), (429, "rate_limit_error"));
    assert_eq!(mock.responses_calls(), calls);

    let proxy = TestProxy::start_with(&mock, |c| c.limit_cooldown = false).await;
    let (status, kind, message) = error_of(proxy.post("/v1/messages", &hello(false)).await).await;
    assert_eq!(
        (status, kind.as_str(), message.as_str()),
        (500, "api_error", "boom")
    );

    let (status, kind, _) = error_of(proxy.post("/v1/messages", &hello(true)).await).await;
    assert_eq!((status, kind.as_str()), (529, "overloaded_error"));
}

#[tokio::test]
async fn a_collected_answer_that_fails_upstream_is_an_error_with_its_status() {
    let mock = MockBackend::start().await;
    let mut failed = mock::text_answer("", 1)[..1].to_vec();
    failed.push(json!({"type": "response.failed", "response": {"error": {
        "code": "invalid_prompt", "message": "Invalid prompt: flagged."}}}));
    mock.push_answer(events(failed));
    let proxy = TestProxy::start(&mock).await;
    let (status, kind, message) = error_of(proxy.post("/v1/messages", &hello(false)).await).await;
    assert_eq!((status, kind.as_str()), (400, "invalid_request_error"));
    assert_eq!(message, "Invalid prompt: flagged.");
}

/// A request the mock refuses as past the model's window, whatever its size.
fn overflowing(stream: bool) -> Value {
    let mut body = hello(stream);
    body["messages"][0]["content"] = json!(format!("hi {}", mock::OVERFLOW_MARKER));
    body
}

/// `prompt is too long: N tokens > M maximum`, read back as (N, M).
fn too_long(message: &str) -> (u64, u64) {
    let rest = message
        .strip_prefix("prompt is too long: ")
        .unwrap_or_else(|| panic!("not Anthropic's wording: {message}"));
    let (n, rest) = rest.split_once(" tokens > ").unwrap();
    let m = rest.strip_suffix(" maximum").unwrap();
    (n.parse().unwrap(), m.parse().unwrap())
}

#[tokio::test]
async fn a_context_overflow_is_a_400_in_anthropics_words_with_the_models_window() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    // In the stream (before any answer), collected or streamed; then as
    // the backend's 400 before the stream.
    for (stream, as_status) in [(false, false), (true, false), (false, true), (true, true)] {
        mock.state
            .overflow_as_status
            .store(as_status, std::sync::atomic::Ordering::SeqCst);
        let response = proxy.post("/v1/messages", &overflowing(stream)).await;
        let (status, kind, message) = error_of(response).await;
        assert_eq!(
            (status, kind.as_str()),
            (400, "invalid_request_error"),
            "{stream} {as_status}"
        );
        // The estimate of a short request is below the window: at least M + 1.
        assert_eq!(
            too_long(&message),
            (272_001, 272_000),
            "{stream} {as_status}"
        );
    }
    assert_eq!(
        mock.state
            .overflows_answered
            .load(std::sync::atomic::Ordering::SeqCst),
        4
    );
}

#[tokio::test]
async fn an_overflow_names_the_proxys_count_of_the_request_when_it_is_past_the_window() {
    let mock = MockBackend::start().await;
    mock.state.models.lock().unwrap()["models"][0]["context_window"] = json!(200);
    let proxy = TestProxy::start(&mock).await;
    let mut body = hello(false);
    body["messages"][0]["content"] = json!("a fairly long sentence of many words ".repeat(40));
    let count: Value = proxy
        .post("/v1/messages/count_tokens", &body)
        .await
        .json()
        .await
        .unwrap();
    let counted = count["input_tokens"].as_u64().unwrap();
    assert!(counted > 200, "{count}");
    let (status, _, message) = error_of(proxy.post("/v1/messages", &body).await).await;
    assert_eq!(status, 400);
    let (n, m) = too_long(&message);
    assert_eq!(m, 200);
    // The same estimate as count_tokens, give or take the instructions added.
    assert!(n >= counted && n < counted + 50, "{n} vs {counted}");
}

#[tokio::test]
async fn an_overflow_mid_stream_is_an_error_event_in_anthropics_words() {
    let mock = MockBackend::start().await;
    let mut answer = mock::text_answer("partial", 1)[..5].to_vec();
    answer.push(json!({"type": "response.failed", "response": {"error": {
        "code": "context_length_exceeded", "message": mock::OVERFLOW_MESSAGE}}}));
    mock.push_answer(events(answer));
    let proxy = TestProxy::start(&mock).await;
    let response = proxy.post("/v1/messages", &hello(true)).await;
    assert_eq!(response.status(), 200);
    let events = anthropic_events(&response.text().await.unwrap());
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{events:?}");
    assert_eq!(data["error"]["type"], "invalid_request_error");
    let message = data["error"]["message"].as_str().unwrap();
    assert_eq!(too_long(message), (272_001, 272_000));
    assert!(events.iter().any(|(n, _)| n == "content_block_delta"));
}

#[tokio::test]
async fn an_overflow_for_a_model_without_a_known_window_keeps_the_backends_words() {
    let mock = MockBackend::start().await;
    for model in mock.state.models.lock().unwrap()["models"]
        .as_array_mut()
        .unwrap()
    {
        model.as_object_mut().unwrap().remove("context_window");
    }
    let proxy = TestProxy::start(&mock).await;
    for stream in [false, true] {
        let response = proxy.post("/v1/messages", &overflowing(stream)).await;
        let (status, kind, message) = error_of(response).await;
        assert_eq!((status, kind.as_str()), (400, "invalid_request_error"));
        assert_eq!(message, mock::OVERFLOW_MESSAGE);
    }
}

#[tokio::test]
async fn a_stream_that_breaks_off_ends_with_an_error_event() {
    let mock = MockBackend::start().await;
    let head = mock::text_answer("partial", 1)[..5].to_vec();
    mock.push_answer(Answer::Vanish { events: head });
    let mut failing = mock::text_answer("", 1)[..1].to_vec();
    failing.push(json!({"type": "response.failed", "response": {"error": {
        "code": "server_is_overloaded", "message": "Try again later."}}}));
    mock.push_answer(events(failing));
    let proxy = TestProxy::start(&mock).await;

    let text = proxy
        .post("/v1/messages", &hello(true))
        .await
        .text()
        .await
        .unwrap();
    let names: Vec<String> = anthropic_events(&text)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "error"
        ]
    );
    let (_, error) = anthropic_events(&text).pop().unwrap();
    assert_eq!(error["error"]["type"], "api_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broke"),
        "{error}"
    );

    let text = proxy
        .post("/v1/messages", &hello(true))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        anthropic_events(&text).pop().unwrap(),
        (
            "error".to_owned(),
            json!({"type": "error", "error": {
            "type": "overloaded_error", "message": "Try again later."}})
        )
    );
}

#[tokio::test]
async fn a_silent_backend_gets_pings_and_a_client_that_leaves_cancels_it() {
    let mock = MockBackend::start().await;
    mock.push_answer(Answer::Stall {
        events: mock::text_answer("x", 1)[..1].to_vec(),
    });
    let proxy = TestProxy::start(&mock).await;
    let mut response = proxy.post("/v1/messages", &hello(true)).await;
    let mut seen = String::new();
    while !seen.contains("event: ping") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("a ping within the silence")
            .unwrap()
            .unwrap();
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let names: Vec<String> = anthropic_events(&seen)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["message_start", "ping"]);
    assert_eq!(mock.streams_cancelled(), 0);
    drop(response);
    wait_until(
        Duration::from_secs(5),
        "the upstream stream to be cancelled",
        || mock.streams_cancelled() == 1,
    )
    .await;
}

#[tokio::test]
async fn the_proxy_at_its_request_limit_answers_overloaded() {
    let mock = MockBackend::start().await;
    mock.push_answer(Answer::Stall {
        events: mock::text_answer("x", 1)[..1].to_vec(),
    });
    let proxy = TestProxy::start_with(&mock, |c| c.max_concurrent_requests = 1).await;
    let mut held = proxy.post("/v1/messages", &hello(true)).await;
    held.chunk().await.unwrap().unwrap();
    let refused = proxy.post("/v1/messages", &hello(false)).await;
    assert_eq!(refused.headers()["retry-after"], "1");
    let (status, kind, _) = error_of(refused).await;
    assert_eq!((status, kind.as_str()), (529, "overloaded_error"));
}
