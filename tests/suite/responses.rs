//! `/v1/responses` end to end through the mock backend: patching, headers,
//! streaming, collection and every error mapping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use common::{Answer, MockBackend, TestProxy, hello, mock, sse_data, wait_until};
use serde_json::{Value, json};

#[tokio::test]
async fn a_collected_answer_rebuilds_the_empty_completed_output() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["x-codex-primary-used-percent"], "12");
    assert_eq!(response.headers()["x-request-id"], "upstream-req-1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "id": "resp_mock_1", "object": "response", "created_at": 1_763_900_000, "status": "completed",
            "model": "gpt-5", "output": [mock::text_message("Hello from the mock.")],
            "usage": {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 17}
        })
    );
}

#[tokio::test]
async fn the_responses_alias_serves_the_same_endpoint() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    assert_eq!(proxy.post("/responses", &hello(false)).await.status(), 200);
}

#[tokio::test]
async fn the_backend_gets_a_patched_body_and_the_codex_headers() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let request = json!({
        "model": "gpt-5", "input": "hi", "max_output_tokens": 100, "temperature": 0.3, "store": true,
        "prompt_cache_key": "conv-42", "metadata": {"k": "v"},
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
    });
    assert_eq!(proxy.post("/v1/responses", &request).await.status(), 200);
    let seen = mock.last_seen();
    assert_eq!(
        seen.body,
        json!({
            "model": "gpt-5",
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
            "store": false, "prompt_cache_key": "conv-42", "metadata": {"k": "v"},
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            "stream": true, "instructions": "You are a helpful assistant.",
            // The answer is kept (`store: true`), so it may be continued:
            // its reasoning is asked for, to send back on the next turn.
            "include": ["reasoning.encrypted_content"],
        })
    );
    let h = &seen.headers;
    assert_eq!(h["originator"], "codex_cli_rs");
    assert_eq!(
        h["version"],
        codex_responses_proxy::config::DEFAULT_CLIENT_VERSION
    );
    assert!(
        h["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("codex_cli_rs/")
    );
    assert_eq!(h["accept"], "text/event-stream");
    assert_eq!(h["chatgpt-account-id"], mock::ACCOUNT_ID);
    assert_eq!(h["session-id"], "conv-42");
    assert_eq!(h["session_id"], "conv-42");
    assert!(h["authorization"].to_str().unwrap().starts_with("Bearer "));
}

#[tokio::test]
async fn a_client_session_header_wins_over_the_prompt_cache_key() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let mut body = hello(false);
    body["prompt_cache_key"] = json!("pck");
    let response = proxy
        .client
        .post(proxy.url("/v1/responses"))
        .header("session-id", "thread-7")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(mock.last_seen().headers["session-id"], "thread-7");
}

