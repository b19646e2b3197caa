//! A reached usage limit end to end: the backend's `usage_limit_reached`
//! (an HTTP 429, or a failure inside a stream) turns into a local 429 with a
//! falling `Retry-After`, the backend sees no call until the reset passes,
//! another login in `auth.json` is not held back, and the probe interval lets
//! one request through to ask again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use serde_json::{Value, json};

use common::mock::{self, now_secs, text_answer};
use common::{Answer, MockBackend, TestProxy, hello, write_auth};

/// Every wait here ends after this, passed or not.
const PATIENCE: Duration = Duration::from_secs(10);

/// The backend's 429 for a reached limit that resets at `resets_at`, with
/// the headers it sends along.
fn usage_limit_answer(resets_at: i64) -> Answer {
    Answer::Status {
        status: 429,
        body: json!({"error": {"type": "usage_limit_reached",
            "message": "You've hit your usage limit.", "plan_type": "plus",
            "resets_at": resets_at}})
        .to_string(),
        content_type: "application/json",
        headers: vec![
            ("x-codex-primary-used-percent".into(), "100".into()),
            ("x-codex-primary-window-minutes".into(), "300".into()),
            ("x-codex-primary-reset-at".into(), resets_at.to_string()),
        ],
    }
}

fn ok_answer() -> Answer {
    Answer::Events {
        events: text_answer("Hello again.", 2),
        pace: Duration::ZERO,
    }
}

/// POSTs a request; its status, `Retry-After` and body.
async fn ask(proxy: &TestProxy, path: &str, body: &Value) -> (u16, Option<u64>, Value) {
    let response = proxy.post(path, body).await;
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, retry, response.json().await.unwrap_or(Value::Null))
}

/// Asks every 20 ms until `done` holds for an answer; that answer.
async fn ask_until(
    proxy: &TestProxy,
    what: &str,
    mut done: impl FnMut(&(u16, Option<u64>, Value)) -> bool,
) -> (u16, Option<u64>, Value) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let answer = ask(proxy, "/v1/responses", &hello(false)).await;
        if done(&answer) {
            return answer;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_reached_limit_answers_429_locally_with_a_falling_retry_after() {
    let mock = MockBackend::start().await;
    let resets_at = now_secs() + 30;
    mock.set_default_answer(usage_limit_answer(resets_at));
    let proxy = TestProxy::start(&mock).await;

    let (status, retry, _) = ask(&proxy, "/v1/responses", &hello(false)).await;
    assert_eq!((status, mock.responses_calls()), (429, 1));
    assert!(retry.is_some_and(|r| r <= 30));

    let (status, first_retry, body) = ask(&proxy, "/v1/responses", &hello(false)).await;
    assert_eq!(status, 429);
    let first_retry = first_retry.expect("a Retry-After");
    assert!((1..=30).contains(&first_retry), "{first_retry}");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["code"], "usage_limit_reached");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("You've hit your usage limit. (resets in "),
        "{message}"
    );
    // The same refusal in the OpenAI shape on the Chat Completions route.
    let chat = json!({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]});
    let (status, retry, body) = ask(&proxy, "/v1/chat/completions", &chat).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (429, json!("usage_limit_reached"))
    );
    assert!(retry.is_some());

    let (_, later_retry, _) = ask_until(&proxy, "a lower Retry-After", |(status, retry, _)| {
        assert_eq!(*status, 429);
        retry.is_some_and(|r| r < first_retry)
    })
    .await;
    assert!(later_retry.unwrap() >= 1);
    assert_eq!(mock.responses_calls(), 1, "the backend was asked again");
}

#[tokio::test]
async fn requests_go_through_again_once_the_reset_passes() {
    let mock = MockBackend::start().await;
    mock.push_answer(usage_limit_answer(now_secs() + 2));
    let proxy = TestProxy::start(&mock).await;
    assert_eq!(ask(&proxy, "/v1/responses", &hello(false)).await.0, 429);
    assert_eq!(ask(&proxy, "/v1/responses", &hello(false)).await.0, 429);
    assert_eq!(mock.responses_calls(), 1);

    let (_, _, body) = ask_until(&proxy, "an answer after the reset", |a| a.0 == 200).await;
    assert_eq!(body["status"], "completed");
    assert_eq!(
        mock.responses_calls(),
        2,
        "only the request after the reset"
    );
}

