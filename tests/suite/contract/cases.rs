//! The turn-level cases, each written once against a [`Door`]: what must
//! hold for a turn whichever door it came in by. Where a door's dialect
//! shapes the answer differently (an error's type, a status Anthropic
//! renames), the case says so per door; everything else is the same check.

use std::time::Duration;

use serde_json::{Value, json};

use super::client::{Client, Failure, Reply};
use super::door::{Door, Earlier, Script, Turn};
use super::records::{Record, Records};
use crate::common::mock::now_secs;
use crate::common::{MockBackend, TestProxy, openmetrics, wait_until};

/// Every wait here ends after this, passed or not.
const PATIENCE: Duration = Duration::from_secs(10);

/// What the mock answers a turn with, unscripted, at every door.
const HELLO: &str = "Hello from the mock.";

/// Asserts that `reply` is the mock's unscripted answer.
fn answered(door: Door, reply: &Reply) {
    assert_eq!(
        (reply.status, reply.error.as_ref()),
        (200, None),
        "{door:?}: {reply:?}"
    );
    assert_eq!(reply.text, HELLO, "{door:?}");
}

/// The backend's request body of the last turn.
fn last_body(mock: &MockBackend) -> Value {
    mock.last_seen().body
}

pub async fn model_alias(door: Door) {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| {
        c.model_aliases
            .insert("house-model".into(), "gpt-5.1-codex".into());
    })
    .await;
    let reply = Client::new(door, &proxy)
        .ask(&Turn::new("house-model", "hi"))
        .await;
    answered(door, &reply);
    assert_eq!(last_body(&mock)["model"], "gpt-5.1-codex");
}

pub async fn effort_suffix(door: Door) {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let reply = Client::new(door, &proxy)
        .ask(&Turn::new("gpt-5-codex-high", "hi"))
        .await;
    answered(door, &reply);
    let body = last_body(&mock);
    assert_eq!(
        (&body["model"], &body["reasoning"]["effort"]),
        (&json!("gpt-5-codex"), &json!("high"))
    );
}

/// A turn kept and the next one continuing from it. Responses (HTTP and
/// WebSocket) keep by `store` and continue by `previous_response_id`; Chat
/// and Messages have neither, so there the client sends the conversation
/// again. Either way the backend, which keeps nothing, sees it whole, and is
/// always asked not to store.
pub async fn kept_and_chained(door: Door) {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let mut client = Client::new(door, &proxy);
    let mut first = Turn::new("gpt-5", "one");
    first.store = door.keeps_answers().then_some(true);
    let kept = client.ask(&first).await;
    answered(door, &kept);
    let mut next = Turn::new("gpt-5", "two");
    next.after = Some(Earlier {
        response_id: kept.id.clone().expect("an answer id"),
        input: first.input.clone(),
        answer: kept.text.clone(),
    });
    answered(door, &client.ask(&next).await);

    let seen = mock.last_seen();
    let conversation: Vec<(String, String)> = seen.history.iter().map(said).collect();
    let expected = [("user", "one"), ("assistant", HELLO), ("user", "two")]
        .map(|(role, text)| (role.to_owned(), text.to_owned()));
    assert_eq!(conversation, expected);
    assert_eq!(seen.body["store"], false);
    assert_eq!(mock.seen().len(), 2);
}

/// Who said what in an input item.
fn said(item: &Value) -> (String, String) {
    let text = match &item["content"] {
        Value::String(text) => text.clone(),
        parts => parts
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["text"].as_str())
            .collect(),
    };
    (item["role"].as_str().unwrap_or_default().to_owned(), text)
}

/// The refusal of a reached usage limit, as `door`'s dialect words it.
fn limited(door: Door, reply: &Reply) {
    assert_eq!(reply.status, 429, "{door:?}: {reply:?}");
    let error = reply.error.clone().unwrap_or_default();
    let expected = match door {
        Door::Messages => ("rate_limit_error", None),
        Door::Responses | Door::Chat | Door::WebSocket => {
            ("rate_limit_error", Some("usage_limit_reached"))
        }
    };
    assert_eq!(
        (error.kind.as_str(), error.code.as_deref()),
        expected,
        "{door:?}: {error:?}"
    );
}

/// The backend's usage-limit 429 at one door: the next turn at that door,
/// and at every other, is refused locally, in its own dialect, with the
/// time left, and never reaches the backend.
pub async fn usage_limit_cooldown(door: Door) {
    let mock = MockBackend::start().await;
    door.script(
        &mock,
        Script::UsageLimit {
            resets_at: now_secs() + 600,
        },
    );
    let proxy = TestProxy::start(&mock).await;
    let turn = Turn::new("gpt-5", "hi");
    let first = Client::new(door, &proxy).ask(&turn).await;
    assert_eq!(first.status, 429, "{door:?}: {first:?}");
    assert_eq!(mock.seen().len(), 1);

    for other in std::iter::once(door).chain(Door::ALL) {
        let refused = Client::new(other, &proxy).ask(&turn).await;
        limited(other, &refused);
        let retry = refused.error.and_then(|e| e.retry_after);
        assert!(
            retry.is_some_and(|r| (1..=600).contains(&r)),
            "{other:?}: {retry:?}"
        );
    }
    assert_eq!(mock.seen().len(), 1, "the backend was asked again");
}