#[tokio::test]
async fn a_stream_passes_every_event_through_and_ends_with_the_rebuilt_output() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let response = proxy.post("/v1/responses", &hello(true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-codex-primary-window-minutes"], "300");
    let text = response.text().await.unwrap();
    assert_eq!(
        sse_data(&text),
        mock::backfilled(mock::text_answer("Hello from the mock.", 4))
    );
    assert!(text.starts_with("event: response.created\ndata: "));
}

#[tokio::test]
async fn the_first_streamed_event_reaches_the_client_before_the_upstream_has_finished() {
    let mock = MockBackend::start().await;
    let events = mock::text_answer("never finished", 2);
    mock.push_answer(Answer::Stall {
        events: events[..3].to_vec(),
    });
    let proxy = TestProxy::start(&mock).await;
    let mut response = proxy.post("/v1/responses", &hello(true)).await;
    // The upstream never sends its terminal event, so anything read here was flushed early.
    let mut got = String::new();
    while !got.contains("response.output_item.added") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .expect("the first events were held back")
            .unwrap()
            .unwrap();
        got.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(sse_data(&got), events[..3].to_vec());
}

#[tokio::test]
async fn a_client_disconnect_cancels_the_upstream_request() {
    let mock = MockBackend::start().await;
    mock.push_answer(Answer::Stall {
        events: mock::text_answer("x", 1)[..2].to_vec(),
    });
    let proxy = TestProxy::start(&mock).await;
    let mut response = proxy.post("/v1/responses", &hello(true)).await;
    response.chunk().await.unwrap().unwrap();
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
async fn an_incomplete_response_is_a_200_with_its_details() {
    let mock = MockBackend::start().await;
    let mut events = mock::text_answer("cut", 1);
    let last = events.len() - 1;
    events[last] = json!({"type": "response.incomplete", "response": {
        "id": "resp_mock_1", "object": "response", "status": "incomplete", "model": "gpt-5", "output": [],
        "incomplete_details": {"reason": "max_output_tokens"}}});
    mock.push_answer(Answer::Events {
        events,
        pace: Duration::ZERO,
    });
    let proxy = TestProxy::start(&mock).await;
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "incomplete");
    assert_eq!(
        body["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(body["output"], json!([mock::text_message("cut")]));
}

fn failed(code: &str, message: &str) -> Answer {
    let mut events = mock::text_answer("", 1)[..2].to_vec();
    events.push(
        json!({"type": "response.failed", "response": {"id": "resp_mock_1", "status": "failed",
        "error": {"code": code, "message": message}}}),
    );
    Answer::Events {
        events,
        pace: Duration::ZERO,
    }
}

#[tokio::test]
async fn in_stream_failures_become_errors_with_fitting_statuses() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let cases = [
        (
            "rate_limit_exceeded",
            "Rate limit reached. Please try again in 11.054s.",
            429,
            Some("12"),
        ),
        ("server_is_overloaded", "overloaded", 503, None),
        ("slow_down", "slow down", 503, None),
        ("context_length_exceeded", "too long", 400, None),
        ("invalid_prompt", "bad prompt", 400, None),
        ("insufficient_quota", "quota", 429, None),
        ("usage_not_included", "plan", 429, None),
        ("mystery", "who knows", 502, None),
    ];
    for (code, message, status, retry_after) in cases {
        mock.push_answer(failed(code, message));
        let response = proxy.post("/v1/responses", &hello(false)).await;
        assert_eq!(response.status(), status, "{code}");
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap()),
            retry_after,
            "{code}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code);
        assert_eq!(body["error"]["message"], message);
    }
}

#[tokio::test]
async fn a_streamed_failure_event_passes_through_as_it_is() {
    let mock = MockBackend::start().await;
    mock.push_answer(failed("server_is_overloaded", "busy"));
    let proxy = TestProxy::start(&mock).await;
    let response = proxy.post("/v1/responses", &hello(true)).await;
    assert_eq!(response.status(), 200);
    let events = sse_data(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap()["type"], "response.failed");
    assert_eq!(
        events.last().unwrap()["response"]["error"]["code"],
        "server_is_overloaded"
    );
}

#[tokio::test]
async fn an_upstream_that_vanishes_gives_a_502_or_a_final_error_event() {
    let mock = MockBackend::start().await;
    let head = mock::text_answer("gone", 1)[..3].to_vec();
    mock.push_answer(Answer::Vanish {
        events: head.clone(),
    });
    mock.push_answer(Answer::Vanish {
        events: head.clone(),
    });
    let proxy = TestProxy::start(&mock).await;

    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "upstream_error");

    let response = proxy.post("/v1/responses", &hello(true)).await;
    let text = response.text().await.unwrap();
    let events = sse_data(&text);
    assert!(events.len() >= 3, "{text}");
    assert_eq!(events[..3], head[..]);
    assert_eq!(events.len(), 4);
    assert_eq!(events[3]["type"], "error");
    assert_eq!(events[3]["code"], "upstream_stream_broken");
}

/// The collected answer is `status` with `code`, and the streamed one ends with
/// an `error` event of that `code`: two answers queued on the mock.
async fn assert_fails_both_ways(proxy: &TestProxy, status: u16, code: &str) {
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code);
    let text = proxy
        .post("/v1/responses", &hello(true))
        .await
        .text()
        .await
        .unwrap();
    let last = sse_data(&text).pop().unwrap();
    assert_eq!(
        (&last["type"], &last["code"]),
        (&json!("error"), &json!(code)),
        "{text}"
    );
}

#[tokio::test]
async fn a_stream_closed_before_the_terminal_event_is_an_error() {
    let mock = MockBackend::start().await;
    let head = mock::text_answer("short", 1)[..4].to_vec();
    let raw: String = head.iter().map(|e| format!("data: {e}\n\n")).collect();
    mock.push_answer(Answer::Raw { body: raw.clone() });
    mock.push_answer(Answer::Raw { body: raw });
    let proxy = TestProxy::start(&mock).await;
    assert_fails_both_ways(&proxy, 502, "upstream_stream_incomplete").await;
}

#[tokio::test]
async fn no_event_within_the_idle_timeout_is_a_504_or_a_final_error_event() {
    let mock = MockBackend::start().await;
    let head = mock::text_answer("slow", 1)[..2].to_vec();
    mock.push_answer(Answer::Stall {
        events: head.clone(),
    });
    mock.push_answer(Answer::Stall { events: head });
    let proxy = TestProxy::start_with(&mock, |c| c.idle_timeout = Duration::from_millis(300)).await;
    assert_fails_both_ways(&proxy, 504, "upstream_idle_timeout").await;
}