#[tokio::test]
async fn another_login_in_auth_json_is_not_held_back_by_the_first_ones_limit() {
    let mock = MockBackend::start().await;
    mock.push_answer(usage_limit_answer(now_secs() + 3600));
    let proxy = TestProxy::start(&mock).await;
    assert_eq!(ask(&proxy, "/v1/responses", &hello(false)).await.0, 429);
    assert_eq!(ask(&proxy, "/v1/responses", &hello(false)).await.0, 429);
    assert_eq!(mock.responses_calls(), 1);

    write_auth(
        proxy.home.path(),
        &mock.login_as("acc-test-2", now_secs() + 3600),
    );
    let (status, _, body) = ask(&proxy, "/v1/responses", &hello(false)).await;
    assert_eq!((status, body["status"].clone()), (200, json!("completed")));
    assert_eq!(mock.responses_calls(), 2);
    assert_eq!(mock.last_seen().headers["chatgpt-account-id"], "acc-test-2");
}

#[tokio::test]
async fn the_probe_interval_lets_one_request_through_to_ask_again() {
    let mock = MockBackend::start().await;
    mock.set_default_answer(usage_limit_answer(now_secs() + 3600));
    let proxy = TestProxy::start_with(&mock, |c| {
        c.limit_probe_every = Duration::from_secs(1);
    })
    .await;
    assert_eq!(ask(&proxy, "/v1/responses", &hello(false)).await.0, 429);
    assert_eq!(mock.responses_calls(), 1);

    // A second on, one request asks the backend, which refuses again.
    ask_until(&proxy, "a probe", |_| mock.responses_calls() == 2).await;
    assert_eq!(ask(&proxy, "/v1/responses", &hello(false)).await.0, 429);
    assert_eq!(mock.responses_calls(), 2, "one probe, not one per request");

    // The limit lifts early (credits bought): the next probe succeeds and
    // ends the cooldown, so every request reaches the backend again.
    mock.set_default_answer(ok_answer());
    ask_until(&proxy, "a successful probe", |a| a.0 == 200).await;
    let calls = mock.responses_calls();
    assert_eq!(ask(&proxy, "/v1/responses", &hello(false)).await.0, 200);
    assert_eq!(mock.responses_calls(), calls + 1);
}

#[tokio::test]
async fn a_usage_limit_failure_inside_a_stream_starts_the_cooldown_too() {
    let mock = MockBackend::start().await;
    let failed = json!({"type": "response.failed", "response": {"id": "resp_1",
        "status": "failed", "error": {"code": "usage_limit_reached",
        "message": "You've hit your usage limit.", "resets_at": now_secs() + 600}}});
    mock.push_answer(Answer::Events {
        events: vec![mock::text_answer("x", 1).remove(0), failed],
        pace: Duration::ZERO,
    });
    let proxy = TestProxy::start(&mock).await;
    let response = proxy.post("/v1/responses", &hello(true)).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("usage_limit_reached"), "{text}");

    let (status, retry, body) = ask(&proxy, "/v1/responses", &hello(false)).await;
    assert_eq!(status, 429);
    assert!(retry.is_some_and(|r| (550..=600).contains(&r)), "{retry:?}");
    assert_eq!(body["error"]["code"], "usage_limit_reached");
    assert_eq!(mock.responses_calls(), 1);
}

#[tokio::test]
async fn with_limit_cooldown_off_every_request_reaches_the_backend() {
    let mock = MockBackend::start().await;
    mock.set_default_answer(usage_limit_answer(now_secs() + 3600));
    let proxy = TestProxy::start_with(&mock, |c| c.limit_cooldown = false).await;
    for n in 1..=3 {
        assert_eq!(ask(&proxy, "/v1/responses", &hello(false)).await.0, 429);
        assert_eq!(mock.responses_calls(), n);
    }
}

#[tokio::test]
async fn listing_models_is_not_held_back_by_a_cooldown() {
    let mock = MockBackend::start().await;
    mock.push_answer(usage_limit_answer(now_secs() + 3600));
    let proxy = TestProxy::start(&mock).await;
    assert_eq!(ask(&proxy, "/v1/responses", &hello(false)).await.0, 429);
    let models = proxy.get("/v1/models").await;
    assert_eq!(models.status(), 200);
    assert_eq!(ask(&proxy, "/v1/responses", &hello(false)).await.0, 429);
    assert_eq!(mock.responses_calls(), 1);
}