/// The backend refuses the access token once: the login is refreshed once
/// and the turn is sent again and answered.
pub async fn refresh_after_401(door: Door) {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let before = proxy.read_auth()["tokens"]["access_token"].clone();
    mock.revoke(before.as_str().unwrap());
    let reply = Client::new(door, &proxy)
        .ask(&Turn::new("gpt-5", "hi"))
        .await;
    answered(door, &reply);
    assert_eq!(mock.refresh_calls(), 1);
    assert_ne!(proxy.read_auth()["tokens"]["access_token"], before);
}

/// A backend silent past `idle_timeout` mid-answer: the idle-timeout error
/// in the door's dialect, a 504 before the answer started (collected, or on
/// a WebSocket), an error event ending a streamed answer already answered 200.
async fn idle_timeout(door: Door, stream: bool) {
    let mock = MockBackend::start().await;
    door.script(&mock, Script::Stall);
    let proxy = TestProxy::start_with(&mock, |c| c.idle_timeout = Duration::from_millis(300)).await;
    let turn = Turn::new("gpt-5", "hi").streamed(stream);
    let reply = Client::new(door, &proxy).ask(&turn).await;
    let midway = door.streams(&turn) && door != Door::WebSocket;
    let kind = match door {
        Door::Messages => "timeout_error",
        // The `error` event of a Responses stream has a code and no type.
        Door::Responses if midway => "",
        Door::Responses | Door::Chat | Door::WebSocket => "upstream_error",
    };
    let expected = Failure {
        kind: kind.to_owned(),
        code: (door != Door::Messages).then(|| "upstream_idle_timeout".to_owned()),
        retry_after: None,
    };
    let status = if midway { 200 } else { 504 };
    assert_eq!(
        (reply.status, reply.error),
        (status, Some(expected)),
        "{door:?}"
    );
}

pub async fn idle_timeout_collected(door: Door) {
    idle_timeout(door, false).await;
}

pub async fn idle_timeout_streamed(door: Door) {
    idle_timeout(door, true).await;
}

/// Two turns, streamed or not (the WebSocket's always stream): each counts
/// once in `/metrics` under the door's route and dialect, and adds a
/// time-to-first-event sample.
async fn counted_and_timed(door: Door, stream: bool) {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.metrics = true).await;
    let mut client = Client::new(door, &proxy);
    let turn = Turn::new("gpt-5", "hi").streamed(stream);
    for _ in 0..2 {
        answered(door, &client.ask(&turn).await);
    }
    let streamed = door.streams(&turn).to_string();
    let turns = [
        ("route", door.route()),
        ("dialect", door.dialect()),
        ("status", "200"),
        ("stream", streamed.as_str()),
    ];
    let dialect = [("dialect", door.dialect())];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    // A turn counts once its answer has ended, a moment after the client
    // read it: scrape until both are in, or the wait runs out.
    let (counted, timed) = loop {
        let text = proxy.get("/metrics").await.text().await.unwrap();
        let Some(metrics) = openmetrics::parse(&text) else {
            return;
        };
        let counted = metrics.sum("codex_proxy_requests", "codex_proxy_requests_total", &turns);
        let timed = metrics.sum(
            "codex_proxy_first_event_seconds",
            "codex_proxy_first_event_seconds_count",
            &dialect,
        );
        if (counted, timed) == (2.0, 2.0) || tokio::time::Instant::now() > deadline {
            break (counted, timed);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(
        (counted, timed),
        (2.0, 2.0),
        "{door:?}: turns, first events"
    );
}

pub async fn counted_and_timed_collected(door: Door) {
    counted_and_timed(door, false).await;
}

pub async fn counted_and_timed_streamed(door: Door) {
    counted_and_timed(door, true).await;
}

/// Fields every summary record has, whatever else the daemon adds.
const SUMMARY_FIELDS: [&str; 7] = [
    "duration_ms",
    "model",
    "path",
    "request_id",
    "status",
    "stream",
    "upstream_request_id",
];

/// Each turn writes one summary record, with the same fields as a turn's at
/// `POST /v1/responses`, the door the others are held to.
pub async fn summary_record(door: Door) {
    let (records, _catching) = Records::capture();
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let turn = Turn::new("gpt-5", "hi");
    let mut summaries = Vec::new();
    for door in [Door::Responses, door] {
        answered(door, &Client::new(door, &proxy).ask(&turn).await);
        // The turns' records, not the upgrade's (a 101).
        let answered = || records.summaries(|r| r["status"] == "200");
        wait_until(PATIENCE, "the turn's summary record", || {
            answered().len() > summaries.len()
        })
        .await;
        summaries = answered();
    }
    let [reference, record] = &summaries[..] else {
        panic!("two summary records expected: {summaries:?}");
    };
    let names = |r: &Record| r.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(record), names(reference), "{door:?}: {record:?}");
    for field in SUMMARY_FIELDS {
        assert!(
            record.contains_key(field),
            "{door:?}: no {field} in {record:?}"
        );
    }
    let stream = door.streams(&turn).to_string();
    assert_eq!(
        (
            record["path"].as_str(),
            record["model"].as_str(),
            record["stream"].as_str()
        ),
        (door.path(), "gpt-5", stream.as_str()),
        "{door:?}"
    );
    assert!(record["request_id"].starts_with("req_"), "{record:?}");
}