#[tokio::test]
async fn upstream_refusals_keep_their_status_in_openai_shape() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let mut body = hello(false);
    body["model"] = json!("gpt-9");
    let response = proxy.post("/v1/responses", &body).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": {"message": "The 'gpt-9' model is not supported when using Codex with a ChatGPT account.",
            "type": "invalid_request_error", "param": null, "code": null}})
    );
}

#[tokio::test]
async fn a_usage_limit_is_a_429_with_retry_after() {
    let mock = MockBackend::start().await;
    let resets_at = mock::now_secs() + 120;
    mock.push_answer(Answer::Status {
        status: 429,
        body: json!({"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
            "plan_type": "plus", "resets_at": resets_at}})
        .to_string(),
        content_type: "application/json",
        headers: vec![],
    });
    let proxy = TestProxy::start(&mock).await;
    let response = proxy.post("/v1/responses", &hello(true)).await;
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((110..=121).contains(&retry), "{retry}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "usage_limit_reached");
}

#[tokio::test]
async fn sequential_requests_reuse_upstream_connections_rather_than_opening_one_each() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    for n in 0..20 {
        let response = proxy.post("/v1/responses", &hello(n % 2 == 0)).await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert!(text.contains("completed"), "{text}");
    }
    assert_eq!(mock.responses_calls(), 20);
    // One connection, or a second if a request started before the last
    // answer's end had been read (its connection then goes back a moment later).
    assert!(
        mock.connections() <= 3,
        "{} upstream connections for 20 requests",
        mock.connections()
    );
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_that_says_so() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| {
        c.upstream_url = common::closed_url().parse().unwrap()
    })
    .await;
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("could not be reached") && message.contains("connection refused"),
        "{message}"
    );
}

#[tokio::test]
async fn an_html_page_instead_of_events_is_a_502() {
    let mock = MockBackend::start().await;
    mock.push_answer(Answer::Status {
        status: 200,
        body: "<html>Just a moment...</html>".into(),
        content_type: "text/html",
        headers: vec![],
    });
    let proxy = TestProxy::start(&mock).await;
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("text/html")
    );
}

#[tokio::test]
async fn bad_client_input_is_refused_and_never_forwarded() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.max_body_bytes = 1024).await;
    let send = |body: Vec<u8>| {
        proxy
            .client
            .post(proxy.url("/v1/responses"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (body, status, needle) in [
        (b"{not json".to_vec(), 400, "not valid JSON"),
        (b"[1,2]".to_vec(), 400, "must be a JSON object"),
        (b"".to_vec(), 400, "empty"),
        (br#"{"model":"gpt-5","input":42}"#.to_vec(), 400, "`input`"),
        (
            br#"{"model":"gpt-5","input":"x","stream":"yes"}"#.to_vec(),
            400,
            "`stream`",
        ),
        (
            b"{\"model\":\"gpt-5\",\"input\":\"\xff\"}".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            format!("{{\"input\":\"{}\"}}", "a".repeat(2000)).into_bytes(),
            413,
            "max_body_bytes",
        ),
    ] {
        let response = send(body).await.unwrap();
        assert_eq!(response.status(), status, "{needle}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"]["message"].as_str().unwrap().contains(needle),
            "{error}"
        );
    }
    assert_eq!(mock.responses_calls(), 0);
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_get_json_errors() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let response = proxy.get("/v1/nothing").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "unknown_url"
    );
    let response = proxy.get("/v1/responses").await;
    assert_eq!(response.status(), 405);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "method_not_allowed"
    );
}

#[tokio::test]
async fn healthz_answers_ok_without_calling_upstream() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let response = proxy.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    assert_eq!(mock.responses_calls(), 0);
}

#[tokio::test]
async fn models_are_listed_in_openai_shape_and_cached() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let want = json!({"object": "list", "data": [
        {"id": "gpt-5", "object": "model", "created": 0, "owned_by": "openai"},
        {"id": "gpt-5-codex", "object": "model", "created": 0, "owned_by": "openai"},
    ]});
    for _ in 0..3 {
        let response = proxy.get("/v1/models").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.json::<Value>().await.unwrap(), want);
    }
    assert_eq!(
        mock.state
            .models_calls
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn models_are_revalidated_with_the_etag_once_stale() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.models_cache_ttl = Duration::ZERO).await;
    let first: Value = proxy.get("/v1/models").await.json().await.unwrap();
    // The mock answers 304 to the ETag; the proxy must reuse its list.
    *mock.state.models.lock().unwrap() = json!({"models": []});
    let second: Value = proxy.get("/v1/models").await.json().await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        mock.state
            .models_calls
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

#[tokio::test]
async fn models_say_so_when_the_upstream_cannot_be_reached() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| {
        c.upstream_url = common::closed_url().parse().unwrap()
    })
    .await;
    let response = proxy.get("/v1/models").await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be reached")
    );
}
